//! Unit tests of the evaluator, against values computed by hand (the arithmetic is in the
//! comments; where Go's order of floating-point operations matters, the expected value is
//! the one that order gives).

use serde_json::json;

use super::json::{format_value, timestamp};
use super::*;
use crate::amp::store::{Labels, SeriesData, Store};

/// An arbitrary base time (ms), far from zero so that windows never reach negative times.
const T0: i64 = 1_700_000_000_000;
const STALE: f64 = f64::from_bits(0x7ff0_0000_0000_0002);

fn labels(pairs: &[(&str, &str)]) -> Labels {
    let mut l: Labels = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    l.sort();
    l
}

type SeriesSpec<'a> = (&'a [(&'a str, &'a str)], &'a [(i64, f64)]);

/// A store from `(labels, [(offset from T0 in ms, value)])`.
fn store(series: &[SeriesSpec]) -> Store {
    let s = Store::new();
    for (l, samples) in series {
        let samples: Vec<(i64, f64)> = samples.iter().map(|&(t, v)| (T0 + t, v)).collect();
        s.append(labels(l), &samples, 0).unwrap();
    }
    s
}

fn instant(s: &Store, q: &str, t: i64) -> Value {
    eval_instant(q, T0 + t, s, &EvalOptions::default()).unwrap_or_else(|e| panic!("{q}: {e}"))
}

/// The instant vector of `q` at `T0 + t` as (labels, value) pairs, in result order.
fn vector(s: &Store, q: &str, t: i64) -> Vec<(Labels, f64)> {
    match instant(s, q, t) {
        Value::Vector(v) => v.into_iter().map(|x| (x.labels, x.value)).collect(),
        other => panic!("{q}: expected a vector, got {other:?}"),
    }
}

fn values(s: &Store, q: &str, t: i64) -> Vec<f64> {
    vector(s, q, t).into_iter().map(|(_, v)| v).collect()
}

/// The single value of `q` (a one-element vector or a scalar).
fn one(s: &Store, q: &str, t: i64) -> f64 {
    match instant(s, q, t) {
        Value::Scalar { value, .. } => value,
        Value::Vector(v) if v.len() == 1 => v[0].value,
        other => panic!("{q}: expected one value, got {other:?}"),
    }
}

fn error(s: &Store, q: &str, t: i64) -> EvalError {
    match eval_instant(q, T0 + t, s, &EvalOptions::default()) {
        Err(e) => e,
        Ok(v) => panic!("{q}: expected an error, got {v:?}"),
    }
}

fn is_bad_data(e: &EvalError) -> bool {
    matches!(e, EvalError::BadData(_))
}

// ------------------------------------------------------------------ selectors

fn matcher_store() -> Store {
    store(&[
        (
            &[("__name__", "up"), ("job", "a"), ("instance", "1")],
            &[(0, 1.0)],
        ),
        (
            &[("__name__", "up"), ("job", "b"), ("instance", "2")],
            &[(0, 2.0)],
        ),
        (&[("__name__", "up"), ("job", "c")], &[(0, 3.0)]),
        (&[("__name__", "up"), ("job", "xa")], &[(0, 4.0)]),
        (&[("__name__", "other"), ("job", "a")], &[(0, 5.0)]),
    ])
}

