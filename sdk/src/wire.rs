//! The wire format: what travels in queue messages and what the store keeps.
//!
//! Everything is JSON. An [`Envelope`] exposes the promise id, attempt and
//! continuations without decoding the task, so error paths and the dead-letter
//! handler work even for task tags this build does not know. The task itself is
//! decoded separately by [`decode_task`].

use crate::failure::Failure;
use crate::id::PromiseId;
use crate::task::ErasedTask;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The wire format version this build writes and reads.
pub const WIRE_VERSION: u32 = 1;

/// A settled outcome as stored and sent: JSON of `Result<T, Failure>`, or a reference
/// to the member outcomes of a join (read from the store when needed).
///
/// Decoding refuses a join of more than [`MAX_JOIN`] members and a stored key of
/// another kind than an outcome's, so a hostile message cannot make a reader
/// allocate without bound or read a message body as a value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawOutcome")]
pub enum Outcome {
    /// A value.
    Ok(Value),
    /// A failure.
    Err(Failure),
    /// The list of outcomes of the `n` members of join `join`.
    Joined {
        /// The join's id.
        join: PromiseId,
        /// How many members.
        n: u32,
    },
    /// An outcome too large to keep inline, stored out of line under `key`.
    Stored {
        /// The blob's key in the store.
        key: String,
    },
}

/// The same shape, as read before validation.
#[derive(Deserialize)]
enum RawOutcome {
    Ok(Value),
    Err(Failure),
    Joined { join: PromiseId, n: u32 },
    Stored { key: String },
}

impl TryFrom<RawOutcome> for Outcome {
    type Error = String;
    fn try_from(raw: RawOutcome) -> Result<Self, String> {
        Ok(match raw {
            RawOutcome::Ok(v) => Outcome::Ok(v),
            RawOutcome::Err(f) => Outcome::Err(f),
            RawOutcome::Joined { join, n } => {
                check_join(&join, n)?;
                Outcome::Joined { join, n }
            }
            RawOutcome::Stored { key } => {
                if !is_blob_key(&key, BlobKind::Value) {
                    return Err(format!("`{key}` is not the key of a stored outcome"));
                }
                Outcome::Stored { key }
            }
        })
    }
}

/// Outcomes whose JSON is larger than this are stored out of line, values and
/// failures alike, so 16 of them fit one join shard well within DynamoDB's 400 KB.
pub const INLINE_OUTCOME_LIMIT: usize = 16 * 1024;
/// Message bodies larger than this are stored out of line (SQS allows 256 KiB).
pub const INLINE_MESSAGE_LIMIT: usize = 200 * 1024;
/// The most members a join may have. It bounds what one message can make a
/// worker allocate, read or climb (five levels of 16-slot shards).
pub const MAX_JOIN: u32 = 1_000_000;

/// The longest token a message may carry (tokens are copied into slots).
pub const MAX_TOKEN_LEN: usize = 64;

/// A token as tokens are made: short, of a few plain characters.
fn token<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    use serde::de::Error as _;
    let token = String::deserialize(d)?;
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, ':' | '-' | '_');
    if token.is_empty() || token.len() > MAX_TOKEN_LEN || !token.chars().all(plain) {
        return Err(D::Error::custom(
            "a token must be 1 to 64 letters, digits, `:`, `-` or `_`",
        ));
    }
    Ok(token)
}

/// What a text stored out of line is: a message body or an outcome. Keys of the
/// two kinds never coincide, and neither coincides with a record's key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlobKind {
    /// A message body too large for the queue.
    Body,
    /// An outcome too large for a slot.
    Value,
}

impl BlobKind {
    fn prefix(self) -> &'static str {
        match self {
            BlobKind::Body => "vow-msg#",
            BlobKind::Value => "vow-val#",
        }
    }
}

/// The key a text of `kind` is stored under: named by its SHA-256, so a key
/// always holds the same text, whoever writes it and however often.
pub fn blob_key(kind: BlobKind, text: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(text.as_bytes());
    let mut key = String::with_capacity(kind.prefix().len() + 64);
    key.push_str(kind.prefix());
    for byte in digest.iter() {
        key.push_str(&format!("{byte:02x}"));
    }
    key
}

