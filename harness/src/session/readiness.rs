//! `pipecheck readiness`: the read-only checks of one scenario against many accounts at
//! once (a workshop host checking every attendee's account before the workshop), one
//! table row and one JUnit testsuite per account.
//!
//! Each account is a `--target aws` run of the scenario with its own [`Environment`]
//! (credentials, region, endpoints, workspace, cluster, kubeconfig and context), never the
//! process's, so accounts checked at the same time cannot leak into each other. Only the
//! links that read run: [`chain::WRITES`] (the canary write, the Grafana service account)
//! and everything depending on them are left out, so nothing is created in an account.
//! A slow account ends at its own `--timeout`; the others go on.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pipecheck_reports::{
    LinkResult, Outcome, Property, Redactor, RunReport, ScenarioReport, junit,
};
use serde::Deserialize;
use tokio::sync::{Semaphore, mpsc};

use crate::chain::{self, LinkId};
use crate::run::{Interrupt, RunError, RunOptions, ScenarioProgress, run_scenario_in};

/// How long a timed-out account's run may take to stop and remove what it made.
const UNWIND_WITHIN: Duration = Duration::from_secs(10);
use crate::scenario::{Scenario, ScenarioError, Shape};
use crate::target::{Environment, KubeSettings, TargetKind};

/// The scenario readiness checks by default: ADOT on EKS with IRSA feeding AMP, the
/// chain a workshop sets up (its read-only links: identity, workspace, cluster, OIDC,
/// service account, role trust and permissions, add-on, cert-manager, collector).
pub const DEFAULT_SCENARIO: &str = "eks-adot";

#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["profiles", "accounts"])))]
pub struct ReadinessArgs {
    /// An AWS profile to check, one account each (repeatable). Its credentials and region
    /// come from the profile, its kube context is the one named like the profile if there
    /// is one; workspace, cluster and kubeconfig come from the environment
    /// (PIPECHECK_WORKSPACE_ID, PIPECHECK_CLUSTER, KUBECONFIG), shared by all.
    #[arg(long = "profile", value_name = "P")]
    pub profiles: Vec<String>,
    /// A YAML file listing the accounts: `accounts:` entries with name, profile (or `env:`
    /// credentials and endpoints), region, workspace_id, grafana_workspace_id, cluster,
    /// kubeconfig, context.
    #[arg(long, value_name = "FILE", conflicts_with = "profiles")]
    pub accounts: Option<PathBuf>,
    /// A shipped scenario's name or a scenario file (shape direct or cluster).
    #[arg(long, value_name = "NAME|FILE", default_value = DEFAULT_SCENARIO)]
    pub scenario: String,
    /// How many accounts are checked at the same time.
    #[arg(long, value_name = "N", default_value_t = 8,
          value_parser = clap::value_parser!(u16).range(1..))]
    pub parallel: u16,
    /// How long one account may take before it is reported NOT READY (timed out).
    #[arg(long, value_name = "DURATION", default_value = "2m",
          value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    /// Where to write the JUnit report (one testsuite per account).
    #[arg(long, value_name = "PATH", default_value = "pipecheck-readiness.xml")]
    pub junit: PathBuf,
}

