//! The engine's decisions, as pure functions of what a message finds in the store.
//!
//! Every path (a first delivery, a redelivery, a repair, a dead letter, a settle
//! made by application code) asks the same two questions, and the answers live
//! here so the engine and the model checker call the very same code:
//! - a slot was found written (by a settle that lost, or by a check before
//!   running): what does this message still owe? ([`owed`])
//! - a join member settled: how far up the join does the count climb? ([`climb`])
//!
//! Rules 3 and 8 are decided here. A message whose own write won fires what it
//! carries and what is stored with the slot, and climbs. A message that finds
//! its slot written by *its own writer* (a redelivery or a duplicate of the
//! writing message, a retry of the same attempt chain) delivers the same, as
//! repairs: the writer may have crashed between its write and its sends. A
//! message that finds its slot written by *another* writer (a timer after an
//! early resolve, a task after a cancel, a resolve after the deadline) delivers
//! only what it carries itself, and climbs: the continuations stored with the
//! slot are the writer's to deliver, and the writer always does. Every writer
//! is either a queue message, deleted only after it delivered (rule 2), or a
//! settle from application code that first sends a *guard*, a message under
//! the same token that delivers for it ([`crate::engine::Engine::cancel`],
//! [`crate::Vow::resolve`]; rule 7). So with no fault, stored successors are
//! fired exactly once, and a successor that is still running, or that adopted
//! a sleep and so has an empty slot for days, is never fired a second time.
//! Deliveries go out under the writer's token ([`firing_token`]): successors'
//! tokens derive from it, so whoever delivers them sends the very messages the
//! writer sent or would have sent.

use crate::store::FAN_IN;
use crate::timer_index::{
    SweepCursor, BUCKET_MS, INDEX_MARGIN, MAX_MINUTES_PER_SWEEP, SWEEP_TAKEOVER,
};
use std::time::Duration;

pub use crate::id::{cancel_token, resolve_token, successor_token, task_token, timer_token};

/// The token that marks a join's full shards and settles the join itself.
/// It names the join, not the member whose arrival filled a shard: any message
/// that finds a shard full (the member that filled it, a redelivery of another
/// member, a repair) writes the same marks and the same join settle, and so
/// repairs what another climber began and left unsent. With the climber's own
/// token, a copy of a message whose other copy was already deleted could settle
/// the join, crash before sending its successors, and leave the last member's
/// climb to lose to it and send nothing.
pub fn join_token(join: &crate::PromiseId) -> String {
    crate::id::outside_token("join", join)
}

/// Tokens of cancellations start with this.
pub(crate) const CANCELLED_BY: &str = "cancel:";

/// Who wrote a slot, as seen by the message holding `token` (for traces and
/// logs: every writer is owed the same, see [`owed`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Writer {
    /// Nobody yet: the slot is empty (or this write just won it).
    Nobody,
    /// This message (or an earlier delivery of it).
    This,
    /// A cancellation.
    Cancel,
    /// Another message or settle.
    Other,
}

/// Who wrote a slot written by `by` (if written), as seen by a message holding `token`.
pub fn writer(by: Option<&str>, token: &str) -> Writer {
    match by {
        None => Writer::Nobody,
        Some(by) if by == token => Writer::This,
        Some(by) if by.starts_with(CANCELLED_BY) => Writer::Cancel,
        Some(_) => Writer::Other,
    }
}

/// What a message owes once its promise's slot is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Owed {
    /// Fire the continuations the message carries.
    pub carried: bool,
    /// Fire the continuations stored with the slot.
    pub stored: bool,
    /// Count a join member's arrival one level up.
    pub climb: bool,
    /// Mark what is fired as repairs (successors check the store before running).
    pub repair: bool,
}

/// What a message owes given who wrote its promise's slot. `Writer::Nobody`
/// means this message's write just won it; `repair` says whether the message is
/// itself a repair. What it carries, and a member's climb, are owed whoever
/// wrote the slot; what is stored with the slot only by its writer (this
/// message's write, or an earlier delivery of it): another writer delivers
/// that itself, and delivering it again would run successors twice (rule 8).
/// Whatever is owed after the slot was found written goes out as repairs.
pub fn owed(writer: Writer, repair: bool) -> Owed {
    Owed {
        carried: true,
        stored: matches!(writer, Writer::Nobody | Writer::This),
        climb: true,
        repair: repair || writer != Writer::Nobody,
    }
}

