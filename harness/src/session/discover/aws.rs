//! The AWS side of discovery, read-only and bounded: the cluster's ARN (EKS
//! DescribeCluster), its EKS Pod Identity associations (ListPodIdentityAssociations, pages
//! of 100, at most [`MAX_PAGES`]; DescribePodIdentityAssociation for the role of an
//! association a collector uses) and the AMP managed scrapers whose source is the cluster
//! (ListScrapers: the summary carries source, destination, status and role, so no
//! DescribeScraper). An endpoint that does not know an operation, refuses it or does not
//! answer gives a [`NotListed`] line, never a failed discovery.

use std::time::Duration;

use aws_sdk_amp::types::{Destination, Source};

use super::amp_url::workspace_from_arn;
use super::found::{Found, Identity, Kind, NotListed};
use crate::cluster::sdk_error;

/// Pages per list call.
pub const MAX_PAGES: usize = 20;

/// One Pod Identity association, as ListPodIdentityAssociations gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Association {
    pub namespace: String,
    pub service_account: String,
    pub association_id: String,
}

/// `what` failed with the SDK's error: a line saying why, naming an operation the
/// endpoint does not know as such.
fn failed<E, R>(
    what: &str,
    action: &str,
    e: &aws_smithy_runtime_api::client::result::SdkError<E, R>,
) -> NotListed
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let (code, text) = sdk_error(e);
    let why = match code.as_deref() {
        Some("UnknownOperationException") => {
            format!("the endpoint does not know {action} (UnknownOperationException): {text}")
        }
        Some("AccessDeniedException" | "AccessDenied") => {
            format!(
                "{action} denied: allow it for this identity (policies/pipecheck-diagnose.json): {text}"
            )
        }
        _ => text,
    };
    NotListed {
        what: what.to_string(),
        why,
    }
}

async fn timed<T>(deadline: Duration, f: impl std::future::Future<Output = T>) -> Option<T> {
    tokio::time::timeout(deadline, f).await.ok()
}

fn timeout(what: &str, deadline: Duration) -> NotListed {
    NotListed {
        what: what.to_string(),
        why: format!(
            "no answer within the request deadline of {}",
            humantime::format_duration(deadline)
        ),
    }
}

/// The cluster's ARN.
pub async fn cluster_arn(
    eks: &aws_sdk_eks::Client,
    cluster: &str,
    deadline: Duration,
) -> Result<String, NotListed> {
    let what = format!("EKS cluster {cluster}");
    match timed(deadline, eks.describe_cluster().name(cluster).send()).await {
        None => Err(timeout(&what, deadline)),
        Some(Err(e)) => Err(failed(&what, "eks:DescribeCluster", &e)),
        Some(Ok(out)) => out
            .cluster()
            .and_then(|c| c.arn())
            .map(str::to_string)
            .ok_or_else(|| NotListed {
                what,
                why: "DescribeCluster answered without the cluster's ARN".to_string(),
            }),
    }
}

const ASSOCIATIONS: &str = "EKS Pod Identity associations";

/// Every Pod Identity association of the cluster.
pub async fn associations(
    eks: &aws_sdk_eks::Client,
    cluster: &str,
    deadline: Duration,
) -> Result<Vec<Association>, NotListed> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let call = eks
            .list_pod_identity_associations()
            .cluster_name(cluster)
            .max_results(100)
            .set_next_token(token.clone())
            .send();
        let page = match timed(deadline, call).await {
            None => return Err(timeout(ASSOCIATIONS, deadline)),
            Some(Err(e)) => {
                return Err(failed(ASSOCIATIONS, "eks:ListPodIdentityAssociations", &e));
            }
            Some(Ok(p)) => p,
        };
        out.extend(page.associations().iter().filter_map(|a| {
            Some(Association {
                namespace: a.namespace()?.to_string(),
                service_account: a.service_account()?.to_string(),
                association_id: a.association_id()?.to_string(),
            })
        }));
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    Ok(out)
}

/// The role of one association (None, with the reason logged into `not_listed`, when it
/// cannot be described).
pub async fn association_role(
    eks: &aws_sdk_eks::Client,
    cluster: &str,
    association_id: &str,
    deadline: Duration,
) -> Result<Option<String>, NotListed> {
    let what = format!("EKS Pod Identity association {association_id}");
    let call = eks
        .describe_pod_identity_association()
        .cluster_name(cluster)
        .association_id(association_id)
        .send();
    match timed(deadline, call).await {
        None => Err(timeout(&what, deadline)),
        Some(Err(e)) => Err(failed(&what, "eks:DescribePodIdentityAssociation", &e)),
        Some(Ok(out)) => Ok(out
            .association()
            .and_then(|a| a.role_arn())
            .map(str::to_string)),
    }
}

const SCRAPERS: &str = "AMP managed scrapers";

/// The AMP scrapers whose source is the cluster `cluster_arn`, as collectors.
pub async fn scrapers(
    amp: &aws_sdk_amp::Client,
    cluster_arn: &str,
    deadline: Duration,
) -> Result<Vec<Found>, NotListed> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let call = amp
            .list_scrapers()
            .max_results(100)
            .set_next_token(token.clone())
            .send();
        let page = match timed(deadline, call).await {
            None => return Err(timeout(SCRAPERS, deadline)),
            Some(Err(e)) => return Err(failed(SCRAPERS, "aps:ListScrapers", &e)),
            Some(Ok(p)) => p,
        };
        for s in page.scrapers() {
            let Some(Source::EksConfiguration(eks)) = s.source() else {
                continue;
            };
            if eks.cluster_arn() != cluster_arn {
                continue;
            }
            let remote_writes = match s.destination() {
                Some(Destination::AmpConfiguration(dest)) => workspace_from_arn(dest.workspace_arn())
                    .map(|(ws, region)| {
                        vec![super::amp_url::RemoteWrite {
                            url: format!(
                                "https://aps-workspaces.{region}.amazonaws.com/workspaces/{ws}/api/v1/remote_write"
                            ),
                            workspace_id: ws,
                            region,
                        }]
                    })
                    .unwrap_or_default(),
                _ => Vec::new(),
            };
            let status = s
                .status()
                .map(|st| st.status_code().as_str().to_string())
                .unwrap_or_else(|| "unknown".to_string());
            out.push(Found {
                kind: Kind::Scraper,
                namespace: String::new(),
                name: s
                    .alias()
                    .filter(|a| !a.is_empty())
                    .unwrap_or(s.scraper_id())
                    .to_string(),
                identity: Identity::scraper(s.role_arn()),
                remote_writes,
                config_source: "ListScrapers destination".to_string(),
                detail: Some(format!("{}, status {status}", s.scraper_id())),
            });
        }
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    Ok(out)
}
