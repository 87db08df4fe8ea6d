//! Durable sleeps and callbacks with deadlines: timers that wait in the queue,
//! hop after hop, and settle their promise at their time, unless a resolve or
//! a cancel settles it first.

mod common;

use common::*;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use vow::backend::Store;
use vow::engine::Rejected;
use vow::memory::{MemoryQueue, MemoryStore};
use vow::prelude::*;
use vow::queue::{Delivery, Queue};
use vow::wire::{Envelope, Outcome, Target};
use vow::{Engine, EngineConfig, Status, WaitError};

/// An embedded client whose timers check in every 100 ms, so a sleep of half
/// a second takes several hops.
fn hopping() -> Vow {
    let mut config = fast_config();
    config.engine.timer_hop = Duration::from_millis(100);
    Vow::embedded_with(config)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Records the outcome it was given under `key` and returns it as text.
#[derive(Debug, Serialize, Deserialize)]
struct Note {
    key: String,
}

#[vow::task("timers/note")]
impl Task for Note {
    type Input = Result<u64, Failure>;
    type Output = String;
    async fn run(self, input: Self::Input, _cx: &Cx) -> Result<Resolution<String>, Error> {
        let said = match input {
            Ok(v) => v.to_string(),
            Err(f) => format!("err:{}", f.kind().as_str()),
        };
        log(&self.key, said.clone());
        done(said)
    }
}

/// Records when the sleep before it ended.
#[derive(Debug, Serialize, Deserialize)]
struct Woke {
    key: String,
}

#[vow::task("timers/woke")]
impl Task for Woke {
    type Input = Result<(), Failure>;
    type Output = String;
    async fn run(self, slept: Self::Input, _cx: &Cx) -> Result<Resolution<String>, Error> {
        let said = match slept {
            Ok(()) => "woke".to_owned(),
            Err(f) => format!("err:{}", f.kind().as_str()),
        };
        log(&self.key, format!("{said}@{}", now_ms()));
        done(said)
    }
}

#[tokio::test]
async fn a_sleep_settles_at_its_time_and_not_before() {
    let vow = hopping();
    let k = key();
    let flow = vow.flow();
    let nap = flow.sleep(Duration::from_millis(450));
    let after = nap.then(Woke { key: k.clone() });
    let began = now_ms();
    vow.start(&flow).await.expect("start");
    // Several hops in, it still sleeps.
    let early = vow.wait(&after, Duration::from_millis(250)).await;
    assert!(matches!(early, Err(WaitError::TimedOut)), "{early:?}");
    assert_eq!(
        vow.wait(&after, WAIT).await.expect("wait"),
        Ok("woke".into())
    );
    let lines = read_log(&k);
    assert_eq!(lines.len(), 1, "{lines:?}");
    let woke: u64 = lines[0]
        .strip_prefix("woke@")
        .and_then(|t| t.parse().ok())
        .expect("a time");
    assert!(woke >= began + 450, "woke {} ms in", woke - began);
    assert_eq!(vow.wait(&nap, WAIT).await.expect("wait"), Ok(()));
}

#[tokio::test]
async fn a_task_sleeps_between_its_steps() {
    #[derive(Debug, Serialize, Deserialize)]
    struct Later {
        key: String,
    }

    #[vow::task("timers/later")]
    impl Task for Later {
        type Input = ();
        type Output = String;
        async fn run(self, _: (), cx: &Cx) -> Result<Resolution<String>, Error> {
            adopt(
                cx.sleep(Duration::from_millis(300))
                    .then(Woke { key: self.key }),
            )
        }
    }

    let vow = hopping();
    let k = key();
    let began = Instant::now();
    let later = vow.when(Later { key: k.clone() }).await.expect("start");
    assert_eq!(
        vow.wait(&later, WAIT).await.expect("wait"),
        Ok("woke".into())
    );
    assert!(began.elapsed() >= Duration::from_millis(300));
    assert_eq!(read_log(&k).len(), 1);
}

#[tokio::test]
async fn a_callback_resolved_in_time_runs_its_successor_once_and_its_deadline_changes_nothing() {
    let vow = hopping();
    let k = key();
    let flow = vow.flow();
    let (answer, resolver) = flow.callback::<u64>(Duration::from_millis(500));
    let noted = answer.then(Note { key: k.clone() });
    vow.start(&flow).await.expect("start");
    assert_eq!(
        vow.status(answer.id()).await.expect("status"),
        Status::Pending
    );
    // Resolved from elsewhere, with nothing but the id.
    let resolver = Resolver::<u64>::from_id(resolver.id());
    vow.resolve(&resolver, Ok(7)).await.expect("resolve");
    assert_eq!(vow.wait(&noted, WAIT).await.expect("wait"), Ok("7".into()));
    // Past the deadline: the timer found the promise settled and stopped.
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(vow.wait(&answer, WAIT).await.expect("wait"), Ok(7));
    assert_eq!(read_log(&k), vec!["7".to_owned()], "the successor ran once");
    let (work, _) = vow.memory_queues().expect("embedded");
    assert_eq!(work.len(), 0, "no timer left waiting");
}

#[tokio::test]
async fn a_callback_nobody_resolves_times_out_and_a_late_resolve_loses() {
    let vow = hopping();
    let k = key();
    let flow = vow.flow();
    let (answer, resolver) = flow.callback::<u64>(Duration::from_millis(300));
    let noted = answer.then(Note { key: k.clone() });
    let began = Instant::now();
    vow.start(&flow).await.expect("start");
    assert_eq!(
        vow.wait(&noted, WAIT).await.expect("wait"),
        Ok("err:timeout".into())
    );
    assert!(began.elapsed() >= Duration::from_millis(300));
    vow.resolve(&resolver, Ok(7))
        .await
        .expect("a late resolve is no error");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let outcome = vow.wait(&answer, WAIT).await.expect("wait");
    assert!(
        matches!(&outcome, Err(f) if f.kind() == FailureKind::Timeout && f.message().contains("not resolved")),
        "{outcome:?}"
    );
    assert_eq!(read_log(&k), vec!["err:timeout".to_owned()]);
}

#[tokio::test]
async fn cancelling_a_sleep_runs_its_successors_at_once() {
    // Timers check in every 15 minutes here: the cancel must not wait for one.
    let vow = embedded();
    let k = key();
    let flow = vow.flow();
    let nap = flow.sleep(Duration::from_secs(3_600));
    let after = nap.then(Woke { key: k.clone() });
    vow.start(&flow).await.expect("start");
    assert_eq!(
        vow.cancel(nap.id(), "no more naps").await.expect("cancel"),
        1
    );
    let said = vow
        .wait(&after, Duration::from_secs(5))
        .await
        .expect("wait");
    assert_eq!(said, Ok("err:cancelled".into()));
}

#[tokio::test]
async fn timers_longer_than_the_limit_do_not_start() {
    let vow = embedded();
    let flow = vow.flow();
    let _nap = flow.sleep(Duration::from_secs(400 * 24 * 3_600));
    let err = vow.start(&flow).await.expect_err("refused");
    assert!(err.to_string().contains("366 days"), "{err}");
    let flow = vow.flow();
    let _ = flow.callback::<u64>(Duration::MAX);
    assert!(vow.start(&flow).await.is_err());
}

#[tokio::test]
async fn a_resolver_made_from_a_join_member_id_is_refused() {
    let vow = embedded();
    let member = PromiseId::random().member(0);
    let err = vow
        .resolve(&Resolver::<u64>::from_id(member), Ok(1))
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("join member"), "{err}");
}

