//! `iam.oidc_provider`: is the cluster's OIDC issuer registered in IAM as an identity
//! provider with audience `sts.amazonaws.com`? Without it STS refuses every service
//! account token with InvalidIdentityToken, whatever the roles say. (F13) EKS Pod Identity
//! needs no provider: when the collector's namespace uses it (or the scenario says so), a
//! missing provider is a warning.

use super::{BoxFuture, Check, Link, RunContext};
use crate::cluster::{STS_AUDIENCE, call_failed};

pub struct IamOidcProvider;

impl Link for IamOidcProvider {
    fn check<'a>(&'a self, ctx: &'a RunContext) -> BoxFuture<'a, Check> {
        Box::pin(async move {
            let (issuer, cluster) = {
                let f = ctx.facts();
                (
                    f.cluster.oidc_issuer.clone(),
                    f.cluster.name.clone().unwrap_or_default(),
                )
            };
            let Some(issuer) = issuer else {
                return Check::fail(
                    "no OIDC issuer to look for",
                    "eks.cluster did not provide one",
                );
            };
            let url = issuer.trim_start_matches("https://").to_string();
            let call = ctx.target.iam.list_open_id_connect_providers().send();
            let listed = match tokio::time::timeout(ctx.deadlines.request, call).await {
                Err(_) => {
                    return Check::fail(
                        format!(
                            "IAM ListOpenIDConnectProviders did not answer within {}",
                            ctx.deadlines.request_named()
                        ),
                        "check network access to iam.amazonaws.com",
                    );
                }
                Ok(Err(e)) => {
                    return call_failed(
                        "list IAM OIDC providers",
                        "iam:ListOpenIDConnectProviders",
                        &e,
                    );
                }
                Ok(Ok(out)) => out,
            };
            let arns: Vec<String> = listed
                .open_id_connect_provider_list()
                .iter()
                .filter_map(|p| p.arn().map(str::to_string))
                .collect();
            let suffix = format!(":oidc-provider/{url}");
            let Some(arn) = arns.iter().find(|a| a.ends_with(&suffix)).cloned() else {
                // EKS Pod Identity needs no OIDC provider: a collector using it is fine.
                if let Some(why) = ctx.pod_identity_in_use(&cluster).await {
                    return Check::warn(
                        format!(
                            "no IAM OIDC provider for cluster {cluster}'s issuer {url}: IRSA cannot work on this cluster, but {why}, which needs none"
                        ),
                        format!(
                            "nothing to do for EKS Pod Identity; for IRSA: eksctl utils associate-iam-oidc-provider --cluster {cluster} --approve"
                        ),
                    )
                    .with("cluster OIDC issuer", issuer.clone());
                }
                return Check::fail(
                    format!("no IAM OIDC provider for cluster {cluster}'s issuer {url}"),
                    format!(
                        "associate the cluster's issuer with IAM: eksctl utils associate-iam-oidc-provider --cluster {cluster} --approve (until then STS answers every pod's token with InvalidIdentityToken: No OpenIDConnect provider found in your account for {issuer})"
                    ),
                )
                .with("cluster OIDC issuer", issuer.clone())
                .with(
                    "iam:ListOpenIDConnectProviders",
                    if arns.is_empty() { "no providers".to_string() } else { arns.join("\n") },
                );
            };
            let call = ctx
                .target
                .iam
                .get_open_id_connect_provider()
                .open_id_connect_provider_arn(&arn)
                .send();
            let provider = match tokio::time::timeout(ctx.deadlines.request, call).await {
                Err(_) => {
                    return Check::fail(
                        format!(
                            "IAM GetOpenIDConnectProvider did not answer within {}",
                            ctx.deadlines.request_named()
                        ),
                        "check network access to iam.amazonaws.com",
                    );
                }
                Ok(Err(e)) => {
                    return call_failed(
                        &format!("read the IAM OIDC provider {arn}"),
                        "iam:GetOpenIDConnectProvider",
                        &e,
                    );
                }
                Ok(Ok(p)) => p,
            };
            let clients = provider.client_id_list().to_vec();
            let evidence = format!(
                "{arn}\nurl {}\nclient ids {}\nthumbprints {}",
                provider.url().unwrap_or_default(),
                clients.join(", "),
                provider.thumbprint_list().join(", ")
            );
            if !clients.iter().any(|c| c == STS_AUDIENCE) {
                return Check::fail(
                    format!("the IAM OIDC provider for {url} does not list audience {STS_AUDIENCE}"),
                    format!(
                        "add the client id: aws iam add-client-id-to-open-id-connect-provider --open-id-connect-provider-arn {arn} --client-id {STS_AUDIENCE} (STS answers IRSA tokens with InvalidIdentityToken: Incorrect token audience until then)"
                    ),
                )
                .with("iam:GetOpenIDConnectProvider", evidence);
            }
            ctx.facts().cluster.oidc_provider_arn = Some(arn.clone());
            Check::pass(format!(
                "cluster {cluster}'s OIDC issuer is registered in IAM ({arn}) with audience {STS_AUDIENCE}"
            ))
            .with("iam:GetOpenIDConnectProvider", evidence)
        })
    }
}
