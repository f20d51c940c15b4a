//! The fault catalog (shared/spec/fault-catalog.md) as far as the mock target can inject
//! it. Each fault's metadata (id, name, where its verdict lands, which shapes can have it)
//! is the core's [`FaultInfo`] (`chain/fault.rs`); here it says how the fault is injected,
//! in two parts: the mock's side, a [`MockFault`] that `pipecheck_mocks` applies
//! ([`MockStack::inject`], where the recipes and both cluster seeds live), and the
//! harness's own side ([`HarnessFaults`]: its credentials, writer, canary, collector and
//! Grafana token and dashboard). `run --fault`, `watch`'s `/faults` (through
//! `run::start_mock`) and `mock --fault` ([`inject_standalone`]) all apply them here.

use std::time::Duration;

use pipecheck_mocks::amg::WorkspaceStatus as AmgStatus;
use pipecheck_mocks::amp::{Throttle, WorkspaceStatus};
use pipecheck_mocks::eks::AddonStatus;
// `M` and `C` keep the catalog's rows short.
use pipecheck_mocks::{ClusterFault as C, MockFault as M};
use pipecheck_mocks::{InjectError, MockFault, MockStack, Unreachable};

use crate::amp_client::WriterBehaviour;
use crate::canary::CanaryDefect;
use crate::chain::{Expect, FaultInfo, LinkId};
use crate::links::{CollectorFaults, GrafanaFaults};
use crate::scenario::{ClusterCollector, Scenario};

/// What the harness holds for one run that a fault may change: a standalone mock
/// (`pipecheck mock`) holds none of it.
pub struct HarnessFaults {
    /// The credentials the harness will use (faults may break them).
    pub access_key_id: String,
    pub secret_access_key: String,
    pub writer: WriterBehaviour,
    pub defect: CanaryDefect,
    pub collector: CollectorFaults,
    /// The Grafana side the harness holds: the token it is handed, the dashboard it saves.
    pub grafana: GrafanaFaults,
}

impl HarnessFaults {
    /// The harness side of a run on `stack` before any fault: the stack's user, the
    /// default writer, canary, collector and Grafana side.
    pub fn healthy(stack: &MockStack) -> Self {
        let user = &stack.endpoints().user;
        Self {
            access_key_id: user.access_key_id.clone(),
            secret_access_key: user.secret_access_key.clone(),
            writer: WriterBehaviour::default(),
            defect: CanaryDefect::None,
            collector: CollectorFaults::default(),
            grafana: GrafanaFaults::default(),
        }
    }
}

/// One catalog fault: its metadata and how it is injected.
pub struct Fault {
    pub info: FaultInfo,
    /// What it breaks in the mock stack.
    pub mock: Option<MockFault>,
    /// What it changes on the harness's side; the stack is there for what the harness
    /// obtains from it (a Grafana token), not for breaking it.
    harness: Option<fn(&mut HarnessFaults, &MockStack)>,
}

/// A catalog entry reads as its metadata (`f.id`, `f.expect(shape)`).
impl std::ops::Deref for Fault {
    type Target = FaultInfo;
    fn deref(&self) -> &FaultInfo {
        &self.info
    }
}

impl Fault {
    /// Whether the fault changes the harness's side (its credentials, writer, canary,
    /// collector or Grafana token and dashboard): a standalone `pipecheck mock` cannot
    /// carry it.
    pub fn changes_harness_side(&self) -> bool {
        self.harness.is_some()
    }

    /// Injects the fault: the harness's side first (a token it is handed must exist before
    /// the mock expires it), then the mock's.
    pub fn apply(&self, stack: &MockStack, side: &mut HarnessFaults) -> Result<(), InjectError> {
        if let Some(h) = self.harness {
            h(side, stack);
        }
        match &self.mock {
            Some(m) => stack.inject(m),
            None => Ok(()),
        }
    }
}

impl std::fmt::Debug for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.id, self.name)
    }
}

