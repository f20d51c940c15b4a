//! `pipecheck run --provision`, `--plan`, `--keep`, `pipecheck sweep` and an interrupted
//! provisioning, against a `pipecheck mock` reached with `--target aws` and its exports:
//! the mock outlives each run, so every trial lists what it holds (AMP workspaces, IAM
//! roles, AMG service accounts, Grafana data sources and dashboards) through the real SDKs
//! and Grafana's HTTP API before and after, and asserts what changed.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region};
use libtest_mimic::{Arguments, Failed, Trial};

#[path = "support/mod.rs"]
mod support;

use support::{Mock, bin, ensure, read_junit, text, tmp};

/// The exports a `--target aws` cluster run against the mock needs.
const EXPORTS: &[&str] = &[
    "AWS_ENDPOINT_URL_IAM",
    "AWS_ENDPOINT_URL_EKS",
    "AWS_ENDPOINT_URL_GRAFANA",
    "PIPECHECK_GRAFANA_TOKEN",
    "KUBECONFIG",
];

/// What the mock holds, by name.
#[derive(Debug, PartialEq, Eq)]
struct Holdings {
    /// `id alias status`.
    workspaces: BTreeSet<String>,
    /// `path name`.
    roles: BTreeSet<String>,
    service_accounts: BTreeSet<String>,
    datasources: BTreeSet<String>,
    dashboards: BTreeSet<String>,
    /// Namespaces of the mock cluster (a run's objects live in its own).
    namespaces: BTreeSet<String>,
}

impl Holdings {
    fn names_with(&self, word: &str) -> Vec<String> {
        self.workspaces
            .iter()
            .chain(&self.roles)
            .chain(&self.service_accounts)
            .chain(&self.datasources)
            .chain(&self.dashboards)
            .chain(&self.namespaces)
            .filter(|n| n.contains(word))
            .cloned()
            .collect()
    }
}

fn env<'a>(mock: &'a Mock, key: &str) -> Result<&'a str, Failed> {
    Ok(mock
        .env
        .get(key)
        .ok_or_else(|| format!("the mock exported no {key}"))?)
}

fn block_on<T>(f: impl std::future::Future<Output = T>) -> Result<T, Failed> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?
        .block_on(f))
}

async fn sdk(mock: &Mock, endpoint: &str, region: &str) -> Result<aws_config::SdkConfig, Failed> {
    let creds = aws_credential_types::Credentials::new(
        env(mock, "AWS_ACCESS_KEY_ID")?,
        env(mock, "AWS_SECRET_ACCESS_KEY")?,
        None,
        None,
        "pipecheck-mock",
    );
    Ok(aws_config::SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(creds))
        .endpoint_url(env(mock, endpoint)?)
        .build())
}

