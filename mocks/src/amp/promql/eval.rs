//! The evaluator. Every node is evaluated over the whole query grid at once (one step for
//! an instant query), the way Prometheus' engine does: an instant vector is a vector of
//! samples per step, a scalar a value per step. Labels are shared (`Rc`) between steps, and
//! per-node caches keyed by the shared labels keep label work linear in the number of
//! series rather than steps × series.
//!
//! Semantics follow Prometheus v3.9 (`promql/engine.go`, `functions.go`) with delayed name
//! removal off (the default): range selectors are left-open `(t - range, t]`, instant
//! selectors take the latest sample in `(t - lookback, t]` unless it is a stale marker,
//! `__name__` (and the other metadata labels `__type__`/`__unit__`) is dropped by functions
//! and arithmetic at once.

use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::time::UNIX_EPOCH;

use promql_parser::label::MatchOp;
use promql_parser::parser::token::{
    T_ADD, T_ATAN2, T_AVG, T_BOTTOMK, T_COUNT, T_DIV, T_EQLC, T_GROUP, T_GTE, T_GTR, T_LAND, T_LOR,
    T_LSS, T_LTE, T_LUNLESS, T_MAX, T_MIN, T_MOD, T_MUL, T_NEQ, T_POW, T_QUANTILE, T_STDDEV,
    T_STDVAR, T_SUB, T_SUM, T_TOPK, TokenId,
};
use promql_parser::parser::value::ValueType;
use promql_parser::parser::{
    AggregateExpr, AtModifier, BinModifier, BinaryExpr, Call, Expr, LabelModifier, MatrixSelector,
    Offset, SubqueryExpr, UnaryExpr, VectorMatchCardinality, VectorSelector,
};
use regex::Regex;

use super::functions::{self as f, GoHeap};
use super::json::go_v;
use super::selector::{METRIC_NAME, Selector, label_value};
use super::types::{
    DEFAULT_LOOKBACK_MS, DUPLICATE_LABELSET, EvalError, EvalOptions, InstantSample, TIMED_OUT,
    Value, exec, unsupported,
};
use crate::amp::store::{Labels, SeriesData, SeriesSource};

/// `math.MinInt64` as a float64 (-2^63).
const I64_MIN_F: f64 = -9_223_372_036_854_775_808.0;
/// The step of a subquery written without one (`x[1h:]`): Prometheus uses the global
/// evaluation interval, 1m by default (Cortex' `-querier.default-evaluation-interval`).
const DEFAULT_SUBQUERY_STEP_MS: i64 = 60_000;
/// Prometheus' API limit on points per series in a range query.
const MAX_POINTS: i64 = 11_000;
/// The bit pattern of a staleness marker (`value.StaleNaN`).
const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

type Metric = Rc<Labels>;

#[derive(Clone, Debug)]
struct Sample {
    metric: Metric,
    f: f64,
}

/// One instant vector per step of the query grid.
type Steps = Vec<Vec<Sample>>;

enum Val {
    Scalar(Vec<f64>),
    Vector(Steps),
    /// Only a bare range selector in an instant query evaluates to this.
    Matrix(Vec<SeriesData>),
    Str,
}

impl Val {
    fn documented_type(&self) -> &'static str {
        match self {
            Val::Scalar(_) => "scalar",
            Val::Vector(_) => "instant vector",
            Val::Matrix(_) => "range vector",
            Val::Str => "string",
        }
    }
}

/// Evaluates `query` at `t_ms` like `GET /api/v1/query`.
pub fn eval_instant(
    query: &str,
    t_ms: i64,
    src: &dyn SeriesSource,
    opts: &EvalOptions,
) -> Result<Value, EvalError> {
    let expr = parse(query)?;
    let mut ev = Evaluator::new(src, opts, t_ms, t_ms, 1);
    Ok(match ev.eval(&expr)? {
        Val::Scalar(v) => Value::Scalar { t_ms, value: v[0] },
        Val::Vector(mut steps) => Value::Vector(
            steps
                .pop()
                .unwrap_or_default()
                .into_iter()
                .map(|s| InstantSample {
                    labels: Rc::unwrap_or_clone(s.metric),
                    t_ms,
                    value: s.f,
                })
                .collect(),
        ),
        Val::Matrix(mut m) => {
            m.sort_by(|a, b| a.labels.cmp(&b.labels));
            Value::Matrix(m)
        }
        Val::Str => return Err(unsupported("string results")),
    })
}

/// Evaluates `query` at `start_ms`, `start_ms + step_ms`, … up to `end_ms` like
/// `GET /api/v1/query_range`. The result is always a matrix, series sorted by labels.
pub fn eval_range(
    query: &str,
    start_ms: i64,
    end_ms: i64,
    step_ms: i64,
    src: &dyn SeriesSource,
    opts: &EvalOptions,
) -> Result<Value, EvalError> {
    if end_ms < start_ms {
        return Err(EvalError::BadData(
            "invalid parameter \"end\": end timestamp must not be before start time".into(),
        ));
    }
    if step_ms <= 0 {
        return Err(EvalError::BadData("invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer".into()));
    }
    if end_ms.saturating_sub(start_ms) / step_ms > MAX_POINTS {
        return Err(EvalError::BadData("exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)".into()));
    }
    let expr = parse(query)?;
    let kind = match expr.value_type() {
        ValueType::Vector | ValueType::Scalar => None,
        ValueType::Matrix => Some("range vector"),
        ValueType::String => Some("string"),
    };
    if let Some(kind) = kind {
        return Err(EvalError::BadData(format!(
            "invalid parameter \"query\": invalid expression type \"{kind}\" for range query, must be Scalar or instant Vector"
        )));
    }
    let mut ev = Evaluator::new(src, opts, start_ms, end_ms, step_ms);
    let mut out = match ev.eval(&expr)? {
        Val::Scalar(v) => {
            vec![SeriesData {
                labels: Vec::new(),
                samples: ev.ts.iter().copied().zip(v).collect(),
            }]
        }
        Val::Vector(steps) => {
            let mut index: HashMap<Metric, usize> = HashMap::new();
            let mut series: Vec<SeriesData> = Vec::new();
            for (i, step) in steps.into_iter().enumerate() {
                for s in step {
                    let idx = *index.entry(s.metric.clone()).or_insert_with(|| {
                        series.push(SeriesData {
                            labels: (*s.metric).clone(),
                            samples: Vec::new(),
                        });
                        series.len() - 1
                    });
                    series[idx].samples.push((ev.ts[i], s.f));
                }
            }
            series
        }
        other => {
            return Err(EvalError::BadData(format!(
                "invalid parameter \"query\": invalid expression type \"{}\" for range query, must be Scalar or instant Vector",
                other.documented_type()
            )));
        }
    };
    out.sort_by(|a, b| a.labels.cmp(&b.labels));
    Ok(Value::Matrix(out))
}

/// Within `pipecheck_promql`'s bounds: a query too long or too deep is `bad_data`, like a
/// syntax error, and never reaches the recursive evaluator.
fn parse(query: &str) -> Result<Expr, EvalError> {
    pipecheck_promql::parse(query)
        .map_err(|e| EvalError::BadData(format!("invalid parameter \"query\": {e}")))
}

fn unparen(mut e: &Expr) -> &Expr {
    while let Expr::Paren(p) = e {
        e = &p.expr;
    }
    e
}

