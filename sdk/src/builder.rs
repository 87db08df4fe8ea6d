//! [`VowBuilder`]: the one way to configure a client of the AWS backend.
//!
//! Like the AWS SDK's own loader, it reads the environment for everything not
//! set explicitly, and explicit settings win:
//!
//! | setting | setter | environment | default |
//! |---|---|---|---|
//! | work queue | [`VowBuilder::queue_url`] | `VOW_QUEUE_URL` | required |
//! | table | [`VowBuilder::table_name`] | `VOW_TABLE_NAME` | required |
//! | timer index | [`VowBuilder::timer_table`] | `VOW_TIMER_TABLE` | none: far timers hop |
//! | record lifetime | [`VowBuilder::record_ttl`] | `VOW_RECORD_TTL_DAYS` | 30 days |
//! | signing keys | [`VowBuilder::signing_keys`] | `VOW_SIGNING_KEYS`, else the secret `VOW_SIGNING_SECRET_ARN` names | unsigned, with a warning unless `VOW_UNSIGNED=1` |
//! | promises one cancel may walk (and settle) | [`VowBuilder::max_cancel_walk`] | `VOW_MAX_CANCEL_WALK` | 100,000 (1 to 10,000,000) |
//! | shortest interval between a schedule's firings | [`VowBuilder::min_schedule_interval`] | `VOW_MIN_SCHEDULE_INTERVAL_SECS` | a minute, unless a cron says `allow_sub_minute` (1 s to a day) |
//! | AWS SDK | [`VowBuilder::sdk_config`] | profiles, `AWS_REGION`, `AWS_ENDPOINT_URL`… | `aws_config` defaults |
//!
//! Every entry point builds its client this way ([`crate::Vow::aws`], the
//! Lambda functions, the `vow` command, the quickstart), so a stack whose
//! environment sets `VOW_SIGNING_KEYS` or `VOW_SIGNING_SECRET_ARN` signs and
//! verifies everywhere. The secret is read once, when `build` runs (see
//! [`crate::signing`] for its format).
//!
//! ```no_run
//! # async fn demo() -> Result<(), vow::BackendError> {
//! use std::time::Duration;
//! // Everything from the environment (what `Vow::aws()` does):
//! let vow = vow::Vow::builder().build().await?;
//! // The queue and table given, the rest from the environment:
//! let vow = vow::Vow::builder()
//!     .queue_url("https://sqs.eu-west-1.amazonaws.com/123456789012/vow-work")
//!     .table_name("vow")
//!     .record_ttl(Duration::from_secs(30 * 86_400))
//!     .build()
//!     .await?;
//! # Ok(()) }
//! ```

use crate::aws::{
    check_record_ttl, record_ttl_from_env, required_env, DynamoStore, Metrics, SqsQueue,
    ENV_QUEUE_URL, ENV_TABLE_NAME, ENV_TIMER_TABLE,
};
use crate::client::Vow;
use crate::engine::EngineConfig;
use crate::error::BackendError;
use crate::queue::{Delivery, Outgoing, Queue};
use crate::signing::{SigningKeys, ENV_SIGNING_KEYS, ENV_SIGNING_SECRET_ARN, ENV_UNSIGNED};
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;

/// Builds a [`Vow`] client of SQS and DynamoDB from the environment and the
/// AWS SDK's configuration, each setting overridable.
#[derive(Clone, Debug, Default)]
#[must_use = "call `.build().await` to make the client"]
pub struct VowBuilder {
    queue_url: Option<String>,
    table_name: Option<String>,
    timer_table: Option<Option<String>>,
    record_ttl: Option<Duration>,
    signing: Option<Option<SigningKeys>>,
    engine: Option<EngineConfig>,
    sdk_config: Option<aws_config::SdkConfig>,
    metrics: Option<Arc<Metrics>>,
    read_only: bool,
    max_cancel_walk: Option<usize>,
    min_schedule_interval: Option<Duration>,
}

