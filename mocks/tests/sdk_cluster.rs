//! The real `aws-sdk-eks` and `aws-sdk-iam` clients against the mock EKS and IAM of a
//! started `MockStack` (seeded with the healthy default cluster): the shapes the harness
//! reads, the typed errors it matches on, and SigV4 strictness.

mod common;

use aws_sdk_eks::error::ProvideErrorMetadata;
use aws_sdk_eks::operation::describe_addon::DescribeAddonError;
use aws_sdk_eks::operation::describe_cluster::DescribeClusterError;
use aws_sdk_eks::types::{AddonIssueCode, AddonStatus, ClusterStatus};
use aws_sdk_iam::operation::create_role::CreateRoleError;
use aws_sdk_iam::operation::get_open_id_connect_provider::GetOpenIDConnectProviderError;
use aws_sdk_iam::operation::get_role::GetRoleError;
use aws_sdk_iam::operation::get_role_policy::GetRolePolicyError;
use axum::body::Body;
use base64::Engine as _;
use common::{REGION, sdk_config, stack};
use pipecheck_mocks::eks::{AddonIssue, ClusterSeed};
use pipecheck_mocks::identity::{Identity, MOCK_ACCOUNT};
use pipecheck_mocks::{MockConfig, MockStack, iam};
use serde_json::Value;
use tower::ServiceExt;

fn extra_user(stack: &MockStack, name: &str, key: &str, actions: &[&str]) -> Identity {
    let id = common::user(name, key, actions);
    stack.identities.insert(id.clone());
    id
}

async fn eks(s: &MockStack, id: &Identity) -> aws_sdk_eks::Client {
    let e = s.endpoints();
    aws_sdk_eks::Client::new(&sdk_config(&e.eks, REGION, id).await)
}

/// IAM is global: the client signs for us-east-1.
async fn iam_client(s: &MockStack, id: &Identity) -> aws_sdk_iam::Client {
    let e = s.endpoints();
    aws_sdk_iam::Client::new(&sdk_config(&e.iam, iam::IAM_REGION, id).await)
}

fn decode(doc: &str) -> Value {
    let text = percent_encoding::percent_decode_str(doc)
        .decode_utf8()
        .unwrap();
    serde_json::from_str(&text).unwrap()
}

// ---------------------------------------------------------------------------------------
// EKS

#[tokio::test]
async fn describe_cluster_points_at_the_mock_kubernetes_api() {
    let s = stack().await;
    let e = s.endpoints();
    let seed = ClusterSeed::default();
    assert_eq!(e.cluster_name.as_deref(), Some("pipecheck"));
    let out = eks(&s, &e.user)
        .await
        .describe_cluster()
        .name("pipecheck")
        .send()
        .await
        .unwrap();
    let c = out.cluster().unwrap();
    assert_eq!(c.name(), Some("pipecheck"));
    assert_eq!(c.arn(), Some(seed.cluster_arn(REGION).as_str()));
    assert_eq!(c.version(), Some("1.30"));
    assert_eq!(c.status(), Some(&ClusterStatus::Active));
    assert_eq!(c.endpoint(), Some(e.kube_api.as_str()));
    assert!(e.kube_api.starts_with("https://127.0.0.1:"));
    let issuer = c.identity().unwrap().oidc().unwrap().issuer().unwrap();
    assert_eq!(issuer, seed.oidc_issuer(REGION));
    let hex = issuer.rsplit('/').next().unwrap();
    assert_eq!(hex.len(), 32);
    assert!(hex.bytes().all(|b| b.is_ascii_hexdigit()));
    let ca = c.certificate_authority().unwrap().data().unwrap();
    let pem = base64::engine::general_purpose::STANDARD
        .decode(ca)
        .unwrap();
    assert!(
        String::from_utf8(pem)
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----")
    );
    assert!(c.created_at().is_some());

    let list = eks(&s, &e.user).await.list_clusters().send().await.unwrap();
    assert_eq!(list.clusters(), ["pipecheck"]);
}

