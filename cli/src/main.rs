//! `vow`: the command-line tool for vow workflows on SQS and DynamoDB.

mod args;
mod check;
mod dev;
mod dlq;
mod graph;
mod new;
mod project;
mod render;
mod run;
mod wait;
mod walk;

use args::{Cli, Command, Dlq, Format, Target};
use clap::Parser;
use std::io::Write as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use vow::aws::{SdkConfig, SqsQueue, ENV_DLQ_URL, ENV_QUEUE_URL, ENV_TABLE_NAME};
use vow::{BackendError, Vow};

/// Why a command could not do its job.
#[derive(Debug)]
pub enum CliError {
    /// Missing or bad configuration: exit code 2.
    Usage(String),
    /// AWS (or an emulator) failed: exit code 3.
    Backend(String),
}

impl From<BackendError> for CliError {
    fn from(e: BackendError) -> Self {
        CliError::Backend(e.to_string())
    }
}

fn main() -> ExitCode {
    // The samples' tasks, for `vow run --workers`.
    if let Err(e) = vow::check_tasks(&[vow_samples::tasks()]) {
        eprintln!("vow: {e}");
        return ExitCode::FAILURE;
    }
    let cli = Cli::parse();
    // The environment is settled before any thread starts.
    let dev = match &cli.command {
        Command::Dev {
            sqs_port,
            dynamodb_port,
        } => match project::Project::current("vow dev") {
            Ok(project) => {
                for (k, v) in dev::local_aws_env(*sqs_port, *dynamodb_port) {
                    std::env::set_var(k, v);
                }
                Some((project, *sqs_port, *dynamodb_port))
            }
            Err(e) => return report(Err(e)),
        },
        Command::New { .. } => None,
        _ => {
            use_dev_stack(&cli.target);
            None
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("vow: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    report(runtime.block_on(async {
        match dev {
            Some((project, sqs, dynamodb)) => dev::dev(&project, sqs, dynamodb).await,
            None => run(cli).await,
        }
    }))
}

/// Given no stack by flag or environment, take the one `vow dev` runs in this
/// project, if any, saying so on stderr.
fn use_dev_stack(target: &Target) {
    let named = target.queue_url.is_some() || target.table.is_some() || target.dlq_url.is_some();
    if named {
        return;
    }
    let Some((path, vars)) = std::env::current_dir()
        .ok()
        .and_then(|here| project::find_dev_env(&here))
    else {
        return;
    };
    eprintln!(
        "vow: using the local stack of `vow dev` ({})",
        path.display()
    );
    for (k, v) in vars {
        std::env::set_var(k, v);
    }
}

fn report(outcome: Result<ExitCode, CliError>) -> ExitCode {
    match outcome {
        Ok(code) => code,
        Err(CliError::Usage(why)) => {
            eprintln!("vow: {why}");
            ExitCode::from(2)
        }
        Err(CliError::Backend(why)) => {
            eprintln!("vow: {why}");
            ExitCode::from(3)
        }
    }
}

