//! AMP's control plane (rest-json, model `amp/2020-08-01`, SigV4 signing name `aps`):
//! workspaces and tags, enough for the real `aws-sdk-amp` client (aws-wire.md B,
//! amp-exact.md §5).
//!
//! Every operation runs the same steps, in the order AWS applies them: SigV4 (front end)
//! -> IAM action on the resource ARN -> input validation -> resource lookup.
//!
//! Lifecycle: a new workspace is CREATING for `settings.create_delay`, then ACTIVE (the
//! store's `refresh`). DeleteWorkspace marks it DELETING and removes it after the same
//! delay (a tokio timer, in real time). `clientToken` is validated but not used for
//! idempotency: a retried CreateWorkspace makes a second workspace. `kmsKeyArn` is
//! accepted and ignored.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header, request::Parts};
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::{AmpError, FieldViolation, WORKSPACE_RESOURCE_TYPE};
use super::{AmpState, Workspace, WorkspaceStatus};
use crate::identity::MOCK_ACCOUNT;
use crate::restjson::{
    self, Arn, FrontEnd, ResourceError, Tags, ValidationException, authorize, check_length,
    check_tags, json_response,
};

/// Control-plane bodies are small JSON documents.
const MAX_BODY: usize = 1 << 20;
const DEFAULT_MAX_RESULTS: usize = 100;
const MAX_MAX_RESULTS: usize = 1000;

pub fn router() -> Router<Arc<AmpState>> {
    Router::new()
        .route("/workspaces", post(create_workspace).get(list_workspaces))
        .route(
            "/workspaces/{id}",
            get(describe_workspace).delete(delete_workspace),
        )
        .route("/tags/{resource_arn}", restjson::tag_routes())
        .merge(super::scraper::routes())
}

/// The front end of the control plane: SigV4 service `aps`, this endpoint's region.
impl restjson::Service for AmpState {
    type Error = AmpError;

    fn front_end(&self) -> FrontEnd<'_> {
        FrontEnd {
            service: "aps",
            region: &self.region,
            identities: &self.identities,
            clock: &self.clock,
            max_skew: self.settings.max_skew,
            max_body: MAX_BODY,
        }
    }
}

/// Workspaces carry the tags; their ARNs are `arn:aws:aps:<region>:<account>:workspace/<id>`.
impl restjson::Tagging for AmpState {
    fn with_tags<R>(&self, arn: &str, f: impl FnOnce(&mut Tags) -> R) -> Result<R, AmpError> {
        let id = workspace_of_arn(self, arn)?;
        self.with_workspace(&id, |w| f(&mut w.tags))
            .ok_or_else(|| AmpError::workspace_not_found(&id))
    }
}

// ---------------------------------------------------------------------------------------
// Workspaces

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct CreateWorkspaceInput {
    alias: Option<String>,
    client_token: Option<String>,
    #[allow(dead_code)] // accepted, not modelled by the mock
    kms_key_arn: Option<String>,
    tags: Option<BTreeMap<String, String>>,
}

/// `POST /workspaces` -> 202 `{arn, workspaceId, status, tags?}`.
async fn create_workspace(
    State(st): State<Arc<AmpState>>,
    req: Request,
) -> Result<Response, AmpError> {
    let call = authorize(
        &*st,
        req,
        "aps:CreateWorkspace",
        &format!("{}/*", workspace_arn_prefix(&st)),
    )
    .await?;
    let input: CreateWorkspaceInput = restjson::parse_json(&call.body)?;
    let mut bad = Vec::new();
    if let Some(alias) = &input.alias {
        check_length(&mut bad, "alias", alias, 1, 100);
    }
    if let Some(token) = &input.client_token {
        check_client_token(&mut bad, token);
    }
    let tags = input.tags.unwrap_or_default();
    check_tags(&mut bad, &tags);
    ValidationException::check(bad)?;

    let now = st.clock.now();
    let id = format!("ws-{}", uuid::Uuid::new_v4());
    let mut ws = Workspace::new(id.clone(), &st.region, input.alias, now);
    ws.status = WorkspaceStatus::Creating;
    ws.active_at = Some(now + st.settings.create_delay);
    ws.tags = tags;
    let mut out = json!({ "arn": ws.arn, "workspaceId": ws.id, "status": status_json(ws.status) });
    if !ws.tags.is_empty() {
        out["tags"] = json!(ws.tags);
    }
    st.insert_workspace(ws);
    Ok(json_response(StatusCode::ACCEPTED, out))
}

