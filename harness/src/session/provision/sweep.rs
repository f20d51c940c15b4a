//! `pipecheck sweep`: what earlier `--provision` runs left (`--keep`, a killed process, a
//! deletion that failed), found by their tags, and removed (or listed with `--dry-run`).
//! Only resources carrying the `pipecheck-run` tag are touched; names and paths only
//! narrow the listing.

use std::time::{Duration, SystemTime};

use crate::cluster::sdk_error;

use super::apply::{Clients, Deletion, delete};
use super::resource::{CREATED_TAG, NAME_PREFIX, ROLE_PATH, RUN_NAME_PREFIX, RUN_TAG, Resource};
use crate::grafana_client::{GrafanaClient, json_of};
use crate::target::Target;

#[derive(clap::Args, Debug)]
pub struct SweepArgs {
    /// Only resources created longer ago than this (e.g. 2h, 1d); default: all.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub older_than: Option<Duration>,
    /// List what would be deleted, delete nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// AWS region of the AMP workspaces (IAM is global).
    #[arg(long)]
    pub region: Option<String>,
    /// The AMG workspace whose run service accounts, canary dashboards and data sources
    /// to sweep (else PIPECHECK_GRAFANA_WORKSPACE_ID); dashboards and data sources need
    /// an Admin token in PIPECHECK_GRAFANA_TOKEN.
    #[arg(long = "grafana-workspace", value_name = "ID")]
    pub grafana_workspace_id: Option<String>,
    /// The workspace's Grafana URL (else PIPECHECK_GRAFANA_URL, else DescribeWorkspace's).
    #[arg(long = "grafana-url", value_name = "URL")]
    pub grafana_url: Option<String>,
}

