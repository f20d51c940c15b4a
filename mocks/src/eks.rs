//! Mock Amazon EKS (rest-json, model `eks/2017-11-01`, SigV4 signing name `eks`): the
//! read calls pipecheck makes about a cluster and its add-ons (aws-wire.md D), enough for
//! the real `aws-sdk-eks` client.
//!
//! | operation | HTTP |
//! |---|---|
//! | DescribeCluster | `GET /clusters/{name}` |
//! | ListClusters | `GET /clusters?maxResults=&nextToken=` |
//! | ListAddons | `GET /clusters/{name}/addons?maxResults=&nextToken=` |
//! | DescribeAddon | `GET /clusters/{name}/addons/{addonName}` |
//! | DescribeAddonVersions | `GET /addons/supported-versions?addonName=&kubernetesVersion=&…` |
//! | Create/List/Describe/DeletePodIdentityAssociation | `/clusters/{name}/pod-identity-associations…` (`eks_pod_identity.rs`) |
//!
//! Every operation runs SigV4 -> IAM action (`Identity::allows`) -> validation -> lookup,
//! as the AMP control plane does. Errors are `{"message", clusterName?, addonName?}` with
//! `x-amzn-ErrorType`, the model's error shapes and status codes.
//!
//! The names shared by the EKS, IAM and Kubernetes seeds live in [`ClusterSeed`], so a
//! healthy default cluster is consistent across the three mocks.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use crate::clock::Clock;
use crate::identity::{Identities, MOCK_ACCOUNT};
use crate::restjson::{
    self, ErrorResponse, FrontEnd, OffsetToken, Page, Refusal, authorize, with_next_token,
};
use crate::sigv4::VerifyFailure;

/// GET requests carry no body; anything larger than this is refused unread.
const MAX_BODY: usize = 1 << 16;
const DEFAULT_MAX_RESULTS: usize = 100;
/// Page tokens: the hex of the offset of the next item.
const PAGE_TOKEN: OffsetToken = OffsetToken("eks-offset:");

// ---------------------------------------------------------------------------------------
// Names shared by the cluster-side seeds

/// The names of the healthy default cluster, in one place: the EKS cluster and its OIDC
/// issuer, the IAM role and policy for IRSA, and the Kubernetes namespace, service account
/// and collector. The EKS, IAM and Kubernetes seeds all read them from here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterSeed {
    pub cluster_name: String,
    /// `major.minor`, e.g. `1.30`: the EKS version, the Kubernetes API's `/version` and the
    /// add-on compatibility key.
    pub kubernetes_version: String,
    /// The 32 hex digits at the end of the OIDC issuer URL.
    pub oidc_id: String,
    /// Namespace the collector runs in.
    pub namespace: String,
    /// ServiceAccount the collector pods run as (annotated with the role ARN).
    pub service_account: String,
    /// Name of the OpenTelemetryCollector resource; the operator names its Deployment
    /// `<name>-collector`.
    pub collector_name: String,
    /// IAM role the service account's annotation names.
    pub role_name: String,
    /// Customer-managed policy attached to the role, allowing `aps:RemoteWrite`.
    pub policy_name: String,
    /// Version of the `adot` add-on installed on the cluster.
    pub addon_version: String,
    /// The node the collector's pods run on, and the EC2 instance behind it
    /// (`spec.providerID`), in the first of `subnet_ids`.
    pub node_name: String,
    pub node_instance_id: String,
    /// The cluster's VPC and subnets (`resourcesVpcConfig`), as mock EC2 describes them.
    pub vpc_id: String,
    pub subnet_ids: Vec<String>,
}

impl Default for ClusterSeed {
    fn default() -> Self {
        Self {
            cluster_name: "pipecheck".to_string(),
            kubernetes_version: "1.30".to_string(),
            // Fixed, so reports and snapshots are stable; real ids are random upper hex.
            oidc_id: "5C2F4E9A1B7D4E3F8A6C0D2E4F6A8B0C".to_string(),
            namespace: "adot-col".to_string(),
            service_account: "adot-collector".to_string(),
            collector_name: "adot".to_string(),
            role_name: "pipecheck-adot-collector".to_string(),
            policy_name: "pipecheck-amp-remote-write".to_string(),
            addon_version: "v0.109.0-eksbuild.2".to_string(),
            node_name: "ip-192-168-12-34.ec2.internal".to_string(),
            node_instance_id: "i-0abc1234def567890".to_string(),
            vpc_id: "vpc-0a1b2c3d4e5f60004".to_string(),
            subnet_ids: vec![
                "subnet-0a1b2c3d4e5f60001".to_string(),
                "subnet-0a1b2c3d4e5f60002".to_string(),
            ],
        }
    }
}

