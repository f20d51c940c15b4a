//! `/api/datasources`: list, get by uid or name, create, delete (Grafana's
//! `pkg/api/datasources.go`). The health check lives with the query path (`query.rs`).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::Caller;
use super::content::DataSource;
use super::error::{GrafanaError, ok_json};
use super::server::GrafanaServer;
use crate::amg::GrafanaRole;
use crate::amg::token::random_alnum;

/// `GET /api/datasources` -> `[DataSourceListItemDTO]`, sorted by lowercase name.
pub(crate) async fn list(
    State(srv): State<Arc<GrafanaServer>>,
    _caller: Caller,
) -> Result<Response, GrafanaError> {
    let mut items = srv.with_ws(|w| w.grafana.data_sources.clone())?;
    items.sort_by_key(|d| d.name.to_lowercase());
    let list: Vec<Value> = items.iter().map(DataSource::list_item_json).collect();
    Ok(ok_json(&Value::Array(list)))
}

/// `GET /api/datasources/uid/{uid}` -> the DTO; 404 `Data source not found`.
pub(crate) async fn get_by_uid(
    State(srv): State<Arc<GrafanaServer>>,
    Path(uid): Path<String>,
    _caller: Caller,
) -> Result<Response, GrafanaError> {
    srv.with_ws(|w| w.grafana.data_source(&uid).map(DataSource::dto_json))?
        .map(|v| ok_json(&v))
        .ok_or_else(GrafanaError::data_source_not_found)
}

/// `GET /api/datasources/name/{name}` -> the DTO; 404 `Data source not found`.
pub(crate) async fn get_by_name(
    State(srv): State<Arc<GrafanaServer>>,
    Path(name): Path<String>,
    _caller: Caller,
) -> Result<Response, GrafanaError> {
    srv.with_ws(|w| {
        w.grafana
            .data_sources
            .iter()
            .find(|d| d.name == name)
            .map(DataSource::dto_json)
    })?
    .map(|v| ok_json(&v))
    .ok_or_else(GrafanaError::data_source_not_found)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AddDataSourceCommand {
    #[serde(default)]
    name: String,
    #[serde(default, rename = "type")]
    kind: String,
    access: Option<String>,
    #[serde(default)]
    url: String,
    #[serde(default)]
    user: String,
    #[serde(default)]
    database: String,
    #[serde(default)]
    basic_auth: bool,
    #[serde(default)]
    basic_auth_user: String,
    #[serde(default)]
    with_credentials: bool,
    #[serde(default)]
    is_default: bool,
    json_data: Option<Value>,
    secure_json_data: Option<BTreeMap<String, String>>,
    uid: Option<String>,
}

/// `POST /api/datasources` (Admin: `datasources:create`) -> 200
/// `{"message":"Datasource added","id","name","datasource":{DTO}}`; a name or uid that
/// exists -> 409.
pub(crate) async fn create(
    State(srv): State<Arc<GrafanaServer>>,
    caller: Caller,
    body: axum::body::Bytes,
) -> Result<Response, GrafanaError> {
    caller.require(GrafanaRole::Admin, "datasources:create")?;
    // [inferred] Grafana's binding errors are richer; the mock keeps Grafana's generic text.
    let cmd: AddDataSourceCommand =
        serde_json::from_slice(&body).map_err(|_| GrafanaError::bad_request("bad request data"))?;
    if cmd.name.trim().is_empty() || cmd.kind.trim().is_empty() {
        return Err(GrafanaError::bad_request("bad request data"));
    }
    if !cmd.url.is_empty() && !valid_url(&cmd.url) {
        return Err(GrafanaError::bad_request(&format!(
            "Validation error, invalid URL: {:?}",
            cmd.url
        )));
    }
    let uid = match cmd.uid.filter(|u| !u.is_empty()) {
        Some(u)
            if u.len() > 40
                || !u
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
        {
            return Err(GrafanaError::bad_request("invalid UID for datasource"));
        }
        Some(u) => u,
        None => random_alnum(14).to_lowercase(),
    };
    let ds = DataSource {
        id: 0,
        uid,
        org_id: 1,
        name: cmd.name,
        kind: cmd.kind,
        access: cmd.access.unwrap_or_else(|| "proxy".to_string()),
        url: cmd.url,
        user: cmd.user,
        database: cmd.database,
        basic_auth: cmd.basic_auth,
        basic_auth_user: cmd.basic_auth_user,
        with_credentials: cmd.with_credentials,
        is_default: cmd.is_default,
        json_data: cmd.json_data.unwrap_or_else(|| json!({})),
        secure_json_data: cmd.secure_json_data.unwrap_or_default(),
        version: 1,
        read_only: false,
    };
    let out = srv.with_ws(|w| {
        let g = &mut w.grafana;
        if g.data_sources.iter().any(|d| d.name == ds.name) {
            return Err(GrafanaError::message(
                http::StatusCode::CONFLICT,
                "data source with the same name already exists",
            ));
        }
        if g.data_sources.iter().any(|d| d.uid == ds.uid) {
            return Err(GrafanaError::message(
                http::StatusCode::CONFLICT,
                "data source with the same uid already exists",
            ));
        }
        let uid = ds.uid.clone();
        let id = g.add_data_source(ds);
        let dto = g.data_source(&uid).expect("just added").dto_json();
        Ok(json!({
            "message": "Datasource added",
            "id": id,
            "name": dto["name"],
            "datasource": dto,
        }))
    })??;
    Ok(ok_json(&out))
}

/// `DELETE /api/datasources/uid/{uid}` (Admin: `datasources:delete`) -> 200
/// `{"message":"Data source deleted","id"}`; 404 `Data source not found`.
pub(crate) async fn delete_by_uid(
    State(srv): State<Arc<GrafanaServer>>,
    Path(uid): Path<String>,
    caller: Caller,
) -> Result<Response, GrafanaError> {
    caller.require(GrafanaRole::Admin, "datasources:delete")?;
    let id = srv.with_ws(|w| {
        let g = &mut w.grafana;
        let pos = g.data_sources.iter().position(|d| d.uid == uid)?;
        Some(g.data_sources.remove(pos).id)
    })?;
    let id = id.ok_or_else(GrafanaError::data_source_not_found)?;
    Ok(ok_json(
        &json!({ "message": "Data source deleted", "id": id }),
    ))
}

/// An absolute http(s) URL with a host.
fn valid_url(u: &str) -> bool {
    u.parse::<http::Uri>().ok().is_some_and(|uri| {
        matches!(uri.scheme_str(), Some("http" | "https")) && uri.host().is_some()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert!(valid_url("http://127.0.0.1:9/workspaces/ws-1/"));
        assert!(valid_url(
            "https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-1/"
        ));
        assert!(!valid_url("aps-workspaces/ws-1"));
        assert!(!valid_url("ftp://x/"));
    }
}
