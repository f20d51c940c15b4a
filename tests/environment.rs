//! Faults in the harness's own environment: a collector that hangs, AMP hanging behind
//! pipecheck's SigV4 proxy, an AMP port that closes mid-request, an AMP that answers slowly (past and within the request deadline),
//! a report path on a full disk, and the server's clock jumping during a run. Each trial
//! runs the real `pipecheck` binary and asserts its exit code, the link the verdict lands
//! on, the verdict's words (the deadline named with its value) and an upper bound on the
//! wall time that proves the run did not hang.
//!
//! These faults are not in the fault catalog: they break the harness's surroundings, not
//! a user's pipeline, so no user would select them with `--fault`. The AMP-side ones run
//! `--target aws` against a mock stack started in this process, behind a front listener
//! the trial controls (close a request, jump the mock's clock before forwarding it); the
//! hanging collector is this test binary itself, started by pipecheck as its collector.

use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use libtest_mimic::{Arguments, Failed, Trial};
use pipecheck_mocks::clock::Clock;
use pipecheck_mocks::{MockConfig, MockStack};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[path = "support/mod.rs"]
mod support;

use support::{Case, Suite, bare_aws_command, command, ensure, read_junit, text, tmp};

/// Set in pipecheck's environment (its collector inherits it): this binary, started as
/// the collector, is a collector that hangs.
const STANDIN: &str = "PIPECHECK_TEST_STANDIN";
const HANGING_COLLECTOR: &str = "hanging-collector";

/// The longest the stand-in lives: never left behind, even if pipecheck dies.
const STANDIN_LIFETIME: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------
// Scenarios

/// A direct scenario with short deadlines; `request` is its request deadline.
fn direct_scenario(dir: &Path, request: &str) -> PathBuf {
    let path = dir.join("env-direct.yaml");
    let yaml = format!(
        "name: env-direct\nshape: direct\nlinks: [aws.identity, amp.workspace, amp.remote_write, amp.query]\n\
         expect: {{arrival_deadline: 3s, workspace_deadline: 2s, request_timeout: {request}}}\n\
         target: {{mock: {{arrival_deadline: 3s, workspace_deadline: 2s}}}}\n"
    );
    std::fs::write(&path, yaml).expect("write the scenario");
    path
}

/// The link deadline of a scenario with arrival 3 s, workspace 2 s and this request
/// deadline, as `run.rs` computes it.
fn link_deadline(request: Duration) -> Duration {
    Duration::from_secs(3) + request * 2
}

/// The bound on a whole run's wall time: three link deadlines (no hang, not speed).
fn no_hang_bound(request: Duration) -> Duration {
    link_deadline(request) * 3
}

// ---------------------------------------------------------------------------------------
// A run and its one suite

struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    took: Duration,
    suite: Suite,
}

impl Ran {
    fn from(out: Output, took: Duration, report: &Path) -> Result<Self, Failed> {
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        ensure(
            !stdout.contains("panicked") && !stderr.contains("panicked"),
            || format!("a panic was printed:\n{stdout}\n{stderr}"),
        )?;
        let mut suites = read_junit(report).map_err(|e| {
            format!(
                "{}\nexit {:?}\n{stdout}\n{stderr}",
                e.message().unwrap_or_default(),
                out.status.code()
            )
        })?;
        ensure(suites.len() == 1, || format!("suites: {suites:?}"))?;
        Ok(Ran {
            code: out.status.code(),
            stdout,
            stderr,
            took,
            suite: suites.remove(0),
        })
    }

    fn case(&self, link: &str) -> Result<&Case, Failed> {
        self.suite
            .case(link)
            .ok_or_else(|| format!("no testcase {link}\n{}", self.stdout).into())
    }

    /// Exit 1, `link` the only root cause, its verdict holding every one of `words`.
    fn fails_on(&self, link: &str, words: &[&str]) -> Result<&Case, Failed> {
        ensure(self.code == Some(1), || {
            format!(
                "exit {:?}, expected 1\n{}\n{}",
                self.code, self.stdout, self.stderr
            )
        })?;
        let root = self.suite.root_cause();
        ensure(root == link, || {
            format!("root cause {root:?}, expected {link:?}\n{}", self.stdout)
        })?;
        let c = self.case(link)?;
        ensure(c.outcome == "fail", || format!("{link}: {c:?}"))?;
        for w in words {
            ensure(c.message.contains(w), || {
                format!("verdict of {link} {:?} lacks {w:?}", c.message)
            })?;
        }
        Ok(c)
    }

