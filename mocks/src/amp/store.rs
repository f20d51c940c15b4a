//! The mock AMP's in-memory time-series store, one per workspace.
//!
//! Series are keyed by their full, sorted label set (including `__name__`) and indexed by
//! metric name. Appends follow the TSDB head's rules as Cortex/AMP apply them: samples of a
//! series must not go back in time (beyond the out-of-order window), and a second sample
//! at an existing timestamp with another value is a duplicate; the same value again is
//! accepted silently.
//!
//! Series live in a vector, found by a hash of their labels computed from borrowed label
//! slices, so an append of a known series allocates nothing; a remote write appends all its
//! series under one lock per [`BATCH`] series (`pipecheck-bench` profile: hashing the owned
//! label set three times per sample and taking the lock per series were a third of ingest).

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::RwLock;

/// Series appended per write-lock acquisition by [`Store::append_batch`]: large enough to
/// make locking free, small enough that queries never wait long behind a big write.
pub const BATCH: usize = 1024;

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

/// A series to append, borrowed: its labels (sorted by name) and samples.
pub type SeriesRef<'a> = (&'a [(&'a str, &'a str)], &'a [(i64, f64)]);

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
    labels: Labels,
    samples: Vec<(i64, f64)>,
}

/// The series with one label hash (almost always one).
#[derive(Debug)]
enum Ids {
    One(u32),
    Many(Vec<u32>),
}

#[derive(Debug, Default)]
struct Inner {
    /// Indexed by series id.
    series: Vec<Series>,
    /// Series ids by [`hash_labels`].
    index: HashMap<u64, Ids, BuildHasherDefault<Prehashed>>,
    by_name: HashMap<String, Vec<u32>>,
    samples: usize,
}

/// The hasher of `index`, whose keys are hashes already.
#[derive(Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// A label set's hash: FxHash-style over 8-byte words (names and values in two independent
/// chains, which the CPU runs side by side), each string closed by a word holding its tail
/// and length, then a murmur3 finalizer so every bit depends on every byte. Collisions are
/// harmless (ids are checked against the labels).
fn hash_labels(labels: &[(&str, &str)]) -> u64 {
    let (mut names, mut values) = (0u64, 0x9e37_79b9_7f4a_7c15u64);
    for (k, v) in labels {
        names = mix(names, k);
        values = mix(values, v);
    }
    let mut h = names ^ values.rotate_left(32);
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

#[inline(always)]
fn mix(mut h: u64, s: &str) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let b = s.as_bytes();
    let mut words = b.chunks_exact(8);
    for w in &mut words {
        h = (h.rotate_left(5) ^ u64::from_le_bytes(w.try_into().expect("8 bytes"))).wrapping_mul(K);
    }
    let mut tail = (b.len() as u64) << 56;
    for (i, &c) in words.remainder().iter().enumerate() {
        tail ^= u64::from(c) << (8 * i);
    }
    (h.rotate_left(5) ^ tail).wrapping_mul(K)
}

impl Inner {
    fn find(&self, hash: u64, labels: &[(&str, &str)]) -> Option<u32> {
        let same = |id: u32| {
            let s = &self.series[id as usize].labels;
            s.len() == labels.len()
                && s.iter()
                    .zip(labels)
                    .all(|((a, b), (c, d))| a == c && b == d)
        };
        match self.index.get(&hash)? {
            Ids::One(id) => same(*id).then_some(*id),
            Ids::Many(ids) => ids.iter().copied().find(|&id| same(id)),
        }
    }

    fn create(&mut self, hash: u64, labels: &[(&str, &str)]) -> u32 {
        let id = u32::try_from(self.series.len()).expect("fewer than 2^32 series");
        let owned: Labels = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        if let Some(name) = metric_name(&owned) {
            match self.by_name.get_mut(name) {
                Some(ids) => ids.push(id),
                None => {
                    self.by_name.insert(name.to_string(), vec![id]);
                }
            }
        }
        self.series.push(Series {
            labels: owned,
            samples: Vec::new(),
        });
        match self.index.entry(hash) {
            Entry::Vacant(e) => {
                e.insert(Ids::One(id));
            }
            Entry::Occupied(mut e) => {
                let ids = e.get_mut();
                match ids {
                    Ids::One(first) => *ids = Ids::Many(vec![*first, id]),
                    Ids::Many(v) => v.push(id),
                }
            }
        }
        id
    }

    fn append(
        &mut self,
        labels: &[(&str, &str)],
        samples: &[(i64, f64)],
        ooo_window_ms: i64,
    ) -> Result<usize, AppendError> {
        debug_assert!(
            labels.windows(2).all(|w| w[0].0 < w[1].0),
            "labels must be sorted"
        );
        let hash = hash_labels(labels);
        let id = match self.find(hash, labels) {
            Some(id) => id,
            None => self.create(hash, labels),
        };
        let series = &mut self.series[id as usize];
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
        self.samples += added;
        result.map(|_| added)
    }
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
        let borrowed: Vec<(&str, &str)> = labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        self.inner
            .write()
            .unwrap()
            .append(&borrowed, samples, ooo_window_ms)
    }

    /// [`Store::append`] for many series at once, taking the write lock once per [`BATCH`]
    /// series: `(sorted labels, samples)` each, the outcome of each reported to `each` with
    /// its index, in order.
    pub fn append_batch(
        &self,
        batch: &[SeriesRef<'_>],
        ooo_window_ms: i64,
        mut each: impl FnMut(usize, Result<usize, AppendError>),
    ) {
        for (c, chunk) in batch.chunks(BATCH).enumerate() {
            let mut inner = self.inner.write().unwrap();
            for (i, (labels, samples)) in chunk.iter().enumerate() {
                each(c * BATCH + i, inner.append(labels, samples, ooo_window_ms));
            }
        }
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
            .iter()
            .filter(|s| matches(&s.labels))
            .map(|s| s.labels.clone())
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
                labels: s.labels.clone(),
                samples: s.samples[lo..hi].to_vec(),
            })
        };
        let mut out: Vec<SeriesData> = match name {
            Some(n) => inner
                .by_name
                .get(n)
                .into_iter()
                .flatten()
                .filter_map(|&id| pick(&inner.series[id as usize]))
                .collect(),
            None => inner.series.iter().filter_map(pick).collect(),
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
