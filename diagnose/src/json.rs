//! JSON with positions: serde_json parses (and reports syntax errors with its line and
//! column); a small scan of the already valid text then records where each value's key
//! (or, in an array, the value itself) starts, by key path in the format of
//! [`pipecheck_policy::path`]. One pass, linear in the text.

use std::collections::HashMap;

use pipecheck_policy::path;
use serde_json::Value;

use super::yaml::{Entry, Kind, Node, Pos, Scalar};

/// A parsed JSON file and where its elements are.
#[derive(Debug)]
pub(crate) struct JsonDoc {
    pub value: Value,
    positions: HashMap<String, Pos>,
}

/// A syntax error: serde_json's message (without its position suffix) and position.
#[derive(Debug)]
pub(crate) struct JsonError {
    pub message: String,
    pub pos: Pos,
}

impl JsonDoc {
    pub fn parse(text: &str) -> Result<JsonDoc, JsonError> {
        let value: Value = serde_json::from_str(text).map_err(|e| {
            let full = e.to_string();
            let suffix = format!(" at line {} column {}", e.line(), e.column());
            JsonError {
                message: full.strip_suffix(&suffix).unwrap_or(&full).to_string(),
                pos: Pos {
                    line: e.line(),
                    column: e.column(),
                },
            }
        })?;
        let mut positions = HashMap::new();
        Scanner::new(text).value("", None, &mut positions);
        Ok(JsonDoc { value, positions })
    }

    /// The document as a [`Node`] tree, so checks that take JSON or YAML (a Grafana data
    /// source) are written once. Strings are quoted scalars and every other value a plain
    /// one (`true` reads as a boolean, `"true"` does not); an object member's position is
    /// its key's.
    pub fn to_node(&self) -> Node {
        self.node(&self.value, "")
    }

    fn node(&self, v: &Value, p: &str) -> Node {
        // Nesting is capped by serde_json (128 levels), so recursion is safe here.
        let scalar = |text: String, plain: bool| {
            Kind::Scalar(Scalar {
                text,
                plain,
                block: None,
            })
        };
        let kind = match v {
            Value::Null => scalar("null".into(), true),
            Value::Bool(b) => scalar(b.to_string(), true),
            Value::Number(n) => scalar(n.to_string(), true),
            Value::String(s) => scalar(s.clone(), false),
            Value::Array(items) => Kind::Seq(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| self.node(item, &path::index(p, i)))
                    .collect(),
            ),
            Value::Object(map) => Kind::Map(
                map.iter()
                    .map(|(k, item)| {
                        let value = self.node(item, &path::key(p, k));
                        Entry {
                            key: k.clone(),
                            key_pos: value.pos,
                            value,
                        }
                    })
                    .collect(),
            ),
        };
        Node {
            pos: self.pos(p),
            kind,
        }
    }

    /// Where the element at `p` is written; for a path the document does not hold (an
    /// error about a missing element), the nearest enclosing element that it does.
    pub fn pos(&self, p: &str) -> Pos {
        let mut cur = p;
        loop {
            if let Some(pos) = self.positions.get(cur) {
                return *pos;
            }
            match parent(cur) {
                Some(up) => cur = up,
                None => return Pos { line: 1, column: 1 },
            }
        }
    }
}

/// The path one level up: strips a trailing `[i]`, `."quoted key"` or `.key`.
pub(crate) fn parent(p: &str) -> Option<&str> {
    if p.is_empty() {
        return None;
    }
    if p.ends_with(']')
        && let Some(i) = p.rfind('[')
    {
        return Some(&p[..i]);
    }
    if p.ends_with('"') {
        // Find the opening quote: a `"` not escaped by an odd run of backslashes.
        let b = p.as_bytes();
        let mut i = b.len() - 1;
        while i > 0 {
            i -= 1;
            if b[i] == b'"' {
                let mut slashes = 0;
                while i > slashes && b[i - 1 - slashes] == b'\\' {
                    slashes += 1;
                }
                if slashes % 2 == 0 {
                    return Some(p[..i].strip_suffix('.').unwrap_or(&p[..i]));
                }
            }
        }
        return Some("");
    }
    Some(match p.rfind('.') {
        Some(i) => &p[..i],
        None => "",
    })
}

struct Scanner<'a> {
    text: &'a str,
    b: &'a [u8],
    i: usize,
    line: usize,
    col: usize,
}

impl<'a> Scanner<'a> {
    fn new(text: &'a str) -> Self {
        Scanner {
            text,
            b: text.as_bytes(),
            i: 0,
            line: 1,
            col: 1,
        }
    }

    fn pos(&self) -> Pos {
        Pos {
            line: self.line,
            column: self.col,
        }
    }

    fn bump(&mut self) {
        if let Some(&c) = self.b.get(self.i) {
            if c == b'\n' {
                self.line += 1;
                self.col = 1;
            } else if c & 0xC0 != 0x80 {
                // Columns count characters: UTF-8 continuation bytes do not advance.
                self.col += 1;
            }
            self.i += 1;
        }
    }

