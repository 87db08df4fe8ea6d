//! The Lambda runtime loop: each invocation's SQS batch goes to a
//! [`BatchHandler`], its failed messages come back as a partial batch response,
//! and one CloudWatch embedded-metric-format line per batch goes to stdout.

use crate::sqs;
use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use std::sync::Arc;
use std::time::SystemTime;
use vow::poller::BatchHandler;

/// Serve SQS batches with `handler` until the Lambda runtime stops. CloudWatch
/// Logs turns each batch's EMF line into metrics (namespace `vow`, dimension
/// `function`: the function's name).
pub(crate) async fn serve(handler: impl BatchHandler) -> Result<(), Error> {
    let handler = Arc::new(handler);
    let function = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "vow".into());
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let handler = handler.clone();
        let function = function.clone();
        async move {
            let deadline = sqs::invocation_deadline(event.context.deadline(), SystemTime::now());
            let batch = sqs::deliveries(event.payload);
            let (failed, stats) = handler.handle_by(batch, deadline).await?;
            println!(
                "{}",
                vow::emf::batch_line(&function, &stats, SystemTime::now())
            );
            Ok::<_, Error>(sqs::response(failed))
        }
    }))
    .await
}
