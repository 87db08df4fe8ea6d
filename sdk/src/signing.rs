//! Signed envelopes: producers sign every message body with HMAC-SHA256 and
//! workers refuse bodies whose signature does not verify, so only holders of a
//! key can start work or settle promises through the queue (rule 10).
//!
//! # The format
//!
//! ```text
//! vow-sig2:<key id>:<issued ms>:<hex HMAC-SHA256>:<body>
//! ```
//!
//! The MAC covers `"<key id>\n<issued ms>\n<queue name>\n<body>"`: the key that
//! signed, when (milliseconds since the Unix epoch), for which queue (the last
//! segment of the work queue's URL, `VOW_QUEUE_URL`, which producers and
//! workers both know) and what. So a message is bound to its queue (one signed
//! for another deployment's queue is refused, even under a shared key) and to
//! its issue time: a worker refuses a message issued more than [`MAX_AGE`]
//! (the queue's 14-day retention plus [`SKEW`]) ago, or more than [`SKEW`]
//! ahead of its clock. Everything the engine sends again (retries, timer hops,
//! sweeps, successors) is signed afresh. A dead-lettered message keeps its
//! work queue's name, so it verifies in the dead-letter handler and again
//! after a redrive to the work queue, as long as it is younger than
//! [`MAX_AGE`] (SQS keeps it no longer).
//!
//! A message older than a few minutes also checks its promise before it runs
//! ([`crate::engine::decide::checks_first`]), so a captured message sent again
//! finds its work done and runs nothing; after the record's TTL (at least 15
//! days, longer than [`MAX_AGE`]) it is refused by age. The two windows meet.
//!
//! # Keys
//!
//! Keys come from `VOW_SIGNING_KEYS` as `id=secret` pairs separated by commas.
//! The first key signs; every listed key verifies. To rotate: add the new key
//! *second* and deploy everywhere, move it first and deploy, then drop the old
//! one after [`MAX_AGE`] (until then, messages it signed may still arrive).
//!
//! Or they come from a Secrets Manager secret named by
//! `VOW_SIGNING_SECRET_ARN` ([`ENV_SIGNING_SECRET_ARN`]), which the AWS
//! backend's builder reads once at start-up (`GetSecretValue`), so the keys
//! never sit in a function's environment. This is what the SAM template and
//! the Terraform module deploy by default. The secret's string is either an
//! `id=secret,...` spec as above or the JSON the templates generate
//! ([`SigningKeys::parse_secret`]):
//!
//! ```json
//! {"kid": "k2", "key": "<the signing secret>", "old": "k1=<the previous secret>"}
//! ```
//!
//! `kid`/`key` sign (and verify); `old`, optional, lists keys that only verify:
//! after a rotation, keep the previous key there for longer than [`MAX_AGE`]
//! (the queue's 14-day retention plus [`SKEW`]).
//!
//! With neither variable set, messages are unsigned: the builder logs a
//! warning at start-up unless `VOW_UNSIGNED=1` ([`ENV_UNSIGNED`]) says that
//! this is the deployment's choice.
//!
//! # The old format
//!
//! `vow-sig:<key id>:<hex HMAC of the body>:<body>` (before issue times) binds
//! neither time nor queue, so a captured message could be replayed for ever.
//! Workers refuse it, except during a rolling upgrade: set
//! `VOW_SIGNING_LEGACY_UNTIL` to an RFC 3339 time at most [`MAX_AGE`] ahead
//! ([`SigningKeys::accept_legacy_until`]) and old-format messages verify until
//! then, each checking its promise before it runs. Nothing signs the old format.
//!
//! ```
//! use vow::signing::SigningKeys;
//! let keys = SigningKeys::parse("k2=new-secret-0123456789,k1=old-secret-0123456789").unwrap();
//! let now = 1_700_000_000_000;
//! let sealed = keys.sign("work", now, "{\"v\":1}");
//! assert_eq!(keys.verify("work", now, &sealed).unwrap().body, "{\"v\":1}");
//! assert!(keys.verify("other", now, &sealed).is_err(), "bound to its queue");
//! assert!(keys.verify("work", now + 15 * 86_400_000, &sealed).is_err(), "too old");
//! assert!(keys.verify("work", now, "{\"v\":1}").is_err(), "unsigned");
//! ```

