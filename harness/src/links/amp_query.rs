//! `amp.query`: does the canary come back through AMP's query API, exactly as written?
//! Polls until every series is there with its exact labels and a value the canary
//! produced, then checks the counter's whole history. Records the arrival latency.
//! (F08, F10)

use std::time::{Duration, Instant};

use super::{BoxFuture, Check, Link, RunContext, Status, diagnose_amp};
use crate::amp_client::{AmpDataClient, ClientError, QueryResult};
use crate::canary::{COUNTER, Origin};
use crate::readback::{differences, expected, query_time};
use crate::wait::{Probe, Waited, wait_for};

pub struct AmpQuery;

enum Seen {
    Diffs(Vec<String>, String),
    Refused(Check),
    /// The query got no HTTP answer: a transport failure or the request deadline passed;
    /// what was seen, and the transport's own hint when it has one (no such host).
    NoAnswer(String, Option<String>),
}

/// Queries in a row that may get no answer before the link gives up: the endpoint is
/// gone, waiting out the arrival deadline would not bring it back.
const MAX_UNANSWERED: u32 = 5;

impl Link for AmpQuery {
    fn check<'a>(&'a self, ctx: &'a RunContext) -> BoxFuture<'a, Check> {
        Box::pin(async move {
            let Some(client) = ctx.data_client() else {
                return Check::fail(
                    "no workspace endpoint to query",
                    "amp.workspace did not provide one",
                );
            };
            let canary = &ctx.canary;
            let served = || {
                ctx.collector
                    .as_ref()
                    .map(|c| c.exporter.served_counter())
                    .unwrap_or_default()
            };
            let written_at = ctx.facts().written_at.unwrap_or_else(Instant::now);
            let selector = canary.selector();
            let series_count = canary.series.len();
            let unanswered = std::sync::atomic::AtomicU32::new(0);
            let no_answer = |what: String, hint: Option<String>| {
                let n = unanswered.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                if n >= MAX_UNANSWERED {
                    Probe::Abort(Seen::NoAnswer(what, hint))
                } else {
                    Probe::Pending(Seen::NoAnswer(what, hint))
                }
            };
            let probe = || async {
                let want = expected(canary, &served());
                let answer = tokio::time::timeout(
                    ctx.deadlines.request,
                    client.query(&selector, query_time(canary)),
                )
                .await;
                if !matches!(answer, Err(_) | Ok(Err(ClientError::Transport { .. }))) {
                    unanswered.store(0, std::sync::atomic::Ordering::Relaxed);
                }
                match answer {
                    Err(_) => no_answer(
                        format!(
                            "no answer from {}api/v1/query within {}",
                            client.endpoint(),
                            ctx.deadlines.request_named()
                        ),
                        None,
                    ),
                    Ok(Err(e)) => match e.transport_failure() {
                        Some(f @ crate::amp_client::TransportFailure::NoSuchHost { .. }) => {
                            no_answer(f.what(), Some(f.hint("")))
                        }
                        Some(f) => no_answer(f.what(), None),
                        None => {
                            Probe::Pending(Seen::Diffs(vec![crate::error_chain(&e)], String::new()))
                        }
                    },
                    Ok(Ok(QueryResult::Data {
                        series, exchange, ..
                    })) => {
                        let diffs = differences(&want, &series);
                        if diffs.is_empty() {
                            Probe::Done(Seen::Diffs(diffs, exchange.summary()))
                        } else {
                            Probe::Pending(Seen::Diffs(diffs, exchange.summary()))
                        }
                    }
                    Ok(Ok(QueryResult::Refused { exchange, .. })) => {
                        // 429 and 5xx may pass; AMP's other refusals will not.
                        let transient = matches!(exchange.status, Some(429) | Some(500..=599));
                        let mut d = diagnose_amp("query", &exchange);
                        if d.verdict.contains("clock skew") {
                            // The write was signed by this same clock and accepted: the
                            // clocks parted during the run, not before it.
                            d.verdict = format!(
                                "{}; the write, signed by the same clock {} ms earlier, was accepted: a clock jumped during the run",
                                d.verdict,
                                written_at.elapsed().as_millis()
                            );
                            d.hint = "a clock was stepped while the run went on (this machine's or AMP's): look for a step in chrony/NTP's log or a VM resumed from suspend, and run again once the clocks agree".to_string();
                        }
                        let check = Check::from_diagnosis(Status::Fail, d)
                            .with("query", exchange.summary());
                        if transient {
                            Probe::Pending(Seen::Refused(check))
                        } else {
                            Probe::Abort(Seen::Refused(check))
                        }
                    }
                }
            };
            let waited = wait_for(
                "the canary to come back through the query API",
                ctx.deadlines.arrival,
                Duration::from_millis(10),
                probe,
            )
            .await;
            let (last_summary, after) = match waited {
                Waited::Done {
                    value: Seen::Diffs(_, summary),
                    ..
                } => (summary, written_at.elapsed()),
                Waited::Aborted {
                    value: Seen::Refused(check),
                    ..
                }
                | Waited::TimedOut {
                    last: Some(Seen::Refused(check)),
                    ..
                }
                | Waited::Done {
                    value: Seen::Refused(check),
                    ..
                } => return check,
                Waited::Aborted {
                    value: Seen::Diffs(d, s),
                    ..
                } => return Check::fail("unexpected answer", d.join("; ")).with("query", s),
                Waited::Aborted {
                    value: Seen::NoAnswer(what, hint),
                    after,
                    attempts,
                }
                | Waited::TimedOut {
                    last: Some(Seen::NoAnswer(what, hint)),
                    after,
                    attempts,
                } => {
                    return Check::fail(
                        format!(
                            "AMP's query API gave no response: {what} ({attempts} queries over {:.1} s)",
                            after.as_secs_f64()
                        ),
                        hint.unwrap_or_else(|| "the write was accepted but the query endpoint does not answer: check the network path to the workspace's prometheusEndpoint (a proxy or firewall that drops or holds connections); raise expect.request_timeout if AMP is only slow".to_string()),
                    )
                    .with("query", format!("POST {}api/v1/query", client.endpoint()));
                }
                Waited::Done {
                    value: Seen::NoAnswer(what, _),
                    ..
                } => return Check::fail("unexpected answer", what),
                Waited::TimedOut {
                    last,
                    after,
                    attempts,
                } => {
                    let (diffs, summary) = match last {
                        Some(Seen::Diffs(d, s)) => (d, s),
                        _ => (vec!["no query finished".to_string()], String::new()),
                    };
                    let missing = diffs.iter().filter(|d| d.starts_with("missing")).count();
                    let verdict = if missing == series_count {
                        format!(
                            "the canary never became queryable: 0 of {series_count} series after {:.1}s, though AMP accepted the write",
                            after.as_secs_f64()
                        )
                    } else {
                        format!(
                            "the canary came back incomplete or wrong after {:.1}s: {} difference(s)",
                            after.as_secs_f64(),
                            diffs.len()
                        )
                    };
                    let mut c = Check::fail(
                        verdict,
                        "writes were accepted (200) but the data is not readable: check that the writer and the reader use the same workspace (id and region), that sample timestamps are current, and whether the workspace's ingestion is delayed",
                    )
                    .with("polled", format!("{attempts} queries of {selector} over {:.1}s", after.as_secs_f64()))
                    .with("differences", diffs.join("\n"));
                    if !summary.is_empty() {
                        c = c.with("last answer", summary);
                    }
                    return c;
                }
            };
            if let Err(c) = check_counter_history(ctx, &client).await {
                return c;
            }
            ctx.facts().arrival = Some(after);
            Check::pass(format!(
                "all {series_count} canary series came back with their exact labels and values, the counter's history included, {:.0} ms after the write",
                after.as_secs_f64() * 1000.0
            ))
            .with("last answer", last_summary)
        })
    }
}

