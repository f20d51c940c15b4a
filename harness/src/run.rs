//! One invocation of `pipecheck run`: for each scenario, set up the target (starting the
//! mock stack and injecting faults on the mock), run its links, and hand back the report.
//! Events go out redacted; nothing here prints.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use aws_credential_types::provider::ProvideCredentials;
use pipecheck_mocks::{MockConfig, MockStack};
use pipecheck_reports::{Redactor, RunEvent, ScenarioReport};
use tokio::sync::mpsc::{self, UnboundedSender};

use crate::amp_client::WriterBehaviour;
use crate::canary::{Canary, CanaryDefect, Origin, SCRAPE_JOB};
use crate::collector::{ContainerRuntime, Exporter, ProcessRuntime, Runtime};
use crate::executor::{execute, root_cause};
use crate::faults::{self, Fault, FaultEnv};
use crate::links::{self, CollectorFaults, CollectorRun, Deadlines, Facts, RunContext};
use crate::scenario::{RuntimeKind, Scenario};
use crate::target::{MockAccess, Target, TargetError, TargetKind};

#[derive(Clone, Debug)]
pub struct RunOptions {
    pub target: TargetKind,
    pub region: Option<String>,
    pub workspace_id: Option<String>,
    pub faults: Vec<&'static Fault>,
    /// Overrides the scenario's collector binary (process runtime).
    pub collector_bin: Option<String>,
    /// Overrides the scenario's collector image (container runtime).
    pub collector_image: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("failed to start the mock stack")]
    Mock(#[from] pipecheck_mocks::StartError),
    #[error(transparent)]
    Target(#[from] TargetError),
    #[error("scenario {scenario} names unknown fault {fault:?} (see `pipecheck faults`)")]
    UnknownFault { scenario: String, fault: String },
    #[error("scenario {0} injects faults, which only the mock target can do")]
    FaultsOnAws(String),
    #[error("fault {fault} does not apply to scenario {scenario} (shape {shape})")]
    FaultNotApplicable {
        fault: String,
        scenario: String,
        shape: &'static str,
    },
    #[error("failed to set up the collector's surroundings (exporter, work directory)")]
    CollectorSetup(#[source] std::io::Error),
}

/// The faults a run of `scenario` injects: the scenario's own, then the invocation's;
/// each must apply to the scenario's shape. The CLI calls this before anything starts.
pub fn resolve_faults(
    scenario: &Scenario,
    extra: &[&'static Fault],
) -> Result<Vec<&'static Fault>, RunError> {
    let mut list = Vec::new();
    for name in &scenario.faults {
        list.push(faults::find(name).ok_or_else(|| RunError::UnknownFault {
            scenario: scenario.name.clone(),
            fault: name.clone(),
        })?);
    }
    list.extend(extra.iter().copied());
    for f in &list {
        if f.expect(scenario.shape).is_none() {
            return Err(RunError::FaultNotApplicable {
                fault: format!("{} {}", f.id, f.name),
                scenario: scenario.name.clone(),
                shape: scenario.shape.as_str(),
            });
        }
    }
    Ok(list)
}

/// A free port on 127.0.0.1: bound, then released for the collector to take.
fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A run id: unique per scenario run, short enough for a label value and a tag.
pub fn new_run_id() -> String {
    let u = uuid::Uuid::new_v4().simple().to_string();
    format!("pc-{}", &u[..12])
}

pub async fn run_scenario(
    scenario: &Scenario,
    opts: &RunOptions,
    events: &UnboundedSender<RunEvent>,
) -> Result<ScenarioReport, RunError> {
    let started = Instant::now();
    let run_id = new_run_id();
    let fault_list = resolve_faults(scenario, &opts.faults)?;
    let mut redactor = Redactor::new();

    // Keeps the mock stack alive for the run; dropped (and so stopped) at the end.
    let mut mock: Option<MockStack> = None;
    let mut writer = WriterBehaviour::default();
    let mut defect = CanaryDefect::None;
    let mut collector_faults = CollectorFaults::default();
    let (target, deadlines) = match opts.target {
        TargetKind::Mock => {
            let cfg = MockConfig {
                region: opts
                    .region
                    .clone()
                    .or_else(|| scenario.target.region.clone())
                    .unwrap_or_else(|| "us-east-1".into()),
                ..MockConfig::default()
            };
            let stack = MockStack::start(cfg).await?;
            let user = stack.endpoints().user.clone();
            let mut env = FaultEnv {
                mock: &stack,
                access_key_id: user.access_key_id.clone(),
                secret_access_key: user.secret_access_key.clone(),
                writer: WriterBehaviour::default(),
                defect: CanaryDefect::None,
                collector: CollectorFaults::default(),
            };
            for f in &fault_list {
                f.apply(&mut env);
            }
            writer = env.writer;
            defect = env.defect;
            collector_faults = env.collector;
            let access = MockAccess {
                endpoints: stack.endpoints(),
                access_key_id: env.access_key_id,
                secret_access_key: env.secret_access_key,
            };
            let target = Target::mock(access).await?;
            let m = &scenario.target.mock;
            let deadlines = Deadlines {
                arrival: m.arrival_deadline,
                workspace: m.workspace_deadline,
                request: scenario.expect.request_timeout,
            };
            mock = Some(stack);
            (target, deadlines)
        }
        TargetKind::Aws => {
            if !fault_list.is_empty() {
                return Err(RunError::FaultsOnAws(scenario.name.clone()));
            }
            let region = opts
                .region
                .clone()
                .or_else(|| scenario.target.region.clone());
            let ws = opts
                .workspace_id
                .clone()
                .or_else(|| scenario.target.workspace_id.clone())
                .or_else(|| {
                    std::env::var("PIPECHECK_WORKSPACE_ID")
                        .ok()
                        .filter(|s| !s.is_empty())
                });
            let target = Target::aws(region, ws).await?;
            let e = &scenario.expect;
            (
                target,
                Deadlines {
                    arrival: e.arrival_deadline,
                    workspace: e.workspace_deadline,
                    request: e.request_timeout,
                },
            )
        }
    };
    if let Ok(c) = target.credentials.provide_credentials().await {
        redactor.add_secret(c.secret_access_key());
        if let Some(t) = c.session_token() {
            redactor.add_secret(t);
        }
    }

    let end_ms = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let (mut canary, collector) = match &scenario.collector {
        None => (
            Canary::new(&run_id, &scenario.canary, end_ms, Origin::Direct),
            None,
        ),
        Some(spec) => {
            let mut spec = spec.clone();
            spec.binary = opts.collector_bin.clone().or(spec.binary);
            spec.image = opts.collector_image.clone().or(spec.image);
            // The exposition leaves job and instance to the collector, so the exporter's
            // canary need not know its own address.
            let exporter = Exporter::start(Canary::new(
                &run_id,
                &scenario.canary,
                end_ms,
                Origin::Direct,
            ))
            .await
            .map_err(RunError::CollectorSetup)?;
            let origin = Origin::Scraped {
                job: SCRAPE_JOB.to_string(),
                instance: exporter.target(),
            };
            let canary = Canary::new(&run_id, &scenario.canary, end_ms, origin);
            let runtime: Box<dyn Runtime> = match spec.runtime {
                RuntimeKind::Process => Box::new(ProcessRuntime::default()),
                RuntimeKind::Container => Box::new(ContainerRuntime::default()),
            };
            let workdir = tempfile::Builder::new()
                .prefix("pipecheck-collector-")
                .tempdir()
                .map_err(RunError::CollectorSetup)?;
            let web_port = free_port().map_err(RunError::CollectorSetup)?;
            let run = CollectorRun {
                spec,
                exporter,
                runtime: tokio::sync::Mutex::new(runtime),
                proxy: tokio::sync::Mutex::new(None),
                workdir,
                web_port,
                faults: collector_faults,
            };
            (canary, Some(run))
        }
    };
    canary.defect = defect;
    let links = links::closure(&scenario.links, scenario.shape);
    let _ = events.send(RunEvent::ScenarioStarted {
        scenario: scenario.name.clone(),
        target: opts.target.as_str().to_string(),
        run_id: run_id.clone(),
        links: links.len(),
    });
    let ctx = Arc::new(RunContext {
        run_id: run_id.clone(),
        target,
        canary,
        writer,
        deadlines,
        facts: Mutex::new(Facts::default()),
        collector,
    });
    // The longest a link may legitimately wait, plus room for its requests.
    let link_deadline = deadlines.arrival.max(deadlines.workspace) + deadlines.request * 2;

    // Redact on the way out: the executor emits raw results.
    let (tx, mut rx) = mpsc::unbounded_channel::<RunEvent>();
    let redactor = Arc::new(redactor);
    let forward = {
        let out = events.clone();
        let redactor = redactor.clone();
        tokio::spawn(async move {
            while let Some(ev) = rx.recv().await {
                let ev = match ev {
                    RunEvent::LinkFinished { scenario, result } => RunEvent::LinkFinished {
                        scenario,
                        result: redactor.redact_link(&result),
                    },
                    other => other,
                };
                let _ = out.send(ev);
            }
        })
    };
    let results = execute(&scenario.name, links, ctx.clone(), link_deadline, &tx).await;
    drop(tx);
    let _ = forward.await;
    if let Some(c) = &ctx.collector {
        c.stop().await;
    }

    let mut properties = Vec::new();
    if let Some(arrival) = ctx.facts().arrival {
        properties.push((
            "arrival_latency_ms".to_string(),
            format!("{}", arrival.as_millis()),
        ));
    }
    if !fault_list.is_empty() {
        let names: Vec<String> = fault_list
            .iter()
            .map(|f| format!("{}:{}", f.id, f.name))
            .collect();
        properties.push(("faults".to_string(), names.join(",")));
    }
    let report = ScenarioReport {
        scenario: scenario.name.clone(),
        target: opts.target.as_str().to_string(),
        run_id,
        root_cause: root_cause(&results),
        links: results,
        duration: started.elapsed(),
        properties,
    };
    let report = redactor.redact_report(&report);
    let _ = events.send(RunEvent::ScenarioFinished(report.clone()));
    if let Some(stack) = mock.take() {
        tokio::time::timeout(Duration::from_secs(5), stack.shutdown())
            .await
            .ok();
    }
    Ok(report)
}
