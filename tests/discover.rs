//! `pipecheck discover`, the real binary: on the mock target (a cluster holding every
//! collector shape the mock supports) it lists each with its identity mechanism and
//! workspace and says what the mock cannot list yet; the scenario files it writes run and
//! pass; against a `pipecheck mock` reached with `--target aws` it reads the cluster
//! through the kubeconfig; a cluster scenario naming no collector discovers it inside
//! `run`; bad flags and an unreachable cluster give one line and exit 2.

use std::path::Path;
use std::process::{Output, Stdio};

use libtest_mimic::{Arguments, Failed, Trial};
use serde_json::Value;

#[path = "support/mod.rs"]
mod support;

use support::{Mock, bare_aws_command, command, ensure, pipecheck, succeeded, text, tmp};

/// The collectors the mock target holds: kind, namespace/name, mechanisms, the role's name.
const MOCK_SHAPES: &[(&str, &str, &str, Option<&str>)] = &[
    (
        "OpenTelemetryCollector",
        "adot-col/adot",
        "irsa",
        Some("role/pipecheck-adot-collector"),
    ),
    (
        "Deployment",
        "prometheus/prometheus-for-amp-server",
        "irsa",
        Some("role/amp-iamproxy-ingest-role"),
    ),
    (
        "DaemonSet",
        "amazon-metrics/aws-otel-collector",
        "pod-identity",
        None,
    ),
    (
        "Prometheus",
        "monitoring/kps",
        "irsa",
        Some("role/kps-prometheus"),
    ),
];

fn json_of(out: &Output) -> Result<Value, Failed> {
    let so = succeeded(out)?;
    serde_json::from_str(&so).map_err(|e| format!("not JSON ({e}): {so}").into())
}

fn collector<'a>(doc: &'a Value, kind: &str, name: &str) -> Result<&'a Value, Failed> {
    doc["collectors"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| {
            c["kind"] == kind
                && format!(
                    "{}/{}",
                    c["namespace"].as_str().unwrap_or(""),
                    c["name"].as_str().unwrap_or("")
                ) == name
        })
        .ok_or_else(|| format!("no {kind} {name} in {doc:#}").into())
}

