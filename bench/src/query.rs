//! Query: instant and range queries/s over ~1M stored samples, the same data written to
//! the mock and to prometheus through remote write, the same PromQL at the same times.
//!
//! Evaluation times sit between sample timestamps, so Prometheus 2.42's closed range
//! windows and the mock's left-open ones (Prometheus 3) select the same samples and the
//! answers can be compared: each query's answer from the mock is checked against
//! prometheus' before anything is timed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::client::{Endpoint, api_time, now_ms};
use crate::ingest::{Counter, blast};
use crate::payload::{Batch, RequestBuilder, numbers};
use crate::procs::{MockChild, PromChild};
use crate::report::{Report, Row, Verdict, met, ms, si};

pub struct Config {
    pub series: usize,
    pub points: usize,
    pub step_ms: i64,
    pub conns: usize,
    /// How long each (kind, server) pair is driven.
    pub duration: Duration,
    pub max_queries: usize,
}

const METRIC: &str = "bench_query";

fn value(k: usize, j: usize) -> f64 {
    j as f64 * (1.0 + (k % 97) as f64 / 10.0) + k as f64
}

/// Connection `c` writes the series `k` with `k % conns == c`, in time order, 10k
/// samples per request.
fn build(cfg: &Config, start_ms: i64) -> Vec<Vec<Batch>> {
    let names = numbers(cfg.series.max(10));
    let per_conn = cfg.series.div_ceil(cfg.conns);
    let points_per_req = (10_000 / per_conn).max(1);
    (0..cfg.conns)
        .map(|c| {
            let mine: Vec<usize> = (0..cfg.series).filter(|k| k % cfg.conns == c).collect();
            let mut out = Vec::new();
            let mut j0 = 0;
            while j0 < cfg.points {
                let j1 = (j0 + points_per_req).min(cfg.points);
                let mut b = RequestBuilder::new();
                let mut samples = Vec::with_capacity(j1 - j0);
                for &k in &mine {
                    samples.clear();
                    samples
                        .extend((j0..j1).map(|j| (start_ms + j as i64 * cfg.step_ms, value(k, j))));
                    b.series(
                        &[
                            ("__name__", METRIC),
                            ("group", &names[k % 10]),
                            ("job", "pipecheck-bench"),
                            ("series", &names[k]),
                        ],
                        &samples,
                    );
                }
                out.push(b.finish());
                j0 = j1;
            }
            out
        })
        .collect()
}

