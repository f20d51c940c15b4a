//! End-to-end trials of the reports besides JUnit: `--format json` (validated against the
//! schema kept in the repo), `--html` (opened in headless Chromium: the DOM has the root
//! cause's verdict and the graph; a screenshot is taken), `--summary` (Markdown), the
//! console without a terminal (no ANSI escapes), and unwritable report paths (exit 2).
//! Each runs the real binary on the mock with a fault, so the reports are of a failing
//! run (exit 1), which must still write them.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use libtest_mimic::{Failed, Trial};

use crate::support::{
    CHROMIUM, command, ensure, have, headless_chromium, needs, read_junit, repo_root, text, tmp,
    validate_report_json,
};

/// The fault of the failing runs, and the link it lands on.
const FAULT: &str = "remote-write-denied";
const ROOT_CAUSE: &str = "amp.remote_write";

/// Where `scripts/test` (with `PIPECHECK_UPDATE_SCREENSHOT=1`) keeps the README's picture.
const SCREENSHOT: &str = "docs/report-failing.png";

/// A run of `smoke` on the mock with [`FAULT`], writing every report into a temp dir.
struct FailingRun {
    _dir: tempfile::TempDir,
    out: Output,
    junit: PathBuf,
    html: PathBuf,
    summary: PathBuf,
}

impl FailingRun {
    fn start(extra: &[&str]) -> Result<Self, Failed> {
        let dir = tmp();
        let (junit, html, summary) = (
            dir.path().join("r.xml"),
            dir.path().join("r.html"),
            dir.path().join("summary.md"),
        );
        let out = command()
            .args(["run", "--fault", FAULT, "--junit"])
            .arg(&junit)
            .arg("--html")
            .arg(&html)
            .arg("--summary")
            .arg(&summary)
            .args(extra)
            .output()
            .map_err(|e| e.to_string())?;
        ensure(out.status.code() == Some(1), || {
            format!(
                "exit {:?}, expected 1\n{}\n{}",
                out.status.code(),
                text(&out.stdout),
                text(&out.stderr)
            )
        })?;
        Ok(Self {
            _dir: dir,
            out,
            junit,
            html,
            summary,
        })
    }

    fn read(path: &Path) -> Result<String, Failed> {
        std::fs::read_to_string(path)
            .map_err(|e| format!("no report at {}: {e}", path.display()).into())
    }
}

/// `--format json`: stdout is one document that validates against the schema, names
/// the root cause first, and agrees with the JUnit report; the console went to stderr.
fn json_on_stdout() -> Result<(), Failed> {
    let run = FailingRun::start(&["--format", "json"])?;
    let stdout = text(&run.out.stdout);
    let doc: serde_json::Value = serde_json::from_str(&stdout)
        .map_err(|e| format!("stdout is not one JSON document ({e}):\n{stdout}"))?;
    validate_report_json(&doc)?;
    ensure(
        doc["run"]["exit_code"] == 1 && doc["run"]["status"] == "fail",
        || format!("{}", doc["run"]),
    )?;
    let root = &doc["root_causes"][0];
    ensure(
        root["link"] == ROOT_CAUSE && root["scenario"] == "smoke",
        || format!("{root}"),
    )?;
    let junit = &read_junit(&run.junit)?[0];
    let case = junit.case(ROOT_CAUSE).ok_or("no root cause testcase")?;
    ensure(root["verdict"] == case.message.as_str(), || {
        format!("JSON {} vs JUnit {:?}", root["verdict"], case.message)
    })?;
    let links = doc["scenarios"][0]["links"].as_array().ok_or("no links")?;
    let query = links
        .iter()
        .find(|l| l["name"] == "amp.query")
        .ok_or("no amp.query")?;
    ensure(
        query["status"] == "blocked" && query["blocked_by"] == ROOT_CAUSE,
        || format!("{query}"),
    )?;
    ensure(
        doc["scenarios"][0]["arrival_latency_secs"].is_null(),
        || "a canary that never arrived has a latency".into(),
    )?;
    let stderr = text(&run.out.stderr);
    ensure(
        stderr.contains(&format!("result: FAIL (root cause: {ROOT_CAUSE})")),
        || format!("the console is not on stderr:\n{stderr}"),
    )?;

    // A passing run measures the arrival latency.
    let passing = command()
        .args(["run", "--format", "json", "--junit"])
        .arg(run.junit.with_file_name("pass.xml"))
        .output()
        .map_err(|e| e.to_string())?;
    let doc: serde_json::Value =
        serde_json::from_slice(&passing.stdout).map_err(|e| format!("stdout is not JSON: {e}"))?;
    validate_report_json(&doc)?;
    ensure(
        passing.status.code() == Some(0)
            && doc["root_causes"] == serde_json::json!([])
            && doc["scenarios"][0]["arrival_latency_secs"].as_f64() > Some(0.0),
        || format!("exit {:?}: {doc}", passing.status.code()),
    )
}

