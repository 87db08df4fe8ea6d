//! [`Flow`]: builds promises and their continuations, then hands the engine a
//! [`Plan`] to carry out in one go.
//!
//! Inside a task the flow is the task's [`crate::Cx`]; the plan runs when the task
//! returns, so continuations known at creation time travel inside the messages and
//! cost no store write. In application code, [`crate::Vow::start`] runs it.

use crate::clock::{epoch_millis, millis, Clock};
use crate::engine::decide::{self, MAX_TIMER};
use crate::failure::Failure;
use crate::id::{task_token, token, PromiseId};
use crate::promise::{Handle, Promise, Resolver};
use crate::store::Note;
use crate::task::{encode_task, Task};
use crate::wire::{to_value, Cont, Envelope, Outcome, RunOpts, Target, MAX_JOIN, WIRE_VERSION};
use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

/// A builder of promises. Cheap to clone; clones share state.
///
/// ```
/// # use serde::{Deserialize, Serialize};
/// # use vow::prelude::*;
/// # #[derive(Serialize, Deserialize)] struct Fetch;
/// # #[vow::task("doc-flow-fetch")]
/// # impl Task for Fetch { type Input = (); type Output = u64;
/// #   async fn run(self, _: (), _: &Cx) -> Result<Resolution<u64>, Error> { done(1) } }
/// # #[derive(Serialize, Deserialize)] struct Sum;
/// # #[vow::task("doc-flow-sum")]
/// # impl Task for Sum { type Input = Result<Vec<Result<u64, Failure>>, Failure>; type Output = u64;
/// #   async fn run(self, all: Self::Input, _: &Cx) -> Result<Resolution<u64>, Error> {
/// #     done(all?.into_iter().map(|r| r.unwrap_or(0)).sum()) } }
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let vow = vow::Vow::embedded();
/// let flow = vow.flow();
/// let a = flow.when(Fetch);
/// let b = flow.when(Fetch);
/// let total = flow.all([a, b]).then(Sum);
/// vow.start(&flow).await.unwrap();
/// assert_eq!(vow.wait(&total, std::time::Duration::from_secs(5)).await.unwrap(), Ok(2));
/// # });
/// ```
#[derive(Clone)]
pub struct Flow {
    state: Arc<Mutex<FlowState>>,
}

struct FlowState {
    seed: PromiseId,
    /// What sleeps and deadlines count from.
    clock: Clock,
    /// The token a start of this flow settles with: the same on every try.
    token: String,
    seq: u32,
    sends: Vec<Envelope>,
    pending: HashMap<PromiseId, Vec<Cont>>,
    remote: Vec<(PromiseId, Cont)>,
    joins: Vec<(PromiseId, u32)>,
    resolves: Vec<(Target, Vec<Cont>, Outcome)>,
    /// Promises no message of this flow carries the continuations of (sleeps,
    /// callbacks): their continuations are stored in their records.
    /// Sleeps and callbacks created here, with what their records note.
    waiting: Vec<(PromiseId, Note)>,
    /// A plan whose start failed, to carry out again on the next start.
    kept: Option<Plan>,
    /// Why the flow cannot be carried out (a join too large), if it cannot.
    invalid: Option<String>,
    /// The flow's name, if it has one: it starts once per name.
    name: Option<String>,
}

/// What a flow asks the engine to do.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    /// New messages.
    pub sends: Vec<Envelope>,
    /// Joins created here: id, member count, continuations to store with them.
    pub joins: Vec<(PromiseId, u32, Vec<Cont>)>,
    /// Continuations on promises created elsewhere, to store or fire.
    pub remote: Vec<(PromiseId, Cont)>,
    /// Resolver calls.
    pub resolves: Vec<(Target, Vec<Cont>, Outcome)>,
    /// Sleeps and callbacks created here: their successors (which no message
    /// carries) and their note, written into their records before anything is
    /// sent.
    pub stored: Vec<(PromiseId, Vec<Cont>, Note)>,
}

/// Anything that names a promise of `T`: a [`Promise`], a [`Handle`], or a
/// reference to either.
pub trait AsPromise<T> {
    /// The promise's id.
    fn promise_id(&self) -> PromiseId;
}

impl<T> AsPromise<T> for Promise<T> {
    fn promise_id(&self) -> PromiseId {
        self.id().clone()
    }
}