/// A resource an earlier run created, with its tags.
#[derive(Clone, Debug)]
pub struct Found {
    pub resource: Resource,
    pub run_id: String,
    pub created: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error("failed to list {what}: {detail}")]
    List { what: &'static str, detail: String },
    #[error(transparent)]
    Target(#[from] crate::target::TargetError),
    #[error("failed to start the async runtime")]
    Runtime(#[source] std::io::Error),
}

/// `pipecheck sweep`: finds, lists, deletes (unless `--dry-run`); prints one line per
/// resource. Exit code 1 when something could not be deleted.
pub fn run(args: SweepArgs) -> Result<pipecheck_reports::Exit, SweepError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(SweepError::Runtime)?;
    rt.block_on(async {
        let env = crate::target::Environment::Process;
        let mut target = Target::aws(&env, args.region.clone(), None)
            .await?
            .with_grafana(crate::target::GrafanaSettings::for_aws(
                &env,
                args.grafana_workspace_id.clone(),
                args.grafana_url.clone(),
                None,
            ));
        // The cluster is swept when a kubeconfig is there (KUBECONFIG, ~/.kube/config).
        target.kube = crate::target::KubeAccess::from_kubeconfig(None, None)
            .await
            .ok();
        let sweep = prepare(&target, &args).await?;
        for note in &sweep.notes {
            println!("{note}");
        }
        let clients = sweep.clients;
        // Grafana first (dashboards use data sources), then the cluster (a namespace takes
        // its objects with it), IAM, AMP.
        let mut found = match &sweep.grafana_workspace {
            Some(ws) => find_grafana(&clients, ws).await?,
            None => Vec::new(),
        };
        found.extend(find_kube(&clients, args.older_than).await?);
        found.extend(find(&clients, args.older_than).await?);
        let verb = if args.dry_run {
            "would delete"
        } else {
            "found"
        };
        for f in &found {
            println!(
                "{verb} {} {} (run {}, created {})",
                f.resource.kind(),
                f.resource.name(),
                f.run_id,
                f.created
            );
        }
        if found.is_empty() {
            println!("nothing tagged pipecheck-run to sweep");
        }
        if args.dry_run || found.is_empty() {
            return Ok(pipecheck_reports::Exit::Success);
        }
        let deletions = remove(&clients, &found).await;
        for d in &deletions {
            println!("{}", d.line());
        }
        Ok(pipecheck_reports::Exit::failure_if(
            deletions.iter().any(|d| d.result.is_err()),
        ))
    })
}

/// What a sweep will look at: the clients (with the workspace's Grafana when a token is
/// given), and what it leaves out and why.
pub struct Sweep {
    pub clients: Clients,
    pub grafana_workspace: Option<String>,
    pub notes: Vec<String>,
}

/// Sets a sweep up from `target` (its Grafana settings from the flags and environment).
pub async fn prepare(target: &Target, args: &SweepArgs) -> Result<Sweep, SweepError> {
    let mut sweep = Sweep {
        clients: Clients::of(target),
        grafana_workspace: None,
        notes: Vec::new(),
    };
    if sweep.clients.kube.is_none() {
        sweep
            .notes
            .push("Kubernetes not swept: no kubeconfig (KUBECONFIG, ~/.kube/config)".into());
    }
    let Some(workspace) = target.grafana.workspace_id.clone() else {
        sweep.notes.push(
            "Grafana not swept: no workspace (--grafana-workspace or PIPECHECK_GRAFANA_WORKSPACE_ID)"
                .into(),
        );
        return Ok(sweep);
    };
    if args.older_than.is_some() {
        // Service accounts, dashboards and data sources carry no creation time.
        sweep.notes.push(format!(
            "Grafana {workspace} not swept with --older-than: its objects carry no creation time"
        ));
        return Ok(sweep);
    }
    sweep.grafana_workspace = Some(workspace.clone());
    let Some(token) = target.grafana.token.clone() else {
        sweep.notes.push(format!(
            "Grafana {workspace}: dashboards and data sources not swept without an Admin token (PIPECHECK_GRAFANA_TOKEN); service accounts are"
        ));
        return Ok(sweep);
    };
    let endpoint = match &target.grafana.url {
        Some(_) => String::new(),
        None => target
            .amg
            .describe_workspace()
            .workspace_id(&workspace)
            .send()
            .await
            .map_err(|e| list_error("the Grafana workspace", &e))?
            .workspace()
            .map(|w| w.endpoint().to_string())
            .unwrap_or_default(),
    };
    let url = target.grafana_url(&endpoint).ok_or(SweepError::List {
        what: "the Grafana workspace",
        detail: format!("{workspace} has no endpoint: pass --grafana-url"),
    })?;
    let client =
        GrafanaClient::new(target.http.clone(), &url, Duration::from_secs(10)).map_err(|e| {
            SweepError::List {
                what: "the Grafana workspace",
                detail: crate::error_chain(&e),
            }
        })?;
    sweep.clients.grafana = Some(client.with_token(token));
    Ok(sweep)
}

/// What earlier runs left in a Grafana workspace, found by name (Grafana keeps no tags):
/// canary dashboards and data sources whose uid starts with `pipecheck-pc-`, then AMG
/// service accounts so named.
pub async fn find_grafana(clients: &Clients, workspace: &str) -> Result<Vec<Found>, SweepError> {
    let mut out = Vec::new();
    let found = |resource: Resource, name: &str| Found {
        resource,
        run_id: name.trim_start_matches(NAME_PREFIX).to_string(),
        created: "unknown".to_string(),
    };
    if let Some(grafana) = &clients.grafana {
        for (path, dashboards) in [
            ("/api/search?type=dash-db&limit=5000", true),
            ("/api/datasources", false),
        ] {
            let ex = grafana.get(path).await.map_err(|e| SweepError::List {
                what: "Grafana content",
                detail: crate::error_chain(&e),
            })?;
            let listed =
                json_of(&ex)
                    .filter(|_| ex.is_success())
                    .ok_or_else(|| SweepError::List {
                        what: "Grafana content",
                        detail: format!("GET {path}: {}", ex.summary()),
                    })?;
            for item in listed.as_array().into_iter().flatten() {
                let Some(uid) = item["uid"]
                    .as_str()
                    .filter(|u| u.starts_with(RUN_NAME_PREFIX))
                else {
                    continue;
                };
                let base = grafana.base().to_string();
                let uid = uid.to_string();
                let resource = if dashboards {
                    Resource::GrafanaDashboard {
                        base,
                        uid: uid.clone(),
                    }
                } else {
                    Resource::GrafanaDataSource {
                        base,
                        uid: uid.clone(),
                    }
                };
                out.push(found(resource, &uid));
            }
        }
    }
    let mut token: Option<String> = None;
    loop {
        let page = clients
            .amg
            .list_workspace_service_accounts()
            .workspace_id(workspace)
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| list_error("Grafana service accounts", &e))?;
        for sa in page.service_accounts() {
            if sa.name().starts_with(RUN_NAME_PREFIX) {
                out.push(found(
                    Resource::GrafanaServiceAccount {
                        workspace: workspace.to_string(),
                        id: sa.id().to_string(),
                        name: sa.name().to_string(),
                    },
                    sa.name(),
                ));
            }
        }
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    Ok(out)
}

fn list_error<E, R>(
    what: &'static str,
    e: &aws_smithy_runtime_api::client::result::SdkError<E, R>,
) -> SweepError
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    SweepError::List {
        what,
        detail: sdk_error(e).1,
    }
}

/// Whether tags mark a resource of a run created before `cutoff` (None: any time). A
/// creation time that does not parse is not old enough: sweep never guesses.
fn tagged_before<'a>(
    mut tags: impl Iterator<Item = (&'a str, &'a str)>,
    cutoff: Option<SystemTime>,
) -> Option<(String, String)> {
    let (mut run, mut created) = (None, None);
    for (k, v) in tags.by_ref() {
        if k == RUN_TAG {
            run = Some(v.to_string());
        } else if k == CREATED_TAG {
            created = Some(v.to_string());
        }
    }
    let run = run?;
    let created = created.unwrap_or_default();
    if let Some(cutoff) = cutoff {
        let at = humantime::parse_rfc3339(&created).ok()?;
        if at > cutoff {
            return None;
        }
    }
    Some((run, created))
}

