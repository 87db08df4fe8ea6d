//! Text output: `vow status` and `vow tree`, and the short forms the graphs share.

use crate::walk::{Node, Tree};
use std::fmt::Write as _;
use std::time::{Duration, SystemTime};
use vow::walk::Waiting;
use vow::wire::Outcome;
use vow::{Inspection, PromiseId, Status};

/// `pending`, `done` or `failed`.
pub fn state(outcome: Option<&Outcome>) -> &'static str {
    match outcome {
        None => "pending",
        Some(Outcome::Err(_)) => "failed",
        Some(_) => "done",
    }
}

/// The value (clipped), the failure, or a join's size; empty while pending.
pub fn detail(outcome: Option<&Outcome>) -> String {
    match outcome {
        None => String::new(),
        Some(Outcome::Ok(v)) => clip(&v.to_string(), 60),
        Some(Outcome::Joined { n, .. }) => format!("all of {n}"),
        Some(Outcome::Stored { .. }) => "(large value, stored out of line)".to_owned(),
        Some(Outcome::Err(f)) => clip(&f.to_string(), 80),
    }
}

/// The last 8 hex digits of an id (a parent's children share their first
/// digits, not their last), keeping a member's `.index`: `…0605e276.3`.
pub fn short_id(id: &PromiseId) -> String {
    let (head, index) = match id.as_str().split_once('.') {
        Some((join, index)) => (join, format!(".{index}")),
        None => (id.as_str(), String::new()),
    };
    format!("…{}{index}", &head[head.len().saturating_sub(8)..])
}

