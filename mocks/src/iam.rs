//! Mock AWS IAM: the query protocol (form-encoded `Action=…&Version=2010-05-08`, XML
//! answers), SigV4 service `iam`. IAM is global: its SigV4 scope is `us-east-1` whatever
//! region the rest of the stack serves (a client pointed at this endpoint must use region
//! `us-east-1`, which also works against the real IAM).
//!
//! Read calls: GetRole, ListAttachedRolePolicies, ListRolePolicies, GetRolePolicy,
//! GetPolicy, GetPolicyVersion, ListOpenIDConnectProviders, GetOpenIDConnectProvider,
//! ListRoleTags. Write calls: CreateRole, DeleteRole, PutRolePolicy, DeleteRolePolicy,
//! AttachRolePolicy, DetachRolePolicy, TagRole. Policy documents are answered
//! URL-encoded, as IAM does (`AssumeRolePolicyDocument`, `PolicyDocument`, `Document`).
//!
//! Trust policies are stored, not evaluated: STS `AssumeRoleWithWebIdentity` and the
//! static checks evaluate them with the shared policy-evaluation module, reading roles and
//! OIDC providers through [`IamState::role`], [`IamState::role_by_arn`],
//! [`IamState::oidc_providers`] and [`IamState::role_policy_documents`].
//!
//! Adding an action: a variant in [`Action`], its name in `Action::parse`, and a handler
//! returning `Result<String, IamError>` (the `…Result` element's contents, empty for
//! actions without output) called from `dispatch`. The query protocol itself (requests,
//! the SigV4 + IAM front end, the XML answers) is `query_protocol.rs`, shared with STS.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::clock::Clock;
use crate::eks::ClusterSeed;
use crate::identity::{Identities, Identity, MOCK_ACCOUNT};
use crate::query_protocol::{
    self, AccessDenied, Incoming, Protocol, Refusal, authorize, front_end, iso8601, xml_escape,
};

const IAM: Protocol = Protocol {
    xmlns: "https://iam.amazonaws.com/doc/2010-05-08/",
    version: "2010-05-08",
};
/// IAM's SigV4 scope region.
pub const IAM_REGION: &str = "us-east-1";
const MAX_TAGS: usize = 50;
const DEFAULT_MAX_ITEMS: usize = 100;

/// RFC 3986 unreserved characters stay, everything else is percent-encoded: how IAM
/// encodes policy documents (`{` -> `%7B`, space -> `%20`) [inferred for `*` and `!`,
/// which no example seen covered].
const DOC_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A policy document as IAM answers it: URL-encoded JSON.
pub fn encode_policy_document(doc: &str) -> String {
    utf8_percent_encode(doc, DOC_ENCODE).to_string()
}

// ---------------------------------------------------------------------------------------
// State

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

#[derive(Clone, Debug)]
pub struct Role {
    pub name: String,
    /// `/` or `/a/b/`.
    pub path: String,
    /// `AROA…`.
    pub id: String,
    pub arn: String,
    /// The trust policy as JSON text, as it was given (answered URL-encoded).
    pub trust_policy: String,
    pub description: Option<String>,
    pub max_session_duration: u32,
    pub created_at: SystemTime,
    pub tags: Vec<Tag>,
    /// Inline policies: name -> JSON text.
    pub inline_policies: BTreeMap<String, String>,
    /// ARNs of the attached managed policies, in attach order.
    pub attached_policies: Vec<String>,
}

