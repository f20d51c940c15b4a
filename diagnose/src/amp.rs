//! Shapes shared by the checks: AMP remote-write URLs, workspace ids, AWS regions, and
//! placeholders nobody expanded.
//!
//! AMP's remote-write URL is `https://aps-workspaces.<region>.amazonaws.com/workspaces/<id>/api/v1/remote_write`
//! (`aws-wire.md` A); `aps.<region>…` is the control plane. A VPC endpoint's own host name
//! (`vpce-….aps-workspaces.<region>.vpce.amazonaws.com`) is accepted too.

use std::sync::LazyLock;

use regex::Regex;

/// What a remote-write URL says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Endpoint {
    /// The region in the host name.
    pub region: Option<String>,
    /// The workspace id in the path.
    pub workspace: Option<String>,
    /// The host is AMP's (so requests must be SigV4-signed for `aps`).
    pub amp_host: bool,
    /// Ways it is not of the AMP form, each a sentence fragment.
    pub problems: Vec<String>,
}

static REGION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]$").expect("region pattern")
});
static WORKSPACE_ID: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^ws-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
        .expect("workspace id pattern")
});

pub(crate) fn is_region(s: &str) -> bool {
    REGION.is_match(s)
}

/// The remote-write URL for a workspace.
pub(crate) fn remote_write_url(region: &str, workspace: &str) -> String {
    format!(
        "https://aps-workspaces.{region}.amazonaws.com/workspaces/{workspace}/api/v1/remote_write"
    )
}

/// The workspace ARN IAM policies name.
pub(crate) fn workspace_arn(region: &str, account: &str, workspace: &str) -> String {
    let partition = if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    };
    format!("arn:{partition}:aps:{region}:{account}:workspace/{workspace}")
}

/// Reads a remote-write URL.
pub(crate) fn endpoint(url: &str) -> Endpoint {
    let mut ep = Endpoint::default();
    let Ok(u) = url::Url::parse(url.trim()) else {
        ep.problems.push("is not a URL".into());
        return ep;
    };
    let host = u.host_str().unwrap_or("").to_ascii_lowercase();
    let labels: Vec<&str> = host.split('.').collect();
    let at = |i: usize| labels.get(i).copied().unwrap_or("");
    let amazon = host.ends_with(".amazonaws.com") || host.ends_with(".amazonaws.com.cn");
    if amazon && at(0) == "aps-workspaces" {
        ep.amp_host = true;
        if labels.len() >= 4 {
            ep.region = Some(at(1).to_string());
        } else {
            ep.problems.push(format!(
                "host `{host}` has no region (`aps-workspaces.<region>.amazonaws.com`)"
            ));
        }
    } else if amazon && labels.len() >= 6 && at(1) == "aps-workspaces" && at(3) == "vpce" {
        // vpce-<id>.aps-workspaces.<region>.vpce.amazonaws.com
        ep.amp_host = true;
        ep.region = Some(at(2).to_string());
    } else if amazon && at(0) == "aps" && labels.len() >= 4 {
        ep.amp_host = true;
        ep.region = Some(at(1).to_string());
        ep.problems.push(format!(
            "host `{host}` is AMP's control plane; remote write goes to `aps-workspaces.{}.amazonaws.com`",
            at(1)
        ));
    }
    if let Some(r) = &ep.region
        && !is_region(r)
    {
        ep.problems.push(format!(
            "`{r}` in the host is not an AWS region name (like `us-east-1`)"
        ));
    }
    let segs: Vec<&str> = u.path().split('/').collect();
    // ["", "workspaces", id, "api", "v1", "remote_write"]
    if segs.get(1) == Some(&"workspaces") && segs.get(2).is_some_and(|s| !s.is_empty()) {
        ep.workspace = Some(segs[2].to_string());
        let rest = &segs[3..];
        let rest_path = rest.join("/");
        if rest_path != "api/v1/remote_write" {
            let what = match rest_path.as_str() {
                "" => "is the workspace's Prometheus endpoint; remote write is at `…/api/v1/remote_write` below it".to_string(),
                "api/v1/query" | "api/v1/query_range" => {
                    "is the query API; remote write is `…/api/v1/remote_write`".to_string()
                }
                _ => format!(
                    "path `{}` is not `/workspaces/<id>/api/v1/remote_write`",
                    u.path()
                ),
            };
            ep.problems.push(what);
        }
    } else if ep.amp_host {
        ep.problems.push(format!(
            "path `{}` names no workspace (`/workspaces/<id>/api/v1/remote_write`)",
            u.path()
        ));
    }
    if ep.amp_host && u.scheme() != "https" {
        ep.problems
            .push(format!("uses `{}`; AMP answers only https", u.scheme()));
    }
    ep
}

