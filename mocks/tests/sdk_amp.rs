//! The real `aws-sdk-amp` and `aws-sdk-sts` clients against the mock AMP and STS, served
//! on 127.0.0.1:0: if the SDK can talk to the mocks, so can the harness (which must not
//! know whether it talks to a mock).

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_amp::error::ProvideErrorMetadata;
use aws_sdk_amp::operation::describe_workspace::DescribeWorkspaceError;
use aws_sdk_amp::types::WorkspaceStatusCode;
use axum::body::Body;
use common::{REGION, sdk_config, serve};
use pipecheck_mocks::amp::{self, AmpSettings, AmpState};
use pipecheck_mocks::clock::Clock;
use pipecheck_mocks::identity::{Identities, Identity, MOCK_ACCOUNT};
use pipecheck_mocks::sts::{self, StsState};
use tower::ServiceExt;

struct Mocks {
    amp_url: String,
    sts_url: String,
    amp: Arc<AmpState>,
    user: Identity,
    limited: Identity,
    expired: Identity,
}

async fn start() -> Mocks {
    let (ids, user) = Identities::with_default_user();
    let limited = common::user("limited", "AKIALIMITED000000001", &["aps:ListWorkspaces"]);
    let expired = Identity {
        expired: true,
        ..common::user("expired", "AKIAEXPIRED000000001", &["*"])
    };
    ids.insert(limited.clone());
    ids.insert(expired.clone());
    let ids = Arc::new(ids);
    let clock = Arc::new(Clock::default());
    // Long enough that a Describe right after Create still sees CREATING.
    let settings = AmpSettings {
        create_delay: Duration::from_millis(1500),
        ..AmpSettings::default()
    };
    let amp = Arc::new(AmpState::new(REGION, settings, ids.clone(), clock.clone()));
    let sts = Arc::new(StsState {
        region: REGION.to_string(),
        identities: ids,
        clock,
        max_skew: Duration::from_secs(300),
        web_identity: None,
    });
    let amp_url = serve(amp::router(amp.clone())).await;
    let sts_url = serve(sts::router(sts)).await;
    Mocks {
        amp_url,
        sts_url,
        amp,
        user,
        limited,
        expired,
    }
}

async fn amp_client(m: &Mocks, id: &Identity) -> aws_sdk_amp::Client {
    aws_sdk_amp::Client::new(&sdk_config(&m.amp_url, REGION, id).await)
}

async fn sts_client(m: &Mocks, id: &Identity) -> aws_sdk_sts::Client {
    aws_sdk_sts::Client::new(&sdk_config(&m.sts_url, REGION, id).await)
}

#[tokio::test]
async fn sts_get_caller_identity_returns_the_mock_user() {
    let m = start().await;
    let out = sts_client(&m, &m.user)
        .await
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(out.arn(), Some(m.user.arn.as_str()));
    assert_eq!(out.account(), Some(MOCK_ACCOUNT));
    assert_eq!(out.user_id(), Some(m.user.user_id.as_str()));
}

#[tokio::test]
async fn sts_expired_key_gives_expired_token() {
    let m = start().await;
    let err = sts_client(&m, &m.expired)
        .await
        .get_caller_identity()
        .send()
        .await
        .unwrap_err();
    let err = err.into_service_error();
    assert_eq!(err.code(), Some("ExpiredToken"), "{err:?}");
    assert_eq!(
        err.message(),
        Some("The security token included in the request is expired")
    );
}

#[tokio::test]
async fn workspace_lifecycle_through_the_sdk() {
    let m = start().await;
    let amp = amp_client(&m, &m.user).await;
    let created = amp
        .create_workspace()
        .alias("pipecheck-sdk")
        .tags("team", "obs")
        .send()
        .await
        .unwrap();
    let id = created.workspace_id().to_string();
    assert!(id.starts_with("ws-"), "{id}");
    assert_eq!(
        created.status().map(|s| s.status_code()),
        Some(&WorkspaceStatusCode::Creating)
    );
    assert_eq!(
        created.arn(),
        format!("arn:aws:aps:{REGION}:{MOCK_ACCOUNT}:workspace/{id}")
    );

    let ws = amp
        .describe_workspace()
        .workspace_id(&id)
        .send()
        .await
        .unwrap();
    let ws = ws.workspace().unwrap();
    assert_eq!(
        ws.status().unwrap().status_code(),
        &WorkspaceStatusCode::Creating
    );
    assert_eq!(ws.alias(), Some("pipecheck-sdk"));
    assert_eq!(
        ws.prometheus_endpoint(),
        Some(format!("{}/workspaces/{id}/", m.amp_url).as_str())
    );
    assert!(ws.created_at().secs() > 1_700_000_000);

    // Bounded poll until ACTIVE.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = amp
            .describe_workspace()
            .workspace_id(&id)
            .send()
            .await
            .unwrap();
        if out.workspace().unwrap().status().unwrap().status_code() == &WorkspaceStatusCode::Active
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "workspace {id} never became ACTIVE"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let list = amp.list_workspaces().send().await.unwrap();
    let summary = list
        .workspaces()
        .iter()
        .find(|w| w.workspace_id() == id)
        .expect("listed");
    assert_eq!(summary.alias(), Some("pipecheck-sdk"));
    let filtered = amp
        .list_workspaces()
        .alias("pipecheck-")
        .max_results(5)
        .send()
        .await
        .unwrap();
    assert_eq!(filtered.workspaces().len(), 1);
    let none = amp.list_workspaces().alias("other").send().await.unwrap();
    assert!(none.workspaces().is_empty());

    amp.delete_workspace()
        .workspace_id(&id)
        .send()
        .await
        .unwrap();
    let after = amp
        .describe_workspace()
        .workspace_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(
        after.workspace().unwrap().status().unwrap().status_code(),
        &WorkspaceStatusCode::Deleting
    );
}

