//! The JUnit renderer, per the contract in the design's "Contracts" section:
//! one `<testsuite name="<scenario>@<target>">` per scenario with `run_id`, `target` and
//! `root_cause` properties, one `<testcase name="<link>" classname="pipecheck.<scenario>">`
//! per link; a failure carries the verdict as its message and the hint and evidence as
//! its text, a blocked link is skipped, a warning passes with its details in
//! `<system-out>`.
//!
//! Text is made XML-safe here rather than trusting quick-junit alone: ANSI color
//! sequences are dropped, and characters XML 1.0 cannot carry (NUL, other C0 controls,
//! U+FFFE, U+FFFF) are written as a visible `\u{..}` instead of vanishing silently.
//! Redaction is the caller's job.

use crate::file::{self, ReportFileError, ReportKind};
use crate::model::{Evidence, LinkResult, Outcome, RunReport, ScenarioReport};
use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};
use regex::Regex;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::LazyLock;
use thiserror::Error;

/// The `name` of the root `<testsuites>` element.
pub const REPORT_NAME: &str = "pipecheck";

#[derive(Debug, Error)]
pub enum JunitError {
    #[error("failed to serialize JUnit report")]
    Serialize {
        #[source]
        source: quick_junit::SerializeError,
    },
    /// The report could not be written, or (from [`check_writable`]) could not be
    /// written there, found before the run.
    #[error(transparent)]
    File(#[from] ReportFileError),
}

impl JunitError {
    /// The report path the error is about, if any.
    pub fn path(&self) -> Option<&Path> {
        match self {
            JunitError::Serialize { .. } => None,
            JunitError::File(e) => e.path(),
        }
    }
}

/// The JUnit XML for `report`.
pub fn render(report: &RunReport) -> Result<String, JunitError> {
    let mut junit = Report::new(REPORT_NAME);
    junit.set_time(report.suites.iter().map(|s| s.duration).sum());
    junit.add_test_suites(report.suites.iter().map(suite));
    junit
        .to_string()
        .map_err(|source| JunitError::Serialize { source })
}

/// Renders `report` and writes it to `path` (see [`file::write`]).
pub fn write(report: &RunReport, path: &Path) -> Result<(), JunitError> {
    let xml = render(report)?;
    Ok(file::write(ReportKind::Junit, path, xml.as_bytes())?)
}

/// Checks, before a run starts, that a JUnit report can be written to `path` (see
/// [`file::check_writable`]).
pub fn check_writable(path: &Path) -> Result<(), JunitError> {
    Ok(file::check_writable(ReportKind::Junit, path)?)
}

fn suite(report: &ScenarioReport) -> TestSuite {
    let mut suite = TestSuite::new(xml_line(&format!("{}@{}", report.scenario, report.target)));
    suite.set_time(report.duration);
    suite.add_property(Property::new("run_id", xml_line(&report.run_id)));
    suite.add_property(Property::new("target", xml_line(&report.target)));
    suite.add_property(Property::new(
        "root_cause",
        xml_line(&report.root_cause.join(",")),
    ));
    for p in &report.properties {
        suite.add_property(Property::new(xml_line(p.name()), xml_line(&p.value())));
    }
    let classname = xml_line(&format!("pipecheck.{}", report.scenario));
    suite.add_test_cases(report.links.iter().map(|link| case(link, &classname)));
    suite
}

fn case(link: &LinkResult, classname: &str) -> TestCase {
    let (status, system_out) = match &link.outcome {
        Outcome::Pass => (TestCaseStatus::success(), details(None, link)),
        Outcome::Warn => (TestCaseStatus::success(), details(Some("warning: "), link)),
        Outcome::Fail => {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            status.set_message(xml_line(&link.verdict));
            status.set_type(xml_line(&link.name));
            let text = hint_and_evidence(link);
            if !text.is_empty() {
                status.set_description(xml_text(&text));
            }
            (status, None)
        }
        // An error, not a failure: the link's check did not complete, so it says
        // nothing about the pipeline either way.
        Outcome::Interrupted { .. } => {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
            status.set_message(xml_line(&link.verdict));
            status.set_type("interrupted");
            (status, None)
        }
        Outcome::Blocked { by } => {
            let mut status = TestCaseStatus::skipped();
            status.set_message(xml_line(&format!("blocked by {by}")));
            let verdict = link.verdict.trim();
            (status, (!verdict.is_empty()).then(|| xml_text(verdict)))
        }
    };
    // The schema requires a non-empty name; a nameless link is a harness bug, but its
    // report should still load.
    let name = Some(xml_line(&link.name))
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "(unnamed)".to_string());
    let mut case = TestCase::new(name, status);
    case.set_classname(classname);
    case.set_time(link.duration);
    if let Some(out) = system_out {
        case.set_system_out(out);
    }
    case
}