impl VowBuilder {
    /// The work queue's URL (the stack's `QueueUrl` output), instead of `VOW_QUEUE_URL`.
    pub fn queue_url(mut self, url: impl Into<String>) -> Self {
        self.queue_url = Some(url.into());
        self
    }

    /// The DynamoDB table's name (the stack's `TableName` output), instead of
    /// `VOW_TABLE_NAME`.
    pub fn table_name(mut self, name: impl Into<String>) -> Self {
        self.table_name = Some(name.into());
        self
    }

    /// The timer index's table (the stack's `TimerTableName` output), instead
    /// of `VOW_TIMER_TABLE`; `None` keeps no index (far timers then hop
    /// through the queue every 15 minutes). See [`crate::timer_index`].
    pub fn timer_table(mut self, name: Option<String>) -> Self {
        self.timer_table = Some(name);
        self
    }

    /// How long records live after their last settle, instead of
    /// `VOW_RECORD_TTL_DAYS` (see [`crate::aws::ENV_RECORD_TTL_DAYS`]): from 15
    /// to 3650 days, as there ([`crate::aws::MIN_RECORD_TTL_DAYS`],
    /// [`crate::aws::MAX_RECORD_TTL_DAYS`]); `build` refuses another.
    pub fn record_ttl(mut self, ttl: Duration) -> Self {
        self.record_ttl = Some(ttl);
        self
    }

    /// Sign every message with these keys and reject unsigned ones, instead of
    /// the keys in `VOW_SIGNING_KEYS`.
    pub fn signing_keys(self, keys: SigningKeys) -> Self {
        self.set_signing_keys(Some(keys))
    }

    /// Like [`VowBuilder::signing_keys`]; `None` turns signing off whatever
    /// `VOW_SIGNING_KEYS` says (every producer and worker of a queue must agree).
    pub fn set_signing_keys(mut self, keys: Option<SigningKeys>) -> Self {
        self.signing = Some(keys);
        self
    }

    /// The most promises one cancel walks and settles, instead of
    /// `VOW_MAX_CANCEL_WALK` (default 100,000); `build` refuses a number
    /// outside 1 to 10,000,000.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), vow::BackendError> {
    /// let vow = vow::Vow::builder().max_cancel_walk(5_000).build().await?;
    /// # Ok(()) }
    /// ```
    pub fn max_cancel_walk(mut self, promises: usize) -> Self {
        self.max_cancel_walk = Some(promises);
        self
    }

