//! # vow: distributed promises for AWS serverless
//!
//! A *promise* settles exactly once, with a value or a [`Failure`]. A [`Task`] is
//! your code plus its captured state; it travels in a queue message, one worker
//! runs it, and its outcome is written to the store. Successors attached with
//! [`Promise::then`] and joins built with [`Flow::all`] run when their inputs settle.
//!
//! ```
//! use serde::{Deserialize, Serialize};
//! use vow::prelude::*;
//!
//! #[derive(Serialize, Deserialize)]
//! struct Add { a: u64, b: u64 }
//!
//! #[vow::task("doc-add")]
//! impl Task for Add {
//!     type Input = ();
//!     type Output = u64;
//!     async fn run(self, _: (), _cx: &Cx) -> Result<Resolution<u64>, Error> {
//!         done(self.a + self.b)
//!     }
//! }
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let vow = Vow::embedded();
//! let flow = vow.flow();
//! let sum = flow.when(Add { a: 2, b: 3 });
//! let doubled = sum.then(vow::closure!("doc-double", [], |x: Result<u64, Failure>| -> Result<u64, Error> {
//!     Ok(x? * 2)
//! }));
//! vow.start(&flow).await?;
//! assert_eq!(vow.wait(&doubled, std::time::Duration::from_secs(5)).await?, Ok(10));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

#![warn(missing_docs)]

extern crate self as vow;

#[cfg(feature = "aws")]
pub mod aws;
#[cfg(feature = "aws")]
mod builder;
mod classify;
mod client;
mod clock;
mod context;
mod cron;
#[doc(hidden)]
pub mod emf;
#[doc(hidden)]
pub mod engine;
mod error;
mod failure;
#[doc(hidden)]
pub mod fault;
mod flow;
mod gather;
mod id;
pub mod invoke;
mod joined;
#[doc(hidden)]
pub mod memory;
pub mod poller;
mod promise;
#[doc(hidden)]
pub mod queue;
mod registry;
mod schedule;
pub mod signing;
mod stats;
#[doc(hidden)]
pub mod store;
mod task;
#[doc(hidden)]
pub mod timer_index;
pub mod upgrade;
#[doc(hidden)]
pub mod walk;
pub mod wire;
mod workers;

/// The seams for backend authors: a [`Store`](backend::Store) settles outcomes
/// exactly once and counts joins, a [`Queue`](backend::Queue) delivers message
/// bodies at least once. `vow::aws` implements both on DynamoDB and SQS; the
/// in-memory pair behind [`Vow::embedded`] is the reference implementation.
///
/// What a store must guarantee is spelled out on each method; the types it
/// stores ([`Slot`](backend::Slot), [`Cont`](backend::Cont)) are the engine's
/// own and may change between minor versions before 1.0.
pub mod backend {
    pub use crate::memory::{MemoryQueue, MemoryStore};
    pub use crate::queue::{Delivery, Outgoing, Queue, MAX_DELAY};
    pub use crate::store::{Cell, Note, Record, Settled, Store};
    pub use crate::wire::{Cont, Outcome, Slot};
}

#[cfg(feature = "aws")]
pub use builder::VowBuilder;
pub use client::{EmbeddedConfig, Inspection, Status, Vow};
pub use context::Cx;
pub use cron::{Cron, CronError};
#[doc(hidden)]
pub use engine::Engine;
pub use engine::{DeclaredSchedules, EngineConfig, ENV_SCHEDULES};
pub use error::{BackendError, BoxError, Error, ResultExt, WaitError};
pub use failure::{Failure, FailureKind};
pub use flow::{AsPromise, Flow, Started};
pub use id::PromiseId;
pub use joined::{Joined, JoinedExt, Partition};
pub use promise::{Handle, Promise, Resolved, Resolver};
pub use registry::{check_tasks, registered_tasks, Registration, RegistryError, TaskSet};
pub use schedule::Schedule;
pub use stats::BatchStats;
#[doc(hidden)]
pub use task::ErasedTask;
pub use task::{adopt, deferred, done, Resolution, Task};
pub use vow_macros::{closure, task};
pub use walk::Progress;
pub use workers::Workers;

/// The names most code needs: `use vow::prelude::*;`.
pub mod prelude {
    pub use crate::{
        adopt, deferred, done, Cx, Error, Failure, FailureKind, Flow, Handle, Joined, JoinedExt,
        Promise, PromiseId, Resolution, Resolver, ResultExt, Task, Vow,
    };
}

/// Used by the macros; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use crate::engine::TaskInput;
    pub use crate::registry::Registration;
    pub use crate::task::{opts_of, run_typed, BoxFuture, Erased, ErasedTask};
    pub use crate::wire::RunOpts;
    pub use inventory;
    pub use serde;
    pub use serde_json::Value;
    pub use typetag;
}
