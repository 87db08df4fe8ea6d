//! The order workflow's tasks:
//!
//! ```text
//! validate ──> fulfil ──┬─> reserve-stock ──┐
//!                       └─> charge-payment ─┴─> finish ──> confirmed
//!                                                 └─> release-stock / refund-payment ──> cancel
//! ```
//!
//! Reserving stock and charging the card run in parallel (`all`). If either
//! fails, `finish` undoes whichever succeeded (a compensation) before the order
//! is cancelled. Every step records its effect in the orders table, whose name
//! travels in the tasks' state.

use crate::model::{Order, Outcome, Priced};
use crate::services;
use crate::table::{self, Status};
use crate::validate::price;
use serde::{Deserialize, Serialize};
use vow::prelude::*;

/// Start the workflow for `order` in `flow`, keeping its state in the orders
/// table `orders_table`; the promise settles with the order's [`Outcome`] once
/// it is confirmed, rejected or cancelled.
///
/// ```no_run
/// # async fn example(vow: vow::Vow, order: orders::Order) -> Result<(), Box<dyn std::error::Error>> {
/// let flow = vow.flow();
/// let outcome = orders::place(&flow, "my-orders-table", order);
/// vow.start(&flow).await?;
/// println!("{:?}", vow.wait(&outcome, std::time::Duration::from_secs(60)).await?);
/// # Ok(()) }
/// ```
pub fn place(flow: &Flow, orders_table: &str, order: Order) -> Promise<Outcome> {
    let order_id = order.order_id.clone();
    flow.when(Validate {
        table: orders_table.to_owned(),
        order,
    })
    .then(Fulfil {
        table: orders_table.to_owned(),
        order_id,
    })
}

/// Validate and price the order, and record it.
#[derive(Debug, Serialize, Deserialize)]
struct Validate {
    table: String,
    order: Order,
}

