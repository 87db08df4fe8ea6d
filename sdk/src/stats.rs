//! Per-batch counts and durations, gathered by the engine as it works (no extra
//! calls) and printed by the Lambda functions as CloudWatch metrics ([`crate::emf`]).

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// What one batch did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BatchStats {
    /// Messages in the batch.
    pub messages: u64,
    /// Tasks run.
    pub steps_run: u64,
    /// Promises settled with a value (join and adoption settles included).
    pub settled_ok: u64,
    /// Promises settled with a failure.
    pub settled_failed: u64,
    /// Attempts that failed with a retryable error and were sent again.
    pub retries: u64,
    /// Dead letters whose promise this batch settled.
    pub dead_lettered: u64,
    /// Messages refused because their signature, queue or issue time did not
    /// verify (each delivery to a worker, and each such dead letter, which is
    /// also logged as `vow: dead letter failed verification`).
    pub refused: u64,
    /// Messages left for redelivery (`batchItemFailures`).
    pub failed_messages: u64,
    /// Wall time of the whole batch, in milliseconds.
    pub batch_ms: u64,
    /// Time spent in task code, summed over the batch's tasks, in milliseconds.
    pub task_ms: u64,
}

impl BatchStats {
    /// These and `other`'s counts summed (wall times too).
    pub(crate) fn plus(self, other: &BatchStats) -> BatchStats {
        BatchStats {
            messages: self.messages.saturating_add(other.messages),
            steps_run: self.steps_run.saturating_add(other.steps_run),
            settled_ok: self.settled_ok.saturating_add(other.settled_ok),
            settled_failed: self.settled_failed.saturating_add(other.settled_failed),
            retries: self.retries.saturating_add(other.retries),
            dead_lettered: self.dead_lettered.saturating_add(other.dead_lettered),
            failed_messages: self.failed_messages.saturating_add(other.failed_messages),
            batch_ms: self.batch_ms.saturating_add(other.batch_ms),
            task_ms: self.task_ms.saturating_add(other.task_ms),
            refused: self.refused.saturating_add(other.refused),
        }
    }
}

/// The engine's running tally for one batch.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    pub steps_run: AtomicU64,
    pub settled_ok: AtomicU64,
    pub settled_failed: AtomicU64,
    pub retries: AtomicU64,
    pub dead_lettered: AtomicU64,
    pub refused: AtomicU64,
    pub task_ms: AtomicU64,
}

tokio::task_local! {
    /// The running batch's tally.
    static TALLY: Arc<Tally>;
}

/// Add `n` to a counter of the running batch's tally, if there is one.
pub(crate) fn tally(counter: impl FnOnce(&Tally) -> &AtomicU64, n: u64) {
    let _ = TALLY.try_with(|t| counter(t).fetch_add(n, Ordering::Relaxed));
}

impl Tally {
    /// Run `work` with this as the running batch's tally.
    pub(crate) fn scope<F: Future>(self: Arc<Self>, work: F) -> impl Future<Output = F::Output> {
        TALLY.scope(self, work)
    }

    pub(crate) fn stats(&self, messages: u64, failed: u64, batch_ms: u64) -> BatchStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        BatchStats {
            messages,
            steps_run: get(&self.steps_run),
            settled_ok: get(&self.settled_ok),
            settled_failed: get(&self.settled_failed),
            retries: get(&self.retries),
            dead_lettered: get(&self.dead_lettered),
            refused: get(&self.refused),
            failed_messages: failed,
            batch_ms,
            task_ms: get(&self.task_ms),
        }
    }
}
