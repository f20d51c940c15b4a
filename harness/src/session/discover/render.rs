//! Discovery as text (a table, one row per collector, its identity and config source on
//! the line below; then what could not be listed) or as one JSON document.

use serde_json::{Value, json};

use super::found::{Discovery, Found, IRSA, NODE_ROLE, POD_IDENTITY, SCRAPER_ROLE};
use super::scenarios::Written;

/// The identity mechanisms in a table cell: `IRSA`, `Pod Identity`, `IRSA+Pod Identity`,
/// `node role`, `scraper role`.
pub fn mechanism_label(f: &Found) -> String {
    f.identity
        .mechanisms()
        .iter()
        .map(|m| match *m {
            IRSA => "IRSA",
            POD_IDENTITY => "Pod Identity",
            NODE_ROLE => "node role",
            SCRAPER_ROLE => "scraper role",
            other => other,
        })
        .collect::<Vec<_>>()
        .join("+")
}

fn name_cell(f: &Found) -> String {
    if f.namespace.is_empty() {
        f.name.clone()
    } else {
        format!("{}/{}", f.namespace, f.name)
    }
}

/// The console text.
pub fn text(d: &Discovery, written: &[Written]) -> String {
    let mut out = format!(
        "cluster {} ({}) in {}, Kubernetes API {}\n",
        d.cluster.name,
        d.cluster.arn.as_deref().unwrap_or("ARN unknown"),
        d.cluster.region,
        d.cluster.server
    );
    if d.collectors.is_empty() {
        out.push_str("no collector writing to AMP found\n");
    } else {
        let rows: Vec<[String; 4]> = d
            .collectors
            .iter()
            .map(|f| {
                [
                    f.kind.as_str().to_string(),
                    name_cell(f),
                    mechanism_label(f),
                    f.workspaces(),
                ]
            })
            .collect();
        let header = [
            "KIND".to_string(),
            "NAMESPACE/NAME".to_string(),
            "IDENTITY".to_string(),
            "WORKSPACE".to_string(),
        ];
        let widths: Vec<usize> = (0..3)
            .map(|i| {
                rows.iter()
                    .map(|r| r[i].len())
                    .chain([header[i].len()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |r: &[String; 4]| {
            format!(
                "{:<w0$}  {:<w1$}  {:<w2$}  {}\n",
                r[0],
                r[1],
                r[2],
                r[3],
                w0 = widths[0],
                w1 = widths[1],
                w2 = widths[2]
            )
        };
        out.push_str(&line(&header));
        for (f, r) in d.collectors.iter().zip(&rows) {
            out.push_str(&line(r));
            let mut more = vec![
                f.identity.describe(),
                format!("config: {}", f.config_source),
            ];
            more.extend(f.detail.clone());
            out.push_str(&format!("    {}\n", more.join("; ")));
        }
    }
    for u in &d.secret_config {
        out.push_str(&format!(
            "not read: {} {}/{} looks like a collector and keeps its config in Secret {} (discover reads no Secret values); if it writes to AMP, name it in a scenario\n",
            u.kind.as_str(),
            u.namespace,
            u.name,
            u.secrets.join(", ")
        ));
    }
    for n in &d.not_listed {
        out.push_str(&format!("not listed: {}: {}\n", n.what, n.why));
    }
    for w in written {
        match w {
            Written::File { collector, path } => {
                out.push_str(&format!("wrote {} ({collector})\n", path.display()))
            }
            Written::Skipped { collector, why } => {
                out.push_str(&format!("no scenario for {collector}: {why}\n"))
            }
        }
    }
    out
}

/// The `--format json` document: the discovery, each collector's identity with its
/// `mechanisms`, and the scenario files written.
pub fn json(d: &Discovery, written: &[Written]) -> Value {
    let mut doc = serde_json::to_value(d).unwrap_or(Value::Null);
    if let Some(list) = doc["collectors"].as_array_mut() {
        for (v, f) in list.iter_mut().zip(&d.collectors) {
            v["identity"]["mechanisms"] = json!(f.identity.mechanisms());
        }
    }
    doc["scenarios"] = written
        .iter()
        .map(|w| match w {
            Written::File { collector, path } => {
                json!({ "collector": collector, "path": path.display().to_string() })
            }
            Written::Skipped { collector, why } => {
                json!({ "collector": collector, "skipped": why })
            }
        })
        .collect();
    doc
}
