//! The fault recipes of catalog rows F11-F20 and F26-F33 on a prepared cluster: each
//! breaks one thing of a healthy mock cluster.

use serde_json::{Value, json};

use super::{CollectorShape, PreparedCluster, rfc3339_now};
use crate::ec2::{RouteTarget, VpcEndpoint};
use crate::eks::{AddonIssue, AddonStatus};
use crate::iam::irsa_trust_policy;
use crate::kube::{
    CERT_MANAGER_NAMESPACE, OPERATOR_NAMESPACE, ROLE_ARN_ANNOTATION, service_account,
};
use crate::{ClusterSeed, MockStack};

impl PreparedCluster {
    pub(crate) fn ns(&self) -> &str {
        &self.seed.namespace
    }

    /// F11: the service account in use lost its role-arn annotation (in a helm values
    /// file the key sat beside `annotations:`), so the webhook gives the pods no IRSA.
    pub(crate) fn unannotate(&self, s: &MockStack) {
        let _ = s.kube.remove_annotation(
            "serviceaccounts",
            self.ns(),
            &self.seed.service_account,
            ROLE_ARN_ANNOTATION,
        );
        let _ = s.kube.strip_irsa_from_pod(self.ns(), &self.pod);
    }

    /// F12: the role's trust policy names another namespace and/or service account.
    pub(crate) fn trust_other(
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
    pub(crate) fn remove_oidc_provider(&self, s: &MockStack) {
        s.iam
            .remove_oidc_provider(&self.seed.oidc_provider_arn(&self.region));
    }

    /// F14: the role has no permission policy at all.
    pub(crate) fn detach_policies(&self, s: &MockStack) {
        s.iam.update_role(&self.seed.role_name, |r| {
            r.attached_policies.clear();
            r.inline_policies.clear();
        });
    }

    /// F15: the collector crash-loops; the reason is in its last log lines.
    pub(crate) fn crash_loop(&self, s: &MockStack) {
        let log = match self.kind {
            CollectorShape::AdotAddon | CollectorShape::Otelcol => {
                "Error: failed to get config: cannot unmarshal the configuration: 'exporters' unknown type: \"awsprometheusremotewrite\" for id: \"awsprometheusremotewrite\" (valid values: [debug otlp otlphttp prometheusremotewrite awsemf awsxray])\n\
                 2024/05/01 12:00:00 collector server run finished with error: failed to get config: cannot unmarshal the configuration\n"
            }
            CollectorShape::PrometheusChart
            | CollectorShape::PrometheusOperator
            | CollectorShape::AmpScraper => {
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
    pub(crate) fn remove_addon(&self, s: &MockStack) {
        s.eks.remove_addon(&self.seed.cluster_name, "adot");
    }

    /// F18: the add-on is in `status` with one health issue.
    pub(crate) fn addon_status(
        &self,
        s: &MockStack,
        status: AddonStatus,
        code: &str,
        message: &str,
    ) {
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
    pub(crate) fn upgrade_cluster(&self, s: &MockStack, version: &str) {
        s.eks
            .update_cluster(&self.seed.cluster_name, |c| c.version = version.to_string());
        if let Some((major, minor)) = version.split_once('.') {
            s.kube.set_version(major, minor);
        }
    }

    /// F19: cert-manager is not installed.
    pub(crate) fn remove_cert_manager(&self, s: &MockStack) {
        s.kube.delete("namespaces", "", CERT_MANAGER_NAMESPACE);
    }

    /// F19: cert-manager's webhook has no ready replica.
    pub(crate) fn cert_manager_webhook_down(&self, s: &MockStack) {
        let _ = s
            .kube
            .set_deployment_ready(CERT_MANAGER_NAMESPACE, "cert-manager-webhook", 0);
    }

    /// F20: an annotated service account nobody uses (`<sa>-irsa`); with `unannotate`,
    /// the one in use lost its annotation too.
    pub(crate) fn add_unused_irsa_account(&self, s: &MockStack, unannotate: bool) {
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
    pub(crate) fn drop_on_failure(&self, s: &MockStack) {
        if self.kind != CollectorShape::AdotAddon {
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
    pub(crate) fn pods_predate_annotation(&self, s: &MockStack) {
        let _ = s.kube.strip_irsa_from_pod(self.ns(), &self.pod);
    }

    /// The remote-write URL and the account, for the collector's log lines.
    pub(crate) fn amp_names(&self, s: &MockStack) -> (String, String, String) {
        let ws = s.endpoints().workspace_id.clone().unwrap_or_default();
        let url = format!("{}/workspaces/{ws}/api/v1/remote_write", s.endpoints().amp);
        // The seed's role is always the mock account's.
        let account = crate::identity::MOCK_ACCOUNT.to_string();
        (url, account, ws)
    }

    /// Appends `lines` to the log of each of the collector's pods.
    pub(crate) fn append_log(&self, s: &MockStack, pods: &[String], lines: &str) {
        for pod in pods {
            let (log, _) = s.kube.pod_log(self.ns(), pod, &self.container);
            s.kube
                .set_pod_log(self.ns(), pod, &self.container, &format!("{log}{lines}"));
        }
    }

    /// F30: the config's sigv4 `role_arn` (ADOT: `sigv4auth.assume_role.arn`) names the
    /// role the pods already run as; its IRSA trust policy does not trust itself, so STS
    /// refuses the AssumeRole the signer makes before every write, as the log shows.
    pub(crate) fn assume_own_role(&self, s: &MockStack) {
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
            CollectorShape::AdotAddon | CollectorShape::Otelcol => {
                if self.kind == CollectorShape::Otelcol {
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
            CollectorShape::PrometheusChart
            | CollectorShape::PrometheusOperator
            | CollectorShape::AmpScraper => {
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
    pub(crate) fn replicas_without_ha_labels(&self, s: &MockStack, replicas: u32) {
        if self.kind == CollectorShape::PrometheusOperator {
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
        if self.kind == CollectorShape::AdotAddon {
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
    pub(crate) fn amp_400_lines(&self, s: &MockStack, format: &str) -> String {
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
    pub(crate) fn imds_hop_limit_one(&self, s: &MockStack) {
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
    pub(crate) fn sts_endpoint_at(&self, s: &MockStack, url: &str) {
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
    pub(crate) fn remote_write_at(&self, s: &MockStack, origin: &str) {
        let amp = s.endpoints().amp.clone();
        let moved = |text: &str| text.replace(&amp, origin);
        match self.kind {
            CollectorShape::AdotAddon => {
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
            CollectorShape::PrometheusOperator => {
                self.edit_prometheus_resource(s, |spec| {
                    if let Some(url) = spec["remoteWrite"][0]["url"].as_str().map(moved) {
                        spec["remoteWrite"][0]["url"] = json!(url);
                    }
                });
            }
            CollectorShape::Otelcol => self.edit_otel_config(s, |text| moved(text)),
            CollectorShape::PrometheusChart | CollectorShape::AmpScraper => {
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
    pub(crate) fn private_subnets(&self, s: &MockStack, endpoints: &[(&str, bool)]) {
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
    use crate::MockConfig;
    use crate::cluster::{ClusterShape, Credentials};

    #[tokio::test]
    async fn the_prometheus_variant_replaces_the_adot_collector() {
        let shape = ClusterShape {
            kind: CollectorShape::PrometheusChart,
            credentials: Credentials::Irsa,
            cluster_name: "pipecheck".into(),
            namespace: "prometheus".into(),
            collector: "prometheus-for-amp-server".into(),
            service_account: "amp-iamproxy-ingest-service-account".into(),
            canary_job: "pipecheck-canary".into(),
        };
        let stack = MockStack::start(MockConfig {
            cluster: Some(shape.seed()),
            ..MockConfig::default()
        })
        .await
        .unwrap();
        let c = crate::cluster::prepare(&stack, &shape).unwrap();
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
