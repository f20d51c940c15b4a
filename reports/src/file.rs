//! Rendering and writing a report: the one path every report takes ([`render`]: the
//! final redaction, then the renderer of its kind), and the one way one reaches disk
//! (JUnit, HTML, the Markdown summary; the JSON document goes to stdout). A report file
//! is checked before the run starts ([`check_writable`]), so a path that cannot take it
//! is a start-up error, and written at the end through a temporary file and a rename
//! ([`write`]), so a reader never sees half a report.

use crate::model::{RunInfo, RunReport};
use crate::redact::Redactor;
use crate::{html, json, junit, markdown};
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use thiserror::Error;

/// Which report a file holds; its name is what error messages call it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportKind {
    Junit,
    /// The `--format json` document.
    Json,
    Html,
    /// The Markdown summary (`--summary`), e.g. for `$GITHUB_STEP_SUMMARY`.
    Summary,
}

impl fmt::Display for ReportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ReportKind::Junit => "JUnit",
            ReportKind::Json => "JSON",
            ReportKind::Html => "HTML",
            ReportKind::Summary => "Markdown summary",
        })
    }
}

impl ReportKind {
    /// The word the console uses when it says where the report went: `junit report: …`.
    pub fn console_name(self) -> &'static str {
        match self {
            ReportKind::Junit => "junit report",
            ReportKind::Json => "json report",
            ReportKind::Html => "html report",
            ReportKind::Summary => "summary",
        }
    }
}

