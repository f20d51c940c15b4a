//! `eks.addon`: is the `adot` add-on installed on the cluster, ACTIVE, without health
//! issues, and is its version one that supports the cluster's Kubernetes version
//! (DescribeAddonVersions for that version)? (F18) And, when the collector uses EKS Pod
//! Identity (the scenario says so, or its namespace has associations), is the
//! `eks-pod-identity-agent` add-on ACTIVE with its DaemonSet's pods all ready (F36)? A
//! Prometheus collector has only the second question.

use aws_sdk_eks::operation::describe_addon::DescribeAddonError;
use aws_sdk_eks::types::AddonStatus;

use k8s_openapi::api::apps::v1::DaemonSet;
use kube::Api;

use super::{BoxFuture, Check, Link, RunContext, Status};
use crate::cluster::pod_identity::{self, AGENT};
use crate::cluster::{api_failure, call_failed, sdk_error};
use crate::scenario::ClusterCollector;

pub struct EksAddon;

const ADDON: &str = "adot";

impl Link for EksAddon {
    fn check<'a>(&'a self, ctx: &'a RunContext) -> BoxFuture<'a, Check> {
        Box::pin(async move {
            let cluster = ctx.facts().cluster.name.clone().unwrap_or_default();
            let adot = ctx
                .cluster
                .as_ref()
                .is_none_or(|s| s.kind == ClusterCollector::Adot);
            let mut checked = Vec::new();
            if adot {
                let c = check_adot(ctx).await;
                if c.status == Status::Fail {
                    return c;
                }
                checked.push(c);
            }
            if let Some(why) = ctx.pod_identity_in_use(&cluster).await {
                let c = check_agent(ctx, &cluster, &why).await;
                if c.status == Status::Fail {
                    return c;
                }
                checked.push(c);
            }
            match checked.len() {
                0 => Check::pass("no EKS add-on to check for this collector"),
                1 => checked.remove(0),
                _ => {
                    let verdict = checked
                        .iter()
                        .map(|c| c.verdict.clone())
                        .collect::<Vec<_>>()
                        .join("; ");
                    let mut c = Check::pass(verdict);
                    for other in checked {
                        c.evidence.extend(other.evidence);
                    }
                    c
                }
            }
        })
    }
}

