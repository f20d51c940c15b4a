//! What a document is: the one place that decides, for every document of every file, which
//! checks read it. Helm values are told apart by the chart they are for (prometheus,
//! kube-prometheus-stack, grafana, opentelemetry-collector); Kubernetes objects by their
//! `kind` (and what a ConfigMap's data or a workload's containers hold); the rest by the
//! keys their readers need (an OpenTelemetry or Prometheus config, a Grafana provisioning
//! file or the HTTP API's JSON, an IAM policy).
//!
//! A document that is none of these is [`Kind::Unknown`] with what it looked like, so the
//! caller can say so (D9) instead of passing it with "no findings".

use super::values::{self, Chart};
use super::yaml::{self, Node};

/// Collector image repositories (their last path segment) that run an OpenTelemetry
/// collector config.
const COLLECTOR_IMAGES: &[&str] = &[
    "aws-otel-collector",
    "opentelemetry-collector",
    "opentelemetry-collector-contrib",
    "opentelemetry-collector-k8s",
    "otelcol",
    "otelcol-contrib",
    "otelcol-k8s",
];

/// Keys only the grafana chart's values have.
const GRAFANA_VALUES_KEYS: &[&str] = &[
    "grafana.ini",
    "adminUser",
    "adminPassword",
    "dashboardProviders",
    "datasources",
    "sidecar",
    "plugins",
];

/// What a document is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Helm values of a chart diagnose knows.
    Values(ValuesOf),
    /// An OpenTelemetry collector config.
    OtelConfig,
    /// A Prometheus `prometheus.yml`.
    PrometheusConfig,
    /// An `OpenTelemetryCollector` resource (the operator's).
    CollectorResource,
    /// A ConfigMap whose `data` holds a collector config or a prometheus.yml.
    CollectorConfigMap,
    /// A Deployment, DaemonSet or StatefulSet (or a Pod) running a collector image, or
    /// with a collector config in a container's environment.
    CollectorWorkload,
    /// A Grafana provisioning file (`apiVersion: 1`, `datasources:`).
    GrafanaProvisioning,
    /// Grafana's HTTP API JSON: one data source, a list of them, or `POST`'s answer.
    GrafanaApi,
    /// grafana-operator's `GrafanaDatasource` (v5, `spec.datasource`) or `GrafanaDataSource`
    /// (v4, `spec.datasources`).
    GrafanaResource,
    /// A ConfigMap whose `data` holds a Grafana provisioning file.
    GrafanaConfigMap,
    /// An IAM role trust policy (also `aws iam get-role` output).
    TrustPolicy,
    /// An IAM permission policy (also `get-role-policy` / `get-policy-version` output).
    PermissionPolicy,
    /// The Prometheus CRD.
    PrometheusCrd,
    /// A Kubernetes object with nothing diagnose checks (a Service, a ServiceAccount, RBAC,
    /// a workload running something else): its kind and name.
    OtherObject(String),
    /// An empty document.
    Empty,
    /// Nothing diagnose reads: what it looks like, when that can be told.
    Unknown(Option<String>),
}

/// The chart a values document is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ValuesOf {
    Prometheus,
    KubePrometheusStack,
    Grafana,
    OtelCollector,
}

impl ValuesOf {
    pub fn chart(self) -> &'static str {
        match self {
            ValuesOf::Prometheus => "prometheus-community/prometheus",
            ValuesOf::KubePrometheusStack => "kube-prometheus-stack",
            ValuesOf::Grafana => "grafana",
            ValuesOf::OtelCollector => "opentelemetry-collector",
        }
    }
}

