//! What the vow Lambda functions share: turning an SQS event into deliveries and
//! failed message ids into a partial batch response, JSON logs, and one
//! CloudWatch embedded-metric-format line per batch.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use lambda_runtime::tracing::subscriber::fmt::MakeWriter;
use lambda_runtime::tracing::subscriber::EnvFilter;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use std::sync::Arc;
use std::time::{Instant, SystemTime};
use vow::poller::BatchHandler;
use vow::queue::Delivery;

/// Serve SQS batches with `handler` until the Lambda runtime stops: each event's
/// deliveries go to the handler, its failed ids come back as `batchItemFailures`.
/// After each batch, one EMF line with its counts and durations goes to stdout,
/// where CloudWatch Logs turns it into metrics (namespace `vow`, dimension
/// `function`).
pub async fn serve(handler: impl BatchHandler) -> Result<(), Error> {
    let handler = Arc::new(handler);
    let function = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "vow".into());
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let handler = handler.clone();
        let function = function.clone();
        async move {
            let deadline = invocation_deadline(event.context.deadline(), SystemTime::now());
            let batch = deliveries(event.payload);
            let (failed, stats) = handler.handle_by(batch, deadline).await?;
            println!(
                "{}",
                vow::emf::batch_line(&function, &stats, SystemTime::now())
            );
            Ok::<_, Error>(response(failed))
        }
    }))
    .await
}

/// The end of an invocation as an [`Instant`], from the runtime's deadline
/// (`Context::deadline`) read at `now`.
pub fn invocation_deadline(end: SystemTime, now: SystemTime) -> Instant {
    let left = end.duration_since(now).unwrap_or_default();
    let start = Instant::now();
    start.checked_add(left).unwrap_or(start)
}

/// Log JSON lines to stdout, for CloudWatch Logs: one object per event, with its
/// fields and the spans it happened in (`vow.message`, `vow.run` with `promise`,
/// `task` and `attempt`, `vow.settle` with `outcome`). The level comes from
/// `AWS_LAMBDA_LOG_LEVEL` (Lambda's logging controls), else `RUST_LOG`, else INFO.
pub fn init_logging() {
    let filter = log_filter(
        std::env::var("AWS_LAMBDA_LOG_LEVEL").ok().as_deref(),
        std::env::var("RUST_LOG").ok().as_deref(),
    );
    lambda_runtime::tracing::subscriber::util::SubscriberInitExt::init(json_logs(
        &filter,
        std::io::stdout,
    ));
}

/// The JSON subscriber of [`init_logging`], with `filter` directives, writing to
/// `writer`.
pub fn json_logs<W>(filter: &str, writer: W) -> impl lambda_runtime::tracing::Subscriber
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    lambda_runtime::tracing::subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(true)
        .with_env_filter(EnvFilter::new(filter))
        .with_writer(writer)
        .finish()
}

/// The filter directives: Lambda's log level (`TRACE` ... `FATAL`) wins over
/// `RUST_LOG`; INFO by default.
pub fn log_filter(lambda_level: Option<&str>, rust_log: Option<&str>) -> String {
    match (lambda_level.map(str::trim), rust_log.map(str::trim)) {
        (Some(level), _) if !level.is_empty() => match level.to_ascii_lowercase().as_str() {
            "fatal" => "error".to_owned(),
            level => level.to_owned(),
        },
        (_, Some(directives)) if !directives.is_empty() => directives.to_owned(),
        _ => "info".to_owned(),
    }
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
    fn the_deadline_is_the_time_left_from_now() {
        use std::time::{Duration, UNIX_EPOCH};
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let end = now + Duration::from_secs(30);
        let left = invocation_deadline(end, now) - Instant::now();
        assert!(left > Duration::from_secs(29) && left <= Duration::from_secs(30));
        let past = invocation_deadline(UNIX_EPOCH + Duration::from_secs(1), now);
        assert!(past <= Instant::now());
    }

    /// A log sink for tests.
    #[derive(Clone, Default)]
    struct Sink(Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let mut out = self.0.lock().unwrap_or_else(|e| e.into_inner());
            out.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn logs_are_json_lines_with_the_promise_task_and_attempt() {
        use vow::prelude::*;
        vow::check_tasks(&[vow_samples::tasks()]).expect("the samples' tasks are linked");
        let sink = Sink::default();
        let writer = sink.clone();
        let logs = json_logs("info", move || writer.clone());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let logs = lambda_runtime::tracing::Dispatch::new(logs);
        let id = lambda_runtime::tracing::dispatcher::with_default(&logs, || {
            runtime.block_on(async {
                let vow = Vow::embedded();
                let slow = vow_samples::SlowStep {
                    work_ms: 1_000,
                    timeout_ms: 10,
                };
                let p = vow.when(slow).await.expect("start");
                let wait = std::time::Duration::from_secs(5);
                assert!(vow.wait(&p, wait).await.expect("settles").is_err());
                p.id().to_string()
            })
        });
        let text = String::from_utf8(sink.0.lock().expect("logs").clone()).expect("utf-8");
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("each line is JSON"))
            .collect();
        let settled = lines
            .iter()
            .find(|l| l["message"] == "settled")
            .expect("a failed settle is logged at INFO");
        assert_eq!(settled["level"], "INFO");
        assert_eq!(settled["outcome"], "timeout");
        let spans = settled["spans"].as_array().expect("spans");
        let run = spans.iter().find(|s| s["name"] == "vow.run").expect("run");
        assert_eq!(run["promise"], id.as_str());
        assert_eq!(run["task"], "samples/slow-step");
        assert_eq!(run["attempt"], 1);
        let settle = spans.iter().find(|s| s["name"] == "vow.settle");
        assert_eq!(settle.expect("settle")["promise"], id.as_str());
        println!("{}", serde_json::to_string(settled).expect("json"));
    }

    #[test]
    fn lambda_log_level_wins_over_rust_log() {
        assert_eq!(log_filter(Some("DEBUG"), Some("warn")), "debug");
        assert_eq!(log_filter(Some("FATAL"), None), "error");
        assert_eq!(log_filter(None, Some("vow=debug,info")), "vow=debug,info");
        assert_eq!(log_filter(Some(""), None), "info");
        assert_eq!(log_filter(None, None), "info");
    }

    #[test]
    fn the_worker_serves_the_sample_tasks() {
        vow::check_tasks(&[vow_samples::tasks()]).expect("the samples' tasks are linked");
        let tags: Vec<&str> = vow::registered_tasks().iter().map(|r| r.tag).collect();
        assert!(
            tags.contains(&"samples/map-count") && tags.contains(&"samples/shout"),
            "{tags:?}"
        );
    }
}
