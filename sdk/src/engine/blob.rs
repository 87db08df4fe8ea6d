//! Values and message bodies too large to keep inline, stored out of line.
//!
//! Rule 4: what a slot or a message points at never changes. A stored text's key
//! is its SHA-256 ([`blob_key`]), so two runs of one message that produce two
//! values store them under two keys, and the slot's one conditional write
//! decides which of them every reader sees; keys of bodies and of outcomes carry
//! different prefixes, and chunk keys (`key~i`) can coincide with neither.
//! Reading checks the hash, so a text that is not what its key names is never
//! used. Rule 6: outcomes, failures included, over [`INLINE_OUTCOME_LIMIT`]
//! and bodies over [`INLINE_MESSAGE_LIMIT`] move out of line, so every slot
//! and message stays within the AWS limits.

use super::{BoxFut, Engine, Rejected};
use crate::error::BackendError;
use crate::failure::Failure;
use crate::store::{shard_key, FAN_IN};
use crate::wire::{
    blob_key, blob_matches, decode_body, decode_envelope, result_json, BlobKind, Body, Envelope,
    Outcome, Pointer, INLINE_MESSAGE_LIMIT, INLINE_OUTCOME_LIMIT, WIRE_VERSION,
};
use serde_json::Value;
use tracing::warn;

/// How deeply joins of joins may nest in one outcome.
const MAX_NESTING: u32 = 64;

/// How many shard records of a join are read at once while expanding it.
const SHARDS_PER_READ: u32 = 64;

/// A successor's input, as the JSON of `Result<T, Failure>`: a value, or (for
/// joins and stored values) its text.
#[doc(hidden)]
#[derive(Debug)]
pub enum TaskInput {
    /// Decoded already.
    Value(Value),
    /// Text to decode.
    Text(String),
}

impl Engine {
    /// Encode an envelope as a message body, signed if signing is on. A body too
    /// large for the queue is stored out of line and the message points at it.
    pub async fn seal(&self, env: &Envelope) -> Result<String, BackendError> {
        let mut body = env.encode();
        if body.len() > INLINE_MESSAGE_LIMIT {
            let key = blob_key(BlobKind::Body, &body);
            self.store.put_blob(&key, &body).await?;
            body = Pointer {
                v: WIRE_VERSION,
                blob: key,
                target: env.target.clone(),
                token: env.token.clone(),
            }
            .encode();
        }
        Ok(match &self.config.signing {
            Some(keys) => keys.sign(self.queue.name(), self.now(), &body),
            None => body,
        })
    }

