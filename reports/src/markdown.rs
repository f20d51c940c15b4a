//! The `--summary` report: short GitHub-flavoured Markdown for a CI job summary
//! (`$GITHUB_STEP_SUMMARY`). Per scenario: the root cause first with its hint, a table
//! of links (outcome, verdict), and the root cause's evidence folded in `<details>`.
//!
//! GitHub renders HTML inside Markdown, so text is HTML-escaped; in table cells `|` is
//! escaped too and line breaks become spaces. Redaction is the caller's job.

use crate::junit::xml_text;
use crate::model::{LinkResult, Outcome, RunInfo, RunReport, RunStatus, ScenarioReport};
use std::fmt::Write as _;

/// Characters of a verdict shown in a table cell; the HTML and JUnit reports have it all.
const MAX_CELL_CHARS: usize = 160;
/// Lines of one evidence body shown; a job summary should stay short.
const MAX_EVIDENCE_LINES: usize = 30;

pub fn render(run: &RunReport, info: &RunInfo) -> String {
    let mut md = String::new();
    let word = match info.status {
        RunStatus::Pass => "✅ PASS",
        RunStatus::Fail => "❌ FAIL",
        RunStatus::Interrupted => "⏹ INTERRUPTED",
    };
    let _ = writeln!(
        md,
        "## pipecheck: {word}\n\ntarget `{}` · {:.2}s · exit code {}\n",
        inline(&info.target),
        info.duration.as_secs_f64(),
        info.status.exit()
    );
    for s in &run.suites {
        scenario(&mut md, s);
    }
    if run.suites.is_empty() {
        md.push_str("No scenario finished.\n");
    }
    md
}

fn scenario(md: &mut String, s: &ScenarioReport) {
    let word = if s.counts().interrupted > 0 {
        "interrupted"
    } else if s.passed() {
        "pass"
    } else {
        "FAIL"
    };
    let _ = write!(
        md,
        "### {}@{}: {word}\n\nrun id `{}` · {:.2}s",
        inline(&s.scenario),
        inline(&s.target),
        inline(&s.run_id),
        s.duration.as_secs_f64()
    );
    if let Some(d) = s.arrival_latency() {
        let _ = write!(md, " · canary arrival {:.2}s", d.as_secs_f64());
    }
    md.push_str("\n\n");
    for name in &s.root_cause {
        let Some(link) = s.link(name) else { continue };
        let _ = writeln!(
            md,
            "**Root cause: `{}`**: {}\n",
            inline(&link.name),
            cell(&link.verdict, usize::MAX)
        );
        if let Some(hint) = &link.hint {
            let _ = writeln!(md, "> hint: {}\n", cell(hint, usize::MAX));
        }
    }
    md.push_str("| link | outcome | verdict |\n|---|---|---|\n");
    for link in &s.links {
        let _ = writeln!(
            md,
            "| `{}` | {} | {} |",
            inline(&link.name),
            outcome(&link.outcome),
            cell(&verdict(link), MAX_CELL_CHARS)
        );
    }
    if let Some((names, reason)) = s.left_out() {
        for name in names {
            let _ = writeln!(
                md,
                "| `{}` | skipped | left out: {} |",
                inline(name),
                cell(reason, MAX_CELL_CHARS)
            );
        }
    }
    md.push('\n');
    for name in &s.root_cause {
        let Some(link) = s.link(name) else { continue };
        if link.evidence.is_empty() {
            continue;
        }
        let _ = writeln!(
            md,
            "<details><summary>evidence: {}</summary>\n",
            html(&link.name)
        );
        for ev in &link.evidence {
            let lines: Vec<&str> = ev.body.trim_end().lines().collect();
            let _ = write!(md, "<p><b>{}</b></p>\n<pre>", html(&ev.label));
            for line in lines.iter().take(MAX_EVIDENCE_LINES) {
                let _ = writeln!(md, "{}", html(line));
            }
            if lines.len() > MAX_EVIDENCE_LINES {
                let _ = writeln!(md, "… ({} more lines)", lines.len() - MAX_EVIDENCE_LINES);
            }
            md.push_str("</pre>\n");
        }
        md.push_str("</details>\n\n");
    }
}

