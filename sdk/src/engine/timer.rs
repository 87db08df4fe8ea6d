//! Timers: a sleep's end or a callback's deadline.
//!
//! A timer ([`Envelope::timer`]) is a resolve that waits for its time, in one
//! of two places ([`decide::wake`]). Within a queue delay (15 minutes) of its
//! time it waits in the queue, sent with the delay that brings it at its time.
//! Further away it waits in the store's timer index ([`crate::timer_index`]),
//! written once, until a sweep sends it with that delay ([`Engine::sweep`]); a
//! store without an index makes it hop through the queue instead. Each time
//! it arrives it checks its promise first (`decide::checks_first`): a promise
//! already settled (resolved, cancelled) stops it, after it delivers what it
//! carries (rule 3); what is stored with the promise is its writer's to
//! deliver (rule 8). Before its time it is sent or indexed again, and only then
//! is its message deleted (rule 2); at its time it settles its promise under
//! its own token (rule 1), sends what that owes (never inline), and then marks
//! its firing delivered (a record of its own). No claim is kept per hop, so a
//! copy, a redelivery or a redrive of a timer is one more message that finds
//! its way to the same settle: indexing it again writes the same item, and
//! sending it again is a copy. A copy that comes after the firing finds the
//! mark and does nothing; one that finds the firing written but unmarked
//! looks again after a grace (15 minutes), and that look repairs, under a
//! claim, if the mark is still missing
//! ([`decide::timer_copy`]; rules 3 and 8). Rule 5: every hop brings it
//! closer, and a time further away than any producer sets is refused
//! ([`decide::wake`]).

use super::decide::{self, TimerCopy, Wake, Writer};
use super::settle::Step;
use super::{Engine, Rejected};
use crate::clock::epoch_millis;
use crate::error::BackendError;
use crate::failure::Failure;
use crate::gather::Gather;
use crate::queue::{Outgoing, MAX_DELAY};
use crate::store::Cell;
use crate::timer_index::{shard_of, IndexedTimer, SweepCursor, BUCKET_MS, INDEX_MARGIN};
use crate::wire::Envelope;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::debug;

impl Engine {
    /// How long a new message waits in the queue before it is delivered: a
    /// timer until its time, or its first hop (so a timer created with its
    /// promise does not check in before anything could have settled it),
    /// anything else not at all. Timers to be indexed are not sent
    /// ([`Engine::timer_wake`]).
    pub(super) fn delay_of(&self, env: &Envelope) -> Duration {
        match env.timer_at() {
            Some(Some(at)) => match self.timer_wake(at) {
                Wake::Later(delay) => delay,
                Wake::Now | Wake::Index | Wake::TooFar => Duration::ZERO,
            },
            _ => Duration::ZERO,
        }
    }

    /// Where a timer due at `at` waits from now ([`decide::wake`]).
    pub(super) fn timer_wake(&self, at: u64) -> Wake {
        decide::wake(
            at,
            self.now(),
            self.config.timer_hop,
            self.store.indexes_timers(),
        )
    }

    /// Whether `env` settles now: `true` for anything but a timer before its
    /// time, which is sent on or indexed instead. A timer that names no time,
    /// or one too far away, cannot be run.
    pub(super) async fn due(&self, env: &Envelope) -> Result<bool, Rejected> {
        let Some(at) = env.timer_at() else {
            return Ok(true);
        };
        let at = at.ok_or_else(|| {
            Rejected::Undecodable(Failure::bad_input("a timer message names no time"))
        })?;
        if env.input.is_none() {
            return Err(Rejected::Undecodable(Failure::bad_input(
                "a timer message carries no outcome",
            )));
        }
        let at = match env.heartbeat_ms() {
            Some(every) => self.heard_until(env, at, every).await?,
            None => at,
        };
        let env = &env.due_at(at);
        match self.timer_wake(at) {
            Wake::Now => Ok(true),
            Wake::Later(delay) => {
                debug!(promise = %env.target.id(), ?delay, "timer sent on");
                let body = self.seal(&env.next_hop()).await?;
                self.queue.send(vec![Outgoing { body, delay }]).await?;
                Ok(false)
            }
            Wake::Index => {
                self.index_timer(env, at).await?;
                Ok(false)
            }
            Wake::TooFar => Err(Rejected::Undecodable(Failure::bad_input(format!(
                "a timer due at {at} ms since the epoch lies beyond the {} days a timer may wait",
                decide::MAX_TIMER.as_secs() / 86_400
            )))),
        }
    }

