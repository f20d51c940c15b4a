//! YAML with positions: a small tree built from the marked events of the parser
//! serde-saphyr uses (granit-parser, re-exported as `serde_saphyr::granit_parser`), so every
//! key and value knows its line and column.
//!
//! The tree is built iteratively (no recursion on input depth; the parser itself caps
//! nesting at 255). Anchors, aliases and merge keys are resolved as helm's parser resolves
//! them (`url: *rw` is the anchored value; `<<: *base` adds the base's keys that the map
//! does not set itself), within a budget of [`MAX_EXPANDED_NODES`] copied nodes per file:
//! past it an alias stays an opaque node, so an alias bomb costs nothing. Positions stay
//! where the user wrote them: an alias's node at the alias, what it copies at the anchor. A YAML document embedded in a block scalar (`config: |` of an
//! OpenTelemetryCollector resource, a ConfigMap's `data`) can be parsed with positions in
//! the outer file ([`embedded`]).

use serde_saphyr::granit_parser::{Event, Parser, ScalarStyle, ScanError};

/// A 1-based line and column.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Pos {
    pub line: usize,
    pub column: usize,
}

#[derive(Clone, Debug)]
pub(crate) struct Node {
    pub pos: Pos,
    pub kind: Kind,
}

#[derive(Clone, Debug)]
pub(crate) enum Kind {
    Map(Vec<Entry>),
    Seq(Vec<Node>),
    Scalar(Scalar),
    /// `*name` left unexpanded: an unknown anchor, or past the expansion budget.
    Alias,
}

#[derive(Clone, Debug)]
pub(crate) struct Entry {
    /// The key's text; a complex (collection) key is `?`.
    pub key: String,
    pub key_pos: Pos,
    pub value: Node,
}

#[derive(Clone, Debug)]
pub(crate) struct Scalar {
    pub text: String,
    /// Plain (unquoted) scalars are the ones that can mean null or a boolean.
    pub plain: bool,
    /// For a literal block scalar (`|`): where its content starts (line) and how far it is
    /// indented, so an embedded document can be mapped back to this file.
    pub block: Option<Pos>,
}

/// A parse failure: the parser's message and position (1-based).
#[derive(Debug)]
pub(crate) struct YamlError {
    pub message: String,
    pub pos: Pos,
}

impl Node {
    fn new(pos: Pos, kind: Kind) -> Node {
        Node { pos, kind }
    }

    /// `{}`, for defaults.
    pub fn empty_map() -> Node {
        Node::new(Pos::default(), Kind::Map(Vec::new()))
    }

    /// The value of `key` in a mapping (the last one, as Helm reads duplicates).
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|e| &e.value)
    }

    pub fn entry(&self, key: &str) -> Option<&Entry> {
        match &self.kind {
            Kind::Map(entries) => entries.iter().rev().find(|e| e.key == key),
            _ => None,
        }
    }

    /// Follows `keys` through nested mappings.
    pub fn at(&self, keys: &[&str]) -> Option<&Node> {
        keys.iter().try_fold(self, |n, k| n.get(k))
    }

    pub fn entries(&self) -> &[Entry] {
        match &self.kind {
            Kind::Map(e) => e,
            _ => &[],
        }
    }

    pub fn items(&self) -> &[Node] {
        match &self.kind {
            Kind::Seq(items) => items,
            _ => &[],
        }
    }

    pub fn is_map(&self) -> bool {
        matches!(self.kind, Kind::Map(_))
    }

    pub fn is_seq(&self) -> bool {
        matches!(self.kind, Kind::Seq(_))
    }

    /// A null: an empty value, `~` or `null` unquoted.
    pub fn is_null(&self) -> bool {
        match &self.kind {
            Kind::Scalar(s) => {
                s.plain && matches!(s.text.as_str(), "" | "~" | "null" | "Null" | "NULL")
            }
            _ => false,
        }
    }

    /// The text of a scalar that is not null.
    pub fn str(&self) -> Option<&str> {
        match &self.kind {
            Kind::Scalar(s) if !self.is_null() => Some(&s.text),
            _ => None,
        }
    }

    pub fn scalar(&self) -> Option<&Scalar> {
        match &self.kind {
            Kind::Scalar(s) => Some(s),
            _ => None,
        }
    }

    /// A boolean as Helm (YAML 1.1 through go-yaml) reads it: `true`/`false`, also
    /// `yes`/`no`/`on`/`off`, unquoted. `None` for anything else.
    pub fn bool(&self) -> Option<bool> {
        let s = self.scalar().filter(|s| s.plain)?;
        match s.text.to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "y" => Some(true),
            "false" | "no" | "off" | "n" => Some(false),
            _ => None,
        }
    }

    /// A non-empty string value (Helm's `default` treats "" and null as unset).
    pub fn non_empty(&self) -> Option<&str> {
        self.str().filter(|s| !s.trim().is_empty())
    }

    /// Every scalar value below this node (not keys), with its key path, depth first.
    pub fn walk<'a>(&'a self, path: &str, f: &mut impl FnMut(&str, Option<&'a Entry>, &'a Node)) {
        // Depth is capped by the parser (255 levels), so recursion is safe here.
        match &self.kind {
            Kind::Map(entries) => {
                for e in entries {
                    let p = pipecheck_policy::path::key(path, &e.key);
                    f(&p, Some(e), &e.value);
                    e.value.walk(&p, f);
                }
            }
            Kind::Seq(items) => {
                for (i, n) in items.iter().enumerate() {
                    let p = pipecheck_policy::path::index(path, i);
                    f(&p, None, n);
                    n.walk(&p, f);
                }
            }
            Kind::Scalar(_) | Kind::Alias => {}
        }
    }
}

