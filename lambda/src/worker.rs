//! The two functions a vow deployment runs: [`Worker`] serves the work queue,
//! [`DeadLetters`] the dead-letter queue.

use crate::{logs, serve::serve};
use lambda_runtime::Error;
use vow::poller::InProcess;
use vow::{check_tasks, Registration, TaskSet, Vow};

/// The worker function: runs the task in each message of the work queue,
/// settles its promise and sends what follows.
///
/// Give it the [`TaskSet`] of every task crate it serves (each declares its set
/// with `vow::tasks!()`). [`Worker::run`] refuses to start if a set's tasks are
/// not in the binary or two types claim one tag; then it reads the stack's
/// names from the environment (`VOW_QUEUE_URL`, `VOW_TABLE_NAME`, see
/// [`Vow::aws`]), logs JSON lines and serves SQS batches until the Lambda
/// runtime stops. Run with `--list-tasks`, the binary prints the tag and Rust
/// type of every task it serves, one per line, and exits. Run with
/// `--check-upgrade [--work-queue]` before deploying it, the binary reports
/// which messages waiting in the queues it could not decode
/// ([`vow::upgrade::run_if_requested`]) and exits 0 only if it can decode all.
///
/// ```no_run
/// # mod my_tasks { vow::tasks!(); }
/// #[tokio::main]
/// async fn main() -> Result<(), vow_lambda::Error> {
///     vow_lambda::Worker::new()
///         .tasks(my_tasks::tasks())
///         .run()
///         .await
/// }
/// ```
#[derive(Debug, Default)]
#[must_use = "a worker does nothing until `run` is awaited"]
pub struct Worker {
    sets: Vec<TaskSet>,
}

impl Worker {
    /// A worker serving no tasks yet: add each task crate's set with
    /// [`Worker::tasks`].
    pub fn new() -> Self {
        Worker::default()
    }

    /// Serve the tasks of `set` too: `my_tasks::tasks()`, declared in the task
    /// crate with `vow::tasks!()`.
    pub fn tasks(mut self, set: TaskSet) -> Self {
        self.sets.push(set);
        self
    }

    /// Check the task sets, then serve the work queue (or, given
    /// `--list-tasks`, print the tasks and return; given `--check-upgrade`,
    /// check the waiting messages and exit with the check's status).
    ///
    /// # Errors
    ///
    /// When no set was given, a set's tasks are not linked into the binary, two
    /// types claim one tag ([`vow::RegistryError`]), the environment does not
    /// name the stack, or the Lambda runtime fails.
    pub async fn run(self) -> Result<(), Error> {
        let served = check_tasks(&self.sets)?;
        if list_tasks_requested(std::env::args()) {
            print!("{}", task_list(&served));
            return Ok(());
        }
        if let Some(code) = vow::upgrade::run_if_requested().await {
            std::process::exit(code);
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

/// The tasks served: tag and Rust type, tab-separated, one per line.
fn task_list(served: &[&Registration]) -> String {
    served
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
    fn the_task_list_names_the_tasks_of_the_sets() {
        let served = check_tasks(&[crate::tasks()]).expect("this crate's tests define tasks");
        let list = task_list(&served);
        assert_eq!(list, "vow-lambda/test-slow\tSlow\n");
    }

    #[tokio::test]
    async fn a_worker_without_its_tasks_refuses_to_start() {
        let none = Worker::new().run().await.expect_err("refused");
        assert_eq!(none.to_string(), vow::RegistryError::NoSets.to_string());
        let unlinked = vow::TaskSet::of_crate("not_linked_here");
        let err = Worker::new()
            .tasks(unlinked)
            .run()
            .await
            .expect_err("refused");
        assert!(err.to_string().contains("not_linked_here"), "{err}");
    }
}
