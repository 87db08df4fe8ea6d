//! The vow worker Lambda: one invocation per SQS batch. Runs each message's task,
//! settles its promise in DynamoDB, sends what follows, and reports the messages to
//! retry as `batchItemFailures`.

use lambda_runtime::Error;
use vow::poller::InProcess;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let served = vow::check_tasks(&[vow_samples::tasks()])?;
    if std::env::args().any(|a| a == "--list-tasks") {
        for r in served {
            println!("{}\t{}", r.tag, r.type_name);
        }
        return Ok(());
    }
    // `vow-worker --check-upgrade [--work-queue]`: can this build decode what waits?
    if let Some(code) = vow::upgrade::run_if_requested().await {
        std::process::exit(code);
    }
    vow_worker::init_logging();
    let vow = vow::Vow::aws().await?;
    vow_worker::serve(InProcess::worker(vow.engine().clone())).await
}
