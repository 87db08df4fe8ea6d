//! Fault injection for either backend: wrap a [`Queue`] and a [`Store`] to fail
//! a fraction of calls (before or after they take effect), deliver messages twice,
//! and delay (reorder) deliveries; and audit a store for promises settled twice.
//! The chaos run (`./tests/run.sh chaos`) drives workflows through these.
//!
//! ```
//! use std::sync::Arc;
//! use vow::fault::{Audit, FaultConfig, Faults, FaultyStore};
//! use vow::memory::MemoryStore;
//! let faults = Arc::new(Faults::new(FaultConfig { fail_before: 0.1, ..FaultConfig::default() }));
//! let audit = Arc::new(Audit::new(Arc::new(MemoryStore::new())));
//! let store = FaultyStore::new(audit.clone(), faults.clone());
//! # let _ = store;
//! ```

use crate::error::BackendError;
use crate::queue::{Delivery, Outgoing, Queue};
use crate::store::{Cell, Note, Record, Settled, Store};
use crate::timer_index::{IndexedTimer, SweepCursor};
use crate::wire::{Cont, Slot};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often each fault happens (each a probability from 0 to 1).
#[derive(Clone, Debug)]
pub struct FaultConfig {
    /// A call fails without taking effect (throttling, 5xx).
    pub fail_before: f64,
    /// A write or send takes effect but reports failure (a timeout after the
    /// service applied it; the worker then behaves as if it crashed there).
    pub fail_after: f64,
    /// A sent message is delivered twice.
    pub duplicate: f64,
    /// A sent message is delayed by up to `max_delay` (reordering deliveries).
    pub delay: f64,
    /// The longest injected delay (SQS counts delays in whole seconds).
    pub max_delay: Duration,
    /// Seed of the random choices.
    pub seed: u64,
}

impl Default for FaultConfig {
    fn default() -> Self {
        FaultConfig {
            fail_before: 0.0,
            fail_after: 0.0,
            duplicate: 0.0,
            delay: 0.0,
            max_delay: Duration::from_secs(1),
            seed: 1,
        }
    }
}

/// Shared fault state: the configuration, the random source and the count of
/// injected faults.
#[derive(Debug)]
pub struct Faults {
    config: FaultConfig,
    rng: Mutex<fastrand::Rng>,
    injected: AtomicU64,
}

impl Faults {
    /// Faults as configured.
    pub fn new(config: FaultConfig) -> Self {
        let rng = Mutex::new(fastrand::Rng::with_seed(config.seed));
        Faults {
            config,
            rng,
            injected: AtomicU64::new(0),
        }
    }

    /// Faults injected so far.
    pub fn injected(&self) -> u64 {
        self.injected.load(Ordering::Relaxed)
    }

    fn roll(&self, p: f64) -> bool {
        if p <= 0.0 {
            return false;
        }
        let hit = self.rng.lock().unwrap_or_else(|e| e.into_inner()).f64() < p;
        if hit {
            self.injected.fetch_add(1, Ordering::Relaxed);
        }
        hit
    }

    /// Whether to lose the reply of a call that took effect (`fail_after`).
    pub fn lose_reply(&self) -> bool {
        self.roll(self.config.fail_after)
    }

    fn before(&self, op: &str) -> Result<(), BackendError> {
        if self.roll(self.config.fail_before) {
            let kind = if self.rng.lock().unwrap_or_else(|e| e.into_inner()).bool() {
                "throttled"
            } else {
                "503 service unavailable"
            };
            return Err(BackendError::transient(format!(
                "injected fault: {op} {kind}"
            )));
        }
        Ok(())
    }

    fn after<T>(&self, op: &str, result: Result<T, BackendError>) -> Result<T, BackendError> {
        let value = result?;
        if self.roll(self.config.fail_after) {
            return Err(BackendError::transient(format!(
                "injected fault: {op} timed out after taking effect"
            )));
        }
        Ok(value)
    }

