//! The seed's examples as vow tasks: a timeout reaching the next step, a closure
//! with captured state, a fan-out/fan-in, and "map over a data set, then count".
//!
//! [`run_all`] runs each on a [`Vow`] and checks its result; the `quickstart`
//! binary prints them.

pub mod count;
pub mod progress;
pub mod rooted;

use serde::{Deserialize, Serialize};
use std::time::Duration;
use vow::prelude::*;

pub use count::{expected_count, seed_dynamo, Item, MapCount, Predicate, Table};
pub use progress::{Crunch, CrunchAll};
pub use rooted::{ClosureSample, FanIn, TimeoutSample};

vow::tasks!();

/// Step one of the timeout sample: sleeps longer than its own timeout.
#[derive(Debug, Serialize, Deserialize)]
pub struct SlowStep {
    /// How long the step works.
    pub work_ms: u64,
    /// Its timeout.
    pub timeout_ms: u64,
}

#[vow::task("samples/slow-step")]
impl Task for SlowStep {
    type Input = ();
    type Output = String;
    async fn run(self, _: (), _cx: &Cx) -> Result<Resolution<String>, Error> {
        tokio::time::sleep(Duration::from_millis(self.work_ms)).await;
        done("finished".to_owned())
    }
    fn timeout(&self) -> Option<Duration> {
        Some(Duration::from_millis(self.timeout_ms))
    }
}

/// Step two of the timeout sample: reports what happened to step one.
#[derive(Debug, Serialize, Deserialize)]
pub struct Report;

#[vow::task("samples/report")]
impl Task for Report {
    type Input = Result<String, Failure>;
    type Output = String;
    async fn run(self, first: Self::Input, _cx: &Cx) -> Result<Resolution<String>, Error> {
        done(match first {
            Ok(v) => format!("first step said {v}"),
            Err(f) if f.kind() == FailureKind::Timeout => format!("first step timed out ({f})"),
            Err(f) => format!("first step failed ({f})"),
        })
    }
}

/// Squares a number: the members of the fan-out sample.
#[derive(Debug, Serialize, Deserialize)]
pub struct Square(pub u64);

#[vow::task("samples/square")]
impl Task for Square {
    type Input = ();
    type Output = u64;
    async fn run(self, _: (), _cx: &Cx) -> Result<Resolution<u64>, Error> {
        done(self.0 * self.0)
    }
}

/// Sums the outcomes of a join, failing if any member failed.
#[derive(Debug, Serialize, Deserialize)]
pub struct Sum;

#[vow::task("samples/sum")]
impl Task for Sum {
    type Input = Result<Vec<Result<u64, Failure>>, Failure>;
    type Output = u64;
    async fn run(self, all: Self::Input, _cx: &Cx) -> Result<Resolution<u64>, Error> {
        let mut total = 0;
        for member in all? {
            total += member?;
        }
        done(total)
    }
}

/// The closure sample: `greeting` and `times` come from the enclosing function
/// and travel in the message.
pub fn greeting(flow: &Flow, greeting: String, times: usize) -> Promise<String> {
    let shout = vow::closure!(
        "samples/shout",
        [greeting: String, times: usize],
        |_: ()| -> Result<String, Error> { Ok(vec![greeting.to_uppercase(); times].join(" ")) }
    );
    flow.when(shout)
}

/// One sample's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// The line to print.
    pub line: String,
    /// Whether the result was the expected one.
    pub ok: bool,
}

fn check<T: PartialEq>(got: &Result<T, Failure>, want: T, line: String) -> Checked {
    let ok = matches!(got, Ok(v) if *v == want);
    Checked { line, ok }
}

/// Run every sample on `vow` and check each result. `table` is the data set of the
/// map-and-count sample.
pub async fn run_all(
    vow: &Vow,
    table: Table,
    wait: Duration,
) -> Result<Vec<Checked>, Box<dyn std::error::Error>> {
    let flow = vow.flow();
    let timed = flow
        .when(SlowStep {
            work_ms: 2_000,
            timeout_ms: 100,
        })
        .then(Report);
    let shout = greeting(&flow, "hello".to_owned(), 3);
    let squares = flow.all((1..=10).map(|n| flow.when(Square(n))));
    let total = squares.then(Sum);
    let predicate = Predicate {
        color: "red".into(),
        min_weight: 50,
    };
    let count = flow.when(MapCount {
        table: table.clone(),
        segments: 4,
        page_size: 250,
        predicate: predicate.clone(),
    });
    vow.start(&flow).await?;

    let mut out = Vec::new();
    let r = vow.wait(&timed, wait).await?;
    let ok = matches!(&r, Ok(s) if s.starts_with("first step timed out"));
    out.push(Checked {
        line: format!("timeout: {}", show(&r)),
        ok,
    });

    let r = vow.wait(&shout, wait).await?;
    out.push(check(
        &r,
        "HELLO HELLO HELLO".to_owned(),
        format!("closure: {}", show(&r)),
    ));

    let r = vow.wait(&total, wait).await?;
    out.push(check(
        &r,
        385u64,
        format!("fan-out/fan-in: sum of squares 1..=10 = {}", show(&r)),
    ));

    let r = vow.wait(&count, wait).await?;
    let want = expected_count(&table, &predicate)
        .await
        .map_err(|e| e.to_string())?;
    let items = table.item_count().await.map_err(|e| e.to_string())?;
    let line = match &r {
        Ok(n) => format!(
            "map-and-count: count={n} (expected {want}, {} items)",
            items
        ),
        Err(f) => format!("map-and-count: failed: {f}"),
    };
    out.push(check(&r, want, line));
    Ok(out)
}

fn show<T: std::fmt::Display>(r: &Result<T, Failure>) -> String {
    match r {
        Ok(v) => v.to_string(),
        Err(f) => format!("failed: {f}"),
    }
}
