//! Schedules: a task run at every time a [`Cron`] expression names.
//!
//! A schedule is a chain of `vow/schedule` ticks, each a successor of a sleep
//! until its firing. A tick checks the schedule's off switch (a promise
//! nothing settles but a cancel), claims its firing, sends the job and sleeps
//! toward the next firing.
//!
//! # Each firing at most once: the firing's lease
//!
//! A firing, `(name, time)`, is claimed by a *lease*: one conditional write
//! ([`Cx::claim_or_holder`], rule 1) of a record naming the holder (a random
//! token of this one run of the tick, so a duplicate or a retry of the same
//! tick message is *another* holder), the holder's tick promise, and when it
//! took the lease. The holder puts the job and the next sleep in its plan and
//! returns [`Ticked`] with `fired` set. The engine sends a task's plan before
//! it settles the task's promise (rule 2), and the holder asks it to note
//! `sent` on its tick's record between the two ([`Cx::note_when_sent`], one
//! write per firing): *that note, or the tick settled with `fired`, is the
//! mark that the job was sent*. The slot alone is not enough: other writers
//! under the tick's token (the hand-over of a copy of the tick message, the
//! dead-letter settle of a copy) can settle it first, with no `fired`, and
//! the note is written whatever the slot holds. A tick that finds the lease
//! held by someone else reads that mark:
//!
//! - the job was sent: the firing is done; this tick
//!   sends nothing and its chain ends (a duplicate of the holder, or a second
//!   chain of the name, which thereby dies out);
//! - not yet, and the lease is younger than [`LEASE`]: the holder may be
//!   sending right now, so this tick fails with a retryable error and looks
//!   again later (its message is retried, rule 2), sending nothing;
//! - not yet, and the lease is older: the holder crashed between its claim
//!   and its settle (or its run failed and was retried). This tick takes over
//!   by claiming the next generation of the lease (`name@time#1`, `#2`, ...),
//!   again with one conditional write, so two ticks that both see the old
//!   lease cannot both take over. The job may then be sent twice, only where a
//!   crash (or a holder stalled for longer than [`LEASE`]) explains it
//!   (rule 8). After [`MAX_TAKEOVERS`] generations the firing is skipped
//!   (rule 5).
//!
//! A duplicate tick thus never runs the job again (rule 3: it finds the firing
//! done and sends nothing more), and a tick that crashed after claiming does
//! not lose the firing: its message comes back, and after the lease the
//! firing is sent.
//!
//! # Chains
//!
//! [`Vow::schedule`] claims the schedule's name with a named start (whose
//! flow holds only the off switch) and, if the claim is new, starts the
//! chain in a flow named after the name and its first firing. So a chain
//! started after the name's record expired (a year-long schedule outlives
//! the record lifetime) never shares a promise id with the chain still
//! running; the two race for each firing's lease and the loser ends.
//!
//! # A tick retries until it succeeds
//!
//! A tick's own failures (a throttled read of the off switch, a failed claim)
//! are retried by the engine a few times; after [`HAND_OVER_AT`] attempts the
//! tick hands the same firing to a fresh tick after a pause that doubles up to
//! [`MAX_PAUSE`], so the schedule's machinery retries without end while the
//! user's job keeps its own attempts. A chain can still die (a tick whose
//! message is dead-lettered because even its sends fail): [`Vow::schedule`]
//! revives it. It looks at the latest firing that should have happened more
//! than [`REVIVE_AFTER`] ago; if nothing claimed it, the chain is dead, and a
//! new chain catches up from the first unclaimed firing. A firing that was claimed but
//! whose job nothing says was sent is *unsent*: its holder may be sending, or
//! may have died after its claim and been dead-lettered (holes 10 and 11,
//! found by the model). If it is the latest, or the last claimed one before
//! the first unclaimed, the new chain starts at it, and its tick waits out a
//! young lease, then finds the job sent or takes the lease over. A revived
//! chain is named after its firing and the start-up's 15-minute window, so a
//! revived chain that dies too is revived again by a later start-up, and
//! start-ups at once start one. A chain that was only slow is harmless to
//! revive: the leases let one chain fire each firing, and the
//! chain that loses a firing ends.
//!
//! # Missed firings are caught up, for a week
//!
//! A tick that wakes late (no worker ran, the queue was down, time was
//! skipped with [`Vow::skip_time`]) fires its own firing, and the next tick
//! sleeps until the firing after it, which has passed too, so it runs at once:
//! the chain catches up every missed firing, one tick each, oldest first.
//! Firings more than [`CATCH_UP`] old are skipped. A week with no worker is
//! thus a week of firings, as a week with workers would have been, and a
//! test that skips a week sees the seven firings of a daily schedule.
//!
//! # What an idle schedule costs
//!
//! A tick sleeps until its next firing, but at most [`LOOK_EVERY`]: a cancel
//! settles the off switch, whose record then lives for the store's record
//! lifetime (`VOW_RECORD_TTL_DAYS`, 30 days by default, at least the 14 days
//! a queue keeps messages), and a chain must look before it expires (rule 9).
//! A sleep costs the same whatever its length, so an idle schedule costs one
//! sleep and one tick a week, and nothing per hour.

