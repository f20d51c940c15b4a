//! The cluster side of `--provision` for a Prometheus scenario: a namespace of the run's
//! own (so removing it removes everything), the collector's service account annotated
//! with the run's role, Prometheus in agent mode remote-writing to the run's workspace
//! (a ConfigMap and a Deployment, as the prometheus-community chart's server), and a
//! canary target needing no custom image (a stock nginx serving a ConfigMap-mounted
//! metrics file whose value derives from the run id) with its Service.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Service, ServiceAccount};
use kube::Api;
use kube::api::{DeleteParams, PostParams};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::resource::{CREATED_TAG, RUN_TAG, RunTags};

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

/// What to create in the cluster, in order, as (plural, object).
#[allow(clippy::too_many_arguments)]
pub fn prometheus_objects(
    tags: &RunTags,
    namespace: &str,
    server: &str,
    service_account: &str,
    role_arn: &str,
    remote_write_url: &str,
    region: &str,
) -> Vec<(&'static str, Value)> {
    let release = server.strip_suffix("-server").unwrap_or(server);
    let labels = json!({
        "app.kubernetes.io/component": "server",
        "app.kubernetes.io/instance": release,
        "app.kubernetes.io/name": "prometheus",
        RUN_TAG: tags.run_id,
    });
    let config = format!(
        "global:\n  scrape_interval: 15s\n\
         scrape_configs:\n- job_name: {CANARY_TARGET}\n  static_configs:\n  - targets:\n    - {CANARY_TARGET}.{namespace}.svc:80\n\
         remote_write:\n- url: {remote_write_url}\n  sigv4:\n    region: {region}\n"
    );
    let mut sa = json!({ "apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": metadata(service_account, Some(namespace), tags) });
    sa["metadata"]["annotations"][ROLE_ARN_ANNOTATION] = json!(role_arn);
    let canary_labels = json!({ "app.kubernetes.io/name": CANARY_TARGET, RUN_TAG: tags.run_id });
    let objects = vec![
        (
            "namespaces",
            json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": metadata(namespace, None, tags) }),
        ),
        ("serviceaccounts", sa),
        (
            "configmaps",
            json!({ "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": metadata(CANARY_TARGET, Some(namespace), tags),
                "data": { "metrics": canary_metrics(&tags.run_id) } }),
        ),
        (
            "deployments",
            json!({ "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": metadata(CANARY_TARGET, Some(namespace), tags),
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
                "metadata": metadata(CANARY_TARGET, Some(namespace), tags),
                "spec": { "selector": canary_labels, "ports": [{ "port": 80, "targetPort": 80 }] } }),
        ),
        (
            "configmaps",
            json!({ "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": metadata(server, Some(namespace), tags),
                "data": { "prometheus.yml": config } }),
        ),
        (
            "deployments",
            json!({ "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": { "name": server, "namespace": namespace, "labels": labels,
                              "annotations": { CREATED_TAG: tags.created } },
                "spec": { "replicas": 1, "selector": { "matchLabels": labels },
                    "template": { "metadata": { "labels": labels }, "spec": {
                        "serviceAccountName": service_account,
                        "containers": [{ "name": "prometheus-server", "image": PROMETHEUS_IMAGE,
                            "args": ["--enable-feature=agent", "--config.file=/etc/config/prometheus.yml", "--storage.agent.path=/data"],
                            "ports": [{ "containerPort": 9090 }],
                            "env": [{ "name": "AWS_REGION", "value": region }],
                            "volumeMounts": [
                                { "name": "config-volume", "mountPath": "/etc/config" },
                                { "name": "storage-volume", "mountPath": "/data" } ] }],
                        "volumes": [
                            { "name": "config-volume", "configMap": { "name": server } },
                            { "name": "storage-volume", "emptyDir": {} } ] } } } }),
        ),
    ];
    objects
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

    #[test]
    fn the_canary_value_derives_from_the_run_id() {
        assert!(canary_metrics("pc-00000010abcd").contains("run_id=\"pc-00000010abcd\"} 16\n"));
        assert_ne!(
            canary_metrics("pc-0bf87391ff73"),
            canary_metrics("pc-6c418925373e")
        );
    }
}
