//! [`Error`]: what a task returns when it fails, and [`BackendError`] for the seams.

use crate::failure::Failure;
use std::fmt;

/// A task's error: a [`Failure`] plus whether trying again may help.
///
/// `?` converts any `std::error::Error` into a *retryable* error (network blips and
/// throttling are the usual cause), except a [`Failure`] received from a predecessor,
/// which propagates unchanged and is never retried.
///
/// ```
/// use vow::{Error, Failure, FailureKind};
/// let e = Error::permanent("bad order id");
/// assert!(!e.is_retryable());
/// let e: Error = Failure::timeout("too slow").into();
/// assert_eq!(e.failure().kind(), FailureKind::Timeout);
/// ```
#[derive(Debug, Clone)]
pub struct Error {
    failure: Failure,
    retryable: bool,
}

impl Error {
    /// An error worth retrying (up to the task's attempts, with backoff).
    pub fn retryable(message: impl Into<String>) -> Self {
        Error {
            failure: Failure::error(message),
            retryable: true,
        }
    }
    /// An error that settles the promise at once.
    pub fn permanent(message: impl Into<String>) -> Self {
        Error {
            failure: Failure::error(message),
            retryable: false,
        }
    }
    /// Whether the engine will try the task again.
    pub fn is_retryable(&self) -> bool {
        self.retryable
    }
    /// The failure the promise settles with if this error is final.
    pub fn failure(&self) -> &Failure {
        &self.failure
    }
    /// Take the failure out.
    pub fn into_failure(self) -> Failure {
        self.failure
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for Error {
    fn from(e: E) -> Self {
        let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(e);
        match boxed.downcast::<Failure>() {
            Ok(failure) => Error {
                failure: *failure,
                retryable: false,
            },
            Err(other) => Error::retryable(other.to_string()),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let class = if self.retryable {
            "retryable"
        } else {
            "permanent"
        };
        write!(f, "{class} {}", self.failure)
    }
}

/// A failure of the queue or the store (network, throttling, emulator down).
///
/// Classified like the AWS SDK's errors: [`BackendError::is_retryable`] tells whether
/// the same call may succeed later.
#[derive(Debug, Clone)]
pub struct BackendError {
    message: String,
    retryable: bool,
}

impl BackendError {
    /// A transient failure: throttling, timeouts, 5xx.
    pub fn transient(message: impl Into<String>) -> Self {
        BackendError {
            message: message.into(),
            retryable: true,
        }
    }
    /// A failure that will not go away by itself (missing table, bad credentials).
    pub fn fatal(message: impl Into<String>) -> Self {
        BackendError {
            message: message.into(),
            retryable: false,
        }
    }
    /// Whether retrying the same call may help.
    pub fn is_retryable(&self) -> bool {
        self.retryable
    }
}

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for BackendError {}

/// Why [`crate::Vow::wait`] returned without an outcome.
#[derive(Debug)]
pub enum WaitError {
    /// The promise did not settle in time; it may still settle later.
    TimedOut,
    /// The store could not be read.
    Backend(BackendError),
}

impl fmt::Display for WaitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WaitError::TimedOut => f.write_str("promise did not settle before the wait timed out"),
            WaitError::Backend(e) => write!(f, "store unavailable while waiting: {e}"),
        }
    }
}

impl std::error::Error for WaitError {}

impl From<BackendError> for WaitError {
    fn from(e: BackendError) -> Self {
        WaitError::Backend(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FailureKind;

    #[derive(Debug)]
    struct Io;
    impl fmt::Display for Io {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("connection reset")
        }
    }
    impl std::error::Error for Io {}

    #[test]
    fn question_mark_on_foreign_error_is_retryable() {
        let e: Error = Io.into();
        assert!(e.is_retryable());
        assert_eq!(e.failure().message(), "connection reset");
    }

    #[test]
    fn predecessor_failure_propagates_its_kind() {
        let e: Error = Failure::timeout("slow").into();
        assert!(!e.is_retryable());
        assert_eq!(e.failure().kind(), FailureKind::Timeout);
    }
}
