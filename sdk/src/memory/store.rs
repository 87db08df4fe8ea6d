use crate::clock::{epoch_millis, Clock};
use crate::error::BackendError;
use crate::store::{
    blob_chunk_key, check_blob_key, is_shard_key, number_size, over_budget, split_chunks,
    too_large, Cell, Note, Page, Record, ScannedRecord, Settled, Store, BLOB_CHUNK,
    DEFAULT_RECORD_TTL, ITEM_LIMIT, LATER_BUDGET,
};
use crate::timer_index::{IndexedTimer, SweepCursor};
use crate::wire::{Cont, Slot};
use async_trait::async_trait;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime};

/// A [`Store`] in a `HashMap`, laid out and limited the way `DynamoStore`
/// is on DynamoDB, so that tests run in memory meet the same failures:
///
/// - one key space of items: records, blob heads and blob chunks;
/// - slots, continuations and notes kept encoded, one attribute each, and the
///   size of every item counted as DynamoDB counts it (attribute names plus
///   values, with the `pk`, `n`, `ttl` and `lb` attributes DynamoDB would hold):
///   a write that would take an item past [`ITEM_LIMIT`] fails and changes nothing;
/// - continuations added to a pending record limited to [`LATER_BUDGET`] bytes;
/// - blobs split into chunk items of [`BLOB_CHUNK`] bytes plus a head written
///   last; a missing chunk is an error;
/// - stored values immutable: a blob put over an item holding something else fails;
/// - time to live kept per item exactly as `DynamoStore` writes it (a settle
///   sets `now + ttl`, except on join shard records; adds of continuations and
///   notes leave it; blobs get `now + ttl` when put, none when held for a
///   pending join; [`Store::expire_record`] and [`Store::expire_blob`] set it
///   unless it is later), and an item whose TTL has passed is gone: DynamoDB
///   deletes expired items within days, and tests see the worst case. Time is
///   the embedded clock's, so [`crate::Vow::skip_time`] expires items.
#[derive(Debug)]
pub struct MemoryStore {
    items: Mutex<Table>,
    writes: std::sync::atomic::AtomicU64,
    ttl: Duration,
    clock: OnceLock<Clock>,
    timers: Mutex<Timers>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore {
            items: Mutex::default(),
            writes: Default::default(),
            ttl: DEFAULT_RECORD_TTL,
            clock: OnceLock::new(),
            timers: Mutex::default(),
        }
    }
}

/// The items, and the TTL (epoch seconds) of those that have one.
#[derive(Debug, Default)]
struct Table {
    items: HashMap<String, Item>,
    ttl: HashMap<String, u64>,
}

impl Table {
    /// Drop `key` if its TTL has passed at `now` (epoch seconds), as DynamoDB's
    /// TTL deletion would.
    fn purge(&mut self, key: &str, now: u64) {
        if self.ttl.get(key).is_some_and(|at| *at < now) {
            self.ttl.remove(key);
            self.items.remove(key);
        }
    }

    /// Set `key`'s TTL to `at` unless it has none (held) or a later one.
    fn raise(&mut self, key: &str, at: u64) {
        if let Some(old) = self.ttl.get_mut(key) {
            *old = (*old).max(at);
        }
    }

    /// Set `key`'s TTL to `at` unless it has a later one, if `key` is there.
    fn expire_at(&mut self, key: &str, at: u64) {
        if self.items.contains_key(key) {
            let old = self.ttl.entry(key.to_owned()).or_insert(at);
            *old = (*old).max(at);
        }
    }
}

/// The timer index, as a table of its own would hold it.
#[derive(Debug, Default)]
struct Timers {
    /// Partition (`<minute>#<shard>`) -> timer name -> timer.
    parts: BTreeMap<(u64, u32), BTreeMap<String, IndexedTimer>>,
    cursor: Option<SweepCursor>,
}

/// Minutes a swept minute's timers are kept (as DynamoDB's TTL keeps them a
/// while), so that a sweep taking over a dead one still finds them.
const SWEPT_KEPT_MINUTES: u64 = 60;

