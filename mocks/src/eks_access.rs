//! EKS access entries (rest-json, model `eks/2017-11-01`): the read calls pipecheck makes
//! to find how an IAM principal (the AMP scraper's role) is known to a cluster's
//! Kubernetes API. State lives beside the clusters (`EksState::access`); `eks.rs` only
//! merges [`routes`].
//!
//! | operation | HTTP |
//! |---|---|
//! | ListAccessEntries | `GET /clusters/{name}/access-entries?associatedPolicyArn=&maxResults=&nextToken=` |
//! | DescribeAccessEntry | `GET /clusters/{name}/access-entries/{principalArn}` |
//! | ListAssociatedAccessPolicies | `GET /clusters/{name}/access-entries/{principalArn}/access-policies` |
//!
//! The principal ARN is one path label, percent-encoded by the SDK (`:` and `/` too).
//! Steps as in `eks.rs`: SigV4 -> IAM action -> validation -> lookup.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::response::Response;
use axum::routing::get;
use serde_json::{Value, json};

use crate::eks::{EksError, EksState};
use crate::identity::MOCK_ACCOUNT;
use crate::restjson::{self, authorize, with_next_token};

/// An EKS access policy associated with an access entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssociatedPolicy {
    /// e.g. `arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy`.
    pub policy_arn: String,
    /// `cluster`, or `namespace` with `namespaces`.
    pub scope_type: String,
    pub namespaces: Vec<String>,
    pub associated_at: SystemTime,
}

/// One access entry of a cluster (model `AccessEntry`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessEntry {
    pub principal_arn: String,
    /// The Kubernetes user the principal is (RBAC subjects name it).
    pub username: String,
    pub kubernetes_groups: Vec<String>,
    /// `STANDARD`, `EC2_LINUX`, `FARGATE_LINUX`, ….
    pub entry_type: String,
    pub arn: String,
    pub created_at: SystemTime,
    pub modified_at: SystemTime,
    pub tags: BTreeMap<String, String>,
    pub policies: Vec<AssociatedPolicy>,
}

impl AccessEntry {
    /// A STANDARD entry for `principal_arn` on `cluster` with this username and groups, no
    /// access policies.
    pub fn standard(
        region: &str,
        cluster: &str,
        principal_arn: &str,
        username: &str,
        groups: &[&str],
        now: SystemTime,
    ) -> Self {
        // `access-entry/<cluster>/role/<account>/<role name>/<id>` [inferred: the suffix].
        let role = principal_arn.rsplit('/').next().unwrap_or(principal_arn);
        let suffix = &uuid::Uuid::new_v4().simple().to_string()[..8];
        Self {
            principal_arn: principal_arn.to_string(),
            username: username.to_string(),
            kubernetes_groups: groups.iter().map(|g| g.to_string()).collect(),
            entry_type: "STANDARD".to_string(),
            arn: format!(
                "arn:aws:eks:{region}:{MOCK_ACCOUNT}:access-entry/{cluster}/role/{MOCK_ACCOUNT}/{role}/{suffix}"
            ),
            created_at: now,
            modified_at: now,
            tags: BTreeMap::new(),
            policies: Vec::new(),
        }
    }
}

/// The access entries of every cluster, keyed by (cluster name, principal ARN).
#[derive(Debug, Default)]
pub struct AccessEntries {
    entries: RwLock<BTreeMap<(String, String), AccessEntry>>,
}

impl AccessEntries {
    /// Adds or replaces the entry of `entry.principal_arn` on `cluster`.
    pub fn put(&self, cluster: &str, entry: AccessEntry) {
        self.entries
            .write()
            .unwrap()
            .insert((cluster.to_string(), entry.principal_arn.clone()), entry);
    }

    pub fn remove(&self, cluster: &str, principal_arn: &str) -> Option<AccessEntry> {
        self.entries
            .write()
            .unwrap()
            .remove(&(cluster.to_string(), principal_arn.to_string()))
    }

    pub fn get(&self, cluster: &str, principal_arn: &str) -> Option<AccessEntry> {
        self.entries
            .read()
            .unwrap()
            .get(&(cluster.to_string(), principal_arn.to_string()))
            .cloned()
    }

    /// The entries of `cluster`, by principal ARN.
    pub fn of_cluster(&self, cluster: &str) -> Vec<AccessEntry> {
        self.entries
            .read()
            .unwrap()
            .iter()
            .filter(|((c, _), _)| c == cluster)
            .map(|(_, e)| e.clone())
            .collect()
    }
}

