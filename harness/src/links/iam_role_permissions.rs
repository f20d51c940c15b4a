//! `iam.role_permissions`: may the collector's role remote-write to this workspace? Reads
//! the role's attached (GetPolicy + GetPolicyVersion) and inline (GetRolePolicy)
//! policies and evaluates `aps:RemoteWrite` on the workspace's ARN with
//! `pipecheck_policy`. When `iam.role_trust` obtained the role's session from STS, it also
//! proves it: an empty remote write to the workspace signed as the role, which AMP
//! authorizes like any write. (F14; F05 is the harness's own identity.) With EKS Pod
//! Identity the role is the association's (its target role when it names one).

use aws_credential_types::provider::SharedCredentialsProvider;
use pipecheck_policy::{PolicyDocument, allows};
use prost::Message;

use super::{BoxFuture, Check, Link, RunContext};
use crate::amp_client::{AmpDataClient, WriterBehaviour};
use crate::arn::role_name;
use crate::cluster::call_failed;
use crate::signing::Signer;

pub struct IamRolePermissions;

const ACTION: &str = "aps:RemoteWrite";

/// One permission policy of the role, as read.
struct Policy {
    /// `managed arn:… (v3)` or `inline name`.
    source: String,
    text: String,
}

fn decode(doc: &str) -> String {
    percent_encoding::percent_decode_str(doc)
        .decode_utf8_lossy()
        .into_owned()
}

/// The role's permission policies: attached managed ones (default version), then inline.
async fn read_policies(ctx: &RunContext, role: &str) -> Result<Vec<Policy>, Check> {
    let iam = &ctx.target.iam;
    let t = ctx.deadlines.request;
    let late = || {
        Check::fail(
            format!(
                "IAM did not answer within {}",
                ctx.deadlines.request_named()
            ),
            "check network access to iam.amazonaws.com",
        )
    };
    let mut out = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let call = iam
            .list_attached_role_policies()
            .role_name(role)
            .set_marker(marker.clone())
            .send();
        let page = match tokio::time::timeout(t, call).await {
            Err(_) => return Err(late()),
            Ok(Err(e)) => {
                return Err(call_failed(
                    &format!("list the policies attached to role {role}"),
                    "iam:ListAttachedRolePolicies",
                    &e,
                ));
            }
            Ok(Ok(p)) => p,
        };
        for p in page.attached_policies() {
            let Some(arn) = p.policy_arn() else { continue };
            let got = match tokio::time::timeout(t, iam.get_policy().policy_arn(arn).send()).await {
                Err(_) => return Err(late()),
                Ok(Err(e)) => {
                    return Err(call_failed(
                        &format!("read policy {arn}"),
                        "iam:GetPolicy",
                        &e,
                    ));
                }
                Ok(Ok(g)) => g,
            };
            let version = got
                .policy()
                .and_then(|p| p.default_version_id())
                .unwrap_or("v1")
                .to_string();
            let call = iam
                .get_policy_version()
                .policy_arn(arn)
                .version_id(&version)
                .send();
            let v = match tokio::time::timeout(t, call).await {
                Err(_) => return Err(late()),
                Ok(Err(e)) => {
                    return Err(call_failed(
                        &format!("read policy {arn} version {version}"),
                        "iam:GetPolicyVersion",
                        &e,
                    ));
                }
                Ok(Ok(v)) => v,
            };
            let text = decode(
                v.policy_version()
                    .and_then(|pv| pv.document())
                    .unwrap_or_default(),
            );
            out.push(Policy {
                source: format!("managed {arn} ({version})"),
                text,
            });
        }
        match page.marker() {
            Some(m) if page.is_truncated() => marker = Some(m.to_string()),
            _ => break,
        }
    }
    let call = iam.list_role_policies().role_name(role).send();
    let names = match tokio::time::timeout(t, call).await {
        Err(_) => return Err(late()),
        Ok(Err(e)) => {
            return Err(call_failed(
                &format!("list role {role}'s inline policies"),
                "iam:ListRolePolicies",
                &e,
            ));
        }
        Ok(Ok(l)) => l.policy_names().to_vec(),
    };
    for name in names {
        let call = iam
            .get_role_policy()
            .role_name(role)
            .policy_name(&name)
            .send();
        let p = match tokio::time::timeout(t, call).await {
            Err(_) => return Err(late()),
            Ok(Err(e)) => {
                return Err(call_failed(
                    &format!("read role {role}'s inline policy {name}"),
                    "iam:GetRolePolicy",
                    &e,
                ));
            }
            Ok(Ok(p)) => p,
        };
        out.push(Policy {
            source: format!("inline {name}"),
            text: decode(p.policy_document()),
        });
    }
    Ok(out)
}

/// What a probe write's status proves: accepted (2xx), refused by AMP's authorization
/// (401/403), or nothing (throttled, server error, no answer).
fn proof_outcome(status: Option<u16>) -> Option<bool> {
    match status {
        Some(200..=299) => Some(true),
        Some(401 | 403) => Some(false),
        _ => None,
    }
}

