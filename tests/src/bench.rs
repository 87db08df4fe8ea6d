//! The cost and speed benchmark behind `./tests/run.sh bench`: workloads run by
//! vow and by a raw baseline on the emulators, every request counted and priced.

use crate::tasks::{Inc, MatchOne};
use crate::Stack;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, SendMessageBatchRequestEntry};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use vow::aws::cost::{item_size, write_units};
use vow::aws::{Counts, DynamoStore, LIST_PRICES};
use vow::fault::Audit;
use vow::Vow;
use vow_samples::{Square, Sum};

/// Worker loops, each running batches of up to 10 messages, for vow and baseline alike.
pub const WORKERS: usize = 4;
/// How long a receive waits for messages (SQS's longest long poll).
const LONG_POLL: Duration = Duration::from_secs(20);
/// The longest a workload may take.
const PATIENCE: Duration = Duration::from_secs(1_800);

/// A workload: what a step is and how steps depend on each other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// `n` steps, each started by the one before.
    Chain(u32),
    /// `n` independent steps joined with `all`.
    All(u32),
    /// `n` map steps over synthetic items joined with `all`, then one count step.
    MapCount(u32),
    /// `n` steps joined with `all`, then one step that records how long after
    /// the last of them it started ([`crate::latency::join`]).
    Join(u32),
}

impl Workload {
    /// Steps a user asked for: tasks run (a join's bookkeeping is not a step).
    pub fn steps(&self) -> u64 {
        match *self {
            Workload::Chain(n) | Workload::All(n) => u64::from(n),
            Workload::MapCount(n) | Workload::Join(n) => u64::from(n) + 1,
        }
    }

    /// A short name.
    pub fn name(&self) -> String {
        match *self {
            Workload::Chain(n) => format!("chain-{n}"),
            Workload::All(n) => format!("all-{n}"),
            Workload::MapCount(n) => format!("map-count-{n}"),
            Workload::Join(n) => format!("join-{n}"),
        }
    }
}

/// One workload's measurements.
#[derive(Clone, Debug)]
pub struct Run {
    /// The workload.
    pub workload: Workload,
    /// Wall time from enqueue to the last step settled.
    pub elapsed: Duration,
    /// Requests made, by the enqueuing client and the workers.
    pub counts: Counts,
}

impl Run {
    /// Steps per second.
    pub fn steps_per_sec(&self) -> f64 {
        self.workload.steps() as f64 / self.elapsed.as_secs_f64()
    }

    fn per_step(&self, x: u64) -> f64 {
        x as f64 / self.workload.steps() as f64
    }

    /// US dollars per million steps at list prices.
    pub fn usd_per_million(&self) -> f64 {
        self.counts.usd(&LIST_PRICES) / self.workload.steps() as f64 * 1e6
    }

    /// US dollars per million steps for Lambda at `compute`: one request per
    /// batch (the batches that deleted messages) plus the CPU time of each step.
    pub fn lambda_usd_per_million(&self, compute: &Compute) -> f64 {
        let requests = self.counts.sqs_delete as f64 * LIST_PRICES.lambda_request;
        let seconds = compute.cpu_us_per_step * 1e-6 * self.workload.steps() as f64;
        let gb_seconds = seconds * f64::from(compute.memory_mb) / 1024.0;
        (requests + gb_seconds * LIST_PRICES.lambda_gb_second) / self.workload.steps() as f64 * 1e6
    }

    /// One line of figures, with Lambda's price at `compute` if known.
    pub fn line(&self, who: &str, compute: Option<&Compute>) -> String {
        let c = &self.counts;
        format!(
            "{who:<8} {:<15} steps={} secs={:.1} steps_per_sec={:.0} writes_per_step={:.3} \
             sqs_requests_per_step={:.3} wru_per_step={:.3} rru_per_step={:.3} \
             usd_per_million_steps={:.3} max_item_bytes={}{}",
            self.workload.name(),
            self.workload.steps(),
            self.elapsed.as_secs_f64(),
            self.steps_per_sec(),
            self.per_step(c.ddb_write),
            self.per_step(c.sqs_billed()),
            self.per_step(c.write_units),
            self.per_step(c.read_units),
            self.usd_per_million(),
            c.max_item_bytes,
            compute.map_or(String::new(), |c| format!(
                " lambda_usd_per_million_steps={:.3}",
                self.lambda_usd_per_million(c)
            )),
        )
    }
}

