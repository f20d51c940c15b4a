//! The harness's layering, checked on its own sources: no cycle between its top-level
//! modules (test modules aside), the chain's core imports nothing else of the harness,
//! and no link imports another link (links share helpers, never each other).
//! Read as text, like `cargo modules` would: `crate::<module>` paths and `super::<file>`
//! inside `links/`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir`, with its path relative to `src/`.
fn files(dir: &Path, out: &mut Vec<(String, String)>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            let rel = p
                .strip_prefix(src())
                .unwrap()
                .to_string_lossy()
                .into_owned();
            out.push((rel, std::fs::read_to_string(&p).unwrap()));
        }
    }
}

/// The file's text without its test modules (they may reach across the layers).
fn non_test(text: &str) -> &str {
    let mut cut = text.len();
    let mut from = 0;
    while let Some(i) = text[from..].find("#[cfg(test)]") {
        let at = from + i;
        if text[at + "#[cfg(test)]".len()..]
            .trim_start()
            .starts_with("mod ")
        {
            cut = at;
            break;
        }
        from = at + 1;
    }
    &text[..cut]
}

/// The identifiers following `prefix` in `text` (`crate::links::x` with `crate::` gives `links`).
fn after<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
    text.match_indices(prefix)
        .map(|(i, _)| {
            let rest = &text[i + prefix.len()..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            &rest[..end]
        })
        .filter(|s| !s.is_empty())
        .collect()
}

fn top(rel: &str) -> String {
    let first = rel.split('/').next().unwrap();
    first.strip_suffix(".rs").unwrap_or(first).to_string()
}

/// The edges between top-level modules, each with a file that makes it.
fn module_edges() -> BTreeMap<(String, String), String> {
    let mut all = Vec::new();
    files(&src(), &mut all);
    let modules: BTreeSet<String> = all
        .iter()
        .map(|(rel, _)| top(rel))
        .filter(|m| m != "lib" && m != "main")
        .collect();
    let mut edges = BTreeMap::new();
    for (rel, text) in &all {
        let from = top(rel);
        if !modules.contains(&from) {
            continue;
        }
        for to in after(non_test(text), "crate::") {
            if to != from && modules.contains(to) {
                edges
                    .entry((from.clone(), to.to_string()))
                    .or_insert_with(|| rel.clone());
            }
        }
    }
    edges
}

/// A cycle through `start`, as the modules along it, if there is one.
fn cycle_from(start: &str, edges: &BTreeMap<(String, String), String>) -> Option<Vec<String>> {
    let mut stack = vec![(start.to_string(), vec![start.to_string()])];
    let mut seen = BTreeSet::new();
    while let Some((at, path)) = stack.pop() {
        for ((a, b), _) in edges.iter().filter(|((a, _), _)| *a == at) {
            if b == start {
                let mut p = path.clone();
                p.push(b.clone());
                return Some(p);
            }
            if seen.insert(b.clone()) {
                let mut p = path.clone();
                p.push(b.clone());
                stack.push((b.clone(), p));
            }
            let _ = a;
        }
    }
    None
}

#[test]
fn no_cycle_between_the_harness_modules() {
    let edges = module_edges();
    let modules: BTreeSet<&String> = edges.keys().map(|(a, _)| a).collect();
    for m in modules {
        if let Some(c) = cycle_from(m, &edges) {
            let how: Vec<String> = c
                .windows(2)
                .map(|w| {
                    format!(
                        "{} -> {} ({})",
                        w[0],
                        w[1],
                        edges[&(w[0].clone(), w[1].clone())]
                    )
                })
                .collect();
            panic!("module cycle: {}", how.join(", "));
        }
    }
}

#[test]
fn the_chain_imports_nothing_of_the_harness() {
    let mut all = Vec::new();
    files(&src().join("chain"), &mut all);
    assert!(!all.is_empty());
    for (rel, text) in &all {
        let used: Vec<&str> = after(non_test(text), "crate::");
        assert!(used.is_empty(), "{rel} imports crate::{used:?}");
    }
}

#[test]
fn no_link_imports_another_link() {
    let mut all = Vec::new();
    files(&src().join("links"), &mut all);
    let stem = |rel: &str| {
        rel.trim_start_matches("links/")
            .trim_end_matches(".rs")
            .to_string()
    };
    let links: BTreeSet<String> = all
        .iter()
        .filter(|(_, text)| text.contains("impl Link for "))
        .map(|(rel, _)| stem(rel))
        .collect();
    assert!(links.len() >= 29, "{links:?}");
    for (rel, text) in &all {
        let me = stem(rel);
        let body = non_test(text);
        let used: BTreeSet<&str> = after(body, "super::")
            .into_iter()
            .chain(after(body, "crate::links::"))
            .filter(|m| links.contains(*m) && **m != me)
            .collect();
        assert!(used.is_empty(), "{rel} uses link module(s) {used:?}");
    }
}
