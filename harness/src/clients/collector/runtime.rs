//! Runtimes start a collector under test: a local process, or a container through
//! testcontainers (host networking, so every byte stays on loopback). Both capture the
//! collector's log lines, report whether it still runs, and stop it: the run's session
//! stops it when it unwinds its teardown stack, on every way out of the run. A process
//! is reaped there (no zombie); a container whose start was cut short is found by its
//! owner label.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use testcontainers::core::Mount;
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};

use crate::chain::BoxFuture;
use crate::scenario::CollectorKind;

/// The config file a collector of `kind` reads, in its work directory.
pub fn config_file(kind: CollectorKind) -> &'static str {
    match kind {
        CollectorKind::Prometheus => "prometheus.yml",
        CollectorKind::Otelcol => "otelcol.yaml",
    }
}

/// The command line a collector of `kind` is started with: its config in `dir`, its own
/// HTTP (API and metrics) on 127.0.0.1:`web_port` (for otelcol that address is in the
/// config's `service.telemetry`).
pub fn collector_args(kind: CollectorKind, dir: &Path, web_port: u16) -> Vec<String> {
    let config = dir.join(config_file(kind));
    match kind {
        // Agent mode: scrape and remote-write, no local query engine, as collectors run.
        CollectorKind::Prometheus => vec![
            format!("--config.file={}", config.display()),
            "--enable-feature=agent".to_string(),
            format!("--storage.agent.path={}", dir.join("data").display()),
            format!("--web.listen-address=127.0.0.1:{web_port}"),
        ],
        CollectorKind::Otelcol => vec![format!("--config={}", config.display())],
    }
}

/// How to start the collector: a binary path (process) or `image:tag` (container), its
/// arguments and environment, and the working directory holding its config and data
/// (bind-mounted at the same path into a container).
#[derive(Clone, Debug)]
pub struct Launch {
    pub program: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub workdir: PathBuf,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunState {
    NotStarted,
    Running,
    /// Exited with this status code (None: killed by a signal, or unknown).
    Exited(Option<i64>),
}

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("failed to start {program}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to start a container from {image}")]
    Container {
        image: String,
        #[source]
        source: testcontainers::TestcontainersError,
    },
    #[error("the runtime was already started")]
    AlreadyStarted,
}

/// The collector's most recent log lines (stdout and stderr interleaved as they come).
#[derive(Clone, Debug, Default)]
pub struct LogRing {
    lines: Arc<Mutex<VecDeque<String>>>,
}

const LOG_LINES: usize = 2000;

impl LogRing {
    pub fn push(&self, line: String) {
        let mut l = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        if l.len() == LOG_LINES {
            l.pop_front();
        }
        l.push_back(line);
    }

    pub fn tail(&self, n: usize) -> Vec<String> {
        let l = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        l.iter().skip(l.len().saturating_sub(n)).cloned().collect()
    }

    pub fn all(&self) -> Vec<String> {
        self.tail(LOG_LINES)
    }

    fn follow(&self, reader: impl AsyncRead + Unpin + Send + 'static) {
        let ring = self.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(reader).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                ring.push(line);
            }
        });
    }
}

pub trait Runtime: Send + Sync {
    /// `process` or `container`.
    fn kind(&self) -> &'static str;
    fn start<'a>(&'a mut self, launch: &'a Launch) -> BoxFuture<'a, Result<(), RuntimeError>>;
    fn state(&mut self) -> BoxFuture<'_, RunState>;
    fn logs(&self) -> LogRing;
    /// What runs, for evidence: `process 4242 (/usr/bin/prometheus)`.
    fn describe(&self) -> String;
    fn stop(&mut self) -> BoxFuture<'_, ()>;
}

#[derive(Default)]
pub struct ProcessRuntime {
    child: Option<Child>,
    program: String,
    exited: Option<RunState>,
    logs: LogRing,
}

impl Runtime for ProcessRuntime {
    fn kind(&self) -> &'static str {
        "process"
    }

    fn start<'a>(&'a mut self, launch: &'a Launch) -> BoxFuture<'a, Result<(), RuntimeError>> {
        Box::pin(async move {
            if self.child.is_some() {
                return Err(RuntimeError::AlreadyStarted);
            }
            let mut cmd = Command::new(&launch.program);
            cmd.args(&launch.args)
                .envs(launch.env.iter().map(|(k, v)| (k, v)))
                .current_dir(&launch.workdir)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .kill_on_drop(true);
            #[cfg(target_os = "linux")]
            // SAFETY: prctl is async-signal-safe; it only asks the kernel to kill the child
            // if pipecheck dies, so a crash or SIGKILL of pipecheck leaves no collector behind.
            unsafe {
                cmd.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                    Ok(())
                });
            }
            let mut child = cmd.spawn().map_err(|source| RuntimeError::Spawn {
                program: launch.program.clone(),
                source,
            })?;
            if let Some(out) = child.stdout.take() {
                self.logs.follow(out);
            }
            if let Some(err) = child.stderr.take() {
                self.logs.follow(err);
            }
            self.program = launch.program.clone();
            self.child = Some(child);
            Ok(())
        })
    }

    fn state(&mut self) -> BoxFuture<'_, RunState> {
        Box::pin(async move {
            if let Some(s) = &self.exited {
                return s.clone();
            }
            let Some(child) = self.child.as_mut() else {
                return RunState::NotStarted;
            };
            match child.try_wait() {
                Ok(None) => RunState::Running,
                Ok(Some(status)) => {
                    let s = RunState::Exited(status.code().map(i64::from));
                    self.exited = Some(s.clone());
                    s
                }
                Err(_) => RunState::Exited(None),
            }
        })
    }

    fn logs(&self) -> LogRing {
        self.logs.clone()
    }

    fn describe(&self) -> String {
        match self.child.as_ref().and_then(Child::id) {
            Some(pid) => format!("process {pid} ({})", self.program),
            None => format!("process ({})", self.program),
        }
    }

    fn stop(&mut self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let Some(mut child) = self.child.take() else {
                return;
            };
            // Already reaped by `state`'s try_wait: the pid may belong to another process.
            let pid = child.id().filter(|_| self.exited.is_none());
            if let Some(pid) = pid {
                // SIGTERM first so the collector flushes and exits cleanly; then SIGKILL.
                // SAFETY: kill(2) on the pid of our own child, which has not been reaped.
                unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
            }
            if tokio::time::timeout(Duration::from_secs(3), child.wait())
                .await
                .is_err()
            {
                // Kills and reaps.
                let _ = child.kill().await;
            }
        })
    }
}

