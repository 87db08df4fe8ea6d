//! The store seam: where outcomes are settled exactly once and joins are counted.
//!
//! A store holds *records* keyed by a string. A record has numbered *slots*, a
//! count of written slots, and per-slot continuations added after creation.
//! A plain promise is slot 0 of the record named by its id. A join's members live
//! in shard records of [`FAN_IN`] slots each (`<join>#0#<shard>`), and completed
//! shards are counted in records one level up, so no record grows with the number
//! of members and no record is written more than [`FAN_IN`] times per join.

use crate::error::BackendError;
use crate::id::PromiseId;
use crate::wire::{Cont, Slot};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Slots per join shard record.
pub const FAN_IN: u32 = 16;

/// One slot of one record.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Cell {
    /// The record's key.
    pub key: String,
    /// The slot number.
    pub slot: u32,
}

impl Cell {
    /// Where the promise `id` settles.
    pub fn of(id: &PromiseId) -> Cell {
        match id.as_member() {
            Some((join, index)) => Cell {
                key: shard_key(&join, 0, index / FAN_IN),
                slot: index % FAN_IN,
            },
            None => Cell {
                key: id.as_str().to_owned(),
                slot: 0,
            },
        }
    }
}

/// The key of shard `shard` at tree level `level` of join `join`.
pub fn shard_key(join: &PromiseId, level: u32, shard: u32) -> String {
    format!("{join}#{level}#{shard}")
}

/// A record as read back.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Record {
    /// Written slots.
    pub slots: BTreeMap<u32, Slot>,
    /// How many slots are written.
    pub count: u32,
    /// Continuations stored for slots not yet written.
    pub later: BTreeMap<u32, Vec<Cont>>,
    /// What running tasks noted about the slots' promises (see [`Note`]).
    pub notes: BTreeMap<u32, Note>,
}

/// What a task notes about its own promise while it is pending: the progress it
/// reported with [`crate::Cx::progress`], and, when it returned `adopt` or
/// `deferred`, the children it created (a settled slot records them itself).
/// Kept beside the slot in the promise's record; written only by tasks that
/// report progress or adopt/defer with children.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    /// Units of work done, as last reported.
    #[serde(rename = "d", default, skip_serializing_if = "Option::is_none")]
    pub done: Option<u64>,
    /// Units of work in all, as last reported.
    #[serde(rename = "t", default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// Children the task created: `id.child(0..kids)`.
    #[serde(rename = "k", default, skip_serializing_if = "is_zero")]
    pub kids: u32,
    /// Of those, the joins: child sequence number -> member count.
    #[serde(rename = "j", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub joins: BTreeMap<u32, u32>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl Note {
    /// The reported progress as `(done, total)`, if any.
    pub fn progress(&self) -> Option<(u64, u64)> {
        Some((self.done?, self.total?))
    }
}

/// The reply to [`Store::settle`].
#[derive(Clone, Debug, PartialEq)]
pub enum Settled {
    /// This write settled the slot.
    Won {
        /// Written slots in the record, this one included.
        count: u32,
        /// Continuations that were stored for the slot.
        later: Vec<Cont>,
    },
    /// The slot was already written: by `slot.by`, with `slot.outcome`.
    Lost {
        /// What is there.
        slot: Slot,
        /// Written slots in the record.
        count: u32,
        /// Continuations that were stored for the slot.
        later: Vec<Cont>,
    },
}

/// Durable, conditional storage of outcomes.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Write `slot` into `cell` unless that slot is already written, incrementing the
    /// record's count, in one atomic conditional write.
    async fn settle(&self, cell: &Cell, slot: &Slot) -> Result<Settled, BackendError>;

    /// Store continuations for `cell`, each under its name (adding the same name
    /// twice stores it once), unless the slot is written; then return what is there
    /// and store nothing.
    async fn add_continuations(
        &self,
        cell: &Cell,
        conts: &[(String, Cont)],
    ) -> Result<Option<Slot>, BackendError>;

    /// Read one record.
    async fn read(&self, key: &str) -> Result<Option<Record>, BackendError>;

    /// Store a large text out of line under `key` (which nobody else writes).
    async fn put_blob(&self, key: &str, text: &str) -> Result<(), BackendError>;

    /// Read a text stored with [`Store::put_blob`].
    async fn get_blob(&self, key: &str) -> Result<Option<String>, BackendError>;

    /// Settle several slots of the record `key` in one atomic conditional write, if
    /// none of them is written yet. Returns, in order, what [`Store::settle`] would
    /// have returned for each had they been written one after another (all `Won`,
    /// each with the count after its own write), or `None` if any of them was
    /// already written: then nothing is written and the caller settles them one by
    /// one. Stores that cannot write several slots at once return `None`.
    async fn settle_together(
        &self,
        key: &str,
        slots: &[(u32, Slot)],
    ) -> Result<Option<Vec<Settled>>, BackendError> {
        let _ = (key, slots);
        Ok(None)
    }

    /// Read many records, in order.
    async fn read_many(&self, keys: &[String]) -> Result<Vec<Option<Record>>, BackendError> {
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            out.push(self.read(key).await?);
        }
        Ok(out)
    }

    /// Replace the [`Note`] kept for `cell` (one unconditional write). A store that
    /// does not keep notes ignores it: progress and the children of pending steps
    /// are then not visible, and nothing else changes.
    async fn note(&self, cell: &Cell, note: &Note) -> Result<(), BackendError> {
        let _ = (cell, note);
        Ok(())
    }
}

/// The name a continuation is stored under: the id it settles.
pub(crate) fn cont_name(cont: &Cont) -> String {
    match cont {
        Cont::Then { id, .. } => id.to_string(),
        Cont::Settle { target, .. } => target.id().to_string(),
    }
}
