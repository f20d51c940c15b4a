//! `iam.role_trust`: does the role the service account's annotation names trust exactly
//! the namespace and service account the collector's pods run as, through this cluster's
//! OIDC provider, with audience `sts.amazonaws.com`? (F12)
//!
//! Two answers, side by side: the trust policy read with GetRole and evaluated by
//! `pipecheck_policy` (the evaluator `diagnose` and the mock STS use), and, where the run
//! may request a service account token (not on a read-only `--target aws` run), STS
//! itself: AssumeRoleWithWebIdentity with a fresh token of that service account. The
//! session's credentials let `iam.role_permissions` prove what the collector may do.
//!
//! With EKS Pod Identity (`k8s.service_account` found the association in effect) the
//! question is the association's role trusting the service principal
//! `pods.eks.amazonaws.com` for `sts:AssumeRole` and `sts:TagSession` (F37), evaluated
//! with the session tags EKS passes; no OIDC provider is involved.

use crate::arn::role_name;
use crate::cluster::decode_policy;
use aws_credential_types::Credentials;
use aws_sdk_iam::operation::get_role::GetRoleError;
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::Api;
use kube::api::PostParams;
use pipecheck_policy::{
    Decision, Effect, PolicyDocument, WEB_IDENTITY_ACTION, evaluate_web_identity, glob_match,
    oidc_issuer, web_identity_claims,
};

use super::{BoxFuture, Check, Link, RunContext};
use crate::cluster::pod_identity::{self, Association, PODS_PRINCIPAL, TRUST_ACTIONS};
use crate::cluster::{KubeFailure, STS_AUDIENCE, call_failed, sdk_error, subject};
use crate::scenario::IdentityMechanism;

pub struct IamRoleTrust;

/// What the role's web-identity `Allow` statements name: the `…:sub` values and the
/// federated principals.
fn trusted(doc: &PolicyDocument) -> (Vec<String>, Vec<String>) {
    let mut subs = Vec::new();
    let mut federated = Vec::new();
    for st in &doc.statements {
        let for_web_identity = st.effect == Effect::Allow
            && !st.action.negated()
            && st
                .action
                .inner()
                .iter()
                .any(|a| glob_match(a, WEB_IDENTITY_ACTION, true));
        if !for_web_identity {
            continue;
        }
        if let Some(p) = &st.principal
            && !p.negated()
        {
            federated.extend(p.inner().federated.iter().cloned());
        }
        for c in &st.conditions {
            if c.key.to_ascii_lowercase().ends_with(":sub") {
                subs.extend(c.values.iter().cloned());
            }
        }
    }
    subs.dedup();
    federated.dedup();
    (subs, federated)
}

/// What STS said when asked with a token of the service account.
enum Proof {
    Assumed { session: String, creds: Credentials },
    Refused { text: String },
    NotAttempted(String),
}

