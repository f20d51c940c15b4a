//! `amp.query`: does the canary come back through AMP's query API, exactly as written?
//! Polls until every series is there with its exact labels and latest value, then checks
//! the counter's whole history with a range query. Records the arrival latency. (F08, F10)

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::{BoxFuture, Check, Link, RunContext, Status, diagnose_amp};
use crate::amp_client::{QueryResult, ResultSeries};
use crate::canary::COUNTER;
use crate::wait::{Probe, Waited, wait_until};

pub struct AmpQuery;

/// Compares what came back with what was written; an empty Vec means identical.
fn differences(expected: &[(BTreeMap<String, String>, f64)], got: &[ResultSeries]) -> Vec<String> {
    let mut diffs = Vec::new();
    let mut seen: BTreeMap<&BTreeMap<String, String>, f64> = BTreeMap::new();
    for s in got {
        if let Some(&(_, v)) = s.points.last() {
            seen.insert(&s.labels, v);
        }
    }
    for (labels, want) in expected {
        match seen.remove(labels) {
            None => diffs.push(format!("missing {}", fmt_labels(labels))),
            Some(v) if v.to_bits() != want.to_bits() => {
                diffs.push(format!("{} = {v}, expected {want}", fmt_labels(labels)))
            }
            Some(_) => {}
        }
    }
    for (labels, v) in seen {
        diffs.push(format!(
            "unexpected series {} = {v} (labels differ from what was written?)",
            fmt_labels(labels)
        ));
    }
    diffs
}

pub fn fmt_labels(l: &BTreeMap<String, String>) -> String {
    let name = l.get("__name__").cloned().unwrap_or_default();
    let rest: Vec<String> = l
        .iter()
        .filter(|(k, _)| *k != "__name__")
        .map(|(k, v)| format!("{k}={v:?}"))
        .collect();
    format!("{name}{{{}}}", rest.join(", "))
}

enum Seen {
    Diffs(Vec<String>, String),
    Refused(Check),
}

