//! Poll, don't sleep: one helper that repeats a probe with backoff until it says done, it
//! gives up, or the caller's deadline passes, and records how long that took.
//!
//! A wait also tells the executor what it waits for and until when, through the
//! [`Progress`] slot of the link it runs in (a task-local the executor sets), so the
//! console can show progress without links printing or passing anything around.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use backon::{BackoffBuilder, ExponentialBuilder};

/// What a link is waiting for now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Waiting {
    /// e.g. `the canary to come back through the query API`; `None` when the caller of
    /// [`wait_until`] did not say.
    pub what: Option<String>,
    /// When this wait gives up.
    pub deadline_at: Instant,
}

/// One running link's progress slot: [`wait_until`] / [`wait_for`] fill it while they
/// wait, the executor reads it to report progress. Cheap to clone (shared).
#[derive(Clone, Debug, Default)]
pub struct Progress(Arc<Mutex<Option<Waiting>>>);

tokio::task_local! {
    static PROGRESS: Progress;
}

impl Progress {
    /// What the link waits for now, if it is in a wait.
    pub fn current(&self) -> Option<Waiting> {
        self.0.lock().map(|w| w.clone()).unwrap_or(None)
    }

    /// Runs `f` with this slot as the current task's: waits inside `f` report into it.
    pub async fn scope<F: Future>(self, f: F) -> F::Output {
        PROGRESS.scope(self, f).await
    }

    fn set(&self, waiting: Option<Waiting>) -> Option<Waiting> {
        match self.0.lock() {
            Ok(mut slot) => std::mem::replace(&mut *slot, waiting),
            Err(_) => None,
        }
    }
}

/// Puts a wait into the current task's progress slot, if it has one, and puts back what
/// was there when dropped (a wait inside a wait leaves the outer one showing after).
struct InProgress(Option<(Progress, Option<Waiting>)>);

impl InProgress {
    fn start(what: Option<&str>, deadline: Duration) -> Self {
        let waiting = Waiting {
            what: what.map(str::to_string),
            deadline_at: Instant::now() + deadline,
        };
        Self(
            PROGRESS
                .try_with(|p| {
                    let previous = p.set(Some(waiting));
                    (p.clone(), previous)
                })
                .ok(),
        )
    }
}

impl Drop for InProgress {
    fn drop(&mut self) {
        if let Some((progress, previous)) = self.0.take() {
            progress.set(previous);
        }
    }
}

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
/// running at the deadline is cancelled. Progress says the link waits, not for what:
/// [`wait_for`] says that too.
pub async fn wait_until<T, F, Fut>(deadline: Duration, first: Duration, probe: F) -> Waited<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Probe<T>>,
{
    poll(None, deadline, first, probe).await
}

/// [`wait_until`], saying what it waits for (`the workspace to become ACTIVE`) to the
/// progress a console shows.
pub async fn wait_for<T, F, Fut>(
    what: &str,
    deadline: Duration,
    first: Duration,
    probe: F,
) -> Waited<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Probe<T>>,
{
    poll(Some(what), deadline, first, probe).await
}

async fn poll<T, F, Fut>(
    what: Option<&str>,
    deadline: Duration,
    first: Duration,
    mut probe: F,
) -> Waited<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Probe<T>>,
{
    let _in_progress = InProgress::start(what, deadline);
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
    async fn a_wait_fills_the_progress_slot_while_it_waits() {
        let progress = Progress::default();
        let seen = progress.clone();
        let w = progress
            .clone()
            .scope(async move {
                wait_for(
                    "the canary",
                    Duration::from_secs(5),
                    Duration::from_millis(1),
                    || {
                        let now = seen.current();
                        async move {
                            match now {
                                Some(Waiting { what, deadline_at }) => Probe::Done((
                                    what,
                                    deadline_at.saturating_duration_since(Instant::now()),
                                )),
                                None => Probe::Abort((None, Duration::ZERO)),
                            }
                        }
                    },
                )
                .await
            })
            .await;
        let Waited::Done {
            value: (what, left),
            ..
        } = w
        else {
            panic!("the probe saw no progress: {w:?}");
        };
        assert_eq!(what.as_deref(), Some("the canary"));
        assert!(left > Duration::from_secs(4) && left <= Duration::from_secs(5));
        assert_eq!(
            progress.current(),
            None,
            "the slot is cleared after the wait"
        );
    }

    #[tokio::test]
    async fn waits_outside_a_progress_scope_report_nothing() {
        let w = wait_for(
            "x",
            Duration::from_secs(1),
            Duration::from_millis(1),
            || async { Probe::Done(()) },
        )
        .await;
        assert!(matches!(w, Waited::Done { .. }));
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
