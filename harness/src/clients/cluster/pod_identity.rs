//! EKS Pod Identity as the cluster links read it (docs/wire/eks-pod-identity.md): the pod
//! identity associations of a namespace (EKS ListPodIdentityAssociations, then
//! DescribePodIdentityAssociation for the role), the container-credentials env the EKS
//! webhook puts into a pod created while its service account has an association, and the
//! trust a role needs for the `pods.eks.amazonaws.com` service principal.

use k8s_openapi::api::core::v1::Pod;
use pipecheck_policy::{Decision, PolicyDocument, PrincipalRef, Request, evaluate};

use super::aws_errors::sdk_error;
use crate::chain::{Check, Deadline};

/// The service principal EKS Pod Identity assumes roles as.
pub const PODS_PRINCIPAL: &str = "pods.eks.amazonaws.com";
/// The actions the role's trust policy must allow that principal (EKS user guide,
/// "Create IAM role with trust policy required by EKS Pod Identity").
pub const TRUST_ACTIONS: [&str; 2] = ["sts:AssumeRole", "sts:TagSession"];
/// The add-on running the agent, and its DaemonSet in `kube-system`.
pub const AGENT: &str = "eks-pod-identity-agent";
pub const AGENT_NAMESPACE: &str = "kube-system";
/// The env the EKS webhook injects, and the agent's IPv4 endpoint.
pub const CREDENTIALS_URI_ENV: &str = "AWS_CONTAINER_CREDENTIALS_FULL_URI";
pub const TOKEN_FILE_ENV: &str = "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE";
pub const CREDENTIALS_URI: &str = "http://169.254.170.23/v1/credentials";
pub const TOKEN_FILE: &str =
    "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount/eks-pod-identity-token";
/// The most association pages read (100 associations a page).
const MAX_PAGES: usize = 10;

/// One association, as DescribePodIdentityAssociation answers it.
#[derive(Clone, Debug, PartialEq)]
pub struct Association {
    pub id: String,
    pub arn: String,
    pub namespace: String,
    pub service_account: String,
    pub role_arn: String,
    /// The role the pods finally get (assumed with `role_arn`'s session), if set.
    pub target_role_arn: Option<String>,
    /// Seconds since the epoch.
    pub created_at: Option<i64>,
    pub disable_session_tags: bool,
}

impl Association {
    pub fn line(&self) -> String {
        format!(
            "{} {}/{} -> role {}{}{}",
            self.id,
            self.namespace,
            self.service_account,
            self.role_arn,
            self.target_role_arn
                .as_deref()
                .map(|t| format!(", target role {t}"))
                .unwrap_or_default(),
            self.created_at
                .map(|t| format!(", created {}", rfc3339(t)))
                .unwrap_or_default()
        )
    }
}

/// `(namespace, service account, association id)` of every association in `namespace`.
pub async fn list_in_namespace(
    eks: &aws_sdk_eks::Client,
    request: Deadline,
    cluster: &str,
    namespace: &str,
) -> Result<Vec<(String, String, String)>, String> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let call = eks
            .list_pod_identity_associations()
            .cluster_name(cluster)
            .namespace(namespace)
            .set_next_token(token.clone())
            .send();
        let page = match tokio::time::timeout(request.value, call).await {
            Err(_) => {
                return Err(format!(
                    "eks:ListPodIdentityAssociations did not answer within {}",
                    request
                ));
            }
            Ok(Err(e)) => {
                return Err(format!(
                    "eks:ListPodIdentityAssociations: {}",
                    sdk_error(&e).1
                ));
            }
            Ok(Ok(p)) => p,
        };
        for a in page.associations() {
            out.push((
                a.namespace().unwrap_or_default().to_string(),
                a.service_account().unwrap_or_default().to_string(),
                a.association_id().unwrap_or_default().to_string(),
            ));
        }
        match page.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => return Ok(out),
        }
    }
    Ok(out)
}

