//! Poll, don't sleep: one helper that repeats a probe with backoff until it says done, it
//! gives up, or the caller's deadline passes, and records how long that took.

use std::future::Future;
use std::time::{Duration, Instant};

use backon::{BackoffBuilder, ExponentialBuilder};

/// What one probe saw.
pub enum Probe<T> {
    /// The condition holds.
    Done(T),
    /// Not yet; try again (keeps the latest observation for the report).
    Pending(T),
    /// It will never hold (a permanent refusal): stop now.
    Abort(T),
}

#[derive(Debug)]
pub enum Waited<T> {
    Done {
        value: T,
        after: Duration,
        attempts: u32,
    },
    Aborted {
        value: T,
        after: Duration,
        attempts: u32,
    },
    /// The deadline passed; `last` is the latest observation, if any probe finished.
    TimedOut {
        last: Option<T>,
        after: Duration,
        attempts: u32,
    },
}

/// Polls `probe` with exponential backoff (from `first` up to a quarter of the deadline,
/// at most 500 ms) until it is done or aborts, or `deadline` passes. A probe still
/// running at the deadline is cancelled.
pub async fn wait_until<T, F, Fut>(deadline: Duration, first: Duration, mut probe: F) -> Waited<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Probe<T>>,
{
    let started = Instant::now();
    let max_delay = (deadline / 4).clamp(first, Duration::from_millis(500));
    let mut delays = ExponentialBuilder::default()
        .with_min_delay(first)
        .with_max_delay(max_delay)
        .with_factor(1.6)
        .with_jitter()
        .without_max_times()
        .build();
    let mut attempts = 0;
    let mut last = None;
    loop {
        let remaining = deadline.saturating_sub(started.elapsed());
        if remaining.is_zero() {
            return Waited::TimedOut {
                last,
                after: started.elapsed(),
                attempts,
            };
        }
        attempts += 1;
        match tokio::time::timeout(remaining, probe()).await {
            Err(_) => {
                return Waited::TimedOut {
                    last,
                    after: started.elapsed(),
                    attempts,
                };
            }
            Ok(Probe::Done(value)) => {
                return Waited::Done {
                    value,
                    after: started.elapsed(),
                    attempts,
                };
            }
            Ok(Probe::Abort(value)) => {
                return Waited::Aborted {
                    value,
                    after: started.elapsed(),
                    attempts,
                };
            }
            Ok(Probe::Pending(value)) => last = Some(value),
        }
        let delay = delays.next().unwrap_or(max_delay);
        let remaining = deadline.saturating_sub(started.elapsed());
        tokio::time::sleep(delay.min(remaining)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn returns_when_done_and_counts_attempts() {
        let mut n = 0;
        let w = wait_until(Duration::from_secs(5), Duration::from_millis(1), || {
            n += 1;
            let k = n;
            async move {
                if k >= 3 {
                    Probe::Done(k)
                } else {
                    Probe::Pending(k)
                }
            }
        })
        .await;
        assert!(matches!(
            w,
            Waited::Done {
                value: 3,
                attempts: 3,
                ..
            }
        ));
    }

    #[tokio::test]
    async fn times_out_with_the_last_observation() {
        let w = wait_until(
            Duration::from_millis(50),
            Duration::from_millis(5),
            || async { Probe::Pending(7) },
        )
        .await;
        assert!(matches!(w, Waited::TimedOut { last: Some(7), .. }));
    }

    #[tokio::test]
    async fn a_hanging_probe_is_cut_at_the_deadline() {
        let w: Waited<()> = wait_until(
            Duration::from_millis(50),
            Duration::from_millis(5),
            || async {
                tokio::time::sleep(Duration::from_secs(60)).await;
                Probe::Done(())
            },
        )
        .await;
        assert!(matches!(w, Waited::TimedOut { last: None, .. }));
    }

    #[tokio::test]
    async fn abort_stops_at_once() {
        let w = wait_until(Duration::from_secs(5), Duration::from_millis(1), || async {
            Probe::Abort("no")
        })
        .await;
        assert!(matches!(w, Waited::Aborted { attempts: 1, .. }));
    }
}
