//! Tasks the end-to-end tests and the chaos run share.

use serde::{Deserialize, Serialize};
use vow::prelude::*;

/// Adds one to its input.
#[derive(Debug, Serialize, Deserialize)]
pub struct Inc;

#[vow::task("e2e/inc")]
impl Task for Inc {
    type Input = Result<u64, Failure>;
    type Output = u64;
    async fn run(self, x: Self::Input, _cx: &Cx) -> Result<Resolution<u64>, Error> {
        done(x? + 1)
    }
}

/// Fails retryably before attempt `ok_on`, then returns the attempt.
#[derive(Debug, Serialize, Deserialize)]
pub struct Flaky {
    /// The first attempt that succeeds.
    pub ok_on: u32,
}

#[vow::task("e2e/flaky")]
impl Task for Flaky {
    type Input = ();
    type Output = u32;
    async fn run(self, _: (), cx: &Cx) -> Result<Resolution<u32>, Error> {
        if cx.attempt() < self.ok_on {
            return Err(Error::retryable("not yet"));
        }
        done(cx.attempt())
    }
    fn max_attempts(&self) -> Option<u32> {
        Some(self.ok_on + 5)
    }
}

/// The map step of the map-and-count benchmark: 1 if the synthetic item `id`
/// is red with weight at least 50, else 0 (summed by `vow_samples::Sum`).
#[derive(Debug, Serialize, Deserialize)]
pub struct MatchOne {
    /// The item's id.
    pub id: u32,
}

impl MatchOne {
    /// Whether the item matches.
    pub fn matches(id: u32) -> bool {
        let item = vow_samples::count::synthetic_item(id);
        item.color == "red" && item.weight >= 50
    }
}

#[vow::task("e2e/match-one")]
impl Task for MatchOne {
    type Input = ();
    type Output = u64;
    async fn run(self, _: (), _cx: &Cx) -> Result<Resolution<u64>, Error> {
        done(u64::from(Self::matches(self.id)))
    }
}
