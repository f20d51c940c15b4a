//! The data-source query path: `POST /api/ds/query` and
//! `GET /api/datasources/uid/{uid}/health`. For a Prometheus/AMP data source the mock
//! Grafana does what promlib does: it sends the PromQL to `<ds url>api/v1/query` (instant)
//! or `query_range` over real HTTP (form-encoded POST by default, `jsonData.httpMethod`),
//! SigV4-signed for service `aps` in `jsonData.sigV4Region` with the workspace IAM role's
//! credentials when `jsonData.sigV4Auth` is true and unsigned otherwise, and turns the
//! answer into data frames (`frames.rs`) or a per-query error:
//!
//! | AMP answer | result | HTTP |
//! |---|---|---|
//! | 2xx, `status: success` | frames, `status: 200` | 200 |
//! | 400/422/503 Prometheus error envelope | `error: "<errorType>: <error>"`, `status: <code>`, one empty frame | 400 |
//! | other non-2xx (403, 404, 429, …) | current promlib: `error: "unexpected response with status code <code>: <body>"`, `status: 500`; with [`AmpHttpErrors::NoDataBug`]: one empty frame, `status: <code>`, no error | 400 / 200 |
//! | no answer | `error: "Post \"<url>\": <cause>"`, `status: 502` | 400 |
//!
//! Every error carries `errorSource: "downstream"`. The step follows promlib's interval
//! rules closely, not exactly: min interval = query `interval`, else `intervalMs`, else
//! `jsonData.timeInterval`, else 15 s; then at least range/maxDataPoints (1500 when unset)
//! and range/11000, rounded up to whole milliseconds.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::auth::Caller;
use super::content::{AmpHttpErrors, DataSource};
use super::error::{GrafanaError, json_body, ok_json};
use super::frames::{FrameOptions, empty_frame, prometheus_data_to_frames};
use super::server::GrafanaServer;
use crate::amp::query::parse_duration;
use crate::identity::Identity;
use crate::sigv4::sign_as_client;

const DEFAULT_MIN_STEP_MS: i64 = 15_000;
const DEFAULT_MAX_DATA_POINTS: i64 = 1500;
/// Prometheus refuses more than 11,000 points per series.
const SAFE_RESOLUTION: i64 = 11_000;
const USER_AGENT: &str = "Grafana/pipecheck-mock";

/// One query of a `/api/ds/query` request, as promlib reads it.
#[derive(Clone, Debug)]
struct PromQuery {
    ref_id: String,
    expr: String,
    instant: bool,
    range: bool,
    legend_format: String,
    /// The query's time range (ms).
    from_ms: i64,
    to_ms: i64,
    step_ms: i64,
}

/// What the AMP endpoint answered.
enum AmpAnswer {
    Http {
        status: u16,
        body: Vec<u8>,
    },
    /// No HTTP answer (connection refused, timeout, signing impossible).
    Failed(String),
}

