//! IRSA end to end through the real clients: the `kube` client's TokenRequest on the mock
//! Kubernetes API gives a service account token, the real `aws-sdk-sts` exchanges it with
//! AssumeRoleWithWebIdentity (sent unsigned, as the SDK does), and the temporary
//! credentials carry exactly the role's permissions at the mock AMP.

mod common;

use aws_credential_types::Credentials;
use aws_sdk_sts::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sts::operation::assume_role_with_web_identity::{
    AssumeRoleWithWebIdentityError, AssumeRoleWithWebIdentityOutput,
};
use common::{REGION, config_with, kube_client, stack};
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::Client;
use kube::api::{Api, PostParams};
use pipecheck_mocks::ClusterSeed;
use pipecheck_mocks::iam::irsa_trust_policy;

async fn token(client: &Client, ns: &str, sa: &str) -> String {
    let tr = TokenRequest {
        spec: Some(TokenRequestSpec {
            audiences: Some(vec!["sts.amazonaws.com".to_string()]),
            expiration_seconds: Some(600),
            ..TokenRequestSpec::default()
        }),
        ..TokenRequest::default()
    };
    Api::<ServiceAccount>::namespaced(client.clone(), ns)
        .create_token_request(sa, &PostParams::default(), &tr)
        .await
        .unwrap()
        .status
        .and_then(|s| s.token)
        .unwrap()
}

/// AssumeRoleWithWebIdentity of the seed's role with `token`, as `pipecheck-test`, through
/// an STS client at `url` with no credentials at all (the call needs none).
async fn assume(
    url: &str,
    seed: &ClusterSeed,
    token: &str,
) -> Result<AssumeRoleWithWebIdentityOutput, SdkError<AssumeRoleWithWebIdentityError>> {
    aws_sdk_sts::Client::new(&config_with(url, REGION, None).await)
        .assume_role_with_web_identity()
        .role_arn(seed.role_arn())
        .role_session_name("pipecheck-test")
        .web_identity_token(token)
        .send()
        .await
}

#[tokio::test]
async fn a_service_account_token_becomes_role_credentials() {
    let s = stack().await;
    let e = s.endpoints();
    let seed = ClusterSeed::default();
    let client = kube_client(&e.kubeconfig).await;
    let t = token(&client, &seed.namespace, &seed.service_account).await;
    assert_eq!(t.split('.').count(), 3);

    let out = assume(&e.sts, &seed, &t).await.unwrap();
    assert_eq!(
        out.subject_from_web_identity_token(),
        Some(seed.subject().as_str())
    );
    assert_eq!(out.audience(), Some("sts.amazonaws.com"));
    let user = out.assumed_role_user().unwrap();
    assert_eq!(
        user.arn(),
        format!(
            "arn:aws:sts::111122223333:assumed-role/{}/pipecheck-test",
            seed.role_name
        )
    );
    let c = out.credentials().unwrap();
    assert!(c.access_key_id().starts_with("ASIA"));

    // The session is the role: it may remote-write (the seeded policy) but not query.
    let creds = Credentials::new(
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token().to_string()),
        None,
        "test",
    );
    let as_role = config_with(&e.sts, REGION, Some(creds)).await;
    let who = aws_sdk_sts::Client::new(&as_role)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(who.arn(), Some(user.arn()));
    let id = s.identities.get(c.access_key_id()).unwrap();
    assert!(id.allows("aps:RemoteWrite") && !id.allows("aps:QueryMetrics"));
}

#[tokio::test]
async fn a_trust_policy_for_another_namespace_is_access_denied() {
    let s = stack().await;
    let e = s.endpoints();
    let seed = ClusterSeed::default();
    let other = ClusterSeed {
        namespace: "springboot".into(),
        ..ClusterSeed::default()
    };
    s.iam.update_role(&seed.role_name, |r| {
        r.trust_policy = irsa_trust_policy(&other, REGION)
    });
    let client = kube_client(&e.kubeconfig).await;
    let t = token(&client, &seed.namespace, &seed.service_account).await;
    let err = assume(&e.sts, &seed, &t).await.unwrap_err();
    assert_eq!(err.code(), Some("AccessDenied"));
    assert_eq!(
        err.message(),
        Some("Not authorized to perform sts:AssumeRoleWithWebIdentity")
    );

    // F13: without the OIDC provider the token itself is refused.
    s.iam.remove_oidc_provider(&seed.oidc_provider_arn(REGION));
    let err = assume(&e.sts, &seed, &t).await.unwrap_err();
    assert_eq!(err.code(), Some("InvalidIdentityToken"));
    assert!(
        err.message()
            .unwrap()
            .starts_with("No OpenIDConnect provider found in your account for https://oidc.eks."),
        "{err:?}"
    );
}
