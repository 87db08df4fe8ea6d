//! The worker function: runs the workflow's tasks from the work queue on
//! Lambda. With `--local` (what `vow dev` runs) it polls the queue from this
//! process instead, and only against emulators on this machine.

use std::time::Duration;

#[tokio::main]
async fn main() -> Result<(), vow_lambda::Error> {
    if std::env::args().any(|arg| arg == "--local") {
        return local().await;
    }
    let tasks = {{crate}}::tasks();
    vow_lambda::Worker::new().tasks(tasks).run().await
}

/// Serve the queue from this process until Ctrl-C, against the emulators the
/// environment names (`vow dev` writes it), creating the orders table there.
async fn local() -> Result<(), vow_lambda::Error> {
    vow::check_tasks(&[{{crate}}::tasks()])?;
    for service in ["SQS", "DYNAMODB"] {
        let var = format!("AWS_ENDPOINT_URL_{service}");
        let url = std::env::var(&var)
            .or_else(|_| std::env::var("AWS_ENDPOINT_URL"))
            .unwrap_or_default();
        if !is_loopback(&url) {
            let why = format!(
                "--local serves emulators on this machine only, and {var} is `{url}`: \
                 start them with `vow dev`"
            );
            return Err(why.into());
        }
    }
    let orders = {{crate}}::DynamoDb::from_env().await;
    orders.create_table("{{name}}-orders").await?;
    let vow = vow::Vow::aws().await?;
    let workers = vow.run_workers(2, None, Duration::from_secs(1));
    eprintln!("serving the work queue locally; Ctrl-C stops");
    workers
        .shutdown_on(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await;
    Ok(())
}

/// Whether `url` is an http(s) URL of this machine.
fn is_loopback(url: &str) -> bool {
    let Some((_, rest)) = url.split_once("://") else {
        return false;
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_this_machine_is_local() {
        for url in [
            "http://127.0.0.1:4566",
            "http://localhost:4569/",
            "http://[::1]:1",
        ] {
            assert!(super::is_loopback(url), "{url}");
        }
        for url in [
            "",
            "https://sqs.us-east-1.amazonaws.com",
            "http://10.0.0.1:4566",
        ] {
            assert!(!super::is_loopback(url), "{url}");
        }
    }
}