fn holdings(mock: &Mock) -> Result<Holdings, Failed> {
    block_on(async {
        let region = env(mock, "AWS_REGION")?;
        let amp = aws_sdk_amp::Client::new(&sdk(mock, "AWS_ENDPOINT_URL_AMP", region).await?);
        let iam = aws_sdk_iam::Client::new(&sdk(mock, "AWS_ENDPOINT_URL_IAM", "us-east-1").await?);
        let amg =
            aws_sdk_grafana::Client::new(&sdk(mock, "AWS_ENDPOINT_URL_GRAFANA", region).await?);
        let ws = amp
            .list_workspaces()
            .send()
            .await
            .map_err(|e| format!("{e:?}"))?;
        let workspaces = ws
            .workspaces()
            .iter()
            .map(|w| {
                format!(
                    "{} {} {}",
                    w.workspace_id(),
                    w.alias().unwrap_or(""),
                    w.status().map(|s| s.status_code().as_str()).unwrap_or("")
                )
            })
            .collect();
        let roles = iam
            .list_roles()
            .max_items(1000)
            .send()
            .await
            .map_err(|e| format!("{e:?}"))?
            .roles()
            .iter()
            .map(|r| format!("{} {}", r.path(), r.role_name()))
            .collect();
        let sas = amg
            .list_workspace_service_accounts()
            .workspace_id(env(mock, "PIPECHECK_GRAFANA_WORKSPACE_ID")?)
            .send()
            .await
            .map_err(|e| format!("{e:?}"))?;
        let service_accounts = sas
            .service_accounts()
            .iter()
            .map(|s| s.name().to_string())
            .collect();
        let grafana = env(mock, "PIPECHECK_GRAFANA_URL")?;
        let token = env(mock, "PIPECHECK_GRAFANA_TOKEN")?;
        let http = reqwest::Client::new();
        let mut uids = Vec::new();
        for path in ["/api/datasources", "/api/search?type=dash-db"] {
            let list: Vec<serde_json::Value> = http
                .get(format!("{grafana}{path}"))
                .bearer_auth(token)
                .send()
                .await
                .map_err(|e| e.to_string())?
                .json()
                .await
                .map_err(|e| e.to_string())?;
            uids.push(
                list.iter()
                    .map(|v| v["uid"].as_str().unwrap_or("").to_string())
                    .collect::<BTreeSet<_>>(),
            );
        }
        let kubeconfig = kube::config::Kubeconfig::read_from(env(mock, "KUBECONFIG")?)
            .map_err(|e| e.to_string())?;
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
            .await
            .map_err(|e| e.to_string())?;
        let client = kube::Client::try_from(config).map_err(|e| e.to_string())?;
        let namespaces = kube::Api::<k8s_openapi::api::core::v1::Namespace>::all(client)
            .list(&Default::default())
            .await
            .map_err(|e| e.to_string())?
            .items
            .into_iter()
            .filter_map(|n| n.metadata.name)
            .collect();
        let dashboards = uids.pop().unwrap_or_default();
        let datasources = uids.pop().unwrap_or_default();
        Ok::<_, Failed>(Holdings {
            workspaces,
            roles,
            service_accounts,
            datasources,
            dashboards,
            namespaces,
        })
    })?
}

/// `pipecheck <args>` configured only by the mock's exports (no config files, no IMDS).
fn pipecheck_against(mock: &Mock, args: &[&str], dir: &Path) -> Command {
    let none = dir.join("none");
    let mut cmd = Command::new(bin());
    cmd.args(args)
        .envs(&mock.env)
        .env("NO_COLOR", "1")
        .env("AWS_CONFIG_FILE", &none)
        .env("AWS_SHARED_CREDENTIALS_FILE", &none)
        .env("AWS_EC2_METADATA_DISABLED", "true");
    cmd
}

fn output(mut cmd: Command) -> Result<Output, Failed> {
    Ok(cmd.output().map_err(|e| e.to_string())?)
}

fn exit_code(out: &Output, code: i32) -> Result<String, Failed> {
    let so = text(&out.stdout);
    ensure(out.status.code() == Some(code), || {
        format!(
            "expected exit {code}, got {:?}\nstdout:\n{so}\nstderr:\n{}",
            out.status,
            text(&out.stderr)
        )
    })?;
    Ok(so)
}

/// The trial's body with a fresh `pipecheck mock`, stopped afterwards whatever happened.
fn with_mock(body: impl FnOnce(&Mock, &Path) -> Result<(), Failed>) -> Result<(), Failed> {
    let mock = Mock::start(Stdio::null(), EXPORTS)?;
    let dir = tmp();
    let result = body(&mock, dir.path());
    let _ = mock.stop();
    result
}

/// The run id of the (only) scenario of a JUnit report.
fn run_id(report: &Path) -> Result<String, Failed> {
    let suites = read_junit(report)?;
    let s = suites.first().ok_or("no testsuite")?;
    Ok(s.properties
        .get("run_id")
        .cloned()
        .ok_or_else(|| format!("no run_id property: {:?}", s.properties))?)
}

