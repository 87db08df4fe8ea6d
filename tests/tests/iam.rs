//! Records every AWS call the two functions make, for the IAM check
//! (`tests/infra/iam.py`, run by `./tests/run.sh` after the tests).
//!
//! The real worker and dead-letter binaries run under `cargo lambda watch`,
//! each with its endpoints pointing at recording proxies
//! ([`vow_e2e::recorder`]), and two pollers play the SQS event source mappings
//! through proxies of their own, under the role of the function each feeds (on
//! AWS the Lambda service polls with the function's execution role). The
//! workflows take every path a function takes: steps, joins, adoption,
//! map-and-count (whose segments scan a data table named in their message),
//! progress notes, values and arguments stored out of line, a retry, a cancel,
//! a continuation added later, and messages that dead-letter (undecodable,
//! unknown task, unknown task stored out of line), and the timer index: a
//! sleep of half an hour that the worker writes into the index, the same
//! timer dead-lettered (the dead-letter function writes it again) and one
//! sweep (`{"vow":"sweep"}`, as the stack's EventBridge rule sends it each
//! minute). Messages are signed with a key both functions read at start-up
//! from a Secrets Manager secret (`VOW_SIGNING_SECRET_ARN`), as the stacks
//! deploy them by default. The record goes to `$VOW_IAM_CALLS` (default
//! `<target>/tmp/iam-calls.json`).

use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use vow::aws::SqsQueue;
use vow::invoke::LambdaInvoke;
use vow::poller::{BatchHandler, Poller};
use vow::prelude::*;
use vow::queue::{Outgoing, Queue};
use vow::signing::SigningKeys;
use vow::wire::{Cont, Envelope, Target, WIRE_VERSION};
use vow_e2e::recorder::{Recorder, ACCOUNT, REGION};
use vow_e2e::tasks::MatchOne;
use vow_e2e::{timer_table, Stack};
use vow_samples::count::AddCount;
use vow_samples::{
    expected_count, seed_dynamo, ClosureSample, CrunchAll, FanIn, MapCount, Predicate, Report,
    SlowStep, Sum, Table, TimeoutSample,
};

const WAIT: Duration = Duration::from_secs(120);
/// The first invocation of each function waits for `cargo lambda` to build it.
const BUILD: Duration = Duration::from_secs(900);

/// Where the record goes.
fn record_path() -> std::path::PathBuf {
    std::env::var_os("VOW_IAM_CALLS")
        .map(Into::into)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("iam-calls.json"))
}

fn endpoint(service: &str) -> String {
    std::env::var(format!("AWS_ENDPOINT_URL_{service}"))
        .or_else(|_| std::env::var("AWS_ENDPOINT_URL"))
        .expect("emulator endpoints (run ./tests/run.sh)")
}

fn queue_arn(url: &str) -> String {
    let name = url.rsplit('/').next().unwrap_or_default();
    format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{name}")
}

fn table_arn(name: &str) -> String {
    format!("arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}")
}

/// A function served by `cargo lambda watch`; its process group is killed on drop.
struct Function {
    name: &'static str,
    port: u16,
    watch: tokio::process::Child,
}

impl Function {
    /// Serve binary `name` on `port` with the function's environment `env`.
    fn start(name: &'static str, port: u16, env: &[(&str, &str)], log: &std::path::Path) -> Self {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let out = std::fs::File::create(log).expect("function log file");
        let watch = tokio::process::Command::new("cargo")
            .args([
                "lambda",
                "watch",
                "--ignore-changes",
                "--bin",
                name,
                "-A",
                "127.0.0.1",
                "-P",
            ])
            .arg(port.to_string())
            .current_dir(&root)
            .env_remove("AWS_ENDPOINT_URL")
            .envs(env.iter().copied())
            .stdout(out.try_clone().expect("function log file"))
            .stderr(out)
            .kill_on_drop(true)
            .process_group(0)
            .spawn()
            .expect("cargo lambda is installed (tests/emulators/install.sh)");
        Function { name, port, watch }
    }

