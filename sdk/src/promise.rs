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

/// A typed handle on a promise: an id, plus the flow that created it so that
/// [`Promise::then`] can chain. Serializable: pass it to other tasks.
pub struct Promise<T> {
    id: PromiseId,
    flow: Option<Flow>,
    _t: PhantomData<fn() -> T>,
}

impl<T> Promise<T> {
    pub(crate) fn new(id: PromiseId, flow: Option<Flow>) -> Self {
        Promise {
            id,
            flow,
            _t: PhantomData,
        }
    }

    /// A handle on an existing promise, e.g. from an id that application code stored.
    pub fn from_id(id: PromiseId) -> Self {
        Promise::new(id, None)
    }

    /// The promise's id.
    pub fn id(&self) -> &PromiseId {
        &self.id
    }

    /// Run `task` with this promise's outcome once it settles.
    ///
    /// # Panics
    /// If the handle is not bound to a flow: it was built with [`Promise::from_id`]
    /// outside a task. Use [`Flow::then`] for those.
    pub fn then<K: Task<Input = Result<T, Failure>>>(&self, task: K) -> Promise<K::Output> {
        match &self.flow {
            Some(flow) => flow.then(self, task),
            None => panic!(
                "promise {} is not bound to a flow; use `flow.then(&promise, task)`",
                self.id
            ),
        }
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
    /// Binds to the flow of the task being run, if any.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Promise::new(PromiseId::deserialize(d)?, current_flow()))
    }
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

    /// The id of the promise this resolver settles.
    pub fn id(&self) -> PromiseId {
        self.target.id()
    }

    /// A handle on the promise this resolver settles.
    pub fn promise(&self) -> Promise<T> {
        Promise::new(self.target.id(), current_flow())
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
