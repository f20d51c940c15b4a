//! From discovered collectors to cluster scenarios: `--write-scenarios DIR` writes one
//! scenario file per collector a cluster scenario kind checks ([`Found::scenario_kind`]),
//! and `run` completes a cluster scenario that names no collector with the one discovery
//! found ([`resolve`]).

use std::path::{Path, PathBuf};

use super::found::{Discovery, Found, PodIdentity};
use crate::scenario::{ClusterCollector, ClusterSpec};

/// What `--write-scenarios` did for one collector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Written {
    File { collector: String, path: PathBuf },
    Skipped { collector: String, why: String },
}

#[derive(Debug, thiserror::Error)]
#[error("failed to write scenario file {}", path.display())]
pub struct WriteError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// A file-name-safe form of `s`: lower-case letters, digits and `-`.
fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_string()
}

/// A YAML double-quoted scalar (JSON's string syntax is valid YAML).
fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_string())
}

/// The scenario's name: `discovered-<kind>-<namespace>-<name>` (a scraper, which has no
/// namespace: `discovered-amp-scraper-<name>`).
pub fn scenario_name(f: &Found, kind: ClusterCollector) -> String {
    let mut name = format!("discovered-{}", kind.as_str());
    for part in [slug(&f.namespace), slug(&f.name)] {
        if !part.is_empty() {
            name.push('-');
            name.push_str(&part);
        }
    }
    name
}

/// Where a written scraper scenario looks for the canary's pods: the shipped
/// `eks-amp-scraper` scenario's namespace.
pub const SCRAPER_CANARY_NAMESPACE: &str = "pipecheck-canary";

/// The text of a cluster scenario checking `f` (kind `kind`) in `cluster`.
pub fn scenario_text(cluster: &str, f: &Found, kind: ClusterCollector) -> String {
    let name = scenario_name(f, kind);
    let mut text = format!(
        "# Written by `pipecheck discover`: {} in EKS cluster {cluster}, identity {}.\n",
        f.title(),
        f.identity.describe()
    );
    text.push_str(&format!(
        "# Its remote-write config: {}.\n",
        f.config_source
    ));
    if f.remote_writes.len() > 1 {
        text.push_str(&format!(
            "# It writes to several workspaces ({}); this scenario checks the first.\n",
            f.workspaces()
        ));
    }
    // A scraper runs no pod of its own: the scenario's namespace is where the canary's
    // pods run, which the scraper's `pipecheck-canary` job keeps.
    let namespace = if kind == ClusterCollector::AmpScraper {
        text.push_str(&format!(
            "# The canary is what the scraper writes for its scrape job `{}`: add that job to\n\
             # the scraper's configuration, keeping pods in namespace {SCRAPER_CANARY_NAMESPACE}\n\
             # (see scenarios/eks-amp-scraper.yaml), or change `namespace` to where they run.\n",
            crate::canary::SCRAPER_JOB
        ));
        SCRAPER_CANARY_NAMESPACE
    } else {
        f.namespace.as_str()
    };
    text.push_str(&format!(
        "name: {}\ndescription: {}\nshape: cluster\ncluster:\n  kind: {}\n  name: {}\n  namespace: {}\n  collector: {}\n",
        quoted(&name),
        quoted(&format!("{} (discovered)", f.title())),
        kind.as_str(),
        quoted(cluster),
        quoted(namespace),
        quoted(&f.name),
    ));
    if let Some(sa) = &f.identity.service_account {
        text.push_str(&format!("  service_account: {}\n", quoted(sa)));
    }
    // Pod Identity alone (without IRSA): the scenario checks the Pod Identity chain.
    if f.identity.irsa_role_arn.is_none()
        && matches!(f.identity.pod_identity, PodIdentity::Associated { .. })
    {
        text.push_str("  identity: pod-identity\n");
    }
    // A scraper scrapes every 30 s or more and takes up to 20 minutes to become ACTIVE: the
    // shipped eks-amp-scraper scenario's deadlines.
    let (arrival, workspace) = if kind == ClusterCollector::AmpScraper {
        ("120s", "25m")
    } else {
        ("60s", "5m")
    };
    text.push_str(&format!(
        "expect:\n  arrival_deadline: {arrival}\n  workspace_deadline: {workspace}\n  request_timeout: 10s\ntarget:\n",
    ));
    if let Some(rw) = f.remote_writes.first() {
        text.push_str(&format!(
            "  region: {}\n  workspace_id: {}\n",
            quoted(&rw.region),
            quoted(&rw.workspace_id)
        ));
    }
    text.push_str("  mock:\n    arrival_deadline: 3s\n    workspace_deadline: 2s\n");
    text
}

