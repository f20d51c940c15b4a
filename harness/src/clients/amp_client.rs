//! The harness's client for AMP's data plane: remote write and the Prometheus query API,
//! over reqwest, SigV4-signed by [`Signer`]. Every call returns what was exchanged, so a
//! link can quote it as evidence.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use backon::{BackoffBuilder, ExponentialBuilder};
use serde::Deserialize;

use crate::signing::{SignError, SignedRequest, Signer};

/// One request and what came back, for evidence. Never holds the `Authorization` header;
/// `signed` may hold an `x-amz-security-token`, which the run's redactor (the session
/// token is registered, and the header's `name:value` form is a pattern) removes from
/// anything printed.
#[derive(Clone, Debug)]
pub struct Exchange {
    pub method: &'static str,
    pub url: String,
    pub status: Option<u16>,
    pub body: String,
    pub elapsed: Duration,
    /// What the harness signed, when it signed the request: a signature mismatch is
    /// diagnosed by comparing it with the Canonical String AMP prints.
    pub signed: Option<SignedRequest>,
}

impl Exchange {
    /// `POST https://…/remote_write -> 403 {"message":"Missing Authentication Token"}`
    pub fn summary(&self) -> String {
        let status = self
            .status
            .map(|s| s.to_string())
            .unwrap_or_else(|| "no answer".into());
        let body = truncate(self.body.trim_end(), 600);
        if body.is_empty() {
            format!("{} {} -> {status}", self.method, self.url)
        } else {
            format!("{} {} -> {status} {body}", self.method, self.url)
        }
    }

    pub fn is_success(&self) -> bool {
        matches!(self.status, Some(200..=299))
    }
}

pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let cut: String = s.chars().take(max).collect();
        format!("{cut}… ({} bytes in all)", s.len())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(transparent)]
    Sign(#[from] SignError),
    #[error("request to {url} failed after {elapsed:?}")]
    Transport {
        url: String,
        elapsed: Duration,
        #[source]
        source: reqwest::Error,
    },
    #[error("invalid AMP endpoint {0:?}")]
    BadUrl(String),
    #[error("invalid header {0:?} for the writer's request")]
    BadHeader(String),
}

/// How a request got no HTTP answer, as the harness saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransportFailure {
    /// The endpoint's host name does not resolve.
    NoSuchHost {
        url: String,
        host: String,
    },
    /// Connected, then no answer within the attempt's deadline.
    NoAnswer {
        url: String,
    },
    /// No connection (refused, unreachable).
    NoConnection {
        url: String,
    },
    /// The connection was closed before a response.
    Closed {
        url: String,
    },
    Other {
        url: String,
        chain: String,
    },
}

impl TransportFailure {
    /// In words for a verdict, with the URL.
    pub fn what(&self) -> String {
        match self {
            Self::NoSuchHost { url, host } => format!("no such host {host} ({url})"),
            Self::NoAnswer { url } => format!("no answer from {url}"),
            Self::NoConnection { url } => format!("could not connect to {url}"),
            Self::Closed { url } => format!("connection closed before a response ({url})"),
            Self::Other { url, chain } => format!("no response from {url}: {chain}"),
        }
    }

    /// The fix for what was seen: a name that does not resolve has its own; anything
    /// else is the caller's `otherwise` (which says what may hold or drop connections).
    pub fn hint(&self, otherwise: &str) -> String {
        match self {
            Self::NoSuchHost { host, .. } => crate::no_such_host_hint(host),
            _ => otherwise.to_string(),
        }
    }
}

impl ClientError {
    /// How the request got no HTTP answer, when it got none; None for errors that are not
    /// about the transport.
    pub fn transport_failure(&self) -> Option<TransportFailure> {
        let ClientError::Transport { url, source, .. } = self else {
            return None;
        };
        let url = url.clone();
        let chain = crate::error_chain(source).to_ascii_lowercase();
        Some(if crate::is_no_such_host(source) {
            let host = reqwest::Url::parse(&url)
                .ok()
                .and_then(|u| u.host_str().map(str::to_string))
                .unwrap_or_else(|| url.clone());
            TransportFailure::NoSuchHost { url, host }
        } else if source.is_timeout() {
            TransportFailure::NoAnswer { url }
        } else if source.is_connect() {
            TransportFailure::NoConnection { url }
        } else if chain.contains("closed before message completed")
            || chain.contains("connection reset")
            || chain.contains("incomplete message")
        {
            TransportFailure::Closed { url }
        } else {
            TransportFailure::Other {
                url,
                chain: chain.replace('\n', ": "),
            }
        })
    }
}

