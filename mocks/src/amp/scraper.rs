//! AMP managed collectors ("scrapers"): the control plane (rest-json, model
//! `amp/2020-08-01`) and the scraper "running", as the mock Kubernetes API's controllers
//! make pods Ready. Wire facts and their sources: `docs/wire/amp-scraper.md`.
//!
//! | operation | HTTP |
//! |---|---|
//! | CreateScraper | `POST /scrapers` -> 202 `{scraperId, arn, status, tags?}` |
//! | DescribeScraper | `GET /scrapers/{scraperId}` -> `{scraper: ScraperDescription}` |
//! | ListScrapers | `GET /scrapers?status=&sourceArn=&destinationArn=&alias=&maxResults=&nextToken=` |
//! | DeleteScraper | `DELETE /scrapers/{scraperId}?clientToken=` -> 202 `{scraperId, status}` |
//!
//! Lifecycle: a new scraper is CREATING for `settings.create_delay`, then ACTIVE, or
//! CREATION_FAILED with a `statusReason` when its source cluster does not exist (or a
//! fault set `fail_with`). Delete marks it DELETING and removes it after the same delay.
//!
//! Running ([`run_once`], every [`SCRAPE_TICK`] from the stack): an ACTIVE scraper of a
//! cluster whose endpoint has private access (the scraper's network interfaces are in
//! the VPC), whose role the cluster knows (an EKS access entry, else an `aws-auth` `mapRoles` entry for
//! the role's ARN without its path), whose Kubernetes user or groups a ClusterRoleBinding
//! grants `list pods` (or whose access entry has an access policy), writes each target of
//! its configuration into its destination workspace through the workspace's own
//! validation and store: `up` (1 when the target pod is Ready, else 0) and
//! `scrape_samples_scraped`, labelled `job` and `instance` (and the config's
//! `external_labels`). Targets: `static_configs`, and `kubernetes_sd_configs` of role
//! `pod` (optionally limited to `namespaces.names`; `keep`/`drop` relabelling on the
//! `__meta_kubernetes_*` labels). Other service-discovery roles find nothing here.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AmpState;
use super::error::AmpError;
use crate::eks::EksState;
use crate::identity::MOCK_ACCOUNT;
use crate::kube::KubeState;
use crate::restjson::{
    self, FieldViolation, ResourceError, ValidationException, authorize, check_length, check_tags,
    json_response,
};

/// How often the stack runs the scrapers.
pub const SCRAPE_TICK: Duration = Duration::from_millis(250);
/// `resourceType` in ResourceNotFound/Conflict bodies [inferred].
pub const SCRAPER_RESOURCE_TYPE: &str = "AMP::Scraper";
/// The smallest scrape interval a managed collector accepts (AMP user guide).
pub const MIN_SCRAPE_INTERVAL: Duration = Duration::from_secs(30);
/// Where EKS keeps the `aws-auth` ConfigMap.
const AWS_AUTH: (&str, &str) = ("kube-system", "aws-auth");

/// `ScraperStatus.statusCode` (model enum).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScraperStatus {
    Creating,
    Active,
    Updating,
    Deleting,
    CreationFailed,
    UpdateFailed,
    DeletionFailed,
}

impl ScraperStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Creating => "CREATING",
            Self::Active => "ACTIVE",
            Self::Updating => "UPDATING",
            Self::Deleting => "DELETING",
            Self::CreationFailed => "CREATION_FAILED",
            Self::UpdateFailed => "UPDATE_FAILED",
            Self::DeletionFailed => "DELETION_FAILED",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Scraper {
    pub id: String,
    pub arn: String,
    pub alias: Option<String>,
    /// The service-linked role, with its path (`role/aws-service-role/scraper.aps.amazonaws.com/…`).
    pub role_arn: String,
    pub status: ScraperStatus,
    pub status_reason: Option<String>,
    pub created_at: SystemTime,
    pub last_modified_at: SystemTime,
    /// When a CREATING scraper settles (None: stays as it is).
    pub settles_at: Option<SystemTime>,
    /// Settle as CREATION_FAILED with this reason instead of ACTIVE.
    pub fail_with: Option<String>,
    pub tags: BTreeMap<String, String>,
    /// The decoded `scrapeConfiguration.configurationBlob` (YAML).
    pub configuration: Vec<u8>,
    pub cluster_arn: String,
    pub security_group_ids: Vec<String>,
    pub subnet_ids: Vec<String>,
    pub workspace_arn: String,
}

impl Scraper {
    /// An ACTIVE scraper of `cluster_arn` writing to `workspace_arn`, in `region`.
    #[allow(clippy::too_many_arguments)]
    pub fn active(
        region: &str,
        alias: Option<&str>,
        cluster_arn: &str,
        subnet_ids: &[String],
        security_group_ids: &[String],
        workspace_arn: &str,
        configuration: &str,
        now: SystemTime,
    ) -> Self {
        let id = format!("s-{}", uuid::Uuid::new_v4());
        let unique = &uuid::Uuid::new_v4().to_string()[..15];
        Self {
            arn: format!("arn:aws:aps:{region}:{MOCK_ACCOUNT}:scraper/{id}"),
            id,
            alias: alias.map(str::to_string),
            role_arn: format!(
                "arn:aws:iam::{MOCK_ACCOUNT}:role/aws-service-role/scraper.aps.amazonaws.com/AWSServiceRoleForAmazonPrometheusScraper_{unique}"
            ),
            status: ScraperStatus::Active,
            status_reason: None,
            created_at: now,
            last_modified_at: now,
            settles_at: None,
            fail_with: None,
            tags: BTreeMap::new(),
            configuration: configuration.as_bytes().to_vec(),
            cluster_arn: cluster_arn.to_string(),
            security_group_ids: security_group_ids.to_vec(),
            subnet_ids: subnet_ids.to_vec(),
            workspace_arn: workspace_arn.to_string(),
        }
    }

