//! What the end-to-end test targets (e2e, diagnose, moto) share, included by each with
//! `#[path = "support/mod.rs"] mod support;`: running the real `pipecheck` binary, temp
//! dirs, the JUnit report (read with roxmltree, validated against tests/schema/junit.xsd
//! with xmllint), `ensure`, trials ignored with a reason when a tool is missing, a
//! `pipecheck mock` read through its exports, and the assertions on a scenario run's
//! report (its root cause, the links blocked behind it, a chain that passes).

// Each test target uses the part it needs.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use libtest_mimic::{Failed, Trial};

// ---------------------------------------------------------------------------------------
// The binary

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_pipecheck")
}

/// The repository's root (the harness package sits one below it).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The binary without colors and without the caller's AWS profile.
pub fn command() -> Command {
    let mut cmd = Command::new(bin());
    cmd.env("NO_COLOR", "1").env_remove("AWS_PROFILE");
    cmd
}

/// `pipecheck <args>`, run to its end.
pub fn pipecheck(args: &[&str]) -> Output {
    command()
        .args(args)
        .output()
        .expect("the pipecheck binary runs")
}

/// The binary for `--target aws` with nothing of AWS's around it: no credentials, no
/// config files, no kubeconfig (`HOME` is `home`), instance metadata switched off so the
/// credential chain never leaves this machine.
pub fn bare_aws_command(home: &Path) -> Command {
    let mut cmd = Command::new(bin());
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    cmd
}

/// A run refused before anything ran: exit 2, one line on stderr that `says` accepts, and
/// no report at `report`.
pub fn refused_before_running(
    out: &Output,
    report: &Path,
    says: impl FnOnce(&str) -> bool,
) -> Result<(), Failed> {
    let stderr = text(&out.stderr);
    ensure(out.status.code() == Some(2), || {
        format!("exit {:?}: {stderr}", out.status.code())
    })?;
    ensure(
        says(&stderr) && stderr.trim_end().lines().count() == 1,
        || stderr.clone(),
    )?;
    ensure(!report.exists(), || "a report was written".into())
}

/// A bad-input trial's arguments: `{dir}` is `dir`, and when `with_report` and none is
/// given, `--junit <report>` is added, so that a report written by mistake shows.
pub fn bad_input_args(
    args: &[String],
    dir: &Path,
    report: &Path,
    with_report: bool,
) -> Vec<String> {
    let mut full: Vec<String> = args
        .iter()
        .map(|a| a.replace("{dir}", dir.to_str().unwrap()))
        .collect();
    if with_report && !full.iter().any(|a| a == "--junit") {
        full.push("--junit".into());
        full.push(report.to_str().unwrap().into());
    }
    full
}

/// The invocation was refused: exit 2 with `words` on stderr. Returns stderr.
pub fn exits_2_saying(out: &Output, words: &str) -> Result<String, Failed> {
    let stderr = text(&out.stderr);
    ensure(out.status.code() == Some(2), || {
        format!("exit {:?}, expected 2; stderr: {stderr}", out.status.code())
    })?;
    ensure(stderr.contains(words), || {
        format!("stderr lacks {words:?}: {stderr}")
    })?;
    Ok(stderr)
}

/// The invocation exited 0. Returns stdout.
pub fn succeeded(out: &Output) -> Result<String, Failed> {
    let so = text(&out.stdout);
    ensure(out.status.code() == Some(0), || {
        format!("exit {:?}\n{so}\n{}", out.status.code(), text(&out.stderr))
    })?;
    Ok(so)
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub fn ensure(cond: bool, msg: impl FnOnce() -> String) -> Result<(), Failed> {
    if cond { Ok(()) } else { Err(msg().into()) }
}

pub fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().expect("a temp dir")
}

// ---------------------------------------------------------------------------------------
// Tools a trial needs

