//! Recognising a collector that writes to AMP in Kubernetes objects (as JSON), without
//! the API: an OpenTelemetryCollector's `spec.config` (map or string form), a Prometheus
//! resource's `spec.remoteWrite[].url`, a workload's container args and env values and
//! the ConfigMaps its pod template mounts or reads. Secrets are never read: a
//! collector-looking workload whose config can only be in a Secret is reported as such.

use std::collections::BTreeMap;

use serde_json::Value;

use super::amp_url::{KnownEndpoints, RemoteWrite, find_in, parse};
use super::found::{Kind, OTEL_COLLECTOR, PROMETHEUS_SERVER, Unread};

/// A collector recognised in the objects, before its identity is looked up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub kind: Kind,
    pub namespace: String,
    pub name: String,
    /// The service account its pods run as.
    pub service_account: String,
    pub remote_writes: Vec<RemoteWrite>,
    pub config_source: String,
    pub detail: Option<String>,
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn name_and_namespace(obj: &Value) -> (String, String) {
    (
        str_at(obj, "/metadata/name")
            .unwrap_or_default()
            .to_string(),
        str_at(obj, "/metadata/namespace")
            .unwrap_or_default()
            .to_string(),
    )
}

/// Every string inside `v` (map keys left out), depth-first.
fn strings_in<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::String(s) => out.push(s),
        Value::Array(a) => a.iter().for_each(|x| strings_in(x, out)),
        Value::Object(m) => m.values().for_each(|x| strings_in(x, out)),
        _ => {}
    }
}

fn push_unique(into: &mut Vec<RemoteWrite>, found: Vec<RemoteWrite>) -> bool {
    let mut added = false;
    for rw in found {
        if !into.contains(&rw) {
            into.push(rw);
            added = true;
        }
    }
    added
}

/// An OpenTelemetryCollector whose config names an AMP remote-write URL (v1beta1: a map;
/// v1alpha1: a YAML string; `${env:…}` values are read from `spec.env`).
pub fn otel_collector(obj: &Value, known: &KnownEndpoints) -> Option<Candidate> {
    let (name, namespace) = name_and_namespace(obj);
    let mut texts = Vec::new();
    if let Some(config) = obj.pointer("/spec/config") {
        strings_in(config, &mut texts);
    }
    let mut remote_writes = Vec::new();
    let mut sources = Vec::new();
    if push_unique(
        &mut remote_writes,
        texts.iter().flat_map(|t| find_in(t, known)).collect(),
    ) {
        sources.push("spec.config".to_string());
    }
    if let Some(env) = obj.pointer("/spec/env").and_then(Value::as_array) {
        for e in env {
            if let (Some(n), Some(v)) = (str_at(e, "/name"), str_at(e, "/value"))
                && push_unique(&mut remote_writes, find_in(v, known))
            {
                sources.push(format!("spec.env {n}"));
            }
        }
    }
    if remote_writes.is_empty() || name.is_empty() {
        return None;
    }
    // The operator makes `<name>-collector` when the resource names no service account.
    let service_account = str_at(obj, "/spec/serviceAccount")
        .map(str::to_string)
        .unwrap_or_else(|| format!("{name}-collector"));
    let mode = str_at(obj, "/spec/mode").unwrap_or("deployment");
    Some(Candidate {
        kind: Kind::OpenTelemetryCollector,
        namespace,
        name,
        service_account,
        remote_writes,
        config_source: sources.join("; "),
        detail: Some(format!("mode {mode}")),
    })
}

/// A Prometheus resource (monitoring.coreos.com/v1) with an AMP URL in `spec.remoteWrite`.
pub fn prometheus_resource(obj: &Value, known: &KnownEndpoints) -> Option<Candidate> {
    let (name, namespace) = name_and_namespace(obj);
    let mut remote_writes = Vec::new();
    let mut sigv4 = false;
    for rw in obj
        .pointer("/spec/remoteWrite")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(found) = str_at(rw, "/url").and_then(|u| parse(u, known)) {
            sigv4 |= rw.get("sigv4").is_some();
            push_unique(&mut remote_writes, vec![found]);
        }
    }
    if remote_writes.is_empty() || name.is_empty() {
        return None;
    }
    // The operator's pods run as `default` when the resource names no service account.
    let service_account = str_at(obj, "/spec/serviceAccountName")
        .unwrap_or("default")
        .to_string();
    Some(Candidate {
        kind: Kind::Prometheus,
        namespace,
        name,
        service_account,
        remote_writes,
        config_source: "spec.remoteWrite".to_string(),
        detail: Some(if sigv4 { "sigv4" } else { "no sigv4 block" }.to_string()),
    })
}

