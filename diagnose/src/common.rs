//! Checks over every file, whatever it is: placeholders nobody expands (D1), static AWS
//! keys (D5), and whether the files agree on the workspace and region (D7).

use serde_json::Value;

use super::amp::{self, Expansion};
use super::context::{Ctx, EndpointFact};
use super::finding::{Finding, Severity};
use super::inputs::{Body, Input, Role};
use super::json::JsonDoc;
use super::recognize::{Kind, ValuesOf};
use super::yaml::{Node, Pos};

/// How a document's reader treats placeholders: what it expands itself, and why what it
/// does not expand stays as written.
fn reader(input: &Input, kind: &Kind) -> (Expansion, &'static str) {
    match (input.role, kind) {
        (Role::HelmValues, _) | (_, Kind::Values(_)) => (
            Expansion::None,
            "helm does not expand variables or templates in values files",
        ),
        (
            _,
            Kind::OtelConfig
            | Kind::CollectorResource
            | Kind::CollectorConfigMap
            | Kind::CollectorWorkload,
        )
        | (Role::CollectorConfig, Kind::Unknown(_) | Kind::Empty) => (
            Expansion::Collector,
            "the collector expands only `${env:VAR}` and `${VAR}` (since v0.104 it refuses a bare `$VAR`, which older releases expanded)",
        ),
        (_, Kind::GrafanaProvisioning | Kind::GrafanaConfigMap) => (
            Expansion::Grafana,
            "Grafana's provisioning expands only environment variables (`$VAR`, `${VAR}`)",
        ),
        (_, Kind::GrafanaApi) => (
            Expansion::None,
            "Grafana's HTTP API stores the value as written",
        ),
        (_, Kind::GrafanaResource) => (
            Expansion::None,
            "grafana-operator sends the value to Grafana as written",
        ),
        (_, Kind::TrustPolicy | Kind::PermissionPolicy) => (
            Expansion::Iam,
            "IAM takes it literally: it substitutes only its own policy variables such as ${aws:username}",
        ),
        (_, Kind::PrometheusConfig) => (
            Expansion::None,
            "Prometheus does not expand environment variables in its config",
        ),
        (Role::GrafanaDatasource, _) => (
            Expansion::Grafana,
            "Grafana's provisioning expands only environment variables (`$VAR`, `${VAR}`)",
        ),
        _ => (Expansion::None, "Kubernetes applies the object as written"),
    }
}

/// D1 and D5 for one file, whose documents are of `kinds`.
pub(crate) fn check_file(ctx: &mut Ctx, input: &Input, kinds: &[Kind]) {
    // The cluster's CRD is no one's hand-written file, and its descriptions are prose.
    if input.role == Role::Crd {
        return;
    }
    let docs = input.docs();
    match &input.body {
        Body::Yaml(_) => {
            for (doc, kind) in docs.iter().zip(kinds) {
                if *kind == Kind::PrometheusCrd {
                    continue;
                }
                // In a ConfigMap with a collector config, the collector reads the data.
                let (expansion, why) = reader(input, kind);
                yaml_file(ctx, input, doc, expansion, why, key_fix(input.role, kind));
            }
        }
        Body::Json(json) => {
            let kind = kinds.first().cloned().unwrap_or(Kind::Empty);
            let (expansion, why) = match (input.role, &kind) {
                (Role::GrafanaDatasource, _) | (_, Kind::GrafanaApi) => (
                    Expansion::None,
                    "Grafana's HTTP API stores the value as written",
                ),
                (Role::TrustPolicy | Role::PermissionPolicy, _)
                | (_, Kind::TrustPolicy | Kind::PermissionPolicy) => (
                    Expansion::Iam,
                    "IAM takes it literally: it substitutes only its own policy variables such as ${aws:username}",
                ),
                _ => reader(input, &kind),
            };
            json_file(ctx, input, json, expansion, why, key_fix(input.role, &kind))
        }
    }
}

