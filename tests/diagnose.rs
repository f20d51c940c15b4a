//! End-to-end tests of `pipecheck diagnose`: the real binary on the fixtures in
//! `tests/fixtures/diagnose/`. One named trial per finding id and form (its failing
//! fixture gives exactly the expected findings at the expected lines; its corrected
//! fixture gives none), per bad-input case, and for secrets, huge files and the JUnit
//! report, so `cargo test -p pipecheck --test diagnose -- L3` runs the L3 trials.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use libtest_mimic::{Arguments, Failed, Trial};
use serde_json::Value;

#[path = "support/mod.rs"]
mod support;

use support::{bin, ensure, repo_root, text, tmp, validate_xsd};

fn fixtures() -> PathBuf {
    repo_root().join("tests/fixtures/diagnose")
}

/// `{F}` in an argument is the fixtures folder.
fn expand(args: &[&str]) -> Vec<String> {
    let f = fixtures();
    args.iter()
        .map(|a| a.replace("{F}", f.to_str().unwrap()))
        .collect()
}

fn diagnose(args: &[String]) -> Output {
    support::command()
        .arg("diagnose")
        .args(args)
        .output()
        .expect("the pipecheck binary runs")
}

fn no_panic(out: &Output) -> Result<(), Failed> {
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    ensure(
        !all.contains("panicked") && !all.contains("RUST_BACKTRACE"),
        || format!("a panic was printed:\n{all}"),
    )
}

/// Runs with `--format json`; the exit code and the findings.
fn json_run(args: &[String]) -> Result<(i32, Vec<Value>), Failed> {
    let mut full = args.to_vec();
    full.push("--format".into());
    full.push("json".into());
    let out = diagnose(&full);
    no_panic(&out)?;
    let code = out.status.code().unwrap_or(-1);
    let v: Value = serde_json::from_slice(&out.stdout).map_err(|e| {
        format!(
            "stdout is not JSON ({e}); exit {code}\nstdout:\n{}\nstderr:\n{}",
            text(&out.stdout),
            text(&out.stderr)
        )
    })?;
    ensure(v["version"] == 1, || format!("version: {}", v["version"]))?;
    Ok((code, v["findings"].as_array().cloned().unwrap_or_default()))
}

fn show(findings: &[Value]) -> String {
    findings
        .iter()
        .map(|f| {
            format!(
                "{} {} {}:{}:{} {} — {}",
                f["id"].as_str().unwrap_or(""),
                f["severity"].as_str().unwrap_or(""),
                f["file"].as_str().unwrap_or(""),
                f["line"],
                f["column"],
                f["key_path"].as_str().unwrap_or(""),
                f["message"].as_str().unwrap_or("")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A failing fixture: exactly these findings (id, severity, file name, line), this exit
/// code, and every finding carries a message and a fix.
struct Fails {
    name: &'static str,
    args: &'static [&'static str],
    exit: i32,
    expect: &'static [(&'static str, &'static str, &'static str, u64)],
}

/// The corrected fixture: no findings at all, exit 0.
struct Passes {
    name: &'static str,
    args: &'static [&'static str],
}

