//! Promise ids: random at the root, derived deterministically for children.

use crate::failure::Failure;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The id of a promise: 32 lowercase hex digits, or `<join id>.<index>` for a member
/// of a [`crate::Flow::fan_out`].
///
/// Children's ids are derived from the parent's id and a sequence number, so a task
/// that is retried after spawning children creates the very same children again.
///
/// ```
/// use vow::PromiseId;
/// let root = PromiseId::random();
/// assert_eq!(root.child(0), root.child(0));
/// assert_ne!(root.child(0), root.child(1));
/// assert_eq!(PromiseId::parse(root.as_str()).unwrap(), root);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PromiseId(String);

const HEX_LEN: usize = 32;

impl PromiseId {
    /// A fresh random id: 128 bits from the operating system's randomness, so
    /// nobody can guess the id of a root they were not shown.
    pub fn random() -> Self {
        PromiseId(hex(&os_random::<16>()))
    }

    /// The id that `name` names among ids of its `kind` (a flow's seed for
    /// [`crate::Vow::flow_named`], a schedule's, one firing of a schedule): the
    /// same for every process, and unlike any other name's or kind's (128 bits
    /// of a SHA-256).
    pub(crate) fn named(kind: &str, name: &str) -> Self {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(format!("vow-{kind}-name:{name}").as_bytes());
        let mut id = String::with_capacity(HEX_LEN);
        for byte in digest.iter().take(HEX_LEN / 2) {
            id.push_str(&format!("{byte:02x}"));
        }
        PromiseId(id)
    }

    /// The id of the `seq`-th child created by the promise with this id.
    pub fn child(&self, seq: u32) -> Self {
        let mut bytes = self.0.as_bytes().to_vec();
        bytes.push(b'/');
        bytes.extend_from_slice(seq.to_string().as_bytes());
        PromiseId(format!("{:032x}", fnv1a_128(&bytes)))
    }

    /// The id of member `index` of the join `self`: `<join id>.<index>`. A join's
    /// members are the promises of a [`crate::Flow::fan_out`], and for
    /// [`crate::Flow::all`] the slots its members' outcomes are copied into.
    ///
    /// ```
    /// use vow::PromiseId;
    /// let join = PromiseId::random();
    /// let third = join.member(2);
    /// assert_eq!(third.as_str(), format!("{join}.2"));
    /// assert_eq!(third.as_member(), Some((join, 2)));
    /// ```
    pub fn member(&self, index: u32) -> Self {
        PromiseId(format!("{}.{index}", self.0))
    }

    /// For a member id (see [`PromiseId::member`]), the join it belongs to and its
    /// index; `None` for any other id.
    pub fn as_member(&self) -> Option<(PromiseId, u32)> {
        let (join, index) = self.0.split_once('.')?;
        Some((PromiseId(join.to_owned()), index.parse().ok()?))
    }

