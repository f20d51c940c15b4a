//! The console renderer: one line per link as it finishes, then a summary that leads
//! with the root cause, its hint and its evidence.
//!
//! It prints what it is given; redaction happens before (see `Redactor::redact_event`).
//! Text from outside (verdicts, evidence) has its control characters shown as `\u{..}`
//! so a captured log line cannot move the cursor or recolor the terminal.

use crate::model::{LinkResult, Outcome, RunEvent, ScenarioReport};
use std::fmt::Write as _;
use std::io::{self, Write};
use std::path::Path;
use std::time::Duration;

/// Evidence items shown per root cause; the JUnit report has them all.
const MAX_EVIDENCE: usize = 6;
/// Lines shown per evidence body.
const MAX_BODY_LINES: usize = 20;
/// Characters shown per evidence line.
const MAX_LINE_CHARS: usize = 300;
/// Link names are padded to this width so verdicts line up.
const NAME_WIDTH: usize = 22;
/// Width of the widest status word, `blocked`.
const STATUS_WIDTH: usize = 7;

const RESET: &str = "\x1b[0m";
const BOLD: &str = "\x1b[1m";
const GREEN: &str = "\x1b[32m";
const YELLOW: &str = "\x1b[33m";
const RED: &str = "\x1b[1;31m";
const DIM: &str = "\x1b[2m";

/// Renders [`RunEvent`]s as text for a person.
pub struct Console<W: Write> {
    out: W,
    color: bool,
}

impl<W: Write> Console<W> {
    /// `color`: whether to use ANSI colors; the caller decides (a terminal, no `NO_COLOR`).
    pub fn new(out: W, color: bool) -> Self {
        Self { out, color }
    }

    /// The writer back, e.g. the buffer a test rendered into.
    pub fn into_inner(self) -> W {
        self.out
    }

    pub fn on_event(&mut self, ev: &RunEvent) -> io::Result<()> {
        let text = match ev {
            RunEvent::ScenarioStarted {
                scenario,
                target,
                run_id,
                links,
                ..
            } => self.header(scenario, target, run_id, *links),
            RunEvent::LinkStarted { .. } => return Ok(()),
            RunEvent::LinkFinished { result, .. } => self.link_line(result),
            RunEvent::ScenarioFinished(report) => self.summary(report),
        };
        self.out.write_all(text.as_bytes())?;
        self.out.flush()
    }

    /// Tells where a report file went, e.g. `junit report: pipecheck-report.xml`.
    ///
    /// Best effort: the report itself is already written, so a console that cannot
    /// print this line (a closed pipe) is not an error worth failing the run for.
    pub fn report_written(&mut self, kind: &str, path: &Path) {
        let kind = clean_line(kind);
        // Accept "junit" and "junit report" alike.
        let suffix = if kind.ends_with("report") {
            ""
        } else {
            " report"
        };
        let line = format!(
            "{kind}{suffix}: {}\n",
            clean_line(&path.display().to_string())
        );
        let _ = self
            .out
            .write_all(line.as_bytes())
            .and_then(|()| self.out.flush());
    }

    fn paint(&self, style: &str, text: &str) -> String {
        if self.color {
            format!("{style}{text}{RESET}")
        } else {
            text.to_string()
        }
    }