    fn ws(&mut self) {
        while matches!(self.b.get(self.i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.bump();
        }
    }

    /// Records `at` (or the value's own position) under `p`, then descends. The text is
    /// valid JSON (serde_json accepted it), whose nesting serde_json caps at 128, so the
    /// recursion is bounded.
    fn value(&mut self, p: &str, at: Option<Pos>, out: &mut HashMap<String, Pos>) {
        self.ws();
        out.insert(p.to_string(), at.unwrap_or(self.pos()));
        match self.b.get(self.i) {
            Some(b'{') => {
                self.bump();
                loop {
                    self.ws();
                    match self.b.get(self.i) {
                        Some(b'}') => {
                            self.bump();
                            break;
                        }
                        Some(b',') => {
                            self.bump();
                        }
                        Some(b'"') => {
                            let key_pos = self.pos();
                            let key = self.string();
                            self.ws();
                            if self.b.get(self.i) == Some(&b':') {
                                self.bump();
                            }
                            self.value(&path::key(p, &key), Some(key_pos), out);
                        }
                        _ => break,
                    }
                }
            }
            Some(b'[') => {
                self.bump();
                let mut n = 0;
                loop {
                    self.ws();
                    match self.b.get(self.i) {
                        Some(b']') => {
                            self.bump();
                            break;
                        }
                        Some(b',') => {
                            self.bump();
                        }
                        Some(_) => {
                            self.value(&path::index(p, n), None, out);
                            n += 1;
                        }
                        None => break,
                    }
                }
            }
            Some(b'"') => {
                self.string();
            }
            Some(_) => {
                while let Some(c) = self.b.get(self.i) {
                    if matches!(c, b',' | b']' | b'}' | b' ' | b'\t' | b'\n' | b'\r') {
                        break;
                    }
                    self.bump();
                }
            }
            None => {}
        }
    }

    /// Reads a string token and returns its decoded text.
    fn string(&mut self) -> String {
        let start = self.i;
        self.bump(); // opening quote
        while let Some(&c) = self.b.get(self.i) {
            if c == b'\\' {
                self.bump();
                self.bump();
            } else if c == b'"' {
                self.bump();
                break;
            } else {
                self.bump();
            }
        }
        serde_json::from_str::<String>(&self.text[start..self.i]).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_items_have_positions() {
        let text = "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [\n    {\n      \"Effect\": \"Allow\",\n      \"Condition\": {\"StringEquals\": {\"o/id/X:sub\": \"s\"}}\n    }\n  ]\n}\n";
        let d = JsonDoc::parse(text).unwrap();
        assert_eq!(d.pos("Version"), Pos { line: 2, column: 3 });
        assert_eq!(d.pos("Statement[0]"), Pos { line: 4, column: 5 });
        assert_eq!(d.pos("Statement[0].Effect"), Pos { line: 5, column: 7 });
        assert_eq!(
            d.pos(r#"Statement[0].Condition.StringEquals."o/id/X:sub""#),
            Pos {
                line: 6,
                column: 38
            }
        );
        // Missing elements fall back to the nearest enclosing one.
        assert_eq!(d.pos("Statement[0].Action"), Pos { line: 4, column: 5 });
        assert_eq!(d.pos("Nope"), Pos { line: 1, column: 1 });
    }

    #[test]
    fn escaped_and_unicode_keys() {
        let text = "{\"a\\\"b\": 1, \"é\": {\"x\": [true, null, 2.5]}}";
        let d = JsonDoc::parse(text).unwrap();
        assert_eq!(d.pos(r#""a\"b""#), Pos { line: 1, column: 2 });
        assert_eq!(
            d.pos(r#""é".x[2]"#),
            Pos {
                line: 1,
                column: 37
            }
        );
    }

    #[test]
    fn syntax_errors_keep_serde_jsons_position() {
        let e = JsonDoc::parse("{\n  \"a\": 1,\n}").unwrap_err();
        assert_eq!(e.pos, Pos { line: 3, column: 1 });
        assert_eq!(e.message, "trailing comma");
        let e = JsonDoc::parse("").unwrap_err();
        assert_eq!(e.pos.line, 1);
        assert_eq!(e.message, "EOF while parsing a value");
    }

    #[test]
    fn as_a_node_tree_with_positions() {
        let d =
            JsonDoc::parse("{\n  \"a\": {\"b\": true, \"c\": \"true\"},\n  \"l\": [1, null]\n}")
                .unwrap();
        let n = d.to_node();
        let b = n.at(&["a", "b"]).unwrap();
        assert_eq!((b.bool(), b.pos), (Some(true), Pos { line: 2, column: 9 }));
        let c = n.at(&["a", "c"]).unwrap();
        assert_eq!((c.bool(), c.str()), (None, Some("true")));
        let l = n.get("l").unwrap();
        assert_eq!(l.items()[0].pos, Pos { line: 3, column: 9 });
        assert!(l.items()[1].is_null());
        assert_eq!(n.entry("l").unwrap().key_pos, Pos { line: 3, column: 3 });
    }

    #[test]
    fn parents() {
        assert_eq!(parent("a.b[2]"), Some("a.b"));
        assert_eq!(parent("a.b"), Some("a"));
        assert_eq!(parent("a"), Some(""));
        assert_eq!(parent(r#"a."x.y:z""#), Some("a"));
        assert_eq!(parent(r#"a."q\"b""#), Some("a"));
        assert_eq!(parent(r#""k""#), Some(""));
        assert_eq!(parent(""), None);
    }
}
