//! The healthy default cluster: an ADOT collector (OpenTelemetryCollector CR, its
//! Deployment, ReplicaSet and a Running Ready pod with the IRSA env and volume the pod
//! identity webhook adds), its annotated ServiceAccount, the ADOT operator, cert-manager,
//! and the usual system namespaces. Names come from [`ClusterSeed`]. Faults start from
//! here and break one thing (the helpers at the bottom do the common breaks).

use serde_json::{Value, json};

use super::status::KubeError;
use super::store::{KubeState, rfc3339};
use crate::eks::ClusterSeed;

/// The annotation IRSA reads.
pub const ROLE_ARN_ANNOTATION: &str = "eks.amazonaws.com/role-arn";
/// Where the pod identity webhook mounts the projected token.
pub const WEB_IDENTITY_TOKEN_FILE: &str = "/var/run/secrets/eks.amazonaws.com/serviceaccount/token";
/// The container name the OpenTelemetry operator gives the collector.
pub const COLLECTOR_CONTAINER: &str = "otc-container";
/// The ADOT operator's namespace when installed as the EKS add-on.
pub(crate) const OPERATOR_NAMESPACE: &str = "opentelemetry-operator-system";
pub(crate) const CERT_MANAGER_NAMESPACE: &str = "cert-manager";
/// cert-manager's three deployments, all Ready in the default.
pub const CERT_MANAGER_DEPLOYMENTS: [&str; 3] = [
    "cert-manager",
    "cert-manager-cainjector",
    "cert-manager-webhook",
];
pub(crate) const COLLECTOR_IMAGE: &str =
    "public.ecr.aws/aws-observability/aws-otel-collector:v0.40.0";

/// What [`KubeState::seed_healthy_adot`] made: the names a test or fault needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdotSeed {
    pub namespace: String,
    pub service_account: String,
    pub role_arn: String,
    /// OpenTelemetryCollector resource name.
    pub collector: String,
    pub deployment: String,
    pub replica_set: String,
    pub pod: String,
    pub container: String,
    /// The remote-write URL in the collector's config.
    pub remote_write_url: String,
}

/// A pod's short hash as the ReplicaSet controller makes it (fixed, for stable names).
const POD_TEMPLATE_HASH: &str = "6c8d9f7b5";

impl KubeState {
    /// Seeds the healthy default for `seed`: see the module docs. `remote_write_url` is the
    /// collector's `prometheusremotewrite.endpoint` (the stack passes the mock AMP
    /// workspace's URL) and `region` its `sigv4auth.region`.
    pub fn seed_healthy_adot(
        &self,
        seed: &ClusterSeed,
        region: &str,
        remote_write_url: &str,
    ) -> Result<AdotSeed, KubeError> {
        let (major, minor) = seed.version_parts();
        self.set_version(&major, &minor);
        let now = rfc3339(self.clock.now());

        for ns in [
            "default",
            "kube-system",
            "kube-public",
            "kube-node-lease",
            CERT_MANAGER_NAMESPACE,
            OPERATOR_NAMESPACE,
            seed.namespace.as_str(),
        ] {
            self.put("namespaces", namespace(ns))?;
            // The service account controller gives every namespace a `default` one.
            self.put("serviceaccounts", service_account(ns, "default", None))?;
        }
        self.put("nodes", node(seed, region))?;
        for crd in [
            (
                "opentelemetry.io",
                "opentelemetrycollectors",
                "OpenTelemetryCollector",
                "v1beta1",
            ),
            ("cert-manager.io", "certificates", "Certificate", "v1"),
            ("cert-manager.io", "issuers", "Issuer", "v1"),
        ] {
            self.put(
                "customresourcedefinitions",
                crd_object(crd.0, crd.1, crd.2, crd.3),
            )?;
        }

        // cert-manager and the ADOT operator, Ready.
        for name in CERT_MANAGER_DEPLOYMENTS {
            let repo = if name == "cert-manager" {
                "cert-manager-controller"
            } else {
                name
            };
            let image = format!("quay.io/jetstack/{repo}:v1.15.3");
            let node = seed.node_name.as_str();
            self.seed_workload(CERT_MANAGER_NAMESPACE, name, name, &image, node, &now)?;
        }
        self.seed_workload(
            OPERATOR_NAMESPACE,
            "opentelemetry-operator",
            "opentelemetry-operator",
            "public.ecr.aws/aws-observability/adot-operator:0.109.0",
            &seed.node_name,
            &now,
        )?;

        // The collector.
        let ns = seed.namespace.as_str();
        let role_arn = seed.role_arn();
        self.put(
            "serviceaccounts",
            service_account(ns, &seed.service_account, Some(&role_arn)),
        )?;
        let cr = self.put(
            "opentelemetrycollectors",
            collector_resource(seed, region, remote_write_url),
        )?;
        let deployment_name = seed.collector_deployment();
        let labels = collector_labels(seed);
        let deployment = self.put(
            "deployments",
            deployment(
                ns,
                &deployment_name,
                &labels,
                &collector_pod_spec(seed, region),
                1,
                Some(&cr),
            ),
        )?;
        let rs_name = format!("{deployment_name}-{POD_TEMPLATE_HASH}");
        let rs = self.put(
            "replicasets",
            replica_set(ns, &rs_name, &labels, &deployment),
        )?;
        let pod_name = format!("{rs_name}-x2k4p");
        let pod = self.put(
            "pods",
            running_pod(
                ns,
                &pod_name,
                &labels,
                collector_pod_spec(seed, region),
                &rs,
                &now,
            ),
        )?;
        self.set_pod_log(ns, &pod_name, COLLECTOR_CONTAINER, &collector_log(&now));
        self.record_event(&pod, "Normal", "Started", "Started container otc-container")?;

        Ok(AdotSeed {
            namespace: ns.to_string(),
            service_account: seed.service_account.clone(),
            role_arn,
            collector: seed.collector_name.clone(),
            deployment: deployment_name,
            replica_set: rs_name,
            pod: pod_name,
            container: COLLECTOR_CONTAINER.to_string(),
            remote_write_url: remote_write_url.to_string(),
        })
    }

