//! The mock AMG's state: workspaces with everything the control plane shows about them
//! (status, authentication, permissions, service accounts, tokens, API keys, tags) and,
//! per workspace, the content of its Grafana (data sources, dashboards), which the mock
//! Grafana HTTP API serves. One `Arc<AmgState>` is shared by both listeners, so a token
//! made through the control plane works on the Grafana API at once, and a fault set here
//! shows on both.
//!
//! Faults are plain state: every field is public and [`AmgState::with_workspace`] edits a
//! workspace in place; the methods below name the usual ones (F21-F25).

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;

use super::token;
use crate::clock::Clock;
use crate::grafana::{DataSource, GrafanaContent};
use crate::identity::{Identities, Identity, MOCK_ACCOUNT};

/// The name of the workspace role the seed creates (a service-managed AMG role is named
/// `AmazonGrafanaServiceRole-<random>` under `service-role/`).
pub const SEED_ROLE_NAME: &str = "AmazonGrafanaServiceRole-pipecheck";
/// The access key of the seeded workspace role's (temporary) credentials.
pub const SEED_ROLE_ACCESS_KEY: &str = "ASIAPIPECHECKGRAFANA";
/// The Grafana version of the seeded workspace.
pub const SEED_GRAFANA_VERSION: &str = "10.4";
/// The name AMG gives the AMP data source it provisions [unconfirmed].
pub const SEED_DATA_SOURCE_NAME: &str = "Amazon Managed Prometheus";
/// The uid of the seeded AMP data source (made up: AMG's are random).
pub const SEED_DATA_SOURCE_UID: &str = "pipecheck-amp";

/// The IAM actions the seeded workspace role may perform: what AMG's service-managed
/// policy for the PROMETHEUS data source grants (`AmazonGrafanaServiceRole` +
/// `AmazonPrometheusQueryAccess`).
pub const ROLE_ACTIONS: &[&str] = &[
    "aps:ListWorkspaces",
    "aps:DescribeWorkspace",
    "aps:QueryMetrics",
    "aps:GetLabels",
    "aps:GetSeries",
    "aps:GetMetricMetadata",
];

/// The model's `WorkspaceStatus` (including `DEGRADED`, amg-grafana-exact.md §1.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkspaceStatus {
    Active,
    Creating,
    Deleting,
    Failed,
    Updating,
    Upgrading,
    DeletionFailed,
    CreationFailed,
    UpdateFailed,
    UpgradeFailed,
    LicenseRemovalFailed,
    VersionUpdating,
    VersionUpdateFailed,
    Degraded,
}

impl WorkspaceStatus {
    pub const ALL: [Self; 14] = [
        Self::Active,
        Self::Creating,
        Self::Deleting,
        Self::Failed,
        Self::Updating,
        Self::Upgrading,
        Self::DeletionFailed,
        Self::CreationFailed,
        Self::UpdateFailed,
        Self::UpgradeFailed,
        Self::LicenseRemovalFailed,
        Self::VersionUpdating,
        Self::VersionUpdateFailed,
        Self::Degraded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "ACTIVE",
            Self::Creating => "CREATING",
            Self::Deleting => "DELETING",
            Self::Failed => "FAILED",
            Self::Updating => "UPDATING",
            Self::Upgrading => "UPGRADING",
            Self::DeletionFailed => "DELETION_FAILED",
            Self::CreationFailed => "CREATION_FAILED",
            Self::UpdateFailed => "UPDATE_FAILED",
            Self::UpgradeFailed => "UPGRADE_FAILED",
            Self::LicenseRemovalFailed => "LICENSE_REMOVAL_FAILED",
            Self::VersionUpdating => "VERSION_UPDATING",
            Self::VersionUpdateFailed => "VERSION_UPDATE_FAILED",
            Self::Degraded => "DEGRADED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// Whether the workspace's Grafana answers. A workspace that does not exist yet, is
    /// going away or failed has no Grafana behind its endpoint; one being updated,
    /// upgraded, degraded or whose last update failed still serves [inferred].
    pub fn serves_grafana(self) -> bool {
        !matches!(
            self,
            Self::Creating
                | Self::CreationFailed
                | Self::Deleting
                | Self::DeletionFailed
                | Self::Failed
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthProvider {
    AwsSso,
    Saml,
}

impl AuthProvider {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AwsSso => "AWS_SSO",
            Self::Saml => "SAML",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SamlStatus {
    Configured,
    NotConfigured,
}

impl SamlStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Configured => "CONFIGURED",
            Self::NotConfigured => "NOT_CONFIGURED",
        }
    }
}

/// `authentication` of a workspace. `providers` is never empty on the real service
/// (CreateWorkspace requires it); the mock lets a test empty it anyway.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authentication {
    pub providers: Vec<AuthProvider>,
    /// Shown when SAML is a provider.
    pub saml_status: Option<SamlStatus>,
}

impl Authentication {
    pub fn aws_sso() -> Self {
        Self {
            providers: vec![AuthProvider::AwsSso],
            saml_status: None,
        }
    }