impl ClusterSeed {
    pub fn cluster_arn(&self, region: &str) -> String {
        format!(
            "arn:aws:eks:{region}:{MOCK_ACCOUNT}:cluster/{}",
            self.cluster_name
        )
    }

    /// `https://oidc.eks.<region>.amazonaws.com/id/<ID>`.
    pub fn oidc_issuer(&self, region: &str) -> String {
        format!("https://{}", self.oidc_provider_url(region))
    }

    /// The issuer without its scheme, as IAM stores it (`Url` of the OIDC provider) and as
    /// trust-policy condition keys start (`<url>:sub`).
    pub fn oidc_provider_url(&self, region: &str) -> String {
        format!("oidc.eks.{region}.amazonaws.com/id/{}", self.oidc_id)
    }

    pub fn oidc_provider_arn(&self, region: &str) -> String {
        format!(
            "arn:aws:iam::{MOCK_ACCOUNT}:oidc-provider/{}",
            self.oidc_provider_url(region)
        )
    }

    pub fn role_arn(&self) -> String {
        format!("arn:aws:iam::{MOCK_ACCOUNT}:role/{}", self.role_name)
    }

    pub fn policy_arn(&self) -> String {
        format!("arn:aws:iam::{MOCK_ACCOUNT}:policy/{}", self.policy_name)
    }

    /// The token subject of the collector's service account:
    /// `system:serviceaccount:<namespace>:<sa>`.
    pub fn subject(&self) -> String {
        format!(
            "system:serviceaccount:{}:{}",
            self.namespace, self.service_account
        )
    }

    /// The node's availability zone: the region's `a` zone.
    pub fn availability_zone(&self, region: &str) -> String {
        format!("{region}a")
    }

    /// The node's `spec.providerID`: `aws:///<zone>/<instance id>`.
    pub fn provider_id(&self, region: &str) -> String {
        format!(
            "aws:///{}/{}",
            self.availability_zone(region),
            self.node_instance_id
        )
    }

    /// The Deployment the ADOT operator makes for the collector resource.
    pub fn collector_deployment(&self) -> String {
        format!("{}-collector", self.collector_name)
    }

    /// `(major, minor)` of `kubernetes_version`, for `/version`.
    pub fn version_parts(&self) -> (String, String) {
        match self.kubernetes_version.split_once('.') {
            Some((major, minor)) => (major.to_string(), minor.to_string()),
            None => (self.kubernetes_version.clone(), "0".to_string()),
        }
    }
}

// ---------------------------------------------------------------------------------------
// State

/// `Cluster.status` (model enum).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClusterStatus {
    Creating,
    Active,
    Deleting,
    Failed,
    Updating,
    Pending,
}

impl ClusterStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Creating => "CREATING",
            Self::Active => "ACTIVE",
            Self::Deleting => "DELETING",
            Self::Failed => "FAILED",
            Self::Updating => "UPDATING",
            Self::Pending => "PENDING",
        }
    }
}

/// `Addon.status` (model enum).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddonStatus {
    Creating,
    Active,
    CreateFailed,
    Updating,
    Deleting,
    DeleteFailed,
    Degraded,
    UpdateFailed,
}

impl AddonStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Creating => "CREATING",
            Self::Active => "ACTIVE",
            Self::CreateFailed => "CREATE_FAILED",
            Self::Updating => "UPDATING",
            Self::Deleting => "DELETING",
            Self::DeleteFailed => "DELETE_FAILED",
            Self::Degraded => "DEGRADED",
            Self::UpdateFailed => "UPDATE_FAILED",
        }
    }
}

/// One of `Addon.health.issues`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddonIssue {
    /// Model enum `AddonIssueCode`, e.g. `InsufficientNumberOfReplicas`, `AccessDenied`,
    /// `ConfigurationConflict`, `AdmissionRequestDenied`, `K8sResourceNotFound`.
    pub code: String,
    pub message: String,
    pub resource_ids: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct Addon {
    pub name: String,
    pub version: String,
    pub status: AddonStatus,
    pub issues: Vec<AddonIssue>,
    pub arn: String,
    pub service_account_role_arn: Option<String>,
    pub configuration_values: Option<String>,
    pub created_at: SystemTime,
    pub modified_at: SystemTime,
    pub tags: BTreeMap<String, String>,
}

