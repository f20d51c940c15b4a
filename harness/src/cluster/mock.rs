//! The mock target's cluster for a cluster scenario: the names to seed the mock stack
//! with ([`seed_for`], kept in one `ClusterSeed`), the Prometheus variant made from the
//! mock's ADOT seed through the `KubeState` API ([`prepare_mock_cluster`]; the operator and
//! DaemonSet shapes in `mock_shapes.rs`), and the fault recipes of catalog rows F11-F20
//! and F26-F33 on that cluster ([`MockCluster`]).

use pipecheck_mocks::ec2::{RouteTarget, VpcEndpoint};
use pipecheck_mocks::eks::{AddonIssue, AddonStatus};
use pipecheck_mocks::iam::irsa_trust_policy;
use pipecheck_mocks::kube::{
    CERT_MANAGER_NAMESPACE, OPERATOR_NAMESPACE, ROLE_ARN_ANNOTATION, service_account,
};
use pipecheck_mocks::{ClusterSeed, MockStack};
use serde_json::{Value, json};

use crate::scenario::{ClusterCollector, ClusterSpec};

/// The role and policy names of the AMP workshop's Prometheus setup.
const PROMETHEUS_ROLE: &str = "amp-iamproxy-ingest-role";
const PROMETHEUS_POLICY: &str = "AMPIngestPolicy";
const PROMETHEUS_IMAGE: &str = "quay.io/prometheus/prometheus:v2.53.1";
const RELOAD_IMAGE: &str = "quay.io/prometheus-operator/prometheus-config-reloader:v0.75.2";

/// The names the mock stack is seeded with for `spec`: one `ClusterSeed` for EKS, IAM
/// and the Kubernetes API.
pub fn seed_for(spec: &ClusterSpec) -> ClusterSeed {
    let base = ClusterSeed {
        cluster_name: spec.name.clone(),
        namespace: spec.namespace.clone(),
        collector_name: spec.collector.clone(),
        ..ClusterSeed::default()
    };
    match spec.kind {
        ClusterCollector::Adot => ClusterSeed {
            // The operator's default when the resource names no service account.
            service_account: spec
                .service_account
                .clone()
                .unwrap_or_else(|| format!("{}-collector", spec.collector)),
            ..base
        },
        // kube-prometheus-stack names the Prometheus resource and its service account
        // alike (`<release>-kube-prometheus-prometheus`); the AMP guide's IRSA role.
        ClusterCollector::Prometheus | ClusterCollector::PrometheusOperator => ClusterSeed {
            service_account: spec
                .service_account
                .clone()
                .unwrap_or_else(|| spec.collector.clone()),
            role_name: PROMETHEUS_ROLE.to_string(),
            policy_name: PROMETHEUS_POLICY.to_string(),
            ..base
        },
        ClusterCollector::Otelcol => ClusterSeed {
            service_account: spec
                .service_account
                .clone()
                .unwrap_or_else(|| spec.collector.clone()),
            ..base
        },
        // No collector runs in the cluster: the seed's ADOT objects are removed again.
        ClusterCollector::AmpScraper => ClusterSeed {
            service_account: "default".to_string(),
            ..base
        },
    }
}

/// The mock cluster of one run: its seed and the collector's objects, for fault recipes.
#[derive(Clone, Debug)]
pub struct MockCluster {
    pub kind: ClusterCollector,
    pub seed: ClusterSeed,
    pub region: String,
    /// The collector's Deployment, one of its pods and the collector's container.
    pub deployment: String,
    pub pod: String,
    pub container: String,
}

/// The collector of `spec` on a mock stack started with [`seed_for`]`(spec)`: the mock's
/// ADOT seed as is, or (Prometheus) that seed turned into the workshop's setup: the ADOT
/// collector, operator and add-on removed, the chart's server Deployment, ReplicaSet, pod
/// and ConfigMap added, running as the seed's (annotated) service account. With
/// `identity: pod-identity`, then turned to EKS Pod Identity (`mock_pod_identity.rs`).
pub fn prepare_mock_cluster(
    stack: &MockStack,
    spec: &ClusterSpec,
    region: &str,
) -> Result<MockCluster, String> {
    let cluster = prepare_collector(stack, spec, region)?;
    if spec.pod_identity() {
        cluster.use_pod_identity(stack)?;
    }
    Ok(cluster)
}

