//! `pipecheck diagnose`: static findings on a user's helm values, IAM policies,
//! collector configs (and image), the installed Prometheus CRD and Grafana data sources,
//! offline, in a second. Module map in `ARCHITECTURE.md` beside this crate.

mod amp;
mod collector;
mod collector_image;
mod command;
mod common;
mod context;
mod crd;
mod finding;
mod grafana;
mod inputs;
mod json;
mod names;
mod policies;
mod recognize;
mod remote_write;
mod render;
mod secrets;
mod values;
mod yaml;

pub use command::{DiagnoseArgs, Diagnosis, Format, diagnose_files, run};
pub use finding::{CHECKS, Check, Finding, Severity};
pub use inputs::{DiagnoseError, ParseMessage};
pub use render::JSON_VERSION;