/// Whether an operator made this workload for a resource discovery reads itself (an
/// OpenTelemetryCollector's Deployment, a Prometheus resource's StatefulSet).
pub fn operator_owned(obj: &Value) -> bool {
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .is_some_and(|owners| {
            owners.iter().any(|o| {
                matches!(
                    str_at(o, "/kind"),
                    Some("OpenTelemetryCollector" | "Prometheus" | "PrometheusAgent")
                )
            })
        })
}

fn containers(template: &Value) -> impl Iterator<Item = &Value> {
    ["/spec/initContainers", "/spec/containers"]
        .into_iter()
        .filter_map(|p| template.pointer(p).and_then(Value::as_array))
        .flatten()
}

/// Where a pod template names objects of one kind: a volume, a projected volume's source,
/// a container's `envFrom` entry, an env var's `valueFrom`.
struct RefPaths {
    volume: &'static str,
    projected: &'static str,
    env_from: &'static str,
    value_from: &'static str,
}

const CONFIGMAP_REFS: RefPaths = RefPaths {
    volume: "/configMap/name",
    projected: "/configMap/name",
    env_from: "/configMapRef/name",
    value_from: "/valueFrom/configMapKeyRef/name",
};

const SECRET_REFS: RefPaths = RefPaths {
    volume: "/secret/secretName",
    projected: "/secret/name",
    env_from: "/secretRef/name",
    value_from: "/valueFrom/secretKeyRef/name",
};

/// The objects a pod template names at `paths`, each once, in the order found.
fn template_refs(template: &Value, paths: &RefPaths) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |n: Option<&str>| {
        if let Some(n) = n
            && !out.iter().any(|o| o == n)
        {
            out.push(n.to_string());
        }
    };
    for v in list_at(template, "/spec/volumes") {
        add(str_at(v, paths.volume));
        for s in list_at(v, "/projected/sources") {
            add(str_at(s, paths.projected));
        }
    }
    for c in containers(template) {
        for e in list_at(c, "/envFrom") {
            add(str_at(e, paths.env_from));
        }
        for e in list_at(c, "/env") {
            add(str_at(e, paths.value_from));
        }
    }
    out
}

/// The array at `pointer`, or none.
fn list_at<'a>(v: &'a Value, pointer: &str) -> &'a [Value] {
    v.pointer(pointer)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// The ConfigMaps a pod template mounts or reads env from, each once.
pub fn configmap_refs(obj: &Value) -> Vec<String> {
    obj.pointer("/spec/template")
        .map(|t| template_refs(t, &CONFIGMAP_REFS))
        .unwrap_or_default()
}

/// The Secrets a pod template mounts or reads env from, each once (never read).
fn secret_refs(template: &Value) -> Vec<String> {
    template_refs(template, &SECRET_REFS)
}

/// The last path segment of an image reference, without tag or digest
/// (`quay.io/prometheus/prometheus:v2.53.1` -> `prometheus`).
fn image_name(image: &str) -> &str {
    let no_digest = image.split('@').next().unwrap_or(image);
    let last = no_digest.rsplit('/').next().unwrap_or(no_digest);
    last.split(':').next().unwrap_or(last)
}

/// Images of OpenTelemetry collectors, ADOT's and upstream's distributions (by their
/// repository's last segment).
const OTEL_IMAGES: &[&str] = &[
    "aws-otel-collector",
    "opentelemetry-collector",
    "opentelemetry-collector-contrib",
    "opentelemetry-collector-k8s",
    "otelcol",
    "otelcol-contrib",
    "otelcol-k8s",
];

