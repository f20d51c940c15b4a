//! The mock cluster `discover --target mock` reads: every collector shape the mock stack
//! holds, at once. The mock's ADOT seed (the `eks-adot` scenario's OpenTelemetryCollector,
//! IRSA), the `eks-prometheus` scenario's chart server (a Deployment whose ConfigMap
//! remote-writes, IRSA, beside it in its own namespace) and an ADOT DaemonSet as the
//! aws-otel-collector examples deploy it (config in a ConfigMap, a service account
//! whose service account EKS Pod Identity associates with a role), a kube-prometheus-stack
//! `Prometheus` resource (the mock operator runs it; IRSA) and an AMP managed collector
//! (scraper) whose source is the cluster.

use pipecheck_mocks::kube::{namespace, service_account};
use pipecheck_mocks::{ClusterSeed, MockConfig, MockStack};
use serde_json::json;

use crate::scenario::ClusterCollector;

/// The namespace, name and service account of the DaemonSet collector.
pub const DAEMONSET: (&str, &str, &str) = ("amazon-metrics", "aws-otel-collector", "aws-otel-sa");

/// Starts a mock stack holding every shape, its cluster named `cluster`.
pub async fn start_all_shapes(cluster: &str, region: &str) -> Result<MockStack, String> {
    let mut adot = ClusterCollector::Adot.shipped_spec()?;
    adot.name = cluster.to_string();
    let mut prometheus = ClusterCollector::Prometheus.shipped_spec()?;
    prometheus.name = cluster.to_string();
    let stack = MockStack::start(MockConfig {
        region: region.to_string(),
        cluster: Some(crate::cluster::mock_shape(&adot).seed()),
        ..MockConfig::default()
    })
    .await
    .map_err(|e| crate::error_chain(&e))?;
    let remote_write = stack
        .adot
        .as_ref()
        .map(|a| a.remote_write_url.clone())
        .ok_or("the mock stack was started without a cluster")?;
    add_prometheus_server(
        &stack,
        &crate::cluster::mock_shape(&prometheus).seed(),
        region,
        &remote_write,
    )?;
    add_daemonset(&stack, region, &remote_write)?;
    let seed = crate::cluster::mock_shape(&adot).seed();
    let (ns, _, sa) = DAEMONSET;
    stack
        .eks
        .create_pod_identity_association(cluster, ns, sa, DAEMONSET_ROLE)
        .ok_or("the mock EKS refused the DaemonSet's pod identity association")?;
    add_prometheus_resource(&stack, region, &remote_write)?;
    let ws = stack
        .endpoints()
        .workspace_id
        .clone()
        .ok_or("the mock stack was started without a workspace")?;
    let account = seed.cluster_arn(region);
    let account = crate::arn::account(&account).unwrap_or_default();
    stack.amp.scrapers.insert(pipecheck_mocks::amp::scraper::Scraper::active(
        region,
        Some(SCRAPER_ALIAS),
        &seed.cluster_arn(region),
        &seed.subnet_ids,
        &[],
        &format!("arn:aws:aps:{region}:{account}:workspace/{ws}"),
        "global:\n  scrape_interval: 30s\nscrape_configs:\n  - job_name: pods\n    kubernetes_sd_configs:\n      - role: pod\n",
        stack.clock.now(),
    ));
    Ok(stack)
}

/// The role EKS Pod Identity gives the DaemonSet's service account.
pub const DAEMONSET_ROLE: &str = "arn:aws:iam::111122223333:role/adot-pod-identity";
/// The alias of the mock's AMP managed collector.
pub const SCRAPER_ALIAS: &str = "pipecheck-scraper";
/// kube-prometheus-stack's `Prometheus` resource: namespace, name, service account, role.
pub const OPERATOR: (&str, &str, &str, &str) = (
    "monitoring",
    "kps",
    "kps-prometheus",
    "arn:aws:iam::111122223333:role/kps-prometheus",
);

