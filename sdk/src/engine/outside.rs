//! Settles made outside a message: starting a flow (claiming its name first,
//! if it has one), resolving a deferred promise, and cancelling, all from
//! application code.
//!
//! Rule 7: there is no message to redeliver, so each of these is retryable with
//! the same effect, or leaves behind what repairs it. A flow keeps its plan
//! until it was carried out, and its messages carry tokens derived from their
//! promises. An application's resolve and cancel settle with tokens derived
//! from the promise they act on ([`cancel_token`], [`crate::id::resolve_token`])
//! and send a guard under that token before each write (`Step::settle_outside`):
//! the guard delivers what is stored with the slot, once, whether or not this
//! process lives to see its write succeed (rules 2 and 8).

use super::settle::Step;
use super::Engine;
use crate::error::BackendError;
use crate::failure::Failure;
use crate::flow::{Flow, Started};
use crate::id::{cancel_token, PromiseId};
use crate::promise::Resolved;
use crate::store::{claim, Cell, Settled};
use crate::wire::{Cont, Outcome, Slot, Target};
use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

/// How long after another start claimed a name this start waits for it to
/// say it sent the flow, before it takes the other for dead and sends the
/// flow itself.
pub const TAKE_OVER_AFTER: Duration = Duration::from_secs(5);

/// What a named start found when it claimed its name.
enum NameClaim {
    /// This flow holds the name and sends it.
    Ours,
    /// The flow was sent: by this flow's earlier try (`New`) or another
    /// start (`Existing`).
    Sent(Started),
    /// Another start claimed the name and never said it sent the flow.
    Abandoned,
}

impl Engine {
    /// Carry out a flow built by application code. If it fails, the flow keeps
    /// what it was asked to do, and calling this again with the same flow does
    /// it again with the same effect.
    pub async fn start(self: &Arc<Self>, flow: &Flow) -> Result<Started, BackendError> {
        self.start_as(flow, flow.token()).await
    }

    /// [`Engine::start`], settling with `token`.
    pub(crate) async fn start_as(
        self: &Arc<Self>,
        flow: &Flow,
        token: String,
    ) -> Result<Started, BackendError> {
        if let Some(why) = flow.invalid() {
            return Err(BackendError::fatal(why));
        }
        let name = flow.name();
        let mut taking_over = false;
        if let Some(name) = &name {
            match self.claim_name(flow, name).await? {
                NameClaim::Ours => {}
                NameClaim::Sent(started) => {
                    flow.discard();
                    return Ok(started);
                }
                NameClaim::Abandoned => taking_over = true,
            }
        }
        let mut plan = flow.take_plan();
        if taking_over {
            // Another start claimed the name and stopped before it said it
            // sent the flow: send it again, each first step checking its
            // promise before it runs.
            for env in &mut plan.sends {
                env.repair = true;
            }
        }
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
        let done = async {
            let mut step = Step::new(self, token);
            step.run_plan(plan.clone()).await?;
            step.flush().await
        }
        .instrument(span)
        .await;
        if done.is_err() {
            flow.keep(plan);
            return done.map(|()| Started::New);
        }
        if let Some(name) = &name {
            let sent = PromiseId::named("flow-sent", name);
            claim(&*self.store, &sent, &flow.token(), serde_json::json!({})).await?;
        }
        Ok(Started::New)
    }

    /// Claim a named flow's name with one conditional write of the record its
    /// seed names, under the flow's own token.
    /// - This flow holds it (its first try, or a retry after an error): send
    ///   the flow, unless another start took it over and sent it already.
    /// - Another start holds it and has sent the flow: `Existing`.
    /// - Another start holds it and has not said it sent the flow within
    ///   [`TAKE_OVER_AFTER`] of its claim: it is taken to have died between
    ///   its claim and its send (rule 7: what it left behind is repaired), and
    ///   this start sends the flow.
    async fn claim_name(&self, flow: &Flow, name: &str) -> Result<NameClaim, BackendError> {
        let token = flow.token();
        let what = serde_json::json!({ "name": name });
        let slot = Slot::new(Outcome::Ok(what), &token);
        let (claimer, claimed_at) = match self.store.settle(&Cell::of(&flow.seed()), &slot).await? {
            Settled::Won { .. } => return Ok(NameClaim::Ours),
            Settled::Lost { slot, .. } => (slot.by, slot.at),
        };
        let sent = PromiseId::named("flow-sent", name);
        let ours = claimer == token;
        let give_up = claimed_at.saturating_add(crate::clock::millis(TAKE_OVER_AFTER));
        let mut pause = Duration::from_millis(5);
        loop {
            if let Some(marker) = self.slot(&sent).await? {
                let by_us = ours || marker.by == token;
                return Ok(NameClaim::Sent(if by_us {
                    Started::New
                } else {
                    Started::Existing
                }));
            }
            if ours {
                return Ok(NameClaim::Ours);
            }
            let now = crate::clock::epoch_millis(std::time::SystemTime::now());
            if now >= give_up {
                return Ok(NameClaim::Abandoned);
            }
            tokio::time::sleep(pause.min(Duration::from_millis(give_up - now))).await;
            pause = (pause * 2).min(Duration::from_millis(250));
        }
    }

