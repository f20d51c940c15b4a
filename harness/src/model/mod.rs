//! Layer 2, above the core: the scenario model and the helpers every layer above shares
//! (the canary, ARNs, waiting with deadlines, the run's secrets, the AWS services and
//! their IAM actions). No client, no link.

pub mod arn;
pub mod canary;
pub mod permissions;
pub mod scenario;
pub mod secrets;
pub mod services;
pub mod wait;
