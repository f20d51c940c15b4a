//! AMG's control plane (rest-json, model `grafana/2020-08-18`, SigV4 signing name
//! `grafana`), enough for the real `aws-sdk-grafana` client: workspaces (describe, list,
//! authentication, permissions), service accounts and their tokens, legacy API keys, tags
//! (amg-grafana-exact.md §2).
//!
//! Every operation runs the same steps, in the order AWS applies them: SigV4 (front end)
//! -> IAM action (`grafana:<Operation>`) on the resource ARN -> input validation ->
//! resource lookup -> state checks. Workspaces are not created or deleted here: the stack
//! seeds one, tests insert others through [`AmgState`].

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::response::Response;
use axum::routing::{delete, get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::{AmgError, FieldViolation, resource_type};
use super::state::{AmgState, GrafanaRole, UserType, Workspace, epoch_json, workspace_arn};
use super::token;
use crate::restjson::{
    self, Arn, FrontEnd, OffsetToken, ResourceError, Tags, ValidationException, authorize,
    check_length, required, required_text, with_next_token,
};

/// Control-plane bodies are small JSON documents.
const MAX_BODY: usize = 1 << 20;
/// `maxResults` of the list operations: 1-100, 100 when absent.
const MAX_RESULTS: usize = 100;
/// Page tokens: opaque to clients; the mock's is the hex of the offset of the next item.
const PAGE_TOKEN: OffsetToken = OffsetToken("offset:");
/// `secondsToLive` of tokens and API keys: 1..30 days.
const MAX_SECONDS_TO_LIVE: i64 = 2_592_000;

/// The control plane's router (state applied by the caller, as `amg::router` does).
pub fn routes() -> Router<Arc<AmgState>> {
    Router::new()
        .route("/workspaces", get(list_workspaces))
        .route("/workspaces/{id}", get(describe_workspace))
        .route(
            "/workspaces/{id}/authentication",
            get(describe_workspace_authentication),
        )
        .route("/workspaces/{id}/permissions", get(list_permissions))
        .route(
            "/workspaces/{id}/serviceaccounts",
            post(create_service_account).get(list_service_accounts),
        )
        .route(
            "/workspaces/{id}/serviceaccounts/{sa}",
            delete(delete_service_account),
        )
        .route(
            "/workspaces/{id}/serviceaccounts/{sa}/tokens",
            post(create_service_account_token).get(list_service_account_tokens),
        )
        .route(
            "/workspaces/{id}/serviceaccounts/{sa}/tokens/{token}",
            delete(delete_service_account_token),
        )
        .route("/workspaces/{id}/apikeys", post(create_api_key))
        .route("/workspaces/{id}/apikeys/{name}", delete(delete_api_key))
        .route("/tags/{resource_arn}", restjson::tag_routes())
        .fallback(unknown_operation)
        .method_not_allowed_fallback(unknown_operation)
}

/// The whole mock AMG control plane.
pub fn router(state: Arc<AmgState>) -> Router {
    routes().with_state(state)
}

async fn unknown_operation() -> AmgError {
    AmgError::UnknownOperation
}

/// The front end of the control plane: SigV4 service `grafana`, this endpoint's region.
impl restjson::Service for AmgState {
    type Error = AmgError;

    fn front_end(&self) -> FrontEnd<'_> {
        FrontEnd {
            service: "grafana",
            region: &self.region,
            identities: &self.identities,
            clock: &self.clock,
            max_skew: self.settings.max_skew,
            max_body: MAX_BODY,
        }
    }
}

/// Workspaces carry the tags: `arn:aws:grafana:<region>:<account>:/workspaces/<id>`.
impl restjson::Tagging for AmgState {
    fn with_tags<R>(&self, arn: &str, f: impl FnOnce(&mut Tags) -> R) -> Result<R, AmgError> {
        let id = workspace_of_arn(self, arn)?;
        self.with_workspace(&id, |w| f(&mut w.tags))
            .ok_or_else(|| AmgError::workspace_not_found(&id))
    }
}

// ---------------------------------------------------------------------------------------
// Workspaces

/// `GET /workspaces/{id}` -> `{workspace}` with every required member of
/// `WorkspaceDescription`.
async fn describe_workspace(
    State(st): State<Arc<AmgState>>,
    Path(id): Path<String>,
    req: Request,
) -> Result<Response, AmgError> {
    authorize(
        &*st,
        req,
        "grafana:DescribeWorkspace",
        &workspace_arn(&st.region, &id),
    )
    .await?;
    check_workspace_id(&id)?;
    let ws = st
        .with_workspace(&id, |w| description_json(w))
        .ok_or_else(|| AmgError::workspace_not_found(&id))?;
    Ok(restjson::ok(json!({ "workspace": ws })))
}