/// Why readiness could not start (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum ReadinessError {
    #[error("failed to read the accounts file {0}")]
    Read(PathBuf, #[source] std::io::Error),
    #[error("failed to parse the accounts file {0}")]
    Parse(PathBuf, #[source] Box<serde_saphyr::Error>),
    #[error("the accounts file {0} lists no accounts")]
    Empty(PathBuf),
    #[error("account {0:?} is listed twice")]
    Duplicate(String),
    #[error(
        "account {account:?}: `env` names {key}, which readiness does not read (it reads {})",
        env_keys().join(", ")
    )]
    UnknownEnv { account: String, key: String },
    #[error("account {account:?}: unknown AWS profile {profile:?} ({known})")]
    UnknownProfile {
        account: String,
        profile: String,
        known: String,
    },
    #[error(
        "account {0:?} has no credentials: give a profile, or env AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
    )]
    NoCredentials(String),
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    #[error(
        "scenario {0} has shape collector: it starts a collector here, which readiness does not; use a direct or cluster scenario"
    )]
    CollectorScenario(String),
    #[error(transparent)]
    Report(#[from] junit::JunitError),
    #[error("failed to start the async runtime")]
    Runtime(#[source] std::io::Error),
}

/// The variables an account's `env` may set besides each service's endpoint variable
/// (`services::SERVICES`): what `--target aws` reads, no more.
const OTHER_ENV_KEYS: &[&str] = &[
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_ENDPOINT_URL",
    "PIPECHECK_WORKSPACE_ID",
    "PIPECHECK_GRAFANA_WORKSPACE_ID",
    "PIPECHECK_CLUSTER",
    "KUBECONFIG",
];

/// The variables an account's `env` may set (an unknown name is refused rather than
/// silently ignored): the endpoint variable of every service pipecheck calls, and
/// [`OTHER_ENV_KEYS`].
pub fn env_keys() -> Vec<&'static str> {
    let mut keys = OTHER_ENV_KEYS.to_vec();
    keys.extend(crate::services::SERVICES.iter().map(|s| s.endpoint_var()));
    keys
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountsFile {
    accounts: Vec<Account>,
}

/// One account of the accounts file. The named fields win over the same settings in `env`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Account {
    pub name: String,
    pub profile: Option<String>,
    pub region: Option<String>,
    pub workspace_id: Option<String>,
    pub grafana_workspace_id: Option<String>,
    pub cluster: Option<String>,
    /// Relative paths are from the accounts file's folder.
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    /// Credentials and endpoints as environment variables ([`env_keys`]), e.g. the
    /// exports of a `pipecheck mock`.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

impl Account {
    /// The account's own environment: `env`, then the named fields over it.
    fn environment(&self) -> BTreeMap<String, String> {
        let mut vars = self.env.clone();
        let fields = [
            ("AWS_PROFILE", self.profile.clone()),
            ("AWS_REGION", self.region.clone()),
            ("PIPECHECK_WORKSPACE_ID", self.workspace_id.clone()),
            (
                "PIPECHECK_GRAFANA_WORKSPACE_ID",
                self.grafana_workspace_id.clone(),
            ),
            ("PIPECHECK_CLUSTER", self.cluster.clone()),
            (
                "KUBECONFIG",
                self.kubeconfig.as_ref().map(|p| p.display().to_string()),
            ),
        ];
        for (k, v) in fields {
            if let Some(v) = v {
                vars.insert(k.to_string(), v);
            }
        }
        vars
    }
}

/// The accounts to check, refused (exit 2) when the file cannot be read or parsed, an
/// account is listed twice, names an unknown `env` variable, or has no credentials.
pub fn load_accounts(path: &Path) -> Result<Vec<Account>, ReadinessError> {
    let text =
        std::fs::read_to_string(path).map_err(|e| ReadinessError::Read(path.to_path_buf(), e))?;
    let file: AccountsFile = serde_saphyr::from_str(&text)
        .map_err(|e| ReadinessError::Parse(path.to_path_buf(), Box::new(e)))?;
    if file.accounts.is_empty() {
        return Err(ReadinessError::Empty(path.to_path_buf()));
    }
    let base = path.parent().unwrap_or(Path::new("."));
    let mut seen = Vec::new();
    let mut accounts = Vec::new();
    for mut a in file.accounts {
        if seen.contains(&a.name) {
            return Err(ReadinessError::Duplicate(a.name));
        }
        seen.push(a.name.clone());
        let keys = env_keys();
        if let Some(key) = a.env.keys().find(|k| !keys.contains(&k.as_str())) {
            return Err(ReadinessError::UnknownEnv {
                account: a.name.clone(),
                key: key.clone(),
            });
        }
        let has_keys = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]
            .iter()
            .all(|k| a.env.get(*k).is_some_and(|v| !v.trim().is_empty()));
        if a.profile.is_none() && !has_keys {
            return Err(ReadinessError::NoCredentials(a.name));
        }
        a.kubeconfig = a.kubeconfig.map(|k| base.join(k));
        accounts.push(a);
    }
    Ok(accounts)
}