/// `--html` of a failing run in headless Chromium: the DOM has the root cause's verdict
/// above the graph, one node per link with the root cause drawn as such, and opening
/// the page at a link's anchor opens its details (the page's script runs). A screenshot
/// is taken (and kept in the repo with `PIPECHECK_UPDATE_SCREENSHOT=1`).
fn html_in_headless_chromium() -> Result<(), Failed> {
    let run = FailingRun::start(&[])?;
    let page = FailingRun::read(&run.html)?;
    for external in ["src=", "<link", "url(", "@import"] {
        ensure(!page.contains(external), || {
            format!("the page loads something ({external})")
        })?;
    }
    let junit = &read_junit(&run.junit)?[0];
    let verdict = &junit
        .case(ROOT_CAUSE)
        .ok_or("no root cause testcase")?
        .message;

    let dom = headless_chromium(&run.html, &["--dump-dom"])?;
    let root = dom
        .find("class=\"root-cause\"")
        .ok_or_else(|| format!("no root cause in the DOM:\n{dom}"))?;
    let svg = dom.find("<svg").ok_or("no graph (svg) in the DOM")?;
    ensure(root < svg, || {
        "the root cause is not above the graph".into()
    })?;
    ensure(dom[root..svg].contains(verdict.as_str()), || {
        format!("the root cause box lacks the verdict {verdict:?}")
    })?;
    let nodes = dom.matches("class=\"node ").count();
    ensure(nodes == junit.cases.len(), || {
        format!("{nodes} nodes for {} links", junit.cases.len())
    })?;
    ensure(
        dom.contains(&format!(
            "class=\"node fail root\" data-link=\"{ROOT_CAUSE}\""
        )),
        || "the root cause's node is not drawn as failed".into(),
    )?;
    ensure(dom.matches("class=\"node blocked\"").count() >= 2, || {
        "no blocked nodes".into()
    })?;
    ensure(dom.contains("class=\"edge "), || "no edges".into())?;

    // The anchor of the root cause opens its details once the page's script has run.
    let anchored = PathBuf::from(format!("{}#s0-{ROOT_CAUSE}", run.html.display()));
    let dom = headless_chromium(&anchored, &["--dump-dom"])?;
    let details = dom
        .find(&format!("id=\"s0-{ROOT_CAUSE}\""))
        .ok_or("no details for the root cause")?;
    let start = dom[..details]
        .rfind("<details")
        .ok_or("not a details element")?;
    let end = details + dom[details..].find('>').ok_or("an unclosed tag")?;
    let tag = &dom[start..=end];
    ensure(tag.contains(" open=\"\""), || {
        format!("the anchor did not open the details: {tag}")
    })?;
    ensure(dom.matches(" open=\"\"").count() == 1, || {
        "details other than the anchored one are open".into()
    })?;

    let png = run.html.with_file_name("report.png");
    headless_chromium(
        &run.html,
        &[
            "--window-size=1200,1000",
            &format!("--screenshot={}", png.display()),
        ],
    )?;
    let bytes = std::fs::read(&png).map_err(|e| format!("no screenshot: {e}"))?;
    ensure(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.len() > 10_000,
        || format!("not a screenshot: {} bytes", bytes.len()),
    )?;
    if std::env::var_os("PIPECHECK_UPDATE_SCREENSHOT").is_some() {
        std::fs::write(repo_root().join(SCREENSHOT), &bytes).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// `--summary`: the root cause and its hint first, a table of links, the evidence folded.
fn summary_markdown() -> Result<(), Failed> {
    let run = FailingRun::start(&[])?;
    let md = FailingRun::read(&run.summary)?;
    ensure(md.starts_with("## pipecheck: ❌ FAIL\n"), || md.clone())?;
    let root = md
        .find(&format!("**Root cause: `{ROOT_CAUSE}`**"))
        .ok_or_else(|| md.clone())?;
    let hint = md.find("> hint: ").ok_or_else(|| md.clone())?;
    let table = md
        .find("| link | outcome | verdict |")
        .ok_or_else(|| md.clone())?;
    let evidence = md
        .find(&format!(
            "<details><summary>evidence: {ROOT_CAUSE}</summary>"
        ))
        .ok_or_else(|| md.clone())?;
    ensure(root < hint && hint < table && table < evidence, || {
        md.clone()
    })?;
    ensure(
        md.contains(&format!(
            "| `amp.query` | blocked | blocked by {ROOT_CAUSE} |"
        )),
        || md.clone(),
    )?;
    ensure(md.lines().count() < 60, || {
        format!(
            "a job summary should be short: {} lines",
            md.lines().count()
        )
    })
}

/// Without a terminal the console has no ANSI escapes (no color, no progress line), with
/// `NO_COLOR` unset or empty; `--color always` colors even then, so this can fail.
fn no_ansi_when_not_a_terminal() -> Result<(), Failed> {
    let run_with = |no_color: Option<&str>, extra: &[&str]| -> Result<String, Failed> {
        let dir = tmp();
        let mut cmd = command();
        match no_color {
            Some(v) => cmd.env("NO_COLOR", v),
            None => cmd.env_remove("NO_COLOR"),
        };
        let out = cmd
            .args(["run", "--fault", FAULT, "--junit"])
            .arg(dir.path().join("r.xml"))
            .args(extra)
            .output()
            .map_err(|e| e.to_string())?;
        Ok(format!("{}{}", text(&out.stdout), text(&out.stderr)))
    };
    for (no_color, extra) in [(None, &[][..]), (Some(""), &["--color", "auto"][..])] {
        let out = run_with(no_color, extra)?;
        ensure(out.contains("result: FAIL"), || out.clone())?;
        ensure(!out.contains('\x1b'), || {
            format!("ANSI escapes without a terminal (NO_COLOR={no_color:?}):\n{out:?}")
        })?;
    }
    let forced = run_with(Some("1"), &["--color", "always"])?;
    ensure(forced.contains("\x1b[1;31mFAIL\x1b[0m"), || {
        format!("--color always did not color:\n{forced:?}")
    })
}

/// Ctrl-C while a second scenario still waits for its canary: exit 130, and every report
/// holds the scenario that finished (and only it); the JSON document says `interrupted`.
fn interrupted_run_reports_finished_scenarios() -> Result<(), Failed> {
    let dir = tmp();
    // A canary that never becomes queryable, waited for up to a minute.
    let slow = dir.path().join("slow.yaml");
    std::fs::write(
        &slow,
        "name: slow\nshape: direct\nlinks: [aws.identity, amp.workspace, amp.remote_write, amp.query]\n\
         faults: [samples-dropped]\ntarget: {mock: {arrival_deadline: 60s}}\n",
    )
    .map_err(|e| e.to_string())?;
    let (junit, html, summary) = (
        dir.path().join("r.xml"),
        dir.path().join("r.html"),
        dir.path().join("r.md"),
    );
    let mut child = Command::new(crate::support::bin())
        .env("NO_COLOR", "1")
        .args(["run", "--scenario", "smoke", "--scenario"])
        .arg(&slow)
        .args(["--format", "json", "--junit"])
        .arg(&junit)
        .arg("--html")
        .arg(&html)
        .arg("--summary")
        .arg(&summary)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let pid = child.id().to_string();
    // The console is on stderr: once slow's header is there, smoke (relayed first) has
    // finished and slow is running.
    let stderr = child.stderr.take().ok_or("no stderr")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut seen = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            seen.push_str(&line);
            seen.push('\n');
            if line.contains("scenario slow @ mock") {
                let _ = tx.send(seen.clone());
            }
        }
        let _ = tx.send(seen);
    });
    // Stdout is read while the run goes on, so a full pipe cannot stall it.
    let stdout_pipe = child.stdout.take().ok_or("no stdout")?;
    let stdout_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut BufReader::new(stdout_pipe), &mut s);
        s
    });
    let seen = rx.recv_timeout(Duration::from_secs(60));
    let _ = Command::new("kill").args(["-INT", &pid]).status();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().map_err(|e| e.to_string())? {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return Err("the run did not stop within 30 s of SIGINT".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let seen = seen.map_err(|_| "the second scenario never started")?;
    ensure(seen.contains("scenario slow @ mock"), || {
        format!("the run ended before the second scenario started:\n{seen}")
    })?;
    let stdout = stdout_reader
        .join()
        .map_err(|_| "the stdout reader panicked")?;
    ensure(status.code() == Some(130), || {
        format!("exit {:?}\n{seen}", status.code())
    })?;
    let doc: serde_json::Value = serde_json::from_str(&stdout)
        .map_err(|e| format!("stdout is not one JSON document ({e}):\n{stdout}"))?;
    validate_report_json(&doc)?;
    let statuses: Vec<(&str, &str)> = doc["scenarios"]
        .as_array()
        .ok_or("no scenarios")?
        .iter()
        .filter_map(|s| Some((s["name"].as_str()?, s["status"].as_str()?)))
        .collect();
    ensure(
        doc["run"]["status"] == "interrupted"
            && doc["run"]["exit_code"] == 130
            && statuses == [("smoke", "pass"), ("slow", "interrupted")],
        || format!("{} {statuses:?}", doc["run"]),
    )?;
    let query = &doc["scenarios"][1]["links"][3];
    ensure(
        query["name"] == "amp.query" && query["status"] == "interrupted",
        || format!("{query}"),
    )?;
    let suites = read_junit(&junit)?;
    let names: Vec<&str> = suites.iter().map(|s| s.name.as_str()).collect();
    ensure(names == ["smoke@mock", "slow@mock"], || {
        format!("{names:?}")
    })?;
    let page = FailingRun::read(&html)?;
    for words in [
        "pipecheck <span class=\"badge interrupted\">INTERRUPTED</span>",
        "smoke@mock <span class=\"badge pass\">PASS</span>",
        "slow@mock <span class=\"badge interrupted\">INTERRUPTED</span>",
        "class=\"node interrupted\" data-link=\"amp.query\"",
    ] {
        ensure(page.contains(words), || {
            format!("the HTML report lacks {words:?}")
        })?;
    }
    let md = FailingRun::read(&summary)?;
    ensure(
        md.starts_with("## pipecheck: ⏹ INTERRUPTED")
            && md.contains("### smoke@mock: pass")
            && md.contains("### slow@mock: interrupted")
            && md.contains("| `amp.query` | ⏹ stopped |"),
        || md.clone(),
    )
}

/// A report path that cannot take the report: exit 2, one line naming the report, before
/// anything runs (so no JUnit report either).
fn unwritable(flag: &'static str, path: &'static str, words: &'static str) -> Trial {
    Trial::test(format!("bad_input::unwritable_{}", &flag[2..]), move || {
        super::bad_input(vec!["run".into(), flag.into(), path.into()], words)
    })
}

pub fn trials() -> Vec<Trial> {
    let chromium = have(CHROMIUM, &["--version"]);
    vec![
        Trial::test("reports::json_on_stdout", json_on_stdout),
        needs(
            Trial::test(
                "reports::html_in_headless_chromium",
                html_in_headless_chromium,
            ),
            chromium,
            "no `chromium` on PATH (scripts/test installs Debian's chromium)",
        ),
        Trial::test("reports::summary_markdown", summary_markdown),
        Trial::test(
            "reports::no_ansi_when_not_a_terminal",
            no_ansi_when_not_a_terminal,
        ),
        Trial::test(
            "interrupt::reports_hold_finished_scenarios",
            interrupted_run_reports_finished_scenarios,
        ),
        unwritable(
            "--html",
            "{dir}/no/such/dir/r.html",
            "failed to open HTML report path",
        ),
        unwritable(
            "--summary",
            "{dir}",
            "failed to open Markdown summary report path",
        ),
        // `--junit X --html X` wrote the HTML over the JUnit report without a word.
        Trial::test("bad_input::two_reports_on_one_path", || {
            super::bad_input(
                vec!["run".into(), "--html".into(), "{dir}/./r.xml".into()],
                "the JUnit and HTML reports would both be written to",
            )
        }),
    ]
}