#[tokio::test]
async fn unknown_cluster_and_addon_are_typed_not_found() {
    let s = stack().await;
    let client = eks(&s, &s.endpoints().user).await;
    let err = client
        .describe_cluster()
        .name("nope")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    match err {
        DescribeClusterError::ResourceNotFoundException(e) => {
            assert_eq!(e.message(), Some("No cluster found for name: nope."));
            assert_eq!(e.cluster_name(), Some("nope"));
        }
        other => panic!("expected ResourceNotFoundException, got {other:?}"),
    }
    let err = client
        .describe_addon()
        .cluster_name("pipecheck")
        .addon_name("nope")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        matches!(err, DescribeAddonError::ResourceNotFoundException(_)),
        "{err:?}"
    );
    let err = client
        .list_addons()
        .cluster_name("nope")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("ResourceNotFoundException"));
}

#[tokio::test]
async fn addons_list_describe_and_health_issues() {
    let s = stack().await;
    let client = eks(&s, &s.endpoints().user).await;
    let list = client
        .list_addons()
        .cluster_name("pipecheck")
        .send()
        .await
        .unwrap();
    assert_eq!(list.addons(), ["adot", "coredns", "kube-proxy", "vpc-cni"]);

    let a = client
        .describe_addon()
        .cluster_name("pipecheck")
        .addon_name("adot")
        .send()
        .await
        .unwrap();
    let a = a.addon().unwrap();
    assert_eq!(a.addon_name(), Some("adot"));
    assert_eq!(a.cluster_name(), Some("pipecheck"));
    assert_eq!(a.status(), Some(&AddonStatus::Active));
    assert_eq!(
        a.addon_version(),
        Some(ClusterSeed::default().addon_version.as_str())
    );
    assert!(a.health().unwrap().issues().is_empty());

    // A fault: the add-on is DEGRADED with a health issue.
    s.eks
        .update_addon("pipecheck", "adot", |a| {
            a.status = pipecheck_mocks::eks::AddonStatus::Degraded;
            a.issues.push(AddonIssue {
                code: "InsufficientNumberOfReplicas".into(),
                message: "The add-on is unhealthy because it doesn't have the desired number of replicas.".into(),
                resource_ids: vec!["opentelemetry-operator-system/opentelemetry-operator".into()],
            });
        })
        .unwrap();
    let a = client
        .describe_addon()
        .cluster_name("pipecheck")
        .addon_name("adot")
        .send()
        .await
        .unwrap();
    let a = a.addon().unwrap();
    assert_eq!(a.status(), Some(&AddonStatus::Degraded));
    let issue = &a.health().unwrap().issues()[0];
    assert_eq!(
        issue.code(),
        Some(&AddonIssueCode::InsufficientNumberOfReplicas)
    );
    assert_eq!(
        issue.resource_ids(),
        ["opentelemetry-operator-system/opentelemetry-operator"]
    );
}

