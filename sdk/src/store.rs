//! The store seam: where outcomes are settled exactly once and joins are counted.
//!
//! A store holds *records* keyed by a string. A record has numbered *slots*, a
//! count of written slots, and per-slot continuations added after creation.
//! A plain promise is slot 0 of the record named by its id. A join's members live
//! in shard records of [`FAN_IN`] slots each (`<join>#0#<shard>`), and completed
//! shards are counted in records one level up, so no record grows with the number
//! of members and no record is written more than [`FAN_IN`] times per join
//! (plus once, when the join completes, to set its TTL: rule 9).

use crate::error::BackendError;
use crate::id::PromiseId;
use crate::timer_index::{IndexedTimer, SweepCursor};
use crate::wire::{Cont, Slot};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Slots per join shard record.
pub const FAN_IN: u32 = 16;

/// The largest piece of a blob stored in one item: well under [`ITEM_LIMIT`],
/// leaving room for the key and the other attributes.
pub const BLOB_CHUNK: usize = 300 * 1024;

/// DynamoDB's limit on the size of one item (attribute names plus values, as
/// `vow::aws::cost::item_size` counts them). Both stores refuse a write that
/// would take an item past it.
pub const ITEM_LIMIT: usize = 400 * 1024;

/// Bytes of continuations (attribute names plus encoded values) that may be
/// stored on one record by [`Store::add_continuations`], so that continuations
/// added after a promise was sent cannot grow its record without limit.
/// Every add counts, including one that re-adds names already stored (the
/// count is kept by an atomic `ADD` that cannot see which names are new), so
/// the budget is conservative; an add that finds the budget used up still
/// succeeds if every continuation it carries is already stored as given (a
/// retried add).
pub const LATER_BUDGET: usize = 64 * 1024;

/// The key of chunk `index` of the blob whose head is at `key`: `key~index`.
/// Head keys never contain `~` (see [`Store::put_blob`]), so a chunk key never
/// equals a head key or a record key, and the chunks of two blobs never coincide.
pub fn blob_chunk_key(key: &str, index: usize) -> String {
    format!("{key}~{index}")
}

/// The character that separates a blob's key from its chunk number.
pub const CHUNK_SEPARATOR: char = '~';

/// Split `text` on character boundaries into pieces of at most `max` bytes (at
/// least one piece, empty for an empty text). A piece is longer than `max` only
/// when `max` is shorter than one character; then it holds that one character.
pub fn split_chunks(text: &str, max: usize) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(first) = rest.chars().next() {
        let mut end = rest.len().min(max);
        while end > 0 && !rest.is_char_boundary(end) {
            end -= 1;
        }
        if end == 0 {
            end = first.len_utf8();
        }
        let (piece, tail) = rest.split_at(end);
        out.push(piece);
        rest = tail;
    }
    if out.is_empty() {
        out.push("");
    }
    out
}

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

/// Whether `key` is a join's shard record ([`shard_key`]: a join id of 32 hex
/// digits, then `#<level>#<shard>`). No other key has this form: promise
/// records are ids (no `#`), blob keys start with `vow-`.
///
/// Rule 9: a shard record gets no TTL when a slot of it settles, since the
/// join reads it when it completes, however long after; the join's completion
/// sets it ([`Store::expire_record`]).
pub fn is_shard_key(key: &str) -> bool {
    let mut parts = key.split('#');
    let (Some(join), Some(level), Some(shard), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    !join.contains('.')
        && PromiseId::parse(join).is_ok()
        && level.parse::<u32>().is_ok()
        && shard.parse::<u32>().is_ok()
}

/// How long records and stored values live once nothing pending refers to
/// them, unless configured (`VOW_RECORD_TTL_DAYS`): 30 days.
pub const DEFAULT_RECORD_TTL: std::time::Duration = std::time::Duration::from_secs(30 * 86_400);

/// The fewest days a record may live (`VOW_RECORD_TTL_DAYS`, the builder's
/// `record_ttl`): longer than the work queue's message retention (14 days at
/// most), so that no message outlives the record it settles. The SAM template
/// and the Terraform module accept the same range (tests/infra checks it).
pub const MIN_RECORD_TTL_DAYS: u64 = 15;
/// The most days a record may live (ten years).
pub const MAX_RECORD_TTL_DAYS: u64 = 3_650;

/// The slot of the promise `id`, if it is settled, and its note, if it has
/// one: one read of `store`.
pub(crate) async fn slot_and_note(
    store: &dyn Store,
    id: &PromiseId,
) -> Result<(Option<Slot>, Option<Note>), BackendError> {
    let cell = Cell::of(id);
    Ok(match store.read(&cell.key).await? {
        Some(mut r) => (r.slots.remove(&cell.slot), r.notes.remove(&cell.slot)),
        None => (None, None),
    })
}

/// `VOW_RECORD_TTL_DAYS` as a duration when it is a whole number of days from
/// [`MIN_RECORD_TTL_DAYS`] to [`MAX_RECORD_TTL_DAYS`], else
/// [`DEFAULT_RECORD_TTL`] (the AWS builder refuses other values; the embedded
/// backend falls back).
pub(crate) fn record_ttl_or_default() -> std::time::Duration {
    std::env::var("VOW_RECORD_TTL_DAYS")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|days| (MIN_RECORD_TTL_DAYS..=MAX_RECORD_TTL_DAYS).contains(days))
        .map_or(DEFAULT_RECORD_TTL, |days| {
            std::time::Duration::from_secs(days * 86_400)
        })
}

