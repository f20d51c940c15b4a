//! Links: one step of the pipeline each, with one question. A link is one file exporting
//! one struct that implements [`Link`]; its check returns a value ([`Check`]), never an
//! error: a broken pipeline is a result, not a failure of the harness.

mod amg_workspace;
mod amp_query;
mod amp_remote_write;
mod amp_scraper;
mod amp_workspace;
mod aws_identity;
mod canary_scraped;
mod collector_config;
mod collector_config_cluster;
mod collector_running;
mod collector_signing;
mod context;
mod diagnosis;
mod eks_addon;
mod eks_cluster;
mod eks_scraper_access;
mod grafana_api;
mod grafana_cleanup;
mod grafana_context;
mod grafana_dashboard;
mod grafana_datasource;
mod grafana_diagnosis;
mod grafana_frames;
mod grafana_query;
mod iam_oidc_provider;
mod iam_role_permissions;
mod iam_role_trust;
mod k8s_api;
mod k8s_cert_manager;
mod k8s_namespace;
mod k8s_scraper_rbac;
mod k8s_service_account;
mod metric_names;
mod network_egress;
mod pipeline_delivery;
mod scraper_config;
mod scraper_context;
mod scraper_delivery;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::scenario::Shape;

pub use context::{CollectorFaults, CollectorRun, Deadline, Deadlines, Facts, RunContext};
pub use diagnosis::{Diagnosis, diagnose_amp};
pub use grafana_api::SharedToken;
pub use grafana_cleanup::{
    cleanup as cleanup_grafana, forget as forget_grafana,
    forget_all_pending as forget_pending_grafana, remove_all_pending as remove_pending_grafana,
};
pub use grafana_context::{DataSourceRef, GrafanaFacts, GrafanaFaults, GrafanaRun};
pub use pipecheck_reports::Evidence;
#[cfg(test)]
pub(crate) use scraper_config::judge as judge_scraper_config;
pub use scraper_context::{CANARY_JOB, ScraperFacts};

/// Every link this build knows, in chain order (also the report's order): every link
/// comes after the links it depends on, in every shape.
pub const ALL: &[&str] = &[
    "aws.identity",
    "amp.workspace",
    "eks.cluster",
    "iam.oidc_provider",
    "k8s.api",
    "k8s.namespace",
    "k8s.service_account",
    "iam.role_trust",
    "iam.role_permissions",
    "eks.addon",
    "k8s.cert_manager",
    "network.egress",
    "amp.scraper",
    "eks.scraper_access",
    "k8s.scraper_rbac",
    "scraper.config",
    "scraper.delivery",
    "collector.config",
    "collector.running",
    "canary.scraped",
    "collector.signing",
    "amp.remote_write",
    "amp.query",
    "pipeline.delivery",
    "amg.workspace",
    "grafana.api",
    "grafana.datasource",
    "grafana.query",
    "grafana.dashboard",
];

/// The Grafana side of the chain: left out of a run with no Grafana workspace.
pub const GRAFANA: &[&str] = &[
    "amg.workspace",
    "grafana.api",
    "grafana.datasource",
    "grafana.query",
    "grafana.dashboard",
];

/// Links whose check changes the account it runs against: `amp.remote_write` writes the
/// canary into the workspace, `grafana.api` creates a short-lived Grafana service account
/// (unless handed a token). A read-only run (`pipecheck readiness`) leaves them out, and
/// every link depending on them.
pub const WRITES: &[&str] = &["amp.remote_write", "grafana.api"];

/// The cluster side of the chain (shape `cluster` only): EKS, IAM/IRSA and Kubernetes.
pub const CLUSTER: &[&str] = &[
    "eks.cluster",
    "iam.oidc_provider",
    "k8s.api",
    "k8s.namespace",
    "k8s.service_account",
    "iam.role_trust",
    "iam.role_permissions",
    "eks.addon",
    "k8s.cert_manager",
    "network.egress",
];

/// The chain of a cluster scraped by an AMP managed collector (`cluster.kind:
/// amp-scraper`): no collector in the cluster and no canary written by the harness; the
/// series the scraper writes are read back.
pub const SCRAPER_CHAIN: &[&str] = &[
    "aws.identity",
    "amp.workspace",
    "eks.cluster",
    "k8s.api",
    "amp.scraper",
    "eks.scraper_access",
    "k8s.scraper_rbac",
    "scraper.config",
    "scraper.delivery",
];

/// The links only the AMP managed collector's chain has.
pub const SCRAPER: &[&str] = &[
    "amp.scraper",
    "eks.scraper_access",
    "k8s.scraper_rbac",
    "scraper.config",
    "scraper.delivery",
];

pub fn is_known(name: &str) -> bool {
    ALL.contains(&name)
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Pass,
    Warn,
    Fail,
}

