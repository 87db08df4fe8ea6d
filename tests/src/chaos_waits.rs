//! The chaos run's long waits: sleeps and callback deadlines of days,
//! schedules firing daily and every six hours, all on the test clock, which
//! the run moves forward in half-day steps (the embedded backend's
//! [`Vow::skip_time`], [`Engine::skip_clock`] on the others).
//!
//! Its rig injects the faults of waiting, on purpose and counted:
//! - duplicated schedule ticks and timers: a second copy of the message, a
//!   moment later ([`WaitFaults::timer_dup`], [`WaitFaults::tick_dup`]);
//! - timers redriven: a worker handles the timer with every send refused (so
//!   the delivery fails after its store writes), the message then goes to
//!   the dead-letter queue and `vow dlq redrive` moves it back to the work
//!   queue, under a new message id;
//! - timers dead-lettered: moved to the dead-letter queue, whose handler
//!   ([`Engine::handle_dead_letters`]) sends them back to wait;
//! - and queue delays at random.
//!
//! It injects no fault that would explain running a step twice (no lost
//! replies, no failed writes, no duplicates of ordinary steps), so the steps
//! it counts must run exactly once: the step after each wait (which adopts a
//! sleep of its own, as `Ship` adopts `sleep(3 days).then(Survey)`), the
//! step after that, and each schedule's job per firing.
//!
//! The workflows: a sleep of days; callbacks with deadlines of days that the
//! application resolves early (the resolve must win), cancels early, leaves
//! to time out, or resolves after the deadline (the resolve must come too
//! late); and schedules, whose firings between their start and the end of the
//! moved time must each run their job once.
//!
//! Accounting, folded into the chaos run's line: `lost` counts counted steps
//! that never ran and firings that never ran their job; `double` counts steps
//! and jobs that ran more than once, and firings beyond the schedule's; `hung`
//! roots that never settled; `wrong` roots settled with the wrong value and
//! resolves that won or lost when they should not have.

use crate::chaos::ChaosReport;
use crate::record::{self, Observation};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};
use tokio::time::Instant;
use vow::engine::{Engine, EngineConfig};
use vow::fault::{FaultConfig, Faults, FaultyQueue};
use vow::poller::{InProcess, Poller};
use vow::prelude::*;
use vow::queue::{Delivery, Outgoing, Queue};
use vow::signing::SigningKeys;
use vow::store::Store;
use vow::{BackendError, Cron, EmbeddedConfig, Resolved};

const DAY: Duration = Duration::from_secs(24 * 3_600);

/// How far the test clock moves at each step.
const STEP: Duration = Duration::from_secs(12 * 3_600);

/// Steps: the longest wait (4 days), the sleep after it (3 days), and two
/// days to spare: a copy of a timer that finds the firing unfinished (a
/// redriven one) looks again after the engine's grace, which the run meets
/// only at its next step, and a second look may wait one more.
const STEPS: u32 = 20;

/// The engine's `firing_grace` in this rig ([`wait_config`]).
const GRACE: Duration = Duration::from_secs(10);

/// The kinds of the waits rig, in mix order.
pub const WAIT_KINDS: &[&str] = &[
    "long-sleep",
    "callback-early",
    "callback-cancel",
    "callback-timeout",
    "callback-late",
    "schedule",
];

/// The schedules each run starts (when `schedule` is among its kinds).
const CRONS: &[&str] = &["0 0 * * *", "0 */6 * * *"];

/// Probabilities of the injected faults per delivery of a timer or a tick.
#[derive(Clone, Copy, Debug)]
pub struct WaitFaults {
    /// A second copy of a timer, a moment later: it finds the promise
    /// settled by its own token, and the firing marked delivered or under
    /// way (then it looks again after the grace); the step after the wait,
    /// running or done, must not run again.
    pub timer_dup: f64,
    /// A second copy of a schedule tick.
    pub tick_dup: f64,
    /// A timer handled with its sends refused, then dead-lettered and redriven.
    pub redrive: f64,
    /// A timer dead-lettered (the dead-letter handler sends it back).
    pub dead_letter: f64,
}

