//! pipecheck's result model and its renderers: plain data in, text out.
//!
//! See `ARCHITECTURE.md` beside this crate's `Cargo.toml` for the module map.

pub mod console;
pub mod junit;
pub mod model;
pub mod redact;

#[cfg(test)]
mod testdata;

pub use console::Console;
pub use junit::JunitError;
pub use model::{Counts, Evidence, LinkResult, Outcome, RunEvent, RunReport, ScenarioReport};
pub use redact::Redactor;
