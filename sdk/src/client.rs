//! [`Vow`]: the application's handle: start flows, wait for outcomes, query status.

#[cfg(feature = "aws")]
use crate::builder::VowBuilder;
use crate::engine::{Engine, EngineConfig};
use crate::error::{BackendError, WaitError};
use crate::failure::Failure;
use crate::flow::{AsPromise, Flow, Started};
use crate::id::PromiseId;
use crate::memory::{MemoryQueue, MemoryStore};
use crate::promise::{Handle, Resolver};
use crate::queue::Queue;
use crate::store::Store;
use crate::task::Task;
use crate::wire::Outcome;
use crate::workers::Workers;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

/// How often workers run by [`Vow::run_workers`] sweep the timer index, as
/// the deployment's EventBridge schedule does.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// How often the embedded workers sweep it: often, since
/// [`Vow::skip_time`] moves their clock by days at once.
const EMBEDDED_SWEEP_EVERY: Duration = Duration::from_millis(100);

/// Where a promise is, as far as the store knows.
///
/// A promise's record is written when it settles (one write per step), so a
/// running promise usually has none yet: [`Status::Unknown`] is what most
/// promises show until they settle. [`crate::Vow::wait`] waits on a promise you
/// hold; `status` is for ids read back from somewhere.
///
/// New states may be added: match with a `_` arm.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Status {
    /// The store has no record of this id. Either the promise has not settled
    /// and nothing was recorded about it yet (a record exists once it settles,
    /// reports progress, adopts or defers with children, or gets a successor
    /// attached after it was sent), or no promise has this id, or its record
    /// expired (`VOW_RECORD_TTL_DAYS`). The store cannot tell these apart.
    Unknown,
    /// Not settled, and known to the store: it has a record (progress, children
    /// or successors stored for it).
    Pending,
    /// Settled with this value (join outcomes expanded into a list).
    Done(Value),
    /// Settled with this failure.
    Failed(Failure),
}

/// What [`Vow::inspect`] knows about a promise, without expanding join outcomes.
#[derive(Clone, Debug, PartialEq)]
pub struct Inspection {
    /// The promise.
    pub id: PromiseId,
    /// Its outcome, if settled (a join's is [`Outcome::Joined`]).
    pub outcome: Option<Outcome>,
    /// When it settled.
    pub settled_at: Option<SystemTime>,
    /// The attempt of its task that settled it, if its task settled it.
    pub attempt: Option<u32>,
    /// Promises its task created, and a join's members. A pending promise lists
    /// the children of its task if the task adopted or deferred.
    pub children: Vec<PromiseId>,
    /// The progress its task last reported with [`crate::Cx::progress`], as
    /// `(done, total)`.
    pub progress: Option<(u64, u64)>,
    /// If it is a pending sleep or callback: its wake-up time or deadline.
    pub waiting: Option<crate::walk::Waiting>,
}

/// Settings of the embedded backend.
#[non_exhaustive]
#[derive(Clone, Debug)]
pub struct EmbeddedConfig {
    /// Worker loops, each running batches of up to 10 messages concurrently.
    pub workers: usize,
    /// Engine settings.
    pub engine: EngineConfig,
    /// How long a delivered message stays invisible (a crashed worker's messages
    /// come back after this). Steps run inline for at most a quarter of it.
    pub visibility: Duration,
    /// Deliveries before a message goes to the dead-letter queue.
    pub max_receives: u32,
    /// How long records and stored values live once nothing pending refers to
    /// them (rule 9); the memory store expires them on the embedded clock,
    /// which [`Vow::skip_time`] moves. `VOW_RECORD_TTL_DAYS` when set to a
    /// whole number of days, else 30 days.
    pub record_ttl: Duration,
}

impl Default for EmbeddedConfig {
    fn default() -> Self {
        EmbeddedConfig {
            workers: 4,
            engine: EngineConfig {
                retry_base: Duration::from_millis(20),
                retry_max: Duration::from_secs(1),
                ..EngineConfig::default()
            },
            visibility: Duration::from_secs(30),
            max_receives: 5,
            record_ttl: crate::store::record_ttl_or_default(),
        }
    }
}

/// The application's handle on vow.
///
/// [`Vow::embedded`] runs everything in this process (no AWS, no emulator).
/// With the `aws` feature, [`Vow::builder`] (or its shorthand `Vow::aws`) makes
/// a client of SQS and DynamoDB. The embedded backend's workers stop when the
/// `Vow` drops, or gracefully with [`Vow::shutdown`].
pub struct Vow {
    engine: Arc<Engine>,
    workers: Option<Workers>,
    memory: Option<(Arc<MemoryStore>, Arc<MemoryQueue>, Arc<MemoryQueue>)>,
}

