//! Place an order and wait for its outcome: what the shop's application does.
//!
//! ```sh
//! # against a deployed stack (its QueueUrl, TableName and OrdersTableName outputs)
//! export VOW_QUEUE_URL=... VOW_TABLE_NAME=...
//! cargo run --example place-order -- --orders-table NAME grinder:1 espresso-beans:2
//! ```
//!
//! Arguments: `--orders-table NAME` (required), `--card TOKEN` (default
//! `tok_visa`; `tok_chargeDeclined` is declined), `--workers` (run the tasks in
//! this process, when no Lambda serves the queue), then `sku:quantity` lines.
//! Exits 0 when the order is confirmed, 1 otherwise.

use std::time::Duration;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (mut table, mut card, mut workers, mut lines) =
        (None, "tok_visa".to_owned(), false, Vec::new());
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--orders-table" => table = args.next(),
            "--card" => card = args.next().ok_or("--card needs a token")?,
            "--workers" => workers = true,
            line => {
                let (sku, quantity) = line
                    .split_once(':')
                    .ok_or_else(|| format!("`{line}`: expected sku:quantity"))?;
                lines.push(orders::Line {
                    sku: sku.to_owned(),
                    quantity: quantity.parse()?,
                });
            }
        }
    }
    let table = table.ok_or("--orders-table NAME is required (the OrdersTableName output)")?;
    let mut vow = vow::Vow::aws().await?;
    if workers {
        vow::check_tasks(&[orders::tasks()])?;
        vow.run_workers(2, None, Duration::from_secs(1));
    }
    let order = orders::Order {
        order_id: format!("order-{}", &vow::PromiseId::random().as_str()[..12]),
        customer: "ada@example.com".to_owned(),
        lines,
        payment_token: card,
    };
    let flow = vow.flow();
    let outcome = orders::place(&flow, &table, order);
    vow.start(&flow).await?;
    println!("workflow {}", outcome.id());
    let outcome = vow.wait(&outcome, Duration::from_secs(120)).await?;
    println!("{outcome:?}");
    match outcome {
        Ok(orders::Outcome::Confirmed { .. }) => Ok(()),
        _ => std::process::exit(1),
    }
}
