//! `--collector-config`: an OpenTelemetry collector config (ADOT), an
//! `OpenTelemetryCollector` resource (its `spec.config` as a mapping, v1beta1, or as a YAML
//! string, v1alpha1), a ConfigMap holding either, or a Prometheus `prometheus.yml`.
//!
//! L4: every `prometheusremotewrite` exporter has `auth.authenticator` naming a `sigv4auth`
//! extension that `extensions:` defines, with `service: aps` if set, and that
//! `service.extensions` lists (an extension not listed there is never started). L2: the
//! exporter's endpoint, and the extension's region against the endpoint's. L6: the
//! components against `--collector-image` ([`super::collector_image`]).
//!
//! The ADOT operator names a collector's service account `<name>-collector` unless
//! `spec.serviceAccount` is set; that identity goes to the trust-policy check (L3).

use pipecheck_policy::path;

use super::context::{Ctx, Identity};
use super::finding::{Finding, Severity};
use super::remote_write::{self, Casing};
use super::yaml::{self, Node, Pos};

/// What kind of document a collector config file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flavor {
    Otel,
    Prometheus,
    Unknown,
}

fn flavor(doc: &Node) -> Flavor {
    let has = |k: &str| doc.get(k).is_some();
    if has("exporters")
        || has("receivers")
        || has("extensions")
        || (has("service") && has("processors"))
    {
        Flavor::Otel
    } else if has("remote_write") || has("scrape_configs") || has("global") {
        Flavor::Prometheus
    } else {
        Flavor::Unknown
    }
}

pub(crate) fn check(ctx: &mut Ctx, file: &str, docs: &[Node]) {
    ctx.writers = true;
    if docs.is_empty() {
        ctx.push(Finding::new(
            "L4",
            Severity::Error,
            file,
            Pos { line: 1, column: 1 },
            "",
            "the collector config is empty: a collector started with it exits (no pipelines)",
            "give the collector a config with a prometheusremotewrite exporter signed by sigv4auth",
        ).snippet(otel_example("us-east-1", "<ws-id>")));
        return;
    }
    let mut recognised = false;
    for doc in docs {
        match doc.get("kind").and_then(Node::str) {
            Some("OpenTelemetryCollector") => {
                recognised = true;
                collector_resource(ctx, file, doc);
                continue;
            }
            Some("ConfigMap") => {
                for e in doc.get("data").map(Node::entries).unwrap_or_default() {
                    let at = path::key("data", &e.key);
                    if let Some(Ok(inner)) = yaml::embedded(&e.value)
                        && let Some(d) = inner.first()
                        && flavor(d) != Flavor::Unknown
                    {
                        recognised = true;
                        config(ctx, file, d, &at);
                    }
                }
                continue;
            }
            _ => {}
        }
        if flavor(doc) != Flavor::Unknown {
            recognised = true;
            config(ctx, file, doc, "");
        }
    }
    if !recognised {
        ctx.push(Finding::new(
            "L4",
            Severity::Warning,
            file,
            docs[0].pos,
            "",
            "not recognised as an OpenTelemetry collector config, an OpenTelemetryCollector resource, a ConfigMap holding one, or a Prometheus config: nothing was checked",
            "pass the collector's configuration file",
        ));
    }
}