use crate::clock::epoch_millis;
use crate::context::Cx;
use crate::cron::Cron;
use crate::error::{BackendError, Error};
use crate::failure::Failure;
use crate::flow::{Flow, Started};
use crate::id::PromiseId;
use crate::store::{slot_and_note, Cell, Note, Settled, Store};
use crate::task::{done, encode_task, Resolution, Task};
use crate::wire::{Outcome, RunOpts, Slot};
use crate::Vow;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The longest a schedule sleeps before it looks at its off switch again.
pub(crate) const LOOK_EVERY: Duration = Duration::from_secs(7 * 24 * 3_600);

/// How long a firing's lease keeps other ticks from taking it over: longer
/// than a tick takes from its claim to its `sent` note.
pub(crate) const LEASE: Duration = Duration::from_secs(120);

/// How many times a firing may be taken over from a crashed holder before it
/// is skipped.
pub(crate) const MAX_TAKEOVERS: u32 = 16;

/// The attempt at which a failing tick hands its firing to a fresh tick.
pub(crate) const HAND_OVER_AT: u32 = 3;

/// The longest pause before a handed-over tick tries again.
pub(crate) const MAX_PAUSE: Duration = Duration::from_secs(15 * 60);

/// Missed firings up to this old are caught up; older ones are skipped.
pub(crate) const CATCH_UP: Duration = Duration::from_secs(7 * 24 * 3_600);

/// A firing nothing claimed this long after its time means the chain died.
pub(crate) const REVIVE_AFTER: Duration = Duration::from_secs(15 * 60);

/// The most firings [`Vow::schedule`] looks through for a dead chain.
const MAX_LOOK_BACK: usize = 20_160;

/// A schedule started by [`Vow::schedule`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    id: PromiseId,
    started: Started,
}

impl Schedule {
    /// The schedule's off switch: `vow.cancel(schedule.id(), why)` (or `vow
    /// cancel <id>`) stops it before its next firing. The same for every
    /// process that schedules the name.
    pub fn id(&self) -> &PromiseId {
        &self.id
    }

    /// Whether this call started the schedule, or found it running.
    pub fn started(&self) -> Started {
        self.started
    }
}