impl<T> AsPromise<T> for Handle<T> {
    fn promise_id(&self) -> PromiseId {
        self.id().clone()
    }
}

impl<T, P: AsPromise<T>> AsPromise<T> for &P {
    fn promise_id(&self) -> PromiseId {
        (**self).promise_id()
    }
}

impl Flow {
    /// A flow whose children's ids derive from `seed`, timed by `clock`.
    pub(crate) fn new(seed: PromiseId, clock: Clock) -> Self {
        Flow {
            state: Arc::new(Mutex::new(FlowState {
                seed,
                clock,
                token: token(),
                seq: 0,
                sends: Vec::new(),
                pending: HashMap::new(),
                remote: Vec::new(),
                joins: Vec::new(),
                resolves: Vec::new(),
                waiting: Vec::new(),
                kept: None,
                invalid: None,
                name: None,
            })),
        }
    }

    /// The flow named `name`: its promises' ids derive from the name, and it
    /// starts once (see [`crate::Vow::flow_named`]).
    pub(crate) fn named(kind: &str, name: &str, clock: Clock) -> Self {
        let flow = Flow::new(PromiseId::named(kind, name), clock);
        let mut st = flow.lock();
        if let Some(why) = bad_name(name) {
            st.invalid = Some(why);
        }
        st.name = Some(name.to_owned());
        drop(st);
        flow
    }

    /// The flow's name, if it was made by [`crate::Vow::flow_named`].
    pub fn name(&self) -> Option<String> {
        self.lock().name.clone()
    }

    /// The seed its promises' ids derive from: for a named flow, the id of
    /// the record that claims its name.
    pub(crate) fn seed(&self) -> PromiseId {
        self.lock().seed.clone()
    }

    fn lock(&self) -> MutexGuard<'_, FlowState> {
        // A panic while holding the lock leaves plain data behind; keep going.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Start `task`; its promise settles with what the task returns.
    pub fn when<K: Task<Input = ()>>(&self, task: K) -> Promise<K::Output> {
        let mut st = self.lock();
        let id = st.next_id();
        let env = envelope(Target::Promise(id.clone()), &task, None);
        st.pending.entry(id.clone()).or_default();
        st.sends.push(env);
        drop(st);
        Promise::new(id, self.clone())
    }

    /// Start a task already encoded (`{"task": tag, "with": ...}`), as a
    /// schedule keeps its job; returns its promise's id.
    pub(crate) fn when_encoded(&self, task: Value, opts: RunOpts) -> PromiseId {
        let mut st = self.lock();
        let id = st.next_id();
        let env = encoded_envelope(Target::Promise(id.clone()), task, opts, None);
        st.pending.entry(id.clone()).or_default();
        st.sends.push(env);
        id
    }

    /// A new promise id of this flow that nothing settles but a resolve or a
    /// cancel (a schedule's off switch).
    pub(crate) fn reserve(&self) -> PromiseId {
        self.lock().next_id()
    }

    /// This flow's [`Promise`] for a promise made elsewhere (a [`Handle`] kept by
    /// application code, say), to chain on with [`Promise::then`].
    pub fn bind<T>(&self, promise: impl AsPromise<T>) -> Promise<T> {
        Promise::new(promise.promise_id(), self.clone())
    }

    /// Run `task` with `promise`'s outcome when it settles. `promise` may come
    /// from anywhere: this flow, another task, or a [`Handle`] application code
    /// kept.
    pub fn then<T, K: Task<Input = Result<T, Failure>>>(
        &self,
        promise: impl AsPromise<T>,
        task: K,
    ) -> Promise<K::Output> {
        let promise = promise.promise_id();
        let mut st = self.lock();
        let id = st.next_id();
        let cont = Cont::Then {
            id: id.clone(),
            opts: task.opts(),
            task: encode_task(&task),
            conts: Vec::new(),
        };
        st.pending.entry(id.clone()).or_default();
        st.attach(&promise, cont);
        drop(st);
        Promise::new(id, self.clone())
    }