/// What a Lambda function spends per step, to price its compute.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Compute {
    /// CPU time per step, in microseconds (measured on the release binary).
    pub cpu_us_per_step: f64,
    /// The function's memory size, in MB (the price scales with it).
    pub memory_mb: u32,
}

/// The summary line over all workloads: cost and requests per step of vow, and
/// vow's throughput relative to the baseline's.
pub fn summary(vow: &[Run], baseline: &[Run]) -> String {
    let steps: u64 = vow.iter().map(|r| r.workload.steps()).sum();
    let sum = |f: fn(&Counts) -> u64| vow.iter().map(|r| f(&r.counts)).sum::<u64>() as f64;
    let usd: f64 = vow.iter().map(|r| r.counts.usd(&LIST_PRICES)).sum();
    let rate = |runs: &[Run]| {
        runs.iter().map(|r| r.workload.steps()).sum::<u64>() as f64
            / runs.iter().map(|r| r.elapsed.as_secs_f64()).sum::<f64>()
    };
    format!(
        "usd_per_million_steps={:.3} writes_per_step={:.3} sqs_requests_per_step={:.3} vs_baseline={:.2}",
        usd / steps as f64 * 1e6,
        sum(|c| c.ddb_write) / steps as f64,
        sum(Counts::sqs_billed) / steps as f64,
        rate(vow) / rate(baseline),
    )
}

/// Run `workload` through vow on a fresh queue and table, checking its result and
/// that no slot was settled twice. Returns the figures and the most writes any
/// one record received.
pub async fn run_vow(workload: Workload) -> (Run, u32) {
    let stack = Stack::new(&workload.name(), 5).await;
    let audit = Arc::new(Audit::new(Arc::new(
        DynamoStore::new(
            stack.dynamodb.clone(),
            &stack.names.table_name,
            stack.names.record_ttl,
        )
        .with_metrics(stack.metrics.clone()),
    )));
    let queue = Arc::new(stack.queue());
    let workers = Vow::client(audit.clone(), queue, crate::test_engine());
    let _running = workers.run_workers(WORKERS, None, LONG_POLL);
    // The watcher's reads are not part of the workload.
    let watcher = Vow::client(
        Arc::new(DynamoStore::new(
            stack.dynamodb.clone(),
            &stack.names.table_name,
            stack.names.record_ttl,
        )),
        Arc::new(stack.queue()),
        crate::test_engine(),
    );
    let flow = workers.flow();
    let started = Instant::now();
    let outcome = match workload {
        Workload::Chain(n) => {
            let mut p = flow.when(Square(0));
            for _ in 1..n {
                p = p.then(Inc);
            }
            workers.start(&flow).await.expect("enqueue");
            watcher
                .wait(&p, PATIENCE)
                .await
                .map(|r| (r, u64::from(n) - 1))
        }
        Workload::All(n) => {
            let all = flow.fan_out((0..u64::from(n)).map(Square));
            workers.start(&flow).await.expect("enqueue");
            let expected = (0..u64::from(n)).map(|i| i * i).sum();
            watcher.wait(&all, PATIENCE).await.map(|r| {
                (
                    r.map(|v| v.into_iter().map(|x| x.unwrap_or(0)).sum()),
                    expected,
                )
            })
        }
        Workload::MapCount(n) => {
            let count = flow.fan_out((0..n).map(|id| MatchOne { id })).then(Sum);
            workers.start(&flow).await.expect("enqueue");
            let expected = (0..n).filter(|&id| MatchOne::matches(id)).count() as u64;
            watcher.wait(&count, PATIENCE).await.map(|r| (r, expected))
        }
        Workload::Join(n) => {
            let last = crate::latency::join(&flow, n);
            workers.start(&flow).await.expect("enqueue");
            // The successor's value is when it returned: any value will do.
            watcher
                .wait(&last, PATIENCE)
                .await
                .map(|r| (r.map(|_| 0), 0))
        }
    };
    let elapsed = started.elapsed();
    let counts = stack.metrics.snapshot();
    match outcome {
        Ok((Ok(got), expected)) => assert_eq!(got, expected, "{} computed wrong", workload.name()),
        other => panic!("{} did not complete: {other:?}", workload.name()),
    }
    let run = Run {
        workload,
        elapsed,
        counts,
    };
    let doubles = audit.doubles();
    assert!(doubles.is_empty(), "settled twice: {doubles:?}");
    (run, audit.max_writes_per_record())
}

