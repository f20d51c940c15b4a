//! `eks.scraper_access`: does the cluster know the scraper's role? Through an EKS access
//! entry for the role (which AMP creates itself when the cluster's authentication mode
//! allows the API), or the `aws-auth` ConfigMap mapping the role's ARN without its path
//! (the AMP user guide's manual set-up). Establishes the Kubernetes user and groups the
//! scraper is, for `k8s.scraper_rbac`. (F41)

use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;

use super::scraper_context::{GUIDE_USER, role_without_path};
use super::{BoxFuture, Check, Link, RunContext};
use crate::cluster::{api_failure, call_failed, sdk_error};

pub struct EksScraperAccess;

/// Pages of ListAccessEntries read at most (100 entries a page).
const MAX_PAGES: usize = 10;

enum Entries {
    Listed(Vec<String>),
    /// The cluster's authentication mode is CONFIG_MAP: no access entries at all.
    ConfigMapOnly(String),
}

async fn list_entries(ctx: &RunContext, cluster: &str) -> Result<Entries, Check> {
    let mut all = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let call = ctx
            .target
            .eks
            .list_access_entries()
            .cluster_name(cluster)
            .set_next_token(token.clone())
            .send();
        match tokio::time::timeout(ctx.deadlines.request, call).await {
            Err(_) => {
                return Err(Check::fail(
                    format!(
                        "EKS ListAccessEntries did not answer within {}",
                        ctx.deadlines.request_named()
                    ),
                    "check network access to eks.<region>.amazonaws.com",
                ));
            }
            Ok(Err(e)) => {
                let (code, text) = sdk_error(&e);
                if code.as_deref() == Some("InvalidRequestException") {
                    return Ok(Entries::ConfigMapOnly(text));
                }
                return Err(call_failed(
                    &format!("list the access entries of cluster {cluster}"),
                    "eks:ListAccessEntries",
                    &e,
                ));
            }
            Ok(Ok(out)) => {
                all.extend(out.access_entries().iter().cloned());
                token = out.next_token().map(str::to_string);
            }
        }
        if token.is_none() {
            break;
        }
    }
    Ok(Entries::Listed(all))
}

/// `mapRoles` of `aws-auth`: `(rolearn, username, groups)` of each entry.
fn map_roles(cm: &ConfigMap) -> Result<Vec<(String, String, Vec<String>)>, String> {
    let Some(text) = cm.data.as_ref().and_then(|d| d.get("mapRoles")) else {
        return Ok(Vec::new());
    };
    let v: serde_json::Value = serde_saphyr::from_str(text).map_err(|e| {
        format!(
            "mapRoles is not YAML: {}",
            e.to_string().lines().next().unwrap_or_default()
        )
    })?;
    Ok(v.as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            let groups = r["groups"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|g| g.as_str().map(str::to_string))
                .collect();
            (
                r["rolearn"].as_str().unwrap_or_default().to_string(),
                r["username"].as_str().unwrap_or_default().to_string(),
                groups,
            )
        })
        .collect())
}