const FAILS: &[Fails] = &[
    Fails {
        name: "L1::misindented_role_arn",
        args: &["--helm-values", "{F}/L1-fail.values.yaml"],
        exit: 1,
        expect: &[("L1", "error", "L1-fail.values.yaml", 6)],
    },
    Fails {
        name: "L2::url_and_region",
        args: &["--helm-values", "{F}/L2-fail.values.yaml"],
        exit: 1,
        expect: &[
            ("L2", "error", "L2-fail.values.yaml", 9),
            ("L2", "error", "L2-fail.values.yaml", 14),
        ],
    },
    Fails {
        name: "L2::sigv4_null",
        args: &["--helm-values", "{F}/L2-nosigv4-fail.values.yaml"],
        exit: 1,
        expect: &[("L2", "error", "L2-nosigv4-fail.values.yaml", 9)],
    },
    Fails {
        name: "L3::another_namespace",
        args: &[
            "--helm-values",
            "{F}/L3.values.yaml",
            "--trust-policy",
            "{F}/L3-fail.trust.json",
            "--namespace",
            "prometheus",
        ],
        exit: 1,
        expect: &[("L3", "error", "L3-fail.trust.json", 12)],
    },
    Fails {
        name: "L3::no_aud",
        args: &[
            "--helm-values",
            "{F}/L3.values.yaml",
            "--trust-policy",
            "{F}/L3-noaud-fail.trust.json",
            "--namespace",
            "prometheus",
        ],
        exit: 0,
        expect: &[("L3", "warning", "L3-noaud-fail.trust.json", 12)],
    },
    Fails {
        name: "L4::no_authenticator",
        args: &["--collector-config", "{F}/L4-fail.otel.yaml"],
        exit: 1,
        expect: &[("L4", "error", "L4-fail.otel.yaml", 21)],
    },
    Fails {
        name: "L4::collector_resource",
        args: &["--collector-config", "{F}/L4-fail.collector-cr.yaml"],
        exit: 1,
        expect: &[("L4", "error", "L4-fail.collector-cr.yaml", 19)],
    },
    Fails {
        name: "L5::snake_case_for_kube_prometheus_stack",
        args: &["--helm-values", "{F}/L5-fail.values.yaml"],
        exit: 1,
        expect: &[("L5", "error", "L5-fail.values.yaml", 12)],
    },
    Fails {
        name: "L5::mixed_charts",
        args: &["--helm-values", "{F}/L5-mixed-fail.values.yaml"],
        exit: 1,
        expect: &[("L5", "error", "L5-mixed-fail.values.yaml", 9)],
    },
    Fails {
        name: "L6::sigv4auth_before_v0_18",
        args: &[
            "--collector-config",
            "{F}/L4-pass.otel.yaml",
            "--collector-image",
            "v0.17.0",
        ],
        exit: 1,
        expect: &[("L6", "error", "L4-pass.otel.yaml", 2)],
    },
    Fails {
        name: "L6::awsprometheusremotewrite_after_v0_20",
        args: &[
            "--collector-config",
            "{F}/L6-fail.otel.yaml",
            "--collector-image",
            "public.ecr.aws/aws-observability/aws-otel-collector:v0.21.0",
        ],
        exit: 1,
        expect: &[("L6", "error", "L6-fail.otel.yaml", 13)],
    },
    Fails {
        name: "L6::digest_only",
        args: &[
            "--collector-config",
            "{F}/L4-pass.otel.yaml",
            "--collector-image",
            "public.ecr.aws/aws-observability/aws-otel-collector@sha256:9f1c0d2e3b4a5f60718293a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4",
        ],
        exit: 0,
        expect: &[("L6", "info", "L4-pass.otel.yaml", 2)],
    },
    Fails {
        name: "L7::crd_predates_sigv4",
        args: &[
            "--helm-values",
            "{F}/L7-fail.values.yaml",
            "--crd",
            "{F}/L7-old.crd.yaml",
        ],
        exit: 1,
        expect: &[
            ("L7", "error", "L7-fail.values.yaml", 10),
            ("L7", "error", "L7-fail.values.yaml", 14),
        ],
    },
    Fails {
        name: "L8::api_json",
        args: &["--grafana-datasource", "{F}/L8-fail.datasource.json"],
        exit: 1,
        expect: &[
            ("L8", "error", "L8-fail.datasource.json", 12),
            ("L8", "error", "L8-fail.datasource.json", 14),
            ("L8", "error", "L8-fail.datasource.json", 15),
        ],
    },
    Fails {
        name: "L8::provisioning_yaml",
        args: &["--grafana-datasource", "{F}/L8-fail.provisioning.yaml"],
        exit: 1,
        expect: &[
            ("L8", "error", "L8-fail.provisioning.yaml", 12),
            ("L8", "error", "L8-fail.provisioning.yaml", 14),
        ],
    },
    Fails {
        name: "D1::placeholders",
        args: &["--helm-values", "{F}/D1-fail.values.yaml"],
        exit: 1,
        expect: &[
            ("D1", "error", "D1-fail.values.yaml", 5),
            ("D1", "error", "D1-fail.values.yaml", 8),
            ("D1", "error", "D1-fail.values.yaml", 10),
        ],
    },
    Fails {
        name: "D2::workspace_alias",
        args: &["--collector-config", "{F}/D2-fail.otel.yaml"],
        exit: 1,
        expect: &[("D2", "error", "D2-fail.otel.yaml", 8)],
    },
    Fails {
        name: "D3::no_remote_write",
        args: &[
            "--helm-values",
            "{F}/L1-pass.values.yaml",
            "--permission-policy",
            "{F}/D3-fail.permissions.json",
        ],
        exit: 1,
        expect: &[("D3", "error", "D3-fail.permissions.json", 4)],
    },
    Fails {
        name: "D4::no_query_metrics",
        args: &[
            "--helm-values",
            "{F}/L1-pass.values.yaml",
            "--permission-policy",
            "{F}/D4-fail.permissions.json",
        ],
        exit: 0,
        expect: &[("D4", "warning", "D4-fail.permissions.json", 4)],
    },
    Fails {
        name: "D5::static_keys",
        args: &["--helm-values", "{F}/D5-fail.values.yaml"],
        exit: 0,
        expect: &[
            ("D5", "warning", "D5-fail.values.yaml", 7),
            ("D5", "warning", "D5-fail.values.yaml", 8),
        ],
    },
    Fails {
        name: "D6::annotations_not_created",
        args: &["--helm-values", "{F}/D6-fail.values.yaml"],
        exit: 0,
        expect: &[("D6", "warning", "D6-fail.values.yaml", 4)],
    },
    Fails {
        name: "D7::workspaces_disagree",
        args: &[
            "--helm-values",
            "{F}/L1-pass.values.yaml",
            "--collector-config",
            "{F}/D7-fail.otel.yaml",
        ],
        exit: 0,
        expect: &[("D7", "warning", "D7-fail.otel.yaml", 8)],
    },
    Fails {
        name: "D7::grafana_reads_another_workspace",
        args: &[
            "--helm-values",
            "{F}/L1-pass.values.yaml",
            "--grafana-datasource",
            "{F}/D7-fail.datasource.json",
        ],
        exit: 0,
        expect: &[("D7", "warning", "D7-fail.datasource.json", 8)],
    },
    Fails {
        name: "D8::malformed_policy",
        args: &["--trust-policy", "{F}/D8-fail.trust.json"],
        exit: 1,
        expect: &[("D8", "error", "D8-fail.trust.json", 5)],
    },
    Fails {
        name: "D20::namespace_in_values",
        args: &["--helm-values", "{F}/D20-fail.values.yaml"],
        exit: 1,
        expect: &[("D20", "error", "D20-fail.values.yaml", 2)],
    },
    Fails {
        name: "D20::service_account_in_sub",
        args: &[
            "--helm-values",
            "{F}/L3.values.yaml",
            "--trust-policy",
            "{F}/D20-fail.trust.json",
            "--namespace",
            "prometheus",
        ],
        exit: 1,
        expect: &[("D20", "error", "D20-fail.trust.json", 12)],
    },
    Fails {
        name: "D21::logging_exporter_current_release",
        args: &["--collector-config", "{F}/D21-fail.otel.yaml"],
        exit: 1,
        expect: &[("D21", "error", "D21-fail.otel.yaml", 13)],
    },
    Fails {
        name: "D22::duplicate_key",
        args: &["--collector-config", "{F}/D22-fail.otel.yaml"],
        exit: 1,
        expect: &[("D22", "error", "D22-fail.otel.yaml", 6)],
    },
    Fails {
        name: "D23::prometheus_receiver_without_config",
        args: &["--collector-config", "{F}/D23-fail.otel.yaml"],
        exit: 1,
        expect: &[("D23", "error", "D23-fail.otel.yaml", 8)],
    },
    Fails {
        name: "D24::moved_chart_key",
        args: &["--helm-values", "{F}/D24-fail.values.yaml"],
        exit: 0,
        expect: &[("D24", "warning", "D24-fail.values.yaml", 11)],
    },
    Fails {
        name: "D25::workspace_arn_shape",
        args: &["--permission-policy", "{F}/D25-fail.permissions.json"],
        exit: 1,
        expect: &[("D25", "error", "D25-fail.permissions.json", 7)],
    },
    Fails {
        name: "D3::query_only_role_without_collector",
        args: &["--permission-policy", "{F}/D3-query-only.permissions.json"],
        exit: 0,
        expect: &[("D3", "info", "D3-query-only.permissions.json", 4)],
    },
    Fails {
        name: "L3::cross_account_hop",
        args: &["--trust-policy", "{F}/L3-hop.trust.json"],
        exit: 0,
        expect: &[("L3", "info", "L3-hop.trust.json", 7)],
    },
    Fails {
        name: "D9::not_recognised",
        args: &["{F}/D9-fail.compose.yaml"],
        exit: 1,
        expect: &[("D9", "error", "D9-fail.compose.yaml", 2)],
    },
    Fails {
        name: "D9::unrecognised_under_a_flag",
        args: &["--collector-config", "{F}/D9-fail.compose.yaml"],
        exit: 1,
        expect: &[("D9", "error", "D9-fail.compose.yaml", 2)],
    },
    Fails {
        name: "D10::trust_policy_given_as_values",
        args: &["--helm-values", "{F}/L3-pass.trust.json"],
        exit: 1,
        expect: &[("D10", "error", "L3-pass.trust.json", 1)],
    },
    Fails {
        name: "auto::positional_values_found_like_flagged",
        args: &["{F}/L1-fail.values.yaml"],
        exit: 1,
        expect: &[("L1", "error", "L1-fail.values.yaml", 6)],
    },
    Fails {
        name: "auto::positional_values_and_crd",
        args: &["{F}/L7-fail.values.yaml", "{F}/L7-old.crd.yaml"],
        exit: 1,
        expect: &[
            ("L7", "error", "L7-fail.values.yaml", 10),
            ("L7", "error", "L7-fail.values.yaml", 14),
        ],
    },
    Fails {
        name: "auto::positional_collector_and_data_source",
        args: &["{F}/L4-fail.otel.yaml", "{F}/L8-fail.provisioning.yaml"],
        exit: 1,
        expect: &[
            ("L4", "error", "L4-fail.otel.yaml", 21),
            ("L8", "error", "L8-fail.provisioning.yaml", 12),
            ("L8", "error", "L8-fail.provisioning.yaml", 14),
        ],
    },
];

