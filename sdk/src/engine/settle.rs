//! Settling a promise, firing its continuations, and counting join arrivals.
//!
//! Rule 1: a slot is written once, by one conditional write naming its writer's
//! token. Rule 2: a step's new messages are sent before anything it settles, and
//! the message is deleted only after [`Step::flush`]. Rule 3: a settle whose
//! write loses still delivers everything, as repairs under the writer's token
//! ([`decide::owed`], [`decide::firing_token`]).

use super::decide::{self, Climb, Owed, Writer};
use super::{BoxFut, Engine};
use crate::error::BackendError;
use crate::flow::Plan;
use crate::gather::Gather;
use crate::id::{successor_token, PromiseId};
use crate::queue::Outgoing;
use crate::stats::tally;
use crate::store::{shard_key, Cell, Note, Settled, FAN_IN};
use crate::wire::{Cont, Envelope, Outcome, Slot, Target};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::{debug, Instrument};

/// The effects of processing one message: settles happen as they come, sends are
/// gathered and sent in batches.
pub(super) struct Step<'e> {
    engine: &'e Engine,
    pub(super) token: String,
    sends: Vec<Envelope>,
    /// For promises whose task ran here: the attempt and how many children it created.
    pub(super) meta: HashMap<PromiseId, (u32, u32)>,
    /// Whether the first successor fired may run inline instead of being sent.
    pub(super) inline: Option<Inline>,
    /// That successor, once fired.
    pub(super) next: Option<Envelope>,
    /// Where settles go to share writes with the rest of the batch.
    pub(super) gather: Option<Arc<Gather>>,
    /// The tag of the task that ran here, if one did.
    pub(super) task: Option<String>,
    /// Settles fired by `Cont::Settle` continuations, waiting their turn: they
    /// run one after another rather than one inside another, so a chain of
    /// adoptions unwinds in a bounded stack.
    settles: Vec<Fired>,
    /// How many settles this step has made; past [`MAX_SETTLES_PER_STEP`], the
    /// rest go out as resolve messages.
    settled: usize,
    /// For a timer's firing: its promise, whose slot found written by the
    /// timer's own token means another handling of the same firing may be
    /// delivering it now ([`decide::timer_copy`]).
    pub(super) firing: Option<PromiseId>,
    /// Set when that happened: the step delivered nothing.
    pub(super) found_firing: bool,
}

/// A settle fired by a continuation, with the token it fires under.
struct Fired {
    token: String,
    target: Target,
    outcome: Outcome,
    conts: Vec<Cont>,
    repair: bool,
}

/// The most settles one message makes itself. A longer chain (an adoption loop
/// unwinding, say) continues in resolve messages under the same tokens, each
/// making as many again, so a message's work stays bounded whatever the length
/// of the chain, and so does its cost per settle.
pub(super) const MAX_SETTLES_PER_STEP: usize = 64;

/// When a successor may run inline: while the message is young, and, in a
/// Lambda invocation, if its timeout ends before the invocation's.
#[derive(Clone, Copy, Debug)]
pub(super) struct Inline {
    /// Until when successors run inline.
    until: Instant,
    /// The end of the invocation, if it has one.
    deadline: Option<Instant>,
}

/// Time kept at the end of an invocation for settling and sending.
const DEADLINE_MARGIN: Duration = Duration::from_secs(1);

impl Inline {
    /// Successors run inline for `inline_for` from now, and end by `deadline`.
    pub(super) fn new(inline_for: Duration, deadline: Option<Instant>) -> Self {
        let now = Instant::now();
        Inline {
            until: now.checked_add(inline_for).unwrap_or(now),
            deadline,
        }
    }

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

impl<'e> Step<'e> {
    pub(super) fn new(engine: &'e Engine, token: String) -> Self {
        Step {
            engine,
            token,
            sends: Vec::new(),
            meta: Default::default(),
            inline: None,
            next: None,
            gather: None,
            task: None,
            settles: Vec::new(),
            settled: 0,
            firing: None,
            found_firing: false,
        }
    }

    /// Send what this step fired so far, settle what continuations fired,
    /// and send what those settles fired in turn.
    pub(super) async fn flush(&mut self) -> Result<(), BackendError> {
        // What is queued goes first: a settle fired here may settle the
        // promise of the step whose children are queued (a step that adopted
        // a settled promise), and rule 2 sends children before that.
        self.send_queued().await?;
        self.settle_fired().await?;
        self.send_queued().await
    }

