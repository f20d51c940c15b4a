//! Dashboards: `GET /api/search`, `GET`/`DELETE /api/dashboards/uid/{uid}`,
//! `POST /api/dashboards/db` (Grafana's `pkg/api/dashboard.go`, search `Hit`, and the
//! dashboard service's save rules). Folders are not modelled: a `folderUid` is kept as
//! given, and `type=dash-folder` searches find nothing.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::auth::Caller;
use super::content::{Dashboard, slugify};
use super::error::{GrafanaError, ok_json};
use super::server::GrafanaServer;
use crate::amg::GrafanaRole;
use crate::amg::token::random_alnum;

/// `GET /api/search?query=&type=dash-db&tag=&dashboardUIDs=&limit=` -> hits sorted by
/// title: `{id, uid, title, uri, url, slug, type, tags, isStarred, sortMeta, folder*?}`.
pub(crate) async fn search(
    State(srv): State<Arc<GrafanaServer>>,
    Query(params): Query<Vec<(String, String)>>,
    _caller: Caller,
) -> Result<Response, GrafanaError> {
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let all = |k: &str| -> Vec<&str> {
        params
            .iter()
            .filter(|(n, _)| n == k)
            .flat_map(|(_, v)| v.split(','))
            .filter(|v| !v.is_empty())
            .collect()
    };
    if get("type").is_some_and(|t| t != "dash-db") {
        return Ok(ok_json(&json!([])));
    }
    let query = get("query").unwrap_or_default().to_lowercase();
    let tags = all("tag");
    let uids = all("dashboardUIDs");
    let limit = get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|&l| l > 0)
        .unwrap_or(1000);
    let mut hits: Vec<Dashboard> = srv.with_ws(|w| {
        w.grafana
            .dashboards
            .iter()
            .filter(|d| d.title.to_lowercase().contains(&query))
            .filter(|d| {
                let t = d.tags();
                tags.iter().all(|want| t.iter().any(|have| have == want))
            })
            .filter(|d| uids.is_empty() || uids.contains(&d.uid.as_str()))
            .cloned()
            .collect()
    })?;
    hits.sort_by_key(|d| d.title.to_lowercase());
    let out: Vec<Value> = hits.iter().take(limit).map(hit_json).collect();
    Ok(ok_json(&Value::Array(out)))
}

fn hit_json(d: &Dashboard) -> Value {
    let mut v = json!({
        "id": d.id,
        "uid": d.uid,
        "title": d.title,
        "uri": format!("db/{}", d.slug()),
        "url": d.url(),
        "slug": d.slug(),
        "type": "dash-db",
        "tags": d.tags(),
        "isStarred": false,
        "sortMeta": 0,
    });
    if let Some(f) = &d.folder_uid {
        v["folderUid"] = json!(f);
    }
    v
}

/// `GET /api/dashboards/uid/{uid}` -> `{"dashboard": {...}, "meta": {...}}`; 404
/// `Dashboard not found`.
pub(crate) async fn get_by_uid(
    State(srv): State<Arc<GrafanaServer>>,
    Path(uid): Path<String>,
    caller: Caller,
) -> Result<Response, GrafanaError> {
    let d = srv
        .with_ws(|w| w.grafana.dashboard(&uid).cloned())?
        .ok_or_else(GrafanaError::dashboard_not_found)?;
    let can_edit = caller.role >= GrafanaRole::Editor;
    let meta = json!({
        "type": "db",
        "canSave": can_edit,
        "canEdit": can_edit,
        "canAdmin": caller.role == GrafanaRole::Admin,
        "canStar": false,
        "canDelete": can_edit,
        "slug": d.slug(),
        "url": d.url(),
        "expires": "0001-01-01T00:00:00Z",
        "created": rfc3339(d.created),
        "updated": rfc3339(d.updated),
        "updatedBy": d.updated_by,
        "createdBy": d.created_by,
        "version": d.version,
        "hasAcl": false,
        "isFolder": false,
        "folderId": 0,
        "folderUid": d.folder_uid.clone().unwrap_or_default(),
        "folderTitle": if d.folder_uid.is_some() { "" } else { "General" },
        "folderUrl": "",
        "provisioned": false,
        "provisionedExternalId": "",
    });
    Ok(ok_json(&json!({ "dashboard": d.model, "meta": meta })))
}

/// `DELETE /api/dashboards/uid/{uid}` (Editor: `dashboards:delete`) -> 200
/// `{"title","message":"Dashboard <title> deleted","id"}`; 404 `Dashboard not found`.
pub(crate) async fn delete_by_uid(
    State(srv): State<Arc<GrafanaServer>>,
    Path(uid): Path<String>,
    caller: Caller,
) -> Result<Response, GrafanaError> {
    caller.require(GrafanaRole::Editor, "dashboards:delete")?;
    let removed = srv.with_ws(|w| {
        let pos = w.grafana.dashboards.iter().position(|d| d.uid == uid)?;
        Some(w.grafana.dashboards.remove(pos))
    })?;
    let d = removed.ok_or_else(GrafanaError::dashboard_not_found)?;
    Ok(ok_json(&json!({
        "title": d.title,
        "message": format!("Dashboard {} deleted", d.title),
        "id": d.id,
    })))
}

