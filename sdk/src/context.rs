//! [`Cx`]: what a running task knows about itself, and its [`Flow`].

use crate::clock::Clock;
use crate::engine::decide;
use crate::error::{BackendError, Error};
use crate::failure::Failure;
use crate::flow::Flow;
use crate::id::PromiseId;
use crate::promise::Resolver;
use crate::store::{Cell, Note, Settled, Store};
use crate::wire::{Cont, Slot, Target};
use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

/// Run `decode` with `flow` as the current flow, so that promises it decodes
/// bind to it (a task's fields are decoded before the task runs).
pub(crate) fn decode_in<R>(flow: &Flow, decode: impl FnOnce() -> R) -> R {
    CURRENT_FLOW.sync_scope(flow.clone(), decode)
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
    reporter: Arc<Reporter>,
    mark_sent: std::sync::atomic::AtomicBool,
}

impl Cx {
    pub(crate) fn new(
        target: Target,
        attempt: u32,
        conts: Vec<Cont>,
        store: Arc<dyn Store>,
        clock: Clock,
    ) -> Self {
        Cx {
            flow: Flow::new(target.id(), clock),
            reporter: Arc::new(Reporter {
                cell: Cell::of(&target.id()),
                store: store.clone(),
                state: Mutex::default(),
                write: tokio::sync::Mutex::new(()),
            }),
            target,
            attempt,
            conts,
            store,
            mark_sent: Default::default(),
        }
    }

    /// Report progress: `done` of `total` units of work (items, pages, bytes).
    /// Units weigh a task in the rolled-up progress of its workflow
    /// ([`crate::Vow::progress`], `vow wait`): a task doing 1,000 units counts for
    /// more than one doing 2. A task that never reports counts as one unit.
    ///
    /// Opt-in and cheap: only tasks that call this pay for a store write, at most
    /// one per second per task (the latest report in between is written at the end
    /// of that second). Settling implies `done == total`. Failing writes are
    /// logged, not returned: progress is advisory.
    ///
    /// ```
    /// # use serde::{Deserialize, Serialize};
    /// # use vow::prelude::*;
    /// #[derive(Serialize, Deserialize)]
    /// struct Resize { images: Vec<String> }
    ///
    /// #[vow::task("doc-resize")]
    /// impl Task for Resize {
    ///     type Input = ();
    ///     type Output = usize;
    ///     async fn run(self, _: (), cx: &Cx) -> Result<Resolution<usize>, Error> {
    ///         let total = self.images.len() as u64;
    ///         for (i, _image) in self.images.iter().enumerate() {
    ///             // ... resize it ...
    ///             cx.progress(i as u64 + 1, total).await;
    ///         }
    ///         done(self.images.len())
    ///     }
    /// }
    /// ```
    pub async fn progress(&self, done: u64, total: u64) {
        self.reporter.clone().report(done.min(total), total).await;
    }

    /// Stop progress writes (the task returned) and take the latest report.
    pub(crate) async fn finish_progress(&self) -> Option<(u64, u64)> {
        self.reporter.finish().await
    }

    /// Whether this task's promise was cancelled (or otherwise settled) while it
    /// runs: one read of the store. Long tasks check it between units of work
    /// and stop as they see fit; [`Cx::check_cancelled`] stops with `?`.
    ///
    /// Advisory: if the store cannot be read, this says `false` (and logs a
    /// warning), and the next check asks again. A cancelled task that keeps
    /// running wastes work but changes nothing: its promise is settled already.
    ///
    /// ```
    /// # use serde::{Deserialize, Serialize};
    /// # use vow::prelude::*;
    /// # #[derive(Serialize, Deserialize)] struct Crunch { items: u64 }
    /// #[vow::task("doc-crunch")]
    /// impl Task for Crunch {
    ///     type Input = ();
    ///     type Output = u64;
    ///     async fn run(self, _: (), cx: &Cx) -> Result<Resolution<u64>, Error> {
    ///         for item in 0..self.items {
    ///             if cx.cancelled().await {
    ///                 return done(item);      // what we got through
    ///             }
    ///             // ... one unit of work ...
    ///         }
    ///         done(self.items)
    ///     }
    /// }
    /// ```
    ///
    /// It is a plain `bool`: `cx.cancelled().await?` does not compile, so it
    /// cannot be mistaken for a check that stops the task.
    ///
    /// ```compile_fail
    /// # use vow::prelude::*;
    /// async fn run(cx: &Cx) -> Result<(), Error> {
    ///     cx.cancelled().await?;
    ///     Ok(())
    /// }
    /// ```
    #[must_use = "a cancellation check does nothing unless its answer is used; \
                  `cx.check_cancelled().await?` stops the task"]
    pub async fn cancelled(&self) -> bool {
        let id = self.target.id();
        self.is_settled(&id).await.unwrap_or_else(|e| {
            tracing::warn!(promise = %id, error = %e, "cancellation check failed");
            false
        })
    }

