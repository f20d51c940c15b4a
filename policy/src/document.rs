//! The policy document model and its parser.
//!
//! Parsing is strict where IAM is strict (it would refuse the document with
//! `MalformedPolicyDocument`): unknown elements, an `Effect` other than `Allow`/`Deny`, both
//! or neither of `Action`/`NotAction`, an action without a service prefix. Every error names
//! the JSON path of the offending element (see [`crate::path`]).

use serde::Serialize;
use serde_json::{Map, Value};

use crate::path;

/// Why a document could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// Not JSON at all; `line` and `column` are serde_json's (1-based).
    #[error("policy document is not valid JSON (line {line}, column {column})")]
    Json {
        line: usize,
        column: usize,
        #[source]
        source: serde_json::Error,
    },
    /// JSON, but not a policy IAM would accept. `path` is the element at fault, e.g.
    /// `Statement[1].Effect` (empty for the document itself).
    #[error("invalid policy document at `{}`: {message}", if path.is_empty() { "(document)" } else { path.as_str() })]
    Invalid { path: String, message: String },
}

impl PolicyError {
    fn invalid(path: &str, message: impl Into<String>) -> Self {
        PolicyError::Invalid {
            path: path.to_string(),
            message: message.into(),
        }
    }

    /// The JSON path of the element at fault (`None` for a JSON syntax error).
    pub fn path(&self) -> Option<&str> {
        match self {
            PolicyError::Json { .. } => None,
            PolicyError::Invalid { path, .. } => Some(path),
        }
    }
}

/// An IAM policy: a trust policy (with `Principal`) or a permission policy (with `Resource`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PolicyDocument {
    /// `2012-10-17`, `2008-10-17`, or absent.
    pub version: Option<String>,
    pub id: Option<String>,
    /// In document order; a single `Statement` object becomes one statement.
    pub statements: Vec<Statement>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Effect {
    Allow,
    Deny,
}

/// An element and its `Not` form: `Action`/`NotAction`, `Resource`/`NotResource`,
/// `Principal`/`NotPrincipal`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum Match<T> {
    /// The element lists what the statement applies to.
    In(T),
    /// The `Not…` element lists what it does not apply to.
    NotIn(T),
}

impl<T> Match<T> {
    pub fn inner(&self) -> &T {
        match self {
            Match::In(t) | Match::NotIn(t) => t,
        }
    }

    pub fn negated(&self) -> bool {
        matches!(self, Match::NotIn(_))
    }
}

/// A `Principal` element: `"*"` or principals by type.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Principals {
    /// `"Principal": "*"` (or `{"AWS": "*"}`, which AWS documents as the same thing).
    pub any: bool,
    pub aws: Vec<String>,
    pub federated: Vec<String>,
    pub service: Vec<String>,
    pub canonical_user: Vec<String>,
}

/// One statement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Statement {
    /// Where it sits in its document: `Statement` (a single object) or `Statement[i]`.
    pub path: String,
    pub sid: Option<String>,
    pub effect: Effect,
    pub principal: Option<Match<Principals>>,
    /// Action patterns (`service:Name`, wildcards allowed, compared case-insensitively).
    pub action: Match<Vec<String>>,
    /// Resource patterns (wildcards allowed, compared case-sensitively); trust policies
    /// have none.
    pub resource: Option<Match<Vec<String>>>,
    /// All must hold (AND); see [`Condition`].
    pub conditions: Vec<Condition>,
}

/// How a condition treats a multi-valued key: `ForAnyValue:` / `ForAllValues:`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum SetQualifier {
    ForAnyValue,
    ForAllValues,
}

/// The comparison of a condition operator, without its qualifier or `IfExists`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Test {
    StringEquals,
    StringNotEquals,
    StringEqualsIgnoreCase,
    StringNotEqualsIgnoreCase,
    StringLike,
    StringNotLike,
    ArnEquals,
    ArnNotEquals,
    ArnLike,
    ArnNotLike,
    Bool,
    Null,
    /// A valid IAM operator this evaluator does not evaluate (numeric, date, IP address,
    /// binary). An `Allow` with one never applies; a `Deny` with one is assumed to apply,
    /// so an answer is never more permissive than IAM's. The decision says so.
    Unsupported,
}