impl Link for EksScraperAccess {
    fn check<'a>(&'a self, ctx: &'a RunContext) -> BoxFuture<'a, Check> {
        Box::pin(async move {
            let (Some(spec), Some(kube)) = (ctx.cluster.as_ref(), ctx.target.kube.as_ref()) else {
                return Check::fail(
                    "this scenario has no cluster",
                    "use a scenario with `shape: cluster`",
                );
            };
            let cluster = spec.name.as_str();
            let Some(role) = ctx.facts().scraper.role_arn.clone() else {
                return Check::fail("amp.scraper found no scraper role", "see amp.scraper");
            };
            let bare = role_without_path(&role);
            let entries = match list_entries(ctx, cluster).await {
                Ok(e) => e,
                Err(check) => return check,
            };
            let mut evidence: Vec<(String, String)> = Vec::new();
            match &entries {
                Entries::Listed(list) => {
                    evidence.push((
                        "access entries".into(),
                        if list.is_empty() {
                            "none".into()
                        } else {
                            list.join("\n")
                        },
                    ));
                    if let Some(principal) = list
                        .iter()
                        .find(|p| **p == role || role_without_path(p) == bare)
                    {
                        return from_entry(ctx, cluster, principal, evidence).await;
                    }
                }
                Entries::ConfigMapOnly(text) => {
                    evidence.push(("eks:ListAccessEntries".into(), text.clone()));
                }
            }
            // No access entry: the aws-auth ConfigMap.
            let api: Api<ConfigMap> = Api::namespaced(kube.client.clone(), "kube-system");
            let cm =
                match tokio::time::timeout(ctx.deadlines.request, api.get_opt("aws-auth")).await {
                    Err(_) => {
                        return Check::fail(
                            "the Kubernetes API did not answer in time",
                            "check network access to the cluster's API endpoint",
                        );
                    }
                    Ok(Err(e)) => {
                        return api_failure(
                            "read configmap kube-system/aws-auth",
                            "get configmaps in kube-system",
                            &e,
                        );
                    }
                    Ok(Ok(cm)) => cm,
                };
            let mapped = match cm.as_ref().map(map_roles).transpose() {
                Err(why) => {
                    return with_all(
                        Check::fail(
                            format!("the aws-auth ConfigMap cannot be read: {why}"),
                            "fix the mapRoles YAML in kube-system/aws-auth",
                        ),
                        evidence,
                    );
                }
                Ok(m) => m,
            };
            evidence.push((
                "aws-auth mapRoles".into(),
                match &mapped {
                    None => "(no aws-auth ConfigMap)".into(),
                    Some(m) if m.is_empty() => "(none)".into(),
                    Some(m) => m
                        .iter()
                        .map(|(r, u, g)| format!("{r} -> user {u}, groups [{}]", g.join(", ")))
                        .collect::<Vec<_>>()
                        .join("\n"),
                },
            ));
            let mapped = mapped.unwrap_or_default();
            if let Some((_, user, groups)) = mapped.iter().find(|(r, _, _)| *r == bare) {
                {
                    let mut f = ctx.facts();
                    f.scraper.username = Some(user.clone());
                    f.scraper.groups = groups.clone();
                }
                return with_all(
                    Check::pass(format!(
                        "aws-auth maps the scraper's role to Kubernetes user {user}{}",
                        if groups.is_empty() {
                            String::new()
                        } else {
                            format!(", groups {}", groups.join(", "))
                        }
                    )),
                    evidence,
                );
            }
            if mapped.iter().any(|(r, _, _)| *r == role) {
                return with_all(
                    Check::fail(
                        format!(
                            "aws-auth maps the scraper's role with its path ({role}); EKS matches roles without it, so the scraper is not recognised"
                        ),
                        format!(
                            "map {bare} instead (AMP user guide: the role ARN's aws-service-role/scraper.aps.amazonaws.com/ path must be removed)"
                        ),
                    ),
                    evidence,
                );
            }
            with_all(
                Check::fail(
                    format!(
                        "the scraper's role has no EKS access entry on cluster {cluster} and no aws-auth mapping, so the cluster refuses it"
                    ),
                    format!(
                        "set the cluster's authentication mode to API or API_AND_CONFIG_MAP and recreate the scraper (AMP then creates the access entry), or map the role: eksctl create iamidentitymapping --cluster {cluster} --arn {bare} --username {GUIDE_USER}"
                    ),
                )
                .with("scraper role", role.clone()),
                evidence,
            )
        })
    }
}

fn with_all(mut c: Check, evidence: Vec<(String, String)>) -> Check {
    for (l, b) in evidence {
        c = c.with(l, b);
    }
    c
}

