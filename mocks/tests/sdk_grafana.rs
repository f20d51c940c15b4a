//! The real `aws-sdk-grafana` client against the mock AMG control plane on 127.0.0.1:0:
//! if the SDK can read the mock's answers (required members, epoch-number timestamps,
//! typed errors), so can the harness.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_grafana::error::ProvideErrorMetadata;
use aws_sdk_grafana::operation::create_workspace_api_key::CreateWorkspaceApiKeyError;
use aws_sdk_grafana::operation::create_workspace_service_account_token::CreateWorkspaceServiceAccountTokenError;
use aws_sdk_grafana::operation::delete_workspace_service_account_token::DeleteWorkspaceServiceAccountTokenError;
use aws_sdk_grafana::operation::describe_workspace::DescribeWorkspaceError;
use aws_sdk_grafana::types::{
    AuthenticationProviderTypes, DataSourceType, PermissionType, Role, SamlConfigurationStatus,
    WorkspaceStatus as SdkStatus,
};
use common::{REGION, sdk_config};
use pipecheck_mocks::amg::{
    self, AmgSettings, AmgState, Authentication, SEED_GRAFANA_VERSION, SeedOptions, WorkspaceStatus,
};
use pipecheck_mocks::clock::Clock;
use pipecheck_mocks::identity::{Identities, Identity, MOCK_ACCOUNT};

struct Mock {
    url: String,
    amg: Arc<AmgState>,
    user: Identity,
    ws: String,
}

async fn start() -> Mock {
    let (ids, user) = Identities::with_default_user();
    let amg = Arc::new(AmgState::new(
        REGION,
        AmgSettings::default(),
        Arc::new(ids),
        Arc::new(Clock::default()),
    ));
    let ws = amg
        .seed(&SeedOptions {
            endpoint: "127.0.0.1:3000".into(),
            prometheus_endpoint: Some("http://127.0.0.1:9/workspaces/ws-1/".into()),
            grafana_version: SEED_GRAFANA_VERSION.into(),
        })
        .workspace_id;
    let url = common::serve(amg::router(amg.clone())).await;
    Mock { url, amg, user, ws }
}

async fn client(m: &Mock, id: &Identity) -> aws_sdk_grafana::Client {
    aws_sdk_grafana::Client::new(&sdk_config(&m.url, REGION, id).await)
}

fn limited_user(m: &Mock, actions: &[&str]) -> Identity {
    let id = common::user("limited", "AKIALIMITEDGRAFANA01", actions);
    m.amg.identities.insert(id.clone());
    id
}

#[tokio::test]
async fn describe_and_list_through_the_sdk() {
    let m = start().await;
    let c = client(&m, &m.user).await;
    let out = c
        .describe_workspace()
        .workspace_id(&m.ws)
        .send()
        .await
        .unwrap();
    let w = out.workspace().unwrap();
    assert_eq!(w.id(), m.ws);
    assert_eq!(w.status(), &SdkStatus::Active);
    assert_eq!(w.endpoint(), "127.0.0.1:3000");
    assert_eq!(w.grafana_version(), "10.4");
    assert!(w.created().secs() > 1_700_000_000);
    assert!(w.modified().secs() > 1_700_000_000);
    assert_eq!(
        w.authentication().unwrap().providers(),
        &[AuthenticationProviderTypes::AwsSso]
    );
    assert_eq!(w.data_sources(), &[DataSourceType::Prometheus]);
    assert_eq!(w.permission_type(), Some(&PermissionType::ServiceManaged));
    assert_eq!(
        w.workspace_role_arn(),
        Some("arn:aws:iam::111122223333:role/service-role/AmazonGrafanaServiceRole-pipecheck")
    );

    let list = c.list_workspaces().send().await.unwrap();
    assert_eq!(list.workspaces().len(), 1);
    let s = &list.workspaces()[0];
    assert_eq!((s.id(), s.endpoint()), (m.ws.as_str(), "127.0.0.1:3000"));
    assert_eq!(s.status(), &SdkStatus::Active);

    // DEGRADED is a status the SDK knows.
    m.amg.set_status(&m.ws, WorkspaceStatus::Degraded);
    let out = c
        .describe_workspace()
        .workspace_id(&m.ws)
        .send()
        .await
        .unwrap();
    let w = out.workspace().unwrap();
    assert_eq!(w.status(), &SdkStatus::Degraded);
    assert!(w.degraded_workspace_reason().is_some());
}

