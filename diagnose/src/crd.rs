//! `--crd`: the Prometheus CRD installed in the cluster (`kubectl get crd
//! prometheuses.monitoring.coreos.com -o yaml`, or `-o json`), against kube-prometheus-stack
//! values (L7).
//!
//! helm installs a chart's CRDs once and never upgrades them, so a newer chart can render
//! `remoteWrite` fields (`sigv4`, …) that the installed schema does not have. Every key of
//! `prometheus.prometheusSpec.remoteWrite[]` is looked up in the CRD's
//! `spec.versions[v1].schema.openAPIV3Schema.properties.spec.properties.remoteWrite`,
//! descending through `properties` and `items`; subtrees with
//! `x-kubernetes-preserve-unknown-fields` or without `properties` (maps such as `headers`)
//! accept any key. snake_case keys are left to L5, which already names them.

use pipecheck_policy::path;

use super::context::Ctx;
use super::finding::{Finding, Severity};
use super::values::{self, Chart};
use super::yaml::{Node, Pos};

pub(crate) const PROMETHEUS_CRD: &str = "prometheuses.monitoring.coreos.com";
/// The annotation the prometheus-operator's generated CRDs carry.
const VERSION_ANNOTATION: &str = "operator.prometheus.io/version";

/// The parts of the installed CRD the check reads.
#[derive(Debug)]
pub(crate) struct PrometheusCrd<'a> {
    /// `metadata.annotations."operator.prometheus.io/version"`.
    pub operator_version: Option<&'a str>,
    /// The schema of the resource's `spec`.
    pub spec: &'a Node,
}

/// The Prometheus CRD in `docs`, or why the file is not it (a sentence fragment).
pub(crate) fn read(docs: &[Node]) -> Result<PrometheusCrd<'_>, String> {
    // `kubectl get -o yaml` of several objects gives a `List`.
    let objects: Vec<&Node> = docs
        .iter()
        .flat_map(|d| match d.get("kind").and_then(Node::str) {
            Some("List") => d
                .get("items")
                .map(Node::items)
                .unwrap_or_default()
                .iter()
                .collect(),
            _ => vec![d],
        })
        .collect();
    let Some(first) = objects.first() else {
        return Err("the file holds no object".into());
    };
    let crds: Vec<&&Node> = objects
        .iter()
        .filter(|o| o.get("kind").and_then(Node::str) == Some("CustomResourceDefinition"))
        .collect();
    let name_of = |o: &Node| {
        o.at(&["metadata", "name"])
            .and_then(Node::str)
            .map(str::to_string)
    };
    let Some(crd) = crds
        .iter()
        .find(|o| name_of(o).as_deref() == Some(PROMETHEUS_CRD))
    else {
        let what = match crds.first() {
            Some(c) => format!(
                "it is the CustomResourceDefinition `{}`",
                name_of(c).unwrap_or_else(|| "(no name)".into())
            ),
            None => match first.get("kind").and_then(Node::str) {
                Some(kind) => format!(
                    "it holds a `{kind}`{}",
                    name_of(first)
                        .map(|n| format!(" named `{n}`"))
                        .unwrap_or_default()
                ),
                None => "it holds no Kubernetes object (no `kind`)".into(),
            },
        };
        return Err(format!(
            "{what}, not the CustomResourceDefinition {PROMETHEUS_CRD} (`kubectl get crd {PROMETHEUS_CRD} -o yaml`)"
        ));
    };
    let versions = crd
        .at(&["spec", "versions"])
        .map(Node::items)
        .unwrap_or_default();
    let named = |n: &str| {
        versions
            .iter()
            .find(|v| v.get("name").and_then(Node::str) == Some(n))
    };
    // The chart renders monitoring.coreos.com/v1; otherwise the stored version.
    let version = named("v1")
        .or_else(|| {
            versions
                .iter()
                .find(|v| v.get("storage").and_then(Node::bool) == Some(true))
        })
        .or(versions.first());
    let schema = version
        .and_then(|v| v.at(&["schema", "openAPIV3Schema"]))
        // apiextensions.k8s.io/v1beta1 CRDs keep one schema for every version.
        .or_else(|| crd.at(&["spec", "validation", "openAPIV3Schema"]))
        .ok_or("it has no openAPIV3Schema, so which fields it accepts cannot be told")?;
    let spec = schema
        .at(&["properties", "spec"])
        .ok_or("its openAPIV3Schema has no `properties.spec`")?;
    let operator_version = crd
        .at(&["metadata", "annotations"])
        .and_then(|a| a.get(VERSION_ANNOTATION))
        .and_then(Node::non_empty);
    Ok(PrometheusCrd {
        operator_version,
        spec,
    })
}

/// A key the schema does not know.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Unknown {
    pub key: String,
    pub key_path: String,
    pub pos: Pos,
    /// The key path of the object it sits in.
    pub parent: String,
}

/// The keys of `value` (at key path `at`) that `schema` does not define.
pub(crate) fn unknown_fields(value: &Node, schema: &Node, at: &str) -> Vec<Unknown> {
    let mut out = Vec::new();
    walk(value, schema, at, &mut out);
    out
}

