//! `--grafana-datasource`: a Grafana data source as the HTTP API shows it (`GET
//! /api/datasources`, a list, or one data source; JSON) or a provisioning file
//! (`apiVersion: 1`, `datasources: […]`; YAML). Both are read into the same [`Node`] tree
//! (JSON through [`super::json::JsonDoc::to_node`]), so the checks are written once (L8).
//!
//! SigV4 settings live in `jsonData` under the `sigV4…` keys: the Prometheus data source
//! reads them, and the AMP plugin (`grafana-amazonprometheus-datasource`) stores its form's
//! `authType`, `assumeRoleArn`, `defaultRegion`, … under those same `sigV4…` names
//! (`aws-wire.md` C, `amg-grafana-exact.md`). Grafana reads keys case-sensitively and
//! ignores unknown ones, so a misspelled key is silently no setting at all.

use pipecheck_policy::path;

use super::amp;
use super::context::{Ctx, EndpointFact};
use super::finding::{Finding, Severity};
use super::yaml::{Entry, Node, Pos};

/// Data source types that query AMP.
const AMP_TYPES: &[&str] = &["prometheus", "grafana-amazonprometheus-datasource"];

/// `jsonData.sigV4AuthType` values (grafana-aws-sdk; `ec2_iam_role` is AMG's "Workspace IAM
/// Role").
const AUTH_TYPES: &[&str] = &[
    "default",
    "keys",
    "credentials",
    "ec2_iam_role",
    "grafana_assume_role",
];

/// Keys of a provisioning file.
const PROVISIONING_KEYS: &[&str] = &["apiVersion", "datasources", "deleteDatasources", "prune"];

/// Keys of a data source, as the API and provisioning spell them.
const SOURCE_KEYS: &[&str] = &[
    "id",
    "uid",
    "orgId",
    "name",
    "type",
    "typeName",
    "typeLogoUrl",
    "access",
    "url",
    "user",
    "database",
    "basicAuth",
    "basicAuthUser",
    "withCredentials",
    "isDefault",
    "jsonData",
    "secureJsonData",
    "secureJsonFields",
    "version",
    "readOnly",
    "editable",
];

/// `jsonData` keys of the Prometheus data source and its SigV4 settings.
const JSON_DATA_KEYS: &[&str] = &[
    "sigV4Auth",
    "sigV4AuthType",
    "sigV4Region",
    "sigV4AssumeRoleArn",
    "sigV4ExternalId",
    "sigV4Profile",
    "sigV4Endpoint",
    "httpMethod",
    "timeInterval",
    "queryTimeout",
    "timeout",
    "manageAlerts",
    "prometheusType",
    "prometheusVersion",
    "cacheLevel",
    "incrementalQuerying",
    "disableRecordingRules",
    "customQueryParameters",
    "exemplarTraceIdDestinations",
    "defaultEditor",
    "keepCookies",
    "oauthPassThru",
    "tlsAuth",
    "tlsAuthWithCACert",
    "tlsSkipVerify",
];

/// `secureJsonData` keys of the same.
const SECURE_KEYS: &[&str] = &[
    "sigV4AccessKey",
    "sigV4SecretKey",
    "basicAuthPassword",
    "password",
    "tlsCACert",
    "tlsClientCert",
    "tlsClientKey",
];

/// grafana-aws-sdk's own key names (CloudWatch's, the AMP plugin's form) and the `sigV4…`
/// key a Prometheus-type data source stores and reads instead.
const SIGV4_FOR_AWS_KEY: &[(&str, &str)] = &[
    ("assumeRoleArn", "sigV4AssumeRoleArn"),
    ("authType", "sigV4AuthType"),
    ("defaultRegion", "sigV4Region"),
    ("externalId", "sigV4ExternalId"),
    ("profile", "sigV4Profile"),
];
const SECURE_SIGV4_FOR_AWS_KEY: &[(&str, &str)] = &[
    ("accessKey", "sigV4AccessKey"),
    ("secretKey", "sigV4SecretKey"),
];

