//! One Prometheus `remote_write` entry, wherever it is written: `server.remoteWrite[i]`
//! (prometheus chart: passed verbatim into prometheus.yml, so Prometheus' snake_case keys),
//! `prometheus.prometheusSpec.remoteWrite[i]` (kube-prometheus-stack: the operator's
//! camelCase `RemoteWriteSpec`), or `remote_write[i]` of a prometheus.yml.
//!
//! L2: the URL is of the AMP form, `sigv4` is there (not null), and `sigv4.region` is the
//! URL's region. L5: keys in the other casing (silently dropped by the operator, or refused
//! by Prometheus). D2: the workspace id in the URL.

use pipecheck_policy::path;

use super::amp;
use super::context::{Ctx, EndpointFact};
use super::finding::{Finding, Severity};
use super::yaml::{Kind, Node};

/// Which key casing the entry is read with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Casing {
    /// Prometheus' own configuration: `queue_config`, `sigv4.access_key`.
    Snake,
    /// The Prometheus operator's CRD (kube-prometheus-stack): `queueConfig`, `sigv4.accessKey`.
    Camel,
}

/// Checks one entry at `at` (its key path) of `file`.
pub(crate) fn check_entry(ctx: &mut Ctx, file: &str, entry: &Node, at: &str, casing: Casing) {
    if !entry.is_map() {
        ctx.push(Finding::new(
            "L2",
            Severity::Error,
            file,
            entry.pos,
            at,
            "a remote-write entry must be a mapping with a `url:` key; this one is not, so the config is refused",
            "write the entry as a mapping",
        )
        .snippet("- url: https://aps-workspaces.<region>.amazonaws.com/workspaces/<ws-id>/api/v1/remote_write\n  sigv4:\n    region: <region>"));
        return;
    }
    check_casing(ctx, file, entry, at, casing);
    let url_path = path::key(at, "url");
    let Some(url_node) = entry.get("url") else {
        ctx.push(Finding::new(
            "L2",
            Severity::Error,
            file,
            entry.pos,
            at,
            "the remote-write entry has no `url`",
            "add the workspace's remote-write URL",
        )
        .snippet("url: https://aps-workspaces.<region>.amazonaws.com/workspaces/<ws-id>/api/v1/remote_write"));
        return;
    };
    if url_node.str().is_none() {
        ctx.push(Finding::new(
            "L2",
            Severity::Error,
            file,
            url_node.pos,
            &url_path,
            "`url` is empty",
            "set it to the workspace's remote-write URL",
        ));
        return;
    }
    let Some(ep) = check_url(ctx, file, url_node, &url_path) else {
        return;
    };
    if !ep.amp_host {
        return;
    }
    check_sigv4(ctx, file, entry, at, ep.region.as_deref());
}

/// L2 and D2 for a remote-write URL at `url_node` (also the OpenTelemetry exporter's
/// `endpoint`); records the endpoint for cross-file checks. `None` when the URL holds a
/// placeholder or a template (D1's, or helm's).
pub(crate) fn check_url(
    ctx: &mut Ctx,
    file: &str,
    url_node: &Node,
    url_path: &str,
) -> Option<amp::Endpoint> {
    let url = url_node.str()?;
    // helm renders `url` through `tpl` in the prometheus chart; placeholders are D1's.
    if url.contains("{{") || !amp::placeholders(url, amp::Expansion::None).is_empty() {
        return None;
    }
    let ep = amp::endpoint(url);
    ctx.endpoints.push(EndpointFact {
        file: file.to_string(),
        key_path: url_path.to_string(),
        pos: url_node.pos,
        region: ep.region.clone(),
        workspace: ep.workspace.clone(),
    });
    if let Some(ws) = &ep.workspace {
        workspace_finding(ctx, file, url_node, url_path, ws);
    }
    if !ep.problems.is_empty() {
        let mut f = Finding::new(
            "L2",
            Severity::Error,
            file,
            url_node.pos,
            url_path,
            format!(
                "remote-write URL `{url}` is not of the AMP form: {}",
                ep.problems.join("; ")
            ),
            "use the workspace's remote-write URL: https://aps-workspaces.<region>.amazonaws.com/workspaces/<ws-id>/api/v1/remote_write",
        );
        if let (Some(r), Some(ws)) = (&ep.region, &ep.workspace)
            && amp::is_region(r)
        {
            f = f.snippet(format!("url: {}", amp::remote_write_url(r, ws)));
        }
        ctx.push(f);
    }
    if !ep.amp_host {
        if ep.workspace.is_some() {
            ctx.push(Finding::new(
                "L2",
                Severity::Info,
                file,
                url_node.pos,
                url_path,
                format!("`{url}` is not AMP's host: writes go through a proxy (the aws-sigv4-proxy pattern)"),
                "make sure the proxy signs for service `aps` in the workspace's region",
            ));
        } else {
            ctx.push(Finding::new(
                "L2",
                Severity::Warning,
                file,
                url_node.pos,
                url_path,
                format!("`{url}` is not an AMP remote-write URL, so nothing written here reaches AMP"),
                "if this pipeline should write to AMP, use https://aps-workspaces.<region>.amazonaws.com/workspaces/<ws-id>/api/v1/remote_write",
            ));
        }
        return None;
    }
    Some(ep)
}