/// The access entry of the role: its user, groups and access policies.
async fn from_entry(
    ctx: &RunContext,
    cluster: &str,
    principal: &str,
    evidence: Vec<(String, String)>,
) -> Check {
    let call = ctx
        .target
        .eks
        .describe_access_entry()
        .cluster_name(cluster)
        .principal_arn(principal)
        .send();
    let entry = match tokio::time::timeout(ctx.deadlines.request, call).await {
        Err(_) => {
            return Check::fail(
                format!(
                    "EKS DescribeAccessEntry did not answer within {}",
                    ctx.deadlines.request_named()
                ),
                "check network access to eks.<region>.amazonaws.com",
            );
        }
        Ok(Err(e)) => {
            return call_failed(
                &format!("describe the access entry of {principal}"),
                "eks:DescribeAccessEntry",
                &e,
            );
        }
        Ok(Ok(out)) => out.access_entry().cloned(),
    };
    let Some(entry) = entry else {
        return Check::fail(
            format!("EKS answered DescribeAccessEntry for {principal} without an entry"),
            "describe it with the AWS CLI to compare",
        );
    };
    let call = ctx
        .target
        .eks
        .list_associated_access_policies()
        .cluster_name(cluster)
        .principal_arn(principal)
        .send();
    let policies: Vec<String> = match tokio::time::timeout(ctx.deadlines.request, call).await {
        Err(_) => {
            return Check::fail(
                format!(
                    "EKS ListAssociatedAccessPolicies did not answer within {}",
                    ctx.deadlines.request_named()
                ),
                "check network access to eks.<region>.amazonaws.com",
            );
        }
        Ok(Err(e)) => {
            return call_failed(
                &format!("list the access policies of {principal}"),
                "eks:ListAssociatedAccessPolicies",
                &e,
            );
        }
        Ok(Ok(out)) => out
            .associated_access_policies()
            .iter()
            .filter_map(|p| p.policy_arn().map(str::to_string))
            .collect(),
    };
    let user = entry.username().unwrap_or_default().to_string();
    let groups = entry.kubernetes_groups().to_vec();
    let text = format!(
        "{}\ntype {}, Kubernetes user {}, groups [{}]\naccess policies: {}",
        entry.access_entry_arn().unwrap_or(principal),
        entry.r#type().unwrap_or("?"),
        if user.is_empty() {
            "(none)"
        } else {
            user.as_str()
        },
        groups.join(", "),
        if policies.is_empty() {
            "none".to_string()
        } else {
            policies.join(", ")
        }
    );
    {
        let mut f = ctx.facts();
        f.scraper.username = Some(user.clone()).filter(|u| !u.is_empty());
        f.scraper.groups = groups;
        f.scraper.access_policies = policies;
    }
    with_all(
        Check::pass(format!(
            "the scraper's role has an EKS access entry on cluster {cluster} (Kubernetes user {})",
            if user.is_empty() {
                "(none)"
            } else {
                user.as_str()
            }
        ))
        .with("access entry", text),
        evidence,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_roles_are_read_with_users_and_groups() {
        let mut cm = ConfigMap {
            data: Some(
            [(
                "mapRoles".to_string(),
                "- rolearn: arn:aws:iam::1:role/nodes\n  username: system:node:{{EC2PrivateDNSName}}\n  groups: [system:bootstrappers, system:nodes]\n- rolearn: arn:aws:iam::1:role/AWSServiceRoleForAmazonPrometheusScraper_1\n  username: aps-collector-user\n".to_string(),
            )]
            .into_iter()
            .collect(),
            ),
            ..ConfigMap::default()
        };
        let roles = map_roles(&cm).unwrap();
        assert_eq!(roles.len(), 2);
        assert_eq!(roles[0].2, ["system:bootstrappers", "system:nodes"]);
        assert_eq!(roles[1].1, "aps-collector-user");
        cm.data = Some(
            [("mapRoles".to_string(), "- [".to_string())]
                .into_iter()
                .collect(),
        );
        assert!(map_roles(&cm).unwrap_err().contains("not YAML"));
        assert!(map_roles(&ConfigMap::default()).unwrap().is_empty());
    }
}
