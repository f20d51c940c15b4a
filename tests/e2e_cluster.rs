//! End-to-end trials of the cluster scenarios (`eks-adot`, `eks-prometheus`): the real
//! `pipecheck` binary against the mock stack's EKS, IAM, STS and Kubernetes API. Each
//! fault trial asserts the exit code, the single root cause, the verdict's key words, the
//! evidence a person would otherwise dig out with kubectl and the AWS console, and that
//! every link depending on the root cause is blocked. Also: F11 and F12 together (the
//! first to break is reported; with it fixed the second shows), `--target aws` without
//! credentials or kubeconfig (exit 2, one line), and a read-only `--target aws` run against
//! the mock's exports.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use libtest_mimic::{Failed, Trial};

use super::{Suite, bin, ensure, pipecheck, read_junit, text, tmp, validate_xsd};

/// The ADOT chain in report order; a link with two dependencies has a row for each.
pub const DEPENDS_EKS_ADOT: &[(&str, &str)] = &[
    ("amp.workspace", "aws.identity"),
    ("eks.cluster", "aws.identity"),
    ("iam.oidc_provider", "eks.cluster"),
    ("k8s.api", "eks.cluster"),
    ("k8s.namespace", "k8s.api"),
    ("k8s.service_account", "k8s.namespace"),
    ("iam.role_trust", "k8s.service_account"),
    ("iam.role_trust", "iam.oidc_provider"),
    ("iam.role_permissions", "iam.role_trust"),
    ("iam.role_permissions", "amp.workspace"),
    ("eks.addon", "k8s.api"),
    ("k8s.cert_manager", "eks.addon"),
    ("collector.config", "k8s.api"),
    ("collector.config", "amp.workspace"),
    ("collector.running", "collector.config"),
    ("collector.running", "iam.role_permissions"),
    ("amp.remote_write", "amp.workspace"),
    ("amp.query", "amp.remote_write"),
];

/// The Prometheus chart's chain: no ADOT add-on, no cert-manager.
pub const DEPENDS_EKS_PROMETHEUS: &[(&str, &str)] = &[
    ("amp.workspace", "aws.identity"),
    ("eks.cluster", "aws.identity"),
    ("iam.oidc_provider", "eks.cluster"),
    ("k8s.api", "eks.cluster"),
    ("k8s.namespace", "k8s.api"),
    ("k8s.service_account", "k8s.namespace"),
    ("iam.role_trust", "k8s.service_account"),
    ("iam.role_trust", "iam.oidc_provider"),
    ("iam.role_permissions", "iam.role_trust"),
    ("iam.role_permissions", "amp.workspace"),
    ("collector.config", "k8s.api"),
    ("collector.config", "amp.workspace"),
    ("collector.running", "collector.config"),
    ("collector.running", "iam.role_permissions"),
    ("amp.remote_write", "amp.workspace"),
    ("amp.query", "amp.remote_write"),
];

/// A cluster fault: scenario, fault, link, fails (else warns), verdict key words,
/// evidence key words (in the failure's or warning's text).
type Row = (
    &'static str,
    &'static str,
    &'static str,
    bool,
    &'static [&'static str],
    &'static [&'static str],
);

