//! The canary: series whose labels carry the run id and whose values derive from it, so a
//! series left by an earlier run can never satisfy this run's checks. It knows what it
//! wrote and therefore what every query over it must return.

use std::collections::BTreeMap;
use std::time::Duration;

use pipecheck_prompb::{Label, Sample, TimeSeries, WriteRequest};

use crate::scenario::CanarySpec;

pub const RUN_LABEL: &str = "pipecheck_run";
pub const GAUGE: &str = "pipecheck_canary_gauge";
pub const COUNTER: &str = "pipecheck_canary_requests_total";
pub const HISTOGRAM: &str = "pipecheck_canary_latency_seconds";
/// Classic histogram bucket bounds; the counts are chosen so the median falls exactly on
/// the `0.5` bound, which `histogram_quantile` returns without interpolation error.
pub const BUCKETS: [f64; 3] = [0.1, 0.5, 1.0];
pub const MEDIAN: f64 = 0.5;

/// Ways a writer mangles the canary (catalog F09).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CanaryDefect {
    #[default]
    None,
    /// The counter's samples are sent newest first.
    OutOfOrder,
    /// A second sample at the counter's last timestamp with another value.
    DuplicateTimestamp,
    /// One gauge carries more labels than AMP allows (70).
    TooManyLabels,
}

/// One written series: its full label set and samples.
#[derive(Clone, Debug, PartialEq)]
pub struct CanarySeries {
    pub labels: BTreeMap<String, String>,
    pub samples: Vec<(i64, f64)>,
}

impl CanarySeries {
    pub fn name(&self) -> &str {
        &self.labels["__name__"]
    }

    pub fn last(&self) -> (i64, f64) {
        *self.samples.last().expect("canary series have samples")
    }
}

#[derive(Clone, Debug)]
pub struct Canary {
    pub run_id: String,
    pub series: Vec<CanarySeries>,
    /// Timestamp of the newest sample of every series (they all end here).
    pub end_ms: i64,
    pub interval: Duration,
    pub defect: CanaryDefect,
}

