//! The vow dead-letter Lambda: consumes the dead-letter queue and settles each
//! message's promise (if still pending) with a failure saying why it died, so
//! dependents always get an outcome. Works without decoding the task.

use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let vow = vow::Vow::aws().await?;
    let engine = vow.engine().clone();
    lambda_runtime::run(service_fn(move |event: LambdaEvent<_>| {
        let engine = engine.clone();
        async move {
            let failed = engine
                .handle_dead_letters(vow_worker::deliveries(event.payload))
                .await;
            Ok::<_, Error>(vow_worker::response(failed))
        }
    }))
    .await
}