#[tokio::test]
async fn addon_versions_follow_the_compatibility_table() {
    let s = stack().await;
    let client = eks(&s, &s.endpoints().user).await;
    let versions_for = |k8s: &'static str| {
        let client = client.clone();
        async move {
            let out = client
                .describe_addon_versions()
                .addon_name("adot")
                .kubernetes_version(k8s)
                .send()
                .await
                .unwrap();
            out.addons()
                .iter()
                .flat_map(|a| a.addon_versions())
                .map(|v| v.addon_version().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    let on_130 = versions_for("1.30").await;
    assert!(
        on_130.contains(&ClusterSeed::default().addon_version),
        "{on_130:?}"
    );
    // Old adot versions do not support new Kubernetes versions, and the reverse.
    assert!(
        !on_130.iter().any(|v| v.starts_with("v0.62.")),
        "{on_130:?}"
    );
    let on_136 = versions_for("1.36").await;
    assert!(
        !on_136.contains(&ClusterSeed::default().addon_version),
        "{on_136:?}"
    );
    assert!(!on_136.is_empty());
    // No version supports it: an empty list, not an error.
    let out = client
        .describe_addon_versions()
        .addon_name("adot")
        .kubernetes_version("1.99")
        .send()
        .await
        .unwrap();
    assert!(out.addons().is_empty());

    // The compatibility rows and the default flag.
    let out = client
        .describe_addon_versions()
        .addon_name("adot")
        .kubernetes_version("1.30")
        .send()
        .await
        .unwrap();
    let info = &out.addons()[0];
    assert_eq!(info.r#type(), Some("observability"));
    let first = &info.addon_versions()[0];
    let compat = &first.compatibilities()[0];
    assert_eq!(compat.cluster_version(), Some("1.30"));
    assert!(compat.default_version());
    assert!(!info.addon_versions()[1].compatibilities()[0].default_version());
    // Without a Kubernetes version, every adot version is listed.
    let all = client
        .describe_addon_versions()
        .addon_name("adot")
        .send()
        .await
        .unwrap();
    assert_eq!(all.addons()[0].addon_versions().len(), 7);
}

#[tokio::test]
async fn eks_refuses_wrong_signatures_and_missing_permissions() {
    let s = stack().await;
    let mut wrong = s.endpoints().user.clone();
    wrong.secret_access_key = "not-the-secret".into();
    let err = eks(&s, &wrong)
        .await
        .list_clusters()
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("InvalidSignatureException"));

    let limited = extra_user(&s, "limited", "AKIALIMITED000000001", &["eks:ListClusters"]);
    let client = eks(&s, &limited).await;
    client.list_clusters().send().await.unwrap();
    let err = client
        .describe_cluster()
        .name("pipecheck")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    // DescribeCluster does not model AccessDeniedException: the SDK reports it by code.
    assert_eq!(err.code(), Some("AccessDeniedException"));
    assert_eq!(
        err.message(),
        Some(
            format!(
                "User: {} is not authorized to perform: eks:DescribeCluster on resource: {}",
                limited.arn,
                ClusterSeed::default().cluster_arn(REGION)
            )
            .as_str()
        )
    );

    // Unsigned, straight at the router.
    let req = http::Request::get("/clusters")
        .header("host", "127.0.0.1")
        .body(Body::empty())
        .unwrap();
    let resp = pipecheck_mocks::eks::router(s.eks.clone())
        .oneshot(req)
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(
        resp.headers()["x-amzn-ErrorType"],
        "MissingAuthenticationTokenException"
    );
}

// ---------------------------------------------------------------------------------------
// IAM

#[tokio::test]
async fn get_role_returns_the_url_encoded_trust_policy() {
    let s = stack().await;
    let seed = ClusterSeed::default();
    let out = iam_client(&s, &s.endpoints().user)
        .await
        .get_role()
        .role_name(&seed.role_name)
        .send()
        .await
        .unwrap();
    let role = out.role().unwrap();
    assert_eq!(role.arn(), seed.role_arn());
    assert_eq!(role.path(), "/");
    assert!(role.role_id().starts_with("AROA"));
    let raw = role.assume_role_policy_document().unwrap();
    // As IAM returns it: URL-encoded, so the SDK hands over `%7B%0A...`.
    assert!(raw.starts_with("%7B"), "{raw}");
    let trust = decode(raw);
    let st = &trust["Statement"][0];
    assert_eq!(st["Action"], "sts:AssumeRoleWithWebIdentity");
    assert_eq!(st["Principal"]["Federated"], seed.oidc_provider_arn(REGION));
    let url = seed.oidc_provider_url(REGION);
    assert_eq!(
        st["Condition"]["StringEquals"][format!("{url}:sub")],
        "system:serviceaccount:adot-col:adot-collector"
    );
    assert_eq!(
        st["Condition"]["StringEquals"][format!("{url}:aud")],
        "sts.amazonaws.com"
    );

    let err = iam_client(&s, &s.endpoints().user)
        .await
        .get_role()
        .role_name("nope")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    match err {
        GetRoleError::NoSuchEntityException(e) => {
            assert_eq!(
                e.message(),
                Some("The role with name nope cannot be found.")
            )
        }
        other => panic!("expected NoSuchEntityException, got {other:?}"),
    }
}

#[tokio::test]
async fn attached_policy_allows_remote_write_on_the_workspace() {
    let s = stack().await;
    let seed = ClusterSeed::default();
    let client = iam_client(&s, &s.endpoints().user).await;
    let attached = client
        .list_attached_role_policies()
        .role_name(&seed.role_name)
        .send()
        .await
        .unwrap();
    let p = &attached.attached_policies()[0];
    assert_eq!(p.policy_name(), Some(seed.policy_name.as_str()));
    assert_eq!(p.policy_arn(), Some(seed.policy_arn().as_str()));
    assert!(!attached.is_truncated());

    let policy = client
        .get_policy()
        .policy_arn(seed.policy_arn())
        .send()
        .await
        .unwrap();
    let policy = policy.policy().unwrap();
    assert_eq!(policy.default_version_id(), Some("v1"));
    assert_eq!(policy.attachment_count(), Some(1));
    let version = client
        .get_policy_version()
        .policy_arn(seed.policy_arn())
        .version_id("v1")
        .send()
        .await
        .unwrap();
    let v = version.policy_version().unwrap();
    assert!(v.is_default_version());
    let doc = decode(v.document().unwrap());
    let workspace = s.endpoints().workspace_id.clone().unwrap();
    assert_eq!(doc["Statement"][0]["Action"][0], "aps:RemoteWrite");
    assert_eq!(
        doc["Statement"][0]["Resource"],
        format!("arn:aws:aps:{REGION}:{MOCK_ACCOUNT}:workspace/{workspace}")
    );

    let err = client
        .get_policy()
        .policy_arn(format!("arn:aws:iam::{MOCK_ACCOUNT}:policy/nope"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.meta().code(), Some("NoSuchEntity"));
}

#[tokio::test]
async fn inline_policies_round_trip() {
    let s = stack().await;
    let seed = ClusterSeed::default();
    let client = iam_client(&s, &s.endpoints().user).await;
    let none = client
        .list_role_policies()
        .role_name(&seed.role_name)
        .send()
        .await
        .unwrap();
    assert!(none.policy_names().is_empty());
    let doc = iam::remote_write_policy("*");
    client
        .put_role_policy()
        .role_name(&seed.role_name)
        .policy_name("inline-rw")
        .policy_document(&doc)
        .send()
        .await
        .unwrap();
    let names = client
        .list_role_policies()
        .role_name(&seed.role_name)
        .send()
        .await
        .unwrap();
    assert_eq!(names.policy_names(), ["inline-rw"]);
    let got = client
        .get_role_policy()
        .role_name(&seed.role_name)
        .policy_name("inline-rw")
        .send()
        .await
        .unwrap();
    assert_eq!(got.role_name(), seed.role_name);
    assert_eq!(
        decode(got.policy_document()),
        serde_json::from_str::<Value>(&doc).unwrap()
    );
    client
        .delete_role_policy()
        .role_name(&seed.role_name)
        .policy_name("inline-rw")
        .send()
        .await
        .unwrap();
    let err = client
        .get_role_policy()
        .role_name(&seed.role_name)
        .policy_name("inline-rw")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        matches!(err, GetRolePolicyError::NoSuchEntityException(_)),
        "{err:?}"
    );
}

#[tokio::test]
async fn oidc_provider_of_the_cluster_is_registered() {
    let s = stack().await;
    let seed = ClusterSeed::default();
    let client = iam_client(&s, &s.endpoints().user).await;
    let list = client
        .list_open_id_connect_providers()
        .send()
        .await
        .unwrap();
    let arns: Vec<&str> = list
        .open_id_connect_provider_list()
        .iter()
        .filter_map(|p| p.arn())
        .collect();
    assert_eq!(arns, [seed.oidc_provider_arn(REGION)]);
    let p = client
        .get_open_id_connect_provider()
        .open_id_connect_provider_arn(seed.oidc_provider_arn(REGION))
        .send()
        .await
        .unwrap();
    // Without the scheme, as IAM stores it.
    assert_eq!(p.url(), Some(seed.oidc_provider_url(REGION).as_str()));
    assert_eq!(p.client_id_list(), ["sts.amazonaws.com"]);
    assert_eq!(p.thumbprint_list().len(), 1);
    assert_eq!(p.thumbprint_list()[0].len(), 40);

    // F13: the provider is not associated.
    s.iam
        .remove_oidc_provider(&seed.oidc_provider_arn(REGION))
        .unwrap();
    let list = client
        .list_open_id_connect_providers()
        .send()
        .await
        .unwrap();
    assert!(list.open_id_connect_provider_list().is_empty());
    let err = client
        .get_open_id_connect_provider()
        .open_id_connect_provider_arn(seed.oidc_provider_arn(REGION))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        matches!(err, GetOpenIDConnectProviderError::NoSuchEntityException(_)),
        "{err:?}"
    );
}

#[tokio::test]
async fn role_lifecycle_with_tags_and_attachments() {
    let s = stack().await;
    let client = iam_client(&s, &s.endpoints().user).await;
    let trust = iam::irsa_trust_policy(&ClusterSeed::default(), REGION);
    let created = client
        .create_role()
        .role_name("pipecheck-run-1")
        .assume_role_policy_document(&trust)
        .description("made by a test")
        .tags(
            aws_sdk_iam::types::Tag::builder()
                .key("pipecheck:run-id")
                .value("run-1")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let role = created.role().unwrap();
    assert_eq!(
        role.arn(),
        format!("arn:aws:iam::{MOCK_ACCOUNT}:role/pipecheck-run-1")
    );
    assert_eq!(
        decode(role.assume_role_policy_document().unwrap()),
        serde_json::from_str::<Value>(&trust).unwrap()
    );

    let dup = client
        .create_role()
        .role_name("pipecheck-run-1")
        .assume_role_policy_document(&trust)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        matches!(dup, CreateRoleError::EntityAlreadyExistsException(_)),
        "{dup:?}"
    );
    let bad = client
        .create_role()
        .role_name("pipecheck-run-2")
        .assume_role_policy_document("{not json")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        matches!(bad, CreateRoleError::MalformedPolicyDocumentException(_)),
        "{bad:?}"
    );

    client
        .tag_role()
        .role_name("pipecheck-run-1")
        .tags(
            aws_sdk_iam::types::Tag::builder()
                .key("owner")
                .value("ci")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let tags = client
        .list_role_tags()
        .role_name("pipecheck-run-1")
        .send()
        .await
        .unwrap();
    let tags: Vec<(&str, &str)> = tags.tags().iter().map(|t| (t.key(), t.value())).collect();
    assert_eq!(tags, [("pipecheck:run-id", "run-1"), ("owner", "ci")]);

    let managed = "arn:aws:iam::aws:policy/AmazonPrometheusRemoteWriteAccess";
    client
        .attach_role_policy()
        .role_name("pipecheck-run-1")
        .policy_arn(managed)
        .send()
        .await
        .unwrap();
    let conflict = client
        .delete_role()
        .role_name("pipecheck-run-1")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(conflict.meta().code(), Some("DeleteConflict"));
    client
        .detach_role_policy()
        .role_name("pipecheck-run-1")
        .policy_arn(managed)
        .send()
        .await
        .unwrap();
    client
        .delete_role()
        .role_name("pipecheck-run-1")
        .send()
        .await
        .unwrap();
    assert!(s.iam.role("pipecheck-run-1").is_none());
}

#[tokio::test]
async fn iam_refuses_unsigned_wrong_region_wrong_secret_and_missing_permission() {
    let s = stack().await;
    let e = s.endpoints();

    // Signed for the stack's region rather than IAM's us-east-1 scope.
    let conf = sdk_config(&e.iam, "eu-west-1", &e.user).await;
    let err = aws_sdk_iam::Client::new(&conf)
        .list_open_id_connect_providers()
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.meta().code(), Some("SignatureDoesNotMatch"));
    assert_eq!(
        err.meta().message(),
        Some("Credential should be scoped to a valid region, not 'eu-west-1'. ")
    );

    let mut wrong = e.user.clone();
    wrong.secret_access_key = "not-the-secret".into();
    let err = iam_client(&s, &wrong)
        .await
        .get_role()
        .role_name("x")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.meta().code(), Some("SignatureDoesNotMatch"));

    let limited = extra_user(
        &s,
        "reader",
        "AKIAREADER0000000001",
        &["iam:ListOpenIDConnectProviders"],
    );
    let client = iam_client(&s, &limited).await;
    client
        .list_open_id_connect_providers()
        .send()
        .await
        .unwrap();
    let err = client
        .get_role()
        .role_name("pipecheck-adot-collector")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.meta().code(), Some("AccessDenied"));
    assert_eq!(
        err.meta().message(),
        Some(
            format!(
                "User: {} is not authorized to perform: iam:GetRole on resource: role \
                 pipecheck-adot-collector because no identity-based policy allows the iam:GetRole action",
                limited.arn
            )
            .as_str()
        )
    );

    let req = http::Request::post("/")
        .header("host", "127.0.0.1")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from("Action=GetRole&Version=2010-05-08&RoleName=x"))
        .unwrap();
    let resp = iam::router(s.iam.clone()).oneshot(req).await.unwrap();
    assert_eq!(resp.status(), 403);
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    let body = String::from_utf8(body.to_vec()).unwrap();
    assert!(
        body.starts_with(
            "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><Error><Type>Sender</Type>\
             <Code>MissingAuthenticationToken</Code>"
        ),
        "{body}"
    );
}