impl WaitFaults {
    /// [`WaitFaults::for_hops`], with the odds that
    /// `VOW_CHAOS_WAIT_FAULTS` names changed (`timer_dup=0,redrive=0.5`).
    pub fn from_env(indexed: bool) -> Self {
        let mut odds = Self::for_hops(indexed);
        let Ok(list) = std::env::var("VOW_CHAOS_WAIT_FAULTS") else {
            return odds;
        };
        for pair in list.split(',') {
            let Some((k, v)) = pair.split_once('=') else {
                continue;
            };
            let Ok(p) = v.trim().parse::<f64>() else {
                continue;
            };
            match k.trim() {
                "timer_dup" => odds.timer_dup = p,
                "tick_dup" => odds.tick_dup = p,
                "redrive" => odds.redrive = p,
                "dead_letter" => odds.dead_letter = p,
                other => eprintln!("chaos: VOW_CHAOS_WAIT_FAULTS: unknown `{other}`"),
            }
        }
        odds
    }

    /// For a rig whose timers arrive once or twice each (the timer index),
    /// or at every hop of `hop` (a queue of hops).
    pub fn for_hops(indexed: bool) -> Self {
        if indexed {
            WaitFaults {
                timer_dup: 0.2,
                tick_dup: 0.5,
                redrive: 0.2,
                dead_letter: 0.15,
            }
        } else {
            WaitFaults {
                // Copies often arrive while the step after the wait still
                // runs here (hops of 500 ms): the firing's note, or its
                // second look, must keep that step from a second run.
                timer_dup: 0.1,
                tick_dup: 0.5,
                redrive: 0.03,
                dead_letter: 0.02,
            }
        }
    }
}

/// The injected faults, counted by kind.
#[derive(Debug, Default)]
pub struct Injected {
    timer_dups: AtomicU64,
    tick_dups: AtomicU64,
    redrives: AtomicU64,
    dead_letters: AtomicU64,
}

impl Injected {
    fn total(&self) -> u64 {
        [
            &self.timer_dups,
            &self.tick_dups,
            &self.redrives,
            &self.dead_letters,
        ]
        .iter()
        .map(|c| c.load(Ordering::Relaxed))
        .sum()
    }
}

impl std::fmt::Display for Injected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "timer_dups={} tick_dups={} redrives={} dead_letters={}",
            self.timer_dups.load(Ordering::Relaxed),
            self.tick_dups.load(Ordering::Relaxed),
            self.redrives.load(Ordering::Relaxed),
            self.dead_letters.load(Ordering::Relaxed)
        )
    }
}

/// A queue that refuses every send (a worker whose sends fail until its
/// message is dead-lettered), named as the work queue it stands for.
struct Refusing(String);

#[async_trait::async_trait]
impl Queue for Refusing {
    async fn send(&self, _: Vec<Outgoing>) -> Result<(), BackendError> {
        Err(BackendError::transient("chaos: sends refused"))
    }
    async fn receive(&self, _: usize, _: Duration) -> Result<Vec<Delivery>, BackendError> {
        Ok(Vec::new())
    }
    async fn delete(&self, _: Vec<String>) -> Result<(), BackendError> {
        Ok(())
    }
    async fn release(&self, _: &str, _: Duration) -> Result<(), BackendError> {
        Ok(())
    }
    fn name(&self) -> &str {
        &self.0
    }
}

/// What a message is, as far as the injections care.
enum Sort {
    Timer,
    Tick,
    Other,
}

/// The workers' view of the work queue: deliveries of timers and ticks meet
/// the injected faults ([`WaitFaults`]).
struct WaitQueue {
    inner: Arc<dyn Queue>,
    /// The work queue itself (redriven and duplicated copies go here).
    raw: Arc<dyn Queue>,
    /// The dead-letter queue, once known.
    dlq: Arc<OnceLock<Arc<dyn Queue>>>,
    /// A worker whose sends are refused.
    failing: Arc<Engine>,
    keys: Option<SigningKeys>,
    odds: WaitFaults,
    injected: Arc<Injected>,
    rng: Mutex<fastrand::Rng>,
}

