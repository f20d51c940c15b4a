//! The mock side of the fault catalog: one [`MockFault`] per thing a fault breaks in the
//! mocks' state, applied with [`MockStack::inject`]. A cluster fault needs the stack's
//! cluster prepared for a collector shape first ([`MockStack::prepare_cluster`]); its
//! recipes live with that shape in `cluster/`. Which fault lands on which link, and which
//! scenario can have it, is the harness's catalog's business, not the mocks'.

use crate::MockStack;
use crate::amp::{Throttle, WorkspaceStatus};
use crate::cluster::{ClusterShape, CollectorShape, Credentials};
use crate::eks::AddonStatus;

/// One mock-side fault, its parameters inline (so a catalog can hold it in a `const`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MockFault {
    /// The stack's user's credentials have expired.
    CredentialsExpired,
    /// The stack's AMP workspace exists, but in this other region.
    WorkspaceRegion(&'static str),
    /// The stack's AMP workspace is in this status (never ACTIVE).
    WorkspaceStatus(WorkspaceStatus),
    /// The stack's user keeps every IAM action but this one.
    Revoke(&'static str),
    /// AMP throttles remote writes (429 Rate exceeded), from anyone.
    Throttle(Throttle),
    /// AMP throttles the next N remote writes signed by the stack's user only (others
    /// pass: a collector's writes do not take the 429s meant for the user's).
    ThrottleUser(u32),
    /// AMP answers 200 to remote writes and stores nothing.
    DropAcceptedSamples,
    /// The stack's AMG workspace is in this status.
    AmgStatus(crate::amg::WorkspaceStatus),
    /// No user or group has a role in the AMG workspace.
    AmgNoPermissions,
    /// The AMG workspace authenticates with SAML, never configured (and nobody has a role).
    AmgSamlNotConfigured,
    /// Every Grafana token and API key of the AMG workspace has expired.
    GrafanaTokensExpired,
    /// The workspace's Grafana has no data source.
    GrafanaNoDataSource,
    /// The AMP data source's URL names this other workspace instead of the stack's.
    DataSourceWorkspace(&'static str),
    /// The AMP data source does not sign its queries (`sigV4Auth` off).
    DataSourceUnsigned,
    /// The AMP data source signs for this region.
    DataSourceRegion(&'static str),
    /// The AMG workspace's role lacks `action`; with `no_data`, its Grafana shows the
    /// refusal as "No data" (a Grafana bug) instead of an error.
    GrafanaRoleDenied { action: &'static str, no_data: bool },
    /// Something of the prepared cluster breaks.
    Cluster(ClusterFault),
}

/// Where a collector endpoint can be pointed to be unreachable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unreachable {
    /// The stack's black hole: TCP accepted, never an answer.
    BlackHole,
    /// The stack's refusing port: connections refused.
    Refused,
}

/// One fault recipe of the prepared mock cluster (catalog rows in the comments).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClusterFault {
    /// F11: the service account lost its role-arn annotation.
    Unannotate,
    /// F12: the role's trust names another namespace and/or service account.
    TrustOther {
        namespace: Option<&'static str>,
        service_account: Option<&'static str>,
    },
    /// F13: the cluster's OIDC issuer has no IAM OIDC provider.
    RemoveOidcProvider,
    /// F14: the role has no permission policy.
    DetachPolicies,
    /// F15: the collector crash-loops.
    CrashLoop,
    /// F18: the adot add-on is not installed.
    RemoveAdotAddon,
    /// F18: the adot add-on is in `status` with one health issue.
    AdotAddonStatus {
        status: AddonStatus,
        code: &'static str,
        message: &'static str,
    },
    /// F18: the cluster runs this Kubernetes version, which the add-on does not support.
    UpgradeCluster(&'static str),
    /// F19: cert-manager is not installed.
    RemoveCertManager,
    /// F19: cert-manager's webhook has no ready replica.
    CertManagerWebhookDown,
    /// F20: an annotated service account nobody uses; with `unannotate`, the one in use
    /// lost its annotation.
    UnusedIrsaAccount { unannotate: bool },
    /// F26: the pods started before the annotation: no IRSA env.
    PodsPredateAnnotation,
    /// F27: no IRSA, and the node requires IMDSv2 with hop limit 1.
    ImdsHopLimitOne,
    /// F28: the pods' STS endpoint is unreachable.
    StsEndpoint(Unreachable),
    /// F29: the collector's remote-write endpoint is unreachable.
    RemoteWriteEndpoint(Unreachable),
    /// F28/F29: private subnets without a NAT route, with interface endpoints for these
    /// services (suffix, private DNS on?).
    PrivateSubnets(&'static [(&'static str, bool)]),
    /// F30: the collector's sigv4 role is the one it already runs as.
    AssumeOwnRole,
    /// F32 (ADOT add-on): the exporter's retry and queue are off; batches dropped.
    DropOnFailure,
    /// F33: this many replicas without HA external labels.
    ReplicasWithoutHaLabels(u32),
    /// F45 (otelcol DaemonSet): kubernetes_sd without a node selector, on two nodes.
    DaemonsetDuplicateScrape,
    /// F46 (Prometheus operator): sigv4 without a region.
    OperatorSigv4WithoutRegion,
    /// F47 (Prometheus operator): two replicas keeping `prometheus_replica`.
    OperatorReplicasWithoutHaLabels,
    /// F48 (Prometheus operator): no operator reconciles the resource.
    OperatorNotReconciling,
    /// F40 (AMP scraper): CREATION_FAILED.
    ScraperCreationFailed,
    /// F41 (AMP scraper): no access entry for its role.
    ScraperNoAccessEntry,
    /// F42 (AMP scraper): no ClusterRoleBinding for its user.
    ScraperRbacMissing,
    /// F43 (AMP scraper): no scrape job for the canary.
    ScraperConfigWithoutCanary,
    /// F44 (AMP scraper): it writes to another workspace.
    ScraperOtherWorkspace,
    /// F49: the cluster's API endpoint is public only.
    ClusterEndpointPublicOnly,
    /// F35 (Pod Identity): no association for the service account.
    RemoveAssociation,
    /// F36 (Pod Identity): the agent add-on is not installed.
    RemoveAgent,
    /// F36 (Pod Identity): the agent's DaemonSet has no ready pod.
    AgentNotReady,
    /// F37 (Pod Identity): the role trusts only the OIDC provider.
    TrustWithoutPodsPrincipal,
    /// F37 (Pod Identity): the role's trust lacks `sts:TagSession`.
    TrustWithoutTagSession,
    /// F38 (Pod Identity): the pods predate the association.
    PodsPredateAssociation,
    /// F39 (Pod Identity): IRSA annotation kept beside the association.
    IrsaAndPodIdentity,
}

impl ClusterFault {
    /// Whether the recipe has something to break on a cluster prepared as `kind` with
    /// `credentials` (else it would change nothing): the shape-specific recipes need their
    /// shape, EKS Pod Identity's need that identity. Err: what it needs.
    pub fn fits(self, kind: CollectorShape, credentials: Credentials) -> Result<(), &'static str> {
        use ClusterFault as F;
        let need = match self {
            F::DropOnFailure => {
                (kind != CollectorShape::AdotAddon).then_some("the adot add-on's collector")
            }
            F::DaemonsetDuplicateScrape => {
                (kind != CollectorShape::Otelcol).then_some("an otelcol collector")
            }
            F::OperatorSigv4WithoutRegion
            | F::OperatorReplicasWithoutHaLabels
            | F::OperatorNotReconciling => (kind != CollectorShape::PrometheusOperator)
                .then_some("a Prometheus operator's collector"),
            F::ScraperCreationFailed
            | F::ScraperNoAccessEntry
            | F::ScraperRbacMissing
            | F::ScraperConfigWithoutCanary
            | F::ScraperOtherWorkspace => {
                (kind != CollectorShape::AmpScraper).then_some("an AMP scraper")
            }
            F::RemoveAssociation
            | F::RemoveAgent
            | F::AgentNotReady
            | F::TrustWithoutPodsPrincipal
            | F::TrustWithoutTagSession
            | F::PodsPredateAssociation
            | F::IrsaAndPodIdentity => {
                (credentials != Credentials::PodIdentity).then_some("EKS Pod Identity")
            }
            _ => None,
        };
        need.map_or(Ok(()), Err)
    }
}

