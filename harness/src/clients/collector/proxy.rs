//! pipecheck's SigV4 signing proxy (the aws-sigv4-proxy pattern AMP's documentation used
//! for collectors that cannot sign): it takes the collector's unsigned writes on loopback,
//! signs them for the workspace's region and service `aps`, forwards them to AMP, and
//! hands AMP's answer back. It keeps what it saw, so its link can show who signed.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::chain::Deadline;
use crate::signing::Signer;

/// How the proxy's own 502 bodies begin (it could not sign, or AMP did not answer): a
/// refusal that starts so is the proxy's, not AMP's.
pub(crate) const OWN_ERROR: &str = "pipecheck proxy:";

/// Bodies larger than this are refused before they are read (AMP's own limit is larger).
const MAX_BODY: usize = 64 << 20;

/// Headers of the collector's request that are forwarded (and so signed).
const FORWARDED: &[&str] = &[
    "content-type",
    "content-encoding",
    "x-prometheus-remote-write-version",
    "user-agent",
];

#[derive(Clone, Debug, Default)]
pub struct ProxyStats {
    pub requests: u64,
    /// Requests that arrived already carrying an `Authorization` header (replaced).
    pub arrived_signed: u64,
    /// `(status, body)` of AMP's answers that were not 2xx, newest last (bounded).
    pub refusals: Vec<(u16, String)>,
    pub accepted: u64,
    /// Requests the proxy could not sign or forward.
    pub errors: Vec<String>,
}

struct Shared {
    upstream: reqwest::Url,
    /// How long AMP may take to answer one forwarded request (the run's request deadline).
    deadline: Deadline,
    http: reqwest::Client,
    signer: Signer,
    stats: Mutex<ProxyStats>,
}

pub struct SigningProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl SigningProxy {
    /// Listens on 127.0.0.1 at a free port, forwarding to `upstream` (scheme and host of
    /// the workspace's endpoint; the request's path and query are kept). An upstream that
    /// does not answer within `deadline` gets the collector a 502 that names it.
    pub async fn start(
        upstream: reqwest::Url,
        http: reqwest::Client,
        signer: Signer,
        deadline: Deadline,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            upstream,
            deadline,
            http,
            signer,
            stats: Mutex::new(ProxyStats::default()),
        });
        let app = Router::new().fallback(forward).with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { addr, shared, task })
    }

    /// The URL a collector writes to instead of `url` (same path, the proxy's host).
    pub fn url_for(&self, url: &str) -> String {
        match reqwest::Url::parse(url) {
            Ok(u) => match u.query() {
                Some(q) => format!("http://{}{}?{q}", self.addr, u.path()),
                None => format!("http://{}{}", self.addr, u.path()),
            },
            Err(_) => format!("http://{}/", self.addr),
        }
    }

    pub fn stats(&self) -> ProxyStats {
        self.shared
            .stats
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn region(&self) -> &str {
        &self.shared.signer.region
    }
}

impl Drop for SigningProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn forward(State(sh): State<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body: Bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            return (
                StatusCode::PAYLOAD_TOO_LARGE,
                "request body over the proxy's limit\n",
            )
                .into_response();
        }
    };
    let mut url = sh.upstream.clone();
    url.set_path(parts.uri.path());
    url.set_query(parts.uri.query());
    let result = send(&sh, &parts.method, url, &parts.headers, body).await;
    let mut stats = sh.stats.lock().unwrap_or_else(|e| e.into_inner());
    stats.requests += 1;
    if parts.headers.contains_key("authorization") {
        stats.arrived_signed += 1;
    }
    match result {
        Ok((status, body)) => {
            if (200..300).contains(&status) {
                stats.accepted += 1;
            } else {
                stats.refusals.push((status, body.clone()));
                if stats.refusals.len() > 50 {
                    stats.refusals.remove(0);
                }
            }
            let code = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
            (code, body).into_response()
        }
        Err(e) => {
            stats.errors.push(e.clone());
            if stats.errors.len() > 50 {
                stats.errors.remove(0);
            }
            (StatusCode::BAD_GATEWAY, format!("{OWN_ERROR} {e}\n")).into_response()
        }
    }
}

async fn send(
    sh: &Shared,
    method: &http::Method,
    url: reqwest::Url,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<(u16, String), String> {
    let url_text = url.to_string();
    let mut rb = sh
        .http
        .request(method.clone(), url)
        .timeout(sh.deadline.value);
    for name in FORWARDED {
        if let Some(v) = headers.get(*name) {
            rb = rb.header(*name, v);
        }
    }
    let mut req = rb.body(body).build().map_err(|e| e.to_string())?;
    sh.signer
        .sign(&mut req)
        .await
        .map_err(|e| crate::error_chain(&e).replace('\n', ": "))?;
    let resp = sh.http.execute(req).await.map_err(|e| {
        if e.is_timeout() {
            format!("no answer from {url_text} within {}", sh.deadline)
        } else {
            crate::error_chain(&e).replace('\n', ": ")
        }
    })?;
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    Ok((status, text))
}
