use super::classify;
use super::cost::item_size;
use super::metrics::{Call, Metrics};
use super::timers::TimerTable;
use crate::error::BackendError;
use crate::store::{
    blob_chunk_key, check_blob_key, is_shard_key, over_budget, split_chunks, too_large, Cell, Note,
    Page, Record, ScannedRecord, Settled, Store, BLOB_CHUNK, ITEM_LIMIT, LATER_BUDGET,
};
use crate::timer_index::{IndexedTimer, SweepCursor};
use crate::wire::{Cont, Slot};
use async_trait::async_trait;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConsumedCapacity, KeysAndAttributes, ReturnConsumedCapacity, ReturnValue,
    ReturnValuesOnConditionCheckFailure,
};
use aws_sdk_dynamodb::Client;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The partition key attribute.
pub const KEY: &str = "pk";
/// The TTL attribute (epoch seconds).
pub const TTL: &str = "ttl";
const COUNT: &str = "n";
/// Bytes of continuations stored on the record, counted against [`LATER_BUDGET`].
const BUDGET: &str = "lb";
/// A blob head's chunk count.
const CHUNKS: &str = "chunks";
/// A blob chunk's text.
const CHUNK_TEXT: &str = "b";
/// The most chunks a blob head may name (about 19 GiB): a head that names more
/// is corrupt, and is not followed into a loop.
const MAX_CHUNKS: u64 = 1 << 16;

type Item = HashMap<String, AttributeValue>;

/// A [`Store`] on one DynamoDB table (partition key `pk`, TTL attribute `ttl`).
///
/// Each record is one item. Slot `k` is the string attribute `s<k>` holding the
/// encoded [`Slot`]; `n` counts written slots; a continuation stored for slot `k`
/// under name `x` is the attribute `c<k>_<x>`, and `lb` counts the bytes of
/// stored continuations against [`LATER_BUDGET`]. Settling is one `UpdateItem`
/// with `attribute_not_exists(s<k>)`, returning the item either way.
///
/// Time to live (rule 9: it counts from when nothing pending refers to an
/// item): a settle sets the record's `ttl` to `now + ttl`, except on a join's
/// shard records ([`crate::store::is_shard_key`]), which the join reads when it
/// completes, however late: they get theirs from [`Store::expire_record`] once
/// it has. Adding continuations and notes leaves `ttl` as it is, so a pending
/// record (a deferred promise, a callback, stored continuations) has none until
/// it settles. Blob items (`key` and `key~i`, see [`Store::put_blob`]) get
/// `now + ttl` when they are put, or keep a later TTL, or none if they have
/// none: a value held for a pending join member ([`Store::put_blob_held`],
/// [`Store::hold_blob`]) has no TTL until the join's completion gives it one
/// ([`Store::expire_blob`]). A TTL is only ever raised by those writes (the
/// condition `attribute_not_exists(ttl) OR ttl < :new`), so a value that two
/// slots refer to lives as long as the later. `ttl` should exceed the queue's
/// message retention (14 days at most), so that no message can outlive the
/// record it settles.
#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
    ttl: Duration,
    metrics: Arc<Metrics>,
    timers: Option<TimerTable>,
}

impl DynamoStore {
    /// The table `table`; records expire `ttl` after their last settle, blobs
    /// `ttl` after they were put.
    pub fn new(client: Client, table: impl Into<String>, ttl: Duration) -> Self {
        DynamoStore {
            client,
            table: table.into(),
            ttl,
            metrics: Arc::default(),
            timers: None,
        }
    }

