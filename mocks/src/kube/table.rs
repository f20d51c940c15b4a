//! Server-side printing: the `Table` (meta.k8s.io/v1) kubectl asks for with
//! `Accept: application/json;as=Table;v=v1;g=meta.k8s.io,…`, so `kubectl get pods` shows
//! READY, STATUS and RESTARTS (a crash-looping collector reads `CrashLoopBackOff`) as it
//! does against a real cluster. Columns follow the apiserver's printers for the types
//! pipecheck looks at; other types get NAME and AGE.

use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use super::resources::ResourceType;

/// Whether the `Accept` header asks for a Table.
pub(crate) fn wanted(accept: &str) -> bool {
    accept
        .split(',')
        .next()
        .is_some_and(|first| first.contains("as=Table"))
}

/// The content type of a Table answer.
pub(crate) const CONTENT_TYPE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io";

/// A Table of `items`. `include_object` is the request's `includeObject`
/// (`None`, `Object`, default `Metadata`).
pub(crate) fn table(
    rt: &ResourceType,
    items: &[Value],
    list_meta: Value,
    include_object: Option<&str>,
    now: SystemTime,
) -> Value {
    let columns: Vec<Value> = columns(rt)
        .iter()
        .map(|(name, ty, format)| {
            json!({ "name": name, "type": ty, "format": format, "description": "", "priority": 0 })
        })
        .collect();
    let rows: Vec<Value> = items
        .iter()
        .map(|o| {
            let mut row = json!({ "cells": cells(rt, o, now) });
            match include_object {
                Some("None") => {}
                Some("Object") => row["object"] = o.clone(),
                _ => {
                    row["object"] = json!({
                        "kind": "PartialObjectMetadata",
                        "apiVersion": "meta.k8s.io/v1",
                        "metadata": o.get("metadata").cloned().unwrap_or(json!({})),
                    })
                }
            }
            row
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta,
        "columnDefinitions": columns,
        "rows": rows,
    })
}

