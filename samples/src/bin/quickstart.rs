//! Runs the seed's examples and prints each result; exits non-zero if any is wrong.
//!
//! ```text
//! cargo run -p vow-samples --bin quickstart            # embedded: no AWS, no emulator
//! cargo run -p vow-samples --bin quickstart -- --aws   # SQS + DynamoDB the environment names
//! ```
//!
//! With `--aws`, the client is configured by `vow::Vow::builder()`: `VOW_QUEUE_URL`
//! and `VOW_TABLE_NAME` name a deployed stack (and `VOW_SIGNING_KEYS` signs, as on the
//! stack's workers); when both are unset, a `vow-quickstart` queue and table are
//! created (handy on LocalStack).
//! Workers run in this process unless `--no-workers` says Lambda serves the queue.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use vow::aws::{setup, SqsQueue, ENV_DLQ_URL, ENV_QUEUE_URL, ENV_TABLE_NAME};
use vow::Vow;
use vow_samples::{run_all, seed_dynamo, Table};

const ITEMS: u32 = 10_000;

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let known = ["--aws", "--no-workers"];
    if let Some(bad) = args.iter().find(|a| !known.contains(&a.as_str())) {
        eprintln!("unknown argument `{bad}`; usage: quickstart [--aws [--no-workers]]");
        return ExitCode::from(2);
    }
    let result = if args.iter().any(|a| a == "--aws") {
        on_aws(!args.iter().any(|a| a == "--no-workers")).await
    } else {
        let vow = Vow::embedded();
        Ok(report(
            run_all(
                &vow,
                Table::Synthetic { items: ITEMS },
                Duration::from_secs(120),
            )
            .await,
        ))
    };
    result.unwrap_or_else(|e| {
        eprintln!("quickstart failed: {e}");
        ExitCode::FAILURE
    })
}

async fn on_aws(workers: bool) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let config = vow::aws::sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    // The same builder as every entry point: VOW_SIGNING_KEYS and
    // VOW_RECORD_TTL_DAYS apply here too.
    let builder = Vow::builder().sdk_config(&config);
    let named = |var| std::env::var_os(var).is_some();
    let (builder, dlq) = if named(ENV_QUEUE_URL) || named(ENV_TABLE_NAME) {
        (builder, std::env::var(ENV_DLQ_URL).ok())
    } else {
        eprintln!("{ENV_QUEUE_URL}/{ENV_TABLE_NAME} unset: using vow-quickstart queue and table");
        let (queue_url, dlq_url) = setup::ensure_queues(&sqs, "vow-quickstart", 5, 120).await?;
        let table_name = "vow-quickstart";
        setup::ensure_table(&aws_sdk_dynamodb::Client::new(&config), table_name).await?;
        let builder = builder
            .queue_url(queue_url)
            .table_name(table_name)
            .record_ttl(Duration::from_secs(15 * 86_400)); // the least vow takes
        (builder, Some(dlq_url))
    };
    let vow = builder.build().await?;
    let items = "vow-quickstart-items";
    eprintln!("seeding {ITEMS} items into DynamoDB table {items}...");
    seed_dynamo(items, ITEMS).await.map_err(|e| e.to_string())?;
    let workers = workers.then(|| {
        let dlq =
            dlq.map(|url| Arc::new(SqsQueue::new(sqs.clone(), url)) as Arc<dyn vow::queue::Queue>);
        vow.run_workers(4, dlq, Duration::from_secs(20))
    });
    let table = Table::Dynamo {
        table: items.to_owned(),
    };
    let results = run_all(&vow, table, Duration::from_secs(300)).await;
    if let Some(workers) = workers {
        workers.shutdown().await;
    }
    Ok(report(results))
}

fn report(results: Result<Vec<vow_samples::Checked>, Box<dyn std::error::Error>>) -> ExitCode {
    match results {
        Ok(results) => {
            for r in &results {
                println!("{} {}", if r.ok { "ok  " } else { "FAIL" }, r.line);
            }
            if results.iter().all(|r| r.ok) {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("quickstart failed: {e}");
            ExitCode::FAILURE
        }
    }
}