/// Whether `tool args` runs and succeeds.
pub fn have(tool: impl AsRef<OsStr>, args: &[&str]) -> bool {
    Command::new(tool)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Trials that need a tool run when it is there. Outside CI a missing tool marks them
/// ignored, with the reason printed; in CI (`CI` set) they always run, so a missing
/// install step fails instead of hiding.
pub fn needs(trial: Trial, available: bool, reason: &str) -> Trial {
    if available || std::env::var_os("CI").is_some() {
        trial
    } else {
        eprintln!("ignoring {}: {reason}", trial.name());
        trial.with_ignored_flag(true)
    }
}

// ---------------------------------------------------------------------------------------
// The JUnit report

/// One testcase of the JUnit report as the contract defines it.
#[derive(Debug)]
pub struct Case {
    pub outcome: String,
    pub message: String,
    pub body: String,
}

#[derive(Debug)]
pub struct Suite {
    pub name: String,
    pub properties: BTreeMap<String, String>,
    pub cases: Vec<(String, Case)>,
}

impl Suite {
    /// The testcase of `link`.
    pub fn case(&self, link: &str) -> Option<&Case> {
        self.cases.iter().find(|(n, _)| n == link).map(|(_, c)| c)
    }

    /// The property `name` is there and `ok` accepts it.
    pub fn property_is(&self, name: &str, ok: impl FnOnce(&str) -> bool) -> Result<(), Failed> {
        ensure(self.properties.get(name).is_some_and(|v| ok(v)), || {
            format!("{:?}", self.properties)
        })
    }

    /// The `root_cause` property ("" when there is none).
    pub fn root_cause(&self) -> String {
        self.properties
            .get("root_cause")
            .cloned()
            .unwrap_or_default()
    }
}

pub fn read_junit(path: &Path) -> Result<Vec<Suite>, Failed> {
    let xml = std::fs::read_to_string(path)
        .map_err(|e| format!("no JUnit report at {}: {e}", path.display()))?;
    let doc =
        roxmltree::Document::parse(&xml).map_err(|e| format!("JUnit report is not XML: {e}"))?;
    let mut suites = Vec::new();
    for s in doc.descendants().filter(|n| n.has_tag_name("testsuite")) {
        let properties = s
            .descendants()
            .filter(|n| n.has_tag_name("property"))
            .map(|p| {
                (
                    p.attribute("name").unwrap_or("").to_string(),
                    p.attribute("value").unwrap_or("").to_string(),
                )
            })
            .collect();
        let cases = s
            .children()
            .filter(|n| n.has_tag_name("testcase"))
            .map(|c| {
                let child = |tag: &str| c.children().find(|n| n.has_tag_name(tag));
                let (outcome, node) = if let Some(f) = child("failure") {
                    ("fail", Some(f))
                } else if let Some(e) = child("error") {
                    // A link a stopped run did not finish (partial report).
                    let kind = e.attribute("type").unwrap_or("error");
                    (
                        if kind == "interrupted" {
                            "interrupted"
                        } else {
                            "error"
                        },
                        Some(e),
                    )
                } else if let Some(s) = child("skipped") {
                    ("blocked", Some(s))
                } else {
                    ("pass", child("system-out"))
                };
                let message = node
                    .and_then(|n| n.attribute("message"))
                    .unwrap_or("")
                    .to_string();
                let body = node.and_then(|n| n.text()).unwrap_or("").to_string();
                (
                    c.attribute("name").unwrap_or("").to_string(),
                    Case {
                        outcome: outcome.into(),
                        message,
                        body,
                    },
                )
            })
            .collect();
        suites.push(Suite {
            name: s.attribute("name").unwrap_or("").to_string(),
            properties,
            cases,
        });
    }
    Ok(suites)
}

/// The report validates against the JUnit XSD kept in the repo (xmllint; CI installs it).
pub fn validate_xsd(path: &Path) -> Result<(), Failed> {
    let xsd = repo_root().join("tests/schema/junit.xsd");
    let out = Command::new("xmllint")
        .args(["--noout", "--schema"])
        .arg(&xsd)
        .arg(path)
        .output()
        .map_err(|e| format!("xmllint is needed to validate the JUnit report ({e}): install libxml2-utils (scripts/test does)"))?;
    ensure(out.status.success(), || {
        format!(
            "{} does not validate against {}: {}",
            path.display(),
            xsd.display(),
            text(&out.stderr)
        )
    })
}

// ---------------------------------------------------------------------------------------
// The other reports: JSON (against the schema kept in the repo), HTML (in a browser)

/// The `--format json` document validates against reports/schema/report-v1.schema.json.
pub fn validate_report_json(doc: &serde_json::Value) -> Result<(), Failed> {
    let path = repo_root().join("reports/schema/report-v1.schema.json");
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?,
    )
    .map_err(|e| format!("{} is not JSON: {e}", path.display()))?;
    let validator = jsonschema::draft202012::new(&schema)
        .map_err(|e| format!("{} is not a valid schema: {e}", path.display()))?;
    let errors: Vec<String> = validator
        .iter_errors(doc)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    ensure(errors.is_empty(), || {
        format!("the JSON report does not validate: {errors:#?}")
    })
}