/// `GET /workspaces?maxResults(1-100)&nextToken` -> `{workspaces: [summary], nextToken?}`.
/// Summaries carry no `dataSources`, `workspaceRoleArn`, `permissionType` or
/// `accountAccessType`.
async fn list_workspaces(
    State(st): State<Arc<AmgState>>,
    req: Request,
) -> Result<Response, AmgError> {
    // [inferred] resource of a list action: every workspace of the account and region.
    let resource = workspace_arn(&st.region, "*");
    let call = authorize(&*st, req, "grafana:ListWorkspaces", &resource).await?;
    let paging = call.query().offset_page(MAX_RESULTS, PAGE_TOKEN)?;
    let all = st.list_workspaces(summary_json);
    let (page, next) = paging.apply(all);
    Ok(restjson::ok(with_next_token(
        json!({ "workspaces": page }),
        next,
    )))
}

/// `GET /workspaces/{id}/authentication` -> `{authentication: {providers, saml?, awsSso?}}`.
async fn describe_workspace_authentication(
    State(st): State<Arc<AmgState>>,
    Path(id): Path<String>,
    req: Request,
) -> Result<Response, AmgError> {
    authorize(
        &*st,
        req,
        "grafana:DescribeWorkspaceAuthentication",
        &workspace_arn(&st.region, &id),
    )
    .await?;
    check_workspace_id(&id)?;
    let auth = st
        .with_workspace(&id, |w| {
            let mut v = json!({
                "providers": w.authentication.providers.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
            });
            if let Some(s) = w.authentication.saml_status {
                v["saml"] = json!({ "status": s.as_str() });
            }
            if w
                .authentication
                .providers
                .contains(&super::state::AuthProvider::AwsSso)
            {
                // [inferred] value: the Identity Center application's client id.
                v["awsSso"] = json!({ "ssoClientId": format!("pipecheck-sso-{}", w.id) });
            }
            v
        })
        .ok_or_else(|| AmgError::workspace_not_found(&id))?;
    Ok(restjson::ok(json!({ "authentication": auth })))
}

/// `GET /workspaces/{id}/permissions?userType&userId&groupId&maxResults&nextToken` ->
/// `{permissions: [{user: {id, type}, role}], nextToken?}`. Empty: nobody can log in.
async fn list_permissions(
    State(st): State<Arc<AmgState>>,
    Path(id): Path<String>,
    req: Request,
) -> Result<Response, AmgError> {
    let call = authorize(
        &*st,
        req,
        "grafana:ListPermissions",
        &workspace_arn(&st.region, &id),
    )
    .await?;
    check_workspace_id(&id)?;
    let paging = call.query().offset_page(MAX_RESULTS, PAGE_TOKEN)?;
    let query = call.query();
    let user_type = match query.get("userType") {
        None => None,
        Some("SSO_USER") => Some(UserType::SsoUser),
        Some("SSO_GROUP") => Some(UserType::SsoGroup),
        Some(other) => {
            return Err(AmgError::validation(vec![FieldViolation::new(
                "userType",
                other,
                "Member must satisfy enum value set: [SSO_USER, SSO_GROUP]",
            )]));
        }
    };
    let (user_id, group_id) = (query.get("userId"), query.get("groupId"));
    let all = st
        .with_workspace(&id, |w| {
            w.permissions
                .iter()
                .filter(|p| user_type.is_none_or(|t| p.user_type == t))
                .filter(|p| {
                    user_id.is_none_or(|u| p.user_type == UserType::SsoUser && p.user_id == u)
                })
                .filter(|p| {
                    group_id.is_none_or(|g| p.user_type == UserType::SsoGroup && p.user_id == g)
                })
                .map(|p| {
                    json!({
                        "user": { "id": p.user_id, "type": p.user_type.as_str() },
                        "role": p.role.as_str(),
                    })
                })
                .collect::<Vec<_>>()
        })
        .ok_or_else(|| AmgError::workspace_not_found(&id))?;
    let (page, next) = paging.apply(all);
    Ok(restjson::ok(with_next_token(
        json!({ "permissions": page }),
        next,
    )))
}

// ---------------------------------------------------------------------------------------
// Service accounts and tokens

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct CreateServiceAccountInput {
    name: Option<String>,
    grafana_role: Option<String>,
}

