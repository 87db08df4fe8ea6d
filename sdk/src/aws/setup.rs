//! Create the table and queues vow needs, for local emulators and quick trials.
//! Production stacks come from the SAM template or the Terraform module.

use super::classify;
use super::store::{KEY, TTL};
use crate::error::BackendError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;

/// Create the table if it does not exist (on-demand, `pk` key, TTL on `ttl`).
pub async fn ensure_table(
    client: &aws_sdk_dynamodb::Client,
    name: &str,
) -> Result<(), BackendError> {
    if client
        .describe_table()
        .table_name(name)
        .send()
        .await
        .is_ok()
    {
        return Ok(());
    }
    let attr = AttributeDefinition::builder()
        .attribute_name(KEY)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .map_err(|e| BackendError::fatal(e.to_string()))?;
    let key = KeySchemaElement::builder()
        .attribute_name(KEY)
        .key_type(KeyType::Hash)
        .build()
        .map_err(|e| BackendError::fatal(e.to_string()))?;
    if let Err(e) = client
        .create_table()
        .table_name(name)
        .attribute_definitions(attr)
        .key_schema(key)
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
    {
        let exists = e
            .as_service_error()
            .is_some_and(|s| s.is_resource_in_use_exception());
        if !exists {
            return Err(classify("CreateTable", e));
        }
    }
    let ttl = TimeToLiveSpecification::builder()
        .attribute_name(TTL)
        .enabled(true)
        .build()
        .map_err(|e| BackendError::fatal(e.to_string()))?;
    // Emulators may not support TTL; records then simply stay.
    let _ = client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(ttl)
        .send()
        .await;
    Ok(())
}

/// Create the timer index's table if it does not exist (on-demand, `pk`
/// partition key and `sk` sort key, both strings, TTL on `ttl`; see
/// [`crate::timer_index`]).
pub async fn ensure_timer_table(
    client: &aws_sdk_dynamodb::Client,
    name: &str,
) -> Result<(), BackendError> {
    if client
        .describe_table()
        .table_name(name)
        .send()
        .await
        .is_ok()
    {
        return Ok(());
    }
    let string = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(|e| BackendError::fatal(e.to_string()))
    };
    let key = |name: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .map_err(|e| BackendError::fatal(e.to_string()))
    };
    if let Err(e) = client
        .create_table()
        .table_name(name)
        .attribute_definitions(string(super::timers::PARTITION)?)
        .attribute_definitions(string(super::timers::SORT)?)
        .key_schema(key(super::timers::PARTITION, KeyType::Hash)?)
        .key_schema(key(super::timers::SORT, KeyType::Range)?)
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
    {
        let exists = e
            .as_service_error()
            .is_some_and(|s| s.is_resource_in_use_exception());
        if !exists {
            return Err(classify("CreateTable", e));
        }
    }
    let ttl = TimeToLiveSpecification::builder()
        .attribute_name(TTL)
        .enabled(true)
        .build()
        .map_err(|e| BackendError::fatal(e.to_string()))?;
    // Emulators may not support TTL; items then simply stay.
    let _ = client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(ttl)
        .send()
        .await;
    Ok(())
}

/// Create (or find) a queue and its dead-letter queue with a redrive after
/// `max_receives` deliveries; returns the two URLs.
pub async fn ensure_queues(
    client: &aws_sdk_sqs::Client,
    name: &str,
    max_receives: u32,
    visibility_secs: u32,
) -> Result<(String, String), BackendError> {
    let dlq_url = client
        .create_queue()
        .queue_name(format!("{name}-dlq"))
        .attributes(QueueAttributeName::MessageRetentionPeriod, "1209600")
        .send()
        .await
        .map_err(|e| classify("CreateQueue", e))?
        .queue_url
        .unwrap_or_default();
    let dlq_arn = client
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| classify("GetQueueAttributes", e))?
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .unwrap_or_default();
    let redrive =
        format!(r#"{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":"{max_receives}"}}"#);
    let url = client
        .create_queue()
        .queue_name(name)
        .attributes(QueueAttributeName::RedrivePolicy, redrive)
        .attributes(
            QueueAttributeName::VisibilityTimeout,
            visibility_secs.to_string(),
        )
        .send()
        .await
        .map_err(|e| classify("CreateQueue", e))?
        .queue_url
        .unwrap_or_default();
    Ok((url, dlq_url))
}
