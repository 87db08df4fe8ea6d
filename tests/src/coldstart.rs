//! A function binary run under the runtime API stand-in ([`crate::runtime_api`]):
//! how long a fresh process takes to serve its first invocation (cold start),
//! and the CPU time a warm one spends per step.
//!
//! CPU time is read from `/proc/<pid>/stat` (user plus system time of all the
//! process's threads, in 10 ms ticks) around many invocations, so it counts
//! everything the function does for a step: decoding the event, the engine,
//! signing and sending the AWS requests, parsing their answers, logging.

use crate::runtime_api::{Reply, RuntimeApi};
use crate::Stack;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};
use vow::aws::DynamoStore;
use vow::memory::MemoryQueue;
use vow::queue::Queue;
use vow::{PromiseId, Vow};
use vow_samples::Square;

/// How long one invocation may take.
const PATIENCE: Duration = Duration::from_secs(60);
/// Clock ticks per second in `/proc` (Linux's `USER_HZ`, 100 on every
/// architecture it runs on).
const TICKS_PER_SEC: u64 = 100;

/// One cold start.
#[derive(Clone, Copy, Debug)]
pub struct ColdStart {
    /// From spawning the process to its first `invocation/next`.
    pub ready: Duration,
    /// From spawning the process to its answer to the first invocation.
    pub served: Duration,
}

/// Median of durations (the lower middle one of an even count).
pub fn median(mut d: Vec<Duration>) -> Option<Duration> {
    d.sort_unstable();
    d.get(d.len().checked_sub(1)? / 2).copied()
}

fn spawn(
    binary: &Path,
    env: &[(String, String)],
    api: &RuntimeApi,
) -> std::io::Result<tokio::process::Child> {
    tokio::process::Command::new(binary)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("AWS_LAMBDA_RUNTIME_API", api.address())
        .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
}

/// Why a run under the stand-in failed.
#[derive(Debug)]
pub enum RunError {
    /// The process could not start or the stand-in could not listen.
    Io(std::io::Error),
    /// The function answered with an error, or an answer `check` refused.
    Refused(String),
    /// No answer in time.
    Timeout,
}

impl From<std::io::Error> for RunError {
    fn from(e: std::io::Error) -> Self {
        RunError::Io(e)
    }
}

async fn answer(api: &RuntimeApi, check: &dyn Fn(&str) -> bool) -> Result<Instant, RunError> {
    match api.reply_at(PATIENCE).await {
        Some((Reply::Response(body), at)) if check(&body) => Ok(at),
        Some((Reply::Response(body) | Reply::Error(body), _)) => Err(RunError::Refused(body)),
        None => Err(RunError::Timeout),
    }
}

/// Start `binary` with `env` once per event of `events()`, each time in a fresh
/// process with a fresh stand-in, and time its first invocation. `check`
/// decides whether an answer is a success.
pub async fn cold_starts(
    binary: &Path,
    env: &[(String, String)],
    starts: usize,
    mut event: impl FnMut() -> String,
    check: &dyn Fn(&str) -> bool,
) -> Result<Vec<ColdStart>, RunError> {
    let mut out = Vec::new();
    for _ in 0..starts {
        let api = RuntimeApi::start().await?;
        api.invoke(event());
        let spawned = Instant::now();
        let mut child = spawn(binary, env, &api)?;
        let served = answer(&api, check).await;
        let _ = child.kill().await;
        let served = served?;
        let ready = api.first_poll().unwrap_or(served);
        out.push(ColdStart {
            ready: ready.duration_since(spawned),
            served: served.duration_since(spawned),
        });
    }
    Ok(out)
}

/// CPU time `binary` spends per step once warm: one process serves a first
/// event, then `events` one after another (as one Lambda instance does);
/// returns microseconds of CPU per step, with `steps` steps in all those
/// events, and the wall time per invocation.
pub async fn cpu_per_step(
    binary: &Path,
    env: &[(String, String)],
    warm_up: String,
    events: Vec<String>,
    steps: u64,
    check: &dyn Fn(&str) -> bool,
) -> Result<(f64, Duration), RunError> {
    let api = RuntimeApi::start().await?;
    api.invoke(warm_up);
    let mut child = spawn(binary, env, &api)?;
    let pid = child.id().ok_or(RunError::Timeout)?;
    let result = async {
        answer(&api, check).await?;
        let before = cpu_ticks(pid)?;
        let began = Instant::now();
        let invocations = events.len() as u32;
        for event in events {
            api.invoke(event);
            answer(&api, check).await?;
        }
        let wall = began.elapsed() / invocations.max(1);
        let ticks = cpu_ticks(pid)?.saturating_sub(before);
        let us = ticks as f64 * 1e6 / TICKS_PER_SEC as f64 / steps.max(1) as f64;
        Ok((us, wall))
    }
    .await;
    let _ = child.kill().await;
    result
}

/// User plus system clock ticks of process `pid`, all threads.
fn cpu_ticks(pid: u32) -> std::io::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    parse_ticks(&stat).ok_or_else(|| std::io::Error::other("unexpected /proc/<pid>/stat"))
}

/// utime + stime from a `/proc/<pid>/stat` line (fields 14 and 15; the
/// command name in field 2 may hold spaces and parentheses, so fields are
/// counted after its last `)`).
fn parse_ticks(stat: &str) -> Option<u64> {
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    utime.checked_add(stime)
}

/// Which function a measurement runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Function {
    /// The vow worker (`functions/worker`), serving `samples/square` steps.
    Vow,
    /// The raw baseline (`baseline_lambda`): one `PutItem` per record.
    Baseline,
}

