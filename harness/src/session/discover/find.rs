//! One discovery: the Kubernetes side ([`super::kube`]) and the AWS side
//! ([`super::aws`]) at once, then each collector's identity: the IRSA annotation of the
//! service account its pods run as, and the Pod Identity association for it.

use std::collections::BTreeMap;
use std::time::Duration;

use super::amp_url::KnownEndpoints;
use super::aws::{self, Association};
use super::found::{ClusterInfo, Discovery, Found, Identity, NotListed, PodIdentity};
use super::kube::{self, Unreachable};
use crate::target::Target;

/// What one discovery reads.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The EKS cluster's name (for EKS and the scrapers' source).
    pub cluster: String,
    /// AMP endpoints besides AWS's own hosts (the mock's, `AWS_ENDPOINT_URL_AMP`).
    pub known: KnownEndpoints,
    /// Each request's deadline.
    pub deadline: Duration,
    /// Also ask AWS (the cluster's ARN, Pod Identity associations, scrapers) and read
    /// each collector's service account; off when `run` only resolves a collector's name.
    pub identities: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum FindError {
    #[error("no Kubernetes API to read: the target has no kubeconfig")]
    NoKube,
    #[error(transparent)]
    Unreachable(#[from] Unreachable),
}

/// Finds every collector writing to AMP from the cluster `target.kube` reads.
pub async fn discover(target: &Target, settings: &Settings) -> Result<Discovery, FindError> {
    let access = target.kube.as_ref().ok_or(FindError::NoKube)?;
    let d = settings.deadline;
    kube::probe(&access.client, &access.server, d).await?;
    let eks_side = async {
        if !settings.identities {
            return (None, None);
        }
        let (arn, assoc) = tokio::join!(
            aws::cluster_arn(&target.eks, &settings.cluster, d),
            aws::associations(&target.eks, &settings.cluster, d),
        );
        (Some(arn), Some(assoc))
    };
    let (found, (arn, assoc)) =
        tokio::join!(kube::find(&access.client, &settings.known, d), eks_side,);
    let mut discovery = Discovery {
        cluster: ClusterInfo {
            name: settings.cluster.clone(),
            region: target.region.clone(),
            arn: None,
            server: access.server.clone(),
        },
        not_listed: found.not_listed,
        secret_config: found.secret_config,
        collectors: Vec::new(),
    };
    let associations: Option<Vec<Association>> = match assoc {
        Some(Ok(a)) => Some(a),
        Some(Err(n)) => {
            discovery.not_listed.push(n);
            None
        }
        None => None,
    };
    match arn {
        Some(Ok(arn)) => discovery.cluster.arn = Some(arn),
        Some(Err(n)) => discovery.not_listed.push(NotListed {
            what: format!("{}; so AMP scrapers could not be matched to it", n.what),
            why: n.why,
        }),
        None => {}
    }

    // Service accounts read once each.
    let mut irsa: BTreeMap<(String, String), Result<Option<String>, String>> = BTreeMap::new();
    let mut roles: BTreeMap<String, Option<String>> = BTreeMap::new();
    for c in found.candidates {
        let mut identity = Identity {
            service_account: Some(c.service_account.clone()),
            irsa_role_arn: None,
            pod_identity: PodIdentity::Unknown,
            scraper_role_arn: None,
            unread: None,
        };
        if settings.identities {
            let key = (c.namespace.clone(), c.service_account.clone());
            if !irsa.contains_key(&key) {
                let r = kube::irsa_role(&access.client, &key.0, &key.1, d).await;
                irsa.insert(key.clone(), r);
            }
            match &irsa[&key] {
                Ok(role) => identity.irsa_role_arn = role.clone(),
                Err(why) => identity.unread = Some(why.clone()),
            }
            identity.pod_identity = match &associations {
                None => PodIdentity::Unknown,
                Some(list) => match list
                    .iter()
                    .find(|a| a.namespace == c.namespace && a.service_account == c.service_account)
                {
                    None => PodIdentity::None,
                    Some(a) => {
                        if !roles.contains_key(&a.association_id) {
                            let role = match aws::association_role(
                                &target.eks,
                                &settings.cluster,
                                &a.association_id,
                                d,
                            )
                            .await
                            {
                                Ok(r) => r,
                                Err(n) => {
                                    discovery.not_listed.push(n);
                                    None
                                }
                            };
                            roles.insert(a.association_id.clone(), role);
                        }
                        PodIdentity::Associated {
                            association_id: a.association_id.clone(),
                            role_arn: roles[&a.association_id].clone(),
                        }
                    }
                },
            };
        }
        discovery.collectors.push(Found {
            kind: c.kind,
            namespace: c.namespace,
            name: c.name,
            identity,
            remote_writes: c.remote_writes,
            config_source: c.config_source,
            detail: c.detail,
        });
    }
    if let Some(arn) = &discovery.cluster.arn {
        match aws::scrapers(&target.amp, arn, d).await {
            Ok(s) => discovery.collectors.extend(s),
            Err(n) => discovery.not_listed.push(n),
        }
    }
    discovery
        .collectors
        .sort_by(|a, b| (a.kind, &a.namespace, &a.name).cmp(&(b.kind, &b.namespace, &b.name)));
    Ok(discovery)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::is_kube_read;
    use crate::discover::found::{Kind, POD_IDENTITY, SCRAPER_ROLE};
    use crate::target::MockAccess;

    async fn target(stack: &pipecheck_mocks::MockStack) -> Target {
        let ep = stack.endpoints();
        Target::mock(MockAccess {
            endpoints: ep,
            access_key_id: ep.user.access_key_id.clone(),
            secret_access_key: ep.user.secret_access_key.clone(),
        })
        .await
        .unwrap()
    }

    fn settings(stack: &pipecheck_mocks::MockStack) -> Settings {
        let ep = stack.endpoints();
        Settings {
            cluster: "pipecheck".into(),
            known: KnownEndpoints::default().with(&ep.amp, &ep.region),
            deadline: Duration::from_secs(5),
            identities: true,
        }
    }

    /// Every shape of the mock is found; every Kubernetes read is one a read-only role
    /// grants (KUBE_READS), and no Secret is read.
    #[tokio::test(flavor = "multi_thread")]
    async fn the_mock_cluster_is_read_with_kube_reads_only() {
        let stack = crate::discover::start_all_shapes("pipecheck", "us-east-1")
            .await
            .unwrap();
        let d = discover(&target(&stack).await, &settings(&stack))
            .await
            .unwrap();
        let kinds: Vec<Kind> = d.collectors.iter().map(|f| f.kind).collect();
        assert_eq!(
            kinds,
            [
                Kind::OpenTelemetryCollector,
                Kind::Prometheus,
                Kind::Deployment,
                Kind::DaemonSet,
                Kind::Scraper,
            ],
            "{d:#?}"
        );
        assert_eq!(d.collectors[3].identity.mechanisms(), [POD_IDENTITY]);
        assert_eq!(d.collectors[4].identity.mechanisms(), [SCRAPER_ROLE]);
        assert!(d.not_listed.is_empty(), "{:?}", d.not_listed);
        let accesses = stack.kube.accesses();
        let missing: Vec<_> = accesses
            .iter()
            .filter(|(v, g, r)| !is_kube_read(v, g, r))
            .collect();
        assert!(missing.is_empty(), "reads not in KUBE_READS: {missing:?}");
        assert!(
            !accesses.iter().any(|(_, _, r)| r == "secrets"),
            "{accesses:?}"
        );
        stack.shutdown().await;
    }

    /// A kind RBAC forbids is a line saying so; the others are still found.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_forbidden_kind_is_said_and_the_rest_found() {
        let stack = crate::discover::start_all_shapes("pipecheck", "us-east-1")
            .await
            .unwrap();
        stack.kube.deny(Some("list"), "daemonsets", None);
        stack
            .kube
            .deny(Some("get"), "serviceaccounts", Some("adot-col"));
        let d = discover(&target(&stack).await, &settings(&stack))
            .await
            .unwrap();
        assert!(
            !d.collectors.iter().any(|f| f.kind == Kind::DaemonSet),
            "{d:#?}"
        );
        let ds = d
            .not_listed
            .iter()
            .find(|n| n.what == "DaemonSets")
            .expect("the DaemonSets are said");
        assert!(
            ds.why.contains("403") && ds.why.contains("grant list"),
            "{ds:?}"
        );
        let adot = &d.collectors[0];
        assert_eq!(adot.kind, Kind::OpenTelemetryCollector);
        assert!(
            adot.identity
                .unread
                .as_deref()
                .is_some_and(|w| w.contains("403")),
            "{adot:#?}"
        );
        stack.shutdown().await;
    }
}
