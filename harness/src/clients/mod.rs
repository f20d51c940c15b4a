//! Layer 3: what talks to the target. The SDK and HTTP clients (`target.rs`), AMP's data
//! plane, Grafana's HTTP API, SigV4 signing, what a read-back must find in what they
//! read, the collector in the loop and the cluster's reads.

pub mod amp_client;
pub mod cluster;
pub mod collector;
pub mod grafana_client;
pub mod readback;
pub mod signing;
pub mod target;
