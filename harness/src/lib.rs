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
}
