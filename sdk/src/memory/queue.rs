use crate::error::BackendError;
use crate::queue::{Delivery, Outgoing, Queue};
use async_trait::async_trait;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

/// A [`Queue`] in memory with SQS semantics: visibility timeouts, receive counts,
/// and a redrive to a dead-letter queue after `max_receives`.
#[derive(Debug)]
pub struct MemoryQueue {
    state: Mutex<State>,
    notify: Notify,
    visibility: Duration,
    max_receives: u32,
    dead_letters: Option<Arc<MemoryQueue>>,
    name: String,
}

#[derive(Debug, Default)]
struct State {
    seq: u64,
    ready: BTreeMap<(Instant, u64), Message>,
    inflight: HashMap<String, (Message, Instant)>,
    sent: u64,
}

#[derive(Debug, Clone)]
struct Message {
    id: String,
    body: String,
    receive_count: u32,
}

impl MemoryQueue {
    /// A queue that redrives to `dead_letters` after `max_receives` deliveries.
    pub fn new(
        visibility: Duration,
        max_receives: u32,
        dead_letters: Option<Arc<MemoryQueue>>,
    ) -> Self {
        MemoryQueue {
            state: Mutex::new(State::default()),
            notify: Notify::new(),
            visibility,
            max_receives,
            dead_letters,
            name: "vow-work".to_owned(),
        }
    }

    /// This queue, named `name` (what signed messages sent to it are bound to;
    /// `vow-work` unless set).
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// A queue with no redrive, for use as a dead-letter queue.
    pub fn dead_letter_queue() -> Self {
        Self::new(Duration::from_secs(30), u32::MAX, None).with_name("vow-dead-letters")
    }

    /// Make delayed messages come due `by` sooner (the embedded backend's
    /// [`crate::Vow::skip_time`]).
    pub(crate) fn skip(&self, by: Duration) {
        let now = Instant::now();
        let mut st = self.lock();
        let ready = std::mem::take(&mut st.ready);
        st.ready = ready
            .into_iter()
            .map(|((at, seq), msg)| {
                let sooner = at.checked_sub(by).unwrap_or(now).max(now.min(at));
                ((sooner, seq), msg)
            })
            .collect();
        drop(st);
        self.notify.notify_waiters();
    }

    /// Messages waiting or in flight.
    pub fn len(&self) -> usize {
        let st = self.lock();
        st.ready.len() + st.inflight.len()
    }

    /// Messages due now (visible) or in flight: what a worker has yet to
    /// handle before anything else can happen without time passing.
    pub fn busy(&self) -> usize {
        let now = Instant::now();
        let st = self.lock();
        st.ready.range(..(now, u64::MAX)).count() + st.inflight.len()
    }

    /// Whether no message is waiting or in flight.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Messages sent so far.
    pub fn sent(&self) -> u64 {
        self.lock().sent
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn push(&self, body: String, delay: Duration) {
        let mut st = self.lock();
        st.seq += 1;
        st.sent += 1;
        let seq = st.seq;
        let msg = Message {
            id: format!("m{seq}"),
            body,
            receive_count: 0,
        };
        st.ready.insert((Instant::now() + delay, seq), msg);
        drop(st);
        self.notify.notify_waiters();
    }

    /// Take visible messages; returns them and the next instant something may change.
    fn take(&self, max: usize) -> (Vec<Delivery>, Option<Instant>) {
        let now = Instant::now();
        let mut st = self.lock();
        let expired: Vec<String> = st
            .inflight
            .iter()
            .filter(|(_, (_, deadline))| *deadline <= now)
            .map(|(r, _)| r.clone())
            .collect();
        for receipt in expired {
            if let Some((msg, _)) = st.inflight.remove(&receipt) {
                st.seq += 1;
                let seq = st.seq;
                st.ready.insert((now, seq), msg);
            }
        }
        let mut out = Vec::new();
        let mut buried = Vec::new();
        while out.len() < max {
            let Some((&key, _)) = st.ready.iter().next() else {
                break;
            };
            if key.0 > now {
                break;
            }
            let Some(mut msg) = st.ready.remove(&key) else {
                break;
            };
            msg.receive_count += 1;
            if msg.receive_count > self.max_receives && self.dead_letters.is_some() {
                buried.push(msg.body);
                continue;
            }
            st.seq += 1;
            let receipt = format!("{}-r{}", msg.id, st.seq);
            out.push(Delivery {
                message_id: msg.id.clone(),
                receipt: receipt.clone(),
                body: msg.body.clone(),
                receive_count: msg.receive_count,
            });
            st.inflight.insert(receipt, (msg, now + self.visibility));
        }
        let next_ready = st.ready.keys().next().map(|k| k.0);
        let next_expiry = st.inflight.values().map(|(_, d)| *d).min();
        drop(st);
        if let Some(dlq) = &self.dead_letters {
            for body in buried {
                dlq.push(body, Duration::ZERO);
            }
        }
        let next = match (next_ready, next_expiry) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        (out, next)
    }
}

#[async_trait]
impl Queue for MemoryQueue {
    fn name(&self) -> &str {
        &self.name
    }

