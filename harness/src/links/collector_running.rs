//! `collector.running`: does the collector start and stay up with its config? Starts it
//! through the scenario's runtime (a process, or a container from an image built from
//! the local binary), then watches it for a moment: an exit is quoted with its status and
//! last log lines. (F15) In a cluster (shape `cluster`) nothing is started: the collector's
//! pods are read (ready, restarts, waiting reasons such as CrashLoopBackOff, the last log
//! lines through pods/log, Warning events).

use std::time::{Duration, Instant};

use aws_credential_types::provider::ProvideCredentials;

use super::{BoxFuture, Check, Link, RunContext};
use crate::collector::{Launch, RunState, collector_args, ensure_prometheus_image, which};
use crate::scenario::{CollectorKind, RuntimeKind, Signing};

pub struct CollectorRunning {
    /// The collector runs in the cluster: read its pods (shape `cluster`).
    pub in_cluster: bool,
}

/// How long a fresh collector must stay up to count as running. A bad flag or config
/// makes Prometheus exit within milliseconds.
const SETTLE: Duration = Duration::from_millis(500);

impl Link for CollectorRunning {
    fn check<'a>(&'a self, ctx: &'a RunContext) -> BoxFuture<'a, Check> {
        Box::pin(async move {
            if self.in_cluster {
                return in_cluster(ctx).await;
            }
            let col = match ctx.local_collector() {
                Ok(c) => c,
                Err(check) => return check,
            };
            if col.spec.kind == CollectorKind::Otelcol
                && col.spec.binary.is_none()
                && col.spec.image.is_none()
            {
                return Check::fail(
                    "no OpenTelemetry collector to run: set collector.binary or collector.image",
                    "point the scenario at an otelcol/ADOT binary or image; pipecheck renders its config",
                );
            }
            let binary_name = col
                .spec
                .binary
                .clone()
                .unwrap_or_else(|| "prometheus".to_string());
            let dir = col.workdir.path();
            let mut args = collector_args(col.spec.kind, dir, col.web_port);
            args.extend(col.faults.extra_args.iter().cloned());
            // The collector signs with the run's credentials, from its environment (never
            // in the config file).
            let mut env = Vec::new();
            if col.spec.signing == Signing::Collector
                && let Ok(c) = ctx.target.credentials.provide_credentials().await
            {
                env.push((
                    "AWS_ACCESS_KEY_ID".to_string(),
                    c.access_key_id().to_string(),
                ));
                env.push((
                    "AWS_SECRET_ACCESS_KEY".to_string(),
                    c.secret_access_key().to_string(),
                ));
                if let Some(t) = c.session_token() {
                    env.push(("AWS_SESSION_TOKEN".to_string(), t.to_string()));
                }
                env.push(("AWS_REGION".to_string(), ctx.target.region.clone()));
            }
            let program = match col.spec.runtime {
                RuntimeKind::Process => match which(&binary_name) {
                    Some(p) => p.to_string_lossy().into_owned(),
                    None => {
                        return Check::fail(
                            format!("the collector binary {binary_name:?} was not found"),
                            "install it (Debian: apt-get install prometheus) or set collector.binary in the scenario",
                        );
                    }
                },
                RuntimeKind::Container => match &col.spec.image {
                    Some(image) => image.clone(),
                    None => {
                        let Some(binary) = which(&binary_name) else {
                            return Check::fail(
                                format!(
                                    "no image given and the binary {binary_name:?} to build one from was not found"
                                ),
                                "set collector.image, or install prometheus so pipecheck can build an image from it",
                            );
                        };
                        match ensure_prometheus_image(&binary).await {
                            Ok(tag) => tag,
                            Err(e) => {
                                return Check::fail(
                                    "could not build the collector image",
                                    "the container runtime needs a running Docker engine (dockerd) and the docker CLI",
                                )
                                .with("error", crate::error_chain(&e));
                            }
                        }
                    }
                },
            };
            let launch = Launch {
                program: program.clone(),
                args: args.clone(),
                env,
                workdir: dir.to_path_buf(),
            };
            let mut rt = col.runtime.lock().await;
            if let Err(e) = rt.start(&launch).await {
                let hint = match col.spec.runtime {
                    RuntimeKind::Process => "check that the binary can be executed",
                    RuntimeKind::Container => {
                        "the container runtime needs a running Docker engine (dockerd); is the image present?"
                    }
                };
                return Check::fail(
                    format!("the collector could not be started ({})", rt.kind()),
                    hint,
                )
                .with("error", crate::error_chain(&e));
            }
            let started = Instant::now();
            let mut state = rt.state().await;
            while state == RunState::Running && started.elapsed() < SETTLE {
                tokio::time::sleep(Duration::from_millis(100)).await;
                state = rt.state().await;
            }
            let command = format!("{program} {}", args.join(" "));
            match state {
                RunState::Running => Check::pass(format!("the collector runs: {}", rt.describe()))
                    .with("command", command),
                RunState::Exited(code) => {
                    let code = code
                        .map(|c| c.to_string())
                        .unwrap_or_else(|| "unknown".into());
                    let tail = rt.logs().tail(15);
                    let reason = tail
                        .iter()
                        .rev()
                        .find(|l| !l.trim().is_empty())
                        .cloned()
                        .unwrap_or_default();
                    Check::fail(
                        format!("the collector exited with status {code} after {:.1}s: {}", started.elapsed().as_secs_f64(), crate::amp_client::truncate(reason.trim(), 160)),
                        "the collector stops at start-up: its last log lines say why (a bad flag: fix the command line; a bad config: `promtool check config`)",
                    )
                    .with("command", command)
                    .with("last log lines", tail.join("\n"))
                }
                RunState::NotStarted => {
                    Check::fail("the collector did not start", "see the evidence")
                        .with("command", command)
                }
            }
        })
    }
}