    fn invoke(&self, source_arn: &str) -> LambdaInvoke {
        LambdaInvoke::new(format!("127.0.0.1:{}", self.port), self.name, source_arn)
    }

    /// Invoke once with an empty batch, so the build is done before messages flow.
    async fn warm(&mut self) {
        let invoke = self.invoke("arn:aws:sqs:us-east-1:000000000000:warm-up");
        let name = self.name;
        // Until `cargo lambda watch` listens, connections are refused.
        let first = async {
            loop {
                match invoke.handle(Vec::new()).await {
                    Ok(failed) => return failed,
                    Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                }
            }
        };
        tokio::select! {
            r = tokio::time::timeout(BUILD, first) => {
                let failed = r.unwrap_or_else(|_| panic!("{name} was not built in time"));
                assert!(failed.is_empty(), "{name}: {failed:?}");
            }
            exited = self.watch.wait() => panic!(
                "`cargo lambda watch` for {name} exited ({exited:?}): is cargo-lambda on PATH?"
            ),
        }
    }
}

impl Drop for Function {
    fn drop(&mut self) {
        if let Some(pid) = self.watch.id() {
            let _ = std::process::Command::new("kill")
                .args(["--", &format!("-{pid}")])
                .status();
        }
    }
}

/// An SQS client whose requests go through `endpoint`.
async fn sqs_via(endpoint: &str) -> aws_sdk_sqs::Client {
    let config = vow::aws::sdk_config().await;
    aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::config::Builder::from(&config)
            .endpoint_url(endpoint)
            .build(),
    )
}

/// What the event source mapping of `queue_url` does, with the role of the
/// function it feeds: it reads the queue's attributes when it is created, then
/// long-polls, invokes with each batch and deletes the messages that succeeded.
async fn event_source_mapping(
    recorder: &Recorder,
    principal: &str,
    queue_url: &str,
    function: &Function,
    stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let proxy = recorder
        .proxy(principal, "event source mapping", &endpoint("SQS"))
        .await
        .expect("proxy");
    let sqs = sqs_via(&proxy).await;
    sqs.get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
        .send()
        .await
        .expect("the mapping reads its queue's attributes");
    let queue = SqsQueue::new(sqs, queue_url);
    let poller = Poller::new(
        Arc::new(queue),
        Arc::new(function.invoke(&queue_arn(queue_url))),
    )
    .wait(Duration::from_secs(1));
    tokio::spawn(poller.run(stop))
}

/// An envelope for a task tag no worker serves, with `pad` bytes of state.
fn unknown_task(id: &PromiseId, pad: usize) -> Envelope {
    Envelope {
        v: WIRE_VERSION,
        target: Target::Promise(id.clone()),
        token: format!("t-{id}"),
        attempt: 1,
        repair: false,
        task: unknown_tag(pad),
        input: None,
        opts: Default::default(),
        conts: Vec::new(),
    }
}

