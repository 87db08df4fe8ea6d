//! `vow new` writes a self-contained project. Building it, its tests, its
//! clippy, its dev loop and its deployment files are checked by
//! tests/newcomer.sh (the newcomer's path, run by tests/run.sh).

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn vow(args: &[&str], dir: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_vow"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("vow runs")
}

#[test]
fn a_new_project_holds_everything_it_deploys() {
    let tmp = std::env::temp_dir().join(format!("vow-new-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).expect("temp dir");
    let checkout = repo().canonicalize().expect("checkout");
    let checkout = checkout.to_str().expect("utf-8 path");
    let out = vow(&["new", "my_shop", "--vow-path", checkout], &tmp);
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("wrote"));
    let dir = tmp.join("my_shop");
    let read = |file: &str| std::fs::read_to_string(dir.join(file)).expect(file);
    // The vow crates come from the checkout asked for, and nothing else
    // outside the project is named.
    for (file, text) in walk(&dir) {
        let outside = [
            format!("{checkout}/sdk\""),
            format!("{checkout}/lambda\""),
            format!("the checkout at `{checkout}`"),
        ]
        .iter()
        .fold(text.clone(), |text, allowed| text.replace(allowed, ""));
        assert!(!outside.contains(checkout), "{file} names the checkout");
        assert!(!text.contains("../../"), "{file} climbs out of the project");
    }
    assert!(read("Cargo.toml").contains(&format!("path = \"{checkout}/sdk\"")));
    // The SAM template nests the project's copy of vow's stack, whose code
    // paths lead back to the project's worker crate.
    assert!(read("template.yaml").contains("Location: vow/template.yaml"));
    let stack = read("vow/template.yaml");
    assert!(stack.contains("Default: ../worker\n"), "{stack}");
    assert!(dir.join("vow").join("../worker/Cargo.toml").is_file());
    assert!(read("terraform/main.tf").contains("source = \"./vow\""));
    assert!(dir.join("terraform/vow/main.tf").is_file());
    assert!(read("worker/Cargo.toml").contains("name = \"my_shop-worker\""));
    // Writing over it is refused.
    let again = vow(&["new", "my_shop"], &tmp);
    assert_eq!(again.status.code(), Some(2), "{again:?}");
    // A bad name is explained.
    let bad = vow(&["new", "My Shop"], &tmp);
    assert_eq!(bad.status.code(), Some(2), "{bad:?}");
    assert!(String::from_utf8_lossy(&bad.stderr).contains("lowercase"));
    let _ = std::fs::remove_dir_all(&tmp);
}

/// Every file under `dir`: relative path and text.
fn walk(dir: &Path) -> Vec<(String, String)> {
    let mut files = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).expect("readable").flatten() {
            let path = entry.path();
            if path.is_dir() {
                todo.push(path);
            } else if let Ok(text) = std::fs::read_to_string(&path) {
                let rel = path
                    .strip_prefix(dir)
                    .unwrap_or(&path)
                    .display()
                    .to_string();
                files.push((rel, text));
            }
        }
    }
    files
}

#[test]
fn commands_that_need_a_project_say_so() {
    let tmp = std::env::temp_dir();
    let out = vow(&["dev"], &tmp);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("vow new"),
        "{out:?}"
    );
}
