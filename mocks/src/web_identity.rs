//! Web identity tokens: the projected service account tokens IRSA hands to pods, as the
//! cluster's OIDC issuer signs them. The mock Kubernetes API mints them (`TokenRequest`,
//! `POST …/serviceaccounts/{name}/token`) and the mock STS verifies them
//! (`AssumeRoleWithWebIdentity`), both through one [`OidcIssuers`] registry.
//!
//! A token is a real compact JWS, `base64url(header).base64url(claims).base64url(sig)`,
//! with the claims an EKS token carries: `iss` (the cluster's issuer URL), `sub`
//! (`system:serviceaccount:NS:NAME`), `aud` (a list, `sts.amazonaws.com` for IRSA), `iat`,
//! `nbf`, `exp` and the `kubernetes.io` object.
//!
//! [inferred] Where the mock differs from AWS: EKS signs with RS256 and publishes its keys
//! at the issuer's `/keys` (found through `/.well-known/openid-configuration`), which STS
//! fetches; the mock signs with HS256 under a random key made per issuer, and the mock STS
//! reads that key from this registry, the stand-in for OIDC discovery.

use std::collections::BTreeMap;
use std::sync::RwLock;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The audience IRSA tokens carry and IAM OIDC providers for EKS list as client id.
pub const STS_AUDIENCE: &str = "sts.amazonaws.com";
const KEY_ID: &str = "pipecheck-mock";

/// The claims STS reads from a token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    /// `aud` as a list (a single string in the token reads as one entry).
    pub aud: Vec<String>,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not three base64url parts, or a part that is not the JSON it should be.
    #[error("the token is not a well-formed JWT: {0}")]
    Malformed(String),
    /// No key is known for the token's `iss` (its OIDC discovery would fail).
    #[error("no signing key is known for issuer {0}")]
    UnknownIssuer(String),
    #[error("the token's signature does not verify")]
    BadSignature,
}

/// The signing keys of the OIDC issuers the mock serves (one per mock cluster).
#[derive(Debug, Default)]
pub struct OidcIssuers {
    keys: RwLock<BTreeMap<String, [u8; 32]>>,
}

impl OidcIssuers {
    /// Makes a signing key for `issuer` (the URL with `https://`), if it has none yet.
    pub fn register(&self, issuer: &str) {
        let mut keys = self.keys.write().unwrap();
        keys.entry(issuer.to_string()).or_insert_with(random_key);
    }

    pub fn knows(&self, issuer: &str) -> bool {
        self.keys.read().unwrap().contains_key(issuer)
    }

    /// A token from `issuer` for `sub` with these audiences, issued at `iat` (Unix
    /// seconds) and valid for `ttl_secs`. `kubernetes` is the `kubernetes.io` claim. None
    /// when the issuer is not registered.
    pub fn mint(
        &self,
        issuer: &str,
        sub: &str,
        audiences: &[String],
        iat: i64,
        ttl_secs: i64,
        kubernetes: Value,
    ) -> Option<String> {
        let key = *self.keys.read().unwrap().get(issuer)?;
        let header = json!({ "alg": "HS256", "kid": KEY_ID, "typ": "JWT" });
        let claims = json!({
            "aud": audiences,
            "exp": iat + ttl_secs,
            "iat": iat,
            "iss": issuer,
            "kubernetes.io": kubernetes,
            "nbf": iat,
            "sub": sub,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let sig = hmac_sha256(&key, signing_input.as_bytes());
        Some(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig)))
    }

    /// Checks the signature with the key of the token's issuer and returns its claims.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let claims = decode(token)?;
        let key = *self
            .keys
            .read()
            .unwrap()
            .get(&claims.iss)
            .ok_or_else(|| TokenError::UnknownIssuer(claims.iss.clone()))?;
        let (signing_input, sig) = token
            .rsplit_once('.')
            .ok_or_else(|| TokenError::Malformed("no signature".into()))?;
        let sig = URL_SAFE_NO_PAD
            .decode(sig)
            .map_err(|_| TokenError::Malformed("the signature is not base64url".into()))?;
        let want = hmac_sha256(&key, signing_input.as_bytes());
        if !constant_time_eq(&sig, &want) {
            return Err(TokenError::BadSignature);
        }
        Ok(claims)
    }
}

