//! Prometheus query results as Grafana data frames, the way promlib's converter
//! (`pkg/promlib/converter/prom.go`) and `addMetadataToMultiFrame`
//! (`pkg/promlib/querydata/response.go`) build them, written in grafana-plugin-sdk-go's
//! frame JSON (`data/frame_json.go`): `{"schema":{refId, meta, fields}, "data":{values,
//! entities?}}`.
//!
//! Version-dependent (amg-grafana-exact.md §1.7):
//! - dataplane (Grafana 10+): a vector is `numeric-multi`, a matrix `timeseries-multi`,
//!   both `typeVersion [0,1]`; the value field is renamed to its `__name__` label.
//! - legacy (9.x): both `timeseries-multi`, `typeVersion [0,0]`, value field `Value`, the
//!   frame named by the legend.
//!
//! One frame per series; an empty result is one empty frame carrying the meta. NaN and
//! ±Inf are written `null` and listed in `data.entities` (`NaN`, `Inf`, `NegInf`).
//! The value field's `config.displayNameFromDS` follows the legend rules of `getName`;
//! newer promlib also writes `urlFromDS`, which the mock leaves out.

use std::collections::BTreeMap;

use serde_json::{Map, Number, Value, json};

/// How to shape the frames of one query.
#[derive(Clone, Debug)]
pub struct FrameOptions<'a> {
    pub ref_id: &'a str,
    pub expr: &'a str,
    pub step_ms: i64,
    /// Grafana 10+ (`prometheusDataplane`).
    pub dataplane: bool,
    /// The query's `legendFormat` (`__auto`, empty, or a `{{label}}` template).
    pub legend_format: &'a str,
}

/// A field's values before JSON: times (ms) or floats.
enum Column {
    Time(Vec<i64>),
    Number(Vec<f64>),
}

struct Field {
    name: String,
    labels: Option<BTreeMap<String, String>>,
    config: Option<Value>,
    column: Column,
}

struct Frame {
    name: Option<String>,
    meta: Map<String, Value>,
    fields: Vec<Field>,
}

/// The frames of a successful Prometheus answer's `data` object
/// (`{"resultType":…,"result":…}`). Err: the data has no shape Grafana can read.
pub fn prometheus_data_to_frames(
    data: &Value,
    opts: &FrameOptions<'_>,
) -> Result<Vec<Value>, String> {
    let result_type = data
        .get("resultType")
        .and_then(Value::as_str)
        .ok_or("no resultType found")?;
    let result = data.get("result").unwrap_or(&Value::Null);
    let mut frames = match result_type {
        "vector" | "matrix" => read_series(result_type, result, opts.dataplane)?,
        "scalar" => vec![read_scalar(result, opts.dataplane)?],
        "string" => return Err("string results are not supported by the pipecheck mock".into()),
        other => return Err(format!("unknown result type: {other}")),
    };
    if frames.is_empty() {
        frames.push(Frame {
            name: None,
            meta: Map::new(),
            fields: Vec::new(),
        });
    }
    for (i, f) in frames.iter_mut().enumerate() {
        add_metadata(f, opts);
        if i == 0 {
            f.meta.insert(
                "executedQueryString".into(),
                json!(executed_query_string(opts.expr, opts.step_ms)),
            );
        }
    }
    Ok(frames.iter().map(|f| frame_json(f, opts.ref_id)).collect())
}

/// The frame promlib adds when a query has no frames (an empty result, or a parsed
/// Prometheus error): no fields, only the executed query string.
pub fn empty_frame(opts: &FrameOptions<'_>) -> Value {
    let mut f = Frame {
        name: None,
        meta: Map::new(),
        fields: Vec::new(),
    };
    f.meta.insert(
        "executedQueryString".into(),
        json!(executed_query_string(opts.expr, opts.step_ms)),
    );
    frame_json(&f, opts.ref_id)
}

/// `Expr: <expr>\nStep: <Go duration>`.
pub fn executed_query_string(expr: &str, step_ms: i64) -> String {
    format!("Expr: {expr}\nStep: {}", go_duration(step_ms))
}

/// A duration as Go's `time.Duration.String()` writes it (`15s`, `1m0s`, `1h0m0s`,
/// `1.5s`, `500ms`), for whole milliseconds.
pub fn go_duration(ms: i64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let neg = ms < 0;
    let ms = ms.unsigned_abs();
    let sign = if neg { "-" } else { "" };
    if ms < 1000 {
        return format!("{sign}{ms}ms");
    }
    let (h, rem) = (ms / 3_600_000, ms % 3_600_000);
    let (m, rem) = (rem / 60_000, rem % 60_000);
    let (s, frac) = (rem / 1000, rem % 1000);
    let secs = if frac == 0 {
        format!("{s}s")
    } else {
        let f = format!("{frac:03}");
        format!("{s}.{}s", f.trim_end_matches('0'))
    };
    if h > 0 {
        format!("{sign}{h}h{m}m{secs}")
    } else if m > 0 {
        format!("{sign}{m}m{secs}")
    } else {
        format!("{sign}{secs}")
    }
}