    fn delay(&self) -> Option<Duration> {
        if !self.roll(self.config.delay) {
            return None;
        }
        let ms = crate::clock::millis(self.config.max_delay);
        Some(Duration::from_millis(
            self.rng
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .u64(0..=ms),
        ))
    }
}

/// A [`Queue`] with injected faults.
pub struct FaultyQueue {
    inner: Arc<dyn Queue>,
    faults: Arc<Faults>,
}

impl FaultyQueue {
    /// Wrap `inner`.
    pub fn new(inner: Arc<dyn Queue>, faults: Arc<Faults>) -> Self {
        FaultyQueue { inner, faults }
    }
}

impl std::fmt::Debug for FaultyQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultyQueue")
            .field("faults", &self.faults)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Queue for FaultyQueue {
    fn name(&self) -> &str {
        self.inner.name()
    }

    async fn send(&self, messages: Vec<Outgoing>) -> Result<(), BackendError> {
        self.faults.before("SendMessageBatch")?;
        let mut out = Vec::with_capacity(messages.len());
        for mut m in messages {
            if let Some(extra) = self.faults.delay() {
                m.delay += extra;
            }
            if self.faults.roll(self.faults.config.duplicate) {
                out.push(m.clone());
            }
            out.push(m);
        }
        let sent = self.inner.send(out).await;
        self.faults.after("SendMessageBatch", sent)
    }

    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>, BackendError> {
        self.faults.before("ReceiveMessage")?;
        self.inner.receive(max, wait).await
    }

    async fn delete(&self, receipts: Vec<String>) -> Result<(), BackendError> {
        // A lost delete is a worker killed after its batch ran: all redelivered.
        self.faults.before("DeleteMessageBatch")?;
        self.inner.delete(receipts).await
    }

    async fn release(&self, receipt: &str, after: Duration) -> Result<(), BackendError> {
        self.inner.release(receipt, after).await
    }
}

/// A [`Store`] with injected faults.
pub struct FaultyStore {
    inner: Arc<dyn Store>,
    faults: Arc<Faults>,
}

impl FaultyStore {
    /// Wrap `inner`.
    pub fn new(inner: Arc<dyn Store>, faults: Arc<Faults>) -> Self {
        FaultyStore { inner, faults }
    }
}

