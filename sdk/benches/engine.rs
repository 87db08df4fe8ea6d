//! The engine's own cost per step on the in-memory backend, on one core: encode
//! and decode a message, dispatch it, run a trivial task and settle it. No
//! network, so this is the overhead vow adds on top of SQS and DynamoDB.
//!
//! `cargo bench -p vow-sdk --bench engine` prints each workload's throughput in
//! steps per second (`thrpt`, elements/s).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use vow::memory::{MemoryQueue, MemoryStore};
use vow::prelude::*;
use vow::queue::Queue;
use vow::wire::{Envelope, Target, WIRE_VERSION};
use vow::{Engine, EngineConfig, PromiseId, Vow};

/// Adds one to its input.
#[derive(Debug, Serialize, Deserialize)]
struct Inc;

#[vow::task("bench/inc")]
impl Task for Inc {
    type Input = Result<u64, Failure>;
    type Output = u64;
    async fn run(self, x: Self::Input, _cx: &Cx) -> Result<Resolution<u64>, Error> {
        done(x? + 1)
    }
}

/// Returns its number.
#[derive(Debug, Serialize, Deserialize)]
struct Value(u64);

#[vow::task("bench/value")]
impl Task for Value {
    type Input = ();
    type Output = u64;
    async fn run(self, _: (), _cx: &Cx) -> Result<Resolution<u64>, Error> {
        done(self.0)
    }
}

const CHAIN: u64 = 200;
const MEMBERS: u64 = 1_000;

/// Deliver every queued message in batches of ten until the queue is empty.
async fn drain(engine: &Arc<Engine>, queue: &MemoryQueue) {
    loop {
        let batch = queue
            .receive(10, Duration::ZERO)
            .await
            .expect("memory queue");
        if batch.is_empty() {
            return;
        }
        let receipts = batch.iter().map(|d| d.receipt.clone()).collect();
        let failed = engine.handle_batch(batch).await;
        assert!(failed.is_empty(), "{failed:?}");
        queue.delete(receipts).await.expect("memory queue");
    }
}

/// A chain of `CHAIN` steps (or `MEMBERS` members joined with `all`), run to the end.
async fn run(chain: bool, inline: bool) {
    let store = Arc::new(MemoryStore::new());
    let queue = Arc::new(MemoryQueue::new(Duration::from_secs(60), 5, None));
    let config = {
        let mut config = EngineConfig::default();
        config.inline_for = if inline {
            Duration::from_secs(60)
        } else {
            Duration::ZERO
        };
        config
    };
    let vow = Vow::client(store.clone(), queue.clone(), config.clone());
    let engine = Engine::new(store, queue.clone(), config);
    let flow = vow.flow();
    let id = if chain {
        let mut p = flow.when(Value(0));
        for _ in 1..CHAIN {
            p = p.then(Inc);
        }
        p.id().clone()
    } else {
        flow.fan_out((0..MEMBERS).map(Value)).id().clone()
    };
    vow.start(&flow).await.expect("start");
    drain(&engine, &queue).await;
    assert!(engine.outcome(&id).await.expect("read").is_some());
}

fn steps(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("steps on one core");
    group.sample_size(20);
    group.throughput(Throughput::Elements(CHAIN));
    group.bench_function("chain, each step through the queue", |b| {
        b.iter(|| rt.block_on(run(true, false)))
    });
    group.bench_function("chain, steps run inline", |b| {
        b.iter(|| rt.block_on(run(true, true)))
    });
    group.throughput(Throughput::Elements(MEMBERS));
    group.bench_function("all, members in batches of ten", |b| {
        b.iter(|| rt.block_on(run(false, false)))
    });
    group.finish();

    let env = Envelope {
        v: WIRE_VERSION,
        target: Target::Promise(PromiseId::random()),
        token: "0123456789ab".into(),
        attempt: 1,
        repair: false,
        task: serde_json::json!({"task": "bench/inc", "with": null}),
        input: Some(vow::wire::Outcome::Ok(41.into())),
        opts: Default::default(),
        conts: Vec::new(),
    };
    let mut group = c.benchmark_group("wire");
    group.throughput(Throughput::Elements(1));
    group.bench_function("encode and decode a message", |b| {
        b.iter(|| vow::wire::decode_envelope(&env.encode()).expect("decodes"))
    });
    group.finish();
}

criterion_group!(benches, steps);
criterion_main!(benches);
