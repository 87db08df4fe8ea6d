//! Bounded against every message: work that is long by design (a loop written
//! as a task adopting its next iteration) runs in a bounded stack and at a
//! cost per iteration that does not grow with the loop's length.

mod common;

use common::*;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use vow::prelude::*;

/// Counts down by adopting its next iteration: the README's advice for loops.
#[derive(Debug, Serialize, Deserialize)]
struct Countdown {
    left: u32,
}

#[vow::task("bounds/countdown")]
impl Task for Countdown {
    type Input = ();
    type Output = String;
    async fn run(self, _: (), cx: &Cx) -> Result<Resolution<String>, Error> {
        if self.left == 0 {
            return done("lift-off".to_owned());
        }
        adopt(cx.when(Countdown {
            left: self.left - 1,
        }))
    }
}

/// Run a countdown of `n` iterations on a thread with a small stack (a Lambda
/// function's or a worker thread's is bounded too), so a depth that grows with
/// the loop shows as an overflow rather than passing on a big main stack.
fn countdown(n: u32) -> (Result<String, Failure>, u64) {
    let thread = std::thread::Builder::new()
        .stack_size(512 * 1024)
        .spawn(move || {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_stack_size(512 * 1024)
                .enable_all()
                .build()
                .expect("runtime")
                .block_on(async move {
                    let vow = embedded();
                    let root = vow.when(Countdown { left: n }).await.expect("start");
                    let outcome = vow
                        .wait(&root, Duration::from_secs(300))
                        .await
                        .expect("wait");
                    let (queue, _) = vow.memory_queues().expect("embedded");
                    (outcome, queue.sent())
                })
        })
        .expect("thread");
    thread.join().expect("no overflow")
}

#[test]
fn an_adoption_loop_of_thousands_of_iterations_finishes_and_costs_the_same_per_iteration() {
    let (outcome, short) = countdown(200);
    assert_eq!(outcome, Ok("lift-off".to_owned()));
    let (outcome, long) = countdown(3_000);
    assert_eq!(outcome, Ok("lift-off".to_owned()));
    // Messages per iteration: the same for a loop 15 times longer.
    let (per_short, per_long) = (short as f64 / 200.0, long as f64 / 3_000.0);
    assert!(per_long <= per_short * 1.2 + 0.05, "{per_short} {per_long}");
}

/// A join of an endless iterator is refused once it passes the limit, not
/// collected until memory runs out.
#[tokio::test]
async fn a_join_of_an_endless_iterator_is_refused_at_the_limit() {
    let vow = embedded();
    let flow = vow.flow();
    let _ = flow.fan_out(std::iter::repeat_with(|| Value(1)));
    let err = vow.start(&flow).await.expect_err("refused");
    assert!(
        err.to_string()
            .contains("a join of more than 1000000 promises"),
        "{err}"
    );
    let flow = vow.flow();
    let one = flow.when(Value(1));
    let _ = flow.all(std::iter::repeat(one));
    assert!(vow.start(&flow).await.is_err());
}
