//! Hand-made results for the renderer tests: fixed run ids and durations, so snapshots
//! are stable.

use crate::model::{Evidence, LinkResult, Outcome, Property, RunEvent, RunReport, ScenarioReport};
use std::time::Duration;

pub(crate) fn link(name: &str, outcome: Outcome, verdict: &str) -> LinkResult {
    LinkResult {
        name: name.into(),
        outcome,
        verdict: verdict.into(),
        hint: None,
        evidence: vec![],
        duration: Duration::from_millis(10),
        depends_on: vec![],
    }
}

pub(crate) fn scenario(name: &str, links: Vec<LinkResult>, root_cause: &[&str]) -> ScenarioReport {
    ScenarioReport {
        scenario: name.into(),
        target: "mock".into(),
        run_id: "run-0001".into(),
        links,
        root_cause: root_cause.iter().map(|s| s.to_string()).collect(),
        duration: Duration::from_secs(1),
        properties: vec![],
    }
}

fn timed(mut link: LinkResult, millis: u64, deps: &[&str]) -> LinkResult {
    link.duration = Duration::from_millis(millis);
    link.depends_on = deps.iter().map(|s| s.to_string()).collect();
    link
}

/// One passing scenario, and one failing at `amp.remote_write` with blocked dependents
/// and a warning.
pub(crate) fn run() -> RunReport {
    let smoke = ScenarioReport {
        scenario: "smoke".into(),
        target: "mock".into(),
        run_id: "7f3a9c2e".into(),
        links: vec![
            timed(
                link(
                    "aws.identity",
                    Outcome::Pass,
                    "caller is arn:aws:iam::000000000000:user/ci",
                ),
                120,
                &[],
            ),
            timed(
                link("amp.workspace", Outcome::Pass, "workspace ws-1 is ACTIVE"),
                80,
                &["aws.identity"],
            ),
            timed(
                link(
                    "amp.remote_write",
                    Outcome::Pass,
                    "wrote 3 canary samples (200)",
                ),
                45,
                &["amp.workspace"],
            ),
            timed(
                link(
                    "amp.query",
                    Outcome::Pass,
                    "canary arrived after 1.20s with the expected values",
                ),
                1250,
                &["amp.remote_write"],
            ),
        ],
        root_cause: vec![],
        duration: Duration::from_millis(1495),
        properties: vec![Property::ArrivalLatency(Duration::from_millis(1200))],
    };

    let mut remote_write = timed(
        link(
            "amp.remote_write",
            Outcome::Fail,
            "remote write rejected: 403 AccessDeniedException",
        ),
        60,
        &["amp.workspace", "iam.role_permissions"],
    );
    remote_write.hint = Some(
        "give the collector's role aps:RemoteWrite on the workspace\n(see policies/remote-write.json)".into(),
    );
    remote_write.evidence = vec![
        Evidence::new(
            "request",
            "POST /workspaces/ws-1/api/v1/remote_write (3 series, 1 sample each)",
        ),
        Evidence::new(
            "response",
            "403 Forbidden\n{\n  \"message\": \"User: arn:aws:sts::000000000000:assumed-role/collector/x is not authorized to perform: aps:RemoteWrite\"\n}",
        ),
        Evidence::new("role", "arn:aws:iam::000000000000:role/collector"),
    ];

    let mut datasource = timed(
        link(
            "grafana.datasource",
            Outcome::Warn,
            "data source uses a default region that differs from the workspace's (us-west-2 vs us-east-1)",
        ),
        30,
        &["grafana.api"],
    );
    datasource.hint = Some("set jsonData.sigV4Region to us-east-1".into());
    datasource.evidence = vec![Evidence::new(
        "data source",
        "uid amp-1, type prometheus, sigV4Auth true",
    )];

    let adot = ScenarioReport {
        scenario: "adot-eks".into(),
        target: "mock".into(),
        run_id: "7f3a9c2e".into(),
        links: vec![
            timed(
                link(
                    "aws.identity",
                    Outcome::Pass,
                    "caller is arn:aws:iam::000000000000:user/ci",
                ),
                110,
                &[],
            ),
            timed(
                link("amp.workspace", Outcome::Pass, "workspace ws-1 is ACTIVE"),
                70,
                &["aws.identity"],
            ),
            remote_write,
            timed(
                link(
                    "amp.query",
                    Outcome::Blocked {
                        by: "amp.remote_write".into(),
                    },
                    "",
                ),
                0,
                &["amp.remote_write"],
            ),
            timed(
                link(
                    "grafana.api",
                    Outcome::Pass,
                    "Grafana 10.4 answers; token has Admin",
                ),
                90,
                &[],
            ),
            datasource,
            timed(
                link(
                    "grafana.query",
                    Outcome::Blocked {
                        by: "amp.remote_write".into(),
                    },
                    "",
                ),
                0,
                &["grafana.datasource", "amp.query"],
            ),
        ],
        root_cause: vec!["amp.remote_write".into()],
        duration: Duration::from_millis(360),
        properties: vec![],
    };

    RunReport {
        suites: vec![smoke, adot],
    }
}

/// The events an executor would emit for [`run`].
pub(crate) fn events() -> Vec<RunEvent> {
    let mut events = vec![];
    for suite in run().suites {
        events.push(RunEvent::ScenarioStarted {
            scenario: suite.scenario.clone(),
            target: suite.target.clone(),
            run_id: suite.run_id.clone(),
            links: suite.links.len(),
            link_names: suite.links.iter().map(|l| l.name.clone()).collect(),
        });
        for link in &suite.links {
            events.push(RunEvent::LinkStarted {
                scenario: suite.scenario.clone(),
                link: link.name.clone(),
            });
            events.push(RunEvent::LinkFinished {
                scenario: suite.scenario.clone(),
                result: link.clone(),
            });
        }
        events.push(RunEvent::ScenarioFinished(suite));
    }
    events
}
