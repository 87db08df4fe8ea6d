//! # orders: an order workflow on vow
//!
//! An order is validated and priced, then its stock is reserved and its card
//! charged in parallel. If both succeed the order is confirmed; if either
//! fails, whichever succeeded is undone (the stock released, the charge
//! refunded) and the order is cancelled. Each step records its effect in the
//! orders table (partition key `order_id`), whose name the application passes
//! when it places an order.
//!
//! The application starts a workflow with [`place`]; the worker binaries in
//! `worker/` run its tasks on Lambda, serving [`tasks()`].

#![warn(missing_docs)]

mod model;
mod services;
mod table;
mod validate;
mod workflow;

pub use model::{Line, Order, Outcome, Priced};
pub use services::{product, Product, CATALOGUE, DECLINED_CARD};
pub use table::{create_table, fetch, OrderRecord, Status, KEY};
pub use validate::price;
pub use workflow::place;

vow::tasks!();