    /// A promise of every outcome, in order, once all `promises` settle. Failures
    /// do not short-circuit: each member's `Err` is in the list. A successor
    /// takes a [`crate::Joined<T>`]; [`crate::JoinedExt`] takes it apart.
    pub fn all<T, P: AsPromise<T>>(
        &self,
        promises: impl IntoIterator<Item = P>,
    ) -> Promise<Vec<Result<T, Failure>>> {
        // One past the limit is enough to refuse it: an endless iterator must not hang.
        let members: Vec<PromiseId> = promises
            .into_iter()
            .take(MAX_JOIN as usize + 1)
            .map(|p| p.promise_id())
            .collect();
        let mut st = self.lock();
        let join = st.next_id();
        let n = st.join_size(members.len());
        for (index, member) in (0..n).zip(members) {
            let target = Target::Member {
                join: join.clone(),
                index,
                n,
            };
            st.attach(
                &member,
                Cont::Settle {
                    target,
                    conts: Vec::new(),
                    kids: 0,
                },
            );
        }
        st.pending.entry(join.clone()).or_default();
        st.joins.push((join.clone(), n));
        drop(st);
        Promise::new(join, self.clone())
    }

    /// Run every task in parallel and join their outcomes: like `all` over `when`s,
    /// but each member settles straight into the join (one store write per member).
    pub fn fan_out<K: Task<Input = ()>>(
        &self,
        tasks: impl IntoIterator<Item = K>,
    ) -> Promise<Vec<Result<K::Output, Failure>>> {
        let tasks: Vec<K> = tasks.into_iter().take(MAX_JOIN as usize + 1).collect();
        let mut st = self.lock();
        let join = st.next_id();
        let n = st.join_size(tasks.len());
        for (index, task) in (0..n).zip(&tasks) {
            let target = Target::Member {
                join: join.clone(),
                index,
                n,
            };
            st.sends.push(envelope(target, task, None));
        }
        st.pending.entry(join.clone()).or_default();
        st.joins.push((join.clone(), n));
        drop(st);
        Promise::new(join, self.clone())
    }

    /// Now, as this flow's sleeps and deadlines count.
    pub(crate) fn now(&self) -> SystemTime {
        self.lock().clock.now()
    }