impl Test {
    /// `StringNotEquals`, `StringNotLike`, …: the key must match none of the values.
    pub fn negated(self) -> bool {
        matches!(
            self,
            Test::StringNotEquals
                | Test::StringNotEqualsIgnoreCase
                | Test::StringNotLike
                | Test::ArnNotEquals
                | Test::ArnNotLike
        )
    }
}

/// A parsed condition operator such as `ForAnyValue:StringLike` or `StringEqualsIfExists`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ConditionOp {
    /// As written in the document.
    pub name: String,
    pub qualifier: Option<SetQualifier>,
    pub test: Test,
    pub if_exists: bool,
}

impl ConditionOp {
    /// Parses an operator name; `None` when IAM does not know it.
    pub fn parse(name: &str) -> Option<ConditionOp> {
        let (qualifier, rest) = if let Some(r) = name.strip_prefix("ForAnyValue:") {
            (Some(SetQualifier::ForAnyValue), r)
        } else if let Some(r) = name.strip_prefix("ForAllValues:") {
            (Some(SetQualifier::ForAllValues), r)
        } else {
            (None, name)
        };
        let (base, if_exists) = match rest.strip_suffix("IfExists") {
            Some(b) => (b, true),
            None => (rest, false),
        };
        let test = match base {
            "StringEquals" => Test::StringEquals,
            "StringNotEquals" => Test::StringNotEquals,
            "StringEqualsIgnoreCase" => Test::StringEqualsIgnoreCase,
            "StringNotEqualsIgnoreCase" => Test::StringNotEqualsIgnoreCase,
            "StringLike" => Test::StringLike,
            "StringNotLike" => Test::StringNotLike,
            "ArnEquals" => Test::ArnEquals,
            "ArnNotEquals" => Test::ArnNotEquals,
            "ArnLike" => Test::ArnLike,
            "ArnNotLike" => Test::ArnNotLike,
            "Bool" => Test::Bool,
            "Null" if !if_exists && qualifier.is_none() => Test::Null,
            "NumericEquals"
            | "NumericNotEquals"
            | "NumericLessThan"
            | "NumericLessThanEquals"
            | "NumericGreaterThan"
            | "NumericGreaterThanEquals"
            | "DateEquals"
            | "DateNotEquals"
            | "DateLessThan"
            | "DateLessThanEquals"
            | "DateGreaterThan"
            | "DateGreaterThanEquals"
            | "IpAddress"
            | "NotIpAddress"
            | "BinaryEquals" => Test::Unsupported,
            _ => return None,
        };
        Some(ConditionOp {
            name: name.to_string(),
            qualifier,
            test,
            if_exists,
        })
    }
}

/// One `"Operator": {"key": values}` entry. Values are OR-ed (for a negated operator the
/// key must match none of them); separate conditions are AND-ed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Condition {
    pub op: ConditionOp,
    /// The condition key as written; keys compare case-insensitively.
    pub key: String,
    /// Booleans and numbers are kept as their JSON text (`true`, `3`).
    pub values: Vec<String>,
    /// e.g. `Statement[0].Condition.StringEquals."oidc…:sub"`.
    pub path: String,
}

impl PolicyDocument {
    /// Parses a policy from JSON text.
    pub fn parse(json: &str) -> Result<PolicyDocument, PolicyError> {
        let value: Value = serde_json::from_str(json).map_err(|source| PolicyError::Json {
            line: source.line(),
            column: source.column(),
            source,
        })?;
        Self::from_value(&value)
    }

    /// Reads a policy from an already parsed JSON value.
    pub fn from_value(value: &Value) -> Result<PolicyDocument, PolicyError> {
        let obj = value
            .as_object()
            .ok_or_else(|| PolicyError::invalid("", "a policy document is a JSON object"))?;
        for k in obj.keys() {
            if !matches!(k.as_str(), "Version" | "Id" | "Statement") {
                return Err(PolicyError::invalid(
                    &path::key("", k),
                    format!("unknown element `{k}` (a policy has Version, Id and Statement)"),
                ));
            }
        }
        let version = opt_string(obj, "", "Version")?;
        if let Some(v) = &version
            && v != "2012-10-17"
            && v != "2008-10-17"
        {
            return Err(PolicyError::invalid(
                "Version",
                format!("unknown policy language version `{v}` (use 2012-10-17)"),
            ));
        }
        let id = opt_string(obj, "", "Id")?;
        let statements = match obj.get("Statement") {
            None => return Err(PolicyError::invalid("", "the document has no Statement")),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, s)| statement(s, path::index("Statement", i)))
                .collect::<Result<Vec<_>, _>>()?,
            Some(s @ Value::Object(_)) => vec![statement(s, "Statement".to_string())?],
            Some(_) => {
                return Err(PolicyError::invalid(
                    "Statement",
                    "Statement must be an object or a list of objects",
                ));
            }
        };
        Ok(PolicyDocument {
            version,
            id,
            statements,
        })
    }
}

