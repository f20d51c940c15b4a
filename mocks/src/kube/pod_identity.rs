//! EKS Pod Identity in the mock cluster: the EKS pod identity webhook's mutation of a pod
//! created while its service account has a pod identity association (the
//! container-credentials env and the projected `eks-pod-identity-token`), and the
//! `eks-pod-identity-agent` DaemonSet the add-on runs in `kube-system`.
//!
//! The associations live in mock EKS; the stack hands the cluster a lookup
//! ([`KubeState::set_pod_identity_source`]), as the real webhook asks EKS. Like IRSA's,
//! the mutation happens only when a pod is created: a pod that existed before its
//! association carries none of it (docs/wire/eks-pod-identity.md).

use std::sync::Arc;

use serde_json::{Value, json};

use super::status::KubeError;
use super::store::{KubeState, rfc3339};

/// `AWS_CONTAINER_CREDENTIALS_FULL_URI`: the agent's credentials endpoint (IPv4).
pub const POD_IDENTITY_CREDENTIALS_URI: &str = "http://169.254.170.23/v1/credentials";
/// `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`: the projected token the agent is shown.
pub const POD_IDENTITY_TOKEN_FILE: &str =
    "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount/eks-pod-identity-token";
/// The projected volume's name and its token's audience.
pub const POD_IDENTITY_VOLUME: &str = "eks-pod-identity-token";
pub const POD_IDENTITY_AUDIENCE: &str = "pods.eks.amazonaws.com";
/// The agent's DaemonSet (namespace `kube-system`).
pub(crate) const POD_IDENTITY_AGENT: &str = "eks-pod-identity-agent";
const AGENT_IMAGE: &str =
    "602401143452.dkr.ecr.us-east-1.amazonaws.com/eks/eks-pod-identity-agent:0.1.29";

/// Does `(namespace, service account)` have a pod identity association?
pub type PodIdentityLookup = Arc<dyn Fn(&str, &str) -> bool + Send + Sync>;

/// The lookup, with a `Debug` the state can derive.
#[derive(Clone)]
pub(crate) struct PodIdentitySource(pub(crate) PodIdentityLookup);

impl std::fmt::Debug for PodIdentitySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PodIdentitySource")
    }
}

const ENV_NAMES: [&str; 2] = [
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
];

impl KubeState {
    /// Where the pod identity webhook asks whether a service account has an association.
    pub fn set_pod_identity_source(&self, lookup: PodIdentityLookup) {
        *self.pod_identity.write().unwrap() = Some(PodIdentitySource(lookup));
    }

    fn has_pod_identity(&self, ns: &str, sa: &str) -> bool {
        let source = self.pod_identity.read().unwrap().clone();
        source.is_some_and(|s| (s.0)(ns, sa))
    }

