//! The `--format json` document: the whole invocation as one JSON object, versioned by
//! [`SCHEMA_VERSION`] and described by `schema/report-v1.schema.json` beside this crate's
//! `Cargo.toml` (a test validates real output against it).
//!
//! The document is its own shape, not the model's serde shape: it names outcomes the way
//! other tools filter them (`status`, `blocked_by`), puts the root causes first, and
//! states times as seconds. `schema_version` changes only when a field changes meaning
//! or goes away; new fields may appear within a version.

use crate::model::{Evidence, LinkResult, Outcome, RunInfo, RunReport, RunStatus, ScenarioReport};
use serde::Serialize;
use std::time::SystemTime;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The document's `schema_version`; the schema file's `$id` and `version` say the same.
pub const SCHEMA_VERSION: u32 = 1;

/// The JSON document for `run`, pretty-printed, with a final newline.
pub fn render(run: &RunReport, info: &RunInfo) -> String {
    let doc = Document::new(run, info);
    // A document of strings, numbers and plain structs: serializing cannot fail.
    let mut text = serde_json::to_string_pretty(&doc)
        .unwrap_or_else(|e| format!("{{\"schema_version\":{SCHEMA_VERSION},\"error\":\"{e}\"}}"));
    text.push('\n');
    text
}

#[derive(Serialize)]
struct Document<'a> {
    schema_version: u32,
    run: Run<'a>,
    /// Every scenario's root causes, in scenario order: what to fix first.
    root_causes: Vec<RootCause<'a>>,
    scenarios: Vec<Scenario<'a>>,
}

#[derive(Serialize)]
struct Run<'a> {
    target: &'a str,
    /// RFC 3339, UTC.
    started: String,
    duration_secs: f64,
    status: RunStatus,
    exit_code: u8,
}

#[derive(Serialize)]
struct RootCause<'a> {
    scenario: &'a str,
    link: &'a str,
    verdict: &'a str,
    hint: Option<&'a str>,
}

#[derive(Serialize)]
struct Scenario<'a> {
    name: &'a str,
    target: &'a str,
    /// The id that labels this scenario run's canary series and resources.
    run_id: &'a str,
    status: &'static str,
    duration_secs: f64,
    root_causes: &'a [String],
    /// Null when the canary never arrived (or the scenario does not query it).
    arrival_latency_secs: Option<f64>,
    counts: crate::model::Counts,
    links: Vec<Link<'a>>,
    /// Links the run left out of its graph (not checked), with the reason.
    left_out: Vec<LeftOut<'a>>,
    /// Every extra fact of the run (`faults`, `grafana_cleanup`, …), in order.
    properties: Vec<Property>,
}

#[derive(Serialize)]
struct Link<'a> {
    name: &'a str,
    depends_on: &'a [String],
    status: &'static str,
    verdict: &'a str,
    hint: Option<&'a str>,
    evidence: &'a [Evidence],
    /// The failed link this one waited on, when blocked.
    blocked_by: Option<&'a str>,
    duration_secs: f64,
}

#[derive(Serialize)]
struct LeftOut<'a> {
    name: &'a str,
    reason: &'a str,
}

#[derive(Serialize)]
struct Property {
    name: &'static str,
    value: String,
}

impl<'a> Document<'a> {
    fn new(run: &'a RunReport, info: &'a RunInfo) -> Self {
        let root_causes = run
            .suites
            .iter()
            .flat_map(|s| {
                s.root_cause.iter().filter_map(move |name| {
                    let link = s.link(name)?;
                    Some(RootCause {
                        scenario: &s.scenario,
                        link: &link.name,
                        verdict: &link.verdict,
                        hint: link.hint.as_deref(),
                    })
                })
            })
            .collect();
        Document {
            schema_version: SCHEMA_VERSION,
            run: Run {
                target: &info.target,
                started: rfc3339(info.started),
                duration_secs: info.duration.as_secs_f64(),
                status: info.status,
                exit_code: info.status.exit().code(),
            },
            root_causes,
            scenarios: run.suites.iter().map(scenario).collect(),
        }
    }
}

