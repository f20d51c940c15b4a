//! `k8s.api`: does the kubeconfig reach this cluster's Kubernetes API, with credentials it
//! accepts? The kubeconfig's server must be the EKS cluster's endpoint: otherwise every
//! check after this one would read another cluster.

use super::{BoxFuture, Check, Link, RunContext};
use crate::cluster::api_failure;

pub struct K8sApi;

/// `https://host:port` without a trailing slash or path, lowercased, for comparison.
fn origin(url: &str) -> String {
    let u = url.trim().trim_end_matches('/').to_ascii_lowercase();
    match reqwest::Url::parse(&u) {
        Ok(p) => format!(
            "{}://{}:{}",
            p.scheme(),
            p.host_str().unwrap_or_default(),
            p.port_or_known_default().unwrap_or(443)
        ),
        Err(_) => u,
    }
}

impl Link for K8sApi {
    fn check<'a>(&'a self, ctx: &'a RunContext) -> BoxFuture<'a, Check> {
        Box::pin(async move {
            let Some(kube) = ctx.target.kube.as_ref() else {
                return Check::fail(
                    "no kubeconfig for this run",
                    "pass --kubeconfig (and --context), or set KUBECONFIG",
                );
            };
            let (endpoint, cluster, eks_version) = {
                let f = ctx.facts();
                (
                    f.cluster.endpoint.clone().unwrap_or_default(),
                    f.cluster.name.clone().unwrap_or_default(),
                    f.cluster.version.clone().unwrap_or_default(),
                )
            };
            let context = format!(
                "kubeconfig {} context {:?}: server {}",
                kube.source, kube.context, kube.server
            );
            if origin(&kube.server) != origin(&endpoint) {
                return Check::fail(
                    format!(
                        "the kubeconfig's context {:?} points at {}, not cluster {cluster}'s endpoint {endpoint}",
                        kube.context, kube.server
                    ),
                    format!(
                        "use this cluster's context: --context <name>, or aws eks update-kubeconfig --name {cluster} --region {}",
                        ctx.target.region
                    ),
                )
                .with("kubeconfig", context);
            }
            let call = kube.client.apiserver_version();
            let info = match tokio::time::timeout(ctx.deadlines.request, call).await {
                Err(_) => {
                    return Check::fail(
                        format!("the Kubernetes API at {} did not answer within {}", kube.server, ctx.deadlines.request_named()),
                        "check network access to the cluster's API endpoint (public access, or a route to the private one)",
                    )
                    .with("kubeconfig", context);
                }
                Ok(Err(e)) => {
                    return api_failure(
                        "read the API server's version",
                        "get /version (any authenticated user)",
                        &e,
                    )
                    .with("kubeconfig", context);
                }
                Ok(Ok(v)) => v,
            };
            let served = format!("{}.{}", info.major, info.minor.trim_end_matches('+'));
            // Reading a namespace proves the credentials, not only the TLS and /version.
            let api: kube::Api<k8s_openapi::api::core::v1::Namespace> =
                kube::Api::all(kube.client.clone());
            if let Err(e) = api.get_opt("default").await {
                return api_failure("read namespaces", "get namespaces (cluster scope)", &e)
                    .with("kubeconfig", context);
            }
            let evidence = format!("{context}\n/version {} ({served})", info.git_version);
            if !eks_version.is_empty() && served != eks_version {
                return Check::warn(
                    format!(
                        "the Kubernetes API serves {served} while EKS reports version {eks_version}"
                    ),
                    "a cluster upgrade may be under way: run again when it finished",
                )
                .with("kubeconfig", evidence);
            }
            Check::pass(format!(
                "the Kubernetes API of cluster {cluster} answers ({})",
                info.git_version
            ))
            .with("kubeconfig", evidence)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::origin;

    #[test]
    fn origins_compare_scheme_host_and_port() {
        assert_eq!(
            origin("https://ABC.gr7.us-east-1.eks.amazonaws.com/"),
            origin("https://abc.gr7.us-east-1.eks.amazonaws.com:443")
        );
        assert_ne!(origin("https://127.0.0.1:1"), origin("https://127.0.0.1:2"));
    }
}
