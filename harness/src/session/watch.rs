//! `pipecheck watch`: the run path on an interval, for as long as the process lives, as
//! Prometheus metrics (`/metrics`), the last reports (`/`, `/report.json`) and a health
//! endpoint (`/healthz`).
//!
//! Each scenario has its own loop: one run at a time (a run that outlasts the interval is
//! counted as an overrun and the next starts when it ends, never beside it), the next run
//! an interval plus up to a tenth of it (jitter) after the last one started. What a watch
//! keeps across the runs of a scenario ([`crate::run::WatchRun`]): its canary series
//! (fixed labels, so AMP's active series stay bounded), one Grafana service account whose
//! token is rotated before it expires, and, on the mock target, the mock stack.
//!
//! On the mock target, `PUT /faults` (body: fault ids or names, one per line or comma
//! separated) injects faults from the next run on and `DELETE /faults` clears them: each
//! scenario's mock stack is then started afresh with the new list, so a mock-side fault
//! leaves nothing behind once cleared. `GET /faults` lists them.
//!
//! SIGINT or SIGTERM stops it: runs in flight are stopped, what the watch made (its
//! Grafana service accounts, a run's objects) is removed, and it exits 0.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use pipecheck_reports::{
    Outcome, ReportKind, RunEvent, RunInfo, RunReport, RunStatus, ScenarioReport,
};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tokio::sync::mpsc;

use crate::canary::StableCanary;
use crate::chain::Unwind;
use crate::faults::{self, Fault};
use crate::links::SharedToken;
use crate::run::{
    Interrupt, RunError, RunOptions, StartedMock, WatchRun, run_scenario_with, start_mock,
};
use crate::scenario::{Scenario, ScenarioError};
use crate::target::{Environment, TargetKind};

#[derive(clap::Args, Debug)]
pub struct WatchArgs {
    #[command(flatten)]
    pub target: crate::target::TargetArgs,
    /// A shipped scenario's name or a path to a scenario YAML file (repeatable); direct
    /// and cluster scenarios (a local collector's canary is not bounded).
    #[arg(long = "scenario", value_name = "NAME|FILE", default_value = "smoke")]
    pub scenarios: Vec<String>,
    /// Time between the starts of two runs of a scenario (plus up to 10% jitter).
    #[arg(long, value_name = "DURATION", default_value = "5m",
          value_parser = parse_interval)]
    pub interval: Duration,
    /// Where to serve /metrics, /healthz, / and /report.json (port 0: a free one; the
    /// address is printed on stdout).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9464")]
    pub listen: SocketAddr,
    /// This watch's name: in its canary's `pipecheck_run` label
    /// (`watch-<instance>-<scenario>`) and its Grafana service accounts
    /// (`pipecheck-watch-<instance>-<scenario>`). Keep it stable across restarts.
    #[arg(long, value_name = "NAME", default_value = "pipecheck", value_parser = parse_instance)]
    pub instance: String,
    /// Inject a fault into the mock from the first run on (catalog id or name;
    /// repeatable); `PUT`/`DELETE /faults` change them while the watch runs.
    #[arg(long = "fault", value_name = "ID|NAME")]
    pub faults: Vec<String>,
    /// Replace the watch's Grafana token once it is this old (at most, and by default,
    /// 10m: two thirds of its 15 minutes). For tests of the rotation.
    #[arg(long, value_name = "DURATION", default_value = "10m", hide = true,
          value_parser = humantime::parse_duration)]
    pub rotate_token_after: Duration,
}

fn parse_interval(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| e.to_string())?;
    if d < Duration::from_millis(10) {
        return Err("the interval must be at least 10ms".into());
    }
    if d > Duration::from_secs(24 * 3600) {
        return Err("the interval must be at most 24h".into());
    }
    Ok(d)
}

/// Instance names go into label values and Grafana names: short, plain characters.
fn parse_instance(s: &str) -> Result<String, String> {
    if s.is_empty()
        || s.len() > 40
        || !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err("use 1 to 40 letters, digits, '-' or '_'".into());
    }
    Ok(s.to_string())
}