use crate::failure::Failure;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::fmt;
use std::time::Duration;

/// The environment variable holding the signing keys.
pub const ENV_SIGNING_KEYS: &str = "VOW_SIGNING_KEYS";

/// The environment variable naming a Secrets Manager secret that holds the
/// signing keys (read at start-up by the AWS backend's builder when
/// [`ENV_SIGNING_KEYS`] is unset). See [`SigningKeys::parse_secret`].
pub const ENV_SIGNING_SECRET_ARN: &str = "VOW_SIGNING_SECRET_ARN";

/// The environment variable that records the choice to run unsigned: `1`
/// silences the start-up warning that messages are not signed. It may not be
/// combined with keys.
pub const ENV_UNSIGNED: &str = "VOW_UNSIGNED";

/// The environment variable that lets workers accept the old `vow-sig:` format
/// until an RFC 3339 time (a rolling upgrade); unset, they refuse it.
pub const ENV_SIGNING_LEGACY_UNTIL: &str = "VOW_SIGNING_LEGACY_UNTIL";

/// How far the clocks of producers and workers may disagree.
pub const SKEW: Duration = Duration::from_secs(15 * 60);

/// How long SQS keeps a message at most (and vow's queues do): 14 days.
pub const RETENTION: Duration = Duration::from_secs(14 * 24 * 3600);

/// The oldest a message may be when a worker opens it: [`RETENTION`] plus
/// [`SKEW`]. The shortest record TTL (15 days) is longer, so a replay is
/// either refused by age or finds its promise's record.
pub const MAX_AGE: Duration = Duration::from_secs(14 * 24 * 3600 + 15 * 60);

const PREFIX: &str = "vow-sig2:";
const LEGACY_PREFIX: &str = "vow-sig:";

/// A message whose signature verified.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Opened<'a> {
    /// The body inside.
    pub body: &'a str,
    /// When it was signed (milliseconds since the Unix epoch); `None` for the
    /// old format, which says nothing about its age.
    pub issued_ms: Option<u64>,
}

/// HMAC keys: the first signs, all verify.
#[derive(Clone)]
pub struct SigningKeys {
    keys: Vec<(String, Vec<u8>)>,
    /// Until when (ms since the epoch) the old `vow-sig:` format verifies.
    legacy_until: Option<u64>,
}

impl fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|(id, _)| id.as_str()).collect();
        f.debug_struct("SigningKeys")
            .field("ids", &ids)
            .field("legacy_until", &self.legacy_until)
            .finish_non_exhaustive()
    }
}

type HmacSha256 = Hmac<Sha256>;

fn mac_of(secret: &[u8], parts: &[&str]) -> HmacSha256 {
    let mut mac =
        <HmacSha256 as KeyInit>::new_from_slice(secret).expect("HMAC accepts keys of any length");
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            mac.update(b"\n");
        }
        mac.update(part.as_bytes());
    }
    mac
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The name messages for the queue at `url` are bound to: its last path
/// segment (`https://sqs.eu-west-1.amazonaws.com/123456789012/orders-work`
/// is bound to `orders-work`).
pub fn queue_name(url: &str) -> &str {
    let url = url.trim_end_matches('/');
    url.rsplit('/').next().unwrap_or(url)
}

fn rejected(why: &str) -> Failure {
    Failure::bad_input(format!(
        "message rejected: {why}; only producers holding a key in {ENV_SIGNING_KEYS} may send"
    ))
}

impl SigningKeys {
    /// Parse `id=secret[,id=secret...]`.
    pub fn parse(spec: &str) -> Result<Self, Failure> {
        Self::parse_from(spec, ENV_SIGNING_KEYS)
    }

