//! Helm values for prometheus-community/prometheus or kube-prometheus-stack: which chart
//! they are for (L5), where the IRSA annotation sits (L1, D6), the remote-write entries
//! (L2 via [`remote_write`]), and the service account the chart will create (for L3).
//!
//! Chart-default rules implemented here, from the charts' `_helpers.tpl`:
//!
//! prometheus-community/prometheus
//! - namespace: `forceNamespace`, else the release namespace (`--namespace`; helm's
//!   default is `default`).
//! - service account: when `serviceAccounts.server.create` (default true) is truthy,
//!   `serviceAccounts.server.name` or else `prometheus.server.fullname`; when it is
//!   false (or null, which deletes the default), `serviceAccounts.server.name` or else
//!   `default`.
//! - `prometheus.server.fullname`: `server.fullnameOverride` if set; else with
//!   `name = nameOverride or "prometheus"` and `server.name` (default `server`):
//!   `<release>-<server.name>` when the release name contains `name`, else
//!   `<release>-<name>-<server.name>`; cut to 63 characters, one trailing `-` trimmed.
//!   (The top-level `fullnameOverride` does not change the server's name.)
//!
//! kube-prometheus-stack
//! - namespace: `namespaceOverride`, else the release namespace.
//! - service account: when `prometheus.serviceAccount.create` (default true),
//!   `prometheus.serviceAccount.name` or else `<fullname>-prometheus`; otherwise that
//!   name or `default`.
//! - fullname: `fullnameOverride` if set; else with `name = nameOverride or
//!   "kube-prometheus-stack"`: the release name when it contains `name`, else
//!   `<release>-<name>`; cut to 26 characters, one trailing `-` trimmed.
//!
//! Helm's `default` treats an empty string and null as unset, which is what
//! [`Node::non_empty`] models.

use pipecheck_policy::path;

use super::context::{Ctx, Identity};
use super::finding::{Finding, Severity};
use super::remote_write::{self, Casing};
use super::yaml::{Entry, Node, Pos};

pub(crate) const ROLE_ARN: &str = "eks.amazonaws.com/role-arn";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Chart {
    Prometheus,
    KubePrometheusStack,
}

impl Chart {
    fn name(self) -> &'static str {
        match self {
            Chart::Prometheus => "prometheus-community/prometheus",
            Chart::KubePrometheusStack => "kube-prometheus-stack",
        }
    }

    /// Where the Prometheus server's service account annotations go.
    fn annotations_path(self) -> &'static [&'static str] {
        match self {
            Chart::Prometheus => &["serviceAccounts", "server", "annotations"],
            Chart::KubePrometheusStack => &["prometheus", "serviceAccount", "annotations"],
        }
    }

    pub(crate) fn remote_write_path(self) -> &'static [&'static str] {
        match self {
            Chart::Prometheus => &["server", "remoteWrite"],
            Chart::KubePrometheusStack => &["prometheus", "prometheusSpec", "remoteWrite"],
        }
    }
}

/// Top-level keys only one of the charts reads.
const PROMETHEUS_KEYS: &[&str] = &[
    "serviceAccounts",
    "server",
    "serverFiles",
    "extraScrapeConfigs",
    "forceNamespace",
    "prometheus-pushgateway",
    "scrapeConfigFiles",
];
const KPS_KEYS: &[&str] = &[
    "prometheus",
    "prometheusOperator",
    "defaultRules",
    "kubeStateMetrics",
    "kubeApiServer",
    "kubelet",
    "kubeControllerManager",
    "coreDns",
    "kubeEtcd",
    "kubeScheduler",
    "kubeProxy",
    "grafana",
    "thanosRuler",
    "cleanPrometheusOperatorObjectNames",
    "namespaceOverride",
];

/// Which chart a values file is for: the one most of its chart-specific top-level keys
/// belong to (`None`: no such key, e.g. an empty file), and the keys of the other chart.
fn detect(root: &Node) -> (Option<Chart>, Vec<&Entry>, Vec<&Entry>) {
    let prom: Vec<&Entry> = root
        .entries()
        .iter()
        .filter(|e| PROMETHEUS_KEYS.contains(&e.key.as_str()))
        .collect();
    let kps: Vec<&Entry> = root
        .entries()
        .iter()
        .filter(|e| KPS_KEYS.contains(&e.key.as_str()))
        .collect();
    match (prom.is_empty(), kps.is_empty()) {
        (true, true) => (None, prom, kps),
        _ if prom.len() >= kps.len() => (Some(Chart::Prometheus), prom, kps),
        _ => (Some(Chart::KubePrometheusStack), prom, kps),
    }
}

/// The chart a values file is for, when its top-level keys tell.
pub(crate) fn chart(root: &Node) -> Option<Chart> {
    detect(root).0
}

