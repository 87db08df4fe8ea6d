//! Timers: a sleep's end or a callback's deadline, waiting in the queue.
//!
//! A timer ([`Envelope::timer`]) is a resolve that waits for its time. Each
//! time it arrives it checks its promise first (`decide::checks_first`): a
//! promise already settled (resolved, cancelled) stops it, after it delivers
//! what is owed like any message that finds its slot written (rule 3).
//! Otherwise, before its time, it sends itself on for another hop and only then
//! lets its message be deleted (rule 2); at its time it settles its promise
//! under its own token (rule 1). Rule 5: every hop brings it closer, and a time
//! further away than any producer sets is refused ([`decide::wake`]).

use super::decide::{self, Wake};
use super::{Engine, Rejected};
use crate::clock::epoch_millis;
use crate::failure::Failure;
use crate::id::PromiseId;
use crate::queue::Outgoing;
use crate::store::claim;
use crate::wire::Envelope;
use std::time::Duration;
use tracing::debug;

impl Engine {
    /// How long a new message waits in the queue before it is delivered: a
    /// timer its first hop (so a timer created with its promise does not check
    /// in before anything could have settled it), anything else not at all.
    pub(super) fn delay_of(&self, env: &Envelope) -> Duration {
        match env.timer_at() {
            Some(Some(at)) => match decide::wake(at, self.now(), self.config.timer_hop) {
                Wake::Later(delay) => delay,
                Wake::Now | Wake::TooFar => Duration::ZERO,
            },
            _ => Duration::ZERO,
        }
    }

    /// Whether `env` settles now: `true` for anything but a timer before its
    /// time, which is sent on for another hop instead. A timer that names no
    /// time, or one too far away, cannot be run.
    ///
    /// Copies of a timer (a hop sent twice because the message it came in was
    /// delivered again) end at the next hop: each hop is claimed, with one
    /// conditional write, by the queue message that carries it
    /// (`message_id`), and only that message sends it on. A redelivery of
    /// that message holds the claim again, so a crash between the claim and
    /// the send loses nothing (rule 2).
    pub(super) async fn due(
        &self,
        env: &Envelope,
        message_id: Option<&str>,
    ) -> Result<bool, Rejected> {
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
        match decide::wake(at, self.now(), self.config.timer_hop) {
            Wake::Now => Ok(true),
            Wake::Later(delay) => {
                let hop = env.timer_hop();
                if let Some(message_id) = message_id {
                    let name = format!("{}#{}#{hop}", env.target.id(), env.token);
                    let hop_id = PromiseId::named("timer-hop", &name);
                    let what = serde_json::json!({ "hop": hop });
                    if !claim(&*self.store, &hop_id, message_id, what).await? {
                        debug!(promise = %env.target.id(), hop, "a copy of this timer hops on: this one ends");
                        return Ok(false);
                    }
                }
                debug!(promise = %env.target.id(), ?delay, hop, "timer sent on");
                let body = self.seal(&env.next_hop()).await?;
                self.queue.send(vec![Outgoing { body, delay }]).await?;
                Ok(false)
            }
            Wake::TooFar => Err(Rejected::Undecodable(Failure::bad_input(format!(
                "a timer due at {at} ms since the epoch lies beyond the {} days a timer may wait",
                decide::MAX_TIMER.as_secs() / 86_400
            )))),
        }
    }
}

impl Engine {
    /// Milliseconds since the Unix epoch, now, as timers count.
    fn now(&self) -> u64 {
        epoch_millis(self.clock.now())
    }
}