/// The token a message fires its continuations under once its promise's slot
/// is written by `by` (`None`: by this message's own write, token `own`): the
/// writer's, so every copy, retry, loser and repair sends the same messages.
pub fn firing_token<'a>(by: Option<&'a str>, own: &'a str) -> &'a str {
    by.unwrap_or(own)
}

/// What a timer does when it finds its promise's slot written ([`timer_copy`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimerCopy {
    /// Its firing's deliveries are out (marked so): nothing is left to do.
    Nothing,
    /// Its own firing is written but not marked delivered: the handling
    /// that wrote it may be delivering it right now. Look again after the
    /// engine's grace ([`FIRING_GRACE`] by default).
    LookAgain,
    /// Its own firing is still unmarked at a second look: its writer has
    /// surely ended or stalled. Claim the repair of the firing for this
    /// generation ([`claim_is_old`]); the claimant delivers and marks it,
    /// anyone else looks again.
    Repair,
    /// Another writer's slot: deliver what is owed ([`owed`]) (for a timer,
    /// which carries no successors, at most a join member's climb).
    Deliver,
}

/// What a timer (a copy, a redelivery, a redrive, a dead letter) does when it
/// finds its promise's slot written by `writer`, with (`delivered`) or
/// without a mark that its token's firing delivered everything.
///
/// Rule 8: a timer's copies are made by the engine as well as by SQS (a
/// sweep sends its minute again after a takeover, a hop is sent again after
/// a failed delete, a redrive brings one back), so a copy must not repair
/// a firing that went well: the step after the sleep may still be running.
/// The handling that fires a timer marks, once everything it fired is out
/// (rule 2), that its token delivered (a record of its own, which no note
/// write can undo); a copy that finds the mark does nothing. One that finds
/// its own firing unmarked sends itself again to look after a grace
/// ([`FIRING_GRACE`]) and delivers nothing now: it drops nothing (rule 3),
/// and a firing that went well is marked by then. A redelivery and a dead
/// letter look again too: they may be an earlier hop's message, or a copy,
/// while the firing's own handling still sends. Only a `second_look` (a
/// look that a first look sent) that still finds no mark repairs, under a claim so that two looks never both
/// repair. A firing whose handling died is so repaired one grace later.
pub fn timer_copy(writer: Writer, delivered: bool, second_look: bool) -> TimerCopy {
    if delivered {
        TimerCopy::Nothing
    } else if writer != Writer::This {
        TimerCopy::Deliver
    } else if !second_look {
        TimerCopy::LookAgain
    } else {
        TimerCopy::Repair
    }
}

/// How long, by default, a timer copy that found its firing under way waits
/// before it looks again ([`timer_copy`]), and the span of one claim on
/// repairing a firing ([`TimerCopy::Repair`]; the engine's
/// `firing_grace`): 15 minutes, the queue's longest delay and longer than
/// any Lambda invocation lasts, so a firing's handling still going after it
/// is one that stalled (a fault).
pub const FIRING_GRACE: Duration = Duration::from_secs(15 * 60);

/// Whether a claim on repairing a firing made at `at` is old at `now`: its
/// holder has surely delivered, or died, `grace` after it claimed. Claims
/// come in generations, each one conditional write that one look wins; a
/// look that finds a generation's claim old tries the next
/// ([`MAX_REPAIR_CLAIMS`] at most).
pub fn claim_is_old(at: u64, now: u64, grace: Duration) -> bool {
    now.saturating_sub(at) >= crate::clock::millis(grace)
}

/// The most generations of repair claims one firing may have: each is a
/// look that claimed and then failed (rule 5: a look reads no more).
pub const MAX_REPAIR_CLAIMS: u32 = 64;

/// Whether a message checks the store before running its task: repairs and
/// redeliveries do (their promise may be settled already); a first delivery
/// does not, which saves a read per step. A timer does at every hop, so one
/// whose promise was resolved or cancelled stops waiting. An `aged` message
/// ([`aged`]: signed longer than [`REPLAY_CHECK_AFTER`] ago) does too, so a
/// captured message sent again finds its work done and runs nothing (rule
/// 10); only old messages pay the read.
pub fn checks_first(repair: bool, redelivered: bool, timer: bool, aged: bool) -> bool {
    repair || redelivered || timer || aged
}

