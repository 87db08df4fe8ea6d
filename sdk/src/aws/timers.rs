//! The timer index on a DynamoDB table of its own ([`crate::timer_index`]).
//!
//! The table has a partition key `pk` (`<minute>#<shard>`), a sort key `sk`
//! (the timer's name) and a TTL on `ttl`. Each timer is one item of well under
//! a kilobyte: one write unit to put, read back once by a strongly consistent
//! `Query` of its partition. The sweep's cursor is the item `pk = sk =
//! "cursor"`, its state the JSON string `v`, moved by conditional `PutItem`s.

use super::classify;
use super::cost::item_size;
use super::metrics::{Call, Metrics};
use crate::error::BackendError;
use crate::store::{too_large, Page, ITEM_LIMIT};
use crate::timer_index::{partition, IndexedTimer, SweepCursor};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// The partition key attribute.
pub const PARTITION: &str = "pk";
/// The sort key attribute.
pub const SORT: &str = "sk";
const AT: &str = "at";
const BODY: &str = "body";
const CURSOR: &str = "cursor";
const STATE: &str = "v";

/// The timer index's table.
#[derive(Clone, Debug)]
pub(crate) struct TimerTable {
    client: Client,
    table: String,
    /// How long an item is kept after its time (DynamoDB's TTL deletes it).
    keep: Duration,
    metrics: Arc<Metrics>,
}

impl TimerTable {
    pub(crate) fn new(
        client: Client,
        table: String,
        keep: Duration,
        metrics: Arc<Metrics>,
    ) -> Self {
        TimerTable {
            client,
            table,
            keep,
            metrics,
        }
    }

    /// The table's name.
    pub(crate) fn name(&self) -> &str {
        &self.table
    }

    pub(crate) async fn put(&self, timer: &IndexedTimer) -> Result<(), BackendError> {
        self.metrics.count(Call::DdbWrite);
        self.metrics.count(Call::DdbTimerWrite);
        let expires = (timer.at / 1_000).saturating_add(self.keep.as_secs());
        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(PARTITION, AttributeValue::S(timer.partition()))
            .item(SORT, AttributeValue::S(timer.name.clone()))
            .item(AT, AttributeValue::N(timer.at.to_string()))
            .item(BODY, AttributeValue::S(timer.body.clone()))
            .item(super::store::TTL, AttributeValue::N(expires.to_string()));
        let size = request.get_item().as_ref().map_or(0, item_size);
        if size > ITEM_LIMIT {
            return Err(too_large(&timer.name, size));
        }
        request
            .send()
            .await
            .map_err(|e| classify("PutItem (timer)", e))?;
        self.metrics.wrote(size);
        Ok(())
    }

