//! The cluster side of a run (shape `cluster`): what the EKS, IAM and Kubernetes links
//! share. `mod.rs` only re-exports.
//!
//! | module | what it owns |
//! |---|---|
//! | `facts.rs` | `ClusterFacts`: what the cluster links establish for the ones after them |
//! | `kube_api.rs` | reading the Kubernetes API: errors as verdicts, pods as evidence, logs |
//! | `workload.rs` | finding the collector's workload and pods (OpenTelemetryCollector, the chart's Deployment, a `Prometheus` resource and its StatefulSet, an OpenTelemetry collector's Deployment/DaemonSet) |
//! | `aws_errors.rs` | SDK errors of the EKS/IAM/STS calls as one-line evidence |
//! | `nodes.rs` | the collector's nodes, their EC2 instances and IMDS settings (the node-role fallback of pods without IRSA) |
//! | `pod_identity.rs` | EKS Pod Identity: a namespace's associations, the container-credentials env of a pod, the `pods.eks.amazonaws.com` trust |
//! | `mock.rs` | a scenario's cluster as the mocks take it (`pipecheck_mocks::ClusterShape`); the seeds, shapes and fault recipes live in `pipecheck_mocks::cluster` |

mod aws_errors;
mod facts;
mod kube_api;
mod mock;
mod nodes;
pub mod pod_identity;
mod workload;

pub use aws_errors::{call_failed, sdk_error};
pub use facts::ClusterFacts;
pub use kube_api::{
    KUBE_READ_URLS, KUBE_READS, KubeFailure, KubeRead, api_failure, container_summary,
    is_kube_read, last_log_lines, pod_name, pod_ready, restarts, waiting, warning_events,
};
pub use mock::{mock_kind, mock_shape};
pub use nodes::{NodeMetadata, node_metadata};
pub use workload::{Workload, find_workload};

/// The annotation IRSA reads on a service account.
pub const ROLE_ARN_ANNOTATION: &str = "eks.amazonaws.com/role-arn";

/// The role a service account's IRSA annotation names, trimmed.
pub fn role_annotation(sa: &k8s_openapi::api::core::v1::ServiceAccount) -> Option<String> {
    sa.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(ROLE_ARN_ANNOTATION))
        .map(|s| s.trim().to_string())
}

/// A policy document as IAM's GetRole answers it (URL-encoded JSON), decoded.
pub fn decode_policy(encoded: &str) -> String {
    percent_encoding::percent_decode_str(encoded)
        .decode_utf8_lossy()
        .into_owned()
}

/// The audience of IRSA tokens, and the client id an IAM OIDC provider for EKS lists.
pub const STS_AUDIENCE: &str = "sts.amazonaws.com";

/// `system:serviceaccount:<namespace>:<name>`: the `sub` of a service account's token.
pub fn subject(namespace: &str, service_account: &str) -> String {
    format!("system:serviceaccount:{namespace}:{service_account}")
}

#[cfg(test)]
mod tests {
    use crate::chain::Expect;
    use crate::chain::{CLUSTER, LinkId, SCRAPER, closure};
    use crate::faults::CATALOG;
    use crate::faults::resolve_faults;
    use crate::scenario::{ClusterCollector, Scenario, Shape};

    fn names(s: &Scenario) -> Vec<LinkId> {
        closure(&s.link_names(), s.shape)
    }

    #[test]
    fn cluster_scenarios_check_the_cluster_chain_but_not_the_canary_observation() {
        let adot = Scenario::load("eks-adot").unwrap();
        let a = names(&adot);
        for l in CLUSTER {
            assert!(a.contains(l), "{l} missing from eks-adot: {a:?}");
        }
        let others: Vec<(&str, Vec<LinkId>)> = [
            "eks-prometheus",
            "eks-kube-prometheus-stack",
            "eks-otel-daemonset",
        ]
        .into_iter()
        .map(|n| (n, names(&Scenario::load(n).unwrap())))
        .collect();
        for (n, p) in &others {
            for l in crate::scenario::ADOT_ONLY_LINKS {
                assert!(!p.contains(l), "{l} in {n}: {p:?}");
            }
            for l in CLUSTER
                .iter()
                .filter(|l| !crate::scenario::ADOT_ONLY_LINKS.contains(l))
            {
                assert!(p.contains(l), "{l} missing from {n}: {p:?}");
            }
        }
        for l in [
            LinkId::CanaryScraped,
            LinkId::CollectorSigning,
            LinkId::PipelineDelivery,
        ] {
            assert!(!a.contains(&l), "{l}");
            assert!(others.iter().all(|(_, p)| !p.contains(&l)), "{l}");
        }
        for l in [
            LinkId::AmpWorkspace,
            LinkId::AmpRemoteWrite,
            LinkId::AmpQuery,
            LinkId::CollectorRunning,
        ] {
            assert!(a.contains(&l), "{l}");
            assert!(others.iter().all(|(_, p)| p.contains(&l)), "{l}");
        }
    }

