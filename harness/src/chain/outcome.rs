//! How the graph's results read: a link whose dependency failed (or was itself blocked)
//! is blocked by the failed link, not run; the root causes are the failed links, since
//! their dependents are blocked, never failed.

use pipecheck_reports::{LinkResult, Outcome};

/// The failed link a result stands for, if it failed or was blocked.
pub fn blocker_of(r: &LinkResult) -> Option<String> {
    match &r.outcome {
        Outcome::Fail => Some(r.name.clone()),
        Outcome::Blocked { by } => Some(by.clone()),
        _ => None,
    }
}

/// The root causes: every failed link.
pub fn root_cause(results: &[LinkResult]) -> Vec<String> {
    results
        .iter()
        .filter(|r| r.outcome == Outcome::Fail)
        .map(|r| r.name.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn result(name: &str, outcome: Outcome) -> LinkResult {
        LinkResult {
            name: name.into(),
            outcome,
            verdict: String::new(),
            hint: None,
            evidence: vec![],
            duration: Duration::ZERO,
            depends_on: vec![],
        }
    }

    #[test]
    fn a_blocked_link_points_at_the_failure_not_at_itself() {
        let failed = result("amp.remote_write", Outcome::Fail);
        let blocked = result(
            "amp.query",
            Outcome::Blocked {
                by: "amp.remote_write".into(),
            },
        );
        let passed = result("aws.identity", Outcome::Pass);
        assert_eq!(blocker_of(&failed).as_deref(), Some("amp.remote_write"));
        assert_eq!(blocker_of(&blocked).as_deref(), Some("amp.remote_write"));
        assert_eq!(blocker_of(&passed), None);
        assert_eq!(root_cause(&[passed, failed, blocked]), ["amp.remote_write"]);
    }
}
