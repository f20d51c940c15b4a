//! Evaluation: does a set of policies allow a request, and why (not).
//!
//! IAM's order, restricted to one account and the elements modelled here: an applicable
//! `Deny` wins over everything; else an applicable `Allow` allows; else the request is
//! implicitly denied. A statement applies when its principal, action, resource and every
//! condition match. For an implicit deny the decision lists, for each `Allow` statement,
//! every part that did not match, so a person can see what to change.

use std::fmt;

use serde::Serialize;

use crate::document::{
    Condition, Effect, PolicyDocument, Principals, SetQualifier, Statement, Test,
};
use crate::glob::glob_match;

/// The action a web identity (an EKS service account token) needs the trust policy to allow.
pub const WEB_IDENTITY_ACTION: &str = "sts:AssumeRoleWithWebIdentity";

/// Who makes a request, for statements with a `Principal` (trust and resource policies).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum PrincipalRef<'a> {
    /// An identity provider ARN: `arn:aws:iam::ACCOUNT:oidc-provider/ISSUER`.
    Federated(&'a str),
    /// An IAM ARN (user, role, assumed role) or an account root.
    Aws(&'a str),
    /// A service principal such as `ec2.amazonaws.com`.
    Service(&'a str),
}

/// One request to evaluate.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// e.g. `aps:RemoteWrite`.
    pub action: &'a str,
    /// The resource ARN; `None` skips `Resource` matching (trust policies have none, and
    /// a caller that does not know the ARN can still ask about the action).
    pub resource: Option<&'a str>,
    /// `None` skips `Principal` matching (identity-based policies have none).
    pub principal: Option<PrincipalRef<'a>>,
    /// Condition keys and their values; a key given twice is multi-valued. Keys compare
    /// case-insensitively, values case-sensitively.
    pub context: &'a [(&'a str, &'a str)],
    /// How explanations name the context: `the token`, `the request`.
    pub context_name: &'a str,
}

/// How the evaluation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DecisionKind {
    Allowed,
    /// An applicable `Deny` statement.
    ExplicitDeny,
    /// No applicable `Allow` statement.
    ImplicitDeny,
}

/// A statement, named for a person: its path in its document and its `Sid`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StatementRef {
    /// Index of the document in the slice that was evaluated.
    pub document: usize,
    /// e.g. `Statement[1]`.
    pub path: String,
    pub sid: Option<String>,
    pub effect: Effect,
}

impl fmt::Display for StatementRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path)?;
        if let Some(sid) = &self.sid {
            write!(f, " (Sid {sid})")?;
        }
        Ok(())
    }
}

/// One reason a statement did not apply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "element", rename_all = "snake_case")]
pub enum Mismatch {
    /// The requester is not among the statement's principals (or is excluded by
    /// `NotPrincipal`, or the statement has no principal at all).
    Principal {
        requester: String,
        /// What the statement names, e.g. ``Federated `arn:…` ``.
        listed: Vec<String>,
        negated: bool,
    },
    Action {
        action: String,
        listed: Vec<String>,
        negated: bool,
    },
    Resource {
        resource: String,
        listed: Vec<String>,
        negated: bool,
    },
    /// The request names a resource; the statement has no `Resource` element.
    NoResource,
    Condition {
        /// e.g. `Statement[0].Condition.StringEquals."oidc…:sub"`.
        path: String,
        /// As written, e.g. `ForAnyValue:StringLike`.
        operator: String,
        key: String,
        expected: Vec<String>,
        /// The context's values for the key; empty when the key is absent.
        actual: Vec<String>,
        /// How to name the context (`the token`).
        source: String,
        /// When the key is absent: a context key with the same last segment (`…:sub`),
        /// which usually means the condition names another OIDC provider.
        similar_key: Option<String>,
        #[serde(skip)]
        test: Test,
        #[serde(skip)]
        qualifier: Option<SetQualifier>,
    },
    /// An operator this evaluator does not evaluate (see [`Test::Unsupported`]).
    Unsupported {
        path: String,
        operator: String,
        key: String,
    },
}