impl Addon {
    /// An ACTIVE, healthy add-on of `cluster`.
    pub fn active(region: &str, cluster: &str, name: &str, version: &str, now: SystemTime) -> Self {
        // Real add-on ARNs end in a generated id.
        let suffix = &uuid::Uuid::new_v4().simple().to_string()[..8];
        Self {
            name: name.to_string(),
            version: version.to_string(),
            status: AddonStatus::Active,
            issues: Vec::new(),
            arn: format!("arn:aws:eks:{region}:{MOCK_ACCOUNT}:addon/{cluster}/{name}/{suffix}"),
            service_account_role_arn: None,
            configuration_values: None,
            created_at: now,
            modified_at: now,
            tags: BTreeMap::new(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Cluster {
    pub name: String,
    pub arn: String,
    /// `major.minor`.
    pub version: String,
    pub status: ClusterStatus,
    /// The Kubernetes API URL (the mock API's `https://127.0.0.1:<port>`).
    pub endpoint: String,
    /// `certificateAuthority.data`: base64 of the CA's PEM, as EKS returns it.
    pub certificate_authority_data: String,
    /// `identity.oidc.issuer`; None leaves `identity` out of the answer.
    pub oidc_issuer: Option<String>,
    pub role_arn: String,
    pub platform_version: String,
    pub created_at: SystemTime,
    pub tags: BTreeMap<String, String>,
    pub addons: BTreeMap<String, Addon>,
    /// `resourcesVpcConfig.vpcId` and `subnetIds`.
    pub vpc_id: String,
    pub subnet_ids: Vec<String>,
    /// `resourcesVpcConfig.endpointPrivateAccess`: whether the API server answers inside
    /// the VPC (an AMP scraper reaches it only so).
    pub endpoint_private_access: bool,
}

/// The cluster security group EKS makes for a mock cluster
/// (`resourcesVpcConfig.clusterSecurityGroupId`).
pub const CLUSTER_SECURITY_GROUP: &str = "sg-0a1b2c3d4e5f60003";

/// One Kubernetes-version compatibility row of an add-on version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddonVersionSpec {
    pub version: String,
    /// Kubernetes `major.minor` versions this add-on version supports.
    pub cluster_versions: Vec<String>,
    pub requires_iam_permissions: bool,
}

/// An add-on as `DescribeAddonVersions` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddonCatalogEntry {
    pub name: String,
    /// e.g. `observability`, `networking`.
    pub addon_type: String,
    pub publisher: String,
    pub owner: String,
    pub default_namespace: Option<String>,
    /// Newest first, as EKS lists them.
    pub versions: Vec<AddonVersionSpec>,
}

/// `1.<from>` ..= `1.<to>`.
fn minors(from: u32, to: u32) -> Vec<String> {
    (from..=to).map(|m| format!("1.{m}")).collect()
}

fn version(v: &str, from: u32, to: u32) -> AddonVersionSpec {
    AddonVersionSpec {
        version: v.to_string(),
        cluster_versions: minors(from, to),
        requires_iam_permissions: false,
    }
}

/// The add-on catalog of the mock: `adot` with a compatibility table in which old versions
/// do not support new Kubernetes versions, and the three default networking add-ons.
///
/// [inferred] The exact ranges are settings modelled on the EKS documentation's pattern
/// (aws-wire.md D: recent adot versions list 1.31 to 1.36; v0.102.0 moved to the v1beta1
/// collector CRD); they are not copied from a real `DescribeAddonVersions` answer.
pub fn default_catalog() -> Vec<AddonCatalogEntry> {
    let networking = |name: &str, versions: Vec<AddonVersionSpec>| AddonCatalogEntry {
        name: name.to_string(),
        addon_type: "networking".to_string(),
        publisher: "eks".to_string(),
        owner: "aws".to_string(),
        default_namespace: Some("kube-system".to_string()),
        versions,
    };
    vec![
        AddonCatalogEntry {
            name: "adot".to_string(),
            addon_type: "observability".to_string(),
            publisher: "eks".to_string(),
            owner: "aws".to_string(),
            default_namespace: Some("opentelemetry-operator-system".to_string()),
            versions: vec![
                version("v0.131.0-eksbuild.1", 31, 36),
                version("v0.117.0-eksbuild.1", 28, 33),
                version("v0.109.0-eksbuild.2", 27, 31),
                version("v0.102.1-eksbuild.2", 26, 30),
                version("v0.94.1-eksbuild.1", 25, 29),
                version("v0.88.0-eksbuild.2", 24, 28),
                version("v0.62.1-eksbuild.1", 21, 25),
            ],
        },
        networking(
            "coredns",
            vec![
                version("v1.11.4-eksbuild.2", 29, 36),
                version("v1.11.1-eksbuild.9", 26, 30),
            ],
        ),
        networking(
            "kube-proxy",
            vec![
                version("v1.30.6-eksbuild.3", 30, 30),
                version("v1.29.10-eksbuild.3", 29, 29),
            ],
        ),
        networking(
            "vpc-cni",
            vec![
                version("v1.19.2-eksbuild.1", 25, 36),
                version("v1.18.3-eksbuild.3", 24, 31),
            ],
        ),
        crate::eks_pod_identity::agent_catalog_entry(),
    ]
}

#[derive(Debug)]
struct EksData {
    clusters: BTreeMap<String, Cluster>,
    catalog: Vec<AddonCatalogEntry>,
}

/// The mock EKS: clusters of this endpoint's region, their add-ons, and the add-on catalog.
/// Tests and faults change it through the pub methods.
#[derive(Debug)]
pub struct EksState {
    /// The region whose SigV4 scope this endpoint accepts.
    pub region: String,
    pub identities: Arc<Identities>,
    pub clock: Arc<Clock>,
    pub max_skew: Duration,
    data: RwLock<EksData>,
    /// Access entries of the clusters (`eks_access.rs`).
    pub access: crate::eks_access::AccessEntries,
    /// Pod identity associations (`eks_pod_identity.rs`).
    pub(crate) pod_identity: crate::eks_pod_identity::PodIdentityAssociations,
}

impl EksState {
    pub fn new(
        region: &str,
        identities: Arc<Identities>,
        clock: Arc<Clock>,
        max_skew: Duration,
    ) -> Self {
        Self {
            region: region.to_string(),
            identities,
            clock,
            max_skew,
            data: RwLock::new(EksData {
                clusters: BTreeMap::new(),
                catalog: default_catalog(),
            }),
            access: Default::default(),
            pod_identity: Default::default(),
        }
    }

    /// Adds or replaces a cluster (keyed by name).
    pub fn insert_cluster(&self, cluster: Cluster) {
        self.data
            .write()
            .unwrap()
            .clusters
            .insert(cluster.name.clone(), cluster);
    }

    pub fn remove_cluster(&self, name: &str) -> Option<Cluster> {
        self.data.write().unwrap().clusters.remove(name)
    }

    pub fn cluster(&self, name: &str) -> Option<Cluster> {
        self.data.read().unwrap().clusters.get(name).cloned()
    }

    /// Applies `f` to the named cluster (for faults: version, status, OIDC issuer).
    pub(crate) fn update_cluster<R>(
        &self,
        name: &str,
        f: impl FnOnce(&mut Cluster) -> R,
    ) -> Option<R> {
        self.data.write().unwrap().clusters.get_mut(name).map(f)
    }

    /// Adds or replaces an add-on of a cluster; false when the cluster does not exist.
    pub(crate) fn put_addon(&self, cluster: &str, addon: Addon) -> bool {
        self.update_cluster(cluster, |c| {
            c.addons.insert(addon.name.clone(), addon);
        })
        .is_some()
    }

    /// Applies `f` to an add-on (for faults: status, health issues, version).
    pub fn update_addon<R>(
        &self,
        cluster: &str,
        addon: &str,
        f: impl FnOnce(&mut Addon) -> R,
    ) -> Option<R> {
        let now = self.clock.now();
        self.data
            .write()
            .unwrap()
            .clusters
            .get_mut(cluster)
            .and_then(|c| c.addons.get_mut(addon))
            .map(|a| {
                a.modified_at = now;
                f(a)
            })
    }

    pub(crate) fn remove_addon(&self, cluster: &str, addon: &str) -> Option<Addon> {
        self.data
            .write()
            .unwrap()
            .clusters
            .get_mut(cluster)
            .and_then(|c| c.addons.remove(addon))
    }

    pub fn catalog(&self) -> Vec<AddonCatalogEntry> {
        self.data.read().unwrap().catalog.clone()
    }

    /// Applies `f` to the add-on catalog (for faults: drop an add-on's support for a
    /// Kubernetes version).
    pub fn update_catalog<R>(&self, f: impl FnOnce(&mut Vec<AddonCatalogEntry>) -> R) -> R {
        f(&mut self.data.write().unwrap().catalog)
    }

    /// The add-on versions of `addon` that support Kubernetes `version`, newest first.
    pub fn compatible_versions(&self, addon: &str, version: &str) -> Vec<String> {
        self.data
            .read()
            .unwrap()
            .catalog
            .iter()
            .filter(|e| e.name == addon)
            .flat_map(|e| e.versions.iter())
            .filter(|v| v.cluster_versions.iter().any(|c| c == version))
            .map(|v| v.version.clone())
            .collect()
    }

    /// The healthy default: an ACTIVE cluster named by `seed`, with its OIDC issuer, its
    /// API at `endpoint` signed by the CA in `ca_pem`, and ACTIVE add-ons `adot` (at
    /// `seed.addon_version`), `coredns`, `kube-proxy` and `vpc-cni`.
    pub fn seed_healthy(&self, seed: &ClusterSeed, endpoint: &str, ca_pem: &str) {
        use base64::Engine as _;
        let now = self.clock.now();
        let region = self.region.as_str();
        let mut cluster = Cluster {
            name: seed.cluster_name.clone(),
            arn: seed.cluster_arn(region),
            version: seed.kubernetes_version.clone(),
            status: ClusterStatus::Active,
            endpoint: endpoint.to_string(),
            certificate_authority_data: base64::engine::general_purpose::STANDARD.encode(ca_pem),
            oidc_issuer: Some(seed.oidc_issuer(region)),
            role_arn: format!(
                "arn:aws:iam::{MOCK_ACCOUNT}:role/{}-cluster-role",
                seed.cluster_name
            ),
            platform_version: "eks.10".to_string(),
            created_at: now,
            tags: BTreeMap::new(),
            addons: BTreeMap::new(),
            vpc_id: seed.vpc_id.clone(),
            subnet_ids: seed.subnet_ids.clone(),
            endpoint_private_access: true,
        };
        let defaults = [
            ("adot", seed.addon_version.clone()),
            ("coredns", String::new()),
            ("kube-proxy", String::new()),
            ("vpc-cni", String::new()),
        ];
        for (name, version) in defaults {
            let version = if version.is_empty() {
                self.compatible_versions(name, &seed.kubernetes_version)
                    .into_iter()
                    .next()
                    .unwrap_or_else(|| "v1.0.0-eksbuild.1".to_string())
            } else {
                version
            };
            let addon = Addon::active(region, &seed.cluster_name, name, &version, now);
            cluster.addons.insert(name.to_string(), addon);
        }
        self.insert_cluster(cluster);
    }
}

// ---------------------------------------------------------------------------------------
// Router

pub fn router(state: Arc<EksState>) -> Router {
    Router::new()
        .route("/clusters", get(list_clusters))
        .route("/clusters/{name}", get(describe_cluster))
        .route("/clusters/{name}/addons", get(list_addons))
        .route("/clusters/{name}/addons/{addon}", get(describe_addon))
        .route("/addons/supported-versions", get(describe_addon_versions))
        .merge(crate::eks_access::routes())
        .merge(crate::eks_pod_identity::routes())
        .fallback(unknown_operation)
        .method_not_allowed_fallback(unknown_operation)
        .with_state(state)
}

async fn unknown_operation() -> ErrorResponse {
    ErrorResponse::unknown_operation("Amazon EKS")
}

/// SigV4 service `eks`, this endpoint's region.
impl restjson::Service for EksState {
    type Error = EksError;

    fn front_end(&self) -> FrontEnd<'_> {
        FrontEnd {
            service: "eks",
            region: &self.region,
            identities: &self.identities,
            clock: &self.clock,
            max_skew: self.max_skew,
            max_body: MAX_BODY,
        }
    }
}

/// `GET /clusters/{name}` -> `{cluster: {…}}`.
async fn describe_cluster(
    State(st): State<Arc<EksState>>,
    Path(name): Path<String>,
    req: Request,
) -> Result<Response, EksError> {
    let arn = format!("arn:aws:eks:{}:{MOCK_ACCOUNT}:cluster/{name}", st.region);
    authorize(&*st, req, "eks:DescribeCluster", &arn).await?;
    let cluster = st
        .cluster(&name)
        .ok_or_else(|| EksError::cluster_not_found(&name))?;
    Ok(restjson::ok(json!({ "cluster": cluster_json(&cluster) })))
}

/// `GET /clusters` -> `{clusters: [name], nextToken?}`.
async fn list_clusters(
    State(st): State<Arc<EksState>>,
    req: Request,
) -> Result<Response, EksError> {
    let call = authorize(&*st, req, "eks:ListClusters", "*").await?;
    let q = call.query();
    let page = page(&q)?;
    let names: Vec<String> = st.data.read().unwrap().clusters.keys().cloned().collect();
    let (items, next) = page.apply(names);
    Ok(restjson::ok(with_next_token(
        json!({ "clusters": items }),
        next,
    )))
}

/// `GET /clusters/{name}/addons` -> `{addons: [name], nextToken?}`.
async fn list_addons(
    State(st): State<Arc<EksState>>,
    Path(name): Path<String>,
    req: Request,
) -> Result<Response, EksError> {
    let arn = format!("arn:aws:eks:{}:{MOCK_ACCOUNT}:cluster/{name}", st.region);
    let call = authorize(&*st, req, "eks:ListAddons", &arn).await?;
    let page = page(&call.query())?;
    let names: Vec<String> = st
        .cluster(&name)
        .ok_or_else(|| EksError::cluster_not_found(&name))?
        .addons
        .keys()
        .cloned()
        .collect();
    let (items, next) = page.apply(names);
    Ok(restjson::ok(with_next_token(
        json!({ "addons": items }),
        next,
    )))
}

/// `GET /clusters/{name}/addons/{addonName}` -> `{addon: {…}}`.
async fn describe_addon(
    State(st): State<Arc<EksState>>,
    Path((name, addon)): Path<(String, String)>,
    req: Request,
) -> Result<Response, EksError> {
    let arn = format!(
        "arn:aws:eks:{}:{MOCK_ACCOUNT}:addon/{name}/{addon}/*",
        st.region
    );
    authorize(&*st, req, "eks:DescribeAddon", &arn).await?;
    let cluster = st
        .cluster(&name)
        .ok_or_else(|| EksError::cluster_not_found(&name))?;
    let a = cluster
        .addons
        .get(&addon)
        .ok_or_else(|| EksError::ResourceNotFound {
            // [inferred] EKS's wording as the AWS CLI shows it.
            message: format!("No addon: {addon} found in cluster: {name}"),
            cluster_name: Some(name.clone()),
            addon_name: Some(addon.clone()),
        })?;
    Ok(restjson::ok(json!({ "addon": addon_json(&name, a) })))
}

/// `GET /addons/supported-versions` -> `{addons: [AddonInfo], nextToken?}`. With
/// `kubernetesVersion`, only versions supporting it are listed and add-ons left with none
/// are dropped: no supported version gives `{"addons": []}` (aws-wire.md D). An unknown
/// `addonName` also gives an empty list [inferred].
async fn describe_addon_versions(
    State(st): State<Arc<EksState>>,
    req: Request,
) -> Result<Response, EksError> {
    let call = authorize(&*st, req, "eks:DescribeAddonVersions", "*").await?;
    let q = call.query();
    let page = page(&q)?;
    let name = q.get("addonName");
    let k8s = q.get("kubernetesVersion");
    let types = q.all("types");
    let publishers = q.all("publishers");
    let owners = q.all("owners");
    let entries: Vec<Value> = st
        .catalog()
        .into_iter()
        .filter(|e| name.is_none_or(|n| n == e.name))
        .filter(|e| types.is_empty() || types.contains(&e.addon_type.as_str()))
        .filter(|e| publishers.is_empty() || publishers.contains(&e.publisher.as_str()))
        .filter(|e| owners.is_empty() || owners.contains(&e.owner.as_str()))
        .filter_map(|e| addon_info_json(&e, k8s))
        .collect();
    let (items, next) = page.apply(entries);
    Ok(restjson::ok(with_next_token(
        json!({ "addons": items }),
        next,
    )))
}

// ---------------------------------------------------------------------------------------
// JSON shapes

pub(crate) fn epoch_seconds(t: SystemTime) -> f64 {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    // Millisecond precision, as AWS's JSON timestamps have.
    (d.as_millis() as f64) / 1000.0
}

fn cluster_json(c: &Cluster) -> Value {
    let mut v = json!({
        "name": c.name,
        "arn": c.arn,
        "createdAt": epoch_seconds(c.created_at),
        "version": c.version,
        "endpoint": c.endpoint,
        "roleArn": c.role_arn,
        "resourcesVpcConfig": {
            "subnetIds": c.subnet_ids,
            "securityGroupIds": [],
            "clusterSecurityGroupId": CLUSTER_SECURITY_GROUP,
            "vpcId": c.vpc_id,
            "endpointPublicAccess": true,
            "endpointPrivateAccess": c.endpoint_private_access,
            "publicAccessCidrs": ["0.0.0.0/0"],
        },
        "kubernetesNetworkConfig": { "serviceIpv4Cidr": "10.100.0.0/16", "ipFamily": "ipv4" },
        "logging": { "clusterLogging": [{ "types": ["api", "audit", "authenticator", "controllerManager", "scheduler"], "enabled": false }] },
        "status": c.status.as_str(),
        "certificateAuthority": { "data": c.certificate_authority_data },
        "platformVersion": c.platform_version,
        "tags": c.tags,
        "health": { "issues": [] },
        "accessConfig": { "authenticationMode": "API_AND_CONFIG_MAP" },
        "upgradePolicy": { "supportType": "EXTENDED" },
    });
    if let Some(issuer) = &c.oidc_issuer {
        v["identity"] = json!({ "oidc": { "issuer": issuer } });
    }
    v
}

fn addon_json(cluster: &str, a: &Addon) -> Value {
    let issues: Vec<Value> = a
        .issues
        .iter()
        .map(|i| json!({ "code": i.code, "message": i.message, "resourceIds": i.resource_ids }))
        .collect();
    let mut v = json!({
        "addonName": a.name,
        "clusterName": cluster,
        "status": a.status.as_str(),
        "addonVersion": a.version,
        "health": { "issues": issues },
        "addonArn": a.arn,
        "createdAt": epoch_seconds(a.created_at),
        "modifiedAt": epoch_seconds(a.modified_at),
        "tags": a.tags,
    });
    if let Some(r) = &a.service_account_role_arn {
        v["serviceAccountRoleArn"] = json!(r);
    }
    if let Some(c) = &a.configuration_values {
        v["configurationValues"] = json!(c);
    }
    v
}

/// `AddonInfo`, with the versions that support `k8s` (all when None); None when a filter
/// leaves no version.
fn addon_info_json(e: &AddonCatalogEntry, k8s: Option<&str>) -> Option<Value> {
    let versions: Vec<Value> = e
        .versions
        .iter()
        .filter(|v| k8s.is_none_or(|k| v.cluster_versions.iter().any(|c| c == k)))
        .map(|v| {
            let compat: Vec<Value> = v
                .cluster_versions
                .iter()
                .filter(|c| k8s.is_none_or(|k| k == c.as_str()))
                .map(|c| {
                    // The default version for a Kubernetes version is the newest that
                    // supports it.
                    let newest = e
                        .versions
                        .iter()
                        .find(|o| o.cluster_versions.contains(c))
                        .is_some_and(|o| o.version == v.version);
                    json!({ "clusterVersion": c, "platformVersions": ["*"], "defaultVersion": newest })
                })
                .collect();
            json!({
                "addonVersion": v.version,
                "architecture": ["amd64", "arm64"],
                "computeTypes": ["ec2"],
                "compatibilities": compat,
                "requiresConfiguration": false,
                "requiresIamPermissions": v.requires_iam_permissions,
            })
        })
        .collect();
    if versions.is_empty() {
        return None;
    }
    let mut v = json!({
        "addonName": e.name,
        "type": e.addon_type,
        "addonVersions": versions,
        "publisher": e.publisher,
        "owner": e.owner,
    });
    if let Some(ns) = &e.default_namespace {
        v["defaultNamespace"] = json!(ns);
    }
    Some(v)
}

// ---------------------------------------------------------------------------------------
// Shared steps

/// `maxResults` (1-100) and `nextToken` (an offset this mock handed out), refused as
/// InvalidParameterException.
pub(crate) fn page(q: &restjson::Query) -> Result<Page, EksError> {
    let max = match q.get("maxResults") {
        None => DEFAULT_MAX_RESULTS,
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
        Some(t) => PAGE_TOKEN.decode(t).ok_or_else(|| {
            // [inferred] wording.
            EksError::InvalidParameter("The nextToken is not valid.".to_string())
        })?,
    };
    Ok(Page {
        max,
        offset,
        token: PAGE_TOKEN,
    })
}

// ---------------------------------------------------------------------------------------
// Errors

/// Every refusal of the mock EKS, with the model's status and error shape.
#[derive(Debug, thiserror::Error)]
pub enum EksError {
    /// SigV4, the body limit or IAM (`eks:<Operation>`) refused the request.
    #[error(transparent)]
    FrontEnd(#[from] Refusal),
    /// 400 `InvalidRequestException`.
    #[error("failed to read the request body")]
    Unreadable,
    /// 404 `ResourceNotFoundException {message, clusterName?, addonName?}`.
    #[error("resource not found: {message}")]
    ResourceNotFound {
        message: String,
        cluster_name: Option<String>,
        addon_name: Option<String>,
    },
    /// 400 `InvalidParameterException`.
    #[error("invalid parameter: {0}")]
    InvalidParameter(String),
}

impl EksError {
    pub fn cluster_not_found(name: &str) -> Self {
        Self::ResourceNotFound {
            // EKS's wording as the AWS CLI shows it.
            message: format!("No cluster found for name: {name}."),
            cluster_name: Some(name.to_string()),
            addon_name: None,
        }
    }