/// What a `--profile` account takes from its profile, never from the process environment.
const FROM_PROFILE: &[&str] = &[
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
];

/// One account per `--profile`: credentials and region from the profile; endpoints,
/// workspace, cluster and kubeconfig from the process environment as it is now (each
/// account gets its own copy); the kube context named like the profile when the
/// kubeconfig has one (`aws eks update-kubeconfig --alias P --profile P`), else its
/// current context.
fn accounts_from_profiles(profiles: &[String]) -> Vec<Account> {
    let shared: BTreeMap<String, String> = env_keys()
        .iter()
        .filter(|k| !FROM_PROFILE.contains(k))
        .filter_map(|k| Some((k.to_string(), std::env::var(k).ok()?)))
        .collect();
    // No readable kubeconfig: the account's run says so (or reads no cluster).
    let contexts: Vec<String> = kube::config::Kubeconfig::read()
        .map(|kc| kc.contexts.into_iter().map(|c| c.name).collect())
        .unwrap_or_default();
    profiles
        .iter()
        .map(|p| Account {
            name: p.clone(),
            profile: Some(p.clone()),
            context: contexts.contains(p).then(|| p.clone()),
            env: shared.clone(),
            ..Account::default()
        })
        .collect()
}

/// Every profile named must exist in the AWS config or credentials file; returns each
/// profile's configured region.
async fn check_profiles(accounts: &[Account]) -> Result<BTreeMap<String, String>, ReadinessError> {
    use aws_types::os_shim_internal::{Env, Fs};
    let mut regions = BTreeMap::new();
    if accounts.iter().all(|a| a.profile.is_none()) {
        return Ok(regions);
    }
    let set = aws_config::profile::load(&Fs::real(), &Env::real(), &Default::default(), None)
        .await
        .ok();
    for a in accounts {
        let Some(p) = &a.profile else { continue };
        let Some(profile) = set.as_ref().and_then(|s| s.get_profile(p)) else {
            let known = match &set {
                Some(s) => format!(
                    "profiles there: {}",
                    s.profiles().collect::<Vec<_>>().join(", ")
                ),
                None => "no AWS config or credentials file could be read".to_string(),
            };
            return Err(ReadinessError::UnknownProfile {
                account: a.name.clone(),
                profile: p.clone(),
                known,
            });
        };
        if let Some(r) = profile.get("region") {
            regions.insert(p.clone(), r.to_string());
        }
    }
    Ok(regions)
}

/// One account's result: its report (one testsuite) and its table row.
#[derive(Debug)]
pub struct AccountResult {
    pub name: String,
    pub region: String,
    pub report: ScenarioReport,
    /// The links to fix first (or the links still running when it timed out).
    pub root_cause: Vec<String>,
    /// The first root cause's verdict; empty when ready.
    pub verdict: String,
}

impl AccountResult {
    pub fn ready(&self) -> bool {
        self.report.passed()
    }

    fn account_column(&self) -> String {
        let account_id = self.report.property(|p| match p {
            Property::AccountId(id) => Some(id),
            _ => None,
        });
        match account_id {
            Some(id) => format!("{} / {id}", self.name),
            None => self.name.clone(),
        }
    }
}

