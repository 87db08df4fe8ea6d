//! Listing runs on DynamoDB (moto): the runs index holds the roots only, and
//! `Vow::list` pages through it newest first with its filters.

use aws_sdk_dynamodb::types::{AttributeValue, Select};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::time::Duration;
use vow::list::{partition, RUN_INDEX, RUN_SHARDS};
use vow::prelude::*;
use vow::{ListQuery, Run, RunState};
use vow_e2e::tasks::Inc;
use vow_e2e::Stack;
use vow_samples::Square;

const WAIT: Duration = Duration::from_secs(60);

#[derive(Serialize, Deserialize)]
struct Refuse;

#[vow::task("e2e/list-refuse")]
impl Task for Refuse {
    type Input = ();
    type Output = u64;
    async fn run(self, _: (), _cx: &Cx) -> Result<Resolution<u64>, Error> {
        Err(Error::permanent("refused"))
    }
}

#[derive(Serialize, Deserialize)]
struct Hold;

#[vow::task("e2e/list-hold")]
impl Task for Hold {
    type Input = ();
    type Output = ();
    async fn run(self, _: (), cx: &Cx) -> Result<Resolution<()>, Error> {
        adopt(cx.sleep(Duration::from_secs(3_600)))
    }
}

async fn all_pages(vow: &Vow, mut query: ListQuery) -> Vec<Run> {
    let mut runs = Vec::new();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn runs_are_indexed_once_and_listed_newest_first_on_dynamodb() {
    let stack = Stack::new("list", 5).await.with_workers(2);
    let vow = &stack.vow;
    let before = stack.metrics.snapshot();
    let mut roots = Vec::new();
    let mut steps = 0u64;
    for i in 0..12u64 {
        let flow = vow.flow();
        let root = flow.when(Square(i));
        let last = root.then(Inc).then(Inc);
        vow.start(&flow).await.expect("start");
        assert_eq!(vow.wait(&last, WAIT).await.expect("settles"), Ok(i * i + 2));
        roots.push(root.id().clone());
        steps += 3;
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let failed = vow.when(Refuse).await.expect("start");
    vow.wait(&failed, WAIT)
        .await
        .expect("settles")
        .expect_err("fails");
    tokio::time::sleep(Duration::from_millis(2)).await;
    let named = vow.flow_named(&format!("order-{}", &PromiseId::random().as_str()[..6]));
    let order = named.when(Square(3));
    vow.start(&named).await.expect("start");
    vow.wait(&order, WAIT).await.expect("settles").expect("ok");
    tokio::time::sleep(Duration::from_millis(2)).await;
    let holding = vow.when(Hold).await.expect("start");
    let c = stack.metrics.snapshot().since(&before);
    assert_eq!(c.ddb_list_write, 15, "one listing write per run: {c:?}");

    // The index holds the 15 roots, not the steps after them.
    let mut indexed = 0;
    for shard in 0..RUN_SHARDS {
        let out = stack
            .dynamodb
            .query()
            .table_name(&stack.names.table_name)
            .index_name(RUN_INDEX)
            .key_condition_expression("lp = :p")
            .expression_attribute_values(":p", AttributeValue::S(partition(shard)))
            .select(Select::Count)
            .send()
            .await
            .expect("query the index");
        indexed += out.count();
    }
    assert_eq!(indexed, 15, "{steps} steps besides");

    // Pages of 4, newest first, each run once.
    let listed = all_pages(vow, ListQuery::new().limit(4)).await;
    let mut expected: Vec<PromiseId> = roots.clone();
    expected.extend([
        failed.id().clone(),
        order.id().clone(),
        holding.id().clone(),
    ]);
    expected.reverse();
    assert_eq!(ids(&listed), expected);
    assert_eq!(ids(&listed).into_iter().collect::<HashSet<_>>().len(), 15);

    let running = all_pages(vow, ListQuery::new().state(RunState::Running)).await;
    assert_eq!(ids(&running), vec![holding.id().clone()]);
    let one_by_one = all_pages(vow, ListQuery::new().state(RunState::Failed).limit(1)).await;
    assert_eq!(ids(&one_by_one), vec![failed.id().clone()]);
    let failures = all_pages(vow, ListQuery::new().state(RunState::Failed)).await;
    assert_eq!(ids(&failures), vec![failed.id().clone()]);
    assert_eq!(failures[0].failure, Some(FailureKind::Error));
    let done = all_pages(vow, ListQuery::new().state(RunState::Done).limit(5)).await;
    assert_eq!(done.len(), 13);
    let by_task = all_pages(vow, ListQuery::new().task("e2e/list-refuse")).await;
    assert_eq!(ids(&by_task), vec![failed.id().clone()]);
    let by_name = all_pages(vow, ListQuery::new().name_prefix("order-")).await;
    assert_eq!(ids(&by_name), vec![order.id().clone()]);
    assert_eq!(by_name[0].name, named.name());
    let recent = all_pages(vow, ListQuery::new().since(Duration::from_secs(3_600))).await;
    assert_eq!(recent.len(), 15);
    // Nothing started in the future.
    vow.engine().skip_clock(Duration::from_secs(7_200));
    let recent = all_pages(vow, ListQuery::new().since(Duration::from_secs(3_600))).await;
    assert!(recent.is_empty(), "{recent:?}");
}