    fn status_style(outcome: &Outcome) -> &'static str {
        match outcome {
            Outcome::Pass => GREEN,
            Outcome::Warn => YELLOW,
            Outcome::Fail => RED,
            Outcome::Blocked { .. } | Outcome::Interrupted { .. } => DIM,
        }
    }

    fn header(&self, scenario: &str, target: &str, run_id: &str, links: usize) -> String {
        let plural = if links == 1 { "" } else { "s" };
        let line = format!(
            "pipecheck run {} · scenario {} @ {} · {links} link{plural}",
            clean_line(run_id),
            clean_line(scenario),
            clean_line(target)
        );
        format!("{}\n", self.paint(BOLD, &line))
    }

    fn link_line(&self, link: &LinkResult) -> String {
        let label = link.outcome.label();
        let status = self.paint(Self::status_style(&link.outcome), label);
        let pad = " ".repeat(STATUS_WIDTH - label.len());
        let verdict = match &link.outcome {
            Outcome::Blocked { by } => format!("blocked by {}", clean_line(by)),
            _ => clean_line(&link.verdict),
        };
        let line = format!(
            "  {status}{pad} {:>7}  {:<NAME_WIDTH$} {verdict}",
            secs(link.duration),
            clean_line(&link.name),
        );
        format!("{}\n", line.trim_end())
    }

    fn summary(&self, report: &ScenarioReport) -> String {
        let mut s = String::from("\n");
        let failed: Vec<&str> = report
            .links
            .iter()
            .filter(|l| l.outcome == Outcome::Fail)
            .map(|l| l.name.as_str())
            .collect();
        // The harness names the root causes; should it not, every failure is one.
        let roots: Vec<&str> = if report.root_cause.is_empty() {
            failed.clone()
        } else {
            report.root_cause.iter().map(String::as_str).collect()
        };

        if report.passed() {
            let _ = writeln!(s, "result: {}", self.paint(GREEN, "PASS"));
        } else if roots.is_empty() {
            let _ = writeln!(s, "result: {}", self.paint(RED, "FAIL"));
        } else {
            let names = roots
                .iter()
                .map(|n| clean_line(n))
                .collect::<Vec<_>>()
                .join(", ");
            let _ = writeln!(
                s,
                "result: {} (root cause: {names})",
                self.paint(RED, "FAIL")
            );
        }
        let _ = writeln!(
            s,
            "links: {} · {}",
            counts_line(report),
            secs(report.duration)
        );

        for name in &roots {
            s.push('\n');
            match report.link(name) {
                Some(link) => self.root_cause(&mut s, link),
                None => {
                    let _ = writeln!(s, "{}: not in this report", clean_line(name));
                }
            }
        }

        let others: Vec<&LinkResult> = report
            .links
            .iter()
            .filter(|l| l.outcome == Outcome::Fail && !roots.contains(&l.name.as_str()))
            .collect();
        if !others.is_empty() {
            s.push_str("\nalso failed:\n");
            for link in others {
                let _ = writeln!(
                    s,
                    "  {}: {}",
                    clean_line(&link.name),
                    clean_line(&link.verdict)
                );
            }
        }

        let warnings: Vec<&LinkResult> = report
            .links
            .iter()
            .filter(|l| l.outcome == Outcome::Warn)
            .collect();
        if !warnings.is_empty() {
            let _ = writeln!(s, "\n{}", self.paint(YELLOW, "warnings:"));
            for link in warnings {
                let _ = writeln!(
                    s,
                    "  {}: {}",
                    clean_line(&link.name),
                    clean_line(&link.verdict)
                );
                if let Some(hint) = &link.hint {
                    push_block(&mut s, "    hint: ", "          ", hint);
                }
            }
        }
        s.push('\n');
        s
    }

    fn root_cause(&self, s: &mut String, link: &LinkResult) {
        let _ = writeln!(
            s,
            "{}: {}",
            self.paint(RED, &clean_line(&link.name)),
            clean_line(&link.verdict)
        );
        if let Some(hint) = &link.hint {
            push_block(s, "  hint: ", "        ", hint);
        }
        if link.evidence.is_empty() {
            return;
        }
        s.push_str("  evidence:\n");
        for ev in link.evidence.iter().take(MAX_EVIDENCE) {
            let label = clean_line(&ev.label);
            let lines: Vec<&str> = ev.body.lines().collect();
            if lines.len() <= 1 {
                let body = lines.first().copied().unwrap_or("");
                let _ = writeln!(s, "    {label}: {}", clip(&clean(body)));
                continue;
            }
            let _ = writeln!(s, "    {label}:");
            for line in lines.iter().take(MAX_BODY_LINES) {
                let _ = writeln!(s, "      {}", clip(&clean(line)).trim_end());
            }
            if lines.len() > MAX_BODY_LINES {
                let _ = writeln!(s, "      … ({} more lines)", lines.len() - MAX_BODY_LINES);
            }
        }
        if link.evidence.len() > MAX_EVIDENCE {
            let _ = writeln!(
                s,
                "    … ({} more evidence items not shown)",
                link.evidence.len() - MAX_EVIDENCE
            );
        }
    }
}

fn counts_line(report: &ScenarioReport) -> String {
    let c = report.counts();
    let parts: Vec<String> = [
        (c.pass, "pass"),
        (c.warn, "warn"),
        (c.fail, "FAIL"),
        (c.blocked, "blocked"),
        (c.interrupted, "stopped"),
    ]
    .into_iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, word)| format!("{n} {word}"))
    .collect();
    if parts.is_empty() {
        "none".to_string()
    } else {
        parts.join(", ")
    }
}

fn secs(d: Duration) -> String {
    format!("{:.2}s", d.as_secs_f64())
}

/// `first` before the first line of `text`, `rest` before each following line.
fn push_block(s: &mut String, first: &str, rest: &str, text: &str) {
    for (i, line) in text.lines().enumerate() {
        let prefix = if i == 0 { first } else { rest };
        let _ = writeln!(s, "{prefix}{}", clip(&clean(line)).trim_end());
    }
}

