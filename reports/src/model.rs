//! The result model: plain data that the harness fills in and the renderers read.
//!
//! Nothing here knows about links, clients or targets; a harness converts its own
//! results into these types in one place. The serde shape is what `--format json`
//! prints, so durations are plain seconds (`duration_secs`) and outcomes are tagged
//! with a lowercase `status`.

use serde::{Serialize, Serializer};
use std::time::{Duration, SystemTime};

/// [`Property::ArrivalLatency`]'s name: how long the canary took to come back through
/// the query API, in whole milliseconds (absent when it never arrived).
pub const ARRIVAL_LATENCY_MS: &str = "arrival_latency_ms";

/// [`Property::LeftOut`]'s name: links a run left out of its graph, written
/// `link,link,...: reason`.
pub const LEFT_OUT: &str = "left_out";

/// One fact about a scenario's run beside its links: a JUnit `<property>`, a JSON
/// `{name, value}` pair, a line of the HTML report. Typed, so that no reader parses text
/// back; [`Property::name`] and [`Property::value`] are its one written form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Property {
    /// How long the canary took to come back through the query API.
    ArrivalLatency(Duration),
    /// Links left out of the graph (not checked at all), and why.
    LeftOut {
        links: Vec<String>,
        reason: String,
    },
    /// What the run's Grafana clean-up did, one line per object.
    GrafanaCleanup(Vec<String>),
    /// The account the run's credentials belong to.
    AccountId(String),
    /// The faults injected, `F05:remote-write-denied`.
    Faults(Vec<String>),
    /// What stopped the run before its end (`SIGINT`, a timeout).
    Interrupted(String),
    /// `pipecheck readiness`: the account's name in the accounts file.
    Account(String),
    /// `pipecheck readiness`: the timeout that stopped the account's run.
    TimedOut(String),
    /// `pipecheck readiness`: the scenario's links left out as not read-only.
    ReadOnlyLeftOut(Vec<String>),
    /// `pipecheck diagnose`: the files read.
    Files(Vec<String>),
    /// `pipecheck diagnose`: how many findings were errors, and warnings.
    Errors(usize),
    Warnings(usize),
}

impl Property {
    pub fn name(&self) -> &'static str {
        match self {
            Property::ArrivalLatency(_) => ARRIVAL_LATENCY_MS,
            Property::LeftOut { .. } => LEFT_OUT,
            Property::GrafanaCleanup(_) => "grafana_cleanup",
            Property::AccountId(_) => "account_id",
            Property::Faults(_) => "faults",
            Property::Interrupted(_) => "interrupted",
            Property::Account(_) => "account",
            Property::TimedOut(_) => "timed_out",
            Property::ReadOnlyLeftOut(_) => "read_only_left_out",
            Property::Files(_) => "files",
            Property::Errors(_) => "errors",
            Property::Warnings(_) => "warnings",
        }
    }

    pub fn value(&self) -> String {
        match self {
            Property::ArrivalLatency(d) => d.as_millis().to_string(),
            Property::LeftOut { links, reason } => format!("{}: {reason}", links.join(",")),
            Property::GrafanaCleanup(lines) => lines.join("; "),
            Property::Faults(items) | Property::ReadOnlyLeftOut(items) | Property::Files(items) => {
                items.join(",")
            }
            Property::AccountId(v)
            | Property::Interrupted(v)
            | Property::Account(v)
            | Property::TimedOut(v) => v.clone(),
            Property::Errors(n) | Property::Warnings(n) => n.to_string(),
        }
    }

    /// A copy with `f` applied to every text it holds (redaction).
    pub fn map_text(&self, f: impl Fn(&str) -> String) -> Property {
        let all = |v: &[String]| v.iter().map(|s| f(s)).collect();
        match self {
            Property::LeftOut { links, reason } => Property::LeftOut {
                links: all(links),
                reason: f(reason),
            },
            Property::GrafanaCleanup(v) => Property::GrafanaCleanup(all(v)),
            Property::Faults(v) => Property::Faults(all(v)),
            Property::ReadOnlyLeftOut(v) => Property::ReadOnlyLeftOut(all(v)),
            Property::Files(v) => Property::Files(all(v)),
            Property::AccountId(v) => Property::AccountId(f(v)),
            Property::Interrupted(v) => Property::Interrupted(f(v)),
            Property::Account(v) => Property::Account(f(v)),
            Property::TimedOut(v) => Property::TimedOut(f(v)),
            Property::ArrivalLatency(_) | Property::Errors(_) | Property::Warnings(_) => {
                self.clone()
            }
        }
    }
}

