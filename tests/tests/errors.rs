//! Real AWS SDK errors, from the emulators, returned with `?` by tasks running
//! on SQS + DynamoDB: a missing table settles at once with the service's code
//! and message; a connection that cannot be made is retried until `Crashed`.

use serde::{Deserialize, Serialize};
use std::time::Duration;
use vow::prelude::*;
use vow_e2e::Stack;

const WAIT: Duration = Duration::from_secs(120);

/// Reads an item from `table` with the standard AWS configuration, or from an
/// endpoint nothing listens on, and returns its `?` errors as they come.
#[derive(Debug, Serialize, Deserialize)]
struct ReadItem {
    table: String,
    dead_endpoint: bool,
}

#[vow::task("e2e/errors/read-item")]
impl Task for ReadItem {
    type Input = ();
    type Output = bool;
    async fn run(self, _: (), _: &Cx) -> Result<Resolution<bool>, Error> {
        let sdk = vow::aws::sdk_config().await;
        let mut config = aws_sdk_dynamodb::config::Builder::from(&sdk)
            .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled());
        if self.dead_endpoint {
            // Port 9 (discard) on loopback: nothing listens there.
            config = config.endpoint_url("http://127.0.0.1:9");
        }
        let client = aws_sdk_dynamodb::Client::from_conf(config.build());
        let item = client
            .get_item()
            .table_name(&self.table)
            .key("id", aws_sdk_dynamodb::types::AttributeValue::S("x".into()))
            .send()
            .await?;
        done(item.item().is_some())
    }
}

async fn settle(stack: &Stack, task: ReadItem) -> (Failure, Option<u32>) {
    let p = stack.vow.when(task).await.expect("start");
    let failure = stack
        .vow
        .wait(&p, WAIT)
        .await
        .expect("settles")
        .expect_err("fails");
    let attempt = stack.vow.inspect(p.id()).await.expect("inspect").attempt;
    (failure, attempt)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_missing_table_settles_at_once_naming_the_service_error() {
    let stack = Stack::new("errors-missing", 5).await.with_workers(1);
    let (failure, attempt) = settle(
        &stack,
        ReadItem {
            table: format!("{}-missing", stack.names.table_name),
            dead_endpoint: false,
        },
    )
    .await;
    println!("settled: {failure}");
    assert_eq!(failure.kind(), FailureKind::Error, "{failure}");
    assert_eq!(attempt, Some(1), "not retried: {failure}");
    assert!(
        failure
            .message()
            .starts_with("service error: ResourceNotFoundException"),
        "the chain, not just `service error`: {failure}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unreachable_endpoint_is_retried_until_crashed() {
    let stack = Stack::new("errors-dispatch", 5).await.with_workers(1);
    let (failure, attempt) = settle(
        &stack,
        ReadItem {
            table: stack.names.table_name.clone(),
            dead_endpoint: true,
        },
    )
    .await;
    println!("settled: {failure}");
    assert_eq!(failure.kind(), FailureKind::Crashed, "{failure}");
    assert_eq!(attempt, Some(3), "the default attempts: {failure}");
    assert!(failure.message().contains("dispatch failure"), "{failure}");
}