/// How old a signed message may be and still run without first reading its
/// promise: 5 minutes. A step's successors and retries are signed when they
/// are sent, so with no backlog and no long retry delay they are younger.
pub const REPLAY_CHECK_AFTER: Duration = Duration::from_secs(5 * 60);

/// Whether a message signed at `issued_ms` (`None`: in the old format, which
/// carries no time) and opened at `now_ms` is old enough to check its promise
/// before it runs ([`checks_first`]).
pub fn aged(issued_ms: Option<u64>, now_ms: u64) -> bool {
    issued_ms.is_none_or(|issued| {
        now_ms.saturating_sub(issued) > crate::clock::millis(REPLAY_CHECK_AFTER)
    })
}

/// The longest sleep or callback deadline: 366 days, as long as an AWS Lambda
/// durable function may run.
pub const MAX_TIMER: Duration = Duration::from_secs(366 * 24 * 3600);

/// How far a timer's time may lie beyond [`MAX_TIMER`] from a worker's clock
/// (the producer's clock may run ahead).
pub const TIMER_SKEW: Duration = Duration::from_secs(24 * 3600);

/// What a timer does when it is created or arrives ([`wake`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wake {
    /// Its time has come: settle the promise.
    Now,
    /// Send it (again), to arrive after this long.
    Later(Duration),
    /// Write it into the timer index, where it waits at no cost until a sweep
    /// sends it with the delay that brings it at its time.
    Index,
    /// It names a time no producer makes (beyond [`MAX_TIMER`] from now):
    /// refuse it rather than let a message keep itself alive for years.
    TooFar,
}

/// The shortest hop with which far timers are indexed rather than hopping:
/// a sweep sends a minute's timers a hop less a minute ahead.
pub const MIN_INDEXED_HOP: Duration = Duration::from_secs(2 * 60);

/// A timer due at `at`, created or arriving at `now` (milliseconds since the
/// Unix epoch): fire it, send it with a delay of at most `hop` (the queue's
/// longest delay), or, when the store keeps a timer index (`indexed`) and the
/// time is further than `hop` plus [`INDEX_MARGIN`], index it. A timer sent
/// with a delay arrives closer to its time, so one that is never indexed ends
/// after at most `MAX_TIMER / hop` hops, and an indexed one after at most two.
pub fn wake(at: u64, now: u64, hop: Duration, indexed: bool) -> Wake {
    let Some(left) = at.checked_sub(now).filter(|left| *left > 0) else {
        return Wake::Now;
    };
    let left = Duration::from_millis(left);
    if left > MAX_TIMER.saturating_add(TIMER_SKEW) {
        return Wake::TooFar;
    }
    if indexed && hop >= MIN_INDEXED_HOP && left > hop.saturating_add(INDEX_MARGIN) {
        return Wake::Index;
    }
    Wake::Later(left.min(hop.max(Duration::from_millis(1))))
}

/// What a sweep of the timer index does next ([`sweep_step`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SweepStep {
    /// Nothing falls due within reach yet: stop until the next sweep.
    Idle,
    /// There is no cursor yet: start it at this minute.
    Start(u64),
    /// Claim the minutes `first..=last` (one conditional write).
    Claim {
        /// The first minute claimed: the cursor's.
        first: u64,
        /// The last.
        last: u64,
    },
    /// Send the timers of the claimed minutes `first..=last`, then release
    /// them: this sweep's own claim, or that of a sweep that died.
    Send {
        /// The first minute.
        first: u64,
        /// The last.
        last: u64,
    },
    /// Another sweep holds a live claim: stop.
    Busy,
}