/// Verdict, hint and evidence as text, or `None` when there is nothing to say.
fn details(prefix: Option<&str>, link: &LinkResult) -> Option<String> {
    let mut text = String::new();
    let verdict = link.verdict.trim();
    if !verdict.is_empty() || prefix.is_some() {
        let _ = writeln!(text, "{}{verdict}", prefix.unwrap_or(""));
    }
    text.push_str(&hint_and_evidence(link));
    let text = text.trim_end();
    (!text.is_empty()).then(|| xml_text(text))
}

/// `hint: ...`, then one `label: body` block per evidence item.
fn hint_and_evidence(link: &LinkResult) -> String {
    let mut text = String::new();
    if let Some(hint) = &link.hint {
        block(&mut text, "hint", hint);
    }
    for Evidence { label, body } in &link.evidence {
        block(&mut text, label, body);
    }
    text.trim_end().to_string()
}

/// `label: body` on one line, or `label:` and the body's lines indented below it.
fn block(text: &mut String, label: &str, body: &str) {
    let body = body.trim_end();
    if body.contains('\n') || body.contains('\r') {
        let _ = writeln!(text, "{label}:");
        for line in body.lines() {
            let _ = writeln!(text, "  {}", line.trim_end());
        }
    } else {
        let _ = writeln!(text, "{label}: {}", body.trim_start());
    }
}

static ANSI_SEQUENCE: LazyLock<Regex> = LazyLock::new(|| {
    // CSI (colors, cursor moves) and OSC (titles, hyperlinks) sequences.
    Regex::new(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")
        .expect("ANSI pattern compiles")
});

/// Text that XML 1.0 can carry as is: ANSI sequences dropped, `\r\n` made `\n`, tabs
/// made spaces, and every other control character (and U+FFFE, U+FFFF) shown as `\u{..}`.
pub(crate) fn xml_text(text: &str) -> String {
    let text = ANSI_SEQUENCE.replace_all(text, "");
    let text = text.replace("\r\n", "\n");
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        if ch == '\t' {
            // quick-junit's own filter drops tabs, which would glue log fields together.
            out.push_str("    ");
        } else if ch == '\n' || !(ch.is_control() || ch == '\u{fffe}' || ch == '\u{ffff}') {
            out.push(ch);
        } else {
            let _ = write!(out, "\\u{{{:x}}}", ch as u32);
        }
    }
    out
}

