//! Bounded against every message: work that is long by design (a loop written
//! as a task adopting its next iteration) runs in a bounded stack and at a
//! cost per iteration that does not grow with the loop's length.

mod common;

use common::*;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use vow::prelude::*;

/// Counts down by adopting its next iteration: the README's advice for loops.
#[derive(Debug, Serialize, Deserialize)]
struct Countdown {
    left: u32,
}

#[vow::task("bounds/countdown")]
impl Task for Countdown {
    type Input = ();
    type Output = String;
    async fn run(self, _: (), cx: &Cx) -> Result<Resolution<String>, Error> {
        if self.left == 0 {
            return done("lift-off".to_owned());
        }
        adopt(cx.when(Countdown {
            left: self.left - 1,
        }))
    }
}

/// Run a countdown of `n` iterations on a thread with a small stack (a Lambda
/// function's or a worker thread's is bounded too), so a depth that grows with
/// the loop shows as an overflow rather than passing on a big main stack.
fn countdown(n: u32) -> (Result<String, Failure>, u64) {
    let thread = std::thread::Builder::new()
        .stack_size(512 * 1024)
        .spawn(move || {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_stack_size(512 * 1024)
                .enable_all()
                .build()
                .expect("runtime")
                .block_on(async move {
                    let vow = embedded();
                    let root = vow.when(Countdown { left: n }).await.expect("start");
                    let outcome = vow
                        .wait(&root, Duration::from_secs(300))
                        .await
                        .expect("wait");
                    let (queue, _) = vow.memory_queues().expect("embedded");
                    (outcome, queue.sent())
                })
        })
        .expect("thread");
    thread.join().expect("no overflow")
}

#[test]
fn an_adoption_loop_of_thousands_of_iterations_finishes_and_costs_the_same_per_iteration() {
    let (outcome, short) = countdown(200);
    assert_eq!(outcome, Ok("lift-off".to_owned()));
    let (outcome, long) = countdown(3_000);
    assert_eq!(outcome, Ok("lift-off".to_owned()));
    // Messages per iteration: the same for a loop 15 times longer.
    let (per_short, per_long) = (short as f64 / 200.0, long as f64 / 3_000.0);
    assert!(per_long <= per_short * 1.2 + 0.05, "{per_short} {per_long}");
}

/// A join of an endless iterator is refused once it passes the limit, not
/// collected until memory runs out.
#[tokio::test]
async fn a_join_of_an_endless_iterator_is_refused_at_the_limit() {
    let vow = embedded();
    let flow = vow.flow();
    let _ = flow.fan_out(std::iter::repeat_with(|| Value(1)));
    let err = vow.start(&flow).await.expect_err("refused");
    assert!(
        err.to_string()
            .contains("a join of more than 1000000 promises"),
        "{err}"
    );
    let flow = vow.flow();
    let one = flow.when(Value(1));
    let _ = flow.all(std::iter::repeat(one));
    assert!(vow.start(&flow).await.is_err());
}

/// Never returns: its process dies while it runs (the test drops the batch).
#[derive(Debug, Serialize, Deserialize)]
struct Poison {
    key: String,
}

#[vow::task("bounds/poison")]
impl Task for Poison {
    type Input = ();
    type Output = ();
    async fn run(self, _: (), _cx: &Cx) -> Result<Resolution<()>, Error> {
        bump(&self.key);
        std::future::pending().await
    }
}

/// A message that kills its process (here: never returns, and the process
/// is given up on) beside healthy ones: after the first death every message
/// of the batch is a suspect; the healthy ones finish alone and leave the
/// queue before the poison runs again, so none of them reaches the
/// dead-letter queue, and each ran once.
#[tokio::test]
async fn a_message_that_kills_its_process_charges_no_other() {
    use vow::backend::{MemoryQueue, MemoryStore, Queue};
    let visibility = Duration::from_millis(200);
    let dead = std::sync::Arc::new(MemoryQueue::dead_letter_queue());
    let queue = std::sync::Arc::new(MemoryQueue::new(visibility, 4, Some(dead.clone())));
    let vow = Vow::client(
        std::sync::Arc::new(MemoryStore::new()),
        queue.clone(),
        vow::EngineConfig::default(),
    );
    let k = key();
    vow.when(Poison { key: k.clone() }).await.expect("sent");
    let healthy: Vec<String> = (0..6).map(|i| format!("{k}/{i}")).collect();
    for key in &healthy {
        vow.when(Counted { key: key.clone() }).await.expect("sent");
    }
    for _round in 0..8 {
        let batch = queue.receive(10, visibility).await.expect("receive");
        if batch.is_empty() {
            break;
        }
        let receipts: Vec<(String, String)> = batch
            .iter()
            .map(|d| (d.message_id.clone(), d.receipt.clone()))
            .collect();
        // The process dies if the batch is not done in a second.
        let handled =
            tokio::time::timeout(Duration::from_secs(1), vow.engine().handle_batch(batch)).await;
        if let Ok(failed) = handled {
            let done = receipts
                .into_iter()
                .filter(|(id, _)| !failed.contains(id))
                .map(|(_, receipt)| receipt)
                .collect();
            queue.delete(done).await.expect("delete");
        }
        tokio::time::sleep(visibility).await;
    }
    for key in &healthy {
        assert_eq!(count(key), 1, "{key} ran once");
    }
    let buried = dead.receive(10, Duration::ZERO).await.expect("receive");
    assert_eq!(
        buried.len(),
        1,
        "only the poison is dead-lettered: {buried:?}"
    );
    assert!(
        buried[0].body.contains("bounds/poison"),
        "{}",
        buried[0].body
    );
    assert_eq!(count(&k), 4, "the poison ran at each of its 4 deliveries");
}

/// A message asking for a timeout of 584 million years gets the engine's
/// longest: the attempt times out and the promise settles.
#[tokio::test]
async fn a_message_cannot_hold_a_worker_past_the_longest_timeout() {
    use vow::backend::{MemoryQueue, MemoryStore};
    use vow::wire::{Envelope, RunOpts, Target, WIRE_VERSION};
    let mut config = vow::EngineConfig::default();
    config.max_timeout = Duration::from_millis(200);
    config.default_max_attempts = 1;
    let queue = std::sync::Arc::new(MemoryQueue::dead_letter_queue());
    let vow = Vow::client(std::sync::Arc::new(MemoryStore::new()), queue, config);
    let k = key();
    let id = PromiseId::random();
    let opts = RunOpts {
        timeout_ms: Some(u64::MAX),
        max_attempts: Some(1),
    };
    let env = Envelope {
        v: WIRE_VERSION,
        token: "t".into(),
        target: Target::Promise(id.clone()),
        attempt: 1,
        repair: false,
        task: serde_json::json!({ "task": "bounds/poison", "with": { "key": k } }),
        input: None,
        opts,
        conts: Vec::new(),
    };
    let body = vow.engine().seal(&env).await.expect("seal");
    tokio::time::timeout(Duration::from_secs(20), vow.engine().process(&body, 1))
        .await
        .expect("the attempt ends")
        .expect("processed");
    let outcome = vow.engine().outcome(&id).await.expect("read");
    assert!(
        matches!(&outcome, Some(vow::backend::Outcome::Err(f)) if f.kind() == vow::FailureKind::Timeout),
        "{outcome:?}"
    );
}
