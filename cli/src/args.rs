//! The command line, declared with clap.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::time::Duration;
use vow::PromiseId;

/// Write vow projects and run them locally; inspect, wait on, draw, cancel and start
/// workflows; manage the dead-letter queue.
///
/// Uses the usual AWS SDK configuration (profiles, AWS_REGION, AWS_ENDPOINT_URL...).
/// Given no --queue-url, --table or VOW_* variables, it uses the local stack of
/// `vow dev` (.vow/dev.env in this folder or above) when that runs.
/// Exit codes: 0 success, 1 the promise failed, 2 timeout or usage error, 3 AWS error.
#[derive(Debug, Parser)]
#[command(name = "vow", version)]
pub struct Cli {
    #[command(flatten)]
    pub target: Target,
    #[command(subcommand)]
    pub command: Command,
}

/// Where the workflow lives.
#[derive(Debug, Args)]
pub struct Target {
    /// The work queue's URL.
    #[arg(long, global = true, env = vow::aws::ENV_QUEUE_URL, value_name = "URL")]
    pub queue_url: Option<String>,
    /// The DynamoDB table's name.
    #[arg(long, global = true, env = vow::aws::ENV_TABLE_NAME, value_name = "NAME")]
    pub table: Option<String>,
    /// The dead-letter queue's URL.
    #[arg(long, global = true, env = vow::aws::ENV_DLQ_URL, value_name = "URL")]
    pub dlq_url: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show whether a promise settled, and with what.
    Status {
        /// The promise's id: 32 hex digits, as `vow run` or your application printed it.
        #[arg(value_parser = parse_id)]
        id: PromiseId,
    },
    /// Show a promise and everything it spawned, like a process tree.
    Tree {
        /// The promise's id: 32 hex digits, as `vow run` or your application printed it.
        #[arg(value_parser = parse_id)]
        id: PromiseId,
        #[command(flatten)]
        walk: WalkArgs,
        /// Print full promise ids instead of their first 8 digits.
        #[arg(long)]
        full_ids: bool,
    },
    /// Wait for a promise to settle, showing progress over its workflow.
    Wait {
        /// The promise's id: 32 hex digits, as `vow run` or your application printed it.
        #[arg(value_parser = parse_id)]
        id: PromiseId,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Draw a workflow as a Graphviz DOT or Mermaid graph.
    Graph {
        /// The promise's id: 32 hex digits, as `vow run` or your application printed it.
        #[arg(value_parser = parse_id)]
        id: PromiseId,
        /// The graph language to print.
        #[arg(long, value_enum, default_value_t = Format::Dot)]
        format: Format,
        #[command(flatten)]
        walk: WalkArgs,
    },
    /// Cancel a promise and its known pending descendants.
    Cancel {
        /// The promise's id: 32 hex digits, as `vow run` or your application printed it.
        #[arg(value_parser = parse_id)]
        id: PromiseId,
        /// Why: the failure message successors see.
        #[arg(long, default_value = "cancelled with the vow command")]
        reason: String,
    },
    /// Settle a callback (`Flow::callback`) from outside.
    ///
    /// With a JSON value, or with --fail and a message. The first resolution
    /// wins; a promise settled already keeps its outcome.
    Resolve {
        /// The promise's id: 32 hex digits, as `vow run` or your application printed it.
        #[arg(value_parser = parse_id)]
        id: PromiseId,
        /// The value, as JSON (`true`, `42`, `'{"approved": true}'`).
        #[arg(required_unless_present = "fail", conflicts_with = "fail", value_parser = parse_json)]
        value: Option<serde_json::Value>,
        /// Settle with an error failure saying this instead of a value.
        #[arg(long, value_name = "MESSAGE")]
        fail: Option<String>,
    },
    /// Look at or redrive the dead-letter queue.
    #[command(subcommand)]
    Dlq(Dlq),
    /// Before a deploy: check that your new worker decodes the waiting messages.
    ///
    /// Decodes the messages waiting in the dead-letter queue (and
    /// with --work-queue the work queue), and the tasks waiting in the table
    /// (successors stored in records, schedule jobs, far timers), with the
    /// tasks of the worker you are about to deploy, and report which do not
    /// decode. Messages are peeked, not consumed; the table is only read. The tasks are those of --worker, else of the vow
    /// project in this folder (its worker binary, built with cargo), else of
    /// vow's samples (the only tasks this command links itself).
    /// Exit 0 if all decode, 1 if some do not.
    CheckUpgrade {
        /// Your worker binary: the check runs `BINARY --check-upgrade`, which
        /// decodes with the tasks it serves.
        #[arg(long, value_name = "BINARY")]
        worker: Option<std::path::PathBuf>,
        /// Also peek at the work queue. Each peek counts as a receive: a message
        /// gets one fewer redelivery before the dead-letter queue.
        #[arg(long)]
        work_queue: bool,
        /// Read at most this many messages per queue (and records, and timers).
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
        max: u32,
    },
    /// Start a workflow and print its root promise id.
    ///
    /// One of vow's samples, or with --example one of your project's examples (`cargo run --example
    /// NAME -- --stack ARGS...`, which starts its workflow on the stack this
    /// command points at: `vow dev`'s, or the one the flags name).
    Run {
        /// The sample to start.
        #[arg(
            value_enum,
            required_unless_present = "example",
            conflicts_with = "example"
        )]
        sample: Option<Sample>,
        /// Run this example of the vow project in this folder instead.
        #[arg(long, value_name = "NAME")]
        example: Option<String>,
        /// Arguments for the example (after `--`).
        #[arg(last = true, requires = "example", value_name = "ARGS")]
        example_args: Vec<String>,
        /// Start it at most once per KEY: run again with the same key (a
        /// retried deploy step, say), it starts nothing and prints the first
        /// run's root id (an idempotent start, as `Vow::flow_named`).
        #[arg(long, value_name = "KEY", conflicts_with = "example")]
        key: Option<String>,
        /// Wait for the result (exit codes as for `vow wait`).
        #[arg(long, conflicts_with = "example")]
        wait: bool,
        /// Run this many workers in this process while waiting (when no
        /// Lambda serves the queue).
        #[arg(long, default_value_t = 0, requires = "wait")]
        workers: usize,
        #[command(flatten)]
        wait_args: WaitArgs,
    },
    /// Write a new vow project, ready to test, run locally and deploy.
    ///
    /// A task crate with an order workflow and its tests (they run embedded: no AWS, no emulator), its worker binaries, a
    /// README, and deployment files for SAM (`sam build && sam deploy`) and
    /// Terraform that carry their own copy of vow's stack. Rename and reshape
    /// it from there.
    New {
        /// The project's name: lowercase letters, digits, `-` and `_`, at most
        /// 30 (its task crate, binaries `NAME-worker` and `NAME-dead-letter`,
        /// task tags `NAME/...`, and the stack's resource names).
        name: String,
        /// Where to write it (default: ./NAME); must not exist or be empty.
        #[arg(long, value_name = "DIR")]
        dir: Option<std::path::PathBuf>,
        /// Take the vow crates from this checkout of the vow repository
        /// (written as an absolute path) instead of crates.io.
        #[arg(long, value_name = "DIR", conflicts_with = "vow_git")]
        vow_path: Option<std::path::PathBuf>,
        /// Take the vow crates from this git repository instead of crates.io.
        #[arg(long, value_name = "URL")]
        vow_git: Option<String>,
    },
    /// The local dev loop: emulators and your project's worker, until Ctrl-C.
    ///
    /// In a vow project's folder: installs the emulators
    /// once (LocalStack for SQS, moto for DynamoDB, into ~/.cache/vow/emulators;
    /// needs Python 3.11 and pip), starts them on 127.0.0.1, creates the queues
    /// and the promise table, writes .vow/dev.env (which the other commands then
    /// read), and runs the project's worker with `--local` until Ctrl-C, then
    /// stops the emulators.
    Dev {
        /// The emulators' SQS port.
        #[arg(long, default_value_t = 4566, value_name = "PORT")]
        sqs_port: u16,
        /// The emulators' DynamoDB port.
        #[arg(long, default_value_t = 4569, value_name = "PORT")]
        dynamodb_port: u16,
    },
}

