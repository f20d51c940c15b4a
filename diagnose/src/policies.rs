//! IAM policies: the role's trust policy (L3) and its permission policies (D3, D4), both
//! read by `pipecheck_policy` and judged with its evaluator, the same one the mock STS and
//! the `iam.role_trust` link use. D8: documents IAM would refuse.
//!
//! A file may hold the bare policy or the output of `aws iam get-role`
//! (`Role.AssumeRolePolicyDocument`), `get-role-policy` (`PolicyDocument`) or
//! `get-policy-version` (`PolicyVersion.Document`).

use pipecheck_policy::{
    Decision, DecisionKind, Effect, Mismatch, PolicyDocument, PolicyError, Request, Test, evaluate,
    evaluate_web_identity, glob_match, oidc_issuer, web_identity_claims,
};
use serde_json::Value;

use super::amp;
use super::context::Ctx;
use super::finding::{Finding, Severity};
use super::json::JsonDoc;
use super::names::{self, NameKind};
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
    // Identities whose names Kubernetes refuses (D20, in their own file) cannot be the
    // subject of a token: they are neither checked against nor suggested.
    let ident = ctx.identities.iter().find(|i| names_ok(i)).cloned();
    if providers.is_empty() && cross_account_hop(ctx, l) {
        return;
    }
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
        for c in &subs {
            if sub_names(ctx, l, c) {
                root_cause_found = true;
            }
            for v in &c.values {
                if let Some((_, name)) = names::split_sub(v) {
                    ctx.trust_subjects.push(name.to_string());
                }
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
    let identities: Vec<_> = ctx
        .identities
        .iter()
        .filter(|i| names_ok(i))
        .cloned()
        .collect();
    if identities.is_empty() {
        return;
    }
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
    if let Some((ns, name)) = expected
        .as_ref()
        .and_then(|s| split_sub(s))
        .filter(|(ns, name)| {
            names::is_valid(NameKind::Namespace, ns)
                && names::is_valid(NameKind::ServiceAccount, name)
        })
    {
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

/// Whether an identity's namespace and name are ones Kubernetes accepts.
fn names_ok(id: &super::context::Identity) -> bool {
    names::is_valid(NameKind::Namespace, &id.namespace)
        && names::is_valid(NameKind::ServiceAccount, &id.name)
}

/// D20 for one `:sub` condition: `system:serviceaccount:<ns>:<name>` values whose namespace
/// or name Kubernetes refuses can never match a token. Whether one was found.
fn sub_names(ctx: &mut Ctx, l: &Loaded<'_>, c: &pipecheck_policy::Condition) -> bool {
    // Only a condition that must hold for the token: a negated one never "can never match".
    let glob = match c.op.test {
        Test::StringLike => true,
        Test::StringEquals | Test::StringEqualsIgnoreCase => false,
        _ => return false,
    };
    let mut found = false;
    for v in &c.values {
        // A `*` compared literally is L3's finding (not a wildcard under StringEquals).
        if names::templated(v) || (!glob && v.contains(['*', '?'])) {
            continue;
        }
        // Compared without case, `Monitoring` matches the token's `monitoring`.
        let lowered;
        let v = if c.op.test == Test::StringEqualsIgnoreCase {
            lowered = v.to_ascii_lowercase();
            &lowered
        } else {
            v
        };
        let Some((ns, name)) = names::split_sub(v) else {
            continue;
        };
        let problems = [
            (NameKind::Namespace, ns, "namespace"),
            (NameKind::ServiceAccount, name, "service account"),
        ];
        let Some((kind, part, which, why)) = problems.iter().find_map(|(k, part, which)| {
            names::problem(*k, part, glob).map(|w| (*k, *part, *which, w))
        }) else {
            continue;
        };
        found = true;
        // The fix names a valid subject: the collector's own when another file tells it,
        // else the closest valid spelling.
        let right = ctx
            .identities
            .iter()
            .find(|i| names_ok(i))
            .map(|i| i.sub())
            .or_else(|| {
                let ns = names::suggest(NameKind::Namespace, ns)?;
                let name = names::suggest(NameKind::ServiceAccount, name)?;
                (!glob || !v.contains(['*', '?']))
                    .then(|| format!("system:serviceaccount:{ns}:{name}"))
            });
        let mut f = Finding::new(
            "D20",
            Severity::Error,
            l.file,
            l.pos(&c.path),
            l.full(&c.path),
            format!(
                "`{v}` can never match: {why} ({}), so no service account token carries this `sub` and STS answers AccessDenied for every pod",
                kind.rule()
            ),
            match &right {
                Some(r) => format!("name the {which} the collector really runs as: `{r}`"),
                None => {
                    format!("name the {which} the collector really runs as (`{part}` is not one)")
                }
            },
        );
        if let Some(r) = right {
            f = f.snippet(format!("\"{}\": \"{r}\"", c.key));
        }
        ctx.push(f);
    }
    found
}

/// A trust policy without an OIDC provider that lets an AWS principal `sts:AssumeRole`:
/// the second role of a cross-account hop (the collector's `sigv4.role_arn` /
/// `assume_role.arn`), which IRSA does not assume directly. An info naming who may assume
/// it; `false` when the policy is not of that shape.
fn cross_account_hop(ctx: &mut Ctx, l: &Loaded<'_>) -> bool {
    let hop = l.doc.statements.iter().find_map(|st| {
        let p = st.principal.as_ref()?;
        let assumes = st.effect == Effect::Allow
            && !p.negated()
            && !p.inner().aws.is_empty()
            && !st.action.negated()
            && st
                .action
                .inner()
                .iter()
                .any(|a| glob_match(a, "sts:AssumeRole", true));
        assumes.then_some((st, &p.inner().aws))
    });
    let Some((st, aws)) = hop else { return false };
    for a in aws {
        ctx.note_account_of(a);
    }
    let at = format!("{}.Principal.AWS", st.path);
    ctx.push(Finding::new(
        "L3",
        Severity::Info,
        l.file,
        l.pos(&at),
        l.full(&at),
        format!(
            "this role is assumed with sts:AssumeRole by {}: the second hop of a cross-account setup (the collector's `sigv4.role_arn` / `assume_role.arn`), not an IRSA role. IRSA's trust (the OIDC provider and `:sub`) belongs on the first role, the one the service account's `{}` annotation names",
            aws.iter().map(|a| format!("`{a}`")).collect::<Vec<_>>().join(", "),
            super::values::ROLE_ARN
        ),
        "nothing to fix here; pass the first role's trust policy to check IRSA",
    ));
    true
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
    arn_shapes(ctx, loaded);
    let resource = workspace_resource(ctx);
    let docs: Vec<PolicyDocument> = loaded.iter().map(|l| l.doc.clone()).collect();
    let purpose = purpose(ctx, &docs, resource.as_deref());
    if purpose == Purpose::Hop {
        return;
    }
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
        // A role that only queries is Grafana's: lacking RemoteWrite is worth knowing, not
        // an error, unless the inputs say it is the collector's.
        let (severity, why) = match (id, purpose) {
            ("D3", Purpose::Query) => (
                Severity::Info,
                "this policy only queries, and no other input says the collector uses this role (no helm values or collector config given, no collector service account in the trust policy): fine for Grafana's data source role; the collector's role needs it to write",
            ),
            ("D3", Purpose::Unknown) => (
                Severity::Warning,
                "the collector's role needs it to write (403 not authorized to perform aps:RemoteWrite); whether this is the collector's role is not known (pass the collector's values or config, or the role's trust policy)",
            ),
            _ => (severity, why),
        };
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
                if severity == Severity::Info {
                    format!("nothing to fix for a query role; if the collector uses this role, allow `{action}` on the workspace")
                } else {
                    format!("allow `{action}` on the workspace")
                },
            )
            .snippet(format!(
                "{{\n  \"Effect\": \"Allow\",\n  \"Action\": [{actions}],\n  \"Resource\": \"{}\"\n}}",
                resource.clone().unwrap_or_else(|| "arn:aws:aps:<region>:<account>:workspace/<ws-id>".into())
            )),
        );
    }
}

