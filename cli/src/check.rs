//! `vow check-upgrade`: which waiting messages a worker build cannot decode.
//! The check runs in the worker binary about to be deployed (its
//! `--check-upgrade`, [`vow::upgrade::run_if_requested`]), so it decodes with
//! that binary's tasks: the one `--worker` names, else the project's in this
//! folder, else this command itself with vow's samples' tasks
//! ([`vow::upgrade::check_queues`]; the rule and how it peeks are documented
//! at [`vow::upgrade::check`]).

use crate::args::Target;
use crate::project::Project;
use crate::{client, emit, CliError};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use vow::aws::SdkConfig;

/// Check the dead-letter queue (if its URL is known) and, with `work_queue`, the
/// work queue. Exit 0 if every message decodes, 1 if some do not.
pub async fn check_upgrade(
    config: &SdkConfig,
    target: &Target,
    worker: Option<PathBuf>,
    work_queue: bool,
    max: u32,
) -> Result<ExitCode, CliError> {
    if target.dlq_url.is_none() && !work_queue {
        return Err(CliError::Usage(format!(
            "nothing to check: set {} or pass --dlq-url, or pass --work-queue",
            vow::aws::ENV_DLQ_URL
        )));
    }
    let here = std::env::current_dir().ok();
    let project = here.as_deref().and_then(Project::find);
    let worker = match (worker, project) {
        (Some(worker), _) => Some(worker),
        (None, Some(project)) => Some(project.build_worker()?),
        (None, None) => None,
    };
    if let Some(worker) = worker {
        return in_worker(&worker, target, work_queue, max);
    }
    emit("checking with the tasks of vow's samples (no --worker, no vow project here)\n");
    let vow = client(config, target, work_queue).await?;
    let max = usize::try_from(max).unwrap_or(usize::MAX);
    let dlq_url = target.dlq_url.as_deref();
    let undecodable = vow::upgrade::check_queues(&vow, config, dlq_url, work_queue, max, emit)
        .await
        .map_err(|(_, e)| CliError::from(e))?;
    Ok(if undecodable == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Run the check in `worker`: `worker --check-upgrade [--work-queue] --max N`
/// with the stack's names in its environment; its exit code is the check's.
fn in_worker(
    worker: &Path,
    target: &Target,
    work_queue: bool,
    max: u32,
) -> Result<ExitCode, CliError> {
    let mut command = std::process::Command::new(worker);
    command
        .arg("--check-upgrade")
        .args(["--max", &max.to_string()]);
    if work_queue {
        command.arg("--work-queue");
    }
    for (var, value) in [
        (vow::aws::ENV_QUEUE_URL, &target.queue_url),
        (vow::aws::ENV_TABLE_NAME, &target.table),
        (vow::aws::ENV_DLQ_URL, &target.dlq_url),
    ] {
        if let Some(value) = value {
            command.env(var, value);
        }
    }
    let status = command
        .status()
        .map_err(|e| CliError::Usage(format!("cannot run {}: {e}", worker.display())))?;
    Ok(match status.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        None => ExitCode::FAILURE,
    })
}
