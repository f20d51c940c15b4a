//! What the links of the AMP managed collector's chain (`amp.scraper` …
//! `scraper.delivery`) establish for the ones after them (`Facts::scraper`), and the names
//! they share.

/// The scrape job of the canary: the scraper's configuration must have it, and the
/// series it writes for that job are read back from the workspace.
pub const CANARY_JOB: &str = "pipecheck-canary";

/// The Kubernetes user and ClusterRole names the AMP user guide sets up for a scraper
/// (clusterrole-binding.yml), for hints.
pub const GUIDE_USER: &str = "aps-collector-user";
pub const GUIDE_ROLE: &str = "aps-collector-role";

#[derive(Clone, Debug, Default)]
pub struct ScraperFacts {
    /// `amp.scraper`: the scraper's id, ARN, role (with its path) and its configuration
    /// (the decoded `configurationBlob`).
    pub id: Option<String>,
    pub arn: Option<String>,
    pub role_arn: Option<String>,
    pub configuration: Option<String>,
    /// `eks.scraper_access`: the Kubernetes user and groups the role is in the cluster,
    /// and the EKS access policies associated with its access entry.
    pub username: Option<String>,
    pub groups: Vec<String>,
    pub access_policies: Vec<String>,
}

/// `arn:aws:iam::<account>:role/<path>/<name>` without its path: how `aws-auth` must name
/// a role (AMP user guide: the scraper's role in the ConfigMap).
pub fn role_without_path(role_arn: &str) -> String {
    match role_arn.split_once(":role/") {
        Some((head, rest)) => format!("{head}:role/{}", rest.rsplit('/').next().unwrap_or(rest)),
        None => role_arn.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_path_is_dropped() {
        assert_eq!(
            super::role_without_path(
                "arn:aws:iam::111122223333:role/aws-service-role/scraper.aps.amazonaws.com/AWSServiceRoleForAmazonPrometheusScraper_1234abcd-56ef-7"
            ),
            "arn:aws:iam::111122223333:role/AWSServiceRoleForAmazonPrometheusScraper_1234abcd-56ef-7"
        );
        assert_eq!(
            super::role_without_path("arn:aws:iam::1:role/r"),
            "arn:aws:iam::1:role/r"
        );
    }
}
