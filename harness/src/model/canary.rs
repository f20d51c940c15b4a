//! The canary: series whose labels carry the run id and whose values derive from it, so a
//! series left by an earlier run can never satisfy this run's checks. It knows what it
//! wrote and therefore what every query over it must return.

use std::collections::BTreeMap;
use std::time::Duration;

use pipecheck_prompb::{Label, Sample, TimeSeries, WriteRequest};

use crate::scenario::CanarySpec;

pub const RUN_LABEL: &str = "pipecheck_run";
/// Tells the canary's series of one name apart (`gauge-0`, `gauge-1`, ...).
pub const CANARY_LABEL: &str = "canary";
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

/// Where the canary's series come from, which decides the `job` and `instance` labels
/// they carry in AMP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The harness remote-writes them itself.
    Direct,
    /// A collector scrapes them from the harness's exporter: the collector adds `job`
    /// (its scrape job's name) and `instance` (the exporter's address).
    Scraped { job: String, instance: String },
}

/// A run id: unique per scenario run, short enough for a label value and a tag. The
/// canary's labels and values derive from it.
pub fn new_run_id() -> String {
    let u = uuid::Uuid::new_v4().simple().to_string();
    format!("pc-{}", &u[..12])
}

pub const DIRECT_JOB: &str = "pipecheck-canary";
/// The scrape job name in the collector configs pipecheck renders.
pub const SCRAPE_JOB: &str = "pipecheck-canary-scrape";
/// The scrape job of the canary of an AMP managed collector (scraper): the scraper's
/// configuration must have it, and the series it writes for that job are read back.
pub const SCRAPER_JOB: &str = "pipecheck-canary";

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
    pub origin: Origin,
    seed: u64,
}

