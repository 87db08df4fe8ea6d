//! At-least-once delivery: duplicated messages, crashes between settling and
//! sending, and bad input never settle twice, lose a step or panic.

mod common;

use async_trait::async_trait;
use common::*;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;
use vow::fault::{FaultConfig, Faults, FaultyQueue, FaultyStore};
use vow::memory::{MemoryQueue, MemoryStore};
use vow::poller::{InProcess, Poller};
use vow::queue::{Delivery, Outgoing, Queue};
use vow::store::Store;
use vow::wire::{Envelope, Target, WIRE_VERSION};
use vow::{BackendError, Engine, EngineConfig, FailureKind, PromiseId, Status, Vow};

/// Fails every `nth` send call, after the first.
struct FailEvery {
    inner: Arc<MemoryQueue>,
    nth: u32,
    calls: AtomicU32,
}

#[async_trait]
impl Queue for FailEvery {
    async fn send(&self, messages: Vec<Outgoing>) -> Result<(), BackendError> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        if call > 0 && call.is_multiple_of(self.nth) {
            return Err(BackendError::transient("injected: send failed"));
        }
        self.inner.send(messages).await
    }
    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>, BackendError> {
        self.inner.receive(max, wait).await
    }
    async fn delete(&self, receipts: Vec<String>) -> Result<(), BackendError> {
        self.inner.delete(receipts).await
    }
    async fn release(&self, receipt: &str, after: Duration) -> Result<(), BackendError> {
        self.inner.release(receipt, after).await
    }
    fn name(&self) -> &str {
        self.inner.name()
    }
}

/// Every message sent through it is delivered twice.
fn twice(inner: Arc<MemoryQueue>) -> Arc<dyn Queue> {
    let faults = Faults::new(FaultConfig {
        duplicate: 1.0,
        ..FaultConfig::default()
    });
    Arc::new(FaultyQueue::new(inner, Arc::new(faults)))
}

/// A client whose sends go through `queue`, with workers polling `inner`.
fn harness(queue: Arc<dyn Queue>, inner: Arc<MemoryQueue>) -> (Vow, Arc<MemoryStore>) {
    let store = Arc::new(MemoryStore::new());
    let vow = harness_with(queue, inner, store.clone(), fast_config().engine);
    (vow, store)
}

/// Like [`harness`], with workers on `store` and engine settings `config`.
fn harness_with(
    queue: Arc<dyn Queue>,
    inner: Arc<MemoryQueue>,
    store: Arc<dyn Store>,
    config: EngineConfig,
) -> Vow {
    let engine = Engine::new(store.clone(), queue.clone(), config.clone());
    for _ in 0..4 {
        let poller = Poller::new(inner.clone(), Arc::new(InProcess::worker(engine.clone())))
            .wait(Duration::from_millis(100))
            .failed_visibility(Duration::from_millis(10));
        tokio::spawn(async move {
            let (_keep, stop) = tokio::sync::watch::channel(false);
            poller.run(stop).await
        });
    }
    Vow::client(store, queue, config)
}

#[tokio::test]
async fn duplicated_messages_settle_once_and_count_joins_once() {
    let inner = Arc::new(MemoryQueue::new(Duration::from_millis(500), 5, None));
    let (vow, _) = harness(twice(inner.clone()), inner.clone());
    let (k_chain, k_join, k_all) = (key(), key(), key());
    let flow = vow.flow();
    let chain = flow
        .when(Value(1))
        .then(AddN {
            n: 1,
            key: k_chain.clone(),
        })
        .then(AddN {
            n: 1,
            key: k_chain.clone(),
        });
    let fanned = flow.fan_out((1..=100).map(Value)).then(SumAll {
        key: k_join.clone(),
    });
    let joined = flow
        .all([flow.when(Value(2)), flow.when(Value(3))])
        .then(SumAll { key: k_all.clone() });
    vow.start(&flow).await.expect("start");
    assert_eq!(vow.wait(&chain, WAIT).await.expect("settles"), Ok(3));
    assert_eq!(vow.wait(&fanned, WAIT).await.expect("settles"), Ok(5050));
    assert_eq!(vow.wait(&joined, WAIT).await.expect("settles"), Ok(5));
    // Duplicates may run a successor again, but never settle it twice: the values
    // above would be off if a join counted an arrival twice or a step applied twice.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        vow.status(chain.id()).await.expect("status"),
        Status::Done(3.into())
    );
    assert!(count(&k_join) >= 1 && count(&k_all) >= 1);
}

