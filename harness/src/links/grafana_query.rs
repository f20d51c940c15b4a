//! `grafana.query`: does the canary come back through Grafana exactly as AMP returned
//! it? (F24) The canary's selector goes to `/api/ds/query` with the run's data source as
//! an instant query at the time `amp.query` used, so Grafana signs it with the
//! workspace's IAM role and asks AMP. Every series must come back with its exact labels
//! and value. An AMP refusal inside the answer (an `error`, a non-200 status, or the
//! "No data" form) is diagnosed and names the workspace role.

use std::time::Duration;

use super::grafana_diagnosis::{diagnose_ds_query, diagnose_grafana, unreachable};
use super::grafana_frames::{DsAnswer, DsQuery, RefResult, ds_query};
use super::{BoxFuture, Check, Link, RunContext, Status};
use crate::amp_client::truncate;
use crate::readback::{differences, expected, query_time};
use crate::wait::{Probe, Waited, wait_for};

pub struct GrafanaQuery;

/// How far back the query's time range starts (an instant query evaluates at its end).
const RANGE: i64 = 5 * 60 * 1000;

enum Seen {
    /// Differences from what AMP returned (empty: none), and the answer's summary.
    Diffs(Vec<String>, String),
    /// The query itself failed: the final verdict.
    Refused(Check),
}

impl Link for GrafanaQuery {
    fn check<'a>(&'a self, ctx: &'a RunContext) -> BoxFuture<'a, Check> {
        Box::pin(async move {
            let inputs = ctx.facts().grafana.query_inputs();
            let Some((client, ds, role)) = inputs else {
                return Check::fail(
                    "no Grafana data source to query",
                    "grafana.datasource did not provide one",
                );
            };
            let canary = &ctx.canary;
            let selector = canary.selector();
            let series_count = canary.series.len();
            let served = || {
                ctx.collector
                    .as_ref()
                    .map(|c| c.exporter.served_counter())
                    .unwrap_or_default()
            };
            let probe = || async {
                let at = query_time(canary);
                let want = expected(canary, &served());
                let q = [DsQuery::instant("A", &selector)];
                let answer = tokio::time::timeout(
                    ctx.deadlines.request,
                    ds_query(&client, &ds, &q, at - RANGE, at),
                )
                .await;
                match answer {
                    Err(_) => Probe::Pending(Seen::Diffs(
                        vec![format!(
                            "no answer within {}",
                            ctx.deadlines.request_named()
                        )],
                        String::new(),
                    )),
                    Ok(DsAnswer::Failed(e)) => Probe::Pending(Seen::Refused(
                        Check::from_diagnosis(Status::Fail, unreachable(client.base(), &e)),
                    )),
                    Ok(DsAnswer::Refused(ex)) => {
                        let c = Check::from_diagnosis(
                            Status::Fail,
                            diagnose_grafana("the data source query (/api/ds/query)", &ex),
                        )
                        .with("/api/ds/query", ex.summary());
                        if matches!(ex.status, Some(429 | 500..=599)) {
                            Probe::Pending(Seen::Refused(c))
                        } else {
                            Probe::Abort(Seen::Refused(c))
                        }
                    }
                    Ok(DsAnswer::Results { results, exchange }) => {
                        let summary = exchange.summary();
                        match results.get("A") {
                            None => Probe::Abort(Seen::Refused(
                                Check::fail(
                                    "Grafana's answer has no result for the query",
                                    "see the evidence for Grafana's answer",
                                )
                                .with("/api/ds/query", summary),
                            )),
                            Some(RefResult::Failed { status, error }) => {
                                let c = Check::from_diagnosis(
                                    Status::Fail,
                                    diagnose_ds_query(*status, error, role.as_deref()),
                                )
                                .with("data source", format!("{:?} uid {}", ds.name, ds.uid))
                                .with("/api/ds/query", summary);
                                if matches!(status, Some(429 | 502 | 503)) {
                                    Probe::Pending(Seen::Refused(c))
                                } else {
                                    Probe::Abort(Seen::Refused(c))
                                }
                            }
                            Some(RefResult::Empty) => Probe::Pending(Seen::Diffs(
                                vec!["no series at all (an empty frame)".to_string()],
                                summary,
                            )),
                            Some(RefResult::Data(series)) => {
                                let diffs = differences(&want, series);
                                if diffs.is_empty() {
                                    Probe::Done(Seen::Diffs(diffs, summary))
                                } else {
                                    Probe::Pending(Seen::Diffs(diffs, summary))
                                }
                            }
                        }
                    }
                }
            };
            let waited = wait_for(
                "the canary to come back through Grafana",
                ctx.deadlines.arrival,
                Duration::from_millis(10),
                probe,
            )
            .await;
            match waited {
                Waited::Done {
                    value: Seen::Diffs(_, summary),
                    after,
                    ..
                } => Check::pass(format!(
                    "all {series_count} canary series came back through Grafana's data source {:?} with the values AMP returned ({:.0} ms)",
                    ds.name,
                    after.as_secs_f64() * 1000.0
                ))
                .with("/api/ds/query", summary),
                Waited::Done {
                    value: Seen::Refused(c),
                    ..
                }
                | Waited::Aborted {
                    value: Seen::Refused(c),
                    ..
                }
                | Waited::TimedOut {
                    last: Some(Seen::Refused(c)),
                    ..
                } => c,
                Waited::Aborted {
                    value: Seen::Diffs(d, s),
                    ..
                }
                | Waited::TimedOut {
                    last: Some(Seen::Diffs(d, s)),
                    ..
                } => {
                    let none = d.iter().all(|x| x.starts_with("missing") || x.starts_with("no series"));
                    let verdict = if none {
                        format!(
                            "Grafana's data source {:?} returns no canary data, though AMP returned all {series_count} series",
                            ds.name
                        )
                    } else {
                        format!(
                            "Grafana returns the canary differently from AMP: {} difference(s)",
                            d.len()
                        )
                    };
                    Check::fail(
                        verdict,
                        "Grafana and the harness do not read the same data: check that the data source's URL is the workspace the canary was written to, and that nothing (a proxy, a recording rule, the data source's settings) rewrites the query",
                    )
                    .with("query", format!("{selector} (instant, through {:?})", ds.name))
                    .with("differences", truncate(&d.join("\n"), 2000))
                    .with("/api/ds/query", s)
                }
                Waited::TimedOut { last: None, after, .. } => Check::fail(
                    format!("Grafana did not answer the data source query within {:.1}s", after.as_secs_f64()),
                    "see the evidence of grafana.api",
                ),
            }
        })
    }
}