/// The access-entry routes, merged into the EKS router.
pub fn routes() -> Router<Arc<EksState>> {
    Router::new()
        .route("/clusters/{name}/access-entries", get(list_access_entries))
        .route(
            "/clusters/{name}/access-entries/{principal}",
            get(describe_access_entry),
        )
        .route(
            "/clusters/{name}/access-entries/{principal}/access-policies",
            get(list_associated_access_policies),
        )
}

fn cluster_arn(st: &EksState, name: &str) -> String {
    format!("arn:aws:eks:{}:{MOCK_ACCOUNT}:cluster/{name}", st.region)
}

/// The cluster must exist (404 ResourceNotFoundException, as DescribeCluster says).
fn existing_cluster(st: &EksState, name: &str) -> Result<(), EksError> {
    st.cluster(name)
        .map(|_| ())
        .ok_or_else(|| EksError::cluster_not_found(name))
}

/// The entry, or 404 naming the principal [inferred wording].
fn entry(st: &EksState, name: &str, principal: &str) -> Result<AccessEntry, EksError> {
    existing_cluster(st, name)?;
    st.access
        .get(name, principal)
        .ok_or_else(|| EksError::ResourceNotFound {
            message: format!(
                "The specified principalArn could not be found. You can view your available access entries with 'list-access-entries'. principalArn: {principal}"
            ),
            cluster_name: Some(name.to_string()),
            addon_name: None,
        })
}

/// `GET /clusters/{name}/access-entries` -> `{accessEntries: [principalArn], nextToken?}`;
/// `associatedPolicyArn` keeps the entries that have that policy.
async fn list_access_entries(
    State(st): State<Arc<EksState>>,
    Path(name): Path<String>,
    req: Request,
) -> Result<Response, EksError> {
    let call = authorize(&*st, req, "eks:ListAccessEntries", &cluster_arn(&st, &name)).await?;
    let q = call.query();
    let page = crate::eks::page(&q)?;
    existing_cluster(&st, &name)?;
    let policy = q.get("associatedPolicyArn");
    let arns: Vec<String> = st
        .access
        .of_cluster(&name)
        .into_iter()
        .filter(|e| policy.is_none_or(|p| e.policies.iter().any(|a| a.policy_arn == p)))
        .map(|e| e.principal_arn)
        .collect();
    let (items, next) = page.apply(arns);
    Ok(restjson::ok(with_next_token(
        json!({ "accessEntries": items }),
        next,
    )))
}

/// `GET /clusters/{name}/access-entries/{principalArn}` -> `{accessEntry: {…}}`.
async fn describe_access_entry(
    State(st): State<Arc<EksState>>,
    Path((name, principal)): Path<(String, String)>,
    req: Request,
) -> Result<Response, EksError> {
    let resource = format!(
        "arn:aws:eks:{}:{MOCK_ACCOUNT}:access-entry/{name}/*",
        st.region
    );
    authorize(&*st, req, "eks:DescribeAccessEntry", &resource).await?;
    let e = entry(&st, &name, &principal)?;
    Ok(restjson::ok(
        json!({ "accessEntry": entry_json(&name, &e) }),
    ))
}

/// `GET /clusters/{name}/access-entries/{principalArn}/access-policies` ->
/// `{clusterName, principalArn, associatedAccessPolicies: [...], nextToken?}`.
async fn list_associated_access_policies(
    State(st): State<Arc<EksState>>,
    Path((name, principal)): Path<(String, String)>,
    req: Request,
) -> Result<Response, EksError> {
    let resource = format!(
        "arn:aws:eks:{}:{MOCK_ACCOUNT}:access-entry/{name}/*",
        st.region
    );
    let call = authorize(&*st, req, "eks:ListAssociatedAccessPolicies", &resource).await?;
    let page = crate::eks::page(&call.query())?;
    let e = entry(&st, &name, &principal)?;
    let policies: Vec<Value> = e
        .policies
        .iter()
        .map(|p| {
            let mut scope = json!({ "type": p.scope_type });
            if !p.namespaces.is_empty() {
                scope["namespaces"] = json!(p.namespaces);
            }
            json!({
                "policyArn": p.policy_arn,
                "accessScope": scope,
                "associatedAt": crate::eks::epoch_seconds(p.associated_at),
                "modifiedAt": crate::eks::epoch_seconds(p.associated_at),
            })
        })
        .collect();
    let (items, next) = page.apply(policies);
    Ok(restjson::ok(with_next_token(
        json!({
            "clusterName": name,
            "principalArn": e.principal_arn,
            "associatedAccessPolicies": items,
        }),
        next,
    )))
}

