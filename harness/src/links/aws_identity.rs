//! `aws.identity`: do the credentials the harness runs with work at all? (F01)

use aws_sdk_sts::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use super::{BoxFuture, Check, Link, RunContext};

pub struct AwsIdentity;

impl Link for AwsIdentity {
    fn check<'a>(&'a self, ctx: &'a RunContext) -> BoxFuture<'a, Check> {
        Box::pin(async move {
            let call = ctx.target.sts.get_caller_identity().send();
            let out = match tokio::time::timeout(ctx.deadlines.request, call).await {
                Err(_) => {
                    return Check::fail(
                        format!(
                            "STS GetCallerIdentity did not answer within {}",
                            ctx.deadlines.request_named()
                        ),
                        "the STS endpoint is unreachable from here: check network access to sts.<region>.amazonaws.com (or the STS VPC endpoint)",
                    );
                }
                Ok(r) => r,
            };
            match out {
                Ok(id) => {
                    let arn = id.arn().unwrap_or_default().to_string();
                    ctx.facts().caller_arn = Some(arn.clone());
                    Check::pass(format!(
                        "authenticated as {arn} (account {})",
                        id.account().unwrap_or("?")
                    ))
                }
                Err(e) => {
                    let detail = DisplayErrorContext(&e).to_string();
                    let no_such_host_hint =
                        crate::no_such_host_hint("the STS endpoint's host name");
                    let (verdict, hint) = match &e {
                        SdkError::DispatchFailure(_) if crate::is_no_such_host(&e) => (
                            "could not reach STS to check the credentials: no such host (the STS endpoint's name does not resolve)".to_string(),
                            no_such_host_hint.as_str(),
                        ),
                        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_) => (
                            "could not reach STS to check the credentials".to_string(),
                            "check network access to the STS endpoint",
                        ),
                        _ if detail.contains("no credentials") || detail.contains("the credential provider was not enabled") || detail.contains("failed to load credentials") || detail.contains("CredentialsNotLoaded") => (
                            "no AWS credentials found".to_string(),
                            "provide credentials: AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, an SSO login (aws sso login), or a role",
                        ),
                        _ => match e.code() {
                            Some("ExpiredToken") => (
                                "the AWS credentials have expired (STS ExpiredToken)".to_string(),
                                "refresh them: aws sso login, or a new session token / re-assumed role",
                            ),
                            Some("InvalidClientTokenId") => (
                                "the AWS access key is not recognised (STS InvalidClientTokenId)".to_string(),
                                "the access key id does not exist or was deleted: check which credentials are in use (aws configure list)",
                            ),
                            Some("SignatureDoesNotMatch") => (
                                "STS rejected the signature: the secret key does not match the access key".to_string(),
                                "check the secret access key paired with this access key id",
                            ),
                            Some(code) => (format!("STS refused the credentials: {code}"), "see the evidence for STS's answer"),
                            None => ("the credentials could not be checked".to_string(), "see the evidence"),
                        },
                    };
                    Check::fail(verdict, hint).with("sts:GetCallerIdentity", detail)
                }
            }
        })
    }
}
