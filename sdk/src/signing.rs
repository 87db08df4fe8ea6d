//! Signed envelopes: producers sign every message body with HMAC-SHA256 and
//! workers reject bodies whose signature does not verify, so only holders of a
//! key can start work or settle promises through the queue.
//!
//! Keys come from `VOW_SIGNING_KEYS` as `id=secret` pairs separated by commas.
//! The first key signs; every listed key verifies. To rotate: add the new key
//! *second* and deploy everywhere, move it first and deploy, then drop the old.
//!
//! ```
//! use vow::signing::SigningKeys;
//! let keys = SigningKeys::parse("k2=new-secret-0123456789,k1=old-secret-0123456789").unwrap();
//! let sealed = keys.sign("{\"v\":1}");
//! assert_eq!(keys.verify(&sealed).unwrap(), "{\"v\":1}");
//! assert!(keys.verify("{\"v\":1}").is_err());
//! ```

use crate::failure::Failure;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::fmt;

/// The environment variable holding the signing keys.
pub const ENV_SIGNING_KEYS: &str = "VOW_SIGNING_KEYS";

const PREFIX: &str = "vow-sig:";

/// HMAC keys: the first signs, all verify.
#[derive(Clone)]
pub struct SigningKeys {
    keys: Vec<(String, Vec<u8>)>,
}

impl fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|(id, _)| id.as_str()).collect();
        f.debug_struct("SigningKeys")
            .field("ids", &ids)
            .finish_non_exhaustive()
    }
}

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &[u8], body: &str) -> HmacSha256 {
    let mut mac =
        <HmacSha256 as KeyInit>::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(body.as_bytes());
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

impl SigningKeys {
    /// Parse `id=secret[,id=secret...]`.
    pub fn parse(spec: &str) -> Result<Self, Failure> {
        let mut keys = Vec::new();
        for pair in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (id, secret) = pair.split_once('=').ok_or_else(|| {
                Failure::bad_input(format!(
                    "{ENV_SIGNING_KEYS}: `{}` is not `id=secret`",
                    id_only(pair)
                ))
            })?;
            if id.is_empty() || id.contains(':') || secret.len() < 16 {
                return Err(Failure::bad_input(format!(
                    "{ENV_SIGNING_KEYS}: key `{id}` needs a non-empty id without `:` and a secret of at least 16 characters"
                )));
            }
            keys.push((id.to_owned(), secret.as_bytes().to_vec()));
        }
        if keys.is_empty() {
            return Err(Failure::bad_input(format!(
                "{ENV_SIGNING_KEYS} names no key"
            )));
        }
        Ok(SigningKeys { keys })
    }

    /// The keys in `VOW_SIGNING_KEYS`, or `None` when it is unset.
    pub fn from_env() -> Result<Option<Self>, Failure> {
        match std::env::var(ENV_SIGNING_KEYS) {
            Ok(spec) => Self::parse(&spec).map(Some),
            Err(_) => Ok(None),
        }
    }

    /// `body` with a signature by the first key in front.
    pub fn sign(&self, body: &str) -> String {
        let (id, secret) = &self.keys[0];
        let tag = mac(secret, body).finalize().into_bytes();
        format!("{PREFIX}{id}:{}:{body}", hex(&tag))
    }

    /// The body inside a signed message, if its signature verifies with a known key.
    pub fn verify<'a>(&self, sealed: &'a str) -> Result<&'a str, Failure> {
        let rejected = |why: &str| {
            Failure::bad_input(format!(
                "message rejected: {why}; only producers holding a key in {ENV_SIGNING_KEYS} may send"
            ))
        };
        let rest = sealed
            .strip_prefix(PREFIX)
            .ok_or_else(|| rejected("it is not signed"))?;
        let mut parts = rest.splitn(3, ':');
        let (Some(id), Some(tag), Some(body)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(rejected("its signature is malformed"));
        };
        let secret = self
            .keys
            .iter()
            .find(|(k, _)| k == id)
            .map(|(_, s)| s)
            .ok_or_else(|| rejected(&format!("it is signed with unknown key `{id}`")))?;
        let tag = unhex(tag).ok_or_else(|| rejected("its signature is malformed"))?;
        mac(secret, body)
            .verify_slice(&tag)
            .map_err(|_| rejected("its signature does not match its content"))?;
        Ok(body)
    }
}

/// The body inside a signed message *without* verifying it, for display only
/// (`vow dlq list`); unsigned bodies come back unchanged.
pub fn unverified_body(sealed: &str) -> &str {
    sealed
        .strip_prefix(PREFIX)
        .and_then(|rest| rest.splitn(3, ':').nth(2))
        .unwrap_or(sealed)
}

fn id_only(pair: &str) -> &str {
    pair.split('=').next().unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forged_altered_and_unknown_key_messages_are_rejected() {
        let keys = SigningKeys::parse("k1=0123456789abcdef-secret").expect("keys");
        let sealed = keys.sign("{\"v\":1,\"x\":1}");
        assert!(keys.verify(&sealed).is_ok());
        let altered = sealed.replace("\"x\":1", "\"x\":2");
        assert!(keys
            .verify(&altered)
            .expect_err("altered")
            .message()
            .contains("does not match"));
        let other = SigningKeys::parse("k1=another-secret-of-16+").expect("keys");
        assert!(other.verify(&sealed).is_err());
        let unknown = SigningKeys::parse("k9=0123456789abcdef-secret").expect("keys");
        assert!(unknown
            .verify(&sealed)
            .expect_err("unknown")
            .message()
            .contains("unknown key `k1`"));
        for bad in ["", "vow-sig:", "vow-sig:k1:zz:{}", "vow-sig:k1:abc"] {
            assert!(keys.verify(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn rotation_accepts_old_and_new() {
        let old = SigningKeys::parse("k1=old-secret-0123456789").expect("keys");
        let both =
            SigningKeys::parse("k2=new-secret-0123456789,k1=old-secret-0123456789").expect("keys");
        assert!(both.verify(&old.sign("a")).is_ok());
        assert!(both.verify(&both.sign("b")).is_ok());
        assert!(old.verify(&both.sign("c")).is_err());
    }

    #[test]
    fn bad_specs_say_what_is_wrong_without_echoing_secrets() {
        for spec in [
            "",
            "k1",
            "k1=short",
            "=0123456789abcdef",
            "a:b=0123456789abcdef",
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
