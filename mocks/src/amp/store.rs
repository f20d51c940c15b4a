//! The mock AMP's in-memory time-series store, one per workspace.
//!
//! Series are keyed by their full, sorted label set (including `__name__`) and indexed by
//! metric name. Appends follow the TSDB head's rules as Cortex/AMP apply them: samples of a
//! series must not go back in time (beyond the out-of-order window), and a second sample
//! at an existing timestamp with another value is a duplicate; the same value again is
//! accepted silently.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// A series' labels, sorted by name, `__name__` included.
pub type Labels = Vec<(String, String)>;

/// One series as read back: labels and the samples `(timestamp_ms, value)` in time order.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesData {
    pub labels: Labels,
    pub samples: Vec<(i64, f64)>,
}

impl SeriesData {
    pub fn name(&self) -> Option<&str> {
        metric_name(&self.labels)
    }
}

pub fn metric_name(labels: &Labels) -> Option<&str> {
    labels
        .iter()
        .find(|(k, _)| k == "__name__")
        .map(|(_, v)| v.as_str())
}

/// What the PromQL evaluator reads from. `name` is an index hint (the selector's metric
/// name when it has an equality matcher on it); `matches` is the full matcher test.
pub trait SeriesSource {
    fn select(
        &self,
        name: Option<&str>,
        matches: &dyn Fn(&Labels) -> bool,
        start_ms: i64,
        end_ms: i64,
    ) -> Vec<SeriesData>;
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AppendError {
    /// The sample is older than the series' newest sample minus the out-of-order window.
    #[error("out of order sample")]
    OutOfOrder { timestamp_ms: i64, newest_ms: i64 },
    /// Same timestamp as a stored sample, different value.
    #[error("duplicate sample for timestamp")]
    Duplicate {
        timestamp_ms: i64,
        existing: f64,
        new: f64,
    },
}

#[derive(Debug, Default)]
struct Series {
    labels: Arc<Labels>,
    samples: Vec<(i64, f64)>,
}

#[derive(Debug, Default)]
struct Inner {
    series: HashMap<Arc<Labels>, Series>,
    by_name: HashMap<String, Vec<Arc<Labels>>>,
    samples: usize,
}

#[derive(Debug, Default)]
pub struct Store {
    inner: RwLock<Inner>,
}

impl Store {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends samples to the series with these (sorted) labels, creating it if needed.
    /// Samples up to the first error are kept, like the TSDB head appender; the error
    /// names the first rejected sample.
    pub fn append(
        &self,
        labels: Labels,
        samples: &[(i64, f64)],
        ooo_window_ms: i64,
    ) -> Result<usize, AppendError> {
        debug_assert!(
            labels.windows(2).all(|w| w[0].0 < w[1].0),
            "labels must be sorted"
        );
        let mut inner = self.inner.write().unwrap();
        let key = Arc::new(labels);
        if !inner.series.contains_key(&key) {
            if let Some(name) = metric_name(&key) {
                inner
                    .by_name
                    .entry(name.to_string())
                    .or_default()
                    .push(key.clone());
            }
            inner.series.insert(
                key.clone(),
                Series {
                    labels: key.clone(),
                    samples: Vec::new(),
                },
            );
        }
        let series = inner.series.get_mut(&key).expect("inserted above");
        let mut added = 0;
        let mut result = Ok(0);
        for &(ts, v) in samples {
            match insert_sample(&mut series.samples, ts, v, ooo_window_ms) {
                Ok(true) => added += 1,
                Ok(false) => {}
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        inner.samples += added;
        result.map(|_| added)
    }

    pub fn series_count(&self) -> usize {
        self.inner.read().unwrap().series.len()
    }

    pub fn sample_count(&self) -> usize {
        self.inner.read().unwrap().samples
    }

    /// Every metric name and label name / value pair, for the `labels` and
    /// `label/{name}/values` endpoints.
    pub fn all_series(&self, matches: &dyn Fn(&Labels) -> bool) -> Vec<Labels> {
        let inner = self.inner.read().unwrap();
        inner
            .series
            .values()
            .filter(|s| matches(&s.labels))
            .map(|s| (*s.labels).clone())
            .collect()
    }
}

/// Inserts keeping time order. Returns Ok(false) for an exact duplicate (same ts, same
/// value bits), which the TSDB accepts without storing twice.
fn insert_sample(
    samples: &mut Vec<(i64, f64)>,
    ts: i64,
    v: f64,
    ooo_window_ms: i64,
) -> Result<bool, AppendError> {
    match samples.last() {
        None => {
            samples.push((ts, v));
            Ok(true)
        }
        Some(&(last_ts, _)) if ts > last_ts => {
            samples.push((ts, v));
            Ok(true)
        }
        Some(&(last_ts, _)) => {
            let pos = samples.partition_point(|&(t, _)| t < ts);
            if let Some(&(t, existing)) = samples.get(pos)
                && t == ts
            {
                return if existing.to_bits() == v.to_bits() {
                    Ok(false)
                } else {
                    Err(AppendError::Duplicate {
                        timestamp_ms: ts,
                        existing,
                        new: v,
                    })
                };
            }
            if ts < last_ts - ooo_window_ms || ooo_window_ms == 0 {
                return Err(AppendError::OutOfOrder {
                    timestamp_ms: ts,
                    newest_ms: last_ts,
                });
            }
            samples.insert(pos, (ts, v));
            Ok(true)
        }
    }
}

impl SeriesSource for Store {
    fn select(
        &self,
        name: Option<&str>,
        matches: &dyn Fn(&Labels) -> bool,
        start_ms: i64,
        end_ms: i64,
    ) -> Vec<SeriesData> {
        let inner = self.inner.read().unwrap();
        let pick = |s: &Series| -> Option<SeriesData> {
            if !matches(&s.labels) {
                return None;
            }
            let lo = s.samples.partition_point(|&(t, _)| t < start_ms);
            let hi = s.samples.partition_point(|&(t, _)| t <= end_ms);
            Some(SeriesData {
                labels: (*s.labels).clone(),
                samples: s.samples[lo..hi].to_vec(),
            })
        };
        let mut out: Vec<SeriesData> = match name {
            Some(n) => inner
                .by_name
                .get(n)
                .into_iter()
                .flatten()
                .filter_map(|k| inner.series.get(k).and_then(pick))
                .collect(),
            None => inner.series.values().filter_map(pick).collect(),
        };
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        let mut l: Labels = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        l.sort();
        l
    }

    #[test]
    fn appends_and_selects_by_name_and_range() {
        let s = Store::new();
        s.append(
            labels(&[("__name__", "a"), ("x", "1")]),
            &[(1, 1.0), (2, 2.0), (3, 3.0)],
            0,
        )
        .unwrap();
        s.append(labels(&[("__name__", "b")]), &[(1, 9.0)], 0)
            .unwrap();
        let got = s.select(Some("a"), &|_| true, 2, 3);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].samples, vec![(2, 2.0), (3, 3.0)]);
        assert_eq!(s.select(None, &|_| true, 0, 10).len(), 2);
        assert_eq!(s.sample_count(), 4);
    }

