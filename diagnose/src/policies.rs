//! IAM policies: the role's trust policy (L3) and its permission policies (D3, D4), both
//! read by `pipecheck_policy` and judged with its evaluator, the same one the mock STS and
//! the `iam.role_trust` link use. D8: documents IAM would refuse.
//!
//! A file may hold the bare policy or the output of `aws iam get-role`
//! (`Role.AssumeRolePolicyDocument`), `get-role-policy` (`PolicyDocument`) or
//! `get-policy-version` (`PolicyVersion.Document`).

use pipecheck_policy::{
    Decision, DecisionKind, Effect, Mismatch, PolicyDocument, PolicyError, Request, Test, evaluate,
    evaluate_web_identity, oidc_issuer, web_identity_claims,
};
use serde_json::Value;

use super::amp;
use super::context::Ctx;
use super::finding::{Finding, Severity};
use super::json::JsonDoc;
use super::yaml::Pos;

/// The audience EKS service account tokens carry for IRSA.
const STS_AUDIENCE: &str = "sts.amazonaws.com";

/// A policy read from one file, and where its elements are.
pub(crate) struct Loaded<'a> {
    pub file: &'a str,
    pub doc: PolicyDocument,
    json: &'a JsonDoc,
    /// The wrapper's path (`Role.AssumeRolePolicyDocument`), empty for a bare policy.
    prefix: String,
}

impl Loaded<'_> {
    /// The file position of a path inside the policy.
    fn pos(&self, p: &str) -> Pos {
        self.json.pos(&self.full(p))
    }

    fn full(&self, p: &str) -> String {
        match (self.prefix.is_empty(), p.is_empty()) {
            (true, _) => p.to_string(),
            (false, true) => self.prefix.clone(),
            (false, false) => format!("{}.{p}", self.prefix),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Trust,
    Permission,
}

/// Reads a policy; a document IAM would refuse is a D8 finding (and `None`).
pub(crate) fn load<'a>(
    ctx: &mut Ctx,
    file: &'a str,
    json: &'a JsonDoc,
    kind: Kind,
) -> Option<Loaded<'a>> {
    let (value, prefix) = unwrap(&json.value);
    let loaded = |doc| Loaded {
        file,
        doc,
        json,
        prefix: prefix.to_string(),
    };
    let doc = match PolicyDocument::from_value(value) {
        Ok(d) => d,
        Err(e) => {
            let (p, msg) = match &e {
                PolicyError::Invalid { path, message } => (path.clone(), message.clone()),
                PolicyError::Json { .. } => (String::new(), e.to_string()),
            };
            let l = loaded(PolicyDocument {
                version: None,
                id: None,
                statements: Vec::new(),
            });
            ctx.push(Finding::new(
                "D8",
                Severity::Error,
                file,
                l.pos(&p),
                l.full(&p),
                format!("IAM refuses this policy document (MalformedPolicyDocument): {msg}"),
                "fix the element named by the key path",
            ));
            return None;
        }
    };
    let l = loaded(doc);
    let mut bad = Vec::new();
    for st in &l.doc.statements {
        match kind {
            Kind::Trust => {
                if st.principal.is_none() {
                    bad.push((
                        st.path.clone(),
                        "a trust policy statement needs a Principal".to_string(),
                    ));
                }
                if st.resource.is_some() {
                    bad.push((st.path.clone(), "a trust policy statement has no Resource (IAM: \"Has prohibited field Resource\")".to_string()));
                }
            }
            Kind::Permission => {
                if st.principal.is_some() {
                    bad.push((st.path.clone(), "a permission (identity) policy statement has no Principal (IAM: \"Has prohibited field Principal\"); is this a trust policy?".to_string()));
                }
                if st.resource.is_none() {
                    bad.push((
                        st.path.clone(),
                        "a permission policy statement needs a Resource".to_string(),
                    ));
                }
            }
        }
    }
    for (p, msg) in bad {
        ctx.push(Finding::new(
            "D8",
            Severity::Error,
            file,
            l.pos(&p),
            l.full(&p),
            format!("IAM refuses this policy document: {msg}"),
            "fix the statement",
        ));
    }
    Some(l)
}