/// `POST /api/ds/query` `{from, to, queries: [{refId, datasource: {uid}, expr, instant,
/// range, interval?, intervalMs?, maxDataPoints?, legendFormat?}]}` ->
/// `{"results": {"<refId>": {...}}}`.
pub(crate) async fn ds_query(
    State(srv): State<Arc<GrafanaServer>>,
    caller: Caller,
    body: axum::body::Bytes,
) -> Result<Response, GrafanaError> {
    let req: Value =
        serde_json::from_slice(&body).map_err(|_| GrafanaError::bad_request("bad request data"))?;
    let queries = req
        .get("queries")
        .and_then(Value::as_array)
        .filter(|q| !q.is_empty())
        // [inferred] wording.
        .ok_or_else(|| GrafanaError::bad_request("No queries found"))?;
    let now_ms = srv.amg.clock.now_ms();
    let from_ms = parse_grafana_time(req.get("from"), now_ms, "now-5m")
        .ok_or_else(|| GrafanaError::bad_request("invalid time range: from"))?;
    let to_ms = parse_grafana_time(req.get("to"), now_ms, "now")
        .ok_or_else(|| GrafanaError::bad_request("invalid time range: to"))?;
    let dataplane = caller.version.0 >= 10;

    // Resolve every data source first: an unknown uid refuses the whole request.
    let mut plan = Vec::with_capacity(queries.len());
    for (i, q) in queries.iter().enumerate() {
        let ref_id = q
            .get("refId")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| if i == 0 { "A".into() } else { format!("Q{i}") });
        let uid = q
            .get("datasource")
            .and_then(|d| d.get("uid"))
            .and_then(Value::as_str)
            .or_else(|| q.get("datasourceUid").and_then(Value::as_str))
            .map(str::to_string);
        let Some(uid) = uid else {
            // Grafana's errutil `query.missingDataSourceInfo` [inferred shape].
            return Err(GrafanaError::json(
                StatusCode::BAD_REQUEST,
                &json!({
                    "message": format!("query missing datasource info: {ref_id}"),
                    "messageId": "query.missingDataSourceInfo",
                    "statusCode": 400,
                    "traceID": "",
                }),
            ));
        };
        let (ds, behaviour) = srv.with_ws(|w| {
            (
                w.grafana.data_source(&uid).cloned(),
                w.grafana.behaviour.amp_http_errors,
            )
        })?;
        let ds = ds.ok_or_else(GrafanaError::data_source_not_found)?;
        plan.push((ref_id, q.clone(), ds, behaviour));
    }

    let mut results = Map::new();
    let mut failed = false;
    for (ref_id, q, ds, behaviour) in plan {
        let result = if ds.is_prometheus() {
            let pq = prom_query(&ref_id, &q, &ds, from_ms, to_ms);
            run_prom_query(&srv, &ds, &pq, behaviour, dataplane).await
        } else {
            json!({
                "error": format!("data source type {:?} is not served by the pipecheck mock Grafana", ds.kind),
                "errorSource": "plugin",
                "status": 500,
            })
        };
        failed |= result.get("error").is_some();
        results.insert(ref_id, result);
    }
    let status = if failed {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    Ok(json_body(
        status,
        json!({ "results": Value::Object(results) }).to_string(),
    ))
}

/// `GET /api/datasources/uid/{uid}/health`: promlib's check, an instant `1+1` at t=4 s.
/// 200 `{"details":{"application":"Prometheus",…},"message":"Successfully queried the
/// Prometheus API.","status":"OK"}`; failure 400 `{"message":"<cause> - There was an
/// error returned querying the Prometheus API.","status":"ERROR"}`.
pub(crate) async fn data_source_health(
    State(srv): State<Arc<GrafanaServer>>,
    Path(uid): Path<String>,
    _caller: Caller,
) -> Result<Response, GrafanaError> {
    let ds = srv
        .with_ws(|w| w.grafana.data_source(&uid).cloned())?
        .ok_or_else(GrafanaError::data_source_not_found)?;
    if !ds.is_prometheus() {
        // [inferred] what Grafana says for a plugin without a health check.
        return Err(GrafanaError::message(
            StatusCode::NOT_FOUND,
            "Health check not implemented",
        ));
    }
    let mut params = BTreeMap::new();
    params.insert("query", "1+1".to_string());
    params.insert("time", "4".to_string());
    let answer = call_amp(&srv, &ds, "api/v1/query", &params).await;
    let cause = match answer {
        AmpAnswer::Failed(e) => Some(e),
        // promlib's health check: any non-200 is an error named by the status line.
        AmpAnswer::Http { status, .. } if status != 200 => Some(status_line(status)),
        AmpAnswer::Http { body, .. } => match serde_json::from_slice::<Value>(&body) {
            Ok(v) if v.get("status").and_then(Value::as_str) == Some("error") => Some(format!(
                "{}: {}",
                v["errorType"].as_str().unwrap_or_default(),
                v["error"].as_str().unwrap_or_default()
            )),
            Ok(_) => None,
            Err(e) => Some(e.to_string()),
        },
    };
    Ok(match cause {
        None => ok_json(&json!({
            "details": { "application": "Prometheus", "features": { "rulerApiEnabled": false } },
            "message": "Successfully queried the Prometheus API.",
            "status": "OK",
        })),
        Some(c) => json_body(
            StatusCode::BAD_REQUEST,
            json!({
                "message": format!("{c} - There was an error returned querying the Prometheus API."),
                "status": "ERROR",
            })
            .to_string(),
        ),
    })
}

