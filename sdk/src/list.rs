//! Listing workflow runs: [`crate::Vow::list`] and `vow ls`.
//!
//! A *run* is a workflow started from application code ([`crate::Vow::start`],
//! [`crate::Vow::when`], a named start, a deployment schedule's firing): its
//! root is the first task the start sends. When the engine starts one, it
//! writes the root's listing entry into the root's own record, before
//! sending anything (one write per run; a retried start writes the same
//! entry). The entry holds a partition `run#<shard>` ([`RUN_SHARDS`] of them,
//! by the root's id) and a sort key `<start ms, 13 digits>#<root id>`, plus
//! the root's task tag and the flow's name; on DynamoDB these are the keys
//! and projection of the sparse global secondary index [`RUN_INDEX`], which
//! holds root records only. The root's settle writes its slot into the same
//! item and changes none of the index's attributes, so listing costs no
//! write per step and no index write when a run ends: a run's state
//! (running, done, failed) is read from its record when it is listed.
//!
//! The entry lives as long as the root's record: no TTL while the run is
//! running, the record TTL once its root has settled. Listing reads the
//! shards newest first from the cursor down and merges them, so a page costs
//! the same with ten runs or ten million.

use crate::clock::{epoch_millis, millis};
use crate::engine::Engine;
use crate::error::BackendError;
use crate::failure::{Failure, FailureKind};
use crate::id::PromiseId;
use crate::wire::{Outcome, Slot};
use std::fmt;
use std::time::{Duration, SystemTime};

/// The name of the index of runs (a DynamoDB global secondary index on the
/// promise table: partition key `lp`, sort key `ls`, both strings, projecting
/// `lt` and `ln`).
pub const RUN_INDEX: &str = "runs";

/// How many partitions the runs are spread over (each takes up to 1,000
/// starts a second on DynamoDB).
pub const RUN_SHARDS: u32 = 8;

/// The most runs one [`crate::Vow::list`] call returns.
pub const MAX_LIMIT: usize = 1_000;

/// The most index queries (of all shards) one [`crate::Vow::list`] call makes
/// looking for runs that match its filters: a page may come back short, with
/// a cursor to go on from.
const MAX_ROUNDS: usize = 8;

/// The longest task tag or flow name an entry keeps (longer ones are cut at a
/// character boundary).
const MAX_TEXT: usize = 256;

/// A run's listing entry as stored (for store implementations).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunEntry {
    /// The root promise.
    pub id: PromiseId,
    /// When it started, in milliseconds since the Unix epoch.
    pub started_ms: u64,
    /// The root's task tag.
    pub task: String,
    /// The flow's name, for a named start.
    pub name: Option<String>,
}

impl RunEntry {
    /// An entry, with the tag and name cut to 256 bytes.
    pub fn new(id: PromiseId, started_ms: u64, task: &str, name: Option<&str>) -> Self {
        RunEntry {
            id,
            started_ms,
            task: cut(task).to_owned(),
            name: name.map(|n| cut(n).to_owned()),
        }
    }

    /// Its partition in the index: `run#<shard>`.
    pub fn partition(&self) -> String {
        partition(shard_of(&self.id))
    }

    /// Its sort key in the index: `<start ms, 13 digits>#<root id>`.
    pub fn sort_key(&self) -> String {
        format!("{:013}#{}", self.started_ms, self.id)
    }

    /// Read an entry back from its sort key, tag and name; `None` if the sort
    /// key is not one [`RunEntry::sort_key`] writes.
    pub fn from_parts(sort_key: &str, task: String, name: Option<String>) -> Option<Self> {
        let (ms, id) = parse_sort_key(sort_key)?;
        Some(RunEntry {
            id,
            started_ms: ms,
            task,
            name,
        })
    }
}

/// The partition `run#<shard>`.
pub fn partition(shard: u32) -> String {
    format!("run#{shard}")
}

/// The shard of the root `id`: its first hex digit, modulo [`RUN_SHARDS`].
pub fn shard_of(id: &PromiseId) -> u32 {
    id.as_str()
        .chars()
        .next()
        .and_then(|c| c.to_digit(16))
        .map_or(0, |d| d % RUN_SHARDS)
}

fn parse_sort_key(key: &str) -> Option<(u64, PromiseId)> {
    let (ms, id) = key.split_once('#')?;
    if ms.len() != 13 || !ms.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let id = PromiseId::parse(id).ok()?;
    id.as_member().is_none().then_some(())?;
    Some((ms.parse().ok()?, id))
}

fn cut(text: &str) -> &str {
    let mut end = text.len().min(MAX_TEXT);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// One shard's query, as the engine asks a store (for store implementations).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardQuery {
    /// The shard.
    pub shard: u32,
    /// Only sort keys below this one (exclusive), if set.
    pub below: Option<String>,
    /// Only sort keys from this one (inclusive), if set.
    pub from: Option<String>,
    /// The most entries to look at (matching or not).
    pub limit: usize,
    /// Only this task tag.
    pub task: Option<String>,
    /// Only flow names starting with this.
    pub name_prefix: Option<String>,
}