impl Role {
    /// A role at path `/` with this trust policy and nothing attached.
    pub fn new(name: &str, trust_policy: &str, now: SystemTime) -> Self {
        Self {
            name: name.to_string(),
            path: "/".to_string(),
            id: entity_id("AROA"),
            arn: format!("arn:aws:iam::{MOCK_ACCOUNT}:role/{name}"),
            trust_policy: trust_policy.to_string(),
            description: None,
            max_session_duration: 3600,
            created_at: now,
            tags: Vec::new(),
            inline_policies: BTreeMap::new(),
            attached_policies: Vec::new(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct PolicyVersion {
    pub id: String,
    /// JSON text (answered URL-encoded).
    pub document: String,
    pub created_at: SystemTime,
}

#[derive(Clone, Debug)]
pub struct ManagedPolicy {
    pub name: String,
    pub arn: String,
    /// `ANPA…` (customer-managed) or `ANPA…` too for AWS-managed ones.
    pub id: String,
    pub path: String,
    pub description: Option<String>,
    pub default_version_id: String,
    pub versions: BTreeMap<String, PolicyVersion>,
    pub created_at: SystemTime,
    pub updated_at: SystemTime,
}

impl ManagedPolicy {
    /// A customer-managed policy of the mock account with one version, `v1`.
    pub fn customer(name: &str, document: &str, now: SystemTime) -> Self {
        Self::with_arn(
            name,
            &format!("arn:aws:iam::{MOCK_ACCOUNT}:policy/{name}"),
            document,
            now,
        )
    }

    /// An AWS-managed policy (`arn:aws:iam::aws:policy/<name>`).
    pub fn aws_managed(name: &str, document: &str, now: SystemTime) -> Self {
        Self::with_arn(
            name,
            &format!("arn:aws:iam::aws:policy/{name}"),
            document,
            now,
        )
    }

    fn with_arn(name: &str, arn: &str, document: &str, now: SystemTime) -> Self {
        let v1 = PolicyVersion {
            id: "v1".to_string(),
            document: document.to_string(),
            created_at: now,
        };
        Self {
            name: name.to_string(),
            arn: arn.to_string(),
            id: entity_id("ANPA"),
            path: "/".to_string(),
            description: None,
            default_version_id: "v1".to_string(),
            versions: BTreeMap::from([("v1".to_string(), v1)]),
            created_at: now,
            updated_at: now,
        }
    }

    /// The document of the default version.
    pub fn default_document(&self) -> Option<&str> {
        self.versions
            .get(&self.default_version_id)
            .map(|v| v.document.as_str())
    }
}

#[derive(Clone, Debug)]
pub struct OidcProvider {
    pub arn: String,
    /// The issuer without scheme, e.g. `oidc.eks.us-east-1.amazonaws.com/id/ABC…`.
    pub url: String,
    pub client_ids: Vec<String>,
    pub thumbprints: Vec<String>,
    pub created_at: SystemTime,
    pub tags: Vec<Tag>,
}

impl OidcProvider {
    /// The provider for `issuer` (with or without `https://`) with audience
    /// `sts.amazonaws.com`, as `eksctl utils associate-iam-oidc-provider` makes it.
    pub fn for_issuer(issuer: &str, now: SystemTime) -> Self {
        let url = issuer.trim_start_matches("https://").to_string();
        Self {
            arn: format!("arn:aws:iam::{MOCK_ACCOUNT}:oidc-provider/{url}"),
            url,
            client_ids: vec!["sts.amazonaws.com".to_string()],
            // The root CA thumbprint EKS OIDC providers commonly carry.
            thumbprints: vec!["9e99a48a9960b14926bb7f3b02e22da2b0ab7280".to_string()],
            created_at: now,
            tags: Vec::new(),
        }
    }
}

/// Where a permission policy of a role comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PolicySource {
    Inline { name: String },
    Managed { arn: String, version_id: String },
}

#[derive(Debug, Default)]
struct IamData {
    roles: BTreeMap<String, Role>,
    /// Keyed by ARN.
    policies: BTreeMap<String, ManagedPolicy>,
    /// Keyed by ARN.
    oidc_providers: BTreeMap<String, OidcProvider>,
}

/// The mock IAM's roles, managed policies and OIDC providers (of the one mock account).
#[derive(Debug)]
pub struct IamState {
    pub identities: Arc<Identities>,
    pub clock: Arc<Clock>,
    pub max_skew: Duration,
    data: RwLock<IamData>,
}

impl IamState {
    pub fn new(identities: Arc<Identities>, clock: Arc<Clock>, max_skew: Duration) -> Self {
        Self {
            identities,
            clock,
            max_skew,
            data: RwLock::new(IamData::default()),
        }
    }

    // --- roles ---

    /// Adds or replaces a role (keyed by name).
    pub fn put_role(&self, role: Role) {
        self.data
            .write()
            .unwrap()
            .roles
            .insert(role.name.clone(), role);
    }

    pub fn role(&self, name: &str) -> Option<Role> {
        self.data.read().unwrap().roles.get(name).cloned()
    }

    /// The role an ARN names (`arn:aws:iam::<account>:role/<path><name>`).
    pub fn role_by_arn(&self, arn: &str) -> Option<Role> {
        self.data
            .read()
            .unwrap()
            .roles
            .values()
            .find(|r| r.arn == arn)
            .cloned()
    }

    pub fn roles(&self) -> Vec<Role> {
        self.data.read().unwrap().roles.values().cloned().collect()
    }

    /// Applies `f` to a role (for faults: rewrite the trust policy, detach a policy).
    pub fn update_role<R>(&self, name: &str, f: impl FnOnce(&mut Role) -> R) -> Option<R> {
        self.data.write().unwrap().roles.get_mut(name).map(f)
    }

    pub fn remove_role(&self, name: &str) -> Option<Role> {
        self.data.write().unwrap().roles.remove(name)
    }

    /// Every permission policy document of a role: its inline policies, then the default
    /// versions of its attached managed policies. None when the role does not exist.
    pub fn role_policy_documents(&self, role: &str) -> Option<Vec<(PolicySource, String)>> {
        let data = self.data.read().unwrap();
        let r = data.roles.get(role)?;
        let mut out: Vec<(PolicySource, String)> = r
            .inline_policies
            .iter()
            .map(|(name, doc)| (PolicySource::Inline { name: name.clone() }, doc.clone()))
            .collect();
        for arn in &r.attached_policies {
            if let Some(p) = data.policies.get(arn)
                && let Some(doc) = p.default_document()
            {
                out.push((
                    PolicySource::Managed {
                        arn: arn.clone(),
                        version_id: p.default_version_id.clone(),
                    },
                    doc.to_string(),
                ));
            }
        }
        Some(out)
    }

    // --- managed policies ---

    /// Adds or replaces a managed policy (keyed by ARN).
    pub fn put_policy(&self, policy: ManagedPolicy) {
        self.data
            .write()
            .unwrap()
            .policies
            .insert(policy.arn.clone(), policy);
    }

    pub fn policy(&self, arn: &str) -> Option<ManagedPolicy> {
        self.data.read().unwrap().policies.get(arn).cloned()
    }

    pub fn update_policy<R>(
        &self,
        arn: &str,
        f: impl FnOnce(&mut ManagedPolicy) -> R,
    ) -> Option<R> {
        self.data.write().unwrap().policies.get_mut(arn).map(f)
    }

    pub fn remove_policy(&self, arn: &str) -> Option<ManagedPolicy> {
        self.data.write().unwrap().policies.remove(arn)
    }

    // --- OIDC providers ---

    pub fn put_oidc_provider(&self, p: OidcProvider) {
        self.data
            .write()
            .unwrap()
            .oidc_providers
            .insert(p.arn.clone(), p);
    }

    pub fn oidc_providers(&self) -> Vec<OidcProvider> {
        self.data
            .read()
            .unwrap()
            .oidc_providers
            .values()
            .cloned()
            .collect()
    }

    /// The provider registered for an issuer URL (with or without `https://`).
    pub fn oidc_provider_for_issuer(&self, issuer: &str) -> Option<OidcProvider> {
        let url = issuer.trim_start_matches("https://");
        self.data
            .read()
            .unwrap()
            .oidc_providers
            .values()
            .find(|p| p.url == url)
            .cloned()
    }

    pub fn update_oidc_provider<R>(
        &self,
        arn: &str,
        f: impl FnOnce(&mut OidcProvider) -> R,
    ) -> Option<R> {
        self.data
            .write()
            .unwrap()
            .oidc_providers
            .get_mut(arn)
            .map(f)
    }

    pub fn remove_oidc_provider(&self, arn: &str) -> Option<OidcProvider> {
        self.data.write().unwrap().oidc_providers.remove(arn)
    }

    // --- seed ---

    /// The healthy IRSA default for `seed` in `region`: the OIDC provider of the cluster's
    /// issuer; role `seed.role_name` trusting exactly `system:serviceaccount:<ns>:<sa>`
    /// with audience `sts.amazonaws.com` through that provider; the customer-managed
    /// policy `seed.policy_name` allowing `aps:RemoteWrite` on `workspace_arn`, attached to
    /// it; and the AWS-managed `AmazonPrometheusRemoteWriteAccess`, not attached.
    pub fn seed_healthy_irsa(&self, seed: &ClusterSeed, region: &str, workspace_arn: &str) {
        let now = self.clock.now();
        self.put_oidc_provider(OidcProvider::for_issuer(&seed.oidc_issuer(region), now));
        let mut role = Role::new(&seed.role_name, &irsa_trust_policy(seed, region), now);
        role.description = Some("pipecheck ADOT collector (IRSA)".to_string());
        role.attached_policies.push(seed.policy_arn());
        self.put_role(role);
        self.put_policy(ManagedPolicy::customer(
            &seed.policy_name,
            &remote_write_policy(workspace_arn),
            now,
        ));
        self.put_policy(ManagedPolicy::aws_managed(
            "AmazonPrometheusRemoteWriteAccess",
            &remote_write_policy("*"),
            now,
        ));
    }
}

/// The trust policy IRSA needs (aws-wire.md E), pretty-printed as people write it.
pub fn irsa_trust_policy(seed: &ClusterSeed, region: &str) -> String {
    let url = seed.oidc_provider_url(region);
    let doc = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "Federated": seed.oidc_provider_arn(region) },
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {
                "StringEquals": {
                    format!("{url}:sub"): seed.subject(),
                    format!("{url}:aud"): "sts.amazonaws.com",
                }
            }
        }]
    });
    serde_json::to_string_pretty(&doc).expect("a JSON value serializes")
}

