//! The [`Task`] trait users implement, and the erased form the wire carries.

use crate::context::Cx;
use crate::engine::TaskInput;
use crate::error::Error;
use crate::failure::Failure;
use crate::id::PromiseId;
use crate::promise::Promise;
use crate::wire::{to_value, RunOpts};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// A unit of work: user code plus the state it captured, serialized into a message.
///
/// `Input` is `()` for tasks started with [`crate::Flow::when`], and
/// `Result<T, Failure>` for successors attached with [`Promise::then`].
/// Register every implementation with `#[vow::task("stable-name")]` on the `impl`
/// block: the name is what travels in messages, so renaming the struct is safe and
/// renaming the tag is not. Generic implementations cannot be registered.
///
/// ```
/// use serde::{Deserialize, Serialize};
/// use vow::prelude::*;
///
/// #[derive(Serialize, Deserialize)]
/// struct Double { x: u64 }
///
/// #[vow::task("doc-double")]
/// impl Task for Double {
///     type Input = ();
///     type Output = u64;
///     async fn run(self, _: (), _cx: &Cx) -> Result<Resolution<u64>, Error> {
///         done(self.x * 2)
///     }
/// }
/// ```
pub trait Task: ErasedTask + Serialize + DeserializeOwned + Send + Sync + Sized + 'static {
    /// What the task receives: `()` or its predecessor's `Result<T, Failure>`.
    type Input: DeserializeOwned + Send + 'static;
    /// What the task's promise settles with.
    type Output: Serialize + DeserializeOwned + Send + 'static;

    /// Do the work.
    fn run(
        self,
        input: Self::Input,
        cx: &Cx,
    ) -> impl Future<Output = Result<Resolution<Self::Output>, Error>> + Send;

    /// How long one attempt may run; the engine default when `None`.
    fn timeout(&self) -> Option<Duration> {
        None
    }

    /// How many attempts retryable errors get; the engine default when `None`.
    fn max_attempts(&self) -> Option<u32> {
        None
    }
}

/// How a task settles its promise.
#[derive(Debug)]
pub enum Resolution<T> {
    /// With this value.
    Value(T),
    /// With whatever that other promise settles with.
    Adopt(Promise<T>),
    /// Later, by whoever holds this task's [`crate::Resolver`].
    Deferred,
}

impl<T> From<T> for Resolution<T> {
    fn from(value: T) -> Self {
        Resolution::Value(value)
    }
}

/// Settle with a value: `return done(x);`.
pub fn done<T>(value: T) -> Result<Resolution<T>, Error> {
    Ok(Resolution::Value(value))
}

/// Settle with whatever `promise` settles with.
pub fn adopt<T>(promise: Promise<T>) -> Result<Resolution<T>, Error> {
    Ok(Resolution::Adopt(promise))
}

/// Stay pending: a [`crate::Resolver`] handed to another task settles the promise.
pub fn deferred<T>() -> Result<Resolution<T>, Error> {
    Ok(Resolution::Deferred)
}

/// A boxed, sendable future.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// A task's resolution with its type erased.
#[derive(Debug)]
pub enum Erased {
    /// Settle with this JSON value.
    Value(Value),
    /// Adopt this promise.
    Adopt(PromiseId),
    /// Stay pending.
    Deferred,
}

/// The object-safe form of [`Task`] that typetag registers. Implemented by
/// `#[vow::task]`; you never implement it by hand.
#[typetag::serde(tag = "task", content = "with")]
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a registered vow task",
    note = "add `#[vow::task(\"a-stable-name\")]` to its `impl Task for ...` block"
)]
pub trait ErasedTask: Send + Sync {
    /// Decode the input, run, encode the output.
    fn run_erased(
        self: Box<Self>,
        input: TaskInput,
        cx: Arc<Cx>,
    ) -> BoxFuture<Result<Erased, Error>>;
    /// The task's run options.
    fn opts(&self) -> RunOpts;
}

/// Used by `#[vow::task]`: run a typed task from erased parts.
#[doc(hidden)]
pub fn run_typed<K: Task>(
    task: K,
    input: TaskInput,
    cx: Arc<Cx>,
) -> BoxFuture<Result<Erased, Error>> {
    Box::pin(async move {
        let decoded = match input {
            TaskInput::Value(value) => serde_json::from_value(value),
            TaskInput::Text(text) => serde_json::from_str(&text),
        };
        let input: K::Input = decoded.map_err(|e| {
            Error::from(Failure::bad_input(format!(
                "input does not match `{}`: {e}",
                std::any::type_name::<K::Input>()
            )))
        })?;
        match task.run(input, &cx).await? {
            Resolution::Value(v) => Ok(Erased::Value(to_value(&v)?)),
            Resolution::Adopt(p) => Ok(Erased::Adopt(p.id().clone())),
            Resolution::Deferred => Ok(Erased::Deferred),
        }
    })
}

/// Used by `#[vow::task]`: a task's run options.
#[doc(hidden)]
pub fn opts_of<K: Task>(task: &K) -> RunOpts {
    RunOpts {
        timeout_ms: task.timeout().map(crate::clock::millis),
        max_attempts: task.max_attempts(),
    }
}

/// Encode a task as the JSON object the wire carries: `{"task": "<tag>", "with": ...}`.
pub(crate) fn encode_task<K: Task>(task: &K) -> Value {
    let erased: &dyn ErasedTask = task;
    // A task whose own Serialize impl fails is a bug in that impl; carry the error so
    // the worker settles the promise BadInput instead of losing it.
    serde_json::to_value(erased)
        .unwrap_or_else(|e| serde_json::json!({ "task": "<unencodable>", "error": e.to_string() }))
}

/// Generic implementations cannot be registered: a message names one concrete type.
///
/// ```compile_fail
/// use serde::{Deserialize, Serialize};
/// use vow::prelude::*;
/// #[derive(Serialize, Deserialize)]
/// struct Echo<T>(T);
/// #[vow::task("echo")]
/// impl<T: Serialize + serde::de::DeserializeOwned + Send + Sync + 'static> Task for Echo<T> {
///     type Input = ();
///     type Output = ();
///     async fn run(self, _: (), _: &Cx) -> Result<Resolution<()>, Error> { done(()) }
/// }
/// ```
///
/// Neither can a task without a registration:
///
/// ```compile_fail
/// use serde::{Deserialize, Serialize};
/// use vow::prelude::*;
/// #[derive(Serialize, Deserialize)]
/// struct Unregistered;
/// impl Task for Unregistered {
///     type Input = ();
///     type Output = ();
///     async fn run(self, _: (), _: &Cx) -> Result<Resolution<()>, Error> { done(()) }
/// }
/// ```
///
/// A closure's options are `timeout` and `attempts`; anything else is an error:
///
/// ```compile_fail
/// use vow::prelude::*;
/// let task = vow::closure!("doc-retries", [], retries = 3, |_: ()| -> Result<u64, Error> { Ok(1) });
/// ```
///
/// and each has a type: a `Duration` for `timeout`, a `u32` for `attempts`:
///
/// ```compile_fail
/// use vow::prelude::*;
/// let task = vow::closure!("doc-seconds", [], timeout = 5, |_: ()| -> Result<u64, Error> { Ok(1) });
/// ```
#[cfg(doc)]
pub mod registration_rules {}
