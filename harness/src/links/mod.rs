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
mod grafana_token;
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

use std::sync::Arc;

pub use crate::chain::{BoxFuture, Check, Deadline, Diagnosis, LinkId, Shape, Status};
pub use context::{CollectorFaults, CollectorRun, CollectorStop, Deadlines, Facts, RunContext};
pub use diagnosis::diagnose_amp;
pub use grafana_context::{DataSourceRef, GrafanaFacts, GrafanaFaults, GrafanaRun};
pub use grafana_token::SharedToken;
pub use pipecheck_reports::Evidence;
#[cfg(test)]
pub(crate) use scraper_config::judge as judge_scraper_config;
pub use scraper_context::ScraperFacts;

/// One link's check. Which link it is and what it depends on are the chain's
/// ([`LinkId`], [`LinkId::depends_on`]); a [`Step`] carries both with the check.
pub trait Link: Send + Sync {
    fn check<'a>(&'a self, ctx: &'a RunContext) -> BoxFuture<'a, Check>;
}

/// A link as a run plans it: its id, the links it waits for, and its check.
#[derive(Clone)]
pub struct Step {
    pub id: LinkId,
    pub depends_on: &'static [LinkId],
    pub link: Arc<dyn Link>,
}

/// The check of `id` in `shape`.
fn build(id: LinkId, shape: Shape) -> Arc<dyn Link> {
    use LinkId::*;
    match id {
        AwsIdentity => Arc::new(aws_identity::AwsIdentity),
        AmpWorkspace => Arc::new(amp_workspace::AmpWorkspace),
        EksCluster => Arc::new(eks_cluster::EksCluster),
        IamOidcProvider => Arc::new(iam_oidc_provider::IamOidcProvider),
        K8sApi => Arc::new(k8s_api::K8sApi),
        K8sNamespace => Arc::new(k8s_namespace::K8sNamespace),
        K8sServiceAccount => Arc::new(k8s_service_account::K8sServiceAccount),
        IamRoleTrust => Arc::new(iam_role_trust::IamRoleTrust),
        IamRolePermissions => Arc::new(iam_role_permissions::IamRolePermissions),
        EksAddon => Arc::new(eks_addon::EksAddon),
        K8sCertManager => Arc::new(k8s_cert_manager::K8sCertManager),
        NetworkEgress => Arc::new(network_egress::NetworkEgress),
        AmpScraper => Arc::new(amp_scraper::AmpScraper),
        EksScraperAccess => Arc::new(eks_scraper_access::EksScraperAccess),
        K8sScraperRbac => Arc::new(k8s_scraper_rbac::K8sScraperRbac),
        ScraperConfig => Arc::new(scraper_config::ScraperConfig),
        ScraperDelivery => Arc::new(scraper_delivery::ScraperDelivery),
        CollectorConfig => Arc::new(collector_config::CollectorConfigLink {
            in_cluster: shape == Shape::Cluster,
        }),
        CollectorRunning => Arc::new(collector_running::CollectorRunning {
            in_cluster: shape == Shape::Cluster,
        }),
        CanaryScraped => Arc::new(canary_scraped::CanaryScraped),
        CollectorSigning => Arc::new(collector_signing::CollectorSigning),
        AmpRemoteWrite => Arc::new(amp_remote_write::AmpRemoteWrite {
            via_collector: shape == Shape::Collector,
        }),
        AmpQuery => Arc::new(amp_query::AmpQuery),
        PipelineDelivery => Arc::new(pipeline_delivery::PipelineDelivery),
        AmgWorkspace => Arc::new(amg_workspace::AmgWorkspace),
        GrafanaApi => Arc::new(grafana_api::GrafanaApi),
        GrafanaDatasource => Arc::new(grafana_datasource::GrafanaDatasource),
        GrafanaQuery => Arc::new(grafana_query::GrafanaQuery),
        GrafanaDashboard => Arc::new(grafana_dashboard::GrafanaDashboard),
    }
}

/// The steps of `ids` (in chain order) in `shape`.
pub fn plan(ids: &[LinkId], shape: Shape) -> Vec<Step> {
    ids.iter()
        .map(|&id| Step {
            id,
            depends_on: id.depends_on(shape),
            link: build(id, shape),
        })
        .collect()
}
