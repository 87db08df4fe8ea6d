//! The engine: runs one message, settles its promise exactly once, and fires
//! continuations. Lambda, the local poller and the embedded workers all call
//! [`Engine::handle_batch`].
//!
//! Exactly-once settlement under at-least-once delivery rests on two facts:
//! settling is one conditional write that records the settling message's token,
//! and a message is deleted only after everything it causes has been sent. A
//! redelivered message that finds its own token on an already settled promise
//! fires the continuations again as *repair* messages, which check the store
//! before running, so a crash between settling and sending is repaired without
//! running a step twice.

use crate::clock::millis;
use crate::context::{with_flow, Cx};
use crate::error::{BackendError, Error};
use crate::failure::Failure;
use crate::flow::{Flow, Plan};
use crate::gather::{Gather, Seat};
use crate::id::{successor_token, token, PromiseId};
use crate::queue::{Delivery, Outgoing, Queue};
use crate::signing::SigningKeys;
use crate::stats::{tally, BatchStats, Tally};
use crate::store::{cont_name, shard_key, Cell, Note, Settled, Store, FAN_IN};
use crate::task::{Erased, ErasedTask};
use crate::wire::{
    decode_envelope, decode_task, result_json, salvage, Cont, Envelope, Outcome, RunOpts, Slot,
    Target, BLOB_POINTER, INLINE_MESSAGE_LIMIT, INLINE_OUTCOME_LIMIT,
};
use serde_json::Value;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;
use tracing::{debug, warn, Instrument};

/// Engine settings.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Timeout of one attempt when the task sets none.
    pub default_timeout: Duration,
    /// Attempts for retryable errors when the task sets none.
    pub default_max_attempts: u32,
    /// Delay before the first retry; doubles each attempt.
    pub retry_base: Duration,
    /// Longest delay between retries (SQS caps delays at 15 minutes).
    pub retry_max: Duration,
    /// Sign every message sent and reject unsigned or forged ones.
    pub signing: Option<SigningKeys>,
    /// While a message has been processed for less than this, the first successor
    /// of each step it settles runs right here instead of taking a round trip
    /// through the queue (a chain of quick steps then costs a fraction of an SQS
    /// request per step). The message is deleted only after the whole run, so a
    /// crash is repaired from it. Keep it well under the queue's visibility
    /// timeout. In a Lambda function a successor runs inline only if its timeout
    /// ends before the invocation's (see [`Engine::handle_batch_by`]). Zero sends
    /// every successor.
    pub inline_for: Duration,
    /// A settle waits up to this for the other messages of its batch, so that
    /// settles of the same record (neighbouring members of a join) share one
    /// write. Zero writes every settle alone.
    pub gather_for: Duration,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            default_timeout: Duration::from_secs(30),
            default_max_attempts: 3,
            retry_base: Duration::from_secs(1),
            retry_max: Duration::from_secs(300),
            signing: None,
            inline_for: Duration::from_secs(2),
            gather_for: Duration::from_millis(10),
        }
    }
}

/// Runs tasks against a [`Store`] and a [`Queue`].
pub struct Engine {
    store: Arc<dyn Store>,
    queue: Arc<dyn Queue>,
    config: EngineConfig,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Why a message was not processed; the message stays on the queue.
#[derive(Debug)]
pub enum Rejected {
    /// The message cannot be run by this worker; it will reach the dead-letter queue.
    Undecodable(Failure),
    /// The store or queue failed; a redelivery will try again.
    Backend(BackendError),
}

impl std::fmt::Display for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rejected::Undecodable(failure) => write!(f, "undecodable message: {failure}"),
            Rejected::Backend(e) => write!(f, "backend error: {e}"),
        }
    }
}

impl From<BackendError> for Rejected {
    fn from(e: BackendError) -> Self {
        Rejected::Backend(e)
    }
}

type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