impl std::fmt::Debug for Vow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vow")
            .field("engine", &self.engine)
            .field("embedded", &self.memory.is_some())
            .finish()
    }
}

impl Vow {
    /// The embedded backend with default settings. Must be called inside a tokio
    /// runtime: it spawns the worker loops.
    pub fn embedded() -> Self {
        Self::embedded_with(EmbeddedConfig::default())
    }

    /// The embedded backend with these settings.
    pub fn embedded_with(config: EmbeddedConfig) -> Self {
        Self::embedded_wrapped(config, |store, queue| (store, queue))
    }

    /// The embedded backend with its engine seeing the store and the work
    /// queue through `wrap`: for tests that inject faults ([`crate::fault`])
    /// and still move the embedded clock with [`Vow::skip_time`].
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use std::sync::Arc;
    /// use vow::fault::{FaultConfig, Faults, FaultyQueue};
    /// let faults = Arc::new(Faults::new(FaultConfig { duplicate: 1.0, ..FaultConfig::default() }));
    /// let vow = vow::Vow::embedded_wrapped(vow::EmbeddedConfig::default(), |store, queue| {
    ///     (store, Arc::new(FaultyQueue::new(queue, faults)))
    /// });
    /// # let _ = vow;
    /// # });
    /// ```
    pub fn embedded_wrapped(
        mut config: EmbeddedConfig,
        wrap: impl FnOnce(Arc<dyn Store>, Arc<dyn Queue>) -> (Arc<dyn Store>, Arc<dyn Queue>),
    ) -> Self {
        // A message must not outlive its visibility while steps run inline.
        config.engine.inline_for = config.engine.inline_for.min(config.visibility / 4);
        let store = Arc::new(MemoryStore::new().with_record_ttl(config.record_ttl));
        let dlq = Arc::new(MemoryQueue::dead_letter_queue());
        let queue = Arc::new(MemoryQueue::new(
            config.visibility,
            config.max_receives,
            Some(dlq.clone()),
        ));
        let (seen_store, seen_queue) = wrap(store.clone(), queue.clone());
        let mut vow = Self::client(seen_store, seen_queue, config.engine);
        // Records expire on the clock that `skip_time` moves.
        store.use_clock(vow.engine.clock().clone());
        vow.memory = Some((store, queue, dlq.clone()));
        let workers = Workers::spawn(
            &vow.engine,
            config.workers,
            Some(dlq),
            Duration::from_millis(200),
            EMBEDDED_SWEEP_EVERY,
        );
        vow.workers = Some(workers);
        vow
    }

    /// Run `workers` worker loops in this process, polling the engine's queue (and
    /// one loop settling `dead_letters`, if given), each long-polling for up to
    /// `long_poll`. This is how workers run outside Lambda: on ECS, a VM, or a
    /// laptop. They also sweep the timer index once a minute (what the
    /// deployment's EventBridge schedule does for Lambda). They run until the
    /// returned handle is shut down or dropped; see [`Workers`] for graceful
    /// shutdown.
    pub fn run_workers(
        &self,
        workers: usize,
        dead_letters: Option<Arc<dyn Queue>>,
        long_poll: Duration,
    ) -> Workers {
        Workers::spawn(&self.engine, workers, dead_letters, long_poll, SWEEP_EVERY)
    }

    /// Stop the workers this client runs (the embedded backend's), letting the
    /// batches in flight finish; returns when they have. Clients without
    /// workers of their own return at once.
    pub async fn shutdown(&mut self) {
        if let Some(workers) = self.workers.take() {
            workers.shutdown().await;
        }
    }

    /// A client over any store and queue, with no workers of its own: what an
    /// application uses to enqueue and wait while Lambda (or pollers) do the work.
    pub fn client(store: Arc<dyn Store>, queue: Arc<dyn Queue>, config: EngineConfig) -> Self {
        Vow {
            engine: Engine::new(store, queue, config),
            workers: None,
            memory: None,
        }
    }

    /// A client of the AWS backend configured by the environment:
    /// `VOW_QUEUE_URL`, `VOW_TABLE_NAME`, `VOW_RECORD_TTL_DAYS`,
    /// `VOW_SIGNING_KEYS` and the usual AWS SDK configuration. Shorthand for
    /// `Vow::builder().build().await`.
    #[cfg(feature = "aws")]
    pub async fn aws() -> Result<Self, BackendError> {
        Self::builder().build().await
    }

