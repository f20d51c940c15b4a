//! `pipecheck diagnose`: flags, the order of the checks, and the outputs.
//!
//! Reads the given files only: no network, no credentials, nothing changed. Exit code 0
//! when no finding is an error, 1 when one is, 2 when a file cannot be read or parsed
//! (a [`DiagnoseError`], printed as one line with the file, line and column).

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Instant;

use pipecheck_reports::junit;

use super::collector_image::Image;
use super::common;
use super::context::{Ctx, Settings};
use super::finding::{Finding, Severity};
use super::grafana::Reader;
use super::inputs::{self, DiagnoseError, Input, Role};
use super::policies::{self, Kind};
use super::render::{self, FileRef};
use super::secrets::Secrets;
use super::{collector, crd, grafana, values};

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Grouped by file, ordered by line; colored on a terminal unless NO_COLOR is set.
    Text,
    /// `{"version":1,"files":[…],"findings":[…],"summary":{…}}` (see the README).
    Json,
}

/// Static checks of a user's files: helm values, IAM trust and permission policies,
/// collector configs and their image, the installed Prometheus CRD, Grafana data sources.
/// Each file must be a regular file of at most 4 MiB (a FIFO, a device, a directory or a
/// bigger file is exit 2, at once).
#[derive(clap::Args, Debug)]
#[command(after_long_help = super::finding::checks_help(), group(
    clap::ArgGroup::new("inputs")
        .required(true)
        .multiple(true)
        .args(["helm_values", "trust_policies", "permission_policies", "collector_configs", "grafana_datasources"])
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
    /// The image the collector configs run in: `public.ecr.aws/aws-observability/aws-otel-collector:v0.21.0`,
    /// `…@sha256:…`, or a bare tag (`v0.17.0`, taken as ADOT's). Checks that the image has
    /// every component the configs use (needs --collector-config).
    #[arg(
        long = "collector-image",
        value_name = "IMAGE",
        requires = "collector_configs"
    )]
    pub collector_image: Option<String>,
    /// The Prometheus CRD installed in the cluster (`kubectl get crd
    /// prometheuses.monitoring.coreos.com -o yaml`): checks that it knows every remoteWrite
    /// field the kube-prometheus-stack values set (needs --helm-values).
    #[arg(long, value_name = "FILE", requires = "helm_values")]
    pub crd: Option<PathBuf>,
    /// A Grafana data source: the HTTP API's JSON (`GET /api/datasources`, or one data
    /// source) or a provisioning YAML file (repeatable).
    #[arg(long = "grafana-datasource", value_name = "FILE")]
    pub grafana_datasources: Vec<PathBuf>,
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

/// What one `pipecheck diagnose` found: the files as loaded, and the findings over them
/// (redacted, sorted by file, line and column). What `run` prints; what tests compare.
pub struct Diagnosis {
    pub(crate) files: Vec<FileRef>,
    pub findings: Vec<Finding>,
}

impl Diagnosis {
    /// Exit code 1 when a finding is an error, else 0.
    pub fn exit_code(&self) -> u8 {
        u8::from(self.findings.iter().any(|f| f.severity == Severity::Error))
    }
}

/// Loads the files of `args` and runs every check: no output, no network.
pub fn diagnose_files(args: &DiagnoseArgs) -> Result<Diagnosis, DiagnoseError> {
    let collector_image = args
        .collector_image
        .as_deref()
        .map(|r| {
            Image::parse(r).map_err(|why| DiagnoseError::CollectorImage {
                reference: r.to_string(),
                why,
            })
        })
        .transpose()?;
    let mut inputs = Vec::new();
    let crd: Vec<PathBuf> = args.crd.iter().cloned().collect();
    for (role, paths) in [
        (Role::HelmValues, &args.helm_values),
        (Role::CollectorConfig, &args.collector_configs),
        (Role::TrustPolicy, &args.trust_policies),
        (Role::PermissionPolicy, &args.permission_policies),
        (Role::Crd, &crd),
        (Role::GrafanaDatasource, &args.grafana_datasources),
    ] {
        for p in paths {
            inputs.push(inputs::load(role, p)?);
        }
    }
    let settings = Settings {
        namespace: args.namespace.clone(),
        release: args.release.clone(),
        collector_image,
    };
    let findings = redacted(&inputs, diagnose(&inputs, settings));
    let files = inputs
        .iter()
        .map(|i| FileRef {
            name: i.name.clone(),
            role: i.role,
        })
        .collect();
    Ok(Diagnosis { files, findings })
}

