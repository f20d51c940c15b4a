//! What provisioning creates: named from the run id, tagged with it and its creation time,
//! so teardown, `pipecheck sweep` and a person can find it; each with the command that
//! deletes it by hand.

use std::time::SystemTime;

/// Tag (label) key naming the run that created a resource.
pub const RUN_TAG: &str = "pipecheck-run";
/// Tag key holding when the resource was created (RFC 3339, UTC).
pub const CREATED_TAG: &str = "pipecheck-created";
/// Prefix of every created name (workspace alias, role name): `sweep` lists by it.
pub const NAME_PREFIX: &str = "pipecheck-";
/// Prefix of the name of everything a run creates (run ids start with `pc-`): Grafana
/// objects carry no tags, `sweep` finds them by it.
pub const RUN_NAME_PREFIX: &str = "pipecheck-pc-";
/// The IAM path of every role pipecheck creates: `sweep` lists only this path.
pub const ROLE_PATH: &str = "/pipecheck/";
/// The collector role's inline policy (aps:RemoteWrite on the run's workspace).
pub const REMOTE_WRITE_POLICY: &str = "pipecheck-remote-write";

/// The tags every resource of one run carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunTags {
    pub run_id: String,
    pub created: String,
}

impl RunTags {
    pub fn new(run_id: &str, now: SystemTime) -> Self {
        Self {
            run_id: run_id.to_string(),
            created: humantime::format_rfc3339_seconds(now).to_string(),
        }
    }

    pub fn pairs(&self) -> [(&'static str, &str); 2] {
        [(RUN_TAG, &self.run_id), (CREATED_TAG, &self.created)]
    }
}

/// The name of everything a run creates that has one name (workspace alias, IAM role).
pub fn run_resource_name(run_id: &str) -> String {
    format!("{NAME_PREFIX}{run_id}")
}

/// One thing provisioning created (or was about to create: a workspace is registered
/// before CreateWorkspace answers, its id unknown, so an interrupt still finds it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resource {
    AmpWorkspace {
        alias: String,
        id: Option<String>,
    },
    IamRole {
        name: String,
    },
    IamRolePolicy {
        role: String,
        name: String,
    },
    /// A run's namespace: removing it removes everything the run made in the cluster.
    KubeNamespace {
        name: String,
    },
    /// A run's AMG service account (`pipecheck-<run id>`), left by a killed run.
    GrafanaServiceAccount {
        workspace: String,
        id: String,
        name: String,
    },
    /// A run's canary dashboard in the workspace's Grafana at `base`.
    GrafanaDashboard {
        base: String,
        uid: String,
    },
    /// A run's AMP data source in the workspace's Grafana at `base`.
    GrafanaDataSource {
        base: String,
        uid: String,
    },
}

impl Resource {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::AmpWorkspace { .. } => "amp-workspace",
            Self::IamRole { .. } => "iam-role",
            Self::IamRolePolicy { .. } => "iam-role-policy",
            Self::KubeNamespace { .. } => "kube-namespace",
            Self::GrafanaServiceAccount { .. } => "grafana-service-account",
            Self::GrafanaDashboard { .. } => "grafana-dashboard",
            Self::GrafanaDataSource { .. } => "grafana-datasource",
        }
    }

    pub fn name(&self) -> String {
        match self {
            Self::AmpWorkspace { alias, id } => match id {
                Some(id) => format!("{id} ({alias})"),
                None => alias.clone(),
            },
            Self::IamRole { name } => name.clone(),
            Self::IamRolePolicy { role, name } => format!("{role}/{name}"),
            Self::KubeNamespace { name } => name.clone(),
            Self::GrafanaServiceAccount {
                workspace,
                id,
                name,
                ..
            } => format!("{name} (id {id} in {workspace})"),
            Self::GrafanaDashboard { uid, .. } | Self::GrafanaDataSource { uid, .. } => uid.clone(),
        }
    }

    /// The command that deletes it by hand, for what teardown could not delete.
    pub fn delete_command(&self, region: &str) -> String {
        match self {
            Self::AmpWorkspace { id: Some(id), .. } => {
                format!("aws amp delete-workspace --region {region} --workspace-id {id}")
            }
            Self::AmpWorkspace { alias, id: None } => format!(
                "aws amp list-workspaces --region {region} --alias {alias} --query 'workspaces[].workspaceId' --output text | xargs -n1 aws amp delete-workspace --region {region} --workspace-id"
            ),
            Self::IamRole { name } => format!("aws iam delete-role --role-name {name}"),
            Self::IamRolePolicy { role, name } => {
                format!("aws iam delete-role-policy --role-name {role} --policy-name {name}")
            }
            Self::KubeNamespace { name } => format!("kubectl delete namespace {name}"),
            Self::GrafanaServiceAccount { workspace, id, .. } => format!(
                "aws grafana delete-workspace-service-account --region {region} --workspace-id {workspace} --service-account-id {id}"
            ),
            Self::GrafanaDashboard { base, uid } => format!(
                "curl -X DELETE -H \"Authorization: Bearer $GRAFANA_TOKEN\" {base}/api/dashboards/uid/{uid}"
            ),
            Self::GrafanaDataSource { base, uid } => format!(
                "curl -X DELETE -H \"Authorization: Bearer $GRAFANA_TOKEN\" {base}/api/datasources/uid/{uid}"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn tags_carry_the_run_and_an_rfc3339_time() {
        let t = RunTags::new("pc-1", SystemTime::UNIX_EPOCH + Duration::from_secs(86_400));
        assert_eq!(
            t.pairs(),
            [
                ("pipecheck-run", "pc-1"),
                ("pipecheck-created", "1970-01-02T00:00:00Z")
            ]
        );
    }

    #[test]
    fn run_names_start_with_the_sweep_prefix() {
        assert!(run_resource_name(&crate::canary::new_run_id()).starts_with(RUN_NAME_PREFIX));
        assert!(
            crate::links::GrafanaRun::canary_dashboard_uid(&crate::canary::new_run_id())
                .starts_with(RUN_NAME_PREFIX)
        );
    }

    #[test]
    fn delete_commands_name_the_resource() {
        let ws = Resource::AmpWorkspace {
            alias: "pipecheck-pc-1".into(),
            id: Some("ws-1".into()),
        };
        assert_eq!(
            ws.delete_command("eu-west-1"),
            "aws amp delete-workspace --region eu-west-1 --workspace-id ws-1"
        );
        let p = Resource::IamRolePolicy {
            role: "pipecheck-pc-1".into(),
            name: REMOTE_WRITE_POLICY.into(),
        };
        assert_eq!(
            p.delete_command("eu-west-1"),
            "aws iam delete-role-policy --role-name pipecheck-pc-1 --policy-name pipecheck-remote-write"
        );
    }
}
