//! Mock EKS Pod Identity: the pod identity associations of a cluster (rest-json, model
//! `eks/2017-11-01`, the shapes of `aws-sdk-eks`'s `PodIdentityAssociation` and
//! `PodIdentityAssociationSummary`) and the `eks-pod-identity-agent` add-on's catalog
//! entry. `eks.rs` routes these paths to here and keeps the state in `EksState`.
//!
//! | operation | HTTP |
//! |---|---|
//! | CreatePodIdentityAssociation | `POST /clusters/{name}/pod-identity-associations` |
//! | ListPodIdentityAssociations | `GET /clusters/{name}/pod-identity-associations?namespace=&serviceAccount=&maxResults=&nextToken=` |
//! | DescribePodIdentityAssociation | `GET /clusters/{name}/pod-identity-associations/{associationId}` |
//! | DeletePodIdentityAssociation | `DELETE /clusters/{name}/pod-identity-associations/{associationId}` |
//!
//! What AWS does that this follows (docs/wire/eks-pod-identity.md): one association per
//! cluster, namespace and service account (a second is `ResourceInUseException`, 409);
//! the list filters on `namespace` and `serviceAccount` and answers summaries without the
//! role; Describe and Delete answer the whole association. The association ARN is
//! `arn:aws:eks:<region>:<account>:podidentityassociation/<cluster>/<id>`, the id `a-`
//! and 17 lowercase letters and digits.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::eks::{AddonCatalogEntry, AddonVersionSpec, EksError, EksState};
use crate::identity::MOCK_ACCOUNT;
use crate::restjson::{self, ErrorResponse, OffsetToken, Page, authorize, with_next_token};

/// The add-on that runs the EKS Pod Identity Agent DaemonSet (`kube-system`).
pub(crate) const AGENT_ADDON: &str = "eks-pod-identity-agent";

/// Page tokens of the association list: the hex of the offset of the next item.
const PAGE_TOKEN: OffsetToken = OffsetToken("eks-pia-offset:");

/// One pod identity association.
#[derive(Clone, Debug, PartialEq)]
pub struct PodIdentityAssociation {
    pub cluster_name: String,
    pub namespace: String,
    pub service_account: String,
    pub role_arn: String,
    /// The role the pods finally get, assumed with `role_arn`'s session (cross-account).
    pub target_role_arn: Option<String>,
    pub association_id: String,
    pub association_arn: String,
    pub disable_session_tags: bool,
    pub tags: BTreeMap<String, String>,
    pub created_at: SystemTime,
    pub modified_at: SystemTime,
}

/// The associations of every cluster of the endpoint.
#[derive(Debug, Default)]
pub struct PodIdentityAssociations {
    items: RwLock<Vec<PodIdentityAssociation>>,
}

/// A fresh association id: `a-` and 17 lowercase letters and digits.
fn new_association_id() -> String {
    let hex = uuid::Uuid::new_v4().simple().to_string();
    format!("a-{}", &hex[..17])
}

impl EksState {
    /// Creates an association as CreatePodIdentityAssociation does; None when the cluster
    /// does not exist or the service account already has one.
    pub fn create_pod_identity_association(
        &self,
        cluster: &str,
        namespace: &str,
        service_account: &str,
        role_arn: &str,
    ) -> Option<PodIdentityAssociation> {
        self.cluster(cluster)?;
        let now = self.clock.now();
        let mut items = self.pod_identity.items.write().unwrap();
        if items.iter().any(|a| {
            a.cluster_name == cluster
                && a.namespace == namespace
                && a.service_account == service_account
        }) {
            return None;
        }
        let id = new_association_id();
        let a = PodIdentityAssociation {
            cluster_name: cluster.to_string(),
            namespace: namespace.to_string(),
            service_account: service_account.to_string(),
            role_arn: role_arn.to_string(),
            target_role_arn: None,
            association_arn: format!(
                "arn:aws:eks:{}:{MOCK_ACCOUNT}:podidentityassociation/{cluster}/{id}",
                self.region
            ),
            association_id: id,
            disable_session_tags: false,
            tags: BTreeMap::new(),
            created_at: now,
            modified_at: now,
        };
        items.push(a.clone());
        Some(a)
    }

