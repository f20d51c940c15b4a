//! `collector.config`: is the collector told to write to this pipeline's workspace, in its
//! region, signed? Renders the config for the local collector (starting pipecheck's SigV4
//! proxy when the scenario signs through it) and checks what the collector is given: the
//! remote-write URL names this workspace, and a `sigv4` block signs for the URL's region.
//! (F16) In a cluster (shape `cluster`) nothing is rendered: the config is read where the
//! collector gets it (the OpenTelemetryCollector's `spec.config`, or the Prometheus
//! server's ConfigMap) and judged the same way.

use super::{BoxFuture, Check, Link, RunContext};
use crate::collector::{CollectorConfig, RemoteWrite, SigningProxy, config_file};
use crate::scenario::{CollectorKind, Signing};
use crate::signing::Signer;

pub struct CollectorConfigLink {
    /// The collector runs in the cluster: read its config there (shape `cluster`).
    pub in_cluster: bool,
}

/// A workspace id that is not this run's, for the F16 fault.
const OTHER_WORKSPACE: &str = "ws-0f16f16f-0000-4000-8000-00000000f16f";

impl Link for CollectorConfigLink {
    fn name(&self) -> &'static str {
        "collector.config"
    }

    fn depends_on(&self) -> &'static [&'static str] {
        // A collector that cannot reach its endpoints is network.egress's verdict first.
        if self.in_cluster {
            &["k8s.api", "amp.workspace", "network.egress"]
        } else {
            &["amp.workspace"]
        }
    }

    fn check<'a>(&'a self, ctx: &'a RunContext) -> BoxFuture<'a, Check> {
        Box::pin(async move {
            if self.in_cluster {
                return in_cluster(ctx).await;
            }
            let col = match ctx.local_collector() {
                Ok(c) => c,
                Err(check) => return check,
            };
            let (Some(client), Some(ws)) = (ctx.data_client(), ctx.facts().workspace_id.clone())
            else {
                return Check::fail(
                    "no workspace endpoint to configure",
                    "amp.workspace did not provide one",
                );
            };
            let region = ctx.target.region.clone();
            let workspace_url = client.remote_write_url();
            let mut url = workspace_url.clone();
            if col.faults.other_workspace {
                url = url.replace(&ws, OTHER_WORKSPACE);
            }
            let via_proxy = col.spec.signing == Signing::Proxy;
            let signer_region = (col.spec.signing == Signing::Collector).then(|| region.clone());
            if via_proxy {
                let upstream = match reqwest::Url::parse(&url) {
                    Ok(u) => u,
                    Err(e) => {
                        return Check::fail(
                            format!("the workspace endpoint {url:?} is not a URL"),
                            e.to_string(),
                        );
                    }
                };
                let signer = Signer::new(ctx.target.credentials.clone(), &region);
                match SigningProxy::start(upstream, ctx.target.http.clone(), signer).await {
                    Ok(p) => {
                        url = p.url_for(&url);
                        *col.proxy.lock().await = Some(p);
                    }
                    Err(e) => {
                        return Check::fail(
                            "could not start pipecheck's SigV4 proxy",
                            "see the evidence",
                        )
                        .with("error", e.to_string());
                    }
                }
            }
            let target = if col.faults.wrong_scrape_port {
                unused_port_target()
            } else {
                col.exporter.target()
            };
            let rw = RemoteWrite { url, sigv4_region: signer_region };
            let rendered = match col.spec.kind {
                CollectorKind::Prometheus => CollectorConfig::prometheus(&target, col.spec.scrape_interval, &rw),
                CollectorKind::Otelcol => CollectorConfig::otel(&target, col.spec.scrape_interval, &rw, col.web_port),
            };
            let config = match rendered {
                Ok(c) => c,
                Err(e) => return Check::fail("could not render the collector config", "see the evidence").with("error", crate::error_chain(&e)),
            };
            let path = col.workdir.path().join(config_file(col.spec.kind));
            if let Err(e) = std::fs::write(&path, &config.text) {
                return Check::fail(format!("could not write the collector config to {}", path.display()), "see the evidence").with("error", e.to_string());
            }
            ctx.facts().collector_config = Some(config.clone());
            judge(&config, &workspace_url, &ws, &region, via_proxy)
                .with("config", config.text.clone())
        })
    }
}

