//! Settles of the messages of one batch, gathered into one write per record.
//!
//! The members of a join live 16 to a record, and a batch usually holds
//! neighbouring members: their settles, arriving together, become one
//! conditional write of several slots ([`Store::settle_together`]): one write
//! request instead of one per member. A settle waits until every message
//! still being processed has a settle waiting too, or for a short window.

use crate::error::BackendError;
use crate::store::{Cell, Settled, Store};
use crate::wire::Slot;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;

type Reply = oneshot::Sender<Result<Settled, BackendError>>;

/// Gathers the settles of one batch.
pub(crate) struct Gather {
    store: Arc<dyn Store>,
    window: Duration,
    state: Mutex<State>,
}

struct State {
    /// Messages of the batch still being processed.
    active: usize,
    pending: Vec<(Cell, Slot, Reply)>,
}

impl Gather {
    /// A gatherer for a batch of `active` messages; a settle waits at most `window`.
    pub(crate) fn new(store: Arc<dyn Store>, active: usize, window: Duration) -> Arc<Self> {
        Arc::new(Gather {
            store,
            window,
            state: Mutex::new(State {
                active,
                pending: Vec::new(),
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Settle `cell` with `slot`, in one write with other settles of the batch to
    /// the same record when they come at the same time.
    pub(crate) async fn settle(
        self: &Arc<Self>,
        cell: Cell,
        slot: Slot,
    ) -> Result<Settled, BackendError> {
        let (reply, mut replied) = oneshot::channel();
        let ready = {
            let mut state = self.lock();
            state.pending.push((cell, slot, reply));
            state.pending.len() >= state.active
        };
        if ready {
            self.flush().await;
        }
        tokio::select! {
            settled = &mut replied => return answer(settled),
            () = tokio::time::sleep(self.window) => self.flush().await,
        }
        answer(replied.await)
    }

    /// One message of the batch is done and will settle nothing more.
    pub(crate) fn leave(self: &Arc<Self>) {
        let ready = {
            let mut state = self.lock();
            state.active = state.active.saturating_sub(1);
            !state.pending.is_empty() && state.pending.len() >= state.active
        };
        if ready {
            let gather = self.clone();
            tokio::spawn(async move { gather.flush().await });
        }
    }

    /// Write everything pending: one write per record.
    async fn flush(&self) {
        let pending = std::mem::take(&mut self.lock().pending);
        let mut by_record: HashMap<String, Vec<(Cell, Slot, Reply)>> = HashMap::new();
        for entry in pending {
            by_record
                .entry(entry.0.key.clone())
                .or_default()
                .push(entry);
        }
        let mut writes = tokio::task::JoinSet::new();
        for (key, entries) in by_record {
            let store = self.store.clone();
            writes.spawn(async move { write_record(store.as_ref(), &key, entries).await });
        }
        while writes.join_next().await.is_some() {}
    }
}

/// One message's place in a batch's [`Gather`]: it leaves when the message stops
/// settling through the gather, at the latest when the seat is dropped.
pub(crate) struct Seat(Option<Arc<Gather>>);

impl Seat {
    /// A seat in `gather`, or none.
    pub(crate) fn new(gather: Option<Arc<Gather>>) -> Self {
        Seat(gather)
    }

    /// The gather, while seated.
    pub(crate) fn gather(&self) -> &Option<Arc<Gather>> {
        &self.0
    }

    /// Settle alone from now on.
    pub(crate) fn leave(&mut self) {
        if let Some(gather) = self.0.take() {
            gather.leave();
        }
    }
}

impl Drop for Seat {
    fn drop(&mut self) {
        self.leave();
    }
}

fn answer(
    settled: Result<Result<Settled, BackendError>, oneshot::error::RecvError>,
) -> Result<Settled, BackendError> {
    settled.unwrap_or_else(|_| Err(BackendError::transient("settle abandoned")))
}

/// Settle the entries of one record: together if there are several distinct
/// slots none of which is written yet, else one by one.
async fn write_record(store: &dyn Store, key: &str, entries: Vec<(Cell, Slot, Reply)>) {
    let mut together = Vec::new();
    let mut alone = Vec::new();
    for entry in entries {
        if together
            .iter()
            .any(|(c, _, _): &(Cell, Slot, Reply)| c.slot == entry.0.slot)
        {
            alone.push(entry); // the same promise twice: a duplicated message
        } else {
            together.push(entry);
        }
    }
    if together.len() > 1 {
        let slots: Vec<(u32, Slot)> = together
            .iter()
            .map(|(cell, slot, _)| (cell.slot, slot.clone()))
            .collect();
        // If someone got there first, or the combined write failed, each settles
        // on its own below (a combined write that did land shows up as its own).
        if let Ok(Some(settled)) = store.settle_together(key, &slots).await {
            for ((_, _, reply), one) in together.drain(..).zip(settled) {
                let _ = reply.send(Ok(one));
            }
        }
    }
    for (cell, slot, reply) in together.into_iter().chain(alone) {
        let _ = reply.send(store.settle(&cell, &slot).await);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryStore;
    use crate::wire::Outcome;

    fn member(slot: u32) -> Cell {
        Cell {
            key: "join#0#0".into(),
            slot,
        }
    }

    #[tokio::test]
    async fn settles_arriving_together_become_one_write() {
        let store = Arc::new(MemoryStore::new());
        let gather = Gather::new(store.clone(), 4, Duration::from_secs(5));
        let settles: Vec<_> = (0..4)
            .map(|i| {
                let gather = gather.clone();
                let slot = Slot::new(Outcome::Ok(i.into()), format!("t{i}"));
                tokio::spawn(async move { gather.settle(member(i), slot).await })
            })
            .collect();
        let mut counts = Vec::new();
        for settle in settles {
            match settle.await.expect("joined").expect("settled") {
                Settled::Won { count, .. } => counts.push(count),
                lost => panic!("{lost:?}"),
            }
        }
        counts.sort_unstable();
        assert_eq!(
            counts,
            [1, 2, 3, 4],
            "each sees the count after its own slot"
        );
        assert_eq!(store.writes(), 1);
    }

    #[tokio::test]
    async fn a_written_slot_sends_the_others_one_by_one() {
        let store = Arc::new(MemoryStore::new());
        let first = Slot::new(Outcome::Ok(0.into()), "early");
        store.settle(&member(0), &first).await.expect("settled");
        let gather = Gather::new(store.clone(), 2, Duration::from_secs(5));
        let (a, b) = tokio::join!(
            gather.settle(member(0), Slot::new(Outcome::Ok(1.into()), "late")),
            gather.settle(member(1), Slot::new(Outcome::Ok(2.into()), "t1")),
        );
        assert!(matches!(a, Ok(Settled::Lost { ref slot, .. }) if slot.by == "early"));
        assert!(matches!(b, Ok(Settled::Won { count: 2, .. })));
    }

    #[tokio::test]
    async fn a_lone_settle_waits_only_the_window() {
        let store = Arc::new(MemoryStore::new());
        let gather = Gather::new(store, 3, Duration::from_millis(20));
        let started = std::time::Instant::now();
        let slot = Slot::new(Outcome::Ok(0.into()), "t");
        assert!(gather.settle(member(0), slot).await.is_ok());
        assert!(started.elapsed() < Duration::from_secs(2));
        gather.leave();
    }
}