/// Counters of the baseline's requests.
#[derive(Debug, Default)]
struct Tally {
    send: AtomicU64,
    receive: AtomicU64,
    delete: AtomicU64,
    put: AtomicU64,
    write_units: AtomicU64,
    max_item: AtomicU64,
    done: AtomicU64,
}

impl Tally {
    fn counts(&self) -> Counts {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Counts {
            sqs_send: get(&self.send),
            sqs_receive: get(&self.receive),
            sqs_delete: get(&self.delete),
            ddb_write: get(&self.put),
            ddb_settled: get(&self.put),
            write_units: get(&self.write_units),
            max_item_bytes: get(&self.max_item),
            ..Counts::default()
        }
    }
}

/// Run `workload` the way one would by hand with the plain SDK and no vow: a
/// message per step (sent in batches of 10 where steps are independent), and per
/// step one receive share, one `PutItem` of its result and one delete share. It
/// keeps no join counter (the enqueuer watches an in-process count), so it is a
/// floor, not a rival.
pub async fn run_baseline(workload: Workload) -> Run {
    let stack = Stack::new(&format!("base-{}", workload.name()), 5).await;
    let tally = Arc::new(Tally::default());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let chain_of = match workload {
        Workload::Chain(n) => Some(u64::from(n)),
        _ => None,
    };
    for _ in 0..WORKERS {
        let (sqs, ddb, url, table) = (
            stack.sqs.clone(),
            stack.dynamodb.clone(),
            stack.names.queue_url.clone(),
            stack.names.table_name.clone(),
        );
        let (tally, stopped) = (tally.clone(), stopped.clone());
        tokio::spawn(async move {
            while !*stopped.borrow() {
                tally.receive.fetch_add(1, Ordering::Relaxed);
                let Ok(out) = sqs
                    .receive_message()
                    .queue_url(&url)
                    .max_number_of_messages(10)
                    .wait_time_seconds(LONG_POLL.as_secs() as i32)
                    .send()
                    .await
                else {
                    continue;
                };
                let messages = out.messages.unwrap_or_default();
                let mut deletes = Vec::new();
                for (i, m) in messages.iter().enumerate() {
                    let step: u64 = m.body().and_then(|b| b.parse().ok()).unwrap_or(0);
                    let item = HashMap::from([
                        (
                            "pk".to_owned(),
                            AttributeValue::S(format!("{table}#{step}")),
                        ),
                        (
                            "s0".to_owned(),
                            AttributeValue::S(format!(
                                r#"{{"o":{{"Ok":{step}}},"b":"0123456789ab","t":1764200000000}}"#
                            )),
                        ),
                        ("ttl".to_owned(), AttributeValue::N("1764200000".into())),
                    ]);
                    let size = item_size(&item);
                    tally.put.fetch_add(1, Ordering::Relaxed);
                    tally
                        .write_units
                        .fetch_add(write_units(size), Ordering::Relaxed);
                    tally.max_item.fetch_max(size as u64, Ordering::Relaxed);
                    ddb.put_item()
                        .table_name(&table)
                        .set_item(Some(item))
                        .send()
                        .await
                        .expect("baseline put");
                    if chain_of.is_some_and(|n| step + 1 < n) {
                        tally.send.fetch_add(1, Ordering::Relaxed);
                        sqs.send_message()
                            .queue_url(&url)
                            .message_body((step + 1).to_string())
                            .send()
                            .await
                            .expect("baseline send");
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
                    tally.done.fetch_add(1, Ordering::Relaxed);
                }
                if !deletes.is_empty() {
                    tally.delete.fetch_add(1, Ordering::Relaxed);
                    sqs.delete_message_batch()
                        .queue_url(&url)
                        .set_entries(Some(deletes))
                        .send()
                        .await
                        .expect("baseline delete");
                }
            }
        });
    }
    let send_all = |steps: std::ops::Range<u64>| {
        let (sqs, url, tally) = (
            stack.sqs.clone(),
            stack.names.queue_url.clone(),
            tally.clone(),
        );
        async move {
            let mut sending = tokio::task::JoinSet::new();
            let steps: Vec<u64> = steps.collect();
            for chunk in steps.chunks(10) {
                if sending.len() >= 8 {
                    sending.join_next().await;
                }
                let entries: Vec<_> = chunk
                    .iter()
                    .map(|s| {
                        SendMessageBatchRequestEntry::builder()
                            .id(s.to_string())
                            .message_body(s.to_string())
                            .build()
                            .expect("entry")
                    })
                    .collect();
                tally.send.fetch_add(1, Ordering::Relaxed);
                let request = sqs
                    .send_message_batch()
                    .queue_url(&url)
                    .set_entries(Some(entries));
                sending.spawn(async move { request.send().await.expect("baseline send") });
            }
            while sending.join_next().await.is_some() {}
        }
    };
    let started = Instant::now();
    let wait_for = |n: u64| {
        let tally = tally.clone();
        async move {
            while tally.done.load(Ordering::Relaxed) < n {
                assert!(started.elapsed() < PATIENCE, "baseline stalled");
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    };
    match workload {
        Workload::Chain(_) => send_all(0..1).await,
        Workload::All(n) => send_all(0..u64::from(n)).await,
        Workload::MapCount(n) | Workload::Join(n) => {
            send_all(0..u64::from(n)).await;
            wait_for(u64::from(n)).await;
            send_all(u64::from(n)..u64::from(n) + 1).await;
        }
    }
    wait_for(workload.steps()).await;
    let elapsed = started.elapsed();
    let _ = stop.send(true);
    Run {
        workload,
        elapsed,
        counts: tally.counts(),
    }
}

/// What waiting costs, at list prices: see [`sleeps_usd_per_million`] and
/// [`schedule_idle_usd_per_week`].
#[derive(Clone, Copy, Debug)]
pub struct WaitCosts {
    /// US dollars per million sleeps of an hour.
    pub sleeps_1h: f64,
    /// US dollars per million sleeps of 30 days.
    pub sleeps_30d: f64,
    /// US dollars a schedule that does not fire costs per week.
    pub schedule_idle_week: f64,
    /// US dollars a month of the once-a-minute sweep costs a deployment,
    /// whatever sleeps: the sweep message, its cursor and its queries.
    pub sweep_month: f64,
}

impl WaitCosts {
    /// Measure them all on the emulators.
    pub async fn measure() -> WaitCosts {
        let hour = Duration::from_secs(3_600);
        let sleeps_1h = sleeps_usd_per_million(hour, 100).await;
        let sleeps_30d = sleeps_usd_per_million(30 * 24 * hour, 100).await;
        let (schedule_idle_week, sweep_month) = schedule_idle_usd_per_week().await;
        WaitCosts {
            sleeps_1h,
            sleeps_30d,
            schedule_idle_week,
            sweep_month,
        }
    }

    /// The line `./tests/run.sh bench` prints.
    pub fn line(&self) -> String {
        format!(
            "waits    usd_per_million_sleeps_1h={:.3} usd_per_million_sleeps_30d={:.3} \
             schedule_idle_usd_per_week={:.9} sweep_usd_per_month={:.4}",
            self.sleeps_1h, self.sleeps_30d, self.schedule_idle_week, self.sweep_month
        )
    }
}

/// The sweep's cursor of `stack`, moved to `minute` (not counted: the minutes
/// skipped cost the deployment's fixed per-minute sweep, not any one sleep).
async fn move_sweep_to(stack: &Stack, minute: u64) {
    use vow::backend::Store;
    let store = DynamoStore::new(
        stack.dynamodb.clone(),
        &stack.names.table_name,
        stack.names.record_ttl,
    )
    .with_timer_table(crate::timer_table(&stack.names.table_name));
    let cursor = store.sweep_cursor().await.expect("cursor");
    let to = vow::timer_index::SweepCursor {
        next: minute,
        sweeping: None,
    };
    assert!(
        store.move_cursor(cursor.as_ref(), &to).await.expect("move"),
        "the cursor moved under the bench"
    );
}

/// Wait until `stack`'s requests, receives aside, stop for two seconds.
async fn until_quiet(stack: &Stack) {
    let mut last = stack.metrics.snapshot();
    let began = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let now = stack.metrics.snapshot();
        let moved = Counts {
            sqs_receive: 0,
            ..now.since(&last)
        };
        if moved.usd(&LIST_PRICES) == 0.0 || began.elapsed() > PATIENCE {
            return;
        }
        last = now;
    }
}

/// US dollars per million sleeps of `length`, from `n` of them on the
/// emulators: every request from the flow's start to the sleeps' settles.
/// The engine's clock is moved rather than waited on, and the sweep's cursor
/// is moved past the idle minutes between (their cost is the deployment's,
/// [`WaitCosts::sweep_month`]).
pub async fn sleeps_usd_per_million(length: Duration, n: u32) -> f64 {
    let stack = Stack::with_visibility("sleeps", 5, 30).await;
    let before = stack.metrics.snapshot();
    let flow = stack.vow.flow();
    let naps: Vec<_> = (0..n).map(|_| flow.sleep(length)).collect();
    let started = std::time::SystemTime::now();
    stack.vow.start(&flow).await.expect("start");
    stack
        .vow
        .engine()
        .skip_clock(length + Duration::from_secs(60));
    let due_ms = started
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
        + length.as_millis() as u64;
    move_sweep_to(&stack, due_ms / vow::timer_index::BUCKET_MS - 1).await;
    let workers = stack.vow.run_workers(2, None, LONG_POLL);
    for nap in &naps {
        let woke = stack.vow.wait(nap, PATIENCE).await.expect("wait");
        assert_eq!(woke, Ok(()), "a sleep ended wrong");
    }
    let counts = stack.metrics.snapshot().since(&before);
    workers.shutdown().await;
    counts.usd(&LIST_PRICES) / f64::from(n) * 1e6
}

/// What a schedule that fires once a year costs per week of idleness (it
/// wakes once a week to look at its off switch), and what the sweep costs a
/// deployment per month (one minute's sweep, measured, times the minutes of
/// 30 days, plus the message EventBridge sends each minute with its receive
/// and delete).
pub async fn schedule_idle_usd_per_week() -> (f64, f64) {
    let stack = Stack::with_visibility("idle", 5, 30).await;
    let yearly: vow::Cron = "0 0 1 1 *".parse().expect("cron");
    let name = format!("idle-{}", vow::PromiseId::random());
    stack
        .vow
        .schedule(&name, &yearly, Square(1))
        .await
        .expect("schedule");
    let workers = stack.vow.run_workers(2, None, LONG_POLL);
    until_quiet(&stack).await;
    let before = stack.metrics.snapshot();
    let week = Duration::from_secs(7 * 24 * 3_600);
    stack
        .vow
        .engine()
        .skip_clock(week + Duration::from_secs(60));
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
        + week.as_millis() as u64;
    move_sweep_to(&stack, now_ms / vow::timer_index::BUCKET_MS - 2).await;
    stack.vow.engine().sweep("bench").await.expect("sweep");
    until_quiet(&stack).await;
    let per_week = stack.metrics.snapshot().since(&before).usd(&LIST_PRICES);
    // One idle minute of the sweep.
    move_sweep_to(&stack, now_ms / vow::timer_index::BUCKET_MS + 12).await;
    let before = stack.metrics.snapshot();
    stack.vow.engine().sweep("bench").await.expect("sweep");
    let minute =
        stack.metrics.snapshot().since(&before).usd(&LIST_PRICES) + 3.0 * LIST_PRICES.sqs_request;
    workers.shutdown().await;
    (per_week, minute * 60.0 * 24.0 * 30.0)
}
