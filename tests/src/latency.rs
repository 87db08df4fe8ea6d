//! How long a user waits, measured by the steps themselves: each step reads
//! this machine's clock when it starts and when it returns, and a successor
//! records the gap since its predecessor returned (one clock, one machine, no
//! polling in the figure). The same measurements run through vow and through a
//! raw SDK baseline on the same emulators.
//!
//! - hop: a step returns, its successor starts after a trip through the queue;
//! - inline: the same when the successor runs in the predecessor's message;
//! - join: the last member of an `all` returns, the join's successor starts;
//! - start: the application starts a flow, its first step starts.
//!
//! ```
//! use vow_e2e::latency::Percentiles;
//! let p = Percentiles::of(&[4_000, 1_000, 2_000, 3_000]).expect("samples");
//! assert_eq!((p.n, p.p50_ms, p.p99_ms), (4, 2.0, 4.0));
//! ```

use crate::Stack;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use aws_sdk_sqs::types::DeleteMessageBatchRequestEntry;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use vow::aws::DynamoStore;
use vow::prelude::*;
use vow::EngineConfig;

/// How long a receive waits for messages (SQS's longest long poll), as in the
/// throughput runs.
const LONG_POLL: Duration = Duration::from_secs(20);
/// The longest one measured flow may take.
const PATIENCE: Duration = Duration::from_secs(1_800);

/// Microseconds since the Unix epoch on this machine's clock.
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// Gaps recorded by running steps, in microseconds, until [`take_samples`].
static SAMPLES: Mutex<Vec<u64>> = Mutex::new(Vec::new());

fn record_since(earlier_us: u64) {
    let gap = now_us().saturating_sub(earlier_us);
    SAMPLES.lock().unwrap_or_else(|e| e.into_inner()).push(gap);
}

/// The gaps recorded since the last call, in microseconds.
pub fn take_samples() -> Vec<u64> {
    std::mem::take(&mut *SAMPLES.lock().unwrap_or_else(|e| e.into_inner()))
}

fn samples_len() -> usize {
    SAMPLES.lock().unwrap_or_else(|e| e.into_inner()).len()
}

/// A first step or a join member: records the gap since `since` (when the
/// application started its flow), if given, and returns the time it returns.
#[derive(Debug, Serialize, Deserialize)]
pub struct Stamp {
    /// When the application started the flow, in microseconds since the epoch.
    pub since: Option<u64>,
}

#[vow::task("e2e/stamp")]
impl Task for Stamp {
    type Input = ();
    type Output = u64;
    async fn run(self, _: (), _cx: &Cx) -> Result<Resolution<u64>, Error> {
        if let Some(since) = self.since {
            record_since(since);
        }
        done(now_us())
    }
}

/// A successor: records the gap since its predecessor returned and returns the
/// time it returns.
#[derive(Debug, Serialize, Deserialize)]
pub struct StampNext;

#[vow::task("e2e/stamp-next")]
impl Task for StampNext {
    type Input = Result<u64, Failure>;
    type Output = u64;
    async fn run(self, returned: Self::Input, _cx: &Cx) -> Result<Resolution<u64>, Error> {
        record_since(returned?);
        done(now_us())
    }
}

/// A join's successor: records the gap since the last of its members returned.
#[derive(Debug, Serialize, Deserialize)]
pub struct StampJoin;

#[vow::task("e2e/stamp-join")]
impl Task for StampJoin {
    type Input = Result<Vec<Result<u64, Failure>>, Failure>;
    type Output = u64;
    async fn run(self, members: Self::Input, _cx: &Cx) -> Result<Resolution<u64>, Error> {
        let mut last = 0;
        for member in members? {
            last = last.max(member?);
        }
        record_since(last);
        done(now_us())
    }
}

/// p50, p90 and p99 of some samples (nearest rank), in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Percentiles {
    /// How many samples.
    pub n: usize,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
}

impl Percentiles {
    /// The percentiles of samples in microseconds; `None` without samples.
    pub fn of(samples_us: &[u64]) -> Option<Percentiles> {
        let mut sorted = samples_us.to_vec();
        sorted.sort_unstable();
        let rank = |p: usize| {
            // Nearest rank: the smallest sample with at least p% at or below it.
            let i = (sorted.len() * p).div_ceil(100).max(1) - 1;
            sorted.get(i).map(|&us| us as f64 / 1_000.0)
        };
        Some(Percentiles {
            n: sorted.len(),
            p50_ms: rank(50)?,
            p90_ms: rank(90)?,
            p99_ms: rank(99)?,
        })
    }
}

impl std::fmt::Display for Percentiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "n={} p50_ms={:.1} p90_ms={:.1} p99_ms={:.1}",
            self.n, self.p50_ms, self.p90_ms, self.p99_ms
        )
    }
}