/// A key with case, `_` and `-` folded away.
fn fold(key: &str) -> String {
    key.chars()
        .filter(|c| !matches!(c, '_' | '-'))
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The known spelling of `key` when it differs from `key` only in case or separators.
fn respelled(key: &str, known: &[&'static str]) -> Option<&'static str> {
    let f = fold(key);
    known.iter().copied().find(|k| *k != key && fold(k) == f)
}

/// How a value reads as a boolean.
#[derive(Debug, PartialEq, Eq)]
enum Truth {
    Bool(bool),
    /// `yes`, `on`, …: a boolean to YAML 1.1 readers only.
    Yaml11(bool),
    Not,
}

fn truth(n: &Node) -> Truth {
    match n.scalar() {
        Some(s) if s.plain => match s.text.as_str() {
            "true" | "True" | "TRUE" => Truth::Bool(true),
            "false" | "False" | "FALSE" => Truth::Bool(false),
            _ => n.bool().map_or(Truth::Not, Truth::Yaml11),
        },
        _ => Truth::Not,
    }
}

/// Who reads the file, which decides how strictly a data source's own keys are matched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reader {
    /// Grafana's HTTP API (a JSON file): Go's encoding/json matches a data source's own
    /// keys (`url`, `jsonData`) case-insensitively, so only other misspellings count.
    Api,
    /// Grafana's provisioning (a YAML file): every key is matched exactly.
    Provisioning,
}

/// L8 for one file.
#[cfg(test)]
pub(crate) fn check(ctx: &mut Ctx, file: &str, docs: &[Node], reader: Reader) {
    let mut recognised = false;
    for doc in docs {
        let Some(found) = sources(ctx, file, doc, "") else {
            continue;
        };
        recognised = true;
        for (at, ds) in found {
            source(ctx, file, &at, ds, reader);
        }
    }
    if !recognised {
        ctx.push(Finding::new(
            "L8",
            Severity::Warning,
            file,
            docs.first().map_or(Pos { line: 1, column: 1 }, |d| d.pos),
            "",
            "not recognised as a Grafana data source (an object with `type`, `url`, `jsonData`, a list of them as `GET /api/datasources` returns, or a provisioning file with `datasources:`): nothing was checked",
            "pass the data source's JSON (`GET /api/datasources/uid/<uid>`) or its provisioning file",
        ));
    }
}

/// L8 for the data sources of one document found at `base` (its key path in `file`): a
/// provisioning file (also inside a ConfigMap or the grafana chart's values), the API's
/// JSON, one data source (a GrafanaDatasource's `spec.datasource`) or a list of them.
/// Whether it held any.
pub(crate) fn check_at(ctx: &mut Ctx, file: &str, doc: &Node, reader: Reader, base: &str) -> bool {
    let Some(found) = sources(ctx, file, doc, base) else {
        return false;
    };
    for (at, ds) in found {
        source(ctx, file, &at, ds, reader);
    }
    true
}

/// `at` (a key path relative to a document) below `base`.
fn under(base: &str, at: &str) -> String {
    match (base.is_empty(), at.is_empty()) {
        (true, _) => at.to_string(),
        (false, true) => base.to_string(),
        (false, false) if at.starts_with('[') => format!("{base}{at}"),
        (false, false) => format!("{base}.{at}"),
    }
}

/// The data sources a document holds, with their key paths below `base` (`None`: not a
/// data source document at all); wrong-case provisioning keys are reported on the way.
fn sources<'a>(
    ctx: &mut Ctx,
    file: &str,
    doc: &'a Node,
    base: &str,
) -> Option<Vec<(String, &'a Node)>> {
    if doc.is_seq() {
        return Some(
            doc.items()
                .iter()
                .enumerate()
                .filter(|(_, d)| d.is_map())
                .map(|(i, d)| (under(base, &path::index("", i)), d))
                .collect(),
        );
    }
    if let Some(list) = doc.entries().iter().find(|e| fold(&e.key) == "datasources") {
        for e in doc.entries() {
            if let Some(right) = respelled(&e.key, PROVISIONING_KEYS) {
                ctx.push(wrong_case(
                    file,
                    e,
                    &under(base, &path::key("", &e.key)),
                    right,
                    "a provisioning file",
                    if right == "datasources" {
                        "Grafana provisions none of the data sources listed"
                    } else {
                        "Grafana ignores it"
                    },
                ));
            }
        }
        let list_at = under(base, &path::key("", &list.key));
        return Some(
            list.value
                .items()
                .iter()
                .enumerate()
                .filter(|(_, d)| d.is_map())
                .map(|(i, d)| (path::index(&list_at, i), d))
                .collect(),
        );
    }
    // `POST /api/datasources` answers `{"message", "id", "datasource": {…}}`.
    if let Some(ds) = doc.get("datasource").filter(|d| d.is_map()) {
        return Some(vec![(under(base, "datasource"), ds)]);
    }
    doc.entries()
        .iter()
        .any(|e| matches!(fold(&e.key).as_str(), "type" | "url" | "jsondata"))
        .then(|| vec![(base.to_string(), doc)])
}

/// `key: value` for a snippet, the value as written when it is a scalar.
fn renamed(key: &str, value: &Node) -> String {
    match value.str() {
        Some(v) if !v.contains('\n') => format!("{key}: {v}"),
        _ => format!("{key}:"),
    }
}

/// `e` (at `key_path`) is spelled otherwise than `right`, the key Grafana reads in `of`.
fn wrong_case(
    file: &str,
    e: &Entry,
    key_path: &str,
    right: &str,
    of: &str,
    effect: &str,
) -> Finding {
    let key = &e.key;
    Finding::new(
        "L8",
        Severity::Error,
        file,
        e.key_pos,
        key_path,
        format!("`{key}` is not a key of {of}: Grafana reads only `{right}`, so {effect}"),
        format!("rename `{key}` to `{right}`"),
    )
    .snippet(renamed(right, &e.value))
}

/// A data source's own key as `reader` finds it (the API also takes another case).
fn field<'a>(ds: &'a Node, key: &str, reader: Reader) -> Option<&'a Entry> {
    ds.entry(key).or_else(|| match reader {
        Reader::Api => ds
            .entries()
            .iter()
            .find(|e| e.key.eq_ignore_ascii_case(key)),
        Reader::Provisioning => None,
    })
}