/// Everything tagged by earlier runs, in deletion order: inline policies, roles,
/// workspaces.
pub async fn find(
    clients: &Clients,
    older_than: Option<Duration>,
) -> Result<Vec<Found>, SweepError> {
    let cutoff = older_than.map(|d| SystemTime::now() - d);
    let mut policies = Vec::new();
    let mut roles = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = clients
            .iam
            .list_roles()
            .path_prefix(ROLE_PATH)
            .set_marker(marker.take())
            .send()
            .await
            .map_err(|e| list_error("IAM roles", &e))?;
        for role in page.roles() {
            let name = role.role_name();
            let tags = clients
                .iam
                .list_role_tags()
                .role_name(name)
                .send()
                .await
                .map_err(|e| list_error("IAM role tags", &e))?;
            let Some((run_id, created)) =
                tagged_before(tags.tags().iter().map(|t| (t.key(), t.value())), cutoff)
            else {
                continue;
            };
            let inline = clients
                .iam
                .list_role_policies()
                .role_name(name)
                .send()
                .await
                .map_err(|e| list_error("IAM role policies", &e))?;
            for p in inline.policy_names() {
                policies.push(Found {
                    resource: Resource::IamRolePolicy {
                        role: name.to_string(),
                        name: p.clone(),
                    },
                    run_id: run_id.clone(),
                    created: created.clone(),
                });
            }
            roles.push(Found {
                resource: Resource::IamRole {
                    name: name.to_string(),
                },
                run_id,
                created,
            });
        }
        marker = page
            .marker()
            .map(str::to_string)
            .filter(|_| page.is_truncated());
        if marker.is_none() {
            break;
        }
    }
    let mut workspaces = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = clients
            .amp
            .list_workspaces()
            .alias(NAME_PREFIX)
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| list_error("AMP workspaces", &e))?;
        for w in page.workspaces() {
            let tags = clients
                .amp
                .list_tags_for_resource()
                .resource_arn(w.arn())
                .send()
                .await
                .map_err(|e| list_error("AMP workspace tags", &e))?;
            let Some((run_id, created)) = tags.tags().and_then(|t| {
                tagged_before(t.iter().map(|(k, v)| (k.as_str(), v.as_str())), cutoff)
            }) else {
                continue;
            };
            workspaces.push(Found {
                resource: Resource::AmpWorkspace {
                    alias: w.alias().unwrap_or_default().to_string(),
                    id: Some(w.workspace_id().to_string()),
                },
                run_id,
                created,
            });
        }
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    Ok(policies
        .into_iter()
        .chain(roles)
        .chain(workspaces)
        .collect())
}

/// The namespaces earlier runs made (label `pipecheck-run`), created before the cutoff
/// (annotation `pipecheck-created`).
pub async fn find_kube(
    clients: &Clients,
    older_than: Option<Duration>,
) -> Result<Vec<Found>, SweepError> {
    let Some(kube) = &clients.kube else {
        return Ok(Vec::new());
    };
    let cutoff = older_than.map(|d| SystemTime::now() - d);
    let listed = super::kube::run_namespaces(kube)
        .await
        .map_err(|detail| SweepError::List {
            what: "Kubernetes namespaces",
            detail,
        })?;
    Ok(listed
        .into_iter()
        .filter_map(|(name, run, created)| {
            let tags = [(RUN_TAG, run.as_str()), (CREATED_TAG, created.as_str())];
            let (run_id, created) = tagged_before(tags.into_iter(), cutoff)?;
            Some(Found {
                resource: Resource::KubeNamespace { name },
                run_id,
                created,
            })
        })
        .collect())
}

/// Deletes what [`find`] found, in its order.
pub async fn remove(clients: &Clients, found: &[Found]) -> Vec<Deletion> {
    let mut out = Vec::new();
    for f in found {
        out.push(delete(clients, &f.resource, 5).await);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_tagged_and_old_enough_resources_are_swept() {
        let tags = [
            ("pipecheck-run", "pc-1"),
            ("pipecheck-created", "2026-01-01T00:00:00Z"),
        ];
        let before = humantime::parse_rfc3339("2026-01-02T00:00:00Z").ok();
        let after = humantime::parse_rfc3339("2025-12-31T00:00:00Z").ok();
        assert_eq!(
            tagged_before(tags.iter().copied(), before),
            Some(("pc-1".into(), "2026-01-01T00:00:00Z".into()))
        );
        assert_eq!(tagged_before(tags.iter().copied(), after), None);
        assert!(tagged_before(tags.iter().copied(), None).is_some());
        assert_eq!(tagged_before([("owner", "ci")].into_iter(), None), None);
        // An unreadable time is never old enough.
        let bad = [
            ("pipecheck-run", "pc-1"),
            ("pipecheck-created", "yesterday"),
        ];
        assert_eq!(tagged_before(bad.iter().copied(), before), None);
    }
}
