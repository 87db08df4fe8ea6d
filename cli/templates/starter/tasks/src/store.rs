//! The seam between the workflow and its data: [`OrderStore`]. The tasks
//! travel in queue messages, so they carry the table's name, not a client;
//! each process says once which store serves them ([`install_store`]), and
//! uses DynamoDB when it said nothing (the deployed worker).

use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use tokio::sync::OnceCell;

/// What a store's calls return.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, vow::Error>> + Send + 'a>>;

/// Where an order stands, as the workflow records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderRecord {
    /// The order's id (the table's partition key, `order_id`).
    pub order_id: String,
    /// `validated`, `rejected`, `confirmed` or `cancelled`.
    pub status: String,
    /// Why it was rejected or cancelled (empty otherwise).
    pub reason: String,
}

/// The orders table, as the tasks use it. A write must be idempotent: a task
/// that fails with a retryable error runs again.
pub trait OrderStore: Send + Sync + 'static {
    /// Write `record` into `table`, replacing the order's previous record.
    fn save<'a>(&'a self, table: &'a str, record: &'a OrderRecord) -> StoreFuture<'a, ()>;
    /// The record of order `order_id` in `table`, if any.
    fn load<'a>(
        &'a self,
        table: &'a str,
        order_id: &'a str,
    ) -> StoreFuture<'a, Option<OrderRecord>>;
}

static STORE: OnceCell<Arc<dyn OrderStore>> = OnceCell::const_new();

/// Make `store` the one this process's tasks use. Call it before any task
/// runs; returns `false` if a store was chosen already (it stays).
pub fn install_store(store: Arc<dyn OrderStore>) -> bool {
    STORE.set(store).is_ok()
}

/// The store of this process: the installed one, else DynamoDB.
pub(crate) async fn store() -> Arc<dyn OrderStore> {
    STORE
        .get_or_init(|| async { Arc::new(DynamoDb::from_env().await) as Arc<dyn OrderStore> })
        .await
        .clone()
}

/// Orders kept in this process's memory: for tests and the embedded example.
#[derive(Debug, Default)]
pub struct InMemory {
    records: Mutex<HashMap<(String, String), OrderRecord>>,
}

impl InMemory {
    /// An empty store.
    pub fn new() -> Self {
        InMemory::default()
    }

    fn records(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), OrderRecord>> {
        // A panic while holding the lock leaves the map whole: keep using it.
        self.records.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl OrderStore for InMemory {
    fn save<'a>(&'a self, table: &'a str, record: &'a OrderRecord) -> StoreFuture<'a, ()> {
        let key = (table.to_owned(), record.order_id.clone());
        self.records().insert(key, record.clone());
        Box::pin(async { Ok(()) })
    }

    fn load<'a>(
        &'a self,
        table: &'a str,
        order_id: &'a str,
    ) -> StoreFuture<'a, Option<OrderRecord>> {
        let found = self
            .records()
            .get(&(table.to_owned(), order_id.to_owned()))
            .cloned();
        Box::pin(async { Ok(found) })
    }
}

/// Orders in a DynamoDB table (partition key `order_id`, a string). The
/// deployment templates grant the worker `GetItem` and `PutItem` on it.
#[derive(Clone, Debug)]
pub struct DynamoDb {
    client: aws_sdk_dynamodb::Client,
}

impl DynamoDb {
    /// A store over `client`.
    pub fn new(client: aws_sdk_dynamodb::Client) -> Self {
        DynamoDb { client }
    }

    /// A store configured as the AWS SDK configures itself (region,
    /// credentials, `AWS_ENDPOINT_URL_DYNAMODB`).
    pub async fn from_env() -> Self {
        let config = aws_config::load_from_env().await;
        DynamoDb::new(aws_sdk_dynamodb::Client::new(&config))
    }

    /// Create table `table` (on demand) unless it exists: for the local dev
    /// loop; a deployed stack gets its table from the templates.
    ///
    /// # Errors
    ///
    /// When DynamoDB fails.
    pub async fn create_table(&self, table: &str) -> Result<(), aws_sdk_dynamodb::Error> {
        use aws_sdk_dynamodb::types::{
            AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
        };
        if self
            .client
            .describe_table()
            .table_name(table)
            .send()
            .await
            .is_ok()
        {
            return Ok(());
        }
        self.client
            .create_table()
            .table_name(table)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("order_id")
                    .attribute_type(ScalarAttributeType::S)
                    .build()?,
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("order_id")
                    .key_type(KeyType::Hash)
                    .build()?,
            )
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await
            .map_err(aws_sdk_dynamodb::Error::from)?;
        Ok(())
    }
}

impl OrderStore for DynamoDb {
    fn save<'a>(&'a self, table: &'a str, record: &'a OrderRecord) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.client
                .put_item()
                .table_name(table)
                .item("order_id", AttributeValue::S(record.order_id.clone()))
                .item("status", AttributeValue::S(record.status.clone()))
                .item("reason", AttributeValue::S(record.reason.clone()))
                .send()
                .await?;
            Ok(())
        })
    }

    fn load<'a>(
        &'a self,
        table: &'a str,
        order_id: &'a str,
    ) -> StoreFuture<'a, Option<OrderRecord>> {
        Box::pin(async move {
            let item = self
                .client
                .get_item()
                .table_name(table)
                .key("order_id", AttributeValue::S(order_id.to_owned()))
                .consistent_read(true)
                .send()
                .await?
                .item;
            let text = |item: &HashMap<String, AttributeValue>, name: &str| {
                item.get(name)
                    .and_then(|v| v.as_s().ok())
                    .cloned()
                    .unwrap_or_default()
            };
            Ok(item.map(|item| OrderRecord {
                order_id: order_id.to_owned(),
                status: text(&item, "status"),
                reason: text(&item, "reason"),
            }))
        })
    }
}