fn collector_resource(ctx: &mut Ctx, file: &str, doc: &Node) {
    let name = doc.at(&["metadata", "name"]).and_then(Node::non_empty);
    let ns = doc.at(&["metadata", "namespace"]).and_then(Node::non_empty);
    let sa = doc
        .at(&["spec", "serviceAccount"])
        .and_then(Node::non_empty);
    resource_names(ctx, file, doc);
    if let Some(n) = name.or(sa) {
        let namespace = ns
            .map(str::to_string)
            .unwrap_or_else(|| ctx.settings.namespace().to_string());
        let (account, how) = match sa {
            Some(sa) => (sa.to_string(), "`spec.serviceAccount`".to_string()),
            None => (
                format!("{n}-collector"),
                "the ADOT operator's default `<name>-collector`".to_string(),
            ),
        };
        let ns_said = match ns {
            Some(ns) => format!("namespace `{ns}` from metadata"),
            None => ctx.settings.namespace_said(),
        };
        ctx.identities.push(Identity {
            namespace,
            name: account,
            origin: format!(
                "the service account of OpenTelemetryCollector `{n}` ({how}, {ns_said})"
            ),
            name_key: None,
        });
    }
    let Some(cfg) = doc.at(&["spec", "config"]) else {
        return;
    };
    if cfg.is_map() {
        config(ctx, file, cfg, "spec.config");
        return;
    }
    match yaml::embedded(cfg) {
        Some(Ok(inner)) => {
            if let Some(d) = inner.first() {
                config(ctx, file, d, "spec.config");
            }
        }
        Some(Err(e)) => ctx.push(Finding::new(
            "L4",
            Severity::Error,
            file,
            e.pos,
            "spec.config",
            format!("`spec.config` does not parse as YAML ({}): the operator cannot render the collector's config", e.message),
            "fix the YAML inside `spec.config: |`",
        )),
        None => {}
    }
}

/// D20 for an `OpenTelemetryCollector`: its namespace, `spec.serviceAccount`, and the
/// operator's default service account `<name>-collector`.
fn resource_names(ctx: &mut Ctx, file: &str, doc: &Node) {
    use super::names::{self, NameKind};
    let checks: [(&[&str], NameKind, bool); 3] = [
        (&["metadata", "namespace"], NameKind::Namespace, false),
        (&["spec", "serviceAccount"], NameKind::ServiceAccount, false),
        (&["metadata", "name"], NameKind::ServiceAccount, true),
    ];
    for (keys, kind, default_name) in checks {
        if default_name
            && doc
                .at(&["spec", "serviceAccount"])
                .and_then(Node::non_empty)
                .is_some()
        {
            continue;
        }
        let Some(node) = doc.at(keys) else { continue };
        let Some(value) = node.non_empty() else {
            continue;
        };
        if names::templated(value) {
            continue;
        }
        let name = if default_name {
            format!("{value}-collector")
        } else {
            value.to_string()
        };
        let Some(why) = names::problem(kind, &name, false) else {
            continue;
        };
        let at = keys.iter().fold(String::new(), |p, k| path::key(&p, k));
        let subject = if default_name {
            format!(
                "the operator names the collector's service account `{name}` after `metadata.name`, but"
            )
        } else {
            format!("`{value}` is not valid:")
        };
        let fix = match names::suggest(kind, &name) {
            Some(s) if default_name => format!(
                "rename the collector so its service account is valid (e.g. `metadata.name: {}`), or set `spec.serviceAccount`",
                s.trim_end_matches("-collector")
            ),
            Some(s) => format!("use a valid name, e.g. `{s}`"),
            None => format!("use a valid name ({})", kind.rule()),
        };
        ctx.push(Finding::new(
            "D20",
            Severity::Error,
            file,
            node.pos,
            at,
            format!("{subject} {why} ({}): the API server refuses the object, so the collector never runs with this identity", kind.rule()),
            fix,
        ));
    }
}

/// L2, L4 and L6 for one collector config (OpenTelemetry or Prometheus) found at `base`
/// (its key path) in `file`: a chart's `config:`, a workload's environment.
pub(crate) fn check_at(ctx: &mut Ctx, file: &str, doc: &Node, base: &str) {
    config(ctx, file, doc, base);
}

fn config(ctx: &mut Ctx, file: &str, doc: &Node, base: &str) {
    duplicate_keys(ctx, file, doc, base);
    match flavor(doc) {
        Flavor::Otel => otel(ctx, file, doc, base),
        Flavor::Prometheus => {
            let at = path::key(base, "remote_write");
            for (i, entry) in doc
                .get("remote_write")
                .map(Node::items)
                .unwrap_or_default()
                .iter()
                .enumerate()
            {
                remote_write::check_entry(ctx, file, entry, &path::index(&at, i), Casing::Snake);
            }
        }
        Flavor::Unknown => {}
    }
}

/// The component type of an id such as `prometheusremotewrite/amp`.
fn type_of(id: &str) -> &str {
    id.split('/').next().unwrap_or(id)
}

