//! Mock AWS STS: the query protocol (form-encoded `Action=…&Version=2011-06-15`, XML
//! answers), SigV4 service `sts`. Serves `GetCallerIdentity` for the keys in the shared
//! identity store; errors are STS's `<ErrorResponse>` documents.
//!
//! `AssumeRoleWithWebIdentity` (unsigned, as on AWS: the token is the credential) is in
//! `sts/web_identity.rs`: it verifies the token against the mock IAM's OIDC providers,
//! evaluates the role's trust policy with `pipecheck_policy`, and registers temporary
//! credentials carrying the role's permissions in the identity store.
//!
//! Adding an action: a variant in [`Action`], its name in `Action::parse`, and a handler
//! function returning `Result<String, StsError>` (the `…Result` element's contents) called
//! from `dispatch`.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::clock::Clock;
use crate::identity::{Identities, Identity};
use crate::sigv4::{self, SigError, VerifyFailure};

mod web_identity;
pub use web_identity::WebIdentity;

const XMLNS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";
const VERSION: &str = "2011-06-15";
/// Query-protocol bodies are small; refuse anything larger before reading it.
const MAX_BODY: usize = 1 << 20;

#[derive(Debug)]
pub struct StsState {
    /// The region whose SigV4 scope this endpoint accepts.
    pub region: String,
    pub identities: Arc<Identities>,
    pub clock: Arc<Clock>,
    pub max_skew: Duration,
    /// What `AssumeRoleWithWebIdentity` reads: IAM's roles and OIDC providers and the
    /// issuers' keys. None: no cluster side, so no OIDC provider (InvalidIdentityToken).
    pub web_identity: Option<WebIdentity>,
}

pub fn router(state: Arc<StsState>) -> Router {
    Router::new()
        .route("/", get(handle).post(handle))
        .with_state(state)
}

/// The actions this mock serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    GetCallerIdentity,
    AssumeRoleWithWebIdentity,
}