#[tokio::test]
async fn crashes_between_settling_and_sending_are_repaired() {
    let inner = Arc::new(MemoryQueue::new(Duration::from_millis(500), 10, None));
    let queue = Arc::new(FailEvery {
        inner: inner.clone(),
        nth: 3,
        calls: AtomicU32::new(0),
    });
    // Successors go through the queue here; the next test crashes inline runs.
    let mut config = fast_config().engine;
    config.inline_for = Duration::ZERO;
    let store = Arc::new(MemoryStore::new());
    let vow = harness_with(queue.clone(), inner.clone(), store, config);
    let k = key();
    let flow = vow.flow();
    let mut p = flow.when(Value(0));
    for _ in 0..20 {
        p = p.then(AddN {
            n: 1,
            key: k.clone(),
        });
    }
    let fanned = flow
        .fan_out((1..=40).map(Value))
        .then(SumAll { key: key() });
    vow.start(&flow).await.expect("start");
    assert_eq!(vow.wait(&p, WAIT).await.expect("settles"), Ok(20));
    assert_eq!(vow.wait(&fanned, WAIT).await.expect("settles"), Ok(820));
    assert!(
        queue.calls.load(Ordering::SeqCst) > 6,
        "faults were injected"
    );
    // Each repair re-fires a successor as a repair message, which checks the store
    // first: runs stay close to one per step.
    assert!(count(&k) <= 20 + 20 / 3 + 2, "ran {} times", count(&k));
}

#[tokio::test]
async fn crashes_during_inline_runs_are_repaired() {
    let inner = Arc::new(MemoryQueue::new(Duration::from_millis(500), 20, None));
    // A quarter of store writes take effect but report failure: the worker gives
    // up on the message midway through a chain of steps it was running inline.
    let faults = Arc::new(Faults::new(FaultConfig {
        fail_after: 0.25,
        seed: 7,
        ..FaultConfig::default()
    }));
    let store = Arc::new(FaultyStore::new(
        Arc::new(MemoryStore::new()),
        faults.clone(),
    ));
    let mut config = fast_config().engine;
    config.inline_for = Duration::from_millis(100);
    let vow = harness_with(inner.clone(), inner, store, config);
    let k = key();
    let flow = vow.flow();
    let mut p = flow.when(Value(0));
    for _ in 0..30 {
        p = p.then(AddN {
            n: 1,
            key: k.clone(),
        });
    }
    vow.start(&flow).await.expect("start");
    assert_eq!(vow.wait(&p, WAIT).await.expect("settles"), Ok(30));
    assert!(faults.injected() > 5, "faults were injected");
    // A step whose settle reported failure runs again only if its repair found no
    // settle: the chain's runs stay within one per step plus one per fault.
    assert!(
        u64::from(count(&k)) <= 30 + faults.injected(),
        "ran {} times",
        count(&k)
    );
}

fn envelope_for(id: &PromiseId, task: serde_json::Value) -> Envelope {
    Envelope {
        v: WIRE_VERSION,
        target: Target::Promise(id.clone()),
        token: "t1".into(),
        attempt: 1,
        repair: false,
        task,
        input: None,
        opts: Default::default(),
        conts: Vec::new(),
    }
}

#[tokio::test]
async fn bad_input_settles_with_a_clear_failure_and_never_panics() {
    let vow = embedded();
    let (queue, dlq) = vow.memory_queues().expect("embedded");
    let unknown = PromiseId::random();
    let future_version = PromiseId::random();
    let bad_fields = PromiseId::random();
    let mut v2 = serde_json::to_value(envelope_for(
        &future_version,
        serde_json::json!({"task": "test/value", "with": 1}),
    ))
    .expect("json");
    v2["v"] = 2.into();
    let full = envelope_for(
        &PromiseId::random(),
        serde_json::json!({"task": "test/value", "with": 1}),
    )
    .encode();
    let bodies = vec![
        "garbage".to_owned(),
        String::new(),
        "{\"v\":1}".to_owned(),
        full[..full.len() / 2].to_owned(),
        "[1,2,3]".to_owned(),
        "\u{0}\u{1}binary".to_owned(),
        envelope_for(
            &unknown,
            serde_json::json!({"task": "no-such-task", "with": null}),
        )
        .encode(),
        envelope_for(
            &bad_fields,
            serde_json::json!({"task": "test/value", "with": "not a number"}),
        )
        .encode(),
        v2.to_string(),
    ];
    queue
        .send(
            bodies
                .into_iter()
                .map(|body| Outgoing {
                    body,
                    delay: Duration::ZERO,
                })
                .collect(),
        )
        .await
        .expect("send");
    let wait = Duration::from_secs(30);
    let f = vow
        .wait(&vow::Handle::<u64>::from_id(unknown), wait)
        .await
        .expect("settles")
        .expect_err("fails");
    assert_eq!(f.kind(), FailureKind::UnknownTask);
    assert!(
        f.message().contains("no-such-task") && f.message().contains("register"),
        "{f}"
    );
    let f = vow
        .wait(&vow::Handle::<u64>::from_id(bad_fields), wait)
        .await
        .expect("settles")
        .expect_err("fails");
    assert_eq!(f.kind(), FailureKind::BadInput);
    let f = vow
        .wait(&vow::Handle::<u64>::from_id(future_version), wait)
        .await
        .expect("settles")
        .expect_err("fails");
    assert_eq!(f.kind(), FailureKind::BadInput);
    assert!(f.message().contains("wire version 2"), "{f}");
    // The workers are still healthy.
    let p = vow.when(Value(1)).await.expect("start");
    assert_eq!(vow.wait(&p, WAIT).await.expect("settles"), Ok(1));
    for _ in 0..100 {
        if queue.is_empty() && dlq.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        queue.is_empty() && dlq.is_empty(),
        "every bad message was consumed"
    );
}