    /// Settle `target` with `outcome` from application code, under a resolve
    /// token of its own (see `Step::settle_outside`). Only a callback, or a
    /// deferred task's promise, may be resolved so: its record says so
    /// (rule 10); anything else is refused. A promise found settled costs no
    /// write.
    pub(crate) async fn resolve_outside(
        self: &Arc<Self>,
        target: Target,
        conts: Vec<Cont>,
        outcome: Outcome,
    ) -> Result<Resolved, BackendError> {
        let id = target.id();
        let cell = Cell::of(&id);
        let mut record = self.store.read(&cell.key).await?.unwrap_or_default();
        if record.slots.contains_key(&cell.slot) {
            return Ok(Resolved::TooLate);
        }
        if !record
            .notes
            .remove(&cell.slot)
            .is_some_and(|n| n.resolvable)
        {
            return Err(not_resolvable(&id));
        }
        let token = crate::id::resolve_token(&id, &crate::id::nonce());
        let mut step = Step::new(self, token.clone());
        let held = step.settle_outside(&token, target, conts, outcome).await?;
        Ok(if held {
            Resolved::Won
        } else {
            Resolved::TooLate
        })
    }

    /// Record a heartbeat of the callback `id` ([`Flow::callback_with_heartbeat`]):
    /// `true` if it still waits, `false` if it has settled.
    pub(crate) async fn heartbeat(&self, id: &PromiseId) -> Result<bool, BackendError> {
        let cell = Cell::of(id);
        let mut record = self.store.read(&cell.key).await?.unwrap_or_default();
        if record.slots.contains_key(&cell.slot) {
            return Ok(false);
        }
        let Some(mut note) = record
            .notes
            .remove(&cell.slot)
            .filter(|n| n.resolvable && n.heartbeat_ms.is_some())
        else {
            return Err(BackendError::fatal(format!(
                "{id} is not a callback with a heartbeat (Flow::callback_with_heartbeat)"
            )));
        };
        note.beat_at = Some(self.now());
        self.store.note(&cell, &note).await?;
        Ok(true)
    }

    /// Cancel `id` and its known pending descendants: each settles `Cancelled` with
    /// `reason`, and their successors run with that failure. Returns how many
    /// promises this call cancelled. Tasks already running finish, but their
    /// promises stay cancelled; they can check [`crate::Cx::cancelled`]. After an
    /// error, call it again: the retry sends what the first try could not.
    pub async fn cancel(
        self: &Arc<Self>,
        id: &PromiseId,
        reason: &str,
    ) -> Result<u32, BackendError> {
        let token = cancel_token(id);
        let mut step = Step::new(self, token.clone());
        let failure = Outcome::Err(Failure::cancelled(reason.to_owned()));
        let mut queue = VecDeque::from([id.clone()]);
        let mut seen = HashSet::new();
        let mut cancelled = 0;
        // The policy's bound (rule 5): never more promises than it allows.
        let most = self.config.max_cancel_walk.max(1);
        while let Some(next) = queue.pop_front() {
            if seen.len() >= most || !seen.insert(next.clone()) {
                continue;
            }
            let cell = Cell::of(&next);
            let mut record = self.store.read(&cell.key).await?.unwrap_or_default();
            let room = |queue: &VecDeque<PromiseId>, seen: &HashSet<PromiseId>| {
                most.saturating_sub(queue.len().saturating_add(seen.len()))
            };
            let noted = record.notes.get(&cell.slot).map_or(0, |n| n.kids);
            let take = room(&queue, &seen);
            queue.extend((0..noted).map(|k| next.child(k)).take(take));
            match record.slots.remove(&cell.slot) {
                None if next.as_member().is_none() => {
                    let target = Target::Promise(next.clone());
                    if step
                        .settle_outside(&token, target, Vec::new(), failure.clone())
                        .await?
                    {
                        cancelled += 1;
                    }
                }
                None => {}
                Some(slot) => {
                    // Settled already: by another writer, who delivers what
                    // is stored with it, or by an earlier try of this cancel,
                    // whose guard does.
                    let take = room(&queue, &seen);
                    queue.extend((0..slot.kids).map(|k| next.child(k)).take(take));
                    if let Outcome::Joined { join, n } = &slot.outcome {
                        let take = room(&queue, &seen);
                        queue.extend((0..*n).map(|i| join.member(i)).take(take));
                    }
                }
            }
        }
        Ok(cancelled)
    }
}

/// The error for resolving from outside a promise that is not a callback.
fn not_resolvable(id: &PromiseId) -> BackendError {
    BackendError::fatal(format!(
        "{id} is not a callback: only a Flow::callback (or a task's deferred promise) can be \
         resolved from outside, once the step that created it has finished"
    ))
}
