//! What a workspace's Grafana holds (data sources, dashboards) and how it behaves
//! (version-dependent shapes, health), kept inside the AMG workspace
//! (`amg::Workspace::grafana`) so the control plane and the Grafana API share one state.

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde_json::{Value, json};

use crate::amg::parse_version;

/// The AMP plugin's type (AMG's Grafana 12 and later).
pub const AMP_PLUGIN_TYPE: &str = "grafana-amazonprometheus-datasource";

/// How the mock Grafana reports a non-2xx AMP answer that is not a Prometheus error
/// envelope (a 403 `{"message":…}`, a 404 `{"Message":"Workspace not found"}`, …), which
/// differs between Grafana versions (amg-grafana-exact.md §1.8).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AmpHttpErrors {
    /// Current promlib: `error: "unexpected response with status code 403: <body>"`,
    /// `errorSource: "downstream"`, `status: 500`; the whole answer is HTTP 400.
    #[default]
    CurrentPromlib,
    /// Grafana 9.4–10.x parse any body: HTTP 200, one empty frame and (≈10.4+)
    /// `"status": 403` — the "No data" bug (grafana/grafana#76835).
    NoDataBug,
}

/// Behaviour knobs of one workspace's Grafana.
#[derive(Clone, Debug)]
pub struct GrafanaBehaviour {
    /// false: `/api/health` answers 503 `{"database":"failing"}`.
    pub database_ok: bool,
    /// `hide_version`: `/api/health` shows neither `version` nor `commit`.
    pub hide_version: bool,
    /// The build version `/api/health` shows; None: `<grafanaVersion>.0` [inferred].
    pub build_version: Option<String>,
    pub amp_http_errors: AmpHttpErrors,
}

impl Default for GrafanaBehaviour {
    fn default() -> Self {
        Self {
            database_ok: true,
            hide_version: false,
            build_version: None,
            amp_http_errors: AmpHttpErrors::default(),
        }
    }
}

/// A Grafana data source, with the fields of Grafana's `dtos.DataSource`.
#[derive(Clone)]
pub struct DataSource {
    pub id: i64,
    pub uid: String,
    pub org_id: i64,
    pub name: String,
    /// The plugin type (`prometheus`, `grafana-amazonprometheus-datasource`, …).
    pub kind: String,
    /// `proxy` (server side) or `direct`.
    pub access: String,
    pub url: String,
    pub user: String,
    pub database: String,
    pub basic_auth: bool,
    pub basic_auth_user: String,
    pub with_credentials: bool,
    pub is_default: bool,
    /// e.g. `{httpMethod, sigV4Auth, sigV4AuthType, sigV4Region}` for AMP.
    pub json_data: Value,
    /// Write-only secrets (`sigV4AccessKey`, `sigV4SecretKey`, …): Grafana only ever shows
    /// which keys are set (`secureJsonFields`).
    pub secure_json_data: BTreeMap<String, String>,
    pub version: i64,
    pub read_only: bool,
}

