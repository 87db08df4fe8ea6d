//! The raw baseline as a Lambda function, for the cold-start and CPU figures of
//! the benchmark: what one would write by hand with `lambda_runtime` and the
//! plain SDK. Each record of an SQS event is one step: one `PutItem` of its
//! result into the table named by `BASELINE_TABLE`. It builds an SQS client as
//! well, as a function that sends successors would.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use aws_sdk_dynamodb::types::AttributeValue;
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let ddb = aws_sdk_dynamodb::Client::new(&config);
    let _sqs = aws_sdk_sqs::Client::new(&config);
    let table = std::env::var("BASELINE_TABLE")?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| {
        let (ddb, table) = (&ddb, &table);
        async move {
            for record in event.payload.records {
                let id = record.message_id.unwrap_or_default();
                let body = record.body.unwrap_or_default();
                ddb.put_item()
                    .table_name(table)
                    .item("pk", AttributeValue::S(format!("step#{id}")))
                    .item(
                        "s0",
                        AttributeValue::S(format!(r#"{{"o":{{"Ok":{body:?}}}}}"#)),
                    )
                    .item("ttl", AttributeValue::N("1764200000".into()))
                    .send()
                    .await?;
            }
            Ok::<_, Error>(SqsBatchResponse::default())
        }
    }))
    .await
}