pub fn run(args: ReadinessArgs) -> Result<pipecheck_reports::Exit, ReadinessError> {
    let accounts = match &args.accounts {
        Some(path) => load_accounts(path)?,
        None => accounts_from_profiles(&args.profiles),
    };
    let scenario = Scenario::load(&args.scenario)?;
    if scenario.shape == Shape::Collector {
        return Err(ReadinessError::CollectorScenario(scenario.name));
    }
    let (scenario, left_out) = read_only(scenario);
    let left_out: Vec<&str> = left_out.iter().map(|l| l.as_str()).collect();
    junit::check_writable(&args.junit)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(ReadinessError::Runtime)?;
    let results = rt.block_on(async {
        let regions = check_profiles(&accounts).await?;
        Ok::<_, ReadinessError>(
            check_all(
                &scenario,
                accounts,
                &regions,
                args.parallel as usize,
                args.timeout,
            )
            .await,
        )
    })?;
    print!("{}", table(&results));
    if !left_out.is_empty() {
        println!(
            "left out (they write to the account): {}",
            left_out.join(", ")
        );
    }
    let mut report = RunReport {
        suites: results.iter().map(|r| r.report.clone()).collect(),
    };
    if !left_out.is_empty() {
        for suite in &mut report.suites {
            suite.properties.push(Property::ReadOnlyLeftOut(
                left_out.iter().map(|l| l.to_string()).collect(),
            ));
        }
    }
    junit::write(&report, &args.junit)?;
    println!("junit report: {}", args.junit.display());
    Ok(pipecheck_reports::Exit::failure_if(
        !results.iter().all(AccountResult::ready),
    ))
}

/// The scenario with only its read-only links: [`chain::WRITES`] and their dependents
/// left out, and the names of the links left out (in chain order).
fn read_only(mut scenario: Scenario) -> (Scenario, Vec<LinkId>) {
    let mut kept = chain::closure(&scenario.link_names(), scenario.shape);
    let mut left_out = Vec::new();
    for w in chain::WRITES {
        let (rest, out) = chain::without(&kept, *w, scenario.shape);
        kept = rest;
        left_out.extend(out);
    }
    left_out.sort();
    scenario.links = kept;
    (scenario, left_out)
}

/// Checks every account, at most `parallel` at once, each within `timeout`; results in
/// the accounts' order.
async fn check_all(
    scenario: &Scenario,
    accounts: Vec<Account>,
    profile_regions: &BTreeMap<String, String>,
    parallel: usize,
    timeout: Duration,
) -> Vec<AccountResult> {
    let permits = Arc::new(Semaphore::new(parallel));
    let tasks: Vec<_> = accounts
        .into_iter()
        .map(|account| {
            let region = account
                .region
                .clone()
                .or_else(|| account.env.get("AWS_REGION").cloned())
                .or_else(|| {
                    account
                        .profile
                        .as_ref()
                        .and_then(|p| profile_regions.get(p).cloned())
                });
            let (scenario, permits) = (scenario.clone(), permits.clone());
            let name = account.name.clone();
            let account_region = region.clone();
            let task = tokio::spawn(async move {
                // The semaphore is never closed: a permit always comes.
                let _permit = permits.acquire_owned().await.ok();
                check_account(&scenario, &account, account_region, timeout).await
            });
            (name, region, task)
        })
        .collect();
    let mut results = Vec::new();
    for (name, region, task) in tasks {
        let report = match task.await {
            Ok(r) => r,
            Err(e) => {
                let why = format!("the account's check stopped unexpectedly: {e}");
                let mut report = setup_failure(scenario, &name, &why);
                label(&mut report, &name);
                report
            }
        };
        results.push(summarize(name, region.unwrap_or_default(), report));
    }
    results
}