const PASSES: &[Passes] = &[
    Passes {
        name: "yaml_anchors_and_merge_keys",
        args: &["--helm-values", "{F}/anchors-merge-pass.values.yaml"],
    },
    Passes {
        name: "L1",
        args: &["--helm-values", "{F}/L1-pass.values.yaml"],
    },
    Passes {
        name: "L2",
        args: &["--helm-values", "{F}/L2-pass.values.yaml"],
    },
    Passes {
        name: "L3",
        args: &[
            "--helm-values",
            "{F}/L3.values.yaml",
            "--trust-policy",
            "{F}/L3-pass.trust.json",
            "--namespace",
            "prometheus",
        ],
    },
    Passes {
        name: "L4",
        args: &["--collector-config", "{F}/L4-pass.otel.yaml"],
    },
    Passes {
        name: "L5",
        args: &["--helm-values", "{F}/L5-pass.values.yaml"],
    },
    Passes {
        name: "L6",
        args: &[
            "--collector-config",
            "{F}/L4-pass.otel.yaml",
            "--collector-image",
            "public.ecr.aws/aws-observability/aws-otel-collector:v0.21.0",
        ],
    },
    Passes {
        name: "L6::old_exporter_on_an_old_image",
        args: &[
            "--collector-config",
            "{F}/L6-fail.otel.yaml",
            "--collector-image",
            "public.ecr.aws/aws-observability/aws-otel-collector:v0.20.0",
        ],
    },
    Passes {
        name: "L6::not_adot",
        args: &[
            "--collector-config",
            "{F}/L6-fail.otel.yaml",
            "--collector-image",
            "otel/opentelemetry-collector-contrib:0.17.0",
        ],
    },
    Passes {
        name: "L7",
        args: &[
            "--helm-values",
            "{F}/L7-fail.values.yaml",
            "--crd",
            "{F}/L7-new.crd.yaml",
        ],
    },
    Passes {
        name: "L8::api_json",
        args: &["--grafana-datasource", "{F}/L8-pass.datasource.json"],
    },
    Passes {
        name: "L8::provisioning_yaml",
        args: &["--grafana-datasource", "{F}/L8-pass.provisioning.yaml"],
    },
    Passes {
        name: "D1",
        args: &["--helm-values", "{F}/D1-pass.values.yaml"],
    },
    Passes {
        name: "D2",
        args: &["--collector-config", "{F}/D2-pass.otel.yaml"],
    },
    Passes {
        name: "D3",
        args: &[
            "--helm-values",
            "{F}/L1-pass.values.yaml",
            "--permission-policy",
            "{F}/D3-pass.permissions.json",
        ],
    },
    Passes {
        name: "D4",
        args: &[
            "--helm-values",
            "{F}/L1-pass.values.yaml",
            "--permission-policy",
            "{F}/D4-pass.permissions.json",
        ],
    },
    Passes {
        name: "D5",
        args: &["--helm-values", "{F}/D5-pass.values.yaml"],
    },
    Passes {
        name: "D6",
        args: &["--helm-values", "{F}/D6-pass.values.yaml"],
    },
    Passes {
        name: "D7",
        args: &[
            "--helm-values",
            "{F}/L1-pass.values.yaml",
            "--collector-config",
            "{F}/D7-pass.otel.yaml",
        ],
    },
    Passes {
        name: "D8",
        args: &["--trust-policy", "{F}/D8-pass.trust.json"],
    },
    Passes {
        name: "D20",
        args: &["--helm-values", "{F}/D20-pass.values.yaml"],
    },
    Passes {
        name: "D21",
        args: &["--collector-config", "{F}/D21-pass.otel.yaml"],
    },
    Passes {
        name: "D22",
        args: &["--collector-config", "{F}/D22-pass.otel.yaml"],
    },
    Passes {
        name: "D23",
        args: &["--collector-config", "{F}/D23-pass.otel.yaml"],
    },
    Passes {
        name: "D24",
        args: &["--helm-values", "{F}/D24-pass.values.yaml"],
    },
    Passes {
        name: "D25",
        args: &["--permission-policy", "{F}/D25-pass.permissions.json"],
    },
    Passes {
        name: "auto::every_kind_positional",
        args: &[
            "{F}/L1-pass.values.yaml",
            "{F}/L4-pass.otel.yaml",
            "{F}/L3-pass.trust.json",
            "{F}/D3-pass.permissions.json",
            "{F}/L8-pass.provisioning.yaml",
            "{F}/L8-pass.datasource.json",
            "--namespace",
            "prometheus",
        ],
    },
];

/// What a finding of a failing case says: the case, the finding's line, its key path,
/// words its message and its fix must hold, and words of its snippet (if any is expected).
struct Says {
    case: &'static str,
    line: u64,
    key_path: &'static str,
    message: &'static [&'static str],
    fix: &'static [&'static str],
    snippet: &'static [&'static str],
}