fn check_sigv4(ctx: &mut Ctx, file: &str, entry: &Node, at: &str, url_region: Option<&str>) {
    let region_hint = url_region.unwrap_or("<region>");
    let sigv4_path = path::key(at, "sigv4");
    let Some(e) = entry.entry("sigv4") else {
        ctx.push(
            Finding::new(
                "L2",
                Severity::Error,
                file,
                entry.pos,
                at,
                "the entry writes to AMP without `sigv4`: Prometheus sends the requests unsigned and AMP answers 403 Missing Authentication Token",
                "add a sigv4 block with the URL's region",
            )
            .snippet(format!("sigv4:\n  region: {region_hint}")),
        );
        return;
    };
    let sigv4 = &e.value;
    if sigv4.is_null() {
        ctx.push(
            Finding::new(
                "L2",
                Severity::Error,
                file,
                e.key_pos,
                &sigv4_path,
                "`sigv4:` has no value, which YAML reads as null: Prometheus does not sign and AMP answers 403 Missing Authentication Token",
                "give sigv4 a region (or at least `{}`)",
            )
            .snippet(format!("sigv4:\n  region: {region_hint}")),
        );
        return;
    }
    if !sigv4.is_map() {
        ctx.push(
            Finding::new(
                "L2",
                Severity::Error,
                file,
                sigv4.pos,
                &sigv4_path,
                "`sigv4` must be a mapping (region, and optionally role_arn)",
                "write it as a mapping",
            )
            .snippet(format!("sigv4:\n  region: {region_hint}")),
        );
        return;
    }
    match sigv4.get("region") {
        None => ctx.push(Finding::new(
            "L2",
            Severity::Info,
            file,
            e.key_pos,
            &sigv4_path,
            format!(
                "`sigv4` has no region: Prometheus signs for the pod's AWS_REGION (the cluster's region, set by the EKS pod identity webhook), which must be the URL's region `{region_hint}`"
            ),
            "set the region explicitly",
        )
        .snippet(format!("sigv4:\n  region: {region_hint}"))),
        Some(r) => {
            let Some(region) = r.str() else {
                return;
            };
            if !amp::placeholders(region, amp::Expansion::None).is_empty() {
                return;
            }
            if let Some(url_region) = url_region
                && region != url_region
            {
                ctx.push(
                    Finding::new(
                        "L2",
                        Severity::Error,
                        file,
                        r.pos,
                        path::key(&sigv4_path, "region"),
                        format!(
                            "`sigv4.region` is `{region}` but the URL's region is `{url_region}`: AMP rejects the signature (403, signature does not match)"
                        ),
                        format!("sign for the URL's region `{url_region}`"),
                    )
                    .snippet(format!("sigv4:\n  region: {url_region}")),
                );
            }
        }
    }
}

