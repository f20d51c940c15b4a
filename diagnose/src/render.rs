//! Output: text for a person (grouped by file, ordered by line), versioned JSON, and the
//! JUnit report through `pipecheck_reports` (one testsuite, one testcase per check).
//!
//! Everything rendered here has been redacted already ([`super::secrets`]).

use std::fmt::Write as _;
use std::time::Duration;

use pipecheck_reports::{Evidence, LinkResult, Outcome, Property, RunReport, ScenarioReport};
use serde::Serialize;

use super::finding::{CHECKS, Check, Finding, Needs, Severity};
use super::inputs::Role;

/// The version of the `--format json` document; bumped when a field changes meaning or
/// goes away (adding fields does not bump it).
pub const JSON_VERSION: u32 = 1;

const RESET: &str = "\x1b[0m";
const BOLD: &str = "\x1b[1m";
const RED: &str = "\x1b[1;31m";
const YELLOW: &str = "\x1b[33m";
const DIM: &str = "\x1b[2m";

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub errors: usize,
    pub warnings: usize,
    pub info: usize,
}

pub(crate) fn summary(findings: &[Finding]) -> Summary {
    let mut s = Summary::default();
    for f in findings {
        match f.severity {
            Severity::Error => s.errors += 1,
            Severity::Warning => s.warnings += 1,
            Severity::Info => s.info += 1,
        }
    }
    s
}

/// One file checked, for the outputs.
pub(crate) struct FileRef {
    pub name: String,
    pub role: Role,
}

/// Control characters from the user's files must not reach a terminal: shown as `\u{..}`.
fn clean(s: &str, keep_newlines: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if (c == '\n' && keep_newlines) || !c.is_control() {
            out.push(c);
        } else {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
    }
    out
}

fn paint(color: bool, style: &str, text: &str) -> String {
    if color {
        format!("{style}{text}{RESET}")
    } else {
        text.to_string()
    }
}

/// The text report. `findings` are sorted (file order, then line and column).
pub(crate) fn text(files: &[FileRef], findings: &[Finding], color: bool) -> String {
    let mut out = String::new();
    for file in files {
        let mine: Vec<&Finding> = findings.iter().filter(|f| f.file == file.name).collect();
        let name = clean(&file.name, false);
        if mine.is_empty() {
            let _ = writeln!(
                out,
                "{} {}",
                paint(color, BOLD, &name),
                paint(color, DIM, &format!("({}): no findings", file.role.flag()))
            );
            continue;
        }
        let _ = writeln!(
            out,
            "{} {}",
            paint(color, BOLD, &name),
            paint(color, DIM, &format!("({})", file.role.flag()))
        );
        for f in mine {
            let (style, label) = match f.severity {
                Severity::Error => (RED, "error"),
                Severity::Warning => (YELLOW, "warning"),
                Severity::Info => (DIM, "info"),
            };
            let place = format!("{}:{}", f.line, f.column);
            let _ = writeln!(
                out,
                "  {place:<8} {} {}  {}",
                paint(color, style, &format!("{label:<7}")),
                paint(color, BOLD, f.id),
                clean(
                    if f.key_path.is_empty() {
                        "(document)"
                    } else {
                        &f.key_path
                    },
                    false
                )
            );
            let pad = " ".repeat(11);
            let _ = writeln!(out, "{pad}{}", clean(&f.message, false));
            let _ = writeln!(out, "{pad}fix: {}", clean(&f.fix, false));
            if let Some(snippet) = &f.snippet {
                for line in clean(snippet, true).lines() {
                    let _ = writeln!(out, "{pad}  {line}");
                }
            }
        }
    }
    let s = summary(findings);
    let counts = format!(
        "{} error{}, {} warning{}, {} info",
        s.errors,
        if s.errors == 1 { "" } else { "s" },
        s.warnings,
        if s.warnings == 1 { "" } else { "s" },
        s.info
    );
    let failed: Vec<&str> = CHECKS
        .iter()
        .filter(|c| {
            findings
                .iter()
                .any(|f| f.id == c.id && f.severity == Severity::Error)
        })
        .map(|c| c.id)
        .collect();
    let line = if s.errors > 0 {
        paint(
            color,
            RED,
            &format!(
                "result: FAIL ({counts}; failed checks: {})",
                failed.join(", ")
            ),
        )
    } else {
        paint(color, BOLD, &format!("result: pass ({counts})"))
    };
    let _ = writeln!(out, "{line}");
    out
}