/// A `--provision` run of `scenario` passes, its provision testcases pass, and the mock
/// holds afterwards exactly what it held before.
fn provisioned_run_leaves_nothing(scenario: &'static str) -> Result<(), Failed> {
    with_mock(|mock, dir| {
        let before = holdings(mock)?;
        let report = dir.join("report.xml");
        let out = output({
            let mut c = pipecheck_against(
                mock,
                &[
                    "run",
                    "--target",
                    "aws",
                    "--provision",
                    "--scenario",
                    scenario,
                ],
                dir,
            );
            c.arg("--junit").arg(&report);
            c
        })?;
        let so = exit_code(&out, 0)?;
        let suites = read_junit(&report)?;
        let s = &suites[0];
        for case in ["provision.create", "provision.teardown"] {
            let c = s
                .case(case)
                .ok_or_else(|| format!("no {case} testcase:\n{so}"))?;
            ensure(c.outcome == "pass", || format!("{case}: {c:?}"))?;
        }
        let want = if scenario == "smoke" {
            "created 1 resource"
        } else {
            "created 4 resource"
        };
        ensure(so.contains(want), || format!("expected `{want}`:\n{so}"))?;
        if scenario != "smoke" {
            // The cluster links checked what the run made, in its own namespace.
            let id = run_id(&report)?;
            for words in [
                format!("namespace pipecheck-{id} exists"),
                format!("role pipecheck-{id} trusts system:serviceaccount:pipecheck-{id}:"),
                format!("Deployment pipecheck-{id}/"),
            ] {
                ensure(so.contains(&words), || format!("expected `{words}`:\n{so}"))?;
            }
        }
        let after = holdings(mock)?;
        ensure(before == after, || {
            format!(
                "the mock holds something else after the run:\nbefore {before:#?}\nafter {after:#?}"
            )
        })
    })
}

/// eks-prometheus on the embedded mock, which lets the run request service account
/// tokens: the links prove the made role through STS with the made service account's
/// token. The mock goes with the run, so the teardown testcase is the evidence that each
/// deletion was answered.
fn eks_prometheus_on_the_embedded_mock() -> Result<(), Failed> {
    let dir = tmp();
    let report = dir.path().join("report.xml");
    let out = output({
        let mut c = Command::new(bin());
        c.args([
            "run",
            "--provision",
            "--scenario",
            "eks-prometheus",
            "--junit",
        ])
        .arg(&report)
        .env("NO_COLOR", "1");
        c
    })?;
    let so = exit_code(&out, 0)?;
    let suites = read_junit(&report)?;
    let s = &suites[0];
    let create = s.case("provision.create").ok_or("no provision.create")?;
    let teardown = s
        .case("provision.teardown")
        .ok_or("no provision.teardown")?;
    ensure(
        create.outcome == "pass" && teardown.outcome == "pass",
        || so.clone(),
    )?;
    ensure(
        so.contains("created 4 resource(s)") && so.contains("removed all 4 resource(s)"),
        || so.clone(),
    )?;
    // The links checked what was made: the run's namespace, its role through STS.
    let id = run_id(&report)?;
    for words in [
        format!("namespace pipecheck-{id} exists"),
        format!("role pipecheck-{id} trusts system:serviceaccount:pipecheck-{id}:"),
        "STS AssumeRoleWithWebIdentity".to_string(),
    ] {
        ensure(so.contains(&words), || format!("expected `{words}`:\n{so}"))?;
    }
    Ok(())
}

/// Provisioning that fails half-way (the cluster is not there: no OIDC issuer to trust)
/// fails `provision.create` naming the cause, checks nothing, and removes the workspace it
/// had already made.
fn failed_provisioning_is_undone() -> Result<(), Failed> {
    with_mock(|mock, dir| {
        let before = holdings(mock)?;
        let report = dir.join("report.xml");
        let out = output({
            let mut c = pipecheck_against(
                mock,
                &[
                    "run",
                    "--target",
                    "aws",
                    "--provision",
                    "--scenario",
                    "eks-adot",
                    "--cluster",
                    "no-such-cluster",
                ],
                dir,
            );
            c.arg("--junit").arg(&report);
            c
        })?;
        let so = exit_code(&out, 1)?;
        let suites = read_junit(&report)?;
        let s = &suites[0];
        let create = s.case("provision.create").ok_or("no provision.create")?;
        ensure(
            create.outcome == "fail"
                && create
                    .message
                    .contains("failed to describe EKS cluster no-such-cluster"),
            || format!("{create:?}\n{so}"),
        )?;
        let teardown = s
            .case("provision.teardown")
            .ok_or("no provision.teardown")?;
        ensure(teardown.outcome == "pass", || format!("{teardown:?}"))?;
        ensure(s.case("amp.workspace").is_none(), || {
            format!("links ran after provisioning failed: {:?}", s.cases)
        })?;
        ensure(
            so.contains("deleted amp-workspace") || teardown.body.contains("deleted amp-workspace"),
            || format!("the created workspace's deletion is not reported:\n{so}\n{teardown:?}"),
        )?;
        let after = holdings(mock)?;
        ensure(after == before, || {
            format!("after a failed provisioning the mock holds:\n{after:#?}\nbefore:\n{before:#?}")
        })
    })
}

