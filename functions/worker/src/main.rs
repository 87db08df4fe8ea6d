//! The vow worker Lambda: one invocation per SQS batch. Runs each message's task,
//! settles its promise in DynamoDB, sends what follows, and reports the messages to
//! retry as `batchItemFailures`.

use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    vow_samples::link();
    if std::env::args().any(|a| a == "--list-tasks") {
        for r in vow::registered_tasks() {
            println!("{}\t{}", r.tag, r.type_name);
        }
        return Ok(());
    }
    lambda_runtime::tracing::init_default_subscriber();
    let vow = vow::Vow::aws().await?;
    let engine = vow.engine().clone();
    lambda_runtime::run(service_fn(move |event: LambdaEvent<_>| {
        let engine = engine.clone();
        async move {
            let failed = engine
                .handle_batch(vow_worker::deliveries(event.payload))
                .await;
            Ok::<_, Error>(vow_worker::response(failed))
        }
    }))
    .await
}
