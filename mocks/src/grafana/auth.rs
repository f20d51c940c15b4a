//! Bearer authentication as Grafana's API-key client does it (`authn/clients/api_key.go`):
//! `Authorization: Bearer <token>` (or Basic `api_key:<token>`); `glsa_…` tokens are
//! service-account tokens (checksum first, then lookup), anything else a legacy API key.
//! Expiry is checked before revocation, as Grafana does. And the role checks the routes
//! make, with Grafana's RBAC denial.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::{HeaderMap, header, request::Parts};

use super::error::{GrafanaError, KeyProblem};
use super::server::GrafanaServer;
use crate::amg::GrafanaRole;
use crate::amg::token::is_valid_service_account_token;

/// Who is calling, once authenticated.
#[derive(Clone, Debug)]
pub struct Caller {
    pub role: GrafanaRole,
    /// `service-account:<id>` or `api-key:<name>`, for evidence (never the secret).
    pub login: String,
    /// `(major, minor)` of the workspace's Grafana, for version-dependent answers.
    pub version: (u32, u32),
}

impl Caller {
    /// The caller needs at least `min`; `permission` is the RBAC evaluator text the denial
    /// names. The mock's defaults follow Grafana's basic roles: data source writes need
    /// Admin, dashboard writes Editor; reads and queries are open to every role
    /// (`datasources:read` for Viewers is unconfirmed).
    pub fn require(&self, min: GrafanaRole, permission: &str) -> Result<(), GrafanaError> {
        if self.role >= min {
            Ok(())
        } else {
            Err(GrafanaError::access_denied(permission, self.version.0 >= 9))
        }
    }
}

fn bearer_token(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    if let Some(t) = value.strip_prefix("Bearer ") {
        return Some(t.to_string());
    }
    let basic = value.strip_prefix("Basic ")?;
    let decoded = decode_base64(basic.trim())?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    (user == "api_key").then(|| password.to_string())
}

/// Authenticates the request against the workspace's service-account tokens and API keys.
pub(crate) fn authenticate(
    srv: &GrafanaServer,
    headers: &HeaderMap,
) -> Result<Caller, GrafanaError> {
    let token = bearer_token(headers).filter(|t| !t.is_empty());
    let now = srv.amg.clock.now();
    srv.with_ws(|w| {
        let version = w.version();
        let errutil = version.0 >= 10;
        let Some(token) = token else {
            return Err(GrafanaError::unauthorized());
        };
        let refuse = |p: KeyProblem| Err(GrafanaError::key(p, errutil));
        if token.starts_with("glsa_") {
            if !is_valid_service_account_token(&token) {
                return refuse(KeyProblem::Invalid);
            }
            for sa in &mut w.service_accounts {
                if let Some(t) = sa.tokens.iter_mut().find(|t| t.key == token) {
                    if t.expires_at <= now {
                        return refuse(KeyProblem::Expired);
                    }
                    if t.revoked {
                        return refuse(KeyProblem::Revoked);
                    }
                    t.last_used_at = Some(now);
                    return Ok(Caller {
                        role: sa.role,
                        login: format!("service-account:{}", sa.id),
                        version,
                    });
                }
            }
            return refuse(KeyProblem::Invalid);
        }
        match w.api_keys.iter().find(|k| k.key == token) {
            Some(k) if k.expires_at <= now => refuse(KeyProblem::Expired),
            Some(k) if k.revoked => refuse(KeyProblem::Revoked),
            Some(k) => Ok(Caller {
                role: k.role,
                login: format!("api-key:{}", k.name),
                version,
            }),
            None => refuse(KeyProblem::Invalid),
        }
    })?
}

impl FromRequestParts<Arc<GrafanaServer>> for Caller {
    type Rejection = GrafanaError;

    async fn from_request_parts(
        parts: &mut Parts,
        srv: &Arc<GrafanaServer>,
    ) -> Result<Self, Self::Rejection> {
        authenticate(srv, &parts.headers)
    }
}

/// Standard base64 (with or without padding), for Basic credentials.
fn decode_base64(s: &str) -> Option<Vec<u8>> {
    fn val(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    let bytes: Vec<u8> = s.bytes().filter(|&b| b != b'=').collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        if chunk.len() == 1 {
            return None;
        }
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= val(c)? << (18 - 6 * i);
        }
        out.push((n >> 16) as u8);
        if chunk.len() > 2 {
            out.push((n >> 8) as u8);
        }
        if chunk.len() > 3 {
            out.push(n as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::amg::token::base64_std;

    #[test]
    fn bearer_and_basic_api_key() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer_token(&h), None);
        h.insert(header::AUTHORIZATION, "Bearer glsa_x".parse().unwrap());
        assert_eq!(bearer_token(&h).as_deref(), Some("glsa_x"));
        let basic = format!("Basic {}", base64_std(b"api_key:secret-1"));
        h.insert(header::AUTHORIZATION, basic.parse().unwrap());
        assert_eq!(bearer_token(&h).as_deref(), Some("secret-1"));
        let basic = format!("Basic {}", base64_std(b"admin:admin"));
        h.insert(header::AUTHORIZATION, basic.parse().unwrap());
        assert_eq!(bearer_token(&h), None);
        assert_eq!(decode_base64("Zm9vYmFy").unwrap(), b"foobar");
        assert_eq!(decode_base64("Zg==").unwrap(), b"f");
    }
}
