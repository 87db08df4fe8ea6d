//! The worker binary serves every task of the order workflow.

#[test]
fn the_worker_serves_the_order_workflow() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_orders-worker"))
        .arg("--list-tasks")
        .output()
        .expect("the worker runs");
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let tags: Vec<&str> = text.lines().filter_map(|l| l.split('\t').next()).collect();
    for step in [
        "validate",
        "fulfil",
        "reserve-stock",
        "charge-payment",
        "finish",
        "release-stock",
        "refund-payment",
        "cancel",
    ] {
        let tag = format!("orders/{step}");
        assert!(tags.contains(&tag.as_str()), "{tag} in {text}");
    }
}