#[derive(Debug, Subcommand)]
pub enum Dlq {
    /// Peek at the messages on the dead-letter queue (each peek counts as a receive).
    List {
        /// Show at most this many messages.
        #[arg(long, default_value_t = 100)]
        max: usize,
    },
    /// Move every dead-letter message back to the work queue.
    Redrive,
}

/// How much of a workflow to walk.
#[derive(Debug, Args)]
pub struct WalkArgs {
    /// Stop after this many promises.
    #[arg(long, default_value_t = 500)]
    pub max_nodes: usize,
}

/// How long to wait.
#[derive(Debug, Args)]
pub struct WaitArgs {
    /// Give up after this long (e.g. 90s, 10m, 1h).
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    pub timeout: Duration,
    #[command(flatten)]
    pub walk: WalkArgs,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Graphviz DOT (`dot -Tsvg`).
    Dot,
    /// Mermaid (Markdown renderers on GitHub and elsewhere).
    Mermaid,
}

/// The samples of crate `vow-samples`, each as one root task.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Sample {
    /// A step that outlives its timeout; the next step reports it.
    Timeout,
    /// A closure with captured state.
    Closure,
    /// Square 1..=10 in parallel, then sum.
    FanIn,
    /// Count matching items of a 10,000-item synthetic data set in parallel pages.
    MapCount,
    /// Four batches of work (100 to 400 items) reporting their progress, joined.
    Progress,
}