/// F48: a `Prometheus` resource the operator made no StatefulSet for. Its status says why
/// when the operator tried (`Reconciled` False with its message); no status at all means
/// no operator reconciles it (none runs, or it watches other namespaces).
pub fn not_reconciled(ns: &str, name: &str, resource: &serde_json::Value) -> Check {
    use serde_json::Value;
    let conditions: Vec<String> = resource
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|c| c["status"].as_str() != Some("True"))
        .map(|c| {
            format!(
                "{} {}: {} {}",
                c["type"].as_str().unwrap_or("?"),
                c["status"].as_str().unwrap_or("?"),
                c["reason"].as_str().unwrap_or_default(),
                c["message"].as_str().unwrap_or_default()
            )
            .trim_end()
            .to_string()
        })
        .collect();
    let set = format!("prometheus-{name}");
    let why = if conditions.is_empty() && resource.get("status").is_none_or(Value::is_null) {
        "the resource has no status: no Prometheus operator reconciles it (none runs, or it watches other namespaces)".to_string()
    } else if conditions.is_empty() {
        "its status reports nothing wrong".to_string()
    } else {
        format!("the operator reports {}", conditions.join("; "))
    };
    Check::fail(
        format!("no pod of Prometheus {ns}/{name} runs: the operator made no StatefulSet {ns}/{set}; {why}"),
        format!(
            "check that the Prometheus operator runs (kube-prometheus-stack: deployment <release>-kube-prometheus-operator) and watches namespace {ns} (prometheusOperator.namespaces), and its log for {ns}/{name}; kubectl -n {ns} describe prometheus {name}"
        ),
    )
    .with(
        "status (Prometheus resource)",
        resource
            .get("status")
            .map(|s| serde_json::to_string_pretty(s).unwrap_or_default())
            .unwrap_or_else(|| "(none)".to_string()),
    )
}

/// How many log lines a verdict quotes as evidence.
const LOG_LINES: i64 = 15;

