//! Walking a workflow: a promise and everything it spawned, read from the store,
//! and its progress rolled up from there.
//!
//! A settled promise's slot records its children. A pending promise whose task
//! adopted or deferred records them in its [`Note`] (one extra write, only for
//! such steps), with the sizes of the joins among them. A pending join whose size
//! is not recorded anywhere shows the members settled so far.

use crate::client::{Inspection, Vow};
use crate::error::BackendError;
use crate::id::PromiseId;
use crate::store::{shard_key, Cell, Note, Record, Store, FAN_IN};
use crate::wire::Outcome;
use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Join shards read at most, for a pending join of unknown size (16 members each).
const MAX_SHARDS: u32 = 256;
/// Promises visited at most by [`Vow::progress`].
pub const MAX_PROGRESS_STEPS: usize = 100_000;

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
    /// The progress its task last reported, `(done, total)`.
    pub reported: Option<(u64, u64)>,
    /// A pending sleep's wake-up time, or a callback's deadline.
    pub waiting: Option<Waiting>,
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
            reported: None,
            waiting: None,
            children: Vec::new(),
        }
    }

    /// Its own units of work, `(done, total)`, children not included: what its
    /// task reported, or one unit. Settled means all done.
    pub fn units(&self) -> (u64, u64) {
        units(self.outcome.is_some(), self.reported)
    }
}

fn units(settled: bool, reported: Option<(u64, u64)>) -> (u64, u64) {
    match (settled, reported) {
        (true, Some((_, total))) => (total, total),
        (true, None) => (1, 1),
        (false, Some((done, total))) => (done.min(total), total),
        (false, None) => (0, 1),
    }
}

/// A walked workflow: `nodes[0]` is the root, children come after their parent.
#[derive(Clone, Debug, Default, PartialEq)]
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

    /// The units of every visited promise, added up.
    pub fn progress(&self) -> Progress {
        let (done, total) = self.nodes.iter().fold((0u64, 0u64), |(d, t), n| {
            let (nd, nt) = n.units();
            (d.saturating_add(nd), t.saturating_add(nt))
        });
        Progress {
            done,
            total,
            settled: self.settled(),
            steps: self.nodes.len() + self.omitted,
            complete: self.nodes.first().is_some_and(|n| n.outcome.is_some()),
        }
    }
}

/// A workflow's progress: the units of work of a promise and everything under it
/// (its children, a join's members, recursively), as far as the store shows them.
///
/// Each promise counts what its task reported with [`crate::Cx::progress`], or
/// one unit; settled counts as all done. Children not created yet are not
/// counted, so `total` can grow while a workflow runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Units done.
    pub done: u64,
    /// Units known.
    pub total: u64,
    /// Promises settled.
    pub settled: usize,
    /// Promises found.
    pub steps: usize,
    /// Whether the promise itself has settled.
    pub complete: bool,
}

impl Progress {
    /// `done / total`, from 0.0 to 1.0 (1.0 when nothing is known to be left).
    pub fn fraction(&self) -> f64 {
        if self.total == 0 {
            1.0
        } else {
            self.done as f64 / self.total as f64
        }
    }
}

/// What one record says about promise `id`: its inspection, and the sizes of
/// joins among its children (child sequence number -> members).
/// What a pending sleep or callback waits for, from its record's note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Waiting {
    /// A sleep: it settles at `until`.
    Sleep {
        /// When its timer settles it.
        until: SystemTime,
    },
    /// A callback (or a deferred task's promise): it waits to be resolved
    /// from outside, and times out at `deadline`, or earlier if its holder
    /// stops beating: `heartbeat` after the last beat (or its creation).
    Callback {
        /// When it times out, if it has a deadline.
        deadline: Option<SystemTime>,
        /// Its heartbeat timeout, if it has one.
        heartbeat: Option<Duration>,
        /// Its last beat, if it had one.
        last_beat: Option<SystemTime>,
    },
}

impl Waiting {
    fn of(note: &Note) -> Option<Waiting> {
        let at = |ms: u64| UNIX_EPOCH + Duration::from_millis(ms);
        if note.resolvable {
            Some(Waiting::Callback {
                deadline: note.wakes_at.map(at),
                heartbeat: note.heartbeat_ms.map(Duration::from_millis),
                last_beat: note.beat_at.map(at),
            })
        } else {
            note.wakes_at.map(|ms| Waiting::Sleep { until: at(ms) })
        }
    }
}

