//! The engine: runs one message, settles its promise exactly once, and fires
//! continuations. Lambda, the local poller and the embedded workers all call
//! [`Engine::handle_batch`].
//!
//! Exactly-once settlement under at-least-once delivery rests on the rules in
//! DESIGN.md; each module along the path of one message opens with the ones it
//! keeps:
//! - `deliver`: a batch and each message of it, until it is deleted or left for
//!   redelivery (rules 2 and 3);
//! - `run`: one task attempt, its retries and timeouts (rules 1 and 5);
//! - `settle`: the conditional write, firing continuations, climbing joins
//!   (rules 1, 2 and 3);
//! - `blob`: values and bodies stored out of line (rules 4 and 6);
//! - `outside`: settles made by application code: start, resolve, cancel (rule 7);
//! - `timer`: timers waiting in the queue or the timer index for their time
//!   (rules 2, 5 and 8);
//! - `sweep`: the once-a-minute sweep of the timer index (rules 2, 5 and 8);
//! - `dead`: dead letters (rules 3 and 5);
//! - `expire`: a completed join's records and values get their TTL (rules 2, 5, 9);
//! - `later`: continuations stored in records, sealed and verified (rules 6, 10);
//! - `decide`: the decisions all of them take, as pure functions.

mod blob;
pub use blob::TaskInput;
mod dead;
pub mod decide;
mod deliver;
mod expire;
mod later;
mod outside;
mod resolve_message;
mod run;
mod settle;
mod start_message;
mod sweep;
mod timer;

pub use start_message::{DeclaredSchedules, ENV_SCHEDULES};
pub use sweep::{is_sweep, SWEEP_BODY};

use crate::clock::Clock;
use crate::error::BackendError;
use crate::failure::Failure;
use crate::flow::Flow;
use crate::id::PromiseId;
use crate::queue::Queue;
use crate::signing::SigningKeys;
use crate::store::{Cell, Note, Store};
use crate::wire::{Outcome, Slot};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// Engine settings.
#[non_exhaustive]
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Timeout of one attempt when the task sets none.
    pub default_timeout: Duration,
    /// The longest timeout an attempt gets, whatever its task or its message
    /// says (a message is input: a forged one must not hold a worker
    /// forever). 15 minutes by default, as long as a Lambda invocation.
    pub max_timeout: Duration,
    /// Attempts for retryable errors when the task sets none.
    pub default_max_attempts: u32,
    /// Delay before the first retry; doubles each attempt.
    pub retry_base: Duration,
    /// Longest delay between retries (SQS caps delays at 15 minutes).
    pub retry_max: Duration,
    /// Sign every message sent and reject unsigned or forged ones.
    pub signing: Option<SigningKeys>,
    /// While a message has been processed for less than this, the first successor
    /// of each step it settles runs right here instead of taking a round trip
    /// through the queue (a chain of quick steps then costs a fraction of an SQS
    /// request per step). The message is deleted only after the whole run, so a
    /// crash is repaired from it. Keep it well under the queue's visibility
    /// timeout. In a Lambda function a successor runs inline only if its timeout
    /// ends before the invocation's (see [`Engine::handle_batch_by`]). Zero sends
    /// every successor.
    pub inline_for: Duration,
    /// A settle waits up to this for the other messages of its batch, so that
    /// settles of the same record (neighbouring members of a join) share one
    /// write. Zero writes every settle alone.
    pub gather_for: Duration,
    /// The longest a timer (a [`Flow::sleep`], a [`Flow::callback`]'s
    /// deadline) waits in the queue at once: 15 minutes, the most SQS allows
    /// ([`crate::backend::MAX_DELAY`]). A timer further away waits in the
    /// store's timer index ([`crate::timer_index`]) when the store keeps one
    /// and this is at least 2 minutes; otherwise it hops through the queue,
    /// checking its promise at every hop.
    pub timer_hop: Duration,
    /// How long a copy of a timer that finds the timer's firing written but
    /// not yet marked delivered waits before it looks again, and the span
    /// of one claim on repairing such a firing
    /// ([`decide::timer_copy`]): 15 minutes, longer than any Lambda
    /// invocation lasts. At most the queue's longest delay.
    pub firing_grace: Duration,
    /// The schedules the deployment declares, whose unsigned start messages
    /// this engine accepts (`VOW_SCHEDULES`; see [`DeclaredSchedules`]).
    pub schedules: DeclaredSchedules,
    /// The most promises one cancel walks, and so settles (a write each):
    /// [`DEFAULT_MAX_CANCEL_WALK`] unless set (`VOW_MAX_CANCEL_WALK`,
    /// [`crate::VowBuilder::max_cancel_walk`]; see [`check_cancel_walk`]). A
    /// cancel stops there; what it did not reach runs on.
    pub max_cancel_walk: usize,
    /// The shortest time a schedule may leave between two firings
    /// ([`crate::Vow::schedule`] refuses a cron that fires more often).
    /// `None` (the default): a minute, unless the cron says
    /// [`crate::Cron::allow_sub_minute`]. `Some`: a floor for every cron,
    /// `allow_sub_minute` or not (`VOW_MIN_SCHEDULE_INTERVAL_SECS`,
    /// [`crate::VowBuilder::min_schedule_interval`]; see
    /// [`check_schedule_interval`]).
    pub min_schedule_interval: Option<Duration>,
}

