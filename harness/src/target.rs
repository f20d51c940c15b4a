//! Where the pipeline lives, inferred in one place: every client the links use is built
//! here, for the mock stack and for real AWS alike. A mock run differs only in endpoints
//! and credentials; the links cannot tell which target they talk to.

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
}

pub struct Target {
    pub kind: TargetKind,
    pub region: String,
    pub workspace_id: Option<String>,
    pub credentials: SharedCredentialsProvider,
    pub sts: aws_sdk_sts::Client,
    pub amp: aws_sdk_amp::Client,
    pub http: reqwest::Client,
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
        Self::from_parts(TargetKind::Mock, &sdk, sts, amp, ep.workspace_id.clone())
    }

    /// Clients for real AWS: the default credential chain and region, with any endpoint
    /// overrides the user set (`AWS_ENDPOINT_URL_AMP`, ...). Fails if no credentials load.
    pub async fn aws(
        region: Option<String>,
        workspace_id: Option<String>,
    ) -> Result<Self, TargetError> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(r) = region {
            loader = loader.region(Region::new(r));
        }
        let sdk = loader.load().await;
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
        Self::from_parts(TargetKind::Aws, &sdk, sts, amp, workspace_id)
    }

    fn from_parts(
        kind: TargetKind,
        sdk: &SdkConfig,
        sts: aws_sdk_sts::Client,
        amp: aws_sdk_amp::Client,
        workspace_id: Option<String>,
    ) -> Result<Self, TargetError> {
        let credentials = sdk
            .credentials_provider()
            .expect("a credentials provider is configured");
        let http = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(5))
            .build()
            .map_err(TargetError::Http)?;
        Ok(Self {
            kind,
            region: sdk.region().map(|r| r.to_string()).unwrap_or_default(),
            workspace_id,
            credentials,
            sts,
            amp,
            http,
        })
    }
}