// Secrets must never reach a log line.
impl std::fmt::Debug for DataSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataSource")
            .field("id", &self.id)
            .field("uid", &self.uid)
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("url", &self.url)
            .field("json_data", &self.json_data)
            .field(
                "secure_json_fields",
                &self.secure_json_data.keys().collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl DataSource {
    /// The AMP data source AMG provisions: type `prometheus` before Grafana 12 (8.4, 9.4,
    /// 10.4), the AMP plugin from 12; SigV4 with the workspace IAM role
    /// (`sigV4AuthType: ec2_iam_role`), POST queries. AMG's exact provisioned output is
    /// unconfirmed (amg-grafana-exact.md §2).
    pub fn amp(uid: &str, name: &str, grafana_version: &str, url: &str, region: &str) -> Self {
        let kind = if parse_version(grafana_version).0 >= 12 {
            AMP_PLUGIN_TYPE
        } else {
            "prometheus"
        };
        Self {
            id: 0,
            uid: uid.to_string(),
            org_id: 1,
            name: name.to_string(),
            kind: kind.to_string(),
            access: "proxy".to_string(),
            url: url.to_string(),
            user: String::new(),
            database: String::new(),
            basic_auth: false,
            basic_auth_user: String::new(),
            with_credentials: false,
            is_default: true,
            json_data: json!({
                "httpMethod": "POST",
                "sigV4Auth": true,
                "sigV4AuthType": "ec2_iam_role",
                "sigV4Region": region,
            }),
            secure_json_data: BTreeMap::new(),
            version: 1,
            read_only: false,
        }
    }

    /// Whether the mock Grafana can query it as Prometheus (both AMP types).
    pub fn is_prometheus(&self) -> bool {
        self.kind == "prometheus" || self.kind == AMP_PLUGIN_TYPE
    }

    /// `jsonData.sigV4Auth` is exactly `true`.
    pub fn sigv4_auth(&self) -> bool {
        self.json_data.get("sigV4Auth") == Some(&Value::Bool(true))
    }

    pub fn json_str(&self, key: &str) -> Option<&str> {
        self.json_data.get(key).and_then(Value::as_str)
    }

    fn type_name(&self) -> &str {
        match self.kind.as_str() {
            "prometheus" => "Prometheus",
            AMP_PLUGIN_TYPE => "Amazon Managed Service for Prometheus",
            other => other,
        }
    }

    fn type_logo_url(&self) -> String {
        match self.kind.as_str() {
            "prometheus" => {
                "public/app/plugins/datasource/prometheus/img/prometheus_logo.svg".into()
            }
            other => format!("public/plugins/{other}/img/logo.svg"),
        }
    }

    fn json_data_or_empty(&self) -> Value {
        if self.json_data.is_object() {
            self.json_data.clone()
        } else {
            json!({})
        }
    }

    /// `dtos.DataSource`: what `GET /api/datasources/uid/{uid}` answers.
    pub fn dto_json(&self) -> Value {
        let secure: BTreeMap<&str, bool> = self
            .secure_json_data
            .keys()
            .map(|k| (k.as_str(), true))
            .collect();
        json!({
            "id": self.id,
            "uid": self.uid,
            "orgId": self.org_id,
            "name": self.name,
            "type": self.kind,
            "typeLogoUrl": self.type_logo_url(),
            "access": self.access,
            "url": self.url,
            "user": self.user,
            "database": self.database,
            "basicAuth": self.basic_auth,
            "basicAuthUser": self.basic_auth_user,
            "withCredentials": self.with_credentials,
            "isDefault": self.is_default,
            "jsonData": self.json_data_or_empty(),
            "secureJsonFields": secure,
            "version": self.version,
            "readOnly": self.read_only,
        })
    }

    /// `dtos.DataSourceListItemDTO`: one entry of `GET /api/datasources`.
    pub fn list_item_json(&self) -> Value {
        json!({
            "id": self.id,
            "uid": self.uid,
            "orgId": self.org_id,
            "name": self.name,
            "type": self.kind,
            "typeName": self.type_name(),
            "typeLogoUrl": self.type_logo_url(),
            "access": self.access,
            "url": self.url,
            "user": self.user,
            "database": self.database,
            "basicAuth": self.basic_auth,
            "isDefault": self.is_default,
            "jsonData": self.json_data_or_empty(),
            "readOnly": self.read_only,
        })
    }
}

/// A saved dashboard: its JSON model plus what Grafana keeps beside it.
#[derive(Clone, Debug)]
pub struct Dashboard {
    pub id: i64,
    pub uid: String,
    pub title: String,
    pub version: i64,
    /// The mock does not model folders: a folder uid is kept as given.
    pub folder_uid: Option<String>,
    /// The dashboard JSON as saved (with `id`, `uid`, `title`, `version` set by Grafana).
    pub model: Value,
    pub created: SystemTime,
    pub updated: SystemTime,
    pub created_by: String,
    pub updated_by: String,
}

impl Dashboard {
    pub fn slug(&self) -> String {
        slugify(&self.title)
    }

    /// Relative, as Grafana gives it: `/d/<uid>/<slug>`.
    pub fn url(&self) -> String {
        format!("/d/{}/{}", self.uid, self.slug())
    }

    pub fn tags(&self) -> Vec<String> {
        self.model
            .get("tags")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A workspace Grafana's content and behaviour.
#[derive(Clone, Debug, Default)]
pub struct GrafanaContent {
    pub data_sources: Vec<DataSource>,
    pub dashboards: Vec<Dashboard>,
    pub behaviour: GrafanaBehaviour,
    last_data_source_id: i64,
    last_dashboard_id: i64,
}

impl GrafanaContent {
    /// Adds a data source with the next id (its own `id` is ignored); returns the id.
    /// A default data source makes the others non-default.
    pub fn add_data_source(&mut self, mut ds: DataSource) -> i64 {
        self.last_data_source_id += 1;
        ds.id = self.last_data_source_id;
        if ds.is_default {
            for d in &mut self.data_sources {
                d.is_default = false;
            }
        }
        self.data_sources.push(ds);
        self.last_data_source_id
    }

    pub fn data_source(&self, uid: &str) -> Option<&DataSource> {
        self.data_sources.iter().find(|d| d.uid == uid)
    }

    pub(crate) fn next_dashboard_id(&mut self) -> i64 {
        self.last_dashboard_id += 1;
        self.last_dashboard_id
    }

    pub fn dashboard(&self, uid: &str) -> Option<&Dashboard> {
        self.dashboards.iter().find(|d| d.uid == uid)
    }
}

/// Grafana's slug of a title (gosimple/slug, ASCII subset): lowercase, runs of other
/// characters become one `-`, no leading or trailing `-`.
pub fn slugify(title: &str) -> String {
    let mut out = String::new();
    let mut dash = false;
    for c in title.chars() {
        if c.is_ascii_alphanumeric() {
            if dash && !out.is_empty() {
                out.push('-');
            }
            dash = false;
            out.push(c.to_ascii_lowercase());
        } else if c == '_' {
            if dash && !out.is_empty() {
                out.push('-');
            }
            dash = false;
            out.push('_');
        } else {
            dash = true;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert_eq!(slugify("T"), "t");
        assert_eq!(
            slugify("  pipecheck: Canary (AMP) "),
            "pipecheck-canary-amp"
        );
        assert_eq!(slugify("a__b"), "a__b");
    }

    #[test]
    fn amp_data_source_by_version() {
        let ds = DataSource::amp("u", "n", "10.4", "http://x/workspaces/ws-1/", "us-east-1");
        assert_eq!(ds.kind, "prometheus");
        assert!(ds.sigv4_auth());
        assert_eq!(ds.json_str("sigV4AuthType"), Some("ec2_iam_role"));
        let ds = DataSource::amp("u", "n", "12.4", "http://x/", "us-east-1");
        assert_eq!(ds.kind, AMP_PLUGIN_TYPE);
        assert!(ds.is_prometheus());
        let mut c = GrafanaContent::default();
        assert_eq!(c.add_data_source(ds.clone()), 1);
        assert_eq!(c.add_data_source(ds), 2);
        assert!(!c.data_sources[0].is_default && c.data_sources[1].is_default);
        let dto = c.data_sources[0].dto_json();
        assert_eq!(dto["secureJsonFields"], json!({}));
        assert_eq!(
            c.data_sources[0].list_item_json()["typeName"],
            "Amazon Managed Service for Prometheus"
        );
    }
}
