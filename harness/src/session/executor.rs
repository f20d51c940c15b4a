//! Runs a scenario's links as a dependency graph: every link whose dependencies passed
//! (or warned) runs, independent links concurrently; a link whose dependency failed or
//! was blocked is not run but marked blocked by the failed link. The failed links are
//! the root causes. The executor never prints: it emits `RunEvent`s, among them a
//! `LinkWaiting` once a second for each link that has run a second or more (what it
//! waits for, from its [`Progress`] slot, and the time left to its deadline).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pipecheck_reports::{LinkResult, Outcome, RunEvent};
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinSet;

use crate::chain::{Check, Deadline, LinkId, Status, blocker_of};
use crate::links::{RunContext, Step};
use crate::wait::Progress;

/// How often running links' progress is reported, and how long a link runs before it is:
/// fast links never show up as waiting.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// Runs `links` (in chain order, dependencies first) and returns their results in that
/// order. Each link is cut off after `link_deadline`, so a hung check cannot hang the run.
pub async fn execute(
    scenario: &str,
    links: Vec<Step>,
    ctx: Arc<RunContext>,
    link_deadline: Duration,
    events: &UnboundedSender<RunEvent>,
) -> Vec<LinkResult> {
    let mut results: HashMap<LinkId, LinkResult> = HashMap::new();
    let mut running: JoinSet<(LinkId, Check, Duration)> = JoinSet::new();
    let mut started: Vec<LinkId> = Vec::new();
    let mut task_links: HashMap<tokio::task::Id, LinkId> = HashMap::new();
    let names: Vec<LinkId> = links.iter().map(|l| l.id).collect();
    // When each running link started, and its progress slot.
    let mut in_flight: HashMap<LinkId, (Instant, Progress)> = HashMap::new();
    let mut progress_tick = tokio::time::interval(PROGRESS_EVERY);
    progress_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let finish = |results: &mut HashMap<LinkId, LinkResult>, id: LinkId, r: LinkResult| {
        let _ = events.send(RunEvent::LinkFinished {
            scenario: scenario.to_string(),
            result: r.clone(),
        });
        results.insert(id, r);
    };

    loop {
        // Start or block every link whose dependencies have all finished.
        for step in &links {
            let name = step.id;
            if started.contains(&name) {
                continue;
            }
            let deps: Vec<&LinkResult> = step
                .depends_on
                .iter()
                .filter_map(|d| results.get(d))
                .collect();
            let in_graph = step.depends_on.iter().filter(|d| names.contains(d)).count();
            if deps.len() < in_graph {
                continue;
            }
            started.push(name);
            if let Some(blocker) = deps.iter().find_map(|d| blocker_of(d)) {
                finish(
                    &mut results,
                    name,
                    LinkResult {
                        name: name.to_string(),
                        outcome: Outcome::Blocked {
                            by: blocker.clone(),
                        },
                        verdict: format!("blocked by {blocker}"),
                        hint: None,
                        evidence: vec![],
                        duration: Duration::ZERO,
                        depends_on: step.depends_on.iter().map(|d| d.to_string()).collect(),
                    },
                );
                continue;
            }
            let _ = events.send(RunEvent::LinkStarted {
                scenario: scenario.to_string(),
                link: name.to_string(),
            });
            let link = step.link.clone();
            let ctx = ctx.clone();
            let progress = Progress::default();
            in_flight.insert(name, (Instant::now(), progress.clone()));
            let handle = running.spawn(progress.scope(async move {
                let t0 = Instant::now();
                let check = match tokio::time::timeout(link_deadline, link.check(&ctx)).await {
                    Ok(c) => c,
                    Err(_) => Check::fail(
                        format!(
                            "the check did not finish within {}",
                            Deadline::new("link", link_deadline)
                        ),
                        "something it waits on hangs: see the evidence of the links before it",
                    ),
                };
                (name, check, t0.elapsed())
            }));
            task_links.insert(handle.id(), name);
        }
        if started.len() == links.len() && running.is_empty() {
            break;
        }
        let joined = tokio::select! {
            joined = running.join_next_with_id() => joined,
            _ = progress_tick.tick() => {
                report_progress(scenario, &names, &in_flight, link_deadline, events);
                continue;
            }
        };
        match joined {
            Some(Ok((_, (name, check, duration)))) => {
                in_flight.remove(&name);
                let step = links
                    .iter()
                    .find(|l| l.id == name)
                    .expect("ran a known link");
                finish(&mut results, name, to_result(step, check, duration));
            }
            Some(Err(join_err)) => {
                // A panicking check is a harness bug; report it on its link, keep going.
                let name = task_links[&join_err.id()];
                in_flight.remove(&name);
                let step = links.iter().find(|l| l.id == name).expect("known");
                let check = Check::fail(
                    "internal error: the check panicked",
                    "this is a pipecheck bug: please report it with the evidence",
                )
                .with("panic", join_err.to_string());
                finish(&mut results, name, to_result(step, check, Duration::ZERO));
            }
            None => break,
        }
    }
    names.iter().filter_map(|n| results.remove(n)).collect()
}

