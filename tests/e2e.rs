//! End-to-end tests: the real `pipecheck` binary against the embedded mock stack. One
//! named trial per scenario, per catalog fault and per bad-input case, so
//! `cargo test --test e2e -- amp-unsigned` runs one. A fault trial asserts the exit code,
//! the JUnit root cause (exactly the expected link), the verdict's key words, and that
//! every link depending on the root cause is `blocked`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use libtest_mimic::{Arguments, Failed, Trial};

/// The cluster scenarios' trials (EKS, IAM/IRSA, Kubernetes).
mod e2e_cluster;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_pipecheck")
}

fn pipecheck(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("AWS_PROFILE")
        .output()
        .expect("the pipecheck binary runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// One testcase of the JUnit report as the contract defines it.
#[derive(Debug)]
struct Case {
    outcome: String,
    message: String,
    body: String,
}

#[derive(Debug)]
struct Suite {
    name: String,
    properties: BTreeMap<String, String>,
    cases: Vec<(String, Case)>,
}

fn read_junit(path: &Path) -> Result<Vec<Suite>, Failed> {
    let xml = std::fs::read_to_string(path)
        .map_err(|e| format!("no JUnit report at {}: {e}", path.display()))?;
    let doc =
        roxmltree::Document::parse(&xml).map_err(|e| format!("JUnit report is not XML: {e}"))?;
    let mut suites = Vec::new();
    for s in doc.descendants().filter(|n| n.has_tag_name("testsuite")) {
        let properties = s
            .descendants()
            .filter(|n| n.has_tag_name("property"))
            .map(|p| {
                (
                    p.attribute("name").unwrap_or("").to_string(),
                    p.attribute("value").unwrap_or("").to_string(),
                )
            })
            .collect();
        let cases = s
            .children()
            .filter(|n| n.has_tag_name("testcase"))
            .map(|c| {
                let child = |tag: &str| c.children().find(|n| n.has_tag_name(tag));
                let (outcome, node) = if let Some(f) = child("failure") {
                    ("fail", Some(f))
                } else if let Some(s) = child("skipped") {
                    ("blocked", Some(s))
                } else {
                    ("pass", child("system-out"))
                };
                let message = node
                    .and_then(|n| n.attribute("message"))
                    .unwrap_or("")
                    .to_string();
                let body = node.and_then(|n| n.text()).unwrap_or("").to_string();
                (
                    c.attribute("name").unwrap_or("").to_string(),
                    Case {
                        outcome: outcome.into(),
                        message,
                        body,
                    },
                )
            })
            .collect();
        suites.push(Suite {
            name: s.attribute("name").unwrap_or("").to_string(),
            properties,
            cases,
        });
    }
    Ok(suites)
}

/// Links of the direct-push chain and what each depends on (for the blocked assertions),
/// in report order; a link with two dependencies has a row for each.
const DEPENDS: &[(&str, &str)] = &[
    ("amp.workspace", "aws.identity"),
    ("amp.remote_write", "amp.workspace"),
    ("amp.query", "amp.remote_write"),
    ("pipeline.delivery", "amp.query"),
    ("amg.workspace", "aws.identity"),
    ("grafana.api", "amg.workspace"),
    ("grafana.datasource", "grafana.api"),
    ("grafana.datasource", "amp.workspace"),
    ("grafana.query", "grafana.datasource"),
    ("grafana.query", "amp.query"),
    ("grafana.dashboard", "grafana.query"),
];

/// The chain through a collector: AMP's writes come from the collector.
const DEPENDS_COLLECTOR: &[(&str, &str)] = &[
    ("amp.workspace", "aws.identity"),
    ("collector.config", "amp.workspace"),
    ("collector.running", "collector.config"),
    ("canary.scraped", "collector.running"),
    ("collector.signing", "canary.scraped"),
    ("amp.remote_write", "collector.signing"),
    ("amp.query", "amp.remote_write"),
    ("pipeline.delivery", "amp.query"),
    ("amg.workspace", "aws.identity"),
    ("grafana.api", "amg.workspace"),
    ("grafana.datasource", "grafana.api"),
    ("grafana.datasource", "amp.workspace"),
    ("grafana.query", "grafana.datasource"),
    ("grafana.query", "amp.query"),
    ("grafana.dashboard", "grafana.query"),
];

/// The links of a chain in report order (each once).
fn chain_links(scenario: &str) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for (child, _) in chain(scenario) {
        if !out.contains(child) {
            out.push(child);
        }
    }
    out
}

fn chain(scenario: &str) -> &'static [(&'static str, &'static str)] {
    if scenario.starts_with("prometheus-") {
        DEPENDS_COLLECTOR
    } else {
        DEPENDS
    }
}

fn dependents_of(scenario: &str, link: &str) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    let mut frontier = vec![link.to_string()];
    while let Some(l) = frontier.pop() {
        for (child, parent) in chain(scenario) {
            if *parent == l && !out.contains(child) {
                out.push(child);
                frontier.push(child.to_string());
            }
        }
    }
    out
}

/// The report validates against the JUnit XSD kept in the repo (xmllint; CI installs it).
fn validate_xsd(path: &Path) -> Result<(), Failed> {
    let xsd = repo_root().join("tests/schema/junit.xsd");
    let out = Command::new("xmllint")
        .args(["--noout", "--schema"])
        .arg(&xsd)
        .arg(path)
        .output()
        .map_err(|e| format!("xmllint is needed to validate the JUnit report ({e}): install libxml2-utils (scripts/test does)"))?;
    ensure(out.status.success(), || {
        format!(
            "{} does not validate against {}: {}",
            path.display(),
            xsd.display(),
            text(&out.stderr)
        )
    })
}

fn ensure(cond: bool, msg: impl FnOnce() -> String) -> Result<(), Failed> {
    if cond { Ok(()) } else { Err(msg().into()) }
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().expect("a temp dir")
}