/// A key defined twice in one mapping (D22): the collector (go-yaml v3) refuses the file
/// ("mapping key already defined"), helm keeps only the last.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Duplicate {
    /// The key path of the second definition.
    pub path: String,
    pub key: String,
    pub first: Pos,
    pub second: Pos,
}

/// Every key defined more than once in a mapping below `node` (`base`: its key path), in
/// file order. Complex keys (`?`) and merge keys (`<<`) are not compared.
pub(crate) fn duplicates(node: &Node, base: &str) -> Vec<Duplicate> {
    let mut out = Vec::new();
    // Depth is capped by the parser (255 levels): an explicit stack all the same.
    let mut stack: Vec<(&Node, String)> = vec![(node, base.to_string())];
    while let Some((n, p)) = stack.pop() {
        match &n.kind {
            Kind::Map(entries) => {
                // Linear in the map's size: a huge map costs no more than reading it.
                let mut seen: std::collections::HashMap<&str, Pos> =
                    std::collections::HashMap::with_capacity(entries.len());
                for e in entries {
                    let key_path = pipecheck_policy::path::key(&p, &e.key);
                    if e.key != "?" && e.key != "<<" {
                        if let Some(first) = seen.get(e.key.as_str()) {
                            out.push(Duplicate {
                                path: key_path.clone(),
                                key: e.key.clone(),
                                first: *first,
                                second: e.key_pos,
                            });
                        } else {
                            seen.insert(&e.key, e.key_pos);
                        }
                    }
                    stack.push((&e.value, key_path));
                }
            }
            Kind::Seq(items) => {
                for (i, item) in items.iter().enumerate() {
                    stack.push((item, pipecheck_policy::path::index(&p, i)));
                }
            }
            Kind::Scalar(_) | Kind::Alias => {}
        }
    }
    out.sort_by_key(|d| d.second);
    out
}

/// How positions reported by the parser map to the file.
#[derive(Clone, Copy)]
enum Shift {
    None,
    /// Inside a literal block scalar: line `l` of the content is file line
    /// `first_line + l - 1`, and columns move right by `indent`.
    Block {
        first_line: usize,
        indent: usize,
    },
}

impl Shift {
    fn pos(self, line: usize, col0: usize) -> Pos {
        match self {
            Shift::None => Pos {
                line,
                column: col0 + 1,
            },
            Shift::Block { first_line, indent } => Pos {
                line: first_line + line - 1,
                column: indent + col0 + 1,
            },
        }
    }
}

/// Parses every document of a YAML stream. An empty stream gives no documents.
pub(crate) fn parse(text: &str) -> Result<Vec<Node>, YamlError> {
    build(text, Shift::None)
}

/// Parses the YAML held in a literal block scalar, with positions in the outer file.
/// Other scalar styles (quoted, folded) get every position set to the scalar's own.
pub(crate) fn embedded(node: &Node) -> Option<Result<Vec<Node>, YamlError>> {
    let s = node.scalar()?;
    let shift = match s.block {
        Some(p) => Shift::Block {
            first_line: p.line,
            indent: p.column - 1,
        },
        None => {
            let pin = node.pos;
            return Some(
                build(&s.text, Shift::None)
                    .map(|docs| {
                        docs.into_iter()
                            .map(|mut d| {
                                pin_positions(&mut d, pin);
                                d
                            })
                            .collect()
                    })
                    .map_err(|e| YamlError {
                        message: e.message,
                        pos: pin,
                    }),
            );
        }
    };
    Some(build(&s.text, shift))
}

