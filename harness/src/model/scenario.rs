//! Scenario files: which pipeline shape to check, the canary to send, the expectations and
//! the target settings. Shipped scenarios are compiled in (so the binary works from any
//! directory); a path to a YAML file loads a user's own.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// Scenario files shipped with the tool, compiled in from `scenarios/`.
const BUILTIN: &[(&str, &str)] = &[
    ("smoke", include_str!("../../../scenarios/smoke.yaml")),
    (
        "grafana-provision",
        include_str!("../../../scenarios/grafana-provision.yaml"),
    ),
    (
        "prometheus-process",
        include_str!("../../../scenarios/prometheus-process.yaml"),
    ),
    (
        "prometheus-proxy",
        include_str!("../../../scenarios/prometheus-proxy.yaml"),
    ),
    (
        "prometheus-container",
        include_str!("../../../scenarios/prometheus-container.yaml"),
    ),
    (
        "otelcol-process",
        include_str!("../../../scenarios/otelcol-process.yaml"),
    ),
    ("eks-adot", include_str!("../../../scenarios/eks-adot.yaml")),
    (
        "eks-prometheus",
        include_str!("../../../scenarios/eks-prometheus.yaml"),
    ),
    (
        "eks-kube-prometheus-stack",
        include_str!("../../../scenarios/eks-kube-prometheus-stack.yaml"),
    ),
    (
        "eks-otel-daemonset",
        include_str!("../../../scenarios/eks-otel-daemonset.yaml"),
    ),
    (
        "eks-amp-scraper",
        include_str!("../../../scenarios/eks-amp-scraper.yaml"),
    ),
    (
        "eks-adot-pod-identity",
        include_str!("../../../scenarios/eks-adot-pod-identity.yaml"),
    ),
];

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// How canaries reach AMP.
    #[serde(default)]
    pub shape: Shape,
    /// The links to check; empty means every link the shape has.
    #[serde(default)]
    pub links: Vec<LinkId>,
    #[serde(default)]
    pub canary: CanarySpec,
    #[serde(default)]
    pub expect: Expectations,
    #[serde(default)]
    pub target: TargetSpec,
    /// Faults always injected into this scenario's mock run (mock target only).
    #[serde(default)]
    pub faults: Vec<String>,
    /// The collector between the canary and AMP (shape `collector`).
    #[serde(default)]
    pub collector: Option<CollectorSpec>,
    /// The collector running in an EKS cluster, read but never changed (shape `cluster`).
    #[serde(default)]
    pub cluster: Option<ClusterSpec>,
    /// What to provision and check in the Grafana workspace.
    #[serde(default)]
    pub grafana: GrafanaSpec,
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct GrafanaSpec {
    /// Save a canary dashboard for the run (removed at its end) and check its panels;
    /// default: on for the mock target, off for aws.
    pub provision: Option<bool>,
    /// The uid of a dashboard of yours whose panels must all return data.
    pub dashboard: Option<String>,
    /// The AMP data source to check, by uid or name (default: the one that names the
    /// run's workspace).
    pub datasource: Option<String>,
    /// When Grafana holds no AMP data source for the run's workspace, create one for the
    /// run (`pipecheck-<run id>`, SigV4 with the workspace role; removed at its end) and
    /// check it; default off on every target.
    pub provision_datasource: bool,
}

use crate::chain::LinkId;

/// Links that only the ADOT add-on's collector needs: the other shapes have no add-on and
/// no operator webhooks needing cert-manager.
pub const ADOT_ONLY_LINKS: &[LinkId] = &[LinkId::EksAddon, LinkId::K8sCertManager];
pub use crate::chain::Shape;

