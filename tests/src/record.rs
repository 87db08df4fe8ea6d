//! Recording tasks for the chaos run's audit of what users observe.
//!
//! Every run of a recording task appends one [`Observation`]: the promise it
//! settles, its attempt, what its retry policy allows, a digest of the exact
//! input it received, and which promise that input came from. Observations go
//! to an in-process list, or, when `VOW_CHAOS_LOG` names a file, to that file
//! as one short JSON line per observation, written with one `write` to a file
//! opened with `O_APPEND` (so several worker processes can share it; a process
//! killed mid-write leaves at most a torn last line, which readers skip).
//!
//! Values carry a nonce (`"n"`) that differs on every run, so two runs of one
//! task that both reach readers show up as two values of one promise.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{json, Value};
use std::io::Write;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;
use vow::prelude::*;

/// The variable naming the shared observation log.
pub const LOG_ENV: &str = "VOW_CHAOS_LOG";

/// One run of a recording task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observation {
    /// The rig (chaos run) the task belongs to.
    pub rig: String,
    /// The promise the task settles (`cx.id()`).
    pub id: String,
    /// `cx.attempt()`.
    pub attempt: u32,
    /// The attempts its retry policy allows.
    pub max: u32,
    /// Digest of the input as the JSON of `Result<T, Failure>` (`"-"` for none).
    pub input: String,
    /// The promise the input came from, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// A resolver handed to application code, if the task deferred to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolver: Option<Value>,
}

impl Observation {
    /// A run of the task behind `cx` in rig `rig`, whose policy allows `max`
    /// attempts, with no input.
    pub fn run(rig: &str, cx: &Cx, max: u32) -> Self {
        Observation {
            rig: rig.to_owned(),
            id: cx.id().to_string(),
            attempt: cx.attempt(),
            max,
            input: "-".into(),
            from: None,
            resolver: None,
        }
    }
}

static MEMORY: Mutex<Vec<Observation>> = Mutex::new(Vec::new());
static LOG: OnceLock<Option<Mutex<std::fs::File>>> = OnceLock::new();

fn log_file() -> &'static Option<Mutex<std::fs::File>> {
    LOG.get_or_init(|| {
        let path = std::env::var(LOG_ENV).ok().filter(|p| !p.is_empty())?;
        match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
        {
            Ok(f) => Some(Mutex::new(f)),
            Err(e) => {
                eprintln!("chaos: cannot open {LOG_ENV}={path}: {e}; observations stay in memory");
                None
            }
        }
    })
}

/// Record one observation.
pub fn record(obs: Observation) {
    match log_file() {
        Some(file) => append(file, &serde_json::to_string(&obs).unwrap_or_default()),
        None => MEMORY.lock().unwrap_or_else(|e| e.into_inner()).push(obs),
    }
}

fn append(file: &Mutex<std::fs::File>, line: &str) {
    let mut line = line.to_owned();
    line.push('\n');
    let mut f = file.lock().unwrap_or_else(|e| e.into_inner());
    // One write of the whole line: O_APPEND keeps lines of different
    // processes apart.
    if let Err(e) = f.write_all(line.as_bytes()) {
        eprintln!("chaos: observation not logged: {e}");
    }
}

/// A message a dead-letter handler received, by the promise its body names
/// (a line of the log that is not an [`Observation`]).
#[derive(Clone, Debug, Serialize, Deserialize)]
struct DeadLetter {
    dead: String,
}

static DEAD: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Note that a message naming promise `id` reached the dead-letter queue.
pub fn note_dead_letter(id: &str) {
    let line = DeadLetter {
        dead: id.to_owned(),
    };
    match log_file() {
        Some(file) => append(file, &serde_json::to_string(&line).unwrap_or_default()),
        None => DEAD
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(line.dead),
    }
}

/// The promises named by dead-lettered messages noted in this process and
/// in the log file `log` (one entry per dead letter).
pub fn dead_letters(log: Option<&std::path::Path>) -> Vec<String> {
    let mut all = DEAD.lock().unwrap_or_else(|e| e.into_inner()).clone();
    if let Some(text) = log.and_then(|p| std::fs::read_to_string(p).ok()) {
        all.extend(
            text.lines()
                .filter_map(|l| serde_json::from_str::<DeadLetter>(l).ok())
                .map(|d| d.dead),
        );
    }
    all
}

