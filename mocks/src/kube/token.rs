//! `TokenRequest` (`POST /api/v1/namespaces/{ns}/serviceaccounts/{name}/token`, group
//! `authentication.k8s.io/v1`): a short-lived token for a service account from the
//! cluster's OIDC issuer, what `kubectl create token --audience sts.amazonaws.com` and the
//! kubelet's projected `aws-iam-token` volume get. The mock STS verifies these tokens
//! (`crate::web_identity`).

use std::sync::Arc;

use serde_json::{Value, json};

use super::resources;
use super::status::KubeError;
use super::store::{KubeState, rfc3339};
use crate::web_identity::OidcIssuers;

/// The audience a token gets when the request names none: the API server's own.
const API_AUDIENCE: &str = "https://kubernetes.default.svc";
const DEFAULT_TTL: i64 = 3600;
/// The API server refuses shorter tokens ("may not specify a duration less than 10 minutes").
const MIN_TTL: i64 = 600;
/// EKS caps service account tokens at a day.
const MAX_TTL: i64 = 86_400;

impl KubeState {
    /// Service account tokens of this cluster come from `issuer` (the EKS OIDC issuer URL),
    /// signed with its key in `issuers` (registered here if new).
    pub fn set_service_account_issuer(&self, issuer: &str, issuers: Arc<OidcIssuers>) {
        issuers.register(issuer);
        *self.sa_issuer.write().unwrap() = Some((issuer.to_string(), issuers));
    }

    /// A token for the service account `ns/name` with `audiences`, valid `ttl_secs`, and
    /// its expiry (Unix seconds). 404 when the service account does not exist.
    pub fn service_account_token(
        &self,
        ns: &str,
        name: &str,
        audiences: &[String],
        ttl_secs: i64,
    ) -> Result<(String, i64), KubeError> {
        let rt = resources::by_plural("serviceaccounts").expect("serviceaccounts are served");
        let sa = self
            .get("serviceaccounts", ns, name)
            .ok_or_else(|| KubeError::not_found(rt, Some(ns), name))?;
        let (issuer, issuers) = self.sa_issuer.read().unwrap().clone().ok_or_else(|| {
            KubeError::BadRequest(
                "the mock cluster has no service account issuer (it was started without a cluster seed)"
                    .to_string(),
            )
        })?;
        let iat = self.clock.now_ms() / 1000;
        let kubernetes = json!({
            "namespace": ns,
            "serviceaccount": { "name": name, "uid": sa.pointer("/metadata/uid") },
        });
        let token = issuers
            .mint(
                &issuer,
                &format!("system:serviceaccount:{ns}:{name}"),
                audiences,
                iat,
                ttl_secs,
                kubernetes,
            )
            .expect("the issuer was registered with the key");
        Ok((token, iat + ttl_secs))
    }
}

/// The API's answer to a TokenRequest body for `ns/name`.
pub(super) fn token_request(
    st: &KubeState,
    ns: &str,
    name: &str,
    body: &Value,
) -> Result<Value, KubeError> {
    let mut audiences: Vec<String> = body
        .pointer("/spec/audiences")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    if audiences.is_empty() {
        audiences.push(API_AUDIENCE.to_string());
    }
    let ttl = body
        .pointer("/spec/expirationSeconds")
        .and_then(Value::as_i64)
        .unwrap_or(DEFAULT_TTL);
    if ttl < MIN_TTL {
        // [inferred] The apiserver answers 422 Invalid; the mock's Status set has 400.
        return Err(KubeError::BadRequest(format!(
            "TokenRequest.authentication.k8s.io \"{name}\" is invalid: spec.expirationSeconds: Invalid value: {ttl}: may not specify a duration less than 10 minutes"
        )));
    }
    let ttl = ttl.min(MAX_TTL);
    let (token, exp) = st.service_account_token(ns, name, &audiences, ttl)?;
    let exp = std::time::UNIX_EPOCH + std::time::Duration::from_secs(exp.max(0) as u64);
    Ok(json!({
        "kind": "TokenRequest",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": { "name": name, "namespace": ns, "creationTimestamp": null },
        "spec": {
            "audiences": audiences,
            "expirationSeconds": ttl,
            "boundObjectRef": body.pointer("/spec/boundObjectRef").cloned().unwrap_or(Value::Null),
        },
        "status": { "token": token, "expirationTimestamp": rfc3339(exp) },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock;
    use crate::kube::service_account;
    use crate::web_identity::{STS_AUDIENCE, decode};

    #[test]
    fn tokens_name_the_service_account_and_audience() {
        let st = KubeState::new(Arc::new(Clock::default()));
        let issuers = Arc::new(OidcIssuers::default());
        st.set_service_account_issuer("https://oidc.example/id/1", issuers.clone());
        st.put("serviceaccounts", service_account("ns", "sa", None))
            .unwrap();
        let out = token_request(
            &st,
            "ns",
            "sa",
            &json!({ "spec": { "audiences": [STS_AUDIENCE], "expirationSeconds": 600 } }),
        )
        .unwrap();
        let token = out["status"]["token"].as_str().unwrap();
        let c = issuers.verify(token).unwrap();
        assert_eq!(c.sub, "system:serviceaccount:ns:sa");
        assert_eq!(c.aud, vec![STS_AUDIENCE]);
        assert_eq!(c.exp - c.iat, 600);

        let default = token_request(&st, "ns", "sa", &json!({})).unwrap();
        let c = decode(default["status"]["token"].as_str().unwrap()).unwrap();
        assert_eq!(c.aud, vec![API_AUDIENCE]);

        assert!(matches!(
            token_request(&st, "ns", "nope", &json!({})),
            Err(KubeError::NotFound { .. })
        ));
        assert!(matches!(
            token_request(&st, "ns", "sa", &json!({ "spec": { "expirationSeconds": 60 } })),
            Err(KubeError::BadRequest(m)) if m.contains("less than 10 minutes")
        ));
    }
}
