//! [`Workers`]: worker loops running in this process, and their graceful shutdown.
//!
//! Each loop long-polls the queue and hands batches to the engine, as the SQS
//! event source mapping does for Lambda. Shutting down stops receiving and lets
//! every batch already received finish: its messages are settled and deleted,
//! so none comes back after a visibility timeout. A long poll under way when the
//! shutdown starts is not cut off (SQS may already have taken messages for it):
//! it is allowed to return, and what it returns is run. So a shutdown takes at
//! most the long-poll wait plus the longest batch in flight.
//!
//! ```no_run
//! # async fn ctrl_c() {}
//! # async fn demo() -> Result<(), vow::BackendError> {
//! use std::time::Duration;
//! let vow = vow::Vow::aws().await?;
//! let workers = vow.run_workers(4, None, Duration::from_secs(20));
//! // Run until the signal (e.g. tokio::signal::ctrl_c), then finish what is in flight.
//! workers.shutdown_on(ctrl_c()).await;
//! # Ok(()) }
//! ```

use crate::engine::Engine;
use crate::poller::{InProcess, Poller};
use crate::queue::Queue;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Worker loops started by [`crate::Vow::run_workers`].
///
/// Dropping the handle stops them from receiving (batches in flight still
/// finish in the background); [`Workers::shutdown`] does the same and waits
/// until they have finished.
#[must_use = "the workers stop when this handle drops: keep it, or await `.shutdown()` or `.shutdown_on(signal)`"]
#[derive(Debug)]
pub struct Workers {
    stop: watch::Sender<bool>,
    loops: Vec<JoinHandle<()>>,
}

impl Workers {
    /// `workers` loops on the engine's queue, one settling `dead_letters`,
    /// and one sweeping the timer index every `sweep_every` (if the store
    /// keeps one: [`Engine::sweep`]).
    pub(crate) fn spawn(
        engine: &Arc<Engine>,
        workers: usize,
        dead_letters: Option<Arc<dyn Queue>>,
        long_poll: Duration,
        sweep_every: Duration,
    ) -> Self {
        let (stop, stopped) = watch::channel(false);
        let mut loops = Vec::new();
        for _ in 0..workers.max(1) {
            let handler = Arc::new(InProcess::worker(engine.clone()));
            let poller = Poller::new(engine.queue().clone(), handler)
                .wait(long_poll)
                .failed_visibility(Duration::from_millis(50));
            loops.push(tokio::spawn(poller.run(stopped.clone())));
        }
        if engine.store().indexes_timers() {
            loops.push(tokio::spawn(sweep_loop(
                engine.clone(),
                sweep_every,
                stopped.clone(),
            )));
        }
        if let Some(dlq) = dead_letters {
            let handler = Arc::new(InProcess::dead_letters(engine.clone()));
            let poller = Poller::new(dlq, handler)
                .wait(long_poll)
                .failed_visibility(Duration::from_millis(50));
            loops.push(tokio::spawn(poller.run(stopped)));
        }
        Workers { stop, loops }
    }

    /// Stop receiving, let every batch in flight finish (settled and deleted),
    /// and return when all loops have ended.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        for done in std::mem::take(&mut self.loops) {
            if let Err(e) = done.await {
                tracing::warn!(error = %e, "a worker loop ended abnormally");
            }
        }
    }

    /// Run until `signal` completes, then [`Workers::shutdown`], like axum's
    /// `with_graceful_shutdown`: `workers.shutdown_on(ctrl_c)`.
    pub async fn shutdown_on<F: Future>(self, signal: F) {
        signal.await;
        self.shutdown().await;
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Sweep the timer index every `every` until told to stop. The loop keeps one
/// name, so a sweep that failed halfway finishes its own claim next time.
async fn sweep_loop(engine: Arc<Engine>, every: Duration, mut stop: watch::Receiver<bool>) {
    let by = crate::id::nonce();
    while !*stop.borrow() {
        if let Err(e) = engine.sweep(&by).await {
            tracing::warn!(error = %e, "sweeping the timer index failed; trying again");
        }
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            _ = stop.changed() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::prelude::*;
    use crate::Status;
    use std::time::Duration;

    fn one() -> impl Task<Input = (), Output = u8> {
        vow::closure!("workers-test/one", [], |_: ()| -> Result<u8, Error> {
            Ok(1)
        })
    }

    #[tokio::test]
    async fn an_embedded_client_stops_its_workers_and_runs_nothing_after() {
        let mut vow = Vow::embedded();
        let first = vow.when(one()).await.expect("start");
        let waited = vow.wait(&first, Duration::from_secs(5)).await;
        assert_eq!(waited.expect("settles"), Ok(1));
        vow.shutdown().await;
        let second = vow.when(one()).await.expect("start");
        tokio::time::sleep(Duration::from_millis(500)).await;
        let status = vow.status(second.id()).await.expect("status");
        assert_eq!(status, Status::Unknown, "never run: no record");
        let (queue, _) = vow.memory_queues().expect("embedded");
        assert_eq!(queue.len(), 1, "the message waits, unreceived");
    }
}
