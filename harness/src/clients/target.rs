//! Where the pipeline lives, inferred in one place: every client the links use is built
//! here, for the mock stack and for real AWS alike. A mock run differs only in endpoints
//! and credentials; the links cannot tell which target they talk to.
//!
//! What does not depend on the target is built once per process and shared by every
//! target in it ([`Shared`]): the TLS roots and the SDK's HTTP client with its connectors.
//! Each target keeps its own credentials, region and endpoints.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};

use pipecheck_mocks::MockEndpoints;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum TargetKind {
    /// The embedded mock stack on loopback (no AWS account needed).
    Mock,
    /// Real AWS through the standard credential chain.
    Aws,
}

impl TargetKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mock => "mock",
            Self::Aws => "aws",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("no AWS credentials for --target aws")]
    NoCredentials(#[source] aws_credential_types::provider::error::CredentialsError),
    #[error(
        "no AWS region for --target aws: set AWS_REGION, --region, or target.region in the scenario"
    )]
    NoRegion,
    #[error("failed to build the HTTP client")]
    Http(#[source] reqwest::Error),
    #[error("failed to load this system's root certificates for TLS")]
    Tls(#[source] rustls::Error),
    #[error(
        "no usable kubeconfig for --target aws: pass --kubeconfig, set KUBECONFIG, or write ~/.kube/config (aws eks update-kubeconfig --name <cluster>)"
    )]
    NoKubeconfig(#[source] kube::config::KubeconfigError),
    #[error("failed to read the in-cluster Kubernetes config (service account token)")]
    InCluster(#[source] kube::config::InClusterError),
    #[error("failed to build the Kubernetes client from {0}")]
    KubeClient(String, #[source] kube::Error),
}

pub struct Target {
    pub kind: TargetKind,
    pub region: String,
    pub workspace_id: Option<String>,
    pub credentials: SharedCredentialsProvider,
    pub sts: aws_sdk_sts::Client,
    pub amp: aws_sdk_amp::Client,
    /// The Amazon Managed Grafana control plane.
    pub amg: aws_sdk_grafana::Client,
    /// Which Grafana workspace the grafana links check, and how to reach its HTTP API.
    pub grafana: GrafanaSettings,
    pub http: reqwest::Client,
    /// The EKS control plane (clusters, add-ons).
    pub eks: aws_sdk_eks::Client,
    /// IAM (roles, policies, OIDC providers). IAM is global: signed for `us-east-1`.
    pub iam: aws_sdk_iam::Client,
    /// EC2 (the nodes' instances and IMDS settings, the cluster's subnets, routes and VPC
    /// endpoints).
    pub ec2: aws_sdk_ec2::Client,
    /// The cluster's Kubernetes API, from a kubeconfig (cluster scenarios).
    pub kube: Option<KubeAccess>,
    /// May the run request short-lived service account tokens (TokenRequest) to prove
    /// IRSA with STS? Not on `--target aws`, which reads and never writes.
    pub request_tokens: bool,
}

/// Where `--target aws` reads its settings (credentials, region, endpoints, workspace,
/// cluster): the process environment and the default credential chain (`pipecheck run`),
/// or only the variables given (`pipecheck readiness`, one set per account), so accounts
/// checked at the same time never see each other's or the process's credentials.
#[derive(Clone, Default)]
pub enum Environment {
    #[default]
    Process,
    Given(Arc<BTreeMap<String, String>>),
}

impl Environment {
    /// A variable's value; unset and blank are the same.
    pub fn var(&self, key: &str) -> Option<String> {
        let v = match self {
            Self::Process => std::env::var(key).ok(),
            Self::Given(vars) => vars.get(key).cloned(),
        };
        v.filter(|s| !s.trim().is_empty())
    }
}

// Values may be secret keys: only the names are shown.
impl std::fmt::Debug for Environment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Process => f.write_str("Process"),
            Self::Given(vars) => f.debug_tuple("Given").field(&vars.keys()).finish(),
        }
    }
}

