//! The `pipecheck` command line: parses flags, checks everything that can be checked
//! before a run starts (scenarios, faults, the report path), runs, renders, and maps the
//! outcome to the exit code contract: 0 passed (warnings allowed), 1 a check failed,
//! 2 the run could not start.

pub mod docs;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use pipecheck_reports::Exit;
use pipecheck_reports::{
    ColorChoice, Console, ReportFile, ReportFileError, ReportKind, RunEvent, RunInfo, RunReport,
    RunStatus, ScenarioReport, console::DEFAULT_TERMINAL_WIDTH, use_color,
};
use tokio::sync::mpsc;

use crate::faults::{self, CATALOG, Fault};
use crate::run::{Interrupt, RunError, RunOptions, ScenarioProgress, run_scenario};
use crate::scenario::{Scenario, ScenarioError};
use crate::target::TargetKind;

#[derive(Parser, Debug)]
#[command(
    name = "pipecheck",
    version,
    about = "End-to-end conformance checks for metrics pipelines: collector -> Amazon Managed Service for Prometheus -> Grafana"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run scenarios: push canary metrics through the pipeline and check every link.
    Run(RunArgs),
    /// Run scenarios on an interval until stopped (SIGINT/SIGTERM), as Prometheus metrics
    /// (/metrics), the last reports (/ and /report.json) and /healthz; a fixed set of
    /// canary series and one Grafana token per scenario, whatever the number of runs.
    Watch(crate::watch::WatchArgs),
    /// Serve the mock stack on loopback and print its endpoints as shell exports.
    Mock(MockArgs),
    /// List the shipped scenarios.
    Scenarios,
    /// List the faults the mock target can inject, with their catalog ids.
    Faults,
    /// Static findings on your files (helm values, IAM policies, collector configs and
    /// their image, the installed Prometheus CRD, Grafana data sources): offline,
    /// read-only, no credentials. Exit 1 when a finding is an error.
    Diagnose(pipecheck_diagnose::DiagnoseArgs),
    /// Read-only checks of a scenario against many accounts at once (profiles or an
    /// accounts file): one table row and one JUnit testsuite per account; exit 1 when any
    /// account is not ready.
    Readiness(crate::readiness::ReadinessArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(docs::CompletionsArgs),
    /// Print the man page (roff), or write one per subcommand with --out-dir.
    Man(docs::ManArgs),
    /// Find every collector that writes to AMP from an EKS cluster (OpenTelemetryCollector
    /// and Prometheus resources, Deployments/DaemonSets/StatefulSets whose config names an
    /// aps-workspaces URL, AMP scrapers of the cluster) with its identity mechanism and
    /// workspace; read-only. Exit 0 when one is found, 1 when none is.
    Discover(DiscoverArgs),
    /// Find what earlier `run --provision` runs left (AWS resources tagged pipecheck-run,
    /// labelled namespaces, Grafana objects named pipecheck-pc-…) and delete it; exit 1
    /// when something could not be deleted.
    Sweep(crate::provision::SweepArgs),
}

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub target: crate::target::TargetArgs,
    /// A shipped scenario's name or a path to a scenario YAML file (repeatable).
    #[arg(long = "scenario", value_name = "NAME|FILE", default_value = "smoke")]
    pub scenarios: Vec<String>,
    /// Where to write the JUnit report.
    #[arg(long, value_name = "PATH", default_value = "pipecheck-report.xml")]
    pub junit: PathBuf,
    /// What stdout gets: the console text, or one JSON document at the end (schema:
    /// reports/schema/report-v1.schema.json), the console text then going to stderr.
    #[arg(long, value_enum, default_value = "text")]
    pub format: OutputFormat,
    /// Also write a self-contained HTML report: the chain as a graph, the root cause on
    /// top, every link's verdict, hint and evidence.
    #[arg(long, value_name = "PATH")]
    pub html: Option<PathBuf>,
    /// Also write a short Markdown summary, e.g. to $GITHUB_STEP_SUMMARY in GitHub Actions.
    #[arg(long, value_name = "PATH")]
    pub summary: Option<PathBuf>,
    /// Color the console: auto (on a terminal, unless NO_COLOR is set), always, never.
    #[arg(long, value_enum, default_value = "auto", value_name = "WHEN")]
    pub color: ColorArg,
    /// Inject a fault into the mock (catalog id like F04, or a name; repeatable).
    #[arg(long = "fault", value_name = "ID|NAME")]
    pub faults: Vec<String>,
    /// The collector binary for collector scenarios run as a process (e.g. an otelcol or
    /// an upstream prometheus build).
    #[arg(long, value_name = "PATH")]
    pub collector_bin: Option<String>,
    /// The collector image for collector scenarios run as a container.
    #[arg(long, value_name = "IMAGE")]
    pub collector_image: Option<String>,
    /// Create what the scenario needs and is missing (an AMP workspace unless --workspace;
    /// for a cluster scenario the collector's IAM role and, in a namespace of the run's,
    /// its service account, the collector and a canary target), tagged
    /// pipecheck-run=<run id>, and remove it at the end, on failure and on Ctrl-C.
    #[arg(long)]
    pub provision: bool,
    /// With --provision: leave what was created (remove it later with `pipecheck sweep`).
    #[arg(long, requires = "provision")]
    pub keep: bool,
    /// With --provision: print what would be created (kind, name, tags) and exit 0,
    /// calling nothing.
    #[arg(long, requires = "provision")]
    pub plan: bool,
}