fn verdict(link: &LinkResult) -> String {
    match &link.outcome {
        Outcome::Blocked { by } if link.verdict.trim().is_empty() => format!("blocked by {by}"),
        _ => link.verdict.clone(),
    }
}

fn outcome(o: &Outcome) -> &'static str {
    match o {
        Outcome::Pass => "pass",
        Outcome::Warn => "⚠️ warn",
        Outcome::Fail => "❌ **FAIL**",
        Outcome::Blocked { .. } => "blocked",
        Outcome::Interrupted { .. } => "⏹ stopped",
    }
}

/// Printable text with `&`, `<` and `>` escaped (see `junit::xml_text`): enough for
/// Markdown and the HTML GitHub allows in it, and readable as plain text.
fn html(s: &str) -> String {
    html_escape::encode_text(&xml_text(s)).into_owned()
}

/// One line for a table cell: line breaks folded, `|` escaped, cut at `max` characters.
fn cell(s: &str, max: usize) -> String {
    let one_line = s.split_whitespace().collect::<Vec<_>>().join(" ");
    let cut = if one_line.chars().count() > max {
        let head: String = one_line.chars().take(max).collect();
        format!("{head}…")
    } else {
        one_line
    };
    html(&cut).replace('|', "\\|")
}

/// Text inside a code span: backticks would end it, so they become quotes.
fn inline(s: &str) -> String {
    cell(s, usize::MAX).replace('`', "'")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Evidence, RunInfo};
    use crate::testdata;
    use std::time::{Duration, SystemTime};

    fn info() -> RunInfo {
        RunInfo {
            target: "mock".into(),
            started: SystemTime::UNIX_EPOCH,
            duration: Duration::from_millis(1855),
            status: RunStatus::Fail,
        }
    }

    #[test]
    fn summary_snapshot() {
        insta::assert_snapshot!("summary_run", render(&testdata::run(), &info()));
    }

    #[test]
    fn root_cause_comes_before_the_table() {
        let md = render(&testdata::run(), &info());
        let adot = md.find("### adot-eks@mock: FAIL").unwrap();
        let root = md[adot..]
            .find("**Root cause: `amp.remote_write`**")
            .unwrap();
        let table = md[adot..].find("| link | outcome | verdict |").unwrap();
        let evidence = md[adot..].find("<details><summary>evidence").unwrap();
        assert!(root < table && table < evidence);
        assert!(md.contains("> hint: give the collector's role"), "{md}");
        assert!(md.contains("| `amp.query` | blocked | blocked by amp.remote_write |"));
    }

    #[test]
    fn cells_cannot_break_the_table_or_the_page() {
        let mut link = testdata::link("a|b", Outcome::Fail, "x | y\nz <b>bold</b> `tick`");
        link.evidence = vec![Evidence::new("log", "</pre></details><script>")];
        let run = RunReport {
            suites: vec![testdata::scenario("s", vec![link], &["a|b"])],
        };
        let md = render(&run, &info());
        assert!(
            md.contains("| `a\\|b` | ❌ **FAIL** | x \\| y z &lt;b&gt;bold&lt;/b&gt; `tick` |"),
            "{md}"
        );
        assert!(!md.contains("<script>"));
        assert!(md.contains("&lt;/pre&gt;&lt;/details&gt;&lt;script&gt;"));
    }

    #[test]
    fn long_evidence_is_cut() {
        let mut link = testdata::link("x", Outcome::Fail, "bad");
        let body: Vec<String> = (1..=40).map(|i| format!("line {i}")).collect();
        link.evidence = vec![Evidence::new("log", body.join("\n"))];
        let run = RunReport {
            suites: vec![testdata::scenario("s", vec![link], &["x"])],
        };
        let md = render(&run, &info());
        assert!(md.contains("line 30\n… (10 more lines)\n</pre>"), "{md}");
        assert!(!md.contains("line 31"));
    }
}