/// The collector's pods in the cluster: all Ready, and why not.
async fn in_cluster(ctx: &RunContext) -> Check {
    use crate::cluster::{
        container_summary, find_workload, last_log_lines, pod_ready, warning_events,
    };

    let (Some(spec), Some(kube)) = (ctx.cluster.as_ref(), ctx.target.kube.as_ref()) else {
        return Check::fail(
            "this scenario has no cluster",
            "use a scenario with `shape: cluster`",
        );
    };
    let client = &kube.client;
    let ns = spec.namespace.as_str();
    let w = match find_workload(client, spec).await {
        Ok(w) => w,
        Err(c) => return c,
    };
    let controller = w
        .controller
        .as_ref()
        .map(|(c, ready, want)| format!("{c}: {ready}/{want} ready"))
        .unwrap_or_else(|| "no controller found".to_string());
    let summary: Vec<String> = w.pods.iter().flat_map(container_summary).collect();
    let pods_text = format!(
        "{}\n{controller}\n{}",
        w.description,
        if summary.is_empty() {
            "no pods".to_string()
        } else {
            summary.join("\n")
        }
    );
    if w.pods.is_empty()
        && w.controller.is_none()
        && spec.kind == crate::scenario::ClusterCollector::PrometheusOperator
    {
        let resource = w.resource.clone().unwrap_or_default();
        return not_reconciled(ns, &spec.collector, &resource).with("pods", pods_text);
    }
    if w.pods.is_empty() {
        let name = w
            .controller
            .as_ref()
            .and_then(|(c, _, _)| c.rsplit('/').next().map(str::to_string))
            .unwrap_or_else(|| spec.collector.clone());
        let events = warning_events(client, ns, &name).await;
        let mut c = Check::fail(
            format!("no pod of the collector is running ({controller})"),
            format!(
                "see why no pod is created or scheduled: kubectl -n {ns} describe {}",
                w.controller
                    .as_ref()
                    .map(|(c, _, _)| c
                        .split_whitespace()
                        .next()
                        .unwrap_or("deployment")
                        .to_lowercase())
                    .unwrap_or_else(|| "deployment".into())
                    + " "
                    + &name
            ),
        )
        .with("pods", pods_text);
        if !events.is_empty() {
            c = c.with("events", events.join("\n"));
        }
        return c;
    }
    let not_ready: Vec<&k8s_openapi::api::core::v1::Pod> =
        w.pods.iter().filter(|p| !pod_ready(p)).collect();
    if let Some(pod) = not_ready.first() {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let (container, reason, _) = crate::cluster::waiting(pod)
            .unwrap_or_else(|| (w.container.clone(), String::new(), None));
        let restarts = crate::cluster::restarts(pod, &container);
        // A crash-looping container's reason is in its previous instance's log.
        let previous = restarts > 0;
        let logs = match last_log_lines(client, ns, &name, &container, previous, LOG_LINES).await {
            Ok(l) => l,
            Err(_) if previous => last_log_lines(client, ns, &name, &container, false, LOG_LINES)
                .await
                .unwrap_or_default(),
            Err(f) => vec![format!("(logs not readable: {})", f.line())],
        };
        // The first error line is usually the cause; later ones summarise it.
        let last = logs
            .iter()
            .find(|l| {
                let l = l.to_ascii_lowercase();
                l.contains("error") || l.contains("fail") || l.contains("denied")
            })
            .or_else(|| logs.last())
            .cloned()
            .unwrap_or_default();
        let phase = pod
            .status
            .as_ref()
            .and_then(|s| s.phase.clone())
            .unwrap_or_else(|| "Unknown".into());
        let state = if reason.is_empty() {
            format!("{phase}, not ready")
        } else {
            reason.clone()
        };
        let mut verdict = format!("collector pod {name} is {state}");
        if restarts > 0 {
            verdict.push_str(&format!(" after {restarts} restarts"));
        }
        if !last.is_empty() {
            verdict.push_str(&format!(
                ": {}",
                crate::amp_client::truncate(last.trim(), 200)
            ));
        }
        let hint = match reason.as_str() {
            "CrashLoopBackOff" | "Error" => {
                "the collector exits at start: its last log lines say why (a config it cannot load, a component its image lacks, no AWS credentials)"
            }
            "ImagePullBackOff" | "ErrImagePull" => {
                "the image cannot be pulled: check its name and tag, and the nodes' access to the registry"
            }
            "CreateContainerConfigError" => "a ConfigMap or Secret the pod references is missing",
            _ => "describe the pod for its events: kubectl -n <namespace> describe pod <name>",
        };
        let events = warning_events(client, ns, &name).await;
        let mut c = Check::fail(verdict, hint).with("pods", pods_text).with(
            if previous {
                "last log lines (previous instance)"
            } else {
                "last log lines"
            },
            logs.join("\n"),
        );
        if !events.is_empty() {
            c = c.with("events", events.join("\n"));
        }
        return c;
    }
    let restarted: Vec<(String, i32)> = w
        .pods
        .iter()
        .map(|p| {
            (
                p.metadata.name.clone().unwrap_or_default(),
                crate::cluster::restarts(p, &w.container),
            )
        })
        .filter(|(_, r)| *r > 0)
        .collect();
    let n = w.pods.len();
    if let Some((pod, r)) = restarted.first() {
        let logs = last_log_lines(client, ns, pod, &w.container, true, LOG_LINES)
            .await
            .unwrap_or_default();
        return Check::warn(
            format!("{n}/{n} collector pods are ready, but {pod} restarted {r} times"),
            "a collector that restarts loses what it buffered: see the previous instance's log lines",
        )
        .with("pods", pods_text)
        .with("last log lines (previous instance)", logs.join("\n"));
    }
    if let Some((c, ready, want)) = &w.controller
        && ready < want
    {
        return Check::warn(
            format!("{n} collector pods are ready, but {c} has {ready}/{want} ready"),
            "some replicas are not up: describe the controller",
        )
        .with("pods", pods_text);
    }
    let logs = last_log_lines(
        client,
        ns,
        w.pods[0].metadata.name.as_deref().unwrap_or_default(),
        &w.container,
        false,
        5,
    )
    .await
    .unwrap_or_default();
    Check::pass(format!(
        "{n}/{n} collector pods are ready, none restarted ({controller})"
    ))
    .with("pods", pods_text)
    .with("last log lines", logs.join("\n"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::links::Status;

    #[test]
    fn an_unreconciled_prometheus_says_whether_an_operator_saw_it() {
        let c = not_reconciled("monitoring", "kps", &json!({ "spec": {} }));
        assert_eq!(c.status, Status::Fail);
        assert!(
            c.verdict
                .contains("made no StatefulSet monitoring/prometheus-kps"),
            "{}",
            c.verdict
        );
        assert!(
            c.verdict.contains("no Prometheus operator reconciles it"),
            "{}",
            c.verdict
        );
        let failed = json!({ "status": { "conditions": [
            { "type": "Available", "status": "False", "reason": "NoPodReady" },
            { "type": "Reconciled", "status": "False", "reason": "ReconciliationFailed",
              "message": "failed to generate configuration: invalid remote write" },
            { "type": "Paused", "status": "True" },
        ] } });
        let c = not_reconciled("monitoring", "kps", &failed);
        assert!(
            c.verdict.contains("Reconciled False: ReconciliationFailed failed to generate configuration: invalid remote write"),
            "{}",
            c.verdict
        );
        assert!(!c.verdict.contains("Paused"), "{}", c.verdict);
    }
}
