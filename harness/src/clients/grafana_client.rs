//! The harness's client for a workspace's Grafana HTTP API, over reqwest with
//! `Authorization: Bearer <token>`. Every call returns what was exchanged (never the
//! token), so a link can quote Grafana's answer as evidence.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::amp_client::Exchange;

#[derive(Debug, thiserror::Error)]
pub enum GrafanaClientError {
    #[error("invalid Grafana URL {0:?}")]
    BadUrl(String),
    #[error("request to {url} failed after {elapsed:?}")]
    Transport {
        url: String,
        elapsed: Duration,
        #[source]
        source: reqwest::Error,
    },
}

#[derive(Clone)]
pub struct GrafanaClient {
    http: reqwest::Client,
    /// `https://g-….grafana-workspace.<region>.amazonaws.com`, no trailing `/`.
    base: String,
    token: Option<String>,
    timeout: Duration,
}

// The token must never reach a log line.
impl std::fmt::Debug for GrafanaClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrafanaClient")
            .field("base", &self.base)
            .field("token", &self.token.as_ref().map(|_| "[REDACTED]"))
            .finish()
    }
}

impl GrafanaClient {
    /// A client for the Grafana at `base` (scheme and host), without a token yet.
    pub fn new(
        http: reqwest::Client,
        base: &str,
        timeout: Duration,
    ) -> Result<Self, GrafanaClientError> {
        let trimmed = base.trim().trim_end_matches('/');
        let url =
            reqwest::Url::parse(trimmed).map_err(|_| GrafanaClientError::BadUrl(base.into()))?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(GrafanaClientError::BadUrl(base.into()));
        }
        Ok(Self {
            http,
            base: trimmed.to_string(),
            token: None,
            timeout,
        })
    }

    /// The same client sending `token` as its bearer credential.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> Result<Exchange, GrafanaClientError> {
        self.send("GET", self.http.get(self.url(path)), path).await
    }

    pub async fn post_json(
        &self,
        path: &str,
        body: &Value,
    ) -> Result<Exchange, GrafanaClientError> {
        let rb = self.http.post(self.url(path)).json(body);
        self.send("POST", rb, path).await
    }

    pub async fn delete(&self, path: &str) -> Result<Exchange, GrafanaClientError> {
        self.send("DELETE", self.http.delete(self.url(path)), path)
            .await
    }

    async fn send(
        &self,
        method: &'static str,
        mut rb: reqwest::RequestBuilder,
        path: &str,
    ) -> Result<Exchange, GrafanaClientError> {
        let url = self.url(path);
        rb = rb
            .header("Accept", "application/json")
            .header(
                "User-Agent",
                concat!("pipecheck/", env!("CARGO_PKG_VERSION")),
            )
            .timeout(self.timeout);
        if let Some(t) = &self.token {
            rb = rb.bearer_auth(t);
        }
        let started = Instant::now();
        let transport = |source| GrafanaClientError::Transport {
            url: url.clone(),
            elapsed: started.elapsed(),
            source,
        };
        let resp = rb.send().await.map_err(transport)?;
        let status = resp.status().as_u16();
        let body = resp.text().await.map_err(transport)?;
        Ok(Exchange {
            method,
            url: url.clone(),
            status: Some(status),
            body,
            elapsed: started.elapsed(),
            signed: None,
        })
    }
}

/// The JSON body of an exchange, if it is JSON.
pub fn json_of(ex: &Exchange) -> Option<Value> {
    serde_json::from_str(&ex.body).ok()
}

/// Grafana's `message` of an error body (`{"message": …}`, errutil and RBAC shapes alike),
/// or the body itself.
pub fn message_of(body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| body.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_messages() {
        let http = reqwest::Client::new();
        let c = GrafanaClient::new(http.clone(), "http://127.0.0.1:9/", Duration::ZERO).unwrap();
        assert_eq!(c.url("/api/health"), "http://127.0.0.1:9/api/health");
        assert!(GrafanaClient::new(http.clone(), "g-1.grafana", Duration::ZERO).is_err());
        assert!(GrafanaClient::new(http, "ftp://h", Duration::ZERO).is_err());
        let c = c.with_token("glsa_secret");
        assert!(!format!("{c:?}").contains("glsa_secret"));
        assert_eq!(
            message_of(
                r#"{"extra":null,"message":"Expired API key","messageId":"api-key.expired","statusCode":401,"traceID":""}"#
            ),
            "Expired API key"
        );
        assert_eq!(message_of("Bad Gateway\n"), "Bad Gateway");
    }
}