/// D22: a key defined twice in one map. The collector (go-yaml v3) and Prometheus
/// (strict go-yaml v2) both refuse the file.
fn duplicate_keys(ctx: &mut Ctx, file: &str, doc: &Node, base: &str) {
    for d in yaml::duplicates(doc, base) {
        ctx.push(Finding::new(
            "D22",
            Severity::Error,
            file,
            d.second,
            &d.path,
            format!(
                "`{}` is defined twice in the same map (lines {} and {}): the collector refuses the config (mapping key \"{}\" already defined at line {})",
                d.key, d.first.line, d.second.line, d.key, d.first.line
            ),
            format!("keep one `{}`: merge the two into one entry", d.key),
        ));
    }
}

/// D23: the `prometheus` receiver holds a Prometheus config under `config:`; its
/// `scrape_configs` is a list of jobs.
fn prometheus_receivers(ctx: &mut Ctx, file: &str, doc: &Node, base: &str) {
    let receivers = doc.get("receivers").map(Node::entries).unwrap_or_default();
    for r in receivers.iter().filter(|r| type_of(&r.key) == "prometheus") {
        let at = path::key(&path::key(base, "receivers"), &r.key);
        let config = r.value.entry("config");
        if config.is_none() {
            for e in r.value.entries().iter().filter(|e| {
                matches!(
                    e.key.as_str(),
                    "scrape_configs" | "global" | "scrape_config_files" | "remote_write"
                )
            }) {
                ctx.push(
                    Finding::new(
                        "D23",
                        Severity::Error,
                        file,
                        e.key_pos,
                        path::key(&at, &e.key),
                        format!(
                            "`{}` sits directly under the `{}` receiver, whose Prometheus configuration goes one level down, under `config:`: the collector refuses the config (`{}` has invalid keys: {})",
                            e.key, r.key, r.key, e.key
                        ),
                        format!("indent the Prometheus configuration under `config:`: `{}.config.{}`", r.key, e.key),
                    )
                    .snippet(format!("{}:\n  config:\n    {}:\n      - job_name: …", r.key, e.key)),
                );
            }
            continue;
        }
        let Some(cfg) = config else { continue };
        let cfg_at = path::key(&at, "config");
        if !cfg.value.is_map() && !cfg.value.is_null() {
            ctx.push(Finding::new(
                "D23",
                Severity::Error,
                file,
                cfg.value.pos,
                &cfg_at,
                format!("`{}.config` must be a mapping holding a Prometheus configuration (`scrape_configs: [...]`); this one is not, so the collector refuses the config", r.key),
                "write the Prometheus configuration as a mapping under `config:`",
            ));
            continue;
        }
        if let Some(sc) = cfg.value.entry("scrape_configs")
            && !sc.value.is_seq()
            && !sc.value.is_null()
        {
            ctx.push(
                Finding::new(
                    "D23",
                    Severity::Error,
                    file,
                    sc.key_pos,
                    path::key(&cfg_at, "scrape_configs"),
                    "`scrape_configs` must be a list of scrape jobs (`- job_name: …`); this one is not, so the Prometheus configuration does not load (cannot unmarshal into []*ScrapeConfig) and the collector exits",
                    "make each job an item of the list",
                )
                .snippet("scrape_configs:\n  - job_name: …"),
            );
        }
    }
}

