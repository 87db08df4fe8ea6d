//! The orders table: one item per order, partition key `order_id` (a string).
//! The workflow's tasks call only `GetItem`, `PutItem` and `UpdateItem` on it,
//! the permissions the deployment templates grant the worker.

use crate::model::Priced;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};
use aws_sdk_dynamodb::Client;
use std::collections::HashMap;
use tokio::sync::OnceCell;
use vow::Error;

/// The table's partition key.
pub const KEY: &str = "order_id";

/// Where an order stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Validated and priced; stock and payment under way.
    Validated,
    /// Invalid: nothing reserved or charged.
    Rejected,
    /// Stock reserved and payment taken.
    Confirmed,
    /// Reserving or charging failed, and what succeeded was undone.
    Cancelled,
    /// Undoing failed: someone must look at the order.
    CompensationFailed,
}

impl Status {
    /// The name stored in the table.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Validated => "validated",
            Status::Rejected => "rejected",
            Status::Confirmed => "confirmed",
            Status::Cancelled => "cancelled",
            Status::CompensationFailed => "compensation-failed",
        }
    }

    fn parse(s: &str) -> Option<Status> {
        [
            Status::Validated,
            Status::Rejected,
            Status::Confirmed,
            Status::Cancelled,
            Status::CompensationFailed,
        ]
        .into_iter()
        .find(|status| status.as_str() == s)
    }
}

/// An order's item in the table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderRecord {
    /// The order's id.
    pub order_id: String,
    /// Where it stands.
    pub status: Status,
    /// What it costs, in cents (absent when rejected).
    pub total_cents: Option<u64>,
    /// `reserved`, then `released` if undone.
    pub stock: Option<String>,
    /// `charged`, then `refunded` if undone.
    pub payment: Option<String>,
    /// Why it was rejected or cancelled.
    pub reason: Option<String>,
    /// The order as submitted, as JSON.
    order: String,
}

impl OrderRecord {
    fn from_item(item: &HashMap<String, AttributeValue>) -> Result<OrderRecord, String> {
        let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
        let status = text("status").unwrap_or_default();
        Ok(OrderRecord {
            order_id: text(KEY).ok_or("an order item without an id")?,
            status: Status::parse(&status).ok_or(format!("unknown order status `{status}`"))?,
            total_cents: item
                .get("total_cents")
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse().ok()),
            stock: text("stock"),
            payment: text("payment"),
            reason: text("reason"),
            order: text("order").unwrap_or_default(),
        })
    }
}

/// One client per process, built from the standard AWS configuration.
async fn client() -> &'static Client {
    static CLIENT: OnceCell<Client> = OnceCell::const_new();
    CLIENT
        .get_or_init(|| async { Client::new(&vow::aws::sdk_config().await) })
        .await
}

/// The order `order_id`'s record in `table`, if there is one.
///
/// # Errors
///
/// When DynamoDB fails, or the item is not an order's.
pub async fn fetch(
    client: &Client,
    table: &str,
    order_id: &str,
) -> Result<Option<OrderRecord>, Box<dyn std::error::Error + Send + Sync>> {
    let item = client
        .get_item()
        .table_name(table)
        .key(KEY, AttributeValue::S(order_id.to_owned()))
        .consistent_read(true)
        .send()
        .await
        .map_err(aws_sdk_dynamodb::Error::from)?
        .item;
    Ok(match item {
        Some(item) => Some(OrderRecord::from_item(&item)?),
        None => None,
    })
}

/// Create an orders table (on-demand) unless it exists: for emulators and
/// trials; deployed stacks get theirs from the template.
///
/// # Errors
///
/// When DynamoDB fails.
pub async fn create_table(client: &Client, table: &str) -> Result<(), aws_sdk_dynamodb::Error> {
    if client
        .describe_table()
        .table_name(table)
        .send()
        .await
        .is_ok()
    {
        return Ok(());
    }
    let created = client
        .create_table()
        .table_name(table)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(KEY)
                .attribute_type(ScalarAttributeType::S)
                .build()?,
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name(KEY)
                .key_type(KeyType::Hash)
                .build()?,
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await;
    match created {
        Err(e)
            if !e
                .as_service_error()
                .is_some_and(|s| s.is_resource_in_use_exception()) =>
        {
            Err(e.into())
        }
        _ => Ok(()),
    }
}

