//! `pipecheck watch` end to end: the real binary on the mock target.
//!
//! - Debian's `prometheus` scrapes the watch's /metrics with the shipped rule file
//!   (deploy/watch/rules.yaml, its `for:` durations shortened, its expressions as shipped);
//!   a fault put into the watch's mock through `PUT /faults` fires `PipecheckPipelineFailing`
//!   with the root-cause link in its labels, and `DELETE /faults` resolves it.
//! - A compressed hour: runs at a 100 ms interval keep the mock's series count and the
//!   process's resident memory flat, reuse one Grafana token, and stop cleanly (exit 0).
//! - The shipped files: the rules pass `promtool check rules`; the Deployment runs a watch
//!   the CLI accepts with the CronJob's read-only RBAC; the rules and the dashboard use only
//!   metrics the watch exposes.
//! - Bad input is refused before anything starts (exit 2).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use libtest_mimic::{Arguments, Failed, Trial};
use regex::Regex;
use serde_json::Value;

#[path = "support/mod.rs"]
mod support;

use support::{
    Watch, ensure, exits_2_saying, have, http, needs, pipecheck, repo_root, sample, tmp,
};

/// Series of the smoke scenario's canary: 3 gauges, the counter, 4 buckets, sum, count.
const SMOKE_SERIES: f64 = 10.0;

fn runs(text: &str, result: &str) -> f64 {
    sample(
        text,
        &format!("pipecheck_watch_runs_total{{scenario=\"smoke\",result=\"{result}\"}}"),
    )
    .unwrap_or(0.0)
}

/// The process's resident memory (kB), from /proc.
fn rss_kb(pid: u32) -> Result<u64, Failed> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("/proc/{pid}/status: {e}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| "no VmRSS".into())
}

/// Runs at 100 ms (each takes longer in a debug build: nearly every one is an overrun,
/// and the next starts right after it, never beside it) until `RUNS` finished (about a
/// minute in a debug build; an hour at 100 ms would be 36000, at the default 5m 12): the
/// mock's series and the RSS after `EARLY` runs against at the end.
fn a_compressed_hour_keeps_series_and_memory_flat() -> Result<(), Failed> {
    const EARLY: f64 = 50.0;
    const RUNS: f64 = 400.0;
    let w = Watch::start(&["--interval", "100ms", "--instance", "hour"], |_| {})?;
    let early = w.wait_metrics("50 runs", Duration::from_secs(120), |t| {
        runs(t, "passed") + runs(t, "failed") >= EARLY
    })?;
    let rss_early = rss_kb(w.pid())?;
    let series = |t: &str| sample(t, "pipecheck_watch_mock_series{scenario=\"smoke\"}");
    let late = w.wait_metrics("400 runs", Duration::from_secs(400), |t| {
        runs(t, "passed") + runs(t, "failed") >= RUNS
    })?;
    let rss_late = rss_kb(w.pid())?;
    ensure(
        runs(&late, "failed") == 0.0 && runs(&late, "error") == 0.0,
        || format!("runs failed:\n{late}"),
    )?;
    ensure(
        series(&early) == Some(SMOKE_SERIES) && series(&late) == Some(SMOKE_SERIES),
        || {
            format!(
                "the mock's series: {:?} after {EARLY} runs, {:?} after {RUNS}",
                series(&early),
                series(&late)
            )
        },
    )?;
    // Generous: allocator noise, not growth per run (350 runs of a leak of a run's
    // canary, mock objects or reports would pass it by far).
    ensure(rss_late <= rss_early * 3 / 2 + 16 * 1024, || {
        format!("VmRSS grew from {rss_early} kB to {rss_late} kB")
    })?;
    ensure(
        sample(&late, "pipecheck_watch_overruns_total{scenario=\"smoke\"}").is_some(),
        || "no overrun counter".to_string(),
    )?;
    // One Grafana token for the watch: the last run reused it.
    let report: Value = serde_json::from_str(&w.get("/report.json")?).map_err(|e| e.to_string())?;
    let api = &report["scenarios"][0]["links"]
        .as_array()
        .and_then(|l| l.iter().find(|l| l["name"] == "grafana.api"))
        .cloned()
        .ok_or("no grafana.api in the report")?;
    ensure(
        api.to_string()
            .contains("the watch's service-account token (reused"),
        || format!("grafana.api did not reuse the watch's token: {api}"),
    )?;
    let html = w.get("/")?;
    ensure(html.contains("<html") && html.contains("smoke"), || {
        format!("/ is not the HTML report: {}", support::tail(&html, 300))
    })?;
    ensure(w.get("/healthz")?.trim() == "ok", || "healthz".to_string())?;
    let overruns = sample(
        &w.get("/metrics")?,
        "pipecheck_watch_overruns_total{scenario=\"smoke\"}",
    )
    .unwrap_or(0.0);
    let (status, logs) = w.stop("-TERM")?;
    ensure(status.code() == Some(0), || {
        format!(
            "exit {status} after SIGTERM; logs: {}",
            support::tail(&logs, 2000)
        )
    })?;
    ensure(logs.contains("pipecheck watch: stopped by SIGTERM"), || {
        format!("no stop line: {}", support::tail(&logs, 2000))
    })?;
    // Every overrun counted was logged too (the log may hold a few more, of runs that
    // ended after the last scrape).
    let logged = logs
        .matches("the run took longer than the interval")
        .count() as f64;
    ensure(logged >= overruns, || {
        format!("{overruns} overruns counted, {logged} logged")
    })
}

