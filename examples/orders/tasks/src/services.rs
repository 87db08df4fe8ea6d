//! The outside world: the product catalogue, the warehouse and the payment
//! provider. Here they are deterministic stand-ins, so the example runs
//! anywhere; in a real shop each function is a call to that service's API,
//! made idempotent with the order id as the idempotency key, because a vow task
//! that fails with a retryable error runs again.

use crate::model::{Order, Priced};

/// A product the shop sells.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Product {
    /// Its stock-keeping unit.
    pub sku: &'static str,
    /// Its price, in cents.
    pub price_cents: u64,
    /// How many the warehouse can reserve for one order.
    pub in_stock: u32,
}

/// Everything the shop sells. `kettle` is sold out.
pub const CATALOGUE: &[Product] = &[
    Product {
        sku: "espresso-beans",
        price_cents: 1_800,
        in_stock: 500,
    },
    Product {
        sku: "grinder",
        price_cents: 12_900,
        in_stock: 20,
    },
    Product {
        sku: "kettle",
        price_cents: 4_900,
        in_stock: 0,
    },
];

/// The test card token the payment provider declines.
pub const DECLINED_CARD: &str = "tok_chargeDeclined";

/// The catalogue entry for `sku`.
pub fn product(sku: &str) -> Option<&'static Product> {
    CATALOGUE.iter().find(|p| p.sku == sku)
}

/// Reserve the order's items; the reservation's id, or why not.
pub(crate) async fn reserve_stock(order: &Order) -> Result<String, String> {
    for line in &order.lines {
        let available = product(&line.sku).map_or(0, |p| p.in_stock);
        if line.quantity > available {
            return Err(format!("out of stock: {} ({available} left)", line.sku));
        }
    }
    Ok(format!("res-{}", order.order_id))
}

/// Release a reservation (idempotent).
pub(crate) async fn release_stock(_reservation_id: &str) {}

/// Charge the order's total to its card; the charge's id, or why not.
pub(crate) async fn charge(priced: &Priced) -> Result<String, String> {
    if priced.order.payment_token == DECLINED_CARD {
        return Err("payment declined: card declined by the issuer".to_owned());
    }
    Ok(format!("pay-{}", priced.order.order_id))
}

/// Refund a charge in full (idempotent).
pub(crate) async fn refund(_payment_id: &str) {}