/// How many promises one cancel walks unless configured
/// ([`EngineConfig::max_cancel_walk`]).
pub const DEFAULT_MAX_CANCEL_WALK: usize = 100_000;

/// The most [`EngineConfig::max_cancel_walk`] may be set to.
pub const MAX_CANCEL_WALK: usize = 10_000_000;

/// The environment variable setting [`EngineConfig::max_cancel_walk`].
pub const ENV_MAX_CANCEL_WALK: &str = "VOW_MAX_CANCEL_WALK";

/// The environment variable setting [`EngineConfig::min_schedule_interval`],
/// in whole seconds.
pub const ENV_MIN_SCHEDULE_INTERVAL_SECS: &str = "VOW_MIN_SCHEDULE_INTERVAL_SECS";

/// The longest [`EngineConfig::min_schedule_interval`]: a day (the check
/// reads the times of day a cron names).
pub const MAX_SCHEDULE_INTERVAL: Duration = Duration::from_secs(86_400);

/// `n` if it is a valid [`EngineConfig::max_cancel_walk`]: from 1 to
/// [`MAX_CANCEL_WALK`] promises.
///
/// ```
/// use vow::engine::check_cancel_walk;
/// assert_eq!(check_cancel_walk(500).unwrap(), 500);
/// let e = check_cancel_walk(0).unwrap_err().to_string();
/// assert!(e.contains("from 1 to 10000000 promises"), "{e}");
/// ```
pub fn check_cancel_walk(n: usize) -> Result<usize, crate::BackendError> {
    if (1..=MAX_CANCEL_WALK).contains(&n) {
        return Ok(n);
    }
    Err(crate::BackendError::fatal(format!(
        "the cancel walk limit ({ENV_MAX_CANCEL_WALK}) must be from 1 to {MAX_CANCEL_WALK} \
         promises, not {n}"
    )))
}

/// `interval` if it is a valid [`EngineConfig::min_schedule_interval`]: from
/// a second to [`MAX_SCHEDULE_INTERVAL`], in whole seconds.
///
/// ```
/// use std::time::Duration;
/// use vow::engine::check_schedule_interval;
/// let five = Duration::from_secs(300);
/// assert_eq!(check_schedule_interval(five).unwrap(), five);
/// assert!(check_schedule_interval(Duration::from_millis(1_500)).is_err());
/// assert!(check_schedule_interval(Duration::from_secs(2 * 86_400)).is_err());
/// ```
pub fn check_schedule_interval(interval: Duration) -> Result<Duration, crate::BackendError> {
    if interval.subsec_nanos() == 0
        && interval >= Duration::from_secs(1)
        && interval <= MAX_SCHEDULE_INTERVAL
    {
        return Ok(interval);
    }
    Err(crate::BackendError::fatal(format!(
        "the shortest schedule interval ({ENV_MIN_SCHEDULE_INTERVAL_SECS}) must be a whole \
         number of seconds from 1 to {}, not {interval:?}",
        MAX_SCHEDULE_INTERVAL.as_secs()
    )))
}

/// The limits [`ENV_MAX_CANCEL_WALK`] and [`ENV_MIN_SCHEDULE_INTERVAL_SECS`]
/// set, parsed and checked; `None` for a variable that is unset or empty.
///
/// ```
/// use vow::engine::parse_limits;
/// assert_eq!(parse_limits(Some("250"), None).unwrap(), (Some(250), None));
/// let e = parse_limits(None, Some("1m")).unwrap_err().to_string();
/// assert!(e.contains("VOW_MIN_SCHEDULE_INTERVAL_SECS must be a whole number of seconds"), "{e}");
/// assert!(parse_limits(Some("-1"), None).is_err());
/// ```
#[allow(clippy::type_complexity)]
pub fn parse_limits(
    cancel_walk: Option<&str>,
    schedule_interval_secs: Option<&str>,
) -> Result<(Option<usize>, Option<Duration>), crate::BackendError> {
    let set = |v: Option<&str>| {
        v.map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let walk = match set(cancel_walk) {
        None => None,
        Some(v) => Some(check_cancel_walk(v.parse().map_err(|_| {
            crate::BackendError::fatal(format!(
                "{ENV_MAX_CANCEL_WALK} must be a whole number of promises from 1 to \
                 {MAX_CANCEL_WALK}, not `{}`",
                v.escape_debug()
            ))
        })?)?),
    };
    let interval = match set(schedule_interval_secs) {
        None => None,
        Some(v) => Some(check_schedule_interval(Duration::from_secs(
            v.parse().map_err(|_| {
                crate::BackendError::fatal(format!(
                    "{ENV_MIN_SCHEDULE_INTERVAL_SECS} must be a whole number of seconds from 1 \
                     to {}, not `{}`",
                    MAX_SCHEDULE_INTERVAL.as_secs(),
                    v.escape_debug()
                ))
            })?,
        ))?),
    };
    Ok((walk, interval))
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            default_timeout: Duration::from_secs(30),
            max_timeout: Duration::from_secs(15 * 60),
            default_max_attempts: 3,
            retry_base: Duration::from_secs(1),
            retry_max: Duration::from_secs(300),
            signing: None,
            inline_for: Duration::from_secs(2),
            gather_for: Duration::from_millis(10),
            timer_hop: crate::queue::MAX_DELAY,
            firing_grace: decide::FIRING_GRACE,
            schedules: DeclaredSchedules::default(),
            max_cancel_walk: DEFAULT_MAX_CANCEL_WALK,
            min_schedule_interval: None,
        }
    }
}