    /// A promise that settles with `()` once `duration` has passed: a durable
    /// sleep. Nothing runs and no worker waits meanwhile: a timer message waits
    /// in the queue, checking in every [`crate::EngineConfig::timer_hop`] (15
    /// minutes), and settles the promise at its time. A sleep may last up to
    /// 366 days; a longer one makes the flow fail to start (in a task: fail).
    /// Cancelling the sleeping promise ends it at once with `Cancelled`.
    ///
    /// ```
    /// # use serde::{Deserialize, Serialize};
    /// # use vow::prelude::*;
    /// # use std::time::Duration;
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let vow = vow::Vow::embedded();
    /// let flow = vow.flow();
    /// let reminder = flow.sleep(Duration::from_millis(200)).then(vow::closure!(
    ///     "doc-remind", [], |slept: Result<(), Failure>| -> Result<String, Error> {
    ///         slept?;
    ///         Ok("time to renew".to_owned())
    ///     }
    /// ));
    /// let started = std::time::Instant::now();
    /// vow.start(&flow).await?;
    /// let said = vow.wait(&reminder, Duration::from_secs(5)).await?;
    /// assert_eq!(said, Ok("time to renew".to_owned()));
    /// assert!(started.elapsed() >= Duration::from_millis(200));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn sleep(&self, duration: Duration) -> Promise<()> {
        let at = self.now().checked_add(duration);
        self.timed(
            at,
            duration,
            Outcome::Ok(Value::Null),
            "sleep",
            Note::default(),
        )
    }

    /// A promise that settles with `()` at `at` (at once if `at` has passed);
    /// see [`Flow::sleep`].
    pub fn sleep_until(&self, at: SystemTime) -> Promise<()> {
        let far = at.duration_since(self.now()).unwrap_or_default();
        self.timed(
            Some(at),
            far,
            Outcome::Ok(Value::Null),
            "sleep",
            Note::default(),
        )
    }

    /// A promise that something outside the flow settles, and the [`Resolver`]
    /// that settles it: hand the resolver (serializable; [`Resolver::id`] is
    /// enough to rebuild it) to a task, a person, or another system, and settle
    /// it with [`crate::Vow::resolve`] or [`Flow::resolve`]. The first
    /// resolution wins. Unless resolved within `timeout`, the promise settles
    /// with a [`FailureKind::Timeout`](crate::FailureKind::Timeout) failure
    /// (timeouts may last up to 366 days). Its successors are stored with it,
    /// so a resolve, the deadline and a cancel all run them at once.
    ///
    /// ```
    /// # use vow::prelude::*;
    /// # use std::time::Duration;
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let vow = vow::Vow::embedded();
    /// let flow = vow.flow();
    /// let (approval, resolver) = flow.callback::<bool>(Duration::from_secs(3_600));
    /// let answer = approval.then(vow::closure!(
    ///     "doc-approved", [], |approved: Result<bool, Failure>| -> Result<String, Error> {
    ///         Ok(if approved? { "shipped" } else { "refunded" }.to_owned())
    ///     }
    /// ));
    /// vow.start(&flow).await?;
    /// // Later, maybe in another process: only the id is needed.
    /// let resolver = vow::Resolver::<bool>::from_id(resolver.id());
    /// vow.resolve(&resolver, Ok(true)).await?;
    /// let said = vow.wait(&answer, Duration::from_secs(5)).await?;
    /// assert_eq!(said, Ok("shipped".to_owned()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn callback<T>(&self, timeout: Duration) -> (Promise<T>, Resolver<T>) {
        self.callback_beating(timeout, None)
    }

    /// A [`Flow::callback`] whose holder must also show it is alive: unless
    /// [`crate::Vow::heartbeat`] is called at least every `heartbeat` (counted
    /// from the callback's creation, then from each beat), the promise
    /// settles with a [`FailureKind::Timeout`](crate::FailureKind::Timeout)
    /// failure before its `timeout`, as Step Functions' `SendTaskHeartbeat`
    /// does. Each beat is one write.
    ///
    /// ```
    /// # use vow::prelude::*;
    /// # use std::time::Duration;
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let vow = vow::Vow::embedded();
    /// let flow = vow.flow();
    /// let hour = Duration::from_secs(3_600);
    /// let (report, resolver) = flow.callback_with_heartbeat::<u64>(24 * hour, hour);
    /// vow.start(&flow).await?;
    /// vow.skip_time(hour / 2)?;
    /// assert!(vow.heartbeat(&resolver).await?, "still waiting: the beat counts");
    /// vow.skip_time(2 * hour)?; // no beat for two hours
    /// let outcome = vow.wait(&report, Duration::from_secs(5)).await?;
    /// assert_eq!(outcome.map_err(|f| f.kind()), Err(FailureKind::Timeout));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn callback_with_heartbeat<T>(
        &self,
        timeout: Duration,
        heartbeat: Duration,
    ) -> (Promise<T>, Resolver<T>) {
        self.callback_beating(timeout, Some(heartbeat))
    }

    fn callback_beating<T>(
        &self,
        timeout: Duration,
        heartbeat: Option<Duration>,
    ) -> (Promise<T>, Resolver<T>) {
        let at = self.now().checked_add(timeout);
        let late = Outcome::Err(Failure::timeout(format!(
            "the callback was not resolved within {timeout:?}"
        )));
        let note = Note {
            resolvable: true,
            heartbeat_ms: heartbeat.map(millis),
            ..Note::default()
        };
        let promise = self.timed(at, timeout, late, "callback timeout", note);
        if let Some(every) = heartbeat.filter(|every| *every < timeout) {
            let silent = Outcome::Err(Failure::timeout(format!(
                "the callback had no heartbeat for {every:?}"
            )));
            let at = epoch_millis(self.now()).saturating_add(millis(every));
            let target = Target::Promise(promise.id().clone());
            self.lock()
                .sends
                .push(Envelope::heartbeat_timer(target, silent, at, millis(every)));
        }
        let resolver = Resolver::from_id(promise.id().clone());
        (promise, resolver)
    }

    /// A promise settled by a timer with `outcome` at `at`, `far` from now;
    /// its continuations wait in its record, with `note`. `what` names it in
    /// errors.
    fn timed<T>(
        &self,
        at: Option<SystemTime>,
        far: Duration,
        outcome: Outcome,
        what: &str,
        mut note: Note,
    ) -> Promise<T> {
        let mut st = self.lock();
        let id = st.next_id();
        match at {
            Some(at) if far <= MAX_TIMER => {
                let target = Target::Promise(id.clone());
                note.wakes_at = Some(epoch_millis(at));
                st.sends
                    .push(Envelope::timer(target, outcome, epoch_millis(at)));
            }
            _ => {
                st.invalid = Some(format!(
                    "a {what} of {far:?} exceeds the {} days allowed",
                    MAX_TIMER.as_secs() / 86_400
                ));
            }
        }
        st.pending.entry(id.clone()).or_default();
        st.waiting.push((id.clone(), note));
        drop(st);
        Promise::new(id, self.clone())
    }

    /// Settle the promise behind `resolver` (first resolution wins).
    pub fn resolve<T: Serialize>(&self, resolver: &Resolver<T>, result: Result<T, Failure>) {
        let outcome = match result {
            Ok(v) => match to_value(&v) {
                Ok(v) => Outcome::Ok(v),
                Err(f) => Outcome::Err(f),
            },
            Err(f) => Outcome::Err(f),
        };
        let mut st = self.lock();
        if let Target::Promise(id) = &resolver.target {
            if id.as_member().is_some() {
                st.invalid = Some(format!(
                    "{id} is a join member: no resolver settles it (Resolver::from_id takes \
                     the id of a callback)"
                ));
                return;
            }
        }
        st.resolves
            .push((resolver.target.clone(), resolver.conts.clone(), outcome));
    }

    /// Attach a continuation to a promise (used for adoption).
    pub(crate) fn attach(&self, promise: &PromiseId, cont: Cont) {
        self.lock().attach(promise, cont);
    }

    /// The token a start of this flow settles with.
    pub(crate) fn token(&self) -> String {
        self.lock().token.clone()
    }

    /// Why this flow cannot be carried out, if it cannot.
    pub(crate) fn invalid(&self) -> Option<String> {
        let st = self.lock();
        if st.invalid.is_some() {
            return st.invalid.clone();
        }
        // Successors of sleeps and callbacks wait in their records, where a
        // resolve, a cancel and the timer all find them; more than the
        // record's share could only travel in a timer that may wait for months.
        let mut pending = st.pending.clone();
        for (id, _) in &st.waiting {
            let conts = assemble(pending.remove(id).unwrap_or_default(), &mut pending);
            let size = serde_json::to_vec(&conts).map_or(usize::MAX, |b| b.len());
            if size > decide::TIMED_SUCCESSORS_IN_RECORD {
                return Some(format!(
                    "the steps chained after sleep or callback {id} take {size} bytes; at most \
                     {} may wait with it: keep large state out of the steps (store it and pass \
                     its key)",
                    decide::TIMED_SUCCESSORS_IN_RECORD
                ));
            }
        }
        None
    }

    /// Keep a plan whose start failed: the next [`Flow::take_plan`] returns it again.
    pub(crate) fn keep(&self, plan: Plan) {
        let mut st = self.lock();
        let mut kept = st.kept.take().unwrap_or_default();
        kept.sends.extend(plan.sends);
        kept.joins.extend(plan.joins);
        kept.remote.extend(plan.remote);
        kept.resolves.extend(plan.resolves);
        kept.stored.extend(plan.stored);
        st.kept = Some(kept);
    }

    /// Take everything built so far as a plan, leaving the flow empty.
    pub(crate) fn take_plan(&self) -> Plan {
        let mut st = self.lock();
        let kept = st.kept.take().unwrap_or_default();
        let sends = std::mem::take(&mut st.sends);
        let mut pending = std::mem::take(&mut st.pending);
        // Successors of sleeps and callbacks wait in their records (at most
        // their share of it: see `Flow::invalid`).
        let mut stored = Vec::new();
        for (id, note) in std::mem::take(&mut st.waiting) {
            let own = pending.remove(&id).unwrap_or_default();
            let conts = assemble(own, &mut pending);
            stored.push((id, conts, note));
        }
        let sends: Vec<Envelope> = sends
            .into_iter()
            .map(|mut env| {
                let own = pending.remove(&env.target.id()).unwrap_or_default();
                env.conts = assemble(own, &mut pending);
                env
            })
            .collect();
        let joins: Vec<(PromiseId, u32, Vec<Cont>)> = std::mem::take(&mut st.joins)
            .into_iter()
            .map(|(id, n)| {
                let own = pending.remove(&id).unwrap_or_default();
                let conts = assemble(own, &mut pending);
                (id, n, conts)
            })
            .collect();
        let remote: Vec<(PromiseId, Cont)> = std::mem::take(&mut st.remote)
            .into_iter()
            .map(|(id, cont)| {
                let mut one = assemble(vec![cont], &mut pending);
                (id, one.remove(0))
            })
            .collect();
        let resolves = std::mem::take(&mut st.resolves);
        Plan {
            sends: kept.sends.into_iter().chain(sends).collect(),
            joins: kept.joins.into_iter().chain(joins).collect(),
            remote: kept.remote.into_iter().chain(remote).collect(),
            resolves: kept.resolves.into_iter().chain(resolves).collect(),
            stored: kept.stored.into_iter().chain(stored).collect(),
        }
    }

    /// How many promises this flow has created (their ids are `seed.child(0..n)`).
    pub(crate) fn created(&self) -> u32 {
        self.lock().seq
    }

    /// The joins built so far and their member counts.
    pub(crate) fn join_sizes(&self) -> HashMap<PromiseId, u32> {
        self.lock().joins.iter().cloned().collect()
    }

    /// Discard everything built so far (a failed attempt's children).
    pub(crate) fn discard(&self) {
        let _ = self.take_plan();
    }
}