    /// [`SigningKeys::parse`], errors naming `source`.
    fn parse_from(spec: &str, source: &str) -> Result<Self, Failure> {
        let mut keys = Vec::new();
        for pair in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (id, secret) = pair.split_once('=').ok_or_else(|| {
                Failure::bad_input(format!("{source}: `{}` is not `id=secret`", id_only(pair)))
            })?;
            let id_ok = !id.is_empty()
                && id
                    .chars()
                    .all(|c| c.is_ascii_graphic() && c != ':' && c != ',');
            if !id_ok || secret.len() < 16 {
                return Err(Failure::bad_input(format!(
                    "{source}: key `{}` needs a non-empty id of printable characters \
                     without `:` and a secret of at least 16 characters",
                    id.escape_debug()
                )));
            }
            keys.push((id.to_owned(), secret.as_bytes().to_vec()));
        }
        if keys.is_empty() {
            return Err(Failure::bad_input(format!("{source} names no key")));
        }
        Ok(SigningKeys {
            keys,
            legacy_until: None,
        })
    }

    /// Parse a Secrets Manager secret's string: either an `id=secret,...`
    /// spec (as [`SigningKeys::parse`]) or a JSON object
    /// `{"kid": ID, "key": SECRET, "old": "id=secret,..."}`, where `kid`/`key`
    /// is the key that signs and `old` (optional) the keys that only verify,
    /// kept after a rotation. The same rules hold for every key (an id of
    /// printable characters without `:` or `,`, a secret of at least 16
    /// characters, no `,` in a secret); errors never echo a secret.
    ///
    /// ```
    /// use vow::signing::SigningKeys;
    /// let new = r#"{"kid":"k2","key":"new-secret-0123456789"}"#;
    /// let rotated = r#"{"kid":"k2","key":"new-secret-0123456789","old":"k1=old-secret-0123456789"}"#;
    /// let old = SigningKeys::parse_secret("k1=old-secret-0123456789").unwrap();
    /// let sealed = old.sign("work", 1, "{}");
    /// assert!(SigningKeys::parse_secret(new).unwrap().verify("work", 1, &sealed).is_err());
    /// assert!(SigningKeys::parse_secret(rotated).unwrap().verify("work", 1, &sealed).is_ok());
    /// ```
    pub fn parse_secret(text: &str) -> Result<Self, Failure> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Secret {
            kid: String,
            key: String,
            #[serde(default)]
            old: Option<String>,
        }
        let text = text.trim();
        if !text.starts_with('{') {
            return Self::parse_from(text, "the secret");
        }
        // serde_json's messages quote no values, only the position and field.
        let secret: Secret = serde_json::from_str(text).map_err(|e| {
            Failure::bad_input(format!(
                "the secret is neither `id=secret,...` nor JSON {{\"kid\", \"key\", \"old\"}}: {e}"
            ))
        })?;
        if secret.key.contains(',') || secret.key.trim() != secret.key {
            return Err(Failure::bad_input(format!(
                "the secret: key `{}` may not contain `,` or surrounding spaces",
                secret.kid.escape_debug()
            )));
        }
        let mut spec = format!("{}={}", secret.kid, secret.key);
        if let Some(old) = secret.old.as_deref().filter(|o| !o.trim().is_empty()) {
            spec.push(',');
            spec.push_str(old);
        }
        let keys = Self::parse_from(&spec, "the secret")?;
        let mut seen = std::collections::HashSet::new();
        if let Some((dup, _)) = keys.keys.iter().find(|(id, _)| !seen.insert(id.as_str())) {
            return Err(Failure::bad_input(format!(
                "the secret: key id `{}` appears twice (a rotation needs a new kid)",
                dup.escape_debug()
            )));
        }
        Ok(keys)
    }

    /// The keys in `VOW_SIGNING_KEYS`, or `None` when it is unset; with
    /// `VOW_SIGNING_LEGACY_UNTIL` set, they accept the old format until then.
    pub fn from_env() -> Result<Option<Self>, Failure> {
        let Ok(spec) = std::env::var(ENV_SIGNING_KEYS) else {
            return Ok(None);
        };
        Self::parse(&spec)?.with_legacy_from_env().map(Some)
    }

    /// These keys, accepting the old format until `VOW_SIGNING_LEGACY_UNTIL`
    /// if it is set.
    pub fn with_legacy_from_env(self) -> Result<Self, Failure> {
        let keys = self;
        match std::env::var(ENV_SIGNING_LEGACY_UNTIL) {
            Ok(until) if !until.trim().is_empty() => {
                let now = crate::clock::epoch_millis(std::time::SystemTime::now());
                keys.accept_legacy_until_text(until.trim(), now)
            }
            _ => Ok(keys),
        }
    }

    fn accept_legacy_until_text(self, until: &str, now_ms: u64) -> Result<Self, Failure> {
        let at: jiff::Timestamp = until.parse().map_err(|e| {
            Failure::bad_input(format!(
                "{ENV_SIGNING_LEGACY_UNTIL}: `{until}` is not an RFC 3339 time: {e}"
            ))
        })?;
        let ms = u64::try_from(at.as_millisecond()).unwrap_or(0);
        self.accept_legacy_until(ms, now_ms)
    }

    /// Deprecated, for a rolling upgrade only: also verify messages in the old
    /// `vow-sig:` format (no issue time, no queue) until `until_ms`
    /// (milliseconds since the epoch), which may lie at most [`MAX_AGE`] after
    /// `now_ms`, so a forgotten setting lapses by itself. Such messages always
    /// check their promise before they run.
    pub fn accept_legacy_until(mut self, until_ms: u64, now_ms: u64) -> Result<Self, Failure> {
        if until_ms > now_ms.saturating_add(crate::clock::millis(MAX_AGE)) {
            return Err(Failure::bad_input(format!(
                "{ENV_SIGNING_LEGACY_UNTIL} lies more than {} days ahead: the old format is \
                 accepted only while messages sent before the upgrade may still be queued",
                MAX_AGE.as_secs() / 86_400
            )));
        }
        tracing::warn!(
            until_ms,
            "vow: accepting the deprecated vow-sig: message format (no issue time, no queue) \
             until {ENV_SIGNING_LEGACY_UNTIL}"
        );
        self.legacy_until = Some(until_ms);
        Ok(self)
    }

    /// `body`, for the queue named `queue`, signed at `issued_ms` by the first key.
    pub fn sign(&self, queue: &str, issued_ms: u64, body: &str) -> String {
        let (id, secret) = &self.keys[0];
        let issued = issued_ms.to_string();
        let tag = mac_of(secret, &[id, &issued, queue, body])
            .finalize()
            .into_bytes();
        format!("{PREFIX}{id}:{issued}:{}:{body}", hex(&tag))
    }

    /// The body inside a message read from the queue named `queue` at `now_ms`,
    /// if its signature verifies with a known key and it is neither older
    /// than [`MAX_AGE`] nor issued more than [`SKEW`] ahead.
    pub fn verify<'a>(
        &self,
        queue: &str,
        now_ms: u64,
        sealed: &'a str,
    ) -> Result<Opened<'a>, Failure> {
        let opened = self.verify_mac(queue, sealed, self.legacy_until.map(|u| now_ms <= u))?;
        if let Some(issued) = opened.issued_ms {
            check_age(issued, now_ms, MAX_AGE)?;
        }
        Ok(opened)
    }

    /// Verify a message stored by the engine itself (a timer waiting in the
    /// index for up to a year) and sign its body afresh at `now_ms`: its MAC
    /// must verify for `queue` (old-format bodies stored before an upgrade
    /// too), and it may be up to `max_age` old.
    pub fn reseal(
        &self,
        queue: &str,
        now_ms: u64,
        sealed: &str,
        max_age: Duration,
    ) -> Result<String, Failure> {
        let opened = self.verify_mac(queue, sealed, Some(true))?;
        if let Some(issued) = opened.issued_ms {
            check_age(issued, now_ms, max_age)?;
        }
        Ok(self.sign(queue, now_ms, opened.body))
    }

    /// The MAC check alone; `legacy` says whether the old format is accepted
    /// (`None`: it was never allowed, `Some(false)`: no longer).
    fn verify_mac<'a>(
        &self,
        queue: &str,
        sealed: &'a str,
        legacy: Option<bool>,
    ) -> Result<Opened<'a>, Failure> {
        if let Some(rest) = sealed.strip_prefix(PREFIX) {
            let mut parts = rest.splitn(4, ':');
            let (Some(id), Some(issued), Some(tag), Some(body)) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                return Err(rejected("its signature is malformed"));
            };
            let issued_ms = (issued.len() <= 20 && issued.bytes().all(|b| b.is_ascii_digit()))
                .then(|| issued.parse::<u64>().ok())
                .flatten()
                .ok_or_else(|| rejected("its issue time is malformed"))?;
            let tag = unhex(tag).ok_or_else(|| rejected("its signature is malformed"))?;
            self.secret(id)?
                .and_then(|secret| {
                    mac_of(secret, &[id, issued, queue, body])
                        .verify_slice(&tag)
                        .ok()
                })
                .ok_or_else(|| {
                    rejected(&format!(
                        "its signature does not match its content and queue `{queue}`"
                    ))
                })?;
            return Ok(Opened {
                body,
                issued_ms: Some(issued_ms),
            });
        }
        if let Some(rest) = sealed.strip_prefix(LEGACY_PREFIX) {
            match legacy {
                Some(true) => {}
                Some(false) => {
                    return Err(rejected(&format!(
                        "it is in the old vow-sig: format, accepted only until \
                         {ENV_SIGNING_LEGACY_UNTIL}, which has passed"
                    )))
                }
                None => {
                    return Err(rejected(&format!(
                        "it is in the old vow-sig: format (no issue time, no queue), which \
                         workers refuse unless {ENV_SIGNING_LEGACY_UNTIL} is set"
                    )))
                }
            }
            let mut parts = rest.splitn(3, ':');
            let (Some(id), Some(tag), Some(body)) = (parts.next(), parts.next(), parts.next())
            else {
                return Err(rejected("its signature is malformed"));
            };
            let tag = unhex(tag).ok_or_else(|| rejected("its signature is malformed"))?;
            self.secret(id)?
                .and_then(|secret| mac_of(secret, &[body]).verify_slice(&tag).ok())
                .ok_or_else(|| rejected("its signature does not match its content"))?;
            return Ok(Opened {
                body,
                issued_ms: None,
            });
        }
        Err(rejected("it is not signed"))
    }

    fn secret(&self, id: &str) -> Result<Option<&[u8]>, Failure> {
        self.keys
            .iter()
            .find(|(k, _)| k == id)
            .map(|(_, s)| Some(s.as_slice()))
            .ok_or_else(|| {
                rejected(&format!(
                    "it is signed with unknown key `{}`",
                    id.chars().take(64).collect::<String>().escape_debug()
                ))
            })
    }
}

