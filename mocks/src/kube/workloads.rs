//! More controllers of the mock cluster (beside `controllers.rs`): the StatefulSet and
//! DaemonSet controllers (Ready pods named as the real ones name them, with the EKS pod
//! identity webhook's IRSA injection) and the Prometheus operator for a `Prometheus`
//! resource (monitoring.coreos.com/v1): its config rendered into the Secret
//! `prometheus-<name>` (key `prometheus.yaml.gz`, gzip), the StatefulSet
//! `prometheus-<name>` and the resource's status, as in docs/wire/prometheus-operator.md.
//!
//! [`KubeState::apply`] creates or replaces an object the way a client's create does and
//! runs these controllers, so a test (or the harness's mock cluster) can set up a shape as
//! a person's `kubectl apply` / `helm install` would, and [`KubeState::reconcile`] runs them
//! again after an edit (the operator re-renders, the StatefulSet scales).

use serde_json::{Map, Value, json};

use super::seed::running_pod;
use super::status::KubeError;
use super::store::{KubeState, rfc3339};

/// The Prometheus operator's defaults (pkg/prometheus/promcfg.go).
pub const PROMETHEUS_EXTERNAL_LABEL: &str = "prometheus";
pub const REPLICA_EXTERNAL_LABEL: &str = "prometheus_replica";
/// The key of the operator's config Secret (pkg/prometheus/common.go `ConfigFilename`).
pub const OPERATOR_CONFIG_KEY: &str = "prometheus.yaml.gz";
/// The image the mock operator runs when the resource names none.
const PROMETHEUS_IMAGE: &str = "quay.io/prometheus/prometheus:v2.54.1";
const RELOADER_IMAGE: &str = "quay.io/prometheus-operator/prometheus-config-reloader:v0.76.0";

fn meta_str<'a>(obj: &'a Value, pointer: &str) -> &'a str {
    obj.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn ns_of(obj: &Value) -> String {
    match meta_str(obj, "/metadata/namespace") {
        "" => "default".to_string(),
        ns => ns.to_string(),
    }
}

/// The labels the operator selects a Prometheus's pods by (server/operator.go
/// `makeSelectorLabels`, plus the shard label).
pub fn prometheus_selector_labels(name: &str) -> Value {
    json!({
        "app.kubernetes.io/managed-by": "prometheus-operator",
        "app.kubernetes.io/name": "prometheus",
        "app.kubernetes.io/instance": name,
        "operator.prometheus.io/name": name,
        "operator.prometheus.io/shard": "0",
        "prometheus": name,
    })
}

/// The external labels the operator renders for a Prometheus `spec`
/// (promcfg.go `buildExternalLabels`): `prometheus: <ns>/<name>` and
/// `prometheus_replica: $(POD_NAME)` unless their names are set to `""`, then
/// `spec.externalLabels` except keys those two already took.
pub fn operator_external_labels(ns: &str, name: &str, spec: &Value) -> Map<String, Value> {
    let mut m = Map::new();
    let label_name = |key: &str, default: &str| -> String {
        match spec.get(key) {
            Some(Value::String(s)) => s.clone(),
            _ => default.to_string(),
        }
    };
    let prom = label_name("prometheusExternalLabelName", PROMETHEUS_EXTERNAL_LABEL);
    if !prom.is_empty() {
        m.insert(prom, json!(format!("{ns}/{name}")));
    }
    let replica = label_name("replicaExternalLabelName", REPLICA_EXTERNAL_LABEL);
    if !replica.is_empty() {
        m.insert(replica, json!("$(POD_NAME)"));
    }
    for (k, v) in spec
        .get("externalLabels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        if !m.contains_key(k) {
            m.insert(k.clone(), v.clone());
        }
    }
    m
}

