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
//! Every response carries a fresh `x-amzn-RequestId`.

use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::sigv4::{SigError, VerifyFailure};

/// `resourceType` of a workspace in ResourceNotFound/Conflict bodies. The real text is
/// unconfirmed (amp-exact.md §5).
pub const WORKSPACE_RESOURCE_TYPE: &str = "AMP::Workspace";

/// `ValidationException.reason` (model enum).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValidationReason {
    UnknownOperation,
    CannotParse,
    FieldValidationFailed,
    Other,
}

impl ValidationReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UnknownOperation => "UNKNOWN_OPERATION",
            Self::CannotParse => "CANNOT_PARSE",
            Self::FieldValidationFailed => "FIELD_VALIDATION_FAILED",
            Self::Other => "OTHER",
        }
    }
}

/// One entry of `ValidationException.fieldList`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldViolation {
    /// The member, e.g. `maxResults`.
    pub name: String,
    /// e.g. `Value '0' at 'maxResults' failed to satisfy constraint: Member must have value
    /// greater than or equal to 1`.
    pub message: String,
}

impl FieldViolation {
    /// The usual AWS (Coral) constraint text [inferred for AMP].
    pub fn new(name: &str, value: &str, constraint: &str) -> Self {
        Self {
            name: name.to_string(),
            message: format!(
                "Value '{value}' at '{name}' failed to satisfy constraint: {constraint}"
            ),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AmpError {
    // --- Front end (both planes) ---
    /// SigV4 refused: 403 `{"message": …}` with the SigV4 error type.
    #[error("SigV4 authentication failed")]
    Sig(#[from] SigError),
    /// Body over the limit before it reached the service: API Gateway's 413
    /// `{"message":"Request Too Long"}` [inferred for AMP]. Data-plane handlers may prefer
    /// Cortex's 400 `received message larger than max` (amp-exact.md §2) via `BadRequest`.
    #[error("request body larger than {limit} bytes")]
    RequestTooLong { limit: usize },
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
    /// 403 `{"message":"User: <arn> is not authorized to perform: aps:X on resource: <arn>"}`.
    #[error("{arn} may not {action} on {resource}")]
    AccessDenied {
        arn: String,
        action: String,
        resource: String,
    },
    /// 404 `{message, resourceId, resourceType}`; the message text is unconfirmed.
    #[error("resource {resource_id} not found")]
    ResourceNotFound {
        resource_id: String,
        resource_type: String,
    },
    /// 409 `{message, resourceId, resourceType}`.
    #[error("conflict on {resource_id}: {message}")]
    Conflict {
        message: String,
        resource_id: String,
        resource_type: String,
    },
    /// 400 `{message, reason, fieldList?}`.
    #[error("validation failed: {message}")]
    Validation {
        message: String,
        reason: ValidationReason,
        fields: Vec<FieldViolation>,
    },
    /// 500 `{message}`.
    #[error("internal error: {0}")]
    InternalServer(String),
}

impl AmpError {
    /// A FIELD_VALIDATION_FAILED error with AWS's summary line ("1 validation error
    /// detected: …; …") [inferred for AMP].
    pub fn validation(fields: Vec<FieldViolation>) -> Self {
        let n = fields.len();
        let plural = if n == 1 { "error" } else { "errors" };
        let details: Vec<&str> = fields.iter().map(|f| f.message.as_str()).collect();
        Self::Validation {
            message: format!("{n} validation {plural} detected: {}", details.join("; ")),
            reason: ValidationReason::FieldValidationFailed,
            fields,
        }
    }

    pub fn workspace_not_found(id: &str) -> Self {
        Self::ResourceNotFound {
            resource_id: id.to_string(),
            resource_type: WORKSPACE_RESOURCE_TYPE.to_string(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Sig(e) => e.status(),
            Self::RequestTooLong { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Throttled | Self::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::NotAuthorized { .. } | Self::AccessDenied { .. } => StatusCode::FORBIDDEN,
            Self::WorkspaceNotFound | Self::ResourceNotFound { .. } => StatusCode::NOT_FOUND,
            Self::BadRequest(_) | Self::Validation { .. } => StatusCode::BAD_REQUEST,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::InternalServer(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// `x-amzn-ErrorType`, where AWS sends one. Cortex's plain-text answers carry none.
    /// The data plane's names are [inferred]; the control plane's are the model's shapes.
    pub fn error_type(&self) -> Option<&'static str> {
        Some(match self {
            Self::Sig(e) => e.error_type(),
            Self::RequestTooLong { .. } => "RequestTooLongException",
            Self::Throttled => "ThrottlingException",
            Self::NotAuthorized { .. } | Self::AccessDenied { .. } => "AccessDeniedException",
            Self::WorkspaceNotFound | Self::ResourceNotFound { .. } => "ResourceNotFoundException",
            Self::Conflict { .. } => "ConflictException",
            Self::Validation { .. } => "ValidationException",
            Self::InternalServer(_) => "InternalServerException",
            Self::BadRequest(_) | Self::UnsupportedMediaType(_) | Self::RateLimited(_) => {
                return None;
            }
        })
    }

    fn body(&self) -> Body {
        let denied = |arn: &str, action: &str, resource: &str| {
            format!("User: {arn} is not authorized to perform: {action} on resource: {resource}")
        };
        match self {
            Self::Sig(e) => Body::Json(json!({ "message": e.message() })),
            Self::RequestTooLong { .. } => Body::Json(json!({ "message": "Request Too Long" })),
            Self::Throttled => Body::Json(json!({ "message": "Rate exceeded" })),
            Self::NotAuthorized {
                arn,
                action,
                resource,
            } => Body::Json(json!({ "Message": denied(arn, action, resource) })),
            Self::WorkspaceNotFound => Body::Json(json!({ "Message": "Workspace not found" })),
            Self::BadRequest(m) | Self::UnsupportedMediaType(m) | Self::RateLimited(m) => {
                Body::Text(format!("{m}\n"))
            }
            Self::AccessDenied {
                arn,
                action,
                resource,
            } => Body::Json(json!({ "message": denied(arn, action, resource) })),
            // [unconfirmed] message text; the fields are the model's.
            Self::ResourceNotFound {
                resource_id,
                resource_type,
            } => Body::Json(json!({
                "message": "Workspace not found.",
                "resourceId": resource_id,
                "resourceType": resource_type,
            })),
            Self::Conflict {
                message,
                resource_id,
                resource_type,
            } => Body::Json(json!({
                "message": message,
                "resourceId": resource_id,
                "resourceType": resource_type,
            })),
            Self::Validation {
                message,
                reason,
                fields,
            } => {
                let mut body = json!({ "message": message, "reason": reason.as_str() });
                if !fields.is_empty() {
                    body["fieldList"] = fields
                        .iter()
                        .map(|f| json!({ "name": f.name, "message": f.message }))
                        .collect();
                }
                Body::Json(body)
            }
            Self::InternalServer(m) => Body::Json(json!({ "message": m })),
        }
    }
}

impl From<VerifyFailure> for AmpError {
    fn from(e: VerifyFailure) -> Self {
        match e {
            VerifyFailure::Sig(e) => Self::Sig(e),
            VerifyFailure::BodyTooLarge { limit } => Self::RequestTooLong { limit },
            VerifyFailure::BodyUnreadable(e) => {
                Self::BadRequest(format!("failed to read the request body: {e}"))
            }
        }
    }
}

enum Body {
    Json(Value),
    Text(String),
}

impl IntoResponse for AmpError {
    fn into_response(self) -> Response {
        let (content_type, bytes) = match self.body() {
            Body::Json(v) => ("application/json", v.to_string()),
            Body::Text(t) => ("text/plain; charset=utf-8", t),
        };
        let mut resp = (self.status(), bytes).into_response();
        let h = resp.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        if let Some(t) = self.error_type() {
            h.insert(
                HeaderName::from_static("x-amzn-errortype"),
                HeaderValue::from_static(t),
            );
        }
        h.insert(HeaderName::from_static("x-amzn-requestid"), request_id());
        resp
    }
}

/// A fresh `x-amzn-RequestId` value.
pub fn request_id() -> HeaderValue {
    HeaderValue::from_str(&uuid::Uuid::new_v4().to_string())
        .expect("a uuid is a valid header value")
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn parts(e: AmpError) -> (StatusCode, Option<String>, String, String) {
        let r = e.into_response();
        let status = r.status();
        let et = r
            .headers()
            .get("x-amzn-ErrorType")
            .map(|v| v.to_str().unwrap().to_string());
        let ct = r.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_string();
        assert!(r.headers().contains_key("x-amzn-RequestId"));
        let body = axum::body::to_bytes(r.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, et, ct, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn data_plane_bodies() {
        let (s, et, _, b) = parts(AmpError::Sig(SigError::MissingAuthenticationToken)).await;
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