impl SigningKeys {
    /// A MAC (128 bits, hex) by the first key over `parts`, for something the
    /// engine writes into the table and fires when it reads it back (a stored
    /// continuation), so that write access to the table alone cannot add work.
    pub fn seal_stored(&self, parts: &[&str]) -> String {
        let (_, secret) = &self.keys[0];
        let tag = mac_of(secret, parts).finalize().into_bytes();
        hex(&tag[..STORED_MAC_BYTES])
    }

    /// Whether `tag` is a MAC by any key over `parts` ([`SigningKeys::seal_stored`]).
    pub fn verify_stored(&self, parts: &[&str], tag: &str) -> bool {
        let Some(tag) = unhex(tag).filter(|t| t.len() == STORED_MAC_BYTES) else {
            return false;
        };
        self.keys
            .iter()
            .any(|(_, secret)| mac_of(secret, parts).verify_truncated_left(&tag).is_ok())
    }

    /// Whether the old, unsigned forms are still accepted (during a rolling
    /// upgrade, see [`SigningKeys::accept_legacy_until`]).
    pub fn accepts_legacy(&self, now_ms: u64) -> bool {
        self.legacy_until.is_some_and(|until| now_ms <= until)
    }
}

/// Bytes of a stored continuation's MAC (HMAC-SHA256 truncated to 128 bits).
const STORED_MAC_BYTES: usize = 16;

