//! The worker binary serves every task of the workflow.

#[test]
fn the_worker_serves_the_workflow() {
    let worker = env!("CARGO_BIN_EXE_{{name}}-worker");
    let out = std::process::Command::new(worker)
        .arg("--list-tasks")
        .output()
        .expect("the worker runs");
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let tags: Vec<&str> = text.lines().filter_map(|l| l.split('\t').next()).collect();
    for step in [
        "validate",
        "fulfil",
        "reserve-stock",
        "charge-payment",
        "finish",
    ] {
        let tag = format!("{{name}}/{step}");
        assert!(tags.contains(&tag.as_str()), "{tag} in {text}");
    }
}

#[test]
fn local_mode_refuses_a_remote_endpoint() {
    let worker = env!("CARGO_BIN_EXE_{{name}}-worker");
    let out = std::process::Command::new(worker)
        .arg("--local")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_ENDPOINT_URL_DYNAMODB")
        .env(
            "AWS_ENDPOINT_URL_SQS",
            "https://sqs.us-east-1.amazonaws.com",
        )
        .output()
        .expect("the worker runs");
    assert!(!out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("vow dev"), "{text}");
}