/// A permission policy allowing `aps:RemoteWrite` on `resource`.
pub fn remote_write_policy(resource: &str) -> String {
    let doc = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Action": ["aps:RemoteWrite"],
            "Resource": resource,
        }]
    });
    serde_json::to_string_pretty(&doc).expect("a JSON value serializes")
}

/// `AROA…`/`ANPA…` followed by 17 upper-case letters and digits, like IAM's unique ids.
fn entity_id(prefix: &str) -> String {
    let hex = uuid::Uuid::new_v4().simple().to_string().to_uppercase();
    format!("{prefix}{}", &hex[..17])
}

// ---------------------------------------------------------------------------------------
// Router and dispatch

pub fn router(state: Arc<IamState>) -> Router {
    Router::new()
        .route("/", get(handle).post(handle))
        .with_state(state)
}

/// The actions this mock serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    GetRole,
    ListAttachedRolePolicies,
    ListRolePolicies,
    GetRolePolicy,
    GetPolicy,
    GetPolicyVersion,
    ListOpenIdConnectProviders,
    GetOpenIdConnectProvider,
    ListRoleTags,
    CreateRole,
    DeleteRole,
    PutRolePolicy,
    DeleteRolePolicy,
    AttachRolePolicy,
    DetachRolePolicy,
    TagRole,
    ListRoles,
}

impl Action {
    const ALL: [Self; 17] = [
        Self::GetRole,
        Self::ListAttachedRolePolicies,
        Self::ListRolePolicies,
        Self::GetRolePolicy,
        Self::GetPolicy,
        Self::GetPolicyVersion,
        Self::ListOpenIdConnectProviders,
        Self::GetOpenIdConnectProvider,
        Self::ListRoleTags,
        Self::CreateRole,
        Self::DeleteRole,
        Self::PutRolePolicy,
        Self::DeleteRolePolicy,
        Self::AttachRolePolicy,
        Self::DetachRolePolicy,
        Self::TagRole,
        Self::ListRoles,
    ];

    fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }

    fn name(self) -> &'static str {
        match self {
            Self::GetRole => "GetRole",
            Self::ListAttachedRolePolicies => "ListAttachedRolePolicies",
            Self::ListRolePolicies => "ListRolePolicies",
            Self::GetRolePolicy => "GetRolePolicy",
            Self::GetPolicy => "GetPolicy",
            Self::GetPolicyVersion => "GetPolicyVersion",
            Self::ListOpenIdConnectProviders => "ListOpenIDConnectProviders",
            Self::GetOpenIdConnectProvider => "GetOpenIDConnectProvider",
            Self::ListRoleTags => "ListRoleTags",
            Self::CreateRole => "CreateRole",
            Self::DeleteRole => "DeleteRole",
            Self::PutRolePolicy => "PutRolePolicy",
            Self::DeleteRolePolicy => "DeleteRolePolicy",
            Self::AttachRolePolicy => "AttachRolePolicy",
            Self::DetachRolePolicy => "DetachRolePolicy",
            Self::TagRole => "TagRole",
            Self::ListRoles => "ListRoles",
        }
    }

    /// Whether the answer has a `…Result` element (write calls answer only metadata).
    fn has_result(self) -> bool {
        !matches!(
            self,
            Self::DeleteRole
                | Self::PutRolePolicy
                | Self::DeleteRolePolicy
                | Self::AttachRolePolicy
                | Self::DetachRolePolicy
                | Self::TagRole
        )
    }
}

