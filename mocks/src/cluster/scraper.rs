//! The mock cluster of the `AmpScraper` shape: the stack's ADOT seed with its collector
//! removed, a canary pod in the shape's namespace, an ACTIVE AMP scraper of
//! the cluster writing to the run's workspace, its role's EKS access entry (Kubernetes
//! user `aps-collector-user`) and the AMP user guide's ClusterRole and binding; and the
//! fault recipes of catalog rows F40-F44 on it. The mock AMP then runs the scraper: it
//! writes the canary pod's `up` into the workspace.

use crate::amp::Workspace;
use crate::amp::scraper::{Scraper, ScraperStatus};
use crate::eks_access::AccessEntry;
use crate::identity::MOCK_ACCOUNT;
use crate::kube::namespace;
use crate::{ClusterSeed, MockStack};
use serde_json::json;

use super::{ClusterShape, Credentials, PreparedCluster};

/// The canary target: a node-exporter pod serving /metrics on 9100.
const CANARY_POD: &str = "pipecheck-canary-0";
const CANARY_CONTAINER: &str = "node-exporter";
const CANARY_IMAGE: &str = "quay.io/prometheus/node-exporter:v1.8.2";
const CANARY_IP: &str = "192.168.15.40";
const USER: &str = "aps-collector-user";
const ROLE: &str = "aps-collector-role";
const BINDING: &str = "aps-collector-user-role-binding";

/// The scraper's configuration: the user guide's pod job, and (`canary_job`) the
/// canary's job, keeping the canary pods of namespace `ns`.
fn configuration(cluster_arn: &str, ns: &str, canary_job: Option<&str>) -> String {
    let mut text = format!(
        "global:\n  scrape_interval: 30s\n  external_labels:\n    clusterArn: {cluster_arn}\n\
         scrape_configs:\n- job_name: pod_exporter\n  kubernetes_sd_configs:\n  - role: pod\n"
    );
    if let Some(job) = canary_job {
        text.push_str(&format!(
            "- job_name: {job}\n  kubernetes_sd_configs:\n  - role: pod\n    namespaces:\n      names: [{ns}]\n  \
             relabel_configs:\n  - action: keep\n    source_labels: [__meta_kubernetes_pod_label_app_kubernetes_io_name]\n    regex: pipecheck-canary\n"
        ));
    }
    text
}

fn workspace_arn(region: &str, id: &str) -> String {
    format!("arn:aws:aps:{region}:{MOCK_ACCOUNT}:workspace/{id}")
}

/// The scraper shape on a stack started with `shape.seed()`.
pub(crate) fn prepare(
    stack: &MockStack,
    seed: ClusterSeed,
    shape: &ClusterShape,
    region: &str,
) -> Result<PreparedCluster, String> {
    let adot = stack
        .adot
        .clone()
        .ok_or("the mock stack was started without a cluster")?;
    super::remove_adot_collector(stack, &adot, &seed.cluster_name);
    let k = &stack.kube;
    let err = |e: crate::kube::KubeError| e.to_string();
    if k.get("namespaces", "", &shape.namespace).is_none() {
        k.put("namespaces", namespace(&shape.namespace))
            .map_err(err)?;
    }
    let labels = json!({ "app.kubernetes.io/name": "pipecheck-canary" });
    k.put(
        "pods",
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": { "name": CANARY_POD, "namespace": shape.namespace, "labels": labels },
            "spec": { "nodeName": seed.node_name, "containers": [{
                "name": CANARY_CONTAINER, "image": CANARY_IMAGE,
                "ports": [{ "containerPort": 9100, "name": "metrics", "protocol": "TCP" }],
            }] },
            "status": { "phase": "Running", "podIP": CANARY_IP,
                "conditions": [
                    { "type": "Ready", "status": "True" },
                    { "type": "ContainersReady", "status": "True" },
                ],
                "containerStatuses": [{ "name": CANARY_CONTAINER, "ready": true, "started": true,
                    "restartCount": 0, "image": CANARY_IMAGE, "imageID": "", "state": { "running": {} } }] },
        }),
    )
    .map_err(err)?;
    // The AMP user guide's clusterrole-binding.yml.
    k.put(
        "clusterroles",
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": { "name": ROLE },
            "rules": [
                { "apiGroups": [""], "resources": ["nodes", "nodes/proxy", "nodes/metrics", "services", "endpoints", "pods", "ingresses", "configmaps"],
                  "verbs": ["describe", "get", "list", "watch"] },
                { "apiGroups": ["extensions", "networking.k8s.io"], "resources": ["ingresses/status", "ingresses"],
                  "verbs": ["describe", "get", "list", "watch"] },
                { "nonResourceURLs": ["/metrics"], "verbs": ["get"] },
                { "apiGroups": ["metrics.eks.amazonaws.com"], "resources": ["kcm/metrics", "ksh/metrics"], "verbs": ["get"] },
            ],
        }),
    )
    .map_err(err)?;
    k.put(
        "clusterrolebindings",
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": { "name": BINDING },
            "subjects": [{ "kind": "User", "name": USER, "apiGroup": "rbac.authorization.k8s.io" }],
            "roleRef": { "kind": "ClusterRole", "name": ROLE, "apiGroup": "rbac.authorization.k8s.io" },
        }),
    )
    .map_err(err)?;
    let ws = stack
        .endpoints()
        .workspace_id
        .clone()
        .ok_or("the mock stack was started without a workspace")?;
    let cluster_arn = seed.cluster_arn(region);
    let now = stack.clock.now();
    let scraper = Scraper::active(
        region,
        Some(shape.collector.as_str()),
        &cluster_arn,
        &seed.subnet_ids,
        &[crate::eks::CLUSTER_SECURITY_GROUP.to_string()],
        &workspace_arn(region, &ws),
        &configuration(&cluster_arn, &shape.namespace, Some(&shape.canary_job)),
        now,
    );
    stack.eks.access.put(
        &seed.cluster_name,
        AccessEntry::standard(
            region,
            &seed.cluster_name,
            &scraper.role_arn,
            USER,
            &[],
            now,
        ),
    );
    stack.amp.scrapers.insert(scraper);
    Ok(PreparedCluster {
        kind: shape.kind,
        credentials: Credentials::Irsa,
        seed,
        region: region.to_string(),
        deployment: String::new(),
        pod: CANARY_POD.to_string(),
        container: CANARY_CONTAINER.to_string(),
    })
}