impl Vow {
    /// Run `job` at every time `cron` names (UTC unless the cron names a time
    /// zone), until the schedule is cancelled. Nothing runs in between: the
    /// schedule sleeps in the queue.
    ///
    /// Idempotent by `name`, like [`Vow::flow_named`]: scheduling a name that is
    /// scheduled already changes nothing and returns the same [`Schedule`]
    /// with [`Started::Existing`], so a service can schedule at every start-up.
    /// If the schedule's chain died (its firings stopped), this call starts it
    /// again. To change a schedule's time or job, cancel it and schedule
    /// another name.
    ///
    /// Each firing runs the job at most once, also when SQS delivers a tick
    /// twice, and at least once while the schedule is on. Firings missed
    /// because no worker ran are caught up when workers return, up to a week
    /// back. A cron that fires more than once a minute is
    /// refused unless it says [`Cron::allow_sub_minute`]. Each firing costs a
    /// few store writes besides the job's. See the module docs for why.
    ///
    /// ```
    /// # use serde::{Deserialize, Serialize};
    /// # use vow::prelude::*;
    /// # #[derive(Serialize, Deserialize)] struct Report;
    /// # #[vow::task("doc-nightly-report")]
    /// # impl Task for Report { type Input = (); type Output = ();
    /// #   async fn run(self, _: (), _: &Cx) -> Result<Resolution<()>, Error> { done(()) } }
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let vow = Vow::embedded();
    /// let at_three_in_paris = vow::Cron::parse("0 3 * * *")?.in_zone("Europe/Paris")?;
    /// let nightly = vow.schedule("nightly-report", &at_three_in_paris, Report).await?;
    /// // At every start-up: the same schedule.
    /// let again = vow.schedule("nightly-report", &at_three_in_paris, Report).await?;
    /// assert_eq!(again.id(), nightly.id());
    /// assert_eq!(again.started(), vow::Started::Existing);
    /// vow.cancel(nightly.id(), "no more reports").await?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn schedule<K: Task<Input = ()>>(
        &self,
        name: &str,
        cron: &Cron,
        job: K,
    ) -> Result<Schedule, BackendError> {
        if let Some(why) = cron.too_often(self.engine().config().min_schedule_interval) {
            return Err(BackendError::fatal(why));
        }
        let now = self.engine().clock().now();
        let first = cron
            .next_after(now)
            .ok_or_else(|| BackendError::fatal(format!("the schedule `{cron}` never fires")))?;
        let clock = self.engine().clock().clone();
        let named = Flow::named("schedule", name, clock.clone());
        let off = named.reserve();
        let tick = Tick {
            name: name.to_owned(),
            cron: cron.clone(),
            job: encode_task(&job),
            opts: job.opts(),
            off: off.clone(),
            at: epoch_millis(first),
            pauses: 0,
        };
        // The name's claim (one conditional write); its flow sends nothing.
        let started = self.start(&named).await?;
        let began = self.began(name, now).await?;
        if started == Started::New {
            // The chain's ids derive from the name and its first firing, so
            // a chain started after the name's record expired never shares
            // an id with an older chain still running. If this start fails,
            // the next `schedule` call finds the chain missing and revives it.
            let chain = Flow::new(
                PromiseId::named("schedule-chain", &format!("{name}@{}", tick.at)),
                clock,
            );
            tick.sleep_toward(&chain);
            self.start(&chain).await?;
        } else {
            self.revive(began, name, cron, &job, &off, now).await?;
        }
        Ok(Schedule { id: off, started })
    }

    /// When the schedule `name` was first scheduled (as far as its record
    /// remembers): one conditional write that records `now` unless a time is
    /// recorded already. The engine's clock, so that skipped time counts.
    async fn began(&self, name: &str, now: SystemTime) -> Result<SystemTime, BackendError> {
        let id = PromiseId::named("schedule-began", name);
        let what = json!({ "began": epoch_millis(now) });
        let slot = Slot::new(Outcome::Ok(what), "schedule");
        let at = match self.engine().store().settle(&Cell::of(&id), &slot).await? {
            Settled::Won { .. } => return Ok(now),
            Settled::Lost { slot, .. } => match slot.outcome {
                Outcome::Ok(v) => v.get("began").and_then(Value::as_u64),
                _ => None,
            },
        };
        Ok(at.map_or(now, |ms| UNIX_EPOCH + Duration::from_millis(ms)))
    }

    /// Start a new chain for the schedule `name` if its chain died: if the
    /// latest firing due more than [`REVIVE_AFTER`] ago (and since the
    /// schedule began, within [`CATCH_UP`]) is unclaimed, or claimed with
    /// nothing saying its job was sent (see [`Firing::Unsent`]). The new chain
    /// starts at that firing, or, if it is unclaimed, at the first unclaimed
    /// one (a chain claims its firings in order) or the unsent one before it.
    async fn revive<K: Task<Input = ()>>(
        &self,
        began: SystemTime,
        name: &str,
        cron: &Cron,
        job: &K,
        off: &PromiseId,
        now: SystemTime,
    ) -> Result<(), BackendError> {
        let engine = self.engine();
        if engine.slot(off).await?.is_some() {
            return Ok(()); // cancelled
        }
        let Some(until) = now.checked_sub(REVIVE_AFTER) else {
            return Ok(());
        };
        // How far back to look: the catch-up window, or an hour for a cron
        // that fires every second (rule 5: the walk below stays short).
        let back = if cron.is_sub_minute() {
            Duration::from_secs(3_600)
        } else {
            CATCH_UP
        };
        let from = now.checked_sub(back).map_or(began, |w| w.max(began));
        let mut due = VecDeque::new();
        let mut t = from;
        while let Some(next) = cron.next_after(t).filter(|n| *n <= until) {
            if due.len() == MAX_LOOK_BACK {
                due.pop_front();
            }
            due.push_back(epoch_millis(next));
            t = next;
        }
        let store = engine.store().as_ref();
        let Some(&latest) = due.back() else {
            return Ok(());
        };
        let at = match firing(store, name, latest).await? {
            Firing::Done => return Ok(()),
            Firing::Unsent => latest,
            Firing::Unclaimed => {
                // The first unclaimed firing: claimed ones come first.
                let claimed = |at: u64| async move {
                    engine
                        .slot(&firing_id(name, at, 0))
                        .await
                        .map(|s| s.is_some())
                };
                let (mut lo, mut hi) = (0, due.len() - 1);
                while lo < hi {
                    let mid = lo + (hi - lo) / 2;
                    if claimed(due[mid]).await? {
                        lo = mid + 1;
                    } else {
                        hi = mid;
                    }
                }
                // The last claimed one may have lost its holder (holes 10, 11).
                let before = match lo.checked_sub(1).map(|before| due[before]) {
                    Some(before) => match firing(store, name, before).await? {
                        Firing::Unsent => Some(before),
                        _ => None,
                    },
                    None => None,
                };
                before.unwrap_or(due[lo])
            }
        };
        tracing::warn!(
            schedule = name,
            at,
            "the schedule's chain stopped: starting it again"
        );
        // Named after the firing and the [`REVIVE_AFTER`] window of this
        // start-up: start-ups close together start one chain, and a revived
        // chain that died too (before or after its claim) is revived again by
        // a later one. Two chains at once are harmless: each firing's lease
        // lets one of them fire it, and the other ends.
        let window = epoch_millis(now) / crate::clock::millis(REVIVE_AFTER).max(1);
        let seed = format!("{name}@{at}~{window}");
        let flow = Flow::named("schedule-revived", &seed, engine.clock().clone());
        let tick = Tick {
            name: name.to_owned(),
            cron: cron.clone(),
            job: encode_task(job),
            opts: job.opts(),
            off: off.clone(),
            at,
            pauses: 0,
        };
        tick.sleep_toward(&flow);
        self.start(&flow).await?;
        Ok(())
    }
}

