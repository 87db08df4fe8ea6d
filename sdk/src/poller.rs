//! The poller: what the SQS event source mapping does for Lambda (long poll, batch,
//! invoke, delete the successes, leave the failures), for running workers anywhere.

use crate::engine::Engine;
use crate::error::BackendError;
use crate::queue::{Delivery, Queue};
use crate::stats::BatchStats;
use async_trait::async_trait;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::warn;

/// Where a poller hands its batches.
#[async_trait]
pub trait BatchHandler: Send + Sync + 'static {
    /// Handle a batch; return the message ids that failed.
    async fn handle(&self, batch: Vec<Delivery>) -> Result<Vec<String>, BackendError>;

    /// Like [`BatchHandler::handle`], and also what the batch did. By default only
    /// the message counts are known.
    async fn handle_stats(
        &self,
        batch: Vec<Delivery>,
    ) -> Result<(Vec<String>, BatchStats), BackendError> {
        let messages = batch.len() as u64;
        let failed = self.handle(batch).await?;
        let stats = BatchStats {
            messages,
            failed_messages: failed.len() as u64,
            ..BatchStats::default()
        };
        Ok((failed, stats))
    }

    /// Like [`BatchHandler::handle_stats`], for a batch that must be done by
    /// `deadline` (a Lambda invocation's). By default the deadline is not used.
    async fn handle_by(
        &self,
        batch: Vec<Delivery>,
        deadline: Instant,
    ) -> Result<(Vec<String>, BatchStats), BackendError> {
        let _ = deadline;
        self.handle_stats(batch).await
    }
}

/// Runs batches on an [`Engine`] in this process.
#[derive(Debug, Clone)]
pub struct InProcess {
    engine: Arc<Engine>,
    dead_letters: bool,
}

impl InProcess {
    /// Run work-queue batches.
    pub fn worker(engine: Arc<Engine>) -> Self {
        InProcess {
            engine,
            dead_letters: false,
        }
    }

    /// Settle dead-lettered messages.
    pub fn dead_letters(engine: Arc<Engine>) -> Self {
        InProcess {
            engine,
            dead_letters: true,
        }
    }

    /// Run a batch on the engine, by `deadline` if it has one.
    async fn serve(
        &self,
        batch: Vec<Delivery>,
        deadline: Option<Instant>,
    ) -> (Vec<String>, BatchStats) {
        match (self.dead_letters, deadline) {
            (true, _) => self.engine.handle_dead_letters_stats(batch).await,
            (false, None) => self.engine.handle_batch_stats(batch).await,
            (false, Some(deadline)) => self.engine.handle_batch_by(batch, deadline).await,
        }
    }
}

#[async_trait]
impl BatchHandler for InProcess {
    async fn handle(&self, batch: Vec<Delivery>) -> Result<Vec<String>, BackendError> {
        Ok(self.serve(batch, None).await.0)
    }

    async fn handle_stats(
        &self,
        batch: Vec<Delivery>,
    ) -> Result<(Vec<String>, BatchStats), BackendError> {
        Ok(self.serve(batch, None).await)
    }

    async fn handle_by(
        &self,
        batch: Vec<Delivery>,
        deadline: Instant,
    ) -> Result<(Vec<String>, BatchStats), BackendError> {
        Ok(self.serve(batch, Some(deadline)).await)
    }
}

/// Long-polls a queue and hands batches to a [`BatchHandler`].
pub struct Poller {
    queue: Arc<dyn Queue>,
    handler: Arc<dyn BatchHandler>,
    batch_size: usize,
    wait: Duration,
    failed_visibility: Option<Duration>,
}

impl std::fmt::Debug for Poller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Poller")
            .field("batch_size", &self.batch_size)
            .field("wait", &self.wait)
            .finish_non_exhaustive()
    }
}

/// What one poll did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Polled {
    /// Messages received.
    pub received: usize,
    /// Messages the handler reported failed (left for redelivery).
    pub failed: usize,
}

impl Poller {
    /// A poller with batches of 10 and 20-second long polls, like the SQS event
    /// source mapping.
    pub fn new(queue: Arc<dyn Queue>, handler: Arc<dyn BatchHandler>) -> Self {
        Poller {
            queue,
            handler,
            batch_size: 10,
            wait: Duration::from_secs(20),
            failed_visibility: None,
        }
    }

    /// Messages per batch (1 to 10 for SQS).
    pub fn batch_size(mut self, n: usize) -> Self {
        self.batch_size = n.max(1);
        self
    }

    /// Long-poll wait.
    pub fn wait(mut self, wait: Duration) -> Self {
        self.wait = wait;
        self
    }

    /// Make failed messages visible again after this long, instead of after the
    /// queue's visibility timeout.
    pub fn failed_visibility(mut self, after: Duration) -> Self {
        self.failed_visibility = Some(after);
        self
    }

    /// Receive one batch, handle it, delete the successes.
    pub async fn poll_once(&self) -> Result<Polled, BackendError> {
        let batch = self.queue.receive(self.batch_size, self.wait).await?;
        if batch.is_empty() {
            return Ok(Polled::default());
        }
        let received = batch.len();
        let receipts: Vec<(String, String)> = batch
            .iter()
            .map(|d| (d.message_id.clone(), d.receipt.clone()))
            .collect();
        let failed = match self.handler.handle(batch).await {
            Ok(failed) => failed,
            Err(e) => {
                warn!(error = %e, "batch handler failed; the whole batch will be redelivered");
                receipts.iter().map(|(id, _)| id.clone()).collect()
            }
        };
        let (bad, good): (Vec<_>, Vec<_>) = receipts
            .into_iter()
            .partition(|(id, _)| failed.contains(id));
        if !good.is_empty() {
            self.queue
                .delete(good.into_iter().map(|(_, r)| r).collect())
                .await?;
        }
        if let Some(after) = self.failed_visibility {
            for (_, receipt) in &bad {
                self.queue.release(receipt, after).await?;
            }
        }
        Ok(Polled {
            received,
            failed: bad.len(),
        })
    }

    /// Poll until `stop` turns true, then return. A batch already received is
    /// always finished (handled, its successes deleted), and so is a long poll
    /// under way when `stop` turns: SQS may already have taken messages for it,
    /// and cutting it off would leave them hidden until their visibility
    /// timeout. No receive starts after `stop` turns.
    pub async fn run(self, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut backoff = Duration::from_millis(100);
        while !*stop.borrow_and_update() {
            match self.poll_once().await {
                Ok(_) => backoff = Duration::from_millis(100),
                Err(e) => {
                    warn!(error = %e, ?backoff, "poll failed; backing off");
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        _ = stop.changed() => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
            }
        }
    }
}
