//! `POST /api/ds/query`: the request the grafana links send and how they read Grafana's
//! answer. Frames are read by field type and labels, never by field name: Grafana 9 names
//! the value field `Value`, 10+ (dataplane) names it after `__name__`
//! (amg-grafana-exact.md §1.7). A result fails on an `error`, a non-200 `status`, or when
//! no frame carries a value (the "No data" form of an AMP refusal, §1.8).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::grafana_context::DataSourceRef;
use crate::amp_client::ResultSeries;
use crate::grafana_client::GrafanaClient;

/// One query of a `/api/ds/query` request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DsQuery {
    pub ref_id: String,
    pub expr: String,
    pub instant: bool,
    pub range: bool,
}

impl DsQuery {
    pub fn instant(ref_id: &str, expr: &str) -> Self {
        Self {
            ref_id: ref_id.to_string(),
            expr: expr.to_string(),
            instant: true,
            range: false,
        }
    }
}

/// The request body: `from`/`to` as epoch-millisecond strings.
pub fn request(ds: &DataSourceRef, queries: &[DsQuery], from_ms: i64, to_ms: i64) -> Value {
    let qs: Vec<Value> = queries
        .iter()
        .map(|q| {
            json!({
                "refId": q.ref_id,
                "datasource": ds.json(),
                "expr": q.expr,
                "instant": q.instant,
                "range": q.range,
            })
        })
        .collect();
    json!({ "from": from_ms.to_string(), "to": to_ms.to_string(), "queries": qs })
}

/// What one `results.<refId>` says.
#[derive(Clone, Debug, PartialEq)]
pub enum RefResult {
    /// Series with at least one value.
    Data(Vec<ResultSeries>),
    /// No error, status 200, but no value in any frame.
    Empty,
    /// `error` set, or a non-200 `status` (with an empty `error` in the "No data" form).
    Failed { status: Option<u16>, error: String },
}

/// Reads every result of a `/api/ds/query` answer (HTTP 200 or 400 alike).
pub fn parse_results(body: &Value) -> BTreeMap<String, RefResult> {
    let mut out = BTreeMap::new();
    let Some(results) = body.get("results").and_then(Value::as_object) else {
        return out;
    };
    for (ref_id, r) in results {
        out.insert(ref_id.clone(), parse_result(r));
    }
    out
}

fn parse_result(r: &Value) -> RefResult {
    let status = r
        .get("status")
        .and_then(Value::as_u64)
        .and_then(|s| u16::try_from(s).ok());
    let error = r
        .get("error")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if !error.is_empty() || status.is_some_and(|s| s != 200) {
        return RefResult::Failed { status, error };
    }
    let frames = r
        .get("frames")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let series: Vec<ResultSeries> = frames
        .iter()
        .filter_map(frame_series)
        .filter(|s| !s.points.is_empty())
        .collect();
    if series.is_empty() {
        RefResult::Empty
    } else {
        RefResult::Data(series)
    }
}