/// Every observation made in this process, plus those in the log file `log`.
/// A torn or garbled line (a process killed mid-write) is skipped.
pub fn observations(log: Option<&std::path::Path>) -> Vec<Observation> {
    let mut all = MEMORY.lock().unwrap_or_else(|e| e.into_inner()).clone();
    if let Some(text) = log.and_then(|p| std::fs::read_to_string(p).ok()) {
        all.extend(
            text.lines()
                .filter_map(|l| serde_json::from_str::<Observation>(l).ok()),
        );
    }
    all
}

/// A short digest of a JSON value: its length and FNV-1a hash of its text.
pub fn digest(v: &Value) -> String {
    let text = v.to_string();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{}:{h:016x}", text.len())
}

/// `v` without the run nonces (`"n"` keys), recursively: what a value must be
/// whichever run produced it.
pub fn core(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| k.as_str() != "n")
                .map(|(k, v)| (k.clone(), core(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(core).collect()),
        other => other.clone(),
    }
}

/// What a successor's value says about its input: the input's core (or its
/// digest when large), or the failure's kind.
pub fn summary(input: &Result<Value, Failure>) -> Value {
    match input {
        Ok(v) => {
            let c = core(v);
            if c.to_string().len() > 1024 {
                json!({ "d": digest(&c) })
            } else {
                c
            }
        }
        Err(f) => json!({ "err": f.kind().as_str() }),
    }
}

/// The core value of a [`RecStart`] labelled `label` with pad `pad`.
pub fn start_core(label: &str, pad: &str) -> Value {
    json!({ "l": label, "p": pad })
}

/// The core value of a [`RecNext`] labelled `label` with pad `pad`, given its input.
pub fn next_core(label: &str, input: &Result<Value, Failure>, pad: &str) -> Value {
    json!({ "l": label, "i": summary(input), "p": pad })
}

/// An input that is this failure kind (only the kind matters to [`summary`]).
pub fn failed(kind: FailureKind) -> Result<Value, Failure> {
    Err(Failure::new(kind, ""))
}

fn nonce() -> String {
    format!("{:016x}", fastrand::u64(..))
}

fn input_digest<T: Serialize>(input: &Result<T, Failure>) -> String {
    digest(&serde_json::to_value(input).unwrap_or(Value::Null))
}

/// A first step that records itself and returns `{"l", "p", "n"}`. It can sleep
/// (past the visibility timeout), fail retryably before an attempt, or panic.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RecStart {
    /// The rig it belongs to.
    pub rig: String,
    /// Its label.
    pub label: String,
    /// Echoed into the value (large arguments make large values).
    #[serde(default)]
    pub pad: String,
    /// How long it works.
    #[serde(default)]
    pub sleep_ms: u64,
    /// Its timeout.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// Attempts its retry policy allows.
    pub tries: u32,
    /// Fails retryably on attempts before this one.
    #[serde(default)]
    pub ok_on: u32,
    /// Panics on every attempt.
    #[serde(default)]
    pub panic: bool,
}

#[vow::task("e2e/rec-start")]
impl Task for RecStart {
    type Input = ();
    type Output = Value;
    async fn run(self, _: (), cx: &Cx) -> Result<Resolution<Value>, Error> {
        record(Observation::run(&self.rig, cx, self.tries));
        tokio::time::sleep(Duration::from_millis(self.sleep_ms)).await;
        if self.panic {
            panic!("chaos: e2e/rec-start `{}` panics as asked", self.label);
        }
        if cx.attempt() < self.ok_on {
            return Err(Error::retryable("not yet"));
        }
        done(json!({ "l": self.label, "p": self.pad, "n": nonce() }))
    }
    fn timeout(&self) -> Option<Duration> {
        self.timeout_ms.map(Duration::from_millis)
    }
    fn max_attempts(&self) -> Option<u32> {
        Some(self.tries)
    }
}

/// A successor that records its input and returns `{"l", "i", "p", "n"}`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RecNext {
    /// The rig it belongs to.
    pub rig: String,
    /// Its label.
    pub label: String,
    /// The promise its input comes from.
    pub from: String,
    /// Echoed into the value.
    #[serde(default)]
    pub pad: String,
    /// How long it works.
    #[serde(default)]
    pub sleep_ms: u64,
    /// Attempts its retry policy allows.
    pub tries: u32,
}

