//! `AssumeRoleWithWebIdentity`: what a pod with IRSA does at start. The order of checks
//! follows STS's, each failure with STS's code and text:
//!
//! 1. parameters: `RoleArn`, `RoleSessionName` (`[\w+=,.@-]{2,64}`), `WebIdentityToken`,
//!    `DurationSeconds` (900..=43200) -> 400 `ValidationError`;
//! 2. the token is a JWT -> else 400 `InvalidIdentityToken`;
//! 3. IAM has an OIDC provider for its `iss` -> else 400 `InvalidIdentityToken` "No
//!    OpenIDConnect provider found in your account for <iss>";
//! 4. its signature verifies with the issuer's key -> else 400 `InvalidIdentityToken`;
//! 5. one of its `aud` is a client id of the provider -> else 400 `InvalidIdentityToken`
//!    "Incorrect token audience";
//! 6. it has not expired -> else 400 `ExpiredTokenException`;
//! 7. the role exists and its trust policy allows `sts:AssumeRoleWithWebIdentity` for the
//!    provider with the token's `ISSUER:sub` / `ISSUER:aud` (evaluated by
//!    `pipecheck_policy`, the evaluator the harness and `diagnose` use) -> else 403
//!    `AccessDenied` "Not authorized to perform sts:AssumeRoleWithWebIdentity" (STS says
//!    the same for a missing role, so nothing leaks);
//! 8. `DurationSeconds` within the role's maximum -> else 400 `ValidationError`.
//!
//! Success registers temporary credentials (`ASIA…` key, secret, session token) in the
//! identity store, allowed exactly the actions the role's permission policies allow
//! (`pipecheck_policy::allows`), so a signed call with them is authorized by the mocks as
//! the role would be on AWS.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use pipecheck_policy::{PolicyDocument, allows, evaluate_web_identity, web_identity_claims};

use super::{StsError, StsState};
use crate::iam::{IamState, Role};
use crate::identity::Identity;
use crate::query_protocol::{Params, iso8601, xml_escape};
use crate::web_identity::{OidcIssuers, TokenError, decode};

/// The state `AssumeRoleWithWebIdentity` reads besides the identity store.
#[derive(Clone, Debug)]
pub struct WebIdentity {
    pub iam: Arc<IamState>,
    pub issuers: Arc<OidcIssuers>,
}

const DEFAULT_DURATION: u32 = 3600;
const MIN_DURATION: u32 = 900;
const MAX_DURATION: u32 = 43_200;

const NOT_AUTHORIZED: &str = "Not authorized to perform sts:AssumeRoleWithWebIdentity";

fn missing(param: &str) -> StsError {
    StsError::Validation(format!(
        "1 validation error detected: Value null at '{param}' failed to satisfy constraint: Member must not be null"
    ))
}

