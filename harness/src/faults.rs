//! The fault catalog (shared/spec/fault-catalog.md) as far as the mock target can inject
//! it: each fault has the catalog id, a name, the link the verdict must land on, and how
//! it is injected: into the mock's state, or into the writer (the workload side, which on
//! this slice's direct-push scenario is the harness itself).

use std::time::Duration;

use pipecheck_mocks::MockStack;
use pipecheck_mocks::amp::{AmpFaults, Throttle, WorkspaceStatus};
use pipecheck_mocks::eks::AddonStatus;

use crate::amp_client::WriterBehaviour;
use crate::canary::CanaryDefect;
use crate::chain::LinkId;
use crate::cluster::MockCluster;
use crate::links::{CollectorFaults, GrafanaFaults};
use crate::scenario::{ClusterCollector, Scenario, Shape};

/// What a fault may change for one run.
pub struct FaultEnv<'a> {
    pub mock: &'a MockStack,
    /// The credentials the harness will use (faults may break them).
    pub access_key_id: String,
    pub secret_access_key: String,
    pub writer: WriterBehaviour,
    pub defect: CanaryDefect,
    pub collector: CollectorFaults,
    /// The Grafana side the harness holds: the token it is handed, the dashboard it saves.
    pub grafana: GrafanaFaults,
    /// The mock cluster of a cluster scenario (F11-F20 break it).
    pub cluster: Option<MockCluster>,
}

impl FaultEnv<'_> {
    /// Whether the faults applied so far changed the harness's side (its credentials,
    /// writer, canary, collector or Grafana token and dashboard) rather than the mock's
    /// state: a standalone `pipecheck mock` cannot carry those.
    pub fn changed_harness_side(&self) -> bool {
        let w = &self.writer;
        let c = &self.collector;
        let g = &self.grafana;
        self.access_key_id != self.mock.endpoints().user.access_key_id
            || self.secret_access_key != self.mock.endpoints().user.secret_access_key
            || w.unsigned
            || w.signing_region.is_some()
            || w.clock_offset_secs != 0
            || !w.headers.is_empty()
            || !w.added_after_signing.is_empty()
            || self.defect != CanaryDefect::None
            || !c.extra_args.is_empty()
            || c.other_workspace
            || c.wrong_scrape_port
            || g.token.is_some()
            || g.skip_dashboard
            || g.panel_without_data
            || g.dashboard_old_names
    }

    fn workspace_id(&self) -> String {
        self.mock
            .endpoints()
            .workspace_id
            .clone()
            .expect("mock runs start with a workspace")
    }

    /// Runs a recipe on the mock cluster (cluster scenarios; others have none).
    fn on_cluster(&self, f: impl FnOnce(&MockCluster, &MockStack)) {
        if let Some(c) = &self.cluster {
            f(c, self.mock);
        }
    }

    fn amp_faults(&self, f: impl FnOnce(&mut AmpFaults)) {
        let mut faults = self.mock.amp.faults();
        f(&mut faults);
        self.mock.amp.set_faults(faults);
    }

    fn revoke(&self, action: &str) {
        let key = self.mock.endpoints().user.access_key_id.clone();
        self.mock.identities.update(&key, |id| {
            // The user keeps everything but this one action.
            id.allowed_actions = pipecheck_mocks::identity::KNOWN_ACTIONS
                .iter()
                .filter(|a| **a != action)
                .map(|a| a.to_string())
                .collect();
        });
    }

    fn set_workspace_status(&self, status: WorkspaceStatus) {
        let id = self.workspace_id();
        self.mock.amp.with_workspace(&id, |w| {
            w.status = status;
            w.active_at = None;
        });
    }

    /// The mock's AMG workspace.
    fn grafana_workspace_id(&self) -> String {
        self.mock
            .endpoints()
            .grafana_workspace_id
            .clone()
            .expect("mock runs start with a Grafana workspace")
    }

    /// Edits the AMP data source AMG provisioned in the mock's Grafana.
    fn edit_data_source(&self, f: impl FnOnce(&mut pipecheck_mocks::grafana::DataSource)) {
        let ws = self.grafana_workspace_id();
        self.mock
            .amg
            .update_data_source(&ws, pipecheck_mocks::amg::SEED_DATA_SOURCE_UID, f);
    }
}

