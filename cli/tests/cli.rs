//! The real `vow` binary against LocalStack (SQS) and moto (DynamoDB): each test
//! gets its own queue, dead-letter queue and table (`vow_e2e::Stack`), and its
//! workers run in this process. Run with `./tests/run.sh`, or with the emulators
//! up: `cargo test -p vow-cli`.

use serde::{Deserialize, Serialize};
use std::process::Stdio;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;
use vow::prelude::*;
use vow::wire::{Envelope, Target, WIRE_VERSION};
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
    let out = Command::new(env!("CARGO_BIN_EXE_vow"))
        .args(args)
        .env("VOW_QUEUE_URL", &stack.names.queue_url)
        .env("VOW_TABLE_NAME", &stack.names.table_name)
        .env("VOW_DLQ_URL", &stack.dlq_url)
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
    let run = vow(stack, &["run", sample]).await;
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