    /// The role ARN as `aws-auth` must name it: without the role's path (AMP user guide).
    pub fn role_arn_without_path(&self) -> String {
        without_path(&self.role_arn)
    }

    fn refresh(&mut self, now: SystemTime) {
        if self.status == ScraperStatus::Creating
            && let Some(at) = self.settles_at
            && now >= at
        {
            self.settles_at = None;
            self.last_modified_at = at;
            match self.fail_with.take() {
                Some(reason) => {
                    self.status = ScraperStatus::CreationFailed;
                    self.status_reason = Some(reason);
                }
                None => self.status = ScraperStatus::Active,
            }
        }
    }
}

/// `arn:aws:iam::<account>:role/<path>/<name>` -> `arn:aws:iam::<account>:role/<name>`.
pub fn without_path(role_arn: &str) -> String {
    match role_arn.split_once(":role/") {
        Some((head, rest)) => format!("{head}:role/{}", rest.rsplit('/').next().unwrap_or(rest)),
        None => role_arn.to_string(),
    }
}

/// The cluster side a scraper reads: EKS (clusters, access entries) and the Kubernetes API.
#[derive(Debug, Clone)]
pub struct ScrapeWorld {
    pub eks: Arc<EksState>,
    pub kube: Arc<KubeState>,
}

/// Every scraper of the account (all regions; each endpoint sees its own region's), and
/// the cluster side they scrape, attached once by the stack.
#[derive(Debug, Default)]
pub struct Scrapers {
    all: RwLock<BTreeMap<String, Scraper>>,
    world: OnceLock<ScrapeWorld>,
}

impl Scrapers {
    pub fn attach(&self, world: ScrapeWorld) {
        let _ = self.world.set(world);
    }

    pub fn insert(&self, s: Scraper) {
        self.all.write().unwrap().insert(s.id.clone(), s);
    }

    pub fn remove(&self, id: &str) -> Option<Scraper> {
        self.all.write().unwrap().remove(id)
    }

    /// Applies `f` to the scraper (for faults), after advancing its lifecycle.
    pub fn update<R>(
        &self,
        id: &str,
        now: SystemTime,
        f: impl FnOnce(&mut Scraper) -> R,
    ) -> Option<R> {
        let mut all = self.all.write().unwrap();
        let s = all.get_mut(id)?;
        s.refresh(now);
        Some(f(s))
    }

    /// Every scraper of `region`, refreshed, by id.
    pub fn list(&self, region: &str, now: SystemTime) -> Vec<Scraper> {
        let mut all = self.all.write().unwrap();
        all.values_mut()
            .filter(|s| s.arn.split(':').nth(3) == Some(region))
            .map(|s| {
                s.refresh(now);
                s.clone()
            })
            .collect()
    }
}

// ---------------------------------------------------------------------------------------
// Control plane

pub fn routes() -> Router<Arc<AmpState>> {
    Router::new()
        .route("/scrapers", post(create_scraper).get(list_scrapers))
        .route(
            "/scrapers/{id}",
            get(describe_scraper).delete(delete_scraper),
        )
}

fn scraper_arn(st: &AmpState, id: &str) -> String {
    format!("arn:aws:aps:{}:{MOCK_ACCOUNT}:scraper/{id}", st.region)
}