impl std::str::FromStr for PolicyDocument {
    type Err = PolicyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PolicyDocument::parse(s)
    }
}

fn opt_string(
    obj: &Map<String, Value>,
    parent: &str,
    k: &str,
) -> Result<Option<String>, PolicyError> {
    match obj.get(k) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(PolicyError::invalid(
            &path::key(parent, k),
            format!("{k} must be a string"),
        )),
    }
}

fn statement(value: &Value, at: String) -> Result<Statement, PolicyError> {
    let obj = value
        .as_object()
        .ok_or_else(|| PolicyError::invalid(&at, "a statement is a JSON object"))?;
    for k in obj.keys() {
        if !matches!(
            k.as_str(),
            "Sid"
                | "Effect"
                | "Principal"
                | "NotPrincipal"
                | "Action"
                | "NotAction"
                | "Resource"
                | "NotResource"
                | "Condition"
        ) {
            return Err(PolicyError::invalid(
                &path::key(&at, k),
                format!("unknown statement element `{k}`"),
            ));
        }
    }
    let sid = opt_string(obj, &at, "Sid")?;
    let effect = match obj.get("Effect") {
        Some(Value::String(s)) if s == "Allow" => Effect::Allow,
        Some(Value::String(s)) if s == "Deny" => Effect::Deny,
        Some(Value::String(s)) => {
            return Err(PolicyError::invalid(
                &path::key(&at, "Effect"),
                format!("Effect must be `Allow` or `Deny` (case-sensitive), not `{s}`"),
            ));
        }
        Some(_) => {
            return Err(PolicyError::invalid(
                &path::key(&at, "Effect"),
                "Effect must be the string `Allow` or `Deny`",
            ));
        }
        None => return Err(PolicyError::invalid(&at, "the statement has no Effect")),
    };
    let principal = match (obj.get("Principal"), obj.get("NotPrincipal")) {
        (Some(_), Some(_)) => {
            return Err(PolicyError::invalid(
                &at,
                "a statement has Principal or NotPrincipal, not both",
            ));
        }
        (Some(p), None) => Some(Match::In(principals(p, &path::key(&at, "Principal"))?)),
        (None, Some(p)) => Some(Match::NotIn(principals(
            p,
            &path::key(&at, "NotPrincipal"),
        )?)),
        (None, None) => None,
    };
    let action = match (obj.get("Action"), obj.get("NotAction")) {
        (Some(_), Some(_)) => {
            return Err(PolicyError::invalid(
                &at,
                "a statement has Action or NotAction, not both",
            ));
        }
        (Some(a), None) => Match::In(actions(a, &path::key(&at, "Action"))?),
        (None, Some(a)) => Match::NotIn(actions(a, &path::key(&at, "NotAction"))?),
        (None, None) => {
            return Err(PolicyError::invalid(
                &at,
                "the statement has neither Action nor NotAction",
            ));
        }
    };
    let resource = match (obj.get("Resource"), obj.get("NotResource")) {
        (Some(_), Some(_)) => {
            return Err(PolicyError::invalid(
                &at,
                "a statement has Resource or NotResource, not both",
            ));
        }
        (Some(r), None) => Some(Match::In(strings(r, &path::key(&at, "Resource"))?)),
        (None, Some(r)) => Some(Match::NotIn(strings(r, &path::key(&at, "NotResource"))?)),
        (None, None) => None,
    };
    let conditions = match obj.get("Condition") {
        None => Vec::new(),
        Some(c) => conditions(c, &path::key(&at, "Condition"))?,
    };
    Ok(Statement {
        path: at,
        sid,
        effect,
        principal,
        action,
        resource,
        conditions,
    })
}

