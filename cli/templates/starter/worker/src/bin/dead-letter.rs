//! The dead-letter function: settles the promises of messages the work queue
//! gave up on, so a workflow waiting on them still gets an outcome.

#[tokio::main]
async fn main() -> Result<(), vow_lambda::Error> {
    vow_lambda::DeadLetters::new().run().await
}
