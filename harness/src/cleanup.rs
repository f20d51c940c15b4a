//! What a run started outside this process (collector processes, containers), in one
//! registry, so an interrupted run (Ctrl-C, SIGTERM) can remove all of it before exiting.
//! The normal path stops each thing where it was started and unregisters it.

use std::collections::BTreeSet;
use std::sync::{Mutex, OnceLock};

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Leftover {
    Process(u32),
    Container(String),
    /// Every container carrying this process's owner label: covers a container that was
    /// created but not yet started (or not yet known by id) when the run was stopped.
    OwnedContainers,
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

fn registry() -> &'static Mutex<BTreeSet<Leftover>> {
    static R: OnceLock<Mutex<BTreeSet<Leftover>>> = OnceLock::new();
    R.get_or_init(|| Mutex::new(BTreeSet::new()))
}

pub fn register(l: Leftover) {
    registry()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(l);
}

pub fn unregister(l: &Leftover) {
    registry()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(l);
}

pub fn pending() -> Vec<Leftover> {
    registry()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .cloned()
        .collect()
}

/// Removes everything still registered, synchronously (callable from a signal path
/// with the async runtime going down): kills processes, force-removes containers.
pub fn remove_all() -> Vec<String> {
    let mut report = Vec::new();
    for l in pending() {
        match &l {
            Leftover::Process(pid) => {
                // SAFETY: kill(2) with a pid we started; an already-gone pid gives ESRCH.
                let rc = unsafe { libc::kill(*pid as libc::pid_t, libc::SIGKILL) };
                report.push(format!(
                    "killed process {pid}{}",
                    if rc == 0 { "" } else { " (already gone)" }
                ));
            }
            Leftover::Container(id) => {
                let ok = docker_rm(std::slice::from_ref(id));
                report.push(format!(
                    "removed container {}{}",
                    &id[..id.len().min(12)],
                    if ok { "" } else { " (failed)" }
                ));
            }
            Leftover::OwnedContainers => {
                // A create request cut off by the interrupt may still complete in the
                // engine a moment later: look again, a few times, a little apart.
                let mut removed = 0;
                let mut failed = false;
                for round in 0..4 {
                    let ids = owned_containers();
                    if ids.is_empty() && round >= 2 {
                        break;
                    }
                    if !ids.is_empty() {
                        failed |= !docker_rm(&ids);
                        removed += ids.len();
                    }
                    std::thread::sleep(std::time::Duration::from_millis(300));
                }
                if removed > 0 {
                    report.push(format!(
                        "removed {removed} container(s){}",
                        if failed { " (failed)" } else { "" }
                    ));
                }
            }
        }
        unregister(&l);
    }
    report
}

/// The containers carrying this process's owner label, running or not.
fn owned_containers() -> Vec<String> {
    let filter = format!("label={OWNER_LABEL}={}", owner_id());
    std::process::Command::new("docker")
        .args(["ps", "-aq", "--filter", &filter])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn docker_rm(ids: &[String]) -> bool {
    std::process::Command::new("docker")
        .args(["rm", "-f"])
        .args(ids)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