/// A string or a list of strings.
fn strings(value: &Value, at: &str) -> Result<Vec<String>, PolicyError> {
    match value {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::String(s) => Ok(s.clone()),
                _ => Err(PolicyError::invalid(
                    &path::index(at, i),
                    "expected a string",
                )),
            })
            .collect(),
        _ => Err(PolicyError::invalid(
            at,
            "expected a string or a list of strings",
        )),
    }
}

fn actions(value: &Value, at: &str) -> Result<Vec<String>, PolicyError> {
    let list = strings(value, at)?;
    for (i, a) in list.iter().enumerate() {
        let ok = a == "*"
            || a.split_once(':')
                .is_some_and(|(svc, name)| !svc.is_empty() && !name.is_empty());
        if !ok {
            let where_ = if matches!(value, Value::Array(_)) {
                path::index(at, i)
            } else {
                at.to_string()
            };
            return Err(PolicyError::invalid(
                &where_,
                format!(
                    "action `{a}` has no service prefix (write it as `service:{a}`, e.g. `aps:RemoteWrite`)"
                ),
            ));
        }
    }
    Ok(list)
}

fn principals(value: &Value, at: &str) -> Result<Principals, PolicyError> {
    let mut p = Principals::default();
    match value {
        Value::String(s) if s == "*" => p.any = true,
        Value::String(s) => {
            return Err(PolicyError::invalid(
                at,
                format!("a principal is `*` or an object such as {{\"AWS\": \"{s}\"}}"),
            ));
        }
        Value::Object(map) => {
            for (k, v) in map {
                let list = strings(v, &path::key(at, k))?;
                match k.as_str() {
                    "AWS" => {
                        if list.iter().any(|a| a == "*") {
                            p.any = true;
                        }
                        p.aws = list;
                    }
                    "Federated" => p.federated = list,
                    "Service" => p.service = list,
                    "CanonicalUser" => p.canonical_user = list,
                    _ => {
                        return Err(PolicyError::invalid(
                            &path::key(at, k),
                            format!(
                                "unknown principal type `{k}` (AWS, Federated, Service or CanonicalUser)"
                            ),
                        ));
                    }
                }
            }
        }
        _ => return Err(PolicyError::invalid(at, "a principal is `*` or an object")),
    }
    Ok(p)
}

fn conditions(value: &Value, at: &str) -> Result<Vec<Condition>, PolicyError> {
    let ops = value
        .as_object()
        .ok_or_else(|| PolicyError::invalid(at, "Condition must be an object of operators"))?;
    let mut out = Vec::new();
    for (name, keys) in ops {
        let op_path = path::key(at, name);
        let op = ConditionOp::parse(name).ok_or_else(|| {
            PolicyError::invalid(&op_path, format!("unknown condition operator `{name}`"))
        })?;
        let keys = keys.as_object().ok_or_else(|| {
            PolicyError::invalid(&op_path, "an operator maps condition keys to values")
        })?;
        for (key, values) in keys {
            let key_path = path::key(&op_path, key);
            let values = match values {
                Value::Array(items) => items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| scalar(v, &path::index(&key_path, i)))
                    .collect::<Result<Vec<_>, _>>()?,
                v => vec![scalar(v, &key_path)?],
            };
            out.push(Condition {
                op: op.clone(),
                key: key.clone(),
                values,
                path: key_path,
            });
        }
    }
    Ok(out)
}