/// The series of one frame: its time field and its (first) number field with labels.
fn frame_series(frame: &Value) -> Option<ResultSeries> {
    let fields = frame.pointer("/schema/fields")?.as_array()?;
    let values = frame.pointer("/data/values")?.as_array()?;
    let entities = frame.pointer("/data/entities").and_then(Value::as_array);
    fn kind(f: &Value) -> &str {
        f.get("type").and_then(Value::as_str).unwrap_or_default()
    }
    let ti = fields.iter().position(|f| kind(f) == "time")?;
    let vi = fields.iter().position(|f| kind(f) == "number")?;
    let field = &fields[vi];
    let mut labels: BTreeMap<String, String> = field
        .get("labels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default();
    // Without `__name__` among the labels, a dataplane value field still carries the
    // metric name as its own name.
    if !labels.contains_key("__name__")
        && let Some(n) = field.get("name").and_then(Value::as_str)
        && n != "Value"
        && !n.is_empty()
    {
        labels.insert("__name__".into(), n.to_string());
    }
    let times = values.get(ti)?.as_array()?;
    let nums = values.get(vi)?.as_array()?;
    let special = |key: &str, i: usize| {
        entities
            .and_then(|e| e.get(vi))
            .and_then(|e| e.get(key))
            .and_then(Value::as_array)
            .is_some_and(|idx| idx.iter().any(|x| x.as_u64() == Some(i as u64)))
    };
    let mut points = Vec::new();
    for (i, (t, v)) in times.iter().zip(nums).enumerate() {
        let Some(t) = t.as_i64().or_else(|| t.as_f64().map(|f| f as i64)) else {
            continue;
        };
        let v = match v.as_f64() {
            Some(x) => x,
            None if special("NaN", i) => f64::NAN,
            None if special("Inf", i) => f64::INFINITY,
            None if special("NegInf", i) => f64::NEG_INFINITY,
            None => continue,
        };
        points.push((t, v));
    }
    Some(ResultSeries { labels, points })
}

/// What a `/api/ds/query` call came to.
pub enum DsAnswer {
    /// Grafana answered with results (HTTP 200, or 400 with per-query errors).
    Results {
        results: BTreeMap<String, RefResult>,
        exchange: crate::amp_client::Exchange,
    },
    /// Grafana refused the request itself (401, 403, 404 unknown data source, 5xx) or
    /// answered something that is not a result set.
    Refused(crate::amp_client::Exchange),
    /// No answer.
    Failed(String),
}

/// Sends the queries to the data source through Grafana.
pub async fn ds_query(
    client: &GrafanaClient,
    ds: &DataSourceRef,
    queries: &[DsQuery],
    from_ms: i64,
    to_ms: i64,
) -> DsAnswer {
    let body = request(ds, queries, from_ms, to_ms);
    match client.post_json("/api/ds/query", &body).await {
        Err(e) => DsAnswer::Failed(crate::error_chain(&e)),
        Ok(ex) => {
            let parsed = serde_json::from_str::<Value>(&ex.body).ok();
            match parsed.filter(|v| v.get("results").is_some_and(Value::is_object)) {
                Some(v) if matches!(ex.status, Some(200 | 400)) => DsAnswer::Results {
                    results: parse_results(&v),
                    exchange: ex,
                },
                _ => DsAnswer::Refused(ex),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_dataplane_and_legacy_frames_by_type() {
        let dataplane = json!({"results":{"A":{"status":200,"frames":[{"schema":{"refId":"A","meta":{"type":"numeric-multi"},
            "fields":[{"name":"Time","type":"time"},{"name":"up","type":"number","labels":{"__name__":"up","job":"adot"}}]},
            "data":{"values":[[1714000000000i64],[1]]}}]}}});
        let legacy = json!({"results":{"A":{"frames":[{"schema":{"fields":[{"name":"Time","type":"time"},{"name":"Value","type":"number","labels":{"job":"adot"}}]},
            "data":{"values":[[1,2],[null,2.5]],"entities":[null,{"NaN":[0]}]}}]}}});
        let r = parse_results(&dataplane);
        let RefResult::Data(s) = &r["A"] else {
            panic!("{r:?}")
        };
        assert_eq!(s[0].labels["__name__"], "up");
        assert_eq!(s[0].points, vec![(1_714_000_000_000, 1.0)]);
        let r = parse_results(&legacy);
        let RefResult::Data(s) = &r["A"] else {
            panic!("{r:?}")
        };
        assert!(!s[0].labels.contains_key("__name__"));
        assert!(s[0].points[0].1.is_nan() && s[0].points[1] == (2, 2.5));
    }

    #[test]
    fn errors_statuses_and_empty_frames_fail() {
        let current = json!({"results":{"A":{"error":"unexpected response with status code 403: {}","errorSource":"downstream","status":500}}});
        assert_eq!(
            parse_results(&current)["A"],
            RefResult::Failed {
                status: Some(500),
                error: "unexpected response with status code 403: {}".into()
            }
        );
        let no_data = json!({"results":{"A":{"status":403,"frames":[{"schema":{"refId":"A","meta":{}, "fields":[]},"data":{"values":[]}}]}}});
        assert!(matches!(
            parse_results(&no_data)["A"],
            RefResult::Failed {
                status: Some(403),
                ..
            }
        ));
        let empty = json!({"results":{"A":{"status":200,"frames":[{"schema":{"fields":[]},"data":{"values":[]}}]}}});
        assert_eq!(parse_results(&empty)["A"], RefResult::Empty);
    }
}
