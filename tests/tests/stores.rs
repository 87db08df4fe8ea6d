//! `DynamoStore` on moto, read item by item: blob chunks and their keys, the
//! 400 KB item limit, the budget for stored continuations, and the TTL a
//! record gets (none while pending, refreshed by every settle; none on a join's
//! shard records or values held for its members until the join completes).

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::json;
use std::collections::HashMap;
use std::time::Duration;
use vow::aws::{setup, DynamoStore};
use vow::store::{Cell, Note, Settled, Store};
use vow::wire::{Cont, Outcome, RunOpts, Slot};
use vow::PromiseId;

struct Table {
    store: DynamoStore,
    client: aws_sdk_dynamodb::Client,
    name: String,
}

async fn table(what: &str) -> Table {
    vow_e2e::require_emulators();
    let config = vow::aws::sdk_config().await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let name = format!("vow-{what}-{}", &PromiseId::random().as_str()[..8]);
    setup::ensure_table(&client, &name)
        .await
        .expect("create table");
    Table {
        store: DynamoStore::new(client.clone(), &name, Duration::from_secs(3_600)),
        client,
        name,
    }
}

impl Table {
    /// The raw item at `key`.
    async fn item(&self, key: &str) -> Option<HashMap<String, AttributeValue>> {
        self.client
            .get_item()
            .table_name(&self.name)
            .key("pk", AttributeValue::S(key.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .expect("get item")
            .item
    }

    async fn ttl(&self, key: &str) -> Option<u64> {
        match self.item(key).await.expect("item").get("ttl") {
            Some(AttributeValue::N(n)) => Some(n.parse().expect("ttl is a number")),
            Some(other) => panic!("ttl is {other:?}"),
            None => None,
        }
    }
}

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
async fn blobs_are_chunk_items_under_tilde_keys() {
    let t = table("blobs").await;
    let text = "€".repeat(700 * 1024 / 3);
    t.store.put_blob(&head(1), &text).await.expect("put");
    assert_eq!(t.store.get_blob(&head(1)).await.expect("get"), Some(text));
    let head_item = t.item(&head(1)).await.expect("head");
    assert_eq!(
        head_item.get("chunks"),
        Some(&AttributeValue::N("3".into()))
    );
    for i in 0..3 {
        let chunk = t.item(&format!("{}~{i}", head(1))).await.expect("chunk");
        assert!(chunk.contains_key("b") && chunk.contains_key("ttl"));
    }
    assert!(t.item(&format!("{}~3", head(1))).await.is_none());
    assert!(t.store.put_blob("vow-val#ab~0", "x").await.is_err());
}

#[tokio::test]
async fn a_blob_key_that_extends_another_does_not_touch_its_chunks() {
    // An outcome stored at `blob#T#P#0` overwrote chunk 0 of the body `blob#T#P`.
    let t = table("collide").await;
    let body = "b".repeat(700 * 1024);
    t.store.put_blob("blob#T#P", &body).await.expect("put body");
    t.store
        .put_blob("blob#T#P#0", "outcome")
        .await
        .expect("put outcome");
    assert_eq!(t.store.get_blob("blob#T#P").await.expect("get"), Some(body));
    assert_eq!(
        t.store.get_blob("blob#T#P#0").await.expect("get"),
        Some("outcome".to_owned())
    );
}

#[tokio::test]
async fn blobs_are_immutable() {
    let t = table("immutable").await;
    t.store.put_blob(&head(1), "first").await.expect("put");
    t.store
        .put_blob(&head(1), "first")
        .await
        .expect("same text");
    let err = t
        .store
        .put_blob(&head(1), "second")
        .await
        .expect_err("refused");
    assert!(!err.is_retryable());
    assert!(err.to_string().contains("immutable"), "{err}");
    assert_eq!(
        t.store.get_blob(&head(1)).await.expect("get"),
        Some("first".to_owned())
    );
}

/// moto refuses items past 405,000 bytes (DynamoDB: 409,600); 15 slots of
/// 25 KiB fit either way and 16 fit neither.
#[tokio::test]
async fn a_record_that_would_pass_400_kb_is_not_written() {
    let t = table("limit").await;
    let key = "join#0#0";
    for n in 0..15 {
        let won = t
            .store
            .settle(&cell(key, n), &slot_of(25 * 1024))
            .await
            .expect("fits");
        assert!(matches!(won, Settled::Won { .. }));
    }
    let err = t
        .store
        .settle(&cell(key, 15), &slot_of(25 * 1024))
        .await
        .expect_err("refused");
    assert!(!err.is_retryable(), "{err}");
    assert!(err.to_string().contains(key), "{err}");
    let record = t.store.read(key).await.expect("read").expect("record");
    assert_eq!(record.count, 15);
    assert!(!record.slots.contains_key(&15));
}

#[tokio::test]
async fn stored_continuations_have_a_budget() {
    let t = table("budget").await;
    let at = cell("pending", 0);
    let mut added = Vec::new();
    for _ in 0..6 {
        let cont = cont_of(10 * 1024);
        assert_eq!(
            t.store
                .add_continuations(&at, std::slice::from_ref(&cont))
                .await
                .expect("fits"),
            None
        );
        added.push(cont);
    }
    let err = t
        .store
        .add_continuations(&at, &[cont_of(10 * 1024)])
        .await
        .expect_err("refused");
    assert!(!err.is_retryable());
    assert!(err.to_string().contains("continuations"), "{err}");
    let record = t
        .store
        .read("pending")
        .await
        .expect("read")
        .expect("record");
    assert_eq!(record.later[&0].len(), 6);
    assert_eq!(
        t.store
            .add_continuations(&at, &added[..2])
            .await
            .expect("re-add"),
        None
    );
    assert!(t
        .store
        .add_continuations(&cell("big", 0), &[cont_of(65 * 1024)])
        .await
        .is_err());
    t.store.settle(&at, &slot_of(1)).await.expect("settle");
    let found = t
        .store
        .add_continuations(&at, &[cont_of(10 * 1024)])
        .await
        .expect("settled");
    assert!(found.is_some());
}

#[tokio::test]
async fn pending_records_have_no_ttl_and_every_settle_refreshes_it() {
    let t = table("ttl").await;
    let key = "join#0#0";
    t.store
        .add_continuations(&cell(key, 0), &[cont_of(10)])
        .await
        .expect("add");
    t.store
        .note(
            &cell(key, 1),
            &Note {
                kids: 2,
                ..Note::default()
            },
        )
        .await
        .expect("note");
    assert_eq!(t.ttl(key).await, None, "a pending record has no TTL");

    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    t.store
        .settle(&cell(key, 0), &slot_of(1))
        .await
        .expect("settle");
    let first = t.ttl(key).await.expect("settled records have a TTL");
    assert!(first >= before + 3_600);

    // Notes and continuations for other slots leave it as it is.
    t.store
        .add_continuations(&cell(key, 2), &[cont_of(10)])
        .await
        .expect("add");
    assert_eq!(t.ttl(key).await, Some(first));

    tokio::time::sleep(Duration::from_millis(1_100)).await;
    t.store
        .settle(&cell(key, 1), &slot_of(1))
        .await
        .expect("settle");
    let second = t.ttl(key).await.expect("ttl");
    assert!(second > first, "{second} > {first}");

    tokio::time::sleep(Duration::from_millis(1_100)).await;
    t.store
        .settle_together(key, &[(2, slot_of(1)), (3, slot_of(1))])
        .await
        .expect("settle")
        .expect("written");
    assert!(t.ttl(key).await.expect("ttl") > second);
}

/// Rule 9 on DynamoDB: a join's shard records get no TTL while the join
/// counts (settles and marks leave it off), and one once it completes
/// (`expire_record`, never lowering a later one); values held for pending
/// members have none until `expire_blob` gives head and chunks theirs.
#[tokio::test]
async fn join_shards_and_held_values_get_a_ttl_only_when_the_join_completes() {
    let t = table("shards").await;
    let join = PromiseId::random();
    let shard = vow::store::shard_key(&join, 0, 0);
    let mark = vow::store::shard_key(&join, 1, 0);
    for n in 0..3 {
        t.store
            .settle(&cell(&shard, n), &slot_of(1))
            .await
            .expect("settle");
    }
    t.store
        .settle_together(&shard, &[(3, slot_of(1)), (4, slot_of(1))])
        .await
        .expect("settle")
        .expect("written");
    t.store
        .settle(&cell(&mark, 0), &slot_of(1))
        .await
        .expect("mark");
    assert_eq!(t.ttl(&shard).await, None, "a counting shard has no TTL");
    assert_eq!(t.ttl(&mark).await, None, "nor a mark");

    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    t.store.expire_record(&shard).await.expect("expire");
    let stamped = t
        .ttl(&shard)
        .await
        .expect("a completed join's shard has a TTL");
    assert!(stamped >= before + 3_600);
    // A store with a shorter TTL stamping again does not lower it.
    let short = DynamoStore::new(t.client.clone(), &t.name, Duration::from_secs(60));
    short.expire_record(&shard).await.expect("expire again");
    assert_eq!(t.ttl(&shard).await, Some(stamped));
    // A missing record is not created.
    short
        .expire_record(&vow::store::shard_key(&join, 0, 9))
        .await
        .expect("expire missing");
    assert!(t.item(&vow::store::shard_key(&join, 0, 9)).await.is_none());

    // A value held for a pending member: no TTL on head or chunks, and a
    // plain put of the same text (another promise's) does not add one.
    let text = "v".repeat(700 * 1024);
    let chunk = |i: usize| format!("{}~{i}", head(7));
    t.store
        .put_blob_held(&head(7), &text)
        .await
        .expect("put held");
    t.store.put_blob(&head(7), &text).await.expect("put again");
    assert_eq!(t.ttl(&head(7)).await, None);
    assert_eq!(t.ttl(&chunk(2)).await, None);
    t.store.expire_blob(&head(7)).await.expect("expire blob");
    for key in [head(7), chunk(0), chunk(1), chunk(2)] {
        assert!(t.ttl(&key).await.expect("ttl") >= before + 3_600, "{key}");
    }

    // A value stored with a TTL, then copied into a pending member: held.
    t.store.put_blob(&head(8), &text).await.expect("put");
    assert!(t.ttl(&chunk_of(8, 1)).await.is_some());
    assert!(t.store.hold_blob(&head(8)).await.expect("hold"));
    assert_eq!(t.ttl(&head(8)).await, None);
    assert_eq!(t.ttl(&chunk_of(8, 1)).await, None);
    assert!(!t.store.hold_blob(&head(9)).await.expect("hold missing"));
    assert_eq!(
        t.store.get_blob(&head(8)).await.expect("get"),
        Some(text.clone())
    );

    // A plain put never lowers a later TTL.
    t.store.put_blob(&head(10), "w").await.expect("put");
    let later = t.ttl(&head(10)).await.expect("ttl");
    short.put_blob(&head(10), "w").await.expect("put again");
    assert_eq!(t.ttl(&head(10)).await, Some(later));
    assert!(short.put_blob(&head(10), "z").await.is_err(), "immutable");
}

fn chunk_of(n: u8, i: usize) -> String {
    format!("{}~{i}", head(n))
}

/// `len` bytes of text: stored out of line past 16 KiB.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Text {
    len: usize,
}

#[vow::task("stores/text")]
impl vow::Task for Text {
    type Input = ();
    type Output = String;
    async fn run(self, _: (), _cx: &vow::Cx) -> Result<vow::Resolution<String>, vow::Error> {
        vow::done("t".repeat(self.len))
    }
}

/// The total length of a join's texts.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct TotalLength;

#[vow::task("stores/total-length")]
impl vow::Task for TotalLength {
    type Input = Result<Vec<Result<String, vow::Failure>>, vow::Failure>;
    type Output = usize;
    async fn run(
        self,
        all: Self::Input,
        _cx: &vow::Cx,
    ) -> Result<vow::Resolution<usize>, vow::Error> {
        let mut n = 0;
        for text in all? {
            n += text?.len();
        }
        vow::done(n)
    }
}

/// The engine on DynamoDB: a join waiting on a callback keeps its shard
/// record and its member's value stored out of line without a TTL, and its
/// completion gives both one (head and chunks).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_on_dynamodb_gets_its_ttl_when_it_completes() {
    use std::sync::Arc;
    use vow::memory::MemoryQueue;
    const WAIT: Duration = Duration::from_secs(30);
    let t = table("engine").await;
    let queue = Arc::new(MemoryQueue::new(Duration::from_secs(30), 5, None));
    let vow = vow::Vow::client(Arc::new(t.store.clone()), queue, vow_e2e::test_engine());
    let _workers = vow.run_workers(2, None, Duration::from_millis(50));
    let flow = vow.flow();
    let (approval, resolver) = flow.callback::<String>(Duration::from_secs(3_600));
    let big = flow.when(Text { len: 40 * 1024 });
    let both = flow.all([approval, big]);
    let total = both.clone().then(TotalLength);
    vow.start(&flow).await.expect("start");

