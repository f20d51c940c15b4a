//! `k8s.cert_manager`: is cert-manager installed and ready? The ADOT operator's admission
//! webhooks need its certificates: without it the add-on fails to install and the
//! collector resource is refused with webhook TLS errors. (F19)

use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;

use super::{BoxFuture, Check, Link, RunContext};
use crate::cluster::{KubeFailure, api_failure};

pub struct K8sCertManager;

const NAMESPACE: &str = "cert-manager";
const DEPLOYMENTS: [&str; 3] = [
    "cert-manager",
    "cert-manager-cainjector",
    "cert-manager-webhook",
];

/// `v1.8.2` from an image reference `quay.io/jetstack/cert-manager-controller:v1.8.2`.
fn image_tag(d: &Deployment) -> Option<String> {
    let image = d
        .spec
        .template
        .spec
        .as_ref()?
        .containers
        .first()?
        .image
        .clone()?;
    image.rsplit_once(':').map(|(_, t)| t.to_string())
}

/// `(major, minor)` of a `v1.15.3` tag.
fn minor_of(tag: &str) -> Option<(u32, u32)> {
    let mut it = tag.trim_start_matches('v').split('.');
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

impl Link for K8sCertManager {
    fn check<'a>(&'a self, ctx: &'a RunContext) -> BoxFuture<'a, Check> {
        Box::pin(async move {
            let Some(kube) = ctx.target.kube.as_ref() else {
                return Check::fail("no Kubernetes API for this run", "pass --kubeconfig");
            };
            let api: Api<Deployment> = Api::namespaced(kube.client.clone(), NAMESPACE);
            let mut lines = Vec::new();
            let mut missing = Vec::new();
            let mut not_ready = Vec::new();
            let mut tags = Vec::new();
            for name in DEPLOYMENTS {
                match tokio::time::timeout(ctx.deadlines.request, api.get_opt(name)).await {
                    Err(_) => {
                        return Check::fail(
                            "the Kubernetes API did not answer in time",
                            "check network access to the cluster's API endpoint",
                        );
                    }
                    Ok(Err(e)) if KubeFailure::of(&e).not_found() => missing.push(name),
                    Ok(Err(e)) => {
                        return api_failure(
                            &format!("read deployment {NAMESPACE}/{name}"),
                            &format!("get deployments in {NAMESPACE}"),
                            &e,
                        );
                    }
                    Ok(Ok(None)) => missing.push(name),
                    Ok(Ok(Some(d))) => {
                        let want = d.spec.replicas.unwrap_or(1);
                        let ready = d
                            .status
                            .as_ref()
                            .and_then(|s| s.ready_replicas)
                            .unwrap_or(0);
                        let available = d
                            .status
                            .as_ref()
                            .and_then(|s| s.conditions.as_ref())
                            .and_then(|cs| {
                                cs.iter().find(|c| c.type_.as_deref() == Some("Available"))
                            })
                            .and_then(|c| c.status.clone())
                            .unwrap_or_else(|| "Unknown".into());
                        let tag = image_tag(&d).unwrap_or_else(|| "?".into());
                        lines.push(format!(
                            "deployment {NAMESPACE}/{name}: {ready}/{want} ready, Available {available}, image tag {tag}"
                        ));
                        tags.push(tag);
                        if ready < want || available != "True" {
                            not_ready.push(format!("{name} ({ready}/{want} ready)"));
                        }
                    }
                }
            }
            let evidence = if lines.is_empty() {
                format!("no cert-manager deployments in namespace {NAMESPACE}")
            } else {
                lines.join("\n")
            };
            if missing.len() == DEPLOYMENTS.len() {
                return Check::fail(
                    format!("cert-manager is not installed (no deployments in namespace {NAMESPACE})"),
                    "install cert-manager before the adot add-on (kubectl apply -f https://github.com/cert-manager/cert-manager/releases/download/<version>/cert-manager.yaml, or helm); the ADOT operator's webhooks need its certificates",
                )
                .with("cert-manager", evidence);
            }
            if !missing.is_empty() {
                return Check::fail(
                    format!("cert-manager is incomplete: missing {}", missing.join(", ")),
                    "reinstall cert-manager; all three deployments (controller, cainjector, webhook) are needed",
                )
                .with("cert-manager", evidence);
            }
            if !not_ready.is_empty() {
                return Check::fail(
                    format!("cert-manager is not ready: {}", not_ready.join(", ")),
                    format!(
                        "see why its pods are not ready: kubectl -n {NAMESPACE} get pods; kubectl -n {NAMESPACE} describe pod <name> (until then the ADOT operator's webhooks fail with TLS errors)"
                    ),
                )
                .with("cert-manager", evidence);
            }
            let old = tags
                .iter()
                .filter_map(|t| minor_of(t))
                .any(|(major, minor)| major == 1 && minor <= 8);
            if old {
                return Check::warn(
                    format!(
                        "cert-manager is ready but old ({}): 1.8 and before are end of life",
                        tags[0]
                    ),
                    "upgrade cert-manager to a supported release for this Kubernetes version",
                )
                .with("cert-manager", evidence);
            }
            Check::pass(format!("cert-manager is installed and ready ({})", tags[0]))
                .with("cert-manager", evidence)
        })
    }
}
