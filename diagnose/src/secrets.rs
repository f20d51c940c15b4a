//! Keeping the user's secrets out of every output.
//!
//! Three layers, applied to every string a finding carries before anything is printed or
//! written: (1) the exact values of keys named like a secret (`password`, `secret_key`,
//! `token`, `credentials`, …, and the `value` of an env entry whose `name` is one) in any
//! input file; (2) AWS access key ids (`AKIA…`, `ASIA…`); (3) the patterns of
//! [`pipecheck_reports::Redactor`] (Authorization values, signatures, session tokens,
//! `user:password@` in URLs, Grafana tokens).
//!
//! Exact values are matched with a hash set probed once per secret length at each
//! character boundary: linear in the text, however many secrets a file holds (the
//! `Redactor`'s own registry rebuilds a regex per secret, which is quadratic in their
//! number).

use std::collections::{BTreeSet, HashSet};

use pipecheck_reports::Redactor;
use pipecheck_reports::redact::MASK;
use serde_json::Value;

use super::yaml::{Kind, Node};

/// Values shorter than this are not treated as secrets (masking "abc" everywhere would
/// shred ordinary text); the Redactor uses the same bound.
const MIN_SECRET_LEN: usize = 4;

#[derive(Default)]
pub(crate) struct Secrets {
    values: HashSet<String>,
    /// Longest first, so a secret containing another is masked whole.
    lengths: BTreeSet<std::cmp::Reverse<usize>>,
    patterns: Redactor,
}

/// Whether a key names something secret.
pub(crate) fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase().replace(['-', '_'], "");
    [
        "secret",
        "password",
        "passwd",
        "token",
        "apikey",
        "credential",
        "privatekey",
        "accesskey",
    ]
    .iter()
    .any(|w| k.contains(w))
}

impl Secrets {
    pub fn add(&mut self, value: &str) {
        let v = value.trim();
        if v.chars().count() < MIN_SECRET_LEN
            || matches!(v.to_ascii_lowercase().as_str(), "true" | "false" | "null")
            || super::amp::is_placeholder_only(v)
        {
            return;
        }
        self.lengths.insert(std::cmp::Reverse(v.len()));
        self.values.insert(v.to_string());
    }

    /// Registers the secret-looking values of a YAML tree.
    pub fn collect_yaml(&mut self, node: &Node) {
        node.walk("", &mut |_, entry, value| {
            if let Some(e) = entry
                && is_secret_key(&e.key)
                && let Some(s) = value.str()
            {
                self.add(s);
            }
            // `- name: AWS_SECRET_ACCESS_KEY` / `value: …` (container env lists).
            if let Kind::Map(_) = value.kind
                && value
                    .get("name")
                    .and_then(Node::str)
                    .is_some_and(is_secret_key)
                && let Some(s) = value.get("value").and_then(Node::str)
            {
                self.add(s);
            }
        });
    }

    /// Registers the secret-looking values of a JSON document.
    pub fn collect_json(&mut self, v: &Value) {
        match v {
            Value::Object(map) => {
                for (k, child) in map {
                    if is_secret_key(k)
                        && let Some(s) = child.as_str()
                    {
                        self.add(s);
                    }
                    self.collect_json(child);
                }
            }
            Value::Array(items) => items.iter().for_each(|i| self.collect_json(i)),
            _ => {}
        }
    }

    /// `text` with every secret masked.
    pub fn redact(&self, text: &str) -> String {
        let exact = self.mask_exact(text);
        let keys = mask_access_key_ids(&exact);
        self.patterns.redact(&keys)
    }

    fn mask_exact(&self, text: &str) -> String {
        if self.values.is_empty() {
            return text.to_string();
        }
        let mut out = String::with_capacity(text.len());
        let mut i = 0;
        'outer: while i < text.len() {
            for &std::cmp::Reverse(len) in &self.lengths {
                let end = i + len;
                if end <= text.len()
                    && text.is_char_boundary(end)
                    && self.values.contains(&text[i..end])
                {
                    out.push_str(MASK);
                    i = end;
                    continue 'outer;
                }
            }
            let ch = text[i..].chars().next().expect("i is a char boundary");
            out.push(ch);
            i += ch.len_utf8();
        }
        out
    }
}