/// The `prometheus.yaml` the operator renders for `cr` (the parts pipecheck reads:
/// global with external labels, remote_write with sigv4, the scrape jobs of its
/// ServiceMonitors), as JSON text (JSON is YAML).
pub fn render_prometheus_config(cr: &Value) -> String {
    let ns = ns_of(cr);
    let name = meta_str(cr, "/metadata/name");
    let spec = cr.get("spec").cloned().unwrap_or_else(|| json!({}));
    let remote_write: Vec<Value> = spec
        .get("remoteWrite")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|rw| {
            let mut out = json!({ "url": rw["url"] });
            if let Some(s) = rw.get("sigv4").and_then(Value::as_object) {
                let mut sig = Map::new();
                for (from, to) in [("region", "region"), ("roleArn", "role_arn")] {
                    if let Some(v) = s
                        .get(from)
                        .and_then(Value::as_str)
                        .filter(|v| !v.is_empty())
                    {
                        sig.insert(to.to_string(), json!(v));
                    }
                }
                out["sigv4"] = Value::Object(sig);
            }
            out
        })
        .collect();
    json!({
        "global": {
            "scrape_interval": spec.get("scrapeInterval").cloned().unwrap_or(json!("30s")),
            "evaluation_interval": "30s",
            "external_labels": operator_external_labels(&ns, name, &spec),
        },
        "scrape_configs": [{
            "job_name": format!("serviceMonitor/{ns}/{name}-kubelet/0"),
            "kubernetes_sd_configs": [{ "role": "endpoints", "namespaces": { "names": ["kube-system"] } }],
        }],
        "remote_write": remote_write,
    })
    .to_string()
}

