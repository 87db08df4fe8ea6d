//! Long waits on the test clock: approvals that take days, sleeps inside the
//! steps that follow them, and what a resolve or a cancel before a deadline
//! leaves behind. Every test here moves time with `Vow::skip_time` and waits
//! for the embedded workers to have nothing due before it moves on, so none of
//! them depends on how fast the machine is.

mod common;

use common::*;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use vow::backend::{Queue, Store};
use vow::prelude::*;

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3_600);
const DAY: Duration = Duration::from_secs(24 * 3_600);

/// Wait (in real time, generously) until the embedded workers have nothing
/// due and nothing in flight, and the timer index has sent everything due.
async fn quiet(vow: &Vow) {
    let (work, dead) = vow.memory_queues().expect("embedded");
    let store = vow.memory_store().expect("embedded");
    let give_up = std::time::Instant::now() + WAIT;
    // Two looks in a row: a message handled between them may send another.
    let mut calm = 0;
    while calm < 2 {
        assert!(
            std::time::Instant::now() < give_up,
            "the workers never went quiet"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
        vow.engine().sweep("test").await.expect("sweep");
        let sweeping = store.sweep_cursor().await.expect("cursor");
        let swept = sweeping.is_none_or(|c| c.sweeping.is_none());
        calm = if swept && work.busy() + dead.busy() == 0 {
            calm + 1
        } else {
            0
        };
    }
}

/// Let `total` pass on the test clock in steps of `step`, letting the workers
/// finish what each step made due.
async fn pass(vow: &Vow, total: Duration, step: Duration) {
    let mut passed = Duration::ZERO;
    while passed < total {
        quiet(vow).await;
        vow.skip_time(step).expect("embedded");
        passed += step;
    }
    quiet(vow).await;
}

/// Ships an approved order, then asks for a survey three days later (a sleep
/// adopted inside the step, as a workflow would write it).
#[derive(Debug, Serialize, Deserialize)]
struct Ship {
    key: String,
}

#[vow::task("waits/ship")]
impl Task for Ship {
    type Input = Result<bool, Failure>;
    type Output = String;
    async fn run(self, approved: Self::Input, cx: &Cx) -> Result<Resolution<String>, Error> {
        let approved = match approved {
            Ok(yes) => yes.to_string(),
            Err(f) => f.kind().as_str().to_owned(),
        };
        log(&format!("{}/ship", self.key), approved);
        adopt(cx.sleep(3 * DAY).then(Survey { key: self.key }))
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Survey {
    key: String,
}

#[vow::task("waits/survey")]
impl Task for Survey {
    type Input = Result<(), Failure>;
    type Output = String;
    async fn run(self, slept: Self::Input, _cx: &Cx) -> Result<Resolution<String>, Error> {
        let said = match slept {
            Ok(()) => "survey".to_owned(),
            Err(f) => f.kind().as_str().to_owned(),
        };
        log(&format!("{}/survey", self.key), said.clone());
        done(said)
    }
}

/// An approval with a week's deadline, settled early by `settle_early`, then
/// ten days on the clock: the step after it must run once, and the sleep it
/// adopted must end once.
async fn approval_settled_early<F, Fut>(settle_early: F) -> (Vec<String>, Vec<String>)
where
    F: FnOnce(Vow, PromiseId) -> Fut,
    Fut: std::future::Future<Output = Vow>,
{
    let vow = embedded();
    let k = key();
    let flow = vow.flow();
    let (approval, _resolver) = flow.callback::<bool>(7 * DAY);
    let shipped = approval.then(Ship { key: k.clone() });
    vow.start(&flow).await.expect("start");
    pass(&vow, HOUR, MINUTE).await;
    let vow = settle_early(vow, approval.id().clone()).await;
    // The ship step runs at once, and sleeps for three days.
    pass(&vow, 10 * MINUTE, MINUTE).await;
    assert_eq!(read_log(&format!("{k}/ship")).len(), 1, "shipped at once");
    // Ten days: every hop of the deadline's timer, the survey's sleep, the
    // deadline itself.
    pass(&vow, HOUR, 15 * MINUTE).await;
    pass(&vow, 10 * DAY, 6 * HOUR).await;
    let survey = vow.wait(&shipped, WAIT).await.expect("wait");
    assert!(survey.is_ok(), "{survey:?}");
    (
        read_log(&format!("{k}/ship")),
        read_log(&format!("{k}/survey")),
    )
}

#[tokio::test]
async fn an_approval_resolved_early_ships_once_and_surveys_once() {
    let (ship, survey) = approval_settled_early(|vow, id| async move {
        let resolver = Resolver::<bool>::from_id(id);
        vow.resolve(&resolver, Ok(true)).await.expect("resolve");
        vow
    })
    .await;
    assert_eq!(ship, vec!["true".to_owned()]);
    assert_eq!(survey, vec!["survey".to_owned()]);
}

#[tokio::test]
async fn an_approval_cancelled_early_ships_once_and_surveys_once() {
    let (ship, survey) = approval_settled_early(|vow, id| async move {
        vow.cancel(&id, "order withdrawn").await.expect("cancel");
        vow
    })
    .await;
    assert_eq!(ship, vec!["cancelled".to_owned()]);
    assert_eq!(survey, vec!["survey".to_owned()]);
}

#[tokio::test]
async fn only_callbacks_are_resolved_from_outside_and_a_resolve_says_if_it_won() {
    let vow = embedded();
    let flow = vow.flow();
    let nap = flow.sleep(DAY);
    let (answer, resolver) = flow.callback::<u64>(DAY);
    let started = std::time::SystemTime::now();
    vow.start(&flow).await.expect("start");
    // `vow status` and `vow tree` show when each ends.
    let near_a_day = |at: std::time::SystemTime| {
        let after = at.duration_since(started).expect("later");
        (DAY - MINUTE..DAY + MINUTE).contains(&after)
    };
    let nap_ends = vow.inspect(nap.id()).await.expect("inspect").waiting;
    assert!(
        matches!(nap_ends, Some(vow::walk::Waiting::Sleep { until }) if near_a_day(until)),
        "{nap_ends:?}"
    );
    let answer_ends = vow.inspect(answer.id()).await.expect("inspect").waiting;
    assert!(
        matches!(answer_ends, Some(vow::walk::Waiting::Callback { deadline: Some(at), heartbeat: None, .. }) if near_a_day(at)),
        "{answer_ends:?}"
    );
    // A sleep, an id nobody made, a running step's promise: refused.
    for id in [nap.id().clone(), PromiseId::random()] {
        let err = vow
            .resolve(&Resolver::<u64>::from_id(id), Ok(1))
            .await
            .expect_err("refused");
        assert!(err.to_string().contains("is not a callback"), "{err}");
    }
    assert_eq!(
        vow.resolve(&resolver, Ok(7)).await.expect("resolve"),
        vow::Resolved::Won
    );
    assert_eq!(
        vow.resolve(&resolver, Ok(8)).await.expect("resolve"),
        vow::Resolved::TooLate
    );
    assert_eq!(vow.wait(&answer, WAIT).await.expect("wait"), Ok(7));
    quiet(&vow).await;
    assert_eq!(vow.wait(&answer, WAIT).await.expect("wait"), Ok(7));
}

#[tokio::test]
async fn a_callback_with_a_heartbeat_lives_while_it_beats_and_times_out_when_it_stops() {
    let vow = embedded();
    let k = key();
    let flow = vow.flow();
    let (answer, resolver) = flow.callback_with_heartbeat::<bool>(30 * DAY, DAY);
    let shipped = answer.then(Ship { key: k.clone() });
    vow.start(&flow).await.expect("start");
    // A beat every 20 hours for ten days: still waiting.
    for _ in 0..12 {
        pass(&vow, 20 * HOUR, 4 * HOUR).await;
        assert!(
            vow.heartbeat(&resolver).await.expect("beat"),
            "still waiting"
        );
    }
    assert!(read_log(&format!("{k}/ship")).is_empty(), "not timed out");
    // Silent for more than a day: it times out, long before its 30 days.
    pass(&vow, 2 * DAY, 4 * HOUR).await;
    assert_eq!(read_log(&format!("{k}/ship")), vec!["timeout".to_owned()]);
    assert!(!vow.heartbeat(&resolver).await.expect("beat"), "settled");
    let outcome = vow.wait(&answer, WAIT).await.expect("wait");
    assert!(
        matches!(&outcome, Err(f) if f.message().contains("no heartbeat")),
        "{outcome:?}"
    );
    // Its deadline changes nothing after.
    pass(&vow, 30 * DAY, 5 * DAY).await;
    assert_eq!(read_log(&format!("{k}/ship")).len(), 1);
    assert!(vow.wait(&shipped, WAIT).await.expect("wait").is_ok());
}

/// The resolve message any language can send to the work queue (docs/waits.md):
/// unsigned when the deployment signs, or naming anything but a callback, it
/// is refused and settles nothing; signed and sent twice (an SQS duplicate),
/// it resolves the callback once and what follows runs once.
#[tokio::test]
async fn a_json_resolve_message_settles_only_a_callback_and_only_once() {
    let keys = vow::signing::SigningKeys::parse("k1=a-secret-of-sixteen-bytes").expect("keys");
    let mut config = fast_config();
    config.engine.signing = Some(keys.clone());
    let vow = Vow::embedded_with(config);
    let k = key();
    let flow = vow.flow();
    let nap = flow.sleep(DAY);
    let (approval, _resolver) = flow.callback::<bool>(7 * DAY);
    let shipped = approval.then(Ship { key: k.clone() });
    vow.start(&flow).await.expect("start");
    quiet(&vow).await;
    let (queue, _) = vow.memory_queues().expect("embedded");
    let send = |bodies: Vec<String>| {
        let messages = bodies
            .into_iter()
            .map(|body| vow::queue::Outgoing {
                body,
                delay: Duration::ZERO,
            })
            .collect();
        queue.send(messages)
    };
    let resolve =
        |id: &PromiseId, value: &str| format!(r#"{{"vow":"resolve","id":"{id}","value":{value}}}"#);
    // Signed for the work queue, now (vow-sig2:<key>:<issued ms>:<mac>:<body>).
    let sign = |body: &str| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after the epoch");
        let now = u64::try_from(now.as_millis()).expect("ms");
        keys.sign(vow::queue::Queue::name(queue.as_ref()), now, body)
    };
    send(vec![
        resolve(approval.id(), "true"),
        sign(&resolve(nap.id(), "null")),
        sign(&format!(
            r#"{{"vow":"resolve","id":"{}","value":true,"error":"no"}}"#,
            approval.id()
        )),
    ])
    .await
    .expect("sent");
    quiet(&vow).await;
    let pending = |s: vow::Status| matches!(s, vow::Status::Pending);
    assert!(pending(vow.status(approval.id()).await.expect("status")));
    assert!(pending(vow.status(nap.id()).await.expect("status")));
    assert!(read_log(&format!("{k}/ship")).is_empty());
    let signed = sign(&resolve(approval.id(), "true"));
    send(vec![signed.clone(), signed]).await.expect("sent");
    quiet(&vow).await;
    assert_eq!(vow.wait(&approval, WAIT).await.expect("wait"), Ok(true));
    assert_eq!(read_log(&format!("{k}/ship")), vec!["true".to_owned()]);
    // A late one, and the deadline, change nothing.
    send(vec![sign(&resolve(approval.id(), "false"))])
        .await
        .expect("sent");
    pass(&vow, 8 * DAY, DAY).await;
    assert_eq!(vow.wait(&approval, WAIT).await.expect("wait"), Ok(true));
    assert_eq!(read_log(&format!("{k}/ship")).len(), 1);
    assert!(vow.wait(&shipped, WAIT).await.expect("wait").is_ok());
}

/// A due timer delivered twice (SQS duplicates; a redrive of a copy that had
/// sent after all): the second copy finds the callback settled by its own
/// token and sends the stored successors again as repairs, but the step after
/// the callback ran and adopted its sleep, so it does not run again.
#[tokio::test]
async fn a_duplicated_deadline_does_not_run_the_step_after_it_again() {
    let vow = embedded();
    let k = key();
    let flow = vow.flow();
    let (approval, _resolver) = flow.callback::<bool>(DAY);
    let shipped = approval.then(Ship { key: k.clone() });
    vow.start(&flow).await.expect("start");
    pass(&vow, 2 * DAY, 6 * HOUR).await;
    assert_eq!(read_log(&format!("{k}/ship")), vec!["timeout".to_owned()]);
    let timer = vow::wire::Envelope::timer(
        vow::wire::Target::Promise(approval.id().clone()),
        vow::backend::Outcome::Err(Failure::timeout("a copy")),
        0,
    );
    let body = vow.engine().seal(&timer).await.expect("seal");
    vow.engine().process(&body, 1).await.expect("processed");
    quiet(&vow).await;
    assert_eq!(read_log(&format!("{k}/ship")).len(), 1, "shipped once");
    pass(&vow, 4 * DAY, DAY).await;
    assert_eq!(read_log(&format!("{k}/survey")).len(), 1, "surveyed once");
    assert!(vow.wait(&shipped, WAIT).await.expect("wait").is_ok());
}
