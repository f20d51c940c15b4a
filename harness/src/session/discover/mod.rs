//! `pipecheck discover`: every collector that writes to AMP from an EKS cluster, found
//! without a scenario. `mod.rs` only re-exports.
//!
//! | module | what it owns |
//! |---|---|
//! | `amp_url.rs` | an AMP remote-write URL's workspace and region (AWS hosts, or a known endpoint override) |
//! | `found.rs` | the model: `Found` (kind, namespace, name, `Identity`, workspaces, config source), `NotListed`, `Discovery` |
//! | `recognise.rs` | collectors recognised in objects (JSON), no API: OpenTelemetryCollector, Prometheus resource, workloads with their ConfigMaps |
//! | `kube.rs` | the Kubernetes reads: bounded lists in all namespaces, ConfigMaps, service accounts; never Secrets |
//! | `aws.rs` | EKS DescribeCluster, Pod Identity associations, AMP ListScrapers; each failure a `NotListed` line |
//! | `find.rs` | one discovery: both sides at once, then each collector's identity |
//! | `scenarios.rs` | `--write-scenarios` files and `run`'s completion of a scenario naming no collector |
//! | `render.rs` | text table and JSON document |
//! | `mock.rs` | the mock cluster holding every shape the mock supports |
//! | `command.rs` | the subcommand: target set-up, discovery, scenario files (no printing) |

mod amp_url;
mod aws;
mod command;
mod find;
mod found;
mod kube;
mod mock;
mod recognise;
mod render;
mod scenarios;

pub use amp_url::{KnownEndpoints, RemoteWrite};
pub use command::{DiscoverError, DiscoverOptions, REQUEST_DEADLINE, Report, run};
pub use find::{FindError, Settings, discover};
pub use found::{
    ClusterInfo, Discovery, Found, IRSA, Identity, Kind, NODE_ROLE, NotListed, POD_IDENTITY,
    PodIdentity, SCRAPER_ROLE,
};
pub use mock::{DAEMONSET, start_all_shapes};
pub use render::{json, mechanism_label, text};
pub use scenarios::{Written, resolve, scenario_text, write_all};
