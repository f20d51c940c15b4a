//! Every AWS call pipecheck can make, with the IAM actions it needs and the least mode
//! that makes it: the one table `policies/pipecheck-{diagnose,run,provision}.json` are
//! checked against (a unit test reads the sources for SDK calls and the policies for
//! actions), so a new call without its permission, or a permission no call needs, fails
//! the build's tests.

/// What an identity is allowed to do; each mode includes the ones before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Mode {
    /// Read-only: every check that reads (Describe/List/Get, and querying AMP).
    Diagnose,
    /// A `pipecheck run`: also writes the canary and a short-lived Grafana service account.
    Run,
    /// `run --provision` and `pipecheck sweep`: create, tag, list and delete.
    Provision,
}

impl Mode {
    pub const ALL: [Mode; 3] = [Mode::Diagnose, Mode::Run, Mode::Provision];

    /// The policy file granting this mode, from the repository's root.
    pub fn policy_file(self) -> &'static str {
        match self {
            Mode::Diagnose => "policies/pipecheck-diagnose.json",
            Mode::Run => "policies/pipecheck-run.json",
            Mode::Provision => "policies/pipecheck-provision.json",
        }
    }
}

/// How a call is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Call {
    /// An AWS SDK operation: the client's field name (`amp`, `amg`, `iam`, `eks`, `sts`, `ec2`)
    /// and the fluent method.
    Sdk(&'static str, &'static str),
    /// A SigV4-signed HTTP request to AMP's data plane: the path after the workspace.
    Http(&'static str),
}

pub struct Operation {
    pub call: Call,
    /// Empty: no identity permission (GetCallerIdentity; AssumeRoleWithWebIdentity is
    /// granted by the role's trust policy).
    pub actions: &'static [&'static str],
    pub mode: Mode,
}

const fn op(call: Call, actions: &'static [&'static str], mode: Mode) -> Operation {
    Operation {
        call,
        actions,
        mode,
    }
}

use Call::{Http, Sdk};
use Mode::{Diagnose, Provision, Run};