    /// The shortest time a schedule may leave between two firings, for every
    /// cron, instead of `VOW_MIN_SCHEDULE_INTERVAL_SECS` (default: a minute,
    /// unless a cron says [`crate::Cron::allow_sub_minute`]); `build` refuses
    /// anything but whole seconds from 1 to a day.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), vow::BackendError> {
    /// use std::time::Duration;
    /// let vow = vow::Vow::builder()
    ///     .min_schedule_interval(Duration::from_secs(15 * 60))
    ///     .build()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn min_schedule_interval(mut self, interval: Duration) -> Self {
        self.min_schedule_interval = Some(interval);
        self
    }

    /// Engine settings (timeouts, retries, inline runs). Their `signing`, if set,
    /// counts as [`VowBuilder::signing_keys`]; if unset, the keys come from
    /// `VOW_SIGNING_KEYS` as usual.
    pub fn engine(mut self, config: EngineConfig) -> Self {
        self.engine = Some(config);
        self
    }

    /// The AWS SDK configuration, instead of loading `aws_config`'s defaults.
    pub fn sdk_config(mut self, config: &aws_config::SdkConfig) -> Self {
        self.sdk_config = Some(config.clone());
        self
    }

    /// Count the client's requests here.
    pub fn metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// A client that only reads the table (status, wait, inspect, progress):
    /// no queue URL is needed, and anything that sends fails with an error
    /// saying so.
    pub fn read_only(mut self) -> Self {
        self.read_only = true;
        self
    }

    /// Make the client. Fails, naming the variable and the form it expects, if
    /// the queue URL or table name is set nowhere or a variable is malformed.
    pub async fn build(self) -> Result<Vow, BackendError> {
        let table_name = match self.table_name {
            Some(name) => name,
            None => required_env(ENV_TABLE_NAME)?,
        };
        let queue_url = match (self.queue_url, self.read_only) {
            (Some(url), _) => Some(url),
            (None, true) => None,
            (None, false) => Some(required_env(ENV_QUEUE_URL)?),
        };
        let record_ttl = match self.record_ttl {
            Some(ttl) => check_record_ttl(ttl)?,
            None => record_ttl_from_env()?,
        };
        let mut engine = self.engine.unwrap_or_default();
        // The limits: a setter, else the environment, else the engine's.
        let env = |name: &str| std::env::var(name).ok();
        let (walk, interval) = crate::engine::parse_limits(
            env(crate::engine::ENV_MAX_CANCEL_WALK).as_deref(),
            env(crate::engine::ENV_MIN_SCHEDULE_INTERVAL_SECS).as_deref(),
        )?;
        if let Some(n) = self.max_cancel_walk.or(walk) {
            engine.max_cancel_walk = n;
        }
        if let Some(d) = self.min_schedule_interval.or(interval) {
            engine.min_schedule_interval = Some(d);
        }
        crate::engine::check_cancel_walk(engine.max_cancel_walk)?;
        if let Some(d) = engine.min_schedule_interval {
            crate::engine::check_schedule_interval(d)?;
        }
        if engine.schedules.is_empty() {
            engine.schedules = crate::engine::DeclaredSchedules::from_env()
                .map_err(|f| BackendError::fatal(f.message().to_owned()))?;
        }
        let sdk = match self.sdk_config {
            Some(config) => config,
            None => crate::aws::sdk_config().await,
        };
        engine.signing = match (self.signing, engine.signing.take()) {
            (Some(explicit), _) => explicit,
            (None, Some(keys)) => Some(keys),
            (None, None) => signing_from_env(&sdk, self.read_only).await?,
        };
        let metrics = self.metrics.unwrap_or_default();
        let timer_table = match self.timer_table {
            Some(name) => name,
            None => std::env::var(ENV_TIMER_TABLE)
                .ok()
                .filter(|n| !n.is_empty()),
        };
        let mut store =
            DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), table_name, record_ttl)
                .with_metrics(metrics.clone());
        if let Some(name) = timer_table {
            store = store.with_timer_table(name);
        }
        let queue: Arc<dyn Queue> = match queue_url {
            Some(url) => {
                Arc::new(SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), url).with_metrics(metrics))
            }
            None => Arc::new(NoQueue),
        };
        Ok(Vow::client(Arc::new(store), queue, engine))
    }
}

