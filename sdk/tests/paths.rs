//! The less travelled paths keep the promise too: cancel, values stored out of
//! line, dead letters, settles from application code, panics and hostile
//! envelopes. Each test here reproduces a hole that once hung a workflow or let a
//! promise hold two values.

mod common;

use async_trait::async_trait;
use common::*;
use serde::{Deserialize, Deserializer, Serialize};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use vow::memory::{MemoryQueue, MemoryStore};
use vow::prelude::*;
use vow::queue::{Delivery, Outgoing, Queue};
use vow::wire::{Cont, Envelope, Outcome, Target, WIRE_VERSION};
use vow::{BackendError, Engine, EngineConfig};

/// Sleeps, then returns `value`.
#[derive(Debug, Serialize, Deserialize)]
struct Slow {
    ms: u64,
    value: u64,
}

#[vow::task("paths/slow")]
impl Task for Slow {
    type Input = ();
    type Output = u64;
    async fn run(self, _: (), _cx: &Cx) -> Result<Resolution<u64>, Error> {
        tokio::time::sleep(Duration::from_millis(self.ms)).await;
        done(self.value)
    }
}

/// Adopts `Slow.then(AddN)`: its promise settles when that chain does.
#[derive(Debug, Serialize, Deserialize)]
struct Adopter {
    ms: u64,
    key: String,
}

#[vow::task("paths/adopter")]
impl Task for Adopter {
    type Input = ();
    type Output = u64;
    async fn run(self, _: (), cx: &Cx) -> Result<Resolution<u64>, Error> {
        let slow = cx.when(Slow {
            ms: self.ms,
            value: 1,
        });
        adopt(slow.then(AddN {
            n: 1,
            key: self.key,
        }))
    }
}

/// Logs its input under `key` ("ok:<v>" or "<kind>").
#[derive(Debug, Serialize, Deserialize)]
struct Observe {
    key: String,
}

#[vow::task("paths/observe")]
impl Task for Observe {
    type Input = Result<u64, Failure>;
    type Output = String;
    async fn run(self, x: Self::Input, _cx: &Cx) -> Result<Resolution<String>, Error> {
        let seen = match x {
            Ok(v) => format!("ok:{v}"),
            Err(f) => f.kind().as_str().to_owned(),
        };
        log(&self.key, seen.clone());
        done(seen)
    }
}

const LONG: Duration = Duration::from_secs(15);