fn scalar(value: &Value, at: &str) -> Result<String, PolicyError> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Number(n) => Ok(n.to_string()),
        _ => Err(PolicyError::invalid(
            at,
            "a condition value is a string, a boolean, a number, or a list of them",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(json: &str) -> (String, String) {
        match PolicyDocument::parse(json) {
            Err(PolicyError::Invalid { path, message }) => (path, message),
            other => panic!("expected an invalid-document error, got {other:?}"),
        }
    }

    #[test]
    fn statement_as_object_or_list_and_scalars_or_lists() {
        let one = PolicyDocument::parse(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"aps:RemoteWrite","Resource":"*"}}"#,
        )
        .unwrap();
        assert_eq!(one.statements.len(), 1);
        assert_eq!(one.statements[0].path, "Statement");
        assert_eq!(
            one.statements[0].action,
            Match::In(vec!["aps:RemoteWrite".into()])
        );
        let many = PolicyDocument::parse(
            r#"{"Statement":[{"Sid":"a","Effect":"Deny","NotAction":["s3:*","ec2:*"],"NotResource":["arn:x","arn:y"]},
                             {"Effect":"Allow","Action":"*","Resource":"*"}]}"#,
        )
        .unwrap();
        assert_eq!(many.version, None);
        assert_eq!(many.statements[0].path, "Statement[0]");
        assert_eq!(many.statements[1].path, "Statement[1]");
        assert_eq!(many.statements[0].sid.as_deref(), Some("a"));
        assert_eq!(many.statements[0].effect, Effect::Deny);
        assert!(many.statements[0].action.negated());
        assert_eq!(many.statements[0].action.inner().len(), 2);
        assert!(many.statements[0].resource.as_ref().unwrap().negated());
    }

    #[test]
    fn principals_of_every_shape() {
        let doc = PolicyDocument::parse(
            r#"{"Statement":[
              {"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole"},
              {"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::1:root","2"],"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"},
              {"Effect":"Allow","Principal":{"Federated":"arn:aws:iam::1:oidc-provider/x"},"Action":"sts:AssumeRoleWithWebIdentity"},
              {"Effect":"Deny","NotPrincipal":{"AWS":"*"},"Action":"sts:*"}
            ]}"#,
        )
        .unwrap();
        let p = |i: usize| doc.statements[i].principal.clone().unwrap();
        assert!(p(0).inner().any);
        assert_eq!(p(1).inner().aws, vec!["arn:aws:iam::1:root", "2"]);
        assert_eq!(p(1).inner().service, vec!["ec2.amazonaws.com"]);
        assert_eq!(
            p(2).inner().federated,
            vec!["arn:aws:iam::1:oidc-provider/x"]
        );
        assert!(p(3).negated() && p(3).inner().any);
    }

    #[test]
    fn conditions_with_qualifiers_and_non_string_values() {
        let doc = PolicyDocument::parse(
            r#"{"Statement":{"Effect":"Allow","Action":"sts:AssumeRoleWithWebIdentity","Principal":"*","Condition":{
              "StringEquals":{"k:sub":"a","k:aud":["b","c"]},
              "ForAnyValue:StringLike":{"k:amr":"auth*"},
              "ForAllValues:StringEquals":{"tags":[]},
              "StringLikeIfExists":{"x":"y"},
              "Bool":{"aws:SecureTransport":true},
              "NumericLessThan":{"n":3}
            }}}"#,
        )
        .unwrap();
        let c = &doc.statements[0].conditions;
        assert_eq!(c.len(), 7);
        let by_key = |k: &str| c.iter().find(|c| c.key == k).unwrap();
        assert_eq!(by_key("k:aud").values, vec!["b", "c"]);
        assert_eq!(
            by_key("k:sub").path,
            r#"Statement.Condition.StringEquals."k:sub""#
        );
        assert_eq!(
            by_key("k:amr").op.qualifier,
            Some(SetQualifier::ForAnyValue)
        );
        assert_eq!(by_key("k:amr").op.test, Test::StringLike);
        assert_eq!(
            by_key("tags").op.qualifier,
            Some(SetQualifier::ForAllValues)
        );
        assert!(by_key("tags").values.is_empty());
        assert!(by_key("x").op.if_exists);
        assert_eq!(by_key("aws:SecureTransport").values, vec!["true"]);
        assert_eq!(by_key("n").op.test, Test::Unsupported);
        assert_eq!(by_key("n").values, vec!["3"]);
    }

    #[test]
    fn json_syntax_errors_carry_line_and_column() {
        let e =
            PolicyDocument::parse("{\n  \"Statement\": [\n    {\"Effect\": \"Allow\",,}\n  ]\n}")
                .unwrap_err();
        let PolicyError::Json { line, column, .. } = e else {
            panic!("{e:?}")
        };
        assert_eq!((line, column), (3, 24));
        assert!(e.path().is_none());
        let e = PolicyDocument::parse("").unwrap_err();
        assert!(
            matches!(
                e,
                PolicyError::Json {
                    line: 1,
                    column: 0,
                    ..
                }
            ),
            "{e:?}"
        );
    }

    #[test]
    fn malformed_documents_name_the_json_path() {
        assert_eq!(err("[]").0, "");
        assert_eq!(
            err(r#"{"Version":"2012-10-17"}"#).1,
            "the document has no Statement"
        );
        assert_eq!(err(r#"{"Statement":{},"Extra":1}"#).0, "Extra");
        assert_eq!(
            err(r#"{"Version":"2020-01-01","Statement":[]}"#).0,
            "Version"
        );
        assert_eq!(err(r#"{"Version":3,"Statement":[]}"#).0, "Version");
        assert_eq!(err(r#"{"Statement":"x"}"#).0, "Statement");
        assert_eq!(err(r#"{"Statement":[1]}"#).0, "Statement[0]");
        let (p, m) = err(
            r#"{"Statement":[{"Effect":"Allow","Action":"*"},{"Effect":"allow","Action":"*"}]}"#,
        );
        assert_eq!(p, "Statement[1].Effect");
        assert!(m.contains("case-sensitive"), "{m}");
        assert_eq!(
            err(r#"{"Statement":[{"Action":"*"}]}"#).1,
            "the statement has no Effect"
        );
        assert_eq!(
            err(r#"{"Statement":[{"Effect":"Allow"}]}"#).1,
            "the statement has neither Action nor NotAction"
        );
        assert_eq!(
            err(r#"{"Statement":[{"Effect":"Allow","Action":"*","NotAction":"*"}]}"#).0,
            "Statement[0]"
        );
        let (p, m) = err(
            r#"{"Statement":[{"Effect":"Allow","Action":["aps:QueryMetrics","RemoteWrite"]}]}"#,
        );
        assert_eq!(p, "Statement[0].Action[1]");
        assert!(m.contains("aps:RemoteWrite"), "{m}");
        assert_eq!(
            err(r#"{"Statement":[{"Effect":"Allow","Action":["aps:X",3]}]}"#).0,
            "Statement[0].Action[1]"
        );
        assert_eq!(
            err(r#"{"Statement":[{"Effect":"Allow","Action":"*","Principal":{"Aws":"*"}}]}"#).0,
            "Statement[0].Principal.Aws"
        );
        assert_eq!(
            err(r#"{"Statement":[{"Effect":"Allow","Action":"*","Principal":"arn:aws:iam::1:root"}]}"#).0,
            "Statement[0].Principal"
        );
        assert_eq!(
            err(r#"{"Statement":[{"Effect":"Allow","Action":"*","Condition":{"StringEqual":{"a":"b"}}}]}"#).0,
            "Statement[0].Condition.StringEqual"
        );
        assert_eq!(
            err(r#"{"Statement":[{"Effect":"Allow","Action":"*","Condition":{"StringEquals":{"o:sub":{"x":1}}}}]}"#).0,
            r#"Statement[0].Condition.StringEquals."o:sub""#
        );
        assert_eq!(
            err(r#"{"Statement":[{"Effect":"Allow","Action":"*","Condition":{"StringEquals":"x"}}]}"#).0,
            "Statement[0].Condition.StringEquals"
        );
        assert_eq!(
            err(r#"{"Statement":[{"Effect":"Allow","Action":"*","Condition":{"ForAnyValue:Null":{"a":"true"}}}]}"#).0,
            r#"Statement[0].Condition."ForAnyValue:Null""#
        );
        assert_eq!(
            err(r#"{"Statement":[{"Effect":"Allow","Action":"*","Resources":"*"}]}"#).0,
            "Statement[0].Resources"
        );
        let e = PolicyDocument::parse(r#"{"Statement":[{"Effect":"Allow"}]}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid policy document at `Statement[0]`: the statement has neither Action nor NotAction"
        );
        assert_eq!(e.path(), Some("Statement[0]"));
    }

    #[test]
    fn operator_names() {
        let op = ConditionOp::parse("ForAllValues:StringNotEqualsIgnoreCaseIfExists").unwrap();
        assert_eq!(op.qualifier, Some(SetQualifier::ForAllValues));
        assert_eq!(op.test, Test::StringNotEqualsIgnoreCase);
        assert!(op.if_exists && op.test.negated());
        assert!(ConditionOp::parse("stringequals").is_none());
        assert!(ConditionOp::parse("StringEqualsIfExistsIfExists").is_none());
        assert_eq!(ConditionOp::parse("Null").unwrap().test, Test::Null);
        assert_eq!(
            ConditionOp::parse("IpAddress").unwrap().test,
            Test::Unsupported
        );
    }
}