fn yaml_file(
    ctx: &mut Ctx,
    input: &Input,
    doc: &Node,
    expansion: Expansion,
    why: &str,
    key_fix: &str,
) {
    let file = input.name.as_str();
    let mut found: Vec<Finding> = Vec::new();
    doc.walk("", &mut |p, entry, value| {
        // Static keys (D5), never quoting the value.
        if let Some(e) = entry
            && is_key_name(&e.key)
            && let Some(v) = value.str()
            && !v.trim().is_empty()
            && !v.contains("${")
            && !amp::is_placeholder_only(v.trim())
        {
            found.push(static_key(file, e.key_pos, p, key_fix));
        } else if let Some(name) = value.get("name").and_then(Node::str)
            && [
                "AWS_ACCESS_KEY_ID",
                "AWS_SECRET_ACCESS_KEY",
                "AWS_SESSION_TOKEN",
            ]
            .contains(&name)
            && value
                .get("value")
                .and_then(Node::str)
                .is_some_and(|v| !v.trim().is_empty() && !amp::is_placeholder_only(v.trim()))
        {
            let pos = value.entry("value").map_or(value.pos, |e| e.key_pos);
            found.push(static_key(
                file,
                pos,
                &pipecheck_policy::path::key(p, "value"),
                key_fix,
            ));
        } else if let Some(v) = value.str()
            && has_access_key_id(v)
        {
            found.push(static_key(file, value.pos, p, key_fix));
        }
        // Placeholders (D1). Relabel rules use `${1}` and `$1` for capture groups.
        let Some(s) = value.scalar() else { return };
        if p.contains("relabel") {
            return;
        }
        for hit in amp::find(&s.text) {
            if amp::expanded_by(hit.form, expansion) && !is_template_file(file) {
                continue;
            }
            let pos = match s.block {
                Some(start) => within_block(&s.text, hit.start, start),
                // A plain one-line scalar is written as it reads: point at the placeholder.
                None if s.plain && !s.text.contains('\n') => Pos {
                    line: value.pos.line,
                    column: value.pos.column + s.text[..hit.start].chars().count(),
                },
                None => value.pos,
            };
            found.push(placeholder(input, pos, p, &hit, expansion, why));
        }
    });
    for f in found {
        ctx.push(f);
    }
}

fn json_file(
    ctx: &mut Ctx,
    input: &Input,
    json: &JsonDoc,
    expansion: Expansion,
    why: &str,
    key_fix: &str,
) {
    let file = input.name.as_str();
    let mut found = Vec::new();
    walk_json(&json.value, "", &mut |p, s| {
        if has_access_key_id(s) {
            found.push(static_key(file, json.pos(p), p, key_fix));
        }
        for hit in amp::find(s) {
            if !amp::expanded_by(hit.form, expansion) {
                found.push(placeholder(input, json.pos(p), p, &hit, expansion, why));
            }
        }
    });
    for f in found {
        ctx.push(f);
    }
}

/// A file whose name says it is a template (`values.yaml.tpl`): every placeholder in it
/// is its template engine's, even those its reader could expand.
fn is_template_file(file: &str) -> bool {
    let f = file.to_ascii_lowercase();
    [".tpl", ".tftpl", ".tmpl", ".gotmpl", ".j2"]
        .iter()
        .any(|e| f.ends_with(e))
}

fn walk_json(v: &Value, p: &str, f: &mut impl FnMut(&str, &str)) {
    match v {
        Value::String(s) => f(p, s),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                walk_json(item, &pipecheck_policy::path::index(p, i), f);
            }
        }
        Value::Object(map) => {
            for (k, item) in map {
                walk_json(item, &pipecheck_policy::path::key(p, k), f);
            }
        }
        _ => {}
    }
}

/// The file position of byte offset `off` inside a literal block scalar starting at
/// `start`.
fn within_block(text: &str, off: usize, start: Pos) -> Pos {
    let before = &text[..off.min(text.len())];
    let line = before.matches('\n').count();
    let col = before.rsplit('\n').next().unwrap_or("").chars().count();
    Pos {
        line: start.line + line,
        column: start.column + col,
    }
}

/// D1 for one placeholder: what it is, who would fill it, and why the file's reader does
/// not (`expansion`: what that reader expands itself).
fn placeholder(
    input: &Input,
    pos: Pos,
    p: &str,
    hit: &amp::Placeholder,
    expansion: Expansion,
    why: &str,
) -> Finding {
    let shown = match hit.form {
        amp::Form::Template => input.template(&hit.text).unwrap_or(&hit.text),
        _ => hit.text.as_str(),
    };
    let who = amp::expander(hit.form, shown, &input.name);
    let (message, fix) = match hit.form {
        amp::Form::Angle | amp::Form::Filler => (
            format!(
                "`{shown}` is a placeholder to fill in by hand, left in the file: {why}. The value is used as written"
            ),
            "replace the placeholder with the real value".to_string(),
        ),
        amp::Form::Dollar if expansion == Expansion::Collector => (
            format!(
                "`{shown}` is not expanded: {why}. The value is used as written, or the collector refuses the config"
            ),
            format!("write `${{env:{}}}`", &shown[1..]),
        ),
        // A template file whose reader also expands this form: rendered first.
        _ if amp::expanded_by(hit.form, expansion) => (
            format!(
                "`{shown}` is a placeholder filled by {who}, still unexpanded here: given as it is, the file's reader would put an environment variable of that name in its place instead, most likely unset"
            ),
            "render the template first and diagnose the result".to_string(),
        ),
        _ => (
            format!(
                "`{shown}` is a placeholder filled only by {who}, still unexpanded here: {why}. The value is used as written"
            ),
            "render the file with that tool first and diagnose the result, or write the real value"
                .to_string(),
        ),
    };
    Finding::new("D1", Severity::Error, &input.name, pos, p, message, fix)
}

