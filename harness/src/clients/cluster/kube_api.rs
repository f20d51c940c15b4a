//! Reading the Kubernetes API for the links: a failed call as a verdict (401, 403 with the
//! RBAC to grant, 404, unreachable), pods and containers as evidence lines, log tails and
//! Warning events. Nothing here writes to the cluster.

use k8s_openapi::api::core::v1::{Event, Pod};
use kube::Api;
use kube::api::{ListParams, LogParams};

/// One kind of Kubernetes API read the cluster links make: `verbs` on `resource`
/// (`pods/log` for a subresource) of API `group` ("" is the core group).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KubeRead {
    pub group: &'static str,
    pub resource: &'static str,
    pub verbs: &'static [&'static str],
}

/// Every Kubernetes API read of a read-only run (`--target aws`, readiness, the CronJob
/// in `deploy/cronjob.yaml`): the RBAC it needs, no more. A test runs the cluster
/// scenarios against the mock API, which records each request, and checks every one is
/// here; the manifest test checks the CronJob's ClusterRole grants exactly these.
/// Some reads happen only on a failure path (a missing namespace lists the others; an
/// OpenTelemetryCollector or Prometheus not found lists those there; a StatefulSet or
/// DaemonSet collector): they are here from the code. (`serviceaccounts/token` create is not: only
/// mock runs request tokens.)
pub const KUBE_READS: &[KubeRead] = &[
    KubeRead {
        group: "",
        resource: "namespaces",
        verbs: &["get", "list"],
    },
    KubeRead {
        group: "",
        resource: "serviceaccounts",
        verbs: &["get", "list"],
    },
    KubeRead {
        group: "",
        resource: "pods",
        verbs: &["list"],
    },
    KubeRead {
        group: "",
        resource: "pods/log",
        verbs: &["get"],
    },
    KubeRead {
        group: "",
        resource: "events",
        verbs: &["list"],
    },
    KubeRead {
        group: "",
        resource: "configmaps",
        verbs: &["get"],
    },
    KubeRead {
        group: "apps",
        resource: "deployments",
        verbs: &["get", "list"],
    },
    KubeRead {
        group: "apps",
        resource: "statefulsets",
        verbs: &["get", "list"],
    },
    KubeRead {
        group: "apps",
        resource: "daemonsets",
        verbs: &["get", "list"],
    },
    KubeRead {
        group: "opentelemetry.io",
        resource: "opentelemetrycollectors",
        verbs: &["get", "list"],
    },
    // The Prometheus operator's resources (kube-prometheus-stack), read by the cluster
    // links and listed in all namespaces by `pipecheck discover` (and `run` naming no
    // collector). Not `secrets`: the config the operator renders into its Secret is
    // judged from the resource instead, so a read-only run needs no access to secrets.
    KubeRead {
        group: "monitoring.coreos.com",
        resource: "prometheuses",
        verbs: &["get", "list"],
    },
    // The AMP managed collector's access (`k8s.scraper_rbac`; `eks.scraper_access` reads
    // kube-system/aws-auth, a ConfigMap).
    KubeRead {
        group: "rbac.authorization.k8s.io",
        resource: "clusterrolebindings",
        verbs: &["list"],
    },
    KubeRead {
        group: "rbac.authorization.k8s.io",
        resource: "clusterroles",
        verbs: &["get"],
    },
];

/// The non-resource URLs a read-only run reads (`k8s.api`: the server's version).
pub const KUBE_READ_URLS: &[&str] = &["/version"];

/// Whether [`KUBE_READS`] has `verb` on `resource` of `group`.
pub fn is_kube_read(verb: &str, group: &str, resource: &str) -> bool {
    KUBE_READS
        .iter()
        .any(|r| r.group == group && r.resource == resource && r.verbs.contains(&verb))
}

use crate::chain::Check;

/// What the API answered when a call failed.
#[derive(Clone, Debug)]
pub struct KubeFailure {
    /// The HTTP status of a `Status` answer; None when no answer came.
    pub code: Option<u16>,
    pub reason: String,
    pub message: String,
}

impl KubeFailure {
    pub fn of(e: &kube::Error) -> Self {
        match e {
            kube::Error::Api(s) => Self {
                code: Some(s.code),
                reason: s.reason.clone(),
                message: s.message.clone(),
            },
            other => Self {
                code: None,
                reason: "Unreachable".to_string(),
                message: one_line(&crate::error_chain(other)),
            },
        }
    }

    pub fn not_found(&self) -> bool {
        self.code == Some(404)
    }

