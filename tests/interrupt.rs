//! SIGINT and SIGTERM at several points of a run: the real `pipecheck` binary is stopped
//! while a link waits (mock, process collector, container collector, cluster), right after
//! it starts, at random moments, and with two scenarios in flight. Each trial asserts
//! exit 130, that no child process (not even a zombie: the collector is reaped before
//! pipecheck exits), collector container, temporary directory (the run gets its own
//! TMPDIR) or mock listener outlives the run, and that the partial JUnit
//! report is written, validates against the schema, keeps the links that finished as
//! they ended and marks the others interrupted (a JUnit `error` of type `interrupted`).

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use libtest_mimic::{Arguments, Failed, Trial};

#[path = "support/mod.rs"]
mod support;

use support::{bin, ensure, have, needs, read_junit, text, tmp, validate_xsd};

/// When the signal is sent.
#[derive(Clone, Copy, Debug)]
enum When {
    /// Once the console has printed this link's line (the link finished).
    After(&'static str),
    /// Once the console printed the scenario header, before any link finished.
    Started,
    /// Once the collector runs (a child process or a container of this run).
    CollectorRuns,
    /// After a random delay up to this many milliseconds from the start.
    Random(u64),
}

struct Point {
    args: &'static [&'static str],
    signal: &'static str,
    when: When,
    /// A link that must be reported as interrupted while running.
    running: Option<&'static str>,
}

/// What a run left behind and said, once it ended.
struct Stopped {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    report: std::path::PathBuf,
    /// Links that finished before the signal, by the suite the console showed them under
    /// (`smoke@mock`).
    finished_before: Vec<(String, String)>,
    /// How long after the start the signal went.
    at: Duration,
}

fn pids_of_children(pid: u32) -> Vec<u32> {
    let out = Command::new("pgrep")
        .args(["-P", &pid.to_string()])
        .output()
        .map(|o| text(&o.stdout))
        .unwrap_or_default();
    out.lines().filter_map(|l| l.trim().parse().ok()).collect()
}

/// The collector containers started by the pipecheck process `pid` (their
/// `pipecheck-owner` label is `<pid>-<start time>`): trials run in parallel, so other
/// runs' containers must not count.
fn collector_containers_of(pid: u32) -> Vec<String> {
    let out = Command::new("docker")
        .args([
            "ps",
            "-a",
            "--filter",
            "label=pipecheck=collector",
            "--format",
            "{{.ID}} {{.Label \"pipecheck-owner\"}}",
        ])
        .output()
        .map(|o| text(&o.stdout))
        .unwrap_or_default();
    let owner = format!("{pid}-");
    out.lines()
        .filter_map(|l| l.split_once(' '))
        .filter(|(_, o)| o.starts_with(&owner))
        .map(|(id, _)| id.to_string())
        .collect()
}

/// The state letter of process `pid` (`R`, `S`, `Z` for a zombie, …), if it exists.
fn process_state(pid: u32) -> Option<char> {
    let stat = text(&std::fs::read(format!("/proc/{pid}/stat")).ok()?);
    stat.rsplit_once(") ")?.1.chars().next()
}

/// This process adopts the orphans of the runs it starts (a child subreaper): a child
/// that `pipecheck` left unreaped when it exited (a zombie) is then kept as a zombie here,
/// where the trial sees it, instead of being reaped at once by init.
fn adopt_orphans() {
    // SAFETY: prctl(PR_SET_CHILD_SUBREAPER) only changes how this process's orphaned
    // descendants are reparented.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1) };
}

/// Reaps `pid` if it became this process's zombie (see [`adopt_orphans`]).
fn reap(pid: u32) {
    let mut status = 0;
    // SAFETY: waitpid on one pid with WNOHANG: returns at once, whoever's child it is.
    unsafe { libc::waitpid(pid as libc::pid_t, &mut status, libc::WNOHANG) };
}

/// The link a console line reports (`  pass   0.02s  aws.identity  …`), if any.
fn link_of(line: &str) -> Option<&str> {
    let mut words = line.split_whitespace();
    let status = words.next()?;
    ["pass", "warn", "FAIL", "blocked", "stopped"]
        .contains(&status)
        .then(|| words.nth(1))
        .flatten()
}