/// `POST /api/dashboards/db` `{dashboard, folderUid?, overwrite?, message?}` (Editor:
/// `dashboards:create` or `dashboards:write`) -> 200 `{id, uid, url, status:"success",
/// version, slug}`. Refusals: empty title 400 `empty-name`; a uid that exists with
/// another version 412 `version-mismatch`; another dashboard with the same title in the
/// folder 412 `name-exists` (both unless `overwrite`, which takes the other's place).
pub(crate) async fn save(
    State(srv): State<Arc<GrafanaServer>>,
    caller: Caller,
    body: axum::body::Bytes,
) -> Result<Response, GrafanaError> {
    caller.require(
        GrafanaRole::Editor,
        "any of dashboards:create, dashboards:write",
    )?;
    let cmd: Value =
        serde_json::from_slice(&body).map_err(|_| GrafanaError::bad_request("bad request data"))?;
    let Some(mut model) = cmd.get("dashboard").filter(|d| d.is_object()).cloned() else {
        return Err(GrafanaError::bad_request("bad request data"));
    };
    let overwrite = cmd
        .get("overwrite")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let folder_uid = cmd
        .get("folderUid")
        .and_then(Value::as_str)
        .filter(|f| !f.is_empty())
        .map(str::to_string);
    let title = model
        .get("title")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .trim()
        .to_string();
    if title.is_empty() {
        return Err(GrafanaError::dashboard_save(
            StatusCode::BAD_REQUEST,
            "empty-name",
            "Dashboard title cannot be empty",
        ));
    }
    let uid = model
        .get("uid")
        .and_then(Value::as_str)
        .filter(|u| !u.is_empty())
        .map(str::to_string);
    if let Some(u) = &uid
        && u.len() > 40
    {
        return Err(GrafanaError::dashboard_save(
            StatusCode::BAD_REQUEST,
            "uid-too-long",
            "uid too long, max 40 characters",
        ));
    }
    let sent_version = model.get("version").and_then(Value::as_i64).unwrap_or(0);
    let now = srv.amg.clock.now();
    let login = caller.login.clone();

    let saved = srv.with_ws(|w| {
        let g = &mut w.grafana;
        let by_uid = uid
            .as_ref()
            .and_then(|u| g.dashboards.iter().position(|d| &d.uid == u));
        let by_title = g.dashboards.iter().position(|d| {
            d.title == title && d.folder_uid == folder_uid && Some(&d.uid) != uid.as_ref()
        });
        if let Some(i) = by_uid
            && !overwrite
            && g.dashboards[i].version != sent_version
        {
            return Err(GrafanaError::dashboard_save(
                StatusCode::PRECONDITION_FAILED,
                "version-mismatch",
                "The dashboard has been changed by someone else",
            ));
        }
        // Saving over an existing uid only clashes by title with other dashboards.
        let mut target = by_uid;
        if let Some(j) = by_title {
            if !overwrite {
                return Err(GrafanaError::dashboard_save(
                    StatusCode::PRECONDITION_FAILED,
                    "name-exists",
                    "A dashboard with the same name in the folder already exists",
                ));
            }
            match target {
                // Both exist: the one with the uid stays, the title twin goes.
                Some(i) => {
                    g.dashboards.remove(j);
                    if j < i {
                        target = Some(i - 1);
                    }
                }
                None => target = Some(j),
            }
        }
        let d = match target {
            Some(i) => {
                let d = &mut g.dashboards[i];
                d.version += 1;
                d.title = title.clone();
                d.folder_uid = folder_uid.clone();
                d.updated = now;
                d.updated_by = login.clone();
                d
            }
            None => {
                let id = g.next_dashboard_id();
                g.dashboards.push(Dashboard {
                    id,
                    uid: uid
                        .clone()
                        .unwrap_or_else(|| random_alnum(14).to_lowercase()),
                    title: title.clone(),
                    version: 1,
                    folder_uid: folder_uid.clone(),
                    model: Value::Null,
                    created: now,
                    updated: now,
                    created_by: login.clone(),
                    updated_by: login.clone(),
                });
                g.dashboards.last_mut().expect("just pushed")
            }
        };
        model["id"] = json!(d.id);
        model["uid"] = json!(d.uid);
        model["title"] = json!(d.title);
        model["version"] = json!(d.version);
        d.model = model;
        Ok(d.clone())
    })??;
    let mut out = json!({
        "id": saved.id,
        "uid": saved.uid,
        "url": saved.url(),
        "status": "success",
        "version": saved.version,
        "slug": slugify(&saved.title),
    });
    if let Some(f) = &saved.folder_uid {
        out["folderUid"] = json!(f);
    }
    Ok(ok_json(&out))
}

fn rfc3339(t: std::time::SystemTime) -> String {
    time::OffsetDateTime::from(t)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
