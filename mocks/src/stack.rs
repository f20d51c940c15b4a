//! The mock stack: every mock service on its own loopback listener (their paths overlap
//! across services, as the real ones live on different hosts), sharing one identity store
//! and one clock. `pipecheck mock` and mock-target runs both start it through here.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::amg::{self, AmgSettings, AmgState, SEED_GRAFANA_VERSION, SeedOptions};
use crate::amp::{self, AmpSettings, AmpState, Workspace, WorkspaceStatus};
use crate::clock::Clock;
use crate::ec2::{self, Ec2State};
use crate::eks::{self, ClusterSeed, EksState};
use crate::grafana;
use crate::iam::{self, IamState};
use crate::identity::{Identities, Identity, MOCK_ACCOUNT};
use crate::kube::{self as kube_api, AdotSeed, KubeState, Kubeconfig, TlsError, TlsMaterial};
use crate::requests::{self as rq, RequestCounts};
use crate::serve::serve;
use crate::sts::{self, StsState};
use crate::web_identity::OidcIssuers;

#[derive(Clone, Debug)]
pub struct MockConfig {
    /// The region every mock endpoint serves.
    pub region: String,
    /// First port to bind: AMP gets `port`, STS `port + 1`, the AMG control plane
    /// `port + 2`, the AMG workspace's Grafana `port + 3`, EKS `port + 4`, IAM `port + 5`,
    /// the Kubernetes API `port + 6`, EC2 `port + 7`, the black hole `port + 8` and the
    /// refusing port `port + 9`. 0 picks free ports.
    pub port: u16,
    pub amp: AmpSettings,
    /// Alias of the ACTIVE workspace made at start (None: start with no workspace).
    pub workspace_alias: Option<String>,
    /// The healthy cluster seeded at start into EKS, IAM and the Kubernetes API, all with
    /// these names (None: the three start empty).
    pub cluster: Option<ClusterSeed>,
}

impl Default for MockConfig {
    fn default() -> Self {
        Self {
            region: "us-east-1".to_string(),
            port: 0,
            amp: AmpSettings::default(),
            workspace_alias: Some("pipecheck".to_string()),
            cluster: Some(ClusterSeed::default()),
        }
    }
}

/// Where the mocks listen and which credentials they accept: what a client needs.
#[derive(Clone, Debug)]
pub struct MockEndpoints {
    pub region: String,
    /// Base URL of the AMP control and data plane, e.g. `http://127.0.0.1:4510`.
    pub amp: String,
    pub sts: String,
    /// The workspace made at start, if any.
    pub workspace_id: Option<String>,
    pub user: Identity,
    /// Base URL of the AMG control plane (`AWS_ENDPOINT_URL_GRAFANA`).
    pub amg: String,
    /// The AMG workspace made at start (its `endpoint` is the bare `127.0.0.1:<port>` of
    /// `grafana_url`).
    pub grafana_workspace_id: Option<String>,
    /// Base URL of that workspace's Grafana HTTP API, with scheme (`http://127.0.0.1:<port>`).
    pub grafana_url: Option<String>,
    /// The credentials the workspace's Grafana uses as its IAM role (an identity in the
    /// stack's `Identities`): F24 revokes `aps:QueryMetrics` on its access key.
    pub grafana_role: Option<Identity>,
    /// Base URL of the EKS control plane (`AWS_ENDPOINT_URL_EKS`).
    pub eks: String,
    /// Base URL of IAM (`AWS_ENDPOINT_URL_IAM`). IAM is global: clients must sign for
    /// region `us-east-1` whatever `region` is.
    pub iam: String,
    /// The Kubernetes API, `https://127.0.0.1:<port>` (CA in the kubeconfig).
    pub kube_api: String,
    /// The kubeconfig naming `kube_api`, its CA and a bearer token; removed when the stack
    /// is dropped.
    pub kubeconfig: PathBuf,
    /// The EKS cluster seeded at start, if any (`MockConfig::cluster`).
    pub cluster_name: Option<String>,
    /// Base URL of EC2 (`AWS_ENDPOINT_URL_EC2`): instances, subnets, route tables, VPC
    /// endpoints of the seeded cluster.
    pub ec2: String,
    /// `http://127.0.0.1:<port>` that accepts TCP and never answers (a dropped route, a
    /// silent firewall): faults point an endpoint here for "no answer" (F28, F29).
    pub black_hole: String,
    /// `http://127.0.0.1:<port>` where nothing listens: connections are refused.
    pub refused: String,
}

