//! "Map over a data set, then count": a parallel, paged scan that counts the items
//! matching a predicate. Segments fan out and join with `all`; each segment reads
//! one page per task and chains the next page.

use serde::{Deserialize, Serialize};
use vow::prelude::*;

/// An item of the data set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    /// Its id.
    pub id: u32,
    /// One of red, green, blue.
    pub color: String,
    /// 0 to 99.
    pub weight: u32,
}

/// Which items count.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Predicate {
    /// The color to match.
    pub color: String,
    /// The smallest matching weight.
    pub min_weight: u32,
}

impl Predicate {
    /// Whether `item` matches.
    pub fn matches(&self, item: &Item) -> bool {
        item.color == self.color && item.weight >= self.min_weight
    }
}

/// Where the items live.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Table {
    /// `items` generated items, the same on every machine.
    Synthetic {
        /// How many.
        items: u32,
    },
    /// A DynamoDB table with a numeric partition key `id` and attributes `color`
    /// and `weight` (see [`seed_dynamo`]), read with parallel scan segments.
    Dynamo {
        /// The table's name.
        table: String,
    },
}

const COLORS: [&str; 3] = ["red", "green", "blue"];

/// The generated item with id `id`.
pub fn synthetic_item(id: u32) -> Item {
    let mixed = id.wrapping_mul(2_654_435_761);
    Item {
        id,
        color: COLORS[(mixed >> 16) as usize % 3].to_owned(),
        weight: (mixed >> 8) % 100,
    }
}

impl Table {
    /// How many items.
    pub async fn item_count(&self) -> Result<u64, Error> {
        match self {
            Table::Synthetic { items } => Ok(u64::from(*items)),
            Table::Dynamo { .. } => {
                let mut n = 0;
                let mut cursor = None;
                loop {
                    let (page, next) = self.page(0, 1, cursor, 1_000).await?;
                    n += page.len() as u64;
                    match next {
                        Some(c) => cursor = Some(c),
                        None => return Ok(n),
                    }
                }
            }
        }
    }

    /// One page of segment `segment` of `segments`, from `cursor`; and the next cursor.
    pub async fn page(
        &self,
        segment: u32,
        segments: u32,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<(Vec<Item>, Option<String>), Error> {
        match self {
            Table::Synthetic { items } => {
                let start: u32 = match cursor {
                    Some(c) => c
                        .parse()
                        .map_err(|_| Error::permanent(format!("bad cursor `{c}`")))?,
                    None => segment,
                };
                let ids: Vec<u32> = (start..*items)
                    .step_by(segments.max(1) as usize)
                    .take(limit as usize + 1)
                    .collect();
                let next = ids.get(limit as usize).map(u32::to_string);
                let page = ids
                    .into_iter()
                    .take(limit as usize)
                    .map(synthetic_item)
                    .collect();
                Ok((page, next))
            }
            Table::Dynamo { table } => dynamo::page(table, segment, segments, cursor, limit).await,
        }
    }
}

/// Count matches with a plain loop, to check the distributed count against.
pub async fn expected_count(table: &Table, predicate: &Predicate) -> Result<u64, Error> {
    let mut n = 0;
    let mut cursor = None;
    loop {
        let (page, next) = table.page(0, 1, cursor, 1_000).await?;
        n += page.iter().filter(|i| predicate.matches(i)).count() as u64;
        match next {
            Some(c) => cursor = Some(c),
            None => return Ok(n),
        }
    }
}

/// The root task: fan out one [`CountSegment`] per segment, then sum.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MapCount {
    /// The data set.
    pub table: Table,
    /// Parallel segments.
    pub segments: u32,
    /// Items per page (one task per page).
    pub page_size: u32,
    /// What to count.
    pub predicate: Predicate,
}

#[vow::task("samples/map-count")]
impl Task for MapCount {
    type Input = ();
    type Output = u64;
    async fn run(self, _: (), cx: &Cx) -> Result<Resolution<u64>, Error> {
        let segments = (0..self.segments.max(1)).map(|segment| CountSegment {
            table: self.table.clone(),
            segment,
            segments: self.segments.max(1),
            cursor: None,
            page_size: self.page_size,
            predicate: self.predicate.clone(),
        });
        adopt(cx.fan_out(segments).then(crate::Sum))
    }
}