/// What the role whose permission policies these are is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Purpose {
    /// The collector's: the inputs include its values or config, or the trust policy
    /// admits a collector-like service account.
    Collector,
    /// Grafana's or another reader's: the policies allow querying and nothing says the
    /// collector uses the role.
    Query,
    /// The first role of a cross-account hop: it only assumes another role.
    Hop,
    Unknown,
}

fn purpose(ctx: &Ctx, docs: &[PolicyDocument], resource: Option<&str>) -> Purpose {
    let allowed = |action: &str, resource: Option<&str>| {
        evaluate(
            docs,
            &Request {
                action,
                resource,
                principal: None,
                context: &[],
                context_name: "the request",
            },
        )
        .allowed()
    };
    let collector_subject = ctx.trust_subjects.iter().any(|s| {
        [
            "prometheus",
            "collector",
            "adot",
            "otel",
            "amp-ingest",
            "ingest",
            "agent",
            "alloy",
        ]
        .iter()
        .any(|w| s.contains(w))
    });
    let grafana_subject = ctx.trust_subjects.iter().any(|s| s.contains("grafana"));
    let mentions_aps = docs.iter().flat_map(|d| d.statements.iter()).any(|s| {
        s.action.inner().iter().any(|a| {
            let a = a.to_ascii_lowercase();
            a == "*" || a.starts_with("aps:") || a.starts_with("amp:")
        })
    });
    if ctx.writers || (collector_subject && !grafana_subject) {
        Purpose::Collector
    } else if !mentions_aps && allowed("sts:AssumeRole", None) {
        Purpose::Hop
    } else if allowed("aps:QueryMetrics", resource) || grafana_subject {
        Purpose::Query
    } else {
        Purpose::Unknown
    }
}

