//! Mock Grafana HTTP API of an AMG workspace: bearer authentication with the tokens and
//! API keys the mock AMG issued, data sources, the AMP query path (SigV4-signed as the
//! workspace role, answered in Grafana's data-frame JSON), dashboards. Shapes:
//! `shared/spec/amg-grafana-exact.md`. The content lives in the AMG workspace
//! (`amg::Workspace::grafana`), so both listeners share one state.

mod auth;
mod content;
mod dashboards;
mod datasources;
mod error;
mod frames;
mod query;
mod server;

pub use auth::Caller;
pub use content::{
    AMP_PLUGIN_TYPE, AmpHttpErrors, Dashboard, DataSource, GrafanaBehaviour, GrafanaContent,
    slugify,
};
pub use error::{GrafanaError, KeyProblem};
pub use frames::{
    FrameOptions, executed_query_string, go_duration, parse_prom_float, prometheus_data_to_frames,
};
pub use server::{GrafanaServer, MAX_BODY, router};
