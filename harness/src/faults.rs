//! The fault catalog (shared/spec/fault-catalog.md) as far as the mock target can inject
//! it: each fault has the catalog id, a name, the link the verdict must land on, and how
//! it is injected: into the mock's state, or into the writer (the workload side, which on
//! this slice's direct-push scenario is the harness itself).

use std::time::Duration;

use pipecheck_mocks::MockStack;
use pipecheck_mocks::amp::{AmpFaults, Throttle, WorkspaceStatus};

use crate::amp_client::WriterBehaviour;
use crate::canary::CanaryDefect;
use crate::links::CollectorFaults;
use crate::scenario::Shape;

/// What a fault may change for one run.
pub struct FaultEnv<'a> {
    pub mock: &'a MockStack,
    /// The credentials the harness will use (faults may break them).
    pub access_key_id: String,
    pub secret_access_key: String,
    pub writer: WriterBehaviour,
    pub defect: CanaryDefect,
    pub collector: CollectorFaults,
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
    /// How a run of a direct-push scenario ends with it (None: it does not apply).
    pub direct: Option<Expect>,
    /// How a run of a collector scenario ends with it (None: it does not apply).
    pub collector: Option<Expect>,
    apply: fn(&mut FaultEnv<'_>),
}

impl Expect {
    pub fn link(self) -> &'static str {
        match self {
            Expect::RootCause(l) | Expect::Warning(l) => l,
        }
    }
}

impl Fault {
    pub fn expect(&self, shape: Shape) -> Option<Expect> {
        match shape {
            Shape::Direct => self.direct,
            Shape::Collector => self.collector,
        }
    }

