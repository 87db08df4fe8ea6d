//! Raw start messages: a schedule the deployment declares (an EventBridge
//! Scheduler schedule in the SAM template or the Terraform module) sends one
//! plain JSON message to the work queue at each firing:
//!
//! ```json
//! {"vow":"start","schedule":"nightly","task":"reports/nightly","input":{"region":"eu"},
//!  "at":"2026-12-07T03:00:00Z"}
//! ```
//!
//! `task` is a registered task's tag (its `Input` is `()`), `input` the task's
//! own fields as JSON (an object, or `null` for a task without fields), `at`
//! the firing's time (`<aws.scheduler.scheduled-time>`, RFC 3339).
//!
//! Each firing starts its workflow once: the message starts the named flow
//! `schedule:<name>@<at>` (what `vow.flow_named("schedule:nightly@2026-12-07T03:00:00Z")`
//! names, its root the flow's first `when`), so a duplicate delivery of the
//! same firing, or the scheduler's own retry, finds the name taken and
//! starts nothing (rule 7's named start: one claim, then the flow's sends).
//!
//! Rule 10: EventBridge cannot sign a message, so a raw start is accepted only
//! for a schedule the deployment declares, with the task it declares: the
//! worker reads `VOW_SCHEDULES` (`name=task-tag,name2=task-tag2`, set by the
//! templates from the same declarations they make the schedules from), and
//! refuses anything else as undecodable (the message goes to the dead-letter
//! queue). Whoever can send to the work queue can thus start a declared
//! schedule's task at a time of their choosing, nothing more; with signing on
//! that is the IAM policy on the queue (the scheduler's role may send to it
//! and nothing else).
//!
//! Rule 2: a start message whose start failed on every delivery reaches the
//! dead-letter queue; the dead-letter function sends it back to the work
//! queue a few times (a `retry` count in the message) before it drops it.

use super::{Engine, Rejected};
use crate::failure::Failure;
use crate::flow::Flow;
use crate::queue::Outgoing;
use crate::wire::decode_task;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// The environment variable naming the schedules a deployment declares.
pub const ENV_SCHEDULES: &str = "VOW_SCHEDULES";

/// The most schedules `VOW_SCHEDULES` may declare.
const MAX_DECLARED: usize = 1_000;

/// The schedules a deployment declares, each with the tag of the task its
/// raw start messages may start ([`ENV_SCHEDULES`]).
///
/// ```
/// use vow::DeclaredSchedules;
/// let declared: DeclaredSchedules = "nightly=reports/nightly, hourly=sync/pull".parse()?;
/// assert_eq!(declared.task_of("nightly"), Some("reports/nightly"));
/// assert_eq!(declared.task_of("weekly"), None);
/// assert!("nightly".parse::<DeclaredSchedules>().is_err());
/// # Ok::<(), vow::Failure>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeclaredSchedules {
    tasks: BTreeMap<String, String>,
}

impl DeclaredSchedules {
    /// The tag of the task the schedule `name` starts, if it is declared.
    pub fn task_of(&self, name: &str) -> Option<&str> {
        self.tasks.get(name).map(String::as_str)
    }

    /// Whether no schedule is declared.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// [`ENV_SCHEDULES`], or none when it is unset.
    pub fn from_env() -> Result<Self, Failure> {
        match std::env::var(ENV_SCHEDULES) {
            Ok(text) => text.parse(),
            Err(_) => Ok(DeclaredSchedules::default()),
        }
    }
}

impl FromStr for DeclaredSchedules {
    type Err = Failure;
    fn from_str(text: &str) -> Result<Self, Failure> {
        let mut tasks = BTreeMap::new();
        for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let bad = || {
                Failure::bad_input(format!(
                    "{ENV_SCHEDULES}: `{pair}` is not `schedule-name=task-tag`"
                ))
            };
            let (name, tag) = pair.split_once('=').ok_or_else(bad)?;
            let (name, tag) = (name.trim(), tag.trim());
            if name.is_empty() || tag.is_empty() {
                return Err(bad());
            }
            tasks.insert(name.to_owned(), tag.to_owned());
            if tasks.len() > MAX_DECLARED {
                return Err(Failure::bad_input(format!(
                    "{ENV_SCHEDULES} declares more than {MAX_DECLARED} schedules"
                )));
            }
        }
        Ok(DeclaredSchedules { tasks })
    }
}

impl fmt::Display for DeclaredSchedules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pairs: Vec<String> = self.tasks.iter().map(|(n, t)| format!("{n}={t}")).collect();
        f.write_str(&pairs.join(","))
    }
}

/// A raw start message, as a schedule sends it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStart {
    vow: String,
    schedule: String,
    task: String,
    #[serde(default)]
    input: Value,
    at: String,
    /// How many times the dead-letter function sent it back (not in the
    /// templates' message; read by [`Engine::bury_raw`]).
    #[serde(default, rename = "retry")]
    _retry: u32,
}

/// How many times a dead-lettered start message is sent back to the work
/// queue before it is dropped (rule 5).
const MAX_RETRIES: u64 = 3;

/// How long a start message sent back waits before it is delivered again.
const RETRY_AFTER: Duration = Duration::from_secs(60);

/// Whether `body` is a raw start message (a JSON object whose `vow` field is
/// `"start"`), without deciding whether it is a good one.
pub(super) fn is_raw_start(body: &str) -> bool {
    body.trim_start().starts_with('{')
        && body.contains("\"vow\"")
        && serde_json::from_str::<Map<String, Value>>(body)
            .is_ok_and(|m| m.get("vow").and_then(Value::as_str) == Some("start"))
}

