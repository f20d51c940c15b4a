//! The Grafana service-account tokens the grafana links use: a run's own (made, then
//! removed with the run) and a watch's shared one (one account, its token rotated before
//! it expires). AMG's control plane is asked within the run's request deadline.

use std::time::Duration;

use aws_sdk_grafana::error::ProvideErrorMetadata;
use aws_sdk_grafana::types::Role;

use super::grafana_cleanup::Created;
use super::grafana_diagnosis::diagnose_amg;
use super::{Check, RunContext};
use crate::chain::Teardown;

/// How long the run's own token lives: the run removes it, its expiry is the backstop.
pub const TOKEN_TTL: Duration = Duration::from_secs(15 * 60);

/// The role of the run's service account. Reading data sources (`datasources:read`) is
/// granted to Admins by Grafana's basic roles [unconfirmed for Editors]; the account
/// lives for one run.
const ROLE: Role = Role::Admin;

/// CreateWorkspaceServiceAccount + CreateWorkspaceServiceAccountToken; the account is on
/// the run's teardown stack the moment it exists. Returns the key and a description.
pub(super) async fn create_token(
    ctx: &RunContext,
    workspace: &str,
) -> Result<(String, String), Check> {
    let name = format!("pipecheck-{}", ctx.run_id);
    let sa_id = create_account(ctx, workspace, &name, &ctx.teardown).await?;
    let (key, _) = create_key(ctx, workspace, &sa_id, &name).await?;
    Ok((
        key,
        format!(
            "a new service-account token (service account {name}, id {sa_id}, {}, {} minutes, removed with the run)",
            ROLE.as_str(),
            TOKEN_TTL.as_secs() / 60
        ),
    ))
}

/// CreateWorkspaceServiceAccount, on `teardown` (the run's, or a watch's) the moment it
/// exists. Returns its id.
async fn create_account(
    ctx: &RunContext,
    workspace: &str,
    name: &str,
    teardown: &Teardown,
) -> Result<String, Check> {
    let call = ctx
        .target
        .amg
        .create_workspace_service_account()
        .workspace_id(workspace)
        .name(name)
        .grafana_role(ROLE)
        .send();
    let sa = amg_call(ctx, "CreateWorkspaceServiceAccount", workspace, call).await?;
    let sa_id = sa.id().to_string();
    teardown.push(Created::ServiceAccount {
        amg: ctx.target.amg.clone(),
        workspace_id: workspace.to_string(),
        id: sa_id.clone(),
        name: name.to_string(),
    });
    Ok(sa_id)
}

/// CreateWorkspaceServiceAccountToken on account `sa_id`, living [`TOKEN_TTL`]; the key
/// is registered with the run's redactor before anything else sees it. Returns the key
/// and the token's id.
async fn create_key(
    ctx: &RunContext,
    workspace: &str,
    sa_id: &str,
    name: &str,
) -> Result<(String, String), Check> {
    let call = ctx
        .target
        .amg
        .create_workspace_service_account_token()
        .workspace_id(workspace)
        .service_account_id(sa_id)
        .name(name)
        .seconds_to_live(TOKEN_TTL.as_secs() as i32)
        .send();
    let out = amg_call(ctx, "CreateWorkspaceServiceAccountToken", workspace, call).await?;
    let Some((key, id)) = out
        .service_account_token()
        .map(|t| (t.key().to_string(), t.id().to_string()))
        .filter(|(k, _)| !k.is_empty())
    else {
        return Err(Check::fail(
            "CreateWorkspaceServiceAccountToken answered without a key",
            "see AMG's answer",
        ));
    };
    // Register before the key can appear anywhere (the caller adds it to the run's
    // redactor at once; this makes the order explicit for any future evidence here).
    ctx.secrets.add_secret(key.clone());
    Ok((key, id))
}

/// A watch's Grafana credential (`pipecheck watch`): one service account
/// (`pipecheck-watch-<instance>-<scenario>`) made by the first run that needs it, whose
/// token every run uses; a run that finds less than a third of the token's life left makes
/// the next token first, then deletes the old one (DeleteWorkspaceServiceAccountToken).
/// The account is on the token's own teardown stack, not a run's, so it outlives runs;
/// the watch unwinds that stack when it is done with the token, deleting the account's
/// tokens with it.
pub struct SharedToken {
    teardown: Teardown,
    name: String,
    /// A token this old is replaced before use ([`SharedToken::ROTATE_AFTER`]).
    rotate_after: Duration,
    held: tokio::sync::Mutex<Option<Held>>,
}

