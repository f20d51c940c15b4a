//! IAM wildcard matching: `*` matches any run of characters (also none), `?` exactly one.

/// Whether `text` matches the IAM wildcard `pattern` (`*` any run, `?` one character).
///
/// `ignore_case` compares ASCII letters case-insensitively (IAM action names); resource
/// ARNs and condition values compare case-sensitively.
///
/// Runs in O(pattern × text) at worst and allocates only for non-ASCII input.
pub fn glob_match(pattern: &str, text: &str, ignore_case: bool) -> bool {
    if pattern.is_ascii() && text.is_ascii() {
        matches(pattern.as_bytes(), text.as_bytes(), |a, b| {
            if ignore_case {
                a.eq_ignore_ascii_case(b)
            } else {
                a == b
            }
        })
    } else {
        let p: Vec<char> = pattern.chars().collect();
        let t: Vec<char> = text.chars().collect();
        matches(&p, &t, |a: &char, b: &char| {
            if ignore_case {
                a.eq_ignore_ascii_case(b)
            } else {
                a == b
            }
        })
    }
}

trait Wild {
    fn is_star(&self) -> bool;
    fn is_any(&self) -> bool;
}

impl Wild for u8 {
    fn is_star(&self) -> bool {
        *self == b'*'
    }
    fn is_any(&self) -> bool {
        *self == b'?'
    }
}

impl Wild for char {
    fn is_star(&self) -> bool {
        *self == '*'
    }
    fn is_any(&self) -> bool {
        *self == '?'
    }
}

/// The classic single-backtrack-point algorithm: on a mismatch, retry from the last `*`
/// one character further on. Linear for patterns with one `*`.
fn matches<T: Wild>(p: &[T], t: &[T], eq: impl Fn(&T, &T) -> bool) -> bool {
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi].is_star() {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && (p[pi].is_any() || eq(&p[pi], &t[ti])) {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(Wild::is_star)
}

#[cfg(test)]
mod tests {
    use super::glob_match as g;

    #[test]
    fn literals_and_wildcards() {
        assert!(g("aps:RemoteWrite", "aps:RemoteWrite", false));
        assert!(!g("aps:RemoteWrite", "aps:RemoteWrites", false));
        assert!(!g("aps:RemoteWrites", "aps:RemoteWrite", false));
        assert!(g("*", "", false));
        assert!(g("*", "anything at all", false));
        assert!(g("aps:*", "aps:QueryMetrics", false));
        assert!(!g("aps:*", "sts:AssumeRole", false));
        assert!(g("aps:*Write", "aps:RemoteWrite", false));
        assert!(g("a*b*c", "aXXbYYc", false));
        assert!(g("a*b*c", "abc", false));
        assert!(!g("a*b*c", "acb", false));
        assert!(g("*:sub", "oidc/id/X:sub", false));
        assert!(g(
            "system:serviceaccount:*:adot",
            "system:serviceaccount:ns:adot",
            false
        ));
        assert!(!g(
            "system:serviceaccount:*:adot",
            "system:serviceaccount:ns:other",
            false
        ));
        assert!(g("??", "ab", false));
        assert!(!g("??", "abc", false));
        assert!(!g("?", "", false));
        assert!(g("a?c*", "abcdef", false));
        assert!(g("**a", "a", false));
        assert!(!g("", "a", false));
        assert!(g("", "", false));
    }

    #[test]
    fn case_rules() {
        assert!(g("APS:remotewrite", "aps:RemoteWrite", true));
        assert!(!g("APS:remotewrite", "aps:RemoteWrite", false));
        assert!(g("sts:assumerole*", "sts:AssumeRoleWithWebIdentity", true));
    }

    #[test]
    fn unicode_counts_characters() {
        assert!(g("n?me", "näme", false));
        assert!(g("*é", "café", false));
        assert!(!g("n?me", "nääme", false));
    }

    #[test]
    fn many_stars_stay_fast() {
        let text = "a".repeat(5000);
        let pattern = format!("{}b", "*a".repeat(50));
        assert!(!g(&pattern, &text, false));
    }
}
