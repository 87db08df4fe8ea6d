//! The worker binary serves the samples' tasks.

#[test]
fn the_worker_lists_the_sample_tasks() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vow-worker"))
        .arg("--list-tasks")
        .output()
        .expect("the worker runs");
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let tags: Vec<&str> = text.lines().filter_map(|l| l.split('\t').next()).collect();
    for tag in ["samples/map-count", "samples/shout", "samples/slow-step"] {
        assert!(tags.contains(&tag), "{tag} in {text}");
    }
}