pub const OPERATIONS: &[Operation] = &[
    op(Sdk("sts", "get_caller_identity"), &[], Diagnose),
    op(Sdk("sts", "assume_role_with_web_identity"), &[], Run),
    op(
        Sdk("amp", "describe_workspace"),
        &["aps:DescribeWorkspace"],
        Diagnose,
    ),
    op(Http("api/v1/query"), &["aps:QueryMetrics"], Diagnose),
    op(Http("api/v1/query_range"), &["aps:QueryMetrics"], Diagnose),
    op(
        Http("api/v1/label/{label}/values"),
        &["aps:GetLabels"],
        Diagnose,
    ),
    op(Http("api/v1/remote_write"), &["aps:RemoteWrite"], Run),
    op(
        Sdk("amg", "describe_workspace"),
        &["grafana:DescribeWorkspace"],
        Diagnose,
    ),
    op(
        Sdk("amg", "list_permissions"),
        &["grafana:ListPermissions"],
        Diagnose,
    ),
    op(
        Sdk("amg", "create_workspace_service_account"),
        &["grafana:CreateWorkspaceServiceAccount"],
        Run,
    ),
    op(
        Sdk("amg", "create_workspace_service_account_token"),
        &["grafana:CreateWorkspaceServiceAccountToken"],
        Run,
    ),
    op(
        Sdk("amg", "delete_workspace_service_account"),
        &["grafana:DeleteWorkspaceServiceAccount"],
        Run,
    ),
    // `pipecheck watch` rotating its token: the previous one goes once the next exists.
    op(
        Sdk("amg", "delete_workspace_service_account_token"),
        &["grafana:DeleteWorkspaceServiceAccountToken"],
        Run,
    ),
    op(Sdk("eks", "list_clusters"), &["eks:ListClusters"], Diagnose),
    op(
        Sdk("eks", "describe_cluster"),
        &["eks:DescribeCluster"],
        Diagnose,
    ),
    op(Sdk("eks", "list_addons"), &["eks:ListAddons"], Diagnose),
    op(
        Sdk("eks", "describe_addon"),
        &["eks:DescribeAddon"],
        Diagnose,
    ),
    op(
        Sdk("eks", "describe_addon_versions"),
        &["eks:DescribeAddonVersions"],
        Diagnose,
    ),
    // `pipecheck discover` (and `run` naming no collector): the identities and scrapers.
    // EKS Pod Identity: the collector's service account's association and its role.
    op(
        Sdk("eks", "list_pod_identity_associations"),
        &["eks:ListPodIdentityAssociations"],
        Diagnose,
    ),
    op(
        Sdk("eks", "describe_pod_identity_association"),
        &["eks:DescribePodIdentityAssociation"],
        Diagnose,
    ),
    op(Sdk("amp", "list_scrapers"), &["aps:ListScrapers"], Diagnose),
    // The AMP managed collector's chain (amp.scraper, eks.scraper_access).
    op(
        Sdk("amp", "describe_scraper"),
        &["aps:DescribeScraper"],
        Diagnose,
    ),
    op(
        Sdk("eks", "list_access_entries"),
        &["eks:ListAccessEntries"],
        Diagnose,
    ),
    op(
        Sdk("eks", "describe_access_entry"),
        &["eks:DescribeAccessEntry"],
        Diagnose,
    ),
    op(
        Sdk("eks", "list_associated_access_policies"),
        &["eks:ListAssociatedAccessPolicies"],
        Diagnose,
    ),
    // network.egress and the nodes' IMDS settings (F27-F29); EC2's Describe calls take no
    // resource-level permissions.
    op(
        Sdk("ec2", "describe_instances"),
        &["ec2:DescribeInstances"],
        Diagnose,
    ),
    op(
        Sdk("ec2", "describe_route_tables"),
        &["ec2:DescribeRouteTables"],
        Diagnose,
    ),
    op(
        Sdk("ec2", "describe_vpc_endpoints"),
        &["ec2:DescribeVpcEndpoints"],
        Diagnose,
    ),
    op(Sdk("iam", "get_role"), &["iam:GetRole"], Diagnose),
    op(
        Sdk("iam", "get_role_policy"),
        &["iam:GetRolePolicy"],
        Diagnose,
    ),
    op(
        Sdk("iam", "list_role_policies"),
        &["iam:ListRolePolicies"],
        Diagnose,
    ),
    op(
        Sdk("iam", "list_attached_role_policies"),
        &["iam:ListAttachedRolePolicies"],
        Diagnose,
    ),
    op(Sdk("iam", "get_policy"), &["iam:GetPolicy"], Diagnose),
    op(
        Sdk("iam", "get_policy_version"),
        &["iam:GetPolicyVersion"],
        Diagnose,
    ),
    op(
        Sdk("iam", "list_open_id_connect_providers"),
        &["iam:ListOpenIDConnectProviders"],
        Diagnose,
    ),
    op(
        Sdk("iam", "get_open_id_connect_provider"),
        &["iam:GetOpenIDConnectProvider"],
        Diagnose,
    ),
    // CreateWorkspace with tags needs aps:TagResource too.
    op(
        Sdk("amp", "create_workspace"),
        &["aps:CreateWorkspace", "aps:TagResource"],
        Provision,
    ),
    op(
        Sdk("amp", "delete_workspace"),
        &["aps:DeleteWorkspace"],
        Provision,
    ),
    op(
        Sdk("amp", "list_workspaces"),
        &["aps:ListWorkspaces"],
        Provision,
    ),
    op(
        Sdk("amp", "list_tags_for_resource"),
        &["aps:ListTagsForResource"],
        Provision,
    ),
    // CreateRole with tags needs iam:TagRole too.
    op(
        Sdk("iam", "create_role"),
        &["iam:CreateRole", "iam:TagRole"],
        Provision,
    ),
    op(
        Sdk("iam", "put_role_policy"),
        &["iam:PutRolePolicy"],
        Provision,
    ),
    op(
        Sdk("iam", "delete_role_policy"),
        &["iam:DeleteRolePolicy"],
        Provision,
    ),
    op(Sdk("iam", "delete_role"), &["iam:DeleteRole"], Provision),
    op(Sdk("iam", "list_roles"), &["iam:ListRoles"], Provision),
    op(
        Sdk("iam", "list_role_tags"),
        &["iam:ListRoleTags"],
        Provision,
    ),
    // `sweep`: the service accounts of killed runs (deleted with the Run-mode call).
    op(
        Sdk("amg", "list_workspace_service_accounts"),
        &["grafana:ListWorkspaceServiceAccounts"],
        Provision,
    ),
];

