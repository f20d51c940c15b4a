//! The mock cluster of the operator and OpenTelemetry shapes: kube-prometheus-stack's
//! `Prometheus` resource (the mock's operator renders its Secret and runs its StatefulSet)
//! and the opentelemetry-collector chart in daemonset mode (ConfigMap key `relay`, one pod
//! per node) or ADOT's example Deployment, each made through the mock API's controllers (`KubeState::apply`), and the
//! fault recipes only these shapes have (F45-F48). Names and facts:
//! docs/wire/prometheus-operator.md and docs/wire/otel-collector-chart.md.

use crate::kube::crd_object;
use crate::{ClusterSeed, MockStack};
use serde_json::{Value, json};

use super::{PreparedCluster, rfc3339_now};

const PROMETHEUS_IMAGE: &str = "quay.io/prometheus/prometheus:v2.54.1";
const OTEL_IMAGE: &str = "public.ecr.aws/aws-observability/aws-otel-collector:v0.40.0";
/// The chart's container name (its `.Chart.Name`) and config key.
const OTEL_CONTAINER: &str = "opentelemetry-collector";
const OTEL_CONFIG_KEY: &str = "relay";
/// The per-node selector of the chart's kubernetes_sd jobs in daemonset mode.
const NODE_SELECTOR: &str = "          selectors:\n          - role: pod\n            field: spec.nodeName=${env:K8S_NODE_NAME}\n";

fn err(e: crate::kube::KubeError) -> String {
    e.to_string()
}

/// kube-prometheus-stack's Prometheus (`<release>-kube-prometheus-prometheus`), remote
/// writing to AMP with sigv4 as the AMP user guide sets it up, one replica, running as
/// the seed's annotated service account; returns (StatefulSet, pod, container).
pub(crate) fn put_operator_prometheus(
    stack: &MockStack,
    seed: &ClusterSeed,
    region: &str,
    remote_write_url: &str,
) -> Result<(String, String, String), String> {
    let k = &stack.kube;
    let ns = seed.namespace.as_str();
    let name = seed.collector_name.as_str();
    let release = name
        .strip_suffix("-kube-prometheus-prometheus")
        .unwrap_or(name);
    k.put(
        "customresourcedefinitions",
        crd_object("monitoring.coreos.com", "prometheuses", "Prometheus", "v1"),
    )
    .map_err(err)?;
    k.apply(
        "prometheuses",
        json!({
            "apiVersion": "monitoring.coreos.com/v1", "kind": "Prometheus",
            "metadata": { "name": name, "namespace": ns, "generation": 1, "labels": {
                "app": "kube-prometheus-stack-prometheus", "release": release,
                "app.kubernetes.io/managed-by": "Helm", "app.kubernetes.io/instance": release,
            } },
            "spec": {
                "replicas": 1,
                "serviceAccountName": seed.service_account,
                "image": PROMETHEUS_IMAGE,
                "version": "v2.54.1",
                "retention": "10d",
                "serviceMonitorSelector": { "matchLabels": { "release": release } },
                "remoteWrite": [{ "url": remote_write_url, "sigv4": { "region": region } }],
            },
        }),
    )
    .map_err(err)?;
    let set = format!("prometheus-{name}");
    let pod = format!("{set}-0");
    let ts = rfc3339_now(stack);
    let ts = ts.trim_end_matches('Z');
    let config = "/etc/prometheus/config_out/prometheus.env.yaml";
    let log: String = [
        "level=info caller=main.go:645 msg=\"Starting Prometheus Server\" mode=server version=\"(version=2.54.1)\"".to_string(),
        format!("level=info caller=main.go:1169 msg=\"Loading configuration file\" filename={config}"),
        format!("level=info caller=dedupe.go:112 component=remote level=info remote_name=5f6e7d url={remote_write_url} msg=\"Starting WAL watcher\" queue=5f6e7d"),
        format!("level=info caller=main.go:1206 msg=\"Completed loading of configuration file\" filename={config}"),
        "level=info caller=main.go:1007 msg=\"Server is ready to receive web requests.\"".to_string(),
    ]
    .iter()
    .map(|l| format!("ts={ts}.000Z {l}\n"))
    .collect();
    k.set_pod_log(ns, &pod, "prometheus", &log);
    Ok((set, pod, "prometheus".to_string()))
}