impl Engine {
    /// An engine over the two seams.
    pub fn new(store: Arc<dyn Store>, queue: Arc<dyn Queue>, config: EngineConfig) -> Arc<Self> {
        Arc::new(Engine {
            store,
            queue,
            config,
        })
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The queue.
    pub fn queue(&self) -> &Arc<dyn Queue> {
        &self.queue
    }

    /// Process a batch concurrently. Returns the message ids that failed and must be
    /// redelivered (SQS `batchItemFailures`).
    pub async fn handle_batch(self: &Arc<Self>, batch: Vec<Delivery>) -> Vec<String> {
        self.handle_batch_stats(batch).await.0
    }

    /// Process a batch from the dead-letter queue: settle each message's promise with
    /// a failure saying why it was dead-lettered, so dependents still get an outcome.
    pub async fn handle_dead_letters(self: &Arc<Self>, batch: Vec<Delivery>) -> Vec<String> {
        self.handle_dead_letters_stats(batch).await.0
    }

    async fn each<F, Fut>(self: &Arc<Self>, batch: Vec<Delivery>, f: F) -> Vec<String>
    where
        F: Fn(Arc<Engine>, Delivery) -> Fut,
        Fut: Future<Output = Result<(), Rejected>> + Send + 'static,
    {
        let mut set = JoinSet::new();
        for d in batch {
            let id = d.message_id.clone();
            let fut = f(self.clone(), d);
            set.spawn(async move { (id, fut.await) });
        }
        let mut failed = Vec::new();
        while let Some(joined) = set.join_next().await {
            match joined {
                Ok((_, Ok(()))) => {}
                Ok((id, Err(why))) => {
                    warn!(message_id = %id, %why, "message left for redelivery");
                    failed.push(id);
                }
                // A panic outside user code (user code runs in its own task).
                Err(e) => warn!(error = %e, "message handler panicked"),
            }
        }
        failed
    }

    /// Run the task in one message body (delivered for the `receive_count`-th time)
    /// and settle its promise.
    pub async fn process(self: &Arc<Self>, body: &str, receive_count: u32) -> Result<(), Rejected> {
        self.process_in(body, receive_count, Seat::new(None), None)
            .await
    }

    /// [`Engine::process`] as one message of a batch whose settles are gathered.
    async fn process_in(
        self: &Arc<Self>,
        body: &str,
        receive_count: u32,
        mut seat: Seat,
        deadline: Option<Instant>,
    ) -> Result<(), Rejected> {
        let env = self.open(body).await?;
        let inline = Inline {
            until: Instant::now() + self.config.inline_for,
            deadline,
        };
        let mut next = Some((env, receive_count > 1));
        let mut taken_inline = false;
        while let Some((env, redelivered)) = next.take() {
            next = self
                .step(env, redelivered, taken_inline, inline, seat.gather())
                .await?
                .map(|env| (env, false));
            taken_inline = true;
            // Steps run inline after the first settle alone: they seldom share a
            // record with the rest of the batch, which need not wait for them.
            seat.leave();
        }
        Ok(())
    }

    /// Run one envelope unless it is a repair or redelivery of a settled promise.
    /// Returns the successor to run inline, if `inline` allowed one.
    /// An envelope `taken_inline` from its predecessor that this worker cannot
    /// decode is sent as its own message, to fail there rather than fail ours.
    async fn step(
        self: &Arc<Self>,
        env: Envelope,
        redelivered: bool,
        taken_inline: bool,
        inline: Inline,
        gather: &Option<Arc<Gather>>,
    ) -> Result<Option<Envelope>, Rejected> {
        if env.repair || redelivered {
            if let Some(after) = self.settled_before(&env, inline, gather).await? {
                return Ok(after);
            }
        }
        let span = tracing::info_span!(
            "vow.run",
            promise = %env.target.id(),
            task = env.tag().unwrap_or("?"),
            attempt = env.attempt
        );
        let task = match decode_task(&env.task) {
            Ok(task) => task,
            Err(_) if taken_inline => {
                let body = self.seal(&env).await?;
                let delay = Duration::ZERO;
                self.queue.send(vec![Outgoing { body, delay }]).await?;
                return Ok(None);
            }
            Err(failure) => return Err(Rejected::Undecodable(failure)),
        };
        self.run(env, task, inline, gather).instrument(span).await
    }

    /// Run one envelope's task and settle. Returns the successor to run inline, if
    /// `inline` allowed one.
    async fn run(
        self: &Arc<Self>,
        env: Envelope,
        task: Box<dyn ErasedTask>,
        inline: Inline,
        gather: &Option<Arc<Gather>>,
    ) -> Result<Option<Envelope>, Rejected> {
        let input = match &env.input {
            Some(outcome) => self.resolve(outcome).await?,
            None => Value::Null,
        };
        let cx = Arc::new(Cx::new(
            env.target.clone(),
            env.attempt,
            env.conts.clone(),
            self.store.clone(),
        ));
        let timeout = self.timeout(&env.opts);
        let flow = cx.flow().clone();
        let began = std::time::Instant::now();
        let handle = tokio::spawn(with_flow(flow.clone(), task.run_erased(input, cx.clone())));
        let abort = handle.abort_handle();
        let ran = match tokio::time::timeout(timeout, handle).await {
            Ok(Ok(result)) => result,
            Ok(Err(join)) => Err(Error::retryable(format!("task panicked: {join}"))),
            Err(_) => {
                abort.abort();
                Err(Error::from(Failure::timeout(format!(
                    "task `{}` ran longer than its {timeout:?} timeout",
                    env.tag().unwrap_or("?")
                ))))
            }
        };
        tally(|t| &t.steps_run, 1);
        tally(|t| &t.task_ms, millis(began.elapsed()));
        let reported = cx.finish_progress().await;
        let mut step = Step::new(self, env.token.clone());
        step.inline = Some(inline);
        step.gather = gather.clone();
        step.meta
            .insert(env.target.id(), (env.attempt, flow.created()));
        step.task = env.tag().map(str::to_owned);
        if matches!(ran, Ok(Erased::Adopt(_) | Erased::Deferred)) {
            self.note_pending(&env.target.id(), &flow, reported).await?;
        }
        match ran {
            Ok(Erased::Value(v)) => {
                step.run_plan(flow.take_plan()).await?;
                step.settle(env.target, Outcome::Ok(v), env.conts, false)
                    .await?;
            }
            Ok(Erased::Adopt(other)) => {
                flow.attach(
                    &other,
                    Cont::Settle {
                        target: env.target,
                        conts: env.conts,
                        kids: flow.created(),
                    },
                );
                step.run_plan(flow.take_plan()).await?;
            }
            Ok(Erased::Deferred) => step.run_plan(flow.take_plan()).await?,
            Err(e) => {
                flow.discard();
                let max = env
                    .opts
                    .max_attempts
                    .unwrap_or(self.config.default_max_attempts);
                if e.is_retryable() && env.attempt < max {
                    self.retry(env, &e).await?;
                    return Ok(None);
                }
                let failure = if e.is_retryable() {
                    Failure::crashed(format!(
                        "gave up after {} attempts; last error: {}",
                        env.attempt,
                        e.failure().message()
                    ))
                } else {
                    e.into_failure()
                };
                step.settle(env.target, Outcome::Err(failure), env.conts, false)
                    .await?;
            }
        }
        step.flush().await?;
        Ok(step.next)
    }

    /// The timeout of one attempt run with `opts`.
    fn timeout(&self, opts: &RunOpts) -> Duration {
        opts.timeout_ms
            .map(Duration::from_millis)
            .unwrap_or(self.config.default_timeout)
    }

    async fn retry(&self, mut env: Envelope, e: &Error) -> Result<(), BackendError> {
        let exp = env.attempt.saturating_sub(1).min(20);
        let delay = self
            .config
            .retry_base
            .saturating_mul(1 << exp)
            .min(self.config.retry_max);
        debug!(id = %env.target.id(), attempt = env.attempt, ?delay, error = %e, "retrying");
        env.attempt += 1;
        env.token = token();
        tally(|t| &t.retries, 1);
        self.queue
            .send(vec![Outgoing {
                body: self.seal(&env).await?,
                delay,
            }])
            .await
    }

    async fn bury(self: &Arc<Self>, body: &str, receive_count: u32) -> Result<(), Rejected> {
        let body = match &self.config.signing {
            Some(keys) => match keys.verify(body) {
                Ok(inner) => inner,
                Err(f) => {
                    // A forged message must not settle anybody's promise.
                    warn!(%f, "unverifiable dead letter dropped");
                    return Ok(());
                }
            },
            None => body,
        };
        let (target, conts, by, failure) = match decode_envelope(body) {
            Ok(env) => {
                let failure = match decode_task(&env.task) {
                    Err(f) => f,
                    Ok(_) => Failure::crashed(format!(
                        "message was dead-lettered after {receive_count} deliveries: the worker \
                         failed, timed out or crashed on every attempt (see the worker's logs)"
                    )),
                };
                (env.target, env.conts, env.token, failure)
            }
            Err(f) => match salvage(body) {
                Some((target, conts, by)) => (target, conts, by, f),
                None => {
                    warn!(%f, "dead letter without a readable promise id dropped");
                    return Ok(());
                }
            },
        };
        let mut step = Step::new(self, by);
        step.settle(target, Outcome::Err(failure), conts, false)
            .await?;
        step.flush().await?;
        tally(|t| &t.dead_lettered, 1);
        Ok(())
    }

    /// Encode an envelope as a message body, signed if signing is on. A body too
    /// large for the queue is stored out of line and the message points at it.
    pub async fn seal(&self, env: &Envelope) -> Result<String, BackendError> {
        let mut body = env.encode();
        if body.len() > INLINE_MESSAGE_LIMIT {
            let key = format!("blob#{}#{}", env.token, env.target.id());
            self.store.put_blob(&key, &body).await?;
            body = format!("{BLOB_POINTER}{key}");
        }
        Ok(match &self.config.signing {
            Some(keys) => keys.sign(&body),
            None => body,
        })
    }

    /// Verify (if signing is on) and decode a message body, fetching it from the
    /// store if it was too large for the queue.
    pub async fn open(&self, body: &str) -> Result<Envelope, Rejected> {
        let body = match &self.config.signing {
            Some(keys) => keys.verify(body).map_err(Rejected::Undecodable)?,
            None => body,
        };
        match body.strip_prefix(BLOB_POINTER) {
            Some(key) => {
                let stored = self.store.get_blob(key).await?.ok_or_else(|| {
                    Rejected::Undecodable(Failure::bad_input(format!(
                        "message body stored out of line under {key} is missing (expired?)"
                    )))
                })?;
                decode_envelope(&stored).map_err(Rejected::Undecodable)
            }
            None => decode_envelope(body).map_err(Rejected::Undecodable),
        }
    }

    /// Store an outcome out of line if it is too large to keep in a slot.
    async fn shrink(
        &self,
        cell: &Cell,
        outcome: Outcome,
        by: &str,
    ) -> Result<Outcome, BackendError> {
        if !matches!(outcome, Outcome::Ok(_)) {
            return Ok(outcome);
        }
        let text = serde_json::to_string(&outcome).unwrap_or_default();
        if text.len() <= INLINE_OUTCOME_LIMIT {
            return Ok(outcome);
        }
        let key = format!("blob#{by}#{}#{}", cell.key, cell.slot);
        self.store.put_blob(&key, &text).await?;
        Ok(Outcome::Stored { key })
    }

    /// Carry out a flow built by application code.
    pub async fn start(self: &Arc<Self>, flow: &Flow) -> Result<(), BackendError> {
        let plan = flow.take_plan();
        let root = plan
            .sends
            .first()
            .map(|env| env.target.id())
            .or_else(|| plan.joins.first().map(|j| j.0.clone()))
            .or_else(|| plan.resolves.first().map(|r| r.0.id()))
            .or_else(|| plan.remote.first().map(|r| r.0.clone()));
        let span = tracing::info_span!(
            "vow.enqueue",
            promise = root.as_ref().map(tracing::field::display),
            messages = plan.sends.len()
        );
        async {
            let mut step = Step::new(self, token());
            step.run_plan(plan).await?;
            step.flush().await
        }
        .instrument(span)
        .await
    }

    /// For repairs and redeliveries: whether the promise is already settled
    /// (`Some`), in which case the task does not run again. If this very message
    /// settled it, a crash may have cut the sends short: fire the continuations
    /// again as repairs; the inner option is a repair to run inline.
    async fn settled_before(
        &self,
        env: &Envelope,
        inline: Inline,
        gather: &Option<Arc<Gather>>,
    ) -> Result<Option<Option<Envelope>>, BackendError> {
        let cell = Cell::of(&env.target.id());
        let Some(mut record) = self.store.read(&cell.key).await? else {
            return Ok(None);
        };
        let Some(slot) = record.slots.remove(&cell.slot) else {
            return Ok(None);
        };
        if slot.by != env.token {
            debug!(id = %env.target.id(), "already settled: not running again");
            return Ok(Some(None));
        }
        debug!(id = %env.target.id(), "redelivered after settling: repairing");
        let mut step = Step::new(self, env.token.clone());
        step.inline = Some(inline);
        step.gather = gather.clone();
        let mut conts = env.conts.clone();
        conts.extend(record.later.remove(&cell.slot).unwrap_or_default());
        step.fire(conts, slot.outcome, true).await?;
        if let Target::Member { join, index, n } = &env.target {
            step.climb(join.clone(), *n, *index, record.count, true)
                .await?;
        }
        step.flush().await?;
        Ok(Some(step.next))
    }

    /// Cancel `id` and its known pending descendants: each settles `Cancelled` with
    /// `reason`, and their successors run with that failure. Returns how many
    /// promises this call cancelled. Tasks already running finish, but their
    /// promises stay cancelled; they can check [`Cx::cancelled`].
    pub async fn cancel(
        self: &Arc<Self>,
        id: &PromiseId,
        reason: &str,
    ) -> Result<u32, BackendError> {
        let mut step = Step::new(self, format!("{CANCELLED_BY}{}", token()));
        let failure = Outcome::Err(Failure::cancelled(reason.to_owned()));
        let mut queue = std::collections::VecDeque::from([id.clone()]);
        let mut seen = std::collections::HashSet::new();
        let mut cancelled = 0;
        while let Some(next) = queue.pop_front() {
            if !seen.insert(next.clone()) || seen.len() > 100_000 {
                continue;
            }
            let (slot, noted) = self.slot_and_noted_kids(&next).await?;
            queue.extend((0..noted).map(|k| next.child(k)));
            match slot {
                None if next.as_member().is_none() => {
                    step.settle(
                        Target::Promise(next.clone()),
                        failure.clone(),
                        Vec::new(),
                        false,
                    )
                    .await?;
                    cancelled += 1;
                }
                None => {}
                Some(slot) => {
                    queue.extend((0..slot.kids).map(|k| next.child(k)));
                    if let Outcome::Joined { join, n } = &slot.outcome {
                        queue.extend((0..*n).map(|i| join.member(i)));
                    }
                }
            }
        }
        step.flush().await?;
        Ok(cancelled)
    }

    /// The settled slot of `id`, if any: outcome, time, attempt and children.
    pub async fn slot(&self, id: &PromiseId) -> Result<Option<Slot>, BackendError> {
        let cell = Cell::of(id);
        Ok(self
            .store
            .read(&cell.key)
            .await?
            .and_then(|mut r| r.slots.remove(&cell.slot)))
    }

    /// The settled outcome of `id`, if any.
    pub async fn outcome(&self, id: &PromiseId) -> Result<Option<Outcome>, BackendError> {
        Ok(self.slot(id).await?.map(|s| s.outcome))
    }

    /// Expand an outcome into the JSON of `Result<T, Failure>`, reading join members.
    pub fn resolve<'a>(&'a self, outcome: &'a Outcome) -> BoxFut<'a, Result<Value, BackendError>> {
        Box::pin(async move {
            match outcome {
                Outcome::Ok(v) => Ok(result_json(Ok(v.clone()))),
                Outcome::Err(f) => Ok(result_json(Err(f.clone()))),
                Outcome::Stored { key } => {
                    let text = self.store.get_blob(key).await?.ok_or_else(|| {
                        BackendError::fatal(format!("stored outcome {key} is missing"))
                    })?;
                    let inner: Outcome = serde_json::from_str(&text)
                        .map_err(|e| BackendError::fatal(format!("stored outcome {key}: {e}")))?;
                    self.resolve(&inner).await
                }
                Outcome::Joined { join, n } => {
                    let keys: Vec<String> = (0..n.div_ceil(FAN_IN))
                        .map(|s| shard_key(join, 0, s))
                        .collect();
                    let records = self.store.read_many(&keys).await?;
                    let mut list = Vec::with_capacity(*n as usize);
                    for i in 0..*n {
                        let slot = records
                            .get((i / FAN_IN) as usize)
                            .and_then(Option::as_ref)
                            .and_then(|r| r.slots.get(&(i % FAN_IN)));
                        list.push(match slot {
                            Some(slot) => self.resolve(&slot.outcome).await?,
                            None => result_json(Err(Failure::crashed(format!(
                                "member {i} of join {join} has no outcome"
                            )))),
                        });
                    }
                    Ok(result_json(Ok(Value::Array(list))))
                }
            }
        })
    }

    /// Like [`Engine::handle_batch`], and also what the batch did (for metrics).
    pub async fn handle_batch_stats(
        self: &Arc<Self>,
        batch: Vec<Delivery>,
    ) -> (Vec<String>, BatchStats) {
        self.handle_batch_in(batch, None).await
    }

    /// Like [`Engine::handle_batch_stats`], for a batch that must be done by
    /// `deadline` (a Lambda invocation's): a successor whose timeout would end
    /// after it is sent to the queue instead of run inline, so the function is
    /// never stopped in the middle of a step it need not have started.
    pub async fn handle_batch_by(
        self: &Arc<Self>,
        batch: Vec<Delivery>,
        deadline: Instant,
    ) -> (Vec<String>, BatchStats) {
        self.handle_batch_in(batch, Some(deadline)).await
    }

    async fn handle_batch_in(
        self: &Arc<Self>,
        batch: Vec<Delivery>,
        deadline: Option<Instant>,
    ) -> (Vec<String>, BatchStats) {
        let gather = (batch.len() > 1 && !self.config.gather_for.is_zero())
            .then(|| Gather::new(self.store.clone(), batch.len(), self.config.gather_for));
        self.tallied(batch, |engine, d| {
            let span = tracing::info_span!(
                "vow.message",
                message_id = %d.message_id,
                receive_count = d.receive_count
            );
            let seat = Seat::new(gather.clone());
            async move {
                engine
                    .process_in(&d.body, d.receive_count, seat, deadline)
                    .await
            }
            .instrument(span)
        })
        .await
    }

    /// Like [`Engine::handle_dead_letters`], and also what the batch did.
    pub async fn handle_dead_letters_stats(
        self: &Arc<Self>,
        batch: Vec<Delivery>,
    ) -> (Vec<String>, BatchStats) {
        self.tallied(batch, |engine, d| async move {
            engine.bury(&d.body, d.receive_count).await
        })
        .await
    }

    async fn tallied<F, Fut>(
        self: &Arc<Self>,
        batch: Vec<Delivery>,
        f: F,
    ) -> (Vec<String>, BatchStats)
    where
        F: Fn(Arc<Engine>, Delivery) -> Fut,
        Fut: Future<Output = Result<(), Rejected>> + Send + 'static,
    {
        let began = std::time::Instant::now();
        let messages = batch.len() as u64;
        let counts = Arc::new(Tally::default());
        let failed = self
            .each(batch, |engine, d| counts.clone().scope(f(engine, d)))
            .await;
        let stats = counts.stats(messages, failed.len() as u64, millis(began.elapsed()));
        (failed, stats)
    }

    /// Note on a pending promise whose task adopted or deferred: the children it
    /// created (joins with their sizes) and that its own work is done. Written
    /// before the children are sent, so `vow tree` and [`crate::Vow::progress`]
    /// can always find them. Tasks that create nothing and report nothing skip it.
    async fn note_pending(
        &self,
        id: &PromiseId,
        flow: &Flow,
        reported: Option<(u64, u64)>,
    ) -> Result<(), BackendError> {
        let kids = flow.created();
        if kids == 0 && reported.is_none() {
            return Ok(());
        }
        let sizes = flow.join_sizes();
        let joins = if sizes.is_empty() {
            Default::default()
        } else {
            (0..kids)
                .filter_map(|k| sizes.get(&id.child(k)).map(|n| (k, *n)))
                .collect()
        };
        let total = reported.map_or(1, |(_, total)| total);
        let note = Note {
            done: Some(total),
            total: Some(total),
            kids,
            joins,
        };
        self.store.note(&Cell::of(id), &note).await
    }

    /// The settled slot of `id`, if any, and how many children its note names
    /// (a pending step that adopted or deferred).
    async fn slot_and_noted_kids(
        &self,
        id: &PromiseId,
    ) -> Result<(Option<Slot>, u32), BackendError> {
        let cell = Cell::of(id);
        let Some(mut record) = self.store.read(&cell.key).await? else {
            return Ok((None, 0));
        };
        let kids = record.notes.get(&cell.slot).map_or(0, |n| n.kids);
        Ok((record.slots.remove(&cell.slot), kids))
    }
}

/// The effects of processing one message: settles happen as they come, sends are
/// gathered and sent in batches.
struct Step<'e> {
    engine: &'e Engine,
    token: String,
    sends: Vec<Envelope>,
    /// For promises whose task ran here: the attempt and how many children it created.
    meta: std::collections::HashMap<PromiseId, (u32, u32)>,
    /// Whether the first successor fired may run inline instead of being sent.
    inline: Option<Inline>,
    /// That successor, once fired.
    next: Option<Envelope>,
    /// Where settles go to share writes with the rest of the batch.
    gather: Option<Arc<Gather>>,
    /// The tag of the task that ran here, if one did.
    task: Option<String>,
}