/// A Prometheus sample value as Go's `strconv.ParseFloat` reads it (`NaN`, `+Inf`,
/// `-Inf`, `Inf`, case-insensitive `infinity` too).
pub fn parse_prom_float(s: &str) -> Option<f64> {
    let lower = s.to_ascii_lowercase();
    match lower.as_str() {
        "nan" => Some(f64::NAN),
        "inf" | "+inf" | "infinity" | "+infinity" => Some(f64::INFINITY),
        "-inf" | "-infinity" => Some(f64::NEG_INFINITY),
        _ => s.parse::<f64>().ok(),
    }
}

/// promlib's `timeFromFloat`: `UnixMilli(int64(f * 1000))` (truncating, as Go does).
fn time_ms(secs: f64) -> i64 {
    (secs * 1000.0) as i64
}

fn read_pair(v: &Value) -> Result<(i64, f64), String> {
    let pair = v
        .as_array()
        .filter(|a| a.len() == 2)
        .ok_or("bad sample pair")?;
    let t = pair[0].as_f64().ok_or("bad sample timestamp")?;
    let s = pair[1].as_str().ok_or("bad sample value")?;
    let x = parse_prom_float(s).ok_or_else(|| format!("bad sample value {s:?}"))?;
    Ok((time_ms(t), x))
}

fn read_series(result_type: &str, result: &Value, dataplane: bool) -> Result<Vec<Frame>, String> {
    let items = result.as_array().ok_or("result is not an array")?;
    let mut frames = Vec::with_capacity(items.len());
    for item in items {
        let labels: BTreeMap<String, String> = item
            .get("metric")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default();
        let mut times = Vec::new();
        let mut values = Vec::new();
        if let Some(v) = item.get("value") {
            let (t, x) = read_pair(v)?;
            times.push(t);
            values.push(x);
        }
        if let Some(vs) = item.get("values").and_then(Value::as_array) {
            for v in vs {
                let (t, x) = read_pair(v)?;
                times.push(t);
                values.push(x);
            }
        }
        let mut meta = Map::new();
        let kind = if dataplane && result_type == "vector" {
            "numeric-multi"
        } else {
            "timeseries-multi"
        };
        meta.insert("type".into(), json!(kind));
        if dataplane {
            meta.insert("typeVersion".into(), json!([0, 1]));
        }
        meta.insert("custom".into(), json!({ "resultType": result_type }));
        frames.push(Frame {
            name: None,
            meta,
            fields: vec![
                Field {
                    name: "Time".into(),
                    labels: None,
                    config: None,
                    column: Column::Time(times),
                },
                Field {
                    name: "Value".into(),
                    labels: Some(labels),
                    config: None,
                    column: Column::Number(values),
                },
            ],
        });
    }
    Ok(frames)
}

fn read_scalar(result: &Value, dataplane: bool) -> Result<Frame, String> {
    let (t, x) = read_pair(result)?;
    let mut meta = Map::new();
    meta.insert("type".into(), json!("numeric-multi"));
    if dataplane {
        meta.insert("typeVersion".into(), json!([0, 1]));
    }
    meta.insert("custom".into(), json!({ "resultType": "scalar" }));
    Ok(Frame {
        name: None,
        meta,
        fields: vec![
            Field {
                name: "Time".into(),
                labels: None,
                config: None,
                column: Column::Time(vec![t]),
            },
            Field {
                name: "Value".into(),
                labels: Some(BTreeMap::new()),
                config: None,
                column: Column::Number(vec![x]),
            },
        ],
    })
}

/// `addMetadataToMultiFrame`: the time field's interval, the legend, the dataplane rename.
fn add_metadata(f: &mut Frame, opts: &FrameOptions<'_>) {
    if f.fields.len() < 2 {
        return;
    }
    f.fields[0].config = Some(json!({ "interval": opts.step_ms }));
    let labels = f.fields[1].labels.clone().unwrap_or_default();
    let name = legend_name(opts, &labels);
    if !name.is_empty() {
        f.fields[1].config = Some(json!({ "displayNameFromDS": name }));
    }
    if opts.dataplane {
        if let Some(n) = labels.get("__name__") {
            f.fields[1].name = n.clone();
        }
    } else {
        f.name = Some(name);
    }
}