fn ticked(items: &[String]) -> String {
    items
        .iter()
        .map(|s| format!("`{s}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mismatch::Principal {
                requester,
                listed,
                negated,
            } => {
                if listed.is_empty() {
                    write!(
                        f,
                        "the statement has no Principal, so it cannot admit `{requester}`"
                    )
                } else if *negated {
                    write!(f, "NotPrincipal excludes `{requester}`")
                } else {
                    write!(
                        f,
                        "Principal names {}, not `{requester}`",
                        listed.join(", ")
                    )
                }
            }
            Mismatch::Action {
                action,
                listed,
                negated,
            } => {
                if *negated {
                    write!(f, "NotAction excludes `{action}`")
                } else {
                    write!(f, "Action lists {}, not `{action}`", ticked(listed))
                }
            }
            Mismatch::Resource {
                resource,
                listed,
                negated,
            } => {
                if *negated {
                    write!(f, "NotResource excludes `{resource}`")
                } else {
                    write!(f, "Resource lists {}, not `{resource}`", ticked(listed))
                }
            }
            Mismatch::NoResource => write!(f, "the statement has no Resource"),
            Mismatch::Condition {
                operator,
                key,
                expected,
                actual,
                source,
                similar_key,
                test,
                qualifier,
                ..
            } => {
                if *test == Test::Null {
                    let want_absent = expected.iter().any(|v| v.eq_ignore_ascii_case("true"));
                    return if want_absent {
                        write!(f, "`{key}` must be absent ({operator}) but {source} has it")
                    } else {
                        write!(
                            f,
                            "`{key}` must be present ({operator}) but {source} has no `{key}`"
                        )
                    };
                }
                let subject = match qualifier {
                    None => format!("`{key}`"),
                    Some(SetQualifier::ForAnyValue) => format!("a value of `{key}`"),
                    Some(SetQualifier::ForAllValues) => format!("every value of `{key}`"),
                };
                let verb = match test {
                    Test::StringEquals | Test::ArnEquals => "must equal",
                    Test::StringNotEquals | Test::ArnNotEquals => "must not equal",
                    Test::StringEqualsIgnoreCase => "must equal (ignoring case)",
                    Test::StringNotEqualsIgnoreCase => "must not equal (ignoring case)",
                    Test::StringLike | Test::ArnLike => "must match",
                    Test::StringNotLike | Test::ArnNotLike => "must not match",
                    Test::Bool => "must be",
                    Test::Null | Test::Unsupported => "must satisfy",
                };
                let what = match expected.len() {
                    0 => "a value from an empty list".to_string(),
                    1 => format!("`{}`", expected[0]),
                    _ if test.negated() => format!("any of {}", ticked(expected)),
                    _ => format!("one of {}", ticked(expected)),
                };
                write!(f, "{subject} {verb} {what}")?;
                if actual.is_empty() {
                    write!(f, " but {source} has no `{key}`")?;
                    if let Some(similar) = similar_key {
                        write!(
                            f,
                            " (it has `{similar}`: the condition names another identity provider)"
                        )?;
                    }
                    Ok(())
                } else {
                    write!(f, " but {source} says {}", ticked(actual))
                }
            }
            Mismatch::Unsupported { operator, key, .. } => write!(
                f,
                "condition `{operator}` on `{key}` is not evaluated by pipecheck (treated as not met)"
            ),
        }
    }
}

/// Why one `Allow` statement did not apply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StatementMiss {
    pub statement: StatementRef,
    /// Every part that did not match, in element order (principal, action, resource,
    /// conditions); never empty.
    pub reasons: Vec<Mismatch>,
}

impl fmt::Display for StatementMiss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.statement)?;
        for (i, r) in self.reasons.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

/// The answer, with its reasons.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub kind: DecisionKind,
    /// The applicable `Allow` (allowed) or `Deny` (explicit deny) that decided.
    pub decided_by: Option<StatementRef>,
    /// For an implicit deny: why each `Allow` statement did not apply, in document order.
    pub misses: Vec<StatementMiss>,
    /// What the evaluator assumed (operators it does not evaluate), for the record.
    pub notes: Vec<String>,
}

impl Decision {
    pub fn allowed(&self) -> bool {
        self.kind == DecisionKind::Allowed
    }
}

impl fmt::Display for Decision {
    /// One line: `allowed by Statement[0]`, `explicitly denied by Statement[1] (Sid X)`, or
    /// `not allowed: Statement[0]: <reason>; <reason>. Statement[1]: …`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.kind, &self.decided_by) {
            (DecisionKind::Allowed, Some(s)) => write!(f, "allowed by {s}"),
            (DecisionKind::ExplicitDeny, Some(s)) => write!(f, "explicitly denied by {s}"),
            _ if self.misses.is_empty() => f.write_str("not allowed: no Allow statement"),
            _ => {
                f.write_str("not allowed: ")?;
                for (i, m) in self.misses.iter().enumerate() {
                    if i > 0 {
                        f.write_str(". ")?;
                    }
                    write!(f, "{m}")?;
                }
                Ok(())
            }
        }
    }
}

/// Evaluates `request` against every statement of `docs` (the policies attached to one
/// identity, or one trust policy): explicit `Deny` wins, then any `Allow`, else denied.
pub fn evaluate(docs: &[PolicyDocument], request: &Request<'_>) -> Decision {
    let mut allow = None;
    let mut misses = Vec::new();
    let mut notes = Vec::new();
    for (d, doc) in docs.iter().enumerate() {
        for st in &doc.statements {
            let reasons = mismatches(st, request);
            let sref = || StatementRef {
                document: d,
                path: st.path.clone(),
                sid: st.sid.clone(),
                effect: st.effect,
            };
            match st.effect {
                Effect::Deny => {
                    // A Deny whose only misses are conditions we cannot evaluate is assumed
                    // to apply: never answer more permissively than IAM would.
                    let unsupported_only = !reasons.is_empty()
                        && reasons
                            .iter()
                            .all(|r| matches!(r, Mismatch::Unsupported { .. }));
                    if reasons.is_empty() || unsupported_only {
                        if unsupported_only {
                            notes.push(format!(
                                "{} is assumed to apply: {}",
                                sref(),
                                reasons
                                    .iter()
                                    .map(ToString::to_string)
                                    .collect::<Vec<_>>()
                                    .join("; ")
                            ));
                        }
                        return Decision {
                            kind: DecisionKind::ExplicitDeny,
                            decided_by: Some(sref()),
                            misses: Vec::new(),
                            notes,
                        };
                    }
                }
                Effect::Allow => {
                    if reasons.is_empty() {
                        if allow.is_none() {
                            allow = Some(sref());
                        }
                    } else {
                        misses.push(StatementMiss {
                            statement: sref(),
                            reasons,
                        });
                    }
                }
            }
        }
    }
    match allow {
        Some(s) => Decision {
            kind: DecisionKind::Allowed,
            decided_by: Some(s),
            misses: Vec::new(),
            notes,
        },
        None => Decision {
            kind: DecisionKind::ImplicitDeny,
            decided_by: None,
            misses,
            notes,
        },
    }
}