const FAULTS: &[Row] = &[
    (
        "eks-adot",
        "sa-unannotated",
        "k8s.service_account",
        true,
        &[
            "adot-col/adot-collector",
            "has no eks.amazonaws.com/role-arn annotation",
        ],
        &[
            "annotations: (none)",
            "pod adot-collector-",
            "runs as service account adot-collector",
        ],
    ),
    (
        "eks-prometheus",
        "sa-unannotated",
        "k8s.service_account",
        true,
        &[
            "prometheus/amp-iamproxy-ingest-service-account",
            "has no eks.amazonaws.com/role-arn annotation",
        ],
        &[
            "serviceAccounts.server.annotations",
            "Deployment prometheus/prometheus-for-amp-server",
        ],
    ),
    (
        "eks-adot",
        "trust-other-namespace",
        "iam.role_trust",
        true,
        &[
            "trusts system:serviceaccount:springboot:adot-collector",
            "run as system:serviceaccount:adot-col:adot-collector",
        ],
        &[
            "\"system:serviceaccount:springboot:adot-collector\"",
            "must equal `system:serviceaccount:springboot:adot-collector` but the token says `system:serviceaccount:adot-col:adot-collector`",
            "refused: AccessDenied: Not authorized to perform sts:AssumeRoleWithWebIdentity",
        ],
    ),
    (
        "eks-prometheus",
        "trust-other-namespace",
        "iam.role_trust",
        true,
        &[
            "trusts system:serviceaccount:springboot:amp-iamproxy-ingest-service-account",
            "run as system:serviceaccount:prometheus:amp-iamproxy-ingest-service-account",
        ],
        &["refused: AccessDenied: Not authorized to perform sts:AssumeRoleWithWebIdentity"],
    ),
    (
        "eks-adot",
        "trust-other-service-account",
        "iam.role_trust",
        true,
        &[
            "trusts system:serviceaccount:adot-col:otel-collector",
            "run as system:serviceaccount:adot-col:adot-collector",
        ],
        &["refused: AccessDenied"],
    ),
    (
        "eks-adot",
        "oidc-provider-missing",
        "iam.oidc_provider",
        true,
        &[
            "no IAM OIDC provider for cluster pipecheck's issuer oidc.eks.us-east-1.amazonaws.com/id/",
        ],
        &[
            "eksctl utils associate-iam-oidc-provider",
            "InvalidIdentityToken",
            "no providers",
        ],
    ),
    (
        "eks-adot",
        "role-no-policies",
        "iam.role_permissions",
        true,
        &[
            "role pipecheck-adot-collector has no permission policy",
            "aps:RemoteWrite",
        ],
        &[
            "no policies attached or inline",
            "-> 403",
            "not authorized to perform",
        ],
    ),
    (
        "eks-prometheus",
        "role-no-policies",
        "iam.role_permissions",
        true,
        &["role amp-iamproxy-ingest-role has no permission policy"],
        &["no policies attached or inline", "-> 403"],
    ),
    (
        "eks-adot",
        "collector-crash-loop",
        "collector.running",
        true,
        &[
            "is CrashLoopBackOff after 6 restarts",
            "unknown type: \"awsprometheusremotewrite\"",
        ],
        &[
            "last terminated with exit 1 (Error)",
            "last log lines (previous instance)",
            "BackOff",
        ],
    ),
    (
        "eks-prometheus",
        "collector-crash-loop",
        "collector.running",
        true,
        &[
            "is CrashLoopBackOff after 6 restarts",
            "could not get SigV4 credentials",
        ],
        &["container prometheus-server: ready false, 6 restarts"],
    ),
    (
        "eks-adot",
        "adot-addon-missing",
        "eks.addon",
        true,
        &["the adot add-on is not installed on cluster pipecheck"],
        &["eks:ListAddons", "coredns"],
    ),
    (
        "eks-adot",
        "adot-addon-degraded",
        "eks.addon",
        true,
        &["is DEGRADED, not ACTIVE", "InsufficientNumberOfReplicas"],
        &["health issues: InsufficientNumberOfReplicas"],
    ),
    (
        "eks-adot",
        "adot-addon-create-failed",
        "eks.addon",
        true,
        &["is CREATE_FAILED, not ACTIVE"],
        &["ConfigurationConflict"],
    ),
    (
        "eks-adot",
        "adot-addon-unsupported",
        "eks.addon",
        true,
        &["v0.109.0-eksbuild.2 does not support Kubernetes 1.33"],
        &[
            "adot versions supporting Kubernetes 1.33: v0.131.0-eksbuild.1, v0.117.0-eksbuild.1",
            "--addon-version v0.131.0-eksbuild.1",
        ],
    ),
    (
        "eks-adot",
        "cert-manager-missing",
        "k8s.cert_manager",
        true,
        &["cert-manager is not installed"],
        &["no cert-manager deployments in namespace cert-manager"],
    ),
    (
        "eks-adot",
        "cert-manager-not-ready",
        "k8s.cert_manager",
        true,
        &["cert-manager is not ready: cert-manager-webhook (0/1 ready)"],
        &["deployment cert-manager/cert-manager-webhook: 0/1 ready, Available False"],
    ),
    (
        "eks-adot",
        "irsa-sa-unused",
        "k8s.service_account",
        true,
        &[
            "has no eks.amazonaws.com/role-arn annotation",
            "adot-col/adot-collector-irsa",
            "no pod runs as it",
        ],
        &[
            "annotated service accounts no pod uses",
            "spec.serviceAccount",
        ],
    ),
    (
        "eks-adot",
        "irsa-sa-extra",
        "k8s.service_account",
        false,
        &["adot-col/adot-collector-irsa", "no pod runs as it"],
        &[],
    ),
    (
        "eks-adot",
        "pods-predate-annotation",
        "k8s.service_account",
        true,
        &["were started before it was set"],
        &[
            "AWS_ROLE_ARN not set",
            "kubectl rollout restart -n adot-col deployment/adot-collector",
        ],
    ),
    // A harness-side fault lands where it does in a direct run.
    (
        "eks-adot",
        "remote-write-denied",
        "amp.remote_write",
        true,
        &["aps:RemoteWrite"],
        &[],
    ),
];

