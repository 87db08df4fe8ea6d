//! The AWS backend: [`SqsQueue`] and [`DynamoStore`], configured the way the AWS SDK
//! is (profiles, regions, `AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_SQS`,
//! `AWS_ENDPOINT_URL_DYNAMODB`), plus the names vow reads from the environment.
//!
//! ```no_run
//! # async fn demo() -> Result<(), vow::BackendError> {
//! // VOW_QUEUE_URL and VOW_TABLE_NAME name the queue and table (the SAM and
//! // Terraform outputs); everything else comes from the usual AWS configuration.
//! let vow = vow::Vow::aws().await?;
//! # Ok(()) }
//! ```

pub mod cost;
pub(crate) mod errors;
mod interceptor;
mod metrics;
mod queue;
pub mod setup;
mod store;
mod timers;

/// The AWS SDK's configuration, as [`crate::VowBuilder::sdk_config`] takes it.
pub use aws_config::SdkConfig;
pub use cost::{Prices, LIST_PRICES};
pub use interceptor::FaultInterceptor;
pub use metrics::{Counts, Metrics};
pub use queue::SqsQueue;
pub use store::DynamoStore;

use crate::error::BackendError;
pub use crate::store::{MAX_RECORD_TTL_DAYS, MIN_RECORD_TTL_DAYS};
use std::time::Duration;

/// The environment variable naming the work queue's URL.
pub const ENV_QUEUE_URL: &str = "VOW_QUEUE_URL";
/// The environment variable naming the DynamoDB table.
pub const ENV_TABLE_NAME: &str = "VOW_TABLE_NAME";
/// The environment variable setting how many days records live (default 30).
///
/// A record expires this long after its last settle (a pending record has no
/// TTL; see [`DynamoStore`]). Set it above the work queue's message retention
/// (14 days at most), so that no message can outlive the record it settles: a
/// message delivered after its record expired would find the slot empty and
/// settle it again.
pub const ENV_RECORD_TTL_DAYS: &str = "VOW_RECORD_TTL_DAYS";
/// The environment variable naming the timer index's DynamoDB table
/// ([`crate::timer_index`]). Unset, timers further away than a queue delay
/// hop through the queue every 15 minutes instead.
pub const ENV_TIMER_TABLE: &str = "VOW_TIMER_TABLE";
/// Every environment variable vow reads, for checking deployment templates.
pub const ENV_VARS: [&str; 4] = [
    ENV_QUEUE_URL,
    ENV_TABLE_NAME,
    ENV_RECORD_TTL_DAYS,
    ENV_TIMER_TABLE,
];

/// Where vow's queue and table are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AwsNames {
    /// The work queue's URL.
    pub queue_url: String,
    /// The table's name.
    pub table_name: String,
    /// How long records live after their last settle ([`ENV_RECORD_TTL_DAYS`]);
    /// longer than the queue's message retention.
    pub record_ttl: Duration,
}

impl AwsNames {
    /// Read [`ENV_QUEUE_URL`], [`ENV_TABLE_NAME`] and [`ENV_RECORD_TTL_DAYS`].
    pub fn from_env() -> Result<Self, BackendError> {
        Ok(AwsNames {
            queue_url: required_env(ENV_QUEUE_URL)?,
            table_name: required_env(ENV_TABLE_NAME)?,
            record_ttl: record_ttl_from_env()?,
        })
    }
}

/// The environment variable naming the dead-letter queue's URL (read by the
/// `vow` command and the upgrade check, not by the functions).
pub const ENV_DLQ_URL: &str = "VOW_DLQ_URL";

/// The value of a variable vow cannot do without, or an error saying what to set.
pub(crate) fn required_env(name: &str) -> Result<String, BackendError> {
    let what = match name {
        ENV_QUEUE_URL => {
            "the work queue's URL (the `QueueUrl` output of the SAM or Terraform stack)"
        }
        ENV_TABLE_NAME => {
            "the DynamoDB table's name (the `TableName` output of the SAM or Terraform stack)"
        }
        ENV_DLQ_URL => "the dead-letter queue's URL",
        _ => "a value",
    };
    match std::env::var(name) {
        Ok(value) if !value.trim().is_empty() => Ok(value),
        Ok(_) => Err(BackendError::fatal(format!(
            "{name} is empty: set it to {what}"
        ))),
        Err(_) => Err(BackendError::fatal(format!(
            "{name} is not set: set it to {what}"
        ))),
    }
}

