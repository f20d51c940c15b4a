//! Creating a [`Plan`] against the target's clients, and removing it again: every
//! resource is registered before the call that creates it (so an interrupt between the
//! call and its answer still finds it), and removed in the reverse order, each deletion
//! retried with backoff. What could not be removed is reported with its delete command.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use backon::{ExponentialBuilder, Retryable};
use serde_json::json;

use crate::chain::{BoxFuture, Fate, Lane, Teardown, Undo, Undone, Unwind};
use crate::cluster::sdk_error;
use crate::target::Target;
use crate::wait::{Probe, Waited, wait_until};

use super::plan::{Plan, Step};
use super::resource::{ROLE_PATH, Resource, RunTags};

/// The clients provisioning uses, cloned from the run's target (cheap: shared handles).
#[derive(Clone)]
pub struct Clients {
    pub region: String,
    pub amp: aws_sdk_amp::Client,
    pub iam: aws_sdk_iam::Client,
    pub sts: aws_sdk_sts::Client,
    pub eks: aws_sdk_eks::Client,
    pub amg: aws_sdk_grafana::Client,
    /// The cluster's Kubernetes API (cluster scenarios).
    pub kube: Option<kube::Client>,
    /// The workspace's Grafana with a token, when Grafana content is to be removed.
    pub grafana: Option<crate::grafana_client::GrafanaClient>,
}

impl Clients {
    pub fn of(target: &Target) -> Self {
        Self {
            region: target.region.clone(),
            amp: target.amp.clone(),
            iam: target.iam.clone(),
            sts: target.sts.clone(),
            eks: target.eks.clone(),
            amg: target.amg.clone(),
            kube: target.kube.as_ref().map(|k| k.client.clone()),
            grafana: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    /// An AWS call refused or failed; `code` is the service's error code, if it answered.
    #[error("failed to {action} {what}: {detail}")]
    Call {
        action: &'static str,
        what: String,
        code: Option<String>,
        detail: String,
    },
    #[error("AMP workspace {id} did not become ACTIVE within {waited:?} (last status: {status})")]
    NotActive {
        id: String,
        status: String,
        waited: Duration,
    },
    /// The Kubernetes API refused or failed.
    #[error("failed to create {what} in the cluster: {detail}")]
    Kube { what: String, detail: String },
    #[error(
        "EKS cluster {0} has no OIDC issuer, which IRSA needs (eksctl utils associate-iam-oidc-provider --cluster {0} --approve)"
    )]
    NoOidcIssuer(String),
}

impl ProvisionError {
    fn call<E, R>(action: &'static str, what: &str, e: &SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        let (code, detail) = sdk_error(e);
        Self::Call {
            action,
            what: what.to_string(),
            code,
            detail,
        }
    }
}

/// What a run's provisioning made that the links use.
#[derive(Clone, Debug, Default)]
pub struct Provisioned {
    pub workspace_id: Option<String>,
    pub role_arn: Option<String>,
    pub created: Vec<Resource>,
}

// ---------------------------------------------------------------------------------------
// On the run's teardown stack

/// A resource `--provision` makes, on the run's teardown stack from just before the call
/// that creates it. The slot is shared with the creator, which fills in what only the
/// answer says (a new workspace's id).
struct Made {
    clients: Clients,
    resource: Arc<Mutex<Resource>>,
}

impl Made {
    fn push(teardown: &Teardown, clients: &Clients, resource: Resource) -> Arc<Mutex<Resource>> {
        let slot = Arc::new(Mutex::new(resource));
        teardown.push(Made {
            clients: clients.clone(),
            resource: slot.clone(),
        });
        slot
    }
}

impl Undo for Made {
    fn undo(self: Box<Self>, how: Unwind) -> BoxFuture<'static, Undone> {
        Box::pin(async move {
            let resource = self
                .resource
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            if how.keep {
                let what = format!("{} {}", resource.kind(), resource.name());
                return Undone {
                    lane: Lane::Provisioned,
                    line: format!("kept {what} (--keep)"),
                    what,
                    fate: Fate::Kept,
                    by_hand: Some(resource.delete_command(&self.clients.region)),
                };
            }
            // Interrupted: fewer retries, the user is waiting.
            let retries = if how.hurried { 2 } else { 5 };
            delete(&self.clients, &resource, retries).await.undone()
        })
    }
}