fn chain(scenario: &str) -> &'static [(&'static str, &'static str)] {
    if scenario == "eks-prometheus" {
        DEPENDS_EKS_PROMETHEUS
    } else {
        DEPENDS_EKS_ADOT
    }
}

/// Runs `scenario` with `faults`; returns the exit code, stdout and the one suite.
fn run(scenario: &str, faults: &[&str]) -> Result<(Option<i32>, String, Suite), Failed> {
    let dir = tmp();
    let report = dir.path().join("r.xml");
    let mut args = vec!["run", "--scenario", scenario];
    for f in faults {
        args.extend(["--fault", f]);
    }
    args.extend(["--junit", report.to_str().unwrap()]);
    let out = pipecheck(&args);
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    ensure(
        !stdout.contains("panicked") && !stderr.contains("panicked"),
        || format!("a panic was printed:\n{stdout}\n{stderr}"),
    )?;
    if !report.exists() {
        return Err(format!(
            "no report: exit {:?}\n{stdout}\n{stderr}",
            out.status.code()
        )
        .into());
    }
    validate_xsd(&report)?;
    let mut suites = read_junit(&report)?;
    ensure(
        suites.len() == 1 && suites[0].name == format!("{scenario}@mock"),
        || format!("suites: {suites:?}"),
    )?;
    Ok((out.status.code(), stdout, suites.remove(0)))
}