/// What a link found: status, a one-line verdict, a hint (how to fix) and evidence.
#[derive(Clone, Debug)]
pub struct Check {
    pub status: Status,
    pub verdict: String,
    pub hint: Option<String>,
    pub evidence: Vec<Evidence>,
}

impl Check {
    pub fn pass(verdict: impl Into<String>) -> Self {
        Self {
            status: Status::Pass,
            verdict: verdict.into(),
            hint: None,
            evidence: vec![],
        }
    }

    pub fn warn(verdict: impl Into<String>, hint: impl Into<String>) -> Self {
        Self {
            status: Status::Warn,
            verdict: verdict.into(),
            hint: Some(hint.into()),
            evidence: vec![],
        }
    }

    pub fn fail(verdict: impl Into<String>, hint: impl Into<String>) -> Self {
        Self {
            status: Status::Fail,
            verdict: verdict.into(),
            hint: Some(hint.into()),
            evidence: vec![],
        }
    }

    pub fn from_diagnosis(status: Status, d: Diagnosis) -> Self {
        Self {
            status,
            verdict: d.verdict,
            hint: Some(d.hint),
            evidence: vec![],
        }
    }

    pub fn with(mut self, label: impl Into<String>, body: impl Into<String>) -> Self {
        self.evidence.push(Evidence {
            label: label.into(),
            body: body.into(),
        });
        self
    }
}

pub trait Link: Send + Sync {
    fn name(&self) -> &'static str;
    fn depends_on(&self) -> &'static [&'static str];
    fn check<'a>(&'a self, ctx: &'a RunContext) -> BoxFuture<'a, Check>;
}

/// The links of a pipeline shape when a scenario names none.
pub fn default_links(shape: Shape) -> &'static [&'static str] {
    match shape {
        Shape::Direct => &[
            "aws.identity",
            "amp.workspace",
            "amp.remote_write",
            "amp.query",
            "pipeline.delivery",
            "amg.workspace",
            "grafana.api",
            "grafana.datasource",
            "grafana.query",
            "grafana.dashboard",
        ],
        Shape::Collector => &[
            "aws.identity",
            "amp.workspace",
            "collector.config",
            "collector.running",
            "canary.scraped",
            "collector.signing",
            "amp.remote_write",
            "amp.query",
            "pipeline.delivery",
            "amg.workspace",
            "grafana.api",
            "grafana.datasource",
            "grafana.query",
            "grafana.dashboard",
        ],
        // The collector in the cluster is read, not observed writing: no canary.scraped,
        // collector.signing or pipeline.delivery; the harness writes and reads AMP itself.
        // (A Prometheus server leaves out the ADOT-only links: `Scenario::link_names`.)
        Shape::Cluster => &[
            "aws.identity",
            "amp.workspace",
            "eks.cluster",
            "iam.oidc_provider",
            "k8s.api",
            "k8s.namespace",
            "k8s.service_account",
            "iam.role_trust",
            "iam.role_permissions",
            "eks.addon",
            "k8s.cert_manager",
            "network.egress",
            "collector.config",
            "collector.running",
            "amp.remote_write",
            "amp.query",
        ],
    }
}

fn by_name(name: &str, shape: Shape) -> Option<Arc<dyn Link>> {
    Some(match name {
        "aws.identity" => Arc::new(aws_identity::AwsIdentity),
        "amp.workspace" => Arc::new(amp_workspace::AmpWorkspace),
        "eks.cluster" => Arc::new(eks_cluster::EksCluster),
        "iam.oidc_provider" => Arc::new(iam_oidc_provider::IamOidcProvider),
        "k8s.api" => Arc::new(k8s_api::K8sApi),
        "k8s.namespace" => Arc::new(k8s_namespace::K8sNamespace),
        "k8s.service_account" => Arc::new(k8s_service_account::K8sServiceAccount),
        "iam.role_trust" => Arc::new(iam_role_trust::IamRoleTrust),
        "iam.role_permissions" => Arc::new(iam_role_permissions::IamRolePermissions),
        "eks.addon" => Arc::new(eks_addon::EksAddon),
        "k8s.cert_manager" => Arc::new(k8s_cert_manager::K8sCertManager),
        "network.egress" => Arc::new(network_egress::NetworkEgress),
        "amp.scraper" => Arc::new(amp_scraper::AmpScraper),
        "eks.scraper_access" => Arc::new(eks_scraper_access::EksScraperAccess),
        "k8s.scraper_rbac" => Arc::new(k8s_scraper_rbac::K8sScraperRbac),
        "scraper.config" => Arc::new(scraper_config::ScraperConfig),
        "scraper.delivery" => Arc::new(scraper_delivery::ScraperDelivery),
        "collector.config" => Arc::new(collector_config::CollectorConfigLink {
            in_cluster: shape == Shape::Cluster,
        }),
        "collector.running" => Arc::new(collector_running::CollectorRunning {
            in_cluster: shape == Shape::Cluster,
        }),
        "canary.scraped" => Arc::new(canary_scraped::CanaryScraped),
        "collector.signing" => Arc::new(collector_signing::CollectorSigning),
        "amp.remote_write" => Arc::new(amp_remote_write::AmpRemoteWrite {
            via_collector: shape == Shape::Collector,
        }),
        "amp.query" => Arc::new(amp_query::AmpQuery),
        "pipeline.delivery" => Arc::new(pipeline_delivery::PipelineDelivery),
        "amg.workspace" => Arc::new(amg_workspace::AmgWorkspace),
        "grafana.api" => Arc::new(grafana_api::GrafanaApi),
        "grafana.datasource" => Arc::new(grafana_datasource::GrafanaDatasource),
        "grafana.query" => Arc::new(grafana_query::GrafanaQuery),
        "grafana.dashboard" => Arc::new(grafana_dashboard::GrafanaDashboard),
        _ => return None,
    })
}