impl Kind {
    /// How messages name it: "values for the grafana chart", "a ConfigMap holding a
    /// collector config", …
    pub fn said(&self) -> String {
        match self {
            Kind::Values(v) => format!("helm values for the {} chart", v.chart()),
            Kind::OtelConfig => "an OpenTelemetry collector config".into(),
            Kind::PrometheusConfig => "a Prometheus config (prometheus.yml)".into(),
            Kind::CollectorResource => "an OpenTelemetryCollector resource".into(),
            Kind::CollectorConfigMap => "a ConfigMap holding a collector config".into(),
            Kind::CollectorWorkload => "a workload running a collector".into(),
            Kind::GrafanaProvisioning => "a Grafana data source provisioning file".into(),
            Kind::GrafanaApi => "a Grafana data source as the HTTP API shows it".into(),
            Kind::GrafanaResource => "a grafana-operator GrafanaDatasource".into(),
            Kind::GrafanaConfigMap => "a ConfigMap holding a Grafana provisioning file".into(),
            Kind::TrustPolicy => "an IAM role trust policy".into(),
            Kind::PermissionPolicy => "an IAM permission policy".into(),
            Kind::PrometheusCrd => "the Prometheus CRD".into(),
            Kind::OtherObject(what) => what.clone(),
            Kind::Empty => "an empty document".into(),
            Kind::Unknown(Some(what)) => what.clone(),
            Kind::Unknown(None) => "nothing diagnose reads".into(),
        }
    }
}

/// What diagnose looks for, for the "not recognised" finding.
pub(crate) const LOOKED_FOR: &str = "helm values for the prometheus, kube-prometheus-stack, grafana or opentelemetry-collector chart; an OpenTelemetry collector config or a prometheus.yml (bare, in a ConfigMap, an OpenTelemetryCollector, or a Deployment/DaemonSet/StatefulSet); a Grafana data source (provisioning file, HTTP API JSON, GrafanaDatasource, or a ConfigMap holding one); an IAM trust or permission policy; the Prometheus CRD";

/// What one document is.
pub(crate) fn document(doc: &Node) -> Kind {
    if doc.is_null() || (doc.is_map() && doc.entries().is_empty()) {
        return Kind::Empty;
    }
    if let Some(kind) = doc.get("kind").and_then(Node::str)
        && ["apiVersion", "metadata", "spec", "data"]
            .iter()
            .any(|k| doc.get(k).is_some())
    {
        return object(doc, kind);
    }
    if doc.is_seq() {
        let items = doc.items();
        if !items.is_empty() && items.iter().all(|i| i.is_map() && is_data_source(i)) {
            return Kind::GrafanaApi;
        }
        return Kind::Unknown(Some("a list".into()));
    }
    if !doc.is_map() {
        return Kind::Unknown(Some("a single value, not a mapping".into()));
    }
    if let Some(k) = policy(doc) {
        return k;
    }
    if doc.get("datasources").is_some_and(Node::is_seq)
        || doc.get("deleteDatasources").is_some_and(Node::is_seq)
    {
        return Kind::GrafanaProvisioning;
    }
    if doc
        .get("datasource")
        .is_some_and(|d| d.is_map() && is_data_source(d))
    {
        return Kind::GrafanaApi;
    }
    if is_otel(doc) {
        return Kind::OtelConfig;
    }
    if let Some(v) = values_of(doc) {
        return Kind::Values(v);
    }
    if is_prometheus_config(doc) {
        return Kind::PrometheusConfig;
    }
    if is_data_source(doc) && doc.get("type").is_some() {
        return Kind::GrafanaApi;
    }
    if doc.get("panels").is_some() || doc.get("schemaVersion").is_some() {
        return Kind::Unknown(Some(
            "a Grafana dashboard (pass the data source it reads, not the dashboard)".into(),
        ));
    }
    Kind::Unknown(None)
}

/// Whether a mapping reads as one Grafana data source.
fn is_data_source(d: &Node) -> bool {
    let has = |k: &str| d.entries().iter().any(|e| e.key.eq_ignore_ascii_case(k));
    has("type") && (has("url") || has("jsonData") || has("access"))
        || (has("url") && has("jsonData"))
}

/// An OpenTelemetry collector config (the same reading as the collector checks').
pub(crate) fn is_otel(doc: &Node) -> bool {
    let has = |k: &str| doc.get(k).is_some();
    (has("exporters") || has("receivers") || has("extensions"))
        || (has("service") && has("processors"))
}

fn is_prometheus_config(doc: &Node) -> bool {
    doc.get("remote_write").is_some()
        || doc.get("scrape_configs").is_some()
        || doc.get("global").is_some_and(|g| {
            g.get("scrape_interval").is_some() || g.get("external_labels").is_some()
        })
}

