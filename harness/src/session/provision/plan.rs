//! What `--provision` creates for a scenario, decided before any call: `--plan` prints
//! it, the run creates it in this order and removes it in the reverse one.

use std::time::SystemTime;

use crate::scenario::{ClusterCollector, ClusterSpec};

use super::resource::{REMOTE_WRITE_POLICY, RunTags, run_resource_name};

/// One thing to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// An AMP workspace (none was given with `--workspace`), waited to ACTIVE.
    Workspace { alias: String },
    /// The collector's IRSA role: trusts exactly the scenario's namespace and service
    /// account through the cluster's OIDC provider.
    CollectorRole {
        name: String,
        cluster: String,
        namespace: String,
        service_account: String,
    },
    /// The role's inline policy: aps:RemoteWrite on the run's workspace only.
    RemoteWritePolicy { role: String, name: String },
    /// The cluster side, in a namespace of the run's own: the annotated service account,
    /// the collector (Prometheus in agent mode, or an OpenTelemetryCollector), a canary
    /// target.
    CollectorInCluster {
        kind: ClusterCollector,
        namespace: String,
        collector: String,
        service_account: String,
    },
}

impl Step {
    fn describe(&self) -> (&'static str, String, String) {
        match self {
            Step::Workspace { alias } => ("amp-workspace", alias.clone(), "alias".into()),
            Step::CollectorRole {
                name,
                cluster,
                namespace,
                service_account,
            } => (
                "iam-role",
                name.clone(),
                format!(
                    "trusts system:serviceaccount:{namespace}:{service_account} through cluster {cluster}'s OIDC provider"
                ),
            ),
            Step::CollectorInCluster {
                kind,
                namespace,
                collector,
                service_account,
            } => (
                "kube-namespace",
                namespace.clone(),
                format!(
                    "service account {service_account} annotated with the role, {} {collector}, canary target {}",
                    match kind {
                        ClusterCollector::Adot => "OpenTelemetryCollector",
                        ClusterCollector::Prometheus => "Prometheus in agent mode",
                        ClusterCollector::PrometheusOperator | ClusterCollector::Otelcol => {
                            "(not provisioned for this kind)"
                        }
                        // Not planned: `plan` leaves an AMP scraper's cluster alone.
                        ClusterCollector::AmpScraper => "AMP managed collector",
                    },
                    super::kube::CANARY_TARGET
                ),
            ),
            Step::RemoteWritePolicy { role, name } => (
                "iam-role-policy",
                format!("{role}/{name}"),
                "aps:RemoteWrite on the run's workspace only".into(),
            ),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub tags: RunTags,
    pub steps: Vec<Step>,
}

/// The plan for one scenario run: a workspace unless `workspace_given`, and for a cluster
/// scenario the collector's role and its remote-write policy.
pub fn plan(
    run_id: &str,
    cluster: Option<&ClusterSpec>,
    workspace_given: bool,
    now: SystemTime,
) -> Plan {
    let name = run_resource_name(run_id);
    let mut steps = Vec::new();
    if !workspace_given {
        steps.push(Step::Workspace {
            alias: name.clone(),
        });
    }
    // An AMP managed collector is AWS's, not provisioned: only the workspace is.
    if let Some(spec) = cluster.filter(|c| c.kind != ClusterCollector::AmpScraper) {
        let service_account = spec.service_account_name();
        // The collector is made in the run's own namespace, which the links then check.
        let namespace = name.clone();
        steps.push(Step::CollectorRole {
            name: name.clone(),
            cluster: spec.name.clone(),
            namespace: namespace.clone(),
            service_account: service_account.clone(),
        });
        steps.push(Step::RemoteWritePolicy {
            role: name,
            name: REMOTE_WRITE_POLICY.to_string(),
        });
        steps.push(Step::CollectorInCluster {
            kind: spec.kind,
            namespace,
            collector: spec.collector.clone(),
            service_account,
        });
    }
    Plan {
        tags: RunTags::new(run_id, now),
        steps,
    }
}

/// `--plan`: each scenario's plan under a run id of its own (a real run gets another).
pub fn plans(scenarios: &[crate::scenario::Scenario], workspace_given: bool) -> String {
    scenarios
        .iter()
        .map(|s| {
            let run_id = crate::canary::new_run_id();
            let p = plan(
                &run_id,
                s.cluster.as_ref(),
                workspace_given,
                SystemTime::now(),
            );
            format!("scenario {} (run id {run_id}):\n{}", s.name, p.render())
        })
        .collect()
}

impl Plan {
    /// The namespace the run makes its collector in, when it makes one: the run's links
    /// check that namespace.
    pub fn cluster_namespace(&self) -> Option<&str> {
        self.steps.iter().find_map(|s| match s {
            Step::CollectorInCluster { namespace, .. } => Some(namespace.as_str()),
            _ => None,
        })
    }

    /// One line per step: kind, name, tags, what it is for.
    pub fn render(&self) -> String {
        let tags: Vec<String> = self
            .tags
            .pairs()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let tags = tags.join(",");
        let mut out = String::new();
        for s in &self.steps {
            let (kind, name, what) = s.describe();
            out.push_str(&format!(
                "create {kind:<16} {name:<40} tags {tags}  ({what})\n"
            ));
        }
        if self.steps.is_empty() {
            out.push_str("nothing to create\n");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Scenario;

    #[test]
    fn a_cluster_scenario_gets_a_workspace_a_role_and_its_policy() {
        let s = Scenario::load("eks-prometheus").unwrap();
        let p = plan("pc-1", s.cluster.as_ref(), false, SystemTime::UNIX_EPOCH);
        let kinds: Vec<&str> = p.steps.iter().map(|s| s.describe().0).collect();
        assert_eq!(
            kinds,
            [
                "amp-workspace",
                "iam-role",
                "iam-role-policy",
                "kube-namespace"
            ]
        );
        assert_eq!(p.cluster_namespace(), Some("pipecheck-pc-1"));
        let adot = Scenario::load("eks-adot").unwrap();
        let p2 = plan("pc-1", adot.cluster.as_ref(), false, SystemTime::UNIX_EPOCH);
        assert!(
            p2.render().contains("OpenTelemetryCollector adot"),
            "{}",
            p2.render()
        );
        let text = p.render();
        assert!(text.contains("pipecheck-run=pc-1"), "{text}");
        assert!(
            text.contains("pipecheck-pc-1/pipecheck-remote-write"),
            "{text}"
        );
    }

    #[test]
    fn a_given_workspace_is_not_created() {
        let s = Scenario::load("smoke").unwrap();
        let p = plan("pc-1", s.cluster.as_ref(), true, SystemTime::UNIX_EPOCH);
        assert!(p.steps.is_empty());
        assert_eq!(p.render(), "nothing to create\n");
    }
}