type Column = (&'static str, &'static str, &'static str);

fn columns(rt: &ResourceType) -> Vec<Column> {
    const NAME: Column = ("Name", "string", "name");
    const AGE: Column = ("Age", "string", "");
    let s = |n: &'static str| (n, "string", "");
    let i = |n: &'static str| (n, "integer", "");
    match rt.plural {
        "pods" => vec![NAME, s("Ready"), s("Status"), i("Restarts"), AGE],
        "deployments" => vec![NAME, s("Ready"), i("Up-to-date"), i("Available"), AGE],
        "daemonsets" => vec![
            NAME,
            i("Desired"),
            i("Current"),
            i("Ready"),
            i("Up-to-date"),
            i("Available"),
            AGE,
        ],
        "replicasets" => vec![NAME, i("Desired"), i("Current"), i("Ready"), AGE],
        "namespaces" => vec![NAME, s("Status"), AGE],
        "serviceaccounts" => vec![NAME, i("Secrets"), AGE],
        "nodes" => vec![NAME, s("Status"), s("Roles"), AGE, s("Version")],
        "events" => vec![
            s("Last Seen"),
            s("Type"),
            s("Reason"),
            s("Object"),
            s("Message"),
        ],
        "opentelemetrycollectors" => vec![NAME, s("Mode"), s("Version"), s("Ready"), AGE],
        _ => vec![NAME, AGE],
    }
}

fn cells(rt: &ResourceType, o: &Value, now: SystemTime) -> Vec<Value> {
    let text = |p: &str| {
        o.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let int = |p: &str| o.pointer(p).and_then(Value::as_i64).unwrap_or(0);
    let name = json!(text("/metadata/name"));
    let age_cell = json!(age(&text("/metadata/creationTimestamp"), now));
    match rt.plural {
        "pods" => {
            let statuses = o
                .pointer("/status/containerStatuses")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let total = o
                .pointer("/spec/containers")
                .and_then(Value::as_array)
                .map_or(statuses.len(), Vec::len);
            let ready = statuses.iter().filter(|c| c["ready"] == true).count();
            let restarts: i64 = statuses
                .iter()
                .map(|c| c["restartCount"].as_i64().unwrap_or(0))
                .sum();
            vec![
                name,
                json!(format!("{ready}/{total}")),
                json!(pod_status(o, &statuses)),
                json!(restarts),
                age_cell,
            ]
        }
        "deployments" => vec![
            name,
            json!(format!(
                "{}/{}",
                int("/status/readyReplicas"),
                int("/spec/replicas")
            )),
            json!(int("/status/updatedReplicas")),
            json!(int("/status/availableReplicas")),
            age_cell,
        ],
        "daemonsets" => vec![
            name,
            json!(int("/status/desiredNumberScheduled")),
            json!(int("/status/currentNumberScheduled")),
            json!(int("/status/numberReady")),
            json!(int("/status/updatedNumberScheduled")),
            json!(int("/status/numberAvailable")),
            age_cell,
        ],
        "replicasets" => vec![
            name,
            json!(int("/spec/replicas")),
            json!(int("/status/replicas")),
            json!(int("/status/readyReplicas")),
            age_cell,
        ],
        "namespaces" => vec![name, json!(text("/status/phase")), age_cell],
        "serviceaccounts" => {
            let secrets = o
                .get("secrets")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            vec![name, json!(secrets), age_cell]
        }
        "nodes" => {
            let ready = o
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"))
                .is_some_and(|c| c["status"] == "True");
            vec![
                name,
                json!(if ready { "Ready" } else { "NotReady" }),
                json!("<none>"),
                age_cell,
                json!(text("/status/nodeInfo/kubeletVersion")),
            ]
        }
        "events" => vec![
            json!(age(&text("/lastTimestamp"), now)),
            json!(text("/type")),
            json!(text("/reason")),
            json!(format!(
                "{}/{}",
                text("/involvedObject/kind").to_lowercase(),
                text("/involvedObject/name")
            )),
            json!(text("/message")),
        ],
        "opentelemetrycollectors" => vec![
            name,
            json!(text("/spec/mode")),
            json!(text("/status/version")),
            json!(text("/status/scale/statusReplicas")),
            age_cell,
        ],
        _ => vec![name, age_cell],
    }
}

/// kubectl's STATUS of a pod: a waiting or terminated container's reason wins over the
/// phase; a pod being deleted is `Terminating`.
fn pod_status(o: &Value, statuses: &[Value]) -> String {
    if o.pointer("/metadata/deletionTimestamp").is_some() {
        return "Terminating".to_string();
    }
    for c in statuses {
        if let Some(r) = c.pointer("/state/waiting/reason").and_then(Value::as_str) {
            return r.to_string();
        }
        if let Some(r) = c
            .pointer("/state/terminated/reason")
            .and_then(Value::as_str)
        {
            return r.to_string();
        }
    }
    o.pointer("/status/reason")
        .or_else(|| o.pointer("/status/phase"))
        .and_then(Value::as_str)
        .unwrap_or("Unknown")
        .to_string()
}

/// The apiserver's short age (`45s`, `3m12s`, `7m`, `5h3m`, `20h`, `3d4h`, `40d`), or
/// `<unknown>` without a timestamp.
fn age(timestamp: &str, now: SystemTime) -> String {
    let fmt = time::format_description::well_known::Rfc3339;
    let Ok(t) = time::OffsetDateTime::parse(timestamp, &fmt) else {
        return "<unknown>".to_string();
    };
    let then: SystemTime = t.into();
    human(now.duration_since(then).unwrap_or(Duration::ZERO))
}

fn human(d: Duration) -> String {
    let s = d.as_secs();
    let (m, h, days) = (s / 60, s / 3600, s / 86400);
    if s < 120 {
        format!("{s}s")
    } else if m < 10 {
        format!("{m}m{}s", s % 60)
    } else if h < 3 {
        format!("{m}m")
    } else if h < 8 {
        format!("{h}h{}m", m % 60)
    } else if h < 48 {
        format!("{h}h")
    } else if days < 8 {
        format!("{days}d{}h", h % 24)
    } else if days < 365 * 2 {
        format!("{days}d")
    } else {
        format!("{}y{}d", days / 365, days % 365)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kube::resources::by_plural;

    #[test]
    fn ages_read_like_kubectls() {
        for (secs, want) in [
            (5, "5s"),
            (190, "3m10s"),
            (900, "15m"),
            (5 * 3600 + 120, "5h2m"),
            (20 * 3600, "20h"),
            (3 * 86400 + 7200, "3d2h"),
            (40 * 86400, "40d"),
        ] {
            assert_eq!(human(Duration::from_secs(secs)), want);
        }
    }

    #[test]
    fn pod_rows_show_readiness_and_waiting_reasons() {
        let pod = json!({
            "metadata": { "name": "p", "namespace": "n", "creationTimestamp": "2024-01-01T00:00:00Z" },
            "spec": { "containers": [{ "name": "c" }] },
            "status": { "phase": "Running", "containerStatuses": [{
                "name": "c", "ready": false, "restartCount": 4,
                "state": { "waiting": { "reason": "CrashLoopBackOff" } }
            }] }
        });
        let t = table(
            by_plural("pods").unwrap(),
            &[pod],
            json!({}),
            None,
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_704_067_260),
        );
        assert_eq!(
            t["rows"][0]["cells"],
            json!(["p", "0/1", "CrashLoopBackOff", 4, "60s"])
        );
        assert_eq!(t["rows"][0]["object"]["metadata"]["namespace"], "n");
        assert!(wanted(
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
        ));
        assert!(!wanted("application/json"));
    }
}
