//! The mock cluster shaped as one collector setup: the names to seed the stack with
//! ([`ClusterShape::seed`], one `ClusterSeed`), the shape made from the stack's ADOT seed
//! through the mocks' own APIs ([`prepare`]: the Prometheus chart's server in
//! `prometheus.rs`, the operator and OpenTelemetry shapes in `shapes.rs`, the AMP scraper in
//! `scraper.rs`, EKS Pod Identity in `pod_identity.rs`), and the fault recipes that break
//! it (`recipes.rs`, and each shape's own in its file). `MockStack::prepare_cluster` keeps
//! the prepared cluster; `MockStack::inject` (`faults.rs`) runs the recipes on it.

mod pod_identity;
mod prometheus;
mod recipes;
mod scraper;
mod shapes;

use crate::kube::OPERATOR_NAMESPACE;
use crate::{ClusterSeed, MockStack};

pub use prometheus::put_prometheus_server;
pub(crate) use prometheus::rfc3339_now;

/// The role and policy names of the AMP workshop's Prometheus setup.
const PROMETHEUS_ROLE: &str = "amp-iamproxy-ingest-role";
const PROMETHEUS_POLICY: &str = "AMPIngestPolicy";

/// What runs the collector in the mock cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CollectorShape {
    /// The EKS `adot` add-on's operator runs an `OpenTelemetryCollector` (the stack's seed).
    AdotAddon,
    /// The prometheus-community/prometheus chart's server Deployment.
    PrometheusChart,
    /// kube-prometheus-stack's `Prometheus` resource, run by the mock operator.
    PrometheusOperator,
    /// An OpenTelemetry collector without an operator: the chart's DaemonSet (a name
    /// ending in `-agent`) or ADOT's example Deployment.
    Otelcol,
    /// No collector in the cluster: an AMP managed collector (scraper) scrapes it.
    AmpScraper,
}

impl CollectorShape {
    /// Whether the collector is an OpenTelemetry collector, else a Prometheus server.
    pub(crate) fn is_otel(self) -> bool {
        matches!(self, Self::AdotAddon | Self::Otelcol)
    }
}

/// How the collector's pods get AWS credentials.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Credentials {
    /// IAM roles for service accounts (the stack's seed).
    #[default]
    Irsa,
    /// EKS Pod Identity: an association, the agent add-on, no role-arn annotation.
    PodIdentity,
}

/// The collector setup a mock cluster is prepared as: only names, no defaults (the
/// caller's scenario model decides them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterShape {
    pub kind: CollectorShape,
    pub credentials: Credentials,
    /// The EKS cluster.
    pub cluster_name: String,
    /// Where the collector runs (`amp-scraper`: where the canary target runs).
    pub namespace: String,
    /// The collector's resource, Deployment or DaemonSet (`amp-scraper`: the scraper's alias).
    pub collector: String,
    /// The service account the collector runs as.
    pub service_account: String,
    /// The scrape job of the canary target (`amp-scraper`: the scraper's configuration
    /// has it; the harness names it).
    pub canary_job: String,
}

impl ClusterShape {
    /// The names the mock stack is seeded with for this shape: one `ClusterSeed` for EKS,
    /// IAM and the Kubernetes API.
    pub fn seed(&self) -> ClusterSeed {
        let base = ClusterSeed {
            cluster_name: self.cluster_name.clone(),
            namespace: self.namespace.clone(),
            collector_name: self.collector.clone(),
            service_account: self.service_account.clone(),
            ..ClusterSeed::default()
        };
        match self.kind {
            // The AMP guide's IRSA role.
            CollectorShape::PrometheusChart | CollectorShape::PrometheusOperator => ClusterSeed {
                role_name: PROMETHEUS_ROLE.to_string(),
                policy_name: PROMETHEUS_POLICY.to_string(),
                ..base
            },
            _ => base,
        }
    }
}

/// The mock cluster of one stack: its seed and the collector's objects, for fault recipes.
#[derive(Clone, Debug)]
pub(crate) struct PreparedCluster {
    pub(crate) kind: CollectorShape,
    pub(crate) credentials: Credentials,
    pub(crate) seed: ClusterSeed,
    pub(crate) region: String,
    /// The collector's Deployment (StatefulSet, DaemonSet), one of its pods and the
    /// collector's container.
    pub(crate) deployment: String,
    pub(crate) pod: String,
    pub(crate) container: String,
}

/// The collector of `shape` on a mock stack started with `shape.seed()`: the mock's ADOT
/// seed as is, or that seed turned into the shape's setup (e.g. the workshop's Prometheus:
/// the ADOT collector, operator and add-on removed, the chart's server Deployment,
/// ReplicaSet, pod and ConfigMap added, running as the seed's annotated service account).
/// With `Credentials::PodIdentity`, then turned to EKS Pod Identity (`pod_identity.rs`).
pub(crate) fn prepare(stack: &MockStack, shape: &ClusterShape) -> Result<PreparedCluster, String> {
    let region = stack.endpoints().region.clone();
    let mut cluster = prepare_collector(stack, shape, &region)?;
    if shape.credentials == Credentials::PodIdentity {
        cluster.use_pod_identity(stack)?;
        cluster.credentials = Credentials::PodIdentity;
    }
    Ok(cluster)
}

/// The collector of `shape` under IRSA, as the mock's seed has it.
/// Takes the seed's ADOT collector away (its pods, ReplicaSet, Deployment and
/// OpenTelemetryCollector, the operator's namespace, the add-on): for the shapes that run
/// another collector, or none.
pub(crate) fn remove_adot_collector(
    stack: &MockStack,
    adot: &crate::kube::AdotSeed,
    cluster: &str,
) {
    let k = &stack.kube;
    let ns = adot.namespace.as_str();
    k.delete("pods", ns, &adot.pod);
    k.delete("replicasets", ns, &adot.replica_set);
    k.delete("deployments", ns, &adot.deployment);
    k.delete("opentelemetrycollectors", ns, &adot.collector);
    k.delete("namespaces", "", OPERATOR_NAMESPACE);
    stack.eks.remove_addon(cluster, "adot");
}

fn prepare_collector(
    stack: &MockStack,
    shape: &ClusterShape,
    region: &str,
) -> Result<PreparedCluster, String> {
    let seed = shape.seed();
    let adot = stack
        .adot
        .clone()
        .ok_or("the mock stack was started without a cluster")?;
    match shape.kind {
        CollectorShape::AmpScraper => scraper::prepare(stack, seed, shape, region),
        CollectorShape::AdotAddon => Ok(PreparedCluster {
            kind: shape.kind,
            credentials: Credentials::Irsa,
            seed,
            region: region.to_string(),
            deployment: adot.deployment,
            pod: adot.pod,
            container: adot.container,
        }),
        kind => {
            remove_adot_collector(stack, &adot, &seed.cluster_name);
            let url = &adot.remote_write_url;
            let names = match kind {
                CollectorShape::PrometheusOperator => {
                    shapes::put_operator_prometheus(stack, &seed, region, url)?
                }
                CollectorShape::Otelcol if seed.collector_name.ends_with("-agent") => {
                    shapes::put_otel_daemonset(stack, &seed, region, url)?
                }
                CollectorShape::Otelcol => shapes::put_otel_deployment(stack, &seed, region, url)?,
                _ => prometheus::put_prometheus_server(stack, &seed, region, url)?,
            };
            Ok(PreparedCluster {
                kind: shape.kind,
                credentials: Credentials::Irsa,
                seed,
                region: region.to_string(),
                deployment: names.0,
                pod: names.1,
                container: names.2,
            })
        }
    }
}