fn unknown_tag(pad: usize) -> serde_json::Value {
    json!({"task": "not-in-this-build", "with": {"pad": "p".repeat(pad)}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_functions_calls_are_recorded_for_the_iam_check() {
    let out = record_path();
    // No stale record if this test fails.
    let _ = std::fs::remove_file(&out);
    // Two receives before a message is dead-lettered, after a short visibility
    // timeout, so the dead-letter paths run within seconds.
    // Messages are signed with a key the functions read at start-up from a
    // Secrets Manager secret, as the stacks deploy them by default
    // (GetSecretValue, through a recording proxy like the other calls).
    let config = vow::aws::sdk_config().await;
    let key: String = std::iter::repeat_with(fastrand::alphanumeric)
        .take(64)
        .collect();
    let secret_json = format!(r#"{{"kid":"k1","key":"{key}"}}"#);
    let keys = SigningKeys::parse_secret(&secret_json).expect("the secret's keys");
    let mut engine = vow_e2e::test_engine();
    engine.signing = Some(keys.clone());
    let stack = Stack::configured("iam", 2, 8, engine).await;
    let secret_arn = aws_sdk_secretsmanager::Client::new(&config)
        .create_secret()
        .name(format!("{}-signing", stack.names.table_name))
        .secret_string(&secret_json)
        .send()
        .await
        .expect("create the signing secret")
        .arn()
        .expect("its ARN")
        .to_owned();
    let work_queue = vow::signing::queue_name(&stack.names.queue_url).to_owned();
    let sign = |body: String| keys.sign(&work_queue, vow::signing::now_ms(), &body);
    let data = format!("{}-data", stack.names.table_name);
    let late = format!("{}-late", stack.names.table_name);
    seed_dynamo(&data, 1_000)
        .await
        .expect("seed the data table");

    let timers = timer_table(&stack.names.table_name);
    let recorder = Recorder::default();
    let mut functions = Vec::new();
    let mut logs = Vec::new();
    for (principal, binary) in [("worker", "vow-worker"), ("dead-letter", "vow-dead-letter")] {
        let sqs = recorder
            .proxy(principal, "function", &endpoint("SQS"))
            .await
            .expect("proxy");
        let dynamodb = recorder
            .proxy(principal, "function", &endpoint("DYNAMODB"))
            .await
            .expect("proxy");
        let secrets = recorder
            .proxy(principal, "function", &endpoint("SECRETS_MANAGER"))
            .await
            .expect("proxy");
        let port = free_port();
        let env = [
            (vow::aws::ENV_QUEUE_URL, stack.names.queue_url.as_str()),
            (vow::aws::ENV_TABLE_NAME, stack.names.table_name.as_str()),
            (vow::aws::ENV_TIMER_TABLE, timers.as_str()),
            (vow::signing::ENV_SIGNING_SECRET_ARN, secret_arn.as_str()),
            ("AWS_ENDPOINT_URL_SQS", sqs.as_str()),
            ("AWS_ENDPOINT_URL_DYNAMODB", dynamodb.as_str()),
            ("AWS_ENDPOINT_URL_SECRETS_MANAGER", secrets.as_str()),
        ];
        // The function's output, kept if the test fails.
        let log = std::env::temp_dir().join(format!("vow-iam-{binary}-{port}.out"));
        functions.push(Function::start(binary, port, &env, &log));
        logs.push(log);
    }
    let (worker, dead_letter) = functions.split_at_mut(1);
    let (worker, dead_letter) = (&mut worker[0], &mut dead_letter[0]);
    tokio::join!(worker.warm(), dead_letter.warm());

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mappings = [
        event_source_mapping(
            &recorder,
            "worker",
            &stack.names.queue_url,
            worker,
            stopped.clone(),
        )
        .await,
        event_source_mapping(
            &recorder,
            "dead-letter",
            &stack.dlq_url,
            dead_letter,
            stopped,
        )
        .await,
    ];

    let vow = &stack.vow;
    let red = Predicate {
        color: "red".into(),
        min_weight: 50,
    };
    let count = |table: &str| MapCount {
        table: Table::Dynamo {
            table: table.to_owned(),
        },
        segments: 3,
        page_size: 200,
        predicate: red.clone(),
    };
    let flow = vow.flow();
    // Steps, joins, adoption, a timeout, progress notes, map-and-count.
    let timed = flow.when(TimeoutSample {
        work_ms: 2_000,
        timeout_ms: 100,
    });
    let fan_in = flow.when(FanIn { n: 12 });
    let crunch = flow.when(CrunchAll {
        batches: vec![3, 5],
        pause_ms: 10,
    });
    let counted = flow.when(count(&data));
    // A retry: this table does not exist until its first scan has failed.
    let retried = flow.when(count(&late));
    // Arguments and values stored out of line, and a successor reading one.
    let big = "big ".repeat(100_000);
    let shouted = flow
        .when(ClosureSample {
            greeting: big.clone(),
            times: 1,
        })
        .then(Report);
    // A cancel while the step runs, and a continuation added once it was sent.
    // Long enough that the cancel a second in comes first on a busy machine.
    let slow = flow.when(SlowStep {
        work_ms: 10_000,
        timeout_ms: 20_000,
    });
    let after_cancel = slow.then(Report);
    let long = flow.when(SlowStep {
        work_ms: 1_500,
        timeout_ms: 20_000,
    });
    vow.start(&flow).await.expect("start");
    let later = vow.flow();
    let added = later.then(&long, Report);
    vow.start(&later)
        .await
        .expect("start the added continuation");

    // Messages that dead-letter: undecodable, an unknown task with a
    // successor, and the same with its body stored out of line.
    let unknown = PromiseId::random();
    let unknown_big = PromiseId::random();
    let dead = vow.flow();
    let after_unknown = dead.then(Handle::<String>::from_id(unknown.clone()), Report);
    let after_unknown_big = dead.then(Handle::<String>::from_id(unknown_big.clone()), Report);
    // Join members whose task the worker does not serve (`e2e/match-one` is
    // registered in this test only): the dead-letter function settles them
    // into their join, which completes and fires its successor.
    let joined = dead.fan_out((1..=3).map(|id| MatchOne { id })).then(Sum);
    // Cancelled before its message is redelivered: the redelivery finds it
    // settled and fires the successor.
    let doomed = dead.when(MatchOne { id: 4 });
    let after_doomed = doomed.then(AddCount(1));
    vow.start(&dead)
        .await
        .expect("start the successors of dead letters");
    // A dead letter carrying a successor too large for a message: the
    // dead-letter function stores its body out of line to send it, and the
    // successor dead-letters in turn.
    let carrier = PromiseId::random();
    let heavy = PromiseId::random();
    let mut carrying = unknown_task(&carrier, 10);
    carrying.conts.push(Cont::Then {
        id: heavy.clone(),
        task: unknown_tag(300_000),
        opts: Default::default(),
        conts: Vec::new(),
    });
    let sealed = vow
        .engine()
        .seal(&unknown_task(&unknown_big, 300_000))
        .await
        .expect("seal");
    assert!(sealed.len() < 1_000, "the body is stored out of line");
    stack
        .queue()
        .send(vec![
            Outgoing {
                body: sign("{not json".into()),
                delay: Duration::ZERO,
            },
            Outgoing {
                body: sign(unknown_task(&unknown, 10).encode()),
                delay: Duration::ZERO,
            },
            Outgoing {
                body: sealed,
                delay: Duration::ZERO,
            },
            Outgoing {
                body: sign(carrying.encode()),
                delay: Duration::ZERO,
            },
        ])
        .await
        .expect("send dead letters");

    // A sleep of half an hour: further than a queue delay plus the index's
    // margin, so it waits in the timer index. Its client keeps no index (an
    // application without VOW_TIMER_TABLE, whose timers hop through the
    // queue) and hops every second, so the timer reaches the worker at once:
    // the worker writes it into the index (PutItem, after starting the
    // sweep's cursor: GetItem, PutItem) instead of sending it on. Nothing
    // waits for it to fire.
    let mut hopping_engine = stack.engine.clone();
    hopping_engine.timer_hop = Duration::from_secs(1);
    let hopping = Vow::builder()
        .sdk_config(&vow::aws::sdk_config().await)
        .queue_url(&stack.names.queue_url)
        .table_name(&stack.names.table_name)
        .timer_table(None)
        .record_ttl(stack.names.record_ttl)
        .set_signing_keys(hopping_engine.signing.clone())
        .engine(hopping_engine)
        .build()
        .await
        .expect("a client keeping no timer index");
    let napping = hopping.flow();
    let nap = napping.sleep(Duration::from_secs(30 * 60));
    hopping.start(&napping).await.expect("start the long sleep");
    let timers_arn = table_arn(&timers);

    // Cancel the slow step once it runs; create the late table once a scan of
    // it has failed.
    let late_arn = table_arn(&late);
    let started = tokio::time::Instant::now();
    let deadline = started + WAIT;
    let mut cancelled = false;
    let mut created = false;
    while !(cancelled && created) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "cancelled: {cancelled}, late table created: {created} (once a worker's scan of \
             it is recorded); recorded: {:#?}",
            recorder.calls()
        );
        if !cancelled && started.elapsed() > Duration::from_secs(1) {
            vow.cancel(doomed.id(), "the test cancels it")
                .await
                .expect("cancel");
            vow.cancel(slow.id(), "the test cancels it")
                .await
                .expect("cancel");
            cancelled = true;
        }
        if !created && recorder.saw("worker", "dynamodb:Scan", &late_arn) {
            seed_dynamo(&late, 300).await.expect("seed the late table");
            created = true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let report = vow.wait(&timed, WAIT).await.expect("settles").expect("ok");
    assert!(report.starts_with("first step timed out"), "{report}");
    assert_eq!(vow.wait(&fan_in, WAIT).await.expect("settles"), Ok(650));
    assert_eq!(vow.wait(&crunch, WAIT).await.expect("settles"), Ok(8));
    for (promise, table) in [(&counted, &data), (&retried, &late)] {
        let table = Table::Dynamo {
            table: table.clone(),
        };
        let want = expected_count(&table, &red).await.expect("expected count");
        assert!(want > 0);
        assert_eq!(vow.wait(promise, WAIT).await.expect("settles"), Ok(want));
    }
    let said = vow
        .wait(&shouted, WAIT)
        .await
        .expect("settles")
        .expect("ok");
    assert_eq!(said, format!("first step said {}", big.to_uppercase()));
    let report = vow
        .wait(&after_cancel, WAIT)
        .await
        .expect("settles")
        .expect("ok");
    assert!(report.contains("cancel"), "{report}");
    let report = vow.wait(&added, WAIT).await.expect("settles").expect("ok");
    assert_eq!(report, "first step said finished");
    for (id, after) in [
        (&unknown, &after_unknown),
        (&unknown_big, &after_unknown_big),
    ] {
        let f = vow
            .wait(&Handle::<String>::from_id(id.clone()), WAIT)
            .await
            .expect("settles")
            .expect_err("dead");
        assert_eq!(f.kind(), FailureKind::UnknownTask, "{f}");
        let report = vow.wait(after, WAIT).await.expect("settles").expect("ok");
        assert!(report.starts_with("first step failed"), "{report}");
    }
    for (promise, kind) in [
        (&joined, FailureKind::UnknownTask),
        (&after_doomed, FailureKind::Cancelled),
    ] {
        let f = vow
            .wait(promise, WAIT)
            .await
            .expect("settles")
            .expect_err("failed");
        assert_eq!(f.kind(), kind, "{f}");
    }
    for id in [carrier, heavy] {
        let f = vow
            .wait(&Handle::<String>::from_id(id), WAIT)
            .await
            .expect("settles")
            .expect_err("dead");
        assert_eq!(f.kind(), FailureKind::UnknownTask, "{f}");
    }

    // The timer index. Once the worker has written the long sleep into it:
    // the same timer, dead-lettered (as if its hop had failed until SQS moved
    // it), goes back into the index through the dead-letter function; and
    // one sweep, as the EventBridge rule sends it, reads the cursor, claims
    // the minutes within reach, reads their shards and releases them.
    let indexed = |principal: &'static str| {
        let recorder = &recorder;
        let timers_arn = &timers_arn;
        async move {
            let deadline = tokio::time::Instant::now() + WAIT;
            while !recorder.saw(principal, "dynamodb:PutItem", timers_arn) {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "{principal} never wrote the long sleep into the timer index: {:#?}",
                    recorder.calls()
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    indexed("worker").await;
    let items = stack
        .dynamodb
        .scan()
        .table_name(&timers)
        .send()
        .await
        .expect("scan the timer index")
        .items()
        .to_vec();
    let bodies: Vec<String> = items
        .iter()
        .filter(|item| {
            item.get("sk")
                .and_then(|v| v.as_s().ok())
                .map(String::as_str)
                != Some("cursor")
        })
        .filter_map(|item| item.get("body").and_then(|v| v.as_s().ok()).cloned())
        .collect();
    assert_eq!(
        bodies.len(),
        1,
        "the long sleep is indexed once: {items:#?}"
    );
    SqsQueue::new(stack.sqs.clone(), &stack.dlq_url)
        .send(vec![Outgoing {
            body: if vow::signing::looks_signed(&bodies[0]) {
                bodies[0].clone()
            } else {
                sign(bodies[0].clone())
            },
            delay: Duration::ZERO,
        }])
        .await
        .expect("dead-letter the long sleep's timer");
    indexed("dead-letter").await;
    stack
        .queue()
        .send(vec![Outgoing {
            body: vow::engine::SWEEP_BODY.into(),
            delay: Duration::ZERO,
        }])
        .await
        .expect("send a sweep");
    let deadline = tokio::time::Instant::now() + WAIT;
    while !recorder.saw("worker", "dynamodb:Query", &timers_arn) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the sweep never read the timer index: {:#?}",
            recorder.calls()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let slept = vow.status(nap.id()).await.expect("the long sleep's status");
    assert!(
        matches!(slept, vow::Status::Unknown | vow::Status::Pending),
        "the long sleep settled early: {slept:?}"
    );

    // Let the mappings delete what they last ran, then stop them.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let _ = stop.send(true);
    for m in mappings {
        m.await.expect("mapping");
    }
    drop(functions);

    assert_eq!(recorder.errors(), Vec::<String>::new());
    let data_arn = table_arn(&data);
    let promises = table_arn(&stack.names.table_name);
    let work = queue_arn(&stack.names.queue_url);
    let dlq = queue_arn(&stack.dlq_url);
    for (principal, action, resource) in [
        ("worker", "dynamodb:Scan", &data_arn),
        ("worker", "dynamodb:PutItem", &promises),
        ("worker", "dynamodb:BatchGetItem", &promises),
        ("worker", "sqs:SendMessage", &work),
        ("worker", "sqs:ReceiveMessage", &work),
        ("worker", "sqs:DeleteMessage", &work),
        ("dead-letter", "dynamodb:UpdateItem", &promises),
        ("dead-letter", "dynamodb:BatchGetItem", &promises),
        ("dead-letter", "dynamodb:PutItem", &promises),
        ("dead-letter", "sqs:SendMessage", &work),
        ("dead-letter", "sqs:ReceiveMessage", &dlq),
        ("worker", "dynamodb:GetItem", &timers_arn),
        ("worker", "dynamodb:PutItem", &timers_arn),
        ("worker", "dynamodb:Query", &timers_arn),
        ("dead-letter", "dynamodb:GetItem", &timers_arn),
        ("dead-letter", "dynamodb:PutItem", &timers_arn),
        ("worker", "secretsmanager:GetSecretValue", &secret_arn),
        ("dead-letter", "secretsmanager:GetSecretValue", &secret_arn),
    ] {
        assert!(
            recorder.saw(principal, action, resource),
            "{principal} never made {action} on {resource}: {:#?}",
            recorder.calls()
        );
    }
    let record = recorder.to_json(json!({
        "work_queue": work,
        "dead_letter_queue": dlq,
        "promise_table": promises,
        "timer_table": timers_arn,
        "signing_secret": secret_arn,
        "data_tables": { "data": data_arn, "data-late": late_arn },
    }));
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).expect("record dir");
    }
    let text = serde_json::to_string_pretty(&record).expect("json");
    std::fs::write(&out, text).expect("write the record");
    for (a, n) in recorder.calls() {
        println!(
            "{:<12} {:<21} {:<28} {} x{n}",
            a.principal, a.via, a.action, a.resource
        );
    }
    println!("recorded to {}", out.display());
    for log in logs {
        let _ = std::fs::remove_file(log);
    }
}

/// A free loopback port.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}
