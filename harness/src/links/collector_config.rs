//! `collector.config`: is the collector told to write to this pipeline's workspace, in its
//! region, signed? Renders the config for the local collector (starting pipecheck's SigV4
//! proxy when the scenario signs through it) and checks what the collector is given: the
//! remote-write URL names this workspace, and a `sigv4` block signs for the URL's region.
//! (F16) In a cluster (shape `cluster`) nothing is rendered: the config is read where the
//! collector gets it (the OpenTelemetryCollector's `spec.config`, or the Prometheus
//! server's ConfigMap) and judged the same way, then for what only a cluster shows: a
//! `role_arn` naming the role the pods already run as (F30), several replicas without
//! HA external labels (F33), a DaemonSet whose every node scrapes cluster-wide targets
//! (F45), a `Prometheus` resource's sigv4 without a region (F46) and its replicas under
//! the operator's own replica label (F47) (`collector_config_cluster.rs`), and for an
//! OpenTelemetry collector its log: batches its exporter dropped after timeouts or 5xx
//! instead of retrying (F32).

use super::collector_config_cluster as cluster_checks;
use super::{BoxFuture, Check, Link, RunContext, Status};
use crate::collector::{
    CollectorConfig, ExporterDrops, RemoteWrite, SigningProxy, config_file, exporter_drops,
};
use crate::scenario::{CollectorKind, Signing};
use crate::signing::Signer;

pub struct CollectorConfigLink {
    /// The collector runs in the cluster: read its config there (shape `cluster`).
    pub in_cluster: bool,
}

/// A workspace id that is not this run's, for the F16 fault.
const OTHER_WORKSPACE: &str = "ws-0f16f16f-0000-4000-8000-00000000f16f";

