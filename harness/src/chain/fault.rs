//! Fault metadata, with no I/O: a catalog fault's id, name and summary, how a run of each
//! shape ends with it ([`Expect`]: the link its verdict lands on), and which cluster
//! collectors and identity mechanisms can have it. How a fault is injected is the
//! session's (`faults.rs`: the mock's side through `pipecheck_mocks`, the harness's own).

use super::collector::ClusterCollector;
use super::link::{LinkId, Shape};

/// How the run must end when this fault is injected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Exit 1, this link the only root cause.
    RootCause(LinkId),
    /// Exit 0, this link passes with a warning.
    Warning(LinkId),
}

/// What the catalog says of one fault, apart from how it is injected.
#[derive(Clone, Copy, Debug)]
pub struct FaultInfo {
    pub id: &'static str,
    pub name: &'static str,
    pub summary: &'static str,
    /// How a run of a direct-push scenario ends with it (None: it does not apply).
    pub direct: Option<Expect>,
    /// How a run of a collector scenario ends with it (None: it does not apply).
    pub collector: Option<Expect>,
}

impl Expect {
    pub fn link(self) -> LinkId {
        match self {
            Expect::RootCause(l) | Expect::Warning(l) => l,
        }
    }
}

impl FaultInfo {
    pub fn expect(&self, shape: Shape) -> Option<Expect> {
        match shape {
            Shape::Direct => self.direct,
            Shape::Collector => self.collector,
            // In a cluster run the harness writes and reads AMP itself, as in a direct one;
            // the cluster's own faults land where `CLUSTER_EXPECT` says.
            Shape::Cluster => CLUSTER_EXPECT
                .iter()
                .find(|(n, _)| *n == self.name)
                .map(|(_, e)| *e)
                .or(self.direct),
        }
    }

    /// The links the verdict lands on, per shape, for listings: `amp.remote_write`, or
    /// `collector.running (collector)`.
    pub fn links(&self) -> String {
        match (self.direct, self.collector) {
            (Some(d), Some(c)) if d.link() == c.link() => d.link().to_string(),
            (Some(d), Some(c)) => format!("{} / {} (collector)", d.link(), c.link()),
            (Some(d), None) => d.link().to_string(),
            (None, Some(c)) => format!("{} (collector)", c.link()),
            (None, None) => self
                .expect(Shape::Cluster)
                .map(|e| format!("{} (cluster)", e.link()))
                .unwrap_or_default(),
        }
    }

    /// Whether only an ADOT (OpenTelemetry) collector can have this fault.
    pub fn needs_adot(&self) -> bool {
        ADOT_ONLY.contains(&self.name)
    }

    /// Whether a cluster collector of `kind` can have this fault: the ADOT exporter's
    /// faults need the ADOT add-on's collector (their recipe edits its resource), and a
    /// shape's own faults ([`ONLY_ON`]) that shape.
    pub fn applies_to(&self, kind: ClusterCollector) -> bool {
        if self.needs_adot() && !kind.is_adot_addon() {
            return false;
        }
        ONLY_ON
            .iter()
            .find(|(n, _)| *n == self.name)
            .is_none_or(|(_, kinds)| kinds.contains(&kind))
    }

    /// Whether only a cluster set up for EKS Pod Identity can have this fault.
    pub fn needs_pod_identity(&self) -> bool {
        POD_IDENTITY_ONLY.contains(&self.name)
    }

    /// Whether only a cluster using IRSA can have this fault.
    pub fn needs_irsa(&self) -> bool {
        IRSA_ONLY.contains(&self.name)
    }
}

/// Faults only an ADOT collector can have (Prometheus retries 5xx and 429 itself).
const ADOT_ONLY: &[&str] = &["exporter-drops-on-failure"];

/// Cluster faults that only the listed collector shapes can have (the others: every shape
/// whose scenario checks their link).
const ONLY_ON: &[(&str, &[ClusterCollector])] = &[
    // Replicas of a Deployment or StatefulSet; a DaemonSet's copies are F45's.
    (
        "replicas-without-ha-labels",
        &[
            ClusterCollector::Adot,
            ClusterCollector::Prometheus,
            ClusterCollector::PrometheusOperator,
        ],
    ),
    ("daemonset-duplicate-scrape", &[ClusterCollector::Otelcol]),
    // F40-F44: the AMP managed collector's own.
    ("scraper-creation-failed", &[ClusterCollector::AmpScraper]),
    ("scraper-no-access-entry", &[ClusterCollector::AmpScraper]),
    ("scraper-rbac-missing", &[ClusterCollector::AmpScraper]),
    (
        "scraper-config-no-canary-job",
        &[ClusterCollector::AmpScraper],
    ),
    ("scraper-other-workspace", &[ClusterCollector::AmpScraper]),
    (
        "scraper-endpoint-public-only",
        &[ClusterCollector::AmpScraper],
    ),
    (
        "prometheus-sigv4-no-region",
        &[ClusterCollector::PrometheusOperator],
    ),
    (
        "prometheus-replica-label-not-ha",
        &[ClusterCollector::PrometheusOperator],
    ),
    (
        "prometheus-not-reconciled",
        &[ClusterCollector::PrometheusOperator],
    ),
];

/// Faults of a cluster set up for EKS Pod Identity (`identity: pod-identity`).
const POD_IDENTITY_ONLY: &[&str] = &[
    "pod-identity-association-missing",
    "pod-identity-agent-missing",
    "pod-identity-agent-not-ready",
    "pod-identity-trust-no-principal",
    "pod-identity-trust-no-tag-session",
    "pods-predate-association",
    "irsa-and-pod-identity",
];

