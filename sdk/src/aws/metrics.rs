//! Request accounting: every SQS and DynamoDB call vow makes, counted by kind,
//! with the DynamoDB capacity units they consume.

use super::cost::Prices;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counts of AWS requests. Share one between a [`super::SqsQueue`] and a
/// [`super::DynamoStore`] to measure a workload.
#[derive(Debug, Default)]
pub struct Metrics {
    sqs_send: AtomicU64,
    sqs_receive: AtomicU64,
    sqs_delete: AtomicU64,
    sqs_other: AtomicU64,
    ddb_write: AtomicU64,
    ddb_settled: AtomicU64,
    ddb_timer_write: AtomicU64,
    ddb_read: AtomicU64,
    write_units: AtomicU64,
    read_units: AtomicU64,
    reported_milli: AtomicU64,
    max_item_bytes: AtomicU64,
    sqs_extra_chunks: AtomicU64,
}

/// A snapshot of [`Metrics`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// `SendMessageBatch` calls.
    pub sqs_send: u64,
    /// `ReceiveMessage` calls.
    pub sqs_receive: u64,
    /// `DeleteMessageBatch` calls.
    pub sqs_delete: u64,
    /// Other SQS calls (`ChangeMessageVisibility`).
    pub sqs_other: u64,
    /// DynamoDB `UpdateItem` calls.
    pub ddb_write: u64,
    /// Of those, the ones that settled a slot.
    pub ddb_settled: u64,
    /// Of those, the timer index's: entries put and the sweep's cursor moved
    /// (a few a minute whatever the load, not a cost of any step).
    pub ddb_timer_write: u64,
    /// DynamoDB `GetItem` and `BatchGetItem` calls.
    pub ddb_read: u64,
    /// Write request units, from the sizes of the items written (DynamoDB's rule:
    /// one per started KB of the larger of the item before and after).
    pub write_units: u64,
    /// Read request units, from the sizes of the items read.
    pub read_units: u64,
    /// Capacity units the service reported (`ConsumedCapacity`), in thousandths.
    /// AWS reports what it bills; emulators may report a fixed figure.
    pub reported_units_milli: u64,
    /// The largest item written or read, in bytes.
    pub max_item_bytes: u64,
    /// SQS bills each 64 KiB of a request's payload as one request: the chunks
    /// beyond the first, over all requests.
    pub sqs_extra_chunks: u64,
}

impl Counts {
    /// All SQS requests.
    pub fn sqs(&self) -> u64 {
        self.sqs_send + self.sqs_receive + self.sqs_delete + self.sqs_other
    }

    /// SQS requests as billed: each 64 KiB of payload counts as one.
    pub fn sqs_billed(&self) -> u64 {
        self.sqs() + self.sqs_extra_chunks
    }

    /// What these requests cost at `prices`, in US dollars.
    pub fn usd(&self, prices: &Prices) -> f64 {
        self.sqs_billed() as f64 * prices.sqs_request
            + self.write_units as f64 * prices.write_unit
            + self.read_units as f64 * prices.read_unit
    }

    /// The counts accrued since `earlier`.
    pub fn since(&self, earlier: &Counts) -> Counts {
        Counts {
            sqs_send: self.sqs_send.saturating_sub(earlier.sqs_send),
            sqs_receive: self.sqs_receive.saturating_sub(earlier.sqs_receive),
            sqs_delete: self.sqs_delete.saturating_sub(earlier.sqs_delete),
            sqs_other: self.sqs_other.saturating_sub(earlier.sqs_other),
            ddb_write: self.ddb_write.saturating_sub(earlier.ddb_write),
            ddb_settled: self.ddb_settled.saturating_sub(earlier.ddb_settled),
            ddb_timer_write: self.ddb_timer_write.saturating_sub(earlier.ddb_timer_write),
            ddb_read: self.ddb_read.saturating_sub(earlier.ddb_read),
            write_units: self.write_units.saturating_sub(earlier.write_units),
            read_units: self.read_units.saturating_sub(earlier.read_units),
            reported_units_milli: self
                .reported_units_milli
                .saturating_sub(earlier.reported_units_milli),
            max_item_bytes: self.max_item_bytes,
            sqs_extra_chunks: self
                .sqs_extra_chunks
                .saturating_sub(earlier.sqs_extra_chunks),
        }
    }
}

/// Which counter to bump.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Call {
    SqsSend,
    SqsReceive,
    SqsDelete,
    SqsOther,
    DdbWrite,
    DdbSettled,
    DdbTimerWrite,
    DdbRead,
}

impl Metrics {
    pub(crate) fn count(&self, call: Call) {
        let counter = match call {
            Call::SqsSend => &self.sqs_send,
            Call::SqsReceive => &self.sqs_receive,
            Call::SqsDelete => &self.sqs_delete,
            Call::SqsOther => &self.sqs_other,
            Call::DdbWrite => &self.ddb_write,
            Call::DdbSettled => &self.ddb_settled,
            Call::DdbTimerWrite => &self.ddb_timer_write,
            Call::DdbRead => &self.ddb_read,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// A write of an item of `bytes` (the larger of before and after).
    pub(crate) fn wrote(&self, bytes: usize) {
        self.write_units
            .fetch_add(super::cost::write_units(bytes), Ordering::Relaxed);
        self.max_item_bytes
            .fetch_max(bytes as u64, Ordering::Relaxed);
    }

    /// A consistent read of an item of `bytes`.
    pub(crate) fn read(&self, bytes: usize) {
        self.read_units
            .fetch_add(super::cost::read_units(bytes), Ordering::Relaxed);
        self.max_item_bytes
            .fetch_max(bytes as u64, Ordering::Relaxed);
    }

    /// An SQS request carrying `bytes` of payload.
    pub(crate) fn payload(&self, bytes: usize) {
        let chunks = bytes.div_ceil(64 * 1024).max(1) as u64;
        self.sqs_extra_chunks
            .fetch_add(chunks - 1, Ordering::Relaxed);
    }

    /// Capacity the service reported consuming.
    pub(crate) fn reported(&self, units: Option<f64>) {
        if let Some(units) = units {
            self.reported_milli
                .fetch_add((units * 1000.0).round() as u64, Ordering::Relaxed);
        }
    }

    /// The counts so far.
    pub fn snapshot(&self) -> Counts {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Counts {
            sqs_send: get(&self.sqs_send),
            sqs_receive: get(&self.sqs_receive),
            sqs_delete: get(&self.sqs_delete),
            sqs_other: get(&self.sqs_other),
            ddb_write: get(&self.ddb_write),
            ddb_settled: get(&self.ddb_settled),
            ddb_timer_write: get(&self.ddb_timer_write),
            ddb_read: get(&self.ddb_read),
            write_units: get(&self.write_units),
            read_units: get(&self.read_units),
            reported_units_milli: get(&self.reported_milli),
            max_item_bytes: get(&self.max_item_bytes),
            sqs_extra_chunks: get(&self.sqs_extra_chunks),
        }
    }
}