/// Expected result of a fault in a scenario: its link, whether it fails (or only
/// warns), and key words the verdict must contain.
const FAULTS: &[(&str, &str, &str, bool, &str)] = &[
    (
        "smoke",
        "credentials-expired",
        "aws.identity",
        true,
        "expired",
    ),
    (
        "smoke",
        "credentials-unknown",
        "aws.identity",
        true,
        "not recognised",
    ),
    (
        "smoke",
        "workspace-wrong-region",
        "amp.workspace",
        true,
        "not found in us-east-1",
    ),
    (
        "smoke",
        "workspace-creating",
        "amp.workspace",
        true,
        "still CREATING",
    ),
    (
        "smoke",
        "workspace-creation-failed",
        "amp.workspace",
        true,
        "CREATION_FAILED",
    ),
    (
        "smoke",
        "workspace-deleting",
        "amp.workspace",
        true,
        "DELETING",
    ),
    (
        "smoke",
        "amp-unsigned",
        "amp.remote_write",
        true,
        "Missing Authentication Token",
    ),
    (
        "smoke",
        "remote-write-denied",
        "amp.remote_write",
        true,
        "aps:RemoteWrite",
    ),
    (
        "smoke",
        "signing-region-wrong",
        "amp.remote_write",
        true,
        "wrong region",
    ),
    (
        "smoke",
        "clock-skew",
        "amp.remote_write",
        true,
        "clock skew",
    ),
    ("smoke", "throttled", "amp.remote_write", true, "429"),
    (
        "smoke",
        "throttled-transient",
        "amp.remote_write",
        false,
        "retried",
    ),
    (
        "smoke",
        "samples-dropped",
        "amp.query",
        true,
        "never became queryable",
    ),
    (
        "smoke",
        "out-of-order",
        "amp.remote_write",
        true,
        "out of order sample",
    ),
    (
        "smoke",
        "duplicate-sample",
        "amp.remote_write",
        true,
        "duplicate sample",
    ),
    (
        "smoke",
        "too-many-labels",
        "amp.remote_write",
        true,
        "too many labels",
    ),
    (
        "smoke",
        "query-denied",
        "amp.query",
        true,
        "aps:QueryMetrics",
    ),
    // Through a real collector (Prometheus, writing through pipecheck's SigV4 proxy).
    (
        "prometheus-proxy",
        "collector-bad-flag",
        "collector.running",
        true,
        "exited with status",
    ),
    (
        "prometheus-proxy",
        "collector-other-workspace",
        "collector.config",
        true,
        "names workspace ws-0f16f16f",
    ),
    (
        "prometheus-proxy",
        "canary-wrong-port",
        "canary.scraped",
        true,
        "cannot scrape the canary",
    ),
    (
        "prometheus-proxy",
        "throttled",
        "amp.remote_write",
        true,
        "429",
    ),
    (
        "prometheus-proxy",
        "remote-write-denied",
        "amp.remote_write",
        true,
        "aps:RemoteWrite",
    ),
    (
        "prometheus-proxy",
        "samples-dropped",
        "amp.query",
        true,
        "never became queryable",
    ),
    // The Grafana side (F21-F25): the AMP chain passes, the grafana link fails, the
    // grafana links after it are blocked.
    (
        "smoke",
        "amg-workspace-not-active",
        "amg.workspace",
        true,
        "is CREATION_FAILED, not ACTIVE",
    ),
    (
        "smoke",
        "amg-nobody-can-log-in",
        "amg.workspace",
        true,
        "no IAM Identity Center user or group has a role",
    ),
    (
        "smoke",
        "amg-saml-not-configured",
        "amg.workspace",
        true,
        "SAML is NOT_CONFIGURED",
    ),
    (
        "smoke",
        "grafana-token-denied",
        "grafana.api",
        true,
        "not allowed to call grafana:CreateWorkspaceServiceAccount",
    ),
    (
        "smoke",
        "grafana-token-expired",
        "grafana.api",
        true,
        "401 Expired API key",
    ),
    (
        "smoke",
        "grafana-no-datasource",
        "grafana.datasource",
        true,
        "Grafana has no AMP data source",
    ),
    (
        "smoke",
        "grafana-datasource-other-workspace",
        "grafana.datasource",
        true,
        "its URL names workspace ws-0f23f23f",
    ),
    (
        "smoke",
        "grafana-sigv4-off",
        "grafana.datasource",
        true,
        "sigV4Auth = false",
    ),
    (
        "smoke",
        "grafana-datasource-region",
        "grafana.datasource",
        true,
        "signs for region eu-west-1",
    ),
    (
        "smoke",
        "grafana-role-no-query",
        "grafana.query",
        true,
        "AmazonGrafanaServiceRole-pipecheck is not authorized to perform aps:QueryMetrics",
    ),
    (
        "smoke",
        "grafana-role-no-query-no-data",
        "grafana.query",
        true,
        "not authorized to perform aps:QueryMetrics (Grafana shows it as \"No data\"",
    ),
    (
        "smoke",
        "grafana-dashboard-missing",
        "grafana.dashboard",
        true,
        "not found in Grafana",
    ),
    (
        "smoke",
        "grafana-panel-no-data",
        "grafana.dashboard",
        true,
        "returns no data",
    ),
    (
        "prometheus-proxy",
        "grafana-datasource-other-workspace",
        "grafana.datasource",
        true,
        "its URL names workspace ws-0f23f23f",
    ),
    (
        "prometheus-proxy",
        "grafana-role-no-query",
        "grafana.query",
        true,
        "is not authorized to perform aps:QueryMetrics",
    ),
];