#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    #[error("unknown fault {0:?}: see `pipecheck faults` for ids and names")]
    UnknownFault(String),
    #[error("--fault needs --target mock: faults are injected into the mock stack")]
    FaultOnAws,
    #[error(transparent)]
    Run(#[from] RunError),
    #[error("failed to listen on {addr}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("scenario {0} is given twice: a watch runs each scenario once per interval")]
    Duplicate(String),
}

/// Bucket bounds of the run duration histogram (seconds).
const DURATION_BUCKETS: [f64; 12] = [
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
];
/// Bucket bounds of the canary arrival latency histogram (seconds).
const ARRIVAL_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0, 60.0,
];

/// The root cause label value of a run that could not start (no links ran).
pub const SETUP: &str = "setup";

type Labels = Vec<(String, String)>;
/// A scenario's links with series, and its root causes with series.
type Shown = (BTreeSet<String>, BTreeSet<String>);
type HistogramFamily = Family<Labels, Histogram, fn() -> Histogram>;

fn scenario_labels(scenario: &str) -> Labels {
    vec![("scenario".into(), scenario.into())]
}

fn link_labels(scenario: &str, link: &str) -> Labels {
    vec![
        ("scenario".into(), scenario.into()),
        ("link".into(), link.into()),
    ]
}

/// The watch's metrics; label sets are bounded: `scenario` (the watch's scenarios),
/// `link` (the scenario's links, or `setup`), `result` (passed, failed, error).
pub struct Metrics {
    registry: Registry,
    scenario_up: Family<Labels, Gauge>,
    link_up: Family<Labels, Gauge>,
    link_blocked: Family<Labels, Gauge>,
    root_cause: Family<Labels, Gauge>,
    runs: Family<Labels, Counter>,
    overruns: Family<Labels, Counter>,
    duration: HistogramFamily,
    arrival: HistogramFamily,
    last_success: Family<Labels, Gauge<f64, AtomicU64>>,
    mock_series: Family<Labels, Gauge>,
    /// Per scenario, the links and root causes whose series are set (to drop stale ones).
    shown: Mutex<BTreeMap<String, Shown>>,
}

impl Metrics {
    pub fn new(scenarios: &[String], started: SystemTime) -> Self {
        let mut registry = Registry::default();
        let m = Self {
            registry: Registry::default(),
            scenario_up: Family::default(),
            link_up: Family::default(),
            link_blocked: Family::default(),
            root_cause: Family::default(),
            runs: Family::default(),
            overruns: Family::default(),
            duration: Family::new_with_constructor(|| Histogram::new(DURATION_BUCKETS)),
            arrival: Family::new_with_constructor(|| Histogram::new(ARRIVAL_BUCKETS)),
            last_success: Family::default(),
            mock_series: Family::default(),
            shown: Mutex::new(BTreeMap::new()),
        };
        registry.register(
            "pipecheck_watch_scenario_up",
            "1 when the scenario's last run passed, 0 when it failed or could not start",
            m.scenario_up.clone(),
        );
        registry.register(
            "pipecheck_watch_link_up",
            "1 when the link passed (or warned) in the scenario's last run, 0 otherwise",
            m.link_up.clone(),
        );
        registry.register(
            "pipecheck_watch_link_blocked",
            "1 when the link was not checked in the last run because a link it depends on failed",
            m.link_blocked.clone(),
        );
        registry.register(
            "pipecheck_watch_root_cause_info",
            "1 for each root-cause link of the scenario's last run (link=\"setup\": the run could not start); absent when it passed",
            m.root_cause.clone(),
        );
        registry.register(
            "pipecheck_watch_runs",
            "Runs by result: passed, failed (a link failed), error (the run could not start)",
            m.runs.clone(),
        );
        registry.register(
            "pipecheck_watch_overruns",
            "Runs that took longer than the interval (the next run started late, not beside it)",
            m.overruns.clone(),
        );
        registry.register(
            "pipecheck_watch_run_duration_seconds",
            "How long a run took, links and cleanup included",
            m.duration.clone(),
        );
        registry.register(
            "pipecheck_watch_canary_arrival_latency_seconds",
            "From the canary's write to its exact read-back through the query API",
            m.arrival.clone(),
        );
        registry.register(
            "pipecheck_watch_last_success_timestamp_seconds",
            "When the scenario last passed (Unix time); the watch's start until it first does",
            m.last_success.clone(),
        );
        registry.register(
            "pipecheck_watch_mock_series",
            "Series in the mock AMP workspace of the scenario (--target mock only)",
            m.mock_series.clone(),
        );
        let start = started
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        for s in scenarios {
            m.last_success.get_or_create(&scenario_labels(s)).set(start);
            for result in ["passed", "failed", "error"] {
                let l = vec![
                    ("scenario".to_string(), s.clone()),
                    ("result".to_string(), result.to_string()),
                ];
                let _ = m.runs.get_or_create(&l);
            }
            let _ = m.overruns.get_or_create(&scenario_labels(s));
        }
        Self { registry, ..m }
    }