#[derive(Debug, Error)]
pub enum ReportFileError {
    /// From [`check_writable`]: the report could not be written there, found before the run.
    #[error("failed to open {kind} report path {} for writing", path.display())]
    NotWritable {
        kind: ReportKind,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("failed to write {kind} report to {}", path.display())]
    Write {
        kind: ReportKind,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// From [`check_all`]: two reports asked for one path; the second would overwrite the
    /// first without a word.
    #[error("the {first} and {second} reports would both be written to {}: give each its own path", path.display())]
    SamePath {
        first: ReportKind,
        second: ReportKind,
        path: PathBuf,
    },
    #[error("failed to render the {kind} report")]
    Render {
        kind: ReportKind,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl ReportFileError {
    /// The report path the error is about, if any.
    pub fn path(&self) -> Option<&Path> {
        match self {
            ReportFileError::Render { .. } => None,
            ReportFileError::Write { path, .. }
            | ReportFileError::NotWritable { path, .. }
            | ReportFileError::SamePath { path, .. } => Some(path),
        }
    }
}

/// A report the invocation was asked to write, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportFile {
    pub kind: ReportKind,
    pub path: PathBuf,
}

impl ReportFile {
    pub fn new(kind: ReportKind, path: impl Into<PathBuf>) -> Self {
        Self {
            kind,
            path: path.into(),
        }
    }

    /// See [`check_writable`].
    pub fn check_writable(&self) -> Result<(), ReportFileError> {
        check_writable(self.kind, &self.path)
    }

    /// Renders `run` as this kind of report and writes it (see [`render`], [`write`]).
    pub fn write(&self, run: &RunReport, info: &RunInfo) -> Result<(), ReportFileError> {
        let text = render(self.kind, run, info)?;
        write(self.kind, &self.path, text.as_bytes())
    }
}

/// Every report of one invocation, checked before the run: no two on one path (the same
/// file under two spellings included), then each writable ([`check_writable`]).
pub fn check_all(files: &[ReportFile]) -> Result<(), ReportFileError> {
    for (i, a) in files.iter().enumerate() {
        if let Some(b) = files[..i].iter().find(|b| same_file(&b.path, &a.path)) {
            return Err(ReportFileError::SamePath {
                first: b.kind,
                second: a.kind,
                path: a.path.clone(),
            });
        }
    }
    files.iter().try_for_each(ReportFile::check_writable)
}

/// Whether two report paths name one file: compared after resolving the directory (links,
/// `..`), since the file itself need not exist yet.
fn same_file(a: &Path, b: &Path) -> bool {
    let resolved = |p: &Path| {
        let dir = fs::canonicalize(parent_dir(p)).ok()?;
        match fs::canonicalize(p) {
            Ok(file) => Some(file),
            Err(_) => Some(dir.join(p.file_name()?)),
        }
    };
    match (resolved(a), resolved(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// `run` as a report of `kind`.
///
/// `run` should be redacted already (each run redacts with the secrets it loaded); the
/// patterns of a fresh [`Redactor`] are applied once more here, since a report outlives
/// the run and redacting twice changes nothing.
pub fn render(
    kind: ReportKind,
    run: &RunReport,
    info: &RunInfo,
) -> Result<String, ReportFileError> {
    let run = Redactor::new().redact_run(run);
    Ok(match kind {
        ReportKind::Junit => junit::render(&run).map_err(|e| ReportFileError::Render {
            kind,
            source: Box::new(e),
        })?,
        ReportKind::Json => json::render(&run, info),
        ReportKind::Html => html::render(&run, info),
        ReportKind::Summary => markdown::render(&run, info),
    })
}

/// Checks, before a run starts, that a report can be written to `path`: its directory
/// exists and takes new files, and `path` is not a directory. Leaves no file behind.
pub fn check_writable(kind: ReportKind, path: &Path) -> Result<(), ReportFileError> {
    let err = |source| ReportFileError::NotWritable {
        kind,
        path: path.to_owned(),
        source,
    };
    if path.is_dir() {
        return Err(err(io::Error::new(
            io::ErrorKind::IsADirectory,
            "the path is a directory",
        )));
    }
    if is_special_file(path) {
        // A FIFO opens for writing only once a reader has it open: opening it now would
        // wait for one before the run starts. Its report waits at the end instead.
        #[cfg(unix)]
        if fs::metadata(path).is_ok_and(|m| std::os::unix::fs::FileTypeExt::is_fifo(&m.file_type()))
        {
            return Ok(());
        }
        return OpenOptions::new()
            .write(true)
            .open(path)
            .map(drop)
            .map_err(err);
    }
    let dir = parent_dir(path);
    if !dir.is_dir() {
        return Err(err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("directory {} does not exist", dir.display()),
        )));
    }
    let (tmp, file) = create_temp(path).map_err(err)?;
    drop(file);
    fs::remove_file(&tmp).map_err(err)
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename.
pub fn write(kind: ReportKind, path: &Path, bytes: &[u8]) -> Result<(), ReportFileError> {
    write_atomic(path, bytes).map_err(|source| ReportFileError::Write {
        kind,
        path: path.to_owned(),
        source,
    })
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// A new, empty file beside `path`, named so that it cannot collide with another writer.
fn create_temp(path: &Path) -> io::Result<(PathBuf, File)> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the path has no file name"))?;
    let dir = parent_dir(path);
    let mut last_err = None;
    for _ in 0..16 {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(
            ".{}.{}.{n}.tmp",
            name.to_string_lossy(),
            std::process::id()
        ));
        match OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(file) => return Ok((tmp, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last_err = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last_err.unwrap_or_else(|| io::Error::other("no free temporary file name")))
}

/// An existing path that is neither a regular file nor a directory: a device such as
/// `/dev/stdout` or `/dev/full`, a FIFO. It is written in place, never renamed over: a
/// temporary file renamed onto it would replace the device itself (as root, in `/dev`).
fn is_special_file(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir())
}

fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    if path.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::IsADirectory,
            "the path is a directory",
        ));
    }
    if is_special_file(path) {
        let mut file = OpenOptions::new().write(true).open(path)?;
        return file.write_all(bytes).and_then(|()| file.flush());
    }
    let (tmp, mut file) = create_temp(path)?;
    let written = file
        .write_all(bytes)
        .and_then(|()| file.sync_all())
        .and_then(|()| {
            drop(file);
            fs::rename(&tmp, path)
        });
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RunStatus;
    use crate::testdata;
    use std::error::Error as _;
    use std::time::{Duration, SystemTime};

    fn files_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    fn info() -> RunInfo {
        RunInfo {
            target: "mock".into(),
            started: SystemTime::UNIX_EPOCH,
            duration: Duration::from_secs(2),
            status: RunStatus::Fail,
        }
    }

