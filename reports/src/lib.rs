//! pipecheck's result model and its renderers: plain data in, text out.
//!
//! See `ARCHITECTURE.md` beside this crate's `Cargo.toml` for the module map.

pub mod console;
pub mod exit;
pub mod file;
pub mod html;
pub mod json;
pub mod junit;
pub mod markdown;
pub mod model;
pub mod redact;

#[cfg(test)]
mod testdata;

pub use console::{ColorChoice, Console, use_color};
pub use exit::Exit;
pub use file::{ReportFile, ReportFileError, ReportKind};
pub use junit::JunitError;
pub use model::{
    Counts, Evidence, LinkResult, Outcome, Property, RunEvent, RunInfo, RunReport, RunStatus,
    ScenarioReport,
};
pub use redact::Redactor;