/// `--target aws` against `pipecheck mock` (through its exports, without its Grafana
/// token): the watch makes one service account for its scenario, reuses its token, and
/// deletes the account when stopped.
fn a_watch_on_aws_removes_its_service_account_when_stopped() -> Result<(), Failed> {
    watch_on_aws(&[], "(reused")
}

/// The same with the token replaced before every run (`--rotate-token-after 0s`, hidden):
/// each run makes the next token on the same service account and deletes the previous one
/// (a failed deletion would be logged), and one account is deleted at the stop.
fn the_watch_rotates_its_token_on_one_service_account() -> Result<(), Failed> {
    watch_on_aws(&["--rotate-token-after", "0s"], "(new")
}

fn watch_on_aws(extra: &[&str], token: &str) -> Result<(), Failed> {
    let mock = support::Mock::start(
        Stdio::null(),
        &[
            "AWS_SECRET_ACCESS_KEY",
            "PIPECHECK_WORKSPACE_ID",
            "PIPECHECK_GRAFANA_URL",
        ],
    )?;
    let dir = tmp();
    let none = dir.path().join("none");
    let mut args = vec![
        "--target",
        "aws",
        "--interval",
        "100ms",
        "--instance",
        "aws",
    ];
    args.extend(extra);
    let w = Watch::start(&args, |cmd| {
        cmd.envs(&mock.env)
            .env_remove("PIPECHECK_GRAFANA_TOKEN")
            .env("AWS_CONFIG_FILE", &none)
            .env("AWS_SHARED_CREDENTIALS_FILE", &none)
            .env("AWS_EC2_METADATA_DISABLED", "true");
    })?;
    let text = w.wait_metrics("3 runs", Duration::from_secs(120), |t| {
        runs(t, "passed") + runs(t, "failed") + runs(t, "error") >= 3.0
    })?;
    ensure(runs(&text, "passed") >= 3.0, || {
        format!(
            "runs did not pass:\n{text}\n{}",
            support::tail(&w.get("/report.json").unwrap_or_default(), 3000)
        )
    })?;
    let report = w.get("/report.json")?;
    ensure(
        report.contains(&format!("the watch's service-account token {token}")),
        || {
            format!(
                "grafana.api's credential is not {token}: {}",
                support::tail(&report, 3000)
            )
        },
    )?;
    let (status, logs) = w.stop("-TERM")?;
    ensure(status.code() == Some(0), || {
        format!("exit {status}; logs: {}", support::tail(&logs, 2000))
    })?;
    let stop_line = logs
        .lines()
        .find(|l| l.starts_with("pipecheck watch: stopped by SIGTERM"))
        .unwrap_or_default();
    ensure(
        stop_line.contains("deleted service account pipecheck-watch-aws-smoke")
            && stop_line.matches("service account").count() == 1,
        || format!("the stop line: {stop_line:?}"),
    )?;
    ensure(
        !logs.contains("previous Grafana token was not deleted"),
        || format!("a rotated token was left: {}", support::tail(&logs, 2000)),
    )?;
    mock.stop().map(|_| ())
}