/// What a store found in one shard, newest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShardPage {
    /// The matching entries.
    pub entries: Vec<RunEntry>,
    /// If the shard may hold more: the sort key it looked down to (entries
    /// at or above it were all looked at).
    pub more: Option<String>,
}

impl ShardQuery {
    /// Whether `entry` (in this shard) matches the query.
    pub fn matches(&self, entry: &RunEntry) -> bool {
        let key = entry.sort_key();
        self.below.as_ref().is_none_or(|b| key < *b)
            && self.from.as_ref().is_none_or(|f| key >= *f)
            && self.task.as_ref().is_none_or(|t| entry.task == *t)
            && self
                .name_prefix
                .as_ref()
                .is_none_or(|p| entry.name.as_ref().is_some_and(|n| n.starts_with(p)))
    }
}

/// Where a run is.
///
/// New states may be added: match with a `_` arm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RunState {
    /// Its root has not settled.
    Running,
    /// Its root settled with a value.
    Done,
    /// Its root settled with a failure.
    Failed,
}

impl fmt::Display for RunState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RunState::Running => "running",
            RunState::Done => "done",
            RunState::Failed => "failed",
        })
    }
}

/// One run, as [`crate::Vow::list`] finds it.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Run {
    /// The root promise (`vow status`, `vow tree`, [`crate::Vow::inspect`]).
    pub id: PromiseId,
    /// The root's task tag.
    pub task: String,
    /// The flow's name, for a named start or a schedule's firing.
    pub name: Option<String>,
    /// When it started.
    pub started_at: SystemTime,
    /// Where it is.
    pub state: RunState,
    /// When its root settled.
    pub settled_at: Option<SystemTime>,
    /// For a failed run, the failure's kind.
    pub failure: Option<FailureKind>,
}

/// Where a listing goes on from: opaque, printable, and parsed back with
/// [`str::parse`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Cursor(pub(crate) String);

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.replace('#', "-"))
    }
}

impl std::str::FromStr for Cursor {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let key = s.trim().replacen('-', "#", 1);
        match parse_sort_key(&key) {
            Some(_) => Ok(Cursor(key)),
            None => Err(format!("`{s}` is not a cursor printed by a listing")),
        }
    }
}

/// One page of runs, newest first.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct RunPage {
    /// The runs found.
    pub runs: Vec<Run>,
    /// Where the next page starts, if there may be more (a page can be short,
    /// even empty, and still have a cursor when filters skip many runs).
    pub next: Option<Cursor>,
}

/// What to list: every filter is optional.
///
/// ```
/// use std::time::Duration;
/// use vow::{ListQuery, RunState};
/// let failed_today = ListQuery::new()
///     .state(RunState::Failed)
///     .since(Duration::from_secs(24 * 3_600))
///     .task("orders/place")
///     .name_prefix("order-")
///     .limit(50);
/// # let _ = failed_today;
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct ListQuery {
    pub(crate) state: Option<RunState>,
    pub(crate) since: Option<Duration>,
    pub(crate) task: Option<String>,
    pub(crate) name_prefix: Option<String>,
    pub(crate) limit: usize,
    pub(crate) after: Option<Cursor>,
}

impl Default for ListQuery {
    fn default() -> Self {
        ListQuery {
            state: None,
            since: None,
            task: None,
            name_prefix: None,
            limit: 20,
            after: None,
        }
    }
}

impl ListQuery {
    /// Every run, 20 a page.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only runs in this state.
    pub fn state(mut self, state: RunState) -> Self {
        self.state = Some(state);
        self
    }

    /// Only runs started within this long before now.
    pub fn since(mut self, ago: Duration) -> Self {
        self.since = Some(ago);
        self
    }

    /// Only runs whose root runs this task (its tag, exactly).
    pub fn task(mut self, tag: impl Into<String>) -> Self {
        self.task = Some(tag.into());
        self
    }

    /// Only named runs ([`crate::Vow::flow_named`], schedule firings:
    /// `schedule:<name>@<time>`) whose name starts with `prefix`.
    pub fn name_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.name_prefix = Some(prefix.into());
        self
    }

    /// At most this many runs (1 to 1,000; default 20).
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit.clamp(1, MAX_LIMIT);
        self
    }

    /// Go on after the page that returned `cursor`.
    pub fn after(mut self, cursor: Cursor) -> Self {
        self.after = Some(cursor);
        self
    }
}

