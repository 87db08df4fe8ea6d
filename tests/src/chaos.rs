//! The chaos run: a few hundred workflows (chains, nested joins, map-and-count,
//! retries, timeouts) through a backend with injected faults, then a check of
//! every workflow's outcome and of every settling write the store accepted.

use crate::tasks::{Flaky, Inc};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use vow::engine::Engine;
use vow::fault::{Audit, FaultConfig, Faults, FaultyQueue, FaultyStore};
use vow::memory::{MemoryQueue, MemoryStore};
use vow::poller::{InProcess, Poller};
use vow::prelude::*;
use vow::queue::Queue;
use vow::store::Store;
use vow_samples::{expected_count, MapCount, Predicate, Report, SlowStep, Square, Sum, Table};

/// What the chaos run found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChaosReport {
    /// Workflows started.
    pub workflows: usize,
    /// Faults injected.
    pub faults: u64,
    /// Workflows that never settled.
    pub lost: usize,
    /// Slots settled more than once.
    pub double: usize,
    /// Workflows that settled with the wrong outcome.
    pub wrong: usize,
}

impl std::fmt::Display for ChaosReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "workflows={} faults={} lost={} double={} wrong={}",
            self.workflows, self.faults, self.lost, self.double, self.wrong
        )
    }
}

impl ChaosReport {
    /// Whether nothing was lost, doubled or wrong.
    pub fn clean(&self) -> bool {
        self.lost == 0 && self.double == 0 && self.wrong == 0
    }
}

/// The faults of a chaos run: every kind, often enough to hit most workflows.
pub fn default_faults(seed: u64) -> FaultConfig {
    FaultConfig {
        fail_before: 0.04,
        fail_after: 0.04,
        duplicate: 0.05,
        delay: 0.05,
        max_delay: Duration::from_secs(1),
        seed,
    }
}

/// A workflow and what it must settle with.
enum Expect {
    U64(Promise<u64>, u64),
    U32(Promise<u32>, u32),
    TimedOut(Promise<String>),
}

/// Start `n` workflows of every kind in one flow on `client`.
async fn start(client: &Vow, n: usize) -> Result<Vec<Expect>, Box<dyn std::error::Error>> {
    let flow = client.flow();
    let mut expects = Vec::with_capacity(n);
    let predicate = Predicate {
        color: "red".into(),
        min_weight: 50,
    };
    for i in 0..n {
        let k = (i % 10) as u64;
        expects.push(match i % 6 {
            0 => {
                let mut p = flow.when(Square(k));
                for _ in 0..4 {
                    p = p.then(Inc);
                }
                Expect::U64(p, k * k + 4)
            }
            1 => {
                let m = 5 + (i % 20) as u64;
                let inner = flow.fan_out((1..=m).map(Square)).then(Sum);
                let outer = flow.all([inner, flow.when(Square(2))]).then(Sum);
                Expect::U64(outer, m * (m + 1) * (2 * m + 1) / 6 + 4)
            }
            2 => {
                let table = Table::Synthetic {
                    items: 300 + i as u32,
                };
                let want = expected_count(&table, &predicate)
                    .await
                    .map_err(|e| e.to_string())?;
                let p = flow.when(MapCount {
                    table,
                    segments: 2,
                    page_size: 60,
                    predicate: predicate.clone(),
                });
                Expect::U64(p, want)
            }
            3 => Expect::U32(flow.when(Flaky { ok_on: 2 }), 2),
            4 => Expect::TimedOut(
                flow.when(SlowStep {
                    work_ms: 3_000,
                    timeout_ms: 100,
                })
                .then(Report),
            ),
            _ => {
                let m = 100 + (i % 200) as u64;
                Expect::U64(
                    flow.fan_out((1..=m).map(Square)).then(Sum),
                    m * (m + 1) * (2 * m + 1) / 6,
                )
            }
        });
    }
    client.start(&flow).await?;
    Ok(expects)
}

/// Wait for every workflow until `deadline`, counting the lost and the wrong.
async fn check(client: &Vow, expects: Vec<Expect>, deadline: Instant) -> (usize, usize) {
    let (mut lost, mut wrong) = (0, 0);
    for (i, e) in expects.into_iter().enumerate() {
        let left = deadline.saturating_duration_since(Instant::now());
        let (id, ok) = match e {
            Expect::U64(p, want) => (
                p.id().clone(),
                client.wait(&p, left).await.map(|r| r == Ok(want)),
            ),
            Expect::U32(p, want) => (
                p.id().clone(),
                client.wait(&p, left).await.map(|r| r == Ok(want)),
            ),
            Expect::TimedOut(p) => (
                p.id().clone(),
                client
                    .wait(&p, left)
                    .await
                    .map(|r| r.is_ok_and(|s| s.starts_with("first step timed out"))),
            ),
        };
        match ok {
            Ok(true) => {}
            Ok(false) => {
                eprintln!("chaos: workflow {i} (kind {}) settled wrong: {id}", i % 6);
                wrong += 1;
            }
            Err(_) => {
                eprintln!("chaos: workflow {i} (kind {}) never settled: {id}", i % 6);
                lost += 1;
            }
        }
    }
    (lost, wrong)
}