fn not_found(id: &str) -> AmpError {
    // [inferred] message text, as for workspaces.
    AmpError::ResourceNotFound(ResourceError::new(
        "Scraper not found.",
        id,
        SCRAPER_RESOURCE_TYPE,
    ))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct CreateInput {
    alias: Option<String>,
    scrape_configuration: Option<Value>,
    source: Option<Value>,
    destination: Option<Value>,
    #[allow(dead_code)] // accepted, not modelled by the mock
    role_configuration: Option<Value>,
    client_token: Option<String>,
    tags: Option<BTreeMap<String, String>>,
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// `POST /scrapers`.
async fn create_scraper(
    State(st): State<Arc<AmpState>>,
    req: Request,
) -> Result<Response, AmpError> {
    let call = authorize(&*st, req, "aps:CreateScraper", &scraper_arn(&st, "*")).await?;
    let input: CreateInput = restjson::parse_json(&call.body)?;
    let mut bad = Vec::new();
    if let Some(alias) = &input.alias {
        check_length(&mut bad, "alias", alias, 1, 100);
    }
    if let Some(token) = &input.client_token {
        check_length(&mut bad, "clientToken", token, 1, 64);
    }
    let tags = input.tags.unwrap_or_default();
    check_tags(&mut bad, &tags);
    let blob = input
        .scrape_configuration
        .as_ref()
        .and_then(|c| c.get("configurationBlob"))
        .and_then(Value::as_str);
    let eks = input
        .source
        .as_ref()
        .and_then(|s| s.get("eksConfiguration"));
    let ws = input
        .destination
        .as_ref()
        .and_then(|d| d.pointer("/ampConfiguration/workspaceArn"))
        .and_then(Value::as_str);
    let cluster_arn = eks
        .and_then(|e| e.get("clusterArn"))
        .and_then(Value::as_str);
    for (name, present) in [
        ("scrapeConfiguration", blob.is_some()),
        ("source", eks.is_some() && cluster_arn.is_some()),
        ("destination", ws.is_some()),
    ] {
        if !present {
            bad.push(FieldViolation::new(name, "null", "Member must not be null"));
        }
    }
    let subnets = eks.map(|e| strings(&e["subnetIds"])).unwrap_or_default();
    let groups = eks
        .map(|e| strings(&e["securityGroupIds"]))
        .unwrap_or_default();
    if eks.is_some() && !(1..=5).contains(&subnets.len()) {
        // [inferred] list bounds of the model's SubnetIds.
        bad.push(FieldViolation::new(
            "source.eksConfiguration.subnetIds",
            &subnets.len().to_string(),
            "Member must have length between 1 and 5",
        ));
    }
    ValidationException::check(bad)?;
    let configuration = base64::engine::general_purpose::STANDARD
        .decode(blob.unwrap_or_default())
        .map_err(|_| {
            AmpError::validation(vec![FieldViolation::new(
                "scrapeConfiguration.configurationBlob",
                "(blob)",
                "Member must be base64 encoded",
            )])
        })?;
    check_configuration(&configuration)?;

    let now = st.clock.now();
    let cluster_arn = cluster_arn.unwrap_or_default();
    let mut s = Scraper::active(
        &st.region,
        input.alias.as_deref(),
        cluster_arn,
        &subnets,
        &groups,
        ws.unwrap_or_default(),
        "",
        now,
    );
    s.configuration = configuration;
    s.tags = tags;
    s.status = ScraperStatus::Creating;
    s.settles_at = Some(now + st.settings.create_delay);
    // [inferred] a source cluster that does not exist fails the scraper, not the call.
    let cluster_exists = st.scrapers.world.get().is_some_and(|w| {
        cluster_name(cluster_arn)
            .is_some_and(|n| w.eks.cluster(n).is_some_and(|c| c.arn == cluster_arn))
    });
    if !cluster_exists {
        s.fail_with = Some(format!(
            "The Amazon EKS cluster {cluster_arn} was not found."
        ));
    }
    let mut out = json!({
        "scraperId": s.id,
        "arn": s.arn,
        "status": { "statusCode": s.status.as_str() },
    });
    if !s.tags.is_empty() {
        out["tags"] = json!(s.tags);
    }
    st.scrapers.insert(s);
    Ok(json_response(StatusCode::ACCEPTED, out))
}

/// The blob must be YAML with `scrape_configs`, and no scrape interval under 30 s (AMP
/// user guide: scraper configuration) [inferred: the messages].
fn check_configuration(blob: &[u8]) -> Result<PromConfig, AmpError> {
    let invalid = |why: String| {
        AmpError::validation(vec![FieldViolation::new(
            "scrapeConfiguration.configurationBlob",
            "(blob)",
            &why,
        )])
    };
    let text = std::str::from_utf8(blob)
        .map_err(|_| invalid("Configuration must be UTF-8 YAML".into()))?;
    let cfg = parse_config(text).map_err(invalid)?;
    let intervals = cfg.global.scrape_interval.iter().chain(
        cfg.scrape_configs
            .iter()
            .filter_map(|j| j.scrape_interval.as_ref()),
    );
    for i in intervals {
        if parse_duration(i).is_some_and(|d| d < MIN_SCRAPE_INTERVAL) {
            return Err(invalid(format!(
                "scrape_interval {i} is less than the minimum of 30s"
            )));
        }
    }
    Ok(cfg)
}

/// `GET /scrapers/{scraperId}`.
async fn describe_scraper(
    State(st): State<Arc<AmpState>>,
    Path(id): Path<String>,
    req: Request,
) -> Result<Response, AmpError> {
    authorize(&*st, req, "aps:DescribeScraper", &scraper_arn(&st, &id)).await?;
    let s = st
        .scrapers
        .list(&st.region, st.clock.now())
        .into_iter()
        .find(|s| s.id == id)
        .ok_or_else(|| not_found(&id))?;
    let mut v = summary_json(&s);
    v["scrapeConfiguration"] = json!({
        "configurationBlob": base64::engine::general_purpose::STANDARD.encode(&s.configuration)
    });
    Ok(restjson::ok(json!({ "scraper": v })))
}

/// `GET /scrapers` with filters: values of one key OR'd, keys AND'd (model docs).
async fn list_scrapers(
    State(st): State<Arc<AmpState>>,
    req: Request,
) -> Result<Response, AmpError> {
    let resource = format!("arn:aws:aps:{}:{MOCK_ACCOUNT}:*", st.region);
    let call = authorize(&*st, req, "aps:ListScrapers", &resource).await?;
    let q = call.query();
    let mut bad = Vec::new();
    let max = q.max_results(&mut bad, 100, 1000);
    let after = q.next_token(&mut bad, restjson::decode_token);
    let keys = ["status", "sourceArn", "destinationArn", "alias"];
    let given: Vec<String> = call
        .parts
        .uri
        .query()
        .map(|raw| {
            form_urlencoded::parse(raw.as_bytes())
                .map(|(k, _)| k.into_owned())
                .collect()
        })
        .unwrap_or_default();
    for k in given.iter().map(String::as_str) {
        if !keys.contains(&k) && k != "maxResults" && k != "nextToken" {
            // [inferred] wording.
            bad.push(FieldViolation::new(
                "filters",
                k,
                "Filter key must be one of status, sourceArn, destinationArn, alias",
            ));
        }
    }
    ValidationException::check(bad)?;
    let keep = |s: &Scraper| {
        let value = |k: &str| match k {
            "status" => Some(s.status.as_str().to_string()),
            "sourceArn" => Some(s.cluster_arn.clone()),
            "destinationArn" => Some(s.workspace_arn.clone()),
            _ => s.alias.clone(),
        };
        keys.iter().all(|k| {
            let wanted = q.all(k);
            wanted.is_empty() || value(k).is_some_and(|v| wanted.contains(&v.as_str()))
        })
    };
    let matching: Vec<Scraper> = st
        .scrapers
        .list(&st.region, st.clock.now())
        .into_iter()
        .filter(keep)
        .filter(|s| after.as_deref().is_none_or(|a| s.id.as_str() > a))
        .collect();
    let more = matching.len() > max;
    let page: Vec<&Scraper> = matching.iter().take(max).collect();
    let out = json!({ "scrapers": page.iter().map(|s| summary_json(s)).collect::<Vec<_>>() });
    let next = page
        .last()
        .filter(|_| more)
        .map(|s| restjson::encode_token(&s.id));
    Ok(restjson::ok(restjson::with_next_token(out, next)))
}

/// `DELETE /scrapers/{scraperId}` -> 202 `{scraperId, status: DELETING}`; gone after
/// `create_delay`.
async fn delete_scraper(
    State(st): State<Arc<AmpState>>,
    Path(id): Path<String>,
    req: Request,
) -> Result<Response, AmpError> {
    authorize(&*st, req, "aps:DeleteScraper", &scraper_arn(&st, &id)).await?;
    let now = st.clock.now();
    let visible = st.scrapers.list(&st.region, now).iter().any(|s| s.id == id);
    if !visible {
        return Err(not_found(&id));
    }
    st.scrapers
        .update(&id, now, |s| match s.status {
            // [inferred] as for workspaces.
            ScraperStatus::Creating | ScraperStatus::Deleting => {
                Err(AmpError::Conflict(ResourceError::new(
                    format!("Scraper {} is in {} state.", s.id, s.status.as_str()),
                    s.id.clone(),
                    SCRAPER_RESOURCE_TYPE.to_string(),
                )))
            }
            _ => {
                s.status = ScraperStatus::Deleting;
                s.last_modified_at = now;
                Ok(())
            }
        })
        .ok_or_else(|| not_found(&id))??;
    let delay = st.settings.create_delay;
    let state = st.clone();
    let gone = id.clone();
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        state.scrapers.remove(&gone);
    });
    Ok(json_response(
        StatusCode::ACCEPTED,
        json!({ "scraperId": id, "status": { "statusCode": "DELETING" } }),
    ))
}

