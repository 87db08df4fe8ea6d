//! The order workflow's tasks:
//!
//! ```text
//! validate ──> fulfil ──┬─> reserve-stock ──┐
//!                       └─> charge-payment ─┴─> finish
//! ```
//!
//! Each task is a struct whose fields travel in the queue message, registered
//! under a tag (`"{{name}}/validate"`): keep a tag when you rename its struct,
//! or messages already queued will not find it.

use crate::model::{self, Order, Outcome};
use crate::store::{store, OrderRecord};
use serde::{Deserialize, Serialize};
use vow::prelude::*;

/// Start the workflow for `order` in `flow`, recording its progress in the
/// orders table `table`. The promise settles with the order's [`Outcome`].
pub fn place(flow: &Flow, table: &str, order: Order) -> Promise<Outcome> {
    let order_id = order.order_id.clone();
    let table = table.to_owned();
    let validated = flow.when(Validate {
        table: table.clone(),
        order,
    });
    validated.then(Fulfil { table, order_id })
}

/// Record where the order stands.
async fn record(table: &str, order_id: &str, status: &str, reason: &str) -> Result<(), Error> {
    let record = OrderRecord {
        order_id: order_id.to_owned(),
        status: status.to_owned(),
        reason: reason.to_owned(),
    };
    store().await.save(table, &record).await
}

/// Validate and price the order, and record it.
#[derive(Debug, Serialize, Deserialize)]
struct Validate {
    table: String,
    order: Order,
}

#[vow::task("{{name}}/validate")]
impl Task for Validate {
    type Input = ();
    type Output = (Order, u64);
    async fn run(self, _: (), _cx: &Cx) -> Result<Resolution<(Order, u64)>, Error> {
        let id = &self.order.order_id;
        match model::price(&self.order) {
            Ok(total) => {
                record(&self.table, id, "validated", "").await?;
                done((self.order, total))
            }
            Err(reason) => {
                record(&self.table, id, "rejected", &reason).await?;
                // Permanent: retrying would not make the order valid.
                Err(Error::permanent(reason))
            }
        }
    }
}

/// Reserve and charge in parallel, then finish.
#[derive(Debug, Serialize, Deserialize)]
struct Fulfil {
    table: String,
    order_id: String,
}

#[vow::task("{{name}}/fulfil")]
impl Task for Fulfil {
    type Input = Result<(Order, u64), Failure>;
    type Output = Outcome;
    async fn run(self, validated: Self::Input, cx: &Cx) -> Result<Resolution<Outcome>, Error> {
        let (order, total_cents) = match validated {
            Ok(priced) => priced,
            // A successor sees its predecessor's failure and decides.
            Err(f) if f.kind() == FailureKind::Error => {
                return done(Outcome::Rejected {
                    order_id: self.order_id,
                    reason: f.message().to_owned(),
                })
            }
            Err(f) => return Err(f.into()),
        };
        let stock = cx.when(ReserveStock {
            order: order.clone(),
        });
        let payment = cx.when(ChargePayment {
            card: order.card.clone(),
            total_cents,
        });
        adopt(cx.all([stock, payment]).then(Finish {
            table: self.table,
            order_id: self.order_id,
            total_cents,
        }))
    }
}

/// Reserve the order's items at the warehouse (a stand-in).
#[derive(Debug, Serialize, Deserialize)]
struct ReserveStock {
    order: Order,
}

#[vow::task("{{name}}/reserve-stock")]
impl Task for ReserveStock {
    type Input = ();
    type Output = ();
    async fn run(self, _: (), _cx: &Cx) -> Result<Resolution<()>, Error> {
        model::in_stock(&self.order).map_err(Error::permanent)?;
        done(())
    }
}

/// Charge the card (a stand-in for a payment provider's API, which would take
/// the order id as its idempotency key).
#[derive(Debug, Serialize, Deserialize)]
struct ChargePayment {
    card: String,
    total_cents: u64,
}

#[vow::task("{{name}}/charge-payment")]
impl Task for ChargePayment {
    type Input = ();
    type Output = ();
    async fn run(self, _: (), _cx: &Cx) -> Result<Resolution<()>, Error> {
        if self.card == model::DECLINED_CARD {
            return Err(Error::permanent("the card was declined"));
        }
        done(())
    }
}

/// Confirm the order if both succeeded, else cancel it.
#[derive(Debug, Serialize, Deserialize)]
struct Finish {
    table: String,
    order_id: String,
    total_cents: u64,
}

#[vow::task("{{name}}/finish")]
impl Task for Finish {
    type Input = Joined<()>;
    type Output = Outcome;
    async fn run(self, both: Joined<()>, _cx: &Cx) -> Result<Resolution<Outcome>, Error> {
        let failures = both.partition()?.failures;
        if failures.is_empty() {
            record(&self.table, &self.order_id, "confirmed", "").await?;
            return done(Outcome::Confirmed {
                order_id: self.order_id,
                total_cents: self.total_cents,
            });
        }
        let reason = failures
            .iter()
            .map(|(_, f)| f.message())
            .collect::<Vec<_>>()
            .join("; ");
        record(&self.table, &self.order_id, "cancelled", &reason).await?;
        done(Outcome::Cancelled {
            order_id: self.order_id,
            reason,
        })
    }
}
