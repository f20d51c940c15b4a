//! The key paths this crate puts in errors and explanations, e.g.
//! `Statement[0].Condition.StringEquals."oidc.eks.us-east-1.amazonaws.com/id/X:sub"`.
//!
//! Keys made only of letters, digits, `_` and `-` are written bare; any other key is
//! double-quoted (with `"` and `\` escaped), so a path can be split back unambiguously.
//! Callers that index a document by path (to find a line number) build their paths with
//! these two functions so both sides agree.

/// `parent` followed by the object key `key` (`parent` may be empty: the root).
pub fn key(parent: &str, key: &str) -> String {
    let mut out = String::with_capacity(parent.len() + key.len() + 3);
    out.push_str(parent);
    if !parent.is_empty() {
        out.push('.');
    }
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare {
        out.push_str(key);
    } else {
        out.push('"');
        for c in key.chars() {
            if c == '"' || c == '\\' {
                out.push('\\');
            }
            out.push(c);
        }
        out.push('"');
    }
    out
}

/// `parent` followed by the array index `i`: `parent[i]`.
pub fn index(parent: &str, i: usize) -> String {
    format!("{parent}[{i}]")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_and_quoted_keys() {
        assert_eq!(key("", "Statement"), "Statement");
        assert_eq!(index("Statement", 2), "Statement[2]");
        assert_eq!(
            key("Statement[0].Condition.StringEquals", "oidc.x/id/A:sub"),
            r#"Statement[0].Condition.StringEquals."oidc.x/id/A:sub""#
        );
        assert_eq!(key("a", r#"q"b\"#), r#"a."q\"b\\""#);
        assert_eq!(key("a", ""), r#"a."""#);
        assert_eq!(
            key("", "eks.amazonaws.com/role-arn"),
            r#""eks.amazonaws.com/role-arn""#
        );
    }
}