#[derive(Serialize)]
struct JsonFile<'a> {
    path: &'a str,
    role: &'static str,
}

#[derive(Serialize)]
struct JsonReport<'a> {
    version: u32,
    files: Vec<JsonFile<'a>>,
    findings: &'a [Finding],
    summary: Summary,
}

/// The `--format json` document:
/// `{"version":1,"files":[{"path","role"}],"findings":[{"id","severity","file","line","column","key_path","message","fix","snippet"}],"summary":{"errors","warnings","info"}}`.
pub(crate) fn json(files: &[FileRef], findings: &[Finding]) -> String {
    let report = JsonReport {
        version: JSON_VERSION,
        files: files
            .iter()
            .map(|f| JsonFile {
                path: &f.name,
                role: match f.role {
                    Role::HelmValues => "helm-values",
                    Role::TrustPolicy => "trust-policy",
                    Role::PermissionPolicy => "permission-policy",
                    Role::CollectorConfig => "collector-config",
                    Role::Crd => "crd",
                    Role::GrafanaDatasource => "grafana-datasource",
                    Role::Auto => "auto",
                },
            })
            .collect(),
        findings,
        summary: summary(findings),
    };
    let mut s = serde_json::to_string_pretty(&report).expect("findings serialize");
    s.push('\n');
    s
}

/// Whether a check had anything to read (`collector_image`: `--collector-image` was given).
fn applies(check: &Check, files: &[FileRef], collector_image: bool) -> bool {
    // A positional file may be of any kind.
    let has = |r: Role| files.iter().any(|f| f.role == r || f.role == Role::Auto);
    match check.needs {
        Needs::HelmValues => has(Role::HelmValues),
        Needs::Writer => has(Role::HelmValues) || has(Role::CollectorConfig),
        Needs::TrustPolicy => has(Role::TrustPolicy),
        Needs::CollectorConfig => has(Role::CollectorConfig),
        Needs::PermissionPolicy => has(Role::PermissionPolicy),
        Needs::Policy => has(Role::TrustPolicy) || has(Role::PermissionPolicy),
        Needs::Any => !files.is_empty(),
        Needs::TwoFiles => files.len() > 1,
        Needs::CollectorImage => has(Role::CollectorConfig) && collector_image,
        Needs::Crd => has(Role::HelmValues) && has(Role::Crd),
        Needs::GrafanaDatasource => has(Role::GrafanaDatasource),
    }
}

fn evidence(f: &Finding) -> Evidence {
    let mut body = format!(
        "{} {}",
        f.severity.label(),
        if f.key_path.is_empty() {
            "(document)"
        } else {
            &f.key_path
        }
    );
    let _ = write!(body, "\n{}\nfix: {}", f.message, f.fix);
    if let Some(s) = &f.snippet {
        let _ = write!(body, "\n{s}");
    }
    Evidence::new(format!("{}:{}:{}", f.file, f.line, f.column), body)
}

