//! `scraper.delivery`: the canary read back. The scraper writes `up` for every target it
//! scrapes (1: the scrape succeeded, 0: it failed) into its workspace; the canary's job's
//! `up` series must be there, recent (AMP's instant-query lookback is 5 minutes), and 1.
//! Polls up to the arrival deadline (a scraper scrapes every 30 s or more).

use std::time::{Duration, SystemTime};

use super::{BoxFuture, Check, Link, RunContext, Status, diagnose_amp};
use crate::amp_client::{QueryResult, ResultSeries};
use crate::canary::SCRAPER_JOB;
use crate::wait::{Probe, Waited, wait_for};

pub struct ScraperDelivery;

enum Seen {
    Series(Vec<ResultSeries>),
    Refused(Check),
    NoAnswer(String),
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn series_lines(series: &[ResultSeries]) -> String {
    series
        .iter()
        .map(|s| {
            let v = s.points.last().map(|p| p.1).unwrap_or(f64::NAN);
            format!("{} = {v}", crate::readback::fmt_labels(&s.labels))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

impl Link for ScraperDelivery {
    fn check<'a>(&'a self, ctx: &'a RunContext) -> BoxFuture<'a, Check> {
        Box::pin(async move {
            let Some(client) = ctx.data_client() else {
                return Check::fail(
                    "no workspace endpoint to query",
                    "amp.workspace did not provide one",
                );
            };
            let query = format!("up{{job=\"{SCRAPER_JOB}\"}}");
            let probe = || async {
                let answer =
                    tokio::time::timeout(ctx.deadlines.request, client.query(&query, now_ms()))
                        .await;
                match answer {
                    Err(_) => Probe::Pending(Seen::NoAnswer(format!(
                        "no answer from {}api/v1/query within {}",
                        client.endpoint(),
                        ctx.deadlines.request_named()
                    ))),
                    Ok(Err(e)) => Probe::Pending(Seen::NoAnswer(crate::error_chain(&e))),
                    Ok(Ok(QueryResult::Data { series, .. })) => {
                        if series
                            .iter()
                            .any(|s| s.points.last().is_some_and(|p| p.1 == 1.0))
                        {
                            Probe::Done(Seen::Series(series))
                        } else {
                            Probe::Pending(Seen::Series(series))
                        }
                    }
                    Ok(Ok(QueryResult::Refused { exchange, .. })) => {
                        let transient = matches!(exchange.status, Some(429) | Some(500..=599));
                        let d = diagnose_amp("query", &exchange);
                        let c = Check::from_diagnosis(Status::Fail, d)
                            .with("query", exchange.summary());
                        if transient {
                            Probe::Pending(Seen::Refused(c))
                        } else {
                            Probe::Abort(Seen::Refused(c))
                        }
                    }
                }
            };
            let waited = wait_for(
                "the scraper's canary series in the workspace",
                ctx.deadlines.arrival,
                Duration::from_millis(200),
                probe,
            )
            .await;
            let (seen, after) = match waited {
                Waited::Done { value, after, .. } => {
                    let Seen::Series(series) = value else {
                        return Check::fail("unexpected probe result", "report this");
                    };
                    ctx.facts().arrival = Some(after);
                    let up = series
                        .iter()
                        .filter(|s| s.points.last().is_some_and(|p| p.1 == 1.0))
                        .count();
                    let check = if up == series.len() {
                        Check::pass(format!(
                            "the scraper writes the canary: {up} target(s) of job {SCRAPER_JOB} up, read back after {:.1}s",
                            after.as_secs_f64()
                        ))
                    } else {
                        Check::warn(
                            format!(
                                "the scraper writes the canary, but only {up} of {} target(s) of job {SCRAPER_JOB} are up",
                                series.len()
                            ),
                            "a target down is one the scraper could not scrape: its security groups must let the scraper's network interfaces reach the pods' ports",
                        )
                    };
                    return check.with(&query, series_lines(&series));
                }
                Waited::Aborted { value, after, .. } => (Some(value), after),
                Waited::TimedOut { last, after, .. } => (last, after),
            };
            match seen {
                Some(Seen::Refused(c)) => c,
                Some(Seen::Series(series)) if !series.is_empty() => Check::fail(
                    format!(
                        "the scraper writes job {SCRAPER_JOB}, but none of its {} target(s) is up: it cannot scrape them",
                        series.len()
                    ),
                    "the scraper's security groups must let its network interfaces reach the pods' metrics ports, and the pods must serve /metrics",
                )
                .with(&query, series_lines(&series)),
                Some(Seen::NoAnswer(what)) => Check::fail(
                    format!("the workspace did not answer the canary's query: {what}"),
                    "check network access to the workspace's query endpoint",
                ),
                _ => Check::fail(
                    format!(
                        "no series of job {SCRAPER_JOB} arrived in the workspace within {} ({:.1}s)",
                        ctx.deadlines.arrival_named(),
                        after.as_secs_f64()
                    ),
                    "the scraper is ACTIVE and allowed in, yet writes nothing for the canary: check that the canary's pods run and are Ready, and that the scraper's subnets can reach them; a scraper scrapes every scrape_interval (30 s or more)",
                )
                .with(&query, "(no series)"),
            }
        })
    }
}
