//! Schedules: a job at every firing of a cron expression, at most once per
//! firing however many times (and from however many chains) it is scheduled
//! and however often SQS delivers a tick, at least once while it is on, until
//! cancelled. Time passes on the test clock ([`Vow::skip_time`]); nothing here
//! counts wall-clock seconds.

mod common;

use async_trait::async_trait;
use common::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use vow::backend::{Cell, Cont, Delivery, Outgoing, Queue, Record, Settled, Slot, Store};
use vow::prelude::*;
use vow::{BackendError, Cron, EmbeddedConfig, Started};

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3_600);
const DAY: Duration = Duration::from_secs(86_400);

fn cron(text: &str) -> Cron {
    text.parse().expect("a cron expression")
}

/// Wait until `k` logged at least `n` jobs (or [`WAIT`] passed), then a little
/// longer for any extra, and say how many there are.
async fn jobs(k: &str, n: usize) -> usize {
    let began = Instant::now();
    while read_log(k).len() < n && began.elapsed() < WAIT {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    read_log(k).len()
}

/// Now on the embedded clock of a `vow` whose time was skipped by `skipped`.
fn clock(skipped: Duration) -> SystemTime {
    SystemTime::now() + skipped
}

/// How many times `cron` fires in `(from, to]`.
fn firings(cron: &Cron, from: SystemTime, to: SystemTime) -> usize {
    let mut n = 0;
    let mut t = from;
    while let Some(next) = cron.next_after(t).filter(|next| *next <= to) {
        n += 1;
        t = next;
    }
    n
}

/// Every successor through the queue, so a tick is a message of its own.
fn no_inline() -> EmbeddedConfig {
    let mut config = fast_config();
    config.engine.inline_for = Duration::ZERO;
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_schedule_runs_its_job_once_per_firing_until_cancelled() {
    let vow = embedded();
    let k = key();
    let daily = cron("0 3 * * *");
    let schedule = vow
        .schedule(&format!("daily-{k}"), &daily, Logged { key: k.clone() })
        .await
        .expect("scheduled");
    assert_eq!(schedule.started(), Started::New);
    for day in 1..=3 {
        vow.skip_time(DAY).expect("embedded");
        assert_eq!(jobs(&k, day).await, day, "day {day}");
    }
    assert_eq!(
        vow.cancel(schedule.id(), "enough").await.expect("cancel"),
        1
    );
    vow.skip_time(DAY * 2).expect("embedded");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(read_log(&k).len(), 3, "nothing after the cancel");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scheduling_a_name_again_changes_nothing() {
    let vow = embedded();
    let (k, name) = (key(), format!("hourly-{}", key()));
    let hourly = cron("0 * * * *");
    let first = vow
        .schedule(&name, &hourly, Logged { key: k.clone() })
        .await
        .expect("scheduled");
    for _ in 0..3 {
        let again = vow
            .schedule(&name, &hourly, Logged { key: k.clone() })
            .await
            .expect("scheduled");
        assert_eq!(again.started(), Started::Existing);
        assert_eq!(again.id(), first.id());
    }
    vow.skip_time(HOUR).expect("embedded");
    assert_eq!(jobs(&k, 1).await, 1);
    vow.skip_time(HOUR).expect("embedded");
    assert_eq!(jobs(&k, 2).await, 2);
    vow.cancel(first.id(), "done").await.expect("cancel");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_second_chain_of_a_name_never_fires_a_firing_twice() {
    let vow = embedded();
    let (k, name) = (key(), format!("report-{}", key()));
    let daily = cron("0 3 * * *");
    let first = vow
        .schedule(&name, &daily, Logged { key: k.clone() })
        .await
        .expect("scheduled");
    vow.skip_time(DAY).expect("embedded");
    assert_eq!(jobs(&k, 1).await, 1);
    // Weeks pass: every settled record expires (TTL), the name's claim and
    // the chain's history among them; pending ones (the sleep the chain waits
    // in, the off switch) have no TTL. The name is scheduled again: two
    // chains, with different ids, now wait for the same firings.
    let store = vow.memory_store().expect("embedded").clone();
    let mut expired = 0;
    for key in store.item_sizes().into_keys() {
        if let Ok(Some(record)) = Store::read(&*store, &key).await {
            if record.slots.contains_key(&0) {
                store.expire(&key);
                expired += 1;
            }
        }
    }
    assert!(expired >= 3, "the claim, a sleep, a tick: {expired}");
    let second = vow
        .schedule(&name, &daily, Logged { key: k.clone() })
        .await
        .expect("scheduled");
    assert_eq!(second.started(), Started::New);
    for day in 2..=4 {
        vow.skip_time(DAY).expect("embedded");
        assert_eq!(jobs(&k, day).await, day, "{:#?}", read_log(&k));
    }
    vow.cancel(first.id(), "done").await.expect("cancel");
}

#[tokio::test]
async fn a_schedule_that_never_fires_too_often_or_has_a_bad_name_is_refused() {
    let vow = embedded();
    let err = vow
        .schedule("feb-30", &cron("0 0 30 2 *"), Logged { key: key() })
        .await
        .expect_err("never fires");
    assert!(err.to_string().contains("never fires"), "{err}");
    let err = vow
        .schedule("", &cron("0 3 * * *"), Logged { key: key() })
        .await
        .expect_err("no name");
    assert!(err.to_string().contains("name"), "{err}");
    let every_second = cron("* * * * * *");
    let err = vow
        .schedule("too-often", &every_second, Logged { key: key() })
        .await
        .expect_err("more than once a minute");
    assert!(err.to_string().contains("allow_sub_minute"), "{err}");
    let allowed = vow
        .schedule(
            "often-on-purpose",
            &every_second.allow_sub_minute(),
            Logged { key: key() },
        )
        .await
        .expect("allowed");
    vow.cancel(allowed.id(), "done").await.expect("cancel");
}

/// A deployment's floor (`EngineConfig::min_schedule_interval`, set by
/// `VowBuilder::min_schedule_interval` or `VOW_MIN_SCHEDULE_INTERVAL_SECS`)
/// refuses crons that fire closer together, `allow_sub_minute` or not.
#[tokio::test]
async fn a_deployment_sets_the_shortest_interval_between_firings() {
    let mut config = fast_config();
    config.engine.min_schedule_interval = Some(Duration::from_secs(600));
    let vow = Vow::embedded_with(config);
    let err = vow
        .schedule("every-five", &cron("*/5 * * * *"), Logged { key: key() })
        .await
        .expect_err("closer than ten minutes");
    assert!(
        err.to_string()
            .contains("`*/5 * * * *` can fire 300s after its previous firing"),
        "{err}"
    );
    let marked = cron("* * * * * *").allow_sub_minute();
    assert!(vow
        .schedule("every-second", &marked, Logged { key: key() })
        .await
        .is_err());
    let fine = vow
        .schedule("every-ten", &cron("*/10 * * * *"), Logged { key: key() })
        .await
        .expect("ten minutes apart");
    vow.cancel(fine.id(), "done").await.expect("cancel");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_daily_schedule_fires_once_a_day_as_time_is_skipped() {
    let vow = embedded();
    let k = key();
    let daily = cron("0 3 * * *");
    let schedule = vow
        .schedule(&format!("daily-{k}"), &daily, Logged { key: k.clone() })
        .await
        .expect("scheduled");
    for expected in 1..=3 {
        vow.skip_time(DAY).expect("embedded");
        assert_eq!(jobs(&k, expected).await, expected, "day {expected}");
    }
    vow.cancel(schedule.id(), "done").await.expect("cancel");
    vow.skip_time(DAY * 2).expect("embedded");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(read_log(&k).len(), 3, "nothing after the cancel");
}

/// Hole 6: a week skipped at once is a week of firings, as a real week is
/// (missed firings are caught up, up to a week back).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn skipping_a_week_fires_a_daily_schedule_seven_times() {
    let vow = embedded();
    let k = key();
    let schedule = vow
        .schedule(
            &format!("weekly-catch-up-{k}"),
            &cron("0 3 * * *"),
            Logged { key: k.clone() },
        )
        .await
        .expect("scheduled");
    vow.skip_time(DAY * 7).expect("embedded");
    assert_eq!(jobs(&k, 7).await, 7, "{:#?}", read_log(&k));
    vow.skip_time(DAY).expect("embedded");
    assert_eq!(jobs(&k, 8).await, 8);
    // Missed firings older than a week are skipped, not caught up.
    vow.skip_time(DAY * 30).expect("embedded");
    assert_eq!(jobs(&k, 15).await, 15, "{:#?}", read_log(&k));
    vow.cancel(schedule.id(), "done").await.expect("cancel");
}

/// A queue that delivers every schedule tick twice (an SQS duplicate).
struct TicksTwice(Arc<dyn Queue>);

#[async_trait]
impl Queue for TicksTwice {
    async fn send(&self, messages: Vec<Outgoing>) -> Result<(), BackendError> {
        let mut out = Vec::new();
        for m in messages {
            let tick = vow::wire::decode_envelope(&m.body)
                .is_ok_and(|env| env.tag() == Some("vow/schedule"));
            if tick {
                out.push(m.clone());
            }
            out.push(m);
        }
        self.0.send(out).await
    }
    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>, BackendError> {
        self.0.receive(max, wait).await
    }
    async fn delete(&self, receipts: Vec<String>) -> Result<(), BackendError> {
        self.0.delete(receipts).await
    }
    async fn release(&self, receipt: &str, after: Duration) -> Result<(), BackendError> {
        self.0.release(receipt, after).await
    }
    fn name(&self) -> &str {
        self.0.name()
    }
}

/// Hole 2: a tick delivered twice (at once, or one copy after the other
/// finished) sends its firing's job once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_duplicated_tick_runs_its_job_once_per_firing() {
    let vow = Vow::embedded_wrapped(no_inline(), |store, queue| {
        (store, Arc::new(TicksTwice(queue)))
    });
    let k = key();
    let schedule = vow
        .schedule(
            &format!("twice-{k}"),
            &cron("0 3 * * *"),
            Logged { key: k.clone() },
        )
        .await
        .expect("scheduled");
    for day in 1..=4 {
        vow.skip_time(DAY).expect("embedded");
        assert_eq!(jobs(&k, day).await, day, "{:#?}", read_log(&k));
    }
    vow.cancel(schedule.id(), "done").await.expect("cancel");
}

/// Hole 2, one copy after the other: a duplicate that arrives once the first
/// copy finished finds the firing done.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tick_delivered_again_after_it_finished_sends_nothing() {
    let mut vow = Vow::embedded_with(no_inline());
    vow.shutdown().await; // this test delivers the messages itself
    let (queue, _) = vow.memory_queues().expect("embedded");
    let queue = queue.clone();
    let k = key();
    vow.schedule(
        &format!("again-{k}"),
        &cron("0 3 * * *"),
        Logged { key: k.clone() },
    )
    .await
    .expect("scheduled");
    vow.skip_time(DAY).expect("embedded");
    let ticks = deliver_all(&vow, &queue).await;
    assert_eq!(ticks.len(), 1, "one tick for the day");
    assert_eq!(read_log(&k).len(), 1);
    // The same tick again, as a first delivery (an SQS duplicate), then the
    // messages it sends, if any.
    vow.engine().process(&ticks[0], 1).await.expect("processed");
    deliver_all(&vow, &queue).await;
    assert_eq!(read_log(&k).len(), 1, "{:#?}", read_log(&k));
}

/// Deliver every message visible in `queue` (and those they send) once, until
/// none is left; return the bodies of the schedule ticks among them.
async fn deliver_all(vow: &Vow, queue: &vow::memory::MemoryQueue) -> Vec<String> {
    let mut ticks = Vec::new();
    let mut quiet = 0;
    while quiet < 5 {
        // What falls due in the timer index goes to the queue first.
        vow.engine().sweep("test").await.expect("sweep");
        let batch = queue
            .receive(10, Duration::from_millis(20))
            .await
            .expect("receive");
        quiet = if batch.is_empty() { quiet + 1 } else { 0 };
        for d in batch {
            if vow::wire::decode_envelope(&d.body).is_ok_and(|e| e.tag() == Some("vow/schedule")) {
                ticks.push(d.body.clone());
            }
            vow.engine()
                .process(&d.body, d.receive_count)
                .await
                .expect("processed");
            queue.delete(vec![d.receipt]).await.expect("delete");
        }
    }
    ticks
}

/// A store whose reads of one record fail while `failing` is set.
struct ReadsFail {
    inner: Arc<dyn Store>,
    key: std::sync::Mutex<Option<String>>,
    failing: AtomicBool,
}

impl ReadsFail {
    fn check(&self, key: &str) -> Result<(), BackendError> {
        let target = self.key.lock().unwrap_or_else(|e| e.into_inner());
        if self.failing.load(Ordering::SeqCst) && target.as_deref() == Some(key) {
            return Err(BackendError::transient("injected: GetItem throttled"));
        }
        Ok(())
    }
}

#[async_trait]
impl Store for ReadsFail {
    async fn settle(&self, cell: &Cell, slot: &Slot) -> Result<Settled, BackendError> {
        self.inner.settle(cell, slot).await
    }
    async fn settle_together(
        &self,
        key: &str,
        slots: &[(u32, Slot)],
    ) -> Result<Option<Vec<Settled>>, BackendError> {
        self.inner.settle_together(key, slots).await
    }
    async fn add_continuations(
        &self,
        cell: &Cell,
        conts: &[(String, Cont)],
    ) -> Result<Option<Slot>, BackendError> {
        self.inner.add_continuations(cell, conts).await
    }
    async fn read(&self, key: &str) -> Result<Option<Record>, BackendError> {
        self.check(key)?;
        self.inner.read(key).await
    }
    async fn read_many(&self, keys: &[String]) -> Result<Vec<Option<Record>>, BackendError> {
        for key in keys {
            self.check(key)?;
        }
        self.inner.read_many(keys).await
    }
    async fn put_blob(&self, key: &str, text: &str) -> Result<(), BackendError> {
        self.inner.put_blob(key, text).await
    }
    async fn get_blob(&self, key: &str) -> Result<Option<String>, BackendError> {
        self.inner.get_blob(key).await
    }
    async fn note(&self, cell: &Cell, note: &vow::backend::Note) -> Result<(), BackendError> {
        self.inner.note(cell, note).await
    }
}

/// Hole 4: a tick whose reads of the off switch fail for a while (throttling)
/// keeps trying until they succeed; the schedule goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tick_that_fails_for_a_while_keeps_its_schedule() {
    let faulty = Arc::new(std::sync::OnceLock::<Arc<ReadsFail>>::new());
    let f = faulty.clone();
    let vow = Vow::embedded_wrapped(fast_config(), move |store, queue| {
        let wrapped = Arc::new(ReadsFail {
            inner: store,
            key: Default::default(),
            failing: AtomicBool::new(false),
        });
        let _ = f.set(wrapped.clone());
        (wrapped, queue)
    });
    let faulty = faulty.get().expect("wrapped").clone();
    let k = key();
    let schedule = vow
        .schedule(
            &format!("throttled-{k}"),
            &cron("0 3 * * *"),
            Logged { key: k.clone() },
        )
        .await
        .expect("scheduled");
    *faulty.key.lock().unwrap_or_else(|e| e.into_inner()) = Some(Cell::of(schedule.id()).key);
    faulty.failing.store(true, Ordering::SeqCst);
    vow.skip_time(DAY).expect("embedded");
    // Far more attempts than a task gets fail (retries come every 5-50 ms).
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(read_log(&k).is_empty(), "the job waits for its tick");
    faulty.failing.store(false, Ordering::SeqCst);
    // The failing tick tries again after a pause; then the next day's fires.
    let began = Instant::now();
    while read_log(&k).is_empty() && began.elapsed() < WAIT {
        vow.skip_time(MINUTE * 15).expect("embedded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(jobs(&k, 1).await, 1, "the throttled firing runs");
    vow.skip_time(DAY).expect("embedded");
    assert_eq!(jobs(&k, 2).await, 2, "and the schedule goes on");
    vow.cancel(schedule.id(), "done").await.expect("cancel");
}

/// Hole 4: a schedule whose chain is lost (its messages gone) is revived by
/// scheduling its name again, and catches up the firings it missed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scheduling_a_name_whose_chain_died_revives_it() {
    // Timers hop through the queue (hops too short for the timer index), so
    // that emptying the queue loses the chain.
    let mut config = fast_config();
    config.engine.timer_hop = MINUTE;
    let mut vow = Vow::embedded_with(config);
    let (k, name) = (key(), format!("revived-{}", key()));
    let hourly = cron("0 * * * *");
    let mut skipped = Duration::ZERO;
    let began = clock(skipped);
    let schedule = vow
        .schedule(&name, &hourly, Logged { key: k.clone() })
        .await
        .expect("scheduled");
    // Five hours pass with no worker, and the chain's messages are lost
    // (say, dead-lettered and deleted).
    vow.shutdown().await;
    vow.skip_time(HOUR * 5).expect("embedded");
    skipped += HOUR * 5;
    let (queue, _) = vow.memory_queues().expect("embedded");
    for d in queue
        .receive(10, Duration::from_millis(50))
        .await
        .expect("receive")
    {
        queue.delete(vec![d.receipt]).await.expect("delete");
    }
    assert!(queue.is_empty());
    let engine = vow.engine().clone();
    let _workers = vow.run_workers(2, None, Duration::from_millis(50));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(read_log(&k).is_empty(), "the chain is gone");
    let again = vow
        .schedule(&name, &hourly, Logged { key: k.clone() })
        .await
        .expect("scheduled");
    assert_eq!(again.started(), Started::Existing);
    assert_eq!(again.id(), schedule.id());
    let missed = firings(&hourly, began, clock(skipped));
    assert!((4..=6).contains(&missed), "{missed}");
    assert_eq!(jobs(&k, missed).await, missed, "{:#?}", read_log(&k));
    // Scheduling it again now starts nothing more.
    vow.schedule(&name, &hourly, Logged { key: k.clone() })
        .await
        .expect("scheduled");
    vow.skip_time(HOUR).expect("embedded");
    assert_eq!(jobs(&k, missed + 1).await, missed + 1);
    engine.cancel(schedule.id(), "done").await.expect("cancel");
}

/// The message a schedule declared in the SAM template or the Terraform
/// module sends at each firing (their `Input`, with the time filled in).
fn start_message(schedule: &str, task: &str, input: &str, at: &str) -> String {
    format!(
        r#"{{"vow":"start","schedule":"{schedule}","task":"{task}","input":{input},"at":"{at}"}}"#
    )
}

/// A schedule declared in the deployment: its firing's raw start message
/// starts the workflow once however often it is delivered, with a root id
/// derived from the schedule's name and the firing's time; an undeclared
/// schedule, or a declared one naming another task, is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_declared_schedules_start_message_starts_its_firing_once() {
    let k = key();
    let name = format!("nightly-{k}");
    let mut config = fast_config();
    config.engine.schedules = format!("{name}=test/logged").parse().expect("declared");
    let vow = Vow::embedded_with(config);
    let (queue, _) = vow.memory_queues().expect("embedded");
    let at = "2026-12-07T03:00:00Z";
    let body = start_message(&name, "test/logged", &format!(r#"{{"key":"{k}"}}"#), at);
    let twice = vec![
        Outgoing {
            body: body.clone(),
            delay: Duration::ZERO,
        },
        Outgoing {
            body: body.clone(),
            delay: Duration::ZERO,
        },
    ];
    queue.send(twice).await.expect("sent");
    assert_eq!(jobs(&k, 1).await, 1);
    vow.engine().process(&body, 1).await.expect("processed");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(read_log(&k).len(), 1, "one start per firing");
    // The root's id follows from the schedule's name and the firing's time.
    let flow = vow.flow_named(&format!("schedule:{name}@{at}"));
    let root = flow.when(Logged { key: k.clone() });
    assert!(
        read_log(&k)[0].starts_with(&root.id().to_string()),
        "{:?} is not {}",
        read_log(&k),
        root.id()
    );
    // The next firing is another workflow; its message, dead-lettered (its
    // start failed on every delivery), goes back to the work queue.
    let next = start_message(
        &name,
        "test/logged",
        &format!(r#"{{"key":"{k}"}}"#),
        "2026-12-08T03:00:00Z",
    );
    let dead = Delivery {
        message_id: "dead-1".into(),
        receipt: "r".into(),
        body: next,
        receive_count: 5,
    };
    assert!(vow
        .engine()
        .handle_dead_letters(vec![dead])
        .await
        .is_empty());
    vow.skip_time(MINUTE).expect("embedded");
    assert_eq!(jobs(&k, 2).await, 2);
    for (refused, why) in [
        (
            start_message("undeclared", "test/logged", "{}", at),
            "not declared",
        ),
        (start_message(&name, "test/value", "{}", at), "starts task"),
        (
            start_message(&name, "test/logged", "[1]", at),
            "JSON object",
        ),
        (
            start_message(&name, "test/logged", "{}", "tomorrow"),
            "RFC 3339",
        ),
    ] {
        let err = vow
            .engine()
            .process(&refused, 1)
            .await
            .expect_err("refused");
        assert!(
            matches!(&err, vow::engine::Rejected::Undecodable(_)) && err.to_string().contains(why),
            "{err}"
        );
    }
    assert_eq!(read_log(&k).len(), 2);
}

/// What a [`SettleHook`] store does with one settle.
enum OnSettle {
    /// Settle as asked.
    Pass,
    /// Settle this slot instead.
    Rewrite(Slot),
    /// Settle as asked, then fail as if the reply were lost.
    ReplyLost,
}

/// A store that asks `on_settle` what to do with each settle, and passes
/// everything else to `inner`.
struct SettleHook {
    inner: Arc<dyn Store>,
    on_settle: Box<dyn Fn(&Slot) -> OnSettle + Send + Sync>,
}

#[async_trait]
impl Store for SettleHook {
    async fn settle(&self, cell: &Cell, slot: &Slot) -> Result<Settled, BackendError> {
        match (self.on_settle)(slot) {
            OnSettle::Pass => self.inner.settle(cell, slot).await,
            OnSettle::Rewrite(other) => self.inner.settle(cell, &other).await,
            OnSettle::ReplyLost => {
                self.inner.settle(cell, slot).await?;
                Err(BackendError::transient(
                    "injected: reply lost after the write",
                ))
            }
        }
    }
    async fn settle_together(
        &self,
        key: &str,
        slots: &[(u32, Slot)],
    ) -> Result<Option<Vec<Settled>>, BackendError> {
        self.inner.settle_together(key, slots).await
    }
    async fn add_continuations(
        &self,
        cell: &Cell,
        conts: &[(String, Cont)],
    ) -> Result<Option<Slot>, BackendError> {
        self.inner.add_continuations(cell, conts).await
    }
    async fn read(&self, key: &str) -> Result<Option<Record>, BackendError> {
        self.inner.read(key).await
    }
    async fn read_many(&self, keys: &[String]) -> Result<Vec<Option<Record>>, BackendError> {
        self.inner.read_many(keys).await
    }
    async fn put_blob(&self, key: &str, text: &str) -> Result<(), BackendError> {
        self.inner.put_blob(key, text).await
    }
    async fn get_blob(&self, key: &str) -> Result<Option<String>, BackendError> {
        self.inner.get_blob(key).await
    }
    async fn note(&self, cell: &Cell, note: &vow::backend::Note) -> Result<(), BackendError> {
        self.inner.note(cell, note).await
    }
}

/// Whether `slot` settles with an object holding `field`.
fn holds(slot: &Slot, field: &str) -> bool {
    matches!(&slot.outcome, vow::backend::Outcome::Ok(v) if v.get(field).is_some())
}

/// A tick that took its firing's lease and crashed before sending the job
/// does not lose the firing: once the lease is old, another delivery takes
/// it over and sends the job, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_firing_whose_holder_crashed_is_taken_over_and_runs_once() {
    let vow = Vow::embedded_wrapped(fast_config(), |store, queue| {
        // The reply to the first firing lease written is lost: the tick that
        // took the lease fails as if it crashed right after its claim.
        let lost = AtomicBool::new(false);
        let wrapped = Arc::new(SettleHook {
            inner: store,
            on_settle: Box::new(move |slot| {
                if holds(slot, "holder") && !lost.swap(true, Ordering::SeqCst) {
                    OnSettle::ReplyLost
                } else {
                    OnSettle::Pass
                }
            }),
        });
        (wrapped, queue)
    });
    let k = key();
    let schedule = vow
        .schedule(
            &format!("crashed-{k}"),
            &cron("0 3 * * *"),
            Logged { key: k.clone() },
        )
        .await
        .expect("scheduled");
    vow.skip_time(DAY).expect("embedded");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        read_log(&k).is_empty(),
        "the lease is young: nobody sends yet"
    );
    let began = Instant::now();
    while read_log(&k).is_empty() && began.elapsed() < WAIT {
        vow.skip_time(MINUTE).expect("embedded");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(jobs(&k, 1).await, 1, "{:#?}", read_log(&k));
    vow.skip_time(DAY).expect("embedded");
    assert_eq!(jobs(&k, 2).await, 2, "and the schedule goes on");
    vow.cancel(schedule.id(), "done").await.expect("cancel");
}

/// Hole 9: the holder sent the job, but another writer under its tick's
/// token settled the tick first, with no `fired`. A copy of the tick that
/// comes once the lease is old must still find the firing done (the holder's
/// note says the job went out), not take the lease over and send it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tick_settled_first_by_another_writer_still_counts_as_fired() {
    // A tick's settle with `fired` is made as if another writer under the
    // tick's token (a copy's hand-over, a dead-letter settle) had settled it
    // first, with no `fired`: the holder's own settle is lost.
    let mut vow = Vow::embedded_wrapped(no_inline(), |store, queue| {
        let wrapped = Arc::new(SettleHook {
            inner: store,
            on_settle: Box::new(|slot| {
                if holds(slot, "fired") {
                    let other = vow::backend::Outcome::Ok(serde_json::json!({}));
                    OnSettle::Rewrite(Slot::new(other, &slot.by))
                } else {
                    OnSettle::Pass
                }
            }),
        });
        (wrapped, queue)
    });
    vow.shutdown().await; // this test delivers the messages itself
    let (queue, _) = vow.memory_queues().expect("embedded");
    let queue = queue.clone();
    let k = key();
    vow.schedule(
        &format!("mark-{k}"),
        &cron("0 3 * * *"),
        Logged { key: k.clone() },
    )
    .await
    .expect("scheduled");
    vow.skip_time(DAY).expect("embedded");
    let ticks = deliver_all(&vow, &queue).await;
    assert_eq!((ticks.len(), read_log(&k).len()), (1, 1), "fired once");
    // The lease grows old; then a copy of the tick, as a first delivery.
    vow.skip_time(10 * MINUTE).expect("embedded");
    vow.engine().process(&ticks[0], 1).await.expect("processed");
    deliver_all(&vow, &queue).await;
    assert_eq!(read_log(&k).len(), 1, "{:#?}", read_log(&k));
}

/// A queue whose sends fail while `failing` is set.
struct SendsFail {
    inner: Arc<dyn Queue>,
    failing: Arc<AtomicBool>,
}

#[async_trait]
impl Queue for SendsFail {
    async fn send(&self, messages: Vec<Outgoing>) -> Result<(), BackendError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(BackendError::transient("injected: the process died"));
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

/// An embedded `vow` whose queue refuses sends while the flag is set, with
/// its workers stopped (the test delivers), and its work queue.
async fn with_sends_failing() -> (Vow, Arc<vow::memory::MemoryQueue>, Arc<AtomicBool>) {
    let failing = Arc::new(AtomicBool::new(false));
    let fails = failing.clone();
    let mut vow = Vow::embedded_wrapped(no_inline(), move |store, queue| {
        let queue = Arc::new(SendsFail {
            inner: queue,
            failing: fails,
        });
        (store, queue)
    });
    vow.shutdown().await;
    let (queue, _) = vow.memory_queues().expect("embedded");
    let queue = queue.clone();
    (vow, queue, failing)
}

/// Deliver until the first schedule tick, which claims its firing, and whose
/// process then dies before the job and the next sleep are sent; its message
/// is dead-lettered.
async fn the_first_tick_dies(vow: &Vow, queue: &vow::memory::MemoryQueue, failing: &AtomicBool) {
    loop {
        vow.engine().sweep("test").await.expect("sweep");
        let batch = queue
            .receive(10, Duration::from_millis(20))
            .await
            .expect("receive");
        for d in batch {
            let tick =
                vow::wire::decode_envelope(&d.body).is_ok_and(|e| e.tag() == Some("vow/schedule"));
            failing.store(tick, Ordering::SeqCst);
            let processed = vow.engine().process(&d.body, d.receive_count).await;
            failing.store(false, Ordering::SeqCst);
            queue.delete(vec![d.receipt.clone()]).await.expect("delete");
            if tick {
                assert!(processed.is_err(), "the tick died");
                vow.engine().handle_dead_letters(vec![d]).await;
                return;
            }
            processed.expect("processed");
        }
    }
}

/// Hole 10: a tick that claimed its firing and died before sending anything,
/// then was dead-lettered, ended its chain with the firing claimed. Scheduling
/// the name again (a start-up) revives the chain at that firing, which then
/// runs once, and the schedule goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_firing_whose_holder_died_and_was_dead_lettered_runs_after_a_revive() {
    let (vow, queue, failing) = with_sends_failing().await;
    let (k, name) = (key(), format!("died-{}", key()));
    let daily = cron("0 3 * * *");
    vow.schedule(&name, &daily, Logged { key: k.clone() })
        .await
        .expect("scheduled");
    vow.skip_time(DAY).expect("embedded");
    the_first_tick_dies(&vow, &queue, &failing).await;
    deliver_all(&vow, &queue).await;
    assert!(read_log(&k).is_empty(), "the chain is gone");
    // A start-up, once the firing is overdue: the firing runs, once.
    vow.skip_time(20 * MINUTE).expect("embedded");
    vow.schedule(&name, &daily, Logged { key: k.clone() })
        .await
        .expect("scheduled");
    deliver_all(&vow, &queue).await;
    assert_eq!(read_log(&k).len(), 1, "{:#?}", read_log(&k));
    vow.skip_time(DAY).expect("embedded");
    deliver_all(&vow, &queue).await;
    assert_eq!(read_log(&k).len(), 2, "and the schedule goes on");
}

/// Hole 11 (found by the model in the fix of hole 10): the same, with a tick
/// that ran late (its firing overdue when it claimed), so that the start-up
/// finds the dead holder's lease still young. It revives the chain anyway:
/// the revived tick waits the lease out, takes it over and runs the firing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_start_up_that_finds_a_dead_holders_lease_young_still_runs_the_firing() {
    let (vow, queue, failing) = with_sends_failing().await;
    let (k, name) = (key(), format!("young-{}", key()));
    let daily = cron("0 3 * * *");
    vow.schedule(&name, &daily, Logged { key: k.clone() })
        .await
        .expect("scheduled");
    vow.skip_time(DAY + 20 * MINUTE).expect("embedded");
    the_first_tick_dies(&vow, &queue, &failing).await;
    vow.schedule(&name, &daily, Logged { key: k.clone() })
        .await
        .expect("scheduled");
    for _ in 0..20 {
        deliver_all(&vow, &queue).await;
        if !read_log(&k).is_empty() {
            break;
        }
        vow.skip_time(MINUTE).expect("embedded");
    }
    assert_eq!(read_log(&k).len(), 1, "{:#?}", read_log(&k));
    // The firing after it runs too, once.
    vow.skip_time(DAY).expect("embedded");
    deliver_all(&vow, &queue).await;
    assert_eq!(read_log(&k).len(), 2, "{:#?}", read_log(&k));
}

/// A revived chain whose messages are lost too (before its tick claims the
/// firing) is revived again by a later start-up: revived chains are named
/// after the start-up's window, not the firing alone (a second revive under
/// the same name found it taken and started nothing).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_revived_chain_that_is_lost_too_is_revived_again() {
    let mut vow = Vow::embedded_with(no_inline());
    vow.shutdown().await; // this test delivers the messages itself
    let (queue, _) = vow.memory_queues().expect("embedded");
    let queue = queue.clone();
    let (k, name) = (key(), format!("twice-lost-{}", key()));
    let daily = cron("0 3 * * *");
    let lose_everything = || async {
        vow.engine().sweep("test").await.expect("sweep");
        for d in queue
            .receive(10, Duration::from_millis(50))
            .await
            .expect("receive")
        {
            queue.delete(vec![d.receipt]).await.expect("delete");
        }
    };
    vow.schedule(&name, &daily, Logged { key: k.clone() })
        .await
        .expect("scheduled");
    lose_everything().await;
    vow.skip_time(DAY + 20 * MINUTE).expect("embedded");
    // A start-up revives the chain, and its messages are lost as well.
    vow.schedule(&name, &daily, Logged { key: k.clone() })
        .await
        .expect("scheduled");
    lose_everything().await;
    assert!(read_log(&k).is_empty());
    // A later start-up revives it again.
    vow.skip_time(20 * MINUTE).expect("embedded");
    vow.schedule(&name, &daily, Logged { key: k.clone() })
        .await
        .expect("scheduled");
    deliver_all(&vow, &queue).await;
    assert_eq!(read_log(&k).len(), 1, "{:#?}", read_log(&k));
}
