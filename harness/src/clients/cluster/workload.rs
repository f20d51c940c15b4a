//! Finding the collector in the cluster the way a person would with kubectl: the
//! `OpenTelemetryCollector` resource (ADOT), the server's Deployment (Prometheus chart),
//! the `Prometheus` resource and the operator's StatefulSet (kube-prometheus-stack), or the
//! collector's Deployment/DaemonSet (OpenTelemetry collector chart or manifests), the
//! controller the operator or chart made, and the pods it runs. What the pods run as
//! is read from the pods themselves, not assumed from names.

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{Pod, PodSpec};
use kube::Api;
use kube::api::{DynamicObject, ListParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::Value;

use super::kube_api::{KubeFailure, api_failure};
use crate::chain::Check;
use crate::scenario::{ClusterCollector, ClusterSpec};

/// The collector's workload as found in the cluster.
#[derive(Clone, Debug)]
pub struct Workload {
    pub namespace: String,
    /// How it was found, for evidence (`OpenTelemetryCollector adot-col/adot (mode
    /// deployment), pods app.kubernetes.io/…`).
    pub description: String,
    /// The label selector of its pods.
    pub selector: String,
    pub pods: Vec<Pod>,
    /// The service account the pod template (or the collector resource) names: what new
    /// pods will run as.
    pub template_service_account: String,
    /// The collector's container (`otc-container`, `prometheus-server`).
    pub container: String,
    /// The controller (`Deployment adot-col/adot-collector`) and its ready/wanted counts.
    pub controller: Option<(String, i32, i32)>,
    /// The pod template, when the controller was read.
    pub template: Option<PodSpec>,
    /// The OpenTelemetryCollector (ADOT) or `Prometheus` (operator) resource, as JSON.
    pub resource: Option<Value>,
}

impl Workload {
    /// The service accounts the pods run as (`spec.serviceAccountName`, `default` when
    /// unset), each once, in pod order.
    pub fn pod_service_accounts(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for p in &self.pods {
            let sa = p
                .spec
                .as_ref()
                .and_then(|s| s.service_account_name.clone())
                .unwrap_or_else(|| "default".to_string());
            if !out.contains(&sa) {
                out.push(sa);
            }
        }
        out
    }
}

/// The OpenTelemetryCollector API (v1beta1 since add-on v0.102.0; v1alpha1 before).
fn otel_resource(version: &str) -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk(
        "opentelemetry.io",
        version,
        "OpenTelemetryCollector",
    ))
}

/// Finds the collector `spec` names. A failing [`Check`] says what is missing.
pub async fn find_workload(client: &kube::Client, spec: &ClusterSpec) -> Result<Workload, Check> {
    match spec.kind {
        ClusterCollector::Adot => find_adot(client, spec).await,
        ClusterCollector::Prometheus | ClusterCollector::AmpScraper => {
            find_prometheus(client, spec).await
        }
        ClusterCollector::PrometheusOperator => find_operator_prometheus(client, spec).await,
        ClusterCollector::Otelcol => find_otelcol(client, spec).await,
    }
}

/// The Prometheus operator's `Prometheus` API.
pub fn prometheus_resource() -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk(
        "monitoring.coreos.com",
        "v1",
        "Prometheus",
    ))
}

