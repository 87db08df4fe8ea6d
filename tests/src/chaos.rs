//! The chaos run: a few hundred workflows through a backend with injected faults
//! (and, in kill mode, workers in other processes that are SIGKILLed), then an
//! audit of what users observe.
//!
//! The workflows are the classic kinds (chains, nested joins, map-and-count,
//! retries, timeouts, large fan-outs) and the rare paths: cancels mid-flight,
//! deferred promises resolved by tasks and by application code through a
//! failing queue, `then`/`all` added to promises already sent, values and
//! arguments of several hundred KB, signed messages, dead letters racing late
//! successful runs, tasks longer than the visibility timeout, panicking tasks
//! and `Deserialize` impls, and hostile bodies injected into the queue.
//!
//! The audit ([`audit`]): for every promise, every reader must see the same
//! value: each successor's input that came from it (recorded by the tasks, see
//! [`crate::record`]), `vow.wait`, and the stored slot. Values carry a per-run
//! nonce, so a promise whose two runs both reached readers shows two values.
//! - `double`: promises seen with two different values, or whose task ran with
//!   more distinct attempts than its retry policy allows;
//! - `hung`: workflow roots not settled within the bound;
//! - `wrong`: roots settled with the wrong value;
//! - `lost`: steps that must run (side branches off the root's path) that never
//!   ran or never settled.

use crate::chaos_waits::WAIT_KINDS;
use crate::record::{
    self, core, digest, failed, next_core, start_core, Adopter, Attacher, BadDecode, Deferrer,
    Observation, Poison, RecNext, RecStart, PANIC_MARKER, POISON_WAYS,
};
use crate::tasks::{Flaky, Inc};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use vow::engine::{Engine, EngineConfig};
use vow::fault::{Audit, FaultConfig, Faults, FaultyQueue, FaultyStore};
use vow::memory::{MemoryQueue, MemoryStore};
use vow::poller::{BatchHandler, InProcess, Poller};
use vow::prelude::*;
use vow::queue::{Delivery, Outgoing, Queue};
use vow::signing::SigningKeys;
use vow::store::Store;
use vow::wire::{salvage, Envelope, Outcome, RunOpts, Target, WIRE_VERSION};
use vow::{BackendError, BatchStats};
use vow_samples::{expected_count, MapCount, Predicate, Report, SlowStep, Square, Sum, Table};

/// What the chaos run found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChaosReport {
    /// Workflows started.
    pub workflows: usize,
    /// Faults injected.
    pub faults: u64,
    /// Worker processes killed (kill mode).
    pub kills: u64,
    /// Steps that must have run and never ran or never settled.
    pub lost: usize,
    /// Promises seen with two values, or run beyond their retry policy.
    pub double: usize,
    /// Roots settled with the wrong value.
    pub wrong: usize,
    /// Roots not settled within the bound.
    pub hung: usize,
    /// Healthy messages sent beside a poison that reached the dead-letter
    /// queue (kind `poison`).
    pub poison_neighbours_dead_lettered: usize,
}

impl std::fmt::Display for ChaosReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "workflows={} faults={} kills={} lost={} double={} wrong={} hung={} \
             poison_neighbours_dead_lettered={}",
            self.workflows,
            self.faults,
            self.kills,
            self.lost,
            self.double,
            self.wrong,
            self.hung,
            self.poison_neighbours_dead_lettered
        )
    }
}

impl ChaosReport {
    /// Whether nothing was lost, doubled, wrong or hung, and no healthy
    /// message was dead-lettered beside a poison.
    pub fn clean(&self) -> bool {
        self.lost == 0
            && self.double == 0
            && self.wrong == 0
            && self.hung == 0
            && self.poison_neighbours_dead_lettered == 0
    }

    /// Both reports together.
    pub fn plus(self, o: ChaosReport) -> ChaosReport {
        ChaosReport {
            workflows: self.workflows + o.workflows,
            faults: self.faults + o.faults,
            kills: self.kills + o.kills,
            lost: self.lost + o.lost,
            double: self.double + o.double,
            wrong: self.wrong + o.wrong,
            hung: self.hung + o.hung,
            poison_neighbours_dead_lettered: self.poison_neighbours_dead_lettered
                + o.poison_neighbours_dead_lettered,
        }
    }
}

/// The faults of a chaos run: every kind, often enough to hit most workflows.
pub fn default_faults(seed: u64) -> FaultConfig {
    FaultConfig {
        fail_before: 0.04,
        fail_after: 0.04,
        duplicate: 0.05,
        delay: 0.05,
        max_delay: Duration::from_secs(1),
        seed,
    }
}

/// The faults of the application's own queue (deferred resolves): often.
fn client_faults(seed: u64) -> FaultConfig {
    FaultConfig {
        fail_before: 0.25,
        fail_after: 0.25,
        seed: seed ^ 0x5eed,
        ..FaultConfig::default()
    }
}

/// The `VOW_SIGNING_KEYS` spec of the signed rigs (a fixed test secret: the
/// rigs are local and short-lived).
pub fn chaos_keys_spec() -> &'static str {
    "chaos=chaos-secret-0123456789abcdef"
}

/// The signing keys of the signed rigs.
pub fn chaos_keys() -> SigningKeys {
    SigningKeys::parse(chaos_keys_spec())
        .unwrap_or_else(|f| unreachable!("the chaos key spec is valid: {f}"))
}

/// Every workflow kind of the main rig, in mix order.
pub const KINDS: &[&str] = &[
    "chain",
    "nested-all",
    "map-count",
    "flaky",
    "timeout",
    "fan-out",
    "cancel-adopt",
    "cancel-plain",
    "defer-task",
    "defer-app",
    "late-attach",
    "large",
    "long",
    "panic",
    "bad-decode",
    "hostile",
    "rec-flaky",
    "hostile-joined",
    "sleep",
    "callback",
];

/// The kind of the dead-letter rig.
pub const DLQ_KIND: &str = "dlq-race";

/// The kind of the replay rig: a genuine message of a workflow, captured as a
/// worker received it, is sent again at once (an ordinary duplicate) and once
/// it is older than the workers' replay check
/// ([`vow::engine::decide::REPLAY_CHECK_AFTER`], by moving the workers'
/// clock on): the old copy must run nothing. Its rig signs (the replay check
/// reads the signed issue time) and runs nothing else, since it moves its
/// workers' clock. In-process rigs only (worker processes keep their clocks).
pub const REPLAY_KIND: &str = "replay";

/// A poison message (a task that aborts its process, overflows its stack or
/// makes an allocation no process gets, see [`Poison`]) sent beside healthy
/// ones: the healthy ones run once and none of them reaches the dead-letter
/// queue. Kill mode only (it takes its process down).
pub const POISON_KIND: &str = "poison";

/// Poison messages per rig at most: each costs as many process deaths as the
/// queue's receive count allows (30), so more would only slow the run.
pub const MAX_POISONS: usize = 4;

/// Healthy steps started beside each poison.
const NEIGHBOURS: usize = 4;

/// The kinds named by `VOW_CHAOS_KINDS` (comma-separated), else all of
/// `KINDS`, the dead-letter rig's and the waits rig's
/// ([`crate::chaos_waits::WAIT_KINDS`]).
pub fn kinds_from_env() -> Vec<&'static str> {
    match std::env::var("VOW_CHAOS_KINDS") {
        Ok(list) if !list.trim().is_empty() => KINDS
            .iter()
            .chain([&DLQ_KIND, &REPLAY_KIND, &POISON_KIND])
            .chain(WAIT_KINDS)
            .copied()
            .filter(|k| list.split(',').any(|w| w.trim() == *k))
            .collect(),
        _ => KINDS
            .iter()
            .chain([&DLQ_KIND, &REPLAY_KIND, &POISON_KIND])
            .chain(WAIT_KINDS)
            .copied()
            .collect(),
    }
}