    let shard = vow::store::shard_key(both.id(), 0, 0);
    let deadline = std::time::Instant::now() + WAIT;
    let blob = loop {
        let record = t.store.read(&shard).await.expect("read");
        if let Some(slot) = record.and_then(|r| r.slots.get(&1).cloned()) {
            match slot.outcome {
                Outcome::Stored { key } => break key,
                other => panic!("the member's value is stored out of line: {other:?}"),
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the member never settled"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(t.ttl(&shard).await, None, "a counting shard has no TTL");
    assert_eq!(t.ttl(&blob).await, None, "a held value has no TTL");
    assert_eq!(t.ttl(&format!("{blob}~0")).await, None);

    vow.resolve(&resolver, Ok("ab".to_owned()))
        .await
        .expect("resolve");
    let n = vow.wait(&total, WAIT).await.expect("wait");
    assert_eq!(n.expect("total"), 40 * 1024 + 2);
    for key in [shard, blob.clone(), format!("{blob}~0")] {
        let deadline = std::time::Instant::now() + WAIT;
        while t.ttl(&key).await.is_none() {
            assert!(
                std::time::Instant::now() < deadline,
                "{key} never got a TTL"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The upgrade check reports a record that no longer decodes instead of
/// stopping at it: that is what it is for.
#[tokio::test]
async fn the_table_check_reports_a_record_that_does_not_decode() {
    let t = table("scan").await;
    let broken = PromiseId::random();
    t.client
        .put_item()
        .table_name(&t.name)
        .item("pk", AttributeValue::S(broken.to_string()))
        .item("s0", AttributeValue::S("not a slot".into()))
        .send()
        .await
        .expect("put");
    let fine = PromiseId::random();
    t.store
        .settle(&Cell::of(&fine), &slot_of(10))
        .await
        .expect("settle");
    let store: std::sync::Arc<dyn vow::backend::Store> = std::sync::Arc::new(t.store);
    let queue = std::sync::Arc::new(vow::backend::MemoryQueue::new(
        Duration::from_secs(30),
        3,
        None,
    ));
    let engine = vow::Engine::new(store, queue, vow::EngineConfig::default());
    let [records, _] = vow::upgrade::check_store(&engine, 100)
        .await
        .expect("the check runs through");
    assert!(!records.truncated, "{records}");
    let reported = records
        .messages
        .iter()
        .find(|m| m.message_id == format!("record {broken}"))
        .expect("the broken record is reported");
    assert!(!reported.decodes(), "{reported:?}");
    assert_eq!(records.undecodable(), 1, "{records}");
}