/// A `Prometheus` resource (kube-prometheus-stack) and what the operator made of it: the
/// StatefulSet `prometheus-<name>` (shard 0; shards `-shard-N`) and its pods, selected by
/// the operator's labels, running as `spec.serviceAccountName` (`default` when unset), the
/// server in container `prometheus`.
async fn find_operator_prometheus(
    client: &kube::Client,
    spec: &ClusterSpec,
) -> Result<Workload, Check> {
    let ns = spec.namespace.as_str();
    let name = spec.collector.as_str();
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &prometheus_resource());
    let obj = match api.get(name).await {
        Ok(o) => o,
        Err(e) => {
            let f = KubeFailure::of(&e);
            if !f.not_found() {
                return Err(api_failure(
                    &format!("read Prometheus {ns}/{name}"),
                    &format!("get prometheuses.monitoring.coreos.com in {ns}"),
                    &e,
                ));
            }
            if !f.message.contains(&format!("\"{name}\"")) {
                return Err(Check::fail(
                    "the cluster serves no Prometheus resources (monitoring.coreos.com/v1): the Prometheus operator (kube-prometheus-stack) is not installed",
                    "install kube-prometheus-stack (helm install <release> prometheus-community/kube-prometheus-stack), or use the scenario kind of the collector you run",
                ));
            }
            return Err(Check::fail(
                format!("no Prometheus resource {name} in namespace {ns}"),
                "check the Prometheus resource's name (kube-prometheus-stack names it <release>-kube-prometheus-prometheus) and namespace in the scenario (cluster.collector, cluster.namespace)",
            )
            .with("Prometheus resources in the namespace", names_in(&api).await));
        }
    };
    let data = &obj.data;
    let sa = data
        .pointer("/spec/serviceAccountName")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .unwrap_or("default")
        .to_string();
    let replicas = data
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let set_name = format!("prometheus-{name}");
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), ns);
    let (controller, template) = match sets.get_opt(&set_name).await {
        Ok(Some(s)) => {
            let ready = s
                .status
                .as_ref()
                .and_then(|s| s.ready_replicas)
                .unwrap_or(0);
            let want = s.spec.replicas.unwrap_or(1);
            (
                Some((format!("StatefulSet {ns}/{set_name}"), ready, want)),
                s.spec.template.spec,
            )
        }
        Ok(None) => (None, None),
        Err(e) => {
            return Err(api_failure(
                &format!("read StatefulSet {ns}/{set_name}"),
                &format!("get statefulsets in {ns}"),
                &e,
            ));
        }
    };
    let selector = format!("app.kubernetes.io/name=prometheus,operator.prometheus.io/name={name}");
    let pods = list_pods(client, ns, &selector).await?;
    Ok(Workload {
        namespace: ns.to_string(),
        description: format!(
            "Prometheus {ns}/{name} (monitoring.coreos.com/v1, spec.replicas {replicas}), run by the operator as StatefulSet {ns}/{set_name}; pods selected by {selector}"
        ),
        selector,
        pods,
        template_service_account: sa,
        container: "prometheus".to_string(),
        controller,
        template,
        resource: Some(serde_json::to_value(&obj).unwrap_or(Value::Null)),
    })
}

/// An OpenTelemetry collector without an operator (the opentelemetry-collector chart, the
/// aws-otel-collector manifests): the Deployment, DaemonSet or StatefulSet named
/// `spec.collector`, and its pods.
async fn find_otelcol(client: &kube::Client, spec: &ClusterSpec) -> Result<Workload, Check> {
    let ns = spec.namespace.as_str();
    let name = spec.collector.as_str();
    let Some(Controller {
        kind,
        labels,
        template,
        ready,
        want,
    }) = find_controller(client, ns, name, &[DEPLOYMENT, DAEMONSET, STATEFULSET]).await?
    else {
        let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
        let daemonsets: Api<DaemonSet> = Api::namespaced(client.clone(), ns);
        return Err(Check::fail(
            format!("no Deployment, DaemonSet or StatefulSet {name} in namespace {ns}"),
            "check the collector's name (the opentelemetry-collector chart names it <release>-opentelemetry-collector, with -agent in daemonset mode) and namespace in the scenario (cluster.collector, cluster.namespace)",
        )
        .with("Deployments in the namespace", names_in(&deployments).await)
        .with("DaemonSets in the namespace", names_in(&daemonsets).await));
    };
    let selector = selector_of(&labels);
    let sa = template
        .as_ref()
        .and_then(|t| t.service_account_name.clone())
        .unwrap_or_else(|| "default".to_string());
    let container = template
        .as_ref()
        .and_then(|t| collector_container(t).map(|c| c.name.clone()))
        .unwrap_or_else(|| "opentelemetry-collector".to_string());
    let pods = list_pods(client, ns, &selector).await?;
    Ok(Workload {
        namespace: ns.to_string(),
        description: format!("{kind} {ns}/{name}; pods selected by {selector}"),
        selector,
        pods,
        template_service_account: sa,
        container,
        controller: Some((format!("{kind} {ns}/{name}"), ready, want)),
        template,
        resource: None,
    })
}

/// The collector's container in a pod spec: the one started with `--config` (the chart's
/// `opentelemetry-collector`, ADOT's `aws-otel-collector`), else one named like a
/// collector, else the first.
pub fn collector_container(spec: &PodSpec) -> Option<&k8s_openapi::api::core::v1::Container> {
    let has_config = |c: &&k8s_openapi::api::core::v1::Container| {
        c.args
            .iter()
            .flatten()
            .chain(c.command.iter().flatten())
            .any(|a| a.starts_with("--config"))
    };
    spec.containers
        .iter()
        .find(has_config)
        .or_else(|| {
            spec.containers
                .iter()
                .find(|c| c.name.contains("otel") || c.name.contains("collector"))
        })
        .or_else(|| spec.containers.first())
}

