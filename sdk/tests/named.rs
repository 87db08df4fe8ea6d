//! Idempotent starts: a flow named by the application starts once per name,
//! however many processes start it, and its promises are the same everywhere.

mod common;

use common::*;
use std::sync::Arc;
use vow::prelude::*;
use vow::Started;

/// The flow an application builds for order `name`.
fn order(vow: &Vow, name: &str, k: &str) -> (vow::Flow, Promise<u32>) {
    let flow = vow.flow_named(name);
    let charged = flow.when(Counted { key: k.to_owned() });
    (flow, charged)
}

#[tokio::test]
async fn a_named_flow_starts_once_and_later_starts_see_the_same_promises() {
    let vow = embedded();
    let (k, name) = (key(), format!("order-{}", key()));
    let (first, charged) = order(&vow, &name, &k);
    assert_eq!(vow.start(&first).await.expect("start"), Started::New);
    let (again, charged_again) = order(&vow, &name, &k);
    assert_eq!(charged_again.id(), charged.id(), "same name, same promises");
    assert_eq!(vow.start(&again).await.expect("start"), Started::Existing);
    assert_eq!(vow.wait(&charged_again, WAIT).await.expect("wait"), Ok(1));
    let (other, elsewhere) = order(&vow, &format!("{name}-b"), &k);
    assert_ne!(elsewhere.id(), charged.id());
    assert_eq!(vow.start(&other).await.expect("start"), Started::New);
    assert_eq!(vow.wait(&elsewhere, WAIT).await.expect("wait"), Ok(2));
    // The same flow object started again is its own retry: still New, and
    // nothing runs twice.
    assert_eq!(vow.start(&first).await.expect("start"), Started::New);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(count(&k), 2, "each name ran once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_starts_of_one_name_run_it_once() {
    let vow = Arc::new(embedded());
    let (k, name) = (key(), format!("signup-{}", key()));
    let starts = (0..8).map(|_| {
        let (vow, k, name) = (vow.clone(), k.clone(), name.clone());
        tokio::spawn(async move {
            let (flow, charged) = order(&vow, &name, &k);
            (vow.start(&flow).await.expect("start"), charged.handle())
        })
    });
    let mut new = 0;
    let mut ids = Vec::new();
    for start in starts {
        let (started, handle) = start.await.expect("joined");
        new += usize::from(started == Started::New);
        ids.push(handle.id().clone());
        assert_eq!(vow.wait(&handle, WAIT).await.expect("wait"), Ok(1));
    }
    assert_eq!(new, 1, "one start of eight sent the flow");
    ids.dedup();
    assert_eq!(ids.len(), 1);
    assert_eq!(count(&k), 1);
}

#[tokio::test]
async fn bad_names_are_refused_before_anything_is_sent() {
    let vow = embedded();
    for bad in [String::new(), "x".repeat(257), "line\nbreak".to_owned()] {
        let (flow, _) = order(&vow, &bad, &key());
        let err = vow.start(&flow).await.expect_err("refused");
        assert!(err.to_string().contains("flow name"), "{err}");
    }
    let (flow, _) = order(&vow, &"é".repeat(128), &key());
    assert_eq!(vow.start(&flow).await.expect("256 bytes"), Started::New);
}