pub(crate) fn inspection_of(
    id: &PromiseId,
    record: Option<Record>,
) -> (Inspection, BTreeMap<u32, u32>) {
    let cell = Cell::of(id);
    let (slot, note) = match record {
        Some(mut r) => (r.slots.remove(&cell.slot), r.notes.remove(&cell.slot)),
        None => (None, None),
    };
    let note = note.unwrap_or_default();
    let kids = slot.as_ref().map_or(0, |s| s.kids).max(note.kids);
    let mut children: Vec<PromiseId> = (0..kids).map(|k| id.child(k)).collect();
    if let Some(Outcome::Joined { join, n }) = slot.as_ref().map(|s| &s.outcome) {
        children.extend((0..*n).map(|i| join.member(i)));
    }
    let Note { joins, .. } = &note;
    let waiting = slot.is_none().then(|| Waiting::of(&note)).flatten();
    let inspection = Inspection {
        id: id.clone(),
        settled_at: slot
            .as_ref()
            .filter(|s| s.at > 0)
            .map(|s| UNIX_EPOCH + Duration::from_millis(s.at)),
        attempt: slot.as_ref().map(|s| s.attempt).filter(|a| *a > 0),
        outcome: slot.map(|s| s.outcome),
        children,
        progress: note.progress(),
        waiting,
    };
    (inspection, joins.clone())
}

/// If `join` is a join under way: its members up to the highest one settled or
/// reporting progress.
async fn members_so_far(
    store: &dyn Store,
    join: &PromiseId,
) -> Result<Vec<PromiseId>, BackendError> {
    if join.as_member().is_some() {
        return Ok(Vec::new());
    }
    let mut count = 0;
    for shard in 0..MAX_SHARDS {
        let Some(record) = store.read(&shard_key(join, 0, shard)).await? else {
            break;
        };
        let top = record.slots.keys().chain(record.notes.keys()).max();
        if let Some(top) = top {
            count = count.max(shard * FAN_IN + top + 1);
        }
    }
    Ok((0..count).map(|i| join.member(i)).collect())
}

impl Vow {
    /// Walk the workflow under `root`, visiting at most `max_nodes` promises,
    /// breadth first, reading each level of the tree in batches.
    pub async fn walk(&self, root: &PromiseId, max_nodes: usize) -> Result<Tree, BackendError> {
        let store = self.engine().store().as_ref();
        let mut tree = Tree::default();
        let mut seen = HashSet::new();
        // (promise, its parent's index, its member count if it is a join of known size)
        let mut level = vec![(root.clone(), None::<usize>, None::<u32>)];
        while !level.is_empty() {
            let mut batch = Vec::new();
            for (id, parent, size) in level {
                if !seen.insert(id.clone()) {
                    continue;
                }
                if tree.nodes.len() + batch.len() >= max_nodes.max(1) {
                    tree.omitted += 1;
                    continue;
                }
                batch.push((id, parent, size));
            }
            let keys: Vec<String> = batch.iter().map(|(id, ..)| Cell::of(id).key).collect();
            let records = store.read_many(&keys).await?;
            let mut next = Vec::new();
            for ((id, parent, size), record) in batch.into_iter().zip(records) {
                let (inspection, joins) = inspection_of(&id, record);
                let mut children: Vec<(PromiseId, Option<u32>)> = inspection
                    .children
                    .iter()
                    .zip(0u32..)
                    .map(|(c, k)| (c.clone(), joins.get(&k).copied()))
                    .collect();
                if inspection.outcome.is_none() && children.is_empty() {
                    let members = match size {
                        Some(n) => (0..n).map(|i| id.member(i)).collect(),
                        None => members_so_far(store, &id).await?,
                    };
                    children.extend(members.into_iter().map(|m| (m, None)));
                }
                let index = tree.nodes.len();
                tree.nodes.push(Node {
                    attempt: inspection.attempt,
                    settled_at: inspection.settled_at,
                    reported: inspection.progress,
                    waiting: inspection.waiting,
                    ..Node::new(inspection.id, inspection.outcome)
                });
                if let Some(parent) = parent {
                    tree.nodes[parent].children.push(index);
                }
                next.extend(children.into_iter().map(|(c, n)| (c, Some(index), n)));
            }
            level = next;
        }
        Ok(tree)
    }

    /// The progress of `id` and everything under it (see [`Progress`]), visiting
    /// at most [`MAX_PROGRESS_STEPS`] promises.
    ///
    /// ```
    /// # use serde::{Deserialize, Serialize};
    /// # use vow::prelude::*;
    /// #[derive(Serialize, Deserialize)]
    /// struct Crunch { items: u64 }
    ///
    /// #[vow::task("doc-crunch")]
    /// impl Task for Crunch {
    ///     type Input = ();
    ///     type Output = u64;
    ///     async fn run(self, _: (), cx: &Cx) -> Result<Resolution<u64>, Error> {
    ///         for i in 1..=self.items {
    ///             cx.progress(i, self.items).await;
    ///         }
    ///         done(self.items)
    ///     }
    /// }
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let vow = Vow::embedded();
    /// let flow = vow.flow();
    /// let both = flow.fan_out([Crunch { items: 300 }, Crunch { items: 700 }]);
    /// vow.start(&flow).await?;
    /// vow.wait(&both, std::time::Duration::from_secs(5)).await?;
    /// let p = vow.progress(both.id()).await?;
    /// // 300 + 700 units from the members, one for the join itself.
    /// assert_eq!((p.done, p.total, p.steps, p.complete), (1001, 1001, 3, true));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn progress(&self, id: &PromiseId) -> Result<Progress, BackendError> {
        Ok(self.walk(id, MAX_PROGRESS_STEPS).await?.progress())
    }
}
