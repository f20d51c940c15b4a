//! `--provision` within one scenario run: made before the links (which then check what was
//! made, each thing on the run's teardown stack), removed with the rest of the stack
//! after them; the run sees two testcases and the settings to check.

use std::time::{Duration, Instant, SystemTime};

use pipecheck_reports::LinkResult;

use super::apply::{Clients, ProvisionError, Provisioned, provision};
use super::plan::{Plan, plan};
use super::report::{created, kept, torn_down};
use crate::chain::{Fate, Teardown, Undone};
use crate::scenario::ClusterSpec;
use crate::target::Target;

pub struct RunProvision {
    plan: Plan,
    done: Result<Provisioned, ProvisionError>,
    /// The `provision.create` testcase.
    pub created: LinkResult,
}

impl RunProvision {
    /// Creates what the run's scenario needs (a workspace unless `given_workspace`; for a
    /// cluster scenario the role and the run's namespace), each step within `within` and
    /// on `teardown` as it is made.
    pub async fn start(
        target: &Target,
        run_id: &str,
        cluster: Option<&ClusterSpec>,
        given_workspace: Option<&str>,
        within: Duration,
        teardown: &Teardown,
    ) -> Self {
        let started = Instant::now();
        let plan = plan(
            run_id,
            cluster,
            given_workspace.is_some(),
            SystemTime::now(),
        );
        let clients = Clients::of(target);
        let done = provision(&clients, &plan, given_workspace, within, teardown).await;
        let created = created(&plan, &done, started.elapsed());
        Self {
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
}

/// The `provision.teardown` testcase of run `run_id` from its unwound stack (only the
/// provisioned part counts): what was removed, or kept with `--keep`.
pub fn teardown_case(run_id: &str, undone: &[Undone], took: Duration) -> LinkResult {
    let made: Vec<Undone> = undone
        .iter()
        .filter(|u| u.lane == crate::chain::Lane::Provisioned)
        .cloned()
        .collect();
    if !made.is_empty() && made.iter().all(|u| u.fate == Fate::Kept) {
        kept(&made, run_id)
    } else {
        torn_down(&made, took)
    }
}
