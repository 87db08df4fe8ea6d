//! What `./tests/run.sh bench` prints for the engine's bounds against long or
//! large work, on the embedded backend (the emulators would measure moto, not
//! vow): how long an adoption loop of 100,000 iterations takes, and the peak
//! memory the successor of a 1,000,000-member join needs.

use std::sync::Arc;
use std::time::{Duration, Instant};
use vow::backend::{Cell, MemoryQueue, MemoryStore, Outcome, Slot, Store};
use vow::prelude::*;
use vow::wire::{Envelope, RunOpts, Target, WIRE_VERSION};
use vow::EngineConfig;

/// Counts down by adopting its next iteration.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Countdown {
    /// Iterations left.
    pub left: u32,
}

#[vow::task("e2e/countdown")]
impl Task for Countdown {
    type Input = ();
    type Output = u32;
    async fn run(self, _: (), cx: &Cx) -> Result<Resolution<u32>, Error> {
        match self.left.checked_sub(1) {
            None => done(0),
            Some(left) => adopt(cx.when(Countdown { left })),
        }
    }
}

/// Seconds an adoption loop of `n` iterations takes from start to result on
/// the embedded backend.
///
/// # Errors
///
/// If it does not finish within an hour, or fails.
pub async fn adoption_loop_secs(n: u32) -> Result<f64, String> {
    let vow = Vow::embedded();
    let began = Instant::now();
    let root = vow
        .when(Countdown { left: n })
        .await
        .map_err(|e| e.to_string())?;
    match vow.wait(&root, Duration::from_secs(3_600)).await {
        Ok(Ok(0)) => Ok(began.elapsed().as_secs_f64()),
        other => Err(format!("the loop ended with {other:?}")),
    }
}

/// The most bytes allocated at once, above what was allocated before, while
/// the successor of a join of `n` small values (`u64`s) runs: `peak` reads
/// the allocator's peak since `reset`, `current` what is allocated now.
///
/// # Errors
///
/// If the successor does not settle with the members' sum.
pub async fn join_successor_peak_bytes(
    n: u32,
    current: impl Fn() -> usize,
    peak: impl Fn() -> usize,
    reset: impl Fn(),
) -> Result<usize, String> {
    let store = Arc::new(MemoryStore::new());
    let queue = Arc::new(MemoryQueue::dead_letter_queue());
    let vow = Vow::client(store.clone(), queue, EngineConfig::default());
    let join = PromiseId::random();
    for i in 0..n {
        let slot = Slot::new(Outcome::Ok(serde_json::json!(u64::from(i))), "bench");
        store
            .settle(&Cell::of(&join.member(i)), &slot)
            .await
            .map_err(|e| e.to_string())?;
    }
    let sum = PromiseId::random();
    let task = serde_json::to_value(&vow_samples::Sum as &dyn vow::__private::ErasedTask)
        .map_err(|e| e.to_string())?;
    let env = Envelope {
        v: WIRE_VERSION,
        token: "bench".into(),
        target: Target::Promise(sum.clone()),
        attempt: 1,
        repair: false,
        task,
        input: Some(Outcome::Joined { join, n }),
        opts: RunOpts::default(),
        conts: Vec::new(),
    };
    let body = vow.engine().seal(&env).await.map_err(|e| e.to_string())?;
    let before = current();
    reset();
    vow.engine()
        .process(&body, 1)
        .await
        .map_err(|e| format!("{e:?}"))?;
    let held = peak().saturating_sub(before);
    let expected: u64 = (0..u64::from(n)).sum();
    match vow
        .engine()
        .outcome(&sum)
        .await
        .map_err(|e| e.to_string())?
    {
        Some(Outcome::Ok(v)) if v == serde_json::json!(expected) => Ok(held),
        other => Err(format!("the successor settled with {other:?}")),
    }
}