/// An engine with no workers, on a fresh store, and the queue it sends to.
fn engine_alone() -> (Arc<Engine>, Arc<MemoryQueue>) {
    let queue = Arc::new(MemoryQueue::new(Duration::from_millis(500), 5, None));
    let mut config = EngineConfig::default();
    config.timer_hop = Duration::from_millis(100);
    let engine = Engine::new(Arc::new(MemoryStore::new()), queue.clone(), config);
    (engine, queue)
}

fn dead_letter(body: String) -> Delivery {
    Delivery {
        message_id: "m1".into(),
        receipt: "r1".into(),
        body,
        receive_count: 3,
    }
}

#[tokio::test]
async fn a_dead_lettered_timer_goes_back_to_wait_for_its_time() {
    let (engine, queue) = engine_alone();
    let id = PromiseId::random();
    let timer = Envelope::timer(
        Target::Promise(id.clone()),
        Outcome::Ok(serde_json::Value::Null),
        now_ms() + 250,
    );
    let body = engine.seal(&timer).await.expect("seal");
    assert!(engine
        .handle_dead_letters(vec![dead_letter(body)])
        .await
        .is_empty());
    assert_eq!(
        engine.outcome(&id).await.expect("read"),
        None,
        "not before its time"
    );
    let mut settled = None;
    for _ in 0..40 {
        for d in queue
            .receive(10, Duration::from_millis(50))
            .await
            .expect("receive")
        {
            engine
                .process(&d.body, d.receive_count)
                .await
                .expect("processed");
            queue.delete(vec![d.receipt]).await.expect("delete");
        }
        settled = engine.outcome(&id).await.expect("read");
        if settled.is_some() {
            break;
        }
    }
    assert_eq!(settled, Some(Outcome::Ok(serde_json::Value::Null)));
}