/// Whether `key` is a key [`blob_key`] makes for `kind`.
pub fn is_blob_key(key: &str, kind: BlobKind) -> bool {
    key.strip_prefix(kind.prefix()).is_some_and(|hash| {
        hash.len() == 64 && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

/// Whether `text` is what `key` names (its hash matches).
pub fn blob_matches(key: &str, text: &str) -> bool {
    [BlobKind::Body, BlobKind::Value]
        .into_iter()
        .any(|kind| is_blob_key(key, kind) && blob_key(kind, text) == key)
}

/// A join id and size that can be acted on.
fn check_join(join: &PromiseId, n: u32) -> Result<(), String> {
    if join.as_member().is_some() {
        return Err(format!("join id {join} is a member id"));
    }
    if n > MAX_JOIN {
        return Err(format!(
            "a join of {n} members exceeds the {MAX_JOIN} allowed"
        ));
    }
    Ok(())
}

/// Where a promise's outcome is written.
///
/// Decoding refuses targets nothing could have made: a member of an empty join,
/// an index past the end, a join over [`MAX_JOIN`], and a plain promise whose id
/// is a member's (it would write a join slot without counting it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", try_from = "RawTarget")]
pub enum Target {
    /// The promise's own record.
    Promise(PromiseId),
    /// Slot `index` of the join `join` of `n` members.
    Member {
        /// The join's id.
        join: PromiseId,
        /// The member's index.
        index: u32,
        /// How many members the join has.
        n: u32,
    },
}

/// The same shape, as read before validation.
#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum RawTarget {
    Promise(PromiseId),
    Member { join: PromiseId, index: u32, n: u32 },
}

impl TryFrom<RawTarget> for Target {
    type Error = String;
    fn try_from(raw: RawTarget) -> Result<Self, String> {
        match raw {
            RawTarget::Promise(id) if id.as_member().is_some() => Err(format!(
                "{id} is a join member: it is settled only as a member target"
            )),
            RawTarget::Promise(id) => Ok(Target::Promise(id)),
            RawTarget::Member { join, index, n } => {
                check_join(&join, n)?;
                if index >= n {
                    return Err(format!("member {index} of a join of {n}"));
                }
                Ok(Target::Member { join, index, n })
            }
        }
    }
}

impl Target {
    /// The promise id this target settles.
    pub fn id(&self) -> PromiseId {
        match self {
            Target::Promise(id) => id.clone(),
            Target::Member { join, index, .. } => join.member(*index),
        }
    }
}

/// Per-task run options carried in the message.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunOpts {
    /// Timeout in milliseconds; the engine default applies when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Attempts before the promise settles Crashed; the engine default applies when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
}

/// What happens when a promise settles.
///
/// On the wire a continuation and everything nested in it is a flat list in
/// pre-order, each entry saying how many children follow it, so a long chain of
/// successors never makes a message deeply nested.
#[derive(Clone, Debug, PartialEq)]
pub enum Cont {
    /// Run `task` with the outcome as input; its result settles `id`.
    Then {
        /// The successor promise.
        id: PromiseId,
        /// The registered task, as `{"task": "<tag>", "with": ...}`.
        task: Value,
        /// Run options.
        opts: RunOpts,
        /// The successor's own continuations.
        conts: Vec<Cont>,
    },
    /// Settle `target` with the same outcome (adoption, resolvers, `all` arrivals).
    Settle {
        /// What to settle.
        target: Target,
        /// Its continuations.
        conts: Vec<Cont>,
        /// For adoption: how many children the adopting task created.
        kids: u32,
    },
}

/// One entry of a continuation's flat wire form.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Node {
    Then {
        id: PromiseId,
        task: Value,
        #[serde(default)]
        opts: RunOpts,
        #[serde(default, skip_serializing_if = "is_zero")]
        n: u32,
    },
    Settle {
        target: Target,
        #[serde(default, skip_serializing_if = "is_zero")]
        n: u32,
        #[serde(default, skip_serializing_if = "is_zero")]
        kids: u32,
    },
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl Serialize for Cont {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = s.serialize_seq(None)?;
        let mut stack = vec![self];
        while let Some(cont) = stack.pop() {
            let n = |c: &Vec<Cont>| u32::try_from(c.len()).unwrap_or(u32::MAX);
            let (node, children) = match cont {
                Cont::Then {
                    id,
                    task,
                    opts,
                    conts,
                } => (
                    Node::Then {
                        id: id.clone(),
                        task: task.clone(),
                        opts: opts.clone(),
                        n: n(conts),
                    },
                    conts,
                ),
                Cont::Settle {
                    target,
                    conts,
                    kids,
                } => (
                    Node::Settle {
                        target: target.clone(),
                        n: n(conts),
                        kids: *kids,
                    },
                    conts,
                ),
            };
            seq.serialize_element(&node)?;
            stack.extend(children.iter().rev());
        }
        seq.end()
    }
}