/// The SDK's per-service settings from a given environment instead of the process's: a
/// client asks for `AWS_ENDPOINT_URL` of service `amp` and gets `AWS_ENDPOINT_URL_AMP`,
/// else `AWS_ENDPOINT_URL` (as the SDK's own environment lookup does).
#[derive(Debug)]
struct GivenServiceConfig(Arc<BTreeMap<String, String>>);

impl aws_types::service_config::LoadServiceConfig for GivenServiceConfig {
    fn load_config(&self, key: aws_types::service_config::ServiceConfigKey<'_>) -> Option<String> {
        let service: String = key
            .service_id()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect();
        self.0
            .get(&format!("{}_{service}", key.env()))
            .or_else(|| self.0.get(key.env()))
            .filter(|v| !v.trim().is_empty())
            .cloned()
    }
}

/// The region IAM's endpoint signs for, whatever region the rest uses.
pub const IAM_REGION: &str = "us-east-1";

/// A Kubernetes API client from a kubeconfig, and where it points.
#[derive(Clone)]
pub struct KubeAccess {
    pub client: kube::Client,
    /// The API server URL of the context in use.
    pub server: String,
    /// The context's name and the kubeconfig it came from, for evidence.
    pub context: String,
    pub source: String,
}

/// Which kubeconfig and context `--target aws` reads (the mock's is its own).
#[derive(Clone, Debug, Default)]
pub struct KubeSettings {
    /// `--kubeconfig`; else `KUBECONFIG`, else `~/.kube/config`.
    pub kubeconfig: Option<std::path::PathBuf>,
    /// `--context`; else the kubeconfig's current context.
    pub context: Option<String>,
}

impl KubeAccess {
    /// Reads the kubeconfig at `path` (None: `KUBECONFIG`, else `~/.kube/config`) and
    /// builds a client for `context` (None: the current context).
    pub async fn from_kubeconfig(
        path: Option<&std::path::Path>,
        context: Option<&str>,
    ) -> Result<Self, TargetError> {
        use kube::config::{KubeConfigOptions, Kubeconfig};
        let (kc, source) = match path {
            Some(p) => (
                Kubeconfig::read_from(p).map_err(TargetError::NoKubeconfig)?,
                p.display().to_string(),
            ),
            None => match Kubeconfig::read() {
                Ok(kc) => (
                    kc,
                    std::env::var("KUBECONFIG").unwrap_or_else(|_| "~/.kube/config".to_string()),
                ),
                // In a pod (deploy/cronjob.yaml) there is no kubeconfig: the pod's own
                // service account is the identity.
                Err(_) if std::env::var_os("KUBERNETES_SERVICE_HOST").is_some() => {
                    return Self::in_cluster();
                }
                Err(e) => return Err(TargetError::NoKubeconfig(e)),
            },
        };
        let context_name = context
            .map(str::to_string)
            .or_else(|| kc.current_context.clone())
            .unwrap_or_default();
        let options = KubeConfigOptions {
            context: context.map(str::to_string),
            ..KubeConfigOptions::default()
        };
        let config = kube::Config::from_custom_kubeconfig(kc, &options)
            .await
            .map_err(TargetError::NoKubeconfig)?;
        let server = config.cluster_url.to_string();
        let client = kube::Client::try_from(config)
            .map_err(|e| TargetError::KubeClient(source.clone(), e))?;
        Ok(Self {
            client,
            server,
            context: context_name,
            source,
        })
    }
}

impl KubeAccess {
    /// The API server and service account token of the pod this runs in.
    fn in_cluster() -> Result<Self, TargetError> {
        let config = kube::Config::incluster().map_err(TargetError::InCluster)?;
        let server = config.cluster_url.to_string();
        let source = "the pod's service account".to_string();
        let client = kube::Client::try_from(config)
            .map_err(|e| TargetError::KubeClient(source.clone(), e))?;
        Ok(Self {
            client,
            server,
            context: "in-cluster".to_string(),
            source,
        })
    }
}

