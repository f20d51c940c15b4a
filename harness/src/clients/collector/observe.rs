//! What the harness can see of a collector's remote writes without touching AMP: the
//! collector's own metrics (`prometheus_remote_storage_*`), its log lines about remote
//! write (Prometheus logs AMP's status and body for every refused batch), and, when the
//! proxy signs, what the proxy forwarded and what AMP answered it. The collector links
//! read it all from here.

use std::sync::OnceLock;

use regex::Regex;

use super::proxy::{OWN_ERROR, ProxyStats};
use super::runtime::LogRing;

/// One refusal AMP gave the collector.
#[derive(Clone, Debug, PartialEq)]
pub struct WriteRefusal {
    pub status: u16,
    pub body: String,
    /// The collector will retry it (429, 5xx) rather than drop the data.
    pub retried: bool,
}

#[derive(Clone, Debug, Default)]
pub struct WriteObservation {
    /// Samples the collector tried to send / failed for good / retried / dropped, from its
    /// own metrics (Prometheus counts failed and retried samples in `samples_total` too);
    /// None when its metrics could not be read.
    pub sent: Option<f64>,
    /// Samples (points) a collector reports as delivered, for collectors that count
    /// successes directly (the OpenTelemetry collector's `otelcol_exporter_sent_*`).
    pub succeeded: Option<f64>,
    pub failed: Option<f64>,
    pub retried: Option<f64>,
    pub dropped: Option<f64>,
    pub metrics_error: Option<String>,
    /// Refusals, oldest first: from the collector's log, then the proxy's record.
    pub refusals: Vec<WriteRefusal>,
    /// The collector's log lines about remote write at warn or error level (newest last).
    pub log_lines: Vec<String>,
    pub proxy: Option<ProxyStats>,
    /// Set by the judge when some of the run's samples were found in AMP itself.
    pub seen_in_amp: bool,
}

impl WriteObservation {
    /// Whether anything was tried yet: samples out, or an answer from AMP.
    pub fn attempted(&self) -> bool {
        self.sent.unwrap_or(0.0) + self.failed.unwrap_or(0.0) + self.retried.unwrap_or(0.0) > 0.0
            || !self.refusals.is_empty()
            || self.proxy.as_ref().is_some_and(|p| p.requests > 0)
    }

    /// Samples that went out and were neither refused nor retried: AMP accepted them.
    pub fn accepted_samples(&self) -> f64 {
        match self.succeeded {
            Some(ok) => ok,
            None => (self.sent.unwrap_or(0.0)
                - self.failed.unwrap_or(0.0)
                - self.retried.unwrap_or(0.0))
            .max(0.0),
        }
    }

    /// AMP accepted some of the collector's writes, as far as the collector's side shows:
    /// the proxy saw a 2xx, or samples went out and nothing was refused. Prometheus counts
    /// a batch in `samples_total` before it is answered, so with refusals in the log its
    /// counters cannot tell an accepted batch from one in flight: then only AMP can say.
    pub fn accepted(&self) -> bool {
        match &self.proxy {
            // The proxy saw AMP's answers: a batch the collector counts as sent may still
            // be waiting for one.
            Some(p) => p.accepted > 0,
            None => self.refusals.is_empty() && self.accepted_samples() > 0.0,
        }
    }

    /// A one-line count for evidence.
    pub fn counts(&self) -> String {
        let n = |v: Option<f64>| v.map(|v| format!("{v}")).unwrap_or_else(|| "?".into());
        format!(
            "collector samples: sent {} · failed {} · retried {} · dropped {} (prometheus_remote_storage_samples_*)",
            n(self.sent),
            n(self.failed),
            n(self.retried),
            n(self.dropped)
        )
    }
}

