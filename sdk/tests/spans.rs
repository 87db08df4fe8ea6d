//! The tracing spans of one workflow: `vow.enqueue` when it starts, `vow.run`
//! per task, `vow.settle` per settled promise, all naming the promise in a
//! `promise` field.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};
use vow::prelude::*;

type Opened = Vec<(&'static Metadata<'static>, HashMap<String, String>)>;

/// Every span opened, with its fields as text, and the spans entered now (one
/// thread).
#[derive(Clone, Default)]
struct Spans(Arc<Mutex<Opened>>, Arc<Mutex<Vec<Id>>>);

struct Fields<'a>(&'a mut HashMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0.insert(
            field.name().to_owned(),
            format!("{value:?}").replace('"', ""),
        );
    }
}

impl Spans {
    fn lock(&self) -> std::sync::MutexGuard<'_, Opened> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn entered(&self) -> std::sync::MutexGuard<'_, Vec<Id>> {
        self.1.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn named(&self, name: &str) -> Vec<HashMap<String, String>> {
        (self.lock().iter())
            .filter(|(m, _)| m.name() == name)
            .map(|(_, f)| f.clone())
            .collect()
    }
}

impl Subscriber for Spans {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut fields = HashMap::new();
        span.record(&mut Fields(&mut fields));
        let mut spans = self.lock();
        spans.push((span.metadata(), fields));
        Id::from_u64(spans.len() as u64)
    }
    fn record(&self, span: &Id, values: &Record<'_>) {
        let mut spans = self.lock();
        if let Some((_, fields)) = usize::try_from(span.into_u64() - 1)
            .ok()
            .and_then(|i| spans.get_mut(i))
        {
            values.record(&mut Fields(fields));
        }
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, _: &Event<'_>) {}
    fn enter(&self, span: &Id) {
        self.entered().push(span.clone());
    }
    fn exit(&self, span: &Id) {
        let mut entered = self.entered();
        if let Some(i) = entered.iter().rposition(|e| e == span) {
            entered.remove(i);
        }
    }
    fn current_span(&self) -> tracing_core::span::Current {
        let Some(id) = self.entered().last().cloned() else {
            return tracing_core::span::Current::none();
        };
        let spans = self.lock();
        match usize::try_from(id.into_u64() - 1)
            .ok()
            .and_then(|i| spans.get(i))
        {
            Some((metadata, _)) => tracing_core::span::Current::new(id, metadata),
            None => tracing_core::span::Current::none(),
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Double(u64);

#[vow::task("spans-test/double")]
impl Task for Double {
    type Input = ();
    type Output = u64;
    async fn run(self, _: (), _cx: &Cx) -> Result<Resolution<u64>, Error> {
        done(self.0 * 2)
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Fail;

#[vow::task("spans-test/fail")]
impl Task for Fail {
    type Input = ();
    type Output = u64;
    async fn run(self, _: (), _cx: &Cx) -> Result<Resolution<u64>, Error> {
        Err(Error::permanent("no"))
    }
}

#[test]
fn enqueue_run_and_settle_spans_name_the_promise() {
    let spans = Spans::default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (ok, failed) = tracing::subscriber::with_default(spans.clone(), || {
        runtime.block_on(async {
            let vow = Vow::embedded();
            let flow = vow.flow();
            let ok = flow.when(Double(21));
            let failed = flow.when(Fail);
            vow.start(&flow).await.expect("start");
            let wait = Duration::from_secs(5);
            assert_eq!(vow.wait(&ok, wait).await.expect("settles"), Ok(42));
            assert!(vow.wait(&failed, wait).await.expect("settles").is_err());
            (ok.id().to_string(), failed.id().to_string())
        })
    });

    let enqueue = spans.named("vow.enqueue");
    assert_eq!(enqueue.len(), 1, "{enqueue:?}");
    assert_eq!(enqueue[0]["promise"], ok, "the flow's first promise");
    assert_eq!(enqueue[0]["messages"], "2");

    let runs = spans.named("vow.run");
    let run = runs.iter().find(|f| f["promise"] == ok).expect("vow.run");
    assert_eq!(
        (run["task"].as_str(), run["attempt"].as_str()),
        ("spans-test/double", "1")
    );

    let settles = spans.named("vow.settle");
    let settle = |id: &str| settles.iter().find(|f| f["promise"] == id).cloned();
    let settled = settle(&ok).expect("vow.settle");
    assert_eq!(settled["task"], "spans-test/double");
    assert_eq!(settled["attempt"], "1");
    assert_eq!(settled["outcome"], "ok");
    assert_eq!(settle(&failed).expect("vow.settle")["outcome"], "error");
}
