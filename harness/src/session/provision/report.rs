//! Provisioning in the run's report: two testcases, `provision.create` and
//! `provision.teardown`, beside the links, so a CI job's JUnit shows what was made and
//! whether it all went again (with the command for anything left behind).

use std::time::Duration;

use pipecheck_reports::{Evidence, LinkResult, Outcome};

use super::apply::{ProvisionError, Provisioned};
use super::plan::Plan;
use crate::chain::{Fate, Undone};

pub const CREATE_CASE: &str = "provision.create";
pub const TEARDOWN_CASE: &str = "provision.teardown";

fn case(name: &str, outcome: Outcome, verdict: String, hint: Option<String>) -> LinkResult {
    LinkResult {
        name: name.to_string(),
        outcome,
        verdict,
        hint,
        evidence: vec![],
        duration: Duration::ZERO,
        depends_on: vec![],
    }
}

/// Names for a verdict: comma-separated, or `none`.
fn listed(names: &[String]) -> String {
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}

pub fn created(
    plan: &Plan,
    result: &Result<Provisioned, ProvisionError>,
    took: Duration,
) -> LinkResult {
    let mut r = match result {
        Ok(p) => {
            let names: Vec<String> = p
                .created
                .iter()
                .map(|r| format!("{} {}", r.kind(), r.name()))
                .collect();
            let mut r = case(
                CREATE_CASE,
                Outcome::Pass,
                format!(
                    "created {} resource(s) tagged pipecheck-run={}: {}",
                    p.created.len(),
                    plan.tags.run_id,
                    listed(&names)
                ),
                None,
            );
            r.evidence.push(Evidence::new("created", names.join("\n")));
            r
        }
        Err(e) => case(
            CREATE_CASE,
            Outcome::Fail,
            crate::error_chain(e),
            Some(match e {
                ProvisionError::Call { code: Some(c), .. }
                    if c.contains("AccessDenied") || c.contains("UnauthorizedOperation") =>
                {
                    "the identity lacks a permission: attach policies/pipecheck-provision.json"
                        .into()
                }
                _ => {
                    "what was created before the failure is removed (see provision.teardown)".into()
                }
            }),
        ),
    };
    r.evidence.push(Evidence::new("plan", plan.render()));
    r.duration = took;
    r
}

/// The `provision.teardown` testcase from the unwound stack's provisioned part.
pub fn torn_down(undone: &[Undone], took: Duration) -> LinkResult {
    let lines: Vec<&str> = undone.iter().map(|u| u.line.as_str()).collect();
    let left: Vec<&Undone> = undone.iter().filter(|u| u.fate == Fate::Failed).collect();
    let mut r = if left.is_empty() {
        case(
            TEARDOWN_CASE,
            Outcome::Pass,
            format!(
                "removed all {} resource(s) the run created: {}",
                undone.len(),
                listed(&undone.iter().map(|u| u.what.clone()).collect::<Vec<_>>())
            ),
            None,
        )
    } else {
        let commands: Vec<&str> = left.iter().filter_map(|u| u.by_hand.as_deref()).collect();
        case(
            TEARDOWN_CASE,
            Outcome::Fail,
            format!(
                "{} of {} resource(s) the run created could not be removed: {}",
                left.len(),
                undone.len(),
                left.iter()
                    .map(|u| u.what.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Some(format!("delete them with: {}", commands.join(" ; "))),
        )
    };
    r.evidence.push(Evidence::new("teardown", lines.join("\n")));
    r.duration = took;
    r
}

/// `--keep`: nothing removed; the report says what stays and how to remove it.
pub fn kept(undone: &[Undone], run_id: &str) -> LinkResult {
    let commands: Vec<&str> = undone.iter().filter_map(|u| u.by_hand.as_deref()).collect();
    let mut r = case(
        TEARDOWN_CASE,
        Outcome::Pass,
        format!(
            "kept (--keep): {} resource(s) tagged pipecheck-run={run_id}; remove them with `pipecheck sweep`",
            undone.len()
        ),
        Some(format!(
            "remove them with `pipecheck sweep`, or: {}",
            commands.join(" ; ")
        )),
    );
    r.evidence.push(Evidence::new("kept", commands.join("\n")));
    r
}