async fn handle(State(st): State<Arc<IamState>>, req: Request) -> Response {
    match serve(&st, req).await {
        Ok(resp) => resp,
        Err(e) => e.into_response(),
    }
}

async fn serve(st: &IamState, req: Request) -> Result<Response, IamError> {
    let fe = front_end("iam", IAM_REGION, &st.identities, &st.clock, st.max_skew);
    let req = Incoming::read(req, &fe).await?;
    let caller = req.verify(&fe)?;
    let params = Params(req.params);
    let action = params.0.action(&IAM, Action::parse)?;
    let result = dispatch(st, action, &caller, &params)?;
    let result = action.has_result().then_some(result.as_str());
    Ok(IAM.ok_response(action.name(), result))
}

fn dispatch(
    st: &IamState,
    action: Action,
    caller: &Identity,
    p: &Params,
) -> Result<String, IamError> {
    let iam_action = format!("iam:{}", action.name());
    let check = |resource: &str| authorize(caller, &iam_action, resource);
    // IAM names a role resource "role <name>" in its denials [inferred for the others,
    // which are named by ARN].
    match action {
        Action::GetRole => {
            let name = p.role_name()?;
            check(&format!("role {name}"))?;
            let role = st
                .role(name)
                .ok_or_else(|| IamError::role_not_found(name))?;
            Ok(format!("<Role>{}</Role>", role_xml(&role)))
        }
        Action::ListRoles => {
            // [inferred] resource of a list action: the account's role wildcard.
            check(&format!("arn:aws:iam::{MOCK_ACCOUNT}:role/*"))?;
            let page = p.page()?;
            let prefix = p.get("PathPrefix").unwrap_or("/");
            let roles: Vec<Role> = st
                .roles()
                .into_iter()
                .filter(|r| r.path.starts_with(prefix))
                .collect();
            let (roles, more) = page.apply(roles);
            // ListRoles leaves out tags and RoleLastUsed (ListRoleTags/GetRole give them).
            let members: String = roles
                .iter()
                .map(|r| format!("<member>{}</member>", role_fields_xml(r)))
                .collect();
            Ok(format!("<Roles>{members}</Roles>{more}"))
        }
        Action::ListRoleTags => {
            let name = p.role_name()?;
            check(&format!("role {name}"))?;
            let page = p.page()?;
            let role = st
                .role(name)
                .ok_or_else(|| IamError::role_not_found(name))?;
            let (tags, more) = page.apply(role.tags);
            Ok(format!("<Tags>{}</Tags>{}", tags_members(&tags), more))
        }
        Action::ListRolePolicies => {
            let name = p.role_name()?;
            check(&format!("role {name}"))?;
            let page = p.page()?;
            let role = st
                .role(name)
                .ok_or_else(|| IamError::role_not_found(name))?;
            let (names, more) = page.apply(role.inline_policies.into_keys().collect());
            let members: String = names
                .iter()
                .map(|n| format!("<member>{}</member>", xml_escape(n)))
                .collect();
            Ok(format!("<PolicyNames>{members}</PolicyNames>{more}"))
        }
        Action::GetRolePolicy => {
            let name = p.role_name()?;
            let policy = p.policy_name()?;
            check(&format!("role {name}"))?;
            let role = st
                .role(name)
                .ok_or_else(|| IamError::role_not_found(name))?;
            let doc = role
                .inline_policies
                .get(policy)
                .ok_or_else(|| IamError::role_policy_not_found(policy))?;
            Ok(format!(
                "<RoleName>{}</RoleName><PolicyName>{}</PolicyName><PolicyDocument>{}</PolicyDocument>",
                xml_escape(name),
                xml_escape(policy),
                encode_policy_document(doc)
            ))
        }
        Action::ListAttachedRolePolicies => {
            let name = p.role_name()?;
            check(&format!("role {name}"))?;
            let page = p.page()?;
            let prefix = p.get("PathPrefix").unwrap_or("/");
            let role = st
                .role(name)
                .ok_or_else(|| IamError::role_not_found(name))?;
            let attached: Vec<(String, String)> = role
                .attached_policies
                .iter()
                .filter_map(|arn| {
                    let policy = st.policy(arn);
                    let path = policy
                        .as_ref()
                        .map(|p| p.path.clone())
                        .unwrap_or_else(|| "/".into());
                    path.starts_with(prefix).then(|| {
                        let name = policy
                            .map(|p| p.name)
                            .unwrap_or_else(|| arn.rsplit('/').next().unwrap_or(arn).to_string());
                        (name, arn.clone())
                    })
                })
                .collect();
            let (page, more) = page.apply(attached);
            let members: String = page
                .iter()
                .map(|(n, a)| {
                    format!(
                        "<member><PolicyName>{}</PolicyName><PolicyArn>{}</PolicyArn></member>",
                        xml_escape(n),
                        xml_escape(a)
                    )
                })
                .collect();
            Ok(format!(
                "<AttachedPolicies>{members}</AttachedPolicies>{more}"
            ))
        }
        Action::GetPolicy => {
            let arn = p.arn("PolicyArn", "policyArn")?;
            check(arn)?;
            let policy = st
                .policy(arn)
                .ok_or_else(|| IamError::policy_not_found(arn))?;
            let count = st
                .roles()
                .iter()
                .filter(|r| r.attached_policies.iter().any(|a| a == arn))
                .count();
            Ok(format!("<Policy>{}</Policy>", policy_xml(&policy, count)))
        }
        Action::GetPolicyVersion => {
            let arn = p.arn("PolicyArn", "policyArn")?;
            let version = p.required("VersionId", "versionId")?;
            check(arn)?;
            let policy = st
                .policy(arn)
                .ok_or_else(|| IamError::policy_not_found(arn))?;
            let v = policy.versions.get(version).ok_or_else(|| {
                // [inferred] wording.
                IamError::NoSuchEntity(format!(
                    "Policy {arn} version {version} does not exist or is not attachable."
                ))
            })?;
            Ok(format!(
                "<PolicyVersion><Document>{}</Document><VersionId>{}</VersionId>\
                 <IsDefaultVersion>{}</IsDefaultVersion><CreateDate>{}</CreateDate></PolicyVersion>",
                encode_policy_document(&v.document),
                xml_escape(&v.id),
                v.id == policy.default_version_id,
                iso8601(v.created_at)
            ))
        }
        Action::ListOpenIdConnectProviders => {
            check(&format!("arn:aws:iam::{MOCK_ACCOUNT}:oidc-provider/*"))?;
            let members: String = st
                .oidc_providers()
                .iter()
                .map(|o| format!("<member><Arn>{}</Arn></member>", xml_escape(&o.arn)))
                .collect();
            Ok(format!(
                "<OpenIDConnectProviderList>{members}</OpenIDConnectProviderList>"
            ))
        }
        Action::GetOpenIdConnectProvider => {
            let arn = p.arn("OpenIDConnectProviderArn", "openIDConnectProviderArn")?;
            check(arn)?;
            let o = st
                .oidc_providers()
                .into_iter()
                .find(|o| o.arn == arn)
                .ok_or_else(|| {
                    // [inferred] IAM's wording as the AWS CLI shows it.
                    IamError::NoSuchEntity(format!(
                        "OpenIDConnect Provider not found for arn {arn}"
                    ))
                })?;
            let members = |items: &[String]| -> String {
                items
                    .iter()
                    .map(|i| format!("<member>{}</member>", xml_escape(i)))
                    .collect()
            };
            Ok(format!(
                "<ClientIDList>{}</ClientIDList><ThumbprintList>{}</ThumbprintList>\
                 <Url>{}</Url><CreateDate>{}</CreateDate><Tags>{}</Tags>",
                members(&o.client_ids),
                members(&o.thumbprints),
                xml_escape(&o.url),
                iso8601(o.created_at),
                tags_members(&o.tags)
            ))
        }
        Action::CreateRole => {
            let name = p.role_name()?;
            let doc = p.required("AssumeRolePolicyDocument", "assumeRolePolicyDocument")?;
            check(&format!("role {name}"))?;
            check_policy_json(doc)?;
            let path = p.get("Path").unwrap_or("/");
            if !(path == "/" || (path.starts_with('/') && path.ends_with('/') && path.len() > 1)) {
                return Err(IamError::validation(&format!(
                    "Value '{path}' at 'path' failed to satisfy constraint: Member must satisfy \
                     regular expression pattern: (\\u002F)|(\\u002F[\\u0021-\\u007E]+\\u002F)"
                )));
            }
            let tags = p.tags()?;
            if st.role(name).is_some() {
                return Err(IamError::EntityAlreadyExists(format!(
                    "Role with name {name} already exists."
                )));
            }
            let mut role = Role::new(name, doc, st.clock.now());
            role.path = path.to_string();
            role.arn = format!("arn:aws:iam::{MOCK_ACCOUNT}:role{}{name}", path);
            role.description = p.get("Description").map(str::to_string);
            if let Some(d) = p.get("MaxSessionDuration") {
                role.max_session_duration = d
                    .parse()
                    .ok()
                    .filter(|d| (3600..=43200).contains(d))
                    .ok_or_else(|| {
                    IamError::validation(&format!(
                        "Value '{d}' at 'maxSessionDuration' failed to satisfy constraint: \
                             Member must have value less than or equal to 43200"
                    ))
                })?;
            }
            role.tags = tags;
            st.put_role(role.clone());
            Ok(format!("<Role>{}</Role>", role_xml(&role)))
        }
        Action::DeleteRole => {
            let name = p.role_name()?;
            check(&format!("role {name}"))?;
            let role = st
                .role(name)
                .ok_or_else(|| IamError::role_not_found(name))?;
            if !role.attached_policies.is_empty() {
                return Err(IamError::DeleteConflict(
                    "Cannot delete entity, must detach all policies first.".to_string(),
                ));
            }
            if !role.inline_policies.is_empty() {
                return Err(IamError::DeleteConflict(
                    "Cannot delete entity, must delete policies first.".to_string(),
                ));
            }
            st.remove_role(name);
            Ok(String::new())
        }
        Action::PutRolePolicy => {
            let name = p.role_name()?;
            let policy = p.policy_name()?;
            let doc = p.required("PolicyDocument", "policyDocument")?;
            check(&format!("role {name}"))?;
            check_policy_json(doc)?;
            st.update_role(name, |r| {
                r.inline_policies
                    .insert(policy.to_string(), doc.to_string())
            })
            .ok_or_else(|| IamError::role_not_found(name))?;
            Ok(String::new())
        }
        Action::DeleteRolePolicy => {
            let name = p.role_name()?;
            let policy = p.policy_name()?;
            check(&format!("role {name}"))?;
            st.update_role(name, |r| r.inline_policies.remove(policy))
                .ok_or_else(|| IamError::role_not_found(name))?
                .ok_or_else(|| IamError::role_policy_not_found(policy))?;
            Ok(String::new())
        }
        Action::AttachRolePolicy => {
            let name = p.role_name()?;
            let arn = p.arn("PolicyArn", "policyArn")?;
            check(&format!("role {name}"))?;
            if st.role(name).is_none() {
                return Err(IamError::role_not_found(name));
            }
            if st.policy(arn).is_none() {
                return Err(IamError::policy_not_found(arn));
            }
            st.update_role(name, |r| {
                if !r.attached_policies.iter().any(|a| a == arn) {
                    r.attached_policies.push(arn.to_string());
                }
            });
            Ok(String::new())
        }
        Action::DetachRolePolicy => {
            let name = p.role_name()?;
            let arn = p.arn("PolicyArn", "policyArn")?;
            check(&format!("role {name}"))?;
            let found = st
                .update_role(name, |r| {
                    let before = r.attached_policies.len();
                    r.attached_policies.retain(|a| a != arn);
                    before != r.attached_policies.len()
                })
                .ok_or_else(|| IamError::role_not_found(name))?;
            if !found {
                // [inferred] wording.
                return Err(IamError::NoSuchEntity(format!(
                    "Policy {arn} was not found."
                )));
            }
            Ok(String::new())
        }
        Action::TagRole => {
            let name = p.role_name()?;
            let tags = p.tags()?;
            check(&format!("role {name}"))?;
            if tags.is_empty() {
                return Err(IamError::validation(
                    "Value null at 'tags' failed to satisfy constraint: Member must not be null",
                ));
            }
            st.update_role(name, |r| {
                for t in tags {
                    match r.tags.iter_mut().find(|x| x.key == t.key) {
                        Some(x) => x.value = t.value,
                        None => r.tags.push(t),
                    }
                }
                if r.tags.len() > MAX_TAGS {
                    Err(IamError::LimitExceeded(format!(
                        "Cannot exceed quota for TagsPerRole: {MAX_TAGS}."
                    )))
                } else {
                    Ok(())
                }
            })
            .ok_or_else(|| IamError::role_not_found(name))??;
            Ok(String::new())
        }
    }
}

