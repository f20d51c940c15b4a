//! `k8s.scraper_rbac`: may the scraper's Kubernetes user (or groups) discover and scrape
//! targets? The AMP user guide's ClusterRole (`aps-collector-role`: get/list/watch on
//! nodes, nodes/proxy, nodes/metrics, services, endpoints, pods, …; get on `/metrics`)
//! bound to the user (`aps-collector-user`). Without `list pods` the scraper discovers no
//! pod target, the canary's among them; the rest missing is a warning. An EKS access
//! policy on the role's access entry authorizes it instead of RBAC. (F42)

use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule};
use kube::Api;
use kube::api::ListParams;

use super::scraper_context::{GUIDE_ROLE, GUIDE_USER};
use super::{BoxFuture, Check, Link, RunContext};
use crate::cluster::api_failure;

pub struct K8sScraperRbac;

/// What the user guide's ClusterRole grants on the core group, verbs get/list/watch.
const GUIDE_RESOURCES: &[&str] = &[
    "nodes",
    "nodes/proxy",
    "nodes/metrics",
    "services",
    "endpoints",
    "pods",
];
const GUIDE_VERBS: &[&str] = &["get", "list", "watch"];

fn has(list: &[String], want: &str) -> bool {
    list.iter().any(|v| v == want || v == "*")
}

/// Whether `rules` allow `verb` on `resource` of the core group.
fn allows(rules: &[PolicyRule], resource: &str, verb: &str) -> bool {
    rules.iter().any(|r| {
        has(r.api_groups.as_deref().unwrap_or_default(), "")
            && has(r.resources.as_deref().unwrap_or_default(), resource)
            && has(&r.verbs, verb)
    })
}

fn allows_url(rules: &[PolicyRule], url: &str) -> bool {
    rules.iter().any(|r| {
        has(r.non_resource_urls.as_deref().unwrap_or_default(), url) && has(&r.verbs, "get")
    })
}

/// The user guide's `clusterrole-binding.yml`, as a hint.
fn guide_hint(user: &str) -> String {
    format!(
        "apply the AMP user guide's clusterrole-binding.yml: ClusterRole {GUIDE_ROLE} (get, list, watch on {}; get on /metrics) and a ClusterRoleBinding of it to User {user}",
        GUIDE_RESOURCES.join(", ")
    )
}

