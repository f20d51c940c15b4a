//! Links: one step of the pipeline each, with one question. A link is one file exporting
//! one struct that implements [`Link`]; its check returns a value ([`Check`]), never an
//! error: a broken pipeline is a result, not a failure of the harness.

mod amp_query;
mod amp_remote_write;
mod amp_workspace;
mod aws_identity;
mod canary_scraped;
mod collector_config;
mod collector_running;
mod collector_signing;
mod context;
mod diagnosis;
mod pipeline_delivery;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::scenario::Shape;

pub use context::{CollectorFaults, CollectorRun, Deadlines, Facts, RunContext};
pub use diagnosis::{Diagnosis, diagnose_amp};
pub use pipecheck_reports::Evidence;

/// Every link this build knows, in chain order (also the report's order): every link
/// comes after the links it depends on, in every shape.
pub const ALL: &[&str] = &[
    "aws.identity",
    "amp.workspace",
    "collector.config",
    "collector.running",
    "canary.scraped",
    "collector.signing",
    "amp.remote_write",
    "amp.query",
    "pipeline.delivery",
];

pub fn is_known(name: &str) -> bool {
    ALL.contains(&name)
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Pass,
    Warn,
    Fail,
}

/// What a link found: status, a one-line verdict, a hint (how to fix) and evidence.
#[derive(Clone, Debug)]
pub struct Check {
    pub status: Status,
    pub verdict: String,
    pub hint: Option<String>,
    pub evidence: Vec<Evidence>,
}

impl Check {
    pub fn pass(verdict: impl Into<String>) -> Self {
        Self {
            status: Status::Pass,
            verdict: verdict.into(),
            hint: None,
            evidence: vec![],
        }
    }

    pub fn warn(verdict: impl Into<String>, hint: impl Into<String>) -> Self {
        Self {
            status: Status::Warn,
            verdict: verdict.into(),
            hint: Some(hint.into()),
            evidence: vec![],
        }
    }

    pub fn fail(verdict: impl Into<String>, hint: impl Into<String>) -> Self {
        Self {
            status: Status::Fail,
            verdict: verdict.into(),
            hint: Some(hint.into()),
            evidence: vec![],
        }
    }

    pub fn from_diagnosis(status: Status, d: Diagnosis) -> Self {
        Self {
            status,
            verdict: d.verdict,
            hint: Some(d.hint),
            evidence: vec![],
        }
    }

    pub fn with(mut self, label: impl Into<String>, body: impl Into<String>) -> Self {
        self.evidence.push(Evidence {
            label: label.into(),
            body: body.into(),
        });
        self
    }
}

pub trait Link: Send + Sync {
    fn name(&self) -> &'static str;
    fn depends_on(&self) -> &'static [&'static str];
    fn check<'a>(&'a self, ctx: &'a RunContext) -> BoxFuture<'a, Check>;
}

/// The links of a pipeline shape when a scenario names none.
pub fn default_links(shape: Shape) -> &'static [&'static str] {
    match shape {
        Shape::Direct => &[
            "aws.identity",
            "amp.workspace",
            "amp.remote_write",
            "amp.query",
            "pipeline.delivery",
        ],
        Shape::Collector => ALL,
    }
}

fn by_name(name: &str, shape: Shape) -> Option<Arc<dyn Link>> {
    Some(match name {
        "aws.identity" => Arc::new(aws_identity::AwsIdentity),
        "amp.workspace" => Arc::new(amp_workspace::AmpWorkspace),
        "collector.config" => Arc::new(collector_config::CollectorConfigLink),
        "collector.running" => Arc::new(collector_running::CollectorRunning),
        "canary.scraped" => Arc::new(canary_scraped::CanaryScraped),
        "collector.signing" => Arc::new(collector_signing::CollectorSigning),
        "amp.remote_write" => Arc::new(amp_remote_write::AmpRemoteWrite {
            via_collector: shape == Shape::Collector,
        }),
        "amp.query" => Arc::new(amp_query::AmpQuery),
        "pipeline.delivery" => Arc::new(pipeline_delivery::PipelineDelivery),
        _ => return None,
    })
}

/// The links named, plus every link they depend on, in chain order. Unknown names are
/// refused when the scenario is parsed, so they are skipped here.
pub fn closure(names: &[String], shape: Shape) -> Vec<Arc<dyn Link>> {
    let mut wanted: Vec<&str> = if names.is_empty() {
        default_links(shape).to_vec()
    } else {
        names.iter().map(String::as_str).collect()
    };
    let mut i = 0;
    while i < wanted.len() {
        if let Some(link) = by_name(wanted[i], shape) {
            for dep in link.depends_on() {
                if !wanted.contains(dep) {
                    wanted.push(dep);
                }
            }
        }
        i += 1;
    }
    ALL.iter()
        .filter(|n| wanted.contains(n))
        .filter_map(|n| by_name(n, shape))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_link_is_built_and_its_dependencies_come_first() {
        for (i, name) in ALL.iter().enumerate() {
            for shape in [Shape::Direct, Shape::Collector] {
                let link = by_name(name, shape).expect("known link builds");
                assert_eq!(link.name(), *name);
                for dep in link.depends_on() {
                    let j = ALL
                        .iter()
                        .position(|n| n == dep)
                        .expect("dependency is known");
                    assert!(j < i, "{dep} must come before {name}");
                }
            }
        }
    }

    #[test]
    fn closure_adds_dependencies() {
        let names = |shape| -> Vec<&str> {
            closure(&["amp.query".to_string()], shape)
                .iter()
                .map(|l| l.name())
                .collect()
        };
        assert_eq!(
            names(Shape::Direct),
            vec![
                "aws.identity",
                "amp.workspace",
                "amp.remote_write",
                "amp.query"
            ]
        );
        // Through a collector, the writes AMP receives come from the collector.
        assert_eq!(names(Shape::Collector), &ALL[..ALL.len() - 1]);
    }
}