    /// Exit 0 and every link passed.
    fn passes(&self) -> Result<(), Failed> {
        ensure(
            self.code == Some(0) && self.suite.cases.iter().all(|(_, c)| c.outcome == "pass"),
            || format!("exit {:?}\n{}\n{}", self.code, self.stdout, self.stderr),
        )
    }

    fn within(&self, bound: Duration) -> Result<(), Failed> {
        ensure(self.took < bound, || {
            format!("the run took {:?}, more than {bound:?}: it hung", self.took)
        })
    }
}

// ---------------------------------------------------------------------------------------
// The mock behind a front the trial controls

/// What the front does with a request whose path contains the trial's path.
#[derive(Clone)]
enum OnPath {
    /// Reads the request head, then closes the connection without a response.
    Close,
    /// Reads the request head, then holds the connection open without a response.
    Hang,
    /// Sets the mock's clock this many milliseconds off, then forwards the request.
    JumpClock(Arc<Clock>, i64),
}

/// A listener in front of the mock AMP: every request goes to the mock on a connection of
/// its own (`Connection: close`), except those whose path contains `path`. The SDK reaches
/// the control plane through it, so the workspace's `prometheusEndpoint` points here too.
struct Front {
    addr: SocketAddr,
    /// Requests on `path` seen.
    hits: Arc<AtomicUsize>,
}

impl Front {
    async fn start(upstream: SocketAddr, path: &'static str, on: OnPath) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (on, counter) = (on.clone(), counter.clone());
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(
                        Duration::from_secs(30),
                        relay(client, upstream, path, on, counter),
                    )
                    .await;
                });
            }
        });
        Front { addr, hits }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// One request: its head read (at most 64 KiB), then closed or forwarded.
async fn relay(
    mut client: TcpStream,
    upstream: SocketAddr,
    path: &str,
    on: OnPath,
    hits: Arc<AtomicUsize>,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let mut chunk = [0u8; 4096];
        let n = client.read(&mut chunk).await?;
        if n == 0 || buf.len() > 64 << 10 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let target = head.split_whitespace().nth(1).unwrap_or_default();
    if target.contains(path) {
        hits.fetch_add(1, Ordering::Relaxed);
        match &on {
            OnPath::Close => return Ok(()),
            // Held until the relay's own bound (30 s) or the client gives up.
            OnPath::Hang => return client.read(&mut [0u8; 1]).await.map(drop),
            OnPath::JumpClock(clock, offset_ms) => clock.set_offset_ms(*offset_ms),
        }
    }
    // One request per upstream connection: the mock answers `Connection: close`, so the
    // client opens a new connection (seen by this front) for its next request.
    let mut lines = head.trim_end().split("\r\n");
    let mut forwarded = format!(
        "{}\r\nconnection: close\r\n",
        lines.next().unwrap_or_default()
    );
    for l in lines.filter(|l| !l.to_ascii_lowercase().starts_with("connection:")) {
        forwarded.push_str(l);
        forwarded.push_str("\r\n");
    }
    forwarded.push_str("\r\n");
    let mut up = TcpStream::connect(upstream).await?;
    up.write_all(forwarded.as_bytes()).await?;
    up.write_all(&buf[head_end..]).await?;
    let (mut client_read, mut client_write) = client.into_split();
    let (mut up_read, mut up_write) = up.into_split();
    let body = tokio::spawn(async move { tokio::io::copy(&mut client_read, &mut up_write).await });
    let answered = tokio::io::copy(&mut up_read, &mut client_write).await;
    body.abort();
    client_write.shutdown().await?;
    answered.map(drop)
}

/// The mock stack, started on this runtime (no cluster side: the trials need AMP and STS).
async fn mock_stack() -> MockStack {
    MockStack::start(MockConfig {
        cluster: None,
        ..MockConfig::default()
    })
    .await
    .expect("the mock stack starts")
}

