//! Time to verdict: wall time of the release `pipecheck run` binary for the default
//! scenario, for each catalog fault that applies to `smoke`, and for 20 scenarios in one
//! invocation against one.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::report::{Report, Row, Verdict, met, secs};

pub struct Config {
    pub smoke_reps: usize,
    pub many: usize,
    pub timeout: Duration,
}

/// Builds (or finds up to date) the release `pipecheck` binary with the cargo that runs
/// the bench, and returns its path as cargo reports it.
pub fn build_pipecheck(report: &mut Report) -> Result<PathBuf, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .ok_or("no workspace root")?;
    eprintln!("time to verdict: cargo build --release -p pipecheck");
    let mut child = std::process::Command::new(cargo)
        .args([
            "build",
            "--release",
            "-p",
            "pipecheck",
            "--bin",
            "pipecheck",
            "--message-format=json",
        ])
        .current_dir(root)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    let stdout = child.stdout.take().expect("piped");
    // Read on a thread so the build is bounded in time.
    let reader = std::thread::spawn(move || {
        let mut exe = None;
        for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)).map_while(Result::ok) {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            if v["reason"] == "compiler-artifact"
                && v["target"]["name"] == "pipecheck"
                && let Some(e) = v["executable"].as_str()
            {
                exe = Some(PathBuf::from(e));
            }
        }
        exe
    });
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().map_err(|e| e.to_string())? {
            break s;
        }
        if started.elapsed() > Duration::from_secs(20 * 60) {
            let _ = child.kill();
            let _ = child.wait();
            return Err("cargo build took more than 20 minutes".into());
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let exe = reader.join().ok().flatten();
    if !status.success() {
        return Err(format!(
            "cargo build --release -p pipecheck failed ({status})"
        ));
    }
    let exe = exe.ok_or("cargo did not name the pipecheck executable")?;
    report.note(format!(
        "time to verdict: {} (built by the bench with cargo build --release -p pipecheck)",
        exe.display()
    ));
    Ok(exe)
}

struct Outcome {
    wall: Duration,
    code: Option<i32>,
    stderr: String,
    junit: String,
}