/// [`ENV_RECORD_TTL_DAYS`] as a duration: 30 days when unset.
pub(crate) fn record_ttl_from_env() -> Result<Duration, BackendError> {
    match std::env::var(ENV_RECORD_TTL_DAYS) {
        Ok(v) => parse_record_ttl_days(&v),
        Err(_) => Ok(Duration::from_secs(30 * 86_400)),
    }
}

/// Parse a [`ENV_RECORD_TTL_DAYS`] value: a whole number of days from
/// [`MIN_RECORD_TTL_DAYS`] (15: longer than a message can live) to
/// [`MAX_RECORD_TTL_DAYS`] (3650), the range the SAM template and the
/// Terraform module accept too.
///
/// ```
/// use std::time::Duration;
/// use vow::aws::parse_record_ttl_days;
/// assert_eq!(parse_record_ttl_days("30").unwrap(), Duration::from_secs(30 * 86_400));
/// let e = parse_record_ttl_days("30d").unwrap_err().to_string();
/// assert!(e.contains("VOW_RECORD_TTL_DAYS must be a whole number of days"), "{e}");
/// assert!(parse_record_ttl_days("14").is_err());
/// assert!(parse_record_ttl_days("3651").is_err());
/// ```
pub fn parse_record_ttl_days(value: &str) -> Result<Duration, BackendError> {
    let bad = || {
        BackendError::fatal(format!(
            "{ENV_RECORD_TTL_DAYS} must be a whole number of days from {MIN_RECORD_TTL_DAYS} \
             to {MAX_RECORD_TTL_DAYS} (above the work queue's message retention, 14 days at \
             most), not `{value}`"
        ))
    };
    let days = value.trim().parse::<u64>().map_err(|_| bad())?;
    if !(MIN_RECORD_TTL_DAYS..=MAX_RECORD_TTL_DAYS).contains(&days) {
        return Err(bad());
    }
    days.checked_mul(86_400)
        .map(Duration::from_secs)
        .ok_or_else(bad)
}

/// A record lifetime given in code ([`crate::VowBuilder::record_ttl`]), checked
/// against the same range as [`ENV_RECORD_TTL_DAYS`].
pub(crate) fn check_record_ttl(ttl: Duration) -> Result<Duration, BackendError> {
    let days = |n: u64| Duration::from_secs(n * 86_400);
    if (days(MIN_RECORD_TTL_DAYS)..=days(MAX_RECORD_TTL_DAYS)).contains(&ttl) {
        return Ok(ttl);
    }
    Err(BackendError::fatal(format!(
        "record_ttl must be from {MIN_RECORD_TTL_DAYS} to {MAX_RECORD_TTL_DAYS} days (above the \
         work queue's message retention, 14 days at most), not {:.3} days",
        ttl.as_secs_f64() / 86_400.0
    )))
}

/// Load the AWS SDK configuration the standard way.
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

/// Classify an SDK error: throttling, 5xx, timeouts and dispatch failures are
/// transient; everything else is fatal.
pub(crate) fn classify<E, R>(op: &str, err: aws_sdk_sqs::error::SdkError<E, R>) -> BackendError
where
    E: aws_sdk_sqs::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    use aws_sdk_sqs::error::SdkError;
    let transient_code = |code: Option<&str>| code.is_some_and(errors::transient_code);
    let text = format!("{op}: {}", aws_sdk_sqs::error::DisplayErrorContext(&err));
    match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            BackendError::transient(text)
        }
        SdkError::ServiceError(e) if transient_code(e.err().code()) => {
            BackendError::transient(text)
        }
        _ => BackendError::fatal(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u64 = 86_400;

    #[test]
    fn record_ttl_days_accepts_exactly_15_to_3650() {
        for days in [15, 30, 3_650] {
            assert_eq!(
                parse_record_ttl_days(&days.to_string()).expect("in range"),
                Duration::from_secs(days * DAY)
            );
        }
        // The templates' range: 15 is the least that outlives a message (14
        // days' retention), 3,650 the most the code takes. A value outside is
        // refused with the variable and the range named.
        for bad in ["14", "3651", "4000", "0", "1", "99999", "30d", "-1", ""] {
            let e = parse_record_ttl_days(bad)
                .expect_err(&format!("`{bad}` is out of range"))
                .to_string();
            assert!(e.contains("VOW_RECORD_TTL_DAYS"), "{e}");
            assert!(e.contains("from 15 to 3650"), "{e}");
            assert!(e.contains(&format!("`{bad}`")), "{e}");
        }
    }
}