/// What the latency runs measure, and how many samples of each.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Steps in the chain whose hops go through the queue.
    pub hop_chain: u32,
    /// Steps in the chain whose successors run inline.
    pub inline_chain: u32,
    /// Flows started one after another, each one step.
    pub starts: u32,
    /// Joins as (members, how many of them one after another).
    pub joins: Vec<(u32, u32)>,
    /// vow's settle gather window ([`EngineConfig::gather_for`]); `None`: the
    /// default.
    pub gather_for: Option<Duration>,
}

impl Default for Plan {
    fn default() -> Self {
        Plan {
            hop_chain: 200,
            inline_chain: 200,
            starts: 50,
            joins: vec![(10, 30), (1_000, 5)],
            gather_for: None,
        }
    }
}

/// A named figure: `hop`, `inline`, `start` or `join-<members>`.
pub type Figure = (String, Option<Percentiles>);

/// Run `plan` through vow with `workers` worker loops: the hop chain on a
/// queue and table with inline running off, everything else on another with
/// the engine's defaults (inline runs allowed for 10 s, so the inline chain
/// runs whole).
pub async fn vow_latencies(plan: &Plan, workers: usize) -> Vec<Figure> {
    let mut figures = Vec::new();
    let mut engine = crate::test_engine();
    engine.gather_for = plan.gather_for.unwrap_or(crate::test_engine().gather_for);
    let mut through_queue = engine.clone();
    through_queue.inline_for = Duration::ZERO;
    let (vow, _stack, running) = vow_workers("lat-hop", through_queue, workers).await;
    let hops = plan.hop_chain.saturating_sub(1) as usize;
    let gaps = vow_samples_of(&vow, hops, chain(plan.hop_chain)).await;
    figures.push(("hop".to_owned(), Percentiles::of(&gaps)));
    running.shutdown().await;
    drop(vow);

    let mut inline = engine;
    inline.inline_for = Duration::from_secs(10);
    let (vow, _stack, _running) = vow_workers("lat", inline, workers).await;
    let hops = plan.inline_chain.saturating_sub(1) as usize;
    let gaps = vow_samples_of(&vow, hops, chain(plan.inline_chain)).await;
    figures.push(("inline".to_owned(), Percentiles::of(&gaps)));
    let mut starts = Vec::new();
    for _ in 0..plan.starts {
        let first = |flow: &Flow| {
            flow.when(Stamp {
                since: Some(now_us()),
            })
        };
        starts.extend(vow_samples_of(&vow, 1, first).await);
    }
    figures.push(("start".to_owned(), Percentiles::of(&starts)));
    for &(members, times) in &plan.joins {
        let mut gaps = Vec::new();
        for _ in 0..times {
            gaps.extend(vow_samples_of(&vow, 1, |flow| join(flow, members)).await);
        }
        figures.push((format!("join-{members}"), Percentiles::of(&gaps)));
    }
    figures
}

/// An `all` over `members` stamps, whose successor records the gap since the
/// last of them returned.
pub fn join(flow: &Flow, members: u32) -> Promise<u64> {
    flow.fan_out((0..members).map(|_| Stamp { since: None }))
        .then(StampJoin)
}

/// A chain of `steps` stamps, each recording the gap since the one before.
fn chain(steps: u32) -> impl Fn(&Flow) -> Promise<u64> {
    move |flow| {
        let mut p = flow.when(Stamp { since: None });
        for _ in 1..steps {
            p = p.then(StampNext);
        }
        p
    }
}

/// A client with `workers` worker loops on a fresh queue and table.
async fn vow_workers(
    name: &str,
    config: EngineConfig,
    workers: usize,
) -> (Vow, Stack, vow::Workers) {
    let stack = Stack::new(name, 5).await;
    let store = DynamoStore::new(
        stack.dynamodb.clone(),
        &stack.names.table_name,
        stack.names.record_ttl,
    );
    let vow = Vow::client(Arc::new(store), Arc::new(stack.queue()), config);
    let running = vow.run_workers(workers, None, LONG_POLL);
    (vow, stack, running)
}

/// Start the flow `build` makes, wait until its steps recorded `expect` gaps
/// (watching this process, not the store, so that waiting adds no load), check
/// that the promise `build` returned settled with a value, and return the gaps.
async fn vow_samples_of(
    vow: &Vow,
    expect: usize,
    build: impl Fn(&Flow) -> Promise<u64>,
) -> Vec<u64> {
    take_samples();
    let flow = vow.flow();
    let last = build(&flow);
    vow.start(&flow).await.expect("enqueue");
    wait_for_samples(expect).await;
    match vow.wait(&last, PATIENCE).await {
        Ok(Ok(_)) => {}
        other => panic!("latency flow did not complete: {other:?}"),
    }
    take_samples()
}