/// Control characters other than tab shown as `\u{..}`, so they cannot drive the terminal.
fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        if ch.is_control() && ch != '\t' {
            let _ = write!(out, "\\u{{{:x}}}", ch as u32);
        } else {
            out.push(ch);
        }
    }
    out
}

/// One line: line breaks become spaces, then [`clean`].
fn clean_line(text: &str) -> String {
    let joined = text
        .trim()
        .lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join(" ");
    clean(&joined)
}

fn clip(line: &str) -> String {
    let n = line.chars().count();
    if n <= MAX_LINE_CHARS {
        return line.to_string();
    }
    let head: String = line.chars().take(MAX_LINE_CHARS).collect();
    format!("{head}… ({} more chars)", n - MAX_LINE_CHARS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Evidence;
    use crate::testdata;

    fn render(color: bool, events: &[RunEvent]) -> String {
        let mut c = Console::new(Vec::new(), color);
        for ev in events {
            c.on_event(ev).unwrap();
        }
        c.report_written("junit", Path::new("pipecheck-report.xml"));
        String::from_utf8(c.into_inner()).unwrap()
    }

    #[test]
    fn console_snapshot() {
        insta::assert_snapshot!("console_run", render(false, &testdata::events()));
    }

    #[test]
    fn report_written_line() {
        for kind in ["junit", "junit report"] {
            let mut c = Console::new(Vec::new(), true);
            c.report_written(kind, Path::new("out/r.xml"));
            assert_eq!(
                String::from_utf8(c.into_inner()).unwrap(),
                "junit report: out/r.xml\n"
            );
        }
    }

    #[test]
    fn color_only_when_asked() {
        let events = testdata::events();
        assert!(!render(false, &events).contains('\x1b'));
        let colored = render(true, &events);
        assert!(colored.contains("\x1b[1;31mFAIL\x1b[0m"));
        assert!(colored.contains("\x1b[32mpass\x1b[0m"));
    }

    #[test]
    fn columns_line_up_with_and_without_color() {
        let strip = |s: &str| {
            let mut out = s.to_string();
            for code in [RESET, BOLD, GREEN, YELLOW, RED, DIM] {
                out = out.replace(code, "");
            }
            out
        };
        let events = testdata::events();
        assert_eq!(strip(&render(true, &events)), render(false, &events));
    }

    #[test]
    fn control_characters_cannot_reach_the_terminal() {
        let mut link = testdata::link("x.y", Outcome::Fail, "bad \x1b[2Jthing\r\nsecond");
        link.evidence = vec![Evidence::new("log", "a\x1b]0;title\x07\nb\x00c")];
        let report = testdata::scenario("s", vec![link.clone()], &["x.y"]);
        let out = render(
            false,
            &[
                RunEvent::LinkFinished {
                    scenario: "s".into(),
                    result: link,
                },
                RunEvent::ScenarioFinished(report),
            ],
        );
        assert!(!out.chars().any(|c| c.is_control() && c != '\n'), "{out:?}");
        assert!(out.contains("bad \\u{1b}[2Jthing second"), "{out}");
        assert!(out.contains("      b\\u{0}c"), "{out}");
    }

    #[test]
    fn long_evidence_is_truncated() {
        let mut link = testdata::link("x.y", Outcome::Fail, "bad");
        let body: Vec<String> = (1..=30).map(|i| format!("line {i}")).collect();
        link.evidence = (0..8)
            .map(|i| Evidence::new(format!("e{i}"), body.join("\n")))
            .collect();
        link.evidence[0].body = "y".repeat(400);
        let report = testdata::scenario("s", vec![link], &["x.y"]);
        let out = render(false, &[RunEvent::ScenarioFinished(report)]);
        assert!(out.contains("… (100 more chars)"), "{out}");
        assert!(
            out.contains("      line 20\n      … (10 more lines)\n"),
            "{out}"
        );
        assert!(!out.contains("line 21"));
        assert!(
            out.contains("    … (2 more evidence items not shown)"),
            "{out}"
        );
        assert!(!out.contains("e6:"));
    }

    #[test]
    fn failure_without_named_root_cause_still_says_fail() {
        let report = testdata::scenario(
            "s",
            vec![
                testdata::link("a", Outcome::Pass, "ok"),
                testdata::link("b", Outcome::Fail, "broken"),
            ],
            &[],
        );
        let out = render(false, &[RunEvent::ScenarioFinished(report)]);
        assert!(out.starts_with("\nresult: FAIL (root cause: b)\n"), "{out}");
        assert!(out.contains("\nb: broken\n"), "{out}");
    }
}
