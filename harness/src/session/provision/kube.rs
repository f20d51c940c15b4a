//! The cluster side of `--provision`: a namespace of the run's own (so removing it removes
//! everything), the collector's service account annotated with the run's role, a canary
//! target needing no custom image (a stock nginx serving a ConfigMap-mounted metrics file
//! whose value derives from the run id) with its Service, and the collector writing to the
//! run's workspace: Prometheus in agent mode (a ConfigMap and a Deployment, as the
//! prometheus-community chart's server) or an `OpenTelemetryCollector` for the ADOT
//! add-on's operator.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Service, ServiceAccount};
use kube::Api;
use kube::api::{DeleteParams, DynamicObject, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::resource::{CREATED_TAG, RUN_TAG, RunTags};
use crate::scenario::ClusterCollector;

const PROMETHEUS_IMAGE: &str = "quay.io/prometheus/prometheus:v2.53.1";
const CANARY_IMAGE: &str = "public.ecr.aws/nginx/nginx:1.27-alpine";
/// The canary target's name (Service, Deployment, ConfigMap) inside the run's namespace.
pub const CANARY_TARGET: &str = "pipecheck-canary";
const ROLE_ARN_ANNOTATION: &str = "eks.amazonaws.com/role-arn";

/// The metric the canary target serves, and its value for `run_id`: the first eight hex
/// digits of the run id, so a run can tell its own canary from another run's.
pub fn canary_metrics(run_id: &str) -> String {
    let hex: String = run_id
        .trim_start_matches("pc-")
        .chars()
        .filter(char::is_ascii_hexdigit)
        .take(8)
        .collect();
    let value = u64::from_str_radix(&hex, 16).unwrap_or(0);
    format!(
        "# HELP pipecheck_provisioned_canary A value derived from the pipecheck run id.\n\
         # TYPE pipecheck_provisioned_canary gauge\n\
         pipecheck_provisioned_canary{{run_id=\"{run_id}\"}} {value}\n"
    )
}

fn metadata(name: &str, namespace: Option<&str>, tags: &RunTags) -> Value {
    let mut m = json!({
        "name": name,
        // Label values cannot hold the RFC 3339 time's colons: it is an annotation.
        "labels": { RUN_TAG: tags.run_id, "app.kubernetes.io/managed-by": "pipecheck" },
        "annotations": { CREATED_TAG: tags.created },
    });
    if let Some(ns) = namespace {
        m["namespace"] = json!(ns);
    }
    m
}

/// The collector a cluster scenario gets in the run's namespace.
pub struct Collector<'a> {
    pub kind: ClusterCollector,
    pub namespace: &'a str,
    /// The OpenTelemetryCollector's name (ADOT) or the server Deployment's (Prometheus).
    pub name: &'a str,
    pub service_account: &'a str,
    pub role_arn: &'a str,
    pub remote_write_url: &'a str,
    pub region: &'a str,
}

impl Collector<'_> {
    /// The Deployment that runs it (the operator names an ADOT one `<name>-collector`).
    pub fn deployment(&self) -> String {
        match self.kind {
            ClusterCollector::Adot => format!("{}-collector", self.name),
            ClusterCollector::Prometheus
            | ClusterCollector::Otelcol
            | ClusterCollector::AmpScraper => self.name.to_string(),
            ClusterCollector::PrometheusOperator => format!("prometheus-{}", self.name),
        }
    }

    fn scrape_target(&self) -> String {
        format!("{CANARY_TARGET}.{}.svc:80", self.namespace)
    }
}

/// What to create in the cluster, in order, as (plural, object): the namespace, the
/// annotated service account, the canary target, the collector.
pub fn objects(tags: &RunTags, c: &Collector<'_>) -> Vec<(&'static str, Value)> {
    let ns = c.namespace;
    let mut sa = json!({ "apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": metadata(c.service_account, Some(ns), tags) });
    sa["metadata"]["annotations"][ROLE_ARN_ANNOTATION] = json!(c.role_arn);
    let canary_labels = json!({ "app.kubernetes.io/name": CANARY_TARGET, RUN_TAG: tags.run_id });
    let mut objects = vec![
        (
            "namespaces",
            json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": metadata(ns, None, tags) }),
        ),
        ("serviceaccounts", sa),
        (
            "configmaps",
            json!({ "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": metadata(CANARY_TARGET, Some(ns), tags),
                "data": { "metrics": canary_metrics(&tags.run_id) } }),
        ),
        (
            "deployments",
            json!({ "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": metadata(CANARY_TARGET, Some(ns), tags),
                "spec": { "replicas": 1, "selector": { "matchLabels": canary_labels },
                    "template": { "metadata": { "labels": canary_labels }, "spec": {
                        "containers": [{ "name": "nginx", "image": CANARY_IMAGE,
                            "ports": [{ "containerPort": 80 }],
                            "volumeMounts": [{ "name": "metrics", "mountPath": "/usr/share/nginx/html", "readOnly": true }] }],
                        "volumes": [{ "name": "metrics", "configMap": { "name": CANARY_TARGET } }] } } } }),
        ),
        (
            "services",
            json!({ "apiVersion": "v1", "kind": "Service",
                "metadata": metadata(CANARY_TARGET, Some(ns), tags),
                "spec": { "selector": canary_labels, "ports": [{ "port": 80, "targetPort": 80 }] } }),
        ),
    ];
    match c.kind {
        ClusterCollector::Prometheus | ClusterCollector::AmpScraper => {
            objects.extend(prometheus(tags, c))
        }
        ClusterCollector::Adot => objects.push(("opentelemetrycollectors", adot(tags, c))),
        // Refused before a run starts (`ClusterCollector::provisionable`).
        ClusterCollector::PrometheusOperator | ClusterCollector::Otelcol => {}
    }
    objects
}

