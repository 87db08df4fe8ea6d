//! How task errors reach the engine (embedded backend): what `?` retries and
//! what settles at once, the source chain in the settled failure, the marks,
//! anyhow interop, `closure!` options, join combinators, and the client's
//! `status`/`wait` answers.

mod common;

use common::*;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use vow::prelude::*;
use vow::{Status, WaitError};

/// Fails the way its `how` says, through `?`, and counts its runs under `key`.
#[derive(Debug, Serialize, Deserialize)]
struct FailWith {
    how: String,
    key: String,
}

/// An application error with a cause, like a `thiserror` enum with `#[source]`.
#[derive(Debug)]
enum Billing {
    Upstream(std::io::Error),
}

impl std::fmt::Display for Billing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Billing::Upstream(_) => f.write_str("charging the card"),
        }
    }
}

impl std::error::Error for Billing {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Billing::Upstream(e) => Some(e),
        }
    }
}

fn charge(kind: std::io::ErrorKind) -> Result<u64, Billing> {
    Err(Billing::Upstream(std::io::Error::new(
        kind,
        "gateway said no",
    )))
}

#[vow::task("test/errors/fail-with")]
impl Task for FailWith {
    type Input = ();
    type Output = u64;
    async fn run(self, _: (), _: &Cx) -> Result<Resolution<u64>, Error> {
        bump(&self.key);
        let n: u64 = match self.how.as_str() {
            "serde" => serde_json::from_str("\"not a number\"")?,
            "timed-out" => charge(std::io::ErrorKind::TimedOut)?,
            "denied" => charge(std::io::ErrorKind::PermissionDenied)?,
            "anyhow" => {
                Err(anyhow::anyhow!("socket closed")).map_err(|e| e.context("calling billing"))?
            }
            "marked" => charge(std::io::ErrorKind::TimedOut).permanent()?,
            "message" => Err("plain words")?,
            _ => 0,
        };
        done(n)
    }
}

/// The failure `FailWith` settles with, and the attempt that settled it (a
/// redelivered message under load may run an attempt twice, so runs are not
/// counted).
async fn run(how: &str) -> (Failure, u32) {
    let vow = embedded();
    let key = key();
    let p = vow
        .when(FailWith {
            how: how.into(),
            key: key.clone(),
        })
        .await
        .expect("start");
    let failure = vow
        .wait(&p, WAIT)
        .await
        .expect("settles")
        .expect_err("fails");
    assert!(count(&key) >= 1);
    let attempt = vow.inspect(p.id()).await.expect("inspect").attempt;
    (failure, attempt.expect("settled by its task"))
}

#[tokio::test]
async fn a_serde_error_settles_failed_after_one_attempt() {
    let (failure, attempts) = run("serde").await;
    assert_eq!(failure.kind(), FailureKind::Error, "{failure}");
    assert_eq!(attempts, 1);
    assert!(failure.message().contains("invalid type"), "{failure}");
}

#[tokio::test]
async fn a_transient_error_is_retried_and_crashes_naming_its_chain() {
    let (failure, attempts) = run("timed-out").await;
    assert_eq!(failure.kind(), FailureKind::Crashed, "{failure}");
    assert_eq!(attempts, 3, "the default attempts");
    assert_eq!(
        failure.message(),
        "gave up after 3 attempts; last error: charging the card: gateway said no"
    );
}

#[tokio::test]
async fn a_permanent_cause_settles_at_once_with_its_chain() {
    let (failure, attempts) = run("denied").await;
    assert_eq!(attempts, 1);
    assert_eq!(failure.kind(), FailureKind::Error);
    assert_eq!(failure.message(), "charging the card: gateway said no");
}

#[tokio::test]
async fn anyhow_errors_convert_with_their_context() {
    let (failure, attempts) = run("anyhow").await;
    assert_eq!(attempts, 3, "unrecognised errors are retried");
    assert!(
        failure
            .message()
            .ends_with("calling billing: socket closed"),
        "{failure}"
    );
}

#[tokio::test]
async fn marks_win_over_the_classification() {
    let (failure, attempts) = run("marked").await;
    assert_eq!(attempts, 1);
    assert_eq!(failure.message(), "charging the card: gateway said no");
    let (failure, attempts) = run("message").await;
    assert_eq!((failure.kind(), attempts), (FailureKind::Crashed, 3));
}

#[test]
fn a_vow_error_converts_into_other_error_types() {
    fn task_helper() -> Result<u64, Error> {
        Err(Error::permanent(std::io::Error::other("disk gone")))
    }
    fn caller() -> Result<u64, Box<dyn std::error::Error + Send>> {
        Ok(task_helper()?)
    }
    let e = caller().expect_err("fails");
    assert_eq!(e.to_string(), "disk gone");
    assert!(e.downcast_ref::<std::io::Error>().is_some());
}

#[cfg(feature = "anyhow")]
#[test]
fn anyhow_code_can_question_mark_a_vow_error() {
    fn task_helper() -> Result<u64, Error> {
        Err(Error::retryable(std::io::Error::other("disk gone")))
    }
    fn caller() -> anyhow::Result<u64> {
        Ok(task_helper()?)
    }
    let e = caller().expect_err("fails");
    let chain: Vec<String> = e.chain().map(ToString::to_string).collect();
    assert_eq!(chain, ["disk gone"]);
    fn with_cause() -> Result<u64, Error> {
        Ok(charge(std::io::ErrorKind::NotFound)?)
    }
    let e = (|| -> anyhow::Result<u64> { Ok(with_cause()?) })().expect_err("fails");
    let chain: Vec<String> = e.chain().map(ToString::to_string).collect();
    assert_eq!(chain, ["charging the card", "gateway said no"]);
}

