//! The credentials and principals the mocks know: the one place where a mock access key
//! maps to a secret, an ARN and the IAM actions it is allowed. SigV4 verification, STS
//! GetCallerIdentity and AMP's authorization all read from here.

use std::collections::{BTreeSet, HashMap};
use std::sync::RwLock;

/// The mock account id (AWS's documentation account).
pub const MOCK_ACCOUNT: &str = "111122223333";

/// Every IAM action the mocks authorize: what an assumed role whose policies allow them
/// is granted (STS), and what a fault that revokes one action leaves the mock user.
pub(crate) const KNOWN_ACTIONS: &[&str] = &[
    "sts:GetCallerIdentity",
    "aps:CreateWorkspace",
    "aps:DescribeWorkspace",
    "aps:ListWorkspaces",
    "aps:DeleteWorkspace",
    "aps:TagResource",
    "aps:UntagResource",
    "aps:ListTagsForResource",
    "aps:RemoteWrite",
    "aps:QueryMetrics",
    "aps:GetSeries",
    "aps:GetLabels",
    "aps:GetMetricMetadata",
    "grafana:DescribeWorkspace",
    "grafana:ListWorkspaces",
    "grafana:DescribeWorkspaceAuthentication",
    "grafana:ListPermissions",
    "grafana:CreateWorkspaceServiceAccount",
    "grafana:CreateWorkspaceServiceAccountToken",
    "grafana:DeleteWorkspaceServiceAccount",
    "grafana:DeleteWorkspaceServiceAccountToken",
    // The cluster side reads EKS and IAM.
    "eks:DescribeCluster",
    "eks:ListClusters",
    "eks:ListAddons",
    "eks:DescribeAddon",
    "eks:DescribeAddonVersions",
    "eks:ListPodIdentityAssociations",
    "eks:DescribePodIdentityAssociation",
    "eks:CreatePodIdentityAssociation",
    "eks:DeletePodIdentityAssociation",
    "iam:GetRole",
    "iam:ListAttachedRolePolicies",
    "iam:ListRolePolicies",
    "iam:GetRolePolicy",
    "iam:GetPolicy",
    "iam:GetPolicyVersion",
    "iam:ListOpenIDConnectProviders",
    "iam:GetOpenIDConnectProvider",
    // The nodes' IMDS settings and the cluster's network (F27-F29).
    "ec2:DescribeInstances",
    "ec2:DescribeVpcEndpoints",
    "ec2:DescribeRouteTables",
    "ec2:DescribeSubnets",
    // AMP managed collectors and the cluster access of their roles.
    "aps:CreateScraper",
    "aps:DescribeScraper",
    "aps:ListScrapers",
    "aps:DeleteScraper",
    "eks:ListAccessEntries",
    "eks:DescribeAccessEntry",
    "eks:ListAssociatedAccessPolicies",
];

#[derive(Clone)]
pub struct Identity {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
    /// e.g. `arn:aws:iam::111122223333:user/pipecheck`
    pub arn: String,
    pub account: String,
    pub user_id: String,
    /// IAM actions this principal may perform, e.g. `aps:RemoteWrite`. `*` allows all.
    pub allowed_actions: BTreeSet<String>,
    /// An expired key is known but refused (STS `ExpiredToken`, AMP 403).
    pub expired: bool,
}

impl Identity {
    pub fn allows(&self, action: &str) -> bool {
        self.allowed_actions.contains("*") || self.allowed_actions.contains(action)
    }
}

// The secret and the session token never reach a log line, even through `{:?}`.
impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"[REDACTED]")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "[REDACTED]"),
            )
            .field("arn", &self.arn)
            .field("account", &self.account)
            .field("allowed_actions", &self.allowed_actions)
            .field("expired", &self.expired)
            .finish()
    }
}

impl std::fmt::Display for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.arn, self.access_key_id)
    }
}

#[derive(Debug, Default)]
pub struct Identities {
    by_key: RwLock<HashMap<String, Identity>>,
}

impl Identities {
    /// A store holding one IAM user allowed everything pipecheck needs, with a secret
    /// made fresh for this mock instance.
    pub fn with_default_user() -> (Self, Identity) {
        let ids = Self::default();
        let user = Identity {
            access_key_id: "AKIAPIPECHECKMOCK001".to_string(),
            secret_access_key: random_secret(),
            session_token: None,
            arn: format!("arn:aws:iam::{MOCK_ACCOUNT}:user/pipecheck"),
            account: MOCK_ACCOUNT.to_string(),
            user_id: "AIDAPIPECHECKMOCK0001".to_string(),
            allowed_actions: ["*".to_string()].into_iter().collect(),
            expired: false,
        };
        ids.insert(user.clone());
        (ids, user)
    }

    pub fn insert(&self, id: Identity) {
        self.by_key
            .write()
            .unwrap()
            .insert(id.access_key_id.clone(), id);
    }

    pub fn get(&self, access_key_id: &str) -> Option<Identity> {
        self.by_key.read().unwrap().get(access_key_id).cloned()
    }

    /// Applies `f` to the identity with this key, if any (used by fault injection:
    /// revoke an action, expire a key).
    pub fn update(&self, access_key_id: &str, f: impl FnOnce(&mut Identity)) -> bool {
        match self.by_key.write().unwrap().get_mut(access_key_id) {
            Some(id) => {
                f(id);
                true
            }
            None => false,
        }
    }
}

fn random_secret() -> String {
    use std::fmt::Write;
    let a = uuid::Uuid::new_v4();
    let b = uuid::Uuid::new_v4();
    let mut s = String::with_capacity(40);
    for byte in a.as_bytes().iter().chain(b.as_bytes()).take(20) {
        let _ = write!(s, "{byte:02x}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_secret() {
        let (_, user) = Identities::with_default_user();
        let shown = format!("{user:?} {user}");
        assert!(!shown.contains(&user.secret_access_key), "{shown}");
        assert!(shown.contains(&user.access_key_id));
    }
}
