//! `k8s.namespace`: does the collector's namespace exist and is it Active?

use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use kube::api::ListParams;

use super::{BoxFuture, Check, Link, RunContext};
use crate::cluster::api_failure;

pub struct K8sNamespace;

impl Link for K8sNamespace {
    fn check<'a>(&'a self, ctx: &'a RunContext) -> BoxFuture<'a, Check> {
        Box::pin(async move {
            let (Some(spec), Some(kube)) = (ctx.cluster.as_ref(), ctx.target.kube.as_ref()) else {
                return Check::fail(
                    "this scenario has no cluster",
                    "use a scenario with `shape: cluster`",
                );
            };
            let ns = spec.namespace.as_str();
            let api: Api<Namespace> = Api::all(kube.client.clone());
            let got = match tokio::time::timeout(ctx.deadlines.request, api.get_opt(ns)).await {
                Err(_) => {
                    return Check::fail(
                        "the Kubernetes API did not answer in time",
                        "check network access to the cluster's API endpoint",
                    );
                }
                Ok(Err(e)) => {
                    return api_failure(&format!("read namespace {ns}"), "get namespaces", &e);
                }
                Ok(Ok(n)) => n,
            };
            let Some(n) = got else {
                let names: Vec<String> = api
                    .list(&ListParams::default())
                    .await
                    .map(|l| {
                        l.items
                            .iter()
                            .filter_map(|n| n.metadata.name.clone())
                            .collect()
                    })
                    .unwrap_or_default();
                return Check::fail(
                    format!("namespace {ns} does not exist"),
                    "check the namespace in the scenario (cluster.namespace) against where the collector was installed (helm -n / kubectl -n)",
                )
                .with("namespaces", names.join(", "));
            };
            let phase = n
                .status
                .and_then(|s| s.phase)
                .unwrap_or_else(|| "Active".to_string());
            if phase != "Active" {
                return Check::fail(
                    format!("namespace {ns} is {phase}"),
                    "a Terminating namespace is being deleted with everything in it",
                );
            }
            Check::pass(format!("namespace {ns} exists and is Active"))
        })
    }
}