impl<'de> Deserialize<'de> for Cont {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let nodes = Vec::<Node>::deserialize(d)?;
        let mut built: Vec<Cont> = Vec::new();
        for node in nodes.into_iter().rev() {
            let n = match &node {
                Node::Then { n, .. } | Node::Settle { n, .. } => *n as usize,
            };
            if n > built.len() {
                return Err(D::Error::custom("continuation list is truncated"));
            }
            let conts: Vec<Cont> = built.drain(built.len() - n..).rev().collect();
            built.push(match node {
                Node::Then { id, .. } if id.as_member().is_some() => {
                    return Err(D::Error::custom(format!(
                        "successor id {id} is a join member's"
                    )))
                }
                Node::Then { id, task, opts, .. } => Cont::Then {
                    id,
                    task,
                    opts,
                    conts,
                },
                Node::Settle { target, kids, .. } => Cont::Settle {
                    target,
                    conts,
                    kids,
                },
            });
        }
        match (built.pop(), built.is_empty()) {
            (Some(root), true) => Ok(root),
            _ => Err(D::Error::custom(
                "continuation list must hold exactly one tree",
            )),
        }
    }
}

/// One queue message: run a task and settle a promise.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// Wire version ([`WIRE_VERSION`]).
    pub v: u32,
    /// Where the outcome goes.
    pub target: Target,
    /// Names this send of the message. The store records the token of the settling
    /// write, so a redelivery of the same message recognises its own earlier settle
    /// and repairs whatever a crash may have left undone. At most
    /// [`MAX_TOKEN_LEN`] ASCII letters, digits, `:`, `-` and `_`.
    #[serde(deserialize_with = "token")]
    pub token: String,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// A re-fired continuation: skip if the promise already settled.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub repair: bool,
    /// The task, undecoded.
    pub task: Value,
    /// The predecessor's outcome, for `then` successors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<Outcome>,
    /// Run options.
    #[serde(default)]
    pub opts: RunOpts,
    /// Continuations known when the message was created.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conts: Vec<Cont>,
}

/// The tag of the message a task's resolve becomes: it settles its target with
/// the outcome it carries, runs no user code, and needs no registration.
pub const RESOLVE_TASK: &str = "vow/resolve";

/// The tag of a timer message ([`Envelope::timer`]): like a resolve, it runs
/// no user code and needs no registration.
pub const TIMER_TASK: &str = "vow/timer";

impl Envelope {
    /// The message that settles the resolver's `target` with `outcome` and fires
    /// `conts`, as the writer `token` ([`crate::id::resolve_token`]). A task's
    /// resolves are sent as these before the task's own promise settles, so a
    /// resolve is never lost with a worker that crashed after it; a resolve
    /// made by application code sends one as its guard.
    pub fn resolve(target: Target, conts: Vec<Cont>, outcome: Outcome, token: String) -> Self {
        Envelope {
            v: WIRE_VERSION,
            token,
            target,
            attempt: 1,
            repair: false,
            task: serde_json::json!({ "task": RESOLVE_TASK }),
            input: Some(outcome),
            opts: RunOpts::default(),
            conts,
        }
    }