/// Runs `pipecheck diagnose`; the exit code (0 or 1), or why it could not run (2).
pub fn run(args: DiagnoseArgs) -> Result<u8, DiagnoseError> {
    let started = Instant::now();
    if let Some(path) = &args.junit {
        junit::check_writable(path)?;
    }
    let Diagnosis { files, findings } = diagnose_files(&args)?;
    let out = match args.format {
        Format::Text => {
            // The same decision as `pipecheck run`'s (an empty NO_COLOR is unset).
            let color = pipecheck_reports::use_color(
                pipecheck_reports::ColorChoice::Auto,
                std::io::stdout().is_terminal(),
                std::env::var_os("NO_COLOR").as_deref(),
            );
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
            &render::junit_report(
                &files,
                args.collector_image.is_some(),
                &findings,
                started.elapsed(),
            ),
            path,
        )?;
        if args.format == Format::Text {
            let _ = writeln!(stdout, "junit report: {}", path.display());
        }
    }
    Ok(Diagnosis { files, findings }.exit_code())
}

/// Every check over the parsed files; findings sorted by file (in the order they were
/// loaded: helm values, collector configs, trust policies, permission policies, the CRD,
/// Grafana data sources), line and column. Pure: no I/O.
pub(crate) fn diagnose(inputs: &[Input], settings: Settings) -> Vec<Finding> {
    let mut ctx = Ctx::new(settings);
    // Writers first: they establish the identities, endpoints and accounts that the
    // policy checks reason with.
    for i in inputs.iter().filter(|i| i.role == Role::HelmValues) {
        values::check(&mut ctx, &i.name, i.yaml());
    }
    for c in inputs.iter().filter(|i| i.role == Role::Crd) {
        // `inputs::load` refused a file that is not the Prometheus CRD.
        let Ok(schema) = crd::read(c.yaml()) else {
            continue;
        };
        for v in inputs.iter().filter(|i| i.role == Role::HelmValues) {
            if let Some(root) = v.yaml().first() {
                crd::check(&mut ctx, &c.name, &schema, &v.name, root);
            }
        }
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
    for i in inputs.iter().filter(|i| i.role == Role::GrafanaDatasource) {
        match &i.body {
            inputs::Body::Yaml(docs) => {
                grafana::check(&mut ctx, &i.name, docs, Reader::Provisioning)
            }
            inputs::Body::Json(json) => {
                grafana::check(&mut ctx, &i.name, &[json.to_node()], Reader::Api)
            }
        }
    }
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
    use crate::inputs::Body;
    use crate::{json::JsonDoc, yaml};
    use clap::Parser;

    /// `pipecheck diagnose …` as the harness's CLI nests it.
    #[derive(Parser, Debug)]
    #[command(name = "pipecheck")]
    struct Cli {
        #[command(subcommand)]
        command: Command,
    }

    #[derive(clap::Subcommand, Debug)]
    enum Command {
        Diagnose(DiagnoseArgs),
    }

    fn yaml_input(role: Role, name: &str, text: &str) -> Input {
        Input {
            role,
            name: name.into(),
            body: Body::Yaml(yaml::parse(text).unwrap()),
        }
    }

    #[test]
    fn the_cli_takes_repeatable_files_and_needs_one() {
        let c = Cli::try_parse_from([
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
        let Command::Diagnose(a) = c.command;
        assert_eq!(a.helm_values.len(), 2);
        assert_eq!(a.format, Format::Json);
        assert_eq!(a.namespace.as_deref(), Some("obs"));
        assert_eq!(a.release, None);
        assert!(Cli::try_parse_from(["pipecheck", "diagnose"]).is_err());
        // The image needs a config, the CRD needs values; a data source alone is enough.
        let parse =
            |args: &[&str]| Cli::try_parse_from(["pipecheck", "diagnose"].iter().chain(args));
        assert!(
            parse(&[
                "--grafana-datasource",
                "d.json",
                "--collector-image",
                "v0.17.0"
            ])
            .is_err()
        );
        assert!(parse(&["--grafana-datasource", "d.json", "--crd", "c.yaml"]).is_err());
        assert!(parse(&["--grafana-datasource", "d.json"]).is_ok());
        assert!(
            parse(&[
                "--collector-config",
                "o.yaml",
                "--collector-image",
                "v0.17.0"
            ])
            .is_ok()
        );
        assert!(parse(&["--helm-values", "v.yaml", "--crd", "c.yaml"]).is_ok());
        // --help lists every check.
        let help = parse(&["--help"]).unwrap_err().to_string();
        for c in crate::CHECKS {
            assert!(help.contains(&format!("  {}  {}", c.id, c.title)), "{help}");
        }
        assert!(
            Cli::try_parse_from([
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
                    collector_image: None,
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
