//! The links and their graph: [`LinkId`] names each link once (its `Display`/`FromStr` is
//! the one place its name is spelled; scenario files and reports use that name), and
//! [`LinkId::depends_on`] is the one table of what each link needs first, per [`Shape`].

use std::fmt;
use std::str::FromStr;

use serde::Deserialize;

/// The pipeline's shape: who writes the canary, and what the harness reads.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Shape {
    /// The harness itself remote-writes the canary, signed, and reads it back.
    #[default]
    Direct,
    /// A real collector scrapes the canary from the harness's exporter and remote-writes
    /// it to AMP; the harness reads it back.
    Collector,
    /// A collector in an EKS cluster (ADOT or Prometheus, IRSA): the harness reads the
    /// cluster, IAM and the collector's state, and writes and reads the canary itself.
    Cluster,
}

impl Shape {
    pub fn as_str(self) -> &'static str {
        match self {
            Shape::Direct => "direct",
            Shape::Collector => "collector",
            Shape::Cluster => "cluster",
        }
    }
}

macro_rules! link_ids {
    ($($(#[$doc:meta])* $id:ident = $name:literal,)*) => {
        /// One link of the chain. The variants are in chain order (also the report's
        /// order): every link comes after the links it depends on, in every shape.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum LinkId {
            $($(#[$doc])* $id,)*
        }

        impl LinkId {
            /// Every link, in chain order.
            pub const ALL: &'static [LinkId] = &[$(LinkId::$id,)*];

            /// The link's name, as scenario files, reports and `--format json` spell it.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(LinkId::$id => $name,)*
                }
            }
        }
    };
}

link_ids! {
    /// The harness's own AWS identity (STS GetCallerIdentity).
    AwsIdentity = "aws.identity",
    AmpWorkspace = "amp.workspace",
    EksCluster = "eks.cluster",
    IamOidcProvider = "iam.oidc_provider",
    K8sApi = "k8s.api",
    K8sNamespace = "k8s.namespace",
    K8sServiceAccount = "k8s.service_account",
    IamRoleTrust = "iam.role_trust",
    IamRolePermissions = "iam.role_permissions",
    EksAddon = "eks.addon",
    K8sCertManager = "k8s.cert_manager",
    NetworkEgress = "network.egress",
    AmpScraper = "amp.scraper",
    EksScraperAccess = "eks.scraper_access",
    K8sScraperRbac = "k8s.scraper_rbac",
    ScraperConfig = "scraper.config",
    ScraperDelivery = "scraper.delivery",
    CollectorConfig = "collector.config",
    CollectorRunning = "collector.running",
    CanaryScraped = "canary.scraped",
    CollectorSigning = "collector.signing",
    AmpRemoteWrite = "amp.remote_write",
    AmpQuery = "amp.query",
    PipelineDelivery = "pipeline.delivery",
    AmgWorkspace = "amg.workspace",
    GrafanaApi = "grafana.api",
    GrafanaDatasource = "grafana.datasource",
    GrafanaQuery = "grafana.query",
    GrafanaDashboard = "grafana.dashboard",
}

use LinkId::*;

impl LinkId {
    /// The links this one needs to have passed (or warned) before it runs, in `shape`.
    pub fn depends_on(self, shape: Shape) -> &'static [LinkId] {
        match self {
            AwsIdentity => &[],
            AmpWorkspace | EksCluster | AmgWorkspace => &[AwsIdentity],
            IamOidcProvider | K8sApi => &[EksCluster],
            K8sNamespace | EksAddon => &[K8sApi],
            K8sServiceAccount => &[K8sNamespace],
            IamRoleTrust => &[K8sServiceAccount, IamOidcProvider],
            IamRolePermissions => &[IamRoleTrust, AmpWorkspace],
            K8sCertManager => &[EksAddon],
            NetworkEgress => &[EksCluster, K8sApi],
            AmpScraper => &[AmpWorkspace, EksCluster],
            EksScraperAccess => &[AmpScraper, K8sApi],
            K8sScraperRbac => &[EksScraperAccess],
            ScraperConfig => &[AmpScraper],
            ScraperDelivery => &[AmpWorkspace, K8sScraperRbac, ScraperConfig],
            // A collector that cannot reach its endpoints is network.egress's verdict first.
            CollectorConfig if shape == Shape::Cluster => &[K8sApi, AmpWorkspace, NetworkEgress],
            CollectorConfig => &[AmpWorkspace],
            // In a cluster a collector without a working identity crash-loops or is
            // refused: its identity chain is judged first, so one root cause shows once.
            CollectorRunning if shape == Shape::Cluster => &[CollectorConfig, IamRolePermissions],
            CollectorRunning => &[CollectorConfig],
            CanaryScraped => &[CollectorRunning],
            CollectorSigning => &[CanaryScraped],
            // Through a collector, the writes AMP receives come from the collector.
            AmpRemoteWrite if shape == Shape::Collector => &[CollectorSigning],
            AmpRemoteWrite => &[AmpWorkspace],
            AmpQuery => &[AmpRemoteWrite],
            PipelineDelivery => &[AmpQuery],
            GrafanaApi => &[AmgWorkspace],
            // The workspace's endpoint comes from amp.workspace.
            GrafanaDatasource => &[GrafanaApi, AmpWorkspace],
            GrafanaQuery => &[GrafanaDatasource, AmpQuery],
            GrafanaDashboard => &[GrafanaQuery],
        }
    }
}

