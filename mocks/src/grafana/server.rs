//! The mock Grafana HTTP API of one AMG workspace: its state handle, its router, and
//! `/api/health`. The routes sit with their handlers in `datasources.rs`, `query.rs` and
//! `dashboards.rs`; authentication is the `Caller` extractor (`auth.rs`).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::json;

use super::error::{GrafanaError, json_body};
use crate::amg::{AmgState, Workspace};

/// The Grafana of `workspace_id`, reading and writing its content in the shared
/// [`AmgState`].
#[derive(Debug)]
pub struct GrafanaServer {
    pub amg: Arc<AmgState>,
    pub workspace_id: String,
    /// The data-source proxy's HTTP client (plain HTTP to the mock AMP on loopback).
    pub(crate) http: reqwest::Client,
}

impl GrafanaServer {
    pub fn new(amg: Arc<AmgState>, workspace_id: impl Into<String>) -> Self {
        let http = reqwest::Client::builder()
            // Never route the mock's loopback traffic through a proxy from the environment.
            .no_proxy()
            // promlib's default `queryTimeout` is 60 s; the mocks answer far sooner.
            .timeout(Duration::from_secs(30))
            // Plain HTTP only: without this, every mock stack parsed the system's root
            // certificates (a seventh of a mock scenario's CPU, pipecheck-bench profile).
            .tls_certs_only([])
            .build()
            .expect("a plain reqwest client builds");
        Self {
            amg,
            workspace_id: workspace_id.into(),
            http,
        }
    }

    /// Runs `f` on the workspace if its Grafana is up; 503 otherwise.
    pub(crate) fn with_ws<R>(
        &self,
        f: impl FnOnce(&mut Workspace) -> R,
    ) -> Result<R, GrafanaError> {
        self.amg
            .with_workspace(&self.workspace_id, |w| {
                w.status.serves_grafana().then(|| f(w))
            })
            .flatten()
            .ok_or_else(GrafanaError::unavailable)
    }
}

/// The whole mock Grafana HTTP API of `workspace_id`.
pub fn router(amg: Arc<AmgState>, workspace_id: impl Into<String>) -> Router {
    let server = Arc::new(GrafanaServer::new(amg, workspace_id));
    Router::new()
        .route("/api/health", get(health))
        .route(
            "/api/datasources",
            get(super::datasources::list).post(super::datasources::create),
        )
        .route(
            "/api/datasources/uid/{uid}",
            get(super::datasources::get_by_uid).delete(super::datasources::delete_by_uid),
        )
        .route(
            "/api/datasources/name/{name}",
            get(super::datasources::get_by_name),
        )
        .route(
            "/api/datasources/uid/{uid}/health",
            get(super::query::data_source_health),
        )
        .route("/api/ds/query", post(super::query::ds_query))
        .route("/api/search", get(super::dashboards::search))
        .route(
            "/api/dashboards/uid/{uid}",
            get(super::dashboards::get_by_uid).delete(super::dashboards::delete_by_uid),
        )
        .route("/api/dashboards/db", post(super::dashboards::save))
        .fallback(not_found)
        .layer(axum::middleware::from_fn(limit_body))
        .with_state(server)
}

/// The largest request body the mock Grafana reads: axum's default, which was the limit
/// before it was checked here; Grafana's own is undocumented.
pub const MAX_BODY: usize = 2 << 20;

/// Reads the body before any handler, at most [`MAX_BODY`]: a `Content-Length` over it
/// is refused before anything is read, a body without one as soon as it passes the
/// limit, both with 413 in Grafana's JSON [inferred text].
async fn limit_body(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Result<Response, GrafanaError> {
    let (parts, body) = req.into_parts();
    let body = crate::sigv4::read_body(&parts, body, MAX_BODY)
        .await
        .map_err(|e| match e {
            crate::sigv4::VerifyFailure::BodyTooLarge { .. } => {
                GrafanaError::message(StatusCode::PAYLOAD_TOO_LARGE, "request body too large")
            }
            _ => GrafanaError::bad_request("failed to read the request body"),
        })?;
    Ok(next
        .run(axum::extract::Request::from_parts(parts, body.into()))
        .await)
}

/// Grafana's API answers unknown paths with 404 `{"message":"Not found"}`.
async fn not_found() -> GrafanaError {
    GrafanaError::message(StatusCode::NOT_FOUND, "Not found")
}

/// `GET /api/health`, no authentication: 200 `{"commit","database":"ok","version"}`
/// (`commit`/`version` hidden by `hide_version`); database down: 503
/// `{"database":"failing"}`.
async fn health(State(srv): State<Arc<GrafanaServer>>) -> Result<Response, GrafanaError> {
    let (behaviour, version) =
        srv.with_ws(|w| (w.grafana.behaviour.clone(), w.grafana_version.clone()))?;
    if !behaviour.database_ok {
        return Ok(json_body(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({ "database": "failing" }).to_string(),
        ));
    }
    let mut body = json!({ "database": "ok" });
    if !behaviour.hide_version {
        body["commit"] = json!("pipecheck-mock");
        body["version"] = json!(
            behaviour
                .build_version
                .unwrap_or_else(|| format!("{version}.0"))
        );
    }
    Ok(json_body(StatusCode::OK, body.to_string()))
}