    /// The message that settles `target` with `outcome` once the clock reads
    /// `at` (milliseconds since the Unix epoch): a sleep's end or a callback's
    /// deadline. Until then it waits in the queue, in hops of at most
    /// [`crate::EngineConfig::timer_hop`], and checks its promise at every hop,
    /// so a timer whose promise settled (resolved, cancelled) stops there. Its
    /// token is [`crate::id::timer_token`]: a retried parent sends the same timer.
    pub fn timer(target: Target, outcome: Outcome, at: u64) -> Self {
        Envelope {
            v: WIRE_VERSION,
            token: crate::id::timer_token(&target.id()),
            target,
            attempt: 1,
            repair: false,
            task: serde_json::json!({ "task": TIMER_TASK, "at": at }),
            input: Some(outcome),
            opts: RunOpts::default(),
            conts: Vec::new(),
        }
    }

    /// The timer that settles the callback `target` with `outcome` unless a
    /// heartbeat came within `every_ms` of the last one (or of `at - every_ms`,
    /// the callback's creation): at `at` it looks at the callback's last beat
    /// and, if there was one since, waits until `every_ms` after it. Its token
    /// is the callback's heartbeat token (`id::heartbeat_token`).
    pub fn heartbeat_timer(target: Target, outcome: Outcome, at: u64, every_ms: u64) -> Self {
        let mut timer = Envelope::timer(target, outcome, at);
        timer.token = crate::id::heartbeat_token(&timer.target.id());
        if let Some(task) = timer.task.as_object_mut() {
            task.insert("beat".to_owned(), Value::from(every_ms));
        }
        timer
    }

    /// For a heartbeat timer ([`Envelope::heartbeat_timer`]): the longest
    /// silence allowed, in milliseconds.
    pub fn heartbeat_ms(&self) -> Option<u64> {
        self.timer_at()?;
        self.task.get("beat").and_then(Value::as_u64)
    }

    /// This timer, due at `at` instead.
    pub fn due_at(&self, at: u64) -> Envelope {
        let mut next = self.clone();
        if let Some(task) = next.task.as_object_mut() {
            task.insert("at".to_owned(), Value::from(at));
        }
        next
    }

    /// For a timer: how many hops it has made (0 as sent by its flow).
    pub fn timer_hop(&self) -> u64 {
        self.task.get("hop").and_then(Value::as_u64).unwrap_or(0)
    }

    /// This timer, one hop further.
    pub fn next_hop(&self) -> Envelope {
        let mut next = self.clone();
        let hop = self.timer_hop().saturating_add(1);
        if let Some(task) = next.task.as_object_mut() {
            task.insert("hop".to_owned(), Value::from(hop));
        }
        next
    }

    /// Whether this message settles its target with the outcome it carries and
    /// runs no user code: a resolve ([`Envelope::resolve`]) or a timer
    /// ([`Envelope::timer`]).
    pub fn is_resolve(&self) -> bool {
        matches!(self.tag(), Some(RESOLVE_TASK | TIMER_TASK))
    }

    /// For a timer ([`Envelope::timer`]): when it fires, in milliseconds since
    /// the Unix epoch; `Some(None)` for a timer that names no time.
    pub fn timer_at(&self) -> Option<Option<u64>> {
        (self.tag() == Some(TIMER_TASK)).then(|| self.task.get("at").and_then(Value::as_u64))
    }

    /// The task's registered tag, if the task object has one.
    pub fn tag(&self) -> Option<&str> {
        self.task.get("task").and_then(Value::as_str)
    }