/// `GET /workspaces/{id}` -> `{workspace: {…, prometheusEndpoint}}`.
async fn describe_workspace(
    State(st): State<Arc<AmpState>>,
    Path(id): Path<String>,
    req: Request,
) -> Result<Response, AmpError> {
    let call = authorize(&*st, req, "aps:DescribeWorkspace", &workspace_arn(&st, &id)).await?;
    check_workspace_id(&id)?;
    // The mock serves the data plane on the same listener, so the endpoint points back
    // at whatever host the client reached (plain http on loopback).
    let base = format!("http://{}", request_host(&call.parts));
    let ws = st
        .with_workspace(&id, |w| {
            let mut v = summary_json(w);
            v["prometheusEndpoint"] = json!(format!("{base}/workspaces/{}/", w.id));
            v
        })
        .ok_or_else(|| AmpError::workspace_not_found(&id))?;
    Ok(restjson::ok(json!({ "workspace": ws })))
}

/// `GET /workspaces?alias=&maxResults=&nextToken=` -> `{workspaces: [summary], nextToken?}`.
/// `alias` matches as a prefix (model docs). Summaries carry no prometheusEndpoint. The
/// page token is the hex of the last id returned.
async fn list_workspaces(
    State(st): State<Arc<AmpState>>,
    req: Request,
) -> Result<Response, AmpError> {
    // [inferred] resource of a list action: the account-and-region wildcard.
    let resource = format!("arn:aws:aps:{}:{MOCK_ACCOUNT}:*", st.region);
    let call = authorize(&*st, req, "aps:ListWorkspaces", &resource).await?;
    let query = call.query();
    let alias = query.get("alias");
    let mut bad = Vec::new();
    if let Some(alias) = alias {
        check_length(&mut bad, "alias", alias, 1, 100);
    }
    let max_results = query.max_results(&mut bad, DEFAULT_MAX_RESULTS, MAX_MAX_RESULTS);
    let after = query.next_token(&mut bad, restjson::decode_token);
    ValidationException::check(bad)?;

    let matching: Vec<(String, Value)> = st
        .list_workspaces(|w| {
            let keep = alias.is_none_or(|a| w.alias.as_deref().is_some_and(|wa| wa.starts_with(a)));
            keep.then(|| (w.id.clone(), summary_json(w)))
        })
        .into_iter()
        .flatten()
        .filter(|(id, _)| after.as_deref().is_none_or(|a| id.as_str() > a))
        .collect();
    let more = matching.len() > max_results;
    let page: Vec<(String, Value)> = matching.into_iter().take(max_results).collect();
    let out = json!({ "workspaces": page.iter().map(|(_, v)| v.clone()).collect::<Vec<_>>() });
    let next = page
        .last()
        .filter(|_| more)
        .map(|(last, _)| restjson::encode_token(last));
    Ok(restjson::ok(restjson::with_next_token(out, next)))
}

/// `DELETE /workspaces/{id}?clientToken=` -> 202, no body. The workspace is DELETING,
/// then gone after `create_delay`.
async fn delete_workspace(
    State(st): State<Arc<AmpState>>,
    Path(id): Path<String>,
    req: Request,
) -> Result<Response, AmpError> {
    let call = authorize(&*st, req, "aps:DeleteWorkspace", &workspace_arn(&st, &id)).await?;
    check_workspace_id(&id)?;
    if let Some(token) = call.query().get("clientToken") {
        let mut bad = Vec::new();
        check_client_token(&mut bad, token);
        ValidationException::check(bad)?;
    }
    st.with_workspace(&id, |w| match w.status {
        // [inferred] AMP refuses to delete a workspace that is still being created or is
        // already going away.
        WorkspaceStatus::Creating | WorkspaceStatus::Deleting => {
            Err(AmpError::Conflict(ResourceError::new(
                format!("Workspace {} is in {} state.", w.id, w.status.as_str()),
                w.id.clone(),
                WORKSPACE_RESOURCE_TYPE.to_string(),
            )))
        }
        _ => {
            w.status = WorkspaceStatus::Deleting;
            Ok(())
        }
    })
    .ok_or_else(|| AmpError::workspace_not_found(&id))??;

    let delay = st.settings.create_delay;
    let state = st.clone();
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        state.remove_workspace(&id);
    });
    Ok(restjson::empty_response(StatusCode::ACCEPTED))
}

