//! The mock cluster with EKS Pod Identity instead of IRSA (`Credentials::PodIdentity`),
//! made from the IRSA seed through the mocks' APIs, and the fault recipes of catalog rows
//! F35-F39 on it.

use std::time::Duration;

use crate::MockStack;
use crate::eks::Addon;
use crate::eks_pod_identity::AGENT_ADDON;
use crate::iam::irsa_trust_policy;
use crate::kube::{POD_IDENTITY_AGENT, ROLE_ARN_ANNOTATION};
use serde_json::{Value, json};

use super::PreparedCluster;

/// The service principal EKS Pod Identity assumes roles as, and the actions a role's trust
/// must allow it (EKS user guide; the harness checks them from its own copy).
const PODS_PRINCIPAL: &str = "pods.eks.amazonaws.com";
const TRUST_ACTIONS: [&str; 2] = ["sts:AssumeRole", "sts:TagSession"];

/// The agent add-on's version on the mock cluster.
const AGENT_VERSION: &str = "v1.3.8-eksbuild.2";

/// The trust policy of the EKS user guide, scoped to one namespace and service account
/// with the session tags EKS Pod Identity passes; `actions` are the statement's.
fn trust_policy(namespace: &str, service_account: &str, actions: &[&str]) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "AllowEksAuthToAssumeRoleForPodIdentity",
            "Effect": "Allow",
            "Principal": { "Service": PODS_PRINCIPAL },
            "Action": actions,
            "Condition": { "StringEquals": {
                "aws:RequestTag/kubernetes-namespace": namespace,
                "aws:RequestTag/kubernetes-service-account": service_account,
            } },
        }],
    })
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
}

impl PreparedCluster {
    fn set_trust(&self, s: &MockStack, text: String) {
        s.iam
            .update_role(&self.seed.role_name, |r| r.trust_policy = text);
    }

    /// The collector's service account's association, if any.
    fn association_id(&self, s: &MockStack) -> Option<String> {
        s.eks
            .pod_identity_association_for(
                &self.seed.cluster_name,
                &self.seed.namespace,
                &self.seed.service_account,
            )
            .map(|a| a.association_id)
    }

    /// The IRSA seed turned into EKS Pod Identity: the service account loses its role-arn
    /// annotation, the role trusts `pods.eks.amazonaws.com` (both actions, scoped by the
    /// session tags), the `eks-pod-identity-agent` add-on and its DaemonSet run, an
    /// association maps the account to the role, and the collector's pod is recreated so
    /// the EKS webhook gives it the container-credentials env.
    pub(crate) fn use_pod_identity(&self, s: &MockStack) -> Result<(), String> {
        let (ns, sa) = (
            self.seed.namespace.as_str(),
            self.seed.service_account.as_str(),
        );
        s.kube
            .remove_annotation("serviceaccounts", ns, sa, ROLE_ARN_ANNOTATION)
            .map_err(|e| format!("unannotate service account {ns}/{sa}: {e}"))?;
        self.set_trust(s, pretty(&trust_policy(ns, sa, &TRUST_ACTIONS)));
        let cluster = self.seed.cluster_name.as_str();
        let addon = Addon::active(
            &self.region,
            cluster,
            AGENT_ADDON,
            AGENT_VERSION,
            s.clock.now(),
        );
        if !s.eks.put_addon(cluster, addon) {
            return Err(format!("mock EKS has no cluster {cluster}"));
        }
        s.kube
            .put_pod_identity_agent(1, 1)
            .map_err(|e| format!("put the agent's DaemonSet: {e}"))?;
        s.eks
            .create_pod_identity_association(cluster, ns, sa, &self.seed.role_arn())
            .ok_or_else(|| format!("associate {ns}/{sa} with {}", self.seed.role_arn()))?;
        s.kube
            .recreate_pod(ns, &self.pod)
            .map_err(|e| format!("recreate pod {ns}/{}: {e}", self.pod))?;
        Ok(())
    }

    /// F35: the service account has no association (never created), so its pods got no
    /// container-credentials env either.
    pub(crate) fn remove_association(&self, s: &MockStack) {
        if let Some(id) = self.association_id(s) {
            s.eks
                .remove_pod_identity_association(&self.seed.cluster_name, &id);
        }
        let _ = s.kube.strip_pod_identity_from_pod(self.ns(), &self.pod);
    }

    /// F36: the `eks-pod-identity-agent` add-on is not installed (no DaemonSet).
    pub(crate) fn remove_agent(&self, s: &MockStack) {
        s.eks.remove_addon(&self.seed.cluster_name, AGENT_ADDON);
        s.kube
            .delete("daemonsets", "kube-system", POD_IDENTITY_AGENT);
    }

