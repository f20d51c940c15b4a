//! End-to-end trials of the AMP managed collector (`eks-amp-scraper`): the real
//! `pipecheck` binary against the mock stack, where mock AMP runs the scraper (it writes
//! the canary pod's `up` into its workspace when the cluster lets it in). The healthy run
//! passes with the series read back; each fault F40-F44 is the only root cause, on its
//! link, with its verdict's and evidence's key words, every dependent blocked and
//! everything else passing. Also: the in-cluster collectors' faults are refused on this
//! scenario, and this scenario's on theirs.

use std::process::Stdio;

use libtest_mimic::{Failed, Trial};

use crate::support::{
    self, Depends, Mock, Report, chain_passes, dependents_in, ensure, exits_2_saying, pipecheck,
    read_junit, run, text,
};

/// The scraper's chain in report order; a link with two dependencies has a row for each.
pub const DEPENDS_SCRAPER: &[Depends] = &[
    ("amp.workspace", "aws.identity"),
    ("eks.cluster", "aws.identity"),
    ("k8s.api", "eks.cluster"),
    ("amp.scraper", "amp.workspace"),
    ("amp.scraper", "eks.cluster"),
    ("eks.scraper_access", "amp.scraper"),
    ("eks.scraper_access", "k8s.api"),
    ("k8s.scraper_rbac", "eks.scraper_access"),
    ("scraper.config", "amp.scraper"),
    ("scraper.delivery", "amp.workspace"),
    ("scraper.delivery", "k8s.scraper_rbac"),
    ("scraper.delivery", "scraper.config"),
];

/// A scraper fault: fault, link, verdict key words, evidence key words.
type Row = (
    &'static str,
    &'static str,
    &'static [&'static str],
    &'static [&'static str],
);

const FAULTS: &[Row] = &[
    (
        "scraper-creation-failed",
        "amp.scraper",
        &[
            "scraper pipecheck is CREATION_FAILED",
            "Insufficient IP address space in subnet subnet-0a1b2c3d4e5f60002",
        ],
        &[
            "status CREATION_FAILED",
            "AWSServiceRoleForAmazonPrometheusScraper_",
            "subnets subnet-0a1b2c3d4e5f60001, subnet-0a1b2c3d4e5f60002",
        ],
    ),
    (
        "scraper-no-access-entry",
        "eks.scraper_access",
        &["has no EKS access entry on cluster pipecheck and no aws-auth mapping"],
        &[
            "eksctl create iamidentitymapping --cluster pipecheck --arn arn:aws:iam::111122223333:role/AWSServiceRoleForAmazonPrometheusScraper_",
            "access entries",
            "(no aws-auth ConfigMap)",
        ],
    ),
    (
        "scraper-rbac-missing",
        "k8s.scraper_rbac",
        &["no ClusterRoleBinding grants the scraper's Kubernetes user aps-collector-user"],
        &["ClusterRole aps-collector-role", "User aps-collector-user"],
    ),
    (
        "scraper-config-no-canary-job",
        "scraper.config",
        &["has no job pipecheck-canary", "jobs: pod_exporter"],
        &[
            "scrape_interval 30s",
            "pod_exporter: kubernetes_sd pod in every namespace",
            "namespaces.names [pipecheck-canary]",
        ],
    ),
    (
        "scraper-other-workspace",
        "amp.scraper",
        &[
            "writes to workspace arn:aws:aps:us-east-1:111122223333:workspace/ws-0f44f44f-0000-4000-8000-00000000f44f",
            "not to the run's workspace",
        ],
        &["update-scraper", "destination arn:aws:aps:"],
    ),
    (
        "scraper-endpoint-public-only",
        "amp.scraper",
        &["cluster pipecheck has no private endpoint access"],
        &[
            "endpointPrivateAccess false",
            "endpointPrivateAccess=true",
            "status ACTIVE",
        ],
    ),
];