    /// SAML chosen but never configured: nobody can log in (F21).
    pub fn saml_not_configured() -> Self {
        Self {
            providers: vec![AuthProvider::Saml],
            saml_status: Some(SamlStatus::NotConfigured),
        }
    }

    /// `AuthenticationSummary` JSON.
    pub fn summary_json(&self) -> serde_json::Value {
        let mut v = json!({
            "providers": self.providers.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
        });
        if let Some(s) = self.saml_status {
            v["samlConfigurationStatus"] = json!(s.as_str());
        }
        v
    }
}

/// A Grafana organization role, as AMG names it (`Role` enum) and as Grafana does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum GrafanaRole {
    Viewer,
    Editor,
    Admin,
}

impl GrafanaRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "ADMIN",
            Self::Editor => "EDITOR",
            Self::Viewer => "VIEWER",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ADMIN" => Some(Self::Admin),
            "EDITOR" => Some(Self::Editor),
            "VIEWER" => Some(Self::Viewer),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserType {
    SsoUser,
    SsoGroup,
}

impl UserType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SsoUser => "SSO_USER",
            Self::SsoGroup => "SSO_GROUP",
        }
    }
}

/// One IAM Identity Center user or group with a role in the workspace
/// (`GET /workspaces/{id}/permissions`). None at all: nobody can log in (F21).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Permission {
    pub user_id: String,
    pub user_type: UserType,
    pub role: GrafanaRole,
}

#[derive(Clone)]
pub struct ServiceAccountToken {
    /// A decimal string, unique in the workspace.
    pub id: String,
    pub name: String,
    /// The `glsa_…` secret. Never log it.
    pub key: String,
    pub created_at: SystemTime,
    pub expires_at: SystemTime,
    pub last_used_at: Option<SystemTime>,
    /// Revoked (e.g. by secret scanning): Grafana answers `Revoked API key`.
    pub revoked: bool,
}

// Keys must never reach a log line.
impl std::fmt::Debug for ServiceAccountToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccountToken")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("key", &"*** Sensitive Data Redacted ***")
            .field("expires_at", &self.expires_at)
            .field("revoked", &self.revoked)
            .finish()
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKey")
            .field("name", &self.name)
            .field("role", &self.role)
            .field("key", &"*** Sensitive Data Redacted ***")
            .finish()
    }
}

#[derive(Clone, Debug)]
pub struct ServiceAccount {
    /// A decimal string, unique in the workspace (Grafana's user id).
    pub id: String,
    pub name: String,
    pub role: GrafanaRole,
    pub disabled: bool,
    pub tokens: Vec<ServiceAccountToken>,
}

/// A legacy API key (Grafana < 12).
#[derive(Clone)]
pub struct ApiKey {
    pub name: String,
    /// The base64 key. Never log it.
    pub key: String,
    pub role: GrafanaRole,
    pub created_at: SystemTime,
    pub expires_at: SystemTime,
    pub revoked: bool,
}

#[derive(Debug)]
pub struct Workspace {
    /// `g-` + 10 hex digits.
    pub id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub status: WorkspaceStatus,
    /// `degradedWorkspaceReason`, shown with DEGRADED.
    pub degraded_reason: Option<String>,
    /// e.g. `10.4`.
    pub grafana_version: String,
    pub authentication: Authentication,
    /// The AWS data sources the service-managed role may read (`dataSources`), e.g.
    /// `PROMETHEUS`. Distinct from the data sources inside Grafana.
    pub data_sources: Vec<String>,
    pub account_access_type: String,
    pub permission_type: String,
    pub workspace_role_arn: Option<String>,
    /// Access key (in the shared [`Identities`]) of the credentials Grafana gets from the
    /// workspace role; the mock Grafana signs AMP queries with it.
    pub role_access_key_id: Option<String>,
    /// Bare host (no scheme), as AMG shows it; the stack sets `127.0.0.1:<port>`.
    pub endpoint: String,
    pub created: SystemTime,
    pub modified: SystemTime,
    pub tags: BTreeMap<String, String>,
    pub permissions: Vec<Permission>,
    pub service_accounts: Vec<ServiceAccount>,
    pub api_keys: Vec<ApiKey>,
    /// Next Grafana user id for a service account (id 1 is Grafana's admin user).
    pub next_service_account_id: u64,
    pub next_token_id: u64,
    /// What the workspace's Grafana holds.
    pub grafana: GrafanaContent,
}

