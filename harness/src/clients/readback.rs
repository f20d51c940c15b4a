//! What the canary must look like when read back from AMP (through its query API or
//! Grafana's): the time to query at, each series' labels and the value it must have, and
//! how what came back differs. Every link that reads the canary back uses this.

use std::collections::BTreeMap;
use std::time::SystemTime;

use crate::amp_client::ResultSeries;
use crate::canary::{COUNTER, Canary, Origin};

/// The value a series must have.
#[derive(Clone, Debug, PartialEq)]
pub enum Want {
    Exact(f64),
    /// Any of these: a scraped counter's value depends on which scrape arrived last.
    OneOf(Vec<f64>),
}

impl Want {
    fn accepts(&self, v: f64) -> bool {
        match self {
            Want::Exact(w) => w.to_bits() == v.to_bits(),
            Want::OneOf(ws) => ws.iter().any(|w| w.to_bits() == v.to_bits()),
        }
    }
}

impl std::fmt::Display for Want {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Want::Exact(w) => write!(f, "{w}"),
            Want::OneOf(ws) => write!(f, "one of the {} values served", ws.len()),
        }
    }
}

/// What every series of the canary must look like now. A scraped counter may hold any
/// value the exporter has served so far.
pub fn expected(canary: &Canary, served_counter: &[f64]) -> Vec<(BTreeMap<String, String>, Want)> {
    canary
        .series
        .iter()
        .map(|s| {
            let want = match canary.origin {
                Origin::Scraped { .. } if s.name() == COUNTER => {
                    Want::OneOf(served_counter.to_vec())
                }
                _ => Want::Exact(s.last().1),
            };
            (s.labels.clone(), want)
        })
        .collect()
}

/// Compares what came back with what was expected; an empty Vec means all is right.
pub fn differences(
    expected: &[(BTreeMap<String, String>, Want)],
    got: &[ResultSeries],
) -> Vec<String> {
    let mut diffs = Vec::new();
    let mut seen: BTreeMap<&BTreeMap<String, String>, f64> = BTreeMap::new();
    for s in got {
        if let Some(&(_, v)) = s.points.last() {
            seen.insert(&s.labels, v);
        }
    }
    for (labels, want) in expected {
        match seen.remove(labels) {
            None => diffs.push(format!("missing {}", fmt_labels(labels))),
            Some(v) if !want.accepts(v) => {
                diffs.push(format!("{} = {v}, expected {want}", fmt_labels(labels)))
            }
            Some(_) => {}
        }
    }
    for (labels, v) in seen {
        diffs.push(format!(
            "unexpected series {} = {v} (labels differ from what was written?)",
            fmt_labels(labels)
        ));
    }
    diffs
}

pub fn fmt_labels(l: &BTreeMap<String, String>) -> String {
    let name = l.get("__name__").cloned().unwrap_or_default();
    let rest: Vec<String> = l
        .iter()
        .filter(|(k, _)| *k != "__name__")
        .map(|(k, v)| format!("{k}={v:?}"))
        .collect();
    format!("{name}{{{}}}", rest.join(", "))
}

/// The time to query at: the direct canary's own end, or now for a scraped one (the
/// collector stamps samples with its scrape times).
pub fn query_time(canary: &Canary) -> i64 {
    match canary.origin {
        Origin::Direct => canary.end_ms,
        Origin::Scraped { .. } => SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn differences_name_missing_wrong_and_unexpected_series() {
        let a = labels(&[("__name__", "a"), ("x", "1")]);
        let b = labels(&[("__name__", "b")]);
        let c = labels(&[("__name__", "c")]);
        let expected = vec![(a.clone(), Want::Exact(1.0)), (b.clone(), Want::Exact(2.0))];
        let got = vec![
            ResultSeries {
                labels: a,
                points: vec![(0, 1.0)],
            },
            ResultSeries {
                labels: c,
                points: vec![(0, 3.0)],
            },
        ];
        let d = differences(&expected, &got);
        assert_eq!(d.len(), 2);
        assert!(d[0].starts_with("missing b{}"));
        assert!(d[1].starts_with("unexpected series c{}"));
        let got = vec![ResultSeries {
            labels: b.clone(),
            points: vec![(0, 2.5)],
        }];
        assert!(
            differences(&[(b.clone(), Want::Exact(2.0))], &got)[0].contains("= 2.5, expected 2")
        );
        assert!(differences(&[(b.clone(), Want::OneOf(vec![1.0, 2.5]))], &got).is_empty());
        assert!(!differences(&[(b, Want::OneOf(vec![1.0]))], &got).is_empty());
    }
}