// ---------------------------------------------------------------------------------------
// Creating

/// Creates `plan`'s steps in order, each pushed on `teardown` before the call that makes
/// it (an interrupt between the call and its answer still finds it). On error, what was
/// made stays on the stack: the caller unwinds it as after a run.
pub async fn provision(
    clients: &Clients,
    plan: &Plan,
    given_workspace: Option<&str>,
    active_within: Duration,
    teardown: &Teardown,
) -> Result<Provisioned, ProvisionError> {
    let run_id = plan.tags.run_id.as_str();
    let mut out = Provisioned {
        workspace_id: given_workspace.map(str::to_string),
        ..Provisioned::default()
    };
    let mut workspace_arn = None;
    for step in &plan.steps {
        match step {
            Step::Workspace { alias } => {
                let (id, arn) = create_workspace(clients, alias, &plan.tags, teardown).await?;
                wait_active(clients, &id, active_within).await?;
                out.created.push(Resource::AmpWorkspace {
                    alias: alias.clone(),
                    id: Some(id.clone()),
                });
                out.workspace_id = Some(id);
                workspace_arn = Some(arn);
            }
            Step::CollectorRole {
                name,
                cluster,
                namespace,
                service_account,
            } => {
                let trust = trust_policy(clients, cluster, namespace, service_account).await?;
                let resource = Resource::IamRole { name: name.clone() };
                Made::push(teardown, clients, resource.clone());
                let created = clients
                    .iam
                    .create_role()
                    .role_name(name)
                    .path(ROLE_PATH)
                    .assume_role_policy_document(trust.to_string())
                    .description(format!(
                        "pipecheck run {run_id}: the collector's IRSA role (remove with pipecheck sweep)"
                    ))
                    .set_tags(Some(iam_tags(&plan.tags)))
                    .send()
                    .await
                    .map_err(|e| ProvisionError::call("create IAM role", name, &e))?;
                out.role_arn = created.role().map(|r| r.arn().to_string());
                out.created.push(resource);
            }
            Step::RemoteWritePolicy { role, name } => {
                let arn = match &workspace_arn {
                    Some(a) => a.clone(),
                    None => given_workspace_arn(clients, out.workspace_id.as_deref()).await?,
                };
                let resource = Resource::IamRolePolicy {
                    role: role.clone(),
                    name: name.clone(),
                };
                Made::push(teardown, clients, resource.clone());
                let doc = json!({
                    "Version": "2012-10-17",
                    "Statement": [{
                        "Effect": "Allow",
                        "Action": ["aps:RemoteWrite"],
                        "Resource": arn,
                    }]
                });
                clients
                    .iam
                    .put_role_policy()
                    .role_name(role)
                    .policy_name(name)
                    .policy_document(doc.to_string())
                    .send()
                    .await
                    .map_err(|e| {
                        ProvisionError::call("put the remote-write policy on role", role, &e)
                    })?;
                out.created.push(resource);
            }
            Step::CollectorInCluster {
                kind,
                namespace,
                collector,
                service_account,
            } => {
                let kube = clients.kube.as_ref().ok_or_else(|| ProvisionError::Kube {
                    what: format!("namespace {namespace}"),
                    detail: "no Kubernetes client (--kubeconfig, KUBECONFIG)".into(),
                })?;
                let role_arn = out.role_arn.clone().unwrap_or_default();
                let url = remote_write_url(clients, out.workspace_id.as_deref()).await?;
                let spec = super::kube::Collector {
                    kind: *kind,
                    namespace,
                    name: collector,
                    service_account,
                    role_arn: &role_arn,
                    remote_write_url: &url,
                    region: &clients.region,
                };
                let resource = Resource::KubeNamespace {
                    name: namespace.clone(),
                };
                Made::push(teardown, clients, resource.clone());
                for (plural, obj) in super::kube::objects(&plan.tags, &spec) {
                    super::kube::create(kube, plural, &obj)
                        .await
                        .map_err(|detail| {
                            let name = obj["metadata"]["name"].as_str().unwrap_or_default();
                            ProvisionError::Kube {
                                what: format!("{plural} {namespace}/{name}"),
                                detail,
                            }
                        })?;
                }
                out.created.push(resource);
                for d in [spec.deployment(), super::kube::CANARY_TARGET.to_string()] {
                    wait_ready(kube, namespace, &d, active_within).await?;
                }
            }
        }
    }
    Ok(out)
}

