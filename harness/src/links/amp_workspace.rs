//! `amp.workspace`: does the AMP workspace exist in this region and is it ACTIVE? (F02, F03)
//! A CREATING workspace is waited for, up to the workspace deadline.

use std::time::Duration;

use aws_sdk_amp::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_amp::operation::describe_workspace::DescribeWorkspaceError;
use aws_sdk_amp::types::WorkspaceStatusCode;

use super::{BoxFuture, Check, Link, RunContext};
use crate::amp_client::AmpDataClient;
use crate::signing::Signer;
use crate::wait::{Probe, Waited, wait_for};

pub struct AmpWorkspace;

enum Seen {
    Status(WorkspaceStatusCode, Option<String>, String),
    Missing(String),
    Error(String, Option<String>),
}

impl Link for AmpWorkspace {
    fn check<'a>(&'a self, ctx: &'a RunContext) -> BoxFuture<'a, Check> {
        Box::pin(async move {
            let region = ctx.target.region.clone();
            let Some(id) = ctx.target.workspace_id.clone() else {
                return Check::fail(
                    "no AMP workspace id given",
                    "name the workspace: --workspace ws-…, PIPECHECK_WORKSPACE_ID, or target.workspace_id in the scenario",
                );
            };
            let probe = || async {
                let call = ctx.target.amp.describe_workspace().workspace_id(&id).send();
                match tokio::time::timeout(ctx.deadlines.request, call).await {
                    Err(_) => Probe::Pending(Seen::Error(
                        format!(
                            "DescribeWorkspace did not answer within {}",
                            ctx.deadlines.request_named()
                        ),
                        None,
                    )),
                    Ok(Ok(out)) => {
                        let Some(ws) = out.workspace() else {
                            return Probe::Abort(Seen::Error(
                                "DescribeWorkspace answered without a workspace".into(),
                                None,
                            ));
                        };
                        let status = ws
                            .status()
                            .map(|s| s.status_code().clone())
                            .unwrap_or(WorkspaceStatusCode::from("UNKNOWN"));
                        let seen = Seen::Status(
                            status.clone(),
                            ws.prometheus_endpoint().map(str::to_string),
                            ws.arn().to_string(),
                        );
                        match status {
                            WorkspaceStatusCode::Creating | WorkspaceStatusCode::Updating => {
                                Probe::Pending(seen)
                            }
                            _ => Probe::Done(seen),
                        }
                    }
                    Ok(Err(SdkError::ServiceError(se)))
                        if matches!(
                            se.err(),
                            DescribeWorkspaceError::ResourceNotFoundException(_)
                        ) =>
                    {
                        Probe::Abort(Seen::Missing(DisplayErrorContext(se.err()).to_string()))
                    }
                    Ok(Err(e)) => {
                        let code = e.code().map(str::to_string);
                        let retry = matches!(
                            code.as_deref(),
                            Some("ThrottlingException" | "InternalServerException")
                        );
                        let seen = Seen::Error(DisplayErrorContext(&e).to_string(), code);
                        if retry {
                            Probe::Pending(seen)
                        } else {
                            Probe::Abort(seen)
                        }
                    }
                }
            };
            let waited = wait_for(
                "the workspace to become ACTIVE",
                ctx.deadlines.workspace,
                Duration::from_millis(50),
                probe,
            )
            .await;
            let (seen, after) = match waited {
                Waited::Done { value, after, .. } | Waited::Aborted { value, after, .. } => {
                    (value, after)
                }
                Waited::TimedOut {
                    last: Some(Seen::Status(status, _, arn)),
                    after,
                    ..
                } => {
                    return Check::fail(
                        format!("workspace {id} is still {} after {:.1}s", status.as_str(), after.as_secs_f64()),
                        "the workspace never became ACTIVE: check it in the AMP console; recreate it if it stays CREATING",
                    )
                    .with("workspace", format!("{arn} status {}", status.as_str()));
                }
                Waited::TimedOut { last, after, .. } => {
                    let detail = match last {
                        Some(Seen::Error(e, _)) => e,
                        _ => "no answer".to_string(),
                    };
                    return Check::fail(
                        format!("could not describe workspace {id} within {:.1}s", after.as_secs_f64()),
                        "AMP's control plane did not answer in time: check network access to aps.<region>.amazonaws.com",
                    )
                    .with("aps:DescribeWorkspace", detail);
                }
            };
            match seen {
                Seen::Missing(detail) => Check::fail(
                    format!("workspace {id} not found in {region}"),
                    format!("no workspace {id} exists in {region}: check the workspace id, and the region (a workspace made in another region is invisible here; its ARN names its region)"),
                )
                .with("aps:DescribeWorkspace", detail),
                Seen::Error(detail, code) => {
                    let denied = code.as_deref() == Some("AccessDeniedException");
                    Check::fail(
                        if denied { format!("not allowed to describe workspace {id}") } else { format!("could not describe workspace {id}") },
                        if denied { "allow aps:DescribeWorkspace for the harness's identity" } else { "see the evidence for AMP's answer" },
                    )
                    .with("aps:DescribeWorkspace", detail)
                }
                Seen::Status(WorkspaceStatusCode::Active, endpoint, arn) => {
                    let Some(endpoint) = endpoint.filter(|e| !e.is_empty()) else {
                        return Check::fail(
                            format!("workspace {id} is ACTIVE but has no prometheusEndpoint"),
                            "AMP did not return the workspace's endpoint; describe it with the AWS CLI to compare",
                        );
                    };
                    let signer = Signer::new(ctx.target.credentials.clone(), &region);
                    let client = match AmpDataClient::new(ctx.target.http.clone(), &endpoint, signer) {
                        Ok(c) => c,
                        Err(e) => return Check::fail(format!("workspace {id} has an unusable endpoint {endpoint:?}"), "see the evidence").with("error", e.to_string()),
                    };
                    {
                        let mut f = ctx.facts();
                        f.workspace_id = Some(id.clone());
                        f.workspace_arn = Some(arn.clone());
                        f.data = Some(client);
                    }
                    let waited = if after > Duration::from_millis(200) { format!(" (waited {:.1}s for it)", after.as_secs_f64()) } else { String::new() };
                    Check::pass(format!("workspace {id} is ACTIVE in {region}{waited}")).with("workspace", format!("{arn}\nprometheusEndpoint {endpoint}"))
                }
                Seen::Status(status, _, arn) => Check::fail(
                    format!("workspace {id} is {}, not ACTIVE", status.as_str()),
                    match status {
                        WorkspaceStatusCode::CreationFailed => "creating the workspace failed: delete it and create it again",
                        WorkspaceStatusCode::Deleting => "the workspace is being deleted: use another workspace or create a new one",
                        _ => "the workspace must be ACTIVE to take writes and queries",
                    },
                )
                .with("workspace", format!("{arn} status {}", status.as_str())),
            }
        })
    }
}