/// `POST /workspaces/{id}/serviceaccounts` `{name, grafanaRole}` -> 200
/// `{id, name, grafanaRole, workspaceId}`.
async fn create_service_account(
    State(st): State<Arc<AmgState>>,
    Path(id): Path<String>,
    req: Request,
) -> Result<Response, AmgError> {
    let call = authorize(
        &*st,
        req,
        "grafana:CreateWorkspaceServiceAccount",
        &workspace_arn(&st.region, &id),
    )
    .await?;
    let input: CreateServiceAccountInput = restjson::parse_json(&call.body)?;
    let mut bad = workspace_id_violations(&id);
    let name = required_text(&mut bad, "name", input.name, 1, 128);
    let role = required_role(
        &mut bad,
        "grafanaRole",
        input.grafana_role,
        "Member must satisfy enum value set: [ADMIN, EDITOR, VIEWER]",
    );
    ValidationException::check(bad)?;
    let (name, role) = (name.expect("validated"), role.expect("validated"));
    let max = st.settings.max_service_accounts;
    let out = st
        .with_workspace(&id, |w| {
            check_serving(w)?;
            check_service_accounts_supported(w)?;
            if w.service_accounts.iter().any(|s| s.name == name) {
                // [inferred] Grafana refuses a second service account with the same name.
                return Err(AmgError::Conflict(ResourceError::new(
                    format!("A service account with the name {name} already exists."),
                    name.clone(),
                    resource_type::SERVICE_ACCOUNT,
                )));
            }
            if w.service_accounts.len() >= max {
                return Err(AmgError::ServiceQuotaExceeded {
                    message: format!(
                        "You have reached the quota of {max} service accounts in workspace {}.",
                        w.id
                    ),
                    resource_id: w.id.clone(),
                    resource_type: resource_type::SERVICE_ACCOUNT,
                    quota_code: "pipecheck-service-accounts".to_string(),
                });
            }
            let sa = w.add_service_account(&name, role);
            Ok(json!({
                "id": sa,
                "name": name,
                "grafanaRole": role.as_str(),
                "workspaceId": w.id,
            }))
        })
        .ok_or_else(|| AmgError::workspace_not_found(&id))??;
    Ok(restjson::ok(out))
}

/// `GET /workspaces/{id}/serviceaccounts` -> `{serviceAccounts: [{id, name, isDisabled,
/// grafanaRole}], workspaceId, nextToken?}` (`isDisabled` is a string in the model).
async fn list_service_accounts(
    State(st): State<Arc<AmgState>>,
    Path(id): Path<String>,
    req: Request,
) -> Result<Response, AmgError> {
    let call = authorize(
        &*st,
        req,
        "grafana:ListWorkspaceServiceAccounts",
        &workspace_arn(&st.region, &id),
    )
    .await?;
    check_workspace_id(&id)?;
    let paging = call.query().offset_page(MAX_RESULTS, PAGE_TOKEN)?;
    let all = st
        .with_workspace(&id, |w| {
            check_serving(w)?;
            check_service_accounts_supported(w)?;
            Ok::<_, AmgError>(
                w.service_accounts
                    .iter()
                    .map(|s| {
                        json!({
                            "id": s.id,
                            "name": s.name,
                            "isDisabled": s.disabled.to_string(),
                            "grafanaRole": s.role.as_str(),
                        })
                    })
                    .collect::<Vec<_>>(),
            )
        })
        .ok_or_else(|| AmgError::workspace_not_found(&id))??;
    let (page, next) = paging.apply(all);
    Ok(restjson::ok(with_next_token(
        json!({ "serviceAccounts": page, "workspaceId": id }),
        next,
    )))
}