/// Why a standalone mock cannot take a fault.
#[derive(Debug)]
pub enum StandaloneError {
    /// The fault changes the harness's side, which a standalone mock does not hold.
    HarnessSide(&'static Fault),
    /// The mock's cluster could not be prepared for the cluster recipes.
    Cluster(String),
}

/// The cluster a standalone mock (`pipecheck mock --fault`) runs so that each of `faults`
/// has something to break: the cluster of the shipped scenario of the first collector
/// kind (the EKS adot add-on's first) every fault applies to, turned to EKS Pod Identity
/// when a fault needs it (as `eks-adot-pod-identity`). Without faults: `eks-adot`'s.
pub fn standalone_cluster(
    faults: &[&'static Fault],
) -> Result<crate::scenario::ClusterSpec, StandaloneError> {
    let listed = || {
        faults
            .iter()
            .map(|f| format!("{} {}", f.id, f.name))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let kind = ClusterCollector::ALL
        .into_iter()
        .find(|k| faults.iter().all(|f| f.applies_to(*k)))
        .ok_or_else(|| {
            StandaloneError::Cluster(format!(
                "no one collector shape can have all of {}: run one mock per shape",
                listed()
            ))
        })?;
    let mut spec = kind.shipped_spec().map_err(StandaloneError::Cluster)?;
    if faults.iter().any(|f| f.needs_pod_identity()) {
        if faults.iter().any(|f| f.needs_irsa()) {
            return Err(StandaloneError::Cluster(format!(
                "{} mix EKS Pod Identity faults with IRSA ones: a cluster uses one of them",
                listed()
            )));
        }
        spec.identity = Some(crate::scenario::IdentityMechanism::PodIdentity);
    }
    Ok(spec)
}

/// Injects `faults` into a standalone mock stack started with the cluster seed of `spec`
/// ([`standalone_cluster`]'s).
pub fn inject_standalone(
    stack: &MockStack,
    spec: &crate::scenario::ClusterSpec,
    faults: &[&'static Fault],
) -> Result<(), StandaloneError> {
    if faults.is_empty() {
        return Ok(());
    }
    let region = stack.endpoints().region.clone();
    let cluster = crate::cluster::prepare_mock_cluster(stack, spec, &region)
        .map_err(StandaloneError::Cluster)?;
    let user = stack.endpoints().user.clone();
    let mut env = FaultEnv {
        mock: stack,
        access_key_id: user.access_key_id,
        secret_access_key: user.secret_access_key,
        writer: WriterBehaviour::default(),
        defect: CanaryDefect::None,
        collector: CollectorFaults::default(),
        grafana: GrafanaFaults::default(),
        cluster: Some(cluster),
    };
    for f in faults {
        f.apply(&mut env);
        if env.changed_harness_side() {
            return Err(StandaloneError::HarnessSide(f));
        }
    }
    Ok(())
}

/// Another AMP workspace's id, for a data source that names the wrong one (F23).
const OTHER_WORKSPACE: &str = "ws-0f23f23f-0000-4000-8000-00000000f23f";

/// How the run must end when this fault is injected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Exit 1, this link the only root cause.
    RootCause(LinkId),
    /// Exit 0, this link passes with a warning.
    Warning(LinkId),
}

pub struct Fault {
    pub id: &'static str,
    pub name: &'static str,
    pub summary: &'static str,
    /// How a run of a direct-push scenario ends with it (None: it does not apply).
    pub direct: Option<Expect>,
    /// How a run of a collector scenario ends with it (None: it does not apply).
    pub collector: Option<Expect>,
    apply: fn(&mut FaultEnv<'_>),
}

impl Expect {
    pub fn link(self) -> LinkId {
        match self {
            Expect::RootCause(l) | Expect::Warning(l) => l,
        }
    }
}

impl Fault {
    pub fn expect(&self, shape: Shape) -> Option<Expect> {
        match shape {
            Shape::Direct => self.direct,
            Shape::Collector => self.collector,
            // In a cluster run the harness writes and reads AMP itself, as in a direct one;
            // the cluster's own faults land where `CLUSTER_EXPECT` says.
            Shape::Cluster => CLUSTER_EXPECT
                .iter()
                .find(|(n, _)| *n == self.name)
                .map(|(_, e)| *e)
                .or(self.direct),
        }
    }

    /// The links the verdict lands on, per shape, for listings: `amp.remote_write`, or
    /// `collector.running (collector)`.
    pub fn links(&self) -> String {
        match (self.direct, self.collector) {
            (Some(d), Some(c)) if d.link() == c.link() => d.link().to_string(),
            (Some(d), Some(c)) => format!("{} / {} (collector)", d.link(), c.link()),
            (Some(d), None) => d.link().to_string(),
            (None, Some(c)) => format!("{} (collector)", c.link()),
            (None, None) => self
                .expect(Shape::Cluster)
                .map(|e| format!("{} (cluster)", e.link()))
                .unwrap_or_default(),
        }
    }

    /// Whether only an ADOT (OpenTelemetry) collector can have this fault.
    pub fn needs_adot(&self) -> bool {
        ADOT_ONLY.contains(&self.name)
    }

    /// Whether a cluster collector of `kind` can have this fault: the ADOT exporter's
    /// faults need the ADOT add-on's collector (their recipe edits its resource), and a
    /// shape's own faults ([`ONLY_ON`]) that shape.
    pub fn applies_to(&self, kind: ClusterCollector) -> bool {
        if self.needs_adot() && !kind.is_adot_addon() {
            return false;
        }
        ONLY_ON
            .iter()
            .find(|(n, _)| *n == self.name)
            .is_none_or(|(_, kinds)| kinds.contains(&kind))
    }

    /// Whether only a cluster set up for EKS Pod Identity can have this fault.
    pub fn needs_pod_identity(&self) -> bool {
        POD_IDENTITY_ONLY.contains(&self.name)
    }

    /// Whether only a cluster using IRSA can have this fault.
    pub fn needs_irsa(&self) -> bool {
        IRSA_ONLY.contains(&self.name)
    }

    pub fn apply(&self, env: &mut FaultEnv<'_>) {
        (self.apply)(env)
    }
}

impl std::fmt::Debug for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.id, self.name)
    }
}

/// The catalog, in id order; where a row has several forms, the first listed is the one
/// `--fault <id>` picks.
pub const CATALOG: &[Fault] = &[
    Fault {
        id: "F01",
        name: "credentials-expired",
        summary: "the harness's AWS credentials have expired",
        direct: Some(Expect::RootCause(LinkId::AwsIdentity)),
        collector: Some(Expect::RootCause(LinkId::AwsIdentity)),
        apply: |e| {
            let key = e.access_key_id.clone();
            e.mock.identities.update(&key, |id| id.expired = true);
        },
    },
    Fault {
        id: "F01",
        name: "credentials-unknown",
        summary: "the harness uses an access key AWS does not know",
        direct: Some(Expect::RootCause(LinkId::AwsIdentity)),
        collector: Some(Expect::RootCause(LinkId::AwsIdentity)),
        apply: |e| e.access_key_id = "AKIAUNKNOWNPIPECHECK".to_string(),
    },
    Fault {
        id: "F02",
        name: "workspace-wrong-region",
        summary: "the workspace exists, but in another region than the one used",
        direct: Some(Expect::RootCause(LinkId::AmpWorkspace)),
        collector: Some(Expect::RootCause(LinkId::AmpWorkspace)),
        apply: |e| {
            let id = e.workspace_id();
            if let Some(mut ws) = e.mock.amp.remove_workspace(&id) {
                ws.region = "eu-west-1".to_string();
                ws.arn = ws
                    .arn
                    .replace(&format!(":{}:", e.mock.endpoints().region), ":eu-west-1:");
                e.mock.amp.insert_workspace(ws);
            }
        },
    },
    Fault {
        id: "F03",
        name: "workspace-creating",
        summary: "the workspace stays CREATING",
        direct: Some(Expect::RootCause(LinkId::AmpWorkspace)),
        collector: Some(Expect::RootCause(LinkId::AmpWorkspace)),
        apply: |e| e.set_workspace_status(WorkspaceStatus::Creating),
    },
    Fault {
        id: "F03",
        name: "workspace-creation-failed",
        summary: "the workspace is CREATION_FAILED",
        direct: Some(Expect::RootCause(LinkId::AmpWorkspace)),
        collector: Some(Expect::RootCause(LinkId::AmpWorkspace)),
        apply: |e| e.set_workspace_status(WorkspaceStatus::CreationFailed),
    },
    Fault {
        id: "F03",
        name: "workspace-deleting",
        summary: "the workspace is DELETING",
        direct: Some(Expect::RootCause(LinkId::AmpWorkspace)),
        collector: Some(Expect::RootCause(LinkId::AmpWorkspace)),
        apply: |e| e.set_workspace_status(WorkspaceStatus::Deleting),
    },
    Fault {
        id: "F04",
        name: "amp-unsigned",
        summary: "the writer sends remote writes without a SigV4 signature",
        direct: Some(Expect::RootCause(LinkId::AmpRemoteWrite)),
        collector: None,
        apply: |e| e.writer.unsigned = true,
    },
    Fault {
        id: "F05",
        name: "remote-write-denied",
        summary: "the writer's identity lacks aps:RemoteWrite",
        direct: Some(Expect::RootCause(LinkId::AmpRemoteWrite)),
        collector: Some(Expect::RootCause(LinkId::AmpRemoteWrite)),
        apply: |e| e.revoke("aps:RemoteWrite"),
    },
    Fault {
        id: "F06",
        name: "signing-region-wrong",
        summary: "the writer signs for another region than the workspace's",
        direct: Some(Expect::RootCause(LinkId::AmpRemoteWrite)),
        collector: None,
        apply: |e| e.writer.signing_region = Some("eu-west-1".to_string()),
    },
    Fault {
        id: "F06",
        name: "clock-skew",
        summary: "the writer's clock is 10 minutes behind",
        direct: Some(Expect::RootCause(LinkId::AmpRemoteWrite)),
        collector: None,
        apply: |e| e.writer.clock_offset_secs = -(Duration::from_secs(600).as_secs() as i64),
    },
    Fault {
        id: "F07",
        name: "throttled",
        summary: "AMP answers every remote write with 429 Rate exceeded",
        direct: Some(Expect::RootCause(LinkId::AmpRemoteWrite)),
        collector: Some(Expect::RootCause(LinkId::AmpRemoteWrite)),
        apply: |e| e.amp_faults(|f| f.throttle_remote_write = Throttle::Always),
    },
    Fault {
        id: "F07",
        name: "throttled-transient",
        summary: "AMP answers the harness's first two remote writes with 429, then accepts",
        direct: Some(Expect::Warning(LinkId::AmpRemoteWrite)),
        collector: Some(Expect::Warning(LinkId::AmpRemoteWrite)),
        // Only the harness's writer: in a cluster run the role's probe write (another
        // key) would otherwise take some of the 429s, and the verdict would vary.
        apply: |e| {
            let key = e.access_key_id.clone();
            e.amp_faults(|f| {
                f.throttle_remote_write = Throttle::Next(2);
                f.throttle_only = Some(key);
            })
        },
    },
    Fault {
        id: "F08",
        name: "samples-dropped",
        summary: "AMP answers 200 to remote writes but the samples never become queryable",
        direct: Some(Expect::RootCause(LinkId::AmpQuery)),
        collector: Some(Expect::RootCause(LinkId::AmpQuery)),
        apply: |e| e.amp_faults(|f| f.drop_accepted_samples = true),
    },
    Fault {
        id: "F09",
        name: "out-of-order",
        summary: "the writer sends a series' samples out of time order",
        direct: Some(Expect::RootCause(LinkId::AmpRemoteWrite)),
        collector: None,
        apply: |e| e.defect = CanaryDefect::OutOfOrder,
    },
    Fault {
        id: "F09",
        name: "duplicate-sample",
        summary: "the writer sends two values for one timestamp",
        direct: Some(Expect::RootCause(LinkId::AmpRemoteWrite)),
        collector: None,
        apply: |e| e.defect = CanaryDefect::DuplicateTimestamp,
    },
    Fault {
        id: "F09",
        name: "too-many-labels",
        summary: "a series carries more labels than AMP allows (70)",
        direct: Some(Expect::RootCause(LinkId::AmpRemoteWrite)),
        collector: None,
        apply: |e| e.defect = CanaryDefect::TooManyLabels,
    },
    Fault {
        id: "F10",
        name: "query-denied",
        summary: "the querying identity lacks aps:QueryMetrics",
        direct: Some(Expect::RootCause(LinkId::AmpQuery)),
        collector: Some(Expect::RootCause(LinkId::AmpQuery)),
        apply: |e| e.revoke("aps:QueryMetrics"),
    },
    Fault {
        id: "F11",
        name: "sa-unannotated",
        summary: "the collector's service account lacks the eks.amazonaws.com/role-arn annotation",
        direct: None,
        collector: None,
        apply: |e| e.on_cluster(|c, s| c.unannotate(s)),
    },
    Fault {
        id: "F12",
        name: "trust-other-namespace",
        summary: "the role's trust policy names namespace springboot, not the collector's",
        direct: None,
        collector: None,
        apply: |e| e.on_cluster(|c, s| c.trust_other(s, Some("springboot"), None)),
    },
    Fault {
        id: "F12",
        name: "trust-other-service-account",
        summary: "the role's trust policy names service account otel-collector, not the collector's",
        direct: None,
        collector: None,
        apply: |e| e.on_cluster(|c, s| c.trust_other(s, None, Some("otel-collector"))),
    },
    Fault {
        id: "F13",
        name: "oidc-provider-missing",
        summary: "the cluster's OIDC issuer is not registered as an IAM identity provider",
        direct: None,
        collector: None,
        apply: |e| e.on_cluster(|c, s| c.remove_oidc_provider(s)),
    },
    Fault {
        id: "F14",
        name: "role-no-policies",
        summary: "the collector's role has no policy allowing aps:RemoteWrite",
        direct: None,
        collector: None,
        apply: |e| e.on_cluster(|c, s| c.detach_policies(s)),
    },
    Fault {
        id: "F15",
        name: "collector-bad-flag",
        summary: "the collector is started with a flag it does not know, and exits",
        direct: None,
        collector: Some(Expect::RootCause(LinkId::CollectorRunning)),
        apply: |e| e.collector.extra_args.push("--no-such-flag".to_string()),
    },
    Fault {
        id: "F15",
        name: "collector-crash-loop",
        summary: "the collector's pod in the cluster crash-loops (CrashLoopBackOff)",
        direct: None,
        collector: None,
        apply: |e| e.on_cluster(|c, s| c.crash_loop(s)),
    },
    Fault {
        id: "F16",
        name: "collector-other-workspace",
        summary: "the collector's remote-write URL names another workspace",
        direct: None,
        collector: Some(Expect::RootCause(LinkId::CollectorConfig)),
        apply: |e| e.collector.other_workspace = true,
    },
    Fault {
        id: "F17",
        name: "canary-wrong-port",
        summary: "the collector scrapes a port where the canary is not served",
        direct: None,
        collector: Some(Expect::RootCause(LinkId::CanaryScraped)),
        apply: |e| e.collector.wrong_scrape_port = true,
    },
    Fault {
        id: "F18",
        name: "adot-addon-missing",
        summary: "the adot EKS add-on is not installed",
        direct: None,
        collector: None,
        apply: |e| e.on_cluster(|c, s| c.remove_addon(s)),
    },
    Fault {
        id: "F18",
        name: "adot-addon-degraded",
        summary: "the adot add-on is DEGRADED (InsufficientNumberOfReplicas)",
        direct: None,
        collector: None,
        apply: |e| {
            e.on_cluster(|c, s| {
                c.addon_status(
                    s,
                    AddonStatus::Degraded,
                    "InsufficientNumberOfReplicas",
                    "The add-on is unhealthy because it doesn't have the desired number of replicas.",
                )
            })
        },
    },
    Fault {
        id: "F18",
        name: "adot-addon-create-failed",
        summary: "the adot add-on is CREATE_FAILED (ConfigurationConflict with existing resources)",
        direct: None,
        collector: None,
        apply: |e| {
            e.on_cluster(|c, s| {
                c.addon_status(
                    s,
                    AddonStatus::CreateFailed,
                    "ConfigurationConflict",
                    "Conflicts found when trying to apply. Will not continue due to resolve conflicts mode.",
                )
            })
        },
    },
    Fault {
        id: "F18",
        name: "adot-addon-unsupported",
        summary: "the cluster was upgraded to Kubernetes 1.33, which the installed adot version does not support",
        direct: None,
        collector: None,
        apply: |e| e.on_cluster(|c, s| c.upgrade_cluster(s, "1.33")),
    },
    Fault {
        id: "F19",
        name: "cert-manager-missing",
        summary: "cert-manager is not installed",
        direct: None,
        collector: None,
        apply: |e| e.on_cluster(|c, s| c.remove_cert_manager(s)),
    },
    Fault {
        id: "F19",
        name: "cert-manager-not-ready",
        summary: "cert-manager's webhook has no ready replica",
        direct: None,
        collector: None,
        apply: |e| e.on_cluster(|c, s| c.cert_manager_webhook_down(s)),
    },
    Fault {
        id: "F20",
        name: "irsa-sa-unused",
        summary: "an annotated service account nobody uses, while the one in use is unannotated",
        direct: None,
        collector: None,
        apply: |e| e.on_cluster(|c, s| c.add_unused_irsa_account(s, true)),
    },
    Fault {
        id: "F20",
        name: "irsa-sa-extra",
        summary: "an annotated service account nobody uses beside the (annotated) one in use",
        direct: None,
        collector: None,
        apply: |e| e.on_cluster(|c, s| c.add_unused_irsa_account(s, false)),
    },
    Fault {
        id: "F21",
        name: "amg-workspace-not-active",
        summary: "the Grafana workspace is CREATION_FAILED",
        direct: Some(Expect::RootCause(LinkId::AmgWorkspace)),
        collector: Some(Expect::RootCause(LinkId::AmgWorkspace)),
        apply: |e| {
            let ws = e.grafana_workspace_id();
            e.mock
                .amg
                .set_status(&ws, pipecheck_mocks::amg::WorkspaceStatus::CreationFailed);
        },
    },
    Fault {
        id: "F21",
        name: "amg-nobody-can-log-in",
        summary: "IAM Identity Center is the provider, but no user or group has a role in the Grafana workspace",
        direct: Some(Expect::RootCause(LinkId::AmgWorkspace)),
        collector: Some(Expect::RootCause(LinkId::AmgWorkspace)),
        apply: |e| {
            let ws = e.grafana_workspace_id();
            e.mock.amg.clear_permissions(&ws);
        },
    },
    Fault {
        id: "F21",
        name: "amg-saml-not-configured",
        summary: "the Grafana workspace authenticates with SAML, which was never configured",
        direct: Some(Expect::RootCause(LinkId::AmgWorkspace)),
        collector: Some(Expect::RootCause(LinkId::AmgWorkspace)),
        apply: |e| {
            let ws = e.grafana_workspace_id();
            e.mock.amg.set_authentication(
                &ws,
                pipecheck_mocks::amg::Authentication::saml_not_configured(),
            );
            e.mock.amg.clear_permissions(&ws);
        },
    },
    Fault {
        id: "F22",
        name: "grafana-token-denied",
        summary: "the harness's identity may not create Grafana service accounts",
        direct: Some(Expect::RootCause(LinkId::GrafanaApi)),
        collector: Some(Expect::RootCause(LinkId::GrafanaApi)),
        apply: |e| e.revoke("grafana:CreateWorkspaceServiceAccount"),
    },
    Fault {
        id: "F22",
        name: "grafana-token-expired",
        summary: "the run is handed a Grafana token that has expired (401)",
        direct: Some(Expect::RootCause(LinkId::GrafanaApi)),
        collector: Some(Expect::RootCause(LinkId::GrafanaApi)),
        apply: |e| {
            let ws = e.grafana_workspace_id();
            let role = pipecheck_mocks::amg::GrafanaRole::Admin;
            e.grafana.token = e.mock.amg.issue_token(&ws, role, Duration::from_secs(3600));
            e.mock.amg.expire_tokens(&ws);
        },
    },
    Fault {
        id: "F23",
        name: "grafana-no-datasource",
        summary: "the Grafana workspace has no AMP data source",
        direct: Some(Expect::RootCause(LinkId::GrafanaDatasource)),
        collector: Some(Expect::RootCause(LinkId::GrafanaDatasource)),
        apply: |e| {
            let ws = e.grafana_workspace_id();
            e.mock.amg.remove_data_sources(&ws);
        },
    },
    Fault {
        id: "F23",
        name: "grafana-datasource-other-workspace",
        summary: "the AMP data source's URL names another workspace",
        direct: Some(Expect::RootCause(LinkId::GrafanaDatasource)),
        collector: Some(Expect::RootCause(LinkId::GrafanaDatasource)),
        apply: |e| {
            let ws = e.workspace_id();
            e.edit_data_source(|d| d.url = d.url.replace(&ws, OTHER_WORKSPACE));
        },
    },
    Fault {
        id: "F23",
        name: "grafana-sigv4-off",
        summary: "the AMP data source does not sign its queries (sigV4Auth off)",
        direct: Some(Expect::RootCause(LinkId::GrafanaDatasource)),
        collector: Some(Expect::RootCause(LinkId::GrafanaDatasource)),
        apply: |e| e.edit_data_source(|d| d.json_data["sigV4Auth"] = false.into()),
    },
    Fault {
        id: "F23",
        name: "grafana-datasource-region",
        summary: "the AMP data source signs for another region than the workspace's",
        direct: Some(Expect::RootCause(LinkId::GrafanaDatasource)),
        collector: Some(Expect::RootCause(LinkId::GrafanaDatasource)),
        apply: |e| e.edit_data_source(|d| d.json_data["sigV4Region"] = "eu-west-1".into()),
    },
    Fault {
        id: "F24",
        name: "grafana-role-no-query",
        summary: "the Grafana workspace role lacks aps:QueryMetrics (current Grafana: the error inside the query)",
        direct: Some(Expect::RootCause(LinkId::GrafanaQuery)),
        collector: Some(Expect::RootCause(LinkId::GrafanaQuery)),
        apply: |e| {
            let ws = e.grafana_workspace_id();
            e.mock.amg.deny_role_action(&ws, "aps:QueryMetrics");
        },
    },
    Fault {
        id: "F24",
        name: "grafana-role-no-query-no-data",
        summary: "the Grafana workspace role lacks aps:QueryMetrics, on a Grafana that shows it as \"No data\"",
        direct: Some(Expect::RootCause(LinkId::GrafanaQuery)),
        collector: Some(Expect::RootCause(LinkId::GrafanaQuery)),
        apply: |e| {
            let ws = e.grafana_workspace_id();
            e.mock.amg.deny_role_action(&ws, "aps:QueryMetrics");
            e.mock.amg.with_workspace(&ws, |w| {
                w.grafana.behaviour.amp_http_errors =
                    pipecheck_mocks::grafana::AmpHttpErrors::NoDataBug;
            });
        },
    },
    Fault {
        id: "F25",
        name: "grafana-dashboard-missing",
        summary: "the dashboard the run checks does not exist",
        direct: Some(Expect::RootCause(LinkId::GrafanaDashboard)),
        collector: Some(Expect::RootCause(LinkId::GrafanaDashboard)),
        apply: |e| e.grafana.skip_dashboard = true,
    },
    Fault {
        id: "F25",
        name: "grafana-panel-no-data",
        summary: "a dashboard panel filters on a label the pipeline never adds: no data",
        direct: Some(Expect::RootCause(LinkId::GrafanaDashboard)),
        collector: Some(Expect::RootCause(LinkId::GrafanaDashboard)),
        apply: |e| e.grafana.panel_without_data = true,
    },
    Fault {
        id: "F26",
        name: "pods-predate-annotation",
        summary: "the service account was annotated after the collector's pods started: they lack AWS_ROLE_ARN",
        direct: None,
        collector: None,
        apply: |e| e.on_cluster(|c, s| c.pods_predate_annotation(s)),
    },
    Fault {
        id: "F27",
        name: "imds-hop-limit",
        summary: "no IRSA, and the node requires IMDSv2 with hop limit 1: the pods get no credentials at all",
        direct: None,
        collector: None,
        apply: |e| e.on_cluster(|c, s| c.imds_hop_limit_one(s)),
    },
    Fault {
        id: "F28",
        name: "sts-unreachable",
        summary: "the collector's STS endpoint accepts connections and never answers",
        direct: None,
        collector: None,
        apply: |e| e.on_cluster(|c, s| c.sts_endpoint_at(s, &s.endpoints().black_hole)),
    },
    Fault {
        id: "F28",
        name: "sts-refused",
        summary: "the collector's STS endpoint refuses connections",
        direct: None,
        collector: None,
        apply: |e| e.on_cluster(|c, s| c.sts_endpoint_at(s, &s.endpoints().refused)),
    },
    Fault {
        id: "F28",
        name: "sts-no-route",
        summary: "private subnets without a NAT route, and the VPC has no STS endpoint",
        direct: None,
        collector: None,
        apply: |e| e.on_cluster(|c, s| c.private_subnets(s, &[("aps-workspaces", true)])),
    },
    Fault {
        id: "F29",
        name: "aps-unreachable",
        summary: "the collector's remote-write endpoint accepts connections and never answers",
        direct: None,
        collector: None,
        apply: |e| e.on_cluster(|c, s| c.remote_write_at(s, &s.endpoints().black_hole)),
    },
    Fault {
        id: "F29",
        name: "aps-refused",
        summary: "the collector's remote-write endpoint refuses connections",
        direct: None,
        collector: None,
        apply: |e| e.on_cluster(|c, s| c.remote_write_at(s, &s.endpoints().refused)),
    },
    Fault {
        id: "F29",
        name: "aps-private-dns-off",
        summary: "private subnets without a NAT route, and the aps-workspaces VPC endpoint has private DNS off",
        direct: None,
        collector: None,
        apply: |e| {
            e.on_cluster(|c, s| c.private_subnets(s, &[("sts", true), ("aps-workspaces", false)]))
        },
    },
    Fault {
        id: "F30",
        name: "sigv4-assumes-own-role",
        summary: "the collector's sigv4 role_arn (ADOT: assume_role.arn) is the IRSA role it already runs as, which does not trust itself",
        direct: None,
        collector: None,
        apply: |e| e.on_cluster(|c, s| c.assume_own_role(s)),
    },
    Fault {
        id: "F31",
        name: "header-added-after-signing",
        summary: "an agent between writer and AMP adds its x-agent-id to the writer's signed x-agent-id after signing",
        direct: Some(Expect::RootCause(LinkId::AmpRemoteWrite)),
        collector: None,
        apply: |e| {
            e.writer
                .headers
                .push(("x-agent-id".into(), "pipecheck-writer".into()));
            e.writer
                .added_after_signing
                .push(("x-agent-id".into(), "agent-7f3a".into()));
        },
    },
    Fault {
        id: "F32",
        name: "exporter-drops-on-failure",
        summary: "the ADOT exporter's retry_on_failure and queue are off: batches that time out are dropped",
        direct: None,
        collector: None,
        apply: |e| e.on_cluster(|c, s| c.drop_on_failure(s)),
    },
    Fault {
        id: "F33",
        name: "replicas-without-ha-labels",
        summary: "two collector replicas write the same series without cluster and __replica__ external labels",
        direct: None,
        collector: None,
        apply: |e| e.on_cluster(|c, s| c.replicas_without_ha_labels(s, 2)),
    },
    Fault {
        id: "F34",
        name: "dashboard-old-metric-names",
        summary: "the dashboard queries the counter and histogram without the _total and _seconds suffixes the collector adds",
        direct: Some(Expect::RootCause(LinkId::GrafanaDashboard)),
        collector: Some(Expect::RootCause(LinkId::GrafanaDashboard)),
        apply: |e| e.grafana.dashboard_old_names = true,
    },
    Fault {
        id: "F45",
        name: "daemonset-duplicate-scrape",
        summary: "a collector DaemonSet on two nodes scrapes every pod from each node (kubernetes_sd without a node selector) and writes the same series twice",
        direct: None,
        collector: None,
        apply: |e| e.on_cluster(|c, s| c.daemonset_duplicate_scrape(s)),
    },
    Fault {
        id: "F46",
        name: "prometheus-sigv4-no-region",
        summary: "the Prometheus resource signs its remote write (sigv4) without a region, and its pods have no AWS_REGION",
        direct: None,
        collector: None,
        apply: |e| e.on_cluster(|c, s| c.operator_sigv4_without_region(s)),
    },
    Fault {
        id: "F47",
        name: "prometheus-replica-label-not-ha",
        summary: "two replicas of the Prometheus resource keep the operator's prometheus_replica label and no cluster label: AMP stores both copies",
        direct: None,
        collector: None,
        apply: |e| e.on_cluster(|c, s| c.operator_replicas_without_ha_labels(s)),
    },
    Fault {
        id: "F48",
        name: "prometheus-not-reconciled",
        summary: "no Prometheus operator reconciles the Prometheus resource (none runs, or it watches other namespaces): no StatefulSet, no pods",
        direct: None,
        collector: None,
        apply: |e| e.on_cluster(|c, s| c.operator_not_reconciling(s)),
    },
    Fault {
        id: "F40",
        name: "scraper-creation-failed",
        summary: "the AMP managed collector (scraper) is CREATION_FAILED: a subnet has no free IP address",
        direct: None,
        collector: None,
        apply: |e| e.on_cluster(|c, s| c.scraper_creation_failed(s)),
    },
    Fault {
        id: "F41",
        name: "scraper-no-access-entry",
        summary: "the scraper's role has no EKS access entry (nor aws-auth mapping) on the cluster",
        direct: None,
        collector: None,
        apply: |e| e.on_cluster(|c, s| c.scraper_no_access_entry(s)),
    },
    Fault {
        id: "F42",
        name: "scraper-rbac-missing",
        summary: "no ClusterRoleBinding grants the scraper's Kubernetes user (aps-collector-user) the AMP user guide's ClusterRole",
        direct: None,
        collector: None,
        apply: |e| e.on_cluster(|c, s| c.scraper_rbac_missing(s)),
    },
    Fault {
        id: "F43",
        name: "scraper-config-no-canary-job",
        summary: "the scraper's configuration has no scrape job for the canary",
        direct: None,
        collector: None,
        apply: |e| e.on_cluster(|c, s| c.scraper_config_without_canary(s)),
    },
    Fault {
        id: "F44",
        name: "scraper-other-workspace",
        summary: "the scraper writes to another AMP workspace than the run's",
        direct: None,
        collector: None,
        apply: |e| e.on_cluster(|c, s| c.scraper_other_workspace(s)),
    },
    Fault {
        id: "F49",
        name: "scraper-endpoint-public-only",
        summary: "the cluster's API endpoint has public access only: the scraper, inside the VPC, cannot reach it",
        direct: None,
        collector: None,
        apply: |e| e.on_cluster(|c, s| c.cluster_endpoint_public_only(s)),
    },
    // F35-F39: EKS Pod Identity (scenarios with `identity: pod-identity`).
    Fault {
        id: "F35",
        name: "pod-identity-association-missing",
        summary: "the collector's service account has no EKS pod identity association (and no IRSA annotation)",
        direct: None,
        collector: None,
        apply: |e| e.on_cluster(|c, s| c.remove_association(s)),
    },
    Fault {
        id: "F36",
        name: "pod-identity-agent-missing",
        summary: "the eks-pod-identity-agent add-on is not installed",
        direct: None,
        collector: None,
        apply: |e| e.on_cluster(|c, s| c.remove_agent(s)),
    },
    Fault {
        id: "F36",
        name: "pod-identity-agent-not-ready",
        summary: "the eks-pod-identity-agent DaemonSet has no ready pod (the agent cannot start on a node with IPv6 disabled)",
        direct: None,
        collector: None,
        apply: |e| e.on_cluster(|c, s| c.agent_not_ready(s)),
    },
    Fault {
        id: "F37",
        name: "pod-identity-trust-no-principal",
        summary: "the association's role trusts only the cluster's OIDC provider (IRSA), not pods.eks.amazonaws.com",
        direct: None,
        collector: None,
        apply: |e| e.on_cluster(|c, s| c.trust_without_pods_principal(s)),
    },
    Fault {
        id: "F37",
        name: "pod-identity-trust-no-tag-session",
        summary: "the association's role trusts pods.eks.amazonaws.com for sts:AssumeRole but not sts:TagSession",
        direct: None,
        collector: None,
        apply: |e| e.on_cluster(|c, s| c.trust_without_tag_session(s)),
    },
    Fault {
        id: "F38",
        name: "pods-predate-association",
        summary: "the collector's pods were created before the pod identity association: they lack AWS_CONTAINER_CREDENTIALS_FULL_URI",
        direct: None,
        collector: None,
        apply: |e| e.on_cluster(|c, s| c.pods_predate_association(s)),
    },
    Fault {
        id: "F39",
        name: "irsa-and-pod-identity",
        summary: "the service account keeps its IRSA annotation beside a pod identity association: the SDK uses IRSA",
        direct: None,
        collector: None,
        apply: |e| e.on_cluster(|c, s| c.irsa_and_pod_identity(s)),
    },
];

/// Faults only an ADOT collector can have (Prometheus retries 5xx and 429 itself).
const ADOT_ONLY: &[&str] = &["exporter-drops-on-failure"];

/// Cluster faults that only the listed collector shapes can have (the others: every shape
/// whose scenario checks their link).
const ONLY_ON: &[(&str, &[ClusterCollector])] = &[
    // Replicas of a Deployment or StatefulSet; a DaemonSet's copies are F45's.
    (
        "replicas-without-ha-labels",
        &[
            ClusterCollector::Adot,
            ClusterCollector::Prometheus,
            ClusterCollector::PrometheusOperator,
        ],
    ),
    ("daemonset-duplicate-scrape", &[ClusterCollector::Otelcol]),
    // F40-F44: the AMP managed collector's own.
    ("scraper-creation-failed", &[ClusterCollector::AmpScraper]),
    ("scraper-no-access-entry", &[ClusterCollector::AmpScraper]),
    ("scraper-rbac-missing", &[ClusterCollector::AmpScraper]),
    (
        "scraper-config-no-canary-job",
        &[ClusterCollector::AmpScraper],
    ),
    ("scraper-other-workspace", &[ClusterCollector::AmpScraper]),
    (
        "scraper-endpoint-public-only",
        &[ClusterCollector::AmpScraper],
    ),
    (
        "prometheus-sigv4-no-region",
        &[ClusterCollector::PrometheusOperator],
    ),
    (
        "prometheus-replica-label-not-ha",
        &[ClusterCollector::PrometheusOperator],
    ),
    (
        "prometheus-not-reconciled",
        &[ClusterCollector::PrometheusOperator],
    ),
];

/// Faults of a cluster set up for EKS Pod Identity (`identity: pod-identity`).
const POD_IDENTITY_ONLY: &[&str] = &[
    "pod-identity-association-missing",
    "pod-identity-agent-missing",
    "pod-identity-agent-not-ready",
    "pod-identity-trust-no-principal",
    "pod-identity-trust-no-tag-session",
    "pods-predate-association",
    "irsa-and-pod-identity",
];

/// Faults of IRSA's chain, which a Pod Identity cluster does not have (its service
/// account is unannotated and its pods need no OIDC provider).
const IRSA_ONLY: &[&str] = &[
    "sa-unannotated",
    "trust-other-namespace",
    "trust-other-service-account",
    "oidc-provider-missing",
    "irsa-sa-unused",
    "irsa-sa-extra",
    "pods-predate-annotation",
    "imds-hop-limit",
    "sigv4-assumes-own-role",
];

/// Where the cluster faults land in a cluster scenario (shape `cluster`); the others land
/// there as in a direct one.
const CLUSTER_EXPECT: &[(&str, Expect)] = &[
    (
        "sa-unannotated",
        Expect::RootCause(LinkId::K8sServiceAccount),
    ),
    (
        "trust-other-namespace",
        Expect::RootCause(LinkId::IamRoleTrust),
    ),
    (
        "trust-other-service-account",
        Expect::RootCause(LinkId::IamRoleTrust),
    ),
    (
        "oidc-provider-missing",
        Expect::RootCause(LinkId::IamOidcProvider),
    ),
    (
        "role-no-policies",
        Expect::RootCause(LinkId::IamRolePermissions),
    ),
    (
        "collector-crash-loop",
        Expect::RootCause(LinkId::CollectorRunning),
    ),
    ("adot-addon-missing", Expect::RootCause(LinkId::EksAddon)),
    ("adot-addon-degraded", Expect::RootCause(LinkId::EksAddon)),
    (
        "adot-addon-create-failed",
        Expect::RootCause(LinkId::EksAddon),
    ),
    (
        "adot-addon-unsupported",
        Expect::RootCause(LinkId::EksAddon),
    ),
    (
        "cert-manager-missing",
        Expect::RootCause(LinkId::K8sCertManager),
    ),
    (
        "cert-manager-not-ready",
        Expect::RootCause(LinkId::K8sCertManager),
    ),
    (
        "irsa-sa-unused",
        Expect::RootCause(LinkId::K8sServiceAccount),
    ),
    ("irsa-sa-extra", Expect::Warning(LinkId::K8sServiceAccount)),
    (
        "pods-predate-annotation",
        Expect::RootCause(LinkId::K8sServiceAccount),
    ),
    // F27: the collector's AWS identity; why here and not on aws.identity:
    // links/k8s_service_account.rs.
    (
        "imds-hop-limit",
        Expect::RootCause(LinkId::K8sServiceAccount),
    ),
    ("sts-unreachable", Expect::RootCause(LinkId::NetworkEgress)),
    ("sts-refused", Expect::RootCause(LinkId::NetworkEgress)),
    ("sts-no-route", Expect::RootCause(LinkId::NetworkEgress)),
    ("aps-unreachable", Expect::RootCause(LinkId::NetworkEgress)),
    ("aps-refused", Expect::RootCause(LinkId::NetworkEgress)),
    (
        "aps-private-dns-off",
        Expect::RootCause(LinkId::NetworkEgress),
    ),
    (
        "sigv4-assumes-own-role",
        Expect::RootCause(LinkId::CollectorConfig),
    ),
    (
        "replicas-without-ha-labels",
        Expect::RootCause(LinkId::CollectorConfig),
    ),
    (
        "exporter-drops-on-failure",
        Expect::RootCause(LinkId::CollectorConfig),
    ),
    (
        "daemonset-duplicate-scrape",
        Expect::RootCause(LinkId::CollectorConfig),
    ),
    (
        "prometheus-sigv4-no-region",
        Expect::RootCause(LinkId::CollectorConfig),
    ),
    (
        "prometheus-replica-label-not-ha",
        Expect::Warning(LinkId::CollectorConfig),
    ),
    (
        "prometheus-not-reconciled",
        Expect::RootCause(LinkId::CollectorRunning),
    ),
    (
        "scraper-creation-failed",
        Expect::RootCause(LinkId::AmpScraper),
    ),
    (
        "scraper-no-access-entry",
        Expect::RootCause(LinkId::EksScraperAccess),
    ),
    (
        "scraper-rbac-missing",
        Expect::RootCause(LinkId::K8sScraperRbac),
    ),
    (
        "scraper-config-no-canary-job",
        Expect::RootCause(LinkId::ScraperConfig),
    ),
    (
        "scraper-other-workspace",
        Expect::RootCause(LinkId::AmpScraper),
    ),
    (
        "scraper-endpoint-public-only",
        Expect::RootCause(LinkId::AmpScraper),
    ),
    (
        "pod-identity-association-missing",
        Expect::RootCause(LinkId::K8sServiceAccount),
    ),
    (
        "pod-identity-agent-missing",
        Expect::RootCause(LinkId::EksAddon),
    ),
    (
        "pod-identity-agent-not-ready",
        Expect::RootCause(LinkId::EksAddon),
    ),
    (
        "pod-identity-trust-no-principal",
        Expect::RootCause(LinkId::IamRoleTrust),
    ),
    (
        "pod-identity-trust-no-tag-session",
        Expect::RootCause(LinkId::IamRoleTrust),
    ),
    (
        "pods-predate-association",
        Expect::RootCause(LinkId::K8sServiceAccount),
    ),
    (
        "irsa-and-pod-identity",
        Expect::Warning(LinkId::K8sServiceAccount),
    ),
];

/// A fault by catalog id (its first form) or by name, case-insensitively.
/// Why a scenario cannot take a fault.
#[derive(Debug, thiserror::Error)]
pub enum FaultError {
    #[error("scenario {scenario} names unknown fault {fault:?} (see `pipecheck faults`)")]
    Unknown { scenario: String, fault: String },
    #[error("fault {fault} does not apply to scenario {scenario} (shape {shape})")]
    NotApplicable {
        fault: String,
        scenario: String,
        shape: &'static str,
    },
    #[error("fault {fault} lands on {link}, which scenario {scenario} does not check")]
    LinkNotChecked {
        fault: String,
        link: LinkId,
        scenario: String,
    },
}

/// The faults a run of `scenario` injects: the scenario's own, then the invocation's;
/// each must apply to the scenario's shape. The CLI calls this before anything starts.
pub fn resolve_faults(
    scenario: &Scenario,
    extra: &[&'static Fault],
) -> Result<Vec<&'static Fault>, FaultError> {
    let mut list = Vec::new();
    for name in &scenario.faults {
        list.push(find(name).ok_or_else(|| FaultError::Unknown {
            scenario: scenario.name.clone(),
            fault: name.clone(),
        })?);
    }
    list.extend(extra.iter().copied());
    let checked = crate::chain::closure(&scenario.link_names(), scenario.shape);
    let cluster_kind = scenario.cluster.as_ref().map(|c| c.kind);
    let pod_identity = scenario
        .cluster
        .as_ref()
        .is_some_and(crate::scenario::ClusterSpec::pod_identity);
    for f in &list {
        let expect = f
            .expect(scenario.shape)
            .filter(|_| cluster_kind.is_none_or(|k| f.applies_to(k)))
            .filter(|_| !f.needs_pod_identity() || pod_identity)
            .filter(|_| !(pod_identity && f.needs_irsa()));
        let Some(expect) = expect else {
            return Err(FaultError::NotApplicable {
                fault: format!("{} {}", f.id, f.name),
                scenario: scenario.name.clone(),
                shape: scenario.shape.as_str(),
            });
        };
        if !checked.contains(&expect.link()) {
            return Err(FaultError::LinkNotChecked {
                fault: format!("{} {}", f.id, f.name),
                link: expect.link(),
                scenario: scenario.name.clone(),
            });
        }
    }
    Ok(list)
}

/// Every form a `--fault` word names: the one fault of that name, or every form of that
/// catalog id (F15: `collector-bad-flag` for a local collector, `collector-crash-loop` in a
/// cluster), in catalog order.
pub fn forms(id_or_name: &str) -> Vec<&'static Fault> {
    let by_id: Vec<&'static Fault> = CATALOG
        .iter()
        .filter(|f| f.id.eq_ignore_ascii_case(id_or_name))
        .collect();
    if !by_id.is_empty() {
        return by_id;
    }
    CATALOG
        .iter()
        .filter(|f| f.name.eq_ignore_ascii_case(id_or_name))
        .collect()
}

