//! Rule 9: nothing that live work can still read expires. The memory store
//! keeps each item's TTL as DynamoDB would and drops it once the embedded
//! clock passes it, so these tests skip weeks with `Vow::skip_time` and check
//! that joins waiting on long callbacks still complete with every value, and
//! that what they leave behind does expire once nothing needs it.

mod common;

use common::*;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use vow::prelude::*;
use vow::store::{shard_key, Store};

const DAY: Duration = Duration::from_secs(86_400);

/// The embedded backend's default record TTL (`VOW_RECORD_TTL_DAYS` unset).
const TTL: Duration = Duration::from_secs(30 * 86_400);

/// Wait (real time, generously) until `check` holds.
async fn until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + WAIT;
    while !check() {
        assert!(std::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Wait until the promise `id` has settled (its record holds its slot).
async fn settled(vow: &Vow, id: &PromiseId) {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let cell = vow::store::Cell::of(id);
        let record = vow.engine().store().read(&cell.key).await.expect("read");
        if record.is_some_and(|r| r.slots.contains_key(&cell.slot)) {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "{id} never settled");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn embedded_store(vow: &Vow) -> &vow::memory::MemoryStore {
    vow.memory_store().expect("embedded")
}

/// A fan-out member: returns `len` bytes of text, or, with `defer` set,
/// hands its resolver to the test (logged under `defer`) and waits for it.
#[derive(Debug, Serialize, Deserialize)]
struct Member {
    len: usize,
    defer: Option<String>,
}

#[vow::task("expiry/member")]
impl Task for Member {
    type Input = ();
    type Output = String;
    async fn run(self, _: (), cx: &Cx) -> Result<Resolution<String>, Error> {
        match self.defer {
            Some(key) => {
                let resolver = cx.resolver::<String>();
                log(
                    &key,
                    serde_json::to_string(&resolver).map_err(Error::permanent)?,
                );
                deferred()
            }
            None => done("v".repeat(self.len)),
        }
    }
}

/// Records the outcome it was given under `key`.
#[derive(Debug, Serialize, Deserialize)]
struct Heard {
    key: String,
}

#[vow::task("expiry/heard")]
impl Task for Heard {
    type Input = Result<u64, Failure>;
    type Output = u64;
    async fn run(self, input: Self::Input, _cx: &Cx) -> Result<Resolution<u64>, Error> {
        let v = input?;
        log(&self.key, v.to_string());
        done(v)
    }
}

/// (a) `all([callback(60 days), quick])`: the quick member settles on day 0,
/// the callback on day 45, past the 30-day TTL. The join's shard record must
/// still hold the first arrival (count and value), so the join completes and
/// its successor sees both values. Then, nothing pending refers to the
/// records: they expire 30 days after the completion.
#[tokio::test]
async fn a_join_completes_with_a_member_that_settled_past_the_ttl() {
    let vow = embedded();
    let k = key();
    let flow = vow.flow();
    let (approval, resolver) = flow.callback::<u64>(60 * DAY);
    let quick = flow.when(Value(7));
    let both = flow.all([approval, quick.clone()]);
    let described = both.clone().then(Describe { key: k.clone() });
    vow.start(&flow).await.expect("start");
    settled(&vow, &both.id().member(1)).await;

    vow.skip_time(45 * DAY).expect("skip");
    vow.resolve(&resolver, Ok(5)).await.expect("resolve");
    let said = vow.wait(&described, WAIT).await.expect("wait");
    assert_eq!(said.expect("described"), "5,7");

    // The join completed: its shard record now counts its TTL from here.
    let store = embedded_store(&vow);
    let shard = shard_key(both.id(), 0, 0);
    until("the shard record gets its TTL", || {
        store.ttl_of(&shard).is_some()
    })
    .await;
    vow.skip_time(TTL - DAY).expect("skip");
    assert!(store.contains(&shard), "expired a day before its time");
    vow.skip_time(2 * DAY).expect("skip");
    assert!(!store.contains(&shard), "outlived its TTL");
    assert!(!store.contains(both.id().as_str()), "the join's record too");
}

/// (b) A member of `all` whose value is stored out of line settles on day 0
/// (the value was put with a TTL when its own promise settled); the join
/// completes on day 45. The successor reads the value; afterwards the value
/// expires with the join's records.
#[tokio::test]
async fn a_joined_value_stored_out_of_line_outlives_a_long_join() {
    let vow = embedded();
    let flow = vow.flow();
    let (approval, resolver) = flow.callback::<String>(60 * DAY);
    let big = flow.when(Big {
        len: 40 * 1024,
        pad: String::new(),
    });
    let both = flow.all([approval, big]);
    let total = both.clone().then(Lengths);
    vow.start(&flow).await.expect("start");
    settled(&vow, &both.id().member(1)).await;
    let store = embedded_store(&vow);
    let record = store
        .read(&shard_key(both.id(), 0, 0))
        .await
        .expect("read")
        .expect("the member's shard");
    let vow::wire::Outcome::Stored { key: blob } = &record.slots[&1].outcome else {
        panic!("the member's value is stored out of line");
    };
    let blob = blob.clone();

    vow.skip_time(45 * DAY).expect("skip");
    assert!(
        store.contains(&blob),
        "the held value expired under its join"
    );
    vow.resolve(&resolver, Ok("ab".to_owned()))
        .await
        .expect("resolve");
    let n = vow.wait(&total, WAIT).await.expect("wait");
    assert_eq!(n.expect("lengths"), 40 * 1024 + 2);

    until("the value gets its TTL", || store.ttl_of(&blob).is_some()).await;
    vow.skip_time(TTL + DAY).expect("skip");
    assert!(!store.contains(&blob), "the value outlived its TTL");
}

/// (b) The same with a `fan_out`, whose members settle straight into the
/// join: the large member's value is put held (no TTL) on day 0, the last
/// member (deferred) is resolved on day 45.
#[tokio::test]
async fn a_fanned_out_value_stored_out_of_line_outlives_a_long_join() {
    let vow = embedded();
    let k = key();
    let flow = vow.flow();
    let joined = flow.fan_out([
        Member {
            len: 40 * 1024,
            defer: None,
        },
        Member {
            len: 0,
            defer: Some(k.clone()),
        },
    ]);
    let total = joined.clone().then(Lengths);
    vow.start(&flow).await.expect("start");
    settled(&vow, &joined.id().member(0)).await;
    until("the deferred member hands out its resolver", || {
        !read_log(&k).is_empty()
    })
    .await;
    let resolver: Resolver<String> = serde_json::from_str(&read_log(&k)[0]).expect("a resolver");

    vow.skip_time(45 * DAY).expect("skip");
    vow.resolve(&resolver, Ok("abc".to_owned()))
        .await
        .expect("resolve");
    let n = vow.wait(&total, WAIT).await.expect("wait");
    assert_eq!(n.expect("lengths"), 40 * 1024 + 3);
}

/// (c) A pending promise's record, with continuations stored on it after it
/// was sent, has no TTL while it waits: a successor attached from another
/// flow still runs when the callback is resolved 45 days later.
#[tokio::test]
async fn a_pending_record_with_stored_continuations_does_not_expire() {
    let vow = embedded();
    let k = key();
    let flow = vow.flow();
    let (approval, resolver) = flow.callback::<u64>(60 * DAY);
    vow.start(&flow).await.expect("start");

    let later = vow.flow();
    let heard = later.bind(approval.clone()).then(Heard { key: k.clone() });
    vow.start(&later).await.expect("start the successor");
    let cell = vow::store::Cell::of(approval.id());
    let record = vow
        .engine()
        .store()
        .read(&cell.key)
        .await
        .expect("read")
        .expect("the callback's record holds the successor");
    assert!(
        record.later.contains_key(&cell.slot),
        "stored on the record"
    );
    assert_eq!(
        embedded_store(&vow).ttl_of(&cell.key),
        None,
        "no TTL while pending"
    );

    vow.skip_time(45 * DAY).expect("skip");
    vow.resolve(&resolver, Ok(3)).await.expect("resolve");
    let v = vow.wait(&heard, WAIT).await.expect("wait");
    assert_eq!(v.expect("heard"), 3);
    // Past its deadline, its timer finds it resolved and runs nothing again.
    vow.skip_time(30 * DAY).expect("skip");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(read_log(&k), vec!["3".to_owned()]);
}

/// A join of more than 256 members has more shard records than one message
/// stamps: the rest go in a chain of expire messages, and every record and
/// held value ends with a TTL, so nothing of a completed join is kept for
/// ever.
#[tokio::test]
async fn every_record_of_a_large_completed_join_gets_a_ttl() {
    let vow = embedded();
    let flow = vow.flow();
    let n: u32 = 300;
    let joined = flow.fan_out((0..n).map(|i| Member {
        len: if i == 299 { 20 * 1024 } else { 1 },
        defer: None,
    }));
    let total = joined.clone().then(Lengths);
    vow.start(&flow).await.expect("start");
    let got = vow.wait(&total, WAIT).await.expect("wait");
    assert_eq!(got.expect("lengths"), 299 + 20 * 1024);

    let store = embedded_store(&vow);
    // Level 0: 19 shards; level 1: 2; level 2: 1.
    let mut keys: Vec<String> = (0..n.div_ceil(16))
        .map(|s| shard_key(joined.id(), 0, s))
        .collect();
    keys.push(shard_key(joined.id(), 1, 0));
    keys.push(shard_key(joined.id(), 1, 1));
    keys.push(shard_key(joined.id(), 2, 0));
    for key in &keys {
        assert!(store.contains(key), "{key} is written");
    }
    until("every shard record gets its TTL", || {
        keys.iter().all(|k| store.ttl_of(k).is_some())
    })
    .await;
    let blobs: Vec<String> = store
        .item_sizes()
        .into_keys()
        .filter(|k| k.starts_with("vow-val#"))
        .collect();
    assert!(!blobs.is_empty(), "the large member's value is stored");
    for blob in &blobs {
        assert!(store.ttl_of(blob).is_some(), "{blob} has a TTL");
    }
}

/// Formats a join of joins: "[1,2],[9]".
#[derive(Debug, Serialize, Deserialize)]
struct Nested;

type Inner = Vec<Result<u64, Failure>>;

#[vow::task("expiry/nested")]
impl Task for Nested {
    type Input = Result<Vec<Result<Inner, Failure>>, Failure>;
    type Output = String;
    async fn run(self, all: Self::Input, _cx: &Cx) -> Result<Resolution<String>, Error> {
        let mut parts = Vec::new();
        for inner in all? {
            let values: Vec<String> = inner?
                .into_iter()
                .map(|v| v.map_or_else(|f| format!("err:{}", f.kind().as_str()), |v| v.to_string()))
                .collect();
            parts.push(format!("[{}]", values.join(",")));
        }
        done(parts.join(","))
    }
}

/// A join whose member is itself a join: the inner join completes on day 0,
/// the outer on day 45. The outer successor still reads the inner values
/// (the member holds the inner join's value, not a reference to records that
/// count their TTL from the inner join's completion).
#[tokio::test]
async fn a_join_of_a_join_completes_past_the_ttl_with_the_inner_values() {
    let vow = embedded();
    let flow = vow.flow();
    let inner = flow.all([flow.when(Value(1)), flow.when(Value(2))]);
    let (late, resolver) = flow.callback::<Inner>(60 * DAY);
    let outer = flow.all([inner.clone(), late]);
    let said = outer.clone().then(Nested);
    vow.start(&flow).await.expect("start");
    settled(&vow, &outer.id().member(0)).await;

    vow.skip_time(45 * DAY).expect("skip");
    assert!(
        !embedded_store(&vow).contains(&shard_key(inner.id(), 0, 0)),
        "the inner join's records expired, as nothing pending refers to them"
    );
    vow.resolve(&resolver, Ok(vec![Ok(9)]))
        .await
        .expect("resolve");
    let got = vow.wait(&said, WAIT).await.expect("wait");
    assert_eq!(got.expect("nested"), "[1,2],[9]");
}
