//! Hostile input for the parsers of the user's files: scenario YAML, collector configs
//! (OpenTelemetry and prometheus.yml), IAM policy documents, and `pipecheck diagnose` on
//! helm values, trust and permission policies and collector configs (the real binary, so
//! a panic or a stack overflow shows as its exit status).
//!
//! Inputs are the shipped scenarios and the diagnose fixtures, mutated (see
//! `support/mutate.rs`), plus deep nesting. Every parse must end within `DEADLINE` with a
//! value or an error; `pipecheck diagnose` must exit 0, 1 or 2, and on 2 say which file and
//! where in one line.
//!
//! Case counts: `CASES` per property (in-process parsers) and `PROCESS_CASES` for the
//! binary; `PROPTEST_CASES=2000 cargo test -p pipecheck --test hostile_parsers` for a
//! deep run.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use pipecheck::collector::CollectorConfig;
use pipecheck::scenario::Scenario;
use pipecheck_policy::PolicyDocument;
use proptest::prelude::*;

#[path = "support/mutate.rs"]
mod mutate;

use mutate::{deep_json, mutated_one_of};

const CASES: u32 = 64;
const PROCESS_CASES: u32 = 24;
const DEADLINE: Duration = Duration::from_secs(10);

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the harness sits below the repository root")
        .to_path_buf()
}

/// The files of `dir` (under the repository) whose names end with one of `endings`.
fn files(dir: &str, endings: &[&str]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = std::fs::read_dir(repo().join(dir))
        .expect("the fixtures folder")
        .filter_map(|e| e.ok())
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            endings.iter().any(|end| name.ends_with(end))
        })
        .map(|e| std::fs::read(e.path()).expect("a fixture"))
        .collect();
    assert!(!out.is_empty(), "no {endings:?} files in {dir}");
    out.sort();
    out
}

/// YAML nested `depth` deep, flow or block style.
fn deep_yaml() -> impl Strategy<Value = Vec<u8>> {
    (1usize..50_000, 0u8..3).prop_map(|(depth, style)| {
        match style {
            0 => format!("{}1{}", "[".repeat(depth), "]".repeat(depth)),
            1 => format!("{}1{}", "{a: ".repeat(depth), "}".repeat(depth)),
            // Block style grows quadratically with indentation: kept shallower.
            _ => (0..depth.min(2_000))
                .map(|i| format!("{}a:\n", " ".repeat(i)))
                .collect(),
        }
        .into_bytes()
    })
}

/// Runs `f` on its own thread; no result within [`DEADLINE`] fails the case (the thread
/// is left behind), a panic fails it with the panic's message.
fn within<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, TestCaseError> {
    let (tx, rx) = mpsc::channel();
    let worker = std::thread::Builder::new()
        // Deep nesting must be refused by a depth limit, not survive by a large stack;
        // this is the size of a main thread's stack.
        .stack_size(8 << 20)
        .spawn(move || {
            let _ = tx.send(f());
        })
        .expect("a thread");
    match rx.recv_timeout(DEADLINE) {
        Ok(v) => Ok(v),
        Err(mpsc::RecvTimeoutError::Timeout) => Err(TestCaseError::fail(format!(
            "no answer within {DEADLINE:?}"
        ))),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            let cause = worker.join().err().map(|p| {
                p.downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default()
            });
            Err(TestCaseError::fail(format!(
                "the parser panicked: {cause:?}"
            )))
        }
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

const PROMETHEUS_YML: &str = "global:\n  scrape_interval: 15s\nscrape_configs:\n  - job_name: canary\n    static_configs:\n      - targets: ['127.0.0.1:9100']\nremote_write:\n  - url: https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-0f23f23f-0000-4000-8000-00000000f23f/api/v1/remote_write\n    sigv4:\n      region: us-east-1\n    queue_config:\n      max_samples_per_send: 1000\n";

proptest! {
    #![proptest_config(mutate::config(CASES))]

    #[test]
    fn scenario_parse_answers_mutated_scenarios(
        yaml in mutated_one_of(files("scenarios", &[".yaml"])).boxed().prop_union(deep_yaml().boxed())
    ) {
        let yaml = text(&yaml);
        let parsed = within(move || Scenario::parse(&yaml, "hostile.yaml").map(|_| ()).map_err(|e| e.to_string()))?;
        if let Err(e) = parsed {
            prop_assert!(e.contains("hostile.yaml"), "the error names no file: {e}");
        }
    }

    #[test]
    fn collector_configs_answer_mutations(
        yaml in mutated_one_of({
            let mut v = files("tests/fixtures/diagnose", &[".otel.yaml", ".collector-cr.yaml"]);
            v.push(PROMETHEUS_YML.as_bytes().to_vec());
            v
        }).boxed().prop_union(deep_yaml().boxed()),
        otel in any::<bool>(),
    ) {
        let yaml = text(&yaml);
        within(move || {
            let _ = if otel {
                CollectorConfig::parse_otel(&yaml)
            } else {
                CollectorConfig::parse_prometheus(&yaml)
            };
        })?;
    }

    #[test]
    fn policy_parse_answers_mutations(
        json in mutated_one_of(files("tests/fixtures/diagnose", &[".json"])).prop_union(deep_json().boxed())
    ) {
        let json = text(&json);
        within(move || { let _ = PolicyDocument::parse(&json); })?;
    }
}

/// `pipecheck diagnose --<flag> FILE --format json` on `contents`: exit 0/1 (findings)
/// or 2 with one line naming the file; nothing else (a panic is 101, an overflowed stack
/// a signal).
fn diagnose_answers(flag: &str, contents: &[u8]) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().expect("a temp dir");
    let file = dir.path().join("input");
    std::fs::write(&file, contents).expect("the input file");
    let mut child = Command::new(env!("CARGO_BIN_EXE_pipecheck"))
        .args(["diagnose", flag])
        .arg(&file)
        .args(["--format", "json"])
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("pipecheck starts");
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if started.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            return Err(TestCaseError::fail(format!(
                "diagnose {flag}: no answer within {DEADLINE:?}"
            )));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let out = child.wait_with_output().expect("output");
    let stderr = text(&out.stderr);
    match status.code() {
        Some(0 | 1) => {
            let v: Result<serde_json::Value, _> = serde_json::from_slice(&out.stdout);
            prop_assert!(
                v.is_ok(),
                "diagnose {flag}: exit {:?} without JSON: {}",
                status.code(),
                text(&out.stdout)
            );
        }
        Some(2) => {
            let lines: Vec<&str> = stderr.lines().collect();
            prop_assert!(
                lines.len() == 1 && lines[0].contains("input"),
                "diagnose {flag}: exit 2 should give one line naming the file: {stderr}"
            );
        }
        other => prop_assert!(
            false,
            "diagnose {flag}: exit {other:?} ({status}): {stderr}"
        ),
    }
    Ok(())
}

