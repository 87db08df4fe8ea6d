//! A batch of messages, and each message of it until it is deleted or left for
//! redelivery.
//!
//! Rule 2: a message succeeds (and is deleted) only once everything it causes
//! is sent or durably recorded; any error, and a panic anywhere in its handling,
//! leaves it for redelivery. Rule 3: a redelivered message, and a repair, first
//! look at their promise's slot and deliver what they still owe instead of
//! running again ([`decide::owed`]).

use super::decide;
use super::settle::{Inline, Step};
use super::{resolve_message, start_message};
use super::{Engine, Rejected};
use crate::clock::millis;
use crate::context::{decode_in, Cx};
use crate::error::BackendError;
use crate::gather::{Gather, Seat};
use crate::queue::{Delivery, Outgoing};
use crate::stats::{BatchStats, Tally};
use crate::store::Cell;
use crate::wire::{decode_task, Envelope};
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;
use tracing::{debug, warn, Instrument};

impl Engine {
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

    /// Handle a batch. A batch whose messages all come for the first time is
    /// handled together. One holding *suspects* (messages delivered before:
    /// their last receiver failed, timed out, or died, maybe because of one of
    /// them) is handled so that a message that kills its process charges no
    /// other: the first-timers together, then each suspect alone, and each
    /// message is deleted from the queue as soon as it is done, so a process
    /// lost to a later one costs them no delivery and never walks them to the
    /// dead-letter queue (rule 10). Before a suspect runs alone, a marker
    /// naming its message is stored; a suspect that comes back marked was
    /// running when its process died, and goes last. Deleting a done message
    /// early is safe: its effects are sent and settled (rule 2). All this
    /// costs a read and a write per suspect, and nothing when no message is
    /// redelivered.
    async fn handle_batch_in(
        self: &Arc<Self>,
        batch: Vec<Delivery>,
        deadline: Option<Instant>,
    ) -> (Vec<String>, BatchStats) {
        if batch.len() < 2 || batch.iter().all(|d| d.receive_count <= 1) {
            return self.handle_together(batch, deadline).await;
        }
        let began = std::time::Instant::now();
        let (suspects, fresh): (Vec<Delivery>, Vec<Delivery>) =
            batch.into_iter().partition(|d| d.receive_count > 1);
        let mut ranked = Vec::with_capacity(suspects.len());
        for d in suspects {
            // An unreadable marker counts as none: the order only spares others.
            let marked = self
                .store
                .get_blob(&suspect_key(&d.message_id))
                .await
                .is_ok_and(|m| m.is_some());
            ranked.push((marked, d.receive_count, d));
        }
        // Unmarked first, the most delivered first (closest to the
        // dead-letter queue); a suspect marked as running when its process
        // died goes last.
        ranked.sort_by_key(|(marked, count, _)| (*marked, std::cmp::Reverse(*count)));
        let mut failed = Vec::new();
        let mut stats = BatchStats::default();
        let groups = std::iter::once((false, fresh))
            .chain(ranked.into_iter().map(|(marked, _, d)| (!marked, vec![d])));
        for (mark, group) in groups.filter(|(_, g)| !g.is_empty()) {
            if let (true, [d]) = (mark, group.as_slice()) {
                if let Err(e) = self
                    .store
                    .put_blob(&suspect_key(&d.message_id), "running")
                    .await
                {
                    warn!(error = %e, "could not mark a suspect message");
                }
            }
            let receipts: Vec<(String, String)> = group
                .iter()
                .map(|d| (d.message_id.clone(), d.receipt.clone()))
                .collect();
            let (lost, done) = self.handle_together(group, deadline).await;
            let finished: Vec<String> = receipts
                .into_iter()
                .filter(|(id, _)| !lost.contains(id))
                .map(|(_, receipt)| receipt)
                .collect();
            if !finished.is_empty() {
                if let Err(e) = self.queue.delete(finished).await {
                    // The caller deletes them too; only the isolation is lost.
                    warn!(error = %e, "could not delete finished messages early");
                }
            }
            failed.extend(lost);
            stats = stats.plus(&done);
        }
        stats.batch_ms = millis(began.elapsed());
        (failed, stats)
    }

