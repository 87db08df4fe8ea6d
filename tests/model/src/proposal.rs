//! PROPOSAL for `vow::engine::decide`: the decisions that live inside engine
//! code (`schedule.rs`: `Tick::lease`, `Tick::run`'s hand-over, the revive's
//! reading of a firing, and the tick as it was before its lease), as pure
//! functions, so that the engine and this model call the same code. Until
//! they move, the model mirrors today's behaviour here; when they move,
//! replace each body with a call to `decide::…` (the signatures are the
//! proposal).

use vow::PromiseId;

/// Whether a claim whose slot was found written by `by` (`None`: this write
/// just won it) is held by `claimant`. Today `store::claim` answers
/// `slot.by == token` after a lost write.
pub fn holds(by: Option<&str>, claimant: &str) -> bool {
    by.is_none_or(|by| by == claimant)
}

/// THE ENGINE BEFORE ITS FIX (scenario `schedule-old`). Who claimed a
/// schedule's firing: the tick's own promise (`outside_token("fire",
/// &cx.id())` in `schedule.rs` then), so every delivery of one tick message, a
/// duplicate or a redelivery, held the claim again and sent the job again
/// (hole 2).
pub fn firing_claimant(tick: &PromiseId) -> String {
    format!("fire:{tick}")
}

/// `schedule.rs` `HAND_OVER_AT`: the attempt at which a failing tick hands
/// its firing to a fresh tick (the tick's `max_attempts`).
pub const HAND_OVER_AT: u8 = 3;

/// What a tick that lost the claim of a firing's lease (generation `g`) does,
/// given what it read: whether the holder's tick sent the job (`fired_by`: its
/// slot settled with `fired` for this firing, or its note `sent`), and whether
/// the lease is older than `LEASE`. The loop body of `Tick::lease` after
/// `claim_or_holder` answered with the holder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lost {
    /// The firing's job was sent: send nothing (`Lease::Done`).
    Done,
    /// The holder may be sending right now: fail retryably.
    Young,
    /// The holder died: claim generation `g + 1`.
    TakeOver,
}

pub fn lost(holder_fired: bool, lease_old: bool) -> Lost {
    if holder_fired {
        Lost::Done
    } else if !lease_old {
        Lost::Young
    } else {
        Lost::TakeOver
    }
}

/// What `Tick::run` does with a retryable error of attempt `attempt`: retry
/// the message (the engine's retry: the same token, the next attempt) below
/// `HAND_OVER_AT`, else hand the firing to a fresh tick after a pause and
/// settle this one with `fired: None`.
pub fn hands_over(attempt: u8) -> bool {
    attempt >= HAND_OVER_AT
}

/// What `Vow::schedule`'s revive reads of a firing due more than
/// `REVIVE_AFTER` ago.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Firing {
    /// No lease (generation 0 is unclaimed).
    Unclaimed,
    /// Some generation's holder tick sent the job (`fired_by`).
    Done,
    /// Not done, and the newest generation's lease is younger than `LEASE`.
    Live,
    /// Not done, and the newest generation's lease is older than `LEASE`: its
    /// holder died, and maybe nothing will take it over.
    Stalled,
}

/// Classify a firing from what the revive read: whether generation 0 is
/// claimed, whether some generation's holder tick fired it, and whether the
/// newest generation's lease is older than `LEASE`.
pub fn firing(claimed: bool, fired: bool, newest_old: bool) -> Firing {
    if !claimed {
        Firing::Unclaimed
    } else if fired {
        Firing::Done
    } else if newest_old {
        Firing::Stalled
    } else {
        Firing::Live
    }
}

/// Where the revive restarts a chain, given the firings due more than
/// `REVIVE_AFTER` ago, oldest first (a chain claims its firings in order):
/// the latest, if it is claimed and not done (stalled, or live: a holder that
/// died after its claim and was dead-lettered may hold a young lease that
/// nothing else will take over, hole 11; the revived tick waits it out); if
/// it is unclaimed, the first unclaimed one, or the one before it if that one
/// is claimed and not done; nothing if the latest is done.
pub fn revive_at(due: &[Firing]) -> Option<usize> {
    match due.last()? {
        Firing::Done => None,
        Firing::Live | Firing::Stalled => Some(due.len() - 1),
        Firing::Unclaimed => {
            let first = due.partition_point(|f| *f != Firing::Unclaimed);
            match first.checked_sub(1) {
                Some(before) if matches!(due[before], Firing::Live | Firing::Stalled) => {
                    Some(before)
                }
                _ => Some(first),
            }
        }
    }
}
