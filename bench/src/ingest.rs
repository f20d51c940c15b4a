//! Ingest: remote-write samples/s into the mock AMP (SigV4 verified) and into prometheus'
//! remote-write receiver, the same pre-built payloads to both, several connections.
//!
//! Every connection owns its own series (so its timestamps only go forward), sends one
//! untimed warm-up request that creates them, then the timed requests, each a new sample
//! per series at a new, current timestamp. Both servers' own counters must grow by exactly
//! what was sent: samples that were not stored do not count.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::client::{Endpoint, now_ms};
use crate::payload::{Batch, RequestBuilder, numbers};
use crate::procs::{MockChild, PromChild};
use crate::report::{Report, Row, Verdict, met, si};

pub struct Config {
    pub sizes: Vec<usize>,
    pub conns: usize,
    /// Samples sent in the timed part, per size and server (fewer if the deadline passes).
    pub timed_samples: usize,
    pub deadline: Duration,
}

/// Per connection: the warm-up batch, then the timed ones.
fn build(size: usize, conns: usize, timed_per_conn: usize) -> Vec<Vec<Batch>> {
    let metric = format!("bench_ingest_{size}");
    let names = numbers(size.max(conns));
    let t0 = now_ms() - 120_000;
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..conns)
            .map(|c| {
                let (metric, names) = (&metric, &names);
                s.spawn(move || {
                    (0..=timed_per_conn)
                        .map(|r| {
                            let mut b = RequestBuilder::new();
                            let ts = t0 + r as i64 * 10;
                            for (k, name) in names.iter().enumerate().take(size) {
                                b.series(
                                    &[
                                        ("__name__", metric),
                                        ("conn", &names[c]),
                                        ("job", "pipecheck-bench"),
                                        ("series", name),
                                    ],
                                    &[(ts, (r * 7 + k) as f64)],
                                );
                            }
                            b.finish()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("payload thread"))
            .collect()
    })
}

#[derive(Default, Debug)]
pub struct Blast {
    pub samples_ok: usize,
    pub requests_ok: usize,
    pub failed: usize,
    pub first_failure: Option<String>,
    pub elapsed: Duration,
}

/// Sends `batches[c][from..]` on connection `c`, all connections at once, each stopping
/// at `deadline`.
pub async fn blast(
    ep: &Endpoint,
    http: &reqwest::Client,
    batches: &Arc<Vec<Vec<Batch>>>,
    from: usize,
    to: usize,
    deadline: Duration,
) -> Blast {
    let started = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for c in 0..batches.len() {
        let (ep, http, batches) = (ep.clone(), http.clone(), batches.clone());
        set.spawn(async move {
            let mut out = Blast::default();
            for b in batches[c].iter().take(to).skip(from) {
                if started.elapsed() > deadline {
                    break;
                }
                match ep.write(&http, &b.body).await {
                    Ok(a) if a.ok() => {
                        out.samples_ok += b.samples;
                        out.requests_ok += 1;
                    }
                    Ok(a) => {
                        out.failed += 1;
                        out.first_failure
                            .get_or_insert_with(|| format!("{} {}", a.status, a.text()));
                    }
                    Err(e) => {
                        out.failed += 1;
                        out.first_failure.get_or_insert(e);
                    }
                }
            }
            out
        });
    }
    let mut total = Blast::default();
    while let Some(r) = set.join_next().await {
        let r = r.unwrap_or_else(|e| Blast {
            failed: 1,
            first_failure: Some(format!("worker panicked: {e}")),
            ..Blast::default()
        });
        total.samples_ok += r.samples_ok;
        total.requests_ok += r.requests_ok;
        total.failed += r.failed;
        if total.first_failure.is_none() {
            total.first_failure = r.first_failure;
        }
    }
    total.elapsed = started.elapsed();
    total
}

/// The server's own count of stored samples.
pub enum Counter<'a> {
    Mock(&'a mut MockChild),
    Prom(&'a PromChild),
}

impl Counter<'_> {
    pub async fn samples(&mut self, http: &reqwest::Client) -> Result<u64, String> {
        match self {
            Counter::Mock(m) => m.stats().map(|s| s.samples),
            Counter::Prom(p) => p.samples_appended(http).await,
        }
    }
}

struct Measured {
    rate: f64,
    ok: bool,
}

async fn measure(
    label: &str,
    ep: &Endpoint,
    mut counter: Counter<'_>,
    http: &reqwest::Client,
    batches: &Arc<Vec<Vec<Batch>>>,
    cfg: &Config,
    report: &mut Report,
) -> Measured {
    let before = counter.samples(http).await;
    let warm = blast(ep, http, batches, 0, 1, cfg.deadline).await;
    let timed = blast(ep, http, batches, 1, usize::MAX, cfg.deadline).await;
    let after = counter.samples(http).await;
    let rate = timed.samples_ok as f64 / timed.elapsed.as_secs_f64();
    let sent = warm.samples_ok + timed.samples_ok;
    let mut ok = true;
    if warm.failed + timed.failed > 0 {
        ok = false;
        report.note(format!(
            "{label} on {}: {} request(s) refused, first: {}",
            ep.name,
            warm.failed + timed.failed,
            warm.first_failure
                .or(timed.first_failure)
                .unwrap_or_default()
        ));
    }
    match (before, after) {
        (Ok(b), Ok(a)) if a.saturating_sub(b) == sent as u64 => {}
        (Ok(b), Ok(a)) => {
            ok = false;
            report.note(format!(
                "{label} on {}: {} samples accepted but the server's count grew by {}",
                ep.name,
                sent,
                a.saturating_sub(b)
            ));
        }
        (Err(e), _) | (_, Err(e)) => {
            ok = false;
            report.note(format!(
                "{label} on {}: cannot read its sample count: {e}",
                ep.name
            ));
        }
    }
    eprintln!(
        "    {label} {:<10} {} samples in {} requests, {:.2} s: {}/s{}",
        ep.name,
        timed.samples_ok,
        timed.requests_ok,
        timed.elapsed.as_secs_f64(),
        si(rate),
        if timed.elapsed > cfg.deadline {
            " (stopped at the deadline)"
        } else {
            ""
        }
    );
    Measured { rate, ok }
}

pub async fn run(
    cfg: &Config,
    http: &reqwest::Client,
    prom: Option<&std::path::Path>,
    report: &mut Report,
) {
    eprintln!("ingest: starting the mock child and prometheus");
    let mut mock = match MockChild::start() {
        Ok(m) => m,
        Err(e) => {
            for &s in &cfg.sizes {
                report.row(Row::skipped(name(s), GOAL, e.clone()));
            }
            return;
        }
    };
    let prom = match prom {
        Some(bin) => PromChild::start(bin, http).await.map_err(|e| {
            report.note(format!("prometheus did not start: {e}"));
            e
        }),
        None => Err("no prometheus binary".to_string()),
    };
    let mock_ep = mock.endpoint();
    for (i, &size) in cfg.sizes.iter().enumerate() {
        let per_conn = (cfg.timed_samples / (size * cfg.conns)).clamp(2, 20_000);
        let t = Instant::now();
        let batches = Arc::new(build(size, cfg.conns, per_conn));
        let bytes: usize = batches.iter().flatten().map(|b| b.body.len()).sum();
        eprintln!(
            "  {size} series/request: {} requests per connection x {}, {:.1} MB compressed, built in {:.1} s",
            per_conn + 1,
            cfg.conns,
            bytes as f64 / 1e6,
            t.elapsed().as_secs_f64()
        );
        let label = name(size);
        // Alternate which server goes first, so neither always meets a warmer machine.
        let mut m = None;
        let mut p = None;
        for turn in 0..2 {
            let mock_turn = (turn + i) % 2 == 0;
            if mock_turn {
                m = Some(
                    measure(
                        &label,
                        &mock_ep,
                        Counter::Mock(&mut mock),
                        http,
                        &batches,
                        cfg,
                        report,
                    )
                    .await,
                );
            } else if let Ok(pc) = &prom {
                p = Some(
                    measure(
                        &label,
                        &pc.endpoint(),
                        Counter::Prom(pc),
                        http,
                        &batches,
                        cfg,
                        report,
                    )
                    .await,
                );
            }
        }
        let m = m.expect("the mock always runs");
        let row = match p {
            Some(p) => Row {
                name: label,
                goal: GOAL.into(),
                mock: format!("{} samples/s", si(m.rate)),
                other: format!("{} samples/s", si(p.rate)),
                ratio: format!("{:.2}x", m.rate / p.rate),
                verdict: if m.ok && p.ok {
                    met(m.rate >= 2.0 * p.rate)
                } else {
                    Verdict::Skipped("a server refused or lost samples (see notes)".into())
                },
            },
            None => Row {
                name: label,
                goal: GOAL.into(),
                mock: format!("{} samples/s", si(m.rate)),
                other: "-".into(),
                ratio: "-".into(),
                verdict: Verdict::Skipped("prometheus unavailable".into()),
            },
        };
        report.row(row);
    }
    if let Ok(s) = mock.stats() {
        let prom_rss = prom
            .as_ref()
            .ok()
            .and_then(|p| crate::procs::rss_bytes(p.pid()).ok())
            .map(|b| format!(", prometheus {:.0} MB", b as f64 / 1e6))
            .unwrap_or_default();
        report.note(format!(
            "after the ingest rows: the mock holds {} samples in {} series; RSS mock {:.0} MB{prom_rss}",
            s.samples,
            s.series,
            mock.rss().unwrap_or(0) as f64 / 1e6
        ));
    }
    if let Ok(p) = &prom {
        report.note(format!("reference: Debian's prometheus {}", p.version));
    }
}

const GOAL: &str = "mock >= 2x prometheus";

fn name(size: usize) -> String {
    format!(
        "ingest, {} series/request",
        si(size as f64).replace(".0", "")
    )
}