/// F22's harness side: the run is handed a token of the mock's Grafana workspace, which
/// the mock side then expires.
fn expired_grafana_token(h: &mut HarnessFaults, stack: &MockStack) {
    let role = pipecheck_mocks::amg::GrafanaRole::Admin;
    h.grafana.token = stack
        .endpoints()
        .grafana_workspace_id
        .as_ref()
        .and_then(|ws| stack.amg.issue_token(ws, role, Duration::from_secs(3600)));
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

/// Prepares a standalone mock stack started with the cluster seed of `spec`
/// ([`standalone_cluster`]'s) as that cluster, and injects `faults` into it; a fault that
/// changes the harness's side is refused before anything is injected.
pub fn inject_standalone(
    stack: &MockStack,
    spec: &crate::scenario::ClusterSpec,
    faults: &[&'static Fault],
) -> Result<(), StandaloneError> {
    if faults.is_empty() {
        return Ok(());
    }
    if let Some(f) = faults.iter().find(|f| f.changes_harness_side()) {
        return Err(StandaloneError::HarnessSide(f));
    }
    let cluster = |e: InjectError| StandaloneError::Cluster(e.to_string());
    stack
        .prepare_cluster(&crate::cluster::mock_shape(spec))
        .map_err(cluster)?;
    for m in faults.iter().filter_map(|f| f.mock.as_ref()) {
        stack.inject(m).map_err(cluster)?;
    }
    Ok(())
}

/// Another AMP workspace's id, for a data source that names the wrong one (F23).
const OTHER_WORKSPACE: &str = "ws-0f23f23f-0000-4000-8000-00000000f23f";

/// The catalog, in id order; where a row has several forms, the first listed is the one
/// `--fault <id>` picks.
pub const CATALOG: &[Fault] = &[
    Fault {
        info: FaultInfo {
            id: "F01",
            name: "credentials-expired",
            summary: "the harness's AWS credentials have expired",
            direct: Some(Expect::RootCause(LinkId::AwsIdentity)),
            collector: Some(Expect::RootCause(LinkId::AwsIdentity)),
        },
        mock: Some(M::CredentialsExpired),
        harness: None,
    },
    Fault {
        info: FaultInfo {
            id: "F01",
            name: "credentials-unknown",
            summary: "the harness uses an access key AWS does not know",
            direct: Some(Expect::RootCause(LinkId::AwsIdentity)),
            collector: Some(Expect::RootCause(LinkId::AwsIdentity)),
        },
        mock: None,
        harness: Some(|h, _| h.access_key_id = "AKIAUNKNOWNPIPECHECK".to_string()),
    },
    Fault {
        info: FaultInfo {
            id: "F02",
            name: "workspace-wrong-region",
            summary: "the workspace exists, but in another region than the one used",
            direct: Some(Expect::RootCause(LinkId::AmpWorkspace)),
            collector: Some(Expect::RootCause(LinkId::AmpWorkspace)),
        },
        mock: Some(M::WorkspaceRegion("eu-west-1")),
        harness: None,
    },
    Fault {
        info: FaultInfo {
            id: "F03",
            name: "workspace-creating",
            summary: "the workspace stays CREATING",
            direct: Some(Expect::RootCause(LinkId::AmpWorkspace)),
            collector: Some(Expect::RootCause(LinkId::AmpWorkspace)),
        },
        mock: Some(M::WorkspaceStatus(WorkspaceStatus::Creating)),
        harness: None,
    },
    Fault {
        info: FaultInfo {
            id: "F03",
            name: "workspace-creation-failed",
            summary: "the workspace is CREATION_FAILED",
            direct: Some(Expect::RootCause(LinkId::AmpWorkspace)),
            collector: Some(Expect::RootCause(LinkId::AmpWorkspace)),
        },
        mock: Some(M::WorkspaceStatus(WorkspaceStatus::CreationFailed)),
        harness: None,
    },
    Fault {
        info: FaultInfo {
            id: "F03",
            name: "workspace-deleting",
            summary: "the workspace is DELETING",
            direct: Some(Expect::RootCause(LinkId::AmpWorkspace)),
            collector: Some(Expect::RootCause(LinkId::AmpWorkspace)),
        },
        mock: Some(M::WorkspaceStatus(WorkspaceStatus::Deleting)),
        harness: None,
    },
    Fault {
        info: FaultInfo {
            id: "F04",
            name: "amp-unsigned",
            summary: "the writer sends remote writes without a SigV4 signature",
            direct: Some(Expect::RootCause(LinkId::AmpRemoteWrite)),
            collector: None,
        },
        mock: None,
        harness: Some(|h, _| h.writer.unsigned = true),
    },
    Fault {
        info: FaultInfo {
            id: "F05",
            name: "remote-write-denied",
            summary: "the writer's identity lacks aps:RemoteWrite",
            direct: Some(Expect::RootCause(LinkId::AmpRemoteWrite)),
            collector: Some(Expect::RootCause(LinkId::AmpRemoteWrite)),
        },
        mock: Some(M::Revoke("aps:RemoteWrite")),
        harness: None,
    },
    Fault {
        info: FaultInfo {
            id: "F06",
            name: "signing-region-wrong",
            summary: "the writer signs for another region than the workspace's",
            direct: Some(Expect::RootCause(LinkId::AmpRemoteWrite)),
            collector: None,
        },
        mock: None,
        harness: Some(|h, _| h.writer.signing_region = Some("eu-west-1".to_string())),
    },
    Fault {
        info: FaultInfo {
            id: "F06",
            name: "clock-skew",
            summary: "the writer's clock is 10 minutes behind",
            direct: Some(Expect::RootCause(LinkId::AmpRemoteWrite)),
            collector: None,
        },
        mock: None,
        harness: Some(|h, _| {
            h.writer.clock_offset_secs = -(Duration::from_secs(600).as_secs() as i64)
        }),
    },
    Fault {
        info: FaultInfo {
            id: "F07",
            name: "throttled",
            summary: "AMP answers every remote write with 429 Rate exceeded",
            direct: Some(Expect::RootCause(LinkId::AmpRemoteWrite)),
            collector: Some(Expect::RootCause(LinkId::AmpRemoteWrite)),
        },
        mock: Some(M::Throttle(Throttle::Always)),
        harness: None,
    },
    Fault {
        info: FaultInfo {
            id: "F07",
            name: "throttled-transient",
            summary: "AMP answers the harness's first two remote writes with 429, then accepts",
            direct: Some(Expect::Warning(LinkId::AmpRemoteWrite)),
            collector: Some(Expect::Warning(LinkId::AmpRemoteWrite)),
        },
        // Only the harness's writer: in a cluster run the role's probe write (another
        // key) would otherwise take some of the 429s, and the verdict would vary.
        mock: Some(M::ThrottleUser(2)),
        harness: None,
    },
    Fault {
        info: FaultInfo {
            id: "F08",
            name: "samples-dropped",
            summary: "AMP answers 200 to remote writes but the samples never become queryable",
            direct: Some(Expect::RootCause(LinkId::AmpQuery)),
            collector: Some(Expect::RootCause(LinkId::AmpQuery)),
        },
        mock: Some(M::DropAcceptedSamples),
        harness: None,
    },
    Fault {
        info: FaultInfo {
            id: "F09",
            name: "out-of-order",
            summary: "the writer sends a series' samples out of time order",
            direct: Some(Expect::RootCause(LinkId::AmpRemoteWrite)),
            collector: None,
        },
        mock: None,
        harness: Some(|h, _| h.defect = CanaryDefect::OutOfOrder),
    },
    Fault {
        info: FaultInfo {
            id: "F09",
            name: "duplicate-sample",
            summary: "the writer sends two values for one timestamp",
            direct: Some(Expect::RootCause(LinkId::AmpRemoteWrite)),
            collector: None,
        },
        mock: None,
        harness: Some(|h, _| h.defect = CanaryDefect::DuplicateTimestamp),
    },
    Fault {
        info: FaultInfo {
            id: "F09",
            name: "too-many-labels",
            summary: "a series carries more labels than AMP allows (70)",
            direct: Some(Expect::RootCause(LinkId::AmpRemoteWrite)),
            collector: None,
        },
        mock: None,
        harness: Some(|h, _| h.defect = CanaryDefect::TooManyLabels),
    },
    Fault {
        info: FaultInfo {
            id: "F10",
            name: "query-denied",
            summary: "the querying identity lacks aps:QueryMetrics",
            direct: Some(Expect::RootCause(LinkId::AmpQuery)),
            collector: Some(Expect::RootCause(LinkId::AmpQuery)),
        },
        mock: Some(M::Revoke("aps:QueryMetrics")),
        harness: None,
    },
    Fault {
        info: FaultInfo {
            id: "F11",
            name: "sa-unannotated",
            summary: "the collector's service account lacks the eks.amazonaws.com/role-arn annotation",
            direct: None,
            collector: None,
        },
        mock: Some(M::Cluster(C::Unannotate)),
        harness: None,
    },
    Fault {
        info: FaultInfo {
            id: "F12",
            name: "trust-other-namespace",
            summary: "the role's trust policy names namespace springboot, not the collector's",
            direct: None,
            collector: None,
        },
        mock: Some(M::Cluster(C::TrustOther {
            namespace: Some("springboot"),
            service_account: None,
        })),
        harness: None,
    },
    Fault {
        info: FaultInfo {
            id: "F12",
            name: "trust-other-service-account",
            summary: "the role's trust policy names service account otel-collector, not the collector's",
            direct: None,
            collector: None,
        },
        mock: Some(M::Cluster(C::TrustOther {
            namespace: None,
            service_account: Some("otel-collector"),
        })),
        harness: None,
    },
    Fault {
        info: FaultInfo {
            id: "F13",
            name: "oidc-provider-missing",
            summary: "the cluster's OIDC issuer is not registered as an IAM identity provider",
            direct: None,
            collector: None,
        },
        mock: Some(M::Cluster(C::RemoveOidcProvider)),
        harness: None,
    },
    Fault {
        info: FaultInfo {
            id: "F14",
            name: "role-no-policies",
            summary: "the collector's role has no policy allowing aps:RemoteWrite",
            direct: None,
            collector: None,
        },
        mock: Some(M::Cluster(C::DetachPolicies)),
        harness: None,
    },
    Fault {
        info: FaultInfo {
            id: "F15",
            name: "collector-bad-flag",
            summary: "the collector is started with a flag it does not know, and exits",
            direct: None,
            collector: Some(Expect::RootCause(LinkId::CollectorRunning)),
        },
        mock: None,
        harness: Some(|h, _| h.collector.extra_args.push("--no-such-flag".to_string())),
    },
    Fault {
        info: FaultInfo {
            id: "F15",
            name: "collector-crash-loop",
            summary: "the collector's pod in the cluster crash-loops (CrashLoopBackOff)",
            direct: None,
            collector: None,
        },
        mock: Some(M::Cluster(C::CrashLoop)),
        harness: None,
    },
    Fault {
        info: FaultInfo {
            id: "F16",
            name: "collector-other-workspace",
            summary: "the collector's remote-write URL names another workspace",
            direct: None,
            collector: Some(Expect::RootCause(LinkId::CollectorConfig)),
        },
        mock: None,
        harness: Some(|h, _| h.collector.other_workspace = true),
    },
    Fault {
        info: FaultInfo {
            id: "F17",
            name: "canary-wrong-port",
            summary: "the collector scrapes a port where the canary is not served",
            direct: None,
            collector: Some(Expect::RootCause(LinkId::CanaryScraped)),
        },
        mock: None,
        harness: Some(|h, _| h.collector.wrong_scrape_port = true),
    },
    Fault {
        info: FaultInfo {
            id: "F18",
            name: "adot-addon-missing",
            summary: "the adot EKS add-on is not installed",
            direct: None,
            collector: None,
        },
        mock: Some(M::Cluster(C::RemoveAdotAddon)),
        harness: None,
    },
    Fault {
        info: FaultInfo {
            id: "F18",
            name: "adot-addon-degraded",
            summary: "the adot add-on is DEGRADED (InsufficientNumberOfReplicas)",
            direct: None,
            collector: None,
        },
        mock: Some(M::Cluster(C::AdotAddonStatus {
            status: AddonStatus::Degraded,
            code: "InsufficientNumberOfReplicas",
            message: "The add-on is unhealthy because it doesn't have the desired number of replicas.",
        })),
        harness: None,
    },
    Fault {
        info: FaultInfo {
            id: "F18",
            name: "adot-addon-create-failed",
            summary: "the adot add-on is CREATE_FAILED (ConfigurationConflict with existing resources)",
            direct: None,
            collector: None,
        },
        mock: Some(M::Cluster(C::AdotAddonStatus {
            status: AddonStatus::CreateFailed,
            code: "ConfigurationConflict",
            message: "Conflicts found when trying to apply. Will not continue due to resolve conflicts mode.",
        })),
        harness: None,
    },
    Fault {
        info: FaultInfo {
            id: "F18",
            name: "adot-addon-unsupported",
            summary: "the cluster was upgraded to Kubernetes 1.33, which the installed adot version does not support",
            direct: None,
            collector: None,
        },
        mock: Some(M::Cluster(C::UpgradeCluster("1.33"))),
        harness: None,
    },
    Fault {
        info: FaultInfo {
            id: "F19",
            name: "cert-manager-missing",
            summary: "cert-manager is not installed",
            direct: None,
            collector: None,
        },
        mock: Some(M::Cluster(C::RemoveCertManager)),
        harness: None,
    },
    Fault {
        info: FaultInfo {
            id: "F19",
            name: "cert-manager-not-ready",
            summary: "cert-manager's webhook has no ready replica",
            direct: None,
            collector: None,
        },
        mock: Some(M::Cluster(C::CertManagerWebhookDown)),
        harness: None,
    },
    Fault {
        info: FaultInfo {
            id: "F20",
            name: "irsa-sa-unused",
            summary: "an annotated service account nobody uses, while the one in use is unannotated",
            direct: None,
            collector: None,
        },
        mock: Some(M::Cluster(C::UnusedIrsaAccount { unannotate: true })),
        harness: None,
    },
    Fault {
        info: FaultInfo {
            id: "F20",
            name: "irsa-sa-extra",
            summary: "an annotated service account nobody uses beside the (annotated) one in use",
            direct: None,
            collector: None,
        },
        mock: Some(M::Cluster(C::UnusedIrsaAccount { unannotate: false })),
        harness: None,
    },
    Fault {
        info: FaultInfo {
            id: "F21",
            name: "amg-workspace-not-active",
            summary: "the Grafana workspace is CREATION_FAILED",
            direct: Some(Expect::RootCause(LinkId::AmgWorkspace)),
            collector: Some(Expect::RootCause(LinkId::AmgWorkspace)),
        },
        mock: Some(M::AmgStatus(AmgStatus::CreationFailed)),
        harness: None,
    },
    Fault {
        info: FaultInfo {
            id: "F21",
            name: "amg-nobody-can-log-in",
            summary: "IAM Identity Center is the provider, but no user or group has a role in the Grafana workspace",
            direct: Some(Expect::RootCause(LinkId::AmgWorkspace)),
            collector: Some(Expect::RootCause(LinkId::AmgWorkspace)),
        },
        mock: Some(M::AmgNoPermissions),
        harness: None,
    },
    Fault {
        info: FaultInfo {
            id: "F21",
            name: "amg-saml-not-configured",
            summary: "the Grafana workspace authenticates with SAML, which was never configured",
            direct: Some(Expect::RootCause(LinkId::AmgWorkspace)),
            collector: Some(Expect::RootCause(LinkId::AmgWorkspace)),
        },
        mock: Some(M::AmgSamlNotConfigured),
        harness: None,
    },
    Fault {
        info: FaultInfo {
            id: "F22",
            name: "grafana-token-denied",
            summary: "the harness's identity may not create Grafana service accounts",
            direct: Some(Expect::RootCause(LinkId::GrafanaApi)),
            collector: Some(Expect::RootCause(LinkId::GrafanaApi)),
        },
        mock: Some(M::Revoke("grafana:CreateWorkspaceServiceAccount")),
        harness: None,
    },
    Fault {
        info: FaultInfo {
            id: "F22",
            name: "grafana-token-expired",
            summary: "the run is handed a Grafana token that has expired (401)",
            direct: Some(Expect::RootCause(LinkId::GrafanaApi)),
            collector: Some(Expect::RootCause(LinkId::GrafanaApi)),
        },
        mock: Some(M::GrafanaTokensExpired),
        harness: Some(expired_grafana_token),
    },
    Fault {
        info: FaultInfo {
            id: "F23",
            name: "grafana-no-datasource",
            summary: "the Grafana workspace has no AMP data source",
            direct: Some(Expect::RootCause(LinkId::GrafanaDatasource)),
            collector: Some(Expect::RootCause(LinkId::GrafanaDatasource)),
        },
        mock: Some(M::GrafanaNoDataSource),
        harness: None,
    },
    Fault {
        info: FaultInfo {
            id: "F23",
            name: "grafana-datasource-other-workspace",
            summary: "the AMP data source's URL names another workspace",
            direct: Some(Expect::RootCause(LinkId::GrafanaDatasource)),
            collector: Some(Expect::RootCause(LinkId::GrafanaDatasource)),
        },
        mock: Some(M::DataSourceWorkspace(OTHER_WORKSPACE)),
        harness: None,
    },
    Fault {
        info: FaultInfo {
            id: "F23",
            name: "grafana-sigv4-off",
            summary: "the AMP data source does not sign its queries (sigV4Auth off)",
            direct: Some(Expect::RootCause(LinkId::GrafanaDatasource)),
            collector: Some(Expect::RootCause(LinkId::GrafanaDatasource)),
        },
        mock: Some(M::DataSourceUnsigned),
        harness: None,
    },
    Fault {
        info: FaultInfo {
            id: "F23",
            name: "grafana-datasource-region",
            summary: "the AMP data source signs for another region than the workspace's",
            direct: Some(Expect::RootCause(LinkId::GrafanaDatasource)),
            collector: Some(Expect::RootCause(LinkId::GrafanaDatasource)),
        },
        mock: Some(M::DataSourceRegion("eu-west-1")),
        harness: None,
    },
    Fault {
        info: FaultInfo {
            id: "F24",
            name: "grafana-role-no-query",
            summary: "the Grafana workspace role lacks aps:QueryMetrics (current Grafana: the error inside the query)",
            direct: Some(Expect::RootCause(LinkId::GrafanaQuery)),
            collector: Some(Expect::RootCause(LinkId::GrafanaQuery)),
        },
        mock: Some(M::GrafanaRoleDenied {
            action: "aps:QueryMetrics",
            no_data: false,
        }),
        harness: None,
    },
    Fault {
        info: FaultInfo {
            id: "F24",
            name: "grafana-role-no-query-no-data",
            summary: "the Grafana workspace role lacks aps:QueryMetrics, on a Grafana that shows it as \"No data\"",
            direct: Some(Expect::RootCause(LinkId::GrafanaQuery)),
            collector: Some(Expect::RootCause(LinkId::GrafanaQuery)),
        },
        mock: Some(M::GrafanaRoleDenied {
            action: "aps:QueryMetrics",
            no_data: true,
        }),
        harness: None,
    },
    Fault {
        info: FaultInfo {
            id: "F25",
            name: "grafana-dashboard-missing",
            summary: "the dashboard the run checks does not exist",
            direct: Some(Expect::RootCause(LinkId::GrafanaDashboard)),
            collector: Some(Expect::RootCause(LinkId::GrafanaDashboard)),
        },
        mock: None,
        harness: Some(|h, _| h.grafana.skip_dashboard = true),
    },
    Fault {
        info: FaultInfo {
            id: "F25",
            name: "grafana-panel-no-data",
            summary: "a dashboard panel filters on a label the pipeline never adds: no data",
            direct: Some(Expect::RootCause(LinkId::GrafanaDashboard)),
            collector: Some(Expect::RootCause(LinkId::GrafanaDashboard)),
        },
        mock: None,
        harness: Some(|h, _| h.grafana.panel_without_data = true),
    },
    Fault {
        info: FaultInfo {
            id: "F26",
            name: "pods-predate-annotation",
            summary: "the service account was annotated after the collector's pods started: they lack AWS_ROLE_ARN",
            direct: None,
            collector: None,
        },
        mock: Some(M::Cluster(C::PodsPredateAnnotation)),
        harness: None,
    },
    Fault {
        info: FaultInfo {
            id: "F27",
            name: "imds-hop-limit",
            summary: "no IRSA, and the node requires IMDSv2 with hop limit 1: the pods get no credentials at all",
            direct: None,
            collector: None,
        },
        mock: Some(M::Cluster(C::ImdsHopLimitOne)),
        harness: None,
    },
    Fault {
        info: FaultInfo {
            id: "F28",
            name: "sts-unreachable",
            summary: "the collector's STS endpoint accepts connections and never answers",
            direct: None,
            collector: None,
        },
        mock: Some(M::Cluster(C::StsEndpoint(Unreachable::BlackHole))),
        harness: None,
    },
    Fault {
        info: FaultInfo {
            id: "F28",
            name: "sts-refused",
            summary: "the collector's STS endpoint refuses connections",
            direct: None,
            collector: None,
        },
        mock: Some(M::Cluster(C::StsEndpoint(Unreachable::Refused))),
        harness: None,
    },
    Fault {
        info: FaultInfo {
            id: "F28",
            name: "sts-no-route",
            summary: "private subnets without a NAT route, and the VPC has no STS endpoint",
            direct: None,
            collector: None,
        },
        mock: Some(M::Cluster(C::PrivateSubnets(&[("aps-workspaces", true)]))),
        harness: None,
    },
    Fault {
        info: FaultInfo {
            id: "F29",
            name: "aps-unreachable",
            summary: "the collector's remote-write endpoint accepts connections and never answers",
            direct: None,
            collector: None,
        },
        mock: Some(M::Cluster(C::RemoteWriteEndpoint(Unreachable::BlackHole))),
        harness: None,
    },
    Fault {
        info: FaultInfo {
            id: "F29",
            name: "aps-refused",
            summary: "the collector's remote-write endpoint refuses connections",
            direct: None,
            collector: None,
        },
        mock: Some(M::Cluster(C::RemoteWriteEndpoint(Unreachable::Refused))),
        harness: None,
    },
    Fault {
        info: FaultInfo {
            id: "F29",
            name: "aps-private-dns-off",
            summary: "private subnets without a NAT route, and the aps-workspaces VPC endpoint has private DNS off",
            direct: None,
            collector: None,
        },
        mock: Some(M::Cluster(C::PrivateSubnets(&[
            ("sts", true),
            ("aps-workspaces", false),
        ]))),
        harness: None,
    },
    Fault {
        info: FaultInfo {
            id: "F30",
            name: "sigv4-assumes-own-role",
            summary: "the collector's sigv4 role_arn (ADOT: assume_role.arn) is the IRSA role it already runs as, which does not trust itself",
            direct: None,
            collector: None,
        },
        mock: Some(M::Cluster(C::AssumeOwnRole)),
        harness: None,
    },
    Fault {
        info: FaultInfo {
            id: "F31",
            name: "header-added-after-signing",
            summary: "an agent between writer and AMP adds its x-agent-id to the writer's signed x-agent-id after signing",
            direct: Some(Expect::RootCause(LinkId::AmpRemoteWrite)),
            collector: None,
        },
        mock: None,
        harness: Some(|h, _| {
            h.writer
                .headers
                .push(("x-agent-id".into(), "pipecheck-writer".into()));
            h.writer
                .added_after_signing
                .push(("x-agent-id".into(), "agent-7f3a".into()));
        }),
    },
    Fault {
        info: FaultInfo {
            id: "F32",
            name: "exporter-drops-on-failure",
            summary: "the ADOT exporter's retry_on_failure and queue are off: batches that time out are dropped",
            direct: None,
            collector: None,
        },
        mock: Some(M::Cluster(C::DropOnFailure)),
        harness: None,
    },
    Fault {
        info: FaultInfo {
            id: "F33",
            name: "replicas-without-ha-labels",
            summary: "two collector replicas write the same series without cluster and __replica__ external labels",
            direct: None,
            collector: None,
        },
        mock: Some(M::Cluster(C::ReplicasWithoutHaLabels(2))),
        harness: None,
    },
    Fault {
        info: FaultInfo {
            id: "F34",
            name: "dashboard-old-metric-names",
            summary: "the dashboard queries the counter and histogram without the _total and _seconds suffixes the collector adds",
            direct: Some(Expect::RootCause(LinkId::GrafanaDashboard)),
            collector: Some(Expect::RootCause(LinkId::GrafanaDashboard)),
        },
        mock: None,
        harness: Some(|h, _| h.grafana.dashboard_old_names = true),
    },
    Fault {
        info: FaultInfo {
            id: "F45",
            name: "daemonset-duplicate-scrape",
            summary: "a collector DaemonSet on two nodes scrapes every pod from each node (kubernetes_sd without a node selector) and writes the same series twice",
            direct: None,
            collector: None,
        },
        mock: Some(M::Cluster(C::DaemonsetDuplicateScrape)),
        harness: None,
    },
    Fault {
        info: FaultInfo {
            id: "F46",
            name: "prometheus-sigv4-no-region",
            summary: "the Prometheus resource signs its remote write (sigv4) without a region, and its pods have no AWS_REGION",
            direct: None,
            collector: None,
        },
        mock: Some(M::Cluster(C::OperatorSigv4WithoutRegion)),
        harness: None,
    },
    Fault {
        info: FaultInfo {
            id: "F47",
            name: "prometheus-replica-label-not-ha",
            summary: "two replicas of the Prometheus resource keep the operator's prometheus_replica label and no cluster label: AMP stores both copies",
            direct: None,
            collector: None,
        },
        mock: Some(M::Cluster(C::OperatorReplicasWithoutHaLabels)),
        harness: None,
    },
    Fault {
        info: FaultInfo {
            id: "F48",
            name: "prometheus-not-reconciled",
            summary: "no Prometheus operator reconciles the Prometheus resource (none runs, or it watches other namespaces): no StatefulSet, no pods",
            direct: None,
            collector: None,
        },
        mock: Some(M::Cluster(C::OperatorNotReconciling)),
        harness: None,
    },
    Fault {
        info: FaultInfo {
            id: "F40",
            name: "scraper-creation-failed",
            summary: "the AMP managed collector (scraper) is CREATION_FAILED: a subnet has no free IP address",
            direct: None,
            collector: None,
        },
        mock: Some(M::Cluster(C::ScraperCreationFailed)),
        harness: None,
    },
    Fault {
        info: FaultInfo {
            id: "F41",
            name: "scraper-no-access-entry",
            summary: "the scraper's role has no EKS access entry (nor aws-auth mapping) on the cluster",
            direct: None,
            collector: None,
        },
        mock: Some(M::Cluster(C::ScraperNoAccessEntry)),
        harness: None,
    },
    Fault {
        info: FaultInfo {
            id: "F42",
            name: "scraper-rbac-missing",
            summary: "no ClusterRoleBinding grants the scraper's Kubernetes user (aps-collector-user) the AMP user guide's ClusterRole",
            direct: None,
            collector: None,
        },
        mock: Some(M::Cluster(C::ScraperRbacMissing)),
        harness: None,
    },
    Fault {
        info: FaultInfo {
            id: "F43",
            name: "scraper-config-no-canary-job",
            summary: "the scraper's configuration has no scrape job for the canary",
            direct: None,
            collector: None,
        },
        mock: Some(M::Cluster(C::ScraperConfigWithoutCanary)),
        harness: None,
    },
    Fault {
        info: FaultInfo {
            id: "F44",
            name: "scraper-other-workspace",
            summary: "the scraper writes to another AMP workspace than the run's",
            direct: None,
            collector: None,
        },
        mock: Some(M::Cluster(C::ScraperOtherWorkspace)),
        harness: None,
    },
    Fault {
        info: FaultInfo {
            id: "F49",
            name: "scraper-endpoint-public-only",
            summary: "the cluster's API endpoint has public access only: the scraper, inside the VPC, cannot reach it",
            direct: None,
            collector: None,
        },
        mock: Some(M::Cluster(C::ClusterEndpointPublicOnly)),
        harness: None,
    },
    // F35-F39: EKS Pod Identity (scenarios with `identity: pod-identity`).
    Fault {
        info: FaultInfo {
            id: "F35",
            name: "pod-identity-association-missing",
            summary: "the collector's service account has no EKS pod identity association (and no IRSA annotation)",
            direct: None,
            collector: None,
        },
        mock: Some(M::Cluster(C::RemoveAssociation)),
        harness: None,
    },
    Fault {
        info: FaultInfo {
            id: "F36",
            name: "pod-identity-agent-missing",
            summary: "the eks-pod-identity-agent add-on is not installed",
            direct: None,
            collector: None,
        },
        mock: Some(M::Cluster(C::RemoveAgent)),
        harness: None,
    },
    Fault {
        info: FaultInfo {
            id: "F36",
            name: "pod-identity-agent-not-ready",
            summary: "the eks-pod-identity-agent DaemonSet has no ready pod (the agent cannot start on a node with IPv6 disabled)",
            direct: None,
            collector: None,
        },
        mock: Some(M::Cluster(C::AgentNotReady)),
        harness: None,
    },
    Fault {
        info: FaultInfo {
            id: "F37",
            name: "pod-identity-trust-no-principal",
            summary: "the association's role trusts only the cluster's OIDC provider (IRSA), not pods.eks.amazonaws.com",
            direct: None,
            collector: None,
        },
        mock: Some(M::Cluster(C::TrustWithoutPodsPrincipal)),
        harness: None,
    },
    Fault {
        info: FaultInfo {
            id: "F37",
            name: "pod-identity-trust-no-tag-session",
            summary: "the association's role trusts pods.eks.amazonaws.com for sts:AssumeRole but not sts:TagSession",
            direct: None,
            collector: None,
        },
        mock: Some(M::Cluster(C::TrustWithoutTagSession)),
        harness: None,
    },
    Fault {
        info: FaultInfo {
            id: "F38",
            name: "pods-predate-association",
            summary: "the collector's pods were created before the pod identity association: they lack AWS_CONTAINER_CREDENTIALS_FULL_URI",
            direct: None,
            collector: None,
        },
        mock: Some(M::Cluster(C::PodsPredateAssociation)),
        harness: None,
    },
    Fault {
        info: FaultInfo {
            id: "F39",
            name: "irsa-and-pod-identity",
            summary: "the service account keeps its IRSA annotation beside a pod identity association: the SDK uses IRSA",
            direct: None,
            collector: None,
        },
        mock: Some(M::Cluster(C::IrsaAndPodIdentity)),
        harness: None,
    },
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
    use crate::chain::Shape;

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
            cluster: Some(crate::cluster::mock_shape(&spec).seed()),
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

    #[test]
    fn the_mocks_recipes_fit_every_shape_the_catalog_lets_a_fault_apply_to() {
        use pipecheck_mocks::Credentials;
        for f in CATALOG {
            let Some(MockFault::Cluster(c)) = f.mock else {
                continue;
            };
            for kind in ClusterCollector::ALL
                .into_iter()
                .filter(|k| f.applies_to(*k))
            {
                let shape = crate::cluster::mock_kind(kind);
                for credentials in [Credentials::Irsa, Credentials::PodIdentity] {
                    let has = match credentials {
                        Credentials::Irsa => !f.needs_pod_identity(),
                        Credentials::PodIdentity => !f.needs_irsa(),
                    };
                    if has {
                        assert_eq!(c.fits(shape, credentials), Ok(()), "{f:?} on {kind:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn only_faults_with_a_harness_side_are_refused_by_the_standalone_mock() {
        let harness: Vec<&str> = CATALOG
            .iter()
            .filter(|f| f.changes_harness_side())
            .map(|f| f.name)
            .collect();
        assert_eq!(
            harness,
            [
                "credentials-unknown",
                "amp-unsigned",
                "signing-region-wrong",
                "clock-skew",
                "out-of-order",
                "duplicate-sample",
                "too-many-labels",
                "collector-bad-flag",
                "collector-other-workspace",
                "canary-wrong-port",
                "grafana-token-expired",
                "grafana-dashboard-missing",
                "grafana-panel-no-data",
                "header-added-after-signing",
                "dashboard-old-metric-names",
            ]
        );
    }
}
