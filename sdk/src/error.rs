//! [`Error`]: what a task returns when it fails; [`BackendError`] for the seams;
//! [`WaitError`] for [`crate::Vow::wait`].
//!
//! # The rules
//!
//! - A **permanent** error settles the promise at once with a [`Failure`]
//!   (kind [`FailureKind::Error`](crate::FailureKind::Error), unless the error
//!   is a `Failure` itself, which keeps its kind).
//! - A **retryable** error runs the task again, with exponential backoff, up to
//!   its attempts (3 by default); then the promise settles
//!   [`Crashed`](crate::FailureKind::Crashed), naming the last error.
//! - `?` classifies what it converts by looking along the error's source chain;
//!   the first error it recognises decides (see [`Error::from`]). What it does
//!   not recognise is retryable. Mark an error yourself with
//!   [`Error::permanent`] / [`Error::retryable`], or on a `Result` with
//!   [`ResultExt::permanent`] / [`ResultExt::retryable`].
//! - The source chain is kept: the settled failure's message is every message
//!   along the chain, joined with `": "` (a cause whose text its parent already
//!   shows is not repeated), and the error itself stays reachable through
//!   [`Error`]'s `Deref` to `dyn std::error::Error`.

use crate::failure::Failure;
use std::error::Error as StdError;
use std::fmt;
use std::ops::Deref;

/// Any error, boxed: what `?`, [`Error::permanent`] and [`Error::retryable`]
/// accept (every `std::error::Error + Send + Sync`, `anyhow::Error`, `String`,
/// `&str`).
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// A task's error: the [`Failure`] its promise settles with, whether trying again
/// may help, and the error it came from.
///
/// `?` converts any error (anything `Into<Box<dyn std::error::Error + Send + Sync>>`:
/// every `std::error::Error`, a `thiserror` enum, `anyhow::Error`, an AWS SDK
/// error, a `String`) and classifies it, see [`Error::from`]. A [`Failure`]
/// received from a predecessor propagates unchanged and is never retried.
///
/// ```
/// use vow::{Error, Failure, FailureKind};
/// let e = Error::permanent("bad order id");
/// assert!(!e.is_retryable());
/// let e: Error = Failure::timeout("too slow").into();
/// assert_eq!(e.failure().kind(), FailureKind::Timeout);
///
/// // A serde error will not go away by retrying; a timed-out connection may.
/// let bad: Error = serde_json::from_str::<u32>("x").unwrap_err().into();
/// assert!(!bad.is_retryable());
/// let slow: Error = std::io::Error::from(std::io::ErrorKind::TimedOut).into();
/// assert!(slow.is_retryable());
/// ```
///
/// Like `anyhow::Error`, `Error` does not implement `std::error::Error` itself
/// (that would forbid `?` on every error type); it derefs to the error it
/// carries, and converts into `Box<dyn std::error::Error>` (and, with the
/// `anyhow` feature, into `anyhow::Error`), so code around tasks can `?` it:
///
/// ```
/// fn check(n: u32) -> Result<u32, vow::Error> {
///     let n: u32 = "12".parse::<u32>()?;          // ParseIntError -> vow::Error
///     Ok(n)
/// }
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let n = check(1)?;                          // vow::Error -> Box<dyn Error>
///     assert_eq!(n, 12);
///     Ok(())
/// }
/// ```
///
/// `anyhow` works both ways: its errors convert with `?`, their context kept...
///
/// ```
/// fn load() -> anyhow::Result<u32> {
///     Err(anyhow::anyhow!("socket closed").context("loading the order"))
/// }
/// fn task_body() -> Result<u32, vow::Error> {
///     Ok(load()?)
/// }
/// let e = task_body().unwrap_err();
/// assert!(e.is_retryable());
/// assert_eq!(e.failure().message(), "loading the order: socket closed");
/// ```
///
/// ...and, with the `anyhow` feature, anyhow code can `?` a vow `Error`:
///
/// ```
/// # #[cfg(feature = "anyhow")] {
/// fn task_body() -> Result<u32, vow::Error> {
///     Err(vow::Error::permanent("no such order"))
/// }
/// fn handler() -> anyhow::Result<u32> {
///     Ok(task_body()?)
/// }
/// assert_eq!(handler().unwrap_err().to_string(), "no such order");
/// # }
/// ```
#[derive(Debug)]
pub struct Error {
    failure: Failure,
    retryable: bool,
    error: BoxError,
}

impl Error {
    /// An error worth retrying (up to the task's attempts, with backoff): any
    /// error, or a message.
    ///
    /// ```
    /// let e = vow::Error::retryable("the upstream said 503");
    /// assert!(e.is_retryable());
    /// ```
    pub fn retryable(error: impl Into<BoxError>) -> Self {
        Self::with(error.into(), true)
    }

    /// An error that settles the promise at once: any error, or a message. A
    /// [`Failure`] keeps its kind.
    ///
    /// ```
    /// let e = vow::Error::permanent(std::io::Error::other("quota is gone for the month"));
    /// assert!(!e.is_retryable());
    /// assert_eq!(e.failure().message(), "quota is gone for the month");
    /// ```
    pub fn permanent(error: impl Into<BoxError>) -> Self {
        Self::with(error.into(), false)
    }