    /// The body inside `sealed`, verified if signing is on (its MAC, its queue
    /// and its age, see [`crate::signing`]), and whether it is old enough to
    /// check its promise before it runs ([`super::decide::aged`]).
    pub(super) fn verified<'a>(&self, sealed: &'a str) -> Result<(&'a str, bool), Failure> {
        match &self.config.signing {
            Some(keys) => {
                let now = self.now();
                let opened = keys.verify(self.queue.name(), now, sealed)?;
                Ok((opened.body, super::decide::aged(opened.issued_ms, now)))
            }
            None => Ok((sealed, false)),
        }
    }

    /// Verify (if signing is on) and decode a message body, fetching it from the
    /// store if it was too large for the queue.
    pub async fn open(&self, body: &str) -> Result<Envelope, Rejected> {
        self.open_aged(body).await.map(|(env, _)| env)
    }

    /// [`Engine::open`], and whether the message is old enough to check its
    /// promise before it runs.
    pub(super) async fn open_aged(&self, body: &str) -> Result<(Envelope, bool), Rejected> {
        let (body, aged) = self.verified(body).map_err(|f| {
            crate::stats::tally(|t| &t.refused, 1);
            Rejected::Undecodable(f)
        })?;
        self.decode_opened(body).await.map(|env| (env, aged))
    }

    pub(crate) async fn decode_opened(&self, body: &str) -> Result<Envelope, Rejected> {
        match decode_body(body).map_err(Rejected::Undecodable)? {
            Body::Envelope(env) => Ok(*env),
            Body::Pointer(pointer) => {
                let stored = self.fetch(&pointer.blob).await?.ok_or_else(|| {
                    Rejected::Undecodable(Failure::bad_input(format!(
                        "message body stored out of line under {} is missing (expired?)",
                        pointer.blob
                    )))
                })?;
                let env = decode_envelope(&stored).map_err(Rejected::Undecodable)?;
                if !pointer.names(&env) {
                    return Err(Rejected::Undecodable(Failure::bad_input(
                        "message body stored out of line does not match its pointer",
                    )));
                }
                Ok(env)
            }
        }
    }

    /// The text stored under `key`, if it is there and is what the key names.
    pub(super) async fn fetch(&self, key: &str) -> Result<Option<String>, BackendError> {
        let Some(text) = self.store.get_blob(key).await? else {
            return Ok(None);
        };
        if !blob_matches(key, &text) {
            warn!(key, "stored text does not match its key: ignored");
            return Ok(None);
        }
        Ok(Some(text))
    }

    /// Store an outcome out of line if it is too large to keep in a slot.
    ///
    /// Rule 9: a value stored for a plain promise expires `ttl` after its put,
    /// as the record that refers to it does after its settle. A value a join
    /// member's slot will refer to (`member`) is held, with no TTL, until the
    /// join completes and [`Engine::expire_join`] gives it one, however long
    /// the join takes: put held, or, if the outcome was stored earlier (a
    /// promise's outcome copied into a member), taken off its TTL.
    ///
    /// A join's outcome copied into a member (an `all` of an `all`, a member
    /// that adopted a join) would refer to the inner join's records, which
    /// count their TTL from the inner join's completion: the member gets the
    /// inner join's value itself instead, read now (as the outer join's
    /// successor would read it later), and kept like any other value.
    pub(super) async fn shrink(
        &self,
        outcome: Outcome,
        member: bool,
    ) -> Result<Outcome, BackendError> {
        if let (Outcome::Stored { key }, true) = (&outcome, member) {
            if !self.store.hold_blob(key).await? {
                warn!(key, "stored outcome copied into a join member is missing");
            }
            return Ok(outcome);
        }
        let outcome = match (outcome, member) {
            (joined @ Outcome::Joined { .. }, true) => {
                let mut value = self.resolve(&joined).await?;
                Outcome::Ok(value.get_mut("Ok").map(Value::take).unwrap_or_default())
            }
            (outcome, _) => outcome,
        };
        if !matches!(outcome, Outcome::Ok(_) | Outcome::Err(_)) {
            return Ok(outcome);
        }
        let text = serde_json::to_string(&outcome)
            .map_err(|e| BackendError::fatal(format!("outcome could not be encoded: {e}")))?;
        if text.len() <= INLINE_OUTCOME_LIMIT {
            return Ok(outcome);
        }
        let key = blob_key(BlobKind::Value, &text);
        if member {
            self.store.put_blob_held(&key, &text).await?;
        } else {
            self.store.put_blob(&key, &text).await?;
        }
        Ok(Outcome::Stored { key })
    }

    /// Expand an outcome into the JSON of `Result<T, Failure>`, reading join members.
    pub fn resolve<'a>(&'a self, outcome: &'a Outcome) -> BoxFut<'a, Result<Value, BackendError>> {
        Box::pin(async move {
            match self.resolve_input(outcome).await? {
                TaskInput::Value(value) => Ok(value),
                TaskInput::Text(text) => serde_json::from_str(&text)
                    .map_err(|e| BackendError::fatal(format!("an expanded outcome: {e}"))),
            }
        })
    }

    /// The input a successor of `outcome` decodes: the JSON of `Result<T,
    /// Failure>`. A join's (or a stored value's) is built as text, its members
    /// read a few shards at a time and written out as they come, so the
    /// successor of a join of a million small values holds that text and its
    /// own decoded input, never a tree of a million JSON values.
    pub(crate) async fn resolve_input(&self, outcome: &Outcome) -> Result<TaskInput, BackendError> {
        Ok(match outcome {
            Outcome::Ok(v) => TaskInput::Value(result_json(Ok(v.clone()))),
            Outcome::Err(f) => TaskInput::Value(result_json(Err(f.clone()))),
            _ => {
                let mut text = String::new();
                self.write_outcome(outcome, &mut text, MAX_NESTING).await?;
                TaskInput::Text(text)
            }
        })
    }

    /// Append the JSON of `Result<T, Failure>` for `outcome` to `out`, through
    /// at most `depth` levels of joins of joins (a join whose member's outcome
    /// names the join itself must not loop).
    fn write_outcome<'a>(
        &'a self,
        outcome: &'a Outcome,
        out: &'a mut String,
        depth: u32,
    ) -> BoxFut<'a, Result<(), BackendError>> {
        Box::pin(async move {
            let Some(depth) = depth.checked_sub(1) else {
                return Err(BackendError::fatal(
                    "outcome nests joins deeper than vow allows",
                ));
            };
            match outcome {
                Outcome::Ok(v) => {
                    out.push_str("{\"Ok\":");
                    out.push_str(&json_text(v)?);
                    out.push('}');
                }
                Outcome::Err(f) => {
                    out.push_str("{\"Err\":");
                    out.push_str(&json_text(f)?);
                    out.push('}');
                }
                Outcome::Stored { key } => {
                    let text = self.fetch(key).await?.ok_or_else(|| {
                        BackendError::fatal(format!("stored outcome {key} is missing"))
                    })?;
                    let inner: Outcome = serde_json::from_str(&text)
                        .map_err(|e| BackendError::fatal(format!("stored outcome {key}: {e}")))?;
                    if matches!(inner, Outcome::Stored { .. }) {
                        return Err(BackendError::fatal(format!(
                            "stored outcome {key} points at another"
                        )));
                    }
                    self.write_outcome(&inner, out, depth).await?;
                }
                Outcome::Joined { join, n } => {
                    out.push_str("{\"Ok\":[");
                    let shards = n.div_ceil(FAN_IN);
                    let mut first = 0;
                    while first < shards {
                        let last = first.saturating_add(SHARDS_PER_READ).min(shards);
                        let keys: Vec<String> =
                            (first..last).map(|s| shard_key(join, 0, s)).collect();
                        let records = self.store.read_many(&keys).await?;
                        let members =
                            first.saturating_mul(FAN_IN)..last.saturating_mul(FAN_IN).min(*n);
                        for i in members {
                            if i > 0 {
                                out.push(',');
                            }
                            let slot = records
                                .get(((i / FAN_IN).saturating_sub(first)) as usize)
                                .and_then(Option::as_ref)
                                .and_then(|r| r.slots.get(&(i % FAN_IN)));
                            match slot {
                                Some(slot) => self.write_outcome(&slot.outcome, out, depth).await?,
                                None => {
                                    let missing = Outcome::Err(Failure::crashed(format!(
                                        "member {i} of join {join} has no outcome"
                                    )));
                                    self.write_outcome(&missing, out, depth).await?;
                                }
                            }
                        }
                        first = last;
                    }
                    out.push_str("]}");
                }
            }
            Ok(())
        })
    }
}

/// `value` as JSON text.
fn json_text<T: serde::Serialize>(value: &T) -> Result<String, BackendError> {
    serde_json::to_string(value)
        .map_err(|e| BackendError::fatal(format!("a value could not be encoded: {e}")))
}
