//! `vow new <name>`: write a new vow project. It is the repository's starter
//! project (`examples/orders`: a task crate, worker binaries, tests, a README),
//! embedded in this binary, with `orders` renamed to `<name>` in file names,
//! crate names, binaries, task tags and Rust paths.

use std::path::{Path, PathBuf};

/// The starter project's files, relative to `examples/orders`.
macro_rules! starter {
    ($($path:literal),* $(,)?) => {
        &[$(($path, include_str!(concat!("../../examples/orders/", $path)))),*]
    };
}

const FILES: &[(&str, &str)] = starter![
    ".gitignore",
    "Cargo.toml",
    "Cargo.lock",
    "README.md",
    "tasks/Cargo.toml",
    "tasks/src/lib.rs",
    "tasks/src/model.rs",
    "tasks/src/services.rs",
    "tasks/src/table.rs",
    "tasks/src/validate.rs",
    "tasks/src/workflow.rs",
    "tasks/examples/place-order.rs",
    "tasks/tests/workflow.rs",
    "worker/Cargo.toml",
    "worker/src/bin/orders-worker.rs",
    "worker/src/bin/orders-dead-letter.rs",
    "worker/tests/list_tasks.rs",
];

/// The starter's name, replaced by the new project's.
const STARTER: &str = "orders";

/// How the starter depends on the vow crates (by path, inside the repository).
const STARTER_DEPS: [(&str, &str); 2] = [
    ("vow = { path = \"../../sdk\" }", "sdk"),
    ("vow-lambda = { path = \"../../lambda\" }", "lambda"),
];

/// Check a project name: lowercase letters, digits and `-`, starting with a
/// letter, at most 40 characters, and not a name the Rust toolchain reserves.
pub fn check_name(name: &str) -> Result<(), String> {
    let shape = name.len() <= 40
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !shape {
        return Err(format!(
            "`{name}`: a project name is lowercase letters, digits and `-`, starts with a \
             letter, and has at most 40 characters"
        ));
    }
    const RESERVED: [&str; 9] = [
        "vow",
        "std",
        "core",
        "alloc",
        "test",
        "proc-macro",
        "self",
        "super",
        "crate",
    ];
    let snake = name.replace('-', "_");
    if RESERVED.contains(&name) || is_keyword(&snake) {
        return Err(format!("`{name}` is reserved: choose another name"));
    }
    Ok(())
}

fn is_keyword(word: &str) -> bool {
    const KEYWORDS: [&str; 38] = [
        "as", "async", "await", "break", "const", "continue", "dyn", "else", "enum", "extern",
        "false", "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut",
        "pub", "ref", "return", "static", "struct", "trait", "true", "type", "unsafe", "use",
        "where", "while", "abstract", "box", "gen", "try",
    ];
    KEYWORDS.contains(&word)
}