/// Runs the action; returns the inner XML of `<AssumeRoleWithWebIdentityResult>`.
pub(super) fn assume_role_with_web_identity(
    st: &StsState,
    params: &Params,
) -> Result<String, StsError> {
    let param = |name: &str| params.get(name);
    let role_arn = param("RoleArn").ok_or_else(|| missing("roleArn"))?;
    let session = param("RoleSessionName").ok_or_else(|| missing("roleSessionName"))?;
    let token = param("WebIdentityToken").ok_or_else(|| missing("webIdentityToken"))?;
    let session_ok = (2..=64).contains(&session.len())
        && session
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c));
    if !session_ok {
        return Err(StsError::Validation(format!(
            "1 validation error detected: Value '{session}' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*"
        )));
    }
    let duration = match param("DurationSeconds") {
        None => DEFAULT_DURATION,
        Some(d) => match d.parse::<u32>() {
            Ok(n) if (MIN_DURATION..=MAX_DURATION).contains(&n) => n,
            Ok(n) if n < MIN_DURATION => {
                return Err(StsError::Validation(format!(
                    "1 validation error detected: Value '{n}' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to {MIN_DURATION}"
                )));
            }
            _ => {
                return Err(StsError::Validation(format!(
                    "1 validation error detected: Value '{d}' at 'durationSeconds' failed to satisfy constraint: Member must have value less than or equal to {MAX_DURATION}"
                )));
            }
        },
    };

    // [inferred] STS's text for a token that is not a JWT.
    let claims = decode(token).map_err(|e| {
        StsError::InvalidIdentityToken(format!(
            "The ID Token provided is not a valid JWT. (You may see this error if you sent an Access Token): {e}"
        ))
    })?;
    let no_provider = || {
        StsError::InvalidIdentityToken(format!(
            "No OpenIDConnect provider found in your account for {}",
            claims.iss
        ))
    };
    let Some(wi) = &st.web_identity else {
        return Err(no_provider());
    };
    let provider = wi
        .iam
        .oidc_provider_for_issuer(&claims.iss)
        .ok_or_else(no_provider)?;
    wi.issuers.verify(token).map_err(|e| match e {
        TokenError::UnknownIssuer(_) => StsError::InvalidIdentityToken(
            "Couldn't retrieve verification key from your identity provider,  please reference AssumeRoleWithWebIdentity documentation for requirements"
                .to_string(),
        ),
        // [inferred] STS's text for a signature that does not verify.
        other => StsError::InvalidIdentityToken(format!(
            "The web identity token could not be verified: {other}"
        )),
    })?;
    let Some(audience) = claims
        .aud
        .iter()
        .find(|a| provider.client_ids.contains(a))
        .cloned()
    else {
        return Err(StsError::InvalidIdentityToken(
            "Incorrect token audience".to_string(),
        ));
    };
    let now = st.clock.now_ms() / 1000;
    if claims.exp <= now {
        return Err(StsError::ExpiredWebIdentityToken(format!(
            "Token expired: current date/time {now} must be before the expiration date/time{}",
            claims.exp
        )));
    }

    let role = wi
        .iam
        .role_by_arn(role_arn)
        .ok_or_else(|| StsError::AccessDenied(NOT_AUTHORIZED.to_string()))?;
    let trust = PolicyDocument::parse(&role.trust_policy)
        .map_err(|_| StsError::AccessDenied(NOT_AUTHORIZED.to_string()))?;
    let mut context = web_identity_claims(&provider.arn, &claims.sub, &audience);
    let aud_key = context[1].0.clone();
    context.extend(
        claims
            .aud
            .iter()
            .filter(|a| **a != audience)
            .map(|a| (aud_key.clone(), a.clone())),
    );
    let decision = evaluate_web_identity(&trust, &provider.arn, &context);
    if !decision.allowed() {
        tracing::debug!(role = %role.arn, %decision, "AssumeRoleWithWebIdentity denied");
        return Err(StsError::AccessDenied(NOT_AUTHORIZED.to_string()));
    }
    if duration > role.max_session_duration {
        return Err(StsError::Validation(
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
                .to_string(),
        ));
    }

    let identity = Identity {
        access_key_id: format!("ASIA{}", random_upper(16)),
        secret_access_key: random_secret(40),
        session_token: Some(random_secret(160)),
        arn: format!(
            "arn:aws:sts::{}:assumed-role/{}/{session}",
            account_of(&role.arn),
            role.name
        ),
        account: account_of(&role.arn).to_string(),
        user_id: format!("{}:{session}", role.id),
        allowed_actions: permitted_actions(&wi.iam, &role),
        expired: false,
    };
    st.identities.insert(identity.clone());
    let expires = st.clock.now() + Duration::from_secs(u64::from(duration));
    Ok(format!(
        "<SubjectFromWebIdentityToken>{}</SubjectFromWebIdentityToken>\
         <Audience>{}</Audience>\
         <AssumedRoleUser><AssumedRoleId>{}</AssumedRoleId><Arn>{}</Arn></AssumedRoleUser>\
         <Credentials><AccessKeyId>{}</AccessKeyId><SecretAccessKey>{}</SecretAccessKey>\
         <SessionToken>{}</SessionToken><Expiration>{}</Expiration></Credentials>\
         <Provider>{}</Provider>",
        xml_escape(&claims.sub),
        xml_escape(&audience),
        xml_escape(&identity.user_id),
        xml_escape(&identity.arn),
        identity.access_key_id,
        identity.secret_access_key,
        identity.session_token.as_deref().unwrap_or_default(),
        iso8601(expires),
        // [inferred] For EKS tokens STS names the IAM OIDC provider's ARN here.
        xml_escape(&provider.arn),
    ))
}

/// The actions the role's permission policies allow on some resource they name.
fn permitted_actions(iam: &IamState, role: &Role) -> BTreeSet<String> {
    let docs: Vec<PolicyDocument> = iam
        .role_policy_documents(&role.name)
        .unwrap_or_default()
        .iter()
        .filter_map(|(_, text)| PolicyDocument::parse(text).ok())
        .collect();
    let mut actions: BTreeSet<String> = crate::identity::KNOWN_ACTIONS
        .iter()
        .map(|a| a.to_string())
        .collect();
    let mut resources: BTreeSet<String> = ["*".to_string()].into();
    for st in docs.iter().flat_map(|d| &d.statements) {
        if !st.action.negated() {
            actions.extend(
                st.action
                    .inner()
                    .iter()
                    .filter(|a| !a.contains(['*', '?']))
                    .cloned(),
            );
        }
        if let Some(r) = &st.resource
            && !r.negated()
        {
            resources.extend(r.inner().iter().cloned());
        }
    }
    actions
        .into_iter()
        .filter(|a| resources.iter().any(|r| allows(&docs, a, r).allowed()))
        .collect()
}

