//! The mock AMP's PromQL evaluator: parses with `promql-parser` and evaluates against a
//! [`SeriesSource`](super::store::SeriesSource) the subset of PromQL that pipecheck's checks
//! and dashboards use, with Prometheus' exact semantics (v3.9 where versions differ).
//! Anything outside that subset is refused with `bad_data`, never answered with a guess.
//!
//! Module map: `types` (public result and error types), `selector` (label matchers, also
//! used by the `match[]` endpoints), `eval` (the evaluator), `functions` (range and
//! instant-vector function bodies, `histogram_quantile`), `json` (the API `data` object).

mod eval;
mod functions;
mod json;
mod selector;
mod types;

#[cfg(test)]
mod tests;

pub use eval::{eval_instant, eval_range};
pub use json::result_json;
pub use selector::Selector;
pub use types::{EvalError, EvalOptions, InstantSample, TIMED_OUT, Value};
