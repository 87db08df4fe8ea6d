//! Each example as one root task, so one promise id names the whole workflow:
//! `vow run` enqueues these, and `vow tree` shows everything the root spawned.
//! (`MapCount` is already a root task.)

use crate::{greeting, Report, SlowStep, Square, Sum};
use serde::{Deserialize, Serialize};
use vow::prelude::*;

/// The timeout example: a step that outlives its timeout, then a report on it.
#[derive(Debug, Serialize, Deserialize)]
pub struct TimeoutSample {
    /// How long the first step works.
    pub work_ms: u64,
    /// Its timeout.
    pub timeout_ms: u64,
}

#[vow::task("samples/timeout")]
impl Task for TimeoutSample {
    type Input = ();
    type Output = String;
    async fn run(self, _: (), cx: &Cx) -> Result<Resolution<String>, Error> {
        let first = cx.when(SlowStep {
            work_ms: self.work_ms,
            timeout_ms: self.timeout_ms,
        });
        adopt(first.then(Report))
    }
}

/// The closure example: a greeting shouted `times` times.
#[derive(Debug, Serialize, Deserialize)]
pub struct ClosureSample {
    /// What to shout.
    pub greeting: String,
    /// How often.
    pub times: usize,
}

#[vow::task("samples/closure")]
impl Task for ClosureSample {
    type Input = ();
    type Output = String;
    async fn run(self, _: (), cx: &Cx) -> Result<Resolution<String>, Error> {
        adopt(greeting(cx, self.greeting, self.times))
    }
}

/// Fan-out/fan-in: square `1..=n` in parallel, then sum the squares.
#[derive(Debug, Serialize, Deserialize)]
pub struct FanIn {
    /// How many squares.
    pub n: u64,
}

#[vow::task("samples/fan-in")]
impl Task for FanIn {
    type Input = ();
    type Output = u64;
    async fn run(self, _: (), cx: &Cx) -> Result<Resolution<u64>, Error> {
        adopt(cx.fan_out((1..=self.n).map(Square)).then(Sum))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn rooted_samples_give_the_examples_results() {
        let vow = Vow::embedded();
        let wait = Duration::from_secs(10);
        let fan_in = vow.when(FanIn { n: 10 }).await.expect("start");
        assert_eq!(vow.wait(&fan_in, wait).await.expect("settles"), Ok(385));
        let shout = vow
            .when(ClosureSample {
                greeting: "hi".into(),
                times: 2,
            })
            .await
            .expect("start");
        assert_eq!(
            vow.wait(&shout, wait).await.expect("settles"),
            Ok("HI HI".to_owned())
        );
        let timed = vow
            .when(TimeoutSample {
                work_ms: 2_000,
                timeout_ms: 50,
            })
            .await
            .expect("start");
        let report = vow.wait(&timed, wait).await.expect("settles");
        assert!(
            matches!(&report, Ok(s) if s.starts_with("first step timed out")),
            "{report:?}"
        );
    }
}