#[test]
fn every_registered_task_decodes_by_tag() {
    let tags = vow::registered_tasks();
    assert!(tags.len() >= 6, "{tags:?}");
    for pair in tags.windows(2) {
        assert_ne!(pair[0].tag, pair[1].tag, "tag registered twice");
    }
    for r in tags {
        let probe = serde_json::json!({"task": r.tag, "with": null});
        if let Err(f) = vow::wire::decode_task(&probe) {
            assert_ne!(f.kind(), FailureKind::UnknownTask, "{}: {f}", r.tag);
        }
    }
}

#[tokio::test]
async fn signed_queues_reject_forged_and_altered_messages() {
    let mut config = fast_config();
    config.engine.signing = Some(
        vow::signing::SigningKeys::parse("k2=new-key-0123456789,k1=old-key-0123456789")
            .expect("keys"),
    );
    let vow = Vow::embedded_with(config);
    let (queue, dlq) = vow.memory_queues().expect("embedded");
    let ok = vow.when(Value(5)).await.expect("start");
    assert_eq!(vow.wait(&ok, WAIT).await.expect("settles"), Ok(5));

    let forged = PromiseId::random();
    let altered = PromiseId::random();
    let old_key = PromiseId::random();
    let env =
        |id: &PromiseId| envelope_for(id, serde_json::json!({"task": "test/value", "with": 7}));
    let signed = vow
        .engine()
        .seal(&env(&altered))
        .await
        .expect("seal")
        .replace("\"with\":7", "\"with\":8");
    let by_old = vow::signing::SigningKeys::parse("k1=old-key-0123456789")
        .expect("keys")
        .sign(
            vow::queue::Queue::name(queue.as_ref()),
            vow::signing::now_ms(),
            &env(&old_key).encode(),
        );
    let bodies = [env(&forged).encode(), signed, by_old];
    queue
        .send(
            bodies
                .into_iter()
                .map(|body| Outgoing {
                    body,
                    delay: Duration::ZERO,
                })
                .collect(),
        )
        .await
        .expect("send");
    let old = vow
        .wait(&vow::Handle::<u64>::from_id(old_key), WAIT)
        .await
        .expect("settles");
    assert_eq!(
        old,
        Ok(7),
        "messages signed with the old key still run during rotation"
    );
    for _ in 0..200 {
        if queue.is_empty() && dlq.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        queue.is_empty() && dlq.is_empty(),
        "rejected messages were dead-lettered"
    );
    // Nothing they carried ran; the dead-letter handler settled what they
    // named as bad input, so nothing waits on them for ever (issue 21).
    for id in [forged, altered] {
        let outcome = vow
            .wait(&vow::Handle::<u64>::from_id(id.clone()), WAIT)
            .await
            .expect("settles");
        assert_eq!(
            outcome.map_err(|f| f.kind()),
            Err(FailureKind::BadInput),
            "{id}"
        );
    }
}

#[tokio::test]
async fn values_of_several_mib_travel_out_of_line() {
    let vow = embedded();
    let mib = 1024 * 1024;
    let flow = vow.flow();
    let big_out = flow.when(Big {
        len: 3 * mib,
        pad: String::new(),
    });
    let big_arg = flow.when(Big {
        len: 0,
        pad: "y".repeat(2 * mib),
    });
    let joined = flow.fan_out([
        Big {
            len: mib,
            pad: String::new(),
        },
        Big {
            len: 5,
            pad: "z".repeat(mib),
        },
    ]);
    let total = joined.then(Lengths);
    vow.start(&flow).await.expect("start");
    assert_eq!(
        vow.wait(&big_out, WAIT)
            .await
            .expect("settles")
            .expect("ok")
            .len(),
        3 * mib
    );
    assert_eq!(
        vow.wait(&big_arg, WAIT)
            .await
            .expect("settles")
            .expect("ok")
            .len(),
        2 * mib
    );
    assert_eq!(
        vow.wait(&total, WAIT).await.expect("settles"),
        Ok(2 * mib + 5)
    );
    let store = vow.memory_store().expect("embedded");
    assert!(store.largest_record() <= vow::store::FAN_IN as usize);
}

