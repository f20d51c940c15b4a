//! The Prometheus query API under `/workspaces/{id}/api/v1/`, as AMP serves it: SigV4
//! (`aps`), IAM actions per endpoint, GET and POST (form body, which the client's
//! signature covers), and the Prometheus JSON envelope for results and errors.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use axum::extract::{Path, Request, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value as Json_, json};
use tokio::sync::Semaphore;

use super::AmpState;
use super::error::AmpError;
use super::promql::{self, EvalError, EvalOptions};
use super::store::{Labels, SeriesSource, Store};
use crate::sigv4::read_verified;

/// Prometheus refuses range queries with more points than this per series.
const MAX_POINTS: i64 = 11_000;
/// Form bodies of queries are small; anything bigger is refused before it is read.
const MAX_QUERY_BODY: usize = 1 << 20;

pub fn router() -> Router<Arc<AmpState>> {
    Router::new()
        .route("/workspaces/{id}/api/v1/query", get(query).post(query))
        .route(
            "/workspaces/{id}/api/v1/query_range",
            get(query_range).post(query_range),
        )
        .route("/workspaces/{id}/api/v1/series", get(series).post(series))
        .route("/workspaces/{id}/api/v1/labels", get(labels).post(labels))
        .route(
            "/workspaces/{id}/api/v1/label/{name}/values",
            get(label_values),
        )
        .route("/workspaces/{id}/api/v1/metadata", get(metadata))
}

/// A Prometheus API error: `{"status":"error","errorType":T,"error":msg}` with the status
/// Prometheus gives that type.
#[derive(Debug)]
pub struct ApiError {
    kind: &'static str,
    message: String,
}

impl ApiError {
    fn bad_data(message: impl Into<String>) -> Self {
        Self {
            kind: "bad_data",
            message: message.into(),
        }
    }

    fn internal(message: impl Into<String>) -> Self {
        Self {
            kind: "internal",
            message: message.into(),
        }
    }
}

