//! Which errors are worth retrying: what `?` decides when it turns an error into
//! a [`crate::Error`] (the table is on `Error`'s `From` impl).
//!
//! The first error along the source chain that is recognised decides; an error
//! nothing recognises is left undecided (the caller retries it).

use crate::error::BackendError;
use crate::failure::Failure;
use std::error::Error as StdError;
use std::io::ErrorKind;

/// The most errors of a source chain looked at.
const MAX_DEPTH: usize = 16;

/// `Some(true)` if trying again may help, `Some(false)` if it cannot, `None` if no
/// error along `error`'s source chain is recognised.
pub(crate) fn retryable(error: &(dyn StdError + 'static)) -> Option<bool> {
    let mut next = Some(error);
    for _ in 0..MAX_DEPTH {
        let e = next?;
        if let Some(decided) = one(e) {
            return Some(decided);
        }
        next = e.source();
    }
    None
}

/// The decision of one error of a chain, if it is one vow recognises.
fn one(e: &(dyn StdError + 'static)) -> Option<bool> {
    if e.is::<Failure>() {
        return Some(false);
    }
    if let Some(b) = e.downcast_ref::<BackendError>() {
        return Some(b.is_retryable());
    }
    if let Some(j) = e.downcast_ref::<serde_json::Error>() {
        // A reader's I/O error is the reader's business; bad JSON stays bad.
        return (!j.is_io()).then_some(false);
    }
    if let Some(io) = e.downcast_ref::<std::io::Error>() {
        // A custom I/O error's inner error is not its `source()`: look at it too.
        return io_kind(io.kind()).or_else(|| io.get_ref().and_then(|inner| retryable(inner)));
    }
    if e.is::<tokio::time::error::Elapsed>() {
        return Some(true);
    }
    #[cfg(feature = "aws")]
    if let Some(decided) = crate::aws::errors::retryable(e) {
        return Some(decided);
    }
    None
}

/// I/O errors by kind: the network's are transient, bad input and missing
/// things are not.
fn io_kind(kind: ErrorKind) -> Option<bool> {
    use ErrorKind::*;
    match kind {
        TimedOut | Interrupted | WouldBlock | ConnectionReset | ConnectionAborted
        | ConnectionRefused | NotConnected | BrokenPipe | UnexpectedEof | AddrInUse
        | AddrNotAvailable | HostUnreachable | NetworkUnreachable | NetworkDown | ResourceBusy => {
            Some(true)
        }
        NotFound | PermissionDenied | AlreadyExists | InvalidInput | InvalidData | Unsupported => {
            Some(false)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_kinds() {
        let e = std::io::Error::from(ErrorKind::TimedOut);
        assert_eq!(retryable(&e), Some(true));
        let e = std::io::Error::from(ErrorKind::NotFound);
        assert_eq!(retryable(&e), Some(false));
        // Other: decided by what it wraps.
        let e = std::io::Error::other(serde_json::from_str::<u8>("[").expect_err("bad"));
        assert_eq!(retryable(&e), Some(false));
        let e = std::io::Error::other("who knows");
        assert_eq!(retryable(&e), None);
    }

    #[test]
    fn serde_and_backend_errors() {
        let e = serde_json::from_str::<u8>("300").expect_err("too big");
        assert_eq!(retryable(&e), Some(false));
        assert_eq!(retryable(&BackendError::transient("slow down")), Some(true));
        assert_eq!(retryable(&BackendError::fatal("no table")), Some(false));
        assert_eq!(retryable(&Failure::error("upstream")), Some(false));
    }

    #[test]
    fn a_cyclic_chain_ends() {
        #[derive(Debug)]
        struct Loop;
        impl std::fmt::Display for Loop {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("loop")
            }
        }
        impl StdError for Loop {
            fn source(&self) -> Option<&(dyn StdError + 'static)> {
                Some(&Loop)
            }
        }
        assert_eq!(retryable(&Loop), None);
        assert_eq!(crate::error::chain_text(&Loop), "loop");
    }
}