/// promlib's `getName`.
fn legend_name(opts: &FrameOptions<'_>, labels: &BTreeMap<String, String>) -> String {
    let mut legend = metric_name_from_labels(labels);
    if opts.legend_format == "__auto" {
        if !labels.is_empty() {
            legend = String::new();
        }
    } else if !opts.legend_format.is_empty() {
        legend = expand_legend(opts.legend_format, labels);
    }
    if legend == "{}" {
        return opts.expr.to_string();
    }
    legend
}

/// `name{a="1", b="2"}`, `name`, or `{}` (Prometheus' `Metric.String`).
fn metric_name_from_labels(labels: &BTreeMap<String, String>) -> String {
    let name = labels.get("__name__");
    let rest: Vec<String> = labels
        .iter()
        .filter(|(k, _)| k.as_str() != "__name__")
        .map(|(k, v)| format!("{k}={}", serde_json::to_string(v).unwrap_or_default()))
        .collect();
    match (name, rest.is_empty()) {
        (Some(n), true) => n.clone(),
        (None, true) => "{}".into(),
        (n, false) => format!(
            "{}{{{}}}",
            n.map(String::as_str).unwrap_or(""),
            rest.join(", ")
        ),
    }
}

/// `{{ label }}` replaced by the label's value (or nothing).
fn expand_legend(format: &str, labels: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = format;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find("}}") {
            Some(end) => {
                let key = after[..end].trim();
                if let Some(v) = labels.get(key) {
                    out.push_str(v);
                }
                rest = &after[end + 2..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// A float as Go writes it in JSON: integral values without a fraction.
fn number(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 9_007_199_254_740_992.0 {
        Value::Number(Number::from(x as i64))
    } else {
        Number::from_f64(x).map_or(Value::Null, Value::Number)
    }
}

fn frame_json(f: &Frame, ref_id: &str) -> Value {
    let mut schema = Map::new();
    if let Some(n) = f.name.as_ref().filter(|n| !n.is_empty()) {
        schema.insert("name".into(), json!(n));
    }
    schema.insert("refId".into(), json!(ref_id));
    let mut meta = f.meta.clone();
    // `typeVersion` has no omitempty in the SDK: [0,0] when unset.
    meta.entry("typeVersion").or_insert_with(|| json!([0, 0]));
    schema.insert("meta".into(), Value::Object(meta));
    let mut fields = Vec::new();
    let mut values = Vec::new();
    let mut entities = Vec::new();
    for field in &f.fields {
        let mut fj = Map::new();
        fj.insert("name".into(), json!(field.name));
        match &field.column {
            Column::Time(ts) => {
                fj.insert("type".into(), json!("time"));
                fj.insert("typeInfo".into(), json!({ "frame": "time.Time" }));
                values.push(Value::Array(ts.iter().map(|t| json!(t)).collect()));
                entities.push(Value::Null);
            }
            Column::Number(xs) => {
                fj.insert("type".into(), json!("number"));
                fj.insert("typeInfo".into(), json!({ "frame": "float64" }));
                let (mut nan, mut inf, mut neg) = (Vec::new(), Vec::new(), Vec::new());
                let col: Vec<Value> = xs
                    .iter()
                    .enumerate()
                    .map(|(i, &x)| {
                        if x.is_nan() {
                            nan.push(i);
                            Value::Null
                        } else if x == f64::INFINITY {
                            inf.push(i);
                            Value::Null
                        } else if x == f64::NEG_INFINITY {
                            neg.push(i);
                            Value::Null
                        } else {
                            number(x)
                        }
                    })
                    .collect();
                values.push(Value::Array(col));
                let mut e = Map::new();
                if !nan.is_empty() {
                    e.insert("NaN".into(), json!(nan));
                }
                if !inf.is_empty() {
                    e.insert("Inf".into(), json!(inf));
                }
                if !neg.is_empty() {
                    e.insert("NegInf".into(), json!(neg));
                }
                entities.push(if e.is_empty() {
                    Value::Null
                } else {
                    Value::Object(e)
                });
            }
        }
        if let Some(l) = field.labels.as_ref().filter(|l| !l.is_empty()) {
            fj.insert("labels".into(), json!(l));
        }
        if let Some(c) = &field.config {
            fj.insert("config".into(), c.clone());
        }
        fields.push(Value::Object(fj));
    }
    schema.insert("fields".into(), Value::Array(fields));
    let mut data = json!({ "values": values });
    if entities.iter().any(|e| !e.is_null()) {
        data["entities"] = Value::Array(entities);
    }
    json!({ "schema": Value::Object(schema), "data": data })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(dataplane: bool) -> FrameOptions<'static> {
        FrameOptions {
            ref_id: "A",
            expr: "up",
            step_ms: 15_000,
            dataplane,
            legend_format: "__auto",
        }
    }

    #[test]
    fn vector_is_numeric_multi_with_the_value_field_named_by_name() {
        let data = json!({"resultType":"vector","result":[
            {"metric":{"__name__":"up","job":"adot"},"value":[1714000000,"1"]}]});
        let frames = prometheus_data_to_frames(&data, &opts(true)).unwrap();
        assert_eq!(
            frames,
            vec![json!({"schema":{"refId":"A","meta":{"type":"numeric-multi",
                "typeVersion":[0,1],"custom":{"resultType":"vector"},"executedQueryString":"Expr: up\nStep: 15s"},
                "fields":[{"name":"Time","type":"time","typeInfo":{"frame":"time.Time"},"config":{"interval":15000}},
                {"name":"up","type":"number","typeInfo":{"frame":"float64"},"labels":{"__name__":"up","job":"adot"}}]},
                "data":{"values":[[1714000000000u64],[1]]}})]
        );
    }

    #[test]
    fn matrix_is_timeseries_multi_and_special_values_become_entities() {
        let data = json!({"resultType":"matrix","result":[
            {"metric":{"__name__":"x"},"values":[[1,"NaN"],[2,"+Inf"],[3,"-Inf"],[4,"2.5"]]},
            {"metric":{"__name__":"y"},"values":[[1,"0"]]}]});
        let frames = prometheus_data_to_frames(&data, &opts(true)).unwrap();
        assert_eq!(frames.len(), 2);
        let f = &frames[0];
        assert_eq!(f["schema"]["meta"]["type"], "timeseries-multi");
        assert_eq!(f["schema"]["fields"][1]["name"], "x");
        assert_eq!(
            f["data"]["values"],
            json!([[1000, 2000, 3000, 4000], [null, null, null, 2.5]])
        );
        assert_eq!(
            f["data"]["entities"],
            json!([null, {"NaN":[0],"Inf":[1],"NegInf":[2]}])
        );
        // Only the first frame carries the executed query string; no entities without specials.
        assert!(
            frames[1]["schema"]["meta"]
                .get("executedQueryString")
                .is_none()
        );
        assert!(frames[1]["data"].get("entities").is_none());
    }

    #[test]
    fn empty_result_is_one_empty_frame() {
        let data = json!({"resultType":"vector","result":[]});
        let frames = prometheus_data_to_frames(&data, &opts(true)).unwrap();
        assert_eq!(
            frames,
            vec![json!({"schema":{"refId":"A","meta":{"typeVersion":[0,0],
                "executedQueryString":"Expr: up\nStep: 15s"},"fields":[]},"data":{"values":[]}})]
        );
        assert_eq!(empty_frame(&opts(true)), frames[0]);
    }

    #[test]
    fn legacy_frames_and_legends() {
        let data = json!({"resultType":"vector","result":[
            {"metric":{"__name__":"up","job":"adot"},"value":[1.5,"3"]}]});
        let mut o = opts(false);
        o.legend_format = "";
        let f = &prometheus_data_to_frames(&data, &o).unwrap()[0];
        assert_eq!(f["schema"]["meta"]["type"], "timeseries-multi");
        assert_eq!(f["schema"]["meta"]["typeVersion"], json!([0, 0]));
        assert_eq!(f["schema"]["name"], r#"up{job="adot"}"#);
        assert_eq!(f["schema"]["fields"][1]["name"], "Value");
        assert_eq!(
            f["schema"]["fields"][1]["config"]["displayNameFromDS"],
            r#"up{job="adot"}"#
        );
        assert_eq!(f["data"]["values"][0], json!([1500]));
        o.legend_format = "{{ job }} / {{missing}}";
        let f = &prometheus_data_to_frames(&data, &o).unwrap()[0];
        assert_eq!(f["schema"]["name"], "adot / ");
        let scalar = json!({"resultType":"scalar","result":[4,"2"]});
        let f = &prometheus_data_to_frames(&scalar, &opts(true)).unwrap()[0];
        assert_eq!(f["schema"]["fields"][1]["name"], "Value");
        assert_eq!(
            f["schema"]["fields"][1]["config"]["displayNameFromDS"],
            "up"
        );
    }

    #[test]
    fn go_durations_and_floats() {
        assert_eq!(go_duration(15_000), "15s");
        assert_eq!(go_duration(60_000), "1m0s");
        assert_eq!(go_duration(90_000), "1m30s");
        assert_eq!(go_duration(3_600_000), "1h0m0s");
        assert_eq!(go_duration(1_500), "1.5s");
        assert_eq!(go_duration(500), "500ms");
        assert!(parse_prom_float("NaN").unwrap().is_nan());
        assert_eq!(parse_prom_float("+Inf"), Some(f64::INFINITY));
        assert_eq!(parse_prom_float("-Inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_prom_float("1e3"), Some(1000.0));
        assert_eq!(parse_prom_float("x"), None);
        assert!(prometheus_data_to_frames(&json!({"result":[]}), &opts(true)).is_err());
    }
}
