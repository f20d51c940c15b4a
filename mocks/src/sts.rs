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
//! from `dispatch`. The query protocol itself (requests, the front end, the XML answers) is
//! `query_protocol.rs`, shared with IAM.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::clock::Clock;
use crate::identity::{Identities, Identity};
use crate::query_protocol::{Incoming, Protocol, Refusal, front_end, xml_escape};

mod web_identity;
pub use web_identity::WebIdentity;

const STS: Protocol = Protocol {
    xmlns: "https://sts.amazonaws.com/doc/2011-06-15/",
    version: "2011-06-15",
};

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
    /// What the query protocol's front end refuses.
    #[error(transparent)]
    Refusal(#[from] Refusal),
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

impl StsError {
    fn status_code_message(&self) -> (StatusCode, &'static str, String) {
        match self {
            Self::Refusal(r) => r.status_code_message(),
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
        STS.error_response(status, code, &message)
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
    let fe = front_end("sts", &st.region, &st.identities, &st.clock, st.max_skew);
    let req = Incoming::read(req, &fe).await?;
    let params = &req.params;
    if params.get("Action") == Some(Action::AssumeRoleWithWebIdentity.name())
        && params.get("Version") == Some(STS.version)
    {
        let result = web_identity::assume_role_with_web_identity(st, params)?;
        return Ok(ok_response(Action::AssumeRoleWithWebIdentity, &result));
    }
    let caller = req.verify(&fe)?;
    let action = params.action(&STS, Action::parse)?;
    let result = dispatch(action, &caller)?;
    Ok(ok_response(action, &result))
}

/// `<{Action}Response><{Action}Result>…</…Result><ResponseMetadata>…`.
fn ok_response(action: Action, result: &str) -> Response {
    STS.ok_response(action.name(), Some(result))
}

/// Runs an action for an authenticated caller; returns the inner XML of `<…Result>`.
fn dispatch(action: Action, caller: &Identity) -> Result<String, StsError> {
    match action {
        Action::GetCallerIdentity => Ok(get_caller_identity(caller)),
        // Answered before authentication (`serve`): it is not a signed call.
        Action::AssumeRoleWithWebIdentity => Err(Refusal::InvalidAction {
            action: action.name().to_string(),
            version: STS.version.to_string(),
        }
        .into()),
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

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::header;
    use tower::ServiceExt;

    const XMLNS: &str = STS.xmlns;

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
}
