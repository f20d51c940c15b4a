//! Every refusal the mock AMP writes, control plane and data plane, with AMP's status,
//! body and headers chosen in one place (amp-exact.md §3 and §5, aws-wire.md A and B).
//!
//! Bodies differ by layer, as on the real service:
//! - the SigV4 front end: `{"message": …}` and `x-amzn-ErrorType` (API Gateway's names);
//! - the data plane's IAM and workspace checks: `{"Message": …}` (capital M);
//! - Cortex (remote write validation): plain text ending in `\n`;
//! - the control plane (rest-json): `{"message", …}` with the modeled fields and
//!   `x-amzn-ErrorType`, which the Rust SDK reads to pick the typed error.
//!
//! Every response carries a fresh `x-amzn-RequestId` (written by [`restjson`]).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::restjson::{AccessDenied, ErrorResponse, Refusal, ResourceError, ValidationException};
pub use crate::restjson::{FieldViolation, ValidationReason};
use crate::sigv4::VerifyFailure;

/// `resourceType` of a workspace in ResourceNotFound/Conflict bodies. The real text is
/// unconfirmed (amp-exact.md §5).
pub const WORKSPACE_RESOURCE_TYPE: &str = "AMP::Workspace";

#[derive(Debug, thiserror::Error)]
pub enum AmpError {
    // --- Front end (both planes) ---
    /// SigV4, the body limit (API Gateway's 413, [inferred] for AMP) or, on the control
    /// plane, IAM refused the request. Data-plane handlers may prefer Cortex's 400
    /// `received message larger than max` (amp-exact.md §2) via `BadRequest`.
    #[error(transparent)]
    FrontEnd(#[from] Refusal),
    /// The front end's TPS limit: 429 `{"message":"Rate exceeded"}` [TS].
    #[error("request rate exceeded")]
    Throttled,

    // --- Data plane ---
    /// IAM denied a data-plane action: 403 `{"Message":"User: <arn> is not authorized to
    /// perform: aps:RemoteWrite on resource: <ws arn>"}` (capital M, confirmed).
    #[error("{arn} may not {action} on {resource}")]
    NotAuthorized {
        arn: String,
        action: String,
        resource: String,
    },
    /// Unknown workspace on the data plane: 404 `{"Message":"Workspace not found"}`.
    #[error("workspace not found")]
    WorkspaceNotFound,
    /// Cortex's refusal: 400, plain text, the message plus `\n`.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// Current Cortex's refusal of a wrong Content-Type/Encoding: 415, plain text.
    #[error("unsupported media type: {0}")]
    UnsupportedMediaType(String),
    /// Cortex's ingestion rate limit: 429, plain text
    /// (`ingestion rate limit (…) exceeded while adding …`).
    #[error("ingestion rate limited: {0}")]
    RateLimited(String),

    // --- Control plane (rest-json) ---
    /// 404 `{message, resourceId, resourceType}`; the message text is unconfirmed.
    #[error("resource {} not found", .0.resource_id)]
    ResourceNotFound(ResourceError),
    /// 409 `{message, resourceId, resourceType}`.
    #[error("conflict on {}: {}", .0.resource_id, .0.message)]
    Conflict(ResourceError),
    /// 400 `{message, reason, fieldList?}`.
    #[error("validation failed: {0}")]
    Validation(#[from] ValidationException),
    /// 500 `{message}`.
    #[error("internal error: {0}")]
    InternalServer(String),
}

impl AmpError {
    /// A FIELD_VALIDATION_FAILED error with AWS's summary line ("1 validation error
    /// detected: …; …") [inferred for AMP].
    pub fn validation(fields: Vec<FieldViolation>) -> Self {
        Self::Validation(ValidationException::fields(fields))
    }

    /// ResourceNotFound; [unconfirmed] message text, the fields are the model's.
    pub fn workspace_not_found(id: &str) -> Self {
        Self::ResourceNotFound(ResourceError::new(
            "Workspace not found.",
            id,
            WORKSPACE_RESOURCE_TYPE,
        ))
    }

    /// Status, `x-amzn-ErrorType` (none on Cortex's plain-text answers) and body. The data
    /// plane's error types are [inferred]; the control plane's are the model's shapes.
    pub fn response(&self) -> ErrorResponse {
        use StatusCode as S;
        let data_plane = |status, error_type, message: &str| {
            ErrorResponse::json(status, error_type, json!({ "Message": message }))
        };
        match self {
            Self::FrontEnd(r) => r.response(),
            Self::Throttled => ErrorResponse::throttled(),
            Self::NotAuthorized {
                arn,
                action,
                resource,
            } => {
                let denied = AccessDenied {
                    arn: arn.clone(),
                    action: action.clone(),
                    resource: resource.clone(),
                };
                data_plane(S::FORBIDDEN, "AccessDeniedException", &denied.to_string())
            }
            Self::WorkspaceNotFound => data_plane(
                S::NOT_FOUND,
                "ResourceNotFoundException",
                "Workspace not found",
            ),
            Self::BadRequest(m) => ErrorResponse::text(S::BAD_REQUEST, format!("{m}\n")),
            Self::UnsupportedMediaType(m) => {
                ErrorResponse::text(S::UNSUPPORTED_MEDIA_TYPE, format!("{m}\n"))
            }
            Self::RateLimited(m) => ErrorResponse::text(S::TOO_MANY_REQUESTS, format!("{m}\n")),
            Self::ResourceNotFound(r) => ErrorResponse::not_found(r),
            Self::Conflict(r) => ErrorResponse::conflict(r),
            Self::Validation(v) => ErrorResponse::validation(v),
            Self::InternalServer(m) => ErrorResponse::internal(m),
        }
    }
}

/// An unreadable body is Cortex's plain-text 400.
impl From<VerifyFailure> for AmpError {
    fn from(e: VerifyFailure) -> Self {
        Refusal::of(e).map_or_else(
            |e| Self::BadRequest(format!("failed to read the request body: {e}")),
            Self::FrontEnd,
        )
    }
}

impl IntoResponse for AmpError {
    fn into_response(self) -> Response {
        self.response().into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::restjson::testing::Answer;
    use crate::sigv4::SigError;
    use axum::http::header;
    use serde_json::Value;

    /// Status, error type, content type and body text.
    async fn parts(e: AmpError) -> (StatusCode, Option<String>, String, String) {
        let r = Answer::of(e.into_response()).await;
        assert!(r.headers.contains_key("x-amzn-RequestId"));
        let ct = r.header(header::CONTENT_TYPE.as_str()).unwrap();
        (r.status, r.header("x-amzn-ErrorType"), ct, r.text())
    }

    #[tokio::test]
    async fn data_plane_bodies() {
        let (s, et, _, b) = parts(AmpError::FrontEnd(
            SigError::MissingAuthenticationToken.into(),
        ))
        .await;
        assert_eq!(
            (s.as_u16(), et.as_deref(), b.as_str()),
            (
                403,
                Some("MissingAuthenticationTokenException"),
                r#"{"message":"Missing Authentication Token"}"#
            )
        );
        let (s, _, _, b) = parts(AmpError::NotAuthorized {
            arn: "arn:aws:iam::1:user/u".into(),
            action: "aps:RemoteWrite".into(),
            resource: "arn:aws:aps:us-east-1:1:workspace/ws-1".into(),
        })
        .await;
        assert_eq!(s, 403);
        assert_eq!(
            b,
            r#"{"Message":"User: arn:aws:iam::1:user/u is not authorized to perform: aps:RemoteWrite on resource: arn:aws:aps:us-east-1:1:workspace/ws-1"}"#
        );
        let (s, _, _, b) = parts(AmpError::WorkspaceNotFound).await;
        assert_eq!(
            (s.as_u16(), b.as_str()),
            (404, r#"{"Message":"Workspace not found"}"#)
        );
        let (s, _, _, b) = parts(AmpError::Throttled).await;
        assert_eq!(
            (s.as_u16(), b.as_str()),
            (429, r#"{"message":"Rate exceeded"}"#)
        );
        let (s, et, ct, b) = parts(AmpError::BadRequest("sample missing metric name".into())).await;
        assert_eq!(
            (s.as_u16(), et, ct.as_str(), b.as_str()),
            (
                400,
                None,
                "text/plain; charset=utf-8",
                "sample missing metric name\n"
            )
        );
    }

    #[tokio::test]
    async fn control_plane_bodies() {
        let (s, et, _, b) = parts(AmpError::validation(vec![FieldViolation::new(
            "maxResults",
            "0",
            "Member must have value greater than or equal to 1",
        )]))
        .await;
        assert_eq!(
            (s.as_u16(), et.as_deref()),
            (400, Some("ValidationException"))
        );
        let v: Value = serde_json::from_str(&b).unwrap();
        assert_eq!(v["reason"], "FIELD_VALIDATION_FAILED");
        assert_eq!(v["fieldList"][0]["name"], "maxResults");
        assert!(
            v["message"]
                .as_str()
                .unwrap()
                .starts_with("1 validation error detected: Value '0' at 'maxResults'")
        );
        let (s, et, _, b) = parts(AmpError::workspace_not_found("ws-x")).await;
        assert_eq!(
            (s.as_u16(), et.as_deref()),
            (404, Some("ResourceNotFoundException"))
        );
        let v: Value = serde_json::from_str(&b).unwrap();
        assert_eq!(
            (v["resourceId"].as_str(), v["resourceType"].as_str()),
            (Some("ws-x"), Some("AMP::Workspace"))
        );
    }
}
