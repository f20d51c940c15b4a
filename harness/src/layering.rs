//! The harness's layering, checked on its own sources. The layout is the layering: each
//! directory under `src/` is a layer ([`LAYERS`], bottom up), and a module may use only
//! modules of its own layer or of layers below it. Also: no cycle between modules (test
//! modules aside), the core (`chain/`) imports nothing else of the harness, and no link
//! imports another link (links share helpers, never each other).
//! Read as text, like `cargo modules` would: `crate::<module>` paths (grouped ones too)
//! and `super::<file>` inside `links/`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Bottom up. `chain` (the core) and `links` are one module each; the others hold
/// several, re-exported at the crate's root (`crate::target` is `clients/target.rs`).
const LAYERS: &[&str] = &["chain", "model", "clients", "links", "session", "cli"];

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

fn all_files() -> Vec<(String, String)> {
    let mut all = Vec::new();
    files(&src(), &mut all);
    all
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

fn ident(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// The identifiers following `prefix` in `text` (`crate::links::x` with `crate::` gives
/// `links`); a group (`crate::{a, b::c}`) gives each of its first segments.
fn after<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
    let mut out = Vec::new();
    for (i, _) in text.match_indices(prefix) {
        let rest = &text[i + prefix.len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // Top-level entries of the group only: nested groups belong to their entry.
            let mut depth = 0;
            let mut start = true;
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => start = true,
                    c if start && depth == 0 && (c.is_ascii_alphanumeric() || c == '_') => {
                        out.push(ident(&group[j..]));
                        start = false;
                    }
                    _ => {}
                }
            }
        } else {
            let id = ident(rest);
            if !id.is_empty() {
                out.push(id);
            }
        }
    }
    out
}

/// A file's module and its layer: `clients/target.rs` is `target` in `clients`,
/// `clients/collector/x.rs` is `collector`, `links/x.rs` is `links`; `clients/mod.rs` is
/// the layer's own module. None for `lib.rs`, `main.rs` and this test.
fn module_of(rel: &str) -> Option<(String, usize)> {
    let mut parts = rel.split('/');
    let first = parts.next()?;
    let first = first.strip_suffix(".rs").unwrap_or(first);
    let layer = LAYERS.iter().position(|l| *l == first)?;
    let module = match parts.next() {
        Some(_) if first == "chain" || first == "links" => first.to_string(),
        Some("mod.rs") | None => first.to_string(),
        Some(m) => m.strip_suffix(".rs").unwrap_or(m).to_string(),
    };
    Some((module, layer))
}

/// Every module's layer, the layers themselves included.
fn layers() -> BTreeMap<String, usize> {
    let mut out: BTreeMap<String, usize> = LAYERS
        .iter()
        .enumerate()
        .map(|(i, l)| (l.to_string(), i))
        .collect();
    for (rel, _) in all_files() {
        if let Some((m, l)) = module_of(&rel) {
            out.insert(m, l);
        }
    }
    out
}

/// The edges between modules, each with a file that makes it.
fn module_edges() -> BTreeMap<(String, String), String> {
    let layers = layers();
    let mut edges = BTreeMap::new();
    for (rel, text) in &all_files() {
        let Some((from, _)) = module_of(rel) else {
            continue;
        };
        for to in after(non_test(text), "crate::") {
            if to != from && layers.contains_key(to) {
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
        for (_, b) in edges.keys().filter(|(a, _)| *a == at) {
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
        }
    }
    None
}

#[test]
fn every_module_is_in_a_layer() {
    for e in std::fs::read_dir(src()).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let stem = name.strip_suffix(".rs").unwrap_or(&name);
        assert!(
            LAYERS.contains(&stem) || ["lib", "main", "layering"].contains(&stem),
            "src/{name} is in no layer: move it into one of {LAYERS:?}"
        );
    }
}

#[test]
fn layers_only_use_what_is_below_them() {
    let layers = layers();
    for (rel, text) in &all_files() {
        let Some((module, layer)) = module_of(rel) else {
            continue;
        };
        for used in after(non_test(text), "crate::") {
            if let Some(&l) = layers.get(used) {
                assert!(
                    l <= layer,
                    "{rel} ({module}, layer {}) uses crate::{used} of layer {}, above it",
                    LAYERS[layer],
                    LAYERS[l]
                );
            }
        }
    }
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

#[test]
fn grouped_imports_are_read() {
    let text = "use crate::{target::Target, links::{self, Step}, wait};\nuse crate::arn::Arn;";
    assert_eq!(after(text, "crate::"), ["target", "links", "wait", "arn"]);
}