impl From<EvalError> for ApiError {
    fn from(e: EvalError) -> Self {
        match e {
            EvalError::BadData(m) => Self {
                kind: "bad_data",
                message: m,
            },
            EvalError::Execution(m) => Self {
                kind: "execution",
                message: m,
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match self.kind {
            "bad_data" => StatusCode::BAD_REQUEST,
            "execution" => StatusCode::UNPROCESSABLE_ENTITY,
            "not_found" => StatusCode::NOT_FOUND,
            "timeout" | "canceled" => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        (
            status,
            Json(json!({"status": "error", "errorType": self.kind, "error": self.message})),
        )
            .into_response()
    }
}

/// Either AMP's own refusal (signature, IAM, workspace) or a Prometheus API error.
pub enum QueryFailure {
    Amp(AmpError),
    Api(ApiError),
}

impl IntoResponse for QueryFailure {
    fn into_response(self) -> Response {
        match self {
            Self::Amp(e) => e.into_response(),
            Self::Api(e) => e.into_response(),
        }
    }
}

impl From<AmpError> for QueryFailure {
    fn from(e: AmpError) -> Self {
        Self::Amp(e)
    }
}

impl From<ApiError> for QueryFailure {
    fn from(e: ApiError) -> Self {
        Self::Api(e)
    }
}

impl From<EvalError> for QueryFailure {
    fn from(e: EvalError) -> Self {
        Self::Api(e.into())
    }
}

/// A verified, authorized query request: its parameters (query string and, for POST, the
/// form body, merged like Go's `r.Form`) and the workspace's store.
struct QueryCtx {
    params: Vec<(String, String)>,
    store: Arc<Store>,
    now_ms: i64,
    lookback_ms: i64,
    timeout: Duration,
}

impl QueryCtx {
    fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn params(&self, name: &str) -> Vec<&str> {
        self.params
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

async fn authorize(
    st: &AmpState,
    id: &str,
    action: &str,
    req: Request,
) -> Result<QueryCtx, QueryFailure> {
    let (parts, body, caller) = read_verified(
        req,
        "aps",
        &st.region,
        &st.identities,
        &st.clock,
        st.settings.max_skew,
        MAX_QUERY_BODY,
    )
    .await
    .map_err(AmpError::from)?;
    let (store, ws_arn) = st
        .with_workspace(id, |w| (w.store.clone(), w.arn.clone()))
        .ok_or(AmpError::WorkspaceNotFound)?;
    if !caller.allows(action) {
        return Err(AmpError::NotAuthorized {
            arn: caller.arn.clone(),
            action: action.to_string(),
            resource: ws_arn,
        }
        .into());
    }
    let mut params: Vec<(String, String)> = parts
        .uri
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    if parts.method == Method::POST {
        params.extend(form_urlencoded::parse(&body).into_owned());
    }
    Ok(QueryCtx {
        params,
        store,
        now_ms: st.clock.now_ms(),
        lookback_ms: st.settings.lookback.as_millis() as i64,
        timeout: st.settings.query_timeout,
    })
}

fn success(data: Json_) -> Response {
    Json(json!({"status": "success", "data": data})).into_response()
}

/// Evaluations running at once, in the whole process: a query is CPU work, and more of it
/// at once than there are cores only slows every one down.
static EVALUATIONS: LazyLock<Semaphore> =
    LazyLock::new(|| Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get())));

/// The stack of an evaluation thread: the evaluator recurses once per level of the tree,
/// and `pipecheck_promql` bounds the tree at a few hundred levels; this holds them with a
/// wide margin (debug builds included). Only what is touched is ever committed.
const EVAL_STACK: usize = 64 << 20;

/// Evaluates off the async workers, so other requests keep their latency meanwhile: on a
/// thread of its own with a known stack, at most [`EVALUATIONS`] at once, stopped at the
/// query timeout with AMP's answer.
async fn evaluate(
    ctx: QueryCtx,
    eval: impl FnOnce(&Store, &EvalOptions) -> Result<promql::Value, EvalError> + Send + 'static,
) -> Result<promql::Value, QueryFailure> {
    let timed_out = || QueryFailure::from(EvalError::Execution(promql::TIMED_OUT.into()));
    let deadline = Instant::now() + ctx.timeout;
    let _slot = tokio::time::timeout_at(deadline.into(), EVALUATIONS.acquire())
        .await
        .map_err(|_| timed_out())?
        .expect("the semaphore is never closed");
    let opts = EvalOptions {
        lookback_ms: ctx.lookback_ms,
        deadline: Some(deadline),
        ..EvalOptions::default()
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    let store = ctx.store;
    std::thread::Builder::new()
        .name("promql-eval".into())
        .stack_size(EVAL_STACK)
        .spawn(move || {
            let _ = tx.send(eval(&store, &opts));
        })
        .map_err(|e| ApiError::internal(format!("could not start the evaluation: {e}")))?;
    // The evaluator checks the deadline itself; the second past it is for a step that
    // does not count samples.
    match tokio::time::timeout_at((deadline + Duration::from_secs(1)).into(), rx).await {
        Ok(Ok(v)) => Ok(v?),
        Ok(Err(_)) => Err(ApiError::internal("the evaluation ended without an answer").into()),
        Err(_) => Err(timed_out()),
    }
}

async fn query(
    State(st): State<Arc<AmpState>>,
    Path(id): Path<String>,
    req: Request,
) -> Result<Response, QueryFailure> {
    let ctx = authorize(&st, &id, "aps:QueryMetrics", req).await?;
    let q = ctx.param("query").ok_or_else(|| {
        ApiError::bad_data("invalid parameter \"query\": query must not be empty")
    })?;
    let t = match ctx.param("time") {
        Some(t) => parse_time(t)
            .map_err(|e| ApiError::bad_data(format!("invalid parameter \"time\": {e}")))?,
        None => ctx.now_ms,
    };
    let q = q.to_string();
    let v = evaluate(ctx, move |store, opts| {
        promql::eval_instant(&q, t, store, opts)
    })
    .await?;
    Ok(success(promql::result_json(&v)))
}

async fn query_range(
    State(st): State<Arc<AmpState>>,
    Path(id): Path<String>,
    req: Request,
) -> Result<Response, QueryFailure> {
    let ctx = authorize(&st, &id, "aps:QueryMetrics", req).await?;
    let q = ctx.param("query").ok_or_else(|| {
        ApiError::bad_data("invalid parameter \"query\": query must not be empty")
    })?;
    let required = |name: &str| -> Result<i64, ApiError> {
        let raw = ctx.param(name).ok_or_else(|| {
            ApiError::bad_data(format!(
                "invalid parameter \"{name}\": cannot parse \"\" to a valid timestamp"
            ))
        })?;
        parse_time(raw)
            .map_err(|e| ApiError::bad_data(format!("invalid parameter \"{name}\": {e}")))
    };
    let start = required("start")?;
    let end = required("end")?;
    if end < start {
        return Err(ApiError::bad_data(
            "invalid parameter \"end\": end timestamp must not be before start time",
        )
        .into());
    }
    let step = ctx
        .param("step")
        .ok_or_else(|| {
            ApiError::bad_data("invalid parameter \"step\": cannot parse \"\" to a valid duration")
        })
        .and_then(|s| {
            parse_duration(s)
                .map_err(|e| ApiError::bad_data(format!("invalid parameter \"step\": {e}")))
        })?;
    if step <= 0 {
        return Err(ApiError::bad_data("invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer").into());
    }
    if end.saturating_sub(start) / step > MAX_POINTS {
        return Err(ApiError::bad_data("exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)").into());
    }
    let q = q.to_string();
    let v = evaluate(ctx, move |store, opts| {
        promql::eval_range(&q, start, end, step, store, opts)
    })
    .await?;
    Ok(success(promql::result_json(&v)))
}

/// Series whose labels match any of the `match[]` selectors, over `start`..`end`
/// (defaulting to all time, as Prometheus does).
fn matching_series(ctx: &QueryCtx, required: bool) -> Result<Vec<Labels>, ApiError> {
    let selectors = ctx.params("match[]");
    if selectors.is_empty() && required {
        return Err(ApiError::bad_data("no match[] parameter provided"));
    }
    let start = ctx
        .param("start")
        .map(parse_time)
        .transpose()
        .map_err(ApiError::bad_data)?
        .unwrap_or(i64::MIN);
    let end = ctx
        .param("end")
        .map(parse_time)
        .transpose()
        .map_err(ApiError::bad_data)?
        .unwrap_or(i64::MAX);
    let mut out: BTreeSet<Labels> = BTreeSet::new();
    if selectors.is_empty() {
        out.extend(ctx.store.all_series(&|_| true));
    }
    for sel in selectors {
        let sel = promql::Selector::parse(sel)?;
        for s in ctx
            .store
            .select(sel.metric_name(), &|l| sel.matches(l), start, end)
        {
            if !s.samples.is_empty() {
                out.insert(s.labels);
            }
        }
    }
    Ok(out.into_iter().collect())
}

fn labels_json(l: &Labels) -> Json_ {
    Json_::Object(
        l.iter()
            .map(|(k, v)| (k.clone(), Json_::String(v.clone())))
            .collect(),
    )
}

async fn series(
    State(st): State<Arc<AmpState>>,
    Path(id): Path<String>,
    req: Request,
) -> Result<Response, QueryFailure> {
    let ctx = authorize(&st, &id, "aps:GetSeries", req).await?;
    let all = matching_series(&ctx, true)?;
    Ok(success(Json_::Array(all.iter().map(labels_json).collect())))
}

async fn labels(
    State(st): State<Arc<AmpState>>,
    Path(id): Path<String>,
    req: Request,
) -> Result<Response, QueryFailure> {
    let ctx = authorize(&st, &id, "aps:GetLabels", req).await?;
    let names: BTreeSet<String> = matching_series(&ctx, false)?
        .into_iter()
        .flatten()
        .map(|(k, _)| k)
        .collect();
    Ok(success(json!(names)))
}

async fn label_values(
    State(st): State<Arc<AmpState>>,
    Path((id, name)): Path<(String, String)>,
    req: Request,
) -> Result<Response, QueryFailure> {
    let ctx = authorize(&st, &id, "aps:GetLabels", req).await?;
    if name != "__name__" && !super::remote_write::valid_label_name(&name) {
        return Err(ApiError::bad_data(format!("invalid label name: {name:?}")).into());
    }
    let values: BTreeSet<String> = matching_series(&ctx, false)?
        .into_iter()
        .flatten()
        .filter(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .collect();
    Ok(success(json!(values)))
}

/// The mock keeps no metric metadata (AMP drops excess metadata silently too).
async fn metadata(
    State(st): State<Arc<AmpState>>,
    Path(id): Path<String>,
    req: Request,
) -> Result<Response, QueryFailure> {
    authorize(&st, &id, "aps:GetMetricMetadata", req).await?;
    Ok(success(Json_::Object(
        BTreeMap::<String, Json_>::new().into_iter().collect(),
    )))
}

/// Times and steps the mock evaluates: about ±73 million years in milliseconds, so that
/// no sum or difference of two of them overflows. Prometheus takes any float and lets Go
/// wrap the arithmetic around; the mock refuses what lies beyond with Prometheus' own
/// "cannot parse" text [inferred].
const MAX_ABS_MS: i64 = i64::MAX / 4;

fn within_bounds(ms: f64) -> Option<i64> {
    (ms.abs() <= MAX_ABS_MS as f64).then(|| ms.round() as i64)
}

/// A Prometheus API timestamp: RFC 3339 or Unix seconds with a fraction, to milliseconds.
pub fn parse_time(s: &str) -> Result<i64, String> {
    let cannot = || format!("cannot parse {s:?} to a valid timestamp");
    if let Ok(secs) = s.parse::<f64>()
        && secs.is_finite()
    {
        return within_bounds(secs * 1000.0).ok_or_else(cannot);
    }
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
        .map_err(|_| cannot())
}

/// A step: seconds as a float, or a Prometheus duration (`15s`, `1m30s`, `500ms`).
pub fn parse_duration(s: &str) -> Result<i64, String> {
    let cannot = || format!("cannot parse {s:?} to a valid duration");
    if let Ok(secs) = s.parse::<f64>()
        && secs.is_finite()
    {
        return within_bounds(secs * 1000.0).ok_or_else(cannot);
    }
    promql_parser::util::parse_duration(s)
        .ok()
        .and_then(|d| i64::try_from(d.as_millis()).ok())
        .filter(|ms| *ms <= MAX_ABS_MS)
        .ok_or_else(cannot)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_prometheus_times_and_durations() {
        assert_eq!(parse_time("1700000000.5").unwrap(), 1_700_000_000_500);
        assert_eq!(
            parse_time("2023-11-14T22:13:20Z").unwrap(),
            1_700_000_000_000
        );
        assert!(parse_time("yesterday").is_err());
        assert_eq!(parse_duration("15").unwrap(), 15_000);
        assert_eq!(parse_duration("1m30s").unwrap(), 90_000);
        assert!(parse_duration("abc").is_err());
    }
}