fn addr_of(url: &str) -> SocketAddr {
    url.trim_start_matches("http://")
        .parse()
        .expect("a loopback address")
}

/// `pipecheck run --target aws --scenario <scenario>` against `stack`, with AMP reached
/// at `amp_url`; no Grafana workspace, so the Grafana links are left out.
async fn run_aws(
    stack: &MockStack,
    amp_url: &str,
    scenario: &Path,
    dir: &Path,
) -> Result<Ran, Failed> {
    let ep = stack.endpoints();
    let report = dir.join("r.xml");
    let none = dir.join("none");
    let mut cmd = bare_aws_command(dir);
    cmd.args(["run", "--target", "aws", "--scenario"])
        .arg(scenario)
        .arg("--junit")
        .arg(&report)
        .env("NO_COLOR", "1")
        .env("AWS_CONFIG_FILE", &none)
        .env("AWS_SHARED_CREDENTIALS_FILE", &none)
        .env("AWS_ENDPOINT_URL_AMP", amp_url)
        .env("AWS_ENDPOINT_URL_STS", &ep.sts)
        .env("AWS_ACCESS_KEY_ID", &ep.user.access_key_id)
        .env("AWS_SECRET_ACCESS_KEY", &ep.user.secret_access_key)
        .env("AWS_REGION", &ep.region)
        .env(
            "PIPECHECK_WORKSPACE_ID",
            ep.workspace_id.clone().unwrap_or_default(),
        );
    let t0 = Instant::now();
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    Ran::from(out, t0.elapsed(), &report)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
}

// ---------------------------------------------------------------------------------------
// The trials

/// The collector starts and takes connections on its web port but never answers: the run
/// ends within its deadlines, on canary.scraped (the first link that needs an answer from
/// the collector), naming the request deadline.
fn collector_hangs() -> Result<(), Failed> {
    let dir = tmp();
    let scenario = dir.path().join("env-hang.yaml");
    std::fs::write(
        &scenario,
        "name: env-hang\nshape: collector\nlinks: [canary.scraped]\n\
         collector: {kind: prometheus, runtime: process, signing: collector, scrape_interval: 1s}\n\
         expect: {request_timeout: 1s}\n\
         target: {mock: {arrival_deadline: 3s, workspace_deadline: 2s}}\n",
    )?;
    let report = dir.path().join("r.xml");
    let standin = std::env::current_exe()?;
    let t0 = Instant::now();
    let out = command()
        .args(["run", "--scenario"])
        .arg(&scenario)
        .arg("--collector-bin")
        .arg(&standin)
        .arg("--junit")
        .arg(&report)
        .env(STANDIN, HANGING_COLLECTOR)
        .output()?;
    let ran = Ran::from(out, t0.elapsed(), &report)?;
    ensure(ran.case("collector.running")?.outcome == "pass", || {
        format!(
            "the stand-in should run: {:?}",
            ran.case("collector.running")
        )
    })?;
    ran.fails_on(
        "canary.scraped",
        &[
            "did not answer within the arrival deadline of 3 s",
            "/api/v1/targets accepted the connection but gave no answer within the request deadline of 1 s",
        ],
    )?;
    ran.within(no_hang_bound(Duration::from_secs(1)))
}

/// pipecheck's SigV4 proxy signs for Prometheus; AMP behind it takes the remote write and
/// never answers. The proxy gives up at the request deadline (its 502 is no answer of
/// AMP's); the verdict lands on collector.signing, the first link that needs AMP's answer
/// to the collector, naming both deadlines.
fn proxy_upstream_hangs() -> Result<(), Failed> {
    let dir = tmp();
    let scenario = dir.path().join("env-proxy.yaml");
    std::fs::write(
        &scenario,
        "name: env-proxy\nshape: collector\nlinks: [amp.remote_write]\n\
         collector: {kind: prometheus, runtime: process, signing: proxy, scrape_interval: 1s}\n\
         expect: {arrival_deadline: 8s, workspace_deadline: 2s, request_timeout: 1s}\n",
    )?;
    runtime().block_on(async {
        let stack = mock_stack().await;
        let amp = addr_of(&stack.endpoints().amp);
        let front = Front::start(amp, "/api/v1/remote_write", OnPath::Hang).await;
        let ran = run_aws(&stack, &front.url(), &scenario, dir.path()).await?;
        ran.fails_on(
            "collector.signing",
            &[
                "no answer from AMP",
                "within the arrival deadline of 8 s",
                "/api/v1/remote_write within the request deadline of 1 s",
            ],
        )?;
        // arrival 8 s + 2 × request 1 s: the link deadline of this scenario.
        ran.within(Duration::from_secs(10) * 3)
    })
}