/// Reads one query with promlib's defaults (neither `instant` nor `range`: range).
fn prom_query(ref_id: &str, q: &Value, ds: &DataSource, from_ms: i64, to_ms: i64) -> PromQuery {
    let flag = |k: &str| q.get(k).and_then(Value::as_bool).unwrap_or(false);
    let (instant, mut range) = (flag("instant"), flag("range"));
    if !instant && !range {
        range = true;
    }
    let range_ms = (to_ms - from_ms).max(0);
    let min_step = q
        .get("interval")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .and_then(|s| parse_duration(s).ok())
        .or_else(|| {
            q.get("intervalMs")
                .and_then(Value::as_i64)
                .filter(|&ms| ms > 0)
        })
        .or_else(|| {
            ds.json_str("timeInterval")
                .and_then(|s| parse_duration(s).ok())
        })
        .unwrap_or(DEFAULT_MIN_STEP_MS)
        .max(1);
    let max_points = q
        .get("maxDataPoints")
        .and_then(Value::as_i64)
        .filter(|&n| n > 0)
        .unwrap_or(DEFAULT_MAX_DATA_POINTS);
    let step_ms = min_step
        .max(range_ms / max_points)
        .max(range_ms / SAFE_RESOLUTION);
    PromQuery {
        ref_id: ref_id.to_string(),
        expr: q
            .get("expr")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        instant,
        range,
        legend_format: q
            .get("legendFormat")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        from_ms,
        to_ms,
        step_ms,
    }
}

/// Runs the instant and/or range query of `pq` and builds its result object.
async fn run_prom_query(
    srv: &GrafanaServer,
    ds: &DataSource,
    pq: &PromQuery,
    behaviour: AmpHttpErrors,
    dataplane: bool,
) -> Value {
    let opts = FrameOptions {
        ref_id: &pq.ref_id,
        expr: &pq.expr,
        step_ms: pq.step_ms,
        dataplane,
        legend_format: &pq.legend_format,
    };
    let mut frames: Vec<Value> = Vec::new();
    let mut errors: Vec<String> = Vec::new();
    let mut status: u16 = 200;
    let mut runs = Vec::new();
    if pq.instant {
        let mut p = BTreeMap::new();
        p.insert("query", pq.expr.clone());
        p.insert("time", seconds(pq.to_ms));
        runs.push(("api/v1/query", p));
    }
    if pq.range {
        // promlib aligns both ends down to the step (`AlignTimeRange`, whole seconds).
        let step_s = (pq.step_ms / 1000).max(1);
        let align = |ms: i64| (ms / 1000).div_euclid(step_s) * step_s * 1000;
        let mut p = BTreeMap::new();
        p.insert("query", pq.expr.clone());
        p.insert("start", seconds(align(pq.from_ms)));
        p.insert("end", seconds(align(pq.to_ms)));
        p.insert("step", seconds(pq.step_ms));
        runs.push(("api/v1/query_range", p));
    }
    for (endpoint, params) in runs {
        match call_amp(srv, ds, endpoint, &params).await {
            AmpAnswer::Failed(e) => {
                errors.push(e);
                status = 502;
            }
            AmpAnswer::Http { status: code, body } if (200..300).contains(&code) => {
                match serde_json::from_slice::<Value>(&body) {
                    Ok(v) if v.get("status").and_then(Value::as_str) == Some("error") => {
                        errors.push(prometheus_error(&v));
                        status = code;
                    }
                    Ok(v) => match v
                        .get("data")
                        .ok_or_else(|| "no data in the response".to_string())
                        .and_then(|d| prometheus_data_to_frames(d, &opts))
                    {
                        Ok(f) => frames.extend(f),
                        Err(e) => {
                            errors.push(e);
                            status = 500;
                        }
                    },
                    Err(e) => {
                        errors.push(e.to_string());
                        status = 500;
                    }
                }
            }
            AmpAnswer::Http { status: code, body } => {
                let envelope = serde_json::from_slice::<Value>(&body)
                    .ok()
                    .filter(|v| v.get("status").and_then(Value::as_str) == Some("error"));
                match envelope {
                    // Prometheus' own error statuses carry its envelope: promlib parses it.
                    Some(v) if matches!(code, 400 | 422 | 503) => {
                        errors.push(prometheus_error(&v));
                        status = code;
                    }
                    _ => match behaviour {
                        AmpHttpErrors::CurrentPromlib => {
                            errors.push(format!(
                                "unexpected response with status code {code}: {}",
                                String::from_utf8_lossy(&body)
                            ));
                            status = 500;
                        }
                        AmpHttpErrors::NoDataBug => status = code,
                    },
                }
            }
        }
    }
    let mut out = Map::new();
    if errors.is_empty() {
        if frames.is_empty() {
            frames.push(empty_frame(&opts));
        }
    } else {
        out.insert("error".into(), json!(errors.join(" ")));
        out.insert("errorSource".into(), json!("downstream"));
        // A parsed Prometheus error still gets promlib's empty frame with the meta.
        if frames.is_empty() && status != 500 && status != 502 {
            frames.push(empty_frame(&opts));
        }
    }
    out.insert("status".into(), json!(status));
    if !frames.is_empty() {
        out.insert("frames".into(), Value::Array(frames));
    }
    Value::Object(out)
}