/// Prometheus in agent mode as the prometheus-community chart's server: its config in a
/// ConfigMap, a Deployment running as the annotated service account.
fn prometheus(tags: &RunTags, c: &Collector<'_>) -> Vec<(&'static str, Value)> {
    let server = c.name;
    let release = server.strip_suffix("-server").unwrap_or(server);
    let labels = json!({
        "app.kubernetes.io/component": "server",
        "app.kubernetes.io/instance": release,
        "app.kubernetes.io/name": "prometheus",
        RUN_TAG: tags.run_id,
    });
    let config = format!(
        "global:\n  scrape_interval: 15s\n\
         scrape_configs:\n- job_name: {CANARY_TARGET}\n  static_configs:\n  - targets:\n    - {}\n\
         remote_write:\n- url: {}\n  sigv4:\n    region: {}\n",
        c.scrape_target(),
        c.remote_write_url,
        c.region
    );
    vec![
        (
            "configmaps",
            json!({ "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": metadata(server, Some(c.namespace), tags),
                "data": { "prometheus.yml": config } }),
        ),
        (
            "deployments",
            json!({ "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": { "name": server, "namespace": c.namespace, "labels": labels,
                              "annotations": { CREATED_TAG: tags.created } },
                "spec": { "replicas": 1, "selector": { "matchLabels": labels },
                    "template": { "metadata": { "labels": labels }, "spec": {
                        "serviceAccountName": c.service_account,
                        "containers": [{ "name": "prometheus-server", "image": PROMETHEUS_IMAGE,
                            "args": ["--enable-feature=agent", "--config.file=/etc/config/prometheus.yml", "--storage.agent.path=/data"],
                            "ports": [{ "containerPort": 9090 }],
                            "env": [{ "name": "AWS_REGION", "value": c.region }],
                            "volumeMounts": [
                                { "name": "config-volume", "mountPath": "/etc/config" },
                                { "name": "storage-volume", "mountPath": "/data" } ] }],
                        "volumes": [
                            { "name": "config-volume", "configMap": { "name": server } },
                            { "name": "storage-volume", "emptyDir": {} } ] } } } }),
        ),
    ]
}

/// An `OpenTelemetryCollector` (v1beta1) for the ADOT add-on's operator: scrapes the
/// canary target, remote-writes to the run's workspace signed by `sigv4auth`.
fn adot(tags: &RunTags, c: &Collector<'_>) -> Value {
    json!({
        "apiVersion": "opentelemetry.io/v1beta1",
        "kind": "OpenTelemetryCollector",
        "metadata": metadata(c.name, Some(c.namespace), tags),
        "spec": {
            "mode": "deployment",
            "replicas": 1,
            "serviceAccount": c.service_account,
            "config": {
                "extensions": { "sigv4auth": { "region": c.region, "service": "aps" } },
                "receivers": { "prometheus": { "config": {
                    "global": { "scrape_interval": "15s" },
                    "scrape_configs": [{
                        "job_name": CANARY_TARGET,
                        "static_configs": [{ "targets": [c.scrape_target()] }],
                    }],
                } } },
                "processors": { "batch": {} },
                "exporters": { "prometheusremotewrite": {
                    "endpoint": c.remote_write_url,
                    "auth": { "authenticator": "sigv4auth" },
                } },
                "service": {
                    "extensions": ["sigv4auth"],
                    "pipelines": { "metrics": {
                        "receivers": ["prometheus"],
                        "processors": ["batch"],
                        "exporters": ["prometheusremotewrite"],
                    } },
                },
            },
        },
    })
}

fn typed<T: DeserializeOwned>(v: &Value) -> Result<T, String> {
    serde_json::from_value(v.clone()).map_err(|e| e.to_string())
}