impl MockEndpoints {
    pub fn remote_write_url(&self, workspace_id: &str) -> String {
        format!("{}/workspaces/{workspace_id}/api/v1/remote_write", self.amp)
    }

    pub fn query_url(&self, workspace_id: &str) -> String {
        format!("{}/workspaces/{workspace_id}/api/v1/", self.amp)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("failed to listen on {addr} for the mock {service}")]
    Bind {
        service: &'static str,
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("port {0} is too high: the mock stack needs {1} consecutive ports")]
    PortRange(u16, u16),
    #[error("failed to set up TLS for the mock Kubernetes API")]
    Tls(#[source] TlsError),
    #[error("failed to write the mock cluster's kubeconfig at {}", path.display())]
    Kubeconfig {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A running mock stack. Dropping it stops every listener.
pub struct MockStack {
    pub amp: Arc<AmpState>,
    pub sts: Arc<StsState>,
    /// AMG workspaces and, inside them, their Grafana's content.
    pub amg: Arc<AmgState>,
    pub identities: Arc<Identities>,
    pub clock: Arc<Clock>,
    /// EKS clusters, add-ons and the add-on catalog.
    pub eks: Arc<EksState>,
    /// IAM roles, managed policies and OIDC providers.
    pub iam: Arc<IamState>,
    /// The Kubernetes API's objects, logs, tokens and RBAC denials.
    pub kube: Arc<KubeState>,
    /// The names of the seeded ADOT collector objects, if `MockConfig::cluster` was set.
    pub adot: Option<AdotSeed>,
    /// EC2's instances, subnets, route tables and VPC endpoints.
    pub ec2: Arc<Ec2State>,
    /// How many requests each service answered, by kind.
    pub requests: RequestCounts,
    /// Holds the refusing port: bound, never listening.
    _refused: tokio::net::TcpSocket,
    endpoints: MockEndpoints,
    tasks: Vec<JoinHandle<()>>,
    /// Holds the kubeconfig; removed with the stack.
    _kube_dir: tempfile::TempDir,
    /// The cluster as `prepare_cluster` shaped it, for the cluster faults `inject` applies.
    pub(crate) cluster: std::sync::Mutex<Option<crate::cluster::PreparedCluster>>,
}

const SERVICES: u16 = 10;

/// How long the black hole holds a connection, and how many it holds at once: bounded, so
/// a client that never gives up cannot pile sockets up in the mock.
const BLACK_HOLE_HOLD: Duration = Duration::from_secs(60);
const BLACK_HOLE_MAX: usize = 64;

impl MockStack {
    pub async fn start(cfg: MockConfig) -> Result<Self, StartError> {
        if cfg.port != 0 && cfg.port.checked_add(SERVICES - 1).is_none() {
            return Err(StartError::PortRange(cfg.port, SERVICES));
        }
        let (ids, user) = Identities::with_default_user();
        let identities = Arc::new(ids);
        let clock = Arc::new(Clock::default());
        let amp = Arc::new(AmpState::new(
            &cfg.region,
            cfg.amp.clone(),
            identities.clone(),
            clock.clone(),
        ));
        let workspace_id = cfg.workspace_alias.as_ref().map(|alias| {
            let id = format!("ws-{}", uuid::Uuid::new_v4());
            let mut ws = Workspace::new(id.clone(), &cfg.region, Some(alias.clone()), clock.now());
            ws.status = WorkspaceStatus::Active;
            amp.insert_workspace(ws);
            id
        });

        let port = |i: u16| if cfg.port == 0 { 0 } else { cfg.port + i };
        let amp_listener = bind("AMP", port(0)).await?;
        let sts_listener = bind("STS", port(1)).await?;
        let amg_listener = bind("AMG", port(2)).await?;
        let grafana_listener = bind("Grafana", port(3)).await?;
        let ec2_listener = bind("EC2", port(7)).await?;
        let black_hole_listener = bind("black hole", port(8)).await?;
        let refused = reserve_refusing_port(port(9))?;

        // One AMG workspace whose Grafana is the `grafana_listener`, holding an AMP data
        // source that points at the AMP workspace (amg::AmgState::seed).
        let amg = Arc::new(AmgState::new(
            &cfg.region,
            AmgSettings {
                max_skew: cfg.amp.max_skew,
                ..AmgSettings::default()
            },
            identities.clone(),
            clock.clone(),
        ));
        let amp_url = url_of(&amp_listener);
        let grafana_addr = grafana_listener
            .local_addr()
            .expect("a bound listener has an address");
        let seeded = amg.seed(&SeedOptions {
            endpoint: grafana_addr.to_string(),
            prometheus_endpoint: workspace_id
                .as_ref()
                .map(|id| format!("{amp_url}/workspaces/{id}/")),
            grafana_version: SEED_GRAFANA_VERSION.to_string(),
        });

        let requests = RequestCounts::default();
        let shared = Shared {
            identities: &identities,
            clock: &clock,
            requests: &requests,
        };
        let cluster = start_cluster(
            &cfg,
            |i| port(4 + i),
            shared,
            &user,
            &amp_url,
            workspace_id.as_deref(),
        )
        .await?;
        // STS reads IAM (roles, OIDC providers) and the issuers' keys for
        // AssumeRoleWithWebIdentity.
        let sts = Arc::new(StsState {
            region: cfg.region.clone(),
            identities: identities.clone(),
            clock: clock.clone(),
            max_skew: cfg.amp.max_skew,
            web_identity: Some(sts::WebIdentity {
                iam: cluster.iam.clone(),
                issuers: cluster.issuers.clone(),
            }),
        });

        let ec2 = Arc::new(Ec2State::new(
            &cfg.region,
            identities.clone(),
            clock.clone(),
            cfg.amp.max_skew,
        ));
        let sts_url = url_of(&sts_listener);
        if let Some(seed) = &cfg.cluster {
            ec2.seed_healthy(seed);
            cluster.kube.set_sts_endpoint(&sts_url);
            // The collector's SDK reaches STS where `AWS_ENDPOINT_URL_STS` says: the mock's.
            if let Some(a) = &cluster.adot {
                let _ = cluster.kube.set_container_env(
                    &a.namespace,
                    &a.pod,
                    &a.container,
                    "AWS_ENDPOINT_URL_STS",
                    &sts_url,
                );
            }
        }
        let endpoints = MockEndpoints {
            region: cfg.region.clone(),
            amp: amp_url,
            sts: sts_url,
            workspace_id,
            user,
            amg: url_of(&amg_listener),
            grafana_workspace_id: Some(seeded.workspace_id.clone()),
            grafana_url: Some(url_of(&grafana_listener)),
            grafana_role: Some(seeded.role),
            eks: cluster.eks_url,
            iam: cluster.iam_url,
            kube_api: cluster.kube_url,
            kubeconfig: cluster.kubeconfig,
            cluster_name: cluster.cluster_name,
            ec2: url_of(&ec2_listener),
            black_hole: url_of(&black_hole_listener),
            refused: format!("http://{}", refused.0),
        };
        let counted = |app, kind| requests.count_all(app, kind);
        let mut tasks = vec![
            serve(
                "mock AMP",
                amp_listener,
                requests.count(amp::router(amp.clone()), rq::amp_kind),
                None,
            ),
            serve(
                "mock STS",
                sts_listener,
                counted(sts::router(sts.clone()), rq::Kind::Sts),
                None,
            ),
            serve(
                "mock AMG",
                amg_listener,
                counted(amg::router(amg.clone()), rq::Kind::AmgControlPlane),
                None,
            ),
            serve(
                "mock Grafana",
                grafana_listener,
                counted(
                    grafana::router(amg.clone(), seeded.workspace_id),
                    rq::Kind::GrafanaHttpApi,
                ),
                None,
            ),
        ];
        tasks.extend(cluster.tasks);
        tasks.push(serve(
            "mock EC2",
            ec2_listener,
            counted(ec2::router(ec2.clone()), rq::Kind::Ec2),
            None,
        ));
        tasks.push(tokio::spawn(black_hole(black_hole_listener)));
        // AMP's managed collectors scrape the cluster side and write into AMP.
        amp.scrapers.attach(amp::scraper::ScrapeWorld {
            eks: cluster.eks.clone(),
            kube: cluster.kube.clone(),
        });
        tasks.push(tokio::spawn(amp::scraper::run(amp.clone())));
        tracing::debug!(amp = %endpoints.amp, sts = %endpoints.sts, amg = %endpoints.amg, "mock stack listening");
        Ok(Self {
            amp,
            sts,
            amg,
            identities,
            clock,
            eks: cluster.eks,
            iam: cluster.iam,
            kube: cluster.kube,
            adot: cluster.adot,
            ec2,
            requests,
            endpoints,
            _refused: refused.1,
            tasks,
            _kube_dir: cluster.kube_dir,
            cluster: std::sync::Mutex::new(None),
        })
    }

    pub fn endpoints(&self) -> &MockEndpoints {
        &self.endpoints
    }

    /// Stops every listener and waits until they are gone.
    pub async fn shutdown(mut self) {
        for t in self.tasks.drain(..) {
            t.abort();
            let _ = t.await;
        }
    }
}

impl Drop for MockStack {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

async fn bind(service: &'static str, port: u16) -> Result<TcpListener, StartError> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind {
            service,
            addr,
            source,
        })
}

/// A port bound but never listening: a connection to it is refused (RST), and holding
/// the socket keeps any other program from taking the port for the stack's lifetime.
fn reserve_refusing_port(port: u16) -> Result<(SocketAddr, tokio::net::TcpSocket), StartError> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let fail = |source| StartError::Bind {
        service: "refusing port",
        addr,
        source,
    };
    let socket = tokio::net::TcpSocket::new_v4().map_err(fail)?;
    socket.bind(addr).map_err(fail)?;
    let bound = socket.local_addr().map_err(fail)?;
    Ok((bound, socket))
}

/// Accepts connections and never answers: each is held (its bytes read and dropped) until
/// the peer goes away or [`BLACK_HOLE_HOLD`] passes, at most [`BLACK_HOLE_MAX`] at once
/// (past that a new connection is closed at once).
async fn black_hole(listener: TcpListener) {
    use tokio::io::AsyncReadExt;
    let held = Arc::new(tokio::sync::Semaphore::new(BLACK_HOLE_MAX));
    loop {
        let Ok((mut conn, _)) = listener.accept().await else {
            // Out of descriptors, for instance: do not spin.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let Ok(permit) = held.clone().try_acquire_owned() else {
            drop(conn);
            continue;
        };
        tokio::spawn(async move {
            let mut sink = [0u8; 4096];
            let drain = async { while matches!(conn.read(&mut sink).await, Ok(n) if n > 0) {} };
            let _ = tokio::time::timeout(BLACK_HOLE_HOLD, drain).await;
            drop(permit);
        });
    }
}

fn url_of(l: &TcpListener) -> String {
    let addr = l.local_addr().expect("a bound listener has an address");
    format!("http://{addr}")
}

/// The cluster side of the stack: mock EKS, IAM and the Kubernetes API (TLS), with the
/// kubeconfig in a temporary directory that lives as long as the stack.
struct ClusterSide {
    eks: Arc<EksState>,
    iam: Arc<IamState>,
    kube: Arc<KubeState>,
    eks_url: String,
    iam_url: String,
    kube_url: String,
    kubeconfig: PathBuf,
    kube_dir: tempfile::TempDir,
    cluster_name: Option<String>,
    adot: Option<AdotSeed>,
    /// The OIDC issuers' signing keys: the Kubernetes API mints service account tokens
    /// with them, STS verifies AssumeRoleWithWebIdentity tokens with them.
    issuers: Arc<OidcIssuers>,
    tasks: Vec<JoinHandle<()>>,
}

/// Starts the cluster side on ports `port(0..=2)` and seeds it from `cfg.cluster`: EKS
/// cluster and add-ons, IAM OIDC provider/role/policy for IRSA, and the Kubernetes
/// objects, all with the names of one [`ClusterSeed`]. The collector's remote-write URL
/// is the mock AMP workspace's (`amp_url`, `workspace_id`).
/// What every service of a stack shares: who may call, the clock, the request counts.
#[derive(Clone, Copy)]
struct Shared<'a> {
    identities: &'a Arc<Identities>,
    clock: &'a Arc<Clock>,
    requests: &'a RequestCounts,
}

