//! `vow new <name>`: write a new vow project from the templates in
//! `cli/templates/starter` (embedded in this binary): a task crate with an
//! order workflow behind a data seam, its worker binaries, tests that run
//! embedded, a README, and deployment files that carry their own copy of
//! vow's stack (the SAM template and the Terraform module of this release).

use std::path::{Path, PathBuf};

/// The starter's files: path in the project, template text.
macro_rules! starter {
    ($(($path:literal, $file:literal)),* $(,)?) => {
        &[$(($path, include_str!(concat!("../templates/starter/", $file)))),*]
    };
}

const FILES: &[(&str, &str)] = starter![
    (".gitignore", "gitignore"),
    ("Cargo.toml", "Cargo.toml"),
    ("README.md", "README.md"),
    ("tasks/Cargo.toml", "tasks/Cargo.toml"),
    ("tasks/src/lib.rs", "tasks/src/lib.rs"),
    ("tasks/src/model.rs", "tasks/src/model.rs"),
    ("tasks/src/store.rs", "tasks/src/store.rs"),
    ("tasks/src/workflow.rs", "tasks/src/workflow.rs"),
    ("tasks/tests/workflow.rs", "tasks/tests/workflow.rs"),
    (
        "tasks/examples/place-order.rs",
        "tasks/examples/place-order.rs"
    ),
    ("worker/Cargo.toml", "worker/Cargo.toml"),
    ("worker/src/bin/worker.rs", "worker/src/bin/worker.rs"),
    (
        "worker/src/bin/dead-letter.rs",
        "worker/src/bin/dead-letter.rs"
    ),
    ("worker/tests/list_tasks.rs", "worker/tests/list_tasks.rs"),
    ("template.yaml", "template.yaml"),
    ("samconfig.toml", "samconfig.toml"),
    ("terraform/main.tf", "terraform/main.tf"),
    ("terraform/variables.tf", "terraform/variables.tf"),
    ("terraform/outputs.tf", "terraform/outputs.tf"),
    ("Cargo.lock", "Cargo.lock"),
];

/// vow's own stack, copied into the project so that its deployment files do
/// not depend on where a vow checkout lies: path in the project, text.
const STACK: &[(&str, &str)] = &[
    (
        "vow/template.yaml",
        include_str!("../../infra/sam/template.yaml"),
    ),
    (
        "terraform/vow/main.tf",
        include_str!("../../infra/terraform/modules/vow/main.tf"),
    ),
    (
        "terraform/vow/variables.tf",
        include_str!("../../infra/terraform/modules/vow/variables.tf"),
    ),
    (
        "terraform/vow/outputs.tf",
        include_str!("../../infra/terraform/modules/vow/outputs.tf"),
    ),
    (
        "terraform/vow/versions.tf",
        include_str!("../../infra/terraform/modules/vow/versions.tf"),
    ),
];

/// In the copy of vow's SAM template, the code paths default to this
/// project's worker crate (they are relative to `vow/`).
const SAM_DEFAULTS: [(&str, &str); 2] = [
    ("Default: ../../functions/worker", "Default: ../worker"),
    ("Default: ../../functions/dead-letter", "Default: ../worker"),
];

/// The longest name: resource names start with it, and vow's stack caps
/// their prefix at 30 characters.
const MAX_NAME: usize = 30;

