//! The deployment templates give the functions exactly the names the code reads:
//! the same environment variables, binaries, key and TTL attributes. (The values
//! behind these names are checked by `tests/infra/check.sh`.)

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Environment variable names assigned in a template: `VOW_X:` (YAML) or `VOW_X =` (HCL).
fn assigned_vars(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim_start();
            let name: String = line
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            let rest = line[name.len()..].trim_start();
            (name.starts_with("VOW_") && (rest.starts_with(':') || rest.starts_with('=')))
                .then_some(name)
        })
        .collect()
}

#[test]
fn templates_set_exactly_the_variables_the_code_reads() {
    // The signing secret's ARN (never the keys themselves: VOW_SIGNING_KEYS
    // is not set by a stack) or the choice to run unsigned, and the declared
    // schedules (the worker's, with a schedule); the rest always set.
    let code: BTreeSet<String> = vow::aws::ENV_VARS
        .iter()
        .chain([
            &vow::signing::ENV_SIGNING_SECRET_ARN,
            &vow::signing::ENV_UNSIGNED,
            &vow::ENV_SCHEDULES,
        ])
        .map(|s| s.to_string())
        .collect();
    for path in [
        "infra/sam/template.yaml",
        "infra/terraform/modules/vow/main.tf",
    ] {
        let text = read(path);
        assert_eq!(assigned_vars(&text), code, "{path}");
        // Both functions get the whole set.
        for var in &code {
            let times = text
                .lines()
                .filter(|l| l.trim_start().starts_with(var.as_str()))
                .count();
            assert!(times >= 1, "{path} never sets {var}");
        }
    }
}

#[test]
fn templates_name_the_real_binaries_and_table_schema() {
    let sam = read("infra/sam/template.yaml");
    let tf = read("infra/terraform/modules/vow/main.tf");
    let lines = |text: &str| -> Vec<String> { text.lines().map(|l| l.trim().to_owned()).collect() };
    let (sam_lines, tf_lines) = (lines(&sam), lines(&tf));
    for (dir, bin) in [
        ("functions/worker", "vow-worker"),
        ("functions/dead-letter", "vow-dead-letter"),
    ] {
        let manifest = read(&format!("{dir}/Cargo.toml"));
        assert!(
            manifest.contains(&format!("name = \"{bin}\"")),
            "{dir} builds {bin}"
        );
        // The CodeUri/Binary parameters default to the crate and its binary.
        assert!(
            sam_lines.contains(&format!("Default: {bin}")),
            "SAM builds {bin} by default"
        );
        assert!(
            sam_lines.contains(&format!("Default: ../../{dir}")),
            "SAM points at {dir} by default"
        );
    }
    // The promise table and the timer index's (`pk`, `sk`; see
    // `vow::aws::setup::ensure_timer_table`).
    for line in [
        "AttributeName: pk",
        "KeyType: HASH",
        "AttributeName: ttl",
        "AttributeName: sk",
        "KeyType: RANGE",
    ] {
        assert!(sam_lines.iter().any(|l| l.ends_with(line)), "SAM: {line}");
    }
    for line in [
        "hash_key                    = \"pk\"",
        "attribute_name = \"ttl\"",
        "range_key                   = \"sk\"",
    ] {
        assert!(tf_lines.iter().any(|l| l == line), "Terraform: {line}");
    }
}