/// Whether a workspace id is of AMP's form; `Err` says how it is not, and whether that is
/// certainly wrong (`true`: not `ws-…` at all).
pub(crate) fn check_workspace_id(id: &str) -> Result<(), (bool, String)> {
    if WORKSPACE_ID.is_match(id) {
        return Ok(());
    }
    if id.starts_with("arn:") {
        return Err((
            true,
            format!("`{id}` is an ARN; the URL takes the workspace id (`ws-…`)"),
        ));
    }
    if !id.starts_with("ws-") {
        return Err((
            true,
            format!(
                "`{id}` is not an AMP workspace id (`ws-` and a UUID, like `ws-12345678-abcd-ef01-2345-6789abcdef01`): an alias or a name does not work in the URL"
            ),
        ));
    }
    Err((
        false,
        format!(
            "`{id}` does not look like an AMP workspace id (`ws-` and a lower-case UUID, like `ws-12345678-abcd-ef01-2345-6789abcdef01`): truncated or mistyped?"
        ),
    ))
}

/// What expands placeholders in the file (its reader).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Expansion {
    /// Helm values, Prometheus configs, Kubernetes objects: nothing expands anything.
    None,
    /// OpenTelemetry collector configs: the collector expands `${env:VAR}` and `${VAR}`.
    Collector,
    /// Grafana provisioning files: Grafana expands `$VAR` and `${VAR}` from its environment.
    Grafana,
    /// IAM policies: `${aws:username}`-style policy variables (with a `:`) and `${*}`,
    /// `${?}`, `${$}` are IAM's own.
    Iam,
}

/// The form of a placeholder, which tells who would expand it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Form {
    /// `${VAR}`: envsubst or a shell (`${lower_case}`: terraform's templatefile).
    Brace,
    /// `$VAR`: envsubst or a shell.
    Dollar,
    /// `${ var }`, `${var.name}`, `%{ if … }`: terraform.
    Terraform,
    /// `${env:VAR}`: the OpenTelemetry collector's own.
    CollectorEnv,
    /// `${aws:username}`, `${*}`: IAM's policy variables.
    IamVariable,
    /// `{{ … }}`: helm, a Go template, mustache (masked by the loader, see
    /// [`mask_templates`]).
    Template,
    /// `<ACCOUNT_ID>`, `<region:account>`: to be filled in by hand.
    Angle,
    /// `XXXXXXXX`, `REPLACE_ME`, `your-account-id`: to be filled in by hand.
    Filler,
}

/// A placeholder in a value: its text, where it starts (byte offset) and its form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Placeholder {
    pub text: String,
    pub start: usize,
    pub form: Form,
}

/// What a masked `{{ … }}` template action is replaced with: `ZTPL<n>` and `_` up to the
/// action's length, so positions in the file stay exact and the value stays a plain scalar.
const TOKEN: &str = "ZTPL";

static PLACEHOLDER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?P<brace>\$\{[^}\n]*\})",
        r"|(?P<directive>%\{[^}\n]*\})",
        r"|(?P<token>\bZTPL[0-9]+_*)",
        r"|(?P<dollar>\$[A-Z][A-Z0-9_]+\b)",
        r"|(?P<angle><(?:[A-Z][A-Z0-9_]{2,}|[A-Za-z][A-Za-z0-9_-]*:[A-Za-z][A-Za-z0-9_-]*|(?i:[a-z0-9_ .:-]*(?:account|region|workspace|cluster|role|your|oidc|arn|namespace|provider|issuer|bucket|ws)[a-z0-9_ .:-]*))>)",
        r"|(?P<word>(?i:\b(?:replace[_-]?me|change[_-]?me|fill[_-]?me[_-]?in|your[_-](?:account|aws[_-]account|region|workspace|cluster|role|oidc)[a-z0-9_-]*)\b))",
        r"|(?P<x>\b(?:X{6,}|x{6,})\b)",
    ))
    .expect("placeholder pattern")
});