/// The remote-write URL of the run's workspace (DescribeWorkspace's endpoint).
async fn remote_write_url(clients: &Clients, id: Option<&str>) -> Result<String, ProvisionError> {
    let id = id.unwrap_or_default();
    let d = clients
        .amp
        .describe_workspace()
        .workspace_id(id)
        .send()
        .await
        .map_err(|e| ProvisionError::call("describe AMP workspace", id, &e))?;
    let endpoint = d
        .workspace()
        .and_then(|w| w.prometheus_endpoint())
        .unwrap_or_default();
    Ok(format!(
        "{}/api/v1/remote_write",
        endpoint.trim_end_matches('/')
    ))
}

/// Polls a Deployment until its replicas are ready.
async fn wait_ready(
    kube: &kube::Client,
    ns: &str,
    name: &str,
    within: Duration,
) -> Result<(), ProvisionError> {
    let waited = wait_until(within, Duration::from_millis(100), || async {
        match super::kube::deployment_ready(kube, ns, name).await {
            Ok(true) => Probe::Done(Ok(())),
            Ok(false) => Probe::Pending(Ok(())),
            Err(e) => Probe::Abort(Err(e)),
        }
    })
    .await;
    let what = format!("Deployment {ns}/{name}");
    match waited {
        Waited::Done { .. } => Ok(()),
        Waited::Aborted {
            value: Err(detail), ..
        } => Err(ProvisionError::Kube { what, detail }),
        _ => Err(ProvisionError::Kube {
            what,
            detail: format!("not ready within {within:?}"),
        }),
    }
}

async fn create_workspace(
    clients: &Clients,
    alias: &str,
    tags: &RunTags,
    teardown: &Teardown,
) -> Result<(String, String), ProvisionError> {
    // Until the answer names it, the workspace is found by its alias (the run's).
    let slot = Made::push(
        teardown,
        clients,
        Resource::AmpWorkspace {
            alias: alias.to_string(),
            id: None,
        },
    );
    let tag_map: HashMap<String, String> = tags
        .pairs()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let created = clients
        .amp
        .create_workspace()
        .alias(alias)
        .set_tags(Some(tag_map))
        .send()
        .await
        .map_err(|e| ProvisionError::call("create AMP workspace", alias, &e))?;
    let id = created.workspace_id().to_string();
    if let Resource::AmpWorkspace { id: slot, .. } =
        &mut *slot.lock().unwrap_or_else(|e| e.into_inner())
    {
        *slot = Some(id.clone());
    }
    Ok((id, created.arn().to_string()))
}

/// Polls DescribeWorkspace until ACTIVE (a new workspace is CREATING for a while).
async fn wait_active(clients: &Clients, id: &str, within: Duration) -> Result<(), ProvisionError> {
    use aws_sdk_amp::types::WorkspaceStatusCode as S;
    let waited = wait_until(within, Duration::from_millis(100), || async {
        match clients
            .amp
            .describe_workspace()
            .workspace_id(id)
            .send()
            .await
        {
            Ok(d) => {
                let status = d
                    .workspace()
                    .and_then(|w| w.status())
                    .map(|s| s.status_code().clone());
                match status {
                    Some(S::Active) => Probe::Done(Ok("ACTIVE".to_string())),
                    Some(S::CreationFailed) => Probe::Abort(Ok("CREATION_FAILED".to_string())),
                    Some(s) => Probe::Pending(Ok(s.as_str().to_string())),
                    None => Probe::Pending(Ok("unknown".to_string())),
                }
            }
            Err(e) => Probe::Abort(Err(ProvisionError::call("describe AMP workspace", id, &e))),
        }
    })
    .await;
    let (last, after) = match waited {
        Waited::Done { .. } => return Ok(()),
        Waited::Aborted { value, after, .. } => (Some(value), after),
        Waited::TimedOut { last, after, .. } => (last, after),
    };
    match last {
        Some(Err(e)) => Err(e),
        Some(Ok(status)) => Err(ProvisionError::NotActive {
            id: id.to_string(),
            status,
            waited: after,
        }),
        None => Err(ProvisionError::NotActive {
            id: id.to_string(),
            status: "no answer".to_string(),
            waited: after,
        }),
    }
}

