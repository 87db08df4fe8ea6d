//! A hostile producer against a signing deployment (issue 21, rule 10):
//! unsigned, altered, stale, future-dated and other-queue messages, replays of
//! captured ones, and continuations written straight into the table. Each is
//! refused with nothing run; what a refused dead letter names is settled as
//! `BadInput`, so nothing waits on it for ever.
//!
//! Messages are captured from a producer (a client sharing the store, whose
//! queue has no workers and bears the work queue's name) and handed to the
//! workers as an attacker would: sent again, altered or re-signed.

mod common;

use common::*;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use vow::memory::MemoryQueue;
use vow::prelude::*;
use vow::queue::{Delivery, Outgoing, Queue};
use vow::signing::{unverified_body, SigningKeys};
use vow::store::Cell;
use vow::wire::{Cont, RunOpts};
use vow::{FailureKind, Vow};

const MINUTE: Duration = Duration::from_secs(60);
const DAY: Duration = Duration::from_secs(24 * 3600);

/// A step with a side effect: counts its runs under `key` (a charge, an email).
#[derive(Debug, Serialize, Deserialize)]
struct Charge {
    key: String,
}

#[vow::task("hostile/charge")]
impl Task for Charge {
    type Input = ();
    type Output = u64;
    async fn run(self, _: (), _cx: &Cx) -> Result<Resolution<u64>, Error> {
        log(&self.key, "charged".into());
        done(runs(&self.key) as u64)
    }
}

/// What follows a charge: logs its runs under `key` and adds one.
#[derive(Debug, Serialize, Deserialize)]
struct Receipt {
    key: String,
}

#[vow::task("hostile/receipt")]
impl Task for Receipt {
    type Input = Result<u64, Failure>;
    type Output = u64;
    async fn run(self, charged: Self::Input, _cx: &Cx) -> Result<Resolution<u64>, Error> {
        log(&self.key, "sent".into());
        done(charged? + 1)
    }
}

/// How often the step logging under `key` ran.
fn runs(key: &str) -> usize {
    read_log(key).len()
}

fn keys() -> SigningKeys {
    SigningKeys::parse("k1=hostile-test-secret-0123").expect("keys")
}

/// Workers that sign and verify with [`keys`].
fn deployment() -> Vow {
    let mut config = fast_config();
    config.engine.signing = Some(keys());
    Vow::embedded_with(config)
}

/// A producer sharing `vow`'s store whose messages stay in a queue of their
/// own (named like the work queue, so they verify there): the capture.
fn producer(vow: &Vow) -> (Vow, Arc<MemoryQueue>) {
    let capture = Arc::new(MemoryQueue::new(Duration::from_secs(30), u32::MAX, None));
    let store = vow.memory_store().expect("embedded").clone();
    let mut config = fast_config().engine;
    config.signing = Some(keys());
    (Vow::client(store, capture.clone(), config), capture)
}

/// Every body captured so far.
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

/// The one captured body that names `key`.
fn body_naming(bodies: &[String], key: &str) -> String {
    let found: Vec<&String> = bodies.iter().filter(|b| b.contains(key)).collect();
    assert_eq!(found.len(), 1, "one message names {key}");
    found[0].clone()
}

async fn send(vow: &Vow, bodies: Vec<String>) {
    let messages = bodies
        .into_iter()
        .map(|body| Outgoing {
            body,
            delay: Duration::ZERO,
        })
        .collect();
    vow.engine().queue().send(messages).await.expect("send");
}

fn now_ms() -> u64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after the epoch");
    u64::try_from(since.as_millis()).expect("ms")
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).expect("ms")
}

/// Until no message is due or in flight, twice in a row.
async fn quiet(vow: &Vow) {
    let (work, dead) = vow.memory_queues().expect("embedded");
    let give_up = std::time::Instant::now() + WAIT;
    let mut calm = 0;
    while calm < 2 {
        assert!(std::time::Instant::now() < give_up, "never went quiet");
        tokio::time::sleep(Duration::from_millis(20)).await;
        calm = if work.busy() + dead.busy() == 0 {
            calm + 1
        } else {
            0
        };
    }
}

async fn bad_input(vow: &Vow, promise: &Promise<u64>) -> String {
    let failure = vow
        .wait(promise, WAIT)
        .await
        .expect("settled")
        .expect_err("refused");
    assert_eq!(failure.kind(), FailureKind::BadInput, "{failure}");
    failure.message().to_owned()
}

/// Unsigned, altered, stale, future-dated and other-queue messages run
/// nothing; each reaches the dead-letter handler, which settles its promise
/// as `BadInput` (before: forged ones were dropped and their promises hung;
/// stale, future-dated and other-queue ones ran).
#[tokio::test]
async fn forged_stale_future_and_other_queue_messages_run_nothing_and_settle_bad_input() {
    let vow = deployment();
    let (producer, capture) = producer(&vow);
    let names: Vec<String> = (0..5).map(|_| key()).collect();
    let mut promises = Vec::new();
    for name in &names {
        let flow = producer.flow();
        promises.push(flow.when(Charge { key: name.clone() }));
        producer.start(&flow).await.expect("start");
    }
    let bodies = captured(&capture).await;
    let inner = |i: usize| unverified_body(&body_naming(&bodies, &names[i])).to_owned();
    let queue = vow.engine().queue().name().to_owned();
    let k = keys();
    let forged_key = key();
    send(
        &vow,
        vec![
            // Unsigned.
            inner(0),
            // Signed, then altered: another customer charged.
            body_naming(&bodies, &names[1]).replace(&names[1], &forged_key),
            // Signed with a real key, but longer ago than a message may wait.
            k.sign(&queue, now_ms() - ms(15 * DAY), &inner(2)),
            // Dated an hour ahead.
            k.sign(&queue, now_ms() + ms(60 * MINUTE), &inner(3)),
            // Signed for another deployment's queue.
            k.sign("someone-elses-work-queue", now_ms(), &inner(4)),
        ],
    )
    .await;
    for (i, promise) in promises.iter().enumerate() {
        let why = bad_input(&vow, promise).await;
        assert!(why.contains("failed verification"), "{i}: {why}");
    }
    for name in names.iter().chain([&forged_key]) {
        assert_eq!(runs(name), 0, "nothing ran");
    }
}

