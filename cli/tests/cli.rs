//! The real `vow` binary against LocalStack (SQS) and moto (DynamoDB): each test
//! gets its own queue, dead-letter queue and table (`vow_e2e::Stack`), and its
//! workers run in this process. Run with `./tests/run.sh`, or with the emulators
//! up: `cargo test -p vow-cli`.

use serde::{Deserialize, Serialize};
use std::process::Stdio;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;
use vow::aws::SqsQueue;
use vow::prelude::*;
use vow::signing::SigningKeys;
use vow::wire::{Cont, Envelope, RunOpts, Target, WIRE_VERSION};
use vow::ErasedTask;
use vow_e2e::Stack;
use vow_samples::Square;

/// What one run of `vow` did.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Run `vow args...` against `stack`.
async fn vow(stack: &Stack, args: &[&str]) -> Run {
    vow_with(stack, args, &[]).await
}

/// Run `vow args...` against `stack` with these extra environment variables.
async fn vow_with(stack: &Stack, args: &[&str], env: &[(&str, &str)]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_vow"))
        .args(args)
        .env("VOW_QUEUE_URL", &stack.names.queue_url)
        .env("VOW_TABLE_NAME", &stack.names.table_name)
        .env("VOW_DLQ_URL", &stack.dlq_url)
        .env_remove("VOW_SIGNING_KEYS")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .await
        .expect("the vow binary runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `vow run <sample>`: the root id it prints.
async fn run_sample(stack: &Stack, sample: &str) -> String {
    run_sample_with(stack, sample, &[]).await
}

/// `vow run <sample>` with these extra environment variables.
async fn run_sample_with(stack: &Stack, sample: &str, env: &[(&str, &str)]) -> String {
    let run = vow_with(stack, &["run", sample], env).await;
    assert_eq!(run.code, 0, "{run:?}");
    let id = run.stdout.trim().to_owned();
    PromiseId::parse(&id).expect("`vow run` prints a promise id");
    id
}

/// Fails at once.
#[derive(Debug, Serialize, Deserialize)]
struct Boom;

#[vow::task("cli-test/boom")]
impl Task for Boom {
    type Input = ();
    type Output = u64;
    async fn run(self, _: (), _cx: &Cx) -> Result<Resolution<u64>, Error> {
        Err(Error::permanent("boom"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn run_wait_status_and_tree_on_a_fan_out() {
    vow::check_tasks(&[vow_samples::tasks()]).expect("the samples' tasks are linked");
    let stack = Stack::new("cli-tree", 5).await.with_workers(2);
    let id = run_sample(&stack, "fan-in").await;

    let wait = vow(&stack, &["wait", &id, "--timeout", "60s"]).await;
    assert_eq!(wait.code, 0, "{wait:?}");
    assert!(wait.stdout.contains("settled after"), "{wait:?}");
    assert!(wait.stdout.ends_with("done: 385\n"), "{wait:?}");

    let status = vow(&stack, &["status", &id]).await;
    assert_eq!(status.code, 0, "{status:?}");
    for line in [
        format!("promise   {id}\n"),
        "state     done\n".to_owned(),
        "value     385\n".to_owned(),
        "children  2\n".to_owned(),
    ] {
        assert!(
            status.stdout.contains(&line),
            "{line:?} in\n{}",
            status.stdout
        );
    }
    assert!(status.stdout.contains("settled   "), "{}", status.stdout);

    // The root, the join with its 10 members, and the sum.
    let tree = vow(&stack, &["tree", &id]).await;
    assert_eq!(tree.code, 0, "{tree:?}");
    let lines: Vec<&str> = tree.stdout.lines().collect();
    assert_eq!(lines.len(), 13, "{}", tree.stdout);
    assert_eq!(lines[0], format!("{id} done    385"));
    assert!(
        lines[1].starts_with("├─ …") && lines[1].ends_with(" done    all of 10"),
        "{}",
        tree.stdout
    );
    assert!(lines[2].starts_with("│  ├─ …") && lines[2].ends_with(".0 done    1"));
    assert!(lines[11].starts_with("│  └─ …") && lines[11].ends_with(".9 done    100"));
    assert!(lines[12].starts_with("└─ …") && lines[12].ends_with(" done    385"));

    let small = vow(&stack, &["tree", &id, "--max-nodes", "3"]).await;
    assert_eq!(small.stdout.lines().count(), 4, "{}", small.stdout);
    assert!(small.stdout.ends_with("… 10 more (raise --max-nodes)\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn wait_exits_1_on_failure_and_2_on_timeout_or_bad_input() {
    let stack = Stack::new("cli-wait", 5).await.with_workers(1);
    let boom = stack.vow.when(Boom).await.expect("start");
    let id = boom.id().to_string();

    let wait = vow(&stack, &["wait", &id, "--timeout", "60s"]).await;
    assert_eq!(wait.code, 1, "{wait:?}");
    assert!(wait.stdout.ends_with("failed: error: boom\n"), "{wait:?}");
    let status = vow(&stack, &["status", &id]).await;
    assert!(
        status
            .stdout
            .contains("state     failed\nfailure   error\nmessage   boom\nattempts  1\n"),
        "{}",
        status.stdout
    );
    let tree = vow(&stack, &["tree", &id]).await;
    assert_eq!(tree.stdout, format!("{id} failed  error: boom\n"));

    let never = PromiseId::random().to_string();
    let wait = vow(&stack, &["wait", &never, "--timeout", "1s"]).await;
    assert_eq!(wait.code, 2, "{wait:?}");
    assert!(wait.stderr.contains("timed out after 1s"), "{wait:?}");

    let bad = vow(&stack, &["wait", "not-an-id"]).await;
    assert_eq!(bad.code, 2, "{bad:?}");
    assert!(
        bad.stderr.contains("`not-an-id` is not a promise id"),
        "{bad:?}"
    );
    let bad = vow(&stack, &["wait", &id, "--timeout", "soon"]).await;
    assert_eq!(bad.code, 2, "{bad:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn graphs_render_with_graphviz() {
    vow::check_tasks(&[vow_samples::tasks()]).expect("the samples' tasks are linked");
    let stack = Stack::new("cli-graph", 5).await.with_workers(2);
    let id = run_sample(&stack, "timeout").await;
    let wait = vow(&stack, &["wait", &id, "--timeout", "60s"]).await;
    assert_eq!(wait.code, 0, "{wait:?}");
    assert!(wait.stdout.contains("first step timed out"), "{wait:?}");

    let graph = vow(&stack, &["graph", &id, "--format", "dot"]).await;
    assert_eq!(graph.code, 0, "{graph:?}");
    // The root, the step that timed out (its message has backticks and quotes
    // reach the label), and the report.
    assert_eq!(graph.stdout.matches(" -> ").count(), 2, "{}", graph.stdout);
    assert!(graph
        .stdout
        .contains("failed: timeout: task `samples/slow-step`"));
    let mut dot = Command::new("dot")
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("Graphviz `dot` is needed: apt-get install graphviz (tests/run.sh does)");
    let mut stdin = dot.stdin.take().expect("stdin");
    stdin
        .write_all(graph.stdout.as_bytes())
        .await
        .expect("write");
    drop(stdin);
    let svg = dot.wait_with_output().await.expect("dot runs");
    let stderr = String::from_utf8_lossy(&svg.stderr);
    assert!(svg.status.success() && stderr.is_empty(), "dot: {stderr}");
    assert!(String::from_utf8_lossy(&svg.stdout).contains(&id[id.len() - 8..]));

    let mermaid = vow(&stack, &["graph", &id, "--format", "mermaid"]).await;
    assert!(mermaid.stdout.starts_with("flowchart TD\n"), "{mermaid:?}");
    assert_eq!(mermaid.stdout.matches(" --> ").count(), 2);
    assert!(mermaid.stdout.contains("#quot;first step timed out"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancel_settles_a_pending_workflow() {
    // No workers: the workflow stays pending until cancelled.
    let stack = Stack::new("cli-cancel", 5).await;
    let id = run_sample(&stack, "fan-in").await;
    let cancel = vow(
        &stack,
        &["cancel", &id, "--reason", "operator said \"stop\""],
    )
    .await;
    assert_eq!(cancel.code, 0, "{cancel:?}");
    assert_eq!(cancel.stdout, "cancelled 1 promise\n");
    let status = vow(&stack, &["status", &id]).await;
    assert!(
        status
            .stdout
            .contains("state     failed\nfailure   cancelled\nmessage   operator said \"stop\"\n"),
        "{}",
        status.stdout
    );
    let wait = vow(&stack, &["wait", &id, "--timeout", "5s"]).await;
    assert_eq!(wait.code, 1, "{wait:?}");
    let again = vow(&stack, &["cancel", &id]).await;
    assert_eq!(again.stdout, "cancelled 0 promises\n", "{again:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dead_letters_are_listed_and_redriven() {
    vow::check_tasks(&[vow_samples::tasks()]).expect("the samples' tasks are linked");
    // No workers yet: the dead-letter worker would settle the message.
    let stack = Stack::new("cli-dlq", 5).await;
    let id = PromiseId::random();
    let body = Envelope {
        v: WIRE_VERSION,
        target: Target::Promise(id.clone()),
        token: "cli-test".into(),
        attempt: 1,
        repair: false,
        task: serde_json::to_value(&Square(7) as &dyn ErasedTask).expect("task"),
        input: None,
        opts: Default::default(),
        conts: Vec::new(),
    }
    .encode();
    stack
        .sqs
        .send_message()
        .queue_url(&stack.dlq_url)
        .message_body(body)
        .send()
        .await
        .expect("send to the dead-letter queue");

    let list = vow(&stack, &["dlq", "list"]).await;
    assert_eq!(list.code, 0, "{list:?}");
    assert!(
        list.stdout.contains(&format!("  {id}  samples/square\n")),
        "{}",
        list.stdout
    );
    assert!(list
        .stdout
        .ends_with("\n1 message on the dead-letter queue\n"));
    let again = vow(&stack, &["dlq", "list"]).await;
    assert!(again.stdout.contains(&id.to_string()), "peeking keeps it");

    let redrive = vow(&stack, &["dlq", "redrive"]).await;
    assert_eq!(redrive.code, 0, "{redrive:?}");
    assert_eq!(redrive.stdout, "moved 1 message to the work queue\n");
    let empty = vow(&stack, &["dlq", "list"]).await;
    assert!(empty
        .stdout
        .ends_with("\n0 messages on the dead-letter queue\n"));

    // Back on the work queue, a worker runs it.
    let stack = stack.with_workers(1);
    let wait = vow(&stack, &["wait", id.as_str(), "--timeout", "60s"]).await;
    assert_eq!(wait.code, 0, "{wait:?}");
    assert!(wait.stdout.ends_with("done: 49\n"), "{wait:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tree_and_wait_show_the_children_and_units_of_a_pending_step() {
    vow::check_tasks(&[vow_samples::tasks()]).expect("the samples' tasks are linked");
    // No workers yet: run only the root, which adopts a fan-out and its sum.
    let stack = Stack::new("cli-pending", 5).await;
    let id = run_sample(&stack, "fan-in").await;
    let queue = stack.queue();
    let batch = vow::queue::Queue::receive(&queue, 10, std::time::Duration::from_secs(5))
        .await
        .expect("receive");
    assert_eq!(batch.len(), 1, "only the root is queued");
    let receipts = batch.iter().map(|d| d.receipt.clone()).collect();
    let failed = stack.vow.engine().handle_batch(batch).await;
    assert!(failed.is_empty(), "{failed:?}");
    vow::queue::Queue::delete(&queue, receipts)
        .await
        .expect("delete");

    // The pending root lists its children: the join of 10 (all pending) and the sum.
    let tree = vow(&stack, &["tree", &id]).await;
    assert_eq!(tree.code, 0, "{tree:?}");
    let lines: Vec<&str> = tree.stdout.lines().collect();
    assert_eq!(lines.len(), 13, "{}", tree.stdout);
    assert_eq!(
        lines[0],
        format!("{id} pending ran; waiting on its children")
    );
    assert!(lines[1].starts_with("├─ …") && lines[1].ends_with(" pending"));
    assert!(lines[2].ends_with(".0 pending") && lines[11].ends_with(".9 pending"));
    assert!(lines[12].starts_with("└─ …") && lines[12].ends_with(" pending"));

    // Units: the root's own step is done; 12 steps below it are not.
    let wait = vow(&stack, &["wait", &id, "--timeout", "1s"]).await;
    assert_eq!(wait.code, 2, "{wait:?}");
    assert!(
        wait.stdout
            .starts_with("waiting: 1/13 units, 0/13 steps settled after "),
        "{wait:?}"
    );

    let stack = stack.with_workers(2);
    let wait = vow(&stack, &["wait", &id, "--timeout", "60s"]).await;
    assert_eq!(wait.code, 0, "{wait:?}");
    assert!(
        wait.stdout
            .contains("waiting: 13/13 units, 13/13 steps settled after "),
        "{wait:?}"
    );
    assert!(wait.stdout.ends_with("done: 385\n"), "{wait:?}");
}

/// The signing keys of the signed stacks (a fixed test secret).
const KEYS: &str = "cli=cli-test-secret-0123456789";

fn signed_env() -> [(&'static str, &'static str); 1] {
    [("VOW_SIGNING_KEYS", KEYS)]
}

/// Defers forever: its promise settles only when cancelled.
#[derive(Debug, Serialize, Deserialize)]
struct Hold;

#[vow::task("cli-test/hold")]
impl Task for Hold {
    type Input = ();
    type Output = u64;
    async fn run(self, _: (), _cx: &Cx) -> Result<Resolution<u64>, Error> {
        deferred()
    }
}

/// Says how its predecessor ended.
#[derive(Debug, Serialize, Deserialize)]
struct Verdict;

#[vow::task("cli-test/verdict")]
impl Task for Verdict {
    type Input = Result<u64, Failure>;
    type Output = String;
    async fn run(self, x: Self::Input, _cx: &Cx) -> Result<Resolution<String>, Error> {
        done(match x {
            Ok(v) => format!("ok {v}"),
            Err(f) => format!("predecessor {}", f.kind().as_str()),
        })
    }
}

fn signing_keys() -> SigningKeys {
    SigningKeys::parse(KEYS).expect("test keys")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn run_and_wait_work_with_signing_on() {
    vow::check_tasks(&[vow_samples::tasks()]).expect("the samples' tasks are linked");
    let stack = Stack::signed("cli-signed-run", 5, signing_keys())
        .await
        .with_workers(2);
    // The workers reject unsigned messages, so this settles only if `vow run`
    // signs what it sends.
    let id = run_sample_with(&stack, "fan-in", &signed_env()).await;
    let wait = vow_with(&stack, &["wait", &id, "--timeout", "30s"], &signed_env()).await;
    assert_eq!(wait.code, 0, "{wait:?}");
    assert!(wait.stdout.ends_with("done: 385\n"), "{wait:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancel_fires_signed_successors() {
    // No workers yet: `Hold` stays pending, and a successor attached after it
    // was started waits on its record, so the cancel itself sends it.
    let stack = Stack::signed("cli-signed-cancel", 5, signing_keys()).await;
    let held = stack.vow.when(Hold).await.expect("start");
    let flow = stack.vow.flow();
    let verdict = flow.then(&held, Verdict);
    stack.vow.start(&flow).await.expect("attach");
    let held_id = held.id().to_string();
    let cancel = vow_with(&stack, &["cancel", &held_id], &signed_env()).await;
    assert_eq!(cancel.code, 0, "{cancel:?}");
    assert_eq!(cancel.stdout, "cancelled 1 promise\n");
    // The workers reject unsigned messages: the successor runs only if the
    // cancel signed it.
    let stack = stack.with_workers(1);
    let verdict_id = verdict.id().to_string();
    let wait = vow_with(
        &stack,
        &["wait", &verdict_id, "--timeout", "30s"],
        &signed_env(),
    )
    .await;
    assert_eq!(wait.code, 0, "{wait:?}");
    assert!(
        wait.stdout.ends_with("done: \"predecessor cancelled\"\n"),
        "{wait:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn malformed_configuration_is_named() {
    let stack = Stack::new("cli-config", 5).await;
    let id = PromiseId::random().to_string();
    for (var, value, says) in [
        (
            "VOW_SIGNING_KEYS",
            "k1=short",
            "VOW_SIGNING_KEYS: key `k1` needs",
        ),
        (
            "VOW_RECORD_TTL_DAYS",
            "30d",
            "VOW_RECORD_TTL_DAYS must be a whole number of days",
        ),
    ] {
        let run = vow_with(&stack, &["status", &id], &[(var, value)]).await;
        assert_eq!(run.code, 2, "{run:?}");
        assert!(run.stderr.contains(says), "{run:?}");
    }
}

fn envelope(task: serde_json::Value, conts: Vec<Cont>) -> (PromiseId, String) {
    let id = PromiseId::random();
    let body = Envelope {
        v: WIRE_VERSION,
        target: Target::Promise(id.clone()),
        token: "cli-test".into(),
        attempt: 1,
        repair: false,
        task,
        input: None,
        opts: Default::default(),
        conts,
    }
    .encode();
    (id, body)
}

async fn send_to(stack: &Stack, url: &str, body: &str) {
    stack
        .sqs
        .send_message()
        .queue_url(url)
        .message_body(body)
        .send()
        .await
        .expect("send");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn check_upgrade_reports_messages_of_older_shapes() {
    vow::check_tasks(&[vow_samples::tasks()]).expect("the samples' tasks are linked");
    // No workers: the messages wait, as they would across a deploy.
    let stack = Stack::new("cli-upgrade", 5).await;
    let slow = |with| serde_json::json!({"task": "samples/slow-step", "with": with});
    let current = slow(serde_json::json!({"work_ms": 1, "timeout_ms": 5}));
    // Written before `SlowStep` had its `timeout_ms` field.
    let older = slow(serde_json::json!({"work_ms": 1}));
    let retired = serde_json::json!({"task": "samples/retired", "with": {}});
    let successor = Cont::Then {
        id: PromiseId::random(),
        task: retired.clone(),
        opts: RunOpts::default(),
        conts: Vec::new(),
    };
    let (good, good_body) = envelope(current.clone(), Vec::new());
    let (old, old_body) = envelope(older, Vec::new());
    let (carrier, carrier_body) = envelope(current, vec![successor]);
    let (dead, dead_body) = envelope(retired, Vec::new());
    for body in [&good_body, &old_body, &carrier_body] {
        send_to(&stack, &stack.names.queue_url, body).await;
    }
    send_to(&stack, &stack.dlq_url, &dead_body).await;

    // By default only the dead-letter queue, which costs no receive.
    let dlq_only = vow(&stack, &["check-upgrade"]).await;
    assert_eq!(dlq_only.code, 1, "{dlq_only:?}");
    let out = &dlq_only.stdout;
    assert!(out.contains(&format!(" settles {dead}\n  FAILS  samples/retired: unknown_task: task `samples/retired` is not registered")), "{out}");
    assert!(
        out.contains("dead-letter queue: 1 message read, 1 does not decode in this build\n"),
        "{out}"
    );
    assert!(out.ends_with("work queue: not read (pass --work-queue; each peek counts as a receive toward maxReceiveCount)\n"), "{out}");
    assert_eq!(
        stack.depth(&stack.names.queue_url).await,
        (3, 0),
        "work queue untouched"
    );

    let both = vow(&stack, &["check-upgrade", "--work-queue"]).await;
    assert_eq!(both.code, 1, "{both:?}");
    let out = &both.stdout;
    assert!(
        out.contains(&format!(" settles {good}\n  ok     samples/slow-step\n")),
        "{out}"
    );
    assert!(out.contains(&format!(" settles {old}\n  FAILS  samples/slow-step: bad_input: task `samples/slow-step` could not be decoded: missing field `timeout_ms`")), "{out}");
    assert!(
        out.contains(&format!(
            " settles {carrier}\n  ok     samples/slow-step\n  FAILS  samples/retired, successor "
        )),
        "{out}"
    );
    assert!(
        out.contains("work queue: 3 messages read, 2 do not decode in this build\n"),
        "{out}"
    );
    assert!(out.contains("(received 1 time)"), "{out}");
    // Peeking left every message where it was.
    assert_eq!(stack.depth(&stack.names.queue_url).await, (3, 0));
    assert_eq!(stack.depth(&stack.dlq_url).await, (1, 0));

    // Without the messages this build cannot decode, the check passes.
    let queue = stack.queue();
    let mut bad = Vec::new();
    while bad.len() < 2 {
        for d in vow::queue::Queue::receive(&queue, 10, std::time::Duration::from_secs(1))
            .await
            .expect("receive")
        {
            if d.body == good_body {
                vow::queue::Queue::release(&queue, &d.receipt, std::time::Duration::ZERO)
                    .await
                    .expect("release");
            } else {
                bad.push(d.receipt);
            }
        }
    }
    vow::queue::Queue::delete(&queue, bad)
        .await
        .expect("delete");
    let dlq = SqsQueue::new(stack.sqs.clone(), &stack.dlq_url);
    let letters = vow::queue::Queue::receive(&dlq, 10, std::time::Duration::from_secs(1))
        .await
        .expect("receive");
    let receipts = letters.into_iter().map(|d| d.receipt).collect();
    vow::queue::Queue::delete(&dlq, receipts)
        .await
        .expect("delete");
    let clean = vow(&stack, &["check-upgrade", "--work-queue"]).await;
    assert_eq!(clean.code, 0, "{clean:?}");
    for line in [
        "dead-letter queue: 0 messages read, 0 do not decode in this build\n",
        "work queue: 1 message read, 0 do not decode in this build\n",
    ] {
        assert!(clean.stdout.contains(line), "{line:?} in {clean:?}");
    }
    // The earlier peek counted as a receive: the report shows it.
    assert!(!clean.stdout.contains("(received 1 time)"), "{clean:?}");
}

/// Work that waits in the table, not in a queue, carries tasks too: the
/// successors stored in a pending promise's record (a sleep's, a callback's,
/// or `then` added after the send), a far timer in the timer index, and a
/// schedule's tick with its job. The check reads them (issue 21: a tag that
/// only a sleeping timer or a stored continuation will fire passed it).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn check_upgrade_reports_tasks_waiting_in_the_table() {
    vow::check_tasks(&[vow_samples::tasks()]).expect("the samples' tasks are linked");
    let stack = Stack::new("cli-upgrade-table", 5).await;
    let retired = serde_json::json!({"task": "samples/retired", "with": {}});
    let then = |task: serde_json::Value| Cont::Then {
        id: PromiseId::random(),
        task,
        opts: RunOpts::default(),
        conts: Vec::new(),
    };
    let store = vow::aws::DynamoStore::new(
        stack.dynamodb.clone(),
        &stack.names.table_name,
        stack.names.record_ttl,
    )
    .with_timer_table(vow_e2e::timer_table(&stack.names.table_name));
    // A pending promise with a successor added after its send.
    let pending = PromiseId::random();
    let cell = vow::store::Cell::of(&pending);
    vow::store::Store::add_continuations(&store, &cell, &[("c1".into(), then(retired.clone()))])
        .await
        .expect("stored");
    // A schedule's tick waiting in a sleep's record, its job retired.
    let sleeping = PromiseId::random();
    let tick = serde_json::json!({"task": "vow/schedule", "with": {
        "name": "nightly", "cron": "@daily", "job": {"task": "samples/retired-job", "with": {}},
        "off": PromiseId::random(), "at": 0
    }});
    vow::store::Store::add_continuations(
        &store,
        &vow::store::Cell::of(&sleeping),
        &[("c1".into(), then(tick))],
    )
    .await
    .expect("stored");
    // A far timer in the index, carrying a retired successor.
    let square = serde_json::json!({"task": "samples/square", "with": 3});
    let (timed, timer_body) = envelope(square, vec![then(retired)]);
    let at = vow::signing::now_ms() + 3 * 86_400_000;
    let bucket = at / vow::timer_index::BUCKET_MS;
    let name = "cli-test-timer".to_owned();
    let timer = vow::timer_index::IndexedTimer {
        bucket,
        shard: vow::timer_index::shard_of(&name),
        name,
        at,
        body: timer_body,
    };
    vow::store::Store::put_timer(&store, &timer)
        .await
        .expect("indexed");

    let timers = vow_e2e::timer_table(&stack.names.table_name);
    let run = vow_with(&stack, &["check-upgrade"], &[("VOW_TIMER_TABLE", &timers)]).await;
    assert_eq!(run.code, 1, "{run:?}");
    let out = &run.stdout;
    assert!(
        out.contains(&format!(
            "record {pending}\n  FAILS  samples/retired, successor "
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "record {sleeping}\n  ok     vow/schedule, successor "
        )) && out.contains("  FAILS  samples/retired-job, successor "),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            " settles {timed}\n  ok     samples/square\n  FAILS  samples/retired, successor "
        )),
        "{out}"
    );
    assert!(
        out.contains("table: 2 records read, 2 do not decode in this build\n"),
        "{out}"
    );
    assert!(
        out.contains("timer index: 1 timer read, 1 does not decode in this build\n"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_quickstart_runs_against_a_signed_stack() {
    vow::check_tasks(&[vow_samples::tasks()]).expect("the samples' tasks are linked");
    // The quickstart only enqueues (`--no-workers`); this stack's workers,
    // which reject unsigned messages, run everything.
    let stack = Stack::signed("cli-signed-quickstart", 5, signing_keys())
        .await
        .with_workers(2);
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = Command::new(cargo)
        .args(["run", "--quiet", "-p", "vow-samples", "--bin", "quickstart"])
        .args(["--", "--aws", "--no-workers"])
        .env("VOW_QUEUE_URL", &stack.names.queue_url)
        .env("VOW_TABLE_NAME", &stack.names.table_name)
        .env("VOW_SIGNING_KEYS", KEYS)
        .stdin(Stdio::null())
        .output()
        .await
        .expect("cargo runs the quickstart");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    assert!(lines.iter().all(|l| l.starts_with("ok   ")), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resolve_settles_a_callback_with_a_value_or_a_failure() {
    let stack = Stack::new("cli-resolve", 5).await.with_workers(1);
    let flow = stack.vow.flow();
    let (approval, _) = flow.callback::<serde_json::Value>(std::time::Duration::from_secs(600));
    let (refusal, _) = flow.callback::<u64>(std::time::Duration::from_secs(600));
    let nap = flow.sleep(std::time::Duration::from_secs(3 * 24 * 3_600));
    stack.vow.start(&flow).await.expect("start");
    let (approval, refusal) = (approval.id().to_string(), refusal.id().to_string());

    // Status and tree say what a pending callback and sleep wait for, and until when.
    let waiting = vow(&stack, &["status", &approval]).await;
    assert!(
        waiting
            .stdout
            .contains("state     pending\nwaiting   for a resolve")
            && waiting.stdout.contains("deadline  ")
            && waiting.stdout.contains("(in 9m"),
        "{waiting:?}"
    );
    let sleeping = vow(&stack, &["status", &nap.id().to_string()]).await;
    assert!(sleeping.stdout.contains("(in 2days 23h"), "{sleeping:?}");
    let tree = vow(&stack, &["tree", &nap.id().to_string()]).await;
    assert!(
        tree.stdout.contains(" pending sleeping until 20"),
        "{tree:?}"
    );
    // A sleep is not resolved from outside.
    let refused = vow(&stack, &["resolve", &nap.id().to_string(), "null"]).await;
    assert_ne!(refused.code, 0, "{refused:?}");
    assert!(refused.stderr.contains("is not a callback"), "{refused:?}");

    let resolved = vow(&stack, &["resolve", &approval, r#"{"by": "ana"}"#]).await;
    assert_eq!(resolved.code, 0, "{resolved:?}");
    assert_eq!(resolved.stdout, format!("resolved {approval}\n"));
    let again = vow(&stack, &["resolve", &approval, "false"]).await;
    assert_eq!(again.code, 0, "{again:?}");
    assert!(
        again
            .stdout
            .starts_with(&format!("{approval} came too late")),
        "{again:?}"
    );
    let status = vow(&stack, &["status", &approval]).await;
    assert!(status.stdout.contains("state     done\n"), "{status:?}");
    assert!(status.stdout.contains("ana"), "{status:?}");

    let failed = vow(&stack, &["resolve", &refusal, "--fail", "declined"]).await;
    assert_eq!(failed.code, 0, "{failed:?}");
    let status = vow(&stack, &["status", &refusal]).await;
    assert!(
        status
            .stdout
            .contains("failure   error\nmessage   declined\n"),
        "{status:?}"
    );

    let bad = vow(&stack, &["resolve", &refusal, "not json"]).await;
    assert_eq!(bad.code, 2, "{bad:?}");
    assert!(bad.stderr.contains("not JSON"), "{bad:?}");
    let neither = vow(&stack, &["resolve", &refusal]).await;
    assert_eq!(neither.code, 2, "{neither:?}");
}

/// `vow run --key`: the second run with a key starts nothing and prints the
/// first run's root.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_with_a_key_starts_once() {
    let stack = Stack::new("cli-key", 5).await.with_workers(1);
    let key = format!("nightly-{}", PromiseId::random());
    let first = vow(&stack, &["run", "closure", "--key", &key]).await;
    assert_eq!(first.code, 0, "{first:?}");
    let again = vow(&stack, &["run", "closure", "--key", &key, "--wait"]).await;
    assert_eq!(again.code, 0, "{again:?}");
    assert!(
        again.stdout.starts_with(&first.stdout),
        "{first:?} {again:?}"
    );
    assert!(again.stderr.contains("already started"), "{again:?}");
    let other = vow(&stack, &["run", "closure", "--key", "another"]).await;
    assert_ne!(other.stdout, first.stdout);
}
