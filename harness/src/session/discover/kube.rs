//! Listing the cluster's collectors through the Kubernetes API, read-only and bounded:
//! OpenTelemetryCollector and Prometheus resources, Deployments, DaemonSets and
//! StatefulSets in every namespace (pages of [`PAGE`], at most [`MAX_PAGES`]), the
//! ConfigMaps their pod templates name (at most [`MAX_READS`] reads), and the service
//! accounts they run as. Each call has the request deadline. A kind that cannot be listed
//! (not served, forbidden) becomes a [`NotListed`] line and discovery goes on; only an
//! API that does not answer at all stops it. Secrets are never read.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{ConfigMap, ServiceAccount};
use kube::Api;
use kube::api::{DynamicObject, ListParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::Value;

use super::amp_url::KnownEndpoints;
use super::found::{Kind, NotListed, Unread};
use super::recognise::{self, Candidate, WorkloadVerdict};
use crate::cluster::{KubeFailure, ROLE_ARN_ANNOTATION};

/// Objects per list page.
pub const PAGE: u32 = 500;
/// Pages per kind: 10 000 objects of a kind at most.
pub const MAX_PAGES: usize = 20;
/// ConfigMap and service account reads in one discovery.
pub const MAX_READS: usize = 400;

/// What the Kubernetes side found.
#[derive(Debug, Default)]
pub struct KubeFindings {
    pub candidates: Vec<Candidate>,
    pub not_listed: Vec<NotListed>,
    pub secret_config: Vec<Unread>,
}

/// Why discovery could not read the cluster at all.
#[derive(Debug, thiserror::Error)]
#[error("failed to reach the Kubernetes API at {server}: {why}")]
pub struct Unreachable {
    pub server: String,
    pub why: String,
}

/// A call with the request deadline; a timeout is a failure without an answer.
async fn timed<T>(
    deadline: Duration,
    call: impl std::future::Future<Output = Result<T, kube::Error>>,
) -> Result<T, KubeFailure> {
    match tokio::time::timeout(deadline, call).await {
        Ok(r) => r.map_err(|e| KubeFailure::of(&e)),
        Err(_) => Err(KubeFailure {
            code: None,
            reason: "Timeout".to_string(),
            message: format!(
                "no answer within the request deadline of {}",
                humantime::format_duration(deadline)
            ),
        }),
    }
}

/// Every object of `ar` in all namespaces, as JSON, page by page.
async fn list_all(
    client: &kube::Client,
    ar: &ApiResource,
    deadline: Duration,
) -> Result<Vec<Value>, KubeFailure> {
    let api: Api<DynamicObject> = Api::all_with(client.clone(), ar);
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let mut lp = ListParams::default().limit(PAGE);
        if let Some(t) = &token {
            lp = lp.continue_token(t);
        }
        let page = timed(deadline, api.list(&lp)).await?;
        token = page.metadata.continue_.clone().filter(|t| !t.is_empty());
        for obj in page.items {
            let mut v = serde_json::to_value(&obj).unwrap_or(Value::Null);
            // List items carry no apiVersion/kind; the resource says what they are.
            v["apiVersion"] = Value::String(ar.api_version.clone());
            v["kind"] = Value::String(ar.kind.clone());
            out.push(v);
        }
        if token.is_none() {
            return Ok(out);
        }
    }
    Ok(out)
}

/// Why a kind could not be listed, for the `not_listed` line.
fn why(f: &KubeFailure, resource: &str, operator: &str) -> String {
    match f.code {
        Some(404) => format!(
            "the cluster does not serve {resource} ({operator} is not installed): {}",
            f.line()
        ),
        Some(403) => format!(
            "not allowed to list {resource} in all namespaces: grant list {resource} (README: what a read-only discover needs): {}",
            f.line()
        ),
        _ => f.line(),
    }
}

fn gvk(group: &str, version: &str, kind: &str) -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind))
}

/// Whether the API answers at all (`/version`, readable by every user).
pub async fn probe(
    client: &kube::Client,
    server: &str,
    deadline: Duration,
) -> Result<(), Unreachable> {
    timed(deadline, client.apiserver_version())
        .await
        .map(|_| ())
        .map_err(|f| Unreachable {
            server: server.to_string(),
            why: f.line(),
        })
}

