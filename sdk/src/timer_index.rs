//! The timer index: timers too far away for a queue delay wait in the store,
//! not in the queue.
//!
//! SQS delays a message by at most 15 minutes. A timer further away than that
//! (plus [`INDEX_MARGIN`]) is written once into the index, keyed by the minute
//! it falls due in ([`IndexedTimer::bucket`]) and one of [`SHARDS`] shards, and
//! waits there at no cost. A sweep ([`crate::Engine::sweep`]), run once a minute
//! (an EventBridge schedule sends the worker `{"vow":"sweep"}`; the embedded
//! workers and [`crate::Vow::run_workers`] sweep on their own), reads each
//! minute's timers once, some 14 minutes before it comes, and sends them with
//! the SQS delay that brings each at its time. So a sleep of any length costs
//! one index write, a share of a batched send, a receive and a delete, and its
//! settle: the same for an hour as for a year (rule 9).
//!
//! The sweep keeps its place in a cursor ([`SweepCursor`]), moved only by
//! conditional writes: a sweep claims a minute (one write), sends its timers,
//! and releases it (one write). A claim older than [`SWEEP_TAKEOVER`] is taken
//! to be a sweep that died, and is taken over: its minute is sent again (a
//! crash explains the copies, rule 8). A timer is written into a minute at
//! least [`INDEX_MARGIN`] before that minute is swept; a writer that took
//! longer than that looks at the cursor after its write and sends the timer
//! itself if the sweep has passed it (rule 5: no timer is left behind).

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Milliseconds in one bucket of the index: a minute.
pub const BUCKET_MS: u64 = 60_000;

/// Shards per minute, so that many timers falling due in one minute do not
/// all write one DynamoDB partition (1,000 writes per second each).
pub const SHARDS: u32 = 8;

/// How much further than a queue delay a timer must lie to be indexed: the
/// time a writer has between choosing a minute and that minute being swept.
pub const INDEX_MARGIN: Duration = Duration::from_secs(5 * 60);

/// A sweep's claim on a minute older than this belongs to a sweep that died.
pub const SWEEP_TAKEOVER: Duration = Duration::from_secs(2 * 60);

/// The most minutes one claim covers: after a long outage the index catches
/// up a day per claim, and one sweep makes a bounded number of claims.
pub const MAX_MINUTES_PER_SWEEP: u32 = 1_440;

/// The most claims one sweep makes: a sweep ends.
pub const MAX_CLAIMS_PER_SWEEP: u32 = 8;

/// One timer in the index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexedTimer {
    /// The minute it falls due in: milliseconds since the Unix epoch divided
    /// by [`BUCKET_MS`].
    pub bucket: u64,
    /// Which of the minute's [`SHARDS`] it is kept in.
    pub shard: u32,
    /// Its name within the minute: the timer message's token, so writing the
    /// same timer twice keeps one.
    pub name: String,
    /// When it falls due, in milliseconds since the Unix epoch.
    pub at: u64,
    /// The sealed timer message, sent as it is when the minute is swept.
    pub body: String,
}

impl IndexedTimer {
    /// The partition this timer is kept in: `<minute>#<shard>`.
    pub fn partition(&self) -> String {
        partition(self.bucket, self.shard)
    }
}

/// The partition key of `shard` of minute `bucket`.
pub fn partition(bucket: u64, shard: u32) -> String {
    format!("{bucket}#{shard}")
}

/// The shard a timer named `name` is kept in.
pub fn shard_of(name: &str) -> u32 {
    let h = name.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    h % SHARDS
}

/// Where the sweep of the index stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweepCursor {
    /// Every minute before this one has been swept.
    pub next: u64,
    /// The minute a sweep claimed and has not yet released.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sweeping: Option<SweepClaim>,
}

/// A sweep's claim on a stretch of minutes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweepClaim {
    /// The first minute claimed.
    pub bucket: u64,
    /// The last minute claimed.
    #[serde(default)]
    pub last: u64,
    /// Who claimed it.
    pub by: String,
    /// When, in milliseconds since the Unix epoch.
    pub since: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_spread_and_stay_in_range() {
        let mut seen = [0u32; SHARDS as usize];
        for i in 0..800 {
            let shard = shard_of(&format!("timer:{i:012x}"));
            assert!(shard < SHARDS);
            seen[shard as usize] += 1;
        }
        assert!(seen.iter().all(|n| *n > 50), "{seen:?}");
        assert_eq!(partition(5, 3), "5#3");
    }
}