    /// For a heartbeat timer due at `at`: when it is really due, `every`
    /// after the callback's last beat if that is later.
    async fn heard_until(&self, env: &Envelope, at: u64, every: u64) -> Result<u64, Rejected> {
        let cell = Cell::of(&env.target.id());
        let beat = self
            .store
            .read(&cell.key)
            .await?
            .and_then(|mut record| record.notes.remove(&cell.slot))
            .and_then(|note| note.beat_at);
        Ok(beat.map_or(at, |beat| at.max(beat.saturating_add(every))))
    }

    /// Write the timer `env`, due at `at`, into the index. A writer that took
    /// so long that the sweep may have passed the timer's minute looks at the
    /// sweep's cursor and, if it has, sends the timer itself (rule 5).
    pub(super) async fn index_timer(&self, env: &Envelope, at: u64) -> Result<(), BackendError> {
        let began = Instant::now();
        self.ensure_sweep_cursor().await?;
        let timer = IndexedTimer {
            bucket: at / BUCKET_MS,
            shard: shard_of(&env.token),
            name: env.token.clone(),
            at,
            body: self.seal(env).await?,
        };
        self.store.put_timer(&timer).await?;
        debug!(promise = %env.target.id(), at, "timer indexed");
        if began.elapsed() < INDEX_MARGIN / 2 {
            return Ok(());
        }
        let passed = self.store.sweep_cursor().await?.is_some_and(|c| {
            c.next > timer.bucket || c.sweeping.is_some_and(|s| s.bucket <= timer.bucket)
        });
        if passed {
            let delay = self.delay_until(at);
            let body = timer.body;
            self.queue.send(vec![Outgoing { body, delay }]).await?;
        }
        Ok(())
    }

    /// The queue delay that brings a message at `at`, as far as the queue
    /// allows.
    pub(super) fn delay_until(&self, at: u64) -> Duration {
        Duration::from_millis(at.saturating_sub(self.now())).min(MAX_DELAY)
    }

