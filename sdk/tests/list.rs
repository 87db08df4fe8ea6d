//! Listing runs (`Vow::list`) on the embedded backend: newest first, pages
//! with cursors, filters, states, and the record TTL.

use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::time::Duration;
use vow::prelude::*;
use vow::{EmbeddedConfig, ListQuery, Run, RunState};

const WAIT: Duration = Duration::from_secs(20);
const HOUR: Duration = Duration::from_secs(3_600);
const DAY: Duration = Duration::from_secs(24 * 3_600);

#[derive(Serialize, Deserialize)]
struct Ok1(u64);

#[vow::task("list-test/ok")]
impl Task for Ok1 {
    type Input = ();
    type Output = u64;
    async fn run(self, _: (), _cx: &Cx) -> Result<Resolution<u64>, Error> {
        done(self.0)
    }
}

#[derive(Serialize, Deserialize)]
struct Fails;

#[vow::task("list-test/fails")]
impl Task for Fails {
    type Input = ();
    type Output = u64;
    async fn run(self, _: (), _cx: &Cx) -> Result<Resolution<u64>, Error> {
        Err(Error::permanent("no stock"))
    }
}

/// Waits an hour (on the embedded clock), so its run is running until then.
#[derive(Serialize, Deserialize)]
struct Nap;

#[vow::task("list-test/nap")]
impl Task for Nap {
    type Input = ();
    type Output = ();
    async fn run(self, _: (), cx: &Cx) -> Result<Resolution<()>, Error> {
        adopt(cx.sleep(HOUR))
    }
}

#[derive(Serialize, Deserialize)]
struct AddOne;

#[vow::task("list-test/add-one")]
impl Task for AddOne {
    type Input = Result<u64, Failure>;
    type Output = u64;
    async fn run(self, n: Self::Input, _cx: &Cx) -> Result<Resolution<u64>, Error> {
        done(n? + 1)
    }
}

/// Every run `query` finds, page after page.
async fn all_pages(vow: &Vow, query: ListQuery) -> Vec<Run> {
    let mut runs = Vec::new();
    let mut query = query;
    for _ in 0..1_000 {
        let page = vow.list(&query).await.expect("list");
        runs.extend(page.runs);
        match page.next {
            Some(cursor) => query = query.after(cursor),
            None => return runs,
        }
    }
    panic!("the listing never ended");
}