/// Debian's headless Chromium (scripts/test installs the `chromium` package).
pub const CHROMIUM: &str = "chromium";

/// `chromium --headless` on `page` with `args` (`--dump-dom`, `--screenshot=…`): its
/// stdout. No sandbox (the tests run as root in CI) and no GPU; a minute at most.
pub fn headless_chromium(page: &Path, args: &[&str]) -> Result<String, Failed> {
    let profile = tmp();
    let child = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            format!(
                "{CHROMIUM} does not start ({e}): install Debian's chromium (scripts/test does)"
            )
        })?;
    // Read its output while it runs (a full pipe would stall it), up to the deadline.
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(out) => out.map_err(|e| e.to_string())?,
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            return Err(format!("{CHROMIUM} did not finish within a minute").into());
        }
    };
    ensure(out.status.success(), || {
        format!("{CHROMIUM} failed: {}", text(&out.stderr))
    })?;
    Ok(text(&out.stdout))
}

// ---------------------------------------------------------------------------------------
// A scenario run and its report

/// A link and the link it depends on; a link with two dependencies has a row for each.
pub type Depends = (&'static str, &'static str);

/// What one `pipecheck run` of a scenario gave: its exit code, its output and its one suite.
pub struct Ran {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub suite: Suite,
}

/// A run's JUnit report: `r.xml` in a temp dir of its own, removed with it.
pub struct Report {
    _dir: tempfile::TempDir,
    pub path: PathBuf,
}

impl Report {
    pub fn new() -> Self {
        let dir = tmp();
        let path = dir.path().join("r.xml");
        Self { _dir: dir, path }
    }

    pub fn arg(&self) -> &str {
        self.path.to_str().unwrap()
    }
}

/// `pipecheck <args> --junit <report>`.
pub fn run_with_report(args: &[&str]) -> (Output, Report) {
    let report = Report::new();
    let mut full = args.to_vec();
    full.extend(["--junit", report.arg()]);
    (pipecheck(&full), report)
}

/// Runs `scenario` on the mock with `faults` (see [`ran`]).
pub fn run(scenario: &str, faults: &[&str]) -> Result<Ran, Failed> {
    let mut args = vec!["run", "--scenario", scenario];
    for f in faults {
        args.extend(["--fault", f]);
    }
    let (out, report) = run_with_report(&args);
    ran(&out, &report.path, scenario)
}

/// What a run of `scenario` on the mock gave, checked: no panic, a report that validates,
/// with one suite, `<scenario>@mock`.
pub fn ran(out: &Output, report: &Path, scenario: &str) -> Result<Ran, Failed> {
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    ensure(
        !stdout.contains("panicked") && !stderr.contains("panicked"),
        || format!("a panic was printed:\n{stdout}\n{stderr}"),
    )?;
    if !report.exists() {
        return Err(format!(
            "no report: exit {:?}\n{stdout}\n{stderr}",
            out.status.code()
        )
        .into());
    }
    validate_xsd(report)?;
    let mut suites = read_junit(report)?;
    ensure(
        suites.len() == 1 && suites[0].name == format!("{scenario}@mock"),
        || format!("suites: {suites:?}"),
    )?;
    Ok(Ran {
        code: out.status.code(),
        stdout,
        stderr,
        suite: suites.remove(0),
    })
}

/// The run exited with `code`.
pub fn exits(ran: &Ran, code: i32) -> Result<(), Failed> {
    ensure(ran.code == Some(code), || {
        format!(
            "exit {:?}, expected {code}\nstdout:\n{}\nstderr:\n{}",
            ran.code, ran.stdout, ran.stderr
        )
    })
}