impl Link for IamRoleTrust {
    fn check<'a>(&'a self, ctx: &'a RunContext) -> BoxFuture<'a, Check> {
        Box::pin(async move {
            let (role_arn, ns, sa, provider_arn, identity, association, cluster_arn) = {
                let f = ctx.facts();
                (
                    f.cluster.role_arn.clone(),
                    f.cluster.namespace.clone(),
                    f.cluster.service_account.clone(),
                    f.cluster.oidc_provider_arn.clone(),
                    f.cluster.identity,
                    f.cluster.pod_identity.clone(),
                    f.cluster.arn.clone(),
                )
            };
            if identity == Some(IdentityMechanism::PodIdentity)
                && let (Some(role_arn), Some(ns), Some(sa), Some(association)) =
                    (&role_arn, &ns, &sa, &association)
            {
                let cluster_arn = cluster_arn.unwrap_or_default();
                return pod_identity_trust(ctx, role_arn, ns, sa, association, &cluster_arn).await;
            }
            let (Some(role_arn), Some(ns), Some(sa), Some(provider_arn)) =
                (role_arn, ns, sa, provider_arn)
            else {
                return Check::fail(
                    "no role, service account or OIDC provider to check",
                    "k8s.service_account and iam.oidc_provider did not provide them",
                );
            };
            let name = role_name(&role_arn);
            let (role_full_arn, text, doc) = match read_trust_policy(
                ctx,
                &role_arn,
                &format!("{ns}/{sa}'s annotation"),
                "fix the service account's eks.amazonaws.com/role-arn annotation",
            )
            .await
            {
                Ok(r) => r,
                Err(c) => return c,
            };
            let sub = subject(&ns, &sa);
            let claims = web_identity_claims(&provider_arn, &sub, STS_AUDIENCE);
            let decision = evaluate_web_identity(&doc, &provider_arn, &claims);
            let proof = prove_with_sts(ctx, &ns, &sa, &role_arn).await;

            let pretty = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| serde_json::to_string_pretty(&v).ok())
                .unwrap_or(text);
            let evaluation = evaluation_text(&decision, &claims);
            let (proof_ok, proof_text) = match &proof {
                Proof::Assumed { session, .. } => (Some(true), format!("allowed: {session}")),
                Proof::Refused { text, .. } => (Some(false), format!("refused: {text}")),
                Proof::NotAttempted(why) => (None, format!("not attempted: {why}")),
            };
            let with_evidence = |c: Check| {
                c.with("trust policy", format!("{role_full_arn}\n{pretty}"))
                    .with("evaluation (pipecheck-policy)", evaluation.clone())
                    .with("sts:AssumeRoleWithWebIdentity", proof_text.clone())
            };

            if !decision.allowed() || proof_ok == Some(false) {
                let (subs, federated) = trusted(&doc);
                let issuer = oidc_issuer(&provider_arn).unwrap_or(&provider_arn);
                let other_provider =
                    !federated.is_empty() && !federated.iter().any(|f| f == &provider_arn);
                let verdict = if other_provider {
                    format!(
                        "role {name} trusts the OIDC provider {}, not this cluster's {provider_arn}",
                        federated.join(", ")
                    )
                } else if !subs.is_empty() && !subs.iter().any(|s| glob_match(s, &sub, false)) {
                    format!(
                        "role {name} trusts {} but the collector's pods run as {sub} (namespace {ns}, service account {sa})",
                        subs.join(", ")
                    )
                } else if decision.allowed() {
                    format!(
                        "STS refused {sub} the role {name} although its trust policy, as pipecheck reads it, allows it"
                    )
                } else {
                    format!("role {name}'s trust policy does not let {sub} assume it: {decision}")
                };
                let hint = format!(
                    "set the trust policy's StringEquals to \"{issuer}:sub\": \"{sub}\" and \":aud\": \"{STS_AUDIENCE}\" under Principal Federated of this cluster's provider (aws iam update-assume-role-policy --role-name {name}), or run the collector as the service account the policy names; until then its pods get AccessDenied on {WEB_IDENTITY_ACTION}"
                );
                return with_evidence(Check::fail(verdict, hint));
            }
            if let Proof::Assumed { session, creds } = proof {
                let mut f = ctx.facts();
                f.cluster.role_credentials = Some(creds);
                f.cluster.role_session_arn = Some(session);
            }
            let how = match proof_ok {
                Some(true) => "; STS AssumeRoleWithWebIdentity with its token succeeds",
                _ => "",
            };
            with_evidence(Check::pass(format!(
                "role {name} trusts {sub} through this cluster's OIDC provider with audience {STS_AUDIENCE}{how}"
            )))
        })
    }
}

/// The role's trust policy, read with GetRole: its ARN, the decoded text and the parsed
/// document. `named_by` says where the role's name came from, `fix` how to name another.
async fn read_trust_policy(
    ctx: &RunContext,
    role_arn: &str,
    named_by: &str,
    fix: &str,
) -> Result<(String, String, PolicyDocument), Check> {
    let name = role_name(role_arn);
    let call = ctx.target.iam.get_role().role_name(name).send();
    let role = match tokio::time::timeout(ctx.deadlines.request, call).await {
        Err(_) => {
            return Err(Check::fail(
                format!(
                    "IAM GetRole did not answer within {}",
                    ctx.deadlines.request_named()
                ),
                "check network access to iam.amazonaws.com",
            ));
        }
        Ok(Err(e)) => {
            if matches!(
                e.as_service_error(),
                Some(GetRoleError::NoSuchEntityException(_))
            ) {
                return Err(Check::fail(
                    format!("role {role_arn}, named by {named_by}, does not exist"),
                    format!(
                        "create the role, or {fix} (a role in another account is invisible here)"
                    ),
                )
                .with("iam:GetRole", sdk_error(&e).1));
            }
            return Err(call_failed(&format!("read role {name}"), "iam:GetRole", &e));
        }
        Ok(Ok(out)) => out,
    };
    let Some(role) = role.role() else {
        return Err(Check::fail(
            format!("IAM answered GetRole for {name} without a role"),
            "see the evidence",
        ));
    };
    let text = decode_policy(role.assume_role_policy_document().unwrap_or_default());
    match PolicyDocument::parse(&text) {
        Ok(d) => Ok((role.arn().to_string(), text, d)),
        Err(e) => Err(Check::fail(
            format!("role {name}'s trust policy is not a valid policy document: {e}"),
            "fix the trust policy (aws iam update-assume-role-policy)",
        )
        .with("trust policy", text)),
    }
}

