//! What the links of the AMP managed collector's chain (`amp.scraper` …
//! `scraper.delivery`) establish for the ones after them (`Facts::scraper`), and the names
//! they share.

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

pub use crate::arn::role_without_path;