/// The account of an IAM ARN (`arn:aws:iam::<account>:role/x`).
fn account_of(arn: &str) -> &str {
    arn.split(':').nth(4).unwrap_or_default()
}

fn random_upper(n: usize) -> String {
    let mut s = String::new();
    while s.len() < n {
        s.push_str(&uuid::Uuid::new_v4().simple().to_string().to_uppercase());
    }
    s.truncate(n);
    s
}

fn random_secret(n: usize) -> String {
    use base64::Engine as _;
    let mut bytes = Vec::new();
    while bytes.len() * 4 / 3 < n {
        bytes.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    }
    let mut s = base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes);
    s.truncate(n);
    s
}

#[cfg(test)]
mod tests {
    use super::super::{StsState, router};
    use super::*;
    use crate::clock::Clock;
    use crate::eks::ClusterSeed;
    use crate::iam::{OidcProvider, irsa_trust_policy};
    use crate::identity::Identities;
    use axum::body::Body;
    use axum::http::StatusCode;
    use serde_json::json;
    use tower::ServiceExt;

    const REGION: &str = "us-east-1";

    struct Fixture {
        st: Arc<StsState>,
        issuers: Arc<OidcIssuers>,
        seed: ClusterSeed,
        ids: Arc<Identities>,
    }

    fn fixture() -> Fixture {
        let (ids, _) = Identities::with_default_user();
        let ids = Arc::new(ids);
        let clock = Arc::new(Clock::default());
        let iam = Arc::new(IamState::new(
            ids.clone(),
            clock.clone(),
            Duration::from_secs(300),
        ));
        let seed = ClusterSeed::default();
        iam.seed_healthy_irsa(
            &seed,
            REGION,
            "arn:aws:aps:us-east-1:111122223333:workspace/ws-1",
        );
        let issuers = Arc::new(OidcIssuers::default());
        issuers.register(&seed.oidc_issuer(REGION));
        let st = Arc::new(StsState {
            region: REGION.into(),
            identities: ids.clone(),
            clock,
            max_skew: Duration::from_secs(300),
            web_identity: Some(WebIdentity {
                iam,
                issuers: issuers.clone(),
            }),
        });
        Fixture {
            st,
            issuers,
            seed,
            ids,
        }
    }

    impl Fixture {
        fn token(&self, sub: &str, aud: &str, ttl: i64) -> String {
            let now = self.st.clock.now_ms() / 1000;
            self.issuers
                .mint(
                    &self.seed.oidc_issuer(REGION),
                    sub,
                    &[aud.to_string()],
                    now,
                    ttl,
                    json!({}),
                )
                .unwrap()
        }

        fn iam(&self) -> &IamState {
            &self.st.web_identity.as_ref().unwrap().iam
        }

