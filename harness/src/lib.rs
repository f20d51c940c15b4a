//! pipecheck: an end-to-end conformance harness for metrics pipelines on AWS.
//!
//! A pipeline is a chain of links (credentials, the AMP workspace, remote write, query,
//! ...). A run pushes canary metrics whose values derive from the run id through the
//! real path, checks each link with evidence, and reports the link that broke first.
//! Module map: `ARCHITECTURE.md` beside this crate.

pub mod amp_client;
pub mod arn;
pub mod canary;
pub mod chain;
pub mod cleanup;
pub mod cli;
pub mod cli_docs;
pub mod cluster;
pub mod collector;
pub mod discover;
pub mod executor;
pub mod faults;
pub mod grafana_client;
pub mod links;
pub mod permissions;
pub mod provision;
pub mod readback;
pub mod readiness;
pub mod run;
pub mod scenario;
pub mod secrets;
pub mod services;
pub mod signing;
pub mod target;
pub mod wait;
pub mod watch;

#[cfg(test)]
mod layering;

/// An error and its causes, one per line: "caused by: …".
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str("\ncaused by: ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