    async fn handle_together(
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
                    .process_in(
                        &d.body,
                        d.receive_count,
                        Some(&d.message_id),
                        seat,
                        deadline,
                    )
                    .await
            }
            .instrument(span)
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

    /// Handle each message of a batch on its own tokio task. Returns the ids of
    /// the messages to redeliver: those whose handling failed or panicked.
    async fn each<F, Fut>(self: &Arc<Self>, batch: Vec<Delivery>, f: F) -> Vec<String>
    where
        F: Fn(Arc<Engine>, Delivery) -> Fut,
        Fut: Future<Output = Result<(), Rejected>> + Send + 'static,
    {
        let mut set = JoinSet::new();
        let mut ids = HashMap::new();
        for d in batch {
            let id = d.message_id.clone();
            let handle = set.spawn(f(self.clone(), d));
            ids.insert(handle.id(), id);
        }
        let mut failed = Vec::new();
        while let Some(joined) = set.join_next_with_id().await {
            let (task, why) = match joined {
                Ok((_, Ok(()))) => continue,
                Ok((task, Err(why))) => (task, why.to_string()),
                Err(e) => (e.id(), format!("message handler panicked: {e}")),
            };
            // Every spawned task's id is in the map.
            let id = ids.remove(&task).unwrap_or_default();
            warn!(message_id = %id, %why, "message left for redelivery");
            failed.push(id);
        }
        failed
    }

    /// Run the task in one message body (delivered for the `receive_count`-th time)
    /// and settle its promise.
    pub async fn process(self: &Arc<Self>, body: &str, receive_count: u32) -> Result<(), Rejected> {
        self.process_in(body, receive_count, None, Seat::new(None), None)
            .await
    }

    /// [`Engine::process`] as one message of a batch whose settles are gathered.
    async fn process_in(
        self: &Arc<Self>,
        body: &str,
        receive_count: u32,
        message_id: Option<&str>,
        mut seat: Seat,
        deadline: Option<Instant>,
    ) -> Result<(), Rejected> {
        if super::is_sweep(body) {
            let by = message_id.map_or_else(crate::id::nonce, str::to_owned);
            self.sweep(&by).await?;
            return Ok(());
        }
        if start_message::is_raw_start(body) {
            return self.start_raw(body).await;
        }
        if body.contains("\"resolve\"") {
            // Verified here only if it may be one (an envelope is verified as it opens).
            let verified = self.verified(body).ok().map(|(body, _)| body);
            if let Some(message) = verified.filter(|b| resolve_message::is_resolve_message(b)) {
                return self.resolve_message(message, message_id).await;
            }
        }
        let (env, aged) = self.open_aged(body).await?;
        let inline = Inline::new(self.config.inline_for, deadline);
        // A successor taken inline was never sent: it is neither redelivered nor aged.
        let mut next = Some((env, receive_count > 1, aged));
        let mut taken_inline = false;
        while let Some((env, redelivered, aged)) = next.take() {
            next = self
                .step(env, redelivered, aged, taken_inline, inline, seat.gather())
                .await?
                .map(|env| (env, false, false));
            taken_inline = true;
            // Steps run inline after the first settle alone: they seldom share a
            // record with the rest of the batch, which need not wait for them.
            seat.leave();
        }
        Ok(())
    }

