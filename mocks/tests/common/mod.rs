//! Set-up the real-client tests share (`mod common;`): a started `MockStack`, a router
//! served on 127.0.0.1:0, an `SdkConfig` that reaches it (with an identity's static
//! credentials, other credentials, or none), a `kube` client from a kubeconfig, and extra
//! IAM users of the mock account.

// Each test crate uses the part it needs.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::Path;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use axum::Router;
use kube::config::{KubeConfigOptions, Kubeconfig};
use pipecheck_mocks::identity::{Identity, MOCK_ACCOUNT};
use pipecheck_mocks::{MockConfig, MockStack};
use tokio::net::TcpListener;

pub const REGION: &str = "us-east-1";

/// The mock stack with its default configuration (the healthy default cluster).
pub async fn stack() -> MockStack {
    MockStack::start(MockConfig::default()).await.unwrap()
}

/// A `kube` client from the kubeconfig at `path` (as the stack writes it).
pub async fn kube_client(path: &Path) -> kube::Client {
    let kubeconfig = Kubeconfig::read_from(path).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .unwrap();
    kube::Client::try_from(config).unwrap()
}

/// Serves `app` on 127.0.0.1:0 for the rest of the test; its `http://` base URL.
pub async fn serve(app: Router) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

/// A client configuration for the endpoint `url`, signing for `region` with `id`'s static
/// credentials (its session token, if any), retries off.
pub async fn sdk_config(url: &str, region: &str, id: &Identity) -> SdkConfig {
    let credentials = Credentials::new(
        &id.access_key_id,
        &id.secret_access_key,
        id.session_token.clone(),
        None,
        "test",
    );
    config_with(url, region, Some(credentials)).await
}

/// A client configuration for the endpoint `url` in `region`, retries off, signing with
/// `credentials`; None: no credentials at all (what AssumeRoleWithWebIdentity needs).
pub async fn config_with(url: &str, region: &str, credentials: Option<Credentials>) -> SdkConfig {
    let loader = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .endpoint_url(url)
        .retry_config(RetryConfig::disabled());
    match credentials {
        Some(c) => loader.credentials_provider(c),
        None => loader.no_credentials(),
    }
    .load()
    .await
}

/// An IAM user of the mock account allowed `actions`: `arn:aws:iam::<account>:user/<name>`,
/// access key `key`, secret `<name>-secret`, user id `AIDA<NAME>`. Not yet known to any
/// `Identities`.
pub fn user(name: &str, key: &str, actions: &[&str]) -> Identity {
    Identity {
        access_key_id: key.to_string(),
        secret_access_key: format!("{name}-secret"),
        session_token: None,
        arn: format!("arn:aws:iam::{MOCK_ACCOUNT}:user/{name}"),
        account: MOCK_ACCOUNT.to_string(),
        user_id: format!("AIDA{}", name.to_uppercase()),
        allowed_actions: actions
            .iter()
            .map(|a| a.to_string())
            .collect::<BTreeSet<_>>(),
        expired: false,
    }
}