fn is_stale(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

fn is_metadata_label(name: &str) -> bool {
    matches!(name, METRIC_NAME | "__type__" | "__unit__")
}

/// `DropReserved(schema.IsMetadataLabel)`: what functions and arithmetic do to a metric.
fn drop_metadata(l: &Labels) -> Labels {
    l.iter()
        .filter(|(k, _)| !is_metadata_label(k))
        .cloned()
        .collect()
}

/// Sets a label keeping the order; an empty value deletes it (Prometheus' label builder).
fn set_label(l: &mut Labels, name: &str, value: &str) {
    match l.binary_search_by(|(k, _)| k.as_str().cmp(name)) {
        Ok(i) if value.is_empty() => {
            l.remove(i);
        }
        Ok(i) => l[i].1 = value.to_string(),
        Err(_) if value.is_empty() => {}
        Err(i) => l.insert(i, (name.to_string(), value.to_string())),
    }
}

fn offset_ms(o: &Option<Offset>) -> i64 {
    match o {
        None => 0,
        Some(Offset::Pos(d)) => d.as_millis() as i64,
        Some(Offset::Neg(d)) => -(d.as_millis() as i64),
    }
}

fn check_duplicates(step: &[Sample]) -> Result<(), EvalError> {
    if step.len() < 2 {
        return Ok(());
    }
    let mut seen: HashSet<&Labels> = HashSet::with_capacity(step.len());
    for s in step {
        if !seen.insert(&*s.metric) {
            return Err(exec(DUPLICATE_LABELSET));
        }
    }
    Ok(())
}

fn check_all_duplicates(steps: &Steps) -> Result<(), EvalError> {
    steps.iter().try_for_each(|s| check_duplicates(s))
}

/// Maps input metrics to derived metrics once per distinct (shared) input.
#[derive(Default)]
struct MetricMap {
    // The input is kept alive so its address cannot be reused while the map exists.
    map: HashMap<*const Labels, (Metric, Metric)>,
}

impl MetricMap {
    fn get(&mut self, m: &Metric, derive: impl FnOnce(&Labels) -> Labels) -> Metric {
        self.map
            .entry(Rc::as_ptr(m))
            .or_insert_with(|| (m.clone(), Rc::new(derive(m))))
            .1
            .clone()
    }
}

/// Assigns each input metric the ordinal of its group (by label content), once.
struct Ordinals<F: Fn(&Labels) -> Labels> {
    key: F,
    by_ptr: HashMap<*const Labels, (Metric, usize)>,
    by_key: HashMap<Labels, usize>,
    keys: Vec<Metric>,
}

impl<F: Fn(&Labels) -> Labels> Ordinals<F> {
    fn new(key: F) -> Self {
        Self {
            key,
            by_ptr: HashMap::new(),
            by_key: HashMap::new(),
            keys: Vec::new(),
        }
    }

    fn of(&mut self, m: &Metric) -> usize {
        if let Some((_, o)) = self.by_ptr.get(&Rc::as_ptr(m)) {
            return *o;
        }
        let key = (self.key)(m);
        let next = self.keys.len();
        let o = *self.by_key.entry(key.clone()).or_insert(next);
        if o == next {
            self.keys.push(Rc::new(key));
        }
        self.by_ptr.insert(Rc::as_ptr(m), (m.clone(), o));
        o
    }
}

/// Prometheus' `labels.Labels.String()`, for error messages.
fn go_labels(l: &Labels) -> String {
    let legacy = |n: &str| {
        let mut cs = n.chars();
        cs.next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && cs.all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    let parts: Vec<String> = l
        .iter()
        .map(|(k, v)| {
            let k = if legacy(k) { k.clone() } else { go_quote(k) };
            format!("{k}={}", go_quote(v))
        })
        .collect();
    format!("{{{}}}", parts.join(", "))
}

/// Close to Go's `strconv.Quote` (printable characters kept, the usual escapes).
fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `math.Max`.
fn go_max(x: f64, y: f64) -> f64 {
    if x == f64::INFINITY || y == f64::INFINITY {
        f64::INFINITY
    } else if x.is_nan() || y.is_nan() {
        f64::NAN
    } else if x == 0.0 && x == y {
        if x.is_sign_negative() { y } else { x }
    } else if x > y {
        x
    } else {
        y
    }
}

/// Go's `math.Min`.
fn go_min(x: f64, y: f64) -> f64 {
    if x == f64::NEG_INFINITY || y == f64::NEG_INFINITY {
        f64::NEG_INFINITY
    } else if x.is_nan() || y.is_nan() {
        f64::NAN
    } else if x == 0.0 && x == y {
        if x.is_sign_negative() { x } else { y }
    } else if x < y {
        x
    } else {
        y
    }
}

fn is_comparison(op: TokenId) -> bool {
    matches!(op, T_EQLC | T_NEQ | T_GTR | T_LSS | T_GTE | T_LTE)
}

/// Arithmetic drops the metric name; comparisons (without `bool`) keep it.
fn changes_metric_schema(op: TokenId) -> bool {
    matches!(op, T_ADD | T_SUB | T_MUL | T_DIV | T_POW | T_MOD | T_ATAN2)
}

/// `vectorElemBinop` for floats: the value and whether a comparison holds.
fn elem_binop(op: TokenId, l: f64, r: f64) -> (f64, bool) {
    match op {
        T_ADD => (l + r, true),
        T_SUB => (l - r, true),
        T_MUL => (l * r, true),
        T_DIV => (l / r, true),
        T_POW => (f::go_pow(l, r), true),
        // Rust's `%` is fmod, which is what Go's math.Mod computes (exactly).
        T_MOD => (l % r, true),
        T_EQLC => (l, l == r),
        T_NEQ => (l, l != r),
        T_GTR => (l, l > r),
        T_LSS => (l, l < r),
        T_GTE => (l, l >= r),
        T_LTE => (l, l <= r),
        _ => (f64::NAN, false),
    }
}

fn btos(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

/// Range-vector functions.
#[derive(Clone, Copy, PartialEq, Eq)]
enum RangeFn {
    Rate,
    Increase,
    Delta,
    Irate,
    Idelta,
    Avg,
    Sum,
    Count,
    Min,
    Max,
    Last,
    Present,
    Stddev,
    Stdvar,
    Quantile,
    Changes,
    Resets,
}

impl RangeFn {
    fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "rate" => Self::Rate,
            "increase" => Self::Increase,
            "delta" => Self::Delta,
            "irate" => Self::Irate,
            "idelta" => Self::Idelta,
            "avg_over_time" => Self::Avg,
            "sum_over_time" => Self::Sum,
            "count_over_time" => Self::Count,
            "min_over_time" => Self::Min,
            "max_over_time" => Self::Max,
            "last_over_time" => Self::Last,
            "present_over_time" => Self::Present,
            "stddev_over_time" => Self::Stddev,
            "stdvar_over_time" => Self::Stdvar,
            "quantile_over_time" => Self::Quantile,
            "changes" => Self::Changes,
            "resets" => Self::Resets,
            _ => return None,
        })
    }

    fn apply(self, w: f::Window, range_end: i64, range_ms: i64, param: f64) -> Option<f64> {
        Some(match self {
            Self::Rate => return f::extrapolated_rate(w, range_end, range_ms, true, true),
            Self::Increase => return f::extrapolated_rate(w, range_end, range_ms, true, false),
            Self::Delta => return f::extrapolated_rate(w, range_end, range_ms, false, false),
            Self::Irate => return f::instant_value(w, true),
            Self::Idelta => return f::instant_value(w, false),
            Self::Avg => f::avg_over_time(w),
            Self::Sum => f::sum_over_time(w),
            Self::Count => w.len() as f64,
            Self::Min => f::extreme_over_time(w, false),
            Self::Max => f::extreme_over_time(w, true),
            Self::Last => w[w.len() - 1].1,
            Self::Present => 1.0,
            Self::Stddev => f::variance_over_time(w).sqrt(),
            Self::Stdvar => f::variance_over_time(w),
            Self::Quantile => f::quantile(param, w.iter().map(|p| p.1).collect()),
            Self::Changes => f::changes(w),
            Self::Resets => f::resets(w),
        })
    }
}

