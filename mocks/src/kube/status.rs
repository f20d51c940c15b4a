//! Every refusal of the mock Kubernetes API, written as the apiserver's `Status` object
//! (aws-wire.md H): `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
//! "message","reason","details","code"}`, with the apiserver's message texts.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::resources::ResourceType;

/// The resource an error is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub group: &'static str,
    /// Plural, e.g. `pods`.
    pub resource: &'static str,
    pub name: Option<String>,
    /// The namespace of a namespaced request; None for cluster-scoped or all-namespaces.
    pub namespace: Option<String>,
}

impl Target {
    pub fn new(rt: &ResourceType, namespace: Option<&str>, name: Option<&str>) -> Self {
        Self {
            group: rt.group,
            resource: rt.plural,
            name: name.map(str::to_string),
            namespace: namespace.map(str::to_string),
        }
    }

    /// `pods` or `deployments.apps`.
    fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.resource.to_string()
        } else {
            format!("{}.{}", self.resource, self.group)
        }
    }

    fn details(&self) -> Value {
        let mut d = json!({ "kind": self.resource });
        if let Some(n) = &self.name {
            d["name"] = json!(n);
        }
        if !self.group.is_empty() {
            d["group"] = json!(self.group);
        }
        d
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KubeError {
    /// 401: no or an unknown bearer token.
    #[error("unauthorized")]
    Unauthorized,
    /// 403 on a resource (RBAC denied `verb`).
    #[error("{user} may not {verb} {}", target.resource)]
    Forbidden {
        user: String,
        verb: &'static str,
        target: Target,
    },
    /// 403 on a non-resource path (`/api` for an anonymous caller).
    #[error("{user} may not {verb} path {path}")]
    ForbiddenPath {
        user: String,
        verb: &'static str,
        path: String,
    },
    /// 404 `<resource> "<name>" not found`.
    #[error("{} {:?} not found", target.resource, target.name)]
    NotFound { target: Target },
    /// 404 for a path the server does not serve.
    #[error("no such path")]
    NoSuchPath,
    /// 409 `<resource> "<name>" already exists`.
    #[error("{} {:?} already exists", target.resource, target.name)]
    AlreadyExists { target: Target },
    /// 409: `resourceVersion` of an update or patch is not the stored one.
    #[error("{} {:?} was modified", target.resource, target.name)]
    Conflict { target: Target },
    /// 400 with the apiserver's message.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// 405.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 415, e.g. a JSON patch or server-side apply, which the mock does not implement.
    #[error("unsupported media type {0}")]
    UnsupportedMediaType(String),
    /// 413: a request body over the apiserver's limit (`MaxRequestBodyBytes`, 3 MiB).
    #[error("request body over {limit} bytes")]
    RequestEntityTooLarge { limit: usize },
}

impl KubeError {
    pub fn not_found(rt: &ResourceType, namespace: Option<&str>, name: &str) -> Self {
        Self::NotFound {
            target: Target::new(rt, namespace, Some(name)),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden { .. } | Self::ForbiddenPath { .. } => StatusCode::FORBIDDEN,
            Self::NotFound { .. } | Self::NoSuchPath => StatusCode::NOT_FOUND,
            Self::AlreadyExists { .. } | Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::RequestEntityTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        }
    }

    /// The `Status` object.
    pub fn to_status(&self) -> Value {
        let (reason, message, details) = match self {
            Self::Unauthorized => ("Unauthorized", "Unauthorized".to_string(), None),
            Self::Forbidden { user, verb, target } => {
                let subject = match &target.name {
                    Some(n) => format!("{} \"{n}\" is forbidden", target.qualified()),
                    None => format!("{} is forbidden", target.qualified()),
                };
                let scope = match &target.namespace {
                    Some(ns) => format!("in the namespace \"{ns}\""),
                    None => "at the cluster scope".to_string(),
                };
                (
                    "Forbidden",
                    format!(
                        "{subject}: User \"{user}\" cannot {verb} resource \"{}\" in API group \"{}\" {scope}",
                        target.resource, target.group
                    ),
                    Some(target.details()),
                )
            }
            Self::ForbiddenPath { user, verb, path } => (
                "Forbidden",
                format!("forbidden: User \"{user}\" cannot {verb} path \"{path}\""),
                Some(json!({})),
            ),
            Self::NotFound { target } => (
                "NotFound",
                format!(
                    "{} \"{}\" not found",
                    target.qualified(),
                    target.name.as_deref().unwrap_or_default()
                ),
                Some(target.details()),
            ),
            Self::NoSuchPath => (
                "NotFound",
                "the server could not find the requested resource".to_string(),
                Some(json!({})),
            ),
            Self::AlreadyExists { target } => (
                "AlreadyExists",
                format!(
                    "{} \"{}\" already exists",
                    target.qualified(),
                    target.name.as_deref().unwrap_or_default()
                ),
                Some(target.details()),
            ),
            Self::Conflict { target } => (
                "Conflict",
                format!(
                    "Operation cannot be fulfilled on {} \"{}\": the object has been modified; \
                     please apply your changes to the latest version and try again",
                    target.qualified(),
                    target.name.as_deref().unwrap_or_default()
                ),
                Some(target.details()),
            ),
            Self::BadRequest(m) => ("BadRequest", m.clone(), None),
            Self::MethodNotAllowed => (
                "MethodNotAllowed",
                "the server does not allow this method on the requested resource".to_string(),
                Some(json!({})),
            ),
            Self::UnsupportedMediaType(ct) => (
                "UnsupportedMediaType",
                format!(
                    "the body of the request was in an unknown format - accepted media types \
                     include: application/json, application/merge-patch+json, \
                     application/strategic-merge-patch+json (got {ct})"
                ),
                None,
            ),
            // The apiserver's text (apimachinery `NewRequestEntityTooLargeError`).
            Self::RequestEntityTooLarge { limit } => (
                "RequestEntityTooLarge",
                format!("Request entity too large: limit is {limit}"),
                None,
            ),
        };
        let mut v = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": reason,
            "code": self.status().as_u16(),
        });
        if let Some(d) = details {
            v["details"] = d;
        }
        v
    }
}

impl IntoResponse for KubeError {
    fn into_response(self) -> Response {
        let mut resp = (self.status(), self.to_status().to_string()).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kube::resources::by_plural;

    #[test]
    fn messages_are_the_apiservers() {
        let sa = by_plural("serviceaccounts").unwrap();
        let e = KubeError::not_found(sa, Some("n"), "x");
        assert_eq!(
            e.to_status(),
            json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
                   "reason":"NotFound","code":404,"message":"serviceaccounts \"x\" not found",
                   "details":{"name":"x","kind":"serviceaccounts"}})
        );
        let d = by_plural("deployments").unwrap();
        let e = KubeError::Forbidden {
            user: "u".into(),
            verb: "list",
            target: Target::new(d, Some("n"), None),
        };
        assert_eq!(
            e.to_status()["message"],
            "deployments.apps is forbidden: User \"u\" cannot list resource \"deployments\" in API group \"apps\" in the namespace \"n\""
        );
    }
}
