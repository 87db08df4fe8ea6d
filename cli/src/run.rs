//! `vow run`: start one of the samples of crate `vow-samples` as a root task.

use crate::args::Sample;
use vow::{BackendError, PromiseId, Vow};
use vow_samples::{ClosureSample, CrunchAll, FanIn, MapCount, Predicate, Table, TimeoutSample};

/// Enqueue `sample`; returns its root promise.
pub async fn start(vow: &Vow, sample: Sample) -> Result<PromiseId, BackendError> {
    let promise = match sample {
        Sample::Timeout => {
            let task = TimeoutSample {
                work_ms: 2_000,
                timeout_ms: 100,
            };
            vow.when(task).await?.id().clone()
        }
        Sample::Closure => {
            let task = ClosureSample {
                greeting: "hello".to_owned(),
                times: 3,
            };
            vow.when(task).await?.id().clone()
        }
        Sample::FanIn => vow.when(FanIn { n: 10 }).await?.id().clone(),
        Sample::MapCount => {
            let task = MapCount {
                table: Table::Synthetic { items: 10_000 },
                segments: 4,
                page_size: 250,
                predicate: Predicate {
                    color: "red".to_owned(),
                    min_weight: 50,
                },
            };
            vow.when(task).await?.id().clone()
        }
        Sample::Progress => {
            let task = CrunchAll {
                batches: vec![100, 200, 300, 400],
                pause_ms: 10,
            };
            vow.when(task).await?.id().clone()
        }
    };
    Ok(promise)
}