    /// Stop the task if its promise was cancelled (or otherwise settled): an
    /// `Err` with a [`FailureKind::Cancelled`](crate::FailureKind::Cancelled)
    /// failure, permanent, for `?`. The promise keeps the outcome it already has.
    /// Advisory like [`Cx::cancelled`]: a store that cannot be read counts as
    /// not cancelled.
    ///
    /// ```
    /// # use serde::{Deserialize, Serialize};
    /// # use vow::prelude::*;
    /// # #[derive(Serialize, Deserialize)] struct Pages { pages: u32 }
    /// #[vow::task("doc-pages")]
    /// impl Task for Pages {
    ///     type Input = ();
    ///     type Output = u32;
    ///     async fn run(self, _: (), cx: &Cx) -> Result<Resolution<u32>, Error> {
    ///         for _page in 0..self.pages {
    ///             cx.check_cancelled().await?;   // returns here once cancelled
    ///             // ... fetch and store one page ...
    ///         }
    ///         done(self.pages)
    ///     }
    /// }
    /// ```
    pub async fn check_cancelled(&self) -> Result<(), Error> {
        if self.cancelled().await {
            return Err(Error::permanent(Failure::cancelled(format!(
                "{} was cancelled or settled while its task ran",
                self.target.id()
            ))));
        }
        Ok(())
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
        let conts = if self.successors_in_record() {
            Vec::new()
        } else {
            self.conts.clone()
        };
        Resolver::new(self.target.clone(), conts)
    }

    /// Whether a deferral of this task stores the successors its message
    /// carries in its promise's record (then the task's resolvers carry none;
    /// [`decide::successors_wait_in_record`]). Asked only by tasks that make a
    /// resolver or defer, so other steps never encode their continuations.
    pub(crate) fn successors_in_record(&self) -> bool {
        successors_in_record(&self.target, &self.conts)
    }

    pub(crate) fn flow(&self) -> &Flow {
        &self.flow
    }

    /// Whether the promise `id` has settled: one read of the store.
    pub(crate) async fn is_settled(&self, id: &PromiseId) -> Result<bool, BackendError> {
        let cell = Cell::of(id);
        let record = self.store.read(&cell.key).await?;
        Ok(record.is_some_and(|r| r.slots.contains_key(&cell.slot)))
    }

    /// Ask the engine to note on this task's promise, once everything this
    /// run made is sent and before it settles, that it was sent
    /// ([`crate::store::Note::sent`]): one more write, after the sends (rule
    /// 2), that no other writer of the promise's slot can hide.
    pub(crate) fn note_when_sent(&self) {
        self.mark_sent
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether this run asked for [`Cx::note_when_sent`].
    pub(crate) fn notes_when_sent(&self) -> bool {
        self.mark_sent.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The settled slot of the promise `id`, if any, and its note: one read
    /// of the store.
    pub(crate) async fn slot_and_note(
        &self,
        id: &PromiseId,
    ) -> Result<(Option<Slot>, Option<crate::store::Note>), BackendError> {
        crate::store::slot_and_note(self.store.as_ref(), id).await
    }

    /// Settle the promise `id` with `what` under `token` unless it is
    /// settled: `None` if this write won, else the slot that holds it. One
    /// conditional write (rule 1).
    pub(crate) async fn claim_or_holder(
        &self,
        id: &PromiseId,
        token: &str,
        what: serde_json::Value,
    ) -> Result<Option<Slot>, BackendError> {
        let slot = Slot::new(crate::wire::Outcome::Ok(what), token);
        Ok(match self.store.settle(&Cell::of(id), &slot).await? {
            Settled::Won { .. } => None,
            Settled::Lost { slot, .. } => Some(slot),
        })
    }
}

/// [`decide::successors_wait_in_record`] for a task's target and carried
/// continuations.
fn successors_in_record(target: &Target, conts: &[Cont]) -> bool {
    let encoded = serde_json::to_vec(conts).map_or(usize::MAX, |b| b.len());
    decide::successors_wait_in_record(matches!(target, Target::Promise(_)), conts.len(), encoded)
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

/// Writes one task attempt's progress reports, at most one per [`REPORT_EVERY`],
/// newest last.
struct Reporter {
    cell: Cell,
    store: Arc<dyn Store>,
    state: Mutex<Reported>,
    /// Held while writing, so writes land in order and none after `finish`.
    write: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct Reported {
    latest: Option<(u64, u64)>,
    written: Option<(u64, u64)>,
    last_write: Option<Instant>,
    trailing: bool,
    finished: bool,
}

/// Shortest time between two progress writes of one task.
const REPORT_EVERY: Duration = Duration::from_secs(1);

impl Reporter {
    fn lock(&self) -> std::sync::MutexGuard<'_, Reported> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn report(self: Arc<Self>, done: u64, total: u64) {
        let wait = {
            let mut st = self.lock();
            if st.finished {
                return;
            }
            st.latest = Some((done, total));
            match st.last_write.map(|t| t.elapsed()) {
                Some(since) if since < REPORT_EVERY => {
                    if st.trailing {
                        return;
                    }
                    st.trailing = true;
                    Some(REPORT_EVERY - since)
                }
                _ => None,
            }
        };
        match wait {
            None => self.flush().await,
            Some(wait) => {
                tokio::spawn(async move {
                    tokio::time::sleep(wait).await;
                    self.flush().await;
                });
            }
        }
    }

    /// Write the latest report, unless it is written already or the task returned.
    async fn flush(&self) {
        let _writing = self.write.lock().await;
        let (done, total) = {
            let mut st = self.lock();
            st.trailing = false;
            match st.latest {
                Some(latest) if !st.finished && st.written != Some(latest) => {
                    st.written = Some(latest);
                    st.last_write = Some(Instant::now());
                    latest
                }
                _ => return,
            }
        };
        let note = Note {
            done: Some(done),
            total: Some(total),
            ..Note::default()
        };
        if let Err(e) = self.store.note(&self.cell, &note).await {
            tracing::warn!(promise = %self.cell.key, error = %e, "progress not recorded");
        }
    }

    async fn finish(&self) -> Option<(u64, u64)> {
        let _writing = self.write.lock().await;
        let mut st = self.lock();
        st.finished = true;
        st.latest
    }
}