    /// A Deployment, its ReplicaSet and one Running Ready pod on `node`.
    fn seed_workload(
        &self,
        ns: &str,
        name: &str,
        container: &str,
        image: &str,
        node: &str,
        now: &str,
    ) -> Result<(), KubeError> {
        let labels = json!({ "app.kubernetes.io/name": name, "app.kubernetes.io/instance": name });
        let spec = json!({
            "serviceAccountName": name,
            "containers": [{ "name": container, "image": image }],
        });
        let d = self.put("deployments", deployment(ns, name, &labels, &spec, 1, None))?;
        let rs_name = format!("{name}-7f9b8c6d4");
        let rs = self.put("replicasets", replica_set(ns, &rs_name, &labels, &d))?;
        let pod_name = format!("{rs_name}-q8w2m");
        let mut pod_spec = spec;
        pod_spec["nodeName"] = json!(node);
        self.put(
            "pods",
            running_pod(ns, &pod_name, &labels, pod_spec, &rs, now),
        )?;
        self.set_pod_log(
            ns,
            &pod_name,
            container,
            &format!("{now} I0501 started {name}\n"),
        );
        Ok(())
    }

    // --- the common breaks ---

    /// Makes a pod crash-loop (F15): not ready, `CrashLoopBackOff` waiting, the last
    /// instance terminated with `exit_code` after `restarts` restarts; `last_log` becomes
    /// the previous instance's log (`kubectl logs --previous`) and the current one. Also
    /// records the kubelet's BackOff event.
    pub fn set_pod_crash_looping(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
        restarts: u32,
        exit_code: i32,
        last_log: &str,
    ) -> Result<Value, KubeError> {
        let now = rfc3339(self.clock.now());
        let obj = self.update("pods", namespace, pod, |p| {
            let uid = p
                .pointer("/metadata/uid")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let status = &mut p["status"];
            status["phase"] = json!("Running");
            set_condition(status, "Ready", "False", Some("ContainersNotReady"));
            set_condition(status, "ContainersReady", "False", Some("ContainersNotReady"));
            let image = status
                .pointer("/containerStatuses/0/image")
                .cloned()
                .unwrap_or(json!(COLLECTOR_IMAGE));
            status["containerStatuses"] = json!([{
                "name": container,
                "ready": false,
                "started": false,
                "restartCount": restarts,
                "image": image,
                "imageID": "",
                "state": { "waiting": {
                    "reason": "CrashLoopBackOff",
                    "message": format!(
                        "back-off 5m0s restarting failed container={container} pod={pod}_{namespace}({uid})"
                    ),
                } },
                "lastState": { "terminated": {
                    "exitCode": exit_code,
                    "reason": "Error",
                    "startedAt": now,
                    "finishedAt": now,
                } },
            }]);
        })?;
        self.set_pod_previous_log(namespace, pod, container, last_log);
        self.set_pod_log(namespace, pod, container, last_log);
        self.record_event(
            &obj,
            "Warning",
            "BackOff",
            &format!("Back-off restarting failed container {container} in pod {pod}_{namespace}"),
        )?;
        Ok(obj)
    }

