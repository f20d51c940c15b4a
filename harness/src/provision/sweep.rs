//! `pipecheck sweep`: what earlier `--provision` runs left (`--keep`, a killed process, a
//! deletion that failed), found by their tags, and removed (or listed with `--dry-run`).
//! Only resources carrying the `pipecheck-run` tag are touched; names and paths only
//! narrow the listing.

use std::time::{Duration, SystemTime};

use crate::cluster::sdk_error;

use super::apply::{Clients, Deletion, delete};
use super::resource::{CREATED_TAG, NAME_PREFIX, ROLE_PATH, RUN_TAG, Resource};

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
}

/// A resource an earlier run created, with its tags.
#[derive(Clone, Debug)]
pub struct Found {
    pub resource: Resource,
    pub run_id: String,
    pub created: String,
}

#[derive(Debug, thiserror::Error)]
#[error("failed to list {what}: {detail}")]
pub struct SweepError {
    what: &'static str,
    detail: String,
}

fn list_error<E, R>(
    what: &'static str,
    e: &aws_smithy_runtime_api::client::result::SdkError<E, R>,
) -> SweepError
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    SweepError {
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
