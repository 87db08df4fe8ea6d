//! Small chaos runs in the normal suite; `./tests/run.sh chaos` runs the big one.

use std::time::Duration;
use vow_e2e::chaos::{aws_rig, default_faults, memory_rig};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chaos_on_the_memory_backend_loses_nothing() {
    let rig = memory_rig(default_faults(11), 6, Duration::from_secs(1));
    let report = rig.run(60, Duration::from_secs(120)).await.expect("starts");
    println!("{report}");
    assert!(report.faults > 20, "{report}");
    assert!(report.clean(), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chaos_on_sqs_and_dynamodb_loses_nothing() {
    let rig = aws_rig("chaos-small", default_faults(12), 6, 3).await;
    let report = rig.run(24, Duration::from_secs(300)).await.expect("starts");
    println!("{report}");
    assert!(report.faults > 10, "{report}");
    assert!(report.clean(), "{report}");
}
