use super::classify;
use super::metrics::{Call, Metrics};
use crate::error::BackendError;
use crate::queue::{Delivery, Outgoing, Queue, MAX_DELAY};
use async_trait::async_trait;
use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, MessageSystemAttributeName, SendMessageBatchRequestEntry,
};
use aws_sdk_sqs::Client;
use std::sync::Arc;
use std::time::Duration;

/// SQS allows 10 entries and 256 KiB per batch.
const MAX_BATCH: usize = 10;
const MAX_BATCH_BYTES: usize = 250 * 1024;
/// `SendMessageBatch` calls one `send` keeps in flight.
const SENDS_IN_FLIGHT: usize = 8;

/// The result of one spawned batch send.
fn joined(
    done: Option<Result<Result<(), BackendError>, tokio::task::JoinError>>,
) -> Result<(), BackendError> {
    match done {
        Some(Ok(result)) => result,
        Some(Err(e)) => Err(BackendError::transient(format!("batch send aborted: {e}"))),
        None => Ok(()),
    }
}

/// A [`Queue`] on Amazon SQS. Sends go out in `SendMessageBatch` calls.
#[derive(Clone, Debug)]
pub struct SqsQueue {
    client: Client,
    url: String,
    metrics: Arc<Metrics>,
}

impl SqsQueue {
    /// The queue at `url`.
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        SqsQueue {
            client,
            url: url.into(),
            metrics: Arc::default(),
        }
    }

    /// Count requests in `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// The queue's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    async fn send_chunk(&self, chunk: &[Outgoing]) -> Result<(), BackendError> {
        let mut pending: Vec<usize> = (0..chunk.len()).collect();
        for round in 0..3 {
            let entries = pending
                .iter()
                .map(|&i| {
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(&chunk[i].body)
                        .delay_seconds(delay_seconds(chunk[i].delay))
                        .build()
                        .map_err(|e| BackendError::fatal(format!("SendMessageBatch entry: {e}")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            self.metrics.count(Call::SqsSend);
            self.metrics
                .payload(pending.iter().map(|&i| chunk[i].body.len()).sum());
            let out = self
                .client
                .send_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| classify("SendMessageBatch", e))?;
            if out.failed().is_empty() {
                return Ok(());
            }
            let failures: Vec<String> = out
                .failed()
                .iter()
                .map(|f| format!("{}: {}", f.code(), f.message().unwrap_or("")))
                .collect();
            if out.failed().iter().any(|f| f.sender_fault()) || round == 2 {
                return Err(BackendError::transient(format!(
                    "SendMessageBatch failed for {} entries: {}",
                    failures.len(),
                    failures.join("; ")
                )));
            }
            pending = out
                .failed()
                .iter()
                .filter_map(|f| f.id().parse().ok())
                .collect();
            tokio::time::sleep(Duration::from_millis(50 << round)).await;
        }
        Ok(())
    }
}

#[async_trait]
impl Queue for SqsQueue {
    fn name(&self) -> &str {
        crate::signing::queue_name(&self.url)
    }

    async fn send(&self, messages: Vec<Outgoing>) -> Result<(), BackendError> {
        let mut chunks = Vec::new();
        let mut rest = messages;
        while !rest.is_empty() {
            let mut end = 0;
            let mut bytes = 0;
            while end < rest.len()
                && end < MAX_BATCH
                && (end == 0 || bytes + rest[end].body.len() <= MAX_BATCH_BYTES)
            {
                bytes += rest[end].body.len();
                end += 1;
            }
            let tail = rest.split_off(end);
            chunks.push(rest);
            rest = tail;
        }
        if chunks.len() == 1 {
            return self.send_chunk(&chunks[0]).await;
        }
        // Large fan-outs: several batches in flight at once.
        let mut sending = tokio::task::JoinSet::new();
        for chunk in chunks {
            if sending.len() >= SENDS_IN_FLIGHT {
                joined(sending.join_next().await)?;
            }
            let queue = self.clone();
            sending.spawn(async move { queue.send_chunk(&chunk).await });
        }
        while let Some(done) = sending.join_next().await {
            joined(Some(done))?;
        }
        Ok(())
    }

    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>, BackendError> {
        self.metrics.count(Call::SqsReceive);
        let out = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(i32::try_from(max.clamp(1, MAX_BATCH)).unwrap_or(10))
            .wait_time_seconds(i32::try_from(wait.as_secs().min(20)).unwrap_or(20))
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(|e| classify("ReceiveMessage", e))?;
        self.metrics.payload(
            out.messages()
                .iter()
                .map(|m| m.body().map_or(0, str::len))
                .sum(),
        );
        Ok(out
            .messages
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| {
                let receive_count = m
                    .attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(1);
                Some(Delivery {
                    message_id: m.message_id?,
                    receipt: m.receipt_handle?,
                    body: m.body.unwrap_or_default(),
                    receive_count,
                })
            })
            .collect())
    }

    async fn delete(&self, receipts: Vec<String>) -> Result<(), BackendError> {
        for chunk in receipts.chunks(MAX_BATCH) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(r)
                        .build()
                        .map_err(|e| BackendError::fatal(format!("DeleteMessageBatch entry: {e}")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            self.metrics.count(Call::SqsDelete);
            let out = self
                .client
                .delete_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| classify("DeleteMessageBatch", e))?;
            if !out.failed().is_empty() {
                // An undeleted message is redelivered and recognised as settled.
                tracing::warn!(failed = out.failed().len(), "some deletes failed");
            }
        }
        Ok(())
    }

    async fn release(&self, receipt: &str, after: Duration) -> Result<(), BackendError> {
        self.metrics.count(Call::SqsOther);
        self.client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .visibility_timeout(i32::try_from(after.as_secs().min(43_200)).unwrap_or(43_200))
            .send()
            .await
            .map_err(|e| classify("ChangeMessageVisibility", e))?;
        Ok(())
    }
}

/// SQS's `DelaySeconds` for a delay: whole seconds, rounded up (a message is
/// never delivered before its delay is over), at most [`MAX_DELAY`].
fn delay_seconds(delay: Duration) -> i32 {
    let capped = delay.min(MAX_DELAY);
    let secs = capped.as_secs() + u64::from(capped.subsec_nanos() > 0);
    i32::try_from(secs).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod delay_tests {
    use super::*;

    #[test]
    fn delays_round_up_to_whole_seconds_within_the_sqs_limit() {
        assert_eq!(delay_seconds(Duration::ZERO), 0);
        assert_eq!(delay_seconds(Duration::from_millis(1)), 1);
        assert_eq!(delay_seconds(Duration::from_millis(2_000)), 2);
        assert_eq!(delay_seconds(Duration::from_millis(2_001)), 3);
        assert_eq!(delay_seconds(Duration::from_secs(3_600)), 900);
    }
}
