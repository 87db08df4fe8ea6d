//! The vow dead-letter Lambda: settles the promise of each dead-lettered message
//! (see `vow_lambda::DeadLetters`).

#[tokio::main]
async fn main() -> Result<(), vow_lambda::Error> {
    vow_lambda::DeadLetters::new().run().await
}
