//! Kubernetes object names (D20): a namespace is a DNS-1123 label, a service account name a
//! DNS-1123 subdomain (Kubernetes' "Object Names and IDs"; the API server's
//! `ValidateNamespaceName` and `ValidateServiceAccountName`). A trust policy's
//! `system:serviceaccount:<namespace>:<name>` naming anything else can never match a token,
//! and helm values naming one make the API server refuse the object.
//!
//! Every fix that suggests a name goes through [`suggest`], which only returns names these
//! rules accept.

/// What kind of name a value is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NameKind {
    /// A DNS-1123 label: at most 63 characters, `[a-z0-9]`, `-` inside.
    Namespace,
    /// A DNS-1123 subdomain: at most 253 characters, labels as above joined by `.`.
    ServiceAccount,
}

impl NameKind {
    /// "a namespace", "a service account name".
    pub fn what(self) -> &'static str {
        match self {
            NameKind::Namespace => "a namespace",
            NameKind::ServiceAccount => "a service account name",
        }
    }

    /// The rule, for messages.
    pub fn rule(self) -> &'static str {
        match self {
            NameKind::Namespace => {
                "a namespace is a DNS-1123 label: lower-case letters, digits and `-`, starting and ending with a letter or digit, at most 63 characters"
            }
            NameKind::ServiceAccount => {
                "a service account name is a DNS-1123 subdomain: lower-case letters, digits, `-` and `.`, each `.`-separated part starting and ending with a letter or digit, at most 253 characters"
            }
        }
    }

    fn max(self) -> usize {
        match self {
            NameKind::Namespace => 63,
            NameKind::ServiceAccount => 253,
        }
    }
}

/// Why Kubernetes refuses `name` as `kind` ("Kubernetes does not allow `_` in a
/// namespace"), or `None` when it is valid. `*` and `?` are IAM wildcards when `glob` is
/// set: only the literal characters around them are judged.
pub(crate) fn problem(kind: NameKind, name: &str, glob: bool) -> Option<String> {
    let what = kind.what();
    if name.is_empty() {
        return Some(format!("{what} cannot be empty"));
    }
    let literal = |c: char| !(glob && (c == '*' || c == '?'));
    if let Some(c) = name.chars().find(|c| c.is_ascii_uppercase()) {
        return Some(format!(
            "Kubernetes does not allow upper case (`{c}`) in {what}"
        ));
    }
    let allowed = |c: char| {
        c.is_ascii_lowercase()
            || c.is_ascii_digit()
            || c == '-'
            || (c == '.' && kind == NameKind::ServiceAccount)
    };
    if let Some(c) = name.chars().find(|&c| literal(c) && !allowed(c)) {
        let shown = if c.is_whitespace() {
            "a space".to_string()
        } else {
            format!("`{c}`")
        };
        return Some(format!("Kubernetes does not allow {shown} in {what}"));
    }
    if glob && name.contains(['*', '?']) {
        return None;
    }
    if name.chars().count() > kind.max() {
        return Some(format!(
            "{what} is at most {} characters; this one has {}",
            kind.max(),
            name.chars().count()
        ));
    }
    let parts_ok = name.split('.').all(|p| {
        !p.is_empty()
            && p.starts_with(|c: char| c.is_ascii_alphanumeric())
            && p.ends_with(|c: char| c.is_ascii_alphanumeric())
    });
    if !parts_ok {
        return Some(match kind {
            NameKind::Namespace => {
                format!("{what} must start and end with a letter or digit")
            }
            NameKind::ServiceAccount => format!(
                "each `.`-separated part of {what} must start and end with a letter or digit"
            ),
        });
    }
    None
}

pub(crate) fn is_valid(kind: NameKind, name: &str) -> bool {
    problem(kind, name, false).is_none()
}

/// A valid name close to `name` (lower case, other characters as `-`), or `None` when
/// nothing sensible is left. Never returns a name Kubernetes would refuse.
pub(crate) fn suggest(kind: NameKind, name: &str) -> Option<String> {
    let mut out = String::new();
    for c in name.chars() {
        let c = c.to_ascii_lowercase();
        let keep = c.is_ascii_lowercase()
            || c.is_ascii_digit()
            || (c == '.' && kind == NameKind::ServiceAccount);
        let c = if keep { c } else { '-' };
        // No `--` or `.-` runs from replaced characters.
        if c == '-' && out.ends_with(['-', '.']) {
            continue;
        }
        if c == '.' && out.ends_with('-') {
            out.pop();
        }
        if c == '.' && out.ends_with('.') {
            continue;
        }
        out.push(c);
    }
    let mut s: String = out
        .trim_matches(|c| c == '-' || c == '.')
        .chars()
        .take(kind.max())
        .collect();
    while s.ends_with(['-', '.']) {
        s.pop();
    }
    is_valid(kind, &s).then_some(s)
}