fn pin_positions(n: &mut Node, pos: Pos) {
    n.pos = pos;
    match &mut n.kind {
        Kind::Map(entries) => {
            for e in entries {
                e.key_pos = pos;
                pin_positions(&mut e.value, pos);
            }
        }
        Kind::Seq(items) => items.iter_mut().for_each(|i| pin_positions(i, pos)),
        Kind::Scalar(_) | Kind::Alias => {}
    }
}

enum Frame {
    Map {
        pos: Pos,
        anchor: usize,
        entries: Vec<Entry>,
        key: Option<(String, Pos)>,
    },
    Seq {
        pos: Pos,
        anchor: usize,
        items: Vec<Node>,
    },
}

/// Nodes aliases may copy in one file: far above any configuration's use of anchors, far
/// below what a "billion laughs" document asks for.
pub(crate) const MAX_EXPANDED_NODES: usize = 100_000;

/// The anchored nodes of one file and what copying them has cost so far.
#[derive(Default)]
struct Anchors {
    nodes: std::collections::HashMap<usize, (Node, usize)>,
    expanded: usize,
}

impl Anchors {
    fn define(&mut self, id: usize, node: &Node) {
        if id != 0 {
            self.nodes.insert(id, (node.clone(), size(node)));
        }
    }

    /// The anchored node, placed at the alias, if the budget allows the copy.
    fn resolve(&mut self, id: usize, pos: Pos) -> Node {
        match self.nodes.get(&id) {
            Some((node, n)) if self.expanded + n <= MAX_EXPANDED_NODES => {
                self.expanded += n;
                Node {
                    pos,
                    kind: node.kind.clone(),
                }
            }
            _ => Node::new(pos, Kind::Alias),
        }
    }
}

/// Nodes in a tree, counted without recursion.
fn size(node: &Node) -> usize {
    let mut count = 0;
    let mut stack = vec![node];
    while let Some(n) = stack.pop() {
        count += 1;
        match &n.kind {
            Kind::Map(entries) => stack.extend(entries.iter().map(|e| &e.value)),
            Kind::Seq(items) => stack.extend(items.iter()),
            Kind::Scalar(_) | Kind::Alias => {}
        }
    }
    count
}

/// A mapping's merge keys applied, as YAML 1.1 and helm apply them: `<<: *m` or
/// `<<: [*a, *b]` adds each merged mapping's keys the mapping does not set itself (the
/// first merged mapping wins over later ones); the `<<` entries go.
fn merge_keys(entries: Vec<Entry>) -> Vec<Entry> {
    if !entries.iter().any(|e| e.key == "<<") {
        return entries;
    }
    let (merges, mut own): (Vec<Entry>, Vec<Entry>) =
        entries.into_iter().partition(|e| e.key == "<<");
    let mut added = Vec::new();
    for m in merges {
        let sources = match m.value.kind {
            Kind::Map(_) => vec![m.value],
            Kind::Seq(items) => items,
            // Not a mapping (an unresolved alias, a scalar): kept as written.
            _ => {
                own.push(Entry {
                    value: m.value,
                    ..m
                });
                continue;
            }
        };
        for src in sources {
            if let Kind::Map(src_entries) = src.kind {
                for e in src_entries {
                    let taken = own
                        .iter()
                        .chain(added.iter())
                        .any(|o: &Entry| o.key == e.key);
                    if !taken {
                        added.push(e);
                    }
                }
            }
        }
    }
    own.extend(added);
    own
}