/// D25: ARNs in Resource that cannot name what they mean to: a workspace ARN is
/// `arn:<partition>:aps:<region>:<12 digits>:workspace/ws-…`, a role ARN
/// `arn:<partition>:iam::<12 digits>:role/…` (no region). A Resource of another shape
/// matches nothing, so its statement grants nothing.
fn arn_shapes(ctx: &mut Ctx, loaded: &[Loaded<'_>]) {
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
                let Some(why) = arn_problem(arn) else {
                    continue;
                };
                let at = if many {
                    format!("{}.{el}[{i}]", st.path)
                } else {
                    format!("{}.{el}", st.path)
                };
                ctx.push(Finding::new(
                    "D25",
                    Severity::Error,
                    l.file,
                    l.pos(&at),
                    l.full(&at),
                    format!("`{arn}` is not an ARN of the right shape: {why}; it matches no real resource, so this statement grants nothing on it"),
                    "copy the ARN from the resource itself (`aws amp describe-workspace` gives the workspace's `arn`, `aws iam get-role` the role's)",
                ).snippet(if arn.contains(":iam:") {
                    "\"Resource\": \"arn:aws:iam::<account>:role/<role-name>\""
                } else {
                    "\"Resource\": \"arn:aws:aps:<region>:<account>:workspace/ws-<uuid>\""
                }));
            }
        }
    }
}

