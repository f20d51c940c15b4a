//! What the grafana links create (a service account with its token, an AMP data source, a
//! canary dashboard), registered the moment it exists and removed at the end of the run on
//! every path: the run's cleanup step after the executor, or, when the run is interrupted,
//! the CLI's. Dashboards go first (they use the data source), then data sources (deleting
//! either needs the token), then the service account (which takes its tokens with it).
//! The token's short life (15 minutes) is the backstop.

use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use aws_sdk_grafana::config::retry::RetryConfig;

use crate::grafana_client::GrafanaClient;

/// Something a run created in a Grafana workspace.
pub enum Created {
    ServiceAccount {
        amg: aws_sdk_grafana::Client,
        workspace_id: String,
        id: String,
        name: String,
    },
    Dashboard {
        client: GrafanaClient,
        uid: String,
    },
    /// An AMP data source (`grafana.datasource` with `grafana.provision_datasource`).
    DataSource {
        client: GrafanaClient,
        uid: String,
        name: String,
    },
}

impl Created {
    /// What `--keep` leaves, for the report.
    fn kept(&self) -> String {
        match self {
            Created::Dashboard { uid, .. } => format!("kept dashboard {uid} (--keep)"),
            Created::DataSource { uid, name, .. } => {
                format!("kept data source {name} (uid {uid}) (--keep)")
            }
            Created::ServiceAccount { name, id, .. } => {
                format!("kept service account {name} (id {id}) (--keep)")
            }
        }
    }

    /// Removal order: dashboards, data sources, service accounts.
    fn rank(&self) -> u8 {
        match self {
            Created::Dashboard { .. } => 0,
            Created::DataSource { .. } => 1,
            Created::ServiceAccount { .. } => 2,
        }
    }
}

fn pending() -> &'static Mutex<Vec<(String, Created)>> {
    static P: OnceLock<Mutex<Vec<(String, Created)>>> = OnceLock::new();
    P.get_or_init(|| Mutex::new(Vec::new()))
}

/// Records that run `run_id` created `what`.
pub fn register(run_id: &str, what: Created) {
    pending()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((run_id.to_string(), what));
}

fn take(run_id: Option<&str>) -> Vec<Created> {
    let mut all = pending().lock().unwrap_or_else(|e| e.into_inner());
    let (mine, rest): (Vec<_>, Vec<_>) = all
        .drain(..)
        .partition(|(r, _)| run_id.is_none_or(|id| id == r));
    *all = rest;
    mine.into_iter().map(|(_, c)| c).collect()
}

/// Removes what run `run_id` created; one line per object, saying what happened.
pub async fn cleanup(run_id: &str, timeout: Duration) -> Vec<String> {
    remove(take(Some(run_id)), timeout, true).await
}

/// `--provision --keep`: the run's Grafana content (its data source and canary dashboard)
/// stays, as its AWS resources do; its service account still goes, since it holds an
/// Admin token. One line per object: what was kept, what was removed.
pub async fn cleanup_keeping_content(run_id: &str, timeout: Duration) -> Vec<String> {
    let (accounts, content): (Vec<_>, Vec<_>) = take(Some(run_id))
        .into_iter()
        .partition(|c| matches!(c, Created::ServiceAccount { .. }));
    let mut out: Vec<String> = content.iter().map(Created::kept).collect();
    out.extend(remove(accounts, timeout, true).await);
    out
}

/// Removes what every run of this process created and has not removed (interrupt path):
/// one attempt each, so an endpoint that went away with the run (the mock) costs no
/// retries while the user waits.
pub async fn remove_all_pending(timeout: Duration) -> Vec<String> {
    remove(take(None), timeout, false).await
}

/// Drops `owner`'s records unremoved: what it made went away with its mock stack.
pub fn forget(owner: &str) {
    take(Some(owner));
}

/// Drops every run's record unremoved: for mock runs, whose Grafana went away with the
/// mock stack when the run was stopped.
pub fn forget_all_pending() {
    take(None);
}

async fn remove(created: Vec<Created>, timeout: Duration, retry: bool) -> Vec<String> {
    // Grafana objects in the order they were made; service accounts last made, first gone.
    let (mut grafana, mut accounts): (Vec<_>, Vec<_>) = created
        .into_iter()
        .partition(|c| !matches!(c, Created::ServiceAccount { .. }));
    grafana.sort_by_key(Created::rank);
    accounts.reverse();
    let mut out = Vec::new();
    for c in grafana.into_iter().chain(accounts) {
        out.push(remove_one(c, timeout, retry).await);
    }
    out
}