/// The samples of the series a range selector picked, stale markers removed, with the
/// right end of the window at each step.
struct Loaded {
    series: Vec<(Metric, Vec<(i64, f64)>)>,
    refs: Vec<i64>,
    range_ms: i64,
}

impl Loaded {
    /// Calls `each(step, window)` for every step whose window `(ref - range, ref]` holds
    /// samples of `samples`.
    fn windows(&self, samples: &[(i64, f64)], mut each: impl FnMut(usize, f::Window)) {
        let (mut lo, mut hi) = (0, 0);
        for (i, &r) in self.refs.iter().enumerate() {
            while hi < samples.len() && samples[hi].0 <= r {
                hi += 1;
            }
            let start = r.saturating_sub(self.range_ms);
            while lo < hi && samples[lo].0 <= start {
                lo += 1;
            }
            if lo < hi {
                each(i, &samples[lo..hi]);
            }
        }
    }
}

struct Evaluator<'a> {
    src: &'a dyn SeriesSource,
    lookback: i64,
    max_samples: usize,
    /// The grid of this evaluator (a subquery has its own).
    start: i64,
    end: i64,
    ts: Vec<i64>,
    /// The query's own start and end, for `@ start()` and `@ end()`.
    query_start: i64,
    query_end: i64,
    touched: usize,
    deadline: Option<std::time::Instant>,
}

impl<'a> Evaluator<'a> {
    fn new(src: &'a dyn SeriesSource, opts: &EvalOptions, start: i64, end: i64, step: i64) -> Self {
        Self {
            src,
            lookback: if opts.lookback_ms > 0 {
                opts.lookback_ms
            } else {
                DEFAULT_LOOKBACK_MS
            },
            max_samples: opts.max_samples,
            start,
            end,
            ts: grid(start, end, step),
            query_start: start,
            query_end: end,
            touched: 0,
            deadline: opts.deadline,
        }
    }

    fn n(&self) -> usize {
        self.ts.len()
    }

    /// Counts samples the query touches, refusing the query past `max_samples` or past
    /// its deadline.
    fn touch(&mut self, k: usize) -> Result<(), EvalError> {
        self.touched = self.touched.saturating_add(k);
        if self.touched > self.max_samples {
            return Err(exec(
                "query processing would load too many samples into memory in query execution",
            ));
        }
        if self
            .deadline
            .is_some_and(|d| std::time::Instant::now() >= d)
        {
            return Err(exec(TIMED_OUT));
        }
        Ok(())
    }

    /// Every node's output counts against the sample limit too, as Prometheus counts the
    /// points a step holds: a range query's output points are bounded, not only what the
    /// selectors load.
    fn eval(&mut self, e: &Expr) -> Result<Val, EvalError> {
        let v = self.eval_node(e)?;
        let points = match &v {
            Val::Vector(steps) if !matches!(e, Expr::VectorSelector(_) | Expr::Paren(_)) => {
                steps.iter().map(Vec::len).sum()
            }
            _ => 0,
        };
        self.touch(points)?;
        Ok(v)
    }

    fn eval_node(&mut self, e: &Expr) -> Result<Val, EvalError> {
        match e {
            Expr::NumberLiteral(n) => Ok(Val::Scalar(vec![n.val; self.n()])),
            Expr::StringLiteral(_) => Ok(Val::Str),
            Expr::Paren(p) => self.eval(&p.expr),
            Expr::Unary(u) => self.eval_unary(u),
            Expr::VectorSelector(vs) => self.eval_vector_selector(vs, false).map(Val::Vector),
            Expr::MatrixSelector(ms) => self.eval_range_value(RangeArg::Selector(ms)),
            Expr::Subquery(sq) => self.eval_range_value(RangeArg::Subquery(sq)),
            Expr::Aggregate(a) => self.eval_aggregate(a),
            Expr::Binary(b) => self.eval_binary(b),
            Expr::Call(c) => self.eval_call(c),
            Expr::Extension(_) => Err(unsupported("extension expressions")),
        }
    }

    fn vector(&mut self, e: &Expr, context: &str) -> Result<Steps, EvalError> {
        match self.eval(e)? {
            Val::Vector(v) => Ok(v),
            other => Err(EvalError::BadData(format!(
                "expected type instant vector in {context}, got {}",
                other.documented_type()
            ))),
        }
    }

    fn scalar(&mut self, e: &Expr, context: &str) -> Result<Vec<f64>, EvalError> {
        match self.eval(e)? {
            Val::Scalar(v) => Ok(v),
            other => Err(EvalError::BadData(format!(
                "expected type scalar in {context}, got {}",
                other.documented_type()
            ))),
        }
    }

    fn string(e: &Expr, context: &str) -> Result<String, EvalError> {
        match unparen(e) {
            Expr::StringLiteral(s) => Ok(s.val.clone()),
            _ => Err(EvalError::BadData(format!(
                "expected type string in {context}"
            ))),
        }
    }

    fn at_ms(&self, at: &Option<AtModifier>) -> Option<i64> {
        match at {
            None => None,
            Some(AtModifier::Start) => Some(self.query_start),
            Some(AtModifier::End) => Some(self.query_end),
            Some(AtModifier::At(t)) => Some(match t.duration_since(UNIX_EPOCH) {
                Ok(d) => d.as_millis() as i64,
                Err(e) => -(e.duration().as_millis() as i64),
            }),
        }
    }

    /// The reference time of a selector at each step: `@` (else the step) minus `offset`.
    fn refs(&self, vs: &VectorSelector) -> Vec<i64> {
        let off = offset_ms(&vs.offset);
        let at = self.at_ms(&vs.at);
        self.ts
            .iter()
            .map(|&t| at.unwrap_or(t).saturating_sub(off))
            .collect()
    }

    /// An instant selector: the latest sample in `(ref - lookback, ref]`, nothing when that
    /// sample is a stale marker. With `orig_ts` the value is the sample's timestamp in
    /// seconds (for `timestamp()`).
    fn eval_vector_selector(
        &mut self,
        vs: &VectorSelector,
        orig_ts: bool,
    ) -> Result<Steps, EvalError> {
        let sel = Selector::from_vector_selector(vs)?;
        let refs = self.refs(vs);
        let (lo, hi) = (
            refs[0].saturating_sub(self.lookback).saturating_add(1),
            refs[refs.len() - 1],
        );
        let series = self
            .src
            .select(sel.metric_name(), &|l| sel.matches(l), lo, hi);
        self.touch(series.iter().map(|s| s.samples.len()).sum())?;
        let mut out: Steps = vec![Vec::new(); self.n()];
        for s in series {
            if s.samples.is_empty() {
                continue;
            }
            let metric = Rc::new(s.labels);
            let mut j = 0;
            let mut produced = 0;
            for (i, &r) in refs.iter().enumerate() {
                while j < s.samples.len() && s.samples[j].0 <= r {
                    j += 1;
                }
                if j == 0 {
                    continue;
                }
                let (t, v) = s.samples[j - 1];
                if t <= r.saturating_sub(self.lookback) || is_stale(v) {
                    continue;
                }
                let f = if orig_ts { t as f64 / 1000.0 } else { v };
                out[i].push(Sample {
                    metric: metric.clone(),
                    f,
                });
                produced += 1;
            }
            self.touch(produced)?;
        }
        Ok(out)
    }