/// Why `arn` cannot be an aps or iam ARN; `None` when its shape is right, it holds a
/// wildcard or placeholder where the shape is judged, or it is of another service.
fn arn_problem(arn: &str) -> Option<String> {
    if !arn.starts_with("arn:") || arn.contains("${") || names::templated(arn) {
        return None;
    }
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    if parts.len() < 6 {
        let service = parts.get(2).copied().unwrap_or_default();
        if !matches!(service, "aps" | "amp" | "iam") {
            return None;
        }
        let iam = if service == "iam" {
            " (IAM ARNs keep an empty region field: `arn:aws:iam::<account>:role/…`; one `:` is missing after `iam`)"
        } else {
            ""
        };
        return Some(format!(
            "an ARN has six `:`-separated fields (arn:partition:service:region:account:resource); this one has {}{iam}",
            parts.len()
        ));
    }
    let (partition, service, region, account, res) =
        (parts[1], parts[2], parts[3], parts[4], parts[5]);
    let wild = |s: &str| s.contains(['*', '?']);
    if !partition.starts_with("aws") && !wild(partition) {
        return Some(format!(
            "the partition is `{partition}`, not `aws` (or `aws-cn`, `aws-us-gov`)"
        ));
    }
    let account_ok = |a: &str| wild(a) || (a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()));
    match service {
        "amp" => Some("the service in an Amazon Managed Prometheus ARN is `aps`, not `amp`".into()),
        "aps" => {
            if region.is_empty() {
                Some("the region field is empty (`arn:aws:aps:<region>:…`)".into())
            } else if !account_ok(account) {
                Some(if account.is_empty() {
                    "the account field is empty (`…:<region>:<12-digit account>:workspace/…`)"
                        .to_string()
                } else {
                    format!("the account field is `{account}`, not a 12-digit account id")
                })
            } else if !wild(res)
                && ![
                    "workspace/",
                    "rulegroupsnamespace/",
                    "scraper/",
                    "anomalydetector/",
                ]
                .iter()
                .any(|p| res.starts_with(p))
            {
                Some(format!(
                    "the resource part is `{res}`; a workspace's is `workspace/ws-<uuid>` (singular `workspace`)"
                ))
            } else {
                None
            }
        }
        "iam" => {
            if !region.is_empty() {
                Some(format!(
                    "IAM ARNs have an empty region field (`arn:aws:iam::<account>:role/…`); this one has `{region}` there{}",
                    if account.is_empty() {
                        ", and the account field is empty: one `:` is missing after `iam`"
                    } else {
                        ""
                    }
                ))
            } else if !account_ok(account) && account != "aws" {
                Some(format!(
                    "the account field is `{account}`, not a 12-digit account id"
                ))
            } else {
                None
            }
        }
        _ => None,
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
        // The identity comes from the collector's values.
        ctx.writers = true;
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

    #[test]
    fn sub_names_kubernetes_refuses_can_never_match() {
        let mut ctx = ctx_with("monitoring", "prometheus-server");
        run_trust(
            &mut ctx,
            &trust_json(
                "system:serviceaccount:amp_monitoring:prometheus-server",
                true,
            ),
        );
        // D20 only: the L3 mismatch is its consequence.
        assert_eq!(ids(&ctx), [("D20", Severity::Error, 10)]);
        let f = &ctx.findings[0];
        assert!(
            f.message
                .contains("can never match: Kubernetes does not allow `_` in a namespace"),
            "{}",
            f.message
        );
        assert!(
            f.fix
                .contains("system:serviceaccount:monitoring:prometheus-server"),
            "{}",
            f.fix
        );
        // With no other input, the suggestion is the closest valid name.
        let mut ctx = Ctx::new(Settings {
            namespace: None,
            release: None,
            collector_image: None,
        });
        run_trust(
            &mut ctx,
            &trust_json("system:serviceaccount:obs:Prom_Server", true),
        );
        assert_eq!(ids(&ctx), [("D20", Severity::Error, 10)]);
        assert!(
            ctx.findings[0]
                .fix
                .contains("system:serviceaccount:obs:prom-server"),
            "{}",
            ctx.findings[0].fix
        );
        // StringLike wildcards and StringEqualsIgnoreCase are judged as IAM compares.
        let mut ctx = ctx_with("obs", "a");
        run_trust(
            &mut ctx,
            &trust_json("system:serviceaccount:obs:*", true).replace("StringEquals", "StringLike"),
        );
        assert!(ctx.findings.is_empty(), "{:?}", ctx.findings);
        let mut ctx = ctx_with("obs", "a");
        run_trust(
            &mut ctx,
            &trust_json("system:serviceaccount:Obs:A", true)
                .replace("StringEquals", "StringEqualsIgnoreCase"),
        );
        assert!(ctx.findings.is_empty(), "{:?}", ctx.findings);
        // An identity with an invalid name is never suggested in an L3 fix.
        let mut ctx = ctx_with("obs", "Bad_Name");
        run_trust(
            &mut ctx,
            &trust_json("system:serviceaccount:obs:other", true),
        );
        assert!(
            ctx.findings.iter().all(|f| !f.fix.contains("Bad_Name")),
            "{:?}",
            ctx.findings
        );
    }

    #[test]
    fn an_aws_principal_assuming_the_role_is_a_cross_account_hop() {
        let mut ctx = ctx_with("p", "s");
        run_trust(
            &mut ctx,
            "{\n \"Statement\": [{\n  \"Effect\": \"Allow\",\n  \"Principal\": {\"AWS\": \"arn:aws:iam::444455556666:role/irsa\"},\n  \"Action\": \"sts:AssumeRole\"\n }]\n}",
        );
        assert_eq!(ids(&ctx), [("L3", Severity::Info, 4)]);
        assert!(
            ctx.findings[0].message.contains("cross-account"),
            "{}",
            ctx.findings[0].message
        );
        assert!(ctx.accounts.contains(&"444455556666".to_string()));
    }

    #[test]
    fn permission_policies_are_judged_by_the_roles_purpose() {
        let query = r#"{"Statement":{"Effect":"Allow","Action":["aps:QueryMetrics","aps:GetSeries"],"Resource":"*"}}"#;
        let blank = || {
            Ctx::new(Settings {
                namespace: None,
                release: None,
                collector_image: None,
            })
        };
        // No collector among the inputs: Grafana's role, an info.
        let mut ctx = blank();
        run_perm(&mut ctx, &[query]);
        assert_eq!(ids(&ctx), [("D3", Severity::Info, 1)]);
        // The trust admits a collector's service account: an error.
        let mut ctx = blank();
        ctx.trust_subjects.push("adot-collector".into());
        run_perm(&mut ctx, &[query]);
        assert_eq!(ids(&ctx), [("D3", Severity::Error, 1)]);
        // Neither writes nor queries, purpose unknown: a warning.
        let mut ctx = blank();
        run_perm(
            &mut ctx,
            &[r#"{"Statement":{"Effect":"Allow","Action":"aps:ListWorkspaces","Resource":"*"}}"#],
        );
        assert_eq!(
            ids(&ctx),
            [("D3", Severity::Warning, 1), ("D4", Severity::Warning, 1)]
        );
        // Only a hop to another role: neither D3 nor D4.
        let mut ctx = blank();
        run_perm(
            &mut ctx,
            &[
                r#"{"Statement":{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"arn:aws:iam::444455556666:role/central"}}"#,
            ],
        );
        assert!(ctx.findings.is_empty(), "{:?}", ctx.findings);
    }

    #[test]
    fn resource_arns_of_the_wrong_shape() {
        for (arn, why) in [
            (
                "arn:aws:aps:us-east-1:111122223333:workspaces/ws-1",
                "singular",
            ),
            (
                "arn:aws:aps:us-east-1::workspace/ws-1",
                "account field is empty",
            ),
            (
                "arn:aws:aps::111122223333:workspace/ws-1",
                "region field is empty",
            ),
            (
                "arn:aws:amp:us-east-1:111122223333:workspace/ws-1",
                "`aps`, not `amp`",
            ),
            (
                "arn:aws:iam:444455556666:role/central",
                "one `:` is missing",
            ),
            (
                "arn:aws:aps:us-east-1:1234:workspace/ws-1",
                "not a 12-digit",
            ),
        ] {
            assert!(
                arn_problem(arn).is_some_and(|w| w.contains(why)),
                "{arn}: {:?}",
                arn_problem(arn)
            );
        }
        for ok in [
            "arn:aws:aps:us-east-1:111122223333:workspace/ws-1",
            "arn:aws:aps:*:*:workspace/*",
            "arn:aws:aps:us-east-1:111122223333:*",
            "arn:aws:iam::111122223333:role/x",
            "arn:aws:iam::aws:policy/AmazonPrometheusRemoteWriteAccess",
            "arn:aws:s3:::bucket",
            "arn:aws:aps:${Region}:111122223333:workspace/ws-1",
            "*",
        ] {
            assert_eq!(arn_problem(ok), None, "{ok}");
        }
        let mut ctx = ctx_with("p", "s");
        run_perm(
            &mut ctx,
            &[
                r#"{"Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":["arn:aws:iam::111122223333:role/a","arn:aws:iam:111122223333:role/b"]}]}"#,
            ],
        );
        let d25: Vec<_> = ctx
            .findings
            .iter()
            .filter(|f| f.id == "D25")
            .map(|f| f.key_path.as_str())
            .collect();
        assert_eq!(d25, ["Statement[0].Resource[1]"]);
    }
}