/// D2 for a workspace id found at `node`.
pub(crate) fn workspace_finding(ctx: &mut Ctx, file: &str, node: &Node, at: &str, ws: &str) {
    if let Err((certain, why)) = amp::check_workspace_id(ws) {
        ctx.push(Finding::new(
            "D2",
            if certain {
                Severity::Error
            } else {
                Severity::Warning
            },
            file,
            node.pos,
            at,
            format!("{why}; AMP answers 404 Workspace not found"),
            "copy the workspace id from `aws amp list-workspaces` (the `workspaceId` field)",
        ));
    }
}

/// L5 within one entry: a key in the other casing is dropped by the operator (camelCase
/// CRD) or refused by Prometheus (snake_case config). `headers` holds HTTP header names,
/// which keep their own spelling.
fn check_casing(ctx: &mut Ctx, file: &str, node: &Node, at: &str, casing: Casing) {
    let Kind::Map(entries) = &node.kind else {
        if let Kind::Seq(items) = &node.kind {
            for (i, item) in items.iter().enumerate() {
                check_casing(ctx, file, item, &path::index(at, i), casing);
            }
        }
        return;
    };
    for e in entries {
        if e.key == "headers" {
            continue;
        }
        let p = path::key(at, &e.key);
        let wrong = match casing {
            Casing::Snake => e.key.chars().any(|c| c.is_ascii_uppercase()),
            Casing::Camel => e.key.contains('_'),
        };
        if wrong {
            let (right, effect, chart) = match casing {
                Casing::Snake => (
                    to_snake(&e.key),
                    "Prometheus refuses the whole config (\"field … not found\") and keeps running the old one, or crash-loops on a fresh start",
                    "Prometheus' own remote_write configuration (the prometheus chart passes server.remoteWrite verbatim) uses snake_case",
                ),
                Casing::Camel => (
                    to_camel(&e.key),
                    "the Prometheus operator drops it silently (or the API server refuses the resource: unknown field)",
                    "kube-prometheus-stack's prometheus.prometheusSpec.remoteWrite is the operator's RemoteWriteSpec, which uses camelCase",
                ),
            };
            ctx.push(
                Finding::new(
                    "L5",
                    Severity::Error,
                    file,
                    e.key_pos,
                    &p,
                    format!("`{}` is in the wrong casing: {chart}; {effect}", e.key),
                    format!("rename `{}` to `{right}`", e.key),
                )
                .snippet(format!("{right}:")),
            );
            // Its children go wherever it goes: one finding is enough.
            continue;
        }
        check_casing(ctx, file, &e.value, &p, casing);
    }
}

fn to_snake(key: &str) -> String {
    match key {
        "retryOnRateLimit" => return "retry_on_http_429".into(),
        "azureAd" => return "azuread".into(),
        _ => {}
    }
    let chars: Vec<char> = key.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() {
            let prev_lower = i > 0 && !chars[i - 1].is_ascii_uppercase() && chars[i - 1] != '_';
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            let prev_upper = i > 0 && chars[i - 1].is_ascii_uppercase();
            if i > 0 && (prev_lower || (prev_upper && next_lower)) {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn to_camel(key: &str) -> String {
    match key {
        "retry_on_http_429" => return "retryOnRateLimit".into(),
        "azuread" => return "azureAd".into(),
        _ => {}
    }
    let mut out = String::new();
    let mut upper = false;
    for c in key.chars() {
        if c == '_' {
            upper = !out.is_empty();
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_casing_conversions() {
        assert_eq!(to_snake("queueConfig"), "queue_config");
        assert_eq!(to_snake("writeRelabelConfigs"), "write_relabel_configs");
        assert_eq!(to_snake("enableHTTP2"), "enable_http2");
        assert_eq!(to_snake("maxSamplesPerSend"), "max_samples_per_send");
        assert_eq!(to_snake("retryOnRateLimit"), "retry_on_http_429");
        assert_eq!(to_camel("queue_config"), "queueConfig");
        assert_eq!(to_camel("write_relabel_configs"), "writeRelabelConfigs");
        assert_eq!(to_camel("access_key"), "accessKey");
        assert_eq!(to_camel("retry_on_http_429"), "retryOnRateLimit");
    }
}