/// Counts one page of a segment, and adopts the count of the rest of the segment.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CountSegment {
    table: Table,
    segment: u32,
    segments: u32,
    cursor: Option<String>,
    page_size: u32,
    predicate: Predicate,
}

#[vow::task("samples/count-segment")]
impl Task for CountSegment {
    type Input = ();
    type Output = u64;
    async fn run(self, _: (), cx: &Cx) -> Result<Resolution<u64>, Error> {
        let (page, next) = self
            .table
            .page(
                self.segment,
                self.segments,
                self.cursor.clone(),
                self.page_size,
            )
            .await?;
        let here = page.iter().filter(|i| self.predicate.matches(i)).count() as u64;
        match next {
            None => done(here),
            Some(cursor) => {
                let rest = cx.when(CountSegment {
                    cursor: Some(cursor),
                    ..self
                });
                adopt(rest.then(AddCount(here)))
            }
        }
    }
}

/// Adds a page's count to the count of the rest.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AddCount(pub u64);

#[vow::task("samples/add-count")]
impl Task for AddCount {
    type Input = Result<u64, Failure>;
    type Output = u64;
    async fn run(self, rest: Self::Input, _cx: &Cx) -> Result<Resolution<u64>, Error> {
        done(rest? + self.0)
    }
}

pub use dynamo::seed as seed_dynamo;