/// A refused dead letter is counted (the `Refused` metric) and settles its
/// promise; nothing it carries runs.
#[tokio::test]
async fn a_refused_dead_letter_is_counted_and_settles_its_promise() {
    let vow = deployment();
    let (producer, capture) = producer(&vow);
    let name = key();
    let flow = producer.flow();
    let charged = flow.when(Charge { key: name.clone() });
    producer.start(&flow).await.expect("start");
    let body = captured(&capture).await.remove(0);
    let other = SigningKeys::parse("k1=a-removed-key-0123456789").expect("keys");
    let resigned = other.sign(
        vow.engine().queue().name(),
        now_ms(),
        unverified_body(&body),
    );
    let delivery = Delivery {
        message_id: "m1".into(),
        receipt: "r1".into(),
        body: resigned,
        receive_count: 3,
    };
    let (failed, stats) = vow.engine().handle_dead_letters_stats(vec![delivery]).await;
    assert!(failed.is_empty());
    assert_eq!((stats.refused, stats.dead_lettered), (1, 1), "{stats:?}");
    bad_input(&vow, &charged).await;
    assert_eq!(runs(&name), 0);
}

/// A captured message sent again finds its work done and runs nothing: a
/// replay older than a few minutes checks its promise first (before: it ran
/// its task again, and only its settle lost); one older than the queue's
/// retention is refused by age, even once its record has expired.
#[tokio::test]
async fn a_replayed_message_runs_nothing_twice() {
    let vow = deployment();
    let (producer, capture) = producer(&vow);
    let name = key();
    let after = key();
    let flow = producer.flow();
    let charged = flow.when(Charge { key: name.clone() });
    let next = charged.then(Receipt { key: after.clone() });
    producer.start(&flow).await.expect("start");
    let body = captured(&capture).await.remove(0);
    send(&vow, vec![body.clone()]).await;
    assert_eq!(vow.wait(&next, WAIT).await.expect("wait"), Ok(2));
    quiet(&vow).await;
    assert_eq!((runs(&name), runs(&after)), (1, 1));
    // Replayed minutes later, twice (an attacker's and an SQS duplicate).
    vow.skip_time(10 * MINUTE).expect("embedded");
    send(&vow, vec![body.clone(), body.clone()]).await;
    quiet(&vow).await;
    assert_eq!((runs(&name), runs(&after)), (1, 1), "ran again");
    // Days later, within the queue's retention: still nothing.
    vow.skip_time(12 * DAY).expect("embedded");
    send(&vow, vec![body.clone()]).await;
    quiet(&vow).await;
    assert_eq!((runs(&name), runs(&after)), (1, 1), "ran again");
    // After the records' TTL: refused by age.
    vow.skip_time(30 * DAY).expect("embedded");
    send(&vow, vec![body]).await;
    quiet(&vow).await;
    assert_eq!((runs(&name), runs(&after)), (1, 1), "ran again");
}

/// A message as old as the queue keeps messages still runs (a redrive from
/// the dead-letter queue within its retention): the age limit is the
/// retention plus the clocks' skew, not less.
#[tokio::test]
async fn a_message_within_the_retention_still_runs() {
    let vow = deployment();
    let (producer, capture) = producer(&vow);
    let name = key();
    let flow = producer.flow();
    let charged = flow.when(Charge { key: name.clone() });
    producer.start(&flow).await.expect("start");
    let body = captured(&capture).await.remove(0);
    vow.skip_time(14 * DAY - MINUTE).expect("embedded");
    send(&vow, vec![body]).await;
    assert_eq!(vow.wait(&charged, WAIT).await.expect("wait"), Ok(1));
}

/// A continuation written straight into a pending promise's record (table
/// write access, no key) is refused when the promise settles, and logged;
/// the continuations the engine stored there still run (before: the injected
/// one ran, signed with the worker's key).
#[tokio::test]
async fn continuations_written_straight_into_the_table_are_not_fired() {
    let vow = deployment();
    let name = key();
    let injected = key();
    let flow = vow.flow();
    let (approval, resolver) = flow.callback::<u64>(7 * DAY);
    let next = approval.then(Receipt { key: name.clone() });
    vow.start(&flow).await.expect("start");
    quiet(&vow).await;
    let hostile_id = PromiseId::random();
    let hostile = Cont::Then {
        id: hostile_id.clone(),
        task: serde_json::json!({"task": "hostile/receipt", "with": {"key": injected}}),
        opts: RunOpts::default(),
        conts: Vec::new(),
    };
    let store = vow.engine().store();
    let cell = Cell::of(approval.id());
    store
        .add_continuations(&cell, &[("hostile".to_owned(), hostile)])
        .await
        .expect("written");
    vow.resolve(&resolver, Ok(41)).await.expect("resolve");
    assert_eq!(vow.wait(&next, WAIT).await.expect("wait"), Ok(42));
    quiet(&vow).await;
    assert_eq!(runs(&injected), 0, "the injected continuation ran");
    assert_eq!(runs(&name), 1);
}
