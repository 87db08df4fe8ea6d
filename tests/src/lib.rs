//! A harness for end-to-end tests: a fresh queue, dead-letter queue and table on
//! the emulators named by the environment (see `tests/run.sh`), with workers.

pub mod bench;
pub mod bounds;
pub mod chaos;
pub mod chaos_waits;
pub mod coldstart;
pub mod kill;
pub mod latency;
pub mod record;
pub mod recorder;
pub mod runtime_api;
pub mod tasks;

use std::sync::Arc;
use std::time::Duration;
use vow::aws::{setup, AwsNames, DynamoStore, Metrics, SqsQueue};
use vow::queue::Queue;
use vow::signing::SigningKeys;
use vow::{EngineConfig, PromiseId, Vow, Workers};

/// One isolated vow deployment on the emulators.
#[derive(Debug)]
pub struct Stack {
    /// The client (with workers if asked for).
    pub vow: Vow,
    /// Names of the queue and table.
    pub names: AwsNames,
    /// The dead-letter queue's URL.
    pub dlq_url: String,
    /// Requests made by the client and its workers.
    pub metrics: Arc<Metrics>,
    /// The SQS client.
    pub sqs: aws_sdk_sqs::Client,
    /// The DynamoDB client.
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// The workers of [`Stack::with_workers`], until [`Stack::shutdown`].
    pub workers: Vec<Workers>,
    /// The engine settings of the stack's clients and workers.
    pub engine: EngineConfig,
}

/// Fail with a clear message when the emulators are not configured.
pub fn require_emulators() {
    let set = |k: &str| std::env::var(k).is_ok_and(|v| !v.is_empty());
    assert!(
        set("AWS_ENDPOINT_URL_SQS") && set("AWS_ENDPOINT_URL_DYNAMODB") || set("AWS_ENDPOINT_URL"),
        "end-to-end tests need the emulators: run ./tests/run.sh (or start them with \
         tests/emulators/start.sh and source the env.sh it writes)"
    );
}

/// Engine settings for tests: short timeouts and retry delays.
pub fn test_engine() -> EngineConfig {
    let mut config = EngineConfig::default();
    config.default_timeout = Duration::from_secs(30);
    config.default_max_attempts = 3;
    config.retry_base = Duration::from_millis(50);
    config.retry_max = Duration::from_secs(1);
    // A timer whose firing's handling died is repaired a grace later (15
    // minutes by default): within a test's waits here, and still far longer
    // than a firing's handling takes on a busy machine.
    config.firing_grace = Duration::from_secs(10);
    config
}

/// The timer index's table of the stack whose table is `table`.
pub fn timer_table(table: &str) -> String {
    format!("{table}-timers")
}

impl Stack {
    /// A new queue pair and table named after `name` plus a random suffix; a
    /// message is dead-lettered after `max_receives` deliveries.
    pub async fn new(name: &str, max_receives: u32) -> Stack {
        Self::with_visibility(name, max_receives, 30).await
    }

    /// Like [`Stack::new`], with the queue's visibility timeout in seconds.
    pub async fn with_visibility(name: &str, max_receives: u32, visibility_secs: u32) -> Stack {
        Self::configured(name, max_receives, visibility_secs, test_engine()).await
    }

    /// Like [`Stack::new`], with every message signed and verified with `keys`.
    pub async fn signed(name: &str, max_receives: u32, keys: SigningKeys) -> Stack {
        let mut engine = test_engine();
        engine.signing = Some(keys);
        Self::configured(name, max_receives, 30, engine).await
    }

    /// A stack whose client (built by `Vow::builder`, as applications build
    /// theirs) and workers use `engine`.
    pub async fn configured(
        name: &str,
        max_receives: u32,
        visibility_secs: u32,
        engine: EngineConfig,
    ) -> Stack {
        require_emulators();
        let config = vow::aws::sdk_config().await;
        let sqs = aws_sdk_sqs::Client::new(&config);
        let dynamodb = aws_sdk_dynamodb::Client::new(&config);
        let unique = format!("vow-{name}-{}", &PromiseId::random().as_str()[..8]);
        let (queue_url, dlq_url) =
            setup::ensure_queues(&sqs, &unique, max_receives, visibility_secs)
                .await
                .expect("create queues");
        setup::ensure_table(&dynamodb, &unique)
            .await
            .expect("create table");
        setup::ensure_timer_table(&dynamodb, &timer_table(&unique))
            .await
            .expect("create the timer index's table");
        let names = AwsNames {
            queue_url,
            table_name: unique,
            record_ttl: Duration::from_secs(30 * 86_400),
        };
        let metrics = Arc::new(Metrics::default());
        let vow = Vow::builder()
            .sdk_config(&config)
            .queue_url(&names.queue_url)
            .table_name(&names.table_name)
            .timer_table(Some(timer_table(&names.table_name)))
            .record_ttl(names.record_ttl)
            .set_signing_keys(engine.signing.clone())
            .engine(engine.clone())
            .metrics(metrics.clone())
            .build()
            .await
            .expect("client");
        Stack {
            vow,
            names,
            dlq_url,
            metrics,
            sqs,
            dynamodb,
            workers: Vec::new(),
            engine,
        }
    }

    /// Run `n` in-process workers and a dead-letter worker.
    pub fn with_workers(mut self, n: usize) -> Self {
        let dlq: Arc<dyn Queue> = Arc::new(
            SqsQueue::new(self.sqs.clone(), &self.dlq_url).with_metrics(self.metrics.clone()),
        );
        let workers = self.vow.run_workers(n, Some(dlq), Duration::from_secs(1));
        self.workers.push(workers);
        self
    }

    /// Stop the workers gracefully: batches in flight finish first.
    pub async fn shutdown(&mut self) {
        for workers in std::mem::take(&mut self.workers) {
            workers.shutdown().await;
        }
    }

    /// The queue at `url`'s depth: messages visible, and in flight.
    pub async fn depth(&self, url: &str) -> (u64, u64) {
        use aws_sdk_sqs::types::QueueAttributeName as A;
        let out = self
            .sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(A::ApproximateNumberOfMessages)
            .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .expect("queue attributes");
        let get = |name: A| {
            out.attributes()
                .and_then(|a| a.get(&name))
                .and_then(|v| v.parse().ok())
                .expect("attribute")
        };
        (
            get(A::ApproximateNumberOfMessages),
            get(A::ApproximateNumberOfMessagesNotVisible),
        )
    }

    /// The work queue, counted.
    pub fn queue(&self) -> SqsQueue {
        SqsQueue::new(self.sqs.clone(), &self.names.queue_url).with_metrics(self.metrics.clone())
    }

    /// A client sending through `queue` (for fault injection), sharing the store.
    pub fn client_via(&self, queue: Arc<dyn Queue>) -> Vow {
        let store = DynamoStore::new(
            self.dynamodb.clone(),
            &self.names.table_name,
            self.names.record_ttl,
        )
        .with_metrics(self.metrics.clone())
        .with_timer_table(timer_table(&self.names.table_name));
        Vow::client(Arc::new(store), queue, self.engine.clone())
    }
}