/// The Grafana side of a target. The workspace's HTTP API base URL is resolved here only
/// ([`Target::grafana_url`]): an override, else `https://{endpoint}` from DescribeWorkspace.
#[derive(Clone, Default)]
pub struct GrafanaSettings {
    /// The AMG workspace (`g-…`); None: no Grafana workspace, the grafana links are left out.
    pub workspace_id: Option<String>,
    /// Base URL of the workspace's Grafana HTTP API, with scheme, overriding the one
    /// DescribeWorkspace gives (`--grafana-url`, `PIPECHECK_GRAFANA_URL`; the mock's).
    pub url: Option<String>,
    /// A Grafana token to use instead of creating a short-lived service account
    /// (`PIPECHECK_GRAFANA_TOKEN`). Never printed.
    pub token: Option<String>,
}

// The token must never reach a log line.
impl std::fmt::Debug for GrafanaSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrafanaSettings")
            .field("workspace_id", &self.workspace_id)
            .field("url", &self.url)
            .field("token", &self.token.as_ref().map(|_| "[REDACTED]"))
            .finish()
    }
}

impl GrafanaSettings {
    /// For `--target aws`: each setting from its flag, else its environment variable, else
    /// the scenario (`target.grafana_workspace_id`).
    pub fn for_aws(
        environment: &Environment,
        workspace_flag: Option<String>,
        url_flag: Option<String>,
        scenario_workspace: Option<String>,
    ) -> Self {
        let env = |k: &str| environment.var(k);
        Self {
            workspace_id: workspace_flag
                .or_else(|| env("PIPECHECK_GRAFANA_WORKSPACE_ID"))
                .or(scenario_workspace),
            url: url_flag.or_else(|| env("PIPECHECK_GRAFANA_URL")),
            token: env("PIPECHECK_GRAFANA_TOKEN"),
        }
    }
}