/// When a successor may run inline: while the message is young, and, in a
/// Lambda invocation, if its timeout ends before the invocation's.
#[derive(Clone, Copy, Debug)]
struct Inline {
    /// Until when successors run inline.
    until: Instant,
    /// The end of the invocation, if it has one.
    deadline: Option<Instant>,
}

/// Time kept at the end of an invocation for settling and sending.
const DEADLINE_MARGIN: Duration = Duration::from_secs(1);

impl Inline {
    /// Whether a successor with this timeout may run inline now.
    fn allows(&self, timeout: Duration) -> bool {
        let now = Instant::now();
        let ends_in_time = |deadline| {
            now.checked_add(timeout.saturating_add(DEADLINE_MARGIN))
                .is_some_and(|end| end <= deadline)
        };
        now < self.until && self.deadline.is_none_or(ends_in_time)
    }
}

/// Tokens of cancellations start with this.
const CANCELLED_BY: &str = "cancel:";

impl<'e> Step<'e> {
    fn new(engine: &'e Engine, token: String) -> Self {
        Step {
            engine,
            token,
            sends: Vec::new(),
            meta: Default::default(),
            inline: None,
            next: None,
            gather: None,
            task: None,
        }
    }

    async fn flush(&mut self) -> Result<(), BackendError> {
        if self.sends.is_empty() {
            return Ok(());
        }
        let mut messages = Vec::with_capacity(self.sends.len());
        for env in std::mem::take(&mut self.sends) {
            messages.push(Outgoing {
                body: self.engine.seal(&env).await?,
                delay: Duration::ZERO,
            });
        }
        self.engine.queue.send(messages).await
    }