/// A record as read back.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Record {
    /// Written slots.
    pub slots: BTreeMap<u32, Slot>,
    /// How many slots are written.
    pub count: u32,
    /// Continuations stored for slots not yet written, each with the name it
    /// was stored under (which, when the deployment signs, carries its MAC).
    pub later: BTreeMap<u32, Vec<(String, Cont)>>,
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
    /// For a sleep or a callback: when its timer settles it, in milliseconds
    /// since the Unix epoch.
    #[serde(rename = "w", default, skip_serializing_if = "Option::is_none")]
    pub wakes_at: Option<u64>,
    /// For a callback: it may be resolved from outside ([`crate::Vow::resolve`],
    /// `vow resolve`, a resolve message); nothing else may.
    #[serde(rename = "r", default, skip_serializing_if = "std::ops::Not::not")]
    pub resolvable: bool,
    /// For a callback with a heartbeat: the heartbeat timeout, in milliseconds.
    #[serde(rename = "h", default, skip_serializing_if = "Option::is_none")]
    pub heartbeat_ms: Option<u64>,
    /// For a callback with a heartbeat: the last beat, in milliseconds since
    /// the Unix epoch.
    #[serde(rename = "b", default, skip_serializing_if = "Option::is_none")]
    pub beat_at: Option<u64>,
    /// Its task ran, adopted another promise and sent everything it made:
    /// nothing is left for another run of its message to do.
    #[serde(rename = "o", default, skip_serializing_if = "std::ops::Not::not")]
    pub handed_over: bool,
    /// Its task returned a value and sent everything its run made, and its
    /// settle comes next (written only for tasks that ask for the mark: a
    /// schedule's tick, whose slot another writer may settle first).
    #[serde(rename = "s", default, skip_serializing_if = "std::ops::Not::not")]
    pub sent: bool,
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
        later: Vec<(String, Cont)>,
    },
    /// The slot was already written: by `slot.by`, with `slot.outcome`.
    Lost {
        /// What is there.
        slot: Slot,
        /// Written slots in the record.
        count: u32,
        /// Continuations that were stored for the slot.
        later: Vec<(String, Cont)>,
    },
}

/// A record read by [`Store::scan_records`], under its key: decoded, or why not.
pub type ScannedRecord = (String, Result<Record, BackendError>);

/// One page of a scan ([`Store::scan_records`], [`Store::scan_timers`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Page<T> {
    /// What the page holds.
    pub items: Vec<T>,
    /// Where the next page starts; `None` after the last page.
    pub next: Option<String>,
}

impl<T> Default for Page<T> {
    fn default() -> Self {
        Page {
            items: Vec::new(),
            next: None,
        }
    }
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
    ///
    /// The continuations stored on one record are limited to [`LATER_BUDGET`]
    /// bytes: an add that would pass it fails with a fatal error (unless the slot
    /// is written, or everything it adds is already stored). The check and the
    /// write are one atomic conditional write.
    async fn add_continuations(
        &self,
        cell: &Cell,
        conts: &[(String, Cont)],
    ) -> Result<Option<Slot>, BackendError>;

    /// [`Store::add_continuations`] and [`Store::note`] in one write: what a
    /// sleep or a callback leaves in its record when its flow starts (its
    /// successors, and a note of its deadline and of whether it may be
    /// resolved from outside). Like `add_continuations`, it stores nothing and
    /// returns the slot if the slot is written.
    async fn wait_with(
        &self,
        cell: &Cell,
        conts: &[(String, Cont)],
        note: &Note,
    ) -> Result<Option<Slot>, BackendError> {
        if !conts.is_empty() {
            if let Some(slot) = self.add_continuations(cell, conts).await? {
                return Ok(Some(slot));
            }
        }
        self.note(cell, note).await?;
        Ok(None)
    }

