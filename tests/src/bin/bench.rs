//! The cost and speed benchmark: `bench [--chain N] [--all N] [--map N] [--join N]`.
//! Runs each workload through vow and through a raw SDK baseline on the emulators,
//! then an `all` over `--join` children (0 skips it). The last line reads
//! `usd_per_million_steps=<x> writes_per_step=<y> sqs_requests_per_step=<z> vs_baseline=<r>`.

use std::process::ExitCode;
use vow::aws::LIST_PRICES;
use vow_e2e::bench::{run_baseline, run_vow, summary, Workload, WORKERS};

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut sizes = [
        ("--chain", 1_000u32),
        ("--all", 10_000),
        ("--map", 10_000),
        ("--join", 100_000),
    ];
    for (flag, size) in &mut sizes {
        if let Some(i) = args.iter().position(|a| a == flag) {
            match args.get(i + 1).map(|v| v.parse()) {
                Some(Ok(n)) => *size = n,
                _ => {
                    eprintln!("{flag} takes a number\nusage: bench [--chain N] [--all N] [--map N] [--join N]");
                    return ExitCode::from(2);
                }
            }
        }
    }
    let [chain, all, map, join] = sizes.map(|(_, n)| n);
    println!(
        "{WORKERS} worker loops each for vow and the baseline; prices per million: \
         SQS request ${:.3}, write unit ${:.3}, read unit ${:.3}",
        LIST_PRICES.sqs_request * 1e6,
        LIST_PRICES.write_unit * 1e6,
        LIST_PRICES.read_unit * 1e6
    );
    let mut vow_runs = Vec::new();
    let mut baseline_runs = Vec::new();
    for workload in [
        Workload::Chain(chain),
        Workload::All(all),
        Workload::MapCount(map),
    ] {
        eprintln!(
            "running {} through vow, then the baseline…",
            workload.name()
        );
        let (run, _) = run_vow(workload).await;
        println!("{}", run.line("vow"));
        let base = run_baseline(workload).await;
        println!("{}", base.line("baseline"));
        println!(
            "{:<8} {:<15} vs_baseline={:.2}",
            "ratio",
            workload.name(),
            run.steps_per_sec() / base.steps_per_sec()
        );
        vow_runs.push(run);
        baseline_runs.push(base);
    }
    if join > 0 {
        eprintln!("running an all over {join} children…");
        let (run, max_writes) = run_vow(Workload::All(join)).await;
        println!("{}", run.line("vow"));
        println!(
            "join-{join}: completed, no slot settled twice, max_item_bytes={} max_writes_per_item={} \
             usd_per_child={:.9} (usd_per_million_children={:.3})",
            run.counts.max_item_bytes,
            max_writes,
            run.usd_per_million() / 1e6,
            run.usd_per_million()
        );
    }
    println!("{}", summary(&vow_runs, &baseline_runs));
    ExitCode::SUCCESS
}