#[tokio::test]
async fn nobody_can_log_in_is_visible() {
    let m = start().await;
    let c = client(&m, &m.user).await;
    let perms = c
        .list_permissions()
        .workspace_id(&m.ws)
        .send()
        .await
        .unwrap();
    assert_eq!(perms.permissions().len(), 1);
    assert_eq!(perms.permissions()[0].role(), &Role::Admin);

    m.amg.clear_permissions(&m.ws);
    m.amg
        .set_authentication(&m.ws, Authentication::saml_not_configured());
    let perms = c
        .list_permissions()
        .workspace_id(&m.ws)
        .send()
        .await
        .unwrap();
    assert!(perms.permissions().is_empty());
    let out = c
        .describe_workspace()
        .workspace_id(&m.ws)
        .send()
        .await
        .unwrap();
    let auth = out.workspace().unwrap().authentication().unwrap();
    assert_eq!(auth.providers(), &[AuthenticationProviderTypes::Saml]);
    assert_eq!(
        auth.saml_configuration_status(),
        Some(&SamlConfigurationStatus::NotConfigured)
    );
    let out = c
        .describe_workspace_authentication()
        .workspace_id(&m.ws)
        .send()
        .await
        .unwrap();
    assert_eq!(
        out.authentication().unwrap().saml().unwrap().status(),
        &SamlConfigurationStatus::NotConfigured
    );
}

#[tokio::test]
async fn service_account_and_token_lifecycle() {
    let m = start().await;
    let c = client(&m, &m.user).await;
    let sa = c
        .create_workspace_service_account()
        .workspace_id(&m.ws)
        .name("pipecheck-run-1")
        .grafana_role(Role::Admin)
        .send()
        .await
        .unwrap();
    assert_eq!(
        (sa.name(), sa.grafana_role(), sa.workspace_id()),
        ("pipecheck-run-1", &Role::Admin, m.ws.as_str())
    );
    let sa_id = sa.id().to_string();

    let tok = c
        .create_workspace_service_account_token()
        .workspace_id(&m.ws)
        .service_account_id(&sa_id)
        .name("run-1")
        .seconds_to_live(600)
        .send()
        .await
        .unwrap();
    assert_eq!(tok.service_account_id(), sa_id);
    let t = tok.service_account_token().unwrap();
    let re = regex::Regex::new(r"^glsa_[A-Za-z0-9]{32}_[0-9a-f]{8}$").unwrap();
    assert!(re.is_match(t.key()));
    assert!(amg::token::is_valid_service_account_token(t.key()));
    // The SDK's Debug redacts the key, as the evidence logs need.
    assert!(!format!("{t:?}").contains(t.key()));
    let token_id = t.id().to_string();

    let sas = c
        .list_workspace_service_accounts()
        .workspace_id(&m.ws)
        .send()
        .await
        .unwrap();
    assert_eq!(sas.service_accounts().len(), 1);
    assert_eq!(sas.service_accounts()[0].is_disabled(), "false");
    let toks = c
        .list_workspace_service_account_tokens()
        .workspace_id(&m.ws)
        .service_account_id(&sa_id)
        .send()
        .await
        .unwrap();
    let listed = &toks.service_account_tokens()[0];
    assert_eq!((listed.id(), listed.name()), (token_id.as_str(), "run-1"));
    assert_eq!(listed.expires_at().secs() - listed.created_at().secs(), 600);

    c.delete_workspace_service_account_token()
        .workspace_id(&m.ws)
        .service_account_id(&sa_id)
        .token_id(&token_id)
        .send()
        .await
        .unwrap();
    let err = c
        .delete_workspace_service_account_token()
        .workspace_id(&m.ws)
        .service_account_id(&sa_id)
        .token_id(&token_id)
        .send()
        .await
        .unwrap_err();
    assert!(matches!(
        err.into_service_error(),
        DeleteWorkspaceServiceAccountTokenError::ResourceNotFoundException(_)
    ));

    // Deleting the service account deletes its tokens.
    c.create_workspace_service_account_token()
        .workspace_id(&m.ws)
        .service_account_id(&sa_id)
        .name("run-2")
        .seconds_to_live(60)
        .send()
        .await
        .unwrap();
    let out = c
        .delete_workspace_service_account()
        .workspace_id(&m.ws)
        .service_account_id(&sa_id)
        .send()
        .await
        .unwrap();
    assert_eq!(out.service_account_id(), sa_id);
    let left = m
        .amg
        .with_workspace(&m.ws, |w| w.service_accounts.len())
        .unwrap();
    assert_eq!(left, 0);
}