/// The AMP endpoint reads the remote write's head and closes the connection: a clear
/// verdict with the URL on amp.remote_write, bounded retries.
fn amp_write_port_closes() -> Result<(), Failed> {
    port_closes("/api/v1/remote_write", "amp.remote_write")
}

/// The same on the query: the write passes, the query fails with the URL.
fn amp_query_port_closes() -> Result<(), Failed> {
    port_closes("/api/v1/query", "amp.query")
}

fn port_closes(path: &'static str, link: &str) -> Result<(), Failed> {
    let dir = tmp();
    let scenario = direct_scenario(dir.path(), "2s");
    runtime().block_on(async {
        let stack = mock_stack().await;
        let front = Front::start(addr_of(&stack.endpoints().amp), path, OnPath::Close).await;
        let ran = run_aws(&stack, &front.url(), &scenario, dir.path()).await?;
        ran.fails_on(
            link,
            &["connection closed before a response", &front.url(), path],
        )?;
        let hits = front.hits.load(Ordering::Relaxed);
        ensure((1..=5).contains(&hits), || {
            format!("{hits} requests on {path}: retries must be bounded (at most 5)")
        })?;
        ran.within(no_hang_bound(Duration::from_secs(2)))
    })
}

/// AMP answers 1.5 s late, past the request deadline of 1 s: amp.remote_write fails
/// naming the deadline, after two unanswered attempts.
fn amp_slow_past_request_deadline() -> Result<(), Failed> {
    let dir = tmp();
    let scenario = direct_scenario(dir.path(), "1s");
    runtime().block_on(async {
        let stack = mock_stack().await;
        set_delay(&stack, Duration::from_millis(1500));
        let amp = stack.endpoints().amp.clone();
        let ran = run_aws(&stack, &amp, &scenario, dir.path()).await?;
        ran.fails_on(
            "amp.remote_write",
            &["no answer within the request deadline of 1 s", "2 attempts"],
        )?;
        ran.within(no_hang_bound(Duration::from_secs(1)))
    })
}

/// AMP answers 300 ms late, within the request deadline of 2 s: every link passes, and
/// the write's verdict shows the latency.
fn amp_slow_within_request_deadline() -> Result<(), Failed> {
    let dir = tmp();
    let scenario = direct_scenario(dir.path(), "2s");
    let delay = Duration::from_millis(300);
    runtime().block_on(async {
        let stack = mock_stack().await;
        set_delay(&stack, delay);
        let amp = stack.endpoints().amp.clone();
        let ran = run_aws(&stack, &amp, &scenario, dir.path()).await?;
        ran.passes()?;
        // "AMP accepted the canary: … in 312 ms"
        // A passing link's verdict is the first line of its <system-out>.
        let body = &ran.case("amp.remote_write")?.body;
        let verdict = body.lines().next().unwrap_or_default();
        let ms: f64 = verdict
            .rsplit_once(" in ")
            .and_then(|(_, t)| t.strip_suffix(" ms"))
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| format!("no latency in {verdict:?}"))?;
        ensure(ms >= delay.as_millis() as f64, || {
            format!("{verdict:?}: the write cannot be faster than the mock's delay of {delay:?}")
        })?;
        ran.within(no_hang_bound(Duration::from_secs(2)))
    })
}

fn set_delay(stack: &MockStack, delay: Duration) {
    let mut faults = stack.amp.faults();
    faults.data_plane_delay = delay;
    stack.amp.set_faults(faults);
}