#[test]
fn equality_matcher() {
    let s = matcher_store();
    assert_eq!(
        vector(&s, r#"up{job="a"}"#, 0),
        vec![(
            labels(&[("__name__", "up"), ("instance", "1"), ("job", "a")]),
            1.0
        )]
    );
}

#[test]
fn inequality_matcher() {
    let s = matcher_store();
    assert_eq!(values(&s, r#"up{job!="a"}"#, 0), vec![2.0, 3.0, 4.0]);
}

#[test]
fn regex_matcher_is_fully_anchored() {
    let s = matcher_store();
    assert_eq!(values(&s, r#"up{job=~"a|b"}"#, 0), vec![1.0, 2.0]);
    // "a" does not match "xa": the regex is anchored at both ends.
    assert_eq!(values(&s, r#"up{job=~"a"}"#, 0), vec![1.0]);
    assert_eq!(values(&s, r#"up{job=~".*a"}"#, 0), vec![1.0, 4.0]);
}

#[test]
fn negative_regex_matcher() {
    let s = matcher_store();
    assert_eq!(values(&s, r#"up{job!~"a|b"}"#, 0), vec![3.0, 4.0]);
}

#[test]
fn metric_name_through_name_label_and_empty_matcher() {
    let s = matcher_store();
    assert_eq!(values(&s, r#"{__name__="up", job="a"}"#, 0), vec![1.0]);
    // Sorted by labels: `other` before `up`.
    assert_eq!(
        values(&s, r#"{__name__=~"up|other", job="a"}"#, 0),
        vec![5.0, 1.0]
    );
    // A missing label matches the empty string.
    assert_eq!(values(&s, r#"up{instance=""}"#, 0), vec![3.0, 4.0]);
}

#[test]
fn lookback_window_is_left_open() {
    let s = store(&[(&[("__name__", "x")], &[(0, 7.0)])]);
    // (t - 5m, t]: the sample at T0 is visible until T0 + 5m - 1ms, not at T0 + 5m.
    assert_eq!(values(&s, "x", 0), vec![7.0]);
    assert_eq!(values(&s, "x", 299_999), vec![7.0]);
    assert_eq!(values(&s, "x", 300_000), Vec::<f64>::new());
    assert_eq!(values(&s, "x", -1), Vec::<f64>::new());
    // A custom lookback.
    let opts = EvalOptions {
        lookback_ms: 60_000,
        ..EvalOptions::default()
    };
    let v = eval_instant("x", T0 + 60_000, &s, &opts).unwrap();
    assert_eq!(v, Value::Vector(vec![]));
}

#[test]
fn stale_marker_as_latest_sample_hides_the_series() {
    let s = store(&[(
        &[("__name__", "x")],
        &[(0, 1.0), (10_000, STALE), (30_000, 3.0)],
    )]);
    assert_eq!(values(&s, "x", 5_000), vec![1.0]);
    assert_eq!(values(&s, "x", 10_000), Vec::<f64>::new());
    assert_eq!(values(&s, "x", 20_000), Vec::<f64>::new());
    assert_eq!(values(&s, "x", 30_000), vec![3.0]);
    // Range functions skip the marker: samples 1 and 3 in (T0+30s-1m, T0+30s].
    assert_eq!(one(&s, "count_over_time(x[1m])", 30_000), 2.0);
}

#[test]
fn positive_and_negative_offset() {
    let s = store(&[(&[("__name__", "x")], &[(0, 1.0), (60_000, 2.0)])]);
    // At T0+60s, `offset 1m` looks at T0: 1. `offset -1m` at T0 looks at T0+60s: 2.
    assert_eq!(
        vector(&s, "x offset 1m", 60_000),
        vec![(labels(&[("__name__", "x")]), 1.0)]
    );
    assert_eq!(values(&s, "x offset -1m", 0), vec![2.0]);
    // Range selectors too: (T0+60s-1m-1m, T0+60s-1m] holds only the sample at T0.
    assert_eq!(one(&s, "count_over_time(x[1m] offset 1m)", 60_000), 1.0);
}

#[test]
fn at_modifier_pins_the_evaluation_time() {
    let s = store(&[(&[("__name__", "x")], &[(0, 1.0), (60_000, 2.0)])]);
    let q = format!("x @ {}", T0 / 1000);
    assert_eq!(values(&s, &q, 60_000), vec![1.0]);
}

#[test]
fn bare_range_selector_returns_raw_samples() {
    let s = store(&[(
        &[("__name__", "x")],
        &[(0, 1.0), (30_000, 2.0), (60_000, 3.0)],
    )]);
    // (T0+60s-1m, T0+60s] excludes the sample at T0.
    let v = instant(&s, "x[1m]", 60_000);
    assert_eq!(
        v,
        Value::Matrix(vec![SeriesData {
            labels: labels(&[("__name__", "x")]),
            samples: vec![(T0 + 30_000, 2.0), (T0 + 60_000, 3.0)],
        }])
    );
}

// ------------------------------------------------------------------ rate & co

/// A counter scraped every 15s: 10, 20, 30, 40 at T0+15s … T0+60s.
fn counter(samples: &[(i64, f64)]) -> Store {
    store(&[(&[("__name__", "c_total"), ("job", "j")], samples)])
}

#[test]
fn increase_and_rate_extrapolate_to_the_window_start() {
    let s = counter(&[
        (15_000, 10.0),
        (30_000, 20.0),
        (45_000, 30.0),
        (60_000, 40.0),
    ]);
    // Window (T0, T0+60s]. result = 40 - 10 = 30; sampled interval 45s, average 15s,
    // threshold 16.5s. To start: 15s < 16.5s, extrapolate all the way; zero point
    // 45 * 10/30 = 15s, not shorter. To end: 0. factor = (45 + 15 + 0) / 45.
    // increase = 30 * 60/45 = 40; rate = 40 / 60.
    assert_eq!(one(&s, "increase(c_total[1m])", 60_000), 40.0);
    assert_eq!(one(&s, "rate(c_total[1m])", 60_000), 0.6666666666666666);
    // The name is dropped, the other labels kept.
    assert_eq!(
        vector(&s, "rate(c_total[1m])", 60_000)[0].0,
        labels(&[("job", "j")])
    );
    // delta is the same arithmetic without the counter rules: 40.
    assert_eq!(one(&s, "delta(c_total[1m])", 60_000), 40.0);
}

#[test]
fn increase_extrapolates_half_an_interval_when_the_series_starts_late() {
    let s = counter(&[(40_000, 5.0), (50_000, 10.0), (60_000, 15.0)]);
    // result 10; sampled 20s, average 10s, threshold 11s. To start 40s >= 11s, so only
    // 10/2 = 5s; zero point 20 * 5/10 = 10s is not shorter. factor = (20 + 5) / 20 = 1.25.
    // increase = 12.5; rate = 10 * (1.25 / 60) = 0.20833333333333331 (Go's order).
    assert_eq!(one(&s, "increase(c_total[1m])", 60_000), 12.5);
    assert_eq!(one(&s, "rate(c_total[1m])", 60_000), 0.20833333333333331);
}

#[test]
fn increase_stops_extrapolating_at_the_counter_zero_point() {
    let s = counter(&[
        (15_000, 1.0),
        (30_000, 11.0),
        (45_000, 21.0),
        (60_000, 31.0),
    ]);
    // result 30; to start 15s (< 16.5s), but the zero point is 45 * 1/30 = 1.5s before the
    // first sample: factor = (45 + 1.5) / 45; 30 * factor = 31.000000000000004.
    assert_eq!(one(&s, "increase(c_total[1m])", 60_000), 31.000000000000004);
}

#[test]
fn increase_handles_a_counter_reset() {
    let s = counter(&[
        (15_000, 10.0),
        (30_000, 20.0),
        (45_000, 5.0),
        (60_000, 15.0),
    ]);
    // result = 15 - 10 + 20 (the reset from 20 to 5) = 25; zero point 45 * 10/25 = 18s is
    // not shorter than 15s. increase = 25 * 60/45 = 33.33333333333333, rate = 25*(60/45/60).
    assert_eq!(one(&s, "increase(c_total[1m])", 60_000), 33.33333333333333);
    assert_eq!(one(&s, "rate(c_total[1m])", 60_000), 0.5555555555555555);
}

#[test]
fn rate_needs_two_samples() {
    let s = counter(&[(60_000, 10.0)]);
    assert_eq!(values(&s, "rate(c_total[1m])", 60_000), Vec::<f64>::new());
}

#[test]
fn irate_and_idelta_use_the_last_two_samples() {
    let s = counter(&[
        (15_000, 10.0),
        (30_000, 20.0),
        (45_000, 30.0),
        (60_000, 40.0),
    ]);
    // (40 - 30) / 15s.
    assert_eq!(one(&s, "irate(c_total[1m])", 60_000), 0.6666666666666666);
    assert_eq!(one(&s, "idelta(c_total[1m])", 60_000), 10.0);
    // After a reset irate takes the new value as the increase: 5 / 15s.
    let s = counter(&[(45_000, 30.0), (60_000, 5.0)]);
    assert_eq!(one(&s, "irate(c_total[1m])", 60_000), 0.3333333333333333);
    assert_eq!(one(&s, "idelta(c_total[1m])", 60_000), -25.0);
}

#[test]
fn over_time_functions() {
    let s = store(&[(
        &[("__name__", "g"), ("k", "v")],
        &[(10_000, 1.0), (20_000, 5.0), (30_000, 3.0)],
    )]);
    let t = 30_000;
    assert_eq!(one(&s, "avg_over_time(g[1m])", t), 3.0); // 9 / 3
    assert_eq!(one(&s, "sum_over_time(g[1m])", t), 9.0);
    assert_eq!(one(&s, "min_over_time(g[1m])", t), 1.0);
    assert_eq!(one(&s, "max_over_time(g[1m])", t), 5.0);
    assert_eq!(one(&s, "count_over_time(g[1m])", t), 3.0);
    assert_eq!(one(&s, "last_over_time(g[1m])", t), 3.0);
    assert_eq!(one(&s, "present_over_time(g[1m])", t), 1.0);
    // Population variance: mean 3, ((1-3)² + (5-3)² + 0) / 3 = 8/3.
    assert_eq!(one(&s, "stdvar_over_time(g[1m])", t), 2.6666666666666665);
    assert_eq!(one(&s, "stddev_over_time(g[1m])", t), 1.632993161855452);
    // Sorted 1, 3, 5: rank 0.5 * 2 = 1 → 3.
    assert_eq!(one(&s, "quantile_over_time(0.5, g[1m])", t), 3.0);
    assert_eq!(one(&s, "changes(g[1m])", t), 2.0);
    assert_eq!(one(&s, "resets(g[1m])", t), 1.0); // 5 → 3
    // Only the window (T0+30s-10s, T0+30s] counts: the sample at T0+20s is on the open
    // left edge, so one sample; with 15s both T0+20s and T0+30s.
    assert_eq!(one(&s, "count_over_time(g[10s])", t), 1.0);
    assert_eq!(one(&s, "count_over_time(g[15s])", t), 2.0);
    // last_over_time keeps the name, the others drop it.
    assert_eq!(
        vector(&s, "last_over_time(g[1m])", t)[0].0,
        labels(&[("__name__", "g"), ("k", "v")])
    );
    assert_eq!(
        vector(&s, "max_over_time(g[1m])", t)[0].0,
        labels(&[("k", "v")])
    );
    // absent_over_time: present → nothing; absent → 1 with the equality labels.
    assert_eq!(values(&s, "absent_over_time(g[1m])", t), Vec::<f64>::new());
    assert_eq!(
        vector(&s, r#"absent_over_time(nope{job="a", x=~"y"}[1m])"#, t),
        vec![(labels(&[("job", "a")]), 1.0)]
    );
}

// ------------------------------------------------------------------ aggregations

fn http_store() -> Store {
    store(&[
        (
            &[("__name__", "http"), ("job", "a"), ("inst", "1")],
            &[(0, 1.0)],
        ),
        (
            &[("__name__", "http"), ("job", "a"), ("inst", "2")],
            &[(0, 3.0)],
        ),
        (
            &[("__name__", "http"), ("job", "b"), ("inst", "3")],
            &[(0, 10.0)],
        ),
    ])
}

#[test]
fn sum_by_and_without() {
    let s = http_store();
    assert_eq!(vector(&s, "sum(http)", 0), vec![(labels(&[]), 14.0)]);
    let by_job = vec![
        (labels(&[("job", "a")]), 4.0),
        (labels(&[("job", "b")]), 10.0),
    ];
    assert_eq!(vector(&s, "sum by (job) (http)", 0), by_job);
    assert_eq!(vector(&s, "sum(http) by (job)", 0), by_job);
    // `without` drops the listed labels and the name.
    assert_eq!(vector(&s, "sum without (inst) (http)", 0), by_job);
    assert_eq!(
        vector(&s, "sum without (job, inst) (http)", 0),
        vec![(labels(&[]), 14.0)]
    );
}

#[test]
fn avg_min_max_count_group() {
    let s = http_store();
    assert_eq!(values(&s, "avg by (job) (http)", 0), vec![2.0, 10.0]); // (1+3)/2, 10
    assert_eq!(values(&s, "min by (job) (http)", 0), vec![1.0, 10.0]);
    assert_eq!(values(&s, "max by (job) (http)", 0), vec![3.0, 10.0]);
    assert_eq!(values(&s, "count by (job) (http)", 0), vec![2.0, 1.0]);
    assert_eq!(values(&s, "count without (inst) (http)", 0), vec![2.0, 1.0]);
    assert_eq!(values(&s, "group by (job) (http)", 0), vec![1.0, 1.0]);
    assert_eq!(one(&s, "avg(http)", 0), 14.0 / 3.0);
    // The same groups through `without`.
    assert_eq!(
        vector(&s, "avg without (inst) (http)", 0),
        vec![
            (labels(&[("job", "a")]), 2.0),
            (labels(&[("job", "b")]), 10.0)
        ]
    );
    assert_eq!(values(&s, "min without (inst) (http)", 0), vec![1.0, 10.0]);
    assert_eq!(values(&s, "max without (inst) (http)", 0), vec![3.0, 10.0]);
    // `by` on a label some series lack: those form the group without it.
    assert_eq!(
        vector(&s, "max by (nope) (http)", 0),
        vec![(labels(&[]), 10.0)]
    );
    // `by (__name__)` keeps the name.
    assert_eq!(
        vector(&s, "count by (__name__) (http)", 0),
        vec![(labels(&[("__name__", "http")]), 3.0)]
    );
}

#[test]
fn stddev_topk_bottomk_quantile() {
    let s = http_store();
    // Welford over 1, 3, 10 (population): variance 14.888888888888891.
    assert_eq!(one(&s, "stdvar(http)", 0), 14.888888888888891);
    assert_eq!(one(&s, "stddev(http)", 0), 3.8586123009300755);
    // topk keeps the series' own labels, name included.
    assert_eq!(
        vector(&s, "topk(1, http)", 0),
        vec![(
            labels(&[("__name__", "http"), ("inst", "3"), ("job", "b")]),
            10.0
        )]
    );
    assert_eq!(values(&s, "topk(2, http)", 0), vec![10.0, 3.0]);
    assert_eq!(values(&s, "bottomk(2, http)", 0), vec![1.0, 3.0]);
    assert_eq!(values(&s, "topk by (job) (1, http)", 0), vec![3.0, 10.0]);
    assert_eq!(values(&s, "topk(0, http)", 0), Vec::<f64>::new());
    // Sorted 1, 3, 10; rank 0.5 * 2 = 1 → 3; rank 0.75 * 2 = 1.5 → 3 + 0.5 * 7 = 6.5.
    assert_eq!(one(&s, "quantile(0.5, http)", 0), 3.0);
    assert_eq!(one(&s, "quantile(0.75, http)", 0), 6.5);
}

// ------------------------------------------------------------------ binary operators

#[test]
fn scalar_arithmetic_and_comparisons() {
    let s = Store::new();
    assert_eq!(one(&s, "1 + 2 * 3", 0), 7.0);
    assert_eq!(one(&s, "(1 + 2) * 3", 0), 9.0);
    assert_eq!(one(&s, "2 ^ 3 ^ 2", 0), 512.0); // right-associative: 2^9
    assert_eq!(one(&s, "10 % 3", 0), 1.0);
    assert_eq!(one(&s, "-(3 - 5)", 0), 2.0);
    assert!(one(&s, "0 / 0", 0).is_nan());
    assert_eq!(one(&s, "1 / 0", 0), f64::INFINITY);
    assert_eq!(one(&s, "1 < bool 2", 0), 1.0);
    assert_eq!(one(&s, "1 > bool 2", 0), 0.0);
    assert_eq!(one(&s, "2 == bool 2", 0), 1.0);
    // Comparisons between scalars need `bool` (a parse-time type error).
    assert!(is_bad_data(&error(&s, "1 < 2", 0)));
    assert!(
        matches!(instant(&s, "2", 0), Value::Scalar { t_ms, value } if t_ms == T0 && value == 2.0)
    );
}

#[test]
fn vector_scalar_operators() {
    let s = http_store();
    // Filtering keeps the name and the sample's value.
    assert_eq!(
        vector(&s, "http > 2", 0),
        vec![
            (
                labels(&[("__name__", "http"), ("inst", "2"), ("job", "a")]),
                3.0
            ),
            (
                labels(&[("__name__", "http"), ("inst", "3"), ("job", "b")]),
                10.0
            ),
        ]
    );
    // With the scalar on the left the vector's value is kept too.
    assert_eq!(values(&s, "2 < http", 0), vec![3.0, 10.0]);
    // `bool` returns 0/1 for every sample and drops the name.
    assert_eq!(
        vector(&s, "http > bool 2", 0),
        vec![
            (labels(&[("inst", "1"), ("job", "a")]), 0.0),
            (labels(&[("inst", "2"), ("job", "a")]), 1.0),
            (labels(&[("inst", "3"), ("job", "b")]), 1.0),
        ]
    );
    // Arithmetic drops the name.
    assert_eq!(
        vector(&s, "http * 2", 0)[0],
        (labels(&[("inst", "1"), ("job", "a")]), 2.0)
    );
    assert_eq!(values(&s, "10 - http", 0), vec![9.0, 7.0, 0.0]);
    assert_eq!(values(&s, "-http", 0), vec![-1.0, -3.0, -10.0]);
}

fn ab_store() -> Store {
    store(&[
        (&[("__name__", "a"), ("job", "x"), ("i", "1")], &[(0, 10.0)]),
        (&[("__name__", "a"), ("job", "x"), ("i", "2")], &[(0, 20.0)]),
        (&[("__name__", "b"), ("job", "x"), ("i", "1")], &[(0, 2.0)]),
        (&[("__name__", "b"), ("job", "x"), ("i", "2")], &[(0, 4.0)]),
        (&[("__name__", "b"), ("job", "x"), ("i", "3")], &[(0, 9.0)]),
        (&[("__name__", "c"), ("job", "x")], &[(0, 5.0)]),
    ])
}

#[test]
fn vector_vector_one_to_one_matching() {
    let s = ab_store();
    let i1 = labels(&[("i", "1"), ("job", "x")]);
    let i2 = labels(&[("i", "2"), ("job", "x")]);
    // Matched on all labels but the name: 10/2, 20/4; b{i="3"} has no partner.
    assert_eq!(
        vector(&s, "a / b", 0),
        vec![(i1.clone(), 5.0), (i2.clone(), 5.0)]
    );
    // A comparison filter keeps the left side's labels, name included.
    assert_eq!(
        vector(&s, "a > b", 0),
        vec![
            (labels(&[("__name__", "a"), ("i", "1"), ("job", "x")]), 10.0),
            (labels(&[("__name__", "a"), ("i", "2"), ("job", "x")]), 20.0),
        ]
    );
    assert_eq!(values(&s, "a < bool b", 0), vec![0.0, 0.0]);
    // on(i): the result keeps only `i`.
    assert_eq!(
        vector(&s, "a - on(i) b", 0),
        vec![(labels(&[("i", "1")]), 8.0), (labels(&[("i", "2")]), 16.0)]
    );
    // ignoring(i) against `c`: both `a` series match the one `c` → error without group_left.
    let e = error(&s, "a + ignoring(i) c", 0);
    assert_eq!(
        e,
        EvalError::Execution(
            "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)".into()
        )
    );
    // group_left: 10/5, 20/5, labels of the "many" side.
    assert_eq!(
        vector(&s, "a / on(job) group_left c", 0),
        vec![(i1, 2.0), (i2, 4.0)]
    );
    // Duplicates on the "one" side.
    assert!(
        matches!(error(&s, "c + on(job) group_left b", 0), EvalError::Execution(m) if m.starts_with("found duplicate series for the match group {job=\"x\"} on the right hand-side"))
    );
}

#[test]
fn group_left_and_group_right() {
    let s = ab_store();
    s.append(
        labels(&[("__name__", "d"), ("job", "x"), ("extra", "e")]),
        &[(T0, 2.0)],
        0,
    )
    .unwrap();
    // group_right: the right side is the "many" side; its labels, the name dropped.
    assert_eq!(
        vector(&s, "c * on(job) group_right b", 0),
        vec![
            (labels(&[("i", "1"), ("job", "x")]), 10.0),
            (labels(&[("i", "2"), ("job", "x")]), 20.0),
            (labels(&[("i", "3"), ("job", "x")]), 45.0),
        ]
    );
    // A filtering comparison with group_right keeps the "many" side's labels (name
    // included) but, as in Prometheus, the left operand's value: 5 > 2, 5 > 4, not 5 > 9.
    assert_eq!(
        vector(&s, "c > on(job) group_right b", 0),
        vec![
            (labels(&[("__name__", "b"), ("i", "1"), ("job", "x")]), 5.0),
            (labels(&[("__name__", "b"), ("i", "2"), ("job", "x")]), 5.0),
        ]
    );
    // group_left(extra) copies `extra` from the "one" side: 10*2, 20*2.
    assert_eq!(
        vector(&s, "a * on(job) group_left(extra) d", 0),
        vec![
            (labels(&[("extra", "e"), ("i", "1"), ("job", "x")]), 20.0),
            (labels(&[("extra", "e"), ("i", "2"), ("job", "x")]), 40.0),
        ]
    );
}

#[test]
fn set_operators() {
    let s = ab_store();
    assert_eq!(values(&s, "a and b", 0), vec![10.0, 20.0]);
    assert_eq!(values(&s, r#"a and b{i="1"}"#, 0), vec![10.0]);
    assert_eq!(values(&s, r#"a unless b{i="1"}"#, 0), vec![20.0]);
    // `or` adds the right side's series whose labels (without the name) are new.
    assert_eq!(values(&s, "a or b", 0), vec![10.0, 20.0, 9.0]);
    assert_eq!(values(&s, "a and on(job) c", 0), vec![10.0, 20.0]);
}

#[test]
fn duplicate_output_labelsets_are_an_execution_error() {
    let s = store(&[
        (
            &[("__name__", "a_total"), ("job", "x")],
            &[(0, 1.0), (15_000, 2.0)],
        ),
        (
            &[("__name__", "b_total"), ("job", "x")],
            &[(0, 1.0), (15_000, 2.0)],
        ),
    ]);
    let dup = EvalError::Execution("vector cannot contain metrics with the same labelset".into());
    assert_eq!(
        error(&s, r#"rate({__name__=~"a_total|b_total"}[1m])"#, 15_000),
        dup
    );
    assert_eq!(
        error(&s, r#"{__name__=~"a_total|b_total"} * 2"#, 15_000),
        dup
    );
    assert_eq!(
        error(&s, r#"abs({__name__=~"a_total|b_total"})"#, 15_000),
        dup
    );
    // A comparison keeps the names, so nothing collides.
    assert_eq!(
        values(&s, r#"{__name__=~"a_total|b_total"} > 0"#, 15_000),
        vec![2.0, 2.0]
    );
}

// ------------------------------------------------------------------ functions

#[test]
fn simple_functions() {
    let s = store(&[(&[("__name__", "g")], &[(0, -2.5)])]);
    assert_eq!(one(&s, "abs(g)", 0), 2.5);
    assert_eq!(one(&s, "ceil(g)", 0), -2.0);
    assert_eq!(one(&s, "floor(g)", 0), -3.0);
    assert_eq!(one(&s, "round(g)", 0), -2.0); // ties round up: floor(-2.5 + 0.5)
    assert_eq!(one(&s, "round(g, 2)", 0), -2.0); // floor(-1.25 + 0.5) / 0.5 = -1 / 0.5
    assert_eq!(one(&s, "clamp(g, -1, 1)", 0), -1.0);
    assert_eq!(one(&s, "clamp_min(g, 0)", 0), 0.0);
    assert_eq!(one(&s, "clamp_max(g, -3)", 0), -3.0);
    assert_eq!(values(&s, "clamp(g, 1, 0)", 0), Vec::<f64>::new()); // max < min: nothing
    assert_eq!(one(&s, "sgn(g)", 0), -1.0);
    assert_eq!(one(&s, "scalar(g)", 0), -2.5);
    assert!(one(&s, "scalar(nope)", 0).is_nan());
    assert_eq!(vector(&s, "vector(3)", 0), vec![(labels(&[]), 3.0)]);
    assert_eq!(one(&s, "time()", 1_500), (T0 + 1_500) as f64 / 1000.0);
    assert_eq!(one(&s, "timestamp(g)", 1_500), T0 as f64 / 1000.0);
    assert_eq!(vector(&s, "abs(g)", 0)[0].0, labels(&[]));
}

#[test]
fn absent_and_label_functions() {
    let s = store(&[(
        &[("__name__", "up"), ("instance", "host:9090")],
        &[(0, 1.0)],
    )]);
    assert_eq!(values(&s, "absent(up)", 0), Vec::<f64>::new());
    assert_eq!(
        vector(&s, r#"absent(nope{job="a", env=~"p.*"})"#, 0),
        vec![(labels(&[("job", "a")]), 1.0)]
    );
    assert_eq!(
        vector(
            &s,
            r#"label_replace(up, "host", "$1", "instance", "(.*):.*")"#,
            0
        ),
        vec![(
            labels(&[
                ("__name__", "up"),
                ("host", "host"),
                ("instance", "host:9090")
            ]),
            1.0
        )]
    );
    // No match: unchanged.
    assert_eq!(
        vector(
            &s,
            r#"label_replace(up, "host", "$1", "instance", "nomatch")"#,
            0
        )[0]
        .0,
        labels(&[("__name__", "up"), ("instance", "host:9090")])
    );
    assert_eq!(
        vector(
            &s,
            r#"label_join(up, "both", "-", "__name__", "instance")"#,
            0
        )[0]
        .0,
        labels(&[
            ("__name__", "up"),
            ("both", "up-host:9090"),
            ("instance", "host:9090")
        ])
    );
}

// ------------------------------------------------------------------ histogram_quantile

fn buckets(pairs: &[(&str, f64)]) -> Store {
    let s = Store::new();
    for (le, count) in pairs {
        s.append(
            labels(&[("__name__", "h_bucket"), ("job", "j"), ("le", le)]),
            &[(T0, *count)],
            0,
        )
        .unwrap();
    }
    s
}

#[test]
fn histogram_quantile_interpolates_linearly() {
    let s = buckets(&[("0.1", 10.0), ("0.5", 20.0), ("1", 40.0), ("+Inf", 40.0)]);
    // q=0.5: rank 20 falls exactly on the 0.5 bucket's count: 0.1 + 0.4 * (10/10) = 0.5.
    assert_eq!(
        vector(&s, "histogram_quantile(0.5, h_bucket)", 0),
        vec![(labels(&[("job", "j")]), 0.5)]
    );
    // q=0.75: rank 30 in (0.5, 1] holding 20: 0.5 + 0.5 * (10/20) = 0.75.
    assert_eq!(one(&s, "histogram_quantile(0.75, h_bucket)", 0), 0.75);
    // q=0.1: rank 4 in the first bucket, lower bound 0: 0.1 * 4/10.
    assert_eq!(
        one(&s, "histogram_quantile(0.1, h_bucket)", 0),
        0.04000000000000001
    );
    assert_eq!(
        one(&s, "histogram_quantile(-1, h_bucket)", 0),
        f64::NEG_INFINITY
    );
    assert_eq!(one(&s, "histogram_quantile(2, h_bucket)", 0), f64::INFINITY);
}

#[test]
fn histogram_quantile_groups_by_labels_other_than_le() {
    let s = Store::new();
    for (job, counts) in [("a", [0.0, 10.0, 10.0]), ("b", [10.0, 10.0, 10.0])] {
        for (le, count) in ["1", "2", "+Inf"].iter().zip(counts) {
            let l = labels(&[("__name__", "h_bucket"), ("job", job), ("le", le)]);
            s.append(l, &[(T0, 0.0), (T0 + 60_000, count)], 0).unwrap();
        }
    }
    // Job a: all 10 observations in (1, 2]: rank 5 → 1 + 1 * 5/10 = 1.5. Job b: all in
    // (0, 1]: 0 + 1 * 5/10 = 0.5.
    assert_eq!(
        vector(&s, "histogram_quantile(0.5, h_bucket)", 60_000),
        vec![
            (labels(&[("job", "a")]), 1.5),
            (labels(&[("job", "b")]), 0.5)
        ]
    );
    // The usual dashboard form over rates; summed over jobs: counts 10, 20, 20 per le,
    // rank 10 falls on the first bucket's count: 0 + 1 * 10/10 = 1.
    assert_eq!(
        one(
            &s,
            "histogram_quantile(0.5, sum by (le) (rate(h_bucket[2m])))",
            60_000
        ),
        1.0
    );
}

#[test]
fn histogram_quantile_edge_cases() {
    // Rank in the +Inf bucket: the upper bound of the second-highest bucket.
    let s = buckets(&[("1", 10.0), ("+Inf", 20.0)]);
    assert_eq!(one(&s, "histogram_quantile(0.9, h_bucket)", 0), 1.0);
    // No +Inf bucket: NaN.
    let s = buckets(&[("1", 10.0), ("2", 20.0)]);
    assert!(one(&s, "histogram_quantile(0.5, h_bucket)", 0).is_nan());
    // No observations: NaN.
    let s = buckets(&[("1", 0.0), ("+Inf", 0.0)]);
    assert!(one(&s, "histogram_quantile(0.5, h_bucket)", 0).is_nan());
    // Non-monotonic counts are fixed up: 8 becomes 10, rank 5 → 0 + 1 * 5/10.
    let s = buckets(&[("1", 10.0), ("2", 8.0), ("+Inf", 10.0)]);
    assert_eq!(one(&s, "histogram_quantile(0.5, h_bucket)", 0), 0.5);
    // First bucket with a negative upper bound: its bound, no interpolation from 0.
    let s = buckets(&[("-1", 10.0), ("+Inf", 20.0)]);
    assert_eq!(one(&s, "histogram_quantile(0.25, h_bucket)", 0), -1.0);
}

// ------------------------------------------------------------------ subqueries

/// A gauge at T0 + 10s, 40s, 70s, 100s; those instants are multiples of 30s since the
/// epoch (T0 = 1700000000000 is 20s past a whole minute).
fn aligned_gauge() -> Store {
    store(&[(
        &[("__name__", "g"), ("k", "v")],
        &[(10_000, 1.0), (40_000, 5.0), (70_000, 3.0), (100_000, 7.0)],
    )])
}

#[test]
fn subqueries_evaluate_on_an_aligned_grid() {
    let s = aligned_gauge();
    // [2m:30s] at T0+100s: the grid starts at the first multiple of 30s after
    // T0+100s-2m = T0-20s, i.e. T0+10s: points 10s, 40s, 70s, 100s = 1, 5, 3, 7.
    assert_eq!(one(&s, "count_over_time(g[2m:30s])", 100_000), 4.0);
    assert_eq!(one(&s, "sum_over_time(g[2m:30s])", 100_000), 16.0);
    assert_eq!(
        instant(&s, "g[2m:30s]", 100_000),
        Value::Matrix(vec![SeriesData {
            labels: labels(&[("__name__", "g"), ("k", "v")]),
            samples: vec![
                (T0 + 10_000, 1.0),
                (T0 + 40_000, 5.0),
                (T0 + 70_000, 3.0),
                (T0 + 100_000, 7.0)
            ],
        }])
    );
    // [1m:20s]: after T0+40s (a multiple of 20s) come 60s, 80s, 100s; the inner selector
    // looks back: 5 (from 40s), 3 (from 70s), 7.
    assert_eq!(one(&s, "sum_over_time(g[1m:20s])", 100_000), 15.0);
    // offset 30s: grid after T0+10s up to T0+70s: 40s, 70s = 5 + 3.
    assert_eq!(one(&s, "sum_over_time(g[1m:30s] offset 30s)", 100_000), 8.0);
    // No step: 1m. After T0-80s: T0-20s (nothing yet), T0+40s, T0+100s.
    assert_eq!(one(&s, "count_over_time(g[3m:])", 100_000), 2.0);
    // Functions inside: max of the inner values times two.
    assert_eq!(one(&s, "max_over_time((g * 2)[2m:30s])", 100_000), 14.0);
    assert_eq!(
        vector(&s, "max_over_time(g[2m:30s])", 100_000)[0].0,
        labels(&[("k", "v")])
    );
    // In a range query: inner grid 40s, 70s, 100s (5, 3, 7); windows (10s, 70s] and
    // (40s, 100s].
    let v = eval_range(
        "sum_over_time(g[1m:30s])",
        T0 + 70_000,
        T0 + 100_000,
        30_000,
        &s,
        &EvalOptions::default(),
    )
    .unwrap();
    assert_eq!(
        v,
        Value::Matrix(vec![SeriesData {
            labels: labels(&[("k", "v")]),
            samples: vec![(T0 + 70_000, 8.0), (T0 + 100_000, 10.0)],
        }])
    );
}

// ------------------------------------------------------------------ range queries

#[test]
fn range_query_evaluates_at_each_step() {
    let s = store(&[
        (
            &[("__name__", "x"), ("k", "1")],
            &[(0, 1.0), (30_000, 2.0), (60_000, 3.0)],
        ),
        (&[("__name__", "x"), ("k", "2")], &[(400_000, 9.0)]),
    ]);
    let opts = EvalOptions::default();
    let v = eval_range("x", T0, T0 + 60_000, 30_000, &s, &opts).unwrap();
    // x{k="2"} has no point in the range and is omitted.
    assert_eq!(
        v,
        Value::Matrix(vec![SeriesData {
            labels: labels(&[("__name__", "x"), ("k", "1")]),
            samples: vec![(T0, 1.0), (T0 + 30_000, 2.0), (T0 + 60_000, 3.0)],
        }])
    );
    // Steps between samples use the lookback: T0+15s sees 1, T0+45s sees 2.
    let v = eval_range("x * 10", T0 + 15_000, T0 + 45_000, 30_000, &s, &opts).unwrap();
    assert_eq!(
        v,
        Value::Matrix(vec![SeriesData {
            labels: labels(&[("k", "1")]),
            samples: vec![(T0 + 15_000, 10.0), (T0 + 45_000, 20.0)],
        }])
    );
    // A scalar becomes one series without labels.
    let v = eval_range("time()", T0, T0 + 2_000, 1_000, &s, &opts).unwrap();
    let Value::Matrix(m) = v else { panic!() };
    assert_eq!(m[0].labels, Labels::new());
    assert_eq!(
        m[0].samples,
        vec![
            (T0, 1_700_000_000.0),
            (T0 + 1_000, 1_700_000_001.0),
            (T0 + 2_000, 1_700_000_002.0)
        ]
    );
    // A range vector is not a valid range-query result.
    assert!(is_bad_data(
        &eval_range("x[1m]", T0, T0 + 60_000, 30_000, &s, &opts).unwrap_err()
    ));
    assert!(is_bad_data(
        &eval_range("x", T0, T0 - 1, 30_000, &s, &opts).unwrap_err()
    ));
    assert!(is_bad_data(
        &eval_range("x", T0, T0 + 1, 0, &s, &opts).unwrap_err()
    ));
}

#[test]
fn range_query_of_rate_matches_instant_queries() {
    let samples: Vec<(i64, f64)> = (0..20).map(|i| (i * 15_000, (i * i) as f64)).collect();
    let s = counter(&samples);
    let opts = EvalOptions::default();
    let Value::Matrix(m) = eval_range(
        "rate(c_total[1m])",
        T0 + 60_000,
        T0 + 240_000,
        60_000,
        &s,
        &opts,
    )
    .unwrap() else {
        panic!()
    };
    assert_eq!(m.len(), 1);
    for (t, v) in &m[0].samples {
        assert_eq!(*v, one(&s, "rate(c_total[1m])", t - T0));
    }
    assert_eq!(m[0].samples.len(), 4);
}

// ------------------------------------------------------------------ errors and limits

#[test]
fn unsupported_constructs_are_bad_data() {
    let s = store(&[(&[("__name__", "x")], &[(0, 1.0)])]);
    assert_eq!(
        error(&s, "predict_linear(x[5m], 60)", 0),
        EvalError::BadData("unsupported in this mock: function \"predict_linear\"".into())
    );
    assert_eq!(
        error(&s, "max_over_time(x[5m:1m] @ 100)", 0),
        EvalError::BadData("unsupported in this mock: @ on a subquery".into())
    );
    assert!(is_bad_data(&error(&s, "limitk(1, x)", 0)));
    assert_eq!(
        error(&s, "x + fill(0) x", 0),
        EvalError::BadData("unsupported in this mock: fill modifiers".into())
    );
    assert_eq!(
        error(&s, r#"x{a="b" or c="d"}"#, 0),
        EvalError::BadData("unsupported in this mock: \"or\" inside a label selector".into())
    );
    assert!(is_bad_data(&error(&s, r#"count_values("v", x)"#, 0)));
    assert!(is_bad_data(&error(&s, "x atan2 x", 0)));
    assert!(is_bad_data(&error(&s, "exp(x)", 0)));
    assert!(is_bad_data(&error(&s, r#""a string""#, 0)));
}

#[test]
fn parse_errors_are_bad_data() {
    let s = Store::new();
    for q in ["sum(", "rate(x)", "x{", "", "1 +"] {
        let e = error(&s, q, 0);
        assert!(
            matches!(&e, EvalError::BadData(m) if m.starts_with("invalid parameter \"query\": ")),
            "{q}: {e:?}"
        );
    }
}

#[test]
fn too_many_samples_is_an_execution_error() {
    let s = store(&[(
        &[("__name__", "x")],
        &[(0, 1.0), (10_000, 2.0), (20_000, 3.0)],
    )]);
    let opts = EvalOptions {
        max_samples: 2,
        ..EvalOptions::default()
    };
    assert_eq!(
        eval_instant("sum_over_time(x[1m])", T0 + 20_000, &s, &opts),
        Err(EvalError::Execution(
            "query processing would load too many samples into memory in query execution".into()
        ))
    );
}

// ------------------------------------------------------------------ JSON

#[test]
fn values_are_formatted_like_go() {
    assert_eq!(format_value(0.1), "0.1");
    assert_eq!(format_value(3.0), "3");
    assert_eq!(format_value(-2.5), "-2.5");
    assert_eq!(format_value(1e21), "1e+21");
    assert_eq!(format_value(1.5e21), "1.5e+21");
    assert_eq!(format_value(1e20), "100000000000000000000");
    assert_eq!(format_value(1e-6), "0.000001");
    assert_eq!(format_value(1e-7), "1e-07");
    assert_eq!(format_value(-1.25e-10), "-1.25e-10");
    assert_eq!(format_value(0.0), "0");
    assert_eq!(format_value(-0.0), "-0");
    assert_eq!(format_value(f64::NAN), "NaN");
    assert_eq!(format_value(f64::INFINITY), "+Inf");
    assert_eq!(format_value(f64::NEG_INFINITY), "-Inf");
    assert_eq!(format_value(0.6666666666666666), "0.6666666666666666");
    assert_eq!(format_value(1e100), "1e+100");
}

#[test]
fn timestamps_are_seconds_with_milliseconds() {
    assert_eq!(timestamp(1_700_000_000_000).to_string(), "1700000000");
    assert_eq!(timestamp(1_700_000_000_123).to_string(), "1700000000.123");
    assert_eq!(timestamp(1_700_000_000_005).to_string(), "1700000000.005");
    assert_eq!(timestamp(-500).to_string(), "-0.5");
}

#[test]
fn result_json_shapes() {
    let l = labels(&[("__name__", "up"), ("job", "a")]);
    let v = Value::Vector(vec![InstantSample {
        labels: l.clone(),
        t_ms: 1_700_000_000_123,
        value: 1.0,
    }]);
    assert_eq!(
        result_json(&v),
        json!({"resultType": "vector", "result": [
            {"metric": {"__name__": "up", "job": "a"}, "value": [1_700_000_000.123, "1"]}
        ]})
    );
    let m = Value::Matrix(vec![SeriesData {
        labels: l,
        samples: vec![(1_700_000_000_000, 0.1), (1_700_000_015_000, f64::NAN)],
    }]);
    assert_eq!(
        result_json(&m),
        json!({"resultType": "matrix", "result": [
            {"metric": {"__name__": "up", "job": "a"}, "values": [[1_700_000_000, "0.1"], [1_700_000_015, "NaN"]]}
        ]})
    );
    let sc = Value::Scalar {
        t_ms: 1_700_000_000_000,
        value: 1e21,
    };
    assert_eq!(
        result_json(&sc),
        json!({"resultType": "scalar", "result": [1_700_000_000, "1e+21"]})
    );
    assert_eq!(
        result_json(&Value::Vector(vec![])),
        json!({"resultType": "vector", "result": []})
    );
}

// ------------------------------------------------------------------ match[] selectors

#[test]
fn series_selector_for_match_parameters() {
    let sel = Selector::parse(r#"up{job=~"a|b", instance!=""}"#).unwrap();
    assert_eq!(sel.metric_name(), Some("up"));
    assert!(sel.matches(&labels(&[
        ("__name__", "up"),
        ("job", "a"),
        ("instance", "1")
    ])));
    assert!(!sel.matches(&labels(&[("__name__", "up"), ("job", "a")])));
    assert!(!sel.matches(&labels(&[
        ("__name__", "down"),
        ("job", "a"),
        ("instance", "1")
    ])));
    let sel = Selector::parse(r#"{__name__="up"}"#).unwrap();
    assert_eq!(sel.metric_name(), Some("up"));
    assert!(
        matches!(Selector::parse("rate(up[5m])"), Err(EvalError::BadData(m)) if m.starts_with("invalid parameter \"match[]\""))
    );
    assert_eq!(
        Selector::parse(r#"{job=~".*"}"#).unwrap_err(),
        EvalError::BadData(
            "invalid parameter \"match[]\": match[] must contain at least one non-empty matcher"
                .into()
        )
    );
}
