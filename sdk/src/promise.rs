//! [`Promise`] handles and [`Resolver`]s.

use crate::context::current_flow;
use crate::failure::Failure;
use crate::flow::Flow;
use crate::id::PromiseId;
use crate::task::Task;
use crate::wire::{Cont, Target};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::marker::PhantomData;

/// A promise inside a [`Flow`]: an id, plus the flow that made it, so that
/// [`Promise::then`] can chain. Serializable: pass it to other tasks, where it
/// binds to the flow of the task that receives it.
///
/// Outside a flow (application code holding an id, [`crate::Vow::when`]) a
/// promise is a [`Handle`], which has no `then`: chaining needs a flow to carry
/// the successor, so it is written `flow.then(&handle, task)`.
///
/// ```compile_fail
/// # use vow::prelude::*;
/// # async fn demo(vow: Vow, step: impl Task<Input = (), Output = u64>,
/// #     next: impl Task<Input = Result<u64, Failure>, Output = u64>) -> Result<(), vow::BackendError> {
/// // `Vow::when` returns a `Handle`: there is no flow to carry `next`.
/// vow.when(step).await?.then(next);
/// # Ok(()) }
/// ```
pub struct Promise<T> {
    id: PromiseId,
    flow: Flow,
    _t: PhantomData<fn() -> T>,
}

impl<T> Promise<T> {
    pub(crate) fn new(id: PromiseId, flow: Flow) -> Self {
        Promise {
            id,
            flow,
            _t: PhantomData,
        }
    }

    /// The promise's id.
    pub fn id(&self) -> &PromiseId {
        &self.id
    }

    /// Run `task` with this promise's outcome once it settles.
    pub fn then<K: Task<Input = Result<T, Failure>>>(&self, task: K) -> Promise<K::Output> {
        self.flow.then(self, task)
    }

    /// The same promise as a [`Handle`], for application code (waiting, status).
    pub fn handle(&self) -> Handle<T> {
        Handle::from_id(self.id.clone())
    }
}

impl<T> Clone for Promise<T> {
    fn clone(&self) -> Self {
        Promise::new(self.id.clone(), self.flow.clone())
    }
}

impl<T> fmt::Debug for Promise<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Promise({})", self.id)
    }
}

impl<T> PartialEq for Promise<T> {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl<T> Serialize for Promise<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.id.serialize(s)
    }
}

impl<'de, T> Deserialize<'de> for Promise<T> {
    /// Binds to the flow of the task being run. Outside a task there is no flow
    /// to bind to: deserialize a [`Handle`] there (it reads the same JSON).
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let id = PromiseId::deserialize(d)?;
        match current_flow() {
            Some(flow) => Ok(Promise::new(id, flow)),
            None => Err(serde::de::Error::custom(format!(
                "promise {id} read outside a task: a Promise binds to the flow of the task \
                 being run; read a vow::Handle instead"
            ))),
        }
    }
}

/// A promise seen from outside any flow: its id and value type. Wait for it with
/// [`crate::Vow::wait`], chain on it with [`Flow::then`], or join it with
/// [`Flow::all`]. Serializes as the promise's id, like [`Promise`].
///
/// ```
/// use vow::{Handle, PromiseId};
/// let id: PromiseId = "0123456789abcdef0123456789abcdef".parse()?;
/// let handle = Handle::<u64>::from_id(id.clone());
/// assert_eq!(handle.id(), &id);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Handle<T> {
    id: PromiseId,
    _t: PhantomData<fn() -> T>,
}

impl<T> Handle<T> {
    /// A handle on the promise `id`, e.g. one that application code stored.
    pub fn from_id(id: PromiseId) -> Self {
        Handle {
            id,
            _t: PhantomData,
        }
    }

    /// The promise's id.
    pub fn id(&self) -> &PromiseId {
        &self.id
    }
}

impl<T> Clone for Handle<T> {
    fn clone(&self) -> Self {
        Handle::from_id(self.id.clone())
    }
}

impl<T> fmt::Debug for Handle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Handle({})", self.id)
    }
}

impl<T> PartialEq for Handle<T> {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl<T> Serialize for Handle<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.id.serialize(s)
    }
}

impl<'de, T> Deserialize<'de> for Handle<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Handle::from_id(PromiseId::deserialize(d)?))
    }
}

/// What [`crate::Vow::resolve`] did: the first resolution wins.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolved {
    /// This resolve settled the promise (or an earlier try of the same call
    /// did); its successors run with the value.
    Won,
    /// The promise was settled before: by another resolve, its deadline, a
    /// cancel, or a dead-letter settle. Nothing changed.
    TooLate,
}

/// Settles a deferred promise from anywhere: a task returns [`crate::deferred`] after
/// handing its resolver (which is serializable) to other tasks, and one of them calls
/// [`Flow::resolve`]. The first resolution wins; later ones are ignored.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub struct Resolver<T> {
    pub(crate) target: Target,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) conts: Vec<Cont>,
    #[serde(skip)]
    _t: PhantomData<fn() -> T>,
}

impl<T> Resolver<T> {
    pub(crate) fn new(target: Target, conts: Vec<Cont>) -> Self {
        Resolver {
            target,
            conts,
            _t: PhantomData,
        }
    }

    /// The resolver of the promise `id`, as made by [`Flow::callback`]: an
    /// external system can keep just the id and settle the promise with it.
    /// (A task's own [`crate::Cx::resolver`] may carry its successors; keep
    /// that resolver whole.)
    pub fn from_id(id: PromiseId) -> Self {
        Resolver::new(Target::Promise(id), Vec::new())
    }

    /// The id of the promise this resolver settles.
    pub fn id(&self) -> PromiseId {
        self.target.id()
    }

    /// A handle on the promise this resolver settles.
    pub fn handle(&self) -> Handle<T> {
        Handle::from_id(self.target.id())
    }
}

impl<T> Clone for Resolver<T> {
    fn clone(&self) -> Self {
        Resolver::new(self.target.clone(), self.conts.clone())
    }
}

impl<T> fmt::Debug for Resolver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Resolver({})", self.target.id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_promise_read_outside_a_task_is_an_error_and_a_handle_is_not() {
        let json = "\"0123456789abcdef0123456789abcdef\"";
        let err = serde_json::from_str::<Promise<u64>>(json).expect_err("no flow to bind to");
        assert!(err.to_string().contains("vow::Handle"), "{err}");
        let handle: Handle<u64> = serde_json::from_str(json).expect("a handle reads anywhere");
        assert_eq!(handle.id().as_str(), "0123456789abcdef0123456789abcdef");
        assert_eq!(serde_json::to_string(&handle).expect("writes"), json);
    }
}