#[tokio::test]
async fn a_timer_set_beyond_the_limit_is_refused_and_its_dead_letter_settles_it() {
    let (engine, queue) = engine_alone();
    let id = PromiseId::random();
    let ten_years = 10 * 365 * 24 * 3_600_000;
    let timer = Envelope::timer(
        Target::Promise(id.clone()),
        Outcome::Ok(serde_json::Value::Null),
        now_ms() + ten_years,
    );
    let body = engine.seal(&timer).await.expect("seal");
    let refused = engine.process(&body, 1).await;
    assert!(
        matches!(refused, Err(Rejected::Undecodable(_))),
        "{refused:?}"
    );
    assert_eq!(queue.len(), 0, "not sent on");
    assert!(engine
        .handle_dead_letters(vec![dead_letter(body)])
        .await
        .is_empty());
    let outcome = engine.outcome(&id).await.expect("read");
    assert!(
        matches!(&outcome, Some(Outcome::Err(f)) if f.kind() == FailureKind::BadInput),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn skipping_time_ends_a_week_long_sleep_at_once() {
    let vow = embedded();
    let k = key();
    let flow = vow.flow();
    let week = Duration::from_secs(7 * 24 * 3_600);
    let after = flow.sleep(week).then(Woke { key: k.clone() });
    vow.start(&flow).await.expect("start");
    let early = vow.wait(&after, Duration::from_millis(300)).await;
    assert!(matches!(early, Err(WaitError::TimedOut)), "{early:?}");
    // A day short of the week: still asleep, hop after hop.
    vow.skip_time(week - Duration::from_secs(86_400))
        .expect("embedded");
    let early = vow.wait(&after, Duration::from_millis(300)).await;
    assert!(matches!(early, Err(WaitError::TimedOut)), "{early:?}");
    vow.skip_time(Duration::from_secs(86_400))
        .expect("embedded");
    assert_eq!(
        vow.wait(&after, WAIT).await.expect("wait"),
        Ok("woke".into())
    );
}

#[tokio::test]
async fn only_the_embedded_backend_skips_time() {
    let vow = embedded();
    let store = vow.memory_store().expect("embedded").clone();
    let (queue, _) = vow.memory_queues().expect("embedded");
    let client = Vow::client(store, queue.clone(), fast_config().engine);
    let err = client
        .skip_time(Duration::from_secs(1))
        .expect_err("not embedded");
    assert!(err.to_string().contains("embedded"), "{err}");
}

/// Records its input like [`Note`], carrying `pad` bytes of state.
#[derive(Debug, Serialize, Deserialize)]
struct Heavy {
    key: String,
    pad: String,
}

#[vow::task("timers/heavy")]
impl Task for Heavy {
    type Input = Result<u64, Failure>;
    type Output = usize;
    async fn run(self, input: Self::Input, _cx: &Cx) -> Result<Resolution<usize>, Error> {
        log(&self.key, format!("{:?}", input.map_err(|f| f.kind())));
        done(self.pad.len())
    }
}

#[tokio::test]
async fn successors_too_large_to_wait_with_a_callback_are_refused_with_a_clear_error() {
    let vow = embedded();
    let k = key();
    let flow = vow.flow();
    let (answer, _resolver) = flow.callback::<u64>(Duration::from_secs(60));
    // More than a record keeps for it (48 KiB).
    let _heavy = answer.then(Heavy {
        key: k.clone(),
        pad: "x".repeat(70_000),
    });
    let err = vow.start(&flow).await.expect_err("refused");
    assert!(
        err.to_string().contains("store it and pass its key"),
        "{err}"
    );
    // Within the limit it waits in the record, and runs once resolved.
    let flow = vow.flow();
    let (answer, resolver) = flow.callback::<u64>(Duration::from_secs(3_600));
    let heavy = answer.then(Heavy {
        key: k.clone(),
        pad: "x".repeat(40_000),
    });
    vow.start(&flow).await.expect("start");
    vow.resolve(&resolver, Ok(5)).await.expect("resolve");
    assert_eq!(vow.wait(&heavy, WAIT).await.expect("wait"), Ok(40_000));
    assert_eq!(read_log(&k), vec!["Ok(5)".to_owned()]);
}

/// A queue whose every send fails.
struct Refusing;

#[async_trait::async_trait]
impl Queue for Refusing {
    async fn send(&self, _: Vec<vow::queue::Outgoing>) -> Result<(), vow::BackendError> {
        Err(vow::BackendError::transient("injected: send failed"))
    }
    async fn receive(&self, _: usize, _: Duration) -> Result<Vec<Delivery>, vow::BackendError> {
        Ok(Vec::new())
    }
    async fn delete(&self, _: Vec<String>) -> Result<(), vow::BackendError> {
        Ok(())
    }
    async fn release(&self, _: &str, _: Duration) -> Result<(), vow::BackendError> {
        Ok(())
    }
    fn name(&self) -> &str {
        "vow-work"
    }
}

#[tokio::test]
async fn a_timer_dead_lettered_while_it_could_not_send_comes_back_from_a_redrive() {
    let (engine, queue) = engine_alone();
    let failing = Engine::new(
        engine.store().clone(),
        Arc::new(Refusing),
        EngineConfig::default(),
    );
    let id = PromiseId::random();
    let timer = Envelope::timer(
        Target::Promise(id.clone()),
        Outcome::Ok(serde_json::Value::Null),
        now_ms() + 300,
    );
    let body = engine.seal(&timer).await.expect("seal");
    let delivery = |message_id: &str| Delivery {
        message_id: message_id.into(),
        receipt: format!("r-{message_id}"),
        body: body.clone(),
        receive_count: 3,
    };
    // Every delivery fails to send the timer on: it is dead-lettered.
    assert_eq!(
        failing.handle_batch(vec![delivery("a")]).await,
        vec!["a".to_owned()]
    );
    // The redrive brings it back under another message id: it still waits
    // for its time, and settles at it.
    assert!(engine
        .handle_dead_letters(vec![delivery("b")])
        .await
        .is_empty());
    let mut settled = None;
    for _ in 0..40 {
        for d in queue
            .receive(10, Duration::from_millis(50))
            .await
            .expect("receive")
        {
            engine.process(&d.body, 1).await.expect("processed");
            queue.delete(vec![d.receipt]).await.expect("delete");
        }
        settled = engine.outcome(&id).await.expect("read");
        if settled.is_some() {
            break;
        }
    }
    assert_eq!(settled, Some(Outcome::Ok(serde_json::Value::Null)));
}

#[tokio::test]
async fn a_far_timer_waits_in_the_index_once_however_often_it_arrives() {
    let store = Arc::new(MemoryStore::new());
    let queue = Arc::new(MemoryQueue::new(Duration::from_millis(500), 5, None));
    let engine = Engine::new(store.clone(), queue.clone(), EngineConfig::default());
    let at = now_ms() + 30 * 24 * 3_600_000;
    let timer = Envelope::timer(
        Target::Promise(PromiseId::random()),
        Outcome::Ok(serde_json::Value::Null),
        at,
    );
    let body = engine.seal(&timer).await.expect("seal");
    // A first delivery, a duplicate, and a redelivery.
    for (n, message_id) in [(1, "a"), (1, "b"), (2, "a")] {
        let d = Delivery {
            message_id: message_id.into(),
            receipt: format!("r{n}{message_id}"),
            body: body.clone(),
            receive_count: n,
        };
        assert!(engine.handle_batch(vec![d]).await.is_empty());
    }
    assert_eq!(queue.len(), 0, "nothing waits in the queue");
    let bucket = at / vow::timer_index::BUCKET_MS;
    let mut indexed = 0;
    for shard in 0..vow::timer_index::SHARDS {
        indexed += store.timers_in(bucket, shard).await.expect("read").len();
    }
    assert_eq!(indexed, 1, "one item in the index");
    // A sweep now sends nothing: the month has not passed.
    assert_eq!(engine.sweep("s").await.expect("sweep"), 0);
    assert_eq!(queue.len(), 0);
}

#[tokio::test]
async fn a_month_long_sleep_costs_the_queue_what_an_hour_long_one_does() {
    async fn sends_for(nap: Duration) -> u64 {
        let vow = embedded();
        let k = key();
        let flow = vow.flow();
        let after = flow.sleep(nap).then(Woke { key: k });
        vow.start(&flow).await.expect("start");
        vow.skip_time(nap + Duration::from_secs(60))
            .expect("embedded");
        assert_eq!(
            vow.wait(&after, WAIT).await.expect("wait"),
            Ok("woke".into())
        );
        let (work, _) = vow.memory_queues().expect("embedded");
        work.sent()
    }
    let hour = sends_for(Duration::from_secs(3_600)).await;
    let month = sends_for(Duration::from_secs(30 * 24 * 3_600)).await;
    assert_eq!(hour, month, "the same messages, whatever the length");
    assert!(hour <= 2, "{hour} messages for one sleep and its successor");
}

/// Logs its run under `key`, then holds its worker until the test opens
/// `key`'s gate ([`open_gate`]): a step still running when something else
/// arrives.
#[derive(Debug, Serialize, Deserialize)]
struct Held {
    key: String,
}

#[vow::task("timers/held")]
impl Task for Held {
    type Input = Result<(), Failure>;
    type Output = usize;
    async fn run(self, _: Self::Input, _cx: &Cx) -> Result<Resolution<usize>, Error> {
        log(&self.key, "ran".into());
        let gate = format!("{}/gate", self.key);
        while read_log(&gate).is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        done(read_log(&self.key).len())
    }
}

fn open_gate(key: &str) {
    log(&format!("{key}/gate"), "open".into());
}

/// Waits until `queue` has exactly `n` messages due or in flight, for at
/// most `patience`; returns whether it got there.
async fn busy_settles_at(queue: &MemoryQueue, n: usize, patience: Duration) -> bool {
    let began = Instant::now();
    while began.elapsed() < patience {
        if queue.busy() == n {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test]
async fn a_copy_of_a_fired_timer_does_not_run_the_step_after_it_again() {
    // Issue 20 (rule 8): a copy of a timer (SQS's duplicate, a sweep sending
    // its minute again, a redrive) arriving after the timer fired, while the
    // step after the sleep still runs, found the slot its own and repaired
    // that step into a second run.
    let mut config = fast_config();
    config.visibility = Duration::from_secs(60);
    let vow = Vow::embedded_with(config);
    let (work, _) = vow.memory_queues().expect("embedded");
    let k = key();
    let flow = vow.flow();
    let nap = flow.sleep(Duration::from_millis(100));
    let after = nap.then(Held { key: k.clone() });
    vow.start(&flow).await.expect("start");
    let began = Instant::now();
    while read_log(&k).is_empty() {
        assert!(began.elapsed() < WAIT, "the step after the sleep never ran");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The step runs (and holds its message): now a copy of the timer comes.
    let copy = Envelope::timer(
        Target::Promise(nap.id().clone()),
        Outcome::Ok(serde_json::Value::Null),
        now_ms(),
    );
    let body = vow.engine().seal(&copy).await.expect("seal");
    work.send(vec![vow::queue::Outgoing {
        body,
        delay: Duration::ZERO,
    }])
    .await
    .expect("send the copy");
    assert!(
        busy_settles_at(work, 1, WAIT).await,
        "the copy sent the step again while it ran"
    );
    // Whatever the copy left to look again later finds nothing to do either.
    vow.skip_time(Duration::from_secs(16 * 60)).expect("skip");
    assert!(
        busy_settles_at(work, 1, WAIT).await,
        "a later look sent the step again while it ran"
    );
    open_gate(&k);
    assert_eq!(vow.wait(&after, WAIT).await.expect("wait"), Ok(1));
    assert_eq!(read_log(&k).len(), 1, "the step after the sleep ran once");
}

/// A queue that keeps what is sent through it, in order, and sends it on.
struct Recording {
    inner: Arc<MemoryQueue>,
    sent: std::sync::Mutex<Vec<vow::queue::Outgoing>>,
}

#[async_trait::async_trait]
impl Queue for Recording {
    async fn send(&self, messages: Vec<vow::queue::Outgoing>) -> Result<(), vow::BackendError> {
        self.sent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(messages.iter().cloned());
        self.inner.send(messages).await
    }
    async fn receive(
        &self,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<Delivery>, vow::BackendError> {
        self.inner.receive(max, wait).await
    }
    async fn delete(&self, receipts: Vec<String>) -> Result<(), vow::BackendError> {
        self.inner.delete(receipts).await
    }
    async fn release(&self, receipt: &str, after: Duration) -> Result<(), vow::BackendError> {
        self.inner.release(receipt, after).await
    }
    fn name(&self) -> &str {
        self.inner.name()
    }
}

impl Recording {
    fn take(&self) -> Vec<vow::queue::Outgoing> {
        std::mem::take(&mut *self.sent.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// A memory store, a [`Recording`] queue, an engine that works them (driven
/// by hand, with `process`) and an application client of them.
fn recording_engine() -> (Arc<dyn Store>, Arc<Recording>, Arc<Engine>, Vow) {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let queue = Arc::new(Recording {
        inner: Arc::new(MemoryQueue::new(Duration::from_secs(60), 5, None)),
        sent: Default::default(),
    });
    let config = EngineConfig::default();
    let engine = Engine::new(store.clone(), queue.clone(), config.clone());
    let client = Vow::client(store.clone(), queue.clone(), config);
    (store, queue, engine, client)
}

#[tokio::test]
async fn a_timer_copy_that_finds_its_firing_unfinished_looks_again_and_one_look_then_repairs_it() {
    // Rule 8 and rule 3 together: a copy of a timer that finds its firing
    // written but not marked delivered (its handling may be sending right
    // now, or may have died) delivers nothing at once, and sends itself to
    // look again; a look, finding no mark still, repairs under a claim that
    // keeps other looks of the same grace off.
    let (store, queue, engine, client) = recording_engine();
    let failing = Engine::new(store, Arc::new(Refusing), EngineConfig::default());
    let k = key();
    let flow = client.flow();
    let nap = flow.sleep(Duration::from_millis(1));
    let noted = nap.then(Woke { key: k.clone() });
    client.start(&flow).await.expect("start");
    let timer = queue
        .take()
        .into_iter()
        .find(|m| m.body.contains(vow::wire::TIMER_TASK))
        .expect("the sleep's timer was sent");
    tokio::time::sleep(Duration::from_millis(5)).await;
    // The firing's handling writes the slot, then cannot send: it dies here.
    assert!(failing.process(&timer.body, 1).await.is_err());
    assert!(engine.outcome(nap.id()).await.expect("read").is_some());
    // A copy of the timer: it sends only itself, to look again later.
    engine.process(&timer.body, 1).await.expect("the copy");
    let sent = queue.take();
    assert_eq!(sent.len(), 1, "the copy sent only its second look");
    assert_eq!(sent[0].delay, vow::engine::decide::FIRING_GRACE);
    assert!(sent[0].body.contains(vow::wire::TIMER_TASK));
    // So does a redelivery: it may be an earlier hop's message, or a copy,
    // while the firing's own handling still sends.
    engine.process(&timer.body, 2).await.expect("a redelivery");
    let looked = queue.take();
    assert_eq!(looked.len(), 1, "the redelivery sent only its second look");
    assert_eq!(looked[0].delay, vow::engine::decide::FIRING_GRACE);
    // A timer sent as a repair (a named start's takeover sends its flow's
    // timers so) is no look: it looks again too.
    let mut takeover = Envelope::timer(
        Target::Promise(nap.id().clone()),
        Outcome::Ok(serde_json::Value::Null),
        now_ms(),
    );
    takeover.repair = true;
    let takeover = engine.seal(&takeover).await.expect("seal");
    engine
        .process(&takeover, 1)
        .await
        .expect("a takeover's timer");
    let takeover_sent = queue.take();
    assert_eq!(takeover_sent.len(), 1, "{takeover_sent:?}");
    assert_eq!(takeover_sent[0].delay, vow::engine::decide::FIRING_GRACE);
    // A look claims the repair; this one dies before it delivers.
    assert!(failing.process(&sent[0].body, 1).await.is_err());
    // Another look in the same grace finds the claim held and looks again
    // rather than repair beside it.
    engine
        .process(&looked[0].body, 1)
        .await
        .expect("another look");
    let again = queue.take();
    assert_eq!(again.len(), 1, "{again:?}");
    assert_eq!(again[0].delay, vow::engine::decide::FIRING_GRACE);
    assert!(again[0].body.contains(vow::wire::TIMER_TASK));
    // The claimant's own look, delivered again, keeps its claim (so a look
    // whose sends keep failing reaches the dead-letter queue): it repairs,
    // delivering the step after the sleep, and marks it; looks and copies
    // after the mark do nothing.
    engine
        .process(&sent[0].body, 2)
        .await
        .expect("the look again");
    let delivered = queue.take();
    assert_eq!(delivered.len(), 1, "{delivered:?}");
    engine
        .process(&again[0].body, 1)
        .await
        .expect("a later look");
    engine.process(&timer.body, 1).await.expect("a later copy");
    assert!(queue.take().is_empty(), "nothing sent after the mark");
    engine
        .process(&delivered[0].body, 1)
        .await
        .expect("the step after the sleep");
    assert_eq!(
        engine.outcome(noted.id()).await.expect("read"),
        Some(Outcome::Ok(serde_json::json!("woke")))
    );
    assert_eq!(read_log(&k).len(), 1, "the step after the sleep ran once");
}

#[tokio::test]
async fn a_heartbeat_timer_arriving_after_the_deadline_fired_leaves_a_copy_nothing_to_repair() {
    // Review finding: the deadline's and the heartbeat's timers shared one
    // `delivered_by` field; the heartbeat timer, finding the slot written by
    // the deadline, overwrote it, and a copy of the deadline timer then
    // repaired the step after the callback.
    let (_, queue, engine, client) = recording_engine();
    let flow = client.flow();
    let (cb, _resolver) =
        flow.callback_with_heartbeat::<()>(Duration::from_millis(40), Duration::from_millis(20));
    let _after = cb.then(Woke { key: key() });
    client.start(&flow).await.expect("start");
    let (beat, deadline): (Vec<_>, Vec<_>) = queue
        .take()
        .into_iter()
        .filter(|m| m.body.contains(vow::wire::TIMER_TASK))
        .partition(|m| m.body.contains("\"beat\""));
    assert_eq!(
        (beat.len(), deadline.len()),
        (1, 1),
        "a deadline and a heartbeat timer"
    );
    tokio::time::sleep(Duration::from_millis(80)).await;
    engine
        .process(&deadline[0].body, 1)
        .await
        .expect("the deadline fires");
    assert_eq!(queue.take().len(), 1, "the step after the callback");
    engine
        .process(&beat[0].body, 1)
        .await
        .expect("the heartbeat timer");
    assert!(queue.take().is_empty(), "the heartbeat timer owes nothing");
    engine
        .process(&deadline[0].body, 1)
        .await
        .expect("a copy of the deadline");
    assert!(
        queue.take().is_empty(),
        "a copy of the deadline timer after its firing was marked sends nothing"
    );
}