/// Reads the collector's metrics at `metrics_url`, its log and the proxy's record.
pub async fn observe_writes(
    http: &reqwest::Client,
    metrics_url: &str,
    logs: &LogRing,
    proxy: Option<ProxyStats>,
) -> WriteObservation {
    let mut obs = WriteObservation::default();
    match fetch(http, metrics_url).await {
        Ok(text) if text.contains("otelcol_") => {
            // The OpenTelemetry collector counts delivered and failed points per exporter.
            let ok = sum(&text, "otelcol_exporter_sent_metric_points")
                + sum(&text, "otelcol_exporter_sent_metric_points_total");
            let failed = sum(&text, "otelcol_exporter_send_failed_metric_points")
                + sum(&text, "otelcol_exporter_send_failed_metric_points_total");
            obs.succeeded = Some(ok);
            obs.sent = Some(ok + failed);
            obs.failed = Some(failed);
        }
        Ok(text) => {
            obs.sent = Some(sum(&text, "prometheus_remote_storage_samples_total"));
            obs.failed = Some(sum(&text, "prometheus_remote_storage_samples_failed_total"));
            obs.retried = Some(sum(
                &text,
                "prometheus_remote_storage_samples_retried_total",
            ));
            obs.dropped = Some(sum(
                &text,
                "prometheus_remote_storage_samples_dropped_total",
            ));
        }
        Err(e) => obs.metrics_error = Some(e),
    }
    for line in logs.all() {
        if !is_remote_problem(&line) {
            continue;
        }
        // The proxy's own 502s (AMP did not answer it) are no answer of AMP's.
        if let Some(r) = refusal_in_log(&line).filter(|r| !r.body.contains(OWN_ERROR)) {
            obs.refusals.push(r);
        }
        obs.log_lines.push(line);
    }
    if let Some(p) = &proxy {
        obs.refusals
            .extend(p.refusals.iter().map(|(status, body)| WriteRefusal {
                status: *status,
                body: body.clone(),
                retried: *status == 429 || *status >= 500,
            }));
    }
    obs.proxy = proxy;
    obs
}

async fn fetch(http: &reqwest::Client, url: &str) -> Result<String, String> {
    let resp = http
        .get(url)
        .timeout(std::time::Duration::from_secs(5))
        .send()
        .await
        .map_err(|e| crate::error_chain(&e).replace('\n', ": "))?;
    resp.text().await.map_err(|e| e.to_string())
}

/// Sums every series of a metric in a text exposition.
fn sum(text: &str, metric: &str) -> f64 {
    text.lines()
        .filter(|l| {
            l.starts_with(metric)
                && matches!(l.as_bytes().get(metric.len()), Some(b'{') | Some(b' '))
        })
        .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
        .sum()
}

fn is_remote_problem(line: &str) -> bool {
    let prometheus = line.contains("component=remote")
        && (line.contains("level=error") || line.contains("level=warn"));
    // otelcol logs through zap: a level word and the exporter's name on the line.
    let otelcol =
        line.contains("prometheusremotewrite") && (line.contains("error") || line.contains("warn"));
    prometheus || otelcol
}

