//! Resolve messages: a callback resolved from any language, with one JSON
//! message to the work queue:
//!
//! ```json
//! {"vow":"resolve","id":"<the callback's id>","value":<any JSON>}
//! {"vow":"resolve","id":"<the callback's id>","error":"why it failed"}
//! ```
//!
//! When the deployment signs its messages, the body is signed like every
//! other (`vow-sig2:<key id>:<issued ms>:<hex HMAC-SHA256>:<the JSON>`, the
//! HMAC over key id, issue time, queue name and JSON, see
//! [`crate::signing`]), and an unsigned, altered, stale or misaddressed one is
//! refused.
//!
//! Rule 10: only a callback (or a deferred task's promise) may be resolved so:
//! its record says so, and a message naming anything else is refused as
//! undecodable (it reaches the dead-letter queue, which drops it with a
//! warning, settling nothing). A resolve that comes too late does nothing.
//! Rules 1, 2 and 8: the message settles the promise as a resolve of its own
//! (its token derives from its queue message id, so a redelivery or an SQS
//! duplicate is the same writer), and it is deleted only after it delivered
//! what is stored with the promise.

use super::{Engine, Rejected};
use crate::failure::Failure;
use crate::id::PromiseId;
use crate::store::Cell;
use crate::wire::{Envelope, Outcome, Target};
use serde::Deserialize;
use serde_json::Value;
use std::sync::Arc;

/// A resolve message, as sent.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResolveMessage {
    vow: String,
    id: String,
    #[serde(default)]
    value: Option<Value>,
    #[serde(default)]
    error: Option<String>,
}

/// The most bytes a resolve message may carry (SQS's limit is 256 KiB).
const MAX_RESOLVE_BYTES: usize = 256 * 1024;

/// Whether `body` (already verified, if signing is on) is a resolve message.
pub(crate) fn is_resolve_message(body: &str) -> bool {
    body.len() <= MAX_RESOLVE_BYTES
        && body.trim_start().starts_with('{')
        && body.contains("\"resolve\"")
        && serde_json::from_str::<Value>(body)
            .is_ok_and(|v| v.get("vow").and_then(Value::as_str) == Some("resolve"))
}

fn refuse(why: impl Into<String>) -> Rejected {
    Rejected::Undecodable(Failure::bad_input(why))
}

impl Engine {
    /// Handle a resolve message (see the module docs), delivered as the queue
    /// message `message_id`.
    pub(super) async fn resolve_message(
        self: &Arc<Self>,
        body: &str,
        message_id: Option<&str>,
    ) -> Result<(), Rejected> {
        let message: ResolveMessage = serde_json::from_str(body)
            .map_err(|e| refuse(format!("a resolve message that does not decode: {e}")))?;
        if message.vow != "resolve" {
            return Err(refuse("not a resolve message"));
        }
        let id = PromiseId::parse(&message.id)
            .map_err(|f| refuse(format!("a resolve message's id: {}", f.message())))?;
        let outcome = match (message.value, message.error) {
            (Some(value), None) => Outcome::Ok(value),
            (None, Some(why)) => Outcome::Err(Failure::error(why)),
            (None, None) => Outcome::Ok(Value::Null),
            (Some(_), Some(_)) => {
                return Err(refuse("a resolve message has both a value and an error"))
            }
        };
        let cell = Cell::of(&id);
        let mut record = self.store.read(&cell.key).await?.unwrap_or_default();
        let by = message_id.map_or_else(crate::id::nonce, str::to_owned);
        let token = crate::id::resolve_token(&id, &by);
        // Written by an earlier delivery of this very message, the slot is
        // its own: settling again delivers what that delivery may not have
        // sent (rule 3). Written by anyone else, this one came too late.
        if let Some(slot) = record.slots.get(&cell.slot) {
            if slot.by != token {
                tracing::info!(promise = %id, "resolve message came too late: already settled");
                return Ok(());
            }
        } else if !record
            .notes
            .remove(&cell.slot)
            .is_some_and(|n| n.resolvable)
        {
            return Err(refuse(format!(
                "{id} is not a callback: only callbacks are resolved by a resolve message"
            )));
        }
        let env = Envelope::resolve(Target::Promise(id), Vec::new(), outcome, token);
        self.settle_resolve(env, None, &None).await.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_messages_are_told_from_envelopes() {
        assert!(is_resolve_message(
            r#"{"vow":"resolve","id":"ab","value":1}"#
        ));
        assert!(is_resolve_message(r#" {"id":"ab","vow":"resolve"}"#));
        assert!(!is_resolve_message(r#"{"vow":"sweep"}"#));
        assert!(!is_resolve_message(
            r#"{"v":1,"task":{"task":"vow/resolve"}}"#
        ));
        assert!(!is_resolve_message("resolve"));
    }
}
