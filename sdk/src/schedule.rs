//! Schedules: a task run at every time a [`Cron`] expression names.
//!
//! A schedule is a chain of `vow/schedule` ticks, each a successor of a sleep
//! until its firing. A tick first checks the schedule's off switch (a promise
//! nothing settles but a cancel), then claims its firing, `(name, time)`, with
//! one conditional write ([`crate::store::claim`]) under a token derived from
//! its own promise: a retry or a duplicate of the tick holds the claim again,
//! and another chain of the same name (started again once its name's record
//! expired) loses it and ends. So each firing runs the job at most once, however
//! many chains there are. The winner sends the job and sleeps toward the next
//! firing, waking at least weekly to look at the off switch, so a cancel is
//! seen long before the switch's record could expire.

use crate::clock::epoch_millis;
use crate::context::Cx;
use crate::cron::Cron;
use crate::error::{BackendError, Error};
use crate::failure::Failure;
use crate::flow::{Flow, Started};
use crate::id::{outside_token, PromiseId};
use crate::task::{done, encode_task, Resolution, Task};
use crate::wire::RunOpts;
use crate::Vow;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::{Duration, UNIX_EPOCH};

/// The longest a schedule sleeps before it looks at its off switch again.
const LOOK_EVERY: Duration = Duration::from_secs(7 * 24 * 3_600);

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
    /// Run `job` at every time `cron` names (UTC), until the schedule is
    /// cancelled. Nothing runs in between: the schedule sleeps in the queue.
    ///
    /// Idempotent by `name`, like [`Vow::flow_named`]: scheduling a name that is
    /// scheduled already changes nothing and returns the same [`Schedule`]
    /// with [`Started::Existing`], so a service can schedule at every start-up.
    /// To change a schedule's time or job, cancel it and schedule another
    /// name. A firing runs the job at most once; a firing missed because no
    /// worker ran is skipped, not caught up. Each firing costs a few store
    /// writes besides the job's.
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
    /// let nightly = vow.schedule("nightly-report", &"0 3 * * *".parse()?, Report).await?;
    /// // At every start-up: the same schedule.
    /// let again = vow.schedule("nightly-report", &"0 3 * * *".parse()?, Report).await?;
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
        let first = cron
            .next_after(self.engine().clock().now())
            .ok_or_else(|| BackendError::fatal(format!("the schedule `{cron}` never fires")))?;
        let flow = Flow::named("schedule", name, self.engine().clock().clone());
        let off = flow.reserve();
        let tick = Tick {
            name: name.to_owned(),
            cron: cron.clone(),
            job: encode_task(&job),
            opts: job.opts(),
            off: off.clone(),
            at: epoch_millis(first),
        };
        tick.sleep_toward(&flow);
        let started = self.start(&flow).await?;
        Ok(Schedule { id: off, started })
    }
}

/// One firing of a schedule, run when the sleep before it ends.
#[derive(Debug, Serialize, Deserialize)]
struct Tick {
    name: String,
    cron: Cron,
    job: Value,
    #[serde(default)]
    opts: RunOpts,
    off: PromiseId,
    /// The firing this tick is for, in milliseconds since the Unix epoch.
    at: u64,
}

impl Tick {
    /// Sleep until this tick's firing, or a week if that is sooner, then run it.
    fn sleep_toward(self, flow: &Flow) {
        let at = UNIX_EPOCH + Duration::from_millis(self.at);
        let look = flow.now() + LOOK_EVERY;
        flow.sleep_until(at.min(look)).then(self);
    }
}

#[crate::task("vow/schedule")]
impl Task for Tick {
    type Input = Result<(), Failure>;
    type Output = ();
    async fn run(self, woke: Self::Input, cx: &Cx) -> Result<Resolution<()>, Error> {
        if woke.is_err() || cx.is_settled(&self.off).await? {
            return done(()); // cancelled
        }
        let now = epoch_millis(cx.now());
        if now < self.at {
            self.sleep_toward(cx); // woke to look at the off switch
            return done(());
        }
        let firing = PromiseId::named("firing", &format!("{}@{}", self.name, self.at));
        let token = outside_token("fire", &cx.id());
        let what = serde_json::json!({ "schedule": self.name, "at": self.at });
        if !cx.claim(&firing, &token, what).await? {
            return done(()); // another chain of this schedule fired it: this one ends
        }
        cx.when_encoded(self.job.clone(), self.opts.clone());
        let after = UNIX_EPOCH + Duration::from_millis(self.at.max(now));
        if let Some(next) = self.cron.next_after(after) {
            let next = Tick {
                at: epoch_millis(next),
                ..self
            };
            next.sleep_toward(cx);
        }
        done(())
    }
}