/// `--format`: what `pipecheck run` prints on stdout.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    Text,
    Json,
}

/// `--color`, as clap parses it.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColorArg {
    Auto,
    Always,
    Never,
}

impl From<ColorArg> for ColorChoice {
    fn from(c: ColorArg) -> Self {
        match c {
            ColorArg::Auto => ColorChoice::Auto,
            ColorArg::Always => ColorChoice::Always,
            ColorArg::Never => ColorChoice::Never,
        }
    }
}

impl RunArgs {
    /// Every report file this invocation writes: the JUnit report, then the optional ones.
    pub fn report_files(&self) -> Vec<ReportFile> {
        let mut files = vec![ReportFile::new(ReportKind::Junit, &self.junit)];
        files.extend(
            self.html
                .iter()
                .map(|p| ReportFile::new(ReportKind::Html, p)),
        );
        files.extend(
            self.summary
                .iter()
                .map(|p| ReportFile::new(ReportKind::Summary, p)),
        );
        files
    }
}

#[derive(clap::Args, Debug)]
pub struct DiscoverArgs {
    /// Where the cluster is: the mock stack (a cluster holding every collector shape the
    /// mock supports) or real AWS with a kubeconfig.
    #[arg(long, value_enum, default_value = "mock")]
    pub target: TargetKind,
    /// The EKS cluster (else PIPECHECK_CLUSTER, else the kubeconfig context's EKS ARN).
    #[arg(long = "cluster", value_name = "NAME")]
    pub cluster_name: Option<String>,
    /// AWS region (else the environment's).
    #[arg(long)]
    pub region: Option<String>,
    /// The kubeconfig to read (else KUBECONFIG, else ~/.kube/config).
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context (else its current context).
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// Write one scenario file per collector a cluster scenario kind checks into DIR
    /// (created if missing), for `pipecheck run --scenario FILE`.
    #[arg(long, value_name = "DIR")]
    pub write_scenarios: Option<PathBuf>,
    /// What stdout gets: a table, or one JSON document.
    #[arg(long, value_enum, default_value = "text")]
    pub format: OutputFormat,
}

#[derive(clap::Args, Debug)]
pub struct MockArgs {
    /// First port to listen on (AMP; STS on the next). 0 picks free ports.
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    #[arg(long, default_value = "us-east-1")]
    pub region: String,
    /// Answer the first N remote writes with 429, then accept (the mechanism of F07
    /// `throttled-transient`, with a count; for testing a writer's retries).
    #[arg(long, value_name = "N")]
    pub throttle_remote_writes: Option<u32>,
    /// Inject a fault into the mock's state (catalog id or name; repeatable). Faults of
    /// the harness's own side (its writer, canary, collector) need `pipecheck run`.
    #[arg(long = "fault", value_name = "ID|NAME")]
    pub faults: Vec<String>,
}