/// The signing keys the environment names, read once at start-up (rule 10):
/// `VOW_SIGNING_KEYS` itself, or else the Secrets Manager secret named by
/// `VOW_SIGNING_SECRET_ARN` (`GetSecretValue`, with the same AWS configuration
/// and endpoint settings as the other clients, e.g.
/// `AWS_ENDPOINT_URL_SECRETS_MANAGER`). With neither, messages are unsigned:
/// a warning says so (a read-only client sends nothing and is not warned)
/// unless `VOW_UNSIGNED=1` records that choice, which may not be combined
/// with keys.
async fn signing_from_env(
    sdk: &aws_config::SdkConfig,
    read_only: bool,
) -> Result<Option<SigningKeys>, BackendError> {
    let fatal = |f: crate::Failure| BackendError::fatal(f.message().to_owned());
    let set = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let unsigned = match set(ENV_UNSIGNED).as_deref().map(str::trim) {
        None | Some("0") => false,
        Some("1") => true,
        Some(other) => {
            return Err(BackendError::fatal(format!(
                "{ENV_UNSIGNED} must be 1 (run unsigned, on purpose) or 0, not `{}`",
                other.escape_debug()
            )))
        }
    };
    let keys = match (
        SigningKeys::from_env().map_err(fatal)?,
        set(ENV_SIGNING_SECRET_ARN),
    ) {
        (Some(keys), arn) => {
            if let Some(arn) = arn {
                tracing::warn!(
                    secret = %arn,
                    "vow: {ENV_SIGNING_KEYS} is set, so {ENV_SIGNING_SECRET_ARN} is not read"
                );
            }
            Some(keys)
        }
        (None, Some(arn)) => Some(fetch_signing_secret(sdk, arn.trim()).await?),
        (None, None) => None,
    };
    match (keys, unsigned) {
        (Some(_), true) => Err(BackendError::fatal(format!(
            "{ENV_UNSIGNED}=1 says to run unsigned, but signing keys are set \
             ({ENV_SIGNING_KEYS} or {ENV_SIGNING_SECRET_ARN}): unset one of them"
        ))),
        (Some(keys), false) => Ok(Some(keys)),
        (None, true) => Ok(None),
        (None, false) if read_only => Ok(None), // sends nothing: nothing to warn about
        (None, false) => {
            tracing::warn!(
                "vow: messages are NOT signed: anyone who can send to the queue can start work \
                 and settle promises. Set {ENV_SIGNING_SECRET_ARN} (what the SAM and Terraform \
                 stacks do by default) or {ENV_SIGNING_KEYS}; set {ENV_UNSIGNED}=1 to run \
                 unsigned on purpose and silence this warning"
            );
            Ok(None)
        }
    }
}

/// The keys in the secret `arn` (its current version), read with `GetSecretValue`.
async fn fetch_signing_secret(
    sdk: &aws_config::SdkConfig,
    arn: &str,
) -> Result<SigningKeys, BackendError> {
    let client = aws_sdk_secretsmanager::Client::new(sdk);
    let out = client
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| {
            crate::aws::classify(
                &format!("{ENV_SIGNING_SECRET_ARN}: GetSecretValue on {arn}"),
                e,
            )
        })?;
    let Some(text) = out.secret_string() else {
        return Err(BackendError::fatal(format!(
            "{ENV_SIGNING_SECRET_ARN}: the secret {arn} has no SecretString (a binary secret?): \
             store `{{\"kid\":\"k1\",\"key\":\"...\"}}` or `id=secret,...`"
        )));
    };
    SigningKeys::parse_secret(text)
        .and_then(SigningKeys::with_legacy_from_env)
        .map_err(|f| {
            BackendError::fatal(format!(
                "{ENV_SIGNING_SECRET_ARN}: the secret {arn}: {}",
                f.message()
            ))
        })
}

/// The queue of a read-only client: every call fails, saying why.
struct NoQueue;

impl NoQueue {
    fn refuse<T>() -> Result<T, BackendError> {
        Err(BackendError::fatal(format!(
            "this client was built read-only and has no queue: set {ENV_QUEUE_URL} \
             or call `.queue_url(..)` on the builder to send"
        )))
    }
}