impl WaitQueue {
    fn sort(&self, body: &str) -> Sort {
        // Only sorted, never trusted: the body after the signature's header
        // (`vow-sig2:<key id>:<issued>:<mac>:`), whose clock the rig moves.
        let inner = match &self.keys {
            Some(_) => match body
                .strip_prefix("vow-sig2:")
                .and_then(|r| r.splitn(4, ':').nth(3))
            {
                Some(inner) => inner,
                None => return Sort::Other,
            },
            None => body,
        };
        match vow::wire::decode_envelope(inner) {
            Ok(env) if env.timer_at().is_some() => Sort::Timer,
            Ok(env) if env.tag() == Some("vow/schedule") => Sort::Tick,
            _ => Sort::Other,
        }
    }

    fn roll(&self) -> f64 {
        self.rng.lock().unwrap_or_else(|e| e.into_inner()).f64()
    }

    /// Send a second copy of `d`, up to 1.5 s later.
    async fn duplicate(&self, d: &Delivery, counter: &AtomicU64) {
        let delay = Duration::from_millis((self.roll() * 1_500.0) as u64);
        let copy = Outgoing {
            body: d.body.clone(),
            delay,
        };
        if self.raw.send(vec![copy]).await.is_ok() {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Move `d` to `to` (another message id), deleting it here; whether it
    /// moved (else it stays, to be delivered again).
    async fn move_to(&self, d: &Delivery, to: &Arc<dyn Queue>) -> bool {
        let moved = Outgoing {
            body: d.body.clone(),
            delay: Duration::ZERO,
        };
        if to.send(vec![moved]).await.is_err() {
            return false;
        }
        // A failed delete leaves the message to come again: one more copy.
        let _ = self.inner.delete(vec![d.receipt.clone()]).await;
        true
    }

    /// A worker handles `d` with every send refused (its store writes are
    /// made, its delivery fails), then the message is dead-lettered and
    /// redriven: `vow dlq redrive` sends its body to the work queue.
    async fn redrive(&self, d: &Delivery) -> bool {
        // As quick as any other worker, not always first: handled at once,
        // it would win every race with the copies the other workers hold.
        let pause = Duration::from_millis((self.roll() * 500.0) as u64);
        tokio::time::sleep(pause).await;
        let _ = self.failing.handle_batch(vec![d.clone()]).await;
        let raw = self.raw.clone();
        self.move_to(d, &raw).await
    }
}

#[async_trait::async_trait]
impl Queue for WaitQueue {
    async fn send(&self, messages: Vec<Outgoing>) -> Result<(), BackendError> {
        self.inner.send(messages).await
    }

    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>, BackendError> {
        let got = self.inner.receive(max, wait).await?;
        let mut out = Vec::with_capacity(got.len());
        for d in got {
            match self.sort(&d.body) {
                Sort::Other => {}
                Sort::Tick => {
                    if self.roll() < self.odds.tick_dup {
                        self.duplicate(&d, &self.injected.tick_dups).await;
                    }
                }
                Sort::Timer => {
                    let r = self.roll();
                    let o = self.odds;
                    if r < o.timer_dup {
                        self.duplicate(&d, &self.injected.timer_dups).await;
                    } else if r < o.timer_dup + o.redrive {
                        if self.redrive(&d).await {
                            self.injected.redrives.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                    } else if r < o.timer_dup + o.redrive + o.dead_letter {
                        if let Some(dlq) = self.dlq.get().cloned() {
                            if self.move_to(&d, &dlq).await {
                                self.injected.dead_letters.fetch_add(1, Ordering::Relaxed);
                                continue;
                            }
                        }
                    }
                }
            }
            out.push(d);
        }
        Ok(out)
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

/// What a step after a wait got: the value's label, or the failure's kind.
fn got_of(input: &Result<Value, Failure>) -> String {
    match input {
        Ok(Value::Null) => "null".into(),
        Ok(v) => v
            .get("l")
            .and_then(Value::as_str)
            .unwrap_or("value")
            .to_owned(),
        Err(f) => f.kind().as_str().to_owned(),
    }
}

/// The step after a wait: records its run, then adopts a sleep of
/// `then_days` followed by a [`Survey`] (as an approved order ships, then
/// asks for a survey days later).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AfterWait {
    /// The rig it belongs to.
    pub rig: String,
    /// Days it sleeps before its survey.
    pub then_days: u64,
}

#[vow::task("e2e/after-wait")]
impl Task for AfterWait {
    type Input = Result<Value, Failure>;
    type Output = Value;
    async fn run(self, input: Self::Input, cx: &Cx) -> Result<Resolution<Value>, Error> {
        let got = got_of(&input);
        record::record(Observation {
            input: format!("after:{got}"),
            ..Observation::run(&self.rig, cx, 1)
        });
        let nap = cx.sleep(DAY * u32::try_from(self.then_days).unwrap_or(1));
        let survey = cx.then(
            Handle::<Value>::from_id(nap.id().clone()),
            Survey {
                rig: self.rig,
                got,
                after: cx.id().to_string(),
            },
        );
        adopt(survey)
    }
    fn max_attempts(&self) -> Option<u32> {
        Some(1)
    }
}

/// The last step: records its run and says what the step before it got.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Survey {
    /// The rig it belongs to.
    pub rig: String,
    /// What the step after the wait got.
    pub got: String,
    /// That step's promise.
    pub after: String,
}

#[vow::task("e2e/survey")]
impl Task for Survey {
    type Input = Result<Value, Failure>;
    type Output = Value;
    async fn run(self, input: Self::Input, cx: &Cx) -> Result<Resolution<Value>, Error> {
        record::record(Observation {
            input: format!("survey:{}", got_of(&input)),
            from: Some(self.after),
            ..Observation::run(&self.rig, cx, 1)
        });
        done(json!({ "l": "survey", "got": self.got }))
    }
    fn max_attempts(&self) -> Option<u32> {
        Some(1)
    }
}

/// A schedule's job: records its run under the schedule's name.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CountJob {
    /// The rig it belongs to.
    pub rig: String,
    /// The schedule's name.
    pub schedule: String,
}

#[vow::task("e2e/count-job")]
impl Task for CountJob {
    type Input = ();
    type Output = ();
    async fn run(self, _: (), cx: &Cx) -> Result<Resolution<()>, Error> {
        record::record(Observation {
            input: format!("job:{}", self.schedule),
            ..Observation::run(&self.rig, cx, 1)
        });
        done(())
    }
    fn max_attempts(&self) -> Option<u32> {
        Some(1)
    }
}

/// The rig of the long waits.
pub struct WaitsRig {
    name: String,
    /// Starts, cancels, reads (on memory: the embedded backend whose workers
    /// run the workflows).
    client: Arc<Vow>,
    /// Resolves from application code through a queue that fails sends.
    app: Arc<Vow>,
    /// On memory, the embedded backend whose clock and queue delays
    /// `skip_time` moves.
    embedded: bool,
    /// Other engines whose clocks move with it.
    engines: Vec<Arc<Engine>>,
    faults: Vec<Arc<Faults>>,
    injected: Arc<Injected>,
    /// How long a step of the clock gets to settle at least.
    settle: Duration,
    skipped: Mutex<Duration>,
    stop: Option<tokio::sync::watch::Sender<bool>>,
}

impl std::fmt::Debug for WaitsRig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WaitsRig")
            .field("name", &self.name)
            .field("embedded", &self.embedded)
            .finish_non_exhaustive()
    }
}