/// All checks of one values file.
pub(crate) fn check(ctx: &mut Ctx, file: &str, docs: &[Node]) {
    ctx.writers = true;
    let Some(root) = docs.first() else {
        ctx.push(Finding::new(
            "L1",
            Severity::Info,
            file,
            Pos { line: 1, column: 1 },
            "",
            "the values file is empty: the chart installs with its defaults (no remote write, no IRSA annotation)",
            "nothing to fix if that is intended",
        ));
        let settings = ctx.settings.clone();
        ctx.identities.push(identity(
            &Node::empty_map(),
            Chart::Prometheus,
            false,
            &settings,
        ));
        return;
    };
    if !root.is_map() && !root.is_null() {
        ctx.push(Finding::new(
            "L5",
            Severity::Error,
            file,
            root.pos,
            "",
            "helm values must be a mapping at the top level; helm refuses this file",
            "write the values as `key: value` pairs",
        ));
        return;
    }
    duplicate_keys(ctx, file, root);
    let (chart, prom, kps) = detect(root);
    let known = chart.is_some();
    let chart = chart.unwrap_or(Chart::Prometheus);
    // Keys of the other chart: ignored by the one installed. A key an older version of
    // this chart read is D24's (moved keys), not the other chart's.
    let (mut others, other_chart) = match chart {
        Chart::Prometheus => (kps, Chart::KubePrometheusStack),
        Chart::KubePrometheusStack => (prom, Chart::Prometheus),
    };
    others.retain(|e| !moved_key(chart, &[e.key.as_str()]));
    moved_keys(ctx, file, root, chart);
    names(ctx, file, root, chart);
    for e in &others {
        ctx.push(Finding::new(
            "L5",
            Severity::Error,
            file,
            e.key_pos,
            path::key("", &e.key),
            format!(
                "`{}` is a {} key, but the rest of this file is for {}: whichever chart you install silently ignores the other's keys",
                e.key,
                other_chart.name(),
                chart.name()
            ),
            match other_chart {
                Chart::KubePrometheusStack => "for the prometheus chart, remote write goes in `server.remoteWrite` (snake_case keys) and the service account in `serviceAccounts.server`".to_string(),
                Chart::Prometheus => "for kube-prometheus-stack, remote write goes in `prometheus.prometheusSpec.remoteWrite` (camelCase keys) and the service account in `prometheus.serviceAccount`".to_string(),
            },
        ));
    }
    let skip: Vec<&str> = others.iter().map(|e| e.key.as_str()).collect();
    misplaced_remote_write(ctx, file, root, chart, &skip);
    remote_writes(ctx, file, root, chart);
    annotation(ctx, file, root, chart, known, &skip);
    let settings = ctx.settings.clone();
    let id = identity(root, chart, known, &settings);
    derived_name(ctx, file, root, chart, &id);
    ctx.identities.push(id);
}

/// D20 for the service account name the chart builds (no explicit name): from an override
/// key, or from `--release`. Kubernetes refuses it, so no trust policy can name it and no
/// fix suggests it.
fn derived_name(ctx: &mut Ctx, file: &str, root: &Node, chart: Chart, id: &Identity) {
    use super::names::{self as k8s, NameKind};
    if k8s::is_valid(NameKind::ServiceAccount, &id.name) || k8s::templated(&id.name) {
        return;
    }
    let (explicit, overrides): (&[&str], &[&[&str]]) = match chart {
        Chart::Prometheus => (
            &["serviceAccounts", "server", "name"],
            &[
                &["server", "fullnameOverride"],
                &["nameOverride"],
                &["server", "name"],
            ],
        ),
        Chart::KubePrometheusStack => (
            &["prometheus", "serviceAccount", "name"],
            &[&["fullnameOverride"], &["nameOverride"]],
        ),
    };
    // An explicit name is judged where it is written (`names`).
    if root.at(explicit).and_then(Node::non_empty).is_some() {
        return;
    }
    let Some(why) = k8s::problem(NameKind::ServiceAccount, &id.name, false) else {
        return;
    };
    let culprit = overrides.iter().find_map(|keys| {
        let node = root.at(keys)?;
        let v = node.non_empty()?;
        k8s::problem(NameKind::ServiceAccount, v, false)?;
        Some((
            keys.iter().fold(String::new(), |p, k| path::key(&p, k)),
            node.pos,
        ))
    });
    let (at, pos, from) = match culprit {
        Some((at, pos)) => (at.clone(), pos, format!("`{at}`")),
        None => (
            String::new(),
            root.pos,
            format!("the release name `{}` (--release)", ctx.settings.release()),
        ),
    };
    ctx.push(Finding::new(
        "D20",
        Severity::Error,
        file,
        pos,
        at,
        format!(
            "the chart names the Prometheus server's service account `{}` from {from}: {why} ({}). helm's install fails, and no trust policy `:sub` can name it",
            id.name,
            NameKind::ServiceAccount.rule()
        ),
        match k8s::suggest(NameKind::ServiceAccount, &id.name) {
            Some(s) => format!("use lower-case names (the service account would then be e.g. `{s}`)"),
            None => "use lower-case letters, digits and `-` in the release name and overrides".to_string(),
        },
    ));
}

/// D22: helm reads values with go-yaml's non-strict decoding, so a key defined twice
/// keeps only its last value: everything under the first is silently dropped.
fn duplicate_keys(ctx: &mut Ctx, file: &str, root: &Node) {
    for d in super::yaml::duplicates(root, "") {
        ctx.push(Finding::new(
            "D22",
            Severity::Error,
            file,
            d.second,
            &d.path,
            format!(
                "`{}` is defined twice in the same map (lines {} and {}): helm keeps only the last one, so everything set under the first (line {}) is silently dropped",
                d.path, d.first.line, d.second.line, d.first.line
            ),
            format!("merge the two `{}` blocks into one", d.key),
        ));
    }
}

/// A key a chart version no longer reads: where it went, and in which version.
struct Moved {
    chart: Chart,
    old: &'static [&'static str],
    /// The key that replaced it (`None`: removed with nothing in its place).
    new: Option<&'static str>,
    /// The chart version that made the change.
    version: &'static str,
    /// What the user should know.
    why: &'static str,
}

