//! The chaos run: `chaos [--workflows N] [--backend aws|memory] [--seed S]`.
//! Drives workflows through injected faults and checks every one. The last line
//! reads `workflows=<n> faults=<m> lost=<x> double=<y> wrong=<z>`; the exit code
//! is non-zero unless x, y and z are 0.

use std::process::ExitCode;
use std::time::Duration;
use vow_e2e::chaos::{aws_rig, default_faults, memory_rig};

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
    };
    let workflows: usize = match value("--workflows").map(|v| v.parse()) {
        None => 300,
        Some(Ok(n)) => n,
        Some(Err(_)) => return usage("--workflows takes a number"),
    };
    let seed: u64 = match value("--seed").map(|v| v.parse()) {
        None => 7,
        Some(Ok(n)) => n,
        Some(Err(_)) => return usage("--seed takes a number"),
    };
    let backend = value("--backend").map_or("aws", String::as_str);
    let faults = default_faults(seed);
    eprintln!("chaos: {workflows} workflows on {backend}, faults {faults:?}");
    let rig = match backend {
        "memory" => memory_rig(faults, 8, Duration::from_secs(2)),
        "aws" => {
            vow_e2e::require_emulators();
            aws_rig("chaos", faults, 8, 3).await
        }
        other => return usage(&format!("unknown backend `{other}`")),
    };
    match rig.run(workflows, Duration::from_secs(900)).await {
        Ok(report) => {
            println!("{report}");
            if report.clean() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("chaos run failed to start: {e}");
            ExitCode::FAILURE
        }
    }
}

fn usage(why: &str) -> ExitCode {
    eprintln!("{why}\nusage: chaos [--workflows N] [--backend aws|memory] [--seed S]");
    ExitCode::from(2)
}
