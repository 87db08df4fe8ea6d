//! Safe upgrades: which waiting messages a worker build can decode.
//!
//! A message waits in the work queue for up to 14 days (SQS's longest
//! retention), and in the dead-letter queue as long again, carrying its task and
//! the successors that run after it, serialized by the build that sent it. A
//! deploy must still decode them. The rule:
//!
//! - **New fields get a serde default** (`#[serde(default)]`), so a message
//!   written before the field existed still decodes. Removing a field is safe
//!   (serde ignores unknown fields unless `deny_unknown_fields` is set); changing
//!   a field's type is not.
//! - **Never remove, rename or reuse a tag** while messages may carry it: keep
//!   the old task registered (it can adopt the new one) for the retention
//!   window, and give a changed meaning a new tag.
//!
//! [`check`] applies a build's task registry to the messages waiting in a
//! queue, before the deploy: each message's task and every successor carried in
//! its continuations is decoded exactly as a worker would decode it, and the
//! report says which do not and why (unknown tag, missing field, ...). The
//! `vow check-upgrade` command runs it with the tasks the `vow` command links;
//! a worker binary runs it with *its* tasks through [`run_if_requested`]:
//!
//! ```no_run
//! # async fn main_() {
//! // First line of a worker's main: `my-worker --check-upgrade [--work-queue]`.
//! if let Some(code) = vow::upgrade::run_if_requested().await { std::process::exit(code) }
//! # }
//! ```
//!
//! **How it peeks.** Messages are received (which hides them), held until the
//! whole queue or `max` messages were read, then made visible again at once
//! (`ChangeMessageVisibility` to 0). Nothing is deleted or sent. Messages
//! delayed or in flight at that moment are not seen. Each peek counts as a
//! receive: on the dead-letter queue that costs nothing, but on the work queue
//! it brings a message one receive closer to its redrive policy's
//! `maxReceiveCount`, that is, one fewer redelivery after a crash before it is
//! dead-lettered (vow's own retries are new messages and are not affected). So
//! the `vow` command and [`run_if_requested`] read the work queue only when
//! asked (`--work-queue`). Signatures are verified when the checking engine
//! has the signing keys, and skipped otherwise.
//!
//! **What waits in the table.** Not all work waits in a queue: a sleep's or a
//! callback's successors, and `then`s added after a promise was sent, are
//! stored in its record; a timer more than 15 minutes away waits in the timer
//! index; a schedule's next tick (and its job) waits as a sleep's successor.
//! [`check_store`] reads them with a paginated scan (at most `max` records and
//! `max` timers, 100 a page) and reports them the same way, including the job
//! inside every schedule tick. It only reads (a `Scan` costs read capacity
//! in proportion to the table's size; it needs `dynamodb:Scan` on the table
//! and the timer table). Stored continuations and timers are decoded without
//! checking their MACs (a year-old timer is older than a message may be).

use crate::engine::{Engine, Rejected};
use crate::error::BackendError;
use crate::failure::Failure;
use crate::id::PromiseId;
use crate::queue::{Delivery, Queue};
use crate::wire::{decode_task, salvage, Cont, Envelope};
use std::fmt;
use std::time::Duration;

/// Long poll per receive: SQS may answer an empty short poll while messages wait.
const POLL: Duration = Duration::from_secs(1);

/// One task found in a message: the message's own, or a successor it carries.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskCheck {
    /// The task's tag (`?` if the task object names none).
    pub tag: String,
    /// The promise the task settles.
    pub promise: PromiseId,
    /// Whether it is a successor carried in a continuation.
    pub successor: bool,
    /// Why this build cannot decode it, if it cannot.
    pub problem: Option<Failure>,
}

/// One message and what this build makes of it.
#[derive(Clone, Debug, PartialEq)]
pub struct Checked {
    /// The queue's id for the message.
    pub message_id: String,
    /// How often it was received, this peek included.
    pub receive_count: u32,
    /// The promise it settles, if that can be read.
    pub promise: Option<PromiseId>,
    /// Why the message itself cannot be read (not a vow message, another wire
    /// version, a bad signature, a body stored out of line that is gone).
    pub problem: Option<Failure>,
    /// Its task and the successors it carries, in order.
    pub tasks: Vec<TaskCheck>,
}