/// FNV-1a: a stable hash, so the same run id always yields the same values.
fn seed(run_id: &str) -> u64 {
    run_id.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

impl Canary {
    /// The canary of `run_id`, ending at `end_ms`, as it looks in AMP when it comes from
    /// `origin`.
    pub fn new(run_id: &str, spec: &CanarySpec, end_ms: i64, origin: Origin) -> Self {
        Self::seeded(run_id, seed(run_id), spec, end_ms, origin)
    }

    /// The canary of a watch (`pipecheck watch`): the same series on every run (`label`
    /// in place of the run id, so a watch adds a fixed set of series to AMP), values
    /// derived from `label` and the sample's timestamp (the gauges and histogram) or the
    /// timestamp alone (the counter: `t / 1000`, so it only grows), so a read-back still
    /// tells this run's samples from the last run's. The counter's samples are `step`
    /// apart; the caller keeps every timestamp after the last one it wrote
    /// ([`StableCanary`]).
    pub fn stable(
        label: &str,
        spec: &CanarySpec,
        end_ms: i64,
        step: Duration,
        origin: Origin,
    ) -> Self {
        let spec = CanarySpec {
            interval: step,
            ..spec.clone()
        };
        let mut c = Self::seeded(
            label,
            seed(&format!("{label}@{end_ms}")),
            &spec,
            end_ms,
            origin,
        );
        if let Some(counter) = c.series.iter_mut().find(|s| s.name() == COUNTER) {
            for (t, v) in &mut counter.samples {
                *v = *t as f64 / 1000.0;
            }
        }
        c
    }

    fn seeded(run_id: &str, s: u64, spec: &CanarySpec, end_ms: i64, origin: Origin) -> Self {
        let (job, instance) = match &origin {
            Origin::Direct => (DIRECT_JOB.to_string(), "pipecheck".to_string()),
            Origin::Scraped { job, instance } => (job.clone(), instance.clone()),
        };
        let base = |name: &str, canary: String| -> BTreeMap<String, String> {
            [
                ("__name__", name.to_string()),
                (CANARY_LABEL, canary),
                ("instance", instance.clone()),
                ("job", job.clone()),
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
                labels: base(GAUGE, format!("gauge-{i}")),
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
            labels: base(COUNTER, "main".into()),
            samples: counter,
        });
        // Bucket counts: total 2k, with exactly k at or below the 0.5 bound.
        let k = 10.0 + (s % 20) as f64;
        let cumulative = [k / 2.0, k, k + (k / 2.0).floor(), 2.0 * k];
        let les = ["0.1", "0.5", "1", "+Inf"];
        for (le, count) in les.iter().zip(cumulative) {
            let mut labels = base(&format!("{HISTOGRAM}_bucket"), "main".into());
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
            labels: base(&format!("{HISTOGRAM}_sum"), "main".into()),
            samples: vec![(end_ms, sum)],
        });
        series.push(CanarySeries {
            labels: base(&format!("{HISTOGRAM}_count"), "main".into()),
            samples: vec![(end_ms, 2.0 * k)],
        });
        Self {
            run_id: run_id.to_string(),
            series,
            end_ms,
            interval: spec.interval,
            defect: CanaryDefect::None,
            origin,
            seed: s,
        }
    }

    /// The `job` label the canary carries in AMP.
    pub fn job(&self) -> &str {
        self.series[0].labels["job"].as_str()
    }

    /// The label matchers selecting every series of this run and origin.
    pub fn matchers(&self) -> String {
        format!("{RUN_LABEL}=\"{}\", job=\"{}\"", self.run_id, self.job())
    }

    /// The selector matching every series of this run and origin.
    pub fn selector(&self) -> String {
        format!("{{{}}}", self.matchers())
    }

    /// The counter's value at the `n`th scrape (from 1): it grows by a run-specific step
    /// per scrape, so the sequence a collector delivers can be checked sample by sample.
    pub fn scraped_counter(&self, n: u64) -> f64 {
        let base = self.counter().samples[0].1;
        base + (n.saturating_sub(1) as f64) * (1.0 + (self.seed % 5) as f64)
    }

    /// The Prometheus text exposition a collector scrapes at its `n`th scrape: every
    /// series without `job` and `instance` (the collector adds those), the counter at
    /// [`Canary::scraped_counter`], the others at their fixed values.
    pub fn exposition(&self, n: u64) -> String {
        let mut out = String::new();
        let mut last_family = String::new();
        for s in &self.series {
            let name = s.name();
            let family = if name.starts_with(HISTOGRAM) {
                HISTOGRAM
            } else {
                name
            };
            if family != last_family {
                let kind = match family {
                    COUNTER => "counter",
                    HISTOGRAM => "histogram",
                    _ => "gauge",
                };
                out.push_str(&format!("# TYPE {family} {kind}\n"));
                last_family = family.to_string();
            }
            let labels: Vec<String> = s
                .labels
                .iter()
                .filter(|(k, _)| !matches!(k.as_str(), "__name__" | "job" | "instance"))
                .map(|(k, v)| format!("{k}=\"{}\"", escape_label_value(v)))
                .collect();
            let value = if name == COUNTER {
                self.scraped_counter(n)
            } else {
                s.last().1
            };
            out.push_str(&format!(
                "{name}{{{}}} {}\n",
                labels.join(","),
                fmt_value(value)
            ));
        }
        out
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

/// The canary timestamps of one scenario of a watch: each run's samples come after the
/// last run's (AMP refuses a sample older than the newest of its series).
#[derive(Clone, Debug)]
pub struct StableCanary {
    /// The `pipecheck_run` label value of every run: the watch's instance and scenario.
    pub label: String,
    /// The newest timestamp written so far (ms), if any.
    pub last_ms: Option<i64>,
}

impl StableCanary {
    pub fn new(instance: &str, scenario: &str) -> Self {
        Self {
            label: format!("watch-{instance}-{scenario}"),
            last_ms: None,
        }
    }

    /// The next run's end timestamp and counter step for `samples` counter samples at
    /// most `interval` apart, at wall-clock `now_ms`: every sample after the last one
    /// written (the step shrinks when runs come faster than the scenario's interval; the
    /// end moves past `now_ms` by a few milliseconds at most). Records the new end.
    pub fn next(&mut self, now_ms: i64, samples: u32, interval: Duration) -> (i64, Duration) {
        let n = i64::from(samples.max(1));
        let interval_ms = (interval.as_millis() as i64).max(1);
        let (end, step) = match self.last_ms {
            None => (now_ms, interval_ms),
            Some(last) => {
                let end = now_ms.max(last + n);
                (end, ((end - last) / n).clamp(1, interval_ms))
            }
        };
        self.last_ms = Some(end);
        (end, Duration::from_millis(step as u64))
    }
}

fn escape_label_value(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A sample value in the text exposition format.
fn fmt_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canary(run: &str) -> Canary {
        Canary::new(
            run,
            &CanarySpec::default(),
            1_700_000_000_000,
            Origin::Direct,
        )
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
    fn a_watch_canary_keeps_its_labels_and_never_goes_back_in_time() {
        let spec = CanarySpec::default();
        let mut st = StableCanary::new("w1", "smoke");
        let mut last_written = i64::MIN;
        let mut runs = Vec::new();
        // Runs faster than the canary's interval, and one with the clock stepped back.
        for now in [1_000_000, 1_000_100, 1_000_200, 999_000, 1_000_300] {
            let (end, step) = st.next(now, spec.counter_samples, spec.interval);
            let c = Canary::stable(&st.label, &spec, end, step, Origin::Direct);
            assert!(
                c.first_ms() > last_written,
                "{} <= {last_written}",
                c.first_ms()
            );
            let counter = &c.counter().samples;
            assert!(
                counter
                    .windows(2)
                    .all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1)
            );
            assert!(counter.iter().all(|(t, v)| *v == *t as f64 / 1000.0));
            assert_eq!(counter.last().unwrap().0, end);
            last_written = end;
            runs.push(c);
        }
        let labels = |c: &Canary| {
            c.series
                .iter()
                .map(|s| s.labels.clone())
                .collect::<Vec<_>>()
        };
        assert!(runs.iter().all(|c| labels(c) == labels(&runs[0])));
        assert_eq!(runs[0].series[0].labels[RUN_LABEL], "watch-w1-smoke");
        // Values differ from run to run, so a read-back tells them apart.
        assert_ne!(
            runs[1].series[0].samples[0].1,
            runs[2].series[0].samples[0].1
        );
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
    fn the_exposition_carries_every_series_but_not_job_or_instance() {
        let c = Canary::new(
            "e",
            &CanarySpec::default(),
            0,
            Origin::Scraped {
                job: SCRAPE_JOB.into(),
                instance: "127.0.0.1:1".into(),
            },
        );
        let text = c.exposition(3);
        assert_eq!(
            text.lines().filter(|l| !l.starts_with('#')).count(),
            c.series.len()
        );
        assert!(!text.contains("job=") && !text.contains("instance="));
        assert!(text.contains("# TYPE pipecheck_canary_latency_seconds histogram\n"));
        assert_eq!(text.matches("# TYPE").count(), 3);
        let counter_line = text.lines().find(|l| l.starts_with(COUNTER)).unwrap();
        assert!(
            counter_line.ends_with(&format!(" {}", c.scraped_counter(3))),
            "{counter_line}"
        );
        assert!(c.scraped_counter(2) > c.scraped_counter(1));
        assert_eq!(c.job(), SCRAPE_JOB);
        assert!(c.selector().contains(SCRAPE_JOB));
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