/// The collector's config as the chart renders it in daemonset mode for AMP: a prometheus
/// receiver scraping this node's annotated pods, the prometheusremotewrite exporter signed
/// by sigv4auth.
fn otel_relay(region: &str, remote_write_url: &str) -> String {
    format!(
        "exporters:\n  prometheusremotewrite:\n    endpoint: {remote_write_url}\n    auth:\n      authenticator: sigv4auth\n\
extensions:\n  health_check:\n    endpoint: ${{env:MY_POD_IP}}:13133\n  sigv4auth:\n    region: {region}\n    service: aps\n\
processors:\n  batch: {{}}\n  memory_limiter:\n    check_interval: 5s\n    limit_percentage: 80\n    spike_limit_percentage: 25\n\
receivers:\n  prometheus:\n    config:\n      scrape_configs:\n      - job_name: kubernetes-pods\n        kubernetes_sd_configs:\n        - role: pod\n{NODE_SELECTOR}\
        relabel_configs:\n        - action: keep\n          regex: \"true\"\n          source_labels:\n          - __meta_kubernetes_pod_annotation_prometheus_io_scrape\n\
service:\n  extensions:\n  - health_check\n  - sigv4auth\n  pipelines:\n    metrics:\n      receivers:\n      - prometheus\n      processors:\n      - memory_limiter\n      - batch\n      exporters:\n      - prometheusremotewrite\n"
    )
}

/// The opentelemetry-collector chart in daemonset mode with the ADOT image (release
/// `otel`: DaemonSet and ConfigMap `otel-opentelemetry-collector-agent`), running as the
/// seed's annotated service account; returns (DaemonSet, a pod, container).
pub(crate) fn put_otel_daemonset(
    stack: &MockStack,
    seed: &ClusterSeed,
    region: &str,
    remote_write_url: &str,
) -> Result<(String, String, String), String> {
    let k = &stack.kube;
    let ns = seed.namespace.as_str();
    let name = seed.collector_name.as_str();
    let release = name
        .strip_suffix("-opentelemetry-collector-agent")
        .unwrap_or(name);
    let labels = json!({
        "app.kubernetes.io/name": "opentelemetry-collector",
        "app.kubernetes.io/instance": release,
        "component": "agent-collector",
    });
    k.put(
        "configmaps",
        json!({ "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": { "name": name, "namespace": ns, "labels": labels },
            "data": { OTEL_CONFIG_KEY: otel_relay(region, remote_write_url) } }),
    )
    .map_err(err)?;
    let field = |path: &str| json!({ "fieldRef": { "apiVersion": "v1", "fieldPath": path } });
    k.apply(
        "daemonsets",
        json!({
            "apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": { "name": name, "namespace": ns, "labels": labels },
            "spec": {
                "selector": { "matchLabels": labels },
                "updateStrategy": { "type": "RollingUpdate" },
                "template": {
                    "metadata": { "labels": labels },
                    "spec": {
                        "serviceAccountName": seed.service_account,
                        "containers": [{
                            "name": OTEL_CONTAINER,
                            "image": OTEL_IMAGE,
                            "command": ["/awscollector"],
                            "args": ["--config=/conf/relay.yaml"],
                            "env": [
                                { "name": "MY_POD_IP", "valueFrom": field("status.podIP") },
                                { "name": "K8S_NODE_NAME", "valueFrom": field("spec.nodeName") },
                            ],
                            "ports": [{ "name": "metrics", "containerPort": 8888, "protocol": "TCP" }],
                            "volumeMounts": [{ "name": "opentelemetry-collector-configmap", "mountPath": "/conf" }],
                        }],
                        "volumes": [{ "name": "opentelemetry-collector-configmap", "configMap": {
                            "name": name, "items": [{ "key": OTEL_CONFIG_KEY, "path": "relay.yaml" }] } }],
                    },
                },
            },
        }),
    )
    .map_err(err)?;
    let pods = daemonset_pods(stack, ns, name);
    let ts = rfc3339_now(stack);
    let ts = ts.trim_end_matches('Z');
    for pod in &pods {
        let log = format!(
            "{ts}.000Z\tinfo\tservice@v0.110.0/service.go:135\tSetting up own telemetry...\n\
             {ts}.000Z\tinfo\tservice@v0.110.0/service.go:207\tStarting aws-otel-collector...\t{{\"Version\": \"v0.40.0\"}}\n\
             {ts}.000Z\tinfo\tservice@v0.110.0/service.go:230\tEverything is ready. Begin running and processing data.\n"
        );
        k.set_pod_log(ns, pod, OTEL_CONTAINER, &log);
    }
    let first = pods
        .first()
        .cloned()
        .ok_or("the mock DaemonSet controller made no pod")?;
    Ok((name.to_string(), first, OTEL_CONTAINER.to_string()))
}

