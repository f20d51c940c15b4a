//! What a link's check gives back, and the deadlines its verdicts name.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use pipecheck_reports::Evidence;

/// A boxed future, as a link's check and a collector runtime's calls return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Pass,
    Warn,
    Fail,
}

/// A verdict and how to fix it, as a link's diagnosis of an answer gives them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnosis {
    pub verdict: String,
    pub hint: String,
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

/// A deadline with its name and value: the one way a verdict says which deadline passed
/// ("no answer within the request deadline of 10 s").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deadline {
    pub name: &'static str,
    pub value: Duration,
}

impl Deadline {
    pub const fn new(name: &'static str, value: Duration) -> Self {
        Self { name, value }
    }
}

impl std::fmt::Display for Deadline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let v = self.value;
        if v.subsec_millis() == 0 && v.as_secs() > 0 {
            write!(f, "the {} deadline of {} s", self.name, v.as_secs())
        } else if v < Duration::from_secs(1) {
            write!(f, "the {} deadline of {} ms", self.name, v.as_millis())
        } else {
            write!(f, "the {} deadline of {:.1} s", self.name, v.as_secs_f64())
        }
    }
}
