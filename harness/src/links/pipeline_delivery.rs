//! `pipeline.delivery`: does the delivered data answer the questions a dashboard asks?
//! Aggregations, offsets, ratios and histogram quantiles over the canary, each compared
//! with the value the canary's known samples imply. The queries are chosen so that
//! Prometheus' semantics give exact answers (no rate extrapolation, a median on a
//! bucket bound), so any difference is a real one.

use std::time::Duration;

use super::{BoxFuture, Check, Link, RunContext, Status, diagnose_amp};
use crate::amp_client::QueryResult;
use crate::canary::{COUNTER, GAUGE, HISTOGRAM, MEDIAN, Origin, RUN_LABEL};

pub struct PipelineDelivery;

/// A consumer query and the value it must return.
#[derive(Debug, Clone, PartialEq)]
pub struct Expectation {
    pub what: &'static str,
    pub query: String,
    pub value: f64,
}

pub fn expectations(ctx: &RunContext) -> Vec<Expectation> {
    let c = &ctx.canary;
    let sel = c.matchers();
    let gauges: Vec<f64> = c.by_name(GAUGE).map(|s| s.last().1).collect();
    let counter = &c.counter().samples;
    let n = counter.len();
    // The sample two intervals back is what `offset 2*interval` selects at the end time.
    let back = Duration::from_millis((c.interval.as_millis() * 2) as u64);
    let count = c
        .by_name(&format!("{HISTOGRAM}_count"))
        .next()
        .map(|s| s.last().1)
        .unwrap_or(0.0);
    let sum = c
        .by_name(&format!("{HISTOGRAM}_sum"))
        .next()
        .map(|s| s.last().1)
        .unwrap_or(0.0);
    let mut exps = vec![
        Expectation {
            what: "sum of the gauges",
            query: format!("sum by ({RUN_LABEL}) ({GAUGE}{{{sel}}})"),
            value: gauges.iter().sum(),
        },
        Expectation {
            what: "count of the gauges",
            query: format!("count({GAUGE}{{{sel}}})"),
            value: gauges.len() as f64,
        },
        Expectation {
            what: "largest gauge",
            query: format!("max({GAUGE}{{{sel}}})"),
            value: gauges.iter().cloned().fold(f64::MIN, f64::max),
        },
        Expectation {
            what: "histogram median",
            query: format!("histogram_quantile(0.5, sum by (le) ({HISTOGRAM}_bucket{{{sel}}}))"),
            value: MEDIAN,
        },
        Expectation {
            what: "histogram mean",
            query: format!("{HISTOGRAM}_sum{{{sel}}} / {HISTOGRAM}_count{{{sel}}}"),
            value: sum / count,
        },
    ];
    // A scraped counter's value depends on which scrape is newest: its history is
    // checked by amp.query instead.
    if c.origin == Origin::Direct {
        exps.push(Expectation {
            what: "counter growth over two intervals",
            query: format!(
                "{COUNTER}{{{sel}}} - {COUNTER}{{{sel}}} offset {}",
                promql_duration(back)
            ),
            value: counter[n - 1].1 - counter[n - 3].1,
        });
    }
    exps
}

/// A PromQL duration: whole seconds, or milliseconds when the duration has a fraction (a
/// watch's canary, whose samples may be closer together than a second).
fn promql_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// Equal up to rounding of the last bits (sums may be added in another order).
fn close(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

impl Link for PipelineDelivery {
    fn check<'a>(&'a self, ctx: &'a RunContext) -> BoxFuture<'a, Check> {
        Box::pin(async move {
            let Some(client) = ctx.data_client() else {
                return Check::fail(
                    "no workspace endpoint to query",
                    "amp.workspace did not provide one",
                );
            };
            let exps = expectations(ctx);
            let mut wrong = Vec::new();
            let mut evidence = Vec::new();
            for e in &exps {
                let answer = tokio::time::timeout(
                    ctx.deadlines.request,
                    client.query(&e.query, crate::readback::query_time(&ctx.canary)),
                )
                .await;
                match answer {
                    Err(_) => wrong.push(format!(
                        "{}: no answer within {}",
                        e.what,
                        ctx.deadlines.request_named()
                    )),
                    Ok(Err(err)) => wrong.push(format!("{}: {}", e.what, crate::error_chain(&err))),
                    Ok(Ok(QueryResult::Refused { exchange, .. })) => {
                        let d = diagnose_amp("query", &exchange);
                        return Check::from_diagnosis(Status::Fail, d)
                            .with(e.what, format!("{}\n{}", e.query, exchange.summary()));
                    }
                    Ok(Ok(QueryResult::Data { series, .. })) => {
                        let got: Vec<f64> = series
                            .iter()
                            .filter_map(|s| s.points.last().map(|p| p.1))
                            .collect();
                        if got.len() == 1 && close(got[0], e.value) {
                            evidence.push(format!("{} = {} ✓", e.query, got[0]));
                        } else {
                            wrong.push(format!(
                                "{}: {} returned {got:?}, expected [{}]",
                                e.what, e.query, e.value
                            ));
                        }
                    }
                }
            }
            if wrong.is_empty() {
                Check::pass(format!(
                    "{} consumer queries over the canary returned the expected values",
                    exps.len()
                ))
                .with("queries", evidence.join("\n"))
            } else {
                Check::fail(
                    format!("{} of {} consumer queries returned wrong values ({})", wrong.len(), exps.len(), wrong[0]),
                    "the raw samples arrived but queries over them disagree: the series were altered (labels, names, timestamps) on the way",
                )
                .with("wrong", wrong.join("\n"))
                .with("right", evidence.join("\n"))
            }
        })
    }
}
