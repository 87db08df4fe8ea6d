//! `vow dlq`: peek at the dead-letter queue, and move its messages back to the
//! work queue. Works on any [`Queue`]: [`vow::aws::SqsQueue`] here, in memory in tests.

use std::fmt::Write as _;
use std::time::Duration;
use vow::queue::{Delivery, Outgoing, Queue};
use vow::wire::{decode_body, decode_envelope, salvage, Body};
use vow::{BackendError, PromiseId};

/// Long poll per receive: SQS may answer an empty short poll while messages wait.
const POLL: Duration = Duration::from_secs(1);

/// A dead-letter message, as far as its envelope can be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Letter {
    pub message_id: String,
    pub receive_count: u32,
    /// The promise it would settle, if the envelope names one.
    pub promise: Option<PromiseId>,
    /// The task's tag, if readable.
    pub tag: Option<String>,
    /// Why the envelope does not decode, if it does not.
    pub problem: Option<String>,
}

impl Letter {
    /// Read what can be read, without decoding the task.
    pub fn read(d: &Delivery) -> Self {
        let body = vow::signing::unverified_body(&d.body);
        if let Ok(Body::Pointer(pointer)) = decode_body(body) {
            return Letter {
                message_id: d.message_id.clone(),
                receive_count: d.receive_count,
                promise: Some(pointer.target.id()),
                tag: None,
                problem: Some(format!("body stored out of line under {}", pointer.blob)),
            };
        }
        let (promise, tag, problem) = match decode_envelope(body) {
            Ok(env) => (Some(env.target.id()), env.tag().map(str::to_owned), None),
            Err(f) => {
                let tag = serde_json::from_str::<serde_json::Value>(body)
                    .ok()
                    .and_then(|v| v.pointer("/task/task")?.as_str().map(str::to_owned));
                let promise = salvage(body).map(|(target, _, _)| target.id());
                (promise, tag, Some(f.message().to_owned()))
            }
        };
        Letter {
            message_id: d.message_id.clone(),
            receive_count: d.receive_count,
            promise,
            tag,
            problem,
        }
    }
}

/// Up to `max` messages, received and then made visible again at once.
pub async fn peek(dlq: &dyn Queue, max: usize) -> Result<Vec<Letter>, BackendError> {
    let mut held: Vec<Delivery> = Vec::new();
    while held.len() < max {
        let batch = dlq.receive((max - held.len()).min(10), POLL).await?;
        if batch.is_empty() {
            break;
        }
        held.extend(batch);
    }
    for d in &held {
        dlq.release(&d.receipt, Duration::ZERO).await?;
    }
    Ok(held.iter().map(Letter::read).collect())
}

/// A table of letters, one per line.
pub fn letters_text(letters: &[Letter]) -> String {
    let mut out = format!(
        "{:<36}  {:>8}  {:<32}  TASK\n",
        "MESSAGE", "RECEIVES", "PROMISE"
    );
    for l in letters {
        let promise = l
            .promise
            .as_ref()
            .map_or("?".to_owned(), ToString::to_string);
        let mut tag = l.tag.clone().unwrap_or_else(|| "?".to_owned());
        if let Some(problem) = &l.problem {
            let _ = write!(tag, " ({})", crate::render::clip(problem, 80));
        }
        let _ = writeln!(
            out,
            "{:<36}  {:>8}  {:<32}  {tag}",
            l.message_id, l.receive_count, promise
        );
    }
    let n = letters.len();
    let _ = writeln!(
        out,
        "{n} message{} on the dead-letter queue",
        if n == 1 { "" } else { "s" }
    );
    out
}

/// Move every message from `dlq` to `work` (send, then delete); how many moved.
pub async fn redrive(dlq: &dyn Queue, work: &dyn Queue) -> Result<usize, BackendError> {
    let mut moved = 0;
    loop {
        let batch = dlq.receive(10, POLL).await?;
        if batch.is_empty() {
            return Ok(moved);
        }
        let outgoing = batch
            .iter()
            .map(|d| Outgoing {
                body: d.body.clone(),
                delay: Duration::ZERO,
            })
            .collect();
        work.send(outgoing).await?;
        dlq.delete(batch.iter().map(|d| d.receipt.clone()).collect())
            .await?;
        moved += batch.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vow::memory::MemoryQueue;
    use vow::wire::{Envelope, Target, WIRE_VERSION};

    fn envelope(id: &PromiseId) -> String {
        Envelope {
            v: WIRE_VERSION,
            target: Target::Promise(id.clone()),
            token: "t".into(),
            attempt: 1,
            repair: false,
            task: serde_json::json!({"task": "samples/square", "with": 7}),
            input: None,
            opts: Default::default(),
            conts: Vec::new(),
        }
        .encode()
    }

    fn send(body: &str) -> Vec<Outgoing> {
        vec![Outgoing {
            body: body.to_owned(),
            delay: Duration::ZERO,
        }]
    }

    #[tokio::test]
    async fn peek_reads_envelopes_and_leaves_the_messages() {
        let dlq = MemoryQueue::dead_letter_queue();
        let id = PromiseId::random();
        dlq.send(send(&envelope(&id))).await.expect("send");
        let broken = envelope(&id).replace("\"v\":1", "\"v\":9");
        dlq.send(send(&broken)).await.expect("send");
        dlq.send(send("not json")).await.expect("send");
        let letters = peek(&dlq, 100).await.expect("peek");
        assert_eq!(letters.len(), 3);
        assert_eq!(letters[0].promise.as_ref(), Some(&id));
        assert_eq!(letters[0].tag.as_deref(), Some("samples/square"));
        assert_eq!(letters[0].problem, None);
        assert_eq!(letters[1].promise.as_ref(), Some(&id));
        assert!(letters[1]
            .problem
            .as_deref()
            .is_some_and(|p| p.contains("wire version 9")));
        assert_eq!(
            (letters[2].promise.as_ref(), letters[2].tag.as_ref()),
            (None, None)
        );
        assert_eq!(dlq.len(), 3, "peeking must not remove messages");
        assert_eq!(peek(&dlq, 2).await.expect("peek again").len(), 2);
        let text = letters_text(&letters);
        assert!(
            text.contains(&format!("  1  {id}  samples/square\n")),
            "{text}"
        );
        assert!(
            text.ends_with("3 messages on the dead-letter queue\n"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn redrive_moves_every_message() {
        let dlq = MemoryQueue::dead_letter_queue();
        let work = MemoryQueue::dead_letter_queue();
        for _ in 0..23 {
            dlq.send(send(&envelope(&PromiseId::random())))
                .await
                .expect("send");
        }
        assert_eq!(redrive(&dlq, &work).await.expect("redrive"), 23);
        assert_eq!((dlq.len(), work.len()), (0, 23));
    }
}