    fn load_matrix(&mut self, ms: &MatrixSelector) -> Result<Loaded, EvalError> {
        let sel = Selector::from_vector_selector(&ms.vs)?;
        let range_ms = ms.range.as_millis() as i64;
        let refs = self.refs(&ms.vs);
        let lo = refs[0].saturating_sub(range_ms).saturating_add(1);
        let raw = self.src.select(
            sel.metric_name(),
            &|l| sel.matches(l),
            lo,
            refs[refs.len() - 1],
        );
        self.touch(raw.iter().map(|s| s.samples.len()).sum())?;
        let series = raw
            .into_iter()
            .map(|s| {
                let samples: Vec<(i64, f64)> = s
                    .samples
                    .into_iter()
                    .filter(|&(_, v)| !is_stale(v))
                    .collect();
                (Rc::new(s.labels), samples)
            })
            .filter(|(_, s)| !s.is_empty())
            .collect();
        Ok(Loaded {
            series,
            refs,
            range_ms,
        })
    }

    fn load_range(&mut self, arg: RangeArg) -> Result<Loaded, EvalError> {
        match arg {
            RangeArg::Selector(ms) => self.load_matrix(ms),
            RangeArg::Subquery(sq) => self.load_subquery(sq),
        }
    }

    /// A subquery: the inner expression evaluated on its own grid, aligned to multiples of
    /// the step, from just after `start - offset - range` to `end - offset`; its points
    /// then stand for raw samples.
    fn load_subquery(&mut self, sq: &SubqueryExpr) -> Result<Loaded, EvalError> {
        if sq.at.is_some() {
            return Err(unsupported("@ on a subquery"));
        }
        let off = offset_ms(&sq.offset);
        let range_ms = sq.range.as_millis() as i64;
        let step = sq
            .step
            .map_or(DEFAULT_SUBQUERY_STEP_MS, |d| d.as_millis() as i64);
        if step <= 0 || range_ms <= 0 {
            return Err(EvalError::BadData(
                "invalid parameter \"query\": zero subquery range or step".into(),
            ));
        }
        let first = self.start.saturating_sub(off).saturating_sub(range_ms);
        // Go's integer division truncates toward zero, as Rust's does.
        let mut start = step * (first / step);
        if start <= first {
            start += step;
        }
        let end = self.end.saturating_sub(off);
        let refs: Vec<i64> = self.ts.iter().map(|&t| t.saturating_sub(off)).collect();
        let mut series: Vec<(Metric, Vec<(i64, f64)>)> = Vec::new();
        if start <= end {
            if (end - start) / step > 10 * MAX_POINTS {
                return Err(unsupported("subqueries with more than 110000 steps"));
            }
            let mut inner = Evaluator {
                src: self.src,
                lookback: self.lookback,
                max_samples: self.max_samples,
                start,
                end,
                ts: grid(start, end, step),
                query_start: self.query_start,
                query_end: self.query_end,
                touched: self.touched,
                deadline: self.deadline,
            };
            let steps = inner.vector(&sq.expr, "subquery")?;
            self.touched = inner.touched;
            let mut index: HashMap<Metric, usize> = HashMap::new();
            for (i, step) in steps.into_iter().enumerate() {
                for s in step {
                    let idx = *index.entry(s.metric.clone()).or_insert_with(|| {
                        series.push((s.metric.clone(), Vec::new()));
                        series.len() - 1
                    });
                    series[idx].1.push((inner.ts[i], s.f));
                }
            }
        }
        Ok(Loaded {
            series,
            refs,
            range_ms,
        })
    }

    /// A bare range selector or subquery: only valid as the whole expression of an instant
    /// query.
    fn eval_range_value(&mut self, arg: RangeArg) -> Result<Val, EvalError> {
        if self.n() != 1 || self.start != self.end {
            return Err(EvalError::BadData("invalid parameter \"query\": invalid expression type \"range vector\" for range query, must be Scalar or instant Vector".into()));
        }
        let loaded = self.load_range(arg)?;
        let mut out = Vec::new();
        for (metric, samples) in &loaded.series {
            loaded.windows(samples, |_, w| {
                out.push(SeriesData {
                    labels: (**metric).clone(),
                    samples: w.to_vec(),
                });
            });
        }
        Ok(Val::Matrix(out))
    }

    fn eval_unary(&mut self, u: &UnaryExpr) -> Result<Val, EvalError> {
        match self.eval(&u.expr)? {
            Val::Scalar(v) => Ok(Val::Scalar(v.into_iter().map(|x| -x).collect())),
            Val::Vector(steps) => {
                let mut names = MetricMap::default();
                let out: Steps = steps
                    .into_iter()
                    .map(|step| {
                        step.into_iter()
                            .map(|s| Sample {
                                metric: names.get(&s.metric, drop_metadata),
                                f: -s.f,
                            })
                            .collect()
                    })
                    .collect();
                check_all_duplicates(&out)?;
                Ok(Val::Vector(out))
            }
            other => Err(EvalError::BadData(format!(
                "unary expression only allowed on expressions of type scalar or instant vector, got {}",
                other.documented_type()
            ))),
        }
    }

    // ---------------------------------------------------------------- aggregations

    fn eval_aggregate(&mut self, a: &AggregateExpr) -> Result<Val, EvalError> {
        let op = a.op.id();
        if !matches!(
            op,
            T_SUM
                | T_AVG
                | T_MIN
                | T_MAX
                | T_COUNT
                | T_GROUP
                | T_STDDEV
                | T_STDVAR
                | T_TOPK
                | T_BOTTOMK
                | T_QUANTILE
        ) {
            return Err(unsupported(format!("aggregation \"{}\"", a.op)));
        }
        let (without, grouping): (bool, Vec<String>) = match &a.modifier {
            None => (false, Vec::new()),
            Some(LabelModifier::Include(l)) => (false, l.labels.clone()),
            Some(LabelModifier::Exclude(l)) => (true, l.labels.clone()),
        };
        let context = "aggregation expression";
        // Prometheus evaluates the parameter before the aggregated expression.
        let param_expr = a.param.as_deref().map(unparen);
        let param = match param_expr {
            Some(p) => Some(self.scalar(p, context)?),
            None => None,
        };
        let input = self.vector(unparen(&a.expr), context)?;
        let groups = Ordinals::new(move |l: &Labels| -> Labels {
            if without {
                l.iter()
                    .filter(|(k, _)| k != METRIC_NAME && !grouping.contains(k))
                    .cloned()
                    .collect()
            } else {
                l.iter()
                    .filter(|(k, _)| grouping.contains(k))
                    .cloned()
                    .collect()
            }
        });
        match op {
            T_TOPK | T_BOTTOMK => {
                let constant = matches!(param_expr, Some(Expr::NumberLiteral(_)));
                let param = param.unwrap_or_else(|| vec![f64::NAN; self.n()]);
                self.aggregate_k(op == T_TOPK, constant, &param, input, groups)
            }
            _ => Ok(Val::Vector(aggregate(op, param.as_deref(), input, groups))),
        }
    }