/// The run fails on exactly `link`, with these verdict and evidence words, and every
/// link after it in the chain is blocked by it.
fn fails_on(
    scenario: &str,
    code: Option<i32>,
    stdout: &str,
    suite: &Suite,
    link: &str,
    verdict: &[&str],
    evidence: &[&str],
) -> Result<(), Failed> {
    ensure(code == Some(1), || {
        format!("exit {code:?}, expected 1\n{stdout}")
    })?;
    let root = suite
        .properties
        .get("root_cause")
        .cloned()
        .unwrap_or_default();
    ensure(root == link, || {
        format!("root_cause {root:?}, expected exactly {link:?}\n{stdout}")
    })?;
    let case = |l: &str| suite.cases.iter().find(|(n, _)| n == l).map(|(_, c)| c);
    let c = case(link).ok_or_else(|| format!("no testcase {link}"))?;
    ensure(c.outcome == "fail", || format!("{link} is {}", c.outcome))?;
    for w in verdict {
        ensure(c.message.contains(w), || {
            format!("verdict {:?} lacks {w:?}", c.message)
        })?;
    }
    ensure(c.body.contains("hint:"), || {
        format!("no hint: {:?}", c.body)
    })?;
    for w in evidence {
        ensure(c.body.contains(w), || {
            format!("evidence of {link} lacks {w:?}:\n{}", c.body)
        })?;
    }
    let dependents = dependents_in(chain(scenario), link);
    for d in &dependents {
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
    // Everything neither failed nor blocked passed.
    for (n, c) in &suite.cases {
        if n != link && !dependents.contains(&n.as_str()) {
            ensure(c.outcome == "pass", || {
                format!("{n} is {}: {c:?}", c.outcome)
            })?;
        }
    }
    ensure(stdout.contains(&format!("root cause: {link}")), || {
        format!("console does not name the root cause:\n{stdout}")
    })
}

fn dependents_in(chain: &[(&'static str, &'static str)], link: &str) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    let mut frontier = vec![link.to_string()];
    while let Some(l) = frontier.pop() {
        for (child, parent) in chain {
            if *parent == l && !out.contains(child) {
                out.push(child);
                frontier.push(child.to_string());
            }
        }
    }
    out
}

fn fault_trial(row: &Row) -> Result<(), Failed> {
    let &(scenario, fault, link, fails, verdict, evidence) = row;
    let (code, stdout, suite) = run(scenario, &[fault])?;
    if fails {
        return fails_on(scenario, code, &stdout, &suite, link, verdict, evidence);
    }
    ensure(code == Some(0), || {
        format!("exit {code:?}, expected 0\n{stdout}")
    })?;
    let root = suite
        .properties
        .get("root_cause")
        .cloned()
        .unwrap_or_default();
    ensure(root.is_empty(), || {
        format!("root_cause {root:?}, expected none")
    })?;
    let c = suite
        .cases
        .iter()
        .find(|(n, _)| n == link)
        .map(|(_, c)| c)
        .ok_or_else(|| format!("no testcase {link}"))?;
    for w in verdict.iter().chain(evidence) {
        ensure(c.outcome == "pass" && c.body.contains(w), || {
            format!("{link}: {c:?}, expected a passing warning with {w:?}")
        })?;
    }
    ensure(suite.cases.iter().all(|(_, c)| c.outcome == "pass"), || {
        format!("{:?}", suite.cases)
    })
}

/// A healthy cluster scenario: every link passes, in the chain's order, the IRSA chain
/// proven with STS and a write signed as the role, and no canary-observation links.
fn scenario_passes(scenario: &'static str) -> Result<(), Failed> {
    let (code, stdout, suite) = run(scenario, &[])?;
    ensure(code == Some(0), || format!("exit {code:?}\n{stdout}"))?;
    let mut want: Vec<&str> = vec!["aws.identity"];
    for (child, _) in chain(scenario) {
        if !want.contains(child) {
            want.push(child);
        }
    }
    let names: Vec<&str> = suite.cases.iter().map(|(n, _)| n.as_str()).collect();
    ensure(names == want, || {
        format!("links {names:?}, expected {want:?}")
    })?;
    ensure(suite.cases.iter().all(|(_, c)| c.outcome == "pass"), || {
        format!("{:?}", suite.cases)
    })?;
    ensure(
        stdout.contains("STS AssumeRoleWithWebIdentity with its token succeeds")
            && stdout.contains("a write signed as the role is accepted"),
        || stdout.clone(),
    )?;
    ensure(suite.properties.contains_key("arrival_latency_ms"), || {
        "no arrival latency recorded".into()
    })
}