    #[test]
    fn rejects_out_of_order_and_duplicates_but_accepts_exact_repeats() {
        let s = Store::new();
        let l = labels(&[("__name__", "a")]);
        s.append(l.clone(), &[(10, 1.0)], 0).unwrap();
        assert_eq!(s.append(l.clone(), &[(10, 1.0)], 0), Ok(0));
        assert!(matches!(
            s.append(l.clone(), &[(10, 2.0)], 0),
            Err(AppendError::Duplicate { .. })
        ));
        assert!(matches!(
            s.append(l.clone(), &[(5, 2.0)], 0),
            Err(AppendError::OutOfOrder { .. })
        ));
        // Within an out-of-order window the sample is inserted in order.
        assert_eq!(s.append(l.clone(), &[(5, 2.0)], 10), Ok(1));
        assert_eq!(
            s.select(Some("a"), &|_| true, 0, 100)[0].samples,
            vec![(5, 2.0), (10, 1.0)]
        );
    }

    #[test]
    fn keeps_samples_before_the_first_error() {
        let s = Store::new();
        let l = labels(&[("__name__", "a")]);
        let r = s.append(l.clone(), &[(1, 1.0), (2, 2.0), (1, 5.0), (3, 3.0)], 0);
        assert!(r.is_err());
        assert_eq!(
            s.select(None, &|_| true, 0, 10)[0].samples,
            vec![(1, 1.0), (2, 2.0)]
        );
    }
}