/// Why a fault could not be injected.
#[derive(Debug, thiserror::Error)]
pub enum InjectError {
    #[error("the mock cluster could not be prepared as {kind:?}: {why}")]
    Prepare { kind: CollectorShape, why: String },
    #[error(
        "cluster fault {fault:?} needs the mock cluster prepared for a collector shape first (MockStack::prepare_cluster)"
    )]
    NoCluster { fault: ClusterFault },
    #[error(
        "cluster fault {fault:?} needs {needs}; the mock cluster is {kind:?} with {credentials:?}"
    )]
    NotOnShape {
        fault: ClusterFault,
        needs: &'static str,
        kind: CollectorShape,
        credentials: Credentials,
    },
    #[error("fault {fault:?} needs the mock stack's {what}, which it was started without")]
    Missing {
        fault: MockFault,
        what: &'static str,
    },
}

impl MockStack {
    /// Shapes the stack's cluster (started with `shape.seed()`) as `shape`'s collector
    /// setup and keeps it for the cluster faults [`MockStack::inject`] applies.
    pub fn prepare_cluster(&self, shape: &ClusterShape) -> Result<(), InjectError> {
        let prepared =
            crate::cluster::prepare(self, shape).map_err(|why| InjectError::Prepare {
                kind: shape.kind,
                why,
            })?;
        *self.cluster.lock().unwrap_or_else(|e| e.into_inner()) = Some(prepared);
        Ok(())
    }