/// The config of the collector in the cluster, read where it gets it, then judged.
async fn in_cluster(ctx: &RunContext) -> Check {
    let (Some(client), Some(ws)) = (ctx.data_client(), ctx.facts().workspace_id.clone()) else {
        return Check::fail("no workspace endpoint to compare with", "amp.workspace did not provide one");
    };
    let (config, source) = match read_in_cluster(ctx).await {
        Ok(c) => c,
        Err(check) => return check,
    };
    ctx.facts().collector_config = Some(config.clone());
    judge(&config, &client.remote_write_url(), &ws, &ctx.target.region, false).with("config", source)
}

/// The config of the collector in the cluster, read where it gets it (the
/// OpenTelemetryCollector's `spec.config`, the Prometheus server's ConfigMap), and where
/// it was read (evidence). Err: the failed check saying why it could not be read.
pub(crate) async fn read_in_cluster(ctx: &RunContext) -> Result<(CollectorConfig, String), Check> {
    use k8s_openapi::api::core::v1::ConfigMap;
    use serde_json::Value;

    let (Some(spec), Some(kube)) = (ctx.cluster.as_ref(), ctx.target.kube.as_ref()) else {
        return Err(Check::fail("this scenario has no cluster", "use a scenario with `shape: cluster`"));
    };
    let ns = spec.namespace.as_str();
    let workload = crate::cluster::find_workload(&kube.client, spec).await?;
    let (parsed, source) = match spec.kind {
        crate::scenario::ClusterCollector::Adot => {
            let config = workload
                .resource
                .as_ref()
                .and_then(|r| r.pointer("/spec/config"))
                .cloned()
                .unwrap_or(Value::Null);
            // v1beta1 holds the config as a structure; v1alpha1 as a YAML string.
            let text = match &config {
                Value::Null => {
                    return Err(Check::fail(
                        format!("the OpenTelemetryCollector {ns}/{} has no spec.config", spec.collector),
                        "give the collector a config with a prometheusremotewrite exporter signed by sigv4auth",
                    ));
                }
                Value::String(s) => s.clone(),
                other => serde_saphyr::to_string(other).unwrap_or_default(),
            };
            (
                CollectorConfig::parse_otel(&text),
                format!("OpenTelemetryCollector {ns}/{} spec.config:\n{text}", spec.collector),
            )
        }
        crate::scenario::ClusterCollector::Prometheus => {
            let volumes = workload
                .template
                .as_ref()
                .and_then(|t| t.volumes.clone())
                .unwrap_or_default();
            let cm = volumes
                .iter()
                .filter_map(|v| Some((v.name.as_str(), v.config_map.as_ref()?.name.clone())))
                .min_by_key(|(n, _)| *n != "config-volume")
                .map(|(_, cm)| cm);
            let Some(cm) = cm else {
                return Err(Check::fail(
                    format!("the server {ns}/{} mounts no ConfigMap with its config", spec.collector),
                    "the chart mounts its prometheus.yml from a ConfigMap (volume config-volume): check the deployment",
                ));
            };
            let api: kube::Api<ConfigMap> = kube::Api::namespaced(kube.client.clone(), ns);
            let got = match api.get(&cm).await {
                Ok(c) => c,
                Err(e) => {
                    return Err(crate::cluster::api_failure(
                        &format!("read ConfigMap {ns}/{cm}"),
                        &format!("get configmaps in {ns}"),
                        &e,
                    ));
                }
            };
            let Some(text) = got.data.and_then(|d| d.get("prometheus.yml").cloned()) else {
                return Err(Check::fail(
                    format!("ConfigMap {ns}/{cm} has no prometheus.yml"),
                    "the server reads /etc/config/prometheus.yml from this ConfigMap",
                ));
            };
            (
                CollectorConfig::parse_prometheus(&text),
                format!("ConfigMap {ns}/{cm} prometheus.yml:\n{text}"),
            )
        }
    };
    match parsed {
        Ok(c) => Ok((c, source)),
        Err(e) => Err(Check::fail("the collector's config cannot be read", "see the evidence")
            .with("error", crate::error_chain(&e))
            .with("config", source)),
    }
}