/// F11 and F12 together, as in the workshop: the service account is unannotated and the
/// trust policy names another namespace. The run names the first to break
/// (k8s.service_account) with iam.role_trust blocked behind it; with F11 fixed the same
/// cluster shows F12 on iam.role_trust.
fn f11_and_f12() -> Result<(), Failed> {
    let (code, stdout, suite) = run("eks-adot", &["sa-unannotated", "trust-other-namespace"])?;
    fails_on(
        "eks-adot",
        code,
        &stdout,
        &suite,
        "k8s.service_account",
        &["has no eks.amazonaws.com/role-arn annotation"],
        &[],
    )?;
    ensure(
        suite.properties.get("faults").is_some_and(|f| {
            f.contains("F11:sa-unannotated") && f.contains("F12:trust-other-namespace")
        }),
        || format!("{:?}", suite.properties),
    )?;
    let (code, stdout, suite) = run("eks-adot", &["trust-other-namespace"])?;
    fails_on(
        "eks-adot",
        code,
        &stdout,
        &suite,
        "iam.role_trust",
        &[
            "trusts system:serviceaccount:springboot:adot-collector",
            "run as system:serviceaccount:adot-col:adot-collector",
        ],
        &["refused: AccessDenied"],
    )
}

/// Faults refused before anything runs: a cluster fault on a scenario without a cluster,
/// and an ADOT fault on the Prometheus scenario, which does not check the add-on.
fn fault_not_checked(args: &[&str], words: &str) -> Result<(), Failed> {
    let dir = tmp();
    let report = dir.path().join("r.xml");
    let mut full = args.to_vec();
    full.extend(["--junit", report.to_str().unwrap()]);
    let out = pipecheck(&full);
    let stderr = text(&out.stderr);
    ensure(out.status.code() == Some(2), || {
        format!("exit {:?}: {stderr}", out.status.code())
    })?;
    ensure(
        stderr.contains(words) && stderr.trim_end().lines().count() == 1,
        || stderr.clone(),
    )?;
    ensure(!report.exists(), || "a report was written".into())
}

/// `--target aws` for a cluster scenario: exit 2 with one clear line, before anything
/// runs, when there are no credentials; and when there are credentials but no kubeconfig.
fn aws_cluster_cannot_start(with_credentials: bool, words: &str) -> Result<(), Failed> {
    let dir = tmp();
    let report = dir.path().join("r.xml");
    let mut cmd = Command::new(bin());
    cmd.args([
        "run",
        "--target",
        "aws",
        "--scenario",
        "eks-adot",
        "--junit",
    ])
    .arg(&report)
    .env_clear()
    .env("PATH", std::env::var_os("PATH").unwrap_or_default())
    .env("HOME", dir.path())
    .env("AWS_REGION", "us-east-1")
    .env("AWS_EC2_METADATA_DISABLED", "true");
    if with_credentials {
        cmd.env("AWS_ACCESS_KEY_ID", "AKIAPIPECHECKEXAMPLE")
            .env("AWS_SECRET_ACCESS_KEY", "not-a-real-secret");
    }
    let out = cmd.output().map_err(|e| e.to_string())?;
    let stderr = text(&out.stderr);
    ensure(out.status.code() == Some(2), || {
        format!("exit {:?}: {stderr}", out.status.code())
    })?;
    ensure(
        stderr.starts_with(words) && stderr.trim_end().lines().count() == 1,
        || stderr.clone(),
    )?;
    ensure(!report.exists(), || "a report was written".into())
}