    /// Sets a Deployment's ready and available replica counts, with the `Available`
    /// condition following (False when fewer than `spec.replicas` are ready).
    pub(crate) fn set_deployment_ready(
        &self,
        namespace: &str,
        name: &str,
        ready: u32,
    ) -> Result<Value, KubeError> {
        self.update("deployments", namespace, name, |d| {
            let want = d
                .pointer("/spec/replicas")
                .and_then(Value::as_u64)
                .unwrap_or(1);
            let status = &mut d["status"];
            status["readyReplicas"] = json!(ready);
            status["availableReplicas"] = json!(ready);
            if u64::from(ready) < want {
                status["unavailableReplicas"] = json!(want - u64::from(ready));
                set_condition(
                    status,
                    "Available",
                    "False",
                    Some("MinimumReplicasUnavailable"),
                );
            } else {
                if let Some(s) = status.as_object_mut() {
                    s.remove("unavailableReplicas");
                }
                set_condition(
                    status,
                    "Available",
                    "True",
                    Some("MinimumReplicasAvailable"),
                );
            }
        })
    }

    /// Sets (or adds) env var `name` of a pod's container: where the pod's SDK finds an
    /// endpoint (`AWS_ENDPOINT_URL_STS`), for the stack and for faults.
    pub(crate) fn set_container_env(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
        name: &str,
        value: &str,
    ) -> Result<Value, KubeError> {
        self.update("pods", namespace, pod, |p| {
            let Some(cs) = p
                .pointer_mut("/spec/containers")
                .and_then(Value::as_array_mut)
            else {
                return;
            };
            for c in cs.iter_mut().filter(|c| c["name"] == container) {
                if !c["env"].is_array() {
                    c["env"] = json!([]);
                }
                if let Some(env) = c["env"].as_array_mut() {
                    env.retain(|e| e["name"] != name);
                    env.push(json!({ "name": name, "value": value }));
                }
            }
        })
    }

    /// Marks a pod Running but not Ready, its container's readiness probe failing with
    /// `message` (the kubelet's Unhealthy event), and its Deployment with no ready replica.
    pub(crate) fn set_pod_unready(
        &self,
        namespace: &str,
        pod: &str,
        deployment: &str,
        message: &str,
    ) -> Result<Value, KubeError> {
        let obj = self.update("pods", namespace, pod, |p| {
            let status = &mut p["status"];
            set_condition(status, "Ready", "False", Some("ContainersNotReady"));
            set_condition(
                status,
                "ContainersReady",
                "False",
                Some("ContainersNotReady"),
            );
            if let Some(cs) = status["containerStatuses"].as_array_mut() {
                for c in cs {
                    c["ready"] = json!(false);
                }
            }
        })?;
        self.set_deployment_ready(namespace, deployment, 0)?;
        self.record_event(&obj, "Warning", "Unhealthy", message)?;
        Ok(obj)
    }

    /// Removes an annotation from an object (F11: the SA's role-arn annotation).
    pub fn remove_annotation(
        &self,
        resource: &str,
        namespace: &str,
        name: &str,
        key: &str,
    ) -> Result<Value, KubeError> {
        self.update(resource, namespace, name, |o| {
            if let Some(a) = o
                .pointer_mut("/metadata/annotations")
                .and_then(Value::as_object_mut)
            {
                a.remove(key);
            }
        })
    }