    pub(crate) async fn query(
        &self,
        bucket: u64,
        shard: u32,
    ) -> Result<Vec<IndexedTimer>, BackendError> {
        let mut out = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            self.metrics.count(Call::DdbRead);
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .consistent_read(true)
                .key_condition_expression("#pk = :pk")
                .expression_attribute_names("#pk", PARTITION)
                .expression_attribute_values(":pk", AttributeValue::S(partition(bucket, shard)))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| classify("Query (timers)", e))?;
            for item in page.items() {
                self.metrics.read(item_size(item));
                // An item not written by `put` is not a timer: skip it.
                out.extend(timer_of(item, Some((bucket, shard))));
            }
            match page.last_evaluated_key() {
                Some(key) if !key.is_empty() => start = Some(key.clone()),
                _ => return Ok(out),
            }
        }
    }

    /// One page of a `Scan` of the index; the cursor is the last item's
    /// `<partition>\n<name>`. Items that are not timers (the sweep's cursor)
    /// are skipped.
    pub(crate) async fn scan(
        &self,
        from: Option<&str>,
        limit: usize,
    ) -> Result<Page<IndexedTimer>, BackendError> {
        let start = from.and_then(|f| f.split_once('\n')).map(|(pk, sk)| {
            HashMap::from([
                (PARTITION.to_owned(), AttributeValue::S(pk.to_owned())),
                (SORT.to_owned(), AttributeValue::S(sk.to_owned())),
            ])
        });
        self.metrics.count(Call::DdbRead);
        let out = self
            .client
            .scan()
            .table_name(&self.table)
            .limit(i32::try_from(limit.clamp(1, 1_000)).unwrap_or(1_000))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| classify("Scan (timers)", e))?;
        let mut page = Page::default();
        for item in out.items() {
            self.metrics.read(item_size(item));
            page.items.extend(timer_of(item, None));
        }
        page.next = out
            .last_evaluated_key()
            .and_then(|k| Some(format!("{}\n{}", text(k, PARTITION)?, text(k, SORT)?)));
        Ok(page)
    }

    pub(crate) async fn cursor(&self) -> Result<Option<SweepCursor>, BackendError> {
        self.metrics.count(Call::DdbRead);
        let got = self
            .client
            .get_item()
            .table_name(&self.table)
            .consistent_read(true)
            .key(PARTITION, AttributeValue::S(CURSOR.into()))
            .key(SORT, AttributeValue::S(CURSOR.into()))
            .send()
            .await
            .map_err(|e| classify("GetItem (sweep cursor)", e))?;
        match got.item().and_then(|item| item.get(STATE)) {
            Some(AttributeValue::S(text)) => serde_json::from_str(text)
                .map(Some)
                .map_err(|e| BackendError::fatal(format!("the sweep cursor is corrupt: {e}"))),
            _ => Ok(None),
        }
    }

    pub(crate) async fn move_cursor(
        &self,
        from: Option<&SweepCursor>,
        to: &SweepCursor,
    ) -> Result<bool, BackendError> {
        self.metrics.count(Call::DdbWrite);
        self.metrics.count(Call::DdbTimerWrite);
        let encode = |c: &SweepCursor| {
            serde_json::to_string(c).map_err(|e| BackendError::fatal(e.to_string()))
        };
        let mut request = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(PARTITION, AttributeValue::S(CURSOR.into()))
            .item(SORT, AttributeValue::S(CURSOR.into()))
            .item(STATE, AttributeValue::S(encode(to)?))
            .expression_attribute_names("#k", PARTITION);
        request = match from {
            None => request.condition_expression("attribute_not_exists(#k)"),
            Some(from) => request
                .condition_expression("attribute_exists(#k) AND #v = :v")
                .expression_attribute_names("#v", STATE)
                .expression_attribute_values(":v", AttributeValue::S(encode(from)?)),
        };
        match request.send().await {
            Ok(_) => {
                self.metrics.wrote(64);
                Ok(true)
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                self.metrics.wrote(64);
                Ok(false)
            }
            Err(e) => Err(classify("PutItem (sweep cursor)", e)),
        }
    }
}

/// The string attribute `name` of `item`.
fn text(item: &HashMap<String, AttributeValue>, name: &str) -> Option<String> {
    match item.get(name) {
        Some(AttributeValue::S(s)) => Some(s.clone()),
        _ => None,
    }
}

/// The timer an index item written by `put` holds (`None` for any other
/// item, the sweep's cursor say), in the bucket and shard `place` when the
/// caller knows them, else as its partition key names them.
fn timer_of(
    item: &HashMap<String, AttributeValue>,
    place: Option<(u64, u32)>,
) -> Option<IndexedTimer> {
    let at = match item.get(AT) {
        Some(AttributeValue::N(n)) => n.parse().ok()?,
        _ => return None,
    };
    let (bucket, shard) = match place {
        Some(place) => place,
        None => {
            let pk = text(item, PARTITION)?;
            let (bucket, shard) = pk.split_once('#')?;
            (bucket.parse().ok()?, shard.parse().ok()?)
        }
    };
    Some(IndexedTimer {
        bucket,
        shard,
        name: text(item, SORT)?,
        at,
        body: text(item, BODY)?,
    })
}