/// ADOT's example manifests (aws-otel-collector): a one-replica Deployment `<collector>`
/// running `/awscollector --config=/conf/otel-agent-config.yaml`, the file being key
/// `otel-agent-config` of ConfigMap `otel-agent-conf`; returns (Deployment, pod,
/// container). The mock makes this form of an `otelcol` collector whose name is not the
/// chart's daemonset name (`…-agent`).
pub(crate) fn put_otel_deployment(
    stack: &MockStack,
    seed: &ClusterSeed,
    region: &str,
    remote_write_url: &str,
) -> Result<(String, String, String), String> {
    let k = &stack.kube;
    let ns = seed.namespace.as_str();
    let name = seed.collector_name.as_str();
    let container = "aws-otel-collector";
    let labels = json!({ "name": name });
    // One replica scrapes cluster-wide: no per-node selector.
    let config = otel_relay(region, remote_write_url).replace(NODE_SELECTOR, "");
    k.put(
        "configmaps",
        json!({ "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": { "name": "otel-agent-conf", "namespace": ns, "labels": { "app": "opentelemetry", "component": "otel-agent-conf" } },
            "data": { "otel-agent-config": config } }),
    )
    .map_err(err)?;
    k.apply(
        "deployments",
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": { "name": name, "namespace": ns, "labels": labels },
            "spec": {
                "replicas": 1,
                "selector": { "matchLabels": labels },
                "template": {
                    "metadata": { "labels": labels },
                    "spec": {
                        "serviceAccountName": seed.service_account,
                        "containers": [{
                            "name": container,
                            "image": OTEL_IMAGE,
                            "command": ["/awscollector", "--config=/conf/otel-agent-config.yaml"],
                            "volumeMounts": [{ "name": "otel-agent-config-vol", "mountPath": "/conf" }],
                        }],
                        "volumes": [{ "name": "otel-agent-config-vol", "configMap": {
                            "name": "otel-agent-conf",
                            "items": [{ "key": "otel-agent-config", "path": "otel-agent-config.yaml" }] } }],
                    },
                },
            },
        }),
    )
    .map_err(err)?;
    let pod = stack
        .kube
        .list("pods", Some(ns))
        .iter()
        .filter_map(|p| {
            p.pointer("/metadata/name")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .find(|p| p.starts_with(&format!("{name}-")))
        .ok_or("the mock Deployment controller made no pod")?;
    let ts = rfc3339_now(stack);
    let ts = ts.trim_end_matches('Z');
    k.set_pod_log(
        ns,
        &pod,
        container,
        &format!("{ts}.000Z\tinfo\tservice@v0.110.0/service.go:230\tEverything is ready. Begin running and processing data.\n"),
    );
    Ok((name.to_string(), pod, container.to_string()))
}

/// The pods a DaemonSet owns, by name.
fn daemonset_pods(stack: &MockStack, ns: &str, name: &str) -> Vec<String> {
    stack
        .kube
        .list("pods", Some(ns))
        .iter()
        .filter(|p| {
            p.pointer("/metadata/ownerReferences/0/name")
                .and_then(Value::as_str)
                == Some(name)
        })
        .filter_map(|p| {
            p.pointer("/metadata/name")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .collect()
}

impl PreparedCluster {
    /// Edits the `Prometheus` resource's spec, then the operator reconciles it (re-renders
    /// its Secret, scales its StatefulSet). Nothing on other shapes.
    pub(crate) fn edit_prometheus_resource(&self, s: &MockStack, f: impl FnOnce(&mut Value)) {
        let (ns, name) = (&self.seed.namespace, &self.seed.collector_name);
        if s.kube.get("prometheuses", ns, name).is_none() {
            return;
        }
        let _ = s
            .kube
            .update("prometheuses", ns, name, |p| f(&mut p["spec"]));
        let _ = s.kube.reconcile("prometheuses", ns, name);
    }

    /// Edits the collector's config in its ConfigMap (the chart's DaemonSet, or ADOT's
    /// example Deployment).
    pub(crate) fn edit_otel_config(&self, s: &MockStack, f: impl FnOnce(&str) -> String) {
        let ns = &self.seed.namespace;
        let (cm, key) = if s.kube.get("configmaps", ns, &self.deployment).is_some() {
            (self.deployment.as_str(), OTEL_CONFIG_KEY)
        } else {
            ("otel-agent-conf", "otel-agent-config")
        };
        let _ = s.kube.update("configmaps", ns, cm, |cm| {
            if let Some(text) = cm["data"][key].as_str().map(f) {
                cm["data"][key] = json!(text);
            }
        });
    }

    /// F45: the DaemonSet's kubernetes_sd job lost its per-node selector and the node group
    /// grew to two nodes: both nodes' collectors scrape every annotated pod and write the
    /// same series; AMP refuses the second copies (400), as both collectors log.
    pub(crate) fn daemonset_duplicate_scrape(&self, s: &MockStack) {
        let ns = self.seed.namespace.as_str();
        self.edit_otel_config(s, |text| text.replace(NODE_SELECTOR, ""));
        // The next address in the node group's subnet (ip-192-168-12-35…), else `<node>-2`.
        let first = &self.seed.node_name;
        let second = match first.replacen("-34.", "-35.", 1) {
            next if next != *first => next,
            _ => format!("{first}-2"),
        };
        let _ = s.kube.add_node_like(&self.seed.node_name, &second);
        let _ = s.kube.reconcile("daemonsets", ns, &self.deployment);
        let pods = daemonset_pods(s, ns, &self.deployment);
        let lines = self.amp_400_lines(s, "otel");
        for pod in &pods {
            let (log, _) = s.kube.pod_log(ns, pod, &self.container);
            if log.is_empty() {
                let (first, _) = s.kube.pod_log(ns, &self.pod, &self.container);
                s.kube.set_pod_log(ns, pod, &self.container, &first);
            }
        }
        self.append_log(s, &pods, &lines);
    }

    /// F46: the `Prometheus` resource's remote write keeps `sigv4: {}` without a region
    /// (and the pods have no AWS_REGION): Prometheus refuses the config it is given.
    pub(crate) fn operator_sigv4_without_region(&self, s: &MockStack) {
        self.edit_prometheus_resource(s, |spec| {
            spec["remoteWrite"][0]["sigv4"] = json!({});
        });
        let now = rfc3339_now(s);
        // [unconfirmed] the wording of Prometheus' reload error around the sigv4 error.
        let line = format!(
            "ts={now} caller=main.go:1188 level=error msg=\"Failed to apply configuration\" err=\"region not configured in sigv4 or in default credentials chain\"\n\
             ts={now} caller=main.go:1157 level=error msg=\"Error reloading config\" err=\"one or more errors occurred while applying the new configuration (--config.file=/etc/prometheus/config_out/prometheus.env.yaml)\"\n"
        );
        self.append_log(s, std::slice::from_ref(&self.pod), &line);
    }

    /// F47: the `Prometheus` resource runs two replicas with the operator's default replica
    /// label (`prometheus_replica`) and no `cluster` label: AMP stores both copies.
    pub(crate) fn operator_replicas_without_ha_labels(&self, s: &MockStack) {
        self.edit_prometheus_resource(s, |spec| spec["replicas"] = json!(2));
        let (log, _) = s
            .kube
            .pod_log(&self.seed.namespace, &self.pod, &self.container);
        let second = format!("{}-1", self.deployment);
        s.kube
            .set_pod_log(&self.seed.namespace, &second, &self.container, &log);
    }

    /// F48: no operator reconciles the `Prometheus` resource (none runs, or it watches
    /// other namespaces): no Secret, no StatefulSet, no pods, and no status.
    pub(crate) fn operator_not_reconciling(&self, s: &MockStack) {
        let ns = self.seed.namespace.as_str();
        for pod in s.kube.list("pods", Some(ns)) {
            let owner = pod
                .pointer("/metadata/ownerReferences/0/name")
                .and_then(Value::as_str);
            if owner == Some(self.deployment.as_str())
                && let Some(name) = pod.pointer("/metadata/name").and_then(Value::as_str)
            {
                s.kube.delete("pods", ns, name);
            }
        }
        s.kube.delete("statefulsets", ns, &self.deployment);
        s.kube.delete("secrets", ns, &self.deployment);
        let _ = s
            .kube
            .update("prometheuses", ns, &self.seed.collector_name, |p| {
                if let Some(o) = p.as_object_mut() {
                    o.remove("status");
                }
            });
    }
}