/// The IRSA trust policy for exactly `namespace`/`service_account`, through the OIDC
/// provider of `cluster` (its issuer from EKS, the account from STS).
async fn trust_policy(
    clients: &Clients,
    cluster: &str,
    namespace: &str,
    service_account: &str,
) -> Result<serde_json::Value, ProvisionError> {
    let described = clients
        .eks
        .describe_cluster()
        .name(cluster)
        .send()
        .await
        .map_err(|e| ProvisionError::call("describe EKS cluster", cluster, &e))?;
    let issuer = described
        .cluster()
        .and_then(|c| c.identity())
        .and_then(|i| i.oidc())
        .and_then(|o| o.issuer())
        .filter(|i| !i.is_empty())
        .ok_or_else(|| ProvisionError::NoOidcIssuer(cluster.to_string()))?;
    let provider = issuer.trim_start_matches("https://").to_string();
    let me = clients
        .sts
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| ProvisionError::call("read the caller's account", "(sts)", &e))?;
    let account = me.account().unwrap_or_default();
    Ok(json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "Federated": format!("arn:aws:iam::{account}:oidc-provider/{provider}") },
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {
                "StringEquals": {
                    format!("{provider}:sub"): format!("system:serviceaccount:{namespace}:{service_account}"),
                    format!("{provider}:aud"): "sts.amazonaws.com",
                }
            }
        }]
    }))
}

async fn given_workspace_arn(
    clients: &Clients,
    id: Option<&str>,
) -> Result<String, ProvisionError> {
    let Some(id) = id else {
        return Err(ProvisionError::Call {
            action: "find",
            what: "the workspace to allow aps:RemoteWrite on".to_string(),
            code: None,
            detail: "no workspace was created or given".to_string(),
        });
    };
    let d = clients
        .amp
        .describe_workspace()
        .workspace_id(id)
        .send()
        .await
        .map_err(|e| ProvisionError::call("describe AMP workspace", id, &e))?;
    Ok(d.workspace()
        .map(|w| w.arn().to_string())
        .unwrap_or_default())
}

