//! What the grafana links share: the run's Grafana plan (what to provision, which
//! dashboard and data source to check, the Grafana-side faults of a mock run) and the
//! facts they establish for each other.

use crate::grafana_client::GrafanaClient;

/// Data-source types that query AMP: Grafana's own Prometheus plugin (AMG before Grafana
/// 12) and the Amazon Managed Service for Prometheus plugin (AMG 12 and later).
pub const AMP_DATASOURCE_TYPES: &[&str] = &["prometheus", "grafana-amazonprometheus-datasource"];

/// What a run does and checks on the Grafana side.
#[derive(Clone, Debug, Default)]
pub struct GrafanaRun {
    /// Create a canary dashboard for this run (removed at its end) and check it.
    pub provision: bool,
    /// A dashboard of the user's to check too (uid).
    pub dashboard: Option<String>,
    /// The data source to check, by uid or name (None: the AMP data source that names the
    /// run's workspace).
    pub datasource: Option<String>,
    /// Create an AMP data source for this run (removed at its end) when Grafana holds none
    /// for the run's workspace.
    pub provision_datasource: bool,
    pub faults: GrafanaFaults,
    /// A watch's token (`pipecheck watch`): used and rotated by every run instead of a
    /// service account of each run's own.
    pub shared_token: Option<std::sync::Arc<super::grafana_token::SharedToken>>,
}

impl GrafanaRun {
    /// The uid of the canary dashboard of `run_id` (Grafana allows 40 characters).
    pub fn canary_dashboard_uid(run_id: &str) -> String {
        let uid = format!("pipecheck-{run_id}");
        uid.chars().take(40).collect()
    }

    /// The uid and name of the data source a run provisions (`pipecheck-<run id>`; data
    /// source uids allow 40 characters too).
    pub fn run_datasource_uid(run_id: &str) -> String {
        Self::canary_dashboard_uid(run_id)
    }
}

/// Grafana-side faults of a mock run (catalog F22, F25, F34) that live with the harness rather
/// than in the mock: the harness is the one holding the token and authoring the dashboard.
#[derive(Clone, Default)]
pub struct GrafanaFaults {
    /// F22: the run is handed this token (one Grafana refuses) instead of making its own.
    pub token: Option<String>,
    /// F25: the canary dashboard the run expects is never saved.
    pub skip_dashboard: bool,
    /// F25: the canary dashboard has a panel whose query matches nothing.
    pub panel_without_data: bool,
    /// F34: the canary dashboard queries the counter and the histogram by the names they
    /// had before the collector added `_total` and unit suffixes.
    pub dashboard_old_names: bool,
}

// The token must never reach a log line.
impl std::fmt::Debug for GrafanaFaults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrafanaFaults")
            .field("token", &self.token.as_ref().map(|_| "[REDACTED]"))
            .field("skip_dashboard", &self.skip_dashboard)
            .field("panel_without_data", &self.panel_without_data)
            .field("dashboard_old_names", &self.dashboard_old_names)
            .finish()
    }
}

/// A Grafana data source, as panels and queries reference it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataSourceRef {
    pub uid: String,
    pub name: String,
    /// The plugin type (`prometheus`, `grafana-amazonprometheus-datasource`).
    pub kind: String,
}

impl DataSourceRef {
    /// `{"type": …, "uid": …}`, as a query or panel names its data source.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({ "type": self.kind, "uid": self.uid })
    }
}

/// What the grafana links established, each for the links after it.
#[derive(Debug, Default)]
pub struct GrafanaFacts {
    /// `amg.workspace`: the AMG workspace, its IAM role, Grafana version, and the base
    /// URL of its Grafana HTTP API.
    pub workspace_id: Option<String>,
    pub role_arn: Option<String>,
    pub version: Option<String>,
    pub url: Option<String>,
    /// `grafana.api`: a client with a token Grafana accepts.
    pub client: Option<GrafanaClient>,
    /// `grafana.datasource`: the AMP data source of this run's workspace.
    pub datasource: Option<DataSourceRef>,
}

impl GrafanaFacts {
    /// What the links that query through Grafana (`grafana.query`, `grafana.dashboard`)
    /// start from: the client, the data source, and the workspace's IAM role (which signs
    /// Grafana's queries to AMP, when known). None without a client or a data source.
    pub fn query_inputs(&self) -> Option<(GrafanaClient, DataSourceRef, Option<String>)> {
        Some((
            self.client.clone()?,
            self.datasource.clone()?,
            self.role_arn.clone(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canary_uid_fits_and_token_is_hidden() {
        assert_eq!(
            GrafanaRun::canary_dashboard_uid("pc-0123456789ab"),
            "pipecheck-pc-0123456789ab"
        );
        assert_eq!(GrafanaRun::canary_dashboard_uid(&"x".repeat(60)).len(), 40);
        let f = GrafanaFaults {
            token: Some("glsa_secret".into()),
            ..Default::default()
        };
        assert!(!format!("{f:?}").contains("glsa_secret"));
    }
}
