//! What the cluster links establish for the links after them (`Facts::cluster`). A link
//! reads only the facts of links it depends on.

use aws_credential_types::Credentials;

#[derive(Clone, Debug, Default)]
pub struct ClusterFacts {
    /// `eks.cluster`: the cluster's name, ARN, Kubernetes `major.minor`, API endpoint and
    /// OIDC issuer URL (`https://oidc.eks.<region>.amazonaws.com/id/<ID>`).
    pub name: Option<String>,
    pub arn: Option<String>,
    pub version: Option<String>,
    pub endpoint: Option<String>,
    pub oidc_issuer: Option<String>,
    /// `eks.cluster`: the cluster's VPC and subnets (`resourcesVpcConfig`).
    pub vpc_id: Option<String>,
    pub subnet_ids: Vec<String>,
    /// `eks.cluster`: the cluster security group EKS made and the additional ones
    /// (`clusterSecurityGroupId`, `securityGroupIds`), and whether the API endpoint has
    /// private access (None when EKS did not say).
    pub security_group_ids: Vec<String>,
    pub endpoint_private_access: Option<bool>,
    /// `iam.oidc_provider`: the IAM OIDC provider registered for that issuer.
    pub oidc_provider_arn: Option<String>,
    /// `k8s.service_account`: the namespace and service account the collector's pods run
    /// as, and the role its `eks.amazonaws.com/role-arn` annotation names.
    pub namespace: Option<String>,
    pub service_account: Option<String>,
    pub role_arn: Option<String>,
    /// `iam.role_trust`: the role's temporary credentials, when STS
    /// AssumeRoleWithWebIdentity was asked with a token of that service account.
    pub role_credentials: Option<Credentials>,
    /// The assumed-role session ARN those credentials are.
    pub role_session_arn: Option<String>,
    /// `k8s.service_account`: how the collector's pods get credentials (IRSA when they
    /// carry the web identity env, which the AWS SDKs try before container credentials),
    /// and, for EKS Pod Identity, the association (its role is `role_arn`).
    pub identity: Option<crate::scenario::IdentityMechanism>,
    pub pod_identity: Option<super::pod_identity::Association>,
}