    /// The text exposition (OpenMetrics).
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }

    fn set_root_causes(&self, scenario: &str, links: BTreeSet<String>, causes: BTreeSet<String>) {
        let mut shown = self.shown.lock().unwrap_or_else(|e| e.into_inner());
        let (old_links, old_causes) = shown.entry(scenario.to_string()).or_default();
        for l in old_links.difference(&links) {
            self.link_up.remove(&link_labels(scenario, l));
            self.link_blocked.remove(&link_labels(scenario, l));
        }
        for c in old_causes.difference(&causes) {
            self.root_cause.remove(&link_labels(scenario, c));
        }
        for c in &causes {
            self.root_cause
                .get_or_create(&link_labels(scenario, c))
                .set(1);
        }
        *old_links = links;
        *old_causes = causes;
    }

    /// A finished run of `scenario`.
    pub fn record(&self, scenario: &str, report: &ScenarioReport) {
        let passed = report.passed();
        for l in &report.links {
            let labels = link_labels(scenario, &l.name);
            self.link_up
                .get_or_create(&labels)
                .set(i64::from(l.outcome.passed()));
            self.link_blocked
                .get_or_create(&labels)
                .set(i64::from(matches!(l.outcome, Outcome::Blocked { .. })));
        }
        let links = report.links.iter().map(|l| l.name.clone()).collect();
        let causes = if passed {
            BTreeSet::new()
        } else {
            report.root_cause.iter().cloned().collect()
        };
        self.set_root_causes(scenario, links, causes);
        self.finish(
            scenario,
            if passed { "passed" } else { "failed" },
            report.duration,
        );
        if let Some(a) = report.arrival_latency() {
            self.arrival
                .get_or_create(&scenario_labels(scenario))
                .observe(a.as_secs_f64());
        }
        if passed {
            let now = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0);
            self.last_success
                .get_or_create(&scenario_labels(scenario))
                .set(now);
        }
    }

    /// A run of `scenario` that could not start.
    pub fn record_error(&self, scenario: &str, took: Duration) {
        self.set_root_causes(
            scenario,
            BTreeSet::new(),
            BTreeSet::from([SETUP.to_string()]),
        );
        self.finish(scenario, "error", took);
    }

    fn finish(&self, scenario: &str, result: &str, took: Duration) {
        self.scenario_up
            .get_or_create(&scenario_labels(scenario))
            .set(i64::from(result == "passed"));
        let l = vec![
            ("scenario".to_string(), scenario.to_string()),
            ("result".to_string(), result.to_string()),
        ];
        self.runs.get_or_create(&l).inc();
        self.duration
            .get_or_create(&scenario_labels(scenario))
            .observe(took.as_secs_f64());
    }

    pub fn overrun(&self, scenario: &str) {
        self.overruns
            .get_or_create(&scenario_labels(scenario))
            .inc();
    }

    fn mock_series(&self, scenario: &str, n: usize) {
        self.mock_series
            .get_or_create(&scenario_labels(scenario))
            .set(n as i64);
    }
}