    /// The associations of `cluster`, in creation order.
    pub fn pod_identity_associations(&self, cluster: &str) -> Vec<PodIdentityAssociation> {
        self.pod_identity
            .items
            .read()
            .unwrap()
            .iter()
            .filter(|a| a.cluster_name == cluster)
            .cloned()
            .collect()
    }

    /// The association of a service account, if any: what the pod identity webhook looks
    /// up when a pod is created.
    pub(crate) fn pod_identity_association_for(
        &self,
        cluster: &str,
        namespace: &str,
        service_account: &str,
    ) -> Option<PodIdentityAssociation> {
        self.pod_identity_associations(cluster)
            .into_iter()
            .find(|a| a.namespace == namespace && a.service_account == service_account)
    }

    /// Applies `f` to an association (for faults: its role, its creation time).
    pub fn update_pod_identity_association<R>(
        &self,
        association_id: &str,
        f: impl FnOnce(&mut PodIdentityAssociation) -> R,
    ) -> Option<R> {
        self.pod_identity
            .items
            .write()
            .unwrap()
            .iter_mut()
            .find(|a| a.association_id == association_id)
            .map(f)
    }

    /// Removes an association of `cluster`, as DeletePodIdentityAssociation does.
    pub(crate) fn remove_pod_identity_association(
        &self,
        cluster: &str,
        association_id: &str,
    ) -> Option<PodIdentityAssociation> {
        let mut items = self.pod_identity.items.write().unwrap();
        let i = items
            .iter()
            .position(|a| a.cluster_name == cluster && a.association_id == association_id)?;
        Some(items.remove(i))
    }
}

/// The catalog entry of the agent add-on: versions and the Kubernetes versions each
/// supports.
///
/// [inferred] The ranges are settings in the pattern of the EKS documentation (the agent
/// needs Kubernetes 1.24 or later); they are not copied from a real
/// `DescribeAddonVersions` answer.
pub fn agent_catalog_entry() -> AddonCatalogEntry {
    let v = |version: &str, from: u32, to: u32| AddonVersionSpec {
        version: version.to_string(),
        cluster_versions: (from..=to).map(|m| format!("1.{m}")).collect(),
        requires_iam_permissions: false,
    };
    AddonCatalogEntry {
        name: AGENT_ADDON.to_string(),
        addon_type: "security".to_string(),
        publisher: "eks".to_string(),
        owner: "aws".to_string(),
        default_namespace: Some("kube-system".to_string()),
        versions: vec![
            v("v1.3.8-eksbuild.2", 25, 36),
            v("v1.3.4-eksbuild.1", 24, 33),
            v("v1.0.0-eksbuild.1", 24, 29),
        ],
    }
}

// ---------------------------------------------------------------------------------------
// Router

/// The pod identity association routes; `eks::router` merges them.
pub(crate) fn routes() -> Router<Arc<EksState>> {
    Router::new()
        .route(
            "/clusters/{name}/pod-identity-associations",
            get(list_associations).post(create_association),
        )
        .route(
            "/clusters/{name}/pod-identity-associations/{id}",
            get(describe_association).delete(delete_association),
        )
}

fn cluster_arn(st: &EksState, name: &str) -> String {
    format!("arn:aws:eks:{}:{MOCK_ACCOUNT}:cluster/{name}", st.region)
}

fn association_arn(st: &EksState, cluster: &str, id: &str) -> String {
    format!(
        "arn:aws:eks:{}:{MOCK_ACCOUNT}:podidentityassociation/{cluster}/{id}",
        st.region
    )
}

fn not_found(message: String, cluster: &str) -> EksError {
    EksError::ResourceNotFound {
        message,
        cluster_name: Some(cluster.to_string()),
        addon_name: None,
    }
}