impl Link for AmpQuery {
    fn name(&self) -> &'static str {
        "amp.query"
    }

    fn depends_on(&self) -> &'static [&'static str] {
        &["amp.remote_write"]
    }

    fn check<'a>(&'a self, ctx: &'a RunContext) -> BoxFuture<'a, Check> {
        Box::pin(async move {
            let Some(client) = ctx.data_client() else {
                return Check::fail(
                    "no workspace endpoint to query",
                    "amp.workspace did not provide one",
                );
            };
            let canary = &ctx.canary;
            let written_at = ctx.facts().written_at.unwrap_or_else(Instant::now);
            let expected: Vec<(BTreeMap<String, String>, f64)> = canary
                .series
                .iter()
                .map(|s| (s.labels.clone(), s.last().1))
                .collect();
            let selector = canary.selector();
            let probe = || async {
                match tokio::time::timeout(
                    ctx.deadlines.request,
                    client.query(&selector, canary.end_ms),
                )
                .await
                {
                    Err(_) => Probe::Pending(Seen::Diffs(
                        vec![format!("no answer within {:?}", ctx.deadlines.request)],
                        String::new(),
                    )),
                    Ok(Err(e)) => {
                        Probe::Pending(Seen::Diffs(vec![crate::error_chain(&e)], String::new()))
                    }
                    Ok(Ok(QueryResult::Data {
                        series, exchange, ..
                    })) => {
                        let diffs = differences(&expected, &series);
                        if diffs.is_empty() {
                            Probe::Done(Seen::Diffs(diffs, exchange.summary()))
                        } else {
                            Probe::Pending(Seen::Diffs(diffs, exchange.summary()))
                        }
                    }
                    Ok(Ok(QueryResult::Refused { exchange, .. })) => {
                        // 429 and 5xx may pass; AMP's other refusals will not.
                        let transient = matches!(exchange.status, Some(429) | Some(500..=599));
                        let check =
                            Check::from_diagnosis(Status::Fail, diagnose_amp("query", &exchange))
                                .with("query", exchange.summary());
                        if transient {
                            Probe::Pending(Seen::Refused(check))
                        } else {
                            Probe::Abort(Seen::Refused(check))
                        }
                    }
                }
            };
            let waited = wait_until(ctx.deadlines.arrival, Duration::from_millis(10), probe).await;
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
                } => return check,
                Waited::Aborted {
                    value: Seen::Diffs(d, s),
                    ..
                } => return Check::fail("unexpected answer", d.join("; ")).with("query", s),
                Waited::Done {
                    value: Seen::Refused(check),
                    ..
                } => return check,
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
                    let verdict = if missing == expected.len() {
                        format!(
                            "the canary never became queryable: 0 of {} series after {:.1}s, though AMP accepted the write",
                            expected.len(),
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
                    .with("polled", format!("{attempts} queries of {selector} at {} over {:.1}s", canary.end_ms, after.as_secs_f64()));
                    c = c.with("differences", diffs.join("\n"));
                    if !summary.is_empty() {
                        c = c.with("last answer", summary);
                    }
                    return c;
                }
            };
            // Every sample of the counter, not just the newest, must be there.
            let counter = canary.counter();
            let step = canary.interval;
            let counter_query = format!("{COUNTER}{{{}}}", canary.matchers());
            let range = client.query_range(&counter_query, canary.first_ms(), canary.end_ms, step);
            let history = match tokio::time::timeout(ctx.deadlines.request, range).await {
                Ok(Ok(QueryResult::Data { series, .. })) if series.len() == 1 => {
                    series[0].points.clone()
                }
                Ok(Ok(QueryResult::Data {
                    series, exchange, ..
                })) => {
                    return Check::fail(
                        format!(
                            "range query of the counter returned {} series, expected 1",
                            series.len()
                        ),
                        "see the evidence",
                    )
                    .with("query_range", exchange.summary());
                }
                Ok(Ok(QueryResult::Refused { exchange, .. })) => {
                    return Check::from_diagnosis(
                        Status::Fail,
                        diagnose_amp("range query", &exchange),
                    )
                    .with("query_range", exchange.summary());
                }
                Ok(Err(e)) => {
                    return Check::fail("range query of the counter failed", "see the evidence")
                        .with("error", crate::error_chain(&e));
                }
                Err(_) => {
                    return Check::fail(
                        format!(
                            "range query did not answer within {:?}",
                            ctx.deadlines.request
                        ),
                        "the query API is slow or unreachable",
                    );
                }
            };
            if history != counter.samples {
                return Check::fail(
                    "the counter's history differs from what was written",
                    "samples were lost or altered between the write and the query",
                )
                .with("expected", format!("{:?}", counter.samples))
                .with("got", format!("{history:?}"));
            }
            ctx.facts().arrival = Some(after);
            Check::pass(format!(
                "all {} canary series came back exact, {} counter samples included, {:.0} ms after the write",
                expected.len(),
                counter.samples.len(),
                after.as_secs_f64() * 1000.0
            ))
            .with("last answer", last_summary)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn differences_name_missing_wrong_and_unexpected_series() {
        let a = labels(&[("__name__", "a"), ("x", "1")]);
        let b = labels(&[("__name__", "b")]);
        let c = labels(&[("__name__", "c")]);
        let expected = vec![(a.clone(), 1.0), (b.clone(), 2.0)];
        let got = vec![
            ResultSeries {
                labels: a,
                points: vec![(0, 1.0)],
            },
            ResultSeries {
                labels: c,
                points: vec![(0, 3.0)],
            },
        ];
        let d = differences(&expected, &got);
        assert_eq!(d.len(), 2);
        assert!(d[0].starts_with("missing b{}"));
        assert!(d[1].starts_with("unexpected series c{}"));
        let got = vec![ResultSeries {
            labels: b.clone(),
            points: vec![(0, 2.5)],
        }];
        assert!(differences(&[(b, 2.0)], &got)[0].contains("= 2.5, expected 2"));
    }
}
