//! What runs a cluster scenario's collector: the kinds and their pure properties. Here in
//! the core because which faults a kind can have is fault metadata; `scenario.rs`
//! re-exports it (and reads a kind's shipped scenario).

use serde::Deserialize;

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ClusterCollector {
    /// The EKS `adot` add-on's operator runs an `OpenTelemetryCollector` (needs cert-manager).
    Adot,
    /// The prometheus-community/prometheus chart's server, remote-writing with sigv4.
    Prometheus,
    /// A `Prometheus` resource (monitoring.coreos.com/v1) the Prometheus operator runs as a
    /// StatefulSet (kube-prometheus-stack); remote write and sigv4 in its spec.
    PrometheusOperator,
    /// An OpenTelemetry collector (ADOT image or upstream) run without an operator: a
    /// Deployment or DaemonSet with its config in a ConfigMap (the opentelemetry-collector
    /// helm chart, the aws-otel-collector example manifests).
    Otelcol,
    /// No collector in the cluster: an AMP managed collector (scraper) scrapes it.
    /// `collector` is the scraper's alias or id (`s-…`); `namespace` is where the canary
    /// target runs (scrape job `pipecheck-canary`).
    AmpScraper,
}

impl ClusterCollector {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Adot => "adot",
            Self::Prometheus => "prometheus",
            Self::PrometheusOperator => "prometheus-operator",
            Self::Otelcol => "otelcol",
            Self::AmpScraper => "amp-scraper",
        }
    }

    /// Whether the collector is the EKS adot add-on's (its operator, its cert-manager).
    pub fn is_adot_addon(self) -> bool {
        self == Self::Adot
    }

    /// Whether `run --provision` can make this kind of collector (in the run's namespace).
    pub fn provisionable(self) -> bool {
        matches!(self, Self::Adot | Self::Prometheus)
    }

    /// Whether the collector is an OpenTelemetry collector (a prometheusremotewrite
    /// exporter signed by sigv4auth), else a Prometheus server (`remote_write` + `sigv4`).
    pub fn is_otel(self) -> bool {
        matches!(self, Self::Adot | Self::Otelcol)
    }

    /// Every kind, the EKS adot add-on's first.
    pub const ALL: [Self; 5] = [
        Self::Adot,
        Self::Prometheus,
        Self::PrometheusOperator,
        Self::Otelcol,
        Self::AmpScraper,
    ];

    /// The shipped scenario that checks this kind: its cluster spec holds the names the
    /// mock seeds a collector of this kind with.
    pub fn shipped_scenario(self) -> &'static str {
        match self {
            Self::Adot => "eks-adot",
            Self::Prometheus => "eks-prometheus",
            Self::PrometheusOperator => "eks-kube-prometheus-stack",
            Self::Otelcol => "eks-otel-daemonset",
            Self::AmpScraper => "eks-amp-scraper",
        }
    }
}