/// Creates one object; Err: what the API said.
pub async fn create(client: &kube::Client, plural: &str, obj: &Value) -> Result<(), String> {
    let ns = obj
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("default");
    let pp = PostParams::default();
    let r = match plural {
        "namespaces" => Api::<Namespace>::all(client.clone())
            .create(&pp, &typed(obj)?)
            .await
            .map(|_| ()),
        "serviceaccounts" => Api::<ServiceAccount>::namespaced(client.clone(), ns)
            .create(&pp, &typed(obj)?)
            .await
            .map(|_| ()),
        "configmaps" => Api::<ConfigMap>::namespaced(client.clone(), ns)
            .create(&pp, &typed(obj)?)
            .await
            .map(|_| ()),
        "deployments" => Api::<Deployment>::namespaced(client.clone(), ns)
            .create(&pp, &typed(obj)?)
            .await
            .map(|_| ()),
        "opentelemetrycollectors" => {
            let ar = ApiResource::from_gvk(&GroupVersionKind::gvk(
                "opentelemetry.io",
                "v1beta1",
                "OpenTelemetryCollector",
            ));
            Api::<DynamicObject>::namespaced_with(client.clone(), ns, &ar)
                .create(&pp, &typed(obj)?)
                .await
                .map(|_| ())
        }
        "services" => Api::<Service>::namespaced(client.clone(), ns)
            .create(&pp, &typed(obj)?)
            .await
            .map(|_| ()),
        other => return Err(format!("pipecheck does not create {other}")),
    };
    r.map_err(|e| crate::error_chain(&e))
}

/// Whether the Deployment `name` has all its replicas ready.
pub async fn deployment_ready(client: &kube::Client, ns: &str, name: &str) -> Result<bool, String> {
    let d = Api::<Deployment>::namespaced(client.clone(), ns)
        .get(name)
        .await
        .map_err(|e| crate::error_chain(&e))?;
    let want = d.spec.replicas.unwrap_or(1);
    let ready = d
        .status
        .as_ref()
        .and_then(|s| s.ready_replicas)
        .unwrap_or(0);
    Ok(ready >= want)
}

/// Deletes a namespace (and so everything in it); already gone counts as deleted.
pub async fn delete_namespace(client: &kube::Client, name: &str) -> Result<(), String> {
    match Api::<Namespace>::all(client.clone())
        .delete(name, &DeleteParams::default())
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(crate::error_chain(&e)),
    }
}

/// The namespaces labelled by a run (`pipecheck-run`), with their run id and created time.
pub async fn run_namespaces(
    client: &kube::Client,
) -> Result<Vec<(String, String, String)>, String> {
    let list = Api::<Namespace>::all(client.clone())
        .list(&kube::api::ListParams::default().labels(RUN_TAG))
        .await
        .map_err(|e| crate::error_chain(&e))?;
    Ok(list
        .items
        .into_iter()
        .filter_map(|n| {
            let name = n.metadata.name.clone()?;
            let run = n.metadata.labels.as_ref()?.get(RUN_TAG)?.clone();
            let created = n
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(CREATED_TAG).cloned())
                .unwrap_or_default();
            Some((name, run, created))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `policies/pipecheck-provision-rbac.yaml` grants exactly the verbs this module uses:
    /// create for every kind `objects` makes, get on Deployments (waiting for Ready),
    /// delete and list on namespaces (teardown, sweep).
    #[test]
    fn the_rbac_policy_grants_what_provisioning_does() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../policies/pipecheck-provision-rbac.yaml"
        );
        let doc: Value = serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let mut granted = std::collections::BTreeSet::new();
        for rule in doc["rules"].as_array().unwrap() {
            for r in rule["resources"].as_array().unwrap() {
                for v in rule["verbs"].as_array().unwrap() {
                    granted.insert((
                        r.as_str().unwrap().to_string(),
                        v.as_str().unwrap().to_string(),
                    ));
                }
            }
        }
        let tags = RunTags::new("pc-1", std::time::SystemTime::UNIX_EPOCH);
        let mut needed = std::collections::BTreeSet::new();
        for kind in [ClusterCollector::Prometheus, ClusterCollector::Adot] {
            let c = Collector {
                kind,
                namespace: "pipecheck-pc-1",
                name: "x",
                service_account: "sa",
                role_arn: "arn:aws:iam::1:role/r",
                remote_write_url: "https://aps/ws/api/v1/remote_write",
                region: "us-east-1",
            };
            for (plural, obj) in objects(&tags, &c) {
                needed.insert((plural.to_string(), "create".to_string()));
                // Everything but the namespace itself is made inside it.
                if plural != "namespaces" {
                    assert_eq!(obj["metadata"]["namespace"], "pipecheck-pc-1", "{obj}");
                }
            }
        }
        for extra in [
            ("deployments", "get"),
            ("namespaces", "delete"),
            ("namespaces", "list"),
        ] {
            needed.insert((extra.0.to_string(), extra.1.to_string()));
        }
        assert_eq!(granted, needed);
    }

    #[test]
    fn the_canary_value_derives_from_the_run_id() {
        assert!(canary_metrics("pc-00000010abcd").contains("run_id=\"pc-00000010abcd\"} 16\n"));
        assert_ne!(
            canary_metrics("pc-0bf87391ff73"),
            canary_metrics("pc-6c418925373e")
        );
    }
}