fn entry_json(cluster: &str, e: &AccessEntry) -> Value {
    json!({
        "clusterName": cluster,
        "principalArn": e.principal_arn,
        "kubernetesGroups": e.kubernetes_groups,
        "accessEntryArn": e.arn,
        "createdAt": crate::eks::epoch_seconds(e.created_at),
        "modifiedAt": crate::eks::epoch_seconds(e.modified_at),
        "tags": e.tags,
        "username": e.username,
        "type": e.entry_type,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::eks::ClusterSeed;
    use crate::identity::Identity;
    use crate::restjson::testing::{self, Answer, REGION};

    const ROLE: &str = "arn:aws:iam::111122223333:role/aws-service-role/scraper.aps.amazonaws.com/AWSServiceRoleForAmazonPrometheusScraper_1234abcd-56ef-7";

    fn state() -> (Arc<EksState>, Identity) {
        let (ids, user, clock) = testing::principal();
        let st = EksState::new(REGION, ids, clock, Duration::from_secs(300));
        st.seed_healthy(&ClusterSeed::default(), "https://127.0.0.1:6443", "PEM");
        let now = st.clock.now();
        let mut e =
            AccessEntry::standard(REGION, "pipecheck", ROLE, "aps-collector-user", &[], now);
        e.policies.push(AssociatedPolicy {
            policy_arn: "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy".into(),
            scope_type: "cluster".into(),
            namespaces: vec![],
            associated_at: now,
        });
        st.access.put("pipecheck", e);
        (Arc::new(st), user)
    }

    async fn get(st: &Arc<EksState>, user: &Identity, path: &str) -> (u16, Value) {
        let req = testing::signed(user, "eks", "GET", path, "");
        let app = crate::eks::router(st.clone());
        let a = Answer::send(app, req).await;
        (a.status.as_u16(), a.json())
    }

    fn enc(s: &str) -> String {
        percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
    }

    #[tokio::test]
    async fn list_describe_and_policies() {
        let (st, user) = state();
        let (s, v) = get(&st, &user, "/clusters/pipecheck/access-entries").await;
        assert_eq!((s, v["accessEntries"][0].as_str()), (200, Some(ROLE)));
        let (s, v) = get(
            &st,
            &user,
            &format!("/clusters/pipecheck/access-entries/{}", enc(ROLE)),
        )
        .await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["accessEntry"]["username"], "aps-collector-user");
        assert_eq!(v["accessEntry"]["type"], "STANDARD");
        let (s, v) = get(
            &st,
            &user,
            &format!(
                "/clusters/pipecheck/access-entries/{}/access-policies",
                enc(ROLE)
            ),
        )
        .await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(
            v["associatedAccessPolicies"][0]["accessScope"]["type"],
            "cluster"
        );
        let (_, v) = get(
            &st,
            &user,
            "/clusters/pipecheck/access-entries?associatedPolicyArn=arn%3Aaws%3Aeks%3A%3Aaws%3Acluster-access-policy%2FOther",
        )
        .await;
        assert_eq!(v["accessEntries"], json!([]));
    }

    #[tokio::test]
    async fn unknown_entries_and_clusters_are_404() {
        let (st, user) = state();
        let other = enc("arn:aws:iam::111122223333:role/other");
        let (s, v) = get(
            &st,
            &user,
            &format!("/clusters/pipecheck/access-entries/{other}"),
        )
        .await;
        assert_eq!(s, 404);
        assert!(
            v["message"].as_str().unwrap().contains("principalArn"),
            "{v}"
        );
        let (s, v) = get(&st, &user, "/clusters/nope/access-entries").await;
        assert_eq!((s, v["clusterName"].as_str()), (404, Some("nope")));
    }

    #[tokio::test]
    async fn each_operation_needs_its_action() {
        let (st, user) = state();
        st.identities.update(&user.access_key_id, |i| {
            i.allowed_actions = ["eks:ListAccessEntries".to_string()].into_iter().collect();
        });
        let (s, _) = get(&st, &user, "/clusters/pipecheck/access-entries").await;
        assert_eq!(s, 200);
        let (s, v) = get(
            &st,
            &user,
            &format!("/clusters/pipecheck/access-entries/{}", enc(ROLE)),
        )
        .await;
        assert_eq!(s, 403);
        assert!(
            v["message"]
                .as_str()
                .unwrap()
                .contains("eks:DescribeAccessEntry"),
            "{v}"
        );
    }
}
