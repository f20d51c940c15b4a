//! `eks.cluster`: does the EKS cluster exist in this region, is it ACTIVE, and what are
//! its Kubernetes version, API endpoint and OIDC issuer (the facts the cluster links build
//! on)? A cluster still CREATING or UPDATING is waited for, up to the workspace deadline.

use std::time::Duration;

use aws_sdk_eks::operation::describe_cluster::DescribeClusterError;
use aws_sdk_eks::types::ClusterStatus;

use super::{BoxFuture, Check, Link, RunContext};
use crate::cluster::{call_failed, sdk_error};
use crate::wait::{Probe, Waited, wait_for};

pub struct EksCluster;

impl Link for EksCluster {
    fn check<'a>(&'a self, ctx: &'a RunContext) -> BoxFuture<'a, Check> {
        Box::pin(async move {
            let Some(spec) = ctx.cluster.as_ref() else {
                return Check::fail(
                    "this scenario names no cluster",
                    "use a scenario with `shape: cluster` and a `cluster:` section",
                );
            };
            let name = spec.name.as_str();
            let region = ctx.target.region.as_str();
            let probe = || async {
                let call = ctx.target.eks.describe_cluster().name(name).send();
                match tokio::time::timeout(ctx.deadlines.request, call).await {
                    Err(_) => Probe::Pending(Err(None)),
                    Ok(Err(e)) => Probe::Abort(Err(Some(e))),
                    Ok(Ok(out)) => {
                        let status = out.cluster().and_then(|c| c.status().cloned());
                        match status {
                            Some(ClusterStatus::Creating | ClusterStatus::Updating) => {
                                Probe::Pending(Ok(out))
                            }
                            _ => Probe::Done(Ok(out)),
                        }
                    }
                }
            };
            let out = match wait_for(
                "the cluster to become ACTIVE",
                ctx.deadlines.workspace,
                Duration::from_millis(50),
                probe,
            )
            .await
            {
                Waited::Done { value, .. } | Waited::Aborted { value, .. } => value,
                Waited::TimedOut {
                    last: Some(Ok(out)),
                    after,
                    ..
                } => {
                    let status = out
                        .cluster()
                        .and_then(|c| c.status())
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_default();
                    return Check::fail(
                        format!(
                            "cluster {name} is still {status} after {:.1}s",
                            after.as_secs_f64()
                        ),
                        "wait for the cluster update to finish (aws eks describe-cluster), then run again",
                    );
                }
                Waited::TimedOut { .. } => {
                    return Check::fail(
                        format!(
                            "EKS DescribeCluster did not answer within {}",
                            ctx.deadlines.request_named()
                        ),
                        "check network access to eks.<region>.amazonaws.com",
                    );
                }
            };
            let out = match out {
                Ok(o) => o,
                Err(None) => {
                    return Check::fail(
                        format!(
                            "EKS DescribeCluster did not answer within {}",
                            ctx.deadlines.request_named()
                        ),
                        "check network access to eks.<region>.amazonaws.com",
                    );
                }
                Err(Some(e)) => {
                    let not_found = matches!(
                        e.as_service_error(),
                        Some(DescribeClusterError::ResourceNotFoundException(_))
                    );
                    if not_found {
                        let (_, text) = sdk_error(&e);
                        let listed = list_clusters(ctx).await;
                        return Check::fail(
                            format!("cluster {name} not found in {region}"),
                            format!("check the cluster's name and region (--cluster, --region); clusters in {region}: {listed}"),
                        )
                        .with("eks:DescribeCluster", text)
                        .with("eks:ListClusters", listed);
                    }
                    return call_failed(
                        &format!("describe cluster {name}"),
                        "eks:DescribeCluster",
                        &e,
                    );
                }
            };
            let Some(c) = out.cluster() else {
                return Check::fail(
                    format!("EKS answered DescribeCluster for {name} without a cluster"),
                    "describe it with the AWS CLI to compare",
                );
            };
            let status = c.status().map(|s| s.as_str()).unwrap_or("UNKNOWN");
            let version = c.version().unwrap_or_default().to_string();
            let endpoint = c.endpoint().unwrap_or_default().to_string();
            let issuer = c
                .identity()
                .and_then(|i| i.oidc())
                .and_then(|o| o.issuer())
                .map(str::to_string);
            let evidence = format!(
                "{}\nstatus {status}, Kubernetes {version}, platform {}\nendpoint {endpoint}\nOIDC issuer {}",
                c.arn().unwrap_or(name),
                c.platform_version().unwrap_or("?"),
                issuer.as_deref().unwrap_or("(none)")
            );
            if c.status() != Some(&ClusterStatus::Active) {
                return Check::fail(
                    format!("cluster {name} is {status}, not ACTIVE"),
                    match c.status() {
                        Some(ClusterStatus::Failed) => {
                            "the cluster failed: see its health in the EKS console"
                        }
                        Some(ClusterStatus::Deleting) => "the cluster is being deleted",
                        _ => "the cluster must be ACTIVE",
                    },
                )
                .with("cluster", evidence);
            }
            let Some(issuer) = issuer.filter(|i| !i.is_empty()) else {
                return Check::fail(
                    format!("cluster {name} has no OIDC issuer, so IRSA cannot work"),
                    "EKS clusters from 1.13 on have one: describe the cluster with the AWS CLI to compare",
                )
                .with("cluster", evidence);
            };
            {
                let mut f = ctx.facts();
                let cf = &mut f.cluster;
                cf.name = Some(name.to_string());
                cf.arn = c.arn().map(str::to_string);
                cf.version = Some(version.clone());
                cf.endpoint = Some(endpoint);
                cf.oidc_issuer = Some(issuer);
                if let Some(vpc) = c.resources_vpc_config() {
                    cf.vpc_id = vpc.vpc_id().map(str::to_string);
                    cf.subnet_ids = vpc.subnet_ids().to_vec();
                    cf.security_group_ids = vpc
                        .cluster_security_group_id()
                        .into_iter()
                        .chain(vpc.security_group_ids().iter().map(String::as_str))
                        .map(str::to_string)
                        .collect();
                    cf.endpoint_private_access = Some(vpc.endpoint_private_access());
                }
            }
            Check::pass(format!(
                "cluster {name} is ACTIVE in {region}, Kubernetes {version}"
            ))
            .with("cluster", evidence)
        })
    }
}

/// The clusters of the region, for a "not found" hint (best effort).
async fn list_clusters(ctx: &RunContext) -> String {
    let call = ctx.target.eks.list_clusters().send();
    match tokio::time::timeout(ctx.deadlines.request, call).await {
        Ok(Ok(out)) if out.clusters().is_empty() => "none".to_string(),
        Ok(Ok(out)) => out.clusters().join(", "),
        Ok(Err(e)) => format!("(could not list: {})", sdk_error(&e).1),
        Err(_) => "(could not list: no answer)".to_string(),
    }
}