/// The suite a console header starts (`pipecheck run <id> · scenario smoke @ mock · …`),
/// named as in the JUnit report (`smoke@mock`).
fn suite_of_header(line: &str) -> Option<String> {
    let rest = line.strip_prefix("pipecheck run ")?;
    let (_, rest) = rest.split_once(" · scenario ")?;
    let (scenario_at_target, _) = rest.split_once(" · ")?;
    Some(scenario_at_target.replace(" @ ", "@"))
}

/// The processes listening on loopback TCP `port`: the socket's inode from
/// /proc/net/tcp, then the processes holding it.
fn listener_owners(port: u16) -> Vec<u32> {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    let inodes: Vec<String> = table
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            // local_address is HEX_IP:HEX_PORT; state 0A is LISTEN.
            let local_port = f.get(1)?.rsplit(':').next()?;
            (u16::from_str_radix(local_port, 16).ok()? == port && f.get(3)? == &"0A")
                .then(|| f.get(9).map(|i| i.to_string()))
                .flatten()
        })
        .collect();
    let mut owners = Vec::new();
    for proc_dir in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = proc_dir
            .file_name()
            .to_str()
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let fds = std::fs::read_dir(proc_dir.path().join("fd"))
            .into_iter()
            .flatten()
            .flatten();
        for fd in fds {
            let target = std::fs::read_link(fd.path()).unwrap_or_default();
            let target = target.to_string_lossy();
            if inodes.iter().any(|i| target == format!("socket:[{i}]")) {
                owners.push(pid);
                break;
            }
        }
    }
    owners
}