/// Every placeholder in `text`, whoever would expand it: one per placeholder.
pub(crate) fn find(text: &str) -> Vec<Placeholder> {
    let mut out = Vec::new();
    for c in PLACEHOLDER.captures_iter(text) {
        let (m, form) = if let Some(m) = c.name("brace") {
            let inner = &m.as_str()[2..m.as_str().len() - 1];
            let name = inner.trim();
            // `${1}`: a regex capture group in relabel replacements; `$${X}`: escaped.
            if name.is_empty()
                || name.starts_with(|ch: char| ch.is_ascii_digit())
                || text[..m.start()].ends_with('$')
            {
                continue;
            }
            let form = if let Some(var) = name.strip_prefix("env:") {
                if var.is_empty() {
                    continue;
                }
                Form::CollectorEnv
            } else if name.contains(':') || matches!(name, "*" | "?" | "$") {
                Form::IamVariable
            } else if inner != name
                || name.contains(['.', '(', '[', ' '])
                || !name
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
            {
                Form::Terraform
            } else {
                Form::Brace
            };
            (m, form)
        } else if let Some(m) = c.name("directive") {
            (m, Form::Terraform)
        } else if let Some(m) = c.name("token") {
            (m, Form::Template)
        } else if let Some(m) = c.name("dollar") {
            if text[..m.start()].ends_with('$') {
                continue;
            }
            (m, Form::Dollar)
        } else if let Some(m) = c.name("angle") {
            // `(?P<name>…)`: a named group in a regex.
            let before = &text[..m.start()];
            if before.ends_with("?P") || before.ends_with('?') {
                continue;
            }
            (m, Form::Angle)
        } else if let Some(m) = c.name("word").or_else(|| c.name("x")) {
            (m, Form::Filler)
        } else {
            continue;
        };
        out.push(Placeholder {
            text: m.as_str().to_string(),
            start: m.start(),
            form,
        });
    }
    out
}

/// Whether the file's reader expands a placeholder of this form itself.
pub(crate) fn expanded_by(form: Form, expansion: Expansion) -> bool {
    matches!(
        (form, expansion),
        (Form::Brace | Form::CollectorEnv, Expansion::Collector)
            | (Form::Brace | Form::Dollar, Expansion::Grafana)
            | (Form::IamVariable, Expansion::Iam)
    )
}

/// The placeholders in `text` that the reader (`expansion`) will not expand.
pub(crate) fn placeholders(text: &str, expansion: Expansion) -> Vec<String> {
    find(text)
        .into_iter()
        .filter(|p| !expanded_by(p.form, expansion))
        .map(|p| p.text)
        .collect()
}

/// The value is nothing but a placeholder (so it is not a secret, whatever its key).
pub(crate) fn is_placeholder_only(text: &str) -> bool {
    find(text)
        .first()
        .is_some_and(|p| p.start == 0 && p.text.len() == text.len())
}

/// Replaces every `{{ … }}` template action (helm, Go templates, mustache) with a token of
/// the same length that reads as a plain YAML scalar, so a template file parses with its
/// positions intact; returns the text and the actions, the `n` of `ZTPL<n>` indexing them.
/// An action alone on its line (`{{- if … }}`, `{{- end }}`) becomes blanks. Actions that
/// are not templating of the file (Prometheus alert templates `{{ $labels.x }}`, Grafana
/// legends `{{pod}}`) are left alone.
pub(crate) fn mask_templates(text: &str) -> (String, Vec<String>) {
    if !text.contains("{{") {
        return (text.to_string(), Vec::new());
    }
    let mut out = String::with_capacity(text.len());
    let mut actions = Vec::new();
    for line in text.split_inclusive('\n') {
        let mut rest = line;
        let mut masked = String::new();
        while let Some(open) = rest.find("{{") {
            let Some(close) = rest[open..].find("}}").map(|c| open + c + 2) else {
                break;
            };
            let action = &rest[open..close];
            masked.push_str(&rest[..open]);
            let alone = rest[..open].trim().is_empty()
                && rest[close..].trim().is_empty()
                && masked.trim().is_empty();
            let len = action.chars().count();
            if !is_file_template(action) {
                masked.push_str(action);
            } else if alone && is_control(action) {
                masked.push_str(&" ".repeat(len));
            } else {
                let token = format!("{TOKEN}{}", actions.len());
                if token.len() > len {
                    masked.push_str(action);
                } else {
                    masked.push_str(&token);
                    masked.push_str(&"_".repeat(len - token.len()));
                    actions.push(action.to_string());
                }
            }
            rest = &rest[close..];
        }
        masked.push_str(rest);
        out.push_str(&masked);
    }
    (out, actions)
}