/// Refuse a message issued at `issued` (ms) seen at `now` older than `max_age`
/// or more than [`SKEW`] ahead.
fn check_age(issued: u64, now: u64, max_age: Duration) -> Result<(), Failure> {
    if issued > now.saturating_add(crate::clock::millis(SKEW)) {
        return Err(rejected(&format!(
            "it was issued {} s in the future (more than the {} s clocks may differ)",
            (issued - now) / 1000,
            SKEW.as_secs()
        )));
    }
    if now.saturating_sub(issued) > crate::clock::millis(max_age) {
        return Err(rejected(&format!(
            "it was issued {} s ago, longer than a message may wait ({} s)",
            (now - issued) / 1000,
            max_age.as_secs()
        )));
    }
    Ok(())
}

/// Milliseconds since the Unix epoch by the system clock: the issue time a
/// producer outside the engine signs with.
pub fn now_ms() -> u64 {
    crate::clock::epoch_millis(std::time::SystemTime::now())
}

/// The body inside a signed message *without* verifying it, for display
/// (`vow dlq list`) and to name a dead letter's promise; unsigned bodies come
/// back unchanged.
pub fn unverified_body(sealed: &str) -> &str {
    if let Some(rest) = sealed.strip_prefix(PREFIX) {
        return rest.splitn(4, ':').nth(3).unwrap_or(sealed);
    }
    sealed
        .strip_prefix(LEGACY_PREFIX)
        .and_then(|rest| rest.splitn(3, ':').nth(2))
        .unwrap_or(sealed)
}

