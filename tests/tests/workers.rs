//! Workers outside Lambda on SQS (LocalStack) and DynamoDB (moto): a graceful
//! shutdown finishes the batch in flight and receives nothing after it starts.
//! Run with `./tests/run.sh`.

use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use vow::prelude::*;
use vow::queue::Queue;
use vow::Status;
use vow_e2e::Stack;
use vow_samples::Square;

static GATE_STARTED: AtomicBool = AtomicBool::new(false);
static GATE_OPEN: AtomicBool = AtomicBool::new(false);

/// Runs until the test opens the gate.
#[derive(Debug, Serialize, Deserialize)]
struct Gate;

#[vow::task("workers-test/gate")]
impl Task for Gate {
    type Input = ();
    type Output = String;
    async fn run(self, _: (), _cx: &Cx) -> Result<Resolution<String>, Error> {
        GATE_STARTED.store(true, Ordering::SeqCst);
        while !GATE_OPEN.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        done("passed".to_owned())
    }
}

async fn until(what: &str, cond: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !cond() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_graceful_shutdown_finishes_the_batch_in_flight_and_receives_nothing_after() {
    // A 30-second visibility timeout: an abandoned message would stay in flight.
    let stack = Stack::new("shutdown", 5).await;
    let workers = stack.vow.run_workers(1, None, Duration::from_secs(1));
    let (signal, signalled) = tokio::sync::oneshot::channel::<()>();
    let shutting = tokio::spawn(workers.shutdown_on(async move {
        let _ = signalled.await;
    }));

    let gate = stack.vow.when(Gate).await.expect("start");
    until("the gate task runs", || GATE_STARTED.load(Ordering::SeqCst)).await;
    signal.send(()).expect("signal");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !shutting.is_finished(),
        "shutdown must wait for the batch in flight"
    );
    // Sent after the shutdown started: no worker may receive it.
    let late = stack.vow.when(Square(4)).await.expect("start");

    GATE_OPEN.store(true, Ordering::SeqCst);
    tokio::time::timeout(Duration::from_secs(30), shutting)
        .await
        .expect("shutdown returns once the batch is done")
        .expect("shutdown does not panic");

    let settled = stack.vow.status(gate.id()).await.expect("status");
    assert_eq!(settled, Status::Done(serde_json::json!("passed")));
    assert_eq!(
        stack.depth(&stack.names.queue_url).await,
        (1, 0),
        "the gate's message is deleted, not left in flight; only the late one waits"
    );
    let status = stack.vow.status(late.id()).await.expect("status");
    assert_eq!(
        status,
        Status::Unknown,
        "nothing ran after the shutdown: no record"
    );
    let left = stack
        .queue()
        .receive(10, Duration::from_secs(1))
        .await
        .expect("receive");
    assert_eq!(left.len(), 1);
    assert_eq!(
        left[0].receive_count, 1,
        "no worker received the late message"
    );
}
