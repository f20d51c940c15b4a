//! Redaction: the last line of defence before anything is printed or written.
//!
//! Links should not put secrets in their evidence in the first place; this catches what
//! slips through. Two layers: exact values the harness registered (the credentials it
//! loaded), and patterns for the shapes secrets take on the wire (signed headers,
//! presigned URLs, tokens), so an unknown secret of a known shape is masked too.
//! Redacting twice gives the same text as redacting once.

use crate::model::{Evidence, LinkResult, RunEvent, RunReport, ScenarioReport};
use regex::{Captures, Regex};
use std::borrow::Cow;
use std::fmt;
use std::sync::LazyLock;

/// What a masked value is replaced with.
pub const MASK: &str = "[REDACTED]";

/// Registered secrets shorter than this are ignored: masking "abc" everywhere would
/// shred ordinary text and protect nothing.
const MIN_SECRET_LEN: usize = 4;

/// Masks secrets in text. Build one per run, register the credentials the run loaded,
/// and pass every verdict, hint and evidence through it (see [`Redactor::redact_report`]).
#[derive(Clone, Default)]
pub struct Redactor {
    secrets: Vec<String>,
    /// One alternation of all registered secrets (and their percent-encoded forms),
    /// longest first so a secret containing another is masked whole.
    exact: Option<Regex>,
}

impl fmt::Debug for Redactor {
    // Never print the secrets themselves.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redactor")
            .field("secrets", &self.secrets.len())
            .finish()
    }
}

impl Redactor {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers an exact secret value (an access key, a session token, an API key).
    /// Empty values and values shorter than 4 characters are ignored.
    pub fn add_secret(&mut self, s: impl Into<String>) {
        let s = s.into();
        if s.chars().count() < MIN_SECRET_LEN || self.secrets.contains(&s) {
            return;
        }
        let encoded = percent_encode(&s);
        if encoded != s && !self.secrets.contains(&encoded) {
            self.secrets.push(encoded);
        }
        self.secrets.push(s);
        self.secrets
            .sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        let alternation = self
            .secrets
            .iter()
            .map(|s| regex::escape(s))
            .collect::<Vec<_>>()
            .join("|");
        // Escaped literals always compile; the size limit is far above any credential.
        self.exact = Regex::new(&alternation).ok();
    }

    /// Returns `text` with registered secrets and secret-shaped values replaced by
    /// `[REDACTED]`.
    pub fn redact(&self, text: &str) -> String {
        let mut out: Cow<'_, str> = Cow::Borrowed(text);
        if let Some(exact) = &self.exact {
            out = replace(out, exact, |_| MASK.to_string());
        }
        let p = &*PATTERNS;
        out = replace(out, &p.authorization, mask_authorization);
        out = replace(out, &p.key_value, |c| format!("{}{}{MASK}", &c[1], &c[2]));
        out = replace(out, &p.xml_element, |c| format!("<{}>{MASK}</", &c[1]));
        out = replace(out, &p.signature, |c| format!("{}{MASK}", &c[1]));
        out = replace(out, &p.grafana_token, |_| MASK.to_string());
        out = replace(out, &p.grafana_legacy_key, |_| MASK.to_string());
        out = replace(out, &p.bearer, mask_bearer);
        out = replace(out, &p.url_password, |c| format!("{}{MASK}@", &c[1]));
        out.into_owned()
    }

    /// A copy of `link` with its verdict, hint and evidence redacted.
    pub fn redact_link(&self, link: &LinkResult) -> LinkResult {
        LinkResult {
            verdict: self.redact(&link.verdict),
            hint: link.hint.as_deref().map(|h| self.redact(h)),
            evidence: link
                .evidence
                .iter()
                .map(|e| Evidence {
                    label: self.redact(&e.label),
                    body: self.redact(&e.body),
                })
                .collect(),
            ..link.clone()
        }
    }

    /// A copy of `report` with every link and the extra property values redacted.
    pub fn redact_report(&self, report: &ScenarioReport) -> ScenarioReport {
        ScenarioReport {
            links: report.links.iter().map(|l| self.redact_link(l)).collect(),
            properties: report
                .properties
                .iter()
                .map(|p| p.map_text(|t| self.redact(t)))
                .collect(),
            ..report.clone()
        }
    }