/// What a sweep named `me` does next, finding the index's `cursor` at `now`
/// (milliseconds since the Unix epoch), when timers are sent at most `hop`
/// ahead. A minute is claimed once the whole of it lies within `hop` of
/// `now`, so every timer in it is sent with a delay the queue allows; at most
/// [`MAX_MINUTES_PER_SWEEP`] minutes at once, so a sweep after a long outage
/// does a bounded amount of work (rule 5). Each minute is claimed once; a
/// claim is sent again only by its own sweep (a redelivery) or after
/// [`SWEEP_TAKEOVER`] (a sweep that died).
pub fn sweep_step(cursor: Option<&SweepCursor>, now: u64, hop: Duration, me: &str) -> SweepStep {
    let Some(cursor) = cursor else {
        return SweepStep::Start(now / BUCKET_MS);
    };
    if let Some(claim) = &cursor.sweeping {
        let dead = now.saturating_sub(claim.since) >= crate::clock::millis(SWEEP_TAKEOVER);
        return if claim.by == me || dead {
            SweepStep::Send {
                first: claim.bucket,
                last: claim.last.max(claim.bucket),
            }
        } else {
            SweepStep::Busy
        };
    }
    let reach = now
        .saturating_add(crate::clock::millis(hop))
        .saturating_sub(BUCKET_MS);
    // The last minute that ends within reach.
    let Some(last) = (reach / BUCKET_MS).checked_sub(1) else {
        return SweepStep::Idle;
    };
    if cursor.next > last {
        return SweepStep::Idle;
    }
    let most = u64::from(MAX_MINUTES_PER_SWEEP);
    SweepStep::Claim {
        first: cursor.next,
        last: last.min(cursor.next.saturating_add(most - 1)),
    }
}

/// The most bytes of carried successors a deferring task stores in its
/// promise's record ([`successors_wait_in_record`]); a quarter of the record's
/// budget for stored continuations (`store::LATER_BUDGET`).
pub const DEFERRED_SUCCESSORS_IN_RECORD: usize = 16 * 1024;

/// The most bytes of successors a sleep or a callback keeps in its record
/// (three quarters of `store::LATER_BUDGET`): whoever settles it, a resolve,
/// a cancel or its timer, finds them there. A flow chaining more does not
/// start.
pub const TIMED_SUCCESSORS_IN_RECORD: usize = 48 * 1024;

/// Where the successors a deferring task's message carries wait for the
/// promise to settle: in the promise's record, when the promise is a plain one
/// and they are small enough, so that whoever settles it finds them there (a
/// resolver, and also a cancel or a dead-letter settle, which never see a
/// resolver); otherwise inside the task's resolvers, which only a resolve
/// delivers. `encoded` is their size as JSON.
pub fn successors_wait_in_record(plain_promise: bool, count: usize, encoded: usize) -> bool {
    plain_promise && count > 0 && encoded <= DEFERRED_SUCCESSORS_IN_RECORD
}

/// One step of counting a join member's arrival.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Climb {
    /// The shard is not full yet: stop here.
    Wait,
    /// The top shard is full: settle the join.
    Complete,
    /// The shard is full: write a mark into slot `slot` of shard `shard` at `level`.
    Mark {
        /// The level of the shard record to mark (1 = one above the members).
        level: u32,
        /// That shard's number.
        shard: u32,
        /// The slot to mark in it.
        slot: u32,
    },
}

/// How many entries level `level` of a join of `n` members has.
pub fn width(n: u32, level: u32) -> u32 {
    width_with(FAN_IN, n, level)
}

fn width_with(fan_in: u32, n: u32, level: u32) -> u32 {
    let mut width = n;
    for _ in 0..level {
        width = width.div_ceil(fan_in);
    }
    width
}

/// After entry `index` of level `level` of a join of `n` members was written
/// and its shard record holds `count` written entries: what happens next.
/// `n` is at least 1 and `index` below the level's width (decoding checks
/// this); out-of-range input waits rather than loops or overflows.
pub fn climb(n: u32, level: u32, index: u32, count: u32) -> Climb {
    climb_with(FAN_IN, n, level, index, count)
}