fn scenario(s: &ScenarioReport) -> Scenario<'_> {
    Scenario {
        name: &s.scenario,
        target: &s.target,
        run_id: &s.run_id,
        status: scenario_status(s),
        duration_secs: s.duration.as_secs_f64(),
        root_causes: &s.root_cause,
        arrival_latency_secs: s.arrival_latency().map(|d| d.as_secs_f64()),
        counts: s.counts(),
        links: s.links.iter().map(link).collect(),
        left_out: s
            .left_out()
            .map(|(names, reason)| {
                names
                    .into_iter()
                    .map(|name| LeftOut { name, reason })
                    .collect()
            })
            .unwrap_or_default(),
        properties: s
            .properties
            .iter()
            .map(|p| Property {
                name: p.name(),
                value: p.value(),
            })
            .collect(),
    }
}

/// `pass`, `fail`, or `interrupted` for the partial report of a scenario that was stopped.
fn scenario_status(s: &ScenarioReport) -> &'static str {
    if s.links
        .iter()
        .any(|l| matches!(l.outcome, Outcome::Interrupted { .. }))
    {
        "interrupted"
    } else if s.passed() {
        "pass"
    } else {
        "fail"
    }
}

fn link(l: &LinkResult) -> Link<'_> {
    Link {
        name: &l.name,
        depends_on: &l.depends_on,
        status: status_word(&l.outcome),
        verdict: &l.verdict,
        hint: l.hint.as_deref(),
        evidence: &l.evidence,
        blocked_by: match &l.outcome {
            Outcome::Blocked { by } => Some(by),
            _ => None,
        },
        duration_secs: l.duration.as_secs_f64(),
    }
}

/// The lowercase outcome word the machine-readable reports use.
pub(crate) fn status_word(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Pass => "pass",
        Outcome::Warn => "warn",
        Outcome::Fail => "fail",
        Outcome::Blocked { .. } => "blocked",
        Outcome::Interrupted { .. } => "interrupted",
    }
}

