//! `amp.scraper`: is there an AMP managed collector (scraper) for this cluster, named as
//! the scenario says (alias or id), ACTIVE, writing into the run's workspace, able to
//! reach the cluster (its endpoint has private access; the scraper's subnets and security
//! groups are the cluster's, else a warning)? A CREATING scraper is waited for, up to the
//! workspace deadline (AMP takes minutes, up to ~20, to make one). (F40, F44, F49)

use std::time::Duration;

use aws_sdk_amp::types::{ScraperStatusCode, ScraperSummary};

use super::{BoxFuture, Check, Link, RunContext};
use crate::cluster::call_failed;
use crate::wait::{Probe, Waited, wait_for};

pub struct AmpScraper;

/// Pages of ListScrapers read at most (100 scrapers a page).
const MAX_PAGES: usize = 10;

/// One scraper as evidence: id, alias, status, source and destination.
fn line(s: &ScraperSummary) -> String {
    let status = s.status().map(|x| x.status_code().as_str()).unwrap_or("?");
    let source = s
        .source()
        .and_then(|x| x.as_eks_configuration().ok())
        .map(|e| e.cluster_arn().to_string())
        .unwrap_or_else(|| "(not an EKS cluster)".into());
    let dest = s
        .destination()
        .and_then(|d| d.as_amp_configuration().ok())
        .map(|a| a.workspace_arn().to_string())
        .unwrap_or_else(|| "(not an AMP workspace)".into());
    format!(
        "{} (alias {}): {status}, source {source}, destination {dest}",
        s.scraper_id(),
        s.alias().unwrap_or("none")
    )
}

/// How the scraper's network interfaces sit apart from the cluster: its subnets that are
/// not the cluster's, and its security groups when none is the cluster's (unknown cluster
/// groups: not judged).
fn apart_from_cluster(
    scraper_subnets: &[String],
    scraper_groups: &[String],
    cluster_subnets: &[String],
    cluster_groups: &[String],
) -> Vec<String> {
    let outside: Vec<&str> = scraper_subnets
        .iter()
        .filter(|n| !cluster_subnets.contains(n))
        .map(String::as_str)
        .collect();
    let mut apart = Vec::new();
    if !outside.is_empty() {
        apart.push(format!(
            "its subnets {} are not the cluster's",
            outside.join(", ")
        ));
    }
    if !cluster_groups.is_empty() && !scraper_groups.iter().any(|g| cluster_groups.contains(g)) {
        apart.push(format!(
            "its security groups ({}) include none of the cluster's",
            if scraper_groups.is_empty() {
                "none".to_string()
            } else {
                scraper_groups.join(", ")
            }
        ));
    }
    apart
}