/// The `adot` add-on: installed, ACTIVE, healthy, and a version supporting the cluster's
/// Kubernetes version.
async fn check_adot(ctx: &RunContext) -> Check {
    let (cluster, version) = {
        let f = ctx.facts();
        (
            f.cluster.name.clone().unwrap_or_default(),
            f.cluster.version.clone().unwrap_or_default(),
        )
    };
    let t = ctx.deadlines.request;
    let addon = match describe_addon(ctx, &cluster, ADDON).await {
        Err(no_answer) => return no_answer,
        Ok(Err(e)) => {
            if matches!(
                e.as_service_error(),
                Some(DescribeAddonError::ResourceNotFoundException(_))
            ) {
                let installed = match tokio::time::timeout(
                    t,
                    ctx.target.eks.list_addons().cluster_name(&cluster).send(),
                )
                .await
                {
                    Ok(Ok(l)) if l.addons().is_empty() => "none".to_string(),
                    Ok(Ok(l)) => l.addons().join(", "),
                    Ok(Err(e)) => format!("(could not list: {})", sdk_error(&e).1),
                    Err(_) => "(could not list: no answer)".to_string(),
                };
                return Check::fail(
                    format!("the {ADDON} add-on is not installed on cluster {cluster}"),
                    format!(
                        "install it after cert-manager: aws eks create-addon --cluster-name {cluster} --addon-name {ADDON} (without it there is no operator, and the OpenTelemetryCollector is never reconciled)"
                    ),
                )
                .with("eks:DescribeAddon", sdk_error(&e).1)
                .with("eks:ListAddons", installed);
            }
            return call_failed(
                &format!("describe the {ADDON} add-on of cluster {cluster}"),
                "eks:DescribeAddon",
                &e,
            );
        }
        Ok(Ok(out)) => out,
    };
    let Some(a) = addon.addon() else {
        return Check::fail(
            "EKS answered DescribeAddon without an add-on",
            "describe it with the AWS CLI to compare",
        );
    };
    let installed = a.addon_version().unwrap_or("?").to_string();
    let status = a
        .status()
        .map(|s| s.as_str())
        .unwrap_or("UNKNOWN")
        .to_string();
    let issues: Vec<String> = a
        .health()
        .map(|h| h.issues())
        .unwrap_or_default()
        .iter()
        .map(|i| {
            format!(
                "{}: {} ({})",
                i.code().map(|c| c.as_str()).unwrap_or("?"),
                i.message().unwrap_or_default(),
                i.resource_ids().join(", ")
            )
        })
        .collect();
    let evidence = format!(
        "{} {installed} status {status}\nhealth issues: {}",
        a.addon_arn().unwrap_or(ADDON),
        if issues.is_empty() {
            "none".to_string()
        } else {
            issues.join("; ")
        }
    );
    if a.status() != Some(&AddonStatus::Active) || !issues.is_empty() {
        let first = issues.first().cloned().unwrap_or_default();
        let verdict = if a.status() == Some(&AddonStatus::Active) {
            format!("the {ADDON} add-on {installed} is ACTIVE but reports health issues: {first}")
        } else if first.is_empty() {
            format!("the {ADDON} add-on {installed} is {status}, not ACTIVE")
        } else {
            format!("the {ADDON} add-on {installed} is {status}, not ACTIVE: {first}")
        };
        return Check::fail(
            verdict,
            match a.status() {
                Some(AddonStatus::CreateFailed | AddonStatus::UpdateFailed) => "the add-on's installation failed: fix what the health issue names (often cert-manager missing, or a conflicting operator), then delete and create the add-on again",
                Some(AddonStatus::Degraded) => "the add-on is degraded: see the health issue; check the operator's pods in opentelemetry-operator-system",
                Some(AddonStatus::Creating | AddonStatus::Updating) => "the add-on is still being installed or updated: run again when it is ACTIVE",
                _ => "see the add-on's health issues in the evidence",
            },
        )
        .with("eks:DescribeAddon", evidence);
    }
    // Which versions support this cluster's Kubernetes version?
    let call = ctx
        .target
        .eks
        .describe_addon_versions()
        .addon_name(ADDON)
        .kubernetes_version(&version)
        .send();
    let supported: Vec<String> = match tokio::time::timeout(t, call).await {
        Err(_) => {
            return Check::fail(
                format!(
                    "EKS DescribeAddonVersions did not answer within {}",
                    ctx.deadlines.request_named()
                ),
                "check network access to eks.<region>.amazonaws.com",
            );
        }
        Ok(Err(e)) => {
            return call_failed(
                &format!("list the {ADDON} versions for Kubernetes {version}"),
                "eks:DescribeAddonVersions",
                &e,
            )
            .with("eks:DescribeAddon", evidence);
        }
        Ok(Ok(out)) => out
            .addons()
            .iter()
            .filter(|i| i.addon_name() == Some(ADDON))
            .flat_map(|i| i.addon_versions())
            .filter_map(|v| v.addon_version().map(str::to_string))
            .collect(),
    };
    let compat = format!(
        "{ADDON} versions supporting Kubernetes {version}: {}",
        if supported.is_empty() {
            "none".to_string()
        } else {
            supported.join(", ")
        }
    );
    if !supported.contains(&installed) {
        let verdict = if supported.is_empty() {
            format!(
                "no {ADDON} add-on version supports Kubernetes {version}; cluster {cluster} runs {installed}"
            )
        } else {
            format!(
                "the {ADDON} add-on {installed} does not support Kubernetes {version} of cluster {cluster}"
            )
        };
        let hint = match supported.first() {
            Some(newest) => format!(
                "update the add-on: aws eks update-addon --cluster-name {cluster} --addon-name {ADDON} --addon-version {newest} (from v0.102.0 on the collector CRD is opentelemetry.io/v1beta1 with a structured spec.config)"
            ),
            None => "this Kubernetes version is newer than every add-on version: wait for an add-on release or install the operator yourself".to_string(),
        };
        return Check::fail(verdict, hint)
            .with("eks:DescribeAddon", evidence)
            .with("eks:DescribeAddonVersions", compat);
    }
    Check::pass(format!(
        "the {ADDON} add-on {installed} is ACTIVE, healthy, and supports Kubernetes {version}"
    ))
    .with("eks:DescribeAddon", evidence)
    .with("eks:DescribeAddonVersions", compat)
}

/// EKS DescribeAddon for `name` within the request deadline: EKS's answer, or the failed
/// check when it gave none (the add-on link and the agent's check ask it alike).
async fn describe_addon(
    ctx: &RunContext,
    cluster: &str,
    name: &str,
) -> Result<
    Result<
        aws_sdk_eks::operation::describe_addon::DescribeAddonOutput,
        aws_sdk_eks::error::SdkError<DescribeAddonError>,
    >,
    Check,
> {
    let call = ctx
        .target
        .eks
        .describe_addon()
        .cluster_name(cluster)
        .addon_name(name)
        .send();
    tokio::time::timeout(ctx.deadlines.request, call)
        .await
        .map_err(|_| {
            Check::fail(
                format!(
                    "EKS DescribeAddon did not answer within {}",
                    ctx.deadlines.request_named()
                ),
                "check network access to eks.<region>.amazonaws.com",
            )
        })
}