/// One item, as DynamoDB would hold it.
#[derive(Debug, PartialEq)]
enum Item {
    /// A promise record.
    Record(Stored),
    /// A blob's head: how many chunks it has.
    Head { chunks: usize },
    /// One chunk of a blob.
    Chunk(String),
}

#[derive(Debug, Default, PartialEq)]
struct Stored {
    slots: BTreeMap<u32, String>,
    later: BTreeMap<u32, BTreeMap<String, String>>,
    notes: BTreeMap<u32, String>,
    /// Bytes of continuations counted against [`LATER_BUDGET`] (DynamoDB's `lb`).
    budget_used: Option<usize>,
}

/// The size of the key attribute `pk` holding `key`.
fn key_size(key: &str) -> usize {
    "pk".len() + key.len()
}

/// The size of a `ttl` attribute: epoch seconds have ten digits until 2286.
const TTL_SIZE: usize = "ttl".len() + 6;

fn size_of_number(n: usize) -> usize {
    number_size(&n.to_string())
}

impl Stored {
    fn count(&self) -> u32 {
        u32::try_from(self.slots.len()).unwrap_or(u32::MAX)
    }

    fn is_empty(&self) -> bool {
        self.slots.is_empty()
            && self.later.is_empty()
            && self.notes.is_empty()
            && self.budget_used.is_none()
    }

    /// The item's size as DynamoDB counts it. A settle sets the count `n` and
    /// the `ttl`; adding continuations sets `lb`.
    fn size(&self, key: &str) -> usize {
        let slots: usize = self
            .slots
            .iter()
            .map(|(n, text)| slot_attr_len(*n) + text.len())
            .sum();
        let later: usize = self
            .later
            .iter()
            .flat_map(|(n, named)| {
                named
                    .iter()
                    .map(move |(name, text)| cont_attr_len(*n, name) + text.len())
            })
            .sum();
        let notes: usize = self
            .notes
            .iter()
            .map(|(n, text)| slot_attr_len(*n) + text.len())
            .sum();
        let settled = if self.slots.is_empty() {
            0
        } else {
            "n".len() + size_of_number(self.slots.len()) + TTL_SIZE
        };
        let budget = self
            .budget_used
            .map_or(0, |used| "lb".len() + size_of_number(used));
        key_size(key) + slots + later + notes + settled + budget
    }

    fn check_size(&self, key: &str) -> Result<(), BackendError> {
        match self.size(key) {
            size if size > ITEM_LIMIT => Err(too_large(key, size)),
            _ => Ok(()),
        }
    }
}

/// The length of the attribute name `s<k>` (and `p<k>`).
fn slot_attr_len(slot: u32) -> usize {
    1 + slot.to_string().len()
}

/// The length of the attribute name `c<k>_<name>`.
fn cont_attr_len(slot: u32, name: &str) -> usize {
    2 + slot.to_string().len() + name.len()
}