/// What a mock run points the clients at, after faults had their say on the credentials.
pub struct MockAccess<'a> {
    pub endpoints: &'a MockEndpoints,
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl Target {
    /// Clients for the mock stack.
    pub async fn mock(access: MockAccess<'_>) -> Result<Self, TargetError> {
        let ep = access.endpoints;
        let creds = Credentials::new(
            access.access_key_id,
            access.secret_access_key,
            None,
            None,
            "pipecheck-mock",
        );
        let sdk = aws_config::defaults(BehaviorVersion::latest())
            .http_client(Shared::get().sdk_http.clone())
            .region(Region::new(ep.region.clone()))
            .credentials_provider(creds)
            .load()
            .await;
        let sts = aws_sdk_sts::Client::from_conf(
            aws_sdk_sts::config::Builder::from(&sdk)
                .endpoint_url(&ep.sts)
                .build(),
        );
        let amp = aws_sdk_amp::Client::from_conf(
            aws_sdk_amp::config::Builder::from(&sdk)
                .endpoint_url(&ep.amp)
                .build(),
        );
        let amg = aws_sdk_grafana::Client::from_conf(
            aws_sdk_grafana::config::Builder::from(&sdk)
                .endpoint_url(&ep.amg)
                .build(),
        );
        let target = Self::from_parts(
            TargetKind::Mock,
            &sdk,
            sts,
            amp,
            amg,
            ep.workspace_id.clone(),
        )?;
        let mut target = target.with_grafana(GrafanaSettings {
            workspace_id: ep.grafana_workspace_id.clone(),
            url: ep.grafana_url.clone(),
            token: None,
        });
        // The cluster side: mock EKS, IAM and EC2, the mock cluster's kubeconfig, and tokens
        // may be requested (the mock is the harness's own).
        target.eks = aws_sdk_eks::Client::from_conf(
            aws_sdk_eks::config::Builder::from(&sdk)
                .endpoint_url(&ep.eks)
                .build(),
        );
        target.iam = iam_client(&sdk, Some(&ep.iam));
        target.ec2 = aws_sdk_ec2::Client::from_conf(
            aws_sdk_ec2::config::Builder::from(&sdk)
                .endpoint_url(&ep.ec2)
                .build(),
        );
        target.kube = Some(KubeAccess::from_kubeconfig(Some(&ep.kubeconfig), None).await?);
        target.request_tokens = true;
        Ok(target)
    }

    /// The same target reading the cluster through this kubeconfig (`--target aws`
    /// cluster scenarios; fails when there is none, before anything runs).
    pub async fn with_kube(mut self, settings: &KubeSettings) -> Result<Self, TargetError> {
        self.kube = Some(
            KubeAccess::from_kubeconfig(
                settings.kubeconfig.as_deref(),
                settings.context.as_deref(),
            )
            .await?,
        );
        Ok(self)
    }

    /// The same target checking this Grafana workspace.
    pub fn with_grafana(mut self, grafana: GrafanaSettings) -> Self {
        self.grafana = grafana;
        self
    }

    /// The base URL of the Grafana HTTP API of a workspace whose DescribeWorkspace
    /// `endpoint` is `endpoint` (a bare host): the override if set, else
    /// `https://{endpoint}`. None when neither is known.
    pub fn grafana_url(&self, endpoint: &str) -> Option<String> {
        if let Some(u) = &self.grafana.url {
            return Some(u.trim_end_matches('/').to_string());
        }
        let host = endpoint.trim().trim_end_matches('/');
        if host.is_empty() {
            return None;
        }
        // AMG's endpoint has no scheme; tolerate one anyway.
        if host.starts_with("http://") || host.starts_with("https://") {
            return Some(host.to_string());
        }
        Some(format!("https://{host}"))
    }

    /// Clients for real AWS: the default credential chain and region, with any endpoint
    /// overrides the user set (`AWS_ENDPOINT_URL_AMP`, ...); or, for a given environment,
    /// only its variables. Fails if no credentials load.
    pub async fn aws(
        env: &Environment,
        region: Option<String>,
        workspace_id: Option<String>,
    ) -> Result<Self, TargetError> {
        let sdk = match env {
            Environment::Process => {
                let mut loader = aws_config::defaults(BehaviorVersion::latest())
                    .http_client(Shared::get().sdk_http.clone());
                if let Some(r) = region {
                    loader = loader.region(Region::new(r));
                }
                loader.load().await
            }
            Environment::Given(vars) => given_sdk_config(env, vars, region).await?,
        };
        if sdk.region().is_none() {
            return Err(TargetError::NoRegion);
        }
        let provider = sdk.credentials_provider().ok_or_else(|| {
            TargetError::NoCredentials(
                aws_credential_types::provider::error::CredentialsError::not_loaded(
                    "no credentials provider",
                ),
            )
        })?;
        provider
            .provide_credentials()
            .await
            .map_err(TargetError::NoCredentials)?;
        let sts = aws_sdk_sts::Client::new(&sdk);
        let amp = aws_sdk_amp::Client::new(&sdk);
        let amg = aws_sdk_grafana::Client::new(&sdk);
        Self::from_parts(TargetKind::Aws, &sdk, sts, amp, amg, workspace_id)
    }

    fn from_parts(
        kind: TargetKind,
        sdk: &SdkConfig,
        sts: aws_sdk_sts::Client,
        amp: aws_sdk_amp::Client,
        amg: aws_sdk_grafana::Client,
        workspace_id: Option<String>,
    ) -> Result<Self, TargetError> {
        let credentials = sdk
            .credentials_provider()
            .expect("a credentials provider is configured");
        let tls = Shared::get().tls.clone().map_err(TargetError::Tls)?;
        let http = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(5))
            .tls_backend_preconfigured(tls)
            .build()
            .map_err(TargetError::Http)?;
        Ok(Self {
            kind,
            region: sdk.region().map(|r| r.to_string()).unwrap_or_default(),
            workspace_id,
            credentials,
            sts,
            amp,
            amg,
            grafana: GrafanaSettings::default(),
            http,
            eks: aws_sdk_eks::Client::new(sdk),
            iam: iam_client(sdk, None),
            ec2: aws_sdk_ec2::Client::new(sdk),
            kube: None,
            request_tokens: false,
        })
    }
}