fn fault_trial(
    scenario: &'static str,
    name: &'static str,
    link: &'static str,
    fails: bool,
    words: &'static str,
) -> Result<(), Failed> {
    let dir = tmp();
    let report = dir.path().join("r.xml");
    let out = pipecheck(&[
        "run",
        "--scenario",
        scenario,
        "--fault",
        name,
        "--junit",
        report.to_str().unwrap(),
    ]);
    let stdout = text(&out.stdout);
    let expected_code = if fails { 1 } else { 0 };
    ensure(out.status.code() == Some(expected_code), || {
        format!(
            "exit {:?}, expected {expected_code}\nstdout:\n{stdout}\nstderr:\n{}",
            out.status.code(),
            text(&out.stderr)
        )
    })?;
    ensure(
        !stdout.contains("panicked") && !text(&out.stderr).contains("panicked"),
        || "a panic was printed".into(),
    )?;
    validate_xsd(&report)?;
    let suites = read_junit(&report)?;
    ensure(
        suites.len() == 1 && suites[0].name == format!("{scenario}@mock"),
        || format!("suites: {suites:?}"),
    )?;
    let suite = &suites[0];
    let root = suite
        .properties
        .get("root_cause")
        .cloned()
        .unwrap_or_default();
    let case = |l: &str| suite.cases.iter().find(|(n, _)| n == l).map(|(_, c)| c);
    let c = case(link).ok_or_else(|| format!("no testcase {link}"))?;
    if fails {
        ensure(root == link, || {
            format!("root_cause {root:?}, expected exactly {link:?}\n{stdout}")
        })?;
        ensure(c.outcome == "fail", || {
            format!("{link} is {}, expected fail", c.outcome)
        })?;
        ensure(c.message.contains(words), || {
            format!("verdict {:?} lacks {words:?}", c.message)
        })?;
        ensure(c.body.contains("hint:"), || {
            format!("failure of {link} has no hint: {:?}", c.body)
        })?;
        for d in dependents_of(scenario, link) {
            let dc = case(d).ok_or_else(|| format!("no testcase {d}"))?;
            ensure(
                dc.outcome == "blocked" && dc.message == format!("blocked by {link}"),
                || format!("{d}: {dc:?}, expected blocked by {link}"),
            )?;
        }
        let failed: Vec<&str> = suite
            .cases
            .iter()
            .filter(|(_, c)| c.outcome == "fail")
            .map(|(n, _)| n.as_str())
            .collect();
        ensure(failed == vec![link], || {
            format!("failed links {failed:?}, expected only {link}")
        })?;
        ensure(stdout.contains(&format!("root cause: {link}")), || {
            format!("console does not name the root cause:\n{stdout}")
        })?;
    } else {
        ensure(root.is_empty(), || {
            format!("root_cause {root:?}, expected none")
        })?;
        ensure(c.outcome == "pass" && c.body.contains(words), || {
            format!("{link}: {c:?}, expected a passing warning with {words:?}")
        })?;
        ensure(suite.cases.iter().all(|(_, c)| c.outcome == "pass"), || {
            format!("{suite:?}")
        })?;
    }
    Ok(())
}

fn smoke() -> Result<(), Failed> {
    let dir = tmp();
    let report = dir.path().join("report.xml");
    let out = pipecheck(&["run", "--junit", report.to_str().unwrap()]);
    let stdout = text(&out.stdout);
    ensure(out.status.code() == Some(0), || {
        format!(
            "exit {:?}\n{stdout}\n{}",
            out.status.code(),
            text(&out.stderr)
        )
    })?;
    validate_xsd(&report)?;
    let suites = read_junit(&report)?;
    let s = &suites[0];
    ensure(s.name == "smoke@mock", || s.name.clone())?;
    ensure(
        s.properties.get("root_cause").map(String::as_str) == Some(""),
        || format!("{:?}", s.properties),
    )?;
    ensure(
        s.properties.get("target").map(String::as_str) == Some("mock"),
        || format!("{:?}", s.properties),
    )?;
    ensure(
        s.properties
            .get("run_id")
            .is_some_and(|r| r.starts_with("pc-")),
        || format!("{:?}", s.properties),
    )?;
    let names: Vec<&str> = s.cases.iter().map(|(n, _)| n.as_str()).collect();
    ensure(
        names
            == [
                "aws.identity",
                "amp.workspace",
                "amp.remote_write",
                "amp.query",
                "pipeline.delivery",
                "amg.workspace",
                "grafana.api",
                "grafana.datasource",
                "grafana.query",
                "grafana.dashboard",
            ],
        || format!("{names:?}"),
    )?;
    ensure(s.cases.iter().all(|(_, c)| c.outcome == "pass"), || {
        format!("{:?}", s.cases)
    })?;
    ensure(s.properties.contains_key("arrival_latency_ms"), || {
        "no arrival latency recorded".into()
    })?;
    // The mock's freshly made secret must not leak into the console or the report.
    let xml = std::fs::read_to_string(&report).unwrap();
    ensure(
        !stdout.contains("Signature=") && !xml.contains("Signature="),
        || "a signature leaked".into(),
    )?;
    // The run made its own Grafana token and dashboard, and removed both.
    let cleanup = s
        .properties
        .get("grafana_cleanup")
        .cloned()
        .unwrap_or_default();
    ensure(
        cleanup.contains("deleted dashboard pipecheck-pc-")
            && cleanup.contains("deleted service account pipecheck-pc-"),
        || format!("grafana_cleanup: {cleanup:?}"),
    )?;
    ensure(!stdout.contains("glsa_") && !xml.contains("glsa_"), || {
        "a Grafana service-account token leaked".into()
    })?;
    Ok(())
}

/// Two scenarios in one invocation: one report with a suite each, each with its own run id.
fn two_scenarios_one_report() -> Result<(), Failed> {
    let dir = tmp();
    let report = dir.path().join("r.xml");
    let out = pipecheck(&[
        "run",
        "--scenario",
        "smoke",
        "--scenario",
        "smoke",
        "--junit",
        report.to_str().unwrap(),
    ]);
    ensure(out.status.code() == Some(0), || text(&out.stdout))?;
    let suites = read_junit(&report)?;
    ensure(suites.len() == 2, || format!("{} suites", suites.len()))?;
    ensure(
        suites[0].properties["run_id"] != suites[1].properties["run_id"],
        || "run ids must differ".into(),
    )?;
    Ok(())
}

