//! Small chaos runs in the normal suite; `./tests/run.sh chaos` runs the big one.

use std::time::Duration;
use vow_e2e::chaos::{
    aws_rig, memory_rig, replay_spec, specs, split, ChaosReport, DLQ_KIND, KINDS, REPLAY_KIND,
};

/// Every kind, `hostile-joined` included: its four-billion-member input is
/// refused when decoded (an engine that allocated by what a message says took
/// the whole test process down with it).
fn kinds() -> Vec<&'static str> {
    KINDS.to_vec()
}

async fn all(
    main: vow_e2e::chaos::Rig,
    dlq: vow_e2e::chaos::Rig,
    replay: vow_e2e::chaos::Rig,
    n: usize,
) -> ChaosReport {
    let mut kinds = kinds();
    kinds.extend([DLQ_KIND, REPLAY_KIND]);
    let parts = split(n, &kinds);
    assert!(parts.replay > 0, "{parts:?}");
    let within = Duration::from_secs(150);
    let (a, b, c) = tokio::join!(
        main.run(parts.main, &parts.main_kinds, within),
        dlq.run(parts.dlq, &[DLQ_KIND], within),
        replay.run(parts.replay, &[REPLAY_KIND], within)
    );
    a.expect("starts")
        .plus(b.expect("starts"))
        .plus(c.expect("starts"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chaos_on_the_memory_backend_loses_nothing() {
    let (main, dlq) = specs(11, true);
    let replay = memory_rig(&replay_spec(11, true), 30);
    let report = all(memory_rig(&main, 30), memory_rig(&dlq, 2), replay, 60).await;
    println!("{report}");
    assert!(report.faults > 20, "{report}");
    assert!(report.clean(), "{report}");
}

/// Sleeps, callbacks and schedules over eight days of the embedded clock,
/// through duplicated ticks and redriven and dead-lettered timers.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn long_waits_on_the_memory_backend_run_each_step_once() {
    let rig = vow_e2e::chaos_waits::WaitsRig::memory(14);
    let kinds = vow_e2e::chaos_waits::WAIT_KINDS;
    let report = rig
        .run(10, kinds, Duration::from_secs(150))
        .await
        .expect("starts");
    println!("{report}");
    assert!(report.faults > 10, "{report}");
    assert!(report.clean(), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chaos_on_sqs_and_dynamodb_loses_nothing() {
    let (main, dlq) = specs(12, false);
    let report = all(
        aws_rig("chaos-small", &main, 30).await,
        aws_rig("chaos-small-dlq", &dlq, 2).await,
        aws_rig("chaos-small-replay", &replay_spec(12, false), 30).await,
        40,
    )
    .await;
    println!("{report}");
    assert!(report.faults > 10, "{report}");
    assert!(report.clean(), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chaos_with_worker_processes_killed_loses_nothing() {
    vow_e2e::require_emulators();
    // Without `POISON_KIND`: a healthy suspect waiting its turn behind a
    // poison can still be taken by another worker and walk to the
    // dead-letter queue (docs/how-it-works.md, "Chaos"), which would make
    // this test flaky. `./tests/run.sh chaos` runs the poison kind.
    let kinds = kinds();
    let report = vow_e2e::kill::run_with(
        std::path::Path::new(env!("CARGO_BIN_EXE_chaos_worker")),
        34,
        13,
        &kinds,
        // A message that fails on every delivery needs 30 receives to reach the
        // dead-letter queue, and under kills each can cost a visibility timeout.
        Duration::from_secs(300),
    )
    .await
    .expect("starts");
    println!("{report}");
    assert!(report.kills >= 5, "{report}");
    assert!(report.clean(), "{report}");
}