/// `access_key`, `secretKey`, `aws_secret_access_key`, … (not `*_file`, not selectors).
fn is_key_name(key: &str) -> bool {
    let k = key.to_ascii_lowercase().replace(['-', '_'], "");
    matches!(
        k.as_str(),
        "accesskey"
            | "secretkey"
            | "awsaccesskeyid"
            | "awssecretaccesskey"
            | "secretaccesskey"
            | "accesskeyid"
    )
}

fn has_access_key_id(s: &str) -> bool {
    let b = s.as_bytes();
    (0..b.len().saturating_sub(19)).any(|i| {
        (b[i..].starts_with(b"AKIA") || b[i..].starts_with(b"ASIA"))
            && b[i + 4..i + 20]
                .iter()
                .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
            && (i == 0 || !b[i - 1].is_ascii_alphanumeric())
            && b.get(i + 20).is_none_or(|c| !c.is_ascii_alphanumeric())
    })
}

/// What to do instead of a static key, for the kind of file it is in.
fn key_fix(role: Role, kind: &Kind) -> &'static str {
    let grafana = matches!(
        kind,
        Kind::GrafanaProvisioning
            | Kind::GrafanaApi
            | Kind::GrafanaResource
            | Kind::GrafanaConfigMap
            | Kind::Values(ValuesOf::Grafana)
    ) || role == Role::GrafanaDatasource;
    match role {
        _ if grafana => {
            "remove it and let Grafana sign with a role: on Amazon Managed Grafana the workspace's IAM role (`sigV4AuthType: ec2_iam_role`), elsewhere the instance's or pod's (`default`); then deactivate the key in IAM"
        }
        _ => {
            "remove it and let the pod's service account carry an IAM role (the eks.amazonaws.com/role-arn annotation); then deactivate the key in IAM"
        }
    }
}

fn static_key(file: &str, pos: Pos, p: &str, fix: &str) -> Finding {
    Finding::new(
        "D5",
        Severity::Warning,
        file,
        pos,
        p,
        "a static AWS access key is written here (its value is not shown): it bypasses IRSA, never rotates, and anyone who can read this file, or the Secret or ConfigMap made from it, can use it",
        fix,
    )
}