/// The `eks-pod-identity-agent` add-on ACTIVE and healthy, and its DaemonSet
/// (`kube-system/eks-pod-identity-agent`) with every scheduled pod ready: without the agent
/// on a node, pods there get no answer from 169.254.170.23 and no credentials.
async fn check_agent(ctx: &RunContext, cluster: &str, why: &str) -> Check {
    let addon = match describe_addon(ctx, cluster, AGENT).await {
        Err(no_answer) => return no_answer,
        Ok(Err(e)) => {
            if matches!(
                e.as_service_error(),
                Some(DescribeAddonError::ResourceNotFoundException(_))
            ) {
                return Check::fail(
                    format!(
                        "the {AGENT} add-on is not installed on cluster {cluster}, and {why}: no node runs the agent, so the collector's pods get no credentials from {}",
                        pod_identity::CREDENTIALS_URI
                    ),
                    format!(
                        "install it: aws eks create-addon --cluster-name {cluster} --addon-name {AGENT} (EKS Auto Mode clusters have the agent built in)"
                    ),
                )
                .with("eks:DescribeAddon", sdk_error(&e).1);
            }
            return call_failed(
                &format!("describe the {AGENT} add-on of cluster {cluster}"),
                "eks:DescribeAddon",
                &e,
            );
        }
        Ok(Ok(out)) => out,
    };
    let Some(a) = addon.addon() else {
        return Check::fail(
            "EKS answered DescribeAddon without an add-on",
            "describe it with the AWS CLI to compare",
        );
    };
    let version = a.addon_version().unwrap_or("?").to_string();
    let status = a.status().map(|s| s.as_str()).unwrap_or("UNKNOWN");
    let issues: Vec<String> = a
        .health()
        .map(|h| h.issues())
        .unwrap_or_default()
        .iter()
        .map(|i| {
            format!(
                "{}: {}",
                i.code().map(|c| c.as_str()).unwrap_or("?"),
                i.message().unwrap_or_default()
            )
        })
        .collect();
    let evidence = format!(
        "{} {version} status {status}\nhealth issues: {}",
        a.addon_arn().unwrap_or(AGENT),
        if issues.is_empty() {
            "none".to_string()
        } else {
            issues.join("; ")
        }
    );
    if a.status() != Some(&AddonStatus::Active) || !issues.is_empty() {
        return Check::fail(
            format!(
                "the {AGENT} add-on {version} is {status}{}",
                issues
                    .first()
                    .map(|i| format!(" with health issue {i}"))
                    .unwrap_or_else(|| ", not ACTIVE".to_string())
            ),
            "see the add-on's health issues; the agent's pods are in kube-system (kubectl -n kube-system describe daemonset eks-pod-identity-agent)",
        )
        .with("eks:DescribeAddon", evidence);
    }
    let Some(kube) = ctx.target.kube.as_ref() else {
        return Check::fail("no Kubernetes API", "use a scenario with `shape: cluster`")
            .with("eks:DescribeAddon", evidence);
    };
    let api: Api<DaemonSet> = Api::namespaced(kube.client.clone(), pod_identity::AGENT_NAMESPACE);
    let ds = match tokio::time::timeout(ctx.deadlines.request, api.get_opt(AGENT)).await {
        Err(_) => {
            return Check::fail(
                format!(
                    "the Kubernetes API did not answer within {}",
                    ctx.deadlines.request_named()
                ),
                "check access to the cluster's API endpoint",
            );
        }
        Ok(Err(e)) => {
            return api_failure(
                &format!("read DaemonSet kube-system/{AGENT}"),
                "get daemonsets in kube-system",
                &e,
            )
            .with("eks:DescribeAddon", evidence);
        }
        Ok(Ok(None)) => {
            return Check::fail(
                format!(
                    "the {AGENT} add-on is ACTIVE but DaemonSet kube-system/{AGENT} does not exist: no node runs the agent"
                ),
                format!(
                    "reinstall the add-on: aws eks update-addon --cluster-name {cluster} --addon-name {AGENT} --resolve-conflicts OVERWRITE"
                ),
            )
            .with("eks:DescribeAddon", evidence);
        }
        Ok(Ok(Some(ds))) => ds,
    };
    let st = ds.status.unwrap_or_default();
    let (desired, ready) = (st.desired_number_scheduled, st.number_ready);
    let ds_text = format!(
        "DaemonSet kube-system/{AGENT}: desired {desired}, current {}, ready {ready}, available {}, unavailable {}",
        st.current_number_scheduled,
        st.number_available.unwrap_or(0),
        st.number_unavailable.unwrap_or(0)
    );
    if desired == 0 || ready < desired {
        return Check::fail(
            format!(
                "the {AGENT} DaemonSet has {ready} of {desired} pods ready: collector pods on a node without a ready agent get no credentials from {}",
                pod_identity::CREDENTIALS_URI
            ),
            "see why the agent's pods are not ready: kubectl -n kube-system describe daemonset eks-pod-identity-agent, and their logs; the agent does not start on nodes with IPv6 disabled (it also listens on [fd00:ec2::23]: disable that in the add-on's configuration) and needs a route to the EKS Auth API (an eks-auth VPC endpoint in private subnets)",
        )
        .with("eks:DescribeAddon", evidence)
        .with("daemonset", ds_text);
    }
    Check::pass(format!(
        "the {AGENT} add-on {version} is ACTIVE and its DaemonSet has {ready}/{desired} pods ready ({why})"
    ))
    .with("eks:DescribeAddon", evidence)
    .with("daemonset", ds_text)
}