    /// Start the sweep's cursor at this minute if nobody has: timers are only
    /// ever indexed into minutes at least [`INDEX_MARGIN`] ahead of the
    /// cursor, so none is written behind it. One read per process.
    async fn ensure_sweep_cursor(&self) -> Result<(), BackendError> {
        if self.cursor_seen.load(Ordering::Relaxed) {
            return Ok(());
        }
        if self.store.sweep_cursor().await?.is_none() {
            let start = SweepCursor {
                next: self.now() / BUCKET_MS,
                sweeping: None,
            };
            // Lost: another process started it first.
            self.store.move_cursor(None, &start).await?;
        }
        self.cursor_seen.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// Fire the timer `env` at its time: settle its promise under its own
    /// token (rule 1), send what that owes (its successors are never run
    /// inline), then mark that the firing delivered ([`decide::timer_copy`]).
    /// A timer whose settle loses to a copy of itself delivers nothing here:
    /// it looks at the firing as a copy does ([`Engine::arrive`]).
    pub(super) async fn fire_timer(
        self: &Arc<Self>,
        env: Envelope,
        gather: &Option<Arc<Gather>>,
    ) -> Result<(), Rejected> {
        let Some(outcome) = env.input.clone() else {
            return Err(Rejected::Undecodable(Failure::bad_input(
                "a timer message carries no outcome",
            )));
        };
        let mut step = Step::new(self, env.token.clone());
        step.gather = gather.clone();
        step.firing = Some(env.target.id());
        let won = step
            .settle(env.target.clone(), outcome, env.conts.clone(), env.repair)
            .await?;
        step.flush().await?;
        if step.found_firing {
            self.arrive(&env, None, gather).await?;
        } else if won {
            self.mark_delivered(&env).await;
        }
        Ok(())
    }

    /// For a timer that found its promise's slot written by `writer`:
    /// whether it goes on to deliver what the slot owes (`true`), or has
    /// done all it should (`false`: its firing was marked delivered, before
    /// or once it held the repair claim, or it looks again later).
    pub(super) async fn timer_delivers(
        &self,
        env: &Envelope,
        writer: Writer,
    ) -> Result<bool, BackendError> {
        // Only its own firing is ever marked (one read, on this path alone).
        let delivered =
            writer == Writer::This && self.slot(&delivered_id(&env.token)).await?.is_some();
        // A look is a message `look_again` sent (it carries a look token);
        // `repair` alone does not make one (a named start's takeover sends
        // its flow's timers as repairs).
        let look = env.task.get(LOOK).is_some();
        match decide::timer_copy(writer, delivered, look) {
            TimerCopy::Nothing => Ok(false),
            TimerCopy::Deliver => Ok(true),
            // The firing may have been marked between the read and the
            // claim: the claimant reads the mark again before it repairs.
            TimerCopy::Repair if self.claim_repair(env).await? => {
                Ok(self.slot(&delivered_id(&env.token)).await?.is_none())
            }
            TimerCopy::LookAgain | TimerCopy::Repair => {
                self.look_again(env).await?;
                Ok(false)
            }
        }
    }

    /// Claim the repair of `env`'s firing: one conditional write of the
    /// first generation of claims that is free, under the token of this look
    /// (so a redelivery of the same look keeps its claim, and a look whose
    /// sends keep failing reaches the dead-letter queue); a young claim of
    /// another look keeps this one off, an old one ([`decide::claim_is_old`])
    /// passes it on to the next generation. One look wins each generation,
    /// so two looks that still find the firing unmarked never both repair it
    /// (rule 8); at most [`decide::MAX_REPAIR_CLAIMS`] are read, and past
    /// the last a look repairs without a claim (rule 5).
    async fn claim_repair(&self, env: &Envelope) -> Result<bool, BackendError> {
        let me = env
            .task
            .get(LOOK)
            .and_then(serde_json::Value::as_str)
            .map_or_else(crate::id::nonce, str::to_owned);
        let grace = self.firing_grace();
        for generation in 0..decide::MAX_REPAIR_CLAIMS {
            let id = repair_claim_id(&env.token, generation);
            let now = self.now();
            match self.slot(&id).await? {
                None => {
                    let at = serde_json::json!({ "at": now });
                    return crate::store::claim(&*self.store, &id, &me, at).await;
                }
                Some(held) => {
                    let at = match held.outcome {
                        crate::wire::Outcome::Ok(v) => {
                            v.get("at").and_then(serde_json::Value::as_u64)
                        }
                        _ => None,
                    };
                    // A claim that names no time counts as old.
                    let young = at.is_some_and(|at| !decide::claim_is_old(at, now, grace));
                    if young {
                        // A redelivery of the claimant's own look keeps it;
                        // once old, even its own claim passes on.
                        return Ok(held.by == me);
                    }
                }
            }
        }
        // Every generation was claimed by a look that then failed: repair
        // without a claim rather than look again for ever (rule 5).
        tracing::warn!(promise = %env.target.id(), "every repair claim of a timer's firing is old: repairing without one");
        Ok(true)
    }

    /// Send the timer `env` again, as a look of its own (marked `repair`,
    /// with a token for its claim), to look at its firing after the engine's
    /// `firing_grace` and repair it then if nobody marked it delivered
    /// (rule 3: a copy drops nothing).
    pub(super) async fn look_again(&self, env: &Envelope) -> Result<(), BackendError> {
        let mut again = env.clone();
        again.repair = true;
        if let Some(task) = again.task.as_object_mut() {
            task.insert(LOOK.to_owned(), crate::id::nonce().into());
        }
        debug!(promise = %env.target.id(), "timer found its firing under way: looking again later");
        let body = self.seal(&again).await?;
        let delay = self.firing_grace();
        self.queue.send(vec![Outgoing { body, delay }]).await
    }

    /// Mark that the firing of the timer `env` delivered everything: one
    /// conditional write of a record of its own, which no other write to the
    /// promise's record (a heartbeat's note, say) can undo. A mark that fails
    /// only costs a copy's repair later.
    pub(super) async fn mark_delivered(&self, env: &Envelope) {
        let id = delivered_id(&env.token);
        if let Err(e) =
            crate::store::claim(&*self.store, &id, &env.token, serde_json::Value::Null).await
        {
            tracing::warn!(promise = %env.target.id(), error = %e, "could not mark a timer's firing delivered");
        }
    }

    /// The engine's `firing_grace`, from a second to what a queue delay
    /// allows.
    fn firing_grace(&self) -> Duration {
        self.config
            .firing_grace
            .clamp(Duration::from_secs(1), MAX_DELAY)
    }

    /// Milliseconds since the Unix epoch, now, as timers count.
    pub(super) fn now(&self) -> u64 {
        epoch_millis(self.clock.now())
    }
}

/// The id of generation `generation` of the claims on repairing the firing
/// of the timer `token` ([`Engine::claim_repair`]).
fn repair_claim_id(token: &str, generation: u32) -> crate::PromiseId {
    crate::PromiseId::named("timer-repair", &format!("{token}#{generation}"))
}

/// The id of the mark that the firing of the timer `token` delivered.
fn delivered_id(token: &str) -> crate::PromiseId {
    crate::PromiseId::named("timer-delivered", token)
}

/// The field of a timer's task that holds the token of a look
/// ([`Engine::look_again`]).
const LOOK: &str = "look";
