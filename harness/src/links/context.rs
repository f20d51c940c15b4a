//! What the links of one run share: the target's clients, the canary, deadlines, and the
//! facts earlier links established (a link reads only facts of links it depends on).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::grafana_context::{GrafanaFacts, GrafanaRun};
use crate::amp_client::{AmpDataClient, WriterBehaviour};
use crate::canary::Canary;
use crate::chain::{BoxFuture, Deadline, Fate, Lane, Undo, Undone, Unwind};
use crate::collector::{
    CollectorConfig, Exporter, Runtime, SigningProxy, WriteObservation, observe_writes,
};
use crate::scenario::CollectorSpec;
use crate::secrets::RunSecrets;
use crate::target::Target;

#[derive(Clone, Copy, Debug)]
pub struct Deadlines {
    pub arrival: Duration,
    pub workspace: Duration,
    pub request: Duration,
}

impl Deadlines {
    /// The request deadline, named for a verdict: "the request deadline of 10 s".
    pub fn request_named(&self) -> Deadline {
        Deadline::new("request", self.request)
    }

    /// The arrival deadline, named for a verdict.
    pub fn arrival_named(&self) -> Deadline {
        Deadline::new("arrival", self.arrival)
    }

    /// The workspace deadline (a workspace or Grafana becoming ready), named for a verdict.
    pub fn workspace_named(&self) -> Deadline {
        Deadline::new("workspace", self.workspace)
    }
}

#[derive(Debug, Default)]
pub struct Facts {
    /// `aws.identity`: the caller's ARN.
    pub caller_arn: Option<String>,
    /// `amp.workspace`: the workspace's id, ARN and data-plane client.
    pub workspace_id: Option<String>,
    pub workspace_arn: Option<String>,
    pub data: Option<AmpDataClient>,
    /// `amp.remote_write`: when the canary was accepted.
    pub written_at: Option<Instant>,
    /// `amp.query`: how long the canary took to become queryable.
    pub arrival: Option<Duration>,
    /// `collector.config`: the config the collector is given.
    pub collector_config: Option<CollectorConfig>,
    /// `amg.workspace` … `grafana.datasource`: the Grafana side's facts.
    pub grafana: GrafanaFacts,
    /// `eks.cluster` … `iam.role_trust`: the cluster side's facts.
    pub cluster: crate::cluster::ClusterFacts,
    /// `amp.scraper` … `eks.scraper_access`: the AMP managed collector's facts.
    pub scraper: super::ScraperFacts,
}

/// Faults on the collector side (catalog F15-F17), applied by the links that set the
/// collector up. (F04 on the collector side needs no injection: a prometheus build that
/// does not sign, like Debian's 2.42, produces it in the `prometheus-process` scenario.)
#[derive(Clone, Debug, Default)]
pub struct CollectorFaults {
    /// Extra command-line arguments (a bad flag makes the collector exit: F15).
    pub extra_args: Vec<String>,
    /// The remote-write URL names another workspace (F16).
    pub other_workspace: bool,
    /// The scrape config points at a port where nothing listens (F17).
    pub wrong_scrape_port: bool,
}

/// The collector in the loop for one run, and what it scrapes and writes through.
pub struct CollectorRun {
    pub spec: CollectorSpec,
    pub exporter: Exporter,
    /// Shared with the run's teardown stack ([`CollectorRun::stopper`]).
    pub runtime: Arc<tokio::sync::Mutex<Box<dyn Runtime>>>,
    /// The signing proxy, when the scenario has one (started by `collector.config`).
    pub proxy: Arc<tokio::sync::Mutex<Option<SigningProxy>>>,
    /// Holds the collector's config and data; removed with the run.
    pub workdir: tempfile::TempDir,
    /// The collector's own HTTP port on 127.0.0.1 (its API and metrics).
    pub web_port: u16,
    pub faults: CollectorFaults,
}