async fn wait_for_samples(expect: usize) {
    let started = Instant::now();
    while samples_len() < expect {
        assert!(started.elapsed() < PATIENCE, "latency run stalled");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The raw baseline's workers: what one would write by hand with the plain
/// SDK. A step is one `PutItem` of its result; a successor is a message sent
/// after it (or, inline, a call in the same message); a join is an atomic
/// counter, one `UpdateItem ADD` per batch of members, and whoever brings it to
/// the join's size sends the successor.
#[derive(Debug)]
struct Baseline {
    sqs: aws_sdk_sqs::Client,
    ddb: aws_sdk_dynamodb::Client,
    url: String,
    table: String,
    puts: AtomicU64,
    /// The latest time a join member returned, in microseconds.
    last_member: AtomicU64,
}

impl Baseline {
    async fn put(&self, value: u64) {
        let n = self.puts.fetch_add(1, Ordering::Relaxed);
        let item = HashMap::from([
            ("pk".to_owned(), AttributeValue::S(format!("step#{n}"))),
            (
                "s0".to_owned(),
                AttributeValue::S(format!(
                    r#"{{"o":{{"Ok":{value}}},"b":"0123456789ab","t":1764200000000}}"#
                )),
            ),
            ("ttl".to_owned(), AttributeValue::N("1764200000".into())),
        ]);
        self.ddb
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .expect("baseline put");
    }

    async fn send(&self, body: String) {
        self.sqs
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .send()
            .await
            .expect("baseline send");
    }

    /// Handle one message; a join member returns its join's key and size for
    /// the batch's counter update.
    async fn step(&self, body: &str) -> Option<(String, u64)> {
        let words: Vec<&str> = body.split(' ').collect();
        let num = |i: usize| words.get(i).and_then(|w| w.parse::<u64>().ok());
        match words.first().copied() {
            Some("first") => {
                record_since(num(1)?);
                self.put(now_us()).await;
            }
            Some("hop") => {
                let (left, returned) = (num(1)?, num(2)?);
                if returned > 0 {
                    record_since(returned);
                }
                let returned = now_us();
                self.put(returned).await;
                if left > 0 {
                    self.send(format!("hop {} {returned}", left - 1)).await;
                }
            }
            Some("inline") => {
                let mut returned = None;
                for _ in 0..num(1)? {
                    if let Some(r) = returned {
                        record_since(r);
                    }
                    let now = now_us();
                    returned = Some(now);
                    self.put(now).await;
                }
            }
            Some("member") => {
                let returned = now_us();
                self.last_member.fetch_max(returned, Ordering::Relaxed);
                self.put(returned).await;
                return Some((words.get(1)?.to_string(), num(2)?));
            }
            Some("join") => {
                record_since(self.last_member.load(Ordering::Relaxed));
                self.put(now_us()).await;
            }
            _ => {}
        }
        None
    }

    /// Count a batch's members into their joins' counters; the update that
    /// reaches a join's size sends its successor.
    async fn arrive(&self, key: &str, size: u64, arrived: u64) {
        let out = self
            .ddb
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(format!("join#{key}")))
            .update_expression("ADD c :k")
            .expression_attribute_values(":k", AttributeValue::N(arrived.to_string()))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .expect("baseline count");
        let now: u64 = out
            .attributes()
            .and_then(|a| a.get("c"))
            .and_then(|c| c.as_n().ok())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        if now >= size && now.saturating_sub(arrived) < size {
            self.send(format!("join {key}")).await;
        }
    }

    async fn serve(self: Arc<Self>, stopped: tokio::sync::watch::Receiver<bool>) {
        while !*stopped.borrow() {
            let Ok(out) = self
                .sqs
                .receive_message()
                .queue_url(&self.url)
                .max_number_of_messages(10)
                .wait_time_seconds(LONG_POLL.as_secs() as i32)
                .send()
                .await
            else {
                continue;
            };
            let mut arrivals: HashMap<String, (u64, u64)> = HashMap::new();
            let mut deletes = Vec::new();
            for (i, m) in out.messages().iter().enumerate() {
                if let Some((key, size)) = self.step(m.body().unwrap_or_default()).await {
                    arrivals.entry(key).or_insert((size, 0)).1 += 1;
                }
                if let Some(receipt) = m.receipt_handle() {
                    deletes.push(
                        DeleteMessageBatchRequestEntry::builder()
                            .id(i.to_string())
                            .receipt_handle(receipt)
                            .build()
                            .expect("entry"),
                    );
                }
            }
            for (key, (size, arrived)) in arrivals {
                self.arrive(&key, size, arrived).await;
            }
            if !deletes.is_empty() {
                self.sqs
                    .delete_message_batch()
                    .queue_url(&self.url)
                    .set_entries(Some(deletes))
                    .send()
                    .await
                    .expect("baseline delete");
            }
        }
    }

    /// Send `bodies` (ten to a request) and wait until the steps recorded
    /// `expect` gaps; return them.
    async fn measure(&self, bodies: Vec<String>, expect: usize) -> Vec<u64> {
        take_samples();
        let mut sending = tokio::task::JoinSet::new();
        for (c, chunk) in bodies.chunks(10).enumerate() {
            if sending.len() >= 8 {
                sending.join_next().await;
            }
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, b)| {
                    aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                        .id(format!("{c}-{i}"))
                        .message_body(b)
                        .build()
                        .expect("entry")
                })
                .collect();
            let request = self
                .sqs
                .send_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries));
            sending.spawn(async move { request.send().await.expect("baseline send") });
        }
        while sending.join_next().await.is_some() {}
        wait_for_samples(expect).await;
        take_samples()
    }
}