    fn with(error: BoxError, retryable: bool) -> Self {
        let failure = match error.downcast_ref::<Failure>() {
            Some(failure) => failure.clone(),
            None => Failure::error(chain_text(&*error)),
        };
        Error {
            failure,
            retryable,
            error,
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

    /// The same error, permanent.
    pub fn into_permanent(self) -> Self {
        Error {
            retryable: false,
            ..self
        }
    }

    /// The same error, retryable.
    pub fn into_retryable(self) -> Self {
        Error {
            retryable: true,
            ..self
        }
    }

    /// The error this was made from (a message becomes an error whose `Display`
    /// is the message), with its source chain.
    pub fn into_inner(self) -> BoxError {
        self.error
    }
}

/// `?` on any error: a [`Failure`] propagates unchanged (permanent); anything else
/// is classified by the first error along its source chain that vow recognises:
///
/// | error | classified |
/// |---|---|
/// | [`Failure`] | permanent, keeps its kind |
/// | [`BackendError`] | as [`BackendError::is_retryable`] says |
/// | `serde_json::Error` (not I/O) | permanent |
/// | `std::io::Error` | `TimedOut`, `Interrupted`, `WouldBlock`, connection and network kinds: retryable; `NotFound`, `PermissionDenied`, `AlreadyExists`, `InvalidInput`, `InvalidData`, `Unsupported`: permanent |
/// | `tokio::time::error::Elapsed` | retryable |
/// | AWS SDK errors (`aws` feature) | throttling, 5xx-like codes, timeouts and dispatch failures: retryable; other service errors (`AccessDenied`, validation, not found, ...) and requests that could not be built: permanent |
/// | anything else | retryable |
///
/// ```
/// use vow::Error;
/// // A connection reset is retryable...
/// let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "peer hung up");
/// assert!(Error::from(io).is_retryable());
/// // ...a permission error deep in the chain is not, and the chain travels
/// // into the failure's message.
/// #[derive(Debug)]
/// struct Charge(std::io::Error);
/// impl std::fmt::Display for Charge {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str("charging the card") }
/// }
/// impl std::error::Error for Charge {
///     fn source(&self) -> Option<&(dyn std::error::Error + 'static)> { Some(&self.0) }
/// }
/// let e = Error::from(Charge(std::io::ErrorKind::PermissionDenied.into()));
/// assert!(!e.is_retryable());
/// assert_eq!(e.failure().message(), "charging the card: permission denied");
/// ```
impl<E: Into<BoxError>> From<E> for Error {
    fn from(error: E) -> Self {
        let error = error.into();
        let retryable = crate::classify::retryable(&*error).unwrap_or(true);
        Self::with(error, retryable)
    }
}

impl Deref for Error {
    type Target = dyn StdError + Send + Sync + 'static;
    fn deref(&self) -> &Self::Target {
        &*self.error
    }
}

impl AsRef<dyn StdError + Send + Sync + 'static> for Error {
    fn as_ref(&self) -> &(dyn StdError + Send + Sync + 'static) {
        &*self.error
    }
}

impl AsRef<dyn StdError + 'static> for Error {
    fn as_ref(&self) -> &(dyn StdError + 'static) {
        &*self.error
    }
}

impl From<Error> for Box<dyn StdError + 'static> {
    fn from(e: Error) -> Self {
        e.error
    }
}

impl From<Error> for Box<dyn StdError + Send + 'static> {
    fn from(e: Error) -> Self {
        e.error
    }
}