/// The mock's clock jumps by `offset_ms` just before the first query: what AMP answers a
/// signature more than 5 minutes off its now, on the query, never blamed on the write.
fn server_clock_jumps(offset_ms: i64, aws_says: &'static str) -> Result<(), Failed> {
    let dir = tmp();
    let scenario = direct_scenario(dir.path(), "2s");
    runtime().block_on(async {
        let stack = mock_stack().await;
        let jump = OnPath::JumpClock(stack.clock.clone(), offset_ms);
        let front = Front::start(addr_of(&stack.endpoints().amp), "/api/v1/query", jump).await;
        let ran = run_aws(&stack, &front.url(), &scenario, dir.path()).await?;
        ensure(ran.case("amp.remote_write")?.outcome == "pass", || {
            format!(
                "the write came before the jump: {:?}",
                ran.case("amp.remote_write")
            )
        })?;
        ran.fails_on(
            "amp.query",
            &["clock skew", aws_says, "a clock jumped during the run"],
        )?;
        ran.within(no_hang_bound(Duration::from_secs(2)))
    })
}

fn server_clock_jumps_forward() -> Result<(), Failed> {
    server_clock_jumps(10 * 60 * 1000, "Signature expired")
}

fn server_clock_jumps_back() -> Result<(), Failed> {
    server_clock_jumps(-10 * 60 * 1000, "not yet current")
}

/// A jump of 2 minutes stays within AMP's 5 minutes of allowed skew: the run passes.
fn server_clock_jumps_within_skew() -> Result<(), Failed> {
    let dir = tmp();
    let scenario = direct_scenario(dir.path(), "2s");
    runtime().block_on(async {
        let stack = mock_stack().await;
        let jump = OnPath::JumpClock(stack.clock.clone(), 2 * 60 * 1000);
        let front = Front::start(addr_of(&stack.endpoints().amp), "/api/v1/query", jump).await;
        let ran = run_aws(&stack, &front.url(), &scenario, dir.path()).await?;
        ensure(front.hits.load(Ordering::Relaxed) > 0, || {
            "no query reached the front".into()
        })?;
        ran.passes()?;
        ran.within(no_hang_bound(Duration::from_secs(2)))
    })
}

/// `--junit /dev/full`: the run's console results are printed, then one error line names
/// the path and ENOSPC, exit 2; `/dev/full` is still the device.
fn report_on_dev_full() -> Result<(), Failed> {
    use std::os::unix::fs::FileTypeExt;
    let dir = tmp();
    let scenario = direct_scenario(dir.path(), "2s");
    let t0 = Instant::now();
    let out = command()
        .args(["run", "--scenario"])
        .arg(&scenario)
        .args(["--junit", "/dev/full"])
        .output()?;
    report_refused(&out, "/dev/full")?;
    ensure(
        std::fs::metadata("/dev/full").is_ok_and(|m| m.file_type().is_char_device()),
        || "/dev/full is no longer a character device".into(),
    )?;
    ensure(t0.elapsed() < no_hang_bound(Duration::from_secs(2)), || {
        format!("took {:?}", t0.elapsed())
    })
}

/// The report's directory is a tmpfs already full: the temporary report cannot be
/// written, the error names the path and ENOSPC, and nothing is left in the directory.
fn report_on_full_tmpfs() -> Result<(), Failed> {
    let dir = tmp();
    let scenario = direct_scenario(dir.path(), "2s");
    let mount = Tmpfs::full(&dir.path().join("full"))?;
    let report = mount.path.join("r.xml");
    let out = command()
        .args(["run", "--scenario"])
        .arg(&scenario)
        .arg("--junit")
        .arg(&report)
        .output()?;
    report_refused(&out, report.to_str().unwrap())?;
    let left: Vec<String> = std::fs::read_dir(&mount.path)?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_, _>>()?;
    ensure(left == ["filler"], || format!("left behind: {left:?}"))
}

/// Exit 2; the console results came first; then exactly one `pipecheck:` line, naming
/// `path` and ENOSPC.
fn report_refused(out: &Output, path: &str) -> Result<(), Failed> {
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    ensure(out.status.code() == Some(2), || {
        format!(
            "exit {:?}, expected 2\n{stdout}\n{stderr}",
            out.status.code()
        )
    })?;
    ensure(
        stdout.contains("amp.remote_write") && stdout.contains("amp.query"),
        || format!("the console results were not printed:\n{stdout}"),
    )?;
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("pipecheck:"))
        .collect();
    ensure(
        errors.len() == 1
            && errors[0].contains(path)
            && errors[0].contains("No space left on device"),
        || format!("expected one error line naming {path} and ENOSPC:\n{stderr}"),
    )
}