/// One data source at `at`.
fn source(ctx: &mut Ctx, file: &str, at: &str, ds: &Node, reader: Reader) {
    own_keys(ctx, file, at, ds, reader);
    let ty = field(ds, "type", reader).and_then(|e| e.value.str());
    let url_node = field(ds, "url", reader).map(|e| &e.value);
    let written = url_node.and_then(Node::str);
    let url = written
        .filter(|u| !u.contains('$') && amp::placeholders(u, amp::Expansion::None).is_empty());
    let ep = url.map(amp::endpoint).unwrap_or_default();
    // A templated URL (D1's) whose visible rest is AMP's: still an AMP data source, and its
    // path is still checked.
    let templated_amp = url.is_none()
        && written.is_some_and(|u| u.contains("aps-workspaces.") && u.contains("/workspaces/"));
    let is_amp = ep.amp_host || templated_amp;
    if ep.amp_host
        && let (Some(url), Some(node)) = (url, url_node)
    {
        amp_url(ctx, file, at, url, node, &ep, ty);
    }
    if templated_amp && let (Some(u), Some(node)) = (written, url_node) {
        url_path(ctx, file, &path::key(at, "url"), u, node);
    }
    // The `sigV4…` keys belong to Prometheus-type data sources; others (CloudWatch) use
    // the aws-sdk names themselves.
    let prometheus_type = ty.is_some_and(|t| AMP_TYPES.contains(&t));
    settings_keys(
        ctx,
        file,
        at,
        ds,
        reader,
        (prometheus_type || is_amp).then_some(ty.unwrap_or("prometheus")),
    );
    let json_data = field(ds, "jsonData", reader);
    let jd_at = path::key(at, json_data.map_or("jsonData", |e| e.key.as_str()));
    let jd = json_data.map(|e| &e.value);
    let auth = jd.and_then(|j| j.entry("sigV4Auth"));
    let enabled = match auth {
        Some(e) => sigv4_auth(ctx, file, &jd_at, e),
        // A misspelled key has its finding already.
        None if written_otherwise(jd, "sigV4Auth") => None,
        None => Some(false),
    };
    if is_amp && enabled == Some(false) {
        let (pos, p) = match (auth, json_data) {
            (Some(e), _) => (e.value.pos, path::key(&jd_at, "sigV4Auth")),
            (None, Some(e)) => (e.key_pos, jd_at.clone()),
            (None, None) => (ds.pos, at.to_string()),
        };
        ctx.push(
            Finding::new(
                "L8",
                Severity::Error,
                file,
                pos,
                p,
                "SigV4 signing is off for an AMP data source (`jsonData.sigV4Auth` is false or missing): AMP refuses unsigned queries with 403 and every panel shows no data",
                "turn SigV4 on, signing for the workspace's region",
            )
            .snippet(format!(
                "jsonData:\n  httpMethod: POST\n  sigV4Auth: true\n  sigV4AuthType: ec2_iam_role\n  sigV4Region: {}",
                ep.region.as_deref().unwrap_or("<region>")
            )),
        );
    }
    if let Some(e) = jd.and_then(|j| j.entry("sigV4AuthType")) {
        auth_type(ctx, file, &jd_at, e);
    }
    if is_amp
        && enabled != Some(false)
        && let Some(url_region) = ep.region.as_deref()
    {
        let at_json_data = json_data.map_or(ds.pos, |e| e.key_pos);
        region(ctx, file, &jd_at, jd, at_json_data, url_region);
    }
}