impl Action {
    fn parse(name: &str) -> Option<Self> {
        match name {
            "GetCallerIdentity" => Some(Self::GetCallerIdentity),
            "AssumeRoleWithWebIdentity" => Some(Self::AssumeRoleWithWebIdentity),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::GetCallerIdentity => "GetCallerIdentity",
            Self::AssumeRoleWithWebIdentity => "AssumeRoleWithWebIdentity",
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum StsError {
    #[error("SigV4 authentication failed")]
    Sig(#[from] SigError),
    #[error("request body too large")]
    TooLarge,
    #[error("failed to read the request body")]
    Unreadable,
    #[error("no Action parameter")]
    MissingAction,
    #[error("unknown action {action} for version {version}")]
    InvalidAction { action: String, version: String },
    /// 400 `ValidationError`: a missing or malformed parameter (the message is STS's).
    #[error("invalid parameter")]
    Validation(String),
    /// 400 `InvalidIdentityToken`: the web identity token or its provider is wrong.
    #[error("invalid web identity token")]
    InvalidIdentityToken(String),
    /// 400 `ExpiredTokenException`: the web identity token has expired.
    #[error("expired web identity token")]
    ExpiredWebIdentityToken(String),
    /// 403 `AccessDenied`: the role does not trust the caller.
    #[error("access denied")]
    AccessDenied(String),
}

impl From<VerifyFailure> for StsError {
    fn from(e: VerifyFailure) -> Self {
        match e {
            VerifyFailure::Sig(e) => Self::Sig(e),
            VerifyFailure::BodyTooLarge { .. } => Self::TooLarge,
            VerifyFailure::BodyUnreadable(_) => Self::Unreadable,
        }
    }
}

impl StsError {
    fn status_code_message(&self) -> (StatusCode, &'static str, String) {
        match self {
            Self::Sig(e) => (e.sts_status(), e.sts_code(), e.sts_message()),
            // [inferred] STS's answer to an oversized body is not documented; 413 with the
            // common-errors name is the closest.
            Self::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestEntityTooLarge",
                "Request body too large".into(),
            ),
            Self::Unreadable => (
                StatusCode::BAD_REQUEST,
                "MalformedQueryString",
                "Could not read the request body".into(),
            ),
            // AWS common errors: MissingAction 400.
            Self::MissingAction => (
                StatusCode::BAD_REQUEST,
                "MissingAction",
                "The request is missing an action or a required parameter.".into(),
            ),
            // AWS query services' text; NO_VERSION_SPECIFIED when Version is absent.
            Self::InvalidAction { action, version } => (
                StatusCode::BAD_REQUEST,
                "InvalidAction",
                format!("Could not find operation {action} for version {version}"),
            ),
            Self::Validation(m) => (StatusCode::BAD_REQUEST, "ValidationError", m.clone()),
            Self::InvalidIdentityToken(m) => {
                (StatusCode::BAD_REQUEST, "InvalidIdentityToken", m.clone())
            }
            Self::ExpiredWebIdentityToken(m) => {
                (StatusCode::BAD_REQUEST, "ExpiredTokenException", m.clone())
            }
            Self::AccessDenied(m) => (StatusCode::FORBIDDEN, "AccessDenied", m.clone()),
        }
    }
}

impl IntoResponse for StsError {
    fn into_response(self) -> Response {
        let (status, code, message) = self.status_code_message();
        let request_id = uuid::Uuid::new_v4().to_string();
        let body = format!(
            "<ErrorResponse xmlns=\"{XMLNS}\"><Error><Type>Sender</Type><Code>{}</Code><Message>{}</Message></Error>\
             <RequestId>{request_id}</RequestId></ErrorResponse>",
            xml_escape(code),
            xml_escape(&message),
        );
        xml_response(status, body, &request_id)
    }
}

async fn handle(State(st): State<Arc<StsState>>, req: Request) -> Response {
    match serve(&st, req).await {
        Ok(resp) => resp,
        Err(e) => e.into_response(),
    }
}

async fn serve(st: &StsState, req: Request) -> Result<Response, StsError> {
    // AssumeRoleWithWebIdentity is sent unsigned (the token is the credential), so the
    // parameters decide whether a signature is needed.
    let (head, body) = req.into_parts();
    let body = read_body(&head, body).await?;
    let params = params_of(&head, &body);
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    if param("Action") == Some(Action::AssumeRoleWithWebIdentity.name())
        && param("Version") == Some(VERSION)
    {
        let result = web_identity::assume_role_with_web_identity(st, &params)?;
        return Ok(ok_response(Action::AssumeRoleWithWebIdentity, &result));
    }
    let req = Request::from_parts(head, axum::body::Body::from(body));
    let (_, _, caller) = sigv4::read_verified(
        req,
        "sts",
        &st.region,
        &st.identities,
        &st.clock,
        st.max_skew,
        MAX_BODY,
    )
    .await?;

    let action_name = param("Action").ok_or(StsError::MissingAction)?;
    let version = param("Version").unwrap_or("NO_VERSION_SPECIFIED");
    let action = Action::parse(action_name)
        .filter(|_| version == VERSION)
        .ok_or_else(|| StsError::InvalidAction {
            action: action_name.to_string(),
            version: version.to_string(),
        })?;
    let result = dispatch(action, &caller)?;
    Ok(ok_response(action, &result))
}

/// Reads a body of at most [`MAX_BODY`] bytes (refused from `Content-Length` first).
async fn read_body(
    head: &http::request::Parts,
    body: axum::body::Body,
) -> Result<bytes::Bytes, StsError> {
    let declared = head
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return Err(StsError::TooLarge);
    }
    axum::body::to_bytes(body, MAX_BODY).await.map_err(|e| {
        let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        while let Some(err) = cur {
            if err.to_string().contains("length limit exceeded") {
                return StsError::TooLarge;
            }
            cur = err.source();
        }
        StsError::Unreadable
    })
}

/// Like AWS, parameters come from the query string and, for POST, the form body.
fn params_of(head: &http::request::Parts, body: &[u8]) -> Vec<(String, String)> {
    let mut params: Vec<(String, String)> = head
        .uri
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    if head.method == http::Method::POST {
        params.extend(form_urlencoded::parse(body).into_owned());
    }
    params
}

/// `<{Action}Response><{Action}Result>…</…Result><ResponseMetadata>…`.
fn ok_response(action: Action, result: &str) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let name = action.name();
    let body = format!(
        "<{name}Response xmlns=\"{XMLNS}\"><{name}Result>{result}</{name}Result>\
         <ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{name}Response>"
    );
    xml_response(StatusCode::OK, body, &request_id)
}

/// Runs an action for an authenticated caller; returns the inner XML of `<…Result>`.
fn dispatch(action: Action, caller: &Identity) -> Result<String, StsError> {
    match action {
        Action::GetCallerIdentity => Ok(get_caller_identity(caller)),
        // Answered before authentication (`serve`): it is not a signed call.
        Action::AssumeRoleWithWebIdentity => Err(StsError::InvalidAction {
            action: action.name().to_string(),
            version: VERSION.to_string(),
        }),
    }
}

/// Needs no IAM permission on AWS ("No permissions are required to perform this
/// operation"), so nothing is checked beyond the signature.
fn get_caller_identity(caller: &Identity) -> String {
    format!(
        "<Arn>{}</Arn><UserId>{}</UserId><Account>{}</Account>",
        xml_escape(&caller.arn),
        xml_escape(&caller.user_id),
        xml_escape(&caller.account)
    )
}

fn xml_response(status: StatusCode, body: String, request_id: &str) -> Response {
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-amzn-requestid", v);
    }
    resp
}

fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use tower::ServiceExt;

    fn state() -> (Arc<StsState>, Identity) {
        let (ids, user) = Identities::with_default_user();
        let st = StsState {
            region: "us-east-1".into(),
            identities: Arc::new(ids),
            clock: Arc::new(Clock::default()),
            max_skew: Duration::from_secs(300),
            web_identity: None,
        };
        (Arc::new(st), user)
    }

    fn signed_post(user: &Identity, body: &str) -> http::Request<Body> {
        let mut req = http::Request::builder()
            .method("POST")
            .uri("http://sts.local/")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.as_bytes().to_vec())
            .unwrap();
        crate::sigv4::sign_as_client(
            &mut req,
            user,
            "us-east-1",
            "sts",
            std::time::SystemTime::now(),
        )
        .unwrap();
        req.map(Body::from)
    }

    async fn call(st: Arc<StsState>, req: http::Request<Body>) -> (StatusCode, String) {
        let resp = router(st).oneshot(req).await.unwrap();
        let status = resp.status();
        assert_eq!(resp.headers()[header::CONTENT_TYPE], "text/xml");
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn get_caller_identity_answers_the_callers_arn() {
        let (st, user) = state();
        let (status, body) = call(
            st,
            signed_post(&user, "Action=GetCallerIdentity&Version=2011-06-15"),
        )
        .await;
        assert_eq!(status, 200);
        assert!(body.starts_with(&format!(
            "<GetCallerIdentityResponse xmlns=\"{XMLNS}\"><GetCallerIdentityResult><Arn>{}</Arn><UserId>{}</UserId><Account>111122223333</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>",
            user.arn, user.user_id
        )), "{body}");
    }

    #[tokio::test]
    async fn unknown_and_missing_actions() {
        let (st, user) = state();
        let (status, body) = call(
            st.clone(),
            signed_post(&user, "Action=Frobnicate&Version=2011-06-15"),
        )
        .await;
        assert_eq!(status, 400);
        assert!(body.contains("<Code>InvalidAction</Code><Message>Could not find operation Frobnicate for version 2011-06-15</Message>"), "{body}");
        let (status, body) = call(st, signed_post(&user, "Version=2011-06-15")).await;
        assert_eq!(status, 400);
        assert!(body.contains("<Code>MissingAction</Code>"), "{body}");
    }

    #[tokio::test]
    async fn unsigned_request_is_refused_in_sts_form() {
        let (st, _) = state();
        let req = http::Request::builder()
            .method("POST")
            .uri("/")
            .header("host", "sts.local")
            .body(Body::from("Action=GetCallerIdentity&Version=2011-06-15"))
            .unwrap();
        let (status, body) = call(st, req).await;
        assert_eq!(status, 403);
        assert!(body.starts_with(&format!("<ErrorResponse xmlns=\"{XMLNS}\"><Error><Type>Sender</Type><Code>MissingAuthenticationToken</Code><Message>Request is missing Authentication Token</Message></Error><RequestId>")), "{body}");
    }

    #[test]
    fn escapes_xml() {
        assert_eq!(xml_escape("a<b>&\"'"), "a&lt;b&gt;&amp;&quot;&apos;");
    }
}
