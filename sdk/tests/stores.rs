//! The in-memory store keeps DynamoDB's limits and layout: blobs in chunk items,
//! the 400 KB limit on whole items, a budget for continuations stored on a
//! pending record, immutable values and one key space for records and blobs.

use serde_json::json;
use vow::memory::MemoryStore;
use vow::store::{Cell, Settled, Store};
use vow::wire::{Cont, Outcome, RunOpts, Slot};
use vow::PromiseId;

/// A head key of the form the engine uses.
fn head(n: u8) -> String {
    format!("vow-val#{}", format!("{n:02x}").repeat(32))
}

fn cell(key: &str, slot: u32) -> Cell {
    Cell {
        key: key.to_owned(),
        slot,
    }
}

fn slot_of(bytes: usize) -> Slot {
    Slot::new(Outcome::Ok(json!("x".repeat(bytes))), "token")
}

fn cont_of(bytes: usize) -> (String, Cont) {
    let id = PromiseId::random();
    let cont = Cont::Then {
        id: id.clone(),
        task: json!({ "task": "test/pad", "with": "y".repeat(bytes) }),
        opts: RunOpts::default(),
        conts: Vec::new(),
    };
    (id.to_string(), cont)
}

#[tokio::test]
async fn blobs_round_trip_across_chunks_on_character_boundaries() {
    let store = MemoryStore::new();
    // 3 bytes a character, 700 KiB: three chunks, each cut between characters.
    let text = "€".repeat(700 * 1024 / 3);
    store.put_blob(&head(1), &text).await.expect("put");
    assert_eq!(store.get_blob(&head(1)).await.expect("get"), Some(text));
    assert_eq!(store.get_blob(&head(2)).await.expect("get"), None);
}

#[tokio::test]
async fn blobs_are_stored_as_chunk_items_and_a_head() {
    let store = MemoryStore::new();
    let text = "a".repeat(700 * 1024);
    store.put_blob(&head(1), &text).await.expect("put");
    let sizes = store.item_sizes();
    let keys: Vec<&String> = sizes.keys().collect();
    let chunks: Vec<String> = (0..3).map(|i| format!("{}~{i}", head(1))).collect();
    assert_eq!(keys, [&head(1), &chunks[0], &chunks[1], &chunks[2]]);
    assert!(sizes.values().all(|&s| s <= 400 * 1024));
    assert!(sizes[&chunks[0]] > 300 * 1024);
}

#[tokio::test]
async fn a_blob_key_that_extends_another_does_not_touch_its_chunks() {
    // The bug this guards against: an outcome stored at `blob#T#P#0` overwrote
    // chunk 0 of the body blob `blob#T#P`.
    let store = MemoryStore::new();
    let body = "b".repeat(700 * 1024);
    store.put_blob("blob#T#P", &body).await.expect("put body");
    store.put_blob("blob#T#P#0", "outcome").await.expect("put");
    assert_eq!(store.get_blob("blob#T#P").await.expect("get"), Some(body));
    assert_eq!(
        store.get_blob("blob#T#P#0").await.expect("get"),
        Some("outcome".to_owned())
    );
}

#[tokio::test]
async fn blob_keys_cannot_contain_the_chunk_separator() {
    let store = MemoryStore::new();
    let err = store
        .put_blob("vow-val#ab~0", "x")
        .await
        .expect_err("refused");
    assert!(!err.is_retryable());
    assert!(err.to_string().contains('~'), "{err}");
}

#[tokio::test]
async fn blobs_are_immutable() {
    let store = MemoryStore::new();
    store.put_blob(&head(1), "first").await.expect("put");
    // The same text again (a retried put) is fine...
    store.put_blob(&head(1), "first").await.expect("same text");
    // ...a different text under the same key is an engine bug, and says so.
    let err = store
        .put_blob(&head(1), "second")
        .await
        .expect_err("refused");
    assert!(!err.is_retryable());
    assert!(err.to_string().contains(&head(1)), "{err}");
    assert_eq!(
        store.get_blob(&head(1)).await.expect("get"),
        Some("first".to_owned())
    );
    // Also when the texts differ only past the first chunk.
    let long = "c".repeat(400 * 1024);
    store.put_blob(&head(2), &long).await.expect("put");
    let longer = format!("{long}d");
    assert!(store.put_blob(&head(2), &longer).await.is_err());
    assert_eq!(store.get_blob(&head(2)).await.expect("get"), Some(long));
}

