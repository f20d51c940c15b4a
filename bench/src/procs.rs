//! The processes the bench measures: the mock AMP in a child process (this binary
//! re-executed in `serve-mock` mode, so its resident memory is its own) and Debian's
//! `prometheus` with a fresh temporary TSDB. Both are killed, waited for and their temporary
//! directories removed when their guard is dropped, on every exit path; both also get
//! `PR_SET_PDEATHSIG` so that a bench killed outright takes them with it.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use pipecheck_mocks::Identity;
use serde::Deserialize;

use crate::client::Endpoint;

pub type Error = String;

/// Makes the child die with the thread that spawned it (the bench's main thread, which
/// runs the whole orchestration). Children are only spawned from there.
pub fn die_with_parent(cmd: &mut Command) {
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
}

/// Lines of a child's stdout, read on a thread so that every read has a timeout.
pub struct Lines {
    rx: mpsc::Receiver<String>,
}

impl Lines {
    pub fn new(out: impl std::io::Read + Send + 'static) -> Self {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self { rx }
    }

    pub fn next(&self, timeout: Duration) -> Result<String, Error> {
        self.rx
            .recv_timeout(timeout)
            .map_err(|e| format!("no answer from the child within {timeout:?}: {e}"))
    }
}

/// Kills and reaps a child (SIGKILL: the mock and the throwaway TSDB need no shutdown).
pub fn kill(child: &mut Child) {
    if let Ok(None) = child.try_wait() {
        let _ = child.kill();
    }
    let _ = child.wait();
}

/// `VmRSS` of a process, in bytes.
pub fn rss_bytes(pid: u32) -> Result<u64, Error> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("cannot read /proc/{pid}/status: {e}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .ok_or_else(|| format!("no VmRSS in /proc/{pid}/status"))
}

/// What the `serve-mock` child prints first: where it listens and whom it accepts.
#[derive(Debug, serde::Serialize, Deserialize)]
pub struct MockInfo {
    pub amp: String,
    pub workspace: String,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
}

#[derive(Debug, Clone, Copy, serde::Serialize, Deserialize)]
pub struct MockStats {
    pub samples: u64,
    pub series: u64,
}

/// The mock AMP in a child process. Commands go over its stdin (`stats`); closing stdin
/// stops it.
pub struct MockChild {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Lines,
    pub info: MockInfo,
}