impl std::fmt::Debug for FaultyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultyStore")
            .field("faults", &self.faults)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Store for FaultyStore {
    async fn settle(&self, cell: &Cell, slot: &Slot) -> Result<Settled, BackendError> {
        self.faults.before("UpdateItem")?;
        let settled = self.inner.settle(cell, slot).await;
        self.faults.after("UpdateItem", settled)
    }

    async fn settle_together(
        &self,
        key: &str,
        slots: &[(u32, Slot)],
    ) -> Result<Option<Vec<Settled>>, BackendError> {
        self.faults.before("UpdateItem")?;
        let settled = self.inner.settle_together(key, slots).await;
        self.faults.after("UpdateItem", settled)
    }

    async fn add_continuations(
        &self,
        cell: &Cell,
        conts: &[(String, Cont)],
    ) -> Result<Option<Slot>, BackendError> {
        self.faults.before("UpdateItem")?;
        let added = self.inner.add_continuations(cell, conts).await;
        self.faults.after("UpdateItem", added)
    }

    async fn read(&self, key: &str) -> Result<Option<Record>, BackendError> {
        self.faults.before("GetItem")?;
        self.inner.read(key).await
    }

    async fn read_many(&self, keys: &[String]) -> Result<Vec<Option<Record>>, BackendError> {
        self.faults.before("BatchGetItem")?;
        self.inner.read_many(keys).await
    }

    async fn put_blob(&self, key: &str, text: &str) -> Result<(), BackendError> {
        self.faults.before("PutItem")?;
        let put = self.inner.put_blob(key, text).await;
        self.faults.after("PutItem", put)
    }

    async fn get_blob(&self, key: &str) -> Result<Option<String>, BackendError> {
        self.faults.before("GetItem")?;
        self.inner.get_blob(key).await
    }

    async fn put_blob_held(&self, key: &str, text: &str) -> Result<(), BackendError> {
        self.faults.before("PutItem")?;
        let put = self.inner.put_blob_held(key, text).await;
        self.faults.after("PutItem", put)
    }

    async fn hold_blob(&self, key: &str) -> Result<bool, BackendError> {
        self.faults.before("UpdateItem")?;
        let held = self.inner.hold_blob(key).await;
        self.faults.after("UpdateItem", held)
    }

    async fn expire_record(&self, key: &str) -> Result<(), BackendError> {
        self.faults.before("UpdateItem")?;
        let stamped = self.inner.expire_record(key).await;
        self.faults.after("UpdateItem", stamped)
    }

    async fn expire_blob(&self, key: &str) -> Result<(), BackendError> {
        self.faults.before("UpdateItem")?;
        let stamped = self.inner.expire_blob(key).await;
        self.faults.after("UpdateItem", stamped)
    }

    async fn note(&self, cell: &Cell, note: &Note) -> Result<(), BackendError> {
        self.faults.before("UpdateItem")?;
        let noted = self.inner.note(cell, note).await;
        self.faults.after("UpdateItem", noted)
    }

    fn indexes_timers(&self) -> bool {
        self.inner.indexes_timers()
    }

    async fn put_timer(&self, timer: &IndexedTimer) -> Result<(), BackendError> {
        self.faults.before("PutItem")?;
        let put = self.inner.put_timer(timer).await;
        self.faults.after("PutItem", put)
    }

    async fn scan_records(
        &self,
        from: Option<&str>,
        limit: usize,
    ) -> Result<crate::store::Page<crate::store::ScannedRecord>, BackendError> {
        self.inner.scan_records(from, limit).await
    }

    async fn scan_timers(
        &self,
        from: Option<&str>,
        limit: usize,
    ) -> Result<crate::store::Page<IndexedTimer>, BackendError> {
        self.inner.scan_timers(from, limit).await
    }

    async fn timers_in(&self, bucket: u64, shard: u32) -> Result<Vec<IndexedTimer>, BackendError> {
        self.faults.before("Query")?;
        self.inner.timers_in(bucket, shard).await
    }

    async fn sweep_cursor(&self) -> Result<Option<SweepCursor>, BackendError> {
        self.faults.before("GetItem")?;
        self.inner.sweep_cursor().await
    }

    async fn move_cursor(
        &self,
        from: Option<&SweepCursor>,
        to: &SweepCursor,
    ) -> Result<bool, BackendError> {
        self.faults.before("UpdateItem")?;
        let moved = self.inner.move_cursor(from, to).await;
        self.faults.after("UpdateItem", moved)
    }
}

/// Counts, per slot, the writes the real store accepted: more than one would be a
/// promise settled twice (or a join arrival counted twice). Also counts the writes
/// each record was sent, to show that no record is hot.
pub struct Audit {
    inner: Arc<dyn Store>,
    wins: Mutex<HashMap<Cell, u32>>,
    writes: Mutex<HashMap<String, u32>>,
}

impl Audit {
    /// Audit `inner`.
    pub fn new(inner: Arc<dyn Store>) -> Self {
        Audit {
            inner,
            wins: Mutex::new(HashMap::new()),
            writes: Mutex::new(HashMap::new()),
        }
    }

    /// The most writes (accepted or not) any one record was sent.
    pub fn max_writes_per_record(&self) -> u32 {
        let writes = self.writes.lock().unwrap_or_else(|e| e.into_inner());
        writes.values().copied().max().unwrap_or(0)
    }

    fn wrote(&self, key: &str) {
        let mut writes = self.writes.lock().unwrap_or_else(|e| e.into_inner());
        *writes.entry(key.to_owned()).or_default() += 1;
    }

    /// Slots the store accepted more than one settling write for.
    pub fn doubles(&self) -> Vec<Cell> {
        let wins = self.wins.lock().unwrap_or_else(|e| e.into_inner());
        wins.iter()
            .filter(|(_, n)| **n > 1)
            .map(|(c, _)| c.clone())
            .collect()
    }