/// `t` as RFC 3339 in UTC, to the second's fraction the clock gives.
fn rfc3339(t: SystemTime) -> String {
    OffsetDateTime::from(t)
        .format(&Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RunStatus;
    use crate::testdata;
    use std::time::Duration;

    pub(crate) fn info() -> RunInfo {
        RunInfo {
            target: "mock".into(),
            started: SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_170_000),
            duration: Duration::from_millis(1855),
            status: RunStatus::Fail,
        }
    }

    #[test]
    fn json_snapshot() {
        insta::assert_snapshot!("json_report", render(&testdata::run(), &info()));
    }

    #[test]
    fn root_causes_come_first_with_their_verdict_and_hint() {
        let doc: serde_json::Value =
            serde_json::from_str(&render(&testdata::run(), &info())).unwrap();
        assert_eq!(doc["schema_version"], 1);
        assert_eq!(doc["run"]["exit_code"], 1);
        assert_eq!(doc["run"]["status"], "fail");
        assert_eq!(doc["run"]["started"], "2025-11-26T15:13:20Z");
        let root = &doc["root_causes"][0];
        assert_eq!(root["scenario"], "adot-eks");
        assert_eq!(root["link"], "amp.remote_write");
        assert_eq!(
            root["verdict"],
            "remote write rejected: 403 AccessDeniedException"
        );
        assert!(root["hint"].as_str().unwrap().starts_with("give the"));
        let smoke = &doc["scenarios"][0];
        assert_eq!(smoke["arrival_latency_secs"], 1.2);
        assert_eq!(
            doc["scenarios"][1]["arrival_latency_secs"],
            serde_json::Value::Null
        );
        let blocked = &doc["scenarios"][1]["links"][3];
        assert_eq!(blocked["status"], "blocked");
        assert_eq!(blocked["blocked_by"], "amp.remote_write");
    }

    fn schema() -> serde_json::Value {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema/report-v1.schema.json");
        let text = std::fs::read_to_string(path).expect("the schema file is in the repo");
        serde_json::from_str(&text).expect("the schema is JSON")
    }

    fn validator() -> jsonschema::Validator {
        jsonschema::draft202012::new(&schema()).expect("the schema is a valid 2020-12 schema")
    }

    fn errors(doc: &serde_json::Value) -> Vec<String> {
        validator()
            .iter_errors(doc)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect()
    }

    #[test]
    fn schema_version_matches_the_code() {
        let schema = schema();
        assert_eq!(schema["version"], SCHEMA_VERSION);
        assert_eq!(
            schema["properties"]["schema_version"]["const"],
            SCHEMA_VERSION
        );
        let id = schema["$id"].as_str().unwrap();
        assert!(
            id.ends_with(&format!("/report-v{SCHEMA_VERSION}.schema.json")),
            "{id}"
        );
    }

    #[test]
    fn real_output_validates_against_the_schema() {
        let mut left_out = testdata::run();
        left_out.suites[0]
            .properties
            .push(crate::model::Property::LeftOut {
                links: vec!["amg.workspace".into()],
                reason: "no workspace".into(),
            });
        let mut passed = info();
        passed.status = RunStatus::Pass;
        let mut interrupted = info();
        interrupted.status = RunStatus::Interrupted;
        for (run, info) in [
            (testdata::run(), info()),
            (left_out, passed),
            (RunReport::default(), interrupted),
        ] {
            let doc: serde_json::Value = serde_json::from_str(&render(&run, &info)).unwrap();
            assert_eq!(errors(&doc), Vec::<String>::new());
        }
    }

    /// Breaks a valid document in one way.
    type Breaks = fn(&mut serde_json::Value);

    #[test]
    fn the_schema_rejects_broken_documents() {
        let good: serde_json::Value =
            serde_json::from_str(&render(&testdata::run(), &info())).unwrap();
        let broken: [(&str, Breaks); 5] = [
            ("no run", |d| {
                d.as_object_mut().unwrap().remove("run");
            }),
            ("other version", |d| d["schema_version"] = 2.into()),
            ("unknown status", |d| {
                d["scenarios"][0]["links"][0]["status"] = "skipped".into()
            }),
            ("blocked without blocker", |d| {
                d["scenarios"][1]["links"][3]["blocked_by"] = serde_json::Value::Null
            }),
            ("negative latency", |d| {
                d["scenarios"][0]["arrival_latency_secs"] = (-1.0).into()
            }),
        ];
        for (what, breaks) in broken {
            let mut doc = good.clone();
            breaks(&mut doc);
            assert!(!errors(&doc).is_empty(), "the schema accepted: {what}");
        }
    }

    #[test]
    fn a_stopped_scenario_is_interrupted_and_still_valid() {
        let mut run = testdata::run();
        run.suites[1].links[3].outcome = Outcome::Interrupted { started: true };
        let mut stopped = info();
        stopped.status = RunStatus::Interrupted;
        let doc: serde_json::Value = serde_json::from_str(&render(&run, &stopped)).unwrap();
        assert_eq!(errors(&doc), Vec::<String>::new());
        assert_eq!(doc["run"]["exit_code"], 130);
        assert_eq!(doc["scenarios"][0]["status"], "pass");
        assert_eq!(doc["scenarios"][1]["status"], "interrupted");
        assert_eq!(doc["scenarios"][1]["links"][3]["status"], "interrupted");
        assert_eq!(doc["scenarios"][1]["counts"]["interrupted"], 1);
    }

    #[test]
    fn left_out_links_are_listed_with_their_reason() {
        let mut run = testdata::run();
        run.suites[0]
            .properties
            .push(crate::model::Property::LeftOut {
                links: vec!["amg.workspace".into(), "grafana.api".into()],
                reason: "no workspace".into(),
            });
        let doc: serde_json::Value = serde_json::from_str(&render(&run, &info())).unwrap();
        let left = &doc["scenarios"][0]["left_out"];
        assert_eq!(left[1]["name"], "grafana.api");
        assert_eq!(left[1]["reason"], "no workspace");
        assert_eq!(doc["scenarios"][1]["left_out"], serde_json::json!([]));
    }
}