    /// `topk`/`bottomk` (`aggregationK`), with Prometheus' parameter checks.
    fn aggregate_k<F: Fn(&Labels) -> Labels>(
        &mut self,
        top: bool,
        constant: bool,
        param: &[f64],
        input: Steps,
        mut groups: Ordinals<F>,
    ) -> Result<Val, EvalError> {
        let (min, max, any_nan) = if constant {
            (param[0], param[0], param[0].is_nan())
        } else {
            param
                .iter()
                .fold((f64::MAX, -f64::MAX, false), |(lo, hi, nan), &v| {
                    (go_min(lo, v), go_max(hi, v), nan || v.is_nan())
                })
        };
        if max < 1.0 {
            return Ok(Val::Vector(vec![Vec::new(); self.n()]));
        }
        if any_nan {
            return Err(exec("Parameter value is NaN"));
        }
        if min <= I64_MIN_F {
            return Err(exec(format!("Scalar value {} underflows int64", go_v(min))));
        }
        if max >= -I64_MIN_F {
            return Err(exec(format!("Scalar value {} overflows int64", go_v(max))));
        }
        fn by_value(a: &Sample, b: &Sample) -> bool {
            a.f.is_nan() || a.f < b.f
        }
        fn by_reverse_value(a: &Sample, b: &Sample) -> bool {
            a.f.is_nan() || a.f > b.f
        }
        let less: fn(&Sample, &Sample) -> bool = if top { by_value } else { by_reverse_value };
        let mut out: Steps = Vec::with_capacity(self.n());
        for (i, step) in input.into_iter().enumerate() {
            let k = param[i] as i64;
            if k < 1 {
                out.push(Vec::new());
                continue;
            }
            let mut heaps: HashMap<usize, GoHeap<Sample>> = HashMap::new();
            for s in step {
                let g = groups.of(&s.metric);
                let heap = heaps.entry(g).or_insert_with(|| GoHeap::new(less));
                if (heap.items.len() as i64) < k {
                    heap.push(s);
                    continue;
                }
                let root = heap.items[0].f;
                let replace = if top { root < s.f } else { root > s.f };
                if replace || (root.is_nan() && !s.f.is_nan()) {
                    heap.items[0] = s;
                    if k > 1 {
                        heap.fix_root();
                    }
                }
            }
            let mut order: Vec<usize> = heaps.keys().copied().collect();
            order.sort_unstable();
            let mut v = Vec::new();
            for g in order {
                let heap = heaps.remove(&g).expect("key from the map");
                v.extend(heap.into_reverse_sorted());
            }
            out.push(v);
        }
        Ok(Val::Vector(out))
    }

    // ---------------------------------------------------------------- binary operators

    fn eval_binary(&mut self, b: &BinaryExpr) -> Result<Val, EvalError> {
        let op = b.op.id();
        if op == T_ATAN2 {
            return Err(unsupported("operator \"atan2\""));
        }
        let modifier = b.modifier.clone().unwrap_or_default();
        if modifier.fill_values.lhs.is_some() || modifier.fill_values.rhs.is_some() {
            return Err(unsupported("fill modifiers"));
        }
        let lhs = self.eval(&b.lhs)?;
        let rhs = self.eval(&b.rhs)?;
        let rb = modifier.return_bool;
        match (lhs, rhs) {
            (Val::Scalar(l), Val::Scalar(r)) => Ok(Val::Scalar(
                l.iter()
                    .zip(&r)
                    .map(|(&x, &y)| {
                        let (v, keep) = elem_binop(op, x, y);
                        if is_comparison(op) { btos(keep) } else { v }
                    })
                    .collect(),
            )),
            (Val::Vector(v), Val::Scalar(s)) => {
                vector_scalar(op, v, &s, false, rb).map(Val::Vector)
            }
            (Val::Scalar(s), Val::Vector(v)) => vector_scalar(op, v, &s, true, rb).map(Val::Vector),
            (Val::Vector(l), Val::Vector(r)) => vector_vector(op, l, r, &modifier).map(Val::Vector),
            _ => Err(EvalError::BadData(
                "binary expression must contain only scalar and instant vector types".into(),
            )),
        }
    }

    // ---------------------------------------------------------------- functions

