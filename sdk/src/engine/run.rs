//! One attempt of one task: run it under its timeout, then settle, adopt, defer
//! or retry.
//!
//! Rule 1: the attempt's outcome reaches the store only through one conditional
//! settle named by the message's token. Rule 5: an attempt ends: a timeout
//! aborts it, a panic is an error, and retries stop at the attempt limit, after
//! which the promise settles `Crashed`. Children are sent before their parent
//! settles (rule 2), and a failed attempt's children are discarded.

use super::settle::{Inline, Step};
use super::{Engine, Rejected};
use crate::clock::millis;
use crate::context::{with_flow, Cx};
use crate::error::{BackendError, Error};
use crate::failure::Failure;
use crate::flow::Plan;
use crate::gather::Gather;
use crate::queue::Outgoing;
use crate::stats::tally;
use crate::store::Cell;
use crate::task::{Erased, ErasedTask};
use crate::wire::{Cont, Envelope, Outcome, RunOpts};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tracing::debug;

/// The most attempts a task may have, whatever its message says.
pub const MAX_ATTEMPTS: u32 = 100;

impl Engine {
    /// Run one envelope's task and settle. Returns the successor to run inline, if
    /// `inline` allowed one.
    pub(super) async fn run(
        self: &Arc<Self>,
        env: Envelope,
        task: Box<dyn ErasedTask>,
        cx: Arc<Cx>,
        inline: Inline,
        gather: &Option<Arc<Gather>>,
    ) -> Result<Option<Envelope>, Rejected> {
        let input = match &env.input {
            Some(outcome) => self.resolve_input(outcome).await?,
            None => super::TaskInput::Value(Value::Null),
        };
        let timeout = self.timeout(&env.opts);
        let flow = cx.flow().clone();
        let began = std::time::Instant::now();
        let handle = tokio::spawn(with_flow(flow.clone(), task.run_erased(input, cx.clone())));
        let abort = handle.abort_handle();
        let mut ran = match tokio::time::timeout(timeout, handle).await {
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
        if let (Ok(_), Some(why)) = (&ran, flow.invalid()) {
            ran = Err(Error::permanent(why));
        }
        tally(|t| &t.steps_run, 1);
        tally(|t| &t.task_ms, millis(began.elapsed()));
        let reported = cx.finish_progress().await;
        let mut step = Step::new(self, env.token.clone());
        step.inline = Some(inline);
        step.gather = gather.clone();
        step.meta
            .insert(env.target.id(), (env.attempt, flow.created()));
        step.task = env.tag().map(str::to_owned);
        // An adopting step keeps the successors its message carries in its
        // promise's record, written with its note (one write), when they are
        // small: the adopted promise then carries only "settle mine", so a
        // loop of adoptions carries the same few bytes at every iteration,
        // however long it runs (its chain is not nested into each message).
        // The note is written once the step's children are sent, and says so
        // (`handed_over`): a repair or a duplicate of this message that finds
        // it runs nothing (rule 8), and needs to, for everything is out.
        let mut env = env;
        let mut handed_over = None;
        if matches!(ran, Ok(Erased::Adopt(_))) {
            let id = env.target.id();
            let mut note = super::pending_note(&id, &flow, reported, false).unwrap_or_default();
            note.handed_over = true;
            let kept = if cx.successors_in_record() {
                std::mem::take(&mut env.conts)
            } else {
                Vec::new()
            };
            handed_over = Some((id, kept, note));
        } else if matches!(ran, Ok(Erased::Deferred)) {
            self.note_pending(&env.target.id(), &flow, reported, true)
                .await?;
        }
        match ran {
            Ok(Erased::Value(v)) => {
                step.run_plan(durable(flow.take_plan(), &env.token)).await?;
                if cx.notes_when_sent() {
                    // Everything is out (`run_plan` sent it): say so beside
                    // the slot, where no other writer of the slot hides it.
                    let id = env.target.id();
                    let mut note =
                        super::pending_note(&id, &flow, reported, false).unwrap_or_default();
                    note.sent = true;
                    // A failed note still settles: the slot's `fired` then
                    // says it, unless another writer settled it first.
                    if let Err(e) = self.store.note(&Cell::of(&id), &note).await {
                        tracing::warn!(promise = %id, error = %e, "could not note that the plan was sent");
                    }
                }
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
                step.run_plan(durable(flow.take_plan(), &env.token)).await?;
                if let Some((id, kept, note)) = handed_over {
                    step.wait_with(&id, kept, &note).await?;
                }
            }
            Ok(Erased::Deferred) => {
                // The successors this message carries wait in the promise's
                // record, where a resolve, a cancel and a dead-letter settle
                // all find them (the task's resolvers then carry none).
                if cx.successors_in_record() {
                    let id = env.target.id();
                    for cont in env.conts {
                        flow.attach(&id, cont);
                    }
                }
                step.run_plan(durable(flow.take_plan(), &env.token)).await?
            }
            Err(e) => {
                flow.discard();
                let max = env
                    .opts
                    .max_attempts
                    .unwrap_or(self.config.default_max_attempts)
                    .min(MAX_ATTEMPTS);
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

    /// Settle a resolve sent by a task ([`Envelope::resolve`]): no user code runs.
    /// A dead-lettered one settles here too, with no successor run `inline`.
    pub(super) async fn settle_resolve(
        self: &Arc<Self>,
        env: Envelope,
        inline: Option<Inline>,
        gather: &Option<Arc<Gather>>,
    ) -> Result<Option<Envelope>, Rejected> {
        let Some(outcome) = env.input else {
            return Err(Rejected::Undecodable(Failure::bad_input(
                "a resolve message carries no outcome",
            )));
        };
        let mut step = Step::new(self, env.token);
        step.inline = inline;
        step.gather = gather.clone();
        step.settle(env.target, outcome, env.conts, env.repair)
            .await?;
        step.flush().await?;
        Ok(step.next)
    }

    /// The timeout of one attempt run with `opts`.
    pub(super) fn timeout(&self, opts: &RunOpts) -> Duration {
        opts.timeout_ms
            .map(Duration::from_millis)
            .unwrap_or(self.config.default_timeout)
            .min(self.config.max_timeout)
    }

    /// Send the next attempt, after a delay that doubles each attempt.
    async fn retry(&self, mut env: Envelope, e: &Error) -> Result<(), BackendError> {
        let exp = env.attempt.saturating_sub(1).min(20);
        let delay = self
            .config
            .retry_base
            .saturating_mul(1 << exp)
            .min(self.config.retry_max);
        debug!(id = %env.target.id(), attempt = env.attempt, ?delay, error = %e, "retrying");
        // The next attempt keeps the token: if an earlier attempt, delivered
        // again, settles after all, the retry finds the slot its own and repairs.
        env.attempt = env.attempt.saturating_add(1);
        tally(|t| &t.retries, 1);
        self.queue
            .send(vec![Outgoing {
                body: self.seal(&env).await?,
                delay,
            }])
            .await
    }
}

/// A task's plan with its resolves turned into messages ([`Envelope::resolve`]),
/// sent with its children before the task's own promise settles: settling them
/// here instead would leave nothing to repair them if this message were
/// dead-lettered or cancelled after a crash.
/// Their tokens derive from the task's message token `by`, so a redelivery of
/// the message resolves again as the same writer.
fn durable(mut plan: Plan, by: &str) -> Plan {
    let resolves = std::mem::take(&mut plan.resolves);
    plan.sends
        .extend(resolves.into_iter().map(|(target, conts, outcome)| {
            let token = crate::id::resolve_token(&target.id(), by);
            Envelope::resolve(target, conts, outcome, token)
        }));
    plan
}