/// A value that a tool fills in later (`${NS}`, `{{ .Values.ns }}`, `<namespace>`): not a
/// name yet, so not judged here (D1 reports placeholders).
pub(crate) fn templated(value: &str) -> bool {
    value.contains(['$', '{', '}', '<', '>', '%'])
        || !super::amp::placeholders(value, super::amp::Expansion::None).is_empty()
}

/// The namespace and service account of `system:serviceaccount:<ns>:<name>`; the name
/// keeps any further `:` (which makes it invalid).
pub(crate) fn split_sub(sub: &str) -> Option<(&str, &str)> {
    sub.strip_prefix("system:serviceaccount:")?.split_once(':')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_are_dns_labels() {
        for ok in ["default", "amp-monitoring", "a", "0ns", &"a".repeat(63)] {
            assert!(is_valid(NameKind::Namespace, ok), "{ok}");
        }
        let p = |s: &str| problem(NameKind::Namespace, s, false).unwrap();
        assert_eq!(
            p("amp_monitoring"),
            "Kubernetes does not allow `_` in a namespace"
        );
        assert_eq!(
            p("Monitoring"),
            "Kubernetes does not allow upper case (`M`) in a namespace"
        );
        assert_eq!(p("a.b"), "Kubernetes does not allow `.` in a namespace");
        assert_eq!(p("a b"), "Kubernetes does not allow a space in a namespace");
        assert!(p("-ns").contains("start and end"));
        assert!(p("ns-").contains("start and end"));
        assert!(p(&"a".repeat(64)).contains("at most 63"));
        assert!(p("").contains("empty"));
    }

    #[test]
    fn service_accounts_are_dns_subdomains() {
        for ok in [
            "prometheus-server",
            "adot.collector",
            "a1",
            &"a".repeat(253),
        ] {
            assert!(is_valid(NameKind::ServiceAccount, ok), "{ok}");
        }
        let p = |s: &str| problem(NameKind::ServiceAccount, s, false).unwrap();
        assert!(p("adot_collector").contains("`_`"));
        assert!(p("a..b").contains("part"));
        assert!(p("a.-b").contains("part"));
        assert!(p("a:b").contains("`:`"));
        assert!(p(&"a".repeat(254)).contains("at most 253"));
    }

    #[test]
    fn wildcards_judge_only_the_literal_characters() {
        assert_eq!(problem(NameKind::ServiceAccount, "*", true), None);
        assert_eq!(problem(NameKind::Namespace, "amp-*", true), None);
        assert!(problem(NameKind::Namespace, "amp_*", true).is_some());
        // Without `glob`, `*` is a character like any other.
        assert!(problem(NameKind::Namespace, "amp-*", false).is_some());
    }

    #[test]
    fn suggestions_are_always_valid() {
        let s = |k, n: &str| suggest(k, n);
        assert_eq!(
            s(NameKind::Namespace, "amp_monitoring").as_deref(),
            Some("amp-monitoring")
        );
        assert_eq!(
            s(NameKind::ServiceAccount, "AMP_Ingest.").as_deref(),
            Some("amp-ingest")
        );
        assert_eq!(s(NameKind::Namespace, "a.b").as_deref(), Some("a-b"));
        assert_eq!(s(NameKind::ServiceAccount, "a_.b").as_deref(), Some("a.b"));
        assert_eq!(s(NameKind::Namespace, "__"), None);
        assert_eq!(s(NameKind::Namespace, ""), None);
        for weird in ["-_-", "..", "É", "a--b", &"x_".repeat(100), "a.-.b"] {
            for k in [NameKind::Namespace, NameKind::ServiceAccount] {
                if let Some(v) = suggest(k, weird) {
                    assert!(is_valid(k, &v), "{weird} -> {v}");
                }
            }
        }
    }

    #[test]
    fn subs_split_into_namespace_and_name() {
        assert_eq!(split_sub("system:serviceaccount:ns:sa"), Some(("ns", "sa")));
        assert_eq!(
            split_sub("system:serviceaccount:ns:sa:x"),
            Some(("ns", "sa:x"))
        );
        assert_eq!(split_sub("system:serviceaccount:ns"), None);
        assert_eq!(split_sub("ns:sa"), None);
        assert!(templated("${NAMESPACE}"));
        assert!(templated("{{ .Release.Namespace }}"));
        assert!(!templated("monitoring"));
    }
}