impl Workspace {
    /// A workspace as CreateWorkspace would leave it once ACTIVE: AWS_SSO, service
    /// managed, current account, no data sources, no role, no permissions.
    pub fn new(id: String, region: &str, grafana_version: &str, now: SystemTime) -> Self {
        let endpoint = format!("{id}.grafana-workspace.{region}.amazonaws.com");
        Self {
            id,
            name: None,
            description: None,
            status: WorkspaceStatus::Active,
            degraded_reason: None,
            grafana_version: grafana_version.to_string(),
            authentication: Authentication::aws_sso(),
            data_sources: Vec::new(),
            account_access_type: "CURRENT_ACCOUNT".to_string(),
            permission_type: "SERVICE_MANAGED".to_string(),
            workspace_role_arn: None,
            role_access_key_id: None,
            endpoint,
            created: now,
            modified: now,
            tags: BTreeMap::new(),
            permissions: Vec::new(),
            service_accounts: Vec::new(),
            api_keys: Vec::new(),
            next_service_account_id: 2,
            next_token_id: 1,
            grafana: GrafanaContent::default(),
        }
    }

    /// `(major, minor)` of `grafana_version`; unparsable parts are 0.
    pub fn version(&self) -> (u32, u32) {
        parse_version(&self.grafana_version)
    }

    /// AWS removed API keys from AMG's Grafana 12 (AWS user guide, "v10-using-api-keys").
    pub fn api_keys_supported(&self) -> bool {
        self.version().0 < 12
    }

    /// Service accounts exist from Grafana 9.
    pub fn service_accounts_supported(&self) -> bool {
        self.version().0 >= 9
    }

    pub fn service_account(&self, id: &str) -> Option<&ServiceAccount> {
        self.service_accounts.iter().find(|s| s.id == id)
    }

    pub fn service_account_mut(&mut self, id: &str) -> Option<&mut ServiceAccount> {
        self.service_accounts.iter_mut().find(|s| s.id == id)
    }

    /// Makes a service account (no name check: the control plane does that).
    pub fn add_service_account(&mut self, name: &str, role: GrafanaRole) -> String {
        let id = self.next_service_account_id.to_string();
        self.next_service_account_id += 1;
        self.service_accounts.push(ServiceAccount {
            id: id.clone(),
            name: name.to_string(),
            role,
            disabled: false,
            tokens: Vec::new(),
        });
        id
    }

    /// Adds a fresh token to service account `sa_id`; returns `(token id, key)`.
    pub fn add_token(
        &mut self,
        sa_id: &str,
        name: &str,
        ttl: Duration,
        now: SystemTime,
    ) -> Option<(String, String)> {
        let id = self.next_token_id.to_string();
        let sa = self.service_accounts.iter_mut().find(|s| s.id == sa_id)?;
        let key = token::new_service_account_token();
        sa.tokens.push(ServiceAccountToken {
            id: id.clone(),
            name: name.to_string(),
            key: key.clone(),
            created_at: now,
            expires_at: now + ttl,
            last_used_at: None,
            revoked: false,
        });
        self.next_token_id += 1;
        Some((id, key))
    }

    /// The workspace's ARN (AMG ARNs have `/workspaces/` after the account).
    pub fn arn(&self, region: &str) -> String {
        workspace_arn(region, &self.id)
    }
}

pub fn workspace_arn(region: &str, id: &str) -> String {
    format!("arn:aws:grafana:{region}:{MOCK_ACCOUNT}:/workspaces/{id}")
}

pub fn parse_version(v: &str) -> (u32, u32) {
    let mut it = v.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    (it.next().unwrap_or(0), it.next().unwrap_or(0))
}

/// A new workspace id: `g-` + 10 lowercase hex digits.
pub fn new_workspace_id() -> String {
    let u = uuid::Uuid::new_v4();
    format!("g-{}", &hex::encode(u.as_bytes())[..10])
}

