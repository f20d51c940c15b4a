//! Readiness at workshop scale: `pipecheck readiness` over many mock accounts against one
//! account, `--parallel` at its default. The accounts are one `pipecheck mock` (its
//! exports, under as many names): readiness only reads, so they cannot disturb each
//! other. Wall time and the readiness process's peak resident memory (its `VmHWM`,
//! sampled while it runs: `wait4`'s `ru_maxrss` would count the bench's own memory, which
//! the child had before its exec), side by side.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::procs::{Error, Lines, die_with_parent, kill};
use crate::report::{Report, Row, met, secs};

pub struct Config {
    pub accounts: usize,
    /// Runs of the one-account case (the median is compared).
    pub single_reps: usize,
    pub timeout: Duration,
}

/// What an account entry's `env` takes from `pipecheck mock`'s exports.
const ACCOUNT_ENV: &[&str] = &[
    "AWS_ENDPOINT_URL_AMP",
    "AWS_ENDPOINT_URL_STS",
    "AWS_ENDPOINT_URL_GRAFANA",
    "AWS_ENDPOINT_URL_EKS",
    "AWS_ENDPOINT_URL_IAM",
    "AWS_ENDPOINT_URL_EC2",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_REGION",
    "PIPECHECK_WORKSPACE_ID",
    "PIPECHECK_GRAFANA_WORKSPACE_ID",
    "PIPECHECK_CLUSTER",
    "KUBECONFIG",
];

/// `pipecheck mock` as a child: killed and reaped when dropped (it removes its kubeconfig
/// directory on SIGTERM only, so it gets that first).
struct PipecheckMock {
    child: Child,
    lines: Lines,
    exports: Vec<(String, String)>,
}

impl PipecheckMock {
    fn start(bin: &Path) -> Result<Self, Error> {
        let mut cmd = Command::new(bin);
        cmd.arg("mock")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        die_with_parent(&mut cmd);
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot run {} mock: {e}", bin.display()))?;
        let lines = Lines::new(child.stdout.take().expect("piped"));
        let mut mock = Self {
            child,
            lines,
            exports: Vec::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !ACCOUNT_ENV
            .iter()
            .all(|k| mock.exports.iter().any(|(n, _)| n == k))
        {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err("pipecheck mock printed not every export within 30 s".into());
            }
            let line = mock.lines.next(left)?;
            if let Some((k, v)) = line
                .trim()
                .strip_prefix("export ")
                .and_then(|r| r.split_once('='))
            {
                mock.exports
                    .push((k.to_string(), v.trim_matches('\'').to_string()));
            }
        }
        Ok(mock)
    }

    /// An accounts file of `n` accounts, every one this mock.
    fn accounts_yaml(&self, n: usize) -> String {
        let mut out = String::from("accounts:\n");
        for i in 0..n {
            out.push_str(&format!("  - name: account-{i:03}\n    env:\n"));
            for (k, v) in &self.exports {
                if ACCOUNT_ENV.contains(&k.as_str()) {
                    out.push_str(&format!("      {k}: '{v}'\n"));
                }
            }
        }
        out
    }
}

impl Drop for PipecheckMock {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // SAFETY: kill(2) on the pid of our own child, which has not been reaped.
            unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
            let until = Instant::now() + Duration::from_secs(3);
            while Instant::now() < until && matches!(self.child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        kill(&mut self.child);
    }
}

struct Measured {
    wall: Duration,
    /// Peak resident memory, bytes.
    peak_rss: u64,
}

/// One `pipecheck readiness` over the accounts in `file`; every account must be READY.
async fn readiness(
    bin: &Path,
    file: &Path,
    dir: &Path,
    n: usize,
    timeout: Duration,
) -> Result<Measured, Error> {
    let out_path = dir.join("readiness.out");
    let out = std::fs::File::create(&out_path).map_err(|e| e.to_string())?;
    let mut cmd = Command::new(bin);
    cmd.arg("readiness")
        .arg("--accounts")
        .arg(file)
        .arg("--junit")
        .arg(dir.join("readiness.xml"))
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("AWS_PROFILE")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(Stdio::null());
    die_with_parent(&mut cmd);
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot run {} readiness: {e}", bin.display()))?;
    let mut peak = 0;
    let status = loop {
        peak = peak.max(vm_hwm(child.id()).unwrap_or(0));
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if started.elapsed() > timeout {
            kill(&mut child);
            return Err(format!(
                "pipecheck readiness over {n} accounts took more than {timeout:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    let wall = started.elapsed();
    let stdout = std::fs::read_to_string(&out_path).unwrap_or_default();
    let code = status.code();
    let ready = format!("{n} of {n} accounts ready");
    if code != Some(0) || !stdout.contains(&ready) {
        return Err(format!(
            "pipecheck readiness over {n} accounts exited {code:?} without {ready:?}: {}",
            stdout.lines().rev().take(3).collect::<Vec<_>>().join(" | ")
        ));
    }
    Ok(Measured {
        wall,
        peak_rss: peak,
    })
}

/// `VmHWM` (peak resident memory so far) of a running process, in bytes.
fn vm_hwm(pid: u32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
}

fn mib(bytes: u64) -> String {
    format!("{:.0} MiB", bytes as f64 / (1024.0 * 1024.0))
}

pub async fn run(cfg: &Config, bin: &Path, report: &mut Report) {
    let name = format!("readiness, {} accounts vs 1", cfg.accounts);
    let goal = "<= 3x";
    match measure(cfg, bin).await {
        Ok((one, many)) => {
            let ratio = many.wall.as_secs_f64() / one.wall.as_secs_f64();
            report.row(Row {
                name,
                goal: goal.into(),
                mock: format!(
                    "{} for {}, peak RSS {}",
                    secs(many.wall),
                    cfg.accounts,
                    mib(many.peak_rss)
                ),
                other: format!("{} for 1, peak RSS {}", secs(one.wall), mib(one.peak_rss)),
                ratio: format!("{ratio:.2}x"),
                verdict: met(ratio <= 3.0),
            });
        }
        Err(e) => report.row(Row::skipped(name, goal, e)),
    }
}

async fn measure(cfg: &Config, bin: &Path) -> Result<(Measured, Measured), Error> {
    let dir = tempfile::Builder::new()
        .prefix("pipecheck-bench-readiness-")
        .tempdir()
        .map_err(|e| format!("cannot make a temporary directory: {e}"))?;
    let mock = PipecheckMock::start(bin)?;
    let files = [1, cfg.accounts].map(|n| (n, dir.path().join(format!("accounts-{n}.yaml"))));
    for (n, f) in &files {
        std::fs::write(f, mock.accounts_yaml(*n))
            .map_err(|e| format!("cannot write {}: {e}", f.display()))?;
    }
    let mut singles = Vec::new();
    for _ in 0..cfg.single_reps.max(1) {
        singles.push(readiness(bin, &files[0].1, dir.path(), 1, cfg.timeout).await?);
    }
    singles.sort_by_key(|m| m.wall);
    let one = singles.swap_remove(singles.len() / 2);
    eprintln!(
        "  readiness, 1 account: {} (median of {})",
        secs(one.wall),
        cfg.single_reps.max(1)
    );
    let many = readiness(bin, &files[1].1, dir.path(), cfg.accounts, cfg.timeout).await?;
    eprintln!(
        "  readiness, {} accounts: {}",
        cfg.accounts,
        secs(many.wall)
    );
    drop(mock);
    Ok((one, many))
}