/// The collector in an EKS cluster (shape `cluster`). Only names: what the collector's
/// pods really run as is read from the cluster.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ClusterSpec {
    /// What runs the collector.
    pub kind: ClusterCollector,
    /// The EKS cluster's name (`--cluster` and `PIPECHECK_CLUSTER` override it).
    pub name: String,
    /// The namespace the collector runs in (optional without `collector`: discovery then
    /// looks only there).
    #[serde(default)]
    pub namespace: String,
    /// `adot`: the OpenTelemetryCollector resource's name; `prometheus`: the server
    /// Deployment's name (`<release>-server` for the prometheus-community chart);
    /// `prometheus-operator`: the `Prometheus` resource's name (kube-prometheus-stack:
    /// `<release>-kube-prometheus-prometheus`, run as StatefulSet `prometheus-<name>`);
    /// `otelcol`: the collector's Deployment or DaemonSet (the opentelemetry-collector
    /// chart: `<release>-opentelemetry-collector[-agent]`; ADOT's manifests: `adot-collector`).
    /// Left out, the run discovers the collector of this kind (`pipecheck discover`):
    /// exactly one must be found.
    #[serde(default)]
    pub collector: String,
    /// The service account the collector is meant to run as (optional): a difference from
    /// what its pods run as is reported.
    #[serde(default)]
    pub service_account: Option<String>,
    /// How the collector's pods are meant to get AWS credentials (optional): the checks
    /// follow what the cluster shows either way; `pod-identity` also has `eks.addon` check
    /// the EKS Pod Identity Agent, and the mock target set the cluster up that way.
    #[serde(default)]
    pub identity: Option<IdentityMechanism>,
}

/// How a collector's pods get AWS credentials.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum IdentityMechanism {
    /// IAM roles for service accounts: the `eks.amazonaws.com/role-arn` annotation, a web
    /// identity token, STS AssumeRoleWithWebIdentity through the cluster's OIDC provider.
    Irsa,
    /// EKS Pod Identity: a pod identity association for the service account, the
    /// `eks-pod-identity-agent` on every node, the container credentials provider.
    PodIdentity,
}

impl ClusterSpec {
    /// Whether the scenario says the collector uses EKS Pod Identity.
    pub fn pod_identity(&self) -> bool {
        self.identity == Some(IdentityMechanism::PodIdentity)
    }
}

impl ClusterSpec {
    /// The service account the collector runs as: the scenario's, else its kind's default
    /// (the ADOT operator's `<collector>-collector`; the charts name it as the collector).
    /// An AMP scraper's cluster runs no collector: `default`.
    pub fn service_account_name(&self) -> String {
        let named = || self.service_account.clone();
        match self.kind {
            ClusterCollector::Adot => {
                named().unwrap_or_else(|| format!("{}-collector", self.collector))
            }
            ClusterCollector::Prometheus
            | ClusterCollector::PrometheusOperator
            | ClusterCollector::Otelcol => named().unwrap_or_else(|| self.collector.clone()),
            ClusterCollector::AmpScraper => "default".to_string(),
        }
    }

    /// Whether the scenario names its collector (else a run discovers it).
    pub fn names_collector(&self) -> bool {
        !self.collector.trim().is_empty()
    }
}

pub use crate::chain::ClusterCollector;

