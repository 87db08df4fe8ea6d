//! What the workflow takes and gives: an order, its priced form, its outcome.

use serde::{Deserialize, Serialize};

/// An order as the shop's front end submits it.
///
/// ```
/// let order = orders::Order {
///     order_id: "o-1001".into(),
///     customer: "ada@example.com".into(),
///     lines: vec![orders::Line { sku: "espresso-beans".into(), quantity: 2 }],
///     payment_token: "tok_visa".into(),
/// };
/// assert_eq!(orders::price(&order).map(|p| p.total_cents), Ok(3_600));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// Its id, chosen by the caller: letters, digits, `-` and `_`, at most 64.
    /// An order whose id was placed before is rejected and leaves the earlier
    /// order as it is.
    pub order_id: String,
    /// Who ordered.
    pub customer: String,
    /// What they ordered.
    pub lines: Vec<Line>,
    /// The payment provider's token for the customer's card.
    pub payment_token: String,
}

/// One line of an order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    /// A product of the catalogue ([`crate::CATALOGUE`]).
    pub sku: String,
    /// How many, 1 to 100.
    pub quantity: u32,
}

/// A validated order with its price, from the catalogue's prices (never from the
/// caller's).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Priced {
    /// The order.
    pub order: Order,
    /// What it costs, in cents.
    pub total_cents: u64,
}

/// How an order ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    /// Stock is reserved and the payment taken.
    Confirmed {
        /// The order.
        order_id: String,
        /// What was charged, in cents.
        total_cents: u64,
        /// The warehouse's reservation.
        reservation_id: String,
        /// The payment provider's charge.
        payment_id: String,
    },
    /// The order was invalid; nothing was reserved or charged.
    Rejected {
        /// The order.
        order_id: String,
        /// Why.
        reason: String,
    },
    /// Reserving or charging failed; whatever succeeded was undone.
    Cancelled {
        /// The order.
        order_id: String,
        /// Why.
        reason: String,
    },
}
