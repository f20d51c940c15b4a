//! `amp.remote_write`: does AMP accept the canary, written the way the scenario's writer
//! writes it? Retries 429 and 5xx like a remote-write sender (the spec: MUST retry 5xx,
//! MAY retry 429, MUST NOT retry other 4xx); success after retries is a warning. (F04-F07,
//! F09, F31)

use std::time::{Duration, Instant};

use super::{BoxFuture, Check, Link, RunContext, Status, diagnose_amp};
use crate::amp_client::{RetriedWrite, Retries};
use crate::wait::{Probe, Waited, wait_for};

/// The writer is the harness itself (direct shape) or the collector (collector shape).
pub struct AmpRemoteWrite {
    pub via_collector: bool,
}

/// Attempts per write: a transient throttle passes, a persistent one fails in seconds.
const MAX_ATTEMPTS: usize = 5;

/// Attempts that may go unanswered until the request deadline: each takes the whole
/// deadline, and the link's own deadline leaves room for two (`run.rs`).
const MAX_UNANSWERED: usize = 2;

impl Link for AmpRemoteWrite {
    fn check<'a>(&'a self, ctx: &'a RunContext) -> BoxFuture<'a, Check> {
        if self.via_collector {
            return Box::pin(collector_writes(ctx));
        }
        Box::pin(async move {
            let Some(client) = ctx.data_client() else {
                return Check::fail(
                    "no workspace endpoint to write to",
                    "amp.workspace did not provide one",
                );
            };
            let req = ctx.canary.write_request();
            let samples: usize = req.timeseries.iter().map(|t| t.samples.len()).sum();
            let body = pipecheck_prompb::encode(&req);
            let retries = Retries {
                max_attempts: MAX_ATTEMPTS,
                max_unanswered: MAX_UNANSWERED,
                attempt_timeout: ctx.deadlines.request,
                ..Retries::default()
            };
            let started = Instant::now();
            let RetriedWrite { last, retried } = client
                .remote_write_retrying(body, &ctx.writer, &retries)
                .await;
            let Some(last) = last else {
                let mut c = Check::fail(
                    format!(
                        "remote write got no answer within {} ({} attempts over {:.1} s)",
                        ctx.deadlines.request_named(),
                        retried.len() + 1,
                        started.elapsed().as_secs_f64()
                    ),
                    "the AMP endpoint accepts the connection but does not answer in time: check network access to aps-workspaces.<region>.amazonaws.com (a proxy or firewall that holds connections) and raise expect.request_timeout if AMP is only slow",
                )
                .with("remote write", client.remote_write_url());
                for (i, r) in retried.iter().enumerate() {
                    c = c.with(format!("attempt {}", i + 1), r.clone());
                }
                return c;
            };
            let ex = match last {
                Ok(ex) => ex,
                Err(e) => {
                    let (verdict, hint) = match e.transport_failure() {
                        Some(f) => (
                            format!(
                                "remote write got no response: {} ({} attempts)",
                                f.what(),
                                retried.len() + 1
                            ),
                            f.hint("something between the harness and AMP drops the connection (a proxy, load balancer or firewall), or the endpoint is not AMP's: check the workspace's prometheusEndpoint and the network path to it"),
                        ),
                        None => (
                            "the canary could not be sent".to_string(),
                            "see the evidence for the cause".to_string(),
                        ),
                    };
                    return Check::fail(verdict, hint).with("error", crate::error_chain(&e));
                }
            };
            let mut check = if ex.is_success() {
                ctx.facts().written_at = Some(Instant::now());
                let what = format!(
                    "AMP accepted the canary: {} series, {samples} samples in {:.0} ms",
                    req.timeseries.len(),
                    started.elapsed().as_secs_f64() * 1000.0
                );
                if retried.is_empty() {
                    Check::pass(what)
                } else {
                    Check::warn(
                        format!(
                            "{what}, after {} retried attempt(s) ({})",
                            retried.len(),
                            first_status(&retried)
                        ),
                        "writes were refused before they passed: a sender with a short retry budget loses data here; check the request rate against the workspace's quotas",
                    )
                }
            } else {
                let mut d = diagnose_amp("remote write", &ex);
                if !retried.is_empty() {
                    d.verdict = format!("{} (after {} attempts)", d.verdict, retried.len() + 1);
                }
                super::diagnosis::mismatch_evidence(&ex).into_iter().fold(
                    Check::from_diagnosis(Status::Fail, d),
                    |c, (label, body)| c.with(label, body),
                )
            };
            for (i, r) in retried.iter().enumerate() {
                check = check.with(format!("attempt {}", i + 1), r.clone());
            }
            check.with(format!("attempt {}", retried.len() + 1), ex.summary())
        })
    }
}