#[tokio::test]
async fn closure_options_set_timeout_and_attempts() {
    let vow = embedded();
    let flow = vow.flow();
    let limit = Duration::from_millis(50);
    let slow = flow.when(vow::closure!(
        "test/errors/slow-closure",
        [],
        timeout = limit,
        |_: ()| -> Result<u64, Error> {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok(1)
        }
    ));
    let k = key();
    let once = flow.when(vow::closure!(
        "test/errors/once-closure",
        [k: String = k.clone()],
        attempts = 1,
        |_: ()| -> Result<u64, Error> {
            bump(&k);
            Err(Error::retryable("flaky"))
        }
    ));
    vow.start(&flow).await.expect("start");
    let f = vow
        .wait(&slow, WAIT)
        .await
        .expect("settles")
        .expect_err("times out");
    assert_eq!(f.kind(), FailureKind::Timeout, "{f}");
    assert!(f.message().contains("50ms"), "{f}");
    let f = vow
        .wait(&once, WAIT)
        .await
        .expect("settles")
        .expect_err("fails");
    assert_eq!(f.kind(), FailureKind::Crashed, "{f}");
    assert!(count(&k) >= 1);
    let settled_by = vow.inspect(once.id()).await.expect("inspect").attempt;
    assert_eq!(settled_by, Some(1), "one attempt only");
}

#[tokio::test]
async fn join_combinators_in_successors() {
    let vow = embedded();
    let flow = vow.flow();
    let members = || {
        vec![
            flow.when(Value(1)),
            flow.when(Fail("second".into())),
            flow.when(Value(3)),
            flow.when(Fail("fourth".into())),
        ]
    };
    let all =
        flow.all(members())
            .then(vow::closure!("test/errors/all-ok", [], |joined: Joined<
                u64,
            >|
             -> Result<
                u64,
                Error,
            > {
                Ok(joined.all_ok()?.into_iter().sum())
            }));
    let some = flow.all(members()).then(vow::closure!(
        "test/errors/successes",
        [],
        |joined: Joined<u64>| -> Result<u64, Error> { Ok(joined.successes()?.into_iter().sum()) }
    ));
    let split = flow.all(members()).then(vow::closure!(
        "test/errors/partition",
        [],
        |joined: Joined<u64>| -> Result<Vec<usize>, Error> {
            let split = joined.partition()?;
            Ok(split.failures.into_iter().map(|(i, _)| i).collect())
        }
    ));
    vow.start(&flow).await.expect("start");
    let f = vow
        .wait(&all, WAIT)
        .await
        .expect("settles")
        .expect_err("fails");
    assert_eq!(f.message(), "second", "the first failure in member order");
    assert_eq!(vow.wait(&some, WAIT).await.expect("settles"), Ok(4));
    assert_eq!(
        vow.wait(&split, WAIT).await.expect("settles"),
        Ok(vec![1, 3])
    );
}

#[tokio::test]
async fn a_decode_mismatch_is_the_waits_error_not_the_workflows() {
    let vow = embedded();
    let p = vow.when(Value(7)).await.expect("start");
    assert_eq!(vow.wait(&p, WAIT).await.expect("settles"), Ok(7));
    let wrong: Handle<String> = Handle::from_id(p.id().clone());
    match vow.wait(&wrong, WAIT).await {
        Err(WaitError::Decode { expected, .. }) => assert!(expected.contains("String")),
        other => panic!("expected a decode error, got {other:?}"),
    }
}

/// Reports progress, then runs until told to stop through its key.
#[derive(Debug, Serialize, Deserialize)]
struct Reporting {
    key: String,
}

#[vow::task("test/errors/reporting")]
impl Task for Reporting {
    type Input = ();
    type Output = u64;
    async fn run(self, _: (), cx: &Cx) -> Result<Resolution<u64>, Error> {
        cx.progress(1, 2).await;
        for _ in 0..100 {
            let checked = cx.check_cancelled().await;
            if checked.is_err() {
                bump(&self.key);
            }
            checked?;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        bump(&format!("{}-finished", self.key));
        done(1)
    }
}

#[tokio::test]
async fn status_tells_unknown_from_pending_and_check_cancelled_stops() {
    let vow = embedded();
    assert_eq!(
        vow.status(&PromiseId::random()).await.expect("status"),
        Status::Unknown
    );
    let k = key();
    let p = vow.when(Reporting { key: k.clone() }).await.expect("start");
    let mut status = Status::Unknown;
    for _ in 0..200 {
        status = vow.status(p.id()).await.expect("status");
        if status != Status::Unknown {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(status, Status::Pending, "its progress note is a record");
    vow.cancel(p.id(), "enough").await.expect("cancel");
    let f = vow
        .wait(&p, WAIT)
        .await
        .expect("settles")
        .expect_err("cancelled");
    assert_eq!(f.kind(), FailureKind::Cancelled);
    for _ in 0..200 {
        if count(&k) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(count(&k) >= 1, "the task stopped at its check");
    // A run that missed the cancel would finish its loop within a second.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    assert_eq!(count(&format!("{k}-finished")), 0, "no run went on");
}
