//! End-to-end tests: the real `pipecheck` binary against the embedded mock stack. One
//! named trial per scenario, per catalog fault and per bad-input case, so
//! `cargo test --test e2e -- amp-unsigned` runs one. A fault trial asserts the exit code,
//! the JUnit root cause (exactly the expected link), the verdict's key words, and that
//! every link depending on the root cause is `blocked`. Interrupted runs:
//! tests/interrupt.rs.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};

use libtest_mimic::{Arguments, Failed, Trial};

#[path = "support/mod.rs"]
mod support;

use support::{
    Depends, Mock, Report, bin, dependents_in, ensure, have, needs, pipecheck, read_junit,
    repo_root, run_with_report, succeeded, text, tmp, validate_xsd,
};

/// The cluster scenarios' trials (EKS, IAM/IRSA, Kubernetes).
mod e2e_cluster;
/// The JSON, HTML and Markdown reports, the console without a terminal.
mod e2e_reports;
/// The AMP managed collector's trials (`eks-amp-scraper`, F40-F44).
mod e2e_scraper;

/// AMP's side of the direct-push chain: the links and what each depends on (for the
/// blocked assertions), in report order; a link with two dependencies has a row for each.
const DEPENDS_DIRECT: &[Depends] = &[
    ("amp.workspace", "aws.identity"),
    ("amp.remote_write", "amp.workspace"),
    ("amp.query", "amp.remote_write"),
    ("pipeline.delivery", "amp.query"),
];

/// AMP's side of the chain through a collector: AMP's writes come from the collector.
const DEPENDS_COLLECTOR: &[Depends] = &[
    ("amp.workspace", "aws.identity"),
    ("collector.config", "amp.workspace"),
    ("collector.running", "collector.config"),
    ("canary.scraped", "collector.running"),
    ("collector.signing", "canary.scraped"),
    ("amp.remote_write", "collector.signing"),
    ("amp.query", "amp.remote_write"),
    ("pipeline.delivery", "amp.query"),
];

/// The Grafana side, after AMP's in either chain.
const DEPENDS_GRAFANA: &[Depends] = &[
    ("amg.workspace", "aws.identity"),
    ("grafana.api", "amg.workspace"),
    ("grafana.datasource", "grafana.api"),
    ("grafana.datasource", "amp.workspace"),
    ("grafana.query", "grafana.datasource"),
    ("grafana.query", "amp.query"),
    ("grafana.dashboard", "grafana.query"),
];

/// The chain of a scenario, in report order.
fn chain(scenario: &str) -> Vec<Depends> {
    let amp = if scenario.starts_with("prometheus-") {
        DEPENDS_COLLECTOR
    } else {
        DEPENDS_DIRECT
    };
    [amp, DEPENDS_GRAFANA].concat()
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
    let ran = support::run(scenario, &[name])?;
    if fails {
        support::fails_on(&ran, &chain(scenario), link, &[words], &[])
    } else {
        support::warns_on(&ran, link, &[words])
    }
}

/// F34: the dashboard queries names the collector has since renamed. The verdict names
/// each panel, the name it queries and the one AMP holds, found from the dashboard's
/// PromQL and AMP's `__name__` values; the hint names the exporter's naming option.
fn dashboard_old_metric_names(scenario: &'static str) -> Result<(), Failed> {
    let ran = support::run(scenario, &["dashboard-old-metric-names"])?;
    support::fails_on(
        &ran,
        &chain(scenario),
        "grafana.dashboard",
        &[
            "panel \"canary requests\" queries pipecheck_canary_requests, which AMP does not have; AMP has pipecheck_canary_requests_total (_total added)",
            "queries pipecheck_canary_latency_bucket, which AMP does not have; AMP has pipecheck_canary_latency_seconds_bucket (_seconds added)",
        ],
        &[
            "add_metric_suffixes: false",
            "/api/v1/label/__name__/values -> ",
            "pipecheck_canary_requests -> not in AMP; AMP has pipecheck_canary_requests_total",
        ],
    )
}

