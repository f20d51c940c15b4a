//! The field corpus: `pipecheck diagnose` on the shapes people really write.
//!
//! `tests/fixtures/diagnose/field/MANIFEST.yaml` lists every fixture: our own minimal file
//! reproducing a shape seen in a public repository, doc or issue thread (its `source`),
//! whether it works as written (`kind`: broken, works, template), what diagnose should say
//! (`outcome`, one line) and exactly which findings it gives (`expect`, one
//! `<file>:<line> <id> <severity> <key path>` each). One named trial per fixture compares
//! the findings with `expect` exactly; after the trials, a summary line gives recall
//! (broken fixtures whose every expected error or warning is reported), precision (reported
//! errors and warnings that the manifest expects) and the errors on working fixtures, so
//! the score is printed even when trials fail.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use clap::Parser;
use libtest_mimic::{Arguments, Failed, Trial};
use pipecheck_diagnose::{DiagnoseArgs, diagnose_files};
use serde::Deserialize;

/// `pipecheck diagnose`'s arguments, as the harness's CLI nests them.
#[derive(Parser, Debug)]
#[command(name = "pipecheck diagnose")]
struct Cli {
    #[command(flatten)]
    args: DiagnoseArgs,
}

#[derive(Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Kind {
    /// Broken as written: its real problem must be an error or a warning.
    Broken,
    /// Works as written: no error allowed.
    Works,
    /// A template (helm, terraform, envsubst): the placeholders must be named.
    Template,
}

#[derive(Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
struct Entry {
    /// The trial's name.
    name: String,
    kind: Kind,
    /// Where the shape was seen.
    source: String,
    /// `diagnose` arguments; each one that names a file under the corpus folder is
    /// resolved there.
    args: Vec<String>,
    /// What diagnose should say, in a line.
    outcome: String,
    /// Every finding: `<file>:<line> <id> <severity> <key path>`.
    #[serde(default)]
    expect: Vec<String>,
}

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/diagnose/field")
}

fn manifest() -> Vec<Entry> {
    let path = corpus().join("MANIFEST.yaml");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    // A manifest of comments only is an empty corpus.
    serde_saphyr::from_str::<Option<Vec<Entry>>>(&text)
        .unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
        .unwrap_or_default()
}

/// One finding as the manifest writes it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Said {
    file: String,
    line: usize,
    id: String,
    severity: String,
    key_path: String,
}

impl Said {
    fn parse(s: &str) -> Result<Said, String> {
        let bad = || format!("`{s}` is not `<file>:<line> <id> <severity> <key path>`");
        let mut parts = s.splitn(4, ' ');
        let (file, line) = parts
            .next()
            .and_then(|f| f.rsplit_once(':'))
            .ok_or_else(bad)?;
        let id = parts.next().ok_or_else(bad)?;
        let severity = parts.next().ok_or_else(bad)?;
        if !["error", "warning", "info"].contains(&severity) {
            return Err(bad());
        }
        Ok(Said {
            file: file.to_string(),
            line: line.parse().map_err(|_| bad())?,
            id: id.to_string(),
            severity: severity.to_string(),
            key_path: parts.next().unwrap_or("").to_string(),
        })
    }

    fn is_problem(&self) -> bool {
        self.severity != "info"
    }
}

impl std::fmt::Display for Said {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{} {} {} {}",
            self.file, self.line, self.id, self.severity, self.key_path
        )
    }
}

/// What one fixture scored, for the summary.
#[derive(Default, Debug)]
struct Score {
    /// Broken fixtures, and those whose every expected error/warning was reported.
    broken: usize,
    found: usize,
    /// Errors and warnings reported, and those the manifest expects.
    reported: usize,
    expected_reported: usize,
    /// Working fixtures, and those given an error.
    works: usize,
    false_errors: usize,
    templates: usize,
}