/// The prometheus chart's moved keys (charts/prometheus/README.md, "Upgrading Chart":
/// To 16.0 … To 19.0): the embedded components became subcharts.
#[rustfmt::skip]
const MOVED: &[Moved] = &[
    Moved { chart: Chart::Prometheus, old: &["kubeStateMetrics"], new: Some("kube-state-metrics"), version: "19.0", why: "the kube-state-metrics subchart is switched with `kube-state-metrics.enabled`" },
    Moved { chart: Chart::Prometheus, old: &["nodeExporter"], new: Some("prometheus-node-exporter"), version: "16.0", why: "node-exporter became the prometheus-node-exporter subchart" },
    Moved { chart: Chart::Prometheus, old: &["pushgateway"], new: Some("prometheus-pushgateway"), version: "17.0", why: "pushgateway became the prometheus-pushgateway subchart" },
    Moved { chart: Chart::Prometheus, old: &["alertmanagerFiles"], new: Some("alertmanager.config"), version: "18.0", why: "alertmanager became the alertmanager subchart, configured under `alertmanager`" },
    Moved { chart: Chart::Prometheus, old: &["configmapReload", "alertmanager"], new: Some("alertmanager.configmapReload"), version: "18.0", why: "alertmanager became the alertmanager subchart" },
    Moved { chart: Chart::Prometheus, old: &["serviceAccounts", "nodeExporter"], new: Some("prometheus-node-exporter.serviceAccount"), version: "16.0", why: "node-exporter's service account belongs to its subchart" },
    Moved { chart: Chart::Prometheus, old: &["serviceAccounts", "pushgateway"], new: Some("prometheus-pushgateway.serviceAccount"), version: "17.0", why: "pushgateway's service account belongs to its subchart" },
    Moved { chart: Chart::Prometheus, old: &["serviceAccounts", "alertmanager"], new: Some("alertmanager.serviceAccount"), version: "18.0", why: "alertmanager's service account belongs to its subchart" },
    Moved { chart: Chart::Prometheus, old: &["server", "extraTemplates"], new: Some("extraManifests"), version: "19.0", why: "extra objects moved to the top level" },
    Moved { chart: Chart::Prometheus, old: &["server", "extraObjects"], new: Some("extraManifests"), version: "19.0", why: "extra objects moved to the top level" },
    Moved { chart: Chart::Prometheus, old: &["server", "enabled"], new: None, version: "19.0", why: "the server is always created" },
];

fn moved_key(chart: Chart, keys: &[&str]) -> bool {
    MOVED.iter().any(|m| m.chart == chart && m.old == keys)
}

/// D24: keys an older version of the chart read, as warnings naming the version.
fn moved_keys(ctx: &mut Ctx, file: &str, root: &Node, chart: Chart) {
    let mut found: Vec<(&Moved, &Entry)> = MOVED
        .iter()
        .filter(|m| m.chart == chart)
        .filter_map(|m| {
            let (last, parents) = m.old.split_last()?;
            let parent = if parents.is_empty() {
                Some(root)
            } else {
                root.at(parents)
            };
            Some((m, parent?.entry(last)?))
        })
        .collect();
    found.sort_by_key(|(_, e)| e.key_pos);
    for (m, e) in found {
        let old = m.old.iter().fold(String::new(), |p, k| path::key(&p, k));
        let (message, fix) = match m.new {
            Some(new) => (
                format!(
                    "`{old}` is a key of the {} chart before {}: since {} {}, read from `{new}`. On a chart {} or later this setting is silently ignored",
                    chart.name(),
                    m.version,
                    m.version,
                    m.why,
                    m.version
                ),
                format!(
                    "on chart {} or later, move the settings to `{new}` (check its values: `helm show values`); keep `{old}` only for an older chart",
                    m.version
                ),
            ),
            None => (
                format!(
                    "`{old}` was removed in the {} chart {} ({}): on a chart {} or later it is silently ignored",
                    chart.name(),
                    m.version,
                    m.why,
                    m.version
                ),
                format!("drop `{old}` on chart {} or later", m.version),
            ),
        };
        ctx.push(Finding::new(
            "D24",
            Severity::Warning,
            file,
            e.key_pos,
            old,
            message,
            fix,
        ));
    }
}

/// D20: the namespace and service account name the values set must be Kubernetes names.
fn names(ctx: &mut Ctx, file: &str, root: &Node, chart: Chart) {
    use super::names::{self as k8s, NameKind};
    let keys: &[(&[&str], NameKind)] = match chart {
        Chart::Prometheus => &[
            (&["forceNamespace"], NameKind::Namespace),
            (
                &["serviceAccounts", "server", "name"],
                NameKind::ServiceAccount,
            ),
        ],
        Chart::KubePrometheusStack => &[
            (&["namespaceOverride"], NameKind::Namespace),
            (
                &["prometheus", "serviceAccount", "name"],
                NameKind::ServiceAccount,
            ),
        ],
    };
    for (keys, kind) in keys {
        let Some(node) = root.at(keys) else { continue };
        let Some(value) = node.non_empty() else {
            continue;
        };
        if k8s::templated(value) {
            continue;
        }
        let Some(why) = k8s::problem(*kind, value, false) else {
            continue;
        };
        let at = keys.iter().fold(String::new(), |p, k| path::key(&p, k));
        let fix = match k8s::suggest(*kind, value) {
            Some(s) => format!(
                "use a valid name, e.g. `{}: {s}`",
                keys.last().copied().unwrap_or_default()
            ),
            None => format!("use a valid name ({})", kind.rule()),
        };
        ctx.push(Finding::new(
            "D20",
            Severity::Error,
            file,
            node.pos,
            at,
            format!(
                "`{value}` is not {}: {why} ({}). helm's install fails (the API server refuses the object), and no trust policy `:sub` can ever name it",
                kind.what(),
                kind.rule()
            ),
            fix,
        ));
    }
}