impl fmt::Display for LinkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A link name this build does not know.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown link {name:?} (known: {})", LinkId::ALL.iter().map(|l| l.as_str()).collect::<Vec<_>>().join(", "))]
pub struct UnknownLink {
    pub name: String,
}

impl FromStr for LinkId {
    type Err = UnknownLink;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        LinkId::ALL
            .iter()
            .copied()
            .find(|l| l.as_str() == s)
            .ok_or_else(|| UnknownLink {
                name: s.to_string(),
            })
    }
}

impl<'de> Deserialize<'de> for LinkId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for LinkId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// The Grafana side of the chain: left out of a run with no Grafana workspace.
pub const GRAFANA: &[LinkId] = &[
    AmgWorkspace,
    GrafanaApi,
    GrafanaDatasource,
    GrafanaQuery,
    GrafanaDashboard,
];

/// Links whose check changes the account it runs against: `amp.remote_write` writes the
/// canary into the workspace, `grafana.api` creates a short-lived Grafana service account
/// (unless handed a token). A read-only run (`pipecheck readiness`) leaves them out, and
/// every link depending on them.
pub const WRITES: &[LinkId] = &[AmpRemoteWrite, GrafanaApi];

/// The cluster side of the chain (shape `cluster` only): EKS, IAM/IRSA and Kubernetes.
pub const CLUSTER: &[LinkId] = &[
    EksCluster,
    IamOidcProvider,
    K8sApi,
    K8sNamespace,
    K8sServiceAccount,
    IamRoleTrust,
    IamRolePermissions,
    EksAddon,
    K8sCertManager,
    NetworkEgress,
];

/// The chain of a cluster scraped by an AMP managed collector (`cluster.kind:
/// amp-scraper`): no collector in the cluster and no canary written by the harness; the
/// series the scraper writes are read back.
pub const SCRAPER_CHAIN: &[LinkId] = &[
    AwsIdentity,
    AmpWorkspace,
    EksCluster,
    K8sApi,
    AmpScraper,
    EksScraperAccess,
    K8sScraperRbac,
    ScraperConfig,
    ScraperDelivery,
];

/// The links only the AMP managed collector's chain has.
pub const SCRAPER: &[LinkId] = &[
    AmpScraper,
    EksScraperAccess,
    K8sScraperRbac,
    ScraperConfig,
    ScraperDelivery,
];

/// The links of a pipeline shape when a scenario names none.
pub fn default_links(shape: Shape) -> &'static [LinkId] {
    match shape {
        Shape::Direct => &[
            AwsIdentity,
            AmpWorkspace,
            AmpRemoteWrite,
            AmpQuery,
            PipelineDelivery,
            AmgWorkspace,
            GrafanaApi,
            GrafanaDatasource,
            GrafanaQuery,
            GrafanaDashboard,
        ],
        Shape::Collector => &[
            AwsIdentity,
            AmpWorkspace,
            CollectorConfig,
            CollectorRunning,
            CanaryScraped,
            CollectorSigning,
            AmpRemoteWrite,
            AmpQuery,
            PipelineDelivery,
            AmgWorkspace,
            GrafanaApi,
            GrafanaDatasource,
            GrafanaQuery,
            GrafanaDashboard,
        ],
        // The collector in the cluster is read, not observed writing: no canary.scraped,
        // collector.signing or pipeline.delivery; the harness writes and reads AMP itself.
        // (A Prometheus server leaves out the ADOT-only links: `Scenario::link_names`.)
        Shape::Cluster => &[
            AwsIdentity,
            AmpWorkspace,
            EksCluster,
            IamOidcProvider,
            K8sApi,
            K8sNamespace,
            K8sServiceAccount,
            IamRoleTrust,
            IamRolePermissions,
            EksAddon,
            K8sCertManager,
            NetworkEgress,
            CollectorConfig,
            CollectorRunning,
            AmpRemoteWrite,
            AmpQuery,
        ],
    }
}

