//! A hostile producer against a signing deployment on the emulators (SQS on
//! LocalStack, the table on moto), served by the AWS backend's workers and
//! dead-letter handler: the cases of `sdk/tests/hostile.rs` on real queues.
//! Unsigned, altered, stale, future-dated and other-queue messages run
//! nothing, and the dead-letter handler settles each one's promise as
//! `BadInput`; a captured message replayed once it is old runs nothing again.
//!
//! Messages are captured from a producer that shares the stack's table but
//! whose queue is an in-memory one bearing the work queue's name (so what it
//! signs verifies there), then sent to the real queue as an attacker would.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use vow::memory::MemoryQueue;
use vow::prelude::*;
use vow::queue::{Outgoing, Queue};
use vow::signing::{queue_name, unverified_body, SigningKeys};
use vow::{FailureKind, PromiseId, Vow};
use vow_e2e::{test_engine, Stack};

const WAIT: Duration = Duration::from_secs(180);
const MINUTE: Duration = Duration::from_secs(60);
const DAY: Duration = Duration::from_secs(24 * 3600);

/// Runs per key, across this process's workers.
static RUNS: Mutex<Option<HashMap<String, usize>>> = Mutex::new(None);

fn runs(key: &str) -> usize {
    let runs = RUNS.lock().unwrap_or_else(|e| e.into_inner());
    runs.as_ref().and_then(|m| m.get(key).copied()).unwrap_or(0)
}

/// A step with a side effect (a charge): counts its runs under `key`.
#[derive(Debug, Serialize, Deserialize)]
struct Charge {
    key: String,
}

#[vow::task("hostile-e2e/charge")]
impl Task for Charge {
    type Input = ();
    type Output = usize;
    async fn run(self, _: (), _cx: &Cx) -> Result<Resolution<usize>, Error> {
        let mut runs = RUNS.lock().unwrap_or_else(|e| e.into_inner());
        let n = runs
            .get_or_insert_with(HashMap::new)
            .entry(self.key)
            .or_default();
        *n += 1;
        done(*n)
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).expect("ms")
}

fn now_ms() -> u64 {
    ms(SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after the epoch"))
}

/// Every body in `capture`.
async fn captured(capture: &MemoryQueue) -> Vec<String> {
    let mut bodies = Vec::new();
    loop {
        let batch = capture.receive(10, Duration::ZERO).await.expect("receive");
        if batch.is_empty() {
            return bodies;
        }
        let receipts = batch.iter().map(|d| d.receipt.clone()).collect();
        capture.delete(receipts).await.expect("delete");
        bodies.extend(batch.into_iter().map(|d| d.body));
    }
}

/// The one body that names `key`.
fn naming(bodies: &[String], key: &str) -> String {
    let found: Vec<&String> = bodies.iter().filter(|b| b.contains(key)).collect();
    assert_eq!(found.len(), 1, "one message names {key}");
    found[0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hostile_messages_run_nothing_on_the_emulators() {
    vow_e2e::require_emulators();
    let keys = SigningKeys::parse("k1=hostile-emulator-secret-0123456789").expect("keys");
    let mut stack = Stack::signed("hostile", 2, keys.clone())
        .await
        .with_workers(2);
    let queue = queue_name(&stack.names.queue_url).to_owned();
    let capture = Arc::new(
        MemoryQueue::new(Duration::from_secs(30), u32::MAX, None).with_name(queue.clone()),
    );
    let mut config = test_engine();
    config.signing = Some(keys.clone());
    let producer = Vow::client(stack.vow.engine().store().clone(), capture.clone(), config);
    let names: Vec<String> = (0..6).map(|_| PromiseId::random().to_string()).collect();
    let mut promises = Vec::new();
    for name in &names {
        let flow = producer.flow();
        promises.push(flow.when(Charge { key: name.clone() }));
        producer.start(&flow).await.expect("start");
    }
    let bodies = captured(&capture).await;
    let inner = |i: usize| unverified_body(&naming(&bodies, &names[i])).to_owned();
    let forged_key = PromiseId::random().to_string();
    let genuine = naming(&bodies, &names[5]);
    let send = |bodies: Vec<String>| {
        let messages = bodies
            .into_iter()
            .map(|body| Outgoing {
                body,
                delay: Duration::ZERO,
            })
            .collect();
        stack.vow.engine().queue().send(messages)
    };
    send(vec![
        // Unsigned.
        inner(0),
        // Signed, then altered: another customer charged.
        naming(&bodies, &names[1]).replace(&names[1], &forged_key),
        // Signed with the real key, longer ago than a message may wait.
        keys.sign(&queue, now_ms() - ms(15 * DAY), &inner(2)),
        // Dated an hour ahead.
        keys.sign(&queue, now_ms() + ms(60 * MINUTE), &inner(3)),
        // Signed for another deployment's queue.
        keys.sign("someone-elses-work-queue", now_ms(), &inner(4)),
        // And one genuine message.
        genuine.clone(),
    ])
    .await
    .expect("send");
    for (i, promise) in promises[..5].iter().enumerate() {
        let failure = stack
            .vow
            .wait(promise, WAIT)
            .await
            .expect("settled")
            .expect_err("refused");
        assert_eq!(failure.kind(), FailureKind::BadInput, "{i}: {failure}");
        assert!(
            failure.message().contains("failed verification"),
            "{i}: {failure}"
        );
    }
    let ran = stack.vow.wait(&promises[5], WAIT).await.expect("settled");
    assert_eq!(ran, Ok(1), "the genuine message ran");
    for name in names[..5].iter().chain([&forged_key]) {
        assert_eq!(runs(name), 0, "a forged message ran");
    }

    // The genuine message captured and replayed once it is older than the
    // replay check (the workers' clock moves on): it checks its promise
    // first, finds it settled, and runs nothing.
    stack.vow.engine().skip_clock(10 * MINUTE);
    send(vec![genuine]).await.expect("send");
    let give_up = std::time::Instant::now() + WAIT;
    loop {
        let (visible, in_flight) = stack.depth(&stack.names.queue_url).await;
        if visible + in_flight == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < give_up,
            "the replay stayed queued"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(runs(&names[5]), 1, "the replay ran the charge again");
    stack.shutdown().await;
}
