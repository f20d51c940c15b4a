//! Load on the real `pipecheck mock` over loopback: concurrent writers (the harness's own
//! SigV4-signed remote-write client) and readers (queries) for a few seconds. Every
//! sample acknowledged with a 2xx must then be queryable with its exact value, and
//! readers must never be refused.
//!
//! Then the same under throttling: `pipecheck mock --throttle-remote-writes N` answers the
//! first N writes with 429 (F07's mechanism), the writers retry through
//! `AmpDataClient::remote_write_retrying`, and the 429s they saw must be exactly N with
//! no write lost.
//!
//! Bounded: `DURATION` of load, at most `MAX_REQUESTS` per writer, every request with a
//! timeout.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use pipecheck::amp_client::{AmpDataClient, QueryResult, Retries, WriterBehaviour};
use pipecheck::signing::Signer;
use pipecheck_prompb::{Label, Sample, TimeSeries, WriteRequest};

#[path = "support/mod.rs"]
mod support;

use support::Mock;

const WRITERS: usize = 4;
const READERS: usize = 2;
/// Series per writer; each request carries one new sample of each.
const SERIES: usize = 8;
const DURATION: Duration = Duration::from_secs(3);
const MAX_REQUESTS: usize = 2_000;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

const EXPORTS: &[&str] = &[
    "AWS_ENDPOINT_URL_AMP",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_REGION",
    "PIPECHECK_WORKSPACE_ID",
];

/// The harness's data-plane client for the mock's workspace, signing with its exported
/// credentials.
fn client(mock: &Mock) -> AmpDataClient {
    let e = &mock.env;
    let credentials = Credentials::new(
        &e["AWS_ACCESS_KEY_ID"],
        &e["AWS_SECRET_ACCESS_KEY"],
        None,
        None,
        "pipecheck mock exports",
    );
    let signer = Signer::new(
        SharedCredentialsProvider::new(credentials),
        e["AWS_REGION"].clone(),
    );
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .expect("a reqwest client");
    let endpoint = format!(
        "{}/workspaces/{}/",
        e["AWS_ENDPOINT_URL_AMP"], e["PIPECHECK_WORKSPACE_ID"]
    );
    AmpDataClient::new(http, &endpoint, signer).expect("the mock's endpoint")
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as i64
}

/// Every sample acknowledged, by series name: `(timestamp ms, value)`.
type Acked = BTreeMap<String, Vec<(i64, f64)>>;

/// What one writer did.
#[derive(Default)]
struct Written {
    acked: Acked,
    requests: usize,
    /// Requests that ended without a 2xx (after retries, when retrying).
    refused: Vec<String>,
    /// 429 answers seen, retried ones included.
    throttled: usize,
}

/// Writes one sample of each of its series per request until `until`, recording what
/// was acknowledged. Values are unique per writer, series and request, and not round.
async fn writer(
    client: Arc<AmpDataClient>,
    w: usize,
    t0: i64,
    until: Instant,
    retries: Option<Retries>,
) -> Written {
    let mut out = Written::default();
    let how = WriterBehaviour::default();
    for k in 0..MAX_REQUESTS {
        if Instant::now() >= until {
            break;
        }
        // One millisecond apart per request: time order within each series.
        let ts = t0 + k as i64;
        let series: Vec<(String, f64)> = (0..SERIES)
            .map(|s| {
                let value = (w * 1_000_000 + s * 10_000 + k) as f64 + 0.125 + s as f64 / 7.0;
                (format!("pipecheck_load_w{w}_s{s}"), value)
            })
            .collect();
        let req = WriteRequest {
            timeseries: series
                .iter()
                .map(|(name, value)| TimeSeries {
                    labels: vec![
                        Label::new("__name__", name.clone()),
                        Label::new("writer", w.to_string()),
                    ],
                    samples: vec![Sample {
                        value: *value,
                        timestamp: ts,
                    }],
                    ..Default::default()
                })
                .collect(),
            metadata: vec![],
        };
        let body = pipecheck_prompb::encode(&req);
        out.requests += 1;
        let last = match &retries {
            Some(r) => {
                let done = client.remote_write_retrying(body, &how, r).await;
                out.throttled += done.retried.iter().filter(|s| s.contains("-> 429")).count();
                done.last
            }
            None => tokio::time::timeout(REQUEST_TIMEOUT, client.remote_write(body, &how))
                .await
                .ok(),
        };
        match last {
            Some(Ok(ex)) if ex.is_success() => {
                for (name, value) in series {
                    out.acked.entry(name).or_default().push((ts, value));
                }
            }
            Some(Ok(ex)) => {
                out.throttled += usize::from(ex.status == Some(429));
                out.refused.push(ex.summary());
            }
            Some(Err(e)) => out.refused.push(e.to_string()),
            None => out.refused.push("no answer".into()),
        }
    }
    out
}

/// Queries until `until`; the refusals seen (none expected) and how many answered.
async fn reader(client: Arc<AmpDataClient>, until: Instant) -> (usize, Vec<String>) {
    let queries = [
        "count({__name__=~\"pipecheck_load_.*\"})",
        "sum by (writer) ({__name__=~\"pipecheck_load_.*\"})",
        "max_over_time(pipecheck_load_w0_s0[1m])",
    ];
    let mut answered = 0;
    let mut refused = Vec::new();
    for i in 0..MAX_REQUESTS {
        if Instant::now() >= until {
            break;
        }
        let q = queries[i % queries.len()];
        match tokio::time::timeout(REQUEST_TIMEOUT, client.query(q, now_ms())).await {
            Ok(Ok(QueryResult::Data { .. })) => answered += 1,
            Ok(Ok(QueryResult::Refused { exchange, .. })) => refused.push(exchange.summary()),
            Ok(Err(e)) => refused.push(e.to_string()),
            Err(_) => refused.push(format!("{q}: no answer within {REQUEST_TIMEOUT:?}")),
        }
    }
    (answered, refused)
}