/// Where a firing stands, for [`Vow::schedule`]'s revive.
#[derive(Debug, PartialEq, Eq)]
enum Firing {
    /// Nobody claimed it.
    Unclaimed,
    /// Its job was sent (or it was skipped).
    Done,
    /// Claimed, and nothing says its job was sent. The holder may be sending right now, or may have died after
    /// its claim and been dead-lettered (holes 10 and 11), which nothing but
    /// a revive repairs: a revived tick for this firing waits out a young
    /// lease, then finds the job sent or takes the lease over.
    Unsent,
}

/// Where the firing `name@at` stands: reads each generation of its lease (at
/// most [`MAX_TAKEOVERS`] + 1) and the holders' ticks.
async fn firing(store: &dyn Store, name: &str, at: u64) -> Result<Firing, BackendError> {
    for generation in 0..=MAX_TAKEOVERS {
        let (lease, _) = slot_and_note(store, &firing_id(name, at, generation)).await?;
        let Some(slot) = lease else {
            return Ok(match generation {
                0 => Firing::Unclaimed,
                _ => Firing::Unsent,
            });
        };
        let Some((tick, _)) = lease_of(slot) else {
            return Ok(Firing::Done); // not a lease, or from before leases
        };
        let (slot, note) = slot_and_note(store, &tick).await?;
        if sent_by(slot, note, at) {
            return Ok(Firing::Done);
        }
    }
    Ok(Firing::Done) // taken over too often: skipped
}