    /// The EKS pod identity webhook, for a pod spec being created in `ns`: when its service
    /// account has an association, every container gets the two container-credentials
    /// variables and the token mount, and the pod the projected token volume.
    pub(crate) fn inject_pod_identity(&self, ns: &str, spec: &mut Value) {
        let sa = spec
            .get("serviceAccountName")
            .and_then(Value::as_str)
            .unwrap_or("default")
            .to_string();
        if !self.has_pod_identity(ns, &sa) {
            return;
        }
        if let Some(cs) = spec.get_mut("containers").and_then(Value::as_array_mut) {
            for c in cs {
                let Some(o) = c.as_object_mut() else { continue };
                if let Some(env) = o.entry("env").or_insert_with(|| json!([])).as_array_mut() {
                    env.retain(|e| !ENV_NAMES.contains(&e["name"].as_str().unwrap_or_default()));
                    env.push(json!({ "name": "AWS_CONTAINER_CREDENTIALS_FULL_URI", "value": POD_IDENTITY_CREDENTIALS_URI }));
                    env.push(json!({ "name": "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "value": POD_IDENTITY_TOKEN_FILE }));
                }
                if let Some(m) = o
                    .entry("volumeMounts")
                    .or_insert_with(|| json!([]))
                    .as_array_mut()
                {
                    m.retain(|v| v["name"] != POD_IDENTITY_VOLUME);
                    m.push(json!({ "name": POD_IDENTITY_VOLUME, "mountPath": "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount", "readOnly": true }));
                }
            }
        }
        if let Some(v) = spec
            .as_object_mut()
            .map(|o| o.entry("volumes").or_insert_with(|| json!([])))
            .and_then(Value::as_array_mut)
        {
            v.retain(|v| v["name"] != POD_IDENTITY_VOLUME);
            v.push(json!({ "name": POD_IDENTITY_VOLUME, "projected": { "defaultMode": 420, "sources": [{ "serviceAccountToken": {
                "audience": POD_IDENTITY_AUDIENCE, "expirationSeconds": 86400, "path": POD_IDENTITY_VOLUME,
            } }] } }));
        }
    }

    /// Strips what the pod identity webhook adds from a pod (it predates the association).
    pub(crate) fn strip_pod_identity_from_pod(
        &self,
        namespace: &str,
        pod: &str,
    ) -> Result<Value, KubeError> {
        self.update("pods", namespace, pod, strip_pod_identity)
    }

    /// The pod replaced by a new one of the same spec, as after `kubectl rollout restart`
    /// (kept under its name, for stable evidence): created now, both webhooks' mutations
    /// (IRSA and Pod Identity) applied afresh for what its service account has today.
    pub fn recreate_pod(&self, namespace: &str, pod: &str) -> Result<Value, KubeError> {
        let now = rfc3339(self.clock.now());
        let mut spec = self
            .get("pods", namespace, pod)
            .map(|p| p["spec"].clone())
            .unwrap_or_else(|| json!({}));
        let mut holder = json!({ "spec": spec.take() });
        strip_pod_identity(&mut holder);
        let mut spec = holder["spec"].take();
        self.strip_irsa_from_spec(&mut spec);
        self.inject_irsa(namespace, &mut spec);
        self.inject_pod_identity(namespace, &mut spec);
        dedupe_env(&mut spec);
        self.update("pods", namespace, pod, |p| {
            p["spec"] = spec;
            p["metadata"]["creationTimestamp"] = json!(now);
            p["status"]["startTime"] = json!(now);
        })
    }

    /// Marks a pod as created `at` (RFC 3339), for faults about pods older than something.
    pub(crate) fn set_pod_created(
        &self,
        namespace: &str,
        pod: &str,
        at: &str,
    ) -> Result<Value, KubeError> {
        self.update("pods", namespace, pod, |p| {
            p["metadata"]["creationTimestamp"] = json!(at);
            p["status"]["startTime"] = json!(at);
        })
    }

    /// The `eks-pod-identity-agent` DaemonSet as the add-on installs it, on the cluster's
    /// `nodes` nodes, `ready` of them Ready.
    pub(crate) fn put_pod_identity_agent(
        &self,
        nodes: u32,
        ready: u32,
    ) -> Result<Value, KubeError> {
        let labels = json!({
            "app.kubernetes.io/instance": POD_IDENTITY_AGENT,
            "app.kubernetes.io/name": POD_IDENTITY_AGENT,
        });
        self.put(
            "daemonsets",
            json!({
                "apiVersion": "apps/v1", "kind": "DaemonSet",
                "metadata": { "name": POD_IDENTITY_AGENT, "namespace": "kube-system", "labels": labels, "generation": 1 },
                "spec": {
                    "selector": { "matchLabels": labels },
                    "template": { "metadata": { "labels": labels }, "spec": {
                        "hostNetwork": true,
                        "containers": [{ "name": POD_IDENTITY_AGENT, "image": AGENT_IMAGE,
                            "command": ["/go-runner", "/eks-pod-identity-agent", "server"],
                            "args": ["--port", "80", "--cluster-name", "pipecheck", "--probe-port", "2703"],
                            "ports": [{ "containerPort": 80, "name": "proxy", "protocol": "TCP" },
                                      { "containerPort": 2703, "name": "probes-port", "protocol": "TCP" }] }],
                        "initContainers": [{ "name": "eks-pod-identity-agent-init", "image": AGENT_IMAGE,
                            "command": ["/go-runner", "/eks-pod-identity-agent", "initialize"],
                            "securityContext": { "privileged": true } }] } },
                    "updateStrategy": { "type": "RollingUpdate", "rollingUpdate": { "maxUnavailable": "10%" } },
                },
                "status": {
                    "currentNumberScheduled": nodes, "desiredNumberScheduled": nodes,
                    "numberAvailable": ready, "numberReady": ready, "numberMisscheduled": 0,
                    "numberUnavailable": nodes.saturating_sub(ready),
                    "observedGeneration": 1, "updatedNumberScheduled": nodes,
                },
            }),
        )
    }

    /// What [`KubeState::strip_irsa_from_pod`] removes, on a bare spec.
    fn strip_irsa_from_spec(&self, spec: &mut Value) {
        if let Some(cs) = spec.get_mut("containers").and_then(Value::as_array_mut) {
            for c in cs {
                if let Some(env) = c.get_mut("env").and_then(Value::as_array_mut) {
                    env.retain(|e| {
                        !matches!(
                            e["name"].as_str(),
                            Some(
                                "AWS_ROLE_ARN"
                                    | "AWS_WEB_IDENTITY_TOKEN_FILE"
                                    | "AWS_STS_REGIONAL_ENDPOINTS"
                            )
                        )
                    });
                }
                if let Some(m) = c.get_mut("volumeMounts").and_then(Value::as_array_mut) {
                    m.retain(|v| v["name"] != "aws-iam-token");
                }
            }
        }
        if let Some(vs) = spec.get_mut("volumes").and_then(Value::as_array_mut) {
            vs.retain(|v| v["name"] != "aws-iam-token");
        }
    }
}

/// Keeps the last of env vars of the same name (the webhook's, after the pod's own).
fn dedupe_env(spec: &mut Value) {
    if let Some(cs) = spec.get_mut("containers").and_then(Value::as_array_mut) {
        for c in cs {
            if let Some(env) = c.get_mut("env").and_then(Value::as_array_mut) {
                let mut seen = std::collections::BTreeSet::new();
                let mut kept: Vec<Value> = env
                    .iter()
                    .rev()
                    .filter(|e| seen.insert(e["name"].as_str().unwrap_or_default().to_string()))
                    .cloned()
                    .collect();
                kept.reverse();
                *env = kept;
            }
        }
    }
}

/// Removes the Pod Identity env, mount and volume from a pod (`{"spec": …}`).
fn strip_pod_identity(p: &mut Value) {
    if let Some(cs) = p
        .pointer_mut("/spec/containers")
        .and_then(Value::as_array_mut)
    {
        for c in cs {
            if let Some(env) = c.get_mut("env").and_then(Value::as_array_mut) {
                env.retain(|e| !ENV_NAMES.contains(&e["name"].as_str().unwrap_or_default()));
            }
            if let Some(m) = c.get_mut("volumeMounts").and_then(Value::as_array_mut) {
                m.retain(|v| v["name"] != POD_IDENTITY_VOLUME);
            }
        }
    }
    if let Some(vs) = p.pointer_mut("/spec/volumes").and_then(Value::as_array_mut) {
        vs.retain(|v| v["name"] != POD_IDENTITY_VOLUME);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock;
    use crate::kube::resources;
    use crate::kube::seed::{namespace, service_account};

    fn deployment(sa: &str) -> Value {
        let labels = json!({ "app": "x" });
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": { "name": "x" },
            "spec": { "replicas": 1, "selector": { "matchLabels": labels },
                "template": { "metadata": { "labels": labels }, "spec": {
                    "serviceAccountName": sa,
                    "containers": [{ "name": "c", "image": "nginx" }] } } },
        })
    }

    fn cluster(associated: &'static str) -> KubeState {
        let st = KubeState::new(Arc::new(Clock::default()));
        st.put("namespaces", namespace("ns")).unwrap();
        st.put("serviceaccounts", service_account("ns", "sa", None))
            .unwrap();
        st.set_pod_identity_source(Arc::new(move |ns: &str, sa: &str| {
            ns == "ns" && sa == associated
        }));
        st
    }

    fn create(st: &KubeState, obj: Value) {
        let rt = resources::by_plural("deployments").unwrap();
        let made = st.create(rt, Some("ns"), obj).unwrap();
        st.reconcile_created("deployments", &made).unwrap();
    }

    #[test]
    fn pods_of_an_associated_service_account_get_the_container_credentials() {
        let st = cluster("sa");
        create(&st, deployment("sa"));
        let pod = st.list("pods", Some("ns")).pop().unwrap();
        let env = pod["spec"]["containers"][0]["env"].to_string();
        assert!(
            env.contains(POD_IDENTITY_CREDENTIALS_URI) && env.contains(POD_IDENTITY_TOKEN_FILE),
            "{env}"
        );
        assert!(!env.contains("AWS_ROLE_ARN"));
        let vols = pod["spec"]["volumes"].to_string();
        assert!(
            vols.contains("\"audience\":\"pods.eks.amazonaws.com\""),
            "{vols}"
        );
    }

    #[test]
    fn other_service_accounts_get_nothing_and_a_restart_picks_a_new_association_up() {
        let st = cluster("other");
        create(&st, deployment("sa"));
        let pod = st.list("pods", Some("ns")).pop().unwrap();
        assert!(
            !pod.to_string()
                .contains("AWS_CONTAINER_CREDENTIALS_FULL_URI")
        );
        let name = pod["metadata"]["name"].as_str().unwrap().to_string();
        st.set_pod_identity_source(Arc::new(|_: &str, sa: &str| sa == "sa"));
        let again = st.recreate_pod("ns", &name).unwrap();
        assert!(
            again
                .to_string()
                .contains("AWS_CONTAINER_CREDENTIALS_FULL_URI")
        );
        let stripped = st.strip_pod_identity_from_pod("ns", &name).unwrap();
        assert!(!stripped.to_string().contains(POD_IDENTITY_VOLUME));
    }

    #[test]
    fn the_agent_daemonset_reports_its_ready_count() {
        let st = cluster("sa");
        let ds = st.put_pod_identity_agent(2, 1).unwrap();
        assert_eq!(ds["metadata"]["namespace"], "kube-system");
        assert_eq!(ds["status"]["numberReady"], 1);
        assert_eq!(ds["status"]["numberUnavailable"], 1);
    }
}
