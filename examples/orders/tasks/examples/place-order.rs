//! Place an order and wait for its outcome: what the shop's application does.
//!
//! ```sh
//! # against a deployed stack (its QueueUrl, TableName and OrdersTableName outputs)
//! export VOW_QUEUE_URL=... VOW_TABLE_NAME=...
//! cargo run --example place-order -- --orders-table NAME grinder:1 espresso-beans:2
//! # against the emulators: creates the queues and tables, runs the tasks here
//! cargo run --example place-order -- --local grinder:1
//! ```
//!
//! Arguments: `--orders-table NAME` (the stack's `OrdersTableName`), or
//! `--local` (create an `orders-local` stack wherever the AWS SDK points, such
//! as the emulators, and run the tasks in this process); `--card TOKEN`
//! (default `tok_visa`; `tok_chargeDeclined` is declined); then `sku:quantity`
//! lines. Prints the workflow's id and its outcome; exits 0 when the order is
//! confirmed, 1 otherwise.

use std::time::Duration;
use vow::aws::setup;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (mut table, mut card, mut local, mut lines) =
        (None, "tok_visa".to_owned(), false, Vec::new());
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--orders-table" => table = args.next(),
            "--card" => card = args.next().ok_or("--card needs a token")?,
            "--local" => local = true,
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
    let (vow, table, _workers) = if local {
        local_stack().await?
    } else {
        let table =
            table.ok_or("pass --orders-table NAME (the stack's OrdersTableName) or --local")?;
        (vow::Vow::aws().await?, table, None)
    };
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

/// An `orders-local` queue pair, vow table and orders table on the emulators
/// the AWS SDK's endpoint variables name, and workers in this process. Refuses
/// any endpoint that is not on this machine, so `--local` never reaches an
/// AWS account.
async fn local_stack(
) -> Result<(vow::Vow, String, Option<vow::Workers>), Box<dyn std::error::Error>> {
    for service in ["SQS", "DYNAMODB"] {
        let var = format!("AWS_ENDPOINT_URL_{service}");
        let url = std::env::var(&var)
            .or_else(|_| std::env::var("AWS_ENDPOINT_URL"))
            .unwrap_or_default();
        if !is_loopback(&url) {
            return Err(format!(
                "--local runs on emulators on this machine only, and {var} is `{url}`: \
                 start them (tests/emulators/start.sh) and export what it prints"
            )
            .into());
        }
    }
    let config = vow::aws::sdk_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);
    let (queue_url, _) = setup::ensure_queues(&sqs, "orders-local", 5, 60).await?;
    setup::ensure_table(&dynamodb, "orders-local").await?;
    orders::create_table(&dynamodb, "orders-local-orders").await?;
    vow::check_tasks(&[orders::tasks()])?;
    let vow = vow::Vow::builder()
        .sdk_config(&config)
        .queue_url(queue_url)
        .table_name("orders-local")
        .record_ttl(Duration::from_secs(30 * 86_400))
        .build()
        .await?;
    let workers = vow.run_workers(2, None, Duration::from_secs(1));
    Ok((vow, "orders-local-orders".to_owned(), Some(workers)))
}

/// Whether `url` is an http(s) URL of this machine.
fn is_loopback(url: &str) -> bool {
    let Some((_, rest)) = url.split_once("://") else {
        return false;
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}
