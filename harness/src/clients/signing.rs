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
    /// credentials, `X-Amz-Security-Token`. Every header already on the request is signed
    /// (but those aws-sigv4 leaves out, such as `User-Agent`). Returns what was signed, so
    /// a refusal can be compared with it.
    pub async fn sign(&self, req: &mut reqwest::Request) -> Result<SignedRequest, SignError> {
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
        Ok(SignedRequest::of(req, &self.region, &self.service))
    }
}

/// What a writer signed: the signed headers with their values, the body's hash and the
/// scope, read back from the signed request (aws-sigv4 does not expose its canonical
/// request). Compared with the Canonical String AMP prints when a signature does not match.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SignedRequest {
    pub path: String,
    /// `(lowercase name, value)` in `SignedHeaders` order; several values joined by `,`.
    pub headers: Vec<(String, String)>,
    pub payload_sha256: String,
    pub amz_date: String,
    pub region: String,
    pub service: String,
}

impl SignedRequest {
    fn of(req: &reqwest::Request, region: &str, service: &str) -> Self {
        let header = |name: &str| -> String {
            req.headers()
                .get_all(name)
                .iter()
                .map(|v| trim_value(&String::from_utf8_lossy(v.as_bytes())))
                .collect::<Vec<_>>()
                .join(",")
        };
        let auth = header("authorization");
        let names = auth
            .split(", ")
            .find_map(|p| p.strip_prefix("SignedHeaders="))
            .map(|l| l.split(';').map(str::to_string).collect::<Vec<_>>())
            .unwrap_or_default();
        let url = req.url();
        // reqwest sets Host when sending; the signer took it from the URL.
        let host = match (url.host_str(), url.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            (None, _) => String::new(),
        };
        let headers = names
            .into_iter()
            .map(|n| {
                let v = if n == "host" {
                    host.clone()
                } else {
                    header(&n)
                };
                (n, v)
            })
            .collect();
        let body = req.body().and_then(|b| b.as_bytes()).unwrap_or(&[]);
        Self {
            path: url.path().to_string(),
            headers,
            payload_sha256: <sha2::Sha256 as sha2::Digest>::digest(body)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
            amz_date: header("x-amz-date"),
            region: region.to_string(),
            service: service.to_string(),
        }
    }
}

/// A header value as SigV4 canonicalises it: trimmed, inner runs of spaces made one.
fn trim_value(v: &str) -> String {
    v.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The Canonical String and String-to-Sign that AWS prints in a signature-mismatch
/// message ("The Canonical String for this request should have been\n'…'\n\nThe
/// String-to-Sign should have been\n'…'"): what the service computed from the request
/// as it arrived.
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceCanonical {
    pub method: String,
    pub path: String,
    pub query: String,
    /// `(name, value)` as listed, in order.
    pub headers: Vec<(String, String)>,
    pub signed_headers: Vec<String>,
    pub payload_sha256: String,
    /// From the String-to-Sign, when it is there: the date and the scope's region and service.
    pub amz_date: Option<String>,
    pub region: Option<String>,
    pub service: Option<String>,
}

const CANONICAL_INTRO: &str = "The Canonical String for this request should have been\n'";
const STRING_TO_SIGN_INTRO: &str = "The String-to-Sign should have been\n'";

impl ServiceCanonical {
    /// Reads the message of a signature mismatch; None when it carries no canonical string
    /// (or one that is not of the SigV4 form).
    pub fn parse(message: &str) -> Option<Self> {
        let start = message.find(CANONICAL_INTRO)? + CANONICAL_INTRO.len();
        let rest = &message[start..];
        let end = rest
            .find("'\n\nThe String-to-Sign")
            .or_else(|| rest.rfind('\''))?;
        let canonical = &rest[..end];
        let mut lines = canonical.split('\n');
        let method = lines.next()?.to_string();
        let path = lines.next()?.to_string();
        let query = lines.next()?.to_string();
        let mut headers = Vec::new();
        for line in lines.by_ref() {
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':')?;
            headers.push((name.to_string(), value.to_string()));
        }
        let signed_headers: Vec<String> = lines.next()?.split(';').map(str::to_string).collect();
        let payload_sha256 = lines.next()?.to_string();
        let (mut amz_date, mut region, mut service) = (None, None, None);
        if let Some(i) = message.find(STRING_TO_SIGN_INTRO) {
            let sts = &message[i + STRING_TO_SIGN_INTRO.len()..];
            let sts = sts.split('\'').next().unwrap_or("");
            let mut l = sts.split('\n').skip(1);
            amz_date = l.next().map(str::to_string);
            if let Some(scope) = l.next() {
                let mut parts = scope.split('/').skip(1);
                region = parts.next().map(str::to_string);
                service = parts.next().map(str::to_string);
            }
        }
        Some(Self {
            method,
            path,
            query,
            headers,
            signed_headers,
            payload_sha256,
            amz_date,
            region,
            service,
        })
    }

    /// What differs between the request as the writer signed it and as the service saw
    /// it, one line each; empty when the two agree.
    pub fn differences(&self, signed: &SignedRequest) -> Vec<SignedDifference> {
        let mut out = Vec::new();
        for (name, seen) in &self.headers {
            match signed.headers.iter().find(|(n, _)| n == name) {
                None => out.push(SignedDifference::NotSignedByWriter {
                    header: name.clone(),
                    seen: seen.clone(),
                }),
                Some((_, value)) if value != seen => out.push(SignedDifference::Changed {
                    header: name.clone(),
                    signed: value.clone(),
                    seen: seen.clone(),
                }),
                Some(_) => {}
            }
        }
        for (name, value) in &signed.headers {
            if !self.headers.iter().any(|(n, _)| n == name) {
                out.push(SignedDifference::Dropped {
                    header: name.clone(),
                    signed: value.clone(),
                });
            }
        }
        if self.path != signed.path {
            out.push(SignedDifference::Path {
                signed: signed.path.clone(),
                seen: self.path.clone(),
            });
        }
        if self.payload_sha256 != signed.payload_sha256 {
            out.push(SignedDifference::Body);
        }
        let scope = |seen: &Option<String>, signed: &str, what: &'static str| {
            seen.as_deref()
                .filter(|s| *s != signed)
                .map(|s| SignedDifference::Scope {
                    what,
                    signed: signed.to_string(),
                    seen: s.to_string(),
                })
        };
        out.extend(scope(&self.region, &signed.region, "region"));
        out.extend(scope(&self.service, &signed.service, "service"));
        out.extend(scope(&self.amz_date, &signed.amz_date, "date"));
        out
    }
}