/// A `Prometheus` resource the mock operator runs as a StatefulSet, its service account
/// annotated for IRSA.
fn add_prometheus_resource(
    stack: &MockStack,
    region: &str,
    remote_write: &str,
) -> Result<(), String> {
    let (ns, name, sa, role) = OPERATOR;
    let k = &stack.kube;
    k.put("namespaces", namespace(ns)).map_err(err)?;
    k.put("serviceaccounts", service_account(ns, sa, Some(role)))
        .map_err(err)?;
    k.apply(
        "prometheuses",
        json!({
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "Prometheus",
            "metadata": { "name": name, "namespace": ns },
            "spec": {
                "serviceAccountName": sa,
                "replicas": 1,
                "remoteWrite": [{ "url": remote_write, "sigv4": { "region": region } }],
            },
        }),
    )
    .map_err(err)?;
    Ok(())
}

fn err(e: pipecheck_mocks::kube::KubeError) -> String {
    e.to_string()
}

/// The chart's server in its own namespace, its service account annotated for its role.
fn add_prometheus_server(
    stack: &MockStack,
    seed: &ClusterSeed,
    region: &str,
    remote_write: &str,
) -> Result<(), String> {
    let k = &stack.kube;
    let ns = seed.namespace.as_str();
    k.put("namespaces", namespace(ns)).map_err(err)?;
    k.put("serviceaccounts", service_account(ns, "default", None))
        .map_err(err)?;
    k.put(
        "serviceaccounts",
        service_account(ns, &seed.service_account, Some(&seed.role_arn())),
    )
    .map_err(err)?;
    let ws = stack.endpoints().workspace_id.clone().unwrap_or_default();
    let workspace_arn = format!(
        "arn:aws:aps:{region}:{}:workspace/{ws}",
        pipecheck_mocks::identity::MOCK_ACCOUNT
    );
    stack.iam.seed_healthy_irsa(seed, region, &workspace_arn);
    pipecheck_mocks::cluster::put_prometheus_server(stack, seed, region, remote_write)?;
    Ok(())
}

/// An ADOT DaemonSet as the aws-otel-collector examples deploy it: config in a ConfigMap,
/// a service account without IRSA (the nodes' role signs).
fn add_daemonset(stack: &MockStack, region: &str, remote_write: &str) -> Result<(), String> {
    let (ns, name, sa) = DAEMONSET;
    let k = &stack.kube;
    k.put("namespaces", namespace(ns)).map_err(err)?;
    k.put("serviceaccounts", service_account(ns, "default", None))
        .map_err(err)?;
    k.put("serviceaccounts", service_account(ns, sa, None))
        .map_err(err)?;
    let config = format!(
        "extensions:\n  sigv4auth:\n    region: {region}\n    service: aps\nreceivers:\n  prometheus:\n    config:\n      scrape_configs:\n      - job_name: kubernetes-pods\n        kubernetes_sd_configs:\n        - role: pod\n\
         exporters:\n  prometheusremotewrite:\n    endpoint: {remote_write}\n    auth:\n      authenticator: sigv4auth\n\
         service:\n  extensions: [sigv4auth]\n  pipelines:\n    metrics:\n      receivers: [prometheus]\n      exporters: [prometheusremotewrite]\n"
    );
    let conf = format!("{name}-conf");
    k.put(
        "configmaps",
        json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": { "name": conf, "namespace": ns },
            "data": { "adot-config.yaml": config },
        }),
    )
    .map_err(err)?;
    let labels = json!({ "app.kubernetes.io/name": name });
    k.put(
        "daemonsets",
        json!({
            "apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": { "name": name, "namespace": ns, "labels": labels, "generation": 1 },
            "spec": {
                "selector": { "matchLabels": labels },
                "template": { "metadata": { "labels": labels }, "spec": {
                    "serviceAccountName": sa,
                    "containers": [{
                        "name": "aws-otel-collector",
                        "image": "public.ecr.aws/aws-observability/aws-otel-collector:v0.40.0",
                        "args": ["--config=/conf/adot-config.yaml"],
                        "env": [{ "name": "AWS_REGION", "value": region }],
                        "volumeMounts": [{ "name": "adot-config", "mountPath": "/conf" }],
                    }],
                    "volumes": [{ "name": "adot-config", "configMap": { "name": conf } }],
                } },
            },
            "status": {
                "currentNumberScheduled": 1, "desiredNumberScheduled": 1, "numberReady": 1,
                "numberAvailable": 1, "updatedNumberScheduled": 1, "observedGeneration": 1,
            },
        }),
    )
    .map_err(err)?;
    Ok(())
}