    /// Breaks what `fault` says in the stack's state; the next requests see it.
    pub fn inject(&self, fault: &MockFault) -> Result<(), InjectError> {
        let missing = |what| InjectError::Missing {
            fault: *fault,
            what,
        };
        let ep = self.endpoints();
        let user = ep.user.access_key_id.clone();
        let workspace = || {
            ep.workspace_id
                .clone()
                .ok_or_else(|| missing("AMP workspace"))
        };
        let grafana = || {
            ep.grafana_workspace_id
                .clone()
                .ok_or_else(|| missing("AMG workspace"))
        };
        let data_source = |f: &dyn Fn(&mut crate::grafana::DataSource)| {
            grafana().map(|ws| {
                self.amg
                    .update_data_source(&ws, crate::amg::SEED_DATA_SOURCE_UID, f);
            })
        };
        match *fault {
            MockFault::CredentialsExpired => {
                self.identities.update(&user, |id| id.expired = true);
            }
            MockFault::WorkspaceRegion(region) => {
                let id = workspace()?;
                if let Some(mut ws) = self.amp.remove_workspace(&id) {
                    ws.arn = ws
                        .arn
                        .replace(&format!(":{}:", ep.region), &format!(":{region}:"));
                    ws.region = region.to_string();
                    self.amp.insert_workspace(ws);
                }
            }
            MockFault::WorkspaceStatus(status) => {
                let id = workspace()?;
                self.amp.with_workspace(&id, |w| {
                    w.status = status;
                    w.active_at = None;
                });
            }
            MockFault::Revoke(action) => {
                self.identities.update(&user, |id| {
                    id.allowed_actions = crate::identity::KNOWN_ACTIONS
                        .iter()
                        .filter(|a| **a != action)
                        .map(|a| a.to_string())
                        .collect();
                });
            }
            MockFault::Throttle(t) => self.amp_faults(|f| f.throttle_remote_write = t),
            MockFault::ThrottleUser(n) => self.amp_faults(|f| {
                f.throttle_remote_write = Throttle::Next(n);
                f.throttle_only = Some(user.clone());
            }),
            MockFault::DropAcceptedSamples => self.amp_faults(|f| f.drop_accepted_samples = true),
            MockFault::AmgStatus(status) => {
                self.amg.set_status(&grafana()?, status);
            }
            MockFault::AmgNoPermissions => {
                self.amg.clear_permissions(&grafana()?);
            }
            MockFault::AmgSamlNotConfigured => {
                let ws = grafana()?;
                self.amg
                    .set_authentication(&ws, crate::amg::Authentication::saml_not_configured());
                self.amg.clear_permissions(&ws);
            }
            MockFault::GrafanaTokensExpired => {
                self.amg.expire_tokens(&grafana()?);
            }
            MockFault::GrafanaNoDataSource => {
                self.amg.remove_data_sources(&grafana()?);
            }
            MockFault::DataSourceWorkspace(other) => {
                let ws = workspace()?;
                data_source(&|d| d.url = d.url.replace(&ws, other))?;
            }
            MockFault::DataSourceUnsigned => {
                data_source(&|d| d.json_data["sigV4Auth"] = false.into())?;
            }
            MockFault::DataSourceRegion(region) => {
                data_source(&|d| d.json_data["sigV4Region"] = region.into())?;
            }
            MockFault::GrafanaRoleDenied { action, no_data } => {
                let ws = grafana()?;
                self.amg.deny_role_action(&ws, action);
                if no_data {
                    self.amg.with_workspace(&ws, |w| {
                        w.grafana.behaviour.amp_http_errors =
                            crate::grafana::AmpHttpErrors::NoDataBug;
                    });
                }
            }
            MockFault::Cluster(c) => self.break_cluster(c)?,
        }
        Ok(())
    }