// ---------------------------------------------------------------------------------------
// Parameters

struct Params(query_protocol::Params);

struct Page {
    max: usize,
    offset: usize,
}

impl Page {
    /// The page and the `<IsTruncated>`/`<Marker>` elements that follow the list.
    fn apply<T>(&self, items: Vec<T>) -> (Vec<T>, String) {
        let total = items.len();
        let page: Vec<T> = items.into_iter().skip(self.offset).take(self.max).collect();
        let end = self.offset + page.len();
        let more = if end < total {
            format!(
                "<IsTruncated>true</IsTruncated><Marker>{}</Marker>",
                hex::encode(format!("iam-offset:{end}"))
            )
        } else {
            "<IsTruncated>false</IsTruncated>".to_string()
        };
        (page, more)
    }
}

impl Params {
    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name)
    }

    /// A required parameter; `member` is the model's camelCase name used in the message.
    fn required(&self, name: &str, member: &str) -> Result<&str, IamError> {
        self.get(name).ok_or_else(|| {
            IamError::validation(&format!(
                "Value null at '{member}' failed to satisfy constraint: Member must not be null"
            ))
        })
    }

    fn named(&self, name: &str, member: &str, max: usize) -> Result<&str, IamError> {
        let v = self.required(name, member)?;
        let ok_chars = v
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c));
        if v.is_empty() || v.chars().count() > max || !ok_chars {
            return Err(IamError::validation(&format!(
                "Value '{v}' at '{member}' failed to satisfy constraint: Member must satisfy \
                 regular expression pattern: [\\w+=,.@-]+"
            )));
        }
        Ok(v)
    }

    fn role_name(&self) -> Result<&str, IamError> {
        self.named("RoleName", "roleName", 64)
    }

    fn policy_name(&self) -> Result<&str, IamError> {
        self.named("PolicyName", "policyName", 128)
    }

    /// An ARN parameter: at least 20 characters (model), and shaped like an ARN.
    fn arn(&self, name: &str, member: &str) -> Result<&str, IamError> {
        let v = self.required(name, member)?;
        if v.len() < 20 {
            return Err(IamError::validation(&format!(
                "Value '{v}' at '{member}' failed to satisfy constraint: Member must have length \
                 greater than or equal to 20"
            )));
        }
        if v.splitn(6, ':').count() != 6 || !v.starts_with("arn:") {
            return Err(IamError::InvalidInput(format!("ARN {v} is not valid.")));
        }
        Ok(v)
    }

    /// `Tags.member.N.Key` / `Tags.member.N.Value`, in N order.
    fn tags(&self) -> Result<Vec<Tag>, IamError> {
        let mut by_index: BTreeMap<u32, (Option<String>, Option<String>)> = BTreeMap::new();
        for (k, v) in self.0.pairs() {
            let Some(rest) = k.strip_prefix("Tags.member.") else {
                continue;
            };
            let Some((n, field)) = rest.split_once('.') else {
                continue;
            };
            let Ok(n) = n.parse::<u32>() else { continue };
            let e = by_index.entry(n).or_default();
            match field {
                "Key" => e.0 = Some(v.clone()),
                "Value" => e.1 = Some(v.clone()),
                _ => {}
            }
        }
        by_index
            .into_values()
            .map(|(k, v)| match (k, v) {
                (Some(key), Some(value)) => Ok(Tag { key, value }),
                _ => Err(IamError::validation(
                    "Value null at 'tags.member.key' failed to satisfy constraint: Member must not be null",
                )),
            })
            .collect()
    }

    /// `MaxItems` (1-1000) and `Marker` (an offset this mock handed out).
    fn page(&self) -> Result<Page, IamError> {
        let max = match self.get("MaxItems") {
            None => DEFAULT_MAX_ITEMS,
            Some(raw) => raw.parse().ok().filter(|n| (1..=1000).contains(n)).ok_or_else(|| {
                IamError::validation(&format!(
                    "Value '{raw}' at 'maxItems' failed to satisfy constraint: Member must have \
                     value between 1 and 1000"
                ))
            })?,
        };
        let offset = match self.get("Marker") {
            None => 0,
            Some(m) => hex::decode(m)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .and_then(|s| s.strip_prefix("iam-offset:").and_then(|n| n.parse().ok()))
                // [inferred] wording.
                .ok_or_else(|| IamError::InvalidInput("Invalid Marker.".to_string()))?,
        };
        Ok(Page { max, offset })
    }
}