/// Would STS let a web identity from `provider_arn` with these token `claims` assume the
/// role with this trust policy (`sts:AssumeRoleWithWebIdentity`)?
///
/// `claims` are condition keys as IAM sees them, `ISSUER:sub`, `ISSUER:aud`, … (see
/// [`web_identity_claims`]); a key given twice is multi-valued.
pub fn evaluate_web_identity<K: AsRef<str>, V: AsRef<str>>(
    doc: &PolicyDocument,
    provider_arn: &str,
    claims: &[(K, V)],
) -> Decision {
    let context: Vec<(&str, &str)> = claims
        .iter()
        .map(|(k, v)| (k.as_ref(), v.as_ref()))
        .collect();
    evaluate(
        std::slice::from_ref(doc),
        &Request {
            action: WEB_IDENTITY_ACTION,
            resource: None,
            principal: Some(PrincipalRef::Federated(provider_arn)),
            context: &context,
            context_name: "the token",
        },
    )
}

/// Do the identity policies `docs` allow `action` on `resource`, with an empty request
/// context (so a condition on a key the caller cannot know is not met)?
pub fn allows(docs: &[PolicyDocument], action: &str, resource: &str) -> Decision {
    evaluate(
        docs,
        &Request {
            action,
            resource: Some(resource),
            principal: None,
            context: &[],
            context_name: "the request",
        },
    )
}

/// The issuer part of an OIDC provider ARN, as IAM prefixes its condition keys:
/// `arn:aws:iam::1:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/X` →
/// `oidc.eks.us-east-1.amazonaws.com/id/X`.
pub fn oidc_issuer(provider_arn: &str) -> Option<&str> {
    if !provider_arn.starts_with("arn:") {
        return None;
    }
    let (_, issuer) = provider_arn.split_once(":oidc-provider/")?;
    (!issuer.is_empty()).then_some(issuer)
}

/// The claims of an EKS service account token as trust-policy condition keys:
/// `ISSUER:sub` = `sub` (`system:serviceaccount:NAMESPACE:NAME`) and `ISSUER:aud` = `aud`
/// (`sts.amazonaws.com` for IRSA). A provider ARN that is not of the OIDC form is used whole
/// as the prefix.
pub fn web_identity_claims(provider_arn: &str, sub: &str, aud: &str) -> Vec<(String, String)> {
    let issuer = oidc_issuer(provider_arn).unwrap_or(provider_arn);
    vec![
        (format!("{issuer}:sub"), sub.to_string()),
        (format!("{issuer}:aud"), aud.to_string()),
    ]
}

/// Every reason `st` does not apply to `req`; empty when it applies.
fn mismatches(st: &Statement, req: &Request<'_>) -> Vec<Mismatch> {
    let mut out = Vec::new();
    if let Some(who) = req.principal {
        match &st.principal {
            None => out.push(Mismatch::Principal {
                requester: requester(who),
                listed: Vec::new(),
                negated: false,
            }),
            Some(m) => {
                let hit = principal_matches(m.inner(), who);
                if hit == m.negated() {
                    out.push(Mismatch::Principal {
                        requester: requester(who),
                        listed: describe_principals(m.inner()),
                        negated: m.negated(),
                    });
                }
            }
        }
    }
    let hit = st
        .action
        .inner()
        .iter()
        .any(|p| glob_match(p, req.action, true));
    if hit == st.action.negated() {
        out.push(Mismatch::Action {
            action: req.action.to_string(),
            listed: st.action.inner().clone(),
            negated: st.action.negated(),
        });
    }
    if let Some(resource) = req.resource {
        match &st.resource {
            None => out.push(Mismatch::NoResource),
            Some(m) => {
                let hit = m.inner().iter().any(|p| glob_match(p, resource, false));
                if hit == m.negated() {
                    out.push(Mismatch::Resource {
                        resource: resource.to_string(),
                        listed: m.inner().clone(),
                        negated: m.negated(),
                    });
                }
            }
        }
    }
    for c in &st.conditions {
        if let Some(m) = condition(c, req) {
            out.push(m);
        }
    }
    out
}

fn requester(p: PrincipalRef<'_>) -> String {
    match p {
        PrincipalRef::Federated(s) | PrincipalRef::Aws(s) | PrincipalRef::Service(s) => {
            s.to_string()
        }
    }
}

fn describe_principals(p: &Principals) -> Vec<String> {
    let mut out = Vec::new();
    if p.any {
        out.push("`*`".to_string());
    }
    let groups: [(&str, &Vec<String>); 4] = [
        ("AWS", &p.aws),
        ("Federated", &p.federated),
        ("Service", &p.service),
        ("CanonicalUser", &p.canonical_user),
    ];
    for (kind, list) in groups {
        for v in list {
            if !(kind == "AWS" && v == "*") {
                out.push(format!("{kind} `{v}`"));
            }
        }
    }
    out
}

fn principal_matches(p: &Principals, who: PrincipalRef<'_>) -> bool {
    if p.any {
        return true;
    }
    match who {
        // IAM compares provider ARNs exactly.
        PrincipalRef::Federated(arn) => p.federated.iter().any(|f| f == arn),
        PrincipalRef::Service(svc) => p.service.iter().any(|s| s == svc),
        PrincipalRef::Aws(arn) => {
            let account = arn.split(':').nth(4).filter(|a| !a.is_empty());
            p.aws.iter().any(|a| {
                a == arn
                    || account
                        .is_some_and(|acct| a == acct || *a == format!("arn:aws:iam::{acct}:root"))
            })
        }
    }
}