/// `text` on one line, at most `max` characters.
pub fn clip(text: &str, max: usize) -> String {
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if one_line.chars().count() <= max {
        return one_line;
    }
    let mut cut: String = one_line.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// One line of the tree: id, state, detail, and the attempt if it was a retry.
fn label(node: &Node, full_id: bool) -> String {
    let id = if full_id {
        node.id.to_string()
    } else {
        short_id(&node.id)
    };
    let detail = match (node.outcome.as_ref(), node.reported) {
        (None, _) if node.waiting.is_some() => node.waiting.as_ref().map(waits).unwrap_or_default(),
        (None, Some((done, total))) if done < total => format!("{done}/{total} units"),
        (None, Some(_)) => "ran; waiting on its children".to_owned(),
        (outcome, _) => detail(outcome),
    };
    let mut line = format!("{id} {:<7} {detail}", state(node.outcome.as_ref()));
    if let Some(attempt) = node.attempt.filter(|&a| a > 1) {
        let _ = write!(line, " (attempt {attempt})");
    }
    line.trim_end().to_owned()
}

/// A time to the second, in UTC: `2026-12-10T09:30:00Z`.
fn when(at: SystemTime) -> String {
    humantime::format_rfc3339_seconds(at).to_string()
}

/// What a pending sleep or callback waits for, on one line.
fn waits(waiting: &Waiting) -> String {
    match waiting {
        Waiting::Sleep { until } => format!("sleeping until {}", when(*until)),
        Waiting::Callback {
            deadline: Some(deadline),
            ..
        } => format!("waiting for a resolve until {}", when(*deadline)),
        Waiting::Callback { deadline: None, .. } => "waiting for a resolve".to_owned(),
    }
}

/// `at` relative to `now`: `in 2days 3h` or `5m ago`, to the second.
fn relative(at: SystemTime, now: SystemTime) -> String {
    let round = |d: Duration| humantime::format_duration(Duration::from_secs(d.as_secs()));
    match at.duration_since(now) {
        Ok(ahead) => format!("in {}", round(ahead)),
        Err(behind) => format!("{} ago", round(behind.duration())),
    }
}

/// The workflow as a process tree. The root shows its full id.
pub fn tree_text(tree: &Tree, full_ids: bool) -> String {
    let mut out = String::new();
    // (node, prefix of its own line, prefix of its children's lines)
    let mut stack = vec![(0, String::new(), String::new())];
    while let Some((index, first, rest)) = stack.pop() {
        let Some(node) = tree.nodes.get(index) else {
            continue;
        };
        let _ = writeln!(out, "{first}{}", label(node, full_ids || index == 0));
        let last = node.children.len().saturating_sub(1);
        for (i, &child) in node.children.iter().enumerate().rev() {
            let (branch, indent) = if i == last {
                ("└─ ", "   ")
            } else {
                ("├─ ", "│  ")
            };
            stack.push((child, format!("{rest}{branch}"), format!("{rest}{indent}")));
        }
    }
    if tree.omitted > 0 {
        let _ = writeln!(out, "… {} more (raise --max-nodes)", tree.omitted);
    }
    out
}

/// `vow status`: state, value or failure, attempts, settled time, children.
pub fn status_text(inspection: &Inspection, status: &Status, now: SystemTime) -> String {
    let mut out = String::new();
    let mut row = |key: &str, value: &dyn std::fmt::Display| {
        let _ = writeln!(out, "{key:<9} {value}");
    };
    row("promise", &inspection.id);
    match status {
        Status::Unknown => {
            row(
                "state",
                &"unknown (no record: not settled yet, no such promise, or expired)",
            );
        }
        Status::Pending => {
            row("state", &"pending");
        }
        Status::Done(value) => {
            row("state", &"done");
            row("value", value);
        }
        Status::Failed(failure) => {
            row("state", &"failed");
            row("failure", &failure.kind().as_str());
            row("message", &failure.message());
        }
        other => {
            row("state", &format!("{other:?}"));
        }
    }
    match &inspection.waiting {
        Some(Waiting::Sleep { until }) => {
            row(
                "sleeping",
                &format!("until {} ({})", when(*until), relative(*until, now)),
            );
        }
        Some(Waiting::Callback {
            deadline,
            heartbeat,
            last_beat,
        }) => {
            row(
                "waiting",
                &"for a resolve (a callback: vow resolve ID VALUE)",
            );
            if let Some(deadline) = deadline {
                let left = relative(*deadline, now);
                row("deadline", &format!("{} ({left})", when(*deadline)));
            }
            if let Some(every) = heartbeat {
                let beat = last_beat.map_or_else(
                    || "no beat yet".to_owned(),
                    |at| format!("last beat {} ({})", when(at), relative(at, now)),
                );
                let every = humantime::format_duration(*every);
                row("heartbeat", &format!("every {every} at least; {beat}"));
            }
        }
        None => {}
    }
    if let Some(attempt) = inspection.attempt {
        row("attempts", &attempt);
    }
    if let Some(at) = inspection.settled_at {
        let ago = now.duration_since(at).unwrap_or_default();
        let ago = humantime::format_duration(Duration::from_secs(ago.as_secs()));
        let at = humantime::format_rfc3339_millis(at);
        row("settled", &format!("{at} ({ago} ago)"));
    }
    if !inspection.children.is_empty() {
        row("children", &inspection.children.len());
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use vow::Failure;

    fn id(n: u32) -> PromiseId {
        PromiseId::parse(&format!("{:024x}{n:08x}", 0)).expect("valid id")
    }

    /// root → (a join of two members, one failed) and a pending successor.
    pub(crate) fn sample_tree() -> Tree {
        let root = id(0xabcdef01);
        let join = id(0x12345678);
        let member = |i: u32| PromiseId::parse(&format!("{join}.{i}")).expect("member");
        let node = |id, outcome, children| Node {
            children,
            ..Node::new(id, outcome)
        };
        Tree {
            nodes: vec![
                node(root, None, vec![1, 2]),
                node(
                    join.clone(),
                    Some(Outcome::Joined {
                        join: join.clone(),
                        n: 2,
                    }),
                    vec![3, 4],
                ),
                node(id(0x99), None, vec![]),
                node(
                    member(0),
                    Some(Outcome::Ok(serde_json::json!("say \"hi\" <b>"))),
                    vec![],
                ),
                Node {
                    attempt: Some(3),
                    ..node(
                        member(1),
                        Some(Outcome::Err(Failure::timeout("slow\\step #1"))),
                        vec![],
                    )
                },
            ],
            omitted: 4,
        }
    }

    #[test]
    fn trees_draw_like_process_trees() {
        let text = tree_text(&sample_tree(), false);
        let want = "\
000000000000000000000000abcdef01 pending
├─ …12345678 done    all of 2
│  ├─ …12345678.0 done    \"say \\\"hi\\\" <b>\"
│  └─ …12345678.1 failed  timeout: slow\\step #1 (attempt 3)
└─ …00000099 pending
… 4 more (raise --max-nodes)
";
        assert_eq!(text, want, "\n{text}");
    }

    #[test]
    fn long_values_are_clipped_to_one_line() {
        assert_eq!(clip("a\nb", 10), "a b");
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(short_id(&id(7)), "…00000007");
    }

    #[test]
    fn status_shows_value_or_failure_and_history() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let inspection = Inspection {
            id: id(1),
            outcome: None,
            settled_at: Some(at),
            attempt: Some(2),
            children: vec![id(2), id(3)],
            progress: None,
            waiting: None,
        };
        let text = status_text(
            &inspection,
            &Status::Failed(Failure::crashed("gave up")),
            at + Duration::from_millis(61_500),
        );
        let want = "\
promise   00000000000000000000000000000001
state     failed
failure   crashed
message   gave up
attempts  2
settled   2023-11-14T22:13:20.000Z (1m 1s ago)
children  2
";
        assert_eq!(text, want, "\n{text}");
        let done = status_text(&inspection, &Status::Done(serde_json::json!([1, 2])), at);
        assert!(done.contains("state     done\nvalue     [1,2]\n"), "{done}");
        let unknown = status_text(&inspection, &Status::Unknown, at);
        assert!(
            unknown.contains("state     unknown (no record"),
            "{unknown}"
        );
        let pending = status_text(&inspection, &Status::Pending, at);
        assert!(pending.contains("state     pending\n"), "{pending}");
    }

    #[test]
    fn sleeps_and_callbacks_show_when_they_end() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let hour = Duration::from_secs(3_600);
        let pending = |waiting| Inspection {
            id: id(1),
            outcome: None,
            settled_at: None,
            attempt: None,
            children: vec![],
            progress: None,
            waiting: Some(waiting),
        };
        let sleep = pending(Waiting::Sleep {
            until: now + 50 * hour,
        });
        let text = status_text(&sleep, &Status::Pending, now);
        assert!(
            text.contains("sleeping  until 2023-11-17T00:13:20Z (in 2days 2h)\n"),
            "{text}"
        );
        let callback = pending(Waiting::Callback {
            deadline: Some(now + hour),
            heartbeat: Some(10 * 60 * Duration::from_secs(1)),
            last_beat: Some(now - Duration::from_secs(90)),
        });
        let text = status_text(&callback, &Status::Pending, now);
        let want = "\
waiting   for a resolve (a callback: vow resolve ID VALUE)
deadline  2023-11-14T23:13:20Z (in 1h)
heartbeat every 10m at least; last beat 2023-11-14T22:11:50Z (1m 30s ago)
";
        assert!(text.contains(want), "{text}");
        let node = |waiting| Node {
            waiting: Some(waiting),
            ..Node::new(id(1), None)
        };
        let tree = |node| Tree {
            nodes: vec![node],
            omitted: 0,
        };
        let slept = tree_text(&tree(node(Waiting::Sleep { until: now })), true);
        assert!(
            slept.ends_with("pending sleeping until 2023-11-14T22:13:20Z\n"),
            "{slept}"
        );
        let waited = tree_text(
            &tree(node(Waiting::Callback {
                deadline: None,
                heartbeat: None,
                last_beat: None,
            })),
            true,
        );
        assert!(
            waited.ends_with("pending waiting for a resolve\n"),
            "{waited}"
        );
    }
}
