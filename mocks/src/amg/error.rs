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
//! Every response carries a fresh `x-amzn-RequestId` (written by [`crate::restjson`]).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::restjson::{ErrorResponse, Refusal, ResourceError, ValidationException};
pub use crate::restjson::{FieldViolation, ValidationReason};
use crate::sigv4::VerifyFailure;

/// `resourceType` values of the mock [unconfirmed texts].
pub mod resource_type {
    pub const WORKSPACE: &str = "WORKSPACE";
    pub const SERVICE_ACCOUNT: &str = "SERVICE_ACCOUNT";
    pub const SERVICE_ACCOUNT_TOKEN: &str = "SERVICE_ACCOUNT_TOKEN";
    pub const API_KEY: &str = "API_KEY";
}

#[derive(Debug, thiserror::Error)]
pub enum AmgError {
    /// SigV4, the body limit or IAM (`grafana:<Operation>`) refused the request.
    #[error(transparent)]
    FrontEnd(#[from] Refusal),
    /// 404 `{message, resourceId, resourceType}`.
    #[error("{}", .0.message)]
    ResourceNotFound(ResourceError),
    /// 409 `{message, resourceId, resourceType}`.
    #[error("conflict on {}: {}", .0.resource_id, .0.message)]
    Conflict(ResourceError),
    /// 400 `{message, reason, fieldList?}`.
    #[error("validation failed: {0}")]
    Validation(#[from] ValidationException),
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
        Self::Validation(ValidationException::fields(fields))
    }

    /// Validation with reason OTHER and no field list.
    pub fn other(message: impl Into<String>) -> Self {
        Self::Validation(ValidationException::reason(
            ValidationReason::Other,
            message,
        ))
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
        Self::ResourceNotFound(ResourceError::new(
            format!("{what} {id} not found."),
            id,
            resource_type,
        ))
    }

    pub fn workspace_not_found(id: &str) -> Self {
        Self::not_found(resource_type::WORKSPACE, id)
    }

    /// Status, `x-amzn-ErrorType`, body and `Retry-After`.
    pub fn response(&self) -> ErrorResponse {
        match self {
            Self::FrontEnd(r) => r.response(),
            Self::ResourceNotFound(r) => ErrorResponse::not_found(r),
            Self::Conflict(r) => ErrorResponse::conflict(r),
            Self::Validation(v) => ErrorResponse::validation(v),
            Self::ServiceQuotaExceeded {
                message,
                resource_id,
                resource_type,
                quota_code,
            } => ErrorResponse::json(
                StatusCode::PAYMENT_REQUIRED,
                "ServiceQuotaExceededException",
                json!({
                    "message": message,
                    "resourceId": resource_id,
                    "resourceType": resource_type,
                    "serviceCode": "grafana",
                    "quotaCode": quota_code,
                }),
            ),
            Self::Throttling => ErrorResponse::throttled().retry_after(),
            Self::UnknownOperation => ErrorResponse::unknown_operation("Amazon Managed Grafana"),
            Self::InternalServer(m) => ErrorResponse::internal(m).retry_after(),
        }
    }
}

/// An unreadable body is a ValidationException CANNOT_PARSE.
impl From<VerifyFailure> for AmgError {
    fn from(e: VerifyFailure) -> Self {
        match Refusal::of(e) {
            Ok(refusal) => Self::FrontEnd(refusal),
            Err(e) => Self::Validation(ValidationException::reason(
                ValidationReason::CannotParse,
                format!("Could not read the request body: {e}"),
            )),
        }
    }
}

impl IntoResponse for AmgError {
    fn into_response(self) -> Response {
        self.response().into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::restjson::testing::Answer;
    use serde_json::Value;

    async fn parts(e: AmgError) -> (u16, String, Value) {
        let answer = Answer::of(e.into_response()).await;
        assert!(answer.headers.contains_key("x-amzn-RequestId"));
        let et = answer.header("x-amzn-ErrorType").unwrap();
        (answer.status.as_u16(), et, answer.json())
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