/// Run `plan` through the raw baseline with `workers` worker loops on a fresh
/// queue and table (a chain of fewer than two steps, or no starts, is skipped).
pub async fn baseline_latencies(plan: &Plan, workers: usize) -> Vec<Figure> {
    let stack = Stack::new("base-lat", 5).await;
    let base = Arc::new(Baseline {
        sqs: stack.sqs.clone(),
        ddb: stack.dynamodb.clone(),
        url: stack.names.queue_url.clone(),
        table: stack.names.table_name.clone(),
        puts: AtomicU64::new(0),
        last_member: AtomicU64::new(0),
    });
    let (stop, stopped) = tokio::sync::watch::channel(false);
    for _ in 0..workers {
        tokio::spawn(base.clone().serve(stopped.clone()));
    }
    let mut figures = Vec::new();
    if plan.hop_chain > 1 {
        let hops = plan.hop_chain - 1;
        let gaps = base
            .measure(vec![format!("hop {hops} 0")], hops as usize)
            .await;
        figures.push(("hop".to_owned(), Percentiles::of(&gaps)));
    }
    if plan.inline_chain > 1 {
        let gaps = base
            .measure(
                vec![format!("inline {}", plan.inline_chain)],
                plan.inline_chain as usize - 1,
            )
            .await;
        figures.push(("inline".to_owned(), Percentiles::of(&gaps)));
    }
    if plan.starts > 0 {
        let mut starts = Vec::new();
        for _ in 0..plan.starts {
            starts.extend(base.measure(vec![format!("first {}", now_us())], 1).await);
        }
        figures.push(("start".to_owned(), Percentiles::of(&starts)));
    }
    for &(members, times) in &plan.joins {
        figures.push((
            format!("join-{members}"),
            Percentiles::of(&baseline_joins(&base, members, times).await),
        ));
    }
    let _ = stop.send(true);
    figures
}

async fn baseline_joins(base: &Baseline, members: u32, times: u32) -> Vec<u64> {
    let mut gaps = Vec::new();
    for _ in 0..times {
        base.last_member.store(0, Ordering::Relaxed);
        let key = PromiseId::random();
        let bodies = (0..members)
            .map(|_| format!("member {key} {members}"))
            .collect();
        gaps.extend(base.measure(bodies, 1).await);
    }
    gaps
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_take_the_nearest_rank() {
        let samples: Vec<u64> = (1..=100).rev().map(|ms| ms * 1_000).collect();
        let p = Percentiles::of(&samples).expect("samples");
        assert_eq!((p.n, p.p50_ms, p.p90_ms, p.p99_ms), (100, 50.0, 90.0, 99.0));
        let one = Percentiles::of(&[7_500]).expect("one sample");
        assert_eq!((one.p50_ms, one.p99_ms), (7.5, 7.5));
        assert_eq!(Percentiles::of(&[]), None);
    }

    #[tokio::test]
    async fn steps_record_the_gap_since_their_predecessor() {
        take_samples();
        let vow = Vow::embedded();
        let flow = vow.flow();
        let last = chain(3)(&flow);
        let joined = join(&flow, 4);
        vow.start(&flow).await.expect("start");
        for p in [&last, &joined] {
            assert!(matches!(
                vow.wait(p, Duration::from_secs(10)).await,
                Ok(Ok(_))
            ));
        }
        let gaps = take_samples();
        // Two hops of the chain and one join; each well under the run's length.
        assert_eq!(gaps.len(), 3, "{gaps:?}");
        assert!(gaps.iter().all(|&us| us < 10_000_000), "{gaps:?}");
    }
}
