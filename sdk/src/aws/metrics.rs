//! Request accounting: every SQS and DynamoDB call vow makes, counted by kind.

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
    ddb_read: AtomicU64,
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
    /// DynamoDB `GetItem` and `BatchGetItem` calls.
    pub ddb_read: u64,
}

impl Counts {
    /// All SQS requests.
    pub fn sqs(&self) -> u64 {
        self.sqs_send + self.sqs_receive + self.sqs_delete + self.sqs_other
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
            Call::DdbRead => &self.ddb_read,
        };
        counter.fetch_add(1, Ordering::Relaxed);
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
            ddb_read: get(&self.ddb_read),
        }
    }
}