fn check_policy_json(doc: &str) -> Result<(), IamError> {
    match serde_json::from_str::<serde_json::Value>(doc) {
        Ok(v) if v.is_object() => Ok(()),
        // IAM's text for a document that is not JSON.
        _ => Err(IamError::MalformedPolicyDocument(
            "This policy contains invalid Json".to_string(),
        )),
    }
}

// ---------------------------------------------------------------------------------------
// XML

fn role_xml(r: &Role) -> String {
    let mut s = role_fields_xml(r);
    s.push_str("<RoleLastUsed/>");
    if !r.tags.is_empty() {
        s.push_str(&format!("<Tags>{}</Tags>", tags_members(&r.tags)));
    }
    s
}

/// A role's fields as every role answer has them (ListRoles stops here).
fn role_fields_xml(r: &Role) -> String {
    let mut s = format!(
        "<Path>{}</Path><AssumeRolePolicyDocument>{}</AssumeRolePolicyDocument>\
         <MaxSessionDuration>{}</MaxSessionDuration><RoleId>{}</RoleId>\
         <RoleName>{}</RoleName><Arn>{}</Arn><CreateDate>{}</CreateDate>",
        xml_escape(&r.path),
        encode_policy_document(&r.trust_policy),
        r.max_session_duration,
        xml_escape(&r.id),
        xml_escape(&r.name),
        xml_escape(&r.arn),
        iso8601(r.created_at)
    );
    if let Some(d) = &r.description {
        s.push_str(&format!("<Description>{}</Description>", xml_escape(d)));
    }
    s
}