mod dynamo {
    use super::{synthetic_item, Item};
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, PutRequest,
        ScalarAttributeType, WriteRequest,
    };
    use aws_sdk_dynamodb::Client;
    use std::collections::HashMap;
    use std::time::Duration;
    use tokio::sync::OnceCell;
    use vow::Error;

    /// One client per process, built from the standard AWS configuration.
    async fn client() -> &'static Client {
        static CLIENT: OnceCell<Client> = OnceCell::const_new();
        CLIENT
            .get_or_init(|| async {
                Client::new(&aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await)
            })
            .await
    }

    fn number(item: &HashMap<String, AttributeValue>, name: &str) -> Result<u32, Error> {
        item.get(name)
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| Error::permanent(format!("item without a numeric `{name}`")))
    }

    pub(super) async fn page(
        table: &str,
        segment: u32,
        segments: u32,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<(Vec<Item>, Option<String>), Error> {
        let mut scan = client()
            .await
            .scan()
            .table_name(table)
            .segment(i32::try_from(segment).unwrap_or(0))
            .total_segments(i32::try_from(segments.max(1)).unwrap_or(1))
            .limit(i32::try_from(limit.max(1)).unwrap_or(1000));
        if let Some(id) = cursor {
            scan = scan.exclusive_start_key("id", AttributeValue::N(id));
        }
        let out = scan.send().await.map_err(|e| {
            Error::retryable(format!(
                "scan {table}: {}",
                aws_sdk_dynamodb::error::DisplayErrorContext(e)
            ))
        })?;
        let items = out
            .items()
            .iter()
            .map(|i| {
                Ok(Item {
                    id: number(i, "id")?,
                    color: i
                        .get("color")
                        .and_then(|v| v.as_s().ok())
                        .cloned()
                        .unwrap_or_default(),
                    weight: number(i, "weight")?,
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let next = out
            .last_evaluated_key()
            .map(|k| number(k, "id"))
            .transpose()?
            .map(|n| n.to_string());
        Ok((items, next))
    }

    /// The first wait before sending unprocessed items again; it doubles each
    /// round up to [`UNPROCESSED_BACKOFF_CAP`].
    const UNPROCESSED_BACKOFF: Duration = Duration::from_millis(50);
    /// The longest wait between two rounds.
    const UNPROCESSED_BACKOFF_CAP: Duration = Duration::from_secs(2);
    /// Rounds (the first send included) before unprocessed items are an error.
    pub(super) const UNPROCESSED_ROUNDS: u32 = 8;

    /// Send `pending` with `send`, which returns what was left unprocessed, again
    /// and again with capped exponential backoff starting at `base` (DynamoDB
    /// asks for backoff on `UnprocessedItems`), failing after
    /// [`UNPROCESSED_ROUNDS`] rounds that left something unprocessed.
    pub(super) async fn until_processed<T, F, Fut>(
        mut pending: Vec<T>,
        base: Duration,
        mut send: F,
    ) -> Result<(), Error>
    where
        F: FnMut(Vec<T>) -> Fut,
        Fut: std::future::Future<Output = Result<Vec<T>, Error>>,
    {
        let mut wait = base;
        for round in 1..=UNPROCESSED_ROUNDS {
            pending = send(pending).await?;
            if pending.is_empty() {
                return Ok(());
            }
            if round < UNPROCESSED_ROUNDS {
                tokio::time::sleep(wait).await;
                wait = wait.saturating_mul(2).min(UNPROCESSED_BACKOFF_CAP);
            }
        }
        Err(Error::retryable(format!(
            "{} items still unprocessed after {UNPROCESSED_ROUNDS} rounds of BatchWriteItem",
            pending.len()
        )))
    }

    /// Create `table` (key `id`) and fill it with `items` generated items, the same
    /// ones the synthetic table yields.
    pub async fn seed(table: &str, items: u32) -> Result<(), Error> {
        let c = client().await;
        let fail = |op: &str, e: String| Error::permanent(format!("{op} {table}: {e}"));
        if c.describe_table().table_name(table).send().await.is_err() {
            let attr = AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(ScalarAttributeType::N)
                .build()
                .map_err(|e| fail("create", e.to_string()))?;
            let key = KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(KeyType::Hash)
                .build()
                .map_err(|e| fail("create", e.to_string()))?;
            c.create_table()
                .table_name(table)
                .attribute_definitions(attr)
                .key_schema(key)
                .billing_mode(BillingMode::PayPerRequest)
                .send()
                .await
                .map_err(|e| {
                    fail(
                        "create",
                        aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string(),
                    )
                })?;
        }
        let ids: Vec<u32> = (0..items).collect();
        for chunk in ids.chunks(25) {
            let requests = chunk
                .iter()
                .map(|&id| {
                    let item = synthetic_item(id);
                    let put = PutRequest::builder()
                        .item("id", AttributeValue::N(item.id.to_string()))
                        .item("color", AttributeValue::S(item.color))
                        .item("weight", AttributeValue::N(item.weight.to_string()))
                        .build()
                        .map_err(|e| fail("put", e.to_string()))?;
                    Ok(WriteRequest::builder().put_request(put).build())
                })
                .collect::<Result<Vec<_>, Error>>()?;
            let (c, fail) = (&c, &fail);
            until_processed(requests, UNPROCESSED_BACKOFF, |requests| async move {
                let out = c
                    .batch_write_item()
                    .request_items(table, requests)
                    .send()
                    .await
                    .map_err(|e| {
                        fail(
                            "write",
                            aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string(),
                        )
                    })?;
                Ok(out
                    .unprocessed_items
                    .unwrap_or_default()
                    .remove(table)
                    .unwrap_or_default())
            })
            .await
            .map_err(|e| fail("write", e.to_string()))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::dynamo::{until_processed, UNPROCESSED_ROUNDS};
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    #[tokio::test]
    async fn unprocessed_items_are_retried_then_given_up() {
        // Processed on the third round.
        let rounds = AtomicU32::new(0);
        until_processed(vec![1, 2, 3], Duration::from_millis(1), |pending| {
            let round = rounds.fetch_add(1, Ordering::Relaxed) + 1;
            async move { Ok(if round < 3 { pending } else { Vec::new() }) }
        })
        .await
        .expect("processed");
        assert_eq!(rounds.load(Ordering::Relaxed), 3);

        // Never processed: an error after a bounded number of rounds.
        let rounds = AtomicU32::new(0);
        let err = until_processed(vec![1], Duration::from_millis(1), |pending| {
            rounds.fetch_add(1, Ordering::Relaxed);
            async move { Ok(pending) }
        })
        .await
        .expect_err("gave up");
        assert_eq!(rounds.load(Ordering::Relaxed), UNPROCESSED_ROUNDS);
        assert!(err.to_string().contains("unprocessed"), "{err}");
    }
}