/// How a writer behaves on the wire; the catalog's writer-side faults change this.
#[derive(Clone, Debug, Default)]
pub struct WriterBehaviour {
    /// Send without any SigV4 signature (Debian's prometheus with a `sigv4:` block does this).
    pub unsigned: bool,
    /// Sign for this region instead of the workspace's.
    pub signing_region: Option<String>,
    /// The writer's clock is off by this many seconds.
    pub clock_offset_secs: i64,
    /// Headers the writer sets before signing (as Prometheus' `remote_write.headers`):
    /// they are signed.
    pub headers: Vec<(String, String)>,
    /// Headers added after signing, as a proxy or agent between the writer and AMP adds
    /// them (F31): a value added to a signed header breaks the signature.
    pub added_after_signing: Vec<(String, String)>,
}

/// How [`AmpDataClient::remote_write_retrying`] retries, as a remote-write sender does
/// (the spec: MUST retry 5xx, MAY retry 429, MUST NOT retry other 4xx).
#[derive(Clone, Debug)]
pub struct Retries {
    /// Attempts in all, the first included.
    pub max_attempts: usize,
    /// Exponential backoff with jitter between these.
    pub min_delay: Duration,
    pub max_delay: Duration,
    /// How long one attempt may take before it counts as unanswered (and is retried).
    pub attempt_timeout: Duration,
    /// Unanswered attempts after which the write gives up: each took the whole attempt
    /// timeout, and the caller's own deadline leaves room for only so many.
    pub max_unanswered: usize,
}

impl Default for Retries {
    /// A transient throttle passes, a persistent one fails in seconds.
    fn default() -> Self {
        Self {
            max_attempts: 5,
            min_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
            attempt_timeout: Duration::from_secs(10),
            max_unanswered: 2,
        }
    }
}

/// What [`AmpDataClient::remote_write_retrying`] did.
#[derive(Debug)]
pub struct RetriedWrite {
    /// The last attempt: its exchange, or why it was not sent; None when it got no answer
    /// within the attempt timeout.
    pub last: Option<Result<Exchange, ClientError>>,
    /// Each attempt before the last, summarized (all retried).
    pub retried: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct AmpDataClient {
    http: reqwest::Client,
    /// The workspace's `prometheusEndpoint`, ending in `/`.
    base: reqwest::Url,
    signer: Signer,
}

/// A sample as the query API returns it.
#[derive(Clone, Debug, PartialEq)]
pub struct ResultSeries {
    pub labels: BTreeMap<String, String>,
    /// `(timestamp ms, value)`; one point for a vector, several for a matrix.
    pub points: Vec<(i64, f64)>,
}

#[derive(Debug)]
pub enum QueryResult {
    /// The API answered with a result (vector and matrix both map here; a scalar is one
    /// series with no labels).
    Data {
        result_type: String,
        series: Vec<ResultSeries>,
        exchange: Exchange,
    },
    /// The API answered with an error: AMP's own (403, 404) or the Prometheus envelope's.
    Refused {
        exchange: Exchange,
        error_type: Option<String>,
        error: String,
    },
}

#[derive(Deserialize)]
struct Envelope {
    status: String,
    #[serde(default)]
    data: Option<EnvelopeData>,
    #[serde(rename = "errorType", default)]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
struct EnvelopeData {
    #[serde(rename = "resultType")]
    result_type: String,
    result: serde_json::Value,
}

impl AmpDataClient {
    pub fn new(
        http: reqwest::Client,
        prometheus_endpoint: &str,
        signer: Signer,
    ) -> Result<Self, ClientError> {
        let mut base = prometheus_endpoint.to_string();
        if !base.ends_with('/') {
            base.push('/');
        }
        let base = reqwest::Url::parse(&base)
            .map_err(|_| ClientError::BadUrl(prometheus_endpoint.to_string()))?;
        Ok(Self { http, base, signer })
    }

