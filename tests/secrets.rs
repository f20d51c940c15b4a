//! No secret leaves pipecheck: known values are planted everywhere they pass, runs and
//! faults are made to go through them with logging at `trace`, and every output is
//! searched for each value in its plain, base64 and URL-encoded forms.
//!
//! Where the values go:
//! - credentials: `pipecheck run --target aws` against `pipecheck mock`, driven by its
//!   exports (their secret key and Grafana token are checked too), with a planted session
//!   token, a planted wrong secret key (a signing fault), a planted Grafana token (a
//!   Grafana fault); `--target mock` ignores given credentials (its mock has its own), so
//!   there the planted ones sit in the environment only;
//! - a scenario file whose description holds them, and one that puts a secret where a
//!   number belongs (an error message quoting the value);
//! - `pipecheck diagnose` on a helm values file, a collector config and a trust policy
//!   that hold them (text, JSON and JUnit);
//! - `--target mock` runs with a Grafana fault, a signing fault and, when `prometheus` is
//!   installed, a collector scenario: their own secrets are random, so the outputs are
//!   also searched for secret shapes (an unmasked SigV4 signature, a `glsa_` token).
//!
//! - `pipecheck watch` on the mock and against `pipecheck mock`, with the token it makes.
//!
//! Outputs: stdout, stderr (the logs: `PIPECHECK_LOG=trace`, `RUST_LOG=trace`) and the
//! JUnit report of each run; a watch's /metrics, / and /report.json and its logs.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use base64::Engine;
use regex::Regex;

#[path = "support/mod.rs"]
mod support;

use support::{Mock, bin, have, repo_root, text, tmp};

/// Planted values: each has characters that URL encoding changes (`/`, `+`, `=`), so
/// the encoded form is searched for as well.
const SECRET_KEY: &str = "PlantedSecretKey/9f3Kq7Zr2+Lm8Xw4Tn6Vb1Hc";
const SESSION_TOKEN: &str =
    "IQoJb3JpZ2luX2VjEPlantedSessionToken/Zx9+Qw8Lk3Jh7Fg2Ds5Ap1Mn4Bv6Cx0FZ3xvV6ZA==";
const GRAFANA_TOKEN: &str = "glsa_PlantedGrafanaToken0123456789abc_0a1b2c3d";
const AUTHORIZATION: &str = "Bearer PlantedAuthorizationHeader/Value+xyz=";

const PLANTED: &[&str] = &[SECRET_KEY, SESSION_TOKEN, GRAFANA_TOKEN, AUTHORIZATION];

/// What a secret may look like in an output: itself, base64, URL-encoded.
fn forms(secret: &str) -> Vec<String> {
    let mut out = vec![
        secret.to_string(),
        base64::engine::general_purpose::STANDARD.encode(secret),
        percent_encoding::utf8_percent_encode(secret, percent_encoding::NON_ALPHANUMERIC)
            .to_string(),
        form_encoded(secret),
    ];
    // A bearer value's token alone.
    if let Some(token) = secret.strip_prefix("Bearer ") {
        out.extend(forms(token));
    }
    out.sort();
    out.dedup();
    out
}

/// `application/x-www-form-urlencoded` (space as `+`, `/` as `%2F`).
fn form_encoded(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                (b as char).to_string()
            }
            b' ' => "+".to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Shapes no output may hold unmasked, whatever their value: a SigV4 signature, a