/// What the HTTP endpoints serve: the metrics, each scenario's last report, the faults.
struct Shared {
    metrics: Metrics,
    target: TargetKind,
    started: SystemTime,
    /// The last report of each scenario, in the watch's scenario order.
    last: Mutex<Vec<Option<ScenarioReport>>>,
    /// The mock's faults (None: not the mock target) and a generation that changes with
    /// them.
    faults: Option<Mutex<(u64, Vec<&'static Fault>)>>,
    scenarios: Vec<Scenario>,
}

impl Shared {
    fn report(&self) -> Option<(RunReport, RunInfo)> {
        let suites: Vec<ScenarioReport> = self
            .last
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .flatten()
            .cloned()
            .collect();
        if suites.is_empty() {
            return None;
        }
        let report = RunReport { suites };
        let info = RunInfo {
            target: self.target.as_str().to_string(),
            started: self.started,
            duration: self.started.elapsed().unwrap_or_default(),
            status: RunStatus::of(&report, false),
        };
        Some((report, info))
    }

    fn faults_now(&self) -> Option<(u64, Vec<&'static Fault>)> {
        self.faults
            .as_ref()
            .map(|f| f.lock().unwrap_or_else(|e| e.into_inner()).clone())
    }
}

async fn metrics(State(s): State<Arc<Shared>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        s.metrics.render(),
    )
        .into_response()
}

async fn healthz() -> &'static str {
    "ok\n"
}

fn last_report(s: &Shared, kind: ReportKind, content_type: &'static str) -> Response {
    let Some((report, info)) = s.report() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "no run has finished yet\n").into_response();
    };
    match pipecheck_reports::file::render(kind, &report, &info) {
        Ok(body) => ([(header::CONTENT_TYPE, content_type)], body).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
    }
}

async fn html(State(s): State<Arc<Shared>>) -> Response {
    last_report(&s, ReportKind::Html, "text/html; charset=utf-8")
}

async fn json(State(s): State<Arc<Shared>>) -> Response {
    last_report(&s, ReportKind::Json, "application/json")
}

fn fault_names(list: &[&'static Fault]) -> String {
    list.iter()
        .map(|f| format!("{} {}\n", f.id, f.name))
        .collect()
}

async fn get_faults(State(s): State<Arc<Shared>>) -> Response {
    match s.faults_now() {
        Some((_, list)) => fault_names(&list).into_response(),
        None => not_mock(),
    }
}

fn not_mock() -> Response {
    (
        StatusCode::NOT_FOUND,
        "faults are injected into the mock: run the watch with --target mock\n",
    )
        .into_response()
}

/// Parses and checks a fault list against every scenario of the watch.
fn check_faults(scenarios: &[Scenario], names: &[String]) -> Result<Vec<&'static Fault>, String> {
    let list: Vec<&'static Fault> = names
        .iter()
        .map(|n| faults::find(n).ok_or_else(|| format!("unknown fault {n:?}")))
        .collect::<Result<_, _>>()?;
    for s in scenarios {
        crate::faults::resolve_faults(s, &list).map_err(|e| e.to_string())?;
    }
    Ok(list)
}

async fn put_faults(State(s): State<Arc<Shared>>, body: String) -> Response {
    let Some(faults) = &s.faults else {
        return not_mock();
    };
    // Bounded: the catalog is a few dozen entries.
    let names: Vec<String> = body
        .split([',', '\n'])
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .take(64)
        .map(str::to_string)
        .collect();
    match check_faults(&s.scenarios, &names) {
        Err(why) => (StatusCode::BAD_REQUEST, format!("{why}\n")).into_response(),
        Ok(list) => {
            let mut f = faults.lock().unwrap_or_else(|e| e.into_inner());
            f.0 += 1;
            f.1 = list;
            tracing::info!(faults = %fault_names(&f.1).trim_end().replace('\n', ", "), "faults changed; from the next run on");
            fault_names(&f.1).into_response()
        }
    }
}

async fn delete_faults(State(s): State<Arc<Shared>>) -> Response {
    let Some(faults) = &s.faults else {
        return not_mock();
    };
    let mut f = faults.lock().unwrap_or_else(|e| e.into_inner());
    f.0 += 1;
    f.1.clear();
    tracing::info!("faults cleared; from the next run on");
    StatusCode::NO_CONTENT.into_response()
}