/// A collector scenario on the embedded mock: the local Prometheus (through pipecheck's
/// SigV4 proxy) writes to the workspace the run made, and the chain passes on it.
fn collector_writes_to_the_made_workspace() -> Result<(), Failed> {
    let dir = tmp();
    let report = dir.path().join("report.xml");
    let out = output({
        let mut c = Command::new(bin());
        c.args([
            "run",
            "--provision",
            "--scenario",
            "prometheus-proxy",
            "--junit",
        ])
        .arg(&report)
        .env("NO_COLOR", "1");
        c
    })?;
    let so = exit_code(&out, 0)?;
    let suites = read_junit(&report)?;
    let s = &suites[0];
    let create = s.case("provision.create").ok_or("no provision.create")?;
    ensure(create.outcome == "pass", || format!("{create:?}"))?;
    // The workspace the links checked is the one the run made (the console's
    // provision.create line names it).
    let made = so
        .lines()
        .find(|l| l.contains("provision.create"))
        .and_then(|l| l.split("amp-workspace ").nth(1))
        .and_then(|r| r.split_whitespace().next())
        .ok_or_else(|| format!("provision.create names no workspace:\n{so}"))?
        .to_string();
    ensure(so.contains(&format!("workspace {made} is ACTIVE")), || {
        format!("amp.workspace did not check {made}:\n{so}")
    })
}

/// `--plan` lists what would be made and calls nothing; a run without `--provision`
/// creates nothing that stays.
fn plan_and_no_provision_create_nothing() -> Result<(), Failed> {
    with_mock(|mock, dir| {
        let before = holdings(mock)?;
        let out = output(pipecheck_against(
            mock,
            &[
                "run",
                "--target",
                "aws",
                "--provision",
                "--plan",
                "--scenario",
                "eks-adot",
                "--scenario",
                "smoke",
            ],
            dir,
        ))?;
        let so = exit_code(&out, 0)?;
        for words in [
            "create amp-workspace",
            "create iam-role ",
            "create iam-role-policy",
            "pipecheck-run=pc-",
            "pipecheck-created=",
            ":adot-collector through cluster pipecheck's OIDC provider",
            // What the run would use rather than make, read from the account.
            "scenario eks-adot uses (read, not changed):",
            "uses   eks-cluster      pipecheck",
            "(exists, ACTIVE)",
            "(registered)",
            "uses   grafana-workspace g-",
        ] {
            ensure(so.contains(words), || {
                format!("--plan does not say `{words}`:\n{so}")
            })?;
        }
        ensure(holdings(mock)? == before, || {
            "--plan changed the mock".into()
        })?;
        let report = dir.join("report.xml");
        let out = output({
            let mut c = pipecheck_against(
                mock,
                &["run", "--target", "aws", "--scenario", "eks-adot"],
                dir,
            );
            c.arg("--junit").arg(&report);
            c
        })?;
        exit_code(&out, 0)?;
        let suites = read_junit(&report)?;
        ensure(suites[0].case("provision.create").is_none(), || {
            "a run without --provision reported provisioning".into()
        })?;
        let after = holdings(mock)?;
        ensure(after == before, || {
            format!(
                "a run without --provision left something:\nbefore {before:#?}\nafter {after:#?}"
            )
        })
    })
}