fn otel(ctx: &mut Ctx, file: &str, doc: &Node, base: &str) {
    super::collector_image::check(ctx, file, doc, base);
    prometheus_receivers(ctx, file, doc, base);
    let extensions = doc.get("extensions");
    let enabled: Vec<&str> = doc
        .at(&["service", "extensions"])
        .map(Node::items)
        .unwrap_or_default()
        .iter()
        .filter_map(Node::str)
        .collect();
    let exporters = doc.get("exporters").map(Node::entries).unwrap_or_default();
    for exp in exporters
        .iter()
        .filter(|e| type_of(&e.key) == "prometheusremotewrite")
    {
        let at = path::key(&path::key(base, "exporters"), &exp.key);
        let endpoint = exp.value.entry("endpoint");
        let ep = match endpoint {
            Some(e) => remote_write::check_url(ctx, file, &e.value, &path::key(&at, "endpoint")),
            None => {
                ctx.push(Finding::new(
                    "L2",
                    Severity::Error,
                    file,
                    exp.key_pos,
                    &at,
                    format!("exporter `{}` has no `endpoint`: the collector refuses the config", exp.key),
                    "set the workspace's remote-write URL",
                ).snippet("endpoint: https://aps-workspaces.<region>.amazonaws.com/workspaces/<ws-id>/api/v1/remote_write"));
                None
            }
        };
        let url_region = ep.as_ref().and_then(|e| e.region.clone());
        let region = url_region.clone().unwrap_or_else(|| "<region>".into());
        let auth = exp.value.at(&["auth", "authenticator"]);
        let Some(auth) = auth else {
            // A non-AMP endpoint may authenticate otherwise (a placeholder one is assumed AMP).
            let non_amp = endpoint
                .and_then(|e| e.value.str())
                .is_some_and(|u| !u.contains("${") && !super::amp::endpoint(u).amp_host);
            if non_amp {
                continue;
            }
            ctx.push(
                Finding::new(
                    "L4",
                    Severity::Error,
                    file,
                    exp.key_pos,
                    &at,
                    format!(
                        "exporter `{}` has no `auth.authenticator: sigv4auth`: it sends unsigned requests and AMP answers 403 Missing Authentication Token",
                        exp.key
                    ),
                    "sign with the sigv4auth extension: define it, reference it from the exporter, and enable it in service.extensions",
                )
                .snippet(otel_example(&region, "<ws-id>")),
            );
            continue;
        };
        let auth_at = path::key(&path::key(&at, "auth"), "authenticator");
        let Some(name) = auth.str() else {
            continue;
        };
        let Some(ext) = extensions.and_then(|x| x.entry(name)) else {
            ctx.push(
                Finding::new(
                    "L4",
                    Severity::Error,
                    file,
                    auth.pos,
                    &auth_at,
                    format!("the authenticator `{name}` is not defined under `extensions:`: the collector refuses to start (authenticator not found)"),
                    format!("define the `{name}` extension"),
                )
                .snippet(format!("extensions:\n  {name}:\n    region: {region}\n    service: aps")),
            );
            continue;
        };
        if type_of(name) != "sigv4auth" {
            ctx.push(Finding::new(
                "L4",
                Severity::Error,
                file,
                auth.pos,
                &auth_at,
                format!("the exporter authenticates with `{name}`, a `{}` extension: AMP accepts only SigV4 (`sigv4auth`)", type_of(name)),
                "use a sigv4auth extension",
            ).snippet(format!("extensions:\n  sigv4auth:\n    region: {region}\n    service: aps")));
            continue;
        }
        let ext_at = path::key(&path::key(base, "extensions"), name);
        if !enabled.contains(&name) {
            let (pos, p) = match doc.at(&["service", "extensions"]) {
                Some(n) => (n.pos, path::key(&path::key(base, "service"), "extensions")),
                None => (auth.pos, auth_at.clone()),
            };
            let mut list: Vec<&str> = enabled.clone();
            list.push(name);
            ctx.push(
                Finding::new(
                    "L4",
                    Severity::Error,
                    file,
                    pos,
                    p,
                    format!("the `{name}` extension is not listed in `service.extensions`, so it is never started: the exporter fails (authenticator `{name}` not found)"),
                    format!("add `{name}` to service.extensions"),
                )
                .snippet(format!("service:\n  extensions: [{}]", list.join(", "))),
            );
        }
        if let Some(svc) = ext.value.get("service")
            && let Some(s) = svc.str()
            && s != "aps"
        {
            ctx.push(Finding::new(
                "L4",
                Severity::Error,
                file,
                svc.pos,
                path::key(&ext_at, "service"),
                format!("`{name}` signs for service `{s}`; AMP verifies signatures for `aps` (403, signature does not match)"),
                "set `service: aps`",
            ).snippet("service: aps"));
        }
        if let Some(r) = ext.value.get("region")
            && let Some(rs) = r.str()
            && let Some(ur) = &url_region
            && rs != ur
            && super::amp::placeholders(rs, super::amp::Expansion::Collector).is_empty()
            && !rs.contains("${")
        {
            ctx.push(Finding::new(
                "L2",
                Severity::Error,
                file,
                r.pos,
                path::key(&ext_at, "region"),
                format!("`{name}` signs for region `{rs}` but the exporter's endpoint is in `{ur}`: AMP rejects the signature (403, signature does not match)"),
                format!("sign for the endpoint's region `{ur}`"),
            ).snippet(format!("{name}:\n  region: {ur}\n  service: aps")));
        }
    }
}