/// The label every container this process starts carries, with [`owner_id`] as value.
pub const OWNER_LABEL: &str = "pipecheck-owner";

/// Unique for this process: its pid and start time.
pub fn owner_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        format!("{}-{t}", std::process::id())
    })
}

#[derive(Default)]
pub struct ContainerRuntime {
    container: Option<ContainerAsync<GenericImage>>,
    image: String,
    logs: LogRing,
    /// A start was begun and has not answered: if it was cut short (the run interrupted),
    /// the engine may still create the container, found then by its owner label.
    starting: bool,
}

impl Runtime for ContainerRuntime {
    fn kind(&self) -> &'static str {
        "container"
    }

    fn start<'a>(&'a mut self, launch: &'a Launch) -> BoxFuture<'a, Result<(), RuntimeError>> {
        Box::pin(async move {
            if self.container.is_some() {
                return Err(RuntimeError::AlreadyStarted);
            }
            let (name, tag) = launch
                .program
                .rsplit_once(':')
                .unwrap_or((launch.program.as_str(), "latest"));
            let dir = launch.workdir.to_string_lossy().into_owned();
            let ring = self.logs.clone();
            let mut req = GenericImage::new(name, tag)
                .with_cmd(launch.args.clone())
                .with_network("host")
                .with_working_dir(dir.clone())
                .with_mount(Mount::bind_mount(dir.clone(), dir))
                .with_label("pipecheck", "collector")
                .with_label(OWNER_LABEL, owner_id())
                .with_log_consumer(move |frame: &testcontainers::core::logs::LogFrame| {
                    for line in String::from_utf8_lossy(frame.bytes()).lines() {
                        ring.push(line.to_string());
                    }
                });
            for (k, v) in &launch.env {
                req = req.with_env_var(k.clone(), v.clone());
            }
            self.starting = true;
            let container = req
                .start()
                .await
                .map_err(|source| RuntimeError::Container {
                    image: launch.program.clone(),
                    source,
                })?;
            self.starting = false;
            self.image = launch.program.clone();
            self.container = Some(container);
            Ok(())
        })
    }

    fn state(&mut self) -> BoxFuture<'_, RunState> {
        Box::pin(async move {
            let Some(c) = self.container.as_ref() else {
                return RunState::NotStarted;
            };
            match c.is_running().await {
                Ok(true) => RunState::Running,
                Ok(false) => RunState::Exited(c.exit_code().await.ok().flatten()),
                Err(_) => RunState::Exited(None),
            }
        })
    }

    fn logs(&self) -> LogRing {
        self.logs.clone()
    }

    fn describe(&self) -> String {
        match &self.container {
            Some(c) => format!(
                "container {} ({})",
                &c.id()[..12.min(c.id().len())],
                self.image
            ),
            None => format!("container ({})", self.image),
        }
    }

    fn stop(&mut self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if std::mem::take(&mut self.starting) {
                remove_owned_containers().await;
            }
            let Some(c) = self.container.take() else {
                return;
            };
            let id = c.id().to_string();
            if tokio::time::timeout(Duration::from_secs(15), c.rm())
                .await
                .is_err()
            {
                tracing::warn!(container = %id, "removing the collector container timed out");
            }
        })
    }
}

/// Removes this process's containers (by owner label) after a start was cut short: the
/// engine may finish creating one a moment after its request went, so it looks a few
/// times, a little apart. Containers run one at a time in a process, so the label is
/// enough to find the run's.
async fn remove_owned_containers() {
    let filter = format!("label={OWNER_LABEL}={}", owner_id());
    for round in 0..4 {
        let ids: Vec<String> = Command::new("docker")
            .args(["ps", "-aq", "--filter", &filter])
            .output()
            .await
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        if ids.is_empty() && round >= 2 {
            return;
        }
        if !ids.is_empty() {
            let removed = Command::new("docker")
                .args(["rm", "-f"])
                .args(&ids)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .await;
            if !removed.is_ok_and(|s| s.success()) {
                tracing::warn!(containers = ?ids, "could not remove the collector container(s)");
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