/// [`climb`] with shards of `fan_in` slots (the store uses [`FAN_IN`]; models
/// use smaller shards, so a join of three already climbs).
pub fn climb_with(fan_in: u32, n: u32, level: u32, index: u32, count: u32) -> Climb {
    let fan_in = fan_in.max(2);
    let width = width_with(fan_in, n, level);
    if index >= width || level > 32 {
        return Climb::Wait;
    }
    let shard = index / fan_in;
    let shard_len = fan_in.min(width - shard * fan_in);
    if count < shard_len {
        return Climb::Wait;
    }
    if width <= fan_in {
        return Climb::Complete;
    }
    Climb::Mark {
        level: level + 1,
        shard: shard / fan_in,
        slot: shard % fan_in,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writers_are_told_apart_by_token() {
        assert_eq!(writer(None, "t"), Writer::Nobody);
        assert_eq!(writer(Some("t"), "t"), Writer::This);
        assert_eq!(writer(Some("cancel:1"), "t"), Writer::Cancel);
        assert_eq!(writer(Some("cancel:1"), "cancel:1"), Writer::This);
        assert_eq!(writer(Some("u"), "t"), Writer::Other);
    }

    #[test]
    fn a_written_slot_is_owed_what_is_carried_and_its_writer_owes_what_is_stored() {
        let o = owed(Writer::This, false);
        assert!(o.carried && o.stored && o.climb && o.repair);
        for writer in [Writer::Cancel, Writer::Other] {
            let o = owed(writer, false);
            assert!(o.carried && !o.stored && o.climb && o.repair, "{writer:?}");
        }
        assert!(owed(Writer::Nobody, false).stored);
        assert!(!owed(Writer::Nobody, false).repair);
        assert!(owed(Writer::Nobody, true).repair);
        assert_eq!(firing_token(Some("w"), "me"), "w");
        assert_eq!(firing_token(None, "me"), "me");
    }

    #[test]
    fn a_timer_copy_looks_again_before_it_repairs_its_own_firing() {
        use TimerCopy::*;
        // Noted delivered: nothing, whoever wrote the slot.
        for writer in [Writer::This, Writer::Other, Writer::Cancel] {
            assert_eq!(timer_copy(writer, true, false), Nothing);
            assert_eq!(timer_copy(writer, true, true), Nothing);
        }
        // Its own firing, unnoted: a first look (a copy, a redelivery, a
        // dead letter) waits; a second look claims the repair.
        assert_eq!(timer_copy(Writer::This, false, false), LookAgain);
        assert_eq!(timer_copy(Writer::This, false, true), Repair);
        // A claim keeps other looks off for a grace.
        let grace = FIRING_GRACE;
        let minute = crate::clock::millis(grace);
        assert!(!claim_is_old(1_000, 1_000 + minute - 1, grace));
        assert!(claim_is_old(1_000, 1_000 + minute, grace));
        assert!(
            !claim_is_old(5_000, 1_000, grace),
            "a claim from a clock ahead"
        );
        // Another writer's slot: owed what it carries and its climb.
        assert_eq!(timer_copy(Writer::Other, false, false), Deliver);
        assert_eq!(timer_copy(Writer::Cancel, false, false), Deliver);
    }

    #[test]
    fn climbing_reaches_the_top_in_a_bounded_number_of_marks() {
        for n in [1, 15, 16, 17, 256, 257, 4_097, crate::wire::MAX_JOIN] {
            // The last member arrives into a full shard at every level.
            let (mut level, mut index) = (0, n - 1);
            let mut marks = 0;
            loop {
                let w = width(n, level);
                let shard_len = FAN_IN.min(w - (index / FAN_IN) * FAN_IN);
                match climb(n, level, index, shard_len) {
                    Climb::Complete => break,
                    Climb::Wait => panic!("a full shard waits (n={n})"),
                    Climb::Mark {
                        level: up,
                        shard,
                        slot,
                    } => {
                        marks += 1;
                        assert!(marks <= 5, "n={n}");
                        (level, index) = (up, shard * FAN_IN + slot);
                    }
                }
            }
        }
    }

    #[test]
    fn timers_hop_toward_their_time_and_refuse_times_beyond_the_limit() {
        let hop = Duration::from_secs(900);
        assert_eq!(wake(1_000, 1_000, hop, false), Wake::Now);
        assert_eq!(wake(1_000, 5_000, hop, false), Wake::Now);
        assert_eq!(
            wake(1_500, 1_000, hop, false),
            Wake::Later(Duration::from_millis(500))
        );
        let year = 365 * 24 * 3_600_000;
        assert_eq!(wake(year, 0, hop, false), Wake::Later(hop));
        assert_eq!(wake(u64::MAX, 0, hop, false), Wake::TooFar);
        assert_eq!(
            wake(2, 1, Duration::ZERO, false),
            Wake::Later(Duration::from_millis(1))
        );
        // A year-long timer ends: every hop is a full one until the last.
        let (mut now, mut hops) = (0u64, 0);
        while let Wake::Later(d) = wake(year, now, hop, false) {
            now += d.as_millis() as u64;
            hops += 1;
        }
        assert_eq!(hops, year / 900_000);
        assert!(checks_first(false, false, true, false));
        assert!(!checks_first(false, false, false, false));
        assert!(checks_first(false, false, false, true));
        let five = crate::clock::millis(REPLAY_CHECK_AFTER);
        assert!(!aged(Some(1_000), 1_000 + five) && aged(Some(1_000), 1_001 + five));
        assert!(!aged(Some(5_000), 1_000), "a clock behind the producer's");
        assert!(aged(None, 0), "the old format says nothing of its age");
    }

    #[test]
    fn far_timers_are_indexed_and_near_ones_wait_in_the_queue() {
        let hop = Duration::from_secs(900);
        let min = 60_000;
        assert_eq!(wake(20 * min, 0, hop, true), Wake::Later(hop));
        assert_eq!(wake(20 * min + 1, 0, hop, true), Wake::Index);
        assert_eq!(wake(30 * 24 * 60 * min, 0, hop, true), Wake::Index);
        assert_eq!(wake(5 * min, 0, hop, true), Wake::Later(hop / 3));
        // Short hops (tests) never index.
        assert_eq!(
            wake(30 * min, 0, Duration::from_millis(100), true),
            Wake::Later(Duration::from_millis(100))
        );
    }

    #[test]
    fn a_sweep_claims_each_minute_once_in_reach_and_takes_over_dead_claims() {
        let hop = Duration::from_secs(900);
        let min = 60_000;
        let now = 1_000 * min + 30_000; // half a minute into minute 1000
        assert_eq!(sweep_step(None, now, hop, "a"), SweepStep::Start(1_000));
        let at = |next| SweepCursor {
            next,
            sweeping: None,
        };
        // Minutes 1000..=1013 end within a hop less a minute of now.
        assert_eq!(
            sweep_step(Some(&at(1_000)), now, hop, "a"),
            SweepStep::Claim {
                first: 1_000,
                last: 1_013
            }
        );
        assert_eq!(sweep_step(Some(&at(1_014)), now, hop, "a"), SweepStep::Idle);
        // After a long outage, a bounded stretch at a time.
        assert_eq!(
            sweep_step(Some(&at(0)), 100 * now, hop, "a"),
            SweepStep::Claim {
                first: 0,
                last: u64::from(MAX_MINUTES_PER_SWEEP) - 1
            }
        );
        let claimed = SweepCursor {
            next: 1_014,
            sweeping: Some(crate::timer_index::SweepClaim {
                bucket: 1_000,
                last: 1_013,
                by: "a".into(),
                since: now,
            }),
        };
        let send = SweepStep::Send {
            first: 1_000,
            last: 1_013,
        };
        assert_eq!(sweep_step(Some(&claimed), now, hop, "a"), send);
        assert_eq!(sweep_step(Some(&claimed), now, hop, "b"), SweepStep::Busy);
        let later = now + crate::clock::millis(SWEEP_TAKEOVER);
        assert_eq!(sweep_step(Some(&claimed), later, hop, "b"), send);
        assert_eq!(sweep_step(None, 0, hop, "a"), SweepStep::Start(0));
        assert_eq!(
            sweep_step(Some(&at(0)), 0, Duration::ZERO, "a"),
            SweepStep::Idle
        );
    }

    #[test]
    fn out_of_range_input_waits() {
        assert_eq!(climb(0, 0, 0, 0), Climb::Wait);
        assert_eq!(climb(5, 0, 7, 16), Climb::Wait);
        assert_eq!(climb(20, 0, 3, 2), Climb::Wait);
        assert_eq!(climb(u32::MAX, 33, 0, 16), Climb::Wait);
    }
}