impl Drop for WaitsRig {
    fn drop(&mut self) {
        if let Some(stop) = &self.stop {
            let _ = stop.send(true);
        }
    }
}

/// Random queue delays only: nothing that explains running a step twice.
fn delay_faults(seed: u64) -> FaultConfig {
    FaultConfig {
        delay: 0.05,
        max_delay: Duration::from_secs(1),
        seed: seed ^ 0x3a175,
        ..FaultConfig::default()
    }
}

fn wait_config(keys: &Option<SigningKeys>, hop: Duration) -> EngineConfig {
    let mut config = crate::test_engine();
    config.signing = keys.clone();
    // Every successor is its own message: ticks and the steps after waits
    // meet the injections as messages (inline, a tick is never delivered).
    config.inline_for = Duration::ZERO;
    config.timer_hop = hop;
    // Copies of timers look again after this (15 minutes by default), in real
    // seconds on the emulators: short enough for the run's last wait, far
    // longer than a firing's handling on a busy machine.
    config.firing_grace = GRACE;
    config
}

/// The app's faulty queue: half its sends fail (before or after sending).
fn app_faults(seed: u64) -> FaultConfig {
    FaultConfig {
        fail_before: 0.25,
        fail_after: 0.25,
        seed: seed ^ 0xa99,
        ..FaultConfig::default()
    }
}