impl MockChild {
    pub fn start() -> Result<Self, Error> {
        let exe = std::env::current_exe().map_err(|e| format!("cannot find own binary: {e}"))?;
        let mut cmd = Command::new(exe);
        cmd.arg("serve-mock")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        die_with_parent(&mut cmd);
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start the mock child: {e}"))?;
        let stdin = child.stdin.take();
        let lines = Lines::new(child.stdout.take().expect("piped"));
        let first = match lines.next(Duration::from_secs(30)) {
            Ok(l) => l,
            Err(e) => {
                kill(&mut child);
                return Err(format!("the mock child did not start: {e}"));
            }
        };
        let info: MockInfo = match serde_json::from_str(&first) {
            Ok(i) => i,
            Err(e) => {
                kill(&mut child);
                return Err(format!(
                    "unexpected first line from the mock child {first:?}: {e}"
                ));
            }
        };
        Ok(Self {
            child,
            stdin,
            lines,
            info,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn rss(&self) -> Result<u64, Error> {
        rss_bytes(self.pid())
    }

    pub fn stats(&mut self) -> Result<MockStats, Error> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or("the mock child's stdin is closed")?;
        writeln!(stdin, "stats")
            .and_then(|_| stdin.flush())
            .map_err(|e| format!("cannot talk to the mock child: {e}"))?;
        let line = self.lines.next(Duration::from_secs(30))?;
        serde_json::from_str(&line).map_err(|e| format!("bad stats line {line:?}: {e}"))
    }

    pub fn endpoint(&self) -> Endpoint {
        let i = &self.info;
        let identity = Identity {
            access_key_id: i.access_key_id.clone(),
            secret_access_key: i.secret_access_key.clone(),
            session_token: None,
            arn: String::new(),
            account: String::new(),
            user_id: String::new(),
            allowed_actions: Default::default(),
            expired: false,
        };
        let base = format!("{}/workspaces/{}/api/v1/", i.amp, i.workspace);
        Endpoint::new(
            "mock",
            format!("{base}remote_write"),
            base,
            identity,
            i.region.clone(),
        )
    }
}

impl Drop for MockChild {
    fn drop(&mut self) {
        // Closing stdin asks it to stop; the kill makes sure.
        drop(self.stdin.take());
        kill(&mut self.child);
    }
}

/// Debian's prometheus as a remote-write receiver on a free loopback port, with its TSDB
/// and log in a temporary directory.
pub struct PromChild {
    child: Child,
    // Dropped after `child` is reaped (fields drop in order, after `Drop::drop`).
    dir: tempfile::TempDir,
    pub base: String,
    pub version: String,
}

impl PromChild {
    pub async fn start(bin: &Path, http: &reqwest::Client) -> Result<Self, Error> {
        let version = prometheus_version(bin)?;
        let mut last = String::new();
        // The free port can be taken between the probe and prometheus' bind: retry.
        for _ in 0..3 {
            match Self::try_start(bin, http, &version).await {
                Ok(p) => return Ok(p),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    async fn try_start(bin: &Path, http: &reqwest::Client, version: &str) -> Result<Self, Error> {
        let dir = tempfile::Builder::new()
            .prefix("pipecheck-bench-prom-")
            .tempdir()
            .map_err(|e| format!("cannot make a temporary directory: {e}"))?;
        let config = dir.path().join("prometheus.yml");
        std::fs::write(&config, "global:\n  scrape_interval: 1m\n")
            .map_err(|e| format!("cannot write {}: {e}", config.display()))?;
        let port = free_port()?;
        let log_path = dir.path().join("prometheus.log");
        let log = std::fs::File::create(&log_path)
            .map_err(|e| format!("cannot create {}: {e}", log_path.display()))?;
        let log2 = log
            .try_clone()
            .map_err(|e| format!("cannot open {}: {e}", log_path.display()))?;
        let mut cmd = Command::new(bin);
        cmd.arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--web.enable-remote-write-receiver")
            .arg("--log.level=warn")
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2);
        die_with_parent(&mut cmd);
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let mut p = Self {
            child,
            dir,
            base: format!("http://127.0.0.1:{port}"),
            version: version.to_string(),
        };
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = p.child.try_wait() {
                return Err(format!(
                    "prometheus exited at start ({status}): {}",
                    p.log_tail()
                ));
            }
            let ready = http
                .get(format!("{}/-/ready", p.base))
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                return Ok(p);
            }
            if started.elapsed() > Duration::from_secs(30) {
                return Err(format!(
                    "prometheus was not ready within 30 s: {}",
                    p.log_tail()
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn log_tail(&self) -> String {
        let text =
            std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(5)..].join(" | ")
    }

    pub fn endpoint(&self) -> Endpoint {
        // Prometheus ignores the signature; the client signs anyway so that it does the same
        // work for both servers.
        let identity = Identity {
            access_key_id: "AKIAPIPECHECKBENCH01".into(),
            secret_access_key: "not-checked-by-prometheus".into(),
            session_token: None,
            arn: String::new(),
            account: String::new(),
            user_id: String::new(),
            allowed_actions: Default::default(),
            expired: false,
        };
        Endpoint::new(
            "prometheus",
            format!("{}/api/v1/write", self.base),
            format!("{}/api/v1/", self.base),
            identity,
            "us-east-1".into(),
        )
    }

    /// Float samples appended to the head so far (its own counter).
    pub async fn samples_appended(&self, http: &reqwest::Client) -> Result<u64, Error> {
        let text = http
            .get(format!("{}/metrics", self.base))
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .map_err(|e| format!("prometheus /metrics: {e}"))?
            .text()
            .await
            .map_err(|e| format!("prometheus /metrics: {e}"))?;
        let mut total = 0.0;
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("prometheus_tsdb_head_samples_appended_total")
                && let Some(v) = rest.rsplit(' ').next()
            {
                total += v.parse::<f64>().unwrap_or(0.0);
            }
        }
        Ok(total as u64)
    }
}

impl Drop for PromChild {
    fn drop(&mut self) {
        kill(&mut self.child);
    }
}

fn prometheus_version(bin: &Path) -> Result<String, Error> {
    let out = Command::new(bin)
        .arg("--version")
        .output()
        .map_err(|e| format!("cannot run {} --version: {e}", bin.display()))?;
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    Ok(text
        .split_whitespace()
        .skip_while(|w| *w != "version")
        .nth(1)
        .unwrap_or("?")
        .to_string())
}

pub fn free_port() -> Result<u16, Error> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("cannot find a free port: {e}"))
}

/// `prometheus` on PATH, or the path given.
pub fn find_prometheus(given: Option<&Path>) -> Option<PathBuf> {
    if let Some(p) = given {
        return p.exists().then(|| p.to_path_buf());
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("prometheus"))
            .find(|p| p.is_file())
    })
}