/// The holder's tick and the time of a lease, if `slot` holds one.
fn lease_of(slot: Slot) -> Option<(PromiseId, u64)> {
    let Outcome::Ok(lease) = slot.outcome else {
        return None;
    };
    let tick = lease.get("tick")?.as_str()?.parse().ok()?;
    Some((tick, lease.get("since")?.as_u64()?))
}

/// The id of generation `generation` of the lease on the firing `name@at`.
fn firing_id(name: &str, at: u64, generation: u32) -> PromiseId {
    match generation {
        0 => PromiseId::named("firing", &format!("{name}@{at}")),
        g => PromiseId::named("firing", &format!("{name}@{at}#{g}")),
    }
}

/// The tag of a schedule's tick ([`Tick`]), whose `job` the upgrade check
/// decodes too.
pub(crate) const TICK_TAG: &str = "vow/schedule";

/// One firing of a schedule, run when the sleep before it ends.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Tick {
    name: String,
    cron: Cron,
    job: Value,
    #[serde(default)]
    opts: RunOpts,
    off: PromiseId,
    /// The firing this tick is for, in milliseconds since the Unix epoch.
    at: u64,
    /// How many times this firing was handed to a fresh tick after failing.
    #[serde(default)]
    pauses: u32,
}

/// What a tick did: the settled value of its promise.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Ticked {
    /// The firing whose job this tick sent, if it sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fired: Option<u64>,
}

/// Whether a tick holds its firing's lease.
enum Lease {
    /// This run holds it: send the job.
    Held,
    /// The firing's job was sent by another run: send nothing.
    Done,
    /// Taken over too often: skip the firing.
    Abandoned,
}

/// Positions among a tick's children, so that the paths a tick (or its
/// duplicate) may take never make two promises with one id: looking at the
/// off switch makes children 0 and 1, firing 2 to 4, handing over 5 and 6.
const FIRE_FROM: u32 = 2;
const HAND_OVER_FROM: u32 = 5;

impl Tick {
    /// Sleep until this tick's firing, or [`LOOK_EVERY`] if that is sooner,
    /// then run it.
    fn sleep_toward(self, flow: &Flow) {
        let at = UNIX_EPOCH + Duration::from_millis(self.at);
        let look = flow.now() + LOOK_EVERY;
        flow.sleep_until(at.min(look)).then(self);
    }

    /// Make the children before position `n` (unused), so that the next ones
    /// have the positions a path owns.
    fn skip_to(flow: &Flow, n: u32) {
        while flow.created() < n {
            let _ = flow.reserve();
        }
    }

    async fn tick(&self, cx: &Cx) -> Result<Ticked, Error> {
        if cx.is_settled(&self.off).await? {
            return Ok(Ticked::default()); // cancelled
        }
        let now = epoch_millis(cx.now());
        if now < self.at {
            self.clone().sleep_toward(cx); // woke to look at the off switch
            return Ok(Ticked::default());
        }
        if now > self.at.saturating_add(crate::clock::millis(CATCH_UP)) {
            // Missed for longer than the catch-up window: skipped.
            Tick::skip_to(cx, FIRE_FROM);
            if let Some(next) = self.next(now) {
                next.sleep_toward(cx);
            }
            return Ok(Ticked::default());
        }
        match self.lease(cx, now).await? {
            Lease::Held => {}
            Lease::Done => return Ok(Ticked::default()), // this chain ends
            Lease::Abandoned => {
                tracing::warn!(schedule = %self.name, at = self.at, "firing skipped: taken over {MAX_TAKEOVERS} times");
                Tick::skip_to(cx, FIRE_FROM);
                if let Some(next) = self.next(now) {
                    next.sleep_toward(cx);
                }
                return Ok(Ticked::default());
            }
        }
        Tick::skip_to(cx, FIRE_FROM);
        cx.when_encoded(self.job.clone(), self.opts.clone());
        cx.note_when_sent();
        if let Some(next) = self.next(now) {
            next.sleep_toward(cx);
        }
        Ok(Ticked {
            fired: Some(self.at),
        })
    }