impl Checked {
    /// Whether a worker of this build can decode the message and everything it carries.
    pub fn decodes(&self) -> bool {
        self.problem.is_none() && self.tasks.iter().all(|t| t.problem.is_none())
    }
}

/// What [`check`] found on one queue, or [`check_store`] in the table or
/// the timer index.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// The queue's name in the report (`work queue`, `dead-letter queue`,
    /// `table`, `timer index`).
    pub queue: String,
    /// What it holds: `message`, `record` or `timer`.
    pub unit: &'static str,
    /// The messages read.
    pub messages: Vec<Checked>,
    /// Whether reading stopped at `max` with more messages possibly waiting.
    pub truncated: bool,
}

impl Report {
    /// How many messages this build cannot decode.
    pub fn undecodable(&self) -> usize {
        self.messages.iter().filter(|m| !m.decodes()).count()
    }
}

impl fmt::Display for Report {
    /// One block per message, then a summary line:
    ///
    /// ```text
    /// message 5f0c… (received 1 time) settles 0f81f9cf776f46f7a1cd1ecb7db15513
    ///   ok     samples/square
    ///   FAILS  samples/report, successor 0f81…d97: bad input: task `samples/report` could not be decoded: missing field `x`
    /// dead-letter queue: 1 message read, 1 does not decode in this build
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for m in &self.messages {
            let times = if m.receive_count == 1 {
                "time"
            } else {
                "times"
            };
            if self.unit == "message" {
                write!(
                    f,
                    "message {} (received {} {times})",
                    m.message_id, m.receive_count
                )?;
            } else {
                // Where it waits: `record <key>`, `timer <name> (due ...)`.
                write!(f, "{}", m.message_id)?;
            }
            match &m.promise {
                // A record's key names its promise already.
                Some(id) if self.unit != "record" => writeln!(f, " settles {id}")?,
                _ => writeln!(f)?,
            }
            if let Some(problem) = &m.problem {
                writeln!(f, "  FAILS  the message itself: {problem}")?;
            }
            for t in &m.tasks {
                let verdict = if t.problem.is_some() {
                    "FAILS"
                } else {
                    "ok   "
                };
                write!(f, "  {verdict}  {}", t.tag)?;
                if t.successor {
                    write!(f, ", successor {}", t.promise)?;
                }
                match &t.problem {
                    Some(problem) => writeln!(f, ": {problem}")?,
                    None => writeln!(f)?,
                }
            }
        }
        let n = self.messages.len();
        let bad = self.undecodable();
        writeln!(
            f,
            "{}: {n} {}{} read{}, {bad} {} not decode in this build",
            self.queue,
            self.unit,
            if n == 1 { "" } else { "s" },
            if self.truncated {
                " (stopped at the limit)"
            } else {
                ""
            },
            if bad == 1 { "does" } else { "do" },
        )
    }
}

