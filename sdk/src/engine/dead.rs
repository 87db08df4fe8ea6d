//! Dead letters: messages that failed on every delivery.
//!
//! Rule 5: the dead-letter handler settles the promise of every message it can
//! attribute, with a failure saying why, so successors still run; it follows a
//! pointer to a body stored out of line, and settles the pointer's target even
//! if that body is gone. Rule 3: it settles with the message's own token, so a
//! late successful run of the same message and the dead-letter settle are one
//! writer: whichever comes second repairs instead of firing twice. A body that
//! fails verification runs nothing and fires nothing it carries; its promise,
//! if its body names a plain one, is settled as `BadInput`, and it is counted
//! and logged (rule 10).

use super::settle::Step;
use super::{Engine, Rejected};
use crate::failure::Failure;
use crate::stats::tally;
use crate::wire::{
    decode_body, decode_envelope, decode_task, salvage, Body, Cont, Outcome, Target,
};
use std::sync::Arc;
use tracing::warn;

impl Engine {
    /// Settle the promise of one dead-lettered message (delivered `receive_count`
    /// times) with a failure saying why.
    pub(super) async fn bury(
        self: &Arc<Self>,
        body: &str,
        receive_count: u32,
    ) -> Result<(), Rejected> {
        if super::start_message::is_raw_start(body) {
            return self.bury_raw(body).await;
        }
        let body = match self.verified(body) {
            Ok((inner, _)) => inner,
            Err(f) => return self.bury_unverified(body, f).await,
        };
        let stored;
        let body = match decode_body(body) {
            Ok(Body::Pointer(pointer)) => match self
                .fetch(&pointer.blob)
                .await?
                .filter(|text| matches_pointer(text, &pointer))
            {
                Some(text) => {
                    stored = text;
                    stored.as_str()
                }
                None => {
                    let failure = Failure::bad_input(format!(
                        "message was dead-lettered and its body, stored out of line under {}, \
                         is missing; continuations it carried are lost",
                        pointer.blob
                    ));
                    return self
                        .settle_dead(pointer.target, Vec::new(), pointer.token, failure)
                        .await;
                }
            },
            _ => body,
        };
        let (target, conts, by, failure) = match decode_envelope(body) {
            // An expire message settles nothing: dropped, the join's records
            // keep no TTL (kept too long, never lost).
            Ok(env) if super::expire::is_expire(&env) => {
                warn!(join = %env.target.id(), "dead-lettered expire message dropped");
                return Ok(());
            }
            // A resolve carries its outcome: settle with it, not a failure. A
            // timer settles at its time: before it, it goes back to the work
            // queue to wait; one that cannot wait settles with why.
            Ok(env) if env.is_resolve() && env.input.is_none() => {
                let failure = Failure::bad_input("a resolve or timer message carries no outcome");
                (env.target, env.conts, env.token, failure)
            }
            Ok(env) if env.is_resolve() => match self.due(&env).await {
                Ok(true) if env.timer_at().is_some() => return self.bury_timer(env).await,
                Ok(true) => return self.settle_resolve(env, None, &None).await.map(drop),
                Ok(false) => return Ok(()),
                Err(Rejected::Undecodable(failure)) => (env.target, env.conts, env.token, failure),
                Err(e) => return Err(e),
            },
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
        self.settle_dead(target, conts, by, failure).await
    }

    /// A dead-lettered timer at its time is handled as a copy of itself
    /// ([`super::decide::timer_copy`]): a firing marked delivered costs
    /// nothing; one written but unmarked is looked at again from the work
    /// queue after the grace (a dead letter may be a copy of a firing still
    /// under way; rule 8); a dead-lettered look claims the repair and
    /// delivers, or looks again (rule 3).
    async fn bury_timer(self: &Arc<Self>, env: crate::wire::Envelope) -> Result<(), Rejected> {
        match self.arrive(&env, None, &None).await? {
            super::deliver::Arrival::Settled(_) => Ok(()),
            super::deliver::Arrival::Open => self.fire_timer(env, &None).await,
        }
    }

    /// A dead letter whose signature, queue or issue time does not verify
    /// (forged, altered, stale, signed with a removed key): nothing it carries
    /// runs, but the promise its body names, read without trusting it, is
    /// settled as `BadInput` so that what waits on it ends (rule 5), under a
    /// token of its own (an [`Writer::Other`](super::decide::Writer) to the
    /// message's real run, if any). A join member is not settled: its arrival
    /// would count on the join size the message claims. Each one is counted
    /// ([`crate::stats::BatchStats::refused`]) and logged with the stable
    /// message `vow: dead letter failed verification`, which an alarm can
    /// match; none is dropped silently.
    async fn bury_unverified(self: &Arc<Self>, sealed: &str, why: Failure) -> Result<(), Rejected> {
        tally(|t| &t.refused, 1);
        let inner = crate::signing::unverified_body(sealed);
        let target = match decode_body(inner) {
            Ok(Body::Pointer(pointer)) => Some(pointer.target),
            Ok(Body::Envelope(env)) => Some(env.target),
            Err(_) => salvage(inner).map(|(target, _, _)| target),
        };
        let id = match target {
            Some(Target::Promise(id)) => id,
            Some(Target::Member { join, index, .. }) => {
                warn!(%why, join = %join, index, settled = false,
                    "vow: dead letter failed verification");
                return Ok(());
            }
            None => {
                warn!(%why, settled = false, "vow: dead letter failed verification");
                return Ok(());
            }
        };
        warn!(%why, promise = %id, settled = true, "vow: dead letter failed verification");
        let failure = Failure::bad_input(format!(
            "a message for this promise was dead-lettered and failed verification ({}); \
             nothing it carried was run",
            why.message()
        ));
        let token = crate::id::outside_token("unverified", &id);
        self.settle_dead(Target::Promise(id), Vec::new(), token, failure)
            .await
    }

    async fn settle_dead(
        self: &Arc<Self>,
        target: Target,
        conts: Vec<Cont>,
        by: String,
        failure: Failure,
    ) -> Result<(), Rejected> {
        let mut step = Step::new(self, by);
        step.settle(target, Outcome::Err(failure), conts, false)
            .await?;
        step.flush().await?;
        tally(|t| &t.dead_lettered, 1);
        Ok(())
    }
}

/// Whether a stored body is the envelope `pointer` names (what `open` checks too).
fn matches_pointer(text: &str, pointer: &crate::wire::Pointer) -> bool {
    decode_envelope(text).map_or(true, |env| pointer.names(&env))
}
