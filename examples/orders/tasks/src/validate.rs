//! Validation and pricing: the first step, and the only one that rejects an
//! order.

use crate::model::{Order, Priced};
use crate::services::product;

/// Longest order id.
const MAX_ID: usize = 64;
/// Most lines in one order.
const MAX_LINES: usize = 50;
/// Most items of one product in one order.
const MAX_QUANTITY: u32 = 100;

/// Check `order` and price it from the catalogue; the reason it is invalid
/// otherwise.
///
/// ```
/// let mut order = orders::Order {
///     order_id: "o-1".into(),
///     customer: "ada@example.com".into(),
///     lines: vec![orders::Line { sku: "grinder".into(), quantity: 1 }],
///     payment_token: "tok_visa".into(),
/// };
/// assert_eq!(orders::price(&order).map(|p| p.total_cents), Ok(12_900));
/// order.lines[0].sku = "teapot".into();
/// assert_eq!(orders::price(&order), Err("unknown product: teapot".to_owned()));
/// ```
pub fn price(order: &Order) -> Result<Priced, String> {
    let id = &order.order_id;
    let id_ok = (1..=MAX_ID).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !id_ok {
        return Err(format!(
            "an order id is 1 to {MAX_ID} letters, digits, `-` or `_`"
        ));
    }
    if order.customer.trim().is_empty() {
        return Err("no customer".to_owned());
    }
    if order.payment_token.trim().is_empty() {
        return Err("no payment method".to_owned());
    }
    if order.lines.is_empty() || order.lines.len() > MAX_LINES {
        return Err(format!("an order has 1 to {MAX_LINES} lines"));
    }
    let mut total: u64 = 0;
    for line in &order.lines {
        let product = product(&line.sku).ok_or_else(|| format!("unknown product: {}", line.sku))?;
        if !(1..=MAX_QUANTITY).contains(&line.quantity) {
            return Err(format!(
                "{}: quantity {} is not 1 to {MAX_QUANTITY}",
                line.sku, line.quantity
            ));
        }
        total = product
            .price_cents
            .checked_mul(u64::from(line.quantity))
            .and_then(|cost| total.checked_add(cost))
            .ok_or_else(|| "the total is too large".to_owned())?;
    }
    Ok(Priced {
        order: order.clone(),
        total_cents: total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Line;

    fn order(lines: &[(&str, u32)]) -> Order {
        Order {
            order_id: "o-1".into(),
            customer: "ada@example.com".into(),
            lines: lines
                .iter()
                .map(|(sku, quantity)| Line {
                    sku: (*sku).into(),
                    quantity: *quantity,
                })
                .collect(),
            payment_token: "tok_visa".into(),
        }
    }

    #[test]
    fn prices_come_from_the_catalogue() {
        let priced = price(&order(&[("espresso-beans", 2), ("grinder", 1)]));
        assert_eq!(priced.map(|p| p.total_cents), Ok(2 * 1_800 + 12_900));
    }

    #[test]
    fn invalid_orders_say_why() {
        let cases = [
            (order(&[]), "an order has 1 to 50 lines"),
            (order(&[("teapot", 1)]), "unknown product: teapot"),
            (
                order(&[("grinder", 0)]),
                "grinder: quantity 0 is not 1 to 100",
            ),
            (
                order(&[("grinder", 101)]),
                "grinder: quantity 101 is not 1 to 100",
            ),
            (order(&[("grinder", 1); 51]), "an order has 1 to 50 lines"),
        ];
        for (order, reason) in cases {
            assert_eq!(price(&order), Err(reason.to_owned()));
        }
        let mut bad_id = order(&[("grinder", 1)]);
        bad_id.order_id = "o 1".into();
        assert!(price(&bad_id).is_err());
        bad_id.order_id = "x".repeat(65);
        assert!(price(&bad_id).is_err());
        let mut no_card = order(&[("grinder", 1)]);
        no_card.payment_token = " ".into();
        assert_eq!(price(&no_card), Err("no payment method".to_owned()));
    }
}
