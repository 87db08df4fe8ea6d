//! `vow check-upgrade`: which waiting messages this build cannot decode, with
//! [`vow::upgrade::check_queues`] (the rule and how it peeks are documented
//! at [`vow::upgrade::check`]).

use crate::args::Target;
use crate::{client, emit, CliError};
use std::process::ExitCode;
use vow::aws::SdkConfig;

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