    /// Carry out a plan; new messages are sent before the caller settles anything,
    /// so a crash cannot lose children of a settled promise.
    async fn run_plan(&mut self, plan: Plan) -> Result<(), BackendError> {
        let store = &self.engine.store;
        for (join, n, conts) in plan.joins {
            let target = Target::Promise(join.clone());
            if n == 0 {
                self.settle(target, Outcome::Joined { join, n }, conts, false)
                    .await?;
            } else if !conts.is_empty() {
                let named: Vec<(String, Cont)> =
                    conts.iter().map(|c| (cont_name(c), c.clone())).collect();
                if let Some(slot) = store.add_continuations(&Cell::of(&join), &named).await? {
                    self.fire(conts, slot.outcome, true).await?;
                }
            }
        }
        for (id, cont) in plan.remote {
            let named = [(cont_name(&cont), cont.clone())];
            if let Some(slot) = store.add_continuations(&Cell::of(&id), &named).await? {
                self.fire(vec![cont], slot.outcome, true).await?;
            }
        }
        self.sends.extend(plan.sends);
        self.flush().await?;
        for (target, conts, outcome) in plan.resolves {
            self.settle(target, outcome, conts, false).await?;
        }
        Ok(())
    }

    /// Settle `target` and fire its continuations, or repair if this message settled
    /// it before, in a `vow.settle` span.
    fn settle(
        &mut self,
        target: Target,
        outcome: Outcome,
        conts: Vec<Cont>,
        repair: bool,
    ) -> BoxFut<'_, Result<(), BackendError>> {
        let span = self.settle_span(&target.id());
        Box::pin(
            self.settle_here(target, outcome, conts, repair)
                .instrument(span),
        )
    }

    fn settle_here(
        &mut self,
        target: Target,
        outcome: Outcome,
        conts: Vec<Cont>,
        repair: bool,
    ) -> BoxFut<'_, Result<(), BackendError>> {
        Box::pin(async move {
            let cell = Cell::of(&target.id());
            let outcome = self.engine.shrink(&cell, outcome, &self.token).await?;
            let mut slot = Slot::new(outcome, self.token.clone());
            if let Some((attempt, kids)) = self.meta.get(&target.id()) {
                slot.attempt = *attempt;
                slot.kids = *kids;
            }
            let settled = match &self.gather {
                Some(gather) => gather.settle(cell, slot.clone()).await?,
                None => self.engine.store.settle(&cell, &slot).await?,
            };
            let (outcome, mut all, count, repair) = match settled {
                Settled::Won { count, later } => {
                    settled_event(&slot.outcome);
                    (slot.outcome, later, count, repair)
                }
                Settled::Lost { slot, count, later } if slot.by == self.token => {
                    debug!(id = %target.id(), "already settled by this message: repairing");
                    (slot.outcome, later, count, true)
                }
                Settled::Lost { slot, .. } if slot.by.starts_with(CANCELLED_BY) => {
                    // The canceller fired the stored continuations; the ones
                    // carried here are ours to fire.
                    debug!(id = %target.id(), "cancelled while pending");
                    return self.fire(conts, slot.outcome, true).await;
                }
                Settled::Lost { .. } => {
                    debug!(id = %target.id(), "already settled by another message");
                    return Ok(());
                }
            };
            all.splice(0..0, conts);
            self.fire(all, outcome, repair).await?;
            if let Target::Member { join, index, n } = target {
                self.climb(join, n, index, count, repair).await?;
            }
            Ok(())
        })
    }

    /// After a join member settles: when its shard is full, count the shard one level
    /// up, and so on; when the top shard is full, settle the join itself.
    async fn climb(
        &mut self,
        join: PromiseId,
        n: u32,
        mut index: u32,
        mut count: u32,
        repair: bool,
    ) -> Result<(), BackendError> {
        let mut level = 0;
        let mut width = n;
        loop {
            let shard = index / FAN_IN;
            let shard_len = FAN_IN.min(width - shard * FAN_IN);
            if count < shard_len {
                return Ok(());
            }
            let shards = width.div_ceil(FAN_IN);
            if shards == 1 {
                let done = Outcome::Joined {
                    join: join.clone(),
                    n,
                };
                return self
                    .settle(Target::Promise(join), done, Vec::new(), repair)
                    .await;
            }
            level += 1;
            let cell = Cell {
                key: shard_key(&join, level, shard / FAN_IN),
                slot: shard % FAN_IN,
            };
            let mark = Slot::new(Outcome::Ok(Value::Null), self.token.clone());
            count = match self.engine.store.settle(&cell, &mark).await? {
                Settled::Won { count, .. } => count,
                Settled::Lost { slot, count, .. } if slot.by == self.token => count,
                Settled::Lost { .. } => return Ok(()),
            };
            index = shard;
            width = shards;
        }
    }

    /// Fire continuations with an outcome.
    async fn fire(
        &mut self,
        conts: Vec<Cont>,
        outcome: Outcome,
        repair: bool,
    ) -> Result<(), BackendError> {
        for cont in conts {
            match cont {
                Cont::Then {
                    id,
                    task,
                    opts,
                    conts,
                } => {
                    let timeout = self.engine.timeout(&opts);
                    let env = Envelope {
                        v: crate::wire::WIRE_VERSION,
                        token: successor_token(&self.token, &id),
                        target: Target::Promise(id),
                        attempt: 1,
                        repair,
                        task,
                        input: Some(outcome.clone()),
                        opts,
                        conts,
                    };
                    if self.next.is_none() && self.inline.is_some_and(|i| i.allows(timeout)) {
                        self.next = Some(env);
                    } else {
                        self.sends.push(env);
                    }
                }
                Cont::Settle {
                    target,
                    conts,
                    kids,
                } => {
                    if kids > 0 {
                        self.meta.insert(target.id(), (0, kids));
                    }
                    self.settle(target, outcome.clone(), conts, repair).await?
                }
            }
        }
        Ok(())
    }

    /// The `vow.settle` span of settling `id`: the task and attempt are known when
    /// `id`'s own task ran in this step; the outcome is recorded when it settles.
    fn settle_span(&self, id: &PromiseId) -> tracing::Span {
        let span = tracing::info_span!(
            "vow.settle",
            promise = %id,
            task = tracing::field::Empty,
            attempt = tracing::field::Empty,
            outcome = tracing::field::Empty
        );
        if let Some((attempt, _)) = self.meta.get(id).filter(|(a, _)| *a > 0) {
            span.record("attempt", attempt);
            if let Some(task) = &self.task {
                span.record("task", task.as_str());
            }
        }
        span
    }
}

/// A promise settled (this write won): record the outcome on the `vow.settle`
/// span, count it, and log it (failures at INFO, values at DEBUG).
fn settled_event(outcome: &Outcome) {
    let kind = match outcome {
        Outcome::Err(f) => f.kind().as_str(),
        _ => "ok",
    };
    tracing::Span::current().record("outcome", kind);
    if let Outcome::Err(f) = outcome {
        tally(|t| &t.settled_failed, 1);
        tracing::info!(outcome = kind, failure = %f, "settled");
    } else {
        tally(|t| &t.settled_ok, 1);
        tracing::debug!(outcome = kind, "settled");
    }
}