/// Epoch seconds (with milliseconds) as a JSON number, as rest-json timestamps are.
pub fn epoch_json(t: SystemTime) -> serde_json::Value {
    let ms = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    if ms % 1000 == 0 {
        json!(ms / 1000)
    } else {
        json!(ms as f64 / 1000.0)
    }
}

/// Limits and knobs of the mock AMG.
#[derive(Clone, Debug)]
pub struct AmgSettings {
    /// Allowed SigV4 clock skew.
    pub max_skew: Duration,
    /// Service accounts per workspace (the AMG quota's value is unconfirmed).
    pub max_service_accounts: usize,
    /// Tokens per service account; expired tokens count until deleted (AWS user guide,
    /// "service-accounts") [value unconfirmed].
    pub max_tokens_per_service_account: usize,
}

impl Default for AmgSettings {
    fn default() -> Self {
        Self {
            max_skew: Duration::from_secs(5 * 60),
            max_service_accounts: 100,
            max_tokens_per_service_account: 100,
        }
    }
}

/// What [`AmgState::seed`] needs to know about the rest of the stack.
#[derive(Clone, Debug)]
pub struct SeedOptions {
    /// Bare `host:port` of the mock Grafana listener.
    pub endpoint: String,
    /// The AMP workspace's `prometheusEndpoint` (`<amp base>/workspaces/<id>/`), if the
    /// stack has one: the seeded AMP data source points at it.
    pub prometheus_endpoint: Option<String>,
    pub grafana_version: String,
}

/// What the seed made.
#[derive(Clone, Debug)]
pub struct Seeded {
    pub workspace_id: String,
    /// The workspace role's credentials, as inserted into the shared identities.
    pub role: Identity,
}

#[derive(Debug)]
pub struct AmgState {
    /// The region this endpoint serves; SigV4 scopes must name it.
    pub region: String,
    pub settings: AmgSettings,
    pub identities: Arc<Identities>,
    pub clock: Arc<Clock>,
    workspaces: RwLock<BTreeMap<String, Workspace>>,
}

impl AmgState {
    pub fn new(
        region: &str,
        settings: AmgSettings,
        identities: Arc<Identities>,
        clock: Arc<Clock>,
    ) -> Self {
        Self {
            region: region.to_string(),
            settings,
            identities,
            clock,
            workspaces: RwLock::new(BTreeMap::new()),
        }
    }

    pub fn insert_workspace(&self, ws: Workspace) {
        self.workspaces.write().unwrap().insert(ws.id.clone(), ws);
    }

    /// Runs `f` on the workspace with this id, if any: the one door for faults.
    pub fn with_workspace<R>(&self, id: &str, f: impl FnOnce(&mut Workspace) -> R) -> Option<R> {
        self.workspaces.write().unwrap().get_mut(id).map(f)
    }

    /// Every workspace, sorted by id, as `f` maps it.
    pub fn list_workspaces<R>(&self, f: impl FnMut(&Workspace) -> R) -> Vec<R> {
        self.workspaces.read().unwrap().values().map(f).collect()
    }

    pub fn remove_workspace(&self, id: &str) -> Option<Workspace> {
        self.workspaces.write().unwrap().remove(id)
    }

    /// The stack's workspace: ACTIVE, Grafana 10.4, AWS_SSO with one Identity Center
    /// user as ADMIN, `dataSources: [PROMETHEUS]`, a service-managed role whose
    /// credentials go into the shared identities, and, when the stack has an AMP
    /// workspace, Grafana holding the AMP data source AMG provisions (type `prometheus`
    /// before Grafana 12, SigV4 with the workspace role).
    pub fn seed(&self, opts: &SeedOptions) -> Seeded {
        let now = self.clock.now();
        let id = new_workspace_id();
        let role_arn = format!("arn:aws:iam::{MOCK_ACCOUNT}:role/service-role/{SEED_ROLE_NAME}");
        // Grafana runs with the role's temporary credentials, so AWS names the caller by
        // its assumed-role ARN; the session name is the mock's choice [inferred].
        let role = Identity {
            access_key_id: SEED_ROLE_ACCESS_KEY.to_string(),
            secret_access_key: token::random_alnum(40),
            session_token: Some(format!(
                "pipecheck-grafana-session-{}",
                token::random_alnum(24)
            )),
            arn: format!("arn:aws:sts::{MOCK_ACCOUNT}:assumed-role/{SEED_ROLE_NAME}/{id}"),
            account: MOCK_ACCOUNT.to_string(),
            user_id: format!("AROAPIPECHECKGRAFANA:{id}"),
            allowed_actions: ROLE_ACTIONS.iter().map(|a| a.to_string()).collect(),
            expired: false,
        };
        self.identities.insert(role.clone());

        let mut ws = Workspace::new(id.clone(), &self.region, &opts.grafana_version, now);
        ws.name = Some("pipecheck".to_string());
        ws.endpoint = opts.endpoint.clone();
        ws.data_sources = vec!["PROMETHEUS".to_string()];
        ws.workspace_role_arn = Some(role_arn);
        ws.role_access_key_id = Some(role.access_key_id.clone());
        ws.permissions = vec![Permission {
            user_id: "90677a4f6d-pipecheck-admin".to_string(),
            user_type: UserType::SsoUser,
            role: GrafanaRole::Admin,
        }];
        if let Some(url) = &opts.prometheus_endpoint {
            let ds = DataSource::amp(
                SEED_DATA_SOURCE_UID,
                SEED_DATA_SOURCE_NAME,
                &opts.grafana_version,
                url,
                &self.region,
            );
            ws.grafana.add_data_source(ds);
        }
        self.insert_workspace(ws);
        Seeded {
            workspace_id: id,
            role,
        }
    }