impl CollectorRun {
    pub fn web_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.web_port)
    }

    /// What can be seen of the collector's writes right now.
    pub async fn observe(&self, http: &reqwest::Client) -> WriteObservation {
        let logs = self.runtime.lock().await.logs();
        let proxy = self.proxy.lock().await.as_ref().map(SigningProxy::stats);
        observe_writes(http, &self.web_url("/metrics"), &logs, proxy).await
    }

    /// What stops the collector and the proxy, for the run's teardown stack (pushed when
    /// the run is set up, before a link starts anything).
    pub fn stopper(&self) -> CollectorStop {
        CollectorStop {
            runtime: self.runtime.clone(),
            proxy: self.proxy.clone(),
        }
    }
}

/// Stops a run's collector (if it was started) and its signing proxy.
pub struct CollectorStop {
    runtime: Arc<tokio::sync::Mutex<Box<dyn Runtime>>>,
    proxy: Arc<tokio::sync::Mutex<Option<SigningProxy>>>,
}

impl Undo for CollectorStop {
    fn undo(self: Box<Self>, _: Unwind) -> BoxFuture<'static, Undone> {
        Box::pin(async move {
            let mut runtime = self.runtime.lock().await;
            let what = runtime.describe();
            runtime.stop().await;
            self.proxy.lock().await.take();
            Undone {
                lane: Lane::Collector,
                line: format!("stopped {what}"),
                what,
                fate: Fate::Removed,
                by_hand: None,
            }
        })
    }
}

pub struct RunContext {
    pub run_id: String,
    pub target: Target,
    pub canary: Canary,
    pub writer: WriterBehaviour,
    pub deadlines: Deadlines,
    pub facts: Mutex<Facts>,
    /// The collector in the loop (shape `collector`).
    pub collector: Option<CollectorRun>,
    /// What the run provisions and checks in Grafana.
    pub grafana: GrafanaRun,
    /// The run's redactor: a link registers a secret it obtains (a token) here at once.
    pub secrets: RunSecrets,
    /// The collector in an EKS cluster (shape `cluster`), with the run's cluster name.
    pub cluster: Option<crate::scenario::ClusterSpec>,
    /// The run's teardown stack: a link pushes what it makes in Grafana here at once.
    pub teardown: crate::chain::Teardown,
}

impl RunContext {
    /// Why the collector's namespace counts as using EKS Pod Identity, if it does (the
    /// scenario says so, or the namespace has associations); None outside a cluster.
    pub async fn pod_identity_in_use(&self, cluster: &str) -> Option<String> {
        let spec = self.cluster.as_ref()?;
        crate::cluster::pod_identity::why_in_use(
            &self.target.eks,
            self.deadlines.request_named(),
            cluster,
            spec,
        )
        .await
    }

    pub fn facts(&self) -> std::sync::MutexGuard<'_, Facts> {
        self.facts
            .lock()
            .expect("facts lock is never poisoned: links do not panic while holding it")
    }

    /// The data-plane client `amp.workspace` set up.
    pub fn data_client(&self) -> Option<AmpDataClient> {
        self.facts().data.clone()
    }

    /// The collector this run started, or the failed check a collector link reports
    /// when the scenario has none.
    pub fn local_collector(&self) -> Result<&CollectorRun, super::Check> {
        self.collector.as_ref().ok_or_else(|| {
            super::Check::fail(
                "this scenario has no collector",
                "use a scenario with `shape: collector`",
            )
        })
    }

    /// The remote-write URL the collector was configured with (`collector.config`).
    pub fn collector_remote_write_url(&self) -> String {
        self.facts()
            .collector_config
            .as_ref()
            .and_then(|c| c.remote_write.first().map(|r| r.url.clone()))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deadline_is_named_with_its_value() {
        let d = Deadlines {
            arrival: Duration::from_millis(2500),
            workspace: Duration::from_secs(2),
            request: Duration::from_secs(10),
        };
        assert_eq!(
            d.request_named().to_string(),
            "the request deadline of 10 s"
        );
        assert_eq!(
            d.arrival_named().to_string(),
            "the arrival deadline of 2.5 s"
        );
        assert_eq!(
            Deadline::new("link", Duration::from_millis(300)).to_string(),
            "the link deadline of 300 ms"
        );
    }
}