/// Writes one scenario per collector a scenario kind checks into `dir` (created if
/// missing); says what was skipped and why.
pub fn write_all(dir: &Path, d: &Discovery) -> Result<Vec<Written>, WriteError> {
    std::fs::create_dir_all(dir).map_err(|source| WriteError {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut out = Vec::new();
    for f in &d.collectors {
        let Some(kind) = f.scenario_kind() else {
            out.push(Written::Skipped {
                collector: f.title(),
                why: format!(
                    "no cluster scenario kind checks a {} found this way (kinds: adot, prometheus, prometheus-operator, otelcol, amp-scraper)",
                    describe_shape(f)
                ),
            });
            continue;
        };
        let path = dir.join(format!("{}.yaml", scenario_name(f, kind)));
        std::fs::write(&path, scenario_text(&d.cluster.name, f, kind)).map_err(|source| {
            WriteError {
                path: path.clone(),
                source,
            }
        })?;
        out.push(Written::File {
            collector: f.title(),
            path,
        });
    }
    Ok(out)
}

fn describe_shape(f: &Found) -> String {
    match f.kind {
        super::found::Kind::Deployment
        | super::found::Kind::StatefulSet
        | super::found::Kind::DaemonSet => format!(
            "{} whose image is neither an OpenTelemetry collector nor (in a Deployment or StatefulSet) a Prometheus server",
            f.kind.as_str()
        ),
        k => k.as_str().to_string(),
    }
}

/// The cluster spec of a scenario that names no collector, completed with the one
/// collector of its kind (in its namespace, if it names one) discovery found. Several or
/// none: why, naming what was found.
pub fn resolve(spec: &ClusterSpec, d: &Discovery) -> Result<ClusterSpec, String> {
    let matches: Vec<&Found> = d
        .collectors
        .iter()
        .filter(|f| f.scenario_kind() == Some(spec.kind))
        .filter(|f| spec.namespace.is_empty() || f.namespace == spec.namespace)
        .collect();
    let place = if spec.namespace.is_empty() {
        format!("cluster {}", spec.name)
    } else {
        format!("namespace {} of cluster {}", spec.namespace, spec.name)
    };
    match matches.as_slice() {
        [one] => Ok(ClusterSpec {
            namespace: one.namespace.clone(),
            collector: one.name.clone(),
            ..spec.clone()
        }),
        [] => {
            let others: Vec<String> = d.collectors.iter().map(Found::title).collect();
            let mut why = format!(
                "the scenario names no collector and discovery found no {} collector writing to AMP in {place}",
                spec.kind.as_str()
            );
            if !others.is_empty() {
                why.push_str(&format!(" (found: {})", others.join(", ")));
            }
            if !d.not_listed.is_empty() {
                let what: Vec<&str> = d.not_listed.iter().map(|n| n.what.as_str()).collect();
                why.push_str(&format!("; not listed: {}", what.join(", ")));
            }
            Err(why)
        }
        several => Err(format!(
            "the scenario names no collector and discovery found {} {} collectors in {place}: {}; name one in cluster.collector and cluster.namespace (`pipecheck discover --write-scenarios DIR` writes a scenario for each)",
            several.len(),
            spec.kind.as_str(),
            several
                .iter()
                .map(|f| f.title())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discover::amp_url::RemoteWrite;
    use crate::discover::found::{Identity, Kind, OTEL_COLLECTOR, PROMETHEUS_SERVER, PodIdentity};
    use crate::scenario::Scenario;

    fn found(kind: Kind, ns: &str, name: &str, detail: Option<&str>) -> Found {
        Found {
            kind,
            namespace: ns.into(),
            name: name.into(),
            identity: Identity {
                service_account: Some("collector".into()),
                irsa_role_arn: Some("arn:aws:iam::111122223333:role/r".into()),
                pod_identity: PodIdentity::None,
                scraper_role_arn: None,
                unread: None,
            },
            remote_writes: vec![RemoteWrite {
                workspace_id: "ws-1".into(),
                region: "eu-west-1".into(),
                url: "https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-1/api/v1/remote_write".into(),
            }],
            config_source: "spec.config".into(),
            detail: detail.map(str::to_string),
        }
    }

    #[test]
    fn written_scenarios_parse_back_to_the_collector() {
        for (f, kind) in [
            (
                found(Kind::OpenTelemetryCollector, "adot-col", "adot", None),
                ClusterCollector::Adot,
            ),
            (
                found(
                    Kind::StatefulSet,
                    "prometheus",
                    "prom-server",
                    Some(PROMETHEUS_SERVER),
                ),
                ClusterCollector::Prometheus,
            ),
        ] {
            assert_eq!(f.scenario_kind(), Some(kind));
            let text = scenario_text("my \"cluster\"", &f, kind);
            let s = Scenario::parse(&text, "written").unwrap_or_else(|e| panic!("{e}\n{text}"));
            let c = s.cluster.unwrap();
            assert_eq!(
                (
                    c.kind,
                    c.name.as_str(),
                    c.namespace.as_str(),
                    c.collector.as_str()
                ),
                (
                    kind,
                    "my \"cluster\"",
                    f.namespace.as_str(),
                    f.name.as_str()
                )
            );
            assert_eq!(c.service_account.as_deref(), Some("collector"));
            assert_eq!(s.target.workspace_id.as_deref(), Some("ws-1"));
            assert_eq!(s.target.region.as_deref(), Some("eu-west-1"));
            assert_eq!(s.name, scenario_name(&f, kind));
        }
    }

    #[test]
    fn otel_workloads_and_scrapers_get_their_kinds() {
        for kind in [Kind::DaemonSet, Kind::Deployment, Kind::StatefulSet] {
            let f = found(kind, "o11y", "agent", Some(OTEL_COLLECTOR));
            assert_eq!(
                f.scenario_kind(),
                Some(ClusterCollector::Otelcol),
                "{kind:?}"
            );
        }
        let prom_ds = found(Kind::DaemonSet, "o11y", "p", Some(PROMETHEUS_SERVER));
        assert_eq!(prom_ds.scenario_kind(), None);

        let mut scraper = found(Kind::Scraper, "", "my-scraper", Some("s-1, status ACTIVE"));
        scraper.identity = Identity::scraper("arn:aws:iam::1:role/aws-service-role/x");
        let kind = scraper.scenario_kind().unwrap();
        assert_eq!(kind, ClusterCollector::AmpScraper);
        assert_eq!(
            scenario_name(&scraper, kind),
            "discovered-amp-scraper-my-scraper"
        );
        let text = scenario_text("c", &scraper, kind);
        let s = Scenario::parse(&text, "written").unwrap_or_else(|e| panic!("{e}\n{text}"));
        let c = s.cluster.unwrap();
        assert_eq!(
            (c.kind, c.namespace.as_str(), c.collector.as_str()),
            (kind, SCRAPER_CANARY_NAMESPACE, "my-scraper")
        );
        assert_eq!(c.service_account, None);
        assert!(text.contains("pipecheck-canary"), "{text}");
        assert_eq!(
            s.expect.arrival_deadline,
            std::time::Duration::from_secs(120)
        );
    }

    #[test]
    fn shapes_without_a_scenario_kind_are_skipped_with_why() {
        let dir = tempfile::tempdir().unwrap();
        let d = Discovery {
            collectors: vec![
                found(Kind::OpenTelemetryCollector, "a", "otel", None),
                found(Kind::DaemonSet, "b", "node-agent", None),
                found(Kind::Deployment, "c", "agent", None),
            ],
            ..Discovery::default()
        };
        let written = write_all(dir.path(), &d).unwrap();
        assert!(
            matches!(&written[0], Written::File { path, .. } if path.ends_with("discovered-adot-a-otel.yaml"))
        );
        assert!(matches!(&written[1], Written::Skipped { why, .. } if why.contains("DaemonSet")));
        assert!(
            matches!(&written[2], Written::Skipped { why, .. } if why.contains("neither an OpenTelemetry collector"))
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    fn unnamed(kind: ClusterCollector, namespace: &str) -> ClusterSpec {
        ClusterSpec {
            kind,
            name: "c".into(),
            namespace: namespace.into(),
            collector: String::new(),
            service_account: None,
            identity: None,
        }
    }

    #[test]
    fn resolving_an_unnamed_collector() {
        let d = Discovery {
            collectors: vec![
                found(Kind::OpenTelemetryCollector, "a", "one", None),
                found(Kind::OpenTelemetryCollector, "b", "two", None),
                found(Kind::Deployment, "p", "server", Some(PROMETHEUS_SERVER)),
            ],
            ..Discovery::default()
        };
        let p = resolve(&unnamed(ClusterCollector::Prometheus, ""), &d).unwrap();
        assert_eq!(
            (p.namespace.as_str(), p.collector.as_str()),
            ("p", "server")
        );
        let a = resolve(&unnamed(ClusterCollector::Adot, "b"), &d).unwrap();
        assert_eq!(a.collector, "two");
        let several = resolve(&unnamed(ClusterCollector::Adot, ""), &d).unwrap_err();
        assert!(several.contains("found 2 adot collectors"), "{several}");
        assert!(
            several.contains("a/one") && several.contains("b/two"),
            "{several}"
        );
        let none = resolve(&unnamed(ClusterCollector::Prometheus, "a"), &d).unwrap_err();
        assert!(none.contains("found no prometheus collector"), "{none}");
        assert!(none.contains("Deployment p/server"), "{none}");
    }
}