    /// Encode as a message body.
    pub fn encode(&self) -> String {
        // Serializing plain data (maps, strings, numbers) cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// What the store keeps per settled slot: the outcome, the token of the write,
/// and a little history for `vow status` and `vow tree`. Field names are one
/// letter: a join shard holds 16 slots and should stay within one 1 KB write unit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Slot {
    /// The outcome.
    #[serde(rename = "o")]
    pub outcome: Outcome,
    /// The token of the envelope whose processing wrote it.
    #[serde(rename = "b")]
    pub by: String,
    /// When it settled, in milliseconds since the Unix epoch.
    #[serde(rename = "t", default, skip_serializing_if = "is_zero_u64")]
    pub at: u64,
    /// The attempt that settled it (0 when not settled by its own task).
    #[serde(rename = "a", default = "first", skip_serializing_if = "is_first")]
    pub attempt: u32,
    /// How many child promises its task created: their ids are `id.child(0..kids)`.
    #[serde(rename = "k", default, skip_serializing_if = "is_zero")]
    pub kids: u32,
}

fn first() -> u32 {
    1
}

fn is_first(n: &u32) -> bool {
    *n == 1
}

impl Slot {
    /// A slot written now by `by`.
    pub fn new(outcome: Outcome, by: impl Into<String>) -> Self {
        let at = crate::clock::epoch_millis(std::time::SystemTime::now());
        Slot {
            outcome,
            by: by.into(),
            at,
            attempt: 0,
            kids: 0,
        }
    }
}

fn is_zero_u64(n: &u64) -> bool {
    *n == 0
}

/// A message whose envelope is stored out of line because it is too large for
/// the queue. It names the envelope's target and token, so the dead-letter
/// handler can settle the promise even if the stored envelope is gone.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pointer {
    /// Wire version ([`WIRE_VERSION`]).
    pub v: u32,
    /// The key of the stored envelope (see [`blob_key`]).
    pub blob: String,
    /// The envelope's target.
    pub target: Target,
    /// The envelope's token.
    #[serde(deserialize_with = "token")]
    pub token: String,
}

impl Pointer {
    /// Whether `env` is the envelope this pointer names.
    pub fn names(&self, env: &Envelope) -> bool {
        env.target == self.target && env.token == self.token
    }