/// The collector of `spec` under IRSA, as the mock's seed has it.
fn prepare_collector(
    stack: &MockStack,
    spec: &ClusterSpec,
    region: &str,
) -> Result<MockCluster, String> {
    let seed = seed_for(spec);
    let adot = stack
        .adot
        .clone()
        .ok_or("the mock stack was started without a cluster")?;
    match spec.kind {
        ClusterCollector::AmpScraper => super::mock_scraper::prepare(stack, seed, spec, region),
        ClusterCollector::Adot => Ok(MockCluster {
            kind: spec.kind,
            seed,
            region: region.to_string(),
            deployment: adot.deployment,
            pod: adot.pod,
            container: adot.container,
        }),
        kind => {
            let k = &stack.kube;
            let ns = adot.namespace.as_str();
            k.delete("pods", ns, &adot.pod);
            k.delete("replicasets", ns, &adot.replica_set);
            k.delete("deployments", ns, &adot.deployment);
            k.delete("opentelemetrycollectors", ns, &adot.collector);
            k.delete("namespaces", "", OPERATOR_NAMESPACE);
            stack.eks.remove_addon(&seed.cluster_name, "adot");
            let url = &adot.remote_write_url;
            let names = match kind {
                ClusterCollector::PrometheusOperator => {
                    super::mock_shapes::put_operator_prometheus(stack, &seed, region, url)?
                }
                ClusterCollector::Otelcol if seed.collector_name.ends_with("-agent") => {
                    super::mock_shapes::put_otel_daemonset(stack, &seed, region, url)?
                }
                ClusterCollector::Otelcol => {
                    super::mock_shapes::put_otel_deployment(stack, &seed, region, url)?
                }
                _ => put_prometheus_server(stack, &seed, region, url)?,
            };
            Ok(MockCluster {
                kind: spec.kind,
                seed,
                region: region.to_string(),
                deployment: names.0,
                pod: names.1,
                container: names.2,
            })
        }
    }
}