async fn start_cluster(
    cfg: &MockConfig,
    port: impl Fn(u16) -> u16,
    shared: Shared<'_>,
    user: &Identity,
    amp_url: &str,
    workspace_id: Option<&str>,
) -> Result<ClusterSide, StartError> {
    let Shared {
        identities,
        clock,
        requests,
    } = shared;
    let max_skew = cfg.amp.max_skew;
    let eks = Arc::new(EksState::new(
        &cfg.region,
        identities.clone(),
        clock.clone(),
        max_skew,
    ));
    let iam = Arc::new(IamState::new(identities.clone(), clock.clone(), max_skew));
    let kube = Arc::new(KubeState::new(clock.clone()));
    let tls = TlsMaterial::generate().map_err(StartError::Tls)?;

    let eks_listener = bind("EKS", port(0)).await?;
    let iam_listener = bind("IAM", port(1)).await?;
    let kube_listener = bind("Kubernetes API", port(2)).await?;
    let eks_url = url_of(&eks_listener);
    let iam_url = url_of(&iam_listener);
    let kube_url = url_of(&kube_listener).replacen("http://", "https://", 1);

    let token = kube.issue_token(&user.arn);
    let issuers = Arc::new(OidcIssuers::default());
    let mut adot = None;
    if let Some(seed) = &cfg.cluster {
        eks.seed_healthy(seed, &kube_url, &tls.ca_pem);
        kube.set_service_account_issuer(&seed.oidc_issuer(&cfg.region), issuers.clone());
        // The pod identity webhook asks EKS for the cluster's associations.
        let (lookup, cluster) = (eks.clone(), seed.cluster_name.clone());
        kube.set_pod_identity_source(Arc::new(move |ns: &str, sa: &str| {
            lookup
                .pod_identity_association_for(&cluster, ns, sa)
                .is_some()
        }));
        let workspace = workspace_id.unwrap_or("*");
        let workspace_arn = format!(
            "arn:aws:aps:{}:{MOCK_ACCOUNT}:workspace/{workspace}",
            cfg.region
        );
        iam.seed_healthy_irsa(seed, &cfg.region, &workspace_arn);
        let remote_write = format!("{amp_url}/workspaces/{workspace}/api/v1/remote_write");
        let seeded = kube
            .seed_healthy_adot(seed, &cfg.region, &remote_write)
            .expect("the seed's objects are well-formed");
        adot = Some(seeded);
    }
    let context = cfg
        .cluster
        .as_ref()
        .map(|s| s.cluster_arn(&cfg.region))
        .unwrap_or_else(|| "pipecheck-mock".to_string());
    let kube_dir = tempfile::Builder::new()
        .prefix("pipecheck-mock-kube-")
        .tempdir()
        .map_err(|source| StartError::Kubeconfig {
            path: std::env::temp_dir(),
            source,
        })?;
    let kubeconfig = Kubeconfig {
        name: context,
        server: kube_url.clone(),
        ca_pem: tls.ca_pem.clone(),
        token,
        namespace: None,
    }
    .write_to(kube_dir.path())
    .map_err(|source| StartError::Kubeconfig {
        path: kube_dir.path().join("kubeconfig"),
        source,
    })?;

    let tasks = vec![
        serve(
            "mock EKS",
            eks_listener,
            requests.count_all(eks::router(eks.clone()), rq::Kind::Eks),
            None,
        ),
        serve(
            "mock IAM",
            iam_listener,
            requests.count_all(iam::router(iam.clone()), rq::Kind::Iam),
            None,
        ),
        serve(
            "mock Kubernetes API",
            kube_listener,
            requests.count_all(kube_api::router(kube.clone()), rq::Kind::KubernetesApi),
            Some(tokio_rustls::TlsAcceptor::from(tls.server_config())),
        ),
    ];
    Ok(ClusterSide {
        eks,
        iam,
        kube,
        eks_url,
        iam_url,
        kube_url,
        kubeconfig,
        kube_dir,
        cluster_name: cfg.cluster.as_ref().map(|s| s.cluster_name.clone()),
        adot,
        issuers,
        tasks,
    })
}