    /// Read one record.
    async fn read(&self, key: &str) -> Result<Option<Record>, BackendError>;

    /// Store a large text out of line under `key`.
    ///
    /// The text is split with [`split_chunks`] into pieces of [`BLOB_CHUNK`] bytes,
    /// each stored in its own item at [`blob_chunk_key`]`(key, i)` (`key~i`); the
    /// head item at `key`, which says how many chunks there are, is written last,
    /// so a blob is readable only once it is complete. Keys never contain `~`
    /// (the engine's are `vow-msg#<64 hex>` and `vow-val#<64 hex>`): a key that
    /// does is refused, since its head could be another blob's chunk.
    ///
    /// Stored values are immutable. Keys are content-addressed (the same key
    /// always carries the same text), so a retried put writes identical bytes;
    /// a put of an existing key with a *different* text is an engine bug and
    /// fails with a fatal error (the memory store compares the texts; DynamoDB
    /// writes each item on condition that it is new or holds the same value).
    async fn put_blob(&self, key: &str, text: &str) -> Result<(), BackendError>;

    /// Read a text stored with [`Store::put_blob`].
    async fn get_blob(&self, key: &str) -> Result<Option<String>, BackendError>;

    /// [`Store::put_blob`] for a value that a pending join member's slot will
    /// refer to: its items get no TTL (and an existing copy loses its TTL), so
    /// the value lives until the join completes and [`Store::expire_blob`]
    /// gives it one (rule 9). A store without TTLs puts it as usual.
    async fn put_blob_held(&self, key: &str, text: &str) -> Result<(), BackendError> {
        self.put_blob(key, text).await
    }

    /// Take the TTL off the blob at `key` (head and chunks), for a pending join
    /// member's slot that is about to refer to a value stored earlier (an
    /// outcome copied into a member, whose blob was put with a TTL). Returns
    /// whether the blob is there. A store without TTLs only says it is.
    async fn hold_blob(&self, key: &str) -> Result<bool, BackendError> {
        Ok(self.get_blob(key).await?.is_some())
    }

    /// Give the record at `key` the TTL `now + ttl`, unless it has a later one
    /// (one conditional write; nothing if it is missing). A completed join's
    /// shard records get theirs this way (rule 9).
    async fn expire_record(&self, key: &str) -> Result<(), BackendError> {
        let _ = key;
        Ok(())
    }

    /// Give the blob at `key` (head and chunks) the TTL `now + ttl`, unless it
    /// has a later one; nothing if it is missing. A completed join's members'
    /// stored values get theirs this way (rule 9).
    async fn expire_blob(&self, key: &str) -> Result<(), BackendError> {
        let _ = key;
        Ok(())
    }

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

    /// Whether this store keeps the timer index ([`crate::timer_index`]). A
    /// store that does not makes far timers wait in the queue instead, in hops
    /// of at most 15 minutes, each a queue round trip.
    fn indexes_timers(&self) -> bool {
        false
    }

    /// Write `timer` into the index (one write; writing the same timer again
    /// keeps one). Only called when [`Store::indexes_timers`].
    async fn put_timer(&self, timer: &IndexedTimer) -> Result<(), BackendError> {
        let _ = timer;
        Err(BackendError::fatal("this store keeps no timer index"))
    }

    /// Every timer in `shard` of minute `bucket`, read strongly consistently:
    /// every write acknowledged before the call began is seen.
    async fn timers_in(&self, bucket: u64, shard: u32) -> Result<Vec<IndexedTimer>, BackendError> {
        let _ = (bucket, shard);
        Ok(Vec::new())
    }

    /// The sweep's cursor, read strongly consistently (`None` before the first).
    async fn sweep_cursor(&self) -> Result<Option<SweepCursor>, BackendError> {
        Ok(None)
    }

    /// One page of the promise records, in key order, for the upgrade check
    /// ([`crate::upgrade::check_store`]): up to `limit` records after the
    /// cursor `from` (`None`: from the start), and the cursor of the next page
    /// (`None`: no more). Blobs are skipped. A record that does not decode
    /// comes as its error, for the check to report rather than stop at. A
    /// store that cannot be scanned says so.
    async fn scan_records(
        &self,
        from: Option<&str>,
        limit: usize,
    ) -> Result<Page<ScannedRecord>, BackendError> {
        let _ = (from, limit);
        Err(BackendError::fatal("this store cannot be scanned"))
    }