/// How one link ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum Outcome {
    Pass,
    /// Passed, but something deserves attention; does not fail the run.
    Warn,
    Fail,
    /// Not checked because a link it depends on failed.
    Blocked {
        /// The failed link this one waits on.
        by: String,
    },
    /// The run was stopped (SIGINT, SIGTERM) before this link finished: it was running,
    /// or had not started yet. Only partial reports of interrupted runs hold it.
    Interrupted {
        /// Whether its check had started.
        started: bool,
    },
}

impl Outcome {
    /// The word the console prints: `pass`, `warn`, `FAIL`, `blocked`.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Warn => "warn",
            Outcome::Fail => "FAIL",
            Outcome::Blocked { .. } => "blocked",
            Outcome::Interrupted { .. } => "stopped",
        }
    }

    /// Pass or warn: the link did its job.
    pub fn passed(&self) -> bool {
        matches!(self, Outcome::Pass | Outcome::Warn)
    }
}

/// One piece of what a link saw: a request and its answer, an object excerpt, log lines.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Evidence {
    /// Short name, e.g. `request`, `response`, `log`.
    pub label: String,
    /// The evidence itself; may span many lines.
    pub body: String,
}

impl Evidence {
    pub fn new(label: impl Into<String>, body: impl Into<String>) -> Self {
        Self {
            label: label.into(),
            body: body.into(),
        }
    }
}

/// The result of one link.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LinkResult {
    pub name: String,
    pub outcome: Outcome,
    /// One line saying what was found.
    pub verdict: String,
    /// How to fix it, when the link knows.
    pub hint: Option<String>,
    pub evidence: Vec<Evidence>,
    #[serde(rename = "duration_secs", serialize_with = "secs")]
    pub duration: Duration,
    pub depends_on: Vec<String>,
}

/// One scenario run on one target.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ScenarioReport {
    pub scenario: String,
    pub target: String,
    pub run_id: String,
    /// In graph order.
    pub links: Vec<LinkResult>,
    /// The failed links nothing failed before: the ones to fix first.
    pub root_cause: Vec<String>,
    #[serde(rename = "duration_secs", serialize_with = "secs")]
    pub duration: Duration,
    /// Extra facts about the run, e.g. arrival latency; kept in order.
    #[serde(serialize_with = "name_value_pairs")]
    pub properties: Vec<Property>,
}

/// How many links ended each way.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub pass: usize,
    pub warn: usize,
    pub fail: usize,
    pub blocked: usize,
    pub interrupted: usize,
}