fn build(text: &str, shift: Shift) -> Result<Vec<Node>, YamlError> {
    let mut docs = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors = Anchors::default();
    for ev in Parser::new_from_str(text) {
        let (event, span) = ev.map_err(|e| scan_error(&e, shift))?;
        let pos = shift.pos(span.start.line(), span.start.col());
        let node = match event {
            Event::Scalar(value, style, anchor, _) => {
                let block = (style == ScalarStyle::Literal)
                    .then(|| shift.pos(span.start.line(), span.indent.unwrap_or(span.start.col())));
                let node = Node::new(
                    pos,
                    Kind::Scalar(Scalar {
                        text: value.into_owned(),
                        plain: style == ScalarStyle::Plain,
                        block,
                    }),
                );
                anchors.define(anchor, &node);
                node
            }
            Event::Alias(id) => anchors.resolve(id, pos),
            Event::SequenceStart(_, anchor, _) => {
                stack.push(Frame::Seq {
                    pos,
                    anchor,
                    items: Vec::new(),
                });
                continue;
            }
            Event::MappingStart(_, anchor, _) => {
                stack.push(Frame::Map {
                    pos,
                    anchor,
                    entries: Vec::new(),
                    key: None,
                });
                continue;
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (node, anchor) = match stack.pop() {
                    Some(Frame::Seq { pos, anchor, items }) => {
                        (Node::new(pos, Kind::Seq(items)), anchor)
                    }
                    Some(Frame::Map {
                        pos,
                        anchor,
                        entries,
                        ..
                    }) => (Node::new(pos, Kind::Map(merge_keys(entries))), anchor),
                    None => continue,
                };
                anchors.define(anchor, &node);
                node
            }
            _ => continue,
        };
        match stack.last_mut() {
            None => docs.push(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, key, .. }) => match key.take() {
                None => {
                    let text = match &node.kind {
                        Kind::Scalar(s) => s.text.clone(),
                        _ => "?".to_string(),
                    };
                    *key = Some((text, node.pos));
                }
                Some((k, key_pos)) => entries.push(Entry {
                    key: k,
                    key_pos,
                    value: node,
                }),
            },
        }
    }
    Ok(docs)
}