/// The default scenario (smoke) passes, every link of the direct-push chain in order.
fn smoke() -> Result<(), Failed> {
    let (out, report) = run_with_report(&["run"]);
    let ran = support::ran(&out, &report.path, "smoke")?;
    support::chain_passes(&ran, &chain("smoke"))?;
    let (stdout, s) = (&ran.stdout, &ran.suite);
    s.property_is("root_cause", str::is_empty)?;
    s.property_is("target", |t| t == "mock")?;
    s.property_is("run_id", |r| r.starts_with("pc-"))?;
    // The mock's freshly made secret must not leak into the console or the report.
    let xml = std::fs::read_to_string(&report.path).unwrap();
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
    let (out, report) = run_with_report(&["run", "--scenario", "smoke", "--scenario", "smoke"]);
    ensure(out.status.code() == Some(0), || text(&out.stdout))?;
    let suites = read_junit(&report.path)?;
    ensure(suites.len() == 2, || format!("{} suites", suites.len()))?;
    ensure(
        suites[0].properties["run_id"] != suites[1].properties["run_id"],
        || "run ids must differ".into(),
    )?;
    Ok(())
}

/// `grafana-provision`: the workspace's Grafana has no AMP data source (the scenario's
/// grafana-no-datasource), the run creates `pipecheck-<run id>`, every link passes through
/// it, and the run deletes it: after the canary dashboard, before its token.
fn grafana_provision() -> Result<(), Failed> {
    let dir = tmp();
    let report = dir.path().join("r.xml");
    let out = pipecheck(&[
        "run",
        "--scenario",
        "grafana-provision",
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
    ensure(s.cases.iter().all(|(_, c)| c.outcome == "pass"), || {
        format!("{:?}", s.cases)
    })?;
    ensure(
        s.properties.get("faults").map(String::as_str) == Some("F23:grafana-no-datasource"),
        || format!("{:?}", s.properties),
    )?;
    let name = format!("pipecheck-{}", s.properties["run_id"]);
    let ds = s
        .cases
        .iter()
        .find(|(n, _)| n == "grafana.datasource")
        .map(|(_, c)| c)
        .ok_or("no grafana.datasource")?;
    ensure(
        ds.body.starts_with(&format!(
            "data source \"{name}\" (prometheus, provisioned by this run"
        )) && ds.body.contains("\"sigV4AuthType\":\"ec2_iam_role\""),
        || ds.body.clone(),
    )?;
    let query = s
        .cases
        .iter()
        .find(|(n, _)| n == "grafana.query")
        .map(|(_, c)| c)
        .ok_or("no grafana.query")?;
    ensure(query.body.contains(&format!("\"{name}\"")), || {
        query.body.clone()
    })?;
    let cleanup = s
        .properties
        .get("grafana_cleanup")
        .cloned()
        .unwrap_or_default();
    let at = |what: &str| cleanup.find(what);
    let (dash, source, account) = (
        at(&format!("deleted dashboard {name}")),
        at(&format!("deleted data source {name} (uid {name})")),
        at(&format!("deleted service account {name}")),
    );
    ensure(
        matches!((dash, source, account), (Some(d), Some(x), Some(a)) if d < x && x < a),
        || format!("grafana_cleanup: {cleanup:?}"),
    )
}

/// A bad invocation: exit 2, one clear line on stderr, no panic, nothing written.
fn bad_input(args: Vec<String>, words: &'static str) -> Result<(), Failed> {
    let dir = tmp();
    let report = dir.path().join("r.xml");
    let is_run = args.first().map(String::as_str) == Some("run");
    let full = support::bad_input_args(&args, dir.path(), &report, is_run);
    let refs: Vec<&str> = full.iter().map(String::as_str).collect();
    let out = pipecheck(&refs);
    let stderr = support::exits_2_saying(&out, words)?;
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
    let mock = Mock::start(
        Stdio::piped(),
        &[
            "AWS_ENDPOINT_URL_AMP",
            "AWS_ENDPOINT_URL_STS",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_REGION",
            "PIPECHECK_WORKSPACE_ID",
            "PIPECHECK_REMOTE_WRITE_URL",
            "PIPECHECK_QUERY_URL",
        ],
    )?;
    let env = &mock.env;
    let result: Result<(), Failed> = (|| {
        ensure(
            env["PIPECHECK_REMOTE_WRITE_URL"].ends_with("/api/v1/remote_write"),
            || env["PIPECHECK_REMOTE_WRITE_URL"].clone(),
        )?;
        let report = Report::new();
        let so = succeeded(&mock.run_aws(&[], &report.path, |_| {})?)?;
        ensure(!so.contains(&env["AWS_SECRET_ACCESS_KEY"]), || {
            "the secret key was printed".into()
        })?;
        let suites = read_junit(&report.path)?;
        ensure(suites[0].name == "smoke@aws", || suites[0].name.clone())?;
        curl_speaks_sigv4_to_the_mock(env)
    })();
    // SIGINT, as Ctrl-C sends, then expect a clean exit.
    let status = mock.stop()?;
    result?;
    ensure(status.is_some_and(|s| s.success()), || {
        format!("mock did not stop cleanly on SIGINT: {status:?}")
    })
}

/// A user's dashboard (`grafana: {dashboard: uid}`) whose panel holds PromQL nested
/// 5,000 deep, as a careless generator writes it: once a stack overflow that aborted the
/// run (exit 134, no report). Now the run ends with its verdict on `grafana.dashboard`
/// naming the panel and AMP's `bad_data` refusal, and writes its report.
fn hostile_dashboard_panel_is_a_verdict() -> Result<(), Failed> {
    let mock = Mock::start(
        Stdio::piped(),
        &[
            "AWS_ENDPOINT_URL_AMP",
            "PIPECHECK_GRAFANA_URL",
            "PIPECHECK_GRAFANA_TOKEN",
            "PIPECHECK_WORKSPACE_ID",
        ],
    )?;
    let env = &mock.env;
    let result: Result<(), Failed> = (|| {
        let deep = format!("{}pipecheck_canary_gauge", "-".repeat(5000));
        let dashboard = serde_json::json!({
            "dashboard": {
                "uid": "hostile-panel",
                "title": "hostile",
                "panels": [{
                    "id": 1, "type": "stat", "title": "five thousand minuses",
                    "targets": [{"refId": "A", "expr": deep, "instant": true}],
                }],
            },
            "overwrite": true,
        });
        let out = Command::new("curl")
            .args([
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "--max-time",
                "10",
            ])
            .args(["-X", "POST", "-H", "content-type: application/json"])
            .arg("-H")
            .arg(format!(
                "Authorization: Bearer {}",
                env["PIPECHECK_GRAFANA_TOKEN"]
            ))
            .arg("--data-binary")
            .arg(dashboard.to_string())
            .arg(format!(
                "{}/api/dashboards/db",
                env["PIPECHECK_GRAFANA_URL"]
            ))
            .output()
            .map_err(|e| format!("curl is needed for this test ({e})"))?;
        ensure(text(&out.stdout) == "200", || {
            format!("saving the dashboard: {}", text(&out.stdout))
        })?;
        let dir = tmp();
        let scenario = dir.path().join("hostile.yaml");
        std::fs::write(
            &scenario,
            "name: hostile\nshape: direct\ngrafana: {dashboard: hostile-panel}\nexpect: {arrival_deadline: 10s, workspace_deadline: 5s, request_timeout: 5s}\n",
        )
        .map_err(|e| e.to_string())?;
        let report = dir.path().join("r.xml");
        let out = mock.run_aws(&["--scenario", scenario.to_str().unwrap()], &report, |_| {})?;
        let (so, se) = (text(&out.stdout), text(&out.stderr));
        ensure(out.status.code() == Some(1), || {
            format!("exit {:?}, expected 1\n{so}\n{se}", out.status.code())
        })?;
        let suites = read_junit(&report)?;
        let dash = suites[0]
            .case("grafana.dashboard")
            .ok_or_else(|| format!("no grafana.dashboard\n{so}"))?;
        ensure(
            dash.outcome == "fail"
                && dash.message.contains("five thousand minuses")
                && dash.message.contains("at most 512 are accepted"),
            || format!("{:?}: {}\n{}", dash.outcome, dash.message, dash.body),
        )?;
        // Evidence shows the expression's start, not all 5,000 characters.
        ensure(!dash.body.contains(&"-".repeat(1000)), || {
            "the whole expression is in the evidence".into()
        })
    })();
    let status = mock.stop()?;
    result?;
    ensure(status.is_some_and(|s| s.success()), || {
        format!("mock did not stop cleanly: {status:?}")
    })
}

/// The Grafana exports of `pipecheck mock` drive `--target aws` through Grafana, and no
/// Grafana token ever shows: neither the ADMIN token the mock prints (handed to the run
/// through PIPECHECK_GRAFANA_TOKEN) nor the service-account token a run makes for itself
/// (when none is handed over) appears in stdout, stderr (with debug logs) or the JUnit
/// report. A token the patterns would not catch is covered too: every `glsa_` is refused.
fn mock_grafana_token_never_printed() -> Result<(), Failed> {
    let mock = Mock::start(
        Stdio::piped(),
        &[
            "PIPECHECK_GRAFANA_WORKSPACE_ID",
            "AWS_ENDPOINT_URL_GRAFANA",
            "PIPECHECK_GRAFANA_URL",
            "PIPECHECK_GRAFANA_TOKEN",
        ],
    )?;
    let env = &mock.env;
    let result: Result<(), Failed> = (|| {
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
            let (html, summary) = (
                dir.path().join(format!("{run}.html")),
                dir.path().join(format!("{run}.md")),
            );
            let scenario = scenario.to_str().unwrap();
            let args = [
                "--scenario",
                scenario,
                "--format",
                "json",
                "--html",
                html.to_str().unwrap(),
                "--summary",
                summary.to_str().unwrap(),
            ];
            let out = mock.run_aws(&args, &report, |cmd| {
                cmd.env("PIPECHECK_LOG", "debug");
                if !handed {
                    cmd.env_remove("PIPECHECK_GRAFANA_TOKEN");
                }
            })?;
            let (so, se) = (text(&out.stdout), text(&out.stderr));
            ensure(out.status.code() == Some(0), || {
                format!("{run}: exit {:?}\n{so}\n{se}", out.status.code())
            })?;
            let read = |p: &std::path::Path| std::fs::read_to_string(p).map_err(|e| e.to_string());
            let (xml, page, md) = (read(&report)?, read(&html)?, read(&summary)?);
            for (what, s) in [
                ("stdout (JSON)", &so),
                ("stderr", &se),
                ("JUnit", &xml),
                ("HTML", &page),
                ("summary", &md),
            ] {
                let secret_key = &env["AWS_SECRET_ACCESS_KEY"];
                ensure(!s.contains(&token) && !s.contains("glsa_"), || {
                    format!("{run}: a Grafana token appears in {what}")
                })?;
                ensure(!s.contains(secret_key.as_str()), || {
                    format!("{run}: the secret access key appears in {what}")
                })?;
            }
            let suites = read_junit(&report)?;
            let s = &suites[0];
            let api = s
                .case("grafana.api")
                .ok_or_else(|| format!("{run}: no grafana.api\n{so}"))?;
            let dash = s.case("grafana.dashboard").ok_or("no grafana.dashboard")?;
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
    mock.stop()?;
    result
}

/// `--target aws` with no Grafana workspace anywhere: the grafana links are left out of
/// the graph, the run stays green, and the console and the report say what was left out.
fn aws_without_grafana_leaves_grafana_out() -> Result<(), Failed> {
    let mock = Mock::start(Stdio::null(), &["PIPECHECK_QUERY_URL"])?;
    let result: Result<(), Failed> = (|| {
        let report = Report::new();
        let so = succeeded(&mock.run_aws(&[], &report.path, |cmd| {
            cmd.env_remove("PIPECHECK_GRAFANA_WORKSPACE_ID");
        })?)?;
        ensure(
            so.contains("left out: amg.workspace,grafana.api,grafana.datasource,grafana.query,grafana.dashboard: no Grafana workspace configured"),
            || so.clone(),
        )?;
        let suites = read_junit(&report.path)?;
        let s = &suites[0];
        ensure(
            s.cases
                .iter()
                .all(|(n, _)| !n.starts_with("grafana.") && n != "amg.workspace"),
            || format!("{:?}", s.cases),
        )?;
        s.property_is("left_out", |v| v.contains("PIPECHECK_GRAFANA_WORKSPACE_ID"))
    })();
    mock.stop()?;
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
    let out = support::bare_aws_command(dir.path())
        .args([
            "run",
            "--target",
            "aws",
            "--junit",
            report.to_str().unwrap(),
        ])
        .output()
        .map_err(|e| e.to_string())?;
    support::refused_before_running(&out, &report, |stderr| {
        stderr.starts_with("pipecheck: no AWS credentials for --target aws")
    })
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
    support::chain_passes(&support::run(scenario, &[])?, &chain(scenario))
}

/// Debian's prometheus accepts a `sigv4:` block but does not sign: the strict mock
/// refuses it exactly as AMP does, and the verdict lands on collector.signing with the
/// collector's own log line as evidence. (A prometheus that signs would pass.)
fn unsigned_prometheus_is_named() -> Result<(), Failed> {
    let (out, report) = run_with_report(&["run", "--scenario", "prometheus-process"]);
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
    let suites = read_junit(&report.path)?;
    let s = &suites[0];
    ensure(
        s.properties.get("root_cause").map(String::as_str) == Some("collector.signing"),
        || format!("{:?}\n{stdout}", s.properties),
    )?;
    let case = s.case("collector.signing").ok_or("no collector.signing")?;
    ensure(
        case.message.contains("Missing Authentication Token"),
        || case.message.clone(),
    )?;
    ensure(
        case.body.contains("non-recoverable error") && case.body.contains("sigv4 block"),
        || case.body.clone(),
    )?;
    for d in dependents_in(&chain("prometheus-process"), "collector.signing") {
        let c = s.case(d).ok_or("missing case")?;
        ensure(c.outcome == "blocked", || format!("{d} is {}", c.outcome))?;
    }
    Ok(())
}

/// All collector scenarios in one invocation: one report, a suite each.
fn collector_scenarios_together() -> Result<(), Failed> {
    let (out, report) = run_with_report(&[
        "run",
        "--scenario",
        "prometheus-process",
        "--scenario",
        "prometheus-proxy",
        "--scenario",
        "prometheus-container",
    ]);
    validate_xsd(&report.path)?;
    let suites = read_junit(&report.path)?;
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
        .args([
            "run",
            "--scenario",
            scenario.to_str().unwrap(),
            "--collector-bin",
            fake.to_str().unwrap(),
        ])
        .args(["--junit", report.to_str().unwrap()])
        .env("NO_COLOR", "1")
        .env("FAKE_OTELCOL_RECORD", &record)
        .output()
        .map_err(|e| e.to_string())?;
    let stdout = text(&out.stdout);
    ensure(out.status.code() == Some(1), || {
        format!("exit {:?}\n{stdout}", out.status.code())
    })?;
    let suites = read_junit(&report)?;
    ensure(
        suites[0].properties["root_cause"] == "canary.scraped",
        || stdout.clone(),
    )?;
    let args = std::fs::read_to_string(record.with_extension("args"))
        .map_err(|e| format!("the fake was not started: {e}"))?;
    ensure(
        args.lines().count() == 1
            && args.starts_with("--config=")
            && args.trim_end().ends_with("otelcol.yaml"),
        || args.clone(),
    )?;
    let config =
        std::fs::read_to_string(record.with_extension("config")).map_err(|e| e.to_string())?;
    for key in [
        "sigv4auth",
        "prometheusremotewrite",
        "authenticator: sigv4auth",
        "service: aps",
        "/api/v1/remote_write",
        "telemetry",
    ] {
        ensure(config.contains(key), || {
            format!("the config lacks {key:?}:\n{config}")
        })?;
    }
    ensure(
        !config.contains("SECRET") && !config.contains("secret_key"),
        || "credentials in the config file".into(),
    )
}

/// F31 through the direct writer: the verdict names the header changed after signing and
/// says it is no region or clock problem (signing-region-wrong and clock-skew keep their
/// own verdicts: their FAULTS rows); the evidence has AMP's canonical headers beside the
/// writer's signed ones, and AMP's answer.
fn header_added_after_signing() -> Result<(), Failed> {
    let ran = support::run("smoke", &["header-added-after-signing"])?;
    support::fails_on(
        &ran,
        &chain("smoke"),
        "amp.remote_write",
        &[
            "header x-agent-id was signed as \"pipecheck-writer\" but reached AMP as \"pipecheck-writer,agent-7f3a\"",
            "not a region or clock problem",
        ],
        &[
            "canonical headers (AMP)",
            "x-agent-id:pipecheck-writer,agent-7f3a",
            "signed headers (writer)",
            "x-agent-id:pipecheck-writer\n",
            "The Canonical String for this request should have been",
            "changes x-agent-id after the request is signed",
        ],
    )
}

fn main() {
    let args = Arguments::from_args();
    let mut trials = vec![
        Trial::test("scenario::smoke", smoke),
        Trial::test("scenario::two_in_one_invocation", two_scenarios_one_report),
        Trial::test("scenario::grafana-provision", grafana_provision),
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
        Trial::test(
            "hostile::dashboard_panel_too_deep",
            hostile_dashboard_panel_is_a_verdict,
        ),
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
        Trial::test(
            "scenario::otelcol-process::launch",
            otelcol_binary_is_launched_with_its_config,
        ),
        Trial::test(
            "bad_input::aws_without_credentials",
            aws_without_credentials,
        ),
        Trial::test(
            "fault::smoke::header-added-after-signing",
            header_added_after_signing,
        ),
        Trial::test("fault::smoke::dashboard-old-metric-names", || {
            dashboard_old_metric_names("smoke")
        }),
        needs_prometheus(Trial::test(
            "fault::prometheus-proxy::dashboard-old-metric-names",
            || dashboard_old_metric_names("prometheus-proxy"),
        )),
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
    trials.extend(e2e_reports::trials());
    trials.extend(e2e_scraper::trials());
    libtest_mimic::run(&args, trials).exit();
}