impl WaitsRig {
    /// On the embedded backend: far timers wait in its timer index (15-minute
    /// hops), swept by its workers; `skip_time` moves its clock and its queue
    /// delays.
    pub fn memory(seed: u64) -> WaitsRig {
        let keys = Some(crate::chaos::chaos_keys());
        let config = wait_config(&keys, vow::queue::MAX_DELAY);
        let faults = Arc::new(Faults::new(delay_faults(seed)));
        let injected = Arc::new(Injected::default());
        let dlq_cell: Arc<OnceLock<Arc<dyn Queue>>> = Arc::default();
        let failing_cell: Arc<OnceLock<Arc<Engine>>> = Arc::default();
        let mut embedded = EmbeddedConfig::default();
        embedded.workers = 6;
        embedded.engine = config.clone();
        embedded.visibility = Duration::from_secs(2);
        embedded.max_receives = 30;
        let (f, inj, dc, fc, k) = (
            faults.clone(),
            injected.clone(),
            dlq_cell.clone(),
            failing_cell.clone(),
            keys.clone(),
        );
        let cfg = config.clone();
        let vow = Vow::embedded_wrapped(embedded, move |store, queue| {
            let failing = Engine::new(
                store.clone(),
                Arc::new(Refusing(queue.name().to_owned())),
                cfg,
            );
            let _ = fc.set(failing.clone());
            let faulty: Arc<dyn Queue> = Arc::new(FaultyQueue::new(queue.clone(), f));
            let seen: Arc<dyn Queue> = Arc::new(WaitQueue {
                inner: faulty,
                raw: queue,
                dlq: dc,
                failing,
                keys: k,
                odds: WaitFaults::from_env(true),
                injected: inj,
                rng: Mutex::new(fastrand::Rng::with_seed(seed ^ 0x7171)),
            });
            (store, seen)
        });
        let (work, dead) = match vow.memory_queues() {
            Some((w, d)) => (w.clone(), d.clone()),
            None => unreachable!("an embedded backend has memory queues"),
        };
        let _ = dlq_cell.set(dead);
        let store: Arc<dyn Store> = match vow.memory_store() {
            Some(s) => s.clone(),
            None => unreachable!("an embedded backend has a memory store"),
        };
        let app_faults = Arc::new(Faults::new(app_faults(seed)));
        let app_queue = Arc::new(FaultyQueue::new(work, app_faults.clone()));
        let app = Arc::new(Vow::client(store, app_queue, config));
        let mut engines = vec![app.engine().clone()];
        engines.extend(failing_cell.get().cloned());
        WaitsRig {
            name: format!("w{}", &PromiseId::random().as_str()[..11]),
            client: Arc::new(vow),
            app,
            embedded: true,
            engines,
            faults: vec![faults, app_faults],
            injected,
            settle: Duration::from_millis(300),
            skipped: Mutex::new(Duration::ZERO),
            stop: None,
        }
    }

