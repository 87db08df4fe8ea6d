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

/// The starter's deployment files. They use the vow stack from a checkout of
/// the vow repository, so they are written only with [`VowSource::Path`].
const INFRA: &[(&str, &str)] = starter![
    "template.yaml",
    "samconfig.toml",
    "terraform/main.tf",
    "terraform/variables.tf",
    "terraform/outputs.tf",
];

/// Where the starter's deployment files point into the repository, after
/// renaming (`{name}` is the project's name): the file, the text, and the
/// directory the path is relative to (`Project`: the file's own directory in
/// the project; `Sam`: `infra/sam` of the checkout), with the target (in the
/// checkout, or in the project).
const INFRA_PATHS: [(&str, &str, Base, Target); 4] = [
    (
        "template.yaml",
        "Location: ../../infra/sam/template.yaml",
        Base::Project(""),
        Target::Checkout("infra/sam/template.yaml"),
    ),
    (
        "template.yaml",
        "WorkerCodeUri: ../../examples/{name}/worker",
        Base::Sam,
        Target::Project("worker"),
    ),
    (
        "template.yaml",
        "DeadLetterCodeUri: ../../examples/{name}/worker",
        Base::Sam,
        Target::Project("worker"),
    ),
    (
        "terraform/main.tf",
        "source = \"../../../infra/terraform/modules/vow\"",
        Base::Project("terraform"),
        Target::Checkout("infra/terraform/modules/vow"),
    ),
];

