//! The Prometheus API `data` object for a result, formatted like Prometheus'
//! `util/jsonutil` (`MarshalTimestamp`, `MarshalFloat`).

use serde_json::{Map, Number, Value as Json, json};

use super::types::Value;
use crate::amp::store::Labels;

/// The `data` object of a successful query response:
/// `{"resultType":"vector","result":[{"metric":{…},"value":[<secs>,"<value>"]}]}`,
/// `{"resultType":"matrix","result":[{"metric":{…},"values":[[<secs>,"<value>"],…]}]}` or
/// `{"resultType":"scalar","result":[<secs>,"<value>"]}`.
pub fn result_json(v: &Value) -> Json {
    match v {
        Value::Scalar { t_ms, value } => {
            json!({"resultType": "scalar", "result": point(*t_ms, *value)})
        }
        Value::Vector(samples) => {
            let result: Vec<Json> = samples
                .iter()
                .map(|s| json!({"metric": metric(&s.labels), "value": point(s.t_ms, s.value)}))
                .collect();
            json!({"resultType": "vector", "result": result})
        }
        Value::Matrix(series) => {
            let result: Vec<Json> = series
                .iter()
                .map(|s| {
                    let values: Vec<Json> = s.samples.iter().map(|&(t, v)| point(t, v)).collect();
                    json!({"metric": metric(&s.labels), "values": values})
                })
                .collect();
            json!({"resultType": "matrix", "result": result})
        }
    }
}

fn metric(labels: &Labels) -> Json {
    Json::Object(
        labels
            .iter()
            .map(|(k, v)| (k.clone(), Json::String(v.clone())))
            .collect::<Map<_, _>>(),
    )
}

fn point(t_ms: i64, v: f64) -> Json {
    Json::Array(vec![timestamp(t_ms), Json::String(format_value(v))])
}

/// Seconds with millisecond precision, as a JSON number. Prometheus writes the digits
/// itself (`1700000000.120`); a `serde_json::Value` cannot keep trailing zeros, so the
/// same number comes out as `1700000000.12`. Whole seconds are integers, as in Prometheus.
pub(super) fn timestamp(t_ms: i64) -> Json {
    if t_ms % 1000 == 0 {
        Json::Number(Number::from(t_ms / 1000))
    } else {
        // t_ms is exact in an f64 and the division is correctly rounded, so the shortest
        // representation is the decimal seconds with at most three fraction digits.
        Number::from_f64(t_ms as f64 / 1000.0).map_or(Json::Null, Json::Number)
    }
}

/// A sample value as Prometheus' `MarshalFloat` writes it: Go's
/// `strconv.FormatFloat(v, 'f', -1, 64)`, switching to `'e'` below 1e-6 and from 1e21.
pub(super) fn format_value(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let abs = v.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        go_exponent(v)
    } else {
        // Rust's Display is the shortest round-trip decimal without an exponent, as Go's 'f'
        // with precision -1 (both pick the closest of the shortest candidates).
        format!("{v}")
    }
}

/// Go's `'e'` format with precision -1: shortest mantissa, signed exponent of at least two
/// digits (`1e+21`, `1.5e-07`).
fn go_exponent(v: f64) -> String {
    let s = format!("{v:e}");
    let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exp.abs())
}

/// Go's `%v` for a float64 (used in some Prometheus error messages): `'g'` with the
/// shortest precision and an exponent only below 1e-4 or from 1e21.
pub(super) fn go_v(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let abs = v.abs();
    if abs != 0.0 && !(1e-4..1e21).contains(&abs) {
        go_exponent(v)
    } else {
        format!("{v}")
    }
}