/// EKS Pod Identity: does the association's role trust `pods.eks.amazonaws.com` for
/// `sts:AssumeRole` and `sts:TagSession`, with the session tags EKS passes (F37)? Nothing
/// to prove with STS here: only the agent may ask EKS Auth for the pods' credentials.
async fn pod_identity_trust(
    ctx: &RunContext,
    role_arn: &str,
    ns: &str,
    sa: &str,
    association: &Association,
    cluster_arn: &str,
) -> Check {
    let name = role_name(role_arn);
    let (full_arn, text, doc) = match read_trust_policy(
        ctx,
        role_arn,
        &format!("pod identity association {}", association.id),
        "point the association at an existing role (aws eks update-pod-identity-association --role-arn)",
    )
    .await
    {
        Ok(r) => r,
        Err(c) => return c,
    };
    let tags = if association.disable_session_tags {
        Vec::new()
    } else {
        pod_identity::session_tags(cluster_arn, ns, sa)
    };
    let decisions = pod_identity::evaluate_trust(&doc, &tags);
    let pretty = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or(text);
    let mut evaluation = format!(
        "principal: service {PODS_PRINCIPAL}; session tags: {}",
        if tags.is_empty() {
            "none (the association disables them)".to_string()
        } else {
            tags.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    );
    for (action, d) in &decisions {
        evaluation.push_str(&format!("\n{action}: {d}"));
        for n in &d.notes {
            evaluation.push_str(&format!("\nnote: {n}"));
        }
    }
    let with_evidence = |c: Check| {
        c.with("trust policy", format!("{full_arn}\n{pretty}"))
            .with("evaluation (pipecheck-policy)", evaluation.clone())
            .with("pod identity association", association.line())
    };
    let denied: Vec<&str> = decisions
        .iter()
        .filter(|(_, d)| !d.allowed())
        .map(|(a, _)| *a)
        .collect();
    if denied.is_empty() {
        return with_evidence(Check::pass(format!(
            "role {name} trusts the EKS Pod Identity principal {PODS_PRINCIPAL} for {} (association {} of {ns}/{sa})",
            TRUST_ACTIONS.join(" and "),
            association.id
        )));
    }
    let names_principal = doc.statements.iter().any(|st| {
        st.effect == Effect::Allow
            && st.principal.as_ref().is_some_and(|p| {
                !p.negated() && p.inner().service.iter().any(|s| s == PODS_PRINCIPAL)
            })
    });
    let verdict = if denied.len() == TRUST_ACTIONS.len() && !names_principal {
        format!(
            "role {name}'s trust policy does not admit the EKS Pod Identity service principal {PODS_PRINCIPAL}: EKS cannot assume it for {ns}/{sa}'s pods (association {})",
            association.id
        )
    } else {
        format!(
            "role {name}'s trust policy does not let {PODS_PRINCIPAL} {}, which EKS Pod Identity needs{}",
            denied.join(" or "),
            if denied == ["sts:TagSession"] {
                " to pass the session tags with AssumeRole"
            } else {
                ""
            }
        )
    };
    with_evidence(Check::fail(
        verdict,
        format!(
            "add this statement to the role's trust policy (aws iam update-assume-role-policy --role-name {name}): {}; until then the agent gets AccessDenied from EKS Auth and the collector has no credentials",
            pod_identity::trust_statement()
        ),
    ))
}

fn evaluation_text(decision: &Decision, claims: &[(String, String)]) -> String {
    let mut s = format!(
        "token claims: {}\n{decision}",
        claims
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for n in &decision.notes {
        s.push_str(&format!("\nnote: {n}"));
    }
    s
}

/// Asks STS, the way the collector's pods do: a token of the service account for audience
/// `sts.amazonaws.com`, exchanged with AssumeRoleWithWebIdentity. The token and the
/// session's secrets are registered with the run's redactor before anything can print them.
async fn prove_with_sts(ctx: &RunContext, ns: &str, sa: &str, role_arn: &str) -> Proof {
    if !ctx.target.request_tokens {
        return Proof::NotAttempted(
            "a read-only run requests no service account tokens (that needs create on serviceaccounts/token); the verdict rests on the trust policy as read".to_string(),
        );
    }
    let Some(kube) = ctx.target.kube.as_ref() else {
        return Proof::NotAttempted("no Kubernetes API".to_string());
    };
    let request = TokenRequest {
        spec: Some(TokenRequestSpec {
            audiences: Some(vec![STS_AUDIENCE.to_string()]),
            expiration_seconds: Some(600),
            ..TokenRequestSpec::default()
        }),
        ..TokenRequest::default()
    };
    let api: Api<ServiceAccount> = Api::namespaced(kube.client.clone(), ns);
    let pp = PostParams::default();
    let call = api.create_token_request(sa, &pp, &request);
    let token = match tokio::time::timeout(ctx.deadlines.request, call).await {
        Ok(Ok(tr)) => tr.status.and_then(|s| s.token).unwrap_or_default(),
        Ok(Err(e)) => {
            return Proof::NotAttempted(format!(
                "no token for {ns}/{sa}: {}",
                KubeFailure::of(&e).line()
            ));
        }
        Err(_) => {
            return Proof::NotAttempted(format!(
                "the token request did not answer within {}",
                ctx.deadlines.request_named()
            ));
        }
    };
    if token.is_empty() {
        return Proof::NotAttempted("the token request answered without a token".to_string());
    }
    ctx.secrets.add_secret(token.clone());
    let session = format!("pipecheck-{}", ctx.run_id);
    let call = ctx
        .target
        .sts
        .assume_role_with_web_identity()
        .role_arn(role_arn)
        .role_session_name(&session)
        .web_identity_token(&token)
        .duration_seconds(900)
        .send();
    match tokio::time::timeout(ctx.deadlines.request, call).await {
        Err(_) => Proof::NotAttempted("STS did not answer in time".to_string()),
        Ok(Err(e)) => Proof::Refused {
            text: sdk_error(&e).1,
        },
        Ok(Ok(out)) => {
            let Some(c) = out.credentials() else {
                return Proof::Refused {
                    text: "STS answered without credentials".to_string(),
                };
            };
            ctx.secrets.add_secret(c.secret_access_key());
            ctx.secrets.add_secret(c.session_token());
            let creds = Credentials::new(
                c.access_key_id(),
                c.secret_access_key(),
                Some(c.session_token().to_string()),
                None,
                "pipecheck-irsa-proof",
            );
            let arn = out
                .assumed_role_user()
                .map(|u| u.arn().to_string())
                .unwrap_or_default();
            Proof::Assumed {
                session: arn,
                creds,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trusted_subjects_and_providers_are_read_from_web_identity_statements() {
        let doc = PolicyDocument::parse(
            r#"{"Version":"2012-10-17","Statement":[
              {"Effect":"Allow","Principal":{"Federated":"arn:aws:iam::1:oidc-provider/o/id/X"},
               "Action":"sts:AssumeRoleWithWebIdentity",
               "Condition":{"StringEquals":{"o/id/X:sub":"system:serviceaccount:springboot:a","o/id/X:aud":"sts.amazonaws.com"}}},
              {"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#,
        )
        .unwrap();
        let (subs, fed) = trusted(&doc);
        assert_eq!(subs, vec!["system:serviceaccount:springboot:a"]);
        assert_eq!(fed, vec!["arn:aws:iam::1:oidc-provider/o/id/X"]);
        assert_eq!(role_name("arn:aws:iam::1:role/path/r"), "r");
    }
}