/// DELETE of a Grafana object the run made (404: already gone).
async fn delete_grafana(
    client: &GrafanaClient,
    path: &str,
    what: &str,
    timeout: Duration,
) -> String {
    match tokio::time::timeout(timeout, client.delete(path)).await {
        Ok(Ok(ex)) if ex.is_success() || ex.status == Some(404) => format!("deleted {what}"),
        Ok(Ok(ex)) => format!("failed to delete {what}: {}", ex.summary()),
        Ok(Err(e)) => format!("failed to delete {what}: {}", crate::error_chain(&e)),
        Err(_) => format!("failed to delete {what}: no answer within {timeout:?}"),
    }
}

async fn remove_one(c: Created, timeout: Duration, retry: bool) -> String {
    match c {
        Created::Dashboard { client, uid } => {
            let path = format!("/api/dashboards/uid/{uid}");
            delete_grafana(&client, &path, &format!("dashboard {uid}"), timeout).await
        }
        Created::DataSource { client, uid, name } => {
            let path = format!("/api/datasources/uid/{uid}");
            let what = format!("data source {name} (uid {uid})");
            delete_grafana(&client, &path, &what, timeout).await
        }
        Created::ServiceAccount {
            amg,
            workspace_id,
            id,
            name,
        } => {
            let op = amg
                .delete_workspace_service_account()
                .workspace_id(&workspace_id)
                .service_account_id(&id);
            let call = async {
                if retry {
                    op.send().await
                } else {
                    op.customize()
                        .config_override(
                            aws_sdk_grafana::config::Builder::default()
                                .retry_config(RetryConfig::disabled()),
                        )
                        .send()
                        .await
                }
            };
            match tokio::time::timeout(timeout, call).await {
                Ok(Ok(_)) => format!("deleted service account {name} (id {id}) and its token"),
                Ok(Err(e)) => format!(
                    "failed to delete service account {name} (id {id}) of {workspace_id}: {}; its token expires by itself",
                    deepest(&e)
                ),
                Err(_) => format!(
                    "failed to delete service account {name} (id {id}) of {workspace_id}: no answer within {timeout:?}; its token expires by itself"
                ),
            }
        }
    }
}

/// The innermost cause's message: what actually went wrong, on one line.
fn deepest(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(s) = cur.source() {
        cur = s;
    }
    cur.to_string().replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_take_only_their_own() {
        let http = reqwest::Client::new();
        // Port 9 on loopback refuses connections: the deletion fails fast and says so.
        let client = GrafanaClient::new(http, "http://127.0.0.1:9", Duration::from_secs(1))
            .unwrap()
            .with_token("t");
        register(
            "run-a-test",
            Created::Dashboard {
                client: client.clone(),
                uid: "a".into(),
            },
        );
        register(
            "run-b-test",
            Created::Dashboard {
                client,
                uid: "b".into(),
            },
        );
        let a = cleanup("run-a-test", Duration::from_secs(2)).await;
        assert_eq!(a.len(), 1);
        assert!(a[0].starts_with("failed to delete dashboard a"), "{a:?}");
        let b = cleanup("run-b-test", Duration::from_secs(2)).await;
        assert_eq!(b.len(), 1);
        // Dashboards go before the data source they use, whatever the order they came in.
        let client = GrafanaClient::new(
            reqwest::Client::new(),
            "http://127.0.0.1:9",
            Duration::from_secs(1),
        )
        .unwrap();
        register(
            "run-c-test",
            Created::DataSource {
                client: client.clone(),
                uid: "ds".into(),
                name: "pipecheck-c".into(),
            },
        );
        register(
            "run-c-test",
            Created::Dashboard {
                client,
                uid: "c".into(),
            },
        );
        let c = cleanup("run-c-test", Duration::from_secs(2)).await;
        assert!(c[0].starts_with("failed to delete dashboard c"), "{c:?}");
        assert!(
            c[1].starts_with("failed to delete data source pipecheck-c (uid ds)"),
            "{c:?}"
        );
        assert!(
            cleanup("run-b-test", Duration::from_secs(2))
                .await
                .is_empty()
        );
    }
}