    fn eval_call(&mut self, c: &Call) -> Result<Val, EvalError> {
        let name = c.func.name;
        let args: Vec<&Expr> = c.args.args.iter().map(|a| unparen(a)).collect();
        let context = format!("call to function \"{name}\"");
        let want = |n: usize| -> Result<(), EvalError> {
            if args.len() == n {
                Ok(())
            } else {
                Err(EvalError::BadData(format!(
                    "expected {n} argument(s) in {context}, got {}",
                    args.len()
                )))
            }
        };
        if let Some(rf) = RangeFn::from_name(name) {
            return if rf == RangeFn::Quantile {
                want(2)?;
                let q = self.scalar(args[0], &context)?;
                self.range_function(rf, args[1], &q)
            } else {
                want(1)?;
                self.range_function(rf, args[0], &[])
            };
        }
        match name {
            "absent_over_time" => {
                want(1)?;
                let arg = range_arg(args[0], &context)?;
                let loaded = self.load_range(arg)?;
                let mut present = vec![false; self.n()];
                for (_, samples) in &loaded.series {
                    loaded.windows(samples, |i, _| present[i] = true);
                }
                let labels = Rc::new(match arg {
                    RangeArg::Selector(ms) => absent_labels(&ms.vs),
                    RangeArg::Subquery(_) => Labels::new(),
                });
                Ok(Val::Vector(
                    present
                        .into_iter()
                        .map(|p| {
                            if p {
                                Vec::new()
                            } else {
                                vec![Sample {
                                    metric: labels.clone(),
                                    f: 1.0,
                                }]
                            }
                        })
                        .collect(),
                ))
            }
            "abs" | "ceil" | "floor" | "sqrt" | "sgn" => {
                want(1)?;
                let op: fn(f64) -> f64 = match name {
                    "abs" => f64::abs,
                    "ceil" => f64::ceil,
                    "floor" => f64::floor,
                    "sqrt" => f64::sqrt,
                    _ => |v| {
                        if v < 0.0 {
                            -1.0
                        } else if v > 0.0 {
                            1.0
                        } else {
                            v
                        }
                    },
                };
                let v = self.vector(args[0], &context)?;
                map_dropping_name(v, |_, x| Some(op(x)))
            }
            "round" => {
                if args.is_empty() || args.len() > 2 {
                    want(1)?;
                }
                let v = self.vector(args[0], &context)?;
                let to_nearest = match args.get(1) {
                    Some(a) => self.scalar(a, &context)?,
                    None => vec![1.0; self.n()],
                };
                map_dropping_name(v, |i, x| {
                    // Inverted as Prometheus does (fewer floating-point surprises).
                    let inv = 1.0 / to_nearest[i];
                    Some((x * inv + 0.5).floor() / inv)
                })
            }
            "clamp" | "clamp_min" | "clamp_max" => {
                want(if name == "clamp" { 3 } else { 2 })?;
                let v = self.vector(args[0], &context)?;
                let (lo, hi) = match name {
                    "clamp" => (
                        self.scalar(args[1], &context)?,
                        self.scalar(args[2], &context)?,
                    ),
                    "clamp_min" => (
                        self.scalar(args[1], &context)?,
                        vec![f64::INFINITY; self.n()],
                    ),
                    _ => (
                        vec![f64::NEG_INFINITY; self.n()],
                        self.scalar(args[1], &context)?,
                    ),
                };
                map_dropping_name(v, |i, x| {
                    if hi[i] < lo[i] {
                        None
                    } else {
                        Some(go_max(lo[i], go_min(hi[i], x)))
                    }
                })
            }
            "scalar" => {
                want(1)?;
                let v = self.vector(args[0], &context)?;
                Ok(Val::Scalar(
                    v.iter()
                        .map(|step| if step.len() == 1 { step[0].f } else { f64::NAN })
                        .collect(),
                ))
            }
            "vector" => {
                want(1)?;
                let s = self.scalar(args[0], &context)?;
                let empty: Metric = Rc::new(Vec::new());
                Ok(Val::Vector(
                    s.into_iter()
                        .map(|f| {
                            vec![Sample {
                                metric: empty.clone(),
                                f,
                            }]
                        })
                        .collect(),
                ))
            }
            "time" => {
                want(0)?;
                Ok(Val::Scalar(
                    self.ts.iter().map(|&t| t as f64 / 1000.0).collect(),
                ))
            }
            "timestamp" => {
                want(1)?;
                if let Expr::VectorSelector(vs) = args[0] {
                    let v = self.eval_vector_selector(vs, true)?;
                    map_dropping_name(v, |_, x| Some(x))
                } else {
                    let v = self.vector(args[0], &context)?;
                    let ts: Vec<f64> = self.ts.iter().map(|&t| t as f64 / 1000.0).collect();
                    map_dropping_name(v, |i, _| Some(ts[i]))
                }
            }
            "absent" => {
                want(1)?;
                let v = self.vector(args[0], &context)?;
                let labels = Rc::new(match args[0] {
                    Expr::VectorSelector(vs) => absent_labels(vs),
                    _ => Vec::new(),
                });
                Ok(Val::Vector(
                    v.into_iter()
                        .map(|step| {
                            if step.is_empty() {
                                vec![Sample {
                                    metric: labels.clone(),
                                    f: 1.0,
                                }]
                            } else {
                                Vec::new()
                            }
                        })
                        .collect(),
                ))
            }
            "histogram_quantile" => {
                want(2)?;
                let q = self.scalar(args[0], &context)?;
                let v = self.vector(args[1], &context)?;
                histogram_quantile(&q, v).map(Val::Vector)
            }
            "label_replace" => {
                want(5)?;
                let dst = Self::string(args[1], &context)?;
                let repl = Self::string(args[2], &context)?;
                let src = Self::string(args[3], &context)?;
                let pattern = Self::string(args[4], &context)?;
                let re = Regex::new(&format!("^(?s:{pattern})$")).map_err(|_| {
                    exec(format!(
                        "invalid regular expression in label_replace(): {pattern}"
                    ))
                })?;
                if dst.is_empty() {
                    return Err(exec(format!(
                        "invalid destination label name in label_replace(): {dst}"
                    )));
                }
                let v = self.vector(args[0], &context)?;
                relabel(v, |l| {
                    let mut out = l.clone();
                    if let Some(caps) = re.captures(label_value(l, &src)) {
                        let mut res = String::new();
                        caps.expand(&repl, &mut res);
                        set_label(&mut out, &dst, &res);
                    }
                    out
                })
            }
            "label_join" => {
                if args.len() < 3 {
                    want(3)?;
                }
                let dst = Self::string(args[1], &context)?;
                let sep = Self::string(args[2], &context)?;
                let srcs = args[3..]
                    .iter()
                    .map(|a| Self::string(a, &context))
                    .collect::<Result<Vec<_>, _>>()?;
                if let Some(bad) = srcs.iter().find(|s| s.is_empty()) {
                    return Err(exec(format!(
                        "invalid source label name in label_join(): {bad}"
                    )));
                }
                if dst.is_empty() {
                    return Err(exec(format!(
                        "invalid destination label name in label_join(): {dst}"
                    )));
                }
                let v = self.vector(args[0], &context)?;
                relabel(v, |l| {
                    let joined: Vec<&str> = srcs.iter().map(|s| label_value(l, s)).collect();
                    let mut out = l.clone();
                    set_label(&mut out, &dst, &joined.join(&sep));
                    out
                })
            }
            "sort" | "sort_desc" => {
                want(1)?;
                let desc = name == "sort_desc";
                let mut v = self.vector(args[0], &context)?;
                // Go's sort is not stable; equal values keep their input order here.
                for step in &mut v {
                    step.sort_by(|a, b| match (a.f.is_nan(), b.f.is_nan()) {
                        (true, true) => std::cmp::Ordering::Equal,
                        (true, false) => std::cmp::Ordering::Greater,
                        (false, true) => std::cmp::Ordering::Less,
                        _ if desc => b.f.partial_cmp(&a.f).expect("not NaN"),
                        _ => a.f.partial_cmp(&b.f).expect("not NaN"),
                    });
                }
                Ok(Val::Vector(v))
            }
            _ => Err(unsupported(format!("function \"{name}\""))),
        }
    }

    /// A function over a range vector, evaluated per series and step; the result drops
    /// `__name__` except for `last_over_time`.
    fn range_function(&mut self, rf: RangeFn, arg: &Expr, param: &[f64]) -> Result<Val, EvalError> {
        let arg = range_arg(arg, "call to a range-vector function")?;
        let loaded = self.load_range(arg)?;
        let mut outs: Vec<(Metric, Vec<(usize, f64)>)> = Vec::new();
        for (metric, samples) in &loaded.series {
            let mut points = Vec::new();
            loaded.windows(samples, |i, w| {
                let p = param.get(i).copied().unwrap_or(f64::NAN);
                if let Some(v) = rf.apply(w, loaded.refs[i], loaded.range_ms, p) {
                    points.push((i, v));
                }
            });
            if points.is_empty() {
                continue;
            }
            self.touch(points.len())?;
            let m = if rf == RangeFn::Last {
                metric.clone()
            } else {
                Rc::new(drop_metadata(metric))
            };
            outs.push((m, points));
        }
        // Prometheus checks the whole range at once here, not step by step.
        let mut seen: HashSet<&Labels> = HashSet::with_capacity(outs.len());
        if outs.iter().any(|(m, _)| !seen.insert(&**m)) {
            return Err(exec(DUPLICATE_LABELSET));
        }
        let mut out: Steps = vec![Vec::new(); self.n()];
        for (metric, points) in outs {
            for (i, f) in points {
                out[i].push(Sample {
                    metric: metric.clone(),
                    f,
                });
            }
        }
        Ok(Val::Vector(out))
    }
}

/// The range-vector argument of a function.
#[derive(Clone, Copy)]
enum RangeArg<'e> {
    Selector(&'e MatrixSelector),
    Subquery(&'e SubqueryExpr),
}

fn range_arg<'e>(e: &'e Expr, context: &str) -> Result<RangeArg<'e>, EvalError> {
    match unparen(e) {
        Expr::MatrixSelector(ms) => Ok(RangeArg::Selector(ms)),
        Expr::Subquery(sq) => Ok(RangeArg::Subquery(sq)),
        _ => Err(EvalError::BadData(format!(
            "expected type range vector in {context}"
        ))),
    }
}

fn grid(start: i64, end: i64, step: i64) -> Vec<i64> {
    let n = (end - start) / step + 1;
    (0..n).map(|i| start + i * step).collect()
}

