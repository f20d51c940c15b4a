//! What the checks share: the settings from the command line, the findings so far, and
//! the facts one file establishes for checks of another (cross-file reasoning).

use super::collector_image::Image;
use super::finding::Finding;
use super::yaml::Pos;

/// `--namespace` / `--release`, with whether the user gave them (messages say when a value
/// is only the default), and `--collector-image`.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub namespace: Option<String>,
    pub release: Option<String>,
    /// The image the collector configs run in (L6).
    pub collector_image: Option<Image>,
}

/// helm's default namespace when none is given.
pub(crate) const DEFAULT_NAMESPACE: &str = "default";
/// The release name the examples in the chart's README use.
pub(crate) const DEFAULT_RELEASE: &str = "prometheus";

impl Settings {
    pub fn namespace(&self) -> &str {
        self.namespace.as_deref().unwrap_or(DEFAULT_NAMESPACE)
    }

    pub fn release(&self) -> &str {
        self.release.as_deref().unwrap_or(DEFAULT_RELEASE)
    }

    /// `namespace `x`` or `namespace `default` [assumed: pass --namespace]` (brackets, as
    /// these sit inside parentheses).
    pub fn namespace_said(&self) -> String {
        match &self.namespace {
            Some(n) => format!("namespace `{n}`"),
            None => format!("namespace `{DEFAULT_NAMESPACE}` [assumed: pass --namespace]"),
        }
    }

    pub fn release_said(&self) -> String {
        match &self.release {
            Some(r) => format!("release `{r}`"),
            None => format!("release `{DEFAULT_RELEASE}` [assumed: pass --release]"),
        }
    }
}

/// A Kubernetes service account a workload will run as, and why we think so.
#[derive(Clone, Debug)]
pub(crate) struct Identity {
    pub namespace: String,
    pub name: String,
    /// e.g. "the service account the prometheus chart creates (release `prometheus`, …)".
    pub origin: String,
    /// Helm values key that would change the name, for fixes (`serviceAccounts.server.name`).
    pub name_key: Option<&'static str>,
}

impl Identity {
    pub fn sub(&self) -> String {
        format!("system:serviceaccount:{}:{}", self.namespace, self.name)
    }
}

/// A remote-write endpoint some file configures.
#[derive(Clone, Debug)]
pub(crate) struct EndpointFact {
    pub file: String,
    pub key_path: String,
    pub pos: Pos,
    pub region: Option<String>,
    pub workspace: Option<String>,
}

#[derive(Debug)]
pub(crate) struct Ctx {
    pub settings: Settings,
    pub findings: Vec<Finding>,
    pub endpoints: Vec<EndpointFact>,
    pub identities: Vec<Identity>,
    /// AWS account ids seen in role or provider ARNs (for the workspace ARN).
    pub accounts: Vec<String>,
    /// Helm values or a collector config were given: the permission policies are the
    /// collector's role's.
    pub writers: bool,
    /// Service account names the trust policies' `:sub` conditions name.
    pub trust_subjects: Vec<String>,
}

impl Ctx {
    pub fn new(settings: Settings) -> Ctx {
        Ctx {
            settings,
            findings: Vec::new(),
            endpoints: Vec::new(),
            identities: Vec::new(),
            accounts: Vec::new(),
            writers: false,
            trust_subjects: Vec::new(),
        }
    }

    pub fn push(&mut self, f: Finding) {
        self.findings.push(f);
    }

    pub fn note_account_of(&mut self, arn: &str) {
        // arn:partition:service:region:ACCOUNT:…
        if let Some(acct) = arn.split(':').nth(4)
            && acct.len() == 12
            && acct.bytes().all(|b| b.is_ascii_digit())
            && !self.accounts.iter().any(|a| a == acct)
        {
            self.accounts.push(acct.to_string());
        }
    }
}