/// The prometheus-community chart's server as helm and the pod identity webhook leave it.
pub(crate) fn put_prometheus_server(
    stack: &MockStack,
    seed: &ClusterSeed,
    region: &str,
    remote_write_url: &str,
) -> Result<(String, String, String), String> {
    let k = &stack.kube;
    let ns = seed.namespace.as_str();
    let name = seed.collector_name.as_str();
    let release = name.strip_suffix("-server").unwrap_or(name);
    let err = |e: pipecheck_mocks::kube::KubeError| e.to_string();
    let labels = json!({
        "app.kubernetes.io/component": "server",
        "app.kubernetes.io/instance": release,
        "app.kubernetes.io/name": "prometheus",
        "app.kubernetes.io/part-of": "prometheus",
    });
    let config = format!(
        "global:\n  evaluation_interval: 1m\n  scrape_interval: 15s\n  scrape_timeout: 10s\n\
         remote_write:\n- queue_config:\n    capacity: 2500\n    max_samples_per_send: 1000\n    max_shards: 200\n  \
         sigv4:\n    region: {region}\n  url: {remote_write_url}\n\
         scrape_configs:\n- job_name: prometheus\n  static_configs:\n  - targets:\n    - localhost:9090\n\
         - job_name: kubernetes-pods\n  kubernetes_sd_configs:\n  - role: pod\n  relabel_configs:\n  \
         - action: keep\n    regex: true\n    source_labels:\n    - __meta_kubernetes_pod_annotation_prometheus_io_scrape\n"
    );
    k.put(
        "configmaps",
        json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": { "name": name, "namespace": ns, "labels": labels },
            "data": { "prometheus.yml": config, "alerting_rules.yml": "{}\n", "recording_rules.yml": "{}\n" },
        }),
    )
    .map_err(err)?;
    let pod_spec = json!({
        "serviceAccountName": seed.service_account,
        "serviceAccount": seed.service_account,
        "containers": [
            {
                "name": "prometheus-server-configmap-reload",
                "image": RELOAD_IMAGE,
                "args": ["--watched-dir=/etc/config", "--reload-url=http://127.0.0.1:9090/-/reload"],
                "volumeMounts": [{ "name": "config-volume", "mountPath": "/etc/config", "readOnly": true }],
            },
            {
                "name": "prometheus-server",
                "image": PROMETHEUS_IMAGE,
                "args": [
                    "--storage.tsdb.retention.time=15d",
                    "--config.file=/etc/config/prometheus.yml",
                    "--storage.tsdb.path=/data",
                    "--web.enable-lifecycle",
                ],
                "ports": [{ "containerPort": 9090, "protocol": "TCP" }],
                "env": [
                    { "name": "AWS_STS_REGIONAL_ENDPOINTS", "value": "regional" },
                    // The mock's STS, where the server's SDK looks for an override.
                    { "name": "AWS_ENDPOINT_URL_STS", "value": stack.endpoints().sts },
                    { "name": "AWS_DEFAULT_REGION", "value": region },
                    { "name": "AWS_REGION", "value": region },
                    { "name": "AWS_ROLE_ARN", "value": seed.role_arn() },
                    { "name": "AWS_WEB_IDENTITY_TOKEN_FILE", "value": pipecheck_mocks::kube::WEB_IDENTITY_TOKEN_FILE },
                ],
                "volumeMounts": [
                    { "name": "config-volume", "mountPath": "/etc/config" },
                    { "name": "storage-volume", "mountPath": "/data" },
                    { "name": "aws-iam-token", "mountPath": "/var/run/secrets/eks.amazonaws.com/serviceaccount", "readOnly": true },
                ],
            },
        ],
        "volumes": [
            { "name": "config-volume", "configMap": { "name": name, "defaultMode": 420 } },
            { "name": "storage-volume", "emptyDir": {} },
            { "name": "aws-iam-token", "projected": { "defaultMode": 420, "sources": [{ "serviceAccountToken": {
                "audience": "sts.amazonaws.com", "expirationSeconds": 86400, "path": "token",
            } }] } },
        ],
    });
    let deployment = k
        .put(
            "deployments",
            json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": { "name": name, "namespace": ns, "labels": labels, "generation": 1 },
                "spec": {
                    "replicas": 1,
                    "selector": { "matchLabels": labels },
                    "template": { "metadata": { "labels": labels }, "spec": pod_spec },
                    "strategy": { "type": "Recreate" },
                },
                "status": {
                    "observedGeneration": 1, "replicas": 1, "updatedReplicas": 1,
                    "readyReplicas": 1, "availableReplicas": 1,
                    "conditions": [
                        { "type": "Available", "status": "True", "reason": "MinimumReplicasAvailable" },
                        { "type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable" },
                    ],
                },
            }),
        )
        .map_err(err)?;
    let hash = "5d8f7c9b6f";
    let rs_name = format!("{name}-{hash}");
    let mut rs_labels = labels.clone();
    rs_labels["pod-template-hash"] = json!(hash);
    let rs = k
        .put(
            "replicasets",
            json!({
                "apiVersion": "apps/v1", "kind": "ReplicaSet",
                "metadata": { "name": rs_name, "namespace": ns, "labels": rs_labels,
                              "ownerReferences": [owner(&deployment)] },
                "spec": { "replicas": 1, "selector": { "matchLabels": rs_labels },
                          "template": { "metadata": { "labels": rs_labels }, "spec": pod_spec } },
                "status": { "replicas": 1, "readyReplicas": 1, "availableReplicas": 1 },
            }),
        )
        .map_err(err)?;
    let pod_name = format!("{rs_name}-7x9kq");
    let now = rfc3339_now(stack);
    let mut spec = pod_spec.clone();
    spec["nodeName"] = json!(seed.node_name);
    let statuses: Vec<Value> = ["prometheus-server-configmap-reload", "prometheus-server"]
        .iter()
        .map(|c| {
            json!({
                "name": c, "ready": true, "started": true, "restartCount": 0,
                "image": if *c == "prometheus-server" { PROMETHEUS_IMAGE } else { RELOAD_IMAGE },
                "imageID": "", "state": { "running": { "startedAt": now } }, "lastState": {},
            })
        })
        .collect();
    let conditions: Vec<Value> = ["Initialized", "Ready", "ContainersReady", "PodScheduled"]
        .iter()
        .map(|t| json!({ "type": t, "status": "True", "lastTransitionTime": now }))
        .collect();
    k.put(
        "pods",
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": { "name": pod_name, "namespace": ns, "labels": rs_labels,
                          "ownerReferences": [owner(&rs)] },
            "spec": spec,
            "status": { "phase": "Running", "conditions": conditions, "podIP": "192.168.15.22",
                        "startTime": now, "containerStatuses": statuses, "qosClass": "BestEffort" },
        }),
    )
    .map_err(err)?;
    let ts = now.trim_end_matches('Z');
    let log: String = [
        "level=info caller=main.go:645 msg=\"Starting Prometheus Server\" mode=server version=\"(version=2.53.1)\"",
        "level=info caller=main.go:1169 msg=\"Loading configuration file\" filename=/etc/config/prometheus.yml",
        "level=info caller=dedupe.go:112 component=remote level=info remote_name=2b9d1c url=REMOTE msg=\"Starting WAL watcher\" queue=2b9d1c",
        "level=info caller=main.go:1206 msg=\"Completed loading of configuration file\" filename=/etc/config/prometheus.yml",
        "level=info caller=main.go:1007 msg=\"Server is ready to receive web requests.\"",
    ]
    .iter()
    .map(|l| format!("ts={ts}.000Z {}\n", l.replace("REMOTE", remote_write_url)))
    .collect();
    k.set_pod_log(ns, &pod_name, "prometheus-server", &log);
    Ok((name.to_string(), pod_name, "prometheus-server".to_string()))
}

fn owner(obj: &Value) -> Value {
    json!({
        "apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": obj["metadata"]["name"],
        "uid": obj["metadata"]["uid"], "controller": true, "blockOwnerDeletion": true,
    })
}

