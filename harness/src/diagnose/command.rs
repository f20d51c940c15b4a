//! `pipecheck diagnose`: flags, the order of the checks, and the outputs.
//!
//! Reads the given files only: no network, no credentials, nothing changed. Exit code 0
//! when no finding is an error, 1 when one is, 2 when a file cannot be read or parsed
//! (a [`DiagnoseError`], printed as one line with the file, line and column).

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Instant;

use pipecheck_reports::junit;

use super::common;
use super::context::{Ctx, Settings};
use super::finding::{Finding, Severity};
use super::inputs::{self, DiagnoseError, Input, Role};
use super::policies::{self, Kind};
use super::render::{self, FileRef};
use super::secrets::Secrets;
use super::{collector, values};

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Grouped by file, ordered by line; colored on a terminal unless NO_COLOR is set.
    Text,
    /// `{"version":1,"files":[…],"findings":[…],"summary":{…}}` (see the README).
    Json,
}

/// Static checks of a user's files: helm values, IAM trust and permission policies,
/// collector configs.
#[derive(clap::Args, Debug)]
#[command(group(
    clap::ArgGroup::new("inputs")
        .required(true)
        .multiple(true)
        .args(["helm_values", "trust_policies", "permission_policies", "collector_configs"])
))]
pub struct DiagnoseArgs {
    /// Helm values for prometheus-community/prometheus or kube-prometheus-stack (repeatable).
    #[arg(long = "helm-values", value_name = "FILE")]
    pub helm_values: Vec<PathBuf>,
    /// The IRSA role's trust policy, JSON; `aws iam get-role` output works too (repeatable).
    #[arg(long = "trust-policy", value_name = "FILE")]
    pub trust_policies: Vec<PathBuf>,
    /// A permission policy attached to the role, JSON (repeatable; evaluated together).
    #[arg(long = "permission-policy", value_name = "FILE")]
    pub permission_policies: Vec<PathBuf>,
    /// An OpenTelemetry collector config, an OpenTelemetryCollector resource, a ConfigMap
    /// holding one, or a prometheus.yml (repeatable).
    #[arg(long = "collector-config", value_name = "FILE")]
    pub collector_configs: Vec<PathBuf>,
    /// The namespace the chart is installed into [default: default].
    #[arg(long, value_name = "NS")]
    pub namespace: Option<String>,
    /// The helm release name [default: prometheus].
    #[arg(long, value_name = "NAME")]
    pub release: Option<String>,
    /// Also write a JUnit report here.
    #[arg(long, value_name = "PATH")]
    pub junit: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

/// Runs `pipecheck diagnose`; the exit code (0 or 1), or why it could not run (2).
pub fn run(args: DiagnoseArgs) -> Result<u8, DiagnoseError> {
    let started = Instant::now();
    if let Some(path) = &args.junit {
        junit::check_writable(path)?;
    }
    let mut inputs = Vec::new();
    for (role, paths) in [
        (Role::HelmValues, &args.helm_values),
        (Role::CollectorConfig, &args.collector_configs),
        (Role::TrustPolicy, &args.trust_policies),
        (Role::PermissionPolicy, &args.permission_policies),
    ] {
        for p in paths {
            inputs.push(inputs::load(role, p)?);
        }
    }
    let settings = Settings {
        namespace: args.namespace.clone(),
        release: args.release.clone(),
    };
    let findings = redacted(&inputs, diagnose(&inputs, settings));
    let files: Vec<FileRef> = inputs
        .iter()
        .map(|i| FileRef {
            name: i.name.clone(),
            role: i.role,
        })
        .collect();
    let out = match args.format {
        Format::Text => {
            let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            render::text(&files, &findings, color)
        }
        Format::Json => render::json(&files, &findings),
    };
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(DiagnoseError::Stdout)?;
    if let Some(path) = &args.junit {
        junit::write(
            &render::junit_report(&files, &findings, started.elapsed()),
            path,
        )?;
        if args.format == Format::Text {
            let _ = writeln!(stdout, "junit report: {}", path.display());
        }
    }
    Ok(u8::from(
        findings.iter().any(|f| f.severity == Severity::Error),
    ))
}

/// Every check over the parsed files; findings sorted by file (in the order they were
/// loaded: helm values, collector configs, trust policies, permission policies),
/// line and column. Pure: no I/O.
pub(crate) fn diagnose(inputs: &[Input], settings: Settings) -> Vec<Finding> {
    let mut ctx = Ctx::new(settings);
    // Writers first: they establish the identities, endpoints and accounts that the
    // policy checks reason with.
    for i in inputs.iter().filter(|i| i.role == Role::HelmValues) {
        values::check(&mut ctx, &i.name, i.yaml());
    }
    for i in inputs.iter().filter(|i| i.role == Role::CollectorConfig) {
        collector::check(&mut ctx, &i.name, i.yaml());
    }
    for i in inputs.iter().filter(|i| i.role == Role::TrustPolicy) {
        if let Some(json) = i.json()
            && let Some(l) = policies::load(&mut ctx, &i.name, json, Kind::Trust)
        {
            policies::trust(&mut ctx, &l);
        }
    }
    let perms: Vec<(&str, &super::json::JsonDoc)> = inputs
        .iter()
        .filter(|i| i.role == Role::PermissionPolicy)
        .filter_map(|i| i.json().map(|j| (i.name.as_str(), j)))
        .collect();
    let loaded: Vec<policies::Loaded<'_>> = perms
        .iter()
        .filter_map(|(name, json)| policies::load(&mut ctx, name, json, Kind::Permission))
        .collect();
    policies::permissions(&mut ctx, &loaded);
    for i in inputs {
        common::check_file(&mut ctx, i);
    }
    common::cross_file(&mut ctx);
    let order = |file: &str| {
        inputs
            .iter()
            .position(|i| i.name == file)
            .unwrap_or(usize::MAX)
    };
    let mut findings = ctx.findings;
    findings.sort_by(|a, b| {
        (order(&a.file), a.line, a.column, a.severity, a.id).cmp(&(
            order(&b.file),
            b.line,
            b.column,
            b.severity,
            b.id,
        ))
    });
    findings.dedup();
    findings
}

/// The findings with every secret of every input masked, in every field but the file
/// name (the user's own command-line argument, which grouping relies on).
fn redacted(inputs: &[Input], findings: Vec<Finding>) -> Vec<Finding> {
    let mut secrets = Secrets::default();
    for i in inputs {
        match &i.body {
            inputs::Body::Yaml(docs) => docs.iter().for_each(|d| secrets.collect_yaml(d)),
            inputs::Body::Json(j) => secrets.collect_json(&j.value),
        }
    }
    findings
        .into_iter()
        .map(|f| Finding {
            key_path: secrets.redact(&f.key_path),
            message: secrets.redact(&f.message),
            fix: secrets.redact(&f.fix),
            snippet: f.snippet.as_deref().map(|s| secrets.redact(s)),
            ..f
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::inputs::Body;
    use crate::diagnose::{json::JsonDoc, yaml};
    use clap::Parser;

    fn yaml_input(role: Role, name: &str, text: &str) -> Input {
        Input {
            role,
            name: name.into(),
            body: Body::Yaml(yaml::parse(text).unwrap()),
        }
    }

    #[test]
    fn the_cli_takes_repeatable_files_and_needs_one() {
        let c = crate::cli::Cli::try_parse_from([
            "pipecheck",
            "diagnose",
            "--helm-values",
            "a.yaml",
            "--helm-values",
            "b.yaml",
            "--trust-policy",
            "t.json",
            "--format",
            "json",
            "--namespace",
            "obs",
        ])
        .unwrap();
        let crate::cli::Command::Diagnose(a) = c.command else {
            panic!("not diagnose")
        };
        assert_eq!(a.helm_values.len(), 2);
        assert_eq!(a.format, Format::Json);
        assert_eq!(a.namespace.as_deref(), Some("obs"));
        assert_eq!(a.release, None);
        assert!(crate::cli::Cli::try_parse_from(["pipecheck", "diagnose"]).is_err());
        assert!(
            crate::cli::Cli::try_parse_from([
                "pipecheck",
                "diagnose",
                "--helm-values",
                "a",
                "--format",
                "xml"
            ])
            .is_err()
        );
    }

    #[test]
    fn findings_are_sorted_by_file_then_line_and_redacted() {
        let values = yaml_input(
            Role::HelmValues,
            "v.yaml",
            "server:\n  remoteWrite:\n    - url: https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-12345678-abcd-ef01-2345-6789abcdef01/api/v1/remote_write\n      sigv4:\n        region: us-west-2\n      basic_auth:\n        password: us-west-2-secret\nserviceAccounts:\n  server:\n    annotations:\n    eks.amazonaws.com/role-arn: arn:aws:iam::111122223333:role/x\n",
        );
        let trust = Input {
            role: Role::TrustPolicy,
            name: "t.json".into(),
            body: Body::Json(JsonDoc::parse(r#"{"Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#).unwrap()),
        };
        let inputs = vec![values, trust];
        let findings = redacted(
            &inputs,
            diagnose(
                &inputs,
                Settings {
                    namespace: None,
                    release: None,
                },
            ),
        );
        let order: Vec<(&str, usize, &str)> = findings
            .iter()
            .map(|f| (f.file.as_str(), f.line, f.id))
            .collect();
        assert_eq!(
            order,
            [
                ("v.yaml", 5, "L2"),
                ("v.yaml", 11, "L1"),
                ("t.json", 1, "L3")
            ]
        );
        for f in &findings {
            for text in [&f.message, &f.fix, &f.key_path] {
                assert!(!text.contains("us-west-2-secret"), "{text}");
            }
        }
    }
}