/// The association of `cluster` with `id`, or EKS's 404.
fn find(st: &EksState, cluster: &str, id: &str) -> Result<PodIdentityAssociation, EksError> {
    st.cluster(cluster)
        .ok_or_else(|| EksError::cluster_not_found(cluster))?;
    st.pod_identity_associations(cluster)
        .into_iter()
        .find(|a| a.association_id == id)
        // [inferred] wording.
        .ok_or_else(|| {
            not_found(
                format!("No Pod Identity Association found with ID: {id}"),
                cluster,
            )
        })
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateInput {
    namespace: Option<String>,
    service_account: Option<String>,
    role_arn: Option<String>,
    target_role_arn: Option<String>,
    disable_session_tags: Option<bool>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    /// Idempotency token; accepted, not used.
    #[allow(dead_code)]
    client_request_token: Option<String>,
}

/// `POST /clusters/{name}/pod-identity-associations` -> `{association: {…}}`.
async fn create_association(
    State(st): State<Arc<EksState>>,
    Path(name): Path<String>,
    req: Request,
) -> Result<Response, Response> {
    let fail = |e: EksError| axum::response::IntoResponse::into_response(e);
    let call = authorize(
        &*st,
        req,
        "eks:CreatePodIdentityAssociation",
        &cluster_arn(&st, &name),
    )
    .await
    .map_err(fail)?;
    let input: CreateInput = restjson::parse_json(&call.body)
        .map_err(|v| {
            EksError::InvalidParameter(
                v.body()["message"]
                    .as_str()
                    .unwrap_or("invalid body")
                    .to_string(),
            )
        })
        .map_err(fail)?;
    let (Some(ns), Some(sa), Some(role)) = (input.namespace, input.service_account, input.role_arn)
    else {
        // [inferred] wording; the SDK checks required members before sending.
        return Err(fail(EksError::InvalidParameter(
            "namespace, serviceAccount and roleArn are required".to_string(),
        )));
    };
    if !role.starts_with("arn:") || !role.contains(":role/") {
        return Err(fail(EksError::InvalidParameter(format!(
            "The roleArn {role} is not a valid IAM role ARN."
        ))));
    }
    st.cluster(&name)
        .ok_or_else(|| EksError::cluster_not_found(&name))
        .map_err(fail)?;
    if let Some(existing) = st.pod_identity_association_for(&name, &ns, &sa) {
        let body = json!({
            // [inferred] wording.
            "message": format!("Association already exists: {}", existing.association_id),
            "clusterName": name,
        });
        return Err(axum::response::IntoResponse::into_response(
            ErrorResponse::json(StatusCode::CONFLICT, "ResourceInUseException", body),
        ));
    }
    let Some(created) = st.create_pod_identity_association(&name, &ns, &sa, &role) else {
        return Err(fail(EksError::cluster_not_found(&name)));
    };
    let id = created.association_id.clone();
    let a = st
        .update_pod_identity_association(&id, |a| {
            a.target_role_arn = input.target_role_arn;
            a.disable_session_tags = input.disable_session_tags.unwrap_or(false);
            a.tags = input.tags;
            a.clone()
        })
        .unwrap_or(created);
    Ok(restjson::ok(json!({ "association": association_json(&a) })))
}

/// `GET /clusters/{name}/pod-identity-associations` -> `{associations: [summary], nextToken?}`.
async fn list_associations(
    State(st): State<Arc<EksState>>,
    Path(name): Path<String>,
    req: Request,
) -> Result<Response, EksError> {
    let call = authorize(
        &*st,
        req,
        "eks:ListPodIdentityAssociations",
        &cluster_arn(&st, &name),
    )
    .await?;
    let q = call.query();
    let page = page(&q)?;
    st.cluster(&name)
        .ok_or_else(|| EksError::cluster_not_found(&name))?;
    let ns = q.get("namespace");
    let sa = q.get("serviceAccount");
    let items: Vec<Value> = st
        .pod_identity_associations(&name)
        .iter()
        .filter(|a| ns.is_none_or(|n| n == a.namespace))
        .filter(|a| sa.is_none_or(|s| s == a.service_account))
        .map(summary_json)
        .collect();
    let (items, next) = page.apply(items);
    Ok(restjson::ok(with_next_token(
        json!({ "associations": items }),
        next,
    )))
}

/// `GET /clusters/{name}/pod-identity-associations/{id}` -> `{association: {…}}`.
async fn describe_association(
    State(st): State<Arc<EksState>>,
    Path((name, id)): Path<(String, String)>,
    req: Request,
) -> Result<Response, EksError> {
    authorize(
        &*st,
        req,
        "eks:DescribePodIdentityAssociation",
        &association_arn(&st, &name, &id),
    )
    .await?;
    let a = find(&st, &name, &id)?;
    Ok(restjson::ok(json!({ "association": association_json(&a) })))
}

/// `DELETE /clusters/{name}/pod-identity-associations/{id}` -> `{association: {…}}`.
async fn delete_association(
    State(st): State<Arc<EksState>>,
    Path((name, id)): Path<(String, String)>,
    req: Request,
) -> Result<Response, EksError> {
    authorize(
        &*st,
        req,
        "eks:DeletePodIdentityAssociation",
        &association_arn(&st, &name, &id),
    )
    .await?;
    find(&st, &name, &id)?;
    let a = st
        .remove_pod_identity_association(&name, &id)
        .ok_or_else(|| {
            not_found(
                format!("No Pod Identity Association found with ID: {id}"),
                &name,
            )
        })?;
    Ok(restjson::ok(json!({ "association": association_json(&a) })))
}

/// `maxResults` (1-100) and `nextToken`, refused as InvalidParameterException.
fn page(q: &restjson::Query) -> Result<Page, EksError> {
    let max = match q.get("maxResults") {
        None => 100,
        Some(raw) => match raw.parse::<usize>() {
            Ok(n) if (1..=100).contains(&n) => n,
            // [inferred] wording.
            _ => {
                return Err(EksError::InvalidParameter(format!(
                    "maxResults must be between 1 and 100, got {raw}"
                )));
            }
        },
    };
    let offset = match q.get("nextToken") {
        None => 0,
        Some(t) => PAGE_TOKEN
            .decode(t)
            .ok_or_else(|| EksError::InvalidParameter("The nextToken is not valid.".to_string()))?,
    };
    Ok(Page {
        max,
        offset,
        token: PAGE_TOKEN,
    })
}

// ---------------------------------------------------------------------------------------
// JSON shapes

fn epoch_seconds(t: SystemTime) -> f64 {
    let d = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    (d.as_millis() as f64) / 1000.0
}

/// `PodIdentityAssociationSummary`: no role, no times.
fn summary_json(a: &PodIdentityAssociation) -> Value {
    json!({
        "clusterName": a.cluster_name,
        "namespace": a.namespace,
        "serviceAccount": a.service_account,
        "associationArn": a.association_arn,
        "associationId": a.association_id,
    })
}

/// `PodIdentityAssociation`.
fn association_json(a: &PodIdentityAssociation) -> Value {
    let mut v = json!({
        "clusterName": a.cluster_name,
        "namespace": a.namespace,
        "serviceAccount": a.service_account,
        "roleArn": a.role_arn,
        "associationArn": a.association_arn,
        "associationId": a.association_id,
        "tags": a.tags,
        "createdAt": epoch_seconds(a.created_at),
        "modifiedAt": epoch_seconds(a.modified_at),
        "disableSessionTags": a.disable_session_tags,
    });
    if let Some(t) = &a.target_role_arn {
        v["targetRoleArn"] = json!(t);
    }
    v
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::eks::{ClusterSeed, router};
    use crate::identity::Identity;
    use crate::restjson::testing::{self, Answer, REGION};

    fn state() -> (Arc<EksState>, Identity) {
        let (ids, user, clock) = testing::principal();
        let st = EksState::new(REGION, ids, clock, Duration::from_secs(300));
        st.seed_healthy(&ClusterSeed::default(), "https://127.0.0.1:6443", "PEM");
        (Arc::new(st), user)
    }

    async fn send(
        st: &Arc<EksState>,
        user: &Identity,
        method: &str,
        path: &str,
        body: &str,
    ) -> (StatusCode, Value, Option<String>) {
        let req = testing::signed(user, "eks", method, path, body);
        let answer = Answer::send(router(st.clone()), req).await;
        (
            answer.status,
            answer.json(),
            answer.header("x-amzn-errortype"),
        )
    }

    const ROLE: &str = "arn:aws:iam::111122223333:role/pi";

    #[tokio::test]
    async fn create_list_describe_delete() {
        let (st, user) = state();
        let body =
            json!({ "namespace": "adot-col", "serviceAccount": "adot-collector", "roleArn": ROLE })
                .to_string();
        let base = "/clusters/pipecheck/pod-identity-associations";
        let (status, v, _) = send(&st, &user, "POST", base, &body).await;
        assert_eq!(status, 200, "{v}");
        let id = v["association"]["associationId"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(id.starts_with("a-") && id.len() == 19, "{id}");
        assert_eq!(
            v["association"]["associationArn"],
            format!("arn:aws:eks:us-east-1:111122223333:podidentityassociation/pipecheck/{id}")
        );
        // One per service account.
        let (status, _, et) = send(&st, &user, "POST", base, &body).await;
        assert_eq!(status, 409);
        assert_eq!(et.as_deref(), Some("ResourceInUseException"));
        // The list filters and answers summaries without the role.
        let (_, v, _) = send(
            &st,
            &user,
            "GET",
            &format!("{base}?namespace=adot-col&serviceAccount=adot-collector"),
            "",
        )
        .await;
        assert_eq!(v["associations"].as_array().unwrap().len(), 1);
        assert!(v["associations"][0].get("roleArn").is_none());
        let (_, v, _) = send(&st, &user, "GET", &format!("{base}?namespace=other"), "").await;
        assert_eq!(v, json!({ "associations": [] }));
        let (status, v, _) = send(&st, &user, "GET", &format!("{base}/{id}"), "").await;
        assert_eq!(status, 200);
        assert_eq!(v["association"]["roleArn"], ROLE);
        let (status, _, _) = send(&st, &user, "DELETE", &format!("{base}/{id}"), "").await;
        assert_eq!(status, 200);
        let (status, v, et) = send(&st, &user, "GET", &format!("{base}/{id}"), "").await;
        assert_eq!(status, 404);
        assert_eq!(et.as_deref(), Some("ResourceNotFoundException"));
        assert_eq!(v["clusterName"], "pipecheck");
    }

    #[tokio::test]
    async fn unknown_cluster_and_bad_role_are_refused() {
        let (st, user) = state();
        let (status, _, et) = send(
            &st,
            &user,
            "GET",
            "/clusters/nope/pod-identity-associations",
            "",
        )
        .await;
        assert_eq!(status, 404);
        assert_eq!(et.as_deref(), Some("ResourceNotFoundException"));
        let body =
            json!({ "namespace": "n", "serviceAccount": "s", "roleArn": "my-role" }).to_string();
        let (status, _, et) = send(
            &st,
            &user,
            "POST",
            "/clusters/pipecheck/pod-identity-associations",
            &body,
        )
        .await;
        assert_eq!(status, 400);
        assert_eq!(et.as_deref(), Some("InvalidParameterException"));
    }

    #[tokio::test]
    async fn the_agent_is_in_the_catalog() {
        let (st, user) = state();
        let (_, v, _) = send(
            &st,
            &user,
            "GET",
            "/addons/supported-versions?addonName=eks-pod-identity-agent&kubernetesVersion=1.30",
            "",
        )
        .await;
        assert_eq!(v["addons"][0]["addonName"], AGENT_ADDON);
        assert_eq!(
            v["addons"][0]["addonVersions"][0]["addonVersion"],
            "v1.3.8-eksbuild.2"
        );
    }
}
