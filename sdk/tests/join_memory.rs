//! The successor of a large join: its input is expanded a few shards at a
//! time into JSON text and decoded once, so what it holds grows with its
//! members' values, not with a tree of JSON values per member. Measured with
//! a peak-counting allocator (this test binary's own), so it does not depend
//! on the machine's speed or on what else runs.

mod common;

use common::*;
use std::sync::Arc;
use vow::backend::{Cell, MemoryQueue, MemoryStore, Outcome, Slot, Store};
use vow::prelude::*;
use vow::wire::{Envelope, RunOpts, Target, WIRE_VERSION};
use vow::EngineConfig;

#[global_allocator]
static ALLOCATOR: peak_alloc::PeakAlloc = peak_alloc::PeakAlloc;

#[tokio::test(flavor = "current_thread")]
async fn a_large_joins_successor_holds_little_more_than_its_input() {
    let n: u32 = 100_000;
    let store = Arc::new(MemoryStore::new());
    let queue = Arc::new(MemoryQueue::dead_letter_queue());
    let vow = Vow::client(store.clone(), queue, EngineConfig::default());
    let join = PromiseId::random();
    for i in 0..n {
        let slot = Slot::new(Outcome::Ok(serde_json::json!(u64::from(i))), "test");
        store
            .settle(&Cell::of(&join.member(i)), &slot)
            .await
            .expect("settle");
    }
    let k = key();
    let sum = PromiseId::random();
    let env = Envelope {
        v: WIRE_VERSION,
        token: "t".into(),
        target: Target::Promise(sum.clone()),
        attempt: 1,
        repair: false,
        task: serde_json::json!({ "task": "test/sum-all", "with": { "key": k } }),
        input: Some(Outcome::Joined { join, n }),
        opts: RunOpts::default(),
        conts: Vec::new(),
    };
    let body = vow.engine().seal(&env).await.expect("seal");
    let before = ALLOCATOR.current_usage();
    ALLOCATOR.reset_peak_usage();
    vow.engine().process(&body, 1).await.expect("processed");
    let held = ALLOCATOR.peak_usage().saturating_sub(before);
    assert_eq!(count(&k), 1);
    let expected: u64 = (0..u64::from(n)).sum();
    let outcome = vow.engine().outcome(&sum).await.expect("read");
    assert_eq!(outcome, Some(Outcome::Ok(serde_json::json!(expected))));
    let per_member = held as f64 / f64::from(n);
    println!("join_successor_peak_bytes_per_member={per_member:.0} (n={n})");
    // Its decoded input (a `Result<u64, Failure>` each: 56 bytes) and the
    // text it came from, with room for the vector's doubling.
    assert!(per_member < 200.0, "{per_member} bytes per member");
}