/// `--keep` leaves the run's tagged resources (eks-prometheus: its namespace too);
/// `sweep --dry-run` lists and keeps them;
/// `sweep` removes them and only them.
fn keep_then_sweep() -> Result<(), Failed> {
    with_mock(|mock, dir| {
        let before = holdings(mock)?;
        let report = dir.join("report.xml");
        let out = output({
            let mut c = pipecheck_against(
                mock,
                &[
                    "run",
                    "--target",
                    "aws",
                    "--provision",
                    "--keep",
                    "--scenario",
                    "eks-prometheus",
                ],
                dir,
            );
            c.arg("--junit").arg(&report);
            c
        })?;
        let so = exit_code(&out, 0)?;
        let id = run_id(&report)?;
        let kept = holdings(mock)?;
        let mine = kept.names_with(&format!("pipecheck-{id}"));
        ensure(mine.len() == 3, || {
            format!("expected the run's workspace, role and namespace, got {mine:?}\n{so}")
        })?;
        ensure(so.contains("remove them with `pipecheck sweep`"), || {
            so.clone()
        })?;
        let xml = std::fs::read_to_string(&report).map_err(|e| e.to_string())?;
        ensure(
            xml.contains(&format!("aws iam delete-role --role-name pipecheck-{id}")),
            || format!("the report does not give the delete commands:\n{xml}"),
        )?;

        let out = output(pipecheck_against(
            mock,
            &["sweep", "--older-than", "1h"],
            dir,
        ))?;
        let so = exit_code(&out, 0)?;
        ensure(so.contains("nothing tagged"), || {
            format!("--older-than 1h swept a new run:\n{so}")
        })?;
        let out = output(pipecheck_against(mock, &["sweep", "--dry-run"], dir))?;
        let so = exit_code(&out, 0)?;
        ensure(so.matches("would delete").count() == 4, || so.clone())?;
        ensure(holdings(mock)? == kept, || {
            "--dry-run deleted something".into()
        })?;
        let out = output(pipecheck_against(mock, &["sweep"], dir))?;
        let so = exit_code(&out, 0)?;
        ensure(so.matches("deleted ").count() == 4, || so.clone())?;
        let after = holdings(mock)?;
        ensure(after == before, || {
            format!("sweep did not restore the mock:\nbefore {before:#?}\nafter {after:#?}")
        })
    })
}

/// `--keep` keeps the run's Grafana content too (its data source and canary dashboard,
/// beside its workspace), and says so in the report; a service account the run made would
/// still go (it holds an Admin token; here the mock's token is given, so none is made).
/// `sweep` then removes the content by its name.
fn keep_keeps_the_grafana_content() -> Result<(), Failed> {
    with_mock(|mock, dir| {
        let before = holdings(mock)?;
        let report = dir.join("report.xml");
        let out = output({
            let mut c = pipecheck_against(
                mock,
                &[
                    "run",
                    "--target",
                    "aws",
                    "--provision",
                    "--keep",
                    "--scenario",
                    "smoke",
                ],
                dir,
            );
            c.arg("--junit").arg(&report);
            c
        })?;
        let so = exit_code(&out, 0)?;
        let id = run_id(&report)?;
        let kept = holdings(mock)?;
        let name = format!("pipecheck-{id}");
        ensure(
            kept.datasources.iter().any(|d| d.contains(&name))
                && kept.dashboards.len() == before.dashboards.len() + 1,
            || format!("the run's data source and dashboard are not kept: {kept:#?}\n{so}"),
        )?;
        ensure(kept.service_accounts == before.service_accounts, || {
            format!("the run's service account was kept: {kept:#?}")
        })?;
        let suites = read_junit(&report)?;
        let cleanup = suites[0]
            .properties
            .get("grafana_cleanup")
            .cloned()
            .unwrap_or_default();
        ensure(
            cleanup.contains("kept dashboard") && cleanup.contains("kept data source"),
            || format!("grafana_cleanup: {cleanup}"),
        )?;
        let out = output(pipecheck_against(mock, &["sweep"], dir))?;
        exit_code(&out, 0)?;
        let after = holdings(mock)?;
        ensure(after == before, || {
            format!("sweep did not restore the mock:\nbefore {before:#?}\nafter {after:#?}")
        })
    })
}

/// An error after provisioning (the collector's work directory cannot be made: TMPDIR
/// does not exist) still removes what `--provision` made: the teardown testcase is shown
/// as passed, the error's line follows (exit 2), and the account is as it was.
fn an_error_after_provisioning_removes_what_was_made() -> Result<(), Failed> {
    with_mock(|mock, dir| {
        let before = holdings(mock)?;
        let out = output({
            let mut c = pipecheck_against(
                mock,
                &[
                    "run",
                    "--target",
                    "aws",
                    "--provision",
                    "--scenario",
                    "prometheus-proxy",
                ],
                dir,
            );
            c.arg("--junit")
                .arg(dir.join("report.xml"))
                .env("TMPDIR", dir.join("no-such-dir"));
            c
        })?;
        let so = text(&out.stdout);
        let se = text(&out.stderr);
        ensure(out.status.code() == Some(2), || {
            format!("exit {:?}\n{so}\n{se}", out.status.code())
        })?;
        ensure(
            se.contains("failed to set up the collector's surroundings"),
            || se.clone(),
        )?;
        ensure(
            so.lines()
                .any(|l| l.contains("provision.teardown") && l.contains("pass")),
            || format!("no passed provision.teardown line:\n{so}"),
        )?;
        let after = holdings(mock)?;
        ensure(after == before, || {
            format!("the run left something behind:\nbefore {before:#?}\nafter {after:#?}")
        })
    })
}

