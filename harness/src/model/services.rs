//! Every AWS service pipecheck calls, in one table: how the SDK's endpoint variable names
//! it, how it signs, and where the mock serves it. The target's accepted variables,
//! readiness's accounts, `pipecheck mock`'s exports and the in-cluster test runs all derive
//! their lists from here, so a service added later (EC2 came with `network.egress`) cannot
//! be missing from one of them.

use pipecheck_mocks::MockEndpoints as Endpoints;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    Sts,
    Amp,
    Grafana,
    Eks,
    Iam,
    Ec2,
}

/// In the order the mock's exports list them.
pub const SERVICES: &[Service] = &[
    Service::Amp,
    Service::Sts,
    Service::Grafana,
    Service::Eks,
    Service::Iam,
    Service::Ec2,
];

impl Service {
    /// `AWS_ENDPOINT_URL_<SERVICE>`, as the AWS SDKs read it.
    pub fn endpoint_var(self) -> &'static str {
        match self {
            Service::Sts => "AWS_ENDPOINT_URL_STS",
            Service::Amp => "AWS_ENDPOINT_URL_AMP",
            Service::Grafana => "AWS_ENDPOINT_URL_GRAFANA",
            Service::Eks => "AWS_ENDPOINT_URL_EKS",
            Service::Iam => "AWS_ENDPOINT_URL_IAM",
            Service::Ec2 => "AWS_ENDPOINT_URL_EC2",
        }
    }

    /// The field of `target.rs`'s clients that calls it (`permissions.rs` names calls so).
    pub fn sdk_client(self) -> &'static str {
        match self {
            Service::Sts => "sts",
            Service::Amp => "amp",
            Service::Grafana => "amg",
            Service::Eks => "eks",
            Service::Iam => "iam",
            Service::Ec2 => "ec2",
        }
    }

    /// The SigV4 signing name.
    pub fn signing_name(self) -> &'static str {
        match self {
            Service::Sts => "sts",
            Service::Amp => "aps",
            Service::Grafana => "grafana",
            Service::Eks => "eks",
            Service::Iam => "iam",
            Service::Ec2 => "ec2",
        }
    }

    /// Where a mock stack serves it: the Grafana control plane only with a Grafana
    /// workspace, EKS, IAM and EC2 only with a cluster.
    pub fn mock_endpoint(self, ep: &Endpoints) -> Option<String> {
        let with_cluster = |url: &String| ep.cluster_name.as_ref().map(|_| url.clone());
        match self {
            Service::Sts => Some(ep.sts.clone()),
            Service::Amp => Some(ep.amp.clone()),
            Service::Grafana => ep.grafana_workspace_id.as_ref().map(|_| ep.amg.clone()),
            Service::Eks => with_cluster(&ep.eks),
            Service::Iam => with_cluster(&ep.iam),
            Service::Ec2 => with_cluster(&ep.ec2),
        }
    }

    /// Every endpoint variable a mock stack has a value for.
    pub fn mock_endpoint_vars(ep: &Endpoints) -> Vec<(&'static str, String)> {
        SERVICES
            .iter()
            .filter_map(|s| s.mock_endpoint(ep).map(|url| (s.endpoint_var(), url)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_service_has_its_own_variable_and_signing_name() {
        let vars: std::collections::BTreeSet<_> =
            SERVICES.iter().map(|s| s.endpoint_var()).collect();
        let names: std::collections::BTreeSet<_> =
            SERVICES.iter().map(|s| s.signing_name()).collect();
        assert_eq!(vars.len(), SERVICES.len());
        assert_eq!(names.len(), SERVICES.len());
    }

    /// The README's lists of endpoint variables (readiness's accepted `env`, `pipecheck
    /// mock`'s exports for `--target aws`) name every service of the table.
    #[test]
    fn the_readme_lists_every_service() {
        let readme = include_str!("../../../README.md");
        let readiness = readme
            .lines()
            .find(|l| l.contains("`AWS_ENDPOINT_URL[_") && l.contains('|'))
            .expect("the README lists readiness's endpoint variables");
        for s in SERVICES {
            let short = s.endpoint_var().trim_start_matches("AWS_ENDPOINT_URL");
            assert!(
                readiness.contains(short),
                "README's readiness env lacks {short}"
            );
            assert!(
                readme.contains(&format!("`{}`", s.endpoint_var())),
                "README never names {}",
                s.endpoint_var()
            );
        }
    }

    /// Every action of the shipped policies is of a service in the table (its IAM prefix
    /// is the service's signing name).
    #[test]
    fn the_policies_name_only_services_of_the_table() {
        for (file, text) in [
            (
                "pipecheck-diagnose.json",
                include_str!("../../../policies/pipecheck-diagnose.json"),
            ),
            (
                "pipecheck-run.json",
                include_str!("../../../policies/pipecheck-run.json"),
            ),
            (
                "pipecheck-provision.json",
                include_str!("../../../policies/pipecheck-provision.json"),
            ),
        ] {
            let doc: serde_json::Value = serde_json::from_str(text).unwrap();
            for st in doc["Statement"].as_array().unwrap() {
                let actions = match &st["Action"] {
                    serde_json::Value::String(a) => vec![a.clone()],
                    v => v
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|a| a.as_str().unwrap().to_string())
                        .collect(),
                };
                for a in actions {
                    let prefix = a.split(':').next().unwrap();
                    assert!(
                        SERVICES.iter().any(|s| s.signing_name() == prefix),
                        "{file}: {a} is of no service in SERVICES"
                    );
                }
            }
        }
    }

    /// Every SDK operation's client (permissions.rs lists them all) is in the table.
    #[test]
    fn every_service_pipecheck_calls_is_in_the_table() {
        for op in crate::permissions::OPERATIONS {
            if let crate::permissions::Call::Sdk(client, method) = op.call {
                assert!(
                    SERVICES.iter().any(|s| s.sdk_client() == client),
                    "{client}.{method} is called but its service is not in SERVICES"
                );
            }
        }
    }
}