/// A function's cold start and CPU figures.
#[derive(Clone, Debug)]
pub struct Figures {
    /// The binary's size in bytes.
    pub binary_bytes: u64,
    /// Each cold start.
    pub starts: Vec<ColdStart>,
    /// CPU time per step once warm, in microseconds.
    pub cpu_us_per_step: f64,
    /// Steps the CPU figure is over.
    pub cpu_steps: u64,
    /// Wall time per invocation of ten steps once warm (on the emulators).
    pub wall_per_invocation: Duration,
}

impl Figures {
    /// Median time to the first served invocation.
    pub fn cold_start(&self) -> Option<Duration> {
        median(self.starts.iter().map(|s| s.served).collect())
    }

    /// Median time to the first `invocation/next`.
    pub fn ready(&self) -> Option<Duration> {
        median(self.starts.iter().map(|s| s.ready).collect())
    }
}

/// An SQS event (its JSON) with one record per body.
pub fn sqs_event(bodies: &[String]) -> String {
    let records: Vec<serde_json::Value> = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| {
            serde_json::json!({
                "messageId": format!("{}-{i}", PromiseId::random()),
                "receiptHandle": format!("receipt-{i}"),
                "body": body,
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": "1764200000000",
                    "SenderId": "000000000000",
                    "ApproximateFirstReceiveTimestamp": "1764200000000"
                },
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:bench",
                "awsRegion": "us-east-1"
            })
        })
        .collect();
    serde_json::json!({ "Records": records }).to_string()
}

/// Whether a function's answer is a batch response with no failed item.
pub fn all_succeeded(body: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(body).is_ok_and(|v| {
        v.get("batchItemFailures")
            .and_then(|f| f.as_array())
            .is_some_and(|f| f.is_empty())
    })
}

/// Messages that start `count` fresh `samples/square` steps, and their
/// promises (made by a client whose queue is in memory, so nothing is sent).
async fn square_messages(stack: &Stack, count: u64) -> (Vec<String>, Vec<PromiseId>) {
    let queue = Arc::new(MemoryQueue::new(Duration::from_secs(30), 5, None));
    let client = Vow::client(
        Arc::new(DynamoStore::new(
            stack.dynamodb.clone(),
            &stack.names.table_name,
            stack.names.record_ttl,
        )),
        queue.clone(),
        crate::test_engine(),
    );
    let flow = client.flow();
    let ids = (0..count)
        .map(|i| flow.when(Square(i)).id().clone())
        .collect();
    client.start(&flow).await.expect("enqueue in memory");
    let mut bodies = Vec::new();
    while bodies.len() < count as usize {
        let batch = queue
            .receive(10, Duration::ZERO)
            .await
            .expect("receive in memory");
        if batch.is_empty() {
            break;
        }
        bodies.extend(batch.into_iter().map(|d| d.body));
    }
    (bodies, ids)
}

/// Measure `function` (its release `binary`): `starts` cold starts, each
/// serving one step, then the CPU time per step over `cpu_events` events of
/// ten steps. For vow, every step's promise is checked to have settled.
pub async fn measure(
    function: Function,
    binary: &Path,
    starts: usize,
    cpu_events: usize,
) -> Result<Figures, RunError> {
    let stack = Stack::new("fn", 5).await;
    let binary_bytes = std::fs::metadata(binary)?.len();
    let steps = starts + 10 * (cpu_events + 1);
    let (bodies, ids) = match function {
        Function::Vow => square_messages(&stack, steps as u64).await,
        Function::Baseline => ((0..steps).map(|i| i.to_string()).collect(), Vec::new()),
    };
    let env = match function {
        Function::Vow => vec![
            ("VOW_QUEUE_URL".to_owned(), stack.names.queue_url.clone()),
            ("VOW_TABLE_NAME".to_owned(), stack.names.table_name.clone()),
        ],
        Function::Baseline => vec![("BASELINE_TABLE".to_owned(), stack.names.table_name.clone())],
    };
    let mut bodies = bodies.into_iter();
    let mut next = |n: usize| sqs_event(&bodies.by_ref().take(n).collect::<Vec<_>>());
    let cold = cold_starts(binary, &env, starts, || next(1), &all_succeeded).await?;
    let warm_up = next(10);
    let events = (0..cpu_events).map(|_| next(10)).collect();
    let cpu_steps = 10 * cpu_events as u64;
    let (cpu_us_per_step, wall_per_invocation) =
        cpu_per_step(binary, &env, warm_up, events, cpu_steps, &all_succeeded).await?;
    let engine = stack.vow.engine();
    for id in &ids {
        if engine.outcome(id).await.ok().flatten().is_none() {
            return Err(RunError::Refused(format!("promise {id} did not settle")));
        }
    }
    Ok(Figures {
        binary_bytes,
        starts: cold,
        cpu_us_per_step,
        cpu_steps,
        wall_per_invocation,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_fields_fourteen_and_fifteen() {
        let stat = "4242 (a (b) c) S 1 4242 4242 0 -1 4194560 120 0 0 0 37 5 0 0 20 0 3 0";
        assert_eq!(parse_ticks(stat), Some(42));
        assert_eq!(parse_ticks("4242 (x) S 1"), None);
    }

    #[test]
    fn median_takes_the_middle() {
        let ms = |v: &[u64]| v.iter().map(|&m| Duration::from_millis(m)).collect();
        assert_eq!(median(ms(&[30, 10, 20])), Some(Duration::from_millis(20)));
        assert_eq!(
            median(ms(&[40, 10, 30, 20])),
            Some(Duration::from_millis(20))
        );
        assert_eq!(median(Vec::new()), None);
    }
}