    #[test]
    fn writes_atomically_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.html");
        fs::write(&path, "old").unwrap();
        ReportFile::new(ReportKind::Html, &path)
            .write(&testdata::run(), &info())
            .unwrap();
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            html::render(&testdata::run(), &info())
        );
        assert_eq!(files_in(dir.path()), ["report.html"]);
    }

    #[test]
    fn every_kind_is_written_through_the_pattern_redactor() {
        let mut run = testdata::run();
        run.suites[1].links[2].evidence[0].body =
            "Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/x, SignedHeaders=host, Signature=0123456789abcdef0123456789abcdef".into();
        let dir = tempfile::tempdir().unwrap();
        for kind in [
            ReportKind::Junit,
            ReportKind::Json,
            ReportKind::Html,
            ReportKind::Summary,
        ] {
            let path = dir.path().join(format!("{kind}.out"));
            ReportFile::new(kind, &path).write(&run, &info()).unwrap();
            let text = fs::read_to_string(&path).unwrap();
            assert!(!text.contains("0123456789abcdef0123456789abcdef"), "{kind}");
        }
    }

    #[test]
    fn write_errors_name_the_kind_and_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no-such-dir").join("r.html");
        let err = ReportFile::new(ReportKind::Html, &missing)
            .write(&testdata::run(), &info())
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("failed to write HTML report to {}", missing.display())
        );
        assert!(err.source().is_some());
        assert_eq!(err.path(), Some(missing.as_path()));

        let err = write(ReportKind::Summary, dir.path(), b"x").unwrap_err();
        assert!(matches!(err, ReportFileError::Write { .. }));
        assert_eq!(files_in(dir.path()), Vec::<String>::new());
    }

    #[test]
    fn check_writable_accepts_a_new_or_existing_file_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        check_writable(ReportKind::Junit, &dir.path().join("new.xml")).unwrap();
        assert_eq!(files_in(dir.path()), Vec::<String>::new());
        fs::write(dir.path().join("old.xml"), "x").unwrap();
        check_writable(ReportKind::Junit, &dir.path().join("old.xml")).unwrap();
        assert_eq!(files_in(dir.path()), ["old.xml"]);
    }

    #[test]
    fn check_writable_rejects_directories_and_missing_parents() {
        let dir = tempfile::tempdir().unwrap();
        let err = check_writable(ReportKind::Html, dir.path()).unwrap_err();
        assert!(matches!(err, ReportFileError::NotWritable { .. }));
        assert_eq!(err.source().unwrap().to_string(), "the path is a directory");

        let missing = dir.path().join("nope").join("r.md");
        let err = check_writable(ReportKind::Summary, &missing).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("failed to open Markdown summary report path"),
            "{err}"
        );
        assert!(err.source().unwrap().to_string().contains("does not exist"));
    }

    #[test]
    fn two_reports_on_one_file_are_refused_whatever_the_spelling() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::create_dir(d.join("sub")).unwrap();
        let ok = [
            ReportFile::new(ReportKind::Junit, d.join("r.xml")),
            ReportFile::new(ReportKind::Html, d.join("r.html")),
        ];
        check_all(&ok).unwrap();
        for (a, b) in [
            (d.join("r.xml"), d.join("r.xml")),
            (d.join("r.xml"), d.join("sub/../r.xml")),
            (d.join("sub/r.md"), d.join("./sub/r.md")),
        ] {
            let files = [
                ReportFile::new(ReportKind::Junit, &a),
                ReportFile::new(ReportKind::Summary, &b),
            ];
            let err = check_all(&files).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!(
                    "the JUnit and Markdown summary reports would both be written to {}: give each its own path",
                    b.display()
                )
            );
        }
        // Nothing was created by the checks.
        assert_eq!(files_in(d), ["sub"]);
    }

    #[test]
    fn a_path_without_a_directory_means_the_current_one() {
        assert_eq!(parent_dir(Path::new("r.xml")), Path::new("."));
        assert_eq!(parent_dir(Path::new("out/r.xml")), Path::new("out"));
    }

    /// `/dev/full` takes opens and refuses every write with ENOSPC: the error names the
    /// path and the OS error, and the device is still a device afterwards.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_full_device_is_written_in_place_and_its_enospc_named() {
        use std::os::unix::fs::FileTypeExt;
        let full = Path::new("/dev/full");
        if !fs::metadata(full).is_ok_and(|m| m.file_type().is_char_device()) {
            return;
        }
        check_writable(ReportKind::Junit, full).expect("/dev/full opens for writing");
        let e = write(ReportKind::Junit, full, b"<testsuites/>").unwrap_err();
        assert_eq!(e.path(), Some(full));
        let io = e.source().unwrap().downcast_ref::<io::Error>().unwrap();
        // ENOSPC on Linux (no libc dependency for one constant).
        assert_eq!(io.raw_os_error(), Some(28));
        assert!(
            fs::metadata(full).unwrap().file_type().is_char_device(),
            "/dev/full was replaced"
        );
    }

    /// A FIFO without a reader is accepted at once, not waited on before the run.
    #[cfg(unix)]
    #[test]
    fn check_writable_does_not_wait_for_a_fifo_reader() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("report.fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .is_ok_and(|s| s.success());
        if !made {
            return;
        }
        let (tx, rx) = std::sync::mpsc::channel();
        let path = fifo.clone();
        std::thread::spawn(move || tx.send(check_writable(ReportKind::Junit, &path).is_ok()));
        assert_eq!(
            rx.recv_timeout(std::time::Duration::from_secs(5)),
            Ok(true),
            "check_writable waited for a reader"
        );
        assert_eq!(files_in(dir.path()), ["report.fifo"]);
    }
}
