//! The progress sample: batches of work crunched in parallel, each reporting
//! how many of its items are done, joined with `all` and summed. The root's
//! [`vow::Vow::progress`] rolls the items up: a batch of 300 items weighs 300
//! units, a step that reports nothing weighs one.

use crate::Sum;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use vow::prelude::*;

/// Crunches `items` items, `pause_ms` each, reporting progress after each one.
#[derive(Debug, Serialize, Deserialize)]
pub struct Crunch {
    /// Items in this batch.
    pub items: u64,
    /// Time per item.
    pub pause_ms: u64,
}

#[vow::task("samples/crunch")]
impl Task for Crunch {
    type Input = ();
    type Output = u64;
    async fn run(self, _: (), cx: &Cx) -> Result<Resolution<u64>, Error> {
        for done in 1..=self.items {
            tokio::time::sleep(Duration::from_millis(self.pause_ms)).await;
            cx.progress(done, self.items).await;
        }
        done(self.items)
    }
}

/// One [`Crunch`] per batch, all of them joined and summed: the total item count.
#[derive(Debug, Serialize, Deserialize)]
pub struct CrunchAll {
    /// Items per batch.
    pub batches: Vec<u64>,
    /// Time per item.
    pub pause_ms: u64,
}

#[vow::task("samples/crunch-all")]
impl Task for CrunchAll {
    type Input = ();
    type Output = u64;
    async fn run(self, _: (), cx: &Cx) -> Result<Resolution<u64>, Error> {
        let pause_ms = self.pause_ms;
        let batches: Vec<_> = (self.batches.iter())
            .map(|&items| cx.when(Crunch { items, pause_ms }))
            .collect();
        adopt(cx.all(batches).then(Sum))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn progress_rolls_up_through_the_join_to_the_root() {
        let vow = Vow::embedded();
        let root = vow
            .when(CrunchAll {
                batches: vec![10, 30],
                pause_ms: 40,
            })
            .await
            .expect("start");
        // Units: the root, the join and the sum (1 each), the join's two member
        // slots (1 each), and the batches' 10 + 30 items.
        let total = 3 + 2 + 40;
        let mut partial = None;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let p = vow.progress(root.id()).await.expect("progress");
            assert!(p.done <= p.total, "{p:?}");
            if p.complete {
                assert_eq!((p.done, p.total, p.settled, p.steps), (total, total, 7, 7));
                break;
            }
            if p.total == total && p.done > 1 && p.done < total - 5 {
                partial = Some(p);
            }
            assert!(tokio::time::Instant::now() < deadline, "{p:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(partial.is_some(), "progress was seen under way");
        assert_eq!(
            vow.wait(&root, Duration::from_secs(5)).await.expect("wait"),
            Ok(40)
        );
    }
}
