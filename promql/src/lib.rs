//! PromQL from outside, parsed within bounds.
//!
//! `promql-parser` builds its tree with an explicit stack, but everything that walks the
//! tree afterwards (an evaluator, a visitor, `Drop`) recurses once per level, and parsing
//! a long chain of operators costs more than linear time. A query of 5,000 unary minuses,
//! a 5,000-term `up+up+…` or 3,000 nested `abs(` overflowed the stack of the process that
//! walked it; a megabyte of PromQL kept a parser busy for minutes. [`check`] bounds the
//! three things that make a tree deep or a parse slow, in one linear pass over the text and
//! before the parser runs: the length, the nesting of brackets (parentheses, function
//! calls, aggregations, selectors' braces, ranges and subqueries), and the number of
//! operators (a chain of `n` binary or unary operators is a tree `n` levels deep). A tree
//! that passes is at most `max_depth + max_operators` levels deep, whatever its shape.

use promql_parser::parser::Expr;

/// How much PromQL one expression may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of text.
    pub max_bytes: usize,
    /// Brackets open at once: `(`, `[` and `{`.
    pub max_depth: usize,
    /// Operators in the whole expression: arithmetic, comparison, set (`and`, `or`,
    /// `unless`), `atan2`, and the unary signs.
    pub max_operators: usize,
}

/// The bounds the mock AMP and the harness apply. Far above what dashboards and recording
/// rules write (a few levels, a few dozen operators), far below what overflows a stack.
pub const LIMITS: Limits = Limits {
    max_bytes: 64 * 1024,
    max_depth: 128,
    max_operators: 512,
};

/// Why an expression was refused before it was parsed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    #[error("the expression is {len} bytes long; at most {max} are accepted")]
    TooLong { len: usize, max: usize },
    #[error(
        "the expression nests {depth} brackets deep (parentheses, calls, braces, ranges); at most {max} are accepted"
    )]
    TooDeep { depth: usize, max: usize },
    #[error(
        "the expression has more than {max} operators, each nesting it a level deeper; at most {max} are accepted"
    )]
    TooManyOperators { max: usize },
}

/// Why an expression could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error(transparent)]
    Limit(#[from] LimitError),
    /// The parser's own message, as Prometheus words it.
    #[error("{0}")]
    Syntax(String),
}

/// Parses `expr` after [`check`] with [`LIMITS`].
pub fn parse(expr: &str) -> Result<Expr, ParseError> {
    check(expr, &LIMITS)?;
    promql_parser::parser::parse(expr).map_err(ParseError::Syntax)
}