/// Peek at up to `max` messages waiting in `queue` and decode each with this
/// build's task registry; the messages are left where they were (see the
/// [module docs](self) for what a peek costs). `engine` verifies signatures (if
/// it signs) and fetches bodies stored out of line.
pub async fn check(
    engine: &Engine,
    queue: &dyn Queue,
    name: &str,
    max: usize,
) -> Result<Report, BackendError> {
    let mut held: Vec<Delivery> = Vec::new();
    let mut failed = None;
    while held.len() < max {
        match queue.receive((max - held.len()).min(10), POLL).await {
            Ok(batch) if batch.is_empty() => break,
            Ok(batch) => held.extend(batch),
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
    }
    // Hand everything back before anything else can fail.
    for d in &held {
        if let Err(e) = queue.release(&d.receipt, Duration::ZERO).await {
            failed.get_or_insert(e);
        }
    }
    if let Some(e) = failed {
        return Err(e);
    }
    let truncated = held.len() >= max;
    let mut messages = Vec::with_capacity(held.len());
    for d in &held {
        messages.push(check_message(engine, d).await?);
    }
    Ok(Report {
        queue: name.to_owned(),
        unit: "message",
        messages,
        truncated,
    })
}

/// Records and timers read per scan call.
const PAGE: usize = 100;

/// Read up to `max` promise records and up to `max` timers of the timer
/// index from `engine`'s store, a page at a time, and decode every task that
/// waits there with this build's registry: the successors stored in records
/// (a sleep's, a callback's, `then`s added after a send), each schedule
/// tick's job, and the timer messages of the index with what they carry.
/// Returns the table's report (records with no stored task are counted, not
/// listed) and the timer index's.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let vow = vow::Vow::embedded();
/// let [table, timers] = vow::upgrade::check_store(vow.engine(), 1_000).await.unwrap();
/// assert_eq!(table.undecodable() + timers.undecodable(), 0);
/// # }
/// ```
pub async fn check_store(engine: &Engine, max: usize) -> Result<[Report; 2], BackendError> {
    let store = engine.store();
    let mut table = Report {
        queue: "table".to_owned(),
        unit: "record",
        messages: Vec::new(),
        truncated: false,
    };
    let (mut from, mut read) = (None::<String>, 0usize);
    // At most `max` pages (a page may hold no record: only blobs), and
    // `truncated` unless the last page said there is no more.
    let mut ended = false;
    for _ in 0..max.max(1) {
        if read >= max {
            break;
        }
        let page = store
            .scan_records(from.as_deref(), PAGE.min(max - read))
            .await?;
        for (key, record) in page.items {
            read += 1;
            let record = match record {
                Ok(record) => record,
                Err(e) => {
                    table.messages.push(Checked {
                        message_id: format!("record {key}"),
                        receive_count: 0,
                        promise: PromiseId::parse(&key).ok(),
                        problem: Some(Failure::bad_input(format!(
                            "the record does not decode: {e}"
                        ))),
                        tasks: Vec::new(),
                    });
                    continue;
                }
            };
            let mut tasks = Vec::new();
            for conts in record.later.values() {
                let conts: Vec<Cont> = conts.iter().map(|(_, c)| c.clone()).collect();
                conts_tasks(&conts, &mut tasks);
            }
            if !tasks.is_empty() {
                table.messages.push(Checked {
                    message_id: format!("record {key}"),
                    receive_count: 0,
                    promise: PromiseId::parse(&key).ok(),
                    problem: None,
                    tasks,
                });
            }
        }
        match page.next {
            Some(next) => from = Some(next),
            None => {
                ended = true;
                break;
            }
        }
    }
    table.truncated = !ended;
    table
        .messages
        .sort_by(|a, b| a.message_id.cmp(&b.message_id));
    let mut timers = Report {
        queue: "timer index".to_owned(),
        unit: "timer",
        messages: Vec::new(),
        truncated: false,
    };
    let mut from = None::<String>;
    let mut ended = false;
    for _ in 0..max.max(1) {
        if timers.messages.len() >= max {
            break;
        }
        let left = max - timers.messages.len();
        let page = store.scan_timers(from.as_deref(), PAGE.min(left)).await?;
        for timer in page.items {
            let body = crate::signing::unverified_body(&timer.body);
            let mut checked = Checked {
                message_id: format!("timer {} (due {} ms)", timer.name, timer.at),
                receive_count: 0,
                promise: None,
                problem: None,
                tasks: Vec::new(),
            };
            match engine.decode_opened(body).await {
                Ok(env) => {
                    checked.promise = Some(env.target.id());
                    checked.tasks = tasks_of(&env);
                }
                Err(Rejected::Backend(e)) => return Err(e),
                Err(Rejected::Undecodable(failure)) => {
                    checked.promise = salvage(body).map(|s| s.0.id());
                    checked.problem = Some(failure);
                }
            }
            timers.messages.push(checked);
        }
        match page.next {
            Some(next) => from = Some(next),
            None => {
                ended = true;
                break;
            }
        }
    }
    timers.truncated = !ended;
    Ok([table, timers])
}

/// Decode one delivered message and everything it carries with this build.
pub async fn check_message(engine: &Engine, delivery: &Delivery) -> Result<Checked, BackendError> {
    let body = if engine.is_signing() {
        delivery.body.as_str()
    } else {
        crate::signing::unverified_body(&delivery.body)
    };
    let mut checked = Checked {
        message_id: delivery.message_id.clone(),
        receive_count: delivery.receive_count,
        promise: None,
        problem: None,
        tasks: Vec::new(),
    };
    match engine.open(body).await {
        Ok(env) => {
            checked.promise = Some(env.target.id());
            checked.tasks = tasks_of(&env);
        }
        Err(Rejected::Backend(e)) => return Err(e),
        Err(Rejected::Undecodable(failure)) => {
            checked.promise = salvage(crate::signing::unverified_body(body)).map(|s| s.0.id());
            checked.problem = Some(failure);
        }
    }
    Ok(checked)
}

/// The envelope's task and every successor in its continuations, decoded.
fn tasks_of(env: &Envelope) -> Vec<TaskCheck> {
    let mut found = Vec::new();
    if !env.is_resolve() {
        task_checks(&env.task, env.target.id(), false, &mut found);
    }
    conts_tasks(&env.conts, &mut found);
    found
}

/// Every successor in `conts` (depth first, iteratively: rule 10), decoded.
fn conts_tasks(conts: &[Cont], found: &mut Vec<TaskCheck>) {
    let mut stack: Vec<&Cont> = conts.iter().rev().collect();
    while let Some(cont) = stack.pop() {
        let conts = match cont {
            Cont::Then {
                id, task, conts, ..
            } => {
                task_checks(task, id.clone(), true, found);
                conts
            }
            Cont::Settle { conts, .. } => conts,
        };
        stack.extend(conts.iter().rev());
    }
}

/// `task` decoded, and, for a schedule's tick, the job it will send too.
fn task_checks(
    task: &serde_json::Value,
    promise: PromiseId,
    successor: bool,
    found: &mut Vec<TaskCheck>,
) {
    let tag = task
        .get("task")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("?");
    let job = (tag == crate::schedule::TICK_TAG)
        .then(|| task.get("with").and_then(|w| w.get("job")))
        .flatten();
    found.push(TaskCheck {
        tag: tag.to_owned(),
        promise: promise.clone(),
        successor,
        problem: decode_task(task).err(),
    });
    if let Some(job) = job {
        found.push(TaskCheck {
            tag: job
                .get("task")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("?")
                .to_owned(),
            promise,
            successor: true,
            problem: decode_task(job).err(),
        });
    }
}

/// The upgrade check as a worker binary's flag. Returns `None` unless the
/// process was started with `--check-upgrade`; then it checks the dead-letter
/// queue (`VOW_DLQ_URL`, if set) and, with `--work-queue`, the work queue
/// (`VOW_QUEUE_URL`) against the tasks this binary links, prints the report,
/// and returns the exit status: 0 if every message decodes, 1 if some do not,
/// 2 for bad configuration, 3 if AWS failed. `--max N` reads at most N
/// messages per queue, records and timers (default 1000). It also reads
/// what waits in the table ([`check_store`]). The client is configured as
/// [`crate::Vow::builder`] configures it (`VOW_TABLE_NAME`, `VOW_SIGNING_KEYS`, ...).
#[cfg(feature = "aws")]
pub async fn run_if_requested() -> Option<i32> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.iter().any(|a| a == "--check-upgrade") {
        return None;
    }
    let work_queue = args.iter().any(|a| a == "--work-queue");
    let max = match args.iter().position(|a| a == "--max") {
        None => 1_000,
        Some(i) => match args.get(i + 1).and_then(|n| n.parse::<usize>().ok()) {
            Some(n) if n > 0 => n,
            _ => {
                eprintln!("--check-upgrade: --max takes a positive number of messages");
                return Some(2);
            }
        },
    };
    let dlq_url = std::env::var(crate::aws::ENV_DLQ_URL)
        .ok()
        .filter(|url| !url.trim().is_empty());
    if dlq_url.is_none() && !work_queue {
        eprintln!(
            "--check-upgrade: nothing to check: set {} or pass --work-queue",
            crate::aws::ENV_DLQ_URL
        );
        return Some(2);
    }
    let sdk = crate::aws::sdk_config().await;
    let builder = crate::Vow::builder().sdk_config(&sdk);
    let builder = if work_queue {
        builder
    } else {
        builder.read_only()
    };
    let vow = match builder.build().await {
        Ok(vow) => vow,
        Err(e) => {
            eprintln!("--check-upgrade: {e}");
            return Some(2);
        }
    };
    let checked = check_queues(&vow, &sdk, dlq_url.as_deref(), work_queue, max, |text| {
        print!("{text}")
    })
    .await;
    match checked {
        Ok(undecodable) => Some(i32::from(undecodable > 0)),
        Err((name, e)) => {
            eprintln!("--check-upgrade: {name}: {e}");
            Some(3)
        }
    }
}