/// D7: endpoints of different files that disagree on workspace or region.
pub(crate) fn cross_file(ctx: &mut Ctx) {
    let eps: Vec<EndpointFact> = ctx.endpoints.clone();
    let Some(reference) = eps
        .iter()
        .find(|e| e.workspace.is_some() || e.region.is_some())
    else {
        return;
    };
    for e in eps.iter().filter(|e| e.file != reference.file) {
        let ws_differs =
            matches!((&e.workspace, &reference.workspace), (Some(a), Some(b)) if a != b);
        let region_differs = matches!((&e.region, &reference.region), (Some(a), Some(b)) if a != b);
        if !ws_differs && !region_differs {
            continue;
        }
        let describe = |x: &EndpointFact| {
            format!(
                "workspace `{}` in `{}`",
                x.workspace.as_deref().unwrap_or("?"),
                x.region.as_deref().unwrap_or("?")
            )
        };
        ctx.push(Finding::new(
            "D7",
            Severity::Warning,
            &e.file,
            e.pos,
            &e.key_path,
            format!(
                "this names {}, but {}:{} (`{}`) names {}: the files of one pipeline point at different places, so what one side writes the other never reads",
                describe(e),
                reference.file,
                reference.pos.line,
                reference.key_path,
                describe(reference)
            ),
            "point both at the same workspace and region",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::Settings;
    use crate::yaml;

    fn ctx() -> Ctx {
        Ctx::new(Settings {
            namespace: None,
            release: None,
            collector_image: None,
        })
    }

    fn yaml_input(role: Role, text: &str) -> Input {
        Input::new(role, "f.yaml", Body::Yaml(yaml::parse(text).unwrap()))
    }

    /// `check_file` with every document recognised, as `diagnose` does.
    fn check(c: &mut Ctx, input: &Input) {
        let kinds: Vec<Kind> = input
            .docs()
            .iter()
            .map(crate::recognize::document)
            .collect();
        check_file(c, input, &kinds);
    }

    #[test]
    fn placeholders_by_file_kind() {
        let mut c = ctx();
        check(
            &mut c,
            &yaml_input(
                Role::HelmValues,
                "a:\n  url: https://aps-workspaces.${REGION}.amazonaws.com\n  arn: arn:aws:iam::<ACCOUNT_ID>:role/x\nrelabel_configs:\n  - replacement: ${1}\n    target: ${X}\n",
            ),
        );
        let got: Vec<_> = c
            .findings
            .iter()
            .map(|f| (f.id, f.line, f.key_path.as_str()))
            .collect();
        assert_eq!(got, [("D1", 2, "a.url"), ("D1", 3, "a.arn")]);
        assert!(c.findings[0].message.contains("helm does not expand"));
        let mut c = ctx();
        check(
            &mut c,
            &yaml_input(
                Role::CollectorConfig,
                "exporters:\n  prometheusremotewrite:\n    endpoint: ${env:AMP_ENDPOINT}\nextensions:\n  sigv4auth:\n    region: REPLACE_ME\n",
            ),
        );
        let got: Vec<_> = c.findings.iter().map(|f| (f.id, f.line)).collect();
        assert_eq!(got, [("D1", 6)]);
    }

    #[test]
    fn placeholders_inside_a_block_config_point_at_their_line() {
        let mut c = ctx();
        check(
            &mut c,
            &yaml_input(
                Role::CollectorConfig,
                "kind: OpenTelemetryCollector\nspec:\n  config: |\n    exporters:\n      prometheusremotewrite:\n        endpoint: https://x/workspaces/<WORKSPACE_ID>/api\n",
            ),
        );
        assert_eq!(c.findings.len(), 1);
        assert_eq!((c.findings[0].line, c.findings[0].column), (6, 40));
    }

    #[test]
    fn static_keys_are_found_but_never_quoted() {
        let mut c = ctx();
        check(
            &mut c,
            &yaml_input(
                Role::HelmValues,
                "sigv4:\n  access_key: AKIAIOSFODNN7EXAMPLE\n  secret_key: wJalrXUtnFEMI\nenv:\n  - name: AWS_SECRET_ACCESS_KEY\n    value: abc\nnote: key AKIAIOSFODNN7EXAMPLE here\nempty:\n  access_key: \"\"\n",
            ),
        );
        let got: Vec<_> = c.findings.iter().map(|f| (f.id, f.line)).collect();
        assert_eq!(got, [("D5", 2), ("D5", 3), ("D5", 6), ("D5", 7)]);
        assert!(
            c.findings
                .iter()
                .all(|f| !f.message.contains("AKIA") && !f.message.contains("wJal"))
        );
    }

    #[test]
    fn json_placeholders_and_policy_variables() {
        let mut c = ctx();
        let json = JsonDoc::parse("{\"Statement\": [{\"Resource\": [\"arn:aws:s3:::b/${aws:username}\", \"arn:aws:aps:${REGION}:1:workspace/*\"]}]}").unwrap();
        check(
            &mut c,
            &Input::new(Role::PermissionPolicy, "p.json", Body::Json(json)),
        );
        assert_eq!(c.findings.len(), 1);
        assert_eq!(c.findings[0].key_path, "Statement[0].Resource[1]");
    }

    #[test]
    fn files_disagreeing_on_the_workspace() {
        let mut c = ctx();
        let ep = |file: &str, ws: &str, region: &str| EndpointFact {
            file: file.into(),
            key_path: "url".into(),
            pos: Pos { line: 3, column: 1 },
            region: Some(region.into()),
            workspace: Some(ws.into()),
        };
        c.endpoints = vec![
            ep("a.yaml", "ws-a", "us-east-1"),
            ep("a.yaml", "ws-b", "us-east-1"),
            ep("b.yaml", "ws-a", "us-east-1"),
        ];
        cross_file(&mut c);
        assert!(c.findings.is_empty());
        c.endpoints.push(ep("b.yaml", "ws-a", "eu-west-1"));
        cross_file(&mut c);
        assert_eq!(c.findings.len(), 1);
        assert!(c.findings[0].message.contains("a.yaml:3"));
    }
}