/// The actions a mode's policy must grant: its operations' and every lesser mode's.
pub fn actions_for(mode: Mode) -> std::collections::BTreeSet<&'static str> {
    OPERATIONS
        .iter()
        .filter(|o| o.mode <= mode)
        .flat_map(|o| o.actions.iter().copied())
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::{Path, PathBuf};

    use super::*;

    /// Methods called on the client fields that are not AWS operations.
    const NOT_OPERATIONS: &[&str] = &["clone", "config", "faults"];
    const CLIENTS: &[&str] = &["amp", "amg", "iam", "eks", "sts", "ec2"];

    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
    }

    fn sources(dir: &Path, out: &mut Vec<(PathBuf, String)>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                sources(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") && !p.ends_with("permissions.rs") {
                out.push((p.clone(), std::fs::read_to_string(&p).unwrap()));
            }
        }
    }

    /// `<client>.<method>()` calls in the harness's sources, whitespace and line breaks
    /// between the parts removed (`ctx.target\n.amp\n.describe_workspace()`).
    fn sdk_calls() -> BTreeSet<(String, String)> {
        let mut files = Vec::new();
        sources(&root().join("harness/src"), &mut files);
        let re = regex::Regex::new(r"\b(amp|amg|iam|eks|sts|ec2)\.([a-z][a-z0-9_]*)\(\)").unwrap();
        let mut calls = BTreeSet::new();
        for (_, text) in files {
            let squeezed: String = text.split_whitespace().collect();
            for c in re.captures_iter(&squeezed) {
                if !NOT_OPERATIONS.contains(&&c[2]) {
                    calls.insert((c[1].to_string(), c[2].to_string()));
                }
            }
        }
        calls
    }

    fn policy_actions(mode: Mode) -> BTreeSet<String> {
        let path = root().join(mode.policy_file());
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        let mut out = BTreeSet::new();
        for s in doc["Statement"].as_array().unwrap() {
            assert_eq!(
                s["Effect"],
                "Allow",
                "{}: only Allow statements",
                path.display()
            );
            match &s["Action"] {
                serde_json::Value::String(a) => {
                    out.insert(a.clone());
                }
                serde_json::Value::Array(list) => {
                    out.extend(list.iter().map(|a| a.as_str().unwrap().to_string()))
                }
                other => panic!("{}: Action {other}", path.display()),
            }
        }
        out
    }

    #[test]
    fn every_sdk_call_in_the_code_is_in_the_table_and_back() {
        let found = sdk_calls();
        let table: BTreeSet<(String, String)> = OPERATIONS
            .iter()
            .filter_map(|o| match o.call {
                Sdk(c, m) => Some((c.to_string(), m.to_string())),
                Http(_) => None,
            })
            .collect();
        // A client's field name is how the scan tells services apart: a call through a
        // differently named variable would be missed, so every client use is by field.
        assert!(found.iter().all(|(c, _)| CLIENTS.contains(&c.as_str())));
        let missing: Vec<_> = found.difference(&table).collect();
        assert!(
            missing.is_empty(),
            "calls without a row in permissions::OPERATIONS (add the IAM action and mode): {missing:?}"
        );
        let unused: Vec<_> = table.difference(&found).collect();
        assert!(
            unused.is_empty(),
            "rows of permissions::OPERATIONS no code calls (remove them, and their actions from the policies): {unused:?}"
        );
    }

    #[test]
    fn every_amp_data_plane_path_is_in_the_table() {
        let client =
            std::fs::read_to_string(root().join("harness/src/clients/amp_client.rs")).unwrap();
        let re = regex::Regex::new(r"api/v1/[a-z_/{}]+").unwrap();
        let found: BTreeSet<&str> = re.find_iter(&client).map(|m| m.as_str()).collect();
        let table: BTreeSet<&str> = OPERATIONS
            .iter()
            .filter_map(|o| match o.call {
                Http(p) => Some(p),
                Sdk(..) => None,
            })
            .collect();
        assert_eq!(found, table);
    }

    #[test]
    fn each_policy_grants_exactly_its_modes_actions() {
        for mode in Mode::ALL {
            let want: BTreeSet<String> =
                actions_for(mode).into_iter().map(str::to_string).collect();
            let have = policy_actions(mode);
            let missing: Vec<_> = want.difference(&have).collect();
            let extra: Vec<_> = have.difference(&want).collect();
            assert!(
                missing.is_empty() && extra.is_empty(),
                "{}: missing {missing:?}, not needed by any call {extra:?}",
                mode.policy_file()
            );
        }
    }
}