        async fn assume(&self, token: &str) -> (StatusCode, String) {
            let body = form_urlencoded::Serializer::new(String::new())
                .append_pair("Action", "AssumeRoleWithWebIdentity")
                .append_pair("Version", "2011-06-15")
                .append_pair("RoleArn", &self.seed.role_arn())
                .append_pair("RoleSessionName", "pipecheck-test")
                .append_pair("WebIdentityToken", token)
                .finish();
            // Unsigned, as the SDK sends it.
            let req = http::Request::builder()
                .method("POST")
                .uri("/")
                .header("host", "sts.local")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::from(body))
                .unwrap();
            let resp = router(self.st.clone()).oneshot(req).await.unwrap();
            let status = resp.status();
            let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
                .await
                .unwrap();
            (status, String::from_utf8(body.to_vec()).unwrap())
        }
    }

    fn error_body(code: &str, message: &str) -> String {
        format!(
            "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>"
        )
    }

    #[tokio::test]
    async fn the_trusted_service_account_gets_credentials_with_the_roles_permissions() {
        let f = fixture();
        let (status, body) = f
            .assume(&f.token(&f.seed.subject(), "sts.amazonaws.com", 600))
            .await;
        assert_eq!(status, 200, "{body}");
        assert!(body.contains(&format!(
            "<SubjectFromWebIdentityToken>{}</SubjectFromWebIdentityToken><Audience>sts.amazonaws.com</Audience>",
            f.seed.subject()
        )));
        assert!(body.contains(&format!(
            "<Arn>arn:aws:sts::111122223333:assumed-role/{}/pipecheck-test</Arn>",
            f.seed.role_name
        )));
        let key = body
            .split("<AccessKeyId>")
            .nth(1)
            .and_then(|r| r.split('<').next())
            .unwrap();
        assert!(key.starts_with("ASIA") && key.len() == 20, "{key}");
        let id = f.ids.get(key).unwrap();
        assert!(id.session_token.is_some());
        assert!(id.allows("aps:RemoteWrite"));
        assert!(!id.allows("aps:QueryMetrics"));
    }

    #[tokio::test]
    async fn another_namespace_is_access_denied_in_sts_form() {
        let f = fixture();
        let (status, body) = f
            .assume(&f.token(
                "system:serviceaccount:prometheus:adot-collector",
                "sts.amazonaws.com",
                600,
            ))
            .await;
        assert_eq!(status, 403);
        assert!(
            body.starts_with(&error_body("AccessDenied", NOT_AUTHORIZED)),
            "{body}"
        );
        // The trust policy rewritten for another namespace: the real subject is refused.
        let other = ClusterSeed {
            namespace: "springboot".into(),
            ..ClusterSeed::default()
        };
        f.iam().update_role(&f.seed.role_name, |r| {
            r.trust_policy = irsa_trust_policy(&other, REGION)
        });
        let (status, _) = f
            .assume(&f.token(&f.seed.subject(), "sts.amazonaws.com", 600))
            .await;
        assert_eq!(status, 403);
    }

    #[tokio::test]
    async fn token_and_provider_problems_are_invalid_identity_token() {
        let f = fixture();
        let (status, body) = f
            .assume(&f.token(&f.seed.subject(), "other-audience", 600))
            .await;
        assert_eq!(status, 400);
        assert!(
            body.starts_with(&error_body(
                "InvalidIdentityToken",
                "Incorrect token audience"
            )),
            "{body}"
        );
        let (status, body) = f.assume("not-a-jwt").await;
        assert_eq!(status, 400);
        assert!(body.contains("<Code>InvalidIdentityToken</Code>"), "{body}");
        let (status, body) = f
            .assume(&f.token(&f.seed.subject(), "sts.amazonaws.com", -5))
            .await;
        assert_eq!(status, 400);
        assert!(
            body.contains(
                "<Code>ExpiredTokenException</Code><Message>Token expired: current date/time"
            ),
            "{body}"
        );

        // F13: the provider is gone.
        f.iam()
            .remove_oidc_provider(&f.seed.oidc_provider_arn(REGION));
        let (status, body) = f
            .assume(&f.token(&f.seed.subject(), "sts.amazonaws.com", 600))
            .await;
        assert_eq!(status, 400);
        assert!(
            body.starts_with(&error_body(
                "InvalidIdentityToken",
                &format!(
                    "No OpenIDConnect provider found in your account for {}",
                    f.seed.oidc_issuer(REGION)
                )
            )),
            "{body}"
        );
        // A provider for the issuer, but the token was signed by someone else.
        f.iam().put_oidc_provider(OidcProvider::for_issuer(
            &f.seed.oidc_issuer(REGION),
            f.st.clock.now(),
        ));
        let forged = OidcIssuers::default();
        forged.register(&f.seed.oidc_issuer(REGION));
        let t = forged
            .mint(
                &f.seed.oidc_issuer(REGION),
                &f.seed.subject(),
                &["sts.amazonaws.com".into()],
                f.st.clock.now_ms() / 1000,
                600,
                json!({}),
            )
            .unwrap();
        let (status, body) = f.assume(&t).await;
        assert_eq!(status, 400);
        assert!(body.contains("could not be verified"), "{body}");
    }

    #[tokio::test]
    async fn detached_policies_leave_the_session_without_remote_write() {
        let f = fixture();
        f.iam().update_role(&f.seed.role_name, |r| {
            r.attached_policies.clear();
            r.inline_policies.clear();
        });
        let (status, body) = f
            .assume(&f.token(&f.seed.subject(), "sts.amazonaws.com", 600))
            .await;
        assert_eq!(status, 200, "{body}");
        let key = body
            .split("<AccessKeyId>")
            .nth(1)
            .and_then(|r| r.split('<').next())
            .unwrap();
        assert!(!f.ids.get(key).unwrap().allows("aps:RemoteWrite"));
    }

    #[tokio::test]
    async fn missing_parameters_are_validation_errors() {
        let f = fixture();
        let req = http::Request::builder()
            .method("POST")
            .uri("/")
            .header("host", "sts.local")
            .body(Body::from(
                "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleSessionName=x1",
            ))
            .unwrap();
        let resp = router(f.st.clone()).oneshot(req).await.unwrap();
        assert_eq!(resp.status(), 400);
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        let body = String::from_utf8(body.to_vec()).unwrap();
        assert!(body.contains("<Code>ValidationError</Code><Message>1 validation error detected: Value null at &apos;roleArn&apos;"), "{body}");
    }
}