/// Whether `text` starts like a signed message (either format).
pub fn looks_signed(text: &str) -> bool {
    text.starts_with(PREFIX) || text.starts_with(LEGACY_PREFIX)
}

fn id_only(pair: &str) -> &str {
    pair.split('=').next().unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000_000;
    const DAY: u64 = 86_400_000;

    fn keys() -> SigningKeys {
        SigningKeys::parse("k1=0123456789abcdef-secret").expect("keys")
    }

    #[test]
    fn forged_altered_and_unknown_key_messages_are_rejected() {
        let keys = keys();
        let sealed = keys.sign("q", NOW, "{\"v\":1,\"x\":1}");
        assert!(sealed.starts_with("vow-sig2:k1:1700000000000:"), "{sealed}");
        assert_eq!(
            keys.verify("q", NOW, &sealed).expect("verifies"),
            Opened {
                body: "{\"v\":1,\"x\":1}",
                issued_ms: Some(NOW)
            }
        );
        let altered = sealed.replace("\"x\":1", "\"x\":2");
        assert!(keys
            .verify("q", NOW, &altered)
            .expect_err("altered")
            .message()
            .contains("does not match"));
        // The issue time and the key id are covered too.
        let redated = sealed.replace(":1700000000000:", ":1700000000001:");
        assert!(keys.verify("q", NOW, &redated).is_err());
        let other = SigningKeys::parse("k1=another-secret-of-16+").expect("keys");
        assert!(other.verify("q", NOW, &sealed).is_err());
        let unknown = SigningKeys::parse("k9=0123456789abcdef-secret").expect("keys");
        assert!(unknown
            .verify("q", NOW, &sealed)
            .expect_err("unknown")
            .message()
            .contains("unknown key `k1`"));
        for bad in [
            "",
            "{}",
            "vow-sig2:",
            "vow-sig2:k1:12:zz:{}",
            "vow-sig2:k1:x:00:{}",
            "vow-sig2:k1:123",
            "vow-sig2:k1:99999999999999999999999:00:{}",
        ] {
            assert!(keys.verify("q", NOW, bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_message_is_bound_to_its_queue_and_its_time() {
        let keys = keys();
        let sealed = keys.sign("work", NOW, "b");
        assert!(keys
            .verify("other-work", NOW, &sealed)
            .expect_err("other queue")
            .message()
            .contains("queue `other-work`"));
        // Up to the retention plus the skew old, and the skew ahead.
        let max = crate::clock::millis(MAX_AGE);
        assert!(keys.verify("work", NOW + max, &sealed).is_ok());
        assert!(keys
            .verify("work", NOW + max + 1, &sealed)
            .expect_err("stale")
            .message()
            .contains("ago"));
        let skew = crate::clock::millis(SKEW);
        assert!(keys.verify("work", NOW - skew, &sealed).is_ok());
        assert!(keys
            .verify("work", NOW - skew - 1, &sealed)
            .expect_err("future")
            .message()
            .contains("future"));
        // A year-old indexed timer is signed afresh, when its MAC verifies.
        let resealed = keys
            .reseal(
                "work",
                NOW + 300 * DAY,
                &sealed,
                Duration::from_secs(400 * 86_400),
            )
            .expect("resealed");
        assert_eq!(
            keys.verify("work", NOW + 300 * DAY, &resealed)
                .expect("fresh")
                .issued_ms,
            Some(NOW + 300 * DAY)
        );
        assert!(keys
            .reseal("other", NOW, &sealed, Duration::from_secs(60))
            .is_err());
    }

    #[test]
    fn the_old_format_verifies_only_while_allowed() {
        let keys = keys();
        let tag = hex(&mac_of(b"0123456789abcdef-secret", &["{}"])
            .finalize()
            .into_bytes());
        let old = format!("vow-sig:k1:{tag}:{{}}");
        assert!(keys
            .verify("q", NOW, &old)
            .expect_err("refused by default")
            .message()
            .contains(ENV_SIGNING_LEGACY_UNTIL));
        let upgrading = keys
            .clone()
            .accept_legacy_until(NOW + DAY, NOW)
            .expect("a day ahead");
        assert_eq!(
            upgrading.verify("q", NOW, &old).expect("accepted"),
            Opened {
                body: "{}",
                issued_ms: None
            }
        );
        assert!(
            upgrading.verify("q", NOW + 2 * DAY, &old).is_err(),
            "lapsed"
        );
        assert!(upgrading
            .verify("q", NOW, &old.replace("{}", "{ }"))
            .is_err());
        assert!(keys
            .clone()
            .accept_legacy_until(NOW + 15 * DAY, NOW)
            .is_err());
        assert!(keys
            .clone()
            .accept_legacy_until_text("2023-11-15T00:00:00Z", NOW)
            .is_ok());
        assert!(keys.accept_legacy_until_text("soon", NOW).is_err());
        // Indexed timers stored before the upgrade are signed afresh.
        assert!(SigningKeys::parse("k1=0123456789abcdef-secret")
            .expect("keys")
            .reseal("q", NOW, &old, MAX_AGE)
            .is_ok());
    }

    #[test]
    fn stored_macs_verify_with_any_key_and_cover_every_part() {
        let keys = keys();
        let tag = keys.seal_stored(&["a", "b"]);
        assert_eq!(tag.len(), 32);
        assert!(keys.verify_stored(&["a", "b"], &tag));
        assert!(!keys.verify_stored(&["a", "c"], &tag));
        assert!(!keys.verify_stored(&["a", "b"], "00"));
        let rotated = SigningKeys::parse("k2=new-secret-0123456789,k1=0123456789abcdef-secret")
            .expect("keys");
        assert!(rotated.verify_stored(&["a", "b"], &tag));
        assert!(!SigningKeys::parse("k1=another-secret-of-16+")
            .expect("keys")
            .verify_stored(&["a", "b"], &tag));
    }

    #[test]
    fn rotation_accepts_old_and_new() {
        let old = SigningKeys::parse("k1=old-secret-0123456789").expect("keys");
        let both =
            SigningKeys::parse("k2=new-secret-0123456789,k1=old-secret-0123456789").expect("keys");
        assert!(both.verify("q", NOW, &old.sign("q", NOW, "a")).is_ok());
        assert!(both.verify("q", NOW, &both.sign("q", NOW, "b")).is_ok());
        assert!(old.verify("q", NOW, &both.sign("q", NOW, "c")).is_err());
    }

    #[test]
    fn unverified_bodies_and_queue_names_are_read_from_either_format() {
        let sealed = keys().sign("q", NOW, "{\"a\":\"x:y\"}");
        assert_eq!(unverified_body(&sealed), "{\"a\":\"x:y\"}");
        assert_eq!(unverified_body("vow-sig:k1:00:{}"), "{}");
        assert_eq!(unverified_body("{}"), "{}");
        assert!(looks_signed(&sealed) && !looks_signed("{}"));
        assert_eq!(
            queue_name("https://sqs.eu-west-1.amazonaws.com/123456789012/orders-work"),
            "orders-work"
        );
        assert_eq!(queue_name("http://127.0.0.1:4566/000000000000/q/"), "q");
        assert_eq!(queue_name("q"), "q");
    }

    #[test]
    fn secrets_hold_a_spec_or_the_templates_json_with_verify_only_old_keys() {
        let now = 1_700_000_000_000;
        let old = SigningKeys::parse("k1=old-secret-0123456789").expect("keys");
        let by_old = old.sign("work", now, "{}");
        // The JSON a template generates: one key, which signs.
        let generated = r#"{"kid":"k1","key":"GENERATED0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQR"}"#;
        let keys = SigningKeys::parse_secret(generated).expect("generated");
        assert!(keys.sign("work", now, "{}").starts_with("vow-sig2:k1:"));
        assert!(keys.verify("work", now, &by_old).is_err(), "another key");
        // After a rotation: the new key signs, the old one only verifies.
        let rotated =
            r#" {"kid":"k2","key":"new-secret-0123456789","old":"k1=old-secret-0123456789"} "#;
        let keys = SigningKeys::parse_secret(rotated).expect("rotated");
        assert!(keys.sign("work", now, "{}").starts_with("vow-sig2:k2:"));
        assert_eq!(
            keys.verify("work", now, &by_old)
                .expect("old verifies")
                .body,
            "{}"
        );
        // A plain spec works too.
        let keys = SigningKeys::parse_secret("k1=old-secret-0123456789\n").expect("spec");
        assert!(keys.verify("work", now, &by_old).is_ok());
        for bad in [
            r#"{"kid":"k1"}"#,
            r#"{"kid":"k1","key":"short"}"#,
            r#"{"kid":"k:1","key":"0123456789abcdef-secret"}"#,
            r#"{"kid":"k1","key":"0123456789abcdef,secret"}"#,
            r#"{"kid":"k1","key":"0123456789abcdef-secret","old":"k1=0123456789abcdef-other"}"#,
            r#"{"kid":"k1","key":"0123456789abcdef-secret","extra":1}"#,
            r#"{"kid":"k1","key":"0123456789abcdef-secret""#,
            "",
        ] {
            let f = SigningKeys::parse_secret(bad).expect_err(bad);
            assert!(!f.message().contains("0123456789abcdef"), "{f}");
            assert!(
                !f.message().contains(ENV_SIGNING_KEYS),
                "names the secret: {f}"
            );
        }
    }

    #[test]
    fn bad_specs_say_what_is_wrong_without_echoing_secrets() {
        for spec in [
            "",
            "k1",
            "k1=short",
            "=0123456789abcdef",
            "a:b=0123456789abcdef",
            "a b=0123456789abcdef",
        ] {
            let f = SigningKeys::parse(spec).expect_err(spec);
            assert!(!f.message().contains("0123456789abcdef"), "{f}");
        }
        assert!(!format!(
            "{:?}",
            SigningKeys::parse("k=0123456789abcdef").expect("keys")
        )
        .contains("0123"));
    }
}