fn prometheus_error(v: &Value) -> String {
    format!(
        "{}: {}",
        v.get("errorType")
            .and_then(Value::as_str)
            .unwrap_or_default(),
        v.get("error").and_then(Value::as_str).unwrap_or_default()
    )
}

/// Go's `http.Response.Status`: `403 Forbidden`.
fn status_line(code: u16) -> String {
    let reason = StatusCode::from_u16(code)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    format!("{code} {reason}")
}

/// Seconds as promlib's `formatTime` writes them (`strconv.FormatFloat(…, 'f', -1)`).
fn seconds(ms: i64) -> String {
    if ms % 1000 == 0 {
        (ms / 1000).to_string()
    } else {
        format!("{}", ms as f64 / 1000.0)
    }
}

/// The URL of `endpoint` under the data source's URL (Go's `path.Join`).
fn endpoint_url(base: &str, endpoint: &str) -> String {
    format!("{}/{endpoint}", base.trim_end_matches('/'))
}

/// Sends one Prometheus API request for the data source, signed as configured.
async fn call_amp(
    srv: &GrafanaServer,
    ds: &DataSource,
    endpoint: &str,
    params: &BTreeMap<&str, String>,
) -> AmpAnswer {
    let url = endpoint_url(&ds.url, endpoint);
    let post = !ds
        .json_str("httpMethod")
        .is_some_and(|m| m.eq_ignore_ascii_case("GET"));
    let form = {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in params {
            s.append_pair(k, v);
        }
        s.finish()
    };
    let (method, target, body) = if post {
        ("POST", url.clone(), form.into_bytes())
    } else {
        ("GET", format!("{url}?{form}"), Vec::new())
    };
    let what = if post { "Post" } else { "Get" };
    let mut req = match http::Request::builder()
        .method(method)
        .uri(&target)
        .header(http::header::USER_AGENT, USER_AGENT)
        .body(body)
    {
        Ok(r) => r,
        Err(e) => return AmpAnswer::Failed(format!("{what} {target:?}: {e}")),
    };
    if post {
        req.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
    }
    if ds.sigv4_auth() {
        let Some(who) = signing_identity(srv, ds) else {
            // [inferred] text: the SDK's credential-chain failure.
            return AmpAnswer::Failed(format!(
                "{what} {target:?}: failed to sign the request: no valid credentials for sigV4AuthType {:?}",
                ds.json_str("sigV4AuthType").unwrap_or("default")
            ));
        };
        let region = ds
            .json_str("sigV4Region")
            .filter(|r| !r.is_empty())
            .unwrap_or(&srv.amg.region)
            .to_string();
        if let Err(e) = sign_as_client(&mut req, &who, &region, "aps", srv.amg.clock.now()) {
            return AmpAnswer::Failed(format!(
                "{what} {target:?}: failed to sign the request: {e}"
            ));
        }
    }
    let (parts, body) = req.into_parts();
    let mut rb = srv.http.request(parts.method, target.as_str()).body(body);
    for (k, v) in &parts.headers {
        rb = rb.header(k, v);
    }
    match rb.send().await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            match resp.bytes().await {
                Ok(b) => AmpAnswer::Http {
                    status,
                    body: b.to_vec(),
                },
                Err(e) => AmpAnswer::Failed(format!("{what} {target:?}: {e}")),
            }
        }
        Err(e) => AmpAnswer::Failed(format!("{what} {target:?}: {e}")),
    }
}