/// A 16 KiB tmpfs filled up with one file; unmounted when dropped.
struct Tmpfs {
    path: PathBuf,
}

impl Tmpfs {
    fn full(path: &Path) -> Result<Self, Failed> {
        std::fs::create_dir_all(path)?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=16k", "tmpfs"])
            .arg(path)
            .status()
            .is_ok_and(|s| s.success());
        ensure(ok, || {
            format!("could not mount a tmpfs at {}", path.display())
        })?;
        let mount = Tmpfs {
            path: path.to_path_buf(),
        };
        // Fill it: writes stop at ENOSPC, at most 64 KiB tried.
        let mut filler = std::fs::File::create(path.join("filler"))?;
        let block = [b'x'; 1024];
        for _ in 0..64 {
            if std::io::Write::write_all(&mut filler, &block).is_err() {
                break;
            }
        }
        Ok(mount)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.path).status();
    }
}

/// Whether this process may mount a tmpfs (root in a container may not).
fn can_mount_tmpfs() -> bool {
    let dir = tmp();
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=4k", "tmpfs"])
        .arg(dir.path())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        let _ = Command::new("umount").arg(dir.path()).status();
    }
    ok
}

// ---------------------------------------------------------------------------------------
// The stand-in collector

/// Listens where pipecheck told the collector to (`--web.listen-address=`), takes every
/// connection and answers none, until killed or for [`STANDIN_LIFETIME`].
fn hanging_collector() {
    std::thread::spawn(|| {
        std::thread::sleep(STANDIN_LIFETIME);
        std::process::exit(0);
    });
    let addr = std::env::args()
        .find_map(|a| a.strip_prefix("--web.listen-address=").map(str::to_string))
        .unwrap_or_else(|| "127.0.0.1:0".to_string());
    let Ok(listener) = std::net::TcpListener::bind(&addr) else {
        eprintln!("stand-in collector: cannot listen on {addr}");
        std::process::exit(1);
    };
    eprintln!("stand-in collector: listening on {addr}, answering nothing");
    let mut held = Vec::new();
    for mut s in listener.incoming().take(1000).flatten() {
        // Read the request so the client waits for an answer, never sent.
        let _ = s.set_read_timeout(Some(Duration::from_millis(100)));
        let _ = s.read(&mut [0u8; 4096]);
        held.push(s);
    }
}

fn main() {
    if std::env::var(STANDIN).as_deref() == Ok(HANGING_COLLECTOR) {
        hanging_collector();
        return;
    }
    let args = Arguments::from_args();
    let mut tmpfs_trial = Trial::test("report::full_tmpfs", report_on_full_tmpfs);
    if !can_mount_tmpfs() {
        eprintln!("ignoring report::full_tmpfs: this process may not mount a tmpfs");
        tmpfs_trial = tmpfs_trial.with_ignored_flag(true);
    }
    let trials = vec![
        Trial::test("collector::hangs", collector_hangs),
        support::needs(
            Trial::test("collector::proxy_upstream_hangs", proxy_upstream_hangs),
            support::have("prometheus", &["--version"]),
            "needs prometheus on PATH (Debian: apt-get install prometheus; scripts/test does)",
        ),
        Trial::test("amp::write_port_closes", amp_write_port_closes),
        Trial::test("amp::query_port_closes", amp_query_port_closes),
        Trial::test(
            "amp::slow_past_request_deadline",
            amp_slow_past_request_deadline,
        ),
        Trial::test(
            "amp::slow_within_request_deadline",
            amp_slow_within_request_deadline,
        ),
        Trial::test("clock::server_jumps_forward", server_clock_jumps_forward),
        Trial::test("clock::server_jumps_back", server_clock_jumps_back),
        Trial::test(
            "clock::server_jumps_within_skew",
            server_clock_jumps_within_skew,
        ),
        Trial::test("report::dev_full", report_on_dev_full),
        tmpfs_trial,
    ];
    libtest_mimic::run(&args, trials).exit();
}