    /// Send what is queued; far timers go into the timer index instead.
    async fn send_queued(&mut self) -> Result<(), BackendError> {
        if self.sends.is_empty() {
            return Ok(());
        }
        let mut messages = Vec::with_capacity(self.sends.len());
        for env in std::mem::take(&mut self.sends) {
            if let Some(Some(at)) = env.timer_at() {
                if self.engine.timer_wake(at) == decide::Wake::Index {
                    self.engine.index_timer(&env, at).await?;
                    continue;
                }
            }
            messages.push(Outgoing {
                delay: self.engine.delay_of(&env),
                body: self.engine.seal(&env).await?,
            });
        }
        self.engine.queue.send(messages).await
    }

    /// Carry out a plan. Everything it causes is sent before it returns, and so
    /// before the caller settles the task's own promise (rule 2): a redelivery
    /// that finds that promise settled repairs only the promise's own
    /// continuations, so what the plan fired (children, successors of resolved
    /// and already-settled promises) must not wait for it, nor run inline.
    pub(super) async fn run_plan(&mut self, plan: Plan) -> Result<(), BackendError> {
        let inline = self.inline.take();
        let carried_out = self.carry_out(plan).await;
        self.inline = inline;
        carried_out?;
        self.flush().await
    }

    async fn carry_out(&mut self, plan: Plan) -> Result<(), BackendError> {
        for (join, n, conts) in plan.joins {
            if n == 0 {
                let token = decide::join_token(&join);
                let target = Target::Promise(join.clone());
                self.settle_as(token, target, Outcome::Joined { join, n }, conts, false)
                    .await?;
            } else {
                self.store_or_fire(&join, conts).await?;
            }
        }
        for (id, conts, note) in plan.stored {
            self.wait_with(&id, conts, &note).await?;
        }
        for (id, cont) in plan.remote {
            self.store_or_fire(&id, vec![cont]).await?;
        }
        self.sends.extend(plan.sends);
        self.flush().await?;
        for (target, conts, outcome) in plan.resolves {
            let token = decide::resolve_token(&target.id(), &crate::id::nonce());
            self.settle_outside(&token, target, conts, outcome).await?;
        }
        Ok(())
    }

    /// Settle `target` with `outcome` from application code (a resolve, a
    /// cancel), under `token`, and return whether the slot is `token`'s (this
    /// write's, or an earlier try's). Rule 7: there is no message to redeliver,
    /// so a *guard* goes first: a resolve message under the same token that,
    /// when a worker takes it, finds the slot written by its own token and
    /// delivers what is stored with it, or settles the slot itself if this
    /// process died before its write. Nothing is fired from here, so the
    /// guard is the one writer that delivers, once (rule 8), and it costs a
    /// read rather than a write when it finds the slot written.
    pub(super) async fn settle_outside(
        &mut self,
        token: &str,
        target: Target,
        conts: Vec<Cont>,
        outcome: Outcome,
    ) -> Result<bool, BackendError> {
        let mut guard = Envelope::resolve(target.clone(), conts, outcome.clone(), token.to_owned());
        guard.repair = true;
        self.sends.push(guard);
        self.flush().await?;
        let member = matches!(target, Target::Member { .. });
        let outcome = self.engine.shrink(outcome, member).await?;
        let slot = Slot::new(outcome, token.to_owned());
        Ok(
            match self
                .engine
                .store
                .settle(&Cell::of(&target.id()), &slot)
                .await?
            {
                Settled::Won { .. } => true,
                Settled::Lost { slot, .. } => slot.by == token,
            },
        )
    }

    /// Store `conts` with the promise `id` until it settles, or fire them (as
    /// repairs) if it has settled already.
    async fn store_or_fire(
        &mut self,
        id: &PromiseId,
        conts: Vec<Cont>,
    ) -> Result<(), BackendError> {
        if conts.is_empty() {
            return Ok(());
        }
        let cell = Cell::of(id);
        let named = self.engine.later_names(&cell, &conts);
        if let Some(slot) = self.engine.store.add_continuations(&cell, &named).await? {
            // Fired as the slot's writer would have (rule 3): under its token.
            let own = std::mem::replace(&mut self.token, slot.by);
            let fired = self.fire(conts, slot.outcome, true).await;
            self.token = own;
            fired?;
        }
        Ok(())
    }

