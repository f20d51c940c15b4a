//! What `collector.config` judges of a collector in a cluster beyond its URL and region:
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

use super::diagnosis::reason_400;
use super::iam_role_trust::{decode_policy, role_name};
use super::k8s_service_account::role_annotation;
use super::{Check, RunContext};
use crate::amp_client::truncate;
use crate::cluster::{Workload, last_log_lines, pod_name};
use crate::collector::RemoteWrite;
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
        ClusterCollector::Adot => "extensions.sigv4auth.assume_role.arn",
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
    let account = role_arn.split(':').nth(4).unwrap_or("<account>");
    let refusal = format!(
        "User: arn:aws:sts::{account}:assumed-role/{name}/<session> is not authorized to perform: {ASSUME_ROLE} on resource: {role_arn}"
    );
    let remove = match kind {
        ClusterCollector::Prometheus | ClusterCollector::AmpScraper => {
            "remove role_arn from the remote_write entry's sigv4 block"
        }
        ClusterCollector::Adot => "remove assume_role from the sigv4auth extension",
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
    let missing: Vec<&str> = HA_LABELS
        .iter()
        .copied()
        .filter(|l| !rw.external_labels.iter().any(|(k, _)| k == l))
        .collect();
    if missing.is_empty() {
        return None;
    }
    let (key, value) = match kind {
        ClusterCollector::Prometheus | ClusterCollector::AmpScraper => (
            "global.external_labels",
            "${POD_NAME} (POD_NAME from the downward API's metadata.name; Prometheus expands it with --enable-feature=expand-external-labels)",
        ),
        ClusterCollector::Adot => (
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
            format!(
                "set {key}: {{cluster: {cluster}, __replica__: {value}}} so AMP keeps one replica's samples, or run one replica; this is the config's doing, not AMP's"
            ),
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
}