/// The JUnit model: suite `diagnose@files`, one testcase per check. A check with error
/// findings fails (message: the first error; every finding as evidence), one with only
/// warnings passes with them in `<system-out>`.
pub(crate) fn junit_report(
    files: &[FileRef],
    collector_image: bool,
    findings: &[Finding],
    elapsed: Duration,
) -> RunReport {
    let mut links = Vec::new();
    let mut root_cause = Vec::new();
    for check in CHECKS {
        let mine: Vec<&Finding> = findings.iter().filter(|f| f.id == check.id).collect();
        let errors: Vec<&&Finding> = mine
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .collect();
        let warnings = mine
            .iter()
            .filter(|f| f.severity == Severity::Warning)
            .count();
        let (outcome, verdict, hint) = if let Some(first) = errors.first() {
            root_cause.push(check.id.to_string());
            let verdict = if errors.len() == 1 {
                format!("{}:{}: {}", first.file, first.line, first.message)
            } else {
                format!(
                    "{} errors; first: {}:{}: {}",
                    errors.len(),
                    first.file,
                    first.line,
                    first.message
                )
            };
            (Outcome::Fail, verdict, Some(first.fix.clone()))
        } else if warnings > 0 {
            let first = mine
                .iter()
                .find(|f| f.severity == Severity::Warning)
                .expect("a warning");
            (
                Outcome::Warn,
                format!("{}:{}: {}", first.file, first.line, first.message),
                Some(first.fix.clone()),
            )
        } else if applies(check, files, collector_image) {
            (Outcome::Pass, format!("pass: {}", check.title), None)
        } else {
            (
                Outcome::Pass,
                format!("not checked (no input for it): {}", check.title),
                None,
            )
        };
        links.push(LinkResult {
            name: check.id.to_string(),
            outcome,
            verdict,
            hint,
            evidence: mine.iter().map(|f| evidence(f)).collect(),
            duration: Duration::ZERO,
            depends_on: Vec::new(),
        });
    }
    let s = summary(findings);
    RunReport {
        suites: vec![ScenarioReport {
            scenario: "diagnose".into(),
            target: "files".into(),
            run_id: "diagnose".into(),
            links,
            root_cause,
            duration: elapsed,
            properties: vec![
                Property::Files(files.iter().map(|f| f.name.clone()).collect()),
                Property::Errors(s.errors),
                Property::Warnings(s.warnings),
            ],
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::Pos;

    fn sample() -> (Vec<FileRef>, Vec<Finding>) {
        let files = vec![
            FileRef {
                name: "values.yaml".into(),
                role: Role::HelmValues,
            },
            FileRef {
                name: "trust.json".into(),
                role: Role::TrustPolicy,
            },
        ];
        let findings = vec![
            Finding::new(
                "L1",
                Severity::Error,
                "values.yaml",
                Pos { line: 4, column: 5 },
                "a.b",
                "bad \x1b[31m thing",
                "move it",
            )
            .snippet("a:\n  b: c"),
            Finding::new(
                "L3",
                Severity::Warning,
                "values.yaml",
                Pos { line: 9, column: 1 },
                "",
                "meh",
                "tweak",
            ),
        ];
        (files, findings)
    }

    #[test]
    fn text_groups_by_file_and_hides_control_characters() {
        let (files, findings) = sample();
        let out = text(&files, &findings, false);
        assert_eq!(
            out,
            "values.yaml (--helm-values)\n  4:5      error   L1  a.b\n           bad \\u{1b}[31m thing\n           fix: move it\n             a:\n               b: c\n  9:1      warning L3  (document)\n           meh\n           fix: tweak\ntrust.json (--trust-policy): no findings\nresult: FAIL (1 error, 1 warning, 0 info; failed checks: L1)\n"
        );
        let colored = text(&files, &findings, true);
        assert!(colored.contains("\x1b[1;31merror"));
        assert!(
            text(&files, &[], false).ends_with("result: pass (0 errors, 0 warnings, 0 info)\n")
        );
    }

    #[test]
    fn json_is_versioned() {
        let (files, findings) = sample();
        let v: serde_json::Value = serde_json::from_str(&json(&files, &findings)).unwrap();
        assert_eq!(v["version"], 1);
        assert_eq!(v["findings"][0]["id"], "L1");
        assert_eq!(v["findings"][0]["severity"], "error");
        assert_eq!(v["findings"][0]["line"], 4);
        assert_eq!(v["findings"][0]["key_path"], "a.b");
        assert_eq!(v["findings"][1]["snippet"], serde_json::Value::Null);
        assert_eq!(v["summary"]["errors"], 1);
        assert_eq!(v["files"][1]["role"], "trust-policy");
    }

    #[test]
    fn junit_has_a_case_per_check() {
        let (files, findings) = sample();
        let r = junit_report(&files, false, &findings, Duration::ZERO);
        let s = &r.suites[0];
        assert_eq!(s.links.len(), CHECKS.len());
        assert_eq!(s.root_cause, ["L1"]);
        assert_eq!(s.link("L1").unwrap().outcome, Outcome::Fail);
        assert_eq!(s.link("L3").unwrap().outcome, Outcome::Warn);
        assert!(s.link("L4").unwrap().verdict.starts_with("not checked"));
        assert!(s.link("L5").unwrap().verdict.starts_with("pass"));
        // L6 needs the image as well as a collector config.
        assert!(s.link("L6").unwrap().verdict.starts_with("not checked"));
        assert_eq!(r.exit(), pipecheck_reports::Exit::Failure);
    }
}
