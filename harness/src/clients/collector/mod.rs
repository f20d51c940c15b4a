//! The collector in the loop: a real Prometheus (or OpenTelemetry collector) started by a
//! runtime, scraping pipecheck's canary exporter and remote-writing to AMP, directly or
//! through pipecheck's SigV4 proxy; and what the harness observes of its writes.

mod config;
mod evidence;
mod exporter;
mod image;
mod observe;
mod proxy;
mod runtime;

pub use config::{CollectorConfig, ConfigError, RemoteWrite, render_otel_config};
pub use evidence::{as_exchange, is_authentication_refusal, write_evidence};
pub use exporter::Exporter;
pub use image::{ImageError, ensure_prometheus_image, which};
pub use observe::{ExporterDrops, WriteObservation, WriteRefusal, exporter_drops, observe_writes};
pub use proxy::{ProxyStats, SigningProxy};
pub use runtime::{
    ContainerRuntime, Launch, LogRing, ProcessRuntime, RunState, Runtime, RuntimeError,
    collector_args, config_file,
};