#[vow::task("e2e/rec-next")]
impl Task for RecNext {
    type Input = Result<Value, Failure>;
    type Output = Value;
    async fn run(self, input: Self::Input, cx: &Cx) -> Result<Resolution<Value>, Error> {
        record(Observation {
            input: input_digest(&input),
            from: Some(self.from.clone()),
            ..Observation::run(&self.rig, cx, self.tries)
        });
        tokio::time::sleep(Duration::from_millis(self.sleep_ms)).await;
        done(json!({
            "l": self.label,
            "i": summary(&input),
            "p": self.pad,
            "n": nonce(),
        }))
    }
    fn max_attempts(&self) -> Option<u32> {
        Some(self.tries)
    }
}

/// Adopts `Slow.then(After)`: its children are `cx.id().child(0)` (a
/// [`RecStart`] "slow" working `slow_ms`) and `child(1)` (a [`RecNext`] "after").
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Adopter {
    /// The rig it belongs to.
    pub rig: String,
    /// How long the adopted step works.
    pub slow_ms: u64,
}

#[vow::task("e2e/adopter")]
impl Task for Adopter {
    type Input = ();
    type Output = Value;
    async fn run(self, _: (), cx: &Cx) -> Result<Resolution<Value>, Error> {
        record(Observation::run(&self.rig, cx, 3));
        let slow = cx.when(RecStart {
            rig: self.rig.clone(),
            label: "slow".into(),
            sleep_ms: self.slow_ms,
            timeout_ms: Some(self.slow_ms + 30_000),
            tries: 3,
            ..RecStart::default()
        });
        let after = cx.then(
            &slow,
            RecNext {
                rig: self.rig.clone(),
                label: "after".into(),
                from: slow.id().to_string(),
                tries: 3,
                ..RecNext::default()
            },
        );
        adopt(after)
    }
    fn max_attempts(&self) -> Option<u32> {
        Some(3)
    }
}

/// Defers its promise: to a [`ResolveIt`] task it starts (`by_task`), or to
/// application code, which finds the resolver in its observation.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Deferrer {
    /// The rig it belongs to.
    pub rig: String,
    /// Hand the resolver to a task rather than to the application.
    pub by_task: bool,
}

#[vow::task("e2e/deferrer")]
impl Task for Deferrer {
    type Input = ();
    type Output = Value;
    async fn run(self, _: (), cx: &Cx) -> Result<Resolution<Value>, Error> {
        let resolver = cx.resolver::<Value>();
        record(Observation {
            resolver: (!self.by_task).then(|| serde_json::to_value(&resolver).unwrap_or_default()),
            ..Observation::run(&self.rig, cx, 3)
        });
        if self.by_task {
            cx.when(ResolveIt {
                rig: self.rig.clone(),
                resolver,
            });
        }
        deferred()
    }
    fn max_attempts(&self) -> Option<u32> {
        Some(3)
    }
}

/// Resolves another task's promise with `{"l": "by-task", "n"}`.
#[derive(Debug, Serialize, Deserialize)]
pub struct ResolveIt {
    /// The rig it belongs to.
    pub rig: String,
    /// The resolver.
    pub resolver: Resolver<Value>,
}

#[vow::task("e2e/resolve-it")]
impl Task for ResolveIt {
    type Input = ();
    type Output = ();
    async fn run(self, _: (), cx: &Cx) -> Result<Resolution<()>, Error> {
        record(Observation::run(&self.rig, cx, 3));
        cx.resolve(&self.resolver, Ok(json!({ "l": "by-task", "n": nonce() })));
        done(())
    }
    fn max_attempts(&self) -> Option<u32> {
        Some(3)
    }
}

/// Attaches a [`RecNext`] to a promise sent by an earlier flow and adopts it.
#[derive(Debug, Serialize, Deserialize)]
pub struct Attacher {
    /// The rig it belongs to.
    pub rig: String,
    /// The earlier promise.
    pub target: PromiseId,
}

