//! The chaos run:
//! `chaos [--workflows N] [--backend aws|memory] [--seed S] [--kill]`.
//! Drives workflows through injected faults (with `--kill`, through worker
//! processes SIGKILLed and restarted) and audits what users observe. The last
//! line reads `workflows=<n> faults=<m> kills=<k> lost=<a> double=<b> wrong=<c>
//! hung=<d> poison_neighbours_dead_lettered=<e>`; the exit code is non-zero
//! unless a, b, c, d and e are 0. Kind `replay` runs in a rig of its own
//! (in-process only); kind `poison` runs with `--kill` only.
//! `VOW_CHAOS_KINDS=kind,kind` runs only those workflow kinds. Besides the
//! main and dead-letter rigs, a third rig runs long sleeps, callbacks and
//! schedules on a test clock moved by days ([`vow_e2e::chaos_waits`]); its
//! injected faults by kind are printed on stderr.

use std::process::ExitCode;
use std::time::Duration;
use vow_e2e::chaos::{
    aws_rig, kinds_from_env, memory_rig, replay_spec, specs, split, ChaosReport, POISON_KIND,
    REPLAY_KIND,
};
use vow_e2e::chaos_waits::WaitsRig;

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
    let kill = args.iter().any(|a| a == "--kill");
    let kinds = kinds_from_env();
    let within = match value("--within").map(|v| v.parse()) {
        None => Duration::from_secs(900),
        Some(Ok(s)) => Duration::from_secs(s),
        Some(Err(_)) => return usage("--within takes seconds"),
    };
    eprintln!("chaos: {workflows} workflows on {backend}, kill={kill}, kinds {kinds:?}");
    let result = if kill {
        vow_e2e::require_emulators();
        vow_e2e::kill::run(workflows, seed, &kinds, within).await
    } else {
        if kinds.contains(&POISON_KIND) {
            eprintln!("chaos: kind `{POISON_KIND}` kills its process: it runs with --kill only");
        }
        let parts = split(workflows, &kinds);
        let memory = backend == "memory";
        let (main_spec, dlq_spec) = specs(seed, memory);
        let replay_spec = replay_spec(seed, memory);
        let (main, dlq, replay, waits) = match backend {
            "memory" => (
                memory_rig(&main_spec, 30),
                memory_rig(&dlq_spec, 2),
                memory_rig(&replay_spec, 30),
                WaitsRig::memory(seed),
            ),
            "aws" => {
                vow_e2e::require_emulators();
                (
                    aws_rig("chaos", &main_spec, 30).await,
                    aws_rig("chaos-dlq", &dlq_spec, 2).await,
                    aws_rig("chaos-replay", &replay_spec, 30).await,
                    WaitsRig::aws(seed).await,
                )
            }
            other => return usage(&format!("unknown backend `{other}`")),
        };
        let dlq_kinds = [vow_e2e::chaos::DLQ_KIND];
        let (a, b, c, d) = tokio::join!(
            main.run(parts.main, &parts.main_kinds, within),
            dlq.run(parts.dlq, &dlq_kinds, within),
            replay.run(parts.replay, &[REPLAY_KIND], within),
            waits.run(parts.waits, &parts.wait_kinds, within)
        );
        match (a, b, c, d) {
            (Ok(a), Ok(b), Ok(c), Ok(d)) => Ok(a.plus(b).plus(c).plus(d)),
            (Err(e), _, _, _) | (_, Err(e), _, _) | (_, _, Err(e), _) | (_, _, _, Err(e)) => Err(e),
        }
    };
    match result {
        Ok(report) => finish(report),
        Err(e) => {
            eprintln!("chaos run failed to start: {e}");
            ExitCode::FAILURE
        }
    }
}

fn finish(report: ChaosReport) -> ExitCode {
    println!("{report}");
    if report.clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn usage(why: &str) -> ExitCode {
    eprintln!("{why}\nusage: chaos [--workflows N] [--backend aws|memory] [--seed S] [--kill] [--within SECS]");
    ExitCode::from(2)
}