fn ids(runs: &[Run]) -> Vec<PromiseId> {
    runs.iter().map(|r| r.id.clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_are_listed_newest_first_in_pages_without_repeats() {
    let vow = Vow::embedded();
    let mut started = Vec::new();
    for i in 0..25 {
        let flow = vow.flow();
        let root = flow.when(Ok1(i));
        let p = root.then(AddOne);
        vow.start(&flow).await.expect("start");
        vow.wait(&p, WAIT).await.expect("settles").expect("ok");
        started.push(root.id().clone());
        // Runs are ordered by their start to the millisecond.
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let mut pages = 0;
    let mut seen = Vec::new();
    let mut query = ListQuery::new().limit(10);
    loop {
        let page = vow.list(&query).await.expect("list");
        assert!(page.runs.len() <= 10);
        pages += 1;
        seen.extend(page.runs);
        match page.next {
            Some(cursor) => query = query.after(cursor.to_string().parse().expect("cursor")),
            None => break,
        }
    }
    assert!(pages >= 3, "{pages} pages");
    let unique: HashSet<_> = ids(&seen).into_iter().collect();
    assert_eq!(unique.len(), 25, "each run once");
    assert_eq!(seen.len(), 25, "each run once");
    // Newest first: the reverse of the order they started in.
    started.reverse();
    assert_eq!(ids(&seen), started);
    assert!(seen.windows(2).all(|w| w[0].started_at >= w[1].started_at));
    // Only the roots are listed, not the steps after them.
    assert!(seen
        .iter()
        .all(|r| r.task == "list-test/ok" && r.state == RunState::Done));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn states_tags_names_and_times_filter_the_listing() {
    let vow = Vow::embedded();
    // Runs are ordered by their start to the millisecond.
    let tick = || tokio::time::sleep(Duration::from_millis(2));
    let done = vow.when(Ok1(7)).await.expect("start");
    tick().await;
    let failed = vow.when(Fails).await.expect("start");
    tick().await;
    let napping = vow.when(Nap).await.expect("start");
    tick().await;
    let named = vow.flow_named("order-42");
    let order = named.when(Ok1(42));
    vow.start(&named).await.expect("start");
    vow.wait(&done, WAIT).await.expect("settles").expect("ok");
    vow.wait(&failed, WAIT)
        .await
        .expect("settles")
        .expect_err("fails");
    vow.wait(&order, WAIT).await.expect("settles").expect("ok");

    let list = |q: ListQuery| {
        let vow = &vow;
        async move { ids(&all_pages(vow, q).await) }
    };
    assert_eq!(
        list(ListQuery::new().state(RunState::Running)).await,
        vec![napping.id().clone()]
    );
    // A running root is known to the store from its start.
    assert_eq!(
        vow.status(napping.id()).await.expect("status"),
        vow::Status::Pending
    );
    assert_eq!(
        list(ListQuery::new().state(RunState::Failed)).await,
        vec![failed.id().clone()]
    );
    assert_eq!(
        list(ListQuery::new().state(RunState::Done)).await,
        vec![order.id().clone(), done.id().clone()]
    );
    assert_eq!(
        list(ListQuery::new().task("list-test/fails")).await,
        vec![failed.id().clone()]
    );
    assert_eq!(
        list(ListQuery::new().name_prefix("order-")).await,
        vec![order.id().clone()]
    );
    assert!(list(ListQuery::new().name_prefix("invoice-"))
        .await
        .is_empty());
    let all = all_pages(&vow, ListQuery::new()).await;
    assert_eq!(all.len(), 4);
    let failure = all.iter().find(|r| r.id == *failed.id()).expect("listed");
    assert_eq!(failure.failure, Some(FailureKind::Error));
    assert!(failure.settled_at.is_some());
    let order_run = all.iter().find(|r| r.id == *order.id()).expect("listed");
    assert_eq!(order_run.name.as_deref(), Some("order-42"));

    // A named start that finds its name taken lists nothing more.
    let again = vow.flow_named("order-42");
    again.when(Ok1(42));
    vow.start(&again).await.expect("start");
    assert_eq!(all_pages(&vow, ListQuery::new()).await.len(), 4);

    // Two hours on: the nap is done, and only a run started since is recent.
    vow.skip_time(2 * HOUR).expect("embedded");
    vow.wait(&napping, WAIT)
        .await
        .expect("settles")
        .expect("ok");
    let late = vow.when(Ok1(1)).await.expect("start");
    vow.wait(&late, WAIT).await.expect("settles").expect("ok");
    assert_eq!(
        list(ListQuery::new().since(HOUR)).await,
        vec![late.id().clone()]
    );
    assert!(list(ListQuery::new().state(RunState::Running))
        .await
        .is_empty());
}

/// Waits 30 days (on the embedded clock).
#[derive(Serialize, Deserialize)]
struct LongNap;

#[vow::task("list-test/long-nap")]
impl Task for LongNap {
    type Input = ();
    type Output = ();
    async fn run(self, _: (), cx: &Cx) -> Result<Resolution<()>, Error> {
        adopt(cx.sleep(30 * DAY))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_leaves_the_listing_with_its_record_and_not_while_it_runs() {
    let mut config = EmbeddedConfig::default();
    config.record_ttl = 15 * DAY;
    let vow = Vow::embedded_with(config);
    let done = vow.when(Ok1(1)).await.expect("start");
    vow.wait(&done, WAIT).await.expect("settles").expect("ok");
    tokio::time::sleep(Duration::from_millis(2)).await;
    // A run that waits 30 days: its record has no TTL while it runs.
    let month = vow.when(LongNap).await.expect("start");
    let listed = ids(&all_pages(&vow, ListQuery::new()).await);
    assert_eq!(listed, vec![month.id().clone(), done.id().clone()]);
    vow.skip_time(16 * DAY).expect("embedded");
    let listed = ids(&all_pages(&vow, ListQuery::new()).await);
    assert_eq!(listed, vec![month.id().clone()], "the settled run expired");
    let running = vow
        .list(&ListQuery::new().state(RunState::Running))
        .await
        .expect("list");
    assert_eq!(ids(&running.runs), vec![month.id().clone()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_costs_one_write_per_run_and_none_per_step() {
    let count = |list_runs: bool, steps: u64| async move {
        let mut config = EmbeddedConfig::default();
        config.engine.list_runs = list_runs;
        let vow = Vow::embedded_with(config);
        for _ in 0..5 {
            let flow = vow.flow();
            let mut p = flow.when(Ok1(0));
            for _ in 0..steps {
                p = p.then(AddOne);
            }
            vow.start(&flow).await.expect("start");
            assert_eq!(vow.wait(&p, WAIT).await.expect("settles"), Ok(steps));
        }
        vow.memory_store().expect("embedded").writes()
    };
    let short = count(true, 2).await - count(false, 2).await;
    let long = count(true, 12).await - count(false, 12).await;
    assert_eq!(short, 5, "one write per run");
    assert_eq!(long, 5, "and none per step");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_firing_of_a_schedule_is_a_run_named_after_it() {
    let vow = Vow::embedded();
    let daily: vow::Cron = "0 3 * * *".parse().expect("cron");
    vow.schedule("nightly-report", &daily, Ok1(5))
        .await
        .expect("scheduled");
    let mut firings = Vec::new();
    for day in 1..=2 {
        vow.skip_time(DAY).expect("embedded");
        let give_up = std::time::Instant::now() + WAIT;
        loop {
            let runs = all_pages(&vow, ListQuery::new().state(RunState::Done)).await;
            if runs.len() >= day {
                firings = runs;
                break;
            }
            assert!(std::time::Instant::now() < give_up, "day {day}: {runs:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    // Only the jobs, not the ticks that fire them; newest first, each named
    // `schedule:<name>@<time>` and started at its firing's time.
    assert_eq!(firings.len(), 2, "{firings:?}");
    for run in &firings {
        assert_eq!(run.task, "list-test/ok");
        let name = run.name.as_deref().expect("named");
        assert!(name.starts_with("schedule:nightly-report@"), "{name}");
        assert!(name.ends_with("T03:00:00Z"), "{name}");
    }
    assert!(firings[0].started_at > firings[1].started_at);
    let named = all_pages(
        &vow,
        ListQuery::new().name_prefix("schedule:nightly-report@"),
    )
    .await;
    assert_eq!(named.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rare_matches_are_found_in_order_through_short_pages() {
    let vow = Vow::embedded();
    let mut rare = Vec::new();
    for i in 0..40u64 {
        let handle = if i % 13 == 5 {
            let h = vow.when(Fails).await.expect("start");
            rare.push(h.id().clone());
            vow.wait(&h, WAIT)
                .await
                .expect("settles")
                .expect_err("fails");
            continue;
        } else {
            vow.when(Ok1(i)).await.expect("start")
        };
        vow.wait(&handle, WAIT).await.expect("settles").expect("ok");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    rare.reverse();
    for query in [
        ListQuery::new().task("list-test/fails").limit(1),
        ListQuery::new().state(RunState::Failed).limit(1),
        ListQuery::new().state(RunState::Failed).limit(2),
    ] {
        let found = all_pages(&vow, query.clone()).await;
        assert_eq!(ids(&found), rare, "{query:?}");
    }
    // A page looks at a bounded number of runs: with one wanted, some pages
    // come back empty with a cursor, and the walk still ends.
    let mut pages = 0;
    let mut query = ListQuery::new().task("list-test/fails").limit(1);
    loop {
        let page = vow.list(&query).await.expect("list");
        pages += 1;
        match page.next {
            Some(cursor) => query = query.after(cursor),
            None => break,
        }
    }
    assert!(pages >= rare.len(), "{pages} pages");
}