/// Images of other metrics collectors that remote-write.
const OTHER_COLLECTOR_IMAGES: &[&str] = &["prometheus", "agent", "alloy", "vmagent"];

fn is_collector_image(image: &str) -> bool {
    OTEL_IMAGES.contains(&image) || OTHER_COLLECTOR_IMAGES.contains(&image)
}

/// What a Deployment, DaemonSet or StatefulSet turned out to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WorkloadVerdict {
    /// Its args, env or ConfigMaps name an AMP remote-write URL.
    Writes(Candidate),
    /// A collector image whose config can only be in the Secrets it mounts (not read).
    SecretConfig(Unread),
    Nothing,
}

/// Judges a workload (`obj`: a Deployment, DaemonSet or StatefulSet) with the ConfigMaps
/// of its namespace that were read (`configmaps`: name -> object).
pub fn workload(
    kind: Kind,
    obj: &Value,
    configmaps: &BTreeMap<String, Value>,
    known: &KnownEndpoints,
) -> WorkloadVerdict {
    let (name, namespace) = name_and_namespace(obj);
    let Some(template) = obj.pointer("/spec/template") else {
        return WorkloadVerdict::Nothing;
    };
    let mut remote_writes = Vec::new();
    let mut sources: Vec<String> = Vec::new();
    let mut images = Vec::new();
    for c in containers(template) {
        let cname = str_at(c, "/name").unwrap_or("?");
        if let Some(i) = str_at(c, "/image") {
            images.push(image_name(i).to_string());
        }
        for field in ["command", "args"] {
            let found: Vec<RemoteWrite> = c
                .get(field)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .flat_map(|a| find_in(a, known))
                .collect();
            if push_unique(&mut remote_writes, found) {
                sources.push(format!("container {cname} {field}"));
            }
        }
        for e in c.get("env").and_then(Value::as_array).into_iter().flatten() {
            if let (Some(n), Some(v)) = (str_at(e, "/name"), str_at(e, "/value"))
                && push_unique(&mut remote_writes, find_in(v, known))
            {
                sources.push(format!("container {cname} env {n}"));
            }
        }
    }
    for cm_name in configmap_refs(obj) {
        let Some(cm) = configmaps.get(&cm_name) else {
            continue;
        };
        for (key, value) in cm
            .get("data")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            if let Some(text) = value.as_str()
                && push_unique(&mut remote_writes, find_in(text, known))
            {
                sources.push(format!("ConfigMap {namespace}/{cm_name} key {key}"));
            }
        }
    }
    let prometheus = images.iter().any(|i| i == "prometheus");
    let otelcol = images.iter().any(|i| OTEL_IMAGES.contains(&i.as_str()));
    if !remote_writes.is_empty() {
        let service_account = str_at(template, "/spec/serviceAccountName")
            .or_else(|| str_at(template, "/spec/serviceAccount"))
            .unwrap_or("default")
            .to_string();
        return WorkloadVerdict::Writes(Candidate {
            kind,
            namespace,
            name,
            service_account,
            remote_writes,
            config_source: sources.join("; "),
            detail: if prometheus {
                Some(PROMETHEUS_SERVER.to_string())
            } else {
                otelcol.then(|| OTEL_COLLECTOR.to_string())
            },
        });
    }
    let secrets = secret_refs(template);
    if !secrets.is_empty() && images.iter().any(|i| is_collector_image(i)) {
        return WorkloadVerdict::SecretConfig(Unread {
            kind,
            namespace,
            name,
            secrets,
        });
    }
    WorkloadVerdict::Nothing
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const WS: &str = "ws-0a1b2c3d-0000-4000-8000-00000000abcd";

    fn url(region: &str) -> String {
        format!("https://aps-workspaces.{region}.amazonaws.com/workspaces/{WS}/api/v1/remote_write")
    }

    fn known() -> KnownEndpoints {
        KnownEndpoints::default()
    }

    #[test]
    fn an_opentelemetry_collector_in_map_and_string_form() {
        let map = json!({
            "apiVersion": "opentelemetry.io/v1beta1", "kind": "OpenTelemetryCollector",
            "metadata": { "name": "adot", "namespace": "adot-col" },
            "spec": { "mode": "daemonset", "serviceAccount": "adot-collector", "config": {
                "exporters": { "prometheusremotewrite": { "endpoint": url("eu-west-1") } },
            } },
        });
        let c = otel_collector(&map, &known()).unwrap();
        assert_eq!(
            (
                c.kind,
                c.namespace.as_str(),
                c.name.as_str(),
                c.service_account.as_str()
            ),
            (
                Kind::OpenTelemetryCollector,
                "adot-col",
                "adot",
                "adot-collector"
            )
        );
        assert_eq!(c.remote_writes[0].region, "eu-west-1");
        assert_eq!(c.detail.as_deref(), Some("mode daemonset"));

        let string = json!({
            "apiVersion": "opentelemetry.io/v1alpha1", "kind": "OpenTelemetryCollector",
            "metadata": { "name": "otel", "namespace": "o11y" },
            "spec": { "config": format!("exporters:\n  prometheusremotewrite:\n    endpoint: \"{}\"\n", url("us-west-2")) },
        });
        let c = otel_collector(&string, &known()).unwrap();
        assert_eq!(c.service_account, "otel-collector");
        assert_eq!(c.remote_writes[0].workspace_id, WS);

        let elsewhere = json!({
            "metadata": { "name": "x", "namespace": "y" },
            "spec": { "config": { "exporters": { "otlp": { "endpoint": "https://otlp.example:4317" } } } },
        });
        assert_eq!(otel_collector(&elsewhere, &known()), None);
    }

    #[test]
    fn an_opentelemetry_collector_with_the_url_in_its_env() {
        let obj = json!({
            "metadata": { "name": "adot", "namespace": "n" },
            "spec": {
                "config": { "exporters": { "prometheusremotewrite": { "endpoint": "${env:AMP_URL}" } } },
                "env": [{ "name": "AMP_URL", "value": url("us-east-1") }],
            },
        });
        let c = otel_collector(&obj, &known()).unwrap();
        assert_eq!(c.config_source, "spec.env AMP_URL");
    }

    #[test]
    fn a_prometheus_resource() {
        let obj = json!({
            "apiVersion": "monitoring.coreos.com/v1", "kind": "Prometheus",
            "metadata": { "name": "kps-prometheus", "namespace": "monitoring" },
            "spec": {
                "serviceAccountName": "kps-prometheus",
                "remoteWrite": [
                    { "url": "http://thanos:19291/api/v1/receive" },
                    { "url": url("us-east-1"), "sigv4": { "region": "us-east-1" } },
                ],
            },
        });
        let c = prometheus_resource(&obj, &known()).unwrap();
        assert_eq!(c.kind, Kind::Prometheus);
        assert_eq!(c.service_account, "kps-prometheus");
        assert_eq!(c.remote_writes.len(), 1);
        assert_eq!(c.detail.as_deref(), Some("sigv4"));
        let mut no_sa = obj.clone();
        no_sa["spec"]
            .as_object_mut()
            .unwrap()
            .remove("serviceAccountName");
        assert_eq!(
            prometheus_resource(&no_sa, &known())
                .unwrap()
                .service_account,
            "default"
        );
        no_sa["spec"]["remoteWrite"] = json!([]);
        assert_eq!(prometheus_resource(&no_sa, &known()), None);
    }

    fn daemonset(containers: Value, volumes: Value) -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": { "name": "adot-node", "namespace": "amazon-metrics" },
            "spec": { "template": { "spec": {
                "serviceAccountName": "aws-otel-sa",
                "containers": containers,
                "volumes": volumes,
            } } },
        })
    }

    #[test]
    fn a_workload_with_its_config_in_a_configmap() {
        let ds = daemonset(
            json!([{ "name": "collector", "image": "public.ecr.aws/aws-observability/aws-otel-collector:v0.40.0",
                     "args": ["--config=/conf/adot.yaml"] }]),
            json!([{ "name": "conf", "configMap": { "name": "adot-conf" } }]),
        );
        assert_eq!(configmap_refs(&ds), ["adot-conf"]);
        let cm = json!({ "data": { "adot.yaml": format!("exporters:\n  prometheusremotewrite:\n    endpoint: {}\n", url("ap-southeast-2")) } });
        let maps = BTreeMap::from([("adot-conf".to_string(), cm)]);
        let WorkloadVerdict::Writes(c) = workload(Kind::DaemonSet, &ds, &maps, &known()) else {
            panic!("not recognised")
        };
        assert_eq!(c.service_account, "aws-otel-sa");
        assert_eq!(
            c.config_source,
            "ConfigMap amazon-metrics/adot-conf key adot.yaml"
        );
        assert_eq!(c.remote_writes[0].region, "ap-southeast-2");
        assert_eq!(c.detail.as_deref(), Some(OTEL_COLLECTOR));
        // Without the ConfigMap's contents there is nothing to go on.
        assert_eq!(
            workload(Kind::DaemonSet, &ds, &BTreeMap::new(), &known()),
            WorkloadVerdict::Nothing
        );
    }

    #[test]
    fn a_workload_with_the_url_in_args_or_env() {
        let args = daemonset(
            json!([{ "name": "prometheus", "image": "quay.io/prometheus/prometheus:v2.53.1",
                     "args": [format!("--remote-write-url={}", url("us-east-1"))] }]),
            json!([]),
        );
        let WorkloadVerdict::Writes(c) =
            workload(Kind::Deployment, &args, &BTreeMap::new(), &known())
        else {
            panic!()
        };
        assert_eq!(c.config_source, "container prometheus args");
        assert_eq!(c.detail.as_deref(), Some(PROMETHEUS_SERVER));
        let env = daemonset(
            json!([{ "name": "agent", "image": "grafana/agent:v0.40",
                     "env": [{ "name": "REMOTE_WRITE", "value": url("us-east-1") },
                             { "name": "TOKEN", "valueFrom": { "secretKeyRef": { "name": "s", "key": "k" } } }] }]),
            json!([]),
        );
        let WorkloadVerdict::Writes(c) =
            workload(Kind::StatefulSet, &env, &BTreeMap::new(), &known())
        else {
            panic!()
        };
        assert_eq!(c.config_source, "container agent env REMOTE_WRITE");
    }

    #[test]
    fn a_collector_whose_config_is_only_in_a_secret_is_named_not_read() {
        let ds = daemonset(
            json!([{ "name": "prometheus", "image": "quay.io/prometheus/prometheus@sha256:abc" }]),
            json!([{ "name": "config", "secret": { "secretName": "prometheus-config" } }]),
        );
        let WorkloadVerdict::SecretConfig(u) =
            workload(Kind::StatefulSet, &ds, &BTreeMap::new(), &known())
        else {
            panic!()
        };
        assert_eq!(u.secrets, ["prometheus-config"]);
        // Any other image mounting a Secret is not a collector.
        let other = daemonset(
            json!([{ "name": "web", "image": "nginx:1.27" }]),
            json!([{ "name": "tls", "secret": { "secretName": "tls" } }]),
        );
        assert_eq!(
            workload(Kind::Deployment, &other, &BTreeMap::new(), &known()),
            WorkloadVerdict::Nothing
        );
    }

    #[test]
    fn operator_made_workloads_are_left_to_their_resource() {
        let owned = json!({ "metadata": { "ownerReferences": [{ "kind": "OpenTelemetryCollector", "name": "adot" }] } });
        assert!(operator_owned(&owned));
        let rs =
            json!({ "metadata": { "ownerReferences": [{ "kind": "ReplicaSet", "name": "x" }] } });
        assert!(!operator_owned(&rs));
        assert!(!operator_owned(&json!({})));
    }

    #[test]
    fn image_names() {
        assert_eq!(
            image_name("quay.io/prometheus/prometheus:v2.53.1"),
            "prometheus"
        );
        assert_eq!(image_name("prom/prometheus"), "prometheus");
        assert_eq!(
            image_name("localhost:5000/otelcol-contrib@sha256:ab"),
            "otelcol-contrib"
        );
    }
}