    #[test]
    fn cluster_faults_apply_only_to_cluster_scenarios_that_check_their_link() {
        let adot = Scenario::load("eks-adot").unwrap();
        let prom = Scenario::load("eks-prometheus").unwrap();
        let operator = Scenario::load("eks-kube-prometheus-stack").unwrap();
        let daemonset = Scenario::load("eks-otel-daemonset").unwrap();
        let smoke = Scenario::load("smoke").unwrap();
        let scraper = Scenario::load("eks-amp-scraper").unwrap();
        let pod_identity = Scenario::load("eks-adot-pod-identity").unwrap();
        for f in CATALOG
            .iter()
            .filter(|f| f.direct.is_none() && f.collector.is_none())
        {
            let e = f
                .expect(Shape::Cluster)
                .expect("a cluster fault lands somewhere");
            assert!(resolve_faults(&smoke, &[f]).is_err(), "{f:?} on smoke");
            // The AMP managed collector's faults apply to its scenario only, and the
            // in-cluster collectors' faults not to it.
            let on_scraper = resolve_faults(&scraper, &[f]).is_ok();
            assert_eq!(
                on_scraper,
                SCRAPER.contains(&e.link()),
                "{f:?} on eks-amp-scraper"
            );
            if on_scraper {
                for s in [&adot, &prom, &operator, &daemonset, &pod_identity] {
                    assert!(resolve_faults(s, &[f]).is_err(), "{f:?} on {}", s.name);
                }
                continue;
            }
            // EKS Pod Identity's faults need its cluster; IRSA's do not apply there.
            assert_eq!(
                resolve_faults(&pod_identity, &[f]).is_ok(),
                !f.needs_irsa() && f.applies_to(ClusterCollector::Adot),
                "{f:?} on eks-adot-pod-identity"
            );
            if f.needs_pod_identity() {
                for s in [&adot, &prom, &operator, &daemonset] {
                    assert!(resolve_faults(s, &[f]).is_err(), "{f:?} on {}", s.name);
                }
                continue;
            }
            for s in [&adot, &prom, &operator, &daemonset] {
                let kind = s.cluster.as_ref().unwrap().kind;
                let applies = (kind.is_adot_addon()
                    || !crate::scenario::ADOT_ONLY_LINKS.contains(&e.link()))
                    && f.applies_to(kind);
                assert_eq!(
                    resolve_faults(s, &[f]).is_ok(),
                    applies,
                    "{f:?} on {}",
                    s.name
                );
            }
            // Every cluster fault has a shape it applies to.
            assert!(
                [&adot, &prom, &operator, &daemonset]
                    .iter()
                    .any(|s| resolve_faults(s, &[f]).is_ok()),
                "{f:?}"
            );
        }
        assert!(
            !crate::faults::find("F32")
                .unwrap()
                .applies_to(ClusterCollector::Otelcol)
        );
        assert!(
            !crate::faults::find("F45")
                .unwrap()
                .applies_to(ClusterCollector::Adot)
        );
        assert!(
            crate::faults::find("F46")
                .unwrap()
                .applies_to(ClusterCollector::PrometheusOperator)
        );
        assert!(
            !crate::faults::find("F33")
                .unwrap()
                .applies_to(ClusterCollector::Otelcol)
        );
        // The harness-side AMP faults land as in a direct run; the local collector's don't apply.
        let denied = crate::faults::find("remote-write-denied").unwrap();
        assert_eq!(
            denied.expect(Shape::Cluster),
            Some(Expect::RootCause(LinkId::AmpRemoteWrite))
        );
        let bad_flag = crate::faults::find("collector-bad-flag").unwrap();
        assert_eq!(bad_flag.expect(Shape::Cluster), None);
    }

    #[test]
    fn subjects() {
        assert_eq!(super::subject("ns", "sa"), "system:serviceaccount:ns:sa");
    }
}
