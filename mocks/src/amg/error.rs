//! Every refusal of the mock AMG control plane, with the status, body and
//! `x-amzn-ErrorType` chosen in one place (amg-grafana-exact.md §2 "Control plane").
//!
//! The Rust SDK picks the typed error from `x-amzn-ErrorType` (cut at `:`), and reads the
//! message from `message`. Each modeled error carries the model's required fields:
//! Validation `{message, reason, fieldList?}`, ResourceNotFound/Conflict
//! `{message, resourceId, resourceType}`, ServiceQuotaExceeded
//! `{message, resourceId, resourceType, serviceCode, quotaCode}`, AccessDenied,
//! Throttling and InternalServer `{message}` (the last two with `Retry-After`). The real
//! `message` and `resourceType` texts are unconfirmed; the mock's are marked where written.
//!
//! Every response carries a fresh `x-amzn-RequestId`.

use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::amp::error::request_id;
pub use crate::amp::error::{FieldViolation, ValidationReason};
use crate::sigv4::{SigError, VerifyFailure};

/// `resourceType` values of the mock [unconfirmed texts].
pub mod resource_type {
    pub const WORKSPACE: &str = "WORKSPACE";
    pub const SERVICE_ACCOUNT: &str = "SERVICE_ACCOUNT";
    pub const SERVICE_ACCOUNT_TOKEN: &str = "SERVICE_ACCOUNT_TOKEN";
    pub const API_KEY: &str = "API_KEY";
}

#[derive(Debug, thiserror::Error)]
pub enum AmgError {
    /// SigV4 refused by the front end: 403 `{"message": …}` with the SigV4 error type.
    #[error("SigV4 authentication failed")]
    Sig(#[from] SigError),
    /// Body over the limit before it reached the service [inferred, as for AMP].
    #[error("request body larger than {limit} bytes")]
    RequestTooLong { limit: usize },
    /// 403 `{"message":"User: <arn> is not authorized to perform: grafana:X on resource: <arn>"}`.
    #[error("{arn} may not {action} on {resource}")]
    AccessDenied {
        arn: String,
        action: String,
        resource: String,
    },
    /// 404 `{message, resourceId, resourceType}`.
    #[error("{message}")]
    ResourceNotFound {
        message: String,
        resource_id: String,
        resource_type: &'static str,
    },
    /// 409 `{message, resourceId, resourceType}`.
    #[error("conflict on {resource_id}: {message}")]
    Conflict {
        message: String,
        resource_id: String,
        resource_type: &'static str,
    },
    /// 400 `{message, reason, fieldList?}`.
    #[error("validation failed: {message}")]
    Validation {
        message: String,
        reason: ValidationReason,
        fields: Vec<FieldViolation>,
    },
    /// 402 `{message, resourceId, resourceType, serviceCode, quotaCode}`.
    #[error("quota exceeded: {message}")]
    ServiceQuotaExceeded {
        message: String,
        resource_id: String,
        resource_type: &'static str,
        quota_code: String,
    },
    /// 429 `{message}` + `Retry-After`.
    #[error("throttled")]
    Throttling,
    /// 404 for a path/method the mock does not serve (not an AMG answer: AWS's front end
    /// says `UnknownOperationException` for unknown operations).
    #[error("unknown operation")]
    UnknownOperation,
    /// 500 `{message}` + `Retry-After`.
    #[error("internal error: {0}")]
    InternalServer(String),
}

impl AmgError {
    /// A FIELD_VALIDATION_FAILED error with AWS's summary line ("1 validation error
    /// detected: …") [inferred wording, as for AMP].
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

    /// Validation with reason OTHER and no field list.
    pub fn other(message: impl Into<String>) -> Self {
        Self::Validation {
            message: message.into(),
            reason: ValidationReason::Other,
            fields: Vec::new(),
        }
    }

    pub fn not_found(resource_type: &'static str, id: &str) -> Self {
        // [unconfirmed] message text.
        let what = match resource_type {
            resource_type::WORKSPACE => "Workspace",
            resource_type::SERVICE_ACCOUNT => "Service account",
            resource_type::SERVICE_ACCOUNT_TOKEN => "Service account token",
            resource_type::API_KEY => "API key",
            _ => "Resource",
        };
        Self::ResourceNotFound {
            message: format!("{what} {id} not found."),
            resource_id: id.to_string(),
            resource_type,
        }
    }