impl ScenarioReport {
    /// True when every link passed or warned.
    ///
    /// A blocked link counts as not passed too: it is only ever blocked by a failure,
    /// and a report that says otherwise should not turn a run green.
    pub fn passed(&self) -> bool {
        self.links.iter().all(|l| l.outcome.passed())
    }

    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for link in &self.links {
            match link.outcome {
                Outcome::Pass => c.pass += 1,
                Outcome::Warn => c.warn += 1,
                Outcome::Fail => c.fail += 1,
                Outcome::Blocked { .. } => c.blocked += 1,
                Outcome::Interrupted { .. } => c.interrupted += 1,
            }
        }
        c
    }

    /// The link with this name, if the scenario has it.
    pub fn link(&self, name: &str) -> Option<&LinkResult> {
        self.links.iter().find(|l| l.name == name)
    }

    /// The first property `pick` takes.
    pub fn property<'a, T>(&'a self, pick: impl Fn(&'a Property) -> Option<T>) -> Option<T> {
        self.properties.iter().find_map(pick)
    }

    /// How long the canary took to arrive, where it was measured.
    pub fn arrival_latency(&self) -> Option<Duration> {
        self.property(|p| match p {
            Property::ArrivalLatency(d) => Some(*d),
            _ => None,
        })
    }

    /// The links this run left out of its graph and why: they were not checked at all,
    /// so no result stands for them.
    pub fn left_out(&self) -> Option<(Vec<&str>, &str)> {
        self.property(|p| match p {
            Property::LeftOut { links, reason } => {
                Some((links.iter().map(String::as_str).collect(), reason.as_str()))
            }
            _ => None,
        })
    }
}

/// Everything one invocation ran.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RunReport {
    pub suites: Vec<ScenarioReport>,
}

impl RunReport {
    /// How these results end the process: success when every suite passed (warnings
    /// allowed), else failure. (`Unusable`, a run that could not start, is the CLI's.)
    pub fn exit(&self) -> crate::Exit {
        crate::Exit::failure_if(!self.suites.iter().all(ScenarioReport::passed))
    }
}

/// How an invocation of `pipecheck run` ended, as the reports state it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Every link passed or warned (exit 0).
    Pass,
    /// A link failed (exit 1).
    Fail,
    /// Stopped by Ctrl-C or SIGTERM (exit 130); the reports hold the finished scenarios.
    Interrupted,
}

impl RunStatus {
    /// The status of `report`, or `Interrupted` when the run was stopped.
    pub fn of(report: &RunReport, interrupted: bool) -> Self {
        match (interrupted, report.exit()) {
            (true, _) => RunStatus::Interrupted,
            (false, crate::Exit::Success) => RunStatus::Pass,
            (false, _) => RunStatus::Fail,
        }
    }

    /// How this status ends the process.
    pub fn exit(self) -> crate::Exit {
        match self {
            RunStatus::Pass => crate::Exit::Success,
            RunStatus::Fail => crate::Exit::Failure,
            RunStatus::Interrupted => crate::Exit::Interrupted,
        }
    }
}

/// What the reports say about the invocation as a whole, beside its [`RunReport`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunInfo {
    /// `mock` or `aws`.
    pub target: String,
    /// When the invocation started (wall clock).
    pub started: SystemTime,
    /// From start to the moment the reports were rendered.
    pub duration: Duration,
    pub status: RunStatus,
}

/// What the executor emits while running; renderers consume these (the executor never prints).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum RunEvent {
    ScenarioStarted {
        scenario: String,
        target: String,
        run_id: String,
        /// How many links the scenario will report.
        links: usize,
        /// Their names, in graph order: a partial report of an interrupted run lists
        /// the ones that never finished.
        link_names: Vec<String>,
    },
    LinkStarted {
        scenario: String,
        link: String,
    },
    /// A running link is still waiting; sent about once a second while it waits, so a
    /// console can show what a slow run is doing.
    LinkWaiting {
        scenario: String,
        link: String,
        /// What it waits for, e.g. `the canary to come back through the query API`;
        /// `None` when the link did not say.
        waiting_for: Option<String>,
        /// How long the link has run.
        #[serde(rename = "elapsed_secs", serialize_with = "secs")]
        elapsed: Duration,
        /// How long until it gives up waiting (its deadline).
        #[serde(rename = "deadline_in_secs", serialize_with = "secs")]
        deadline_in: Duration,
    },
    LinkFinished {
        scenario: String,
        result: LinkResult,
    },
    ScenarioFinished(ScenarioReport),
}

fn secs<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