/// `None` when the condition holds.
fn condition(c: &Condition, req: &Request<'_>) -> Option<Mismatch> {
    let actual: Vec<&str> = req
        .context
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(&c.key))
        .map(|(_, v)| *v)
        .collect();
    let test = c.op.test;
    if test == Test::Unsupported {
        return Some(Mismatch::Unsupported {
            path: c.path.clone(),
            operator: c.op.name.clone(),
            key: c.key.clone(),
        });
    }
    let holds = if test == Test::Null {
        let present = !actual.is_empty();
        c.values.iter().any(|v| {
            (v.eq_ignore_ascii_case("true") && !present)
                || (v.eq_ignore_ascii_case("false") && present)
        })
    } else if actual.is_empty() {
        // An absent key: IfExists passes; ForAllValues holds vacuously; ForAnyValue fails;
        // otherwise negated operators hold and positive ones fail (IAM's documented rule).
        c.op.if_exists
            || match c.op.qualifier {
                Some(SetQualifier::ForAllValues) => true,
                Some(SetQualifier::ForAnyValue) => false,
                None => test.negated(),
            }
    } else {
        let any_value_matches = |v: &str| c.values.iter().any(|p| value_matches(test, p, v));
        let ok = |v: &&str| {
            if test.negated() {
                !any_value_matches(v)
            } else {
                any_value_matches(v)
            }
        };
        match (c.op.qualifier, test.negated()) {
            (Some(SetQualifier::ForAllValues), _) => actual.iter().all(ok),
            (Some(SetQualifier::ForAnyValue), _) => actual.iter().any(ok),
            // Plain operators on a multi-valued key: positive ones need one match,
            // negated ones need no value to match.
            (None, false) => actual.iter().any(ok),
            (None, true) => actual.iter().all(ok),
        }
    };
    if holds {
        return None;
    }
    let similar_key = if actual.is_empty() {
        let last = |k: &str| k.rsplit(':').next().unwrap_or(k).to_ascii_lowercase();
        let want = last(&c.key);
        req.context
            .iter()
            .map(|(k, _)| *k)
            .find(|k| k.contains(':') && c.key.contains(':') && last(k) == want)
            .map(str::to_string)
    } else {
        None
    };
    Some(Mismatch::Condition {
        path: c.path.clone(),
        operator: c.op.name.clone(),
        key: c.key.clone(),
        expected: c.values.clone(),
        actual: actual.iter().map(|s| s.to_string()).collect(),
        source: req.context_name.to_string(),
        similar_key,
        test,
        qualifier: c.op.qualifier,
    })
}

