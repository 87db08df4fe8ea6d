//! The two functions a vow deployment runs: [`Worker`] serves the work queue,
//! [`DeadLetters`] the dead-letter queue.

use crate::{logs, serve::serve};
use lambda_runtime::Error;
use vow::poller::InProcess;
use vow::Vow;

/// The worker function: runs the task in each message of the work queue,
/// settles its promise and sends what follows.
///
/// [`Worker::run`] reads the stack's names from the environment (`VOW_QUEUE_URL`,
/// `VOW_TABLE_NAME`, see [`Vow::aws`]), logs JSON lines and serves SQS batches
/// until the Lambda runtime stops. Run with `--list-tasks`, the binary prints
/// the tag and Rust type of every task it serves, one per line, and exits.
///
/// ```no_run
/// #[tokio::main]
/// async fn main() -> Result<(), vow_lambda::Error> {
///     vow_lambda::Worker::new().run().await
/// }
/// ```
#[derive(Debug, Default)]
#[must_use = "a worker does nothing until `run` is awaited"]
pub struct Worker {
    _private: (),
}

impl Worker {
    /// A worker serving every task linked into this binary.
    pub fn new() -> Self {
        Worker::default()
    }

    /// Serve the work queue (or, given `--list-tasks`, print the tasks and
    /// return).
    ///
    /// # Errors
    ///
    /// When the environment does not name the stack, or the Lambda runtime
    /// fails.
    pub async fn run(self) -> Result<(), Error> {
        if list_tasks_requested(std::env::args()) {
            print!("{}", task_list());
            return Ok(());
        }
        logs::init();
        let vow = Vow::aws().await?;
        serve(InProcess::worker(vow.engine().clone())).await
    }
}

/// The dead-letter function: settles the promise of each message that the work
/// queue gave up on (if nothing settled it yet) with a `Crashed` failure saying
/// why, so whatever waits on it gets an outcome. It never decodes the task, so
/// it needs none of your task crates.
///
/// ```no_run
/// #[tokio::main]
/// async fn main() -> Result<(), vow_lambda::Error> {
///     vow_lambda::DeadLetters::new().run().await
/// }
/// ```
#[derive(Debug, Default)]
#[must_use = "a dead-letter function does nothing until `run` is awaited"]
pub struct DeadLetters {
    _private: (),
}

impl DeadLetters {
    /// The dead-letter function.
    pub fn new() -> Self {
        DeadLetters::default()
    }

    /// Serve the dead-letter queue until the Lambda runtime stops.
    ///
    /// # Errors
    ///
    /// When the environment does not name the stack, or the Lambda runtime
    /// fails.
    pub async fn run(self) -> Result<(), Error> {
        logs::init();
        let vow = Vow::aws().await?;
        serve(InProcess::dead_letters(vow.engine().clone())).await
    }
}

/// Whether the command line asks for the task list.
fn list_tasks_requested(mut args: impl Iterator<Item = String>) -> bool {
    args.any(|a| a == "--list-tasks")
}

/// Every task this build serves: its tag and Rust type, tab-separated, one per
/// line, sorted by tag.
fn task_list() -> String {
    vow::registered_tasks()
        .iter()
        .map(|r| format!("{}\t{}\n", r.tag, r.type_name))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_tasks_is_a_flag_anywhere_on_the_command_line() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(list_tasks_requested(
            args(&["worker", "--list-tasks"]).into_iter()
        ));
        assert!(!list_tasks_requested(args(&["worker"]).into_iter()));
        assert!(!list_tasks_requested(
            args(&["worker", "--list"]).into_iter()
        ));
    }

    #[test]
    fn the_task_list_names_every_linked_task() {
        let list = task_list();
        let line = list
            .lines()
            .find(|l| l.starts_with("vow-lambda/test-slow\t"))
            .unwrap_or_else(|| panic!("the test task is listed: {list}"));
        assert!(line.ends_with("Slow"), "{line}");
    }
}
