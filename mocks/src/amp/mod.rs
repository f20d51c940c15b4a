//! Mock Amazon Managed Service for Prometheus: data plane (remote write, query API) and
//! control plane (workspaces, tags), served by one axum router. Strict as AMP is: SigV4
//! verified, AMP's status codes and bodies (see `shared/spec/amp-exact.md`).

pub mod control;
pub mod error;
pub mod promql;
pub mod query;
pub mod remote_write;
pub mod scraper;
pub mod store;
pub mod wire;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use axum::Router;

use crate::clock::Clock;
use crate::identity::{Identities, MOCK_ACCOUNT};
pub use store::Store;

/// AMP's workspace lifecycle (`status.statusCode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkspaceStatus {
    Creating,
    Active,
    Updating,
    Deleting,
    CreationFailed,
}

impl WorkspaceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Creating => "CREATING",
            Self::Active => "ACTIVE",
            Self::Updating => "UPDATING",
            Self::Deleting => "DELETING",
            Self::CreationFailed => "CREATION_FAILED",
        }
    }
}

#[derive(Debug)]
pub struct Workspace {
    pub id: String,
    pub region: String,
    pub arn: String,
    pub alias: Option<String>,
    pub status: WorkspaceStatus,
    pub created_at: SystemTime,
    /// When a CREATING workspace turns ACTIVE (None: stays as it is).
    pub active_at: Option<SystemTime>,
    pub tags: BTreeMap<String, String>,
    pub store: Arc<Store>,
}

impl Workspace {
    pub fn new(id: String, region: &str, alias: Option<String>, now: SystemTime) -> Self {
        let arn = format!("arn:aws:aps:{region}:{MOCK_ACCOUNT}:workspace/{id}");
        Self {
            id,
            region: region.to_string(),
            arn,
            alias,
            status: WorkspaceStatus::Active,
            created_at: now,
            active_at: None,
            tags: BTreeMap::new(),
            store: Arc::new(Store::new()),
        }
    }

    /// Advances the lifecycle: CREATING becomes ACTIVE once its time has come.
    fn refresh(&mut self, now: SystemTime) {
        if self.status == WorkspaceStatus::Creating
            && let Some(at) = self.active_at
            && now >= at
        {
            self.status = WorkspaceStatus::Active;
            self.active_at = None;
        }
    }
}

/// Limits and behaviour knobs; AMP's quotas differ between documentation dates, so they
/// are settings (amp-exact.md §6).
#[derive(Clone, Debug)]
pub struct AmpSettings {
    pub max_labels_per_series: usize,
    pub max_label_name_len: usize,
    pub max_label_value_len: usize,
    /// Decompressed remote-write body limit (Cortex default 100 MiB).
    pub max_request_bytes: usize,
    /// Samples older than this (relative to the mock's now) are refused.
    pub max_sample_age: Duration,
    /// Samples further in the future than this are refused.
    pub max_future: Duration,
    pub out_of_order_window: Duration,
    /// How long a new workspace stays CREATING.
    pub create_delay: Duration,
    /// Allowed SigV4 clock skew.
    pub max_skew: Duration,
    /// Default lookback for instant selectors.
    pub lookback: Duration,
    /// A query still evaluating after this is answered with AMP's timeout (422
    /// `execution`; AMP's limit is one minute).
    pub query_timeout: Duration,
}

impl Default for AmpSettings {
    fn default() -> Self {
        Self {
            max_labels_per_series: 70,
            max_label_name_len: 1024,
            max_label_value_len: 2048,
            max_request_bytes: 100 << 20,
            // AMP's exact max age is unconfirmed (amp-exact.md §2); Cortex's common
            // `reject_old_samples_max_age` is two weeks.
            max_sample_age: Duration::from_secs(14 * 24 * 3600),
            max_future: Duration::from_secs(10 * 60),
            out_of_order_window: Duration::ZERO,
            create_delay: Duration::from_millis(200),
            max_skew: Duration::from_secs(5 * 60),
            lookback: Duration::from_secs(5 * 60),
            query_timeout: Duration::from_secs(60),
        }
    }
}

/// Throttling as AMP's front end does it: `{"message":"Rate exceeded"}` with 429.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Throttle {
    #[default]
    Off,
    /// The next N requests are refused, then traffic passes.
    Next(u32),
    /// Every request is refused.
    Always,
}

/// Faults injected into the mock AMP. Mutable at run time so a test can flip them.
#[derive(Clone, Debug, Default)]
pub struct AmpFaults {
    pub throttle_remote_write: Throttle,
    /// Throttle only the writes signed with this access key id (others pass): a fault
    /// aimed at one writer stays deterministic while another writes too.
    pub throttle_only: Option<String>,
    /// Remote writes are answered 200 but nothing is stored (F08).
    pub drop_accepted_samples: bool,
    /// Every data-plane request (remote write, query API) is held this long before it is
    /// handled: a slow AMP, or a slow network path to it.
    pub data_plane_delay: Duration,
}

