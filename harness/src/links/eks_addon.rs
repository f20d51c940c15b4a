//! `eks.addon`: is the `adot` add-on installed on the cluster, ACTIVE, without health
//! issues, and is its version one that supports the cluster's Kubernetes version
//! (DescribeAddonVersions for that version)? (F18)

use aws_sdk_eks::operation::describe_addon::DescribeAddonError;
use aws_sdk_eks::types::AddonStatus;

use super::{BoxFuture, Check, Link, RunContext};
use crate::cluster::{call_failed, sdk_error};

pub struct EksAddon;

const ADDON: &str = "adot";

impl Link for EksAddon {
    fn name(&self) -> &'static str {
        "eks.addon"
    }

    fn depends_on(&self) -> &'static [&'static str] {
        &["k8s.api"]
    }

    fn check<'a>(&'a self, ctx: &'a RunContext) -> BoxFuture<'a, Check> {
        Box::pin(async move {
            let (cluster, version) = {
                let f = ctx.facts();
                (
                    f.cluster.name.clone().unwrap_or_default(),
                    f.cluster.version.clone().unwrap_or_default(),
                )
            };
            let t = ctx.deadlines.request;
            let call = ctx
                .target
                .eks
                .describe_addon()
                .cluster_name(&cluster)
                .addon_name(ADDON)
                .send();
            let addon = match tokio::time::timeout(t, call).await {
                Err(_) => {
                    return Check::fail(
                        format!(
                            "EKS DescribeAddon did not answer within {}",
                            ctx.deadlines.request_named()
                        ),
                        "check network access to eks.<region>.amazonaws.com",
                    );
                }
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
                    format!(
                        "the {ADDON} add-on {installed} is ACTIVE but reports health issues: {first}"
                    )
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
        })
    }
}