fn remote_writes(ctx: &mut Ctx, file: &str, root: &Node, chart: Chart) {
    let rw_path = chart.remote_write_path();
    let casing = match chart {
        Chart::Prometheus => Casing::Snake,
        Chart::KubePrometheusStack => Casing::Camel,
    };
    let base = rw_path.iter().fold(String::new(), |p, k| path::key(&p, k));
    if let Some(list) = root.at(rw_path) {
        if list.is_null() {
            return;
        }
        if !list.is_seq() {
            ctx.push(Finding::new(
                "L2",
                Severity::Error,
                file,
                list.pos,
                &base,
                format!("`{base}` must be a list of entries (`- url: …`)"),
                "make it a list",
            ));
            return;
        }
        for (i, entry) in list.items().iter().enumerate() {
            remote_write::check_entry(ctx, file, entry, &path::index(&base, i), casing);
        }
    }
    // The prometheus chart also renders serverFiles."prometheus.yml" as is.
    if chart == Chart::Prometheus
        && let Some(list) = root.at(&["serverFiles", "prometheus.yml", "remote_write"])
    {
        let base = path::key(&path::key("serverFiles", "prometheus.yml"), "remote_write");
        for (i, entry) in list.items().iter().enumerate() {
            remote_write::check_entry(ctx, file, entry, &path::index(&base, i), Casing::Snake);
        }
    }
}

/// `remoteWrite` / `remote_write` keys where the chart does not read them.
fn misplaced_remote_write(ctx: &mut Ctx, file: &str, root: &Node, chart: Chart, skip: &[&str]) {
    let right = chart.remote_write_path();
    let right_path = right.iter().fold(String::new(), |p, k| path::key(&p, k));
    let ok_paths = [
        right_path.clone(),
        path::key(&path::key("serverFiles", "prometheus.yml"), "remote_write"),
    ];
    let mut found = Vec::new();
    root.walk("", &mut |p, entry, _| {
        if let Some(e) = entry
            && (e.key == "remoteWrite" || e.key == "remote_write")
            && !ok_paths.iter().any(|ok| ok == p)
            && !skip.iter().any(|s| p == *s || p.starts_with(&format!("{s}.")))
            // Inside a scrape or Prometheus config elsewhere it is not a chart value.
            && !p.starts_with("serverFiles.")
            && !p.starts_with("extraScrapeConfigs")
        {
            found.push((p.to_string(), e.key_pos, e.key.clone()));
        }
    });
    for (p, pos, key) in found {
        ctx.push(
            Finding::new(
                "L5",
                Severity::Error,
                file,
                pos,
                &p,
                format!(
                    "`{p}` is not read by the {} chart: these remote-write settings are silently ignored",
                    chart.name()
                ),
                format!("move the entries to `{right_path}`{}", if key == "remote_write" && chart == Chart::Prometheus { " (the chart key is camelCase `remoteWrite`; the entries inside keep Prometheus' snake_case)" } else { "" }),
            )
            .snippet(nest(right, "- url: https://aps-workspaces.<region>.amazonaws.com/workspaces/<ws-id>/api/v1/remote_write\n  sigv4:\n    region: <region>")),
        );
    }
}

