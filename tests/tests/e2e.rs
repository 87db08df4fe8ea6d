//! vow end to end through SQS (LocalStack) and DynamoDB (moto): every sample,
//! timeouts, retries, dead letters, duplicate deliveries, and the real worker
//! binary under `cargo lambda watch`. Run with `./tests/run.sh`.

use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use vow::fault::{FaultConfig, Faults, FaultyQueue};
use vow::poller::Poller;
use vow::prelude::*;
use vow::queue::{Outgoing, Queue};
use vow::wire::{Envelope, Target, WIRE_VERSION};
use vow::Status;
use vow_e2e::tasks::{Flaky, Inc};
use vow_e2e::Stack;
use vow_samples::{run_all, seed_dynamo, Square, Sum, Table};

const WAIT: Duration = Duration::from_secs(120);

fn print_results(results: &[vow_samples::Checked]) {
    for r in results {
        println!("{} {}", if r.ok { "ok  " } else { "FAIL" }, r.line);
    }
    assert!(results.iter().all(|r| r.ok), "a sample gave a wrong result");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_sample_runs_on_sqs_and_dynamodb() {
    let stack = Stack::new("samples", 5).await.with_workers(4);
    let items = format!("{}-items", stack.names.table_name);
    seed_dynamo(&items, 10_000).await.expect("seed items");
    let results = run_all(&stack.vow, Table::Dynamo { table: items }, WAIT)
        .await
        .expect("samples run");
    print_results(&results);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chains_cost_one_write_per_step() {
    let stack = Stack::new("chain", 5).await.with_workers(2);
    let steps = 30u64;
    let flow = stack.vow.flow();
    let mut p = flow.when(Square(0));
    for _ in 0..steps {
        p = p.then(Inc);
    }
    stack.vow.start(&flow).await.expect("start");
    assert_eq!(stack.vow.wait(&p, WAIT).await.expect("settles"), Ok(steps));
    let c = stack.metrics.snapshot();
    let settled = c.ddb_settled;
    assert_eq!(settled, steps + 1, "{c:?}");
    // The sweep's cursor moves a few times a minute whatever runs; not a step's cost.
    let writes = c.ddb_write.saturating_sub(c.ddb_timer_write) as f64 / settled as f64;
    let sqs_work = (c.sqs_send + c.sqs_delete) as f64 / settled as f64;
    println!(
        "chain of {settled} steps: dynamodb_writes_per_step={writes:.2} timer_index_writes={} dynamodb_reads={} \
         sqs_send+delete_per_step={sqs_work:.2} sqs_receives={} (long polls of idle workers included)",
        c.ddb_timer_write, c.ddb_read, c.sqs_receive
    );
    assert!(writes <= 1.0 + f64::EPSILON, "{c:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn join_members_share_writes_and_chains_skip_the_queue() {
    let stack = Stack::new("shared", 5).await.with_workers(2);
    let n = 400u64;
    let flow = stack.vow.flow();
    let total = flow.fan_out((0..n).map(Square)).then(Sum);
    stack.vow.start(&flow).await.expect("start");
    let expected = (0..n).map(|i| i * i).sum::<u64>();
    assert_eq!(
        stack.vow.wait(&total, WAIT).await.expect("settles"),
        Ok(expected)
    );
    let c = stack.metrics.snapshot();
    println!(
        "all of {n}: writes={} settled_slots={} write_units={} max_item_bytes={}",
        c.ddb_write, c.ddb_settled, c.write_units, c.max_item_bytes
    );
    // Members arrive ten to a batch and their settles share one write per shard
    // record; one write each would be at least `n`.
    assert!(c.ddb_write < n * 6 / 10, "{c:?}");
    assert!(c.ddb_settled >= n, "{c:?}");

    // A chain of quick steps runs inline: one message, not one per step.
    let before = stack.metrics.snapshot();
    let flow = stack.vow.flow();
    let mut p = flow.when(Square(0));
    for _ in 0..20 {
        p = p.then(Inc);
    }
    stack.vow.start(&flow).await.expect("start");
    assert_eq!(stack.vow.wait(&p, WAIT).await.expect("settles"), Ok(20));
    let c = stack.metrics.snapshot().since(&before);
    assert!(c.sqs_send <= 3, "{c:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn timeouts_and_retries_cross_sqs() {
    let stack = Stack::new("retries", 5).await.with_workers(2);
    let flow = stack.vow.flow();
    let slow = flow
        .when(vow_samples::SlowStep {
            work_ms: 3_000,
            timeout_ms: 100,
        })
        .then(vow_samples::Report);
    let flaky = flow.when(Flaky { ok_on: 3 });
    let fanned = flow.fan_out((1..=40).map(Square)).then(Sum);
    stack.vow.start(&flow).await.expect("start");
    let report = stack
        .vow
        .wait(&slow, WAIT)
        .await
        .expect("settles")
        .expect("reports");
    assert!(report.starts_with("first step timed out"), "{report}");
    assert_eq!(stack.vow.wait(&flaky, WAIT).await.expect("settles"), Ok(3));
    assert_eq!(
        stack.vow.wait(&fanned, WAIT).await.expect("settles"),
        Ok(22_140)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dead_letters_settle_their_promises() {
    let stack = Stack::new("dlq", 2).await.with_workers(2);
    let unknown = PromiseId::random();
    let env = Envelope {
        v: WIRE_VERSION,
        target: Target::Promise(unknown.clone()),
        token: "t".into(),
        attempt: 1,
        repair: false,
        task: serde_json::json!({"task": "not-in-this-build", "with": null}),
        input: None,
        opts: Default::default(),
        conts: Vec::new(),
    };
    // A successor waits on the dead promise: it must still get an outcome.
    let flow = stack.vow.flow();
    let after = flow.then(Handle::<u64>::from_id(unknown.clone()), Inc);
    stack.vow.start(&flow).await.expect("start");
    stack
        .queue()
        .send(vec![
            Outgoing {
                body: env.encode(),
                delay: Duration::ZERO,
            },
            Outgoing {
                body: "{not json".into(),
                delay: Duration::ZERO,
            },
        ])
        .await
        .expect("send");
    let f = stack
        .vow
        .wait(&Handle::<u64>::from_id(unknown.clone()), WAIT)
        .await
        .expect("settles")
        .expect_err("dead");
    assert_eq!(f.kind(), FailureKind::UnknownTask, "{f}");
    let f = stack
        .vow
        .wait(&after, WAIT)
        .await
        .expect("settles")
        .expect_err("dead");
    assert_eq!(f.kind(), FailureKind::UnknownTask, "{f}");
    assert!(matches!(
        stack.vow.status(&unknown).await.expect("status"),
        Status::Failed(_)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn duplicate_deliveries_never_settle_twice() {
    let stack = Stack::new("dupes", 5).await;
    let faults = Faults::new(FaultConfig {
        duplicate: 1.0,
        ..FaultConfig::default()
    });
    let twice = FaultyQueue::new(Arc::new(stack.queue()), Arc::new(faults));
    let client = stack.client_via(Arc::new(twice));
    let _workers = client.run_workers(3, None, Duration::from_secs(1));
    let flow = client.flow();
    let chain = flow.when(Square(3)).then(Inc).then(Inc);
    let fanned = flow.fan_out((1..=50).map(Square)).then(Sum);
    let joined = flow
        .all([flow.when(Square(2)), flow.when(Square(3))])
        .then(Sum);
    client.start(&flow).await.expect("start");
    assert_eq!(client.wait(&chain, WAIT).await.expect("settles"), Ok(11));
    assert_eq!(
        client.wait(&fanned, WAIT).await.expect("settles"),
        Ok(42_925)
    );
    assert_eq!(client.wait(&joined, WAIT).await.expect("settles"), Ok(13));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_real_worker_binary_runs_under_cargo_lambda() {
    // The function signs and verifies, as the stacks deploy it by default.
    let keys = "k1=cargo-lambda-e2e-secret-0123456789";
    let stack = Stack::signed(
        "lambda",
        5,
        vow::signing::SigningKeys::parse(keys).expect("keys"),
    )
    .await;
    let port = 9_000 + u16::from(fastrand_byte());
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    // The function's stdout: its JSON logs and one EMF line per batch.
    let out_path = std::env::temp_dir().join(format!("vow-e2e-lambda-{port}.out"));
    let out = std::fs::File::create(&out_path).expect("worker output file");
    let mut watch = tokio::process::Command::new("cargo")
        .args([
            "lambda",
            "watch",
            "--ignore-changes",
            "-A",
            "127.0.0.1",
            "-P",
            &port.to_string(),
        ])
        .current_dir(&root)
        .env(vow::aws::ENV_QUEUE_URL, &stack.names.queue_url)
        .env(vow::aws::ENV_TABLE_NAME, &stack.names.table_name)
        .env("AWS_LAMBDA_LOG_LEVEL", "debug")
        .env(vow::signing::ENV_SIGNING_KEYS, keys)
        .stdout(out)
        .kill_on_drop(true)
        .process_group(0)
        .spawn()
        .expect("cargo lambda is installed (tests/emulators/install.sh)");
    let invoke = vow::invoke::LambdaInvoke::new(
        format!("127.0.0.1:{port}"),
        "vow-worker",
        "arn:aws:sqs:us-east-1:000000000000:e2e",
    );
    let poller =
        Poller::new(Arc::new(stack.queue()), Arc::new(invoke)).wait(Duration::from_secs(1));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let polling = tokio::spawn(poller.run(stopped));
    let flow = stack.vow.flow();
    let total = flow.fan_out((1..=10).map(Square)).then(Sum);
    let shout = vow_samples::greeting(&flow, "lambda".into(), 2);
    stack.vow.start(&flow).await.expect("start");
    // And a forged message: unsigned, from a client holding no key.
    let mut unsigned = stack.engine.clone();
    unsigned.signing = None;
    let forger = Vow::client(
        stack.vow.engine().store().clone(),
        Arc::new(stack.queue()),
        unsigned,
    );
    let forged_flow = forger.flow();
    let forged = forged_flow.when(Square(7));
    forger.start(&forged_flow).await.expect("sent");
    // The first invocation waits for `cargo lambda` to build the worker.
    let outcome = tokio::select! {
        outcome = stack.vow.wait(&total, Duration::from_secs(600)) => outcome,
        exited = watch.wait() => panic!(
            "`cargo lambda watch` exited ({exited:?}): is cargo-lambda on PATH \
             (tests/emulators/install.sh puts it in the emulator venv)?"
        ),
    };
    let shouted = stack.vow.wait(&shout, WAIT).await;
    // A batch's EMF line is printed once the batch is done, just after its settles.
    let mut docs = Vec::new();
    for _ in 0..50 {
        docs = worker_output(&out_path);
        if emf_sum(&docs, "StepsRun") >= 12 && emf_sum(&docs, "Refused") >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = stop.send(true);
    let _ = polling.await;
    if let Some(pid) = watch.id() {
        let _ = std::process::Command::new("kill")
            .args(["--", &format!("-{pid}")])
            .status();
    }
    let _ = watch.kill().await;
    assert_eq!(outcome.expect("settles"), Ok(385));
    assert_eq!(shouted.expect("settles"), Ok("LAMBDA LAMBDA".into()));
    let _ = std::fs::remove_file(&out_path);
    // Ten squares, their sum and the greeting ran in the worker, and each batch
    // printed its counts as an EMF line.
    let steps = emf_sum(&docs, "StepsRun");
    assert!(steps >= 12, "steps counted in EMF lines: {docs:?}");
    assert!(emf_sum(&docs, "StepsSettled") >= steps, "settles counted");
    // The forged message was refused, counted, and ran nothing.
    assert!(
        emf_sum(&docs, "Refused") >= 1,
        "no refusal counted in the EMF lines"
    );
    let status = stack.vow.status(forged.id()).await.expect("status");
    assert!(
        !matches!(status, vow::Status::Done(_)),
        "an unsigned message ran: {status:?}"
    );
    let settled = docs
        .iter()
        .filter(|d| d["message"] == "settled")
        .find_map(|d| {
            d["spans"]
                .as_array()?
                .iter()
                .find(|s| s["name"] == "vow.run")
        })
        .expect("settles are logged as JSON inside their vow.run span");
    assert!(settled["promise"].is_string() && settled["attempt"] == 1);
}

/// The JSON lines a function printed to `path`.
fn worker_output(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// A metric summed over the vow EMF lines among `docs`.
fn emf_sum(docs: &[serde_json::Value], metric: &str) -> u64 {
    docs.iter()
        .filter(|d| d["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "vow")
        .filter_map(|d| d[metric].as_u64())
        .sum()
}

fn fastrand_byte() -> u8 {
    PromiseId::random().as_str().as_bytes()[0] % 200
}

/// A string of `len` bytes, carrying `pad` (a large argument) along.
#[derive(Debug, Serialize, Deserialize)]
struct Big {
    len: usize,
    pad: String,
}

#[vow::task("e2e/big")]
impl Task for Big {
    type Input = ();
    type Output = String;
    async fn run(self, _: (), _cx: &Cx) -> Result<Resolution<String>, Error> {
        done(format!("{}{}", "x".repeat(self.len), self.pad))
    }
}

/// The length of its input.
#[derive(Debug, Serialize, Deserialize)]
struct Len;

#[vow::task("e2e/len")]
impl Task for Len {
    type Input = Result<String, Failure>;
    type Output = usize;
    async fn run(self, s: Self::Input, _cx: &Cx) -> Result<Resolution<usize>, Error> {
        done(s?.len())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn values_of_several_mib_travel_out_of_line() {
    let stack = Stack::new("large", 5).await.with_workers(2);
    let mib = 1024 * 1024;
    let flow = stack.vow.flow();
    let big_out = flow
        .when(Big {
            len: 3 * mib,
            pad: String::new(),
        })
        .then(Len);
    let big_arg = flow.when(Big {
        len: 1,
        pad: "y".repeat(2 * mib),
    });
    stack.vow.start(&flow).await.expect("start");
    assert_eq!(
        stack.vow.wait(&big_out, WAIT).await.expect("settles"),
        Ok(3 * mib)
    );
    let arg = stack
        .vow
        .wait(&big_arg, WAIT)
        .await
        .expect("settles")
        .expect("ok");
    assert_eq!(arg.len(), 2 * mib + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn progress_rolls_up_to_the_root_on_dynamodb() {
    let stack = Stack::new("progress", 5).await.with_workers(2);
    let root = stack
        .vow
        .when(vow_samples::CrunchAll {
            batches: vec![20, 40],
            // Long enough that a busy machine's polls still land while the
            // batches are under way (at 60 ms, a poll 2.4 s late missed them).
            pause_ms: 150,
        })
        .await
        .expect("start");
    // The root, the join, the sum and the join's two member slots weigh one
    // unit each; the batches weigh their items.
    let total = 5 + 20 + 40;
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    let end = loop {
        let p = stack.vow.progress(root.id()).await.expect("progress");
        assert!(p.done <= p.total, "{p:?}");
        if p.complete {
            break p;
        }
        seen.push(p);
        assert!(tokio::time::Instant::now() < deadline, "{seen:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        (end.done, end.total, end.settled, end.steps),
        (total, total, 7, 7)
    );
    assert!(
        seen.iter()
            .any(|p| p.total == total && p.done > 3 && p.done < total - 5),
        "the batches' items were seen under way: {seen:?}"
    );
    let dones: Vec<u64> = seen.iter().map(|p| p.done).collect();
    assert!(dones.windows(2).all(|w| w[0] <= w[1]), "{dones:?}");
    assert_eq!(stack.vow.wait(&root, WAIT).await.expect("settles"), Ok(60));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redelivered_large_message_still_opens_after_its_large_value_is_stored() {
    // A message whose body and outcome are both stored out of line, delivered
    // twice: the outcome must not land on any piece of the stored body.
    let stack = Stack::new("blob-keys", 5).await;
    let engine = stack.vow.engine();
    let id = PromiseId::random();
    let env = Envelope {
        v: WIRE_VERSION,
        target: Target::Promise(id.clone()),
        token: "t1".into(),
        attempt: 1,
        repair: false,
        task: serde_json::json!({"task": "e2e/big", "with": {"len": 40_000, "pad": "y".repeat(400_000)}}),
        input: None,
        opts: Default::default(),
        conts: Vec::new(),
    };
    let body = engine.seal(&env).await.expect("seal");
    assert!(body.len() < 1_000, "the body is stored out of line");
    engine.process(&body, 1).await.expect("first delivery");
    engine
        .process(&body, 2)
        .await
        .expect("the redelivery opens its body");
    let value = stack
        .vow
        .wait(&Handle::<String>::from_id(id), WAIT)
        .await
        .expect("settles")
        .expect("ok");
    assert_eq!(value.len(), 440_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sleeps_and_callbacks_wait_in_sqs_and_settle_in_dynamodb() {
    let mut engine = vow_e2e::test_engine();
    engine.timer_hop = Duration::from_secs(1);
    let stack = Stack::configured("timers", 5, 30, engine)
        .await
        .with_workers(2);
    let vow = &stack.vow;
    let flow = vow.flow();
    let nap = flow.sleep(Duration::from_millis(2_500));
    let woke = nap.then(vow::closure!("e2e/woke", [], |slept: Result<
        (),
        Failure,
    >|
     -> Result<u64, Error> {
        slept?;
        Ok(1)
    }));
    let (answered, resolver) = flow.callback::<u64>(Duration::from_secs(60));
    let answer = answered.then(Inc);
    let (ignored, _) = flow.callback::<u64>(Duration::from_secs(2));
    let late = ignored.then(Inc);
    let began = std::time::Instant::now();
    vow.start(&flow).await.expect("start");
    vow.resolve(&Resolver::<u64>::from_id(resolver.id()), Ok(41))
        .await
        .expect("resolve");
    assert_eq!(vow.wait(&answer, WAIT).await.expect("answer"), Ok(42));
    let late = vow.wait(&late, WAIT).await.expect("late");
    assert!(
        matches!(&late, Err(f) if f.kind() == FailureKind::Timeout),
        "{late:?}"
    );
    assert!(began.elapsed() >= Duration::from_secs(2));
    assert_eq!(vow.wait(&woke, WAIT).await.expect("woke"), Ok(1));
    assert!(began.elapsed() >= Duration::from_millis(2_500));
    // The answered callback's timer stops at its next hop: nothing waits on.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (waiting, in_flight) = stack.depth(&stack.names.queue_url).await;
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let delayed = stack
        .sqs
        .get_queue_attributes()
        .queue_url(&stack.names.queue_url)
        .attribute_names(A::ApproximateNumberOfMessagesDelayed)
        .send()
        .await
        .expect("queue attributes");
    let delayed = delayed
        .attributes()
        .and_then(|a| a.get(&A::ApproximateNumberOfMessagesDelayed))
        .cloned();
    assert_eq!(
        (waiting, in_flight, delayed.as_deref()),
        (0, 0, Some("0")),
        "a timer kept hopping"
    );
    assert_eq!(vow.wait(&answered, WAIT).await.expect("read"), Ok(41));
}

static SCHEDULED_RUNS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_schedule_fires_through_sqs_and_stops_when_cancelled() {
    let stack = Stack::new("schedule", 5).await.with_workers(2);
    let every_second = "* * * * * *"
        .parse::<vow::Cron>()
        .expect("cron")
        .allow_sub_minute();
    let job = vow::closure!("e2e/scheduled", [], |_: ()| -> Result<(), Error> {
        SCHEDULED_RUNS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    });
    let schedule = stack
        .vow
        .schedule("e2e-every-second", &every_second, job)
        .await
        .expect("scheduled");
    let runs = || SCHEDULED_RUNS.load(std::sync::atomic::Ordering::SeqCst);
    // Waiting for firings, with a generous timeout: nothing is asserted
    // about how many fit in a number of busy seconds.
    let began = std::time::Instant::now();
    while runs() < 2 && began.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(runs() >= 2, "{} runs in {:?}", runs(), began.elapsed());
    stack
        .vow
        .cancel(schedule.id(), "enough")
        .await
        .expect("cancel");
    let ran = runs();
    // A tick past its check of the off switch may still fire; then nothing.
    let mut stopped = ran;
    let quiet = std::time::Instant::now();
    while quiet.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        if runs() != stopped {
            stopped = runs();
        }
    }
    assert!(stopped <= ran + 1, "{ran} then {stopped}");
}

static NIGHTLY_RUNS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

#[derive(Debug, Serialize, Deserialize)]
struct Nightly {
    region: String,
}

#[vow::task("e2e/nightly")]
impl Task for Nightly {
    type Input = ();
    type Output = String;
    async fn run(self, _: (), _cx: &Cx) -> Result<Resolution<String>, Error> {
        NIGHTLY_RUNS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        done(self.region)
    }
}

/// The start message a schedule declared in the templates sends (the exact
/// JSON they configure, which tests/infra checks, with the time EventBridge
/// Scheduler fills in), sent twice to SQS: one workflow, named after the
/// schedule and the firing's time.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_declared_schedules_start_message_starts_its_workflow_once() {
    let mut engine = vow_e2e::test_engine();
    engine.schedules = "e2e-nightly=e2e/nightly".parse().expect("declared");
    let stack = Stack::configured("raw-start", 5, 30, engine)
        .await
        .with_workers(2);
    let body = r#"{"vow":"start","schedule":"e2e-nightly","task":"e2e/nightly","input":{"region":"eu"},"at":"2026-12-07T03:00:00Z"}"#;
    for _ in 0..2 {
        stack
            .sqs
            .send_message()
            .queue_url(&stack.names.queue_url)
            .message_body(body)
            .send()
            .await
            .expect("sent");
    }
    let flow = stack
        .vow
        .flow_named("schedule:e2e-nightly@2026-12-07T03:00:00Z");
    let root = flow.when(Nightly {
        region: "eu".into(),
    });
    assert_eq!(
        stack
            .vow
            .wait(&root, Duration::from_secs(60))
            .await
            .expect("wait"),
        Ok("eu".to_owned())
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(NIGHTLY_RUNS.load(std::sync::atomic::Ordering::SeqCst), 1);
}

/// The first Python block of `page`.
fn python_block(page: &str) -> &str {
    let start = page.find("```python\n").expect("a python block") + "```python\n".len();
    let len = page[start..].find("```").expect("its end");
    &page[start..start + len]
}

/// The README's Python resolver, run as written with boto3 against
/// SQS, resolves a callback of a deployment that signs its messages; the
/// same script without the key is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_python_resolver_in_the_docs_resolves_a_callback() {
    let keys = "py1=a-python-secret-0123456789";
    let mut engine = vow_e2e::test_engine();
    engine.signing = Some(vow::signing::SigningKeys::parse(keys).expect("keys"));
    let stack = Stack::configured("python", 2, 30, engine)
        .await
        .with_workers(2);
    let flow = stack.vow.flow();
    let (answer, resolver) = flow.callback::<u64>(Duration::from_secs(3_600));
    stack.vow.start(&flow).await.expect("start");
    let script = std::env::temp_dir().join(format!("vow-resolve-{}.py", PromiseId::random()));
    std::fs::write(&script, python_block(include_str!("../../README.md"))).expect("script");
    // The emulators' virtualenv has boto3 (tests/emulators/install.sh).
    let python = std::env::var("VOW_EMULATOR_VENV")
        .map(|venv| format!("{venv}/bin/python"))
        .unwrap_or_else(|_| "python3".to_owned());
    let run = |value: &str, keys: &str| {
        std::process::Command::new(&python)
            .arg(&script)
            .arg(resolver.id().to_string())
            .arg(value)
            .env("VOW_QUEUE_URL", &stack.names.queue_url)
            .env("VOW_SIGNING_KEYS", keys)
            .status()
            .expect("python runs")
    };
    assert!(run("7", "").success(), "unsigned message sent");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        stack.vow.status(answer.id()).await.expect("status"),
        Status::Pending,
        "an unsigned resolve settles nothing"
    );
    assert!(run("42", keys).success(), "signed message sent");
    assert_eq!(stack.vow.wait(&answer, WAIT).await.expect("wait"), Ok(42));
    let _ = std::fs::remove_file(&script);
}