/// The links of `chain` in report order, each once, after `aws.identity`.
pub fn chain_links(chain: &[Depends]) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = vec!["aws.identity"];
    for (child, _) in chain {
        if !out.contains(child) {
            out.push(child);
        }
    }
    out
}

/// Every link of `chain` that depends on `link`, directly or not.
pub fn dependents_in(chain: &[Depends], link: &str) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    let mut frontier = vec![link.to_string()];
    while let Some(l) = frontier.pop() {
        for (child, parent) in chain {
            if *parent == l && !out.contains(child) {
                out.push(child);
                frontier.push(child.to_string());
            }
        }
    }
    out
}

/// The run exited 0 and every link of `chain` passed, in the chain's order, with the
/// canary's arrival latency recorded.
pub fn chain_passes(ran: &Ran, chain: &[Depends]) -> Result<(), Failed> {
    let suite = &ran.suite;
    exits(ran, 0)?;
    let want = chain_links(chain);
    let names: Vec<&str> = suite.cases.iter().map(|(n, _)| n.as_str()).collect();
    ensure(names == want, || {
        format!("links {names:?}, expected {want:?}")
    })?;
    ensure(suite.cases.iter().all(|(_, c)| c.outcome == "pass"), || {
        format!("{:?}", suite.cases)
    })?;
    ensure(suite.properties.contains_key("arrival_latency_ms"), || {
        "no arrival latency recorded".into()
    })
}

/// The run failed on exactly `link`: exit 1, `link` is the root cause, its failure has
/// every word of `verdict` in its verdict and a hint and every word of `evidence` in its
/// text, every link after it in `chain` is blocked by it, no other link failed, and the
/// console names it.
pub fn fails_on(
    ran: &Ran,
    chain: &[Depends],
    link: &str,
    verdict: &[&str],
    evidence: &[&str],
) -> Result<(), Failed> {
    let (stdout, suite) = (&ran.stdout, &ran.suite);
    exits(ran, 1)?;
    let root = suite.root_cause();
    ensure(root == link, || {
        format!("root_cause {root:?}, expected exactly {link:?}\n{stdout}")
    })?;
    let c = suite
        .case(link)
        .ok_or_else(|| format!("no testcase {link}"))?;
    ensure(c.outcome == "fail", || {
        format!("{link} is {}, expected fail", c.outcome)
    })?;
    for w in verdict {
        ensure(c.message.contains(w), || {
            format!("verdict {:?} lacks {w:?}", c.message)
        })?;
    }
    ensure(c.body.contains("hint:"), || {
        format!("failure of {link} has no hint: {:?}", c.body)
    })?;
    for w in evidence {
        ensure(c.body.contains(w), || {
            format!("evidence of {link} lacks {w:?}:\n{}", c.body)
        })?;
    }
    for d in dependents_in(chain, link) {
        let dc = suite.case(d).ok_or_else(|| format!("no testcase {d}"))?;
        ensure(
            dc.outcome == "blocked" && dc.message == format!("blocked by {link}"),
            || format!("{d}: {dc:?}, expected blocked by {link}"),
        )?;
    }
    let failed: Vec<&str> = suite
        .cases
        .iter()
        .filter(|(_, c)| c.outcome == "fail")
        .map(|(n, _)| n.as_str())
        .collect();
    ensure(failed == vec![link], || {
        format!("failed links {failed:?}, expected only {link}")
    })?;
    ensure(stdout.contains(&format!("root cause: {link}")), || {
        format!("console does not name the root cause:\n{stdout}")
    })
}

/// The run passed with a warning on `link`: exit 0, no root cause, every link passes, and
/// `link`'s text has every one of `words`.
pub fn warns_on(ran: &Ran, link: &str, words: &[&str]) -> Result<(), Failed> {
    let suite = &ran.suite;
    exits(ran, 0)?;
    let root = suite.root_cause();
    ensure(root.is_empty(), || {
        format!("root_cause {root:?}, expected none")
    })?;
    let c = suite
        .case(link)
        .ok_or_else(|| format!("no testcase {link}"))?;
    for w in words {
        ensure(c.outcome == "pass" && c.body.contains(w), || {
            format!("{link}: {c:?}, expected a passing warning with {w:?}")
        })?;
    }
    ensure(suite.cases.iter().all(|(_, c)| c.outcome == "pass"), || {
        format!("{suite:?}")
    })
}