    /// Strips what the pod identity webhook adds from a pod (F26: the SA was annotated
    /// after the pod started): the `AWS_ROLE_ARN` / `AWS_WEB_IDENTITY_TOKEN_FILE` env, the
    /// `aws-iam-token` volume and its mounts.
    pub(crate) fn strip_irsa_from_pod(
        &self,
        namespace: &str,
        pod: &str,
    ) -> Result<Value, KubeError> {
        self.update("pods", namespace, pod, |p| {
            if let Some(cs) = p
                .pointer_mut("/spec/containers")
                .and_then(Value::as_array_mut)
            {
                for c in cs {
                    if let Some(env) = c.get_mut("env").and_then(Value::as_array_mut) {
                        env.retain(|e| {
                            !matches!(
                                e.get("name").and_then(Value::as_str),
                                Some(
                                    "AWS_ROLE_ARN"
                                        | "AWS_WEB_IDENTITY_TOKEN_FILE"
                                        | "AWS_STS_REGIONAL_ENDPOINTS"
                                )
                            )
                        });
                    }
                    if let Some(m) = c.get_mut("volumeMounts").and_then(Value::as_array_mut) {
                        m.retain(|v| {
                            v.get("name").and_then(Value::as_str) != Some("aws-iam-token")
                        });
                    }
                }
            }
            if let Some(vs) = p.pointer_mut("/spec/volumes").and_then(Value::as_array_mut) {
                vs.retain(|v| v.get("name").and_then(Value::as_str) != Some("aws-iam-token"));
            }
        })
    }
}

/// Sets (or adds) a condition of a status object.
fn set_condition(status: &mut Value, kind: &str, value: &str, reason: Option<&str>) {
    if !status.get("conditions").is_some_and(Value::is_array) {
        status["conditions"] = json!([]);
    }
    let conds = status["conditions"]
        .as_array_mut()
        .expect("made an array above");
    let mut c = json!({ "type": kind, "status": value });
    if let Some(r) = reason {
        c["reason"] = json!(r);
    }
    match conds.iter_mut().find(|c| c["type"] == kind) {
        Some(existing) => {
            existing["status"] = json!(value);
            if let Some(r) = reason {
                existing["reason"] = json!(r);
            }
        }
        None => conds.push(c),
    }
}

// ---------------------------------------------------------------------------------------
// Object builders (pub: tests and faults build variants with them)

pub fn namespace(name: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": { "name": name, "labels": { "kubernetes.io/metadata.name": name } },
        "spec": { "finalizers": ["kubernetes"] },
        "status": { "phase": "Active" },
    })
}

/// A ServiceAccount, annotated with `eks.amazonaws.com/role-arn` when `role_arn` is set.
pub fn service_account(ns: &str, name: &str, role_arn: Option<&str>) -> Value {
    let mut sa = json!({
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": { "name": name, "namespace": ns },
    });
    if let Some(arn) = role_arn {
        sa["metadata"]["annotations"] = json!({ ROLE_ARN_ANNOTATION: arn });
    }
    sa
}

/// The worker node, with the `providerID` that names its EC2 instance.
fn node(seed: &ClusterSeed, region: &str) -> Value {
    let name = seed.node_name.as_str();
    let version = seed.kubernetes_version.as_str();
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "spec": { "providerID": seed.provider_id(region) },
        "metadata": { "name": name, "labels": {
            "topology.kubernetes.io/zone": seed.availability_zone(region),
            "kubernetes.io/hostname": name,
            "kubernetes.io/os": "linux",
            "eks.amazonaws.com/nodegroup": "pipecheck-ng",
        } },
        "status": {
            "conditions": [{ "type": "Ready", "status": "True", "reason": "KubeletReady" }],
            "nodeInfo": { "kubeletVersion": format!("v{version}.0-eks-pipecheck"), "osImage": "Amazon Linux 2023" },
            "addresses": [{ "type": "InternalIP", "address": "192.168.12.34" }],
        },
    })
}

/// A namespaced CustomResourceDefinition, Established, serving `version`.
pub(crate) fn crd_object(group: &str, plural: &str, kind: &str, version: &str) -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": { "name": format!("{plural}.{group}") },
        "spec": {
            "group": group,
            "names": { "plural": plural, "kind": kind, "singular": kind.to_lowercase() },
            "scope": "Namespaced",
            "versions": [{ "name": version, "served": true, "storage": true }],
        },
        "status": { "conditions": [{ "type": "Established", "status": "True" }] },
    })
}

fn collector_labels(seed: &ClusterSeed) -> Value {
    json!({
        "app.kubernetes.io/component": "opentelemetry-collector",
        "app.kubernetes.io/instance": format!("{}.{}", seed.namespace, seed.collector_name),
        "app.kubernetes.io/managed-by": "opentelemetry-operator",
        "app.kubernetes.io/name": seed.collector_deployment(),
        "app.kubernetes.io/part-of": "opentelemetry",
    })
}