    pub fn redact_run(&self, run: &RunReport) -> RunReport {
        RunReport {
            suites: run.suites.iter().map(|s| self.redact_report(s)).collect(),
        }
    }

    /// A copy of `event` with any result in it redacted, for renderers fed live.
    pub fn redact_event(&self, event: &RunEvent) -> RunEvent {
        match event {
            RunEvent::LinkFinished { scenario, result } => RunEvent::LinkFinished {
                scenario: scenario.clone(),
                result: self.redact_link(result),
            },
            RunEvent::ScenarioFinished(report) => {
                RunEvent::ScenarioFinished(self.redact_report(report))
            }
            other => other.clone(),
        }
    }
}

struct Patterns {
    authorization: Regex,
    key_value: Regex,
    xml_element: Regex,
    signature: Regex,
    grafana_token: Regex,
    grafana_legacy_key: Regex,
    bearer: Regex,
    url_password: Regex,
}

static PATTERNS: LazyLock<Patterns> = LazyLock::new(|| {
    let re = |s: &str| Regex::new(s).expect("redaction pattern compiles");
    Patterns {
        // `Authorization: <value to end of line>` as a header line, or as a key in
        // JSON / a Debug-printed header map (`"authorization": "<value>"`).
        authorization: re(
            r#"(?i)\b((?:proxy-)?authorization)(["']?[ \t]*[:=][ \t]*)(?:"([^"\r\n]*)"|'([^'\r\n]*)'|([^\r\n]*))"#,
        ),
        // Credentials as `key=value`, `key: value` or `"key": "value"`: env vars and
        // credentials files, STS JSON, presigned-URL query parameters, header lines.
        key_value: re(
            r#"(?i)((?:aws_)?secret_access_key|(?:aws_)?session_token|secretaccesskey|sessiontoken|x-amz-security-token|x-amz-signature|x-amz-credential)(["']?[ \t]*[:=][ \t]*["']?)[^\s"'&,;<>(){}\[\]]+"#,
        ),
        // STS query/XML answers: <SecretAccessKey>..</SecretAccessKey>, <SessionToken>.
        xml_element: re(r"(?i)<(SecretAccessKey|SessionToken)>[^<]*</"),
        // A SigV4 signature wherever it appears.
        signature: re(r"(?i)\b(signature=)[0-9a-f]{16,}"),
        // Grafana service account tokens (and Grafana Cloud access policy tokens).
        grafana_token: re(r"\bglsa_[A-Za-z0-9_]+|\bglc_[A-Za-z0-9+/=_-]{10,}"),
        // Legacy Grafana API keys: base64 JSON starting {"k":"
        grafana_legacy_key: re(r"eyJrIjoi[A-Za-z0-9+/=]+"),
        bearer: re(r"(?i)\b(bearer[ \t]+)([A-Za-z0-9\-._~+/]+=*)"),
        // https://user:password@host
        url_password: re(r"(?i)\b([a-z][a-z0-9+.\-]*://[^/\s:@]+:)[^@\s/]+@"),
    }
});

fn replace<'a>(
    text: Cow<'a, str>,
    re: &Regex,
    f: impl FnMut(&Captures<'_>) -> String,
) -> Cow<'a, str> {
    match re.replace_all(&text, f) {
        Cow::Borrowed(_) => text,
        Cow::Owned(s) => Cow::Owned(s),
    }
}

/// Keeps the header name and the scheme word; for SigV4 also the `Credential=` scope
/// and `SignedHeaders=` (they help debugging and are not secret), masking the rest.
fn mask_authorization(c: &Captures<'_>) -> String {
    let (name, sep) = (&c[1], &c[2]);
    if let Some(v) = c.get(3) {
        format!("{name}{sep}\"{}\"", mask_auth_value(v.as_str()))
    } else if let Some(v) = c.get(4) {
        format!("{name}{sep}'{}'", mask_auth_value(v.as_str()))
    } else {
        let v = c.get(5).map_or("", |m| m.as_str());
        format!("{name}{sep}{}", mask_auth_value(v))
    }
}

