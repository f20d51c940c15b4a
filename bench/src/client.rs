//! The one client of every measurement: reqwest, every request SigV4-signed at send time
//! with the mocks' client-side signer (`pipecheck_mocks::sigv4::sign_as_client`:
//! aws-sigv4 with default settings, the signature the harness and AWS SDKs make). Requests
//! to prometheus are signed too (it ignores the header), so the client does the same work
//! for both servers.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use pipecheck_mocks::Identity;
use pipecheck_mocks::sigv4::sign_as_client;

pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        // Loopback, plain HTTP: no root store to load.
        .tls_certs_only([])
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(64)
        .build()
        .expect("a plain reqwest client builds")
}

#[derive(Clone)]
pub struct Endpoint {
    pub name: &'static str,
    pub write_url: String,
    /// Ends in `/api/v1/`.
    pub api_url: String,
    signer: Arc<(Identity, String)>,
}

/// What came back: status and body.
pub struct Answer {
    pub status: u16,
    pub body: Bytes,
}

impl Answer {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub fn text(&self) -> String {
        let s = String::from_utf8_lossy(&self.body);
        s.chars().take(300).collect()
    }
}

impl Endpoint {
    pub fn new(
        name: &'static str,
        write_url: String,
        api_url: String,
        identity: Identity,
        region: String,
    ) -> Self {
        Self {
            name,
            write_url,
            api_url,
            signer: Arc::new((identity, region)),
        }
    }

    fn signed(
        &self,
        method: http::Method,
        url: &str,
        headers: &[(&'static str, &'static str)],
        body: Vec<u8>,
    ) -> Result<reqwest::Request, String> {
        let mut b = http::Request::builder().method(method.clone()).uri(url);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let mut req = b.body(body).map_err(|e| e.to_string())?;
        let (identity, region) = &*self.signer;
        sign_as_client(&mut req, identity, region, "aps", SystemTime::now())?;
        let (parts, body) = req.into_parts();
        let mut out = reqwest::Request::new(
            method,
            reqwest::Url::parse(url).map_err(|e| format!("{url}: {e}"))?,
        );
        *out.headers_mut() = parts.headers;
        if !body.is_empty() {
            *out.body_mut() = Some(body.into());
        }
        Ok(out)
    }

    /// One remote write of an encoded (protobuf + snappy) body.
    pub async fn write(&self, http: &reqwest::Client, body: &Bytes) -> Result<Answer, String> {
        let req = self.signed(
            http::Method::POST,
            &self.write_url,
            &[
                ("content-type", "application/x-protobuf"),
                ("content-encoding", "snappy"),
                ("x-prometheus-remote-write-version", "0.1.0"),
                ("user-agent", "pipecheck-bench"),
            ],
            body.to_vec(),
        )?;
        send(http, req).await
    }

    /// `GET <api>/<path>?<params>` (path `query` or `query_range`).
    pub async fn get(
        &self,
        http: &reqwest::Client,
        path: &str,
        params: &[(&str, String)],
    ) -> Result<Answer, String> {
        let mut url = reqwest::Url::parse(&format!("{}{path}", self.api_url))
            .map_err(|e| format!("{path}: {e}"))?;
        url.query_pairs_mut()
            .extend_pairs(params.iter().map(|(k, v)| (*k, v.as_str())));
        let req = self.signed(
            http::Method::GET,
            url.as_str(),
            &[("user-agent", "pipecheck-bench")],
            Vec::new(),
        )?;
        send(http, req).await
    }
}

async fn send(http: &reqwest::Client, req: reqwest::Request) -> Result<Answer, String> {
    let url = req.url().path().to_string();
    let resp = http.execute(req).await.map_err(|e| format!("{url}: {e}"))?;
    let status = resp.status().as_u16();
    let body = resp.bytes().await.map_err(|e| format!("{url}: {e}"))?;
    Ok(Answer { status, body })
}

/// Milliseconds since the epoch now.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A Prometheus API time parameter for `ms`.
pub fn api_time(ms: i64) -> String {
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}