/// L1 and D6: the IRSA annotation.
fn annotation(ctx: &mut Ctx, file: &str, root: &Node, chart: Chart, known: bool, skip: &[&str]) {
    let expected = chart.annotations_path();
    let expected_path = expected.iter().fold(String::new(), |p, k| path::key(&p, k));
    let sa_path = &expected[..expected.len() - 1];
    let sa_key = sa_path.iter().fold(String::new(), |p, k| path::key(&p, k));
    // Every role-arn-like key in the file.
    let mut exact: Vec<(String, Pos, Option<String>, Pos)> = Vec::new();
    let mut misspelled: Vec<(String, Pos, String)> = Vec::new();
    root.walk("", &mut |p, entry, value| {
        let Some(e) = entry else { return };
        if skip
            .iter()
            .any(|s| p.starts_with(&format!("{s}.")) || p == *s)
        {
            return;
        }
        if e.key == ROLE_ARN {
            let parent = p[..p.len() - path::key("", ROLE_ARN).len()]
                .trim_end_matches('.')
                .to_string();
            exact.push((
                parent,
                e.key_pos,
                value.str().map(str::to_string),
                value.pos,
            ));
        } else if looks_like_role_arn_key(&e.key) {
            misspelled.push((p.to_string(), e.key_pos, e.key.clone()));
        }
    });
    for (p, pos, key) in &misspelled {
        ctx.push(
            Finding::new(
                "L1",
                Severity::Error,
                file,
                *pos,
                p,
                format!(
                    "annotation key `{key}` is misspelled: the EKS pod identity webhook reads only `{ROLE_ARN}`, so the pod gets no web identity and signs with the node role (403)"
                ),
                format!("spell the key `{ROLE_ARN}`"),
            )
            .snippet(format!("{ROLE_ARN}: <role ARN>")),
        );
    }
    let correct = exact.iter().find(|(parent, ..)| *parent == expected_path);
    if let Some((_, _, Some(arn), vpos)) = correct {
        ctx.note_account_of(arn);
        let is_role = arn.starts_with("arn:")
            && arn.split(':').nth(2) == Some("iam")
            && arn
                .split(':')
                .nth(5)
                .is_some_and(|r| r.starts_with("role/"));
        let placeholder = !super::amp::placeholders(arn, super::amp::Expansion::None).is_empty();
        if !is_role && !placeholder {
            ctx.push(
                Finding::new(
                    "L1",
                    Severity::Error,
                    file,
                    *vpos,
                    path::key(&expected_path, ROLE_ARN),
                    format!(
                        "`{arn}` is not an IAM role ARN (`arn:aws:iam::<account>:role/<name>`): STS cannot assume it"
                    ),
                    "use the ARN of the role whose trust policy admits this service account (a policy ARN does not work here)",
                )
                .snippet(format!("{ROLE_ARN}: arn:aws:iam::<account>:role/<role-name>")),
            );
        }
    }
    for (parent, pos, value, _) in &exact {
        if *parent == expected_path {
            continue;
        }
        let value = value.clone().unwrap_or_else(|| "<role ARN>".into());
        ctx.note_account_of(&value);
        let full = path::key(parent, ROLE_ARN);
        let (severity, message) = if *parent == sa_key {
            (
                Severity::Error,
                format!(
                    "`{ROLE_ARN}` sits beside `annotations:` instead of under it (one indent too shallow): the chart's service account gets no annotation, YAML raises no error, and the pod signs with the node role (403) or finds no credentials"
                ),
            )
        } else if correct.is_some() {
            (
                Severity::Info,
                format!(
                    "`{full}` does not annotate the Prometheus server's service account (that one is at `{expected_path}`, and is set)"
                ),
            )
        } else {
            (
                Severity::Error,
                format!(
                    "`{ROLE_ARN}` at `{parent}` does not reach the Prometheus server's service account: the {} chart takes its annotations from `{expected_path}`, so the pod signs with the node role (403) or finds no credentials",
                    chart.name()
                ),
            )
        };
        ctx.push(
            Finding::new(
                "L1",
                severity,
                file,
                *pos,
                &full,
                message,
                format!("put the annotation under `{expected_path}`"),
            )
            .snippet(nest(expected, &format!("{ROLE_ARN}: {value}"))),
        );
    }
    // D6: annotations on a service account the chart does not create.
    let create = root.at(sa_path).and_then(|sa| sa.entry("create"));
    let creates = match create {
        None => true,
        Some(e) => e.value.bool().unwrap_or(!e.value.is_null()),
    };
    let annotations = root.at(expected);
    if !creates
        && let Some(a) = annotations
        && !a.entries().is_empty()
    {
        let name = root
            .at(sa_path)
            .and_then(|sa| sa.get("name"))
            .and_then(Node::non_empty)
            .unwrap_or("default")
            .to_string();
        let ns = ctx.settings.namespace().to_string();
        let arn = a
            .get(ROLE_ARN)
            .and_then(Node::str)
            .unwrap_or("<role ARN>")
            .to_string();
        let e = create.expect("create is set when the chart does not create the account");
        ctx.push(
            Finding::new(
                "D6",
                Severity::Warning,
                file,
                e.key_pos,
                path::key(&sa_key, "create"),
                format!(
                    "`{sa_key}.create` is false, so the chart creates no service account and ignores `{expected_path}`: the pods run as the existing `{name}`, whose annotations the chart does not set"
                ),
                if super::names::is_valid(super::names::NameKind::Namespace, &ns)
                    && super::names::is_valid(super::names::NameKind::ServiceAccount, &name)
                {
                    format!(
                        "annotate the existing service account yourself, or let the chart create it (`create: true`): kubectl annotate serviceaccount -n {ns} {name} {ROLE_ARN}={arn}"
                    )
                } else {
                    "annotate the existing service account yourself, or let the chart create it (`create: true`)".to_string()
                },
            ),
        );
    }
    // L1 (warning): no annotation at all while remote write signs with SigV4 and no
    // static keys or role to assume are configured.
    if correct.is_none()
        && exact.is_empty()
        && misspelled.is_empty()
        && creates
        && signs_with_pod_identity(root, chart)
    {
        let (pos, at) = match root.at(sa_path) {
            Some(sa) => (sa.pos, sa_key.clone()),
            None => (root.pos, String::new()),
        };
        ctx.push(
            Finding::new(
                "L1",
                Severity::Warning,
                file,
                pos,
                at,
                format!(
                    "remote write signs with SigV4 but `{expected_path}` has no `{ROLE_ARN}`{}: unless EKS Pod Identity is set up for this service account, Prometheus signs with the node role (403) or finds no credentials",
                    if known { "" } else { " (assuming the prometheus-community/prometheus chart)" }
                ),
                "annotate the chart's service account with the IRSA role",
            )
            .snippet(nest(expected, &format!("{ROLE_ARN}: arn:aws:iam::<account>:role/<role-name>"))),
        );
    }
}

/// A remote write with `sigv4` that uses the pod's own identity (no keys, no profile).
fn signs_with_pod_identity(root: &Node, chart: Chart) -> bool {
    root.at(chart.remote_write_path())
        .map(|l| l.items())
        .unwrap_or_default()
        .iter()
        .filter_map(|e| e.get("sigv4"))
        .any(|s| {
            !s.is_null()
                && ["access_key", "accessKey", "profile", "role_arn", "roleArn"]
                    .iter()
                    .all(|k| s.get(k).is_none())
        })
}

fn looks_like_role_arn_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k != ROLE_ARN
        && k.contains("eks")
        && k.contains("amazon")
        && (k.contains("role-arn")
            || k.contains("role_arn")
            || k.contains("rolearn")
            || k.ends_with("/role"))
}