/// Workers on a faulty view of `store` and `queue`, plus a clean client to start
/// and check workflows with.
pub struct Rig {
    /// The clean client.
    pub client: Vow,
    /// The audit of settling writes.
    pub audit: Arc<Audit>,
    /// The injected faults.
    pub faults: Arc<Faults>,
    stop: tokio::sync::watch::Sender<bool>,
}

impl std::fmt::Debug for Rig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rig")
            .field("faults", &self.faults)
            .finish_non_exhaustive()
    }
}

impl Rig {
    /// Start `workers` faulty workers (and a dead-letter worker on `dead_letters`).
    pub fn new(
        store: Arc<dyn Store>,
        queue: Arc<dyn Queue>,
        dead_letters: Arc<dyn Queue>,
        faults: Arc<Faults>,
        workers: usize,
    ) -> Rig {
        let audit = Arc::new(Audit::new(store));
        let faulty_store = Arc::new(FaultyStore::new(audit.clone(), faults.clone()));
        let faulty_queue = Arc::new(FaultyQueue::new(queue.clone(), faults.clone()));
        let engine = Engine::new(faulty_store, faulty_queue.clone(), crate::test_engine());
        let (stop, stopped) = tokio::sync::watch::channel(false);
        for _ in 0..workers {
            let poller = Poller::new(
                faulty_queue.clone(),
                Arc::new(InProcess::worker(engine.clone())),
            )
            .wait(Duration::from_secs(1))
            .failed_visibility(Duration::from_millis(100));
            tokio::spawn(poller.run(stopped.clone()));
        }
        let dlq = Poller::new(dead_letters, Arc::new(InProcess::dead_letters(engine)))
            .wait(Duration::from_secs(1));
        tokio::spawn(dlq.run(stopped));
        let client = Vow::client(audit.clone(), queue, crate::test_engine());
        Rig {
            client,
            audit,
            faults,
            stop,
        }
    }

    /// Run `n` workflows and report.
    pub async fn run(
        &self,
        n: usize,
        within: Duration,
    ) -> Result<ChaosReport, Box<dyn std::error::Error>> {
        let deadline = Instant::now() + within;
        let expects = start(&self.client, n).await?;
        let (lost, wrong) = check(&self.client, expects, deadline).await;
        Ok(ChaosReport {
            workflows: n,
            faults: self.faults.injected(),
            lost,
            double: self.audit.doubles().len(),
            wrong,
        })
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// A rig on the in-memory backend; messages become visible again after `visibility`.
pub fn memory_rig(config: FaultConfig, workers: usize, visibility: Duration) -> Rig {
    let dlq = Arc::new(MemoryQueue::dead_letter_queue());
    let queue = Arc::new(MemoryQueue::new(visibility, 30, Some(dlq.clone())));
    let faults = Arc::new(Faults::new(config));
    Rig::new(Arc::new(MemoryStore::new()), queue, dlq, faults, workers)
}

/// A rig on the emulators (or AWS) named by the environment, on a fresh stack.
/// Besides the seam faults, the workers' SDK clients lose replies at the HTTP
/// level ([`vow::aws::FaultInterceptor`]), so the SDK's own retries run too.
pub async fn aws_rig(name: &str, config: FaultConfig, workers: usize, visibility_secs: u32) -> Rig {
    let stack = crate::Stack::with_visibility(name, 30, visibility_secs).await;
    let faults = Arc::new(Faults::new(config));
    let sdk = vow::aws::sdk_config().await;
    let lossy = vow::aws::FaultInterceptor::new(faults.clone());
    let sqs = aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::config::Builder::from(&sdk)
            .interceptor(lossy.clone())
            .build(),
    );
    let dynamodb = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk)
            .interceptor(lossy)
            .build(),
    );
    let dlq = Arc::new(vow::aws::SqsQueue::new(sqs.clone(), &stack.dlq_url));
    let queue = Arc::new(vow::aws::SqsQueue::new(sqs, &stack.names.queue_url));
    let store = Arc::new(vow::aws::DynamoStore::new(
        dynamodb,
        &stack.names.table_name,
        stack.names.record_ttl,
    ));
    let mut rig = Rig::new(store, queue, dlq, faults, workers);
    rig.client = stack.vow;
    rig
}
