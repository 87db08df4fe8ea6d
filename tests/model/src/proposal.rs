//! PROPOSAL for `vow::engine::decide`: the claims that live inside engine
//! code (`schedule.rs` `Tick::run`, as it was before its lease), as pure
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

/// Who claims a schedule's firing: today the tick's own promise
/// (`outside_token("fire", &cx.id())` in `schedule.rs`), so every delivery of
/// one tick message, a duplicate or a redelivery, holds the claim again and
/// sends the job again (hole 2).
pub fn firing_claimant(tick: &PromiseId) -> String {
    format!("fire:{tick}")
}