/// A bad invocation: exit 2, one clear line on stderr, no panic, nothing written.
fn bad_input(args: Vec<String>, words: &'static str) -> Result<(), Failed> {
    let dir = tmp();
    let report = dir.path().join("r.xml");
    let mut full: Vec<String> = args
        .iter()
        .map(|a| a.replace("{dir}", dir.path().to_str().unwrap()))
        .collect();
    if full.first().map(String::as_str) == Some("run") && !full.iter().any(|a| a == "--junit") {
        full.push("--junit".into());
        full.push(report.to_str().unwrap().into());
    }
    let refs: Vec<&str> = full.iter().map(String::as_str).collect();
    let out = pipecheck(&refs);
    let stderr = text(&out.stderr);
    ensure(out.status.code() == Some(2), || {
        format!("exit {:?}, expected 2; stderr: {stderr}", out.status.code())
    })?;
    ensure(stderr.contains(words), || {
        format!("stderr lacks {words:?}: {stderr}")
    })?;
    ensure(
        !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
        || format!("panic: {stderr}"),
    )?;
    ensure(!report.exists(), || {
        "a report was written for a run that could not start".into()
    })?;
    Ok(())
}

fn lists() -> Result<(), Failed> {
    let out = pipecheck(&["faults"]);
    let s = text(&out.stdout);
    ensure(out.status.success(), || s.clone())?;
    for id in [
        "F01", "F02", "F03", "F04", "F05", "F06", "F07", "F08", "F09", "F10", "F21", "F22", "F23",
        "F24", "F25",
    ] {
        ensure(s.contains(id), || {
            format!("`pipecheck faults` lacks {id}:\n{s}")
        })?;
    }
    ensure(s.contains("amp-unsigned"), || s.clone())?;
    let out = pipecheck(&["scenarios"]);
    ensure(
        out.status.success() && text(&out.stdout).contains("smoke"),
        || text(&out.stdout),
    )?;
    Ok(())
}