impl ClusterCollector {
    /// The cluster spec of [`Self::shipped_scenario`].
    pub fn shipped_spec(self) -> Result<ClusterSpec, String> {
        let name = self.shipped_scenario();
        Scenario::load(name)
            .map_err(|e| e.to_string())?
            .cluster
            .ok_or_else(|| format!("scenario {name} has no cluster"))
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CollectorSpec {
    #[serde(default)]
    pub kind: CollectorKind,
    #[serde(default)]
    pub runtime: RuntimeKind,
    /// Who signs the collector's writes.
    #[serde(default)]
    pub signing: Signing,
    /// The collector's binary (process runtime; default: found on PATH).
    #[serde(default)]
    pub binary: Option<String>,
    /// The collector's image (container runtime; default: built locally from the binary).
    #[serde(default)]
    pub image: Option<String>,
    #[serde(default = "one_second", with = "humantime_serde")]
    pub scrape_interval: Duration,
}

fn one_second() -> Duration {
    Duration::from_secs(1)
}

#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum CollectorKind {
    /// A Prometheus server (agent-style: scrape and remote-write).
    #[default]
    Prometheus,
    /// An OpenTelemetry collector (ADOT): prometheus receiver -> prometheusremotewrite.
    Otelcol,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum RuntimeKind {
    /// A local process.
    #[default]
    Process,
    /// A container (testcontainers, host networking).
    Container,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Signing {
    /// The collector signs its own writes (its `sigv4` block / sigv4auth extension).
    #[default]
    Collector,
    /// pipecheck's SigV4 proxy signs between the collector and AMP.
    Proxy,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CanarySpec {
    /// How many gauge series (instances) to write.
    pub gauges: u32,
    /// How many samples of the counter to write, one `interval` apart.
    pub counter_samples: u32,
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
}

impl Default for CanarySpec {
    fn default() -> Self {
        Self {
            gauges: 3,
            counter_samples: 5,
            interval: Duration::from_secs(15),
        }
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Expectations {
    /// How long written canaries may take to become queryable.
    #[serde(with = "humantime_serde")]
    pub arrival_deadline: Duration,
    /// How long a CREATING workspace may take to become ACTIVE.
    #[serde(with = "humantime_serde")]
    pub workspace_deadline: Duration,
    /// Per-request timeout for every call the harness makes.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
}

impl Default for Expectations {
    fn default() -> Self {
        Self {
            arrival_deadline: Duration::from_secs(60),
            workspace_deadline: Duration::from_secs(300),
            request_timeout: Duration::from_secs(10),
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TargetSpec {
    /// Region of the AMP workspace (aws target; the mock serves this region too).
    pub region: Option<String>,
    /// AMP workspace id for the aws target (else `PIPECHECK_WORKSPACE_ID`).
    pub workspace_id: Option<String>,
    /// Amazon Managed Grafana workspace id (`g-…`) for the aws target, after
    /// `--grafana-workspace` and `PIPECHECK_GRAFANA_WORKSPACE_ID`; none: no grafana links.
    pub grafana_workspace_id: Option<String>,
    /// Settings used only on the mock target.
    pub mock: MockSpec,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MockSpec {
    /// Deadlines on the mock, where nothing is slow: keeps fault runs to seconds.
    #[serde(with = "humantime_serde")]
    pub arrival_deadline: Duration,
    #[serde(with = "humantime_serde")]
    pub workspace_deadline: Duration,
}

impl Default for MockSpec {
    fn default() -> Self {
        Self {
            arrival_deadline: Duration::from_secs(3),
            workspace_deadline: Duration::from_secs(2),
        }
    }
}

mod humantime_serde {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        // The value is not quoted (nor humantime's unknown unit, most of it): a secret
        // pasted into the wrong field must not be echoed. The parser adds the position.
        humantime::parse_duration(&s).map_err(|e| {
            let why = match e {
                humantime::DurationError::UnknownUnit { .. } => "unknown time unit".to_string(),
                other => other.to_string(),
            };
            serde::de::Error::custom(format!(
                "invalid duration: {why} (use e.g. \"30s\", \"2m\")"
            ))
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("unknown scenario {name:?} (known: {known}); give a name or a path to a YAML file")]
    Unknown { name: String, known: String },
    #[error("failed to read scenario file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid scenario {origin}: {message}")]
    Invalid { origin: String, message: String },
}

impl Scenario {
    /// The names of the shipped scenarios.
    pub fn builtin_names() -> impl Iterator<Item = &'static str> {
        BUILTIN.iter().map(|(n, _)| *n)
    }

    /// The links to run: the scenario's own, else its shape's defaults (a Prometheus server
    /// in a cluster needs no ADOT add-on and no cert-manager).
    pub fn link_names(&self) -> Vec<LinkId> {
        if !self.links.is_empty() {
            return self.links.clone();
        }
        if self
            .cluster
            .as_ref()
            .is_some_and(|c| c.kind == ClusterCollector::AmpScraper)
        {
            return crate::chain::SCRAPER_CHAIN.to_vec();
        }
        let adot_only = ADOT_ONLY_LINKS;
        let prometheus = self
            .cluster
            .as_ref()
            .is_some_and(|c| !c.kind.is_adot_addon());
        // eks.addon also checks the EKS Pod Identity Agent's add-on.
        let pod_identity = self.cluster.as_ref().is_some_and(ClusterSpec::pod_identity);
        crate::chain::default_links(self.shape)
            .iter()
            .copied()
            .filter(|l| {
                !(prometheus && adot_only.contains(l) && !(pod_identity && *l == LinkId::EksAddon))
            })
            .collect()
    }

    pub fn builtins() -> Vec<Scenario> {
        BUILTIN
            .iter()
            .map(|(n, text)| {
                Self::parse(text, &format!("builtin {n}")).expect("shipped scenarios parse")
            })
            .collect()
    }

    /// A shipped scenario by name, or a YAML file by path (anything with a `/` or a
    /// `.yaml`/`.yml` ending).
    pub fn load(name_or_path: &str) -> Result<Scenario, ScenarioError> {
        let looks_like_path = name_or_path.contains('/')
            || name_or_path.ends_with(".yaml")
            || name_or_path.ends_with(".yml");
        if !looks_like_path {
            return match BUILTIN.iter().find(|(n, _)| *n == name_or_path) {
                Some((n, text)) => Self::parse(text, &format!("builtin {n}")),
                None => Err(ScenarioError::Unknown {
                    name: name_or_path.to_string(),
                    known: Self::builtin_names().collect::<Vec<_>>().join(", "),
                }),
            };
        }
        let path = Path::new(name_or_path);
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    pub fn parse(text: &str, origin: &str) -> Result<Scenario, ScenarioError> {
        let invalid = |message: String| ScenarioError::Invalid {
            origin: origin.to_string(),
            message,
        };
        let s: Scenario = serde_saphyr::from_str(text).map_err(|e| invalid(parse_message(&e)))?;
        if s.name.trim().is_empty() {
            return Err(invalid("`name` must not be empty".into()));
        }
        if s.canary.gauges == 0 || s.canary.gauges > 100 {
            return Err(invalid("`canary.gauges` must be between 1 and 100".into()));
        }
        if s.canary.counter_samples < 3 || s.canary.counter_samples > 100 {
            return Err(invalid(
                "`canary.counter_samples` must be between 3 and 100".into(),
            ));
        }
        if s.canary.interval < Duration::from_secs(1) || s.canary.interval > Duration::from_secs(60)
        {
            return Err(invalid(
                "`canary.interval` must be between 1s and 60s".into(),
            ));
        }
        match (s.shape, &s.collector) {
            (Shape::Collector, None) => {
                return Err(invalid(
                    "shape `collector` needs a `collector:` section".into(),
                ));
            }
            (Shape::Direct | Shape::Cluster, Some(_)) => {
                return Err(invalid(
                    "a `collector:` section needs `shape: collector`".into(),
                ));
            }
            _ => {}
        }
        match (s.shape, &s.cluster) {
            (Shape::Cluster, None) => {
                return Err(invalid("shape `cluster` needs a `cluster:` section".into()));
            }
            (Shape::Direct | Shape::Collector, Some(_)) => {
                return Err(invalid(
                    "a `cluster:` section needs `shape: cluster`".into(),
                ));
            }
            (_, Some(c)) if c.name.trim().is_empty() => {
                return Err(invalid("`cluster.name` must not be empty".into()));
            }
            (_, Some(c)) if c.names_collector() && c.namespace.trim().is_empty() => {
                return Err(invalid(
                    "`cluster.collector` needs `cluster.namespace` (leave both out, or the collector alone, to discover it)".into(),
                ));
            }
            _ => {}
        }
        if let Some(c) = &s.collector
            && (c.scrape_interval < Duration::from_millis(100)
                || c.scrape_interval > Duration::from_secs(60))
        {
            return Err(invalid(
                "`collector.scrape_interval` must be between 100ms and 60s".into(),
            ));
        }
        if s.grafana.provision_datasource && s.grafana.datasource.is_some() {
            return Err(invalid(
                "`grafana.provision_datasource` creates the run's own data source; drop `grafana.datasource`, which names one to check".into(),
            ));
        }
        Ok(s)
    }
}

/// The parser's message on one line, without its snippet of the file: the file may hold
/// secrets (a key pasted into the wrong field), and the line and column say where.
/// Secret shapes the message itself quotes are masked.
fn parse_message(e: &serde_saphyr::Error) -> String {
    let message = one_line(&e.without_snippet().to_string());
    pipecheck_reports::Redactor::new().redact(&message)
}

/// Parser errors can span lines; the CLI prints one line.
fn one_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_scenarios_parse() {
        let all = Scenario::builtins();
        assert!(all.iter().any(|s| s.name == "smoke"));
    }

    #[test]
    fn unknown_keys_are_errors_naming_the_key() {
        let err = Scenario::parse("name: x\ncanary:\n  gauge: 3\n", "t.yaml").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("t.yaml") && msg.contains("gauge"), "{msg}");
    }

    #[test]
    fn bad_durations_are_explained() {
        let err =
            Scenario::parse("name: x\nexpect:\n  arrival_deadline: soon\n", "t.yaml").unwrap_err();
        assert!(err.to_string().contains("invalid duration"), "{err}");
    }

    #[test]
    fn unknown_scenario_lists_known_ones() {
        let err = Scenario::load("nope").unwrap_err();
        assert!(err.to_string().contains("smoke"), "{err}");
    }

    #[test]
    fn collector_shape_and_section_go_together() {
        let err = Scenario::parse("name: x\nshape: collector\n", "t.yaml").unwrap_err();
        assert!(
            err.to_string().contains("needs a `collector:` section"),
            "{err}"
        );
        let err = Scenario::parse("name: x\ncollector: {}\n", "t.yaml").unwrap_err();
        assert!(
            err.to_string().contains("needs `shape: collector`"),
            "{err}"
        );
        let s = Scenario::parse(
            "name: x\nshape: collector\ncollector: {signing: proxy}\n",
            "t.yaml",
        )
        .unwrap();
        assert_eq!(s.collector.unwrap().signing, Signing::Proxy);
    }

    #[test]
    fn provisioning_the_data_source_excludes_naming_one() {
        let s = Scenario::load("grafana-provision").unwrap();
        assert!(s.grafana.provision_datasource && s.grafana.datasource.is_none());
        assert!(
            !Scenario::load("smoke")
                .unwrap()
                .grafana
                .provision_datasource
        );
        let err = Scenario::parse(
            "name: x\ngrafana: {provision_datasource: true, datasource: AMP}\n",
            "t.yaml",
        )
        .unwrap_err();
        assert!(err.to_string().contains("provision_datasource"), "{err}");
    }

    #[test]
    fn unknown_links_are_rejected() {
        let err = Scenario::parse("name: x\nlinks: [amp.nothing]\n", "t.yaml").unwrap_err();
        assert!(err.to_string().contains("amp.nothing"), "{err}");
    }

    #[test]
    fn a_cluster_scenario_may_leave_its_collector_to_discovery() {
        let s = Scenario::parse(
            "name: x\nshape: cluster\ncluster: {kind: adot, name: c}\n",
            "t.yaml",
        )
        .unwrap();
        assert!(!s.cluster.unwrap().names_collector());
        let err = Scenario::parse(
            "name: x\nshape: cluster\ncluster: {kind: adot, name: c, collector: a}\n",
            "t.yaml",
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("needs `cluster.namespace`"),
            "{err}"
        );
        let err = Scenario::parse(
            "name: x\nshape: cluster\ncluster: {kind: adot, name: ' '}\n",
            "t.yaml",
        )
        .unwrap_err();
        assert!(err.to_string().contains("`cluster.name`"), "{err}");
    }

    /// A secret pasted into the wrong field is not echoed (no snippet of the file, no
    /// quoted value); the position still says where.
    #[test]
    fn parse_errors_do_not_echo_values() {
        for yaml in [
            "name: x\ncanary:\n  gauges: \"s3cr3t-Value/abc\"\n",
            "name: x\ncanary:\n  interval: s3cr3t-Value/abc\n",
        ] {
            let err = Scenario::parse(yaml, "f.yaml").unwrap_err().to_string();
            assert!(!err.contains("s3cr3t"), "{err}");
            assert!(err.contains("line 3"), "{err}");
        }
    }
}