// ---------------------------------------------------------------------------------------
// Shared steps

fn workspace_arn_prefix(st: &AmpState) -> String {
    format!("arn:aws:aps:{}:{MOCK_ACCOUNT}:workspace", st.region)
}

fn workspace_arn(st: &AmpState, id: &str) -> String {
    format!("{}/{id}", workspace_arn_prefix(st))
}

/// The workspace id a tagging ARN names. A string that is not an AMP ARN is a
/// ValidationException; an ARN of another resource type, region or account, or of no
/// existing workspace, is ResourceNotFound (as this endpoint cannot see it).
fn workspace_of_arn(st: &AmpState, arn: &str) -> Result<String, AmpError> {
    // [inferred] pattern text: the model's ARN pattern is not quoted in the specs.
    let pattern = "arn:aws[-a-z]*:aps:[-a-z0-9]+:[0-9]{12}:[a-z-]+/.+";
    let parsed = Arn::checked(arn, "aps", |r| r.contains('/'), pattern)?;
    let id = parsed
        .resource
        .strip_prefix("workspace/")
        .ok_or_else(|| AmpError::workspace_not_found(arn))?;
    if !parsed.is_here(&st.region) || st.with_workspace(id, |_| ()).is_none() {
        return Err(AmpError::workspace_not_found(id));
    }
    Ok(id.to_string())
}

/// Model: length 1-64, pattern `.*[0-9A-Za-z][-.0-9A-Z_a-z]*.*` (amp-exact.md §1.9), which
/// in effect asks for one ASCII letter or digit.
fn check_workspace_id(id: &str) -> Result<(), ValidationException> {
    let mut bad = Vec::new();
    check_length(&mut bad, "workspaceId", id, 1, 64);
    if !id.bytes().any(|b| b.is_ascii_alphanumeric()) {
        bad.push(FieldViolation::new(
            "workspaceId",
            id,
            "Member must satisfy regular expression pattern: .*[0-9A-Za-z][-.0-9A-Z_a-z]*.*",
        ));
    }
    ValidationException::check(bad)
}

/// clientToken: 1-64 characters of `[!-~]`.
fn check_client_token(bad: &mut Vec<FieldViolation>, token: &str) {
    check_length(bad, "clientToken", token, 1, 64);
    if !token.bytes().all(|b| (b'!'..=b'~').contains(&b)) {
        bad.push(FieldViolation::new(
            "clientToken",
            token,
            "Member must satisfy regular expression pattern: [!-~]+",
        ));
    }
}

fn request_host(parts: &Parts) -> String {
    parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| parts.uri.authority().map(|a| a.to_string()))
        .unwrap_or_else(|| "localhost".to_string())
}

fn status_json(s: WorkspaceStatus) -> Value {
    json!({ "statusCode": s.as_str() })
}