    /// Status, `x-amzn-ErrorType` and body of the model's error shape.
    pub fn response(&self) -> ErrorResponse {
        let invalid = |error_type, message: &str| {
            ErrorResponse::message(StatusCode::BAD_REQUEST, error_type, message)
        };
        match self {
            Self::FrontEnd(r) => r.response(),
            Self::Unreadable => {
                invalid("InvalidRequestException", "Could not read the request body")
            }
            Self::ResourceNotFound {
                message,
                cluster_name,
                addon_name,
            } => {
                let mut v = json!({ "message": message });
                if let Some(c) = cluster_name {
                    v["clusterName"] = json!(c);
                }
                if let Some(a) = addon_name {
                    v["addonName"] = json!(a);
                }
                ErrorResponse::json(StatusCode::NOT_FOUND, "ResourceNotFoundException", v)
            }
            Self::InvalidParameter(m) => invalid("InvalidParameterException", m),
        }
    }
}

impl From<VerifyFailure> for EksError {
    fn from(e: VerifyFailure) -> Self {
        Refusal::of(e).map_or(Self::Unreadable, Self::FrontEnd)
    }
}

impl IntoResponse for EksError {
    fn into_response(self) -> Response {
        self.response().into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Identity;
    use crate::restjson::testing::{self, Answer, REGION};

    fn state() -> (Arc<EksState>, Identity) {
        let (ids, user, clock) = testing::principal();
        let st = EksState::new(REGION, ids, clock, Duration::from_secs(300));
        st.seed_healthy(&ClusterSeed::default(), "https://127.0.0.1:6443", "PEM");
        (Arc::new(st), user)
    }

    /// A signed GET: status, JSON body and `x-amzn-ErrorType`.
    async fn get(
        st: &Arc<EksState>,
        user: &Identity,
        path: &str,
    ) -> (StatusCode, Value, Option<String>) {
        let req = testing::signed(user, "eks", "GET", path, "");
        let answer = Answer::send(router(st.clone()), req).await;
        (
            answer.status,
            answer.json(),
            answer.header("x-amzn-errortype"),
        )
    }

    #[tokio::test]
    async fn describe_cluster_has_issuer_and_ca() {
        let (st, user) = state();
        let (status, v, _) = get(&st, &user, "/clusters/pipecheck").await;
        assert_eq!(status, 200);
        let c = &v["cluster"];
        assert_eq!(c["version"], "1.30");
        assert_eq!(c["status"], "ACTIVE");
        assert_eq!(c["certificateAuthority"]["data"], "UEVN");
        assert_eq!(
            c["identity"]["oidc"]["issuer"],
            "https://oidc.eks.us-east-1.amazonaws.com/id/5C2F4E9A1B7D4E3F8A6C0D2E4F6A8B0C"
        );
    }

    #[tokio::test]
    async fn unknown_cluster_is_404_with_error_type() {
        let (st, user) = state();
        let (status, v, et) = get(&st, &user, "/clusters/nope").await;
        assert_eq!(status, 404);
        assert_eq!(et.as_deref(), Some("ResourceNotFoundException"));
        assert_eq!(v["message"], "No cluster found for name: nope.");
        assert_eq!(v["clusterName"], "nope");
    }

    #[tokio::test]
    async fn addon_versions_filter_by_kubernetes_version() {
        let (st, user) = state();
        let (_, v, _) = get(
            &st,
            &user,
            "/addons/supported-versions?addonName=adot&kubernetesVersion=1.30",
        )
        .await;
        let versions: Vec<&str> = v["addons"][0]["addonVersions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["addonVersion"].as_str().unwrap())
            .collect();
        assert_eq!(
            versions,
            [
                "v0.117.0-eksbuild.1",
                "v0.109.0-eksbuild.2",
                "v0.102.1-eksbuild.2"
            ]
        );
        let (_, v, _) = get(
            &st,
            &user,
            "/addons/supported-versions?addonName=adot&kubernetesVersion=1.99",
        )
        .await;
        assert_eq!(v, json!({ "addons": [] }));
    }

    #[tokio::test]
    async fn pagination_hands_out_tokens() {
        let (st, user) = state();
        let (_, v, _) = get(&st, &user, "/clusters/pipecheck/addons?maxResults=3").await;
        assert_eq!(v["addons"], json!(["adot", "coredns", "kube-proxy"]));
        let token = v["nextToken"].as_str().unwrap().to_string();
        let (_, v, _) = get(
            &st,
            &user,
            &format!("/clusters/pipecheck/addons?maxResults=3&nextToken={token}"),
        )
        .await;
        assert_eq!(v["addons"], json!(["vpc-cni"]));
        assert!(v.get("nextToken").is_none());
        let (status, _, et) = get(&st, &user, "/clusters?maxResults=0").await;
        assert_eq!(status, 400);
        assert_eq!(et.as_deref(), Some("InvalidParameterException"));
    }
}
