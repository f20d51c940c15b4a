//! Strict wire-level mocks of the AWS services pipecheck talks to. Each mock is an axum
//! app speaking the real wire format (rest-json, query/XML, protobuf+snappy, the
//! Prometheus query envelope), verifying SigV4 the way AWS does, and answering with the
//! real status codes and bodies. Nothing here knows about the harness: the harness points
//! the real AWS SDK clients at these endpoints, exactly as a user could.
//!
//! Module map: `ARCHITECTURE.md` beside this crate.

pub mod amg;
pub mod amp;
pub mod clock;
pub mod cluster;
pub mod ec2;
pub mod eks;
pub mod eks_access;
pub mod eks_pod_identity;
pub mod faults;
pub mod grafana;
pub mod iam;
pub mod identity;
pub mod kube;
pub mod query_protocol;
pub mod requests;
pub mod restjson;
pub mod serve;
pub mod sigv4;
pub mod stack;
pub mod sts;
pub mod web_identity;

pub use cluster::{ClusterShape, CollectorShape, Credentials};
pub use eks::ClusterSeed;
pub use faults::{ClusterFault, InjectError, MockFault, Unreachable};
pub use identity::{Identities, Identity};
pub use requests::RequestCounts;
pub use stack::{MockConfig, MockEndpoints, MockStack, StartError};