/// The collector's config (aws-wire.md D): prometheus receiver with kubernetes_sd,
/// batch, prometheusremotewrite signed by sigv4auth.
pub fn collector_config(region: &str, remote_write_url: &str) -> Value {
    json!({
        "extensions": { "sigv4auth": { "region": region, "service": "aps" } },
        "receivers": { "prometheus": { "config": {
            "global": { "scrape_interval": "15s", "scrape_timeout": "10s" },
            "scrape_configs": [{
                "job_name": "kubernetes-pods",
                "kubernetes_sd_configs": [{ "role": "pod" }],
                "relabel_configs": [
                    { "source_labels": ["__meta_kubernetes_pod_annotation_prometheus_io_scrape"], "action": "keep", "regex": "true" },
                    { "source_labels": ["__address__", "__meta_kubernetes_pod_annotation_prometheus_io_port"],
                      "action": "replace", "regex": "([^:]+)(?::\\d+)?;(\\d+)", "replacement": "$$1:$$2",
                      "target_label": "__address__" },
                    { "source_labels": ["__meta_kubernetes_namespace"], "action": "replace", "target_label": "namespace" },
                    { "source_labels": ["__meta_kubernetes_pod_name"], "action": "replace", "target_label": "pod" },
                ],
            }],
        } } },
        "processors": { "batch": {} },
        "exporters": { "prometheusremotewrite": {
            "endpoint": remote_write_url,
            "auth": { "authenticator": "sigv4auth" },
        } },
        "service": {
            "extensions": ["sigv4auth"],
            "pipelines": { "metrics": {
                "receivers": ["prometheus"],
                "processors": ["batch"],
                "exporters": ["prometheusremotewrite"],
            } },
        },
    })
}

fn collector_resource(seed: &ClusterSeed, region: &str, remote_write_url: &str) -> Value {
    json!({
        "apiVersion": "opentelemetry.io/v1beta1",
        "kind": "OpenTelemetryCollector",
        "metadata": { "name": seed.collector_name, "namespace": seed.namespace, "generation": 1 },
        "spec": {
            "mode": "deployment",
            "replicas": 1,
            "serviceAccount": seed.service_account,
            "image": COLLECTOR_IMAGE,
            "config": collector_config(region, remote_write_url),
        },
        "status": {
            "version": "0.109.0",
            "image": COLLECTOR_IMAGE,
            "scale": {
                "replicas": 1,
                "selector": format!(
                    "app.kubernetes.io/component=opentelemetry-collector,app.kubernetes.io/instance={}.{}",
                    seed.namespace, seed.collector_name
                ),
                "statusReplicas": "1/1",
            },
        },
    })
}

/// The collector pod's spec as the operator and the pod identity webhook leave it: the
/// IRSA env (`AWS_ROLE_ARN`, `AWS_WEB_IDENTITY_TOKEN_FILE`) and the projected
/// `aws-iam-token` volume.
fn collector_pod_spec(seed: &ClusterSeed, region: &str) -> Value {
    json!({
        "serviceAccountName": seed.service_account,
        "serviceAccount": seed.service_account,
        "nodeName": seed.node_name,
        "containers": [{
            "name": COLLECTOR_CONTAINER,
            "image": COLLECTOR_IMAGE,
            "args": ["--config=/conf/collector.yaml"],
            "ports": [{ "name": "metrics", "containerPort": 8888, "protocol": "TCP" }],
            "env": [
                { "name": "POD_NAME", "valueFrom": { "fieldRef": { "apiVersion": "v1", "fieldPath": "metadata.name" } } },
                { "name": "AWS_STS_REGIONAL_ENDPOINTS", "value": "regional" },
                { "name": "AWS_DEFAULT_REGION", "value": region },
                { "name": "AWS_REGION", "value": region },
                { "name": "AWS_ROLE_ARN", "value": seed.role_arn() },
                { "name": "AWS_WEB_IDENTITY_TOKEN_FILE", "value": WEB_IDENTITY_TOKEN_FILE },
            ],
            "volumeMounts": [
                { "name": "otc-internal", "mountPath": "/conf" },
                { "name": "aws-iam-token", "mountPath": "/var/run/secrets/eks.amazonaws.com/serviceaccount", "readOnly": true },
            ],
        }],
        "volumes": [
            { "name": "otc-internal", "configMap": { "name": format!("{}-{}", seed.collector_deployment(), "a1b2c3d4"), "items": [{ "key": "collector.yaml", "path": "collector.yaml" }] } },
            { "name": "aws-iam-token", "projected": { "defaultMode": 420, "sources": [{ "serviceAccountToken": {
                "audience": "sts.amazonaws.com", "expirationSeconds": 86400, "path": "token",
            } }] } },
        ],
    })
}