/// `text` with every whole word `orders` renamed: to `name` with `-` turned
/// into `_` before `::` (a Rust path), to `name` elsewhere.
pub fn rename(text: &str, name: &str) -> String {
    let snake = name.replace('-', "_");
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(STARTER) {
        let (before, after) = (&rest[..at], &rest[at + STARTER.len()..]);
        out.push_str(before);
        let starts = !out.chars().next_back().is_some_and(word);
        let ends = !after.chars().next().is_some_and(word);
        if starts && ends {
            out.push_str(if after.starts_with("::") {
                &snake
            } else {
                name
            });
        } else {
            out.push_str(STARTER);
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

/// Where the new project's vow crates come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VowSource {
    /// crates.io, at this version.
    Registry(String),
    /// A checkout of the vow repository.
    Path(PathBuf),
}

/// The files of project `name`: relative path and contents.
pub fn project(name: &str, vow: &VowSource) -> Result<Vec<(String, String)>, String> {
    check_name(name)?;
    FILES
        .iter()
        .map(|(path, text)| {
            let mut text = rename(text, name);
            if *path == "Cargo.toml" {
                for (line, dir) in STARTER_DEPS {
                    let krate = line.split(' ').next().unwrap_or_default();
                    let dep = match vow {
                        VowSource::Registry(version) => format!("{krate} = \"{version}\""),
                        VowSource::Path(root) => format!(
                            "{krate} = {{ path = \"{}\" }}",
                            root.join(dir).display().to_string().replace('\\', "/")
                        ),
                    };
                    if !text.contains(line) {
                        return Err(format!("the embedded starter lacks `{line}`"));
                    }
                    text = text.replace(line, &dep);
                }
            }
            Ok((rename(path, name), text))
        })
        .collect()
}

/// Write project `name` into `dir`, which must not exist or be empty; returns
/// the paths written.
pub fn write(dir: &Path, name: &str, vow: &VowSource) -> Result<Vec<PathBuf>, String> {
    let files = project(name, vow)?;
    let occupied = std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some());
    if occupied {
        return Err(format!("{} exists and is not empty", dir.display()));
    }
    let mut written = Vec::new();
    for (path, text) in files {
        let path = dir.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        for good in ["shop", "my-shop", "a1", "invoices-2"] {
            assert_eq!(check_name(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "Shop",
            "1shop",
            "my_shop",
            "shop-",
            "my shop",
            "vow",
            "test",
            "type",
            "../x",
            &"x".repeat(41),
        ] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn only_the_word_orders_is_renamed() {
        let text = "use orders::{Order}; orders-worker \"orders/validate\" orders_table \
                    OrdersTableName reorders orders.";
        assert_eq!(
            rename(text, "my-shop"),
            "use my_shop::{Order}; my-shop-worker \"my-shop/validate\" orders_table \
             OrdersTableName reorders my-shop."
        );
        assert_eq!(rename("orders", "shop"), "shop");
    }

    #[test]
    fn the_project_is_the_starter_renamed() {
        let files = project("my-shop", &VowSource::Registry("0.1.0".into())).expect("project");
        let get = |path: &str| {
            files
                .iter()
                .find(|(p, _)| p == path)
                .map(|(_, t)| t.as_str())
                .unwrap_or_else(|| panic!("{path} is written"))
        };
        let workspace = get("Cargo.toml");
        assert!(workspace.contains("vow = \"0.1.0\"\n"), "{workspace}");
        assert!(
            workspace.contains("vow-lambda = \"0.1.0\"\n"),
            "{workspace}"
        );
        assert!(
            workspace.contains("my-shop = { path = \"tasks\" }"),
            "{workspace}"
        );
        assert!(
            !workspace.contains("../../"),
            "no path into the vow repository"
        );
        assert!(get("tasks/Cargo.toml").contains("name = \"my-shop\""));
        let worker = get("worker/Cargo.toml");
        assert!(worker.contains("name = \"my-shop-worker\""), "{worker}");
        assert!(worker.contains("path = \"src/bin/my-shop-dead-letter.rs\""));
        assert!(get("worker/src/bin/my-shop-worker.rs").contains(".tasks(my_shop::tasks())"));
        assert!(get("tasks/src/workflow.rs").contains("#[vow::task(\"my-shop/validate\")]"));
        for (path, text) in &files {
            let left = rename(text, "x") != *text;
            assert!(!left, "{path} still names the starter");
        }
    }

    #[test]
    fn a_path_source_points_into_the_checkout() {
        let root = PathBuf::from("/src/vow");
        let files = project("shop", &VowSource::Path(root)).expect("project");
        let workspace = &files
            .iter()
            .find(|(p, _)| p == "Cargo.toml")
            .expect("manifest")
            .1;
        assert!(
            workspace.contains("vow = { path = \"/src/vow/sdk\" }"),
            "{workspace}"
        );
        assert!(workspace.contains("vow-lambda = { path = \"/src/vow/lambda\" }"));
    }

    #[test]
    fn it_writes_only_into_an_empty_directory() {
        let dir = std::env::temp_dir().join(format!("vow-new-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let source = VowSource::Registry("0.1.0".into());
        let written = write(&dir, "shop", &source).expect("written");
        assert_eq!(written.len(), FILES.len());
        assert!(dir.join("worker/src/bin/shop-worker.rs").is_file());
        let again = write(&dir, "shop", &source);
        assert!(again.is_err_and(|e| e.contains("not empty")));
        std::fs::remove_dir_all(&dir).expect("clean up");
    }
}