/// A `pipecheck run` that must not outlive its measurement: if it has not exited when this
/// is dropped (timeout, Ctrl-C), it gets SIGTERM, so it removes what it started as its
/// interrupt path does, and SIGKILL 3 s later.
struct Running(tokio::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        if !matches!(self.0.try_wait(), Ok(None)) {
            return;
        }
        if let Some(pid) = self.0.id() {
            // SAFETY: kill(2) on the pid of our own child, which has not been reaped.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
        }
        let until = Instant::now() + Duration::from_secs(3);
        while Instant::now() < until {
            if !matches!(self.0.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.start_kill();
    }
}

async fn pipecheck(bin: &Path, args: &[&str], timeout: Duration) -> Result<Outcome, String> {
    use tokio::io::AsyncReadExt;
    let dir = tempfile::Builder::new()
        .prefix("pipecheck-bench-run-")
        .tempdir()
        .map_err(|e| e.to_string())?;
    let junit = dir.path().join("report.xml");
    let started = Instant::now();
    let mut child = Running(
        tokio::process::Command::new(bin)
            .args(args)
            .arg("--junit")
            .arg(&junit)
            .current_dir(dir.path())
            .env("NO_COLOR", "1")
            .env_remove("AWS_PROFILE")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", bin.display()))?,
    );
    let mut stderr = child.0.stderr.take().expect("piped");
    let read = tokio::spawn(async move {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf).await;
        buf
    });
    let status = tokio::time::timeout(timeout, child.0.wait())
        .await
        .map_err(|_| format!("pipecheck {} took more than {timeout:?}", args.join(" ")))?
        .map_err(|e| e.to_string())?;
    let wall = started.elapsed();
    let stderr = read.await.unwrap_or_default();
    Ok(Outcome {
        wall,
        code: status.code(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
        junit: std::fs::read_to_string(&junit).unwrap_or_default(),
    })
}

/// Every `name="<prop>" value="…"` in a JUnit report.
fn properties(xml: &str, prop: &str) -> Vec<String> {
    let key = format!("name=\"{prop}\" value=\"");
    xml.match_indices(&key)
        .filter_map(|(i, _)| {
            let rest = &xml[i + key.len()..];
            rest.find('"').map(|end| rest[..end].to_string())
        })
        .collect()
}

pub async fn run(cfg: &Config, bin: Result<PathBuf, String>, report: &mut Report) {
    let bin = match bin {
        Ok(b) => b,
        Err(e) => {
            report.row(Row::skipped("time to verdict, smoke", "<= 2 s", e.clone()));
            report.row(Row::skipped(
                "time to verdict, each fault",
                "<= 3 s each",
                e.clone(),
            ));
            report.row(Row::skipped("20 scenarios in one run vs one", "<= 1.5x", e));
            return;
        }
    };

    // The default scenario.
    let mut smoke = Vec::new();
    let mut arrivals = Vec::new();
    let mut smoke_ok = true;
    for _ in 0..cfg.smoke_reps {
        match pipecheck(&bin, &["run"], cfg.timeout).await {
            Ok(o) => {
                if o.code != Some(0) {
                    smoke_ok = false;
                    report.note(format!(
                        "pipecheck run exited {:?}: {}",
                        o.code,
                        o.stderr.trim()
                    ));
                }
                arrivals.extend(properties(&o.junit, "arrival_latency_ms"));
                smoke.push(o.wall);
            }
            Err(e) => {
                smoke_ok = false;
                report.note(e);
            }
        }
    }
    smoke.sort();
    let one = smoke.get(smoke.len() / 2).copied();
    eprintln!("  smoke: {smoke:?}");
    report.row(match one {
        Some(t) => Row {
            name: format!("time to verdict, smoke (median of {})", smoke.len()),
            goal: "<= 2 s".into(),
            mock: secs(t),
            other: "-".into(),
            ratio: "-".into(),
            verdict: if smoke_ok {
                met(t <= Duration::from_secs(2))
            } else {
                Verdict::Missed
            },
        },
        None => Row::skipped("time to verdict, smoke", "<= 2 s", "no run finished"),
    });
    if !arrivals.is_empty() {
        report.note(format!(
            "smoke: the harness saw its canary {} ms after the write (arrival_latency_ms)",
            arrivals.join(", ")
        ));
    }

    // Each catalog fault that applies to smoke.
    let names = match tokio::process::Command::new(&bin)
        .arg("faults")
        .kill_on_drop(true)
        .output()
        .await
    {
        Ok(o) => String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter_map(|l| l.split_whitespace().nth(1).map(String::from))
            .collect::<Vec<_>>(),
        Err(e) => {
            report.note(format!("pipecheck faults: {e}"));
            Vec::new()
        }
    };
    let mut times: Vec<(String, Duration, Option<i32>)> = Vec::new();
    let mut faults_ok = true;
    for name in &names {
        match pipecheck(&bin, &["run", "--fault", name], cfg.timeout).await {
            Ok(o) if o.code == Some(2) && o.stderr.contains("does not apply") => {}
            Ok(o) => {
                if !matches!(o.code, Some(0 | 1)) {
                    faults_ok = false;
                    report.note(format!(
                        "--fault {name} exited {:?}: {}",
                        o.code,
                        o.stderr.trim()
                    ));
                }
                eprintln!(
                    "  --fault {name}: {:.2} s, exit {:?}",
                    o.wall.as_secs_f64(),
                    o.code
                );
                times.push((name.clone(), o.wall, o.code));
            }
            Err(e) => {
                faults_ok = false;
                report.note(e);
            }
        }
    }
    if let Some((worst, t, _)) = times.iter().max_by_key(|(_, t, _)| *t) {
        let all: Vec<String> = times
            .iter()
            .map(|(n, t, c)| format!("{n} {:.2}s (exit {})", t.as_secs_f64(), c.unwrap_or(-1)))
            .collect();
        report.note(format!("faults on smoke: {}", all.join(", ")));
        let slow = times
            .iter()
            .filter(|(_, t, _)| *t > Duration::from_secs(3))
            .count();
        report.row(Row {
            name: format!("time to verdict, each fault ({})", times.len()),
            goal: "<= 3 s each".into(),
            mock: format!("slowest {} ({worst}), {slow} over 3 s", secs(*t)),
            other: "-".into(),
            ratio: "-".into(),
            verdict: if faults_ok {
                met(slow == 0)
            } else {
                Verdict::Missed
            },
        });
    } else {
        report.row(Row::skipped(
            "time to verdict, each fault",
            "<= 3 s each",
            "no fault applies or none ran",
        ));
    }

    // Many scenarios in one invocation.
    let mut args = vec!["run"];
    for _ in 0..cfg.many {
        args.extend(["--scenario", "smoke"]);
    }
    let many = pipecheck(&bin, &args, cfg.timeout * 4).await;
    let name = format!("{} scenarios in one run vs one", cfg.many);
    match (many, one) {
        (Ok(o), Some(one)) => {
            let suites = o.junit.matches("<testsuite ").count();
            if o.code != Some(0) || suites != cfg.many {
                report.note(format!(
                    "{} x smoke exited {:?} with {suites} suites: {}",
                    cfg.many,
                    o.code,
                    o.stderr.trim()
                ));
            }
            let ratio = o.wall.as_secs_f64() / one.as_secs_f64();
            report.row(Row {
                name,
                goal: "<= 1.5x".into(),
                mock: format!("{} for {}", secs(o.wall), cfg.many),
                other: format!("{} for 1", secs(one)),
                ratio: format!("{ratio:.2}x"),
                verdict: if o.code == Some(0) && suites == cfg.many {
                    met(ratio <= 1.5)
                } else {
                    Verdict::Missed
                },
            });
        }
        (Err(e), _) => report.row(Row::skipped(name, "<= 1.5x", e)),
        (_, None) => report.row(Row::skipped(name, "<= 1.5x", "no single run to compare")),
    }
}