fn walk(value: &Node, schema: &Node, at: &str, out: &mut Vec<Unknown>) {
    // Depth is capped by the YAML parser (255 levels), so recursion is safe here.
    if schema
        .get("x-kubernetes-preserve-unknown-fields")
        .and_then(Node::bool)
        == Some(true)
    {
        return;
    }
    if value.is_seq() {
        if let Some(items) = schema.get("items") {
            for (i, item) in value.items().iter().enumerate() {
                walk(item, items, &path::index(at, i), out);
            }
        }
        return;
    }
    let Some(properties) = schema.get("properties").filter(|p| p.is_map()) else {
        return;
    };
    for e in value.entries() {
        let p = path::key(at, &e.key);
        match properties.get(&e.key) {
            Some(s) => walk(&e.value, s, &p, out),
            None if e.key.contains('_') => {}
            None => out.push(Unknown {
                key: e.key.clone(),
                key_path: p,
                pos: e.key_pos,
                parent: at.to_string(),
            }),
        }
    }
}

/// L7 for one values file against the installed CRD.
pub(crate) fn check(
    ctx: &mut Ctx,
    crd_file: &str,
    crd: &PrometheusCrd<'_>,
    file: &str,
    root: &Node,
) {
    if values::chart(root) != Some(Chart::KubePrometheusStack) {
        return;
    }
    let rw_path = Chart::KubePrometheusStack.remote_write_path();
    let Some(parent) = root.at(&rw_path[..rw_path.len() - 1]) else {
        return;
    };
    let Some(rw) = parent.entry("remoteWrite") else {
        return;
    };
    let base = rw_path.iter().fold(String::new(), |p, k| path::key(&p, k));
    let from = match crd.operator_version {
        Some(v) => format!("prometheus-operator {v}, by its `{VERSION_ANNOTATION}` annotation"),
        None => format!("no `{VERSION_ANNOTATION}` annotation: an old operator's"),
    };
    let fix = format!(
        "helm never upgrades CRDs: apply the CRDs of the kube-prometheus-stack version you install (those of the prometheus-operator release that is the chart's appVersion; the installed one is {from}), then run helm upgrade"
    );
    let snippet = "kubectl apply --server-side --force-conflicts -f https://raw.githubusercontent.com/prometheus-operator/prometheus-operator/<chart appVersion>/example/prometheus-operator-crd/monitoring.coreos.com_prometheuses.yaml";
    let Some(schema) = crd.spec.at(&["properties", "remoteWrite"]) else {
        ctx.push(
            Finding::new(
                "L7",
                Severity::Error,
                file,
                rw.key_pos,
                &base,
                format!(
                    "the installed Prometheus CRD ({crd_file}, {from}) has no `remoteWrite` field at all: the Prometheus resource the chart renders is refused (`unknown field \"remoteWrite\"`), or the field is dropped and nothing is written"
                ),
                fix,
            )
            .snippet(snippet),
        );
        return;
    };
    for u in unknown_fields(&rw.value, schema, &base) {
        let signing = if u.key == "sigv4" {
            ": Prometheus then writes unsigned and AMP answers 403 Missing Authentication Token"
        } else {
            ""
        };
        ctx.push(
            Finding::new(
                "L7",
                Severity::Error,
                file,
                u.pos,
                &u.key_path,
                format!(
                    "`{}` is not a field of `{}` in the installed Prometheus CRD ({crd_file}, {from}): helm does not upgrade CRDs, so the API server refuses the Prometheus resource the chart renders (`unknown field \"{}\"`), or, where field validation is off, drops the field{signing}",
                    u.key, u.parent, u.key
                ),
                fix.clone(),
            )
            .snippet(snippet),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml;

    /// A CRD trimmed to what the check reads.
    fn crd_text(remote_write_props: &str, annotation: bool) -> String {
        format!(
            "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n{}  name: prometheuses.monitoring.coreos.com\nspec:\n  group: monitoring.coreos.com\n  versions:\n    - name: v1\n      served: true\n      storage: true\n      schema:\n        openAPIV3Schema:\n          type: object\n          properties:\n            spec:\n              type: object\n              properties:\n                remoteWrite:\n                  type: array\n                  items:\n                    type: object\n                    properties:\n{remote_write_props}",
            if annotation {
                "  annotations:\n    operator.prometheus.io/version: 0.60.1\n"
            } else {
                ""
            }
        )
    }

    const OLD: &str = "                      url: {type: string}\n                      headers: {type: object, additionalProperties: {type: string}}\n                      queueConfig:\n                        type: object\n                        properties:\n                          maxSamplesPerSend: {type: integer}\n                      writeRelabelConfigs:\n                        type: array\n                        items:\n                          type: object\n                          properties:\n                            action: {type: string}\n                      metadataConfig:\n                        type: object\n                        x-kubernetes-preserve-unknown-fields: true\n";

    fn docs(text: &str) -> Vec<Node> {
        yaml::parse(text).unwrap()
    }

    #[test]
    fn reads_the_prometheus_crd_and_its_operator_version() {
        let d = docs(&crd_text(OLD, true));
        let crd = read(&d).unwrap();
        assert_eq!(crd.operator_version, Some("0.60.1"));
        assert!(
            crd.spec
                .at(&["properties", "remoteWrite", "items"])
                .is_some()
        );
        let d = docs(&crd_text(OLD, false));
        assert_eq!(read(&d).unwrap().operator_version, None);
        // A List of one, as `kubectl get crd -o yaml` without a name gives.
        let listed = format!(
            "apiVersion: v1\nkind: List\nitems:\n{}",
            crd_text(OLD, true)
                .lines()
                .enumerate()
                .map(|(i, l)| format!("{}{l}\n", if i == 0 { "  - " } else { "    " }))
                .collect::<String>()
        );
        assert!(read(&docs(&listed)).is_ok());
    }

    #[test]
    fn other_files_are_refused_with_what_they_are() {
        let e = read(&docs("kind: Deployment\nmetadata:\n  name: x\n")).unwrap_err();
        assert!(e.starts_with("it holds a `Deployment` named `x`, not the CustomResourceDefinition prometheuses.monitoring.coreos.com"), "{e}");
        let other = crd_text(OLD, true).replace("name: prometheuses.", "name: alertmanagers.");
        let e = read(&docs(&other)).unwrap_err();
        assert!(
            e.starts_with(
                "it is the CustomResourceDefinition `alertmanagers.monitoring.coreos.com`"
            ),
            "{e}"
        );
        assert!(read(&docs("a: 1\n")).unwrap_err().contains("no `kind`"));
        assert!(read(&[]).unwrap_err().contains("no object"));
        let e = read(&docs("kind: CustomResourceDefinition\nmetadata:\n  name: prometheuses.monitoring.coreos.com\nspec:\n  versions:\n    - name: v1\n")).unwrap_err();
        assert!(e.contains("no openAPIV3Schema"), "{e}");
    }

    #[test]
    fn the_schema_walk_finds_unknown_keys_at_any_depth() {
        let d = docs(&crd_text(OLD, true));
        let crd = read(&d).unwrap();
        let schema = crd.spec.at(&["properties", "remoteWrite"]).unwrap();
        let values = docs(
            "- url: x\n  sigv4:\n    region: us-east-1\n  headers:\n    X-Any: y\n  queueConfig:\n    maxSamplesPerSend: 1\n    retryOnRateLimit: true\n  writeRelabelConfigs:\n    - action: keep\n      regex: a\n  metadataConfig:\n    anything: 1\n  queue_config: {}\n",
        );
        let got: Vec<(String, usize)> = unknown_fields(&values[0], schema, "rw")
            .into_iter()
            .map(|u| (u.key_path, u.pos.line))
            .collect();
        assert_eq!(
            got,
            [
                ("rw[0].sigv4".to_string(), 2),
                ("rw[0].queueConfig.retryOnRateLimit".to_string(), 8),
                ("rw[0].writeRelabelConfigs[0].regex".to_string(), 11),
            ]
        );
    }

    #[test]
    fn only_kube_prometheus_stack_values_are_judged() {
        use crate::context::Settings;
        let d = docs(&crd_text(OLD, true));
        let crd = read(&d).unwrap();
        let run = |values: &str| {
            let mut ctx = Ctx::new(Settings {
                namespace: None,
                release: None,
                collector_image: None,
            });
            check(&mut ctx, "crd.yaml", &crd, "v.yaml", &docs(values)[0]);
            ctx.findings
        };
        let f = run(
            "prometheus:\n  prometheusSpec:\n    remoteWrite:\n      - url: x\n        sigv4:\n          region: us-east-1\n",
        );
        assert_eq!(f.len(), 1);
        assert_eq!(
            (f[0].id, f[0].line, f[0].key_path.as_str()),
            ("L7", 5, "prometheus.prometheusSpec.remoteWrite[0].sigv4")
        );
        assert!(
            f[0].message.contains("unknown field \"sigv4\"") && f[0].message.contains("0.60.1")
        );
        assert!(
            f[0].snippet
                .as_deref()
                .unwrap()
                .contains("monitoring.coreos.com_prometheuses.yaml")
        );
        assert!(run("server:\n  remoteWrite:\n    - url: x\n      sigv4: {}\n").is_empty());
        let no_rw = crd_text("                      url: {type: string}\n", true)
            .replace("                remoteWrite:\n                  type: array\n                  items:\n                    type: object\n                    properties:\n                      url: {type: string}\n", "                replicas: {type: integer}\n");
        let d = docs(&no_rw);
        let crd = read(&d).unwrap();
        let mut ctx = Ctx::new(Settings {
            namespace: None,
            release: None,
            collector_image: None,
        });
        check(
            &mut ctx,
            "crd.yaml",
            &crd,
            "v.yaml",
            &docs("prometheus:\n  prometheusSpec:\n    remoteWrite: []\n")[0],
        );
        assert_eq!(ctx.findings.len(), 1);
        assert!(ctx.findings[0].message.contains("no `remoteWrite` field"));
    }
}