impl fmt::Debug for Flow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.lock();
        f.debug_struct("Flow")
            .field("seed", &st.seed)
            .field("sends", &st.sends.len())
            .finish_non_exhaustive()
    }
}

impl FlowState {
    /// The size of a join of `len` members, marking the flow invalid if it is
    /// larger than [`MAX_JOIN`].
    fn join_size(&mut self, len: usize) -> u32 {
        match u32::try_from(len) {
            Ok(n) if n <= MAX_JOIN => n,
            _ => {
                self.invalid = Some(format!(
                    "a join of more than {MAX_JOIN} promises ({len} or more): at most \
                     {MAX_JOIN} are allowed; split it into joins of joins"
                ));
                0
            }
        }
    }

    fn next_id(&mut self) -> PromiseId {
        let id = self.seed.child(self.seq);
        self.seq += 1;
        id
    }

    fn attach(&mut self, promise: &PromiseId, cont: Cont) {
        match self.pending.get_mut(promise) {
            Some(conts) => conts.push(cont),
            None => self.remote.push((promise.clone(), cont)),
        }
    }
}

/// What [`crate::Vow::start`] did.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Started {
    /// This call started the flow (or finished what an earlier, failed try of
    /// this very call began).
    New,
    /// A flow of the same name ([`crate::Vow::flow_named`]) was started
    /// before, by another call: nothing was sent. The promises of a flow built
    /// the same way are that flow's, so waiting on them waits on it.
    Existing,
}