/// One account's run of `scenario`, cut at `timeout`: a run that did not finish gets the
/// links it had not finished marked as stopped by the timeout.
async fn check_account(
    scenario: &Scenario,
    account: &Account,
    region: Option<String>,
    timeout: Duration,
) -> ScenarioReport {
    let vars = account.environment();
    let kubeconfig = vars
        .get("KUBECONFIG")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".kube/config")));
    let opts = RunOptions {
        target: TargetKind::Aws,
        region,
        workspace_id: None,
        faults: Vec::new(),
        collector_bin: None,
        collector_image: None,
        grafana_workspace_id: None,
        grafana_url: None,
        cluster_name: None,
        kube: KubeSettings {
            kubeconfig,
            context: account.context.clone(),
        },
        // Readiness never creates anything.
        provision: false,
        keep: false,
    };
    let mut redactor = Redactor::new();
    for k in ["AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"] {
        if let Some(v) = vars.get(k) {
            redactor.add_secret(v.clone());
        }
    }
    let env = Environment::Given(Arc::new(vars));
    let (tx, mut rx) = mpsc::unbounded_channel();
    let started = Instant::now();
    // At the timeout the run is interrupted: it stops its links and removes what it made
    // (its Grafana service account) before handing back its partial report; bounded.
    let by = format!("the --timeout of {}", humantime::format_duration(timeout));
    let interrupt = Interrupt::default();
    let run = run_scenario_in(scenario, &opts, &env, &tx, &interrupt);
    let timer = async {
        tokio::time::sleep(timeout).await;
        interrupt.fire(by.clone());
        tokio::time::sleep(UNWIND_WITHIN).await;
    };
    let finished = tokio::select! {
        r = run => Some(r),
        _ = timer => None,
    };
    let timed_out = |r: Option<ScenarioReport>| match r {
        Some(mut r) => {
            // The links still waiting for an answer are what to look at.
            r.root_cause = r
                .links
                .iter()
                .filter(|l| l.outcome == Outcome::Interrupted { started: true })
                .map(|l| l.name.clone())
                .collect();
            r.properties.push(Property::TimedOut(by.clone()));
            r
        }
        None => setup_failure(
            scenario,
            &account.name,
            &format!(
                "timed out after {} before the first check started (loading credentials or the kubeconfig)",
                humantime::format_duration(timeout)
            ),
        ),
    };
    let mut report = match finished {
        Some(Ok(report)) if interrupt.reason().is_some() => timed_out(Some(report)),
        Some(Ok(report)) => report,
        Some(Err(RunError::Interrupted(_))) => timed_out(None),
        Some(Err(e)) => setup_failure(scenario, &account.name, &crate::error_line(&e)),
        // The run did not stop in time: the partial report its events make.
        None => {
            let mut progress = ScenarioProgress::default();
            while let Ok(ev) = rx.try_recv() {
                progress.record(&ev);
            }
            timed_out(progress.interrupted(&by))
        }
    };
    report.duration = started.elapsed();
    label(&mut report, &account.name);
    redactor.redact_report(&report)
}

/// The suite says which account it is: `<scenario>@aws:<name>`, property `account`.
fn label(report: &mut ScenarioReport, account: &str) {
    report.target = format!("aws:{account}");
    report
        .properties
        .push(Property::Account(account.to_string()));
}

/// The report of an account whose run could not start (no region, no kubeconfig, …):
/// one failed testcase, `account.setup`, with the reason.
fn setup_failure(scenario: &Scenario, account: &str, why: &str) -> ScenarioReport {
    let link = LinkResult {
        name: "account.setup".into(),
        outcome: Outcome::Fail,
        verdict: why.to_string(),
        hint: Some(format!(
            "fix account {account:?} in the accounts file (profile, region, kubeconfig, context)"
        )),
        evidence: vec![],
        duration: Duration::ZERO,
        depends_on: vec![],
    };
    ScenarioReport {
        scenario: scenario.name.clone(),
        target: "aws".into(),
        run_id: crate::canary::new_run_id(),
        root_cause: vec![link.name.clone()],
        links: vec![link],
        duration: Duration::ZERO,
        properties: vec![],
    }
}