/// Record a new order: `priced` (validated) or `rejected` with a reason.
/// Returns `None` if this call recorded it, or the status of the same order
/// recorded before (by an earlier attempt, or an earlier placement) without
/// changing it. An order with the same id and other contents is an error.
pub(crate) async fn create(
    table: &str,
    priced: Result<&Priced, (&crate::Order, &str)>,
) -> Result<Option<Status>, Error> {
    let (order, status) = match priced {
        Ok(p) => (&p.order, Status::Validated),
        Err((order, _)) => (order, Status::Rejected),
    };
    let json = serde_json::to_string(order).map_err(|e| Error::permanent(e.to_string()))?;
    let mut put = client()
        .await
        .put_item()
        .table_name(table)
        .item(KEY, AttributeValue::S(order.order_id.clone()))
        .item("status", AttributeValue::S(status.as_str().to_owned()))
        .item("customer", AttributeValue::S(order.customer.clone()))
        .item("order", AttributeValue::S(json.clone()))
        .condition_expression("attribute_not_exists(#key)")
        .expression_attribute_names("#key", KEY);
    put = match priced {
        Ok(p) => put.item("total_cents", AttributeValue::N(p.total_cents.to_string())),
        Err((_, reason)) => put.item("reason", AttributeValue::S(reason.to_owned())),
    };
    match put.send().await {
        Ok(_) => Ok(None),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
        {
            // Created before: by an earlier attempt of this step, or by another order.
            let existing = fetch(client().await, table, &order.order_id)
                .await
                .map_err(|e| Error::retryable(e.to_string()))?;
            match existing {
                Some(record) if record.order == json => Ok(Some(record.status)),
                _ => Err(Error::permanent(format!(
                    "order id {} is taken by another order",
                    order.order_id
                ))),
            }
        }
        Err(e) => Err(Error::retryable(format!(
            "PutItem: {}",
            aws_sdk_dynamodb::Error::from(e)
        ))),
    }
}

/// Set `fields` of the order `order_id`, if its status is one of `from`; setting
/// `status` moves it on. Setting what is already set succeeds, so a retried step
/// may call this again.
pub(crate) async fn update(
    table: &str,
    order_id: &str,
    fields: &[(&str, String)],
    from: &[Status],
) -> Result<(), Error> {
    let mut update = client()
        .await
        .update_item()
        .table_name(table)
        .key(KEY, AttributeValue::S(order_id.to_owned()))
        .expression_attribute_names("#status", "status");
    let mut set = Vec::new();
    for (i, (name, value)) in fields.iter().enumerate() {
        set.push(format!("#f{i} = :f{i}"));
        update = update
            .expression_attribute_names(format!("#f{i}"), *name)
            .expression_attribute_values(format!(":f{i}"), AttributeValue::S(value.clone()));
    }
    let mut allowed = Vec::new();
    for (i, status) in from.iter().enumerate() {
        allowed.push(format!(":s{i}"));
        update = update.expression_attribute_values(
            format!(":s{i}"),
            AttributeValue::S(status.as_str().to_owned()),
        );
    }
    let result = update
        .update_expression(format!("SET {}", set.join(", ")))
        .condition_expression(format!("#status IN ({})", allowed.join(", ")))
        .send()
        .await;
    match result {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
        {
            Err(Error::permanent(format!(
                "order {order_id} is missing or no longer {}",
                from.iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(" or ")
            )))
        }
        Err(e) => Err(Error::retryable(format!(
            "UpdateItem: {}",
            aws_sdk_dynamodb::Error::from(e)
        ))),
    }
}
