//! `pipecheck run --provision`: create what a scenario needs (tagged with the run), let
//! the links check it, remove it again; `pipecheck sweep` for what earlier runs left.
//! Module map: `resource.rs` (names, tags, delete commands), `plan.rs` (what to create),
//! `apply.rs` (create, each thing on the run's teardown stack, delete with retries), `kube.rs` (the
//! cluster objects of a Prometheus scenario), `report.rs` (the testcases), `for_run.rs` (what a run does with it),
//! `sweep.rs` (finding earlier runs' resources by tag), `existing.rs` (what `--plan` would use, read).

mod apply;
mod existing;
mod for_run;
mod kube;
mod plan;
mod report;
mod resource;
mod sweep;

pub use apply::{Clients, Deletion, ProvisionError, Provisioned, delete, provision};
pub use existing::existing;
pub use for_run::{RunProvision, teardown_case};
pub use kube::{CANARY_TARGET, canary_metrics};
pub use plan::{Plan, Step, plan, plans};
pub use report::{CREATE_CASE, TEARDOWN_CASE, created, kept, torn_down};
pub use resource::{
    CREATED_TAG, NAME_PREFIX, REMOTE_WRITE_POLICY, ROLE_PATH, RUN_NAME_PREFIX, RUN_TAG, Resource,
    RunTags, run_resource_name,
};
pub use sweep::{
    Found, Sweep, SweepArgs, SweepError, find, find_grafana, find_kube, prepare, remove,
    run as sweep,
};
