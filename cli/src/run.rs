//! `vow run`: start one of the samples of crate `vow-samples` as a root task.

use crate::args::Sample;
use vow::{BackendError, PromiseId, Started, Vow};
use vow_samples::{ClosureSample, CrunchAll, FanIn, MapCount, Predicate, Table, TimeoutSample};

/// Start `sample` (once per `key`, if given); returns its root promise and
/// whether this call started it.
pub async fn start(
    vow: &Vow,
    sample: Sample,
    key: Option<&str>,
) -> Result<(PromiseId, Started), BackendError> {
    let flow = key.map_or_else(|| vow.flow(), |key| vow.flow_named(key));
    let root = match sample {
        Sample::Timeout => flow
            .when(TimeoutSample {
                work_ms: 2_000,
                timeout_ms: 100,
            })
            .id()
            .clone(),
        Sample::Closure => flow
            .when(ClosureSample {
                greeting: "hello".to_owned(),
                times: 3,
            })
            .id()
            .clone(),
        Sample::FanIn => flow.when(FanIn { n: 10 }).id().clone(),
        Sample::MapCount => flow
            .when(MapCount {
                table: Table::Synthetic { items: 10_000 },
                segments: 4,
                page_size: 250,
                predicate: Predicate {
                    color: "red".to_owned(),
                    min_weight: 50,
                },
            })
            .id()
            .clone(),
        Sample::Progress => flow
            .when(CrunchAll {
                batches: vec![100, 200, 300, 400],
                pause_ms: 10,
            })
            .id()
            .clone(),
    };
    let started = vow.start(&flow).await?;
    Ok((root, started))
}

/// `vow run --example NAME -- ARGS`: run the example of the vow project in
/// this folder with `--stack`, on the stack `target` names (`vow dev`'s, the
/// flags' or the environment's); its exit code is the command's.
pub fn example(
    name: &str,
    args: &[String],
    target: &crate::args::Target,
) -> Result<std::process::ExitCode, crate::CliError> {
    use crate::CliError;
    let project = crate::project::Project::current("vow run --example")?;
    let mut command =
        std::process::Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command
        .args(["run", "--quiet", "--example", name, "--", "--stack"])
        .args(args)
        .current_dir(&project.root);
    for (var, value) in [
        (vow::aws::ENV_QUEUE_URL, &target.queue_url),
        (vow::aws::ENV_TABLE_NAME, &target.table),
        (vow::aws::ENV_DLQ_URL, &target.dlq_url),
    ] {
        if let Some(value) = value {
            command.env(var, value);
        }
    }
    let status = command
        .status()
        .map_err(|e| CliError::Usage(format!("cannot run cargo: {e}")))?;
    Ok(match status.code() {
        Some(0) => std::process::ExitCode::SUCCESS,
        Some(code) => std::process::ExitCode::from(u8::try_from(code).unwrap_or(1)),
        None => std::process::ExitCode::FAILURE,
    })
}