/// Whether `jsonData` holds `key` under another spelling or its aws-sdk name (which has a
/// finding of its own).
fn written_otherwise(jd: Option<&Node>, key: &str) -> bool {
    jd.is_some_and(|j| {
        j.entries().iter().any(|e| {
            e.key != key
                && (fold(&e.key) == fold(key)
                    || SIGV4_FOR_AWS_KEY
                        .iter()
                        .any(|(aws, sig)| *sig == key && fold(aws) == fold(&e.key)))
        })
    })
}

/// The data source's own keys: spelled as Grafana reads them, and no `jsonData` key
/// written beside `jsonData`.
fn own_keys(ctx: &mut Ctx, file: &str, at: &str, ds: &Node, reader: Reader) {
    for e in ds.entries() {
        let p = path::key(at, &e.key);
        let respelling = respelled(&e.key, SOURCE_KEYS);
        if let Some(right) = respelling
            && (reader == Reader::Provisioning || !right.eq_ignore_ascii_case(&e.key))
        {
            ctx.push(wrong_case(
                file,
                e,
                &p,
                right,
                "a data source",
                "it is ignored",
            ));
        } else if respelling.is_none()
            && !SOURCE_KEYS.contains(&e.key.as_str())
            && let Some(jd) = JSON_DATA_KEYS.iter().find(|k| fold(k) == fold(&e.key))
        {
            ctx.push(
                Finding::new(
                    "L8",
                    Severity::Error,
                    file,
                    e.key_pos,
                    &p,
                    format!(
                        "`{}` sits beside `jsonData` instead of under it: Grafana ignores it there",
                        e.key
                    ),
                    format!("move it under `jsonData` as `{jd}`"),
                )
                .snippet(format!("jsonData:\n  {}", renamed(jd, &e.value))),
            );
        }
    }
}

/// The keys of `jsonData` and `secureJsonData`: spelled as Grafana reads them, and, for a
/// data source that signs with the `sigV4…` keys (`sigv4_type`: its type), not the
/// aws-sdk names it ignores.
fn settings_keys(
    ctx: &mut Ctx,
    file: &str,
    at: &str,
    ds: &Node,
    reader: Reader,
    sigv4_type: Option<&str>,
) {
    for (section, known, aws) in [
        ("jsonData", JSON_DATA_KEYS, SIGV4_FOR_AWS_KEY),
        ("secureJsonData", SECURE_KEYS, SECURE_SIGV4_FOR_AWS_KEY),
    ] {
        let Some(written) = field(ds, section, reader) else {
            continue;
        };
        let section_at = path::key(at, &written.key);
        for e in written.value.entries() {
            let p = path::key(&section_at, &e.key);
            if let Some(right) = respelled(&e.key, known) {
                ctx.push(wrong_case(
                    file,
                    e,
                    &p,
                    right,
                    &format!("`{section}`"),
                    "the setting is ignored",
                ));
            } else if let Some(ty) = sigv4_type
                && let Some((_, sig)) = aws.iter().find(|(k, _)| fold(k) == fold(&e.key))
            {
                ctx.push(
                    Finding::new(
                        "L8",
                        Severity::Error,
                        file,
                        e.key_pos,
                        &p,
                        format!(
                            "`{}` is silently ignored: a {ty} data source reads `{sig}` instead (`{}` is the CloudWatch data source's name; the AMP plugin's form shows that name but stores `{sig}`)",
                            e.key, e.key
                        ),
                        format!("rename `{}` to `{sig}`", e.key),
                    )
                    .snippet(format!("{section}:\n  {}", renamed(sig, &e.value))),
                );
            }
        }
    }
}

