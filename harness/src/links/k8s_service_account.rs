//! `k8s.service_account`: which service account do the collector's pods actually run as
//! (read from the pods, not assumed from names), and does it carry the
//! `eks.amazonaws.com/role-arn` annotation IRSA needs? (F11) Also: the pods carry the role
//! the webhook injects (they were not started before the annotation, F26), and an
//! annotated service account in the namespace that no pod uses is named, since it makes
//! `kubectl get sa` look right while the one in use is not (F20).
//!
//! Pods without IRSA fall back to the node's instance role through IMDS. When the nodes
//! require IMDSv2 with hop limit 1, that fallback never answers a pod and the collector has
//! no credentials at all (F27: `NoCredentialProviders`). The catalog files that under
//! `aws.identity (collector side)`; here `aws.identity` is the harness's own identity,
//! the root every other link depends on, and it cannot depend on the cluster links without
//! a cycle. The collector's identity is this link's question ("which identity do the
//! collector's pods get?"), and this is where a missing IRSA is already found, so the
//! verdict lands here, saying it is the collector's AWS identity that is missing.
//!
//! EKS Pod Identity is the other way pods get a role: a pod identity association for the
//! service account (EKS ListPodIdentityAssociations / DescribePodIdentityAssociation), and
//! the container-credentials env the EKS webhook injects into pods created after it. An
//! account with an association is not "unannotated": its pods are judged on the
//! association (missing: F35; pods older than it, without the env: F38). With both IRSA
//! and an association the pods carry both envs and the AWS SDKs' default credential chain
//! takes web identity first, so IRSA is in effect: a warning (F39).

use k8s_openapi::api::core::v1::{Pod, ServiceAccount};
use kube::Api;
use kube::api::ListParams;

use super::{BoxFuture, Check, Link, RunContext};
use crate::cluster::pod_identity::{self, Association, PodCredentials};
use crate::cluster::{
    ROLE_ARN_ANNOTATION, Workload, api_failure, find_workload, node_metadata, role_annotation,
    subject,
};
use crate::scenario::{ClusterCollector, ClusterSpec, IdentityMechanism};

pub struct K8sServiceAccount;

fn is_role_arn(s: &str) -> bool {
    crate::arn::Arn::parse(s).is_some_and(|a| a.is_role())
}

/// The `AWS_ROLE_ARN` the pod identity webhook put into the pod's containers, if any.
fn injected_role(pod: &Pod) -> Option<String> {
    pod.spec.as_ref()?.containers.iter().find_map(|c| {
        c.env
            .as_ref()?
            .iter()
            .find(|e| e.name == "AWS_ROLE_ARN")
            .and_then(|e| e.value.clone())
    })
}