/// [`crate::Vow::list`]: query every shard newest first from the cursor
/// down, merge, and read the state of each candidate from its record, until
/// the page is full, the index is exhausted, or [`MAX_ROUNDS`] rounds passed.
pub(crate) async fn list(engine: &Engine, query: &ListQuery) -> Result<RunPage, BackendError> {
    let now = epoch_millis(engine.clock().now());
    let from = query
        .since
        .map(|ago| format!("{:013}", now.saturating_sub(millis(ago))));
    let limit = query.limit.clamp(1, MAX_LIMIT);
    let mut below = query.after.as_ref().map(|c| c.0.clone());
    let mut runs = Vec::new();
    for _ in 0..MAX_ROUNDS {
        let want = limit.saturating_sub(runs.len()).max(1);
        let mut shards = tokio::task::JoinSet::new();
        for shard in 0..RUN_SHARDS {
            let store = engine.store().clone();
            let asked = ShardQuery {
                shard,
                below: below.clone(),
                from: from.clone(),
                limit: want,
                task: query.task.clone(),
                name_prefix: query.name_prefix.clone(),
            };
            shards.spawn(async move { store.runs_in(&asked).await });
        }
        let mut pages = Vec::new();
        while let Some(page) = shards.join_next().await {
            pages.push(page.map_err(|e| BackendError::fatal(format!("listing: {e}")))??);
        }
        // Every entry at or above the highest point a shard stopped at has
        // been looked at in every shard: those can be listed in order.
        let frontier = pages.iter().filter_map(|p| p.more.clone()).max();
        let mut entries: Vec<RunEntry> = pages
            .into_iter()
            .flat_map(|p| p.entries)
            .filter(|e| frontier.as_ref().is_none_or(|f| e.sort_key() >= *f))
            .collect();
        entries.sort_by_key(|e| std::cmp::Reverse(e.sort_key()));
        let keys: Vec<String> = entries.iter().map(|e| e.id.to_string()).collect();
        let records = engine.store().read_many(&keys).await?;
        for (entry, record) in entries.into_iter().zip(records) {
            // Gone since the query: its record expired.
            let Some(mut record) = record else {
                continue;
            };
            let key = entry.sort_key();
            let run = run_of(engine, entry, record.slots.remove(&0)).await?;
            if query.state.is_none_or(|s| s == run.state) {
                runs.push(run);
                if runs.len() >= limit {
                    return Ok(RunPage {
                        runs,
                        next: Some(Cursor(key)),
                    });
                }
            }
        }
        match frontier {
            None => return Ok(RunPage { runs, next: None }),
            Some(f) => below = Some(f),
        }
    }
    Ok(RunPage {
        runs,
        next: below.map(Cursor),
    })
}

/// A run, from its entry and its root's slot (if settled).
async fn run_of(engine: &Engine, entry: RunEntry, slot: Option<Slot>) -> Result<Run, BackendError> {
    let at = |ms: u64| SystemTime::UNIX_EPOCH + Duration::from_millis(ms);
    let (state, failure, settled_at) = match slot {
        None => (RunState::Running, None, None),
        Some(slot) => {
            let settled_at = (slot.at > 0).then(|| at(slot.at));
            let failure = match slot.outcome {
                Outcome::Ok(_) | Outcome::Joined { .. } => None,
                Outcome::Err(f) => Some(f.kind()),
                stored @ Outcome::Stored { .. } => {
                    let json = engine.resolve(&stored).await?;
                    match serde_json::from_value::<Result<serde_json::Value, Failure>>(json) {
                        Ok(Ok(_)) => None,
                        Ok(Err(f)) => Some(f.kind()),
                        Err(_) => Some(FailureKind::BadInput),
                    }
                }
            };
            let state = if failure.is_some() {
                RunState::Failed
            } else {
                RunState::Done
            };
            (state, failure, settled_at)
        }
    };
    Ok(Run {
        id: entry.id,
        task: entry.task,
        name: entry.name,
        started_at: at(entry.started_ms),
        state,
        settled_at,
        failure,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sort_keys_and_cursors_round_trip() {
        let id = PromiseId::random();
        let entry = RunEntry::new(id.clone(), 1_765_000_000_000, "t", Some("n"));
        let key = entry.sort_key();
        assert_eq!(key, format!("1765000000000#{id}"));
        let back = RunEntry::from_parts(&key, "t".into(), Some("n".into())).expect("parses");
        assert_eq!(back, entry);
        let cursor: Cursor = Cursor(key.clone()).to_string().parse().expect("cursor");
        assert_eq!(cursor.0, key);
        assert!("nonsense".parse::<Cursor>().is_err());
        assert!(format!("123-{id}").parse::<Cursor>().is_err());
        assert!(format!("1765000000000-{id}.1").parse::<Cursor>().is_err());
        assert!(shard_of(&id) < RUN_SHARDS);
    }

    #[test]
    fn long_tags_and_names_are_cut_on_character_boundaries() {
        let long = "é".repeat(200);
        let entry = RunEntry::new(PromiseId::random(), 0, &long, Some(&long));
        assert!(entry.task.len() <= 256 && entry.task.len() >= 254);
        assert_eq!(entry.name.as_deref(), Some(entry.task.as_str()));
    }
}