    pub fn line(&self) -> String {
        match self.code {
            Some(c) => format!("{c} {}: {}", self.reason, self.message),
            None => self.message.clone(),
        }
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The verdict for a Kubernetes API call a link needed that failed. `what` completes
/// "could not …" (`read service account adot-col/adot-collector`); `rbac` names the
/// permission to grant (`get serviceaccounts in adot-col`).
pub fn api_failure(what: &str, rbac: &str, e: &kube::Error) -> Check {
    let f = KubeFailure::of(e);
    let (verdict, hint) = match f.code {
        Some(401) => (
            "the Kubernetes API refused the kubeconfig's credentials (401 Unauthorized)".to_string(),
            "refresh the kubeconfig (aws eks update-kubeconfig --name <cluster>); the IAM identity needs an EKS access entry or an aws-auth mapping".to_string(),
        ),
        Some(403) => (
            format!("not allowed to {what} (403 Forbidden)"),
            format!(
                "grant the kubeconfig's user read access: {rbac} (README: the read-only ClusterRole)"
            ),
        ),
        Some(_) => (
            format!("could not {what}: {}", f.reason),
            "see the evidence for the API server's answer".to_string(),
        ),
        None => (
            format!("could not reach the Kubernetes API to {what}"),
            "check the kubeconfig's server URL and network access to the cluster's API endpoint".to_string(),
        ),
    };
    Check::fail(verdict, hint).with("Kubernetes API", f.line())
}

/// Whether the pod's `Ready` condition is True.
pub fn pod_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

pub fn pod_name(pod: &Pod) -> &str {
    pod.metadata.name.as_deref().unwrap_or("?")
}

/// One evidence line per container: ready, restarts, state and the last termination.
pub fn container_summary(pod: &Pod) -> Vec<String> {
    let Some(statuses) = pod
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
    else {
        let phase = pod
            .status
            .as_ref()
            .and_then(|s| s.phase.clone())
            .unwrap_or_else(|| "Unknown".into());
        return vec![format!(
            "pod {}: phase {phase}, no container statuses yet",
            pod_name(pod)
        )];
    };
    statuses
        .iter()
        .map(|c| {
            let mut line = format!(
                "pod {} container {}: ready {}, {} restart{}",
                pod_name(pod),
                c.name,
                c.ready,
                c.restart_count,
                if c.restart_count == 1 { "" } else { "s" }
            );
            if let Some(state) = &c.state {
                if let Some(w) = &state.waiting {
                    line.push_str(&format!(
                        ", waiting: {}",
                        w.reason.as_deref().unwrap_or("?")
                    ));
                    if let Some(m) = &w.message {
                        line.push_str(&format!(" ({m})"));
                    }
                } else if state.running.is_some() {
                    line.push_str(", running");
                } else if let Some(t) = &state.terminated {
                    line.push_str(&format!(
                        ", terminated: exit {} ({})",
                        t.exit_code,
                        t.reason.as_deref().unwrap_or("?")
                    ));
                }
            }
            if let Some(t) = c.last_state.as_ref().and_then(|s| s.terminated.as_ref()) {
                line.push_str(&format!(
                    "; last terminated with exit {} ({})",
                    t.exit_code,
                    t.reason.as_deref().unwrap_or("?")
                ));
            }
            line
        })
        .collect()
}

/// The first container of the pod that is waiting, with its reason and message.
pub fn waiting(pod: &Pod) -> Option<(String, String, Option<String>)> {
    pod.status
        .as_ref()?
        .container_statuses
        .as_ref()?
        .iter()
        .find_map(|c| {
            let w = c.state.as_ref()?.waiting.as_ref()?;
            Some((
                c.name.clone(),
                w.reason.clone().unwrap_or_default(),
                w.message.clone(),
            ))
        })
}

/// The restart count of a container of the pod (0 when unknown).
pub fn restarts(pod: &Pod, container: &str) -> i32 {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.name == container))
        .map(|c| c.restart_count)
        .unwrap_or(0)
}

/// The last `n` lines of a container's log; of the previous instance when `previous`
/// (what `kubectl logs --previous` shows for a crash-looping container).
pub async fn last_log_lines(
    client: &kube::Client,
    ns: &str,
    pod: &str,
    container: &str,
    previous: bool,
    n: i64,
) -> Result<Vec<String>, KubeFailure> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let lp = LogParams {
        container: Some(container.to_string()),
        previous,
        tail_lines: Some(n),
        ..LogParams::default()
    };
    let text = pods.logs(pod, &lp).await.map_err(|e| KubeFailure::of(&e))?;
    Ok(text
        .lines()
        .map(str::to_string)
        .filter(|l| !l.trim().is_empty())
        .collect())
}

/// The Warning events about an object (`involvedObject.name`), newest last, as
/// `Reason: message` lines. Empty when they cannot be read.
pub async fn warning_events(client: &kube::Client, ns: &str, name: &str) -> Vec<String> {
    let events: Api<Event> = Api::namespaced(client.clone(), ns);
    let lp = ListParams::default().fields(&format!("involvedObject.name={name}"));
    let Ok(list) = events.list(&lp).await else {
        return Vec::new();
    };
    list.items
        .iter()
        .filter(|e| e.type_.as_deref() == Some("Warning"))
        .map(|e| {
            format!(
                "{} {}: {}",
                e.reason.as_deref().unwrap_or("?"),
                name,
                e.message.as_deref().unwrap_or("")
            )
        })
        .collect()
}

