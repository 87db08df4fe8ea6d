//! What the workflow works on: orders, the shop's catalogue and outcomes.

use serde::{Deserialize, Serialize};

/// An order as the shop's application submits it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// The order's id, unique per order: it names its record.
    pub order_id: String,
    /// What is ordered.
    pub lines: Vec<Line>,
    /// The payment provider's token for the customer's card.
    pub card: String,
}

/// One line of an order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    /// The product's stock-keeping unit (see [`CATALOGUE`]).
    pub sku: String,
    /// How many.
    pub quantity: u32,
}

/// How an order ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// Stock reserved and card charged.
    Confirmed {
        /// The order's id.
        order_id: String,
        /// What was charged, in cents.
        total_cents: u64,
    },
    /// Invalid (an unknown product, no lines): nothing was reserved or charged.
    Rejected {
        /// The order's id.
        order_id: String,
        /// Why.
        reason: String,
    },
    /// Valid, but the stock or the payment failed.
    Cancelled {
        /// The order's id.
        order_id: String,
        /// Why.
        reason: String,
    },
}

/// What the shop sells: SKU, price in cents, units in stock. `kettle` is sold
/// out. Replace it with your own data (behind a seam like [`crate::OrderStore`]).
pub const CATALOGUE: &[(&str, u64, u32)] = &[
    ("espresso-beans", 1_800, 500),
    ("grinder", 12_900, 20),
    ("kettle", 4_900, 0),
];

/// The card token the stand-in payment provider declines.
pub const DECLINED_CARD: &str = "tok_declined";

/// The order's total in cents, or why it is invalid.
pub(crate) fn price(order: &Order) -> Result<u64, String> {
    if order.lines.is_empty() {
        return Err("an order needs at least one line".to_owned());
    }
    let mut total: u64 = 0;
    for line in &order.lines {
        let (_, cents, _) = CATALOGUE
            .iter()
            .find(|(sku, _, _)| *sku == line.sku)
            .ok_or_else(|| format!("unknown product `{}`", line.sku))?;
        total = total.saturating_add(cents.saturating_mul(u64::from(line.quantity)));
    }
    Ok(total)
}

/// Whether the warehouse has every line in stock.
pub(crate) fn in_stock(order: &Order) -> Result<(), String> {
    for line in &order.lines {
        let stock = CATALOGUE
            .iter()
            .find(|(sku, _, _)| *sku == line.sku)
            .map_or(0, |(_, _, stock)| *stock);
        if line.quantity > stock {
            return Err(format!("`{}` is out of stock", line.sku));
        }
    }
    Ok(())
}
