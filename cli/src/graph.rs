//! `vow graph`: a walked workflow as Graphviz DOT or Mermaid. Nodes are named
//! `n<index>` and labeled with the short id, state and detail; edges go parent → child.

use crate::render::{detail, short_id, state};
use crate::walk::{Node, Tree};
use std::fmt::Write as _;

const FILL: [(&str, &str); 3] = [
    ("pending", "#fff3cd"),
    ("done", "#d4edda"),
    ("failed", "#f8d7da"),
];

fn fill(state: &str) -> &'static str {
    FILL.iter()
        .find(|(s, _)| *s == state)
        .map_or("#eeeeee", |(_, c)| c)
}

/// The two lines of a node's label: short id, then state and detail.
fn lines(node: &Node) -> (String, String) {
    let outcome = node.outcome.as_ref();
    let text = detail(outcome);
    let second = if text.is_empty() {
        state(outcome).to_owned()
    } else {
        format!("{}: {text}", state(outcome))
    };
    (short_id(&node.id), second)
}

/// A DOT double-quoted string's body.
fn dot_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Graphviz DOT (`dot -Tsvg`).
pub fn dot(tree: &Tree) -> String {
    let mut out = String::from("digraph vow {\n");
    out.push_str("  node [shape=box, style=\"rounded,filled\", fontname=\"monospace\"];\n");
    for (i, node) in tree.nodes.iter().enumerate() {
        let (id, second) = lines(node);
        let _ = writeln!(
            out,
            "  n{i} [label=\"{}\\n{}\", tooltip=\"{}\", fillcolor=\"{}\"];",
            dot_escape(&id),
            dot_escape(&second),
            node.id,
            fill(state(node.outcome.as_ref()))
        );
    }
    for (i, node) in tree.nodes.iter().enumerate() {
        for child in &node.children {
            let _ = writeln!(out, "  n{i} -> n{child};");
        }
    }
    if tree.omitted > 0 {
        let _ = writeln!(
            out,
            "  more [label=\"… {} more\", shape=plaintext, style=\"\"];",
            tree.omitted
        );
    }
    out.push_str("}\n");
    out
}

/// Text for a Mermaid quoted label: entity codes for what Mermaid would parse.
fn mermaid_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '#' => out.push_str("#35;"),
            '"' => out.push_str("#quot;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '&' => out.push_str("#amp;"),
            c => out.push(c),
        }
    }
    out
}

/// A Mermaid flowchart (GitHub and most Markdown renderers draw it).
pub fn mermaid(tree: &Tree) -> String {
    let mut out = String::from("flowchart TD\n");
    for (i, node) in tree.nodes.iter().enumerate() {
        let (id, second) = lines(node);
        let _ = writeln!(
            out,
            "  n{i}[\"{}<br/>{}\"]",
            mermaid_escape(&id),
            mermaid_escape(&second)
        );
    }
    for (i, node) in tree.nodes.iter().enumerate() {
        for child in &node.children {
            let _ = writeln!(out, "  n{i} --> n{child}");
        }
    }
    if tree.omitted > 0 {
        let _ = writeln!(out, "  more[\"… {} more\"]", tree.omitted);
    }
    for (name, color) in FILL {
        let members: Vec<String> = (tree.nodes.iter().enumerate())
            .filter(|(_, n)| state(n.outcome.as_ref()) == name)
            .map(|(i, _)| format!("n{i}"))
            .collect();
        if !members.is_empty() {
            let _ = writeln!(out, "  classDef {name} fill:{color}");
            let _ = writeln!(out, "  class {} {name}", members.join(","));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::tests::sample_tree;
    use std::io::Write as _;
    use std::process::{Command, Stdio};

    #[test]
    fn dot_quotes_labels() {
        let text = dot(&sample_tree());
        assert!(text.starts_with("digraph vow {\n"), "{text}");
        assert!(
            text.contains(
                r##"  n3 [label="…12345678.0\ndone: \"say \\\"hi\\\" <b>\"", tooltip="00000000000000000000000012345678.0", fillcolor="#d4edda"];"##
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"label="…12345678.1\nfailed: timeout: slow\\step #1""#),
            "{text}"
        );
        for edge in ["n0 -> n1;", "n0 -> n2;", "n1 -> n3;", "n1 -> n4;"] {
            assert!(text.contains(edge), "{edge} missing:\n{text}");
        }
        assert!(text.contains("more [label=\"… 4 more\""), "{text}");
        assert!(text.ends_with("}\n"));
    }

    #[test]
    fn mermaid_escapes_labels() {
        let text = mermaid(&sample_tree());
        let want = "\
flowchart TD
  n0[\"…abcdef01<br/>pending\"]
  n1[\"…12345678<br/>done: all of 2\"]
  n2[\"…00000099<br/>pending\"]
  n3[\"…12345678.0<br/>done: #quot;say \\#quot;hi\\#quot; #lt;b#gt;#quot;\"]
  n4[\"…12345678.1<br/>failed: timeout: slow\\step #35;1\"]
  n0 --> n1
  n0 --> n2
  n1 --> n3
  n1 --> n4
  more[\"… 4 more\"]
  classDef pending fill:#fff3cd
  class n0,n2 pending
  classDef done fill:#d4edda
  class n1,n3 done
  classDef failed fill:#f8d7da
  class n4 failed
";
        assert_eq!(text, want, "\n{text}");
    }

    /// Graphviz must accept the DOT (tests/run.sh installs it).
    #[test]
    fn graphviz_renders_the_dot() {
        let mut child = Command::new("dot")
            .arg("-Tsvg")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("Graphviz `dot` is needed: apt-get install graphviz (tests/run.sh does)");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(dot(&sample_tree()).as_bytes())
            .expect("write");
        let out = child.wait_with_output().expect("dot runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() && stderr.is_empty(), "dot: {stderr}");
        let svg = String::from_utf8_lossy(&out.stdout);
        assert!(svg.contains("<svg") && svg.contains("12345678.1"), "{svg}");
    }
}