    /// Parse an id, as printed by `Display`.
    pub fn parse(s: &str) -> Result<Self, Failure> {
        let (head, tail) = match s.split_once('.') {
            Some((h, t)) => (h, Some(t)),
            None => (s, None),
        };
        let hex_ok = head.len() == HEX_LEN
            && head
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        let tail_ok = tail.is_none_or(|t| t.parse::<u32>().is_ok());
        if hex_ok && tail_ok {
            Ok(PromiseId(s.to_owned()))
        } else {
            Err(Failure::bad_input(format!(
                "`{s}` is not a promise id (expected 32 lowercase hex digits, optionally `.N`)"
            )))
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PromiseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for PromiseId {
    type Error = Failure;
    fn try_from(s: String) -> Result<Self, Failure> {
        PromiseId::parse(&s)
    }
}

impl From<PromiseId> for String {
    fn from(id: PromiseId) -> String {
        id.0
    }
}

impl std::str::FromStr for PromiseId {
    type Err = Failure;
    fn from_str(s: &str) -> Result<Self, Failure> {
        PromiseId::parse(s)
    }
}

/// 128-bit FNV-1a: stable across builds and platforms, unlike `std`'s hasher.
fn fnv1a_128(bytes: &[u8]) -> u128 {
    const OFFSET: u128 = 0x6c62272e07bb014262b821756295c58d;
    const PRIME: u128 = 0x0000000001000000000000000000013B;
    bytes
        .iter()
        .fold(OFFSET, |h, &b| (h ^ u128::from(b)).wrapping_mul(PRIME))
}

/// A random token naming one send of a message; see [`crate::wire::Envelope::token`].
pub(crate) fn token() -> String {
    hex(&os_random::<6>())
}

/// 128 random bits as hex: what tells apart two settles made by application
/// code ([`resolve_token`]).
pub(crate) fn nonce() -> String {
    hex(&os_random::<16>())
}

/// `N` bytes of the operating system's randomness. Should the system fail to
/// provide it (it does not on Linux once booted), a seeded generator fills
/// in and the failure is logged.
fn os_random<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    if let Err(e) = getrandom::fill(&mut bytes) {
        tracing::error!(error = %e, "the operating system gave no randomness");
        bytes.iter_mut().for_each(|b| *b = fastrand::u8(..));
    }
    bytes
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The token of the message that runs `next` when the message with token `by`
/// settles its predecessor. Derived, not random, so every firing of the same
/// continuation by the same settling message (a repair after a crash, or a step
/// run inline in the same invocation) carries the same token, and the repair
/// recognises the earlier settle as its own.
pub fn successor_token(by: &str, next: &PromiseId) -> String {
    let mut bytes = by.as_bytes().to_vec();
    bytes.push(b'>');
    bytes.extend_from_slice(next.as_str().as_bytes());
    format!("{:012x}", fnv1a_128(&bytes) as u64 & 0xffff_ffff_ffff)
}

/// The token of the first message that runs `id`'s task. Derived from the id,
/// so every message that runs it (a duplicate, a copy sent again by a parent
/// task that ran twice, a flow started again) carries the same token, and they
/// settle as one writer: whichever comes second repairs what the first began.
pub fn task_token(id: &PromiseId) -> String {
    outside_token("run", id)
}

/// The token of a resolve of the promise `id` through a [`crate::Resolver`]
/// made by `by`: a task's message token (a redelivery of that message
/// resolves again as the same writer), or a random nonce for a resolve made by
/// application code. Two resolvers are two writers: the first wins and
/// delivers what is stored with the promise; the other delivers only what it
/// carries ([`crate::engine::decide::owed`]).
pub fn resolve_token(id: &PromiseId, by: &str) -> String {
    let mut bytes = by.as_bytes().to_vec();
    bytes.push(b'@');
    bytes.extend_from_slice(id.as_str().as_bytes());
    format!(
        "resolve:{:012x}",
        fnv1a_128(&bytes) as u64 & 0xffff_ffff_ffff
    )
}

/// The token of the timer that ends the sleep `id`, or settles the callback
/// `id` at its deadline ([`crate::wire::Envelope::timer`]). Derived, so a task
/// retried after creating the sleep sends the very same timer, and its copies
/// settle as one writer.
pub fn timer_token(id: &PromiseId) -> String {
    outside_token("timer", id)
}

/// The token of the heartbeat timer of the callback `id`
/// ([`crate::wire::Envelope::heartbeat_timer`]).
pub fn heartbeat_token(id: &PromiseId) -> String {
    outside_token("beat", id)
}

/// The token of an application's cancel of `root` and its descendants. Derived,
/// so a retried cancel finds the settles of the first try its own.
pub fn cancel_token(root: &PromiseId) -> String {
    outside_token("cancel", root)
}

/// The token of a settle made outside a message (`kind` says which: `cancel`,
/// `resolve`) on behalf of `id`. Derived, not random, so the application can
/// retry the call after an error and the retry recognises the settles the first
/// try made as its own, and repairs what it left unsent.
pub(crate) fn outside_token(kind: &str, id: &PromiseId) -> String {
    let mut bytes = kind.as_bytes().to_vec();
    bytes.push(b':');
    bytes.extend_from_slice(id.as_str().as_bytes());
    format!(
        "{kind}:{:012x}",
        fnv1a_128(&bytes) as u64 & 0xffff_ffff_ffff
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn child_ids_are_stable_across_builds() {
        let parent = PromiseId::parse("0123456789abcdef0123456789abcdef").expect("valid");
        // Pinned: changing the derivation would orphan retried children in flight.
        assert_eq!(parent.child(7).as_str(), "c142129178508d9b88894589ef060d3b");
        assert_eq!(parent.child(7), parent.child(7));
        assert_eq!(parent.child(7).as_str().len(), 32);
    }

    #[test]
    fn successor_tokens_depend_on_settler_and_successor() {
        let a = PromiseId::parse("0123456789abcdef0123456789abcdef").expect("valid");
        let b = a.child(1);
        assert_eq!(successor_token("t1", &a), successor_token("t1", &a));
        assert_ne!(successor_token("t1", &a), successor_token("t2", &a));
        assert_ne!(successor_token("t1", &a), successor_token("t1", &b));
        assert_eq!(successor_token("t1", &a).len(), 12);
    }

    #[test]
    fn members_round_trip() {
        let join = PromiseId::random();
        let m = join.member(41);
        assert_eq!(m.as_member(), Some((join.clone(), 41)));
        assert_eq!(PromiseId::parse(m.as_str()).expect("valid"), m);
        assert!(join.as_member().is_none());
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "xyz",
            "0123456789ABCDEF0123456789ABCDEF",
            "0123456789abcdef0123456789abcdef.x",
        ] {
            assert!(PromiseId::parse(bad).is_err(), "{bad:?} accepted");
        }
        let err = serde_json::from_str::<PromiseId>("\"nope\"").expect_err("rejects");
        assert!(err.to_string().contains("not a promise id"));
    }
}