/// The inside of a `{{ … }}` action, without trim markers.
fn action_inner(action: &str) -> &str {
    let inner = &action[2..action.len() - 2];
    inner.trim_start_matches('-').trim_end_matches('-').trim()
}

/// Whether `{{ … }}` templates the file (helm, Go templates, an UPPER_CASE substitution),
/// rather than being a template the file's reader evaluates later (`{{ $labels.x }}`,
/// `{{pod}}`).
fn is_file_template(action: &str) -> bool {
    let inner = action_inner(action);
    let first = inner.split_whitespace().next().unwrap_or("");
    inner.starts_with('.')
        || action.starts_with("{{-")
        || matches!(
            first,
            "if" | "else"
                | "end"
                | "range"
                | "with"
                | "define"
                | "template"
                | "include"
                | "toYaml"
                | "tpl"
                | "default"
                | "quote"
                | "required"
                | "printf"
                | "block"
        )
        || (inner.len() >= 3
            && inner
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            && inner.starts_with(|c: char| c.is_ascii_uppercase()))
}

/// A control action (`if`, `end`, `range`, …) that produces no value.
fn is_control(action: &str) -> bool {
    let first = action_inner(action).split_whitespace().next().unwrap_or("");
    matches!(
        first,
        "if" | "else" | "end" | "range" | "with" | "define" | "block" | "/*"
    ) || action_inner(action).starts_with("/*")
}