struct Held {
    workspace: String,
    sa_id: String,
    token_id: String,
    key: String,
    made_at: std::time::Instant,
    /// Which token of the account this is (from 1).
    n: u64,
}

// The key must never reach a log line.
impl std::fmt::Debug for SharedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedToken")
            .field("teardown", &self.teardown)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl SharedToken {
    /// Two thirds of the token's life: 10 of its 15 minutes.
    pub const ROTATE_AFTER: Duration = Duration::from_secs(TOKEN_TTL.as_secs() * 2 / 3);

    /// `rotate_after`: at most [`SharedToken::ROTATE_AFTER`] (less: tests of rotation).
    pub fn new(name: &str, rotate_after: Duration) -> Self {
        Self {
            teardown: Teardown::default(),
            name: name.to_string(),
            rotate_after: rotate_after.min(Self::ROTATE_AFTER),
            held: tokio::sync::Mutex::new(None),
        }
    }

    /// Where its service account waits to be removed.
    pub fn teardown(&self) -> &Teardown {
        &self.teardown
    }

    /// The key for a run on `workspace`, made or rotated as needed.
    pub(super) async fn get(
        &self,
        ctx: &RunContext,
        workspace: &str,
    ) -> Result<(String, String), Check> {
        let mut held = self.held.lock().await;
        let reuse = held
            .as_ref()
            .filter(|h| h.workspace == workspace)
            .map(|h| (h.sa_id.clone(), h.made_at.elapsed() >= self.rotate_after));
        let sa_id = match reuse {
            Some((_, false)) => {
                let h = held.as_ref().expect("checked above");
                ctx.secrets.add_secret(h.key.clone());
                return Ok((h.key.clone(), self.describe(&h.sa_id, "reused")));
            }
            Some((sa_id, true)) => sa_id,
            None => create_account(ctx, workspace, &self.name, &self.teardown).await?,
        };
        // Token names are unique per account: the n-th token is `<account>-<n>`.
        let n = held.as_ref().map_or(1, |h| h.n + 1);
        let token_name = format!("{}-{n}", self.name);
        let (key, token_id) = create_key(ctx, workspace, &sa_id, &token_name).await?;
        // The previous token goes once the next one exists (best effort: it expires anyway).
        if let Some(old) = held.take().filter(|h| h.sa_id == sa_id) {
            let call = ctx
                .target
                .amg
                .delete_workspace_service_account_token()
                .workspace_id(workspace)
                .service_account_id(&sa_id)
                .token_id(&old.token_id)
                .send();
            if let Err(e) =
                amg_call(ctx, "DeleteWorkspaceServiceAccountToken", workspace, call).await
            {
                tracing::warn!(verdict = %e.verdict, "the watch's previous Grafana token was not deleted");
            }
        }
        *held = Some(Held {
            workspace: workspace.to_string(),
            sa_id: sa_id.clone(),
            token_id,
            key: key.clone(),
            made_at: std::time::Instant::now(),
            n,
        });
        Ok((key, self.describe(&sa_id, "new")))
    }

    fn describe(&self, sa_id: &str, how: &str) -> String {
        format!(
            "the watch's service-account token ({how}; service account {}, id {sa_id}, {}, {} minutes, rotated before it expires, removed when the watch stops)",
            self.name,
            ROLE.as_str(),
            TOKEN_TTL.as_secs() / 60
        )
    }
}

/// `call`, AMG's `operation` on `workspace`, within the run's request deadline; Err: the
/// failed check for no answer in time, or for AMG's refusal.
async fn amg_call<T, E>(
    ctx: &RunContext,
    operation: &str,
    workspace: &str,
    call: impl Future<Output = Result<T, E>>,
) -> Result<T, Check>
where
    E: ProvideErrorMetadata + std::error::Error,
{
    match tokio::time::timeout(ctx.deadlines.request, call).await {
        Err(_) => Err(Check::fail(
            format!(
                "{operation} did not answer within {}",
                ctx.deadlines.request_named()
            ),
            "check network access to grafana.<region>.amazonaws.com",
        )),
        Ok(Err(e)) => Err(refused(operation, workspace, &e)),
        Ok(Ok(out)) => Ok(out),
    }
}

fn refused<E>(operation: &str, workspace: &str, e: &E) -> Check
where
    E: ProvideErrorMetadata + std::error::Error,
{
    let d = diagnose_amg(operation, workspace, e);
    Check::fail(
        format!("could not make a Grafana token: {}", d.verdict),
        d.hint,
    )
    .with(format!("grafana:{operation}"), crate::error_chain(e))
}