/// The policy inside the AWS CLI's answers, and its path.
fn unwrap(v: &Value) -> (&Value, &'static str) {
    if let Some(d) = v
        .get("Role")
        .and_then(|r| r.get("AssumeRolePolicyDocument"))
    {
        return (d, "Role.AssumeRolePolicyDocument");
    }
    if let Some(d) = v.get("PolicyVersion").and_then(|r| r.get("Document")) {
        return (d, "PolicyVersion.Document");
    }
    if v.get("Statement").is_none() {
        if let Some(d) = v.get("PolicyDocument") {
            return (d, "PolicyDocument");
        }
        if let Some(d) = v.get("AssumeRolePolicyDocument") {
            return (d, "AssumeRolePolicyDocument");
        }
    }
    (v, "")
}

/// L3 for one trust policy.
pub(crate) fn trust(ctx: &mut Ctx, l: &Loaded<'_>) {
    let file = l.file;
    let doc = &l.doc;
    // The OIDC providers the Allow statements trust.
    let mut providers: Vec<String> = Vec::new();
    for st in doc.statements.iter().filter(|s| s.effect == Effect::Allow) {
        let Some(p) = &st.principal else { continue };
        if p.negated() {
            continue;
        }
        for (i, f) in p.inner().federated.iter().enumerate() {
            if oidc_issuer(f).is_some() {
                ctx.note_account_of(f);
                if !providers.contains(f) {
                    providers.push(f.clone());
                }
            } else if !f.starts_with("arn:") || f.contains("oidc") {
                let at = if p.inner().federated.len() > 1 {
                    format!("{}.Principal.Federated[{i}]", st.path)
                } else {
                    format!("{}.Principal.Federated", st.path)
                };
                ctx.push(Finding::new(
                    "L3",
                    Severity::Error,
                    file,
                    l.pos(&at),
                    l.full(&at),
                    format!("`{f}` is not an OIDC provider ARN: IRSA needs `arn:aws:iam::<account>:oidc-provider/<issuer without https://>`"),
                    "name the cluster's IAM OIDC provider (aws iam list-open-id-connect-providers)",
                ).snippet("\"Federated\": \"arn:aws:iam::<account>:oidc-provider/oidc.eks.<region>.amazonaws.com/id/<id>\""));
            }
        }
    }
    let ident = ctx.identities.first().cloned();
    if providers.is_empty() {
        let first = doc
            .statements
            .first()
            .map(|s| s.path.clone())
            .unwrap_or_default();
        let sub = ident
            .as_ref()
            .map(|i| i.sub())
            .unwrap_or_else(|| "system:serviceaccount:<namespace>:<service-account>".into());
        ctx.push(
            Finding::new(
                "L3",
                Severity::Error,
                file,
                l.pos(&first),
                l.full(&first),
                "no Allow statement trusts an EKS OIDC provider (`Principal: {\"Federated\": \"arn:aws:iam::<account>:oidc-provider/…\"}`): a service account cannot assume this role through IRSA (STS AccessDenied on AssumeRoleWithWebIdentity)",
                "trust the cluster's OIDC provider for sts:AssumeRoleWithWebIdentity",
            )
            .snippet(trust_template("oidc.eks.<region>.amazonaws.com/id/<id>", "arn:aws:iam::<account>:oidc-provider/oidc.eks.<region>.amazonaws.com/id/<id>", &sub)),
        );
        return;
    }
    let mut root_cause_found = false;
    for st in doc.statements.iter().filter(|s| s.effect == Effect::Allow) {
        let Some(p) = &st.principal else { continue };
        let issuers: Vec<&str> = p
            .inner()
            .federated
            .iter()
            .filter_map(|f| oidc_issuer(f))
            .collect();
        if issuers.is_empty() {
            continue;
        }
        let subs: Vec<_> = st
            .conditions
            .iter()
            .filter(|c| ends_with_ci(&c.key, ":sub"))
            .collect();
        let auds: Vec<_> = st
            .conditions
            .iter()
            .filter(|c| ends_with_ci(&c.key, ":aud"))
            .collect();
        // Condition keys of another provider than the principal's: never in the token.
        for c in subs.iter().chain(auds.iter()) {
            let key_issuer = &c.key[..c.key.len() - 4];
            if !issuers.iter().any(|i| i.eq_ignore_ascii_case(key_issuer)) {
                root_cause_found = true;
                let right = format!("{}{}", issuers[0], &c.key[c.key.len() - 4..]);
                ctx.push(
                    Finding::new(
                        "L3",
                        Severity::Error,
                        file,
                        l.pos(&c.path),
                        l.full(&c.path),
                        format!(
                            "the condition key `{}` names issuer `{key_issuer}`, but the statement trusts the provider of `{}`: tokens carry `{right}`, so the condition never holds (STS AccessDenied)",
                            c.key, issuers[0]
                        ),
                        "key the condition by the trusted provider's issuer (the provider ARN after `oidc-provider/`)",
                    )
                    .snippet(format!("\"{right}\": \"{}\"", c.values.first().cloned().unwrap_or_default())),
                );
            }
        }
        for c in &subs {
            let literal_op = matches!(c.op.test, Test::StringEquals | Test::StringEqualsIgnoreCase);
            if literal_op && c.values.iter().any(|v| v.contains('*') || v.contains('?')) {
                root_cause_found = true;
                ctx.push(
                    Finding::new(
                        "L3",
                        Severity::Error,
                        file,
                        l.pos(&c.path),
                        l.full(&c.path),
                        format!(
                            "`{}` compares literally, so `*` and `?` in {} are not wildcards: no token matches",
                            c.op.name,
                            c.values.iter().map(|v| format!("`{v}`")).collect::<Vec<_>>().join(", ")
                        ),
                        "use StringLike for a wildcard, or name the service account exactly",
                    )
                    .snippet(format!("\"StringLike\": {{\n  \"{}\": \"{}\"\n}}", c.key, c.values[0])),
                );
            }
        }
        if subs.is_empty() {
            ctx.push(Finding::new(
                "L3",
                Severity::Warning,
                file,
                l.pos(&st.path),
                l.full(&st.path),
                "the statement has no `:sub` condition: every service account in the cluster (any namespace) can assume this role",
                "restrict it to the collector's service account",
            ).snippet(format!("\"StringEquals\": {{\n  \"{}:sub\": \"{}\"\n}}", issuers[0], ident.as_ref().map(|i| i.sub()).unwrap_or_else(|| "system:serviceaccount:<namespace>:<service-account>".into()))));
        }
        if auds.is_empty() && !subs.is_empty() {
            let at = subs[0].path.clone();
            ctx.push(
                Finding::new(
                    "L3",
                    Severity::Warning,
                    file,
                    l.pos(&at),
                    l.full(&at),
                    format!(
                        "the statement checks `{}` but not `{}:aud`: a token minted for any audience is accepted (AWS's IRSA setup pins the audience to `{STS_AUDIENCE}`)",
                        subs[0].key, issuers[0]
                    ),
                    format!("add the audience condition next to `{}`", subs[0].key),
                )
                .snippet(format!(
                    "\"StringEquals\": {{\n  \"{}\": \"{}\",\n  \"{}:aud\": \"{STS_AUDIENCE}\"\n}}",
                    subs[0].key,
                    subs[0].values.first().cloned().unwrap_or_default(),
                    issuers[0]
                )),
            );
        }
    }
    if root_cause_found {
        return;
    }
    // The cross-file check: does it admit the service account the chart or operator uses?
    if ctx.identities.is_empty() {
        return;
    }
    let identities = ctx.identities.clone();
    let mut first_denial: Option<(Decision, String)> = None;
    for id in &identities {
        for p in &providers {
            let claims = web_identity_claims(p, &id.sub(), STS_AUDIENCE);
            let d = evaluate_web_identity(doc, p, &claims);
            if d.allowed() {
                return;
            }
            if first_denial.is_none() {
                first_denial = Some((d, p.clone()));
            }
        }
    }
    let Some((decision, provider)) = first_denial else {
        return;
    };
    let id = &identities[0];
    let issuer = oidc_issuer(&provider).unwrap_or(&provider);
    // Point at the first element that failed (a condition, the action, the principal),
    // else at the deciding statement.
    let at = decision
        .misses
        .iter()
        .find_map(|m| {
            let st = &m.statement.path;
            m.reasons
                .iter()
                .map(|r| match r {
                    Mismatch::Condition { path, .. } | Mismatch::Unsupported { path, .. } => {
                        path.clone()
                    }
                    Mismatch::Action { negated, .. } => {
                        format!("{st}.{}", if *negated { "NotAction" } else { "Action" })
                    }
                    Mismatch::Principal { negated, .. } => format!(
                        "{st}.{}",
                        if *negated {
                            "NotPrincipal"
                        } else {
                            "Principal"
                        }
                    ),
                    _ => st.clone(),
                })
                // Conditions are the usual culprits: prefer one.
                .min_by_key(|p| !p.contains(".Condition."))
        })
        .or_else(|| decision.decided_by.as_ref().map(|s| s.path.clone()))
        .unwrap_or_default();
    let others = if identities.len() > 1 {
        format!(
            " (nor {})",
            identities[1..]
                .iter()
                .map(|i| format!("`{}`", i.sub()))
                .collect::<Vec<_>>()
                .join(", ")
        )
    } else {
        String::new()
    };
    let why = match decision.kind {
        DecisionKind::ExplicitDeny => format!("{decision}"),
        _ => decision
            .to_string()
            .trim_start_matches("not allowed: ")
            .to_string(),
    };
    let expected = expected_sub(doc);
    let mut fix = format!("make the `:sub` condition name `{}`", id.sub());
    if let Some((ns, name)) = expected.as_ref().and_then(|s| split_sub(s)) {
        fix.push_str(&format!(
            ", or run the collector where the policy expects it: namespace `{ns}`"
        ));
        match id.name_key {
            Some(k) => fix.push_str(&format!(
                " (`helm install -n {ns}`) and service account `{name}` (`{k}: {name}`)"
            )),
            None => fix.push_str(&format!(" and service account `{name}`")),
        }
    }
    ctx.push(
        Finding::new(
            "L3",
            Severity::Error,
            file,
            l.pos(&at),
            l.full(&at),
            format!(
                "the trust policy does not admit `{}`, {}{others}: {why}. STS answers AccessDenied (Not authorized to perform sts:AssumeRoleWithWebIdentity) and the collector crash-loops",
                id.sub(),
                id.origin
            ),
            fix,
        )
        .snippet(format!(
            "\"StringEquals\": {{\n  \"{issuer}:sub\": \"{}\",\n  \"{issuer}:aud\": \"{STS_AUDIENCE}\"\n}}",
            id.sub()
        )),
    );
}

