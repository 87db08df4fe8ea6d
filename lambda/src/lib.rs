//! # vow-lambda: run your vow tasks on AWS Lambda
//!
//! A [vow](https://docs.rs/vow) deployment runs two Lambda functions: a worker
//! on the work queue, which runs the tasks, and a dead-letter function, which
//! settles the promises of messages the queue gave up on. This crate is both:
//! your worker binary links your task crates and calls [`Worker`], and your
//! dead-letter binary calls [`DeadLetters`].
//!
//! ```no_run
//! // src/bin/my-worker.rs: serves the tasks of `my_tasks` (a dependency whose
//! // lib.rs declares its set with `vow::tasks!();`)
//! # mod my_tasks { vow::tasks!(); }
//! #[tokio::main]
//! async fn main() -> Result<(), vow_lambda::Error> {
//!     vow_lambda::Worker::new()
//!         .tasks(my_tasks::tasks())
//!         .run()
//!         .await
//! }
//! ```
//!
//! ```no_run
//! // src/bin/my-dead-letter.rs
//! #[tokio::main]
//! async fn main() -> Result<(), vow_lambda::Error> {
//!     vow_lambda::DeadLetters::new().run().await
//! }
//! ```
//!
//! Each function reads the stack's names from the environment (`VOW_QUEUE_URL`,
//! `VOW_TABLE_NAME`, and the AWS SDK's usual configuration), which the SAM
//! template and the Terraform module of the vow repository set. Build them with
//! `cargo lambda build --release --arm64`.
//!
//! What each invocation does:
//! - turns the SQS event into deliveries and runs them on vow's engine, by the
//!   invocation's deadline;
//! - answers with a partial batch response (`ReportBatchItemFailures`) naming
//!   the messages to retry;
//! - logs JSON lines to stdout, each with the spans it happened in (`vow.message`,
//!   `vow.run` with `promise`, `task` and `attempt`, `vow.settle` with
//!   `outcome`), at the level of `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`, else
//!   INFO;
//! - prints one line of CloudWatch's embedded metric format per batch
//!   (namespace `vow`, dimension `function`; see `vow::emf`).

#![warn(missing_docs)]

mod logs;
mod serve;
mod sqs;
mod worker;

pub use worker::{DeadLetters, Worker};

#[cfg(test)]
vow::tasks!();

/// What [`Worker::run`] and [`DeadLetters::run`] fail with: the Lambda
/// runtime's boxed error.
pub use lambda_runtime::Error;