/// The claims of a token, without checking its signature (STS reads `iss` first to find
/// the provider and its keys).
pub fn decode(token: &str) -> Result<Claims, TokenError> {
    let parts: Vec<&str> = token.trim().split('.').collect();
    let [header, claims, _sig] = parts.as_slice() else {
        return Err(TokenError::Malformed(format!(
            "{} parts, expected 3",
            parts.len()
        )));
    };
    let json_part = |p: &str, what: &str| -> Result<Value, TokenError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(p)
            .map_err(|_| TokenError::Malformed(format!("the {what} is not base64url")))?;
        serde_json::from_slice(&bytes)
            .map_err(|_| TokenError::Malformed(format!("the {what} is not JSON")))
    };
    let header = json_part(header, "header")?;
    if header.get("alg").and_then(Value::as_str).is_none() {
        return Err(TokenError::Malformed("the header has no alg".into()));
    }
    let c = json_part(claims, "payload")?;
    let text = |k: &str| -> Result<String, TokenError> {
        c.get(k)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| TokenError::Malformed(format!("no `{k}` claim")))
    };
    let num = |k: &str| c.get(k).and_then(Value::as_i64);
    let aud = match c.get("aud") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => return Err(TokenError::Malformed("no `aud` claim".into())),
    };
    let exp = num("exp").ok_or_else(|| TokenError::Malformed("no `exp` claim".into()))?;
    let iat = num("iat").unwrap_or(exp);
    Ok(Claims {
        iss: text("iss")?,
        sub: text("sub")?,
        aud,
        iat,
        nbf: num("nbf").unwrap_or(iat),
        exp,
    })
}

fn random_key() -> [u8; 32] {
    let mut k = [0u8; 32];
    k[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    k[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    k
}

/// HMAC-SHA256 (RFC 2104) over sha2, the one primitive HS256 needs.
fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(k.map(|b| b ^ 0x36));
    inner.update(msg);
    let mut outer = Sha256::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISS: &str = "https://oidc.eks.us-east-1.amazonaws.com/id/ABC";

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn minted_tokens_verify_and_carry_the_claims() {
        let iss = OidcIssuers::default();
        iss.register(ISS);
        let t = iss
            .mint(
                ISS,
                "system:serviceaccount:ns:sa",
                &[STS_AUDIENCE.to_string()],
                1000,
                600,
                json!({ "namespace": "ns" }),
            )
            .unwrap();
        assert_eq!(t.split('.').count(), 3);
        let c = iss.verify(&t).unwrap();
        assert_eq!(c.iss, ISS);
        assert_eq!(c.sub, "system:serviceaccount:ns:sa");
        assert_eq!(c.aud, vec![STS_AUDIENCE]);
        assert_eq!((c.iat, c.nbf, c.exp), (1000, 1000, 1600));
    }

    #[test]
    fn tampering_unknown_issuers_and_garbage_are_refused() {
        let iss = OidcIssuers::default();
        iss.register(ISS);
        let t = iss
            .mint(ISS, "s", &["a".into()], 1, 600, json!({}))
            .unwrap();
        let (head, rest) = t.split_once('.').unwrap();
        let (_, sig) = rest.split_once('.').unwrap();
        let forged_claims = URL_SAFE_NO_PAD.encode(
            json!({ "iss": ISS, "sub": "system:serviceaccount:kube-system:admin", "aud": "a", "exp": 9999999999i64 })
                .to_string(),
        );
        assert_eq!(
            iss.verify(&format!("{head}.{forged_claims}.{sig}")),
            Err(TokenError::BadSignature)
        );
        let other = OidcIssuers::default();
        assert!(matches!(
            other.verify(&t),
            Err(TokenError::UnknownIssuer(_))
        ));
        assert!(matches!(iss.verify("a.b"), Err(TokenError::Malformed(_))));
        assert!(
            iss.mint("https://nope", "s", &[], 1, 1, json!({}))
                .is_none()
        );
    }
}
