//! Memory: resident bytes of the mock (a child process of its own) per stored sample and
//! per series. `VmRSS` is read before anything is written, after every series has its
//! first sample, and after the samples reach the total.

use std::sync::Arc;
use std::time::Instant;

use crate::client::now_ms;
use crate::ingest::blast;
use crate::payload::{Batch, RequestBuilder, numbers};
use crate::procs::MockChild;
use crate::report::{Report, Row, Verdict, met, si};

pub struct Config {
    pub series: usize,
    pub samples: usize,
    pub conns: usize,
}

const GOAL: &str = "<= 32 B/sample";
const STEP_MS: i64 = 15_000;

/// Connection `c` writes series `k % conns == c`; each request holds up to 10k series
/// with `per_series` consecutive samples each, starting at point `j0`.
fn batches(
    cfg: &Config,
    names: &[String],
    c: usize,
    t0: i64,
    j0: usize,
    per_series: usize,
) -> Vec<Batch> {
    let mine: Vec<usize> = (0..cfg.series).filter(|k| k % cfg.conns == c).collect();
    let per_req = (100_000 / per_series).clamp(1, 10_000);
    let mut samples = Vec::with_capacity(per_series);
    mine.chunks(per_req)
        .map(|chunk| {
            let mut b = RequestBuilder::new();
            for &k in chunk {
                samples.clear();
                samples.extend(
                    (j0..j0 + per_series)
                        .map(|j| (t0 + j as i64 * STEP_MS, (j * 3 + k % 1000) as f64 * 0.25)),
                );
                b.series(
                    &[
                        ("__name__", "bench_memory"),
                        ("instance", "10.0.0.1:9100"),
                        ("job", "pipecheck-bench"),
                        ("series", &names[k]),
                    ],
                    &samples,
                );
            }
            b.finish()
        })
        .collect()
}

pub async fn run(cfg: &Config, http: &reqwest::Client, report: &mut Report) {
    let name = format!(
        "memory after {} samples",
        si(cfg.samples as f64).replace(".00", "")
    );
    eprintln!("memory: a fresh mock child, {} series", cfg.series);
    let mut mock = match MockChild::start() {
        Ok(m) => m,
        Err(e) => {
            report.row(Row::skipped(name, GOAL, e));
            return;
        }
    };
    let ep = mock.endpoint();
    let names = numbers(cfg.series);
    let points = cfg.samples / cfg.series;
    // Old enough that every point is in the past, young enough for the mock's max age.
    let t0 = now_ms() - points as i64 * STEP_MS - 60_000;
    let rss0 = mock.rss();
    let deadline = std::time::Duration::from_secs(600);
    let started = Instant::now();

    // Phase 1: every series gets its first sample.
    let phase1: Vec<Vec<Batch>> = (0..cfg.conns)
        .map(|c| batches(cfg, &names, c, t0, 0, 1))
        .collect();
    let w1 = blast(&ep, http, &Arc::new(phase1), 0, usize::MAX, deadline).await;
    let rss1 = mock.rss();
    let s1 = mock.stats();

    // Phase 2: the rest, built and sent a slice of points at a time to bound the client.
    let slice = 20usize;
    let mut j = 1;
    let mut failed = w1.failed;
    let mut first = w1.first_failure;
    while j < points {
        let n = slice.min(points - j);
        let set: Vec<Vec<Batch>> = (0..cfg.conns)
            .map(|c| batches(cfg, &names, c, t0, j, n))
            .collect();
        let w = blast(&ep, http, &Arc::new(set), 0, usize::MAX, deadline).await;
        failed += w.failed;
        if first.is_none() {
            first = w.first_failure;
        }
        j += n;
    }
    let rss2 = mock.rss();
    let s2 = mock.stats();
    eprintln!(
        "  wrote in {:.1} s; RSS {:?} -> {:?} -> {:?}",
        started.elapsed().as_secs_f64(),
        rss0,
        rss1,
        rss2
    );
    let (Ok(rss0), Ok(rss1), Ok(rss2), Ok(s1), Ok(s2)) = (rss0, rss1, rss2, s1, s2) else {
        report.row(Row::skipped(
            name,
            GOAL,
            "cannot read the child's RSS or counts",
        ));
        return;
    };
    if failed > 0 {
        report.note(format!(
            "memory: {failed} request(s) refused, first: {}",
            first.unwrap_or_default()
        ));
    }
    let expected = (cfg.series * points) as u64;
    if s2.samples != expected {
        report.note(format!(
            "memory: the mock stored {} samples of {expected} sent",
            s2.samples
        ));
    }
    let per_sample = (rss2.saturating_sub(rss0)) as f64 / s2.samples.max(1) as f64;
    let per_series = (rss1.saturating_sub(rss0)) as f64 / s1.series.max(1) as f64;
    let marginal = (rss2.saturating_sub(rss1)) as f64 / (s2.samples - s1.samples).max(1) as f64;
    report.note(format!(
        "memory: mock RSS {:.0} MB empty, {:.0} MB with {} series x 1 sample, {:.0} MB with {} samples \
         ({:.1} B per sample after the first of each series)",
        rss0 as f64 / 1e6,
        rss1 as f64 / 1e6,
        s1.series,
        rss2 as f64 / 1e6,
        s2.samples,
        marginal
    ));
    report.row(Row {
        name,
        goal: GOAL.into(),
        mock: format!("{per_sample:.1} B/sample, {per_series:.0} B/series"),
        other: "-".into(),
        ratio: "-".into(),
        verdict: if s2.samples == expected && failed == 0 {
            met(per_sample <= 32.0)
        } else {
            Verdict::Skipped("not every sample was stored (see notes)".into())
        },
    });
}