/// The form of `id_or_name` that applies to every one of `scenarios` (the first such in
/// catalog order), else its first form (whose refusal then names it); None: unknown.
pub fn choose(id_or_name: &str, scenarios: &[crate::scenario::Scenario]) -> Option<&'static Fault> {
    let forms = forms(id_or_name);
    forms
        .iter()
        .copied()
        .find(|f| scenarios.iter().all(|s| resolve_faults(s, &[f]).is_ok()))
        .or_else(|| forms.first().copied())
}

pub fn find(id_or_name: &str) -> Option<&'static Fault> {
    CATALOG
        .iter()
        .find(|f| f.id.eq_ignore_ascii_case(id_or_name))
        .or_else(|| {
            CATALOG
                .iter()
                .find(|f| f.name.eq_ignore_ascii_case(id_or_name))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_names_every_form_and_the_scenarios_form_is_chosen() {
        let names = |w: &str| forms(w).iter().map(|f| f.name).collect::<Vec<_>>();
        assert_eq!(names("F15"), ["collector-bad-flag", "collector-crash-loop"]);
        assert_eq!(names("collector-crash-loop"), ["collector-crash-loop"]);
        assert!(forms("F99").is_empty());
        let load = |n: &str| vec![Scenario::load(n).unwrap()];
        assert_eq!(
            choose("F15", &load("eks-adot")).unwrap().name,
            "collector-crash-loop"
        );
        assert_eq!(
            choose("F15", &load("prometheus-process")).unwrap().name,
            "collector-bad-flag"
        );
        // Applying to none: the first form, which the run's check then refuses.
        assert_eq!(
            choose("F15", &load("smoke")).unwrap().name,
            "collector-bad-flag"
        );
    }

    #[test]
    fn the_standalone_mock_runs_the_shape_its_faults_break() {
        let shape = |ids: &[&str]| {
            let faults: Vec<&'static Fault> = ids.iter().map(|i| find(i).unwrap()).collect();
            standalone_cluster(&faults).map(|c| (c.kind, c.pod_identity()))
        };
        assert_eq!(shape(&[]).unwrap(), (ClusterCollector::Adot, false));
        assert_eq!(shape(&["F11"]).unwrap(), (ClusterCollector::Adot, false));
        assert_eq!(shape(&["F35"]).unwrap(), (ClusterCollector::Adot, true));
        for id in ["F40", "F41", "F42", "F43", "F44"] {
            assert_eq!(
                shape(&[id]).unwrap(),
                (ClusterCollector::AmpScraper, false),
                "{id}"
            );
        }
        assert_eq!(shape(&["F45"]).unwrap(), (ClusterCollector::Otelcol, false));
        assert_eq!(
            shape(&["F46"]).unwrap(),
            (ClusterCollector::PrometheusOperator, false)
        );
        assert!(
            matches!(shape(&["F40", "F45"]), Err(StandaloneError::Cluster(w)) if w.contains("no one collector shape"))
        );
    }

    #[test]
    fn ids_pick_the_first_form_and_names_are_unique() {
        assert_eq!(find("F07").unwrap().name, "throttled");
        assert_eq!(find("f04").unwrap().name, "amp-unsigned");
        assert_eq!(find("throttled-transient").unwrap().id, "F07");
        let mut names: Vec<&str> = CATALOG.iter().map(|f| f.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), CATALOG.len());
        assert!(find("F99").is_none());
    }

    #[test]
    fn every_fault_lands_on_a_link_some_shape_checks() {
        let shapes = [Shape::Direct, Shape::Collector, Shape::Cluster];
        for f in CATALOG {
            let expects: Vec<Expect> = shapes.into_iter().filter_map(|s| f.expect(s)).collect();
            assert!(!expects.is_empty(), "{f:?} applies to no shape");
            for e in expects {
                let checked = shapes
                    .into_iter()
                    .any(|s| crate::chain::closure(&[], s).contains(&e.link()))
                    || crate::chain::SCRAPER_CHAIN.contains(&e.link());
                assert!(checked, "{f:?}: no shape checks {}", e.link());
            }
        }
    }

    #[tokio::test]
    async fn a_shapes_own_fault_is_served_on_that_shape_by_the_standalone_mock() {
        let faults = [find("F45").unwrap()];
        let spec = standalone_cluster(&faults).unwrap();
        let stack = MockStack::start(pipecheck_mocks::MockConfig {
            cluster: Some(crate::cluster::seed_for(&spec)),
            ..pipecheck_mocks::MockConfig::default()
        })
        .await
        .unwrap();
        inject_standalone(&stack, &spec, &faults).unwrap();
        // The chart's DaemonSet runs, and F45's recipe grew the node group to two nodes.
        let ds = stack
            .kube
            .get("daemonsets", &spec.namespace, &spec.collector);
        assert!(
            ds.is_some(),
            "no DaemonSet {}/{}",
            spec.namespace,
            spec.collector
        );
        assert_eq!(stack.kube.list("nodes", None).len(), 2);
        stack.shutdown().await;
    }
}