fn run_entry(e: &Entry) -> Result<(BTreeSet<Said>, BTreeSet<Said>), String> {
    let dir = corpus();
    let args: Vec<String> = e
        .args
        .iter()
        .map(|a| {
            let p = dir.join(a);
            if !a.starts_with('-') && p.is_file() {
                p.to_string_lossy().into_owned()
            } else {
                a.clone()
            }
        })
        .collect();
    let cli = Cli::try_parse_from(std::iter::once("diagnose".to_string()).chain(args))
        .map_err(|err| format!("the arguments do not parse: {err}"))?;
    let d = diagnose_files(&cli.args).map_err(|err| format!("diagnose failed: {err}"))?;
    let prefix = format!("{}/", dir.to_string_lossy());
    let got: BTreeSet<Said> = d
        .findings
        .iter()
        .map(|f| Said {
            file: f.file.strip_prefix(&prefix).unwrap_or(&f.file).to_string(),
            line: f.line,
            id: f.id.to_string(),
            severity: f.severity.label().to_string(),
            key_path: f.key_path.clone(),
        })
        .collect();
    let want = e
        .expect
        .iter()
        .map(|s| Said::parse(s))
        .collect::<Result<BTreeSet<_>, _>>()?;
    Ok((want, got))
}

fn score(e: &Entry, want: &BTreeSet<Said>, got: &BTreeSet<Said>, s: &mut Score) {
    let problems: Vec<&Said> = got.iter().filter(|g| g.is_problem()).collect();
    s.reported += problems.len();
    s.expected_reported += problems.iter().filter(|g| want.contains(g)).count();
    match e.kind {
        Kind::Broken => {
            s.broken += 1;
            // Found: every expected error/warning reported, as an error or a warning.
            let found = want.iter().filter(|w| w.is_problem()).all(|w| {
                problems.iter().any(|g| {
                    (g.file.as_str(), g.line, g.id.as_str(), g.key_path.as_str())
                        == (w.file.as_str(), w.line, w.id.as_str(), w.key_path.as_str())
                })
            });
            s.found += usize::from(found);
        }
        Kind::Works => {
            s.works += 1;
            s.false_errors += usize::from(got.iter().any(|g| g.severity == "error"));
        }
        Kind::Template => s.templates += 1,
    }
}

fn check(e: &Entry, tally: &Mutex<Score>) -> Result<(), Failed> {
    let (want, got) = run_entry(e)?;
    score(e, &want, &got, &mut tally.lock().unwrap());
    if e.kind == Kind::Broken && !want.iter().any(Said::is_problem) {
        return Err(format!(
            "{}: a broken fixture must expect an error or warning",
            e.name
        )
        .into());
    }
    if e.kind == Kind::Works && want.iter().any(|w| w.severity == "error") {
        return Err(format!("{}: a working fixture cannot expect an error", e.name).into());
    }
    if want == got {
        return Ok(());
    }
    let missing: Vec<String> = want.difference(&got).map(|s| format!("  - {s}")).collect();
    let extra: Vec<String> = got.difference(&want).map(|s| format!("  + {s}")).collect();
    Err(format!(
        "{} ({}): findings differ from the manifest\nexpected, not reported:\n{}\nreported, not expected:\n{}",
        e.name,
        e.outcome,
        missing.join("\n"),
        extra.join("\n")
    )
    .into())
}

fn percent(n: usize, d: usize) -> String {
    if d == 0 {
        "n/a".into()
    } else {
        format!("{:.1}%", 100.0 * n as f64 / d as f64)
    }
}

fn main() {
    let args = Arguments::from_args();
    let entries = manifest();
    let mut names = BTreeSet::new();
    for e in &entries {
        assert!(
            names.insert(e.name.clone()),
            "two fixtures are named {}",
            e.name
        );
        assert!(
            e.source.starts_with("https://"),
            "{}: the source must be a URL",
            e.name
        );
    }
    let tally = Arc::new(Mutex::new(Score::default()));
    let trials = entries
        .iter()
        .map(|e| {
            let (e, tally) = (e.clone(), tally.clone());
            Trial::test(e.name.clone(), move || check(&e, &tally))
        })
        .collect();
    let conclusion = libtest_mimic::run(&args, trials);
    let s = tally.lock().unwrap();
    if s.broken + s.works + s.templates > 0 {
        println!(
            "field corpus: {} fixtures ({} broken, {} working, {} templates): recall {} ({}/{}), precision {} ({}/{} errors and warnings expected), errors on working fixtures: {}",
            s.broken + s.works + s.templates,
            s.broken,
            s.works,
            s.templates,
            percent(s.found, s.broken),
            s.found,
            s.broken,
            percent(s.expected_reported, s.reported),
            s.expected_reported,
            s.reported,
            s.false_errors,
        );
    }
    conclusion.exit();
}
