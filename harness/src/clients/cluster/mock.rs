//! The mock target's cluster for a cluster scenario, as the mocks take it: a scenario's
//! cluster spec as a `pipecheck_mocks::ClusterShape` (its kind, identity and names, the
//! service account defaulted by the scenario model). The seeds, the shapes made from them
//! and the fault recipes are the mocks' own (`pipecheck_mocks::cluster`,
//! `MockStack::prepare_cluster`, `MockStack::inject`).

use pipecheck_mocks::{ClusterShape, CollectorShape, Credentials};

use crate::scenario::{ClusterCollector, ClusterSpec};

/// The mocks' name for what runs a collector of `kind`.
pub fn mock_kind(kind: ClusterCollector) -> CollectorShape {
    match kind {
        ClusterCollector::Adot => CollectorShape::AdotAddon,
        ClusterCollector::Prometheus => CollectorShape::PrometheusChart,
        ClusterCollector::PrometheusOperator => CollectorShape::PrometheusOperator,
        ClusterCollector::Otelcol => CollectorShape::Otelcol,
        ClusterCollector::AmpScraper => CollectorShape::AmpScraper,
    }
}

/// The mock cluster a run of `spec` starts with (`.seed()`) and is prepared as.
pub fn mock_shape(spec: &ClusterSpec) -> ClusterShape {
    ClusterShape {
        kind: mock_kind(spec.kind),
        credentials: if spec.pod_identity() {
            Credentials::PodIdentity
        } else {
            Credentials::Irsa
        },
        cluster_name: spec.name.clone(),
        namespace: spec.namespace.clone(),
        collector: spec.collector.clone(),
        service_account: spec.service_account_name(),
        canary_job: crate::canary::SCRAPER_JOB.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use pipecheck_mocks::{MockConfig, MockStack};

    use super::*;
    use crate::scenario::{IdentityMechanism, Scenario};

    #[tokio::test]
    async fn the_mock_scrapers_configuration_passes_the_harness_judge() {
        let spec = Scenario::load("eks-amp-scraper").unwrap().cluster.unwrap();
        let shape = mock_shape(&spec);
        let stack = MockStack::start(MockConfig {
            cluster: Some(shape.seed()),
            ..MockConfig::default()
        })
        .await
        .unwrap();
        stack.prepare_cluster(&shape).unwrap();
        let region = stack.endpoints().region.clone();
        let scrapers = stack.amp.scrapers.list(&region, stack.clock.now());
        let scraper = scrapers
            .iter()
            .find(|x| x.alias.as_deref() == Some(spec.collector.as_str()))
            .unwrap();
        let text = String::from_utf8(scraper.configuration.clone()).unwrap();
        let judged = crate::links::judge_scraper_config(&text, &spec.namespace);
        assert_eq!(
            judged.status,
            crate::chain::Status::Pass,
            "{}",
            judged.verdict
        );
        stack.shutdown().await;
    }

    #[test]
    fn a_prometheus_scenario_on_pod_identity_checks_the_agent_not_cert_manager() {
        // A Prometheus scenario saying pod-identity keeps eks.addon (for the agent), not
        // cert-manager.
        let mut s = Scenario::load("eks-prometheus").unwrap();
        s.cluster.as_mut().unwrap().identity = Some(IdentityMechanism::PodIdentity);
        let links = s.link_names();
        assert!(links.contains(&crate::chain::LinkId::EksAddon), "{links:?}");
        assert!(
            !links.contains(&crate::chain::LinkId::K8sCertManager),
            "{links:?}"
        );
        assert_eq!(
            mock_shape(s.cluster.as_ref().unwrap()).credentials,
            Credentials::PodIdentity
        );
    }
}