    /// The links the verdict lands on, per shape, for listings: `amp.remote_write`, or
    /// `collector.running (collector)`.
    pub fn links(&self) -> String {
        match (self.direct, self.collector) {
            (Some(d), Some(c)) if d.link() == c.link() => d.link().to_string(),
            (Some(d), Some(c)) => format!("{} / {} (collector)", d.link(), c.link()),
            (Some(d), None) => d.link().to_string(),
            (None, Some(c)) => format!("{} (collector)", c.link()),
            (None, None) => String::new(),
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
        direct: Some(Expect::RootCause("aws.identity")),
        collector: Some(Expect::RootCause("aws.identity")),
        apply: |e| {
            let key = e.access_key_id.clone();
            e.mock.identities.update(&key, |id| id.expired = true);
        },
    },
    Fault {
        id: "F01",
        name: "credentials-unknown",
        summary: "the harness uses an access key AWS does not know",
        direct: Some(Expect::RootCause("aws.identity")),
        collector: Some(Expect::RootCause("aws.identity")),
        apply: |e| e.access_key_id = "AKIAUNKNOWNPIPECHECK".to_string(),
    },
    Fault {
        id: "F02",
        name: "workspace-wrong-region",
        summary: "the workspace exists, but in another region than the one used",
        direct: Some(Expect::RootCause("amp.workspace")),
        collector: Some(Expect::RootCause("amp.workspace")),
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
        direct: Some(Expect::RootCause("amp.workspace")),
        collector: Some(Expect::RootCause("amp.workspace")),
        apply: |e| e.set_workspace_status(WorkspaceStatus::Creating),
    },
    Fault {
        id: "F03",
        name: "workspace-creation-failed",
        summary: "the workspace is CREATION_FAILED",
        direct: Some(Expect::RootCause("amp.workspace")),
        collector: Some(Expect::RootCause("amp.workspace")),
        apply: |e| e.set_workspace_status(WorkspaceStatus::CreationFailed),
    },
    Fault {
        id: "F03",
        name: "workspace-deleting",
        summary: "the workspace is DELETING",
        direct: Some(Expect::RootCause("amp.workspace")),
        collector: Some(Expect::RootCause("amp.workspace")),
        apply: |e| e.set_workspace_status(WorkspaceStatus::Deleting),
    },
    Fault {
        id: "F04",
        name: "amp-unsigned",
        summary: "the writer sends remote writes without a SigV4 signature",
        direct: Some(Expect::RootCause("amp.remote_write")),
        collector: None,
        apply: |e| e.writer.unsigned = true,
    },
    Fault {
        id: "F05",
        name: "remote-write-denied",
        summary: "the writer's identity lacks aps:RemoteWrite",
        direct: Some(Expect::RootCause("amp.remote_write")),
        collector: Some(Expect::RootCause("amp.remote_write")),
        apply: |e| e.revoke("aps:RemoteWrite"),
    },
    Fault {
        id: "F06",
        name: "signing-region-wrong",
        summary: "the writer signs for another region than the workspace's",
        direct: Some(Expect::RootCause("amp.remote_write")),
        collector: None,
        apply: |e| e.writer.signing_region = Some("eu-west-1".to_string()),
    },
    Fault {
        id: "F06",
        name: "clock-skew",
        summary: "the writer's clock is 10 minutes behind",
        direct: Some(Expect::RootCause("amp.remote_write")),
        collector: None,
        apply: |e| e.writer.clock_offset_secs = -(Duration::from_secs(600).as_secs() as i64),
    },
    Fault {
        id: "F07",
        name: "throttled",
        summary: "AMP answers every remote write with 429 Rate exceeded",
        direct: Some(Expect::RootCause("amp.remote_write")),
        collector: Some(Expect::RootCause("amp.remote_write")),
        apply: |e| e.amp_faults(|f| f.throttle_remote_write = Throttle::Always),
    },
    Fault {
        id: "F07",
        name: "throttled-transient",
        summary: "AMP answers the first two remote writes with 429, then accepts",
        direct: Some(Expect::Warning("amp.remote_write")),
        collector: Some(Expect::Warning("amp.remote_write")),
        apply: |e| e.amp_faults(|f| f.throttle_remote_write = Throttle::Next(2)),
    },
    Fault {
        id: "F08",
        name: "samples-dropped",
        summary: "AMP answers 200 to remote writes but the samples never become queryable",
        direct: Some(Expect::RootCause("amp.query")),
        collector: Some(Expect::RootCause("amp.query")),
        apply: |e| e.amp_faults(|f| f.drop_accepted_samples = true),
    },
    Fault {
        id: "F09",
        name: "out-of-order",
        summary: "the writer sends a series' samples out of time order",
        direct: Some(Expect::RootCause("amp.remote_write")),
        collector: None,
        apply: |e| e.defect = CanaryDefect::OutOfOrder,
    },
    Fault {
        id: "F09",
        name: "duplicate-sample",
        summary: "the writer sends two values for one timestamp",
        direct: Some(Expect::RootCause("amp.remote_write")),
        collector: None,
        apply: |e| e.defect = CanaryDefect::DuplicateTimestamp,
    },
    Fault {
        id: "F09",
        name: "too-many-labels",
        summary: "a series carries more labels than AMP allows (70)",
        direct: Some(Expect::RootCause("amp.remote_write")),
        collector: None,
        apply: |e| e.defect = CanaryDefect::TooManyLabels,
    },
    Fault {
        id: "F10",
        name: "query-denied",
        summary: "the querying identity lacks aps:QueryMetrics",
        direct: Some(Expect::RootCause("amp.query")),
        collector: Some(Expect::RootCause("amp.query")),
        apply: |e| e.revoke("aps:QueryMetrics"),
    },
    Fault {
        id: "F15",
        name: "collector-bad-flag",
        summary: "the collector is started with a flag it does not know, and exits",
        direct: None,
        collector: Some(Expect::RootCause("collector.running")),
        apply: |e| e.collector.extra_args.push("--no-such-flag".to_string()),
    },
    Fault {
        id: "F16",
        name: "collector-other-workspace",
        summary: "the collector's remote-write URL names another workspace",
        direct: None,
        collector: Some(Expect::RootCause("collector.config")),
        apply: |e| e.collector.other_workspace = true,
    },
    Fault {
        id: "F17",
        name: "canary-wrong-port",
        summary: "the collector scrapes a port where the canary is not served",
        direct: None,
        collector: Some(Expect::RootCause("canary.scraped")),
        apply: |e| e.collector.wrong_scrape_port = true,
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
    fn every_fault_lands_on_a_known_link_of_some_shape() {
        for f in CATALOG {
            let expects: Vec<Expect> = [f.direct, f.collector].into_iter().flatten().collect();
            assert!(!expects.is_empty(), "{f:?} applies to no shape");
            for e in expects {
                assert!(crate::links::is_known(e.link()), "{f:?}");
            }
        }
    }
}
