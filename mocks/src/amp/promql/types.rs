//! The evaluator's public types: options, results and errors.

use crate::amp::store::{Labels, SeriesData};

/// Evaluation settings (Prometheus' `--query.lookback-delta`, `--query.max-samples` and
/// `--query.timeout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EvalOptions {
    /// How far back an instant selector looks for the latest sample. Zero or less means
    /// the default, as in Prometheus.
    pub lookback_ms: i64,
    /// Queries touching more samples than this are refused with an `execution` error.
    pub max_samples: usize,
    /// Past this instant the evaluation stops with AMP's timeout answer (checked each time
    /// samples are counted, so a query cannot run on unbounded).
    pub deadline: Option<std::time::Instant>,
}

impl Default for EvalOptions {
    fn default() -> Self {
        Self {
            lookback_ms: DEFAULT_LOOKBACK_MS,
            max_samples: 50_000_000,
            deadline: None,
        }
    }
}

/// AMP's answer to a query past its time limit (422 `execution`, aws-wire.md §A).
pub const TIMED_OUT: &str = "query timed out - consider simplifying your query";

pub(super) const DEFAULT_LOOKBACK_MS: i64 = 300_000;

/// One element of an instant vector; `t_ms` is the evaluation time, as in Prometheus.
#[derive(Debug, Clone, PartialEq)]
pub struct InstantSample {
    pub labels: Labels,
    pub t_ms: i64,
    pub value: f64,
}

/// A query result as the Prometheus API returns it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Scalar {
        t_ms: i64,
        value: f64,
    },
    Vector(Vec<InstantSample>),
    /// Range query results (series sorted by labels, series without points omitted), or the
    /// raw samples of a range selector in an instant query.
    Matrix(Vec<SeriesData>),
}

/// Why a query was refused; the variant is the Prometheus API `errorType`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvalError {
    /// Parse errors, type errors and constructs this mock does not evaluate (HTTP 400).
    #[error("{0}")]
    BadData(String),
    /// Errors while evaluating, e.g. too many samples or duplicate output series (HTTP 422).
    #[error("{0}")]
    Execution(String),
}

/// A construct the mock refuses rather than answering with a possibly wrong number.
pub(super) fn unsupported(what: impl std::fmt::Display) -> EvalError {
    EvalError::BadData(format!("unsupported in this mock: {what}"))
}

pub(super) fn exec(msg: impl Into<String>) -> EvalError {
    EvalError::Execution(msg.into())
}

pub(super) const DUPLICATE_LABELSET: &str = "vector cannot contain metrics with the same labelset";
