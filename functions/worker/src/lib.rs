//! What the vow Lambda functions share: turning an SQS event into deliveries and
//! failed message ids into a partial batch response.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use std::sync::Arc;
use vow::poller::BatchHandler;
use vow::queue::Delivery;

/// Serve SQS batches with `handler` until the Lambda runtime stops: each event's
/// deliveries go to the handler, its failed ids come back as `batchItemFailures`.
pub async fn serve(handler: impl BatchHandler) -> Result<(), Error> {
    let handler = Arc::new(handler);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let handler = handler.clone();
        async move {
            let failed = handler.handle(deliveries(event.payload)).await?;
            Ok::<_, Error>(response(failed))
        }
    }))
    .await
}

/// The deliveries in an SQS event. A record without a message id cannot be
/// reported as failed, so it is skipped (and logged).
pub fn deliveries(event: SqsEvent) -> Vec<Delivery> {
    event
        .records
        .into_iter()
        .filter_map(|r| {
            let Some(message_id) = r.message_id else {
                lambda_runtime::tracing::warn!("SQS record without a message id skipped");
                return None;
            };
            Some(Delivery {
                receive_count: r
                    .attributes
                    .get("ApproximateReceiveCount")
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(1),
                receipt: r.receipt_handle.unwrap_or_default(),
                body: r.body.unwrap_or_default(),
                message_id,
            })
        })
        .collect()
}

/// A partial batch response naming the failed messages (`ReportBatchItemFailures`).
pub fn response(failed: Vec<String>) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failed
        .into_iter()
        .map(|id| {
            let mut f = BatchItemFailure::default();
            f.item_identifier = id;
            f
        })
        .collect();
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_become_deliveries_and_failures_a_response() {
        let event: SqsEvent = serde_json::from_value(serde_json::json!({"Records": [
            {"messageId": "a", "receiptHandle": "r", "body": "x",
             "attributes": {"ApproximateReceiveCount": "4"}, "messageAttributes": {}},
            {"receiptHandle": "r2", "body": "y", "attributes": {}, "messageAttributes": {}}
        ]}))
        .expect("event");
        let d = deliveries(event);
        assert_eq!(d.len(), 1);
        assert_eq!((d[0].message_id.as_str(), d[0].receive_count), ("a", 4));
        let json = serde_json::to_value(response(vec!["a".into()])).expect("json");
        assert_eq!(
            json,
            serde_json::json!({"batchItemFailures": [{"itemIdentifier": "a"}]})
        );
    }

    #[test]
    fn the_worker_serves_the_sample_tasks() {
        vow_samples::link();
        let tags: Vec<&str> = vow::registered_tasks().iter().map(|r| r.tag).collect();
        assert!(
            tags.contains(&"samples/map-count") && tags.contains(&"samples/shout"),
            "{tags:?}"
        );
    }
}