#[derive(Debug)]
pub struct AmpState {
    /// The region this endpoint serves; SigV4 scopes must name it.
    pub region: String,
    pub settings: AmpSettings,
    pub identities: Arc<Identities>,
    pub clock: Arc<Clock>,
    pub faults: Mutex<AmpFaults>,
    /// Workspaces of every region; only those of `region` are visible here, as a
    /// workspace made in another region is invisible to this region's endpoint.
    workspaces: RwLock<HashMap<String, Workspace>>,
    /// Managed collectors (`scraper.rs`).
    pub scrapers: scraper::Scrapers,
}

impl AmpState {
    pub fn new(
        region: &str,
        settings: AmpSettings,
        identities: Arc<Identities>,
        clock: Arc<Clock>,
    ) -> Self {
        Self {
            region: region.to_string(),
            settings,
            identities,
            clock,
            faults: Mutex::new(AmpFaults::default()),
            workspaces: RwLock::new(HashMap::new()),
            scrapers: scraper::Scrapers::default(),
        }
    }

    pub fn insert_workspace(&self, ws: Workspace) {
        self.workspaces.write().unwrap().insert(ws.id.clone(), ws);
    }

    /// Runs `f` on the workspace with this id if it is visible from this endpoint's region,
    /// after advancing its lifecycle.
    pub fn with_workspace<R>(&self, id: &str, f: impl FnOnce(&mut Workspace) -> R) -> Option<R> {
        let now = self.clock.now();
        let mut all = self.workspaces.write().unwrap();
        let ws = all.get_mut(id).filter(|w| w.region == self.region)?;
        ws.refresh(now);
        Some(f(ws))
    }

    /// Visible workspaces, refreshed, sorted by id, as `f` maps them.
    pub fn list_workspaces<R>(&self, mut f: impl FnMut(&Workspace) -> R) -> Vec<R> {
        let now = self.clock.now();
        let mut all = self.workspaces.write().unwrap();
        let mut ws: Vec<&mut Workspace> = all
            .values_mut()
            .filter(|w| w.region == self.region)
            .collect();
        ws.sort_by(|a, b| a.id.cmp(&b.id));
        ws.into_iter()
            .map(|w| {
                w.refresh(now);
                f(w)
            })
            .collect()
    }

    pub(crate) fn remove_workspace(&self, id: &str) -> Option<Workspace> {
        self.workspaces.write().unwrap().remove(id)
    }

    pub fn store(&self, id: &str) -> Option<Arc<Store>> {
        self.with_workspace(id, |w| w.store.clone())
    }

    pub fn faults(&self) -> AmpFaults {
        self.faults.lock().unwrap().clone()
    }

    pub fn set_faults(&self, f: AmpFaults) {
        *self.faults.lock().unwrap() = f;
    }
}

/// The whole mock AMP: control plane, remote write and the query API on one router (the
/// paths do not overlap; real AMP splits them across `aps` and `aps-workspaces` hosts).
pub fn router(state: Arc<AmpState>) -> Router {
    let data_plane = remote_write::router().merge(query::router()).route_layer(
        axum::middleware::from_fn_with_state(state.clone(), delay_data_plane),
    );
    Router::new()
        .merge(control::router())
        .merge(data_plane)
        // A known path with another method keeps axum's 405 (a GET of remote_write).
        .fallback(unknown_operation)
        .with_state(state)
}

async fn unknown_operation() -> crate::restjson::ErrorResponse {
    crate::restjson::ErrorResponse::unknown_operation("Amazon Managed Service for Prometheus")
}

/// Holds a data-plane request back by `AmpFaults::data_plane_delay`.
async fn delay_data_plane(
    axum::extract::State(st): axum::extract::State<Arc<AmpState>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let delay = st.faults().data_plane_delay;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use axum::body::Body;
    use tower::ServiceExt;

    use super::*;
    use crate::restjson::testing;

    async fn took(app: Router, path: &str) -> Duration {
        let req = http::Request::post(path).body(Body::empty()).unwrap();
        let t0 = Instant::now();
        let resp = app.oneshot(req).await.unwrap();
        // Unsigned: refused, but only once the delay has passed.
        assert_eq!(resp.status(), http::StatusCode::FORBIDDEN);
        t0.elapsed()
    }

    #[tokio::test]
    async fn the_data_plane_answers_after_the_delay_and_the_control_plane_at_once() {
        let (ids, _, clock) = testing::principal();
        let st = Arc::new(AmpState::new(
            "us-east-1",
            AmpSettings::default(),
            ids,
            clock,
        ));
        let delay = Duration::from_millis(300);
        st.set_faults(AmpFaults {
            data_plane_delay: delay,
            ..AmpFaults::default()
        });
        let app = router(st);
        for path in [
            "/workspaces/ws-1/api/v1/remote_write",
            "/workspaces/ws-1/api/v1/query",
        ] {
            assert!(took(app.clone(), path).await >= delay, "{path}");
        }
        assert!(took(app, "/workspaces").await < delay);
    }
}
