//! `--provision` within one scenario run: made before the links (which then check what was
//! made), removed after them; the run sees two testcases and the settings to check.

use std::time::{Duration, Instant, SystemTime};

use pipecheck_reports::LinkResult;

use super::apply::{Clients, ProvisionError, Provisioned, forget, provision, teardown};
use super::plan::{Plan, plan};
use super::report::{created, kept, torn_down};
use crate::scenario::ClusterSpec;
use crate::target::Target;

pub struct RunProvision {
    run_id: String,
    plan: Plan,
    done: Result<Provisioned, ProvisionError>,
    /// The `provision.create` testcase.
    pub created: LinkResult,
}

impl RunProvision {
    /// Creates what the run's scenario needs (a workspace unless `given_workspace`; for a
    /// cluster scenario the role and the run's namespace), each step within `within`.
    pub async fn start(
        target: &Target,
        run_id: &str,
        cluster: Option<&ClusterSpec>,
        given_workspace: Option<&str>,
        within: Duration,
    ) -> Self {
        let started = Instant::now();
        let plan = plan(
            run_id,
            cluster,
            given_workspace.is_some(),
            SystemTime::now(),
        );
        let done = provision(&Clients::of(target), &plan, given_workspace, within).await;
        let created = created(&plan, &done, started.elapsed());
        Self {
            run_id: run_id.to_string(),
            plan,
            done,
            created,
        }
    }

    /// Whether provisioning failed (the links then have nothing to check).
    pub fn failed(&self) -> bool {
        self.done.is_err()
    }

    /// Points the run at what was made: the workspace, and the collector's namespace.
    pub fn apply(&self, target: &mut Target, cluster: Option<&mut ClusterSpec>) {
        let Ok(p) = &self.done else { return };
        target.workspace_id = p.workspace_id.clone();
        if let (Some(ns), Some(spec)) = (self.plan.cluster_namespace(), cluster) {
            spec.namespace = ns.to_string();
        }
    }

    /// Removes what was made, newest first (`keep`: leaves it, saying how to remove it):
    /// the `provision.teardown` testcase.
    pub async fn finish(self, keep: bool, region: &str) -> LinkResult {
        let started = Instant::now();
        match (&self.done, keep) {
            (Ok(p), true) => {
                forget(Some(&self.run_id));
                kept(p, region, &self.run_id)
            }
            _ => torn_down(&teardown(&self.run_id).await, started.elapsed()),
        }
    }
}