/// Reads every acknowledged series back (its raw samples over the last 10 minutes) and
/// lists what differs: missing samples, other values, samples never acknowledged.
async fn missing_or_wrong(client: &AmpDataClient, acked: &Acked) -> Vec<String> {
    let mut problems = Vec::new();
    let at = now_ms();
    for (name, samples) in acked {
        let stored = match client.query(&format!("{name}[10m]"), at).await {
            Ok(QueryResult::Data { series, .. }) if series.len() == 1 => {
                series.into_iter().next().expect("one series").points
            }
            Ok(QueryResult::Data { series, .. }) => {
                problems.push(format!("{name}: {} series, expected 1", series.len()));
                continue;
            }
            Ok(QueryResult::Refused { exchange, .. }) => {
                problems.push(format!("{name}: {}", exchange.summary()));
                continue;
            }
            Err(e) => {
                problems.push(format!("{name}: {e}"));
                continue;
            }
        };
        let stored: BTreeMap<i64, u64> = stored.iter().map(|(t, v)| (*t, v.to_bits())).collect();
        let acked_at: std::collections::BTreeSet<i64> = samples.iter().map(|(t, _)| *t).collect();
        for t in stored.keys().filter(|t| !acked_at.contains(t)) {
            problems.push(format!(
                "{name}: sample at {t} stored but never acknowledged"
            ));
        }
        for (t, v) in samples {
            match stored.get(t) {
                None => problems.push(format!("{name}: acknowledged sample at {t} is missing")),
                Some(bits) if *bits != v.to_bits() => problems.push(format!(
                    "{name}@{t}: stored {}, acknowledged {v}",
                    f64::from_bits(*bits)
                )),
                Some(_) => {}
            }
        }
        if problems.len() > 20 {
            break;
        }
    }
    problems
}

/// Writers and readers against `mock` for [`DURATION`]; what the writers did, merged, and
/// how many queries were answered.
fn load(mock: &Mock, retries: Option<Retries>) -> (Written, usize) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let client = Arc::new(client(mock));
    rt.block_on(async {
        let until = Instant::now() + DURATION;
        // A minute back: inside AMP's accepted window, and each writer's millisecond
        // steps stay in the past.
        let t0 = now_ms() - 60_000;
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| tokio::spawn(writer(client.clone(), w, t0, until, retries.clone())))
            .collect();
        let readers: Vec<_> = (0..READERS)
            .map(|_| tokio::spawn(reader(client.clone(), until)))
            .collect();
        let mut all = Written::default();
        for w in writers {
            let w = w.await.expect("a writer");
            all.acked.extend(w.acked);
            all.requests += w.requests;
            all.refused.extend(w.refused);
            all.throttled += w.throttled;
        }
        let mut answered = 0;
        for r in readers {
            let (n, refused) = r.await.expect("a reader");
            assert!(
                refused.is_empty(),
                "queries refused under load: {refused:?}"
            );
            answered += n;
        }
        let problems = missing_or_wrong(&client, &all.acked).await;
        assert!(
            problems.is_empty(),
            "acknowledged samples not stored as written:\n{}",
            problems.join("\n")
        );
        (all, answered)
    })
}

#[test]
fn every_acknowledged_sample_is_stored_under_concurrent_load() {
    let mock = Mock::start(Stdio::null(), EXPORTS).expect("pipecheck mock starts");
    let started = Instant::now();
    let (written, answered) = load(&mock, None);
    let samples: usize = written.acked.values().map(Vec::len).sum();
    eprintln!(
        "{} write requests ({samples} samples acknowledged), {answered} queries in {:?}",
        written.requests,
        started.elapsed()
    );
    assert!(
        written.refused.is_empty(),
        "writes refused: {:?}",
        written.refused
    );
    assert_eq!(written.acked.len(), WRITERS * SERIES);
    assert_eq!(samples, written.requests * SERIES);
    assert!(answered > 0, "no query answered");
}

#[test]
fn throttled_writes_are_retried_and_none_is_lost() {
    const THROTTLED: u32 = 40;
    let mock = Mock::start_with(
        &["--throttle-remote-writes", &THROTTLED.to_string()],
        Stdio::null(),
        EXPORTS,
    )
    .expect("pipecheck mock starts");
    let retries = Retries {
        // Enough attempts that the N throttled answers, however they fall on the writers,
        // cannot exhaust one write's budget.
        max_attempts: THROTTLED as usize + 1,
        min_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(50),
        attempt_timeout: REQUEST_TIMEOUT,
        ..Retries::default()
    };
    let (written, _) = load(&mock, Some(retries));
    let samples: usize = written.acked.values().map(Vec::len).sum();
    eprintln!(
        "{} write requests, {} answered 429 and retried, {samples} samples acknowledged",
        written.requests, written.throttled
    );
    assert!(
        written.refused.is_empty(),
        "writes lost: {:?}",
        written.refused
    );
    assert_eq!(written.throttled, THROTTLED as usize, "429s seen");
    assert_eq!(samples, written.requests * SERIES, "samples acknowledged");
}
