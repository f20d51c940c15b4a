//! The console renderer: one line per link as it finishes, then a summary that leads
//! with the root cause, its hint and its evidence.
//!
//! While links wait, a console on a terminal keeps one status line saying which link
//! waits for what and how long until its deadline, redrawn in place and cleared before
//! the next line; on anything else (a pipe, a CI log) it shows no progress at all.
//!
//! It prints what it is given; redaction happens before (see `Redactor::redact_event`).
//! Text from outside (verdicts, evidence) has its control characters shown as `\u{..}`
//! so a captured log line cannot move the cursor or recolor the terminal.

use crate::model::{LinkResult, Outcome, RunEvent, ScenarioReport};
use std::ffi::OsStr;
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
/// Back to the start of the line and erase it: how the progress line is redrawn.
const CLEAR_LINE: &str = "\r\x1b[K";
/// The terminal width assumed when the caller does not know it. The progress line stays
/// one column short of the width: a line that wraps can no longer be erased in place.
pub const DEFAULT_TERMINAL_WIDTH: usize = 80;

/// `--color`: whether the console uses ANSI colors.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ColorChoice {
    /// On a terminal, unless `NO_COLOR` is set to a non-empty value.
    #[default]
    Auto,
    Always,
    Never,
}

/// Whether to color output going to a stream that `is_terminal` or not, given `--color`
/// and the `NO_COLOR` variable's value (<https://no-color.org>: any non-empty value
/// turns color off; an explicit `--color always` still wins).
pub fn use_color(choice: ColorChoice, is_terminal: bool, no_color: Option<&OsStr>) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => is_terminal && no_color.is_none_or(OsStr::is_empty),
    }
}

/// A link that is waiting, as the last [`RunEvent::LinkWaiting`] said.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Waiting {
    scenario: String,
    link: String,
    waiting_for: Option<String>,
    deadline_in: Duration,
}

/// Renders [`RunEvent`]s as text for a person.
pub struct Console<W: Write> {
    out: W,
    color: bool,
    /// The terminal's width when the progress line is drawn (only on a terminal).
    progress: Option<usize>,
    /// The links waiting now, in the order they started waiting.
    waiting: Vec<Waiting>,
    /// The progress line is on screen and must be erased before anything else is written.
    progress_shown: bool,
}

impl<W: Write> Console<W> {
    /// `color`: whether to use ANSI colors; the caller decides (see [`use_color`]).
    /// No progress line: see [`Console::with_progress`].
    pub fn new(out: W, color: bool) -> Self {
        Self {
            out,
            color,
            progress: None,
            waiting: Vec::new(),
            progress_shown: false,
        }
    }

