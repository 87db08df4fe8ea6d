//! A model checker over the engine's own decisions.
//!
//! A small world (two workers, a dead-letter worker, the application, an
//! at-least-once queue, a store with conditional writes) runs small workflows
//! while faults strike between any two calls: crashes, duplicates, a visibility
//! timeout that expires while a copy runs, dead-lettering after a receive
//! limit, and a cancel or an application resolve at any moment. Every state
//! reachable within a fault budget is explored breadth first. What a message
//! does when it finds its slot written, how a join climbs, which token a
//! successor carries and which key a stored value gets are not re-implemented:
//! the model calls the engine's functions ([`vow::engine::decide`],
//! [`vow::wire::blob_key`]).
//!
//! Properties, checked in every state:
//! - `agreement`: every reader of a promise (each successor's input, `wait`, the
//!   stored slot) sees the same value (rules 1, 3 and 4);
//! - `liveness`: with the faults stopped, every workflow's root settles (rule 5);
//! - `drained`: with the faults stopped, every message is deleted or
//!   dead-lettered and settled (rule 2);
//! - `bounded`: no message causes more than a fixed number of calls (rule 5).
//!
//! `cargo test -p vow-model` runs the bounded check (part of `./tests/run.sh`);
//! `cargo run -p vow-model -- --deep` (`./tests/run.sh model`) explores a larger
//! fault budget. Both print `states=<n> properties=<k> violations=<v>` last.

mod world;

use std::collections::{HashMap, VecDeque};
use world::{Action, Scenario, State};

/// How much may go wrong in one run of a scenario.
#[derive(Clone, Copy, Debug)]
struct Budget {
    crashes: u8,
    duplicates: u8,
    expiries: u8,
    /// Faults of all kinds together.
    total: u8,
    /// Receives after which a message is dead-lettered.
    receive_limit: u8,
}

/// What exploring one scenario found.
struct Found {
    states: usize,
    /// Every state this many steps from the start was explored (all of them,
    /// if the search ran out of states before it ran out of room).
    depth: usize,
    /// Whether every reachable state was explored.
    complete: bool,
    violation: Option<(String, Vec<Action>)>,
}

const PROPERTIES: usize = 4;

/// A state's fingerprint: states are remembered by it, not kept whole, and
/// states that differ only in which worker does what share one.
fn fingerprint(state: &State) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    state.canonical().hash(&mut h);
    h.finish()
}

/// Breadth-first search of every state reachable from the scenario's start.
fn explore(scenario: Scenario, budget: Budget, max_states: usize) -> Found {
    let start = State::new(scenario, budget.receive_limit);
    let mut parent: HashMap<u64, Option<(u64, Action)>> = HashMap::new();
    parent.insert(fingerprint(&start), None);
    let mut frontier = VecDeque::from([(start, 0)]);
    let mut full = false;
    let mut depth = 0;
    while let Some((state, at)) = frontier.pop_front() {
        let here = fingerprint(&state);
        let mut next_states = state.progress();
        if let Some(why) = state.violation(next_states.is_empty()) {
            return Found {
                states: parent.len(),
                depth: at,
                complete: false,
                violation: Some((why, trace(&parent, here))),
            };
        }
        if !full {
            depth = at;
        }
        next_states.extend(state.faults(budget));
        for (action, next) in next_states {
            if parent.len() >= max_states {
                // States past this depth may go unexplored from here on.
                full = true;
                break;
            }
            let key = fingerprint(&next);
            if let std::collections::hash_map::Entry::Vacant(e) = parent.entry(key) {
                e.insert(Some((here, action)));
                frontier.push_back((next, at + 1));
            }
        }
    }
    Found {
        states: parent.len(),
        depth,
        complete: !full,
        violation: None,
    }
}

fn trace(parent: &HashMap<u64, Option<(u64, Action)>>, last: u64) -> Vec<Action> {
    let mut actions = Vec::new();
    let mut at = last;
    while let Some(Some((before, action))) = parent.get(&at) {
        actions.push(action.clone());
        at = *before;
    }
    actions.reverse();
    actions
}

fn run(budget: Budget, max_states: usize) -> (usize, usize) {
    let (mut states, mut violations) = (0, 0);
    for scenario in Scenario::all() {
        let found = explore(scenario, budget, max_states);
        let reach = if found.complete {
            "every reachable state".to_owned()
        } else {
            format!("every state within {} steps", found.depth)
        };
        println!(
            "model: {:<10} states={:>8} {:<30} {}",
            scenario.name(),
            found.states,
            reach,
            if found.violation.is_some() {
                "VIOLATION"
            } else {
                "ok"
            }
        );
        states += found.states;
        if let Some((why, actions)) = found.violation {
            violations += 1;
            println!("model: {} violates {why}; trace:", scenario.name());
            for (i, action) in actions.iter().enumerate() {
                println!("  {:>3}. {action}", i + 1);
            }
        }
    }
    (states, violations)
}

/// The bounded check: one fault of each kind, two in all.
const BOUNDED: Budget = Budget {
    crashes: 1,
    duplicates: 1,
    expiries: 1,
    total: 2,
    receive_limit: 2,
};

/// States per scenario in the bounded check (about a minute in all).
const MAX_STATES: usize = 300_000;

/// The deeper check: three faults in all, two of them crashes.
const DEEP: Budget = Budget {
    crashes: 2,
    duplicates: 1,
    expiries: 1,
    total: 3,
    receive_limit: 2,
};

fn main() -> std::process::ExitCode {
    let deep = std::env::args().any(|a| a == "--deep");
    let (budget, max_states) = if deep {
        (DEEP, 3_000_000)
    } else {
        (BOUNDED, MAX_STATES)
    };
    println!("model: budget {budget:?}");
    let (states, violations) = run(budget, max_states);
    println!("states={states} properties={PROPERTIES} violations={violations}");
    if violations == 0 {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_protocol_keeps_its_promise_in_every_reachable_state() {
        let (states, violations) = run(BOUNDED, MAX_STATES);
        println!("states={states} properties={PROPERTIES} violations={violations}");
        assert!(states > 10_000, "explored {states} states");
        assert_eq!(violations, 0, "see the traces above");
    }
}