impl Link for AmpScraper {
    fn check<'a>(&'a self, ctx: &'a RunContext) -> BoxFuture<'a, Check> {
        Box::pin(async move {
            let Some(spec) = ctx.cluster.as_ref() else {
                return Check::fail(
                    "this scenario names no scraper",
                    "use a scenario with `cluster.kind: amp-scraper`",
                );
            };
            let wanted = spec.collector.as_str();
            let (cluster_arn, subnets, cluster_groups, private_access, workspace_arn) = {
                let f = ctx.facts();
                (
                    f.cluster.arn.clone().unwrap_or_default(),
                    f.cluster.subnet_ids.clone(),
                    f.cluster.security_group_ids.clone(),
                    f.cluster.endpoint_private_access,
                    f.workspace_arn.clone().unwrap_or_default(),
                )
            };
            // The scrapers whose source is this cluster (ListScrapers' sourceArn filter).
            let mut found: Vec<ScraperSummary> = Vec::new();
            let mut token: Option<String> = None;
            for _ in 0..MAX_PAGES {
                let call = ctx
                    .target
                    .amp
                    .list_scrapers()
                    .filters("sourceArn", vec![cluster_arn.clone()])
                    .set_next_token(token.clone())
                    .send();
                match tokio::time::timeout(ctx.deadlines.request, call).await {
                    Err(_) => {
                        return Check::fail(
                            format!(
                                "AMP ListScrapers did not answer within {}",
                                ctx.deadlines.request_named()
                            ),
                            "check network access to aps.<region>.amazonaws.com",
                        );
                    }
                    Ok(Err(e)) => {
                        return call_failed(
                            &format!("list the scrapers of {cluster_arn}"),
                            "aps:ListScrapers",
                            &e,
                        );
                    }
                    Ok(Ok(out)) => {
                        found.extend(out.scrapers().iter().cloned());
                        token = out.next_token().map(str::to_string);
                    }
                }
                if token.is_none() {
                    break;
                }
            }
            let listed = if found.is_empty() {
                "none".to_string()
            } else {
                found.iter().map(line).collect::<Vec<_>>().join("\n")
            };
            let Some(id) = found
                .iter()
                .find(|s| s.scraper_id() == wanted || s.alias() == Some(wanted))
                .map(|s| s.scraper_id().to_string())
            else {
                return Check::fail(
                    format!("no AMP scraper {wanted} scrapes cluster {}", spec.name),
                    "create one (aws amp create-scraper --source eksConfiguration={clusterArn=…,subnetIds=[…]} …, or the EKS console's Observability tab), or name yours in cluster.collector (its alias or id)",
                )
                .with("scrapers of this cluster", listed);
            };

            // DescribeScraper, waiting while it is being created or updated.
            let probe = || async {
                let call = ctx.target.amp.describe_scraper().scraper_id(&id).send();
                match tokio::time::timeout(ctx.deadlines.request, call).await {
                    Err(_) => Probe::Pending(Err(None)),
                    Ok(Err(e)) => Probe::Abort(Err(Some(e))),
                    Ok(Ok(out)) => {
                        let code = out
                            .scraper()
                            .and_then(|s| s.status())
                            .map(|s| s.status_code().clone());
                        match code {
                            Some(ScraperStatusCode::Creating | ScraperStatusCode::Updating) => {
                                Probe::Pending(Ok(out))
                            }
                            _ => Probe::Done(Ok(out)),
                        }
                    }
                }
            };
            let waited = wait_for(
                "the scraper to become ACTIVE",
                ctx.deadlines.workspace,
                Duration::from_millis(100),
                probe,
            )
            .await;
            let out = match waited {
                Waited::Done { value, .. } | Waited::Aborted { value, .. } => value,
                Waited::TimedOut { last, .. } => last.unwrap_or(Err(None)),
            };
            let out = match out {
                Ok(o) => o,
                Err(None) => {
                    return Check::fail(
                        format!(
                            "AMP DescribeScraper did not answer within {}",
                            ctx.deadlines.request_named()
                        ),
                        "check network access to aps.<region>.amazonaws.com",
                    );
                }
                Err(Some(e)) => {
                    return call_failed(
                        &format!("describe scraper {id}"),
                        "aps:DescribeScraper",
                        &e,
                    );
                }
            };
            let Some(s) = out.scraper() else {
                return Check::fail(
                    format!("AMP answered DescribeScraper for {id} without a scraper"),
                    "describe it with the AWS CLI to compare",
                );
            };
            let status = s.status().map(|x| x.status_code().clone());
            let status_text = status.as_ref().map(|c| c.as_str()).unwrap_or("UNKNOWN");
            let eks = s.source().and_then(|x| x.as_eks_configuration().ok());
            let source = eks
                .map(|e| e.cluster_arn())
                .unwrap_or("(not an EKS cluster)");
            let scraper_subnets = eks.map(|e| e.subnet_ids().to_vec()).unwrap_or_default();
            let groups = eks
                .map(|e| e.security_group_ids().to_vec())
                .unwrap_or_default();
            let dest = s
                .destination()
                .and_then(|d| d.as_amp_configuration().ok())
                .map(|a| a.workspace_arn().to_string())
                .unwrap_or_default();
            let evidence = format!(
                "{} (alias {})\nstatus {status_text}{}\nrole {}\nsource {source}\nsubnets {}\nsecurity groups {}\ndestination {}",
                s.arn(),
                s.alias().unwrap_or("none"),
                s.status_reason()
                    .map(|r| format!(", reason: {r}"))
                    .unwrap_or_default(),
                s.role_arn(),
                scraper_subnets.join(", "),
                if groups.is_empty() {
                    "(none)".to_string()
                } else {
                    groups.join(", ")
                },
                if dest.is_empty() {
                    "(none)"
                } else {
                    dest.as_str()
                },
            );
            match status {
                Some(ScraperStatusCode::Active) => {}
                Some(ScraperStatusCode::CreationFailed) => {
                    return Check::fail(
                        format!(
                            "scraper {wanted} is CREATION_FAILED: {}",
                            s.status_reason().unwrap_or("AMP gives no reason")
                        ),
                        "AMP could not set the scraper up in the cluster's VPC: the subnets (at least two, in two availability zones, each with a free IP address), the security groups and the cluster must exist; delete the scraper and create it again",
                    )
                    .with("scraper", evidence);
                }
                Some(ScraperStatusCode::Creating | ScraperStatusCode::Updating) => {
                    return Check::fail(
                        format!(
                            "scraper {wanted} is still {status_text} after {}",
                            ctx.deadlines.workspace_named()
                        ),
                        "AMP takes up to about 20 minutes to create a scraper; run again later",
                    )
                    .with("scraper", evidence);
                }
                _ => {
                    return Check::fail(
                        format!("scraper {wanted} is {status_text}, not ACTIVE"),
                        "a scraper being deleted or whose update or deletion failed does not scrape; create a new one",
                    )
                    .with("scraper", evidence);
                }
            }
            if source != cluster_arn {
                return Check::fail(
                    format!("scraper {wanted} scrapes {source}, not cluster {cluster_arn}"),
                    "a scraper's source cannot be changed: create one for this cluster",
                )
                .with("scraper", evidence);
            }
            if dest != workspace_arn {
                return Check::fail(
                    format!(
                        "scraper {wanted} writes to workspace {}, not to the run's workspace {}",
                        if dest.is_empty() { "(none)" } else { dest.as_str() },
                        workspace_arn
                    ),
                    "point it at this workspace (aws amp update-scraper --scraper-id … --destination ampConfiguration={workspaceArn=…}), or run pipecheck against the workspace it writes to (--workspace)",
                )
                .with("scraper", evidence);
            }
            let blob = s
                .scrape_configuration()
                .and_then(|c| c.as_configuration_blob().ok())
                .map(|b| String::from_utf8_lossy(b.as_ref()).into_owned());
            {
                let mut f = ctx.facts();
                f.scraper.id = Some(s.scraper_id().to_string());
                f.scraper.arn = Some(s.arn().to_string());
                f.scraper.role_arn = Some(s.role_arn().to_string());
                f.scraper.configuration = blob;
            }
            // The scraper reaches the API server (for service discovery) and the pods
            // through its network interfaces in the cluster's subnets.
            if private_access == Some(false) {
                return Check::fail(
                    format!(
                        "cluster {} has no private endpoint access: scraper {wanted} reaches the API server from inside the VPC, so it discovers no targets and writes nothing",
                        spec.name
                    ),
                    format!(
                        "turn private access on (aws eks update-cluster-config --name {} --resources-vpc-config endpointPrivateAccess=true; public access may stay on), as the AMP user guide requires of a cluster with a managed collector",
                        spec.name
                    ),
                )
                .with("scraper", evidence)
                .with(
                    "cluster endpoint",
                    "endpointPrivateAccess false (public access only)",
                );
            }
            let apart = apart_from_cluster(&scraper_subnets, &groups, &subnets, &cluster_groups);
            if !apart.is_empty() {
                return Check::warn(
                    format!("scraper {wanted} is ACTIVE, but {}", apart.join(", and ")),
                    "the scraper's subnets and security groups should be the cluster's (AMP user guide: Create a scraper), so its network interfaces reach the API server and the pods",
                )
                .with("scraper", evidence)
                .with("cluster subnets", subnets.join(", "))
                .with("cluster security groups", cluster_groups.join(", "));
            }
            Check::pass(format!(
                "scraper {wanted} is ACTIVE, scrapes cluster {} and writes to the run's workspace",
                spec.name
            ))
            .with("scraper", evidence)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn subnets_and_security_groups_apart_from_the_cluster() {
        let cluster_subnets = v(&["subnet-a", "subnet-b"]);
        let cluster_groups = v(&["sg-cluster", "sg-extra"]);
        let judge = |subnets: &[&str], groups: &[&str], cg: &[String]| {
            apart_from_cluster(&v(subnets), &v(groups), &cluster_subnets, cg)
        };
        assert!(judge(&["subnet-a", "subnet-b"], &["sg-extra"], &cluster_groups).is_empty());
        assert_eq!(
            judge(&["subnet-a", "subnet-z"], &["sg-cluster"], &cluster_groups),
            ["its subnets subnet-z are not the cluster's"]
        );
        assert_eq!(
            judge(&["subnet-a"], &["sg-other"], &cluster_groups),
            ["its security groups (sg-other) include none of the cluster's"]
        );
        assert_eq!(
            judge(&["subnet-a"], &[], &cluster_groups),
            ["its security groups (none) include none of the cluster's"]
        );
        // The cluster's groups unknown: the scraper's are not judged.
        assert!(judge(&["subnet-a"], &["sg-other"], &[]).is_empty());
    }
}