/// Grafana service-account token, a security token header's value.
fn shapes() -> Vec<(&'static str, Regex)> {
    vec![
        (
            "a SigV4 signature",
            Regex::new(r"Signature=[0-9a-f]{64}").expect("a regex"),
        ),
        (
            "a Grafana token",
            Regex::new(r"glsa_[A-Za-z0-9]{32}_[0-9a-f]{8}").expect("a regex"),
        ),
        (
            "a security token",
            Regex::new(r#"(?i)x-amz-security-token["']?\s*[:=]\s*["']?[A-Za-z0-9/+=]{16,}"#)
                .expect("a regex"),
        ),
    ]
}

/// Everything one invocation left behind: its name, and each output with its name.
struct Outputs {
    what: String,
    parts: Vec<(String, String)>,
}

impl Outputs {
    fn of(what: &str, out: &Output, report: Option<&Path>) -> Self {
        let mut parts = vec![
            ("stdout".to_string(), text(&out.stdout)),
            ("stderr".to_string(), text(&out.stderr)),
        ];
        if let Some(r) = report {
            parts.push((
                format!("report {}", r.display()),
                std::fs::read_to_string(r).unwrap_or_default(),
            ));
        }
        Outputs {
            what: what.to_string(),
            parts,
        }
    }

    /// Every planted value (and `also`) in every form, and every secret shape: where they
    /// were found, with a little context.
    fn leaks(&self, also: &[&str]) -> Vec<String> {
        let mut found = Vec::new();
        for secret in PLANTED.iter().chain(also) {
            for form in forms(secret) {
                for (name, body) in &self.parts {
                    if let Some(i) = body.find(&form) {
                        found.push(format!(
                            "{}: {name} holds {form:?} (a form of {secret:?}): …{}…",
                            self.what,
                            context(body, i, form.len())
                        ));
                    }
                }
            }
        }
        for (shape, re) in shapes() {
            for (name, body) in &self.parts {
                if let Some(m) = re.find(body) {
                    found.push(format!(
                        "{}: {name} holds {shape}: …{}…",
                        self.what,
                        context(body, m.start(), m.len())
                    ));
                }
            }
        }
        found
    }

    /// The outputs hold something: a run that printed nothing proves nothing.
    fn assert_not_silent(&self) {
        let total: usize = self.parts.iter().map(|(_, b)| b.len()).sum();
        assert!(
            total > 200,
            "{}: almost no output ({total} bytes)",
            self.what
        );
    }
}

fn context(body: &str, at: usize, len: usize) -> String {
    let mut start = at.saturating_sub(60);
    while !body.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = (at + len + 60).min(body.len());
    while !body.is_char_boundary(end) {
        end += 1;
    }
    body[start..end].replace('\n', "⏎")
}

fn assert_no_leaks(all: &[Outputs], also: &[&str]) {
    let leaks: Vec<String> = all.iter().flat_map(|o| o.leaks(also)).collect();
    assert!(
        leaks.is_empty(),
        "{} leak(s):\n{}",
        leaks.len(),
        leaks.join("\n")
    );
}

/// Logging at its most verbose, and the planted credentials in the environment.
fn verbose(cmd: &mut Command) {
    cmd.env("PIPECHECK_LOG", "trace")
        .env("RUST_LOG", "trace")
        .env("NO_COLOR", "1")
        .env_remove("AWS_PROFILE");
}

fn planted_credentials(cmd: &mut Command) {
    cmd.env("AWS_ACCESS_KEY_ID", "AKIAPLANTEDKEYID0001")
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("AWS_SESSION_TOKEN", SESSION_TOKEN)
        .env("PIPECHECK_GRAFANA_TOKEN", GRAFANA_TOKEN);
}

/// `pipecheck run --target mock <args>` with the planted credentials in the environment.
fn run_mock(what: &str, args: &[&str]) -> Outputs {
    let dir = tmp();
    let report = dir.path().join("report.xml");
    let mut cmd = Command::new(bin());
    cmd.args(["run", "--target", "mock"])
        .args(args)
        .arg("--junit")
        .arg(&report)
        .stdin(Stdio::null());
    verbose(&mut cmd);
    planted_credentials(&mut cmd);
    let out = cmd.output().expect("pipecheck runs");
    Outputs::of(what, &out, Some(&report))
}

const MOCK_EXPORTS: &[&str] = &[
    "AWS_ENDPOINT_URL_AMP",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "PIPECHECK_WORKSPACE_ID",
    "PIPECHECK_GRAFANA_TOKEN",
];

#[test]
fn runs_against_the_mock_through_its_exports_leak_nothing() {
    let mock = Mock::start(Stdio::null(), MOCK_EXPORTS).expect("pipecheck mock starts");
    let exported_secret = mock.env["AWS_SECRET_ACCESS_KEY"].clone();
    let exported_token = mock.env["PIPECHECK_GRAFANA_TOKEN"].clone();
    let dir = tmp();
    let mut all = Vec::new();
    // (what, environment changes)
    let cases: &[(&str, &[(&str, &str)])] = &[
        ("smoke with the exported credentials", &[]),
        (
            "smoke with a planted session token",
            &[("AWS_SESSION_TOKEN", SESSION_TOKEN)],
        ),
        (
            "smoke signed with a planted wrong secret key",
            &[("AWS_SECRET_ACCESS_KEY", SECRET_KEY)],
        ),
        (
            "smoke with a planted Grafana token",
            &[("PIPECHECK_GRAFANA_TOKEN", GRAFANA_TOKEN)],
        ),
    ];
    for (i, (what, env)) in cases.iter().enumerate() {
        let report = dir.path().join(format!("report-{i}.xml"));
        let out = mock
            .run_aws(&[], &report, |cmd| {
                verbose(cmd);
                for (k, v) in *env {
                    cmd.env(k, v);
                }
            })
            .expect("pipecheck runs");
        let o = Outputs::of(what, &out, Some(&report));
        o.assert_not_silent();
        all.push(o);
    }
    assert_no_leaks(&all, &[&exported_secret, &exported_token]);
}

#[test]
fn mock_runs_with_faults_leak_nothing() {
    let mut all = vec![
        run_mock("smoke", &[]),
        run_mock("a Grafana fault", &["--fault", "grafana-token-expired"]),
        run_mock("a signing fault", &["--fault", "signing-region-wrong"]),
        run_mock("an unsigned writer", &["--fault", "amp-unsigned"]),
    ];
    if have("prometheus", &["--version"]) {
        all.push(run_mock(
            "a collector scenario",
            &["--scenario", "prometheus-process"],
        ));
    }
    for o in &all {
        o.assert_not_silent();
    }
    assert_no_leaks(&all, &[]);
}

/// A watch's outputs after a few runs: /metrics, /, /report.json, stdout and its logs
/// (through the stop).
fn watch_outputs(what: &str, args: &[&str], adjust: impl FnOnce(&mut Command)) -> Outputs {
    let w = support::Watch::start(args, adjust).expect("the watch starts");
    w.wait_metrics("3 runs", std::time::Duration::from_secs(120), |t| {
        ["passed", "failed", "error"]
            .iter()
            .filter_map(|r| {
                support::sample(
                    t,
                    &format!("pipecheck_watch_runs_total{{scenario=\"smoke\",result=\"{r}\"}}"),
                )
            })
            .sum::<f64>()
            >= 3.0
    })
    .expect("the watch runs");
    let mut parts: Vec<(String, String)> = ["/metrics", "/", "/report.json"]
        .iter()
        .map(|p| (p.to_string(), w.get(p).expect("the watch answers")))
        .collect();
    let (_, logs) = w.stop("-TERM").expect("the watch stops");
    parts.push(("logs".to_string(), logs));
    Outputs {
        what: what.to_string(),
        parts,
    }
}

#[test]
fn a_watch_leaks_nothing() {
    // On the mock: the watch's own Grafana token; the planted credentials in the
    // environment only.
    let on_mock = watch_outputs("a watch on the mock", &["--interval", "100ms"], |cmd| {
        verbose(cmd);
        planted_credentials(cmd);
    });
    // Against `pipecheck mock` as AWS: its exported secret key, and a token the watch makes
    // through the mock's AMG (the exported one removed) and reuses in every run.
    let mock = Mock::start(Stdio::null(), MOCK_EXPORTS).expect("pipecheck mock starts");
    let exported_secret = mock.env["AWS_SECRET_ACCESS_KEY"].clone();
    let dir = tmp();
    let none = dir.path().join("none");
    let on_aws = watch_outputs(
        "a watch against pipecheck mock",
        &["--target", "aws", "--interval", "100ms"],
        |cmd| {
            verbose(cmd);
            cmd.envs(&mock.env)
                .env_remove("PIPECHECK_GRAFANA_TOKEN")
                .env("AWS_CONFIG_FILE", &none)
                .env("AWS_SHARED_CREDENTIALS_FILE", &none)
                .env("AWS_EC2_METADATA_DISABLED", "true");
        },
    );
    let all = [on_mock, on_aws];
    for o in &all {
        o.assert_not_silent();
        // The runs went through the watch's token (so there was a token to leak).
        let report = &o.parts.iter().find(|(n, _)| n == "/report.json").unwrap().1;
        assert!(
            report.contains("the watch's service-account token"),
            "{}: no run used the watch's token: {report}",
            o.what
        );
    }
    assert_no_leaks(&all, &[&exported_secret]);
}

#[test]
fn scenario_files_holding_secrets_leak_nothing() {
    let dir = tmp();
    let smoke = std::fs::read_to_string(repo_root().join("scenarios/smoke.yaml"))
        .expect("the smoke scenario");
    let description = format!(
        "description: 'pasted by mistake: aws_secret_access_key={SECRET_KEY} token {GRAFANA_TOKEN} {AUTHORIZATION} {SESSION_TOKEN}'"
    );
    let with_secrets = smoke
        .lines()
        .map(|l| {
            if l.starts_with("description:") {
                description.clone()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let valid = dir.path().join("secrets.yaml");
    std::fs::write(&valid, &with_secrets).expect("a scenario file");
    // A secret where a number belongs: the parser's message quotes the value.
    let invalid = dir.path().join("bad-secrets.yaml");
    std::fs::write(
        &invalid,
        with_secrets.replace("  gauges: 3", &format!("  gauges: \"{SECRET_KEY}\"")),
    )
    .expect("a scenario file");
    // A secret where a duration belongs: its message must not quote it either.
    let invalid_duration = dir.path().join("bad-duration.yaml");
    std::fs::write(
        &invalid_duration,
        with_secrets.replace("  interval: 15s", &format!("  interval: {SESSION_TOKEN}")),
    )
    .expect("a scenario file");
    let all = vec![
        run_mock(
            "an invalid duration holding a secret",
            &["--scenario", invalid_duration.to_str().expect("UTF-8")],
        ),
        run_mock(
            "a scenario file with secrets",
            &["--scenario", valid.to_str().expect("UTF-8")],
        ),
        run_mock(
            "an invalid scenario file with secrets",
            &["--scenario", invalid.to_str().expect("UTF-8")],
        ),
    ];
    assert_no_leaks(&all, &[]);
}

#[test]
fn diagnose_on_files_holding_secrets_leaks_nothing() {
    let dir = tmp();
    let values = dir.path().join("values.yaml");
    std::fs::write(
        &values,
        format!(
            "serviceAccounts:\n  server:\n    annotations:\n      eks.amazonaws.com/role-arn: arn:aws:iam::111122223333:role/amp-ingest\nserver:\n  remoteWrite:\n    - url: https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-12345678-abcd-ef01-2345-6789abcdef01/api/v1/remote_write\n      sigv4:\n        region: us-east-1\n        access_key: AKIAPLANTEDKEYID0001\n        secret_key: {SECRET_KEY}\n      headers:\n        Authorization: \"{AUTHORIZATION}\"\n  env:\n    - name: AWS_SESSION_TOKEN\n      value: \"{SESSION_TOKEN}\"\n    - name: GRAFANA_TOKEN\n      value: {GRAFANA_TOKEN}\n"
        ),
    )
    .expect("values");
    let collector = dir.path().join("otel.yaml");
    std::fs::write(
        &collector,
        format!(
            "extensions:\n  sigv4auth:\n    region: us-east-1\n    service: aps\n    assume_role:\n      session_name: \"{SESSION_TOKEN}\"\nexporters:\n  prometheusremotewrite:\n    endpoint: https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-12345678-abcd-ef01-2345-6789abcdef01/api/v1/remote_write\n    headers:\n      Authorization: \"{AUTHORIZATION}\"\n      X-Grafana-Token: {GRAFANA_TOKEN}\n    auth:\n      authenticator: sigv4auth\nservice:\n  extensions: [sigv4auth]\n  pipelines:\n    metrics:\n      receivers: [prometheus]\n      exporters: [prometheusremotewrite]\nenv:\n  AWS_SECRET_ACCESS_KEY: {SECRET_KEY}\n"
        ),
    )
    .expect("collector config");
    let trust = dir.path().join("trust.json");
    std::fs::write(
        &trust,
        format!(
            r#"{{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow", "Principal": {{"Federated": "arn:aws:iam::111122223333:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE"}}, "Action": "sts:AssumeRoleWithWebIdentity", "Condition": {{"StringEquals": {{"oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE:sub": "{SECRET_KEY}", "aws:SecretToken": "{SESSION_TOKEN}", "x:grafana": "{GRAFANA_TOKEN}", "x:auth": "{AUTHORIZATION}"}}}}}}]}}"#
        ),
    )
    .expect("trust policy");
    // Broken on purpose: the parse error must not quote the secret on its line either.
    let broken = dir.path().join("broken.yaml");
    std::fs::write(
        &broken,
        format!("server:\n  secret_key: {SECRET_KEY}: {GRAFANA_TOKEN}\n"),
    )
    .expect("broken");
    let mut all = Vec::new();
    for format in ["text", "json"] {
        let report = dir.path().join(format!("diagnose-{format}.xml"));
        let mut cmd = Command::new(bin());
        cmd.args(["diagnose", "--helm-values"])
            .arg(&values)
            .arg("--collector-config")
            .arg(&collector)
            .arg("--trust-policy")
            .arg(&trust)
            .args(["--namespace", "prometheus", "--format", format, "--junit"])
            .arg(&report);
        verbose(&mut cmd);
        let out = cmd.output().expect("pipecheck diagnose runs");
        let o = Outputs::of(&format!("diagnose --format {format}"), &out, Some(&report));
        o.assert_not_silent();
        all.push(o);
    }
    let mut cmd = Command::new(bin());
    cmd.args(["diagnose", "--helm-values"]).arg(&broken);
    verbose(&mut cmd);
    let out = cmd.output().expect("pipecheck diagnose runs");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    all.push(Outputs::of("diagnose of a broken file", &out, None));
    assert_no_leaks(&all, &[]);
}