/// [`xml_text`] on one line, for attributes: line breaks and tabs become spaces
/// (an XML parser would turn them into spaces anyway).
fn xml_line(text: &str) -> String {
    let one_line = text
        .trim()
        .lines()
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ")
        .replace('\t', " ");
    xml_text(&one_line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata;
    use std::error::Error as _;
    use std::fs;

    fn files_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn junit_snapshot() {
        insta::assert_snapshot!("junit_run", render(&testdata::run()).unwrap());
    }

    #[test]
    fn contract_shape() {
        let xml = render(&testdata::run()).unwrap();
        assert!(
            xml.contains(
                r#"<testsuites name="pipecheck" tests="11" skipped="2" failures="1" errors="0""#
            ),
            "{xml}"
        );
        assert!(xml.contains(
            r#"<testsuite name="adot-eks@mock" tests="7" skipped="2" errors="0" failures="1""#
        ));
        assert!(xml.contains(r#"<property name="root_cause" value="amp.remote_write"/>"#));
        assert!(xml.contains(r#"<property name="root_cause" value=""/>"#));
        assert!(xml.contains(r#"<property name="run_id" value="7f3a9c2e"/>"#));
        assert!(xml.contains(
            r#"<testcase name="amp.remote_write" classname="pipecheck.adot-eks" time="0.060">"#
        ));
        assert!(xml.contains(r#"<failure message="remote write rejected: 403 AccessDeniedException" type="amp.remote_write">hint:"#));
        assert!(xml.contains(r#"<skipped message="blocked by amp.remote_write"/>"#));
        assert!(xml.contains("<system-out>warning: data source uses"));
    }

    #[test]
    fn root_cause_lists_every_link_comma_separated() {
        let mut run = testdata::run();
        run.suites[1].root_cause.push("iam.role_trust".into());
        let xml = render(&run).unwrap();
        assert!(
            xml.contains(
                r#"<property name="root_cause" value="amp.remote_write,iam.role_trust"/>"#
            )
        );
    }

    #[test]
    fn odd_characters_become_valid_xml() {
        let mut link = testdata::link(
            "x.y",
            Outcome::Fail,
            "bad <tag> & \"quote\"\nsecond line\u{0}",
        );
        link.evidence = vec![Evidence::new(
            "log",
            "\x1b[31mred\x1b[0m bell\x07 nul\u{0} \u{fffe} ]]> \r\nnext \u{9b}c1\tok é 🦀",
        )];
        let run = RunReport {
            suites: vec![testdata::scenario("s", vec![link], &["x.y"])],
        };
        let xml = render(&run).unwrap();
        assert!(
            xml.contains(r#"message="bad &lt;tag&gt; &amp; &quot;quote&quot; second line\u{0}""#),
            "{xml}"
        );
        assert!(
            xml.contains("red bell\\u{7} nul\\u{0} \\u{fffe} ]]&gt;\n  next \\u{9b}c1    ok é 🦀"),
            "{xml}"
        );
        let parsed = Report::deserialize_from_str(&xml).expect("output parses as JUnit");
        assert_eq!(parsed.test_suites[0].test_cases[0].name.as_str(), "x.y");
    }

    #[test]
    fn writes_atomically_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.xml");
        fs::write(&path, "old").unwrap();
        write(&testdata::run(), &path).unwrap();
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            render(&testdata::run()).unwrap()
        );
        assert_eq!(files_in(dir.path()), ["report.xml"]);
    }

    #[test]
    fn write_errors_name_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no-such-dir").join("r.xml");
        let err = write(&testdata::run(), &missing).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("failed to write JUnit report to {}", missing.display())
        );
        assert!(err.source().is_some());
        assert_eq!(err.path(), Some(missing.as_path()));

        let err = write(&testdata::run(), dir.path()).unwrap_err();
        assert!(matches!(
            err,
            JunitError::File(ReportFileError::Write { .. })
        ));
        assert_eq!(files_in(dir.path()), Vec::<String>::new());
    }

    #[test]
    fn check_writable_accepts_a_new_or_existing_file_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        check_writable(&dir.path().join("new.xml")).unwrap();
        assert_eq!(files_in(dir.path()), Vec::<String>::new());
        fs::write(dir.path().join("old.xml"), "x").unwrap();
        check_writable(&dir.path().join("old.xml")).unwrap();
        assert_eq!(files_in(dir.path()), ["old.xml"]);
    }

    #[test]
    fn check_writable_rejects_directories_and_missing_parents() {
        let dir = tempfile::tempdir().unwrap();
        let err = check_writable(dir.path()).unwrap_err();
        assert!(matches!(
            err,
            JunitError::File(ReportFileError::NotWritable { .. })
        ));
        assert_eq!(err.source().unwrap().to_string(), "the path is a directory");

        let missing = dir.path().join("nope").join("r.xml");
        let err = check_writable(&missing).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("failed to open JUnit report path"),
            "{err}"
        );
        assert!(err.source().unwrap().to_string().contains("does not exist"));
    }

    fn is_xml_char(c: char) -> bool {
        matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..)
    }

    proptest::proptest! {
        #[test]
        fn any_text_renders_as_parseable_xml(
            name in "\\PC{1,12}",
            verdict in "(?s).{0,40}",
            body in "(?s).{0,80}",
        ) {
            let mut link = testdata::link(&name, Outcome::Fail, &verdict);
            link.hint = Some(body.clone());
            link.evidence = vec![Evidence::new(body.clone(), body)];
            let mut warn = link.clone();
            warn.outcome = Outcome::Warn;
            let run = RunReport { suites: vec![testdata::scenario(&name, vec![link, warn], &[])] };
            let xml = render(&run).unwrap();
            proptest::prop_assert!(xml.chars().all(is_xml_char), "{xml:?}");
            let parsed = Report::deserialize_from_str(&xml);
            proptest::prop_assert!(parsed.is_ok(), "{parsed:?}\n{xml}");
            proptest::prop_assert_eq!(parsed.unwrap().test_suites[0].test_cases.len(), 2);
        }
    }
}