/// Why the collector's namespace counts as using EKS Pod Identity, if it does: the
/// scenario says so, or the namespace has pod identity associations (listed).
pub async fn why_in_use(
    eks: &aws_sdk_eks::Client,
    request: Deadline,
    cluster: &str,
    spec: &crate::scenario::ClusterSpec,
) -> Option<String> {
    if spec.pod_identity() {
        return Some("the scenario's collector uses EKS Pod Identity".to_string());
    }
    match list_in_namespace(eks, request, cluster, &spec.namespace).await {
        Ok(l) if !l.is_empty() => Some(format!(
            "namespace {} has EKS pod identity associations ({})",
            spec.namespace,
            l.iter()
                .map(|(_, s, id)| format!("{s}: {id}"))
                .collect::<Vec<_>>()
                .join(", ")
        )),
        _ => None,
    }
}

/// DescribePodIdentityAssociation of `id`.
pub async fn describe(
    eks: &aws_sdk_eks::Client,
    request: Deadline,
    cluster: &str,
    id: &str,
) -> Result<Association, Check> {
    let call = eks
        .describe_pod_identity_association()
        .cluster_name(cluster)
        .association_id(id)
        .send();
    let out = match tokio::time::timeout(request.value, call).await {
        Err(_) => {
            return Err(Check::fail(
                format!(
                    "EKS DescribePodIdentityAssociation did not answer within {}",
                    request
                ),
                "check network access to eks.<region>.amazonaws.com",
            ));
        }
        Ok(Err(e)) => {
            return Err(super::call_failed(
                &format!("describe pod identity association {id} of cluster {cluster}"),
                "eks:DescribePodIdentityAssociation",
                &e,
            ));
        }
        Ok(Ok(o)) => o,
    };
    let Some(a) = out.association() else {
        return Err(Check::fail(
            format!("EKS answered DescribePodIdentityAssociation {id} without an association"),
            "describe it with the AWS CLI to compare",
        ));
    };
    Ok(Association {
        id: a.association_id().unwrap_or(id).to_string(),
        arn: a.association_arn().unwrap_or_default().to_string(),
        namespace: a.namespace().unwrap_or_default().to_string(),
        service_account: a.service_account().unwrap_or_default().to_string(),
        role_arn: a.role_arn().unwrap_or_default().to_string(),
        target_role_arn: a.target_role_arn().map(str::to_string),
        created_at: a.created_at().map(|t| t.secs()),
        disable_session_tags: a.disable_session_tags().unwrap_or(false),
    })
}

/// What of the EKS webhook's Pod Identity mutation a pod carries.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodCredentials {
    /// `AWS_CONTAINER_CREDENTIALS_FULL_URI` of its first container that has one.
    pub uri: Option<String>,
    pub token_file: Option<String>,
    /// A projected service account token with audience `pods.eks.amazonaws.com`.
    pub token_volume: bool,
}

impl PodCredentials {
    pub fn of(pod: &Pod) -> Self {
        let Some(spec) = pod.spec.as_ref() else {
            return Self::default();
        };
        let env = |name: &str| {
            spec.containers.iter().find_map(|c| {
                c.env
                    .as_ref()?
                    .iter()
                    .find(|e| e.name == name)
                    .and_then(|e| e.value.clone())
            })
        };
        let token_volume = spec.volumes.iter().flatten().any(|v| {
            v.projected.as_ref().is_some_and(|p| {
                p.sources.iter().flatten().any(|s| {
                    s.service_account_token
                        .as_ref()
                        .is_some_and(|t| t.audience.as_deref() == Some(PODS_PRINCIPAL))
                })
            })
        });
        Self {
            uri: env(CREDENTIALS_URI_ENV),
            token_file: env(TOKEN_FILE_ENV),
            token_volume,
        }
    }

    /// The webhook's mutation is there: both variables and the token.
    pub fn complete(&self) -> bool {
        self.uri.is_some() && self.token_file.is_some() && self.token_volume
    }

    pub fn line(&self) -> String {
        format!(
            "{CREDENTIALS_URI_ENV} {}, {TOKEN_FILE_ENV} {}, {} token volume {}",
            self.uri.as_deref().unwrap_or("not set"),
            self.token_file.as_deref().unwrap_or("not set"),
            PODS_PRINCIPAL,
            if self.token_volume {
                "mounted"
            } else {
                "absent"
            }
        )
    }
}

