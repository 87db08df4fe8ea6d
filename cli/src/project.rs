//! The vow project the command runs in: the folder (this one or above) whose
//! Cargo.toml has a `[workspace.metadata.vow]` table (`vow new` writes one),
//! and the local stack `vow dev` left there (`.vow/dev.env`).

use crate::CliError;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A vow project's folder and what its Cargo.toml says about it.
#[derive(Debug)]
pub struct Project {
    /// The folder of its Cargo.toml.
    pub root: PathBuf,
    /// Its name (`vow new`'s NAME).
    pub name: String,
    /// Its worker binary's name.
    pub worker: String,
}

impl Project {
    /// The project in `dir` or a folder above it, if any.
    pub fn find(dir: &Path) -> Option<Project> {
        dir.ancestors().find_map(|root| {
            let text = std::fs::read_to_string(root.join("Cargo.toml")).ok()?;
            let meta = metadata(&text)?;
            let value = |key: &str| meta.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
            Some(Project {
                root: root.to_path_buf(),
                name: value("name")?,
                worker: value("worker")?,
            })
        })
    }

    /// The project of the current folder, or a usage error saying so.
    pub fn current(what: &str) -> Result<Project, CliError> {
        let here = std::env::current_dir()
            .map_err(|e| CliError::Usage(format!("no current folder: {e}")))?;
        Project::find(&here).ok_or_else(|| {
            CliError::Usage(format!(
                "{what} runs in a vow project's folder (a Cargo.toml with \
                 [workspace.metadata.vow], as `vow new` writes), and {} is not in one",
                here.display()
            ))
        })
    }

    /// Build the worker binary with cargo (its output on stderr); its path.
    pub fn build_worker(&self) -> Result<PathBuf, CliError> {
        let out = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
            .args([
                "build",
                "--quiet",
                "--message-format=json-render-diagnostics",
            ])
            .args(["--bin", &self.worker])
            .current_dir(&self.root)
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| CliError::Usage(format!("cannot run cargo: {e}")))?;
        if !out.status.success() {
            return Err(CliError::Usage(format!("building {} failed", self.worker)));
        }
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|msg| msg["target"]["name"] == self.worker.as_str())
            .find_map(|msg| msg["executable"].as_str().map(PathBuf::from))
            .ok_or_else(|| CliError::Usage(format!("cargo built no binary {}", self.worker)))
    }
}

/// The `key = "value"` lines of the `[workspace.metadata.vow]` table.
fn metadata(cargo_toml: &str) -> Option<Vec<(String, String)>> {
    let mut lines = cargo_toml.lines().map(str::trim);
    lines.find(|l| *l == "[workspace.metadata.vow]")?;
    Some(
        lines
            .take_while(|l| !l.starts_with('['))
            .filter_map(|l| {
                let (key, value) = l.split_once('=')?;
                let value = value.trim().strip_prefix('"')?.strip_suffix('"')?;
                Some((key.trim().to_owned(), value.to_owned()))
            })
            .collect(),
    )
}

/// Where `vow dev` writes the local stack's settings, in a project.
pub fn dev_env_path(root: &Path) -> PathBuf {
    root.join(".vow").join("dev.env")
}

/// The `export NAME=value` lines of a dev.env file.
pub fn parse_env(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("export "))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

/// The settings of a running `vow dev` in `dir` or a folder above it (the
/// first `.vow/dev.env` found), with the file's path.
pub fn find_dev_env(dir: &Path) -> Option<(PathBuf, Vec<(String, String)>)> {
    dir.ancestors().find_map(|root| {
        let path = dev_env_path(root);
        let text = std::fs::read_to_string(&path).ok()?;
        Some((path, parse_env(&text)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_metadata_table_names_the_worker() {
        let toml = "[workspace]\nmembers = []\n\n[workspace.metadata.vow]\nname = \"shop\"\n\
                    worker = \"shop-worker\"\n\n[profile.release]\nstrip = true\n";
        let meta = metadata(toml).expect("a vow project");
        assert_eq!(
            meta,
            [
                ("name".to_owned(), "shop".to_owned()),
                ("worker".to_owned(), "shop-worker".to_owned())
            ]
        );
        assert!(metadata("[workspace]\n").is_none());
    }

    #[test]
    fn dev_env_files_are_export_lines() {
        let text = "# comment\nexport VOW_TABLE_NAME=shop-dev\nexport AWS_REGION=us-east-1\n";
        assert_eq!(
            parse_env(text),
            [
                ("VOW_TABLE_NAME".to_owned(), "shop-dev".to_owned()),
                ("AWS_REGION".to_owned(), "us-east-1".to_owned())
            ]
        );
    }
}