    /// F36: the add-on is ACTIVE but its DaemonSet's pod is not ready (as on a node with
    /// IPv6 disabled, where the agent cannot bind `[fd00:ec2::23]`).
    pub(crate) fn agent_not_ready(&self, s: &MockStack) {
        let _ = s.kube.put_pod_identity_agent(1, 0);
    }

    /// F37: the role still has only its IRSA trust (the OIDC provider), not the Pod
    /// Identity service principal: the usual half-done migration.
    pub(crate) fn trust_without_pods_principal(&self, s: &MockStack) {
        self.set_trust(s, irsa_trust_policy(&self.seed, &self.region));
    }

    /// F37: the trust names the principal with `sts:AssumeRole` only, no `sts:TagSession`.
    pub(crate) fn trust_without_tag_session(&self, s: &MockStack) {
        let (ns, sa) = (
            self.seed.namespace.as_str(),
            self.seed.service_account.as_str(),
        );
        self.set_trust(s, pretty(&trust_policy(ns, sa, &["sts:AssumeRole"])));
    }

    /// F38: the collector's pod was created an hour before the association, so the EKS
    /// webhook never injected the container-credentials env.
    pub(crate) fn pods_predate_association(&self, s: &MockStack) {
        let _ = s.kube.strip_pod_identity_from_pod(self.ns(), &self.pod);
        let hour_ago = s.clock.now() - Duration::from_secs(3600);
        let t = time::OffsetDateTime::from(hour_ago);
        let f = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
        if let Ok(at) = t.format(&f) {
            let _ = s.kube.set_pod_created(self.ns(), &self.pod, &at);
        }
    }

    /// F39: mid-migration, the service account keeps its IRSA annotation beside the
    /// association and the role trusts both ways; recreated pods carry both envs, and the
    /// SDK takes IRSA's web identity first.
    pub(crate) fn irsa_and_pod_identity(&self, s: &MockStack) {
        let (ns, sa) = (
            self.seed.namespace.as_str(),
            self.seed.service_account.as_str(),
        );
        let mut doc: Value = serde_json::from_str(&irsa_trust_policy(&self.seed, &self.region))
            .unwrap_or_else(|_| json!({ "Version": "2012-10-17", "Statement": [] }));
        let pods = trust_policy(ns, sa, &TRUST_ACTIONS)["Statement"][0].clone();
        if let Some(st) = doc["Statement"].as_array_mut() {
            st.push(pods);
        }
        self.set_trust(s, pretty(&doc));
        let role = self.seed.role_arn();
        let _ = s.kube.update("serviceaccounts", ns, sa, |o| {
            o["metadata"]["annotations"][ROLE_ARN_ANNOTATION] = json!(role);
        });
        let _ = s.kube.recreate_pod(ns, &self.pod);
    }
}

#[cfg(test)]
mod tests {
    use crate::MockConfig;
    use crate::cluster::{ClusterShape, CollectorShape, Credentials, prepare};
    use crate::kube::POD_IDENTITY_CREDENTIALS_URI;

    use super::*;

    #[tokio::test]
    async fn a_prometheus_server_turned_to_pod_identity() {
        let shape = ClusterShape {
            kind: CollectorShape::PrometheusChart,
            credentials: Credentials::PodIdentity,
            cluster_name: "pipecheck".into(),
            namespace: "prometheus".into(),
            collector: "prometheus-for-amp-server".into(),
            service_account: "amp-iamproxy-ingest-service-account".into(),
            canary_job: "pipecheck-canary".into(),
        };
        let stack = MockStack::start(MockConfig {
            cluster: Some(shape.seed()),
            ..MockConfig::default()
        })
        .await
        .unwrap();
        let c = prepare(&stack, &shape).unwrap();
        assert_eq!(c.credentials, Credentials::PodIdentity);
        let pod = stack.kube.get("pods", "prometheus", &c.pod).unwrap();
        let text = pod.to_string();
        assert!(text.contains(POD_IDENTITY_CREDENTIALS_URI), "{text}");
        assert!(!text.contains("AWS_ROLE_ARN"), "{text}");
        let sa = stack
            .kube
            .get(
                "serviceaccounts",
                "prometheus",
                "amp-iamproxy-ingest-service-account",
            )
            .unwrap();
        assert!(
            sa["metadata"]["annotations"]
                .get(ROLE_ARN_ANNOTATION)
                .is_none()
        );
        let a = stack
            .eks
            .pod_identity_association_for(
                "pipecheck",
                "prometheus",
                "amp-iamproxy-ingest-service-account",
            )
            .unwrap();
        assert_eq!(a.role_arn, c.seed.role_arn());
        assert!(
            stack
                .eks
                .cluster("pipecheck")
                .unwrap()
                .addons
                .contains_key(AGENT_ADDON)
        );
    }
}
