//! The order workflow end to end on SQS and DynamoDB (the emulators of
//! `tests/emulators/`, or any endpoint the AWS SDK's environment names): a
//! fresh vow queue pair and table, a fresh orders table, and workers in this
//! process.

use aws_sdk_dynamodb::Client;
use orders::{Line, Order, OrderRecord, Outcome, Status};
use std::time::Duration;
use vow::aws::setup;
use vow::{EngineConfig, Failure, Vow};

struct Shop {
    vow: Vow,
    _workers: vow::Workers,
    dynamodb: Client,
    orders_table: String,
}

async fn shop(name: &str) -> Shop {
    assert!(
        std::env::var_os("AWS_ENDPOINT_URL_SQS").is_some()
            || std::env::var_os("AWS_ENDPOINT_URL").is_some(),
        "no AWS endpoint: start the emulators (tests/emulators/start.sh) and source their env.sh"
    );
    let config = vow::aws::sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let dynamodb = Client::new(&config);
    let unique = format!("orders-{name}-{}", &vow::PromiseId::random().as_str()[..8]);
    let (queue_url, _) = setup::ensure_queues(&sqs, &unique, 5, 30)
        .await
        .expect("create queues");
    setup::ensure_table(&dynamodb, &unique)
        .await
        .expect("create vow's table");
    let orders_table = format!("{unique}-orders");
    orders::create_table(&dynamodb, &orders_table)
        .await
        .expect("create the orders table");
    let mut engine = EngineConfig::default();
    engine.retry_base = Duration::from_millis(50);
    vow::check_tasks(&[orders::tasks()]).expect("the order workflow's tasks");
    let vow = Vow::builder()
        .sdk_config(&config)
        .queue_url(queue_url)
        .table_name(unique)
        .record_ttl(Duration::from_secs(30 * 86_400))
        .engine(engine)
        .build()
        .await
        .expect("the client");
    let workers = vow.run_workers(2, None, Duration::from_secs(1));
    Shop {
        vow,
        _workers: workers,
        dynamodb,
        orders_table,
    }
}

impl Shop {
    async fn place(&self, order: Order) -> Result<Outcome, Failure> {
        let flow = self.vow.flow();
        let outcome = orders::place(&flow, &self.orders_table, order);
        self.vow.start(&flow).await.expect("start");
        self.vow
            .wait(&outcome, Duration::from_secs(60))
            .await
            .expect("the workflow ends")
    }

    async fn record(&self, order_id: &str) -> OrderRecord {
        orders::fetch(&self.dynamodb, &self.orders_table, order_id)
            .await
            .expect("read the order")
            .expect("the order is recorded")
    }
}

fn order(id: &str, lines: &[(&str, u32)], card: &str) -> Order {
    Order {
        order_id: id.to_owned(),
        customer: "ada@example.com".to_owned(),
        lines: lines
            .iter()
            .map(|(sku, quantity)| Line {
                sku: (*sku).to_owned(),
                quantity: *quantity,
            })
            .collect(),
        payment_token: card.to_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_order_in_stock_and_paid_is_confirmed() {
    let shop = shop("confirmed").await;
    let outcome = shop
        .place(order(
            "o-1",
            &[("espresso-beans", 2), ("grinder", 1)],
            "tok_visa",
        ))
        .await;
    assert_eq!(
        outcome,
        Ok(Outcome::Confirmed {
            order_id: "o-1".into(),
            total_cents: 2 * 1_800 + 12_900,
            reservation_id: "res-o-1".into(),
            payment_id: "pay-o-1".into(),
        })
    );
    let record = shop.record("o-1").await;
    assert_eq!(record.status, Status::Confirmed);
    assert_eq!(record.total_cents, Some(16_500));
    assert_eq!(record.stock.as_deref(), Some("reserved"));
    assert_eq!(record.payment.as_deref(), Some("charged"));
    // Placing it again (a client retrying) leaves the confirmed order alone;
    // so does another order under the same id.
    let again = shop
        .place(order(
            "o-1",
            &[("espresso-beans", 2), ("grinder", 1)],
            "tok_visa",
        ))
        .await;
    assert_eq!(
        again,
        Ok(Outcome::Rejected {
            order_id: "o-1".into(),
            reason: "order o-1 was placed before and is confirmed".into(),
        })
    );
    let taken = shop
        .place(order("o-1", &[("grinder", 3)], "tok_visa"))
        .await;
    assert_eq!(
        taken,
        Ok(Outcome::Rejected {
            order_id: "o-1".into(),
            reason: "order id o-1 is taken by another order".into(),
        })
    );
    assert_eq!(shop.record("o-1").await, record);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_declined_card_releases_the_reserved_stock() {
    let shop = shop("declined").await;
    let outcome = shop
        .place(order("o-2", &[("grinder", 1)], orders::DECLINED_CARD))
        .await;
    assert_eq!(
        outcome,
        Ok(Outcome::Cancelled {
            order_id: "o-2".into(),
            reason: "payment declined: card declined by the issuer".into(),
        })
    );
    let record = shop.record("o-2").await;
    assert_eq!(record.status, Status::Cancelled);
    assert_eq!(record.stock.as_deref(), Some("released"));
    assert_eq!(record.payment, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sold_out_item_refunds_the_charge() {
    let shop = shop("sold-out").await;
    let outcome = shop
        .place(order("o-3", &[("grinder", 1), ("kettle", 1)], "tok_visa"))
        .await;
    assert_eq!(
        outcome,
        Ok(Outcome::Cancelled {
            order_id: "o-3".into(),
            reason: "out of stock: kettle (0 left)".into(),
        })
    );
    let record = shop.record("o-3").await;
    assert_eq!(record.status, Status::Cancelled);
    assert_eq!(record.stock, None);
    assert_eq!(record.payment.as_deref(), Some("refunded"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_invalid_order_is_rejected_before_anything_is_reserved_or_charged() {
    let shop = shop("rejected").await;
    let outcome = shop.place(order("o-4", &[("teapot", 1)], "tok_visa")).await;
    assert_eq!(
        outcome,
        Ok(Outcome::Rejected {
            order_id: "o-4".into(),
            reason: "unknown product: teapot".into(),
        })
    );
    let record = shop.record("o-4").await;
    assert_eq!(record.status, Status::Rejected);
    assert_eq!(record.reason.as_deref(), Some("unknown product: teapot"));
    assert_eq!((record.stock, record.payment), (None, None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn out_of_stock_and_declined_cancels_with_both_reasons() {
    let shop = shop("both").await;
    let outcome = shop
        .place(order("o-5", &[("kettle", 1)], orders::DECLINED_CARD))
        .await;
    assert_eq!(
        outcome,
        Ok(Outcome::Cancelled {
            order_id: "o-5".into(),
            reason: "out of stock: kettle (0 left); payment declined: card declined by the issuer"
                .into(),
        })
    );
    let record = shop.record("o-5").await;
    assert_eq!(record.status, Status::Cancelled);
    assert_eq!((record.stock, record.payment), (None, None));
}