fn epoch(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as f64 / 1000.0)
        .unwrap_or(0.0)
}

/// `ScraperSummary` (ListScrapers); DescribeScraper adds `scrapeConfiguration`.
fn summary_json(s: &Scraper) -> Value {
    let mut v = json!({
        "scraperId": s.id,
        "arn": s.arn,
        "roleArn": s.role_arn,
        "status": { "statusCode": s.status.as_str() },
        "createdAt": epoch(s.created_at),
        "lastModifiedAt": epoch(s.last_modified_at),
        "tags": s.tags,
        "source": { "eksConfiguration": {
            "clusterArn": s.cluster_arn,
            "securityGroupIds": s.security_group_ids,
            "subnetIds": s.subnet_ids,
        } },
        "destination": { "ampConfiguration": { "workspaceArn": s.workspace_arn } },
    });
    if let Some(a) = &s.alias {
        v["alias"] = json!(a);
    }
    if let Some(r) = &s.status_reason {
        v["statusReason"] = json!(r);
    }
    v
}

// ---------------------------------------------------------------------------------------
// The scrape configuration (the subset the mock runs)

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PromConfig {
    pub global: Global,
    pub scrape_configs: Vec<ScrapeJob>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Global {
    pub scrape_interval: Option<String>,
    pub external_labels: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ScrapeJob {
    pub job_name: String,
    pub scrape_interval: Option<String>,
    pub static_configs: Vec<StaticConfig>,
    pub kubernetes_sd_configs: Vec<KubernetesSd>,
    pub relabel_configs: Vec<Relabel>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct StaticConfig {
    pub targets: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct KubernetesSd {
    pub role: String,
    pub namespaces: Namespaces,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Namespaces {
    pub names: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Relabel {
    pub action: Option<String>,
    pub source_labels: Vec<String>,
    pub separator: Option<String>,
    pub regex: Option<String>,
}

pub fn parse_config(text: &str) -> Result<PromConfig, String> {
    serde_saphyr::from_str::<PromConfig>(text).map_err(|e| {
        format!(
            "Invalid configuration: {}",
            e.to_string().lines().next().unwrap_or("")
        )
    })
}

/// `30s`, `1m`, `1m30s`, `500ms` (Prometheus durations, the units the mock needs).
fn parse_duration(s: &str) -> Option<Duration> {
    let mut total = Duration::ZERO;
    let mut rest = s.trim();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        let n: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        total += match unit {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n * 60),
            "h" => Duration::from_secs(n * 3600),
            _ => return None,
        };
    }
    Some(total)
}

// ---------------------------------------------------------------------------------------
// Running

fn cluster_name(arn: &str) -> Option<&str> {
    arn.split_once(":cluster/").map(|(_, n)| n)
}

/// Who the scraper's role is inside the cluster: (username, groups, has access policies).
fn cluster_identity(
    world: &ScrapeWorld,
    cluster: &str,
    s: &Scraper,
) -> Option<(String, Vec<String>, bool)> {
    if let Some(e) = world.eks.access.get(cluster, &s.role_arn) {
        return Some((e.username, e.kubernetes_groups, !e.policies.is_empty()));
    }
    let cm = world.kube.get("configmaps", AWS_AUTH.0, AWS_AUTH.1)?;
    let roles: Value = serde_saphyr::from_str(cm["data"]["mapRoles"].as_str()?).ok()?;
    let bare = s.role_arn_without_path();
    roles.as_array()?.iter().find_map(|r| {
        (r["rolearn"].as_str() == Some(bare.as_str())).then(|| {
            (
                r["username"].as_str().unwrap_or_default().to_string(),
                strings(&r["groups"]),
                false,
            )
        })
    })
}

/// Whether RBAC lets `user` or `groups` list pods cluster-wide.
fn may_list_pods(kube: &KubeState, user: &str, groups: &[String]) -> bool {
    kube.list("clusterrolebindings", None).iter().any(|b| {
        let bound = b["subjects"].as_array().is_some_and(|subs| {
            subs.iter().any(|sub| match sub["kind"].as_str() {
                Some("User") => sub["name"].as_str() == Some(user),
                Some("Group") => sub["name"]
                    .as_str()
                    .is_some_and(|g| groups.iter().any(|x| x == g)),
                _ => false,
            })
        });
        bound
            && b["roleRef"]["kind"] == "ClusterRole"
            && b["roleRef"]["name"]
                .as_str()
                .and_then(|n| kube.get("clusterroles", "", n))
                .is_some_and(|role| {
                    role["rules"].as_array().is_some_and(|rules| {
                        rules.iter().any(|r| {
                            let has = |k: &str, want: &str| {
                                strings(&r[k]).iter().any(|v| v == want || v == "*")
                            };
                            has("apiGroups", "") && has("resources", "pods") && has("verbs", "list")
                        })
                    })
                })
    })
}

/// One target: its labels before relabelling, and whether it answers.
struct Target {
    meta: BTreeMap<String, String>,
    up: bool,
}

fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

fn pod_ready(pod: &Value) -> bool {
    pod["status"]["phase"] == "Running"
        && pod["status"]["conditions"].as_array().is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
}

fn pod_targets(kube: &KubeState, sd: &KubernetesSd) -> Vec<Target> {
    if sd.role != "pod" {
        return Vec::new();
    }
    let mut out = Vec::new();
    for pod in kube.list("pods", None) {
        let ns = pod["metadata"]["namespace"].as_str().unwrap_or_default();
        if !sd.namespaces.names.is_empty() && !sd.namespaces.names.iter().any(|n| n == ns) {
            continue;
        }
        let Some(ip) = pod["status"]["podIP"].as_str() else {
            continue;
        };
        let mut base = BTreeMap::new();
        base.insert("__meta_kubernetes_namespace".to_string(), ns.to_string());
        base.insert(
            "__meta_kubernetes_pod_name".to_string(),
            pod["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
        for (kind, key) in [("labels", "label"), ("annotations", "annotation")] {
            if let Some(m) = pod["metadata"][kind].as_object() {
                for (k, v) in m {
                    base.insert(
                        format!("__meta_kubernetes_pod_{key}_{}", sanitize(k)),
                        v.as_str().unwrap_or_default().to_string(),
                    );
                }
            }
        }
        let up = pod_ready(&pod);
        let ports: Vec<u64> = pod["spec"]["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|c| c["ports"].as_array().cloned().unwrap_or_default())
            .filter_map(|p| p["containerPort"].as_u64())
            .collect();
        let addresses: Vec<String> = if ports.is_empty() {
            vec![ip.to_string()]
        } else {
            ports.iter().map(|p| format!("{ip}:{p}")).collect()
        };
        for (i, address) in addresses.into_iter().enumerate() {
            let mut meta = base.clone();
            if let Some(p) = ports.get(i) {
                meta.insert(
                    "__meta_kubernetes_pod_container_port_number".into(),
                    p.to_string(),
                );
            }
            meta.insert("__address__".into(), address);
            out.push(Target { meta, up });
        }
    }
    out
}

/// `keep` / `drop` on the joined source labels, the regex anchored; other actions are
/// not run by the mock.
fn relabel(targets: Vec<Target>, rules: &[Relabel]) -> Vec<Target> {
    targets
        .into_iter()
        .filter(|t| {
            rules.iter().all(|r| {
                let action = r.action.as_deref().unwrap_or("replace");
                if action != "keep" && action != "drop" {
                    return true;
                }
                let joined = r
                    .source_labels
                    .iter()
                    .map(|l| t.meta.get(l).cloned().unwrap_or_default())
                    .collect::<Vec<_>>()
                    .join(r.separator.as_deref().unwrap_or(";"));
                let re =
                    regex::Regex::new(&format!("^(?:{})$", r.regex.as_deref().unwrap_or("(.*)")));
                let hit = re.is_ok_and(|re| re.is_match(&joined));
                (action == "keep") == hit
            })
        })
        .collect()
}

fn job_targets(kube: &KubeState, job: &ScrapeJob) -> Vec<Target> {
    let running_ips: Vec<(String, bool)> = kube
        .list("pods", None)
        .iter()
        .filter_map(|p| {
            p["status"]["podIP"]
                .as_str()
                .map(|ip| (ip.to_string(), pod_ready(p)))
        })
        .collect();
    let mut targets: Vec<Target> = job
        .static_configs
        .iter()
        .flat_map(|c| c.targets.iter())
        .map(|address| {
            let host = address
                .rsplit_once(':')
                .map_or(address.as_str(), |(h, _)| h);
            let up = running_ips.iter().any(|(ip, ready)| ip == host && *ready);
            let meta = BTreeMap::from([("__address__".to_string(), address.clone())]);
            Target { meta, up }
        })
        .collect();
    for sd in &job.kubernetes_sd_configs {
        targets.extend(pod_targets(kube, sd));
    }
    relabel(targets, &job.relabel_configs)
}

/// One round of every ACTIVE scraper of `st`'s region: what each writes, and how many
/// series were stored.
pub fn run_once(st: &AmpState) -> usize {
    let Some(world) = st.scrapers.world.get() else {
        return 0;
    };
    let now = st.clock.now();
    let now_ms = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let mut stored = 0;
    for s in st.scrapers.list(&st.region, now) {
        if s.status != ScraperStatus::Active {
            continue;
        }
        let Some(cluster) = cluster_name(&s.cluster_arn) else {
            continue;
        };
        // The scraper reaches the API server through its network interfaces in the VPC:
        // only a cluster whose endpoint has private access answers it.
        if world
            .eks
            .cluster(cluster)
            .is_none_or(|c| c.arn != s.cluster_arn || !c.endpoint_private_access)
        {
            continue;
        }
        let Some((user, groups, policies)) = cluster_identity(world, cluster, &s) else {
            continue;
        };
        if !policies && !may_list_pods(&world.kube, &user, &groups) {
            continue;
        }
        let Some(ws) = s.workspace_arn.split_once(":workspace/").map(|(_, id)| id) else {
            continue;
        };
        if !s
            .workspace_arn
            .starts_with(&format!("arn:aws:aps:{}:{MOCK_ACCOUNT}:", st.region))
        {
            continue;
        }
        let Some(store) = st.store(ws) else {
            continue;
        };
        let Ok(cfg) = std::str::from_utf8(&s.configuration)
            .map_err(|e| e.to_string())
            .and_then(parse_config)
        else {
            continue;
        };
        for job in &cfg.scrape_configs {
            for t in job_targets(&world.kube, job) {
                let instance = t.meta.get("__address__").cloned().unwrap_or_default();
                let series = [
                    ("up", if t.up { 1.0 } else { 0.0 }),
                    ("scrape_samples_scraped", if t.up { 1.0 } else { 0.0 }),
                ];
                for (name, value) in series {
                    let mut raw: Vec<(&str, &str)> = vec![
                        ("__name__", name),
                        ("instance", instance.as_str()),
                        ("job", job.job_name.as_str()),
                    ];
                    for (k, v) in &cfg.global.external_labels {
                        raw.push((k.as_str(), v.as_str()));
                    }
                    let samples = [(now_ms, value)];
                    let mut sorted = Vec::new();
                    let valid = super::remote_write::validate_view(
                        &raw,
                        &samples,
                        false,
                        &st.settings,
                        now_ms,
                        &mut sorted,
                    );
                    if valid.is_err() {
                        continue;
                    }
                    let labels = sorted
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect();
                    let ooo = st.settings.out_of_order_window.as_millis() as i64;
                    if store.append(labels, &samples, ooo).is_ok() {
                        stored += 1;
                    }
                }
            }
        }
    }
    stored
}

/// Runs the scrapers of `st` every [`SCRAPE_TICK`] until the task is aborted.
pub async fn run(st: Arc<AmpState>) {
    let mut tick = tokio::time::interval(SCRAPE_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        run_once(&st);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::amp::AmpSettings;
    use crate::eks::ClusterSeed;
    use crate::eks_access::AccessEntry;
    use crate::identity::Identity;
    use crate::restjson::testing::{self, Answer, REGION};

    const CONFIG: &str = "global:\n  scrape_interval: 30s\nscrape_configs:\n- job_name: pipecheck-canary\n  kubernetes_sd_configs:\n  - role: pod\n    namespaces:\n      names: [canary]\n";

    struct World {
        st: Arc<AmpState>,
        user: Identity,
        ws: String,
        cluster_arn: String,
    }

    fn world() -> World {
        let (ids, user, clock) = testing::principal();
        let st = Arc::new(AmpState::new(
            REGION,
            AmpSettings::default(),
            ids.clone(),
            clock.clone(),
        ));
        let ws = "ws-11111111-2222-3333-4444-555555555555".to_string();
        st.insert_workspace(super::super::Workspace::new(
            ws.clone(),
            REGION,
            None,
            clock.now(),
        ));
        let eks = Arc::new(EksState::new(
            REGION,
            ids,
            clock.clone(),
            Duration::from_secs(300),
        ));
        let seed = ClusterSeed::default();
        eks.seed_healthy(&seed, "https://127.0.0.1:6443", "PEM");
        let kube = Arc::new(KubeState::new(clock));
        st.scrapers.attach(ScrapeWorld { eks, kube });
        World {
            st,
            user,
            ws,
            cluster_arn: seed.cluster_arn(REGION),
        }
    }

    fn ws_arn(w: &World) -> String {
        format!("arn:aws:aps:{REGION}:{MOCK_ACCOUNT}:workspace/{}", w.ws)
    }

    fn create_body(w: &World, config: &str) -> String {
        json!({
            "alias": "canary",
            "source": { "eksConfiguration": {
                "clusterArn": w.cluster_arn,
                "subnetIds": ["subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002"],
                "securityGroupIds": ["sg-0a1b2c3d4e5f60003"],
            } },
            "destination": { "ampConfiguration": { "workspaceArn": ws_arn(w) } },
            "scrapeConfiguration": { "configurationBlob": base64::engine::general_purpose::STANDARD.encode(config) },
        })
        .to_string()
    }

    async fn call(w: &World, method: &str, path: &str, body: &str) -> (u16, Value) {
        let req = testing::signed(&w.user, "aps", method, path, body);
        let a = Answer::send(super::super::router(w.st.clone()), req).await;
        (a.status.as_u16(), a.json())
    }

    /// A Ready pod in `canary` and the healthy access: an access entry naming user
    /// `aps-collector-user`, bound to `aps-collector-role` (AMP user guide).
    fn healthy_cluster(w: &World, role_arn: &str) {
        let world = w.st.scrapers.world.get().unwrap();
        let now = w.st.clock.now();
        world.eks.access.put(
            "pipecheck",
            AccessEntry::standard(
                REGION,
                "pipecheck",
                role_arn,
                "aps-collector-user",
                &[],
                now,
            ),
        );
        let k = &world.kube;
        k.put("clusterroles", json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": "aps-collector-role"},
            "rules": [{"apiGroups": [""], "resources": ["nodes", "pods", "services", "endpoints"], "verbs": ["get", "list", "watch"]}]})).unwrap();
        k.put("clusterrolebindings", json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": "aps-collector-user-role-binding"},
            "subjects": [{"kind": "User", "name": "aps-collector-user", "apiGroup": "rbac.authorization.k8s.io"}],
            "roleRef": {"kind": "ClusterRole", "name": "aps-collector-role", "apiGroup": "rbac.authorization.k8s.io"}})).unwrap();
        k.put("pods", json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "canary-0", "namespace": "canary", "labels": {"app": "pipecheck-canary"}},
            "spec": {"containers": [{"name": "c", "image": "x", "ports": [{"containerPort": 9100}]}]},
            "status": {"phase": "Running", "podIP": "192.168.20.7",
                       "conditions": [{"type": "Ready", "status": "True"}]}})).unwrap();
    }

    fn up_series(w: &World) -> Vec<crate::amp::store::Labels> {
        w.st.store(&w.ws)
            .unwrap()
            .all_series(&|l| l.iter().any(|(k, v)| k == "__name__" && v == "up"))
    }

    #[tokio::test]
    async fn create_describe_list_delete() {
        let w = world();
        let (s, v) = call(&w, "POST", "/scrapers", &create_body(&w, CONFIG)).await;
        assert_eq!(s, 202, "{v}");
        assert_eq!(v["status"]["statusCode"], "CREATING");
        let id = v["scraperId"].as_str().unwrap().to_string();
        assert!(id.starts_with("s-"));
        let (s, v) = call(&w, "GET", &format!("/scrapers/{id}"), "").await;
        assert_eq!(s, 200, "{v}");
        let blob = v["scraper"]["scrapeConfiguration"]["configurationBlob"]
            .as_str()
            .unwrap();
        assert_eq!(
            base64::engine::general_purpose::STANDARD
                .decode(blob)
                .unwrap(),
            CONFIG.as_bytes()
        );
        assert!(v["scraper"]["roleArn"].as_str().unwrap().contains(
            "aws-service-role/scraper.aps.amazonaws.com/AWSServiceRoleForAmazonPrometheusScraper_"
        ));
        w.st.scrapers
            .update(&id, w.st.clock.now() + Duration::from_secs(1), |_| ());
        let (_, v) = call(
            &w,
            "GET",
            &format!(
                "/scrapers?status=ACTIVE&sourceArn={}",
                w.cluster_arn.replace(':', "%3A").replace('/', "%2F")
            ),
            "",
        )
        .await;
        assert_eq!(v["scrapers"][0]["scraperId"], id.as_str(), "{v}");
        assert!(v["scrapers"][0].get("scrapeConfiguration").is_none());
        let (_, v) = call(&w, "GET", "/scrapers?status=CREATION_FAILED", "").await;
        assert_eq!(v["scrapers"], json!([]));
        let (s, _) = call(&w, "GET", "/scrapers?colour=red", "").await;
        assert_eq!(s, 400);
        let (s, v) = call(&w, "DELETE", &format!("/scrapers/{id}"), "").await;
        assert_eq!(
            (s, v["status"]["statusCode"].as_str()),
            (202, Some("DELETING"))
        );
        let (s, _) = call(&w, "GET", "/scrapers/s-nope", "").await;
        assert_eq!(s, 404);
    }

    #[tokio::test]
    async fn bad_configurations_and_unknown_clusters() {
        let w = world();
        let fast = CONFIG.replace("30s", "10s");
        let (s, v) = call(&w, "POST", "/scrapers", &create_body(&w, &fast)).await;
        assert_eq!(s, 400, "{v}");
        assert!(v["message"].as_str().unwrap().contains("30s"), "{v}");
        let (s, _) = call(&w, "POST", "/scrapers", r#"{"source":{}}"#).await;
        assert_eq!(s, 400);
        let mut body: Value = serde_json::from_str(&create_body(&w, CONFIG)).unwrap();
        body["source"]["eksConfiguration"]["clusterArn"] =
            json!(format!("arn:aws:eks:{REGION}:{MOCK_ACCOUNT}:cluster/gone"));
        let (s, v) = call(&w, "POST", "/scrapers", &body.to_string()).await;
        assert_eq!(s, 202);
        let id = v["scraperId"].as_str().unwrap();
        let later = w.st.clock.now() + Duration::from_secs(1);
        let (status, reason) =
            w.st.scrapers
                .update(id, later, |s| (s.status, s.status_reason.clone()))
                .unwrap();
        assert_eq!(status, ScraperStatus::CreationFailed);
        assert!(reason.unwrap().contains("cluster/gone"));
    }

    #[tokio::test]
    async fn an_active_scraper_writes_its_targets_only_with_access_and_rbac() {
        let w = world();
        let now = w.st.clock.now();
        let s = Scraper::active(
            REGION,
            Some("canary"),
            &w.cluster_arn,
            &[],
            &[],
            &ws_arn(&w),
            CONFIG,
            now,
        );
        let role = s.role_arn.clone();
        w.st.scrapers.insert(s);
        let world = w.st.scrapers.world.get().unwrap().clone();
        healthy_cluster(&w, &role);
        // No access entry: nothing.
        let entry = world.eks.access.remove("pipecheck", &role).unwrap();
        assert_eq!(run_once(&w.st), 0);
        // aws-auth maps the role without its path: that works too.
        world.kube.put("configmaps", json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "aws-auth", "namespace": "kube-system"},
            "data": {"mapRoles": format!("- rolearn: {}\n  username: aps-collector-user\n", without_path(&role))}})).unwrap();
        assert_eq!(run_once(&w.st), 2);
        world.kube.delete("configmaps", "kube-system", "aws-auth");
        world.eks.access.put("pipecheck", entry);
        // RBAC missing: nothing.
        world
            .kube
            .delete("clusterrolebindings", "", "aps-collector-user-role-binding");
        assert_eq!(run_once(&w.st), 0);
        healthy_cluster(&w, &role);
        assert!(run_once(&w.st) >= 2);
        let up = up_series(&w);
        assert_eq!(up.len(), 1, "{up:?}");
        assert!(
            up[0].contains(&("job".into(), "pipecheck-canary".into())),
            "{up:?}"
        );
        assert!(
            up[0].contains(&("instance".into(), "192.168.20.7:9100".into())),
            "{up:?}"
        );
    }

    #[tokio::test]
    async fn relabelling_keeps_and_drops() {
        let w = world();
        let role = "arn:aws:iam::111122223333:role/r";
        healthy_cluster(&w, role);
        let kube = &w.st.scrapers.world.get().unwrap().kube;
        let job = |rule: &str| -> usize {
            let cfg = parse_config(&format!("scrape_configs:\n- job_name: j\n  kubernetes_sd_configs:\n  - role: pod\n  relabel_configs:\n  {rule}\n")).unwrap();
            job_targets(kube, &cfg.scrape_configs[0]).len()
        };
        assert_eq!(
            job(
                "- {action: keep, source_labels: [__meta_kubernetes_pod_label_app], regex: pipecheck-canary}"
            ),
            1
        );
        assert_eq!(
            job("- {action: keep, source_labels: [__meta_kubernetes_pod_label_app], regex: other}"),
            0
        );
        assert_eq!(
            job("- {action: drop, source_labels: [__meta_kubernetes_namespace], regex: canary}"),
            0
        );
        assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(
            without_path("arn:aws:iam::1:role/a/b/C_1"),
            "arn:aws:iam::1:role/C_1"
        );
    }
}