/// Runs tasks against a [`Store`] and a [`Queue`].
pub struct Engine {
    store: Arc<dyn Store>,
    queue: Arc<dyn Queue>,
    config: EngineConfig,
    clock: Clock,
    /// Whether this process has seen the timer index's sweep cursor.
    cursor_seen: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Why a message was not processed; the message stays on the queue.
#[derive(Debug)]
pub enum Rejected {
    /// The message cannot be run by this worker; it will reach the dead-letter queue.
    Undecodable(Failure),
    /// The store or queue failed; a redelivery will try again.
    Backend(BackendError),
}

impl std::fmt::Display for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rejected::Undecodable(failure) => write!(f, "undecodable message: {failure}"),
            Rejected::Backend(e) => write!(f, "backend error: {e}"),
        }
    }
}

impl From<BackendError> for Rejected {
    fn from(e: BackendError) -> Self {
        Rejected::Backend(e)
    }
}

/// The most join sizes a pending task's note records, so that a task creating
/// many joins cannot grow its record past the item limit (a pending join whose
/// size is not noted shows the members settled so far).
const MAX_NOTED_JOINS: usize = 1_024;

type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

impl Engine {
    /// An engine over the two seams.
    pub fn new(store: Arc<dyn Store>, queue: Arc<dyn Queue>, config: EngineConfig) -> Arc<Self> {
        Arc::new(Engine {
            store,
            queue,
            config,
            clock: Clock::default(),
            cursor_seen: Default::default(),
        })
    }

    /// What timers count from.
    pub(crate) fn clock(&self) -> &Clock {
        &self.clock
    }

    /// For benchmarks and tests on any backend: move the clock of this
    /// engine's sleeps, deadlines and sweeps `by` forward (the queue's delays
    /// stay real). [`crate::Vow::skip_time`] does this and more for the
    /// embedded backend.
    #[doc(hidden)]
    pub fn skip_clock(&self, by: Duration) {
        self.clock.skip(by);
    }

    /// Its settings.
    pub(crate) fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The queue.
    pub fn queue(&self) -> &Arc<dyn Queue> {
        &self.queue
    }

    /// Whether this engine signs and verifies messages.
    pub fn is_signing(&self) -> bool {
        self.config.signing.is_some()
    }

    /// The settled slot of `id`, if any: outcome, time, attempt and children.
    pub async fn slot(&self, id: &PromiseId) -> Result<Option<Slot>, BackendError> {
        let cell = Cell::of(id);
        Ok(self
            .store
            .read(&cell.key)
            .await?
            .and_then(|mut r| r.slots.remove(&cell.slot)))
    }

    /// The settled outcome of `id`, if any.
    pub async fn outcome(&self, id: &PromiseId) -> Result<Option<Outcome>, BackendError> {
        Ok(self.slot(id).await?.map(|s| s.outcome))
    }

    /// Note on a pending promise whose task adopted or deferred: the children it
    /// created (joins with their sizes), that its own work is done, and, for a
    /// deferred one, that it may be resolved from outside. Written
    /// before the children are sent, so `vow tree`, [`crate::Vow::progress`] and
    /// [`Engine::cancel`] can always find them. Tasks that create nothing and
    /// report nothing skip it.
    async fn note_pending(
        &self,
        id: &PromiseId,
        flow: &Flow,
        reported: Option<(u64, u64)>,
        resolvable: bool,
    ) -> Result<(), BackendError> {
        match pending_note(id, flow, reported, resolvable) {
            Some(note) => self.store.note(&Cell::of(id), &note).await,
            None => Ok(()),
        }
    }
}

/// The note [`Engine::note_pending`] writes, if it writes one.
fn pending_note(
    id: &PromiseId,
    flow: &Flow,
    reported: Option<(u64, u64)>,
    resolvable: bool,
) -> Option<Note> {
    let kids = flow.created();
    if kids == 0 && reported.is_none() && !resolvable {
        return None;
    }
    let sizes = flow.join_sizes();
    let joins = if sizes.is_empty() {
        Default::default()
    } else {
        (0..kids)
            .filter_map(|k| sizes.get(&id.child(k)).map(|n| (k, *n)))
            .take(MAX_NOTED_JOINS)
            .collect()
    };
    let total = reported.map_or(1, |(_, total)| total);
    Some(Note {
        done: Some(total),
        total: Some(total),
        kids,
        joins,
        resolvable,
        ..Note::default()
    })
}
