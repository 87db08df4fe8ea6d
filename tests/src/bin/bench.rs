//! The cost, speed and latency benchmark:
//! `bench [--chain N] [--all N] [--map N] [--join N] [--latency N] [--starts N]
//! [--gather-ms N] [--hops N] [--waits N] [--bounds N] [--worker PATH] [--baseline-lambda PATH]`. A workload of
//! fewer than two steps is skipped.
//!
//! 1. With the release binaries of the vow worker and of the baseline function
//!    (`--worker`, `--baseline-lambda`), each under a stand-in of the Lambda
//!    runtime API: the median of `--starts` cold starts and the CPU time per
//!    step of a warm instance.
//! 2. Each workload through vow and through a raw SDK baseline on the
//!    emulators, priced (and Lambda priced from the CPU time per step).
//! 3. Latencies (`--latency 0` skips them): hops (in a chain of `--hops`
//!    steps, 200 by default), inline steps, joins of 10
//!    and 1,000, start to first step, for vow (with its settle gather window
//!    set by `--gather-ms`, default 10) and the baseline.
//! 4. An `all` over `--join` children (0 skips it), for its cost and as one
//!    more join latency, through vow and the baseline.
//! 5. What waiting costs (`--waits 0` skips it): a hundred sleeps of an hour
//!    and of 30 days, an idle yearly schedule for a week, and the sweep of the
//!    timer index, priced: `waits usd_per_million_sleeps_1h=<x>
//!    usd_per_million_sleeps_30d=<y> schedule_idle_usd_per_week=<z>
//!    sweep_usd_per_month=<w>`.
//! 6. The engine's bounds, on the embedded backend (`--bounds 0` skips
//!    them): an adoption loop of 100,000 iterations and the peak memory of
//!    the successor of a 1,000,000-member join of small values: `bounds
//!    adoption_100k_s=<x> join_1m_successor_peak_mb=<y>`.
//!
//! The last lines read `latency vow hop_p50_ms=<x> …`, the same for the
//! baseline, and `usd_per_million_steps=<x> writes_per_step=<y>
//! sqs_requests_per_step=<z> vs_baseline=<r>`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use vow::aws::LIST_PRICES;
use vow_e2e::bench::{run_baseline, run_vow, summary, Compute, Workload, WORKERS};
use vow_e2e::coldstart::{self, Figures, Function};
use vow_e2e::latency::{self, Figure, Percentiles, Plan};

const USAGE: &str = "usage: bench [--chain N] [--all N] [--map N] [--join N] [--latency N] \
                     [--starts N] [--gather-ms N] [--hops N] [--waits N] [--bounds N] \
                     [--worker PATH] [--baseline-lambda PATH]";

/// Counts the bytes allocated and their peak, for `join_1m_successor_peak_mb`.
#[global_allocator]
static ALLOCATOR: peak_alloc::PeakAlloc = peak_alloc::PeakAlloc;