/// A gzip member holding `data` in stored (uncompressed) deflate blocks: what any gzip
/// reader reads, without a compressor in the mock.
pub fn gzip_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    let mut chunks: Vec<&[u8]> = data.chunks(0xffff).collect();
    if chunks.is_empty() {
        chunks.push(&[]);
    }
    let last = chunks.len() - 1;
    for (i, c) in chunks.iter().enumerate() {
        out.push(u8::from(i == last));
        let len = c.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(c);
    }
    out.extend_from_slice(&crate::amg::token::crc32_ieee(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

impl KubeState {
    /// Creates `obj` under `resource` (or replaces it, keeping its identity), then runs
    /// the controllers for it, as a client's create would: a Deployment, StatefulSet or
    /// DaemonSet gets Ready pods, a `Prometheus` the operator's Secret and StatefulSet.
    pub fn apply(&self, resource: &str, obj: Value) -> Result<Value, KubeError> {
        let ns = ns_of(&obj);
        let name = meta_str(&obj, "/metadata/name").to_string();
        let stored = match self.get(resource, &ns, &name) {
            Some(old) => self.update(resource, &ns, &name, |o| {
                let meta = old["metadata"].clone();
                *o = obj;
                for k in ["uid", "creationTimestamp", "namespace"] {
                    o["metadata"][k] = meta[k].clone();
                }
            })?,
            None => self.put(resource, obj)?,
        };
        self.reconcile_created(resource, &stored)?;
        self.get(resource, &ns, &name).ok_or(KubeError::NoSuchPath)
    }

    /// Runs the controllers again for a stored object (after a test or fault edited it).
    pub fn reconcile(&self, resource: &str, ns: &str, name: &str) -> Result<(), KubeError> {
        let obj = self.get(resource, ns, name).ok_or(KubeError::NoSuchPath)?;
        self.reconcile_created(resource, &obj)
    }

    /// A second (third, …) node like the first: what a node group scaling out adds.
    pub(crate) fn add_node_like(&self, existing: &str, name: &str) -> Result<Value, KubeError> {
        let mut node = self
            .get("nodes", "", existing)
            .ok_or(KubeError::NoSuchPath)?;
        if let Some(m) = node["metadata"].as_object_mut() {
            m.remove("uid");
            m.remove("resourceVersion");
            m.remove("creationTimestamp");
            m.insert("name".into(), json!(name));
        }
        node["metadata"]["labels"]["kubernetes.io/hostname"] = json!(name);
        if let Some(p) = node.pointer("/spec/providerID").and_then(Value::as_str) {
            // Another instance: the id with a digit more.
            let moved = format!("{p}{}", name.len() % 10);
            node["spec"]["providerID"] = json!(moved);
        }
        self.put("nodes", node)
    }

    /// The StatefulSet controller: pods `<name>-0` … `<name>-<replicas-1>`, Ready, with
    /// IRSA when their service account is annotated; pods beyond `replicas` removed.
    pub(crate) fn run_statefulset(&self, obj: &Value) -> Result<(), KubeError> {
        let ns = ns_of(obj);
        let name = meta_str(obj, "/metadata/name").to_string();
        let replicas = obj
            .pointer("/spec/replicas")
            .and_then(Value::as_u64)
            .unwrap_or(1);
        let labels = obj
            .pointer("/spec/template/metadata/labels")
            .cloned()
            .unwrap_or(json!({}));
        let mut spec = obj
            .pointer("/spec/template/spec")
            .cloned()
            .unwrap_or(json!({}));
        self.inject_irsa(&ns, &mut spec);
        let node = self.first_node();
        let set = self.update("statefulsets", &ns, &name, |s| {
            s["metadata"]["generation"] = json!(1);
            s["status"] = json!({
                "observedGeneration": 1, "replicas": replicas, "readyReplicas": replicas,
                "currentReplicas": replicas, "updatedReplicas": replicas,
                "availableReplicas": replicas,
                "currentRevision": format!("{name}-7b9c5d6f48"),
                "updateRevision": format!("{name}-7b9c5d6f48"),
            });
        })?;
        let now = rfc3339(self.clock.now());
        for pod in self.list("pods", Some(&ns)) {
            let pod_name = meta_str(&pod, "/metadata/name");
            let ordinal = pod_name
                .strip_prefix(&format!("{name}-"))
                .and_then(|o| o.parse::<u64>().ok());
            if ordinal.is_some_and(|o| o >= replicas) {
                self.delete("pods", &ns, pod_name);
            }
        }
        for i in 0..replicas {
            let pod_name = format!("{name}-{i}");
            let mut pod_labels = labels.clone();
            pod_labels["statefulset.kubernetes.io/pod-name"] = json!(pod_name);
            pod_labels["apps.kubernetes.io/pod-index"] = json!(i.to_string());
            let mut pod_spec = spec.clone();
            pod_spec["hostname"] = json!(pod_name);
            if let Some(n) = &node {
                pod_spec["nodeName"] = json!(n);
            }
            let mut pod = running_pod(&ns, &pod_name, &pod_labels, pod_spec, &set, &now);
            pod["status"]["podIP"] = json!(format!("192.168.15.{}", 40 + i));
            self.put("pods", pod)?;
        }
        Ok(())
    }

    /// The DaemonSet controller: one Ready pod per node (`<name>-<5 characters>`, stable
    /// per node), with IRSA when their service account is annotated.
    pub(crate) fn run_daemonset(&self, obj: &Value) -> Result<(), KubeError> {
        let ns = ns_of(obj);
        let name = meta_str(obj, "/metadata/name").to_string();
        let labels = obj
            .pointer("/spec/template/metadata/labels")
            .cloned()
            .unwrap_or(json!({}));
        let mut spec = obj
            .pointer("/spec/template/spec")
            .cloned()
            .unwrap_or(json!({}));
        self.inject_irsa(&ns, &mut spec);
        let nodes: Vec<String> = self
            .list("nodes", None)
            .iter()
            .map(|n| meta_str(n, "/metadata/name").to_string())
            .collect();
        let n = nodes.len();
        let set = self.update("daemonsets", &ns, &name, |d| {
            d["metadata"]["generation"] = json!(1);
            d["status"] = json!({
                "observedGeneration": 1, "currentNumberScheduled": n, "desiredNumberScheduled": n,
                "numberAvailable": n, "numberMisscheduled": 0, "numberReady": n,
                "updatedNumberScheduled": n,
            });
        })?;
        let now = rfc3339(self.clock.now());
        for (i, node) in nodes.iter().enumerate() {
            let suffix: String = format!("{:x}", crate::amg::token::crc32_ieee(node.as_bytes()))
                .chars()
                .map(|c| {
                    if c.is_ascii_digit() {
                        (b'b' + (c as u8 - b'0')) as char
                    } else {
                        c
                    }
                })
                .take(5)
                .collect();
            let pod_name = format!("{name}-{suffix}");
            let mut pod_spec = spec.clone();
            pod_spec["nodeName"] = json!(node);
            let mut pod = running_pod(&ns, &pod_name, &labels, pod_spec, &set, &now);
            pod["status"]["podIP"] = json!(format!("192.168.15.{}", 60 + i));
            self.put("pods", pod)?;
        }
        Ok(())
    }

    fn first_node(&self) -> Option<String> {
        self.list("nodes", None)
            .first()
            .map(|n| meta_str(n, "/metadata/name").to_string())
    }

    /// The Prometheus operator for a `Prometheus` resource: the config Secret, the
    /// StatefulSet (and its pods) and the resource's status.
    pub(crate) fn run_prometheus(&self, cr: &Value) -> Result<(), KubeError> {
        use base64::Engine;
        let ns = ns_of(cr);
        let name = meta_str(cr, "/metadata/name").to_string();
        let spec = cr.get("spec").cloned().unwrap_or_else(|| json!({}));
        let prefixed = format!("prometheus-{name}");
        let replicas = spec.get("replicas").and_then(Value::as_u64).unwrap_or(1);
        let owner = json!({
            "apiVersion": "monitoring.coreos.com/v1", "kind": "Prometheus", "name": name,
            "uid": cr["metadata"]["uid"], "controller": true, "blockOwnerDeletion": true,
        });
        let config = render_prometheus_config(cr);
        let gz = base64::engine::general_purpose::STANDARD.encode(gzip_stored(config.as_bytes()));
        let managed = json!({ "managed-by": "prometheus-operator" });
        self.put(
            "secrets",
            json!({ "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                "metadata": { "name": prefixed, "namespace": ns, "labels": managed,
                              "ownerReferences": [owner] },
                "data": { OPERATOR_CONFIG_KEY: gz } }),
        )?;
        let labels = prometheus_selector_labels(&name);
        let image = spec
            .get("image")
            .and_then(Value::as_str)
            .unwrap_or(PROMETHEUS_IMAGE)
            .to_string();
        let mut pod_spec = json!({
            "containers": [
                {
                    "name": "prometheus", "image": image,
                    "args": [
                        "--web.console.templates=/etc/prometheus/consoles",
                        "--web.console.libraries=/etc/prometheus/console_libraries",
                        "--config.file=/etc/prometheus/config_out/prometheus.env.yaml",
                        "--web.enable-lifecycle",
                        "--web.route-prefix=/",
                        "--storage.tsdb.retention.time=10d",
                        "--storage.tsdb.path=/prometheus",
                    ],
                    "ports": [{ "name": "http-web", "containerPort": 9090, "protocol": "TCP" }],
                    "volumeMounts": [
                        { "name": "config-out", "mountPath": "/etc/prometheus/config_out", "readOnly": true },
                        { "name": "tls-assets", "mountPath": "/etc/prometheus/certs", "readOnly": true },
                        { "name": format!("{prefixed}-db"), "mountPath": "/prometheus" },
                    ],
                },
                {
                    "name": "config-reloader", "image": RELOADER_IMAGE,
                    "command": ["/bin/prometheus-config-reloader"],
                    "args": [
                        "--listen-address=:8080",
                        "--reload-url=http://127.0.0.1:9090/-/reload",
                        "--config-file=/etc/prometheus/config/prometheus.yaml.gz",
                        "--config-envsubst-file=/etc/prometheus/config_out/prometheus.env.yaml",
                    ],
                    "env": [
                        { "name": "POD_NAME", "valueFrom": { "fieldRef": { "apiVersion": "v1", "fieldPath": "metadata.name" } } },
                        { "name": "SHARD", "value": "0" },
                    ],
                    "volumeMounts": [
                        { "name": "config", "mountPath": "/etc/prometheus/config" },
                        { "name": "config-out", "mountPath": "/etc/prometheus/config_out" },
                    ],
                },
            ],
            "volumes": [
                { "name": "config", "secret": { "secretName": prefixed, "defaultMode": 420 } },
                { "name": "tls-assets", "projected": { "defaultMode": 420, "sources": [] } },
                { "name": "config-out", "emptyDir": { "medium": "Memory" } },
                { "name": format!("{prefixed}-db"), "emptyDir": {} },
            ],
        });
        if let Some(sa) = spec.get("serviceAccountName").and_then(Value::as_str) {
            pod_spec["serviceAccountName"] = json!(sa);
            pod_spec["serviceAccount"] = json!(sa);
        }
        let set = json!({
            "apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": { "name": prefixed, "namespace": ns, "labels": labels,
                          "ownerReferences": [owner],
                          "annotations": { "prometheus-operator-input-hash": "12893547611200581226" } },
            "spec": {
                "replicas": replicas,
                "serviceName": "prometheus-operated",
                "podManagementPolicy": "Parallel",
                "selector": { "matchLabels": labels },
                "template": {
                    "metadata": { "labels": labels,
                                  "annotations": { "kubectl.kubernetes.io/default-container": "prometheus" } },
                    "spec": pod_spec,
                },
            },
        });
        let set = self.put("statefulsets", set)?;
        self.run_statefulset(&set)?;
        let now = rfc3339(self.clock.now());
        self.update("prometheuses", &ns, &name, |p| {
            p["status"] = json!({
                "replicas": replicas, "updatedReplicas": replicas, "availableReplicas": replicas,
                "unavailableReplicas": 0, "paused": false, "shards": 1,
                "selector": labels.as_object().map(|m| m.iter()
                    .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                    .collect::<Vec<_>>().join(",")).unwrap_or_default(),
                "conditions": [
                    { "type": "Available", "status": "True", "lastTransitionTime": now, "observedGeneration": 1 },
                    { "type": "Reconciled", "status": "True", "lastTransitionTime": now, "observedGeneration": 1 },
                ],
            });
        })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::Clock;
    use crate::kube::seed::{namespace, service_account};

    fn gunzip_stored(gz: &[u8]) -> Vec<u8> {
        // Header (10), then stored blocks, then CRC32 and size.
        let mut i = 10;
        let mut out = Vec::new();
        loop {
            let last = gz[i] & 1 == 1;
            let len = u16::from_le_bytes([gz[i + 1], gz[i + 2]]) as usize;
            let nlen = u16::from_le_bytes([gz[i + 3], gz[i + 4]]);
            assert_eq!(!(len as u16), nlen);
            out.extend_from_slice(&gz[i + 5..i + 5 + len]);
            i += 5 + len;
            if last {
                break;
            }
        }
        let crc = u32::from_le_bytes(gz[i..i + 4].try_into().unwrap());
        assert_eq!(crc, crate::amg::token::crc32_ieee(&out));
        assert_eq!(
            u32::from_le_bytes(gz[i + 4..i + 8].try_into().unwrap()) as usize,
            out.len()
        );
        out
    }

    #[test]
    fn gzip_members_round_trip_over_block_boundaries() {
        for n in [0usize, 5, 0xffff, 0x1_0005] {
            let data: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();
            assert_eq!(gunzip_stored(&gzip_stored(&data)), data);
        }
    }

    fn state() -> KubeState {
        let st = KubeState::new(Arc::new(Clock::default()));
        st.put("namespaces", namespace("monitoring")).unwrap();
        st.put("nodes", json!({ "metadata": { "name": "ip-1" }, "spec": { "providerID": "aws:///us-east-1a/i-0abc" } }))
            .unwrap();
        let role = "arn:aws:iam::111122223333:role/amp";
        st.put(
            "serviceaccounts",
            service_account("monitoring", "amp", Some(role)),
        )
        .unwrap();
        st
    }

    #[test]
    fn a_prometheus_resource_gets_the_operators_secret_statefulset_and_ready_pods() {
        use base64::Engine;
        let st = state();
        let cr = json!({
            "apiVersion": "monitoring.coreos.com/v1", "kind": "Prometheus",
            "metadata": { "name": "kps", "namespace": "monitoring" },
            "spec": { "replicas": 2, "serviceAccountName": "amp",
                      "externalLabels": { "cluster": "prod", "prometheus": "mine" },
                      "remoteWrite": [{ "url": "https://aps/x", "sigv4": { "region": "us-east-1", "roleArn": "" } }] },
        });
        st.apply("prometheuses", cr).unwrap();
        let secret = st.get("secrets", "monitoring", "prometheus-kps").unwrap();
        let gz = base64::engine::general_purpose::STANDARD
            .decode(secret["data"][OPERATOR_CONFIG_KEY].as_str().unwrap())
            .unwrap();
        let config: Value = serde_json::from_slice(&gunzip_stored(&gz)).unwrap();
        let labels = &config["global"]["external_labels"];
        // The operator's own labels win over spec.externalLabels' reserved keys.
        assert_eq!(labels["prometheus"], "monitoring/kps");
        assert_eq!(labels["prometheus_replica"], "$(POD_NAME)");
        assert_eq!(labels["cluster"], "prod");
        assert_eq!(
            config["remote_write"][0]["sigv4"],
            json!({ "region": "us-east-1" })
        );
        let set = st
            .get("statefulsets", "monitoring", "prometheus-kps")
            .unwrap();
        assert_eq!(set["status"]["readyReplicas"], 2);
        for i in 0..2 {
            let pod = st
                .get("pods", "monitoring", &format!("prometheus-kps-{i}"))
                .unwrap();
            assert_eq!(
                pod["metadata"]["labels"]["operator.prometheus.io/name"],
                "kps"
            );
            assert_eq!(pod["spec"]["serviceAccountName"], "amp");
            assert_eq!(pod["spec"]["nodeName"], "ip-1");
            assert!(
                pod["spec"]["containers"][0]["env"]
                    .to_string()
                    .contains("AWS_ROLE_ARN")
            );
        }
        let p = st.get("prometheuses", "monitoring", "kps").unwrap();
        assert_eq!(p["status"]["availableReplicas"], 2);
        // Scaled down and the replica label switched off: one pod left, label gone.
        st.update("prometheuses", "monitoring", "kps", |p| {
            p["spec"]["replicas"] = json!(1);
            p["spec"]["replicaExternalLabelName"] = json!("");
        })
        .unwrap();
        st.reconcile("prometheuses", "monitoring", "kps").unwrap();
        assert!(st.get("pods", "monitoring", "prometheus-kps-1").is_none());
        let c = render_prometheus_config(&st.get("prometheuses", "monitoring", "kps").unwrap());
        assert!(!c.contains("prometheus_replica"), "{c}");
    }

    #[test]
    fn a_daemonset_runs_one_pod_per_node() {
        let st = state();
        st.add_node_like("ip-1", "ip-2").unwrap();
        let labels = json!({ "app": "otel" });
        st.apply(
            "daemonsets",
            json!({ "apiVersion": "apps/v1", "kind": "DaemonSet",
                "metadata": { "name": "otel", "namespace": "monitoring" },
                "spec": { "selector": { "matchLabels": labels },
                    "template": { "metadata": { "labels": labels },
                        "spec": { "serviceAccountName": "amp", "containers": [{ "name": "c", "image": "i" }] } } } }),
        )
        .unwrap();
        let pods = st.list("pods", Some("monitoring"));
        assert_eq!(pods.len(), 2);
        let nodes: Vec<&str> = pods.iter().map(|p| meta_str(p, "/spec/nodeName")).collect();
        assert!(
            nodes.contains(&"ip-1") && nodes.contains(&"ip-2"),
            "{nodes:?}"
        );
        let d = st.get("daemonsets", "monitoring", "otel").unwrap();
        assert_eq!(d["status"]["numberReady"], 2);
        assert_ne!(
            st.get("nodes", "", "ip-2").unwrap()["spec"]["providerID"],
            st.get("nodes", "", "ip-1").unwrap()["spec"]["providerID"]
        );
    }
}