/// A role someone attached a managed policy to cannot be deleted (IAM's DeleteConflict):
/// sweep says so with the command, exits 1, and deletes the rest.
fn undeletable_role_is_reported() -> Result<(), Failed> {
    with_mock(|mock, dir| {
        let report = dir.join("report.xml");
        let out = output({
            let mut c = pipecheck_against(
                mock,
                &[
                    "run",
                    "--target",
                    "aws",
                    "--provision",
                    "--keep",
                    "--scenario",
                    "eks-adot",
                ],
                dir,
            );
            c.arg("--junit").arg(&report);
            c
        })?;
        exit_code(&out, 0)?;
        let role = format!("pipecheck-{}", run_id(&report)?);
        let managed = "arn:aws:iam::aws:policy/AmazonPrometheusRemoteWriteAccess";
        block_on(async {
            let iam =
                aws_sdk_iam::Client::new(&sdk(mock, "AWS_ENDPOINT_URL_IAM", "us-east-1").await?);
            iam.attach_role_policy()
                .role_name(&role)
                .policy_arn(managed)
                .send()
                .await
                .map_err(|e| format!("{e:?}"))?;
            Ok::<_, Failed>(())
        })??;
        let out = output(pipecheck_against(mock, &["sweep"], dir))?;
        let so = exit_code(&out, 1)?;
        for words in [
            format!("could NOT delete iam-role {role}"),
            "DeleteConflict".to_string(),
            format!("delete it with: aws iam delete-role --role-name {role}"),
            "deleted amp-workspace".to_string(),
            "deleted iam-role-policy".to_string(),
        ] {
            ensure(so.contains(&words), || {
                format!("sweep does not say `{words}`:\n{so}")
            })?;
        }
        let left = holdings(mock)?.names_with(&role);
        ensure(left.len() == 1 && left[0].ends_with(&role), || {
            format!("{left:?}")
        })
    })
}