/// Masks `AKIA`/`ASIA` followed by 16 upper-case letters or digits (an access key id).
fn mask_access_key_ids(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    let mut i = 0;
    while i + 20 <= b.len() {
        let is_key = (b[i..].starts_with(b"AKIA") || b[i..].starts_with(b"ASIA"))
            && b[i + 4..i + 20]
                .iter()
                .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
            && (i == 0 || !b[i - 1].is_ascii_alphanumeric())
            && b.get(i + 20).is_none_or(|c| !c.is_ascii_alphanumeric());
        if is_key {
            out.push_str(&text[last..i]);
            out.push_str(MASK);
            i += 20;
            last = i;
        } else {
            i += 1;
        }
    }
    out.push_str(&text[last..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_keys() {
        for k in [
            "password",
            "secret_key",
            "secretKey",
            "bearer_token",
            "AWS_SECRET_ACCESS_KEY",
            "credentials",
            "api-key",
            "access_key",
        ] {
            assert!(is_secret_key(k), "{k}");
        }
        for k in ["url", "region", "name", "role_arn", "annotations"] {
            assert!(!is_secret_key(k), "{k}");
        }
    }

    #[test]
    fn values_of_secret_keys_are_masked_everywhere() {
        let docs = super::super::yaml::parse(
            "sigv4:\n  access_key: AKIAABCDEFGHIJKLMNOP\n  secret_key: wJalrXUtnFEMI/K7MDENG\nbasic_auth:\n  password: hunter22\n  username: bob\nenv:\n  - name: GRAFANA_TOKEN\n    value: glsa_abc_123\nflag:\n  token: true\n",
        )
        .unwrap();
        let mut s = Secrets::default();
        s.collect_yaml(&docs[0]);
        let out = s.redact(
            "k=wJalrXUtnFEMI/K7MDENG p=hunter22 t=glsa_abc_123 u=bob true id=AKIAABCDEFGHIJKLMNOP",
        );
        assert_eq!(
            out,
            "k=[REDACTED] p=[REDACTED] t=[REDACTED] u=bob true id=[REDACTED]"
        );
    }

    #[test]
    fn json_secrets_and_placeholders() {
        let v: Value = serde_json::from_str(
            r#"{"a": {"SecretAccessKey": "abc/def+ghi"}, "Token": "${TOKEN}"}"#,
        )
        .unwrap();
        let mut s = Secrets::default();
        s.collect_json(&v);
        assert_eq!(
            s.redact("x abc/def+ghi y ${TOKEN}"),
            "x [REDACTED] y ${TOKEN}"
        );
    }

    #[test]
    fn access_key_ids_need_word_boundaries() {
        assert_eq!(mask_access_key_ids("AKIAIOSFODNN7EXAMPLE"), "[REDACTED]");
        assert_eq!(
            mask_access_key_ids("x ASIAIOSFODNN7EXAMPLE."),
            "x [REDACTED]."
        );
        assert_eq!(
            mask_access_key_ids("XAKIAIOSFODNN7EXAMPLE"),
            "XAKIAIOSFODNN7EXAMPLE"
        );
        assert_eq!(
            mask_access_key_ids("AKIAIOSFODNN7EXAMPLEX"),
            "AKIAIOSFODNN7EXAMPLEX"
        );
        assert_eq!(
            mask_access_key_ids("é AKIAIOSFODNN7EXAMPLE é"),
            "é [REDACTED] é"
        );
    }

    #[test]
    fn many_secrets_stay_linear() {
        let mut s = Secrets::default();
        for i in 0..50_000 {
            s.add(&format!("secret-value-{i}"));
        }
        let text = "secret-value-49999 and secret-value-1".repeat(100);
        assert!(!s.redact(&text).contains("secret-value"));
    }
}
