//! [`Failure`]: how a promise that did not produce a value settled.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a promise settled without a value.
///
/// Every kind carries a human-readable message. Failures cross `then` and `all`:
/// a successor receives its predecessor's `Err(Failure)` and decides what to do.
///
/// New kinds may be added: match with a `_` arm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FailureKind {
    /// The task returned an error.
    Error,
    /// The task ran past its timeout.
    Timeout,
    /// The task kept failing until its attempts ran out, or its message was dead-lettered.
    Crashed,
    /// The promise was cancelled.
    Cancelled,
    /// The message named a task tag that this build does not register.
    UnknownTask,
    /// The message or the task's input could not be decoded.
    BadInput,
}

impl FailureKind {
    /// The snake_case name used on the wire and in logs.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Error => "error",
            FailureKind::Timeout => "timeout",
            FailureKind::Crashed => "crashed",
            FailureKind::Cancelled => "cancelled",
            FailureKind::UnknownTask => "unknown_task",
            FailureKind::BadInput => "bad_input",
        }
    }
}

/// The error side of a settled promise: a [`FailureKind`] and a message.
///
/// ```
/// use vow::{Failure, FailureKind};
/// let f = Failure::timeout("ran for 2s, limit 1s");
/// assert_eq!(f.kind(), FailureKind::Timeout);
/// assert_eq!(f.to_string(), "timeout: ran for 2s, limit 1s");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    kind: FailureKind,
    message: String,
}

impl Failure {
    /// A failure of the given kind.
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        Failure {
            kind,
            message: message.into(),
        }
    }
    /// A user error.
    pub fn error(message: impl Into<String>) -> Self {
        Self::new(FailureKind::Error, message)
    }
    /// The task ran past its timeout.
    pub fn timeout(message: impl Into<String>) -> Self {
        Self::new(FailureKind::Timeout, message)
    }
    /// Attempts exhausted or dead-lettered.
    pub fn crashed(message: impl Into<String>) -> Self {
        Self::new(FailureKind::Crashed, message)
    }
    /// Cancelled.
    pub fn cancelled(message: impl Into<String>) -> Self {
        Self::new(FailureKind::Cancelled, message)
    }
    /// The task tag is not registered in this build.
    pub fn unknown_task(message: impl Into<String>) -> Self {
        Self::new(FailureKind::UnknownTask, message)
    }
    /// The message or input could not be decoded.
    pub fn bad_input(message: impl Into<String>) -> Self {
        Self::new(FailureKind::BadInput, message)
    }
    /// What kind of failure this is.
    pub fn kind(&self) -> FailureKind {
        self.kind
    }
    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.as_str(), self.message)
    }
}

impl std::error::Error for Failure {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_are_snake_case() {
        let f = Failure::unknown_task("tag `x`");
        let json = serde_json::to_string(&f).expect("encodes");
        assert_eq!(json, r#"{"kind":"unknown_task","message":"tag `x`"}"#);
        let back: Failure = serde_json::from_str(&json).expect("decodes");
        assert_eq!(back, f);
    }

    #[test]
    fn display_names_kind_and_message() {
        assert_eq!(Failure::crashed("gave up").to_string(), "crashed: gave up");
        assert_eq!(FailureKind::BadInput.as_str(), "bad_input");
    }
}
