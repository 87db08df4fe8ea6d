//! Signing keys fetched at start-up from a Secrets Manager secret (moto serves
//! Secrets Manager on the DynamoDB emulator's endpoint,
//! `AWS_ENDPOINT_URL_SECRETS_MANAGER`), in the JSON the SAM template and the
//! Terraform module generate: clients built with only `VOW_SIGNING_SECRET_ARN`
//! sign and verify, and a message signed with another key is refused.
//!
//! The builder reads the process environment, so this file (its own test
//! binary) holds a single test that sets it.

use std::time::Duration;
use vow::signing::{SigningKeys, ENV_SIGNING_KEYS, ENV_SIGNING_SECRET_ARN, ENV_UNSIGNED};
use vow::{Status, Vow};
use vow_e2e::{test_engine, timer_table, Stack};
use vow_samples::Square;

const WAIT: Duration = Duration::from_secs(120);

/// A client of `stack`'s queue and table whose signing comes from the
/// environment, as the functions and producers build theirs.
async fn from_env(stack: &Stack, config: &vow::aws::SdkConfig) -> Result<Vow, vow::BackendError> {
    Vow::builder()
        .sdk_config(config)
        .queue_url(&stack.names.queue_url)
        .table_name(&stack.names.table_name)
        .timer_table(Some(timer_table(&stack.names.table_name)))
        .engine(test_engine())
        .build()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keys_from_a_generated_secret_sign_and_another_key_is_refused() {
    vow_e2e::require_emulators();
    // Unsigned stack: only its queues, table and clients to look with.
    let stack = Stack::new("secret", 2).await;
    let config = vow::aws::sdk_config().await;
    let secrets = aws_sdk_secretsmanager::Client::new(&config);
    // What `GenerateSecretString` makes of the templates' settings: the
    // template {"kid":"k1"} with a 64-character alphanumeric `key`.
    let key: String = std::iter::repeat_with(fastrand::alphanumeric)
        .take(64)
        .collect();
    let secret = secrets
        .create_secret()
        .name(format!("{}-signing", stack.names.table_name))
        .secret_string(format!(r#"{{"kid":"k1","key":"{key}"}}"#))
        .send()
        .await
        .expect("create the secret");
    let arn = secret.arn().expect("an ARN").to_owned();

    // The builder reads these; this binary runs only this test.
    std::env::remove_var(ENV_SIGNING_KEYS);
    std::env::remove_var(ENV_UNSIGNED);
    std::env::set_var(ENV_SIGNING_SECRET_ARN, &arn);

    let worker = from_env(&stack, &config).await.expect("worker client");
    let producer = from_env(&stack, &config).await.expect("producer client");
    assert!(worker.engine().is_signing(), "the secret's key signs");
    assert!(producer.engine().is_signing());
    let dlq: std::sync::Arc<dyn vow::queue::Queue> =
        std::sync::Arc::new(vow::aws::SqsQueue::new(stack.sqs.clone(), &stack.dlq_url));
    let workers = worker.run_workers(2, Some(dlq), Duration::from_secs(1));

    // A small flow, signed and verified with the secret's key.
    let flow = producer.flow();
    let squared = flow.when(Square(12));
    producer.start(&flow).await.expect("start");
    assert_eq!(producer.wait(&squared, WAIT).await.expect("wait"), Ok(144));

    // The same key id with another secret: refused, the task never runs.
    let forger = Vow::builder()
        .sdk_config(&config)
        .queue_url(&stack.names.queue_url)
        .table_name(&stack.names.table_name)
        .timer_table(Some(timer_table(&stack.names.table_name)))
        .engine(test_engine())
        .signing_keys(SigningKeys::parse("k1=not-the-generated-key-0123456789").expect("keys"))
        .build()
        .await
        .expect("forger client");
    let flow = forger.flow();
    let forged = flow.when(Square(5));
    forger.start(&flow).await.expect("sent");
    tokio::time::sleep(Duration::from_secs(5)).await;
    let status = stack.vow.status(forged.id()).await.expect("status");
    assert!(
        !matches!(status, Status::Done(_)),
        "a message signed with another key ran: {status:?}"
    );
    // A message signed by the secret's key still runs meanwhile.
    let flow = producer.flow();
    let again = flow.when(Square(3));
    producer.start(&flow).await.expect("start");
    assert_eq!(producer.wait(&again, WAIT).await.expect("wait"), Ok(9));
    let status = stack.vow.status(forged.id()).await.expect("status");
    assert!(!matches!(status, Status::Done(_)), "{status:?}");

    // A missing secret fails the start-up, naming the variable and the ARN.
    let missing = format!("{arn}-missing");
    std::env::set_var(ENV_SIGNING_SECRET_ARN, &missing);
    let err = from_env(&stack, &config).await.expect_err("no such secret");
    let text = err.to_string();
    assert!(
        text.contains(ENV_SIGNING_SECRET_ARN) && text.contains(&missing),
        "{text}"
    );
    // A secret that is not in either format, likewise, without echoing it.
    let bad = secrets
        .create_secret()
        .name(format!("{}-bad", stack.names.table_name))
        .secret_string(r#"{"kid":"k1","key":"too-short"}"#)
        .send()
        .await
        .expect("create the bad secret");
    let bad_arn = bad.arn().expect("an ARN").to_owned();
    std::env::set_var(ENV_SIGNING_SECRET_ARN, &bad_arn);
    let text = from_env(&stack, &config)
        .await
        .expect_err("bad secret")
        .to_string();
    assert!(
        text.contains(&bad_arn) && !text.contains("too-short"),
        "{text}"
    );
    // Unsigned on purpose and keys at once: refused.
    std::env::set_var(ENV_SIGNING_SECRET_ARN, &arn);
    std::env::set_var(ENV_UNSIGNED, "1");
    let text = from_env(&stack, &config)
        .await
        .expect_err("both")
        .to_string();
    assert!(text.contains(ENV_UNSIGNED), "{text}");
    std::env::remove_var(ENV_UNSIGNED);
    std::env::remove_var(ENV_SIGNING_SECRET_ARN);

    workers.shutdown().await;
}