#[vow::task("orders/validate")]
impl Task for Validate {
    type Input = ();
    type Output = Priced;
    async fn run(self, _: (), _cx: &Cx) -> Result<Resolution<Priced>, Error> {
        match price(&self.order) {
            Ok(priced) => match table::create(&self.table, Ok(&priced)).await? {
                // Recorded now, or by an earlier attempt of this step.
                None | Some(Status::Validated) => done(priced),
                Some(status) => Err(Error::permanent(format!(
                    "order {} was placed before and is {}",
                    self.order.order_id,
                    status.as_str()
                ))),
            },
            Err(reason) => {
                table::create(&self.table, Err((&self.order, &reason))).await?;
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

#[vow::task("orders/fulfil")]
impl Task for Fulfil {
    type Input = Result<Priced, Failure>;
    type Output = Outcome;
    async fn run(self, validated: Self::Input, cx: &Cx) -> Result<Resolution<Outcome>, Error> {
        let priced = match validated {
            Ok(priced) => priced,
            // Invalid: recorded as rejected by `validate`.
            Err(f) if f.kind() == FailureKind::Error => {
                return done(Outcome::Rejected {
                    order_id: self.order_id,
                    reason: f.message().to_owned(),
                })
            }
            // Crashed or timed out: the workflow fails, for an operator to see.
            Err(f) => return Err(f.into()),
        };
        let stock = cx.when(ReserveStock {
            table: self.table.clone(),
            order: priced.order.clone(),
        });
        let payment = cx.when(ChargePayment {
            table: self.table.clone(),
            priced: priced.clone(),
        });
        let finish = cx.all([stock, payment]).then(Finish {
            table: self.table,
            priced,
        });
        adopt(finish)
    }
}

/// Reserve the order's items at the warehouse.
#[derive(Debug, Serialize, Deserialize)]
struct ReserveStock {
    table: String,
    order: Order,
}

#[vow::task("orders/reserve-stock")]
impl Task for ReserveStock {
    type Input = ();
    type Output = String;
    async fn run(self, _: (), _cx: &Cx) -> Result<Resolution<String>, Error> {
        let reservation = services::reserve_stock(&self.order)
            .await
            .map_err(Error::permanent)?;
        let fields = [
            ("stock", "reserved".to_owned()),
            ("reservation_id", reservation.clone()),
        ];
        table::update(
            &self.table,
            &self.order.order_id,
            &fields,
            &[Status::Validated],
        )
        .await?;
        done(reservation)
    }
}

/// Charge the order's total to the customer's card.
#[derive(Debug, Serialize, Deserialize)]
struct ChargePayment {
    table: String,
    priced: Priced,
}

#[vow::task("orders/charge-payment")]
impl Task for ChargePayment {
    type Input = ();
    type Output = String;
    async fn run(self, _: (), _cx: &Cx) -> Result<Resolution<String>, Error> {
        let payment = services::charge(&self.priced)
            .await
            .map_err(Error::permanent)?;
        let fields = [
            ("payment", "charged".to_owned()),
            ("payment_id", payment.clone()),
        ];
        let id = &self.priced.order.order_id;
        table::update(&self.table, id, &fields, &[Status::Validated]).await?;
        done(payment)
    }
}

/// Confirm the order, or undo what succeeded and cancel it.
#[derive(Debug, Serialize, Deserialize)]
struct Finish {
    table: String,
    priced: Priced,
}

#[vow::task("orders/finish")]
impl Task for Finish {
    type Input = Result<Vec<Result<String, Failure>>, Failure>;
    type Output = Outcome;
    async fn run(self, both: Self::Input, cx: &Cx) -> Result<Resolution<Outcome>, Error> {
        let order_id = self.priced.order.order_id.clone();
        let mut both = both?.into_iter();
        let (stock, payment) = match (both.next(), both.next()) {
            (Some(stock), Some(payment)) => (stock, payment),
            _ => {
                return Err(Error::permanent(
                    "finish expects the stock and payment outcomes",
                ))
            }
        };
        if let (Ok(reservation_id), Ok(payment_id)) = (&stock, &payment) {
            let fields = [("status", Status::Confirmed.as_str().to_owned())];
            let from = [Status::Validated, Status::Confirmed];
            table::update(&self.table, &order_id, &fields, &from).await?;
            return done(Outcome::Confirmed {
                order_id,
                total_cents: self.priced.total_cents,
                reservation_id: reservation_id.clone(),
                payment_id: payment_id.clone(),
            });
        }
        let reason = [&stock, &payment]
            .iter()
            .filter_map(|r| r.as_ref().err())
            .map(|f| f.message())
            .collect::<Vec<_>>()
            .join("; ");
        let mut undo = Vec::new();
        if let Ok(reservation_id) = stock {
            undo.push(cx.when(ReleaseStock {
                table: self.table.clone(),
                order_id: order_id.clone(),
                reservation_id,
            }));
        }
        if let Ok(payment_id) = payment {
            undo.push(cx.when(RefundPayment {
                table: self.table.clone(),
                order_id: order_id.clone(),
                payment_id,
            }));
        }
        if undo.is_empty() {
            return cancel(&self.table, order_id, reason, Vec::new()).await;
        }
        adopt(cx.all(undo).then(Cancel {
            table: self.table,
            order_id,
            reason,
        }))
    }
}

/// Compensation: release a reservation.
#[derive(Debug, Serialize, Deserialize)]
struct ReleaseStock {
    table: String,
    order_id: String,
    reservation_id: String,
}

#[vow::task("orders/release-stock")]
impl Task for ReleaseStock {
    type Input = ();
    type Output = String;
    async fn run(self, _: (), _cx: &Cx) -> Result<Resolution<String>, Error> {
        services::release_stock(&self.reservation_id).await;
        let fields = [("stock", "released".to_owned())];
        table::update(&self.table, &self.order_id, &fields, &[Status::Validated]).await?;
        done(self.reservation_id)
    }
}

/// Compensation: refund a charge.
#[derive(Debug, Serialize, Deserialize)]
struct RefundPayment {
    table: String,
    order_id: String,
    payment_id: String,
}

#[vow::task("orders/refund-payment")]
impl Task for RefundPayment {
    type Input = ();
    type Output = String;
    async fn run(self, _: (), _cx: &Cx) -> Result<Resolution<String>, Error> {
        services::refund(&self.payment_id).await;
        let fields = [("payment", "refunded".to_owned())];
        table::update(&self.table, &self.order_id, &fields, &[Status::Validated]).await?;
        done(self.payment_id)
    }
}

/// Cancel the order once its compensations ran.
#[derive(Debug, Serialize, Deserialize)]
struct Cancel {
    table: String,
    order_id: String,
    reason: String,
}

#[vow::task("orders/cancel")]
impl Task for Cancel {
    type Input = Result<Vec<Result<String, Failure>>, Failure>;
    type Output = Outcome;
    async fn run(self, undone: Self::Input, _cx: &Cx) -> Result<Resolution<Outcome>, Error> {
        let failed: Vec<String> = match &undone {
            Ok(all) => all
                .iter()
                .filter_map(|r| r.as_ref().err().map(ToString::to_string))
                .collect(),
            Err(f) => vec![f.to_string()],
        };
        cancel(&self.table, self.order_id, self.reason, failed).await
    }
}

/// Record the order as cancelled for `reason`, or, if some compensations
/// `failed` even after their retries, fail the workflow and mark the order for
/// someone to settle by hand.
async fn cancel(
    table: &str,
    order_id: String,
    reason: String,
    failed: Vec<String>,
) -> Result<Resolution<Outcome>, Error> {
    let from = [
        Status::Validated,
        Status::Cancelled,
        Status::CompensationFailed,
    ];
    if failed.is_empty() {
        let fields = [
            ("status", Status::Cancelled.as_str().to_owned()),
            ("reason", reason.clone()),
        ];
        table::update(table, &order_id, &fields, &from).await?;
        return done(Outcome::Cancelled { order_id, reason });
    }
    let why = format!("{reason}; undoing failed: {}", failed.join("; "));
    let fields = [
        ("status", Status::CompensationFailed.as_str().to_owned()),
        ("reason", why.clone()),
    ];
    table::update(table, &order_id, &fields, &from).await?;
    Err(Error::permanent(why))
}
