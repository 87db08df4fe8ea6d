//! `vow dev`: the local dev loop. It runs the emulator scripts of vow's test
//! suite (`tests/emulators`, embedded in this binary): LocalStack in host mode
//! for SQS and moto, single-threaded, for DynamoDB, installed once into a
//! cache and started on loopback. Then it creates the project's queues and
//! promise and timer tables there, writes `.vow/dev.env`, and runs the project's worker
//! with `--local` until Ctrl-C (or SIGTERM), and stops the emulators.

use crate::project::{dev_env_path, Project};
use crate::{emit, CliError};
use std::path::Path;
use std::process::{Command, ExitCode};
use vow::aws::setup;

/// The emulator scripts: file name, text.
const SCRIPTS: [(&str, &str); 5] = [
    (
        "install.sh",
        include_str!("../../tests/emulators/install.sh"),
    ),
    ("start.sh", include_str!("../../tests/emulators/start.sh")),
    ("stop.sh", include_str!("../../tests/emulators/stop.sh")),
    (
        "requirements.txt",
        include_str!("../../tests/emulators/requirements.txt"),
    ),
    (
        "moto_dynamodb.py",
        include_str!("../../tests/emulators/moto_dynamodb.py"),
    ),
];

/// The local stack's AWS settings: loopback endpoints, a region and dummy
/// keys, so that nothing reaches an AWS account.
pub fn local_aws_env(sqs_port: u16, dynamodb_port: u16) -> Vec<(String, String)> {
    [
        (
            "AWS_ENDPOINT_URL_SQS",
            format!("http://127.0.0.1:{sqs_port}"),
        ),
        (
            "AWS_ENDPOINT_URL_DYNAMODB",
            format!("http://127.0.0.1:{dynamodb_port}"),
        ),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_DEFAULT_REGION", "us-east-1".to_owned()),
        ("AWS_ACCESS_KEY_ID", "test".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// Run the dev loop of `project`. The process's environment already holds
/// [`local_aws_env`] (set before the runtime started).
pub async fn dev(
    project: &Project,
    sqs_port: u16,
    dynamodb_port: u16,
) -> Result<ExitCode, CliError> {
    let dot = project.root.join(".vow");
    let scripts = dot.join("emulators");
    let logs = dot.join("dev");
    write_scripts(&scripts)?;
    let venv = std::env::var_os("VOW_EMULATOR_VENV").map_or_else(
        || {
            let home = std::env::var_os("HOME").unwrap_or_default();
            Path::new(&home).join(".cache/vow/emulators")
        },
        Into::into,
    );
    let script = |name: &str| {
        let mut command = Command::new("bash");
        command
            .arg(scripts.join(name))
            .env("VOW_EMULATOR_VENV", &venv)
            .env("VOW_EMULATOR_LOGS", &logs)
            .env("VOW_SQS_PORT", sqs_port.to_string())
            .env("VOW_DYNAMODB_PORT", dynamodb_port.to_string());
        command
    };
    run(script("install.sh"), "installing the emulators")?;
    // start.sh prints the variables it exported; they are in dev.env below.
    let started = script("start.sh")
        .stdout(std::process::Stdio::null())
        .status()
        .map_err(|e| CliError::Usage(format!("cannot run start.sh: {e}")))?;
    if !started.success() {
        return Err(CliError::Usage(format!(
            "the emulators did not start (logs in {})",
            logs.display()
        )));
    }
    let outcome = serve(project, &dot).await;
    let _ = std::fs::remove_file(dev_env_path(&project.root));
    let _ = script("stop.sh")
        .stdout(std::process::Stdio::null())
        .status();
    outcome
}

/// Create the stack on the running emulators, write dev.env, run the worker.
async fn serve(project: &Project, dot: &Path) -> Result<ExitCode, CliError> {
    let config = vow::aws::sdk_config().await;
    let stack = format!("{}-dev", project.name.replace('_', "-"));
    let sqs = aws_sdk_sqs::Client::new(&config);
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let (queue_url, dlq_url) = setup::ensure_queues(&sqs, &stack, 5, 60).await?;
    setup::ensure_table(&dynamodb, &stack).await?;
    let timers = format!("{stack}-timers");
    setup::ensure_timer_table(&dynamodb, &timers).await?;
    let mut env: Vec<(String, String)> = ["SQS", "DYNAMODB"]
        .iter()
        .map(|s| format!("AWS_ENDPOINT_URL_{s}"))
        .chain(
            [
                "AWS_REGION",
                "AWS_DEFAULT_REGION",
                "AWS_ACCESS_KEY_ID",
                "AWS_SECRET_ACCESS_KEY",
                "AWS_EC2_METADATA_DISABLED",
            ]
            .map(String::from),
        )
        .filter_map(|k| std::env::var(&k).ok().map(|v| (k, v)))
        .collect();
    env.push((vow::aws::ENV_QUEUE_URL.to_owned(), queue_url));
    env.push((vow::aws::ENV_TABLE_NAME.to_owned(), stack.clone()));
    env.push((vow::aws::ENV_DLQ_URL.to_owned(), dlq_url));
    env.push((vow::aws::ENV_TIMER_TABLE.to_owned(), timers));
    // The local stack runs unsigned, by choice, unless you gave it keys.
    let keyed = [
        vow::signing::ENV_SIGNING_KEYS,
        vow::signing::ENV_SIGNING_SECRET_ARN,
    ]
    .iter()
    .any(|k| std::env::var_os(k).is_some());
    if !keyed {
        env.push((vow::signing::ENV_UNSIGNED.to_owned(), "1".to_owned()));
    }
    let worker = project.build_worker()?;
    let mut text = String::from(
        "# Written by `vow dev` while it runs: its local stack. The vow command reads\n\
         # it when given no --queue-url/--table; `source` it for your own programs.\n",
    );
    for (k, v) in &env {
        text.push_str(&format!("export {k}={v}\n"));
    }
    std::fs::write(dev_env_path(&project.root), text)
        .map_err(|e| CliError::Usage(format!("cannot write {}: {e}", dot.display())))?;
    let mut child = tokio::process::Command::new(&worker)
        .arg("--local")
        .envs(env)
        .current_dir(&project.root)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| CliError::Usage(format!("cannot run {}: {e}", worker.display())))?;
    emit(&format!(
        "vow dev: {} serves the queue of stack `{stack}` on the emulators; Ctrl-C stops\n",
        project.worker
    ));
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| CliError::Usage(format!("cannot watch signals: {e}")))?;
    tokio::select! {
        status = child.wait() => {
            let status = status.map_err(|e| CliError::Usage(e.to_string()))?;
            return Err(CliError::Usage(format!("{} stopped: {status}", project.worker)));
        }
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    let _ = child.kill().await;
    emit("vow dev: stopped\n");
    Ok(ExitCode::SUCCESS)
}

fn write_scripts(dir: &Path) -> Result<(), CliError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| CliError::Usage(format!("cannot create {}: {e}", dir.display())))?;
    for (name, text) in SCRIPTS {
        let path = dir.join(name);
        std::fs::write(&path, text)
            .map_err(|e| CliError::Usage(format!("cannot write {}: {e}", path.display())))?;
        if name.ends_with(".sh") {
            // start.sh runs stop.sh itself.
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
                .map_err(|e| CliError::Usage(format!("cannot chmod {}: {e}", path.display())))?;
        }
    }
    Ok(())
}

fn run(mut command: Command, what: &str) -> Result<(), CliError> {
    // Progress on stderr, so stdout keeps to what `vow dev` reports.
    let status = command
        .stdout(std::io::stderr())
        .status()
        .map_err(|e| CliError::Usage(format!("{what}: {e}")))?;
    if status.success() {
        Ok(())
    } else {
        Err(CliError::Usage(format!("{what} failed ({status})")))
    }
}