async fn find_adot(client: &kube::Client, spec: &ClusterSpec) -> Result<Workload, Check> {
    let ns = spec.namespace.as_str();
    let name = spec.collector.as_str();
    let mut found = None;
    let mut crd_missing = true;
    for version in ["v1beta1", "v1alpha1"] {
        let api: Api<DynamicObject> =
            Api::namespaced_with(client.clone(), ns, &otel_resource(version));
        match api.get(name).await {
            Ok(obj) => {
                found = Some((obj, version));
                break;
            }
            Err(e) => {
                let f = KubeFailure::of(&e);
                if !f.not_found() {
                    return Err(api_failure(
                        &format!("read OpenTelemetryCollector {ns}/{name}"),
                        &format!("get opentelemetrycollectors.opentelemetry.io in {ns}"),
                        &e,
                    ));
                }
                // "the server could not find the requested resource": the version (or
                // the whole CRD) is not served; a named object's 404 says its name.
                if f.message.contains(&format!("\"{name}\"")) {
                    crd_missing = false;
                }
            }
        }
    }
    let Some((obj, version)) = found else {
        if crd_missing {
            return Err(Check::fail(
                "the cluster serves no OpenTelemetryCollector resources: the ADOT operator (the EKS adot add-on) is not installed",
                "install the adot add-on (it needs cert-manager): aws eks create-addon --cluster-name <cluster> --addon-name adot",
            ));
        }
        let api: Api<DynamicObject> =
            Api::namespaced_with(client.clone(), ns, &otel_resource("v1beta1"));
        return Err(Check::fail(
            format!("no OpenTelemetryCollector {name} in namespace {ns}"),
            "check the collector's name and namespace in the scenario (cluster.collector, cluster.namespace)",
        )
        .with("OpenTelemetryCollectors in the namespace", names_in(&api).await));
    };
    let data = &obj.data;
    let mode = data
        .pointer("/spec/mode")
        .and_then(Value::as_str)
        .unwrap_or("deployment")
        .to_string();
    // The operator makes the collector's own service account when the resource names none.
    let sa = data
        .pointer("/spec/serviceAccount")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| format!("{name}-collector"));
    let selector = data
        .pointer("/status/scale/selector")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| {
            format!(
                "app.kubernetes.io/component=opentelemetry-collector,app.kubernetes.io/instance={ns}.{name}"
            )
        });
    let controller_name = format!("{name}-collector");
    let (controller, template) = match mode.as_str() {
        "daemonset" => {
            let api: Api<DaemonSet> = Api::namespaced(client.clone(), ns);
            match api.get_opt(&controller_name).await {
                Ok(Some(d)) => {
                    let s = d.status.as_ref();
                    let ready = s.map(|s| s.number_ready).unwrap_or(0);
                    let want = s.map(|s| s.desired_number_scheduled).unwrap_or(0);
                    (
                        Some((format!("DaemonSet {ns}/{controller_name}"), ready, want)),
                        d.spec.template.spec,
                    )
                }
                _ => (None, None),
            }
        }
        "statefulset" => {
            let api: Api<StatefulSet> = Api::namespaced(client.clone(), ns);
            match api.get_opt(&controller_name).await {
                Ok(Some(d)) => {
                    let ready = d
                        .status
                        .as_ref()
                        .and_then(|s| s.ready_replicas)
                        .unwrap_or(0);
                    let want = d.spec.replicas.unwrap_or(1);
                    (
                        Some((format!("StatefulSet {ns}/{controller_name}"), ready, want)),
                        d.spec.template.spec,
                    )
                }
                _ => (None, None),
            }
        }
        "sidecar" => (None, None),
        _ => {
            let api: Api<Deployment> = Api::namespaced(client.clone(), ns);
            match api.get_opt(&controller_name).await {
                Ok(Some(d)) => {
                    let ready = d
                        .status
                        .as_ref()
                        .and_then(|s| s.ready_replicas)
                        .unwrap_or(0);
                    let want = d.spec.replicas.unwrap_or(1);
                    (
                        Some((format!("Deployment {ns}/{controller_name}"), ready, want)),
                        d.spec.template.spec,
                    )
                }
                _ => (None, None),
            }
        }
    };
    let pods = list_pods(client, ns, &selector).await?;
    Ok(Workload {
        namespace: ns.to_string(),
        description: format!(
            "OpenTelemetryCollector {ns}/{name} ({version}, mode {mode}); pods selected by {selector}"
        ),
        selector,
        pods,
        template_service_account: sa,
        container: "otc-container".to_string(),
        controller,
        template,
        resource: Some(serde_json::to_value(&obj).unwrap_or(Value::Null)),
    })
}