    pub fn remote_write_url(&self) -> String {
        self.url("api/v1/remote_write")
    }

    /// The workspace's `prometheusEndpoint` this client talks to, ending in `/`.
    pub fn endpoint(&self) -> &str {
        self.base.as_str()
    }

    fn url(&self, rel: &str) -> String {
        self.base
            .join(rel)
            .map(|u| u.to_string())
            .unwrap_or_else(|_| format!("{}{rel}", self.base))
    }

    /// One remote-write POST of an encoded body, behaving as `how` says. No retries:
    /// the caller decides (a 429 or 5xx may be retried, other 4xx must not).
    pub async fn remote_write(
        &self,
        body: Vec<u8>,
        how: &WriterBehaviour,
    ) -> Result<Exchange, ClientError> {
        let url = self.remote_write_url();
        let mut req = self
            .http
            .post(&url)
            .header("Content-Type", "application/x-protobuf")
            .header("Content-Encoding", "snappy")
            .header("X-Prometheus-Remote-Write-Version", "0.1.0")
            .header(
                "User-Agent",
                concat!("pipecheck/", env!("CARGO_PKG_VERSION")),
            )
            .body(body);
        for (name, value) in &how.headers {
            req = req.header(name, value);
        }
        let mut req = req.build().map_err(|source| ClientError::Transport {
            url: url.clone(),
            elapsed: Duration::ZERO,
            source,
        })?;
        let mut signed = None;
        if !how.unsigned {
            let mut signer = self.signer.clone();
            if let Some(r) = &how.signing_region {
                signer.region = r.clone();
            }
            signer.clock_offset = how.clock_offset_secs;
            signed = Some(signer.sign(&mut req).await?);
        }
        for (name, value) in &how.added_after_signing {
            let (Ok(name), Ok(value)) = (
                http::HeaderName::from_bytes(name.as_bytes()),
                http::HeaderValue::from_str(value),
            ) else {
                return Err(ClientError::BadHeader(name.clone()));
            };
            req.headers_mut().append(name, value);
        }
        let mut exchange = self.send("POST", req).await?;
        exchange.signed = signed;
        Ok(exchange)
    }

    /// Remote write with retries: a 429, a 5xx, a transport error or no answer within
    /// `retries.attempt_timeout` is tried again after a backoff, up to
    /// `retries.max_attempts` in all; a 2xx or another 4xx ends it.
    pub async fn remote_write_retrying(
        &self,
        body: Vec<u8>,
        how: &WriterBehaviour,
        retries: &Retries,
    ) -> RetriedWrite {
        let mut delays = ExponentialBuilder::default()
            .with_min_delay(retries.min_delay)
            .with_max_delay(retries.max_delay)
            .with_jitter()
            .with_max_times(retries.max_attempts.saturating_sub(1))
            .build();
        let mut retried: Vec<String> = Vec::new();
        let mut unanswered = 0;
        loop {
            let outcome = tokio::time::timeout(
                retries.attempt_timeout,
                self.remote_write(body.clone(), how),
            )
            .await
            .ok();
            unanswered += outcome.is_none() as usize;
            let retryable = match &outcome {
                None => true,
                Some(Ok(ex)) => matches!(ex.status, Some(429) | Some(500..=599)),
                Some(Err(ClientError::Transport { .. })) => true,
                Some(Err(_)) => false,
            };
            let delay = if retryable && unanswered < retries.max_unanswered {
                delays.next()
            } else {
                None
            };
            let Some(delay) = delay else {
                return RetriedWrite {
                    last: outcome,
                    retried,
                };
            };
            retried.push(match outcome {
                Some(Ok(ex)) => ex.summary(),
                Some(Err(e)) => e.to_string(),
                None => format!(
                    "no answer within {}",
                    crate::chain::Deadline::new("request", retries.attempt_timeout)
                ),
            });
            tokio::time::sleep(delay).await;
        }
    }