/// With the `anyhow` feature, `?` turns a vow [`Error`] into an `anyhow::Error`
/// (its source chain kept).
#[cfg(feature = "anyhow")]
impl From<Error> for anyhow::Error {
    fn from(e: Error) -> Self {
        anyhow::Error::from_boxed(e.error)
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

/// Mark the error of a `Result` as permanent or retryable, whatever `?` would
/// decide: `.permanent()?`. In the prelude.
///
/// ```
/// use vow::{Error, ResultExt};
/// fn parse(order: &str) -> Result<u64, Error> {
///     // Without the mark, `?` would retry a ParseIntError it does not recognise.
///     let id = order.parse::<u64>().permanent()?;
///     Ok(id)
/// }
/// let e = parse("nope").unwrap_err();
/// assert!(!e.is_retryable());
/// assert_eq!(e.failure().message(), "invalid digit found in string");
///
/// // anyhow's errors too, with their context:
/// fn flaky() -> anyhow::Result<()> {
///     Err(anyhow::anyhow!("socket closed")).map_err(|e| e.context("calling billing"))
/// }
/// let e = flaky().retryable().unwrap_err();
/// assert!(e.is_retryable());
/// assert_eq!(e.failure().message(), "calling billing: socket closed");
/// ```
pub trait ResultExt<T> {
    /// Any error becomes a permanent [`Error`]: the promise settles at once.
    fn permanent(self) -> Result<T, Error>;
    /// Any error becomes a retryable [`Error`]: the task runs again.
    fn retryable(self) -> Result<T, Error>;
}

impl<T, E: Into<BoxError>> ResultExt<T> for Result<T, E> {
    fn permanent(self) -> Result<T, Error> {
        self.map_err(Error::permanent)
    }
    fn retryable(self) -> Result<T, Error> {
        self.map_err(Error::retryable)
    }
}

/// The most causes a failure's message names.
const MAX_CAUSES: usize = 16;

/// Every message along `error`'s source chain, joined with `": "`; a cause whose
/// text is already shown is skipped (many errors print their source themselves).
pub(crate) fn chain_text(error: &(dyn StdError + 'static)) -> String {
    let mut text = error.to_string();
    let mut next = error.source();
    for _ in 0..MAX_CAUSES {
        let Some(cause) = next else { break };
        let more = cause.to_string();
        if !more.is_empty() && !text.contains(&more) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&more);
        }
        next = cause.source();
    }
    text
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

impl StdError for BackendError {}

/// Why [`crate::Vow::wait`] returned without an outcome. A promise that settled
/// with a failure is not a `WaitError`: `wait` returns `Ok(Err(failure))`.
#[derive(Debug)]
#[non_exhaustive]
pub enum WaitError {
    /// The promise did not settle in time; it may still settle later.
    TimedOut,
    /// The store could not be read.
    Backend(BackendError),
    /// The promise settled with a value that does not decode as the type waited
    /// for (the promise's id was taken for a promise of another type). The
    /// workflow did not fail: read it with [`crate::Vow::status`].
    Decode {
        /// The type `wait` was asked for.
        expected: &'static str,
        /// What the decoder said.
        error: serde_json::Error,
    },
}

impl fmt::Display for WaitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WaitError::TimedOut => f.write_str("promise did not settle before the wait timed out"),
            WaitError::Backend(e) => write!(f, "store unavailable while waiting: {e}"),
            WaitError::Decode { expected, .. } => {
                write!(f, "the promise's outcome does not decode as `{expected}`")
            }
        }
    }
}

impl StdError for WaitError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            WaitError::TimedOut => None,
            WaitError::Backend(e) => Some(e),
            WaitError::Decode { error, .. } => Some(error),
        }
    }
}

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
    struct Outer(std::io::Error);
    impl fmt::Display for Outer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("fetching the order")
        }
    }
    impl StdError for Outer {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            Some(&self.0)
        }
    }

    #[derive(Debug)]
    struct Unknown;
    impl fmt::Display for Unknown {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("something odd")
        }
    }
    impl StdError for Unknown {}

    #[test]
    fn an_unrecognised_error_is_retryable() {
        let e: Error = Unknown.into();
        assert!(e.is_retryable());
        assert_eq!(e.failure().message(), "something odd");
    }

    #[test]
    fn predecessor_failure_propagates_its_kind() {
        let e: Error = Failure::timeout("slow").into();
        assert!(!e.is_retryable());
        assert_eq!(e.failure().kind(), FailureKind::Timeout);
        assert_eq!(e.failure().message(), "slow");
    }

    #[test]
    fn the_chain_decides_and_is_kept() {
        let e: Error = Outer(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "peer reset",
        ))
        .into();
        assert!(e.is_retryable());
        assert_eq!(e.failure().message(), "fetching the order: peer reset");
        let inner = e.source().expect("source kept");
        assert_eq!(inner.to_string(), "peer reset");
        let e: Error = Outer(std::io::Error::new(std::io::ErrorKind::InvalidData, "bad")).into();
        assert!(!e.is_retryable());
    }

    #[test]
    fn a_cause_already_shown_is_not_repeated() {
        #[derive(Debug)]
        struct Shows(std::io::Error);
        impl fmt::Display for Shows {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "reading: {}", self.0)
            }
        }
        impl StdError for Shows {
            fn source(&self) -> Option<&(dyn StdError + 'static)> {
                Some(&self.0)
            }
        }
        let e: Error = Shows(std::io::Error::other("disk gone")).into();
        assert_eq!(e.failure().message(), "reading: disk gone");
    }

    #[test]
    fn marks_override_the_classification() {
        let parsed: Result<u32, _> = "x".parse::<u32>();
        let e = parsed.clone().permanent().expect_err("fails");
        assert!(!e.is_retryable());
        let e = Error::from(serde_json::from_str::<u32>("x").expect_err("fails"));
        assert!(!e.is_retryable());
        assert!(e.into_retryable().is_retryable());
        assert!(parsed.retryable().expect_err("fails").is_retryable());
    }

    #[test]
    fn a_message_is_an_error_too() {
        let e = Error::permanent(format!("order {} is unknown", 7));
        assert_eq!(e.failure().message(), "order 7 is unknown");
        assert_eq!(e.to_string(), "permanent error: order 7 is unknown");
        let boxed: Box<dyn StdError> = e.into();
        assert_eq!(boxed.to_string(), "order 7 is unknown");
    }
}
