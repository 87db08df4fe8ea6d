//! Runs the seed's examples on the embedded backend and prints each result.
//! Exits non-zero if any result is wrong.

use std::process::ExitCode;
use std::time::Duration;
use vow::Vow;
use vow_samples::{run_all, Table};

#[tokio::main]
async fn main() -> ExitCode {
    let vow = Vow::embedded();
    let table = Table::Synthetic { items: 10_000 };
    match run_all(&vow, table, Duration::from_secs(120)).await {
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
