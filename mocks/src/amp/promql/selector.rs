//! Label matchers of a vector selector, compiled the way Prometheus compiles them.

use promql_parser::label::{MatchOp, Matcher};
use promql_parser::parser::{Expr, VectorSelector};
use regex::Regex;

use super::types::{EvalError, unsupported};
use crate::amp::store::Labels;

pub(super) const METRIC_NAME: &str = "__name__";

#[derive(Debug, Clone)]
enum Kind {
    Equal(String),
    NotEqual(String),
    Re(Regex),
    NotRe(Regex),
}

#[derive(Debug, Clone)]
struct LabelMatcher {
    name: String,
    kind: Kind,
}

impl LabelMatcher {
    fn new(m: &Matcher) -> Self {
        let kind = match &m.op {
            MatchOp::Equal => Kind::Equal(m.value.clone()),
            MatchOp::NotEqual => Kind::NotEqual(m.value.clone()),
            MatchOp::Re(parsed) => Kind::Re(compile(&m.value, parsed)),
            MatchOp::NotRe(parsed) => Kind::NotRe(compile(&m.value, parsed)),
        };
        Self {
            name: m.name.clone(),
            kind,
        }
    }

    fn matches(&self, value: &str) -> bool {
        match &self.kind {
            Kind::Equal(v) => v == value,
            Kind::NotEqual(v) => v != value,
            Kind::Re(r) => r.is_match(value),
            Kind::NotRe(r) => !r.is_match(value),
        }
    }
}

/// Prometheus anchors matcher regexes as `^(?s:…)$` (`.` matches a newline too);
/// promql-parser uses `^(?:…)$` and escapes Go-only `{` forms. Prefer Prometheus' form and
/// fall back to the parser's compiled regex when Rust rejects the pattern as written.
fn compile(pattern: &str, parsed: &Regex) -> Regex {
    Regex::new(&format!("^(?s:{pattern})$")).unwrap_or_else(|_| parsed.clone())
}

/// A parsed series selector (`name{label=~"…"}`): the metric name as an index hint and the
/// full matcher test. Also used for the `match[]` parameter of the metadata endpoints.
#[derive(Debug, Clone)]
pub struct Selector {
    name: Option<String>,
    matchers: Vec<LabelMatcher>,
}

impl Selector {
    /// Parses a `match[]` series selector. Errors carry Prometheus' API wording
    /// (`invalid parameter "match[]": …`).
    pub fn parse(input: &str) -> Result<Self, EvalError> {
        let bad = |msg: String| EvalError::BadData(format!("invalid parameter \"match[]\": {msg}"));
        let expr = pipecheck_promql::parse(input).map_err(|e| {
            let e = e.to_string();
            if e.contains("at least one non-empty matcher") {
                bad("match[] must contain at least one non-empty matcher".into())
            } else {
                bad(e)
            }
        })?;
        let Expr::VectorSelector(vs) = expr else {
            return Err(bad(format!("expected a series selector, got {input:?}")));
        };
        if vs.offset.is_some() || vs.at.is_some() {
            return Err(bad(format!("expected a series selector, got {input:?}")));
        }
        let sel = Self::from_vector_selector(&vs).map_err(|e| match e {
            EvalError::BadData(m) | EvalError::Execution(m) => bad(m),
        })?;
        if sel.name.is_none() && sel.matchers.iter().all(|m| m.matches("")) {
            return Err(bad(
                "match[] must contain at least one non-empty matcher".into()
            ));
        }
        Ok(sel)
    }

    pub(super) fn from_vector_selector(vs: &VectorSelector) -> Result<Self, EvalError> {
        if !vs.matchers.or_matchers.is_empty() {
            return Err(unsupported("\"or\" inside a label selector"));
        }
        Ok(Self {
            name: vs.name.clone(),
            matchers: vs.matchers.matchers.iter().map(LabelMatcher::new).collect(),
        })
    }

    /// The metric name when the selector pins it with an equality matcher.
    pub fn metric_name(&self) -> Option<&str> {
        self.name.as_deref().or_else(|| {
            self.matchers.iter().find_map(|m| match &m.kind {
                Kind::Equal(v) if m.name == METRIC_NAME => Some(v.as_str()),
                _ => None,
            })
        })
    }

    /// Whether a series with these labels is selected; a missing label matches as "".
    pub fn matches(&self, labels: &Labels) -> bool {
        if let Some(name) = &self.name
            && label_value(labels, METRIC_NAME) != name
        {
            return false;
        }
        self.matchers
            .iter()
            .all(|m| m.matches(label_value(labels, &m.name)))
    }
}

/// The value of a label, "" when absent (Prometheus has no empty-valued labels).
pub(super) fn label_value<'a>(labels: &'a Labels, name: &str) -> &'a str {
    labels
        .iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}