/// Faults of IRSA's chain, which a Pod Identity cluster does not have (its service
/// account is unannotated and its pods need no OIDC provider).
const IRSA_ONLY: &[&str] = &[
    "sa-unannotated",
    "trust-other-namespace",
    "trust-other-service-account",
    "oidc-provider-missing",
    "irsa-sa-unused",
    "irsa-sa-extra",
    "pods-predate-annotation",
    "imds-hop-limit",
    "sigv4-assumes-own-role",
];

/// Where the cluster faults land in a cluster scenario (shape `cluster`); the others land
/// there as in a direct one.
const CLUSTER_EXPECT: &[(&str, Expect)] = &[
    (
        "sa-unannotated",
        Expect::RootCause(LinkId::K8sServiceAccount),
    ),
    (
        "trust-other-namespace",
        Expect::RootCause(LinkId::IamRoleTrust),
    ),
    (
        "trust-other-service-account",
        Expect::RootCause(LinkId::IamRoleTrust),
    ),
    (
        "oidc-provider-missing",
        Expect::RootCause(LinkId::IamOidcProvider),
    ),
    (
        "role-no-policies",
        Expect::RootCause(LinkId::IamRolePermissions),
    ),
    (
        "collector-crash-loop",
        Expect::RootCause(LinkId::CollectorRunning),
    ),
    ("adot-addon-missing", Expect::RootCause(LinkId::EksAddon)),
    ("adot-addon-degraded", Expect::RootCause(LinkId::EksAddon)),
    (
        "adot-addon-create-failed",
        Expect::RootCause(LinkId::EksAddon),
    ),
    (
        "adot-addon-unsupported",
        Expect::RootCause(LinkId::EksAddon),
    ),
    (
        "cert-manager-missing",
        Expect::RootCause(LinkId::K8sCertManager),
    ),
    (
        "cert-manager-not-ready",
        Expect::RootCause(LinkId::K8sCertManager),
    ),
    (
        "irsa-sa-unused",
        Expect::RootCause(LinkId::K8sServiceAccount),
    ),
    ("irsa-sa-extra", Expect::Warning(LinkId::K8sServiceAccount)),
    (
        "pods-predate-annotation",
        Expect::RootCause(LinkId::K8sServiceAccount),
    ),
    // F27: the collector's AWS identity; why here and not on aws.identity:
    // links/k8s_service_account.rs.
    (
        "imds-hop-limit",
        Expect::RootCause(LinkId::K8sServiceAccount),
    ),
    ("sts-unreachable", Expect::RootCause(LinkId::NetworkEgress)),
    ("sts-refused", Expect::RootCause(LinkId::NetworkEgress)),
    ("sts-no-route", Expect::RootCause(LinkId::NetworkEgress)),
    ("aps-unreachable", Expect::RootCause(LinkId::NetworkEgress)),
    ("aps-refused", Expect::RootCause(LinkId::NetworkEgress)),
    (
        "aps-private-dns-off",
        Expect::RootCause(LinkId::NetworkEgress),
    ),
    (
        "sigv4-assumes-own-role",
        Expect::RootCause(LinkId::CollectorConfig),
    ),
    (
        "replicas-without-ha-labels",
        Expect::RootCause(LinkId::CollectorConfig),
    ),
    (
        "exporter-drops-on-failure",
        Expect::RootCause(LinkId::CollectorConfig),
    ),
    (
        "daemonset-duplicate-scrape",
        Expect::RootCause(LinkId::CollectorConfig),
    ),
    (
        "prometheus-sigv4-no-region",
        Expect::RootCause(LinkId::CollectorConfig),
    ),
    (
        "prometheus-replica-label-not-ha",
        Expect::Warning(LinkId::CollectorConfig),
    ),
    (
        "prometheus-not-reconciled",
        Expect::RootCause(LinkId::CollectorRunning),
    ),
    (
        "scraper-creation-failed",
        Expect::RootCause(LinkId::AmpScraper),
    ),
    (
        "scraper-no-access-entry",
        Expect::RootCause(LinkId::EksScraperAccess),
    ),
    (
        "scraper-rbac-missing",
        Expect::RootCause(LinkId::K8sScraperRbac),
    ),
    (
        "scraper-config-no-canary-job",
        Expect::RootCause(LinkId::ScraperConfig),
    ),
    (
        "scraper-other-workspace",
        Expect::RootCause(LinkId::AmpScraper),
    ),
    (
        "scraper-endpoint-public-only",
        Expect::RootCause(LinkId::AmpScraper),
    ),
    (
        "pod-identity-association-missing",
        Expect::RootCause(LinkId::K8sServiceAccount),
    ),
    (
        "pod-identity-agent-missing",
        Expect::RootCause(LinkId::EksAddon),
    ),
    (
        "pod-identity-agent-not-ready",
        Expect::RootCause(LinkId::EksAddon),
    ),
    (
        "pod-identity-trust-no-principal",
        Expect::RootCause(LinkId::IamRoleTrust),
    ),
    (
        "pod-identity-trust-no-tag-session",
        Expect::RootCause(LinkId::IamRoleTrust),
    ),
    (
        "pods-predate-association",
        Expect::RootCause(LinkId::K8sServiceAccount),
    ),
    (
        "irsa-and-pod-identity",
        Expect::Warning(LinkId::K8sServiceAccount),
    ),
];