/// Labels of `absent()`/`absent_over_time()`: the selector's equality matchers, except
/// labels matched more than once or by another kind of matcher.
fn absent_labels(vs: &VectorSelector) -> Labels {
    let mut out = Labels::new();
    let mut has: HashSet<&str> = HashSet::new();
    for m in &vs.matchers.matchers {
        if m.name == METRIC_NAME {
            continue;
        }
        if m.op == MatchOp::Equal && !has.contains(m.name.as_str()) {
            set_label(&mut out, &m.name, &m.value);
            has.insert(m.name.as_str());
        } else if let Ok(i) = out.binary_search_by(|(k, _)| k.cmp(&m.name)) {
            out.remove(i);
        }
    }
    out
}

/// A float function applied to each sample; the result drops `__name__`, and a step with
/// two equal label sets is an error.
fn map_dropping_name(
    v: Steps,
    mut op: impl FnMut(usize, f64) -> Option<f64>,
) -> Result<Val, EvalError> {
    let mut names = MetricMap::default();
    let mut out: Steps = Vec::with_capacity(v.len());
    for (i, step) in v.into_iter().enumerate() {
        let mut o = Vec::with_capacity(step.len());
        for s in step {
            if let Some(f) = op(i, s.f) {
                o.push(Sample {
                    metric: names.get(&s.metric, drop_metadata),
                    f,
                });
            }
        }
        check_duplicates(&o)?;
        out.push(o);
    }
    Ok(Val::Vector(out))
}

/// `label_replace`/`label_join`: new labels per series, values unchanged.
fn relabel(v: Steps, derive: impl Fn(&Labels) -> Labels) -> Result<Val, EvalError> {
    let mut names = MetricMap::default();
    let out: Steps = v
        .into_iter()
        .map(|step| {
            step.into_iter()
                .map(|s| Sample {
                    metric: names.get(&s.metric, &derive),
                    f: s.f,
                })
                .collect()
        })
        .collect();
    check_all_duplicates(&out)?;
    Ok(Val::Vector(out))
}

/// Aggregation state of one group at one step (`groupedAggregation`).
struct Acc {
    f: f64,
    mean: f64,
    c: f64,
    count: f64,
    incremental: bool,
    values: Vec<f64>,
}

/// `sum`, `avg`, `min`, `max`, `count`, `group`, `stddev`, `stdvar`, `quantile`
/// (Prometheus' `aggregation`, including Kahan summation and its overflow fallback).
fn aggregate<F: Fn(&Labels) -> Labels>(
    op: TokenId,
    param: Option<&[f64]>,
    input: Steps,
    mut groups: Ordinals<F>,
) -> Steps {
    let mut out: Steps = Vec::with_capacity(input.len());
    for (i, step) in input.into_iter().enumerate() {
        let mut accs: HashMap<usize, Acc> = HashMap::new();
        for s in &step {
            let g = groups.of(&s.metric);
            let v = s.f;
            let Some(acc) = accs.get_mut(&g) else {
                let mut acc = Acc {
                    f: v,
                    mean: v,
                    c: 0.0,
                    count: 1.0,
                    incremental: false,
                    values: Vec::new(),
                };
                match op {
                    T_STDDEV | T_STDVAR => {
                        acc.f = if v.is_nan() || v.is_infinite() {
                            f64::NAN
                        } else {
                            0.0
                        }
                    }
                    T_QUANTILE => acc.values.push(v),
                    T_GROUP => acc.f = 1.0,
                    _ => {}
                }
                accs.insert(g, acc);
                continue;
            };
            match op {
                T_SUM => (acc.f, acc.c) = f::kahan_sum_inc(v, acc.f, acc.c),
                T_AVG => {
                    acc.count += 1.0;
                    if !acc.incremental {
                        let (nv, nc) = f::kahan_sum_inc(v, acc.f, acc.c);
                        if !nv.is_infinite() {
                            (acc.f, acc.c) = (nv, nc);
                            continue;
                        }
                        acc.incremental = true;
                        acc.mean = acc.f / (acc.count - 1.0);
                        acc.c /= acc.count - 1.0;
                    }
                    let q = (acc.count - 1.0) / acc.count;
                    (acc.mean, acc.c) = f::kahan_sum_inc(v / acc.count, q * acc.mean, q * acc.c);
                }
                T_MAX if acc.f < v || acc.f.is_nan() => acc.f = v,
                T_MIN if acc.f > v || acc.f.is_nan() => acc.f = v,
                T_COUNT => acc.count += 1.0,
                T_STDDEV | T_STDVAR => {
                    acc.count += 1.0;
                    let delta = v - acc.mean;
                    acc.mean += delta / acc.count;
                    acc.f += delta * (v - acc.mean);
                }
                T_QUANTILE => acc.values.push(v),
                _ => {} // group, or min/max keeping their value
            }
        }
        let mut order: Vec<usize> = accs.keys().copied().collect();
        order.sort_unstable();
        let mut o = Vec::with_capacity(order.len());
        for g in order {
            let acc = accs.remove(&g).expect("key from the map");
            let f = match op {
                T_AVG if acc.incremental => acc.mean + acc.c,
                T_AVG => acc.f / acc.count + acc.c / acc.count,
                T_COUNT => acc.count,
                T_STDVAR => acc.f / acc.count,
                T_STDDEV => (acc.f / acc.count).sqrt(),
                T_QUANTILE => f::quantile(param.map_or(f64::NAN, |p| p[i]), acc.values),
                T_SUM => acc.f + acc.c,
                _ => acc.f,
            };
            o.push(Sample {
                metric: groups.keys[g].clone(),
                f,
            });
        }
        out.push(o);
    }
    out
}

/// Vector/scalar operators (`VectorscalarBinop`); `swap` when the scalar is on the left.
fn vector_scalar(
    op: TokenId,
    v: Steps,
    s: &[f64],
    swap: bool,
    return_bool: bool,
) -> Result<Steps, EvalError> {
    let mut names = MetricMap::default();
    let drop = changes_metric_schema(op) || return_bool;
    let mut out: Steps = Vec::with_capacity(v.len());
    for (i, step) in v.into_iter().enumerate() {
        let mut o = Vec::with_capacity(step.len());
        for smp in step {
            let (lf, rf) = if swap { (s[i], smp.f) } else { (smp.f, s[i]) };
            let (mut value, mut keep) = elem_binop(op, lf, rf);
            // A comparison keeps the vector's value even when the vector is on the right.
            if is_comparison(op) && swap {
                value = rf;
            }
            if return_bool {
                value = btos(keep);
                keep = true;
            }
            if keep {
                let metric = if drop {
                    names.get(&smp.metric, drop_metadata)
                } else {
                    smp.metric
                };
                o.push(Sample { metric, f: value });
            }
        }
        check_duplicates(&o)?;
        out.push(o);
    }
    Ok(out)
}

