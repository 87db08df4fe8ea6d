//! Walking a workflow: a promise and everything it spawned, read from the store.
//!
//! A settled promise's record lists its children ([`vow::Inspection::children`]).
//! A pending one has no record yet, so its children are discovered: the members
//! of a join under way (up to the highest one settled), and the derived ids
//! `id.child(k)` that have settled or are joins under way.

use std::collections::HashSet;
use std::time::SystemTime;
use vow::store::{shard_key, FAN_IN};
use vow::wire::Outcome;
use vow::{BackendError, Inspection, PromiseId, Vow};

/// Derived child ids probed past the last one found, for a pending promise.
const LOOKAHEAD: u32 = 2;
/// Join shards read at most, for a pending join (16 members each).
const MAX_SHARDS: u32 = 256;

/// One promise of a walked workflow.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// The promise.
    pub id: PromiseId,
    /// Its outcome; `None` while pending.
    pub outcome: Option<Outcome>,
    /// The attempt of its task that settled it.
    pub attempt: Option<u32>,
    /// When it settled.
    pub settled_at: Option<SystemTime>,
    /// Indexes of its children in [`Tree::nodes`].
    pub children: Vec<usize>,
}

impl Node {
    /// A node with no children yet.
    pub fn new(id: PromiseId, outcome: Option<Outcome>) -> Self {
        Node {
            id,
            outcome,
            attempt: None,
            settled_at: None,
            children: Vec::new(),
        }
    }

    fn from_inspection(i: Inspection) -> Self {
        Node {
            attempt: i.attempt,
            settled_at: i.settled_at,
            ..Node::new(i.id, i.outcome)
        }
    }
}

/// A walked workflow: `nodes[0]` is the root, children come after their parent.
#[derive(Clone, Debug, PartialEq)]
pub struct Tree {
    /// The promises found, in breadth-first order.
    pub nodes: Vec<Node>,
    /// Promises found but not visited because of the node limit.
    pub omitted: usize,
}

impl Tree {
    /// How many of the visited promises have settled.
    pub fn settled(&self) -> usize {
        self.nodes.iter().filter(|n| n.outcome.is_some()).count()
    }
}

/// Walk the workflow under `root`, visiting at most `max_nodes` promises.
pub async fn walk(vow: &Vow, root: &PromiseId, max_nodes: usize) -> Result<Tree, BackendError> {
    let mut tree = Tree {
        nodes: Vec::new(),
        omitted: 0,
    };
    let mut seen = HashSet::new();
    let mut level = vec![(root.clone(), None::<usize>)];
    while !level.is_empty() {
        let mut next = Vec::new();
        for (id, parent) in level {
            if !seen.insert(id.clone()) {
                continue;
            }
            if tree.nodes.len() >= max_nodes.max(1) {
                tree.omitted += 1;
                continue;
            }
            let inspection = vow.inspect(&id).await?;
            let children = match inspection.outcome {
                Some(_) => inspection.children.clone(),
                None => discover(vow, &id).await?,
            };
            let index = tree.nodes.len();
            tree.nodes.push(Node::from_inspection(inspection));
            if let Some(parent) = parent {
                tree.nodes[parent].children.push(index);
            }
            next.extend(children.into_iter().map(|c| (c, Some(index))));
        }
        level = next;
    }
    Ok(tree)
}

/// What is known to exist under the pending promise `id`.
async fn discover(vow: &Vow, id: &PromiseId) -> Result<Vec<PromiseId>, BackendError> {
    let members = members_so_far(vow, id).await?;
    if !members.is_empty() {
        return Ok(members); // a join: its id is not a task's, so it has no children
    }
    let mut found = 0;
    let mut k = 0;
    while k < found + LOOKAHEAD {
        let child = id.child(k);
        if vow.inspect(&child).await?.outcome.is_some()
            || !members_so_far(vow, &child).await?.is_empty()
        {
            found = k + 1;
        }
        k += 1;
    }
    Ok((0..found).map(|k| id.child(k)).collect())
}

/// If `join` is a join under way: its members up to the highest settled one.
async fn members_so_far(vow: &Vow, join: &PromiseId) -> Result<Vec<PromiseId>, BackendError> {
    if is_member(join) {
        return Ok(Vec::new());
    }
    let store = vow.engine().store();
    let mut count = 0;
    for shard in 0..MAX_SHARDS {
        let Some(record) = store.read(&shard_key(join, 0, shard)).await? else {
            break;
        };
        if let Some(top) = record.slots.keys().next_back() {
            count = shard * FAN_IN + top + 1;
        }
    }
    Ok((0..count).filter_map(|i| member(join, i)).collect())
}

/// Whether `id` is a join member (`<join>.<index>`).
pub fn is_member(id: &PromiseId) -> bool {
    id.as_str().contains('.')
}

/// The id of member `index` of `join`.
fn member(join: &PromiseId, index: u32) -> Option<PromiseId> {
    PromiseId::parse(&format!("{join}.{index}")).ok()
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
        let tree = walk(&vow, &root, 100).await.expect("walk");
        assert_eq!(tree.nodes.len(), 1, "nothing settled below the root yet");

        // Members 0 and 2 settle; member 1 stays pending.
        let ran = work(
            &vow,
            &queue,
            |t| matches!(t, Target::Member { index, .. } if *index != 1),
        )
        .await;
        assert_eq!(ran, 2);
        let join = root.child(0);
        let text = tree_text(&walk(&vow, &root, 100).await.expect("walk"), true);
        let want = format!(
            "{root} pending\n└─ {join} pending\n   ├─ {join}.0 done    1\n   \
             ├─ {join}.1 pending\n   └─ {join}.2 done    9\n"
        );
        assert_eq!(text, want);
    }
}