    /// An instant query at `time_ms`, POSTed as a form like Grafana does.
    pub async fn query(&self, promql: &str, time_ms: i64) -> Result<QueryResult, ClientError> {
        let form = [("query", promql.to_string()), ("time", secs(time_ms))];
        self.post_query("api/v1/query", &form).await
    }

    pub async fn query_range(
        &self,
        promql: &str,
        start_ms: i64,
        end_ms: i64,
        step: Duration,
    ) -> Result<QueryResult, ClientError> {
        let form = [
            ("query", promql.to_string()),
            ("start", secs(start_ms)),
            ("end", secs(end_ms)),
            ("step", format!("{}", step.as_secs_f64())),
        ];
        self.post_query("api/v1/query_range", &form).await
    }

    /// The values of `label` across the workspace (`GET …/api/v1/label/{label}/values`,
    /// which needs `aps:GetLabels`): the values, or None when AMP did not answer them in
    /// the Prometheus envelope (the exchange says why).
    pub async fn label_values(
        &self,
        label: &str,
    ) -> Result<(Option<Vec<String>>, Exchange), ClientError> {
        let url = self.url(&format!("api/v1/label/{label}/values"));
        let mut req = self
            .http
            .get(&url)
            .build()
            .map_err(|source| ClientError::Transport {
                url: url.clone(),
                elapsed: Duration::ZERO,
                source,
            })?;
        self.signer.sign(&mut req).await?;
        let exchange = self.send("GET", req).await?;
        #[derive(Deserialize)]
        struct Values {
            status: String,
            #[serde(default)]
            data: Vec<String>,
        }
        let values = serde_json::from_str::<Values>(&exchange.body)
            .ok()
            .filter(|v| v.status == "success" && exchange.is_success())
            .map(|v| v.data);
        Ok((values, exchange))
    }

    async fn post_query(
        &self,
        rel: &str,
        form: &[(&str, String)],
    ) -> Result<QueryResult, ClientError> {
        let url = self.url(rel);
        let mut req =
            self.http
                .post(&url)
                .form(form)
                .build()
                .map_err(|source| ClientError::Transport {
                    url: url.clone(),
                    elapsed: Duration::ZERO,
                    source,
                })?;
        self.signer.sign(&mut req).await?;
        let exchange = self.send("POST", req).await?;
        Ok(parse_query(exchange))
    }

