use crate::error::BackendError;
use crate::store::{Cell, Note, Record, Settled, Store};
use crate::wire::{Cont, Slot};
use async_trait::async_trait;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

/// A [`Store`] in a `HashMap`. Slots and continuations are kept encoded, as they
/// would be in DynamoDB.
#[derive(Debug, Default)]
pub struct MemoryStore {
    records: Mutex<HashMap<String, Stored>>,
    blobs: Mutex<HashMap<String, String>>,
    writes: std::sync::atomic::AtomicU64,
}

#[derive(Debug, Default)]
struct Stored {
    slots: BTreeMap<u32, String>,
    later: BTreeMap<u32, BTreeMap<String, String>>,
    notes: BTreeMap<u32, String>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Conditional writes attempted so far (successful or not).
    pub fn writes(&self) -> u64 {
        self.writes.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The largest record, in slots: no record grows with the size of a join.
    pub fn largest_record(&self) -> usize {
        self.lock()
            .values()
            .map(|r| r.slots.len())
            .max()
            .unwrap_or(0)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Stored>> {
        self.records.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn count_write(&self) {
        self.writes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

fn decode<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, BackendError> {
    serde_json::from_str(text).map_err(|e| BackendError::fatal(format!("corrupt record: {e}")))
}

fn encode<T: serde::Serialize>(value: &T) -> Result<String, BackendError> {
    serde_json::to_string(value).map_err(|e| BackendError::fatal(format!("unencodable: {e}")))
}

fn later_of(stored: &Stored, slot: u32) -> Result<Vec<Cont>, BackendError> {
    stored
        .later
        .get(&slot)
        .map(|m| m.values().map(|c| decode(c)).collect())
        .unwrap_or_else(|| Ok(Vec::new()))
}

/// DynamoDB's item size limit, enforced here too so tests see the same failures.
const ITEM_LIMIT: usize = 400 * 1024;

#[async_trait]
impl Store for MemoryStore {
    async fn settle(&self, cell: &Cell, slot: &Slot) -> Result<Settled, BackendError> {
        self.count_write();
        let text = encode(slot)?;
        if text.len() > ITEM_LIMIT {
            return Err(BackendError::fatal(format!(
                "item {} would exceed the 400 KB item limit",
                cell.key
            )));
        }
        let mut records = self.lock();
        let stored = records.entry(cell.key.clone()).or_default();
        let later = later_of(stored, cell.slot)?;
        let count = u32::try_from(stored.slots.len()).unwrap_or(u32::MAX);
        if let Some(existing) = stored.slots.get(&cell.slot) {
            return Ok(Settled::Lost {
                slot: decode(existing)?,
                count,
                later,
            });
        }
        stored.slots.insert(cell.slot, text);
        Ok(Settled::Won {
            count: count + 1,
            later,
        })
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
        if texts.iter().map(|(_, t)| t.len()).sum::<usize>() > ITEM_LIMIT {
            return Err(BackendError::fatal(format!(
                "item {key} would exceed the 400 KB item limit"
            )));
        }
        let mut distinct: Vec<u32> = texts.iter().map(|(n, _)| *n).collect();
        distinct.sort_unstable();
        distinct.dedup();
        if distinct.len() != texts.len() {
            return Err(BackendError::fatal(format!("a slot of {key} given twice")));
        }
        let mut records = self.lock();
        let stored = records.entry(key.to_owned()).or_default();
        if texts.iter().any(|(n, _)| stored.slots.contains_key(n)) {
            return Ok(None);
        }
        let mut settled = Vec::with_capacity(texts.len());
        for (n, text) in texts {
            let later = later_of(stored, n)?;
            stored.slots.insert(n, text);
            settled.push(Settled::Won {
                count: u32::try_from(stored.slots.len()).unwrap_or(u32::MAX),
                later,
            });
        }
        Ok(Some(settled))
    }

    async fn add_continuations(
        &self,
        cell: &Cell,
        conts: &[(String, Cont)],
    ) -> Result<Option<Slot>, BackendError> {
        self.count_write();
        let mut records = self.lock();
        let stored = records.entry(cell.key.clone()).or_default();
        if let Some(existing) = stored.slots.get(&cell.slot) {
            return Ok(Some(decode(existing)?));
        }
        let later = stored.later.entry(cell.slot).or_default();
        for (name, cont) in conts {
            later.insert(name.clone(), encode(cont)?);
        }
        Ok(None)
    }

    async fn put_blob(&self, key: &str, text: &str) -> Result<(), BackendError> {
        self.count_write();
        self.blobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.to_owned(), text.to_owned());
        Ok(())
    }

    async fn get_blob(&self, key: &str) -> Result<Option<String>, BackendError> {
        Ok(self
            .blobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .cloned())
    }

    async fn read(&self, key: &str) -> Result<Option<Record>, BackendError> {
        let records = self.lock();
        let Some(stored) = records.get(key) else {
            return Ok(None);
        };
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
        Ok(Some(Record {
            count: u32::try_from(slots.len()).unwrap_or(u32::MAX),
            slots,
            later,
            notes,
        }))
    }

    async fn note(&self, cell: &Cell, note: &Note) -> Result<(), BackendError> {
        self.count_write();
        let text = encode(note)?;
        let mut records = self.lock();
        let stored = records.entry(cell.key.clone()).or_default();
        stored.notes.insert(cell.slot, text);
        Ok(())
    }
}