    async fn send(&self, messages: Vec<Outgoing>) -> Result<(), BackendError> {
        if let Some(big) = messages.iter().find(|m| m.body.len() > 256 * 1024) {
            return Err(BackendError::fatal(format!(
                "message of {} bytes exceeds the 256 KiB SQS limit",
                big.body.len()
            )));
        }
        for m in messages {
            self.push(m.body, m.delay.min(crate::queue::MAX_DELAY));
        }
        Ok(())
    }

    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>, BackendError> {
        let deadline = Instant::now() + wait;
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let (got, next) = self.take(max);
            if !got.is_empty() || Instant::now() >= deadline {
                return Ok(got);
            }
            let until = next.map_or(deadline, |n| n.min(deadline));
            tokio::select! {
                _ = notified => {}
                _ = tokio::time::sleep_until(until) => {}
            }
        }
    }

    async fn delete(&self, receipts: Vec<String>) -> Result<(), BackendError> {
        let mut st = self.lock();
        for r in receipts {
            st.inflight.remove(&r);
        }
        Ok(())
    }

    async fn release(&self, receipt: &str, after: Duration) -> Result<(), BackendError> {
        let mut st = self.lock();
        if let Some((msg, _)) = st.inflight.remove(receipt) {
            st.seq += 1;
            let seq = st.seq;
            st.ready.insert((Instant::now() + after, seq), msg);
        }
        drop(st);
        self.notify.notify_waiters();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(body: &str) -> Outgoing {
        Outgoing {
            body: body.into(),
            delay: Duration::ZERO,
        }
    }

    #[tokio::test]
    async fn redelivers_after_visibility_and_redrives() {
        let dlq = Arc::new(MemoryQueue::dead_letter_queue());
        let q = MemoryQueue::new(Duration::from_millis(20), 2, Some(dlq.clone()));
        q.send(vec![out("a")]).await.expect("send");
        let first = q.receive(10, Duration::ZERO).await.expect("recv");
        assert_eq!(first.len(), 1);
        assert!(q
            .receive(10, Duration::ZERO)
            .await
            .expect("recv")
            .is_empty());
        let second = q
            .receive(10, Duration::from_millis(200))
            .await
            .expect("recv");
        assert_eq!(second[0].receive_count, 2);
        assert_eq!(second[0].message_id, first[0].message_id);
        q.release(&second[0].receipt, Duration::ZERO)
            .await
            .expect("release");
        assert!(q
            .receive(10, Duration::from_millis(50))
            .await
            .expect("recv")
            .is_empty());
        let dead = dlq.receive(10, Duration::ZERO).await.expect("recv");
        assert_eq!(dead[0].body, "a");
    }

    #[tokio::test]
    async fn delayed_messages_wait_and_deleted_ones_go() {
        let q = MemoryQueue::new(Duration::from_millis(10), 5, None);
        q.send(vec![Outgoing {
            body: "later".into(),
            delay: Duration::from_millis(30),
        }])
        .await
        .expect("send");
        assert!(q.receive(1, Duration::ZERO).await.expect("recv").is_empty());
        let got = q
            .receive(1, Duration::from_millis(500))
            .await
            .expect("recv");
        assert_eq!(got[0].body, "later");
        q.delete(vec![got[0].receipt.clone()])
            .await
            .expect("delete");
        assert!(q.is_empty());
    }
}