/// Who would expand a placeholder: `original` is the placeholder as written (the template
/// action for a masked one); `file` the file's name, whose extension can say it is a
/// template (`.tpl`: terraform's templatefile).
pub(crate) fn expander(form: Form, original: &str, file: &str) -> &'static str {
    let lower = file.to_ascii_lowercase();
    let ext = |e: &str| lower.ends_with(e);
    match form {
        Form::Template => {
            let inner = action_inner(original);
            if [
                ".Values",
                ".Release",
                ".Chart",
                ".Capabilities",
                ".Files",
                "include ",
                "toYaml",
                "tpl ",
            ]
            .iter()
            .any(|k| inner.contains(k))
            {
                "helm, in a chart's templates/ (never in a values file or a file you apply yourself)"
            } else if inner.starts_with('.') || original.starts_with("{{-") {
                "the Go text/template renderer that generates this file"
            } else {
                "a text substitution step (sed, mustache)"
            }
        }
        Form::Brace | Form::Dollar if ext(".tpl") || ext(".tftpl") => {
            "terraform's templatefile() (this is a `.tpl` template)"
        }
        Form::Brace | Form::Dollar if ext(".j2") => "Jinja2 (this is a `.j2` template)",
        Form::Brace
            if original[2..original.len() - 1]
                .chars()
                .any(|c| c.is_ascii_lowercase()) =>
        {
            "terraform's templatefile() (a lower-case template variable)"
        }
        Form::Brace | Form::Dollar => "envsubst (or the shell that writes the file)",
        Form::Terraform => "terraform (templatefile() or an interpolated string)",
        Form::CollectorEnv => "the OpenTelemetry collector, in its own config",
        Form::IamVariable => "IAM, in its own policy variables",
        Form::Angle | Form::Filler => "nobody: it marks a value to fill in by hand",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WS: &str = "ws-12345678-abcd-ef01-2345-6789abcdef01";

    #[test]
    fn the_amp_form() {
        let e = endpoint(&remote_write_url("us-east-1", WS));
        assert_eq!(e.region.as_deref(), Some("us-east-1"));
        assert_eq!(e.workspace.as_deref(), Some(WS));
        assert!(e.amp_host && e.problems.is_empty(), "{e:?}");
        let vpce = endpoint(&format!(
            "https://vpce-0abc-xyz.aps-workspaces.eu-west-1.vpce.amazonaws.com/workspaces/{WS}/api/v1/remote_write"
        ));
        assert_eq!(vpce.region.as_deref(), Some("eu-west-1"));
        assert!(vpce.problems.is_empty(), "{vpce:?}");
    }

    #[test]
    fn common_mistakes() {
        let p = |url: &str| endpoint(url).problems.join(" | ");
        assert!(
            p(&format!(
                "https://aps-workspaces.us-east-1.amazonaws.com/workspaces/{WS}/"
            ))
            .contains("Prometheus endpoint")
        );
        assert!(
            p(&format!(
                "https://aps-workspaces.us-east-1.amazonaws.com/workspaces/{WS}/api/v1/query"
            ))
            .contains("query API")
        );
        assert!(
            p(&format!(
                "https://aps.us-east-1.amazonaws.com/workspaces/{WS}/api/v1/remote_write"
            ))
            .contains("control plane")
        );
        assert!(
            p(&format!(
                "http://aps-workspaces.us-east-1.amazonaws.com/workspaces/{WS}/api/v1/remote_write"
            ))
            .contains("https")
        );
        assert!(
            p(&format!(
                "https://aps-workspaces.amazonaws.com/workspaces/{WS}/api/v1/remote_write"
            ))
            .contains("no region")
        );
        assert!(
            p(&format!(
                "https://aps-workspaces.us-east1.amazonaws.com/workspaces/{WS}/api/v1/remote_write"
            ))
            .contains("not an AWS region")
        );
        assert!(
            p("https://aps-workspaces.us-east-1.amazonaws.com/api/v1/remote_write")
                .contains("names no workspace")
        );
        assert!(p(&format!("https://aps-workspaces.us-east-1.amazonaws.com/workspaces/{WS}/api/v1/remote_write/")).contains("is not `/workspaces"));
        assert!(p("not a url").contains("not a URL"));
        let proxy = endpoint(&format!(
            "http://localhost:8005/workspaces/{WS}/api/v1/remote_write"
        ));
        assert!(!proxy.amp_host && proxy.problems.is_empty());
        assert_eq!(proxy.workspace.as_deref(), Some(WS));
    }

    #[test]
    fn workspace_ids() {
        assert!(check_workspace_id(WS).is_ok());
        assert!(check_workspace_id("my-workspace").unwrap_err().0);
        assert!(
            check_workspace_id("arn:aws:aps:us-east-1:1:workspace/ws-1")
                .unwrap_err()
                .0
        );
        assert!(!check_workspace_id("ws-1234").unwrap_err().0);
        assert!(
            !check_workspace_id(&WS.to_uppercase().replace("WS-", "ws-"))
                .unwrap_err()
                .0
        );
    }

    #[test]
    fn regions_and_arns() {
        for r in [
            "us-east-1",
            "eu-central-2",
            "us-gov-west-1",
            "cn-north-1",
            "ap-southeast-4",
        ] {
            assert!(is_region(r), "{r}");
        }
        for r in ["us-east1", "US-EAST-1", "useast-1", ""] {
            assert!(!is_region(r), "{r}");
        }
        assert_eq!(
            workspace_arn("cn-north-1", "1", "ws-x"),
            "arn:aws-cn:aps:cn-north-1:1:workspace/ws-x"
        );
    }

    #[test]
    fn placeholders_by_file_kind() {
        let none = Expansion::None;
        assert_eq!(
            placeholders("https://aps-workspaces.${REGION}.amazonaws.com", none),
            ["${REGION}"]
        );
        assert_eq!(
            placeholders("arn:aws:iam::<ACCOUNT_ID>:role/x", none),
            ["<ACCOUNT_ID>"]
        );
        assert_eq!(
            placeholders("arn:aws:iam::<your-account-id>:role/x", none),
            ["<your-account-id>"]
        );
        assert_eq!(placeholders("REPLACE_ME", none), ["REPLACE_ME"]);
        assert_eq!(
            placeholders("ws-YOUR_WORKSPACE_ID", none),
            ["YOUR_WORKSPACE_ID"]
        );
        assert_eq!(
            placeholders("YOUR_WORKSPACE_ID", none),
            ["YOUR_WORKSPACE_ID"]
        );
        assert!(placeholders("${1}:9090", none).is_empty());
        assert!(placeholders("(?P<namespace>[^/]+)", none).is_empty());
        assert!(placeholders("a <b> tag", none).is_empty());
        assert!(placeholders("${env:AWS_REGION}", Expansion::Collector).is_empty());
        assert_eq!(placeholders("${AWS_REGION}", none), ["${AWS_REGION}"]);
        assert!(placeholders("arn:aws:s3:::b/${aws:username}/*", Expansion::Iam).is_empty());
        assert_eq!(
            placeholders("arn:aws:iam::${ACCOUNT}:root", Expansion::Iam),
            ["${ACCOUNT}"]
        );
        assert!(
            placeholders("system:serviceaccount:prometheus:prometheus-server", none).is_empty()
        );
        assert!(is_placeholder_only("${X}") && is_placeholder_only("<ACCOUNT_ID>"));
        assert!(!is_placeholder_only("a ${X}"));
    }

    #[test]
    fn one_placeholder_each_with_its_form() {
        let forms = |t: &str| -> Vec<(String, Form)> {
            find(t).into_iter().map(|p| (p.text, p.form)).collect()
        };
        assert_eq!(
            forms(
                "$VAR ${VAR} ${ var } ${var.region} %{ if x } ${env:X} <a:b> XXXXXXXX REPLACE_ME"
            ),
            [
                ("$VAR".to_string(), Form::Dollar),
                ("${VAR}".to_string(), Form::Brace),
                ("${ var }".to_string(), Form::Terraform),
                ("${var.region}".to_string(), Form::Terraform),
                ("%{ if x }".to_string(), Form::Terraform),
                ("${env:X}".to_string(), Form::CollectorEnv),
                ("<a:b>".to_string(), Form::Angle),
                ("XXXXXXXX".to_string(), Form::Filler),
                ("REPLACE_ME".to_string(), Form::Filler),
            ]
        );
        // One finding for `<YOUR_REGION>`, not one for the brackets and one for the word.
        assert_eq!(find("<YOUR_REGION>").len(), 1);
        // Escapes, capture groups, Prometheus and Grafana variables are no placeholders.
        assert!(find("$${X} $$X $1 ${1} $labels $__rate_interval").is_empty());
        // The reader decides what it expands.
        assert!(placeholders("${X} ${env:Y}", Expansion::Collector).is_empty());
        assert_eq!(placeholders("$VAR", Expansion::Collector), ["$VAR"]);
        assert!(placeholders("$VAR ${Y}", Expansion::Grafana).is_empty());
        assert_eq!(placeholders("${env:X}", Expansion::Grafana), ["${env:X}"]);
    }

    #[test]
    fn template_actions_are_masked_in_place() {
        let text = "metadata:\n  namespace: {{ .Release.Namespace }}\n{{- if .Values.x }}\nurl: \"http://{{.IP}}:9090\"\n{{- end }}\nlegend: \"{{pod}}\"\nalert: \"{{ $labels.instance }} down\"\n";
        let (masked, actions) = mask_templates(text);
        assert_eq!(masked.len(), text.len());
        assert_eq!(actions, ["{{ .Release.Namespace }}", "{{.IP}}"]);
        assert!(masked.contains(&format!("namespace: ZTPL0{}\n", "_".repeat(19))));
        assert!(masked.contains(&format!("\n{}\nurl", " ".repeat(19))));
        assert!(masked.contains("{{pod}}") && masked.contains("{{ $labels.instance }}"));
        let docs = crate::yaml::parse(&masked).unwrap();
        assert_eq!(
            docs[0].at(&["metadata", "namespace"]).unwrap().pos.column,
            14
        );
        assert_eq!(find(&masked)[0].form, Form::Template);
        assert_eq!(mask_templates("a: b\n").1.len(), 0);
    }

    #[test]
    fn who_expands_what() {
        let e = |f: Form, t: &str, file: &str| expander(f, t, file);
        assert!(e(Form::Template, "{{ .Values.region }}", "c.yaml").starts_with("helm"));
        assert!(e(Form::Template, "{{.IP}}", "c.yaml").contains("Go text/template"));
        assert!(e(Form::Template, "{{AWS_REGION}}", "c.yaml").contains("sed"));
        assert!(e(Form::Brace, "${AWS_REGION}", "v.yaml").starts_with("envsubst"));
        assert!(e(Form::Brace, "${aws_region}", "v.yaml").starts_with("terraform"));
        assert!(e(Form::Brace, "${AWS_REGION}", "v.yaml.tpl").starts_with("terraform"));
        assert!(e(Form::Dollar, "$X", "v.yaml").starts_with("envsubst"));
        assert!(e(Form::Terraform, "${ x }", "v.yaml").starts_with("terraform"));
        assert!(e(Form::Angle, "<ACCOUNT_ID>", "v.yaml").starts_with("nobody"));
    }
}
