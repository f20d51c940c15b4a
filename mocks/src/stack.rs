//! The mock stack: every mock service on its own loopback listener (their paths overlap
//! across services, as the real ones live on different hosts), sharing one identity store
//! and one clock. `pipecheck mock` and mock-target runs both start it through here.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::amp::{self, AmpSettings, AmpState, Workspace, WorkspaceStatus};
use crate::clock::Clock;
use crate::identity::{Identities, Identity};
use crate::sts::{self, StsState};

#[derive(Clone, Debug)]
pub struct MockConfig {
    /// The region every mock endpoint serves.
    pub region: String,
    /// First port to bind: AMP gets `port`, STS `port + 1`. 0 picks free ports.
    pub port: u16,
    pub amp: AmpSettings,
    /// Alias of the ACTIVE workspace made at start (None: start with no workspace).
    pub workspace_alias: Option<String>,
}

impl Default for MockConfig {
    fn default() -> Self {
        Self {
            region: "us-east-1".to_string(),
            port: 0,
            amp: AmpSettings::default(),
            workspace_alias: Some("pipecheck".to_string()),
        }
    }
}

/// Where the mocks listen and which credentials they accept: what a client needs.
#[derive(Clone, Debug)]
pub struct MockEndpoints {
    pub region: String,
    /// Base URL of the AMP control and data plane, e.g. `http://127.0.0.1:4510`.
    pub amp: String,
    pub sts: String,
    /// The workspace made at start, if any.
    pub workspace_id: Option<String>,
    pub user: Identity,
}

impl MockEndpoints {
    pub fn remote_write_url(&self, workspace_id: &str) -> String {
        format!("{}/workspaces/{workspace_id}/api/v1/remote_write", self.amp)
    }

    pub fn query_url(&self, workspace_id: &str) -> String {
        format!("{}/workspaces/{workspace_id}/api/v1/", self.amp)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("failed to listen on {addr} for the mock {service}")]
    Bind {
        service: &'static str,
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("port {0} is too high: the mock stack needs {1} consecutive ports")]
    PortRange(u16, u16),
}

/// A running mock stack. Dropping it stops every listener.
pub struct MockStack {
    pub amp: Arc<AmpState>,
    pub sts: Arc<StsState>,
    pub identities: Arc<Identities>,
    pub clock: Arc<Clock>,
    endpoints: MockEndpoints,
    tasks: Vec<JoinHandle<()>>,
}

const SERVICES: u16 = 2;

impl MockStack {
    pub async fn start(cfg: MockConfig) -> Result<Self, StartError> {
        if cfg.port != 0 && cfg.port.checked_add(SERVICES - 1).is_none() {
            return Err(StartError::PortRange(cfg.port, SERVICES));
        }
        let (ids, user) = Identities::with_default_user();
        let identities = Arc::new(ids);
        let clock = Arc::new(Clock::default());
        let amp = Arc::new(AmpState::new(
            &cfg.region,
            cfg.amp.clone(),
            identities.clone(),
            clock.clone(),
        ));
        let sts = Arc::new(StsState {
            region: cfg.region.clone(),
            identities: identities.clone(),
            clock: clock.clone(),
            max_skew: cfg.amp.max_skew,
        });

        let workspace_id = cfg.workspace_alias.as_ref().map(|alias| {
            let id = format!("ws-{}", uuid::Uuid::new_v4());
            let mut ws = Workspace::new(id.clone(), &cfg.region, Some(alias.clone()), clock.now());
            ws.status = WorkspaceStatus::Active;
            amp.insert_workspace(ws);
            id
        });

        let port = |i: u16| if cfg.port == 0 { 0 } else { cfg.port + i };
        let amp_listener = bind("AMP", port(0)).await?;
        let sts_listener = bind("STS", port(1)).await?;
        let endpoints = MockEndpoints {
            region: cfg.region.clone(),
            amp: url_of(&amp_listener),
            sts: url_of(&sts_listener),
            workspace_id,
            user,
        };
        let tasks = vec![
            serve(amp_listener, amp::router(amp.clone())),
            serve(sts_listener, sts::router(sts.clone())),
        ];
        tracing::debug!(amp = %endpoints.amp, sts = %endpoints.sts, "mock stack listening");
        Ok(Self {
            amp,
            sts,
            identities,
            clock,
            endpoints,
            tasks,
        })
    }

    pub fn endpoints(&self) -> &MockEndpoints {
        &self.endpoints
    }

    /// Stops every listener and waits until they are gone.
    pub async fn shutdown(mut self) {
        for t in self.tasks.drain(..) {
            t.abort();
            let _ = t.await;
        }
    }
}

impl Drop for MockStack {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

async fn bind(service: &'static str, port: u16) -> Result<TcpListener, StartError> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind {
            service,
            addr,
            source,
        })
}

fn url_of(l: &TcpListener) -> String {
    let addr = l.local_addr().expect("a bound listener has an address");
    format!("http://{addr}")
}

fn serve(listener: TcpListener, app: axum::Router) -> JoinHandle<()> {
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::warn!(error = %e, "mock listener stopped");
        }
    })
}