fn first_status(retried: &[String]) -> String {
    retried
        .first()
        .map(|s| {
            s.split(" -> ")
                .nth(1)
                .unwrap_or(s)
                .chars()
                .take(60)
                .collect()
        })
        .unwrap_or_default()
}

/// Retried refusals seen with nothing accepted: a throttle that does not let up.
const PERSISTENT_RETRIES: usize = 5;

/// The collector's writes, judged from what AMP answered it: accepted (pass), accepted
/// after retried refusals (warn), or refused for good or throttled without end (fail).
async fn collector_writes(ctx: &RunContext) -> Check {
    let col = match ctx.local_collector() {
        Ok(c) => c,
        Err(check) => return check,
    };
    let url = ctx.collector_remote_write_url();
    let data = ctx.data_client();
    // Some of the run's samples in AMP: accepted, whatever the collector's counters say.
    let in_amp = || async {
        let Some(client) = &data else { return false };
        let q = format!("count({})", ctx.canary.selector());
        let answer = tokio::time::timeout(
            ctx.deadlines.request,
            client.query(&q, crate::readback::query_time(&ctx.canary)),
        );
        matches!(
            answer.await,
            Ok(Ok(crate::amp_client::QueryResult::Data { series, .. })) if series.iter().any(|s| s.points.iter().any(|p| p.1 > 0.0))
        )
    };
    let probe = || async {
        let mut obs = col.observe(&ctx.target.http).await;
        let accepted = obs.accepted() || (!obs.refusals.is_empty() && in_amp().await);
        obs.seen_in_amp = accepted && !obs.accepted();
        let permanent = obs.refusals.iter().any(|r| !r.retried);
        let retried = obs.refusals.iter().filter(|r| r.retried).count();
        if permanent || (!accepted && retried >= PERSISTENT_RETRIES) {
            Probe::Abort(obs)
        } else if accepted {
            Probe::Done(obs)
        } else {
            Probe::Pending(obs)
        }
    };
    let waited = wait_for(
        "AMP to accept the canary",
        ctx.deadlines.arrival,
        Duration::from_millis(200),
        probe,
    )
    .await;
    let (obs, timed_out) = match waited {
        Waited::Done { value, .. } | Waited::Aborted { value, .. } => (value, false),
        Waited::TimedOut {
            last: Some(value), ..
        } => (value, true),
        Waited::TimedOut { last: None, .. } => {
            return Check::fail(
                "nothing could be observed of the collector's writes",
                "the collector's metrics endpoint does not answer",
            );
        }
    };
    let first_bad = obs
        .refusals
        .iter()
        .find(|r| !r.retried)
        .or_else(|| obs.refusals.first());
    let check = match (obs.accepted() || obs.seen_in_amp, first_bad) {
        (true, None) => Check::pass(format!(
            "AMP accepts the collector's writes ({})",
            obs.counts()
        )),
        // How many batches were refused depends on when the collector's retries fell:
        // the count is evidence, the verdict says what happened.
        (true, Some(r)) if r.retried => Check::warn(
            format!(
                "AMP accepted the collector's writes after refusing some with {}, which the collector retried",
                r.status
            ),
            "writes were refused before they passed: check the send rate against the workspace's quotas; a sender that gives up loses data here",
        )
        .with("refusals", format!("{} refusal(s) retried", obs.refusals.len())),
        (_, Some(r)) => {
            let mut d = diagnose_amp(
                "collector's remote write",
                &crate::collector::as_exchange(&url, r),
            );
            let retried = obs.refusals.iter().filter(|r| r.retried).count();
            if r.retried {
                d.verdict = format!(
                    "{} (every batch refused, retried by the collector, none accepted)",
                    d.verdict
                );
            }
            let check = Check::from_diagnosis(Status::Fail, d);
            if retried > 0 {
                check.with(
                    "refusals",
                    format!("{retried} refused batch(es) retried by the collector"),
                )
            } else {
                check
            }
        }
        (false, None) => Check::fail(
            if timed_out {
                format!(
                    "AMP accepted none of the collector's writes within {}",
                    ctx.deadlines.arrival_named()
                )
            } else {
                "AMP accepted none of the collector's writes".to_string()
            },
            "the collector sends but nothing is accepted: see its log",
        ),
    };
    crate::collector::write_evidence(check, &obs)
}