/// `jsonData.sigV4Auth`: whether it turns SigV4 on (`None`: Grafana's reading of it is
/// uncertain, reported).
fn sigv4_auth(ctx: &mut Ctx, file: &str, jd_at: &str, e: &Entry) -> Option<bool> {
    let at = path::key(jd_at, "sigV4Auth");
    match truth(&e.value) {
        Truth::Bool(b) => Some(b),
        Truth::Yaml11(b) => {
            ctx.push(
                Finding::new(
                    "L8",
                    Severity::Warning,
                    file,
                    e.value.pos,
                    at,
                    format!(
                        "`sigV4Auth: {}` is a boolean only to YAML 1.1 readers; a YAML 1.2 reader takes it as a string, which Grafana does not read as on",
                        e.value.str().unwrap_or("")
                    ),
                    format!("write `sigV4Auth: {b}`"),
                )
                .snippet(format!("sigV4Auth: {b}")),
            );
            Some(b)
        }
        Truth::Not => {
            let shown = match e.value.scalar() {
                Some(s) if !s.plain => format!("the string \"{}\"", s.text),
                Some(s) => format!("`{}`", s.text),
                None => "not a scalar".into(),
            };
            ctx.push(
                Finding::new(
                    "L8",
                    Severity::Error,
                    file,
                    e.value.pos,
                    at,
                    format!("`sigV4Auth` is {shown}, not a boolean: Grafana does not read it as on, so queries go unsigned (AMP answers 403 Missing Authentication Token) or the data source's settings fail to load"),
                    "write the boolean `true`, without quotes",
                )
                .snippet("sigV4Auth: true"),
            );
            None
        }
    }
}

/// `jsonData.sigV4AuthType`: one of grafana-aws-sdk's providers.
fn auth_type(ctx: &mut Ctx, file: &str, jd_at: &str, e: &Entry) {
    let Some(v) = e.value.str() else {
        return;
    };
    if AUTH_TYPES.contains(&v) || v.contains('$') {
        return;
    }
    let near = AUTH_TYPES.iter().find(|t| fold(t) == fold(v));
    ctx.push(
        Finding::new(
            "L8",
            Severity::Error,
            file,
            e.value.pos,
            path::key(jd_at, "sigV4AuthType"),
            format!(
                "`sigV4AuthType: {v}` is not an authentication provider Grafana knows ({}): the data source cannot sign",
                AUTH_TYPES.join(", ")
            ),
            match near {
                Some(t) => format!("write `{t}`"),
                None => "use `ec2_iam_role` (AMG's workspace IAM role), or another of the values listed".into(),
            },
        )
        .snippet(format!(
            "sigV4AuthType: {}",
            near.copied().unwrap_or("ec2_iam_role")
        )),
    );
}