    /// Count requests in `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = metrics;
        if let Some(timers) = self.timers.take() {
            self.timers = Some(TimerTable::new(
                self.client.clone(),
                timers.name().to_owned(),
                self.ttl,
                self.metrics.clone(),
            ));
        }
        self
    }

    /// Keep the timer index ([`crate::timer_index`]) in the table `table`
    /// (partition key `pk`, sort key `sk`, both strings; TTL on `ttl`), so
    /// that a timer of any length costs the same few requests. Without one,
    /// far timers hop through the queue every 15 minutes.
    pub fn with_timer_table(mut self, table: impl Into<String>) -> Self {
        self.timers = Some(TimerTable::new(
            self.client.clone(),
            table.into(),
            self.ttl,
            self.metrics.clone(),
        ));
        self
    }

    /// The timer index's table, if it keeps one.
    pub fn timer_table(&self) -> Option<&str> {
        self.timers.as_ref().map(TimerTable::name)
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The item returned with a failed condition, if that is what `err` is. The
    /// failed write still consumed capacity for that item.
    fn condition_failed(
        &self,
        err: &SdkError<UpdateItemError, impl std::fmt::Debug>,
    ) -> Option<Item> {
        match err.as_service_error() {
            Some(UpdateItemError::ConditionalCheckFailedException(e)) => {
                let item = e.item().cloned().unwrap_or_default();
                self.metrics.wrote(item_size(&item));
                Some(item)
            }
            _ => None,
        }
    }

    /// Write `slots` into the record `key` and add their number to its count, in
    /// one `UpdateItem` conditional on none of them being written. Returns the
    /// item after the write, or the item as it was if the condition failed.
    async fn write_slots(
        &self,
        key: &str,
        slots: &[(u32, Slot)],
    ) -> Result<Result<Item, Item>, BackendError> {
        self.metrics.count(Call::DdbWrite);
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(KEY, AttributeValue::S(key.to_owned()))
            .expression_attribute_names("#n", COUNT)
            .expression_attribute_values(":m", AttributeValue::N(slots.len().to_string()));
        let mut sets = Vec::with_capacity(slots.len() + 1);
        let mut absent = Vec::with_capacity(slots.len());
        for (i, (n, slot)) in slots.iter().enumerate() {
            sets.push(format!("#s{i} = :v{i}"));
            absent.push(format!("attribute_not_exists(#s{i})"));
            request = request
                .expression_attribute_names(format!("#s{i}"), slot_attr(*n))
                .expression_attribute_values(format!(":v{i}"), AttributeValue::S(encode(slot)?));
        }
        // A settle refreshes the TTL: a record lives `ttl` after its last settle.
        // Not a join's shard: the join's completion sets its TTL (rule 9).
        if !is_shard_key(key) {
            sets.push("#ttl = :ttl".to_owned());
            request = request
                .expression_attribute_names("#ttl", TTL)
                .expression_attribute_values(":ttl", self.expiry());
        }
        let result = request
            .update_expression(format!("SET {} ADD #n :m", sets.join(", ")))
            .condition_expression(absent.join(" AND "))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await;
        match result {
            Ok(out) => {
                for _ in slots {
                    self.metrics.count(Call::DdbSettled);
                }
                self.metrics.reported(units(out.consumed_capacity()));
                let item = out.attributes.unwrap_or_default();
                self.metrics.wrote(item_size(&item));
                Ok(Ok(item))
            }
            Err(err) => match self.condition_failed(&err) {
                Some(item) => Ok(Err(item)),
                None => Err(classify(&format!("UpdateItem {key}"), err)),
            },
        }
    }

    fn expiry(&self) -> AttributeValue {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        AttributeValue::N((now + self.ttl).as_secs().to_string())
    }
}

fn slot_attr(slot: u32) -> String {
    format!("s{slot}")
}