/// One pass over the text: string literals and comments are skipped, brackets counted,
/// operators outside selectors' braces counted (a matcher's `=`, `!=`, `=~` and `!~` are
/// not operators). Stops at the first bound exceeded, so a huge input costs no more than
/// the bound.
pub fn check(expr: &str, limits: &Limits) -> Result<(), LimitError> {
    if expr.len() > limits.max_bytes {
        return Err(LimitError::TooLong {
            len: expr.len(),
            max: limits.max_bytes,
        });
    }
    let b = expr.as_bytes();
    let (mut depth, mut braces, mut operators) = (0usize, 0usize, 0usize);
    let mut count = |n: usize| -> Result<(), LimitError> {
        operators += n;
        if operators > limits.max_operators {
            return Err(LimitError::TooManyOperators {
                max: limits.max_operators,
            });
        }
        Ok(())
    };
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b'"' | b'\'' | b'`' => {
                i = skip_string(b, i);
                continue;
            }
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'(' | b'[' | b'{' => {
                depth += 1;
                braces += usize::from(c == b'{');
                if depth > limits.max_depth {
                    return Err(LimitError::TooDeep {
                        depth,
                        max: limits.max_depth,
                    });
                }
            }
            b')' | b']' | b'}' => {
                depth = depth.saturating_sub(1);
                if c == b'}' {
                    braces = braces.saturating_sub(1);
                }
            }
            _ if braces > 0 => {}
            b'+' | b'-' => {
                // The sign of an exponent (`1e-3`) is part of a number.
                let exponent = i >= 2
                    && matches!(b[i - 1], b'e' | b'E')
                    && (b[i - 2].is_ascii_digit() || b[i - 2] == b'.');
                if !exponent {
                    count(1)?;
                }
            }
            b'*' | b'/' | b'%' | b'^' => count(1)?,
            b'=' | b'!' | b'<' | b'>' => {
                // `==`, `!=`, `<=`, `>=` are one operator; `<` and `>` alone are one too.
                if b.get(i + 1) == Some(&b'=') {
                    i += 1;
                }
                count(1)?;
            }
            _ if c.is_ascii_alphabetic() || c == b'_' => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b':')
                {
                    i += 1;
                }
                let word = &expr[start..i];
                if ["and", "or", "unless", "atan2"]
                    .iter()
                    .any(|k| word.eq_ignore_ascii_case(k))
                {
                    count(1)?;
                }
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// The index just past the string literal that starts at `start` (or the end of the
/// text when it is not closed: the parser says so).
fn skip_string(b: &[u8], start: usize) -> usize {
    let quote = b[start];
    let mut i = start + 1;
    while i < b.len() {
        match b[i] {
            b'\\' if quote != b'`' => i += 2,
            c if c == quote => return i + 1,
            _ => i += 1,
        }
    }
    b.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deep(e: &str) -> Option<LimitError> {
        check(e, &LIMITS).err()
    }

    #[test]
    fn what_dashboards_write_passes() {
        for e in [
            "up",
            "sum by (job) (rate(http_requests_total{job=~\"api|web\", code!=\"500\"}[5m]))",
            "histogram_quantile(0.99, sum by (le) (rate(x_bucket[5m]))) > 0.5 and on() vector(1)",
            "-1e-3 * foo offset -5m",
            "max_over_time(deriv(rate(x[1m])[5m:1m])[10m:]) unless y",
            "a # a comment with ((( and + + +\n + b",
            r#"label_replace(up, "dst", "$1", "src", "(.*)((((((")"#,
        ] {
            assert_eq!(deep(e), None, "{e}");
            parse(e).unwrap_or_else(|err| panic!("{e}: {err}"));
        }
    }

    #[test]
    fn the_shapes_that_overflowed_a_stack_are_refused_before_parsing() {
        let minus = format!("{}1", "-".repeat(5000));
        let sum = vec!["up"; 5000].join("+");
        let abs = format!("{}up{}", "abs(".repeat(3000), ")".repeat(3000));
        let and = vec!["up"; 600].join(" AND ");
        for e in [&minus, &sum, &and] {
            assert_eq!(
                deep(e),
                Some(LimitError::TooManyOperators { max: 512 }),
                "{}",
                &e[..20]
            );
        }
        assert_eq!(
            deep(&abs),
            Some(LimitError::TooDeep {
                depth: 129,
                max: 128
            })
        );
        let long = format!("up{{job=\"{}\"}}", "x".repeat(70_000));
        assert!(matches!(deep(&long), Some(LimitError::TooLong { .. })));
        assert!(matches!(parse(&sum), Err(ParseError::Limit(_))));
    }

    #[test]
    fn strings_and_matchers_hold_no_operators_or_brackets() {
        let many = format!("up{{job=\"{}\"}}", "((+-".repeat(2000));
        assert_eq!(deep(&many), None);
        let matchers = format!("up{{{}}}", vec!["a!=\"1\""; 600].join(","));
        assert_eq!(deep(&matchers), None);
        // An unclosed string ends the scan; the parser reports it.
        assert_eq!(deep("up{job=\"((("), None);
        assert!(matches!(parse("up{job=\"((("), Err(ParseError::Syntax(_))));
    }

    #[test]
    fn a_tree_within_the_bounds_is_at_most_their_sum_deep() {
        fn height(e: &Expr) -> usize {
            use promql_parser::parser::Expr as E;
            1 + match e {
                E::Paren(p) => height(&p.expr),
                E::Unary(u) => height(&u.expr),
                E::Binary(b) => height(&b.lhs).max(height(&b.rhs)),
                E::Aggregate(a) => height(&a.expr),
                E::Call(c) => c.args.args.iter().map(|a| height(a)).max().unwrap_or(0),
                E::Subquery(s) => height(&s.expr),
                _ => 0,
            }
        }
        let at_bounds = format!(
            "{}{}{}",
            "abs(".repeat(60),
            vec!["up"; 400].join("-"),
            ")".repeat(60)
        );
        let e = parse(&at_bounds).unwrap();
        assert!(height(&e) <= LIMITS.max_depth + LIMITS.max_operators + 1);
    }

    proptest::proptest! {
        /// Whatever the text, the check ends without a panic and what it lets through
        /// parses without a panic.
        #[test]
        fn any_text_is_checked_and_parsed_without_a_panic(s in "[-+*/()\\[\\]{}a-z0-9 \"'=!<>,~]{0,400}") {
            let _ = parse(&s);
        }
    }
}