/// The credentials the data source signs with: the workspace role's for
/// `ec2_iam_role`/`default`/`credentials` (the workspace's only credentials), the data
/// source's own keys for `keys`. `sigV4AssumeRoleArn` is not modelled.
fn signing_identity(srv: &GrafanaServer, ds: &DataSource) -> Option<Identity> {
    match ds.json_str("sigV4AuthType").unwrap_or("default") {
        "keys" => {
            let key = ds.secure_json_data.get("sigV4AccessKey")?;
            let secret = ds.secure_json_data.get("sigV4SecretKey")?;
            Some(Identity {
                access_key_id: key.clone(),
                secret_access_key: secret.clone(),
                session_token: None,
                arn: String::new(),
                account: String::new(),
                user_id: String::new(),
                allowed_actions: Default::default(),
                expired: false,
            })
        }
        _ => srv.amg.role_identity(&srv.workspace_id),
    }
}

/// A Grafana time: `now`, `now-5m` (s, m, h, d, w, y), epoch milliseconds as a string or
/// number. `default` when absent.
fn parse_grafana_time(v: Option<&Value>, now_ms: i64, default: &str) -> Option<i64> {
    let ms = grafana_time_ms(v, now_ms, default)?;
    // Past year 9999 Grafana's time parsing fails too; within it, the step arithmetic
    // on the range cannot overflow.
    (-MAX_TIME_MS..=MAX_TIME_MS).contains(&ms).then_some(ms)
}

/// 9999-12-31T23:59:59.999Z in Unix milliseconds.
const MAX_TIME_MS: i64 = 253_402_300_799_999;

fn grafana_time_ms(v: Option<&Value>, now_ms: i64, default: &str) -> Option<i64> {
    let text = match v {
        None | Some(Value::Null) => default.to_string(),
        Some(Value::Number(n)) => return n.as_i64(),
        Some(Value::String(s)) if s.is_empty() => default.to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return None,
    };
    if let Ok(ms) = text.parse::<i64>() {
        return Some(ms);
    }
    let rest = text.strip_prefix("now")?;
    if rest.is_empty() {
        return Some(now_ms);
    }
    let (sign, amount) = match rest.as_bytes()[0] {
        b'-' => (-1, &rest[1..]),
        b'+' => (1, &rest[1..]),
        _ => return None,
    };
    let unit_at = amount.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = amount.split_at(unit_at);
    let n: i64 = n.parse().ok()?;
    let unit_ms = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 7 * 86_400_000,
        "y" => 365 * 86_400_000,
        _ => return None,
    };
    now_ms.checked_add(n.checked_mul(unit_ms)?.checked_mul(sign)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grafana_times() {
        let now = 1_714_000_000_000;
        assert_eq!(parse_grafana_time(None, now, "now"), Some(now));
        assert_eq!(
            parse_grafana_time(Some(&json!("now-5m")), now, "now"),
            Some(now - 300_000)
        );
        assert_eq!(
            parse_grafana_time(Some(&json!("1713999000000")), now, "now"),
            Some(1_713_999_000_000)
        );
        assert_eq!(parse_grafana_time(Some(&json!(5)), now, "now"), Some(5));
        assert_eq!(
            parse_grafana_time(Some(&json!("yesterday")), now, "now"),
            None
        );
        assert_eq!(parse_grafana_time(Some(&json!("now-5q")), now, "now"), None);
    }

    #[test]
    fn steps_and_params() {
        let ds = DataSource::amp("u", "n", "10.4", "http://h/workspaces/ws/", "us-east-1");
        let q = prom_query("A", &json!({"expr":"up"}), &ds, 0, 300_000);
        assert_eq!((q.step_ms, q.range, q.instant), (15_000, true, false));
        let q = prom_query(
            "A",
            &json!({"expr":"up","interval":"1m","instant":true}),
            &ds,
            0,
            300_000,
        );
        assert_eq!((q.step_ms, q.range, q.instant), (60_000, false, true));
        // A long range raises the step so Prometheus' point limit is never hit.
        let q = prom_query(
            "A",
            &json!({"expr":"up","intervalMs":1}),
            &ds,
            0,
            30 * 86_400_000,
        );
        assert_eq!(q.step_ms, 30 * 86_400_000 / 1500);
        assert_eq!(seconds(1_714_000_000_123), "1714000000.123");
        assert_eq!(seconds(15_000), "15");
        assert_eq!(
            endpoint_url("http://h/workspaces/ws/", "api/v1/query"),
            "http://h/workspaces/ws/api/v1/query"
        );
        assert_eq!(status_line(403), "403 Forbidden");
    }
}