    // --- Fault helpers (F21-F25). Each returns false when the workspace is unknown. ---

    /// F21: a workspace status other than ACTIVE (CREATING, FAILED, DEGRADED, …).
    pub fn set_status(&self, ws: &str, status: WorkspaceStatus) -> bool {
        let now = self.clock.now();
        self.with_workspace(ws, |w| {
            w.status = status;
            w.degraded_reason = (status == WorkspaceStatus::Degraded)
                .then(|| "The workspace is degraded (pipecheck mock fault).".to_string());
            w.modified = now;
        })
        .is_some()
    }

    /// F21: nobody can log in: SAML `NOT_CONFIGURED` and no Identity Center permissions.
    pub fn set_authentication(&self, ws: &str, auth: Authentication) -> bool {
        self.with_workspace(ws, |w| w.authentication = auth)
            .is_some()
    }

    /// F21: no Identity Center user or group has a role in the workspace.
    pub fn clear_permissions(&self, ws: &str) -> bool {
        self.with_workspace(ws, |w| w.permissions.clear()).is_some()
    }

    /// F22: every token and API key of the workspace has expired (Grafana answers
    /// `Expired API key`).
    pub(crate) fn expire_tokens(&self, ws: &str) -> bool {
        let past = self.clock.now() - Duration::from_secs(1);
        self.with_workspace(ws, |w| {
            for t in w
                .service_accounts
                .iter_mut()
                .flat_map(|s| s.tokens.iter_mut())
            {
                t.expires_at = past;
            }
            for k in &mut w.api_keys {
                k.expires_at = past;
            }
        })
        .is_some()
    }

    /// F22: every token and API key is revoked (`Revoked API key`).
    pub fn revoke_tokens(&self, ws: &str) -> bool {
        self.with_workspace(ws, |w| {
            for t in w
                .service_accounts
                .iter_mut()
                .flat_map(|s| s.tokens.iter_mut())
            {
                t.revoked = true;
            }
            for k in &mut w.api_keys {
                k.revoked = true;
            }
        })
        .is_some()
    }

    /// F22: tokens and service accounts deleted behind the caller's back
    /// (`Invalid API key`).
    pub fn delete_credentials(&self, ws: &str) -> bool {
        self.with_workspace(ws, |w| {
            w.service_accounts.clear();
            w.api_keys.clear();
        })
        .is_some()
    }

    /// F23: Grafana holds no data source.
    pub fn remove_data_sources(&self, ws: &str) -> bool {
        self.with_workspace(ws, |w| w.grafana.data_sources.clear())
            .is_some()
    }

    /// F23: edits the data source with this uid (point its `url` at another workspace,
    /// set `jsonData.sigV4Auth` to false, change `jsonData.sigV4Region`, …).
    pub fn update_data_source(&self, ws: &str, uid: &str, f: impl FnOnce(&mut DataSource)) -> bool {
        self.with_workspace(ws, |w| {
            w.grafana
                .data_sources
                .iter_mut()
                .find(|d| d.uid == uid)
                .map(f)
                .is_some()
        })
        .unwrap_or(false)
    }

    /// F25: Grafana holds no dashboard.
    pub fn remove_dashboards(&self, ws: &str) -> bool {
        self.with_workspace(ws, |w| w.grafana.dashboards.clear())
            .is_some()
    }