fn discover_lists_the_mocks_shapes() -> Result<(), Failed> {
    let doc = json_of(&pipecheck(&[
        "discover", "--target", "mock", "--format", "json",
    ]))?;
    let collectors = doc["collectors"].as_array().ok_or("no collectors")?;
    // The shapes below, and the scraper.
    ensure(collectors.len() == MOCK_SHAPES.len() + 1, || {
        format!("{doc:#}")
    })?;
    let mut workspaces = Vec::new();
    for (kind, name, mechanism, role) in MOCK_SHAPES {
        let c = collector(&doc, kind, name)?;
        ensure(
            c["identity"]["mechanisms"] == serde_json::json!([mechanism]),
            || format!("{kind} {name}: {c:#}"),
        )?;
        let irsa = c["identity"]["irsa_role_arn"].as_str();
        ensure(
            match role {
                Some(r) => irsa.is_some_and(|a| a.ends_with(r)),
                None => irsa.is_none(),
            },
            || format!("{kind} {name} role: {c:#}"),
        )?;
        let rw = &c["remote_writes"][0];
        ensure(rw["region"] == "us-east-1", || format!("{c:#}"))?;
        workspaces.push(rw["workspace_id"].as_str().unwrap_or_default().to_string());
    }
    ensure(
        workspaces
            .iter()
            .all(|w| w.starts_with("ws-") && *w == workspaces[0]),
        || format!("workspaces {workspaces:?}"),
    )?;
    // Every list answered: nothing is "not listed".
    ensure(
        doc["not_listed"].as_array().is_none_or(|n| n.is_empty()),
        || format!("{:#}", doc["not_listed"]),
    )?;
    // The AMP managed collector whose source is this cluster, with its own role.
    let scrapers: Vec<&serde_json::Value> = doc["collectors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["kind"] == "Scraper")
        .collect();
    ensure(
        scrapers.len() == 1
            && scrapers[0]["identity"]["mechanisms"] == serde_json::json!(["scraper-role"]),
        || format!("scrapers: {scrapers:#?}"),
    )?;
    ensure(
        doc["cluster"]["arn"] == "arn:aws:eks:us-east-1:111122223333:cluster/pipecheck",
        || format!("{:#}", doc["cluster"]),
    )?;

    // The table says the same.
    let so = succeeded(&pipecheck(&["discover", "--target", "mock"]))?;
    for (kind, name, _, _) in MOCK_SHAPES {
        ensure(
            so.lines().any(|l| l.starts_with(kind) && l.contains(name)),
            || format!("no row for {kind} {name}:\n{so}"),
        )?;
    }
    ensure(
        so.contains("IRSA (arn:aws:iam::111122223333:role/pipecheck-adot-collector)"),
        || so.clone(),
    )?;
    ensure(
        so.contains("Pod Identity (arn:aws:iam::111122223333:role/adot-pod-identity)")
            && so
                .lines()
                .any(|l| l.starts_with("Scraper") && l.contains("scraper role"))
            && !so.contains("not listed"),
        || so.clone(),
    )
}

fn written_scenarios_run_and_pass() -> Result<(), Failed> {
    let dir = tmp();
    let out_dir = dir.path().join("scenarios");
    let so = succeeded(&pipecheck(&[
        "discover",
        "--target",
        "mock",
        "--write-scenarios",
        out_dir.to_str().unwrap(),
    ]))?;
    let mut files: Vec<_> = std::fs::read_dir(&out_dir)
        .map_err(|e| e.to_string())?
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    let names: Vec<String> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    ensure(
        names
            == [
                "discovered-adot-adot-col-adot.yaml",
                "discovered-amp-scraper-pipecheck-scraper.yaml",
                "discovered-otelcol-amazon-metrics-aws-otel-collector.yaml",
                "discovered-prometheus-operator-monitoring-kps.yaml",
                "discovered-prometheus-prometheus-prometheus-for-amp-server.yaml",
            ],
        || format!("{names:?}\n{so}"),
    )?;
    // Every shape the all-shapes mock holds has a scenario kind.
    ensure(!so.contains("no scenario for"), || so.clone())?;
    for f in &files {
        let report = dir.path().join("r.xml");
        let out = pipecheck(&[
            "run",
            "--target",
            "mock",
            "--scenario",
            f.to_str().unwrap(),
            "--junit",
            report.to_str().unwrap(),
        ]);
        ensure(out.status.code() == Some(0), || {
            format!(
                "{}: exit {:?}\n{}\n{}",
                f.display(),
                out.status.code(),
                text(&out.stdout),
                text(&out.stderr)
            )
        })?;
    }
    Ok(())
}

fn write_scenario(dir: &Path, name: &str, kind: &str) -> String {
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(
        &path,
        format!("name: {name}\nshape: cluster\ncluster:\n  kind: {kind}\n  name: pipecheck\ntarget:\n  mock:\n    arrival_deadline: 3s\n    workspace_deadline: 2s\n"),
    )
    .expect("the scenario file is written");
    path.to_string_lossy().into_owned()
}

/// A scenario naming no collector: on the mock the one of its kind is found and checked.
fn run_discovers_an_unnamed_collector_on_the_mock() -> Result<(), Failed> {
    let dir = tmp();
    for kind in ["adot", "prometheus"] {
        let scenario = write_scenario(dir.path(), &format!("unnamed-{kind}"), kind);
        let report = dir.path().join("r.xml");
        let out = pipecheck(&[
            "run",
            "--scenario",
            &scenario,
            "--junit",
            report.to_str().unwrap(),
        ]);
        ensure(out.status.code() == Some(0), || {
            format!(
                "{kind}: exit {:?}\n{}\n{}",
                out.status.code(),
                text(&out.stdout),
                text(&out.stderr)
            )
        })?;
    }
    Ok(())
}

const EXPORTS: &[&str] = &["AWS_ENDPOINT_URL_EKS", "KUBECONFIG", "PIPECHECK_CLUSTER"];

/// `--target aws` against a `pipecheck mock` (its ADOT collector only): the kubeconfig's
/// cluster is read; a scenario naming no Prometheus server finds none and says what it found.
fn aws_target_through_the_kubeconfig() -> Result<(), Failed> {
    let mock = Mock::start(Stdio::null(), EXPORTS)?;
    let dir = tmp();
    let none = dir.path().join("none");
    let mut cmd = command();
    cmd.args(["discover", "--target", "aws", "--format", "json"])
        .envs(&mock.env)
        .env("AWS_CONFIG_FILE", &none)
        .env("AWS_SHARED_CREDENTIALS_FILE", &none)
        .env("AWS_EC2_METADATA_DISABLED", "true");
    let doc = json_of(&cmd.output().map_err(|e| e.to_string())?)?;
    let c = collector(&doc, "OpenTelemetryCollector", "adot-col/adot")?;
    ensure(
        c["remote_writes"][0]["workspace_id"].as_str()
            == mock.env.get("PIPECHECK_WORKSPACE_ID").map(String::as_str),
        || format!("{c:#}"),
    )?;
    ensure(
        c["identity"]["mechanisms"] == serde_json::json!(["irsa"]),
        || format!("{c:#}"),
    )?;

    let scenario = write_scenario(dir.path(), "unnamed-prometheus", "prometheus");
    let out = mock.run_aws(
        &["--scenario", &scenario],
        &dir.path().join("r.xml"),
        |_| {},
    )?;
    let stderr = support::exits_2_saying(&out, "found no prometheus collector")?;
    ensure(
        stderr.contains("OpenTelemetryCollector adot-col/adot"),
        || stderr.clone(),
    )?;
    one_line(&stderr)
}

/// pipecheck's own word is one line (library log lines may come before it).
fn one_line(stderr: &str) -> Result<(), Failed> {
    ensure(
        stderr
            .lines()
            .filter(|l| l.starts_with("pipecheck:"))
            .count()
            == 1,
        || stderr.to_string(),
    )
}

fn bad_flags_exit_2() -> Result<(), Failed> {
    for (args, words) in [
        (&["discover", "--target", "gcp"][..], "gcp"),
        (&["discover", "--format", "xml"][..], "xml"),
        (&["discover", "--frobnicate"][..], "--frobnicate"),
    ] {
        let out = pipecheck(args);
        let stderr = support::exits_2_saying(&out, words)?;
        ensure(
            stderr.lines().next().is_some_and(|l| l.contains(words)),
            || stderr.clone(),
        )?;
        ensure(text(&out.stdout).is_empty(), || text(&out.stdout))?;
    }
    Ok(())
}

/// A kubeconfig whose server refuses connections: one line naming it, exit 2.
fn unreachable_cluster_exit_2() -> Result<(), Failed> {
    let dir = tmp();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| e.to_string())?
        .port();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:{port}\n    insecure-skip-tls-verify: true\nusers:\n- name: u\n  user:\n    token: t\ncontexts:\n- name: x\n  context:\n    cluster: c\n    user: u\ncurrent-context: x\n"
        ),
    )
    .map_err(|e| e.to_string())?;
    let out = bare_aws_command(dir.path())
        .args([
            "discover",
            "--target",
            "aws",
            "--cluster",
            "c",
            "--kubeconfig",
        ])
        .arg(&kubeconfig)
        .env("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEEXAMPLE12")
        .env("AWS_SECRET_ACCESS_KEY", "secretsecretsecretsecret")
        .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}"))
        .output()
        .map_err(|e| e.to_string())?;
    let stderr = support::exits_2_saying(
        &out,
        &format!("failed to reach the Kubernetes API at https://127.0.0.1:{port}"),
    )?;
    one_line(&stderr)?;
    ensure(!stderr.contains("secretsecret"), || stderr.clone())?;
    // No cluster named at all: said before anything is read.
    let out = bare_aws_command(dir.path())
        .args(["discover", "--target", "aws", "--kubeconfig"])
        .arg(&kubeconfig)
        .env("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEEXAMPLE12")
        .env("AWS_SECRET_ACCESS_KEY", "secretsecretsecretsecret")
        .output()
        .map_err(|e| e.to_string())?;
    let stderr = support::exits_2_saying(&out, "no cluster named")?;
    one_line(&stderr)
}

fn main() {
    let args = Arguments::from_args();
    let trials = vec![
        Trial::test(
            "discover::mock_lists_its_shapes",
            discover_lists_the_mocks_shapes,
        ),
        Trial::test(
            "discover::written_scenarios_run_and_pass",
            written_scenarios_run_and_pass,
        ),
        Trial::test(
            "discover::run_discovers_an_unnamed_collector",
            run_discovers_an_unnamed_collector_on_the_mock,
        ),
        Trial::test(
            "discover::aws_target_through_the_kubeconfig",
            aws_target_through_the_kubeconfig,
        ),
        Trial::test("discover::bad_flags_exit_2", bad_flags_exit_2),
        Trial::test(
            "discover::unreachable_cluster_exit_2",
            unreachable_cluster_exit_2,
        ),
    ];
    libtest_mimic::run(&args, trials).exit();
}