type Check = Box<dyn Fn(&Result<Value, Failure>) -> bool + Send + Sync>;
type Driver = Pin<Box<dyn Future<Output = ()> + Send>>;

/// One workflow: its roots (each with what it must settle with) and the steps
/// off the roots' paths that must run.
struct Workflow {
    kind: &'static str,
    roots: Vec<(PromiseId, Check)>,
    /// Must settle; with `true`, its recording task must also have run.
    must: Vec<(PromiseId, bool)>,
    /// Healthy steps sent beside a poison: none may be dead-lettered.
    neighbours: Vec<PromiseId>,
}

fn is(want: Value) -> Check {
    Box::new(move |r| r.as_ref().ok() == Some(&want))
}

/// A root whose value's core is one of `cores`.
fn core_in(cores: Vec<Value>) -> Check {
    Box::new(move |r| match r {
        Ok(v) => cores.contains(&core(v)),
        Err(_) => false,
    })
}

fn val(p: &Promise<Value>) -> Promise<Value> {
    p.clone()
}

fn as_value<T>(p: &Promise<T>) -> Handle<Value> {
    Handle::from_id(p.id().clone())
}

fn next(rig: &str, label: &str, from: &PromiseId) -> RecNext {
    RecNext {
        rig: rig.into(),
        label: label.into(),
        from: from.to_string(),
        tries: 3,
        ..RecNext::default()
    }
}

fn start_task(rig: &str, label: &str) -> RecStart {
    RecStart {
        rig: rig.into(),
        label: label.into(),
        tries: 3,
        ..RecStart::default()
    }
}

/// What a rig runs workflows on.
pub struct Rig {
    /// Names this rig's observations.
    pub name: String,
    /// The clean client (starts, cancels, reads).
    pub client: Arc<Vow>,
    /// The application's client whose queue fails sends (resolves from app code).
    pub app: Arc<Vow>,
    /// The raw work queue (hostile bodies go straight in).
    pub raw: Arc<dyn Queue>,
    /// Signing keys of workers and clients, if signing is on.
    pub keys: Option<SigningKeys>,
    /// Every fault source of the rig.
    pub faults: Vec<Arc<Faults>>,
    /// The queue's visibility timeout.
    pub visibility: Duration,
    /// Worker processes killed (kill mode).
    pub kills: Arc<AtomicU64>,
    /// The shared observation log of worker processes, if any.
    pub log: Option<PathBuf>,
    /// The audit of settling writes of in-process workers, if any.
    pub audit: Option<Arc<Audit>>,
    /// Replays of captured messages (kind `replay`).
    replayer: Arc<Replayer>,
    /// Poison messages sent (kind `poison`).
    poisons: AtomicU64,
    stop: tokio::sync::watch::Sender<bool>,
}

impl std::fmt::Debug for Rig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rig")
            .field("visibility", &self.visibility)
            .field("signed", &self.keys.is_some())
            .finish_non_exhaustive()
    }
}

/// How to build a rig's pieces.
#[derive(Clone, Debug)]
pub struct RigSpec {
    /// Faults injected into the workers' store and queue.
    pub faults: FaultConfig,
    /// In-process worker loops (0 in kill mode).
    pub workers: usize,
    /// The queue's visibility timeout.
    pub visibility: Duration,
    /// Sign messages.
    pub signed: bool,
}

fn engine_config(keys: &Option<SigningKeys>, visibility: Duration) -> EngineConfig {
    let mut config = crate::test_engine();
    config.signing = keys.clone();
    config.inline_for = (visibility / 4).min(crate::test_engine().inline_for);
    // Timers hop often, so faults meet them on every path of a hop.
    config.timer_hop = Duration::from_millis(500);
    config
}

impl Rig {
    /// Workers (if `spec.workers > 0`) on a faulty view of `store` and `queue`,
    /// plus clients.
    pub fn new(
        spec: &RigSpec,
        store: Arc<dyn Store>,
        queue: Arc<dyn Queue>,
        dead_letters: Arc<dyn Queue>,
    ) -> Rig {
        let keys = spec.signed.then(chaos_keys);
        let config = engine_config(&keys, spec.visibility);
        let faults = Arc::new(Faults::new(spec.faults.clone()));
        let app_faults = Arc::new(Faults::new(client_faults(spec.faults.seed)));
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let mut audit = None;
        let capture = Arc::new(Capture {
            inner: queue.clone(),
            bodies: std::sync::Mutex::new(Vec::new()),
        });
        let mut workers_engine = None;
        if spec.workers > 0 {
            let audited = Arc::new(Audit::new(store.clone()));
            let faulty_store = Arc::new(FaultyStore::new(audited.clone(), faults.clone()));
            let faulty_queue = Arc::new(FaultyQueue::new(capture.clone(), faults.clone()));
            let engine = Engine::new(faulty_store, faulty_queue.clone(), config.clone());
            workers_engine = Some(engine.clone());
            for _ in 0..spec.workers {
                let poller = Poller::new(
                    faulty_queue.clone(),
                    Arc::new(InProcess::worker(engine.clone())),
                )
                .wait(Duration::from_secs(1))
                .failed_visibility(Duration::from_millis(100));
                tokio::spawn(poller.run(stopped.clone()));
            }
            let buries = Arc::new(InProcess::dead_letters(engine));
            let dlq = Poller::new(dead_letters, Arc::new(NotingDeadLetters(buries)))
                .wait(Duration::from_secs(1));
            tokio::spawn(dlq.run(stopped));
            audit = Some(audited);
        }
        let client = Arc::new(Vow::client(store.clone(), queue.clone(), config.clone()));
        let app_queue = Arc::new(FaultyQueue::new(queue.clone(), app_faults.clone()));
        let app = Arc::new(Vow::client(store, app_queue, config));
        let replayer = Arc::new(Replayer {
            capture,
            raw: queue.clone(),
            engine: workers_engine,
            skipped: tokio::sync::Mutex::new(0),
            fresh: AtomicU64::new(0),
            aged: AtomicU64::new(0),
            reruns: AtomicU64::new(0),
            visibility: spec.visibility,
        });
        Rig {
            name: PromiseId::random().as_str()[..12].to_owned(),
            client,
            app,
            raw: queue,
            keys,
            faults: vec![faults, app_faults],
            visibility: spec.visibility,
            kills: Arc::new(AtomicU64::new(0)),
            log: None,
            audit,
            replayer,
            poisons: AtomicU64::new(0),
            stop,
        }
    }