/// A working collector config for AMP (aws-wire.md D).
pub(crate) fn otel_example(region: &str, ws: &str) -> String {
    format!(
        "extensions:\n  sigv4auth:\n    region: {region}\n    service: aps\nexporters:\n  prometheusremotewrite:\n    endpoint: https://aps-workspaces.{region}.amazonaws.com/workspaces/{ws}/api/v1/remote_write\n    auth:\n      authenticator: sigv4auth\nservice:\n  extensions: [sigv4auth]"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::Settings;

    const WS: &str = "ws-12345678-abcd-ef01-2345-6789abcdef01";

    fn run(text: &str) -> Ctx {
        let mut ctx = Ctx::new(Settings {
            namespace: None,
            release: None,
            collector_image: None,
        });
        check(&mut ctx, "otel.yaml", &yaml::parse(text).unwrap());
        ctx
    }

    fn ids(ctx: &Ctx) -> Vec<(&'static str, Severity, usize)> {
        ctx.findings
            .iter()
            .map(|f| (f.id, f.severity, f.line))
            .collect()
    }

    fn good() -> String {
        otel_example("us-east-1", WS)
    }

    #[test]
    fn the_working_config_passes() {
        let ctx = run(&good());
        assert!(ctx.findings.is_empty(), "{:?}", ctx.findings);
        assert_eq!(ctx.endpoints.len(), 1);
        assert_eq!(ctx.endpoints[0].region.as_deref(), Some("us-east-1"));
    }

    #[test]
    fn missing_authenticator() {
        let text = good().replace("    auth:\n      authenticator: sigv4auth\n", "");
        let ctx = run(&text);
        assert_eq!(ids(&ctx), [("L4", Severity::Error, 6)]);
        assert!(
            ctx.findings[0]
                .snippet
                .as_deref()
                .unwrap()
                .contains("authenticator: sigv4auth")
        );
    }

    #[test]
    fn extension_not_enabled_or_undefined_or_wrong() {
        let ctx = run(&good().replace("  extensions: [sigv4auth]", "  extensions: []"));
        assert_eq!(ids(&ctx), [("L4", Severity::Error, 11)]);
        assert!(ctx.findings[0].message.contains("never started"));
        let ctx = run(&good().replace(
            "extensions:\n  sigv4auth:\n    region: us-east-1\n    service: aps\n",
            "",
        ));
        assert_eq!(ids(&ctx), [("L4", Severity::Error, 5)]);
        let ctx = run(&good().replace("service: aps", "service: prometheus"));
        assert_eq!(ids(&ctx), [("L4", Severity::Error, 4)]);
        let ctx = run(&good()
            .replace("authenticator: sigv4auth", "authenticator: basicauth/x")
            .replace("extensions:\n  sigv4auth:", "extensions:\n  basicauth/x:"));
        assert!(
            ctx.findings
                .iter()
                .any(|f| f.message.contains("accepts only SigV4")),
            "{:?}",
            ctx.findings
        );
    }

    #[test]
    fn region_mismatch_between_extension_and_endpoint() {
        let ctx = run(&good().replacen("region: us-east-1", "region: us-west-2", 1));
        assert_eq!(ids(&ctx), [("L2", Severity::Error, 3)]);
    }

    #[test]
    fn collector_resources_inline_and_string_configs() {
        let cr = format!(
            "apiVersion: opentelemetry.io/v1alpha1\nkind: OpenTelemetryCollector\nmetadata:\n  name: adot\n  namespace: prometheus\nspec:\n  mode: deployment\n  config: |\n{}\n",
            good()
                .replace("    auth:\n      authenticator: sigv4auth\n", "")
                .lines()
                .map(|l| format!("    {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        let ctx = run(&cr);
        assert_eq!(
            ctx.identities[0].sub(),
            "system:serviceaccount:prometheus:adot-collector"
        );
        // The exporter key `prometheusremotewrite:` is line 6 of the embedded config.
        assert_eq!(ids(&ctx), [("L4", Severity::Error, 8 + 6)]);
        assert_eq!(ctx.findings[0].column, 7);
        assert_eq!(
            ctx.findings[0].key_path,
            "spec.config.exporters.prometheusremotewrite"
        );
        let v1beta1 = format!(
            "kind: OpenTelemetryCollector\nmetadata:\n  name: c\nspec:\n  serviceAccount: amp-writer\n  config:\n{}\n",
            good()
                .lines()
                .map(|l| format!("    {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        let ctx = run(&v1beta1);
        assert!(ctx.findings.is_empty(), "{:?}", ctx.findings);
        assert_eq!(
            ctx.identities[0].sub(),
            "system:serviceaccount:default:amp-writer"
        );
    }

    #[test]
    fn prometheus_configs_and_unknown_files() {
        let ctx = run(&format!(
            "global:\n  scrape_interval: 30s\nremote_write:\n  - url: https://aps-workspaces.us-east-1.amazonaws.com/workspaces/{WS}/api/v1/remote_write\n    sigv4:\n      region: eu-west-1\n"
        ));
        assert_eq!(ids(&ctx), [("L2", Severity::Error, 6)]);
        let ctx = run("foo: bar\n");
        assert_eq!(ids(&ctx), [("L4", Severity::Warning, 1)]);
        let ctx = run("");
        assert_eq!(ids(&ctx), [("L4", Severity::Error, 1)]);
    }

    #[test]
    fn duplicate_keys_and_prometheus_receiver_shapes() {
        let ctx = run(&good().replace("service: aps\n", "service: aps\n    service: aps\n"));
        assert_eq!(ids(&ctx), [("D22", Severity::Error, 5)]);
        assert!(
            ctx.findings[0]
                .message
                .contains("already defined at line 4"),
            "{}",
            ctx.findings[0].message
        );
        let rx = |r: &str| run(&format!("receivers:\n  prometheus:\n{r}{}", good()));
        let ctx = rx("    scrape_configs:\n      - job_name: x\n");
        assert_eq!(ids(&ctx), [("D23", Severity::Error, 3)]);
        assert_eq!(
            ctx.findings[0].key_path,
            "receivers.prometheus.scrape_configs"
        );
        let ctx = rx("    config:\n      scrape_configs:\n        job_name: x\n");
        assert_eq!(ids(&ctx), [("D23", Severity::Error, 4)]);
        let ctx = rx("    config: scrape_configs\n");
        assert_eq!(ids(&ctx), [("D23", Severity::Error, 3)]);
        assert!(
            rx("    config:\n      scrape_configs:\n        - job_name: x\n")
                .findings
                .is_empty()
        );
    }

    #[test]
    fn collector_resource_names() {
        let cr = |spec: &str| {
            run(&format!(
                "kind: OpenTelemetryCollector\nmetadata:\n  name: amp\n  namespace: obs\nspec:\n{spec}  config:\n{}\n",
                good()
                    .lines()
                    .map(|l| format!("    {l}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            ))
        };
        assert!(cr("").findings.is_empty());
        let ctx = cr("  serviceAccount: adot_collector\n");
        assert_eq!(ids(&ctx), [("D20", Severity::Error, 6)]);
        assert!(
            ctx.findings[0].fix.contains("`adot-collector`"),
            "{}",
            ctx.findings[0].fix
        );
        let ctx = run("kind: OpenTelemetryCollector\nmetadata:\n  name: Amp\n  namespace: Obs\n");
        // The namespace first, then the default service account `Amp-collector`.
        assert_eq!(
            ids(&ctx),
            [("D20", Severity::Error, 4), ("D20", Severity::Error, 3)]
        );
    }
}
