//! A harness for end-to-end tests: a fresh queue, dead-letter queue and table on
//! the emulators named by the environment (see `tests/run.sh`), with workers.

pub mod bench;
pub mod chaos;
pub mod kill;
pub mod record;
pub mod recorder;
pub mod tasks;

use std::sync::Arc;
use std::time::Duration;
use vow::aws::{setup, AwsNames, DynamoStore, Metrics, SqsQueue};
use vow::queue::Queue;
use vow::{EngineConfig, PromiseId, Vow};

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
    config
}

impl Stack {
    /// A new queue pair and table named after `name` plus a random suffix; a
    /// message is dead-lettered after `max_receives` deliveries.
    pub async fn new(name: &str, max_receives: u32) -> Stack {
        Self::with_visibility(name, max_receives, 30).await
    }

    /// Like [`Stack::new`], with the queue's visibility timeout in seconds.
    pub async fn with_visibility(name: &str, max_receives: u32, visibility_secs: u32) -> Stack {
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
        let names = AwsNames {
            queue_url,
            table_name: unique,
            record_ttl: Duration::from_secs(3_600),
        };
        let metrics = Arc::new(Metrics::default());
        let store = DynamoStore::new(dynamodb.clone(), &names.table_name, names.record_ttl)
            .with_metrics(metrics.clone());
        let queue = SqsQueue::new(sqs.clone(), &names.queue_url).with_metrics(metrics.clone());
        let vow = Vow::client(Arc::new(store), Arc::new(queue), test_engine());
        Stack {
            vow,
            names,
            dlq_url,
            metrics,
            sqs,
            dynamodb,
        }
    }

    /// Run `n` in-process workers and a dead-letter worker.
    pub fn with_workers(mut self, n: usize) -> Self {
        let dlq: Arc<dyn Queue> = Arc::new(
            SqsQueue::new(self.sqs.clone(), &self.dlq_url).with_metrics(self.metrics.clone()),
        );
        self.vow.run_workers(n, Some(dlq), Duration::from_secs(1));
        self
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
        .with_metrics(self.metrics.clone());
        Vow::client(Arc::new(store), queue, test_engine())
    }
}
