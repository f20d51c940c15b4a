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

/// How a file would expand `${…}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Expansion {
    /// Helm values, Prometheus configs: nothing expands `${VAR}`.
    None,
    /// OpenTelemetry collector configs: the collector expands `${env:VAR}` and `${VAR}`.
    Collector,
    /// IAM policies: `${aws:username}`-style policy variables (with a `:`) and `${*}`,
    /// `${?}`, `${$}` are IAM's own.
    Iam,
}

static PLACEHOLDER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?P<dollar>\$\{[^}\s]*\})",
        r"|(?P<angle><(?:[A-Z][A-Z0-9_]{2,}|(?i:[a-z0-9_ -]*(?:account|region|workspace|cluster|role|your|oidc|arn|namespace|provider|issuer|bucket|ws)[a-z0-9_ -]*))>)",
        r"|(?P<word>(?i:\b(?:replace[_-]?me|change[_-]?me|fill[_-]?me[_-]?in|your[_-](?:account|aws[_-]account|region|workspace|cluster|role|oidc)[a-z0-9_-]*)\b))"
    ))
    .expect("placeholder pattern")
});

/// The placeholders in `text` that nothing will expand.
pub(crate) fn placeholders(text: &str, expansion: Expansion) -> Vec<String> {
    let mut out = Vec::new();
    for c in PLACEHOLDER.captures_iter(text) {
        if let Some(m) = c.name("dollar") {
            let inner = &m.as_str()[2..m.as_str().len() - 1];
            // `${1}`: a regex capture group in relabel replacements.
            if inner.is_empty() || inner.starts_with(|ch: char| ch.is_ascii_digit()) {
                continue;
            }
            match expansion {
                Expansion::None => {}
                Expansion::Collector => continue,
                Expansion::Iam if inner.contains(':') || matches!(inner, "*" | "?" | "$") => {
                    continue;
                }
                Expansion::Iam => {}
            }
            out.push(m.as_str().to_string());
        } else if let Some(m) = c.name("angle") {
            // `(?P<name>…)`: a named group in a regex.
            let before = &text[..m.start()];
            if before.ends_with("?P") || before.ends_with('?') {
                continue;
            }
            out.push(m.as_str().to_string());
        } else if let Some(m) = c.name("word") {
            out.push(m.as_str().to_string());
        }
    }
    out
}

/// The value is nothing but a placeholder (so it is not a secret, whatever its key).
pub(crate) fn is_placeholder_only(text: &str) -> bool {
    PLACEHOLDER
        .find(text)
        .is_some_and(|m| m.start() == 0 && m.end() == text.len())
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
}
