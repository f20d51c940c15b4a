//! Runs a scenario's links as a dependency graph: every link whose dependencies passed
//! (or warned) runs, independent links concurrently; a link whose dependency failed or
//! was blocked is not run but marked blocked by the failed link. The failed links are
//! the root causes. The executor never prints: it emits `RunEvent`s.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pipecheck_reports::{LinkResult, Outcome, RunEvent};
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinSet;

use crate::links::{Check, Link, RunContext, Status};

/// Runs `links` (in chain order, dependencies first) and returns their results in that
/// order. Each link is cut off after `link_deadline`, so a hung check cannot hang the run.
pub async fn execute(
    scenario: &str,
    links: Vec<Arc<dyn Link>>,
    ctx: Arc<RunContext>,
    link_deadline: Duration,
    events: &UnboundedSender<RunEvent>,
) -> Vec<LinkResult> {
    let mut results: HashMap<&'static str, LinkResult> = HashMap::new();
    let mut running: JoinSet<(&'static str, Check, Duration)> = JoinSet::new();
    let mut started: Vec<&'static str> = Vec::new();
    let mut task_links: HashMap<tokio::task::Id, &'static str> = HashMap::new();
    let names: Vec<&'static str> = links.iter().map(|l| l.name()).collect();
    let finish = |results: &mut HashMap<&'static str, LinkResult>, r: LinkResult| {
        let _ = events.send(RunEvent::LinkFinished { scenario: scenario.to_string(), result: r.clone() });
        results.insert(names.iter().find(|n| **n == r.name).copied().expect("known link"), r);
    };

    loop {
        // Start or block every link whose dependencies have all finished.
        for link in &links {
            let name = link.name();
            if started.contains(&name) {
                continue;
            }
            let deps: Vec<&LinkResult> = link.depends_on().iter().filter_map(|d| results.get(d)).collect();
            let in_graph = link.depends_on().iter().filter(|d| names.contains(d)).count();
            if deps.len() < in_graph {
                continue;
            }
            started.push(name);
            if let Some(blocker) = deps.iter().find_map(|d| blocker_of(d)) {
                finish(
                    &mut results,
                    LinkResult {
                        name: name.to_string(),
                        outcome: Outcome::Blocked { by: blocker.clone() },
                        verdict: format!("blocked by {blocker}"),
                        hint: None,
                        evidence: vec![],
                        duration: Duration::ZERO,
                        depends_on: link.depends_on().iter().map(|d| d.to_string()).collect(),
                    },
                );
                continue;
            }
            let _ = events.send(RunEvent::LinkStarted { scenario: scenario.to_string(), link: name.to_string() });
            let link = link.clone();
            let ctx = ctx.clone();
            let handle = running.spawn(async move {
                let t0 = Instant::now();
                let check = match tokio::time::timeout(link_deadline, link.check(&ctx)).await {
                    Ok(c) => c,
                    Err(_) => Check::fail(
                        format!("the check did not finish within its deadline of {link_deadline:?}"),
                        "something it waits on hangs: see the evidence of the links before it",
                    ),
                };
                (link.name(), check, t0.elapsed())
            });
            task_links.insert(handle.id(), name);
        }
        if started.len() == links.len() && running.is_empty() {
            break;
        }
        match running.join_next_with_id().await {
            Some(Ok((_, (name, check, duration)))) => {
                let link = links.iter().find(|l| l.name() == name).expect("ran a known link");
                finish(&mut results, to_result(link.as_ref(), check, duration));
            }
            Some(Err(join_err)) => {
                // A panicking check is a harness bug; report it on its link, keep going.
                let name = task_links[&join_err.id()];
                let link = links.iter().find(|l| l.name() == name).expect("known");
                let check = Check::fail("internal error: the check panicked", "this is a pipecheck bug: please report it with the evidence")
                    .with("panic", join_err.to_string());
                finish(&mut results, to_result(link.as_ref(), check, Duration::ZERO));
            }
            None => break,
        }
    }
    names.iter().filter_map(|n| results.remove(n)).collect()
}

/// The failed link a result stands for, if it failed or was blocked.
fn blocker_of(r: &LinkResult) -> Option<String> {
    match &r.outcome {
        Outcome::Fail => Some(r.name.clone()),
        Outcome::Blocked { by } => Some(by.clone()),
        _ => None,
    }
}

fn to_result(link: &dyn Link, c: Check, duration: Duration) -> LinkResult {
    LinkResult {
        name: link.name().to_string(),
        outcome: match c.status {
            Status::Pass => Outcome::Pass,
            Status::Warn => Outcome::Warn,
            Status::Fail => Outcome::Fail,
        },
        verdict: c.verdict,
        hint: c.hint,
        evidence: c.evidence,
        duration,
        depends_on: link.depends_on().iter().map(|d| d.to_string()).collect(),
    }
}

/// The root causes: every failed link (dependents of a failure are blocked, not failed).
pub fn root_cause(results: &[LinkResult]) -> Vec<String> {
    results.iter().filter(|r| r.outcome == Outcome::Fail).map(|r| r.name.clone()).collect()
}
