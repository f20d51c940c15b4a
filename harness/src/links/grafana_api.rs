//! `grafana.api`: does the workspace's Grafana HTTP API answer, and does it accept a
//! token? (F22) The run makes its own credential through AMG: a service account
//! (`pipecheck-<run id>`) and a token that lives 15 minutes, registered with the run's
//! redactor before anything can print it and deleted with its service account at the end
//! of the run (`grafana_cleanup`). A token handed to the run (`PIPECHECK_GRAFANA_TOKEN`)
//! is used instead, and nothing is created. Checks `/api/health` (no credentials) and an
//! authenticated `/api/search`.

use std::time::Duration;

use serde_json::Value;

use super::grafana_diagnosis::{diagnose_grafana, unreachable};
use super::grafana_token::create_token;
use super::{BoxFuture, Check, Link, RunContext, Status};
use crate::grafana_client::{GrafanaClient, json_of};
use crate::wait::{Probe, Waited, wait_for};

pub struct GrafanaApi;

impl Link for GrafanaApi {
    fn check<'a>(&'a self, ctx: &'a RunContext) -> BoxFuture<'a, Check> {
        Box::pin(async move {
            let (url, workspace) = {
                let f = ctx.facts();
                (f.grafana.url.clone(), f.grafana.workspace_id.clone())
            };
            let (Some(url), Some(workspace)) = (url, workspace) else {
                return Check::fail(
                    "no Grafana URL to check",
                    "amg.workspace did not provide one",
                );
            };
            let client =
                match GrafanaClient::new(ctx.target.http.clone(), &url, ctx.deadlines.request) {
                    Ok(c) => c,
                    Err(e) => {
                        return Check::fail(
                        format!("the Grafana URL {url:?} is unusable"),
                        "set a URL with scheme and host: --grafana-url or PIPECHECK_GRAFANA_URL",
                    )
                    .with("error", e.to_string());
                    }
                };

            // 1. Grafana answers at all (no credentials needed).
            let health = match client.get("/api/health").await {
                Err(e) => {
                    return Check::from_diagnosis(
                        Status::Fail,
                        unreachable(&url, &crate::error_chain(&e).replace('\n', ": ")),
                    );
                }
                Ok(ex) if ex.status == Some(503) && ex.body.contains("failing") => {
                    return Check::fail(
                        format!("Grafana at {url} answers, but its database is failing (503)"),
                        "the workspace's Grafana cannot serve: check the workspace in the AMG console and retry later",
                    )
                    .with("/api/health", ex.summary());
                }
                Ok(ex) if !ex.is_success() => {
                    return Check::from_diagnosis(
                        Status::Fail,
                        diagnose_grafana("the health check", &ex),
                    )
                    .with("/api/health", ex.summary());
                }
                Ok(ex) => ex,
            };
            let version = json_of(&health)
                .and_then(|v| v.get("version").and_then(Value::as_str).map(str::to_string))
                .unwrap_or_else(|| "(version hidden)".into());

            // 2. A credential: the one handed over, or a short-lived one of our own.
            let made = match (ctx.target.grafana.token.clone(), &ctx.grafana.shared_token) {
                (Some(t), _) => Ok((t, "the token from PIPECHECK_GRAFANA_TOKEN".to_string())),
                (None, Some(shared)) => shared.get(ctx, &workspace).await,
                (None, None) => create_token(ctx, &workspace).await,
            };
            let (token, source) = match made {
                Ok(made) => made,
                Err(c) => return c.with("/api/health", health.summary()),
            };
            ctx.secrets.add_secret(token.clone());
            let client = client.with_token(token);

            // 3. Grafana accepts it.
            let probe = || async {
                match client.get("/api/search?type=dash-db&limit=1").await {
                    Err(e) => Probe::Pending(Err(crate::error_chain(&e))),
                    Ok(ex) if ex.is_success() => Probe::Done(Ok(ex)),
                    Ok(ex) if matches!(ex.status, Some(429 | 500..=599)) => Probe::Pending(Ok(ex)),
                    Ok(ex) => Probe::Abort(Ok(ex)),
                }
            };
            let waited = wait_for(
                "Grafana's HTTP API to answer",
                ctx.deadlines.workspace,
                Duration::from_millis(50),
                probe,
            )
            .await;
            let search = match waited {
                Waited::Done { value: Ok(ex), .. } => ex,
                Waited::Done { value: Err(e), .. }
                | Waited::Aborted { value: Err(e), .. }
                | Waited::TimedOut {
                    last: Some(Err(e)), ..
                } => {
                    return Check::from_diagnosis(Status::Fail, unreachable(&url, &e))
                        .with("/api/health", health.summary());
                }
                Waited::Aborted { value: Ok(ex), .. }
                | Waited::TimedOut {
                    last: Some(Ok(ex)), ..
                } => {
                    return Check::from_diagnosis(
                        Status::Fail,
                        diagnose_grafana("an authenticated call (GET /api/search)", &ex),
                    )
                    .with("credential", source)
                    .with("/api/search", ex.summary())
                    .with("/api/health", health.summary());
                }
                Waited::TimedOut { last: None, .. } => {
                    return Check::fail(
                        format!(
                            "Grafana at {url} did not answer an authenticated call within {}",
                            ctx.deadlines.workspace_named()
                        ),
                        "check the network path to the workspace",
                    );
                }
            };
            ctx.facts().grafana.client = Some(client);
            Check::pass(format!(
                "Grafana {version} at {url} answers and accepts {source}"
            ))
            .with("credential", source)
            .with("/api/health", health.summary())
            .with("/api/search", search.summary())
        })
    }
}
