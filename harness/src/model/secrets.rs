//! The run's redactor, shared with the links: a secret a link obtains while the run goes
//! on (a Grafana token it created) is registered here before anything can print it, and
//! every event and the report pass through the same redactor on the way out.

use std::sync::{Arc, RwLock};

use pipecheck_reports::{LinkResult, Redactor, ScenarioReport};

/// A [`Redactor`] that links can add secrets to while the run's events are being redacted.
#[derive(Clone, Default)]
pub struct RunSecrets(Arc<RwLock<Redactor>>);

// Never print the secrets themselves (Redactor's Debug counts them only).
impl std::fmt::Debug for RunSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RunSecrets({:?})", *self.read())
    }
}

impl RunSecrets {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Redactor> {
        // A panic while holding the lock leaves a redactor that is still usable.
        self.0.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers an exact secret value; from now on every redaction masks it.
    pub fn add_secret(&self, secret: impl Into<String>) {
        self.0
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .add_secret(secret);
    }

    pub fn redact(&self, text: &str) -> String {
        self.read().redact(text)
    }

    pub fn redact_link(&self, link: &LinkResult) -> LinkResult {
        self.read().redact_link(link)
    }

    pub fn redact_report(&self, report: &ScenarioReport) -> ScenarioReport {
        self.read().redact_report(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pipecheck_reports::{Evidence, Outcome};
    use std::time::Duration;

    fn link(text: &str) -> LinkResult {
        LinkResult {
            name: "grafana.api".into(),
            outcome: Outcome::Fail,
            verdict: format!("verdict {text}"),
            hint: Some(format!("hint {text}")),
            evidence: vec![Evidence::new("token", format!("body {text}"))],
            duration: Duration::ZERO,
            depends_on: vec![],
        }
    }

    /// A secret registered through one clone (a link's) is masked by every other clone
    /// (the run's event forwarder), in verdict, hint and evidence, also URL-encoded.
    #[test]
    fn a_secret_registered_by_a_link_is_masked_everywhere() {
        let run = RunSecrets::default();
        let links_view = run.clone();
        // Not of a shape the patterns know: only the registration can mask it.
        let token = "opaque-token-4f9d2a+x/y";
        assert!(run.redact(token).contains(token));
        links_view.add_secret(token);
        let out = run.redact_link(&link(token));
        let all = format!("{} {:?} {}", out.verdict, out.hint, out.evidence[0].body);
        assert!(!all.contains(token), "{all}");
        assert!(all.contains("[REDACTED]"));
        assert!(!run.redact("opaque-token-4f9d2a%2Bx%2Fy").contains("4f9d2a"));
        assert_eq!(format!("{run:?}"), "RunSecrets(Redactor { secrets: 2 })");
    }

    /// Grafana service-account tokens are masked by shape even when unregistered.
    #[test]
    fn grafana_token_shapes_are_masked() {
        let run = RunSecrets::default();
        let t = "glsa_0123456789abcdefABCDEF0123456789_1a2b3c4d";
        assert!(!run.redact(&format!("key {t}")).contains("glsa_0123"));
    }
}