fn scan_error(e: &ScanError, shift: Shift) -> YamlError {
    let m = e.marker();
    let info = e.info();
    YamlError {
        message: if info.is_empty() {
            "invalid YAML".to_string()
        } else {
            info
        },
        pos: shift.pos(m.line().max(1), m.col()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Node {
        let mut docs = parse(text).unwrap();
        assert_eq!(docs.len(), 1);
        docs.remove(0)
    }

    #[test]
    fn keys_and_values_know_their_positions() {
        let n = one("a:\n  b: 1\n  list:\n    - x\n    - k: v\nempty:\nq: \"null\"\n");
        let a = n.entry("a").unwrap();
        assert_eq!(a.key_pos, Pos { line: 1, column: 1 });
        let b = n.at(&["a", "b"]).unwrap();
        assert_eq!((b.str(), b.pos), (Some("1"), Pos { line: 2, column: 6 }));
        let list = n.at(&["a", "list"]).unwrap();
        assert_eq!(list.items().len(), 2);
        let k = list.items()[1].entry("k").unwrap();
        assert_eq!(k.key_pos, Pos { line: 5, column: 7 });
        assert!(n.get("empty").unwrap().is_null());
        assert_eq!(n.get("q").unwrap().str(), Some("null"));
        assert!(n.get("missing").is_none());
    }

    #[test]
    fn booleans_the_helm_way() {
        let n = one("a: true\nb: no\nc: \"false\"\nd: 0\n");
        assert_eq!(n.get("a").unwrap().bool(), Some(true));
        assert_eq!(n.get("b").unwrap().bool(), Some(false));
        assert_eq!(n.get("c").unwrap().bool(), None);
        assert_eq!(n.get("d").unwrap().bool(), None);
    }

    #[test]
    fn empty_and_multi_document_streams() {
        assert!(parse("").unwrap().is_empty());
        assert!(parse("# only a comment\n").unwrap().is_empty());
        let docs = parse("a: 1\n---\nb: 2\n").unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1].entry("b").unwrap().key_pos.line, 3);
    }

    #[test]
    fn errors_carry_the_parsers_position() {
        let e = parse("a: b: c\n").unwrap_err();
        assert_eq!(e.pos, Pos { line: 1, column: 5 });
        assert!(
            e.message.contains("mapping values are not allowed"),
            "{}",
            e.message
        );
        let e = parse("a:\n  - x\n  y: 1\n").unwrap_err();
        assert_eq!(e.pos.line, 3);
    }

    #[test]
    fn embedded_block_documents_map_to_the_outer_file() {
        let n = one(
            "spec:\n  config: |\n    receivers:\n      otlp: {}\n    exporters:\n      prw:\n        endpoint: x\n",
        );
        let cfg = n.at(&["spec", "config"]).unwrap();
        let inner = embedded(cfg).unwrap().unwrap();
        let ep = inner[0].entry("exporters").unwrap();
        assert_eq!(ep.key_pos, Pos { line: 5, column: 5 });
        let e = inner[0]
            .at(&["exporters", "prw"])
            .unwrap()
            .entry("endpoint")
            .unwrap();
        assert_eq!(e.key_pos, Pos { line: 7, column: 9 });
        // Quoted: every position is the scalar's own.
        let q = one("config: \"a:\\n  b: 1\\n\"\n");
        let inner = embedded(q.get("config").unwrap()).unwrap().unwrap();
        assert_eq!(
            inner[0].entry("a").unwrap().key_pos,
            Pos { line: 1, column: 9 }
        );
        // A broken embedded document reports a position in the outer file.
        let bad = one("config: |\n  a: 1\n  b: c: d\n");
        let err = embedded(bad.get("config").unwrap()).unwrap().unwrap_err();
        assert_eq!(err.pos.line, 3);
    }

    #[test]
    fn aliases_resolve_to_the_anchored_node_at_the_aliass_place() {
        let n = one(
            "rw: &rw https://aps/api/v1/remote_write\nserver:\n  url: *rw\nl: &l [1, 2]\nm: *l\n",
        );
        let url = n.get("server").unwrap().get("url").unwrap();
        assert_eq!(url.str(), Some("https://aps/api/v1/remote_write"));
        assert_eq!(url.pos.line, 3);
        assert_eq!(n.get("m").unwrap().items().len(), 2);
        // An unknown anchor stays opaque.
        let n = one("a: 1\n");
        assert!(matches!(n.get("a").unwrap().kind, Kind::Scalar(_)));
    }

    #[test]
    fn merge_keys_add_what_the_map_does_not_set() {
        let n = one(
            "base: &base {region: us-east-1, url: a}\nother: &o {url: b, extra: 1}\nrw:\n  <<: [*base, *o]\n  url: mine\n",
        );
        let rw = n.get("rw").unwrap();
        assert_eq!(rw.get("url").unwrap().str(), Some("mine"));
        assert_eq!(rw.get("region").unwrap().str(), Some("us-east-1"));
        assert_eq!(rw.get("extra").unwrap().str(), Some("1"));
        assert!(rw.get("<<").is_none());
        // The merged key keeps the position where it was written (the anchor's line).
        assert_eq!(rw.entry("region").unwrap().key_pos.line, 1);
    }

    #[test]
    fn an_alias_bomb_stops_at_the_budget() {
        // Nine levels of ten aliases each: 10^9 nodes if expanded in full.
        let mut text = String::from("l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let p = i - 1;
            text.push_str(&format!(
                "l{i}: &l{i} [*l{p}, *l{p}, *l{p}, *l{p}, *l{p}, *l{p}, *l{p}, *l{p}, *l{p}, *l{p}]\n"
            ));
        }
        let n = one(&text);
        assert!(size(&n) <= 2 * MAX_EXPANDED_NODES, "{}", size(&n));
        assert!(matches!(n.get("l9").unwrap().items()[9].kind, Kind::Alias));
    }

    #[test]
    fn walk_visits_every_value_with_its_path() {
        let n = one("a:\n  b: [x, {c: y}]\n\"k.e/y\": z\n");
        let mut seen = Vec::new();
        n.walk("", &mut |p, _, v| {
            if let Some(s) = v.str() {
                seen.push(format!("{p}={s}"));
            }
        });
        assert_eq!(seen, ["a.b[0]=x", "a.b[1].c=y", "\"k.e/y\"=z"]);
    }

    #[test]
    fn large_lists_build_in_linear_time() {
        let mut text = String::from("items:\n");
        for i in 0..50_000 {
            text.push_str(&format!("  - name: item-{i}\n"));
        }
        let n = one(&text);
        assert_eq!(n.get("items").unwrap().items().len(), 50_000);
    }

    #[test]
    fn duplicate_keys_are_found_with_both_positions() {
        let n = one("a: 1\nb:\n  c: 1\n  c: 2\na: 3\nl:\n  - {x: 1, x: 2}\n");
        let d = duplicates(&n, "");
        let got: Vec<(&str, usize, usize)> = d
            .iter()
            .map(|d| (d.path.as_str(), d.first.line, d.second.line))
            .collect();
        assert_eq!(got, [("b.c", 3, 4), ("a", 1, 5), ("l[0].x", 7, 7)]);
        assert!(duplicates(&one("a: 1\nb: {a: 2}\n"), "").is_empty());
        assert_eq!(
            duplicates(&one("k: {y: 1, y: 2}\n"), "spec.config")[0].path,
            "spec.config.k.y"
        );
    }
}
