//! `vow new` writes a project that builds: its worker serves the renamed tasks.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn a_new_project_builds_and_its_worker_serves_its_tasks() {
    // The workspace's target directory, so the vow crates and the AWS SDK build
    // once (the starter project in examples/orders shares it too).
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| repo().join("target"), PathBuf::from);
    let dir = target.join("vow-new-test").join("shop");
    let _ = std::fs::remove_dir_all(&dir);
    let out = Command::new(env!("CARGO_BIN_EXE_vow"))
        .args(["new", "shop", "--dir"])
        .arg(&dir)
        .arg("--vow-path")
        .arg(repo())
        .output()
        .expect("vow runs");
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("wrote"));
    let built = Command::new(env!("CARGO"))
        .args(["build", "--quiet", "--bins", "--manifest-path"])
        .arg(dir.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", &target)
        .status()
        .expect("cargo runs");
    assert!(built.success(), "the new project builds");
    let listed = Command::new(target.join("debug").join("shop-worker"))
        .arg("--list-tasks")
        .output()
        .expect("the new worker runs");
    assert!(listed.status.success(), "{listed:?}");
    let text = String::from_utf8_lossy(&listed.stdout);
    for tag in [
        "shop/validate",
        "shop/charge-payment",
        "shop/refund-payment",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(&format!("{tag}\t"))),
            "{tag} in {text}"
        );
    }
    // Its deployment files find the vow stack in the checkout, and the stack
    // finds its worker.
    let line = |file: &str, key: &str| {
        let text = std::fs::read_to_string(dir.join(file)).expect(file);
        let line = text.lines().find(|l| l.trim_start().starts_with(key));
        let value = line.unwrap_or_else(|| panic!("{key} in {file}"));
        value.trim_start()[key.len()..]
            .trim()
            .trim_matches('"')
            .to_owned()
    };
    let location = dir.join(line("template.yaml", "Location:"));
    assert!(location.is_file(), "{}", location.display());
    let code = repo()
        .join("infra/sam")
        .join(line("template.yaml", "WorkerCodeUri:"));
    assert_eq!(
        code.canonicalize().expect("the worker's code"),
        dir.join("worker").canonicalize().expect("worker dir")
    );
    let module = dir
        .join("terraform")
        .join(line("terraform/main.tf", "source ="));
    assert!(module.join("main.tf").is_file(), "{}", module.display());
    // Writing over it is refused.
    let again = Command::new(env!("CARGO_BIN_EXE_vow"))
        .args(["new", "shop", "--dir"])
        .arg(&dir)
        .output()
        .expect("vow runs");
    assert_eq!(again.status.code(), Some(2), "{again:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