/// The single literal `:sub` value the policy names, if there is exactly one.
fn expected_sub(doc: &PolicyDocument) -> Option<String> {
    let mut vals = doc
        .statements
        .iter()
        .flat_map(|s| s.conditions.iter())
        .filter(|c| ends_with_ci(&c.key, ":sub"))
        .flat_map(|c| c.values.iter());
    let first = vals.next()?.clone();
    (vals.next().is_none() && !first.contains('*') && !first.contains('?')).then_some(first)
}

fn split_sub(sub: &str) -> Option<(String, String)> {
    let rest = sub.strip_prefix("system:serviceaccount:")?;
    let (ns, name) = rest.split_once(':')?;
    Some((ns.to_string(), name.to_string()))
}

fn ends_with_ci(s: &str, suffix: &str) -> bool {
    s.len() >= suffix.len() && s[s.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
}

fn trust_template(issuer: &str, provider: &str, sub: &str) -> String {
    format!(
        "{{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [{{\n    \"Effect\": \"Allow\",\n    \"Principal\": {{\"Federated\": \"{provider}\"}},\n    \"Action\": \"sts:AssumeRoleWithWebIdentity\",\n    \"Condition\": {{\"StringEquals\": {{\n      \"{issuer}:sub\": \"{sub}\",\n      \"{issuer}:aud\": \"{STS_AUDIENCE}\"\n    }}}}\n  }}]\n}}"
    )
}

/// D3, D4 (and D2 for workspace ARNs) over every permission policy together, as IAM
/// evaluates the policies attached to one role.
pub(crate) fn permissions(ctx: &mut Ctx, loaded: &[Loaded<'_>]) {
    if loaded.is_empty() {
        return;
    }
    // D2: workspace ids in Resource ARNs.
    for l in loaded {
        for st in &l.doc.statements {
            let Some(r) = &st.resource else { continue };
            let many = r.inner().len() > 1;
            let el = if r.negated() {
                "NotResource"
            } else {
                "Resource"
            };
            for (i, arn) in r.inner().iter().enumerate() {
                let Some((_, ws)) = arn.split_once(":workspace/") else {
                    continue;
                };
                if ws.contains('*')
                    || ws.contains('?')
                    || ws.contains("${")
                    || !amp::placeholders(ws, amp::Expansion::Iam).is_empty()
                {
                    continue;
                }
                let at = if many {
                    format!("{}.{el}[{i}]", st.path)
                } else {
                    format!("{}.{el}", st.path)
                };
                if let Err((certain, why)) = amp::check_workspace_id(ws) {
                    ctx.push(Finding::new(
                        "D2",
                        if certain { Severity::Error } else { Severity::Warning },
                        l.file,
                        l.pos(&at),
                        l.full(&at),
                        format!("{why}; this statement grants nothing on the real workspace"),
                        "copy the workspace ARN from `aws amp describe-workspace` (the `arn` field)",
                    ));
                }
            }
        }
    }
    let resource = workspace_resource(ctx);
    let docs: Vec<PolicyDocument> = loaded.iter().map(|l| l.doc.clone()).collect();
    for (id, action, severity, why) in [
        (
            "D3",
            "aps:RemoteWrite",
            Severity::Error,
            "the collector's role needs it to write (403 not authorized to perform aps:RemoteWrite)",
        ),
        (
            "D4",
            "aps:QueryMetrics",
            Severity::Warning,
            "Grafana's data source role, and pipecheck's own query check, need it to read (403 on query); a role that only writes does not",
        ),
    ] {
        let d = evaluate(
            &docs,
            &Request {
                action,
                resource: resource.as_deref(),
                principal: None,
                context: &[],
                context_name: "the request",
            },
        );
        if d.allowed() {
            continue;
        }
        // Where to point: the deciding Deny, else the first Allow that missed.
        let (doc_i, at) = match (&d.decided_by, d.misses.first()) {
            (Some(s), _) => (s.document, s.path.clone()),
            (None, Some(m)) => (m.statement.document, m.statement.path.clone()),
            (None, None) => (0, String::new()),
        };
        let l = &loaded[doc_i];
        let on = match &resource {
            Some(r) => format!("on `{r}`"),
            None => "(the workspace ARN is unknown: pass the values file or collector config with the remote-write URL and the role-arn annotation; Resource was not checked)".to_string(),
        };
        let amp_prefix = docs.iter().flat_map(|x| x.statements.iter()).any(|s| {
            s.action
                .inner()
                .iter()
                .any(|a| a.to_ascii_lowercase().starts_with("amp:"))
        });
        let hint = if amp_prefix {
            " The IAM prefix of Amazon Managed Service for Prometheus is `aps`, not `amp`."
        } else {
            ""
        };
        let actions = if action == "aps:QueryMetrics" {
            "\"aps:QueryMetrics\", \"aps:GetSeries\", \"aps:GetLabels\", \"aps:GetMetricMetadata\""
        } else {
            "\"aps:RemoteWrite\""
        };
        ctx.push(
            Finding::new(
                id,
                severity,
                l.file,
                l.pos(&at),
                l.full(&at),
                format!("no permission policy allows `{action}` {on}: {d}. {why}.{hint}"),
                format!("allow `{action}` on the workspace"),
            )
            .snippet(format!(
                "{{\n  \"Effect\": \"Allow\",\n  \"Action\": [{actions}],\n  \"Resource\": \"{}\"\n}}",
                resource.clone().unwrap_or_else(|| "arn:aws:aps:<region>:<account>:workspace/<ws-id>".into())
            )),
        );
    }
}

/// The workspace ARN when the files name region, workspace and account.
fn workspace_resource(ctx: &Ctx) -> Option<String> {
    let ep = ctx
        .endpoints
        .iter()
        .find(|e| e.region.as_deref().is_some_and(amp::is_region) && e.workspace.is_some())?;
    let account = ctx.accounts.first()?;
    Some(amp::workspace_arn(
        ep.region.as_deref()?,
        account,
        ep.workspace.as_deref()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::{EndpointFact, Identity, Settings};

    const PROVIDER: &str =
        "arn:aws:iam::111122223333:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/ABC";
    const ISSUER: &str = "oidc.eks.us-east-1.amazonaws.com/id/ABC";
    const WS: &str = "ws-12345678-abcd-ef01-2345-6789abcdef01";

    fn ctx_with(ns: &str, sa: &str) -> Ctx {
        let mut ctx = Ctx::new(Settings {
            namespace: None,
            release: None,
            collector_image: None,
        });
        ctx.identities.push(Identity {
            namespace: ns.into(),
            name: sa.into(),
            origin: "the test's service account".into(),
            name_key: Some("serviceAccounts.server.name"),
        });
        ctx
    }

    fn trust_json(sub: &str, aud: bool) -> String {
        let aud = if aud {
            format!(",\n          \"{ISSUER}:aud\": \"sts.amazonaws.com\"")
        } else {
            String::new()
        };
        format!(
            "{{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [\n    {{\n      \"Effect\": \"Allow\",\n      \"Principal\": {{\"Federated\": \"{PROVIDER}\"}},\n      \"Action\": \"sts:AssumeRoleWithWebIdentity\",\n      \"Condition\": {{\n        \"StringEquals\": {{\n          \"{ISSUER}:sub\": \"{sub}\"{aud}\n        }}\n      }}\n    }}\n  ]\n}}\n"
        )
    }

    fn run_trust(ctx: &mut Ctx, text: &str) {
        let json = JsonDoc::parse(text).unwrap();
        if let Some(l) = load(ctx, "trust.json", &json, Kind::Trust) {
            trust(ctx, &l);
        }
    }

    fn ids(ctx: &Ctx) -> Vec<(&'static str, Severity, usize)> {
        ctx.findings
            .iter()
            .map(|f| (f.id, f.severity, f.line))
            .collect()
    }

    #[test]
    fn trust_for_the_right_service_account_passes() {
        let mut ctx = ctx_with("prometheus", "prometheus-server");
        run_trust(
            &mut ctx,
            &trust_json("system:serviceaccount:prometheus:prometheus-server", true),
        );
        assert!(ctx.findings.is_empty(), "{:?}", ctx.findings);
        assert_eq!(ctx.accounts, ["111122223333"]);
    }

    #[test]
    fn trust_for_another_namespace_fails_at_the_sub_line() {
        let mut ctx = ctx_with("prometheus", "prometheus-server");
        run_trust(
            &mut ctx,
            &trust_json("system:serviceaccount:springboot:adot", true),
        );
        assert_eq!(ids(&ctx), [("L3", Severity::Error, 10)]);
        let f = &ctx.findings[0];
        assert_eq!(f.column, 11);
        assert!(f.message.contains(&format!("`{ISSUER}:sub` must equal `system:serviceaccount:springboot:adot` but the token says `system:serviceaccount:prometheus:prometheus-server`")), "{}", f.message);
        assert!(f.fix.contains("namespace `springboot` (`helm install -n springboot`) and service account `adot` (`serviceAccounts.server.name: adot`)"), "{}", f.fix);
        assert!(
            f.snippet
                .as_deref()
                .unwrap()
                .contains("system:serviceaccount:prometheus:prometheus-server")
        );
    }

    #[test]
    fn trust_without_aud_warns() {
        let mut ctx = ctx_with("p", "s");
        run_trust(&mut ctx, &trust_json("system:serviceaccount:p:s", false));
        assert_eq!(ids(&ctx), [("L3", Severity::Warning, 10)]);
    }

    #[test]
    fn structural_trust_problems() {
        let mut ctx = ctx_with("p", "s");
        run_trust(&mut ctx, &trust_json("system:serviceaccount:p:*", true));
        assert_eq!(ids(&ctx), [("L3", Severity::Error, 10)]);
        assert!(ctx.findings[0].message.contains("not wildcards"));
        let mut ctx = ctx_with("p", "s");
        run_trust(
            &mut ctx,
            &trust_json("system:serviceaccount:p:s", true).replace(
                &format!("\"{ISSUER}:sub\""),
                "\"oidc.eks.us-east-1.amazonaws.com/id/OTHER:sub\"",
            ),
        );
        assert_eq!(ids(&ctx), [("L3", Severity::Error, 10)]);
        assert!(ctx.findings[0].message.contains("names issuer"));
        let mut ctx = ctx_with("p", "s");
        run_trust(
            &mut ctx,
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#,
        );
        assert_eq!(ids(&ctx), [("L3", Severity::Error, 1)]);
        assert!(
            ctx.findings[0]
                .snippet
                .as_deref()
                .unwrap()
                .contains("system:serviceaccount:p:s")
        );
        let mut ctx = ctx_with("p", "s");
        run_trust(
            &mut ctx,
            &trust_json("system:serviceaccount:p:s", true)
                .replace("sts:AssumeRoleWithWebIdentity", "sts:AssumeRole"),
        );
        assert_eq!(ids(&ctx), [("L3", Severity::Error, 7)]);
        assert!(
            ctx.findings[0]
                .message
                .contains("Action lists `sts:AssumeRole`, not `sts:AssumeRoleWithWebIdentity`"),
            "{}",
            ctx.findings[0].message
        );
    }

    #[test]
    fn malformed_policies_point_at_the_element() {
        let mut ctx = ctx_with("p", "s");
        run_trust(
            &mut ctx,
            "{\n  \"Statement\": [\n    {\n      \"Effect\": \"allow\",\n      \"Action\": \"sts:AssumeRoleWithWebIdentity\"\n    }\n  ]\n}",
        );
        assert_eq!(ids(&ctx), [("D8", Severity::Error, 4)]);
        assert_eq!(ctx.findings[0].key_path, "Statement[0].Effect");
        let mut ctx = ctx_with("p", "s");
        run_trust(
            &mut ctx,
            &format!(
                "{{\"Role\": {{\"RoleName\": \"x\", \"AssumeRolePolicyDocument\": {}}}}}",
                trust_json("system:serviceaccount:p:s", true)
            ),
        );
        assert!(ctx.findings.is_empty(), "{:?}", ctx.findings);
    }

    fn run_perm(ctx: &mut Ctx, texts: &[&str]) {
        let jsons: Vec<JsonDoc> = texts.iter().map(|t| JsonDoc::parse(t).unwrap()).collect();
        let loaded: Vec<Loaded<'_>> = jsons
            .iter()
            .filter_map(|j| load(ctx, "perm.json", j, Kind::Permission))
            .collect();
        permissions(ctx, &loaded);
    }

    fn with_workspace(ctx: &mut Ctx) {
        ctx.accounts.push("111122223333".into());
        ctx.endpoints.push(EndpointFact {
            file: "v.yaml".into(),
            key_path: "u".into(),
            pos: Pos::default(),
            region: Some("us-east-1".into()),
            workspace: Some(WS.into()),
        });
    }

    #[test]
    fn permissions_for_writing_and_querying() {
        let mut ctx = ctx_with("p", "s");
        with_workspace(&mut ctx);
        let arn = format!("arn:aws:aps:us-east-1:111122223333:workspace/{WS}");
        run_perm(
            &mut ctx,
            &[&format!(
                r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":["aps:RemoteWrite","aps:QueryMetrics"],"Resource":"{arn}"}}]}}"#
            )],
        );
        assert!(ctx.findings.is_empty(), "{:?}", ctx.findings);
        let mut ctx = ctx_with("p", "s");
        with_workspace(&mut ctx);
        run_perm(
            &mut ctx,
            &[
                "{\n \"Statement\": [\n  {\"Effect\": \"Allow\", \"Action\": \"aps:QueryMetrics\", \"Resource\": \"*\"}\n ]\n}",
            ],
        );
        assert_eq!(ids(&ctx), [("D3", Severity::Error, 3)]);
        assert!(ctx.findings[0].message.contains(&arn));
        let mut ctx = ctx_with("p", "s");
        run_perm(
            &mut ctx,
            &[r#"{"Statement":{"Effect":"Allow","Action":"amp:RemoteWrite","Resource":"*"}}"#],
        );
        assert_eq!(ctx.findings.len(), 2);
        assert!(ctx.findings[0].message.contains("not `amp`"));
        assert!(ctx.findings[0].message.contains("Resource was not checked"));
        assert_eq!(ctx.findings[1].id, "D4");
        // Another workspace in Resource.
        let mut ctx = ctx_with("p", "s");
        with_workspace(&mut ctx);
        run_perm(
            &mut ctx,
            &[
                r#"{"Statement":{"Effect":"Allow","Action":"aps:*","Resource":"arn:aws:aps:us-east-1:111122223333:workspace/ws-99999999-abcd-ef01-2345-6789abcdef01"}}"#,
            ],
        );
        assert_eq!(ctx.findings.len(), 2);
        assert!(ctx.findings[0].message.contains("Resource lists"));
        // An explicit deny in a second file.
        let mut ctx = ctx_with("p", "s");
        run_perm(
            &mut ctx,
            &[
                r#"{"Statement":{"Effect":"Allow","Action":"aps:*","Resource":"*"}}"#,
                r#"{"Statement":{"Sid":"NoWrite","Effect":"Deny","Action":"aps:RemoteWrite","Resource":"*"}}"#,
            ],
        );
        assert_eq!(ctx.findings.len(), 1);
        assert!(
            ctx.findings[0]
                .message
                .contains("explicitly denied by Statement (Sid NoWrite)"),
            "{}",
            ctx.findings[0].message
        );
    }

    #[test]
    fn permission_policy_shape_and_workspace_arns() {
        let mut ctx = ctx_with("p", "s");
        run_perm(
            &mut ctx,
            &[
                r#"{"Statement":[{"Effect":"Allow","Action":"aps:*","Resource":"arn:aws:aps:us-east-1:1:workspace/my-ws"},{"Effect":"Allow","Principal":"*","Action":"aps:*","Resource":"*"}]}"#,
            ],
        );
        let got = ids(&ctx);
        assert!(got.contains(&("D8", Severity::Error, 1)), "{got:?}");
        assert!(got.contains(&("D2", Severity::Error, 1)), "{got:?}");
    }
}
