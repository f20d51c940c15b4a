//! What discovery finds: each collector writing to AMP from the cluster (its kind, where
//! it runs, the identity it writes as, the workspaces it writes to, where that was read),
//! and each thing that could not be listed, with why.

use serde::Serialize;

use super::amp_url::RemoteWrite;
use crate::scenario::ClusterCollector;

/// What runs the collector.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Kind {
    /// An `opentelemetry.io` OpenTelemetryCollector resource (the ADOT add-on's operator).
    OpenTelemetryCollector,
    /// A `monitoring.coreos.com/v1` Prometheus resource (the Prometheus operator,
    /// kube-prometheus-stack).
    Prometheus,
    Deployment,
    DaemonSet,
    StatefulSet,
    /// An AMP managed collector whose source is the cluster.
    Scraper,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::OpenTelemetryCollector => "OpenTelemetryCollector",
            Kind::Prometheus => "Prometheus",
            Kind::Deployment => "Deployment",
            Kind::DaemonSet => "DaemonSet",
            Kind::StatefulSet => "StatefulSet",
            Kind::Scraper => "Scraper",
        }
    }
}

/// The Pod Identity side of a service account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum PodIdentity {
    /// An association for the service account (its role when it could be described).
    Associated {
        association_id: String,
        role_arn: Option<String>,
    },
    /// The associations were listed; none is for this service account.
    None,
    /// The associations could not be listed (see the run's `not_listed`).
    Unknown,
}

/// How a collector gets the credentials it signs with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Identity {
    /// The service account its pods run as (None for a scraper).
    pub service_account: Option<String>,
    /// The IRSA role the service account's `eks.amazonaws.com/role-arn` annotation names.
    pub irsa_role_arn: Option<String>,
    pub pod_identity: PodIdentity,
    /// A scraper's own role (AMP's service-linked role for the scraper).
    pub scraper_role_arn: Option<String>,
    /// Why the service account could not be read, if it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unread: Option<String>,
}

/// The mechanism names, as `--format json` gives them.
pub const IRSA: &str = "irsa";
pub const POD_IDENTITY: &str = "pod-identity";
pub const NODE_ROLE: &str = "node-role";
pub const SCRAPER_ROLE: &str = "scraper-role";

impl Identity {
    /// A scraper's identity: its role.
    pub fn scraper(role_arn: &str) -> Self {
        Self {
            service_account: None,
            irsa_role_arn: None,
            pod_identity: PodIdentity::None,
            scraper_role_arn: Some(role_arn.to_string()),
            unread: None,
        }
    }

    /// The mechanisms configured for the collector: IRSA (the annotation), Pod Identity
    /// (an association), both, or neither (the node's instance role).
    pub fn mechanisms(&self) -> Vec<&'static str> {
        if self.scraper_role_arn.is_some() {
            return vec![SCRAPER_ROLE];
        }
        let mut out = Vec::new();
        if self.irsa_role_arn.is_some() {
            out.push(IRSA);
        }
        if matches!(self.pod_identity, PodIdentity::Associated { .. }) {
            out.push(POD_IDENTITY);
        }
        if out.is_empty() {
            out.push(NODE_ROLE);
        }
        out
    }

    /// One phrase for the console: `IRSA (arn:…)`, `Pod Identity (arn:…)`,
    /// `IRSA and Pod Identity (…)`, `node role`.
    pub fn describe(&self) -> String {
        if let Some(role) = &self.scraper_role_arn {
            return format!("scraper role ({role})");
        }
        let pod_role = match &self.pod_identity {
            PodIdentity::Associated {
                role_arn,
                association_id,
            } => Some(
                role_arn
                    .clone()
                    .unwrap_or_else(|| format!("association {association_id}")),
            ),
            _ => None,
        };
        let text = match (&self.irsa_role_arn, pod_role) {
            (Some(irsa), Some(pod)) => {
                format!("IRSA ({irsa}) and Pod Identity ({pod}): both configured")
            }
            (Some(irsa), None) => format!("IRSA ({irsa})"),
            (None, Some(pod)) => format!("Pod Identity ({pod})"),
            (None, None) => match self.pod_identity {
                PodIdentity::Unknown => {
                    "node role (no IRSA annotation; Pod Identity associations not listed)"
                        .to_string()
                }
                _ => "node role (no IRSA annotation, no Pod Identity association)".to_string(),
            },
        };
        match &self.unread {
            Some(why) => format!("{text}; service account not read: {why}"),
            None => text,
        }
    }
}

