//! `labelSelector` and `fieldSelector` of list requests.
//!
//! Label selectors: `k`, `!k`, `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`,
//! comma-separated (all must hold). Field selectors: `path=v`, `path==v`, `path!=v` on any
//! dotted path of the object (`metadata.name`, `status.phase`, `involvedObject.uid`); the
//! real apiserver allows only some fields per type, the mock allows every path and reads a
//! missing one as `""`.

use serde_json::Value;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Op {
    Exists,
    NotExists,
    Eq(String),
    NotEq(String),
    In(Vec<String>),
    NotIn(Vec<String>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Requirement {
    key: String,
    op: Op,
}

/// A parsed selector; empty matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selector {
    reqs: Vec<Requirement>,
}

/// Splits on commas outside parentheses.
fn split_top(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

fn set_values(s: &str) -> Option<Vec<String>> {
    let inner = s.trim().strip_prefix('(')?.strip_suffix(')')?;
    Some(
        inner
            .split(',')
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect(),
    )
}

fn valid_key(k: &str) -> bool {
    !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
}

impl Selector {
    /// Parses a label selector. The error is the apiserver's message text.
    pub fn labels(s: &str) -> Result<Self, String> {
        let mut reqs = Vec::new();
        for part in split_top(s) {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            let req = if let Some(k) = part.strip_prefix('!') {
                Requirement {
                    key: k.trim().to_string(),
                    op: Op::NotExists,
                }
            } else if let Some((k, v)) = part.split_once("!=") {
                Requirement {
                    key: k.trim().to_string(),
                    op: Op::NotEq(v.trim().to_string()),
                }
            } else if let Some((k, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
                Requirement {
                    key: k.trim().to_string(),
                    op: Op::Eq(v.trim().to_string()),
                }
            } else if let Some((k, rest)) = part.split_once(" notin ") {
                let vals = set_values(rest).ok_or_else(|| bad(part))?;
                Requirement {
                    key: k.trim().to_string(),
                    op: Op::NotIn(vals),
                }
            } else if let Some((k, rest)) = part.split_once(" in ") {
                let vals = set_values(rest).ok_or_else(|| bad(part))?;
                Requirement {
                    key: k.trim().to_string(),
                    op: Op::In(vals),
                }
            } else {
                Requirement {
                    key: part.to_string(),
                    op: Op::Exists,
                }
            };
            if !valid_key(&req.key) {
                return Err(bad(part));
            }
            reqs.push(req);
        }
        Ok(Self { reqs })
    }

    /// Parses a field selector (`=`, `==`, `!=` only, as the apiserver).
    pub fn fields(s: &str) -> Result<Self, String> {
        let mut reqs = Vec::new();
        for part in s.split(',') {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            let req = if let Some((k, v)) = part.split_once("!=") {
                Requirement {
                    key: k.trim().to_string(),
                    op: Op::NotEq(v.trim().to_string()),
                }
            } else if let Some((k, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
                Requirement {
                    key: k.trim().to_string(),
                    op: Op::Eq(v.trim().to_string()),
                }
            } else {
                // The apiserver's text for a field selector term without an operator.
                return Err(format!(
                    "invalid selector: '{s}'; can't understand '{part}'"
                ));
            };
            reqs.push(req);
        }
        Ok(Self { reqs })
    }

    /// Whether an object's labels match.
    pub fn matches_labels(&self, obj: &Value) -> bool {
        let labels = obj.pointer("/metadata/labels");
        let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        self.reqs.iter().all(|r| {
            let v = get(&r.key);
            match &r.op {
                Op::Exists => v.is_some(),
                Op::NotExists => v.is_none(),
                Op::Eq(x) => v == Some(x.as_str()),
                Op::NotEq(x) => v != Some(x.as_str()),
                Op::In(xs) => v.is_some_and(|v| xs.iter().any(|x| x == v)),
                Op::NotIn(xs) => v.is_none_or(|v| !xs.iter().any(|x| x == v)),
            }
        })
    }

    /// Whether an object's fields match.
    pub fn matches_fields(&self, obj: &Value) -> bool {
        self.reqs.iter().all(|r| {
            let v = field(obj, &r.key);
            match &r.op {
                Op::Eq(x) => v == *x,
                Op::NotEq(x) => v != *x,
                _ => true,
            }
        })
    }
}

fn bad(part: &str) -> String {
    format!("unable to parse requirement: found '{part}', expected: identifier")
}

/// A dotted path's value as text (strings bare, other scalars as JSON, missing as `""`).
fn field(obj: &Value, path: &str) -> String {
    let mut cur = obj;
    for seg in path.split('.') {
        match cur.get(seg) {
            Some(v) => cur = v,
            None => return String::new(),
        }
    }
    match cur {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod() -> Value {
        json!({
            "metadata": { "name": "p", "namespace": "n", "labels": { "app": "a", "tier": "x" } },
            "status": { "phase": "Running" },
            "spec": { "hostNetwork": false }
        })
    }

    #[test]
    fn label_operators() {
        let p = pod();
        for (sel, want) in [
            ("app=a", true),
            ("app==a", true),
            ("app!=a", false),
            ("app", true),
            ("!app", false),
            ("missing!=z", true),
            ("app in (b, a)", true),
            ("app notin (a)", false),
            ("app=a,tier in (x,y)", true),
            ("app=a,tier=y", false),
            ("", true),
        ] {
            assert_eq!(
                Selector::labels(sel).unwrap().matches_labels(&p),
                want,
                "{sel}"
            );
        }
        assert!(Selector::labels("app in a").is_err());
    }

    #[test]
    fn field_paths() {
        let p = pod();
        for (sel, want) in [
            ("metadata.name=p", true),
            ("metadata.namespace==n,status.phase=Running", true),
            ("status.phase!=Running", false),
            ("spec.hostNetwork=false", true),
            ("spec.nodeName=", true),
        ] {
            assert_eq!(
                Selector::fields(sel).unwrap().matches_fields(&p),
                want,
                "{sel}"
            );
        }
        assert!(Selector::fields("metadata.name").is_err());
    }
}