/// `pipecheck mock` prints exports a shell can eval; a client configured only by them
/// (here: pipecheck's own aws target, through the standard AWS_ENDPOINT_URL_* variables)
/// writes and queries the mock. Ctrl-C (SIGINT) stops it cleanly.
fn mock_exports_drive_a_standard_client() -> Result<(), Failed> {
    let mut child = Command::new(bin())
        .args(["mock"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("spawn: {e}"))?;
    let stdout = child.stdout.take().unwrap();
    let mut reader = BufReader::new(stdout);
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while env.len() < 8 && Instant::now() < deadline {
        let mut line = String::new();
        if reader.read_line(&mut line).map_err(|e| e.to_string())? == 0 {
            break;
        }
        let Some(rest) = line.trim().strip_prefix("export ") else {
            continue;
        };
        let (k, v) = rest.split_once('=').ok_or("export without =")?;
        env.insert(k.to_string(), v.trim_matches('\'').to_string());
    }
    let result: Result<(), Failed> = (|| {
        for k in [
            "AWS_ENDPOINT_URL_AMP",
            "AWS_ENDPOINT_URL_STS",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_REGION",
            "PIPECHECK_WORKSPACE_ID",
            "PIPECHECK_REMOTE_WRITE_URL",
            "PIPECHECK_QUERY_URL",
        ] {
            ensure(env.contains_key(k), || {
                format!("missing export {k}: {env:?}")
            })?;
        }
        ensure(
            env["PIPECHECK_REMOTE_WRITE_URL"].ends_with("/api/v1/remote_write"),
            || env["PIPECHECK_REMOTE_WRITE_URL"].clone(),
        )?;
        let dir = tmp();
        let report = dir.path().join("r.xml");
        let out = Command::new(bin())
            .args([
                "run",
                "--target",
                "aws",
                "--junit",
                report.to_str().unwrap(),
            ])
            .envs(&env)
            .env("NO_COLOR", "1")
            .env("AWS_CONFIG_FILE", dir.path().join("none"))
            .env("AWS_SHARED_CREDENTIALS_FILE", dir.path().join("none"))
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .output()
            .map_err(|e| e.to_string())?;
        let so = text(&out.stdout);
        ensure(out.status.code() == Some(0), || {
            format!("exit {:?}\n{so}\n{}", out.status.code(), text(&out.stderr))
        })?;
        ensure(!so.contains(&env["AWS_SECRET_ACCESS_KEY"]), || {
            "the secret key was printed".into()
        })?;
        let suites = read_junit(&report)?;
        ensure(suites[0].name == "smoke@aws", || suites[0].name.clone())?;
        curl_speaks_sigv4_to_the_mock(&env)
    })();
    // SIGINT, as Ctrl-C sends, then expect a clean exit.
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let stop_deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().map_err(|e| e.to_string())? {
            break Some(s);
        }
        if Instant::now() > stop_deadline {
            let _ = child.kill();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    result?;
    ensure(status.is_some_and(|s| s.success()), || {
        format!("mock did not stop cleanly on SIGINT: {status:?}")
    })
}

/// The Grafana exports of `pipecheck mock` drive `--target aws` through Grafana, and no
/// Grafana token ever shows: neither the ADMIN token the mock prints (handed to the run
/// through PIPECHECK_GRAFANA_TOKEN) nor the service-account token a run makes for itself
/// (when none is handed over) appears in stdout, stderr (with debug logs) or the JUnit
/// report. A token the patterns would not catch is covered too: every `glsa_` is refused.
fn mock_grafana_token_never_printed() -> Result<(), Failed> {
    let mut child = Command::new(bin())
        .args(["mock"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("spawn: {e}"))?;
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !env.contains_key("PIPECHECK_GRAFANA_TOKEN") && Instant::now() < deadline {
        let mut line = String::new();
        if reader.read_line(&mut line).map_err(|e| e.to_string())? == 0 {
            break;
        }
        let Some(rest) = line.trim().strip_prefix("export ") else {
            continue;
        };
        let (k, v) = rest.split_once('=').ok_or("export without =")?;
        env.insert(k.to_string(), v.trim_matches('\'').to_string());
    }
    let result: Result<(), Failed> = (|| {
        for k in [
            "PIPECHECK_GRAFANA_WORKSPACE_ID",
            "AWS_ENDPOINT_URL_GRAFANA",
            "PIPECHECK_GRAFANA_URL",
            "PIPECHECK_GRAFANA_TOKEN",
        ] {
            ensure(env.contains_key(k), || {
                format!("missing export {k}: {:?}", env.keys())
            })?;
        }
        let token = env["PIPECHECK_GRAFANA_TOKEN"].clone();
        ensure(token.starts_with("glsa_"), || {
            "not a service-account token".into()
        })?;
        let dir = tmp();
        // A smoke that also saves (and removes) a canary dashboard on --target aws.
        let scenario = dir.path().join("smoke-grafana.yaml");
        std::fs::write(
            &scenario,
            "name: smoke-grafana\nshape: direct\ngrafana: {provision: true}\nexpect: {arrival_deadline: 10s, workspace_deadline: 5s, request_timeout: 5s}\n",
        )
        .map_err(|e| e.to_string())?;
        for (run, handed) in [("handed", true), ("own", false)] {
            let report = dir.path().join(format!("{run}.xml"));
            let mut cmd = Command::new(bin());
            cmd.args(["run", "--target", "aws", "--scenario"])
                .arg(&scenario)
                .arg("--junit")
                .arg(&report)
                .envs(&env)
                .env("NO_COLOR", "1")
                .env("PIPECHECK_LOG", "debug")
                .env("AWS_CONFIG_FILE", dir.path().join("none"))
                .env("AWS_SHARED_CREDENTIALS_FILE", dir.path().join("none"))
                .env("AWS_EC2_METADATA_DISABLED", "true");
            if !handed {
                cmd.env_remove("PIPECHECK_GRAFANA_TOKEN");
            }
            let out = cmd.output().map_err(|e| e.to_string())?;
            let (so, se) = (text(&out.stdout), text(&out.stderr));
            ensure(out.status.code() == Some(0), || {
                format!("{run}: exit {:?}\n{so}\n{se}", out.status.code())
            })?;
            let xml = std::fs::read_to_string(&report).map_err(|e| e.to_string())?;
            for (what, s) in [("stdout", &so), ("stderr", &se), ("JUnit", &xml)] {
                ensure(!s.contains(&token) && !s.contains("glsa_"), || {
                    format!("{run}: a Grafana token appears in {what}")
                })?;
            }
            let suites = read_junit(&report)?;
            let s = &suites[0];
            let api = s
                .cases
                .iter()
                .find(|(n, _)| n == "grafana.api")
                .map(|(_, c)| c)
                .ok_or_else(|| format!("{run}: no grafana.api\n{so}"))?;
            let dash = s
                .cases
                .iter()
                .find(|(n, _)| n == "grafana.dashboard")
                .map(|(_, c)| c)
                .ok_or("no grafana.dashboard")?;
            ensure(api.outcome == "pass" && dash.outcome == "pass", || {
                format!("{run}: {:?}", s.cases)
            })?;
            let cleanup = s
                .properties
                .get("grafana_cleanup")
                .cloned()
                .unwrap_or_default();
            if handed {
                ensure(api.body.contains("PIPECHECK_GRAFANA_TOKEN"), || {
                    format!("{run}: {}", api.body)
                })?;
                ensure(!cleanup.contains("service account"), || cleanup.clone())?;
            } else {
                ensure(api.body.contains("a new service-account token"), || {
                    format!("{run}: {}", api.body)
                })?;
                ensure(
                    cleanup.contains("deleted service account pipecheck-pc-"),
                    || format!("{run}: grafana_cleanup {cleanup:?}"),
                )?;
            }
            ensure(cleanup.contains("deleted dashboard pipecheck-pc-"), || {
                format!("{run}: grafana_cleanup {cleanup:?}")
            })?;
        }
        Ok(())
    })();
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let stop_deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().map_err(|e| e.to_string())?.is_none() {
        if Instant::now() > stop_deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    result
}

/// `--target aws` with no Grafana workspace anywhere: the grafana links are left out of
/// the graph, the run stays green, and the console and the report say what was left out.
fn aws_without_grafana_leaves_grafana_out() -> Result<(), Failed> {
    let mut child = Command::new(bin())
        .args(["mock"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("spawn: {e}"))?;
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !env.contains_key("PIPECHECK_QUERY_URL") && Instant::now() < deadline {
        let mut line = String::new();
        if reader.read_line(&mut line).map_err(|e| e.to_string())? == 0 {
            break;
        }
        if let Some((k, v)) = line
            .trim()
            .strip_prefix("export ")
            .and_then(|r| r.split_once('='))
        {
            env.insert(k.to_string(), v.trim_matches('\'').to_string());
        }
    }
    let result: Result<(), Failed> = (|| {
        let dir = tmp();
        let report = dir.path().join("r.xml");
        let out = Command::new(bin())
            .args(["run", "--target", "aws", "--junit"])
            .arg(&report)
            .envs(&env)
            .env_remove("PIPECHECK_GRAFANA_WORKSPACE_ID")
            .env("NO_COLOR", "1")
            .env("AWS_CONFIG_FILE", dir.path().join("none"))
            .env("AWS_SHARED_CREDENTIALS_FILE", dir.path().join("none"))
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .output()
            .map_err(|e| e.to_string())?;
        let so = text(&out.stdout);
        ensure(out.status.code() == Some(0), || {
            format!("exit {:?}\n{so}\n{}", out.status.code(), text(&out.stderr))
        })?;
        ensure(
            so.contains("left out: amg.workspace,grafana.api,grafana.datasource,grafana.query,grafana.dashboard: no Grafana workspace configured"),
            || so.clone(),
        )?;
        let suites = read_junit(&report)?;
        let s = &suites[0];
        ensure(
            s.cases
                .iter()
                .all(|(n, _)| !n.starts_with("grafana.") && n != "amg.workspace"),
            || format!("{:?}", s.cases),
        )?;
        ensure(
            s.properties
                .get("left_out")
                .is_some_and(|v| v.contains("PIPECHECK_GRAFANA_WORKSPACE_ID")),
            || format!("{:?}", s.properties),
        )
    })();
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let stop_deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().map_err(|e| e.to_string())?.is_none() {
        if Instant::now() > stop_deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    result
}

/// curl's own SigV4 implementation, independent of the AWS SDKs, is accepted for GET and
/// POST queries, and an unsigned curl is refused as AMP refuses it. The GET's query is
/// sent already percent-encoded: curl 7.x signs raw `(` `)` unencoded, which AWS's
/// canonical form (and so the strict mock) rejects.
fn curl_speaks_sigv4_to_the_mock(env: &BTreeMap<String, String>) -> Result<(), Failed> {
    let sigv4 = format!("aws:amz:{}:aps", env["AWS_REGION"]);
    let user = format!(
        "{}:{}",
        env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
    );
    let query = &env["PIPECHECK_QUERY_URL"];
    let curl = |args: &[&str]| -> Result<(String, String), Failed> {
        let out = Command::new("curl")
            .args(["-s", "-w", "\n%{http_code}", "--max-time", "10"])
            .args(args)
            .output()
            .map_err(|e| {
                format!("curl is needed for this test ({e}): install curl (scripts/test does)")
            })?;
        let s = text(&out.stdout);
        let (body, code) = s.rsplit_once('\n').unwrap_or((&s, ""));
        Ok((body.to_string(), code.to_string()))
    };
    let (body, code) = curl(&[
        "--aws-sigv4",
        &sigv4,
        "--user",
        &user,
        &format!("{query}query?query=vector%282%29"),
    ])?;
    ensure(
        code == "200" && body.contains(r#""value":["#) && body.contains(r#","2"]"#),
        || format!("signed GET: {code} {body}"),
    )?;
    let (body, code) = curl(&[
        "--aws-sigv4",
        &sigv4,
        "--user",
        &user,
        "--data-urlencode",
        "query=vector(3)",
        &format!("{query}query"),
    ])?;
    ensure(code == "200" && body.contains(r#","3"]"#), || {
        format!("signed POST: {code} {body}")
    })?;
    let (body, code) = curl(&[&format!("{query}query?query=up")])?;
    ensure(
        code == "403" && body.contains("Missing Authentication Token"),
        || format!("unsigned: {code} {body}"),
    )
}

/// A port already in use is a start-up error: exit 2 with one clear line.
fn mock_port_in_use() -> Result<(), Failed> {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let port = busy
        .local_addr()
        .map_err(|e| e.to_string())?
        .port()
        .to_string();
    let out = pipecheck(&["mock", "--port", &port]);
    let stderr = text(&out.stderr);
    ensure(out.status.code() == Some(2), || {
        format!("exit {:?}: {stderr}", out.status.code())
    })?;
    ensure(
        stderr.contains("failed to listen") && stderr.lines().count() == 1,
        || stderr.clone(),
    )?;
    ensure(!stderr.contains("panicked"), || stderr.clone())
}

/// `--target aws` with no credentials anywhere: exit 2 before anything runs. Instance
/// metadata is switched off so the credential chain never leaves this machine.
fn aws_without_credentials() -> Result<(), Failed> {
    let dir = tmp();
    let report = dir.path().join("r.xml");
    let out = Command::new(bin())
        .args([
            "run",
            "--target",
            "aws",
            "--junit",
            report.to_str().unwrap(),
        ])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir.path())
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .map_err(|e| e.to_string())?;
    let stderr = text(&out.stderr);
    ensure(out.status.code() == Some(2), || {
        format!("exit {:?}: {stderr}", out.status.code())
    })?;
    ensure(
        stderr.starts_with("pipecheck: no AWS credentials for --target aws")
            && stderr.trim_end().lines().count() == 1,
        || stderr.clone(),
    )?;
    ensure(!report.exists(), || "a report was written".into())
}

fn have(tool: &str, args: &[&str]) -> bool {
    Command::new(tool)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Trials that need a tool run when it is there. Outside CI a missing tool marks them
/// ignored, with the reason printed; in CI (`CI` set) they always run, so a missing
/// install step fails instead of hiding.
fn needs(trial: Trial, available: bool, reason: &str) -> Trial {
    if available || std::env::var_os("CI").is_some() {
        trial
    } else {
        eprintln!("ignoring {}: {reason}", trial.name());
        trial.with_ignored_flag(true)
    }
}

fn needs_prometheus(trial: Trial) -> Trial {
    let ok = have("prometheus", &["--version"]);
    needs(
        trial,
        ok,
        "no `prometheus` on PATH (scripts/test installs it)",
    )
}

fn needs_docker(trial: Trial) -> Trial {
    let ok = have("prometheus", &["--version"]) && have("docker", &["info"]);
    needs(
        trial,
        ok,
        "no prometheus or no running Docker engine (scripts/test installs docker.io and starts dockerd)",
    )
}

/// A scenario run that must pass: exit 0, every link passes, the report is valid.
fn scenario_passes(scenario: &'static str) -> Result<(), Failed> {
    let dir = tmp();
    let report = dir.path().join("r.xml");
    let out = pipecheck(&[
        "run",
        "--scenario",
        scenario,
        "--junit",
        report.to_str().unwrap(),
    ]);
    let stdout = text(&out.stdout);
    ensure(out.status.code() == Some(0), || {
        format!(
            "exit {:?}\n{stdout}\n{}",
            out.status.code(),
            text(&out.stderr)
        )
    })?;
    validate_xsd(&report)?;
    let suites = read_junit(&report)?;
    let s = &suites[0];
    let want = chain_links(scenario);
    let names: Vec<&str> = s.cases.iter().map(|(n, _)| n.as_str()).collect();
    ensure(names[0] == "aws.identity" && names[1..] == want[..], || {
        format!("links {names:?}")
    })?;
    ensure(s.cases.iter().all(|(_, c)| c.outcome == "pass"), || {
        format!("{:?}", s.cases)
    })?;
    ensure(s.properties.contains_key("arrival_latency_ms"), || {
        "no arrival latency recorded".into()
    })
}

/// Debian's prometheus accepts a `sigv4:` block but does not sign: the strict mock
/// refuses it exactly as AMP does, and the verdict lands on collector.signing with the
/// collector's own log line as evidence. (A prometheus that signs would pass.)
fn unsigned_prometheus_is_named() -> Result<(), Failed> {
    let dir = tmp();
    let report = dir.path().join("r.xml");
    let out = pipecheck(&[
        "run",
        "--scenario",
        "prometheus-process",
        "--junit",
        report.to_str().unwrap(),
    ]);
    let stdout = text(&out.stdout);
    let signs = Command::new("prometheus")
        .arg("--version")
        .output()
        .map(|o| !text(&o.stdout).contains("+ds"))
        .unwrap_or(false);
    if signs {
        // Not Debian's build: it may sign, and then the scenario passes.
        return ensure(out.status.code() == Some(0), || stdout.clone());
    }
    ensure(out.status.code() == Some(1), || {
        format!("exit {:?}\n{stdout}", out.status.code())
    })?;
    let suites = read_junit(&report)?;
    let s = &suites[0];
    ensure(
        s.properties.get("root_cause").map(String::as_str) == Some("collector.signing"),
        || format!("{:?}\n{stdout}", s.properties),
    )?;
    let case = &s
        .cases
        .iter()
        .find(|(n, _)| n == "collector.signing")
        .ok_or("no collector.signing")?
        .1;
    ensure(
        case.message.contains("Missing Authentication Token"),
        || case.message.clone(),
    )?;
    ensure(
        case.body.contains("non-recoverable error") && case.body.contains("sigv4 block"),
        || case.body.clone(),
    )?;
    for d in dependents_of("prometheus-process", "collector.signing") {
        let c = &s
            .cases
            .iter()
            .find(|(n, _)| n == d)
            .ok_or("missing case")?
            .1;
        ensure(c.outcome == "blocked", || format!("{d} is {}", c.outcome))?;
    }
    Ok(())
}

/// All collector scenarios in one invocation: one report, a suite each.
fn collector_scenarios_together() -> Result<(), Failed> {
    let dir = tmp();
    let report = dir.path().join("r.xml");
    let out = pipecheck(&[
        "run",
        "--scenario",
        "prometheus-process",
        "--scenario",
        "prometheus-proxy",
        "--scenario",
        "prometheus-container",
        "--junit",
        report.to_str().unwrap(),
    ]);
    validate_xsd(&report)?;
    let suites = read_junit(&report)?;
    let names: Vec<&str> = suites.iter().map(|s| s.name.as_str()).collect();
    ensure(
        names
            == [
                "prometheus-process@mock",
                "prometheus-proxy@mock",
                "prometheus-container@mock",
            ],
        || format!("{names:?}"),
    )?;
    ensure(
        suites[1].properties["root_cause"].is_empty()
            && suites[2].properties["root_cause"].is_empty(),
        || {
            format!(
                "{:?}\n{}",
                suites.iter().map(|s| &s.properties).collect::<Vec<_>>(),
                text(&out.stdout)
            )
        },
    )?;
    let expected = if suites[0].properties["root_cause"].is_empty() {
        0
    } else {
        1
    };
    ensure(out.status.code() == Some(expected), || {
        format!("exit {:?}", out.status.code())
    })
}

fn pids_of_children(pid: u32) -> Vec<u32> {
    let out = Command::new("pgrep")
        .args(["-P", &pid.to_string()])
        .output()
        .map(|o| text(&o.stdout))
        .unwrap_or_default();
    out.lines().filter_map(|l| l.trim().parse().ok()).collect()
}

fn collector_containers() -> Vec<String> {
    let out = Command::new("docker")
        .args(["ps", "-aq", "--filter", "label=pipecheck=collector"])
        .output()
        .map(|o| text(&o.stdout))
        .unwrap_or_default();
    out.lines().map(str::to_string).collect()
}

/// SIGINT in the middle of a collector run: pipecheck exits 130 and leaves no collector
/// process or container behind.
fn interrupted_run_leaves_nothing(scenario: &'static str) -> Result<(), Failed> {
    let dir = tmp();
    let report = dir.path().join("r.xml");
    let before = collector_containers();
    let mut child = Command::new(bin())
        .args([
            "run",
            "--scenario",
            scenario,
            "--junit",
            report.to_str().unwrap(),
        ])
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let pid = child.id();
    // Wait until the collector runs (a child process, or a new container), bounded.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut kids = Vec::new();
    let mut containers = Vec::new();
    while Instant::now() < deadline {
        kids = pids_of_children(pid);
        containers = collector_containers()
            .into_iter()
            .filter(|c| !before.contains(c))
            .collect();
        if !kids.is_empty() || !containers.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let started = !kids.is_empty() || !containers.is_empty();
    let _ = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status();
    let stop_deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().map_err(|e| e.to_string())? {
            break Some(s);
        }
        if Instant::now() > stop_deadline {
            let _ = child.kill();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stderr = child.stderr.take().map(|mut e| {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut e, &mut s);
        s
    });
    ensure(started, || {
        "the collector never started, so nothing was interrupted".into()
    })?;
    ensure(status.and_then(|s| s.code()) == Some(130), || {
        format!("exit {status:?}: {stderr:?}")
    })?;
    ensure(
        stderr.as_deref().is_some_and(|e| e.contains("interrupted")),
        || format!("{stderr:?}"),
    )?;
    std::thread::sleep(Duration::from_millis(200));
    for k in &kids {
        ensure(
            !Path::new(&format!("/proc/{k}")).exists()
                || text(&std::fs::read(format!("/proc/{k}/stat")).unwrap_or_default())
                    .contains(") Z "),
            || format!("process {k} outlived the run"),
        )?;
    }
    let left: Vec<String> = collector_containers()
        .into_iter()
        .filter(|c| !before.contains(c))
        .collect();
    ensure(left.is_empty(), || {
        format!("containers left behind: {left:?}")
    })
}

/// An OpenTelemetry collector given with --collector-bin is started with the config
/// pipecheck rendered for it (prometheus receiver -> prometheusremotewrite + sigv4auth).
/// The stand-in binary records how it was started and never scrapes, so the run must
/// fail on canary.scraped, the first link that needs a real collector.
fn otelcol_binary_is_launched_with_its_config() -> Result<(), Failed> {
    let dir = tmp();
    let report = dir.path().join("r.xml");
    let record = dir.path().join("otelcol");
    let fake = repo_root().join("tests/fixtures/collectors/fake-otelcol");
    let scenario = repo_root().join("tests/fixtures/scenarios/otelcol-fake.yaml");
    let out = Command::new(bin())
        .args(["run", "--scenario", scenario.to_str().unwrap(), "--collector-bin", fake.to_str().unwrap()])
        .args(["--junit", report.to_str().unwrap()])
        .env("NO_COLOR", "1")
        .env("FAKE_OTELCOL_RECORD", &record)
        .output()
        .map_err(|e| e.to_string())?;
    let stdout = text(&out.stdout);
    ensure(out.status.code() == Some(1), || format!("exit {:?}\n{stdout}", out.status.code()))?;
    let suites = read_junit(&report)?;
    ensure(suites[0].properties["root_cause"] == "canary.scraped", || stdout.clone())?;
    let args = std::fs::read_to_string(record.with_extension("args")).map_err(|e| format!("the fake was not started: {e}"))?;
    ensure(args.lines().count() == 1 && args.starts_with("--config=") && args.trim_end().ends_with("otelcol.yaml"), || args.clone())?;
    let config = std::fs::read_to_string(record.with_extension("config")).map_err(|e| e.to_string())?;
    for key in ["sigv4auth", "prometheusremotewrite", "authenticator: sigv4auth", "service: aps", "/api/v1/remote_write", "telemetry"] {
        ensure(config.contains(key), || format!("the config lacks {key:?}:\n{config}"))?;
    }
    ensure(!config.contains("SECRET") && !config.contains("secret_key"), || "credentials in the config file".into())
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn main() {
    let args = Arguments::from_args();
    let mut trials = vec![
        Trial::test("scenario::smoke", smoke),
        Trial::test("scenario::two_in_one_invocation", two_scenarios_one_report),
        Trial::test("cli::lists", lists),
        Trial::test(
            "cli::mock_exports_drive_a_standard_client",
            mock_exports_drive_a_standard_client,
        ),
        Trial::test(
            "cli::mock_grafana_token_never_printed",
            mock_grafana_token_never_printed,
        ),
        Trial::test(
            "cli::aws_without_grafana_leaves_grafana_out",
            aws_without_grafana_leaves_grafana_out,
        ),
        Trial::test("bad_input::mock_port_in_use", mock_port_in_use),
        needs_prometheus(Trial::test("scenario::prometheus-proxy", || {
            scenario_passes("prometheus-proxy")
        })),
        needs_prometheus(Trial::test(
            "scenario::prometheus-process::unsigned",
            unsigned_prometheus_is_named,
        )),
        needs_docker(Trial::test("scenario::prometheus-container", || {
            scenario_passes("prometheus-container")
        })),
        needs_docker(Trial::test(
            "scenario::collectors_in_one_invocation",
            collector_scenarios_together,
        )),
        needs_prometheus(Trial::test("interrupt::process", || {
            interrupted_run_leaves_nothing("prometheus-proxy")
        })),
        Trial::test("scenario::otelcol-process::launch", otelcol_binary_is_launched_with_its_config),
        needs_docker(Trial::test("interrupt::container", || {
            interrupted_run_leaves_nothing("prometheus-container")
        })),
        Trial::test(
            "bad_input::aws_without_credentials",
            aws_without_credentials,
        ),
    ];
    for &(scenario, name, link, fails, words) in FAULTS {
        let trial = Trial::test(format!("fault::{scenario}::{name}"), move || {
            fault_trial(scenario, name, link, fails, words)
        });
        trials.push(if scenario == "smoke" {
            trial
        } else {
            needs_prometheus(trial)
        });
    }
    let invalid_yaml = repo_root().join("tests/fixtures/scenarios/invalid-key.yaml");
    let bad: Vec<(&str, Vec<String>, &'static str)> = vec![
        (
            "unknown_scenario",
            vec!["run".into(), "--scenario".into(), "nope".into()],
            "unknown scenario \"nope\"",
        ),
        (
            "unknown_fault",
            vec!["run".into(), "--fault".into(), "F99".into()],
            "unknown fault \"F99\"",
        ),
        (
            "fault_on_aws",
            vec![
                "run".into(),
                "--target".into(),
                "aws".into(),
                "--fault".into(),
                "F04".into(),
            ],
            "--fault needs --target mock",
        ),
        (
            "bad_flag",
            vec!["run".into(), "--frobnicate".into()],
            "--frobnicate",
        ),
        (
            "bad_target",
            vec!["run".into(), "--target".into(), "gcp".into()],
            "gcp",
        ),
        (
            "unreadable_scenario",
            vec![
                "run".into(),
                "--scenario".into(),
                "{dir}/missing.yaml".into(),
            ],
            "failed to read scenario file",
        ),
        (
            "invalid_scenario",
            vec![
                "run".into(),
                "--scenario".into(),
                invalid_yaml.to_string_lossy().into_owned(),
            ],
            "invalid-key.yaml",
        ),
        (
            "unwritable_report",
            vec![
                "run".into(),
                "--junit".into(),
                "{dir}/no/such/dir/r.xml".into(),
            ],
            "JUnit",
        ),
    ];
    for (name, args, words) in bad {
        trials.push(Trial::test(format!("bad_input::{name}"), move || {
            bad_input(args.clone(), words)
        }));
    }
    trials.extend(e2e_cluster::trials());
    libtest_mimic::run(&args, trials).exit();
}