    /// Configure a client of the AWS backend: explicit settings, and the
    /// environment for the rest (see [`VowBuilder`]).
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), vow::BackendError> {
    /// let vow = vow::Vow::builder().table_name("vow").build().await?;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "aws")]
    pub fn builder() -> VowBuilder {
        VowBuilder::default()
    }

    /// The engine (for pollers and handlers).
    #[doc(hidden)]
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// The embedded backend's store, if embedded.
    #[doc(hidden)]
    pub fn memory_store(&self) -> Option<&Arc<MemoryStore>> {
        self.memory.as_ref().map(|m| &m.0)
    }

    /// The embedded backend's work queue and dead-letter queue, if embedded.
    #[doc(hidden)]
    pub fn memory_queues(&self) -> Option<(&Arc<MemoryQueue>, &Arc<MemoryQueue>)> {
        self.memory.as_ref().map(|m| (&m.1, &m.2))
    }

    /// A new flow to build promises in; nothing is sent until [`Vow::start`].
    pub fn flow(&self) -> Flow {
        Flow::new(PromiseId::random(), self.engine.clock().clone())
    }

    /// A flow that starts once per `name` (an order number, a request id): an
    /// idempotent start. Its promises' ids derive from the name, so every
    /// process that builds the flow the same way holds the same promises. The
    /// first [`Vow::start`] of the name sends it and says [`Started::New`]; any
    /// later start, from anywhere, sends nothing and says
    /// [`Started::Existing`], and its promises are the running flow's. A start
    /// that failed can be called again (it is still `New`). The name is taken
    /// for as long as the store keeps records (`VOW_RECORD_TTL_DAYS`); names
    /// are 1 to 256 bytes without control characters. The claim costs one
    /// store write.
    ///
    /// ```
    /// # use serde::{Deserialize, Serialize};
    /// # use vow::prelude::*;
    /// # #[derive(Serialize, Deserialize)] struct Charge { order: u64 }
    /// # #[vow::task("doc-charge")]
    /// # impl Task for Charge { type Input = (); type Output = u64;
    /// #   async fn run(self, _: (), _: &Cx) -> Result<Resolution<u64>, Error> { done(self.order) } }
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use vow::Started;
    /// let vow = Vow::embedded();
    /// for _ in 0..2 {
    ///     // A retried request: the order is charged once.
    ///     let flow = vow.flow_named("order-42");
    ///     let charged = flow.when(Charge { order: 42 });
    ///     let started = vow.start(&flow).await?;
    ///     assert_eq!(vow.wait(&charged, std::time::Duration::from_secs(5)).await?, Ok(42));
    ///     println!("{started:?}"); // New, then Existing
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn flow_named(&self, name: &str) -> Flow {
        Flow::named("flow", name, self.engine.clock().clone())
    }

    /// Send everything built in `flow`; for a named flow, only if no start of
    /// its name came first ([`Vow::flow_named`]). After an error, call it
    /// again with the same flow: the retry has the same effect.
    pub async fn start(&self, flow: &Flow) -> Result<Started, BackendError> {
        self.engine.start(flow).await
    }

    /// Start one task now. Chain on the result with [`Flow::then`].
    pub async fn when<K: Task<Input = ()>>(
        &self,
        task: K,
    ) -> Result<Handle<K::Output>, BackendError> {
        let flow = self.flow();
        let handle = flow.when(task).handle();
        self.start(&flow).await?;
        Ok(handle)
    }

    /// Settle a deferred promise from application code: the first resolution
    /// wins, and the answer says whether this one did. After an error, call it
    /// again: what the first try began is finished by the guard message it
    /// sent before writing, so the retry answers [`crate::Resolved::TooLate`]
    /// if the first try's write had landed.
    pub async fn resolve<T: Serialize>(
        &self,
        resolver: &Resolver<T>,
        result: Result<T, Failure>,
    ) -> Result<crate::Resolved, BackendError> {
        let flow = self.flow();
        flow.resolve(resolver, result);
        if let Some(why) = flow.invalid() {
            return Err(BackendError::fatal(why));
        }
        let mut resolved = crate::Resolved::TooLate;
        for (target, conts, outcome) in flow.take_plan().resolves {
            resolved = self.engine.resolve_outside(target, conts, outcome).await?;
        }
        Ok(resolved)
    }

    /// Record a heartbeat of a callback made with
    /// [`Flow::callback_with_heartbeat`], so that it does not time out for
    /// lack of one: `true` if it still waits, `false` if it has settled (the
    /// work behind it can stop). One read and one write.
    pub async fn heartbeat<T>(&self, resolver: &Resolver<T>) -> Result<bool, BackendError> {
        self.engine.heartbeat(&resolver.id()).await
    }

    /// Embedded only, for tests: move the clock of sleeps, callback deadlines,
    /// schedules and retry delays `by` forward, so what would come due in that
    /// time comes due now. Real time keeps running beside it (task timeouts,
    /// [`Vow::wait`]). Other clients' time cannot be skipped: an error.
    ///
    /// ```
    /// # use vow::prelude::*;
    /// # use std::time::Duration;
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let vow = vow::Vow::embedded();
    /// let flow = vow.flow();
    /// let (approval, _resolver) = flow.callback::<bool>(Duration::from_secs(7 * 24 * 3_600));
    /// vow.start(&flow).await?;
    /// vow.skip_time(Duration::from_secs(7 * 24 * 3_600))?;
    /// let outcome = vow.wait(&approval, Duration::from_secs(5)).await?;
    /// assert_eq!(outcome.map_err(|f| f.kind()), Err(FailureKind::Timeout));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn skip_time(&self, by: Duration) -> Result<(), BackendError> {
        let Some((_, work, dead)) = &self.memory else {
            return Err(BackendError::fatal(
                "only the embedded backend's time can be skipped",
            ));
        };
        self.engine.clock().skip(by);
        work.skip(by);
        dead.skip(by);
        Ok(())
    }

    /// One promise's record: outcome, timing, attempt, and the ids of its children
    /// (to walk a workflow as a tree).
    pub async fn inspect(&self, id: &PromiseId) -> Result<Inspection, BackendError> {
        let key = crate::store::Cell::of(id).key;
        let record = self.engine.store().read(&key).await?;
        Ok(crate::walk::inspection_of(id, record).0)
    }

    /// Cancel `id` and its known pending descendants (see [`Engine::cancel`]).
    pub async fn cancel(&self, id: &PromiseId, reason: &str) -> Result<u32, BackendError> {
        self.engine.cancel(id, reason).await
    }

    /// Where the promise `id` is: one read of its record (and of its value, if
    /// stored out of line or a join's).
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let vow = vow::Vow::embedded();
    /// let made_up = vow::PromiseId::random();
    /// assert_eq!(vow.status(&made_up).await?, vow::Status::Unknown);
    /// # Ok::<(), vow::BackendError>(())
    /// # }).unwrap();
    /// ```
    pub async fn status(&self, id: &PromiseId) -> Result<Status, BackendError> {
        let cell = crate::store::Cell::of(id);
        let Some(mut record) = self.engine.store().read(&cell.key).await? else {
            return Ok(Status::Unknown);
        };
        let Some(slot) = record.slots.remove(&cell.slot) else {
            let known =
                record.later.contains_key(&cell.slot) || record.notes.contains_key(&cell.slot);
            return Ok(if known {
                Status::Pending
            } else {
                Status::Unknown
            });
        };
        let json = self.engine.resolve(&slot.outcome).await?;
        Ok(
            match serde_json::from_value::<Result<Value, Failure>>(json) {
                Ok(Ok(v)) => Status::Done(v),
                Ok(Err(f)) => Status::Failed(f),
                Err(e) => Status::Failed(Failure::bad_input(format!("corrupt outcome: {e}"))),
            },
        )
    }

    /// Wait up to `timeout` for `promise` to settle, and decode its outcome:
    /// `Ok(Ok(value))` or `Ok(Err(failure))` as the workflow settled it. An `Err`
    /// is about the wait itself: it timed out, the store failed, or the value
    /// does not decode as `T` ([`WaitError::Decode`]).
    pub async fn wait<T: DeserializeOwned>(
        &self,
        promise: impl AsPromise<T>,
        timeout: Duration,
    ) -> Result<Result<T, Failure>, WaitError> {
        let id = promise.promise_id();
        let deadline = Instant::now() + timeout;
        let mut pause = Duration::from_millis(2);
        loop {
            if let Some(outcome) = self.engine.outcome(&id).await? {
                let json = self.engine.resolve(&outcome).await?;
                return serde_json::from_value::<Result<T, Failure>>(json).map_err(|error| {
                    WaitError::Decode {
                        expected: std::any::type_name::<T>(),
                        error,
                    }
                });
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(WaitError::TimedOut);
            }
            tokio::time::sleep(pause.min(deadline - now)).await;
            pause = (pause * 2).min(Duration::from_millis(250));
        }
    }
}