    /// On the emulators (or AWS): timers hop through the queue every 500 ms
    /// (the queue's delays are real, so no timer may wait in it for long),
    /// and [`Engine::skip_clock`] moves the clocks of every engine.
    pub async fn aws(seed: u64) -> WaitsRig {
        let keys = Some(crate::chaos::chaos_keys());
        let config = wait_config(&keys, Duration::from_millis(500));
        let stack = crate::Stack::with_visibility("chaos-waits", 30, 3).await;
        let (sqs, dynamodb) = crate::chaos::aws_clients(None).await;
        let dlq: Arc<dyn Queue> = Arc::new(vow::aws::SqsQueue::new(sqs.clone(), &stack.dlq_url));
        let queue: Arc<dyn Queue> = Arc::new(vow::aws::SqsQueue::new(sqs, &stack.names.queue_url));
        let store: Arc<dyn Store> = Arc::new(vow::aws::DynamoStore::new(
            dynamodb,
            &stack.names.table_name,
            stack.names.record_ttl,
        ));
        let faults = Arc::new(Faults::new(delay_faults(seed)));
        let injected = Arc::new(Injected::default());
        let failing = Engine::new(
            store.clone(),
            Arc::new(Refusing(queue.name().to_owned())),
            config.clone(),
        );
        let dlq_cell: Arc<OnceLock<Arc<dyn Queue>>> = Arc::default();
        let _ = dlq_cell.set(dlq.clone());
        let seen: Arc<dyn Queue> = Arc::new(WaitQueue {
            inner: Arc::new(FaultyQueue::new(queue.clone(), faults.clone())),
            raw: queue.clone(),
            dlq: dlq_cell,
            failing: failing.clone(),
            keys: keys.clone(),
            odds: WaitFaults::from_env(false),
            injected: injected.clone(),
            rng: Mutex::new(fastrand::Rng::with_seed(seed ^ 0x7171)),
        });
        let engine = Engine::new(store.clone(), seen.clone(), config.clone());
        let (stop, stopped) = tokio::sync::watch::channel(false);
        for _ in 0..6 {
            let poller = Poller::new(seen.clone(), Arc::new(InProcess::worker(engine.clone())))
                .wait(Duration::from_secs(1))
                .failed_visibility(Duration::from_millis(100));
            tokio::spawn(poller.run(stopped.clone()));
        }
        let buried = Poller::new(dlq, Arc::new(InProcess::dead_letters(engine.clone())))
            .wait(Duration::from_secs(1));
        tokio::spawn(buried.run(stopped));
        let client = Arc::new(Vow::client(store.clone(), queue.clone(), config.clone()));
        let app_faults = Arc::new(Faults::new(app_faults(seed)));
        let app_queue = Arc::new(FaultyQueue::new(queue, app_faults.clone()));
        let app = Arc::new(Vow::client(store, app_queue, config));
        WaitsRig {
            name: format!("w{}", &PromiseId::random().as_str()[..11]),
            engines: vec![
                engine,
                failing,
                client.engine().clone(),
                app.engine().clone(),
            ],
            client,
            app,
            embedded: false,
            faults: vec![faults, app_faults],
            injected,
            settle: Duration::from_millis(2_500),
            skipped: Mutex::new(Duration::ZERO),
            stop: Some(stop),
        }
    }

    /// Move every clock of the rig `by` forward.
    fn skip(&self, by: Duration) {
        if self.embedded {
            if let Err(e) = self.client.skip_time(by) {
                eprintln!("chaos: waits: skip_time failed: {e}");
            }
        }
        for e in &self.engines {
            e.skip_clock(by);
        }
        *self.skipped.lock().unwrap_or_else(|e| e.into_inner()) += by;
    }