fn mask_auth_value(value: &str) -> String {
    let v = value.trim();
    if v.is_empty() {
        return value.to_string();
    }
    let Some((scheme, rest)) = v.split_once(char::is_whitespace) else {
        // A bare token with no scheme word.
        return MASK.to_string();
    };
    if !scheme.to_ascii_uppercase().starts_with("AWS4-") {
        return format!("{scheme} {MASK}");
    }
    let params = rest
        .split(',')
        .map(|part| match part.trim().split_once('=') {
            Some((k, _))
                if k.eq_ignore_ascii_case("Credential")
                    || k.eq_ignore_ascii_case("SignedHeaders") =>
            {
                part.trim().to_string()
            }
            Some((k, _)) => format!("{k}={MASK}"),
            None => MASK.to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ");
    format!("{scheme} {params}")
}

/// `Bearer <token>`; a short plain word after "bearer" is prose ("bearer token"), not a
/// token, and is left alone.
fn mask_bearer(c: &Captures<'_>) -> String {
    let token = &c[2];
    let word = token.trim_end_matches('.');
    if word.len() < 16 && !word.is_empty() && word.chars().all(|ch| ch.is_ascii_alphabetic()) {
        return c[0].to_string();
    }
    format!("{}{MASK}", &c[1])
}

/// The form a secret takes inside a URL or a form body (secret keys contain `/` and `+`).
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Outcome;
    use proptest::prelude::*;
    use std::time::Duration;

    fn r(text: &str) -> String {
        Redactor::new().redact(text)
    }

    #[test]
    fn registered_secrets_are_masked_exactly() {
        let mut red = Redactor::new();
        red.add_secret("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
        red.add_secret("sekrit-value");
        let out = red.redact(
            "key wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY, url ?k=wJalrXUtnFEMI%2FK7MDENG%2BbPxRfiCYEXAMPLEKEY and sekrit-value!",
        );
        assert_eq!(out, "key [REDACTED], url ?k=[REDACTED] and [REDACTED]!");
    }

    #[test]
    fn short_and_empty_secrets_are_ignored() {
        let mut red = Redactor::new();
        red.add_secret("");
        red.add_secret("abc");
        assert_eq!(red.redact("abc def"), "abc def");
        assert_eq!(format!("{red:?}"), "Redactor { secrets: 0 }");
    }

    #[test]
    fn a_secret_containing_another_is_masked_whole() {
        let mut red = Redactor::new();
        red.add_secret("token");
        red.add_secret("token-with-suffix");
        assert_eq!(red.redact("x token-with-suffix y"), "x [REDACTED] y");
    }

    #[test]
    fn debug_does_not_print_secrets() {
        let mut red = Redactor::new();
        red.add_secret("supersecretvalue");
        assert!(!format!("{red:?}").contains("supersecret"));
    }

    #[test]
    fn sigv4_authorization_keeps_scope_masks_signature() {
        let text = "authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/us-east-1/aps/aws4_request, SignedHeaders=host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7";
        assert_eq!(
            r(text),
            "authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/us-east-1/aps/aws4_request, SignedHeaders=host;x-amz-date, Signature=[REDACTED]"
        );
    }

    #[test]
    fn other_authorization_schemes_keep_only_the_scheme() {
        assert_eq!(
            r("Authorization: Basic dXNlcjpwYXNz"),
            "Authorization: Basic [REDACTED]"
        );
        assert_eq!(
            r("Authorization: Bearer abc.def.ghi\nnext line"),
            "Authorization: Bearer [REDACTED]\nnext line"
        );
        assert_eq!(
            r("Proxy-Authorization: Basic Zm9vOmJhcg=="),
            "Proxy-Authorization: Basic [REDACTED]"
        );
        assert_eq!(r("AUTHORIZATION:rawtoken123"), "AUTHORIZATION:[REDACTED]");
    }

    #[test]
    fn authorization_in_json_and_debug_maps() {
        assert_eq!(
            r(r#"{"authorization": "Bearer glsa_abc", "host": "x"}"#),
            r#"{"authorization": "Bearer [REDACTED]", "host": "x"}"#
        );
        assert_eq!(
            r(r#"{'Authorization': 'token abc123'}"#),
            r#"{'Authorization': 'token [REDACTED]'}"#
        );
    }

    #[test]
    fn presigned_url_query_parameters() {
        let url = "GET https://aps-workspaces.us-east-1.amazonaws.com/x?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20240101%2Fus-east-1%2Faps%2Faws4_request&X-Amz-Date=20240101T000000Z&X-Amz-Security-Token=IQoJb3JpZ2luX2VjE%2B%2F%3D&X-Amz-Signature=abcdef0123456789abcdef0123456789 -> 200";
        assert_eq!(
            r(url),
            "GET https://aps-workspaces.us-east-1.amazonaws.com/x?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=[REDACTED]&X-Amz-Date=20240101T000000Z&X-Amz-Security-Token=[REDACTED]&X-Amz-Signature=[REDACTED] -> 200"
        );
    }

    #[test]
    fn security_token_header_line() {
        assert_eq!(
            r(
                "x-amz-date: 20240101T000000Z\nx-amz-security-token: IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQ==\nhost: x"
            ),
            "x-amz-date: 20240101T000000Z\nx-amz-security-token: [REDACTED]\nhost: x"
        );
    }

    #[test]
    fn secret_access_key_assignments() {
        assert_eq!(
            r("AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
            "AWS_SECRET_ACCESS_KEY=[REDACTED]"
        );
        assert_eq!(
            r(
                "[default]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG\naws_session_token = FwoGZXIvYXdzEB"
            ),
            "[default]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = [REDACTED]\naws_session_token = [REDACTED]"
        );
        assert_eq!(
            r(
                r#"{"AccessKeyId":"ASIAEXAMPLE","SecretAccessKey":"abc/def+ghi","SessionToken":"FwoG"}"#
            ),
            r#"{"AccessKeyId":"ASIAEXAMPLE","SecretAccessKey":"[REDACTED]","SessionToken":"[REDACTED]"}"#
        );
    }

    #[test]
    fn sts_xml_credentials() {
        assert_eq!(
            r(
                "<Credentials><AccessKeyId>ASIAX</AccessKeyId><SecretAccessKey>abc/def</SecretAccessKey><SessionToken>Fwo+G==</SessionToken></Credentials>"
            ),
            "<Credentials><AccessKeyId>ASIAX</AccessKeyId><SecretAccessKey>[REDACTED]</SecretAccessKey><SessionToken>[REDACTED]</SessionToken></Credentials>"
        );
    }

    #[test]
    fn bare_signature() {
        assert_eq!(
            r("canonical mismatch, Signature=0123456789abcdef0123456789abcdef"),
            "canonical mismatch, Signature=[REDACTED]"
        );
    }

    #[test]
    fn bearer_tokens() {
        assert_eq!(
            r("sent Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig"),
            "sent Bearer [REDACTED]"
        );
        assert_eq!(r("bearer abc123"), "bearer [REDACTED]");
        // Prose is left alone.
        assert_eq!(r("the bearer token expired."), "the bearer token expired.");
        assert_eq!(r("use Bearer authentication"), "use Bearer authentication");
    }

    #[test]
    fn grafana_tokens() {
        assert_eq!(
            r("token glsa_Xy12AbCdEfGhIjKlMnOpQrStUvWxYz12_3fa9b2c1 rejected"),
            "token [REDACTED] rejected"
        );
        assert_eq!(
            r("key=eyJrIjoiT0tTcG1pUlY2RnVKZTFVaDFsNFZXdE9ZWmNrMkZYbk=="),
            "key=[REDACTED]"
        );
        assert_eq!(r("glc_eyJvIjoiMTIzNDU2NyJ9"), "[REDACTED]");
    }

    #[test]
    fn url_passwords() {
        assert_eq!(
            r("remote_write url https://admin:hunter22@grafana.example/api"),
            "remote_write url https://admin:[REDACTED]@grafana.example/api"
        );
    }

    #[test]
    fn ordinary_text_is_untouched() {
        for text in [
            "",
            "amp workspace ws-1234 is ACTIVE",
            "POST /workspaces/ws-1/api/v1/remote_write -> 403 {\"message\":\"User is not authorized to perform: aps:RemoteWrite\"}",
            "aws_access_key_id = AKIDEXAMPLE",
            "authorization failed: the role lacks aps:RemoteWrite",
            "X-Amz-Date=20240101T000000Z&X-Amz-Algorithm=AWS4-HMAC-SHA256",
            "grafana data source uses SigV4 auth (sigV4Auth: true), region us-east-1",
            "session token expired; refresh credentials",
            "pipecheck_canary{run_id=\"7f3a\"} 42 @ 1700000000",
            "https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-1/api/v1/query?query=up",
            "line one\nline two\twith tab",
        ] {
            assert_eq!(r(text), text, "changed: {text}");
        }
    }

    #[test]
    fn links_and_reports_are_redacted_everywhere() {
        let mut red = Redactor::new();
        red.add_secret("s3cr3t-value");
        let link = LinkResult {
            name: "amp.remote_write".into(),
            outcome: Outcome::Fail,
            verdict: "rejected s3cr3t-value".into(),
            hint: Some("unset AWS_SECRET_ACCESS_KEY=abcd1234".into()),
            evidence: vec![Evidence::new(
                "request",
                "Authorization: Bearer s3cr3t-value",
            )],
            duration: Duration::from_millis(5),
            depends_on: vec!["aws.identity".into()],
        };
        let out = red.redact_link(&link);
        assert_eq!(out.verdict, "rejected [REDACTED]");
        assert_eq!(
            out.hint.as_deref(),
            Some("unset AWS_SECRET_ACCESS_KEY=[REDACTED]")
        );
        assert_eq!(out.evidence[0].body, "Authorization: Bearer [REDACTED]");
        assert_eq!(
            (out.name.as_str(), out.duration),
            ("amp.remote_write", link.duration)
        );

        let report = ScenarioReport {
            scenario: "smoke".into(),
            target: "mock".into(),
            run_id: "r1".into(),
            links: vec![link.clone()],
            root_cause: vec!["amp.remote_write".into()],
            duration: Duration::from_secs(1),
            properties: vec![crate::model::Property::GrafanaCleanup(vec![
                "failed to delete dashboard d: https://u:s3cr3t-value@h refused".into(),
            ])],
        };
        let out = red.redact_report(&report);
        assert_eq!(out.links[0].verdict, "rejected [REDACTED]");
        assert_eq!(
            out.properties[0].value(),
            "failed to delete dashboard d: https://u:[REDACTED]@h refused"
        );
        let ev = red.redact_event(&RunEvent::LinkFinished {
            scenario: "smoke".into(),
            result: link,
        });
        let RunEvent::LinkFinished { result, .. } = ev else {
            unreachable!()
        };
        assert_eq!(result.verdict, "rejected [REDACTED]");
    }

    proptest! {
        #[test]
        fn redaction_is_idempotent(text in "[ -~\n]{0,120}") {
            let once = r(&text);
            prop_assert_eq!(r(&once), once.clone());
        }

        #[test]
        fn registered_secrets_never_survive(
            prefix in "[ -~]{0,40}",
            secret in "[A-Za-z0-9/+=]{8,40}",
            suffix in "[ -~]{0,40}",
        ) {
            let mut red = Redactor::new();
            red.add_secret(secret.clone());
            let out = red.redact(&format!("{prefix}{secret}{suffix}"));
            prop_assert!(!out.contains(&secret), "{out}");
        }

        #[test]
        fn secret_shaped_values_never_survive(value in "[A-Za-z0-9/+]{8,40}", sep in "(=|: |=\")") {
            for key in ["AWS_SECRET_ACCESS_KEY", "X-Amz-Security-Token", "x-amz-signature", "SessionToken"] {
                let out = r(&format!("{key}{sep}{value}"));
                prop_assert!(!out.contains(&value), "{out}");
            }
        }
    }
}