#[tokio::test]
async fn records_and_blobs_share_one_key_space() {
    let store = MemoryStore::new();
    store.put_blob(&head(1), "text").await.expect("put");
    assert!(store.settle(&cell(&head(1), 0), &slot_of(1)).await.is_err());
    store
        .settle(&cell("rec", 0), &slot_of(1))
        .await
        .expect("settle");
    assert!(store.put_blob("rec", "text").await.is_err());
}

#[tokio::test]
async fn a_record_that_would_pass_400_kb_is_not_written() {
    let store = MemoryStore::new();
    let key = "join#0#0";
    // 16 slots of 25 KiB each: the 16th takes the item past 400 KB.
    for n in 0..15 {
        let won = store
            .settle(&cell(key, n), &slot_of(25 * 1024))
            .await
            .expect("fits");
        assert!(matches!(won, Settled::Won { .. }));
    }
    let err = store
        .settle(&cell(key, 15), &slot_of(25 * 1024))
        .await
        .expect_err("refused");
    assert!(!err.is_retryable());
    assert!(err.to_string().contains(key), "{err}");
    assert!(err.to_string().contains("400 KB"), "{err}");
    let record = store.read(key).await.expect("read").expect("record");
    assert_eq!(record.count, 15);
    assert!(!record.slots.contains_key(&15));
    // A small outcome still fits.
    store
        .settle(&cell(key, 15), &slot_of(10))
        .await
        .expect("small fits");
}

#[tokio::test]
async fn a_multi_slot_write_that_would_pass_400_kb_is_not_written() {
    let store = MemoryStore::new();
    let key = "join#0#1";
    let first: Vec<(u32, Slot)> = (0..8).map(|n| (n, slot_of(25 * 1024))).collect();
    store
        .settle_together(key, &first)
        .await
        .expect("fits")
        .expect("written");
    let second: Vec<(u32, Slot)> = (8..16).map(|n| (n, slot_of(25 * 1024))).collect();
    assert!(store.settle_together(key, &second).await.is_err());
    let record = store.read(key).await.expect("read").expect("record");
    assert_eq!(record.count, 8);
}

#[tokio::test]
async fn stored_continuations_have_a_budget() {
    let store = MemoryStore::new();
    let at = cell("pending", 0);
    let mut added = Vec::new();
    // 10 KiB each: six fit in 64 KiB, the seventh does not.
    for _ in 0..6 {
        let cont = cont_of(10 * 1024);
        assert_eq!(
            store
                .add_continuations(&at, std::slice::from_ref(&cont))
                .await
                .expect("fits"),
            None
        );
        added.push(cont);
    }
    let err = store
        .add_continuations(&at, &[cont_of(10 * 1024)])
        .await
        .expect_err("refused");
    assert!(!err.is_retryable());
    assert!(err.to_string().contains("continuations"), "{err}");
    let record = store.read("pending").await.expect("read").expect("record");
    assert_eq!(record.later[&0].len(), 6);
    // A retried add of continuations already stored succeeds.
    assert_eq!(
        store
            .add_continuations(&at, &added[..2])
            .await
            .expect("re-add"),
        None
    );
    // Once the slot is written, the slot is returned whatever the budget.
    store.settle(&at, &slot_of(1)).await.expect("settle");
    let found = store
        .add_continuations(&at, &[cont_of(10 * 1024)])
        .await
        .expect("settled");
    assert!(found.is_some());
}

#[tokio::test]
async fn one_add_larger_than_the_budget_fails() {
    let store = MemoryStore::new();
    let err = store
        .add_continuations(&cell("big", 0), &[cont_of(65 * 1024)])
        .await
        .expect_err("refused");
    assert!(!err.is_retryable());
    assert_eq!(store.read("big").await.expect("read"), None);
}