#[tokio::test]
async fn stack_without_a_cluster_starts_empty() {
    let s = MockStack::start(MockConfig {
        cluster: None,
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let e = s.endpoints();
    assert_eq!(e.cluster_name, None);
    assert!(s.adot.is_none());
    let list = eks(&s, &e.user).await.list_clusters().send().await.unwrap();
    assert!(list.clusters().is_empty());
    assert!(e.kubeconfig.exists());
    let dir = e.kubeconfig.parent().unwrap().to_path_buf();
    drop(s);
    assert!(
        !dir.exists(),
        "the kubeconfig's directory goes with the stack"
    );
}

#[tokio::test]
async fn list_roles_pages_by_path_prefix_without_tags() {
    let s = stack().await;
    let client = iam_client(&s, &s.endpoints().user).await;
    let trust = iam::irsa_trust_policy(&ClusterSeed::default(), REGION);
    for n in 0..3 {
        client
            .create_role()
            .role_name(format!("pc-list-{n}"))
            .path("/pipecheck/")
            .assume_role_policy_document(&trust)
            .tags(
                aws_sdk_iam::types::Tag::builder()
                    .key("pipecheck-run")
                    .value(format!("run-{n}"))
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
    }
    let first = client
        .list_roles()
        .path_prefix("/pipecheck/")
        .max_items(2)
        .send()
        .await
        .unwrap();
    assert!(first.is_truncated());
    assert_eq!(first.roles().len(), 2);
    let rest = client
        .list_roles()
        .path_prefix("/pipecheck/")
        .marker(first.marker().unwrap())
        .send()
        .await
        .unwrap();
    assert!(!rest.is_truncated());
    let names: Vec<&str> = first
        .roles()
        .iter()
        .chain(rest.roles())
        .map(|r| r.role_name())
        .collect();
    assert_eq!(names, ["pc-list-0", "pc-list-1", "pc-list-2"]);
    assert!(first.roles().iter().all(|r| r.tags().is_empty()));
    assert_eq!(
        first.roles()[0].arn(),
        format!("arn:aws:iam::{MOCK_ACCOUNT}:role/pipecheck/pc-list-0")
    );
    let all = client.list_roles().send().await.unwrap();
    assert!(
        all.roles().len() > 3,
        "the seeded collector role is listed under /"
    );
}
