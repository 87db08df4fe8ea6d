//! [`Vow`]: the application's handle: start flows, wait for outcomes, query status.

use crate::engine::{Engine, EngineConfig};
use crate::error::{BackendError, WaitError};
use crate::failure::Failure;
use crate::flow::{AsPromise, Flow};
use crate::id::PromiseId;
use crate::memory::{MemoryQueue, MemoryStore};
use crate::poller::{InProcess, Poller};
use crate::promise::{Handle, Resolver};
use crate::queue::Queue;
use crate::store::Store;
use crate::task::Task;
use crate::wire::Outcome;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

/// Where a promise is.
#[derive(Clone, Debug, PartialEq)]
pub enum Status {
    /// Not settled (or no such promise).
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
        }
    }
}

/// The application's handle on vow.
///
/// [`Vow::embedded`] runs everything in this process (no AWS, no emulator).
/// With the `aws` feature, `Vow::aws` talks to SQS and DynamoDB.
pub struct Vow {
    engine: Arc<Engine>,
    stop: Option<tokio::sync::watch::Sender<bool>>,
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
    pub fn embedded_with(mut config: EmbeddedConfig) -> Self {
        // A message must not outlive its visibility while steps run inline.
        config.engine.inline_for = config.engine.inline_for.min(config.visibility / 4);
        let store = Arc::new(MemoryStore::new());
        let dlq = Arc::new(MemoryQueue::dead_letter_queue());
        let queue = Arc::new(MemoryQueue::new(
            config.visibility,
            config.max_receives,
            Some(dlq.clone()),
        ));
        let mut vow = Self::client(store.clone(), queue.clone(), config.engine);
        vow.memory = Some((store, queue, dlq.clone()));
        vow.run_workers(config.workers, Some(dlq), Duration::from_millis(200));
        vow
    }

    /// Run `workers` worker loops in this process, polling the engine's queue (and
    /// one loop settling `dead_letters`, if given). They stop when this `Vow` drops.
    /// This is how workers run outside Lambda: on ECS, a VM, or a laptop.
    pub fn run_workers(
        &mut self,
        workers: usize,
        dead_letters: Option<Arc<dyn Queue>>,
        long_poll: Duration,
    ) {
        let stopped = match &self.stop {
            Some(stop) => stop.subscribe(),
            None => {
                let (stop, stopped) = tokio::sync::watch::channel(false);
                self.stop = Some(stop);
                stopped
            }
        };
        let engine = &self.engine;
        for _ in 0..workers.max(1) {
            let handler = Arc::new(InProcess::worker(engine.clone()));
            let poller = Poller::new(engine.queue().clone(), handler)
                .wait(long_poll)
                .failed_visibility(Duration::from_millis(50));
            tokio::spawn(poller.run(stopped.clone()));
        }
        if let Some(dlq) = dead_letters {
            let handler = Arc::new(InProcess::dead_letters(engine.clone()));
            let poller = Poller::new(dlq, handler)
                .wait(long_poll)
                .failed_visibility(Duration::from_millis(50));
            tokio::spawn(poller.run(stopped));
        }
    }

    /// A client over any store and queue, with no workers of its own: what an
    /// application uses to enqueue and wait while Lambda (or pollers) do the work.
    pub fn client(store: Arc<dyn Store>, queue: Arc<dyn Queue>, config: EngineConfig) -> Self {
        Vow {
            engine: Engine::new(store, queue, config),
            stop: None,
            memory: None,
        }
    }

    /// A client of the AWS backend named by the environment: `VOW_QUEUE_URL`,
    /// `VOW_TABLE_NAME`, and the usual AWS SDK configuration.
    #[cfg(feature = "aws")]
    pub async fn aws() -> Result<Self, BackendError> {
        let names = crate::aws::AwsNames::from_env()?;
        let signing = crate::signing::SigningKeys::from_env()
            .map_err(|f| BackendError::fatal(f.message().to_owned()))?;
        let config = crate::aws::sdk_config().await;
        let engine = EngineConfig {
            signing,
            ..EngineConfig::default()
        };
        Ok(Self::aws_with(&config, &names, engine))
    }

    /// A client of the AWS backend with explicit names and SDK configuration.
    #[cfg(feature = "aws")]
    pub fn aws_with(
        config: &aws_config::SdkConfig,
        names: &crate::aws::AwsNames,
        engine: EngineConfig,
    ) -> Self {
        let store = crate::aws::DynamoStore::new(
            aws_sdk_dynamodb::Client::new(config),
            &names.table_name,
            names.record_ttl,
        );
        let queue = crate::aws::SqsQueue::new(aws_sdk_sqs::Client::new(config), &names.queue_url);
        Self::client(Arc::new(store), Arc::new(queue), engine)
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
        Flow::new(PromiseId::random())
    }

    /// Send everything built in `flow`.
    pub async fn start(&self, flow: &Flow) -> Result<(), BackendError> {
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

    /// Settle a deferred promise from application code (the first resolution
    /// wins). After an error, call it again: the retry has the same effect, and
    /// sends the successors the first try may not have.
    pub async fn resolve<T: Serialize>(
        &self,
        resolver: &Resolver<T>,
        result: Result<T, Failure>,
    ) -> Result<(), BackendError> {
        let flow = self.flow();
        flow.resolve(resolver, result);
        let token = crate::id::resolve_token(&resolver.id());
        self.engine.start_as(&flow, token).await
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

    /// Where the promise `id` is.
    pub async fn status(&self, id: &PromiseId) -> Result<Status, BackendError> {
        let Some(outcome) = self.engine.outcome(id).await? else {
            return Ok(Status::Pending);
        };
        let json = self.engine.resolve(&outcome).await?;
        Ok(
            match serde_json::from_value::<Result<Value, Failure>>(json) {
                Ok(Ok(v)) => Status::Done(v),
                Ok(Err(f)) => Status::Failed(f),
                Err(e) => Status::Failed(Failure::bad_input(format!("corrupt outcome: {e}"))),
            },
        )
    }

    /// Wait up to `timeout` for `promise` to settle, and decode its outcome.
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
                return Ok(
                    serde_json::from_value::<Result<T, Failure>>(json).unwrap_or_else(|e| {
                        Err(Failure::bad_input(format!(
                            "outcome does not decode as `{}`: {e}",
                            std::any::type_name::<T>()
                        )))
                    }),
                );
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

impl Drop for Vow {
    fn drop(&mut self) {
        if let Some(stop) = &self.stop {
            let _ = stop.send(true);
        }
    }
}