    /// Store a sleep's or a callback's successors `conts` and `note` in its
    /// record, or fire them (as repairs, under the writer's token) if it has
    /// settled already.
    pub(super) async fn wait_with(
        &mut self,
        id: &PromiseId,
        conts: Vec<Cont>,
        note: &Note,
    ) -> Result<(), BackendError> {
        let cell = Cell::of(id);
        let named = self.engine.later_names(&cell, &conts);
        if let Some(slot) = self.engine.store.wait_with(&cell, &named, note).await? {
            let own = std::mem::replace(&mut self.token, slot.by);
            let fired = self.fire(conts, slot.outcome, true).await;
            self.token = own;
            fired?;
        }
        Ok(())
    }

    /// Settle as `token` rather than as this step's message: a join settles as
    /// the join, a resolver as the resolver ([`decide`] says why). Successors
    /// fired then carry tokens derived from `token`.
    async fn settle_as(
        &mut self,
        token: String,
        target: Target,
        outcome: Outcome,
        conts: Vec<Cont>,
        repair: bool,
    ) -> Result<bool, BackendError> {
        let own = std::mem::replace(&mut self.token, token);
        let settled = self.settle(target, outcome, conts, repair).await;
        self.token = own;
        settled
    }

    /// Settle `target` and deliver what is owed (see [`decide::owed`]), in a
    /// `vow.settle` span. Returns whether this write settled it.
    pub(super) fn settle(
        &mut self,
        target: Target,
        outcome: Outcome,
        conts: Vec<Cont>,
        repair: bool,
    ) -> BoxFut<'_, Result<bool, BackendError>> {
        Box::pin(async move {
            let won = self.settle_one(target, outcome, conts, repair).await?;
            self.settle_fired().await?;
            Ok(won)
        })
    }