/// The fields DescribeWorkspace and ListWorkspaces share. `createdAt` is epoch seconds (a
/// JSON number with a fraction), as rest-json timestamps are.
fn summary_json(w: &Workspace) -> Value {
    let created = w
        .created_at
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as f64 / 1000.0)
        .unwrap_or(0.0);
    let mut v = json!({
        "arn": w.arn,
        "createdAt": created,
        "status": status_json(w.status),
        "workspaceId": w.id,
    });
    if let Some(alias) = &w.alias {
        v["alias"] = json!(alias);
    }
    if !w.tags.is_empty() {
        v["tags"] = json!(w.tags);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::amp::AmpSettings;
    use crate::identity::Identity;
    use crate::restjson::testing::{self, Answer, REGION};

    use axum::body::Body;
    use tower::ServiceExt;

    fn state() -> (Arc<AmpState>, Identity) {
        let (ids, user, clock) = testing::principal();
        let st = AmpState::new(REGION, AmpSettings::default(), ids, clock);
        (Arc::new(st), user)
    }

    fn signed(user: &Identity, method: &str, path: &str, body: &str) -> http::Request<Body> {
        testing::signed(user, "aps", method, path, body)
    }

    async fn call(st: &Arc<AmpState>, req: http::Request<Body>) -> (StatusCode, Value) {
        let answer = Answer::send(router().with_state(st.clone()), req).await;
        (answer.status, answer.json())
    }

    #[tokio::test]
    async fn unsigned_request_gets_missing_authentication_token() {
        let (st, _) = state();
        let req = http::Request::get("/workspaces")
            .header("host", "aps.local")
            .body(Body::empty())
            .unwrap();
        let resp = router().with_state(st).oneshot(req).await.unwrap();
        assert_eq!(resp.status(), 403);
        assert_eq!(
            resp.headers()["x-amzn-ErrorType"],
            "MissingAuthenticationTokenException"
        );
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        assert_eq!(&body[..], br#"{"message":"Missing Authentication Token"}"#);
    }

    #[tokio::test]
    async fn create_describe_list_delete() {
        let (st, user) = state();
        let (s, v) = call(
            &st,
            signed(
                &user,
                "POST",
                "/workspaces",
                r#"{"alias":"a1","tags":{"k":"v"}}"#,
            ),
        )
        .await;
        assert_eq!(s, 202);
        assert_eq!(v["status"]["statusCode"], "CREATING");
        assert_eq!(v["tags"]["k"], "v");
        let id = v["workspaceId"].as_str().unwrap().to_string();
        assert!(id.starts_with("ws-") && id.len() == 39, "{id}");
        assert_eq!(
            v["arn"],
            format!("arn:aws:aps:us-east-1:111122223333:workspace/{id}")
        );

        let (s, v) = call(&st, signed(&user, "GET", &format!("/workspaces/{id}"), "")).await;
        assert_eq!(s, 200);
        assert_eq!(
            v["workspace"]["prometheusEndpoint"],
            format!("http://aps.local/workspaces/{id}/")
        );
        assert!(v["workspace"]["createdAt"].is_number());

        let (s, v) = call(&st, signed(&user, "GET", "/workspaces?alias=a", "")).await;
        assert_eq!(s, 200);
        assert_eq!(v["workspaces"][0]["workspaceId"], id.as_str());
        assert!(v["workspaces"][0].get("prometheusEndpoint").is_none());
        let (_, v) = call(&st, signed(&user, "GET", "/workspaces?alias=zz", "")).await;
        assert_eq!(v["workspaces"].as_array().unwrap().len(), 0);

        // Still CREATING: deleting conflicts.
        let (s, v) = call(
            &st,
            signed(&user, "DELETE", &format!("/workspaces/{id}"), ""),
        )
        .await;
        assert_eq!(s, 409, "{v}");
        st.with_workspace(&id, |w| w.status = WorkspaceStatus::Active);
        let (s, _) = call(
            &st,
            signed(&user, "DELETE", &format!("/workspaces/{id}"), ""),
        )
        .await;
        assert_eq!(s, 202);
        let (_, v) = call(&st, signed(&user, "GET", &format!("/workspaces/{id}"), "")).await;
        assert_eq!(v["workspace"]["status"]["statusCode"], "DELETING");
    }

    #[tokio::test]
    async fn pagination() {
        let (st, user) = state();
        for _ in 0..3 {
            call(&st, signed(&user, "POST", "/workspaces", "{}")).await;
        }
        let (_, v) = call(&st, signed(&user, "GET", "/workspaces?maxResults=2", "")).await;
        assert_eq!(v["workspaces"].as_array().unwrap().len(), 2);
        let token = v["nextToken"].as_str().unwrap().to_string();
        let (_, v) = call(
            &st,
            signed(
                &user,
                "GET",
                &format!("/workspaces?maxResults=2&nextToken={token}"),
                "",
            ),
        )
        .await;
        assert_eq!(v["workspaces"].as_array().unwrap().len(), 1);
        assert!(v.get("nextToken").is_none());
        let (s, v) = call(&st, signed(&user, "GET", "/workspaces?maxResults=0", "")).await;
        assert_eq!(s, 400);
        assert_eq!(v["reason"], "FIELD_VALIDATION_FAILED");
        assert_eq!(v["fieldList"][0]["name"], "maxResults");
        let (s, _) = call(&st, signed(&user, "GET", "/workspaces?maxResults=1001", "")).await;
        assert_eq!(s, 400);
    }

    #[tokio::test]
    async fn validation_errors() {
        let (st, user) = state();
        let long = "x".repeat(101);
        let (s, v) = call(
            &st,
            signed(
                &user,
                "POST",
                "/workspaces",
                &format!(r#"{{"alias":"{long}"}}"#),
            ),
        )
        .await;
        assert_eq!(s, 400);
        assert_eq!(v["fieldList"][0]["name"], "alias");
        let many: BTreeMap<String, String> = (0..51)
            .map(|i| (format!("k{i}"), "v".to_string()))
            .collect();
        let body = json!({ "tags": many }).to_string();
        let (s, v) = call(&st, signed(&user, "POST", "/workspaces", &body)).await;
        assert_eq!(
            (s.as_u16(), v["fieldList"][0]["name"].as_str()),
            (400, Some("tags"))
        );
        let (s, v) = call(&st, signed(&user, "POST", "/workspaces", "{not json")).await;
        assert_eq!(
            (s.as_u16(), v["reason"].as_str()),
            (400, Some("CANNOT_PARSE"))
        );
        let (s, v) = call(&st, signed(&user, "GET", "/workspaces/---", "")).await;
        assert_eq!(
            (s.as_u16(), v["fieldList"][0]["name"].as_str()),
            (400, Some("workspaceId"))
        );
        let (s, v) = call(&st, signed(&user, "GET", "/workspaces/ws-nope", "")).await;
        assert_eq!(
            (s.as_u16(), v["resourceId"].as_str()),
            (404, Some("ws-nope"))
        );
    }

    #[tokio::test]
    async fn access_denied_names_the_action_and_resource() {
        let (st, user) = state();
        st.identities.update(&user.access_key_id, |i| {
            i.allowed_actions = ["aps:ListWorkspaces".to_string()].into_iter().collect();
        });
        let (s, v) = call(&st, signed(&user, "GET", "/workspaces/ws-1", "")).await;
        assert_eq!(s, 403);
        assert_eq!(
            v["message"],
            format!(
                "User: {} is not authorized to perform: aps:DescribeWorkspace on resource: arn:aws:aps:us-east-1:111122223333:workspace/ws-1",
                user.arn
            )
        );
        let (s, _) = call(&st, signed(&user, "GET", "/workspaces", "")).await;
        assert_eq!(s, 200);
    }

    #[tokio::test]
    async fn tags_round_trip_and_bad_arns() {
        let (st, user) = state();
        let (_, v) = call(&st, signed(&user, "POST", "/workspaces", "{}")).await;
        let arn = v["arn"].as_str().unwrap().to_string();
        let enc = percent_encoding::utf8_percent_encode(&arn, percent_encoding::NON_ALPHANUMERIC)
            .to_string();
        let (s, v) = call(
            &st,
            signed(
                &user,
                "POST",
                &format!("/tags/{enc}"),
                r#"{"tags":{"a":"1","b":"2"}}"#,
            ),
        )
        .await;
        assert_eq!((s.as_u16(), v), (200, json!({})));
        let (s, _) = call(
            &st,
            signed(&user, "DELETE", &format!("/tags/{enc}?tagKeys=a"), ""),
        )
        .await;
        assert_eq!(s, 200);
        let (s, v) = call(&st, signed(&user, "GET", &format!("/tags/{enc}"), "")).await;
        assert_eq!((s.as_u16(), v), (200, json!({ "tags": { "b": "2" } })));
        let (s, _) = call(&st, signed(&user, "DELETE", &format!("/tags/{enc}"), "")).await;
        assert_eq!(s, 400);
        let (s, _) = call(&st, signed(&user, "GET", "/tags/not-an-arn", "")).await;
        assert_eq!(s, 400);
        let other = enc.replace("ws%2D", "ws%2Dx");
        let (s, _) = call(&st, signed(&user, "GET", &format!("/tags/{other}"), "")).await;
        assert_eq!(s, 404);
    }
}