impl Link for K8sServiceAccount {
    fn check<'a>(&'a self, ctx: &'a RunContext) -> BoxFuture<'a, Check> {
        Box::pin(async move {
            let (Some(spec), Some(kube)) = (ctx.cluster.as_ref(), ctx.target.kube.as_ref()) else {
                return Check::fail(
                    "this scenario has no cluster",
                    "use a scenario with `shape: cluster`",
                );
            };
            let client = &kube.client;
            let ns = spec.namespace.as_str();
            let workload = match find_workload(client, spec).await {
                Ok(w) => w,
                Err(check) => return check,
            };
            let mut used = workload.pod_service_accounts();
            let from_pods = !used.is_empty();
            if !from_pods {
                used.push(workload.template_service_account.clone());
            }
            let sa_name = used[0].clone();
            let mut pods_text: Vec<String> = workload
                .pods
                .iter()
                .map(|p| {
                    format!(
                        "pod {} runs as service account {}",
                        p.metadata.name.as_deref().unwrap_or("?"),
                        p.spec
                            .as_ref()
                            .and_then(|s| s.service_account_name.as_deref())
                            .unwrap_or("default")
                    )
                })
                .collect();
            if !from_pods {
                pods_text.push(format!(
                    "no pods yet: the pod template names service account {sa_name}"
                ));
            }
            let collector = format!("{}\n{}", workload.description, pods_text.join("\n"));

            let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
            let all = match sas.list(&ListParams::default()).await {
                Ok(l) => l.items,
                Err(e) => {
                    return api_failure(
                        &format!("list service accounts in {ns}"),
                        &format!("list serviceaccounts in {ns}"),
                        &e,
                    )
                    .with("collector", collector);
                }
            };
            // Who runs as what, in the whole namespace: an annotated account no pod uses is
            // the F20 trap.
            let ns_pods: Vec<Pod> = Api::<Pod>::namespaced(client.clone(), ns)
                .list(&ListParams::default())
                .await
                .map(|l| l.items)
                .unwrap_or_else(|_| workload.pods.clone());
            let in_use: Vec<String> = ns_pods
                .iter()
                .map(|p| {
                    p.spec
                        .as_ref()
                        .and_then(|s| s.service_account_name.clone())
                        .unwrap_or_else(|| "default".into())
                })
                .collect();
            let unused_annotated: Vec<(String, String)> = all
                .iter()
                .filter_map(|sa| {
                    let name = sa.metadata.name.clone()?;
                    let role = role_annotation(sa)?;
                    (name != sa_name && !in_use.contains(&name)).then_some((name, role))
                })
                .collect();
            let unused_text = unused_annotated
                .iter()
                .map(|(n, r)| format!("{ns}/{n} (role {r})"))
                .collect::<Vec<_>>()
                .join(", ");

            let Some(sa) = all
                .iter()
                .find(|s| s.metadata.name.as_deref() == Some(&sa_name))
            else {
                return Check::fail(
                    format!("the collector runs as service account {ns}/{sa_name}, which does not exist"),
                    match spec.kind {
                        ClusterCollector::Prometheus | ClusterCollector::AmpScraper => "create it (serviceAccounts.server.create: true in the helm values) or name an existing one (serviceAccounts.server.name)",
                        ClusterCollector::Adot => "create it, or set spec.serviceAccount of the OpenTelemetryCollector to an existing, annotated one",
                        ClusterCollector::PrometheusOperator => "create it (kube-prometheus-stack: prometheus.serviceAccount.create), or set spec.serviceAccountName of the Prometheus resource to an existing, annotated one",
                        ClusterCollector::Otelcol => "create it (the chart: serviceAccount.create), or set the pod template's serviceAccountName to an existing, annotated one",
                    },
                )
                .with("collector", collector);
            };
            let sa_text = format!(
                "serviceaccount {ns}/{sa_name}\nannotations: {}",
                sa.metadata
                    .annotations
                    .as_ref()
                    .filter(|a| !a.is_empty())
                    .map(|a| a
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(", "))
                    .unwrap_or_else(|| "(none)".to_string())
            );
            // EKS Pod Identity: the namespace's associations, this account's among them.
            let cluster = ctx
                .facts()
                .cluster
                .name
                .clone()
                .unwrap_or_else(|| spec.name.clone());
            let listed = pod_identity::list_in_namespace(
                &ctx.target.eks,
                ctx.deadlines.request_named(),
                &cluster,
                ns,
            )
            .await;
            let own = listed.as_ref().ok().and_then(|l| {
                l.iter()
                    .find(|(_, s, _)| *s == sa_name)
                    .map(|(_, _, id)| id.clone())
            });
            let associations_text = match &listed {
                Ok(l) if l.is_empty() => format!("none in namespace {ns} of cluster {cluster}"),
                Ok(l) => l
                    .iter()
                    .map(|(n, s, id)| format!("{id}: {n}/{s}"))
                    .collect::<Vec<_>>()
                    .join("\n"),
                Err(e) => format!("could not list: {e}"),
            };
            let annotated = role_annotation(sa);
            let mut pod_identity_warning = None;
            if let Some(id) = own {
                let association = match pod_identity::describe(
                    &ctx.target.eks,
                    ctx.deadlines.request_named(),
                    &cluster,
                    &id,
                )
                .await
                {
                    Ok(a) => a,
                    Err(c) => {
                        return c
                            .with("service account", sa_text)
                            .with("collector", collector);
                    }
                };
                let irsa_in_pods = workload.pods.iter().any(|p| injected_role(p).is_some());
                match (&annotated, irsa_in_pods) {
                    (Some(irsa_role), true) => {
                        pod_identity_warning = Some(format!(
                            "{ns}/{sa_name} also has pod identity association {} for role {}, but its pods carry IRSA's web identity env too and the AWS SDKs' default credential chain tries web identity before container credentials, so the collector signs as {irsa_role}, not as the association's role",
                            association.id, association.role_arn
                        ));
                    }
                    _ => {
                        return judge_pod_identity(
                            ctx,
                            spec,
                            &workload,
                            &sa_name,
                            &used,
                            annotated.as_deref(),
                            association,
                        )
                        .await
                        .with("service account", sa_text)
                        .with("collector", collector);
                    }
                }
            }
            let pod_identity_meant = spec.pod_identity()
                || workload
                    .pods
                    .iter()
                    .any(|p| PodCredentials::of(p).uri.is_some())
                || listed.as_ref().is_ok_and(|l| !l.is_empty());
            let Some(role) = annotated else {
                if pod_identity_meant {
                    return missing_association(spec, &workload, &sa_name, &cluster, &listed)
                        .with("pod identity associations", associations_text)
                        .with("service account", sa_text)
                        .with("collector", collector);
                }
                let mut verdict = format!(
                    "service account {ns}/{sa_name}, which the collector's pods run as, has no {ROLE_ARN_ANNOTATION} annotation"
                );
                if !unused_annotated.is_empty() {
                    verdict.push_str(&format!(
                        "; {unused_text} carries one, but no pod runs as it"
                    ));
                }
                let hint = match spec.kind {
                    ClusterCollector::Prometheus | ClusterCollector::AmpScraper => format!(
                        "nest the annotation under serviceAccounts.server.annotations in the helm values (a key beside `annotations:` is ignored){}, then restart the server (kubectl rollout restart) so the pod identity webhook injects the role; until then it signs with the node's role (403) or has no credentials",
                        if unused_annotated.is_empty() {
                            String::new()
                        } else {
                            ", or set serviceAccounts.server.name to the annotated account"
                                .to_string()
                        }
                    ),
                    ClusterCollector::PrometheusOperator => format!(
                        "annotate it (kube-prometheus-stack: prometheus.serviceAccount.annotations.\"{ROLE_ARN_ANNOTATION}\"){}; the operator's StatefulSet then needs its pods recreated (kubectl -n {ns} rollout restart statefulset) so the pod identity webhook injects the role; until then it signs with the node's role (403) or has no credentials",
                        if unused_annotated.is_empty() {
                            String::new()
                        } else {
                            ", or set spec.serviceAccountName of the Prometheus resource (prometheus.prometheusSpec.serviceAccountName) to the annotated account".to_string()
                        }
                    ),
                    ClusterCollector::Adot | ClusterCollector::Otelcol => format!(
                        "kubectl annotate serviceaccount -n {ns} {sa_name} {ROLE_ARN_ANNOTATION}=arn:aws:iam::<account>:role/<role>{}, then restart the collector's pods; until then it signs with the node's role (403) or has no credentials",
                        if unused_annotated.is_empty() {
                            String::new()
                        } else {
                            ", or set spec.serviceAccount of the OpenTelemetryCollector to the annotated account".to_string()
                        }
                    ),
                };
                let fallback = node_role_fallback(ctx, &workload).await;
                if let NodeRole::Unreachable {
                    why,
                    nodes,
                    instances,
                } = &fallback
                {
                    return Check::fail(
                        format!(
                            "the collector has no AWS identity: its pods have no IRSA ({ns}/{sa_name} has no {ROLE_ARN_ANNOTATION} annotation, no AWS_ROLE_ARN in the pods) and the node role is unreachable from pods: {why}"
                        ),
                        format!(
                            "use IRSA: kubectl annotate serviceaccount -n {ns} {sa_name} {ROLE_ARN_ANNOTATION}=arn:aws:iam::<account>:role/<role>, then restart the collector's pods; or let pods reach the node role: raise the hop limit to 2 ({}; also in the node group's launch template, so new nodes keep it)",
                            instances
                                .iter()
                                .map(|i| format!("aws ec2 modify-instance-metadata-options --instance-id {i} --http-put-response-hop-limit 2 --http-tokens required"))
                                .collect::<Vec<_>>()
                                .join("; ")
                        ),
                    )
                    .with("nodes", nodes.clone())
                    .with(
                        "what the collector logs in this case",
                        "NoCredentialProviders: no valid providers in chain\n\
                         EC2RoleRequestError: no EC2 instance role found\n\
                         caused by: EC2MetadataError: failed to make EC2Metadata request: Put \"http://169.254.169.254/latest/api/token\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)",
                    )
                    .with("service account", sa_text)
                    .with("collector", collector);
                }
                let mut c = Check::fail(verdict, hint)
                    .with("service account", sa_text)
                    .with("collector", collector)
                    .with("pod identity associations", associations_text);
                if let NodeRole::Reachable(nodes) | NodeRole::Unknown(nodes) = fallback {
                    c = c.with("node role (what pods without IRSA use)", nodes);
                }
                if !unused_annotated.is_empty() {
                    c = c.with("annotated service accounts no pod uses", unused_text);
                }
                return c;
            };
            if !is_role_arn(&role) {
                return Check::fail(
                    format!("service account {ns}/{sa_name}'s {ROLE_ARN_ANNOTATION} is {role:?}, not a role ARN"),
                    "set it to the role's full ARN: arn:aws:iam::<12-digit account>:role/<name>",
                )
                .with("service account", sa_text)
                .with("collector", collector);
            }
            // The webhook mutates pods only at creation: pods started before the annotation
            // (or before a change of it) do not carry the role (F26).
            let stale: Vec<String> = workload
                .pods
                .iter()
                .filter(|p| injected_role(p).as_deref() != Some(role.as_str()))
                .map(|p| {
                    format!(
                        "pod {}: AWS_ROLE_ARN {}",
                        p.metadata.name.as_deref().unwrap_or("?"),
                        injected_role(p).unwrap_or_else(|| "not set".into())
                    )
                })
                .collect();
            if !stale.is_empty() {
                let stale_check = Check::fail(
                    format!(
                        "the collector's pods do not carry role {role} from {ns}/{sa_name}'s annotation: they were started before it was set"
                    ),
                    format!(
                        "restart them so the pod identity webhook injects the role: kubectl rollout restart -n {ns} {}",
                        workload
                            .controller
                            .as_ref()
                            .map(|(c, _, _)| c.split_whitespace().next().unwrap_or("deployment").to_lowercase()
                                + "/" + c.rsplit('/').next().unwrap_or_default())
                            .unwrap_or_else(|| "deployment/<name>".to_string())
                    ),
                )
                .with("pods", stale.join("\n"))
                .with("service account", sa_text);
                // Until restarted they use the node role, if their nodes' IMDS answers them.
                return match node_role_fallback(ctx, &workload).await {
                    NodeRole::Unreachable { why, nodes, .. } => stale_check.with(
                        "node role (what these pods use until restarted)",
                        format!("unreachable from pods: {why}\n{nodes}"),
                    ),
                    NodeRole::Reachable(nodes) | NodeRole::Unknown(nodes) if !nodes.is_empty() => {
                        stale_check.with("node role (what these pods use until restarted)", nodes)
                    }
                    _ => stale_check,
                };
            }
            {
                let mut f = ctx.facts();
                f.cluster.namespace = Some(ns.to_string());
                f.cluster.service_account = Some(sa_name.clone());
                f.cluster.role_arn = Some(role.clone());
                f.cluster.identity = Some(IdentityMechanism::Irsa);
                f.cluster.pod_identity = None;
            }
            let mut warnings = Vec::new();
            if used.len() > 1 {
                warnings.push(format!(
                    "the collector's pods run as several service accounts ({}); checking {sa_name}",
                    used.join(", ")
                ));
            }
            if let Some(meant) = spec.service_account.as_deref()
                && meant != sa_name
            {
                warnings.push(format!(
                    "the collector runs as {sa_name}, not the scenario's {meant}: the checks follow what the pods use"
                ));
            }
            if !unused_annotated.is_empty() {
                warnings.push(format!(
                    "{unused_text} carries {ROLE_ARN_ANNOTATION} but no pod runs as it"
                ));
            }
            if let Some(w) = &pod_identity_warning {
                warnings.push(w.clone());
            }
            let pass = format!(
                "the collector's pods run as {ns}/{sa_name} ({}), annotated with role {role}",
                subject(ns, &sa_name)
            );
            let c = if warnings.is_empty() {
                Check::pass(pass)
            } else {
                let hint = if pod_identity_warning.is_some() {
                    "to move to EKS Pod Identity, remove the eks.amazonaws.com/role-arn annotation and restart the pods (kubectl rollout restart); to stay on IRSA, delete the association (aws eks delete-pod-identity-association)"
                } else if unused_annotated.is_empty() {
                    "set the scenario's cluster.service_account to what the pods run as, or check why they run as another one"
                } else {
                    "an IRSA service account nobody uses misleads `kubectl get sa`: delete it, or make the collector use it"
                };
                Check::warn(format!("{pass}; but {}", warnings.join("; ")), hint)
            };
            c.with("service account", sa_text)
                .with("collector", collector)
                .with("pod identity associations", associations_text)
        })
    }
}

