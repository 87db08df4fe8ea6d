//! The in-memory backend: both seams in process, for tests and the embedded default.
//! Every message and outcome still goes through the wire format.

mod queue;
mod store;

pub use queue::MemoryQueue;
pub use store::MemoryStore;