fn cont_prefix(slot: u32) -> String {
    format!("c{slot}_")
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> BackendError {
    BackendError::fatal(format!("corrupt record ({what}): {e}"))
}

fn decode_slot(item: &Item, slot: u32) -> Result<Option<Slot>, BackendError> {
    match item.get(&slot_attr(slot)) {
        Some(AttributeValue::S(text)) => serde_json::from_str(text)
            .map(Some)
            .map_err(|e| corrupt("slot", e)),
        Some(_) => Err(corrupt("slot", "not a string")),
        None => Ok(None),
    }
}

fn decode_count(item: &Item) -> u32 {
    u32::try_from(decode_number(item, COUNT)).unwrap_or(u32::MAX)
}

fn decode_later(item: &Item, slot: u32) -> Result<Vec<(String, Cont)>, BackendError> {
    let prefix = cont_prefix(slot);
    let mut named: Vec<(&String, &AttributeValue)> = item
        .iter()
        .filter(|(k, _)| k.starts_with(&prefix))
        .collect();
    named.sort_by_key(|(k, _)| *k);
    named
        .into_iter()
        .map(|(k, v)| match v {
            AttributeValue::S(text) => {
                let cont = serde_json::from_str(text).map_err(|e| corrupt("continuation", e))?;
                Ok((k[prefix.len()..].to_owned(), cont))
            }
            _ => Err(corrupt("continuation", "not a string")),
        })
        .collect()
}

fn decode_record(item: &Item) -> Result<Record, BackendError> {
    let mut slots = BTreeMap::new();
    let mut later = BTreeMap::new();
    for name in item.keys() {
        if let Some(n) = name.strip_prefix('s').and_then(|n| n.parse::<u32>().ok()) {
            if let Some(slot) = decode_slot(item, n)? {
                slots.insert(n, slot);
            }
        } else if let Some(n) = name
            .strip_prefix('c')
            .and_then(|rest| rest.split_once('_'))
            .and_then(|(n, _)| n.parse::<u32>().ok())
        {
            if let std::collections::btree_map::Entry::Vacant(e) = later.entry(n) {
                e.insert(decode_later(item, n)?);
            }
        }
    }
    Ok(Record {
        count: decode_count(item),
        slots,
        later,
        notes: decode_notes(item),
    })
}

/// The capacity a reply reports consuming.
fn units(consumed: Option<&ConsumedCapacity>) -> Option<f64> {
    consumed.and_then(ConsumedCapacity::capacity_units)
}

fn note_attr(slot: u32) -> String {
    format!("p{slot}")
}

/// The notes of a record (`p<k>`). A note that does not decode is ignored: it
/// only feeds progress displays.
fn decode_notes(item: &Item) -> BTreeMap<u32, Note> {
    item.iter()
        .filter_map(|(name, value)| {
            let slot = name.strip_prefix('p')?.parse::<u32>().ok()?;
            let AttributeValue::S(text) = value else {
                return None;
            };
            Some((slot, serde_json::from_str(text).ok()?))
        })
        .collect()
}

fn encode<T: serde::Serialize>(value: &T) -> Result<String, BackendError> {
    serde_json::to_string(value).map_err(|e| BackendError::fatal(format!("unencodable: {e}")))
}

/// What an add of continuations that was not written returns, given the item
/// as it is: the slot if it is written; nothing if every continuation is
/// already stored as given (a retried add); else the budget is used up.
fn refused_add(
    item: &Item,
    cell: &Cell,
    named: &[(String, String)],
) -> Result<Option<Slot>, BackendError> {
    if let Some(slot) = decode_slot(item, cell.slot)? {
        return Ok(Some(slot));
    }
    let stored = named
        .iter()
        .all(|(name, text)| matches!(item.get(name), Some(AttributeValue::S(t)) if t == text));
    if stored {
        Ok(None)
    } else {
        Err(over_budget(&cell.key))
    }
}

#[async_trait]
impl Store for DynamoStore {
    async fn settle(&self, cell: &Cell, slot: &Slot) -> Result<Settled, BackendError> {
        let slots = [(cell.slot, slot.clone())];
        Ok(match self.write_slots(&cell.key, &slots).await? {
            Ok(item) => Settled::Won {
                count: decode_count(&item),
                later: decode_later(&item, cell.slot)?,
            },
            Err(item) => Settled::Lost {
                slot: decode_slot(&item, cell.slot)?
                    .ok_or_else(|| corrupt("slot", "condition failed but slot missing"))?,
                count: decode_count(&item),
                later: decode_later(&item, cell.slot)?,
            },
        })
    }

    async fn settle_together(
        &self,
        key: &str,
        slots: &[(u32, Slot)],
    ) -> Result<Option<Vec<Settled>>, BackendError> {
        let Ok(item) = self.write_slots(key, slots).await? else {
            return Ok(None);
        };
        let total = decode_count(&item);
        let first = total.saturating_sub(u32::try_from(slots.len()).unwrap_or(u32::MAX));
        slots
            .iter()
            .zip(1..)
            .map(|((n, _), k)| {
                Ok(Settled::Won {
                    count: first + k,
                    later: decode_later(&item, *n)?,
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    async fn add_continuations(
        &self,
        cell: &Cell,
        conts: &[(String, Cont)],
    ) -> Result<Option<Slot>, BackendError> {
        self.add_named(cell, conts, None).await
    }

    async fn wait_with(
        &self,
        cell: &Cell,
        conts: &[(String, Cont)],
        note: &Note,
    ) -> Result<Option<Slot>, BackendError> {
        self.add_named(cell, conts, Some(note)).await
    }

    async fn read(&self, key: &str) -> Result<Option<Record>, BackendError> {
        self.metrics.count(Call::DdbRead);
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(KEY, AttributeValue::S(key.to_owned()))
            .consistent_read(true)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(|e| classify("GetItem", e))?;
        self.metrics.reported(units(out.consumed_capacity()));
        self.metrics.read(out.item.as_ref().map_or(0, item_size));
        out.item.as_ref().map(decode_record).transpose()
    }

    async fn read_many(&self, keys: &[String]) -> Result<Vec<Option<Record>>, BackendError> {
        let found = self.batch_get(keys).await?;
        keys.iter()
            .map(|k| found.get(k).map(decode_record).transpose())
            .collect()
    }

    async fn put_blob(&self, key: &str, text: &str) -> Result<(), BackendError> {
        self.put_chunked(key, text, false).await
    }

    async fn put_blob_held(&self, key: &str, text: &str) -> Result<(), BackendError> {
        self.put_chunked(key, text, true).await
    }

    async fn hold_blob(&self, key: &str) -> Result<bool, BackendError> {
        let Some(chunks) = self.stamp(key, Stamp::Hold).await? else {
            return Ok(false);
        };
        for i in 0..usize::try_from(chunks).unwrap_or(0) {
            self.stamp(&blob_chunk_key(key, i), Stamp::Hold).await?;
        }
        Ok(true)
    }

    async fn expire_record(&self, key: &str) -> Result<(), BackendError> {
        self.stamp(key, Stamp::Expire).await.map(drop)
    }

    async fn expire_blob(&self, key: &str) -> Result<(), BackendError> {
        let Some(chunks) = self.stamp(key, Stamp::Expire).await? else {
            return Ok(());
        };
        for i in 0..usize::try_from(chunks).unwrap_or(0) {
            self.stamp(&blob_chunk_key(key, i), Stamp::Expire).await?;
        }
        Ok(())
    }

    async fn get_blob(&self, key: &str) -> Result<Option<String>, BackendError> {
        let heads = self.batch_get(&[key.to_owned()]).await?;
        let Some(head) = heads.get(key) else {
            return Ok(None);
        };
        let n = decode_number(head, CHUNKS);
        if n == 0 || n > MAX_CHUNKS {
            return Err(corrupt("blob", format!("head {key} names {n} chunks")));
        }
        let keys: Vec<String> = (0..n)
            .map(|i| blob_chunk_key(key, usize::try_from(i).unwrap_or(usize::MAX)))
            .collect();
        let parts = self.batch_get(&keys).await?;
        let mut text = String::new();
        for k in &keys {
            match parts.get(k).and_then(|item| item.get(CHUNK_TEXT)) {
                Some(AttributeValue::S(part)) => text.push_str(part),
                _ => return Err(corrupt("blob", format!("chunk {k} missing"))),
            }
        }
        Ok(Some(text))
    }

    async fn note(&self, cell: &Cell, note: &Note) -> Result<(), BackendError> {
        self.metrics.count(Call::DdbWrite);
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(KEY, AttributeValue::S(cell.key.clone()))
            // Not a settle: the TTL is left as it is (a pending record has none).
            .update_expression("SET #p = :p")
            .expression_attribute_names("#p", note_attr(cell.slot))
            .expression_attribute_values(":p", AttributeValue::S(encode(note)?))
            .return_values(ReturnValue::AllNew)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(|e| classify(&format!("UpdateItem {}", cell.key), e))?;
        self.metrics.reported(units(out.consumed_capacity()));
        self.metrics
            .wrote(item_size(out.attributes.as_ref().unwrap_or(&Item::new())));
        Ok(())
    }

    fn indexes_timers(&self) -> bool {
        self.timers.is_some()
    }

    async fn put_timer(&self, timer: &IndexedTimer) -> Result<(), BackendError> {
        self.index()?.put(timer).await
    }

    async fn timers_in(&self, bucket: u64, shard: u32) -> Result<Vec<IndexedTimer>, BackendError> {
        self.index()?.query(bucket, shard).await
    }

    /// A `Scan` of the table (eventually consistent, `limit` items evaluated
    /// per call); blobs' items are skipped. The cursor is the last key read.
    async fn scan_records(
        &self,
        from: Option<&str>,
        limit: usize,
    ) -> Result<Page<ScannedRecord>, BackendError> {
        self.metrics.count(Call::DdbRead);
        let start =
            from.map(|key| HashMap::from([(KEY.to_owned(), AttributeValue::S(key.to_owned()))]));
        let out = self
            .client
            .scan()
            .table_name(&self.table)
            .limit(i32::try_from(limit.clamp(1, 1_000)).unwrap_or(1_000))
            .set_exclusive_start_key(start)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(|e| classify("Scan", e))?;
        self.metrics.reported(units(out.consumed_capacity()));
        let mut page = Page::default();
        for item in out.items() {
            self.metrics.read(item_size(item));
            let Some(AttributeValue::S(key)) = item.get(KEY) else {
                continue;
            };
            if item.contains_key(CHUNKS) || item.contains_key(CHUNK_TEXT) {
                continue;
            }
            page.items.push((key.clone(), decode_record(item)));
        }
        page.next = match out.last_evaluated_key().and_then(|k| k.get(KEY)) {
            Some(AttributeValue::S(key)) => Some(key.clone()),
            _ => None,
        };
        Ok(page)
    }

    async fn scan_timers(
        &self,
        from: Option<&str>,
        limit: usize,
    ) -> Result<Page<IndexedTimer>, BackendError> {
        match &self.timers {
            Some(index) => index.scan(from, limit).await,
            None => Ok(Page::default()),
        }
    }

    async fn sweep_cursor(&self) -> Result<Option<SweepCursor>, BackendError> {
        self.index()?.cursor().await
    }

    async fn move_cursor(
        &self,
        from: Option<&SweepCursor>,
        to: &SweepCursor,
    ) -> Result<bool, BackendError> {
        self.index()?.move_cursor(from, to).await
    }
}

fn decode_number(item: &Item, name: &str) -> u64 {
    match item.get(name) {
        Some(AttributeValue::N(n)) => n.parse().unwrap_or(0),
        _ => 0,
    }
}

/// What [`DynamoStore::stamp`] does to an item's TTL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stamp {
    /// Remove it: a pending join member refers to the item.
    Hold,
    /// Set it to `now + ttl` unless it is later: nothing pending refers to it.
    Expire,
}

impl DynamoStore {
    /// Store `conts` for `cell` (and replace its note with `note`, if given)
    /// in one conditional `UpdateItem`, unless the slot is written.
    async fn add_named(
        &self,
        cell: &Cell,
        conts: &[(String, Cont)],
        note: Option<&Note>,
    ) -> Result<Option<Slot>, BackendError> {
        let named = conts
            .iter()
            .map(|(name, cont)| Ok((format!("{}{name}", cont_prefix(cell.slot)), encode(cont)?)))
            .collect::<Result<Vec<_>, BackendError>>()?;
        let size: usize = named.iter().map(|(n, v)| n.len() + v.len()).sum();
        if (named.is_empty() && note.is_none()) || size > LATER_BUDGET {
            // Nothing to store, or more than could ever fit: only look.
            let item = self
                .batch_get(std::slice::from_ref(&cell.key))
                .await?
                .remove(&cell.key)
                .unwrap_or_default();
            return refused_add(&item, cell, &named);
        }
        self.metrics.count(Call::DdbWrite);
        // Not a settle: the TTL is left as it is (a pending record has none).
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(KEY, AttributeValue::S(cell.key.clone()))
            .condition_expression(
                "attribute_not_exists(#s) AND (attribute_not_exists(#lb) OR #lb <= :room)",
            )
            .expression_attribute_names("#s", slot_attr(cell.slot))
            .expression_attribute_names("#lb", BUDGET)
            .expression_attribute_values(":size", AttributeValue::N(size.to_string()))
            .expression_attribute_values(
                ":room",
                AttributeValue::N((LATER_BUDGET - size).to_string()),
            )
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .return_values(ReturnValue::AllNew)
            .return_consumed_capacity(ReturnConsumedCapacity::Total);
        let mut sets = Vec::with_capacity(named.len());
        for (i, (name, text)) in named.iter().enumerate() {
            sets.push(format!("#c{i} = :c{i}"));
            request = request
                .expression_attribute_names(format!("#c{i}"), name)
                .expression_attribute_values(format!(":c{i}"), AttributeValue::S(text.clone()));
        }
        if let Some(note) = note {
            sets.push("#note = :note".to_owned());
            request = request
                .expression_attribute_names("#note", note_attr(cell.slot))
                .expression_attribute_values(":note", AttributeValue::S(encode(note)?));
        }
        match request
            .update_expression(format!("SET {} ADD #lb :size", sets.join(", ")))
            .send()
            .await
        {
            Ok(out) => {
                self.metrics.reported(units(out.consumed_capacity()));
                self.metrics
                    .wrote(item_size(out.attributes.as_ref().unwrap_or(&Item::new())));
                Ok(None)
            }
            Err(err) => match self.condition_failed(&err) {
                Some(item) => refused_add(&item, cell, &named),
                None => Err(classify(&format!("UpdateItem {}", cell.key), err)),
            },
        }
    }

    fn index(&self) -> Result<&TimerTable, BackendError> {
        self.timers
            .as_ref()
            .ok_or_else(|| BackendError::fatal("this store keeps no timer index"))
    }

    /// Put a blob, chunks first and the head last (a blob is readable once it
    /// is complete), held (no TTL) or not.
    async fn put_chunked(&self, key: &str, text: &str, held: bool) -> Result<(), BackendError> {
        check_blob_key(key)?;
        let chunks = split_chunks(text, BLOB_CHUNK);
        for (i, chunk) in chunks.iter().enumerate() {
            self.put(
                blob_chunk_key(key, i),
                CHUNK_TEXT,
                AttributeValue::S((*chunk).to_owned()),
                held,
            )
            .await?;
        }
        self.put(
            key.to_owned(),
            CHUNKS,
            AttributeValue::N(chunks.len().to_string()),
            held,
        )
        .await
    }

    /// Put the blob item `key` holding `name = value`, on condition that it is
    /// new or already holds that value: stored values are immutable.
    ///
    /// Held (`held`), the item is written without a TTL, also over an existing
    /// copy (whose TTL it drops). Else it is written with `ttl = now + ttl`
    /// only if it is new or its TTL is earlier: an existing copy with a later
    /// TTL, or with none (held for a pending join), is left as it is, and the
    /// failed condition is then no error.
    async fn put(
        &self,
        key: String,
        name: &str,
        value: AttributeValue,
        held: bool,
    ) -> Result<(), BackendError> {
        self.metrics.count(Call::DdbWrite);
        let expiry = self.expiry();
        let mut request = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(KEY, AttributeValue::S(key.clone()))
            .item(name, value.clone())
            .expression_attribute_names("#pk", KEY)
            .expression_attribute_names("#v", name)
            .expression_attribute_values(":v", value.clone());
        request = if held {
            request.condition_expression("attribute_not_exists(#pk) OR #v = :v")
        } else {
            request
                .item(TTL, expiry.clone())
                .condition_expression(
                    "attribute_not_exists(#pk) OR (#v = :v AND attribute_exists(#ttl) AND #ttl < :ttl)",
                )
                .expression_attribute_names("#ttl", TTL)
                .expression_attribute_values(":ttl", expiry)
        };
        let size = request.get_item().as_ref().map_or(0, item_size);
        if size > ITEM_LIMIT {
            return Err(too_large(&key, size));
        }
        let result = request
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await;
        let out = match result {
            Ok(out) => out,
            Err(err) => {
                let Some(PutItemError::ConditionalCheckFailedException(e)) = err.as_service_error()
                else {
                    return Err(classify(&format!("PutItem {key}"), err));
                };
                // The item is there: the same value (kept, with a later TTL
                // or none), or another one (an engine bug).
                let old = match e.item() {
                    Some(item) => Some(item.clone()),
                    None => self
                        .batch_get(std::slice::from_ref(&key))
                        .await?
                        .remove(&key),
                };
                let same = old.as_ref().and_then(|item| item.get(name)) == Some(&value);
                self.metrics.wrote(size);
                return if same {
                    Ok(())
                } else {
                    Err(BackendError::fatal(format!(
                        "item {key} already holds a different value: stored values are \
                         immutable and keys are content-addressed (a bug in the engine)"
                    )))
                };
            }
        };
        self.metrics.reported(units(out.consumed_capacity()));
        self.metrics.wrote(size);
        Ok(())
    }

    /// Hold or expire the item at `key` ([`Stamp`]) with one conditional
    /// `UpdateItem`. Returns, if the item is there, its chunk count (0 for
    /// anything but a blob head); `None` if it is missing.
    async fn stamp(&self, key: &str, stamp: Stamp) -> Result<Option<u64>, BackendError> {
        self.metrics.count(Call::DdbWrite);
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(KEY, AttributeValue::S(key.to_owned()))
            .expression_attribute_names("#pk", KEY)
            .expression_attribute_names("#ttl", TTL);
        let request = match stamp {
            Stamp::Hold => request
                .update_expression("REMOVE #ttl")
                .condition_expression("attribute_exists(#pk)"),
            Stamp::Expire => request
                .update_expression("SET #ttl = :ttl")
                .condition_expression(
                    "attribute_exists(#pk) AND (attribute_not_exists(#ttl) OR #ttl < :ttl)",
                )
                .expression_attribute_values(":ttl", self.expiry()),
        };
        let result = request
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await;
        let item = match result {
            Ok(out) => {
                self.metrics.reported(units(out.consumed_capacity()));
                let item = out.attributes.unwrap_or_default();
                self.metrics.wrote(item_size(&item));
                item
            }
            Err(err) => match self.condition_failed(&err) {
                // Missing, or (expiring) its TTL is already later.
                Some(item) if item.is_empty() => return Ok(None),
                Some(item) => item,
                None => return Err(classify(&format!("UpdateItem {key}"), err)),
            },
        };
        let chunks = decode_number(&item, CHUNKS);
        if chunks > MAX_CHUNKS {
            return Err(corrupt("blob", format!("head {key} names {chunks} chunks")));
        }
        Ok(Some(chunks))
    }

    /// Consistent reads of many items by key, 100 per `BatchGetItem`, retrying
    /// unprocessed keys.
    async fn batch_get(&self, keys: &[String]) -> Result<HashMap<String, Item>, BackendError> {
        let mut found: HashMap<String, Item> = HashMap::new();
        let mut unique: Vec<&String> = keys.iter().collect();
        unique.sort();
        unique.dedup();
        for chunk in unique.chunks(100) {
            let mut request = Some(
                KeysAndAttributes::builder()
                    .set_keys(Some(
                        chunk
                            .iter()
                            .map(|k| {
                                HashMap::from([(KEY.to_owned(), AttributeValue::S((*k).clone()))])
                            })
                            .collect(),
                    ))
                    .consistent_read(true)
                    .build()
                    .map_err(|e| BackendError::fatal(format!("BatchGetItem: {e}")))?,
            );
            let mut round = 0u32;
            while let Some(keys_and_attrs) = request.take() {
                self.metrics.count(Call::DdbRead);
                let asked = keys_and_attrs.keys().len();
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, keys_and_attrs)
                    .return_consumed_capacity(ReturnConsumedCapacity::Total)
                    .send()
                    .await
                    .map_err(|e| classify("BatchGetItem", e))?;
                for used in out.consumed_capacity() {
                    self.metrics.reported(used.capacity_units());
                }
                let items = out
                    .responses
                    .unwrap_or_default()
                    .remove(&self.table)
                    .unwrap_or_default();
                let unprocessed = out
                    .unprocessed_keys
                    .as_ref()
                    .and_then(|u| u.get(&self.table))
                    .map_or(0, |k| k.keys().len());
                // A missing item still costs the minimum read.
                for _ in items.len() + unprocessed..asked {
                    self.metrics.read(0);
                }
                for item in items {
                    self.metrics.read(item_size(&item));
                    if let Some(AttributeValue::S(k)) = item.get(KEY) {
                        found.insert(k.clone(), item);
                    }
                }
                request = out
                    .unprocessed_keys
                    .unwrap_or_default()
                    .remove(&self.table)
                    .filter(|k| !k.keys().is_empty());
                if request.is_some() {
                    round += 1;
                    tokio::time::sleep(Duration::from_millis(20 << round.min(6))).await;
                }
            }
        }
        Ok(found)
    }
}
