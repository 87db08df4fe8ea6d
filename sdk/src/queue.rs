//! The queue seam: at-least-once delivery of message bodies.

use crate::error::BackendError;
use async_trait::async_trait;
use std::time::Duration;

/// The longest a message may be hidden after it is sent: SQS's limit of 15
/// minutes. Both queues clamp longer delays to it.
pub const MAX_DELAY: Duration = Duration::from_secs(900);

/// A message to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outgoing {
    /// The body (an encoded [`crate::wire::Envelope`]).
    pub body: String,
    /// Hidden from receivers for at least this long, up to [`MAX_DELAY`] (SQS
    /// counts whole seconds: a fraction counts as a second more).
    pub delay: Duration,
}

/// A received message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// The queue's id for the message (stable across redeliveries).
    pub message_id: String,
    /// The handle to delete or release this delivery with.
    pub receipt: String,
    /// The body.
    pub body: String,
    /// 1 on first delivery.
    pub receive_count: u32,
}

/// An at-least-once queue with visibility timeouts, like SQS.
#[async_trait]
pub trait Queue: Send + Sync + 'static {
    /// Send messages; implementations batch them as the service allows.
    async fn send(&self, messages: Vec<Outgoing>) -> Result<(), BackendError>;
    /// Receive up to `max` messages, waiting up to `wait` for the first.
    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>, BackendError>;
    /// Delete delivered messages.
    async fn delete(&self, receipts: Vec<String>) -> Result<(), BackendError>;
    /// Make a delivered message visible again after `after`.
    async fn release(&self, receipt: &str, after: Duration) -> Result<(), BackendError>;
    /// The name signed messages sent to this queue are bound to
    /// ([`crate::signing`]): an SQS queue's name, the last segment of its URL.
    /// A queue that wraps another returns the inner queue's name.
    fn name(&self) -> &str;
}