    /// The tick of the firing after this one: the next in the cron, or, if
    /// that is more than [`CATCH_UP`] before `now`, the first within it.
    fn next(&self, now: u64) -> Option<Tick> {
        let at = UNIX_EPOCH + Duration::from_millis(self.at);
        let mut next = self.cron.next_after(at)?;
        let window = (UNIX_EPOCH + Duration::from_millis(now)).checked_sub(CATCH_UP);
        if let Some(window) = window.filter(|w| next < *w) {
            next = self.cron.next_after(window)?;
        }
        Some(Tick {
            at: epoch_millis(next),
            pauses: 0,
            ..self.clone()
        })
    }

    /// Take this firing's lease, or learn who has it (see the module docs).
    async fn lease(&self, cx: &Cx, now: u64) -> Result<Lease, Error> {
        let holder = PromiseId::random().to_string();
        for generation in 0..=MAX_TAKEOVERS {
            let id = firing_id(&self.name, self.at, generation);
            let what = json!({
                "schedule": self.name,
                "at": self.at,
                "holder": holder,
                "tick": cx.id(),
                "since": now,
            });
            let Some(held) = cx.claim_or_holder(&id, &holder, what).await? else {
                return Ok(Lease::Held);
            };
            let Some((tick, since)) = lease_of(held) else {
                // Not a lease (or from before leases): leave the firing alone.
                tracing::warn!(schedule = %self.name, at = self.at, "a firing's claim names no lease holder: not firing it");
                return Ok(Lease::Done);
            };
            if self.fired_by(cx, &tick).await? {
                return Ok(Lease::Done);
            }
            let lease_ms = crate::clock::millis(LEASE);
            if now < since.saturating_add(lease_ms) {
                return Err(Error::retryable(format!(
                    "firing {} of schedule `{}` is being sent by another delivery",
                    self.at, self.name
                )));
            }
            // The holder crashed: take over with the next generation.
        }
        Ok(Lease::Abandoned)
    }

    /// Whether the tick `tick` sent this firing's job: its note says so, or
    /// its slot (see [`sent_by`]).
    async fn fired_by(&self, cx: &Cx, tick: &PromiseId) -> Result<bool, BackendError> {
        let (slot, note) = cx.slot_and_note(tick).await?;
        Ok(sent_by(slot, note, self.at))
    }
}

/// Whether a tick whose record holds `slot` and `note` sent the job of the
/// firing `at`. The holder notes `sent` once its plan is out and before it
/// settles (hole 9: another writer under the tick's token, a copy's
/// hand-over or a dead-letter settle, can settle the slot first with no
/// `fired`, and the note is what still says the job went out).
fn sent_by(slot: Option<Slot>, note: Option<Note>, at: u64) -> bool {
    let fired = |slot: Slot| match slot.outcome {
        Outcome::Ok(v) => serde_json::from_value::<Ticked>(v).is_ok_and(|t| t.fired == Some(at)),
        _ => false,
    };
    note.is_some_and(|n| n.sent) || slot.is_some_and(fired)
}

#[crate::task("vow/schedule")]
impl Task for Tick {
    type Input = Result<(), Failure>;
    type Output = Ticked;
    async fn run(self, woke: Self::Input, cx: &Cx) -> Result<Resolution<Ticked>, Error> {
        if woke.is_err() {
            return done(Ticked::default()); // its sleep was cancelled
        }
        match self.tick(cx).await {
            Ok(ticked) => done(ticked),
            Err(e) if e.is_retryable() && cx.attempt() >= HAND_OVER_AT => {
                // Hand the firing to a fresh tick after a pause, for ever:
                // the schedule's machinery does not give up.
                let pause = Duration::from_secs(10)
                    .saturating_mul(1 << self.pauses.min(16))
                    .min(MAX_PAUSE);
                tracing::warn!(schedule = %self.name, at = self.at, error = %e, ?pause, "tick failed: trying again later");
                Tick::skip_to(cx, HAND_OVER_FROM);
                let again = Tick {
                    pauses: self.pauses.saturating_add(1),
                    ..self
                };
                cx.sleep(pause).then(again);
                done(Ticked::default())
            }
            Err(e) => Err(e),
        }
    }

    fn max_attempts(&self) -> Option<u32> {
        Some(HAND_OVER_AT)
    }
}