/// An IAM policy: bare, or wrapped as the AWS CLI prints it.
fn policy(doc: &Node) -> Option<Kind> {
    let body = doc
        .at(&["Role", "AssumeRolePolicyDocument"])
        .map(|d| (d, true))
        .or_else(|| doc.get("PolicyDocument").map(|d| (d, false)))
        .or_else(|| doc.at(&["PolicyVersion", "Document"]).map(|d| (d, false)))
        .or_else(|| doc.get("Statement").map(|_| (doc, false)))?;
    let (d, trust) = body;
    if trust {
        return Some(Kind::TrustPolicy);
    }
    let statements = match d.get("Statement") {
        Some(s) if s.is_seq() => s.items().iter().collect::<Vec<_>>(),
        Some(s) => vec![s],
        None => Vec::new(),
    };
    let assume = |s: &&Node| {
        s.get("Principal").is_some()
            || s.get("Action").is_some_and(|a| {
                let mut actions: Vec<&str> = a.items().iter().filter_map(Node::str).collect();
                actions.extend(a.str());
                actions
                    .iter()
                    .any(|x| x.to_ascii_lowercase().starts_with("sts:assumerole"))
            })
    };
    Some(if statements.iter().any(assume) {
        Kind::TrustPolicy
    } else {
        Kind::PermissionPolicy
    })
}

/// The chart a values document is for, when its keys tell.
pub(crate) fn values_of(doc: &Node) -> Option<ValuesOf> {
    // The opentelemetry-collector chart: its `config:` is a collector config; `mode` picks
    // the workload.
    let mode = doc
        .get("mode")
        .and_then(Node::str)
        .is_some_and(|m| matches!(m, "deployment" | "daemonset" | "statefulset"));
    if doc.get("config").is_some_and(is_otel) || (mode && doc.get("presets").is_some()) {
        return Some(ValuesOf::OtelCollector);
    }
    // The grafana chart: `datasources:` is a map of provisioning files.
    let grafana_datasources = doc.get("datasources").is_some_and(|d| {
        d.is_map()
            && d.entries()
                .iter()
                .any(|e| e.value.get("datasources").is_some())
    });
    let grafana_keys = doc
        .entries()
        .iter()
        .filter(|e| GRAFANA_VALUES_KEYS.contains(&e.key.as_str()))
        .count();
    match values::chart(doc) {
        Some(Chart::Prometheus) => Some(ValuesOf::Prometheus),
        Some(Chart::KubePrometheusStack) => Some(ValuesOf::KubePrometheusStack),
        None if grafana_datasources || grafana_keys >= 2 => Some(ValuesOf::Grafana),
        None if mode => Some(ValuesOf::OtelCollector),
        None => None,
    }
}

/// A Kubernetes object of kind `kind`.
fn object(doc: &Node, kind: &str) -> Kind {
    let named = doc.at(&["metadata", "name"]).and_then(Node::str);
    let name = named.unwrap_or("");
    let called = named.map_or(String::new(), |n| format!(" named `{n}`"));
    let other = || Kind::OtherObject(format!("a `{kind}`{called} (nothing diagnose checks)"));
    match kind {
        "OpenTelemetryCollector" => Kind::CollectorResource,
        "GrafanaDatasource" | "GrafanaDataSource" => Kind::GrafanaResource,
        "ConfigMap" => {
            let mut found = None;
            for e in doc.get("data").map(Node::entries).unwrap_or_default() {
                let Some(Ok(inner)) = yaml::embedded(&e.value) else {
                    continue;
                };
                match inner.first().map(document) {
                    Some(Kind::OtelConfig | Kind::PrometheusConfig) => {
                        found = Some(Kind::CollectorConfigMap);
                    }
                    Some(Kind::GrafanaProvisioning) if found.is_none() => {
                        found = Some(Kind::GrafanaConfigMap);
                    }
                    _ => {}
                }
            }
            found.unwrap_or_else(|| {
                Kind::OtherObject(format!(
                    "a ConfigMap{called} with no collector config or Grafana provisioning file in its data"
                ))
            })
        }
        "Deployment" | "DaemonSet" | "StatefulSet" | "Pod" => {
            if containers(doc)
                .iter()
                .any(|c| collector_image(c).is_some() || inline_config(c).is_some())
            {
                Kind::CollectorWorkload
            } else {
                other()
            }
        }
        "CustomResourceDefinition" => {
            if name == "prometheuses.monitoring.coreos.com" {
                Kind::PrometheusCrd
            } else {
                other()
            }
        }
        "HelmRelease" => match doc.at(&["spec", "values"]) {
            Some(v) if v.is_map() => helm_release(doc, v),
            _ => other(),
        },
        "Kustomization" => Kind::Unknown(Some(
            "a kustomize Kustomization (it lists other files: pass those)".into(),
        )),
        _ => other(),
    }
}