/// Checks a collector config against the pipeline: what the config says, not how it was
/// made, so a user's own config is judged the same way.
pub fn judge(
    config: &CollectorConfig,
    workspace_url: &str,
    ws: &str,
    region: &str,
    via_proxy: bool,
) -> Check {
    let Some(rw) = config.remote_write.first() else {
        return Check::fail(
            "the collector config has no remote_write",
            format!("add a remote_write entry with url: {workspace_url}"),
        );
    };
    let want_path = format!("/workspaces/{ws}/api/v1/remote_write");
    let got = reqwest::Url::parse(&rw.url);
    let got_path = got
        .as_ref()
        .map(|u| u.path().to_string())
        .unwrap_or_default();
    if got_path != want_path {
        let named = got_path
            .strip_prefix("/workspaces/")
            .and_then(|p| p.split('/').next())
            .unwrap_or("");
        let verdict = if named.starts_with("ws-") && named != ws {
            format!(
                "the collector's remote-write URL names workspace {named}, not this pipeline's {ws}"
            )
        } else {
            format!(
                "the collector's remote-write URL {:?} is not this workspace's remote-write path",
                rw.url
            )
        };
        return Check::fail(verdict, format!("set remote_write url to {workspace_url}"));
    }
    if !via_proxy {
        let want = reqwest::Url::parse(workspace_url).ok();
        let same_host = matches!((&got, &want), (Ok(g), Some(w)) if g.host_str() == w.host_str() && g.port_or_known_default() == w.port_or_known_default());
        if !same_host {
            return Check::fail(
                format!(
                    "the collector's remote-write URL {:?} points at another host than the workspace's endpoint",
                    rw.url
                ),
                format!(
                    "set remote_write url to {workspace_url} (the workspace's region is {region})"
                ),
            );
        }
        match rw.sigv4_region.as_deref() {
            None => {
                return Check::fail(
                    "the collector's remote_write has no sigv4 block: its writes go out unsigned",
                    format!(
                        "add `sigv4: {{region: {region}}}` to the remote_write entry, or write through a SigV4 proxy"
                    ),
                );
            }
            Some(r) if r != region => {
                return Check::fail(
                    format!(
                        "the collector signs for region {r:?} but the workspace is in {region}"
                    ),
                    format!("set sigv4.region to {region}, the region in the remote-write URL"),
                );
            }
            Some(_) => {}
        }
    }
    let who = if via_proxy {
        "pipecheck's SigV4 proxy"
    } else {
        "the collector's sigv4 block"
    };
    Check::pass(format!(
        "the collector remote-writes to workspace {ws} in {region}, signed by {who}"
    ))
}

/// A loopback address where nothing listens: bound, then released.
fn unused_port_target() -> String {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.to_string())
        .unwrap_or_else(|_| "127.0.0.1:9".to_string())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::links::Status;

    const WS: &str = "ws-1";
    const URL: &str =
        "https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-1/api/v1/remote_write";

    fn cfg(url: &str, region: Option<&str>) -> CollectorConfig {
        CollectorConfig::prometheus(
            "127.0.0.1:1",
            Duration::from_secs(1),
            &RemoteWrite {
                url: url.into(),
                sigv4_region: region.map(str::to_string),
            },
        )
        .unwrap()
    }

    #[test]
    fn a_matching_signed_config_passes() {
        assert_eq!(
            judge(&cfg(URL, Some("us-east-1")), URL, WS, "us-east-1", false).status,
            Status::Pass
        );
    }

    #[test]
    fn another_workspace_region_or_no_sigv4_fails() {
        let other = URL.replace("ws-1", "ws-2");
        let c = judge(&cfg(&other, Some("us-east-1")), URL, WS, "us-east-1", false);
        assert_eq!(c.status, Status::Fail);
        assert!(c.verdict.contains("names workspace ws-2"), "{}", c.verdict);
        let c = judge(&cfg(URL, Some("eu-west-1")), URL, WS, "us-east-1", false);
        assert!(
            c.verdict.contains("signs for region \"eu-west-1\""),
            "{}",
            c.verdict
        );
        let c = judge(&cfg(URL, None), URL, WS, "us-east-1", false);
        assert!(c.verdict.contains("no sigv4 block"), "{}", c.verdict);
        let c = judge(
            &cfg(&URL.replace("us-east-1", "eu-west-1"), Some("us-east-1")),
            URL,
            WS,
            "us-east-1",
            false,
        );
        assert!(c.verdict.contains("another host"), "{}", c.verdict);
    }

    #[test]
    fn through_the_proxy_only_the_path_must_match() {
        let c = judge(
            &cfg(
                "http://127.0.0.1:5/workspaces/ws-1/api/v1/remote_write",
                None,
            ),
            URL,
            WS,
            "us-east-1",
            true,
        );
        assert_eq!(c.status, Status::Pass, "{}", c.verdict);
    }
}
