//! SQS events in, partial batch responses out: what the Lambda event source
//! mapping hands a function and what it expects back with
//! `ReportBatchItemFailures`.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use std::time::{Instant, SystemTime};
use vow::queue::Delivery;

/// The deliveries in an SQS event. A record without a message id cannot be
/// reported as failed, so it is skipped (and logged).
pub(crate) fn deliveries(event: SqsEvent) -> Vec<Delivery> {
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
pub(crate) fn response(failed: Vec<String>) -> SqsBatchResponse {
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

/// The end of an invocation as an [`Instant`], from the runtime's deadline
/// (`Context::deadline`) read at `now`.
pub(crate) fn invocation_deadline(end: SystemTime, now: SystemTime) -> Instant {
    let left = end.duration_since(now).unwrap_or_default();
    let start = Instant::now();
    start.checked_add(left).unwrap_or(start)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn events_become_deliveries_and_failures_a_response() {
        let event: SqsEvent = serde_json::from_value(serde_json::json!({"Records": [
            {"messageId": "a", "receiptHandle": "r", "body": "x",
             "attributes": {"ApproximateReceiveCount": "4"}, "messageAttributes": {}},
            {"receiptHandle": "r2", "body": "y", "attributes": {}, "messageAttributes": {}},
            {"messageId": "c", "body": "z",
             "attributes": {"ApproximateReceiveCount": "many"}, "messageAttributes": {}}
        ]}))
        .expect("event");
        let d = deliveries(event);
        assert_eq!(d.len(), 2, "the record without an id is skipped");
        assert_eq!((d[0].message_id.as_str(), d[0].receive_count), ("a", 4));
        assert_eq!((d[0].receipt.as_str(), d[0].body.as_str()), ("r", "x"));
        assert_eq!((d[1].message_id.as_str(), d[1].receive_count), ("c", 1));
        let json = serde_json::to_value(response(vec!["a".into()])).expect("json");
        assert_eq!(
            json,
            serde_json::json!({"batchItemFailures": [{"itemIdentifier": "a"}]})
        );
        let none = serde_json::to_value(response(Vec::new())).expect("json");
        assert_eq!(none, serde_json::json!({"batchItemFailures": []}));
    }

    #[test]
    fn the_deadline_is_the_time_left_from_now() {
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let end = now + Duration::from_secs(30);
        let left = invocation_deadline(end, now) - Instant::now();
        assert!(left > Duration::from_secs(29) && left <= Duration::from_secs(30));
        let past = invocation_deadline(UNIX_EPOCH + Duration::from_secs(1), now);
        assert!(past <= Instant::now());
    }
}