/// The links named (the shape's defaults when none is), plus every link they depend on,
/// in chain order.
pub fn closure(names: &[LinkId], shape: Shape) -> Vec<LinkId> {
    let mut wanted: Vec<LinkId> = if names.is_empty() {
        default_links(shape).to_vec()
    } else {
        names.to_vec()
    };
    let mut i = 0;
    while i < wanted.len() {
        for dep in wanted[i].depends_on(shape) {
            if !wanted.contains(dep) {
                wanted.push(*dep);
            }
        }
        i += 1;
    }
    wanted.sort();
    wanted.dedup();
    wanted
}

/// `links` (in chain order) without `root` and every link depending on it, directly or
/// not, and the links left out (in chain order). A run with no Grafana workspace leaves
/// out `amg.workspace` this way, and with it every grafana link.
pub fn without(links: &[LinkId], root: LinkId, shape: Shape) -> (Vec<LinkId>, Vec<LinkId>) {
    let mut out: Vec<LinkId> = Vec::new();
    // Chain order puts dependencies first, so one pass sees every dependent.
    for l in links {
        if *l == root || l.depends_on(shape).iter().any(|d| out.contains(d)) {
            out.push(*l);
        }
    }
    let kept = links.iter().copied().filter(|l| !out.contains(l)).collect();
    (kept, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHAPES: [Shape; 3] = [Shape::Direct, Shape::Collector, Shape::Cluster];

    #[test]
    fn names_round_trip_and_unknown_names_are_refused() {
        for l in LinkId::ALL {
            assert_eq!(l.as_str().parse::<LinkId>(), Ok(*l));
            assert_eq!(l.to_string(), l.as_str());
        }
        let e = "amp.wrkspace".parse::<LinkId>().unwrap_err();
        assert!(
            e.to_string().contains("unknown link \"amp.wrkspace\""),
            "{e}"
        );
        assert!(e.to_string().contains("amp.workspace"), "{e}");
    }

    #[test]
    fn dependencies_come_first_in_every_shape() {
        for (i, l) in LinkId::ALL.iter().enumerate() {
            for shape in SHAPES {
                for dep in l.depends_on(shape) {
                    let j = LinkId::ALL.iter().position(|n| n == dep).unwrap();
                    assert!(j < i, "{dep} must come before {l} ({shape:?})");
                }
            }
        }
    }

    #[test]
    fn closure_adds_dependencies() {
        assert_eq!(
            closure(&[AmpQuery], Shape::Direct),
            [AwsIdentity, AmpWorkspace, AmpRemoteWrite, AmpQuery]
        );
        // Through a collector, the writes AMP receives come from the collector.
        let delivery = LinkId::ALL
            .iter()
            .position(|n| *n == PipelineDelivery)
            .unwrap();
        let collector: Vec<LinkId> = LinkId::ALL[..delivery]
            .iter()
            .copied()
            .filter(|n| !CLUSTER.contains(n) && !SCRAPER.contains(n))
            .collect();
        assert_eq!(closure(&[AmpQuery], Shape::Collector), collector);
        // grafana.query needs the canary in AMP first.
        assert!(closure(&[GrafanaQuery], Shape::Direct).contains(&AmpQuery));
    }

    #[test]
    fn grafana_links_follow_amp_and_leave_together() {
        for shape in [Shape::Direct, Shape::Collector] {
            let all = closure(&[], shape);
            assert!(GRAFANA.iter().all(|g| all.contains(g)), "{all:?}");
            let (kept, out) = without(&all, AmgWorkspace, shape);
            assert_eq!(out, GRAFANA);
            assert!(kept.contains(&AmpQuery) && kept.contains(&PipelineDelivery));
            assert!(!kept.iter().any(|n| GRAFANA.contains(n)));
        }
    }
}