/// The service account and namespace the chart will use (rules in the module docs).
fn identity(
    root: &Node,
    chart: Chart,
    known: bool,
    settings: &super::context::Settings,
) -> Identity {
    let release = settings.release();
    let get = |keys: &[&str]| root.at(keys).and_then(Node::non_empty).map(str::to_string);
    let truthy = |keys: &[&str], default: bool| match root.at(keys) {
        None => default,
        Some(n) => n.bool().unwrap_or(!n.is_null() && n.non_empty().is_some()),
    };
    match chart {
        Chart::Prometheus => {
            let namespace =
                get(&["forceNamespace"]).unwrap_or_else(|| settings.namespace().to_string());
            let create = truthy(&["serviceAccounts", "server", "create"], true);
            let explicit = get(&["serviceAccounts", "server", "name"]);
            let name = match (create, explicit) {
                (_, Some(n)) => n,
                (true, None) => {
                    if let Some(o) = get(&["server", "fullnameOverride"]) {
                        trunc_trim(&o, 63)
                    } else {
                        let name = get(&["nameOverride"]).unwrap_or_else(|| "prometheus".into());
                        let server = get(&["server", "name"]).unwrap_or_else(|| "server".into());
                        let full = if release.contains(&name) {
                            format!("{release}-{server}")
                        } else {
                            format!("{release}-{name}-{server}")
                        };
                        trunc_trim(&full, 63)
                    }
                }
                (false, None) => "default".into(),
            };
            Identity {
                namespace,
                name,
                origin: format!(
                    "the service account {} ({}, {}{})",
                    if create {
                        "the prometheus chart creates"
                    } else {
                        "the prometheus chart's server uses"
                    },
                    settings.release_said(),
                    settings.namespace_said(),
                    if known {
                        ""
                    } else {
                        "; assuming the prometheus-community/prometheus chart"
                    }
                ),
                name_key: Some("serviceAccounts.server.name"),
            }
        }
        Chart::KubePrometheusStack => {
            let namespace =
                get(&["namespaceOverride"]).unwrap_or_else(|| settings.namespace().to_string());
            let create = truthy(&["prometheus", "serviceAccount", "create"], true);
            let explicit = get(&["prometheus", "serviceAccount", "name"]);
            let name = match (create, explicit) {
                (_, Some(n)) => n,
                (true, None) => {
                    let full = if let Some(o) = get(&["fullnameOverride"]) {
                        trunc_trim(&o, 26)
                    } else {
                        let name = get(&["nameOverride"])
                            .unwrap_or_else(|| "kube-prometheus-stack".into());
                        let full = if release.contains(&name) {
                            release.to_string()
                        } else {
                            format!("{release}-{name}")
                        };
                        trunc_trim(&full, 26)
                    };
                    format!("{full}-prometheus")
                }
                (false, None) => "default".into(),
            };
            Identity {
                namespace,
                name,
                origin: format!(
                    "the service account kube-prometheus-stack's Prometheus runs as ({}, {})",
                    settings.release_said(),
                    settings.namespace_said()
                ),
                name_key: Some("prometheus.serviceAccount.name"),
            }
        }
    }
}

/// Sprig's `trunc n | trimSuffix "-"`.
fn trunc_trim(s: &str, n: usize) -> String {
    let t: String = s.chars().take(n).collect();
    t.strip_suffix('-').map(str::to_string).unwrap_or(t)
}

