//! The command line, declared with clap.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::time::Duration;
use vow::PromiseId;

/// Inspect, wait on, draw, cancel and start vow workflows; manage the dead-letter queue.
///
/// Uses the usual AWS SDK configuration (profiles, AWS_REGION, AWS_ENDPOINT_URL...).
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
        #[arg(value_parser = parse_id)]
        id: PromiseId,
    },
    /// Show a promise and everything it spawned, like a process tree.
    Tree {
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
        #[arg(value_parser = parse_id)]
        id: PromiseId,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Draw a workflow as a Graphviz DOT or Mermaid graph.
    Graph {
        #[arg(value_parser = parse_id)]
        id: PromiseId,
        #[arg(long, value_enum, default_value_t = Format::Dot)]
        format: Format,
        #[command(flatten)]
        walk: WalkArgs,
    },
    /// Cancel a promise and its known pending descendants.
    Cancel {
        #[arg(value_parser = parse_id)]
        id: PromiseId,
        /// Why: the failure message successors see.
        #[arg(long, default_value = "cancelled with the vow command")]
        reason: String,
    },
    /// Settle a callback (`Flow::callback`) from outside: with a JSON value,
    /// or with --fail and a message. The first resolution wins; a promise
    /// settled already keeps its outcome.
    Resolve {
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
    /// Before a deploy: decode the messages waiting in the dead-letter queue (and
    /// with --work-queue the work queue) with the tasks this build links, and
    /// report which do not decode. Messages are peeked, not consumed.
    /// Exit 0 if all decode, 1 if some do not.
    CheckUpgrade {
        /// Also peek at the work queue. Each peek counts as a receive: a message
        /// gets one fewer redelivery before the dead-letter queue.
        #[arg(long)]
        work_queue: bool,
        /// Read at most this many messages per queue.
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
        max: u32,
    },
    /// Start one of the samples and print its root promise id.
    Run {
        #[arg(value_enum)]
        sample: Sample,
        /// Wait for the result (exit codes as for `vow wait`).
        #[arg(long)]
        wait: bool,
        /// Run this many workers in this process while waiting (when no
        /// Lambda serves the queue).
        #[arg(long, default_value_t = 0, requires = "wait")]
        workers: usize,
        #[command(flatten)]
        wait_args: WaitArgs,
    },
    /// Write a new vow project: a task crate with an order workflow, its
    /// worker binaries and tests, ready for `cargo lambda build` and
    /// `sam deploy`. Rename and reshape it from there.
    New {
        /// The project's name: lowercase letters, digits and `-` (its task crate,
        /// binaries `NAME-worker` and `NAME-dead-letter`, and task tags `NAME/...`).
        name: String,
        /// Where to write it (default: ./NAME); must not exist or be empty.
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
        /// Use the vow crates of this checkout of the vow repository instead of
        /// crates.io.
        #[arg(long, value_name = "DIR")]
        vow_path: Option<std::path::PathBuf>,
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
    Dot,
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