/// `DELETE /workspaces/{id}/serviceaccounts/{sa}` -> `{serviceAccountId, workspaceId}`;
/// its tokens go with it.
async fn delete_service_account(
    State(st): State<Arc<AmgState>>,
    Path((id, sa)): Path<(String, String)>,
    req: Request,
) -> Result<Response, AmgError> {
    authorize(
        &*st,
        req,
        "grafana:DeleteWorkspaceServiceAccount",
        &workspace_arn(&st.region, &id),
    )
    .await?;
    check_workspace_id(&id)?;
    st.with_workspace(&id, |w| {
        check_serving(w)?;
        let before = w.service_accounts.len();
        w.service_accounts.retain(|s| s.id != sa);
        if w.service_accounts.len() == before {
            return Err(AmgError::not_found(resource_type::SERVICE_ACCOUNT, &sa));
        }
        Ok(())
    })
    .ok_or_else(|| AmgError::workspace_not_found(&id))??;
    Ok(restjson::ok(
        json!({ "serviceAccountId": sa, "workspaceId": id }),
    ))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct CreateTokenInput {
    name: Option<String>,
    seconds_to_live: Option<i64>,
}

/// `POST /workspaces/{id}/serviceaccounts/{sa}/tokens` `{name, secondsToLive}` -> 200
/// `{serviceAccountToken: {id, name, key}, serviceAccountId, workspaceId}`. The key is
/// shown this once.
async fn create_service_account_token(
    State(st): State<Arc<AmgState>>,
    Path((id, sa)): Path<(String, String)>,
    req: Request,
) -> Result<Response, AmgError> {
    let call = authorize(
        &*st,
        req,
        "grafana:CreateWorkspaceServiceAccountToken",
        &workspace_arn(&st.region, &id),
    )
    .await?;
    let input: CreateTokenInput = restjson::parse_json(&call.body)?;
    let mut bad = workspace_id_violations(&id);
    let name = required_text(&mut bad, "name", input.name, 1, 128);
    let ttl = required(&mut bad, "secondsToLive", input.seconds_to_live);
    if let Some(t) = ttl {
        check_seconds_to_live(&mut bad, t);
    }
    ValidationException::check(bad)?;
    let (name, ttl) = (name.expect("validated"), ttl.expect("validated"));
    let now = st.clock.now();
    let max = st.settings.max_tokens_per_service_account;
    let out = st
        .with_workspace(&id, |w| {
            check_serving(w)?;
            check_service_accounts_supported(w)?;
            let ws_id = w.id.clone();
            let account = w
                .service_account(&sa)
                .ok_or_else(|| AmgError::not_found(resource_type::SERVICE_ACCOUNT, &sa))?;
            if account.tokens.iter().any(|t| t.name == name) {
                // [inferred] Grafana: token names are unique per service account.
                return Err(AmgError::Conflict(ResourceError::new(
                    format!(
                        "A token with the name {name} already exists for service account {sa}."
                    ),
                    name.clone(),
                    resource_type::SERVICE_ACCOUNT_TOKEN,
                )));
            }
            if account.tokens.len() >= max {
                // Expired tokens count until deleted (AWS user guide).
                return Err(AmgError::ServiceQuotaExceeded {
                    message: format!(
                        "You have reached the quota of {max} tokens for service account {sa}."
                    ),
                    resource_id: sa.clone(),
                    resource_type: resource_type::SERVICE_ACCOUNT_TOKEN,
                    quota_code: "pipecheck-service-account-tokens".to_string(),
                });
            }
            let (token_id, key) = w
                .add_token(&sa, &name, Duration::from_secs(ttl as u64), now)
                .expect("the service account exists");
            Ok(json!({
                "serviceAccountToken": { "id": token_id, "name": name, "key": key },
                "serviceAccountId": sa,
                "workspaceId": ws_id,
            }))
        })
        .ok_or_else(|| AmgError::workspace_not_found(&id))??;
    Ok(restjson::ok(out))
}

/// `GET /workspaces/{id}/serviceaccounts/{sa}/tokens` -> `{serviceAccountTokens: [{id,
/// name, createdAt, expiresAt, lastUsedAt?}], serviceAccountId, workspaceId, nextToken?}`.
async fn list_service_account_tokens(
    State(st): State<Arc<AmgState>>,
    Path((id, sa)): Path<(String, String)>,
    req: Request,
) -> Result<Response, AmgError> {
    let call = authorize(
        &*st,
        req,
        "grafana:ListWorkspaceServiceAccountTokens",
        &workspace_arn(&st.region, &id),
    )
    .await?;
    check_workspace_id(&id)?;
    let paging = call.query().offset_page(MAX_RESULTS, PAGE_TOKEN)?;
    let all = st
        .with_workspace(&id, |w| {
            check_serving(w)?;
            let account = w
                .service_account(&sa)
                .ok_or_else(|| AmgError::not_found(resource_type::SERVICE_ACCOUNT, &sa))?;
            Ok::<_, AmgError>(
                account
                    .tokens
                    .iter()
                    .map(|t| {
                        let mut v = json!({
                            "id": t.id,
                            "name": t.name,
                            "createdAt": epoch_json(t.created_at),
                            "expiresAt": epoch_json(t.expires_at),
                        });
                        if let Some(u) = t.last_used_at {
                            v["lastUsedAt"] = epoch_json(u);
                        }
                        v
                    })
                    .collect::<Vec<_>>(),
            )
        })
        .ok_or_else(|| AmgError::workspace_not_found(&id))??;
    let (page, next) = paging.apply(all);
    Ok(restjson::ok(with_next_token(
        json!({
            "serviceAccountTokens": page,
            "serviceAccountId": sa,
            "workspaceId": id,
        }),
        next,
    )))
}

/// `DELETE /workspaces/{id}/serviceaccounts/{sa}/tokens/{token}` ->
/// `{tokenId, serviceAccountId, workspaceId}`.
async fn delete_service_account_token(
    State(st): State<Arc<AmgState>>,
    Path((id, sa, token_id)): Path<(String, String, String)>,
    req: Request,
) -> Result<Response, AmgError> {
    authorize(
        &*st,
        req,
        "grafana:DeleteWorkspaceServiceAccountToken",
        &workspace_arn(&st.region, &id),
    )
    .await?;
    check_workspace_id(&id)?;
    st.with_workspace(&id, |w| {
        check_serving(w)?;
        let account = w
            .service_account_mut(&sa)
            .ok_or_else(|| AmgError::not_found(resource_type::SERVICE_ACCOUNT, &sa))?;
        let before = account.tokens.len();
        account.tokens.retain(|t| t.id != token_id);
        if account.tokens.len() == before {
            return Err(AmgError::not_found(
                resource_type::SERVICE_ACCOUNT_TOKEN,
                &token_id,
            ));
        }
        Ok(())
    })
    .ok_or_else(|| AmgError::workspace_not_found(&id))??;
    Ok(restjson::ok(json!({
        "tokenId": token_id,
        "serviceAccountId": sa,
        "workspaceId": id,
    })))
}

// ---------------------------------------------------------------------------------------
// Legacy API keys

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct CreateApiKeyInput {
    key_name: Option<String>,
    key_role: Option<String>,
    seconds_to_live: Option<i64>,
}

/// AWS removed API keys from AMG workspaces on Grafana 12 (AWS user guide
/// "v10-using-api-keys"); the API model still has both operations and does not mark them
/// deprecated. How the service refuses is unconfirmed: the mock answers a
/// ValidationException (reason OTHER) that says so, before looking at the key.
fn refuse_api_keys_on_12(w: &Workspace) -> Result<(), AmgError> {
    if w.api_keys_supported() {
        return Ok(());
    }
    Err(AmgError::other(format!(
        "API keys are not supported in Grafana version {}. Use service accounts instead.",
        w.grafana_version
    )))
}

/// `POST /workspaces/{id}/apikeys` `{keyName, keyRole, secondsToLive}` -> 200
/// `{keyName, key, workspaceId}`.
async fn create_api_key(
    State(st): State<Arc<AmgState>>,
    Path(id): Path<String>,
    req: Request,
) -> Result<Response, AmgError> {
    let call = authorize(
        &*st,
        req,
        "grafana:CreateWorkspaceApiKey",
        &workspace_arn(&st.region, &id),
    )
    .await?;
    let input: CreateApiKeyInput = restjson::parse_json(&call.body)?;
    let mut bad = workspace_id_violations(&id);
    let name = required_text(&mut bad, "keyName", input.key_name, 1, 100);
    // `keyRole` is a plain string in the model; Grafana knows three roles [inferred check].
    let role = required_role(
        &mut bad,
        "keyRole",
        input.key_role,
        "Member must be one of ADMIN, EDITOR, VIEWER",
    );
    let ttl = required(&mut bad, "secondsToLive", input.seconds_to_live);
    if let Some(t) = ttl {
        check_seconds_to_live(&mut bad, t);
    }
    ValidationException::check(bad)?;
    let (name, role, ttl) = (
        name.expect("validated"),
        role.expect("validated"),
        ttl.expect("validated"),
    );
    let now = st.clock.now();
    let out = st
        .with_workspace(&id, |w| {
            check_serving(w)?;
            refuse_api_keys_on_12(w)?;
            if w.api_keys.iter().any(|k| k.name == name) {
                return Err(AmgError::Conflict(ResourceError::new(
                    format!("An API key with the name {name} already exists."),
                    name.clone(),
                    resource_type::API_KEY,
                )));
            }
            let key = token::new_api_key(&name);
            w.api_keys.push(super::state::ApiKey {
                name: name.clone(),
                key: key.clone(),
                role,
                created_at: now,
                expires_at: now + Duration::from_secs(ttl as u64),
                revoked: false,
            });
            Ok(json!({ "keyName": name, "key": key, "workspaceId": w.id }))
        })
        .ok_or_else(|| AmgError::workspace_not_found(&id))??;
    Ok(restjson::ok(out))
}

/// `DELETE /workspaces/{id}/apikeys/{keyName}` -> `{keyName, workspaceId}`.
async fn delete_api_key(
    State(st): State<Arc<AmgState>>,
    Path((id, name)): Path<(String, String)>,
    req: Request,
) -> Result<Response, AmgError> {
    authorize(
        &*st,
        req,
        "grafana:DeleteWorkspaceApiKey",
        &workspace_arn(&st.region, &id),
    )
    .await?;
    let mut bad = workspace_id_violations(&id);
    check_length(&mut bad, "keyName", &name, 1, 100);
    ValidationException::check(bad)?;
    st.with_workspace(&id, |w| {
        check_serving(w)?;
        refuse_api_keys_on_12(w)?;
        let before = w.api_keys.len();
        w.api_keys.retain(|k| k.name != name);
        if w.api_keys.len() == before {
            return Err(AmgError::not_found(resource_type::API_KEY, &name));
        }
        Ok(())
    })
    .ok_or_else(|| AmgError::workspace_not_found(&id))??;
    Ok(restjson::ok(json!({ "keyName": name, "workspaceId": id })))
}

// ---------------------------------------------------------------------------------------
// Shared steps

/// SA and token operations need the workspace's Grafana running; a workspace that is
/// being created, deleted or has failed refuses them with a ConflictException [inferred].
fn check_serving(w: &Workspace) -> Result<(), AmgError> {
    if w.status.serves_grafana() {
        return Ok(());
    }
    Err(AmgError::Conflict(ResourceError::new(
        format!(
            "Workspace {} is in {} state and cannot be modified.",
            w.id,
            w.status.as_str()
        ),
        w.id.clone(),
        resource_type::WORKSPACE,
    )))
}

/// Service accounts need Grafana 9 or later [inferred refusal].
fn check_service_accounts_supported(w: &Workspace) -> Result<(), AmgError> {
    if w.service_accounts_supported() {
        return Ok(());
    }
    Err(AmgError::other(format!(
        "Service accounts are not supported in Grafana version {}.",
        w.grafana_version
    )))
}

fn workspace_id_violations(id: &str) -> Vec<FieldViolation> {
    let ok = id.len() == 12
        && id.starts_with("g-")
        && id[2..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if ok {
        Vec::new()
    } else {
        vec![FieldViolation::new(
            "workspaceId",
            id,
            "Member must satisfy regular expression pattern: g-[0-9a-f]{10}",
        )]
    }
}

fn check_workspace_id(id: &str) -> Result<(), ValidationException> {
    ValidationException::check(workspace_id_violations(id))
}

/// `secondsToLive` is 1..2592000 (30 days); 0 is invalid here, unlike Grafana's own API
/// where 0 means "never expires".
fn check_seconds_to_live(bad: &mut Vec<FieldViolation>, v: i64) {
    if v < 1 {
        bad.push(FieldViolation::new(
            "secondsToLive",
            &v.to_string(),
            "Member must have value greater than or equal to 1",
        ));
    } else if v > MAX_SECONDS_TO_LIVE {
        bad.push(FieldViolation::new(
            "secondsToLive",
            &v.to_string(),
            "Member must have value less than or equal to 2592000",
        ));
    }
}

/// The workspace id a tagging ARN names: `arn:aws:grafana:<region>:<account>:/workspaces/<id>`.
/// Not an AMG ARN: ValidationException; another region, account or no such workspace:
/// ResourceNotFound.
fn workspace_of_arn(st: &AmgState, arn: &str) -> Result<String, AmgError> {
    // [inferred] pattern text.
    let pattern = "arn:aws[-a-z]*:grafana:[-a-z0-9]+:[0-9]{12}:/workspaces/g-[0-9a-f]{10}";
    let parsed = Arn::checked(arn, "grafana", |r| r.starts_with('/'), pattern)?;
    let Some(id) = parsed.resource.strip_prefix("/workspaces/") else {
        return Err(AmgError::ResourceNotFound(ResourceError::new(
            format!("Resource {arn} not found."),
            arn.to_string(),
            resource_type::WORKSPACE,
        )));
    };
    if !parsed.is_here(&st.region) || st.with_workspace(id, |_| ()).is_none() {
        return Err(AmgError::workspace_not_found(id));
    }
    Ok(id.to_string())
}

/// `WorkspaceSummary`: no dataSources, workspaceRoleArn, permissionType or
/// accountAccessType (amg-grafana-exact.md §2).
fn summary_json(w: &Workspace) -> Value {
    let mut v = json!({
        "id": w.id,
        "status": w.status.as_str(),
        "endpoint": w.endpoint,
        "grafanaVersion": w.grafana_version,
        "created": epoch_json(w.created),
        "modified": epoch_json(w.modified),
        "authentication": w.authentication.summary_json(),
    });
    if let Some(n) = &w.name {
        v["name"] = json!(n);
    }
    if let Some(d) = &w.description {
        v["description"] = json!(d);
    }
    if !w.tags.is_empty() {
        v["tags"] = json!(w.tags);
    }
    v
}

/// `WorkspaceDescription`.
fn description_json(w: &Workspace) -> Value {
    let mut v = summary_json(w);
    v["dataSources"] = json!(w.data_sources);
    v["accountAccessType"] = json!(w.account_access_type);
    v["permissionType"] = json!(w.permission_type);
    if let Some(r) = &w.workspace_role_arn {
        v["workspaceRoleArn"] = json!(r);
    }
    if let Some(r) = &w.degraded_reason {
        v["degradedWorkspaceReason"] = json!(r);
    }
    v
}

/// A required Grafana role member; `message` is the service's wording for a bad value.
fn required_role(
    bad: &mut Vec<FieldViolation>,
    field: &str,
    v: Option<String>,
    message: &str,
) -> Option<GrafanaRole> {
    required(bad, field, v).and_then(|r| {
        let parsed = GrafanaRole::parse(&r);
        if parsed.is_none() {
            bad.push(FieldViolation::new(field, &r, message));
        }
        parsed
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::amg::state::{AmgSettings, Authentication, WorkspaceStatus};
    use crate::identity::Identity;
    use crate::restjson::testing::{self, Answer, REGION};

    use axum::body::Body;

    const WS: &str = "g-0123456789";

    fn state() -> (Arc<AmgState>, Identity) {
        let (ids, user, clock) = testing::principal();
        let st = AmgState::new(REGION, AmgSettings::default(), ids, clock);
        let mut ws = Workspace::new(WS.to_string(), REGION, "10.4", st.clock.now());
        ws.data_sources = vec!["PROMETHEUS".into()];
        ws.workspace_role_arn = Some("arn:aws:iam::111122223333:role/r".into());
        st.insert_workspace(ws);
        (Arc::new(st), user)
    }

    fn signed(user: &Identity, method: &str, path: &str, body: &str) -> http::Request<Body> {
        testing::signed(user, "grafana", method, path, body)
    }

    /// Status as a number, body as JSON.
    async fn call(st: &Arc<AmgState>, req: http::Request<Body>) -> (u16, Value) {
        let answer = Answer::send(router(st.clone()), req).await;
        (answer.status.as_u16(), answer.json())
    }

    #[tokio::test]
    async fn describe_has_required_members_and_list_hides_some() {
        let (st, user) = state();
        let (s, v) = call(&st, signed(&user, "GET", &format!("/workspaces/{WS}"), "")).await;
        assert_eq!(s, 200, "{v}");
        let w = &v["workspace"];
        for k in [
            "authentication",
            "created",
            "dataSources",
            "endpoint",
            "grafanaVersion",
            "id",
            "modified",
            "status",
        ] {
            assert!(!w[k].is_null(), "missing {k}: {w}");
        }
        assert!(w["created"].is_number());
        assert!(!w["endpoint"].as_str().unwrap().contains("://"));
        let (_, v) = call(&st, signed(&user, "GET", "/workspaces", "")).await;
        let s = &v["workspaces"][0];
        for k in [
            "dataSources",
            "workspaceRoleArn",
            "permissionType",
            "accountAccessType",
        ] {
            assert!(s.get(k).is_none(), "{k} in summary: {s}");
        }
    }

    #[tokio::test]
    async fn validation_order_and_texts() {
        let (st, user) = state();
        let (s, v) = call(&st, signed(&user, "GET", "/workspaces/ws-1", "")).await;
        assert_eq!(
            (s, v["fieldList"][0]["name"].as_str()),
            (400, Some("workspaceId"))
        );
        let (s, v) = call(&st, signed(&user, "GET", "/workspaces/g-aaaaaaaaaa", "")).await;
        assert_eq!((s, v["resourceType"].as_str()), (404, Some("WORKSPACE")));
        let path = format!("/workspaces/{WS}/serviceaccounts");
        let (s, v) = call(
            &st,
            signed(
                &user,
                "POST",
                &path,
                r#"{"name":"a","grafanaRole":"OWNER"}"#,
            ),
        )
        .await;
        assert_eq!(
            (s, v["fieldList"][0]["name"].as_str()),
            (400, Some("grafanaRole"))
        );
        let (s, v) = call(&st, signed(&user, "POST", &path, "{nope")).await;
        assert_eq!((s, v["reason"].as_str()), (400, Some("CANNOT_PARSE")));
        let (s, _) = call(
            &st,
            signed(
                &user,
                "POST",
                &path,
                r#"{"name":"a","grafanaRole":"ADMIN"}"#,
            ),
        )
        .await;
        assert_eq!(s, 200);
        let (s, v) = call(
            &st,
            signed(
                &user,
                "POST",
                &path,
                r#"{"name":"a","grafanaRole":"ADMIN"}"#,
            ),
        )
        .await;
        assert_eq!(
            (s, v["resourceType"].as_str()),
            (409, Some("SERVICE_ACCOUNT"))
        );
        for ttl in ["0", "2592001"] {
            let (s, v) = call(
                &st,
                signed(
                    &user,
                    "POST",
                    &format!("{path}/2/tokens"),
                    &format!(r#"{{"name":"t","secondsToLive":{ttl}}}"#),
                ),
            )
            .await;
            assert_eq!(
                (s, v["fieldList"][0]["name"].as_str()),
                (400, Some("secondsToLive"))
            );
        }
        let (s, _) = call(
            &st,
            signed(
                &user,
                "POST",
                &format!("{path}/2/tokens"),
                r#"{"name":"t","secondsToLive":2592000}"#,
            ),
        )
        .await;
        assert_eq!(s, 200);
    }

    #[tokio::test]
    async fn not_serving_workspace_refuses_service_accounts() {
        let (st, user) = state();
        st.set_status(WS, WorkspaceStatus::Creating);
        let (s, v) = call(
            &st,
            signed(
                &user,
                "POST",
                &format!("/workspaces/{WS}/serviceaccounts"),
                r#"{"name":"a","grafanaRole":"ADMIN"}"#,
            ),
        )
        .await;
        assert_eq!((s, v["resourceType"].as_str()), (409, Some("WORKSPACE")));
    }

    #[tokio::test]
    async fn permissions_and_authentication() {
        let (st, user) = state();
        st.set_authentication(WS, Authentication::saml_not_configured());
        let (s, v) = call(
            &st,
            signed(&user, "GET", &format!("/workspaces/{WS}/permissions"), ""),
        )
        .await;
        assert_eq!((s, v), (200, json!({ "permissions": [] })));
        let (_, v) = call(&st, signed(&user, "GET", &format!("/workspaces/{WS}"), "")).await;
        assert_eq!(
            v["workspace"]["authentication"],
            json!({ "providers": ["SAML"], "samlConfigurationStatus": "NOT_CONFIGURED" })
        );
        let (_, v) = call(
            &st,
            signed(
                &user,
                "GET",
                &format!("/workspaces/{WS}/authentication"),
                "",
            ),
        )
        .await;
        assert_eq!(v["authentication"]["saml"]["status"], "NOT_CONFIGURED");
    }

    #[tokio::test]
    async fn api_keys_refused_on_grafana_12() {
        let (st, user) = state();
        st.with_workspace(WS, |w| w.grafana_version = "12.4".into());
        let (s, v) = call(
            &st,
            signed(
                &user,
                "POST",
                &format!("/workspaces/{WS}/apikeys"),
                r#"{"keyName":"k","keyRole":"ADMIN","secondsToLive":60}"#,
            ),
        )
        .await;
        assert_eq!((s, v["reason"].as_str()), (400, Some("OTHER")));
    }

    #[tokio::test]
    async fn unknown_operation_and_pagination() {
        let (st, user) = state();
        let (s, _) = call(
            &st,
            signed(&user, "PUT", &format!("/workspaces/{WS}"), "{}"),
        )
        .await;
        assert_eq!(s, 404);
        for i in 0..3 {
            call(
                &st,
                signed(
                    &user,
                    "POST",
                    &format!("/workspaces/{WS}/serviceaccounts"),
                    &format!(r#"{{"name":"sa{i}","grafanaRole":"VIEWER"}}"#),
                ),
            )
            .await;
        }
        let path = format!("/workspaces/{WS}/serviceaccounts");
        let (_, v) = call(
            &st,
            signed(&user, "GET", &format!("{path}?maxResults=2"), ""),
        )
        .await;
        assert_eq!(v["serviceAccounts"].as_array().unwrap().len(), 2);
        assert_eq!(v["serviceAccounts"][0]["isDisabled"], "false");
        let next = v["nextToken"].as_str().unwrap();
        let (_, v) = call(
            &st,
            signed(
                &user,
                "GET",
                &format!("{path}?maxResults=2&nextToken={next}"),
                "",
            ),
        )
        .await;
        assert_eq!(v["serviceAccounts"].as_array().unwrap().len(), 1);
        assert!(v.get("nextToken").is_none());
        let (s, _) = call(
            &st,
            signed(&user, "GET", &format!("{path}?maxResults=101"), ""),
        )
        .await;
        assert_eq!(s, 400);
    }
}