const SAYS: &[Says] = &[
    Says {
        case: "L6::sigv4auth_before_v0_18",
        line: 2,
        key_path: "extensions.sigv4auth",
        message: &[
            "`sigv4auth` (extension)",
            "`v0.17.0`",
            "ADOT has it since v0.18",
            "refuses the config",
        ],
        fix: &[
            "ADOT v0.18.0 or later",
            "public.ecr.aws/aws-observability/aws-otel-collector:<version>",
        ],
        snippet: &[],
    },
    Says {
        case: "L6::awsprometheusremotewrite_after_v0_20",
        line: 13,
        key_path: "exporters.awsprometheusremotewrite",
        message: &[
            "`awsprometheusremotewrite` (exporter)",
            "aws-otel-collector:v0.21.0",
            "up to v0.20 and not after",
        ],
        fix: &[
            "`prometheusremotewrite` exporter signed by the `sigv4auth` extension",
            "ADOT v0.20 or earlier",
        ],
        snippet: &[
            "authenticator: sigv4auth",
            "workspaces/ws-12345678-abcd-ef01-2345-6789abcdef01/api/v1/remote_write",
            "region: us-east-1",
        ],
    },
    Says {
        case: "L6::digest_only",
        line: 2,
        key_path: "extensions.sigv4auth",
        message: &["cannot be told", "a digest names no version"],
        fix: &["version tag"],
        snippet: &[],
    },
    Says {
        case: "L7::crd_predates_sigv4",
        line: 10,
        key_path: "prometheus.prometheusSpec.remoteWrite[0].sigv4",
        message: &[
            "`sigv4` is not a field of `prometheus.prometheusSpec.remoteWrite[0]`",
            "L7-old.crd.yaml",
            "prometheus-operator 0.50.0",
            "unknown field \"sigv4\"",
            "helm does not upgrade CRDs",
            "403",
        ],
        fix: &[
            "helm never upgrades CRDs",
            "apply the CRDs of the kube-prometheus-stack version",
            "0.50.0",
        ],
        snippet: &[
            "kubectl apply --server-side --force-conflicts -f",
            "monitoring.coreos.com_prometheuses.yaml",
        ],
    },
    Says {
        case: "L7::crd_predates_sigv4",
        line: 14,
        key_path: "prometheus.prometheusSpec.remoteWrite[0].queueConfig.retryOnRateLimit",
        message: &[
            "`retryOnRateLimit` is not a field of",
            "unknown field \"retryOnRateLimit\"",
        ],
        fix: &["apply the CRDs"],
        snippet: &[],
    },
    Says {
        case: "L8::api_json",
        line: 12,
        key_path: "jsonData.sigV4Auth",
        message: &["the string \"true\", not a boolean", "unsigned"],
        fix: &["boolean `true`"],
        snippet: &["sigV4Auth: true"],
    },
    Says {
        case: "L8::api_json",
        line: 14,
        key_path: "jsonData.sigv4Region",
        message: &["`sigv4Region`", "Grafana reads only `sigV4Region`"],
        fix: &["rename `sigv4Region` to `sigV4Region`"],
        snippet: &[],
    },
    Says {
        case: "L8::api_json",
        line: 15,
        key_path: "jsonData.assumeRoleArn",
        message: &["silently ignored", "reads `sigV4AssumeRoleArn` instead"],
        fix: &["rename `assumeRoleArn` to `sigV4AssumeRoleArn`"],
        snippet: &["sigV4AssumeRoleArn: arn:aws:iam::111122223333:role/grafana-amp-query"],
    },
    Says {
        case: "L8::provisioning_yaml",
        line: 12,
        key_path: "datasources[0].jsonData.sigV4AuthType",
        message: &[
            "`sigV4AuthType: workspace_iam_role`",
            "default, keys, credentials, ec2_iam_role, grafana_assume_role",
        ],
        fix: &["ec2_iam_role"],
        snippet: &[],
    },
    Says {
        case: "L8::provisioning_yaml",
        line: 14,
        key_path: "datasources[0].jsonData.sigV4AssumeRoleARN",
        message: &["Grafana reads only `sigV4AssumeRoleArn`"],
        fix: &["rename `sigV4AssumeRoleARN` to `sigV4AssumeRoleArn`"],
        snippet: &[],
    },
    Says {
        case: "D9::not_recognised",
        line: 2,
        key_path: "",
        message: &[
            "not recognised",
            "nothing was checked",
            "diagnose looks for helm values",
        ],
        fix: &["pass the file that holds the setting"],
        snippet: &[],
    },
    Says {
        case: "D10::trust_policy_given_as_values",
        line: 1,
        key_path: "",
        message: &["given as --helm-values", "an IAM role trust policy"],
        fix: &["the flag for what it is"],
        snippet: &[],
    },
    Says {
        case: "D7::grafana_reads_another_workspace",
        line: 8,
        key_path: "url",
        message: &[
            "workspace `ws-87654321-dcba-10fe-5432-10fedcba9876` in `us-east-1`",
            "names workspace `ws-12345678-abcd-ef01-2345-6789abcdef01`",
            "never reads",
        ],
        fix: &["same workspace"],
        snippet: &[],
    },
    Says {
        case: "D20::namespace_in_values",
        line: 2,
        key_path: "forceNamespace",
        message: &[
            "`amp_metrics`",
            "Kubernetes does not allow `_` in a namespace",
            "DNS-1123 label",
        ],
        fix: &["`forceNamespace: amp-metrics`"],
        snippet: &[],
    },
    Says {
        case: "D20::service_account_in_sub",
        line: 12,
        key_path: "Statement[0].Condition.StringEquals.\"oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE:sub\"",
        message: &[
            "can never match",
            "Kubernetes does not allow upper case (`P`) in a service account name",
        ],
        fix: &["system:serviceaccount:prometheus:prometheus-server"],
        snippet: &["system:serviceaccount:prometheus:prometheus-server"],
    },
    Says {
        case: "D21::logging_exporter_current_release",
        line: 13,
        key_path: "exporters.logging",
        message: &[
            "`logging` (exporter)",
            "current",
            "ADOT has it up to v0.41",
            "up to v0.110",
        ],
        fix: &["`debug` exporter", "--collector-image"],
        snippet: &["debug:"],
    },
    Says {
        case: "D22::duplicate_key",
        line: 6,
        key_path: "extensions.sigv4auth.region",
        message: &["lines 4 and 6", "already defined at line 4"],
        fix: &["keep one `region`"],
        snippet: &[],
    },
    Says {
        case: "D23::prometheus_receiver_without_config",
        line: 8,
        key_path: "receivers.prometheus.scrape_configs",
        message: &["under `config:`", "invalid keys"],
        fix: &["`prometheus.config.scrape_configs`"],
        snippet: &["  config:\n    scrape_configs:"],
    },
    Says {
        case: "D24::moved_chart_key",
        line: 11,
        key_path: "kubeStateMetrics",
        message: &["before 19.0", "`kube-state-metrics`", "silently ignored"],
        fix: &["chart 19.0 or later"],
        snippet: &[],
    },
    Says {
        case: "D25::workspace_arn_shape",
        line: 7,
        key_path: "Statement[0].Resource",
        message: &[
            "`workspace/ws-<uuid>` (singular `workspace`)",
            "grants nothing",
        ],
        fix: &["aws amp describe-workspace"],
        snippet: &["arn:aws:aps:<region>:<account>:workspace/ws-<uuid>"],
    },
    Says {
        case: "L3::cross_account_hop",
        line: 7,
        key_path: "Statement[0].Principal.AWS",
        message: &[
            "cross-account",
            "arn:aws:iam::444455556666:role/amp-irsa-source",
        ],
        fix: &["first role's trust policy"],
        snippet: &[],
    },
];