impl Item {
    fn size(&self, key: &str) -> usize {
        match self {
            Item::Record(stored) => stored.size(key),
            Item::Head { chunks } => {
                key_size(key) + TTL_SIZE + "chunks".len() + size_of_number(*chunks)
            }
            Item::Chunk(text) => key_size(key) + TTL_SIZE + "b".len() + text.len(),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Item::Record(_) => "a promise record",
            Item::Head { .. } => "a blob head",
            Item::Chunk(_) => "a blob chunk",
        }
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records and blobs expire `ttl` after nothing pending refers to them
    /// (30 days unless set; the embedded backend uses
    /// [`crate::EmbeddedConfig::record_ttl`]).
    pub fn with_record_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Measure TTLs against `clock` (the embedded engine's, which
    /// [`crate::Vow::skip_time`] moves) instead of the system clock. The first
    /// clock given stays.
    pub(crate) fn use_clock(&self, clock: Clock) {
        let _ = self.clock.set(clock);
    }

    /// Now, in epoch seconds, on this store's clock.
    fn now(&self) -> u64 {
        let now = self.clock.get().map_or_else(SystemTime::now, Clock::now);
        epoch_millis(now) / 1_000
    }

    /// The TTL of an item whose time to live starts now.
    fn expiry(&self) -> u64 {
        self.now().saturating_add(self.ttl.as_secs())
    }

    /// Drop the record or blob under `key`, as DynamoDB's TTL would once it
    /// expires (for tests of what happens after).
    pub fn expire(&self, key: &str) {
        let mut table = self.lock();
        table.items.remove(key);
        table.ttl.remove(key);
    }

    /// The TTL of the item at `key` in epoch seconds, if it is there and has
    /// one (for tests: `None` for a missing item or one that never expires).
    pub fn ttl_of(&self, key: &str) -> Option<u64> {
        let now = self.now();
        let mut table = self.lock();
        table.purge(key, now);
        table.ttl.get(key).copied()
    }

    /// Whether an item is stored at `key` (its TTL not passed).
    pub fn contains(&self, key: &str) -> bool {
        let now = self.now();
        let mut table = self.lock();
        table.purge(key, now);
        table.items.contains_key(key)
    }

    /// Writes attempted so far (successful or not), one per item written.
    pub fn writes(&self) -> u64 {
        self.writes.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The largest record, in slots: no record grows with the size of a join.
    pub fn largest_record(&self) -> usize {
        self.lock()
            .items
            .values()
            .map(|item| match item {
                Item::Record(r) => r.slots.len(),
                _ => 0,
            })
            .max()
            .unwrap_or(0)
    }

    /// Every item's key and its size as DynamoDB would count it: records, blob
    /// heads and blob chunks (`key~i`). For tests and inspection.
    pub fn item_sizes(&self) -> BTreeMap<String, usize> {
        let now = self.now();
        let table = self.lock();
        table
            .items
            .iter()
            .filter(|(key, _)| table.ttl.get(*key).is_none_or(|at| *at >= now))
            .map(|(key, item)| (key.clone(), item.size(key)))
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.items.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn count_write(&self) {
        self.writes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// Put one blob item, refusing one over the item limit or one that would
    /// replace a different value. Held (`held`): the item has no TTL, and an
    /// existing copy loses its own. Else a new item expires `ttl` from now and
    /// an existing one keeps the later of its TTL and that (none stays none).
    fn put_item(&self, key: String, item: Item, held: bool) -> Result<(), BackendError> {
        self.count_write();
        let size = item.size(&key);
        if size > ITEM_LIMIT {
            return Err(too_large(&key, size));
        }
        let (now, at) = (self.now(), self.expiry());
        let mut table = self.lock();
        table.purge(&key, now);
        match table.items.get(&key) {
            Some(existing) if *existing != item => {
                return Err(BackendError::fatal(format!(
                    "item {key} already holds {} with a different value: stored values are \
                     immutable and keys are content-addressed (a bug in the engine)",
                    existing.kind()
                )))
            }
            Some(_) if held => {
                table.ttl.remove(&key);
            }
            Some(_) => table.raise(&key, at),
            None => {
                if !held {
                    table.ttl.insert(key.clone(), at);
                }
                table.items.insert(key, item);
            }
        }
        Ok(())
    }

    /// Put a blob, chunks first and the head last, held or not (see
    /// [`MemoryStore::put_item`]).
    fn put(&self, key: &str, text: &str, held: bool) -> Result<(), BackendError> {
        check_blob_key(key)?;
        let chunks = split_chunks(text, BLOB_CHUNK);
        for (i, chunk) in chunks.iter().enumerate() {
            self.put_item(
                blob_chunk_key(key, i),
                Item::Chunk((*chunk).to_owned()),
                held,
            )?;
        }
        // The head goes last: a blob is readable once it is complete.
        self.put_item(
            key.to_owned(),
            Item::Head {
                chunks: chunks.len(),
            },
            held,
        )
    }

    /// The number of chunks of the blob whose head is at `key`, if it is there.
    fn chunks_of(table: &Table, key: &str) -> Option<usize> {
        match table.items.get(key) {
            Some(Item::Head { chunks }) => Some(*chunks),
            _ => None,
        }
    }
}

/// The record at `key`, created empty if there is none; an error if `key`
/// holds a blob item.
fn record<'a>(
    items: &'a mut HashMap<String, Item>,
    key: &str,
) -> Result<&'a mut Stored, BackendError> {
    match items
        .entry(key.to_owned())
        .or_insert_with(|| Item::Record(Stored::default()))
    {
        Item::Record(stored) => Ok(stored),
        other => Err(BackendError::fatal(format!(
            "item {key} is {}, not a promise record: keys of different kinds coincide \
             (a bug in the engine)",
            other.kind()
        ))),
    }
}

/// Drop the record at `key` if a refused write left it empty (it did not exist).
fn forget_if_empty(items: &mut HashMap<String, Item>, key: &str) {
    if matches!(items.get(key), Some(Item::Record(stored)) if stored.is_empty()) {
        items.remove(key);
    }
}

/// A settle of the record `key` won: it expires `at`, as every settle's write
/// sets on DynamoDB, except a join's shard record, which the join's
/// completion gives a TTL (rule 9).
fn settled_ttl(ttl: &mut HashMap<String, u64>, key: &str, at: u64) {
    if !is_shard_key(key) {
        ttl.insert(key.to_owned(), at);
    }
}

fn decode<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, BackendError> {
    serde_json::from_str(text).map_err(|e| BackendError::fatal(format!("corrupt record: {e}")))
}

fn encode<T: serde::Serialize>(value: &T) -> Result<String, BackendError> {
    serde_json::to_string(value).map_err(|e| BackendError::fatal(format!("unencodable: {e}")))
}

fn record_of(stored: &Stored) -> Result<Record, BackendError> {
    let mut slots = BTreeMap::new();
    for (n, text) in &stored.slots {
        slots.insert(*n, decode(text)?);
    }
    let mut later = BTreeMap::new();
    for n in stored.later.keys() {
        later.insert(*n, later_of(stored, *n)?);
    }
    let mut notes = BTreeMap::new();
    for (n, text) in &stored.notes {
        notes.insert(*n, decode(text)?);
    }
    Ok(Record {
        count: u32::try_from(slots.len()).unwrap_or(u32::MAX),
        slots,
        later,
        notes,
    })
}

fn later_of(stored: &Stored, slot: u32) -> Result<Vec<(String, Cont)>, BackendError> {
    stored
        .later
        .get(&slot)
        .map(|m| {
            m.iter()
                .map(|(name, c)| Ok((name.clone(), decode(c)?)))
                .collect()
        })
        .unwrap_or_else(|| Ok(Vec::new()))
}

#[async_trait]
impl Store for MemoryStore {
    async fn settle(&self, cell: &Cell, slot: &Slot) -> Result<Settled, BackendError> {
        self.count_write();
        let text = encode(slot)?;
        let (now, at) = (self.now(), self.expiry());
        let mut table = self.lock();
        table.purge(&cell.key, now);
        let Table { items, ttl } = &mut *table;
        let stored = record(items, &cell.key)?;
        let later = later_of(stored, cell.slot)?;
        let count = stored.count();
        if let Some(existing) = stored.slots.get(&cell.slot) {
            return Ok(Settled::Lost {
                slot: decode(existing)?,
                count,
                later,
            });
        }
        stored.slots.insert(cell.slot, text);
        if let Err(e) = stored.check_size(&cell.key) {
            stored.slots.remove(&cell.slot);
            forget_if_empty(items, &cell.key);
            return Err(e);
        }
        let count = stored.count();
        settled_ttl(ttl, &cell.key, at);
        Ok(Settled::Won { count, later })
    }

    async fn settle_together(
        &self,
        key: &str,
        slots: &[(u32, Slot)],
    ) -> Result<Option<Vec<Settled>>, BackendError> {
        self.count_write();
        let texts = slots
            .iter()
            .map(|(n, slot)| Ok((*n, encode(slot)?)))
            .collect::<Result<Vec<_>, BackendError>>()?;
        let mut distinct: Vec<u32> = texts.iter().map(|(n, _)| *n).collect();
        distinct.sort_unstable();
        distinct.dedup();
        if distinct.len() != texts.len() {
            return Err(BackendError::fatal(format!("a slot of {key} given twice")));
        }
        let (now, at) = (self.now(), self.expiry());
        let mut table = self.lock();
        table.purge(key, now);
        let Table { items, ttl } = &mut *table;
        let stored = record(items, key)?;
        if texts.iter().any(|(n, _)| stored.slots.contains_key(n)) {
            return Ok(None);
        }
        let mut settled = Vec::with_capacity(texts.len());
        for (n, text) in texts {
            let later = later_of(stored, n)?;
            stored.slots.insert(n, text);
            settled.push(Settled::Won {
                count: stored.count(),
                later,
            });
        }
        if let Err(e) = stored.check_size(key) {
            for n in &distinct {
                stored.slots.remove(n);
            }
            forget_if_empty(items, key);
            return Err(e);
        }
        settled_ttl(ttl, key, at);
        Ok(Some(settled))
    }

    async fn add_continuations(
        &self,
        cell: &Cell,
        conts: &[(String, Cont)],
    ) -> Result<Option<Slot>, BackendError> {
        let encoded = conts
            .iter()
            .map(|(name, cont)| Ok((name.clone(), encode(cont)?)))
            .collect::<Result<Vec<_>, BackendError>>()?;
        let now = self.now();
        let mut table = self.lock();
        table.purge(&cell.key, now);
        let items = &mut table.items;
        if encoded.is_empty() {
            // Nothing to store: only look (DynamoDB reads).
            return match items.get(&cell.key) {
                Some(Item::Record(stored)) => {
                    stored.slots.get(&cell.slot).map(|s| decode(s)).transpose()
                }
                _ => Ok(None),
            };
        }
        self.count_write();
        let stored = record(items, &cell.key)?;
        if let Some(existing) = stored.slots.get(&cell.slot) {
            return Ok(Some(decode(existing)?));
        }
        let size: usize = encoded
            .iter()
            .map(|(name, text)| cont_attr_len(cell.slot, name) + text.len())
            .sum();
        let used = stored.budget_used.unwrap_or(0);
        if used.saturating_add(size) > LATER_BUDGET {
            let stored_already = stored.later.get(&cell.slot).is_some_and(|named| {
                encoded
                    .iter()
                    .all(|(name, text)| named.get(name) == Some(text))
            });
            forget_if_empty(items, &cell.key);
            return if stored_already {
                Ok(None)
            } else {
                Err(over_budget(&cell.key))
            };
        }
        let before_budget = stored.budget_used;
        let later = stored.later.entry(cell.slot).or_default();
        let mut replaced = Vec::with_capacity(encoded.len());
        for (name, text) in encoded {
            let old = later.insert(name.clone(), text);
            replaced.push((name, old));
        }
        stored.budget_used = Some(used + size);
        if let Err(e) = stored.check_size(&cell.key) {
            stored.budget_used = before_budget;
            if let Some(later) = stored.later.get_mut(&cell.slot) {
                for (name, old) in replaced.into_iter().rev() {
                    match old {
                        Some(text) => later.insert(name, text),
                        None => later.remove(&name),
                    };
                }
                if later.is_empty() {
                    stored.later.remove(&cell.slot);
                }
            }
            forget_if_empty(items, &cell.key);
            return Err(e);
        }
        Ok(None)
    }

    async fn put_blob(&self, key: &str, text: &str) -> Result<(), BackendError> {
        self.put(key, text, false)
    }

    async fn put_blob_held(&self, key: &str, text: &str) -> Result<(), BackendError> {
        self.put(key, text, true)
    }

    async fn hold_blob(&self, key: &str) -> Result<bool, BackendError> {
        let now = self.now();
        let mut table = self.lock();
        table.purge(key, now);
        self.count_write();
        let Some(chunks) = Self::chunks_of(&table, key) else {
            return Ok(false);
        };
        table.ttl.remove(key);
        for i in 0..chunks {
            let chunk = blob_chunk_key(key, i);
            self.count_write();
            table.purge(&chunk, now);
            table.ttl.remove(&chunk);
        }
        Ok(true)
    }

    async fn expire_record(&self, key: &str) -> Result<(), BackendError> {
        let (now, at) = (self.now(), self.expiry());
        let mut table = self.lock();
        table.purge(key, now);
        self.count_write();
        table.expire_at(key, at);
        Ok(())
    }

    async fn expire_blob(&self, key: &str) -> Result<(), BackendError> {
        let (now, at) = (self.now(), self.expiry());
        let mut table = self.lock();
        table.purge(key, now);
        self.count_write();
        let Some(chunks) = Self::chunks_of(&table, key) else {
            return Ok(());
        };
        table.expire_at(key, at);
        for i in 0..chunks {
            let chunk = blob_chunk_key(key, i);
            self.count_write();
            table.purge(&chunk, now);
            table.expire_at(&chunk, at);
        }
        Ok(())
    }

    async fn get_blob(&self, key: &str) -> Result<Option<String>, BackendError> {
        let now = self.now();
        let mut table = self.lock();
        table.purge(key, now);
        let chunks = match table.items.get(key) {
            None => return Ok(None),
            Some(Item::Head { chunks }) => *chunks,
            Some(other) => {
                return Err(BackendError::fatal(format!(
                    "item {key} is {}, not a blob",
                    other.kind()
                )))
            }
        };
        let mut text = String::new();
        for i in 0..chunks {
            let chunk = blob_chunk_key(key, i);
            table.purge(&chunk, now);
            match table.items.get(&chunk) {
                Some(Item::Chunk(part)) => text.push_str(part),
                _ => {
                    return Err(BackendError::fatal(format!(
                        "corrupt record (blob): chunk {chunk} missing"
                    )))
                }
            }
        }
        Ok(Some(text))
    }

    async fn read(&self, key: &str) -> Result<Option<Record>, BackendError> {
        let now = self.now();
        let mut table = self.lock();
        table.purge(key, now);
        let stored = match table.items.get(key) {
            None => return Ok(None),
            Some(Item::Record(stored)) => stored,
            Some(other) => {
                return Err(BackendError::fatal(format!(
                    "item {key} is {}, not a promise record",
                    other.kind()
                )))
            }
        };
        record_of(stored).map(Some)
    }

    async fn scan_records(
        &self,
        from: Option<&str>,
        limit: usize,
    ) -> Result<Page<ScannedRecord>, BackendError> {
        let now = self.now();
        let mut table = self.lock();
        let mut keys: Vec<String> = table
            .items
            .iter()
            .filter(|(k, item)| {
                matches!(item, Item::Record(_)) && from.is_none_or(|f| k.as_str() > f)
            })
            .map(|(k, _)| k.clone())
            .collect();
        keys.sort();
        let mut page = Page::default();
        for key in keys {
            if page.items.len() >= limit.max(1) {
                page.next = page.items.last().map(|(k, _): &ScannedRecord| k.clone());
                break;
            }
            table.purge(&key, now);
            if let Some(Item::Record(stored)) = table.items.get(&key) {
                page.items.push((key.clone(), record_of(stored)));
            }
        }
        Ok(page)
    }

    async fn scan_timers(
        &self,
        from: Option<&str>,
        limit: usize,
    ) -> Result<Page<IndexedTimer>, BackendError> {
        // The cursor is the last timer's `<bucket>#<shard>#<name>`.
        let after = from.and_then(|f| {
            let mut parts = f.splitn(3, '#');
            let bucket = parts.next()?.parse::<u64>().ok()?;
            let shard = parts.next()?.parse::<u32>().ok()?;
            Some((bucket, shard, parts.next()?.to_owned()))
        });
        let timers = self.timers.lock().unwrap_or_else(|e| e.into_inner());
        let mut page = Page::default();
        for ((bucket, shard), part) in &timers.parts {
            for (name, timer) in part {
                if after
                    .as_ref()
                    .is_some_and(|a| (*bucket, *shard, name) <= (a.0, a.1, &a.2))
                {
                    continue;
                }
                if page.items.len() >= limit.max(1) {
                    page.next = page
                        .items
                        .last()
                        .map(|t: &IndexedTimer| format!("{}#{}#{}", t.bucket, t.shard, t.name));
                    return Ok(page);
                }
                page.items.push(timer.clone());
            }
        }
        Ok(page)
    }

    fn indexes_timers(&self) -> bool {
        true
    }

    async fn put_timer(&self, timer: &IndexedTimer) -> Result<(), BackendError> {
        self.count_write();
        // `pk`, `sk`, `at`, `body` and `ttl`, as the DynamoDB index holds them.
        let size = "pk".len()
            + timer.partition().len()
            + "sk".len()
            + timer.name.len()
            + "at".len()
            + number_size(&timer.at.to_string())
            + "body".len()
            + timer.body.len()
            + TTL_SIZE;
        if size > ITEM_LIMIT {
            return Err(too_large(&timer.name, size));
        }
        self.timers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .parts
            .entry((timer.bucket, timer.shard))
            .or_default()
            .insert(timer.name.clone(), timer.clone());
        Ok(())
    }

    async fn timers_in(&self, bucket: u64, shard: u32) -> Result<Vec<IndexedTimer>, BackendError> {
        Ok(self
            .timers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .parts
            .get(&(bucket, shard))
            .map(|part| part.values().cloned().collect())
            .unwrap_or_default())
    }

    async fn sweep_cursor(&self) -> Result<Option<SweepCursor>, BackendError> {
        Ok(self
            .timers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .cursor
            .clone())
    }

    async fn move_cursor(
        &self,
        from: Option<&SweepCursor>,
        to: &SweepCursor,
    ) -> Result<bool, BackendError> {
        self.count_write();
        let mut timers = self.timers.lock().unwrap_or_else(|e| e.into_inner());
        if timers.cursor.as_ref() != from {
            return Ok(false);
        }
        timers.cursor = Some(to.clone());
        let unsent = to.sweeping.as_ref().map_or(to.next, |claim| claim.bucket);
        let keep_from = unsent.min(to.next).saturating_sub(SWEPT_KEPT_MINUTES);
        timers.parts = timers.parts.split_off(&(keep_from, 0));
        Ok(true)
    }

    async fn wait_with(
        &self,
        cell: &Cell,
        conts: &[(String, Cont)],
        note: &Note,
    ) -> Result<Option<Slot>, BackendError> {
        // One write, as DynamoDB makes it: the add counts it.
        if conts.is_empty() {
            self.count_write();
            let now = self.now();
            let mut table = self.lock();
            table.purge(&cell.key, now);
            if let Some(Item::Record(stored)) = table.items.get(&cell.key) {
                if let Some(slot) = stored.slots.get(&cell.slot) {
                    return Ok(Some(decode(slot)?));
                }
            }
        } else if let Some(slot) = self.add_continuations(cell, conts).await? {
            return Ok(Some(slot));
        }
        self.put_note(cell, note)
    }

    async fn note(&self, cell: &Cell, note: &Note) -> Result<(), BackendError> {
        self.count_write();
        self.put_note(cell, note).map(drop)
    }
}

impl MemoryStore {
    /// Replace `cell`'s note (the write is counted by the caller).
    fn put_note(&self, cell: &Cell, note: &Note) -> Result<Option<Slot>, BackendError> {
        let text = encode(note)?;
        let now = self.now();
        let mut table = self.lock();
        table.purge(&cell.key, now);
        let items = &mut table.items;
        let stored = record(items, &cell.key)?;
        let old = stored.notes.insert(cell.slot, text);
        if let Err(e) = stored.check_size(&cell.key) {
            match old {
                Some(text) => stored.notes.insert(cell.slot, text),
                None => stored.notes.remove(&cell.slot),
            };
            forget_if_empty(items, &cell.key);
            return Err(e);
        }
        Ok(None)
    }
}
