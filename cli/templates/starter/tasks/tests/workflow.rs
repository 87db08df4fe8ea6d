//! The workflow end to end on the embedded backend: no AWS, no emulator.

use {{crate}}::{InMemory, Line, Order, OrderStore, Outcome};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use vow::Vow;

const TABLE: &str = "orders";

/// This test process's store (tasks find it through the seam).
fn store() -> &'static Arc<InMemory> {
    static STORE: OnceLock<Arc<InMemory>> = OnceLock::new();
    STORE.get_or_init(|| {
        let store = Arc::new(InMemory::new());
        assert!({{crate}}::install_store(store.clone()), "installed first");
        store
    })
}

fn order(id: &str, lines: &[(&str, u32)], card: &str) -> Order {
    Order {
        order_id: id.to_owned(),
        lines: lines
            .iter()
            .map(|(sku, quantity)| Line {
                sku: (*sku).to_owned(),
                quantity: *quantity,
            })
            .collect(),
        card: card.to_owned(),
    }
}

/// Run the workflow for `order`; its outcome and the order's recorded status.
async fn place(order: Order) -> (Outcome, String) {
    let store = store();
    let id = order.order_id.clone();
    let mut vow = Vow::embedded();
    let flow = vow.flow();
    let outcome = {{crate}}::place(&flow, TABLE, order);
    vow.start(&flow).await.expect("started");
    let outcome = vow.wait(&outcome, Duration::from_secs(30)).await;
    vow.shutdown().await;
    let outcome = outcome.expect("settled").expect("an outcome");
    let record = store.load(TABLE, &id).await.expect("read");
    (outcome, record.expect("recorded").status)
}

#[tokio::test]
async fn an_order_in_stock_is_confirmed() {
    let (outcome, status) = place(order(
        "o-1",
        &[("grinder", 1), ("espresso-beans", 2)],
        "tok_visa",
    ))
    .await;
    let total_cents = 12_900 + 2 * 1_800;
    let order_id = "o-1".to_owned();
    assert_eq!(
        outcome,
        Outcome::Confirmed {
            order_id,
            total_cents
        }
    );
    assert_eq!(status, "confirmed");
}

#[tokio::test]
async fn an_unknown_product_is_rejected() {
    let (outcome, status) = place(order("o-2", &[("teapot", 1)], "tok_visa")).await;
    assert!(
        matches!(&outcome, Outcome::Rejected { reason, .. } if reason.contains("teapot")),
        "{outcome:?}"
    );
    assert_eq!(status, "rejected");
}

#[tokio::test]
async fn a_declined_card_or_missing_stock_cancels() {
    let declined = order("o-3", &[("grinder", 1)], {{crate}}::DECLINED_CARD);
    let (outcome, status) = place(declined).await;
    assert!(
        matches!(&outcome, Outcome::Cancelled { reason, .. } if reason.contains("declined")),
        "{outcome:?}"
    );
    assert_eq!(status, "cancelled");
    let (outcome, _) = place(order("o-4", &[("kettle", 1)], "tok_visa")).await;
    assert!(
        matches!(&outcome, Outcome::Cancelled { reason, .. } if reason.contains("out of stock")),
        "{outcome:?}"
    );
}
