//! SigV4 signing of the harness's own HTTP requests to AMP's data plane (remote write and
//! the query API), with the `aws-sigv4` crate and credentials from the SDK's provider
//! chain: the same signature Prometheus' or ADOT's sigv4 produces.
//!
//! A `Signer` can be told to sign "wrongly" the way real writers do (another region, a
//! skewed clock): that is how the writer-side faults of the catalog are reproduced.

use std::time::{Duration, SystemTime};

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("failed to load AWS credentials for signing")]
    Credentials(#[source] aws_credential_types::provider::error::CredentialsError),
    #[error("failed to sign the request to {url}")]
    Sign {
        url: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

#[derive(Clone, Debug)]
pub struct Signer {
    credentials: SharedCredentialsProvider,
    /// The region and service the signature is scoped to (AMP: the workspace's region, `aps`).
    pub region: String,
    pub service: String,
    /// Added to the signing time: a writer whose clock is off.
    pub clock_offset: i64,
}

impl Signer {
    pub fn new(credentials: SharedCredentialsProvider, region: impl Into<String>) -> Self {
        Self {
            credentials,
            region: region.into(),
            service: "aps".to_string(),
            clock_offset: 0,
        }
    }

    fn signing_time(&self) -> SystemTime {
        let now = SystemTime::now();
        let off = Duration::from_secs(self.clock_offset.unsigned_abs());
        if self.clock_offset >= 0 {
            now + off
        } else {
            now - off
        }
    }

    /// Signs `req` in place: adds `Authorization`, `X-Amz-Date` and, with temporary
    /// credentials, `X-Amz-Security-Token`. Every header already on the request is signed.
    pub async fn sign(&self, req: &mut reqwest::Request) -> Result<(), SignError> {
        let creds = self
            .credentials
            .provide_credentials()
            .await
            .map_err(SignError::Credentials)?;
        let identity = creds.into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(&self.service)
            .time(self.signing_time())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| SignError::Sign {
                url: req.url().to_string(),
                source: Box::new(e),
            })?
            .into();
        let body = req.body().and_then(|b| b.as_bytes()).unwrap_or(&[]);
        let headers: Vec<(&str, &str)> = req
            .headers()
            .iter()
            .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str(), v)))
            .collect();
        let signable = SignableRequest::new(
            req.method().as_str(),
            req.url().as_str(),
            headers.into_iter(),
            SignableBody::Bytes(body),
        )
        .map_err(|e| SignError::Sign {
            url: req.url().to_string(),
            source: Box::new(e),
        })?;
        let (instructions, _sig) = sign(signable, &params)
            .map_err(|e| SignError::Sign {
                url: req.url().to_string(),
                source: Box::new(e),
            })?
            .into_parts();
        let (headers, _params) = instructions.into_parts();
        for h in headers {
            let name =
                http::HeaderName::from_bytes(h.name().as_bytes()).map_err(|e| SignError::Sign {
                    url: req.url().to_string(),
                    source: Box::new(e),
                })?;
            let value = http::HeaderValue::from_str(h.value()).map_err(|e| SignError::Sign {
                url: req.url().to_string(),
                source: Box::new(e),
            })?;
            req.headers_mut().insert(name, value);
        }
        Ok(())
    }
}
