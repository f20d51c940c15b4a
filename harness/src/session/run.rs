//! One invocation of `pipecheck run`: for each scenario, set up the target (starting the
//! mock stack and injecting faults on the mock), run its links, and hand back the report.
//! Events go out redacted; nothing here prints.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use aws_credential_types::provider::ProvideCredentials;
use pipecheck_mocks::{MockConfig, MockStack};
use pipecheck_reports::{LinkResult, Property, RunEvent, ScenarioReport};
use tokio::sync::mpsc::{self, UnboundedSender};

use crate::amp_client::WriterBehaviour;
use crate::canary::{Canary, CanaryDefect, Origin, SCRAPE_JOB};
use crate::chain::root_cause;
use crate::chain::{Lane, Teardown, Undone, Unwind};
use crate::collector::{ContainerRuntime, Exporter, ProcessRuntime, Runtime};
use crate::executor::execute;
use crate::faults::{Fault, HarnessFaults};
use crate::links::{
    self, CollectorFaults, CollectorRun, Deadlines, Facts, GrafanaFaults, GrafanaRun, RunContext,
};
use crate::scenario::{RuntimeKind, Scenario};
use crate::secrets::RunSecrets;
use crate::target::{Environment, GrafanaSettings, MockAccess, Target, TargetError, TargetKind};

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
    /// The AMG workspace for --target aws (else the environment's or the scenario's).
    pub grafana_workspace_id: Option<String>,
    /// The Grafana HTTP API's base URL for --target aws (else from DescribeWorkspace).
    pub grafana_url: Option<String>,
    /// The EKS cluster for cluster scenarios (else `PIPECHECK_CLUSTER`, else the scenario's).
    pub cluster_name: Option<String>,
    /// The kubeconfig and context cluster scenarios read with --target aws.
    pub kube: crate::target::KubeSettings,
    /// `--provision`: create what the scenario needs and is missing, remove it at the end.
    pub provision: bool,
    /// `--keep`: leave what `--provision` created (for `pipecheck sweep` or by hand).
    pub keep: bool,
}

