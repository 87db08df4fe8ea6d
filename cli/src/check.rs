//! `vow check-upgrade`: which waiting messages this build cannot decode, with
//! [`vow::upgrade::check`] (the rule and how it peeks are documented there).

use crate::args::Target;
use crate::{client, emit, CliError};
use std::process::ExitCode;
use vow::aws::{SdkConfig, SqsQueue};
use vow::queue::Queue;

/// Check the dead-letter queue (if its URL is known) and, with `work_queue`, the
/// work queue. Exit 0 if every message decodes, 1 if some do not.
pub async fn check_upgrade(
    config: &SdkConfig,
    target: &Target,
    work_queue: bool,
    max: u32,
) -> Result<ExitCode, CliError> {
    if target.dlq_url.is_none() && !work_queue {
        return Err(CliError::Usage(format!(
            "nothing to check: set {} or pass --dlq-url, or pass --work-queue",
            vow::aws::ENV_DLQ_URL
        )));
    }
    let vow = client(config, target, work_queue).await?;
    let max = usize::try_from(max).unwrap_or(usize::MAX);
    let dlq = target
        .dlq_url
        .as_ref()
        .map(|url| SqsQueue::new(aws_sdk_sqs::Client::new(config), url));
    let mut queues: Vec<(&dyn Queue, &str)> = Vec::new();
    if let Some(dlq) = &dlq {
        queues.push((dlq, "dead-letter queue"));
    }
    if work_queue {
        queues.push((vow.engine().queue().as_ref(), "work queue"));
    }
    let mut undecodable = 0;
    for (queue, name) in queues {
        let report = vow::upgrade::check(vow.engine(), queue, name, max).await?;
        emit(&report.to_string());
        undecodable += report.undecodable();
    }
    if !work_queue {
        emit("work queue: not read (pass --work-queue; each peek counts as a receive toward maxReceiveCount)\n");
    }
    Ok(if undecodable == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