/// The SDK settings of a given environment: static keys (`AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), else the profile `AWS_PROFILE` (its
/// region too, unless `region` or `AWS_REGION` is given); endpoints only from its
/// `AWS_ENDPOINT_URL[_<SERVICE>]`. The process's credential chain and endpoints are never
/// consulted.
async fn given_sdk_config(
    env: &Environment,
    vars: &Arc<BTreeMap<String, String>>,
    region: Option<String>,
) -> Result<SdkConfig, TargetError> {
    use aws_config::profile::{ProfileFileCredentialsProvider, ProfileFileRegionProvider};
    let profile = env.var("AWS_PROFILE");
    let mut loader =
        aws_config::defaults(BehaviorVersion::latest()).http_client(Shared::get().sdk_http.clone());
    if let Some(p) = &profile {
        loader = loader.profile_name(p);
    }
    let keys = (
        env.var("AWS_ACCESS_KEY_ID"),
        env.var("AWS_SECRET_ACCESS_KEY"),
    );
    loader = match (keys, &profile) {
        ((Some(id), Some(secret)), _) => loader.credentials_provider(Credentials::new(
            id,
            secret,
            env.var("AWS_SESSION_TOKEN"),
            None,
            "pipecheck-given",
        )),
        (_, Some(p)) => loader.credentials_provider(
            ProfileFileCredentialsProvider::builder()
                .profile_name(p)
                .build(),
        ),
        _ => {
            return Err(TargetError::NoCredentials(
                aws_credential_types::provider::error::CredentialsError::not_loaded(
                    "neither a profile nor AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY given",
                ),
            ));
        }
    };
    loader = match (region.or_else(|| env.var("AWS_REGION")), &profile) {
        (Some(r), _) => loader.region(Region::new(r)),
        (None, Some(p)) => {
            loader.region(ProfileFileRegionProvider::builder().profile_name(p).build())
        }
        (None, None) => return Err(TargetError::NoRegion),
    };
    let mut sdk = loader.load().await.into_builder();
    sdk.set_endpoint_url(env.var("AWS_ENDPOINT_URL"));
    sdk.set_service_config(Some(GivenServiceConfig(vars.clone())));
    Ok(sdk.build())
}

/// IAM is global: its client signs for [`IAM_REGION`] whatever the run's region.
fn iam_client(sdk: &SdkConfig, endpoint: Option<&str>) -> aws_sdk_iam::Client {
    let mut b = aws_sdk_iam::config::Builder::from(sdk).region(Region::new(IAM_REGION));
    if let Some(url) = endpoint {
        b = b.endpoint_url(url);
    }
    aws_sdk_iam::Client::from_conf(b.build())
}

