//! Metric names a dashboard queries and the names AMP holds (F34). The OpenTelemetry
//! collector's Prometheus translation adds suffixes when it writes: a unit (`_seconds`,
//! `_bytes`, …) and `_total` on counters (ADOT 0.35 and later, by default), so a panel
//! written for `http_requests` finds only `http_requests_total` in AMP; a collector with
//! the suffixes turned off does the reverse. [The option that turns them off,
//! `add_metric_suffixes`, is not in aws-wire.md: unconfirmed, from the exporter's docs.]

use std::collections::BTreeSet;

use promql_parser::label::MatchOp;
use promql_parser::parser::Expr;
use promql_parser::util::{ExprVisitor, walk_expr};

/// The metric names a PromQL expression selects, in order of appearance, each once:
/// `foo{…}`, `foo[5m]` and `{__name__="foo"}`. A selector without a fixed name
/// (`{__name__=~"a.*"}`) names none.
pub fn metric_names(expr: &str) -> Result<Vec<String>, String> {
    struct Names(Vec<String>);
    impl ExprVisitor for Names {
        type Error = std::convert::Infallible;
        fn pre_visit(&mut self, e: &Expr) -> Result<bool, Self::Error> {
            let vs = match e {
                Expr::VectorSelector(vs) => vs,
                Expr::MatrixSelector(ms) => &ms.vs,
                _ => return Ok(true),
            };
            let by_matcher = vs
                .matchers
                .matchers
                .iter()
                .find(|m| m.name == "__name__" && m.op == MatchOp::Equal)
                .map(|m| m.value.clone());
            if let Some(n) = vs.name.clone().or(by_matcher)
                && !self.0.contains(&n)
            {
                self.0.push(n);
            }
            Ok(true)
        }
    }
    let ast = pipecheck_promql::parse(expr).map_err(|e| e.to_string())?;
    let mut names = Names(Vec::new());
    let Ok(_) = walk_expr(&mut names, &ast);
    Ok(names.0)
}

/// Unit suffixes the translation appends (the OpenTelemetry units of time, size and the
/// like, spelled out as Prometheus does).
const UNITS: &[&str] = &[
    "seconds",
    "milliseconds",
    "microseconds",
    "nanoseconds",
    "minutes",
    "hours",
    "days",
    "bytes",
    "kilobytes",
    "megabytes",
    "gigabytes",
    "kibibytes",
    "mebibytes",
    "gibibytes",
    "bits",
    "meters",
    "volts",
    "amperes",
    "joules",
    "watts",
    "grams",
    "celsius",
    "hertz",
    "ratio",
    "percent",
];

/// The series of a classic histogram or summary: kept as the name's last part.
const PARTS: &[&str] = &["_bucket", "_count", "_sum"];

/// A name without what the translation may add: (stem, histogram part).
/// `http_request_duration_seconds_bucket` → (`http_request_duration`, `_bucket`).
fn stem(name: &str) -> (&str, &str) {
    let (base, part) = PARTS
        .iter()
        .find_map(|p| name.strip_suffix(p).map(|b| (b, *p)))
        .unwrap_or((name, ""));
    let base = base.strip_suffix("_total").unwrap_or(base);
    let base = UNITS
        .iter()
        .find_map(|u| base.strip_suffix(&format!("_{u}")[..]))
        .unwrap_or(base);
    (base, part)
}

/// A name as AMP holds it after the collector renamed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Renamed {
    pub name: String,
    /// What differs, in words: "_total added", "_bytes removed".
    pub change: String,
}

/// The name AMP holds for `missing`, when the collector renamed it: the same stem and
/// histogram part, with `_total` and/or a unit suffix added or removed. The rule: strip
/// a trailing `_bucket`/`_count`/`_sum`, then `_total`, then one unit from [`UNITS`], from
/// both names; equal stems and parts match. With several matches, the shortest wins.
pub fn renamed_in(missing: &str, present: &BTreeSet<String>) -> Option<Renamed> {
    let want = stem(missing);
    let found = present
        .iter()
        .filter(|n| n.as_str() != missing && stem(n) == want)
        .min_by_key(|n| (n.len(), n.as_str()))?;
    Some(Renamed {
        name: found.clone(),
        change: difference(missing, found),
    })
}