async fn find_prometheus(client: &kube::Client, spec: &ClusterSpec) -> Result<Workload, Check> {
    let ns = spec.namespace.as_str();
    let name = spec.collector.as_str();
    let Some(Controller {
        kind,
        labels,
        template,
        ready,
        want,
    }) = find_controller(client, ns, name, &[DEPLOYMENT, STATEFULSET]).await?
    else {
        // The chart runs the server as a StatefulSet with server.statefulSet.enabled.
        let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
        return Err(Check::fail(
            format!("no Deployment or StatefulSet {name} in namespace {ns}"),
            "check the server's name (the chart names it <release>-server) and namespace in the scenario (cluster.collector, cluster.namespace)",
        )
        .with("Deployments in the namespace", names_in(&deployments).await));
    };
    let selector = selector_of(&labels);
    let sa = template
        .as_ref()
        .and_then(|t| t.service_account_name.clone())
        .unwrap_or_else(|| "default".to_string());
    let container = template
        .as_ref()
        .and_then(|t| {
            let names: Vec<&str> = t.containers.iter().map(|c| c.name.as_str()).collect();
            names
                .iter()
                .find(|n| **n == "prometheus-server")
                .or_else(|| names.iter().find(|n| !n.contains("reload")))
                .map(|n| n.to_string())
        })
        .unwrap_or_else(|| "prometheus-server".to_string());
    let pods = list_pods(client, ns, &selector).await?;
    Ok(Workload {
        namespace: ns.to_string(),
        description: format!("{kind} {ns}/{name}; pods selected by {selector}"),
        selector,
        pods,
        template_service_account: sa,
        container,
        controller: Some((format!("{kind} {ns}/{name}"), ready, want)),
        template,
        resource: None,
    })
}

const DEPLOYMENT: &str = "Deployment";
const DAEMONSET: &str = "DaemonSet";
const STATEFULSET: &str = "StatefulSet";

/// A pod controller found by name: its kind, selector labels, pod template, and how many
/// of its pods are ready of how many it wants.
struct Controller {
    kind: &'static str,
    labels: std::collections::BTreeMap<String, String>,
    template: Option<PodSpec>,
    ready: i32,
    want: i32,
}

/// The first of `kinds` (Deployment, DaemonSet, StatefulSet, in the order given) named
/// `name` in `ns`; None when there is none of them.
async fn find_controller(
    client: &kube::Client,
    ns: &str,
    name: &str,
    kinds: &[&'static str],
) -> Result<Option<Controller>, Check> {
    let failed = |kind: &str, e: &kube::Error| {
        let reads: Vec<String> = kinds
            .iter()
            .map(|k| format!("{}s", k.to_lowercase()))
            .collect();
        api_failure(
            &format!("read {kind} {ns}/{name}"),
            &format!("get {} in {ns}", reads.join(",")),
            e,
        )
    };
    for &kind in kinds {
        let found = match kind {
            DEPLOYMENT => Api::<Deployment>::namespaced(client.clone(), ns)
                .get_opt(name)
                .await
                .map(|d| {
                    d.map(|d| Controller {
                        kind,
                        labels: d.spec.selector.match_labels.unwrap_or_default(),
                        template: d.spec.template.spec,
                        ready: d.status.and_then(|s| s.ready_replicas).unwrap_or(0),
                        want: d.spec.replicas.unwrap_or(1),
                    })
                }),
            DAEMONSET => Api::<DaemonSet>::namespaced(client.clone(), ns)
                .get_opt(name)
                .await
                .map(|d| {
                    d.map(|d| {
                        let st = d.status.unwrap_or_default();
                        Controller {
                            kind,
                            labels: d.spec.selector.match_labels.unwrap_or_default(),
                            template: d.spec.template.spec,
                            ready: st.number_ready,
                            want: st.desired_number_scheduled,
                        }
                    })
                }),
            _ => Api::<StatefulSet>::namespaced(client.clone(), ns)
                .get_opt(name)
                .await
                .map(|d| {
                    d.map(|d| Controller {
                        kind,
                        labels: d.spec.selector.match_labels.unwrap_or_default(),
                        template: d.spec.template.spec,
                        ready: d.status.and_then(|s| s.ready_replicas).unwrap_or(0),
                        want: d.spec.replicas.unwrap_or(1),
                    })
                }),
        };
        match found {
            Err(e) => return Err(failed(kind, &e)),
            Ok(Some(c)) => return Ok(Some(c)),
            Ok(None) => {}
        }
    }
    Ok(None)
}

/// A label selector in `k=v,k=v` form.
fn selector_of(labels: &std::collections::BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The names of the objects `api` lists, for evidence when the expected one is missing:
/// `a, b`, or `none` (also when they cannot be listed).
async fn names_in<K>(api: &Api<K>) -> String
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let names: Vec<String> = api
        .list(&ListParams::default())
        .await
        .map(|l| {
            l.items
                .iter()
                .filter_map(|o| o.meta().name.clone())
                .collect()
        })
        .unwrap_or_default();
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}

async fn list_pods(client: &kube::Client, ns: &str, selector: &str) -> Result<Vec<Pod>, Check> {
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    api.list(&ListParams::default().labels(selector))
        .await
        .map(|l| l.items)
        .map_err(|e| {
            api_failure(
                &format!("list the collector's pods in {ns}"),
                &format!("list pods in {ns}"),
                &e,
            )
        })
}