#[cfg(test)]
mod reads_tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use pipecheck_mocks::{MockConfig, MockStack};

    use super::is_kube_read;
    use crate::run::{RunOptions, run_scenario_in};
    use crate::scenario::Scenario;
    use crate::target::{Environment, KubeSettings, TargetKind};

    /// A `--target aws` run of `scenario` against `stack`, as readiness and the CronJob
    /// make it (no tokens requested); every Kubernetes request it made.
    async fn reads_of(scenario: &str, stack: &MockStack) -> Vec<(String, String, String)> {
        let ep = stack.endpoints();
        let vars: BTreeMap<String, String> = crate::services::Service::mock_endpoint_vars(ep)
            .into_iter()
            .chain([
                ("AWS_ACCESS_KEY_ID", ep.user.access_key_id.clone()),
                ("AWS_SECRET_ACCESS_KEY", ep.user.secret_access_key.clone()),
                ("AWS_REGION", ep.region.clone()),
                (
                    "PIPECHECK_WORKSPACE_ID",
                    ep.workspace_id.clone().unwrap_or_default(),
                ),
            ])
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        let opts = RunOptions {
            target: TargetKind::Aws,
            region: None,
            workspace_id: None,
            faults: Vec::new(),
            collector_bin: None,
            collector_image: None,
            grafana_workspace_id: None,
            grafana_url: None,
            cluster_name: None,
            kube: KubeSettings {
                kubeconfig: Some(ep.kubeconfig.clone()),
                context: None,
            },
            provision: false,
            keep: false,
        };
        let s = Scenario::load(scenario).unwrap();
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        let env = Environment::Given(Arc::new(vars));
        let report = run_scenario_in(&s, &opts, &env, &tx, &Default::default())
            .await
            .unwrap();
        let last = if s
            .cluster
            .as_ref()
            .is_some_and(|c| c.kind == crate::scenario::ClusterCollector::AmpScraper)
        {
            crate::chain::LinkId::ScraperDelivery
        } else {
            crate::chain::LinkId::CollectorRunning
        };
        assert!(
            report.links.iter().any(|l| l.name == last.as_str()),
            "{scenario}: {:?}",
            report.links
        );
        stack.kube.accesses()
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn every_read_of_the_cluster_links_is_in_kube_reads() {
        let mut seen = Vec::new();
        // ADOT: healthy, crash-looping (pod events, the previous container's log), and
        // with a sigv4 role_arn naming its own role (the service account read again).
        for fault in [
            None,
            Some("collector-crash-loop"),
            Some("sigv4-assumes-own-role"),
        ] {
            let stack = MockStack::start(MockConfig::default()).await.unwrap();
            if let Some(f) = fault {
                let faults = [crate::faults::find(f).unwrap()];
                let cluster = crate::faults::standalone_cluster(&faults).unwrap();
                crate::faults::inject_standalone(&stack, &cluster, &faults).unwrap();
            }
            seen.extend(reads_of("eks-adot", &stack).await);
            stack.shutdown().await;
        }
        // The Prometheus chart's server, kube-prometheus-stack's Prometheus resource, the
        // OpenTelemetry collector chart's DaemonSet.
        for name in [
            "eks-prometheus",
            "eks-kube-prometheus-stack",
            "eks-otel-daemonset",
        ] {
            let spec = Scenario::load(name).unwrap().cluster.unwrap();
            let shape = crate::cluster::mock_shape(&spec);
            let stack = MockStack::start(MockConfig {
                cluster: Some(shape.seed()),
                ..MockConfig::default()
            })
            .await
            .unwrap();
            stack.prepare_cluster(&shape).unwrap();
            seen.extend(reads_of(name, &stack).await);
            stack.shutdown().await;
        }
        assert!(
            seen.iter()
                .any(|(v, g, r)| v == "get" && g == "monitoring.coreos.com" && r == "prometheuses"),
            "{seen:?}"
        );
        assert!(
            !seen.iter().any(|(_, _, r)| r == "secrets"),
            "a read-only run reads no secrets: {seen:?}"
        );
        // The AMP managed collector: its role's access (aws-auth read when it has no access
        // entry) and RBAC.
        let scraper = Scenario::load("eks-amp-scraper").unwrap().cluster.unwrap();
        let shape = crate::cluster::mock_shape(&scraper);
        let stack = MockStack::start(MockConfig {
            cluster: Some(shape.seed()),
            ..MockConfig::default()
        })
        .await
        .unwrap();
        stack.prepare_cluster(&shape).unwrap();
        seen.extend(reads_of("eks-amp-scraper", &stack).await);
        stack
            .inject(&pipecheck_mocks::MockFault::Cluster(
                pipecheck_mocks::ClusterFault::ScraperNoAccessEntry,
            ))
            .unwrap();
        seen.extend(reads_of("eks-amp-scraper", &stack).await);
        stack.shutdown().await;
        assert!(
            seen.iter()
                .any(|(v, _, r)| v == "list" && r == "clusterrolebindings"),
            "{seen:?}"
        );

        assert!(
            seen.iter().any(|(v, _, r)| v == "get" && r == "pods/log"),
            "{seen:?}"
        );
        let missing: Vec<_> = seen
            .iter()
            .filter(|(verb, group, resource)| !is_kube_read(verb, group, resource))
            .collect();
        assert!(missing.is_empty(), "reads not in KUBE_READS: {missing:?}");
    }
}
