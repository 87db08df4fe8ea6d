//! A chaos worker process: the real worker code (`Poller` + `InProcess::worker`,
//! and the dead-letter handler) against the queue and table named by
//! `VOW_QUEUE_URL`, `VOW_DLQ_URL` and `VOW_TABLE_NAME`, signing with
//! `VOW_SIGNING_KEYS`, with the chaos tasks linked. Observations go to the file
//! named by `VOW_CHAOS_LOG`. Runs until killed.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use vow::aws::{AwsNames, DynamoStore, SqsQueue};
use vow::poller::{InProcess, Poller};
use vow::signing::SigningKeys;
use vow::Engine;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    if let Err(e) = vow::check_tasks(&[vow_samples::tasks()]) {
        return fail(&e.to_string());
    }
    let missing = vow_e2e::record::link();
    if !missing.is_empty() {
        return fail(&format!("tasks not linked: {missing:?}"));
    }
    let names = match AwsNames::from_env() {
        Ok(n) => n,
        Err(e) => return fail(&e.to_string()),
    };
    let Ok(dlq_url) = std::env::var("VOW_DLQ_URL") else {
        return fail("VOW_DLQ_URL is not set");
    };
    let signing = match SigningKeys::from_env() {
        Ok(k) => k,
        Err(f) => return fail(&f.to_string()),
    };
    let visibility = std::env::var("VOW_VISIBILITY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(Duration::from_secs(30), Duration::from_millis);
    let sdk = vow::aws::sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let store = Arc::new(DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        &names.table_name,
        names.record_ttl,
    ));
    let queue = Arc::new(SqsQueue::new(sqs.clone(), &names.queue_url));
    let dlq = Arc::new(SqsQueue::new(sqs, dlq_url));
    let mut config = vow_e2e::test_engine();
    config.signing = signing;
    config.inline_for = visibility / 4;
    let engine = Engine::new(store, queue.clone(), config);
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    let mut loops = tokio::task::JoinSet::new();
    for _ in 0..3 {
        let poller = Poller::new(queue.clone(), Arc::new(InProcess::worker(engine.clone())))
            .wait(Duration::from_secs(1))
            .failed_visibility(Duration::from_millis(100));
        loops.spawn(poller.run(stopped.clone()));
    }
    // Dead letters are noted in the log, so the audit can tell which ones
    // were healthy neighbours of a poison.
    let buries = Arc::new(InProcess::dead_letters(engine));
    let dead = Poller::new(dlq, Arc::new(vow_e2e::chaos::NotingDeadLetters(buries)))
        .wait(Duration::from_secs(1));
    loops.spawn(dead.run(stopped));
    while loops.join_next().await.is_some() {}
    ExitCode::SUCCESS
}

fn fail(why: &str) -> ExitCode {
    eprintln!("chaos_worker: {why}");
    ExitCode::FAILURE
}
