//! The prometheus-community chart's server (the `prometheus` shape), also seeded beside the
//! other shapes by the harness's `discover --target mock`.

use serde_json::{Value, json};

use crate::{ClusterSeed, MockStack};

const PROMETHEUS_IMAGE: &str = "quay.io/prometheus/prometheus:v2.53.1";
const RELOAD_IMAGE: &str = "quay.io/prometheus-operator/prometheus-config-reloader:v0.75.2";

/// The prometheus-community chart's server as helm and the pod identity webhook leave it,
/// running as `seed`'s service account and remote-writing to `remote_write_url`; returns
/// (Deployment, pod, container).
pub fn put_prometheus_server(
    stack: &MockStack,
    seed: &ClusterSeed,
    region: &str,
    remote_write_url: &str,
) -> Result<(String, String, String), String> {
    let k = &stack.kube;
    let ns = seed.namespace.as_str();
    let name = seed.collector_name.as_str();
    let release = name.strip_suffix("-server").unwrap_or(name);
    let err = |e: crate::kube::KubeError| e.to_string();
    let labels = json!({
        "app.kubernetes.io/component": "server",
        "app.kubernetes.io/instance": release,
        "app.kubernetes.io/name": "prometheus",
        "app.kubernetes.io/part-of": "prometheus",
    });
    let config = format!(
        "global:\n  evaluation_interval: 1m\n  scrape_interval: 15s\n  scrape_timeout: 10s\n\
         remote_write:\n- queue_config:\n    capacity: 2500\n    max_samples_per_send: 1000\n    max_shards: 200\n  \
         sigv4:\n    region: {region}\n  url: {remote_write_url}\n\
         scrape_configs:\n- job_name: prometheus\n  static_configs:\n  - targets:\n    - localhost:9090\n\
         - job_name: kubernetes-pods\n  kubernetes_sd_configs:\n  - role: pod\n  relabel_configs:\n  \
         - action: keep\n    regex: true\n    source_labels:\n    - __meta_kubernetes_pod_annotation_prometheus_io_scrape\n"
    );
    k.put(
        "configmaps",
        json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": { "name": name, "namespace": ns, "labels": labels },
            "data": { "prometheus.yml": config, "alerting_rules.yml": "{}\n", "recording_rules.yml": "{}\n" },
        }),
    )
    .map_err(err)?;
    let pod_spec = json!({
        "serviceAccountName": seed.service_account,
        "serviceAccount": seed.service_account,
        "containers": [
            {
                "name": "prometheus-server-configmap-reload",
                "image": RELOAD_IMAGE,
                "args": ["--watched-dir=/etc/config", "--reload-url=http://127.0.0.1:9090/-/reload"],
                "volumeMounts": [{ "name": "config-volume", "mountPath": "/etc/config", "readOnly": true }],
            },
            {
                "name": "prometheus-server",
                "image": PROMETHEUS_IMAGE,
                "args": [
                    "--storage.tsdb.retention.time=15d",
                    "--config.file=/etc/config/prometheus.yml",
                    "--storage.tsdb.path=/data",
                    "--web.enable-lifecycle",
                ],
                "ports": [{ "containerPort": 9090, "protocol": "TCP" }],
                "env": [
                    { "name": "AWS_STS_REGIONAL_ENDPOINTS", "value": "regional" },
                    // The mock's STS, where the server's SDK looks for an override.
                    { "name": "AWS_ENDPOINT_URL_STS", "value": stack.endpoints().sts },
                    { "name": "AWS_DEFAULT_REGION", "value": region },
                    { "name": "AWS_REGION", "value": region },
                    { "name": "AWS_ROLE_ARN", "value": seed.role_arn() },
                    { "name": "AWS_WEB_IDENTITY_TOKEN_FILE", "value": crate::kube::WEB_IDENTITY_TOKEN_FILE },
                ],
                "volumeMounts": [
                    { "name": "config-volume", "mountPath": "/etc/config" },
                    { "name": "storage-volume", "mountPath": "/data" },
                    { "name": "aws-iam-token", "mountPath": "/var/run/secrets/eks.amazonaws.com/serviceaccount", "readOnly": true },
                ],
            },
        ],
        "volumes": [
            { "name": "config-volume", "configMap": { "name": name, "defaultMode": 420 } },
            { "name": "storage-volume", "emptyDir": {} },
            { "name": "aws-iam-token", "projected": { "defaultMode": 420, "sources": [{ "serviceAccountToken": {
                "audience": "sts.amazonaws.com", "expirationSeconds": 86400, "path": "token",
            } }] } },
        ],
    });
    let deployment = k
        .put(
            "deployments",
            json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": { "name": name, "namespace": ns, "labels": labels, "generation": 1 },
                "spec": {
                    "replicas": 1,
                    "selector": { "matchLabels": labels },
                    "template": { "metadata": { "labels": labels }, "spec": pod_spec },
                    "strategy": { "type": "Recreate" },
                },
                "status": {
                    "observedGeneration": 1, "replicas": 1, "updatedReplicas": 1,
                    "readyReplicas": 1, "availableReplicas": 1,
                    "conditions": [
                        { "type": "Available", "status": "True", "reason": "MinimumReplicasAvailable" },
                        { "type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable" },
                    ],
                },
            }),
        )
        .map_err(err)?;
    let hash = "5d8f7c9b6f";
    let rs_name = format!("{name}-{hash}");
    let mut rs_labels = labels.clone();
    rs_labels["pod-template-hash"] = json!(hash);
    let rs = k
        .put(
            "replicasets",
            json!({
                "apiVersion": "apps/v1", "kind": "ReplicaSet",
                "metadata": { "name": rs_name, "namespace": ns, "labels": rs_labels,
                              "ownerReferences": [owner(&deployment)] },
                "spec": { "replicas": 1, "selector": { "matchLabels": rs_labels },
                          "template": { "metadata": { "labels": rs_labels }, "spec": pod_spec } },
                "status": { "replicas": 1, "readyReplicas": 1, "availableReplicas": 1 },
            }),
        )
        .map_err(err)?;
    let pod_name = format!("{rs_name}-7x9kq");
    let now = rfc3339_now(stack);
    let mut spec = pod_spec.clone();
    spec["nodeName"] = json!(seed.node_name);
    let statuses: Vec<Value> = ["prometheus-server-configmap-reload", "prometheus-server"]
        .iter()
        .map(|c| {
            json!({
                "name": c, "ready": true, "started": true, "restartCount": 0,
                "image": if *c == "prometheus-server" { PROMETHEUS_IMAGE } else { RELOAD_IMAGE },
                "imageID": "", "state": { "running": { "startedAt": now } }, "lastState": {},
            })
        })
        .collect();
    let conditions: Vec<Value> = ["Initialized", "Ready", "ContainersReady", "PodScheduled"]
        .iter()
        .map(|t| json!({ "type": t, "status": "True", "lastTransitionTime": now }))
        .collect();
    k.put(
        "pods",
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": { "name": pod_name, "namespace": ns, "labels": rs_labels,
                          "ownerReferences": [owner(&rs)] },
            "spec": spec,
            "status": { "phase": "Running", "conditions": conditions, "podIP": "192.168.15.22",
                        "startTime": now, "containerStatuses": statuses, "qosClass": "BestEffort" },
        }),
    )
    .map_err(err)?;
    let ts = now.trim_end_matches('Z');
    let log: String = [
        "level=info caller=main.go:645 msg=\"Starting Prometheus Server\" mode=server version=\"(version=2.53.1)\"",
        "level=info caller=main.go:1169 msg=\"Loading configuration file\" filename=/etc/config/prometheus.yml",
        "level=info caller=dedupe.go:112 component=remote level=info remote_name=2b9d1c url=REMOTE msg=\"Starting WAL watcher\" queue=2b9d1c",
        "level=info caller=main.go:1206 msg=\"Completed loading of configuration file\" filename=/etc/config/prometheus.yml",
        "level=info caller=main.go:1007 msg=\"Server is ready to receive web requests.\"",
    ]
    .iter()
    .map(|l| format!("ts={ts}.000Z {}\n", l.replace("REMOTE", remote_write_url)))
    .collect();
    k.set_pod_log(ns, &pod_name, "prometheus-server", &log);
    Ok((name.to_string(), pod_name, "prometheus-server".to_string()))
}

fn owner(obj: &Value) -> Value {
    json!({
        "apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": obj["metadata"]["name"],
        "uid": obj["metadata"]["uid"], "controller": true, "blockOwnerDeletion": true,
    })
}

pub(crate) fn rfc3339_now(stack: &MockStack) -> String {
    let t = time::OffsetDateTime::from(stack.clock.now());
    let f = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    t.format(&f).unwrap_or_default()
}