/// `keys` as nested YAML with `body` (possibly several lines) under the last one.
pub(crate) fn nest(keys: &[&str], body: &str) -> String {
    let mut out = String::new();
    for (depth, k) in keys.iter().enumerate() {
        out.push_str(&"  ".repeat(depth));
        out.push_str(k);
        out.push_str(":\n");
    }
    let indent = "  ".repeat(keys.len());
    for line in body.lines() {
        out.push_str(&indent);
        out.push_str(line);
        out.push('\n');
    }
    out.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::Settings;
    use crate::yaml;

    fn run(text: &str, namespace: Option<&str>, release: Option<&str>) -> Ctx {
        let mut ctx = Ctx::new(Settings {
            namespace: namespace.map(str::to_string),
            release: release.map(str::to_string),
            collector_image: None,
        });
        let docs = yaml::parse(text).unwrap();
        check(&mut ctx, "values.yaml", &docs);
        ctx
    }

    fn ids(ctx: &Ctx) -> Vec<(&'static str, Severity, usize)> {
        ctx.findings
            .iter()
            .map(|f| (f.id, f.severity, f.line))
            .collect()
    }

    fn sa(text: &str, ns: Option<&str>, release: Option<&str>) -> String {
        run(text, ns, release).identities[0].sub()
    }

    #[test]
    fn prometheus_chart_service_account_names() {
        assert_eq!(
            sa("server: {}\n", None, None),
            "system:serviceaccount:default:prometheus-server"
        );
        assert_eq!(
            sa("server: {}\n", Some("monitoring"), Some("amp")),
            "system:serviceaccount:monitoring:amp-prometheus-server"
        );
        assert_eq!(
            sa("server: {}\n", None, Some("my-prometheus")),
            "system:serviceaccount:default:my-prometheus-server"
        );
        assert_eq!(
            sa(
                "serviceAccounts:\n  server:\n    name: adot\n",
                Some("p"),
                None
            ),
            "system:serviceaccount:p:adot"
        );
        assert_eq!(
            sa(
                "serviceAccounts:\n  server:\n    create: false\n",
                None,
                None
            ),
            "system:serviceaccount:default:default"
        );
        assert_eq!(
            sa(
                "serviceAccounts:\n  server:\n    create: false\n    name: existing\n",
                None,
                None
            ),
            "system:serviceaccount:default:existing"
        );
        assert_eq!(
            sa("server:\n  fullnameOverride: prom\n", None, None),
            "system:serviceaccount:default:prom"
        );
        assert_eq!(
            sa(
                "nameOverride: metrics\nserver:\n  name: srv\n",
                None,
                Some("r")
            ),
            "system:serviceaccount:default:r-metrics-srv"
        );
        assert_eq!(
            sa("forceNamespace: obs\nserver: {}\n", Some("x"), None),
            "system:serviceaccount:obs:prometheus-server"
        );
        // The top-level fullnameOverride does not rename the server.
        assert_eq!(
            sa("fullnameOverride: zzz\nserver: {}\n", None, None),
            "system:serviceaccount:default:prometheus-server"
        );
        let long = "a".repeat(70);
        assert_eq!(
            sa(
                &format!("server:\n  fullnameOverride: {long}\n"),
                None,
                None
            )
            .len(),
            "system:serviceaccount:default:".len() + 63
        );
    }

    #[test]
    fn kube_prometheus_stack_service_account_names() {
        assert_eq!(
            sa(
                "prometheus:\n  prometheusSpec: {}\n",
                Some("monitoring"),
                Some("kps")
            ),
            "system:serviceaccount:monitoring:kps-kube-prometheus-stack-prometheus"
        );
        assert_eq!(
            sa(
                "prometheus:\n  prometheusSpec: {}\n",
                None,
                Some("kube-prometheus-stack")
            ),
            "system:serviceaccount:default:kube-prometheus-stack-prometheus"
        );
        assert_eq!(
            sa(
                "fullnameOverride: kps\nprometheus:\n  prometheusSpec: {}\n",
                None,
                None
            ),
            "system:serviceaccount:default:kps-prometheus"
        );
        assert_eq!(
            sa(
                "namespaceOverride: obs\nprometheus:\n  serviceAccount:\n    name: amp\n",
                Some("x"),
                None
            ),
            "system:serviceaccount:obs:amp"
        );
        // `prometheus-kube-prometheus-stack` is cut to 26 characters, a trailing `-` trimmed.
        assert_eq!(
            sa("prometheus:\n  prometheusSpec: {}\n", None, None),
            "system:serviceaccount:default:prometheus-kube-prometheus-prometheus"
        );
    }

    #[test]
    fn misindented_role_arn() {
        let ctx = run(
            "serviceAccounts:\n  server:\n    annotations:\n    eks.amazonaws.com/role-arn: arn:aws:iam::111122223333:role/amp\n",
            None,
            None,
        );
        assert_eq!(ids(&ctx), [("L1", Severity::Error, 4)]);
        let f = &ctx.findings[0];
        assert_eq!(f.column, 5);
        assert_eq!(
            f.key_path,
            "serviceAccounts.server.\"eks.amazonaws.com/role-arn\""
        );
        assert!(f.message.contains("beside `annotations:`"), "{}", f.message);
        assert_eq!(
            f.snippet.as_deref(),
            Some(
                "serviceAccounts:\n  server:\n    annotations:\n      eks.amazonaws.com/role-arn: arn:aws:iam::111122223333:role/amp"
            )
        );
        assert_eq!(ctx.accounts, ["111122223333"]);
    }

    #[test]
    fn correct_annotation_passes() {
        let ctx = run(
            "serviceAccounts:\n  server:\n    annotations:\n      eks.amazonaws.com/role-arn: arn:aws:iam::111122223333:role/amp\n",
            None,
            None,
        );
        assert!(ctx.findings.is_empty(), "{:?}", ctx.findings);
    }

    #[test]
    fn annotation_elsewhere_misspelled_or_not_a_role() {
        let ctx = run(
            "server:\n  podAnnotations:\n    eks.amazonaws.com/role-arn: arn:aws:iam::1:role/x\n",
            None,
            None,
        );
        assert_eq!(ids(&ctx), [("L1", Severity::Error, 3)]);
        let ctx = run(
            "serviceAccounts:\n  server:\n    annotations:\n      eks.amazonaws.com/role_arn: arn:aws:iam::1:role/x\n",
            None,
            None,
        );
        assert!(ctx.findings[0].message.contains("misspelled"));
        let ctx = run(
            "serviceAccounts:\n  server:\n    annotations:\n      eks.amazonaws.com/role-arn: arn:aws:iam::111122223333:policy/x\n",
            None,
            None,
        );
        assert!(ctx.findings[0].message.contains("not an IAM role ARN"));
        let ctx = run(
            "prometheus:\n  serviceAccount:\n    eks.amazonaws.com/role-arn: arn:aws:iam::1:role/x\n",
            None,
            None,
        );
        assert_eq!(ids(&ctx), [("L1", Severity::Error, 3)]);
        assert!(
            ctx.findings[0]
                .snippet
                .as_deref()
                .unwrap()
                .starts_with("prometheus:\n  serviceAccount:\n    annotations:")
        );
    }

    #[test]
    fn service_account_not_created() {
        let ctx = run(
            "serviceAccounts:\n  server:\n    create: false\n    annotations:\n      eks.amazonaws.com/role-arn: arn:aws:iam::1:role/x\n",
            Some("obs"),
            None,
        );
        assert_eq!(ids(&ctx), [("D6", Severity::Warning, 3)]);
        assert!(ctx.findings[0].fix.contains("kubectl annotate serviceaccount -n obs default eks.amazonaws.com/role-arn=arn:aws:iam::1:role/x"));
    }

    #[test]
    fn missing_annotation_with_sigv4_warns() {
        let ctx = run(
            "server:\n  remoteWrite:\n    - url: https://aps-workspaces.us-east-1.amazonaws.com/workspaces/ws-12345678-abcd-ef01-2345-6789abcdef01/api/v1/remote_write\n      sigv4:\n        region: us-east-1\n",
            None,
            None,
        );
        assert_eq!(ids(&ctx), [("L1", Severity::Warning, 1)]);
    }

    #[test]
    fn mixed_charts_and_misplaced_remote_write() {
        let ctx = run(
            "server:\n  remoteWrite: []\nserviceAccounts: {}\nprometheus:\n  prometheusSpec:\n    remoteWrite: []\n",
            None,
            None,
        );
        assert_eq!(ids(&ctx), [("L5", Severity::Error, 4)]);
        let ctx = run("server:\n  remote_write:\n    - url: x\n", None, None);
        assert_eq!(ids(&ctx), [("L5", Severity::Error, 2)]);
        assert!(ctx.findings[0].fix.contains("server.remoteWrite"));
        let ctx = run("prometheus:\n  remoteWrite:\n    - url: x\n", None, None);
        assert_eq!(ids(&ctx), [("L5", Severity::Error, 2)]);
        assert!(
            ctx.findings[0]
                .fix
                .contains("prometheus.prometheusSpec.remoteWrite")
        );
    }

    #[test]
    fn casing_inside_entries() {
        let ws = "ws-12345678-abcd-ef01-2345-6789abcdef01";
        let ctx = run(
            &format!(
                "server:\n  remoteWrite:\n    - url: https://aps-workspaces.us-east-1.amazonaws.com/workspaces/{ws}/api/v1/remote_write\n      sigv4:\n        region: us-east-1\n      queue_config:\n        maxSamplesPerSend: 1000\n      remoteTimeout: 30s\nserviceAccounts:\n  server:\n    annotations:\n      eks.amazonaws.com/role-arn: arn:aws:iam::1:role/x\n"
            ),
            None,
            None,
        );
        assert_eq!(
            ids(&ctx),
            [("L5", Severity::Error, 7), ("L5", Severity::Error, 8)]
        );
        assert_eq!(
            ctx.findings[0].fix,
            "rename `maxSamplesPerSend` to `max_samples_per_send`"
        );
        let ctx = run(
            &format!(
                "prometheus:\n  serviceAccount:\n    annotations:\n      eks.amazonaws.com/role-arn: arn:aws:iam::1:role/x\n  prometheusSpec:\n    remoteWrite:\n      - url: https://aps-workspaces.us-east-1.amazonaws.com/workspaces/{ws}/api/v1/remote_write\n        sigv4:\n          region: us-east-1\n        queue_config: {{}}\n"
            ),
            None,
            None,
        );
        assert_eq!(ids(&ctx), [("L5", Severity::Error, 10)]);
        assert_eq!(
            ctx.findings[0].fix,
            "rename `queue_config` to `queueConfig`"
        );
    }

    #[test]
    fn empty_values_file() {
        let ctx = run("", None, None);
        assert_eq!(ids(&ctx), [("L1", Severity::Info, 1)]);
        assert_eq!(
            ctx.identities[0].sub(),
            "system:serviceaccount:default:prometheus-server"
        );
        let ctx = run("- a\n", None, None);
        assert_eq!(ids(&ctx), [("L5", Severity::Error, 1)]);
    }

    #[test]
    fn moved_chart_keys_are_warnings_naming_the_version() {
        let ctx = run(
            "server: {}\nkubeStateMetrics:\n  enabled: false\nnodeExporter:\n  enabled: false\nserviceAccounts:\n  alertmanager:\n    create: false\n",
            None,
            None,
        );
        assert_eq!(
            ids(&ctx),
            [
                ("D24", Severity::Warning, 2),
                ("D24", Severity::Warning, 4),
                ("D24", Severity::Warning, 7)
            ]
        );
        let f = &ctx.findings[0];
        assert_eq!(f.key_path, "kubeStateMetrics");
        assert!(
            f.message.contains("before 19.0") && f.message.contains("`kube-state-metrics`"),
            "{}",
            f.message
        );
        assert!(f.fix.contains("chart 19.0 or later"), "{}", f.fix);
        assert_eq!(ctx.findings[2].key_path, "serviceAccounts.alertmanager");
        // kube-prometheus-stack still reads kubeStateMetrics: nothing to say there.
        let ctx = run(
            "prometheus: {}\nkubeStateMetrics:\n  enabled: false\n",
            None,
            None,
        );
        assert!(ctx.findings.is_empty(), "{:?}", ctx.findings);
    }

    #[test]
    fn kubernetes_names_in_values() {
        let ctx = run(
            "forceNamespace: amp_metrics\nserviceAccounts:\n  server:\n    name: AMP-Ingest\n",
            None,
            None,
        );
        assert_eq!(
            ids(&ctx),
            [("D20", Severity::Error, 1), ("D20", Severity::Error, 4)]
        );
        assert!(
            ctx.findings[0]
                .message
                .contains("Kubernetes does not allow `_` in a namespace"),
            "{}",
            ctx.findings[0].message
        );
        assert!(
            ctx.findings[0]
                .fix
                .contains("`forceNamespace: amp-metrics`"),
            "{}",
            ctx.findings[0].fix
        );
        assert!(
            ctx.findings[1].fix.contains("`name: amp-ingest`"),
            "{}",
            ctx.findings[1].fix
        );
        let ctx = run(
            "namespaceOverride: \"{{ .Release.Namespace }}\"\nprometheus: {}\n",
            None,
            None,
        );
        assert!(ctx.findings.is_empty(), "{:?}", ctx.findings);
        // D6's kubectl command never names an invalid account.
        let ctx = run(
            "serviceAccounts:\n  server:\n    create: false\n    name: Bad_Name\n    annotations:\n      eks.amazonaws.com/role-arn: arn:aws:iam::111122223333:role/x\n",
            None,
            None,
        );
        let d6 = ctx.findings.iter().find(|f| f.id == "D6").unwrap();
        assert!(!d6.fix.contains("Bad_Name"), "{}", d6.fix);
    }

    #[test]
    fn duplicate_keys_in_values_lose_the_first() {
        let ctx = run(
            "server:\n  remoteWrite: []\nserver:\n  persistentVolume: {}\n",
            None,
            None,
        );
        assert_eq!(ids(&ctx), [("D22", Severity::Error, 3)]);
        assert!(
            ctx.findings[0].message.contains("lines 1 and 3"),
            "{}",
            ctx.findings[0].message
        );
    }

    #[test]
    fn chart_built_service_account_names_are_judged() {
        let ctx = run("server:\n  fullnameOverride: Prom_Server\n", None, None);
        assert_eq!(ids(&ctx), [("D20", Severity::Error, 2)]);
        assert_eq!(ctx.findings[0].key_path, "server.fullnameOverride");
        assert!(
            ctx.findings[0].fix.contains("`prom-server`"),
            "{}",
            ctx.findings[0].fix
        );
        let ctx = run("server: {}\n", None, Some("My_Release"));
        assert_eq!(ids(&ctx), [("D20", Severity::Error, 1)]);
        assert!(
            ctx.findings[0].message.contains("`My_Release` (--release)"),
            "{}",
            ctx.findings[0].message
        );
        // An explicit name is reported once, where it is written.
        let ctx = run(
            "serviceAccounts:\n  server:\n    name: Bad_Name\n",
            None,
            None,
        );
        assert_eq!(ids(&ctx), [("D20", Severity::Error, 3)]);
        assert!(run("server: {}\n", None, Some("amp")).findings.is_empty());
    }
}
