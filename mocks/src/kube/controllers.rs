//! What a cluster's controllers do to an object created through the API, so a client
//! that creates workloads (pipecheck's `--provision`) finds them running: the Deployment
//! and ReplicaSet controllers (a ReplicaSet and Ready pods, the Deployment's status), with
//! the EKS pod identity webhook's IRSA injection when the pods' service account carries a
//! role-arn annotation, and the EKS Pod Identity webhook's when it has a pod identity
//! association (`pod_identity.rs`); and the ADOT operator for an `OpenTelemetryCollector` (its
//! ConfigMap, service account and Deployment). Seeded objects are put whole and do not
//! come through here. The StatefulSet and DaemonSet controllers and the Prometheus
//! operator are in `workloads.rs`.

use serde_json::{Value, json};

use super::seed::{ROLE_ARN_ANNOTATION, WEB_IDENTITY_TOKEN_FILE, replica_set, running_pod};
use super::status::KubeError;
use super::store::{KubeState, rfc3339};

impl KubeState {
    /// Runs the controllers for an object the API just created.
    pub(crate) fn reconcile_created(&self, plural: &str, obj: &Value) -> Result<(), KubeError> {
        match plural {
            "deployments" => self.run_deployment(obj),
            "opentelemetrycollectors" => self.run_collector(obj),
            "statefulsets" => self.run_statefulset(obj),
            "daemonsets" => self.run_daemonset(obj),
            "prometheuses" => self.run_prometheus(obj),
            _ => Ok(()),
        }
    }