/// Every sample of the counter, not just the newest, must be there: for the direct canary
/// exactly the samples written; for a scraped one, increasing values the exporter served.
async fn check_counter_history(ctx: &RunContext, client: &AmpDataClient) -> Result<(), Check> {
    let canary = &ctx.canary;
    let counter_query = format!("{COUNTER}{{{}}}", canary.matchers());
    let answer = tokio::time::timeout(ctx.deadlines.request, async {
        match canary.origin {
            Origin::Direct => {
                client
                    .query_range(
                        &counter_query,
                        canary.first_ms(),
                        canary.end_ms,
                        canary.interval,
                    )
                    .await
            }
            Origin::Scraped { .. } => {
                client
                    .query(&format!("{counter_query}[10m]"), query_time(canary))
                    .await
            }
        }
    })
    .await;
    let Ok(answer) = answer else {
        return Err(Check::fail(
            format!(
                "the counter's history query got no answer within {}",
                ctx.deadlines.request_named()
            ),
            "AMP answered the instant query but not the range query in time: raise expect.request_timeout if AMP is only slow",
        ));
    };
    let history = match answer {
        Ok(QueryResult::Data { series, .. }) if series.len() == 1 => series[0].points.clone(),
        Ok(QueryResult::Data {
            series, exchange, ..
        }) => {
            return Err(Check::fail(
                format!(
                    "the counter's history came back as {} series, expected 1",
                    series.len()
                ),
                "see the evidence",
            )
            .with("query", exchange.summary()));
        }
        Ok(QueryResult::Refused { exchange, .. }) => {
            return Err(Check::from_diagnosis(
                Status::Fail,
                diagnose_amp("history query", &exchange),
            )
            .with("query", exchange.summary()));
        }
        Err(e) => {
            return Err(Check::fail(
                "the counter's history could not be queried",
                "see the evidence",
            )
            .with("error", crate::error_chain(&e)));
        }
    };
    let ok = match canary.origin {
        Origin::Direct => history == canary.counter().samples,
        Origin::Scraped { .. } => {
            let served = ctx
                .collector
                .as_ref()
                .map(|c| c.exporter.served_counter())
                .unwrap_or_default();
            !history.is_empty()
                && history
                    .windows(2)
                    .all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1)
                && history.iter().all(|(_, v)| served.contains(v))
        }
    };
    if ok {
        Ok(())
    } else {
        Err(Check::fail(
            "the counter's history differs from what the canary produced",
            "samples were lost, reordered or altered between the writer and the query",
        )
        .with(
            "expected",
            match canary.origin {
                Origin::Direct => format!("{:?}", canary.counter().samples),
                Origin::Scraped { .. } => {
                    "increasing values, each one the exporter served".to_string()
                }
            },
        )
        .with("got", format!("{history:?}")))
    }
}