/// `jsonData.sigV4Region` of an AMP data source: the URL's region.
fn region(
    ctx: &mut Ctx,
    file: &str,
    jd_at: &str,
    jd: Option<&Node>,
    json_data_pos: Pos,
    url_region: &str,
) {
    match jd.and_then(|j| j.get("sigV4Region")) {
        Some(r) => {
            if let Some(rs) = r.str()
                && rs != url_region
                && !rs.contains('$')
                && amp::placeholders(rs, amp::Expansion::None).is_empty()
            {
                ctx.push(
                    Finding::new(
                        "L8",
                        Severity::Error,
                        file,
                        r.pos,
                        path::key(jd_at, "sigV4Region"),
                        format!("`sigV4Region` is `{rs}` but the data source's URL is in `{url_region}`: AMP rejects the signature (403, signature does not match)"),
                        format!("sign for the URL's region `{url_region}`"),
                    )
                    .snippet(format!("sigV4Region: {url_region}")),
                );
            }
        }
        // A misspelled or aws-sdk-named region has its finding already.
        None if written_otherwise(jd, "sigV4Region") => {}
        None => ctx.push(
            Finding::new(
                "L8",
                Severity::Warning,
                file,
                json_data_pos,
                jd_at,
                format!("`jsonData.sigV4Region` is not set: Grafana signs for the default region of its own AWS settings, which must be the URL's `{url_region}`"),
                "set the region explicitly",
            )
            .snippet(format!("sigV4Region: {url_region}")),
        ),
    }
}

/// An AMP data source's URL must be the workspace's base URL (`aws-wire.md` C): Grafana's
/// Prometheus client appends `/api/v1/query`, `/api/v1/query_range`, … itself, so a URL
/// ending in an API path makes every query a 404. Read on the URL as written, placeholders
/// and all.
fn url_path(ctx: &mut Ctx, file: &str, url_at: &str, url: &str, node: &Node) {
    let trimmed = url.trim_end_matches('/');
    if let Some(suffix) = ["/api/v1/remote_write", "/api/v1/query", "/api/v1"]
        .into_iter()
        .find(|s| trimmed.ends_with(s))
    {
        let base = trimmed.strip_suffix(suffix).unwrap_or(trimmed);
        ctx.push(
            Finding::new(
                "L8",
                Severity::Error,
                file,
                node.pos,
                url_at,
                format!("the URL ends in `{suffix}`: Grafana appends `/api/v1/query` and the other API paths to the data source's URL itself, so every query gets 404"),
                "use the workspace's base URL",
            )
            .snippet(format!("url: {base}/")),
        );
    }
}