/// FNV-1a: a stable hash, so the same run id always yields the same values.
fn seed(run_id: &str) -> u64 {
    run_id.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

impl Canary {
    /// The canary of `run_id`, ending at `end_ms`.
    pub fn new(run_id: &str, spec: &CanarySpec, end_ms: i64) -> Self {
        let s = seed(run_id);
        let base = |name: &str, instance: String| -> BTreeMap<String, String> {
            [
                ("__name__", name.to_string()),
                ("instance", instance),
                ("job", "pipecheck-canary".to_string()),
                (RUN_LABEL, run_id.to_string()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect()
        };
        let mut series = Vec::new();
        for i in 0..spec.gauges {
            // Quarter steps keep values exact in binary floating point.
            let v = ((s >> (i % 8 * 8)) % 1000) as f64 + 0.25 * f64::from(i + 1);
            series.push(CanarySeries {
                labels: base(GAUGE, format!("canary-{i}")),
                samples: vec![(end_ms, v)],
            });
        }
        let step = spec.interval.as_millis() as i64;
        let n = spec.counter_samples as i64;
        let mut value = (s % 100) as f64;
        let counter: Vec<(i64, f64)> = (0..n)
            .map(|k| {
                value += 1.0 + ((s >> (k % 16 * 4)) % 7) as f64;
                (end_ms - (n - 1 - k) * step, value)
            })
            .collect();
        series.push(CanarySeries {
            labels: base(COUNTER, "canary-0".into()),
            samples: counter,
        });
        // Bucket counts: total 2k, with exactly k at or below the 0.5 bound.
        let k = 10.0 + (s % 20) as f64;
        let cumulative = [k / 2.0, k, k + (k / 2.0).floor(), 2.0 * k];
        let les = ["0.1", "0.5", "1", "+Inf"];
        for (le, count) in les.iter().zip(cumulative) {
            let mut labels = base(&format!("{HISTOGRAM}_bucket"), "canary-0".into());
            labels.insert("le".into(), le.to_string());
            series.push(CanarySeries {
                labels,
                samples: vec![(end_ms, count)],
            });
        }
        let sum = 0.125 * k
            + 0.375 * (k / 2.0)
            + 0.75 * (k / 2.0).floor()
            + 2.0 * (k - (k / 2.0).floor());
        series.push(CanarySeries {
            labels: base(&format!("{HISTOGRAM}_sum"), "canary-0".into()),
            samples: vec![(end_ms, sum)],
        });
        series.push(CanarySeries {
            labels: base(&format!("{HISTOGRAM}_count"), "canary-0".into()),
            samples: vec![(end_ms, 2.0 * k)],
        });
        Self {
            run_id: run_id.to_string(),
            series,
            end_ms,
            interval: spec.interval,
            defect: CanaryDefect::None,
        }
    }

    /// The selector matching every series of this run.
    pub fn selector(&self) -> String {
        format!("{{{RUN_LABEL}=\"{}\"}}", self.run_id)
    }

    pub fn by_name(&self, name: &str) -> impl Iterator<Item = &CanarySeries> {
        self.series.iter().filter(move |s| s.name() == name)
    }

    pub fn counter(&self) -> &CanarySeries {
        self.by_name(COUNTER)
            .next()
            .expect("the canary has a counter")
    }

    pub fn first_ms(&self) -> i64 {
        self.counter().samples[0].0
    }

    /// The remote-write request that carries the canary, with `defect` applied.
    pub fn write_request(&self) -> WriteRequest {
        let mut timeseries: Vec<TimeSeries> = self
            .series
            .iter()
            .map(|s| TimeSeries {
                labels: s
                    .labels
                    .iter()
                    .map(|(k, v)| Label::new(k.clone(), v.clone()))
                    .collect(),
                samples: s
                    .samples
                    .iter()
                    .map(|&(timestamp, value)| Sample { value, timestamp })
                    .collect(),
                ..Default::default()
            })
            .collect();
        let counter = timeseries
            .iter_mut()
            .find(|t| {
                t.labels
                    .iter()
                    .any(|l| l.name == "__name__" && l.value == COUNTER)
            })
            .expect("the canary has a counter");
        match self.defect {
            CanaryDefect::None => {}
            CanaryDefect::OutOfOrder => counter.samples.reverse(),
            CanaryDefect::DuplicateTimestamp => {
                let last = counter
                    .samples
                    .last()
                    .cloned()
                    .expect("counter has samples");
                counter.samples.push(Sample {
                    value: last.value + 1.0,
                    timestamp: last.timestamp,
                });
            }
            CanaryDefect::TooManyLabels => {
                let gauge = &mut timeseries[0];
                for i in 0..70 {
                    gauge.labels.push(Label::new(format!("extra_{i:02}"), "x"));
                }
                gauge.labels.sort();
            }
        }
        WriteRequest {
            timeseries,
            metadata: vec![],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canary(run: &str) -> Canary {
        Canary::new(run, &CanarySpec::default(), 1_700_000_000_000)
    }

    #[test]
    fn values_derive_from_the_run_id() {
        let a = canary("run-a");
        assert_eq!(a.series, canary("run-a").series);
        let b = canary("run-b");
        assert_ne!(a.series, b.series);
        assert!(a.series.iter().all(|s| s.labels[RUN_LABEL] == "run-a"));
    }

    #[test]
    fn counter_increases_and_ends_at_end() {
        let c = canary("x");
        let samples = &c.counter().samples;
        assert_eq!(samples.len(), 5);
        assert!(
            samples
                .windows(2)
                .all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1)
        );
        assert_eq!(c.counter().last().0, c.end_ms);
        assert_eq!(c.first_ms(), c.end_ms - 60_000);
    }

    #[test]
    fn histogram_median_sits_on_the_half_bound() {
        let c = canary("y");
        let buckets: Vec<f64> = c
            .by_name(&format!("{HISTOGRAM}_bucket"))
            .map(|s| s.last().1)
            .collect();
        assert_eq!(buckets.len(), 4);
        assert_eq!(buckets[1] * 2.0, buckets[3]);
        assert!(buckets.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn defects_change_the_request() {
        let mut c = canary("z");
        c.defect = CanaryDefect::OutOfOrder;
        let req = c.write_request();
        let counter = req.timeseries.iter().find(|t| t.samples.len() > 1).unwrap();
        assert!(counter.samples[0].timestamp > counter.samples[1].timestamp);
        c.defect = CanaryDefect::TooManyLabels;
        assert!(c.write_request().timeseries[0].labels.len() > 70);
    }
}