/// The findings of `case` say what [`SAYS`] expects of them.
fn says(case: &Fails, findings: &[Value]) -> Result<(), Failed> {
    for s in SAYS.iter().filter(|s| s.case == case.name) {
        let f = findings
            .iter()
            .find(|f| f["line"].as_u64() == Some(s.line))
            .ok_or_else(|| format!("no finding at line {}\n{}", s.line, show(findings)))?;
        ensure(f["key_path"] == s.key_path, || {
            format!(
                "line {}: key path {}, expected {:?}",
                s.line, f["key_path"], s.key_path
            )
        })?;
        for (field, words) in [
            ("message", s.message),
            ("fix", s.fix),
            ("snippet", s.snippet),
        ] {
            let got = f[field].as_str().unwrap_or("");
            for w in words {
                ensure(got.contains(w), || {
                    format!("line {}: {field} lacks {w:?}: {got}", s.line)
                })?;
            }
        }
    }
    Ok(())
}

fn fails(case: &Fails) -> Result<(), Failed> {
    let (code, findings) = json_run(&expand(case.args))?;
    ensure(code == case.exit, || {
        format!("exit {code}, expected {}\n{}", case.exit, show(&findings))
    })?;
    let got: Vec<(String, String, String, u64)> = findings
        .iter()
        .map(|f| {
            let file = f["file"].as_str().unwrap_or("");
            (
                f["id"].as_str().unwrap_or("").to_string(),
                f["severity"].as_str().unwrap_or("").to_string(),
                Path::new(file)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                f["line"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    let want: Vec<(String, String, String, u64)> = case
        .expect
        .iter()
        .map(|(i, s, f, l)| (i.to_string(), s.to_string(), f.to_string(), *l))
        .collect();
    ensure(got == want, || {
        format!(
            "findings differ\nexpected: {want:?}\ngot:\n{}",
            show(&findings)
        )
    })?;
    for f in &findings {
        for field in ["message", "fix", "key_path"] {
            ensure(f[field].is_string(), || format!("{field} missing: {f}"))?;
        }
        ensure(
            !f["message"].as_str().unwrap().is_empty() && !f["fix"].as_str().unwrap().is_empty(),
            || format!("empty message or fix: {f}"),
        )?;
        ensure(f["column"].as_u64().is_some_and(|c| c >= 1), || {
            format!("no column: {f}")
        })?;
    }
    says(case, &findings)
}

fn passes(case: &Passes) -> Result<(), Failed> {
    let (code, findings) = json_run(&expand(case.args))?;
    ensure(code == 0 && findings.is_empty(), || {
        format!("exit {code}, findings:\n{}", show(&findings))
    })
}

/// The "done when": the mis-indented role-arn together with a trust policy for
/// another namespace gives both findings, with lines and fixes, and exit 1; the corrected
/// pair gives none and exit 0.
fn misindented_and_other_namespace() -> Result<(), Failed> {
    let out = diagnose(&expand(&[
        "--helm-values",
        "{F}/L1-fail.values.yaml",
        "--trust-policy",
        "{F}/L3-fail.trust.json",
        "--namespace",
        "prometheus",
    ]));
    no_panic(&out)?;
    let stdout = text(&out.stdout);
    ensure(out.status.code() == Some(1), || {
        format!("exit {:?}\n{stdout}", out.status.code())
    })?;
    for needle in [
        "L1-fail.values.yaml (--helm-values)",
        "  6:5      error   L1  serviceAccounts.server.\"eks.amazonaws.com/role-arn\"",
        "sits beside `annotations:`",
        "fix: put the annotation under `serviceAccounts.server.annotations`",
        "      eks.amazonaws.com/role-arn: arn:aws:iam::111122223333:role/amp-ingest",
        "L3-fail.trust.json (--trust-policy)",
        "  12:11    error   L3  Statement[0].Condition.StringEquals.",
        "must equal `system:serviceaccount:springboot:adot` but the token says `system:serviceaccount:prometheus:prometheus-server`",
        "fix: make the `:sub` condition name `system:serviceaccount:prometheus:prometheus-server`",
        "\"oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE:sub\": \"system:serviceaccount:prometheus:prometheus-server\",",
        "result: FAIL (2 errors, 0 warnings, 0 info; failed checks: L1, L3)",
    ] {
        ensure(stdout.contains(needle), || {
            format!("text output lacks {needle:?}:\n{stdout}")
        })?;
    }
    ensure(!stdout.contains('\x1b'), || {
        "colors without a terminal".into()
    })?;
    let out = diagnose(&expand(&[
        "--helm-values",
        "{F}/L1-pass.values.yaml",
        "--trust-policy",
        "{F}/L3-pass.trust.json",
        "--namespace",
        "prometheus",
    ]));
    let stdout = text(&out.stdout);
    ensure(out.status.code() == Some(0), || {
        format!("exit {:?}\n{stdout}", out.status.code())
    })?;
    ensure(
        stdout.contains("result: pass (0 errors, 0 warnings, 0 info)")
            && stdout.contains("L3-pass.trust.json (--trust-policy): no findings"),
        || stdout.clone(),
    )
}

/// Every fixture together: the pipeline as a whole is consistent.
fn whole_pipeline_passes() -> Result<(), Failed> {
    let (code, findings) = json_run(&expand(&[
        "--helm-values",
        "{F}/L1-pass.values.yaml",
        "--collector-config",
        "{F}/L4-pass.otel.yaml",
        "--trust-policy",
        "{F}/L3-pass.trust.json",
        "--permission-policy",
        "{F}/D3-pass.permissions.json",
        "--grafana-datasource",
        "{F}/L8-pass.datasource.json",
        "--collector-image",
        "public.ecr.aws/aws-observability/aws-otel-collector:v0.21.0",
        "--namespace",
        "prometheus",
        "--release",
        "prometheus",
    ]))?;
    ensure(code == 0 && findings.is_empty(), || show(&findings))
}

/// Input that cannot be read or parsed: exit 2, one line on stderr naming the file and the
/// parser's line and column, nothing on stdout, no report written.
fn bad_input(args: Vec<String>, words: &'static str) -> Result<(), Failed> {
    let dir = tmp();
    let report = dir.path().join("r.xml");
    let full = support::bad_input_args(&args, dir.path(), &report, true);
    let out = diagnose(&expand(
        &full.iter().map(String::as_str).collect::<Vec<_>>(),
    ));
    no_panic(&out)?;
    let stderr = support::exits_2_saying(&out, words)?;
    // clap's own usage errors span several lines; ours are one line.
    ensure(
        stderr.starts_with("error: ") || stderr.trim_end().lines().count() == 1,
        || format!("not one line: {stderr}"),
    )?;
    ensure(out.stdout.is_empty(), || {
        format!("stdout: {}", text(&out.stdout))
    })?;
    ensure(!report.exists(), || "a report was written".into())
}

/// Empty files: an empty values file is the chart's defaults (info, exit 0); an empty
/// collector config is an error (exit 1); an empty policy is not JSON (exit 2, its own trial).
fn empty_files() -> Result<(), Failed> {
    let (code, f) = json_run(&expand(&["--helm-values", "{F}/empty.yaml"]))?;
    ensure(
        code == 0 && f.len() == 1 && f[0]["severity"] == "info",
        || format!("values: exit {code}\n{}", show(&f)),
    )?;
    let (code, f) = json_run(&expand(&["--collector-config", "{F}/empty.yaml"]))?;
    ensure(
        code == 1 && f.len() == 1 && f[0]["id"] == "L4" && f[0]["line"] == 1,
        || format!("collector: exit {code}\n{}", show(&f)),
    )
}

/// A 50,000-item values file and a 20,000-statement policy finish (no quadratic blow-up),
/// and a file with 20,000 findings reports every one of them.
fn huge_files() -> Result<(), Failed> {
    let dir = tmp();
    let ws = "ws-12345678-abcd-ef01-2345-6789abcdef01";
    let mut values = String::from(
        "serviceAccounts:\n  server:\n    annotations:\n      eks.amazonaws.com/role-arn: arn:aws:iam::111122223333:role/amp-ingest\n",
    );
    values.push_str(&format!("server:\n  remoteWrite:\n    - url: https://aps-workspaces.us-east-1.amazonaws.com/workspaces/{ws}/api/v1/remote_write\n      sigv4:\n        region: us-east-1\n"));
    values.push_str("extraScrapeConfigs:\n");
    for i in 0..50_000 {
        values.push_str(&format!(
            "  - job_name: job-{i}\n    static_configs:\n      - targets: [\"10.0.{}.{}:9100\"]\n",
            i / 256 % 256,
            i % 256
        ));
    }
    let vpath = dir.path().join("huge.values.yaml");
    std::fs::write(&vpath, values).map_err(|e| e.to_string())?;
    let mut statements = Vec::new();
    for i in 0..20_000 {
        statements.push(format!(
            "{{\"Effect\":\"Allow\",\"Action\":\"aps:GetLabels\",\"Resource\":\"arn:aws:aps:us-east-1:111122223333:workspace/ws-{i:08}-abcd-ef01-2345-6789abcdef01\"}}"
        ));
    }
    statements.push(format!("{{\"Effect\":\"Allow\",\"Action\":[\"aps:RemoteWrite\",\"aps:QueryMetrics\"],\"Resource\":\"arn:aws:aps:us-east-1:111122223333:workspace/{ws}\"}}"));
    let ppath = dir.path().join("huge.permissions.json");
    std::fs::write(
        &ppath,
        format!(
            "{{\"Version\":\"2012-10-17\",\"Statement\":[\n{}\n]}}",
            statements.join(",\n")
        ),
    )
    .map_err(|e| e.to_string())?;
    let (code, findings) = json_run(&[
        "--helm-values".into(),
        vpath.to_string_lossy().into_owned(),
        "--permission-policy".into(),
        ppath.to_string_lossy().into_owned(),
    ])?;
    ensure(code == 0 && findings.is_empty(), || {
        format!("exit {code}\n{}", show(&findings[..findings.len().min(5)]))
    })?;
    // 20,000 entries, each signing for the wrong region: 20,000 findings, in line order.
    let mut bad = String::from(
        "serviceAccounts:\n  server:\n    annotations:\n      eks.amazonaws.com/role-arn: arn:aws:iam::111122223333:role/amp-ingest\nserver:\n  remoteWrite:\n",
    );
    for _ in 0..20_000 {
        bad.push_str(&format!("    - url: https://aps-workspaces.us-east-1.amazonaws.com/workspaces/{ws}/api/v1/remote_write\n      sigv4:\n        region: us-west-2\n"));
    }
    let bpath = dir.path().join("many-findings.values.yaml");
    std::fs::write(&bpath, bad).map_err(|e| e.to_string())?;
    let report = dir.path().join("r.xml");
    let (code, findings) = json_run(&[
        "--helm-values".into(),
        bpath.to_string_lossy().into_owned(),
        "--junit".into(),
        report.to_string_lossy().into_owned(),
    ])?;
    ensure(code == 1 && findings.len() == 20_000, || {
        format!("exit {code}, {} findings", findings.len())
    })?;
    let lines: Vec<u64> = findings
        .iter()
        .map(|f| f["line"].as_u64().unwrap_or(0))
        .collect();
    ensure(lines.windows(2).all(|w| w[0] < w[1]), || {
        "findings not in line order".into()
    })?;
    ensure(report.exists(), || "no JUnit report".into())
}

const SECRETS: &[&str] = &[
    "AKIAQWERTYUIOPASDFGH",
    "wJalrXUtnFEMIK7MDENGbPxRfiCYzzSECRETzz",
    "Sup3rS3cretPassw0rd",
    "hunter2-Correct-Horse",
    "eyJhbGciOiJIUzI1NiJ9",
    "tok3n-Xyzzy",
    "zzEnvSecretValue123zz",
    "json-Secret-Token-Value",
];

/// Secrets in the files appear in no output: text, JSON, JUnit, stderr.
fn secrets_never_echoed() -> Result<(), Failed> {
    let dir = tmp();
    let report = dir.path().join("r.xml");
    let base = expand(&[
        "--helm-values",
        "{F}/secrets.values.yaml",
        "--trust-policy",
        "{F}/secrets.trust.json",
    ]);
    let mut outputs = Vec::new();
    for format in ["text", "json"] {
        let mut args = base.clone();
        args.extend([
            "--format".into(),
            format.into(),
            "--junit".into(),
            report.to_string_lossy().into_owned(),
        ]);
        let out = diagnose(&args);
        no_panic(&out)?;
        ensure(out.status.code() == Some(1), || {
            format!(
                "{format}: exit {:?}\n{}",
                out.status.code(),
                text(&out.stdout)
            )
        })?;
        outputs.push((format!("{format} stdout"), text(&out.stdout)));
        outputs.push((format!("{format} stderr"), text(&out.stderr)));
        outputs.push((
            format!("junit after {format}"),
            std::fs::read_to_string(&report).map_err(|e| e.to_string())?,
        ));
    }
    // The checks did look at the secret-bearing entries.
    ensure(
        outputs[0].1.contains("D5") && outputs[0].1.contains("[REDACTED]"),
        || outputs[0].1.clone(),
    )?;
    for (what, out) in &outputs {
        for s in SECRETS {
            ensure(!out.contains(s), || {
                format!("{what} echoes the secret {s:?}:\n{out}")
            })?;
        }
    }
    Ok(())
}

/// Secrets in a Grafana data source (`secureJsonData`, also under misspelled keys whose
/// fix quotes the value) appear in no output.
fn grafana_secrets_never_echoed() -> Result<(), Failed> {
    let dir = tmp();
    let ds = dir.path().join("amp.yaml");
    std::fs::write(
        &ds,
        "apiVersion: 1\ndatasources:\n  - name: AMP\n    type: prometheus\n    url: https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-12345678-abcd-ef01-2345-6789abcdef01/\n    basicAuthPassword: hunter2-Correct-Horse\n    jsonData:\n      sigV4Auth: true\n      sigV4AuthType: keys\n      sigV4Region: us-east-1\n    secureJsonData:\n      sigv4AccessKey: AKIAQWERTYUIOPASDFGH\n      secretKey: wJalrXUtnFEMIK7MDENGbPxRfiCYzzSECRETzz\n",
    )
    .map_err(|e| e.to_string())?;
    let report = dir.path().join("r.xml");
    for format in ["text", "json"] {
        let out = diagnose(&[
            "--grafana-datasource".into(),
            ds.to_string_lossy().into_owned(),
            "--format".into(),
            format.into(),
            "--junit".into(),
            report.to_string_lossy().into_owned(),
        ]);
        no_panic(&out)?;
        let stdout = text(&out.stdout);
        // The checks looked at the keys: two misspelled or aws-sdk names, one misplaced key.
        ensure(
            out.status.code() == Some(1)
                && stdout.contains("sigV4AccessKey")
                && stdout.contains("sigV4SecretKey")
                // D5's fix for a data source: a role, not an IRSA annotation.
                && stdout.contains("the workspace's IAM role (`sigV4AuthType: ec2_iam_role`)"),
            || format!("{format}: exit {:?}\n{stdout}", out.status.code()),
        )?;
        let junit = std::fs::read_to_string(&report).map_err(|e| e.to_string())?;
        for (what, out) in [
            ("stdout", &stdout),
            ("stderr", &text(&out.stderr)),
            ("junit", &junit),
        ] {
            for secret in SECRETS {
                ensure(!out.contains(secret), || {
                    format!("{format} {what} echoes the secret {secret:?}:\n{out}")
                })?;
            }
        }
    }
    Ok(())
}

/// The JUnit report validates against the XSD, has one suite with a testcase per check,
/// and a failure for each check with an error finding.
fn junit_report() -> Result<(), Failed> {
    let dir = tmp();
    let report = dir.path().join("diagnose.xml");
    let mut args = expand(&[
        "--helm-values",
        "{F}/L1-fail.values.yaml",
        "--trust-policy",
        "{F}/L3-fail.trust.json",
        "--namespace",
        "prometheus",
        "--collector-config",
        "{F}/D7-fail.otel.yaml",
    ]);
    args.extend(["--junit".into(), report.to_string_lossy().into_owned()]);
    let out = diagnose(&args);
    ensure(out.status.code() == Some(1), || text(&out.stdout))?;
    ensure(
        text(&out.stdout).contains(&format!("junit report: {}", report.display())),
        || text(&out.stdout),
    )?;
    validate_xsd(&report)?;
    let xml = std::fs::read_to_string(&report).map_err(|e| e.to_string())?;
    let doc = roxmltree::Document::parse(&xml).map_err(|e| e.to_string())?;
    let suites: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testsuite"))
        .collect();
    ensure(suites.len() == 1, || format!("{} suites", suites.len()))?;
    let suite = suites[0];
    ensure(suite.attribute("name") == Some("diagnose@files"), || {
        format!("suite {:?}", suite.attribute("name"))
    })?;
    let cases: Vec<_> = suite
        .children()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    let names: Vec<&str> = cases.iter().filter_map(|c| c.attribute("name")).collect();
    ensure(
        names
            == [
                "L1", "L2", "L3", "L4", "L5", "L6", "L7", "L8", "D1", "D2", "D3", "D4", "D5", "D6",
                "D7", "D8", "D9", "D10", "D20", "D21", "D22", "D23", "D24", "D25",
            ],
        || format!("{names:?}"),
    )?;
    let failed: Vec<&str> = cases
        .iter()
        .filter(|c| c.children().any(|n| n.has_tag_name("failure")))
        .filter_map(|c| c.attribute("name"))
        .collect();
    ensure(failed == ["L1", "L3"], || format!("failed: {failed:?}"))?;
    let l1 = cases[0]
        .children()
        .find(|n| n.has_tag_name("failure"))
        .unwrap();
    ensure(
        l1.attribute("message")
            .is_some_and(|m| m.contains("L1-fail.values.yaml:6")),
        || format!("{:?}", l1.attribute("message")),
    )?;
    ensure(
        l1.text()
            .is_some_and(|t| t.contains("hint: put the annotation under")),
        || format!("{:?}", l1.text()),
    )?;
    let root_cause = suite
        .descendants()
        .find(|n| n.has_tag_name("property") && n.attribute("name") == Some("root_cause"))
        .and_then(|n| n.attribute("value"));
    ensure(root_cause == Some("L1,L3"), || format!("{root_cause:?}"))?;
    // D7 is a warning: it passes with the warning in system-out.
    let d7 = cases
        .iter()
        .find(|c| c.attribute("name") == Some("D7"))
        .unwrap();
    ensure(
        d7.children().any(|n| {
            n.has_tag_name("system-out") && n.text().is_some_and(|t| t.starts_with("warning: "))
        }),
        || "D7 has no warning in system-out".into(),
    )?;
    // A clean run validates too.
    let mut args = expand(&["--helm-values", "{F}/L1-pass.values.yaml"]);
    args.extend(["--junit".into(), report.to_string_lossy().into_owned()]);
    let out = diagnose(&args);
    ensure(out.status.code() == Some(0), || text(&out.stdout))?;
    validate_xsd(&report)
}

/// Colors only on a terminal: with NO_COLOR unset but stdout a pipe, none either.
fn no_color_on_a_pipe() -> Result<(), Failed> {
    let out = Command::new(bin())
        .arg("diagnose")
        .args(expand(&["--helm-values", "{F}/L1-fail.values.yaml"]))
        .env_remove("NO_COLOR")
        .output()
        .map_err(|e| e.to_string())?;
    ensure(!text(&out.stdout).contains('\x1b'), || text(&out.stdout))
}

fn main() {
    let args = Arguments::from_args();
    let mut trials = Vec::new();
    for case in FAILS {
        trials.push(Trial::test(
            format!("finding::{}::fails", case.name),
            move || fails(case),
        ));
    }
    for case in PASSES {
        trials.push(Trial::test(
            format!("finding::{}::corrected_passes", case.name),
            move || passes(case),
        ));
    }
    trials.extend([
        Trial::test(
            "done_when::misindented_role_arn_and_other_namespace",
            misindented_and_other_namespace,
        ),
        Trial::test("done_when::whole_pipeline_passes", whole_pipeline_passes),
        Trial::test("empty_files", empty_files),
        Trial::test("huge_files", huge_files),
        Trial::test("secrets::never_echoed", secrets_never_echoed),
        Trial::test(
            "secrets::grafana_never_echoed",
            grafana_secrets_never_echoed,
        ),
        Trial::test("junit::validates_and_has_a_case_per_check", junit_report),
        Trial::test("text::no_color_on_a_pipe", no_color_on_a_pipe),
    ]);
    let bad: Vec<(&str, Vec<String>, &'static str)> = vec![
        (
            "malformed_yaml",
            vec!["--helm-values".into(), "{F}/malformed.yaml".into()],
            "malformed.yaml as YAML at line 3, column 44: mapping values are not allowed",
        ),
        (
            "malformed_json",
            vec!["--trust-policy".into(), "{F}/malformed.json".into()],
            "malformed.json as JSON at line 7, column 5: trailing comma",
        ),
        (
            "empty_json",
            vec!["--permission-policy".into(), "{F}/empty.json".into()],
            "empty.json as JSON at line 1, column 0: EOF while parsing a value",
        ),
        (
            "malformed_collector_config",
            vec!["--collector-config".into(), "{F}/malformed.yaml".into()],
            "as YAML at line 3, column 44",
        ),
        (
            "missing_file",
            vec!["--helm-values".into(), "{dir}/missing.yaml".into()],
            "failed to read",
        ),
        (
            "directory",
            vec!["--trust-policy".into(), "{dir}".into()],
            "failed to read",
        ),
        (
            "not_utf8",
            vec!["--helm-values".into(), "{dir}/latin1.yaml".into()],
            "not UTF-8 at line 2, column 19",
        ),
        (
            "crd_not_the_prometheus_crd",
            vec![
                "--helm-values".into(),
                "{F}/L7-fail.values.yaml".into(),
                "--crd".into(),
                "{F}/L7-fail.values.yaml".into(),
            ],
            "L7-fail.values.yaml as the Prometheus CRD: it holds no Kubernetes object (no `kind`), not the CustomResourceDefinition prometheuses.monitoring.coreos.com",
        ),
        (
            "crd_malformed",
            vec![
                "--helm-values".into(),
                "{F}/L7-fail.values.yaml".into(),
                "--crd".into(),
                "{F}/malformed.yaml".into(),
            ],
            "malformed.yaml as YAML at line 3, column 44",
        ),
        (
            "crd_without_values",
            vec!["--crd".into(), "{F}/L7-old.crd.yaml".into()],
            "--helm-values",
        ),
        (
            "collector_image_not_a_reference",
            vec![
                "--collector-config".into(),
                "{F}/L4-pass.otel.yaml".into(),
                "--collector-image".into(),
                "aws-otel-collector:".into(),
            ],
            "failed to read --collector-image `aws-otel-collector:`",
        ),
        (
            "collector_image_without_config",
            vec![
                "--helm-values".into(),
                "{F}/L1-pass.values.yaml".into(),
                "--collector-image".into(),
                "v0.17.0".into(),
            ],
            "--collector-config",
        ),
        (
            "grafana_datasource_malformed_json",
            vec!["--grafana-datasource".into(), "{F}/malformed.json".into()],
            "malformed.json as JSON at line 7, column 5: trailing comma",
        ),
        (
            "grafana_datasource_malformed_yaml",
            vec!["--grafana-datasource".into(), "{F}/malformed.yaml".into()],
            "malformed.yaml as YAML at line 3, column 44",
        ),
        (
            "crd_missing",
            vec![
                "--helm-values".into(),
                "{F}/L7-fail.values.yaml".into(),
                "--crd".into(),
                "{dir}/missing.crd.yaml".into(),
            ],
            "failed to read",
        ),
        (
            "grafana_datasource_missing",
            vec!["--grafana-datasource".into(), "{dir}/missing.json".into()],
            "failed to read",
        ),
        ("no_files", vec![], "--helm-values"),
        (
            "unwritable_report",
            vec![
                "--helm-values".into(),
                "{F}/L1-pass.values.yaml".into(),
                "--junit".into(),
                "{dir}/no/such/dir/r.xml".into(),
            ],
            "JUnit",
        ),
        (
            "bad_format",
            vec![
                "--helm-values".into(),
                "{F}/L1-pass.values.yaml".into(),
                "--format".into(),
                "xml".into(),
            ],
            "xml",
        ),
    ];
    for (name, args, words) in bad {
        trials.push(Trial::test(format!("bad_input::{name}"), move || {
            if name == "not_utf8" {
                // Written by the trial: Latin-1 bytes, on line 2 after "region: ".
                let dir_arg = args[1].clone();
                return with_latin1(dir_arg, words);
            }
            bad_input(args.clone(), words)
        }));
    }
    libtest_mimic::run(&args, trials).exit();
}

/// The not-UTF-8 trial needs its file inside the trial's own temp dir.
fn with_latin1(_arg: String, words: &'static str) -> Result<(), Failed> {
    let dir = tmp();
    let p = dir.path().join("latin1.yaml");
    std::fs::write(&p, b"sigv4:\n  region: us-east-\xe9\n").map_err(|e| e.to_string())?;
    bad_input(
        vec!["--helm-values".into(), p.to_string_lossy().into_owned()],
        words,
    )
}