/// What a path in a deployment file is relative to.
#[derive(Clone, Copy)]
enum Base {
    /// This directory of the new project.
    Project(&'static str),
    /// The vow stack's SAM template's directory, which resolves the nested
    /// stack's code URIs.
    Sam,
}

/// What a path in a deployment file points at.
#[derive(Clone, Copy)]
enum Target {
    /// This path in the vow checkout.
    Checkout(&'static str),
    /// This path in the new project.
    Project(&'static str),
}

/// The starter's name, replaced by the new project's.
const STARTER: &str = "orders";

/// How the starter depends on the vow crates (by path, inside the repository).
const STARTER_DEPS: [(&str, &str); 2] = [
    (
        "vow = { package = \"vow-sdk\", path = \"../../sdk\" }",
        "sdk",
    ),
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

/// The files of project `name`, to be written at `at` (an absolute path):
/// relative path and contents. The deployment files come only with a vow
/// checkout.
pub fn project(name: &str, vow: &VowSource, at: &Path) -> Result<Vec<(String, String)>, String> {
    check_name(name)?;
    let infra: &[(&str, &str)] = match vow {
        VowSource::Path(_) => INFRA,
        VowSource::Registry(_) => &[],
    };
    FILES
        .iter()
        .chain(infra)
        .map(|(path, text)| {
            let mut text = rename(text, name);
            if *path == "Cargo.toml" {
                for (line, dir) in STARTER_DEPS {
                    let krate = line.split(' ').next().unwrap_or_default();
                    // The SDK is published as `vow-sdk`; its library is `vow`.
                    let package = if krate == "vow" {
                        "package = \"vow-sdk\", "
                    } else {
                        ""
                    };
                    let dep = match vow {
                        VowSource::Registry(version) if package.is_empty() => {
                            format!("{krate} = \"{version}\"")
                        }
                        VowSource::Registry(version) => {
                            format!("{krate} = {{ {package}version = \"{version}\" }}")
                        }
                        VowSource::Path(root) => format!(
                            "{krate} = {{ {package}path = \"{}\" }}",
                            slashes(&root.join(dir))
                        ),
                    };
                    text = replace_once(&text, line, &dep)?;
                }
            }
            if let VowSource::Path(root) = vow {
                for (file, line, base, target) in INFRA_PATHS {
                    if file != *path {
                        continue;
                    }
                    let line = line.replace("{name}", name);
                    let (key, _) = line.split_at(line.find(['"', '.']).unwrap_or(line.len()));
                    let from = match base {
                        Base::Project(dir) => at.join(dir),
                        Base::Sam => root.join("infra/sam"),
                    };
                    let to = match target {
                        Target::Checkout(p) => root.join(p),
                        Target::Project(p) => at.join(p),
                    };
                    let quote = if line.contains('"') { "\"" } else { "" };
                    let new = format!("{key}{quote}{}{quote}", slashes(&relative(&from, &to)));
                    text = replace_once(&text, &line, &new)?;
                }
            }
            Ok((rename(path, name), text))
        })
        .collect()
}

/// `text` with `old`, which must be there, replaced by `new`.
fn replace_once(text: &str, old: &str, new: &str) -> Result<String, String> {
    if !text.contains(old) {
        return Err(format!("the embedded starter lacks `{old}`"));
    }
    Ok(text.replacen(old, new, 1))
}

/// A path with `/` separators, as Cargo, SAM and Terraform files write them.
fn slashes(path: &Path) -> String {
    path.display().to_string().replace('\\', "/")
}

/// The path from directory `from` to `to`, both absolute: `..` up to their
/// common ancestor, then down.
fn relative(from: &Path, to: &Path) -> PathBuf {
    let from: Vec<_> = from.components().collect();
    let to: Vec<_> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut path = PathBuf::new();
    for _ in common..from.len() {
        path.push("..");
    }
    for part in &to[common..] {
        path.push(part);
    }
    if path.starts_with("..") {
        path
    } else {
        Path::new(".").join(path)
    }
}

/// Write project `name` into `dir`, which must not exist or be empty; returns
/// the paths written.
pub fn write(dir: &Path, name: &str, vow: &VowSource) -> Result<Vec<PathBuf>, String> {
    check_name(name)?;
    let occupied = std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some());
    if occupied {
        return Err(format!("{} exists and is not empty", dir.display()));
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let at = dir
        .canonicalize()
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut written = Vec::new();
    for (path, text) in project(name, vow, &at)? {
        let path = at.join(path);
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
        let at = Path::new("/home/ada/my-shop");
        let files = project("my-shop", &VowSource::Registry("0.1.0".into()), at).expect("project");
        let get = |path: &str| {
            files
                .iter()
                .find(|(p, _)| p == path)
                .map(|(_, t)| t.as_str())
                .unwrap_or_else(|| panic!("{path} is written"))
        };
        let workspace = get("Cargo.toml");
        assert!(
            workspace.contains("vow = { package = \"vow-sdk\", version = \"0.1.0\" }\n"),
            "{workspace}"
        );
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
        assert!(
            files.iter().all(|(p, _)| p != "template.yaml"),
            "no deployment files without a vow checkout"
        );
    }

    #[test]
    fn a_path_source_points_into_the_checkout() {
        let root = PathBuf::from("/src/vow");
        let at = Path::new("/home/ada/shop");
        let files = project("shop", &VowSource::Path(root), at).expect("project");
        let get = |path: &str| &files.iter().find(|(p, _)| p == path).expect(path).1;
        let workspace = get("Cargo.toml");
        assert!(
            workspace.contains("vow = { package = \"vow-sdk\", path = \"/src/vow/sdk\" }"),
            "{workspace}"
        );
        assert!(workspace.contains("vow-lambda = { path = \"/src/vow/lambda\" }"));
        let sam = get("template.yaml");
        assert!(
            sam.contains("Location: ../../../src/vow/infra/sam/template.yaml\n"),
            "{sam}"
        );
        assert!(
            sam.contains("WorkerCodeUri: ../../../../home/ada/shop/worker\n"),
            "{sam}"
        );
        assert!(sam.contains("WorkerBinary: shop-worker\n"), "{sam}");
        assert!(sam.contains("DeadLetterCodeUri: ../../../../home/ada/shop/worker\n"));
        let tf = get("terraform/main.tf");
        assert!(
            tf.contains("source = \"../../../../src/vow/infra/terraform/modules/vow\"\n"),
            "{tf}"
        );
        assert!(tf.contains("/shop-worker/bootstrap.zip"), "{tf}");
    }

    #[test]
    fn relative_paths_climb_to_the_common_ancestor() {
        let rel = |a: &str, b: &str| relative(Path::new(a), Path::new(b));
        assert_eq!(rel("/a/b/c", "/a/d"), PathBuf::from("../../d"));
        assert_eq!(rel("/a", "/a/b"), PathBuf::from("./b"));
        assert_eq!(rel("/a/b", "/a/b"), PathBuf::from("."));
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