/// The data source's URL when it is AMP's: the type that can query it, the workspace's
/// base URL, the workspace id (D2); the workspace is recorded for D7.
fn amp_url(
    ctx: &mut Ctx,
    file: &str,
    at: &str,
    url: &str,
    node: &Node,
    ep: &amp::Endpoint,
    ty: Option<&str>,
) {
    let url_at = path::key(at, "url");
    if let Some(t) = ty
        && !AMP_TYPES.contains(&t)
    {
        ctx.push(
            Finding::new(
                "L8",
                Severity::Error,
                file,
                node.pos,
                &url_at,
                format!("the URL is an AMP workspace's but the data source's type is `{t}`: only `prometheus` and `grafana-amazonprometheus-datasource` speak Prometheus' query API"),
                "use type `prometheus` (AMG before Grafana 12) or `grafana-amazonprometheus-datasource`",
            )
            .snippet("type: prometheus"),
        );
    }
    url_path(ctx, file, &url_at, url, node);
    if let Some(ws) = &ep.workspace {
        super::remote_write::workspace_finding(ctx, file, node, &url_at, ws);
    }
    // D7: Grafana should read the workspace the writers write to.
    ctx.endpoints.push(EndpointFact {
        file: file.to_string(),
        key_path: url_at,
        pos: node.pos,
        region: ep.region.clone(),
        workspace: ep.workspace.clone(),
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::Settings;
    use crate::json::JsonDoc;
    use crate::yaml;

    const URL: &str = "https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-12345678-abcd-ef01-2345-6789abcdef01/";

    fn ctx() -> Ctx {
        Ctx::new(Settings {
            namespace: None,
            release: None,
            collector_image: None,
        })
    }

    fn yaml_run(text: &str) -> Vec<Finding> {
        let mut c = ctx();
        check(
            &mut c,
            "ds.yaml",
            &yaml::parse(text).unwrap(),
            Reader::Provisioning,
        );
        c.findings
    }

    fn json_run(text: &str) -> Vec<Finding> {
        let mut c = ctx();
        check(
            &mut c,
            "ds.json",
            &[JsonDoc::parse(text).unwrap().to_node()],
            Reader::Api,
        );
        c.findings
    }

    fn ids(f: &[Finding]) -> Vec<(Severity, usize, &str)> {
        f.iter()
            .map(|f| (f.severity, f.line, f.key_path.as_str()))
            .collect()
    }

    fn provisioning(json_data: &str) -> String {
        format!(
            "apiVersion: 1\ndatasources:\n  - name: AMP\n    type: prometheus\n    url: {URL}\n    jsonData:\n{json_data}"
        )
    }

    #[test]
    fn a_working_amp_data_source_passes_in_both_shapes() {
        let good = "      httpMethod: POST\n      sigV4Auth: true\n      sigV4AuthType: ec2_iam_role\n      sigV4Region: us-east-1\n";
        assert!(yaml_run(&provisioning(good)).is_empty());
        let api = format!(
            "[{{\"name\":\"AMP\",\"type\":\"grafana-amazonprometheus-datasource\",\"url\":\"{URL}\",\"jsonData\":{{\"sigV4Auth\":true,\"sigV4AuthType\":\"default\",\"sigV4Region\":\"us-east-1\"}}}}]"
        );
        assert!(json_run(&api).is_empty(), "{:?}", json_run(&api));
    }

    #[test]
    fn sigv4_auth_must_be_a_boolean_and_on() {
        let f = json_run(&format!(
            "{{\n  \"type\": \"prometheus\",\n  \"url\": \"{URL}\",\n  \"jsonData\": {{\n    \"sigV4Auth\": \"true\",\n    \"sigV4Region\": \"us-east-1\"\n  }}\n}}"
        ));
        assert_eq!(ids(&f), [(Severity::Error, 5, "jsonData.sigV4Auth")]);
        assert!(f[0].message.contains("the string \"true\", not a boolean"));
        let f = yaml_run(&provisioning(
            "      sigV4Auth: yes\n      sigV4Region: us-east-1\n",
        ));
        assert_eq!(
            ids(&f),
            [(Severity::Warning, 7, "datasources[0].jsonData.sigV4Auth")]
        );
        let f = yaml_run(&provisioning(
            "      sigV4Auth: false\n      sigV4Region: us-east-1\n",
        ));
        assert_eq!(
            ids(&f),
            [(Severity::Error, 7, "datasources[0].jsonData.sigV4Auth")]
        );
        assert!(f[0].message.contains("SigV4 signing is off"));
        // Missing jsonData altogether: off.
        let f = yaml_run(&format!(
            "datasources:\n  - type: prometheus\n    url: {URL}\n"
        ));
        assert_eq!(ids(&f), [(Severity::Error, 2, "datasources[0]")]);
    }

    #[test]
    fn wrong_case_and_aws_sdk_key_names() {
        let f = yaml_run(&provisioning(
            "      sigV4Auth: true\n      sigv4AuthType: ec2_iam_role\n      SigV4Region: us-east-1\n      assumeRoleArn: arn:aws:iam::111122223333:role/g\n",
        ));
        let got: Vec<(usize, &str)> = f.iter().map(|f| (f.line, f.fix.as_str())).collect();
        assert_eq!(
            got,
            [
                (8, "rename `sigv4AuthType` to `sigV4AuthType`"),
                (9, "rename `SigV4Region` to `sigV4Region`"),
                (10, "rename `assumeRoleArn` to `sigV4AssumeRoleArn`"),
            ]
        );
        // A CloudWatch data source uses the aws-sdk names itself.
        // One root cause, one finding: a misspelled switch is not also "off", an aws-sdk
        // region name not also "unset".
        let f = yaml_run(&provisioning(
            "      sigv4auth: true\n      defaultRegion: us-east-1\n",
        ));
        let got: Vec<&str> = f.iter().map(|f| f.fix.as_str()).collect();
        assert_eq!(
            got,
            [
                "rename `sigv4auth` to `sigV4Auth`",
                "rename `defaultRegion` to `sigV4Region`"
            ]
        );
        // Without any region key, the region is unset.
        let f = yaml_run(&provisioning("      sigV4Auth: true\n"));
        assert_eq!(ids(&f), [(Severity::Warning, 6, "datasources[0].jsonData")]);
        let cw = "datasources:\n  - type: cloudwatch\n    jsonData:\n      authType: default\n      assumeRoleArn: arn:aws:iam::1:role/x\n";
        assert!(yaml_run(cw).is_empty());
        // Keys of the data source and of the file.
        let f = yaml_run(&format!(
            "apiVersion: 1\ndataSources:\n  - type: prometheus\n    URL: {URL}\n    sigV4Auth: true\n"
        ));
        let got: Vec<&str> = f.iter().map(|f| f.fix.as_str()).collect();
        assert_eq!(
            got,
            [
                "rename `dataSources` to `datasources`",
                "rename `URL` to `url`",
                "move it under `jsonData` as `sigV4Auth`",
            ]
        );
    }

    #[test]
    fn auth_type_region_type_and_url() {
        let f = yaml_run(&provisioning(
            "      sigV4Auth: true\n      sigV4AuthType: EC2_IAM_ROLE\n      sigV4Region: eu-west-1\n",
        ));
        assert_eq!(
            ids(&f),
            [
                (Severity::Error, 8, "datasources[0].jsonData.sigV4AuthType"),
                (Severity::Error, 9, "datasources[0].jsonData.sigV4Region"),
            ]
        );
        assert_eq!(f[0].fix, "write `ec2_iam_role`");
        let f = yaml_run(&provisioning(
            "      sigV4Auth: true\n      sigV4AuthType: workspace\n      sigV4Region: us-east-1\n",
        ));
        assert!(
            f[0].message
                .contains("default, keys, credentials, ec2_iam_role, grafana_assume_role")
        );
        let f = yaml_run(
            &provisioning("      sigV4Auth: true\n      sigV4Region: us-east-1\n")
                .replace("type: prometheus", "type: loki")
                .replace(&format!("{URL}\n"), &format!("{URL}api/v1/remote_write\n")),
        );
        let got: Vec<&str> = f.iter().map(|f| f.fix.as_str()).collect();
        assert_eq!(
            got,
            [
                "use type `prometheus` (AMG before Grafana 12) or `grafana-amazonprometheus-datasource`",
                "use the workspace's base URL",
            ]
        );
        assert_eq!(f[1].snippet.as_deref(), Some(&*format!("url: {URL}")));
    }

    #[test]
    fn the_api_matches_a_data_sources_own_keys_in_any_case() {
        // Go's encoding/json takes `URL` and `JsonData`; the keys inside jsonData are a map.
        let f = json_run(&format!(
            "{{\"type\": \"prometheus\", \"URL\": \"{URL}\", \"JsonData\": {{\"sigV4Auth\": \"true\", \"sigV4Region\": \"us-east-1\"}}}}"
        ));
        assert_eq!(ids(&f), [(Severity::Error, 1, "JsonData.sigV4Auth")]);
        let f = json_run(&format!(
            "{{\"type\": \"prometheus\", \"url\": \"{URL}\", \"json_data\": {{}}}}"
        ));
        let got: Vec<&str> = f.iter().map(|f| f.fix.as_str()).collect();
        assert_eq!(
            got,
            [
                "rename `json_data` to `jsonData`",
                "turn SigV4 on, signing for the workspace's region"
            ]
        );
        // Provisioning matches exactly.
        let f = yaml_run(&format!(
            "datasources:\n  - type: prometheus\n    URL: {URL}\n"
        ));
        assert_eq!(f[0].fix, "rename `URL` to `url`");
    }

    #[test]
    fn unrecognised_files_warn() {
        let f = yaml_run("foo: bar\n");
        assert_eq!(ids(&f), [(Severity::Warning, 1, "")]);
        // A provisioning file without data sources is recognised: nothing to say.
        assert!(yaml_run("apiVersion: 1\ndatasources: []\n").is_empty());
        assert!(yaml_run("apiVersion: 1\ndeleteDatasources:\n  - name: old\n").len() == 1);
        let f = json_run(
            "{\"message\":\"Datasource added\",\"datasource\":{\"type\":\"prometheus\",\"url\":\"http://prometheus:9090\"}}",
        );
        assert!(f.is_empty(), "{f:?}");
    }
}