fn iam_tags(tags: &RunTags) -> Vec<aws_sdk_iam::types::Tag> {
    tags.pairs()
        .iter()
        .filter_map(|(k, v)| {
            aws_sdk_iam::types::Tag::builder()
                .key(*k)
                .value(*v)
                .build()
                .ok()
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Removing

/// How removing one resource went.
#[derive(Clone, Debug)]
pub struct Deletion {
    pub resource: Resource,
    pub region: String,
    pub attempts: u32,
    /// Err: the last refusal, after the retries.
    pub result: Result<(), String>,
}

impl Deletion {
    /// As the run's teardown reports it.
    pub fn undone(self) -> Undone {
        Undone {
            lane: Lane::Provisioned,
            what: format!("{} {}", self.resource.kind(), self.resource.name()),
            fate: if self.result.is_ok() {
                Fate::Removed
            } else {
                Fate::Failed
            },
            line: self.line(),
            by_hand: self
                .result
                .is_err()
                .then(|| self.resource.delete_command(&self.region)),
        }
    }

    /// One console line: what was removed, or what could not be and how to remove it.
    pub fn line(&self) -> String {
        match &self.result {
            Ok(()) => format!("deleted {} {}", self.resource.kind(), self.resource.name()),
            Err(e) => format!(
                "could NOT delete {} {} after {} attempt(s): {e}; delete it with: {}",
                self.resource.kind(),
                self.resource.name(),
                self.attempts,
                self.resource.delete_command(&self.region)
            ),
        }
    }
}

/// Deletes one resource, retrying refusals with backoff; already gone counts as deleted.
pub async fn delete(clients: &Clients, resource: &Resource, retries: usize) -> Deletion {
    let attempts = AtomicU32::new(0);
    let backoff = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(200))
        .with_max_delay(Duration::from_secs(3))
        .with_max_times(retries);
    let result = (|| async {
        attempts.fetch_add(1, Ordering::Relaxed);
        delete_once(clients, resource).await
    })
    .retry(backoff)
    .await;
    Deletion {
        resource: resource.clone(),
        region: clients.region.clone(),
        attempts: attempts.load(Ordering::Relaxed),
        result,
    }
}

fn gone(code: Option<&str>) -> bool {
    matches!(code, Some("ResourceNotFoundException" | "NoSuchEntity"))
}

/// A delete call's outcome: done, or already gone, is Ok; any other error its text.
fn deleted<T, E, R>(result: Result<T, SdkError<E, R>>) -> Result<(), String>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match result {
        Ok(_) => Ok(()),
        Err(e) => {
            let (code, text) = sdk_error(&e);
            if gone(code.as_deref()) {
                Ok(())
            } else {
                Err(text)
            }
        }
    }
}

async fn delete_once(clients: &Clients, resource: &Resource) -> Result<(), String> {
    match resource {
        Resource::AmpWorkspace { alias, id } => {
            let ids = match id {
                Some(id) => vec![id.clone()],
                None => workspaces_by_alias(clients, alias).await?,
            };
            for id in ids {
                match clients
                    .amp
                    .delete_workspace()
                    .workspace_id(&id)
                    .send()
                    .await
                {
                    Ok(_) => wait_gone(clients, &id).await,
                    Err(e) => {
                        let (code, text) = sdk_error(&e);
                        if !gone(code.as_deref()) {
                            return Err(text);
                        }
                    }
                }
            }
            Ok(())
        }
        Resource::IamRole { name } => {
            deleted(clients.iam.delete_role().role_name(name).send().await)
        }
        Resource::GrafanaServiceAccount { workspace, id, .. } => deleted(
            clients
                .amg
                .delete_workspace_service_account()
                .workspace_id(workspace)
                .service_account_id(id)
                .send()
                .await,
        ),
        Resource::KubeNamespace { name } => match &clients.kube {
            Some(k) => super::kube::delete_namespace(k, name).await,
            None => Err("no Kubernetes client".to_string()),
        },
        Resource::GrafanaDashboard { uid, .. } => {
            delete_in_grafana(clients, &format!("/api/dashboards/uid/{uid}")).await
        }
        Resource::GrafanaDataSource { uid, .. } => {
            delete_in_grafana(clients, &format!("/api/datasources/uid/{uid}")).await
        }
        Resource::IamRolePolicy { role, name } => deleted(
            clients
                .iam
                .delete_role_policy()
                .role_name(role)
                .policy_name(name)
                .send()
                .await,
        ),
    }
}

/// DELETE on the workspace's Grafana (404: already gone).
async fn delete_in_grafana(clients: &Clients, path: &str) -> Result<(), String> {
    let Some(grafana) = &clients.grafana else {
        return Err("no Grafana token to delete it with (set PIPECHECK_GRAFANA_TOKEN)".into());
    };
    match grafana.delete(path).await {
        Ok(ex) if ex.is_success() || ex.status == Some(404) => Ok(()),
        Ok(ex) => Err(format!(
            "Grafana answered {}: {}",
            ex.status.map(|s| s.to_string()).unwrap_or_default(),
            crate::grafana_client::message_of(&ex.body)
        )),
        Err(e) => Err(crate::error_chain(&e)),
    }
}

/// The ids of workspaces whose alias is exactly `alias` (the list matches a prefix).
async fn workspaces_by_alias(clients: &Clients, alias: &str) -> Result<Vec<String>, String> {
    let listed = clients
        .amp
        .list_workspaces()
        .alias(alias)
        .send()
        .await
        .map_err(|e| sdk_error(&e).1)?;
    Ok(listed
        .workspaces()
        .iter()
        .filter(|w| w.alias() == Some(alias))
        .map(|w| w.workspace_id().to_string())
        .collect())
}

/// A deleted workspace is DELETING for a while: wait (bounded) until it is gone, so what
/// comes next (a sweep, a test listing workspaces) does not see it.
async fn wait_gone(clients: &Clients, id: &str) {
    let _ = wait_until(
        Duration::from_secs(30),
        Duration::from_millis(100),
        || async {
            match clients
                .amp
                .describe_workspace()
                .workspace_id(id)
                .send()
                .await
            {
                Ok(_) => Probe::Pending(()),
                Err(e) if gone(sdk_error(&e).0.as_deref()) => Probe::Done(()),
                Err(_) => Probe::Abort(()),
            }
        },
    )
    .await;
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use pipecheck_mocks::{MockConfig, MockStack};
    use pipecheck_reports::Outcome;

    use super::*;
    use crate::scenario::Scenario;
    use crate::target::MockAccess;

    /// A role someone attached a managed policy to mid-run: IAM answers DeleteConflict,
    /// teardown retries, then fails `provision.teardown` naming the role and the command;
    /// the rest is still removed.
    #[tokio::test]
    async fn a_refused_deletion_fails_the_teardown_with_its_command() {
        let stack = MockStack::start(MockConfig::default()).await.unwrap();
        let ep = stack.endpoints();
        let target = Target::mock(MockAccess {
            endpoints: ep,
            access_key_id: ep.user.access_key_id.clone(),
            secret_access_key: ep.user.secret_access_key.clone(),
        })
        .await
        .unwrap();
        let clients = Clients::of(&target);
        let scenario = Scenario::load("eks-adot").unwrap();
        let run_id = "pc-refused0001";
        let plan = super::super::plan(run_id, scenario.cluster.as_ref(), false, SystemTime::now());
        let teardown = Teardown::default();
        let made = provision(&clients, &plan, None, Duration::from_secs(5), &teardown)
            .await
            .unwrap();
        assert_eq!(made.created.len(), 4);
        let role = format!("pipecheck-{run_id}");
        stack
            .iam
            .update_role(&role, |r| {
                r.attached_policies
                    .push("arn:aws:iam::aws:policy/AmazonPrometheusRemoteWriteAccess".into())
            })
            .unwrap();

        let how = Unwind {
            keep: false,
            hurried: false,
            request: Duration::from_secs(5),
        };
        let undone = teardown.unwind(how).await;
        let kinds: Vec<(&str, Fate)> = undone
            .iter()
            .map(|u| (u.what.split(' ').next().unwrap_or_default(), u.fate))
            .collect();
        assert_eq!(
            kinds,
            [
                ("kube-namespace", Fate::Removed),
                ("iam-role-policy", Fate::Removed),
                ("iam-role", Fate::Failed),
                ("amp-workspace", Fate::Removed)
            ]
        );
        assert!(
            undone[2].line.contains("after 6 attempt(s)"),
            "not retried: {:?}",
            undone[2]
        );
        assert!(stack.kube.get("namespaces", "", &role).is_none());
        assert!(stack.iam.role(&role).is_some(), "the refused role stays");
        let result = super::super::torn_down(&undone, Duration::ZERO);
        assert_eq!(result.outcome, Outcome::Fail);
        assert!(
            result.verdict.contains(&format!("iam-role {role}")),
            "{}",
            result.verdict
        );
        let hint = result.hint.unwrap_or_default();
        assert!(
            hint.contains(&format!("aws iam delete-role --role-name {role}")),
            "{hint}"
        );
        assert!(
            result.evidence[0].body.contains("DeleteConflict")
                && result.evidence[0]
                    .body
                    .contains("deleted kube-namespace pipecheck-"),
            "{:?}",
            result.evidence
        );
        assert!(
            teardown.unwind(how).await.is_empty(),
            "the stack is emptied"
        );
        stack.shutdown().await;
    }
}