/// A run killed outright (SIGKILL: no teardown) once its Grafana data source exists
/// (smoke: the data source is made for the run's own workspace) leaves its workspace and
/// Grafana content; `sweep` removes all of it, Grafana's by
/// name (`pipecheck-pc-…`), AWS's by tag.
fn sweep_after_a_killed_run() -> Result<(), Failed> {
    with_mock(|mock, dir| {
        let before = holdings(mock)?;
        let mut cmd = pipecheck_against(
            mock,
            &[
                "run",
                "--target",
                "aws",
                "--provision",
                "--scenario",
                "smoke",
            ],
            dir,
        );
        cmd.arg("--junit")
            .arg(dir.join("report.xml"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = cmd.spawn().map_err(|e| e.to_string())?;
        // The data source stays until the run's cleanup, after its last link: kill the
        // run as soon as the console says it was made.
        let stdout = child.stdout.take().ok_or("no stdout")?;
        for line in BufReader::new(stdout).lines() {
            let line = line.map_err(|e| e.to_string())?;
            if line.contains("grafana.datasource") {
                break;
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        let left = holdings(mock)?.names_with("pipecheck-pc-");
        ensure(left.len() >= 2, || {
            format!("the killed run should have left its workspace and data source: {left:?}")
        })?;
        let out = output(pipecheck_against(mock, &["sweep", "--dry-run"], dir))?;
        let so = exit_code(&out, 0)?;
        ensure(
            so.contains("would delete grafana-datasource pipecheck-pc-"),
            || so.clone(),
        )?;
        let out = output(pipecheck_against(mock, &["sweep"], dir))?;
        let so = exit_code(&out, 0)?;
        let after = holdings(mock)?;
        ensure(after == before, || {
            format!("sweep did not restore the mock:\n{so}\nbefore {before:#?}\nafter {after:#?}")
        })
    })
}

/// SIGINT once the run's workspace exists: the run exits 130 and removes it.
fn sigint_once_the_workspace_exists() -> Result<(), Failed> {
    with_mock(|mock, dir| {
        let before = holdings(mock)?;
        let mut cmd = pipecheck_against(
            mock,
            &[
                "run",
                "--target",
                "aws",
                "--provision",
                "--scenario",
                "eks-adot",
            ],
            dir,
        );
        cmd.arg("--junit")
            .arg(dir.join("report.xml"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let child = cmd.spawn().map_err(|e| e.to_string())?;
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut seen = None;
        while Instant::now() < deadline {
            let h = holdings(mock)?;
            if let Some(w) = h.workspaces.iter().find(|w| w.contains(" pipecheck-pc-")) {
                seen = Some(w.clone());
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status();
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        let seen = seen.ok_or("the run's workspace never appeared")?;
        let se = text(&out.stderr);
        ensure(out.status.code() == Some(130), || {
            format!("expected 130 (interrupted), got {:?}\n{se}", out.status)
        })?;
        ensure(se.contains("deleted amp-workspace"), || {
            format!("stderr does not report the workspace's deletion:\n{se}")
        })?;
        let after = holdings(mock)?;
        ensure(after == before, || {
            format!(
                "after SIGINT (workspace {seen}) the mock holds:\n{after:#?}\nbefore:\n{before:#?}"
            )
        })?;
        // The partial suite says what was made and that it was removed: provisioning cut
        // short (or done), its teardown passed naming the workspace, no link checked.
        let suites = read_junit(&dir.join("report.xml"))?;
        let suite = suites.first().ok_or("the partial report has no suite")?;
        ensure(
            suite.properties.get("interrupted").map(String::as_str) == Some("SIGINT"),
            || format!("{suite:#?}"),
        )?;
        let create = suite
            .case("provision.create")
            .ok_or("no provision.create")?;
        ensure(
            create.outcome == "interrupted" || create.outcome == "pass",
            || format!("{create:?}"),
        )?;
        let teardown = suite
            .case("provision.teardown")
            .ok_or("no provision.teardown")?;
        ensure(
            teardown.outcome == "pass" && teardown.body.contains("deleted amp-workspace"),
            || format!("{teardown:?}"),
        )?;
        let checked: Vec<&String> = suite
            .cases
            .iter()
            .filter(|(n, c)| !n.starts_with("provision.") && c.outcome != "interrupted")
            .map(|(n, _)| n)
            .collect();
        ensure(checked.is_empty(), || {
            format!("links checked after an interrupt during provisioning: {checked:?}")
        })
    })
}

fn main() {
    let args = Arguments::from_args();
    let mut trials = vec![
        Trial::test(
            "provision::plan_and_no_provision_create_nothing",
            plan_and_no_provision_create_nothing,
        ),
        Trial::test("provision::keep_then_sweep", keep_then_sweep),
        Trial::test(
            "provision::an_error_after_provisioning_removes_what_was_made",
            an_error_after_provisioning_removes_what_was_made,
        ),
        Trial::test(
            "provision::keep_keeps_the_grafana_content",
            keep_keeps_the_grafana_content,
        ),
        Trial::test(
            "provision::sweep_after_a_killed_run",
            sweep_after_a_killed_run,
        ),
        Trial::test(
            "provision::failed_provisioning_is_undone",
            failed_provisioning_is_undone,
        ),
        Trial::test(
            "provision::undeletable_role_is_reported",
            undeletable_role_is_reported,
        ),
        Trial::test(
            "provision::sigint_once_the_workspace_exists",
            sigint_once_the_workspace_exists,
        ),
    ];
    trials.push(Trial::test(
        "provision::eks-prometheus_on_the_embedded_mock",
        eks_prometheus_on_the_embedded_mock,
    ));
    trials.push(support::needs(
        Trial::test(
            "provision::collector_writes_to_the_made_workspace",
            collector_writes_to_the_made_workspace,
        ),
        support::have("prometheus", &["--version"]),
        "needs a prometheus binary (scripts/test installs Debian's)",
    ));
    for scenario in ["smoke", "eks-adot", "eks-prometheus"] {
        trials.push(Trial::test(
            format!("provision::{scenario}_leaves_the_mock_as_found"),
            move || provisioned_run_leaves_nothing(scenario),
        ));
    }
    libtest_mimic::run(&args, trials).exit();
}