/// The name of the flow a schedule's firing at `at` (RFC 3339) starts:
/// `schedule:<name>@<at>`, with `at` in UTC to the second.
pub(super) fn flow_name(schedule: &str, at: &str) -> Result<String, Failure> {
    let at: jiff::Timestamp = at.parse().map_err(|e| {
        Failure::bad_input(format!(
            "a start message's `at` is not an RFC 3339 time: `{at}` ({e})"
        ))
    })?;
    let second = jiff::Timestamp::from_second(at.as_second())
        .map_err(|e| Failure::bad_input(format!("a start message's `at`: {e}")))?;
    Ok(format!("schedule:{schedule}@{second}"))
}

impl Engine {
    /// Start the workflow of one firing of a declared schedule (see the
    /// module docs); a second delivery of the same firing starts nothing.
    pub(super) async fn start_raw(self: &Arc<Self>, body: &str) -> Result<(), Rejected> {
        let undecodable = |why: String| Rejected::Undecodable(Failure::bad_input(why));
        let start: RawStart = serde_json::from_str(body)
            .map_err(|e| undecodable(format!("malformed start message: {e}")))?;
        if start.vow != "start" {
            return Err(undecodable("not a start message".into()));
        }
        let declared = self
            .config
            .schedules
            .task_of(&start.schedule)
            .ok_or_else(|| {
                undecodable(format!(
                    "start message refused: schedule `{}` is not declared in {ENV_SCHEDULES}; \
                 unsigned start messages are accepted only for the deployment's schedules",
                    start.schedule
                ))
            })?;
        if declared != start.task {
            return Err(undecodable(format!(
                "start message refused: schedule `{}` starts task `{declared}`, not `{}`",
                start.schedule, start.task
            )));
        }
        let fields = match start.input {
            Value::Object(fields) => Value::Object(fields),
            Value::Null => Value::Null,
            other => {
                return Err(undecodable(format!(
                    "a start message's `input` is the task's fields, a JSON object, not `{other}`"
                )))
            }
        };
        // A task's wire form: its tag, and its fields `with` it.
        let task = serde_json::json!({ "task": start.task, "with": fields });
        let name = flow_name(&start.schedule, &start.at).map_err(Rejected::Undecodable)?;
        let opts = decode_task(&task).map_err(Rejected::Undecodable)?.opts();
        let flow = Flow::named("flow", &name, self.clock.clone());
        flow.when_encoded(task, opts);
        let started = self.start(&flow).await?;
        tracing::info!(schedule = %start.schedule, flow = %name, ?started, "scheduled start");
        Ok(())
    }
}

impl Engine {
    /// A start message the work queue dead-lettered (its start failed on
    /// every delivery, say while the table was throttled): sent back to the
    /// work queue a few times, then dropped with a warning. The dead-letter
    /// function needs no list of schedules for this, and a message refused
    /// as undeclared comes back at most [`MAX_RETRIES`] times.
    pub(super) async fn bury_raw(&self, body: &str) -> Result<(), Rejected> {
        let mut message = match serde_json::from_str::<Map<String, Value>>(body) {
            Ok(message) => message,
            Err(e) => {
                tracing::warn!(error = %e, "dead-lettered start message dropped: not JSON");
                return Ok(());
            }
        };
        let retry = message.get("retry").and_then(Value::as_u64).unwrap_or(0);
        if retry >= MAX_RETRIES {
            tracing::warn!(
                retry,
                body,
                "dead-lettered start message dropped: it failed {retry} times"
            );
            return Ok(());
        }
        message.insert("retry".into(), Value::from(retry.saturating_add(1)));
        let body = Value::Object(message).to_string();
        self.queue
            .send(vec![Outgoing {
                body,
                delay: RETRY_AFTER,
            }])
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_starts_are_told_from_envelopes() {
        let start =
            r#"{"vow":"start","schedule":"s","task":"t","input":{},"at":"2026-12-07T03:00:00Z"}"#;
        assert!(is_raw_start(start));
        assert!(!is_raw_start(r#"{"v":1,"task":{"vow":"start"}}"#));
        assert!(!is_raw_start("vow1:k:sig:{\"vow\":\"start\"}"));
        assert!(!is_raw_start("not json \"vow\""));
    }

    #[test]
    fn a_firing_names_its_flow_by_schedule_and_second() {
        assert_eq!(
            flow_name("nightly", "2026-12-07T03:00:00Z").expect("a time"),
            "schedule:nightly@2026-12-07T03:00:00Z"
        );
        assert_eq!(
            flow_name("nightly", "2026-12-07T04:00:00.250+01:00").expect("a time"),
            "schedule:nightly@2026-12-07T03:00:00Z"
        );
        assert!(flow_name("nightly", "yesterday").is_err());
    }

    #[test]
    fn declared_schedules_parse_and_print() {
        let d: DeclaredSchedules = " a=x/y ,b=z,".parse().expect("parses");
        assert_eq!(d.to_string(), "a=x/y,b=z");
        assert!("a=".parse::<DeclaredSchedules>().is_err());
        assert!("=x".parse::<DeclaredSchedules>().is_err());
        assert!("".parse::<DeclaredSchedules>().expect("empty").is_empty());
    }
}
