//! `collector.running`: does the collector start and stay up with its config? Starts it
//! through the scenario's runtime (a process, or a container from an image built from
//! the local binary), then watches it for a moment: an exit is quoted with its status and
//! last log lines. (F15)

use std::time::{Duration, Instant};

use aws_credential_types::provider::ProvideCredentials;

use super::{BoxFuture, Check, Link, RunContext};
use crate::collector::{Launch, RunState, collector_args, ensure_prometheus_image, which};
use crate::scenario::{CollectorKind, RuntimeKind, Signing};

pub struct CollectorRunning;

/// How long a fresh collector must stay up to count as running. A bad flag or config
/// makes Prometheus exit within milliseconds.
const SETTLE: Duration = Duration::from_millis(500);

impl Link for CollectorRunning {
    fn name(&self) -> &'static str {
        "collector.running"
    }

    fn depends_on(&self) -> &'static [&'static str] {
        &["collector.config"]
    }

    fn check<'a>(&'a self, ctx: &'a RunContext) -> BoxFuture<'a, Check> {
        Box::pin(async move {
            let Some(col) = ctx.collector.as_ref() else {
                return Check::fail(
                    "this scenario has no collector",
                    "use a scenario with `shape: collector`",
                );
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
                && let Ok(c) = ctx.target.credentials.provide_credentials().await {
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
