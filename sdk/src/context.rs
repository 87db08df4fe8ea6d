//! [`Cx`]: what a running task knows about itself, and its [`Flow`].

use crate::error::Error;
use crate::flow::Flow;
use crate::id::PromiseId;
use crate::promise::Resolver;
use crate::store::{Cell, Store};
use crate::wire::{Cont, Target};
use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::sync::Arc;

tokio::task_local! {
    static CURRENT_FLOW: Flow;
}

/// The flow of the task running on this tokio task, if any.
pub(crate) fn current_flow() -> Option<Flow> {
    CURRENT_FLOW.try_with(Flow::clone).ok()
}

/// Run `fut` with `flow` as the current flow, so that promises decoded inside bind to it.
pub(crate) async fn with_flow<F: Future>(flow: Flow, fut: F) -> F::Output {
    CURRENT_FLOW.scope(flow, fut).await
}

/// A running task's context: its promise id, attempt, and a [`Flow`] (through
/// `Deref`) to create children with. Children created here are sent when the task
/// returns; a retried attempt creates the same children again, with the same ids.
pub struct Cx {
    flow: Flow,
    target: Target,
    attempt: u32,
    conts: Vec<Cont>,
    store: Arc<dyn Store>,
}

impl Cx {
    pub(crate) fn new(
        target: Target,
        attempt: u32,
        conts: Vec<Cont>,
        store: Arc<dyn Store>,
    ) -> Self {
        Cx {
            flow: Flow::new(target.id()),
            target,
            attempt,
            conts,
            store,
        }
    }

    /// Whether this task's promise was cancelled (or otherwise settled) while it
    /// runs: one read of the store. Long tasks check it between units of work.
    pub async fn cancelled(&self) -> Result<bool, Error> {
        let cell = Cell::of(&self.target.id());
        let record = self
            .store
            .read(&cell.key)
            .await
            .map_err(|e| Error::retryable(e.to_string()))?;
        Ok(record.is_some_and(|r| r.slots.contains_key(&cell.slot)))
    }

    /// The id of the promise this task settles.
    pub fn id(&self) -> PromiseId {
        self.target.id()
    }

    /// 1 on the first attempt, 2 on the first retry, and so on.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// A serializable resolver for this task's own promise. Hand it to other tasks
    /// and return [`crate::deferred`]; whoever calls [`Flow::resolve`] first settles it.
    pub fn resolver<T>(&self) -> Resolver<T> {
        Resolver::new(self.target.clone(), self.conts.clone())
    }

    pub(crate) fn flow(&self) -> &Flow {
        &self.flow
    }
}

impl Deref for Cx {
    type Target = Flow;
    fn deref(&self) -> &Flow {
        &self.flow
    }
}

impl fmt::Debug for Cx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cx")
            .field("id", &self.target.id())
            .field("attempt", &self.attempt)
            .finish_non_exhaustive()
    }
}
