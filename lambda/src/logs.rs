//! JSON logs for CloudWatch Logs: one object per line, with the event's fields
//! and the spans it happened in (`vow.message`, `vow.run` with `promise`, `task`
//! and `attempt`, `vow.settle` with `outcome`).

use lambda_runtime::tracing::subscriber::fmt::MakeWriter;
use lambda_runtime::tracing::subscriber::EnvFilter;

/// Log JSON lines to stdout. The level comes from `AWS_LAMBDA_LOG_LEVEL`
/// (Lambda's logging controls), else `RUST_LOG`, else INFO. Does nothing if the
/// process already has a global subscriber.
pub(crate) fn init() {
    let filter = filter(
        std::env::var("AWS_LAMBDA_LOG_LEVEL").ok().as_deref(),
        std::env::var("RUST_LOG").ok().as_deref(),
    );
    let _ = lambda_runtime::tracing::subscriber::util::SubscriberInitExt::try_init(json(
        &filter,
        std::io::stdout,
    ));
}

/// The JSON subscriber of [`init`], with `filter` directives, writing to `writer`.
pub(crate) fn json<W>(filter: &str, writer: W) -> impl lambda_runtime::tracing::Subscriber
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    lambda_runtime::tracing::subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(true)
        .with_env_filter(EnvFilter::new(filter))
        .with_writer(writer)
        .finish()
}

/// The filter directives: Lambda's log level (`TRACE` ... `FATAL`) wins over
/// `RUST_LOG`; INFO by default.
pub(crate) fn filter(lambda_level: Option<&str>, rust_log: Option<&str>) -> String {
    match (lambda_level.map(str::trim), rust_log.map(str::trim)) {
        (Some(level), _) if !level.is_empty() => match level.to_ascii_lowercase().as_str() {
            "fatal" => "error".to_owned(),
            level => level.to_owned(),
        },
        (_, Some(directives)) if !directives.is_empty() => directives.to_owned(),
        _ => "info".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::{Deserialize, Serialize};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;
    use vow::prelude::*;

    /// Sleeps longer than its own timeout.
    #[derive(Debug, Serialize, Deserialize)]
    struct Slow;

    #[vow::task("vow-lambda/test-slow")]
    impl Task for Slow {
        type Input = ();
        type Output = ();
        async fn run(self, _: (), _cx: &Cx) -> Result<Resolution<()>, Error> {
            tokio::time::sleep(Duration::from_secs(1)).await;
            done(())
        }
        fn timeout(&self) -> Option<Duration> {
            Some(Duration::from_millis(10))
        }
    }

    /// A log sink for tests.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let mut out = self.0.lock().unwrap_or_else(|e| e.into_inner());
            out.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn logs_are_json_lines_with_the_promise_task_and_attempt() {
        let sink = Sink::default();
        let writer = sink.clone();
        let logs = lambda_runtime::tracing::Dispatch::new(json("info", move || writer.clone()));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let id = lambda_runtime::tracing::dispatcher::with_default(&logs, || {
            runtime.block_on(async {
                let vow = Vow::embedded();
                let p = vow.when(Slow).await.expect("start");
                let wait = Duration::from_secs(5);
                assert!(vow.wait(&p, wait).await.expect("settles").is_err());
                p.id().to_string()
            })
        });
        let text = String::from_utf8(sink.0.lock().expect("logs").clone()).expect("utf-8");
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("each line is JSON"))
            .collect();
        let settled = lines
            .iter()
            .find(|l| l["message"] == "settled")
            .expect("a failed settle is logged at INFO");
        assert_eq!(settled["level"], "INFO");
        assert_eq!(settled["outcome"], "timeout");
        let spans = settled["spans"].as_array().expect("spans");
        let run = spans.iter().find(|s| s["name"] == "vow.run").expect("run");
        assert_eq!(run["promise"], id.as_str());
        assert_eq!(run["task"], "vow-lambda/test-slow");
        assert_eq!(run["attempt"], 1);
        let settle = spans.iter().find(|s| s["name"] == "vow.settle");
        assert_eq!(settle.expect("settle")["promise"], id.as_str());
    }

    #[test]
    fn lambda_log_level_wins_over_rust_log() {
        assert_eq!(filter(Some("DEBUG"), Some("warn")), "debug");
        assert_eq!(filter(Some("FATAL"), None), "error");
        assert_eq!(filter(None, Some("vow=debug,info")), "vow=debug,info");
        assert_eq!(filter(Some(""), None), "info");
        assert_eq!(filter(None, None), "info");
    }
}