/// `kubectl rollout restart -n <ns> deployment/<name>` for the workload's controller.
fn restart_command(ns: &str, workload: &Workload) -> String {
    format!(
        "kubectl rollout restart -n {ns} {}",
        workload
            .controller
            .as_ref()
            .map(|(c, _, _)| c
                .split_whitespace()
                .next()
                .unwrap_or("deployment")
                .to_lowercase()
                + "/"
                + c.rsplit('/').next().unwrap_or_default())
            .unwrap_or_else(|| "deployment/<name>".to_string())
    )
}

/// F35: EKS Pod Identity is meant (the scenario says so, the pods carry its env, or the
/// namespace has associations for other accounts) but the account has none.
fn missing_association(
    spec: &ClusterSpec,
    workload: &Workload,
    sa_name: &str,
    cluster: &str,
    listed: &Result<Vec<(String, String, String)>, String>,
) -> Check {
    let ns = spec.namespace.as_str();
    let others: Vec<String> = listed
        .as_ref()
        .map(|l| l.iter().map(|(n, s, _)| format!("{n}/{s}")).collect())
        .unwrap_or_default();
    let mut verdict = format!(
        "service account {ns}/{sa_name}, which the collector's pods run as, has no EKS pod identity association (and no {ROLE_ARN_ANNOTATION} annotation): the collector has no role"
    );
    if !others.is_empty() {
        verdict.push_str(&format!(
            "; the associations in namespace {ns} are for {}",
            others.join(", ")
        ));
    }
    if let Err(e) = listed {
        verdict.push_str(&format!(" (the associations could not be read: {e})"));
    }
    let env: Vec<String> = workload
        .pods
        .iter()
        .map(|p| {
            format!(
                "pod {}: {}",
                p.metadata.name.as_deref().unwrap_or("?"),
                PodCredentials::of(p).line()
            )
        })
        .collect();
    Check::fail(
        verdict,
        format!(
            "associate the role: aws eks create-pod-identity-association --cluster-name {cluster} --namespace {ns} --service-account {sa_name} --role-arn arn:aws:iam::<account>:role/<role>, then {} so new pods get the credentials env; until then the collector signs with the node's role (403) or has no credentials",
            restart_command(ns, workload)
        ),
    )
    .with("pods", env.join("\n"))
}