fn fault_trial(row: &Row) -> Result<(), Failed> {
    let &(fault, link, verdict, evidence) = row;
    let ran = run("eks-amp-scraper", &[fault])?;
    support::fails_on(&ran, DEPENDS_SCRAPER, link, verdict, evidence)?;
    let dependents = dependents_in(DEPENDS_SCRAPER, link);
    for (n, c) in &ran.suite.cases {
        if n != link && !dependents.contains(&n.as_str()) {
            ensure(c.outcome == "pass", || {
                format!("{n} is {}: {c:?}", c.outcome)
            })?;
        }
    }
    Ok(())
}

/// The healthy scraper: every link passes, the access entry and RBAC found, the canary's
/// `up` read back from the workspace.
fn scenario_passes() -> Result<(), Failed> {
    let ran = run("eks-amp-scraper", &[])?;
    chain_passes(&ran, DEPENDS_SCRAPER)?;
    for words in [
        "scraper pipecheck is ACTIVE",
        "has an EKS access entry on cluster pipecheck (Kubernetes user aps-collector-user)",
        "what the AMP user guide asks for",
        "pipecheck-canary among them",
        "the scraper writes the canary: 1 target(s) of job pipecheck-canary up",
    ] {
        ensure(ran.stdout.contains(words), || {
            format!("no {words:?} in:\n{}", ran.stdout)
        })?;
    }
    Ok(())
}

/// A fault of another shape is refused before running (exit 2), naming it.
fn refused(scenario: &str, fault: &str) -> Result<(), Failed> {
    let out = pipecheck(&["run", "--scenario", scenario, "--fault", fault]);
    let err = text(&out.stderr);
    ensure(out.status.code() == Some(2) && err.contains(fault), || {
        format!("exit {:?}: {err}", out.status.code())
    })
}

/// `pipecheck mock --fault F40` serves the scraper's shape (the faults pick the shape the
/// standalone mock runs), and a `--target aws` run pointed at it by its exports finds the
/// scraper CREATION_FAILED, the only root cause.
fn standalone_mock_serves_the_scraper_fault() -> Result<(), Failed> {
    let mock = Mock::start_with(
        &["--fault", "F40"],
        Stdio::null(),
        &["AWS_ENDPOINT_URL_AMP", "KUBECONFIG", "PIPECHECK_CLUSTER"],
    )?;
    let result: Result<(), Failed> = (|| {
        let report = Report::new();
        let out = mock.run_aws(&["--scenario", "eks-amp-scraper"], &report.path, |_| {})?;
        let so = text(&out.stdout);
        ensure(out.status.code() == Some(1), || {
            format!("exit {:?}\n{so}\n{}", out.status.code(), text(&out.stderr))
        })?;
        let suites = read_junit(&report.path)?;
        let root = suites[0].root_cause();
        ensure(root == "amp.scraper", || {
            format!("root cause {root:?}\n{so}")
        })?;
        ensure(so.contains("CREATION_FAILED"), || so.clone())
    })();
    let _ = mock.stop();
    result
}

/// Faults no one shape can have at once are refused by `pipecheck mock` (exit 2).
fn standalone_mock_refuses_faults_of_two_shapes() -> Result<(), Failed> {
    let out = pipecheck(&["mock", "--fault", "F40", "--fault", "F45"]);
    exits_2_saying(&out, "no one collector shape can have all of F40").map(|_| ())
}

pub fn trials() -> Vec<Trial> {
    let mut t = vec![
        Trial::test("scenario::eks-amp-scraper", scenario_passes),
        Trial::test("bad_input::adot_fault_on_eks_amp_scraper", || {
            refused("eks-amp-scraper", "sa-unannotated")
        }),
        Trial::test("bad_input::scraper_fault_on_eks_adot", || {
            refused("eks-adot", "scraper-rbac-missing")
        }),
        Trial::test(
            "mock::standalone_scraper_fault",
            standalone_mock_serves_the_scraper_fault,
        ),
        Trial::test(
            "bad_input::mock_faults_of_two_shapes",
            standalone_mock_refuses_faults_of_two_shapes,
        ),
    ];
    for row in FAULTS {
        t.push(Trial::test(
            format!("fault::eks-amp-scraper::{}", row.0),
            move || fault_trial(row),
        ));
    }
    t
}
