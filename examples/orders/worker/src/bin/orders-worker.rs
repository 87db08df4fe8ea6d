//! The worker function: runs the order workflow's tasks from the work queue.

#[tokio::main]
async fn main() -> Result<(), vow_lambda::Error> {
    vow_lambda::Worker::new().tasks(orders::tasks()).run().await
}