/// The collector's account has a pod identity association and IRSA is not in effect:
/// do its pods carry the container-credentials env (they were created after it, F38)?
async fn judge_pod_identity(
    ctx: &RunContext,
    spec: &ClusterSpec,
    workload: &Workload,
    sa_name: &str,
    used: &[String],
    annotation: Option<&str>,
    association: Association,
) -> Check {
    let ns = spec.namespace.as_str();
    let valid_uri =
        |u: &str| u == pod_identity::CREDENTIALS_URI || u == "http://[fd00:ec2::23]/v1/credentials";
    let lines: Vec<String> = workload
        .pods
        .iter()
        .map(|p| {
            format!(
                "pod {} (created {}): {}",
                p.metadata.name.as_deref().unwrap_or("?"),
                pod_identity::pod_created(p)
                    .map(pod_identity::rfc3339)
                    .unwrap_or_else(|| "?".into()),
                PodCredentials::of(p).line()
            )
        })
        .collect();
    let stale: Vec<&k8s_openapi::api::core::v1::Pod> = workload
        .pods
        .iter()
        .filter(|p| {
            let c = PodCredentials::of(p);
            !c.complete() || !c.uri.as_deref().is_some_and(valid_uri)
        })
        .collect();
    let evidence = |c: Check| {
        c.with("pod identity association", association.line())
            .with("pods", lines.join("\n"))
    };
    if !stale.is_empty() {
        let older = stale.iter().any(|p| {
            matches!((pod_identity::pod_created(p), association.created_at), (Some(p), Some(a)) if p < a)
        });
        let names: Vec<&str> = stale
            .iter()
            .map(|p| p.metadata.name.as_deref().unwrap_or("?"))
            .collect();
        let verdict = if older {
            format!(
                "the collector's pods {} were created before pod identity association {} of {ns}/{sa_name} ({}) and carry no {} / {}: the EKS webhook injects them only when a pod is created",
                names.join(", "),
                association.id,
                association
                    .created_at
                    .map(pod_identity::rfc3339)
                    .unwrap_or_else(|| "?".into()),
                pod_identity::CREDENTIALS_URI_ENV,
                pod_identity::TOKEN_FILE_ENV
            )
        } else {
            format!(
                "the collector's pods {} carry no (or not the agent's) {} / {} although {ns}/{sa_name} has pod identity association {}",
                names.join(", "),
                pod_identity::CREDENTIALS_URI_ENV,
                pod_identity::TOKEN_FILE_ENV,
                association.id
            )
        };
        return evidence(Check::fail(
            verdict,
            format!(
                "restart them so the EKS webhook injects the credentials env: {}; until then they sign with the node's role (403) or have no credentials",
                restart_command(ns, workload)
            ),
        ));
    }
    {
        let mut f = ctx.facts();
        f.cluster.namespace = Some(ns.to_string());
        f.cluster.service_account = Some(sa_name.to_string());
        f.cluster.role_arn = Some(association.role_arn.clone());
        f.cluster.identity = Some(IdentityMechanism::PodIdentity);
        f.cluster.pod_identity = Some(association.clone());
    }
    let mut warnings = Vec::new();
    if used.len() > 1 {
        warnings.push(format!(
            "the collector's pods run as several service accounts ({}); checking {sa_name}",
            used.join(", ")
        ));
    }
    if let Some(meant) = spec.service_account.as_deref()
        && meant != sa_name
    {
        warnings.push(format!(
            "the collector runs as {sa_name}, not the scenario's {meant}: the checks follow what the pods use"
        ));
    }
    if let Some(role) = annotation {
        warnings.push(format!(
            "{ns}/{sa_name} also carries {ROLE_ARN_ANNOTATION}={role}, which these pods (started without IRSA's env) ignore; pods created from now on get both, and the AWS SDKs take web identity (IRSA) first"
        ));
    }
    if spec.kind == ClusterCollector::Prometheus && !spec.pod_identity() {
        warnings.push(
            "the scenario does not say `identity: pod-identity`, so eks.addon does not check the eks-pod-identity-agent add-on".to_string(),
        );
    }
    let target = association
        .target_role_arn
        .as_deref()
        .map(|t| format!(" (then target role {t})"))
        .unwrap_or_default();
    let pass = format!(
        "the collector's pods run as {ns}/{sa_name}, which has EKS pod identity association {} for role {}{target}; its pods carry the container-credentials env ({}={})",
        association.id,
        association.role_arn,
        pod_identity::CREDENTIALS_URI_ENV,
        pod_identity::CREDENTIALS_URI
    );
    let c = if warnings.is_empty() {
        Check::pass(pass)
    } else {
        Check::warn(
            format!("{pass}; but {}", warnings.join("; ")),
            "see the warning: the checks follow what the pods carry",
        )
    };
    evidence(c)
}