    /// Draw a progress line while links wait, on a terminal `width` columns wide (see
    /// [`DEFAULT_TERMINAL_WIDTH`]); `None` for anything that is not a terminal, which
    /// could not erase it.
    pub fn with_progress(mut self, width: Option<usize>) -> Self {
        self.progress = width;
        self
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
            RunEvent::LinkWaiting {
                scenario,
                link,
                waiting_for,
                deadline_in,
                ..
            } => {
                let now = Waiting {
                    scenario: scenario.clone(),
                    link: link.clone(),
                    waiting_for: waiting_for.clone(),
                    deadline_in: *deadline_in,
                };
                match self
                    .waiting
                    .iter_mut()
                    .find(|w| w.scenario == now.scenario && w.link == now.link)
                {
                    Some(w) => *w = now,
                    None => self.waiting.push(now),
                }
                return self.draw_progress();
            }
            RunEvent::LinkFinished { scenario, result } => {
                self.waiting
                    .retain(|w| !(&w.scenario == scenario && w.link == result.name));
                self.link_line(result)
            }
            RunEvent::ScenarioFinished(report) => {
                self.waiting.retain(|w| w.scenario != report.scenario);
                self.summary(report)
            }
        };
        self.write_text(&text)
    }

    /// Writes `text`, erasing the progress line first if it is on screen.
    fn write_text(&mut self, text: &str) -> io::Result<()> {
        if self.progress_shown {
            self.out.write_all(CLEAR_LINE.as_bytes())?;
            self.progress_shown = false;
        }
        self.out.write_all(text.as_bytes())?;
        self.out.flush()
    }

    fn draw_progress(&mut self) -> io::Result<()> {
        let Some(width) = self.progress else {
            return Ok(());
        };
        let Some(line) = progress_line(&self.waiting, width) else {
            return Ok(());
        };
        let line = format!("{CLEAR_LINE}{}", self.paint(DIM, &line));
        self.out.write_all(line.as_bytes())?;
        self.progress_shown = true;
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
        let _ = self.write_text(&line);
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
        if let Some(arrival) = report.arrival_latency() {
            let _ = writeln!(s, "canary arrival latency: {}", secs(arrival));
        }

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
        // Links left out of the graph are no result: say so, as the reports do.
        if let Some(left_out) = report
            .property(|p| matches!(p, crate::model::Property::LeftOut { .. }).then(|| p.value()))
        {
            let _ = writeln!(s, "\nleft out: {}", clean_line(&left_out));
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

/// The progress line for the links waiting now: the first (the one waiting longest)
/// with what it waits for and the time to its deadline (whole seconds, rounded up), and
/// how many more wait; shorter than `width`.
fn progress_line(waiting: &[Waiting], width: usize) -> Option<String> {
    let first = waiting.first()?;
    let what = first
        .waiting_for
        .as_deref()
        .map(|w| format!(" waiting for {}", clean_line(w)))
        .unwrap_or_else(|| " running".into());
    let more = match waiting.len() - 1 {
        0 => String::new(),
        n => format!(" (+{n} more)"),
    };
    let head = format!("  … {}{what}", clean_line(&first.link));
    let left = first.deadline_in.as_secs() + u64::from(first.deadline_in.subsec_nanos() > 0);
    let tail = format!(" · deadline in {left}s{more}");
    // Cut what it waits for, never the deadline.
    let room = width.saturating_sub(1).saturating_sub(tail.chars().count());
    let head = if head.chars().count() > room {
        let cut: String = head.chars().take(room.saturating_sub(1)).collect();
        format!("{cut}…")
    } else {
        head
    };
    Some(format!("{head}{tail}"))
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

    fn waiting(link: &str, what: Option<&str>, deadline_secs: u64) -> RunEvent {
        RunEvent::LinkWaiting {
            scenario: "s".into(),
            link: link.into(),
            waiting_for: what.map(String::from),
            elapsed: Duration::from_secs(2),
            deadline_in: Duration::from_secs(deadline_secs),
        }
    }

    #[test]
    fn color_decision() {
        use ColorChoice::*;
        let set = Some(OsStr::new("1"));
        let empty = Some(OsStr::new(""));
        assert!(use_color(Auto, true, None));
        assert!(use_color(Auto, true, empty), "an empty NO_COLOR is unset");
        assert!(!use_color(Auto, true, set));
        assert!(!use_color(Auto, false, None));
        assert!(use_color(Always, false, set));
        assert!(!use_color(Never, true, None));
    }

    #[test]
    fn progress_line_names_the_link_what_it_waits_for_and_the_deadline() {
        let w = |link: &str, what: Option<&str>, secs| Waiting {
            scenario: "s".into(),
            link: link.into(),
            waiting_for: what.map(String::from),
            deadline_in: Duration::from_secs(secs),
        };
        assert_eq!(progress_line(&[], 80), None);
        assert_eq!(
            progress_line(&[w("amp.query", Some("the canary"), 8)], 80).unwrap(),
            "  … amp.query waiting for the canary · deadline in 8s"
        );
        assert_eq!(
            progress_line(&[w("amp.query", None, 8), w("grafana.api", None, 3)], 80).unwrap(),
            "  … amp.query running · deadline in 8s (+1 more)"
        );
        let mut soon = w("amp.query", None, 0);
        soon.deadline_in = Duration::from_millis(200);
        let soon = progress_line(&[soon], 80).unwrap();
        assert!(soon.ends_with("deadline in 1s"), "rounded up: {soon}");
        for width in [60, 80, 120] {
            let long = progress_line(&[w("amp.query", Some(&"x".repeat(200)), 8)], width);
            let long = long.unwrap();
            assert_eq!(long.chars().count(), width - 1);
            assert!(long.ends_with("… · deadline in 8s"), "{long}");
        }
    }

    #[test]
    fn progress_is_drawn_in_place_on_a_terminal_and_erased_before_the_next_line() {
        let mut c = Console::new(Vec::new(), false).with_progress(Some(80));
        c.on_event(&waiting("amp.query", Some("the canary"), 9))
            .unwrap();
        c.on_event(&waiting("amp.query", Some("the canary"), 8))
            .unwrap();
        c.on_event(&RunEvent::LinkFinished {
            scenario: "s".into(),
            result: testdata::link("amp.query", Outcome::Pass, "arrived"),
        })
        .unwrap();
        let out = String::from_utf8(c.into_inner()).unwrap();
        assert_eq!(
            out,
            "\r\x1b[K  … amp.query waiting for the canary · deadline in 9s\
             \r\x1b[K  … amp.query waiting for the canary · deadline in 8s\
             \r\x1b[K  pass      0.01s  amp.query              arrived\n"
        );
    }

    #[test]
    fn no_progress_when_not_a_terminal() {
        let mut c = Console::new(Vec::new(), true);
        c.on_event(&waiting("amp.query", Some("the canary"), 9))
            .unwrap();
        c.report_written("junit", Path::new("r.xml"));
        assert_eq!(
            String::from_utf8(c.into_inner()).unwrap(),
            "junit report: r.xml\n"
        );
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