    /// Encode as a message body.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// A decoded message body.
#[derive(Clone, Debug, PartialEq)]
pub enum Body {
    /// The envelope itself.
    Envelope(Box<Envelope>),
    /// A pointer to an envelope stored out of line.
    Pointer(Pointer),
}

/// Decode a message body into an envelope or a pointer to one, with a failure
/// that says what is wrong.
pub fn decode_body(body: &str) -> Result<Body, Failure> {
    let value = versioned(body)?;
    if value.get("blob").is_some() {
        let pointer: Pointer = serde_json::from_value(value)
            .map_err(|e| Failure::bad_input(format!("malformed vow pointer: {e}")))?;
        if !is_blob_key(&pointer.blob, BlobKind::Body) {
            return Err(Failure::bad_input(format!(
                "`{}` is not the key of a stored message body",
                pointer.blob
            )));
        }
        return Ok(Body::Pointer(pointer));
    }
    serde_json::from_value(value)
        .map(|env| Body::Envelope(Box::new(env)))
        .map_err(|e| Failure::bad_input(format!("malformed vow envelope: {e}")))
}

/// Decode a message body into an envelope, with a failure that says what is wrong.
pub fn decode_envelope(body: &str) -> Result<Envelope, Failure> {
    match decode_body(body)? {
        Body::Envelope(env) => Ok(*env),
        Body::Pointer(_) => Err(Failure::bad_input(
            "message body is a pointer to an envelope stored out of line",
        )),
    }
}

/// Parse a body as JSON of this wire version.
fn versioned(body: &str) -> Result<Value, Failure> {
    let value: Value = serde_json::from_str(body).map_err(|e| {
        Failure::bad_input(format!(
            "message body is not JSON ({e}); only vow producers may send to this queue"
        ))
    })?;
    let v = value.get("v").and_then(Value::as_u64);
    match v {
        Some(v) if v == u64::from(WIRE_VERSION) => Ok(value),
        Some(v) => Err(Failure::bad_input(format!(
            "wire version {v} is not supported by this worker (it reads version {WIRE_VERSION}); \
             deploy a worker built with the producer's vow version"
        ))),
        None => Err(Failure::bad_input(
            "message is not a vow envelope (no `v` field); only vow producers may send to this queue",
        )),
    }
}

/// Read the target, continuations and token out of a body that does not decode as a
/// whole envelope, so its promise can still be settled.
pub fn salvage(body: &str) -> Option<(Target, Vec<Cont>, String)> {
    let value: Value = serde_json::from_str(body).ok()?;
    let target = serde_json::from_value(value.get("target")?.clone()).ok()?;
    let conts = value
        .get("conts")
        .and_then(|c| serde_json::from_value(c.clone()).ok())
        .unwrap_or_default();
    let token = value
        .get("token")
        .and_then(|t| token(t.clone()).ok())
        .unwrap_or_else(|| "salvaged".to_owned());
    Some((target, conts, token))
}

/// Decode the task object of an envelope. A task whose own `Deserialize` panics
/// fails to decode like one whose fields are wrong: the panic is caught here, so
/// it can neither take its message down with it nor the dead-letter handler.
pub fn decode_task(task: &Value) -> Result<Box<dyn ErasedTask>, Failure> {
    let tag = task.get("task").and_then(Value::as_str).unwrap_or("");
    let decoded =
        std::panic::catch_unwind(|| serde_json::from_value::<Box<dyn ErasedTask>>(task.clone()))
            .map_err(|_| {
                Failure::bad_input(format!("task `{tag}` panicked while being decoded"))
            })?;
    decoded.map_err(|e| {
        let text = e.to_string();
        if text.contains("unknown variant") {
            Failure::unknown_task(format!(
                "task `{tag}` is not registered in this worker build; link the crate that \
                 defines it into the worker (and check the tag was not renamed)"
            ))
        } else {
            Failure::bad_input(format!("task `{tag}` could not be decoded: {text}"))
        }
    })
}

/// Encode a value of a task's output type.
pub(crate) fn to_value<T: Serialize>(value: &T) -> Result<Value, Failure> {
    serde_json::to_value(value)
        .map_err(|e| Failure::bad_input(format!("value could not be encoded: {e}")))
}

/// The JSON of `Result<Value, Failure>` for a fully resolved outcome.
pub(crate) fn result_json(result: Result<Value, Failure>) -> Value {
    match result {
        Ok(v) => serde_json::json!({ "Ok": v }),
        Err(f) => serde_json::json!({ "Err": f }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Envelope {
        Envelope {
            v: WIRE_VERSION,
            target: Target::Promise(PromiseId::random()),
            token: "abc".into(),
            attempt: 1,
            repair: false,
            task: serde_json::json!({"task": "nope", "x": 1}),
            input: Some(Outcome::Err(Failure::timeout("slow"))),
            opts: RunOpts::default(),
            conts: vec![Cont::Settle {
                target: Target::Member {
                    join: PromiseId::random(),
                    index: 3,
                    n: 9,
                },
                conts: vec![],
                kids: 0,
            }],
        }
    }

    #[test]
    fn envelope_round_trips() {
        let env = sample();
        assert_eq!(decode_envelope(&env.encode()).expect("decodes"), env);
    }

    #[test]
    fn long_chains_stay_flat_on_the_wire() {
        let mut cont = Cont::Settle {
            target: Target::Promise(PromiseId::random()),
            conts: vec![],
            kids: 0,
        };
        for i in 0..1_000 {
            cont = Cont::Then {
                id: PromiseId::random().child(i),
                task: serde_json::json!({"task": "t"}),
                opts: RunOpts::default(),
                conts: vec![
                    cont,
                    Cont::Settle {
                        target: Target::Promise(PromiseId::random()),
                        conts: vec![],
                        kids: 0,
                    },
                ],
            };
        }
        let mut env = sample();
        env.conts = vec![cont];
        let back = decode_envelope(&env.encode()).expect("decodes");
        assert_eq!(back.encode(), env.encode());
        let bad = r#"[{"then": {"id": "0123456789abcdef0123456789abcdef", "task": {}, "n": 2}}]"#;
        assert!(serde_json::from_str::<Cont>(bad).is_err());
    }

    #[test]
    fn bad_bodies_give_clear_failures() {
        let cases = [
            ("not json", "not JSON"),
            ("{}", "no `v` field"),
            (r#"{"v": 99}"#, "wire version 99"),
            (r#"{"v": 1, "target": 5}"#, "malformed vow envelope"),
        ];
        for (body, says) in cases {
            let f = decode_envelope(body).expect_err(body);
            assert_eq!(f.kind(), crate::FailureKind::BadInput);
            assert!(f.message().contains(says), "{body}: {f}");
        }
        let full = sample().encode();
        for cut in [1, full.len() / 2, full.len() - 1] {
            assert!(decode_envelope(&full[..cut]).is_err());
        }
    }

    #[test]
    fn target_is_salvaged_from_undecodable_envelopes() {
        let env = sample();
        let mut v: Value = serde_json::from_str(&env.encode()).expect("json");
        v["attempt"] = Value::from("many");
        let body = v.to_string();
        assert!(decode_envelope(&body).is_err());
        let (target, conts, token) = salvage(&body).expect("salvaged");
        assert_eq!((target, conts, token), (env.target, env.conts, env.token));
        assert!(salvage("garbage").is_none());
    }

    #[test]
    fn unknown_tag_is_unknown_task() {
        let f = decode_task(&serde_json::json!({"task": "no-such-task"}))
            .err()
            .expect("fails");
        assert_eq!(f.kind(), crate::FailureKind::UnknownTask);
        assert!(f.message().contains("no-such-task"));
    }
}

#[cfg(test)]
mod fuzz {
    //! A bounded, seeded fuzz of the decoders: random mutations of valid bodies
    //! must decode or fail with a `Failure`, never panic.
    use super::*;

    fn mutate(rng: &mut fastrand::Rng, body: &str) -> String {
        let mut bytes = body.as_bytes().to_vec();
        for _ in 0..rng.usize(1..6) {
            if bytes.is_empty() {
                break;
            }
            let i = rng.usize(..bytes.len());
            match rng.u8(..6) {
                0 => bytes.truncate(i),
                1 => bytes[i] = rng.u8(..),
                2 => {
                    bytes.remove(i);
                }
                3 => bytes.insert(i, *b"{}[]\":,0\\".get(rng.usize(..9)).unwrap_or(&b'x')),
                4 => {
                    let j = rng.usize(..bytes.len());
                    bytes.swap(i, j);
                }
                _ => {
                    let chunk: Vec<u8> = bytes[i..].iter().take(20).copied().collect();
                    bytes.splice(i..i, chunk);
                }
            }
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }

    #[test]
    fn mutated_envelopes_never_panic() {
        let mut rng = fastrand::Rng::with_seed(0x5eed);
        let mut env = Envelope {
            v: WIRE_VERSION,
            target: Target::Member {
                join: PromiseId::random(),
                index: 2,
                n: 40,
            },
            token: "tok".into(),
            attempt: 2,
            repair: true,
            task: serde_json::json!({"task": "x", "with": {"a": [1, 2.5, "s", null]}}),
            input: Some(Outcome::Joined {
                join: PromiseId::random(),
                n: 3,
            }),
            opts: RunOpts {
                timeout_ms: Some(5),
                max_attempts: Some(2),
            },
            conts: Vec::new(),
        };
        env.conts = vec![Cont::Then {
            id: PromiseId::random(),
            task: serde_json::json!({"task": "y"}),
            opts: RunOpts::default(),
            conts: vec![Cont::Settle {
                target: Target::Promise(PromiseId::random()),
                conts: vec![],
                kids: 1,
            }],
        }];
        let body = env.encode();
        let (mut ok, mut failed) = (0, 0);
        for _ in 0..20_000 {
            let m = mutate(&mut rng, &body);
            match decode_envelope(&m) {
                Ok(decoded) => {
                    ok += 1;
                    let _ = decode_task(&decoded.task);
                }
                Err(f) => {
                    failed += 1;
                    assert_eq!(f.kind(), crate::FailureKind::BadInput);
                }
            }
            let _ = salvage(&m);
        }
        assert!(ok > 0 && failed > 0, "ok={ok} failed={failed}");
    }
}