    fn settle_one(
        &mut self,
        target: Target,
        outcome: Outcome,
        conts: Vec<Cont>,
        repair: bool,
    ) -> BoxFut<'_, Result<bool, BackendError>> {
        let span = self.settle_span(&target.id());
        self.settled = self.settled.saturating_add(1);
        Box::pin(
            self.settle_here(target, outcome, conts, repair)
                .instrument(span),
        )
    }

    /// Settle what continuations fired, each under the token it was fired
    /// with, until none is left, or until this step has made
    /// [`MAX_SETTLES_PER_STEP`]: then the rest are sent as resolve messages
    /// (rule 2: sent before this message is deleted; a redelivery sends them
    /// again under the same tokens, and rule 1 lets one write each win).
    async fn settle_fired(&mut self) -> Result<(), BackendError> {
        while let Some(fired) = self.settles.pop() {
            if self.settled >= MAX_SETTLES_PER_STEP {
                self.settles.push(fired);
                for rest in std::mem::take(&mut self.settles) {
                    let mut env =
                        Envelope::resolve(rest.target, rest.conts, rest.outcome, rest.token);
                    env.repair = rest.repair;
                    self.sends.push(env);
                }
                return Ok(());
            }
            let own = std::mem::replace(&mut self.token, fired.token);
            let settled = self
                .settle_one(fired.target, fired.outcome, fired.conts, fired.repair)
                .await;
            self.token = own;
            settled?;
        }
        Ok(())
    }

    fn settle_here(
        &mut self,
        target: Target,
        outcome: Outcome,
        conts: Vec<Cont>,
        repair: bool,
    ) -> BoxFut<'_, Result<bool, BackendError>> {
        Box::pin(async move {
            let cell = Cell::of(&target.id());
            let failure = match &outcome {
                Outcome::Err(f) => Some(f.clone()),
                _ => None,
            };
            let member = matches!(target, Target::Member { .. });
            let outcome = self.engine.shrink(outcome, member).await?;
            let mut slot = Slot::new(outcome, self.token.clone());
            if let Some((attempt, kids)) = self.meta.get(&target.id()) {
                slot.attempt = *attempt;
                slot.kids = *kids;
            }
            let settled = match &self.gather {
                Some(gather) => gather.settle(cell.clone(), slot.clone()).await?,
                None => self.engine.store.settle(&cell, &slot).await?,
            };
            let (by, outcome, stored, count) = match settled {
                Settled::Won { count, later } => {
                    settled_event(failure.as_ref());
                    (None, slot.outcome, later, count)
                }
                Settled::Lost { slot, count, later } => {
                    if self.firing.as_ref() == Some(&target.id()) && slot.by == self.token {
                        // Lost to a copy of this timer (rule 8): it delivers,
                        // and this one looks again later.
                        self.found_firing = true;
                        return Ok(false);
                    }
                    (Some(slot.by), slot.outcome, later, count)
                }
            };
            let stored = self.engine.verified_later(&cell, stored);
            let writer = self
                .deliver_written(by.as_deref(), repair, target, conts, stored, outcome, count)
                .await?;
            Ok(writer == Writer::Nobody)
        })
    }

    /// Deliver what is owed once `target`'s slot holds `outcome`, written by
    /// `by` (`None`: by this step's own write just now), in a record of `count`
    /// written slots: what [`decide::owed`] says, under the writer's token
    /// ([`decide::firing_token`]). Returns who the writer was.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn deliver_written(
        &mut self,
        by: Option<&str>,
        repair: bool,
        target: Target,
        carried: Vec<Cont>,
        stored: Vec<Cont>,
        outcome: Outcome,
        count: u32,
    ) -> Result<Writer, BackendError> {
        let writer = decide::writer(by, &self.token);
        if writer != Writer::Nobody {
            debug!(id = %target.id(), ?writer, "already settled");
        }
        let owed = decide::owed(writer, repair);
        let firing = decide::firing_token(by, &self.token).to_owned();
        let own = std::mem::replace(&mut self.token, firing);
        let delivered = self
            .deliver(owed, target, carried, stored, outcome, count)
            .await;
        self.token = own;
        delivered.map(|()| writer)
    }

    /// Fire the `carried` and `stored` continuations and count a member's
    /// arrival, as `owed` says.
    async fn deliver(
        &mut self,
        owed: Owed,
        target: Target,
        carried: Vec<Cont>,
        stored: Vec<Cont>,
        outcome: Outcome,
        count: u32,
    ) -> Result<(), BackendError> {
        let mut conts = Vec::new();
        if owed.carried {
            conts.extend(carried);
        }
        if owed.stored {
            conts.extend(stored);
        }
        self.fire(conts, outcome, owed.repair).await?;
        if let (true, Target::Member { join, index, n }) = (owed.climb, target) {
            self.climb(join, n, index, count, owed.repair).await?;
        }
        Ok(())
    }

    /// After a join member settles: when its shard is full, count the shard one level
    /// up, and so on; when the top shard is full, settle the join itself. Marks and
    /// the join's settle are written with the join's token ([`decide::join_token`]).
    async fn climb(
        &mut self,
        join: PromiseId,
        n: u32,
        index: u32,
        count: u32,
        repair: bool,
    ) -> Result<(), BackendError> {
        let token = decide::join_token(&join);
        let (mut level, mut index, mut count) = (0, index, count);
        loop {
            match decide::climb(n, level, index, count) {
                Climb::Wait => return Ok(()),
                Climb::Complete => {
                    let done = Outcome::Joined {
                        join: join.clone(),
                        n,
                    };
                    // Settle, and fire the join's successors, as the join.
                    let target = Target::Promise(join.clone());
                    self.settle_as(token, target, done, Vec::new(), repair)
                        .await?;
                    // Rule 9: nothing pending reads the join's records now.
                    if let Some(next) = self.engine.expire_join(&join, n, 0).await? {
                        self.sends.push(next);
                    }
                    return Ok(());
                }
                Climb::Mark {
                    level: up,
                    shard,
                    slot,
                } => {
                    let cell = Cell {
                        key: shard_key(&join, up, shard),
                        slot,
                    };
                    let mark = Slot::new(Outcome::Ok(Value::Null), token.clone());
                    let settled = self.engine.store.settle(&cell, &mark).await?;
                    let (by, found) = match settled {
                        Settled::Won { count, .. } => (None, count),
                        Settled::Lost { slot, count, .. } => (Some(slot.by), count),
                    };
                    if decide::writer(by.as_deref(), &token) == Writer::Other {
                        return Ok(());
                    }
                    count = found;
                    level = up;
                    index = shard * FAN_IN + slot;
                }
            }
        }
    }

    /// Fire continuations with an outcome.
    pub(super) async fn fire(
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
                    self.settles.push(Fired {
                        token: self.token.clone(),
                        target,
                        outcome: outcome.clone(),
                        conts,
                        repair,
                    });
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
fn settled_event(failure: Option<&crate::failure::Failure>) {
    let kind = failure.map_or("ok", |f| f.kind().as_str());
    tracing::Span::current().record("outcome", kind);
    if let Some(f) = failure {
        tally(|t| &t.settled_failed, 1);
        tracing::info!(outcome = kind, failure = %f, "settled");
    } else {
        tally(|t| &t.settled_ok, 1);
        tracing::debug!(outcome = kind, "settled");
    }
}