/// Where `run` and `watch` find the pipeline, as they take it on the command line.
#[derive(clap::Args, Clone, Debug)]
pub struct TargetArgs {
    /// Where the pipeline lives.
    #[arg(long = "target", value_enum, default_value = "mock")]
    pub kind: TargetKind,
    /// AWS region (overrides the scenario and the environment).
    #[arg(long)]
    pub region: Option<String>,
    /// AMP workspace id for --target aws (else PIPECHECK_WORKSPACE_ID or the scenario's).
    #[arg(long = "workspace", value_name = "ID")]
    pub workspace_id: Option<String>,
    /// Amazon Managed Grafana workspace id for --target aws (else
    /// PIPECHECK_GRAFANA_WORKSPACE_ID or the scenario's); none leaves the grafana links out.
    #[arg(long = "grafana-workspace", value_name = "ID")]
    pub grafana_workspace_id: Option<String>,
    /// The workspace's Grafana URL for --target aws (else PIPECHECK_GRAFANA_URL, else
    /// https://<endpoint> from DescribeWorkspace).
    #[arg(long = "grafana-url", value_name = "URL")]
    pub grafana_url: Option<String>,
    /// The EKS cluster of cluster scenarios (else PIPECHECK_CLUSTER, else the scenario's).
    #[arg(long = "cluster", value_name = "NAME")]
    pub cluster_name: Option<String>,
    /// The kubeconfig cluster scenarios read with --target aws (else KUBECONFIG, else
    /// ~/.kube/config).
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<std::path::PathBuf>,
    /// The kubeconfig context (else its current context).
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
}

/// What every target of the process shares, built on first use: 20 scenarios in one
/// invocation, or 100 accounts checked by `readiness`, parse the system's root
/// certificates once, not once per client.
struct Shared {
    /// The TLS settings reqwest builds by default (the platform's verifier over this
    /// system's roots, its default protocol versions, HTTP/1.1), for every target's
    /// reqwest client. An error if no root certificate loads, as reqwest's own build.
    tls: Result<rustls::ClientConfig, rustls::Error>,
    /// The HTTP client of every SDK client: the SDK's default (hyper, rustls with aws-lc,
    /// the proxy from the environment), its connectors built once per timeout setting
    /// and shared. Connections are pooled per host and port, so targets never share one.
    sdk_http: aws_smithy_runtime_api::client::http::SharedHttpClient,
}

impl Shared {
    fn get() -> &'static Self {
        static SHARED: OnceLock<Shared> = OnceLock::new();
        SHARED.get_or_init(|| Self {
            tls: default_tls(),
            sdk_http: sdk_http_client(),
        })
    }
}

/// reqwest's default rustls configuration, which it would otherwise build (and load the
/// system's roots for) in every `Client::build`.
fn default_tls() -> Result<rustls::ClientConfig, rustls::Error> {
    let provider = rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
    let verifier = rustls_platform_verifier::Verifier::new(provider.clone())?;
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(rustls::ALL_VERSIONS)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tls)
}

/// The SDK's default HTTPS client (as `aws-smithy-runtime`'s `default_https_client`
/// builds it for each SDK client), once per process.
fn sdk_http_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::proxy::ProxyConfig;
    use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
    use aws_smithy_http_client::{Builder, ConnectorBuilder};
    let client = Builder::new().build_with_connector_fn(|settings, components| {
        let mut b = ConnectorBuilder::default().tls_provider(Provider::Rustls(CryptoMode::AwsLc));
        b.set_connector_settings(settings.cloned());
        if let Some(c) = components {
            b.set_sleep_impl(c.sleep_impl());
        }
        b.set_proxy_config(Some(ProxyConfig::from_env()));
        b.build()
    });
    aws_smithy_runtime_api::client::http::SharedHttpClient::new(ConnectorsOnDemand(client))
}

/// The shared SDK HTTP client, less the check it runs each time an SDK client is built:
/// that check builds a connector (and parses the system's roots) only to throw it away.
/// Connectors are built on first use instead, once per timeout setting.
#[derive(Debug)]
struct ConnectorsOnDemand(aws_smithy_runtime_api::client::http::SharedHttpClient);

impl aws_smithy_runtime_api::client::http::HttpClient for ConnectorsOnDemand {
    fn http_connector(
        &self,
        settings: &aws_smithy_runtime_api::client::http::HttpConnectorSettings,
        components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
    ) -> aws_smithy_runtime_api::client::http::SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    fn connector_metadata(
        &self,
    ) -> Option<aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata> {
        self.0.connector_metadata()
    }
}