/// Vector/vector operators: set operators and one-to-one / many-to-one matching
/// (`VectorAnd`, `VectorOr`, `VectorUnless`, `VectorBinop`).
fn vector_vector(op: TokenId, lhs: Steps, rhs: Steps, m: &BinModifier) -> Result<Steps, EvalError> {
    let on = matches!(m.matching, Some(LabelModifier::Include(_)));
    let names: Vec<String> = m
        .matching
        .as_ref()
        .map(|l| l.labels().labels.clone())
        .unwrap_or_default();
    let sig_names = names.clone();
    let mut sigs = Ordinals::new(move |l: &Labels| -> Labels {
        if on {
            l.iter()
                .filter(|(k, _)| sig_names.contains(k))
                .cloned()
                .collect()
        } else {
            l.iter()
                .filter(|(k, _)| k != METRIC_NAME && !sig_names.contains(k))
                .cloned()
                .collect()
        }
    });
    let set_op = matches!(op, T_LAND | T_LOR | T_LUNLESS);
    let (card, include): (u8, Vec<String>) = match &m.card {
        _ if set_op => (0, Vec::new()),
        VectorMatchCardinality::OneToOne => (1, Vec::new()),
        VectorMatchCardinality::ManyToOne(l) => (2, l.labels.clone()),
        VectorMatchCardinality::OneToMany(l) => (3, l.labels.clone()),
        VectorMatchCardinality::ManyToMany => {
            return Err(EvalError::BadData(
                "many-to-many only allowed for set operators".into(),
            ));
        }
    };
    let mut results: HashMap<(*const Labels, *const Labels), (Metric, Metric, Metric)> =
        HashMap::new();
    let mut out: Steps = Vec::with_capacity(lhs.len());
    for (l, r) in lhs.into_iter().zip(rhs) {
        let o = match op {
            T_LAND | T_LUNLESS => {
                let keep_present = op == T_LAND;
                if l.is_empty() || r.is_empty() {
                    if keep_present { Vec::new() } else { l }
                } else {
                    let right: HashSet<usize> = r.iter().map(|s| sigs.of(&s.metric)).collect();
                    l.into_iter()
                        .filter(|s| right.contains(&sigs.of(&s.metric)) == keep_present)
                        .collect()
                }
            }
            T_LOR => {
                if l.is_empty() {
                    r
                } else if r.is_empty() {
                    l
                } else {
                    let left: HashSet<usize> = l.iter().map(|s| sigs.of(&s.metric)).collect();
                    let mut o = l;
                    o.extend(
                        r.into_iter()
                            .filter(|s| !left.contains(&sigs.of(&s.metric))),
                    );
                    o
                }
            }
            _ => {
                let mut ctx = BinopCtx {
                    op,
                    return_bool: m.return_bool,
                    on,
                    names: &names,
                    card,
                    include: &include,
                };
                ctx.step(l, r, &mut sigs, &mut results)?
            }
        };
        check_duplicates(&o)?;
        out.push(o);
    }
    Ok(out)
}

struct BinopCtx<'n> {
    op: TokenId,
    return_bool: bool,
    on: bool,
    names: &'n [String],
    /// 1 one-to-one, 2 many-to-one (group_left), 3 one-to-many (group_right).
    card: u8,
    include: &'n [String],
}

impl BinopCtx<'_> {
    fn step<F: Fn(&Labels) -> Labels>(
        &mut self,
        lhs: Vec<Sample>,
        rhs: Vec<Sample>,
        sigs: &mut Ordinals<F>,
        results: &mut HashMap<(*const Labels, *const Labels), (Metric, Metric, Metric)>,
    ) -> Result<Vec<Sample>, EvalError> {
        if lhs.is_empty() || rhs.is_empty() {
            return Ok(Vec::new());
        }
        // For one-to-many, the sides swap so that the right is always the "one" side.
        let swapped = self.card == 3;
        let (lhs, rhs) = if swapped { (rhs, lhs) } else { (lhs, rhs) };
        let mut right: HashMap<usize, &Sample> = HashMap::with_capacity(rhs.len());
        for rs in &rhs {
            let sig = sigs.of(&rs.metric);
            if let Some(dup) = right.get(&sig) {
                let side = if swapped { "left" } else { "right" };
                return Err(exec(format!(
                    "found duplicate series for the match group {} on the {side} hand-side of the operation: [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
                    go_labels(&sigs.keys[sig]),
                    go_labels(&rs.metric),
                    go_labels(&dup.metric),
                )));
            }
            right.insert(sig, rs);
        }
        let mut matched: HashMap<usize, HashSet<Metric>> = HashMap::new();
        let mut out = Vec::new();
        for ls in &lhs {
            let sig = sigs.of(&ls.metric);
            let Some(rs) = right.get(&sig) else { continue };
            let (fl, fr) = if swapped { (rs.f, ls.f) } else { (ls.f, rs.f) };
            let (mut value, keep) = elem_binop(self.op, fl, fr);
            if self.return_bool {
                value = btos(keep);
            }
            let metric = results
                .entry((Rc::as_ptr(&ls.metric), Rc::as_ptr(&rs.metric)))
                .or_insert_with(|| {
                    let mut l = self.result_metric(&ls.metric, &rs.metric);
                    if self.return_bool {
                        l = drop_metadata(&l);
                    }
                    (ls.metric.clone(), rs.metric.clone(), Rc::new(l))
                })
                .2
                .clone();
            match matched.get_mut(&sig) {
                Some(_) if self.card == 1 => {
                    return Err(exec(
                        "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)",
                    ));
                }
                Some(seen) => {
                    if !seen.insert(metric.clone()) {
                        return Err(exec(
                            "multiple matches for labels: grouping labels must ensure unique matches",
                        ));
                    }
                }
                None => {
                    let mut seen = HashSet::new();
                    if self.card != 1 {
                        seen.insert(metric.clone());
                    }
                    matched.insert(sig, seen);
                }
            }
            if !keep && !self.return_bool {
                continue;
            }
            out.push(Sample { metric, f: value });
        }
        Ok(out)
    }

    /// `resultMetric`: the left side's labels, less the name for arithmetic, less (or only)
    /// the matching labels for one-to-one, plus `group_x` labels from the "one" side.
    fn result_metric(&self, l: &Labels, r: &Labels) -> Labels {
        let mut out: Labels = if changes_metric_schema(self.op) {
            drop_metadata(l)
        } else {
            l.clone()
        };
        if self.card == 1 {
            if self.on {
                out.retain(|(k, _)| self.names.contains(k));
            } else {
                out.retain(|(k, _)| !self.names.contains(k));
            }
        }
        for name in self.include {
            set_label(&mut out, name, label_value(r, name));
        }
        out
    }
}

/// `histogram_quantile` over classic buckets: series grouped by all labels except `le`
/// (the name included, dropped from the result), buckets with an unparsable `le` skipped.
fn histogram_quantile(q: &[f64], v: Steps) -> Result<Steps, EvalError> {
    let mut groups = Ordinals::new(|l: &Labels| -> Labels {
        l.iter().filter(|(k, _)| k != "le").cloned().collect()
    });
    let mut out_names = MetricMap::default();
    let mut upper_bounds: HashMap<*const Labels, (Metric, Option<f64>)> = HashMap::new();
    let mut out: Steps = Vec::with_capacity(v.len());
    for (i, step) in v.into_iter().enumerate() {
        let mut buckets: HashMap<usize, Vec<(f64, f64)>> = HashMap::new();
        let mut order = Vec::new();
        for s in &step {
            let ub = upper_bounds
                .entry(Rc::as_ptr(&s.metric))
                .or_insert_with(|| {
                    (
                        s.metric.clone(),
                        f::go_parse_float(label_value(&s.metric, "le")),
                    )
                })
                .1;
            let Some(ub) = ub else { continue };
            let g = groups.of(&s.metric);
            buckets
                .entry(g)
                .or_insert_with(|| {
                    order.push(g);
                    Vec::new()
                })
                .push((ub, s.f));
        }
        let mut o = Vec::with_capacity(order.len());
        for g in order {
            let mut b = buckets.remove(&g).expect("key from the map");
            let value = f::bucket_quantile(q[i], &mut b);
            let metric = out_names.get(&groups.keys[g], drop_metadata);
            o.push(Sample { metric, f: value });
        }
        check_duplicates(&o)?;
        out.push(o);
    }
    Ok(out)
}
