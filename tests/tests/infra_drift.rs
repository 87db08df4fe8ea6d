//! The deployment templates give the functions exactly the names the code reads:
//! the same environment variables, binaries, key and TTL attributes.

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
    let code: BTreeSet<String> = vow::aws::ENV_VARS.iter().map(|s| s.to_string()).collect();
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
    for (dir, bin) in [
        ("functions/worker", "vow-worker"),
        ("functions/dead-letter", "vow-dead-letter"),
    ] {
        let manifest = read(&format!("{dir}/Cargo.toml"));
        assert!(
            manifest.contains(&format!("name = \"{bin}\"")),
            "{dir} builds {bin}"
        );
        assert!(sam.contains(&format!("Binary: {bin}")), "SAM builds {bin}");
        assert!(
            sam.contains(&format!("CodeUri: ../../{dir}")),
            "SAM points at {dir}"
        );
    }
    for text in [&sam, &tf] {
        assert!(text.contains("pk"), "partition key `pk`");
        assert!(text.contains("ttl"), "TTL attribute `ttl`");
    }
    assert!(sam.contains("AttributeName: pk") && sam.contains("AttributeName: ttl"));
    assert!(tf.contains("hash_key") && tf.contains("\"pk\"") && tf.contains("\"ttl\""));
}