/// Why an invocation did not complete; each maps to an exit code.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    #[error("unknown fault {0:?}: see `pipecheck faults` for ids and names")]
    UnknownFault(String),
    #[error("--fault needs --target mock: faults are injected into the mock stack")]
    FaultOnAws,
    #[error(transparent)]
    Report(#[from] ReportFileError),
    #[error(transparent)]
    Run(#[from] RunError),
    #[error("failed to start the mock stack")]
    Mock(#[from] pipecheck_mocks::StartError),
    #[error("failed to start the async runtime")]
    Runtime(#[source] std::io::Error),
    #[error(transparent)]
    Diagnose(#[from] pipecheck_diagnose::DiagnoseError),
    #[error(transparent)]
    Readiness(#[from] crate::readiness::ReadinessError),
    #[error(transparent)]
    Docs(#[from] docs::DocsError),
    #[error(
        "fault {0} changes the harness's side (its credentials, writer, canary, collector or Grafana token), not the mock: inject it with `pipecheck run --fault`"
    )]
    NotAMockFault(String),
    #[error("failed to inject faults into the mock's cluster: {0}")]
    MockCluster(String),
    #[error(transparent)]
    Sweep(#[from] crate::provision::SweepError),
    #[error(
        "--provision makes an ADOT or Prometheus-chart collector; scenario {scenario} runs a {kind} collector, which pipecheck checks but does not provision"
    )]
    NotProvisionable {
        scenario: String,
        kind: &'static str,
    },
    #[error(transparent)]
    Discover(#[from] crate::discover::DiscoverError),
    #[error(transparent)]
    Watch(#[from] crate::watch::WatchError),
    #[error(
        "scenario {0} names no collector: --provision creates a named one (set cluster.collector and cluster.namespace)"
    )]
    ProvisionUnnamed(String),
}

impl CliError {
    /// Every refusal of the CLI: the command could not start or read what it needs.
    pub fn exit(&self) -> Exit {
        Exit::Unusable
    }
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            // --help and --version print to stdout and succeed; the rest is a bad flag.
            let exit = if e.use_stderr() {
                Exit::Unusable
            } else {
                Exit::Success
            };
            let _ = e.print();
            return exit.into();
        }
    };
    init_tracing();
    match dispatch(cli) {
        Ok(exit) => exit.into(),
        Err(e) => {
            eprintln!("pipecheck: {}", crate::error_line(&e));
            e.exit().into()
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PIPECHECK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(CliError::Runtime)
}

fn dispatch(cli: Cli) -> Result<Exit, CliError> {
    match cli.command {
        Command::Scenarios => {
            for s in Scenario::builtins() {
                println!("{:<12} {}", s.name, s.description);
            }
            Ok(Exit::Success)
        }
        Command::Faults => {
            for f in CATALOG {
                println!("{}  {:<34} {:<42} {}", f.id, f.name, f.links(), f.summary);
            }
            Ok(Exit::Success)
        }
        Command::Run(args) => run(args),
        Command::Mock(args) => mock(args),
        Command::Diagnose(args) => Ok(pipecheck_diagnose::run(args)?),
        Command::Readiness(args) => Ok(crate::readiness::run(args)?),
        Command::Completions(args) => Ok(docs::completions(
            <Cli as clap::CommandFactory>::command(),
            args,
        )?),
        Command::Man(args) => Ok(docs::man(<Cli as clap::CommandFactory>::command(), args)?),
        Command::Sweep(args) => Ok(crate::provision::sweep(args)?),
        Command::Discover(args) => discover(args),
        Command::Watch(args) => runtime()?.block_on(async {
            let mut stop = StopSignals::catch();
            Ok(crate::watch::watch(args, async move { stop.wait().await }).await?)
        }),
    }
}

/// `--plan --target aws`: what each scenario's run would use rather than create, read.
fn plan_uses(args: &RunArgs, scenarios: &[Scenario]) -> Result<String, CliError> {
    let env = crate::target::Environment::Process;
    runtime()?.block_on(async {
        let mut out = String::new();
        for s in scenarios {
            let t = &args.target;
            let region = t.region.clone().or_else(|| s.target.region.clone());
            let ws = t
                .workspace_id
                .clone()
                .or_else(|| s.target.workspace_id.clone())
                .or_else(|| env.var("PIPECHECK_WORKSPACE_ID"));
            let target = crate::target::Target::aws(&env, region, ws)
                .await
                .map_err(RunError::from)?
                .with_grafana(crate::target::GrafanaSettings::for_aws(
                    &env,
                    t.grafana_workspace_id.clone(),
                    t.grafana_url.clone(),
                    s.target.grafana_workspace_id.clone(),
                ));
            out.push_str(&format!("scenario {} uses (read, not changed):\n", s.name));
            out.push_str(&crate::provision::existing(&target, s, s.expect.request_timeout).await);
        }
        Ok(out)
    })
}

/// `pipecheck discover`: success when a collector was found, failure when none was,
/// unusable when the cluster could not be read (CliError).
fn discover(args: DiscoverArgs) -> Result<Exit, CliError> {
    let opts = crate::discover::DiscoverOptions {
        target: args.target,
        cluster: args.cluster_name,
        region: args.region,
        kube: crate::target::KubeSettings {
            kubeconfig: args.kubeconfig,
            context: args.context,
        },
        write_scenarios: args.write_scenarios,
    };
    let report = runtime()?.block_on(crate::discover::run(&opts))?;
    let (d, written) = (&report.discovery, &report.written);
    let text = match args.format {
        OutputFormat::Text => crate::discover::text(d, written),
        OutputFormat::Json => format!("{:#}\n", crate::discover::json(d, written)),
    };
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
    Ok(Exit::failure_if(d.collectors.is_empty()))
}

/// The scenarios and faults of `run`, or why they are refused: everything that can be
/// refused is refused before anything starts.
fn run_inputs(args: &RunArgs) -> Result<(Vec<Scenario>, Vec<&'static Fault>), CliError> {
    let scenarios = args
        .scenarios
        .iter()
        .map(|s| Scenario::load(s))
        .collect::<Result<Vec<_>, _>>()?;
    // An id with several forms (F15, F18 …) picks the form that applies to the scenarios.
    let faults: Vec<&'static Fault> = args
        .faults
        .iter()
        .map(|f| faults::choose(f, &scenarios).ok_or_else(|| CliError::UnknownFault(f.clone())))
        .collect::<Result<_, _>>()?;
    if !faults.is_empty() && args.target.kind != TargetKind::Mock {
        return Err(CliError::FaultOnAws);
    }
    for s in &scenarios {
        crate::faults::resolve_faults(s, &faults).map_err(RunError::from)?;
        if args.provision
            && let Some(c) = s.cluster.as_ref().filter(|c| !c.kind.provisionable())
        {
            return Err(CliError::NotProvisionable {
                scenario: s.name.clone(),
                kind: c.kind.as_str(),
            });
        }
        if args.provision && s.cluster.as_ref().is_some_and(|c| !c.names_collector()) {
            return Err(CliError::ProvisionUnnamed(s.name.clone()));
        }
    }
    Ok((scenarios, faults))
}

fn run(args: RunArgs) -> Result<Exit, CliError> {
    let (scenarios, faults) = run_inputs(&args)?;
    if args.plan {
        print!(
            "{}",
            crate::provision::plans(&scenarios, args.target.workspace_id.is_some())
        );
        if args.target.kind == TargetKind::Aws {
            print!("{}", plan_uses(&args, &scenarios)?);
        } else {
            println!("(mock: every run starts a fresh mock stack, so nothing exists before it)");
        }
        return Ok(Exit::Success);
    }
    let report_files = args.report_files();
    pipecheck_reports::file::check_all(&report_files)?;
    let started = (std::time::SystemTime::now(), std::time::Instant::now());
    let (target, format) = (args.target.kind.as_str(), args.format);
    let opts = RunOptions {
        faults,
        collector_bin: args.collector_bin,
        collector_image: args.collector_image,
        provision: args.provision,
        keep: args.keep,
        ..RunOptions::on(args.target)
    };

    let rt = runtime()?;
    let (report, failure, console, interrupted) = rt.block_on(async {
        let mut stop = StopSignals::catch();
        let interrupt = Interrupt::default();
        let (tx, mut rx) = mpsc::unbounded_channel::<RunEvent>();
        let console = console_for(format, args.color.into());
        let printer = tokio::task::spawn_blocking(move || {
            let mut console = console;
            while let Some(ev) = rx.blocking_recv() {
                let _ = console.on_event(&ev);
            }
            console
        });
        let mut runs = InFlight::spawn_all(&scenarios, &opts, &interrupt);
        let mut suites = Vec::new();
        let mut failure = None;
        // Ctrl-C or SIGTERM stops the run: what it started is removed before exiting.
        let interrupted = tokio::select! {
            _ = InFlight::finish_all(&mut runs, &tx, &mut suites, &mut failure) => None,
            signal = stop.wait() => Some(signal),
        };
        if let Some(signal) = interrupted {
            // Every session stops its links, removes what it made (hurried) and hands back
            // its partial report; what it says meanwhile (its teardown) reaches the console.
            // Bounded, and a second signal stops the wait.
            interrupt.fire(signal);
            tokio::select! {
                _ = InFlight::unwind_all(&mut runs, &tx, &mut suites) => {}
                _ = stop.wait() => {}
                _ = tokio::time::sleep(UNWIND_WITHIN) => {}
            }
            InFlight::give_up(&mut runs, signal, &mut suites);
        }
        drop(tx);
        let console = printer.await.ok();
        (RunReport { suites }, failure, console, interrupted)
    });
    if let Some(signal) = interrupted {
        drop(rt);
        return Ok(report_interrupted(
            signal,
            &report,
            &report_files,
            run_info(target, started, RunStatus::Interrupted),
            format,
        ));
    }
    if let Some(e) = failure {
        return Err(e.into());
    }
    let info = run_info(target, started, RunStatus::of(&report, false));
    let mut console = console;
    for file in &report_files {
        file.write(&report, &info)?;
        if let Some(c) = console.as_mut() {
            c.report_written(file.kind.console_name(), &file.path);
        }
    }
    if format == OutputFormat::Json {
        print_json(&report, &info);
    }
    Ok(info.status.exit())
}

/// The console for `pipecheck run`: on stdout, or on stderr when stdout carries the JSON
/// document. Colored per `--color` and `NO_COLOR`; progress only on a terminal (a CI log
/// or a pipe gets the finished lines only).
fn console_for(format: OutputFormat, color: ColorChoice) -> Console<Box<dyn Write + Send>> {
    let (out, is_terminal, fd): (Box<dyn Write + Send>, bool, i32) = match format {
        OutputFormat::Text => (
            Box::new(std::io::stdout()),
            std::io::stdout().is_terminal(),
            libc::STDOUT_FILENO,
        ),
        OutputFormat::Json => (
            Box::new(std::io::stderr()),
            std::io::stderr().is_terminal(),
            libc::STDERR_FILENO,
        ),
    };
    let no_color = std::env::var_os("NO_COLOR");
    let width = is_terminal.then(|| terminal_width(fd).unwrap_or(DEFAULT_TERMINAL_WIDTH));
    Console::new(out, use_color(color, is_terminal, no_color.as_deref())).with_progress(width)
}

/// The width of the terminal on `fd`, if the kernel says (TIOCGWINSZ).
fn terminal_width(fd: i32) -> Option<usize> {
    let mut size = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one `winsize` through the pointer, which is valid and
    // exclusively borrowed for the call; a non-terminal fd only makes it fail.
    let ok = unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut size) } == 0;
    (ok && size.ws_col > 0).then_some(usize::from(size.ws_col))
}

fn run_info(
    target: &str,
    (wall, clock): (std::time::SystemTime, std::time::Instant),
    status: RunStatus,
) -> RunInfo {
    RunInfo {
        target: target.to_string(),
        started: wall,
        duration: clock.elapsed(),
        status,
    }
}

/// The `--format json` document on stdout. A reader that closed the pipe has chosen not
/// to read it; that is no reason to change the exit code.
fn print_json(report: &RunReport, info: &RunInfo) {
    // Rendering JSON cannot fail (only JUnit's serializer can).
    let Ok(doc) = pipecheck_reports::file::render(ReportKind::Json, report, info) else {
        return;
    };
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(doc.as_bytes()).and_then(|()| out.flush());
}

/// One scenario of an invocation, running on the runtime.
type ScenarioTask = tokio::task::JoinHandle<Result<pipecheck_reports::ScenarioReport, RunError>>;

/// One scenario's run in flight: its task, and its events on their way to the console.
struct InFlight {
    events: mpsc::UnboundedReceiver<RunEvent>,
    task: Option<ScenarioTask>,
    /// Its events so far: the partial report of a run that does not end in time.
    seen: ScenarioProgress,
}

impl InFlight {
    /// Starts every scenario. Mock scenarios run concurrently, each on its own mock stack;
    /// collector scenarios and every scenario against real AWS take turns, in
    /// command-line order (each waits for the previous one to end).
    fn spawn_all(scenarios: &[Scenario], opts: &RunOptions, interrupt: &Interrupt) -> Vec<Self> {
        let mut last_turn: Option<tokio::sync::oneshot::Receiver<()>> = None;
        scenarios
            .iter()
            .map(|s| {
                let (stx, events) = mpsc::unbounded_channel::<RunEvent>();
                let (s, opts, interrupt) = (s.clone(), opts.clone(), interrupt.clone());
                let alone = opts.target != TargetKind::Mock || s.collector.is_some();
                let (wait, turn) = if alone {
                    let (end, ended) = tokio::sync::oneshot::channel::<()>();
                    (last_turn.replace(ended), Some(end))
                } else {
                    (None, None)
                };
                let task = tokio::spawn(async move {
                    if let Some(previous) = wait {
                        let _ = previous.await;
                    }
                    let report = run_scenario(&s, &opts, &stx, &interrupt).await;
                    drop(turn);
                    report
                });
                InFlight {
                    events,
                    task: Some(task),
                    seen: ScenarioProgress::default(),
                }
            })
            .collect()
    }

    /// Relays its events to `tx` (none when `quiet`) until its task ends; how it ended.
    /// None when it already had.
    async fn relay_to_end(
        &mut self,
        tx: &mpsc::UnboundedSender<RunEvent>,
        quiet: bool,
    ) -> Option<Result<Result<ScenarioReport, RunError>, tokio::task::JoinError>> {
        let task = self.task.as_mut()?;
        let done = loop {
            tokio::select! {
                biased;
                Some(ev) = self.events.recv(), if !quiet => {
                    self.seen.record(&ev);
                    let _ = tx.send(ev);
                }
                r = &mut *task => break r,
            }
        };
        self.task = None;
        while let Ok(ev) = self.events.try_recv() {
            if !quiet {
                self.seen.record(&ev);
                let _ = tx.send(ev);
            }
        }
        match done {
            // A bug: shown as one, not as a scenario that did not report.
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            done => Some(done),
        }
    }

    /// Each run to its end, in command-line order, so the console stays grouped per
    /// scenario (the first live, the others once those before them are done). After a
    /// scenario that could not start, the rest finish unreported.
    async fn finish_all(
        runs: &mut [Self],
        tx: &mpsc::UnboundedSender<RunEvent>,
        suites: &mut Vec<ScenarioReport>,
        failure: &mut Option<RunError>,
    ) {
        for run in runs {
            match run.relay_to_end(tx, failure.is_some()).await {
                Some(Ok(Ok(r))) if failure.is_none() => suites.push(r),
                Some(Ok(Err(e))) => {
                    failure.get_or_insert(e);
                }
                _ => {}
            }
        }
    }

    /// After an interrupt: each run's partial report, as its session hands it back once
    /// it has removed what it made.
    async fn unwind_all(
        runs: &mut [Self],
        tx: &mpsc::UnboundedSender<RunEvent>,
        suites: &mut Vec<ScenarioReport>,
    ) {
        for run in runs {
            // Not started, or could not start: nothing of it to report.
            if let Some(Ok(Ok(r))) = run.relay_to_end(tx, false).await {
                suites.push(r);
            }
        }
    }

    /// A session that did not end in time: the partial report its events make (the
    /// process's end stops its collector: kill-on-drop, and the parent-death signal).
    fn give_up(runs: &mut [Self], signal: &str, suites: &mut Vec<ScenarioReport>) {
        for run in runs {
            let Some(task) = run.task.take() else {
                continue;
            };
            task.abort();
            while let Ok(ev) = run.events.try_recv() {
                run.seen.record(&ev);
            }
            suites.extend(run.seen.interrupted(signal));
        }
    }
}

/// The end of an interrupted run: its last line (what its sessions removed), then the
/// partial reports (finished scenarios whole, the others with their unfinished links
/// marked interrupted), best effort, since the run is over either way.
fn report_interrupted(
    signal: &str,
    report: &RunReport,
    report_files: &[ReportFile],
    info: RunInfo,
    format: OutputFormat,
) -> Exit {
    eprintln!("pipecheck: interrupted by {signal}{}", undone_lines(report));
    if !report.suites.is_empty() {
        for file in report_files {
            match file.write(report, &info) {
                Ok(()) => eprintln!(
                    "pipecheck: partial {}: {} (unfinished links marked interrupted)",
                    file.kind.console_name(),
                    file.path.display()
                ),
                Err(e) => eprintln!("pipecheck: {}", crate::error_line(&e)),
            }
        }
    }
    if format == OutputFormat::Json {
        print_json(report, &info);
    }
    Exit::Interrupted
}

fn mock(args: MockArgs) -> Result<Exit, CliError> {
    use pipecheck_mocks::{MockConfig, MockStack};
    let faults: Vec<&'static Fault> = args
        .faults
        .iter()
        .map(|f| faults::find(f).ok_or_else(|| CliError::UnknownFault(f.clone())))
        .collect::<Result<_, _>>()?;
    let standalone_err = |e| match e {
        faults::StandaloneError::HarnessSide(f) => {
            CliError::NotAMockFault(format!("{} {}", f.id, f.name))
        }
        faults::StandaloneError::Cluster(why) => CliError::MockCluster(why),
    };
    // The cluster's shape is the one the faults break (the adot add-on's by default).
    let cluster = faults::standalone_cluster(&faults).map_err(standalone_err)?;
    let rt = runtime()?;
    rt.block_on(async {
        let mut stop = StopSignals::catch();
        let stack = MockStack::start(MockConfig {
            region: args.region.clone(),
            port: args.port,
            cluster: Some(crate::cluster::mock_shape(&cluster).seed()),
            ..MockConfig::default()
        })
        .await?;
        if let Some(n) = args.throttle_remote_writes {
            let throttle = pipecheck_mocks::amp::Throttle::Next(n);
            stack
                .inject(&pipecheck_mocks::MockFault::Throttle(throttle))
                .map_err(|e| CliError::MockCluster(e.to_string()))?;
        }
        faults::inject_standalone(&stack, &cluster, &faults).map_err(standalone_err)?;
        let ep = stack.endpoints();
        let ws = ep.workspace_id.clone().unwrap_or_default();
        // Every service the stack serves, from the one table (EC2 and the cluster's
        // services only with a cluster, the AMG control plane only with Grafana).
        let mut exports: Vec<(&str, String)> = crate::services::Service::mock_endpoint_vars(ep);
        let lines = [
            ("AWS_ACCESS_KEY_ID", ep.user.access_key_id.clone()),
            ("AWS_SECRET_ACCESS_KEY", ep.user.secret_access_key.clone()),
            ("AWS_REGION", ep.region.clone()),
            ("PIPECHECK_WORKSPACE_ID", ws.clone()),
            ("PIPECHECK_REMOTE_WRITE_URL", ep.remote_write_url(&ws)),
            ("PIPECHECK_QUERY_URL", ep.query_url(&ws)),
        ];
        // Every export goes out in one write, and a reader that stops reading early (a
        // closed pipe) must not bring the mock down: the writes' errors are ignored.
        exports.extend(lines);
        // The Grafana side: the AMG control plane, the workspace's Grafana, and an ADMIN
        // service-account token for the session (AMG's longest: 30 days).
        if let (Some(gws), Some(gurl)) = (&ep.grafana_workspace_id, &ep.grafana_url) {
            let token = stack
                .amg
                .issue_token(
                    gws,
                    pipecheck_mocks::amg::GrafanaRole::Admin,
                    std::time::Duration::from_secs(30 * 24 * 3600),
                )
                .unwrap_or_default();
            let grafana = [
                ("PIPECHECK_GRAFANA_WORKSPACE_ID", gws.clone()),
                ("PIPECHECK_GRAFANA_URL", gurl.clone()),
                ("PIPECHECK_GRAFANA_TOKEN", token),
            ];
            exports.extend(grafana);
        }
        // The cluster side: EKS, IAM (signed for us-east-1 whatever the region), EC2, and
        // the mock cluster's kubeconfig, so `--target aws` cluster scenarios run against it.
        if let Some(cluster) = &ep.cluster_name {
            let lines = [
                ("KUBECONFIG", ep.kubeconfig.display().to_string()),
                ("PIPECHECK_CLUSTER", cluster.clone()),
            ];
            exports.extend(lines);
        }
        let text: String = exports
            .iter()
            .map(|(k, v)| format!("export {k}={}\n", shell_quote(v)))
            .collect();
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes()).and_then(|_| out.flush());
        drop(out);
        let mut note = format!(
            "pipecheck mock: serving AMP on {} and STS on {} (region {}); Ctrl-C stops\n",
            ep.amp, ep.sts, ep.region
        );
        if let Some(g) = &ep.grafana_url {
            note.push_str(&format!(
                "pipecheck mock: AMG control plane on {}, the workspace's Grafana on {g}\n",
                ep.amg
            ));
        }
        if !faults.is_empty() {
            note.push_str(&format!(
                "pipecheck mock: cluster {} set up as scenario {}{} has it, with {}\n",
                cluster.name,
                cluster.kind.shipped_scenario(),
                if cluster.pod_identity() {
                    " (EKS Pod Identity)"
                } else {
                    ""
                },
                faults
                    .iter()
                    .map(|f| format!("{} {}", f.id, f.name))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        let _ = std::io::stderr().write_all(note.as_bytes());
        stop.wait().await;
        let _ = std::io::stderr().write_all(b"pipecheck mock: stopping\n");
        stack.shutdown().await;
        Ok(Exit::Success)
    })
}

/// Ctrl-C and SIGTERM, caught from the moment this is made: a run creates it before it
/// starts anything, so a signal never finds the default handler (which would kill the
/// process with its children and containers still there).
struct StopSignals {
    #[cfg(unix)]
    int: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
}

impl StopSignals {
    /// Must be called inside the runtime.
    fn catch() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            StopSignals {
                int: signal(SignalKind::interrupt()).ok(),
                term: signal(SignalKind::terminate()).ok(),
            }
        }
        #[cfg(not(unix))]
        StopSignals {}
    }

    /// Waits for either; says which.
    async fn wait(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            async fn next(s: Option<&mut tokio::signal::unix::Signal>) {
                match s {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            }
            tokio::select! {
                _ = next(self.int.as_mut()) => "SIGINT",
                _ = next(self.term.as_mut()) => "SIGTERM",
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            "Ctrl-C"
        }
    }
}

/// How long an interrupted run waits for its sessions to remove what they made.
const UNWIND_WITHIN: std::time::Duration = std::time::Duration::from_secs(45);

/// What an interrupted run's sessions removed (or could not), for its last line: the
/// lines of their Grafana clean-up and of their provisioning teardown.
fn undone_lines(report: &RunReport) -> String {
    let mut lines = Vec::new();
    for suite in &report.suites {
        for p in &suite.properties {
            if let pipecheck_reports::Property::GrafanaCleanup(removed) = p {
                lines.extend(removed.iter().cloned());
            }
        }
        for link in &suite.links {
            if link.name == crate::provision::TEARDOWN_CASE {
                lines.extend(
                    link.evidence
                        .iter()
                        .flat_map(|e| e.body.lines())
                        .map(str::to_string),
                );
            }
        }
    }
    if lines.is_empty() {
        String::new()
    } else {
        format!("; {}", lines.join(", "))
    }
}

/// Single-quotes a value for `eval` in a POSIX shell.
fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quoting_survives_eval() {
        assert_eq!(shell_quote("http://127.0.0.1:1/x"), "http://127.0.0.1:1/x");
        assert_eq!(shell_quote("a b'c"), "'a b'\\''c'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn cli_parses_the_contract() {
        let c = Cli::try_parse_from([
            "pipecheck",
            "run",
            "--target",
            "mock",
            "--scenario",
            "smoke",
            "--fault",
            "F04",
            "--junit",
            "x.xml",
        ])
        .unwrap();
        let Command::Run(a) = c.command else { panic!() };
        assert_eq!(a.faults, vec!["F04"]);
        assert!(Cli::try_parse_from(["pipecheck", "run", "--target", "gcp"]).is_err());
    }

    #[test]
    fn report_flags_name_every_report_file() {
        let c = Cli::try_parse_from([
            "pipecheck",
            "run",
            "--format",
            "json",
            "--html",
            "r.html",
            "--summary",
            "s.md",
            "--color",
            "never",
        ])
        .unwrap();
        let Command::Run(a) = c.command else { panic!() };
        assert_eq!(a.format, OutputFormat::Json);
        assert_eq!(a.color, ColorArg::Never);
        assert_eq!(
            a.report_files(),
            [
                ReportFile::new(ReportKind::Junit, "pipecheck-report.xml"),
                ReportFile::new(ReportKind::Html, "r.html"),
                ReportFile::new(ReportKind::Summary, "s.md"),
            ]
        );
        for bad in [["--format", "xml"], ["--color", "sometimes"]] {
            assert!(Cli::try_parse_from(["pipecheck", "run", bad[0], bad[1]]).is_err());
        }
    }
}