proptest! {
    #![proptest_config(mutate::config(PROCESS_CASES))]

    #[test]
    fn diagnose_answers_mutated_helm_values(
        yaml in mutated_one_of(files("tests/fixtures/diagnose", &[".values.yaml"])).prop_union(deep_yaml().boxed())
    ) {
        diagnose_answers("--helm-values", &yaml)?;
    }

    #[test]
    fn diagnose_answers_mutated_collector_configs(
        yaml in mutated_one_of({
            let mut v = files("tests/fixtures/diagnose", &[".otel.yaml", ".collector-cr.yaml"]);
            v.push(PROMETHEUS_YML.as_bytes().to_vec());
            v
        }).prop_union(deep_yaml().boxed())
    ) {
        diagnose_answers("--collector-config", &yaml)?;
    }

    #[test]
    fn diagnose_answers_mutated_policies(
        json in mutated_one_of(files("tests/fixtures/diagnose", &[".json"])).prop_union(deep_json().boxed()),
        trust in any::<bool>(),
    ) {
        diagnose_answers(if trust { "--trust-policy" } else { "--permission-policy" }, &json)?;
    }
}

/// `pipecheck diagnose` on what is not a configuration file: a device that never ends, a
/// FIFO no one writes to, a directory, a file far over the size cap. Each is exit 2 at once
/// with one line naming the file and why, and none makes the process read it: the largest
/// resident size any child of this test reached stays small (`ru_maxrss`).
#[test]
fn diagnose_refuses_what_is_not_a_regular_file_at_once() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let fifo = dir.path().join("values.fifo");
    let made = Command::new("mkfifo").arg(&fifo).status();
    assert!(made.is_ok_and(|s| s.success()), "mkfifo");
    let huge = dir.path().join("huge.yaml");
    // 50 MB, sparse: nothing is written, the size is what the metadata says.
    std::fs::File::create(&huge)
        .and_then(|f| f.set_len(50 << 20))
        .expect("a sparse file");
    for (path, words) in [
        (
            std::path::PathBuf::from("/dev/zero"),
            "a device, not a regular file",
        ),
        (fifo, "a FIFO, not a regular file"),
        (dir.path().to_path_buf(), "a directory, not a regular file"),
        (
            huge,
            "more than the 4194304 bytes a configuration file can be",
        ),
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_pipecheck"))
            .args(["diagnose", "--helm-values"])
            .arg(&path)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("pipecheck starts");
        let started = Instant::now();
        while child.try_wait().expect("wait").is_none() {
            if started.elapsed() > DEADLINE {
                let _ = child.kill();
                panic!("diagnose {}: no answer within {DEADLINE:?}", path.display());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let out = child.wait_with_output().expect("output");
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{}: {stderr}", path.display());
        let lines: Vec<&str> = stderr.lines().collect();
        assert!(
            lines.len() == 1
                && lines[0].contains(&path.display().to_string())
                && lines[0].contains(words),
            "{}: {stderr}",
            path.display()
        );
    }
    // SAFETY: getrusage fills the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    assert_eq!(
        unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) },
        0
    );
    let max_rss_mib = usage.ru_maxrss / 1024;
    assert!(
        max_rss_mib < 200,
        "a diagnose child reached {max_rss_mib} MiB resident"
    );
}