/// A pod's creation time, seconds since the epoch.
pub fn pod_created(pod: &Pod) -> Option<i64> {
    pod.metadata
        .creation_timestamp
        .as_ref()
        .map(|t| t.0.as_second())
}

/// `YYYY-MM-DDTHH:MM:SSZ`.
pub fn rfc3339(secs: i64) -> String {
    let f = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| t.format(&f).ok())
        .unwrap_or_else(|| secs.to_string())
}

/// The session tags EKS Pod Identity passes when it assumes the role, as condition keys
/// (`aws:RequestTag/...`) a trust policy may test (EKS user guide, "Enable or disable
/// session tags"); none when the association disables them.
pub fn session_tags(
    cluster_arn: &str,
    namespace: &str,
    service_account: &str,
) -> Vec<(String, String)> {
    let cluster_name = cluster_arn.rsplit('/').next().unwrap_or(cluster_arn);
    [
        ("eks-cluster-arn", cluster_arn),
        ("eks-cluster-name", cluster_name),
        ("kubernetes-namespace", namespace),
        ("kubernetes-service-account", service_account),
    ]
    .iter()
    .map(|(k, v)| (format!("aws:RequestTag/{k}"), v.to_string()))
    .collect()
}

/// Whether the trust policy lets `pods.eks.amazonaws.com` do each of [`TRUST_ACTIONS`],
/// with the request's session tags as context.
pub fn evaluate_trust(
    doc: &PolicyDocument,
    tags: &[(String, String)],
) -> Vec<(&'static str, Decision)> {
    let context: Vec<(&str, &str)> = tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    TRUST_ACTIONS
        .iter()
        .map(|action| {
            let d = evaluate(
                std::slice::from_ref(doc),
                &Request {
                    action,
                    resource: None,
                    principal: Some(PrincipalRef::Service(PODS_PRINCIPAL)),
                    context: &context,
                    context_name: "the request",
                },
            );
            (*action, d)
        })
        .collect()
}

/// The trust statement the EKS user guide gives, for hints.
pub fn trust_statement() -> String {
    format!(
        "{{\"Effect\": \"Allow\", \"Principal\": {{\"Service\": \"{PODS_PRINCIPAL}\"}}, \"Action\": [\"sts:AssumeRole\", \"sts:TagSession\"]}}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(actions: &str, principal: &str) -> PolicyDocument {
        PolicyDocument::parse(&format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{principal},"Action":{actions}}}]}}"#
        ))
        .unwrap()
    }

    #[test]
    fn the_guide_s_trust_allows_both_actions() {
        let tags = session_tags("arn:aws:eks:us-east-1:1:cluster/c", "ns", "sa");
        let d = doc(
            r#"["sts:AssumeRole","sts:TagSession"]"#,
            r#"{"Service":"pods.eks.amazonaws.com"}"#,
        );
        assert!(evaluate_trust(&d, &tags).iter().all(|(_, d)| d.allowed()));
        let d = doc(
            r#""sts:AssumeRole""#,
            r#"{"Service":"pods.eks.amazonaws.com"}"#,
        );
        let r = evaluate_trust(&d, &tags);
        assert!(r[0].1.allowed() && !r[1].1.allowed());
        let d = doc(
            r#"["sts:AssumeRole","sts:TagSession"]"#,
            r#"{"Service":"ec2.amazonaws.com"}"#,
        );
        assert!(evaluate_trust(&d, &tags).iter().all(|(_, d)| !d.allowed()));
    }

    #[test]
    fn conditions_on_session_tags_are_evaluated() {
        let d = PolicyDocument::parse(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession"],"Condition":{"StringEquals":{"aws:RequestTag/kubernetes-namespace":"ns","aws:RequestTag/kubernetes-service-account":"sa"}}}]}"#).unwrap();
        let ok = session_tags("arn:aws:eks:us-east-1:1:cluster/c", "ns", "sa");
        assert!(evaluate_trust(&d, &ok).iter().all(|(_, d)| d.allowed()));
        let other = session_tags("arn:aws:eks:us-east-1:1:cluster/c", "ns", "other");
        assert!(evaluate_trust(&d, &other).iter().all(|(_, d)| !d.allowed()));
    }

    #[test]
    fn times_are_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    }
}
