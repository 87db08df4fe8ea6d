//! The vow worker Lambda serving the samples' tasks: one invocation per SQS
//! batch (see `vow_lambda::Worker`).

#[tokio::main]
async fn main() -> Result<(), vow_lambda::Error> {
    vow_lambda::Worker::new()
        .tasks(vow_samples::tasks())
        .run()
        .await
}
