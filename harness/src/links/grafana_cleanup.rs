//! What the grafana links create (a service account with its token, an AMP data source, a
//! canary dashboard), pushed on the run's teardown stack the moment it exists and removed
//! when the session unwinds it, on every way out of the run. Unwinding goes newest first:
//! the dashboard (it uses the data source), the data source (deleting either needs the
//! token), then the service account, which takes its tokens with it. The token's short
//! life (15 minutes) is the backstop.

use std::time::Duration;

use aws_sdk_grafana::config::retry::RetryConfig;

use crate::chain::{BoxFuture, Fate, Lane, Undo, Undone, Unwind};
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
    fn what(&self) -> String {
        match self {
            Created::Dashboard { uid, .. } => format!("dashboard {uid}"),
            Created::DataSource { uid, name, .. } => format!("data source {name} (uid {uid})"),
            Created::ServiceAccount { name, id, .. } => format!("service account {name} (id {id})"),
        }
    }
}

impl Undo for Created {
    /// `--provision --keep` keeps the run's Grafana content (data source, dashboard), as
    /// its AWS resources; the service account goes all the same, since it holds an Admin
    /// token. Interrupted: one attempt within at most 5 s, the user is waiting.
    fn undo(self: Box<Self>, how: Unwind) -> BoxFuture<'static, Undone> {
        Box::pin(async move {
            let what = self.what();
            let content = !matches!(*self, Created::ServiceAccount { .. });
            if how.keep && content {
                return Undone {
                    lane: Lane::Grafana,
                    line: format!("kept {what} (--keep)"),
                    what,
                    fate: Fate::Kept,
                    by_hand: None,
                };
            }
            let timeout = if how.hurried {
                how.request.min(Duration::from_secs(5))
            } else {
                how.request
            };
            let (fate, line) = match remove_one(*self, &what, timeout, !how.hurried).await {
                Ok(line) => (Fate::Removed, line),
                Err(line) => (Fate::Failed, line),
            };
            Undone {
                lane: Lane::Grafana,
                what,
                fate,
                line,
                by_hand: None,
            }
        })
    }
}

/// DELETE of a Grafana object the run made (404: already gone).
async fn delete_grafana(
    client: &GrafanaClient,
    path: &str,
    what: &str,
    timeout: Duration,
) -> Result<String, String> {
    match tokio::time::timeout(timeout, client.delete(path)).await {
        Ok(Ok(ex)) if ex.is_success() || ex.status == Some(404) => Ok(format!("deleted {what}")),
        Ok(Ok(ex)) => Err(format!("failed to delete {what}: {}", ex.summary())),
        Ok(Err(e)) => Err(format!(
            "failed to delete {what}: {}",
            crate::error_chain(&e)
        )),
        Err(_) => Err(format!(
            "failed to delete {what}: no answer within {timeout:?}"
        )),
    }
}

/// Ok: the line saying it went; Err: the line saying why it did not. `what` is
/// [`Created::what`].
async fn remove_one(
    c: Created,
    what: &str,
    timeout: Duration,
    retry: bool,
) -> Result<String, String> {
    match c {
        Created::Dashboard { client, uid } => {
            let path = format!("/api/dashboards/uid/{uid}");
            delete_grafana(&client, &path, what, timeout).await
        }
        Created::DataSource { client, uid, .. } => {
            let path = format!("/api/datasources/uid/{uid}");
            delete_grafana(&client, &path, what, timeout).await
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
                Ok(Ok(_)) => Ok(format!(
                    "deleted service account {name} (id {id}) and its token"
                )),
                Ok(Err(e)) => Err(format!(
                    "failed to delete service account {name} (id {id}) of {workspace_id}: {}; its token expires by itself",
                    deepest(&e)
                )),
                Err(_) => Err(format!(
                    "failed to delete service account {name} (id {id}) of {workspace_id}: no answer within {timeout:?}; its token expires by itself"
                )),
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
    use crate::chain::Teardown;

    fn how(keep: bool) -> Unwind {
        Unwind {
            keep,
            hurried: false,
            request: Duration::from_secs(2),
        }
    }

    /// Port 9 on loopback refuses connections: a deletion fails fast and says so.
    fn refusing() -> GrafanaClient {
        GrafanaClient::new(
            reqwest::Client::new(),
            "http://127.0.0.1:9",
            Duration::from_secs(1),
        )
        .unwrap()
        .with_token("t")
    }

    #[tokio::test]
    async fn each_run_undoes_only_its_own_newest_first() {
        let (a, b) = (Teardown::default(), Teardown::default());
        a.push(Created::DataSource {
            client: refusing(),
            uid: "ds".into(),
            name: "pipecheck-a".into(),
        });
        // The dashboard is made after the data source it uses, so it goes first.
        a.push(Created::Dashboard {
            client: refusing(),
            uid: "a".into(),
        });
        b.push(Created::Dashboard {
            client: refusing(),
            uid: "b".into(),
        });
        let undone = a.unwind(how(false)).await;
        let lines: Vec<&str> = undone.iter().map(|u| u.line.as_str()).collect();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(
            lines[0].starts_with("failed to delete dashboard a"),
            "{lines:?}"
        );
        assert!(
            lines[1].starts_with("failed to delete data source pipecheck-a (uid ds)"),
            "{lines:?}"
        );
        assert!(
            undone
                .iter()
                .all(|u| u.fate == Fate::Failed && u.lane == Lane::Grafana)
        );
        assert_eq!(b.len(), 1, "another run's stack is untouched");
    }

    #[tokio::test]
    async fn keep_leaves_the_content() {
        let t = Teardown::default();
        t.push(Created::Dashboard {
            client: refusing(),
            uid: "d".into(),
        });
        let undone = t.unwind(how(true)).await;
        assert_eq!(undone[0].fate, Fate::Kept);
        assert_eq!(undone[0].line, "kept dashboard d (--keep)");
    }
}
