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
use super::policies::{self, Kind as PolicyKind};
use super::recognize::{self, Kind, ValuesOf};
use super::render::{self, FileRef};
use super::secrets::Secrets;
use super::yaml::{self, Node, Pos};
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
    clap::ArgGroup::new("values_inputs")
        .multiple(true)
        .args(["files", "helm_values"])
), group(
    clap::ArgGroup::new("collector_inputs")
        .multiple(true)
        .args(["files", "collector_configs"])
), group(
    clap::ArgGroup::new("inputs")
        .required(true)
        .multiple(true)
        .args(["files", "helm_values", "trust_policies", "permission_policies", "collector_configs", "grafana_datasources"])
))]
pub struct DiagnoseArgs {
    /// Files of any kind diagnose reads, each recognised by its content: helm values
    /// (prometheus, kube-prometheus-stack, grafana, opentelemetry-collector charts), collector
    /// configs and the Kubernetes objects holding them, Grafana data sources, IAM policies.
    /// A flag below forces what a file is.
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,
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
    /// every component the configs use (needs --collector-config or a positional file);
    /// without it, the image a workload or chart values in the same file run is used.
    #[arg(
        long = "collector-image",
        value_name = "IMAGE",
        requires = "collector_inputs"
    )]
    pub collector_image: Option<String>,
    /// The Prometheus CRD installed in the cluster (`kubectl get crd
    /// prometheuses.monitoring.coreos.com -o yaml`): checks that it knows every remoteWrite
    /// field the kube-prometheus-stack values set (needs --helm-values).
    #[arg(long, value_name = "FILE", requires = "values_inputs")]
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
    /// Failure when a finding is an error, else success.
    pub fn exit(&self) -> pipecheck_reports::Exit {
        pipecheck_reports::Exit::failure_if(
            self.findings.iter().any(|f| f.severity == Severity::Error),
        )
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
        (Role::Auto, &args.files),
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
pub fn run(args: DiagnoseArgs) -> Result<pipecheck_reports::Exit, DiagnoseError> {
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
    Ok(Diagnosis { files, findings }.exit())
}

/// Every check over the parsed files; findings sorted by file (in the order they were
/// loaded: helm values, collector configs, trust policies, permission policies, the CRD,
/// Grafana data sources, then positional files), line and column. Pure: no I/O.
///
/// Every document is recognised first ([`recognize`]); the checks of its kind read it,
/// whatever flag named the file. A flag names what the file should be: a document of
/// another kind is still checked as what it is, with a D10 finding; one of no kind diagnose
/// knows is a D9 finding.
pub(crate) fn diagnose(inputs: &[Input], settings: Settings) -> Vec<Finding> {
    let mut ctx = Ctx::new(settings);
    let kinds: Vec<Vec<Kind>> = inputs
        .iter()
        .map(|i| i.docs().iter().map(recognize::document).collect())
        .collect();
    let routed: Vec<Vec<Route>> = inputs
        .iter()
        .zip(&kinds)
        .map(|(i, ks)| ks.iter().map(|k| route(i.role, k)).collect())
        .collect();
    for ((i, ks), rs) in inputs.iter().zip(&kinds).zip(&routed) {
        recognition(&mut ctx, i, ks, rs);
    }
    // Writers first: they establish the identities, endpoints and accounts that the
    // policy checks reason with.
    let mut values_docs: Vec<(&str, &Node)> = Vec::new();
    for ((i, ks), rs) in inputs.iter().zip(&kinds).zip(&routed) {
        if i.role == Role::HelmValues && i.docs().is_empty() {
            values::check(&mut ctx, &i.name, &[]);
        }
        for ((doc, k), r) in i.docs().iter().zip(ks).zip(rs) {
            if *r == Route::Values
                && !matches!(k, Kind::Values(ValuesOf::Grafana | ValuesOf::OtelCollector))
            {
                let root = values_root(doc);
                values::check(&mut ctx, &i.name, std::slice::from_ref(root));
                values_docs.push((&i.name, root));
            }
        }
    }
    // The CRD given as `--crd` (`inputs::load` refused a file that is not the Prometheus
    // CRD), or recognised in a positional file.
    for (c, _) in inputs.iter().zip(&kinds).filter(|(i, ks)| {
        i.role == Role::Crd || (i.role == Role::Auto && ks.contains(&Kind::PrometheusCrd))
    }) {
        let Ok(schema) = crd::read(c.yaml()) else {
            continue;
        };
        for (name, root) in &values_docs {
            crd::check(&mut ctx, &c.name, &schema, name, root);
        }
    }
    for ((i, ks), rs) in inputs.iter().zip(&kinds).zip(&routed) {
        collectors(&mut ctx, i, ks, rs);
    }
    for ((i, ks), rs) in inputs.iter().zip(&kinds).zip(&routed) {
        if let Some(json) = i.json()
            && (i.role == Role::TrustPolicy
                || (i.role != Role::PermissionPolicy
                    && ks
                        .iter()
                        .zip(rs)
                        .any(|(k, r)| *r != Route::Skip && *k == Kind::TrustPolicy)))
            && let Some(l) = policies::load(&mut ctx, &i.name, json, PolicyKind::Trust)
        {
            policies::trust(&mut ctx, &l);
        }
    }
    let perms: Vec<(&str, &super::json::JsonDoc)> = inputs
        .iter()
        .zip(&kinds)
        .zip(&routed)
        .filter(|((i, ks), rs)| {
            i.role == Role::PermissionPolicy
                || (i.role != Role::TrustPolicy
                    && ks
                        .iter()
                        .zip(rs.iter())
                        .any(|(k, r)| *r != Route::Skip && *k == Kind::PermissionPolicy))
        })
        .filter_map(|((i, _), _)| i.json().map(|j| (i.name.as_str(), j)))
        .collect();
    let loaded: Vec<policies::Loaded<'_>> = perms
        .iter()
        .filter_map(|(name, json)| policies::load(&mut ctx, name, json, PolicyKind::Permission))
        .collect();
    policies::permissions(&mut ctx, &loaded);
    for ((i, ks), rs) in inputs.iter().zip(&kinds).zip(&routed) {
        data_sources(&mut ctx, i, ks, rs);
    }
    for (i, ks) in inputs.iter().zip(&kinds) {
        common::check_file(&mut ctx, i, ks);
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

/// Which checks read a document.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    Values,
    Collector,
    Grafana,
    Policy,
    /// Nothing to check (another object, an empty or unknown document).
    Skip,
}

/// The checks for a document of kind `k` in a file given as `role`. A flagged file's
/// unknown document is read as the flag says when that reader takes any mapping (helm
/// values: every mapping is values of some chart).
fn route(role: Role, k: &Kind) -> Route {
    match k {
        Kind::Values(ValuesOf::OtelCollector) if role == Role::CollectorConfig => Route::Collector,
        Kind::Values(ValuesOf::Grafana) if role == Role::GrafanaDatasource => Route::Grafana,
        Kind::Values(_) => Route::Values,
        Kind::OtelConfig
        | Kind::PrometheusConfig
        | Kind::CollectorResource
        | Kind::CollectorConfigMap
        | Kind::CollectorWorkload => Route::Collector,
        Kind::GrafanaProvisioning
        | Kind::GrafanaApi
        | Kind::GrafanaResource
        | Kind::GrafanaConfigMap => Route::Grafana,
        Kind::TrustPolicy | Kind::PermissionPolicy => Route::Policy,
        Kind::PrometheusCrd => Route::Skip,
        Kind::Unknown(_) | Kind::Empty if role == Role::HelmValues => Route::Values,
        Kind::OtherObject(_) | Kind::Empty | Kind::Unknown(_) => Route::Skip,
    }
}

/// Whether a document routed to `r` is what the flag `role` promised.
fn fits(role: Role, r: Route, k: &Kind) -> bool {
    match role {
        Role::Auto => true,
        Role::HelmValues => matches!(k, Kind::Values(_)) || r == Route::Values,
        Role::CollectorConfig => {
            r == Route::Collector || matches!(k, Kind::Values(ValuesOf::OtelCollector))
        }
        Role::GrafanaDatasource => {
            r == Route::Grafana || matches!(k, Kind::Values(ValuesOf::Grafana))
        }
        Role::TrustPolicy | Role::PermissionPolicy => r == Route::Policy,
        Role::Crd => *k == Kind::PrometheusCrd,
    }
}

/// D9 (a file or document diagnose does not recognise) and D10 (a document that is not
/// what its flag says).
fn recognition(ctx: &mut Ctx, input: &Input, kinds: &[Kind], routes: &[Route]) {
    let docs = input.docs();
    let first = Pos { line: 1, column: 1 };
    if docs.is_empty() {
        // Empty helm values install the chart's defaults, and an empty collector config
        // has its own finding; anything else empty is nothing at all.
        if !matches!(input.role, Role::HelmValues | Role::CollectorConfig) {
            ctx.push(not_recognised(&input.name, first, "an empty file"));
        }
        return;
    }
    // Policies are judged by their own flag (a trust policy given as a permission policy
    // is D8's); the CRD was checked on loading.
    if matches!(
        input.role,
        Role::TrustPolicy | Role::PermissionPolicy | Role::Crd
    ) {
        return;
    }
    let any_checked = kinds
        .iter()
        .zip(routes)
        .any(|(k, r)| *r != Route::Skip || *k == Kind::PrometheusCrd);
    for ((doc, k), r) in docs.iter().zip(kinds).zip(routes) {
        match (k, r) {
            (Kind::Unknown(_), Route::Skip) => {
                ctx.push(not_recognised(&input.name, doc.pos, &k.said()));
            }
            (Kind::OtherObject(_) | Kind::Empty, Route::Skip) if !any_checked =>
            {
                ctx.push(not_recognised(&input.name, doc.pos, &k.said()));
            }
            (_, Route::Skip) => {}
            _ if !fits(input.role, *r, k) => ctx.push(Finding::new(
                "D10",
                Severity::Error,
                &input.name,
                doc.pos,
                "",
                format!(
                    "given as {}, but this is {}: it was checked as what it is, and wherever your deployment uses it as {} it does not work",
                    input.role.flag(),
                    k.said(),
                    role_said(input.role)
                ),
                format!(
                    "pass it with the flag for what it is, or without a flag (`pipecheck diagnose {}`), and check that your deployment uses it as that",
                    input.name
                ),
            )),
            _ => {}
        }
    }
    if matches!(routes, [Route::Policy, ..]) && input.json().is_none() {
        ctx.push(not_recognised(
            &input.name,
            docs[0].pos,
            "an IAM policy written in YAML (diagnose reads policies as the JSON IAM takes)",
        ));
    }
}

fn role_said(role: Role) -> &'static str {
    match role {
        Role::HelmValues => "helm values",
        Role::TrustPolicy => "a trust policy",
        Role::PermissionPolicy => "a permission policy",
        Role::CollectorConfig => "a collector config",
        Role::Crd => "the Prometheus CRD",
        Role::GrafanaDatasource => "a Grafana data source",
        Role::Auto => "what it is",
    }
}

fn not_recognised(file: &str, pos: Pos, what: &str) -> Finding {
    Finding::new(
        "D9",
        Severity::Error,
        file,
        pos,
        "",
        format!(
            "not recognised: this is {what}, and nothing was checked. diagnose looks for {}",
            recognize::LOOKED_FOR
        ),
        "pass the file that holds the setting (the values, config, data source or policy itself), or check that this one is complete",
    )
}

/// A values document's root: a HelmRelease's `spec.values`, or the document.
fn values_root(doc: &Node) -> &Node {
    match doc.get("kind").and_then(Node::str) {
        Some("HelmRelease") => doc.at(&["spec", "values"]).unwrap_or(doc),
        _ => doc,
    }
}

/// The image a file runs its collector configs in, when `--collector-image` was not
/// given: a workload's collector container, or the opentelemetry-collector chart's
/// `image:`.
fn file_image(input: &Input, kinds: &[Kind]) -> Option<Image> {
    input.docs().iter().zip(kinds).find_map(|(doc, k)| {
        let reference = match k {
            Kind::CollectorWorkload => recognize::containers(doc)
                .iter()
                .find_map(recognize::collector_image),
            Kind::Values(ValuesOf::OtelCollector) => recognize::chart_image(values_root(doc)),
            _ => None,
        }?;
        // An image with a placeholder is D1's; a reference that does not parse, no image.
        if !super::amp::find(&reference).is_empty() {
            return None;
        }
        Image::parse(&reference).ok()
    })
}

/// Collector configs of every kind: bare, in an OpenTelemetryCollector or a ConfigMap, in a
/// workload's environment, or the opentelemetry-collector chart's `config:`; L6 with the
/// file's own image when no `--collector-image` was given.
fn collectors(ctx: &mut Ctx, input: &Input, kinds: &[Kind], routes: &[Route]) {
    if input.role == Role::CollectorConfig && input.docs().is_empty() {
        collector::check(ctx, &input.name, &[]);
        return;
    }
    if !routes.contains(&Route::Collector)
        && !kinds.contains(&Kind::Values(ValuesOf::OtelCollector))
    {
        return;
    }
    let given = ctx.settings.collector_image.clone();
    if given.is_none() {
        ctx.settings.collector_image = file_image(input, kinds);
    }
    for ((doc, k), r) in input.docs().iter().zip(kinds).zip(routes) {
        if *r != Route::Collector && !matches!(k, Kind::Values(ValuesOf::OtelCollector)) {
            continue;
        }
        match k {
            Kind::Values(ValuesOf::OtelCollector) => {
                let root = values_root(doc);
                if let Some(cfg) = root.get("config").filter(|c| c.is_map()) {
                    let base = if std::ptr::eq(root, doc) {
                        "config".to_string()
                    } else {
                        "spec.values.config".to_string()
                    };
                    collector::check_at(ctx, &input.name, cfg, &base);
                }
            }
            Kind::CollectorWorkload => {
                for c in recognize::containers(doc) {
                    let Some((at, value)) = recognize::inline_config(&c) else {
                        continue;
                    };
                    match yaml::embedded(value) {
                        Some(Ok(inner)) => {
                            if let Some(d) = inner.first() {
                                collector::check_at(ctx, &input.name, d, &at);
                            }
                        }
                        Some(Err(e)) => ctx.push(Finding::new(
                            "L4",
                            Severity::Error,
                            &input.name,
                            e.pos,
                            &at,
                            format!(
                                "the collector config in `AOT_CONFIG_CONTENT` does not parse as YAML ({}): the collector exits at start",
                                e.message
                            ),
                            "fix the YAML of the config",
                        )),
                        None => {}
                    }
                }
            }
            _ => collector::check(ctx, &input.name, std::slice::from_ref(doc)),
        }
    }
    ctx.settings.collector_image = given;
}

/// Grafana data sources of every kind: provisioning files (bare, in a ConfigMap, in the
/// grafana chart's `datasources:` or kube-prometheus-stack's
/// `grafana.additionalDataSources`), the HTTP API's JSON, grafana-operator resources.
fn data_sources(ctx: &mut Ctx, input: &Input, kinds: &[Kind], routes: &[Route]) {
    let reader = match input.body {
        inputs::Body::Json(_) => Reader::Api,
        inputs::Body::Yaml(_) => Reader::Provisioning,
    };
    for ((doc, k), r) in input.docs().iter().zip(kinds).zip(routes) {
        match k {
            Kind::GrafanaProvisioning | Kind::GrafanaApi if *r == Route::Grafana => {
                grafana::check_at(ctx, &input.name, doc, reader, "");
            }
            Kind::GrafanaResource => {
                if let Some(ds) = doc.at(&["spec", "datasource"]) {
                    grafana::check_at(
                        ctx,
                        &input.name,
                        ds,
                        Reader::Provisioning,
                        "spec.datasource",
                    );
                } else if let Some(spec) = doc.get("spec") {
                    grafana::check_at(ctx, &input.name, spec, Reader::Provisioning, "spec");
                }
            }
            Kind::GrafanaConfigMap => {
                for e in doc.get("data").map(Node::entries).unwrap_or_default() {
                    if let Some(Ok(inner)) = yaml::embedded(&e.value)
                        && let Some(d) = inner.first()
                        && recognize::document(d) == Kind::GrafanaProvisioning
                    {
                        let at = pipecheck_policy::path::key("data", &e.key);
                        grafana::check_at(ctx, &input.name, d, Reader::Provisioning, &at);
                    }
                }
            }
            Kind::Values(ValuesOf::Grafana) => {
                let root = values_root(doc);
                let base = if std::ptr::eq(root, doc) {
                    ""
                } else {
                    "spec.values"
                };
                let at = pipecheck_policy::path::key(base, "datasources");
                for e in root
                    .get("datasources")
                    .map(Node::entries)
                    .unwrap_or_default()
                {
                    if e.value.is_map() {
                        let file_at = pipecheck_policy::path::key(&at, &e.key);
                        grafana::check_at(
                            ctx,
                            &input.name,
                            &e.value,
                            Reader::Provisioning,
                            &file_at,
                        );
                    }
                }
            }
            Kind::Values(ValuesOf::KubePrometheusStack) => {
                let root = values_root(doc);
                let base = if std::ptr::eq(root, doc) {
                    ""
                } else {
                    "spec.values"
                };
                if let Some(list) = root
                    .at(&["grafana", "additionalDataSources"])
                    .filter(|l| l.is_seq())
                {
                    let at = pipecheck_policy::path::key(
                        &pipecheck_policy::path::key(base, "grafana"),
                        "additionalDataSources",
                    );
                    grafana::check_at(ctx, &input.name, list, Reader::Provisioning, &at);
                }
            }
            _ => {}
        }
    }
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
        Input::new(role, name, Body::Yaml(yaml::parse(text).unwrap()))
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
        // Positional files of any kind; they take the image and the CRD too.
        let Command::Diagnose(a) = parse(&["v.yaml", "t.json", "--collector-image", "v0.17.0"])
            .unwrap()
            .command;
        assert_eq!(a.files.len(), 2);
        assert!(parse(&["v.yaml", "--crd", "c.yaml"]).is_ok());
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
        let trust = Input::new(
            Role::TrustPolicy,
            "t.json",
            Body::Json(JsonDoc::parse(r#"{"Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#).unwrap()),
        );
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

    fn run(inputs: &[Input], image: Option<&str>) -> Vec<(&'static str, Severity, usize)> {
        let settings = Settings {
            namespace: None,
            release: None,
            collector_image: image.map(|i| Image::parse(i).unwrap()),
        };
        diagnose(inputs, settings)
            .iter()
            .map(|f| (f.id, f.severity, f.line))
            .collect()
    }

    #[test]
    fn a_workloads_image_checks_the_config_beside_it_unless_the_flag_says_otherwise() {
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  config.yaml: |\n    extensions:\n      sigv4auth:\n        region: us-east-1\n        service: aps\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  template:\n    spec:\n      containers:\n        - image: public.ecr.aws/aws-observability/aws-otel-collector:v0.17.0\n";
        let input = yaml_input(Role::Auto, "c.yaml", text);
        assert_eq!(
            run(std::slice::from_ref(&input), None),
            [("L6", Severity::Error, 8)]
        );
        assert!(run(std::slice::from_ref(&input), Some("v0.40.0")).is_empty());
    }

    #[test]
    fn unrecognised_and_misflagged_documents() {
        let unknown = yaml_input(Role::Auto, "u.yaml", "services:\n  web: {}\n");
        assert_eq!(run(&[unknown], None), [("D9", Severity::Error, 1)]);
        // Beside a recognised document, another object is skipped; alone, it is D9.
        let sa = "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: s\n";
        let alone = yaml_input(Role::Auto, "sa.yaml", sa);
        assert_eq!(run(&[alone], None), [("D9", Severity::Error, 1)]);
        let beside = yaml_input(
            Role::Auto,
            "sa.yaml",
            &format!("{sa}---\nremote_write: []\n"),
        );
        assert!(run(&[beside], None).is_empty());
        // A collector config given as a Grafana data source: D10, and still checked.
        let otel = yaml_input(
            Role::GrafanaDatasource,
            "o.yaml",
            "exporters:\n  prometheusremotewrite:\n    endpoint: https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-12345678-abcd-ef01-2345-6789abcdef01/api/v1/remote_write\n",
        );
        assert_eq!(
            run(&[otel], None),
            [("D10", Severity::Error, 1), ("L4", Severity::Error, 2)]
        );
        // An empty positional file is nothing at all; empty helm values are the defaults.
        let empty = yaml_input(Role::Auto, "e.yaml", "");
        assert_eq!(run(&[empty], None), [("D9", Severity::Error, 1)]);
        let values = yaml_input(Role::HelmValues, "v.yaml", "");
        assert_eq!(run(&[values], None), [("L1", Severity::Info, 1)]);
    }
}