    async fn send(
        &self,
        method: &'static str,
        req: reqwest::Request,
    ) -> Result<Exchange, ClientError> {
        let url = req.url().to_string();
        let started = Instant::now();
        let resp = self
            .http
            .execute(req)
            .await
            .map_err(|source| ClientError::Transport {
                url: url.clone(),
                elapsed: started.elapsed(),
                source,
            })?;
        let status = resp.status().as_u16();
        let body = resp.text().await.map_err(|source| ClientError::Transport {
            url: url.clone(),
            elapsed: started.elapsed(),
            source,
        })?;
        Ok(Exchange {
            method,
            url,
            status: Some(status),
            body,
            elapsed: started.elapsed(),
            signed: None,
        })
    }
}

fn secs(ms: i64) -> String {
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}

fn parse_query(exchange: Exchange) -> QueryResult {
    let env: Envelope = match serde_json::from_str(&exchange.body) {
        Ok(e) => e,
        Err(_) => {
            // AMP's own refusals (`{"message":..}`) and anything else that is not the envelope.
            let error = error_message(&exchange.body);
            return QueryResult::Refused {
                exchange,
                error_type: None,
                error,
            };
        }
    };
    if env.status != "success" || !exchange.is_success() {
        let error = env.error.unwrap_or_else(|| error_message(&exchange.body));
        return QueryResult::Refused {
            exchange,
            error_type: env.error_type,
            error,
        };
    }
    let Some(data) = env.data else {
        return QueryResult::Refused {
            exchange,
            error_type: None,
            error: "success without data".into(),
        };
    };
    match parse_result(&data.result_type, &data.result) {
        Ok(series) => QueryResult::Data {
            result_type: data.result_type,
            series,
            exchange,
        },
        Err(e) => QueryResult::Refused {
            exchange,
            error_type: None,
            error: e,
        },
    }
}

/// The `message`/`Message` of an AWS JSON error body, or the body itself.
pub fn error_message(body: &str) -> String {
    #[derive(Deserialize)]
    struct AwsError {
        #[serde(alias = "Message")]
        message: String,
    }
    serde_json::from_str::<AwsError>(body)
        .map(|e| e.message)
        .unwrap_or_else(|_| body.trim().to_string())
}

fn parse_point(p: &serde_json::Value) -> Result<(i64, f64), String> {
    let arr = p
        .as_array()
        .filter(|a| a.len() == 2)
        .ok_or("a point is not [time, value]")?;
    let t = arr[0].as_f64().ok_or("a point's time is not a number")?;
    let v = arr[1].as_str().ok_or("a point's value is not a string")?;
    let v = match v {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        other => other
            .parse::<f64>()
            .map_err(|_| format!("value {other:?} is not a number"))?,
    };
    Ok(((t * 1000.0).round() as i64, v))
}

fn parse_result(kind: &str, result: &serde_json::Value) -> Result<Vec<ResultSeries>, String> {
    let metric = |item: &serde_json::Value| -> BTreeMap<String, String> {
        item.get("metric")
            .and_then(|m| m.as_object())
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                    .collect()
            })
            .unwrap_or_default()
    };
    match kind {
        "vector" => result
            .as_array()
            .ok_or("vector result is not a list")?
            .iter()
            .map(|item| {
                Ok(ResultSeries {
                    labels: metric(item),
                    points: vec![parse_point(
                        item.get("value").ok_or("vector item without value")?,
                    )?],
                })
            })
            .collect(),
        "matrix" => result
            .as_array()
            .ok_or("matrix result is not a list")?
            .iter()
            .map(|item| {
                let values = item
                    .get("values")
                    .and_then(|v| v.as_array())
                    .ok_or("matrix item without values")?;
                Ok(ResultSeries {
                    labels: metric(item),
                    points: values.iter().map(parse_point).collect::<Result<_, _>>()?,
                })
            })
            .collect(),
        "scalar" => Ok(vec![ResultSeries {
            labels: BTreeMap::new(),
            points: vec![parse_point(result)?],
        }]),
        other => Err(format!("unexpected resultType {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exchange(status: u16, body: &str) -> Exchange {
        Exchange {
            method: "POST",
            url: "http://x/api/v1/query".into(),
            status: Some(status),
            body: body.into(),
            elapsed: Duration::ZERO,
            signed: None,
        }
    }

    #[test]
    fn parses_vector_matrix_and_scalar() {
        let v = parse_query(exchange(
            200,
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"up","job":"a"},"value":[1700000000.5,"1.25"]}]}}"#,
        ));
        let QueryResult::Data { series, .. } = v else {
            panic!("not data")
        };
        assert_eq!(series[0].points, vec![(1_700_000_000_500, 1.25)]);
        assert_eq!(series[0].labels["job"], "a");
        let m = parse_query(exchange(
            200,
            r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"+Inf"],[2,"3"]]}]}}"#,
        ));
        let QueryResult::Data { series, .. } = m else {
            panic!("not data")
        };
        assert_eq!(series[0].points[0].1, f64::INFINITY);
        assert_eq!(series[0].points[1], (2000, 3.0));
        let s = parse_query(exchange(
            200,
            r#"{"status":"success","data":{"resultType":"scalar","result":[1,"2"]}}"#,
        ));
        assert!(matches!(s, QueryResult::Data { .. }));
    }

    #[test]
    fn amp_and_prometheus_errors_are_refusals_with_their_message() {
        let r = parse_query(exchange(
            403,
            r#"{"Message":"User: x is not authorized to perform: aps:QueryMetrics"}"#,
        ));
        let QueryResult::Refused { error, .. } = r else {
            panic!()
        };
        assert!(error.contains("aps:QueryMetrics"));
        let r = parse_query(exchange(
            400,
            r#"{"status":"error","errorType":"bad_data","error":"parse error"}"#,
        ));
        let QueryResult::Refused { error_type, .. } = r else {
            panic!()
        };
        assert_eq!(error_type.as_deref(), Some("bad_data"));
    }

    #[test]
    fn seconds_keep_milliseconds() {
        assert_eq!(secs(1_700_000_000_005), "1700000000.005");
    }
}