/// Runs `pipecheck run <args>`, sends `signal` at `when`, and waits for the end (all
/// bounded), checking that no child process, container or temporary file outlives it.
fn stop_at(point: &Point) -> Result<Stopped, Failed> {
    let dir = tmp();
    let tmpdir = dir.path().join("tmp");
    std::fs::create_dir(&tmpdir).map_err(|e| e.to_string())?;
    let report = dir.path().join("r.xml");
    let mut child: Child = Command::new(bin())
        .arg("run")
        .args(point.args)
        .arg("--junit")
        .arg(&report)
        .env("NO_COLOR", "1")
        .env("TMPDIR", &tmpdir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let pid = child.id();
    let t0 = Instant::now();
    let (tx, lines) = mpsc::channel::<String>();
    let out = child.stdout.take().expect("piped");
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut seen: Vec<String> = Vec::new();
    let mut kids = Vec::new();
    let mut containers = Vec::new();
    let deadline = t0 + Duration::from_secs(90);
    let mut reached = false;
    let random_at = match point.when {
        // A random delay: std's per-process random hash keys are the only randomness needed.
        When::Random(max) => {
            use std::hash::{BuildHasher, Hasher};
            let r = std::hash::RandomState::new().build_hasher().finish();
            Some(Duration::from_millis(r % (max + 1)))
        }
        _ => None,
    };
    while Instant::now() < deadline && child.try_wait().map_err(|e| e.to_string())?.is_none() {
        while let Ok(l) = lines.try_recv() {
            seen.push(l);
        }
        kids.extend(pids_of_children(pid));
        kids.sort();
        kids.dedup();
        if matches!(point.when, When::CollectorRuns) {
            containers = collector_containers_of(pid);
        }
        reached = match point.when {
            When::After(link) => seen.iter().any(|l| link_of(l) == Some(link)),
            When::Started => seen.iter().any(|l| l.starts_with("pipecheck run ")),
            When::CollectorRuns => !kids.is_empty() || !containers.is_empty(),
            When::Random(_) => t0.elapsed() >= random_at.unwrap_or_default(),
        };
        if reached {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let at = t0.elapsed();
    let mut finished_before = Vec::new();
    let mut suite = String::new();
    for l in &seen {
        if let Some(s) = suite_of_header(l) {
            suite = s;
        } else if let Some(link) = link_of(l) {
            finished_before.push((suite.clone(), link.to_string()));
        }
    }
    let _ = Command::new("kill")
        .args([&format!("-{}", point.signal), &pid.to_string()])
        .status();
    let stop_deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().map_err(|e| e.to_string())? {
            break Some(s);
        }
        if Instant::now() > stop_deadline {
            let _ = child.kill();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let _ = reader.join();
    let stdout = [seen, lines.try_iter().collect()].concat().join("\n");
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut e, &mut stderr);
    }
    ensure(reached, || {
        format!(
            "{:?} never came ({at:?}); stdout:\n{stdout}\nstderr:\n{stderr}",
            point.when
        )
    })?;
    ensure(status.is_some(), || {
        format!("pipecheck did not exit within 30 s of {}", point.signal)
    })?;

    // Nothing outlives the run, not even a zombie: pipecheck reaps its collector before
    // it exits (an unreaped child would now be this process's zombie).
    std::thread::sleep(Duration::from_millis(200));
    let left: Vec<(u32, char)> = kids
        .iter()
        .filter_map(|k| process_state(*k).map(|s| (*k, s)))
        .collect();
    for (k, _) in &left {
        reap(*k);
    }
    ensure(left.is_empty(), || {
        format!(
            "processes outlived the run (pid, state; Z: exited but never reaped by pipecheck): {left:?}"
        )
    })?;
    if matches!(point.when, When::CollectorRuns) || point.args.contains(&"prometheus-container") {
        let left = collector_containers_of(pid);
        ensure(left.is_empty(), || {
            format!("containers left behind: {left:?}")
        })?;
    }
    let left: Vec<String> = std::fs::read_dir(&tmpdir)
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    ensure(left.is_empty(), || {
        format!("temporary files left behind in TMPDIR: {left:?}")
    })?;
    // The mock's listeners went with the process: no loopback port the run printed is
    // still listened on by the run or a child of it (trials run in parallel, so another
    // run may have bound the same port since: the listener's owner decides).
    let ports = regex::Regex::new(r"127\.0\.0\.1:(\d+)").expect("regex");
    let report_text = std::fs::read_to_string(&report).unwrap_or_default();
    let ours: Vec<u32> = kids.iter().copied().chain([pid]).collect();
    for cap in ports.captures_iter(&format!("{stdout}\n{report_text}")) {
        let port: u16 = cap[1].parse().map_err(|e| format!("{e}"))?;
        let addr = format!("127.0.0.1:{port}");
        let open =
            TcpStream::connect_timeout(&addr.parse().expect("addr"), Duration::from_millis(200))
                .is_ok();
        let owners = if open {
            listener_owners(port)
        } else {
            Vec::new()
        };
        ensure(!owners.iter().any(|o| ours.contains(o)), || {
            format!("{addr} is still listened on by the run (pids {owners:?})")
        })?;
    }
    // Keep the report past the temp dir.
    let kept = std::env::temp_dir().join(format!("pipecheck-interrupt-{pid}.xml"));
    let _ = std::fs::copy(&report, &kept);
    Ok(Stopped {
        code: status.and_then(|s| s.code()),
        stdout,
        stderr,
        report: kept,
        finished_before,
        at,
    })
}

/// The run stopped with exit 130, and its partial report marks what did not finish.
fn interrupted_with_partial_report(point: Point) -> Result<(), Failed> {
    let s = stop_at(&point)?;
    let context = || {
        format!(
            "signal {} at {:?}\nexit {:?}\nstdout:\n{}\nstderr:\n{}",
            point.signal, s.at, s.code, s.stdout, s.stderr
        )
    };
    let result = (|| {
        ensure(s.code == Some(130), || {
            format!("expected exit 130; {}", context())
        })?;
        let signal = if point.signal == "INT" {
            "SIGINT"
        } else {
            "SIGTERM"
        };
        ensure(
            s.stderr.contains(&format!("interrupted by {signal}")),
            context,
        )?;
        // Cleanup on the way out succeeded (a mock's own objects go with the mock).
        ensure(!s.stderr.contains("failed to delete"), context)?;
        if !s.report.exists() {
            // Only a run stopped before any scenario started writes no report.
            return ensure(
                s.stdout.lines().all(|l| !l.starts_with("pipecheck run ")),
                || {
                    format!(
                        "a scenario started but no partial report was written; {}",
                        context()
                    )
                },
            );
        }
        ensure(s.stderr.contains("partial junit report"), context)?;
        validate_xsd(&s.report)?;
        let suites = read_junit(&s.report)?;
        ensure(!suites.is_empty(), context)?;
        let mut interrupted = 0;
        for suite in &suites {
            let stopped = suite.properties.get("interrupted");
            for (name, case) in &suite.cases {
                if case.outcome == "interrupted" {
                    interrupted += 1;
                    ensure(stopped.map(String::as_str) == Some(signal), || {
                        format!("{name} interrupted but the suite says {stopped:?}")
                    })?;
                    ensure(case.message.contains(signal), || {
                        format!("{name}: {case:?}")
                    })?;
                }
            }
            // A link the console showed finished keeps its outcome in the report.
            for (shown_in, link) in &s.finished_before {
                if *shown_in != suite.name {
                    continue;
                }
                if let Some(case) = suite.case(link) {
                    ensure(case.outcome != "interrupted", || {
                        format!("{link} finished before the signal but is marked interrupted")
                    })?;
                }
            }
        }
        ensure(interrupted > 0, || {
            format!("no link marked interrupted; {}", context())
        })?;
        if let Some(link) = point.running {
            let case = suites.iter().find_map(|su| su.case(link));
            ensure(
                case.is_some_and(|c| c.outcome == "interrupted" && c.message.contains("while")),
                || format!("{link} should be interrupted while running: {case:?}"),
            )?;
        }
        Ok(())
    })();
    let _ = std::fs::remove_file(&s.report);
    result
}

fn needs_prometheus(trial: Trial) -> Trial {
    let ok = have("prometheus", &["--version"]);
    needs(
        trial,
        ok,
        "Debian's prometheus is not installed (scripts/test installs it)",
    )
}

fn needs_docker(trial: Trial) -> Trial {
    let ok = have("docker", &["info"]);
    needs(
        trial,
        ok,
        "no Docker engine answers (scripts/test starts one)",
    )
}

fn point(name: &str, p: Point) -> Trial {
    Trial::test(format!("interrupt::{name}"), move || {
        interrupted_with_partial_report(p)
    })
}

fn main() {
    let args = Arguments::from_args();
    adopt_orphans();
    // samples-dropped keeps amp.query waiting for its arrival deadline: a run that is
    // surely still going when the signal comes.
    const WAITING_SMOKE: &[&str] = &["--scenario", "smoke", "--fault", "samples-dropped"];
    let mut trials = vec![
        point(
            "sigint::smoke_while_amp_query_waits",
            Point {
                args: WAITING_SMOKE,
                signal: "INT",
                when: When::After("amp.remote_write"),
                running: Some("amp.query"),
            },
        ),
        point(
            "sigterm::smoke_just_started",
            Point {
                args: WAITING_SMOKE,
                signal: "TERM",
                when: When::Started,
                running: None,
            },
        ),
        point(
            "sigint::two_scenarios_in_flight",
            Point {
                args: &[
                    "--scenario",
                    "smoke",
                    "--scenario",
                    "grafana-provision",
                    "--fault",
                    "samples-dropped",
                ],
                signal: "INT",
                when: When::After("amp.remote_write"),
                running: Some("amp.query"),
            },
        ),
        point(
            "sigterm::cluster_while_amp_query_waits",
            Point {
                args: &["--scenario", "eks-adot", "--fault", "samples-dropped"],
                signal: "TERM",
                when: When::After("amp.remote_write"),
                running: Some("amp.query"),
            },
        ),
        needs_prometheus(point(
            "sigint::process_collector_running",
            Point {
                args: &["--scenario", "prometheus-proxy"],
                signal: "INT",
                when: When::CollectorRuns,
                running: None,
            },
        )),
        needs_prometheus(point(
            "sigterm::process_while_canary_scraped_waits",
            Point {
                args: &["--scenario", "prometheus-proxy"],
                signal: "TERM",
                when: When::After("collector.running"),
                running: Some("canary.scraped"),
            },
        )),
        needs_docker(point(
            "sigint::container_collector_running",
            Point {
                args: &["--scenario", "prometheus-container"],
                signal: "INT",
                when: When::CollectorRuns,
                running: None,
            },
        )),
    ];
    // Random moments of a waiting run, each its own trial: the delay is printed on failure.
    // Up to 1.5 s: the run waits out smoke's 2 s mock arrival deadline, so it is surely
    // still going then.
    for (i, signal) in ["INT", "TERM", "INT"].into_iter().enumerate() {
        trials.push(point(
            &format!("random::{i}_sig{}", signal.to_lowercase()),
            Point {
                args: WAITING_SMOKE,
                signal,
                when: When::Random(1_500),
                running: None,
            },
        ));
    }
    libtest_mimic::run(&args, trials).exit();
}