async fn run(mut cli: Cli) -> Result<ExitCode, CliError> {
    if let Command::New {
        name,
        dir,
        vow_path,
        vow_git,
    } = &cli.command
    {
        return new_project(
            name,
            dir.as_deref(),
            vow_path.as_deref(),
            vow_git.as_deref(),
        );
    }
    // The dev stack's variables, if just loaded, count as the environment.
    let target = &mut cli.target;
    let from_env = |flag: &mut Option<String>, var: &str| {
        if flag.is_none() {
            *flag = std::env::var(var).ok();
        }
    };
    from_env(&mut target.queue_url, ENV_QUEUE_URL);
    from_env(&mut target.table, ENV_TABLE_NAME);
    from_env(&mut target.dlq_url, ENV_DLQ_URL);
    let config = vow::aws::sdk_config().await;
    let target = &cli.target;
    match cli.command {
        Command::Status { id } => {
            let vow = client(&config, target, false).await?;
            let inspection = vow.inspect(&id).await?;
            let status = vow.status(&id).await?;
            emit(&render::status_text(
                &inspection,
                &status,
                SystemTime::now(),
            ));
        }
        Command::Tree { id, walk, full_ids } => {
            let tree =
                walk::walk(&client(&config, target, false).await?, &id, walk.max_nodes).await?;
            emit(&render::tree_text(&tree, full_ids));
        }
        Command::Graph { id, format, walk } => {
            let tree =
                walk::walk(&client(&config, target, false).await?, &id, walk.max_nodes).await?;
            match format {
                Format::Dot => emit(&graph::dot(&tree)),
                Format::Mermaid => emit(&graph::mermaid(&tree)),
            }
        }
        Command::Wait { id, wait } => {
            return wait::wait(&client(&config, target, false).await?, &id, &wait).await
        }
        Command::Cancel { id, reason } => {
            let n = client(&config, target, true)
                .await?
                .cancel(&id, &reason)
                .await?;
            emit(&format!("cancelled {n} promise{}\n", plural(u64::from(n))));
        }
        Command::Resolve { id, value, fail } => {
            let vow = client(&config, target, true).await?;
            let result = match fail {
                Some(message) => Err(vow::Failure::error(message)),
                None => Ok(value.unwrap_or_default()),
            };
            let resolver = vow::Resolver::<serde_json::Value>::from_id(id.clone());
            emit(&match vow.resolve(&resolver, result).await? {
                vow::Resolved::Won => format!("resolved {id}\n"),
                _ => {
                    format!("{id} came too late: it had settled (resolved, timed out or cancelled) and keeps its outcome\n")
                }
            });
        }
        Command::Dlq(command) => {
            let sqs = aws_sdk_sqs::Client::new(&config);
            let dlq = SqsQueue::new(sqs.clone(), dlq_url(target)?);
            match command {
                Dlq::List { max } => emit(&dlq::letters_text(&dlq::peek(&dlq, max).await?)),
                Dlq::Redrive => {
                    let work = SqsQueue::new(sqs, queue_url(target)?);
                    let n = dlq::redrive(&dlq, &work).await?;
                    let s = plural(n as u64);
                    emit(&format!("moved {n} message{s} to the work queue\n"));
                }
            }
        }
        // Handled above, before loading the AWS configuration.
        Command::New { .. } | Command::Dev { .. } => {}
        Command::Run {
            example: Some(example),
            example_args,
            ..
        } => return run::example(&example, &example_args, target),
        Command::Run {
            sample,
            key,
            wait,
            workers,
            wait_args,
            ..
        } => {
            let sample =
                sample.ok_or_else(|| CliError::Usage("name a sample or --example".into()))?;
            let vow = client(&config, target, true).await?;
            let (id, started) = run::start(&vow, sample, key.as_deref()).await?;
            if started == vow::Started::Existing {
                eprintln!(
                    "already started with key {:?}: nothing sent; its root is below",
                    key.unwrap_or_default()
                );
            }
            emit(&format!("{id}\n"));
            if !wait {
                return Ok(ExitCode::SUCCESS);
            }
            let workers = (workers > 0).then(|| {
                let dlq = target.dlq_url.as_ref().map(|url| {
                    let sqs = aws_sdk_sqs::Client::new(&config);
                    Arc::new(SqsQueue::new(sqs, url)) as Arc<dyn vow::queue::Queue>
                });
                vow.run_workers(workers, dlq, Duration::from_secs(1))
            });
            let code = wait::wait(&vow, &id, &wait_args).await;
            if let Some(workers) = workers {
                workers.shutdown().await;
            }
            return code;
        }
        Command::CheckUpgrade {
            worker,
            work_queue,
            max,
        } => {
            return check::check_upgrade(&config, target, worker, work_queue, max).await;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `vow new`: write the project and say what to do next.
fn new_project(
    name: &str,
    dir: Option<&std::path::Path>,
    vow_path: Option<&std::path::Path>,
    vow_git: Option<&str>,
) -> Result<ExitCode, CliError> {
    let source = match (vow_path, vow_git) {
        (Some(path), _) => {
            let root = path
                .canonicalize()
                .map_err(|e| CliError::Usage(format!("--vow-path {}: {e}", path.display())))?;
            if !root.join("sdk/Cargo.toml").is_file() {
                return Err(CliError::Usage(format!(
                    "--vow-path {}: not a checkout of vow (no sdk/Cargo.toml)",
                    path.display()
                )));
            }
            new::VowSource::Path(root)
        }
        (None, Some(url)) => new::VowSource::Git(url.to_owned()),
        (None, None) => new::VowSource::Registry(env!("CARGO_PKG_VERSION").to_owned()),
    };
    let dir = dir.map_or_else(|| std::path::PathBuf::from(name), |d| d.to_path_buf());
    let written = new::write(&dir, name, &source).map_err(CliError::Usage)?;
    emit(&format!(
        "wrote {} files to {}\nnext: cd {} && cargo test; its README.md says how to run and deploy it\n",
        written.len(),
        dir.display(),
        dir.display()
    ));
    Ok(ExitCode::SUCCESS)
}

/// Write to stdout. A closed pipe (`vow graph ID | head`) ends the program
/// quietly, as it would a Unix tool.
pub fn emit(text: &str) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("vow: cannot write to stdout: {e}");
        }
        std::process::exit(if e.kind() == std::io::ErrorKind::BrokenPipe {
            0
        } else {
            3
        });
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// A client of the stack the flags or the environment name, configured by
/// [`Vow::builder`] like every other entry point (`VOW_RECORD_TTL_DAYS`,
/// `VOW_SIGNING_KEYS`). Commands that only read the table do not need the queue.
pub async fn client(
    config: &SdkConfig,
    target: &Target,
    need_queue: bool,
) -> Result<Vow, CliError> {
    let table_name = target.table.clone().ok_or_else(|| {
        CliError::Usage(format!(
            "set {ENV_TABLE_NAME} or pass --table: the DynamoDB table (the stack's `TableName` output)"
        ))
    })?;
    let builder = Vow::builder().sdk_config(config).table_name(table_name);
    let builder = match (&target.queue_url, need_queue) {
        (Some(url), _) => builder.queue_url(url),
        (None, false) => builder.read_only(),
        (None, true) => builder.queue_url(queue_url(target)?),
    };
    // What can fail here is configuration: a malformed variable.
    builder
        .build()
        .await
        .map_err(|e| CliError::Usage(e.to_string()))
}

/// The work queue's URL from `--queue-url` or the environment.
fn queue_url(target: &Target) -> Result<String, CliError> {
    target.queue_url.clone().ok_or_else(|| {
        CliError::Usage(format!(
            "set {ENV_QUEUE_URL} or pass --queue-url: the work queue (the stack's `QueueUrl` output)"
        ))
    })
}

fn dlq_url(target: &Target) -> Result<String, CliError> {
    target.dlq_url.clone().ok_or_else(|| {
        CliError::Usage(format!(
            "set {ENV_DLQ_URL} or pass --dlq-url: the dead-letter queue's URL"
        ))
    })
}