    pub fn workspace_not_found(id: &str) -> Self {
        Self::not_found(resource_type::WORKSPACE, id)
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Sig(e) => e.status(),
            Self::RequestTooLong { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::AccessDenied { .. } => StatusCode::FORBIDDEN,
            Self::ResourceNotFound { .. } | Self::UnknownOperation => StatusCode::NOT_FOUND,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::Validation { .. } => StatusCode::BAD_REQUEST,
            Self::ServiceQuotaExceeded { .. } => StatusCode::PAYMENT_REQUIRED,
            Self::Throttling => StatusCode::TOO_MANY_REQUESTS,
            Self::InternalServer(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn error_type(&self) -> &'static str {
        match self {
            Self::Sig(e) => e.error_type(),
            Self::RequestTooLong { .. } => "RequestTooLongException",
            Self::AccessDenied { .. } => "AccessDeniedException",
            Self::ResourceNotFound { .. } => "ResourceNotFoundException",
            Self::Conflict { .. } => "ConflictException",
            Self::Validation { .. } => "ValidationException",
            Self::ServiceQuotaExceeded { .. } => "ServiceQuotaExceededException",
            Self::Throttling => "ThrottlingException",
            Self::UnknownOperation => "UnknownOperationException",
            Self::InternalServer(_) => "InternalServerException",
        }
    }

    fn body(&self) -> Value {
        match self {
            Self::Sig(e) => json!({ "message": e.message() }),
            Self::RequestTooLong { .. } => json!({ "message": "Request Too Long" }),
            Self::AccessDenied {
                arn,
                action,
                resource,
            } => json!({
                "message": format!(
                    "User: {arn} is not authorized to perform: {action} on resource: {resource}"
                )
            }),
            Self::ResourceNotFound {
                message,
                resource_id,
                resource_type,
            }
            | Self::Conflict {
                message,
                resource_id,
                resource_type,
            } => json!({
                "message": message,
                "resourceId": resource_id,
                "resourceType": resource_type,
            }),
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
                body
            }
            Self::ServiceQuotaExceeded {
                message,
                resource_id,
                resource_type,
                quota_code,
            } => json!({
                "message": message,
                "resourceId": resource_id,
                "resourceType": resource_type,
                "serviceCode": "grafana",
                "quotaCode": quota_code,
            }),
            Self::Throttling => json!({ "message": "Rate exceeded" }),
            Self::UnknownOperation => json!({
                "message": "This operation is not served by the pipecheck mock of Amazon Managed Grafana."
            }),
            Self::InternalServer(m) => json!({ "message": m }),
        }
    }
}

impl From<VerifyFailure> for AmgError {
    fn from(e: VerifyFailure) -> Self {
        match e {
            VerifyFailure::Sig(e) => Self::Sig(e),
            VerifyFailure::BodyTooLarge { limit } => Self::RequestTooLong { limit },
            VerifyFailure::BodyUnreadable(e) => Self::Validation {
                message: format!("Could not read the request body: {e}"),
                reason: ValidationReason::CannotParse,
                fields: Vec::new(),
            },
        }
    }
}

impl IntoResponse for AmgError {
    fn into_response(self) -> Response {
        let mut resp = (self.status(), self.body().to_string()).into_response();
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        h.insert(
            HeaderName::from_static("x-amzn-errortype"),
            HeaderValue::from_static(self.error_type()),
        );
        if matches!(self, Self::Throttling | Self::InternalServer(_)) {
            h.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        h.insert(HeaderName::from_static("x-amzn-requestid"), request_id());
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn parts(e: AmgError) -> (u16, String, Value) {
        let r = e.into_response();
        let status = r.status().as_u16();
        let et = r.headers()["x-amzn-ErrorType"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(r.headers().contains_key("x-amzn-RequestId"));
        let body = axum::body::to_bytes(r.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, et, serde_json::from_slice(&body).unwrap())
    }

    #[tokio::test]
    async fn modeled_error_bodies() {
        let (s, et, v) = parts(AmgError::workspace_not_found("g-0123456789")).await;
        assert_eq!((s, et.as_str()), (404, "ResourceNotFoundException"));
        assert_eq!(v["resourceId"], "g-0123456789");
        assert_eq!(v["resourceType"], "WORKSPACE");
        assert!(v["message"].is_string());

        let (s, et, v) = parts(AmgError::validation(vec![FieldViolation::new(
            "secondsToLive",
            "0",
            "Member must have value greater than or equal to 1",
        )]))
        .await;
        assert_eq!((s, et.as_str()), (400, "ValidationException"));
        assert_eq!(v["reason"], "FIELD_VALIDATION_FAILED");
        assert_eq!(v["fieldList"][0]["name"], "secondsToLive");

        let (s, et, v) = parts(AmgError::ServiceQuotaExceeded {
            message: "m".into(),
            resource_id: "g-0123456789".into(),
            resource_type: resource_type::SERVICE_ACCOUNT_TOKEN,
            quota_code: "q".into(),
        })
        .await;
        assert_eq!((s, et.as_str()), (402, "ServiceQuotaExceededException"));
        assert_eq!(v["serviceCode"], "grafana");
    }
}