/// What the collector's pods without IRSA get from their nodes.
enum NodeRole {
    /// IMDS answers them: they sign as the node's role (evidence lines).
    Reachable(String),
    /// IMDS never answers them on every node they run on: why, evidence lines, and the
    /// instances to fix.
    Unreachable {
        why: String,
        nodes: String,
        instances: Vec<String>,
    },
    /// The nodes' settings could not be read (why), or every pod has IRSA (empty).
    Unknown(String),
}

/// Reads the IMDS settings of the nodes of the pods that carry no `AWS_ROLE_ARN`.
async fn node_role_fallback(ctx: &RunContext, workload: &Workload) -> NodeRole {
    let Some(kube) = ctx.target.kube.as_ref() else {
        return NodeRole::Unknown(String::new());
    };
    let pods: Vec<&Pod> = workload
        .pods
        .iter()
        .filter(|p| injected_role(p).is_none())
        .collect();
    if pods.is_empty() {
        return NodeRole::Unknown(String::new());
    }
    let nodes = match node_metadata(&kube.client, &ctx.target.ec2, &pods, ctx.deadlines.request)
        .await
    {
        Ok(n) => n,
        Err(why) => {
            return NodeRole::Unknown(format!("could not read the nodes' IMDS settings: {why}"));
        }
    };
    let lines = nodes
        .iter()
        .map(|n| n.line())
        .collect::<Vec<_>>()
        .join("\n");
    let blocked: Vec<String> = nodes
        .iter()
        .filter_map(|n| n.unreachable_from_pods())
        .collect();
    if blocked.len() == nodes.len() {
        NodeRole::Unreachable {
            why: blocked.join("; "),
            nodes: lines,
            instances: nodes.iter().map(|n| n.instance_id.clone()).collect(),
        }
    } else {
        NodeRole::Reachable(lines)
    }
}

#[cfg(test)]
mod tests {
    use super::is_role_arn;

    #[test]
    fn role_arns() {
        assert!(is_role_arn("arn:aws:iam::111122223333:role/x"));
        assert!(is_role_arn("arn:aws-cn:iam::111122223333:role/path/x"));
        assert!(!is_role_arn("arn:aws:iam::111122223333:user/x"));
        assert!(!is_role_arn("arn:aws:iam::1111:role/x"));
        assert!(!is_role_arn("my-role"));
    }
}