    /// Slots settled so far.
    pub fn settled(&self) -> usize {
        self.wins.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

impl std::fmt::Debug for Audit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Audit")
            .field("settled", &self.settled())
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Store for Audit {
    async fn settle(&self, cell: &Cell, slot: &Slot) -> Result<Settled, BackendError> {
        self.wrote(&cell.key);
        let settled = self.inner.settle(cell, slot).await?;
        if matches!(settled, Settled::Won { .. }) {
            *self
                .wins
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(cell.clone())
                .or_default() += 1;
        }
        Ok(settled)
    }

    async fn settle_together(
        &self,
        key: &str,
        slots: &[(u32, Slot)],
    ) -> Result<Option<Vec<Settled>>, BackendError> {
        self.wrote(key);
        let settled = self.inner.settle_together(key, slots).await?;
        if let Some(all) = &settled {
            let mut wins = self.wins.lock().unwrap_or_else(|e| e.into_inner());
            for ((n, _), one) in slots.iter().zip(all) {
                if matches!(one, Settled::Won { .. }) {
                    let cell = Cell {
                        key: key.to_owned(),
                        slot: *n,
                    };
                    *wins.entry(cell).or_default() += 1;
                }
            }
        }
        Ok(settled)
    }

    async fn add_continuations(
        &self,
        cell: &Cell,
        conts: &[(String, Cont)],
    ) -> Result<Option<Slot>, BackendError> {
        self.wrote(&cell.key);
        self.inner.add_continuations(cell, conts).await
    }

    async fn read(&self, key: &str) -> Result<Option<Record>, BackendError> {
        self.inner.read(key).await
    }

    async fn read_many(&self, keys: &[String]) -> Result<Vec<Option<Record>>, BackendError> {
        self.inner.read_many(keys).await
    }

    async fn put_blob(&self, key: &str, text: &str) -> Result<(), BackendError> {
        self.wrote(key);
        self.inner.put_blob(key, text).await
    }

    async fn get_blob(&self, key: &str) -> Result<Option<String>, BackendError> {
        self.inner.get_blob(key).await
    }

    async fn put_blob_held(&self, key: &str, text: &str) -> Result<(), BackendError> {
        self.wrote(key);
        self.inner.put_blob_held(key, text).await
    }

    async fn hold_blob(&self, key: &str) -> Result<bool, BackendError> {
        self.wrote(key);
        self.inner.hold_blob(key).await
    }

    async fn expire_record(&self, key: &str) -> Result<(), BackendError> {
        self.wrote(key);
        self.inner.expire_record(key).await
    }

    async fn expire_blob(&self, key: &str) -> Result<(), BackendError> {
        self.wrote(key);
        self.inner.expire_blob(key).await
    }

    async fn note(&self, cell: &Cell, note: &Note) -> Result<(), BackendError> {
        self.wrote(&cell.key);
        self.inner.note(cell, note).await
    }

    fn indexes_timers(&self) -> bool {
        self.inner.indexes_timers()
    }

    async fn put_timer(&self, timer: &IndexedTimer) -> Result<(), BackendError> {
        self.inner.put_timer(timer).await
    }

    async fn scan_records(
        &self,
        from: Option<&str>,
        limit: usize,
    ) -> Result<crate::store::Page<crate::store::ScannedRecord>, BackendError> {
        self.inner.scan_records(from, limit).await
    }

    async fn scan_timers(
        &self,
        from: Option<&str>,
        limit: usize,
    ) -> Result<crate::store::Page<IndexedTimer>, BackendError> {
        self.inner.scan_timers(from, limit).await
    }

    async fn timers_in(&self, bucket: u64, shard: u32) -> Result<Vec<IndexedTimer>, BackendError> {
        self.inner.timers_in(bucket, shard).await
    }

    async fn sweep_cursor(&self) -> Result<Option<SweepCursor>, BackendError> {
        self.inner.sweep_cursor().await
    }

    async fn move_cursor(
        &self,
        from: Option<&SweepCursor>,
        to: &SweepCursor,
    ) -> Result<bool, BackendError> {
        self.inner.move_cursor(from, to).await
    }
}
