//! The nodes the collector's pods run on, and what a pod without IRSA falls back to: the
//! node's instance role through the instance metadata service (IMDS). Each pod's
//! `spec.nodeName` → the Node's `spec.providerID` (`aws:///us-east-1a/i-0abc…`) → EC2
//! DescribeInstances → `metadataOptions`. With IMDSv2 required and a PUT hop limit of 1,
//! the token's answer dies one hop short of the pod: the SDK's token request times out and
//! its credential chain ends with `NoCredentialProviders` (F27).

use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::Api;

use super::aws_errors::sdk_error;
use super::kube_api::{KubeFailure, pod_name};

/// One node of the collector's pods and its instance's IMDS settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeMetadata {
    pub node: String,
    /// The collector's pods on it.
    pub pods: Vec<String>,
    pub provider_id: String,
    pub instance_id: String,
    /// `metadataOptions`: `required`/`optional`, the PUT hop limit, `enabled`/`disabled`,
    /// `applied`/`pending`.
    pub http_tokens: String,
    pub hop_limit: Option<i32>,
    pub http_endpoint: String,
    pub state: String,
}

impl NodeMetadata {
    /// Why a pod on this node cannot get the node role's credentials from IMDS, if it
    /// cannot.
    pub fn unreachable_from_pods(&self) -> Option<String> {
        if self.http_endpoint == "disabled" {
            return Some(format!(
                "instance {} has its metadata endpoint disabled (HttpEndpoint disabled)",
                self.instance_id
            ));
        }
        let hops = self.hop_limit.unwrap_or(1);
        (self.http_tokens == "required" && hops < 2).then(|| {
            format!(
                "instance {} requires IMDSv2 (HttpTokens required) with hop limit {hops}: the token's answer never reaches a pod, one hop further",
                self.instance_id
            )
        })
    }

    /// One evidence line.
    pub fn line(&self) -> String {
        format!(
            "node {} (pods {}): {} → instance {}: HttpTokens {}, HttpPutResponseHopLimit {}, HttpEndpoint {}, state {}",
            self.node,
            self.pods.join(", "),
            self.provider_id,
            self.instance_id,
            self.http_tokens,
            self.hop_limit
                .map(|h| h.to_string())
                .unwrap_or_else(|| "?".into()),
            self.http_endpoint,
            self.state
        )
    }
}

/// `i-…` from a Node's `spec.providerID` (`aws:///<zone>/i-…`); None for other providers.
pub fn instance_id(provider_id: &str) -> Option<&str> {
    let rest = provider_id.strip_prefix("aws://")?;
    let id = rest.rsplit('/').next()?;
    (id.starts_with("i-") && id.len() > 2).then_some(id)
}

/// The IMDS settings of the nodes `pods` run on. Err: why they could not be read (one
/// line for evidence), e.g. a Node without an AWS providerID, or ec2:DescribeInstances
/// denied.
pub async fn node_metadata(
    kube: &kube::Client,
    ec2: &aws_sdk_ec2::Client,
    pods: &[&Pod],
    deadline: Duration,
) -> Result<Vec<NodeMetadata>, String> {
    let mut nodes: Vec<(String, Vec<String>)> = Vec::new();
    for p in pods {
        let Some(node) = p.spec.as_ref().and_then(|s| s.node_name.clone()) else {
            continue;
        };
        match nodes.iter_mut().find(|(n, _)| *n == node) {
            Some((_, ps)) => ps.push(pod_name(p).to_string()),
            None => nodes.push((node, vec![pod_name(p).to_string()])),
        }
    }
    if nodes.is_empty() {
        return Err("the pods are not scheduled on a node yet".into());
    }
    let api: Api<Node> = Api::all(kube.clone());
    let mut found = Vec::new();
    for (node, pods) in nodes {
        let n = api
            .get(&node)
            .await
            .map_err(|e| format!("could not read node {node}: {}", KubeFailure::of(&e).line()))?;
        let provider_id = n.spec.and_then(|s| s.provider_id).unwrap_or_default();
        let Some(id) = instance_id(&provider_id) else {
            return Err(format!(
                "node {node} has providerID {provider_id:?}, not an EC2 instance (aws:///<zone>/i-…)"
            ));
        };
        found.push((node, pods, provider_id.clone(), id.to_string()));
    }
    let ids: Vec<String> = found.iter().map(|f| f.3.clone()).collect();
    let call = ec2
        .describe_instances()
        .set_instance_ids(Some(ids.clone()))
        .send();
    let out = match tokio::time::timeout(deadline, call).await {
        Err(_) => {
            return Err(format!(
                "ec2:DescribeInstances for {} did not answer within {deadline:?}",
                ids.join(", ")
            ));
        }
        Ok(Err(e)) => return Err(format!("ec2:DescribeInstances: {}", sdk_error(&e).1)),
        Ok(Ok(o)) => o,
    };
    let instances: Vec<_> = out
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .collect();
    found
        .into_iter()
        .map(|(node, pods, provider_id, id)| {
            let i = instances
                .iter()
                .find(|i| i.instance_id() == Some(id.as_str()))
                .ok_or_else(|| format!("ec2:DescribeInstances did not return instance {id}"))?;
            let m = i.metadata_options();
            Ok(NodeMetadata {
                node,
                pods,
                provider_id,
                instance_id: id,
                http_tokens: m
                    .and_then(|m| m.http_tokens())
                    .map(|t| t.as_str().to_string())
                    .unwrap_or_default(),
                hop_limit: m.and_then(|m| m.http_put_response_hop_limit()),
                http_endpoint: m
                    .and_then(|m| m.http_endpoint())
                    .map(|t| t.as_str().to_string())
                    .unwrap_or_default(),
                state: m
                    .and_then(|m| m.state())
                    .map(|t| t.as_str().to_string())
                    .unwrap_or_default(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(tokens: &str, hops: i32, endpoint: &str) -> NodeMetadata {
        NodeMetadata {
            node: "n".into(),
            pods: vec!["p".into()],
            provider_id: "aws:///us-east-1a/i-1".into(),
            instance_id: "i-1".into(),
            http_tokens: tokens.into(),
            hop_limit: Some(hops),
            http_endpoint: endpoint.into(),
            state: "applied".into(),
        }
    }

    #[test]
    fn provider_ids() {
        assert_eq!(
            instance_id("aws:///us-east-1a/i-0abc1234def567890"),
            Some("i-0abc1234def567890")
        );
        assert_eq!(instance_id("gce://project/zone/vm"), None);
        assert_eq!(instance_id("aws:///us-east-1a/"), None);
    }

    #[test]
    fn imds_reach_from_pods() {
        assert!(
            node("required", 1, "enabled")
                .unreachable_from_pods()
                .is_some()
        );
        assert!(
            node("required", 2, "enabled")
                .unreachable_from_pods()
                .is_none()
        );
        // IMDSv1 needs no token, so the hop limit of the PUT does not matter.
        assert!(
            node("optional", 1, "enabled")
                .unreachable_from_pods()
                .is_none()
        );
        assert!(
            node("optional", 2, "disabled")
                .unreachable_from_pods()
                .is_some()
        );
    }
}