pub(super) fn rfc3339_now(stack: &MockStack) -> String {
    let t = time::OffsetDateTime::from(stack.clock.now());
    let f = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    t.format(&f).unwrap_or_default()
}

// ---------------------------------------------------------------------------------------
// Fault recipes (catalog F11-F20, F26, F32): each breaks one thing of a healthy mock cluster.

impl MockCluster {
    pub(super) fn ns(&self) -> &str {
        &self.seed.namespace
    }

    /// F11: the service account in use lost its role-arn annotation (in a helm values
    /// file the key sat beside `annotations:`), so the webhook gives the pods no IRSA.
    pub fn unannotate(&self, s: &MockStack) {
        let _ = s.kube.remove_annotation(
            "serviceaccounts",
            self.ns(),
            &self.seed.service_account,
            ROLE_ARN_ANNOTATION,
        );
        let _ = s.kube.strip_irsa_from_pod(self.ns(), &self.pod);
    }

    /// F12: the role's trust policy names another namespace and/or service account.
    pub fn trust_other(
        &self,
        s: &MockStack,
        namespace: Option<&str>,
        service_account: Option<&str>,
    ) {
        let other = ClusterSeed {
            namespace: namespace.unwrap_or(&self.seed.namespace).to_string(),
            service_account: service_account
                .unwrap_or(&self.seed.service_account)
                .to_string(),
            ..self.seed.clone()
        };
        s.iam.update_role(&self.seed.role_name, |r| {
            r.trust_policy = irsa_trust_policy(&other, &self.region)
        });
    }

    /// F13: the cluster's OIDC issuer has no IAM OIDC provider.
    pub fn remove_oidc_provider(&self, s: &MockStack) {
        s.iam
            .remove_oidc_provider(&self.seed.oidc_provider_arn(&self.region));
    }

    /// F14: the role has no permission policy at all.
    pub fn detach_policies(&self, s: &MockStack) {
        s.iam.update_role(&self.seed.role_name, |r| {
            r.attached_policies.clear();
            r.inline_policies.clear();
        });
    }

    /// F15: the collector crash-loops; the reason is in its last log lines.
    pub fn crash_loop(&self, s: &MockStack) {
        let log = match self.kind {
            ClusterCollector::Adot | ClusterCollector::Otelcol => {
                "Error: failed to get config: cannot unmarshal the configuration: 'exporters' unknown type: \"awsprometheusremotewrite\" for id: \"awsprometheusremotewrite\" (valid values: [debug otlp otlphttp prometheusremotewrite awsemf awsxray])\n\
                 2024/05/01 12:00:00 collector server run finished with error: failed to get config: cannot unmarshal the configuration\n"
            }
            ClusterCollector::Prometheus
            | ClusterCollector::PrometheusOperator
            | ClusterCollector::AmpScraper => {
                "ts=2024-05-01T12:00:00.000Z caller=main.go:1169 level=info msg=\"Loading configuration file\" filename=/etc/config/prometheus.yml\n\
                 ts=2024-05-01T12:00:00.001Z caller=main.go:1188 level=error msg=\"Failed to apply configuration\" err=\"could not get SigV4 credentials: WebIdentityErr: failed to retrieve credentials\"\n\
                 ts=2024-05-01T12:00:00.002Z caller=main.go:1157 level=error msg=\"Error loading config (--config.file=/etc/config/prometheus.yml)\" file=/etc/config/prometheus.yml err=\"one or more errors occurred while applying the new configuration\"\n"
            }
        };
        let _ = s
            .kube
            .set_pod_crash_looping(self.ns(), &self.pod, &self.container, 6, 1, log);
        let _ = s.kube.set_deployment_ready(self.ns(), &self.deployment, 0);
    }

    /// F18: the adot add-on is missing.
    pub fn remove_addon(&self, s: &MockStack) {
        s.eks.remove_addon(&self.seed.cluster_name, "adot");
    }

    /// F18: the add-on is in `status` with one health issue.
    pub fn addon_status(&self, s: &MockStack, status: AddonStatus, code: &str, message: &str) {
        let issue = AddonIssue {
            code: code.to_string(),
            message: message.to_string(),
            resource_ids: vec![format!("{OPERATOR_NAMESPACE}/opentelemetry-operator")],
        };
        s.eks.update_addon(&self.seed.cluster_name, "adot", |a| {
            a.status = status;
            a.issues = vec![issue];
        });
    }

    /// F18: the cluster was upgraded to Kubernetes `version`, which the installed add-on
    /// version does not support.
    pub fn upgrade_cluster(&self, s: &MockStack, version: &str) {
        s.eks
            .update_cluster(&self.seed.cluster_name, |c| c.version = version.to_string());
        if let Some((major, minor)) = version.split_once('.') {
            s.kube.set_version(major, minor);
        }
    }

    /// F19: cert-manager is not installed.
    pub fn remove_cert_manager(&self, s: &MockStack) {
        s.kube.delete("namespaces", "", CERT_MANAGER_NAMESPACE);
    }