#[vow::task("e2e/attacher")]
impl Task for Attacher {
    type Input = ();
    type Output = Value;
    async fn run(self, _: (), cx: &Cx) -> Result<Resolution<Value>, Error> {
        record(Observation::run(&self.rig, cx, 3));
        let next = cx.then(
            Handle::<Value>::from_id(self.target.clone()),
            RecNext {
                rig: self.rig.clone(),
                label: "attached".into(),
                from: self.target.to_string(),
                tries: 3,
                ..RecNext::default()
            },
        );
        adopt(next)
    }
    fn max_attempts(&self) -> Option<u32> {
        Some(3)
    }
}

/// How a [`Poison`] takes its process down.
pub const POISON_WAYS: &[&str] = &["abort", "stack-overflow", "huge-allocation"];

/// A task that takes its whole process down on every run: it aborts,
/// overflows its thread's stack, or asks for an allocation no process gets
/// ([`POISON_WAYS`]). Only worker processes that may die run it (the chaos
/// run's kill mode).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Poison {
    /// The rig it belongs to.
    pub rig: String,
    /// An index into [`POISON_WAYS`] (taken modulo its length).
    pub way: usize,
}

#[vow::task("e2e/poison")]
impl Task for Poison {
    type Input = ();
    type Output = Value;
    async fn run(self, _: (), cx: &Cx) -> Result<Resolution<Value>, Error> {
        record(Observation::run(&self.rig, cx, 1));
        match POISON_WAYS.get(self.way % POISON_WAYS.len()).copied() {
            Some("stack-overflow") => {
                // Deeper than any thread's stack: the process dies of SIGSEGV
                // on the guard page ("has overflowed its stack").
                let depth = deeper(std::hint::black_box(0));
                eprintln!("chaos: e2e/poison's recursion returned at {depth}");
            }
            Some("huge-allocation") => {
                let bytes = 1usize << 46;
                let mut v: Vec<u8> = Vec::new();
                if v.try_reserve_exact(bytes).is_err() {
                    // What a failed allocation does: report it and abort.
                    let layout = std::alloc::Layout::array::<u8>(bytes)
                        .unwrap_or(std::alloc::Layout::new::<u8>());
                    std::alloc::handle_alloc_error(layout);
                }
            }
            _ => {}
        }
        std::process::abort()
    }
    fn max_attempts(&self) -> Option<u32> {
        Some(1)
    }
}

/// Recurses with a 4 KiB frame until the stack ends (never, in practice, at
/// `u64::MAX`).
#[inline(never)]
fn deeper(depth: u64) -> u64 {
    let frame = std::hint::black_box([depth; 512]);
    if depth == u64::MAX {
        return frame[0];
    }
    deeper(depth + 1).wrapping_add(frame[(depth % 512) as usize])
}

/// The marker on which [`BadDecode`]'s `Deserialize` panics.
pub const PANIC_MARKER: &str = "boom";

fn panicky<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    if s == PANIC_MARKER {
        panic!("chaos: e2e/bad-decode's Deserialize panics on its marker");
    }
    Ok(s)
}

/// A task whose `Deserialize` panics when `marker` is [`PANIC_MARKER`].
#[derive(Debug, Serialize, Deserialize)]
pub struct BadDecode {
    /// The marker.
    #[serde(deserialize_with = "panicky")]
    pub marker: String,
}

#[vow::task("e2e/bad-decode")]
impl Task for BadDecode {
    type Input = ();
    type Output = Value;
    async fn run(self, _: (), _cx: &Cx) -> Result<Resolution<Value>, Error> {
        done(json!({ "l": self.marker }))
    }
}

/// The tags of the recording tasks.
pub const TAGS: &[&str] = &[
    "e2e/rec-start",
    "e2e/rec-next",
    "e2e/adopter",
    "e2e/deferrer",
    "e2e/resolve-it",
    "e2e/attacher",
    "e2e/bad-decode",
    "e2e/poison",
    "e2e/inc",
    "e2e/flaky",
];

/// Keep this crate's tasks linked into a binary; returns the tags missing from
/// the registry (empty when all are linked).
pub fn link() -> Vec<&'static str> {
    let registered: Vec<&str> = vow::registered_tasks().iter().map(|r| r.tag).collect();
    std::hint::black_box((
        digest as fn(&Value) -> String,
        crate::tasks::MatchOne::matches,
    ));
    TAGS.iter()
        .copied()
        .filter(|t| !registered.contains(t))
        .collect()
}
