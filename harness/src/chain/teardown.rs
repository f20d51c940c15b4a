//! The teardown stack: what a run makes that must not outlive it (a provisioned AWS
//! resource, a Grafana object, the collector) is pushed on its session's [`Teardown`]
//! the moment it exists, or just before the call that makes it, and the session unwinds
//! the stack, newest first, on every way out: the run ended, an error cut it short, or
//! it was interrupted. Nothing is kept anywhere else: a stack belongs to one session (or
//! to a watch, for what its runs share), so two runs never undo each other's things.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::BoxFuture;

/// How a stack is unwound.
#[derive(Clone, Copy, Debug)]
pub struct Unwind {
    /// `--provision --keep`: what the run made for the pipeline stays (credentials go).
    pub keep: bool,
    /// Interrupted: one attempt each and short waits, since the user is waiting.
    pub hurried: bool,
    /// The deadline of each request an undo makes.
    pub request: Duration,
}

/// Which part of the run a thing belongs to: the report says each part's undoing in its
/// own place (Grafana's in a property, provisioning's in its testcase).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lane {
    Collector,
    Grafana,
    Provisioned,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    Removed,
    /// Left on purpose (`--keep`).
    Kept,
    /// Could not be removed: [`Undone::by_hand`] says how.
    Failed,
}

/// How undoing one thing went.
#[derive(Clone, Debug)]
pub struct Undone {
    pub lane: Lane,
    /// What it was: `iam-role pipecheck-…`, `dashboard pc-…`.
    pub what: String,
    pub fate: Fate,
    /// The report's line for it.
    pub line: String,
    /// How to remove it by hand, for what was kept or could not be removed.
    pub by_hand: Option<String>,
}

/// Something on the stack: it undoes itself once.
pub trait Undo: Send + 'static {
    fn undo(self: Box<Self>, how: Unwind) -> BoxFuture<'static, Undone>;
}

/// One session's stack (cheap to clone: clones share it).
#[derive(Clone, Default)]
pub struct Teardown(Arc<Mutex<Vec<Box<dyn Undo>>>>);

impl std::fmt::Debug for Teardown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Teardown({} pending)", self.len())
    }
}

impl Teardown {
    pub fn push(&self, undo: impl Undo) {
        self.stack().push(Box::new(undo));
    }

    /// How many things wait to be undone.
    pub fn len(&self) -> usize {
        self.stack().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Undoes everything pushed so far, newest first, one after the other (what was made
    /// later may depend on what was made before it: a dashboard on its data source, a
    /// role's policy on its role). Something pushed while unwinding is undone too.
    pub async fn unwind(&self, how: Unwind) -> Vec<Undone> {
        let mut out = Vec::new();
        loop {
            // The lock is not held across the undo's await.
            let next = self.stack().pop();
            match next {
                Some(undo) => out.push(undo.undo(how).await),
                None => return out,
            }
        }
    }

    fn stack(&self) -> std::sync::MutexGuard<'_, Vec<Box<dyn Undo>>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Named(&'static str, Arc<Mutex<Vec<&'static str>>>);

    impl Undo for Named {
        fn undo(self: Box<Self>, how: Unwind) -> BoxFuture<'static, Undone> {
            Box::pin(async move {
                self.1.lock().unwrap().push(self.0);
                Undone {
                    lane: Lane::Provisioned,
                    what: self.0.to_string(),
                    fate: if how.keep { Fate::Kept } else { Fate::Removed },
                    line: format!("deleted {}", self.0),
                    by_hand: None,
                }
            })
        }
    }

    #[tokio::test]
    async fn unwinds_newest_first_once() {
        let order = Arc::new(Mutex::new(Vec::new()));
        let t = Teardown::default();
        for n in ["workspace", "role", "policy"] {
            t.clone().push(Named(n, order.clone()));
        }
        let how = Unwind {
            keep: false,
            hurried: false,
            request: Duration::from_secs(1),
        };
        let undone = t.unwind(how).await;
        assert_eq!(*order.lock().unwrap(), ["policy", "role", "workspace"]);
        assert!(undone.iter().all(|u| u.fate == Fate::Removed));
        assert!(t.is_empty());
        assert!(t.unwind(how).await.is_empty(), "nothing is undone twice");
    }
}