fn router(shared: Arc<Shared>) -> axum::Router {
    axum::Router::new()
        .route("/", get(html))
        .route("/report.json", get(json))
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route(
            "/faults",
            get(get_faults).put(put_faults).delete(delete_faults),
        )
        .with_state(shared)
}

/// A scenario's loop: runs on the interval until `interrupt` fires.
struct Loop {
    index: usize,
    interrupt: Interrupt,
    scenario: Scenario,
    opts: RunOptions,
    interval: Duration,
    instance: String,
    rotate_token_after: Duration,
    shared: Arc<Shared>,
}

/// Up to a tenth of `interval`, at random.
fn jitter(interval: Duration) -> Duration {
    let r = (uuid::Uuid::new_v4().as_u128() % 1_000_000) as f64 / 1_000_000.0;
    interval.mul_f64(0.1 * r)
}

impl Loop {
    /// Runs until `interrupt` fires; then what the loop holds goes (its Grafana service
    /// account, its mock stack): the lines saying so.
    async fn run(self) -> Vec<String> {
        let name = self.scenario.name.clone();
        let env = Environment::Process;
        let mut canary = StableCanary::new(&self.instance, &name);
        // The mock stack of the current fault generation (mock target).
        let mut mock: Option<(u64, StartedMock)> = None;
        let mut token: Option<Arc<SharedToken>> = None;
        let mut generation_seen = None;
        let mut runs = 0u64;
        loop {
            let started = Instant::now();
            runs += 1;
            let faults_now = self.shared.faults_now();
            let mut opts = self.opts.clone();
            // A new fault generation on the mock: a new stack, so a new service account
            // (the old one goes first, while its Grafana still answers).
            let generation = faults_now.as_ref().map(|(g, _)| *g);
            if token.is_some() && generation != generation_seen {
                self.retire(token.take(), false).await;
            }
            if let Some((generation, list)) = &faults_now {
                opts.faults = list.clone();
                if mock.as_ref().is_none_or(|(g, _)| g != generation) {
                    if let Some((_, old)) = mock.take() {
                        old.shutdown().await;
                    }
                    match start_mock(&self.scenario, &opts, &env).await {
                        Ok(m) => mock = Some((*generation, m)),
                        Err(e) => {
                            tracing::warn!(scenario = %name, error = %crate::error_chain(&e).replace('\n', ": "), "the mock stack did not start")
                        }
                    }
                }
            }
            if token.is_none() {
                let account = format!("pipecheck-watch-{}-{name}", self.instance);
                token = Some(Arc::new(SharedToken::new(
                    &account,
                    self.rotate_token_after,
                )));
                generation_seen = generation;
            }
            let (tx, mut rx) = mpsc::unbounded_channel::<RunEvent>();
            let logger = tokio::spawn(async move {
                while let Some(ev) = rx.recv().await {
                    log_event(&ev);
                }
            });
            let outcome = if self.opts.target == TargetKind::Mock && mock.is_none() {
                None
            } else {
                let watch = WatchRun {
                    mock: mock.as_ref().map(|(_, m)| m),
                    token: token.clone(),
                    canary: &mut canary,
                };
                let run = run_scenario_with(
                    &self.scenario,
                    &opts,
                    &env,
                    Some(watch),
                    &tx,
                    &self.interrupt,
                );
                Some(run.await)
            };
            drop(tx);
            let _ = logger.await;
            if self.interrupt.reason().is_some() {
                // The run in flight stopped and removed what it made; its partial report
                // is not a result.
                break;
            }
            let took = started.elapsed();
            match outcome {
                Some(Ok(report)) => {
                    tracing::info!(
                        scenario = %name,
                        run = runs,
                        passed = report.passed(),
                        root_cause = %report.root_cause.join(","),
                        seconds = took.as_secs_f64(),
                        "run finished"
                    );
                    self.shared.metrics.record(&name, &report);
                    self.shared.last.lock().unwrap_or_else(|e| e.into_inner())[self.index] =
                        Some(report);
                }
                Some(Err(e)) => {
                    tracing::warn!(scenario = %name, run = runs, error = %crate::error_chain(&e).replace('\n', ": "), "run could not start");
                    self.shared.metrics.record_error(&name, took);
                }
                None => self.shared.metrics.record_error(&name, took),
            }
            if let Some((_, m)) = &mock {
                let ep = m.stack.endpoints();
                let n = ep
                    .workspace_id
                    .as_deref()
                    .and_then(|ws| m.stack.amp.store(ws))
                    .map(|s| s.series_count())
                    .unwrap_or(0);
                self.shared.metrics.mock_series(&name, n);
            }
            let next = self.interval + jitter(self.interval);
            let wait = match next.checked_sub(took) {
                Some(wait) => wait,
                None => {
                    // Not stacked: the next run starts now, after this one.
                    self.shared.metrics.overrun(&name);
                    tracing::warn!(
                        scenario = %name,
                        run = runs,
                        seconds = took.as_secs_f64(),
                        interval_seconds = self.interval.as_secs_f64(),
                        "the run took longer than the interval; the next one starts now"
                    );
                    Duration::ZERO
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.interrupt.fired() => break,
            }
        }
        let removed = self.retire(token, true).await;
        if let Some((_, m)) = mock {
            m.shutdown().await;
        }
        removed
    }

    /// Removes `token`'s service account (and its tokens): the lines saying so.
    async fn retire(&self, token: Option<Arc<SharedToken>>, hurried: bool) -> Vec<String> {
        let Some(token) = token else {
            return Vec::new();
        };
        let how = Unwind {
            keep: false,
            hurried,
            request: self.scenario.expect.request_timeout,
        };
        let undone = token.teardown().unwind(how).await;
        undone.into_iter().map(|u| u.line).collect()
    }
}

fn log_event(ev: &RunEvent) {
    match ev {
        RunEvent::LinkFinished { scenario, result } => tracing::debug!(
            scenario = %scenario,
            link = %result.name,
            outcome = result.outcome.label(),
            verdict = %result.verdict,
            "link finished"
        ),
        RunEvent::ScenarioStarted {
            scenario, run_id, ..
        } => tracing::debug!(scenario = %scenario, run_id = %run_id, "run started"),
        _ => {}
    }
}

/// `pipecheck watch`: 0 after a clean stop.
pub async fn watch(
    args: WatchArgs,
    stop: impl Future<Output = &'static str>,
) -> Result<pipecheck_reports::Exit, WatchError> {
    let scenarios = args
        .scenarios
        .iter()
        .map(|s| Scenario::load(s))
        .collect::<Result<Vec<_>, _>>()?;
    let mut seen = BTreeSet::new();
    for s in &scenarios {
        if !seen.insert(s.name.clone()) {
            return Err(WatchError::Duplicate(s.name.clone()));
        }
        if s.collector.is_some() {
            return Err(RunError::WatchCollector(s.name.clone()).into());
        }
    }
    if !args.faults.is_empty() && args.target.kind != TargetKind::Mock {
        return Err(WatchError::FaultOnAws);
    }
    let initial: Vec<&'static Fault> = args
        .faults
        .iter()
        .map(|f| faults::choose(f, &scenarios).ok_or_else(|| WatchError::UnknownFault(f.clone())))
        .collect::<Result<_, _>>()?;
    for s in &scenarios {
        crate::faults::resolve_faults(s, &initial).map_err(RunError::from)?;
    }
    let opts = RunOptions::on(args.target.clone());
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|source| WatchError::Listen {
            addr: args.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| WatchError::Listen {
        addr: args.listen,
        source,
    })?;
    let started = SystemTime::now();
    let names: Vec<String> = scenarios.iter().map(|s| s.name.clone()).collect();
    let shared = Arc::new(Shared {
        metrics: Metrics::new(&names, started),
        target: args.target.kind,
        started,
        last: Mutex::new(vec![None; scenarios.len()]),
        faults: (args.target.kind == TargetKind::Mock).then(|| Mutex::new((0, initial))),
        scenarios: scenarios.clone(),
    });
    let (server_stop, server_stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(
        axum::serve(listener, router(shared.clone()))
            .with_graceful_shutdown(async {
                let _ = server_stopped.await;
            })
            .into_future(),
    );
    println!("pipecheck watch: listening on {addr}");
    use std::io::Write;
    let _ = std::io::stdout().flush();
    tracing::info!(%addr, interval = ?args.interval, scenarios = %names.join(","), "watch started");

    let interrupt = Interrupt::default();
    let mut loops = tokio::task::JoinSet::new();
    for (index, scenario) in scenarios.into_iter().enumerate() {
        let l = Loop {
            index,
            interrupt: interrupt.clone(),
            scenario,
            opts: opts.clone(),
            interval: args.interval,
            instance: args.instance.clone(),
            rotate_token_after: args.rotate_token_after,
            shared: shared.clone(),
        };
        loops.spawn(l.run());
    }
    let signal = stop.await;
    // Each loop stops its run in flight (which removes what it made), then removes its
    // service account and shuts its mock stack down; bounded, as `run`'s interrupt.
    interrupt.fire(signal);
    let mut removed = Vec::new();
    let joined = async {
        while let Some(r) = loops.join_next().await {
            match r {
                Ok(lines) => removed.extend(lines),
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Err(_) => {}
            }
        }
    };
    if tokio::time::timeout(Duration::from_secs(45), joined)
        .await
        .is_err()
    {
        tracing::warn!("some scenario loops did not stop within 45 s");
    }
    loops.abort_all();
    let _ = server_stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
    eprintln!(
        "pipecheck watch: stopped by {signal}{}",
        if removed.is_empty() {
            String::new()
        } else {
            format!("; {}", removed.join(", "))
        }
    );
    Ok(pipecheck_reports::Exit::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(outcomes: &[(&str, Outcome)], root: &[&str]) -> ScenarioReport {
        ScenarioReport {
            scenario: "smoke".into(),
            target: "mock".into(),
            run_id: "pc-1".into(),
            root_cause: root.iter().map(|s| s.to_string()).collect(),
            links: outcomes
                .iter()
                .map(|(n, o)| pipecheck_reports::LinkResult {
                    name: n.to_string(),
                    outcome: o.clone(),
                    verdict: String::new(),
                    hint: None,
                    evidence: vec![],
                    duration: Duration::ZERO,
                    depends_on: vec![],
                })
                .collect(),
            duration: Duration::from_millis(120),
            properties: vec![pipecheck_reports::Property::ArrivalLatency(
                Duration::from_millis(40),
            )],
        }
    }

    #[test]
    fn metrics_follow_the_last_run_and_drop_a_cleared_root_cause() {
        let m = Metrics::new(&["smoke".into()], SystemTime::UNIX_EPOCH);
        let failed = report(
            &[
                ("amp.remote_write", Outcome::Fail),
                (
                    "amp.query",
                    Outcome::Blocked {
                        by: "amp.remote_write".into(),
                    },
                ),
            ],
            &["amp.remote_write"],
        );
        m.record("smoke", &failed);
        let text = m.render();
        for line in [
            "pipecheck_watch_scenario_up{scenario=\"smoke\"} 0",
            "pipecheck_watch_root_cause_info{scenario=\"smoke\",link=\"amp.remote_write\"} 1",
            "pipecheck_watch_link_blocked{scenario=\"smoke\",link=\"amp.query\"} 1",
            "pipecheck_watch_link_up{scenario=\"smoke\",link=\"amp.remote_write\"} 0",
            "pipecheck_watch_runs_total{scenario=\"smoke\",result=\"failed\"} 1",
            "pipecheck_watch_last_success_timestamp_seconds{scenario=\"smoke\"} 0.0",
        ] {
            assert!(text.contains(line), "{line} not in\n{text}");
        }
        let passed = report(
            &[
                ("amp.remote_write", Outcome::Pass),
                ("amp.query", Outcome::Pass),
            ],
            &[],
        );
        m.record("smoke", &passed);
        m.record_error("smoke", Duration::from_secs(1));
        let text = m.render();
        assert!(!text.contains("link=\"amp.remote_write\"} 1\n"), "{text}");
        assert!(
            text.contains("pipecheck_watch_root_cause_info{scenario=\"smoke\",link=\"setup\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("pipecheck_watch_runs_total{scenario=\"smoke\",result=\"passed\"} 1"),
            "{text}"
        );
        assert!(
            text.contains(
                "pipecheck_watch_canary_arrival_latency_seconds_count{scenario=\"smoke\"} 2"
            ),
            "{text}"
        );
        assert!(
            !text.contains("last_success_timestamp_seconds{scenario=\"smoke\"} 0.0"),
            "{text}"
        );
    }

    #[test]
    fn intervals_and_instances_are_checked() {
        assert!(parse_interval("100ms").is_ok());
        assert!(parse_interval("1ms").is_err());
        assert!(parse_interval("2d").is_err());
        assert!(parse_instance("prod-eu_1").is_ok());
        for bad in ["", "a b", "x\"y", &"a".repeat(41)] {
            assert!(parse_instance(bad).is_err(), "{bad:?}");
        }
        assert!(jitter(Duration::from_secs(10)) <= Duration::from_secs(1));
    }
}

/// What one watch run of `smoke` asks of each service, measured on the mock: the
/// README's "What a watch costs per hour" table is these per-run figures times the runs
/// in an hour. `cargo test -p pipecheck --lib watch_run_costs -- --nocapture` prints them.
#[cfg(test)]
mod costs {
    use std::collections::BTreeMap;

    use super::*;

    fn delta(
        after: &BTreeMap<&'static str, u64>,
        before: &BTreeMap<&'static str, u64>,
    ) -> BTreeMap<&'static str, u64> {
        after
            .iter()
            .map(|(k, v)| (*k, v - before.get(k).copied().unwrap_or(0)))
            .filter(|(_, v)| *v > 0)
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn watch_run_costs() {
        let scenario = Scenario::load("smoke").unwrap();
        let opts = RunOptions {
            target: TargetKind::Mock,
            region: None,
            workspace_id: None,
            faults: Vec::new(),
            collector_bin: None,
            collector_image: None,
            grafana_workspace_id: None,
            grafana_url: None,
            cluster_name: None,
            kube: Default::default(),
            provision: false,
            keep: false,
        };
        let env = Environment::Process;
        let mock = start_mock(&scenario, &opts, &env).await.unwrap();
        let token = Arc::new(SharedToken::new(
            "pipecheck-watch-t-smoke",
            SharedToken::ROTATE_AFTER,
        ));
        let mut canary = StableCanary::new("t", "smoke");
        let mut per_run = Vec::new();
        for _ in 0..3 {
            let before = mock.stack.requests.snapshot();
            let (tx, _rx) = mpsc::unbounded_channel();
            let watch = WatchRun {
                mock: Some(&mock),
                token: Some(token.clone()),
                canary: &mut canary,
            };
            let report = run_scenario_with(
                &scenario,
                &opts,
                &env,
                Some(watch),
                &tx,
                &Interrupt::default(),
            )
            .await
            .unwrap();
            assert!(report.passed(), "{:?}", report.root_cause);
            per_run.push(delta(&mock.stack.requests.snapshot(), &before));
        }
        for (i, d) in per_run.iter().enumerate() {
            eprintln!("run {}: {d:?}", i + 1);
        }
        // Runs after the first reuse the watch's service account and token.
        for d in &per_run[1..] {
            let get = |k| d.get(k).copied().unwrap_or(0);
            assert_eq!(get("amp remote_write"), 1, "{d:?}");
            assert_eq!(get("amp query_range"), 1, "{d:?}");
            // The instant queries: amp.query's polls (1-10) and pipeline.delivery's 6.
            assert!((7..=16).contains(&get("amp query")), "{d:?}");
            let control = get("sts") + get("amp control plane") + get("amg control plane");
            assert_eq!(control, 4, "{d:?}");
            assert!((8..=16).contains(&get("grafana http api")), "{d:?}");
        }
        mock.shutdown().await;
        token
            .teardown()
            .unwind(Unwind {
                keep: false,
                hurried: true,
                request: Duration::from_secs(1),
            })
            .await;
    }
}