#[tokio::test]
async fn cancelling_an_adopter_still_runs_the_successor_its_chain_carries() {
    let vow = embedded();
    let k = key();
    let flow = vow.flow();
    let adopter = flow.when(Adopter {
        ms: 400,
        key: k.clone(),
    });
    let z = adopter.then(Observe { key: k.clone() });
    vow.start(&flow).await.expect("start");
    // Cancel while the adopted chain's first step runs.
    tokio::time::sleep(Duration::from_millis(150)).await;
    vow.cancel(adopter.id(), "changed my mind")
        .await
        .expect("cancel");
    let seen = vow.wait(&z, LONG).await.expect("the successor runs");
    assert_eq!(seen, Ok("cancelled".to_owned()));
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(read_log(&k), vec!["cancelled".to_owned()], "ran once");
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

/// An engine with no workers, on a fresh store, and the queue it sends to.
fn engine_alone(config: EngineConfig) -> (Arc<Engine>, Arc<MemoryQueue>) {
    let queue = Arc::new(MemoryQueue::new(Duration::from_millis(500), 5, None));
    let engine = Engine::new(Arc::new(MemoryStore::new()), queue.clone(), config);
    (engine, queue)
}

async fn drain(queue: &MemoryQueue) -> Vec<Delivery> {
    queue
        .receive(10, Duration::from_millis(50))
        .await
        .expect("receive")
}

#[tokio::test]
async fn a_redelivered_message_of_a_cancelled_promise_still_delivers_what_it_carries() {
    let (engine, queue) = engine_alone({
        let mut config = fast_config().engine;
        config.inline_for = Duration::ZERO;
        config
    });
    let (p, next, join) = (
        PromiseId::random(),
        PromiseId::random(),
        PromiseId::random(),
    );
    let mut env = envelope_for(&p, serde_json::json!({"task": "test/value", "with": 7}));
    env.conts = vec![
        Cont::Then {
            id: next.clone(),
            task: serde_json::json!({"task": "test/value", "with": 8}),
            opts: Default::default(),
            conts: Vec::new(),
        },
        Cont::Settle {
            target: Target::Member {
                join: join.clone(),
                index: 0,
                n: 1,
            },
            conts: Vec::new(),
            kids: 0,
        },
    ];
    let body = engine.seal(&env).await.expect("seal");
    engine.cancel(&p, "stop").await.expect("cancel");
    // The message was delivered before, so it checks the store first.
    engine.process(&body, 2).await.expect("processed");
    // The cancel's guard (which delivers what is stored with `p`) and the
    // carried successor.
    let mut sent = Vec::new();
    for d in drain(&queue).await {
        sent.push(engine.open(&d.body).await.expect("opens"));
    }
    sent.retain(|env| env.target != Target::Promise(p.clone()));
    assert_eq!(sent.len(), 1, "the carried successor is sent");
    let successor = sent.remove(0);
    assert_eq!(successor.target, Target::Promise(next));
    assert!(
        matches!(successor.input, Some(Outcome::Err(ref f)) if f.kind() == FailureKind::Cancelled)
    );
    // The carried join arrival counted, so the join settled.
    assert!(matches!(
        engine.outcome(&join).await.expect("read"),
        Some(Outcome::Joined { n: 1, .. })
    ));
    // Delivered again: the same successor (same token), nothing new.
    engine.process(&body, 3).await.expect("processed");
    let again = drain(&queue).await;
    assert_eq!(again.len(), 1);
    assert_eq!(
        engine.open(&again[0].body).await.expect("opens").token,
        successor.token
    );
}

/// Returns 20 KB of text that differs on every run, the second run later.
#[derive(Debug, Serialize, Deserialize)]
struct Fresh {
    key: String,
}

#[vow::task("paths/fresh")]
impl Task for Fresh {
    type Input = ();
    type Output = String;
    async fn run(self, _: (), _cx: &Cx) -> Result<Resolution<String>, Error> {
        let run = bump(&self.key);
        if run > 1 {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        done(format!("run{run}:{}", "v".repeat(20_000)))
    }
}

/// Logs the first 8 bytes of the string it receives under `key`.
#[derive(Debug, Serialize, Deserialize)]
struct Peek {
    key: String,
}

#[vow::task("paths/peek")]
impl Task for Peek {
    type Input = Result<String, Failure>;
    type Output = usize;
    async fn run(self, x: Self::Input, _cx: &Cx) -> Result<Resolution<usize>, Error> {
        let x = x?;
        log(&self.key, x.chars().take(5).collect());
        done(x.len())
    }
}

#[tokio::test]
async fn two_runs_of_one_message_never_leave_two_values() {
    let (engine, _queue) = engine_alone({
        let mut config = fast_config().engine;
        config.inline_for = Duration::from_secs(5);
        config
    });
    let k = key();
    let (p, next) = (PromiseId::random(), PromiseId::random());
    let mut env = envelope_for(
        &p,
        serde_json::json!({"task": "paths/fresh", "with": {"key": k}}),
    );
    env.conts = vec![Cont::Then {
        id: next.clone(),
        task: serde_json::json!({"task": "paths/peek", "with": {"key": k}}),
        opts: Default::default(),
        conts: Vec::new(),
    }];
    let body = engine.seal(&env).await.expect("seal");
    // The visibility timeout expired while copy 1 ran: copy 2 runs too.
    let (a, b) = tokio::join!(engine.process(&body, 1), engine.process(&body, 2));
    a.expect("first copy");
    b.expect("second copy");
    let stored = engine.outcome(&p).await.expect("read").expect("settled");
    let json = engine.resolve(&stored).await.expect("resolve");
    let value: Result<String, Failure> = serde_json::from_value(json).expect("decodes");
    let value = value.expect("ok");
    let seen = read_log(&k);
    assert!(!seen.is_empty(), "the successor ran");
    for s in seen {
        assert_eq!(s, value[..5], "the successor saw the stored value");
    }
}

/// Takes a number (the hostile body below sends it a 300 KB string instead).
#[derive(Debug, Serialize, Deserialize)]
struct Number {
    n: u64,
}

#[vow::task("paths/number")]
impl Task for Number {
    type Input = ();
    type Output = u64;
    async fn run(self, _: (), _cx: &Cx) -> Result<Resolution<u64>, Error> {
        done(self.n)
    }
}

#[tokio::test]
async fn a_dead_letter_stored_out_of_line_still_settles_its_promise() {
    let vow = embedded();
    let (queue, _) = vow.memory_queues().expect("embedded");
    let (p, next) = (PromiseId::random(), PromiseId::random());
    let k = key();
    let mut env = envelope_for(
        &p,
        serde_json::json!({"task": "paths/number", "with": {"n": "x".repeat(300_000)}}),
    );
    env.conts = vec![Cont::Then {
        id: next.clone(),
        task: serde_json::json!({"task": "paths/observe", "with": {"key": k}}),
        opts: Default::default(),
        conts: Vec::new(),
    }];
    let body = vow.engine().seal(&env).await.expect("seal");
    assert!(body.len() < 1_000, "stored out of line");
    queue
        .send(vec![Outgoing {
            body,
            delay: Duration::ZERO,
        }])
        .await
        .expect("send");
    let f = vow
        .wait(&Handle::<u64>::from_id(p), LONG)
        .await
        .expect("settles")
        .expect_err("fails");
    assert_eq!(f.kind(), FailureKind::BadInput);
    let seen = vow
        .wait(&Handle::<String>::from_id(next), LONG)
        .await
        .expect("the successor runs");
    assert_eq!(seen, Ok("bad_input".to_owned()));
}

/// Fails the sends it is told to fail.
#[derive(Debug)]
struct Flaky {
    inner: Arc<MemoryQueue>,
    fail_next: AtomicU32,
}

impl Flaky {
    fn new(inner: Arc<MemoryQueue>) -> Arc<Self> {
        Arc::new(Flaky {
            inner,
            fail_next: AtomicU32::new(0),
        })
    }
    fn fail(&self, sends: u32) {
        self.fail_next.store(sends, Ordering::SeqCst);
    }
}

#[async_trait]
impl Queue for Flaky {
    async fn send(&self, messages: Vec<Outgoing>) -> Result<(), BackendError> {
        let left = self.fail_next.load(Ordering::SeqCst);
        if left > 0 {
            self.fail_next.store(left - 1, Ordering::SeqCst);
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

/// A client whose sends go through a [`Flaky`] queue, beside the embedded workers.
fn flaky_client(vow: &Vow) -> (Vow, Arc<Flaky>) {
    let (queue, _) = vow.memory_queues().expect("embedded");
    let flaky = Flaky::new(queue.clone());
    let store = vow.memory_store().expect("embedded").clone();
    let client = Vow::client(store, flaky.clone(), fast_config().engine);
    (client, flaky)
}

#[tokio::test]
async fn a_named_start_whose_send_failed_is_finished_by_its_retry() {
    let vow = embedded();
    let (client, flaky) = flaky_client(&vow);
    let k = key();
    let name = format!("retried-{k}");
    let flow = client.flow_named(&name);
    let ran = flow.when(Counted { key: k.clone() });
    flaky.fail(1);
    // The name is claimed, then the send fails: the retry finishes it.
    client.start(&flow).await.expect_err("the send fails");
    assert_eq!(
        client.start(&flow).await.expect("retried"),
        vow::Started::New
    );
    assert_eq!(vow.wait(&ran, WAIT).await.expect("wait"), Ok(1));
    let other = client.flow_named(&name);
    let _ = other.when(Counted { key: k.clone() });
    assert_eq!(
        client.start(&other).await.expect("start"),
        vow::Started::Existing
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(count(&k), 1);
}

#[tokio::test]
async fn a_named_start_that_died_after_its_claim_is_taken_over() {
    let vow = embedded();
    let (client, flaky) = flaky_client(&vow);
    let k = key();
    let name = format!("orphaned-{k}");
    let dead = client.flow_named(&name);
    let _ = dead.when(Counted { key: k.clone() });
    flaky.fail(1);
    client.start(&dead).await.expect_err("the send fails");
    drop(dead); // the process dies: nobody retries
                // Another process starts the name: it waits for the claimer to say it
                // sent the flow, then sends it itself.
    let began = std::time::Instant::now();
    let flow = client.flow_named(&name);
    let ran = flow.when(Counted { key: k.clone() });
    assert_eq!(client.start(&flow).await.expect("start"), vow::Started::New);
    assert!(
        began.elapsed() >= Duration::from_secs(4),
        "{:?}",
        began.elapsed()
    );
    assert_eq!(vow.wait(&ran, WAIT).await.expect("wait"), Ok(1));
    let later = client.flow_named(&name);
    let _ = later.when(Counted { key: k.clone() });
    assert_eq!(
        client.start(&later).await.expect("start"),
        vow::Started::Existing
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(count(&k), 1);
}

/// Resolvers handed to application code, by key.
fn parked() -> &'static Mutex<std::collections::HashMap<String, Resolver<u64>>> {
    static PARKED: OnceLock<Mutex<std::collections::HashMap<String, Resolver<u64>>>> =
        OnceLock::new();
    PARKED.get_or_init(Default::default)
}

/// Parks its resolver for application code to settle.
#[derive(Debug, Serialize, Deserialize)]
struct Park {
    key: String,
}

#[vow::task("paths/park")]
impl Task for Park {
    type Input = ();
    type Output = u64;
    async fn run(self, _: (), cx: &Cx) -> Result<Resolution<u64>, Error> {
        parked()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(self.key, cx.resolver());
        deferred()
    }
}

async fn parked_resolver(k: &str) -> Resolver<u64> {
    for _ in 0..200 {
        if let Some(r) = parked().lock().unwrap_or_else(|e| e.into_inner()).get(k) {
            return r.clone();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the task never parked its resolver");
}

#[tokio::test]
async fn an_application_resolve_whose_send_failed_is_retried_with_the_same_effect() {
    let vow = embedded();
    let (client, flaky) = flaky_client(&vow);
    let k = key();
    let flow = vow.flow();
    let z = flow
        .when(Park { key: k.clone() })
        .then(Observe { key: k.clone() });
    vow.start(&flow).await.expect("start");
    let resolver = parked_resolver(&k).await;
    flaky.fail(1);
    client
        .resolve(&resolver, Ok(5))
        .await
        .expect_err("the send fails after the settle");
    client.resolve(&resolver, Ok(5)).await.expect("retried");
    assert_eq!(
        vow.wait(&z, LONG).await.expect("runs"),
        Ok("ok:5".to_owned())
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(read_log(&k).len(), 1, "ran once");
}

#[tokio::test]
async fn a_start_whose_send_failed_is_retried_with_the_same_effect() {
    let vow = embedded();
    let (client, flaky) = flaky_client(&vow);
    let k = key();
    let flow = client.flow();
    let z = flow.when(Value(3)).then(Observe { key: k.clone() });
    flaky.fail(1);
    client.start(&flow).await.expect_err("the send fails");
    client.start(&flow).await.expect("retried");
    assert_eq!(
        vow.wait(&z, LONG).await.expect("runs"),
        Ok("ok:3".to_owned())
    );
}

#[tokio::test]
async fn a_cancel_whose_send_failed_is_retried_with_the_same_effect() {
    let vow = embedded();
    let (client, flaky) = flaky_client(&vow);
    let k = key();
    let flow = vow.flow();
    let slow = flow.when(Slow {
        ms: 2_000,
        value: 1,
    });
    vow.start(&flow).await.expect("start");
    // A successor added after the promise was sent is stored with it.
    let later = vow.flow();
    let z = later.then(
        Handle::<u64>::from_id(slow.id().clone()),
        Observe { key: k.clone() },
    );
    vow.start(&later).await.expect("start later");
    flaky.fail(1);
    client
        .cancel(slow.id(), "stop")
        .await
        .expect_err("the send fails");
    // The guard goes before the write: the first try wrote nothing.
    assert_eq!(client.cancel(slow.id(), "stop").await.expect("retried"), 1);
    assert_eq!(
        vow.wait(&z, LONG).await.expect("runs"),
        Ok("cancelled".to_owned())
    );
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(read_log(&k).len(), 1, "ran once");
}

fn explode<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let n = u64::deserialize(d)?;
    if n == 13 {
        panic!("a decoder that panics on 13");
    }
    Ok(n)
}

/// A task whose own `Deserialize` panics on 13.
#[derive(Debug, Serialize, Deserialize)]
struct Touchy {
    #[serde(deserialize_with = "explode")]
    n: u64,
}

#[vow::task("paths/touchy")]
impl Task for Touchy {
    type Input = ();
    type Output = u64;
    async fn run(self, _: (), _cx: &Cx) -> Result<Resolution<u64>, Error> {
        done(self.n)
    }
}

#[tokio::test]
async fn a_panic_while_decoding_a_task_settles_its_promise() {
    let vow = embedded();
    let k = key();
    let flow = vow.flow();
    let z = flow.when(Touchy { n: 13 }).then(Observe { key: k.clone() });
    let fine = flow.when(Touchy { n: 12 });
    vow.start(&flow).await.expect("start");
    assert_eq!(vow.wait(&fine, LONG).await.expect("settles"), Ok(12));
    let seen = vow.wait(&z, LONG).await.expect("the successor runs");
    assert_eq!(seen, Ok("bad_input".to_owned()));
}

#[tokio::test]
async fn hostile_envelopes_are_refused_at_once() {
    let (engine, queue) = engine_alone(fast_config().engine);
    let join = PromiseId::random();
    let member = |index: u32, n: u32| Target::Member {
        join: join.clone(),
        index,
        n,
    };
    let value = serde_json::json!({"task": "test/value", "with": 1});
    let mut hostile = Vec::new();
    for target in [
        member(0, 0),
        member(5, 5),
        member(7, 3),
        member(0, 4_000_000_000),
        Target::Promise(join.member(3)),
    ] {
        let mut env = envelope_for(&join, value.clone());
        env.target = target;
        hostile.push(env);
    }
    let mut joined_input = envelope_for(&PromiseId::random(), value.clone());
    joined_input.input = Some(Outcome::Joined {
        join: join.clone(),
        n: 4_000_000_000,
    });
    hostile.push(joined_input);
    let mut carried = envelope_for(&PromiseId::random(), value);
    carried.conts = vec![Cont::Settle {
        target: member(0, 0),
        conts: Vec::new(),
        kids: 0,
    }];
    hostile.push(carried);
    for env in hostile {
        let outcome =
            tokio::time::timeout(Duration::from_secs(2), engine.process(&env.encode(), 1))
                .await
                .unwrap_or_else(|_| panic!("{:?} ran on", env.target));
        assert!(
            matches!(outcome, Err(vow::engine::Rejected::Undecodable(_))),
            "{:?} was accepted: {outcome:?}",
            env.target
        );
    }
    assert!(queue.is_empty(), "nothing was sent");
    assert_eq!(engine.outcome(&join.member(3)).await.expect("read"), None);
}

/// Fails with a message of `len` bytes.
#[derive(Debug, Serialize, Deserialize)]
struct FailLong {
    len: usize,
}

#[vow::task("paths/fail-long")]
impl Task for FailLong {
    type Input = ();
    type Output = u64;
    async fn run(self, _: (), _cx: &Cx) -> Result<Resolution<u64>, Error> {
        Err(Error::permanent("e".repeat(self.len)))
    }
}

#[tokio::test]
async fn a_shard_of_large_failures_stays_within_the_item_limit() {
    let vow = embedded();
    let k = key();
    let flow = vow.flow();
    let all = flow
        .fan_out((0..16).map(|_| FailLong { len: 27_000 }))
        .then(Describe { key: k });
    vow.start(&flow).await.expect("start");
    let described = vow.wait(&all, LONG).await.expect("settles");
    assert_eq!(described, Ok(vec!["err:error"; 16].join(",")));
    let p = vow.when(FailLong { len: 100_000 }).await.expect("start");
    let f = vow
        .wait(&p, LONG)
        .await
        .expect("settles")
        .expect_err("fails");
    assert_eq!(f.message().len(), 100_000, "the whole message is kept");
}

/// Chains on a promise it received as a field.
#[derive(Debug, Serialize, Deserialize)]
struct ChainOn {
    p: Promise<u64>,
    key: String,
}

#[vow::task("paths/chain-on")]
impl Task for ChainOn {
    type Input = ();
    type Output = String;
    async fn run(self, _: (), _cx: &Cx) -> Result<Resolution<String>, Error> {
        adopt(self.p.then(Observe { key: self.key }))
    }
}

#[tokio::test]
async fn a_promise_field_of_a_task_chains_in_the_task_flow() {
    let vow = embedded();
    let k = key();
    let flow = vow.flow();
    let p = flow.when(Value(4));
    let chained = flow.when(ChainOn { p, key: k });
    vow.start(&flow).await.expect("start");
    assert_eq!(
        vow.wait(&chained, LONG).await.expect("settles"),
        Ok("ok:4".to_owned())
    );
}

/// A store that fails the next settle of one record, before it takes effect.
#[derive(Debug)]
struct Trap {
    inner: Arc<MemoryStore>,
    fail_key: Mutex<Option<String>>,
}

#[async_trait]
impl vow::store::Store for Trap {
    async fn settle(
        &self,
        cell: &vow::store::Cell,
        slot: &vow::wire::Slot,
    ) -> Result<vow::store::Settled, BackendError> {
        let trapped = {
            let mut fail = self.fail_key.lock().unwrap_or_else(|e| e.into_inner());
            let hit = fail.as_deref() == Some(cell.key.as_str());
            if hit {
                *fail = None;
            }
            hit
        };
        if trapped {
            return Err(BackendError::transient("injected: settle failed"));
        }
        self.inner.settle(cell, slot).await
    }
    async fn add_continuations(
        &self,
        cell: &vow::store::Cell,
        conts: &[(String, Cont)],
    ) -> Result<Option<vow::wire::Slot>, BackendError> {
        self.inner.add_continuations(cell, conts).await
    }
    async fn read(&self, key: &str) -> Result<Option<vow::store::Record>, BackendError> {
        self.inner.read(key).await
    }
    async fn put_blob(&self, key: &str, text: &str) -> Result<(), BackendError> {
        self.inner.put_blob(key, text).await
    }
    async fn get_blob(&self, key: &str) -> Result<Option<String>, BackendError> {
        self.inner.get_blob(key).await
    }
}

#[tokio::test]
async fn a_join_completed_by_a_copy_that_crashed_is_repaired_by_the_last_member() {
    // The model checker's counterexample, on the in-memory backend: member 15
    // fills shard 0 and its message is deleted; member 16 fills shard 1 but
    // fails to settle the join; a late copy of member 15 settles the join and
    // crashes before sending its successor. Member 16's redelivery must send it.
    let trap = Arc::new(Trap {
        inner: Arc::new(MemoryStore::new()),
        fail_key: Mutex::new(None),
    });
    let inner = Arc::new(MemoryQueue::new(Duration::from_millis(500), 5, None));
    let queue = Flaky::new(inner.clone());
    let mut config = fast_config().engine;
    config.inline_for = Duration::ZERO;
    let engine = Engine::new(trap.clone(), queue.clone(), config);
    let (join, next) = (PromiseId::random(), PromiseId::random());
    let successor = Cont::Then {
        id: next.clone(),
        task: serde_json::json!({"task": "test/value", "with": 1}),
        opts: Default::default(),
        conts: Vec::new(),
    };
    let cell = vow::store::Cell::of(&join);
    vow::store::Store::add_continuations(trap.as_ref(), &cell, &[("next".into(), successor)])
        .await
        .expect("stored successor");
    let member = |i: u32| {
        let mut env = envelope_for(&join, serde_json::json!({"task": "test/value", "with": i}));
        env.target = Target::Member {
            join: join.clone(),
            index: i,
            n: 17,
        };
        env.token = format!("m{i}");
        env.encode()
    };
    for i in 0..16 {
        engine.process(&member(i), 1).await.expect("member");
    }
    *trap.fail_key.lock().unwrap_or_else(|e| e.into_inner()) = Some(cell.key.clone());
    engine
        .process(&member(16), 1)
        .await
        .expect_err("the join's settle fails");
    queue.fail(1);
    engine
        .process(&member(15), 2)
        .await
        .expect_err("a late copy of member 15 settles the join, then its send fails");
    assert!(drain(&inner).await.is_empty());
    engine.process(&member(16), 2).await.expect("redelivered");
    let sent = drain(&inner).await;
    assert_eq!(sent.len(), 1, "the join's successor is sent");
    let env = engine.open(&sent[0].body).await.expect("opens");
    assert_eq!(env.target, Target::Promise(next));
}

/// Resolves the resolver it carries with 9.
#[derive(Debug, Serialize, Deserialize)]
struct ResolveWith {
    resolver: Resolver<u64>,
}

#[vow::task("paths/resolve-with")]
impl Task for ResolveWith {
    type Input = ();
    type Output = ();
    async fn run(self, _: (), cx: &Cx) -> Result<Resolution<()>, Error> {
        cx.resolve(&self.resolver, Ok(9));
        done(())
    }
}

#[tokio::test]
async fn a_resolve_survives_the_task_that_made_it_dying() {
    // The model checker's counterexample: a task resolves a deferred promise,
    // fails to settle its own, and is dead-lettered; its redelivery would find
    // its own promise settled and never run again. The resolve still settles
    // the deferred promise and sends its successor.
    let trap = Arc::new(Trap {
        inner: Arc::new(MemoryStore::new()),
        fail_key: Mutex::new(None),
    });
    let queue = Arc::new(MemoryQueue::new(Duration::from_millis(500), 5, None));
    let mut config = fast_config().engine;
    config.inline_for = Duration::ZERO;
    let engine = Engine::new(trap.clone(), queue.clone(), config);
    let (deferred, next, resolver) = (
        PromiseId::random(),
        PromiseId::random(),
        PromiseId::random(),
    );
    let successor = Cont::Then {
        id: next.clone(),
        task: serde_json::json!({"task": "test/value", "with": 1}),
        opts: Default::default(),
        conts: Vec::new(),
    };
    let handed = serde_json::json!({
        "target": {"promise": deferred},
        "conts": serde_json::to_value(vec![successor]).expect("json"),
    });
    let body = envelope_for(
        &resolver,
        serde_json::json!({"task": "paths/resolve-with", "with": {"resolver": handed}}),
    )
    .encode();
    *trap.fail_key.lock().unwrap_or_else(|e| e.into_inner()) =
        Some(vow::store::Cell::of(&resolver).key);
    engine
        .process(&body, 1)
        .await
        .expect_err("its own settle fails");
    // Dead-lettered: its promise settles Crashed, and no redelivery runs it again.
    let failed = engine
        .handle_dead_letters(vec![Delivery {
            message_id: "m".into(),
            receipt: "r".into(),
            body,
            receive_count: 5,
        }])
        .await;
    assert!(failed.is_empty());
    assert!(matches!(
        engine.outcome(&resolver).await.expect("read"),
        Some(Outcome::Err(ref f)) if f.kind() == FailureKind::Crashed
    ));
    for d in drain(&queue).await {
        engine
            .process(&d.body, d.receive_count)
            .await
            .expect("processed");
    }
    assert_eq!(
        engine.outcome(&deferred).await.expect("read"),
        Some(Outcome::Ok(9.into()))
    );
    let sent = drain(&queue).await;
    assert_eq!(sent.len(), 1, "the deferred promise's successor is sent");
    assert_eq!(
        engine.open(&sent[0].body).await.expect("opens").target,
        Target::Promise(next)
    );
}

/// Fails retryably on its first run of all (by `key`), then returns 5.
#[derive(Debug, Serialize, Deserialize)]
struct FirstFails {
    key: String,
}

#[vow::task("paths/first-fails")]
impl Task for FirstFails {
    type Input = ();
    type Output = u64;
    async fn run(self, _: (), _cx: &Cx) -> Result<Resolution<u64>, Error> {
        if bump(&self.key) == 1 {
            return Err(Error::retryable("first run fails"));
        }
        done(5)
    }
}

#[tokio::test]
async fn a_retry_that_loses_to_a_late_earlier_attempt_still_sends_its_successors() {
    // Two copies of one message: copy B fails and sends the next attempt (its
    // message is deleted); copy A succeeds, settles and crashes before sending.
    // The next attempt must find the slot its own and send the successor.
    let inner = Arc::new(MemoryQueue::new(Duration::from_millis(500), 5, None));
    let queue = Flaky::new(inner.clone());
    let mut config = fast_config().engine;
    config.inline_for = Duration::ZERO;
    config.retry_base = Duration::ZERO;
    let engine = Engine::new(Arc::new(MemoryStore::new()), queue.clone(), config);
    let (p, next) = (PromiseId::random(), PromiseId::random());
    let mut env = envelope_for(
        &p,
        serde_json::json!({"task": "paths/first-fails", "with": {"key": key()}}),
    );
    env.conts = vec![Cont::Then {
        id: next.clone(),
        task: serde_json::json!({"task": "test/value", "with": 1}),
        opts: Default::default(),
        conts: Vec::new(),
    }];
    let body = env.encode();
    engine
        .process(&body, 1)
        .await
        .expect("copy B sends a retry");
    queue.fail(1);
    engine
        .process(&body, 1)
        .await
        .expect_err("copy A settles, then its send fails");
    let retry = drain(&inner).await;
    assert_eq!(retry.len(), 1, "the retry");
    engine
        .process(&retry[0].body, 1)
        .await
        .expect("the retry runs");
    let sent = drain(&inner).await;
    assert_eq!(sent.len(), 1, "the successor is sent");
    assert_eq!(
        engine.open(&sent[0].body).await.expect("opens").target,
        Target::Promise(next)
    );
}

#[tokio::test]
async fn a_cancel_is_delivered_by_its_guard_and_the_promise_s_own_message_adds_nothing() {
    let (engine, queue) = engine_alone({
        let mut config = fast_config().engine;
        config.inline_for = Duration::ZERO;
        config
    });
    let guards = Arc::new(MemoryQueue::new(Duration::from_millis(500), 5, None));
    let canceller = Engine::new(engine.store().clone(), guards.clone(), fast_config().engine);
    let (p, later) = (PromiseId::random(), PromiseId::random());
    // A successor added after `p` was sent is stored with it.
    let cont = Cont::Then {
        id: later.clone(),
        task: serde_json::json!({"task": "test/value", "with": 2}),
        opts: Default::default(),
        conts: Vec::new(),
    };
    engine
        .store()
        .add_continuations(&vow::store::Cell::of(&p), &[("later".into(), cont)])
        .await
        .expect("stored");
    // The application cancels and stops at once: it fires nothing itself.
    assert_eq!(canceller.cancel(&p, "stop").await.expect("cancel"), 1);
    // `p`'s own message comes: the slot is the cancel's, whose successors are
    // the cancel's to deliver, so it sends nothing (it carries nothing).
    let body = envelope_for(&p, serde_json::json!({"task": "test/value", "with": 1})).encode();
    engine.process(&body, 1).await.expect("processed");
    assert!(drain(&queue).await.is_empty(), "nothing sent twice");
    // The guard the cancel sent before its write delivers the stored successor.
    let guard = drain(&guards).await;
    assert_eq!(guard.len(), 1, "one guard");
    engine.process(&guard[0].body, 1).await.expect("processed");
    let sent = drain(&queue).await;
    assert_eq!(sent.len(), 1, "the stored successor is sent");
    let successor = engine.open(&sent[0].body).await.expect("opens");
    assert_eq!(successor.target, Target::Promise(later));
    assert!(
        matches!(successor.input, Some(Outcome::Err(ref f)) if f.kind() == FailureKind::Cancelled)
    );
}

#[tokio::test]
async fn a_cancel_that_died_before_its_write_is_carried_out_by_its_guard() {
    let (engine, queue) = engine_alone({
        let mut config = fast_config().engine;
        config.inline_for = Duration::ZERO;
        config
    });
    let p = PromiseId::random();
    // What a cancel that died right after sending its guard leaves behind.
    let mut guard = Envelope::resolve(
        Target::Promise(p.clone()),
        Vec::new(),
        Outcome::Err(Failure::cancelled("stop".to_owned())),
        vow::engine::decide::cancel_token(&p),
    );
    guard.repair = true;
    engine.process(&guard.encode(), 1).await.expect("processed");
    assert!(matches!(
        engine.outcome(&p).await.expect("read"),
        Some(Outcome::Err(ref f)) if f.kind() == FailureKind::Cancelled
    ));
    assert!(drain(&queue).await.is_empty());
}

#[tokio::test]
async fn cancelling_a_deferred_promise_runs_the_successors_it_was_created_with() {
    let vow = embedded();
    let k = key();
    let flow = vow.flow();
    let parked = flow.when(Park { key: k.clone() });
    let z = parked.then(Observe { key: k.clone() });
    vow.start(&flow).await.expect("start");
    let resolver = parked_resolver(&k).await;
    // Nobody resolves it: the application gives up on it.
    vow.cancel(parked.id(), "no answer").await.expect("cancel");
    assert_eq!(
        vow.wait(&z, LONG).await.expect("the successor runs"),
        Ok("cancelled".to_owned())
    );
    // A resolve that comes late loses: the successor only ever saw the cancel
    // (it may run more than once; execution is at least once).
    vow.resolve(&resolver, Ok(5)).await.expect("resolve");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let seen = read_log(&k);
    assert!(
        !seen.is_empty() && seen.iter().all(|s| s == "cancelled"),
        "{seen:?}"
    );
}

#[tokio::test]
async fn a_deferred_promise_resolved_runs_its_successors_and_a_later_cancel_loses() {
    let vow = embedded();
    let k = key();
    let flow = vow.flow();
    let parked = flow.when(Park { key: k.clone() });
    let z = parked.then(Observe { key: k.clone() });
    vow.start(&flow).await.expect("start");
    let resolver = parked_resolver(&k).await;
    vow.resolve(&resolver, Ok(5)).await.expect("resolve");
    vow.resolve(&resolver, Ok(6))
        .await
        .expect("a second resolve loses");
    assert_eq!(
        vow.wait(&z, LONG).await.expect("runs"),
        Ok("ok:5".to_owned())
    );
    let cancelled = vow.cancel(parked.id(), "too late").await.expect("cancel");
    assert_eq!(cancelled, 0, "the cancel loses to the resolve");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let seen = read_log(&k);
    assert!(
        !seen.is_empty() && seen.iter().all(|s| s == "ok:5"),
        "{seen:?}"
    );
}

/// Counts its runs under `key` and passes its input on.
#[derive(Debug, Serialize, Deserialize)]
struct AfterAnswer {
    key: String,
}

#[vow::task("paths/after-answer")]
impl Task for AfterAnswer {
    type Input = Result<u64, Failure>;
    type Output = u64;
    async fn run(self, answer: Self::Input, _cx: &Cx) -> Result<Resolution<u64>, Error> {
        bump(&self.key);
        done(answer?)
    }
}

/// A resolve message that settled its callback, then could not send what
/// follows (its process died, its sends failed): its redelivery, the same
/// message under the same token, finds the slot its own and delivers.
#[tokio::test]
async fn a_resolve_message_whose_sends_failed_delivers_when_redelivered() {
    let vow = embedded();
    let (client, flaky) = flaky_client(&vow);
    let k = key();
    let flow = vow.flow();
    let (answer, _resolver) = flow.callback::<u64>(Duration::from_secs(3_600));
    let after = answer.then(AfterAnswer { key: k.clone() });
    vow.start(&flow).await.expect("start");
    let body = format!(r#"{{"vow":"resolve","id":"{}","value":7}}"#, answer.id());
    let delivery = |receive_count| Delivery {
        message_id: "resolve-1".into(),
        receipt: "r".into(),
        body: body.clone(),
        receive_count,
    };
    flaky.fail(1);
    let failed = client.engine().handle_batch(vec![delivery(1)]).await;
    assert_eq!(failed, vec!["resolve-1".to_owned()], "its send failed");
    assert_eq!(vow.wait(&answer, WAIT).await.expect("wait"), Ok(7));
    let failed = client.engine().handle_batch(vec![delivery(2)]).await;
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(vow.wait(&after, WAIT).await.expect("wait"), Ok(7));
    assert_eq!(count(&k), 1);
}

/// Makes a child, then adopts a join over a promise that has settled already.
#[derive(Debug, Serialize, Deserialize)]
struct AdoptsSettled {
    key: String,
    settled: PromiseId,
}

#[vow::task("paths/adopts-settled")]
impl Task for AdoptsSettled {
    type Input = ();
    type Output = Vec<Result<u32, Failure>>;
    async fn run(self, _: (), cx: &Cx) -> Result<Resolution<Self::Output>, Error> {
        let _child = cx.when(Counted { key: self.key });
        adopt(cx.all([Handle::<u32>::from_id(self.settled)]))
    }
}

/// Rule 2 for a step that adopts a promise settled already: its children
/// are sent before its own promise settles, so a send that fails leaves the
/// step to run again rather than settled with its child lost.
#[tokio::test]
async fn a_step_adopting_a_settled_promise_sends_its_children_before_it_settles() {
    let vow = embedded();
    let (client, flaky) = flaky_client(&vow);
    let k = key();
    let first = vow
        .when(Counted {
            key: format!("{k}-first"),
        })
        .await
        .expect("start");
    assert_eq!(vow.wait(&first, WAIT).await.expect("wait"), Ok(1));
    let id = PromiseId::random();
    let body = Envelope {
        v: WIRE_VERSION,
        token: "adopter".into(),
        target: Target::Promise(id.clone()),
        attempt: 1,
        repair: false,
        task: serde_json::json!({
            "task": "paths/adopts-settled",
            "with": { "key": k, "settled": first.id() }
        }),
        input: None,
        opts: Default::default(),
        conts: Vec::new(),
    };
    let body = client.engine().seal(&body).await.expect("seal");
    let delivery = |receive_count| Delivery {
        message_id: "adopter-1".into(),
        receipt: "r".into(),
        body: body.clone(),
        receive_count,
    };
    flaky.fail(1);
    let failed = client.engine().handle_batch(vec![delivery(1)]).await;
    assert_eq!(failed, vec!["adopter-1".to_owned()], "its send failed");
    let failed = client.engine().handle_batch(vec![delivery(2)]).await;
    assert!(failed.is_empty(), "{failed:?}");
    let child = Handle::<u32>::from_id(id.child(0));
    let adopted = Handle::<Vec<Result<u32, Failure>>>::from_id(id);
    assert_eq!(
        vow.wait(&adopted, WAIT).await.expect("wait"),
        Ok(vec![Ok(1)])
    );
    assert_eq!(
        vow.wait(&child, WAIT).await.expect("wait"),
        Ok(1),
        "the child ran once"
    );
}