    /// Now on the rig's clock.
    fn now(&self) -> SystemTime {
        SystemTime::now() + *self.skipped.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Let what the clock made due run: on memory until the queues are quiet
    /// (two looks in a row), at least `settle`.
    async fn settle(&self) {
        tokio::time::sleep(self.settle).await;
        let Some((work, dead)) = self.client.memory_queues() else {
            return;
        };
        let give_up = Instant::now() + Duration::from_secs(20);
        let mut calm = 0;
        while calm < 2 && Instant::now() < give_up {
            tokio::time::sleep(Duration::from_millis(150)).await;
            calm = if work.busy() + dead.busy() == 0 {
                calm + 1
            } else {
                0
            };
        }
    }

    /// Run `n` workflows cycling through `kinds` (`schedule` starts the
    /// schedules once, whatever `n`), move the clock, and audit them.
    pub async fn run(
        &self,
        n: usize,
        kinds: &[&'static str],
        within: Duration,
    ) -> Result<ChaosReport, Box<dyn std::error::Error>> {
        if n == 0 || kinds.is_empty() {
            return Ok(ChaosReport::default());
        }
        let began = Instant::now();
        let mut report = ChaosReport::default();
        let rn = self.name.clone();
        let flow = self.client.flow();
        // Per workflow: kind, the step after the wait, what it must get.
        let mut waits: Vec<(&'static str, PromiseId, String)> = Vec::new();
        let mut early = Vec::new();
        let mut late = Vec::new();
        let mut started = 0;
        let wait_kinds: Vec<&'static str> =
            kinds.iter().copied().filter(|k| *k != "schedule").collect();
        for i in 0..n {
            let Some(&kind) = wait_kinds.get(i % wait_kinds.len().max(1)) else {
                break;
            };
            let days = 2 + (i % 3) as u32;
            let after = |days_after| AfterWait {
                rig: rn.clone(),
                then_days: days_after,
            };
            let then_days = 3;
            started += 1;
            match kind {
                "long-sleep" => {
                    let nap = flow.sleep(DAY * days);
                    let s = flow.then(Handle::<Value>::from_id(nap.id().clone()), after(then_days));
                    waits.push((kind, s.id().clone(), "null".into()));
                }
                _ => {
                    let (cb, _) = flow.callback::<Value>(DAY * days);
                    let s = flow.then(&cb, after(then_days));
                    let want = match kind {
                        "callback-early" => "by-app",
                        "callback-cancel" => FailureKind::Cancelled.as_str(),
                        _ => FailureKind::Timeout.as_str(),
                    };
                    waits.push((kind, s.id().clone(), want.into()));
                    match kind {
                        "callback-early" | "callback-cancel" => early.push((kind, cb.id().clone())),
                        "callback-late" => late.push(cb.id().clone()),
                        _ => {}
                    }
                }
            }
        }
        if started > 0 {
            crate::chaos::start_until_ok(&self.client, &flow).await;
        }
        // Schedules, from the clock's start.
        let mut schedules = Vec::new();
        if kinds.contains(&"schedule") {
            for (k, text) in CRONS.iter().enumerate() {
                let name = format!("{rn}-s{k}");
                let cron = Cron::parse(text)?;
                let since = self.now();
                let job = CountJob {
                    rig: rn.clone(),
                    schedule: name.clone(),
                };
                let mut made = None;
                for _ in 0..50 {
                    match self.client.schedule(&name, &cron, job.clone()).await {
                        Ok(s) => {
                            made = Some(s);
                            break;
                        }
                        Err(e) => {
                            eprintln!("chaos: waits: schedule {name}: {e}; retrying");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    }
                }
                match made {
                    Some(s) => schedules.push((name, cron, since, s)),
                    None => {
                        report.lost += 1;
                        eprintln!("chaos: waits: LOST schedule {name} never started");
                    }
                }
                started += 1;
            }
        }
        // Early: callbacks resolved (the resolve must win) or cancelled, long
        // before their deadline, while no time has passed.
        let mut early_runs = Vec::new();
        for (kind, cb) in early {
            let (app, client) = (self.app.clone(), self.client.clone());
            early_runs.push(tokio::spawn(async move {
                if kind == "callback-cancel" {
                    crate::chaos::cancel_until_ok(&client, &cb).await;
                    return true;
                }
                // After a failed try, TooLate may mean the failed try won.
                matches!(
                    resolve(&app, &cb).await,
                    Some((Resolved::Won, _)) | Some((Resolved::TooLate, true))
                )
            }));
        }
        for run in early_runs {
            if !run.await.unwrap_or(false) {
                report.wrong += 1;
                eprintln!("chaos: waits: WRONG an early resolve did not win");
            }
        }
        // The steps after the early callbacks run and adopt their sleeps
        // while the callbacks' timers still wait for the deadline.
        self.settle().await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        // Days pass.
        for _ in 0..STEPS {
            self.skip(STEP);
            self.settle().await;
        }
        let until = self.now();
        // The last steps' copies of timers look again after the grace, and
        // a repair claimed by a worker that then failed holds a window or
        // two: let that pass (on memory, by the clock; on the emulators, the
        // queue's delays are real seconds, which the waits below cover).
        for _ in 0..8 {
            self.skip(GRACE);
            self.settle().await;
        }
        // Past the deadline: a resolve comes too late.
        for cb in late {
            match resolve(&self.app, &cb).await {
                Some((Resolved::TooLate, _)) => {}
                other => {
                    report.wrong += 1;
                    eprintln!(
                        "chaos: waits: WRONG a resolve after the deadline of {cb} gave {other:?}"
                    );
                }
            }
        }
        eprintln!(
            "chaos: waits rig {rn}: {} days passed ({:?} in)",
            (STEP * STEPS).as_secs() / 86_400,
            began.elapsed()
        );
        // Every root settles.
        let deadline = Instant::now() + within.min(Duration::from_secs(120));
        for (kind, s, want) in &waits {
            let left = deadline.saturating_duration_since(Instant::now());
            match self
                .client
                .wait(&Handle::<Value>::from_id(s.clone()), left)
                .await
            {
                Ok(Ok(v)) if v == json!({ "l": "survey", "got": want }) => {}
                Ok(r) => {
                    report.wrong += 1;
                    eprintln!("chaos: waits: WRONG {kind} {s}: {r:?} (want got={want})");
                }
                Err(e) => {
                    report.hung += 1;
                    eprintln!("chaos: waits: HUNG {kind} {s}: {e}");
                }
            }
        }
        // Let copies still in flight record themselves: quiet for longer
        // than a copy's second look takes to come.
        let (mut count, mut since) = (0, Instant::now());
        let give_up = Instant::now() + Duration::from_secs(90);
        while Instant::now() < give_up {
            let now = self.observations().len();
            if now != count {
                (count, since) = (now, Instant::now());
            } else if since.elapsed() >= GRACE + Duration::from_secs(3) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let seen_until = self.now();
        let obs = self.observations();
        let mut runs: HashMap<&str, usize> = HashMap::new();
        let mut surveys: HashMap<&str, usize> = HashMap::new();
        let mut jobs: BTreeMap<&str, BTreeMap<&str, usize>> = BTreeMap::new();
        for o in &obs {
            if let Some(name) = o.input.strip_prefix("job:") {
                *jobs.entry(name).or_default().entry(&o.id).or_default() += 1;
            } else if o.input.starts_with("survey:") {
                *surveys.entry(o.from.as_deref().unwrap_or("?")).or_default() += 1;
            } else {
                *runs.entry(&o.id).or_default() += 1;
            }
        }
        for (kind, s, _) in &waits {
            for (what, n) in [
                ("step after the wait", runs.get(s.as_str())),
                ("survey", surveys.get(s.as_str())),
            ] {
                match n.copied().unwrap_or(0) {
                    1 => {}
                    0 => {
                        report.lost += 1;
                        eprintln!("chaos: waits: LOST {kind} {s}: its {what} never ran");
                    }
                    more => {
                        report.double += 1;
                        eprintln!("chaos: waits: DOUBLE {kind} {s}: its {what} ran {more} times");
                    }
                }
            }
        }
        for (name, cron, since, schedule) in &schedules {
            let firings = |to: SystemTime| {
                let mut n = 0;
                let mut t = *since;
                while let Some(next) = cron.next_after(t).filter(|x| *x <= to) {
                    n += 1;
                    t = next;
                }
                n
            };
            let (least, most) = (firings(until), firings(seen_until));
            let ran = jobs.get(name.as_str()).cloned().unwrap_or_default();
            let twice = ran.values().filter(|n| **n > 1).count();
            eprintln!(
                "chaos: waits: schedule {name} (`{cron}`): {} firings ran their job ({least} due), {twice} twice",
                ran.len()
            );
            report.double += twice + ran.len().saturating_sub(most);
            report.lost += least.saturating_sub(ran.len());
            crate::chaos::cancel_until_ok(&self.client, schedule.id()).await;
        }
        let faults: u64 =
            self.injected.total() + self.faults.iter().map(|f| f.injected()).sum::<u64>();
        eprintln!(
            "chaos: waits rig {rn}: {started} workflows, injected {} and {} other faults; lost={} double={} wrong={} hung={} ({:?} in)",
            self.injected,
            faults - self.injected.total(),
            report.lost,
            report.double,
            report.wrong,
            report.hung,
            began.elapsed()
        );
        Ok(ChaosReport {
            workflows: started,
            faults,
            ..report
        })
    }

    fn observations(&self) -> Vec<Observation> {
        record::observations(None)
            .into_iter()
            .filter(|o| o.rig == self.name)
            .collect()
    }
}

/// Resolve the callback `cb` from the application through its failing queue,
/// retrying the same call until it answers; and whether a try failed first.
async fn resolve(app: &Vow, cb: &PromiseId) -> Option<(Resolved, bool)> {
    let resolver = Resolver::<Value>::from_id(cb.clone());
    let value = json!({ "l": "by-app", "n": format!("{:016x}", fastrand::u64(..)) });
    for tries in 0..200 {
        match app.resolve(&resolver, Ok(value.clone())).await {
            Ok(r) => return Some((r, tries > 0)),
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    eprintln!("chaos: waits: resolving {cb} never succeeded");
    None
}
