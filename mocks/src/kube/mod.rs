//! Mock Kubernetes API over TLS (aws-wire.md H): what kubectl and the `kube` crate ask of
//! an EKS cluster's API server, served from objects stored as JSON so faults can edit any
//! field. `mod.rs` only re-exports; see each module.
//!
//! | module | what it owns |
//! |---|---|
//! | `resources.rs` | the served types (group, version, plural, kind, short names): one table |
//! | `store.rs` | `KubeState`: objects, resourceVersion, pod logs, tokens, RBAC denials |
//! | `selector.rs` | labelSelector / fieldSelector |
//! | `api.rs` | the router: auth, discovery, list/get/create/update/patch/delete, pods/log |
//! | `table.rs` | server-side printing (`Table`) for kubectl's human output |
//! | `status.rs` | `KubeError`: the apiserver's `Status` objects |
//! | `tls.rs` | generated CA + server certificate, rustls (aws-lc-rs) listener |
//! | `kubeconfig.rs` | the kubeconfig file clients read |
//! | `seed.rs` | the healthy ADOT default and the common breaks |
//! | `token.rs` | `TokenRequest`: service account tokens from the cluster's OIDC issuer |
//! | `workloads.rs` | StatefulSet and DaemonSet controllers, the Prometheus operator, `apply`/`reconcile` |

mod api;
mod controllers;
mod kubeconfig;
mod pod_identity;
mod resources;
mod seed;
mod selector;
mod status;
mod store;
mod table;
mod tls;
mod token;
mod workloads;

pub use api::{MAX_BODY, router};
pub use kubeconfig::Kubeconfig;
pub(crate) use pod_identity::POD_IDENTITY_AGENT;
pub use pod_identity::{
    POD_IDENTITY_AUDIENCE, POD_IDENTITY_CREDENTIALS_URI, POD_IDENTITY_TOKEN_FILE,
    POD_IDENTITY_VOLUME, PodIdentityLookup,
};
pub use resources::{RESOURCES, ResourceType};
pub use seed::{
    AdotSeed, CERT_MANAGER_DEPLOYMENTS, COLLECTOR_CONTAINER, ROLE_ARN_ANNOTATION,
    WEB_IDENTITY_TOKEN_FILE, collector_config, namespace, service_account,
};
pub(crate) use seed::{CERT_MANAGER_NAMESPACE, OPERATOR_NAMESPACE, crd_object};
pub use status::{KubeError, Target};
pub use store::{Denial, KubeState, merge_patch};
pub use tls::{TlsError, TlsMaterial};
pub use workloads::{
    OPERATOR_CONFIG_KEY, PROMETHEUS_EXTERNAL_LABEL, REPLICA_EXTERNAL_LABEL, gzip_stored,
    operator_external_labels, prometheus_selector_labels, render_prometheus_config,
};