    /// Run one envelope unless it is a repair, a redelivery or an aged message
    /// (possibly a replay) of a settled promise.
    /// Returns the successor to run inline, if `inline` allowed one.
    /// An envelope `taken_inline` from its predecessor that this worker cannot
    /// decode is sent as its own message, to fail there rather than fail ours.
    #[allow(clippy::too_many_arguments)]
    async fn step(
        self: &Arc<Self>,
        env: Envelope,
        redelivered: bool,
        aged: bool,
        taken_inline: bool,
        inline: Inline,
        gather: &Option<Arc<Gather>>,
    ) -> Result<Option<Envelope>, Rejected> {
        if super::expire::is_expire(&env) {
            return self.expire_step(&env).await.map(|()| None);
        }
        let timer = env.timer_at().is_some();
        if decide::checks_first(env.repair, redelivered, timer, aged) {
            if let Arrival::Settled(after) = self.arrive(&env, Some(inline), gather).await? {
                return Ok(after);
            }
        }
        if env.is_resolve() {
            if !self.due(&env).await? {
                return Ok(None);
            }
            if timer {
                self.fire_timer(env, gather).await?;
                return Ok(None);
            }
            return self.settle_resolve(env, Some(inline), gather).await;
        }
        let span = tracing::info_span!(
            "vow.run",
            promise = %env.target.id(),
            task = env.tag().unwrap_or("?"),
            attempt = env.attempt
        );
        let cx = Arc::new(Cx::new(
            env.target.clone(),
            env.attempt,
            env.conts.clone(),
            self.store.clone(),
            self.clock.clone(),
        ));
        // Promises among the task's fields bind to the task's own flow.
        let task = match decode_in(cx.flow(), || decode_task(&env.task)) {
            Ok(task) => task,
            Err(_) if taken_inline => {
                let body = self.seal(&env).await?;
                let delay = Duration::ZERO;
                self.queue.send(vec![Outgoing { body, delay }]).await?;
                return Ok(None);
            }
            Err(failure) => return Err(Rejected::Undecodable(failure)),
        };
        self.run(env, task, cx, inline, gather)
            .instrument(span)
            .await
    }

    /// For repairs, redeliveries and timers: whether the promise is already
    /// settled, in which case the task does not run again, and the message
    /// delivers what it still owes ([`decide::owed`], and for a timer
    /// [`decide::timer_copy`]).
    pub(super) async fn arrive(
        &self,
        env: &Envelope,
        inline: Option<Inline>,
        gather: &Option<Arc<Gather>>,
    ) -> Result<Arrival, BackendError> {
        let cell = Cell::of(&env.target.id());
        let Some(mut record) = self.store.read(&cell.key).await? else {
            return Ok(Arrival::Open);
        };
        let Some(slot) = record.slots.remove(&cell.slot) else {
            let ran = record.notes.get(&cell.slot).is_some_and(|n| n.handed_over);
            if ran && !env.is_resolve() && env.timer_at().is_none() {
                debug!(id = %env.target.id(), "ran and adopted already: not running again");
                return Ok(Arrival::Settled(None));
            }
            return Ok(Arrival::Open);
        };
        debug!(id = %env.target.id(), by = %slot.by, "already settled: not running again");
        let timer = env.timer_at().is_some();
        let writer = decide::writer(Some(&slot.by), &env.token);
        if timer && !self.timer_delivers(env, writer).await? {
            return Ok(Arrival::Settled(None));
        }
        let mut step = Step::new(self, env.token.clone());
        // A timer's successors are sent, never run inline: its mark that
        // they are out is written once they are (rule 2).
        step.inline = inline.filter(|_| !timer);
        step.gather = gather.clone();
        let stored = record.later.remove(&cell.slot).unwrap_or_default();
        let stored = self.verified_later(&cell, stored);
        step.deliver_written(
            Some(&slot.by),
            env.repair,
            env.target.clone(),
            env.conts.clone(),
            stored,
            slot.outcome,
            record.count,
        )
        .await?;
        step.flush().await?;
        if timer && writer == decide::Writer::This {
            self.mark_delivered(env).await;
        }
        Ok(Arrival::Settled(step.next))
    }
}

/// What a message that checks its promise first found ([`Engine::arrive`]).
pub(super) enum Arrival {
    /// The promise is settled and the message delivered what it owed; the
    /// successor to run inline, if any.
    Settled(Option<Envelope>),
    /// The promise is pending.
    Open,
}

/// Where the marker of a suspect message running alone is stored.
fn suspect_key(message_id: &str) -> String {
    format!("suspect#{}", message_id.replace('~', "-"))
}
