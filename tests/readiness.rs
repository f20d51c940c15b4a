//! `pipecheck readiness` against several `pipecheck mock`s at once, each an "account" with
//! its own endpoints and credentials: a healthy one, two with a fault injected
//! (`pipecheck mock --fault`), two whose endpoint accepts connections and never answers,
//! and one whose endpoint refuses. Checks the table rows, the exit code, one JUnit
//! testsuite per account, and that the run takes about one `--timeout`, not the sum.

#[path = "support/mod.rs"]
mod support;

use std::io::Write;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use libtest_mimic::{Arguments, Failed, Trial};
use support::*;

/// What the mock prints that an account entry's `env` takes.
const MOCK_ENV: &[&str] = &[
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

/// The per-account `--timeout` of the trial: shorter than the scenario's own request
/// timeout (10s), so a silent account ends on readiness's timeout, not a link's.
const TIMEOUT: Duration = Duration::from_secs(6);

/// When a connection was accepted, and when its client closed it.
type Held = (Instant, Option<Instant>);

/// Accepts connections and never answers, until dropped; records when each connection
/// was accepted and when its client closed it.
struct Silent {
    port: u16,
    stop: Arc<AtomicBool>,
    /// (accepted, closed by the client) per connection.
    seen: Arc<std::sync::Mutex<Vec<Held>>>,
}

impl Silent {
    fn start() -> Result<Self, Failed> {
        let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        listener.set_nonblocking(true).map_err(|e| e.to_string())?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (stopped, record) = (stop.clone(), seen.clone());
        std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((mut conn, _)) => {
                        let i = {
                            let mut s = record.lock().unwrap();
                            s.push((Instant::now(), None));
                            s.len() - 1
                        };
                        let (record, stopped) = (record.clone(), stopped.clone());
                        // Read (and drop) until the client closes: never answer.
                        std::thread::spawn(move || {
                            use std::io::Read;
                            let _ = conn.set_nonblocking(false);
                            let _ = conn.set_read_timeout(Some(Duration::from_millis(200)));
                            let mut buf = [0u8; 4096];
                            while !stopped.load(Ordering::Relaxed) {
                                match conn.read(&mut buf) {
                                    Ok(0) => break,
                                    Ok(_) => {}
                                    Err(e)
                                        if matches!(
                                            e.kind(),
                                            std::io::ErrorKind::WouldBlock
                                                | std::io::ErrorKind::TimedOut
                                        ) => {}
                                    Err(_) => break,
                                }
                            }
                            record.lock().unwrap()[i].1 = Some(Instant::now());
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Ok(Self { port, stop, seen })
    }

    /// Whether two connections were open at the same time (one accepted before another
    /// was closed): the accounts behind them were checked concurrently.
    fn overlapped(&self) -> bool {
        let mut s = self.seen.lock().unwrap().clone();
        s.sort_by_key(|(a, _)| *a);
        s.windows(2)
            .any(|w| w[0].1.is_none_or(|closed| w[1].0 < closed))
    }
}

impl Drop for Silent {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// A port nothing listens on (bound, then released).
fn refusing_port() -> Result<u16, Failed> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

/// An account entry whose every endpoint is `http://127.0.0.1:<port>`, with a kubeconfig
/// (written into `dir`) whose API server is there too.
fn unreachable_account(name: &str, port: u16, dir: &Path) -> Result<String, Failed> {
    let url = format!("http://127.0.0.1:{port}");
    let kubeconfig = dir.join(format!("{name}.kubeconfig"));
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {url}\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\nusers:\n- name: u\n  user:\n    token: t\ncurrent-context: c\n"
        ),
    )
    .map_err(|e| e.to_string())?;
    let mut env = String::new();
    for svc in ["AMP", "STS", "GRAFANA", "EKS", "IAM"] {
        env.push_str(&format!("      AWS_ENDPOINT_URL_{svc}: {url}\n"));
    }
    Ok(format!(
        "  - name: {name}\n    region: us-east-1\n    workspace_id: ws-00000000-0000-4000-8000-000000000000\n    cluster: pipecheck\n    kubeconfig: {}\n    env:\n      AWS_ACCESS_KEY_ID: AKIAPIPECHECKNOWHERE\n      AWS_SECRET_ACCESS_KEY: not-a-real-secret\n{env}",
        kubeconfig.display()
    ))
}

/// An account entry pointing at `mock`, through its exports.
fn mock_account(name: &str, mock: &Mock) -> String {
    let mut entry = format!("  - name: {name}\n    env:\n");
    for k in MOCK_ENV {
        if let Some(v) = mock.env.get(*k) {
            entry.push_str(&format!("      {k}: '{v}'\n"));
        }
    }
    entry
}

/// One row of the table: its cells split on runs of two or more spaces.
fn row<'a>(stdout: &'a str, account: &str) -> Result<Vec<&'a str>, Failed> {
    let line = stdout
        .lines()
        .find(|l| l.starts_with(&format!("{account} ")))
        .ok_or_else(|| format!("no row for {account}:\n{stdout}"))?;
    Ok(line
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect())
}

/// The row of `account` says `status`, names `root` (`-`: none), and its verdict has
/// every one of `words`.
fn row_says(
    stdout: &str,
    account: &str,
    status: &str,
    root: &str,
    words: &[&str],
) -> Result<(), Failed> {
    let cells = row(stdout, account)?;
    ensure(cells.len() >= 4, || format!("row {cells:?}"))?;
    ensure(cells[2] == status && cells[3] == root, || {
        format!("{account}: {cells:?}, expected {status} on {root}\n{stdout}")
    })?;
    let verdict = cells.get(4).copied().unwrap_or("");
    for w in words {
        ensure(verdict.contains(w), || {
            format!("{account}: verdict {verdict:?} lacks {w:?}")
        })?;
    }
    Ok(())
}

/// Six accounts at once: ready, two faults, two silent, one refusing.
fn accounts_checked_concurrently() -> Result<(), Failed> {
    let expected = ["AWS_ENDPOINT_URL_EKS", "KUBECONFIG", "PIPECHECK_CLUSTER"];
    let healthy = Mock::start(Stdio::null(), &expected)?;
    let unannotated = Mock::start_with(&["--fault", "sa-unannotated"], Stdio::null(), &expected)?;
    let failed_ws = Mock::start_with(
        &["--fault", "workspace-creation-failed"],
        Stdio::null(),
        &expected,
    )?;
    let silent = Silent::start()?;
    let dir = tmp();
    let mut file = String::from("accounts:\n");
    file.push_str(&mock_account("healthy", &healthy));
    file.push_str(&mock_account("unannotated", &unannotated));
    file.push_str(&mock_account("failed-ws", &failed_ws));
    file.push_str(&unreachable_account("silent-1", silent.port, dir.path())?);
    file.push_str(&unreachable_account("silent-2", silent.port, dir.path())?);
    file.push_str(&unreachable_account(
        "refusing",
        refusing_port()?,
        dir.path(),
    )?);
    let accounts = dir.path().join("accounts.yaml");
    std::fs::write(&accounts, &file).map_err(|e| e.to_string())?;
    let report = dir.path().join("readiness.xml");

    let out = readiness(&[
        "--accounts",
        accounts.to_str().unwrap(),
        "--timeout",
        &format!("{}s", TIMEOUT.as_secs()),
        "--junit",
        report.to_str().unwrap(),
    ]);
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    ensure(out.status.code() == Some(1), || {
        format!(
            "exit {:?}, expected 1\n{stdout}\n{stderr}",
            out.status.code()
        )
    })?;
    // Two silent accounts: checked one after the other, the first one's connection would
    // be closed (at its timeout) before the second one's was opened.
    ensure(silent.overlapped(), || {
        format!(
            "the silent accounts were not checked at the same time: {:?}\n{stdout}",
            silent.seen.lock().unwrap()
        )
    })?;
    ensure(stdout.starts_with("ACCOUNT"), || stdout.clone())?;
    row_says(&stdout, "healthy", "READY", "-", &[])?;
    // The account id the mock's caller ARN names.
    ensure(
        row(&stdout, "healthy")?[0].starts_with("healthy / ")
            && row(&stdout, "healthy")?[0].len() > "healthy / ".len(),
        || format!("no account id:\n{stdout}"),
    )?;
    ensure(row(&stdout, "healthy")?[1] == "us-east-1", || {
        stdout.clone()
    })?;
    row_says(
        &stdout,
        "unannotated",
        "NOT READY",
        "k8s.service_account",
        &["eks.amazonaws.com/role-arn"],
    )?;
    row_says(
        &stdout,
        "failed-ws",
        "NOT READY",
        "amp.workspace",
        &["CREATION_FAILED"],
    )?;
    for name in ["silent-1", "silent-2"] {
        row_says(
            &stdout,
            name,
            "NOT READY",
            "aws.identity",
            &["timed out", "6s"],
        )?;
    }
    row_says(
        &stdout,
        "refusing",
        "NOT READY",
        "aws.identity",
        &["could not reach STS"],
    )?;
    ensure(stdout.contains("1 of 6 accounts ready"), || stdout.clone())?;
    ensure(
        stdout.contains("left out (they write to the account): amp.remote_write, amp.query"),
        || stdout.clone(),
    )?;

    validate_xsd(&report)?;
    let suites = read_junit(&report)?;
    let names: Vec<&str> = suites.iter().map(|s| s.name.as_str()).collect();
    let want: Vec<String> = [
        "healthy",
        "unannotated",
        "failed-ws",
        "silent-1",
        "silent-2",
        "refusing",
    ]
    .iter()
    .map(|a| format!("eks-adot@aws:{a}"))
    .collect();
    ensure(names == want, || format!("suites {names:?}"))?;
    let healthy_suite = &suites[0];
    ensure(
        healthy_suite.cases.iter().all(|(_, c)| c.outcome == "pass")
            && healthy_suite.case("iam.role_permissions").is_some(),
        || format!("{:?}", healthy_suite.cases),
    )?;
    // The account's EC2 endpoint is taken like the others: the VPC was read from the mock
    // (once refused, so EC2 went to the real host name and the link warned it could not
    // read the route tables).
    let egress = healthy_suite
        .case("network.egress")
        .ok_or("no network.egress in the healthy suite")?;
    ensure(!egress.body.contains("not read"), || {
        format!("network.egress: {}", egress.body)
    })?;
    // Read-only: neither the canary write nor the Grafana service account ran anywhere.
    for s in &suites {
        for writer in ["amp.remote_write", "grafana.api", "amp.query"] {
            ensure(s.case(writer).is_none(), || {
                format!("{} ran {writer}", s.name)
            })?;
        }
        s.property_is("account", |a| s.name.ends_with(&format!(":{a}")))?;
        s.property_is("read_only_left_out", |l| l == "amp.remote_write,amp.query")?;
    }
    ensure(suites[1].root_cause() == "k8s.service_account", || {
        format!("{:?}", suites[1].properties)
    })?;
    ensure(suites[3].root_cause() == "aws.identity", || {
        format!("{:?}", suites[3].properties)
    })?;
    ensure(
        !std::fs::read_to_string(&report)
            .unwrap_or_default()
            .contains("not-a-real-secret"),
        || "the secret key is in the report".into(),
    )?;
    drop(silent);
    let _ = healthy.stop();
    let _ = unannotated.stop();
    let _ = failed_ws.stop();
    Ok(())
}

/// `--profile` accounts take credentials and region from their profile only: with the
/// mock's valid keys and another region in the shell, a profile holding unknown keys is
/// still not ready, and the one holding the mock's keys is ready in its own region.
fn profiles_use_their_own_credentials() -> Result<(), Failed> {
    let mock = Mock::start(Stdio::null(), &["KUBECONFIG", "PIPECHECK_CLUSTER"])?;
    let dir = tmp();
    let (config, credentials) = (dir.path().join("config"), dir.path().join("credentials"));
    let key = |k: &str| mock.env.get(k).cloned().unwrap_or_default();
    std::fs::write(
        &config,
        "[profile ws-good]\nregion = us-east-1\n[profile ws-bad]\nregion = us-east-1\n",
    )
    .map_err(|e| e.to_string())?;
    std::fs::write(
        &credentials,
        format!(
            "[ws-good]\naws_access_key_id = {}\naws_secret_access_key = {}\n[ws-bad]\naws_access_key_id = AKIAUNKNOWNPROFILE01\naws_secret_access_key = {}\n",
            key("AWS_ACCESS_KEY_ID"),
            key("AWS_SECRET_ACCESS_KEY"),
            key("AWS_SECRET_ACCESS_KEY"),
        ),
    )
    .map_err(|e| e.to_string())?;
    let report = dir.path().join("r.xml");
    let out = command()
        .args(["readiness", "--profile", "ws-good", "--profile", "ws-bad"])
        .args(["--timeout", "20s", "--junit"])
        .arg(&report)
        .envs(&mock.env)
        .env("AWS_CONFIG_FILE", &config)
        .env("AWS_SHARED_CREDENTIALS_FILE", &credentials)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        // The shell's region is not the profiles'.
        .env("AWS_REGION", "eu-west-1")
        .output()
        .map_err(|e| e.to_string())?;
    let stdout = text(&out.stdout);
    ensure(out.status.code() == Some(1), || {
        format!(
            "exit {:?}\n{stdout}\n{}",
            out.status.code(),
            text(&out.stderr)
        )
    })?;
    row_says(&stdout, "ws-good", "READY", "-", &[])?;
    row_says(
        &stdout,
        "ws-bad",
        "NOT READY",
        "aws.identity",
        &["not recognised"],
    )?;
    ensure(
        row(&stdout, "ws-good")?[1] == "us-east-1" && row(&stdout, "ws-bad")?[1] == "us-east-1",
        || stdout.clone(),
    )?;
    let _ = mock.stop();
    Ok(())
}

/// `pipecheck readiness <args>` without the caller's AWS settings.
fn readiness(args: &[&str]) -> Output {
    let mut cmd = command();
    cmd.arg("readiness").args(args);
    for k in MOCK_ENV {
        cmd.env_remove(k);
    }
    cmd.output().expect("the pipecheck binary runs")
}

fn unreadable_accounts_file() -> Result<(), Failed> {
    let dir = tmp();
    let report = dir.path().join("r.xml");
    let out = readiness(&[
        "--accounts",
        dir.path().join("missing.yaml").to_str().unwrap(),
        "--junit",
        report.to_str().unwrap(),
    ]);
    refused_before_running(&out, &report, |e| {
        e.contains("failed to read the accounts file") && e.contains("missing.yaml")
    })
}

fn unknown_profile() -> Result<(), Failed> {
    let dir = tmp();
    let config = dir.path().join("config");
    std::fs::File::create(&config)
        .and_then(|mut f| f.write_all(b"[profile workshop-1]\nregion = eu-west-1\n"))
        .map_err(|e| e.to_string())?;
    let credentials = dir.path().join("credentials");
    std::fs::write(&credentials, "").map_err(|e| e.to_string())?;
    let report = dir.path().join("r.xml");
    let out = command()
        .args([
            "readiness",
            "--profile",
            "workshop-1",
            "--profile",
            "workshop-9",
        ])
        .arg("--junit")
        .arg(&report)
        .env("AWS_CONFIG_FILE", &config)
        .env("AWS_SHARED_CREDENTIALS_FILE", &credentials)
        .output()
        .map_err(|e| e.to_string())?;
    refused_before_running(&out, &report, |e| {
        e.contains("unknown AWS profile \"workshop-9\"") && e.contains("workshop-1")
    })
}

fn unknown_env_key() -> Result<(), Failed> {
    let dir = tmp();
    let accounts = dir.path().join("a.yaml");
    std::fs::write(
        &accounts,
        "accounts:\n  - name: a\n    env:\n      AWS_ACCESS_KEY_ID: x\n      AWS_SECRET_ACCESS_KEY: y\n      PIPECHECK_GRAFANA_TOKEN: z\n",
    )
    .map_err(|e| e.to_string())?;
    let report = dir.path().join("r.xml");
    let out = readiness(&[
        "--accounts",
        accounts.to_str().unwrap(),
        "--junit",
        report.to_str().unwrap(),
    ]);
    refused_before_running(&out, &report, |e| {
        e.contains("PIPECHECK_GRAFANA_TOKEN") && e.contains("does not read")
    })
}

/// A fault of the harness's own writer cannot be served by a standalone mock.
fn mock_refuses_a_writer_fault() -> Result<(), Failed> {
    let out = pipecheck(&["mock", "--fault", "F04"]);
    exits_2_saying(&out, "pipecheck run --fault").map(|_| ())
}

/// An account whose EC2 endpoint refuses connections: the cluster is still ready (the
/// collector's endpoints answer), and `network.egress`'s warning says EC2 was not reached,
/// not that a permission or the VPC endpoint's private DNS is the cause.
fn ec2_unreached_is_named_as_such() -> Result<(), Failed> {
    let mock = Mock::start(
        Stdio::null(),
        &["AWS_ENDPOINT_URL_EC2", "KUBECONFIG", "PIPECHECK_CLUSTER"],
    )?;
    let dir = tmp();
    let refused = format!("http://127.0.0.1:{}", refusing_port()?);
    let entry = mock_account("no-ec2", &mock).replace(&mock.env["AWS_ENDPOINT_URL_EC2"], &refused);
    let accounts = dir.path().join("accounts.yaml");
    std::fs::write(&accounts, format!("accounts:\n{entry}")).map_err(|e| e.to_string())?;
    let report = dir.path().join("r.xml");
    let out = readiness(&[
        "--accounts",
        accounts.to_str().unwrap(),
        "--junit",
        report.to_str().unwrap(),
    ]);
    let stdout = text(&out.stdout);
    let _ = mock.stop();
    ensure(out.status.code() == Some(0), || {
        format!(
            "exit {:?}\n{stdout}\n{}",
            out.status.code(),
            text(&out.stderr)
        )
    })?;
    let suites = read_junit(&report)?;
    let egress = suites[0]
        .case("network.egress")
        .ok_or("no network.egress")?;
    ensure(
        egress.body.contains("could not read the VPC's")
            && egress.body.contains("EC2 was not reached")
            && !egress.body.contains("private DNS")
            && !egress.body.contains("allow ec2:"),
        || format!("network.egress: {}", egress.body),
    )
}

/// The variable that tells [`loopback_only_inside`] it runs in its own network namespace.
const IN_NETNS: &str = "PIPECHECK_TEST_IN_NETNS";

/// Two mock accounts checked by readiness inside a network namespace that holds only
/// loopback (`unshare -n`), as [`loopback_only`] runs it: every service of an account is
/// asked at the mock (the services table gives each its endpoint variable), so both are
/// READY and nothing says a host did not resolve or was unreachable; any request off
/// loopback would have failed there.
fn loopback_only_inside() -> Result<(), Failed> {
    ensure(std::env::var_os(IN_NETNS).is_some(), || {
        "run through readiness::no_request_leaves_loopback (inside `unshare -n`)".into()
    })?;
    let expected = ["AWS_ENDPOINT_URL_EKS", "AWS_ENDPOINT_URL_EC2", "KUBECONFIG"];
    let one = Mock::start(Stdio::null(), &expected)?;
    let two = Mock::start(Stdio::null(), &expected)?;
    let dir = tmp();
    let accounts = dir.path().join("accounts.yaml");
    let file = format!(
        "accounts:\n{}{}",
        mock_account("one", &one),
        mock_account("two", &two)
    );
    std::fs::write(&accounts, file).map_err(|e| e.to_string())?;
    let report = dir.path().join("r.xml");
    let out = readiness(&[
        "--accounts",
        accounts.to_str().unwrap(),
        "--junit",
        report.to_str().unwrap(),
    ]);
    let all = format!("{}\n{}", text(&out.stdout), text(&out.stderr));
    ensure(out.status.code() == Some(0), || {
        format!("exit {:?}\n{all}", out.status.code())
    })?;
    row_says(&all, "one", "READY", "-", &[])?;
    row_says(&all, "two", "READY", "-", &[])?;
    let xml = std::fs::read_to_string(&report).map_err(|e| e.to_string())?;
    for word in [
        "no such host",
        "unreachable",
        "dns error",
        "Network is unreachable",
    ] {
        ensure(!xml.contains(word) && !all.contains(word), || {
            format!("a request left loopback ({word:?}):\n{all}\n{xml}")
        })?;
    }
    Ok(())
}

/// Runs [`loopback_only_inside`] in a network namespace of its own with only loopback up.
fn loopback_only() -> Result<(), Failed> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out = std::process::Command::new("unshare")
        .args(["-n", "sh", "-c", "ip link set lo up && exec \"$0\" \"$@\""])
        .arg(&exe)
        .args([
            "--exact",
            "readiness::loopback_only_inside",
            "--include-ignored",
            "--test-threads",
            "1",
        ])
        .env(IN_NETNS, "1")
        .output()
        .map_err(|e| format!("unshare: {e}"))?;
    let so = text(&out.stdout);
    ensure(out.status.success() && so.contains("1 passed"), || {
        format!("{so}\n{}", text(&out.stderr))
    })
}