// ---------------------------------------------------------------------------------------
// `pipecheck mock`

/// A running `pipecheck mock` and the exports it printed (`export K='V'`).
pub struct Mock {
    child: Child,
    /// Its stdout, open while it runs: a mock writing to a closed pipe would die.
    stdout: BufReader<ChildStdout>,
    pub env: BTreeMap<String, String>,
}

impl Mock {
    /// Starts `pipecheck mock` (its stderr to `stderr`) and reads its exports until it has
    /// printed every one of `expected`, for at most 20 s.
    pub fn start(stderr: Stdio, expected: &[&str]) -> Result<Self, Failed> {
        Self::start_with(&[], stderr, expected)
    }

    /// [`Mock::start`] with more arguments after `pipecheck mock`.
    pub fn start_with(args: &[&str], stderr: Stdio, expected: &[&str]) -> Result<Self, Failed> {
        let mut child = Command::new(bin())
            .args(["mock"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("spawn: {e}"))?;
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut mock = Mock {
            child,
            stdout,
            env: BTreeMap::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        let done = |env: &BTreeMap<String, String>| expected.iter().all(|k| env.contains_key(*k));
        while !done(&mock.env) && Instant::now() < deadline {
            let mut line = String::new();
            if mock
                .stdout
                .read_line(&mut line)
                .map_err(|e| e.to_string())?
                == 0
            {
                break;
            }
            let Some(rest) = line.trim().strip_prefix("export ") else {
                continue;
            };
            let (k, v) = rest.split_once('=').ok_or("export without =")?;
            mock.env
                .insert(k.to_string(), v.trim_matches('\'').to_string());
        }
        for k in expected {
            ensure(mock.env.contains_key(*k), || {
                format!("missing export {k}: {:?}", mock.env.keys())
            })?;
        }
        Ok(mock)
    }

    /// `pipecheck run --target aws <args> --junit <report>` configured only by the mock's
    /// exports, as a user's shell would after `eval`: no config or credentials files (they
    /// would be `none` beside the report), no instance metadata; `adjust` adds to it.
    pub fn run_aws(
        &self,
        args: &[&str],
        report: &Path,
        adjust: impl FnOnce(&mut Command),
    ) -> Result<Output, Failed> {
        let none = report.with_file_name("none");
        let mut cmd = Command::new(bin());
        cmd.args(["run", "--target", "aws"])
            .args(args)
            .arg("--junit")
            .arg(report)
            .envs(&self.env)
            .env("NO_COLOR", "1")
            .env("AWS_CONFIG_FILE", &none)
            .env("AWS_SHARED_CREDENTIALS_FILE", &none)
            .env("AWS_EC2_METADATA_DISABLED", "true");
        adjust(&mut cmd);
        Ok(cmd.output().map_err(|e| e.to_string())?)
    }

    /// SIGINT, as Ctrl-C sends it, then up to 10 s for the mock to exit: its status, or
    /// None when it had to be killed.
    pub fn stop(mut self) -> Result<Option<ExitStatus>, Failed> {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let stop_deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(s) = self.child.try_wait().map_err(|e| e.to_string())? {
                return Ok(Some(s));
            }
            if Instant::now() > stop_deadline {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Mock {
    fn drop(&mut self) {
        // Stopped already, or stopped now: never left running after its trial.
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------
// `pipecheck watch`

/// A running `pipecheck watch --listen 127.0.0.1:0`, its address read from its stdout, its
/// stderr (the logs) in a file.
pub struct Watch {
    child: Child,
    /// Its stdout, open while it runs.
    _stdout: BufReader<ChildStdout>,
    pub addr: String,
    dir: tempfile::TempDir,
}

impl Watch {
    /// `pipecheck watch --listen 127.0.0.1:0 <args>`; `adjust` adds to the command (its
    /// environment). Waits for the address line (the process exiting ends the wait).
    pub fn start(args: &[&str], adjust: impl FnOnce(&mut Command)) -> Result<Self, Failed> {
        let dir = tmp();
        let log = std::fs::File::create(dir.path().join("stderr")).map_err(|e| e.to_string())?;
        let mut cmd = Command::new(bin());
        cmd.args(["watch", "--listen", "127.0.0.1:0"])
            .args(args)
            .env("NO_COLOR", "1")
            .env_remove("AWS_PROFILE")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log);
        adjust(&mut cmd);
        let mut child = cmd.spawn().map_err(|e| format!("spawn: {e}"))?;
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).map_err(|e| e.to_string())?;
        let addr = line
            .trim()
            .strip_prefix("pipecheck watch: listening on ")
            .map(str::to_string);
        let mut w = Watch {
            child,
            _stdout: stdout,
            addr: String::new(),
            dir,
        };
        match addr {
            Some(a) => {
                w.addr = a;
                Ok(w)
            }
            None => {
                let _ = w.child.kill();
                let _ = w.child.wait();
                Err(format!("no address line: {line:?}; stderr: {}", w.stderr()).into())
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The logs so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr")).unwrap_or_default()
    }

    /// `method path` on the watch: status and body.
    pub fn http(&self, method: &str, path: &str, body: &str) -> Result<(u16, String), Failed> {
        http(&self.addr, method, path, body)
    }

    /// GET `path`, which must answer 200: the body.
    pub fn get(&self, path: &str) -> Result<String, Failed> {
        let (status, body) = self.http("GET", path, "")?;
        ensure(status == 200, || format!("GET {path}: {status} {body}"))?;
        Ok(body)
    }

    /// The value of the sample `series` (name and labels as exposed) in /metrics.
    pub fn metric(&self, series: &str) -> Result<Option<f64>, Failed> {
        Ok(sample(&self.get("/metrics")?, series))
    }

    /// Polls /metrics every 100 ms until `done` holds, for at most `within`.
    pub fn wait_metrics(
        &self,
        what: &str,
        within: Duration,
        mut done: impl FnMut(&str) -> bool,
    ) -> Result<String, Failed> {
        let deadline = Instant::now() + within;
        loop {
            let text = self.get("/metrics")?;
            if done(&text) {
                return Ok(text);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{what}: not within {within:?}; /metrics:\n{text}\nlogs (tail):\n{}",
                    tail(&self.stderr(), 3000)
                )
                .into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGTERM (or `signal`), then up to 30 s for it to exit: its status and logs.
    pub fn stop(mut self, signal: &str) -> Result<(ExitStatus, String), Failed> {
        let _ = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(s) = self.child.try_wait().map_err(|e| e.to_string())? {
                return Ok((s, self.stderr()));
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return Err(format!("the watch did not stop on {signal} within 30 s").into());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The last `n` bytes of `s` (at a character boundary).
pub fn tail(s: &str, n: usize) -> &str {
    let mut start = s.len().saturating_sub(n);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

/// The value of `series` (e.g. `x_total{scenario="smoke"}`) in a text exposition.
pub fn sample(exposition: &str, series: &str) -> Option<f64> {
    exposition.lines().find_map(|l| {
        l.strip_prefix(series)
            .and_then(|rest| rest.strip_prefix(' '))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
    })
}

/// One HTTP/1.1 request to `addr` (loopback), the connection closed after it: status and
/// body. Bounded: 10 s to connect, read and write.
pub fn http(addr: &str, method: &str, path: &str, body: &str) -> Result<(u16, String), Failed> {
    use std::io::{Read, Write};
    let sock: std::net::SocketAddr = addr.parse().map_err(|e| format!("{addr}: {e}"))?;
    let mut s = std::net::TcpStream::connect_timeout(&sock, Duration::from_secs(10))
        .map_err(|e| format!("connect {addr}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .and_then(|()| s.set_write_timeout(Some(Duration::from_secs(10))))
        .map_err(|e| e.to_string())?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .map_err(|e| format!("{method} {path}: {e}"))?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)
        .map_err(|e| format!("{method} {path}: {e}"))?;
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, rest) = raw
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("{method} {path}: no header end in {raw:?}"))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("{method} {path}: no status in {head:?}"))?;
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    Ok((
        status,
        if chunked {
            dechunk(rest)
        } else {
            rest.to_string()
        },
    ))
}

/// A chunked body's content.
fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}
