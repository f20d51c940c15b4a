//! The fault catalog (shared/spec/fault-catalog.md) as far as the mock target can inject
//! it: each fault has the catalog id, a name, the link the verdict must land on, and how
//! it is injected: into the mock's state, or into the writer (the workload side, which on
//! this slice's direct-push scenario is the harness itself).

use std::time::Duration;

use pipecheck_mocks::MockStack;
use pipecheck_mocks::amp::{AmpFaults, Throttle, WorkspaceStatus};

use crate::amp_client::WriterBehaviour;
use crate::canary::CanaryDefect;

/// What a fault may change for one run.
pub struct FaultEnv<'a> {
    pub mock: &'a MockStack,
    /// The credentials the harness will use (faults may break them).
    pub access_key_id: String,
    pub secret_access_key: String,
    pub writer: WriterBehaviour,
    pub defect: CanaryDefect,
}

impl FaultEnv<'_> {
    fn workspace_id(&self) -> String {
        self.mock
            .endpoints()
            .workspace_id
            .clone()
            .expect("mock runs start with a workspace")
    }

    fn amp_faults(&self, f: impl FnOnce(&mut AmpFaults)) {
        let mut faults = self.mock.amp.faults();
        f(&mut faults);
        self.mock.amp.set_faults(faults);
    }

    fn revoke(&self, action: &str) {
        let key = self.mock.endpoints().user.access_key_id.clone();
        self.mock.identities.update(&key, |id| {
            // The user keeps everything but this one action.
            id.allowed_actions = ALL_ACTIONS
                .iter()
                .filter(|a| **a != action)
                .map(|a| a.to_string())
                .collect();
        });
    }

    fn set_workspace_status(&self, status: WorkspaceStatus) {
        let id = self.workspace_id();
        self.mock.amp.with_workspace(&id, |w| {
            w.status = status;
            w.active_at = None;
        });
    }
}

/// Every IAM action the mock user is allowed by default.
const ALL_ACTIONS: &[&str] = &[
    "sts:GetCallerIdentity",
    "aps:CreateWorkspace",
    "aps:DescribeWorkspace",
    "aps:ListWorkspaces",
    "aps:DeleteWorkspace",
    "aps:TagResource",
    "aps:UntagResource",
    "aps:ListTagsForResource",
    "aps:RemoteWrite",
    "aps:QueryMetrics",
    "aps:GetSeries",
    "aps:GetLabels",
    "aps:GetMetricMetadata",
];

/// How the run must end when this fault is injected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Exit 1, this link the only root cause.
    RootCause(&'static str),
    /// Exit 0, this link passes with a warning.
    Warning(&'static str),
}

pub struct Fault {
    pub id: &'static str,
    pub name: &'static str,
    pub summary: &'static str,
    pub expect: Expect,
    apply: fn(&mut FaultEnv<'_>),
}

impl Fault {
    pub fn link(&self) -> &'static str {
        match self.expect {
            Expect::RootCause(l) | Expect::Warning(l) => l,
        }
    }

    pub fn apply(&self, env: &mut FaultEnv<'_>) {
        (self.apply)(env)
    }
}

impl std::fmt::Debug for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.id, self.name)
    }
}

