//! `pipecheck discover`: the target set up through [`crate::target`] (the mock: a stack
//! holding every collector shape it supports), one discovery, the scenario files written.
//! Nothing here prints: the CLI renders the [`Report`].

use std::path::PathBuf;
use std::time::Duration;

use super::amp_url::KnownEndpoints;
use super::find::{FindError, Settings, discover};
use super::found::Discovery;
use super::scenarios::{WriteError, Written, write_all};
use crate::target::{Environment, KubeSettings, MockAccess, Target, TargetError, TargetKind};

/// Each request's deadline.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(10);

/// What `pipecheck discover` was asked.
#[derive(Clone, Debug)]
pub struct DiscoverOptions {
    pub target: TargetKind,
    /// `--cluster`; else `PIPECHECK_CLUSTER`, else the kubeconfig context's EKS ARN (aws);
    /// the mock's is `pipecheck` unless named.
    pub cluster: Option<String>,
    pub region: Option<String>,
    pub kube: KubeSettings,
    pub write_scenarios: Option<PathBuf>,
}

/// One discovery and the scenario files it wrote.
#[derive(Debug)]
pub struct Report {
    pub discovery: Discovery,
    pub written: Vec<Written>,
}

#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    #[error("failed to start the mock stack: {0}")]
    Mock(String),
    #[error(transparent)]
    Target(#[from] TargetError),
    #[error(
        "no cluster named: pass --cluster, set PIPECHECK_CLUSTER, or use a kubeconfig context named by its EKS ARN (aws eks update-kubeconfig)"
    )]
    NoCluster,
    #[error(transparent)]
    Find(#[from] FindError),
    #[error(transparent)]
    Write(#[from] WriteError),
}

/// The cluster's name from an EKS context name: `arn:aws:eks:<region>:<account>:cluster/<name>`.
pub fn cluster_from_context(context: &str) -> Option<String> {
    crate::arn::Arn::parse(context)
        .filter(|a| a.service == "eks")
        .and_then(|a| a.resource_id("cluster"))
        .map(str::to_string)
}

/// The AMP endpoint an `AWS_ENDPOINT_URL_AMP` / `AWS_ENDPOINT_URL` override names.
fn known_endpoints(env: &Environment, region: &str) -> KnownEndpoints {
    let mut k = KnownEndpoints::default();
    for var in ["AWS_ENDPOINT_URL_AMP", "AWS_ENDPOINT_URL"] {
        if let Some(url) = env.var(var) {
            k = k.with(&url, region);
        }
    }
    k
}

pub async fn run(opts: &DiscoverOptions) -> Result<Report, DiscoverError> {
    let env = Environment::Process;
    let mut stack = None;
    let (target, cluster, known) = match opts.target {
        TargetKind::Mock => {
            let cluster = opts
                .cluster
                .clone()
                .unwrap_or_else(|| "pipecheck".to_string());
            let region = opts
                .region
                .clone()
                .unwrap_or_else(|| "us-east-1".to_string());
            let s = super::mock::start_all_shapes(&cluster, &region)
                .await
                .map_err(DiscoverError::Mock)?;
            let ep = s.endpoints();
            let target = Target::mock(MockAccess {
                endpoints: ep,
                access_key_id: ep.user.access_key_id.clone(),
                secret_access_key: ep.user.secret_access_key.clone(),
            })
            .await?;
            let known = KnownEndpoints::default().with(&ep.amp, &ep.region);
            stack = Some(s);
            (target, cluster, known)
        }
        TargetKind::Aws => {
            let target = Target::aws(&env, opts.region.clone(), None)
                .await?
                .with_kube(&opts.kube)
                .await?;
            let cluster = opts
                .cluster
                .clone()
                .or_else(|| env.var("PIPECHECK_CLUSTER"))
                .or_else(|| {
                    target
                        .kube
                        .as_ref()
                        .and_then(|k| cluster_from_context(&k.context))
                })
                .ok_or(DiscoverError::NoCluster)?;
            let known = known_endpoints(&env, &target.region);
            (target, cluster, known)
        }
    };
    let settings = Settings {
        cluster,
        known,
        deadline: REQUEST_DEADLINE,
        identities: true,
    };
    let found = discover(&target, &settings).await;
    if let Some(s) = stack {
        s.shutdown().await;
    }
    let discovery = found?;
    let written = match &opts.write_scenarios {
        Some(dir) => write_all(dir, &discovery)?,
        None => Vec::new(),
    };
    Ok(Report { discovery, written })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eks_contexts_name_their_cluster() {
        assert_eq!(
            cluster_from_context("arn:aws:eks:eu-west-1:111122223333:cluster/prod-1").as_deref(),
            Some("prod-1")
        );
        assert_eq!(cluster_from_context("kind-kind"), None);
        assert_eq!(
            cluster_from_context("arn:aws:eks:eu-west-1:1:cluster/"),
            None
        );
    }
}