/// A Flux HelmRelease: the chart it installs, and its `spec.values` as that chart's values.
fn helm_release(doc: &Node, v: &Node) -> Kind {
    let chart = doc
        .at(&["spec", "chart", "spec", "chart"])
        .and_then(Node::str)
        .unwrap_or("");
    let by_name = match chart.rsplit('/').next().unwrap_or("") {
        "prometheus" => Some(ValuesOf::Prometheus),
        "kube-prometheus-stack" => Some(ValuesOf::KubePrometheusStack),
        "grafana" => Some(ValuesOf::Grafana),
        "opentelemetry-collector" => Some(ValuesOf::OtelCollector),
        _ => None,
    };
    match by_name.or_else(|| values_of(v)) {
        Some(of) => Kind::Values(of),
        None => Kind::OtherObject(format!(
            "a HelmRelease of chart `{chart}` (nothing diagnose checks)"
        )),
    }
}

/// The containers of a workload or Pod, with their key paths.
pub(crate) fn containers(doc: &Node) -> Vec<(String, &Node)> {
    let (spec, base) = match doc.at(&["spec", "template", "spec"]) {
        Some(s) => (s, "spec.template.spec"),
        None => match doc.get("spec") {
            Some(s) => (s, "spec"),
            None => return Vec::new(),
        },
    };
    let mut out = Vec::new();
    for list in ["initContainers", "containers"] {
        let at = pipecheck_policy::path::key(base, list);
        for (i, c) in spec
            .get(list)
            .map(Node::items)
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            out.push((pipecheck_policy::path::index(&at, i), c));
        }
    }
    out
}

/// A container's image when it is a collector's.
pub(crate) fn collector_image(c: &(String, &Node)) -> Option<String> {
    let image = c.1.get("image").and_then(Node::non_empty)?;
    let name = image.split(['@']).next().unwrap_or(image);
    let repo = match name.rfind(':') {
        Some(i) if name.rfind('/').is_none_or(|s| i > s) => &name[..i],
        _ => name,
    };
    COLLECTOR_IMAGES
        .contains(&repo.rsplit('/').next().unwrap_or(repo))
        .then(|| image.to_string())
}

/// A collector config written into a container's environment (`AOT_CONFIG_CONTENT`, ADOT's
/// way to pass a config without a file): the value node and its key path.
pub(crate) fn inline_config<'a>(c: &(String, &'a Node)) -> Option<(String, &'a Node)> {
    let env = c.1.get("env")?;
    env.items().iter().enumerate().find_map(|(i, e)| {
        (e.get("name").and_then(Node::str) == Some("AOT_CONFIG_CONTENT"))
            .then(|| e.get("value"))
            .flatten()
            .filter(|v| v.str().is_some())
            .map(|v| {
                let at =
                    pipecheck_policy::path::index(&pipecheck_policy::path::key(&c.0, "env"), i);
                (pipecheck_policy::path::key(&at, "value"), v)
            })
    })
}