/// Whether this process may make a network namespace (root, `unshare`, `ip`).
fn can_unshare() -> bool {
    std::process::Command::new("unshare")
        .args(["-n", "sh", "-c", "ip link set lo up"])
        .status()
        .is_ok_and(|s| s.success())
}

fn main() {
    let args = Arguments::from_args();
    let trials = vec![
        Trial::test(
            "readiness::accounts_checked_concurrently",
            accounts_checked_concurrently,
        ),
        Trial::test(
            "readiness::bad_input::unreadable_accounts_file",
            unreadable_accounts_file,
        ),
        Trial::test(
            "readiness::profiles_use_their_own_credentials",
            profiles_use_their_own_credentials,
        ),
        Trial::test("readiness::bad_input::unknown_profile", unknown_profile),
        Trial::test("readiness::bad_input::unknown_env_key", unknown_env_key),
        Trial::test(
            "readiness::mock_refuses_a_writer_fault",
            mock_refuses_a_writer_fault,
        ),
        Trial::test(
            "readiness::ec2_unreached_is_named_as_such",
            ec2_unreached_is_named_as_such,
        ),
        // Ignored, and said so, where no namespace can be made (even under CI: a
        // container without CAP_SYS_ADMIN cannot).
        {
            let can = can_unshare();
            if !can {
                eprintln!(
                    "ignoring readiness::no_request_leaves_loopback: no network namespace can be made here (unshare -n needs root and iproute2)"
                );
            }
            Trial::test("readiness::no_request_leaves_loopback", loopback_only)
                .with_ignored_flag(!can)
        },
        // Run only by no_request_leaves_loopback, inside its namespace.
        Trial::test("readiness::loopback_only_inside", loopback_only_inside)
            .with_ignored_flag(std::env::var_os(IN_NETNS).is_none()),
    ];
    libtest_mimic::run(&args, trials).exit();
}