    /// The identity Grafana uses for the workspace role (None without a role). F24 is
    /// `identities.update(&role.access_key_id, |i| { i.allowed_actions.remove("aps:QueryMetrics"); })`,
    /// or [`AmgState::deny_role_action`].
    pub fn role_identity(&self, ws: &str) -> Option<Identity> {
        let key = self
            .with_workspace(ws, |w| w.role_access_key_id.clone())
            .flatten()?;
        self.identities.get(&key)
    }

    /// F24: the workspace role may no longer perform `action` (e.g. `aps:QueryMetrics`).
    pub(crate) fn deny_role_action(&self, ws: &str, action: &str) -> bool {
        let Some(key) = self
            .with_workspace(ws, |w| w.role_access_key_id.clone())
            .flatten()
        else {
            return false;
        };
        self.identities.update(&key, |i| {
            i.allowed_actions.remove(action);
        })
    }

    /// A service account with one token, made directly (as `pipecheck mock` prints one):
    /// returns the token's key. None when the workspace is unknown.
    pub fn issue_token(&self, ws: &str, role: GrafanaRole, ttl: Duration) -> Option<String> {
        let now = self.clock.now();
        self.with_workspace(ws, |w| {
            let name = format!("pipecheck-{}", token::random_alnum(8).to_lowercase());
            let sa = w.add_service_account(&name, role);
            w.add_token(&sa, &name, ttl, now).map(|(_, key)| key)
        })
        .flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_versions_and_statuses() {
        let id = new_workspace_id();
        let re = regex::Regex::new(r"^g-[0-9a-f]{10}$").unwrap();
        assert!(re.is_match(&id), "{id}");
        assert_eq!(parse_version("10.4"), (10, 4));
        assert_eq!(parse_version("12"), (12, 0));
        assert_eq!(
            WorkspaceStatus::parse("DEGRADED"),
            Some(WorkspaceStatus::Degraded)
        );
        assert!(WorkspaceStatus::Degraded.serves_grafana());
        assert!(!WorkspaceStatus::Creating.serves_grafana());
        for s in WorkspaceStatus::ALL {
            assert_eq!(WorkspaceStatus::parse(s.as_str()), Some(s));
        }
    }

    #[test]
    fn timestamps_are_epoch_second_numbers() {
        let t = UNIX_EPOCH + Duration::from_millis(1_714_000_000_123);
        assert_eq!(epoch_json(t), json!(1_714_000_000.123));
        let t = UNIX_EPOCH + Duration::from_secs(1_714_000_000);
        assert_eq!(epoch_json(t).to_string(), "1714000000");
    }

    #[test]
    fn seed_and_faults() {
        let (ids, _) = Identities::with_default_user();
        let st = AmgState::new(
            "us-east-1",
            AmgSettings::default(),
            Arc::new(ids),
            Arc::new(Clock::default()),
        );
        let seeded = st.seed(&SeedOptions {
            endpoint: "127.0.0.1:1".into(),
            prometheus_endpoint: Some("http://127.0.0.1:2/workspaces/ws-1/".into()),
            grafana_version: SEED_GRAFANA_VERSION.into(),
        });
        let ws = &seeded.workspace_id;
        let role = st.role_identity(ws).unwrap();
        assert!(role.allows("aps:QueryMetrics"));
        assert!(role.arn.contains(SEED_ROLE_NAME));
        assert!(st.deny_role_action(ws, "aps:QueryMetrics"));
        assert!(!st.role_identity(ws).unwrap().allows("aps:QueryMetrics"));
        st.with_workspace(ws, |w| {
            assert_eq!(w.grafana.data_sources.len(), 1);
            assert_eq!(w.grafana.data_sources[0].kind, "prometheus");
            assert_eq!(w.permissions.len(), 1);
        });
        assert!(st.update_data_source(ws, SEED_DATA_SOURCE_UID, |d| {
            d.json_data["sigV4Auth"] = json!(false);
        }));
        assert!(!st.update_data_source(ws, "nope", |_| ()));
        let key = st
            .issue_token(ws, GrafanaRole::Admin, Duration::from_secs(60))
            .unwrap();
        assert!(token::is_valid_service_account_token(&key));
        assert!(st.expire_tokens(ws));
        assert!(st.set_status(ws, WorkspaceStatus::Degraded));
        assert!(!st.set_status("g-0000000000", WorkspaceStatus::Active));
    }
}
