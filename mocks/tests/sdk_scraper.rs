//! The real `aws-sdk-amp` and `aws-sdk-eks` clients against the mock stack's AMP
//! managed collectors and EKS access entries, and the scraper running: once its role has
//! an access entry and RBAC lets it list pods, its targets' `up` lands in the workspace.

mod common;

use std::time::Duration;

use aws_sdk_amp::primitives::Blob;
use aws_sdk_amp::types::{
    AmpConfiguration, Destination, EksConfiguration, ScrapeConfiguration, ScraperStatusCode, Source,
};
use pipecheck_mocks::eks_access::AccessEntry;
use pipecheck_mocks::identity::MOCK_ACCOUNT;
use serde_json::json;

use common::REGION;

const CONFIG: &str = "global:\n  scrape_interval: 30s\nscrape_configs:\n- job_name: canary\n  kubernetes_sd_configs:\n  - role: pod\n    namespaces:\n      names: [canary]\n";

#[tokio::test]
async fn scrapers_and_access_entries_through_the_sdks() {
    let stack = common::stack().await;
    let e = stack.endpoints().clone();
    let amp = aws_sdk_amp::Client::new(&common::sdk_config(&e.amp, REGION, &e.user).await);
    let eks = aws_sdk_eks::Client::new(&common::sdk_config(&e.eks, REGION, &e.user).await);
    let ws = e.workspace_id.clone().unwrap();
    let ws_arn = format!("arn:aws:aps:{REGION}:{MOCK_ACCOUNT}:workspace/{ws}");
    let cluster_arn = format!("arn:aws:eks:{REGION}:{MOCK_ACCOUNT}:cluster/pipecheck");

    let created = amp
        .create_scraper()
        .alias("canary")
        .source(Source::EksConfiguration(
            EksConfiguration::builder()
                .cluster_arn(&cluster_arn)
                .subnet_ids("subnet-0a1b2c3d4e5f60001")
                .subnet_ids("subnet-0a1b2c3d4e5f60002")
                .build()
                .unwrap(),
        ))
        .destination(Destination::AmpConfiguration(
            AmpConfiguration::builder()
                .workspace_arn(&ws_arn)
                .build()
                .unwrap(),
        ))
        .scrape_configuration(ScrapeConfiguration::ConfigurationBlob(Blob::new(CONFIG)))
        .send()
        .await
        .unwrap();
    assert_eq!(
        created.status().map(|s| s.status_code()),
        Some(&ScraperStatusCode::Creating)
    );
    let id = created.scraper_id().to_string();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let listed = amp
        .list_scrapers()
        .filters("sourceArn", vec![cluster_arn.clone()])
        .filters("status", vec!["ACTIVE".into(), "CREATING".into()])
        .send()
        .await
        .unwrap();
    assert_eq!(listed.scrapers().len(), 1);
    let s = amp.describe_scraper().scraper_id(&id).send().await.unwrap();
    let s = s.scraper().unwrap();
    assert_eq!(
        s.status().unwrap().status_code(),
        &ScraperStatusCode::Active
    );
    let blob = s
        .scrape_configuration()
        .unwrap()
        .as_configuration_blob()
        .unwrap();
    assert_eq!(blob.as_ref(), CONFIG.as_bytes());
    assert_eq!(
        s.destination()
            .unwrap()
            .as_amp_configuration()
            .unwrap()
            .workspace_arn(),
        ws_arn
    );
    let role = s.role_arn().to_string();
    let err = amp
        .describe_scraper()
        .scraper_id("s-nope")
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_resource_not_found_exception());

    // The cluster lets the role in: access entry, RBAC, a Ready pod to scrape.
    let now = stack.clock.now();
    stack.eks.access.put(
        "pipecheck",
        AccessEntry::standard(REGION, "pipecheck", &role, "aps-collector-user", &[], now),
    );
    let entries = eks
        .list_access_entries()
        .cluster_name("pipecheck")
        .send()
        .await
        .unwrap();
    assert_eq!(entries.access_entries(), std::slice::from_ref(&role));
    let entry = eks
        .describe_access_entry()
        .cluster_name("pipecheck")
        .principal_arn(&role)
        .send()
        .await
        .unwrap();
    assert_eq!(
        entry.access_entry().and_then(|a| a.username()),
        Some("aps-collector-user")
    );
    let policies = eks
        .list_associated_access_policies()
        .cluster_name("pipecheck")
        .principal_arn(&role)
        .send()
        .await
        .unwrap();
    assert!(policies.associated_access_policies().is_empty());

    let k = &stack.kube;
    k.put(
        "clusterroles",
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "aps-collector-role"},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}]}),
    )
    .unwrap();
    k.put("clusterrolebindings", json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": "aps-collector-user-role-binding"},
        "subjects": [{"kind": "User", "name": "aps-collector-user", "apiGroup": "rbac.authorization.k8s.io"}],
        "roleRef": {"kind": "ClusterRole", "name": "aps-collector-role", "apiGroup": "rbac.authorization.k8s.io"}})).unwrap();
    k.put("namespaces", pipecheck_mocks::kube::namespace("canary"))
        .unwrap();
    k.put(
        "pods",
        json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "c-0", "namespace": "canary"},
        "spec": {"containers": [{"name": "c", "image": "x", "ports": [{"containerPort": 9100}]}]},
        "status": {"phase": "Running", "podIP": "192.168.20.9",
                   "conditions": [{"type": "Ready", "status": "True"}]}}),
    )
    .unwrap();
    let store = stack.amp.store(&ws).unwrap();
    let up = |l: &Vec<(String, String)>| l.iter().any(|(k, v)| k == "__name__" && v == "up");
    let mut found = Vec::new();
    for _ in 0..40 {
        found = store.all_series(&up);
        if !found.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains(&("job".to_string(), "canary".to_string())));

    let deleted = amp.delete_scraper().scraper_id(&id).send().await.unwrap();
    assert_eq!(
        deleted.status().map(|s| s.status_code()),
        Some(&ScraperStatusCode::Deleting)
    );
}