/// Check a project name: lowercase letters, digits, `-` and `_`, starting
/// with a letter, at most 30 characters, and not a name the Rust toolchain
/// reserves.
pub fn check_name(name: &str) -> Result<(), String> {
    let shape = name.len() <= MAX_NAME
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with(['-', '_'])
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !shape {
        return Err(format!(
            "`{name}`: a project name is lowercase letters, digits, `-` and `_`, starts with \
             a letter, and has at most {MAX_NAME} characters"
        ));
    }
    const RESERVED: [&str; 10] = [
        "vow",
        "vow-sdk",
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
    let dashed = name.replace('_', "-");
    if RESERVED.contains(&dashed.as_str())
        || RESERVED.contains(&snake.as_str())
        || is_keyword(&snake)
    {
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

/// Where the new project's vow crates come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VowSource {
    /// crates.io, at this version.
    Registry(String),
    /// A git repository of vow (its URL).
    Git(String),
    /// A checkout of the vow repository (an absolute path).
    Path(PathBuf),
}

impl VowSource {
    /// The workspace dependency lines of `vow` (crate `vow-sdk`) and
    /// `vow-lambda`.
    fn dependencies(&self) -> [String; 2] {
        match self {
            VowSource::Registry(version) => [
                format!("vow = {{ package = \"vow-sdk\", version = \"{version}\" }}"),
                format!("vow-lambda = \"{version}\""),
            ],
            VowSource::Git(url) => [
                format!(
                    "vow = {{ package = \"vow-sdk\", git = \"{}\" }}",
                    toml_str(url)
                ),
                format!("vow-lambda = {{ git = \"{}\" }}", toml_str(url)),
            ],
            VowSource::Path(root) => [
                format!(
                    "vow = {{ package = \"vow-sdk\", path = \"{}\" }}",
                    toml_str(&slashes(&root.join("sdk")))
                ),
                format!(
                    "vow-lambda = {{ path = \"{}\" }}",
                    toml_str(&slashes(&root.join("lambda")))
                ),
            ],
        }
    }

    /// Where the README says vow came from.
    fn describe(&self) -> String {
        match self {
            VowSource::Registry(version) => format!("vow {version} from crates.io"),
            VowSource::Git(url) => format!("vow from `{url}`"),
            VowSource::Path(root) => format!("vow from the checkout at `{}`", slashes(root)),
        }
    }
}

/// `text` escaped for a TOML basic string.
fn toml_str(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

/// A path with `/` separators, as Cargo files write them.
fn slashes(path: &Path) -> String {
    path.display().to_string().replace('\\', "/")
}

/// `template` with its placeholders filled in: `{{name}}` (the project's
/// name), `{{crate}}` (its library's name: `-` turned into `_`), `{{prefix}}`
/// (the stack's resource name prefix: `_` turned into `-`), `{{vow_dep}}`,
/// `{{vow_lambda_dep}}` and `{{vow_source}}`.
pub fn fill(template: &str, name: &str, vow: &VowSource) -> String {
    let [vow_dep, lambda_dep] = vow.dependencies();
    template
        .replace("{{name}}", name)
        .replace("{{crate}}", &name.replace('-', "_"))
        .replace("{{prefix}}", &name.replace('_', "-"))
        .replace("{{vow_dep}}", &vow_dep)
        .replace("{{vow_lambda_dep}}", &lambda_dep)
        .replace("{{vow_source}}", &vow.describe())
}

/// The files of project `name`: relative path and contents.
pub fn project(name: &str, vow: &VowSource) -> Result<Vec<(String, String)>, String> {
    check_name(name)?;
    let mut files: Vec<(String, String)> = FILES
        .iter()
        .map(|(path, text)| ((*path).to_owned(), fill(text, name, vow)))
        .collect();
    for (path, text) in STACK {
        let header = format!(
            "# vow's stack, as vow {} ships it: written by `vow new`, deployed by\n\
             # this project's {}. Update it with vow's release, not by hand.\n",
            env!("CARGO_PKG_VERSION"),
            if path.ends_with(".yaml") {
                "template.yaml (SAM)"
            } else {
                "terraform/main.tf"
            }
        );
        // The comments that speak of vow's repository (the SAM template's
        // block before `Parameters:`) are dropped.
        let body = match (
            text.find("\n# Build and deploy"),
            text.find("\nParameters:"),
        ) {
            (Some(from), Some(to)) if from < to => format!("{}\n{}", &text[..from], &text[to..]),
            _ => (*text).to_owned(),
        };
        let mut text = format!("{header}{body}").replace(
            "# Same resources as infra/sam/template.yaml; keep the two in step.\n",
            "",
        );
        if path.ends_with(".yaml") {
            for (old, new) in SAM_DEFAULTS {
                if !text.contains(old) {
                    return Err(format!("vow's SAM template lacks `{old}`"));
                }
                text = text.replacen(old, new, 1);
            }
        }
        files.push(((*path).to_owned(), text));
    }
    Ok(files)
}

/// Write project `name` into `dir`, which must not exist or be empty; returns
/// the paths written.
pub fn write(dir: &Path, name: &str, vow: &VowSource) -> Result<Vec<PathBuf>, String> {
    let files = project(name, vow)?;
    let occupied = std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some());
    if occupied {
        return Err(format!("{} exists and is not empty", dir.display()));
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
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
        for good in [
            "shop",
            "my-shop",
            "my_shop",
            "a1",
            "invoices-2",
            &"x".repeat(30),
        ] {
            assert_eq!(check_name(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "Shop",
            "1shop",
            "shop-",
            "shop_",
            "my shop",
            "vow",
            "vow_sdk",
            "test",
            "type",
            "../x",
            &"x".repeat(31),
        ] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }

    fn get<'a>(files: &'a [(String, String)], path: &str) -> &'a str {
        files
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, t)| t.as_str())
            .unwrap_or_else(|| panic!("{path} is written"))
    }

    #[test]
    fn every_placeholder_is_filled_and_no_path_leaves_the_project() {
        for source in [
            VowSource::Registry("0.1.0".into()),
            VowSource::Git("https://example.com/vow.git".into()),
        ] {
            let files = project("my_shop-2", &source).expect("project");
            for (path, text) in &files {
                // vow's stack is copied as it is (its `{{resolve:...}}` too).
                let copied = STACK.iter().any(|(p, _)| p == path);
                assert!(
                    copied || !text.contains("{{"),
                    "{path} has a placeholder left"
                );
                assert!(!text.contains("../../"), "{path} climbs out of the project");
                assert!(
                    !text.contains("examples/orders"),
                    "{path} names vow's example"
                );
            }
            let workspace = get(&files, "Cargo.toml");
            assert!(
                workspace.contains("my_shop-2 = { path = \"tasks\" }"),
                "{workspace}"
            );
            assert!(
                workspace.contains("worker = \"my_shop-2-worker\""),
                "{workspace}"
            );
            let worker = get(&files, "worker/src/bin/worker.rs");
            assert!(worker.contains("my_shop_2::tasks()"), "{worker}");
            assert!(worker.contains("\"my_shop-2-orders\""), "{worker}");
            let sam = get(&files, "template.yaml");
            assert!(sam.contains("NamePrefix: my-shop-2\n"), "{sam}");
            assert!(sam.contains("WorkerBinary: my_shop-2-worker\n"), "{sam}");
            assert!(sam.contains("Location: vow/template.yaml\n"), "{sam}");
            assert!(get(&files, "terraform/main.tf").contains("source = \"./vow\""));
            assert!(get(&files, "vow/template.yaml").contains("Default: ../worker\n"));
        }
    }

    #[test]
    fn the_source_of_vow_is_the_one_asked_for() {
        let deps = |source: VowSource| {
            let files = project("shop", &source).expect("project");
            get(&files, "Cargo.toml").to_owned()
        };
        let registry = deps(VowSource::Registry("0.1.0".into()));
        assert!(registry.contains("vow = { package = \"vow-sdk\", version = \"0.1.0\" }\n"));
        assert!(registry.contains("vow-lambda = \"0.1.0\"\n"));
        let git = deps(VowSource::Git("https://example.com/vow.git".into()));
        assert!(git.contains("vow-lambda = { git = \"https://example.com/vow.git\" }\n"));
        let path = deps(VowSource::Path(PathBuf::from("/src/vow")));
        assert!(path.contains("vow = { package = \"vow-sdk\", path = \"/src/vow/sdk\" }\n"));
        assert!(path.contains("vow-lambda = { path = \"/src/vow/lambda\" }\n"));
    }

    #[test]
    fn it_writes_only_into_an_empty_directory() {
        let dir = std::env::temp_dir().join(format!("vow-new-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let source = VowSource::Registry("0.1.0".into());
        let written = write(&dir, "shop", &source).expect("written");
        assert_eq!(written.len(), FILES.len() + STACK.len());
        assert!(dir.join("worker/src/bin/worker.rs").is_file());
        let again = write(&dir, "shop", &source);
        assert!(again.is_err_and(|e| e.contains("not empty")));
        std::fs::remove_dir_all(&dir).expect("clean up");
    }
}