/// Prometheus logs a refused batch as
/// `err="server returned HTTP status 403 Forbidden: {\"message\":\"…\"}"` (logfmt-quoted).
/// The OpenTelemetry collector's prometheusremotewrite exporter says
/// `remote write returned HTTP status 403 Forbidden; err = %!w(<nil>): <body>` [unconfirmed:
/// read from its source, not seen here, as no otelcol binary runs on these machines].
fn refusal_in_log(line: &str) -> Option<WriteRefusal> {
    static RE: OnceLock<Regex> = OnceLock::new();
    static OTEL: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| {
        Regex::new(r#"err="server returned HTTP status (\d{3})[^:]*: ((?:[^"\\]|\\.)*)""#)
            .expect("valid regex")
    });
    let otel = OTEL.get_or_init(|| {
        Regex::new(r#"HTTP status (\d{3})[^;]*; err = [^:]*: ((?:[^"\\]|\\.)*)"#)
            .expect("valid regex")
    });
    let caps = re.captures(line).or_else(|| otel.captures(line))?;
    let status: u16 = caps[1].parse().ok()?;
    let body = caps[2]
        .replace("\\\"", "\"")
        .replace("\\n", "\n")
        .replace("\\\\", "\\");
    Some(WriteRefusal {
        status,
        body,
        retried: line.contains("retrying") || status == 429 || status >= 500,
    })
}

/// What an OpenTelemetry collector's exporter lost, read from its log (F32): the
/// exporter helper logs every batch it gives up on as `Exporting failed. … Dropping data.`
/// (or `Rejecting data.` on newer collectors) with the batch's size in `dropped_items`
/// (`rejected_items`). [unconfirmed: the texts are from the collector's exporterhelper
/// source and users' issue reports, not seen here; aws-wire.md does not list them.]
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ExporterDrops {
    /// Points lost after a transient failure (a timeout, a connection error, 5xx, 429):
    /// an exporter that retries and queues would have kept them.
    pub transient_items: u64,
    /// Points lost after a permanent refusal (4xx): no retry would have helped.
    pub permanent_items: u64,
    /// The items of each transient line, in log order (the sum's terms, for evidence).
    pub transient_counts: Vec<u64>,
    /// The log lines that reported a loss, oldest first.
    pub lines: Vec<String>,
    /// The distinct causes of the transient losses (the `error` field, shortened).
    pub transient_causes: Vec<String>,
}

/// Reads the remote-write exporter's loss lines out of a collector's log lines. Both zap
/// encodings are read: console (`…\tExporting failed. …\t{"kind": "exporter", …}`) and
/// JSON (`{"level":"error",…,"msg":"Exporting failed. …",…}`).
pub fn exporter_drops<'a>(lines: impl IntoIterator<Item = &'a str>) -> ExporterDrops {
    static NAME: OnceLock<Regex> = OnceLock::new();
    static ITEMS: OnceLock<Regex> = OnceLock::new();
    static ERROR: OnceLock<Regex> = OnceLock::new();
    let name = NAME.get_or_init(|| Regex::new(r#""name":\s*"([^"]*)""#).expect("valid regex"));
    let items = ITEMS.get_or_init(|| {
        Regex::new(r#""(?:dropped|rejected)_items":\s*(\d+)"#).expect("valid regex")
    });
    let error =
        ERROR.get_or_init(|| Regex::new(r#""error":\s*"((?:[^"\\]|\\.)*)""#).expect("valid regex"));
    let mut out = ExporterDrops::default();
    for line in lines {
        let lost = line.contains("Exporting failed.")
            && (line.contains("Dropping data") || line.contains("Rejecting data"));
        let remote_write = name
            .captures(line)
            .is_some_and(|c| c[1].split('/').next() == Some("prometheusremotewrite"));
        let Some(n) = items.captures(line).and_then(|c| c[1].parse::<u64>().ok()) else {
            continue;
        };
        if !lost || !remote_write {
            continue;
        }
        let cause = error
            .captures(line)
            .map(|c| c[1].replace("\\\"", "\""))
            .unwrap_or_default();
        if is_transient(&cause) {
            out.transient_items += n;
            out.transient_counts.push(n);
            let short = crate::amp_client::truncate(&cause, 200);
            if !out.transient_causes.contains(&short) {
                out.transient_causes.push(short);
            }
        } else {
            out.permanent_items += n;
        }
        out.lines.push(line.to_string());
    }
    out
}

/// A failure a retry can outlive: no answer in time, a broken connection, or AMP's 5xx
/// and 429 (remote write 1.0: senders MUST retry 5xx, MAY retry 429, aws-wire.md A).
fn is_transient(cause: &str) -> bool {
    static STATUS: OnceLock<Regex> = OnceLock::new();
    let status = STATUS.get_or_init(|| Regex::new(r"HTTP status (\d{3})").expect("valid regex"));
    if let Some(code) = status
        .captures(cause)
        .and_then(|c| c[1].parse::<u16>().ok())
    {
        return code == 429 || code >= 500;
    }
    let c = cause.to_ascii_lowercase();
    [
        "deadline exceeded",
        "timeout",
        "connection refused",
        "connection reset",
        "broken pipe",
        "eof",
        "no such host",
    ]
    .iter()
    .any(|w| c.contains(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Prometheus counts a batch as sent before it is answered: behind the proxy, only
    /// the proxy's record of AMP's 2xx is an acceptance, and its own 502s (AMP did not
    /// answer it) are no refusal of AMP's.
    #[tokio::test]
    async fn behind_the_proxy_only_amps_answers_count() {
        let logs = LogRing::default();
        logs.push(format!(
            r#"ts=x component=remote level=warn msg="Failed to send batch, retrying" err="server returned HTTP status 502 Bad Gateway: {OWN_ERROR} no answer from http://a/api/v1/remote_write within the request deadline of 1 s""#
        ));
        let http = reqwest::Client::new();
        let pending = ProxyStats {
            errors: vec!["no answer".into()],
            ..ProxyStats::default()
        };
        // Port 9 (discard): the metrics cannot be read, the log and the proxy still are.
        let mut obs =
            observe_writes(&http, "http://127.0.0.1:9/metrics", &logs, Some(pending)).await;
        assert!(obs.refusals.is_empty(), "{:?}", obs.refusals);
        obs.sent = Some(15.0);
        assert!(!obs.accepted(), "sent but unanswered is not accepted");
        obs.proxy.as_mut().unwrap().accepted = 1;
        assert!(obs.accepted());
    }

    #[test]
    fn reads_prometheus_refusal_lines() {
        let line = r#"ts=2026-11-26T13:18:15.056Z caller=dedupe.go:112 component=remote level=error remote_name=ca45bb url=http://x msg="non-recoverable error" count=402 exemplarCount=0 err="server returned HTTP status 403 Forbidden: {\"message\":\"Missing Authentication Token\"}""#;
        assert!(is_remote_problem(line));
        let r = refusal_in_log(line).unwrap();
        assert_eq!(r.status, 403);
        assert_eq!(r.body, r#"{"message":"Missing Authentication Token"}"#);
        assert!(!r.retried);
        let retry = r#"ts=x component=remote level=warn msg="Failed to send batch, retrying" err="server returned HTTP status 429 Too Many Requests: {\"message\":\"Rate exceeded\"}""#;
        let r = refusal_in_log(retry).unwrap();
        assert_eq!((r.status, r.retried), (429, true));
        assert!(
            refusal_in_log("component=remote level=info msg=\"Starting WAL watcher\"").is_none()
        );
        let otel = r#"2026-11-26T13:00:00Z	error	exporterhelper/queue_sender.go:101	Exporting failed. Dropping data.	{"kind": "exporter", "name": "prometheusremotewrite", "error": "Permanent error: Permanent error: remote write returned HTTP status 403 Forbidden; err = %!w(<nil>): {\"message\":\"Missing Authentication Token\"}"}"#;
        assert!(is_remote_problem(otel));
        let r = refusal_in_log(otel).unwrap();
        assert_eq!(
            (r.status, r.body.as_str()),
            (403, r#"{"message":"Missing Authentication Token"}"#)
        );
    }

    const DROP_TIMEOUT: &str = "2026-11-26T13:00:00.000Z\terror\texporterhelper/queued_retry.go:391\tExporting failed. The error is not retryable. Dropping data.\t{\"kind\": \"exporter\", \"data_type\": \"metrics\", \"name\": \"prometheusremotewrite\", \"error\": \"Permanent error: Post \\\"https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-1/api/v1/remote_write\\\": context deadline exceeded\", \"dropped_items\": 500}";

    #[test]
    fn sums_the_points_the_exporter_dropped_after_transient_failures() {
        let json_503 = r#"{"level":"error","ts":1764162000.1,"caller":"exporterhelper/common.go:296","msg":"Exporting failed. Rejecting data.","kind":"exporter","data_type":"metrics","name":"prometheusremotewrite/amp","error":"remote write returned HTTP status 503 Service Unavailable; err = %!w(<nil>): upstream timeout","rejected_items":237}"#;
        let refused_400 = r#"2026-11-26T13:00:02Z	error	exporterhelper/queued_retry.go:391	Exporting failed. The error is not retryable. Dropping data.	{"kind": "exporter", "name": "prometheusremotewrite", "error": "Permanent error: remote write returned HTTP status 400 Bad Request; err = %!w(<nil>): out of order sample", "dropped_items": 40}"#;
        let other_exporter = r#"2026-11-26T13:00:03Z	error	exporterhelper/queued_retry.go:391	Exporting failed. The error is not retryable. Dropping data.	{"kind": "exporter", "name": "otlphttp", "error": "context deadline exceeded", "dropped_items": 9}"#;
        let retrying = r#"2026-11-26T13:00:04Z	info	exporterhelper/queued_retry.go:423	Exporting failed. Will retry the request after interval.	{"kind": "exporter", "name": "prometheusremotewrite", "error": "context deadline exceeded", "interval": "5.5s"}"#;
        let d = exporter_drops([
            DROP_TIMEOUT,
            DROP_TIMEOUT,
            json_503,
            refused_400,
            other_exporter,
            retrying,
            "unrelated",
        ]);
        assert_eq!(d.transient_items, 1237);
        assert_eq!(d.transient_counts, vec![500, 500, 237]);
        assert_eq!(d.permanent_items, 40);
        assert_eq!(d.lines.len(), 4);
        assert_eq!(d.transient_causes.len(), 2, "{:?}", d.transient_causes);
        assert!(
            d.transient_causes[0].ends_with("/api/v1/remote_write\": context deadline exceeded"),
            "{:?}",
            d.transient_causes
        );
        assert_eq!(
            exporter_drops(["Exporting failed. Dropping data. no fields"]),
            ExporterDrops::default()
        );
    }

    #[test]
    fn sums_metric_series() {
        let text = "# HELP x\nprometheus_remote_storage_samples_total{a=\"1\"} 3\nprometheus_remote_storage_samples_total{a=\"2\"} 4\nprometheus_remote_storage_samples_total_other 9\n";
        assert_eq!(sum(text, "prometheus_remote_storage_samples_total"), 7.0);
    }
}