/// What separates two names of one stem, in words: "`_total` added", "`_seconds` removed".
fn difference(from: &str, to: &str) -> String {
    let parts = |n: &str| {
        let (stem, part) = stem(n);
        let rest = &n[stem.len()..n.len() - part.len()];
        rest.split('_')
            .filter(|s| !s.is_empty())
            .map(|s| format!("_{s}"))
            .collect::<Vec<_>>()
    };
    let (a, b) = (parts(from), parts(to));
    let added: Vec<String> = b.iter().filter(|s| !a.contains(s)).cloned().collect();
    let removed: Vec<String> = a.iter().filter(|s| !b.contains(s)).cloned().collect();
    let mut out = Vec::new();
    if !added.is_empty() {
        out.push(format!("{} added", added.join(" and ")));
    }
    if !removed.is_empty() {
        out.push(format!("{} removed", removed.join(" and ")));
    }
    out.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn renamed(name: &str, change: &str) -> Option<Renamed> {
        Some(Renamed {
            name: name.into(),
            change: change.into(),
        })
    }

    #[test]
    fn names_come_from_every_selector_of_a_query() {
        let q = r#"histogram_quantile(0.5, sum by (le) (rate(request_duration_bucket{job="a"}[5m]))) / on() group_left sum(http_requests{code="200"}) + {__name__="up"} + count({__name__=~"node_.*"}) + http_requests"#;
        assert_eq!(
            metric_names(q).unwrap(),
            ["request_duration_bucket", "http_requests", "up"]
        );
        assert_eq!(metric_names("1 + 2").unwrap(), Vec::<String>::new());
        assert!(metric_names("sum(").is_err());
    }

    /// A hostile panel (a run read one and aborted with a stack overflow, or parsed a
    /// megabyte for minutes): refused at once, on a stack smaller than a runtime worker's.
    #[test]
    fn a_hostile_panel_expression_is_an_error_not_an_abort() {
        let hostile = [
            format!("{}up", "-".repeat(5000)),
            vec!["up"; 5000].join("+"),
            format!("{}up{}", "abs(".repeat(3000), ")".repeat(3000)),
            format!("up{{a=\"{}\"}}", "x".repeat(1 << 20)),
        ];
        let answers = std::thread::Builder::new()
            .stack_size(256 << 10)
            .spawn(move || hostile.iter().map(|e| metric_names(e)).collect::<Vec<_>>())
            .unwrap()
            .join()
            .expect("no stack overflow");
        for a in answers {
            assert!(a.unwrap_err().contains("at most"));
        }
    }

    #[test]
    fn renamed_series_are_found_by_their_stem() {
        let amp = set(&[
            "http_requests_total",
            "request_duration_seconds_bucket",
            "request_duration_seconds_count",
            "queue_size",
            "up",
        ]);
        assert_eq!(
            renamed_in("http_requests", &amp),
            renamed("http_requests_total", "_total added")
        );
        assert_eq!(
            renamed_in("request_duration_bucket", &amp),
            renamed("request_duration_seconds_bucket", "_seconds added")
        );
        // The reverse: a dashboard written for suffixed names, a collector without them.
        assert_eq!(
            renamed_in("queue_size_bytes", &amp),
            renamed("queue_size", "_bytes removed")
        );
        // The histogram part must match; unrelated names are not suggested.
        assert_eq!(renamed_in("request_duration_sum", &amp), None);
        assert_eq!(renamed_in("http_errors", &amp), None);
        assert_eq!(renamed_in("up", &amp), None);
    }
}
