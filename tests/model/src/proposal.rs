//! PROPOSAL for `vow::engine::decide`: the claims that today live inside
//! engine code (`engine/timer.rs` `due`, `schedule.rs` `Tick::run`), as pure
//! functions, so that the engine and this model call the same code. Until
//! they move, the model mirrors today's behaviour here; when they move, replace
//! each body with a call to `decide::…` (the signatures are the proposal).

use vow::PromiseId;

/// Whether a claim whose slot was found written by `by` (`None`: this write
/// just won it) is held by `claimant`. Today `store::claim` answers
/// `slot.by == token` after a lost write.
pub fn holds(by: Option<&str>, claimant: &str) -> bool {
    by.is_none_or(|by| by == claimant)
}

/// Who claims a timer's hop: today the queue message id of the message that
/// carries the hop (`timer.rs` `due`, `claim(…, message_id, …)`). A duplicate
/// delivery keeps the id and holds the claim; a redriven message has a new id
/// and loses to the message it came from (hole 3).
pub fn hop_claimant(message_id: &str) -> String {
    message_id.to_owned()
}

/// Who claims a schedule's firing: today the tick's own promise
/// (`outside_token("fire", &cx.id())` in `schedule.rs`), so every delivery of
/// one tick message, a duplicate or a redelivery, holds the claim again and
/// sends the job again (hole 2).
pub fn firing_claimant(tick: &PromiseId) -> String {
    format!("fire:{tick}")
}