fn policy_xml(p: &ManagedPolicy, attachments: usize) -> String {
    let mut s = format!(
        "<PolicyName>{}</PolicyName><DefaultVersionId>{}</DefaultVersionId><PolicyId>{}</PolicyId>\
         <Path>{}</Path><Arn>{}</Arn><AttachmentCount>{attachments}</AttachmentCount>\
         <PermissionsBoundaryUsageCount>0</PermissionsBoundaryUsageCount>\
         <IsAttachable>true</IsAttachable><CreateDate>{}</CreateDate><UpdateDate>{}</UpdateDate>",
        xml_escape(&p.name),
        xml_escape(&p.default_version_id),
        xml_escape(&p.id),
        xml_escape(&p.path),
        xml_escape(&p.arn),
        iso8601(p.created_at),
        iso8601(p.updated_at)
    );
    if let Some(d) = &p.description {
        s.push_str(&format!("<Description>{}</Description>", xml_escape(d)));
    }
    s
}

fn tags_members(tags: &[Tag]) -> String {
    tags.iter()
        .map(|t| {
            format!(
                "<member><Key>{}</Key><Value>{}</Value></member>",
                xml_escape(&t.key),
                xml_escape(&t.value)
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Errors

/// Every refusal of the mock IAM, written as IAM's `<ErrorResponse>` (model error codes
/// and statuses).
#[derive(Debug, thiserror::Error)]
pub enum IamError {
    /// What the query protocol's front end refuses.
    #[error(transparent)]
    Refusal(#[from] Refusal),
    /// 403 `AccessDenied`.
    #[error(transparent)]
    AccessDenied(#[from] AccessDenied),
    /// 404 `NoSuchEntity`.
    #[error("no such entity: {0}")]
    NoSuchEntity(String),
    /// 409 `EntityAlreadyExists`.
    #[error("entity already exists: {0}")]
    EntityAlreadyExists(String),
    /// 409 `DeleteConflict`.
    #[error("delete conflict: {0}")]
    DeleteConflict(String),
    /// 409 `LimitExceeded`.
    #[error("limit exceeded: {0}")]
    LimitExceeded(String),
    /// 400 `MalformedPolicyDocument`.
    #[error("malformed policy document: {0}")]
    MalformedPolicyDocument(String),
    /// 400 `InvalidInput`.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// 400 `ValidationError` (the common query-protocol constraint error).
    #[error("validation failed: {0}")]
    Validation(String),
}

impl IamError {
    pub fn role_not_found(name: &str) -> Self {
        Self::NoSuchEntity(format!("The role with name {name} cannot be found."))
    }

    fn role_policy_not_found(name: &str) -> Self {
        Self::NoSuchEntity(format!("The role policy with name {name} cannot be found."))
    }

    fn policy_not_found(arn: &str) -> Self {
        Self::NoSuchEntity(format!("Policy {arn} does not exist or is not attachable."))
    }

    fn validation(detail: &str) -> Self {
        Self::Validation(format!("1 validation error detected: {detail}"))
    }

    fn status_code_message(&self) -> (StatusCode, &'static str, String) {
        match self {
            Self::Refusal(r) => r.status_code_message(),
            Self::AccessDenied(d) => d.status_code_message(),
            Self::NoSuchEntity(m) => (StatusCode::NOT_FOUND, "NoSuchEntity", m.clone()),
            Self::EntityAlreadyExists(m) => {
                (StatusCode::CONFLICT, "EntityAlreadyExists", m.clone())
            }
            Self::DeleteConflict(m) => (StatusCode::CONFLICT, "DeleteConflict", m.clone()),
            Self::LimitExceeded(m) => (StatusCode::CONFLICT, "LimitExceeded", m.clone()),
            Self::MalformedPolicyDocument(m) => (
                StatusCode::BAD_REQUEST,
                "MalformedPolicyDocument",
                m.clone(),
            ),
            Self::InvalidInput(m) => (StatusCode::BAD_REQUEST, "InvalidInput", m.clone()),
            Self::Validation(m) => (StatusCode::BAD_REQUEST, "ValidationError", m.clone()),
        }
    }
}

impl IntoResponse for IamError {
    fn into_response(self) -> Response {
        let (status, code, message) = self.status_code_message();
        IAM.error_response(status, code, &message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sigv4;
    use axum::body::Body;
    use tower::ServiceExt;

    const XMLNS: &str = IAM.xmlns;

    fn state() -> (Arc<IamState>, Identity) {
        let (ids, user) = Identities::with_default_user();
        let st = IamState::new(
            Arc::new(ids),
            Arc::new(Clock::default()),
            Duration::from_secs(300),
        );
        st.seed_healthy_irsa(
            &ClusterSeed::default(),
            "us-east-1",
            "arn:aws:aps:us-east-1:111122223333:workspace/ws-1",
        );
        (Arc::new(st), user)
    }

    async fn call(st: &Arc<IamState>, user: &Identity, body: &str) -> (StatusCode, String) {
        let mut req = http::Request::builder()
            .method("POST")
            .uri("http://iam.local/")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.as_bytes().to_vec())
            .unwrap();
        sigv4::sign_as_client(&mut req, user, IAM_REGION, "iam", SystemTime::now()).unwrap();
        let resp = router(st.clone())
            .oneshot(req.map(Body::from))
            .await
            .unwrap();
        let status = resp.status();
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[test]
    fn documents_are_encoded_like_iam() {
        assert_eq!(
            encode_policy_document(r#"{"Version": "2012-10-17", "a.b_c~": "*"}"#),
            "%7B%22Version%22%3A%20%222012-10-17%22%2C%20%22a.b_c~%22%3A%20%22%2A%22%7D"
        );
    }

    #[tokio::test]
    async fn missing_role_is_no_such_entity_in_iam_xml() {
        let (st, user) = state();
        let (status, body) = call(
            &st,
            &user,
            "Action=GetRole&Version=2010-05-08&RoleName=nope",
        )
        .await;
        assert_eq!(status, 404);
        assert!(body.starts_with(&format!(
            "<ErrorResponse xmlns=\"{XMLNS}\"><Error><Type>Sender</Type><Code>NoSuchEntity</Code>\
             <Message>The role with name nope cannot be found.</Message></Error><RequestId>"
        )), "{body}");
    }

    #[tokio::test]
    async fn write_calls_answer_metadata_only() {
        let (st, user) = state();
        let (status, body) = call(
            &st,
            &user,
            "Action=PutRolePolicy&Version=2010-05-08&RoleName=pipecheck-adot-collector&PolicyName=x&PolicyDocument=%7B%7D",
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert!(
            body.starts_with(&format!(
                "<PutRolePolicyResponse xmlns=\"{XMLNS}\"><ResponseMetadata>"
            )),
            "{body}"
        );
        let (status, body) = call(
            &st,
            &user,
            "Action=PutRolePolicy&Version=2010-05-08&RoleName=pipecheck-adot-collector&PolicyName=x&PolicyDocument=nope",
        )
        .await;
        assert_eq!(status, 400);
        assert!(
            body.contains("<Code>MalformedPolicyDocument</Code>"),
            "{body}"
        );
        let (status, body) = call(
            &st,
            &user,
            "Action=DeleteRole&Version=2010-05-08&RoleName=pipecheck-adot-collector",
        )
        .await;
        assert_eq!(status, 409);
        assert!(body.contains("must detach all policies first"), "{body}");
    }

    #[tokio::test]
    async fn missing_parameter_is_a_validation_error() {
        let (st, user) = state();
        let (status, body) = call(&st, &user, "Action=GetRole&Version=2010-05-08").await;
        assert_eq!(status, 400);
        assert!(body.contains("<Code>ValidationError</Code><Message>1 validation error detected: Value null at &apos;roleName&apos; failed to satisfy constraint: Member must not be null</Message>"), "{body}");
    }

    #[test]
    fn seed_exposes_trust_policy_and_permissions() {
        let (st, _) = state();
        let seed = ClusterSeed::default();
        let role = st.role_by_arn(&seed.role_arn()).unwrap();
        let trust: serde_json::Value = serde_json::from_str(&role.trust_policy).unwrap();
        let cond = &trust["Statement"][0]["Condition"]["StringEquals"];
        assert_eq!(
            cond["oidc.eks.us-east-1.amazonaws.com/id/5C2F4E9A1B7D4E3F8A6C0D2E4F6A8B0C:sub"],
            "system:serviceaccount:adot-col:adot-collector"
        );
        assert!(
            st.oidc_provider_for_issuer(&seed.oidc_issuer("us-east-1"))
                .is_some()
        );
        let docs = st.role_policy_documents(&seed.role_name).unwrap();
        assert_eq!(docs.len(), 1);
        assert!(docs[0].1.contains("aps:RemoteWrite"));
    }
}