/// The opentelemetry-collector chart's image (`image.repository` and `image.tag`), as a
/// reference.
pub(crate) fn chart_image(doc: &Node) -> Option<String> {
    let repo = doc.at(&["image", "repository"]).and_then(Node::non_empty)?;
    Some(match doc.at(&["image", "tag"]).and_then(Node::non_empty) {
        Some(tag) => format!("{repo}:{tag}"),
        None => repo.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(text: &str) -> Kind {
        document(&yaml::parse(text).unwrap()[0])
    }

    #[test]
    fn charts_are_told_apart() {
        assert_eq!(
            kind("server:\n  remoteWrite: []\nserviceAccounts: {}\n"),
            Kind::Values(ValuesOf::Prometheus)
        );
        assert_eq!(
            kind("prometheus:\n  prometheusSpec: {}\ngrafana:\n  enabled: true\n"),
            Kind::Values(ValuesOf::KubePrometheusStack)
        );
        assert_eq!(
            kind("datasources:\n  datasources.yaml:\n    apiVersion: 1\n    datasources: []\n"),
            Kind::Values(ValuesOf::Grafana)
        );
        assert_eq!(
            kind("grafana.ini: {}\nadminPassword: x\n"),
            Kind::Values(ValuesOf::Grafana)
        );
        assert_eq!(
            kind("mode: deployment\nconfig:\n  exporters: {}\n"),
            Kind::Values(ValuesOf::OtelCollector)
        );
    }

    #[test]
    fn configs_and_grafana_shapes() {
        assert_eq!(kind("exporters: {}\nservice: {}\n"), Kind::OtelConfig);
        assert_eq!(kind("remote_write: []\n"), Kind::PrometheusConfig);
        assert_eq!(
            kind("apiVersion: 1\ndatasources:\n  - name: a\n"),
            Kind::GrafanaProvisioning
        );
        assert_eq!(
            kind("- type: prometheus\n  url: http://p:9090\n"),
            Kind::GrafanaApi
        );
        assert_eq!(
            kind("type: prometheus\nurl: http://p:9090\n"),
            Kind::GrafanaApi
        );
        assert!(
            matches!(kind("panels: []\ntitle: x\n"), Kind::Unknown(Some(w)) if w.contains("dashboard"))
        );
        assert_eq!(kind("foo: bar\n"), Kind::Unknown(None));
        assert_eq!(kind("{}\n"), Kind::Empty);
    }

    #[test]
    fn policies_by_their_statements() {
        assert_eq!(
            kind(
                "{\"Statement\": [{\"Effect\": \"Allow\", \"Principal\": {\"Federated\": \"x\"}, \"Action\": \"sts:AssumeRoleWithWebIdentity\"}]}"
            ),
            Kind::TrustPolicy
        );
        assert_eq!(
            kind("{\"Role\": {\"AssumeRolePolicyDocument\": {\"Statement\": []}}}"),
            Kind::TrustPolicy
        );
        assert_eq!(
            kind(
                "{\"Statement\": {\"Effect\": \"Allow\", \"Action\": \"aps:RemoteWrite\", \"Resource\": \"*\"}}"
            ),
            Kind::PermissionPolicy
        );
    }

    #[test]
    fn kubernetes_objects() {
        let k = |body: &str| kind(&format!("apiVersion: v1\n{body}"));
        assert_eq!(
            k(
                "kind: ConfigMap\nmetadata:\n  name: c\ndata:\n  config.yaml: |\n    exporters: {}\n"
            ),
            Kind::CollectorConfigMap
        );
        assert_eq!(
            k("kind: ConfigMap\ndata:\n  ds.yaml: |\n    apiVersion: 1\n    datasources: []\n"),
            Kind::GrafanaConfigMap
        );
        assert!(matches!(
            k("kind: ConfigMap\nmetadata:\n  name: c\ndata:\n  a: b\n"),
            Kind::OtherObject(_)
        ));
        assert_eq!(
            k(
                "kind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n        - image: public.ecr.aws/aws-observability/aws-otel-collector:v0.40.0\n"
            ),
            Kind::CollectorWorkload
        );
        assert!(matches!(
            k("kind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n        - image: nginx:1\n"),
            Kind::OtherObject(w) if w.contains("`Deployment` named `web`")
        ));
        assert_eq!(
            k("kind: GrafanaDatasource\nspec: {}\n"),
            Kind::GrafanaResource
        );
        assert_eq!(k("kind: OpenTelemetryCollector\n"), Kind::CollectorResource);
        assert!(matches!(k("kind: Kustomization\n"), Kind::Unknown(Some(_))));
        assert_eq!(
            k(
                "kind: HelmRelease\nspec:\n  chart:\n    spec:\n      chart: grafana\n  values:\n    persistence: {}\n"
            ),
            Kind::Values(ValuesOf::Grafana)
        );
    }

    #[test]
    fn collector_images() {
        let c = |img: &str| {
            let n = yaml::parse(&format!("image: {img}\n")).unwrap().remove(0);
            collector_image(&(String::new(), &n))
        };
        assert!(c("public.ecr.aws/aws-observability/aws-otel-collector:v0.21.0").is_some());
        assert!(c("otel/opentelemetry-collector-contrib:0.98.0").is_some());
        assert!(c("registry:5000/otelcol@sha256:abc").is_some());
        assert!(c("nginx:1.25").is_none());
    }
}