/// The positive form of `test` on one policy value and one context value.
fn value_matches(test: Test, policy: &str, value: &str) -> bool {
    match test {
        Test::StringEquals | Test::StringNotEquals => policy == value,
        Test::StringEqualsIgnoreCase | Test::StringNotEqualsIgnoreCase => {
            policy.to_lowercase() == value.to_lowercase()
        }
        Test::StringLike | Test::StringNotLike => glob_match(policy, value, false),
        // IAM's ArnEquals and ArnLike both take wildcards.
        Test::ArnEquals | Test::ArnNotEquals | Test::ArnLike | Test::ArnNotLike => {
            glob_match(policy, value, false)
        }
        Test::Bool => policy.eq_ignore_ascii_case(value),
        Test::Null | Test::Unsupported => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROVIDER: &str =
        "arn:aws:iam::111122223333:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/X";
    const ISSUER: &str = "oidc.eks.us-east-1.amazonaws.com/id/X";

    fn doc(json: &str) -> PolicyDocument {
        PolicyDocument::parse(json).unwrap()
    }

    fn trust(conditions: &str) -> PolicyDocument {
        doc(&format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow",
              "Principal":{{"Federated":"{PROVIDER}"}},
              "Action":"sts:AssumeRoleWithWebIdentity",
              "Condition":{conditions}}}]}}"#
        ))
    }

    fn token(sub: &str) -> Vec<(String, String)> {
        web_identity_claims(PROVIDER, sub, "sts.amazonaws.com")
    }

    fn irsa(ns: &str, sa: &str) -> PolicyDocument {
        trust(&format!(
            r#"{{"StringEquals":{{"{ISSUER}:sub":"system:serviceaccount:{ns}:{sa}","{ISSUER}:aud":"sts.amazonaws.com"}}}}"#
        ))
    }

    #[test]
    fn irsa_trust_allows_the_right_service_account() {
        let d = evaluate_web_identity(
            &irsa("prometheus", "adot"),
            PROVIDER,
            &token("system:serviceaccount:prometheus:adot"),
        );
        assert!(d.allowed(), "{d}");
        assert_eq!(d.to_string(), "allowed by Statement[0]");
        assert_eq!(d.decided_by.unwrap().path, "Statement[0]");
    }

    #[test]
    fn another_namespace_is_refused_with_the_reason() {
        let d = evaluate_web_identity(
            &irsa("springboot", "adot"),
            PROVIDER,
            &token("system:serviceaccount:prometheus:adot"),
        );
        assert!(!d.allowed());
        assert_eq!(d.kind, DecisionKind::ImplicitDeny);
        assert_eq!(d.misses.len(), 1);
        assert_eq!(d.misses[0].reasons.len(), 1);
        let Mismatch::Condition { path, actual, .. } = &d.misses[0].reasons[0] else {
            panic!("{d:?}")
        };
        assert_eq!(
            path,
            &format!(r#"Statement[0].Condition.StringEquals."{ISSUER}:sub""#)
        );
        assert_eq!(
            actual,
            &vec!["system:serviceaccount:prometheus:adot".to_string()]
        );
        assert_eq!(
            d.to_string(),
            format!(
                "not allowed: Statement[0]: `{ISSUER}:sub` must equal `system:serviceaccount:springboot:adot` but the token says `system:serviceaccount:prometheus:adot`"
            )
        );
    }

    #[test]
    fn missing_aud_in_the_token_fails_an_aud_condition() {
        let claims = vec![(
            format!("{ISSUER}:sub"),
            "system:serviceaccount:p:a".to_string(),
        )];
        let d = evaluate_web_identity(&irsa("p", "a"), PROVIDER, &claims);
        assert!(!d.allowed());
        assert!(
            d.to_string().contains(&format!(
                "`{ISSUER}:aud` must equal `sts.amazonaws.com` but the token has no `{ISSUER}:aud`"
            )),
            "{d}"
        );
    }

    #[test]
    fn a_trust_policy_without_aud_still_admits_the_token() {
        let t = trust(&format!(
            r#"{{"StringEquals":{{"{ISSUER}:sub":"system:serviceaccount:p:a"}}}}"#
        ));
        assert!(evaluate_web_identity(&t, PROVIDER, &token("system:serviceaccount:p:a")).allowed());
    }

    #[test]
    fn condition_keys_ignore_case_values_do_not() {
        let t = trust(&format!(
            r#"{{"StringEquals":{{"{}:SUB":"system:serviceaccount:p:a"}}}}"#,
            ISSUER.to_uppercase()
        ));
        assert!(evaluate_web_identity(&t, PROVIDER, &token("system:serviceaccount:p:a")).allowed());
        assert!(
            !evaluate_web_identity(&t, PROVIDER, &token("system:serviceaccount:P:a")).allowed()
        );
        let ic = trust(&format!(
            r#"{{"StringEqualsIgnoreCase":{{"{ISSUER}:sub":"SYSTEM:serviceaccount:P:A"}}}}"#
        ));
        assert!(
            evaluate_web_identity(&ic, PROVIDER, &token("system:serviceaccount:p:a")).allowed()
        );
    }

    #[test]
    fn string_like_wildcards_and_string_equals_literals() {
        let like = trust(&format!(
            r#"{{"StringLike":{{"{ISSUER}:sub":"system:serviceaccount:prometheus:*"}}}}"#
        ));
        assert!(
            evaluate_web_identity(
                &like,
                PROVIDER,
                &token("system:serviceaccount:prometheus:server")
            )
            .allowed()
        );
        assert!(
            !evaluate_web_identity(
                &like,
                PROVIDER,
                &token("system:serviceaccount:other:server")
            )
            .allowed()
        );
        let q = trust(&format!(
            r#"{{"StringLike":{{"{ISSUER}:sub":"system:serviceaccount:ns?:a"}}}}"#
        ));
        assert!(
            evaluate_web_identity(&q, PROVIDER, &token("system:serviceaccount:ns1:a")).allowed()
        );
        assert!(
            !evaluate_web_identity(&q, PROVIDER, &token("system:serviceaccount:ns12:a")).allowed()
        );
        // StringEquals does not expand `*`.
        let eq = trust(&format!(
            r#"{{"StringEquals":{{"{ISSUER}:sub":"system:serviceaccount:prometheus:*"}}}}"#
        ));
        let d = evaluate_web_identity(
            &eq,
            PROVIDER,
            &token("system:serviceaccount:prometheus:server"),
        );
        assert!(!d.allowed());
        assert!(
            evaluate_web_identity(&eq, PROVIDER, &token("system:serviceaccount:prometheus:*"))
                .allowed()
        );
    }

    #[test]
    fn value_lists_are_or_and_conditions_are_and() {
        let t = trust(&format!(
            r#"{{"StringEquals":{{"{ISSUER}:sub":["system:serviceaccount:a:x","system:serviceaccount:b:y"],"{ISSUER}:aud":"sts.amazonaws.com"}}}}"#
        ));
        assert!(evaluate_web_identity(&t, PROVIDER, &token("system:serviceaccount:b:y")).allowed());
        let d = evaluate_web_identity(
            &t,
            PROVIDER,
            &web_identity_claims(PROVIDER, "system:serviceaccount:c:z", "other"),
        );
        assert!(!d.allowed());
        assert_eq!(d.misses[0].reasons.len(), 2, "{d}");
        let text = d.to_string();
        assert!(
            text.contains(
                "must equal one of `system:serviceaccount:a:x`, `system:serviceaccount:b:y`"
            ),
            "{text}"
        );
        assert!(text.contains("but the token says `other`"), "{text}");
    }

    #[test]
    fn negated_operators() {
        let t = trust(&format!(
            r#"{{"StringNotEquals":{{"{ISSUER}:sub":"system:serviceaccount:kube-system:default"}}}}"#
        ));
        assert!(evaluate_web_identity(&t, PROVIDER, &token("system:serviceaccount:p:a")).allowed());
        let d = evaluate_web_identity(
            &t,
            PROVIDER,
            &token("system:serviceaccount:kube-system:default"),
        );
        assert!(!d.allowed());
        assert!(d.to_string().contains("must not equal"), "{d}");
        // Absent key: a negated operator holds.
        let no_sub: Vec<(String, String)> = vec![];
        assert!(evaluate_web_identity(&t, PROVIDER, &no_sub).allowed());
        let nl = trust(&format!(
            r#"{{"StringNotLike":{{"{ISSUER}:sub":"*:kube-system:*"}}}}"#
        ));
        assert!(
            !evaluate_web_identity(&nl, PROVIDER, &token("system:serviceaccount:kube-system:x"))
                .allowed()
        );
        let nic = trust(&format!(
            r#"{{"StringNotEqualsIgnoreCase":{{"{ISSUER}:aud":"STS.AMAZONAWS.COM"}}}}"#
        ));
        assert!(!evaluate_web_identity(&nic, PROVIDER, &token("x")).allowed());
    }

    #[test]
    fn set_qualifiers_on_multi_valued_keys() {
        let key = format!("{ISSUER}:amr");
        let claims = |vals: &[&str]| -> Vec<(String, String)> {
            vals.iter().map(|v| (key.clone(), v.to_string())).collect()
        };
        let any = trust(&format!(
            r#"{{"ForAnyValue:StringEquals":{{"{key}":["mfa","pwd"]}}}}"#
        ));
        assert!(evaluate_web_identity(&any, PROVIDER, &claims(&["x", "mfa"])).allowed());
        assert!(!evaluate_web_identity(&any, PROVIDER, &claims(&["x", "y"])).allowed());
        assert!(!evaluate_web_identity(&any, PROVIDER, &claims(&[])).allowed());
        let all = trust(&format!(
            r#"{{"ForAllValues:StringLike":{{"{key}":["m*","pwd"]}}}}"#
        ));
        assert!(evaluate_web_identity(&all, PROVIDER, &claims(&["mfa", "pwd"])).allowed());
        let d = evaluate_web_identity(&all, PROVIDER, &claims(&["mfa", "x"]));
        assert!(!d.allowed());
        assert!(
            d.to_string().contains(&format!(
                "every value of `{key}` must match one of `m*`, `pwd`"
            )),
            "{d}"
        );
        // ForAllValues holds vacuously when the key is absent.
        assert!(evaluate_web_identity(&all, PROVIDER, &claims(&[])).allowed());
        let any_not = trust(&format!(
            r#"{{"ForAnyValue:StringNotEquals":{{"{key}":"mfa"}}}}"#
        ));
        assert!(evaluate_web_identity(&any_not, PROVIDER, &claims(&["mfa", "pwd"])).allowed());
        assert!(!evaluate_web_identity(&any_not, PROVIDER, &claims(&["mfa"])).allowed());
    }

    #[test]
    fn if_exists_null_and_bool() {
        let ie = trust(&format!(
            r#"{{"StringEqualsIfExists":{{"{ISSUER}:aud":"sts.amazonaws.com"}}}}"#
        ));
        let no_aud: Vec<(String, String)> = vec![(format!("{ISSUER}:sub"), "s".into())];
        assert!(evaluate_web_identity(&ie, PROVIDER, &no_aud).allowed());
        let wrong_aud = web_identity_claims(PROVIDER, "s", "x");
        assert!(!evaluate_web_identity(&ie, PROVIDER, &wrong_aud).allowed());
        let null = trust(&format!(r#"{{"Null":{{"{ISSUER}:aud":"false"}}}}"#));
        assert!(evaluate_web_identity(&null, PROVIDER, &token("s")).allowed());
        let d = evaluate_web_identity(&null, PROVIDER, &no_aud);
        assert!(d.to_string().contains("must be present"), "{d}");
        let b = doc(
            r#"{"Statement":{"Effect":"Allow","Action":"aps:*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":true}}}}"#,
        );
        let ctx = [("aws:securetransport", "TRUE")];
        let req = Request {
            action: "aps:RemoteWrite",
            resource: Some("r"),
            principal: None,
            context: &ctx,
            context_name: "the request",
        };
        assert!(evaluate(std::slice::from_ref(&b), &req).allowed());
        assert!(!allows(&[b], "aps:RemoteWrite", "r").allowed());
    }

    #[test]
    fn explicit_deny_wins_anywhere() {
        let allow = doc(r#"{"Statement":{"Effect":"Allow","Action":"aps:*","Resource":"*"}}"#);
        let deny = doc(
            r#"{"Statement":[{"Sid":"NoWrites","Effect":"Deny","Action":"aps:RemoteWrite","Resource":"*"}]}"#,
        );
        assert!(
            allows(
                std::slice::from_ref(&allow),
                "aps:RemoteWrite",
                "arn:aws:aps:us-east-1:1:workspace/ws-1"
            )
            .allowed()
        );
        let d = allows(
            &[allow.clone(), deny.clone()],
            "aps:RemoteWrite",
            "arn:aws:aps:us-east-1:1:workspace/ws-1",
        );
        assert_eq!(d.kind, DecisionKind::ExplicitDeny);
        assert_eq!(
            d.to_string(),
            "explicitly denied by Statement[0] (Sid NoWrites)"
        );
        assert_eq!(d.decided_by.as_ref().unwrap().document, 1);
        // Order does not matter.
        assert_eq!(
            allows(&[deny, allow.clone()], "aps:RemoteWrite", "x").kind,
            DecisionKind::ExplicitDeny
        );
        assert!(allows(&[allow], "aps:QueryMetrics", "x").allowed());
        // A Deny in a trust policy.
        let t = doc(&format!(
            r#"{{"Statement":[{{"Effect":"Allow","Principal":{{"Federated":"{PROVIDER}"}},"Action":"sts:AssumeRoleWithWebIdentity"}},
               {{"Effect":"Deny","Principal":"*","Action":"sts:*","Condition":{{"StringLike":{{"{ISSUER}:sub":"*:kube-system:*"}}}}}}]}}"#
        ));
        assert!(evaluate_web_identity(&t, PROVIDER, &token("system:serviceaccount:p:a")).allowed());
        let d = evaluate_web_identity(&t, PROVIDER, &token("system:serviceaccount:kube-system:a"));
        assert_eq!(d.kind, DecisionKind::ExplicitDeny);
    }

    #[test]
    fn unsupported_operators_are_never_permissive() {
        let allow = doc(
            r#"{"Statement":{"Effect":"Allow","Action":"aps:*","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}}"#,
        );
        let d = allows(std::slice::from_ref(&allow), "aps:RemoteWrite", "r");
        assert!(!d.allowed());
        assert!(d.to_string().contains("not evaluated"), "{d}");
        let plain = doc(r#"{"Statement":{"Effect":"Allow","Action":"aps:*","Resource":"*"}}"#);
        let deny = doc(
            r#"{"Statement":{"Effect":"Deny","Action":"aps:*","Resource":"*","Condition":{"DateLessThan":{"aws:CurrentTime":"2020-01-01T00:00:00Z"}}}}"#,
        );
        let d = allows(&[plain, deny], "aps:RemoteWrite", "r");
        assert_eq!(d.kind, DecisionKind::ExplicitDeny);
        assert_eq!(d.notes.len(), 1);
    }

    #[test]
    fn wrong_action_and_principal_are_explained() {
        let t = doc(
            r#"{"Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#,
        );
        let d = evaluate_web_identity(&t, PROVIDER, &token("s"));
        let text = d.to_string();
        assert!(text.contains("Principal names Service `ec2.amazonaws.com`, not `arn:aws:iam::111122223333:oidc-provider/"), "{text}");
        assert!(
            text.contains("Action lists `sts:AssumeRole`, not `sts:AssumeRoleWithWebIdentity`"),
            "{text}"
        );
        let none = doc(r#"{"Statement":[{"Effect":"Allow","Action":"sts:*"}]}"#);
        assert!(
            evaluate_web_identity(&none, PROVIDER, &token("s"))
                .to_string()
                .contains("has no Principal")
        );
        let not = doc(&format!(
            r#"{{"Statement":[{{"Effect":"Allow","NotPrincipal":{{"Federated":"{PROVIDER}"}},"Action":"sts:*"}}]}}"#
        ));
        assert!(
            evaluate_web_identity(&not, PROVIDER, &token("s"))
                .to_string()
                .contains("NotPrincipal excludes")
        );
        let star = doc(
            r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"NotAction":"iam:*"}]}"#,
        );
        assert!(evaluate_web_identity(&star, PROVIDER, &token("s")).allowed());
        let empty = doc(r#"{"Statement":[]}"#);
        assert_eq!(
            evaluate_web_identity(&empty, PROVIDER, &token("s")).to_string(),
            "not allowed: no Allow statement"
        );
    }

    #[test]
    fn another_clusters_provider_is_pointed_out() {
        let other = "oidc.eks.us-east-1.amazonaws.com/id/OTHER";
        let t = trust(&format!(
            r#"{{"StringEquals":{{"{other}:sub":"system:serviceaccount:p:a"}}}}"#
        ));
        let d = evaluate_web_identity(&t, PROVIDER, &token("system:serviceaccount:p:a"));
        let text = d.to_string();
        assert!(
            text.contains(&format!(
                "but the token has no `{other}:sub` (it has `{ISSUER}:sub`"
            )),
            "{text}"
        );
    }

    #[test]
    fn permission_policies_actions_and_resources() {
        let ws =
            "arn:aws:aps:us-east-1:111122223333:workspace/ws-11111111-2222-3333-4444-555555555555";
        let p = doc(&format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":["aps:RemoteWrite","aps:Get*"],"Resource":"{ws}"}}]}}"#
        ));
        let ps = std::slice::from_ref(&p);
        assert!(allows(ps, "aps:RemoteWrite", ws).allowed());
        assert!(allows(ps, "APS:remotewrite", ws).allowed());
        assert!(allows(ps, "aps:GetSeries", ws).allowed());
        let d = allows(ps, "aps:QueryMetrics", ws);
        assert!(
            d.to_string()
                .contains("Action lists `aps:RemoteWrite`, `aps:Get*`, not `aps:QueryMetrics`"),
            "{d}"
        );
        let other = ws.replace("ws-1", "ws-9");
        let d = allows(ps, "aps:RemoteWrite", &other);
        assert!(
            d.to_string()
                .contains(&format!("Resource lists `{ws}`, not `{other}`")),
            "{d}"
        );
        // Resource ARNs compare case-sensitively.
        assert!(!allows(ps, "aps:RemoteWrite", &ws.to_uppercase()).allowed());
        let wild = doc(
            r#"{"Statement":{"Effect":"Allow","Action":"aps:*","Resource":"arn:aws:aps:*:111122223333:workspace/*"}}"#,
        );
        assert!(allows(std::slice::from_ref(&wild), "aps:RemoteWrite", ws).allowed());
        let no_res = doc(r#"{"Statement":{"Effect":"Allow","Action":"aps:*"}}"#);
        assert!(
            allows(std::slice::from_ref(&no_res), "aps:RemoteWrite", ws)
                .to_string()
                .contains("has no Resource")
        );
        let not_res = doc(&format!(
            r#"{{"Statement":{{"Effect":"Allow","Action":"aps:*","NotResource":"{ws}"}}}}"#
        ));
        assert!(
            allows(std::slice::from_ref(&not_res), "aps:RemoteWrite", ws)
                .to_string()
                .contains("NotResource excludes")
        );
        let not_action =
            doc(r#"{"Statement":{"Effect":"Allow","NotAction":"aps:RemoteWrite","Resource":"*"}}"#);
        assert!(allows(std::slice::from_ref(&not_action), "aps:QueryMetrics", ws).allowed());
        assert!(
            allows(std::slice::from_ref(&not_action), "aps:RemoteWrite", ws)
                .to_string()
                .contains("NotAction excludes `aps:RemoteWrite`")
        );
        // Without a resource, only the action is asked about.
        let req = Request {
            action: "aps:RemoteWrite",
            resource: None,
            principal: None,
            context: &[],
            context_name: "the request",
        };
        assert!(evaluate(ps, &req).allowed());
        // An `amp:` prefix grants nothing.
        let amp =
            doc(r#"{"Statement":{"Effect":"Allow","Action":"amp:RemoteWrite","Resource":"*"}}"#);
        assert!(!allows(&[amp], "aps:RemoteWrite", ws).allowed());
    }

    #[test]
    fn aws_principals_match_accounts() {
        let t = doc(
            r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"sts:AssumeRole"}]}"#,
        );
        let req = |arn| Request {
            action: "sts:AssumeRole",
            resource: None,
            principal: Some(PrincipalRef::Aws(arn)),
            context: &[],
            context_name: "the request",
        };
        assert!(
            evaluate(
                std::slice::from_ref(&t),
                &req("arn:aws:iam::111122223333:role/x")
            )
            .allowed()
        );
        assert!(
            !evaluate(
                std::slice::from_ref(&t),
                &req("arn:aws:iam::999999999999:role/x")
            )
            .allowed()
        );
        let svc = doc(
            r#"{"Statement":[{"Effect":"Allow","Principal":{"Service":"grafana.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#,
        );
        let r = Request {
            action: "sts:AssumeRole",
            resource: None,
            principal: Some(PrincipalRef::Service("grafana.amazonaws.com")),
            context: &[],
            context_name: "the request",
        };
        assert!(evaluate(&[svc], &r).allowed());
    }

    #[test]
    fn issuers_and_claims() {
        assert_eq!(oidc_issuer(PROVIDER), Some(ISSUER));
        assert_eq!(oidc_issuer("arn:aws:iam::1:role/x"), None);
        assert_eq!(oidc_issuer("oidc-provider/x"), None);
        assert_eq!(oidc_issuer("arn:aws:iam::1:oidc-provider/"), None);
        let c = web_identity_claims(PROVIDER, "s", "a");
        assert_eq!(c[0], (format!("{ISSUER}:sub"), "s".to_string()));
        assert_eq!(c[1], (format!("{ISSUER}:aud"), "a".to_string()));
    }

    #[test]
    fn first_allow_decides_and_misses_are_listed_in_order() {
        let t = doc(&format!(
            r#"{{"Statement":[
              {{"Sid":"A","Effect":"Allow","Principal":{{"Federated":"{PROVIDER}"}},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{{"StringEquals":{{"{ISSUER}:sub":"system:serviceaccount:a:a"}}}}}},
              {{"Sid":"B","Effect":"Allow","Principal":{{"Federated":"{PROVIDER}"}},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{{"StringEquals":{{"{ISSUER}:sub":"system:serviceaccount:b:b"}}}}}}]}}"#
        ));
        let d = evaluate_web_identity(&t, PROVIDER, &token("system:serviceaccount:b:b"));
        assert_eq!(d.decided_by.unwrap().sid.as_deref(), Some("B"));
        let d = evaluate_web_identity(&t, PROVIDER, &token("system:serviceaccount:c:c"));
        let sids: Vec<_> = d
            .misses
            .iter()
            .map(|m| m.statement.sid.clone().unwrap())
            .collect();
        assert_eq!(sids, ["A", "B"]);
        assert!(d.to_string().contains("Statement[0] (Sid A): "), "{d}");
        assert!(d.to_string().contains(". Statement[1] (Sid B): "), "{d}");
    }

    #[test]
    fn decisions_serialize() {
        let d = evaluate_web_identity(
            &irsa("a", "b"),
            PROVIDER,
            &token("system:serviceaccount:x:y"),
        );
        let v = serde_json::to_value(&d).unwrap();
        assert_eq!(v["kind"], "implicit_deny");
        assert_eq!(v["misses"][0]["reasons"][0]["element"], "condition");
        assert_eq!(
            v["misses"][0]["reasons"][0]["actual"][0],
            "system:serviceaccount:x:y"
        );
    }

    #[test]
    fn many_statements_scale_linearly() {
        let mut stmts = Vec::new();
        for i in 0..20_000 {
            stmts.push(format!(
                r#"{{"Effect":"Allow","Action":"aps:RemoteWrite","Resource":"arn:aws:aps:us-east-1:1:workspace/ws-{i}"}}"#
            ));
        }
        let p = doc(&format!(r#"{{"Statement":[{}]}}"#, stmts.join(",")));
        assert!(
            allows(
                std::slice::from_ref(&p),
                "aps:RemoteWrite",
                "arn:aws:aps:us-east-1:1:workspace/ws-19999"
            )
            .allowed()
        );
        assert_eq!(allows(&[p], "aps:RemoteWrite", "nope").misses.len(), 20_000);
    }
}
