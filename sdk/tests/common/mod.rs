//! Tasks and helpers shared by the integration tests.
#![allow(dead_code)]

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use vow::prelude::*;
use vow::EmbeddedConfig;

pub const WAIT: Duration = Duration::from_secs(20);

pub fn fast_config() -> EmbeddedConfig {
    let mut embedded = EmbeddedConfig::default();
    embedded.workers = 4;
    embedded.engine.default_timeout = Duration::from_secs(10);
    embedded.engine.default_max_attempts = 3;
    embedded.engine.retry_base = Duration::from_millis(5);
    embedded.engine.retry_max = Duration::from_millis(50);
    embedded.visibility = Duration::from_millis(300);
    embedded.max_receives = 3;
    embedded
}

pub fn embedded() -> Vow {
    Vow::embedded_with(fast_config())
}

/// Named counters shared between tests and tasks (tasks run in the same process).
pub fn bump(key: &str) -> u32 {
    static COUNTS: OnceLock<Mutex<HashMap<String, u32>>> = OnceLock::new();
    let mut m = COUNTS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let n = m.entry(key.to_owned()).or_default();
    *n += 1;
    *n
}

pub fn count(key: &str) -> u32 {
    bump(key) - 1
}

/// Named logs shared between tests and tasks.
pub fn log(key: &str, line: String) {
    logs()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(key.to_owned())
        .or_default()
        .push(line);
}

pub fn read_log(key: &str) -> Vec<String> {
    logs()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(key)
        .cloned()
        .unwrap_or_default()
}

fn logs() -> &'static Mutex<HashMap<String, Vec<String>>> {
    static LOGS: OnceLock<Mutex<HashMap<String, Vec<String>>>> = OnceLock::new();
    LOGS.get_or_init(Default::default)
}

pub fn key() -> String {
    PromiseId::random().to_string()
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Value(pub u64);

#[vow::task("test/value")]
impl Task for Value {
    type Input = ();
    type Output = u64;
    async fn run(self, _: (), _cx: &Cx) -> Result<Resolution<u64>, Error> {
        done(self.0)
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Fail(pub String);

#[vow::task("test/fail")]
impl Task for Fail {
    type Input = ();
    type Output = u64;
    async fn run(self, _: (), _cx: &Cx) -> Result<Resolution<u64>, Error> {
        Err(Error::permanent(self.0))
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Sleep {
    pub ms: u64,
    pub timeout_ms: u64,
}

#[vow::task("test/sleep")]
impl Task for Sleep {
    type Input = ();
    type Output = u64;
    async fn run(self, _: (), _cx: &Cx) -> Result<Resolution<u64>, Error> {
        tokio::time::sleep(Duration::from_millis(self.ms)).await;
        done(self.ms)
    }
    fn timeout(&self) -> Option<Duration> {
        Some(Duration::from_millis(self.timeout_ms))
    }
}

/// Adds `n` to its input; counts its runs under `key`.
#[derive(Debug, Serialize, Deserialize)]
pub struct AddN {
    pub n: u64,
    pub key: String,
}

#[vow::task("test/add-n")]
impl Task for AddN {
    type Input = Result<u64, Failure>;
    type Output = u64;
    async fn run(self, x: Self::Input, _cx: &Cx) -> Result<Resolution<u64>, Error> {
        bump(&self.key);
        done(x? + self.n)
    }
}

/// Describes a join's outcome: "3,err:error,5"; counts its runs under `key`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Describe {
    pub key: String,
}

#[vow::task("test/describe")]
impl Task for Describe {
    type Input = Result<Vec<Result<u64, Failure>>, Failure>;
    type Output = String;
    async fn run(self, all: Self::Input, _cx: &Cx) -> Result<Resolution<String>, Error> {
        bump(&self.key);
        let parts: Vec<String> = all?
            .into_iter()
            .map(|r| match r {
                Ok(v) => v.to_string(),
                Err(f) => format!("err:{}", f.kind().as_str()),
            })
            .collect();
        done(parts.join(","))
    }
}

/// Sums a join, counting failures as 0; counts its runs under `key`.
#[derive(Debug, Serialize, Deserialize)]
pub struct SumAll {
    pub key: String,
}

#[vow::task("test/sum-all")]
impl Task for SumAll {
    type Input = Result<Vec<Result<u64, Failure>>, Failure>;
    type Output = u64;
    async fn run(self, all: Self::Input, _cx: &Cx) -> Result<Resolution<u64>, Error> {
        bump(&self.key);
        done(all?.into_iter().map(|r| r.unwrap_or(0)).sum())
    }
}

pub fn arc<T>(t: T) -> Arc<T> {
    Arc::new(t)
}

/// Returns a string of `len` bytes; carries `pad` (a large argument) along.
#[derive(Debug, Serialize, Deserialize)]
pub struct Big {
    pub len: usize,
    pub pad: String,
}

#[vow::task("test/big")]
impl Task for Big {
    type Input = ();
    type Output = String;
    async fn run(self, _: (), _cx: &Cx) -> Result<Resolution<String>, Error> {
        done(format!("{}{}", "x".repeat(self.len), self.pad))
    }
}

/// The total length of the strings in a join, or of one string.
#[derive(Debug, Serialize, Deserialize)]
pub struct Lengths;

#[vow::task("test/lengths")]
impl Task for Lengths {
    type Input = Result<Vec<Result<String, Failure>>, Failure>;
    type Output = usize;
    async fn run(self, all: Self::Input, _cx: &Cx) -> Result<Resolution<usize>, Error> {
        let mut n = 0;
        for s in all? {
            n += s?.len();
        }
        done(n)
    }
}

/// Counts its runs under `key` and returns how many there were.
#[derive(Debug, Serialize, Deserialize)]
pub struct Counted {
    pub key: String,
}

#[vow::task("test/counted")]
impl Task for Counted {
    type Input = ();
    type Output = u32;
    async fn run(self, _: (), _cx: &Cx) -> Result<Resolution<u32>, Error> {
        done(bump(&self.key))
    }
}

/// Logs a line under `key` each time it runs (`read_log(key).len()` counts
/// its runs without changing anything).
#[derive(Debug, Serialize, Deserialize)]
pub struct Logged {
    pub key: String,
}

#[vow::task("test/logged")]
impl Task for Logged {
    type Input = ();
    type Output = ();
    async fn run(self, _: (), cx: &Cx) -> Result<Resolution<()>, Error> {
        let at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        log(&self.key, format!("{} at {at}", cx.id()));
        done(())
    }
}