/// An engine with no workers, on a fresh store, and the queue it sends to.
fn engine_alone(config: EngineConfig) -> (Arc<Engine>, Arc<MemoryQueue>) {
    let queue = Arc::new(MemoryQueue::new(Duration::from_millis(500), 5, None));
    let engine = Engine::new(Arc::new(MemoryStore::new()), queue.clone(), config);
    (engine, queue)
}

#[tokio::test]
async fn an_inline_successor_this_worker_cannot_decode_is_sent_as_its_own_message() {
    let (engine, queue) = engine_alone({
        let mut config = fast_config().engine;
        config.inline_for = Duration::from_secs(5);
        config
    });
    let (first, next) = (PromiseId::random(), PromiseId::random());
    // A successor registered in the enqueuing binary but not in this worker.
    let foreign = serde_json::json!({"task": "elsewhere/only", "with": null});
    let mut env = envelope_for(&first, serde_json::json!({"task": "test/value", "with": 7}));
    env.conts = vec![vow::wire::Cont::Then {
        id: next.clone(),
        task: foreign.clone(),
        opts: Default::default(),
        conts: Vec::new(),
    }];
    // The message that ran `first` succeeds: its own step settled, and the
    // successor it could not run inline is queued for a worker that can.
    engine.process(&env.encode(), 1).await.expect("processed");
    assert_eq!(
        engine.outcome(&first).await.expect("read"),
        Some(vow::wire::Outcome::Ok(7.into()))
    );
    assert_eq!(engine.outcome(&next).await.expect("read"), None);
    let sent = queue
        .receive(10, Duration::from_millis(100))
        .await
        .expect("receive");
    assert_eq!(sent.len(), 1, "exactly the successor was sent");
    let successor = engine.open(&sent[0].body).await.expect("opens");
    assert_eq!(successor.target, Target::Promise(next));
    assert_eq!(successor.task, foreign);
    assert_eq!(successor.input, Some(vow::wire::Outcome::Ok(7.into())));
}

#[tokio::test]
async fn successors_run_inline_only_if_their_timeout_ends_before_the_invocation() {
    let (engine, queue) = engine_alone({
        let mut config = fast_config().engine;
        config.inline_for = Duration::from_secs(5);
        config.default_timeout = Duration::from_secs(10);
        config
    });
    // A two-step chain in one message; the successor's timeout is `timeout_ms`
    // (the default, 10 s, when `None`); the invocation ends in `left`.
    let chain = |timeout_ms: Option<u64>, left: Duration| {
        let (engine, queue) = (engine.clone(), queue.clone());
        async move {
            let (first, next) = (PromiseId::random(), PromiseId::random());
            let mut env =
                envelope_for(&first, serde_json::json!({"task": "test/value", "with": 1}));
            env.conts = vec![vow::wire::Cont::Then {
                id: next.clone(),
                task: serde_json::json!({"task": "test/value", "with": 2}),
                opts: vow::wire::RunOpts {
                    timeout_ms,
                    max_attempts: None,
                },
                conts: Vec::new(),
            }];
            let delivery = Delivery {
                message_id: "m".into(),
                receipt: "r".into(),
                body: env.encode(),
                receive_count: 1,
            };
            let deadline = std::time::Instant::now() + left;
            let (failed, _) = engine.handle_batch_by(vec![delivery], deadline).await;
            assert!(failed.is_empty());
            assert!(engine.outcome(&first).await.expect("read").is_some());
            let ran_inline = engine.outcome(&next).await.expect("read").is_some();
            let sent = queue
                .receive(10, Duration::from_millis(50))
                .await
                .expect("receive");
            assert_eq!(
                sent.len(),
                usize::from(!ran_inline),
                "sent unless run inline"
            );
            ran_inline
        }
    };
    assert!(chain(None, Duration::from_secs(60)).await, "time enough");
    assert!(
        !chain(None, Duration::from_secs(5)).await,
        "10 s would outrun 5 s"
    );
    assert!(
        chain(Some(1_000), Duration::from_secs(5)).await,
        "1 s fits in 5 s"
    );
    assert!(
        !chain(Some(u64::MAX), Duration::from_secs(60)).await,
        "never"
    );
}