/// The longest flow name, in bytes.
const MAX_NAME_LEN: usize = 256;

/// Why `name` cannot name a flow, if it cannot.
fn bad_name(name: &str) -> Option<String> {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Some(format!(
            "a flow name must be 1 to {MAX_NAME_LEN} bytes, not {}",
            name.len()
        ));
    }
    name.chars()
        .any(char::is_control)
        .then(|| format!("a flow name may not contain control characters: {name:?}"))
}

/// Move the continuations of locally created promises into the continuations that
/// create them, so they travel inside messages.
fn assemble(conts: Vec<Cont>, pending: &mut HashMap<PromiseId, Vec<Cont>>) -> Vec<Cont> {
    conts
        .into_iter()
        .map(|cont| match cont {
            Cont::Then {
                id,
                task,
                opts,
                mut conts,
            } => {
                conts.extend(pending.remove(&id).unwrap_or_default());
                Cont::Then {
                    conts: assemble(conts, pending),
                    id,
                    task,
                    opts,
                }
            }
            Cont::Settle {
                target,
                conts,
                kids,
            } => Cont::Settle {
                conts: assemble(conts, pending),
                target,
                kids,
            },
        })
        .collect()
}

fn envelope<K: Task>(target: Target, task: &K, input: Option<Outcome>) -> Envelope {
    encoded_envelope(target, encode_task(task), task.opts(), input)
}

fn encoded_envelope(
    target: Target,
    task: Value,
    opts: RunOpts,
    input: Option<Outcome>,
) -> Envelope {
    Envelope {
        v: WIRE_VERSION,
        token: task_token(&target.id()),
        target,
        attempt: 1,
        repair: false,
        task,
        input,
        opts,
        conts: Vec::new(),
    }
}