fn name_value_pairs<S: Serializer>(properties: &[Property], s: S) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct Pair {
        name: &'static str,
        value: String,
    }
    s.collect_seq(properties.iter().map(|p| Pair {
        name: p.name(),
        value: p.value(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(name: &str, outcome: Outcome) -> LinkResult {
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

    fn scenario(links: Vec<LinkResult>) -> ScenarioReport {
        ScenarioReport {
            scenario: "smoke".into(),
            target: "mock".into(),
            run_id: "r1".into(),
            links,
            root_cause: vec![],
            duration: Duration::ZERO,
            properties: vec![],
        }
    }

    #[test]
    fn json_shape() {
        let mut failed = link("amp.remote_write", Outcome::Fail);
        failed.verdict = "rejected: 403".into();
        failed.hint = Some("grant aps:RemoteWrite".into());
        failed.evidence = vec![Evidence::new("response", "403 Forbidden")];
        failed.duration = Duration::from_millis(1500);
        failed.depends_on = vec!["amp.workspace".into()];
        let mut report = scenario(vec![
            failed.clone(),
            link(
                "amp.query",
                Outcome::Blocked {
                    by: "amp.remote_write".into(),
                },
            ),
        ]);
        report.root_cause = vec!["amp.remote_write".into()];
        report.properties = vec![Property::ArrivalLatency(Duration::from_millis(1200))];
        let events = [
            RunEvent::ScenarioStarted {
                scenario: "smoke".into(),
                target: "mock".into(),
                run_id: "r1".into(),
                links: 2,
                link_names: vec!["amp.remote_write".into(), "amp.query".into()],
            },
            RunEvent::LinkStarted {
                scenario: "smoke".into(),
                link: "amp.remote_write".into(),
            },
            RunEvent::LinkFinished {
                scenario: "smoke".into(),
                result: failed,
            },
            RunEvent::ScenarioFinished(report),
        ];
        insta::assert_snapshot!(
            "json_events",
            serde_json::to_string_pretty(&events).unwrap()
        );
    }

    #[test]
    fn labels() {
        assert_eq!(Outcome::Pass.label(), "pass");
        assert_eq!(Outcome::Warn.label(), "warn");
        assert_eq!(Outcome::Fail.label(), "FAIL");
        assert_eq!(Outcome::Blocked { by: "a".into() }.label(), "blocked");
    }

    #[test]
    fn warnings_pass_failures_and_blocks_do_not() {
        assert!(scenario(vec![link("a", Outcome::Pass), link("b", Outcome::Warn)]).passed());
        assert!(!scenario(vec![link("a", Outcome::Fail)]).passed());
        assert!(!scenario(vec![link("a", Outcome::Blocked { by: "x".into() })]).passed());
    }

    #[test]
    fn exit_codes() {
        let ok = scenario(vec![link("a", Outcome::Warn)]);
        let bad = scenario(vec![link("a", Outcome::Pass), link("b", Outcome::Fail)]);
        assert_eq!(
            RunReport {
                suites: vec![ok.clone()]
            }
            .exit(),
            crate::Exit::Success
        );
        assert_eq!(
            RunReport {
                suites: vec![ok, bad]
            }
            .exit(),
            crate::Exit::Failure
        );
        assert_eq!(RunReport::default().exit(), crate::Exit::Success);
        assert_eq!(RunStatus::Interrupted.exit().code(), 130);
    }

    #[test]
    fn counts() {
        let s = scenario(vec![
            link("a", Outcome::Pass),
            link("b", Outcome::Fail),
            link("c", Outcome::Blocked { by: "b".into() }),
            link("d", Outcome::Blocked { by: "b".into() }),
            link("e", Outcome::Warn),
        ]);
        assert_eq!(
            s.counts(),
            Counts {
                pass: 1,
                warn: 1,
                fail: 1,
                blocked: 2,
                interrupted: 0
            }
        );
        assert_eq!(s.link("c").unwrap().name, "c");
        assert!(s.link("zz").is_none());
    }
}
