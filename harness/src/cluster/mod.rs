//! The cluster side of a run (shape `cluster`): what the EKS, IAM and Kubernetes links
//! share. `mod.rs` only re-exports.
//!
//! | module | what it owns |
//! |---|---|
//! | `facts.rs` | `ClusterFacts`: what the cluster links establish for the ones after them |
//! | `kube_api.rs` | reading the Kubernetes API: errors as verdicts, pods as evidence, logs |
//! | `workload.rs` | finding the collector's workload and pods (OpenTelemetryCollector or Deployment) |
//! | `aws_errors.rs` | SDK errors of the EKS/IAM/STS calls as one-line evidence |
//! | `mock.rs` | the mock target's cluster: the seed for a scenario, the Prometheus variant, fault recipes |

mod aws_errors;
mod facts;
mod kube_api;
mod mock;
mod workload;

pub use aws_errors::{call_failed, sdk_error};
pub use facts::ClusterFacts;
pub use kube_api::{
    KubeFailure, api_failure, container_summary, last_log_lines, pod_name, pod_ready, restarts,
    waiting, warning_events,
};
pub use mock::{MockCluster, prepare_mock_cluster, seed_for};
pub use workload::{Workload, find_workload};

/// Links that only an ADOT collector needs: a Prometheus server in a cluster has no add-on
/// and no operator webhooks.
pub const ADOT_ONLY_LINKS: &[&str] = &["eks.addon", "k8s.cert_manager"];

/// The annotation IRSA reads on a service account.
pub const ROLE_ARN_ANNOTATION: &str = "eks.amazonaws.com/role-arn";

/// The audience of IRSA tokens, and the client id an IAM OIDC provider for EKS lists.
pub const STS_AUDIENCE: &str = "sts.amazonaws.com";

/// `system:serviceaccount:<namespace>:<name>`: the `sub` of a service account's token.
pub fn subject(namespace: &str, service_account: &str) -> String {
    format!("system:serviceaccount:{namespace}:{service_account}")
}