fn summarize(name: String, region: String, report: ScenarioReport) -> AccountResult {
    let root_cause = if report.passed() {
        Vec::new()
    } else {
        report.root_cause.clone()
    };
    let timed_out = report.property(|p| match p {
        Property::TimedOut(by) => Some(by.clone()),
        _ => None,
    });
    let verdict = match (&timed_out, root_cause.first()) {
        (Some(by), first) => format!(
            "timed out: no answer within {}{}",
            by.trim_start_matches("the --timeout of "),
            first
                .map(|l| format!(" ({l} was still waiting)"))
                .unwrap_or_default()
        ),
        (None, Some(first)) => report
            .links
            .iter()
            .find(|l| l.name == *first)
            .map(|l| l.verdict.clone())
            .unwrap_or_default(),
        (None, None) => String::new(),
    };
    AccountResult {
        name,
        region,
        report,
        root_cause,
        verdict,
    }
}

/// The table printed at the end: one row per account, in the accounts' order.
pub fn table(results: &[AccountResult]) -> String {
    let header = ["ACCOUNT", "REGION", "STATUS", "ROOT CAUSE", "VERDICT"];
    let rows: Vec<[String; 5]> = results
        .iter()
        .map(|r| {
            [
                r.account_column(),
                if r.region.is_empty() {
                    "-".into()
                } else {
                    r.region.clone()
                },
                if r.ready() { "READY" } else { "NOT READY" }.into(),
                if r.root_cause.is_empty() {
                    "-".into()
                } else {
                    r.root_cause.join(",")
                },
                // One line, whatever the verdict holds.
                r.verdict.split_whitespace().collect::<Vec<_>>().join(" "),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: [&str; 5]| {
        let mut out = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i == 4 {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}  "));
            }
        }
        out.trim_end().to_string() + "\n"
    };
    let mut out = line(header);
    for row in &rows {
        out.push_str(&line(row.each_ref().map(String::as_str)));
    }
    let ready = results.iter().filter(|r| r.ready()).count();
    out.push_str(&format!("{ready} of {} accounts ready\n", results.len()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_only_leaves_out_every_writing_link_and_its_dependents() {
        for name in ["eks-adot", "smoke"] {
            let (s, left_out) = read_only(Scenario::load(name).unwrap());
            assert!(left_out.contains(&LinkId::AmpRemoteWrite), "{left_out:?}");
            let kept = chain::closure(&s.link_names(), s.shape);
            for w in chain::WRITES {
                assert!(!kept.contains(w), "{name}: {kept:?}");
            }
            for l in &kept {
                assert!(
                    l.depends_on(s.shape).iter().all(|d| kept.contains(d)),
                    "{name}: {l} depends on a link left out"
                );
            }
            assert!(kept.contains(&LinkId::AmpWorkspace), "{kept:?}");
        }
        let (s, left_out) = read_only(Scenario::load("eks-adot").unwrap());
        assert_eq!(left_out, [LinkId::AmpRemoteWrite, LinkId::AmpQuery]);
        assert!(s.links.contains(&LinkId::IamRolePermissions));
        assert!(!s.links.contains(&LinkId::AmpQuery));
    }

    #[test]
    fn the_named_fields_win_over_env() {
        let a = Account {
            name: "a".into(),
            region: Some("eu-west-1".into()),
            env: [("AWS_REGION".to_string(), "us-east-1".to_string())].into(),
            ..Account::default()
        };
        assert_eq!(a.environment()["AWS_REGION"], "eu-west-1");
    }

    #[test]
    fn a_table_row_says_ready_or_names_the_root_cause() {
        let failing = setup_failure(&Scenario::load("smoke").unwrap(), "b", "no region");
        let results = vec![summarize("b".into(), "us-east-1".into(), failing)];
        let t = table(&results);
        assert!(t.contains("NOT READY"), "{t}");
        assert!(t.contains("account.setup"), "{t}");
        assert!(t.contains("no region"), "{t}");
        assert!(t.ends_with("0 of 1 accounts ready\n"), "{t}");
    }
}
