//! Walking a workflow: a promise and everything it spawned, read from the store
//! by [`Vow::walk`]. A settled promise's record lists its children; a pending
//! step that adopted or deferred lists them in its note; a pending join of
//! unknown size shows the members settled so far.

pub use vow::walk::{Node, Tree};
use vow::{BackendError, PromiseId, Vow};

/// Walk the workflow under `root`, visiting at most `max_nodes` promises.
pub async fn walk(vow: &Vow, root: &PromiseId, max_nodes: usize) -> Result<Tree, BackendError> {
    vow.walk(root, max_nodes).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::tree_text;
    use std::sync::Arc;
    use std::time::Duration;
    use vow::memory::{MemoryQueue, MemoryStore};
    use vow::queue::Queue;
    use vow::wire::{decode_envelope, Target};
    use vow::EngineConfig;

    /// Run the queued messages whose target `keep` accepts; return how many ran.
    async fn work(vow: &Vow, queue: &MemoryQueue, keep: impl Fn(&Target) -> bool) -> usize {
        let batch = queue.receive(10, Duration::ZERO).await.expect("receive");
        let chosen: Vec<_> = batch
            .into_iter()
            .filter(|d| keep(&decode_envelope(&d.body).expect("envelope").target))
            .collect();
        let n = chosen.len();
        let failed = vow.engine().handle_batch(chosen).await;
        assert!(failed.is_empty(), "{failed:?}");
        n
    }

    #[tokio::test]
    async fn pending_workflows_show_what_has_settled() {
        let queue = Arc::new(MemoryQueue::dead_letter_queue());
        let vow = Vow::client(
            Arc::new(MemoryStore::new()),
            queue.clone(),
            EngineConfig::default(),
        );
        let root = vow.when(vow_samples::FanIn { n: 3 }).await.expect("start");
        let root = root.id().clone();
        assert_eq!(work(&vow, &queue, |_| true).await, 1, "the root runs");
        // The root adopted: its note lists the join (of 3) and the sum.
        let join = root.child(0);
        let sum = root.child(1);
        let text = tree_text(&walk(&vow, &root, 100).await.expect("walk"), true);
        let want = format!(
            "{root} pending ran; waiting on its children\n├─ {join} pending\n│  ├─ {join}.0 pending\n│  \
             ├─ {join}.1 pending\n│  └─ {join}.2 pending\n└─ {sum} pending\n"
        );
        assert_eq!(text, want);

        // Members 0 and 2 settle; member 1 stays pending.
        let ran = work(
            &vow,
            &queue,
            |t| matches!(t, Target::Member { index, .. } if *index != 1),
        )
        .await;
        assert_eq!(ran, 2);
        let tree = walk(&vow, &root, 100).await.expect("walk");
        let want = format!(
            "{root} pending ran; waiting on its children\n├─ {join} pending\n│  \
             ├─ {join}.0 done    1\n│  \
             ├─ {join}.1 pending\n│  └─ {join}.2 done    9\n└─ {sum} pending\n"
        );
        assert_eq!(tree_text(&tree, true), want);
        // The root's own step is done; two of the three members are.
        let p = tree.progress();
        assert_eq!((p.done, p.total, p.settled, p.steps), (3, 6, 2, 6));
    }
}