    /// F19: cert-manager's webhook has no ready replica.
    pub fn cert_manager_webhook_down(&self, s: &MockStack) {
        let _ = s
            .kube
            .set_deployment_ready(CERT_MANAGER_NAMESPACE, "cert-manager-webhook", 0);
    }

    /// F20: an annotated service account nobody uses (`<sa>-irsa`); with `unannotate`,
    /// the one in use lost its annotation too.
    pub fn add_unused_irsa_account(&self, s: &MockStack, unannotate: bool) {
        let name = format!("{}-irsa", self.seed.service_account);
        let _ = s.kube.put(
            "serviceaccounts",
            service_account(self.ns(), &name, Some(&self.seed.role_arn())),
        );
        if unannotate {
            self.unannotate(s);
        }
    }

    /// F32 (ADOT): the exporter's retry and queue are switched off, and the collector's
    /// log shows the batches it then dropped on AMP timeouts and a 503 (3 lines, 1237
    /// points). The mock collector does not write, so AMP itself sees none of it: the
    /// evidence is the config and the log, as `kubectl logs` shows them.
    pub fn drop_on_failure(&self, s: &MockStack) {
        if self.kind != ClusterCollector::Adot {
            return;
        }
        let (ns, name) = (self.ns(), self.seed.collector_name.as_str());
        let Some(mut cr) = s.kube.get("opentelemetrycollectors", ns, name) else {
            return;
        };
        let exporter = &mut cr["spec"]["config"]["exporters"]["prometheusremotewrite"];
        exporter["retry_on_failure"] = json!({ "enabled": false });
        exporter["remote_write_queue"] = json!({ "enabled": false });
        let url = exporter["endpoint"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let _ = s.kube.put("opentelemetrycollectors", cr);
        // [unconfirmed] the exporter helper's console line, as users quote it.
        let ts = rfc3339_now(s);
        let ts = ts.trim_end_matches('Z');
        let drop = |n: u32, error: &str| {
            format!(
                "{ts}.000Z\terror\texporterhelper/queued_retry.go:391\tExporting failed. The error is not retryable. Dropping data.\t{{\"kind\": \"exporter\", \"data_type\": \"metrics\", \"name\": \"prometheusremotewrite\", \"error\": \"{}\", \"dropped_items\": {n}}}\n",
                error.replace('"', "\\\"")
            )
        };
        let timeout = format!("Permanent error: Post \"{url}\": context deadline exceeded");
        let unavailable = "Permanent error: remote write returned HTTP status 503 Service Unavailable; err = %!w(<nil>): Service Unavailable";
        let (log, _) = s.kube.pod_log(ns, &self.pod, &self.container);
        let log = format!(
            "{log}{}{}{}",
            drop(500, &timeout),
            drop(500, &timeout),
            drop(237, unavailable)
        );
        s.kube.set_pod_log(ns, &self.pod, &self.container, &log);
    }

    /// F26: the annotation was added after the pods started: they lack the IRSA env.
    pub fn pods_predate_annotation(&self, s: &MockStack) {
        let _ = s.kube.strip_irsa_from_pod(self.ns(), &self.pod);
    }

    /// The remote-write URL and the account, for the collector's log lines.
    pub(super) fn amp_names(&self, s: &MockStack) -> (String, String, String) {
        let ws = s.endpoints().workspace_id.clone().unwrap_or_default();
        let url = format!("{}/workspaces/{ws}/api/v1/remote_write", s.endpoints().amp);
        let role = self.seed.role_arn();
        let account = crate::arn::account(&role).unwrap_or_default().to_string();
        (url, account, ws)
    }

    /// Appends `lines` to the log of each of the collector's pods.
    pub(super) fn append_log(&self, s: &MockStack, pods: &[String], lines: &str) {
        for pod in pods {
            let (log, _) = s.kube.pod_log(self.ns(), pod, &self.container);
            s.kube
                .set_pod_log(self.ns(), pod, &self.container, &format!("{log}{lines}"));
        }
    }

    /// F30: the config's sigv4 `role_arn` (ADOT: `sigv4auth.assume_role.arn`) names the
    /// role the pods already run as; its IRSA trust policy does not trust itself, so STS
    /// refuses the AssumeRole the signer makes before every write, as the log shows.
    pub fn assume_own_role(&self, s: &MockStack) {
        let role = self.seed.role_arn();
        let (url, account, _) = self.amp_names(s);
        let assumed = format!(
            "arn:aws:sts::{account}:assumed-role/{}/1714564800123456789",
            self.seed.role_name
        );
        let denied = format!(
            "User: {assumed} is not authorized to perform: sts:AssumeRole on resource: {role}"
        );
        let now = rfc3339_now(s);
        let line = match self.kind {
            ClusterCollector::Adot | ClusterCollector::Otelcol => {
                if self.kind == ClusterCollector::Otelcol {
                    self.edit_otel_config(s, |text| {
                        text.replace(
                            "  sigv4auth:\n",
                            &format!(
                                "  sigv4auth:\n    assume_role:\n      arn: {role}\n      sts_region: {}\n",
                                self.region
                            ),
                        )
                    });
                }
                let _ = s.kube.update(
                    "opentelemetrycollectors",
                    self.ns(),
                    &self.seed.collector_name,
                    |cr| {
                        cr["spec"]["config"]["extensions"]["sigv4auth"]["assume_role"] =
                            json!({ "arn": role, "sts_region": self.region });
                    },
                );
                format!(
                    "{now}\terror\texporterhelper/queue_sender.go:101\tExporting failed. Dropping data.\t{{\"kind\": \"exporter\", \"data_type\": \"metrics\", \"name\": \"prometheusremotewrite\", \"error\": \"Permanent error: Post \\\"{url}\\\": operation error STS: AssumeRole, https response error StatusCode: 403, RequestID: 4b0f7c1e-5d2a-4c3e-9f1a-0c9d8e7f6a5b, api error AccessDenied: {denied}\", \"dropped_items\": 120}}\n"
                )
            }
            ClusterCollector::Prometheus
            | ClusterCollector::PrometheusOperator
            | ClusterCollector::AmpScraper => {
                self.edit_prometheus_resource(s, |spec| {
                    spec["remoteWrite"][0]["sigv4"]["roleArn"] = json!(role);
                });
                let _ = s
                    .kube
                    .update("configmaps", self.ns(), &self.seed.collector_name, |cm| {
                        if let Some(text) = cm["data"]["prometheus.yml"].as_str() {
                            let region = format!("  sigv4:\n    region: {}\n", self.region);
                            cm["data"]["prometheus.yml"] = json!(
                                text.replace(&region, &format!("{region}    role_arn: {role}\n"))
                            );
                        }
                    });
                format!(
                    "ts={now} caller=dedupe.go:112 level=warn component=remote remote_name=2b9d1c url={url} msg=\"Failed to send batch, retrying\" err=\"Post \\\"{url}\\\": AccessDenied: {denied}\\n\\tstatus code: 403, request id: 4b0f7c1e-5d2a-4c3e-9f1a-0c9d8e7f6a5b\"\n"
                )
            }
        };
        self.append_log(s, std::slice::from_ref(&self.pod), &line);
    }

    /// F33: the collector runs `replicas` replicas (a second pod beside the seed's) with no
    /// `cluster` / `__replica__` external labels; each replica writes the same series and
    /// AMP refuses the later copies (400), as their logs show.
    pub fn replicas_without_ha_labels(&self, s: &MockStack, replicas: u32) {
        if self.kind == ClusterCollector::PrometheusOperator {
            // The operator's own replica label tells replicas apart: only with it switched
            // off (replicaExternalLabelName: "") do they write the same series.
            self.edit_prometheus_resource(s, |spec| {
                spec["replicas"] = json!(replicas);
                spec["replicaExternalLabelName"] = json!("");
            });
            let pods: Vec<String> = (0..replicas)
                .map(|i| format!("{}-{i}", self.deployment))
                .collect();
            let lines = self.amp_400_lines(s, "prometheus");
            self.append_log(s, &pods, &lines);
            return;
        }
        let ns = self.ns().to_string();
        let Some(first) = s.kube.get("pods", &ns, &self.pod) else {
            return;
        };
        let mut pods = vec![self.pod.clone()];
        for i in 1..replicas {
            let mut pod = first.clone();
            let base = self
                .pod
                .rsplit_once('-')
                .map_or(self.pod.as_str(), |(b, _)| b);
            let name = format!("{base}-r{i}");
            if let Some(m) = pod["metadata"].as_object_mut() {
                m.remove("uid");
                m.remove("resourceVersion");
                m.insert("name".into(), json!(name));
            }
            pod["status"]["podIP"] = json!(format!("192.168.15.{}", 30 + i));
            if s.kube.put("pods", pod).is_ok() {
                pods.push(name);
            }
        }
        let counts = |o: &mut Value| {
            o["spec"]["replicas"] = json!(replicas);
            for k in [
                "replicas",
                "updatedReplicas",
                "readyReplicas",
                "availableReplicas",
            ] {
                o["status"][k] = json!(replicas);
            }
        };
        let _ = s.kube.update("deployments", &ns, &self.deployment, counts);
        if let Some(rs) = first["metadata"]["ownerReferences"][0]["name"].as_str() {
            let _ = s.kube.update("replicasets", &ns, rs, counts);
        }
        if self.kind == ClusterCollector::Adot {
            let _ = s.kube.update(
                "opentelemetrycollectors",
                &ns,
                &self.seed.collector_name,
                |cr| {
                    cr["spec"]["replicas"] = json!(replicas);
                },
            );
        }
        let lines = self.amp_400_lines(
            s,
            if self.kind.is_otel() {
                "otel"
            } else {
                "prometheus"
            },
        );
        self.append_log(s, &pods, &lines);
    }

    /// AMP's 400 refusals of a second copy of a series (out of order, duplicate sample)
    /// as the collector logs them: `format` "otel" (the exporter's line) or "prometheus".
    pub(super) fn amp_400_lines(&self, s: &MockStack, format: &str) -> String {
        let (url, account, ws) = self.amp_names(s);
        let now = rfc3339_now(s);
        let refusal = |what: &str| {
            format!(
                "maxFailure (quorum) on a given error family, rpc error: code = Code(400) desc = addr=10.1.12.34:9095 state=ACTIVE zone={}a, rpc error: code = Code(400) desc = user={account}_{ws}: err: {what}. timestamp={now}, series={{__name__=\\\"up\\\", instance=\\\"192.168.15.22:9090\\\", job=\\\"kubernetes-pods\\\"}}",
                self.region
            )
        };
        match format {
            "otel" => [ "duplicate sample for timestamp", "out of order sample"]
                .iter()
                .map(|w| format!(
                    "{now}\terror\texporterhelper/queue_sender.go:101\tExporting failed. Dropping data.\t{{\"kind\": \"exporter\", \"data_type\": \"metrics\", \"name\": \"prometheusremotewrite\", \"error\": \"Permanent error: Permanent error: remote write returned HTTP status 400 Bad Request; err = %!w(<nil>): {}\", \"dropped_items\": 57}}\n",
                    refusal(w)
                ))
                .collect::<String>(),
            _ => ["out of order sample", "duplicate sample for timestamp"]
                .iter()
                .map(|w| format!(
                    "ts={now} caller=dedupe.go:112 level=error component=remote remote_name=2b9d1c url={url} msg=\"non-recoverable error\" count=1000 exemplarCount=0 err=\"server returned HTTP status 400 Bad Request: {}\"\n",
                    refusal(w)
                ))
                .collect::<String>(),
        }
    }

    /// F27: no IRSA (as F11), and the node's instance requires IMDSv2 with hop limit 1,
    /// so the node role's credentials never reach the pod either.
    pub fn imds_hop_limit_one(&self, s: &MockStack) {
        self.unannotate(s);
        let instance = self.seed.node_instance_id.clone();
        s.ec2.with_network(|n| {
            for i in n.instances.iter_mut().filter(|i| i.id == instance) {
                i.metadata.http_tokens = "required".into();
                i.metadata.http_put_response_hop_limit = 1;
            }
        });
        let log = "2024-05-01T12:00:00.000Z\terror\texporterhelper/queue_sender.go:92\tExporting failed. Dropping data.\t{\"kind\": \"exporter\", \"name\": \"prometheusremotewrite\", \"error\": \"Permanent error: failed to sign request: NoCredentialProviders: no valid providers in chain\\ncaused by: EC2RoleRequestError: no EC2 instance role found\\ncaused by: EC2MetadataError: failed to make EC2Metadata request: Put \\\"http://169.254.169.254/latest/api/token\\\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)\"}\n";
        s.kube
            .set_pod_log(self.ns(), &self.pod, &self.container, log);
    }

    /// F28: the pods' STS endpoint (`AWS_ENDPOINT_URL_STS`, where their SDK looks) is
    /// `url`: the stack's black hole (no answer) or its refusing port. The collector gets
    /// no credentials and its readiness probe answers 503.
    pub fn sts_endpoint_at(&self, s: &MockStack, url: &str) {
        let _ = s.kube.set_container_env(
            self.ns(),
            &self.pod,
            &self.container,
            "AWS_ENDPOINT_URL_STS",
            url,
        );
        let addr = url.trim_start_matches("http://");
        self.unready(
            s,
            &format!(
                "WebIdentityErr: failed to retrieve credentials\ncaused by: RequestError: send request failed\ncaused by: Post \"{url}\": dial tcp {addr}: i/o timeout"
            ),
        );
    }

    /// F29: the collector's remote-write URL points at `origin` (the black hole or the
    /// refusing port) with the workspace's path unchanged.
    pub fn remote_write_at(&self, s: &MockStack, origin: &str) {
        let amp = s.endpoints().amp.clone();
        let moved = |text: &str| text.replace(&amp, origin);
        match self.kind {
            ClusterCollector::Adot => {
                let _ = s.kube.update(
                    "opentelemetrycollectors",
                    self.ns(),
                    &self.seed.collector_name,
                    |cr| {
                        let p = "/spec/config/exporters/prometheusremotewrite/endpoint";
                        if let Some(v) = cr.pointer_mut(p)
                            && let Some(url) = v.as_str().map(moved)
                        {
                            *v = json!(url);
                        }
                    },
                );
            }
            ClusterCollector::PrometheusOperator => {
                self.edit_prometheus_resource(s, |spec| {
                    if let Some(url) = spec["remoteWrite"][0]["url"].as_str().map(moved) {
                        spec["remoteWrite"][0]["url"] = json!(url);
                    }
                });
            }
            ClusterCollector::Otelcol => self.edit_otel_config(s, |text| moved(text)),
            ClusterCollector::Prometheus | ClusterCollector::AmpScraper => {
                let _ = s
                    .kube
                    .update("configmaps", self.ns(), &self.deployment, |cm| {
                        if let Some(v) = cm.pointer_mut("/data/prometheus.yml")
                            && let Some(text) = v.as_str().map(moved)
                        {
                            *v = json!(text);
                        }
                    });
            }
        }
        let ws = s.endpoints().workspace_id.clone().unwrap_or_default();
        self.unready(
            s,
            &format!(
                "Post \"{origin}/workspaces/{ws}/api/v1/remote_write\": context deadline exceeded"
            ),
        );
    }

    /// F28/F29 (the VPC's side): the cluster's subnets lose their NAT route; the VPC has
    /// interface endpoints for the `endpoints` (service suffix, private DNS on?).
    pub fn private_subnets(&self, s: &MockStack, endpoints: &[(&str, bool)]) {
        let region = self.region.clone();
        let seed = self.seed.clone();
        s.ec2.with_network(|n| {
            for t in &mut n.route_tables {
                t.routes.retain(|r| {
                    r.destination != "0.0.0.0/0"
                        || matches!(&r.target, RouteTarget::Gateway(g) if g == "local")
                });
            }
            for (i, (service, dns)) in endpoints.iter().enumerate() {
                n.vpc_endpoints.push(VpcEndpoint {
                    id: format!("vpce-0a1b2c3d4e5f6000{i}"),
                    vpc_id: seed.vpc_id.clone(),
                    service_name: format!("com.amazonaws.{region}.{service}"),
                    endpoint_type: "Interface".into(),
                    private_dns_enabled: *dns,
                    state: "available".into(),
                    subnet_ids: seed.subnet_ids.clone(),
                });
            }
        });
    }

    /// The collector Running but not Ready (readiness 503), logging `error`.
    fn unready(&self, s: &MockStack, error: &str) {
        let log = format!(
            "2024-05-01T12:00:00.000Z\terror\texporterhelper/queue_sender.go:92\tExporting failed. Will retry the request after interval.\t{{\"kind\": \"exporter\", \"name\": \"prometheusremotewrite\", \"error\": {:?}}}\n",
            error
        );
        s.kube
            .set_pod_log(self.ns(), &self.pod, &self.container, &log);
        let _ = s.kube.set_pod_unready(
            self.ns(),
            &self.pod,
            &self.deployment,
            "Readiness probe failed: HTTP probe failed with statuscode: 503",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pipecheck_mocks::MockConfig;

    fn spec(kind: ClusterCollector) -> ClusterSpec {
        ClusterSpec {
            kind,
            name: "pipecheck".into(),
            namespace: "prometheus".into(),
            collector: "prometheus-for-amp-server".into(),
            service_account: Some("amp-iamproxy-ingest-service-account".into()),
            identity: None,
        }
    }

    #[tokio::test]
    async fn the_prometheus_variant_replaces_the_adot_collector() {
        let sp = spec(ClusterCollector::Prometheus);
        let stack = MockStack::start(MockConfig {
            cluster: Some(seed_for(&sp)),
            ..MockConfig::default()
        })
        .await
        .unwrap();
        let c = prepare_mock_cluster(&stack, &sp, "us-east-1").unwrap();
        assert_eq!(c.deployment, "prometheus-for-amp-server");
        let pod = stack.kube.get("pods", "prometheus", &c.pod).unwrap();
        assert_eq!(
            pod["spec"]["serviceAccountName"],
            "amp-iamproxy-ingest-service-account"
        );
        assert!(stack.kube.list("opentelemetrycollectors", None).is_empty());
        let sa = stack
            .kube
            .get(
                "serviceaccounts",
                "prometheus",
                "amp-iamproxy-ingest-service-account",
            )
            .unwrap();
        assert_eq!(
            sa["metadata"]["annotations"][ROLE_ARN_ANNOTATION],
            "arn:aws:iam::111122223333:role/amp-iamproxy-ingest-role"
        );
        let cm = stack
            .kube
            .get("configmaps", "prometheus", "prometheus-for-amp-server")
            .unwrap();
        assert!(
            cm["data"]["prometheus.yml"]
                .as_str()
                .unwrap()
                .contains("sigv4:\n    region: us-east-1")
        );
    }
}
