//! pipecheck: an end-to-end conformance harness for metrics pipelines on AWS.
//!
//! A pipeline is a chain of links (credentials, the AMP workspace, remote write, query,
//! ...). A run pushes canary metrics whose values derive from the run id through the
//! real path, checks each link with evidence, and reports the link that broke first.
//! Module map: `ARCHITECTURE.md` beside this crate.

// The layers, bottom up: each directory is one, and a module uses only its own layer
// and those below (`layering.rs` checks it). The modules of `model`, `clients` and
// `session` are re-exported here, so a path names the module (`crate::target`), not
// its layer.
pub mod chain;
pub mod cli;
pub mod clients;
pub mod links;
pub mod model;
pub mod session;

pub use clients::{amp_client, cluster, collector, grafana_client, readback, signing, target};
pub use model::{arn, canary, permissions, scenario, secrets, services, wait};
pub use session::{discover, executor, faults, provision, readiness, run, watch};

#[cfg(test)]
mod layering;

/// An error's message and its causes', outermost first: the one walk of an error chain.
fn error_messages(e: &dyn std::error::Error) -> Vec<String> {
    let mut out = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(c) = cur {
        out.push(c.to_string());
        cur = c.source();
    }
    out
}

/// An error and its causes, one per line: "caused by: …" (evidence, logs).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    error_messages(e).join("\ncaused by: ")
}

/// An error and its causes on one line, `: `-separated, each message's own line breaks
/// folded (the CLI's one line on stderr, a table cell).
pub fn error_line(e: &dyn std::error::Error) -> String {
    error_messages(e)
        .iter()
        .map(|m| m.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join(": ")
}

/// Whether the error (or a cause) is a host name that does not resolve: hyper's resolver
/// says "dns error: failed to lookup address information: …", the OS "Name or service not
/// known" / "nodename nor servname provided".
pub fn is_no_such_host(e: &dyn std::error::Error) -> bool {
    let chain = error_chain(e).to_ascii_lowercase();
    [
        "dns error",
        "failed to lookup address",
        "name or service not known",
        "no such host",
        "nodename nor servname",
    ]
    .iter()
    .any(|w| chain.contains(w))
}

/// The hint for a host name that does not resolve (`what`: the endpoint, named).
pub fn no_such_host_hint(what: &str) -> String {
    format!(
        "{what} does not resolve from here: check its spelling (the region, a workspace id, a custom AWS_ENDPOINT_URL_* variable) and this machine's DNS resolver"
    )
}

#[cfg(test)]
mod error_tests {
    #[derive(Debug, thiserror::Error)]
    #[error("failed to read\n  the file")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn the_chain_on_lines_and_on_one_line() {
        let e = Outer(std::io::Error::other("disk on fire"));
        assert_eq!(
            super::error_chain(&e),
            "failed to read\n  the file\ncaused by: disk on fire"
        );
        assert_eq!(
            super::error_line(&e),
            "failed to read the file: disk on fire"
        );
    }

    #[test]
    fn a_name_that_does_not_resolve_is_told_from_other_failures() {
        // As hyper-util's connector words it (no lookup is made: tests stay on loopback).
        let dns = Outer(std::io::Error::other(
            "client error (Connect): dns error: failed to lookup address information: Name or service not known",
        ));
        assert!(super::is_no_such_host(&dns));
        let refused = Outer(std::io::Error::other(
            "client error (Connect): tcp connect error: Connection refused",
        ));
        assert!(!super::is_no_such_host(&refused));
        assert!(
            super::no_such_host_hint("aps-workspaces.eu-west-9.amazonaws.com")
                .starts_with("aps-workspaces.eu-west-9.amazonaws.com does not resolve")
        );
    }
}
