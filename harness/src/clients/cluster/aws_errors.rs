//! SDK errors of the EKS, IAM and STS calls as evidence: one line with the service's
//! error code and message, and what kind of failure it was.

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::chain::Check;

/// The error's code (`NoSuchEntity`, `AccessDenied`, …) and one line describing it.
pub fn sdk_error<E, R>(e: &SdkError<E, R>) -> (Option<String>, String)
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match e {
        SdkError::ServiceError(se) => {
            let err = se.err();
            let code = err.code().map(str::to_string);
            let text = format!(
                "{}: {}",
                err.code().unwrap_or("error"),
                err.message().unwrap_or("(no message)")
            );
            (code, text)
        }
        SdkError::TimeoutError(_) => (None, "the request timed out".to_string()),
        SdkError::DispatchFailure(d) => (
            None,
            format!(
                "the request could not be sent: {}",
                crate::error_chain(
                    d.as_connector_error()
                        .map(|c| c as &dyn std::error::Error)
                        .unwrap_or(e)
                )
            ),
        ),
        other => (None, crate::error_chain(other)),
    }
}

/// The verdict for a call that failed where a link needed its answer: access denied
/// (naming the IAM action to allow), unreachable, or refused with the service's text.
pub fn call_failed<E, R>(what: &str, action: &str, e: &SdkError<E, R>) -> Check
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let (code, text) = sdk_error(e);
    let denied = matches!(
        code.as_deref(),
        Some("AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation")
    );
    let (verdict, hint) = if denied {
        (
            format!("not allowed to {what} ({action} denied)"),
            format!("allow {action} for the harness's identity (README: least-privilege policy)"),
        )
    } else if code.is_none() && crate::is_no_such_host(e) {
        (
            format!(
                "could not {what}: no such host (the service endpoint's name does not resolve)"
            ),
            crate::no_such_host_hint("the service endpoint's host name"),
        )
    } else if code.is_none() {
        (
            format!("could not {what}: no answer"),
            "check network access to the service endpoint".to_string(),
        )
    } else {
        (
            format!("could not {what}: {text}"),
            "see the evidence for the service's answer".to_string(),
        )
    };
    Check::fail(verdict, hint).with(action, text)
}