/// One way a request differs from what its writer signed.
#[derive(Clone, Debug, PartialEq)]
pub enum SignedDifference {
    /// A signed header's value changed (or a value was added to it) after signing.
    Changed {
        header: String,
        signed: String,
        seen: String,
    },
    /// The service's canonical string lists a header the writer did not sign.
    NotSignedByWriter {
        header: String,
        seen: String,
    },
    /// The writer signed a header the service did not see.
    Dropped {
        header: String,
        signed: String,
    },
    Path {
        signed: String,
        seen: String,
    },
    /// The body's hash differs: the body was changed after signing.
    Body,
    /// The String-to-Sign's region, service or date differs from the writer's.
    Scope {
        what: &'static str,
        signed: String,
        seen: String,
    },
}

impl SignedDifference {
    /// The header it is about, if any.
    pub fn header(&self) -> Option<&str> {
        match self {
            Self::Changed { header, .. }
            | Self::NotSignedByWriter { header, .. }
            | Self::Dropped { header, .. } => Some(header),
            _ => None,
        }
    }
}

impl std::fmt::Display for SignedDifference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Changed {
                header,
                signed,
                seen,
            } => write!(
                f,
                "header {header} was signed as {signed:?} but reached AMP as {seen:?}"
            ),
            Self::NotSignedByWriter { header, seen } => write!(
                f,
                "header {header} ({seen:?}) is in AMP's canonical string but the writer did not sign it"
            ),
            Self::Dropped { header, signed } => {
                write!(
                    f,
                    "header {header} ({signed:?}) was signed but did not reach AMP"
                )
            }
            Self::Path { signed, seen } => {
                write!(
                    f,
                    "the path was signed as {signed} but reached AMP as {seen}"
                )
            }
            Self::Body => write!(
                f,
                "the body was changed after signing (its SHA-256 differs)"
            ),
            Self::Scope { what, signed, seen } => {
                write!(f, "the {what} was signed as {signed} but AMP used {seen}")
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The body of AMP's 403 for a request whose signed `x-agent-id` got a second value on
    /// the way (the mock writes the same text).
    pub(crate) fn mismatch_message() -> String {
        "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.\n\n\
         The Canonical String for this request should have been\n'POST\n/workspaces/ws-1/api/v1/remote_write\n\n\
         content-encoding:snappy\ncontent-type:application/x-protobuf\nhost:127.0.0.1:4510\nx-agent-id:writer-1,agent-7\nx-amz-date:20240501T120000Z\n\n\
         content-encoding;content-type;host;x-agent-id;x-amz-date\nabc123'\n\n\
         The String-to-Sign should have been\n'AWS4-HMAC-SHA256\n20240501T120000Z\n20240501/us-east-1/aps/aws4_request\nfff'\n"
            .to_string()
    }

    pub(crate) fn signed() -> SignedRequest {
        SignedRequest {
            path: "/workspaces/ws-1/api/v1/remote_write".into(),
            headers: [
                ("content-encoding", "snappy"),
                ("content-type", "application/x-protobuf"),
                ("host", "127.0.0.1:4510"),
                ("x-agent-id", "writer-1"),
                ("x-amz-date", "20240501T120000Z"),
            ]
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
            payload_sha256: "abc123".into(),
            amz_date: "20240501T120000Z".into(),
            region: "us-east-1".into(),
            service: "aps".into(),
        }
    }

    #[test]
    fn the_canonical_string_of_a_mismatch_is_read() {
        let c = ServiceCanonical::parse(&mismatch_message()).unwrap();
        assert_eq!(c.method, "POST");
        assert_eq!(c.path, "/workspaces/ws-1/api/v1/remote_write");
        assert_eq!(c.query, "");
        assert_eq!(
            c.headers[3],
            ("x-agent-id".into(), "writer-1,agent-7".into())
        );
        assert_eq!(c.signed_headers.len(), 5);
        assert_eq!(c.payload_sha256, "abc123");
        assert_eq!(c.region.as_deref(), Some("us-east-1"));
        assert_eq!(c.service.as_deref(), Some("aps"));
        assert_eq!(c.amz_date.as_deref(), Some("20240501T120000Z"));
        assert!(ServiceCanonical::parse("Signature expired: x").is_none());
        assert!(
            ServiceCanonical::parse(
                "The Canonical String for this request should have been\n'POST'"
            )
            .is_none()
        );
    }

    #[test]
    fn differences_name_changed_unsigned_and_dropped_headers() {
        let c = ServiceCanonical::parse(&mismatch_message()).unwrap();
        let mut s = signed();
        assert_eq!(
            c.differences(&s),
            vec![SignedDifference::Changed {
                header: "x-agent-id".into(),
                signed: "writer-1".into(),
                seen: "writer-1,agent-7".into(),
            }]
        );
        s.headers.retain(|(n, _)| n != "x-agent-id");
        s.headers.push(("x-extra".into(), "1".into()));
        s.region = "eu-west-1".into();
        let d = c.differences(&s);
        assert!(d.contains(&SignedDifference::NotSignedByWriter {
            header: "x-agent-id".into(),
            seen: "writer-1,agent-7".into()
        }));
        assert!(d.contains(&SignedDifference::Dropped {
            header: "x-extra".into(),
            signed: "1".into()
        }));
        assert!(
            d.iter()
                .any(|x| matches!(x, SignedDifference::Scope { what: "region", .. }))
        );
        let mut s = signed();
        s.headers[3].1 = "writer-1,agent-7".into();
        assert!(c.differences(&s).is_empty());
        s.payload_sha256 = "other".into();
        assert_eq!(c.differences(&s), vec![SignedDifference::Body]);
    }

    #[tokio::test]
    async fn what_was_signed_is_read_back_from_the_request() {
        let creds =
            aws_credential_types::Credentials::new("AKIDEXAMPLE", "secret", None, None, "t");
        let signer = Signer::new(SharedCredentialsProvider::new(creds), "us-east-1");
        let mut req = reqwest::Client::new()
            .post("http://127.0.0.1:4510/workspaces/ws-1/api/v1/remote_write")
            .header("Content-Type", "application/x-protobuf")
            .header("User-Agent", "pipecheck/test")
            .header("X-Agent-Id", "  writer-1  ")
            .body(b"abc".to_vec())
            .build()
            .unwrap();
        let s = signer.sign(&mut req).await.unwrap();
        let names: Vec<&str> = s.headers.iter().map(|(n, _)| n.as_str()).collect();
        // aws-sigv4 leaves User-Agent unsigned.
        assert_eq!(names, ["content-type", "host", "x-agent-id", "x-amz-date"]);
        assert_eq!(s.headers[1].1, "127.0.0.1:4510");
        assert_eq!(s.headers[2].1, "writer-1");
        assert_eq!(
            s.payload_sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            (s.region.as_str(), s.service.as_str()),
            ("us-east-1", "aps")
        );
    }
}