    /// The ADOT operator, for a `mode: deployment` collector: its config in a ConfigMap,
    /// its service account when it names none (`<name>-collector`, unannotated, as the
    /// operator makes it), a Deployment `<name>-collector` labelled as the operator labels
    /// it, and the resource's status.
    fn run_collector(&self, cr: &Value) -> Result<(), KubeError> {
        let ns = cr
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("default")
            .to_string();
        let name = cr
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let mode = cr.pointer("/spec/mode").and_then(Value::as_str);
        if mode.is_some_and(|m| m != "deployment") {
            return Ok(());
        }
        let deployment = format!("{name}-collector");
        let sa = match cr.pointer("/spec/serviceAccount").and_then(Value::as_str) {
            Some(sa) => sa.to_string(),
            None => {
                if self.get("serviceaccounts", &ns, &deployment).is_none() {
                    self.put(
                        "serviceaccounts",
                        super::seed::service_account(&ns, &deployment, None),
                    )?;
                }
                deployment.clone()
            }
        };
        let replicas = cr
            .pointer("/spec/replicas")
            .and_then(Value::as_u64)
            .unwrap_or(1);
        let image = cr
            .pointer("/spec/image")
            .and_then(Value::as_str)
            .unwrap_or(super::seed::COLLECTOR_IMAGE)
            .to_string();
        let config_map = format!("{deployment}-config");
        // JSON is YAML: the operator writes the config as YAML, a reader parses either.
        let config = cr.pointer("/spec/config").cloned().unwrap_or(json!({}));
        self.put(
            "configmaps",
            json!({ "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": { "name": config_map, "namespace": ns },
                "data": { "collector.yaml": config.to_string() } }),
        )?;
        let labels = json!({
            "app.kubernetes.io/component": "opentelemetry-collector",
            "app.kubernetes.io/instance": format!("{ns}.{name}"),
            "app.kubernetes.io/managed-by": "opentelemetry-operator",
            "app.kubernetes.io/name": deployment,
            "app.kubernetes.io/part-of": "opentelemetry",
        });
        let d = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": { "name": deployment, "namespace": ns, "labels": labels },
            "spec": { "replicas": replicas, "selector": { "matchLabels": labels },
                "template": { "metadata": { "labels": labels }, "spec": {
                    "serviceAccountName": sa,
                    "containers": [{ "name": super::seed::COLLECTOR_CONTAINER, "image": image,
                        "args": ["--config=/conf/collector.yaml"],
                        "ports": [{ "name": "metrics", "containerPort": 8888, "protocol": "TCP" }],
                        "volumeMounts": [{ "name": "otc-internal", "mountPath": "/conf" }] }],
                    "volumes": [{ "name": "otc-internal", "configMap": { "name": config_map,
                        "items": [{ "key": "collector.yaml", "path": "collector.yaml" }] } }] } } },
        });
        let d = self.put("deployments", d)?;
        self.run_deployment(&d)?;
        self.update("opentelemetrycollectors", &ns, &name, |c| {
            c["status"] = json!({
                "image": image,
                "scale": {
                    "replicas": replicas,
                    "selector": format!("app.kubernetes.io/component=opentelemetry-collector,app.kubernetes.io/instance={ns}.{name}"),
                    "statusReplicas": format!("{replicas}/{replicas}"),
                },
            });
        })?;
        Ok(())
    }

    /// The Deployment and ReplicaSet controllers with the pod identity webhook.
    fn run_deployment(&self, obj: &Value) -> Result<(), KubeError> {
        let ns = obj
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("default")
            .to_string();
        let name = obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let replicas = obj
            .pointer("/spec/replicas")
            .and_then(Value::as_u64)
            .unwrap_or(1);
        let labels = obj
            .pointer("/spec/template/metadata/labels")
            .cloned()
            .unwrap_or_else(|| json!({}));
        let mut spec = obj
            .pointer("/spec/template/spec")
            .cloned()
            .unwrap_or_else(|| json!({}));
        self.inject_irsa(&ns, &mut spec);
        self.inject_pod_identity(&ns, &mut spec);
        let deployment = self.update("deployments", &ns, &name, |d| {
            d["metadata"]["generation"] = json!(1);
            d["status"] = json!({
                "observedGeneration": 1,
                "replicas": replicas,
                "updatedReplicas": replicas,
                "readyReplicas": replicas,
                "availableReplicas": replicas,
                "conditions": [
                    { "type": "Available", "status": "True", "reason": "MinimumReplicasAvailable", "message": "Deployment has minimum availability." },
                    { "type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable" },
                ],
            });
        })?;
        // The pod-template-hash: stable per Deployment, shaped like the controller's.
        let uid = deployment
            .pointer("/metadata/uid")
            .and_then(Value::as_str)
            .unwrap_or("0000000000")
            .replace('-', "");
        let hash: String = uid.chars().take(10).collect();
        let rs = self.put(
            "replicasets",
            replica_set(&ns, &format!("{name}-{hash}"), &labels, &deployment),
        )?;
        let rs_name = format!("{name}-{hash}");
        let now = rfc3339(self.clock.now());
        for i in 0..replicas {
            let pod = format!("{rs_name}-{}{i}", &uid[uid.len().saturating_sub(4)..]);
            self.put(
                "pods",
                running_pod(&ns, &pod, &labels, spec.clone(), &rs, &now),
            )?;
        }
        Ok(())
    }

    /// The pod identity webhook: a pod whose service account is annotated with a role gets
    /// `AWS_ROLE_ARN`, `AWS_WEB_IDENTITY_TOKEN_FILE` and the projected `aws-iam-token`.
    pub(super) fn inject_irsa(&self, ns: &str, spec: &mut Value) {
        let sa = spec
            .get("serviceAccountName")
            .and_then(Value::as_str)
            .unwrap_or("default")
            .to_string();
        let Some(role) = self.get("serviceaccounts", ns, &sa).and_then(|s| {
            s.pointer("/metadata/annotations")
                .and_then(|a| a.get(ROLE_ARN_ANNOTATION))
                .and_then(Value::as_str)
                .map(str::to_string)
        }) else {
            return;
        };
        if let Some(cs) = spec.get_mut("containers").and_then(Value::as_array_mut) {
            for c in cs {
                let env = c
                    .as_object_mut()
                    .map(|o| o.entry("env").or_insert_with(|| json!([])));
                if let Some(env) = env.and_then(Value::as_array_mut) {
                    env.push(json!({ "name": "AWS_STS_REGIONAL_ENDPOINTS", "value": "regional" }));
                    env.push(json!({ "name": "AWS_ROLE_ARN", "value": role }));
                    env.push(json!({ "name": "AWS_WEB_IDENTITY_TOKEN_FILE", "value": WEB_IDENTITY_TOKEN_FILE }));
                    if let Some(sts) = self.sts_endpoint.read().unwrap().clone() {
                        env.push(json!({ "name": "AWS_ENDPOINT_URL_STS", "value": sts }));
                    }
                }
                let mounts = c
                    .as_object_mut()
                    .map(|o| o.entry("volumeMounts").or_insert_with(|| json!([])));
                if let Some(m) = mounts.and_then(Value::as_array_mut) {
                    m.push(json!({ "name": "aws-iam-token", "mountPath": "/var/run/secrets/eks.amazonaws.com/serviceaccount", "readOnly": true }));
                }
            }
        }
        let volumes = spec
            .as_object_mut()
            .map(|o| o.entry("volumes").or_insert_with(|| json!([])));
        if let Some(v) = volumes.and_then(Value::as_array_mut) {
            v.push(json!({ "name": "aws-iam-token", "projected": { "defaultMode": 420, "sources": [{ "serviceAccountToken": {
                "audience": "sts.amazonaws.com", "expirationSeconds": 86400, "path": "token",
            } }] } }));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::Clock;
    use crate::kube::resources;
    use crate::kube::seed::{namespace, service_account};

    fn deployment(sa: &str) -> Value {
        let labels = json!({ "app": "x" });
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": { "name": "x" },
            "spec": { "replicas": 2, "selector": { "matchLabels": labels },
                "template": { "metadata": { "labels": labels }, "spec": {
                    "serviceAccountName": sa,
                    "containers": [{ "name": "c", "image": "nginx" }] } } },
        })
    }

    fn create(st: &KubeState, plural: &str, ns: &str, obj: Value) -> Value {
        let rt = resources::by_plural(plural).unwrap();
        let made = st.create(rt, Some(ns), obj).unwrap();
        st.reconcile_created(plural, &made).unwrap();
        made
    }

    #[test]
    fn a_created_deployment_runs_ready_pods_with_irsa_from_its_service_account() {
        let st = KubeState::new(Arc::new(Clock::default()));
        st.put("namespaces", namespace("ns")).unwrap();
        let role = "arn:aws:iam::111122223333:role/r";
        st.put("serviceaccounts", service_account("ns", "sa", Some(role)))
            .unwrap();
        create(&st, "deployments", "ns", deployment("sa"));
        let d = st.get("deployments", "ns", "x").unwrap();
        assert_eq!(d["status"]["readyReplicas"], 2);
        let pods = st.list("pods", Some("ns"));
        assert_eq!(pods.len(), 2);
        for p in &pods {
            assert_eq!(p["status"]["containerStatuses"][0]["ready"], true);
            assert_eq!(p["metadata"]["labels"]["app"], "x");
            let env = p["spec"]["containers"][0]["env"].to_string();
            assert!(
                env.contains(role) && env.contains(WEB_IDENTITY_TOKEN_FILE),
                "{env}"
            );
            assert!(p["spec"]["volumes"].to_string().contains("aws-iam-token"));
        }
    }

    #[test]
    fn a_created_collector_gets_the_operators_deployment_and_pods() {
        let st = KubeState::new(Arc::new(Clock::default()));
        st.put("namespaces", namespace("ns")).unwrap();
        let role = "arn:aws:iam::111122223333:role/r";
        st.put(
            "serviceaccounts",
            service_account("ns", "col-sa", Some(role)),
        )
        .unwrap();
        let cr = json!({
            "apiVersion": "opentelemetry.io/v1beta1", "kind": "OpenTelemetryCollector",
            "metadata": { "name": "adot" },
            "spec": { "mode": "deployment", "serviceAccount": "col-sa",
                      "config": { "exporters": { "debug": {} } } },
        });
        create(&st, "opentelemetrycollectors", "ns", cr);
        let d = st.get("deployments", "ns", "adot-collector").unwrap();
        assert_eq!(d["status"]["readyReplicas"], 1);
        let cm = st.get("configmaps", "ns", "adot-collector-config").unwrap();
        assert!(
            cm["data"]["collector.yaml"]
                .as_str()
                .unwrap()
                .contains("debug")
        );
        let pods = st.list("pods", Some("ns"));
        assert_eq!(pods.len(), 1);
        assert_eq!(pods[0]["spec"]["containers"][0]["name"], "otc-container");
        assert!(
            pods[0].to_string().contains(role),
            "IRSA from the named account"
        );
        let c = st.get("opentelemetrycollectors", "ns", "adot").unwrap();
        assert_eq!(
            c["status"]["scale"]["selector"],
            "app.kubernetes.io/component=opentelemetry-collector,app.kubernetes.io/instance=ns.adot"
        );
    }

    #[test]
    fn without_a_role_annotation_pods_get_no_irsa() {
        let st = KubeState::new(Arc::new(Clock::default()));
        st.put("namespaces", namespace("ns")).unwrap();
        st.put("serviceaccounts", service_account("ns", "sa", None))
            .unwrap();
        create(&st, "deployments", "ns", deployment("sa"));
        let pods = st.list("pods", Some("ns"));
        let pod = pods.first().unwrap();
        assert!(!pod.to_string().contains("AWS_ROLE_ARN"));
    }
}