impl Link for CollectorConfigLink {
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
                match SigningProxy::start(
                    upstream,
                    ctx.target.http.clone(),
                    signer,
                    ctx.deadlines.request_named(),
                )
                .await
                {
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
            let rw = RemoteWrite {
                url,
                sigv4_region: signer_region,
                ..RemoteWrite::default()
            };
            let rendered = match col.spec.kind {
                CollectorKind::Prometheus => {
                    CollectorConfig::prometheus(&target, col.spec.scrape_interval, &rw)
                }
                CollectorKind::Otelcol => {
                    CollectorConfig::otel(&target, col.spec.scrape_interval, &rw, col.web_port)
                }
            };
            let config = match rendered {
                Ok(c) => c,
                Err(e) => {
                    return Check::fail(
                        "could not render the collector config",
                        "see the evidence",
                    )
                    .with("error", crate::error_chain(&e));
                }
            };
            let path = col.workdir.path().join(config_file(col.spec.kind));
            if let Err(e) = std::fs::write(&path, &config.text) {
                return Check::fail(
                    format!("could not write the collector config to {}", path.display()),
                    "see the evidence",
                )
                .with("error", e.to_string());
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
        return Check::fail(
            "no workspace endpoint to compare with",
            "amp.workspace did not provide one",
        );
    };
    let (config, source, workload) = match cluster_checks::read_in_cluster(ctx).await {
        Ok(c) => c,
        Err(check) => return check,
    };
    let (Some(spec), Some(kube)) = (ctx.cluster.as_ref(), ctx.target.kube.as_ref()) else {
        return Check::fail(
            "this scenario has no cluster",
            "use a scenario with `shape: cluster`",
        );
    };
    let ns = spec.namespace.as_str();
    ctx.facts().collector_config = Some(config.clone());
    if spec.kind == crate::scenario::ClusterCollector::PrometheusOperator
        && let Some(fail) = cluster_checks::operator_sigv4_region(ctx, &workload).await
    {
        return fail.with("config", source);
    }
    let check = judge(
        &config,
        &client.remote_write_url(),
        &ws,
        &ctx.target.region,
        false,
    );
    let Some(rw) = config
        .remote_write
        .first()
        .filter(|_| check.status == Status::Pass)
    else {
        return check.with("config", source);
    };
    // F30, then F33: what the URL and region checks cannot see.
    let check = match cluster_checks::self_assumed_role(ctx, &workload, rw, spec.kind).await {
        Ok(Some(fail)) => return fail.with("config", source),
        Ok(None) => check,
        Err(why) => check.with("sigv4 role_arn not checked", why),
    };
    if let Some(fail) = cluster_checks::ha_labels(ctx, &workload, rw, spec.kind, &spec.name).await {
        return fail.with("config", source);
    }
    // F45, F47: what the shape's own rules add (a DaemonSet's per-node copies, the
    // operator's replica labels).
    if spec.kind.is_otel()
        && let Some(c) = cluster_checks::daemonset_duplicates(ctx, &workload, &config).await
    {
        return c.with("config", source);
    }
    if spec.kind == crate::scenario::ClusterCollector::PrometheusOperator
        && let Some(c) = cluster_checks::operator_replicas(&workload, &spec.name)
    {
        return c.with("config", source);
    }
    // Prometheus retries 5xx and 429 itself: only the OpenTelemetry exporter can be told
    // (or be too old) to drop what a retry would have kept (F32).
    if !spec.kind.is_otel() {
        return check.with("config", source);
    }
    let mut log_lines = Vec::new();
    let mut read = Vec::new();
    for pod in workload.pods.iter().take(DELIVERY_LOG_PODS) {
        let name = crate::cluster::pod_name(pod);
        let container = workload.container.as_str();
        let tail = crate::cluster::last_log_lines(
            &kube.client,
            ns,
            name,
            container,
            false,
            DELIVERY_LOG_LINES,
        );
        match tokio::time::timeout(ctx.deadlines.request, tail).await {
            Ok(Ok(lines)) => {
                read.push(format!(
                    "pod {name} container {container}: {} lines",
                    lines.len()
                ));
                log_lines.extend(lines);
            }
            Ok(Err(f)) => read.push(format!("pod {name}: logs not readable: {}", f.line())),
            Err(_) => read.push(format!(
                "pod {name}: no log within {}",
                ctx.deadlines.request_named()
            )),
        }
    }
    if workload.pods.len() > DELIVERY_LOG_PODS {
        read.push(format!(
            "(the first {DELIVERY_LOG_PODS} of {} pods)",
            workload.pods.len()
        ));
    }
    let drops = exporter_drops(log_lines.iter().map(String::as_str));
    match judge_delivery(&config, &drops) {
        Some(c) => c.with("logs read", read.join("\n")).with("config", source),
        None => check.with("config", source),
    }
}

/// How many of each collector pod's last log lines are searched for dropped batches, and
/// in how many pods at most (a daemonset has one per node).
const DELIVERY_LOG_LINES: i64 = 500;
const DELIVERY_LOG_PODS: usize = 10;

/// F32: does the exporter drop what a retry would have kept? Fails when the collector's
/// log shows batches dropped after timeouts, connection errors, 5xx or 429, with the
/// points summed over those lines; warns when its config switches retry or the queue off
/// and nothing was dropped yet. Drops after 4xx are not this link's: no retry helps them.
pub fn judge_delivery(config: &CollectorConfig, drops: &ExporterDrops) -> Option<Check> {
    let settings = &config.drop_settings;
    let fix = "enable `retry_on_failure` and the queue on the prometheusremotewrite exporter (`retry_on_failure: {enabled: true}`, `remote_write_queue: {enabled: true}`; `sending_queue` on other exporters) so a batch that times out or meets a 5xx or 429 is queued and retried";
    if drops.transient_items > 0 {
        let lines = drops.transient_counts.len();
        let why = if settings.is_empty() {
            "its prometheusremotewrite exporter treats them as not retryable (older exporter versions do)".to_string()
        } else {
            format!("its config sets {}", settings.join(", "))
        };
        let hint = if settings.is_empty() {
            format!(
                "upgrade the collector (ADOT) to a version whose prometheusremotewrite exporter retries timeouts and 5xx, and {fix}"
            )
        } else {
            fix.to_string()
        };
        let terms: Vec<String> = drops.transient_counts.iter().map(u64::to_string).collect();
        let plural = if lines == 1 { "" } else { "s" };
        let mut c = Check::fail(
            format!(
                "the collector dropped {} metric points after timeouts or 5xx instead of retrying ({lines} \"Exporting failed. … Dropping data.\" log line{plural}): {why}",
                drops.transient_items,
            ),
            hint,
        )
        .with(
            "dropped",
            format!(
                "dropped_items summed over {lines} line{plural}: {} = {}",
                terms.join(" + "),
                drops.transient_items
            ),
        )
        .with("causes", drops.transient_causes.join("\n"))
        .with("collector log", drops.lines.join("\n"));
        if !settings.is_empty() {
            c = c.with("exporter settings", settings.join("\n"));
        }
        return Some(c);
    }
    if !settings.is_empty() {
        return Some(
            Check::warn(
                format!(
                    "the collector's exporter will drop data on its first timeout or 5xx: its config sets {}",
                    settings.join(", ")
                ),
                fix,
            )
            .with("exporter settings", settings.join("\n")),
        );
    }
    None
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
                ..RemoteWrite::default()
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

    #[test]
    fn dropped_batches_fail_with_their_sum_and_switched_off_retry_warns() {
        let off = CollectorConfig::parse_otel(
            "exporters:\n  prometheusremotewrite:\n    endpoint: x\n    retry_on_failure:\n      enabled: false\n",
        )
        .unwrap();
        let line = |n: u32| {
            format!(
                "t\terror\texporterhelper/queued_retry.go:391\tExporting failed. The error is not retryable. Dropping data.\t{{\"kind\": \"exporter\", \"name\": \"prometheusremotewrite\", \"error\": \"Permanent error: context deadline exceeded\", \"dropped_items\": {n}}}"
            )
        };
        let logs = [line(500), line(12)];
        let drops = exporter_drops(logs.iter().map(String::as_str));
        let c = judge_delivery(&off, &drops).expect("a verdict");
        assert_eq!(c.status, Status::Fail);
        assert!(
            c.verdict.contains("dropped 512 metric points"),
            "{}",
            c.verdict
        );
        assert!(
            c.verdict.contains("retry_on_failure.enabled: false"),
            "{}",
            c.verdict
        );
        assert!(c.evidence.iter().any(|e| e.body.contains("500 + 12 = 512")));
        let healthy = cfg(URL, Some("us-east-1"));
        let c = judge_delivery(&healthy, &drops).expect("a verdict");
        assert!(
            c.verdict
                .contains("not retryable (older exporter versions do)"),
            "{}",
            c.verdict
        );
        assert!(c.hint.unwrap().starts_with("upgrade the collector"));
        let none = ExporterDrops::default();
        assert_eq!(judge_delivery(&off, &none).unwrap().status, Status::Warn);
        assert!(judge_delivery(&healthy, &none).is_none());
    }
}
