//! Detection lag: from a remote write answered 2xx to the query API returning its sample.
//! Each write is a new series with one current sample; the query is polled at once, then
//! with a doubling pause (1 ms up to 32 ms), for at most 5 s per write.

use std::time::{Duration, Instant};

use crate::client::{Endpoint, now_ms};
use crate::payload::RequestBuilder;
use crate::report::{Report, Row, Verdict, met, ms};

const GOAL: &str = "p99 <= 250 ms (mock)";
const PER_WRITE: Duration = Duration::from_secs(5);
/// The whole measurement of one server stops after this, however many writes are left.
const BUDGET: Duration = Duration::from_secs(30);

pub struct Lags {
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
    pub missed: usize,
    pub failed: Option<String>,
}

async fn measure(ep: &Endpoint, http: &reqwest::Client, n: usize) -> Lags {
    let run = format!("r{}", now_ms());
    let mut lags = Vec::with_capacity(n);
    let mut missed = 0;
    let mut failed = None;
    let started = Instant::now();
    for i in 0..n {
        if started.elapsed() > BUDGET {
            failed.get_or_insert(format!(
                "stopped after {i} writes: the {BUDGET:?} budget ran out"
            ));
            break;
        }
        let id = i.to_string();
        let mut b = RequestBuilder::new();
        b.series(
            &[
                ("__name__", "bench_lag"),
                ("job", "pipecheck-bench"),
                ("n", &id),
                ("run", &run),
            ],
            &[(now_ms(), i as f64)],
        );
        let batch = b.finish();
        match ep.write(http, &batch.body).await {
            Ok(a) if a.ok() => {}
            Ok(a) => {
                failed.get_or_insert(format!("write {} {}", a.status, a.text()));
                continue;
            }
            Err(e) => {
                failed.get_or_insert(e);
                continue;
            }
        }
        let accepted = Instant::now();
        let query = vec![("query", format!(r#"bench_lag{{n="{id}",run="{run}"}}"#))];
        let mut pause = Duration::ZERO;
        let seen = loop {
            if accepted.elapsed() > PER_WRITE {
                break None;
            }
            match ep.get(http, "query", &query).await {
                Ok(a) if a.ok() => {
                    let v: serde_json::Value = serde_json::from_slice(&a.body).unwrap_or_default();
                    if v["data"]["result"]
                        .as_array()
                        .is_some_and(|r| !r.is_empty())
                    {
                        break Some(accepted.elapsed());
                    }
                }
                Ok(a) => {
                    failed.get_or_insert(format!("query {} {}", a.status, a.text()));
                }
                Err(e) => {
                    failed.get_or_insert(e);
                }
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).clamp(Duration::from_millis(1), Duration::from_millis(32));
        };
        match seen {
            Some(d) => lags.push(d),
            None => missed += 1,
        }
    }
    lags.sort();
    let pick = |q: f64| {
        if lags.is_empty() {
            PER_WRITE
        } else {
            lags[((lags.len() as f64 * q).ceil() as usize).clamp(1, lags.len()) - 1]
        }
    };
    Lags {
        p50: pick(0.5),
        p99: pick(0.99),
        max: lags.last().copied().unwrap_or(PER_WRITE),
        missed,
        failed,
    }
}

pub async fn run(
    n: usize,
    http: &reqwest::Client,
    mock: &Endpoint,
    prom: Option<&Endpoint>,
    report: &mut Report,
) {
    eprintln!("detection lag: {n} writes each");
    let m = measure(mock, http, n).await;
    let p = match prom {
        Some(pe) => Some(measure(pe, http, n).await),
        None => None,
    };
    for (who, l) in [("mock", Some(&m)), ("prometheus", p.as_ref())] {
        if let Some(l) = l {
            if let Some(f) = &l.failed {
                report.note(format!("detection lag on {who}: {f}"));
            }
            if l.missed > 0 {
                report.note(format!(
                    "detection lag on {who}: {} of {n} writes not seen within {PER_WRITE:?}",
                    l.missed
                ));
            }
        }
    }
    let show = |l: &Lags| format!("p50 {} / p99 {}", ms(l.p50), ms(l.p99));
    report.note(format!(
        "detection lag max: mock {}{}",
        ms(m.max),
        p.as_ref()
            .map(|p| format!(", prometheus {}", ms(p.max)))
            .unwrap_or_default()
    ));
    report.row(Row {
        name: format!("detection lag ({n} writes)"),
        goal: GOAL.into(),
        mock: show(&m),
        other: p.as_ref().map(show).unwrap_or_else(|| "-".into()),
        ratio: "-".into(),
        verdict: if m.missed > 0 || m.failed.is_some() {
            Verdict::Missed
        } else {
            met(m.p99 <= Duration::from_millis(250))
        },
    });
}