/// A free loopback port (bound, then released for Prometheus to take).
fn free_port() -> Result<u16, Failed> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port())
}

/// Debian's prometheus, scraping `target` every second with `rules` loaded.
struct Prometheus {
    child: Child,
    addr: String,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    fn start(target: &str, rules: &str) -> Result<Self, Failed> {
        let dir = tmp();
        std::fs::write(dir.path().join("rules.yaml"), rules).map_err(|e| e.to_string())?;
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: [rules.yaml]\nscrape_configs:\n  - job_name: pipecheck-watch\n    static_configs:\n      - targets: ['{target}']\n"
        );
        let config_path = dir.path().join("prometheus.yml");
        std::fs::write(&config_path, config).map_err(|e| e.to_string())?;
        let addr = format!("127.0.0.1:{}", free_port()?);
        let log = std::fs::File::create(dir.path().join("log")).map_err(|e| e.to_string())?;
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("prometheus: {e}"))?;
        let p = Prometheus {
            child,
            addr,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !matches!(http(&p.addr, "GET", "/-/ready", ""), Ok((200, _))) {
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(p._dir.path().join("log")).unwrap_or_default();
                return Err(format!(
                    "prometheus not ready in 60 s: {}",
                    support::tail(&log, 2000)
                )
                .into());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Ok(p)
    }

    /// The alerts Prometheus holds (pending or firing).
    fn alerts(&self) -> Result<Vec<Value>, Failed> {
        let (status, body) = http(&self.addr, "GET", "/api/v1/alerts", "")?;
        ensure(status == 200, || format!("/api/v1/alerts: {status} {body}"))?;
        let v: Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
        Ok(v["data"]["alerts"].as_array().cloned().unwrap_or_default())
    }

    /// Polls the alerts every 500 ms until `done` holds, for at most `within`.
    fn wait_alerts(
        &self,
        what: &str,
        within: Duration,
        mut done: impl FnMut(&[Value]) -> bool,
    ) -> Result<Vec<Value>, Failed> {
        let deadline = Instant::now() + within;
        loop {
            let alerts = self.alerts()?;
            if done(&alerts) {
                return Ok(alerts);
            }
            if Instant::now() > deadline {
                return Err(format!("{what}: not within {within:?}; alerts: {alerts:?}").into());
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

/// The shipped rule file with every `for:` at 1s: the expressions and labels as shipped.
fn rules_with_short_for() -> Result<String, Failed> {
    let path = repo_root().join("deploy/watch/rules.yaml");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let re = Regex::new(r"(?m)^(\s+for:) \S+$").expect("a regex");
    ensure(re.is_match(&text), || "no `for:` in the rules".to_string())?;
    Ok(re.replace_all(&text, "$1 1s").into_owned())
}

fn failing(alerts: &[Value]) -> Vec<&Value> {
    alerts
        .iter()
        .filter(|a| a["labels"]["alertname"] == "PipecheckPipelineFailing")
        .collect()
}

/// The fault goes in through the watch's `PUT /faults` (the mock is the watch's own, kept
/// across runs; a fault change restarts it with the new list from the next run on).
fn a_fault_fires_the_shipped_alert_with_its_root_cause_link_and_clearing_it_resolves_it()
-> Result<(), Failed> {
    let w = Watch::start(&["--interval", "200ms", "--instance", "alerts"], |_| {})?;
    w.wait_metrics("a passing run", Duration::from_secs(60), |t| {
        runs(t, "passed") >= 1.0
    })?;
    let prom = Prometheus::start(&w.addr, &rules_with_short_for()?)?;
    // Prometheus scraped the passing watch: the rules are loaded, nothing fires.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, body) = http(
            &prom.addr,
            "GET",
            "/api/v1/query?query=pipecheck_watch_scenario_up",
            "",
        )?;
        if body.contains("\"smoke\"") {
            break;
        }
        ensure(Instant::now() < deadline, || {
            format!("prometheus never scraped the watch: {body}")
        })?;
        std::thread::sleep(Duration::from_millis(200));
    }
    let (_, rules) = http(&prom.addr, "GET", "/api/v1/rules", "")?;
    ensure(rules.contains("PipecheckPipelineFailing"), || {
        format!("the rules are not loaded: {rules}")
    })?;
    ensure(failing(&prom.alerts()?).is_empty(), || {
        "the pipeline alert is active while the watch passes".to_string()
    })?;

    let (status, body) = w.http("PUT", "/faults", "remote-write-denied")?;
    ensure(status == 200 && body.contains("F05"), || {
        format!("PUT /faults: {status} {body}")
    })?;
    let alerts = prom.wait_alerts("the pipeline alert firing", Duration::from_secs(90), |a| {
        failing(a).iter().any(|a| a["state"] == "firing")
    })?;
    let firing = failing(&alerts);
    ensure(
        firing.len() == 1
            && firing[0]["labels"]["link"] == "amp.remote_write"
            && firing[0]["labels"]["scenario"] == "smoke"
            && firing[0]["labels"]["severity"] == "critical",
        || format!("the alert does not name amp.remote_write alone: {firing:?}"),
    )?;
    ensure(
        firing[0]["annotations"]["summary"]
            .as_str()
            .is_some_and(|s| s.contains("amp.remote_write")),
        || format!("summary: {}", firing[0]["annotations"]),
    )?;
    // The watch's own view agrees.
    let text = w.get("/metrics")?;
    ensure(
        sample(
            &text,
            "pipecheck_watch_root_cause_info{scenario=\"smoke\",link=\"amp.remote_write\"}",
        ) == Some(1.0),
        || format!("no root cause in /metrics:\n{text}"),
    )?;

    let (status, body) = w.http("DELETE", "/faults", "")?;
    ensure(status == 204, || format!("DELETE /faults: {status} {body}"))?;
    prom.wait_alerts(
        "the pipeline alert resolved",
        Duration::from_secs(90),
        |a| failing(a).is_empty(),
    )?;
    let text = w.get("/metrics")?;
    ensure(
        sample(&text, "pipecheck_watch_scenario_up{scenario=\"smoke\"}") == Some(1.0)
            && !text.contains("pipecheck_watch_root_cause_info{"),
        || format!("the watch still reports a failure:\n{text}"),
    )?;
    // A fault that does not apply is refused, the running list unchanged.
    let (status, body) = w.http("PUT", "/faults", "no-such-fault")?;
    ensure(status == 400 && body.contains("no-such-fault"), || {
        format!("PUT of an unknown fault: {status} {body}")
    })?;
    let (status, logs) = w.stop("-INT")?;
    ensure(status.code() == Some(0), || {
        format!(
            "exit {status} after SIGINT; logs: {}",
            support::tail(&logs, 2000)
        )
    })
}

fn the_shipped_rules_pass_promtool() -> Result<(), Failed> {
    let out = Command::new("promtool")
        .args(["check", "rules"])
        .arg(repo_root().join("deploy/watch/rules.yaml"))
        .output()
        .map_err(|e| e.to_string())?;
    ensure(out.status.success(), || {
        format!(
            "promtool: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn yaml_docs(rel: &str) -> Result<Vec<Value>, Failed> {
    let path = repo_root().join(rel);
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_saphyr::from_multiple::<Value>(&text)
        .map_err(|e| format!("{}: {e}", path.display()).into())
}

fn of_kind<'a>(docs: &'a [Value], kind: &str) -> Result<&'a Value, Failed> {
    let found: Vec<&Value> = docs.iter().filter(|d| d["kind"] == kind).collect();
    ensure(found.len() == 1, || {
        format!("{} {kind} documents, expected 1", found.len())
    })?;
    Ok(found[0])
}

/// The Deployment runs `watch --target aws` (args the CLI accepts) as the service account
/// the binding gives the CronJob's read-only ClusterRole; the Service and the probes use
/// the port the watch listens on.
fn the_deployment_runs_a_valid_watch_with_the_read_only_rbac() -> Result<(), Failed> {
    let docs = yaml_docs("deploy/watch/watch.yaml")?;
    let cron = yaml_docs("deploy/cronjob.yaml")?;
    let role = of_kind(&docs, "ClusterRole")?;
    let cron_role = of_kind(&cron, "ClusterRole")?;
    ensure(
        role["metadata"] == cron_role["metadata"] && role["rules"] == cron_role["rules"],
        || "the watch's ClusterRole differs from the CronJob's read-only one".to_string(),
    )?;
    let sa = of_kind(&docs, "ServiceAccount")?;
    let (name, ns) = (&sa["metadata"]["name"], &sa["metadata"]["namespace"]);
    let binding = of_kind(&docs, "ClusterRoleBinding")?;
    ensure(
        binding["roleRef"]["name"] == role["metadata"]["name"]
            && binding["subjects"].as_array().is_some_and(|s| {
                s.iter()
                    .any(|s| &s["name"] == name && &s["namespace"] == ns)
            }),
        || format!("the binding does not bind the role to the watch: {binding}"),
    )?;
    let deploy = of_kind(&docs, "Deployment")?;
    let pod = &deploy["spec"]["template"]["spec"];
    ensure(&pod["serviceAccountName"] == name, || {
        format!("serviceAccountName {}", pod["serviceAccountName"])
    })?;
    ensure(deploy["spec"]["replicas"] == 1, || {
        "more than one replica would write one canary twice".to_string()
    })?;
    let container = &pod["containers"][0];
    let args: Vec<String> = container["args"]
        .as_array()
        .ok_or("no args")?
        .iter()
        .filter_map(|a| a.as_str().map(str::to_string))
        .collect();
    let parsed = pipecheck::cli::Cli::try_parse_from(
        std::iter::once("pipecheck".to_string()).chain(args.iter().cloned()),
    )
    .map_err(|e| format!("the Deployment's args {args:?} do not parse: {e}"))?;
    let pipecheck::cli::Command::Watch(watch) = parsed.command else {
        return Err(format!("the Deployment does not `watch`: {args:?}").into());
    };
    ensure(
        watch.target.kind == pipecheck::target::TargetKind::Aws,
        || "the Deployment does not watch --target aws".into(),
    )?;
    let port = watch.listen.port();
    ensure(container["ports"][0]["containerPort"] == port, || {
        format!(
            "container port {} is not --listen's {port}",
            container["ports"][0]
        )
    })?;
    let port_name = &container["ports"][0]["name"];
    for probe in ["readinessProbe", "livenessProbe"] {
        let get = &container[probe]["httpGet"];
        ensure(
            get["path"] == "/healthz" && &get["port"] == port_name,
            || format!("{probe}: {get}"),
        )?;
    }
    let svc = of_kind(&docs, "Service")?;
    ensure(
        &svc["spec"]["ports"][0]["targetPort"] == port_name
            && svc["spec"]["selector"] == deploy["spec"]["selector"]["matchLabels"],
        || format!("the Service does not reach the watch: {svc}"),
    )
}

/// Every metric the rules and the dashboard name is one the watch exposes (its /metrics
/// after a run).
fn the_rules_and_the_dashboard_use_only_exposed_metrics() -> Result<(), Failed> {
    // A failing run (a root cause), then passing ones (an arrival latency).
    let w = Watch::start(
        &[
            "--interval",
            "100ms",
            "--instance",
            "names",
            "--fault",
            "remote-write-denied",
        ],
        |_| {},
    )?;
    let failing = w.wait_metrics("a failed run", Duration::from_secs(60), |t| {
        runs(t, "failed") >= 1.0
    })?;
    let (status, body) = w.http("DELETE", "/faults", "")?;
    ensure(status == 204, || format!("DELETE /faults: {status} {body}"))?;
    let passing = w.wait_metrics("a passed run", Duration::from_secs(60), |t| {
        runs(t, "passed") >= 1.0
    })?;
    let exposed: std::collections::BTreeSet<String> = [failing, passing]
        .join("\n")
        .lines()
        .filter_map(|l| match l.strip_prefix("# TYPE ") {
            Some(t) => t.split(' ').next(),
            None if l.starts_with('#') => None,
            None => l.split(['{', ' ']).next(),
        })
        .map(str::to_string)
        .collect();
    let re = Regex::new(r"pipecheck_watch_[a-z_]+").expect("a regex");
    for rel in ["deploy/watch/rules.yaml", "deploy/watch/dashboard.json"] {
        let body = std::fs::read_to_string(repo_root().join(rel)).map_err(|e| e.to_string())?;
        if rel.ends_with(".json") {
            serde_json::from_str::<Value>(&body).map_err(|e| format!("{rel}: {e}"))?;
        }
        let named: Vec<&str> = re.find_iter(&body).map(|m| m.as_str()).collect();
        ensure(!named.is_empty(), || format!("{rel} names no metric"))?;
        for n in named {
            ensure(exposed.contains(n), || {
                format!("{rel} uses {n}, which the watch does not expose: {exposed:?}")
            })?;
        }
    }
    w.stop("-TERM").map(|_| ())
}

fn bad_input_is_refused_before_anything_starts() -> Result<(), Failed> {
    for (args, words) in [
        (
            &["watch", "--scenario", "prometheus-process"][..],
            "local collector",
        ),
        (&["watch", "--fault", "no-such-fault"][..], "unknown fault"),
        (
            &["watch", "--target", "aws", "--fault", "F04"][..],
            "--target mock",
        ),
        (&["watch", "--interval", "1ms"][..], "at least 10ms"),
        (&["watch", "--instance", "a b"][..], "letters"),
        (
            &["watch", "--scenario", "smoke", "--scenario", "smoke"][..],
            "twice",
        ),
    ] {
        exits_2_saying(&pipecheck(args), words)
            .map_err(|e| format!("{args:?}: {}", e.message().unwrap_or_default()))?;
    }
    Ok(())
}

fn main() {
    let args = Arguments::from_args();
    let trials = vec![
        needs(
            Trial::test(
                "watch::a_fault_fires_the_shipped_alert_with_its_root_cause_link_and_clearing_it_resolves_it",
                a_fault_fires_the_shipped_alert_with_its_root_cause_link_and_clearing_it_resolves_it,
            ),
            have("prometheus", &["--version"]),
            "prometheus is not installed (scripts/test installs Debian's)",
        ),
        Trial::test(
            "watch::a_compressed_hour_keeps_series_and_memory_flat",
            a_compressed_hour_keeps_series_and_memory_flat,
        ),
        Trial::test(
            "watch::a_watch_on_aws_removes_its_service_account_when_stopped",
            a_watch_on_aws_removes_its_service_account_when_stopped,
        ),
        Trial::test(
            "watch::the_watch_rotates_its_token_on_one_service_account",
            the_watch_rotates_its_token_on_one_service_account,
        ),
        needs(
            Trial::test(
                "watch::the_shipped_rules_pass_promtool",
                the_shipped_rules_pass_promtool,
            ),
            have("promtool", &["--version"]),
            "promtool is not installed (Debian's prometheus package ships it)",
        ),
        Trial::test(
            "watch::the_deployment_runs_a_valid_watch_with_the_read_only_rbac",
            the_deployment_runs_a_valid_watch_with_the_read_only_rbac,
        ),
        Trial::test(
            "watch::the_rules_and_the_dashboard_use_only_exposed_metrics",
            the_rules_and_the_dashboard_use_only_exposed_metrics,
        ),
        Trial::test(
            "watch::bad_input_is_refused_before_anything_starts",
            bad_input_is_refused_before_anything_starts,
        ),
    ];
    libtest_mimic::run(&args, trials).exit();
}
