//! Every refusal of the mock Grafana HTTP API, with Grafana's status and body chosen in one
//! place (amg-grafana-exact.md "Tokens" and "Grafana HTTP API"). Bodies are
//! `{"message": …}` unless Grafana writes another shape (errutil 401s, RBAC 403s, the
//! dashboard save errors with `status`, the health check's `status: ERROR`).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// Why an API key or service-account token was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyProblem {
    /// Unknown, malformed, or its service account is gone.
    Invalid,
    Expired,
    Revoked,
}

impl KeyProblem {
    fn message(self) -> &'static str {
        match self {
            Self::Invalid => "Invalid API key",
            Self::Expired => "Expired API key",
            Self::Revoked => "Revoked API key",
        }
    }

    fn message_id(self) -> &'static str {
        match self {
            Self::Invalid => "api-key.invalid",
            Self::Expired => "api-key.expired",
            Self::Revoked => "api-key.revoked",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct GrafanaError {
    pub status: StatusCode,
    /// The exact body text (JSON).
    pub body: String,
}

impl GrafanaError {
    /// `{"message": …}` with `status`.
    pub fn message(status: StatusCode, message: &str) -> Self {
        Self::json(status, &json!({ "message": message }))
    }

    pub fn json(status: StatusCode, body: &Value) -> Self {
        Self {
            status,
            body: body.to_string(),
        }
    }

    /// No credentials at all: 401 `{"message":"Unauthorized"}`.
    pub fn unauthorized() -> Self {
        Self::message(StatusCode::UNAUTHORIZED, "Unauthorized")
    }

    /// A refused key. Grafana 10+ answers through `errutil` (the keys in Go's sorted map
    /// order); 9.x wrote `{"message": …}` only (9.x's expired text is unconfirmed).
    pub fn key(problem: KeyProblem, errutil: bool) -> Self {
        let body = if errutil {
            format!(
                r#"{{"extra":null,"message":"{}","messageId":"{}","statusCode":401,"traceID":""}}"#,
                problem.message(),
                problem.message_id()
            )
        } else {
            json!({ "message": problem.message() }).to_string()
        };
        Self {
            status: StatusCode::UNAUTHORIZED,
            body,
        }
    }

    /// The caller's role lacks `needed` (an RBAC evaluator's `String()`, e.g.
    /// `datasources:create` or `any of dashboards:create, dashboards:write`). RBAC shape
    /// from Grafana 9 (`accesscontrol.deny`, `accessErrorId` = `ACE` + 10 digits); legacy
    /// `{"message":"Permission denied"}` before.
    pub fn access_denied(needed: &str, rbac: bool) -> Self {
        if !rbac {
            return Self::message(StatusCode::FORBIDDEN, "Permission denied");
        }
        let digits: String = uuid::Uuid::new_v4()
            .as_bytes()
            .iter()
            .take(10)
            .map(|b| char::from(b'0' + b % 10))
            .collect();
        Self::json(
            StatusCode::FORBIDDEN,
            &json!({
                "accessErrorId": format!("ACE{digits}"),
                "message": format!(
                    "You'll need additional permissions to perform this action. Permissions needed: {needed}"
                ),
                "title": "Access denied",
            }),
        )
    }

    pub fn data_source_not_found() -> Self {
        Self::message(StatusCode::NOT_FOUND, "Data source not found")
    }

    pub fn dashboard_not_found() -> Self {
        Self::message(StatusCode::NOT_FOUND, "Dashboard not found")
    }

    /// A dashboard save refusal: `{"status": <code>, "message": …}`.
    pub fn dashboard_save(status: StatusCode, code: &str, message: &str) -> Self {
        Self::json(status, &json!({ "status": code, "message": message }))
    }

    /// The workspace behind this listener does not serve Grafana (being created, deleted,
    /// failed, or gone). Real AMG answers from its load balancer [inferred shape].
    pub fn unavailable() -> Self {
        Self::message(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable")
    }

    pub fn bad_request(message: &str) -> Self {
        Self::message(StatusCode::BAD_REQUEST, message)
    }
}

impl IntoResponse for GrafanaError {
    fn into_response(self) -> Response {
        json_body(self.status, self.body)
    }
}

/// A JSON response as Grafana writes it.
pub fn json_body(status: StatusCode, body: String) -> Response {
    let mut resp = (status, body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// A 200 JSON response.
pub fn ok_json(v: &Value) -> Response {
    json_body(StatusCode::OK, v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grafana_10_key_bodies_are_exact() {
        assert_eq!(
            GrafanaError::key(KeyProblem::Invalid, true).body,
            r#"{"extra":null,"message":"Invalid API key","messageId":"api-key.invalid","statusCode":401,"traceID":""}"#
        );
        assert_eq!(
            GrafanaError::key(KeyProblem::Expired, true).body,
            r#"{"extra":null,"message":"Expired API key","messageId":"api-key.expired","statusCode":401,"traceID":""}"#
        );
        assert_eq!(
            GrafanaError::key(KeyProblem::Invalid, false).body,
            r#"{"message":"Invalid API key"}"#
        );
        assert_eq!(
            GrafanaError::unauthorized().body,
            r#"{"message":"Unauthorized"}"#
        );
    }

    #[test]
    fn rbac_denial_shape() {
        let e = GrafanaError::access_denied("datasources:create", true);
        assert_eq!(e.status, 403);
        let v: Value = serde_json::from_str(&e.body).unwrap();
        assert_eq!(v["title"], "Access denied");
        let id = v["accessErrorId"].as_str().unwrap();
        assert!(
            id.starts_with("ACE") && id.len() == 13 && id[3..].bytes().all(|b| b.is_ascii_digit())
        );
        assert_eq!(
            v["message"],
            "You'll need additional permissions to perform this action. Permissions needed: datasources:create"
        );
        assert_eq!(
            GrafanaError::access_denied("x", false).body,
            r#"{"message":"Permission denied"}"#
        );
    }
}