fn parse_id(s: &str) -> Result<PromiseId, String> {
    PromiseId::parse(s.trim()).map_err(|f| f.message().to_owned())
}

fn parse_json(s: &str) -> Result<serde_json::Value, String> {
    serde_json::from_str(s).map_err(|e| format!("not JSON: {e} (quote strings: '\"text\"')"))
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{e} (try 30s, 10m or 1h)"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    /// Every subcommand, argument and value of `vow --help` says what it is.
    #[test]
    fn everything_has_help() {
        fn walk(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in command.get_arguments() {
                let id = arg.get_id().as_str();
                if id == "help" || id == "version" {
                    continue;
                }
                if arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} <{id}>"));
                }
                let flag = matches!(
                    arg.get_action(),
                    clap::ArgAction::SetTrue | clap::ArgAction::SetFalse
                );
                for value in arg.get_possible_values().into_iter().filter(|_| !flag) {
                    if value.get_help().is_none() {
                        missing.push(format!("{path} <{id}> {}", value.get_name()));
                    }
                }
            }
            for sub in command.get_subcommands() {
                let name = format!("{path} {}", sub.get_name());
                if sub.get_about().is_none() && sub.get_name() != "help" {
                    missing.push(name.clone());
                }
                walk(sub, &name, missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "vow", &mut missing);
        assert!(missing.is_empty(), "no help text: {missing:#?}");
    }

    #[test]
    fn bad_ids_and_durations_are_explained() {
        let err = Cli::try_parse_from(["vow", "status", "nope"]).expect_err("rejected");
        assert!(err.to_string().contains("is not a promise id"), "{err}");
        let id = "0123456789abcdef0123456789abcdef";
        let err = Cli::try_parse_from(["vow", "wait", id, "--timeout", "soon"]).expect_err("bad");
        assert!(err.to_string().contains("try 30s"), "{err}");
        let ok = Cli::try_parse_from(["vow", "wait", id, "--timeout", "90s"]).expect("parses");
        assert!(
            matches!(ok.command, Command::Wait { wait, .. } if wait.timeout == Duration::from_secs(90))
        );
    }
}
