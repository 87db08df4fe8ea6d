//! The vow dead-letter Lambda: consumes the dead-letter queue and settles each
//! message's promise (if still pending) with a failure saying why it died, so
//! dependents always get an outcome. Works without decoding the task.

use lambda_runtime::Error;
use vow::poller::InProcess;

#[tokio::main]
async fn main() -> Result<(), Error> {
    vow_worker::init_logging();
    let vow = vow::Vow::aws().await?;
    vow_worker::serve(InProcess::dead_letters(vow.engine().clone())).await
}
