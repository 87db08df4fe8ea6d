//! The sweep of the timer index: once a minute, the timers that fall due
//! within the next hop go to the queue with the delay that brings each at its
//! time ([`crate::timer_index`] says why and how they got there).
//!
//! What to do next is decided by [`decide::sweep_step`] from the cursor alone.
//! Rule 5: each sweep claims and sends a bounded number of minutes, and every
//! claim ends, released by its sweep or taken over after
//! [`crate::timer_index::SWEEP_TAKEOVER`]. Rule 2: a minute is released only
//! after its timers were sent, and a sweep delivered again (its message's id
//! names it) sends its claimed minutes again before it releases them. Rule 8:
//! with no fault each minute is sent once; a copy comes only from a sweep that
//! died or overran its claim.

use super::decide::{self, SweepStep};
use super::Engine;
use crate::error::BackendError;
use crate::queue::Outgoing;
use crate::timer_index::{SweepClaim, SweepCursor, MAX_CLAIMS_PER_SWEEP, SHARDS};
use tracing::{debug, warn};

/// Minutes a sweep sends between two writes of its progress.
const RELEASE_EVERY: u64 = 60;

/// The body that asks a worker to sweep the timer index, as the deployment's
/// EventBridge schedule sends it every minute. It carries nothing that could
/// do harm: a sweep sends only what is due, so it needs no signature.
pub const SWEEP_BODY: &str = r#"{"vow":"sweep"}"#;

/// Whether a message body asks for a sweep ([`SWEEP_BODY`], with any spacing).
pub fn is_sweep(body: &str) -> bool {
    body.len() < 64
        && serde_json::from_str::<serde_json::Value>(body)
            .is_ok_and(|v| v.get("vow").and_then(|k| k.as_str()) == Some("sweep"))
}

impl Engine {
    /// Sweep the timer index once, as the sweep named `by` (a queue message's
    /// id, so that a redelivery finishes what it claimed). Returns how many
    /// timers it sent. A store without a timer index has nothing to sweep.
    pub async fn sweep(&self, by: &str) -> Result<u64, BackendError> {
        if !self.store.indexes_timers() {
            return Ok(0);
        }
        let mut sent = 0;
        let mut claims = 0;
        // Each claim takes one step to make and one per hour of it to send.
        let hours = u64::from(crate::timer_index::MAX_MINUTES_PER_SWEEP).div_ceil(RELEASE_EVERY);
        let most_steps = u64::from(MAX_CLAIMS_PER_SWEEP)
            .saturating_mul(hours.saturating_add(1))
            .saturating_add(2);
        for _ in 0..most_steps {
            let cursor = self.store.sweep_cursor().await?;
            let now = self.now();
            match decide::sweep_step(cursor.as_ref(), now, self.config.timer_hop, by) {
                SweepStep::Idle | SweepStep::Busy => break,
                SweepStep::Start(next) => {
                    let start = SweepCursor {
                        next,
                        sweeping: None,
                    };
                    self.store.move_cursor(None, &start).await?;
                }
                SweepStep::Claim { first, last } => {
                    if claims >= MAX_CLAIMS_PER_SWEEP {
                        break;
                    }
                    claims += 1;
                    let claim = SweepCursor {
                        next: last.saturating_add(1),
                        sweeping: Some(SweepClaim {
                            bucket: first,
                            last,
                            by: by.to_owned(),
                            since: now,
                        }),
                    };
                    self.store.move_cursor(cursor.as_ref(), &claim).await?;
                }
                SweepStep::Send { first, last } => {
                    // An hour of minutes at a time, each hour released, so a
                    // long catch-up keeps what it did if it stops.
                    let upto = last.min(first.saturating_add(RELEASE_EVERY - 1));
                    for minute in first..=upto {
                        sent += self.send_minute(minute).await?;
                    }
                    let Some(cursor) = cursor else { break };
                    let rest = (upto < last).then(|| SweepClaim {
                        bucket: upto.saturating_add(1),
                        last,
                        by: by.to_owned(),
                        since: now,
                    });
                    let moved = SweepCursor {
                        next: cursor.next,
                        sweeping: rest,
                    };
                    self.store.move_cursor(Some(&cursor), &moved).await?;
                }
            }
        }
        if sent > 0 {
            debug!(sent, "timers swept");
        }
        Ok(sent)
    }

    /// Send every timer of minute `bucket`, each with the delay that brings it
    /// at its time.
    async fn send_minute(&self, bucket: u64) -> Result<u64, BackendError> {
        let mut reads = tokio::task::JoinSet::new();
        for shard in 0..SHARDS {
            let store = self.store.clone();
            reads.spawn(async move { store.timers_in(bucket, shard).await });
        }
        let mut messages = Vec::new();
        while let Some(read) = reads.join_next().await {
            let timers = read.map_err(|e| BackendError::transient(format!("sweep read: {e}")))?;
            for timer in timers? {
                messages.push(Outgoing {
                    delay: self.delay_until(timer.at),
                    body: self.resealed(timer.body),
                });
            }
        }
        let sent = messages.len() as u64;
        if sent > 0 {
            self.queue.send(messages).await?;
        }
        Ok(sent)
    }

    /// A timer's body from the index, signed afresh (it may have waited there
    /// for up to a year, longer than a message may be old), once its MAC
    /// verifies: the index is in the table, and what comes back from the table
    /// is verified (rule 10). One that does not verify is sent as it is, to
    /// be refused by the worker and settled by the dead-letter handler.
    fn resealed(&self, body: String) -> String {
        let Some(keys) = &self.config.signing else {
            return body;
        };
        let max_age = super::decide::MAX_TIMER
            .saturating_add(super::decide::TIMER_SKEW)
            .saturating_add(crate::signing::MAX_AGE);
        match keys.reseal(self.queue.name(), self.now(), &body, max_age) {
            Ok(fresh) => fresh,
            Err(f) => {
                warn!(%f, "vow: indexed timer failed verification");
                body
            }
        }
    }
}