fn owner_ref(owner: &Value, controller: bool) -> Value {
    json!({
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": controller,
        "blockOwnerDeletion": true,
    })
}

fn deployment(
    ns: &str,
    name: &str,
    labels: &Value,
    pod_spec: &Value,
    replicas: u32,
    owner: Option<&Value>,
) -> Value {
    let mut d = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": { "name": name, "namespace": ns, "labels": labels, "generation": 1 },
        "spec": {
            "replicas": replicas,
            "selector": { "matchLabels": labels },
            "template": { "metadata": { "labels": labels }, "spec": pod_spec },
            "strategy": { "type": "RollingUpdate" },
        },
        "status": {
            "observedGeneration": 1,
            "replicas": replicas,
            "updatedReplicas": replicas,
            "readyReplicas": replicas,
            "availableReplicas": replicas,
            "conditions": [
                { "type": "Available", "status": "True", "reason": "MinimumReplicasAvailable", "message": "Deployment has minimum availability." },
                { "type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable" },
            ],
        },
    });
    if let Some(o) = owner {
        d["metadata"]["ownerReferences"] = json!([owner_ref(o, true)]);
    }
    d
}

pub(crate) fn replica_set(ns: &str, name: &str, labels: &Value, deployment: &Value) -> Value {
    let mut labels = labels.clone();
    labels["pod-template-hash"] = json!(name.rsplit('-').next().unwrap_or_default());
    let replicas = deployment
        .pointer("/spec/replicas")
        .cloned()
        .unwrap_or(json!(1));
    json!({
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": { "name": name, "namespace": ns, "labels": labels, "ownerReferences": [owner_ref(deployment, true)] },
        "spec": { "replicas": replicas, "selector": { "matchLabels": labels },
                  "template": deployment.pointer("/spec/template").cloned().unwrap_or(json!({})) },
        "status": { "replicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas, "fullyLabeledReplicas": replicas },
    })
}

pub(crate) fn running_pod(
    ns: &str,
    name: &str,
    labels: &Value,
    spec: Value,
    rs: &Value,
    now: &str,
) -> Value {
    let mut labels = labels.clone();
    if let Some(h) = rs.pointer("/metadata/labels/pod-template-hash") {
        labels["pod-template-hash"] = h.clone();
    }
    let statuses: Vec<Value> = spec["containers"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .map(|c| {
                    json!({
                        "name": c["name"],
                        "image": c["image"],
                        "imageID": format!("{}@sha256:{}", c["image"].as_str().unwrap_or_default(), "0".repeat(64)),
                        "containerID": format!("containerd://{}", uuid::Uuid::new_v4().simple()),
                        "ready": true,
                        "started": true,
                        "restartCount": 0,
                        "state": { "running": { "startedAt": now } },
                        "lastState": {},
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let conditions: Vec<Value> = [
        "PodReadyToStartContainers",
        "Initialized",
        "Ready",
        "ContainersReady",
        "PodScheduled",
    ]
    .iter()
    .map(|t| json!({ "type": t, "status": "True", "lastTransitionTime": now }))
    .collect();
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": ns,
            "labels": labels,
            "ownerReferences": [owner_ref(rs, true)],
        },
        "spec": spec,
        "status": {
            "phase": "Running",
            "conditions": conditions,
            "hostIP": "192.168.12.34",
            "podIP": "192.168.15.21",
            "podIPs": [{ "ip": "192.168.15.21" }],
            "startTime": now,
            "containerStatuses": statuses,
            "qosClass": "BestEffort",
        },
    })
}

/// What a healthy ADOT collector logs at start.
fn collector_log(now: &str) -> String {
    let ts = now.trim_end_matches('Z');
    [
        "info\tservice@v0.110.0/service.go:137\tSetting up own telemetry...",
        "info\tservice@v0.110.0/service.go:207\tStarting aws-otel-collector...\t{\"Version\": \"v0.40.0\", \"NumCPU\": 2}",
        "info\textensions/extensions.go:39\tStarting extensions...",
        "info\textensions/extensions.go:42\tExtension is starting...\t{\"kind\": \"extension\", \"name\": \"sigv4auth\"}",
        "info\textensions/extensions.go:59\tExtension started.\t{\"kind\": \"extension\", \"name\": \"sigv4auth\"}",
        "info\tprometheusreceiver@v0.110.0/metrics_receiver.go:307\tStarting discovery manager\t{\"kind\": \"receiver\", \"name\": \"prometheus\", \"data_type\": \"metrics\"}",
        "info\tprometheusreceiver@v0.110.0/metrics_receiver.go:349\tStarting scrape manager\t{\"kind\": \"receiver\", \"name\": \"prometheus\", \"data_type\": \"metrics\"}",
        "info\tservice@v0.110.0/service.go:230\tEverything is ready. Begin running and processing data.",
    ]
    .iter()
    .map(|l| format!("{ts}.000Z\t{l}\n"))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock;
    use std::sync::Arc;

    #[test]
    fn seed_is_consistent_and_healthy() {
        let st = KubeState::new(Arc::new(Clock::default()));
        let seed = ClusterSeed::default();
        let s = st
            .seed_healthy_adot(
                &seed,
                "us-east-1",
                "http://127.0.0.1:1/workspaces/ws-1/api/v1/remote_write",
            )
            .unwrap();
        assert_eq!(s.deployment, "adot-collector");
        let sa = st
            .get("serviceaccounts", "adot-col", "adot-collector")
            .unwrap();
        assert_eq!(
            sa["metadata"]["annotations"][ROLE_ARN_ANNOTATION],
            "arn:aws:iam::111122223333:role/pipecheck-adot-collector"
        );
        let pod = st.get("pods", "adot-col", &s.pod).unwrap();
        assert_eq!(pod["spec"]["serviceAccountName"], "adot-collector");
        assert_eq!(pod["status"]["containerStatuses"][0]["ready"], true);
        let cr = st
            .get("opentelemetrycollectors", "adot-col", "adot")
            .unwrap();
        assert_eq!(
            cr["spec"]["config"]["exporters"]["prometheusremotewrite"]["auth"]["authenticator"],
            "sigv4auth"
        );
        // The pod's owner chain leads to the collector resource.
        let rs = &pod["metadata"]["ownerReferences"][0];
        assert_eq!(rs["kind"], "ReplicaSet");
        let d = st.get("deployments", "adot-col", "adot-collector").unwrap();
        assert_eq!(
            d["metadata"]["ownerReferences"][0]["uid"],
            cr["metadata"]["uid"]
        );
        for name in CERT_MANAGER_DEPLOYMENTS {
            let d = st.get("deployments", CERT_MANAGER_NAMESPACE, name).unwrap();
            assert_eq!(d["status"]["readyReplicas"], 1);
        }
        assert!(
            st.pod_log("adot-col", &s.pod, COLLECTOR_CONTAINER)
                .0
                .contains("Everything is ready")
        );
    }

    #[test]
    fn breaks() {
        let st = KubeState::new(Arc::new(Clock::default()));
        let s = st
            .seed_healthy_adot(&ClusterSeed::default(), "us-east-1", "http://x")
            .unwrap();
        let p = st
            .set_pod_crash_looping(
                &s.namespace,
                &s.pod,
                &s.container,
                7,
                1,
                "Error: could not get SigV4 credentials\n",
            )
            .unwrap();
        assert_eq!(
            p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"],
            "CrashLoopBackOff"
        );
        assert_eq!(p["status"]["containerStatuses"][0]["restartCount"], 7);
        assert_eq!(
            st.pod_log(&s.namespace, &s.pod, &s.container).1.as_deref(),
            Some("Error: could not get SigV4 credentials\n")
        );
        let d = st
            .set_deployment_ready(&s.namespace, &s.deployment, 0)
            .unwrap();
        assert_eq!(d["status"]["conditions"][0]["status"], "False");
        let sa = st
            .remove_annotation(
                "serviceaccounts",
                &s.namespace,
                &s.service_account,
                ROLE_ARN_ANNOTATION,
            )
            .unwrap();
        assert_eq!(sa["metadata"]["annotations"], json!({}));
        let p = st.strip_irsa_from_pod(&s.namespace, &s.pod).unwrap();
        let text = p.to_string();
        assert!(!text.contains("AWS_ROLE_ARN") && !text.contains("aws-iam-token"));
    }
}