/// A `LinkWaiting` for each link that has run for [`PROGRESS_EVERY`] or longer, in
/// chain order: what it waits for (when in a wait) and the time to the wait's deadline,
/// else to the link's own.
fn report_progress(
    scenario: &str,
    names: &[LinkId],
    in_flight: &HashMap<LinkId, (Instant, Progress)>,
    link_deadline: Duration,
    events: &UnboundedSender<RunEvent>,
) {
    let now = Instant::now();
    for name in names {
        let Some((since, progress)) = in_flight.get(name) else {
            continue;
        };
        let elapsed = now.saturating_duration_since(*since);
        if elapsed < PROGRESS_EVERY {
            continue;
        }
        let waiting = progress.current();
        let deadline_in = match &waiting {
            Some(w) => w.deadline_at.saturating_duration_since(now),
            None => link_deadline.saturating_sub(elapsed),
        };
        let _ = events.send(RunEvent::LinkWaiting {
            scenario: scenario.to_string(),
            link: name.to_string(),
            waiting_for: waiting.and_then(|w| w.what),
            elapsed,
            deadline_in,
        });
    }
}

fn to_result(step: &Step, c: Check, duration: Duration) -> LinkResult {
    LinkResult {
        name: step.id.to_string(),
        outcome: match c.status {
            Status::Pass => Outcome::Pass,
            Status::Warn => Outcome::Warn,
            Status::Fail => Outcome::Fail,
        },
        verdict: c.verdict,
        hint: c.hint,
        evidence: c.evidence,
        duration,
        depends_on: step.depends_on.iter().map(|d| d.to_string()).collect(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};
    use std::sync::Mutex;

    use super::*;
    use crate::amp_client::WriterBehaviour;
    use crate::canary::Canary;
    use crate::links::{BoxFuture, Deadlines, Facts, Link};
    use crate::scenario::CanarySpec;
    use crate::target::{MockAccess, Target};

    /// A link with a fixed status.
    struct Fake {
        status: Status,
        panics: bool,
    }

    impl Link for Fake {
        fn check<'a>(&'a self, _ctx: &'a RunContext) -> BoxFuture<'a, Check> {
            Box::pin(async move {
                assert!(!self.panics, "boom");
                Check {
                    status: self.status,
                    verdict: "fake".into(),
                    hint: None,
                    evidence: vec![],
                }
            })
        }
    }

    /// A step of link `id` with the graph's dependencies `deps` (any graph: the executor
    /// follows the steps, not the chain's own table).
    fn step(id: LinkId, deps: &'static [LinkId], link: impl Link + 'static) -> Step {
        Step {
            id,
            depends_on: deps,
            link: Arc::new(link),
        }
    }

    const A: LinkId = LinkId::AwsIdentity;
    const B: LinkId = LinkId::AmpWorkspace;
    const C: LinkId = LinkId::EksCluster;
    const D: LinkId = LinkId::IamOidcProvider;
    const E: LinkId = LinkId::K8sApi;

    /// A diamond: a; b, c -> a; d -> b, c; e -> d.
    const GRAPH: &[(LinkId, &[LinkId])] =
        &[(A, &[]), (B, &[A]), (C, &[A]), (D, &[B, C]), (E, &[D])];

    async fn context() -> Arc<RunContext> {
        // The fake links never call out; a real (idle) mock stack gives real clients.
        let stack = pipecheck_mocks::MockStack::start(pipecheck_mocks::MockConfig::default())
            .await
            .unwrap();
        let ep = stack.endpoints();
        let access = MockAccess {
            endpoints: ep,
            access_key_id: ep.user.access_key_id.clone(),
            secret_access_key: "s".into(),
        };
        let target = Target::mock(access).await.unwrap();
        let d = Duration::from_secs(1);
        Arc::new(RunContext {
            run_id: "t".into(),
            target,
            canary: Canary::new(
                "t",
                &CanarySpec::default(),
                0,
                crate::canary::Origin::Direct,
            ),
            writer: WriterBehaviour::default(),
            deadlines: Deadlines {
                arrival: d,
                workspace: d,
                request: d,
            },
            facts: Mutex::new(Facts::default()),
            collector: None,
            grafana: Default::default(),
            secrets: Default::default(),
            cluster: None,
            teardown: Default::default(),
        })
    }

    /// Every combination of pass/warn/fail over the diamond: a link runs exactly when all
    /// its ancestors passed or warned; otherwise it is blocked by a failed ancestor; the
    /// root causes are exactly the failed links that ran.
    #[tokio::test]
    async fn blocked_and_root_cause_follow_the_graph_for_every_outcome() {
        let ctx = context().await;
        let statuses = [Status::Pass, Status::Warn, Status::Fail];
        for combo in 0..3usize.pow(GRAPH.len() as u32) {
            let mut assigned = HashMap::new();
            let links: Vec<Step> = GRAPH
                .iter()
                .enumerate()
                .map(|(i, (id, deps))| {
                    let status = statuses[combo / 3usize.pow(i as u32) % 3];
                    assigned.insert(id.as_str(), status);
                    step(
                        *id,
                        deps,
                        Fake {
                            status,
                            panics: false,
                        },
                    )
                })
                .collect();
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
            let results = execute("s", links, ctx.clone(), Duration::from_secs(5), &tx).await;
            drop(tx);
            let mut finished = 0;
            while let Some(ev) = rx.recv().await {
                finished += matches!(ev, RunEvent::LinkFinished { .. }) as usize;
            }
            assert_eq!(finished, GRAPH.len());
            let names: Vec<&str> = results.iter().map(|r| r.name.as_str()).collect();
            assert_eq!(
                names,
                GRAPH.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>()
            );

            // Expected: a link runs iff no ancestor failed.
            let mut failed_ancestors: HashMap<&str, HashSet<&str>> = HashMap::new();
            let mut ran: HashSet<&str> = HashSet::new();
            for (id, deps) in GRAPH {
                let name = id.as_str();
                let mut anc = HashSet::new();
                for d in *deps {
                    let d = d.as_str();
                    anc.extend(failed_ancestors[d].iter().copied());
                    if ran.contains(d) && assigned[d] == Status::Fail {
                        anc.insert(d);
                    }
                }
                if anc.is_empty() {
                    ran.insert(name);
                }
                failed_ancestors.insert(name, anc);
            }
            for r in &results {
                let name = r.name.as_str();
                if ran.contains(name) {
                    let want = match assigned[name] {
                        Status::Pass => Outcome::Pass,
                        Status::Warn => Outcome::Warn,
                        Status::Fail => Outcome::Fail,
                    };
                    assert_eq!(r.outcome, want, "combo {combo} link {name}");
                } else {
                    let Outcome::Blocked { by } = &r.outcome else {
                        panic!(
                            "combo {combo}: {name} should be blocked, is {:?}",
                            r.outcome
                        )
                    };
                    assert!(
                        failed_ancestors[name].contains(by.as_str()),
                        "combo {combo}: {name} blocked by {by}"
                    );
                }
            }
            let mut roots = crate::chain::root_cause(&results);
            roots.sort();
            let mut want: Vec<String> = ran
                .iter()
                .filter(|n| assigned[*n] == Status::Fail)
                .map(|n| n.to_string())
                .collect();
            want.sort();
            assert_eq!(roots, want, "combo {combo}");
        }
    }

    #[tokio::test]
    async fn a_panicking_check_fails_its_own_link_and_blocks_its_dependents() {
        let ctx = context().await;
        let ok = || Fake {
            status: Status::Pass,
            panics: false,
        };
        let links = vec![
            step(A, &[], ok()),
            step(
                B,
                &[A],
                Fake {
                    status: Status::Pass,
                    panics: true,
                },
            ),
            step(C, &[A], ok()),
            step(D, &[B], ok()),
        ];
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        let results = execute("s", links, ctx, Duration::from_secs(5), &tx).await;
        assert_eq!(results[1].outcome, Outcome::Fail);
        assert!(results[1].verdict.contains("panicked"));
        assert_eq!(results[2].outcome, Outcome::Pass);
        assert_eq!(results[3].outcome, Outcome::Blocked { by: B.to_string() });
    }

    #[tokio::test]
    async fn a_hanging_check_is_cut_at_the_link_deadline() {
        struct Hang;
        impl Link for Hang {
            fn check<'a>(&'a self, _ctx: &'a RunContext) -> BoxFuture<'a, Check> {
                Box::pin(std::future::pending())
            }
        }
        let ctx = context().await;
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        let results = execute(
            "s",
            vec![step(A, &[], Hang)],
            ctx,
            Duration::from_millis(50),
            &tx,
        )
        .await;
        assert_eq!(results[0].outcome, Outcome::Fail);
        assert!(
            results[0]
                .verdict
                .contains("within the link deadline of 50 ms"),
            "{}",
            results[0].verdict
        );
    }

    /// A link waiting longer than a second is reported as waiting: what for (from its
    /// wait) and how long until that wait's deadline; a fast link never is.
    #[tokio::test]
    async fn a_slow_wait_is_reported_as_progress() {
        use crate::wait::{Probe, wait_for};
        struct Slow;
        impl Link for Slow {
            fn check<'a>(&'a self, _ctx: &'a RunContext) -> BoxFuture<'a, Check> {
                Box::pin(async {
                    let started = Instant::now();
                    wait_for(
                        "the canary",
                        Duration::from_secs(20),
                        Duration::from_millis(20),
                        || async move {
                            if started.elapsed() > Duration::from_millis(1300) {
                                Probe::Done(())
                            } else {
                                Probe::Pending(())
                            }
                        },
                    )
                    .await;
                    Check::pass("arrived")
                })
            }
        }
        let ctx = context().await;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let fast = Fake {
            status: Status::Pass,
            panics: false,
        };
        let links = vec![step(A, &[], Slow), step(B, &[], fast)];
        execute("s", links, ctx, Duration::from_secs(30), &tx).await;
        drop(tx);
        let mut waiting = Vec::new();
        while let Some(ev) = rx.recv().await {
            if let RunEvent::LinkWaiting {
                link,
                waiting_for,
                elapsed,
                deadline_in,
                ..
            } = ev
            {
                waiting.push((link, waiting_for, elapsed, deadline_in));
            }
        }
        assert!(!waiting.is_empty(), "no progress for a 1.3 s wait");
        for (link, what, elapsed, deadline_in) in &waiting {
            assert_eq!(link, A.as_str());
            assert_eq!(what.as_deref(), Some("the canary"));
            assert!(*elapsed >= PROGRESS_EVERY, "{elapsed:?}");
            assert!(
                *deadline_in < Duration::from_secs(20) && *deadline_in > Duration::from_secs(17),
                "{deadline_in:?}"
            );
        }
    }
}