    /// Run `n` workflows cycling through `kinds` and audit them.
    pub async fn run(
        &self,
        n: usize,
        kinds: &[&'static str],
        within: Duration,
    ) -> Result<ChaosReport, Box<dyn std::error::Error>> {
        let deadline = Instant::now() + within;
        if n == 0 || kinds.is_empty() {
            return Ok(ChaosReport::default());
        }
        let (workflows, drivers, finishers) = self.start(n, kinds, deadline).await?;
        let driving: Vec<_> = drivers.into_iter().map(tokio::spawn).collect();
        let finishing: Vec<_> = finishers.into_iter().map(tokio::spawn).collect();
        let mut found = audit(self, &workflows, deadline).await;
        // The replays of old messages end after their workflows: wait for
        // them, and count every run they caused.
        let grace = deadline.max(Instant::now() + Duration::from_secs(60));
        for f in finishing {
            if tokio::time::timeout_at(grace, f).await.is_err() {
                eprintln!("chaos: rig {}: a replay did not finish in time", self.name);
            }
        }
        let replay = &self.replayer;
        found.double +=
            usize::try_from(replay.reruns.load(Ordering::Relaxed)).unwrap_or(usize::MAX);
        for d in driving {
            d.abort();
        }
        let (fresh, aged) = (
            replay.fresh.load(Ordering::Relaxed),
            replay.aged.load(Ordering::Relaxed),
        );
        let poisons = self.poisons.load(Ordering::Relaxed);
        eprintln!(
            "chaos: rig {}: injected replay_fresh={fresh} replay_old={aged} poison={poisons} \
             (besides the seam faults)",
            self.name
        );
        Ok(ChaosReport {
            workflows: n,
            faults: self.faults.iter().map(|f| f.injected()).sum::<u64>() + fresh + aged + poisons,
            kills: self.kills.load(Ordering::Relaxed),
            ..found
        })
    }

    /// Build and start `n` workflows; returns them, the application-side
    /// drivers (cancels, resolves, late attaches, hostile bodies) to run, and
    /// the drivers the audit waits for (replays).
    #[allow(clippy::type_complexity)]
    async fn start(
        &self,
        n: usize,
        kinds: &[&'static str],
        deadline: Instant,
    ) -> Result<(Vec<Workflow>, Vec<Driver>, Vec<Driver>), Box<dyn std::error::Error>> {
        let client = &self.client;
        let rn = self.name.clone();
        let flow = client.flow();
        let mut workflows = Vec::with_capacity(n);
        let mut drivers: Vec<Driver> = Vec::new();
        let mut finishers: Vec<Driver> = Vec::new();
        let mut poisons = 0;
        let vis_ms = u64::try_from(self.visibility.as_millis()).unwrap_or(u64::MAX);
        let predicate = Predicate {
            color: "red".into(),
            min_weight: 50,
        };
        for i in 0..n {
            let kind = kinds[i % kinds.len()];
            let k = (i % 10) as u64;
            let mut w = Workflow {
                kind,
                roots: Vec::new(),
                must: Vec::new(),
                neighbours: Vec::new(),
            };
            match kind {
                "chain" => {
                    let mut p = flow.when(Square(k));
                    for _ in 0..4 {
                        p = p.then(Inc);
                    }
                    w.roots.push((p.id().clone(), is(json!(k * k + 4))));
                }
                "nested-all" => {
                    let m = 5 + (i % 20) as u64;
                    let inner = flow.fan_out((1..=m).map(Square)).then(Sum);
                    let outer = flow.all([inner, flow.when(Square(2))]).then(Sum);
                    let want = m * (m + 1) * (2 * m + 1) / 6 + 4;
                    w.roots.push((outer.id().clone(), is(json!(want))));
                }
                "map-count" => {
                    let table = Table::Synthetic {
                        items: 300 + i as u32,
                    };
                    let want = expected_count(&table, &predicate)
                        .await
                        .map_err(|e| e.to_string())?;
                    let p = flow.when(MapCount {
                        table,
                        segments: 2,
                        page_size: 60,
                        predicate: predicate.clone(),
                    });
                    w.roots.push((p.id().clone(), is(json!(want))));
                }
                "flaky" => {
                    let p = flow.when(Flaky { ok_on: 2 });
                    w.roots.push((p.id().clone(), is(json!(2))));
                }
                "timeout" => {
                    let p = flow
                        .when(SlowStep {
                            work_ms: 3_000,
                            timeout_ms: 100,
                        })
                        .then(Report);
                    w.roots.push((
                        p.id().clone(),
                        Box::new(|r| {
                            matches!(r, Ok(Value::String(s)) if s.starts_with("first step timed out"))
                        }),
                    ));
                }
                "fan-out" => {
                    let m = 100 + (i % 200) as u64;
                    let p = flow.fan_out((1..=m).map(Square)).then(Sum);
                    w.roots
                        .push((p.id().clone(), is(json!(m * (m + 1) * (2 * m + 1) / 6))));
                }
                "cancel-adopt" => {
                    // A adopts Slow.then(After); Z follows A. A is cancelled
                    // while Slow runs: Z runs once, with Cancelled or A's value.
                    let a = flow.when(Adopter {
                        rig: rn.clone(),
                        slow_ms: 1_500,
                    });
                    let z = flow.then(&a, next(&rn, "z", a.id()));
                    let after = next_core("after", &Ok(start_core("slow", "")), "");
                    w.roots.push((
                        z.id().clone(),
                        core_in(vec![
                            next_core("z", &failed(FailureKind::Cancelled), ""),
                            next_core("z", &Ok(after), ""),
                        ]),
                    ));
                    let slow = a.id().child(0);
                    let (client, a) = (client.clone(), a.id().clone());
                    let log = self.log.clone();
                    drivers.push(Box::pin(async move {
                        observed(&slow, log.as_deref(), Duration::from_secs(60)).await;
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        cancel_until_ok(&client, &a).await;
                    }));
                }
                "cancel-plain" => {
                    // P's message is in flight (and redelivered: it works past
                    // the visibility timeout) when P is cancelled.
                    let p = flow.when(RecStart {
                        sleep_ms: vis_ms * 3 / 2,
                        timeout_ms: Some(vis_ms * 4 + 10_000),
                        ..start_task(&rn, "plain")
                    });
                    let q = flow.then(&p, next(&rn, "q", p.id()));
                    w.roots.push((
                        q.id().clone(),
                        core_in(vec![
                            next_core("q", &failed(FailureKind::Cancelled), ""),
                            next_core("q", &Ok(start_core("plain", "")), ""),
                        ]),
                    ));
                    let (client, p) = (client.clone(), p.id().clone());
                    let log = self.log.clone();
                    let wait = self.visibility + Duration::from_millis(300);
                    drivers.push(Box::pin(async move {
                        observed(&p, log.as_deref(), Duration::from_secs(60)).await;
                        tokio::time::sleep(wait).await;
                        cancel_until_ok(&client, &p).await;
                    }));
                }
                "defer-task" => {
                    let d = flow.when(Deferrer {
                        rig: rn.clone(),
                        by_task: true,
                    });
                    let r = flow.then(&d, next(&rn, "r", d.id()));
                    w.roots.push((
                        r.id().clone(),
                        core_in(vec![next_core("r", &Ok(json!({ "l": "by-task" })), "")]),
                    ));
                    w.must.push((d.id().child(0), true));
                }
                "defer-app" => {
                    let d = flow.when(Deferrer {
                        rig: rn.clone(),
                        by_task: false,
                    });
                    let r = flow.then(&d, next(&rn, "r", d.id()));
                    w.roots.push((
                        r.id().clone(),
                        core_in(vec![next_core("r", &Ok(json!({ "l": "by-app" })), "")]),
                    ));
                    let (app, d) = (self.app.clone(), d.id().clone());
                    let log = self.log.clone();
                    drivers.push(Box::pin(async move {
                        resolve_from_app(&app, &d, log.as_deref(), deadline).await;
                    }));
                }
                "sleep" => {
                    // A sleep of a few hops, then a recorded step.
                    let nap = flow.sleep(Duration::from_millis(1_500 + 100 * k));
                    let woke = flow.then(as_value(&nap), next(&rn, "woke", nap.id()));
                    let want = next_core("woke", &Ok(Value::Null), "");
                    w.roots.push((woke.id().clone(), core_in(vec![want])));
                }
                "callback" => {
                    // The application resolves a callback through a failing
                    // queue around its deadline: either wins, once.
                    let (cb, _) = flow.callback::<Value>(Duration::from_millis(2_000));
                    let r = flow.then(&cb, next(&rn, "cb", cb.id()));
                    w.roots.push((
                        r.id().clone(),
                        core_in(vec![
                            next_core("cb", &Ok(json!({ "l": "by-app" })), ""),
                            next_core("cb", &failed(FailureKind::Timeout), ""),
                        ]),
                    ));
                    let (app, cb) = (self.app.clone(), cb.id().clone());
                    let after = Duration::from_millis(1_500 + fastrand::u64(..1_000));
                    drivers.push(Box::pin(async move {
                        tokio::time::sleep(after).await;
                        let resolver = Resolver::<Value>::from_id(cb.clone());
                        let value =
                            json!({ "l": "by-app", "n": format!("{:016x}", fastrand::u64(..)) });
                        for _ in 0..200 {
                            match app.resolve(&resolver, Ok(value.clone())).await {
                                Ok(_) => return,
                                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                            }
                        }
                        eprintln!("chaos: resolving callback {cb} never succeeded");
                    }));
                }
                "late-attach" => {
                    let p = flow.when(start_task(&rn, "early"));
                    let p2 = flow.when(start_task(&rn, "early2"));
                    // A task attaches to P, sent by this flow.
                    let t = flow.when(Attacher {
                        rig: rn.clone(),
                        target: p.id().clone(),
                    });
                    let attached = next_core("attached", &Ok(start_core("early", "")), "");
                    w.roots
                        .push((t.id().clone(), core_in(vec![attached.clone()])));
                    // A second application flow attaches `then` and `all` later.
                    let late = client.flow();
                    let l = late.then(as_value(&p), next(&rn, "late", p.id()));
                    let j = late.all([as_value(&p), as_value(&p2)]);
                    let jn = late.then(as_value(&j), next(&rn, "joined", j.id()));
                    w.roots.push((
                        l.id().clone(),
                        core_in(vec![next_core("late", &Ok(start_core("early", "")), "")]),
                    ));
                    let list = json!([
                        { "Ok": start_core("early", "") },
                        { "Ok": start_core("early2", "") }
                    ]);
                    w.roots.push((
                        jn.id().clone(),
                        core_in(vec![next_core("joined", &Ok(list), "")]),
                    ));
                    let client = client.clone();
                    let pause = Duration::from_millis(fastrand::u64(0..1_500));
                    drivers.push(Box::pin(async move {
                        tokio::time::sleep(pause).await;
                        start_until_ok(&client, &late).await;
                    }));
                }
                "large" => {
                    let pad = big_pad(i);
                    let s = flow.when(RecStart {
                        pad: pad.clone(),
                        ..start_task(&rn, "big")
                    });
                    let n1 = flow.then(
                        &s,
                        RecNext {
                            pad: pad.clone(),
                            ..next(&rn, "big-next", s.id())
                        },
                    );
                    let want = next_core("big-next", &Ok(start_core("big", &pad)), &pad);
                    w.roots.push((n1.id().clone(), core_in(vec![want])));
                    let f = flow.fan_out((0..3).map(|m| RecStart {
                        pad: pad.clone(),
                        ..start_task(&rn, &format!("big{m}"))
                    }));
                    let fv = as_value(&f);
                    let fj = flow.then(&fv, next(&rn, "big-join", f.id()));
                    let list = Value::Array(
                        (0..3)
                            .map(|m| json!({ "Ok": start_core(&format!("big{m}"), &pad) }))
                            .collect(),
                    );
                    w.roots.push((
                        fj.id().clone(),
                        core_in(vec![next_core("big-join", &Ok(list), "")]),
                    ));
                }
                "long" => {
                    let p = flow.when(RecStart {
                        sleep_ms: vis_ms * 5 / 2,
                        timeout_ms: Some(vis_ms * 5 + 10_000),
                        ..start_task(&rn, "long")
                    });
                    let q = flow.then(val(&p), next(&rn, "after-long", p.id()));
                    let mut ends = vec![next_core("after-long", &Ok(start_core("long", "")), "")];
                    if self.log.is_some() {
                        // Worker processes killed more often than a copy of this
                        // task can finish: it may run out of receives and be
                        // dead-lettered, which must then settle it Crashed.
                        ends.push(next_core("after-long", &failed(FailureKind::Crashed), ""));
                    }
                    w.roots.push((q.id().clone(), core_in(ends)));
                }
                "panic" => {
                    let p = flow.when(RecStart {
                        panic: true,
                        tries: 2,
                        ..start_task(&rn, "panics")
                    });
                    let q = flow.then(&p, next(&rn, "after-panic", p.id()));
                    w.roots.push((
                        q.id().clone(),
                        core_in(vec![next_core(
                            "after-panic",
                            &failed(FailureKind::Crashed),
                            "",
                        )]),
                    ));
                }
                "bad-decode" => {
                    let p = as_value(&flow.when(BadDecode {
                        marker: PANIC_MARKER.into(),
                    }));
                    let q = flow.then(&p, next(&rn, "after-bad", p.id()));
                    w.roots.push((
                        q.id().clone(),
                        core_in(vec![
                            next_core("after-bad", &failed(FailureKind::BadInput), ""),
                            next_core("after-bad", &failed(FailureKind::Crashed), ""),
                        ]),
                    ));
                    w.must.push((p.id().clone(), false));
                }
                "hostile" | "hostile-joined" => {
                    // A real workflow beside hostile bodies sent straight to the queue.
                    let p = flow.when(start_task(&rn, "beside"));
                    let q = flow.then(&p, next(&rn, "beside-next", p.id()));
                    w.roots.push((
                        q.id().clone(),
                        core_in(vec![next_core(
                            "beside-next",
                            &Ok(start_core("beside", "")),
                            "",
                        )]),
                    ));
                    let (raw, engine) = (self.raw.clone(), client.engine().clone());
                    let keys = self.keys.clone();
                    let rn2 = rn.clone();
                    // `hostile` cycles through the small bodies; `hostile-joined`
                    // sends the four-billion-member input.
                    let variant = if kind == "hostile" {
                        [0, 1, 3, 4][i % 4]
                    } else {
                        2
                    };
                    drivers.push(Box::pin(async move {
                        inject_hostile(&raw, &engine, keys.as_ref(), variant, &rn2).await;
                    }));
                }
                "rec-flaky" => {
                    let p = flow.when(RecStart {
                        ok_on: 2,
                        ..start_task(&rn, "flaky")
                    });
                    let q = flow.then(&p, next(&rn, "after-flaky", p.id()));
                    w.roots.push((
                        q.id().clone(),
                        core_in(vec![next_core(
                            "after-flaky",
                            &Ok(start_core("flaky", "")),
                            "",
                        )]),
                    ));
                }
                DLQ_KIND => {
                    // Slower than the visibility timeout with a max receive count
                    // of 2: the dead letter races the late successful run.
                    let p = flow.when(RecStart {
                        sleep_ms: vis_ms * 5 / 2,
                        timeout_ms: Some(vis_ms * 5 + 10_000),
                        ..start_task(&rn, "late")
                    });
                    let q = flow.then(&p, next(&rn, "after-dlq", p.id()));
                    w.roots.push((
                        q.id().clone(),
                        core_in(vec![
                            next_core("after-dlq", &failed(FailureKind::Crashed), ""),
                            next_core("after-dlq", &Ok(start_core("late", "")), ""),
                        ]),
                    ));
                }
                REPLAY_KIND => {
                    // Captured as a worker receives it, then sent again fresh
                    // and old ([`replay`]).
                    let label = format!("replay-{i}-");
                    let p = flow.when(start_task(&rn, &format!("{label}first")));
                    let q = flow.then(&p, next(&rn, &format!("{label}next"), p.id()));
                    let want = next_core(
                        &format!("{label}next"),
                        &Ok(start_core(&format!("{label}first"), "")),
                        "",
                    );
                    w.roots.push((q.id().clone(), core_in(vec![want])));
                    let ids = vec![p.id().to_string(), q.id().to_string()];
                    finishers.push(Box::pin(replay(
                        self.replayer.clone(),
                        self.client.clone(),
                        self.log.clone(),
                        format!("\"label\":\"{label}"),
                        ids,
                        q.id().clone(),
                        deadline,
                    )));
                }
                POISON_KIND => {
                    // A poison and its healthy neighbours, next to each other
                    // in the start's batches (so in the workers' batches).
                    if poisons < MAX_POISONS {
                        poisons += 1;
                        let way = (i / kinds.len()) % POISON_WAYS.len();
                        let p = flow.when(Poison {
                            rig: rn.clone(),
                            way,
                        });
                        let q = flow.then(&p, next(&rn, "after-poison", p.id()));
                        // Settled by its dead letter.
                        w.must.push((p.id().clone(), false));
                        w.roots.push((
                            q.id().clone(),
                            core_in(vec![next_core(
                                "after-poison",
                                &failed(FailureKind::Crashed),
                                "",
                            )]),
                        ));
                    }
                    for _ in 0..NEIGHBOURS {
                        let h = flow.when(start_task(&rn, "neighbour"));
                        let q = flow.then(&h, next(&rn, "neighbour-next", h.id()));
                        w.roots.push((
                            q.id().clone(),
                            core_in(vec![next_core(
                                "neighbour-next",
                                &Ok(start_core("neighbour", "")),
                                "",
                            )]),
                        ));
                        w.neighbours.push(h.id().clone());
                        w.neighbours.push(q.id().clone());
                    }
                }
                other => return Err(format!("unknown workflow kind `{other}`").into()),
            }
            workflows.push(w);
        }
        start_until_ok(client, &flow).await;
        self.poisons.store(poisons as u64, Ordering::Relaxed);
        Ok((workflows, drivers, finishers))
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// A 300 KB-ish string particular to workflow `i`.
fn big_pad(i: usize) -> String {
    let unit = format!("{i:08}-");
    unit.repeat(300 * 1024 / unit.len())
}

/// Start `flow`, retrying as an application would.
pub(crate) async fn start_until_ok(client: &Vow, flow: &Flow) {
    // `start` takes the plan out of the flow; a failed start is retried by
    // re-running it on a clone of the plan's flow is not possible, so the
    // clean client is used (its sends do not fail).
    for attempt in 0.. {
        match client.start(flow).await {
            Ok(_) => return,
            Err(e) if attempt < 20 => {
                eprintln!("chaos: start failed ({e}); retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => {
                eprintln!("chaos: start failed for good: {e}");
                return;
            }
        }
    }
}

pub(crate) async fn cancel_until_ok(client: &Vow, id: &PromiseId) {
    for _ in 0..50 {
        match client.cancel(id, "chaos: cancelled mid-flight").await {
            Ok(_) => return,
            Err(e) => {
                eprintln!("chaos: cancel {id} failed ({e}); retrying");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Wait until some run of `id`'s recording task was observed.
async fn observed(id: &PromiseId, log: Option<&std::path::Path>, within: Duration) -> bool {
    let until = Instant::now() + within;
    let id = id.to_string();
    while Instant::now() < until {
        if record::observations(log).iter().any(|o| o.id == id) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// Resolve the deferred promise `d` from application code through a failing
/// queue, retrying the same call until it returns Ok.
/// It waits for the resolver as long as the run does (`deadline`): on a
/// loaded machine the deferring task may run minutes after its start.
async fn resolve_from_app(
    app: &Vow,
    d: &PromiseId,
    log: Option<&std::path::Path>,
    deadline: Instant,
) {
    let id = d.to_string();
    let until = deadline;
    let resolver = loop {
        let found = record::observations(log)
            .into_iter()
            .find(|o| o.id == id && o.resolver.is_some())
            .and_then(|o| o.resolver);
        if let Some(r) = found {
            break r;
        }
        if Instant::now() > until {
            eprintln!("chaos: deferred {d} never handed out its resolver");
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let resolver: Resolver<Value> = match serde_json::from_value(resolver) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("chaos: resolver of {d} does not decode: {e}");
            return;
        }
    };
    let value = json!({ "l": "by-app", "n": format!("{:016x}", fastrand::u64(..)) });
    // By time, not by tries: on a loaded machine the deferred task's note
    // (which makes its promise resolvable from outside) may land seconds
    // after its observation, and a resolve before it is refused.
    let until = Instant::now() + Duration::from_secs(60);
    let mut last = None;
    while Instant::now() < until {
        match app.resolve(&resolver, Ok(value.clone())).await {
            Ok(_) => return,
            Err(e) => {
                last = Some(e);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    eprintln!("chaos: resolving {d} from the application never succeeded: {last:?}");
}

/// Send hostile bodies straight to the queue (signed when signing is on, as a
/// trusted but buggy producer would): garbage, member targets with `n: 0` and
/// `index >= n`, a `Joined` input of four billion members, and a plain target
/// whose id looks like a member.
async fn inject_hostile(
    raw: &Arc<dyn Queue>,
    engine: &Engine,
    keys: Option<&SigningKeys>,
    variant: usize,
    rig: &str,
) {
    let rec_start = json!({
        "task": "e2e/rec-start",
        "with": { "rig": rig, "label": "hostile", "tries": 1 }
    });
    let rec_next = json!({
        "task": "e2e/rec-next",
        "with": { "rig": rig, "label": "hostile", "from": PromiseId::random().to_string(), "tries": 1 }
    });
    let env = |target: Target, task: Value, input: Option<Outcome>| Envelope {
        v: WIRE_VERSION,
        target,
        token: format!("{:016x}", fastrand::u64(..)),
        attempt: 1,
        repair: false,
        task,
        input,
        opts: RunOpts::default(),
        conts: Vec::new(),
    };
    let join = PromiseId::random();
    let looks_like_member = PromiseId::parse(&format!("{}.3", PromiseId::random()))
        .unwrap_or_else(|_| PromiseId::random());
    let envelopes = match variant {
        0 => vec![env(
            Target::Member {
                join: join.clone(),
                index: 0,
                n: 0,
            },
            rec_start.clone(),
            None,
        )],
        1 => vec![env(
            Target::Member {
                join: join.clone(),
                index: 7,
                n: 3,
            },
            rec_start.clone(),
            None,
        )],
        2 => vec![env(
            Target::Promise(PromiseId::random()),
            rec_next,
            Some(Outcome::Joined {
                join: join.clone(),
                n: 4_000_000_000,
            }),
        )],
        3 => vec![env(Target::Promise(looks_like_member), rec_start, None)],
        _ => Vec::new(),
    };
    let mut bodies = Vec::new();
    for e in &envelopes {
        match engine.seal(e).await {
            Ok(b) => bodies.push(b),
            Err(e) => eprintln!("chaos: could not seal a hostile body: {e}"),
        }
    }
    if envelopes.is_empty() {
        for garbage in ["{not json", "", "{\"v\":1,\"target\":{\"promise\":42}}"] {
            bodies.push(match keys {
                Some(k) => k.sign(engine.queue().name(), vow::signing::now_ms(), garbage),
                None => garbage.to_owned(),
            });
        }
    }
    let out: Vec<Outgoing> = bodies
        .into_iter()
        .map(|body| Outgoing {
            body,
            delay: Duration::ZERO,
        })
        .collect();
    for _ in 0..20 {
        if raw.send(out.clone()).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The JSON of `Result<Value, Failure>` that `wait` returned.
fn result_value(r: &Result<Value, Failure>) -> Value {
    serde_json::to_value(r).unwrap_or(Value::Null)
}

/// Read `id`'s stored slot through the client: `outcome` + `resolve`.
async fn stored(client: &Vow, id: &PromiseId) -> Option<Value> {
    for _ in 0..5 {
        match client.engine().outcome(id).await {
            Ok(None) => return None,
            Ok(Some(o)) => match client.engine().resolve(&o).await {
                Ok(v) => return Some(v),
                Err(e) => eprintln!("chaos: resolving {id}: {e}"),
            },
            Err(e) => eprintln!("chaos: reading {id}: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

/// Wait for the workflows and audit every reader of every promise.
async fn audit(rig: &Rig, workflows: &[Workflow], deadline: Instant) -> ChaosReport {
    let client = &rig.client;
    let began = Instant::now();
    let mut report = ChaosReport::default();
    // What each reader saw, per promise: reader -> digest.
    let mut seen: BTreeMap<PromiseId, Vec<(String, String)>> = BTreeMap::new();
    let mut kind_of: HashMap<PromiseId, &str> = HashMap::new();
    for (i, w) in workflows.iter().enumerate() {
        for (root, check) in &w.roots {
            kind_of.insert(root.clone(), w.kind);
            let left = deadline.saturating_duration_since(Instant::now());
            match client
                .wait(&Handle::<Value>::from_id(root.clone()), left)
                .await
            {
                Ok(r) => {
                    seen.entry(root.clone())
                        .or_default()
                        .push(("wait".into(), digest(&result_value(&r))));
                    if !check(&r) {
                        report.wrong += 1;
                        let shown: String =
                            result_value(&r).to_string().chars().take(300).collect();
                        eprintln!(
                            "chaos: WRONG workflow {i} ({}) root {root}: {shown}",
                            w.kind
                        );
                    }
                }
                Err(e) => {
                    report.hung += 1;
                    eprintln!("chaos: HUNG workflow {i} ({}) root {root}: {e}", w.kind);
                }
            }
        }
    }
    eprintln!(
        "chaos: rig {}: roots done ({:?} in)",
        rig.name,
        began.elapsed()
    );
    // Side branches get a little longer: they may still run after the roots.
    let grace = deadline.max(Instant::now() + Duration::from_secs(10));
    let mut must_run = Vec::new();
    for (i, w) in workflows.iter().enumerate() {
        for (id, ran) in &w.must {
            kind_of.insert(id.clone(), w.kind);
            let left = grace.saturating_duration_since(Instant::now());
            if client
                .wait(&Handle::<Value>::from_id(id.clone()), left)
                .await
                .is_err()
            {
                report.lost += 1;
                eprintln!(
                    "chaos: LOST workflow {i} ({}) step {id} never settled",
                    w.kind
                );
            } else if *ran {
                must_run.push((i, w.kind, id.clone()));
            }
        }
    }
    // Let runs still in flight (losers of races, redeliveries of tasks longer
    // than the visibility timeout, and whatever they send) record themselves:
    // wait until no new observation arrives for three visibility timeouts.
    let quiet = rig.visibility * 3;
    let (mut count, mut since, until) =
        (0, Instant::now(), Instant::now() + Duration::from_secs(90));
    while Instant::now() < until {
        let now = record::observations(rig.log.as_deref())
            .iter()
            .filter(|o| o.rig == rig.name)
            .count();
        if now != count {
            (count, since) = (now, Instant::now());
        } else if since.elapsed() >= quiet {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let obs: Vec<Observation> = record::observations(rig.log.as_deref())
        .into_iter()
        .filter(|o| o.rig == rig.name)
        .collect();
    let mut runs: HashMap<&str, usize> = HashMap::new();
    for o in &obs {
        *runs.entry(o.id.as_str()).or_default() += 1;
    }
    eprintln!(
        "chaos: rig {}: auditing {} observations of {} promises, {} run more than once ({:?} in)",
        rig.name,
        obs.len(),
        runs.len(),
        runs.values().filter(|n| **n > 1).count(),
        began.elapsed()
    );
    let ran: BTreeSet<&str> = obs.iter().map(|o| o.id.as_str()).collect();
    for (i, kind, id) in must_run {
        if !ran.contains(id.as_str()) {
            report.lost += 1;
            eprintln!("chaos: LOST workflow {i} ({kind}) step {id} settled but never ran");
        }
    }
    let mine: BTreeSet<PromiseId> = workflows
        .iter()
        .flat_map(|w| {
            w.roots
                .iter()
                .map(|r| r.0.clone())
                .chain(w.must.iter().map(|m| m.0.clone()))
        })
        .collect();
    let mut attempts: BTreeMap<PromiseId, (BTreeSet<u32>, u32)> = BTreeMap::new();
    for o in &obs {
        let Ok(id) = PromiseId::parse(&o.id) else {
            continue;
        };
        let a = attempts
            .entry(id.clone())
            .or_insert((BTreeSet::new(), o.max));
        a.0.insert(o.attempt);
        a.1 = a.1.min(o.max);
        seen.entry(id).or_default();
        if let Some(from) = o.from.as_deref().and_then(|f| PromiseId::parse(f).ok()) {
            seen.entry(from)
                .or_default()
                .push((format!("input of {}#{}", o.id, o.attempt), o.input.clone()));
        }
    }
    for id in mine {
        seen.entry(id).or_default();
    }
    for (id, readers) in &mut seen {
        let kind = kind_of.get(id).copied().unwrap_or("step");
        let waited = client
            .wait(
                &Handle::<Value>::from_id(id.clone()),
                Duration::from_millis(1),
            )
            .await;
        if let Ok(r) = &waited {
            readers.push(("wait".into(), digest(&result_value(r))));
        }
        match stored(client, id).await {
            Some(v) => readers.push(("slot".into(), digest(&v))),
            None if !readers.is_empty() => {
                readers.push(("slot".into(), "unsettled".into()));
            }
            None => {}
        }
        let distinct: BTreeSet<&str> = readers.iter().map(|r| r.1.as_str()).collect();
        let over = attempts
            .get(id)
            .is_some_and(|(set, max)| set.len() > *max as usize || set.iter().any(|a| a > max));
        if distinct.len() > 1 || over {
            report.double += 1;
            eprintln!(
                "chaos: DOUBLE ({kind}) {id}: readers {readers:?}; attempts {:?}",
                attempts.get(id)
            );
        }
    }
    let neighbours: BTreeSet<String> = workflows
        .iter()
        .flat_map(|w| w.neighbours.iter().map(ToString::to_string))
        .collect();
    if !neighbours.is_empty() {
        let dead: BTreeSet<String> = record::dead_letters(rig.log.as_deref())
            .into_iter()
            .collect();
        let buried: Vec<&String> = dead.intersection(&neighbours).collect();
        report.poison_neighbours_dead_lettered = buried.len();
        for id in &buried {
            eprintln!("chaos: DEAD-LETTERED healthy neighbour of a poison: {id}");
        }
        let poisons: BTreeSet<String> = workflows
            .iter()
            .filter(|w| w.kind == POISON_KIND)
            .flat_map(|w| w.must.iter().map(|m| m.0.to_string()))
            .collect();
        let poison_runs = obs.iter().filter(|o| poisons.contains(&o.id)).count();
        eprintln!(
            "chaos: rig {}: {} healthy neighbours of poisons, {} dead letters in all, {} of them \
             neighbours; {poison_runs} runs of poisons",
            rig.name,
            neighbours.len(),
            dead.len(),
            buried.len()
        );
    }
    eprintln!(
        "chaos: rig {}: audit done ({:?} in)",
        rig.name,
        began.elapsed()
    );
    if let Some(a) = &rig.audit {
        let cells = a.doubles();
        if !cells.is_empty() {
            eprintln!(
                "chaos: the store accepted two settling writes of {} cells",
                cells.len()
            );
        }
    }
    report
}

/// A rig on the in-memory backend; messages become visible again after
/// `visibility` and are dead-lettered after `max_receives` deliveries.
pub fn memory_rig(spec: &RigSpec, max_receives: u32) -> Rig {
    let dlq = Arc::new(MemoryQueue::dead_letter_queue());
    let queue = Arc::new(MemoryQueue::new(
        spec.visibility,
        max_receives,
        Some(dlq.clone()),
    ));
    Rig::new(spec, Arc::new(MemoryStore::new()), queue, dlq)
}

/// The SQS and DynamoDB clients of a rig; with `faults`, they lose replies at
/// the HTTP level ([`vow::aws::FaultInterceptor`]) so the SDK's retries run.
pub(crate) async fn aws_clients(
    faults: Option<Arc<Faults>>,
) -> (aws_sdk_sqs::Client, aws_sdk_dynamodb::Client) {
    let sdk = vow::aws::sdk_config().await;
    let mut sqs = aws_sdk_sqs::config::Builder::from(&sdk);
    let mut dynamodb = aws_sdk_dynamodb::config::Builder::from(&sdk);
    if let Some(f) = faults {
        let lossy = vow::aws::FaultInterceptor::new(f);
        sqs = sqs.interceptor(lossy.clone());
        dynamodb = dynamodb.interceptor(lossy);
    }
    (
        aws_sdk_sqs::Client::from_conf(sqs.build()),
        aws_sdk_dynamodb::Client::from_conf(dynamodb.build()),
    )
}

/// A rig on the emulators (or AWS) named by the environment, on a fresh stack.
/// Besides the seam faults, the workers' SDK clients lose replies at the HTTP
/// level, so the SDK's own retries run too.
pub async fn aws_rig(name: &str, spec: &RigSpec, max_receives: u32) -> Rig {
    let visibility_secs = u32::try_from(spec.visibility.as_secs().max(1)).unwrap_or(30);
    let stack = crate::Stack::with_visibility(name, max_receives, visibility_secs).await;
    // The rig's workers get their own fault source for the HTTP level.
    let http_faults = Arc::new(Faults::new(spec.faults.clone()));
    let (sqs, dynamodb) = aws_clients(Some(http_faults.clone())).await;
    let dlq = Arc::new(vow::aws::SqsQueue::new(sqs.clone(), &stack.dlq_url));
    let queue = Arc::new(vow::aws::SqsQueue::new(sqs, &stack.names.queue_url));
    let store = Arc::new(vow::aws::DynamoStore::new(
        dynamodb,
        &stack.names.table_name,
        stack.names.record_ttl,
    ));
    let mut rig = Rig::new(spec, store, queue, dlq);
    // Clients talk to the stack without HTTP faults.
    let keys = rig.keys.clone();
    let config = engine_config(&keys, spec.visibility);
    let clean_store: Arc<dyn Store> = Arc::new(vow::aws::DynamoStore::new(
        stack.dynamodb.clone(),
        &stack.names.table_name,
        stack.names.record_ttl,
    ));
    let clean_queue: Arc<dyn Queue> = Arc::new(stack.queue());
    let app_faults = rig.faults[1].clone();
    rig.client = Arc::new(Vow::client(
        clean_store.clone(),
        clean_queue.clone(),
        config.clone(),
    ));
    rig.app = Arc::new(Vow::client(
        clean_store,
        Arc::new(FaultyQueue::new(clean_queue.clone(), app_faults)),
        config,
    ));
    rig.raw = clean_queue;
    rig.faults.push(http_faults);
    rig
}

/// The main rig's and the dead-letter rig's specs for a backend.
pub fn specs(seed: u64, memory: bool) -> (RigSpec, RigSpec) {
    let main = RigSpec {
        faults: default_faults(seed),
        workers: 8,
        visibility: Duration::from_secs(if memory { 2 } else { 3 }),
        signed: true,
    };
    // No injected faults here: with two receives allowed, a lost delete would
    // dead-letter ordinary steps too. The race of the dead letter with the late
    // successful run is the fault.
    let dlq = RigSpec {
        faults: FaultConfig {
            seed: seed + 1,
            ..FaultConfig::default()
        },
        workers: 4,
        visibility: Duration::from_secs(1),
        signed: false,
    };
    (main, dlq)
}

/// The replay rig's spec: signed (the replay check reads the signed issue
/// time), with the main rig's faults.
pub fn replay_spec(seed: u64, memory: bool) -> RigSpec {
    RigSpec {
        faults: default_faults(seed + 2),
        workers: 4,
        ..specs(seed, memory).0
    }
}

/// Split `n` workflows between the main rig's kinds, the dead-letter rig, the
/// replay rig and the waits rig. Kind `poison` runs in kill mode only
/// ([`crate::kill`]): it is left out here.
pub fn split(n: usize, kinds: &[&'static str]) -> Split {
    let main: Vec<&'static str> = kinds
        .iter()
        .copied()
        .filter(|k| ![DLQ_KIND, REPLAY_KIND, POISON_KIND].contains(k) && !WAIT_KINDS.contains(k))
        .collect();
    let waits: Vec<&'static str> = kinds
        .iter()
        .copied()
        .filter(|k| WAIT_KINDS.contains(k))
        .collect();
    let (has_dlq, has_replay) = (kinds.contains(&DLQ_KIND), kinds.contains(&REPLAY_KIND));
    let others = usize::from(!main.is_empty()) + usize::from(has_dlq) + usize::from(has_replay);
    let n_waits = match (waits.is_empty(), others) {
        (true, _) => 0,
        (false, 0) => n,
        (false, _) => (n / 10).max(waits.len()).min(n),
    };
    let rest = n - n_waits;
    let share = if main.is_empty() {
        rest / (usize::from(has_dlq) + usize::from(has_replay)).max(1)
    } else {
        (rest / 20).max(1)
    };
    let dlq = if has_dlq { share.min(rest) } else { 0 };
    let replay = match (has_replay, main.is_empty()) {
        (false, _) => 0,
        (true, true) => rest - dlq,
        (true, false) => share.min(rest - dlq),
    };
    Split {
        main: rest - dlq - replay,
        main_kinds: main,
        dlq,
        replay,
        waits: n_waits,
        wait_kinds: waits,
    }
}

/// How [`split`] shares the workflows out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Split {
    /// Workflows of the main rig.
    pub main: usize,
    /// Its kinds.
    pub main_kinds: Vec<&'static str>,
    /// Workflows of the dead-letter rig.
    pub dlq: usize,
    /// Workflows of the replay rig (kind [`REPLAY_KIND`]).
    pub replay: usize,
    /// Workflows of the waits rig ([`crate::chaos_waits`]).
    pub waits: usize,
    /// Its kinds.
    pub wait_kinds: Vec<&'static str>,
}

/// The observation type, for binaries that read a log.
pub type Seen = Observation;

/// The workers' queue, keeping the bodies of the replay workflows' messages
/// as it delivers them (kind `replay` sends them again).
struct Capture {
    inner: Arc<dyn Queue>,
    bodies: std::sync::Mutex<Vec<String>>,
}

impl Capture {
    /// The captured bodies containing `marker`.
    fn naming(&self, marker: &str) -> Vec<String> {
        let bodies = self.bodies.lock().unwrap_or_else(|e| e.into_inner());
        bodies
            .iter()
            .filter(|b| b.contains(marker))
            .cloned()
            .collect()
    }
}

#[async_trait::async_trait]
impl Queue for Capture {
    async fn send(&self, messages: Vec<Outgoing>) -> Result<(), BackendError> {
        self.inner.send(messages).await
    }
    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>, BackendError> {
        let got = self.inner.receive(max, wait).await?;
        let mut bodies = self.bodies.lock().unwrap_or_else(|e| e.into_inner());
        for d in &got {
            if d.body.contains("\"label\":\"replay-") && !bodies.contains(&d.body) {
                bodies.push(d.body.clone());
            }
        }
        Ok(got)
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

/// What the replays of a rig share.
struct Replayer {
    capture: Arc<Capture>,
    raw: Arc<dyn Queue>,
    /// The in-process workers' engine, whose clock [`Replayer::age`] moves.
    engine: Option<Arc<Engine>>,
    /// How far the workers' clock was moved on, in ms.
    skipped: tokio::sync::Mutex<u64>,
    fresh: AtomicU64,
    aged: AtomicU64,
    /// Runs caused by replays of old messages (each one counts as `double`).
    reruns: AtomicU64,
    visibility: Duration,
}

impl Replayer {
    /// Move the workers' clock on until every one of `bodies` is older than
    /// the replay check.
    async fn age(&self, bodies: &[String]) -> bool {
        let Some(engine) = &self.engine else {
            return false;
        };
        let issued = bodies
            .iter()
            .filter_map(|b| issued_ms(b))
            .max()
            .unwrap_or(0);
        let after =
            u64::try_from(vow::engine::decide::REPLAY_CHECK_AFTER.as_millis()).unwrap_or(u64::MAX);
        let due = issued.saturating_add(after).saturating_add(1_000);
        let mut skipped = self.skipped.lock().await;
        let workers_now = vow::signing::now_ms().saturating_add(*skipped);
        if due > workers_now {
            let by = due - workers_now;
            engine.skip_clock(Duration::from_millis(by));
            *skipped = skipped.saturating_add(by);
        }
        true
    }

    async fn send(&self, bodies: &[String]) {
        let out: Vec<Outgoing> = bodies
            .iter()
            .map(|body| Outgoing {
                body: body.clone(),
                delay: Duration::ZERO,
            })
            .collect();
        for _ in 0..20 {
            if self.raw.send(out.clone()).await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        eprintln!("chaos: replay: could not send");
    }
}

/// The issue time of a signed body.
fn issued_ms(body: &str) -> Option<u64> {
    body.strip_prefix("vow-sig2:")?
        .split(':')
        .nth(1)?
        .parse()
        .ok()
}

/// Observations of `ids`.
fn runs_of(log: Option<&std::path::Path>, ids: &[String]) -> usize {
    record::observations(log)
        .iter()
        .filter(|o| ids.contains(&o.id))
        .count()
}

/// Wait until `ids` record no new run for three visibility timeouts (at most
/// a minute).
async fn quiet(log: Option<&std::path::Path>, ids: &[String], visibility: Duration) {
    let until = Instant::now() + Duration::from_secs(60);
    let (mut count, mut since) = (runs_of(log, ids), Instant::now());
    while Instant::now() < until && since.elapsed() < visibility * 3 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let now = runs_of(log, ids);
        if now != count {
            (count, since) = (now, Instant::now());
        }
    }
}

/// Kind `replay`: take the workflow's messages as the workers received them
/// (signed, genuine), send them again at once (a duplicate: its single
/// conditional write keeps the outcome once), then, once the workflow is
/// done and quiet, again when they are older than the replay check: those
/// copies must run nothing, and any run they cause counts as `double`.
async fn replay(
    r: Arc<Replayer>,
    client: Arc<Vow>,
    log: Option<PathBuf>,
    marker: String,
    ids: Vec<String>,
    root: PromiseId,
    deadline: Instant,
) {
    let log = log.as_deref();
    let mut bodies = Vec::new();
    while bodies.is_empty() && Instant::now() < deadline {
        bodies = r.capture.naming(&marker);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if bodies.is_empty() {
        eprintln!("chaos: replay: no message of {marker} was captured");
        return;
    }
    r.send(&bodies).await;
    r.fresh.fetch_add(bodies.len() as u64, Ordering::Relaxed);
    let left = deadline.saturating_duration_since(Instant::now());
    let _ = client.wait(&Handle::<Value>::from_id(root), left).await;
    quiet(log, &ids, r.visibility).await;
    let before = runs_of(log, &ids);
    let bodies = r.capture.naming(&marker);
    if !r.age(&bodies).await {
        return;
    }
    r.send(&bodies).await;
    r.aged.fetch_add(bodies.len() as u64, Ordering::Relaxed);
    tokio::time::sleep(r.visibility * 2).await;
    quiet(log, &ids, r.visibility).await;
    let after = runs_of(log, &ids);
    if after > before {
        r.reruns
            .fetch_add((after - before) as u64, Ordering::Relaxed);
        eprintln!(
            "chaos: DOUBLE an old replay of {marker} ran {} step(s) again",
            after - before
        );
    }
}

/// A dead-letter handler that notes the promise of each message it gets
/// ([`record::note_dead_letter`]) before the real one buries it.
pub struct NotingDeadLetters(pub Arc<dyn BatchHandler>);

impl std::fmt::Debug for NotingDeadLetters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NotingDeadLetters")
    }
}

fn note(batch: &[Delivery]) {
    for d in batch {
        let body = vow::signing::unverified_body(&d.body);
        let id = salvage(body).map_or_else(|| "?".to_owned(), |(t, _, _)| t.id().to_string());
        record::note_dead_letter(&id);
    }
}

#[async_trait::async_trait]
impl BatchHandler for NotingDeadLetters {
    async fn handle(&self, batch: Vec<Delivery>) -> Result<Vec<String>, BackendError> {
        note(&batch);
        self.0.handle(batch).await
    }
    async fn handle_stats(
        &self,
        batch: Vec<Delivery>,
    ) -> Result<(Vec<String>, BatchStats), BackendError> {
        note(&batch);
        self.0.handle_stats(batch).await
    }
    async fn handle_by(
        &self,
        batch: Vec<Delivery>,
        deadline: std::time::Instant,
    ) -> Result<(Vec<String>, BatchStats), BackendError> {
        note(&batch);
        self.0.handle_by(batch, deadline).await
    }
}