#[tokio::test]
async fn service_accounts_paginate_through_the_sdk() {
    let m = start().await;
    let c = client(&m, &m.user).await;
    for i in 0..5 {
        c.create_workspace_service_account()
            .workspace_id(&m.ws)
            .name(format!("sa-{i}"))
            .grafana_role(Role::Viewer)
            .send()
            .await
            .unwrap();
    }
    let pages: Vec<_> = c
        .list_workspace_service_accounts()
        .workspace_id(&m.ws)
        .max_results(2)
        .into_paginator()
        .send()
        .collect()
        .await;
    assert_eq!(pages.len(), 3);
    let names: BTreeSet<String> = pages
        .into_iter()
        .flat_map(|p| {
            p.unwrap()
                .service_accounts()
                .iter()
                .map(|s| s.name().to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(names.len(), 5);
}

#[tokio::test]
async fn legacy_api_keys_on_10_4_and_not_on_12() {
    let m = start().await;
    let c = client(&m, &m.user).await;
    let out = c
        .create_workspace_api_key()
        .workspace_id(&m.ws)
        .key_name("legacy")
        .key_role("VIEWER")
        .seconds_to_live(60)
        .send()
        .await
        .unwrap();
    assert!(
        out.key().starts_with("eyJrIjoi"),
        "legacy keys are base64 JSON"
    );
    assert_eq!(out.key_name(), "legacy");
    c.delete_workspace_api_key()
        .workspace_id(&m.ws)
        .key_name("legacy")
        .send()
        .await
        .unwrap();

    m.amg
        .with_workspace(&m.ws, |w| w.grafana_version = "12.4".into());
    let err = c
        .create_workspace_api_key()
        .workspace_id(&m.ws)
        .key_name("legacy")
        .key_role("VIEWER")
        .seconds_to_live(60)
        .send()
        .await
        .unwrap_err();
    match err.into_service_error() {
        CreateWorkspaceApiKeyError::ValidationException(e) => {
            assert!(e.message().contains("service accounts"), "{e:?}")
        }
        other => panic!("expected ValidationException, got {other:?}"),
    }
}

#[tokio::test]
async fn typed_errors() {
    let m = start().await;
    let c = client(&m, &m.user).await;
    let err = c
        .describe_workspace()
        .workspace_id("g-0000000000")
        .send()
        .await
        .unwrap_err();
    match err.into_service_error() {
        DescribeWorkspaceError::ResourceNotFoundException(e) => {
            assert_eq!(
                (e.resource_id(), e.resource_type()),
                ("g-0000000000", "WORKSPACE")
            )
        }
        other => panic!("expected ResourceNotFoundException, got {other:?}"),
    }
    let err = c
        .describe_workspace()
        .workspace_id("ws-not-amg")
        .send()
        .await
        .unwrap_err();
    match err.into_service_error() {
        DescribeWorkspaceError::ValidationException(e) => {
            assert_eq!(e.field_list()[0].name(), "workspaceId")
        }
        other => panic!("expected ValidationException, got {other:?}"),
    }

    let err = c
        .create_workspace_service_account_token()
        .workspace_id(&m.ws)
        .service_account_id("2")
        .name("t")
        .seconds_to_live(0)
        .send()
        .await
        .unwrap_err();
    assert!(matches!(
        err.into_service_error(),
        CreateWorkspaceServiceAccountTokenError::ValidationException(_)
    ));

    // F22: the harness identity may not create tokens.
    let limited = limited_user(&m, &["grafana:DescribeWorkspace"]);
    let err = client(&m, &limited)
        .await
        .create_workspace_service_account_token()
        .workspace_id(&m.ws)
        .service_account_id("2")
        .name("t")
        .seconds_to_live(60)
        .send()
        .await
        .unwrap_err();
    match err.into_service_error() {
        CreateWorkspaceServiceAccountTokenError::AccessDeniedException(e) => assert_eq!(
            e.message(),
            format!(
                "User: {} is not authorized to perform: grafana:CreateWorkspaceServiceAccountToken \
                 on resource: arn:aws:grafana:{REGION}:{MOCK_ACCOUNT}:/workspaces/{}",
                limited.arn, m.ws
            )
        ),
        other => panic!("expected AccessDeniedException, got {other:?}"),
    }
    // The same denial through Identities::update on the default user.
    m.amg.identities.update(&m.user.access_key_id, |i| {
        i.allowed_actions = ["grafana:DescribeWorkspace".to_string()].into();
    });
    let err = c
        .create_workspace_service_account()
        .workspace_id(&m.ws)
        .name("x")
        .grafana_role(Role::Admin)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.into_service_error().code(),
        Some("AccessDeniedException")
    );
}

#[tokio::test]
async fn wrong_region_or_service_is_refused() {
    let m = start().await;
    let other_region =
        aws_sdk_grafana::Client::new(&sdk_config(&m.url, "us-west-2", &m.user).await);
    let err = other_region.list_workspaces().send().await.unwrap_err();
    let err = err.into_service_error();
    assert_eq!(err.code(), Some("InvalidSignatureException"));
    assert_eq!(
        err.message(),
        Some("Credential should be scoped to a valid region, not 'us-west-2'. ")
    );

    // The AMP client signs for `aps`: AMG refuses the scope.
    let amp = aws_sdk_amp::Client::new(&sdk_config(&m.url, REGION, &m.user).await);
    let err = amp.list_workspaces().send().await.unwrap_err();
    let err = err.into_service_error();
    assert_eq!(err.code(), Some("InvalidSignatureException"));
    assert_eq!(
        err.message(),
        Some("Credential should be scoped to correct service: 'grafana'. ")
    );
}

#[tokio::test]
async fn tags_round_trip_through_the_sdk() {
    let m = start().await;
    let c = client(&m, &m.user).await;
    let arn = format!(
        "arn:aws:grafana:{REGION}:{MOCK_ACCOUNT}:/workspaces/{}",
        m.ws
    );
    c.tag_resource()
        .resource_arn(&arn)
        .tags("team", "obs")
        .tags("run", "1")
        .send()
        .await
        .unwrap();
    c.untag_resource()
        .resource_arn(&arn)
        .tag_keys("run")
        .send()
        .await
        .unwrap();
    let tags = c
        .list_tags_for_resource()
        .resource_arn(&arn)
        .send()
        .await
        .unwrap();
    let tags = tags.tags().unwrap();
    assert_eq!(tags.len(), 1);
    assert_eq!(tags.get("team").map(String::as_str), Some("obs"));
    let out = c
        .describe_workspace()
        .workspace_id(&m.ws)
        .send()
        .await
        .unwrap();
    assert_eq!(out.workspace().unwrap().tags().unwrap().len(), 1);
    let err = c
        .list_tags_for_resource()
        .resource_arn(arn.replace(&m.ws, "g-0000000000"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.into_service_error().code(),
        Some("ResourceNotFoundException")
    );
}

#[tokio::test]
async fn expired_tokens_still_count_and_are_listed() {
    let m = start().await;
    let c = client(&m, &m.user).await;
    let sa = c
        .create_workspace_service_account()
        .workspace_id(&m.ws)
        .name("sa")
        .grafana_role(Role::Editor)
        .send()
        .await
        .unwrap();
    c.create_workspace_service_account_token()
        .workspace_id(&m.ws)
        .service_account_id(sa.id())
        .name("t")
        .seconds_to_live(1)
        .send()
        .await
        .unwrap();
    m.amg
        .clock
        .set_offset_ms(Duration::from_secs(5).as_millis() as i64);
    let toks = c
        .list_workspace_service_account_tokens()
        .workspace_id(&m.ws)
        .service_account_id(sa.id())
        .send()
        .await
        .unwrap();
    assert_eq!(toks.service_account_tokens().len(), 1);
}
