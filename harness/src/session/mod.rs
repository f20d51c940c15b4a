//! Layer 5, above the links: one run of a scenario (`run.rs`: the session, its teardown
//! stack and interrupt), the executor over the links' graph, the fault catalog, what
//! `--provision` makes, discovery, and the commands built on runs (readiness, watch).

pub mod discover;
pub mod executor;
pub mod faults;
pub mod provision;
pub mod readiness;
pub mod run;
pub mod watch;