/// The catalog, in id order; where a row has several forms, the first listed is the one
/// `--fault <id>` picks.
pub const CATALOG: &[Fault] = &[
    Fault {
        id: "F01",
        name: "credentials-expired",
        summary: "the harness's AWS credentials have expired",
        expect: Expect::RootCause("aws.identity"),
        apply: |e| {
            let key = e.access_key_id.clone();
            e.mock.identities.update(&key, |id| id.expired = true);
        },
    },
    Fault {
        id: "F01",
        name: "credentials-unknown",
        summary: "the harness uses an access key AWS does not know",
        expect: Expect::RootCause("aws.identity"),
        apply: |e| e.access_key_id = "AKIAUNKNOWNPIPECHECK".to_string(),
    },
    Fault {
        id: "F02",
        name: "workspace-wrong-region",
        summary: "the workspace exists, but in another region than the one used",
        expect: Expect::RootCause("amp.workspace"),
        apply: |e| {
            let id = e.workspace_id();
            if let Some(mut ws) = e.mock.amp.remove_workspace(&id) {
                ws.region = "eu-west-1".to_string();
                ws.arn = ws
                    .arn
                    .replace(&format!(":{}:", e.mock.endpoints().region), ":eu-west-1:");
                e.mock.amp.insert_workspace(ws);
            }
        },
    },
    Fault {
        id: "F03",
        name: "workspace-creating",
        summary: "the workspace stays CREATING",
        expect: Expect::RootCause("amp.workspace"),
        apply: |e| e.set_workspace_status(WorkspaceStatus::Creating),
    },
    Fault {
        id: "F03",
        name: "workspace-creation-failed",
        summary: "the workspace is CREATION_FAILED",
        expect: Expect::RootCause("amp.workspace"),
        apply: |e| e.set_workspace_status(WorkspaceStatus::CreationFailed),
    },
    Fault {
        id: "F03",
        name: "workspace-deleting",
        summary: "the workspace is DELETING",
        expect: Expect::RootCause("amp.workspace"),
        apply: |e| e.set_workspace_status(WorkspaceStatus::Deleting),
    },
    Fault {
        id: "F04",
        name: "amp-unsigned",
        summary: "the writer sends remote writes without a SigV4 signature",
        expect: Expect::RootCause("amp.remote_write"),
        apply: |e| e.writer.unsigned = true,
    },
    Fault {
        id: "F05",
        name: "remote-write-denied",
        summary: "the writer's identity lacks aps:RemoteWrite",
        expect: Expect::RootCause("amp.remote_write"),
        apply: |e| e.revoke("aps:RemoteWrite"),
    },
    Fault {
        id: "F06",
        name: "signing-region-wrong",
        summary: "the writer signs for another region than the workspace's",
        expect: Expect::RootCause("amp.remote_write"),
        apply: |e| e.writer.signing_region = Some("eu-west-1".to_string()),
    },
    Fault {
        id: "F06",
        name: "clock-skew",
        summary: "the writer's clock is 10 minutes behind",
        expect: Expect::RootCause("amp.remote_write"),
        apply: |e| e.writer.clock_offset_secs = -(Duration::from_secs(600).as_secs() as i64),
    },
    Fault {
        id: "F07",
        name: "throttled",
        summary: "AMP answers every remote write with 429 Rate exceeded",
        expect: Expect::RootCause("amp.remote_write"),
        apply: |e| e.amp_faults(|f| f.throttle_remote_write = Throttle::Always),
    },
    Fault {
        id: "F07",
        name: "throttled-transient",
        summary: "AMP answers the first two remote writes with 429, then accepts",
        expect: Expect::Warning("amp.remote_write"),
        apply: |e| e.amp_faults(|f| f.throttle_remote_write = Throttle::Next(2)),
    },
    Fault {
        id: "F08",
        name: "samples-dropped",
        summary: "AMP answers 200 to remote writes but the samples never become queryable",
        expect: Expect::RootCause("amp.query"),
        apply: |e| e.amp_faults(|f| f.drop_accepted_samples = true),
    },
    Fault {
        id: "F09",
        name: "out-of-order",
        summary: "the writer sends a series' samples out of time order",
        expect: Expect::RootCause("amp.remote_write"),
        apply: |e| e.defect = CanaryDefect::OutOfOrder,
    },
    Fault {
        id: "F09",
        name: "duplicate-sample",
        summary: "the writer sends two values for one timestamp",
        expect: Expect::RootCause("amp.remote_write"),
        apply: |e| e.defect = CanaryDefect::DuplicateTimestamp,
    },
    Fault {
        id: "F09",
        name: "too-many-labels",
        summary: "a series carries more labels than AMP allows (70)",
        expect: Expect::RootCause("amp.remote_write"),
        apply: |e| e.defect = CanaryDefect::TooManyLabels,
    },
    Fault {
        id: "F10",
        name: "query-denied",
        summary: "the querying identity lacks aps:QueryMetrics",
        expect: Expect::RootCause("amp.query"),
        apply: |e| e.revoke("aps:QueryMetrics"),
    },
];

/// A fault by catalog id (its first form) or by name, case-insensitively.
pub fn find(id_or_name: &str) -> Option<&'static Fault> {
    CATALOG
        .iter()
        .find(|f| f.id.eq_ignore_ascii_case(id_or_name))
        .or_else(|| {
            CATALOG
                .iter()
                .find(|f| f.name.eq_ignore_ascii_case(id_or_name))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_pick_the_first_form_and_names_are_unique() {
        assert_eq!(find("F07").unwrap().name, "throttled");
        assert_eq!(find("f04").unwrap().name, "amp-unsigned");
        assert_eq!(find("throttled-transient").unwrap().id, "F07");
        let mut names: Vec<&str> = CATALOG.iter().map(|f| f.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), CATALOG.len());
        assert!(find("F99").is_none());
    }

    #[test]
    fn every_fault_lands_on_a_known_link() {
        for f in CATALOG {
            assert!(crate::links::is_known(f.link()), "{f:?}");
        }
    }
}