/// One collector writing to AMP from the cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Found {
    pub kind: Kind,
    /// Empty for a scraper (it is no Kubernetes object).
    pub namespace: String,
    /// The resource's name; a scraper's alias, else its id.
    pub name: String,
    pub identity: Identity,
    pub remote_writes: Vec<RemoteWrite>,
    /// Where the remote-write URL was read (`spec.config`, `ConfigMap ns/name key k`,
    /// `container x args`, …).
    pub config_source: String,
    /// A scraper's id and status; an OpenTelemetryCollector's mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Found {
    /// `Kind namespace/name` (`Scraper name` for a scraper).
    pub fn title(&self) -> String {
        if self.namespace.is_empty() {
            format!("{} {}", self.kind.as_str(), self.name)
        } else {
            format!("{} {}/{}", self.kind.as_str(), self.namespace, self.name)
        }
    }

    /// The workspaces, `ws-… (region)`, comma-separated.
    pub fn workspaces(&self) -> String {
        self.remote_writes
            .iter()
            .map(|r| format!("{} ({})", r.workspace_id, r.region))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The cluster scenario kind that checks this collector in this build, if any: an
    /// OpenTelemetryCollector is `adot`; a Prometheus resource `prometheus-operator`; a
    /// Deployment or StatefulSet running a Prometheus server image is `prometheus` (the
    /// prometheus-community chart's server); a Deployment or DaemonSet running an
    /// OpenTelemetry collector image is `otelcol` (the collector chart, the ADOT example
    /// manifests, a StatefulSet); a scraper is `amp-scraper`. Other shapes (another
    /// collector's image, a Prometheus DaemonSet) are listed, no scenario is written.
    pub fn scenario_kind(&self) -> Option<ClusterCollector> {
        match self.kind {
            Kind::OpenTelemetryCollector => Some(ClusterCollector::Adot),
            Kind::Prometheus => Some(ClusterCollector::PrometheusOperator),
            Kind::Scraper => Some(ClusterCollector::AmpScraper),
            Kind::Deployment | Kind::StatefulSet if self.has_detail(PROMETHEUS_SERVER) => {
                Some(ClusterCollector::Prometheus)
            }
            Kind::Deployment | Kind::DaemonSet | Kind::StatefulSet
                if self.has_detail(OTEL_COLLECTOR) =>
            {
                Some(ClusterCollector::Otelcol)
            }
            _ => None,
        }
    }

    fn has_detail(&self, part: &str) -> bool {
        self.detail
            .as_deref()
            .is_some_and(|d| d.split(", ").any(|p| p == part))
    }
}

/// The `detail` a workload running a Prometheus server image carries.
pub const PROMETHEUS_SERVER: &str = "prometheus server";
/// The `detail` a workload running an OpenTelemetry collector image carries.
pub const OTEL_COLLECTOR: &str = "opentelemetry collector";

/// Something discovery could not list or read, and why: the run goes on without it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NotListed {
    pub what: String,
    pub why: String,
}

/// A workload that looks like a collector whose config discovery did not read (it sits in
/// a Secret, whose values a read-only discover does not read).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Unread {
    pub kind: Kind,
    pub namespace: String,
    pub name: String,
    pub secrets: Vec<String>,
}

/// The cluster discovery looked at.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ClusterInfo {
    pub name: String,
    pub region: String,
    /// From EKS DescribeCluster; None when it could not be described.
    pub arn: Option<String>,
    /// The Kubernetes API server read.
    pub server: String,
}

/// Everything one discovery found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Discovery {
    pub cluster: ClusterInfo,
    pub collectors: Vec<Found>,
    pub not_listed: Vec<NotListed>,
    /// Collector-looking workloads whose config is only in Secrets (not read).
    pub secret_config: Vec<Unread>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(irsa: Option<&str>, pod: PodIdentity) -> Identity {
        Identity {
            service_account: Some("sa".into()),
            irsa_role_arn: irsa.map(str::to_string),
            pod_identity: pod,
            scraper_role_arn: None,
            unread: None,
        }
    }

    #[test]
    fn identity_mechanisms() {
        let assoc = PodIdentity::Associated {
            association_id: "a-1".into(),
            role_arn: Some("arn:aws:iam::1:role/p".into()),
        };
        let irsa = Some("arn:aws:iam::1:role/i");
        assert_eq!(identity(irsa, PodIdentity::None).mechanisms(), [IRSA]);
        assert_eq!(identity(None, assoc.clone()).mechanisms(), [POD_IDENTITY]);
        assert_eq!(
            identity(irsa, assoc.clone()).mechanisms(),
            [IRSA, POD_IDENTITY]
        );
        assert_eq!(identity(None, PodIdentity::None).mechanisms(), [NODE_ROLE]);
        assert_eq!(
            identity(None, PodIdentity::Unknown).mechanisms(),
            [NODE_ROLE]
        );
        assert!(identity(irsa, assoc).describe().contains("both configured"));
        assert!(
            identity(None, PodIdentity::Unknown)
                .describe()
                .contains("not listed")
        );
        assert_eq!(Identity::scraper("arn:r").mechanisms(), [SCRAPER_ROLE]);
    }
}
