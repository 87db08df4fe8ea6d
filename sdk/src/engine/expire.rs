//! A completed join's records and values get their time to live.
//!
//! Rule 9: nothing that live work can still read expires. A join's shard
//! records (its members' slots, level 0, and the marks that count full shards
//! one level up) get no TTL while the join counts ([`crate::store::is_shard_key`]),
//! and values stored out of line for its members are held with none
//! ([`Engine::shrink`]): the join reads them all when it completes, whether a
//! minute or a year after its first member settled. Once it has completed,
//! nothing pending refers to them but the join's own slot, which expires
//! `ttl` after its settle; so the completing climber gives each of them the
//! same TTL, counting from then ([`crate::Store::expire_record`],
//! [`crate::Store::expire_blob`]: never lowering a later one, so a value two
//! slots refer to lives as long as the later).
//!
//! Rule 5: the work is bounded per message. The climber stamps the first
//! [`BATCH`] records itself and sends the rest as a chain of expire messages
//! ([`EXPIRE_TASK`]) of [`BATCH`] records each. Rule 2: the climber sends the
//! first before its own message is deleted, and each link the next before its
//! own is. A link delivered twice stamps twice: the same TTL, or a later one.
//! Cost: one write per shard record (about one per 15 members), plus, per value
//! stored out of line, one write per item it is stored in, and one message per
//! [`BATCH`] records beyond the first [`BATCH`] (joins over 256 members).

use super::{Engine, Rejected};
use crate::error::BackendError;
use crate::failure::Failure;
use crate::id::{outside_token, PromiseId};
use crate::queue::Outgoing;
use crate::store::{shard_key, FAN_IN};
use crate::wire::{Envelope, Outcome, RunOpts, Target, MAX_JOIN, WIRE_VERSION};
use serde_json::{json, Value};
use std::time::Duration;

/// The tag of an expire message: stamp shard records `from..from + BATCH` of a
/// completed join of `n` members. It runs no user code, needs no registration,
/// and settles nothing.
pub const EXPIRE_TASK: &str = "vow/expire";

/// Shard records stamped per message: at most this many writes, one batched
/// read of their level-0 records, and one write per item of the values stored
/// out of line in their slots.
pub const BATCH: u32 = 16;

/// How many shard records a join of `n` members has at `level` (0 past its top).
fn records_at(n: u32, level: u32) -> u32 {
    if level == 0 {
        return n.div_ceil(FAN_IN).max(1);
    }
    let below = super::decide::width(n, level);
    if super::decide::width(n, level - 1) <= FAN_IN {
        return 0;
    }
    below.div_ceil(FAN_IN)
}

/// The `index`-th shard record of a join of `n` members, counting level 0's
/// first, then level 1's, up to the top: `(level, shard)`, or `None` past the
/// last.
fn nth_record(n: u32, index: u32) -> Option<(u32, u32)> {
    let mut index = index;
    for level in 0..=32 {
        let here = records_at(n, level);
        if here == 0 {
            return None;
        }
        if index < here {
            return Some((level, index));
        }
        index -= here;
    }
    None
}

impl Engine {
    /// Stamp shard records `from..from + BATCH` of the completed join `join` of
    /// `n` members, and the values stored out of line in their slots. Returns
    /// the expire message for the next records, if any are left: the caller
    /// sends it before its own message is deleted (rule 2).
    pub(super) async fn expire_join(
        &self,
        join: &PromiseId,
        n: u32,
        from: u32,
    ) -> Result<Option<Envelope>, BackendError> {
        let records: Vec<(u32, u32)> = (from..from.saturating_add(BATCH))
            .map_while(|i| nth_record(n, i))
            .collect();
        let members: Vec<String> = records
            .iter()
            .filter(|(level, _)| *level == 0)
            .map(|(_, shard)| shard_key(join, 0, *shard))
            .collect();
        for record in self.store.read_many(&members).await?.into_iter().flatten() {
            for slot in record.slots.values() {
                if let Outcome::Stored { key } = &slot.outcome {
                    self.store.expire_blob(key).await?;
                }
            }
        }
        for (level, shard) in &records {
            self.store
                .expire_record(&shard_key(join, *level, *shard))
                .await?;
        }
        let next = from.saturating_add(BATCH);
        Ok(nth_record(n, next).map(|_| expire_message(join, n, next)))
    }

    /// Process an expire message ([`EXPIRE_TASK`]): stamp its records and send
    /// the next link of the chain.
    pub(super) async fn expire_step(&self, env: &Envelope) -> Result<(), Rejected> {
        let (Target::Promise(join), Some(n), Some(from)) = (
            &env.target,
            env.task.get("n").and_then(Value::as_u64),
            env.task.get("from").and_then(Value::as_u64),
        ) else {
            return Err(Rejected::Undecodable(Failure::bad_input(
                "an expire message names no join, size or start",
            )));
        };
        let (Ok(n), Ok(from)) = (u32::try_from(n), u32::try_from(from)) else {
            return Err(Rejected::Undecodable(Failure::bad_input(
                "an expire message's size or start is out of range",
            )));
        };
        if n == 0 || n > MAX_JOIN {
            return Err(Rejected::Undecodable(Failure::bad_input(
                "an expire message's join size is out of range",
            )));
        }
        if let Some(next) = self.expire_join(join, n, from).await? {
            let body = self.seal(&next).await?;
            self.queue
                .send(vec![Outgoing {
                    body,
                    delay: Duration::ZERO,
                }])
                .await?;
        }
        Ok(())
    }
}

/// The message that stamps shard records `from..` of the completed join `join`
/// of `n` members. Its token is derived, so every climber that completes the
/// join (a redelivery, a repair) sends the same messages.
pub(super) fn expire_message(join: &PromiseId, n: u32, from: u32) -> Envelope {
    Envelope {
        v: WIRE_VERSION,
        token: outside_token("expire", join),
        target: Target::Promise(join.clone()),
        attempt: 1,
        repair: false,
        task: json!({ "task": EXPIRE_TASK, "n": n, "from": from }),
        input: None,
        opts: RunOpts::default(),
        conts: Vec::new(),
    }
}

/// Whether `env` is an expire message ([`EXPIRE_TASK`]).
pub(super) fn is_expire(env: &Envelope) -> bool {
    env.tag() == Some(EXPIRE_TASK)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every shard record a climb can write, for a join of `n`: level 0's
    /// shards, and each mark's record one level up.
    fn climbed(n: u32) -> Vec<(u32, u32)> {
        use super::super::decide::{climb, width, Climb};
        let mut out: Vec<(u32, u32)> = (0..n.div_ceil(FAN_IN)).map(|s| (0, s)).collect();
        for level in 0.. {
            let w = width(n, level);
            let mut any = false;
            for index in (0..w).step_by(FAN_IN as usize) {
                let len = FAN_IN.min(w - index);
                if let Climb::Mark {
                    level: up, shard, ..
                } = climb(n, level, index, len)
                {
                    any = true;
                    if !out.contains(&(up, shard)) {
                        out.push((up, shard));
                    }
                }
            }
            if !any {
                break;
            }
        }
        out
    }

    #[test]
    fn every_record_a_climb_writes_is_enumerated_once() {
        for n in [1, 2, 15, 16, 17, 255, 256, 257, 4_096, 4_097, 70_000] {
            let listed: Vec<(u32, u32)> = (0..).map_while(|i| nth_record(n, i)).collect();
            assert_eq!(listed, climbed(n), "n={n}");
        }
    }
}
