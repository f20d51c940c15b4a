//! Reading a collector's config in the cluster (`collector.config` and `network.egress`
//! both start from it), and what `collector.config` judges of a collector in a cluster
//! beyond its URL and region:
//! the role its signer is told to assume (F30) and the external labels several replicas
//! need (F33). Each is a pure judgment on the config and what was read from the cluster
//! and IAM, plus the reading, so the judgments are unit-tested without a cluster.
//!
//! Both are cluster checks only: a local collector scenario signs through pipecheck's
//! proxy or with the harness's own keys, so it has no IRSA role a `role_arn` could repeat,
//! and it runs one replica.

use k8s_openapi::api::core::v1::ServiceAccount;
use kube::Api;
use pipecheck_policy::{Effect, PolicyDocument, PrincipalRef, Request, evaluate};
use serde_json::Value;

use super::diagnosis::reason_400;
use super::{Check, RunContext};
use crate::amp_client::truncate;
use crate::arn::role_name;
use crate::cluster::{Workload, decode_policy, last_log_lines, pod_name, role_annotation};
use crate::collector::{CollectorConfig, RemoteWrite};
use crate::scenario::ClusterCollector;

/// The action a role session needs its role's trust policy to allow to assume the role.
const ASSUME_ROLE: &str = "sts:AssumeRole";

/// The labels AMP deduplicates HA replicas on (AMP's "Deduplicating Prometheus metrics").
pub const HA_LABELS: [&str; 2] = ["cluster", "__replica__"];

/// Where the assumed role sits in each kind of config, for verdicts.
fn role_key(kind: ClusterCollector) -> &'static str {
    match kind {
        ClusterCollector::Prometheus | ClusterCollector::AmpScraper => {
            "remote_write[0].sigv4.role_arn"
        }
        ClusterCollector::PrometheusOperator => "spec.remoteWrite[0].sigv4.roleArn",
        ClusterCollector::Adot | ClusterCollector::Otelcol => {
            "extensions.sigv4auth.assume_role.arn"
        }
    }
}