#[async_trait]
impl Queue for NoQueue {
    async fn send(&self, _: Vec<Outgoing>) -> Result<(), BackendError> {
        Self::refuse()
    }
    async fn receive(&self, _: usize, _: Duration) -> Result<Vec<Delivery>, BackendError> {
        Self::refuse()
    }
    async fn delete(&self, _: Vec<String>) -> Result<(), BackendError> {
        Self::refuse()
    }
    async fn release(&self, _: &str, _: Duration) -> Result<(), BackendError> {
        Self::refuse()
    }
    fn name(&self) -> &str {
        ""
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sdk() -> aws_config::SdkConfig {
        aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .build()
    }

    fn keys() -> SigningKeys {
        SigningKeys::parse("k1=0123456789abcdef-secret").expect("keys")
    }

    #[tokio::test]
    async fn policy_limits_are_set_by_the_builder_and_checked() {
        let base = || {
            Vow::builder()
                .sdk_config(&sdk())
                .queue_url("http://127.0.0.1:1/q")
                .table_name("t")
                .set_signing_keys(None)
        };
        let vow = base().build().await.expect("build");
        let config = vow.engine().config();
        assert_eq!(config.max_cancel_walk, 100_000, "the default");
        assert_eq!(config.min_schedule_interval, None, "the default");
        let vow = base()
            .max_cancel_walk(250)
            .min_schedule_interval(Duration::from_secs(600))
            .build()
            .await
            .expect("build");
        let config = vow.engine().config();
        assert_eq!(config.max_cancel_walk, 250);
        assert_eq!(config.min_schedule_interval, Some(Duration::from_secs(600)));
        for (walk, interval, says) in [
            (0, 60, "from 1 to 10000000 promises, not 0"),
            (20_000_000, 60, "from 1 to 10000000 promises, not 20000000"),
            (10, 0, "whole number of seconds from 1 to 86400, not 0ns"),
            (
                10,
                86_401,
                "whole number of seconds from 1 to 86400, not 86401s",
            ),
        ] {
            let e = base()
                .max_cancel_walk(walk)
                .min_schedule_interval(Duration::from_secs(interval))
                .build()
                .await
                .expect_err("refused")
                .to_string();
            assert!(e.contains(says), "{e}");
        }
        // An engine setting out of range is refused too.
        let wild = EngineConfig {
            max_cancel_walk: 0,
            ..EngineConfig::default()
        };
        assert!(base().engine(wild).build().await.is_err());
    }

    #[tokio::test]
    async fn explicit_signing_settings_win_over_the_environment() {
        let base = || {
            Vow::builder()
                .sdk_config(&sdk())
                .queue_url("http://127.0.0.1:1/q")
                .table_name("t")
                .record_ttl(Duration::from_secs(30 * 86_400))
        };
        let signed = EngineConfig {
            signing: Some(keys()),
            ..EngineConfig::default()
        };
        let vow = base().engine(signed.clone()).build().await.expect("build");
        assert!(vow.engine().is_signing(), "the engine's keys count");
        let vow = base().signing_keys(keys()).build().await.expect("build");
        assert!(vow.engine().is_signing());
        let vow = base()
            .engine(signed)
            .set_signing_keys(None)
            .build()
            .await
            .expect("build");
        assert!(!vow.engine().is_signing(), "an explicit None turns it off");
    }

    #[tokio::test]
    async fn a_record_ttl_outside_15_to_3650_days_is_refused() {
        let day = 86_400;
        let with = |secs: u64| {
            Vow::builder()
                .sdk_config(&sdk())
                .queue_url("http://127.0.0.1:1/q")
                .table_name("t")
                .record_ttl(Duration::from_secs(secs))
                .build()
        };
        for secs in [15 * day, 30 * day, 3_650 * day] {
            with(secs).await.expect("in range");
        }
        for secs in [
            0,
            3_600,
            14 * day,
            15 * day - 1,
            3_650 * day + 1,
            4_000 * day,
        ] {
            let Err(e) = with(secs).await else {
                panic!("a record TTL of {secs} s is out of range")
            };
            let e = e.to_string();
            assert!(e.contains("record_ttl"), "{e}");
            assert!(e.contains("from 15 to 3650 days"), "{e}");
        }
    }

    #[tokio::test]
    async fn a_read_only_client_needs_no_queue_and_refuses_to_send() {
        let vow = Vow::builder()
            .sdk_config(&sdk())
            .table_name("t")
            .record_ttl(Duration::from_secs(30 * 86_400))
            .read_only()
            .build()
            .await
            .expect("build");
        let flow = vow.flow();
        flow.when(crate::closure!("builder-test/noop", [], |_: ()| -> Result<
            u8,
            crate::Error,
        > {
            Ok(1)
        }));
        let err = vow.start(&flow).await.expect_err("no queue");
        assert!(err.to_string().contains("read-only"), "{err}");
        assert!(!err.is_retryable());
    }
}
