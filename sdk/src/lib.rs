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
mod client;
mod clock;
mod context;
pub mod emf;
pub mod engine;
mod error;
mod failure;
pub mod fault;
mod flow;
mod gather;
mod id;
pub mod invoke;
pub mod memory;
pub mod poller;
mod promise;
pub mod queue;
mod registry;
pub mod signing;
mod stats;
pub mod store;
mod task;
pub mod walk;
pub mod wire;

pub use client::{EmbeddedConfig, Inspection, Status, Vow};
pub use context::Cx;
pub use engine::{Engine, EngineConfig};
pub use error::{BackendError, Error, WaitError};
pub use failure::{Failure, FailureKind};
pub use flow::{AsPromise, Flow};
pub use id::PromiseId;
pub use promise::{Handle, Promise, Resolver};
pub use registry::{check_tasks, registered_tasks, Registration, RegistryError, TaskSet};
pub use stats::BatchStats;
pub use task::{adopt, deferred, done, ErasedTask, Resolution, Task};
pub use vow_macros::{closure, task};
pub use walk::Progress;

/// The names most code needs: `use vow::prelude::*;`.
pub mod prelude {
    pub use crate::{
        adopt, deferred, done, Cx, Error, Failure, FailureKind, Flow, Handle, Promise, PromiseId,
        Resolution, Resolver, Task, Vow,
    };
}

/// Used by the macros; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use crate::registry::Registration;
    pub use crate::task::{opts_of, run_typed, BoxFuture, Erased, ErasedTask};
    pub use crate::wire::RunOpts;
    pub use inventory;
    pub use serde;
    pub use serde_json::Value;
    pub use typetag;
}