// ---------------------------------------------------------------------------------------
// Fault recipes (catalog F40-F44, F49). On a cluster without a scraper (another shape's)
// they change nothing.

impl PreparedCluster {
    /// Applies `f` to the shape's scraper (alias = the shape's `collector`).
    fn on_scraper(&self, s: &MockStack, f: impl FnOnce(&mut Scraper)) {
        let now = s.clock.now();
        let id = s
            .amp
            .scrapers
            .list(&self.region, now)
            .into_iter()
            .find(|x| x.alias.as_deref() == Some(self.seed.collector_name.as_str()))
            .map(|x| x.id);
        if let Some(id) = id {
            s.amp.scrapers.update(&id, now, f);
        }
    }

    fn scraper_role(&self, s: &MockStack) -> Option<String> {
        let mut role = None;
        self.on_scraper(s, |x| role = Some(x.role_arn.clone()));
        role
    }

    /// F49: the cluster's API endpoint answers on the internet only
    /// (`endpointPrivateAccess` false): the scraper, inside the VPC, cannot reach it.
    pub(crate) fn cluster_endpoint_public_only(&self, s: &MockStack) {
        s.eks.update_cluster(&self.seed.cluster_name, |c| {
            c.endpoint_private_access = false
        });
    }

    /// F40: AMP could not create the scraper: CREATION_FAILED with its reason.
    pub(crate) fn scraper_creation_failed(&self, s: &MockStack) {
        let subnet = self.seed.subnet_ids.last().cloned().unwrap_or_default();
        self.on_scraper(s, |x| {
            x.status = ScraperStatus::CreationFailed;
            // [inferred] wording: the user guide names insufficient IP space as a cause.
            x.status_reason = Some(format!(
                "Insufficient IP address space in subnet {subnet}: a scraper needs one free IP address in each of its subnets"
            ));
        });
    }

    /// F41: the cluster has no access entry for the scraper's role (and no aws-auth
    /// mapping): the API server does not know it.
    pub(crate) fn scraper_no_access_entry(&self, s: &MockStack) {
        if let Some(role) = self.scraper_role(s) {
            s.eks.access.remove(&self.seed.cluster_name, &role);
        }
    }

    /// F42: the ClusterRoleBinding of the user guide was never applied.
    pub(crate) fn scraper_rbac_missing(&self, s: &MockStack) {
        s.kube.delete("clusterrolebindings", "", BINDING);
    }

    /// F43: the scraper runs the user guide's sample configuration, without the canary's
    /// job.
    pub(crate) fn scraper_config_without_canary(&self, s: &MockStack) {
        let arn = self.seed.cluster_arn(&self.region);
        let ns = self.seed.namespace.clone();
        self.on_scraper(s, |x| {
            x.configuration = configuration(&arn, &ns, None).into_bytes();
        });
    }

    /// F44: the scraper writes to another workspace of the account (which exists, so the
    /// scraper runs: its series land there).
    pub(crate) fn scraper_other_workspace(&self, s: &MockStack) {
        let id = "ws-0f44f44f-0000-4000-8000-00000000f44f";
        let now = s.clock.now();
        s.amp.insert_workspace(Workspace::new(
            id.to_string(),
            &self.region,
            Some("other".to_string()),
            now,
        ));
        let arn = workspace_arn(&self.region, id);
        self.on_scraper(s, |x| x.workspace_arn = arn);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configuration_has_the_canary_job_in_its_namespace() {
        let text = configuration(
            "arn:aws:eks:us-east-1:1:cluster/c",
            "canary-ns",
            Some("pipecheck-canary"),
        );
        let cfg = crate::amp::scraper::parse_config(&text).unwrap();
        let jobs: Vec<&str> = cfg
            .scrape_configs
            .iter()
            .map(|j| j.job_name.as_str())
            .collect();
        assert_eq!(jobs, ["pod_exporter", "pipecheck-canary"]);
        assert_eq!(
            cfg.scrape_configs[1].kubernetes_sd_configs[0]
                .namespaces
                .names,
            ["canary-ns"]
        );
    }
}