/// Lists the cluster's collectors (after [`probe`]): what cannot be listed is said.
pub async fn find(
    client: &kube::Client,
    known: &KnownEndpoints,
    deadline: Duration,
) -> KubeFindings {
    let mut out = KubeFindings::default();

    // OpenTelemetryCollector: v1beta1 since the operator's v0.102.0, v1alpha1 before.
    let mut otel = Err(KubeFailure {
        code: None,
        reason: String::new(),
        message: String::new(),
    });
    for version in ["v1beta1", "v1alpha1"] {
        otel = list_all(
            client,
            &gvk("opentelemetry.io", version, "OpenTelemetryCollector"),
            deadline,
        )
        .await;
        if !matches!(&otel, Err(f) if f.not_found()) {
            break;
        }
    }
    match otel {
        Ok(objs) => out.candidates.extend(
            objs.iter()
                .filter_map(|o| recognise::otel_collector(o, known)),
        ),
        Err(f) => out.not_listed.push(NotListed {
            what: "OpenTelemetryCollector resources (opentelemetry.io)".to_string(),
            why: why(
                &f,
                "opentelemetrycollectors.opentelemetry.io",
                "the OpenTelemetry (ADOT) operator",
            ),
        }),
    }

    match list_all(
        client,
        &gvk("monitoring.coreos.com", "v1", "Prometheus"),
        deadline,
    )
    .await
    {
        Ok(objs) => out.candidates.extend(
            objs.iter()
                .filter_map(|o| recognise::prometheus_resource(o, known)),
        ),
        Err(f) => out.not_listed.push(NotListed {
            what: "Prometheus resources (monitoring.coreos.com/v1)".to_string(),
            why: why(
                &f,
                "prometheuses.monitoring.coreos.com",
                "the Prometheus operator",
            ),
        }),
    }

    let mut reads = 0usize;
    let mut configmaps: BTreeMap<(String, String), Option<Value>> = BTreeMap::new();
    for (kind, ar) in [
        (Kind::Deployment, ApiResource::erase::<Deployment>(&())),
        (Kind::DaemonSet, ApiResource::erase::<DaemonSet>(&())),
        (Kind::StatefulSet, ApiResource::erase::<StatefulSet>(&())),
    ] {
        let objs = match list_all(client, &ar, deadline).await {
            Ok(o) => o,
            Err(f) => {
                let resource = format!("{}.apps", ar.plural);
                out.not_listed.push(NotListed {
                    what: format!("{}s", kind.as_str()),
                    why: why(&f, &resource, "the apps API"),
                });
                continue;
            }
        };
        for obj in objs.iter().filter(|o| !recognise::operator_owned(o)) {
            let ns = obj
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let mut mine = BTreeMap::new();
            for name in recognise::configmap_refs(obj) {
                let key = (ns.clone(), name.clone());
                if !configmaps.contains_key(&key) {
                    if reads >= MAX_READS {
                        out.not_listed.push(NotListed {
                            what: format!("ConfigMap {ns}/{name}"),
                            why: format!("more than {MAX_READS} reads in one discovery"),
                        });
                        configmaps.insert(key.clone(), None);
                    } else {
                        reads += 1;
                        let api: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
                        let got = timed(deadline, api.get_opt(&name)).await;
                        let value = match got {
                            Ok(Some(cm)) => serde_json::to_value(&cm).ok(),
                            Ok(None) => None,
                            Err(f) => {
                                out.not_listed.push(NotListed {
                                    what: format!("ConfigMap {ns}/{name}"),
                                    why: why(&f, "configmaps", "the core API"),
                                });
                                None
                            }
                        };
                        configmaps.insert(key.clone(), value);
                    }
                }
                if let Some(Some(cm)) = configmaps.get(&key) {
                    mine.insert(name, cm.clone());
                }
            }
            match recognise::workload(kind, obj, &mine, known) {
                WorkloadVerdict::Writes(c) => out.candidates.push(c),
                WorkloadVerdict::SecretConfig(u) => out.secret_config.push(u),
                WorkloadVerdict::Nothing => {}
            }
        }
    }
    out
}

/// The IRSA role the service account's annotation names: `Ok(None)` when it has none,
/// `Err` with why when it could not be read.
pub async fn irsa_role(
    client: &kube::Client,
    namespace: &str,
    service_account: &str,
    deadline: Duration,
) -> Result<Option<String>, String> {
    let api: Api<ServiceAccount> = Api::namespaced(client.clone(), namespace);
    match timed(deadline, api.get_opt(service_account)).await {
        Ok(Some(sa)) => Ok(sa
            .metadata
            .annotations
            .and_then(|a| a.get(ROLE_ARN_ANNOTATION).cloned())
            .filter(|r| !r.trim().is_empty())),
        Ok(None) => Err(format!(
            "service account {namespace}/{service_account} does not exist"
        )),
        Err(f) => Err(f.line()),
    }
}
