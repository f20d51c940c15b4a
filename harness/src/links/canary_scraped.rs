//! `canary.scraped`: does the collector scrape the canary? Asks the collector's targets API
//! for the canary's scrape job and watches the exporter count the scrapes it served; a
//! target that stays down is quoted with the collector's `lastError`. (F17)

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde_json::Value;

use super::{BoxFuture, Check, Link, RunContext};
use crate::canary::SCRAPE_JOB;
use crate::collector::RunState;
use crate::scenario::CollectorKind;
use crate::wait::{Probe, Waited, wait_for};

pub struct CanaryScraped;

/// A target reported down this many times in a row is down, not just starting.
const DOWN_TIMES: u32 = 3;

#[derive(Debug)]
enum Seen {
    /// The targets API has no canary target yet (service discovery takes up to ~5 s).
    NoTarget(String),
    Up {
        scrapes: usize,
        url: String,
    },
    Down {
        error: String,
        url: String,
    },
    Exited(String),
    Unreachable(String),
}

impl Link for CanaryScraped {
    fn check<'a>(&'a self, ctx: &'a RunContext) -> BoxFuture<'a, Check> {
        Box::pin(async move {
            let col = match ctx.local_collector() {
                Ok(c) => c,
                Err(check) => return check,
            };
            let targets_url = col.web_url("/api/v1/targets");
            let downs = AtomicU32::new(0);
            let probe = || {
                let targets_url = targets_url.clone();
                let downs = &downs;
                async move {
                    if let RunState::Exited(code) = col.runtime.lock().await.state().await {
                        return Probe::Abort(Seen::Exited(format!(
                            "the collector exited (status {code:?})"
                        )));
                    }
                    // The OpenTelemetry collector has no targets API: the exporter's count
                    // of scrapes served is the evidence.
                    if col.spec.kind == CollectorKind::Otelcol {
                        let scrapes = col.exporter.scrapes();
                        let url = format!("http://{}/metrics", col.exporter.target());
                        let seen = Seen::Up { scrapes, url };
                        return if scrapes > 0 {
                            Probe::Done(seen)
                        } else {
                            Probe::Pending(seen)
                        };
                    }
                    let body = match ctx
                        .target
                        .http
                        .get(&targets_url)
                        .timeout(ctx.deadlines.request)
                        .send()
                        .await
                    {
                        Ok(r) => r.text().await.unwrap_or_default(),
                        Err(e) if e.is_timeout() => {
                            return Probe::Pending(Seen::Unreachable(format!(
                                "{targets_url} accepted the connection but gave no answer within {}",
                                ctx.deadlines.request_named()
                            )));
                        }
                        Err(e) => {
                            return Probe::Pending(Seen::Unreachable(
                                crate::error_chain(&e).replace('\n', ": "),
                            ));
                        }
                    };
                    let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                    let target = v["data"]["activeTargets"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .find(|t| t["scrapePool"] == SCRAPE_JOB || t["labels"]["job"] == SCRAPE_JOB)
                        .cloned();
                    let Some(t) = target else {
                        return Probe::Pending(Seen::NoTarget(crate::amp_client::truncate(
                            &body, 300,
                        )));
                    };
                    let url = t["scrapeUrl"].as_str().unwrap_or_default().to_string();
                    let scrapes = col.exporter.scrapes();
                    match t["health"].as_str() {
                        Some("up") if scrapes > 0 => Probe::Done(Seen::Up { scrapes, url }),
                        Some("down") => {
                            let times = downs.fetch_add(1, Ordering::Relaxed) + 1;
                            let seen = Seen::Down {
                                error: t["lastError"].as_str().unwrap_or_default().to_string(),
                                url,
                            };
                            if times >= DOWN_TIMES {
                                Probe::Abort(seen)
                            } else {
                                Probe::Pending(seen)
                            }
                        }
                        _ => Probe::Pending(Seen::Up { scrapes, url }),
                    }
                }
            };
            let waited = wait_for(
                "the collector to scrape the canary",
                ctx.deadlines.arrival,
                Duration::from_millis(200),
                probe,
            )
            .await;
            let exporter = format!(
                "canary exporter {} served {} scrape(s)",
                col.exporter.target(),
                col.exporter.scrapes()
            );
            match waited {
                Waited::Done { value: Seen::Up { scrapes, url }, after, .. } => Check::pass(format!(
                    "the collector scrapes the canary at {url} ({scrapes} scrape(s) served, first seen up after {:.1}s)",
                    after.as_secs_f64()
                )),
                Waited::Aborted { value: Seen::Down { error, url, .. }, .. } => Check::fail(
                    format!("the collector cannot scrape the canary: {url}: {error}"),
                    "the scrape target is wrong or unreachable: check the port and address in the scrape config, relabel rules that drop it, and (on Kubernetes) the RBAC that service discovery needs",
                )
                .with("target", format!("{url}: {error}"))
                .with("exporter", exporter),
                Waited::Aborted { value: Seen::Exited(why), .. } => Check::fail(
                    format!("{why} while it should scrape the canary"),
                    "see the collector's last log lines",
                )
                .with("last log lines", col.runtime.lock().await.logs().tail(15).join("\n")),
                Waited::TimedOut { last: Some(Seen::Unreachable(e)), after, attempts } => Check::fail(
                    format!(
                        "the collector's API did not answer within {}: {e} ({attempts} tries over {:.1} s)",
                        ctx.deadlines.arrival_named(),
                        after.as_secs_f64()
                    ),
                    "the collector runs but its web API does not answer (it hangs, is overloaded, or listens elsewhere): see its last log lines",
                )
                .with("last log lines", col.runtime.lock().await.logs().tail(15).join("\n"))
                .with("exporter", exporter),
                Waited::Done { value, .. } | Waited::Aborted { value, .. } | Waited::TimedOut { last: Some(value), .. } => {
                    let detail = match value {
                        Seen::NoTarget(body) => format!("the collector lists no target of job {SCRAPE_JOB}: {body}"),
                        Seen::Up { scrapes, url } => format!("target {url} not up yet; {scrapes} scrape(s) served"),
                        Seen::Down { error, url, .. } => format!("{url}: {error}"),
                        Seen::Unreachable(e) => format!("the collector's API did not answer: {e}"),
                        Seen::Exited(e) => e,
                    };
                    Check::fail(
                        format!("the canary was not scraped within {}", ctx.deadlines.arrival_named()),
                        "the collector does not scrape the canary's target: check its scrape config and log",
                    )
                    .with("last seen", detail)
                    .with("exporter", exporter)
                }
                Waited::TimedOut { last: None, .. } => Check::fail(
                    format!("the collector's targets API gave no answer within {}", ctx.deadlines.arrival_named()),
                    "the collector's web endpoint is not answering",
                ),
            }
        })
    }
}
