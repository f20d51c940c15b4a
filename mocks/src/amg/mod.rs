//! Mock Amazon Managed Grafana control plane (rest-json, SigV4 `grafana`) and the state of
//! its workspaces, including what each workspace's Grafana holds (served by
//! `crate::grafana`). See `shared/spec/amg-grafana-exact.md`, which wins over aws-wire.md C.

mod control;
pub mod error;
mod state;
pub mod token;

pub use control::{router, routes};
pub use error::AmgError;
pub use state::{
    AmgSettings, AmgState, ApiKey, AuthProvider, Authentication, GrafanaRole, Permission,
    ROLE_ACTIONS, SEED_DATA_SOURCE_NAME, SEED_DATA_SOURCE_UID, SEED_GRAFANA_VERSION,
    SEED_ROLE_ACCESS_KEY, SEED_ROLE_NAME, SamlStatus, SeedOptions, Seeded, ServiceAccount,
    ServiceAccountToken, UserType, Workspace, WorkspaceStatus, epoch_json, new_workspace_id,
    parse_version, workspace_arn,
};