/// The read-only `--target aws` path against the mock's exports (endpoints, credentials,
/// KUBECONFIG, PIPECHECK_CLUSTER), exactly as a user would point it at an account: the
/// cluster scenario passes, requests no service account token (so STS is not asked and
/// no write is signed as the role), and says so in the evidence.
fn aws_cluster_read_only_against_the_mock() -> Result<(), Failed> {
    let mut child = Command::new(bin())
        .args(["mock"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("spawn: {e}"))?;
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !env.contains_key("PIPECHECK_CLUSTER") && Instant::now() < deadline {
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
            "AWS_ENDPOINT_URL_EKS",
            "AWS_ENDPOINT_URL_IAM",
            "KUBECONFIG",
            "PIPECHECK_CLUSTER",
        ] {
            ensure(env.contains_key(k), || {
                format!("missing export {k}: {:?}", env.keys())
            })?;
        }
        let dir = tmp();
        let report = dir.path().join("r.xml");
        let out = Command::new(bin())
            .args([
                "run",
                "--target",
                "aws",
                "--scenario",
                "eks-adot",
                "--junit",
            ])
            .arg(&report)
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
        let suites = read_junit(&report)?;
        let s = &suites[0];
        ensure(s.name == "eks-adot@aws", || s.name.clone())?;
        ensure(s.cases.iter().all(|(_, c)| c.outcome == "pass"), || {
            format!("{:?}", s.cases)
        })?;
        ensure(
            !so.contains("STS AssumeRoleWithWebIdentity")
                && !so.contains("a write signed as the role"),
            || format!("a read-only run asked STS or wrote as the role:\n{so}"),
        )?;
        let xml = std::fs::read_to_string(&report).map_err(|e| e.to_string())?;
        ensure(
            xml.contains("not attempted: a read-only run requests no service account tokens"),
            || "iam.role_trust does not say why STS was not asked".into(),
        )
    })();
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let stop = Instant::now() + Duration::from_secs(10);
    while child.try_wait().ok().flatten().is_none() && Instant::now() < stop {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    result
}

/// `pipecheck faults` and `pipecheck scenarios` list the cluster side.
fn listed() -> Result<(), Failed> {
    let out = pipecheck(&["faults"]);
    let s = text(&out.stdout);
    for id in ["F11", "F12", "F13", "F14", "F18", "F19", "F20", "F26"] {
        ensure(s.contains(id), || {
            format!("`pipecheck faults` lacks {id}:\n{s}")
        })?;
    }
    ensure(s.contains("k8s.service_account (cluster)"), || s.clone())?;
    let out = pipecheck(&["scenarios"]);
    let s = text(&out.stdout);
    ensure(
        s.contains("eks-adot") && s.contains("eks-prometheus"),
        || s.clone(),
    )
}

pub fn trials() -> Vec<Trial> {
    let mut t = vec![
        Trial::test("scenario::eks-adot", || scenario_passes("eks-adot")),
        Trial::test("scenario::eks-prometheus", || {
            scenario_passes("eks-prometheus")
        }),
        Trial::test("fault::eks-adot::F11+F12", f11_and_f12),
        Trial::test("cli::cluster_listed", listed),
        Trial::test("bad_input::cluster_fault_on_smoke", || {
            fault_not_checked(
                &["run", "--scenario", "smoke", "--fault", "sa-unannotated"],
                "does not apply to scenario smoke",
            )
        }),
        Trial::test("bad_input::adot_fault_on_eks_prometheus", || {
            fault_not_checked(
                &[
                    "run",
                    "--scenario",
                    "eks-prometheus",
                    "--fault",
                    "adot-addon-missing",
                ],
                "lands on eks.addon, which scenario eks-prometheus does not check",
            )
        }),
        Trial::test("bad_input::aws_cluster_without_credentials", || {
            aws_cluster_cannot_start(false, "pipecheck: no AWS credentials for --target aws")
        }),
        Trial::test("bad_input::aws_cluster_without_kubeconfig", || {
            aws_cluster_cannot_start(true, "pipecheck: no usable kubeconfig for --target aws")
        }),
        Trial::test(
            "cli::aws_cluster_read_only_against_the_mock",
            aws_cluster_read_only_against_the_mock,
        ),
    ];
    for row in FAULTS {
        t.push(Trial::test(
            format!("fault::{}::{}", row.0, row.1),
            move || fault_trial(row),
        ));
    }
    t
}
