//! What the links of one run share: the target's clients, the canary, deadlines, and the
//! facts earlier links established (a link reads only facts of links it depends on).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::amp_client::{AmpDataClient, WriterBehaviour};
use crate::canary::Canary;
use crate::target::Target;

#[derive(Clone, Copy, Debug)]
pub struct Deadlines {
    pub arrival: Duration,
    pub workspace: Duration,
    pub request: Duration,
}

#[derive(Debug, Default)]
pub struct Facts {
    /// `aws.identity`: the caller's ARN.
    pub caller_arn: Option<String>,
    /// `amp.workspace`: the workspace's id, ARN and data-plane client.
    pub workspace_id: Option<String>,
    pub workspace_arn: Option<String>,
    pub data: Option<AmpDataClient>,
    /// `amp.remote_write`: when the canary was accepted.
    pub written_at: Option<Instant>,
    /// `amp.query`: how long the canary took to become queryable.
    pub arrival: Option<Duration>,
}

pub struct RunContext {
    pub run_id: String,
    pub target: Target,
    pub canary: Canary,
    pub writer: WriterBehaviour,
    pub deadlines: Deadlines,
    pub facts: Mutex<Facts>,
}

impl RunContext {
    pub fn facts(&self) -> std::sync::MutexGuard<'_, Facts> {
        self.facts
            .lock()
            .expect("facts lock is never poisoned: links do not panic while holding it")
    }

    /// The data-plane client `amp.workspace` set up.
    pub fn data_client(&self) -> Option<AmpDataClient> {
        self.facts().data.clone()
    }
}