    /// One page of the timer index ([`Store::scan_records`]'s rules; a store
    /// that keeps no index has none).
    async fn scan_timers(
        &self,
        from: Option<&str>,
        limit: usize,
    ) -> Result<Page<IndexedTimer>, BackendError> {
        let _ = (from, limit);
        if self.indexes_timers() {
            return Err(BackendError::fatal(
                "this store's timer index cannot be scanned",
            ));
        }
        Ok(Page::default())
    }

    /// Replace the cursor `from` (`None`: there is none yet) by `to`, in one
    /// conditional write: `false`, and nothing written, if the cursor is no
    /// longer `from`.
    async fn move_cursor(
        &self,
        from: Option<&SweepCursor>,
        to: &SweepCursor,
    ) -> Result<bool, BackendError> {
        let _ = (from, to);
        Ok(false)
    }
}

/// The size DynamoDB counts for the number `n` (decimal text): one byte per two
/// significant digits, plus one.
pub(crate) fn number_size(n: &str) -> usize {
    let digits = n
        .trim_start_matches(['-', '+'])
        .split(['e', 'E'])
        .next()
        .unwrap_or("")
        .replace('.', "");
    let significant = digits.trim_start_matches('0').trim_end_matches('0').len();
    significant.div_ceil(2) + 1
}

/// The error for an add of continuations past [`LATER_BUDGET`].
pub(crate) fn over_budget(key: &str) -> BackendError {
    BackendError::fatal(format!(
        "promise record {key} has too many continuations stored after it was sent \
         (more than {LATER_BUDGET} bytes): attach successors before starting the flow"
    ))
}

/// The error for a write that would take an item past [`ITEM_LIMIT`].
pub(crate) fn too_large(key: &str, size: usize) -> BackendError {
    BackendError::fatal(format!(
        "item {key} would exceed DynamoDB's 400 KB item limit ({size} bytes)"
    ))
}

/// The error for a blob key that contains [`CHUNK_SEPARATOR`].
pub(crate) fn check_blob_key(key: &str) -> Result<(), BackendError> {
    if key.contains(CHUNK_SEPARATOR) {
        return Err(BackendError::fatal(format!(
            "blob key {key} contains `{CHUNK_SEPARATOR}`, which separates chunk numbers"
        )));
    }
    Ok(())
}

/// The name a continuation is stored under: the id it settles.
pub(crate) fn cont_name(cont: &Cont) -> String {
    match cont {
        Cont::Then { id, .. } => id.to_string(),
        Cont::Settle { target, .. } => target.id().to_string(),
    }
}

/// Claim `id` for the writer `token` with one conditional write of its slot,
/// holding `what`: `true` if `token` holds it (by this write, or an earlier
/// one under the same token: a retry), `false` if another token took it
/// first. Named starts and schedule firings are claimed this way.
pub(crate) async fn claim(
    store: &dyn Store,
    id: &PromiseId,
    token: &str,
    what: serde_json::Value,
) -> Result<bool, BackendError> {
    let slot = Slot::new(crate::wire::Outcome::Ok(what), token);
    Ok(match store.settle(&Cell::of(id), &slot).await? {
        Settled::Won { .. } => true,
        Settled::Lost { slot, .. } => slot.by == token,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_split_on_character_boundaries() {
        let text = "aé€😀".repeat(1000);
        let parts = split_chunks(&text, 7);
        assert!(parts.iter().all(|p| p.len() <= 7 && !p.is_empty()));
        assert_eq!(parts.concat(), text);
        assert_eq!(split_chunks("", 5), vec![""]);
        // A limit shorter than a character still makes progress.
        assert_eq!(split_chunks("😀é", 1), vec!["😀", "é"]);
        assert_eq!(split_chunks("ab", 0), vec!["a", "b"]);
    }

    #[test]
    fn shard_keys_are_told_from_other_keys() {
        let join = PromiseId::random();
        assert!(is_shard_key(&shard_key(&join, 0, 3)));
        assert!(is_shard_key(&shard_key(&join, 2, 0)));
        assert!(!is_shard_key(join.as_str()));
        assert!(!is_shard_key(join.member(1).as_str()));
        assert!(!is_shard_key(&format!("{}#0#1", join.member(1))));
        assert!(!is_shard_key(&format!("{join}#0#1#2")));
        assert!(!is_shard_key(&format!("{join}#x#1")));
        assert!(!is_shard_key("vow-val#00#1"));
        assert!(!is_shard_key(&blob_chunk_key(&shard_key(&join, 0, 0), 1)));
    }

    #[test]
    fn chunk_keys_never_equal_head_keys() {
        assert_eq!(blob_chunk_key("vow-val#ab", 3), "vow-val#ab~3");
        assert!(check_blob_key(&blob_chunk_key("k", 0)).is_err());
        assert!(check_blob_key("vow-msg#00").is_ok());
    }
}