/// The upgrade check of `vow check-upgrade` and of a worker's
/// `--check-upgrade`: [`check`] the dead-letter queue at `dlq_url` (if any)
/// and, with `work_queue`, `vow`'s work queue, then [`check_store`] the
/// table and the timer index, handing each report's text to
/// `emit` (and, when the work queue is left unread, a line saying so).
/// Returns how many messages do not decode, or the name of the queue whose
/// reading failed and why.
#[cfg(feature = "aws")]
pub async fn check_queues(
    vow: &crate::Vow,
    sdk: &aws_config::SdkConfig,
    dlq_url: Option<&str>,
    work_queue: bool,
    max: usize,
    mut emit: impl FnMut(&str),
) -> Result<usize, (&'static str, crate::BackendError)> {
    let dlq = dlq_url.map(|url| crate::aws::SqsQueue::new(aws_sdk_sqs::Client::new(sdk), url));
    let mut queues: Vec<(&dyn Queue, &'static str)> = Vec::new();
    if let Some(dlq) = &dlq {
        queues.push((dlq, "dead-letter queue"));
    }
    if work_queue {
        queues.push((vow.engine().queue().as_ref(), "work queue"));
    }
    let mut undecodable = 0;
    for (queue, name) in queues {
        let report = check(vow.engine(), queue, name, max)
            .await
            .map_err(|e| (name, e))?;
        emit(&report.to_string());
        undecodable += report.undecodable();
    }
    for report in check_store(vow.engine(), max)
        .await
        .map_err(|e| ("table", e))?
    {
        emit(&report.to_string());
        undecodable += report.undecodable();
    }
    if !work_queue {
        emit("work queue: not read (pass --work-queue; each peek counts as a receive toward maxReceiveCount)\n");
    }
    Ok(undecodable)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::EngineConfig;
    use crate::memory::{MemoryQueue, MemoryStore};
    use crate::prelude::*;
    use crate::queue::Outgoing;
    use crate::signing::SigningKeys;
    use crate::wire::{RunOpts, Target, WIRE_VERSION};
    use serde::{Deserialize, Serialize};
    use std::sync::Arc;

    /// The current shape of a task whose older messages lacked `unit`.
    #[derive(Serialize, Deserialize)]
    struct Weigh {
        grams: u64,
        unit: String,
    }

    #[vow::task("upgrade-test/weigh")]
    impl Task for Weigh {
        type Input = ();
        type Output = String;
        async fn run(self, _: (), _cx: &Cx) -> Result<Resolution<String>, Error> {
            done(format!("{} {}", self.grams, self.unit))
        }
    }

    fn envelope(task: serde_json::Value, conts: Vec<Cont>) -> Envelope {
        Envelope {
            v: WIRE_VERSION,
            target: Target::Promise(PromiseId::random()),
            token: "t".into(),
            attempt: 1,
            repair: false,
            task,
            input: None,
            opts: RunOpts::default(),
            conts,
        }
    }

    fn then(task: serde_json::Value, conts: Vec<Cont>) -> Cont {
        Cont::Then {
            id: PromiseId::random(),
            task,
            opts: RunOpts::default(),
            conts,
        }
    }

    async fn queue_of(bodies: &[String]) -> MemoryQueue {
        let queue = MemoryQueue::dead_letter_queue();
        let out = bodies
            .iter()
            .map(|b| Outgoing {
                body: b.clone(),
                delay: Duration::ZERO,
            })
            .collect();
        queue.send(out).await.expect("send");
        queue
    }

    fn engine(signing: Option<SigningKeys>) -> Arc<Engine> {
        let queue = Arc::new(MemoryQueue::dead_letter_queue());
        let config = EngineConfig {
            signing,
            ..EngineConfig::default()
        };
        Engine::new(Arc::new(MemoryStore::new()), queue, config)
    }

    #[tokio::test]
    async fn old_shapes_dropped_tags_and_bad_successors_are_reported() {
        let current =
            serde_json::json!({"task": "upgrade-test/weigh", "with": {"grams": 5, "unit": "g"}});
        let old = serde_json::json!({"task": "upgrade-test/weigh", "with": {"grams": 5}});
        let dropped = serde_json::json!({"task": "upgrade-test/dropped", "with": {}});
        let good = envelope(current.clone(), vec![then(current.clone(), vec![])]);
        // A good task whose successor (behind an adoption) is of the old shape.
        let nested = Cont::Settle {
            target: Target::Promise(PromiseId::random()),
            conts: vec![then(old.clone(), vec![])],
            kids: 0,
        };
        let bad_successor = envelope(current.clone(), vec![nested]);
        let bodies = [
            good.encode(),
            envelope(old, vec![]).encode(),
            envelope(dropped, vec![]).encode(),
            bad_successor.encode(),
            "not a vow message".to_owned(),
        ];
        let queue = queue_of(&bodies).await;
        let report = check(&engine(None), &queue, "work queue", 100)
            .await
            .expect("check");
        assert_eq!(queue.len(), 5, "peeking leaves every message");
        assert!(!report.truncated);
        let m = &report.messages;
        assert_eq!(m.len(), 5);
        assert!(m[0].decodes() && m[0].tasks.len() == 2, "{:?}", m[0]);
        assert_eq!(m[0].promise, Some(good.target.id()));
        let missing = m[1].tasks[0].problem.as_ref().expect("old shape fails");
        assert_eq!(missing.kind(), FailureKind::BadInput);
        assert!(
            missing.message().contains("missing field `unit`"),
            "{missing}"
        );
        let unknown = m[2].tasks[0].problem.as_ref().expect("dropped tag fails");
        assert_eq!(unknown.kind(), FailureKind::UnknownTask);
        assert!(
            unknown.message().contains("upgrade-test/dropped"),
            "{unknown}"
        );
        assert!(!m[3].decodes());
        assert!(m[3].tasks[0].problem.is_none() && !m[3].tasks[0].successor);
        assert!(m[3].tasks[1].successor && m[3].tasks[1].problem.is_some());
        assert!(m[4].problem.is_some() && m[4].promise.is_none());
        assert_eq!(report.undecodable(), 4);
        let text = report.to_string();
        assert!(text.contains("  ok     upgrade-test/weigh\n"), "{text}");
        assert!(
            text.contains("  FAILS  upgrade-test/weigh, successor "),
            "{text}"
        );
        assert!(text.contains("  FAILS  the message itself: "), "{text}");
        assert!(
            text.ends_with("work queue: 5 messages read, 4 do not decode in this build\n"),
            "{text}"
        );
        // A second peek sees the same messages again, and a limit is reported.
        let again = check(&engine(None), &queue, "work queue", 2)
            .await
            .expect("again");
        assert_eq!((again.messages.len(), again.truncated), (2, true));
    }

    /// The memory store's scan: what waits in records and in the timer
    /// index is read a page at a time, up to the limit.
    #[tokio::test]
    async fn the_store_scan_finds_stored_successors_timers_and_schedule_jobs() {
        let engine = engine(None);
        let store = engine.store().clone();
        let dropped = serde_json::json!({"task": "upgrade-test/dropped", "with": {}});
        let weigh =
            serde_json::json!({"task": "upgrade-test/weigh", "with": {"grams": 5, "unit": "g"}});
        // Two hundred and fifty pending promises, each with a stored successor:
        // more than two pages; one of them retired.
        let mut ids = Vec::new();
        for i in 0..250 {
            let id = PromiseId::random();
            let task = if i == 7 {
                dropped.clone()
            } else {
                weigh.clone()
            };
            let cell = crate::store::Cell::of(&id);
            store
                .add_continuations(&cell, &[("c".into(), then(task, vec![]))])
                .await
                .expect("stored");
            ids.push(id);
        }
        // A tick whose job is retired.
        let tick = serde_json::json!({"task": crate::schedule::TICK_TAG, "with": {
            "name": "n", "cron": "@daily", "job": dropped.clone(), "off": PromiseId::random(), "at": 0
        }});
        let sleeping = PromiseId::random();
        store
            .add_continuations(
                &crate::store::Cell::of(&sleeping),
                &[("c".into(), then(tick, vec![]))],
            )
            .await
            .expect("stored");
        // A far timer carrying a retired successor.
        let timer = envelope(weigh, vec![then(dropped, vec![])]);
        store
            .put_timer(&crate::timer_index::IndexedTimer {
                bucket: 1,
                shard: 0,
                name: "t".into(),
                at: 60_000,
                body: timer.encode(),
            })
            .await
            .expect("indexed");

        let [table, timers] = check_store(&engine, 1_000).await.expect("scan");
        assert!(!table.truncated && !timers.truncated);
        assert_eq!(table.messages.len(), 251, "one per record with a task");
        assert_eq!(table.undecodable(), 2, "{table}");
        let retired = format!("record {}", ids[7]);
        assert!(table
            .messages
            .iter()
            .any(|m| m.message_id == retired && !m.decodes()));
        let tick = table
            .messages
            .iter()
            .find(|m| m.message_id == format!("record {sleeping}"))
            .expect("the tick's record");
        assert_eq!(tick.tasks.len(), 2, "the tick and its job: {tick:?}");
        assert!(tick.tasks[0].problem.is_none() && tick.tasks[1].problem.is_some());
        assert_eq!(timers.messages.len(), 1);
        assert_eq!(timers.messages[0].promise, Some(timer.target.id()));
        assert!(timers.messages[0].tasks[1].problem.is_some());
        let text = format!("{table}{timers}");
        assert!(
            text.contains("table: 251 records read, 2 do not decode in this build\n"),
            "{text}"
        );
        assert!(
            text.contains("timer index: 1 timer read, 1 does not decode in this build\n"),
            "{text}"
        );
        // The limit bounds the scan, and says so.
        let [some, _] = check_store(&engine, 120).await.expect("scan");
        assert!(some.truncated);
        assert_eq!(some.messages.len(), 120);
    }

    #[tokio::test]
    async fn signatures_are_checked_with_the_keys_and_skipped_without() {
        let keys = SigningKeys::parse("k1=0123456789abcdef-secret").expect("keys");
        let other = SigningKeys::parse("k2=fedcba9876543210-secret").expect("keys");
        let task =
            serde_json::json!({"task": "upgrade-test/weigh", "with": {"grams": 1, "unit": "kg"}});
        let body = envelope(task, vec![]).encode();
        let now = crate::clock::epoch_millis(std::time::SystemTime::now());
        // Messages are bound to the checking engine's queue.
        let name = engine(None).queue().name().to_owned();
        let queue = queue_of(&[keys.sign(&name, now, &body), other.sign(&name, now, &body)]).await;
        let with_keys = check(&engine(Some(keys)), &queue, "q", 10)
            .await
            .expect("check");
        assert!(with_keys.messages[0].decodes());
        let forged = with_keys.messages[1].problem.as_ref().expect("unknown key");
        assert!(forged.message().contains("unknown key `k2`"), "{forged}");
        assert!(
            with_keys.messages[1].promise.is_some(),
            "the target is still read"
        );
        let without = check(&engine(None), &queue, "q", 10).await.expect("check");
        assert!(without.messages.iter().all(Checked::decodes), "{without:?}");
    }
}
