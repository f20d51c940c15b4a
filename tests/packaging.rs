//! What CI and a cluster run pipecheck from: the container image (scripts/image,
//! packaging/Containerfile), the CronJob's manifest (deploy/cronjob.yaml: its RBAC against
//! KUBE_READS, its command against the CLI), and the completions and man pages generated
//! from the CLI definition.

#[path = "support/mod.rs"]
mod support;

use std::collections::BTreeSet;
use std::process::Command;

use clap::{CommandFactory, Parser};
use libtest_mimic::{Arguments, Failed, Trial};
use serde_json::Value;
use support::*;

/// Every subcommand `pipecheck --help` lists.
fn subcommands() -> Vec<String> {
    pipecheck::cli::Cli::command()
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .collect()
}

/// The documents of deploy/cronjob.yaml.
fn manifest() -> Result<Vec<Value>, Failed> {
    let path = repo_root().join("deploy/cronjob.yaml");
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

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The ClusterRole grants exactly KUBE_READS and KUBE_READ_URLS: every read the cluster
/// links make, and nothing else (no write verb anywhere).
fn cronjob_rbac_is_kube_reads() -> Result<(), Failed> {
    use pipecheck::cluster::{KUBE_READ_URLS, KUBE_READS, is_kube_read};
    let docs = manifest()?;
    let role = of_kind(&docs, "ClusterRole")?;
    let rules = role["rules"].as_array().ok_or("ClusterRole has no rules")?;
    let mut granted = BTreeSet::new();
    let mut urls = BTreeSet::new();
    for rule in rules {
        for verb in strings(&rule["verbs"]) {
            for url in strings(&rule["nonResourceURLs"]) {
                urls.insert((verb.clone(), url));
            }
            for group in strings(&rule["apiGroups"]) {
                for resource in strings(&rule["resources"]) {
                    granted.insert((verb.clone(), group.clone(), resource));
                }
            }
        }
    }
    for read in KUBE_READS {
        for verb in read.verbs {
            let key = (
                verb.to_string(),
                read.group.to_string(),
                read.resource.to_string(),
            );
            ensure(granted.contains(&key), || {
                format!("the ClusterRole does not grant {key:?}")
            })?;
        }
    }
    for (verb, group, resource) in &granted {
        ensure(is_kube_read(verb, group, resource), || {
            format!(
                "the ClusterRole grants {verb} {resource} (API group {group:?}), which no link reads"
            )
        })?;
    }
    let want_urls: BTreeSet<(String, String)> = KUBE_READ_URLS
        .iter()
        .map(|u| ("get".to_string(), u.to_string()))
        .collect();
    ensure(urls == want_urls, || {
        format!("nonResourceURLs {urls:?}, expected {want_urls:?}")
    })
}

/// The CronJob runs as the IRSA-annotated service account the binding names, with a
/// command the CLI accepts, writing its report into the mounted reports volume.
fn cronjob_runs_a_valid_command() -> Result<(), Failed> {
    let docs = manifest()?;
    let sa = of_kind(&docs, "ServiceAccount")?;
    ensure(
        sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
            .as_str()
            .is_some_and(|a| a.starts_with("arn:aws:iam::")),
        || format!("no IRSA annotation: {sa}"),
    )?;
    let (name, ns) = (
        sa["metadata"]["name"].as_str().unwrap_or(""),
        sa["metadata"]["namespace"].as_str().unwrap_or(""),
    );
    let binding = of_kind(&docs, "ClusterRoleBinding")?;
    ensure(
        binding["roleRef"]["name"] == of_kind(&docs, "ClusterRole")?["metadata"]["name"]
            && binding["subjects"]
                .as_array()
                .is_some_and(|s| s.iter().any(|s| s["name"] == name && s["namespace"] == ns)),
        || format!("the binding does not bind the role to {ns}/{name}: {binding}"),
    )?;
    let job = of_kind(&docs, "CronJob")?;
    let pod = &job["spec"]["jobTemplate"]["spec"]["template"]["spec"];
    ensure(pod["serviceAccountName"] == name, || {
        format!("serviceAccountName {}", pod["serviceAccountName"])
    })?;
    let container = &pod["containers"][0];
    let args = strings(&container["args"]);
    let parsed = pipecheck::cli::Cli::try_parse_from(
        std::iter::once("pipecheck".to_string()).chain(args.iter().cloned()),
    )
    .map_err(|e| format!("the CronJob's args {args:?} do not parse: {e}"))?;
    let pipecheck::cli::Command::Run(run) = parsed.command else {
        return Err(format!("the CronJob does not `run`: {args:?}").into());
    };
    ensure(
        run.target.kind == pipecheck::target::TargetKind::Aws,
        || "the CronJob does not run --target aws".into(),
    )?;
    let mount = container["volumeMounts"][0]["mountPath"]
        .as_str()
        .ok_or("no volume mount")?;
    ensure(run.junit.starts_with(mount), || {
        format!(
            "the report {} is not on the mounted volume {mount}",
            run.junit.display()
        )
    })?;
    let volume = &pod["volumes"][0];
    ensure(
        volume["persistentVolumeClaim"]["claimName"]
            == of_kind(&docs, "PersistentVolumeClaim")?["metadata"]["name"],
        || format!("the reports volume is not the claim: {volume}"),
    )
}

/// Each shell's completion script names every subcommand.
fn completions_name_every_subcommand() -> Result<(), Failed> {
    for shell in ["bash", "zsh", "fish"] {
        let script = succeeded(&pipecheck(&["completions", shell]))?;
        for sub in subcommands() {
            ensure(script.contains(&sub), || {
                format!("the {shell} completions lack {sub}")
            })?;
        }
    }
    Ok(())
}

/// The man page lists every subcommand, and --out-dir writes a page for each.
fn man_names_every_subcommand() -> Result<(), Failed> {
    let page = succeeded(&pipecheck(&["man"]))?;
    ensure(
        page.starts_with(".ie") || page.contains(".TH pipecheck"),
        || format!("not a man page: {}", &page[..page.len().min(200)]),
    )?;
    let dir = tmp();
    succeeded(&pipecheck(&[
        "man",
        "--out-dir",
        dir.path().to_str().unwrap(),
    ]))?;
    for sub in subcommands() {
        ensure(page.contains(&sub), || format!("the man page lacks {sub}"))?;
        let file = dir.path().join(format!("pipecheck-{sub}.1"));
        ensure(file.is_file(), || format!("no {}", file.display()))?;
    }
    Ok(())
}

/// scripts/image packages this build's binary; inside the image (host networking, a
/// mounted volume) `pipecheck --version` and a mock run succeed and the report is there.
fn image_runs_pipecheck() -> Result<(), Failed> {
    let tag = format!("pipecheck-test:{}", std::process::id());
    let built = Command::new(repo_root().join("scripts/image"))
        .args(["--binary", bin(), "--tag", &tag])
        .output()
        .map_err(|e| e.to_string())?;
    ensure(built.status.success(), || {
        format!("scripts/image failed: {}", text(&built.stderr))
    })?;
    let result = (|| {
        let version = Command::new("docker")
            .args(["run", "--rm", &tag, "--version"])
            .output()
            .map_err(|e| e.to_string())?;
        let v = succeeded(&version)?;
        ensure(v.starts_with("pipecheck "), || v.clone())?;
        let reports = tmp();
        let (uid, gid) = user_ids();
        let user = format!("{uid}:{gid}");
        let run = Command::new("docker")
            .args([
                "run",
                "--rm",
                "--network",
                "host",
                "--user",
                &user,
                "-e",
                "NO_COLOR=1",
            ])
            .arg("-v")
            .arg(format!("{}:/reports", reports.path().display()))
            .args([&tag, "run", "--junit", "/reports/pipecheck-report.xml"])
            .output()
            .map_err(|e| e.to_string())?;
        let so = succeeded(&run)?;
        let report = reports.path().join("pipecheck-report.xml");
        validate_xsd(&report)?;
        let suites = read_junit(&report)?;
        ensure(suites.len() == 1 && suites[0].name == "smoke@mock", || {
            format!("{suites:?}\n{so}")
        })
    })();
    let _ = Command::new("docker").args(["rmi", "-f", &tag]).output();
    result
}

/// This process's user and group ids, so the container writes files the test can read.
fn user_ids() -> (String, String) {
    let id = |flag: &str| {
        Command::new("id")
            .arg(flag)
            .output()
            .map(|o| text(&o.stdout).trim().to_string())
            .unwrap_or_else(|_| "0".into())
    };
    (id("-u"), id("-g"))
}

fn main() {
    let args = Arguments::from_args();
    let trials = vec![
        Trial::test(
            "packaging::cronjob_rbac_is_kube_reads",
            cronjob_rbac_is_kube_reads,
        ),
        Trial::test(
            "packaging::cronjob_runs_a_valid_command",
            cronjob_runs_a_valid_command,
        ),
        Trial::test(
            "packaging::completions_name_every_subcommand",
            completions_name_every_subcommand,
        ),
        Trial::test(
            "packaging::man_names_every_subcommand",
            man_names_every_subcommand,
        ),
        needs(
            Trial::test("packaging::image_runs_pipecheck", image_runs_pipecheck),
            have("docker", &["info"]),
            "no Docker engine answers (scripts/test starts one)",
        ),
    ];
    libtest_mimic::run(&args, trials).exit();
}