impl Link for IamRolePermissions {
    fn check<'a>(&'a self, ctx: &'a RunContext) -> BoxFuture<'a, Check> {
        Box::pin(async move {
            let (role_arn, workspace_arn, creds, session, data, pod_identity) = {
                let f = ctx.facts();
                // With EKS Pod Identity and a target role, the pods get the target role.
                let target = f
                    .cluster
                    .pod_identity
                    .as_ref()
                    .and_then(|a| a.target_role_arn.clone());
                (
                    target.or_else(|| f.cluster.role_arn.clone()),
                    f.workspace_arn.clone(),
                    f.cluster.role_credentials.clone(),
                    f.cluster.role_session_arn.clone(),
                    f.data.clone(),
                    f.cluster.pod_identity.is_some(),
                )
            };
            let (Some(role_arn), Some(workspace_arn)) = (role_arn, workspace_arn) else {
                return Check::fail(
                    "no role or workspace to check",
                    "k8s.service_account and amp.workspace did not provide them",
                );
            };
            let name = role_name(&role_arn);
            let policies = match read_policies(ctx, name).await {
                Ok(p) => p,
                Err(c) => return c,
            };
            let mut docs = Vec::new();
            let mut shown = Vec::new();
            for p in &policies {
                match PolicyDocument::parse(&p.text) {
                    Ok(d) => docs.push(d),
                    Err(e) => shown.push(format!("{} (not evaluated: {e})", p.source)),
                }
                shown.push(format!("{}:\n{}", p.source, p.text.trim()));
            }
            let decision = allows(&docs, ACTION, &workspace_arn);
            let listed = if policies.is_empty() {
                "no policies attached or inline".to_string()
            } else {
                shown.join("\n\n")
            };

            // The proof: a write signed as the role's session, authorized by AMP itself.
            let proof = match (creds, data) {
                (Some(creds), Some(data)) => {
                    let signer = Signer::new(
                        SharedCredentialsProvider::new(creds),
                        ctx.target.region.clone(),
                    );
                    match AmpDataClient::new(ctx.target.http.clone(), data.endpoint(), signer) {
                        Ok(client) => {
                            let empty = pipecheck_prompb::WriteRequest::default().encode_to_vec();
                            let body = snap::raw::Encoder::new()
                                .compress_vec(&empty)
                                .unwrap_or_default();
                            let how = WriterBehaviour::default();
                            let call = client.remote_write(body, &how);
                            // Only AMP's refusal disproves the policies; a throttled,
                            // failed or unanswered probe proves nothing either way (a
                            // 429 here once blamed this link for F07's throttling).
                            match tokio::time::timeout(ctx.deadlines.request, call).await {
                                Ok(Ok(ex)) => Some((proof_outcome(ex.status), ex.summary())),
                                Ok(Err(e)) => Some((None, crate::error_chain(&e))),
                                Err(_) => Some((
                                    None,
                                    format!("no answer within {}", ctx.deadlines.request_named()),
                                )),
                            }
                        }
                        Err(e) => Some((None, e.to_string())),
                    }
                }
                _ => None,
            };
            let proof_text = match &proof {
                Some((outcome, summary)) => format!(
                    "an empty remote write signed as {}: {summary}{}",
                    session.as_deref().unwrap_or("the role's session"),
                    if outcome.is_none() {
                        " (inconclusive: neither accepted nor refused)"
                    } else {
                        ""
                    }
                ),
                None if pod_identity => "not attempted: EKS Pod Identity's credentials come from the node's agent (EKS Auth), which only the agent may ask".to_string(),
                None => "not attempted: no session of the role (iam.role_trust did not ask STS)"
                    .to_string(),
            };
            let with_evidence = |c: Check| {
                c.with(format!("policies of role {name}"), listed.clone())
                    .with(
                        "evaluation (pipecheck-policy)",
                        format!("{ACTION} on {workspace_arn}: {decision}"),
                    )
                    .with("proof", proof_text.clone())
            };
            let proved = proof.as_ref().and_then(|(outcome, _)| *outcome);
            if !decision.allowed() || proved == Some(false) {
                let verdict = if policies.is_empty() {
                    format!(
                        "role {name} has no permission policy: it may not {ACTION} to workspace {workspace_arn}"
                    )
                } else if decision.allowed() {
                    format!(
                        "AMP refused {ACTION} signed as role {name} although its policies, as pipecheck reads them, allow it"
                    )
                } else {
                    format!("no policy of role {name} allows {ACTION} on workspace {workspace_arn}")
                };
                return with_evidence(Check::fail(
                    verdict,
                    format!(
                        "attach a policy allowing {ACTION} on {workspace_arn} (or the AWS-managed AmazonPrometheusRemoteWriteAccess): aws iam attach-role-policy --role-name {name} --policy-arn arn:aws:iam::aws:policy/AmazonPrometheusRemoteWriteAccess; until then the collector's writes get 403 not authorized to perform {ACTION}"
                    ),
                ));
            }
            let how = if proved == Some(true) {
                "; a write signed as the role is accepted"
            } else {
                ""
            };
            with_evidence(Check::pass(format!(
                "role {name} may {ACTION} to workspace {workspace_arn} ({decision}){how}"
            )))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::proof_outcome;

    #[test]
    fn only_an_authorization_refusal_disproves_the_policies() {
        assert_eq!(proof_outcome(Some(200)), Some(true));
        assert_eq!(proof_outcome(Some(204)), Some(true));
        assert_eq!(proof_outcome(Some(403)), Some(false));
        assert_eq!(proof_outcome(Some(401)), Some(false));
        assert_eq!(proof_outcome(Some(429)), None);
        assert_eq!(proof_outcome(Some(503)), None);
        assert_eq!(proof_outcome(None), None);
    }
}