/// Memory size the Lambda price is computed at (arm64).
const MEMORY_MB: u32 = 256;

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .map(|i| args.get(i + 1).cloned())
    };
    let mut sizes = [
        ("--chain", 1_000u32),
        ("--all", 10_000),
        ("--map", 10_000),
        ("--join", 100_000),
        ("--latency", 1),
        ("--starts", 9),
        ("--gather-ms", u32::MAX),
        ("--hops", Plan::default().hop_chain),
        ("--waits", 1),
        ("--bounds", 1),
    ];
    for (flag, size) in &mut sizes {
        match value(flag) {
            None => {}
            Some(Some(v)) if v.parse::<u32>().is_ok() => *size = v.parse().unwrap_or(*size),
            Some(_) => {
                eprintln!("{flag} takes a number\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let [chain, all, map, join, latency_on, starts, gather_ms, hops, waits, bounds] =
        sizes.map(|(_, n)| n);
    let mut paths = [("--worker", None), ("--baseline-lambda", None)];
    for (flag, path) in &mut paths {
        match value(flag) {
            None => {}
            Some(Some(p)) => *path = Some(PathBuf::from(p)),
            Some(None) => {
                eprintln!("{flag} takes a path\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let [(_, worker), (_, baseline_lambda)] = paths;
    println!(
        "{WORKERS} worker loops each for vow and the baseline; prices per million: \
         SQS request ${:.3}, write unit ${:.3}, read unit ${:.3}, Lambda request ${:.3}, \
         Lambda GB-second (arm64) ${:.4}",
        LIST_PRICES.sqs_request * 1e6,
        LIST_PRICES.write_unit * 1e6,
        LIST_PRICES.read_unit * 1e6,
        LIST_PRICES.lambda_request * 1e6,
        LIST_PRICES.lambda_gb_second * 1e6,
    );

    let mut functions = HashMap::new();
    for (who, function, binary) in [
        ("vow", Function::Vow, &worker),
        ("baseline", Function::Baseline, &baseline_lambda),
    ] {
        let Some(binary) = binary else { continue };
        eprintln!("timing cold starts and CPU of {}…", binary.display());
        match coldstart::measure(function, binary, starts as usize, 200).await {
            Ok(figures) => {
                println!("{}", function_line(who, &figures));
                functions.insert(who, figures);
            }
            Err(e) => {
                eprintln!("{who} function under the runtime stand-in failed: {e:?}");
                return ExitCode::FAILURE;
            }
        }
    }
    let compute = |who: &str| {
        functions.get(who).map(|f| Compute {
            cpu_us_per_step: f.cpu_us_per_step,
            memory_mb: MEMORY_MB,
        })
    };

    let mut vow_runs = Vec::new();
    let mut baseline_runs = Vec::new();
    for workload in [
        Workload::Chain(chain),
        Workload::All(all),
        Workload::MapCount(map),
    ] {
        if workload.steps() < 2 {
            continue;
        }
        eprintln!(
            "running {} through vow, then the baseline…",
            workload.name()
        );
        let (run, _) = run_vow(workload).await;
        println!("{}", run.line("vow", compute("vow").as_ref()));
        let base = run_baseline(workload).await;
        println!("{}", base.line("baseline", compute("baseline").as_ref()));
        println!(
            "{:<8} {:<15} vs_baseline={:.2}",
            "ratio",
            workload.name(),
            run.steps_per_sec() / base.steps_per_sec()
        );
        vow_runs.push(run);
        baseline_runs.push(base);
    }

    let plan = Plan {
        gather_for: (gather_ms != u32::MAX)
            .then(|| std::time::Duration::from_millis(u64::from(gather_ms))),
        hop_chain: hops,
        ..Plan::default()
    };
    let (mut vow_latency, mut baseline_latency) = (Vec::new(), Vec::new());
    if latency_on > 0 {
        eprintln!("measuring latencies through vow, then the baseline…");
        vow_latency = latency::vow_latencies(&plan, WORKERS).await;
        print_figures("vow", &vow_latency);
        baseline_latency = latency::baseline_latencies(&plan, WORKERS).await;
        print_figures("baseline", &baseline_latency);
    }

    if join > 0 {
        eprintln!("running an all over {join} children…");
        latency::take_samples();
        let (run, max_writes) = run_vow(Workload::Join(join)).await;
        let gap = (
            format!("join-{join}"),
            Percentiles::of(&latency::take_samples()),
        );
        println!("{}", run.line("vow", compute("vow").as_ref()));
        println!(
            "join-{join}: completed, no slot settled twice, max_item_bytes={} max_writes_per_item={} \
             usd_per_child={:.9} (usd_per_million_children={:.3})",
            run.counts.max_item_bytes,
            max_writes,
            run.usd_per_million() / 1e6,
            run.usd_per_million()
        );
        print_figures("vow", std::slice::from_ref(&gap));
        vow_latency.push(gap);
        if latency_on > 0 {
            eprintln!("the same join through the baseline…");
            let plan = Plan {
                hop_chain: 0,
                inline_chain: 0,
                starts: 0,
                joins: vec![(join, 1)],
                gather_for: None,
            };
            let gaps = latency::baseline_latencies(&plan, WORKERS).await;
            print_figures("baseline", &gaps);
            baseline_latency.extend(gaps);
        }
    }

    if waits > 0 {
        eprintln!(
            "measuring what waiting costs: sleeps of an hour and of 30 days, an idle schedule…"
        );
        println!("{}", vow_e2e::bench::WaitCosts::measure().await.line());
    }

    if bounds > 0 {
        eprintln!("measuring bounds: an adoption loop of 100,000, a join of 1,000,000…");
        let adoption = vow_e2e::bounds::adoption_loop_secs(100_000).await;
        let join = vow_e2e::bounds::join_successor_peak_bytes(
            1_000_000,
            || ALLOCATOR.current_usage(),
            || ALLOCATOR.peak_usage(),
            || ALLOCATOR.reset_peak_usage(),
        )
        .await;
        match (adoption, join) {
            (Ok(secs), Ok(bytes)) => println!(
                "bounds adoption_100k_s={secs:.1} join_1m_successor_peak_mb={:.0} \
                 (embedded backend, this binary)",
                bytes as f64 / 1e6
            ),
            (a, j) => {
                eprintln!("bounds failed: {a:?} {j:?}");
                return ExitCode::FAILURE;
            }
        }
    }

    for (who, figures) in [("vow", &vow_latency), ("baseline", &baseline_latency)] {
        println!("{}", last_line(who, figures, functions.get(who)));
    }
    if !vow_runs.is_empty() {
        println!("{}", summary(&vow_runs, &baseline_runs));
    }
    ExitCode::SUCCESS
}

fn function_line(who: &str, f: &Figures) -> String {
    let ms = |d: Option<std::time::Duration>| d.map_or(f64::NAN, |d| d.as_secs_f64() * 1e3);
    format!(
        "function {who:<8} binary_bytes={} starts={} ready_ms={:.1} cold_start_ms={:.1} \
         (median; each: {}) cpu_us_per_step={:.0} over {} steps, wall_ms_per_invocation={:.1} \
         (10 steps, on the emulators)",
        f.binary_bytes,
        f.starts.len(),
        ms(f.ready()),
        ms(f.cold_start()),
        f.starts
            .iter()
            .map(|s| format!("{:.0}", s.served.as_secs_f64() * 1e3))
            .collect::<Vec<_>>()
            .join(","),
        f.cpu_us_per_step,
        f.cpu_steps,
        f.wall_per_invocation.as_secs_f64() * 1e3,
    )
}

fn print_figures(who: &str, figures: &[Figure]) {
    for (name, p) in figures {
        match p {
            Some(p) => println!("latency  {who:<8} {name:<12} {p}"),
            None => println!("latency  {who:<8} {name:<12} n=0"),
        }
    }
}

/// `hop_p50_ms=… hop_p99_ms=… inline_p50_ms=… join_p50_ms=… start_p50_ms=…
/// cold_start_ms=… cpu_us_per_step=…` (`join` is the join of 1,000; `-` where
/// not measured).
fn last_line(who: &str, figures: &[Figure], function: Option<&Figures>) -> String {
    let get = |name: &str, pick: fn(&Percentiles) -> f64| {
        figures
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, p)| p.as_ref())
            .map_or("-".to_owned(), |p| format!("{:.1}", pick(p)))
    };
    let mut line = format!(
        "latency {who:<8} hop_p50_ms={} hop_p99_ms={} inline_p50_ms={} join_p50_ms={} \
         start_p50_ms={}",
        get("hop", |p| p.p50_ms),
        get("hop", |p| p.p99_ms),
        get("inline", |p| p.p50_ms),
        get("join-1000", |p| p.p50_ms),
        get("start", |p| p.p50_ms),
    );
    match function {
        Some(f) => line.push_str(&format!(
            " cold_start_ms={:.0} cpu_us_per_step={:.0}",
            f.cold_start().map_or(f64::NAN, |d| d.as_secs_f64() * 1e3),
            f.cpu_us_per_step
        )),
        None => line.push_str(" cold_start_ms=- cpu_us_per_step=-"),
    }
    line
}
