//! Place an order: what the shop's application does.
//!
//! ```sh
//! cargo run --example place-order -- grinder:1        # embedded: runs here, no AWS
//! vow run --example place-order -- grinder:1          # on `vow dev`'s emulators, or a
//!                                                     # deployed stack (VOW_QUEUE_URL...)
//! ```
//!
//! Arguments: `--stack` (start the workflow on the stack the environment names,
//! `VOW_QUEUE_URL` and `VOW_TABLE_NAME`, print its id and return: its worker runs
//! it; `vow run` passes it), `--orders-table NAME` (default `{{name}}-orders`),
//! `--card TOKEN` (`tok_declined` is declined), then `sku:quantity` lines
//! (default `grinder:1`).

use std::sync::Arc;
use std::time::Duration;
use vow::Vow;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (mut stack, mut card, mut lines) = (false, "tok_visa".to_owned(), Vec::new());
    let mut table = "{{name}}-orders".to_owned();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--stack" => stack = true,
            "--card" => card = args.next().ok_or("--card needs a token")?,
            "--orders-table" => table = args.next().ok_or("--orders-table needs a name")?,
            line => {
                let (sku, quantity) = line
                    .split_once(':')
                    .ok_or_else(|| format!("`{line}`: expected sku:quantity"))?;
                let quantity = quantity
                    .parse()
                    .map_err(|e| format!("`{line}`: bad quantity: {e}"))?;
                let sku = sku.to_owned();
                lines.push({{crate}}::Line { sku, quantity });
            }
        }
    }
    if lines.is_empty() {
        let sku = "grinder".to_owned();
        lines.push({{crate}}::Line { sku, quantity: 1 });
    }
    let order_id = format!("order-{}", &vow::PromiseId::random().as_str()[..12]);
    let order = {{crate}}::Order {
        order_id,
        lines,
        card,
    };
    let mut vow = if stack {
        Vow::aws().await?
    } else {
        {{crate}}::install_store(Arc::new({{crate}}::InMemory::new()));
        Vow::embedded()
    };
    let flow = vow.flow();
    let outcome = {{crate}}::place(&flow, &table, order);
    vow.start(&flow).await?;
    println!("workflow {}", outcome.id());
    if stack {
        return Ok(()); // the stack's worker runs it: `vow wait <id>`
    }
    let outcome = vow.wait(&outcome, Duration::from_secs(60)).await?;
    vow.shutdown().await;
    println!("{outcome:?}");
    Ok(())
}
