//! The chain's model, with no I/O: which links exist ([`LinkId`], the one place a link's
//! name is spelled), how they depend on each other in each pipeline [`Shape`] and how
//! their results read ([`blocker_of`], [`root_cause`]), what a link's check gives back
//! ([`Check`]) under which [`Deadline`], the [`Teardown`] stack a run's session unwinds,
//! and the fault catalog's metadata ([`FaultInfo`]: where each fault's verdict lands,
//! which collector kinds ([`ClusterCollector`]) and identities can have it). It imports
//! nothing else of the harness; the links, the executor, scenarios, faults and reports
//! build on it.

mod check;
mod collector;
mod fault;
mod link;
mod outcome;
mod teardown;

pub use check::{BoxFuture, Check, Deadline, Diagnosis, Status};
pub use collector::ClusterCollector;
pub use fault::{Expect, FaultInfo};
pub use link::{
    CLUSTER, GRAFANA, LinkId, SCRAPER, SCRAPER_CHAIN, Shape, UnknownLink, WRITES, closure,
    default_links, without,
};
pub use outcome::{blocker_of, root_cause};
pub use teardown::{Fate, Lane, Teardown, Undo, Undone, Unwind};