/// The links named, plus every link they depend on, in chain order. Unknown names are
/// refused when the scenario is parsed, so they are skipped here.
pub fn closure(names: &[String], shape: Shape) -> Vec<Arc<dyn Link>> {
    let mut wanted: Vec<&str> = if names.is_empty() {
        default_links(shape).to_vec()
    } else {
        names.iter().map(String::as_str).collect()
    };
    let mut i = 0;
    while i < wanted.len() {
        if let Some(link) = by_name(wanted[i], shape) {
            for dep in link.depends_on() {
                if !wanted.contains(dep) {
                    wanted.push(dep);
                }
            }
        }
        i += 1;
    }
    ALL.iter()
        .filter(|n| wanted.contains(n))
        .filter_map(|n| by_name(n, shape))
        .collect()
}

/// `links` without `root` and every link depending on it, directly or not, and the names
/// of the links left out (in chain order). A run with no Grafana workspace leaves out
/// `amg.workspace` this way, and with it every grafana link.
pub fn without(links: Vec<Arc<dyn Link>>, root: &str) -> (Vec<Arc<dyn Link>>, Vec<&'static str>) {
    let mut out: Vec<&'static str> = Vec::new();
    // Chain order puts dependencies first, so one pass sees every dependent.
    for l in &links {
        if l.name() == root || l.depends_on().iter().any(|d| out.contains(d)) {
            out.push(l.name());
        }
    }
    let kept = links
        .into_iter()
        .filter(|l| !out.contains(&l.name()))
        .collect();
    (kept, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_link_is_built_and_its_dependencies_come_first() {
        for (i, name) in ALL.iter().enumerate() {
            for shape in [Shape::Direct, Shape::Collector, Shape::Cluster] {
                let link = by_name(name, shape).expect("known link builds");
                assert_eq!(link.name(), *name);
                for dep in link.depends_on() {
                    let j = ALL
                        .iter()
                        .position(|n| n == dep)
                        .expect("dependency is known");
                    assert!(j < i, "{dep} must come before {name}");
                }
            }
        }
    }

    #[test]
    fn closure_adds_dependencies() {
        let names = |shape| -> Vec<&str> {
            closure(&["amp.query".to_string()], shape)
                .iter()
                .map(|l| l.name())
                .collect()
        };
        assert_eq!(
            names(Shape::Direct),
            vec![
                "aws.identity",
                "amp.workspace",
                "amp.remote_write",
                "amp.query"
            ]
        );
        // Through a collector, the writes AMP receives come from the collector.
        let delivery = ALL.iter().position(|n| *n == "pipeline.delivery").unwrap();
        let collector: Vec<&str> = ALL[..delivery]
            .iter()
            .copied()
            .filter(|n| !CLUSTER.contains(n) && !SCRAPER.contains(n))
            .collect();
        assert_eq!(names(Shape::Collector), collector);
    }

    #[test]
    fn grafana_links_follow_amp_and_leave_together() {
        for shape in [Shape::Direct, Shape::Collector] {
            let all = closure(&[], shape);
            let names: Vec<&str> = all.iter().map(|l| l.name()).collect();
            assert!(GRAFANA.iter().all(|g| names.contains(g)), "{names:?}");
            let (kept, out) = without(all, "amg.workspace");
            assert_eq!(out, GRAFANA);
            let kept: Vec<&str> = kept.iter().map(|l| l.name()).collect();
            assert!(kept.contains(&"amp.query") && kept.contains(&"pipeline.delivery"));
            assert!(!kept.iter().any(|n| GRAFANA.contains(n)));
        }
        // grafana.query needs the canary in AMP first.
        let q = closure(&["grafana.query".to_string()], Shape::Direct);
        assert!(q.iter().any(|l| l.name() == "amp.query"));
    }
}