/// The principals of each statement, one line each, for evidence.
fn principals(doc: &PolicyDocument) -> String {
    doc.statements
        .iter()
        .map(|st| {
            let who = match &st.principal {
                None => "(no Principal)".to_string(),
                Some(p) => {
                    let i = p.inner();
                    let mut parts: Vec<String> = Vec::new();
                    if i.any {
                        parts.push("*".to_string());
                    }
                    for (kind, list) in [
                        ("AWS", &i.aws),
                        ("Federated", &i.federated),
                        ("Service", &i.service),
                    ] {
                        parts.extend(list.iter().map(|v| format!("{kind} {v}")));
                    }
                    let not = if p.negated() { "NotPrincipal " } else { "" };
                    format!("{not}{}", parts.join(", "))
                }
            };
            let effect = match st.effect {
                Effect::Allow => "Allow",
                Effect::Deny => "Deny",
            };
            format!(
                "{}: {effect} {who} to {}",
                st.path,
                st.action.inner().join(", ")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// F30: the config tells the signer to assume `role_arn`, the role the pods already run
/// as through IRSA (`ns`/`sa`'s annotation). Assuming a role from its own session needs
/// the role to trust itself for `sts:AssumeRole`; an IRSA trust policy trusts only the
/// cluster's OIDC provider, so STS refuses, the signer has no credentials and no write
/// leaves the collector. None when the trust policy does allow it.
pub fn judge_self_assumption(
    role_arn: &str,
    ns: &str,
    sa: &str,
    trust: &PolicyDocument,
    kind: ClusterCollector,
) -> Option<Check> {
    let request = Request {
        action: ASSUME_ROLE,
        resource: None,
        principal: Some(PrincipalRef::Aws(role_arn)),
        context: &[],
        context_name: "the request",
    };
    let decision = evaluate(std::slice::from_ref(trust), &request);
    if decision.allowed() {
        return None;
    }
    let name = role_name(role_arn);
    let account = crate::arn::account(role_arn).unwrap_or("<account>");
    let refusal = format!(
        "User: arn:aws:sts::{account}:assumed-role/{name}/<session> is not authorized to perform: {ASSUME_ROLE} on resource: {role_arn}"
    );
    let remove = match kind {
        ClusterCollector::Prometheus | ClusterCollector::AmpScraper => {
            "remove role_arn from the remote_write entry's sigv4 block"
        }
        ClusterCollector::PrometheusOperator => {
            "remove roleArn from the Prometheus resource's remoteWrite sigv4"
        }
        ClusterCollector::Adot | ClusterCollector::Otelcol => {
            "remove assume_role from the sigv4auth extension"
        }
    };
    Some(
        Check::fail(
            format!(
                "the collector's {} is {role_arn}, the role it already runs as (IRSA, service account {ns}/{sa}), and that role does not trust itself: STS refuses with \"{refusal}\"",
                role_key(kind)
            ),
            format!(
                "{remove}: the IRSA credentials already are role {name}; or, to keep it, add {{\"Effect\":\"Allow\",\"Principal\":{{\"AWS\":\"{role_arn}\"}},\"Action\":\"{ASSUME_ROLE}\"}} to {name}'s trust policy"
            ),
        )
        .with("role to assume (config)", format!("{}: {role_arn}", role_key(kind)))
        .with(
            "role the collector runs as (IRSA)",
            format!("serviceaccount {ns}/{sa} eks.amazonaws.com/role-arn: {role_arn}"),
        )
        .with("trust policy principals", principals(trust))
        .with(
            "evaluation (pipecheck-policy)",
            format!("{ASSUME_ROLE} by {role_arn}: {decision}"),
        ),
    )
}

/// Reads what [`judge_self_assumption`] needs: the service account the pods run as, its
/// role, and that role's trust policy. Ok(None): nothing to report (no role_arn, another
/// role, or one that trusts itself). Err: why it could not be judged (the links that own
/// the service account and the role report their own failures).
pub async fn self_assumed_role(
    ctx: &RunContext,
    workload: &Workload,
    rw: &RemoteWrite,
    kind: ClusterCollector,
) -> Result<Option<Check>, String> {
    let Some(role_arn) = rw.sigv4_role_arn.as_deref() else {
        return Ok(None);
    };
    let kube = ctx.target.kube.as_ref().ok_or("no Kubernetes API")?;
    let (ns, sa) = (&workload.namespace, &workload.template_service_account);
    let api: Api<ServiceAccount> = Api::namespaced(kube.client.clone(), ns);
    let got = api
        .get(sa)
        .await
        .map_err(|e| format!("could not read serviceaccount {ns}/{sa}: {e}"))?;
    if role_annotation(&got).as_deref() != Some(role_arn) {
        return Ok(None);
    }
    let name = role_name(role_arn);
    let call = ctx.target.iam.get_role().role_name(name).send();
    let out = tokio::time::timeout(ctx.deadlines.request, call)
        .await
        .map_err(|_| {
            format!(
                "IAM GetRole {name} did not answer within {}",
                ctx.deadlines.request_named()
            )
        })?
        .map_err(|e| format!("IAM GetRole {name}: {}", crate::cluster::sdk_error(&e).1))?;
    let text = decode_policy(
        out.role()
            .and_then(|r| r.assume_role_policy_document())
            .unwrap_or_default(),
    );
    let trust = PolicyDocument::parse(&text)
        .map_err(|e| format!("role {name}'s trust policy cannot be read: {e}"))?;
    let Some(check) = judge_self_assumption(role_arn, ns, sa, &trust, kind) else {
        return Ok(None);
    };
    let said = collector_log_lines(ctx, workload, &[ASSUME_ROLE]).await;
    let lines = said
        .iter()
        .map(|(pod, line)| format!("{pod}: {}", truncate(line, 600)))
        .collect();
    Ok(Some(with_log(check, lines)))
}

/// F33: `replicas` replicas of `controller` (a Deployment or StatefulSet: each scrapes
/// every target) write the same series, and the remote write lacks the external labels
/// AMP's HA deduplication keys on, so AMP sees one series written twice and refuses the
/// second copy with 400 out of order / duplicate sample. None with one replica, a
/// DaemonSet (each node's collector scrapes its own node), or both labels set.
pub fn judge_ha_labels(
    controller: &str,
    replicas: i32,
    rw: &RemoteWrite,
    kind: ClusterCollector,
    cluster: &str,
) -> Option<Check> {
    let per_replica = controller.starts_with("Deployment") || controller.starts_with("StatefulSet");
    if replicas <= 1 || !per_replica {
        return None;
    }
    // The operator's replica label (`prometheus_replica: $(POD_NAME)` unless
    // replicaExternalLabelName is ""), which its config-reloader expands per pod: each
    // replica writes series of its own, so AMP refuses nothing (`operator_replicas`
    // judges what it stores).
    if kind == ClusterCollector::PrometheusOperator
        && rw
            .external_labels
            .iter()
            .any(|(_, v)| v == OPERATOR_POD_NAME)
    {
        return None;
    }
    let missing: Vec<&str> = HA_LABELS
        .iter()
        .copied()
        .filter(|l| !rw.external_labels.iter().any(|(k, _)| k == l))
        .collect();
    if missing.is_empty() {
        return None;
    }
    let (key, value) = match kind {
        ClusterCollector::PrometheusOperator => (
            "the external labels the operator renders (replicaExternalLabelName, externalLabels)",
            "$(POD_NAME)",
        ),
        ClusterCollector::Prometheus | ClusterCollector::AmpScraper => (
            "global.external_labels",
            "${POD_NAME} (POD_NAME from the downward API's metadata.name; Prometheus expands it with --enable-feature=expand-external-labels)",
        ),
        ClusterCollector::Adot | ClusterCollector::Otelcol => (
            "the prometheusremotewrite exporter's external_labels",
            "${env:POD_NAME} (POD_NAME from the downward API's metadata.name in the collector's env)",
        ),
    };
    let labels = if rw.external_labels.is_empty() {
        "(none)".to_string()
    } else {
        rw.external_labels
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    Some(
        Check::fail(
            format!(
                "{replicas} replicas of {controller} write the same series without the {} external label(s) AMP deduplicates HA replicas on: AMP refuses the copies with 400 out of order sample / duplicate sample for timestamp",
                missing.join(" and ")
            ),
            if kind == ClusterCollector::PrometheusOperator {
                format!(
                    "set replicaExternalLabelName: __replica__ (the operator labels each replica with its pod name) and externalLabels: {{cluster: {cluster}}} in the Prometheus resource (kube-prometheus-stack: prometheus.prometheusSpec) so AMP keeps one replica's samples, or run one replica; this is the config's doing, not AMP's"
                )
            } else {
                format!(
                    "set {key}: {{cluster: {cluster}, __replica__: {value}}} so AMP keeps one replica's samples, or run one replica; this is the config's doing, not AMP's"
                )
            },
        )
        .with("replicas", format!("{controller}: {replicas} replicas"))
        .with(format!("external labels ({key})"), labels),
    )
}

/// [`judge_ha_labels`] on the cluster's workload, with AMP's refusals from the replicas'
/// logs as evidence.
pub async fn ha_labels(
    ctx: &RunContext,
    workload: &Workload,
    rw: &RemoteWrite,
    kind: ClusterCollector,
    cluster: &str,
) -> Option<Check> {
    let (controller, _, wanted) = workload.controller.as_ref()?;
    let check = judge_ha_labels(controller, *wanted, rw, kind, cluster)?;
    let pods: Vec<&str> = workload.pods.iter().map(pod_name).collect();
    let check = check.with("pods", pods.join("\n"));
    let said = collector_log_lines(
        ctx,
        workload,
        &["out of order sample", "duplicate sample for timestamp"],
    )
    .await;
    let mut check = check;
    if !said.is_empty() {
        check.verdict = format!(
            "{} ({} such refusal(s) in the replicas' logs)",
            check.verdict,
            said.len()
        );
    }
    let refusals: Vec<String> = said
        .iter()
        .map(|(pod, line)| format!("{pod}: AMP 400: {}", reason_400(line)))
        .collect();
    Some(with_log(check, refusals))
}

/// The collector's log lines (every pod, last 50 lines each) holding one of `needles`,
/// as `(pod, line)`; at most 3 per pod.
async fn collector_log_lines(
    ctx: &RunContext,
    workload: &Workload,
    needles: &[&str],
) -> Vec<(String, String)> {
    let Some(kube) = ctx.target.kube.as_ref() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for pod in &workload.pods {
        let name = pod_name(pod);
        let Ok(lines) = last_log_lines(
            &kube.client,
            &workload.namespace,
            name,
            &workload.container,
            false,
            50,
        )
        .await
        else {
            continue;
        };
        let hits: Vec<&String> = lines
            .iter()
            .filter(|l| needles.iter().any(|n| l.contains(n)))
            .collect();
        let skip = hits.len().saturating_sub(3);
        out.extend(
            hits.into_iter()
                .skip(skip)
                .map(|l| (name.to_string(), l.clone())),
        );
    }
    out
}

fn with_log(check: Check, lines: Vec<String>) -> Check {
    if lines.is_empty() {
        check
    } else {
        check.with("collector log", lines.join("\n"))
    }
}

/// The value the operator gives its replica label; its config-reloader expands it to the
/// pod's name when it writes the config Prometheus loads.
pub const OPERATOR_POD_NAME: &str = "$(POD_NAME)";

/// The plain (`value:`) env of the collector's container: the first pod's, else the
/// template's.
pub fn pod_env(w: &Workload) -> Vec<(String, String)> {
    w.pods
        .first()
        .and_then(|p| p.spec.as_ref())
        .or(w.template.as_ref())
        .and_then(|s| s.containers.iter().find(|c| c.name == w.container))
        .map(|c| {
            c.env
                .iter()
                .flatten()
                .filter_map(|e| Some((e.name.clone(), e.value.clone()?)))
                .collect()
        })
        .unwrap_or_default()
}

/// The region the AWS SDK in the pods finds in their environment (`AWS_REGION`, else
/// `AWS_DEFAULT_REGION`), with the variable's name.
fn env_region(env: &[(String, String)]) -> Option<(&str, &str)> {
    ["AWS_REGION", "AWS_DEFAULT_REGION"].iter().find_map(|k| {
        env.iter()
            .find(|(n, v)| n == k && !v.is_empty())
            .map(|(n, v)| (n.as_str(), v.as_str()))
    })
}

/// The external labels the operator renders for a `Prometheus` spec (its
/// `buildExternalLabels`): `prometheus: <ns>/<name>` and `prometheus_replica: $(POD_NAME)`
/// unless `prometheusExternalLabelName` / `replicaExternalLabelName` is `""` (or renames
/// them), then `spec.externalLabels` except the keys those two took.
pub fn operator_external_labels(ns: &str, name: &str, spec: &Value) -> Vec<(String, String)> {
    let label_name = |key: &str, default: &str| match spec.get(key) {
        Some(Value::String(s)) => s.clone(),
        _ => default.to_string(),
    };
    let mut out: Vec<(String, String)> = Vec::new();
    let prom = label_name("prometheusExternalLabelName", "prometheus");
    if !prom.is_empty() {
        out.push((prom, format!("{ns}/{name}")));
    }
    let replica = label_name("replicaExternalLabelName", "prometheus_replica");
    if !replica.is_empty() {
        out.push((replica, OPERATOR_POD_NAME.to_string()));
    }
    for (k, v) in spec
        .get("externalLabels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        if !out.iter().any(|(have, _)| have == k) {
            let v = v
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string());
            out.push((k.clone(), v));
        }
    }
    out.sort();
    out
}

/// The Prometheus config the operator renders from a `Prometheus` resource, as far as the
/// checks read it (global external labels, remote_write with sigv4), as YAML, and the
/// evidence saying where it came from. A sigv4 block without a region gets the pods'
/// `AWS_REGION`, which is where Prometheus' signer then finds it. The rendered Secret
/// itself is not read: see docs/wire/prometheus-operator.md.
pub fn operator_config(resource: &Value, env: &[(String, String)]) -> (String, String) {
    let ns = resource
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("default");
    let name = resource
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let null = Value::Null;
    let spec = resource.get("spec").unwrap_or(&null);
    let mut notes = Vec::new();
    let remote_write: Vec<Value> = spec
        .get("remoteWrite")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(i, rw)| {
            let mut out = serde_json::json!({ "url": rw.get("url").and_then(Value::as_str).unwrap_or_default() });
            if let Some(sig) = rw.get("sigv4").filter(|v| !v.is_null()) {
                let given = sig.get("region").and_then(Value::as_str).filter(|r| !r.is_empty());
                let region = match (given, env_region(env)) {
                    (Some(r), _) => r.to_string(),
                    (None, Some((var, r))) => {
                        notes.push(format!("spec.remoteWrite[{i}].sigv4 names no region: Prometheus' signer takes {var}={r} from the pod's environment"));
                        r.to_string()
                    }
                    (None, None) => String::new(),
                };
                out["sigv4"] = serde_json::json!({ "region": region });
                if let Some(role) = sig.get("roleArn").and_then(Value::as_str).filter(|r| !r.is_empty()) {
                    out["sigv4"]["role_arn"] = serde_json::json!(role);
                }
            }
            out
        })
        .collect();
    let labels: serde_json::Map<String, Value> = operator_external_labels(ns, name, spec)
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    let doc = serde_json::json!({
        "global": { "external_labels": labels },
        "remote_write": remote_write,
    });
    let text = serde_saphyr::to_string(&doc).unwrap_or_default();
    let mut source = format!(
        "Prometheus {ns}/{name} (monitoring.coreos.com/v1) spec, as the operator renders it into Secret {ns}/prometheus-{name} (key prometheus.yaml.gz, not read: a read-only run is granted no secrets):\n{text}"
    );
    for n in notes {
        source.push_str(&format!("\n{n}"));
    }
    (text, source)
}

/// F46: the `Prometheus` resource's remote write is signed (`sigv4`) without a region, and
/// the pods' environment has none either: Prometheus refuses the config ("region not
/// configured in sigv4 or in default credentials chain") and writes nothing.
pub async fn operator_sigv4_region(ctx: &RunContext, workload: &Workload) -> Option<Check> {
    let resource = workload.resource.as_ref()?;
    let env = pod_env(workload);
    if env_region(&env).is_some() {
        return None;
    }
    let (i, rw) = resource
        .pointer("/spec/remoteWrite")
        .and_then(Value::as_array)?
        .iter()
        .enumerate()
        .find(|(_, rw)| {
            rw.get("sigv4").is_some_and(|s| {
                !s.is_null()
                    && s.get("region")
                        .and_then(Value::as_str)
                        .is_none_or(str::is_empty)
            })
        })?;
    let name = resource
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let ns = &workload.namespace;
    let region = &ctx.target.region;
    let names: Vec<&str> = env.iter().map(|(n, _)| n.as_str()).collect();
    let check = Check::fail(
        format!(
            "the Prometheus resource {ns}/{name} signs spec.remoteWrite[{i}] (sigv4) without a region, and its pods have no AWS_REGION or AWS_DEFAULT_REGION: Prometheus refuses the config with \"region not configured in sigv4 or in default credentials chain\" and writes nothing"
        ),
        format!(
            "set spec.remoteWrite[{i}].sigv4.region: {region} (kube-prometheus-stack: prometheus.prometheusSpec.remoteWrite[{i}].sigv4.region), the workspace's region"
        ),
    )
    .with(
        "remote write (Prometheus resource)",
        serde_saphyr::to_string(rw).unwrap_or_default(),
    )
    .with(
        "pod environment (container prometheus)",
        if names.is_empty() { "(no plain env)".to_string() } else { names.join(", ") },
    );
    let said = collector_log_lines(ctx, workload, &["region not configured"]).await;
    let lines = said
        .iter()
        .map(|(pod, line)| format!("{pod}: {}", truncate(line, 600)))
        .collect();
    Some(with_log(check, lines))
}

/// F47: several replicas of a `Prometheus` resource keep the operator's own replica label
/// (`prometheus_replica`, or another name that is not `__replica__`), or have no `cluster`
/// external label: AMP accepts every replica's copy as series of their own and stores
/// them all (it deduplicates on `cluster` and `__replica__` only). A warning: nothing is
/// refused, but every series is stored (and summed) once per replica. None with one
/// replica, the replica label off (F33 judges that) or the HA labels set.
pub fn operator_replicas(workload: &Workload, cluster: &str) -> Option<Check> {
    let resource = workload.resource.as_ref()?;
    let spec = resource.get("spec")?;
    let replicas = spec.get("replicas").and_then(Value::as_i64).unwrap_or(1);
    if replicas <= 1 {
        return None;
    }
    let label = match spec.get("replicaExternalLabelName") {
        Some(Value::String(s)) => s.clone(),
        _ => "prometheus_replica".to_string(),
    };
    let has_cluster = spec.pointer("/externalLabels/cluster").is_some();
    if label.is_empty() || (label == "__replica__" && has_cluster) {
        return None;
    }
    let name = resource
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let ns = &workload.namespace;
    let missing = match (label == "__replica__", has_cluster) {
        (false, false) => {
            "replicaExternalLabelName is not __replica__ and there is no cluster external label"
        }
        (false, true) => "replicaExternalLabelName is not __replica__",
        _ => "there is no cluster external label",
    };
    Some(
        Check::warn(
            format!(
                "{replicas} replicas of Prometheus {ns}/{name} write every series, each under its own {label} label: AMP stores all {replicas} copies and sums count each one ({missing}, so AMP does not deduplicate them)"
            ),
            format!(
                "set replicaExternalLabelName: __replica__ and externalLabels: {{cluster: {cluster}}} in the Prometheus resource (kube-prometheus-stack: prometheus.prometheusSpec) so AMP keeps one replica's samples (AMP user guide: high-availability data with the Prometheus operator), or run one replica"
            ),
        )
        .with(
            "external labels the operator renders",
            operator_external_labels(ns, name, spec)
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect::<Vec<_>>()
                .join("\n"),
        ),
    )
}

/// The config of an OpenTelemetry collector run without an operator: the file its
/// container's `--config` names, read from the ConfigMap mounted there (the chart's key
/// `relay` as `/conf/relay.yaml`; ADOT's manifests' `otel-agent-config`). Also the
/// evidence saying where it was read.
pub async fn otel_configmap(ctx: &RunContext, w: &Workload) -> Result<(String, String), Check> {
    use k8s_openapi::api::core::v1::ConfigMap;
    let kube =
        ctx.target.kube.as_ref().ok_or_else(|| {
            Check::fail("no Kubernetes API", "use a scenario with `shape: cluster`")
        })?;
    let ns = w.namespace.as_str();
    let spec = w
        .template
        .as_ref()
        .or_else(|| w.pods.first().and_then(|p| p.spec.as_ref()));
    let container = spec.and_then(|s| s.containers.iter().find(|c| c.name == w.container));
    let Some((spec, container)) = spec.zip(container) else {
        return Err(Check::fail(
            format!(
                "the collector's pod template ({}) has no container {}",
                w.description, w.container
            ),
            "check the collector's Deployment or DaemonSet",
        ));
    };
    let args: Vec<&String> = container
        .command
        .iter()
        .flatten()
        .chain(container.args.iter().flatten())
        .collect();
    let path = args.iter().enumerate().find_map(|(i, a)| {
        a.strip_prefix("--config=").map(str::to_string).or_else(|| {
            (a.as_str() == "--config")
                .then(|| args.get(i + 1).map(|s| s.to_string()))
                .flatten()
        })
    });
    let Some(path) = path else {
        return Err(Check::fail(
            format!("the collector's container {} is started without --config", w.container),
            "start the collector with --config=<file> from a mounted ConfigMap (the chart passes --config=/conf/relay.yaml)",
        )
        .with("command and args", args.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ")));
    };
    let file = path.strip_prefix("file:").unwrap_or(&path).to_string();
    let mount = container
        .volume_mounts
        .iter()
        .flatten()
        .filter(|m| file.starts_with(&format!("{}/", m.mount_path.trim_end_matches('/'))))
        .max_by_key(|m| m.mount_path.len());
    let volume = mount.and_then(|m| {
        spec.volumes
            .iter()
            .flatten()
            .find(|v| v.name == m.name)
            .and_then(|v| v.config_map.as_ref())
            .map(|cm| (m, cm))
    });
    let Some((mount, cm)) = volume else {
        return Err(Check::fail(
            format!(
                "the collector reads its config from {file}, which no mounted ConfigMap provides"
            ),
            "mount the ConfigMap holding the collector's config at the directory --config names",
        ));
    };
    let rel = file[mount.mount_path.trim_end_matches('/').len() + 1..].to_string();
    let key = cm
        .items
        .iter()
        .flatten()
        .find(|i| i.path == rel)
        .map(|i| i.key.clone())
        .unwrap_or_else(|| rel.clone());
    let api: Api<ConfigMap> = Api::namespaced(kube.client.clone(), ns);
    let got = api.get(&cm.name).await.map_err(|e| {
        crate::cluster::api_failure(
            &format!("read ConfigMap {ns}/{}", cm.name),
            &format!("get configmaps in {ns}"),
            &e,
        )
    })?;
    let Some(text) = got.data.and_then(|d| d.get(&key).cloned()) else {
        return Err(Check::fail(
            format!(
                "ConfigMap {ns}/{} has no key {key}, which the collector reads as {file}",
                cm.name
            ),
            "put the collector's config under that key, or point --config at the key's file",
        ));
    };
    Ok((
        text.clone(),
        format!(
            "ConfigMap {ns}/{} key {key} (the collector's --config={path}):\n{text}",
            cm.name
        ),
    ))
}

/// Whether a config value is an environment reference the collector expands per pod
/// (`${env:K8S_NODE_NAME}`, `${K8S_NODE_NAME}`, `$K8S_NODE_NAME`).
fn env_reference(v: &str) -> bool {
    v.contains("${") || v.trim_start().starts_with('$')
}

/// The prometheus receivers' scrape jobs that discover Kubernetes targets cluster-wide:
/// `kubernetes_sd_configs` with no field selector on the node (`spec.nodeName=` for
/// pods, `metadata.name=` for nodes) naming an env reference, and no `keep` relabeling
/// on a `…node_name` meta label against one.
pub fn cluster_wide_jobs(config_text: &str) -> Vec<String> {
    let Ok(doc) = serde_saphyr::from_str::<Value>(config_text) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (name, r) in doc["receivers"].as_object().into_iter().flatten() {
        if name.split('/').next() != Some("prometheus") {
            continue;
        }
        for job in r["config"]["scrape_configs"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let sds = job["kubernetes_sd_configs"].as_array();
            let Some(sds) = sds.filter(|s| !s.is_empty()) else {
                continue;
            };
            let by_selector = sds.iter().any(|sd| {
                sd["selectors"].as_array().into_iter().flatten().any(|sel| {
                    sel["field"].as_str().is_some_and(|f| {
                        f.split(',').any(|term| {
                            let (k, v) = term.split_once('=').unwrap_or((term, ""));
                            matches!(k.trim_end_matches('='), "spec.nodeName" | "metadata.name")
                                && env_reference(v)
                        })
                    })
                })
            });
            let by_relabel = job["relabel_configs"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|rc| {
                    rc["action"].as_str() == Some("keep")
                        && rc["source_labels"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .any(|l| l.as_str().is_some_and(|l| l.ends_with("_node_name")))
                        && rc["regex"].as_str().is_some_and(env_reference)
                });
            if !by_selector && !by_relabel {
                out.push(job["job_name"].as_str().unwrap_or("(unnamed)").to_string());
            }
        }
    }
    out
}

/// F45: a DaemonSet runs a collector on every node, and each scrapes what `jobs` discover
/// cluster-wide, so every target is scraped once per node. Without an external label that
/// differs per node the copies are the same series: AMP refuses all but the first with 400
/// duplicate sample / out of order (fails with two nodes or more; warns with one, where
/// the next node starts it). With a per-node label AMP stores a copy per node (warns).
pub fn judge_daemonset_duplicates(
    controller: &str,
    nodes: i32,
    jobs: &[String],
    rw: &RemoteWrite,
) -> Option<Check> {
    if !controller.starts_with("DaemonSet") || jobs.is_empty() {
        return None;
    }
    let per_node: Vec<String> = rw
        .external_labels
        .iter()
        .filter(|(_, v)| env_reference(v))
        .map(|(k, v)| format!("{k}: {v}"))
        .collect();
    let jobs_text = jobs.join(", ");
    let fix = "give each of those jobs' kubernetes_sd_configs a selector for this node's targets (role pod: `selectors: [{role: pod, field: spec.nodeName=${env:K8S_NODE_NAME}}]`, K8S_NODE_NAME from the downward API's spec.nodeName), or scrape cluster-wide targets from one Deployment replica instead of the DaemonSet";
    let check = if !per_node.is_empty() {
        Check::warn(
            format!(
                "{controller} runs a collector on each of its {nodes} node(s), and each scrapes every target of job(s) {jobs_text} (kubernetes_sd_configs without a node selector): AMP stores a copy of each series per node (external label {})",
                per_node.join(", ")
            ),
            fix,
        )
    } else if nodes >= 2 {
        Check::fail(
            format!(
                "{controller} runs a collector on each of its {nodes} nodes, and each scrapes every target of job(s) {jobs_text} (kubernetes_sd_configs without a node selector) and writes the same series with no per-node external label: AMP refuses the copies with 400 duplicate sample for timestamp / out of order sample"
            ),
            fix,
        )
    } else {
        Check::warn(
            format!(
                "{controller} scrapes every target of job(s) {jobs_text} from each node's collector (kubernetes_sd_configs without a node selector): with {nodes} node it works, from the second node on AMP refuses the copies (duplicate sample for timestamp)"
            ),
            fix,
        )
    };
    Some(
        check
            .with("cluster-wide jobs (prometheus receiver)", jobs_text)
            .with(
                "per-node external labels (exporter)",
                if per_node.is_empty() {
                    "(none)".to_string()
                } else {
                    per_node.join("\n")
                },
            ),
    )
}

/// [`judge_daemonset_duplicates`] on the cluster's workload and config, with AMP's
/// refusals from the collectors' logs as evidence.
pub async fn daemonset_duplicates(
    ctx: &RunContext,
    workload: &Workload,
    config: &crate::collector::CollectorConfig,
) -> Option<Check> {
    let (controller, _, nodes) = workload.controller.as_ref()?;
    let rw = config.remote_write.first()?;
    let jobs = cluster_wide_jobs(&config.text);
    let check = judge_daemonset_duplicates(controller, *nodes, &jobs, rw)?;
    let pods: Vec<String> = workload
        .pods
        .iter()
        .map(|p| {
            format!(
                "{} on node {}",
                pod_name(p),
                p.spec
                    .as_ref()
                    .and_then(|s| s.node_name.as_deref())
                    .unwrap_or("?")
            )
        })
        .collect();
    let check = check.with("pods", pods.join("\n"));
    let said = collector_log_lines(
        ctx,
        workload,
        &["out of order sample", "duplicate sample for timestamp"],
    )
    .await;
    let refusals: Vec<String> = said
        .iter()
        .map(|(pod, line)| format!("{pod}: AMP 400: {}", reason_400(line)))
        .collect();
    Some(with_log(check, refusals))
}

/// The config of the collector in the cluster, read where it gets it (the
/// OpenTelemetryCollector's `spec.config`, the Prometheus server's ConfigMap, the
/// `Prometheus` resource as the operator renders it, the ConfigMap an OpenTelemetry
/// collector's `--config` names), and where
/// it was read (evidence), and the workload it was found through. Err: the failed check
/// saying why it could not be read.
pub(crate) async fn read_in_cluster(
    ctx: &RunContext,
) -> Result<(CollectorConfig, String, crate::cluster::Workload), Check> {
    use k8s_openapi::api::core::v1::ConfigMap;
    use serde_json::Value;

    let (Some(spec), Some(kube)) = (ctx.cluster.as_ref(), ctx.target.kube.as_ref()) else {
        return Err(Check::fail(
            "this scenario has no cluster",
            "use a scenario with `shape: cluster`",
        ));
    };
    let ns = spec.namespace.as_str();
    let workload = crate::cluster::find_workload(&kube.client, spec).await?;
    let (parsed, source) = match spec.kind {
        crate::scenario::ClusterCollector::Adot => {
            let config = workload
                .resource
                .as_ref()
                .and_then(|r| r.pointer("/spec/config"))
                .cloned()
                .unwrap_or(Value::Null);
            // v1beta1 holds the config as a structure; v1alpha1 as a YAML string.
            let text = match &config {
                Value::Null => {
                    return Err(Check::fail(
                        format!(
                            "the OpenTelemetryCollector {ns}/{} has no spec.config",
                            spec.collector
                        ),
                        "give the collector a config with a prometheusremotewrite exporter signed by sigv4auth",
                    ));
                }
                Value::String(s) => s.clone(),
                other => serde_saphyr::to_string(other).unwrap_or_default(),
            };
            (
                CollectorConfig::parse_otel(&text),
                format!(
                    "OpenTelemetryCollector {ns}/{} spec.config:\n{text}",
                    spec.collector
                ),
            )
        }
        crate::scenario::ClusterCollector::Prometheus
        | crate::scenario::ClusterCollector::AmpScraper => {
            let volumes = workload
                .template
                .as_ref()
                .and_then(|t| t.volumes.clone())
                .unwrap_or_default();
            let cm = volumes
                .iter()
                .filter_map(|v| Some((v.name.as_str(), v.config_map.as_ref()?.name.clone())))
                .min_by_key(|(n, _)| *n != "config-volume")
                .map(|(_, cm)| cm);
            let Some(cm) = cm else {
                return Err(Check::fail(
                    format!(
                        "the server {ns}/{} mounts no ConfigMap with its config",
                        spec.collector
                    ),
                    "the chart mounts its prometheus.yml from a ConfigMap (volume config-volume): check the deployment",
                ));
            };
            let api: kube::Api<ConfigMap> = kube::Api::namespaced(kube.client.clone(), ns);
            let got = match api.get(&cm).await {
                Ok(c) => c,
                Err(e) => {
                    return Err(crate::cluster::api_failure(
                        &format!("read ConfigMap {ns}/{cm}"),
                        &format!("get configmaps in {ns}"),
                        &e,
                    ));
                }
            };
            let Some(text) = got.data.and_then(|d| d.get("prometheus.yml").cloned()) else {
                return Err(Check::fail(
                    format!("ConfigMap {ns}/{cm} has no prometheus.yml"),
                    "the server reads /etc/config/prometheus.yml from this ConfigMap",
                ));
            };
            (
                CollectorConfig::parse_prometheus(&text),
                format!("ConfigMap {ns}/{cm} prometheus.yml:\n{text}"),
            )
        }
        crate::scenario::ClusterCollector::PrometheusOperator => {
            let resource = workload.resource.clone().unwrap_or(Value::Null);
            let env = pod_env(&workload);
            let (text, source) = operator_config(&resource, &env);
            (CollectorConfig::parse_prometheus(&text), source)
        }
        crate::scenario::ClusterCollector::Otelcol => {
            let (text, source) = otel_configmap(ctx, &workload).await?;
            (CollectorConfig::parse_otel(&text), source)
        }
    };
    match parsed {
        Ok(c) => Ok((c, source, workload)),
        Err(e) => Err(
            Check::fail("the collector's config cannot be read", "see the evidence")
                .with("error", crate::error_chain(&e))
                .with("config", source),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::links::Status;

    const ROLE: &str = "arn:aws:iam::111122223333:role/amp-ingest";

    fn irsa_trust(extra: &str) -> PolicyDocument {
        PolicyDocument::parse(&format!(
            r#"{{"Version":"2012-10-17","Statement":[
              {{"Effect":"Allow","Principal":{{"Federated":"arn:aws:iam::111122223333:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/X"}},
               "Action":"sts:AssumeRoleWithWebIdentity",
               "Condition":{{"StringEquals":{{"oidc.eks.us-east-1.amazonaws.com/id/X:sub":"system:serviceaccount:prometheus:amp"}}}}}}{extra}]}}"#
        ))
        .unwrap()
    }

    #[test]
    fn a_role_that_does_not_trust_itself_cannot_be_assumed_from_its_own_session() {
        let c = judge_self_assumption(
            ROLE,
            "prometheus",
            "amp",
            &irsa_trust(""),
            ClusterCollector::Prometheus,
        )
        .expect("IRSA trust alone does not let the role assume itself");
        assert_eq!(c.status, Status::Fail);
        assert!(c.verdict.contains("remote_write[0].sigv4.role_arn is arn:aws:iam::111122223333:role/amp-ingest, the role it already runs as"), "{}", c.verdict);
        assert!(c.verdict.contains("User: arn:aws:sts::111122223333:assumed-role/amp-ingest/<session> is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::111122223333:role/amp-ingest"), "{}", c.verdict);
        assert!(c.hint.as_deref().unwrap().starts_with("remove role_arn"));
        let ev: Vec<&str> = c.evidence.iter().map(|e| e.body.as_str()).collect();
        assert!(
            ev.iter().any(|b| b.contains(
                "Statement[0]: Allow Federated arn:aws:iam::111122223333:oidc-provider/"
            )),
            "{ev:?}"
        );
        let adot = judge_self_assumption(
            ROLE,
            "adot-col",
            "adot",
            &irsa_trust(""),
            ClusterCollector::Adot,
        )
        .unwrap();
        assert!(
            adot.hint
                .as_deref()
                .unwrap()
                .starts_with("remove assume_role from the sigv4auth extension")
        );
        // A role that trusts itself may be assumed from its own session.
        let trusting = irsa_trust(&format!(
            r#",{{"Effect":"Allow","Principal":{{"AWS":"{ROLE}"}},"Action":"sts:AssumeRole"}}"#
        ));
        assert!(
            judge_self_assumption(
                ROLE,
                "prometheus",
                "amp",
                &trusting,
                ClusterCollector::Prometheus
            )
            .is_none()
        );
    }

    fn rw(labels: &[(&str, &str)]) -> RemoteWrite {
        RemoteWrite {
            url: "u".into(),
            external_labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..RemoteWrite::default()
        }
    }

    #[test]
    fn replicas_need_both_ha_labels() {
        let d = "Deployment prometheus/prometheus-server";
        let c = judge_ha_labels(d, 2, &rw(&[]), ClusterCollector::Prometheus, "prod").unwrap();
        assert!(c.verdict.starts_with("2 replicas of Deployment prometheus/prometheus-server write the same series without the cluster and __replica__ external label(s)"), "{}", c.verdict);
        assert!(
            c.hint.as_deref().unwrap().starts_with(
                "set global.external_labels: {cluster: prod, __replica__: ${POD_NAME}"
            )
        );
        let c = judge_ha_labels(
            d,
            3,
            &rw(&[("cluster", "prod")]),
            ClusterCollector::Adot,
            "prod",
        )
        .unwrap();
        assert!(
            c.verdict.contains("without the __replica__ external"),
            "{}",
            c.verdict
        );
        assert!(c.hint.as_deref().unwrap().contains("${env:POD_NAME}"));
        let both = rw(&[("cluster", "prod"), ("__replica__", "${POD_NAME}")]);
        assert!(judge_ha_labels(d, 2, &both, ClusterCollector::Prometheus, "prod").is_none());
        assert!(judge_ha_labels(d, 1, &rw(&[]), ClusterCollector::Prometheus, "prod").is_none());
        assert!(
            judge_ha_labels("DaemonSet a/b", 3, &rw(&[]), ClusterCollector::Adot, "prod").is_none()
        );
        assert!(
            judge_ha_labels(
                "StatefulSet a/b",
                2,
                &rw(&[]),
                ClusterCollector::Adot,
                "prod"
            )
            .is_some()
        );
    }

    #[test]
    fn the_operators_labels_follow_its_rules() {
        let spec =
            serde_json::json!({ "externalLabels": { "cluster": "prod", "prometheus": "mine" } });
        let labels = operator_external_labels("monitoring", "kps", &spec);
        assert_eq!(
            labels,
            [
                ("cluster", "prod"),
                ("prometheus", "monitoring/kps"),
                ("prometheus_replica", "$(POD_NAME)"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
        );
        let off = serde_json::json!({ "replicaExternalLabelName": "", "prometheusExternalLabelName": "" });
        assert!(operator_external_labels("m", "k", &off).is_empty());
        let ha = serde_json::json!({ "replicaExternalLabelName": "__replica__" });
        assert!(
            operator_external_labels("m", "k", &ha)
                .contains(&("__replica__".to_string(), "$(POD_NAME)".to_string()))
        );
    }

    #[test]
    fn operator_replicas_with_their_replica_label_are_not_refused_without_it_they_are() {
        let s = "StatefulSet monitoring/prometheus-kps";
        let op = ClusterCollector::PrometheusOperator;
        let default = rw(&[
            ("prometheus", "monitoring/kps"),
            ("prometheus_replica", "$(POD_NAME)"),
        ]);
        assert!(judge_ha_labels(s, 2, &default, op, "prod").is_none());
        let off = rw(&[("prometheus", "monitoring/kps")]);
        let c = judge_ha_labels(s, 2, &off, op, "prod").unwrap();
        assert!(
            c.verdict.contains("without the cluster and __replica__"),
            "{}",
            c.verdict
        );
        assert!(
            c.hint
                .unwrap()
                .starts_with("set replicaExternalLabelName: __replica__")
        );
        // The chart's Prometheus does not expand $(POD_NAME): still refused.
        assert!(judge_ha_labels(s, 2, &default, ClusterCollector::Prometheus, "prod").is_some());
    }

    #[test]
    fn operator_config_is_rendered_from_the_resource_with_the_pods_region() {
        let res = serde_json::json!({
            "metadata": { "name": "kps", "namespace": "monitoring" },
            "spec": { "remoteWrite": [{ "url": "https://aps/ws", "sigv4": { "roleArn": "arn:r" } }] },
        });
        let env = vec![("AWS_REGION".to_string(), "eu-west-1".to_string())];
        let (text, source) = operator_config(&res, &env);
        let c = crate::collector::CollectorConfig::parse_prometheus(&text).unwrap();
        let rw = &c.remote_write[0];
        assert_eq!(rw.sigv4_region.as_deref(), Some("eu-west-1"));
        assert_eq!(rw.sigv4_role_arn.as_deref(), Some("arn:r"));
        assert!(
            rw.external_labels
                .contains(&("prometheus_replica".into(), "$(POD_NAME)".into()))
        );
        assert!(
            source.contains("takes AWS_REGION=eu-west-1 from the pod's environment"),
            "{source}"
        );
        assert!(
            source.contains("Secret monitoring/prometheus-kps"),
            "{source}"
        );
        let (text, _) = operator_config(&res, &[]);
        let c = crate::collector::CollectorConfig::parse_prometheus(&text).unwrap();
        assert_eq!(c.remote_write[0].sigv4_region.as_deref(), Some(""));
    }

    const RELAY: &str = "receivers:\n  prometheus:\n    config:\n      scrape_configs:\n      - job_name: pods\n        kubernetes_sd_configs:\n        - role: pod\n          selectors:\n          - role: pod\n            field: spec.nodeName=${env:K8S_NODE_NAME}\n      - job_name: kubelet\n        kubernetes_sd_configs:\n        - role: node\n        relabel_configs:\n        - action: keep\n          source_labels: [__meta_kubernetes_node_name]\n          regex: ${env:K8S_NODE_NAME}\n      - job_name: ksm\n        kubernetes_sd_configs:\n        - role: endpoints\n      - job_name: static\n        static_configs:\n        - targets: [a:1]\n";

    #[test]
    fn cluster_wide_jobs_are_those_without_a_node_filter() {
        assert_eq!(cluster_wide_jobs(RELAY), vec!["ksm".to_string()]);
        let no_selector = RELAY.replace(
            "field: spec.nodeName=${env:K8S_NODE_NAME}",
            "field: spec.nodeName=ip-1",
        );
        assert_eq!(
            cluster_wide_jobs(&no_selector),
            vec!["pods".to_string(), "ksm".to_string()]
        );
    }

    #[test]
    fn a_daemonset_scraping_cluster_wide_duplicates_per_node() {
        let jobs = vec!["ksm".to_string()];
        let d = "DaemonSet otel/agent";
        let c = judge_daemonset_duplicates(d, 3, &jobs, &rw(&[])).unwrap();
        assert_eq!(c.status, Status::Fail);
        assert!(c.verdict.contains("each of its 3 nodes"), "{}", c.verdict);
        assert!(
            c.verdict.contains("400 duplicate sample for timestamp"),
            "{}",
            c.verdict
        );
        assert!(
            c.hint
                .unwrap()
                .contains("spec.nodeName=${env:K8S_NODE_NAME}")
        );
        assert_eq!(
            judge_daemonset_duplicates(d, 1, &jobs, &rw(&[]))
                .unwrap()
                .status,
            Status::Warn
        );
        let per_node = rw(&[("node", "${env:K8S_NODE_NAME}")]);
        let c = judge_daemonset_duplicates(d, 3, &jobs, &per_node).unwrap();
        assert_eq!(c.status, Status::Warn);
        assert!(
            c.verdict.contains("a copy of each series per node"),
            "{}",
            c.verdict
        );
        assert!(judge_daemonset_duplicates(d, 3, &[], &rw(&[])).is_none());
        assert!(judge_daemonset_duplicates("Deployment otel/gw", 3, &jobs, &rw(&[])).is_none());
    }
}