impl RunOptions {
    /// A run against `target` as the command line gives it: no fault, the scenarios' own
    /// collectors, nothing provisioned.
    pub fn on(target: crate::target::TargetArgs) -> Self {
        Self {
            target: target.kind,
            region: target.region,
            workspace_id: target.workspace_id,
            faults: Vec::new(),
            collector_bin: None,
            collector_image: None,
            grafana_workspace_id: target.grafana_workspace_id,
            grafana_url: target.grafana_url,
            cluster_name: target.cluster_name,
            kube: crate::target::KubeSettings {
                kubeconfig: target.kubeconfig,
                context: target.context,
            },
            provision: false,
            keep: false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("failed to start the mock stack")]
    Mock(#[from] pipecheck_mocks::StartError),
    #[error(transparent)]
    Target(#[from] TargetError),
    #[error(transparent)]
    Fault(#[from] crate::faults::FaultError),
    #[error("scenario {0} injects faults, which only the mock target can do")]
    FaultsOnAws(String),
    #[error("failed to set up the collector's surroundings (exporter, work directory)")]
    CollectorSetup(#[source] std::io::Error),
    #[error("failed to prepare the mock cluster: {0}")]
    MockCluster(String),
    #[error("scenario {scenario}: {why}")]
    Discovery { scenario: String, why: String },
    #[error(
        "scenario {0} runs a local collector, whose canary carries the exporter's address: `pipecheck watch` runs direct and cluster scenarios only"
    )]
    WatchCollector(String),
    #[error("interrupted by {0} before the scenario started")]
    Interrupted(String),
}

/// The collector of `unnamed`'s kind that discovery finds in the target's cluster (its
/// Kubernetes side only: names, not identities). AMP URLs count at AWS's hosts, at an
/// `AWS_ENDPOINT_URL_AMP` override and at the mock's AMP (`mock_amp`).
async fn discover_collector(
    target: &Target,
    scenario: &Scenario,
    unnamed: &crate::scenario::ClusterSpec,
    deadlines: &Deadlines,
    mock_amp: Option<&str>,
) -> Result<crate::scenario::ClusterSpec, RunError> {
    let failed = |why: String| RunError::Discovery {
        scenario: scenario.name.clone(),
        why,
    };
    let mut known = crate::discover::KnownEndpoints::default();
    for var in ["AWS_ENDPOINT_URL_AMP", "AWS_ENDPOINT_URL"] {
        if let Some(url) = std::env::var(var).ok().filter(|u| !u.trim().is_empty()) {
            known = known.with(&url, &target.region);
        }
    }
    if let Some(url) = mock_amp {
        known = known.with(url, &target.region);
    }
    let settings = crate::discover::Settings {
        cluster: unnamed.name.clone(),
        known,
        deadline: deadlines.request,
        identities: false,
    };
    let d = crate::discover::discover(target, &settings)
        .await
        .map_err(|e| failed(crate::error_chain(&e).replace('\n', ": ")))?;
    crate::discover::resolve(unnamed, &d).map_err(failed)
}

/// A free port on 127.0.0.1: bound, then released for the collector to take.
fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

pub async fn run_scenario(
    scenario: &Scenario,
    opts: &RunOptions,
    events: &UnboundedSender<RunEvent>,
    interrupt: &Interrupt,
) -> Result<ScenarioReport, RunError> {
    run_scenario_in(scenario, opts, &Environment::Process, events, interrupt).await
}

/// [`run_scenario`] with `--target aws` reading its settings from `env` instead of the
/// process environment (readiness: one environment per account).
pub async fn run_scenario_in(
    scenario: &Scenario,
    opts: &RunOptions,
    env: &Environment,
    events: &UnboundedSender<RunEvent>,
    interrupt: &Interrupt,
) -> Result<ScenarioReport, RunError> {
    run_scenario_with(scenario, opts, env, None, events, interrupt).await
}

/// A mock stack started for a scenario with its faults injected, and what those faults
/// changed on the harness's side: one run's (`pipecheck run`), or every run's of one
/// scenario of a watch (`pipecheck watch`), which keeps it across runs.
pub struct StartedMock {
    pub stack: MockStack,
    /// What the faults changed on the harness's side, for every run on this stack.
    side: HarnessFaults,
}

impl StartedMock {
    /// Stops the stack's listeners (bounded).
    pub async fn shutdown(self) {
        tokio::time::timeout(Duration::from_secs(5), self.stack.shutdown())
            .await
            .ok();
    }
}

/// What a watch keeps across the runs of one scenario (`pipecheck watch`): its mock stack
/// (mock target), its Grafana token, and its canary's labels and last timestamp.
pub struct WatchRun<'a> {
    pub mock: Option<&'a StartedMock>,
    pub token: Option<Arc<crate::links::SharedToken>>,
    pub canary: &'a mut crate::canary::StableCanary,
}

/// The cluster a run of `scenario` reads (shape `cluster`), its name overridable for
/// --target aws; on the mock, one that names no collector gets the shipped scenario's.
/// Also the unnamed spec discovery must complete, if any.
fn cluster_specs(
    scenario: &Scenario,
    opts: &RunOptions,
    env: &Environment,
) -> Result<
    (
        Option<crate::scenario::ClusterSpec>,
        Option<crate::scenario::ClusterSpec>,
    ),
    RunError,
> {
    let mut cluster_spec = scenario.cluster.clone().map(|mut c| {
        if let Some(name) = opts
            .cluster_name
            .clone()
            .or_else(|| env.var("PIPECHECK_CLUSTER"))
        {
            c.name = name;
        }
        c
    });
    // A cluster scenario that names no collector: discovered once the target is set up.
    let unnamed = cluster_spec.clone().filter(|c| !c.names_collector());
    if opts.target == TargetKind::Mock
        && let (Some(spec), Some(u)) = (cluster_spec.as_mut(), &unnamed)
    {
        // The mock seeds the shipped scenario's collector of the kind (in the scenario's
        // namespace, if it names one), which discovery must then find.
        let shipped = u.kind.shipped_spec().map_err(RunError::MockCluster)?;
        spec.collector = shipped.collector;
        if spec.namespace.trim().is_empty() {
            spec.namespace = shipped.namespace;
        }
        spec.service_account = spec.service_account.take().or(shipped.service_account);
    }
    Ok((cluster_spec, unnamed))
}

/// Starts the mock stack for `scenario` (seeded with its cluster's names) and injects the
/// scenario's and `opts`' faults.
pub async fn start_mock(
    scenario: &Scenario,
    opts: &RunOptions,
    env: &Environment,
) -> Result<StartedMock, RunError> {
    let fault_list = crate::faults::resolve_faults(scenario, &opts.faults)?;
    let (cluster_spec, _) = cluster_specs(scenario, opts, env)?;
    let cfg = MockConfig {
        region: opts
            .region
            .clone()
            .or_else(|| scenario.target.region.clone())
            .unwrap_or_else(|| "us-east-1".into()),
        // A cluster scenario's names seed the mock's EKS, IAM and Kubernetes API.
        cluster: Some(
            cluster_spec
                .as_ref()
                .map(|s| crate::cluster::mock_shape(s).seed())
                .unwrap_or_default(),
        ),
        ..MockConfig::default()
    };
    let stack = MockStack::start(cfg).await?;
    let injected = |e: pipecheck_mocks::InjectError| RunError::MockCluster(e.to_string());
    if let Some(spec) = &cluster_spec {
        stack
            .prepare_cluster(&crate::cluster::mock_shape(spec))
            .map_err(injected)?;
    }
    let mut side = HarnessFaults::healthy(&stack);
    for f in &fault_list {
        f.apply(&stack, &mut side).map_err(injected)?;
    }
    Ok(StartedMock { stack, side })
}

/// Stops runs cooperatively (Ctrl-C, SIGTERM, readiness's `--timeout`): a session that
/// sees it fired stops its links, unwinds its teardown stack (hurried) and hands back a
/// partial report. Clones share the handle; the first reason given stays.
#[derive(Clone, Debug)]
pub struct Interrupt(Arc<tokio::sync::watch::Sender<Option<String>>>);

impl Default for Interrupt {
    fn default() -> Self {
        Self(Arc::new(tokio::sync::watch::channel(None).0))
    }
}

impl Interrupt {
    /// Stops every run holding this handle; `why` (`SIGINT`, `the --timeout of 30s`) is
    /// what the partial reports say.
    pub fn fire(&self, why: impl Into<String>) {
        let why = why.into();
        self.0.send_if_modified(|r| {
            let first = r.is_none();
            if first {
                *r = Some(why);
            }
            first
        });
    }

    pub fn reason(&self) -> Option<String> {
        self.0.borrow().clone()
    }

    /// Resolves once fired, with the reason.
    pub async fn fired(&self) -> String {
        let mut rx = self.0.subscribe();
        let why = rx
            .wait_for(Option::is_some)
            .await
            .map(|why| why.clone().unwrap_or_default());
        match why {
            Ok(why) => why,
            // The sender lives in `self`: never closed while this waits.
            Err(_) => std::future::pending().await,
        }
    }
}

/// One run of `scenario`; `watch`: what a watch keeps across runs (else everything is the
/// run's own: its mock stack, its Grafana service account, its canary's labels).
/// `prepare` sets the run up, pushing what it makes on its [`Session`]'s teardown stack;
/// `finish` runs the links and unwinds the stack; an error while preparing unwinds it
/// too ([`Session::abandon`]), and so does `interrupt`, at any point
/// ([`Session::interrupted`]: the partial report, or [`RunError::Interrupted`] before
/// the scenario started).
pub async fn run_scenario_with(
    scenario: &Scenario,
    opts: &RunOptions,
    env: &Environment,
    watch: Option<WatchRun<'_>>,
    events: &UnboundedSender<RunEvent>,
    interrupt: &Interrupt,
) -> Result<ScenarioReport, RunError> {
    let fault_list = crate::faults::resolve_faults(scenario, &opts.faults)?;
    if watch.is_some() && scenario.collector.is_some() {
        return Err(RunError::WatchCollector(scenario.name.clone()));
    }
    if let Some(why) = interrupt.reason() {
        return Err(RunError::Interrupted(why));
    }
    let mut session = Session {
        run_id: crate::canary::new_run_id(),
        started: Instant::now(),
        fault_list,
        out: Outbox::new(events.clone()),
        teardown: Teardown::default(),
        own_mock: None,
        provisioning: None,
        provision_begun: false,
    };
    let prepared = tokio::select! {
        biased;
        why = interrupt.fired() => Err(Stop::Interrupted(why)),
        r = prepare(&mut session, scenario, opts, env, watch) => r.map_err(Stop::Failed),
    };
    match prepared {
        Ok(prepared) => session.finish(scenario, opts, prepared, interrupt).await,
        Err(Stop::Failed(e)) => {
            session.abandon(scenario, opts).await;
            Err(e)
        }
        Err(Stop::Interrupted(why)) => session.interrupted(scenario, opts, None, &why).await,
    }
}

/// Why a session stopped before its end.
enum Stop {
    Failed(RunError),
    Interrupted(String),
}

/// What one run made that outlives a step, undone on every path out of it: its teardown
/// stack (`--provision`'s resources, the collector, the Grafana objects the links make),
/// then its own mock stack.
struct Session {
    run_id: String,
    started: Instant,
    fault_list: Vec<&'static Fault>,
    /// Where the run's events leave it: redacted, and recorded for a partial report.
    out: Outbox,
    teardown: Teardown,
    own_mock: Option<StartedMock>,
    provisioning: Option<crate::provision::RunProvision>,
    /// `--provision` began (its teardown testcase is owed even if it never finished).
    provision_begun: bool,
}

/// The one way out of a session for its events: redacted with the run's secrets, and
/// recorded ([`ScenarioProgress`]) so an interrupted run can say how far it got.
#[derive(Clone)]
struct Outbox {
    /// Shared with the links, which register the secrets they obtain (Grafana tokens).
    redactor: RunSecrets,
    progress: Arc<Mutex<ScenarioProgress>>,
    events: UnboundedSender<RunEvent>,
}

impl Outbox {
    fn new(events: UnboundedSender<RunEvent>) -> Self {
        Self {
            redactor: RunSecrets::default(),
            progress: Arc::default(),
            events,
        }
    }

    fn send(&self, ev: RunEvent) {
        let ev = redacted(&self.redactor, ev);
        self.progress().record(&ev);
        let _ = self.events.send(ev);
    }

    fn progress(&self) -> std::sync::MutexGuard<'_, ScenarioProgress> {
        self.progress.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What [`prepare`] hands to [`Session::finish`]: the run's context and links.
struct Prepared {
    ctx: Arc<RunContext>,
    links: Vec<links::Step>,
    left_out: Vec<crate::chain::LinkId>,
}

/// What a mock run's faults changed on the harness's side.
#[derive(Default)]
struct HarnessSide {
    writer: WriterBehaviour,
    defect: CanaryDefect,
    collector: CollectorFaults,
    grafana: GrafanaFaults,
}

/// Sets the run up: its target (a mock stack of its own, a watch's, or AWS), the
/// collector discovery completes, the links, `--provision`'s resources, the canary and
/// collector. What it makes is on `session`'s teardown stack as soon as it exists.
async fn prepare(
    session: &mut Session,
    scenario: &Scenario,
    opts: &RunOptions,
    env: &Environment,
    mut watch: Option<WatchRun<'_>>,
) -> Result<Prepared, RunError> {
    let (mut cluster_spec, unnamed) = cluster_specs(scenario, opts, env)?;
    let kept_mock = watch.as_ref().and_then(|w| w.mock);
    let (mut target, deadlines, side) = connect(session, scenario, opts, env, kept_mock).await?;
    if let Some(u) = &unnamed {
        let mock_amp = kept_mock
            .or(session.own_mock.as_ref())
            .map(|m| m.stack.endpoints().amp.clone());
        cluster_spec =
            Some(discover_collector(&target, scenario, u, &deadlines, mock_amp.as_deref()).await?);
    }
    register_secrets(&session.out.redactor, &target).await;

    let ids = crate::chain::closure(&scenario.link_names(), scenario.shape);
    // No Grafana workspace (an AMP-only --target aws run): the grafana links are left out
    // of the graph, and the report says so.
    let (ids, left_out) = match target.grafana.workspace_id {
        Some(_) => (ids, Vec::new()),
        None => crate::chain::without(&ids, crate::chain::LinkId::AmgWorkspace, scenario.shape),
    };
    let links = links::plan(&ids, scenario.shape);
    session.out.send(RunEvent::ScenarioStarted {
        scenario: scenario.name.clone(),
        target: opts.target.as_str().to_string(),
        run_id: session.run_id.clone(),
        links: links.len(),
        link_names: links.iter().map(|l| l.id.to_string()).collect(),
    });

    if opts.provision {
        let within = deadlines.workspace;
        session
            .provision(scenario, opts, &mut target, cluster_spec.as_mut(), within)
            .await;
    }

    let end_ms = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let (mut canary, collector) = set_up_canary(
        scenario,
        opts,
        &session.run_id,
        end_ms,
        watch.as_mut().map(|w| &mut *w.canary),
        side.collector,
    )
    .await?;
    if let Some(c) = &collector {
        session.teardown.push(c.stopper());
    }
    canary.defect = side.defect;
    let grafana = grafana_run(
        scenario,
        opts,
        side.grafana,
        watch.as_ref().and_then(|w| w.token.clone()),
    );
    let ctx = Arc::new(RunContext {
        run_id: session.run_id.clone(),
        target,
        canary,
        writer: side.writer,
        deadlines,
        facts: Mutex::new(Facts::default()),
        collector,
        grafana,
        secrets: session.out.redactor.clone(),
        cluster: cluster_spec,
        teardown: session.teardown.clone(),
    });
    Ok(Prepared {
        ctx,
        links,
        left_out,
    })
}

/// The run's target and deadlines: on the mock, the watch's kept stack or one of the run's
/// own (recorded on `session`) with the harness side of its faults; on AWS, the
/// environment's account (a cluster scenario also needs a kubeconfig: none is an error
/// before anything runs; read-only, no service account tokens are requested).
async fn connect(
    session: &mut Session,
    scenario: &Scenario,
    opts: &RunOptions,
    env: &Environment,
    kept_mock: Option<&StartedMock>,
) -> Result<(Target, Deadlines, HarnessSide), RunError> {
    match opts.target {
        TargetKind::Mock => {
            if kept_mock.is_none() {
                session.own_mock = Some(start_mock(scenario, opts, env).await?);
            }
            let m = kept_mock
                .or(session.own_mock.as_ref())
                .expect("a mock stack, kept or the run's own");
            let mut side = HarnessSide {
                writer: m.side.writer.clone(),
                defect: m.side.defect,
                collector: m.side.collector.clone(),
                grafana: m.side.grafana.clone(),
            };
            let access = MockAccess {
                endpoints: m.stack.endpoints(),
                access_key_id: m.side.access_key_id.clone(),
                secret_access_key: m.side.secret_access_key.clone(),
            };
            let mut target = Target::mock(access).await?;
            target.grafana.token = side.grafana.token.take();
            let m = &scenario.target.mock;
            let deadlines = Deadlines {
                arrival: m.arrival_deadline,
                workspace: m.workspace_deadline,
                request: scenario.expect.request_timeout,
            };
            Ok((target, deadlines, side))
        }
        TargetKind::Aws => {
            if !session.fault_list.is_empty() {
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
                .or_else(|| env.var("PIPECHECK_WORKSPACE_ID"));
            let mut target =
                Target::aws(env, region, ws)
                    .await?
                    .with_grafana(GrafanaSettings::for_aws(
                        env,
                        opts.grafana_workspace_id.clone(),
                        opts.grafana_url.clone(),
                        scenario.target.grafana_workspace_id.clone(),
                    ));
            if scenario.cluster.is_some() {
                target = target.with_kube(&opts.kube).await?;
            }
            let e = &scenario.expect;
            let deadlines = Deadlines {
                arrival: e.arrival_deadline,
                workspace: e.workspace_deadline,
                request: e.request_timeout,
            };
            Ok((target, deadlines, HarnessSide::default()))
        }
    }
}

/// The target's secrets (its secret key, session token, Grafana token) go on the run's
/// redactor before anything can print them.
async fn register_secrets(redactor: &RunSecrets, target: &Target) {
    if let Ok(c) = target.credentials.provide_credentials().await {
        redactor.add_secret(c.secret_access_key());
        if let Some(t) = c.session_token() {
            redactor.add_secret(t);
        }
    }
    if let Some(t) = &target.grafana.token {
        redactor.add_secret(t.clone());
    }
}

/// What the grafana links provision and check. `--provision` also makes the Grafana side:
/// the run's AMP data source (when Grafana holds none for its workspace) and the canary
/// dashboard.
fn grafana_run(
    scenario: &Scenario,
    opts: &RunOptions,
    faults: GrafanaFaults,
    shared_token: Option<Arc<crate::links::SharedToken>>,
) -> GrafanaRun {
    GrafanaRun {
        provision: opts.provision
            || scenario
                .grafana
                .provision
                .unwrap_or(opts.target == TargetKind::Mock),
        dashboard: scenario.grafana.dashboard.clone(),
        datasource: scenario
            .grafana
            .datasource
            .clone()
            .filter(|_| !opts.provision),
        provision_datasource: opts.provision || scenario.grafana.provision_datasource,
        faults,
        shared_token,
    }
}

impl Session {
    /// `--provision`: what the scenario needs is made before the links, which then check
    /// it, each thing on the teardown stack as it is made; `provision.create` is a
    /// testcase, shown running while it lasts. Points `target` and `cluster` at it.
    async fn provision(
        &mut self,
        scenario: &Scenario,
        opts: &RunOptions,
        target: &mut Target,
        cluster: Option<&mut crate::scenario::ClusterSpec>,
        within: Duration,
    ) {
        self.provision_begun = true;
        self.out.send(RunEvent::LinkStarted {
            scenario: scenario.name.clone(),
            link: crate::provision::CREATE_CASE.to_string(),
        });
        let p = crate::provision::RunProvision::start(
            target,
            &self.run_id,
            cluster.as_deref(),
            opts.workspace_id.as_deref(),
            within,
            &self.teardown,
        )
        .await;
        p.apply(target, cluster);
        self.out.send(RunEvent::LinkFinished {
            scenario: scenario.name.clone(),
            result: p.created.clone(),
        });
        self.provisioning = Some(p);
    }

    /// How the stack is unwound: `--provision --keep` keeps what a finished provisioning
    /// made (what a failed or interrupted one made goes).
    fn unwind_how(&self, opts: &RunOptions, request: Duration, hurried: bool) -> Unwind {
        let provisioned = self.provisioning.as_ref().is_some_and(|p| !p.failed());
        Unwind {
            keep: opts.provision && opts.keep && provisioned,
            hurried,
            request,
        }
    }

    /// Unwinds the teardown stack, newest first; when the run provisioned, the
    /// `provision.teardown` testcase goes out and comes back.
    async fn unwind(
        &mut self,
        scenario: &Scenario,
        how: Unwind,
    ) -> (Vec<Undone>, Option<LinkResult>) {
        let started = Instant::now();
        let undone = self.teardown.unwind(how).await;
        let case = self
            .provision_begun
            .then(|| crate::provision::teardown_case(&self.run_id, &undone, started.elapsed()));
        if let Some(result) = &case {
            self.out.send(RunEvent::LinkFinished {
                scenario: scenario.name.clone(),
                result: result.clone(),
            });
        }
        (undone, case)
    }

    async fn shut_down_mock(&mut self) {
        if let Some(m) = self.own_mock.take() {
            m.shutdown().await;
        }
    }

    /// An error ended the run while it was being prepared: what it made goes (what
    /// `--provision` made is never left for `pipecheck sweep`; its teardown testcase is
    /// shown, then the error's line), then the run's own mock stack.
    async fn abandon(mut self, scenario: &Scenario, opts: &RunOptions) {
        let how = self.unwind_how(opts, scenario.expect.request_timeout, false);
        self.unwind(scenario, how).await;
        self.shut_down_mock().await;
    }

    /// Runs the links, then unwinds what the run made (the Grafana objects, the
    /// collector, `--provision`'s resources), shuts its mock stack down and reports.
    async fn finish(
        mut self,
        scenario: &Scenario,
        opts: &RunOptions,
        prepared: Prepared,
        interrupt: &Interrupt,
    ) -> Result<ScenarioReport, RunError> {
        let Prepared {
            ctx,
            links,
            left_out,
        } = prepared;
        let mut results = match &self.provisioning {
            // Nothing to check against when provisioning failed: its testcase says why.
            Some(p) if p.failed() => Vec::new(),
            _ => {
                let ran = tokio::select! {
                    biased;
                    why = interrupt.fired() => Err(why),
                    r = self.execute(scenario, links, &ctx) => Ok(r),
                };
                match ran {
                    Ok(results) => results,
                    Err(why) => {
                        let facts = Some((ctx.as_ref(), left_out.as_slice()));
                        return self.interrupted(scenario, opts, facts, &why).await;
                    }
                }
            }
        };
        let how = self.unwind_how(opts, ctx.deadlines.request, false);
        let (undone, teardown) = self.unwind(scenario, how).await;
        if let Some(p) = &self.provisioning {
            results.insert(0, p.created.clone());
        }
        results.extend(teardown);
        let properties = self.properties(Some((&ctx, &left_out)), &undone);
        let report = ScenarioReport {
            scenario: scenario.name.clone(),
            target: opts.target.as_str().to_string(),
            run_id: self.run_id.clone(),
            root_cause: root_cause(&results),
            links: results,
            duration: self.started.elapsed(),
            properties,
        };
        // The report leaves redacted, as the event that carries it.
        let report = self.out.redactor.redact_report(&report);
        let _ = self
            .out
            .events
            .send(RunEvent::ScenarioFinished(report.clone()));
        self.shut_down_mock().await;
        Ok(report)
    }

    /// The run was interrupted (`why`: `SIGINT`, a timeout): its links stopped where they
    /// were, its stack unwound in a hurry, its mock stack shut down. The partial report
    /// keeps the links that finished as they ended and marks the others interrupted,
    /// between provisioning's testcases; [`RunError::Interrupted`] when the scenario had
    /// not started (nothing of it to report). `facts`: the run's context, once prepared.
    async fn interrupted(
        mut self,
        scenario: &Scenario,
        opts: &RunOptions,
        facts: Option<(&RunContext, &[crate::chain::LinkId])>,
        why: &str,
    ) -> Result<ScenarioReport, RunError> {
        let request = facts.map_or(scenario.expect.request_timeout, |(c, _)| {
            c.deadlines.request
        });
        let how = self.unwind_how(opts, request, true);
        let (undone, teardown) = self.unwind(scenario, how).await;
        self.shut_down_mock().await;
        let (partial, created) = {
            let progress = self.out.progress();
            let created = progress
                .finished(crate::provision::CREATE_CASE)
                .cloned()
                .unwrap_or_else(|| interrupted_link(crate::provision::CREATE_CASE, true, why));
            (progress.interrupted(why), created)
        };
        let Some(mut report) = partial else {
            return Err(RunError::Interrupted(why.to_string()));
        };
        if self.provision_begun {
            report.links.insert(0, created);
        }
        report.links.extend(teardown);
        report.root_cause = root_cause(&report.links);
        report.properties.extend(self.properties(facts, &undone));
        Ok(self.out.redactor.redact_report(&report))
    }

    /// The executor over `links`, its events leaving through the session's outbox (it
    /// emits raw results).
    async fn execute(
        &self,
        scenario: &Scenario,
        links: Vec<links::Step>,
        ctx: &Arc<RunContext>,
    ) -> Vec<LinkResult> {
        let d = ctx.deadlines;
        // The longest a link may legitimately wait, plus room for its requests.
        let link_deadline = d.arrival.max(d.workspace) + d.request * 2;
        let (tx, mut rx) = mpsc::unbounded_channel::<RunEvent>();
        let forward = {
            let out = self.out.clone();
            tokio::spawn(async move {
                while let Some(ev) = rx.recv().await {
                    out.send(ev);
                }
            })
        };
        let results = execute(&scenario.name, links, ctx.clone(), link_deadline, &tx).await;
        drop(tx);
        let _ = forward.await;
        results
    }

    /// The report's properties: links left out, Grafana clean-up, the account, the
    /// arrival latency (from `facts`, the run's context once prepared), the faults
    /// injected.
    fn properties(
        &self,
        facts: Option<(&RunContext, &[crate::chain::LinkId])>,
        undone: &[Undone],
    ) -> Vec<Property> {
        let mut properties = Vec::new();
        if let Some((_, left_out)) = facts
            && !left_out.is_empty()
        {
            properties.push(Property::LeftOut {
                links: left_out.iter().map(|l| l.to_string()).collect(),
                reason: "no Grafana workspace configured (--grafana-workspace, PIPECHECK_GRAFANA_WORKSPACE_ID or target.grafana_workspace_id)".to_string(),
            });
        }
        let grafana: Vec<String> = undone
            .iter()
            .filter(|u| u.lane == Lane::Grafana)
            .map(|u| u.line.clone())
            .collect();
        if !grafana.is_empty() {
            properties.push(Property::GrafanaCleanup(grafana));
        }
        if let Some((ctx, _)) = facts {
            // The account the run's credentials belong to (the 5th field of the caller's ARN).
            if let Some(account) = ctx
                .facts()
                .caller_arn
                .as_deref()
                .and_then(crate::arn::account)
            {
                properties.push(Property::AccountId(account.to_string()));
            }
            if let Some(arrival) = ctx.facts().arrival {
                properties.push(Property::ArrivalLatency(arrival));
            }
        }
        if !self.fault_list.is_empty() {
            let names: Vec<String> = self
                .fault_list
                .iter()
                .map(|f| format!("{}:{}", f.id, f.name))
                .collect();
            properties.push(Property::Faults(names));
        }
        properties
    }
}

/// The run's canary, and for a collector scenario the collector's surroundings (the
/// exporter serving the canary, a work directory, a free port) with the collector to start:
/// `stable` is a watch's fixed canary (else the run id's).
async fn set_up_canary(
    scenario: &Scenario,
    opts: &RunOptions,
    run_id: &str,
    end_ms: i64,
    stable: Option<&mut crate::canary::StableCanary>,
    collector_faults: CollectorFaults,
) -> Result<(Canary, Option<CollectorRun>), RunError> {
    Ok(match &scenario.collector {
        None => (
            match stable {
                Some(stable) => {
                    let spec = &scenario.canary;
                    let (end_ms, step) = stable.next(end_ms, spec.counter_samples, spec.interval);
                    Canary::stable(&stable.label, spec, end_ms, step, Origin::Direct)
                }
                None => Canary::new(run_id, &scenario.canary, end_ms, Origin::Direct),
            },
            None,
        ),
        Some(spec) => {
            let mut spec = spec.clone();
            spec.binary = opts.collector_bin.clone().or(spec.binary);
            spec.image = opts.collector_image.clone().or(spec.image);
            // The exposition leaves job and instance to the collector, so the exporter's
            // canary need not know its own address.
            let exporter = Exporter::start(Canary::new(
                run_id,
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
            let canary = Canary::new(run_id, &scenario.canary, end_ms, origin);
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
                runtime: Arc::new(tokio::sync::Mutex::new(runtime)),
                proxy: Arc::new(tokio::sync::Mutex::new(None)),
                workdir,
                web_port,
                faults: collector_faults,
            };
            (canary, Some(run))
        }
    })
}

/// `ev` with the run's secrets masked: the one redaction point of what leaves a session
/// (the executor's events, the provisioning testcases, the finished report).
fn redacted(redactor: &RunSecrets, ev: RunEvent) -> RunEvent {
    match ev {
        RunEvent::LinkFinished { scenario, result } => RunEvent::LinkFinished {
            scenario,
            result: redactor.redact_link(&result),
        },
        RunEvent::ScenarioFinished(report) => {
            RunEvent::ScenarioFinished(redactor.redact_report(&report))
        }
        other => other,
    }
}

/// What a scenario reported so far, from its events: the partial report of a run that was
/// interrupted before the scenario finished.
#[derive(Debug, Default)]
pub struct ScenarioProgress {
    started: Option<(String, String, String, Vec<String>)>,
    running: Vec<String>,
    finished: Vec<pipecheck_reports::LinkResult>,
    since: Option<Instant>,
}

impl ScenarioProgress {
    pub fn record(&mut self, ev: &RunEvent) {
        match ev {
            RunEvent::ScenarioStarted {
                scenario,
                target,
                run_id,
                link_names,
                ..
            } => {
                self.started = Some((
                    scenario.clone(),
                    target.clone(),
                    run_id.clone(),
                    link_names.clone(),
                ));
                self.since = Some(Instant::now());
            }
            RunEvent::LinkStarted { link, .. } => self.running.push(link.clone()),
            RunEvent::LinkFinished { result, .. } => {
                self.running.retain(|l| *l != result.name);
                self.finished.push(result.clone());
            }
            // Progress changes nothing a partial report says.
            RunEvent::LinkWaiting { .. } | RunEvent::ScenarioFinished(_) => {}
        }
    }

    /// How `name` ended, if it did.
    pub fn finished(&self, name: &str) -> Option<&LinkResult> {
        self.finished.iter().find(|r| r.name == name)
    }

    /// The report as far as it got: finished links as they ended, every other link
    /// `Interrupted` (running or not started), in graph order. None when the scenario had
    /// not started (nothing of it ran).
    pub fn interrupted(&self, signal: &str) -> Option<ScenarioReport> {
        let (scenario, target, run_id, names) = self.started.clone()?;
        let links: Vec<LinkResult> = names
            .iter()
            .map(|name| match self.finished(name) {
                Some(done) => done.clone(),
                None => interrupted_link(name, self.running.contains(name), signal),
            })
            .collect();
        Some(ScenarioReport {
            scenario,
            target,
            run_id,
            root_cause: root_cause(&links),
            links,
            duration: self.since.map(|t| t.elapsed()).unwrap_or_default(),
            properties: vec![Property::Interrupted(signal.to_string())],
        })
    }
}

/// `name` cut short by `signal`: while it ran (`started`), or before it could.
fn interrupted_link(name: &str, started: bool, signal: &str) -> LinkResult {
    LinkResult {
        name: name.to_string(),
        outcome: pipecheck_reports::Outcome::Interrupted { started },
        verdict: if started {
            format!("interrupted by {signal} while this link's check was running")
        } else {
            format!("not checked: the run was interrupted by {signal} first")
        },
        hint: None,
        evidence: vec![],
        duration: Duration::ZERO,
        depends_on: vec![],
    }
}

#[cfg(test)]
mod progress_tests {
    use pipecheck_reports::{LinkResult, Outcome};

    use super::*;

    fn finished(name: &str, outcome: Outcome) -> RunEvent {
        RunEvent::LinkFinished {
            scenario: "smoke".into(),
            result: LinkResult {
                name: name.into(),
                outcome,
                verdict: format!("{name} verdict"),
                hint: None,
                evidence: vec![],
                duration: Duration::from_millis(5),
                depends_on: vec![],
            },
        }
    }

    #[test]
    fn an_interrupted_scenario_keeps_what_finished_and_marks_the_rest() {
        let mut p = ScenarioProgress::default();
        assert!(p.interrupted("SIGINT").is_none(), "nothing started");
        for ev in [
            RunEvent::ScenarioStarted {
                scenario: "smoke".into(),
                target: "mock".into(),
                run_id: "pc-1".into(),
                links: 4,
                link_names: ["a", "b", "c", "d"].map(String::from).to_vec(),
            },
            RunEvent::LinkStarted {
                scenario: "smoke".into(),
                link: "a".into(),
            },
            finished("a", Outcome::Pass),
            RunEvent::LinkStarted {
                scenario: "smoke".into(),
                link: "b".into(),
            },
            RunEvent::LinkStarted {
                scenario: "smoke".into(),
                link: "c".into(),
            },
            finished("c", Outcome::Fail),
        ] {
            p.record(&ev);
        }
        let r = p.interrupted("SIGTERM").expect("started");
        let outcomes: Vec<_> = r.links.iter().map(|l| (&*l.name, &l.outcome)).collect();
        assert_eq!(
            outcomes,
            [
                ("a", &Outcome::Pass),
                ("b", &Outcome::Interrupted { started: true }),
                ("c", &Outcome::Fail),
                ("d", &Outcome::Interrupted { started: false }),
            ]
        );
        assert_eq!(r.root_cause, ["c"]);
        assert!(r.links[1].verdict.contains("SIGTERM while"));
        assert_eq!(r.properties, [Property::Interrupted("SIGTERM".into())]);
        assert!(!r.passed());
    }
}
