//! # {{name}}: an order workflow on vow
//!
//! An order is validated and priced, then its stock is reserved and its card
//! charged in parallel; the order is confirmed if both succeed, cancelled if
//! either fails. Each step records where the order stands in the orders table
//! through the [`OrderStore`] seam: DynamoDB when deployed, [`InMemory`] in
//! tests and in the embedded example.
//!
//! Start a workflow with [`place`]; the binaries in `worker/` serve
//! [`tasks()`] on Lambda.

mod model;
mod store;
mod workflow;

pub use model::{Line, Order, Outcome, CATALOGUE, DECLINED_CARD};
pub use store::{install_store, DynamoDb, InMemory, OrderRecord, OrderStore, StoreFuture};
pub use workflow::place;

vow::tasks!();