#[derive(Clone)]
struct Query {
    path: &'static str,
    params: Vec<(&'static str, String)>,
    text: String,
}

fn queries(t_eval: i64) -> (Vec<Query>, Vec<Query>) {
    let instant = [
        r#"bench_query{series="42"}"#,
        "sum(bench_query)",
        "sum by (group) (rate(bench_query[5m]))",
        r#"max_over_time(bench_query{group="3"}[30m])"#,
        "topk(5, bench_query)",
    ]
    .iter()
    .map(|q| Query {
        path: "query",
        params: vec![("query", q.to_string()), ("time", api_time(t_eval))],
        text: q.to_string(),
    })
    .collect();
    let range = [
        ("sum by (group) (rate(bench_query[5m]))", 60),
        (r#"bench_query{series="42"}"#, 15),
        ("avg(bench_query)", 60),
        (r#"rate(bench_query{group="7"}[5m])"#, 60),
    ]
    .iter()
    .map(|(q, step)| Query {
        path: "query_range",
        params: vec![
            ("query", q.to_string()),
            ("start", api_time(t_eval - 3_600_000)),
            ("end", api_time(t_eval)),
            ("step", step.to_string()),
        ],
        text: format!("{q} [1h, step {step}s]"),
    })
    .collect();
    (instant, range)
}

type Answer = Vec<(BTreeMap<String, String>, Vec<(f64, f64)>)>;

fn parse(body: &[u8]) -> Result<Answer, String> {
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let result = v["data"]["result"]
        .as_array()
        .ok_or_else(|| format!("no data.result in {}", String::from_utf8_lossy(body)))?;
    let point = |p: &serde_json::Value| -> (f64, f64) {
        (
            p[0].as_f64().unwrap_or(f64::NAN),
            p[1].as_str()
                .and_then(|s| s.parse().ok())
                .unwrap_or(f64::NAN),
        )
    };
    let mut out: Answer = result
        .iter()
        .map(|s| {
            let labels = s["metric"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                        .collect()
                })
                .unwrap_or_default();
            let points = match (s.get("value"), s.get("values")) {
                (Some(p), _) => vec![point(p)],
                (_, Some(ps)) => ps.as_array().into_iter().flatten().map(point).collect(),
                _ => Vec::new(),
            };
            (labels, points)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

fn same(a: &Answer, b: &Answer) -> Result<(), String> {
    if a.len() != b.len() {
        return Err(format!("{} series vs {}", a.len(), b.len()));
    }
    for ((la, pa), (lb, pb)) in a.iter().zip(b) {
        if la != lb {
            return Err(format!("labels {la:?} vs {lb:?}"));
        }
        if pa.len() != pb.len() {
            return Err(format!("{la:?}: {} points vs {}", pa.len(), pb.len()));
        }
        for (&(ta, va), &(tb, vb)) in pa.iter().zip(pb) {
            let close = (va.is_nan() && vb.is_nan())
                || (va - vb).abs() <= 1e-9 * va.abs().max(vb.abs()).max(1.0);
            if (ta - tb).abs() > 1e-6 || !close {
                return Err(format!("{la:?}: ({ta}, {va}) vs ({tb}, {vb})"));
            }
        }
    }
    Ok(())
}

struct Rate {
    per_sec: f64,
    done: usize,
    failed: usize,
    first_failure: Option<String>,
}

async fn drive(ep: &Endpoint, http: &reqwest::Client, qs: &[Query], cfg: &Config) -> Rate {
    let qs = Arc::new(qs.to_vec());
    let started = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    let per_worker = cfg.max_queries.div_ceil(cfg.conns);
    for w in 0..cfg.conns {
        let (ep, http, qs, duration) = (ep.clone(), http.clone(), qs.clone(), cfg.duration);
        set.spawn(async move {
            let (mut done, mut failed, mut first) = (0usize, 0usize, None);
            let mut i = w;
            while started.elapsed() < duration && done + failed < per_worker {
                let q = &qs[i % qs.len()];
                match ep.get(&http, q.path, &q.params).await {
                    Ok(a) if a.ok() => done += 1,
                    Ok(a) => {
                        failed += 1;
                        first.get_or_insert_with(|| {
                            format!("{}: {} {}", q.text, a.status, a.text())
                        });
                    }
                    Err(e) => {
                        failed += 1;
                        first.get_or_insert(e);
                    }
                }
                i += 1;
            }
            (done, failed, first)
        });
    }
    let mut r = Rate {
        per_sec: 0.0,
        done: 0,
        failed: 0,
        first_failure: None,
    };
    while let Some(Ok((d, f, first))) = set.join_next().await {
        r.done += d;
        r.failed += f;
        if r.first_failure.is_none() {
            r.first_failure = first;
        }
    }
    r.per_sec = r.done as f64 / started.elapsed().as_secs_f64();
    r
}

/// Median latency of `reps` sequential runs of one query.
async fn latency(ep: &Endpoint, http: &reqwest::Client, q: &Query, reps: usize) -> Duration {
    let mut t = Vec::with_capacity(reps);
    for _ in 0..reps {
        let s = Instant::now();
        let _ = ep.get(http, q.path, &q.params).await;
        t.push(s.elapsed());
    }
    t.sort();
    t[t.len() / 2]
}

pub struct Setup {
    pub mock: MockChild,
    pub prom: Option<PromChild>,
}

pub async fn run(
    cfg: &Config,
    http: &reqwest::Client,
    prom_bin: Option<&std::path::Path>,
    report: &mut Report,
) -> Option<Setup> {
    eprintln!("query: starting a fresh mock child and prometheus");
    let mut mock = match MockChild::start() {
        Ok(m) => m,
        Err(e) => {
            report.row(Row::skipped("query, instant", GOAL, e.clone()));
            report.row(Row::skipped("query, range", GOAL, e));
            return None;
        }
    };
    let prom = match prom_bin {
        Some(bin) => match PromChild::start(bin, http).await {
            Ok(p) => Some(p),
            Err(e) => {
                report.note(format!("prometheus did not start: {e}"));
                None
            }
        },
        None => None,
    };
    let end_ms = (now_ms() / cfg.step_ms) * cfg.step_ms - cfg.step_ms;
    let start_ms = end_ms - (cfg.points as i64 - 1) * cfg.step_ms;
    let batches = Arc::new(build(cfg, start_ms));
    let total = cfg.series * cfg.points;
    let mock_ep = mock.endpoint();
    let mut loaded = true;
    let deadline = Duration::from_secs(120);
    let w = blast(&mock_ep, http, &batches, 0, usize::MAX, deadline).await;
    let stored = Counter::Mock(&mut mock).samples(http).await;
    if w.failed > 0 || stored.as_ref().ok() != Some(&(total as u64)) {
        loaded = false;
        report.note(format!(
            "query data on the mock: {} of {total} samples accepted, stored {stored:?}, first refusal {:?}",
            w.samples_ok, w.first_failure
        ));
    }
    eprintln!(
        "  wrote {} samples ({} series x {} points, every {} s) to the mock in {:.1} s",
        w.samples_ok,
        cfg.series,
        cfg.points,
        cfg.step_ms / 1000,
        w.elapsed.as_secs_f64()
    );
    if let Some(p) = &prom {
        let before = p.samples_appended(http).await.unwrap_or(0);
        let w = blast(&p.endpoint(), http, &batches, 0, usize::MAX, deadline).await;
        let after = p.samples_appended(http).await.unwrap_or(0);
        if w.failed > 0 || after - before != total as u64 {
            loaded = false;
            report.note(format!(
                "query data on prometheus: {} of {total} samples accepted, {} appended, first refusal {:?}",
                w.samples_ok,
                after - before,
                w.first_failure
            ));
        }
        eprintln!(
            "  wrote {} samples to prometheus in {:.1} s",
            w.samples_ok,
            w.elapsed.as_secs_f64()
        );
    }
    drop(batches);

    let t_eval = end_ms - cfg.step_ms / 2;
    let (instant, range) = queries(t_eval);
    let prom_ep = prom.as_ref().map(|p| p.endpoint());
    // Same answers, or the comparison means nothing.
    let mut agree = true;
    for q in instant.iter().chain(&range) {
        let m = mock_ep.get(http, q.path, &q.params).await;
        let m = match m {
            Ok(a) if a.ok() => parse(&a.body),
            Ok(a) => Err(format!("{} {}", a.status, a.text())),
            Err(e) => Err(e),
        };
        let Some(pe) = &prom_ep else {
            if let Err(e) = m {
                agree = false;
                report.note(format!("query `{}` on the mock: {e}", q.text));
            }
            continue;
        };
        let p = match pe.get(http, q.path, &q.params).await {
            Ok(a) if a.ok() => parse(&a.body),
            Ok(a) => Err(format!("{} {}", a.status, a.text())),
            Err(e) => Err(e),
        };
        match (m, p) {
            (Ok(m), Ok(p)) => {
                if let Err(d) = same(&m, &p) {
                    agree = false;
                    report.note(format!(
                        "query `{}`: mock and prometheus differ: {d}",
                        q.text
                    ));
                }
            }
            (m, p) => {
                agree = false;
                report.note(format!(
                    "query `{}`: mock {:?}, prometheus {:?}",
                    q.text,
                    m.err(),
                    p.err()
                ));
            }
        }
    }

    for q in instant.iter().chain(&range) {
        let m = latency(&mock_ep, http, q, 5).await;
        let p = match &prom_ep {
            Some(pe) => ms(latency(pe, http, q, 5).await),
            None => "-".into(),
        };
        eprintln!(
            "    latency {:<60} mock {:>9}  prometheus {:>9}",
            q.text,
            ms(m),
            p
        );
    }

    for (kind, qs) in [("instant", &instant), ("range", &range)] {
        let m = drive(&mock_ep, http, qs, cfg).await;
        let p = match &prom_ep {
            Some(pe) => Some(drive(pe, http, qs, cfg).await),
            None => None,
        };
        for (who, r) in [("mock", Some(&m)), ("prometheus", p.as_ref())] {
            if let Some(r) = r
                && r.failed > 0
            {
                report.note(format!(
                    "{kind} queries on {who}: {} failed, first: {}",
                    r.failed,
                    r.first_failure.clone().unwrap_or_default()
                ));
            }
        }
        eprintln!(
            "    {kind}: mock {} queries, prometheus {} queries",
            m.done,
            p.as_ref().map_or(0, |p| p.done)
        );
        let name = format!(
            "query, {kind} ({} samples)",
            si(total as f64).replace(".00", "")
        );
        let row = match p {
            Some(p) => Row {
                name,
                goal: GOAL.into(),
                mock: format!("{} q/s", si(m.per_sec)),
                other: format!("{} q/s", si(p.per_sec)),
                ratio: format!("{:.2}x", m.per_sec / p.per_sec),
                verdict: if loaded && agree && m.failed == 0 && p.failed == 0 {
                    met(m.per_sec >= p.per_sec)
                } else {
                    Verdict::Skipped("data or answers differ (see notes)".into())
                },
            },
            None => Row {
                name,
                goal: GOAL.into(),
                mock: format!("{} q/s", si(m.per_sec)),
                other: "-".into(),
                ratio: "-".into(),
                verdict: Verdict::Skipped("prometheus unavailable".into()),
            },
        };
        report.row(row);
    }
    Some(Setup { mock, prom })
}

const GOAL: &str = "mock >= 1x prometheus";