impl Link for K8sScraperRbac {
    fn check<'a>(&'a self, ctx: &'a RunContext) -> BoxFuture<'a, Check> {
        Box::pin(async move {
            let Some(kube) = ctx.target.kube.as_ref() else {
                return Check::fail(
                    "this scenario has no cluster",
                    "use a scenario with `shape: cluster`",
                );
            };
            let (user, groups, policies) = {
                let f = ctx.facts();
                (
                    f.scraper.username.clone(),
                    f.scraper.groups.clone(),
                    f.scraper.access_policies.clone(),
                )
            };
            if !policies.is_empty() {
                return Check::pass(format!(
                    "EKS authorizes the scraper through access {} {} on its access entry; no RBAC is needed",
                    if policies.len() == 1 {
                        "policy"
                    } else {
                        "policies"
                    },
                    policies.join(", ")
                ));
            }
            let who = format!(
                "Kubernetes user {}{}",
                user.as_deref().unwrap_or("(none)"),
                if groups.is_empty() {
                    String::new()
                } else {
                    format!(" (groups {})", groups.join(", "))
                }
            );
            let bindings: Api<ClusterRoleBinding> = Api::all(kube.client.clone());
            let list = match tokio::time::timeout(
                ctx.deadlines.request,
                bindings.list(&ListParams::default()),
            )
            .await
            {
                Err(_) => {
                    return Check::fail(
                        "the Kubernetes API did not answer in time",
                        "check network access to the cluster's API endpoint",
                    );
                }
                Ok(Err(e)) => {
                    return api_failure(
                        "list clusterrolebindings",
                        "list clusterrolebindings.rbac.authorization.k8s.io",
                        &e,
                    );
                }
                Ok(Ok(l)) => l.items,
            };
            let bound: Vec<&ClusterRoleBinding> = list
                .iter()
                .filter(|b| {
                    b.subjects.iter().flatten().any(|s| match s.kind.as_str() {
                        "User" => user.as_deref() == Some(s.name.as_str()),
                        "Group" => groups.contains(&s.name),
                        _ => false,
                    })
                })
                .collect();
            let hint_user = user.clone().unwrap_or_else(|| GUIDE_USER.to_string());
            if bound.is_empty() {
                return Check::fail(
                    format!("no ClusterRoleBinding grants the scraper's {who} anything, so it can discover and scrape no target"),
                    guide_hint(&hint_user),
                )
                .with(
                    "ClusterRoleBindings",
                    list.iter()
                        .filter_map(|b| b.metadata.name.clone())
                        .collect::<Vec<_>>()
                        .join(", "),
                );
            }
            let roles: Api<ClusterRole> = Api::all(kube.client.clone());
            let mut rules: Vec<PolicyRule> = Vec::new();
            let mut lines: Vec<String> = Vec::new();
            for b in &bound {
                let name = b.metadata.name.clone().unwrap_or_default();
                if b.role_ref.kind != "ClusterRole" {
                    continue;
                }
                let role = &b.role_ref.name;
                match tokio::time::timeout(ctx.deadlines.request, roles.get_opt(role)).await {
                    Err(_) => {
                        return Check::fail(
                            "the Kubernetes API did not answer in time",
                            "check network access to the cluster's API endpoint",
                        );
                    }
                    Ok(Err(e)) => {
                        return api_failure(
                            &format!("read clusterrole {role}"),
                            "get clusterroles.rbac.authorization.k8s.io",
                            &e,
                        );
                    }
                    Ok(Ok(None)) => {
                        lines.push(format!("{name} -> ClusterRole {role}: does not exist"));
                    }
                    Ok(Ok(Some(r))) => {
                        let own = r.rules.unwrap_or_default();
                        lines.push(format!("{name} -> ClusterRole {role}: {} rules", own.len()));
                        rules.extend(own);
                    }
                }
            }
            let evidence = lines.join("\n");
            if !allows(&rules, "pods", "list") {
                return Check::fail(
                    format!("RBAC does not let the scraper's {who} list pods, so it discovers no pod target (the canary's among them)"),
                    guide_hint(&hint_user),
                )
                .with("bindings", evidence);
            }
            let mut missing: Vec<String> = Vec::new();
            for res in GUIDE_RESOURCES {
                for verb in GUIDE_VERBS {
                    if !allows(&rules, res, verb) {
                        missing.push(format!("{verb} {res}"));
                    }
                }
            }
            if !allows_url(&rules, "/metrics") {
                missing.push("get /metrics".to_string());
            }
            if !missing.is_empty() {
                return Check::warn(
                    format!(
                        "RBAC lets the scraper's {who} list pods, but not: {}",
                        missing.join(", ")
                    ),
                    format!(
                        "jobs that need these find no targets; {}",
                        guide_hint(&hint_user)
                    ),
                )
                .with("bindings", evidence);
            }
            Check::pass(format!(
                "RBAC grants the scraper's {who} what the AMP user guide asks for"
            ))
            .with("bindings", evidence)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(groups: &[&str], resources: &[&str], verbs: &[&str]) -> PolicyRule {
        let v = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        PolicyRule {
            api_groups: Some(v(groups)),
            resources: Some(v(resources)),
            verbs: v(verbs),
            ..PolicyRule::default()
        }
    }

    #[test]
    fn wildcards_and_groups() {
        let rules = vec![rule(&[""], &["pods"], &["list"])];
        assert!(allows(&rules, "pods", "list"));
        assert!(!allows(&rules, "pods", "watch"));
        assert!(!allows(
            &[rule(&["apps"], &["pods"], &["*"])],
            "pods",
            "list"
        ));
        assert!(allows(
            &[rule(&["*"], &["*"], &["*"])],
            "nodes/proxy",
            "get"
        ));
    }
}
