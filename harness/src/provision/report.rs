//! Provisioning in the run's report: two testcases, `provision.create` and
//! `provision.teardown`, beside the links, so a CI job's JUnit shows what was made and
//! whether it all went again (with the command for anything left behind).

use std::time::Duration;

use pipecheck_reports::{Evidence, LinkResult, Outcome};

use super::apply::{Deletion, ProvisionError, Provisioned};
use super::plan::Plan;

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

pub fn torn_down(deletions: &[Deletion], took: Duration) -> LinkResult {
    let lines: Vec<String> = deletions.iter().map(Deletion::line).collect();
    let left: Vec<&Deletion> = deletions.iter().filter(|d| d.result.is_err()).collect();
    let mut r = if left.is_empty() {
        case(
            TEARDOWN_CASE,
            Outcome::Pass,
            format!(
                "removed all {} resource(s) the run created: {}",
                deletions.len(),
                listed(
                    &deletions
                        .iter()
                        .map(|d| format!("{} {}", d.resource.kind(), d.resource.name()))
                        .collect::<Vec<_>>()
                )
            ),
            None,
        )
    } else {
        let commands: Vec<String> = left
            .iter()
            .map(|d| d.resource.delete_command(&d.region))
            .collect();
        case(
            TEARDOWN_CASE,
            Outcome::Fail,
            format!(
                "{} of {} resource(s) the run created could not be removed: {}",
                left.len(),
                deletions.len(),
                left.iter()
                    .map(|d| format!("{} {}", d.resource.kind(), d.resource.name()))
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
pub fn kept(p: &Provisioned, region: &str, run_id: &str) -> LinkResult {
    let commands: Vec<String> = p
        .created
        .iter()
        .rev()
        .map(|r| r.delete_command(region))
        .collect();
    let mut r = case(
        TEARDOWN_CASE,
        Outcome::Pass,
        format!(
            "kept (--keep): {} resource(s) tagged pipecheck-run={run_id}; remove them with `pipecheck sweep`",
            p.created.len()
        ),
        Some(format!(
            "remove them with `pipecheck sweep`, or: {}",
            commands.join(" ; ")
        )),
    );
    r.evidence.push(Evidence::new("kept", commands.join("\n")));
    r
}