    fn amp_faults(&self, f: impl FnOnce(&mut crate::amp::AmpFaults)) {
        let mut faults = self.amp.faults();
        f(&mut faults);
        self.amp.set_faults(faults);
    }

    fn break_cluster(&self, fault: ClusterFault) -> Result<(), InjectError> {
        use ClusterFault as F;
        let guard = self.cluster.lock().unwrap_or_else(|e| e.into_inner());
        let c = guard.as_ref().ok_or(InjectError::NoCluster { fault })?;
        fault
            .fits(c.kind, c.credentials)
            .map_err(|needs| InjectError::NotOnShape {
                fault,
                needs,
                kind: c.kind,
                credentials: c.credentials,
            })?;
        let s = self;
        let at = |u: Unreachable| match u {
            Unreachable::BlackHole => s.endpoints().black_hole.clone(),
            Unreachable::Refused => s.endpoints().refused.clone(),
        };
        match fault {
            F::Unannotate => c.unannotate(s),
            F::TrustOther {
                namespace,
                service_account,
            } => c.trust_other(s, namespace, service_account),
            F::RemoveOidcProvider => c.remove_oidc_provider(s),
            F::DetachPolicies => c.detach_policies(s),
            F::CrashLoop => c.crash_loop(s),
            F::RemoveAdotAddon => c.remove_addon(s),
            F::AdotAddonStatus {
                status,
                code,
                message,
            } => c.addon_status(s, status, code, message),
            F::UpgradeCluster(version) => c.upgrade_cluster(s, version),
            F::RemoveCertManager => c.remove_cert_manager(s),
            F::CertManagerWebhookDown => c.cert_manager_webhook_down(s),
            F::UnusedIrsaAccount { unannotate } => c.add_unused_irsa_account(s, unannotate),
            F::PodsPredateAnnotation => c.pods_predate_annotation(s),
            F::ImdsHopLimitOne => c.imds_hop_limit_one(s),
            F::StsEndpoint(u) => c.sts_endpoint_at(s, &at(u)),
            F::RemoteWriteEndpoint(u) => c.remote_write_at(s, &at(u)),
            F::PrivateSubnets(endpoints) => c.private_subnets(s, endpoints),
            F::AssumeOwnRole => c.assume_own_role(s),
            F::DropOnFailure => c.drop_on_failure(s),
            F::ReplicasWithoutHaLabels(n) => c.replicas_without_ha_labels(s, n),
            F::DaemonsetDuplicateScrape => c.daemonset_duplicate_scrape(s),
            F::OperatorSigv4WithoutRegion => c.operator_sigv4_without_region(s),
            F::OperatorReplicasWithoutHaLabels => c.operator_replicas_without_ha_labels(s),
            F::OperatorNotReconciling => c.operator_not_reconciling(s),
            F::ScraperCreationFailed => c.scraper_creation_failed(s),
            F::ScraperNoAccessEntry => c.scraper_no_access_entry(s),
            F::ScraperRbacMissing => c.scraper_rbac_missing(s),
            F::ScraperConfigWithoutCanary => c.scraper_config_without_canary(s),
            F::ScraperOtherWorkspace => c.scraper_other_workspace(s),
            F::ClusterEndpointPublicOnly => c.cluster_endpoint_public_only(s),
            F::RemoveAssociation => c.remove_association(s),
            F::RemoveAgent => c.remove_agent(s),
            F::AgentNotReady => c.agent_not_ready(s),
            F::TrustWithoutPodsPrincipal => c.trust_without_pods_principal(s),
            F::TrustWithoutTagSession => c.trust_without_tag_session(s),
            F::PodsPredateAssociation => c.pods_predate_association(s),
            F::IrsaAndPodIdentity => c.irsa_and_pod_identity(s),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MockConfig;

    #[tokio::test]
    async fn cluster_faults_need_a_cluster_prepared_for_their_shape() {
        let stack = MockStack::start(MockConfig::default()).await.unwrap();
        let crash = MockFault::Cluster(ClusterFault::CrashLoop);
        assert!(matches!(
            stack.inject(&crash),
            Err(InjectError::NoCluster { .. })
        ));
        let seed = crate::ClusterSeed::default();
        stack
            .prepare_cluster(&ClusterShape {
                kind: CollectorShape::AdotAddon,
                credentials: Credentials::Irsa,
                cluster_name: seed.cluster_name.clone(),
                namespace: seed.namespace.clone(),
                collector: seed.collector_name.clone(),
                service_account: seed.service_account.clone(),
                canary_job: "pipecheck-canary".into(),
            })
            .unwrap();
        stack.inject(&crash).unwrap();
        let pod = stack.adot.clone().unwrap().pod;
        let status = stack.kube.get("pods", &seed.namespace, &pod).unwrap()["status"].to_string();
        assert!(status.contains("CrashLoopBackOff"), "{status}");
        let err = stack
            .inject(&MockFault::Cluster(ClusterFault::ScraperRbacMissing))
            .unwrap_err();
        assert!(err.to_string().contains("an AMP scraper"), "{err}");
        let err = stack
            .inject(&MockFault::Cluster(ClusterFault::RemoveAgent))
            .unwrap_err();
        assert!(err.to_string().contains("EKS Pod Identity"), "{err}");
        stack.shutdown().await;
    }

    #[tokio::test]
    async fn a_revoked_action_is_the_only_one_the_user_loses() {
        let stack = MockStack::start(MockConfig::default()).await.unwrap();
        stack.inject(&MockFault::Revoke("aps:RemoteWrite")).unwrap();
        let key = stack.endpoints().user.access_key_id.clone();
        let mut allowed = std::collections::BTreeSet::new();
        stack
            .identities
            .update(&key, |id| allowed = id.allowed_actions.clone());
        assert!(!allowed.iter().any(|a| a == "aps:RemoteWrite"));
        assert_eq!(allowed.len(), crate::identity::KNOWN_ACTIONS.len() - 1);
        stack.shutdown().await;
    }

    #[tokio::test]
    async fn a_stack_without_a_workspace_says_so() {
        let stack = MockStack::start(MockConfig {
            workspace_alias: None,
            ..MockConfig::default()
        })
        .await
        .unwrap();
        let err = stack
            .inject(&MockFault::WorkspaceStatus(WorkspaceStatus::Creating))
            .unwrap_err();
        assert!(
            matches!(
                err,
                InjectError::Missing {
                    what: "AMP workspace",
                    ..
                }
            ),
            "{err}"
        );
        stack.shutdown().await;
    }
}
