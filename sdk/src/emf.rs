//! CloudWatch embedded metric format (EMF): metrics as one JSON log line, which
//! CloudWatch Logs turns into metrics with no API call. The Lambda functions
//! print [`batch_line`] after each batch.
//!
//! ```
//! use vow::BatchStats;
//! let stats = BatchStats { messages: 10, steps_run: 9, settled_ok: 9, ..BatchStats::default() };
//! let line = vow::emf::batch_line("vow-worker", &stats, std::time::SystemTime::now());
//! let doc: serde_json::Value = serde_json::from_str(&line).unwrap();
//! assert_eq!(doc["_aws"]["CloudWatchMetrics"][0]["Namespace"], "vow");
//! assert_eq!((doc["function"].as_str(), doc["StepsRun"].as_u64()), (Some("vow-worker"), Some(9)));
//! ```

use crate::stats::BatchStats;
use serde_json::{json, Map, Value};
use std::time::SystemTime;

/// The metric namespace vow publishes in.
pub const NAMESPACE: &str = "vow";

/// A metric's unit (the EMF names of the CloudWatch units vow uses).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// A count.
    Count,
    /// A duration in milliseconds.
    Milliseconds,
}

impl Unit {
    /// The unit's name in EMF.
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
        }
    }
}

/// One metric value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Metric {
    /// Its name.
    pub name: &'static str,
    /// Its unit.
    pub unit: Unit,
    /// Its value.
    pub value: u64,
}

/// One EMF document on one line: `metrics` in `namespace`, under one dimension
/// set made of `dimensions` (name, value), at `at`.
pub fn line(
    namespace: &str,
    dimensions: &[(&str, &str)],
    metrics: &[Metric],
    at: SystemTime,
) -> String {
    let timestamp = crate::clock::epoch_millis(at);
    let names: Vec<&str> = dimensions.iter().map(|(name, _)| *name).collect();
    let definitions: Vec<Value> = metrics
        .iter()
        .map(|m| json!({"Name": m.name, "Unit": m.unit.as_str()}))
        .collect();
    let mut root = Map::new();
    root.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp,
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [names],
                "Metrics": definitions,
            }],
        }),
    );
    for (name, value) in dimensions {
        root.insert((*name).into(), Value::from(*value));
    }
    for m in metrics {
        root.insert(m.name.into(), Value::from(m.value));
    }
    Value::Object(root).to_string()
}

/// The metrics of one batch, in namespace `vow` with dimension `function`.
pub fn batch_line(function: &str, stats: &BatchStats, at: SystemTime) -> String {
    let count = |name, value| Metric {
        name,
        unit: Unit::Count,
        value,
    };
    let millis = |name, value| Metric {
        name,
        unit: Unit::Milliseconds,
        value,
    };
    let metrics = [
        count("Messages", stats.messages),
        count("MessagesFailed", stats.failed_messages),
        count("StepsRun", stats.steps_run),
        count("StepsSettled", stats.settled_ok + stats.settled_failed),
        count("StepsFailed", stats.settled_failed),
        count("Retries", stats.retries),
        count("DeadLettered", stats.dead_lettered),
        millis("BatchDuration", stats.batch_ms),
        millis("TaskDuration", stats.task_ms),
        count("Refused", stats.refused),
    ];
    line(NAMESPACE, &[("function", function)], &metrics, at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use std::time::UNIX_EPOCH;

    /// The rules of the EMF specification ("Specification: Embedded metric
    /// format", Amazon CloudWatch User Guide) that a document must follow.
    fn check_emf(doc: &Value) {
        let root = doc.as_object().expect("the root is a JSON object");
        let meta = root["_aws"].as_object().expect("_aws is an object");
        assert!(meta["Timestamp"].is_u64(), "Timestamp: epoch milliseconds");
        let directives = meta["CloudWatchMetrics"].as_array().expect("an array");
        assert!(!directives.is_empty());
        for directive in directives {
            let ns = directive["Namespace"].as_str().expect("Namespace string");
            assert!((1..=1024).contains(&ns.len()));
            let sets = directive["Dimensions"]
                .as_array()
                .expect("DimensionSet array");
            for set in sets {
                let set = set.as_array().expect("a DimensionSet is an array");
                assert!(set.len() <= 30, "at most 30 dimensions per set");
                for name in set {
                    let name = name.as_str().expect("dimension names are strings");
                    assert!(root[name].is_string(), "dimension {name} is a root string");
                }
            }
            let metrics = directive["Metrics"].as_array().expect("Metrics array");
            assert!(metrics.len() <= 100, "at most 100 metrics per directive");
            for m in metrics {
                let m = m.as_object().expect("a MetricDefinition is an object");
                let name = m["Name"].as_str().expect("Name string");
                assert!(m
                    .keys()
                    .all(|k| ["Name", "Unit", "StorageResolution"].contains(&k.as_str())));
                assert!(
                    ["Count", "Milliseconds"].contains(&m["Unit"].as_str().expect("Unit")),
                    "a CloudWatch unit"
                );
                assert!(root[name].is_number(), "metric {name} is a root number");
            }
        }
    }

    #[test]
    fn batch_lines_follow_the_emf_specification() {
        let stats = BatchStats {
            messages: 10,
            steps_run: 8,
            settled_ok: 7,
            settled_failed: 1,
            retries: 1,
            dead_lettered: 0,
            refused: 0,
            failed_messages: 1,
            batch_ms: 412,
            task_ms: 950,
        };
        let at = UNIX_EPOCH + Duration::from_millis(1_764_204_000_123);
        let text = batch_line("vow-worker", &stats, at);
        println!("{text}");
        assert!(!text.contains('\n'), "one log line");
        let doc: Value = serde_json::from_str(&text).expect("JSON");
        check_emf(&doc);
        assert_eq!(doc["_aws"]["Timestamp"], 1_764_204_000_123u64);
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "vow");
        assert_eq!(directive["Dimensions"], json!([["function"]]));
        assert_eq!(
            directive["Metrics"][3],
            json!({"Name": "StepsSettled", "Unit": "Count"})
        );
        assert_eq!(
            directive["Metrics"][7],
            json!({"Name": "BatchDuration", "Unit": "Milliseconds"})
        );
        assert_eq!(doc["function"], "vow-worker");
        assert_eq!(doc["StepsSettled"], 8);
        assert_eq!(doc["StepsFailed"], 1);
        assert_eq!(doc["MessagesFailed"], 1);
        assert_eq!(doc["TaskDuration"], 950);
    }
}
