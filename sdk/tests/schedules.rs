//! Schedules: a job at every firing of a cron expression, at most once per
//! firing however many times (and from however many chains) it is scheduled,
//! until cancelled.

mod common;

use common::*;
use std::time::{Duration, Instant};
use vow::{Cron, Started};

fn every_second() -> Cron {
    "* * * * * *".parse().expect("a cron expression")
}

/// Jobs run for `k` so far, after waiting `for_` for more.
async fn after(k: &str, for_: Duration) -> u32 {
    tokio::time::sleep(for_).await;
    read_log(k).len() as u32
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_schedule_runs_its_job_once_per_firing_until_cancelled() {
    let vow = embedded();
    let k = key();
    let began = Instant::now();
    let schedule = vow
        .schedule(
            &format!("tick-{k}"),
            &every_second(),
            Logged { key: k.clone() },
        )
        .await
        .expect("scheduled");
    assert_eq!(schedule.started(), Started::New);
    let ran = after(&k, Duration::from_millis(3_500)).await;
    let seconds = began.elapsed().as_secs() as u32;
    assert!(
        (2..=seconds + 1).contains(&ran),
        "{ran} jobs in {seconds} s"
    );
    assert_eq!(
        vow.cancel(schedule.id(), "enough").await.expect("cancel"),
        1
    );
    // A firing already past its check may still run; then nothing more.
    let stopped = after(&k, Duration::from_millis(1_500)).await;
    assert!(stopped <= ran + 1, "{ran} then {stopped}");
    assert_eq!(after(&k, Duration::from_millis(2_000)).await, stopped);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scheduling_a_name_again_changes_nothing() {
    let vow = embedded();
    let (k, name) = (key(), format!("daily-{}", key()));
    let began = Instant::now();
    let first = vow
        .schedule(&name, &every_second(), Logged { key: k.clone() })
        .await
        .expect("scheduled");
    for _ in 0..3 {
        let again = vow
            .schedule(&name, &every_second(), Logged { key: k.clone() })
            .await
            .expect("scheduled");
        assert_eq!(again.started(), Started::Existing);
        assert_eq!(again.id(), first.id());
    }
    let ran = after(&k, Duration::from_millis(3_500)).await;
    let seconds = began.elapsed().as_secs() as u32;
    assert!(
        (2..=seconds + 1).contains(&ran),
        "{ran} jobs in {seconds} s"
    );
    vow.cancel(first.id(), "done").await.expect("cancel");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_second_chain_of_a_name_never_fires_a_firing_twice() {
    let vow = embedded();
    let (k, name) = (key(), format!("report-{}", key()));
    let began = Instant::now();
    let first = vow
        .schedule(&name, &every_second(), Logged { key: k.clone() })
        .await
        .expect("scheduled");
    // Weeks pass: every settled record expires (TTL), the name's claim and
    // the chain's history among them; pending ones (the sleep the chain waits
    // in, the off switch) have no TTL. The name is scheduled again: two
    // chains, with different ids, now wait for the same firings.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let store = vow.memory_store().expect("embedded").clone();
    let mut expired = 0;
    for key in store.item_sizes().into_keys() {
        if let Ok(Some(record)) = vow::backend::Store::read(&*store, &key).await {
            if record.slots.contains_key(&0) {
                store.expire(&key);
                expired += 1;
            }
        }
    }
    assert!(expired >= 3, "the claim, a sleep, a tick: {expired}");
    let second = vow
        .schedule(&name, &every_second(), Logged { key: k.clone() })
        .await
        .expect("scheduled");
    assert_eq!(second.started(), Started::New);
    let ran = after(&k, Duration::from_millis(4_000)).await;
    let seconds = began.elapsed().as_secs() as u32;
    assert!(
        (3..=seconds + 1).contains(&ran),
        "{ran} jobs in {seconds} s: {:#?}",
        read_log(&k)
    );
    vow.cancel(first.id(), "done").await.expect("cancel");
}

#[tokio::test]
async fn a_schedule_that_never_fires_or_has_a_bad_name_is_refused() {
    let vow = embedded();
    let never: Cron = "0 0 30 2 *".parse().expect("parses");
    let err = vow
        .schedule("feb-30", &never, Logged { key: key() })
        .await
        .expect_err("never fires");
    assert!(err.to_string().contains("never fires"), "{err}");
    let err = vow
        .schedule("", &every_second(), Logged { key: key() })
        .await
        .expect_err("no name");
    assert!(err.to_string().contains("name"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_daily_schedule_fires_once_a_day_as_time_is_skipped() {
    let vow = embedded();
    let k = key();
    let daily: Cron = "0 3 * * *".parse().expect("cron");
    let schedule = vow
        .schedule(&format!("daily-{k}"), &daily, Logged { key: k.clone() })
        .await
        .expect("scheduled");
    let day = Duration::from_secs(86_400);
    for expected in 1..=3 {
        vow.skip_time(day).expect("embedded");
        let began = Instant::now();
        while read_log(&k).len() < expected && began.elapsed() < WAIT {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(read_log(&k).len(), expected, "day {expected}");
    }
    vow.cancel(schedule.id(), "done").await.expect("cancel");
    vow.skip_time(day * 2).expect("embedded");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(read_log(&k).len(), 3, "nothing after the cancel");
}