#[tokio::test]
async fn list_workspaces_paginates_through_the_sdk() {
    let m = start().await;
    let amp = amp_client(&m, &m.user).await;
    for _ in 0..5 {
        amp.create_workspace().send().await.unwrap();
    }
    let pages: Vec<_> = amp
        .list_workspaces()
        .max_results(2)
        .into_paginator()
        .send()
        .collect()
        .await;
    assert_eq!(pages.len(), 3);
    let ids: BTreeSet<String> = pages
        .into_iter()
        .flat_map(|p| {
            p.unwrap()
                .workspaces()
                .iter()
                .map(|w| w.workspace_id().to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(ids.len(), 5);
}

#[tokio::test]
async fn tags_round_trip_through_the_sdk() {
    let m = start().await;
    let amp = amp_client(&m, &m.user).await;
    let arn = amp
        .create_workspace()
        .send()
        .await
        .unwrap()
        .arn()
        .to_string();
    amp.tag_resource()
        .resource_arn(&arn)
        .tags("a", "1")
        .tags("b", "2")
        .send()
        .await
        .unwrap();
    let tags = amp
        .list_tags_for_resource()
        .resource_arn(&arn)
        .send()
        .await
        .unwrap();
    let tags = tags.tags().unwrap();
    assert_eq!(
        (
            tags.get("a").map(String::as_str),
            tags.get("b").map(String::as_str)
        ),
        (Some("1"), Some("2"))
    );
    amp.untag_resource()
        .resource_arn(&arn)
        .tag_keys("a")
        .send()
        .await
        .unwrap();
    let tags = amp
        .list_tags_for_resource()
        .resource_arn(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tags().unwrap().keys().collect::<Vec<_>>(), vec!["b"]);
}

#[tokio::test]
async fn unknown_workspace_is_a_typed_resource_not_found() {
    let m = start().await;
    let amp = amp_client(&m, &m.user).await;
    let err = amp
        .describe_workspace()
        .workspace_id("ws-00000000-0000-0000-0000-000000000000")
        .send()
        .await
        .unwrap_err();
    match err.into_service_error() {
        DescribeWorkspaceError::ResourceNotFoundException(e) => {
            assert_eq!(e.resource_id(), "ws-00000000-0000-0000-0000-000000000000");
            assert_eq!(e.resource_type(), "AMP::Workspace");
        }
        other => panic!("expected ResourceNotFoundException, got {other:?}"),
    }
}

#[tokio::test]
async fn wrong_secret_is_a_signature_error() {
    let m = start().await;
    let mut wrong = m.user.clone();
    wrong.secret_access_key = "definitely-not-the-secret".to_string();
    let err = amp_client(&m, &wrong)
        .await
        .list_workspaces()
        .send()
        .await
        .unwrap_err();
    let err = err.into_service_error();
    assert_eq!(err.code(), Some("InvalidSignatureException"));
    let msg = err.message().unwrap_or_default();
    assert!(msg.contains("signature"), "{msg}");
    assert!(
        msg.contains("The Canonical String for this request should have been\n'GET\n/workspaces\n"),
        "{msg}"
    );
}

#[tokio::test]
async fn identity_without_the_action_is_typed_access_denied() {
    let m = start().await;
    let amp = amp_client(&m, &m.limited).await;
    // Allowed: ListWorkspaces.
    amp.list_workspaces().send().await.unwrap();
    let err = amp
        .describe_workspace()
        .workspace_id("ws-1")
        .send()
        .await
        .unwrap_err();
    match err.into_service_error() {
        DescribeWorkspaceError::AccessDeniedException(e) => assert_eq!(
            e.message(),
            format!(
                "User: {} is not authorized to perform: aps:DescribeWorkspace on resource: \
                 arn:aws:aps:{REGION}:{MOCK_ACCOUNT}:workspace/ws-1",
                m.limited.arn
            )
        ),
        other => panic!("expected AccessDeniedException, got {other:?}"),
    }
}

#[tokio::test]
async fn client_in_another_region_gets_the_scope_error() {
    let m = start().await;
    let conf = sdk_config(&m.amp_url, "us-west-2", &m.user).await;
    let err = aws_sdk_amp::Client::new(&conf)
        .list_workspaces()
        .send()
        .await
        .unwrap_err();
    let err = err.into_service_error();
    assert_eq!(
        err.message(),
        Some("Credential should be scoped to a valid region, not 'us-west-2'. ")
    );
    assert_eq!(err.code(), Some("InvalidSignatureException"));
    // Workspaces of this endpoint are not affected.
    assert!(m.amp.list_workspaces(|w| w.id.clone()).is_empty());
}

#[tokio::test]
async fn unsigned_raw_request_gets_missing_authentication_token() {
    let m = start().await;
    let req = http::Request::get("/workspaces")
        .header("host", "127.0.0.1")
        .body(Body::empty())
        .unwrap();
    let resp = amp::router(m.amp.clone()).oneshot(req).await.unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(
        resp.headers()["x-amzn-ErrorType"],
        "MissingAuthenticationTokenException"
    );
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    assert_eq!(&body[..], br#"{"message":"Missing Authentication Token"}"#);
}
