//! [`LambdaInvoke`]: a [`BatchHandler`] that invokes a Lambda function over the
//! Lambda Invoke API, the way the SQS event source mapping does: an SQS event in,
//! `batchItemFailures` out. Used to feed a real worker binary running under
//! `cargo lambda watch` (or any Invoke-compatible endpoint reachable over plain HTTP).

use crate::error::BackendError;
use crate::poller::BatchHandler;
use crate::queue::Delivery;
use async_trait::async_trait;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Invokes `function` at `host:port` (plain HTTP, e.g. `127.0.0.1:9000`).
#[derive(Clone, Debug)]
pub struct LambdaInvoke {
    address: String,
    function: String,
    queue_arn: String,
}

impl LambdaInvoke {
    /// A handler invoking `function` at `address`; events name `queue_arn` as source.
    pub fn new(
        address: impl Into<String>,
        function: impl Into<String>,
        queue_arn: impl Into<String>,
    ) -> Self {
        LambdaInvoke {
            address: address.into(),
            function: function.into(),
            queue_arn: queue_arn.into(),
        }
    }

    /// The SQS event a batch becomes.
    pub fn event(&self, batch: &[Delivery]) -> Value {
        let records: Vec<Value> = batch
            .iter()
            .map(|d| {
                json!({
                    "messageId": d.message_id,
                    "receiptHandle": d.receipt,
                    "body": d.body,
                    "attributes": { "ApproximateReceiveCount": d.receive_count.to_string() },
                    "messageAttributes": {},
                    "eventSource": "aws:sqs",
                    "eventSourceARN": self.queue_arn,
                })
            })
            .collect();
        json!({ "Records": records })
    }

    async fn post(&self, body: &str) -> Result<(u16, String), BackendError> {
        let io =
            |e: std::io::Error| BackendError::transient(format!("invoke {}: {e}", self.address));
        let mut stream = TcpStream::connect(&self.address).await.map_err(io)?;
        let request = format!(
            "POST /2015-03-31/functions/{}/invocations HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.function,
            self.address,
            body.len()
        );
        stream.write_all(request.as_bytes()).await.map_err(io)?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.map_err(io)?;
        parse_response(&raw)
    }
}

/// The status and body of a raw HTTP/1.1 response. The body is joined from its
/// chunks as bytes and decoded once at the end: a chunk may end inside a
/// multi-byte character.
fn parse_response(raw: &[u8]) -> Result<(u16, String), BackendError> {
    let split = find(raw, b"\r\n\r\n")
        .ok_or_else(|| BackendError::transient("invoke: malformed HTTP response"))?;
    let (head, rest) = raw.split_at(split);
    let rest = rest.get(4..).unwrap_or_default();
    let head = String::from_utf8_lossy(head);
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked {
        dechunk(rest)
    } else {
        rest.to_vec()
    };
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// Where `needle` first occurs in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Join the chunks of a chunked body. Stops at the last chunk, or at anything
/// malformed (a bad size line, a chunk longer than what is left).
fn dechunk(mut rest: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(line) = find(rest, b"\r\n") {
        let (size, tail) = rest.split_at(line);
        let tail = tail.get(2..).unwrap_or_default();
        // A size may carry extensions after `;`.
        let size = String::from_utf8_lossy(size);
        let size = size.split(';').next().unwrap_or_default().trim();
        let Ok(n) = usize::from_str_radix(size, 16) else {
            break;
        };
        let (Some(chunk), Some(after)) = (tail.get(..n), tail.get(n..)) else {
            break;
        };
        if n == 0 {
            break;
        }
        out.extend_from_slice(chunk);
        rest = after.strip_prefix(b"\r\n").unwrap_or(after);
    }
    out
}

#[async_trait]
impl BatchHandler for LambdaInvoke {
    async fn handle(&self, batch: Vec<Delivery>) -> Result<Vec<String>, BackendError> {
        let (status, body) = self.post(&self.event(&batch).to_string()).await?;
        if status != 200 {
            return Err(BackendError::transient(format!(
                "invoke returned HTTP {status}: {body}"
            )));
        }
        let reply: Value = serde_json::from_str(&body).map_err(|e| {
            BackendError::transient(format!("invoke reply is not JSON ({e}): {body}"))
        })?;
        if reply.get("errorType").is_some() {
            return Err(BackendError::transient(format!("function error: {body}")));
        }
        Ok(reply
            .get("batchItemFailures")
            .and_then(Value::as_array)
            .map(|failures| {
                failures
                    .iter()
                    .filter_map(|f| {
                        f.get("itemIdentifier")
                            .and_then(Value::as_str)
                            .map(str::to_owned)
                    })
                    .collect()
            })
            .unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_bodies_are_joined() {
        assert_eq!(
            dechunk(b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n"),
            b"hello world"
        );
        // A chunk longer than what is left ends the body.
        assert_eq!(dechunk(b"5\r\nhel"), b"");
    }

    #[test]
    fn chunks_may_split_a_character() {
        // "aé€" where the chunks cut "é" and "€" in two.
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
            2\r\na\xc3\r\n2\r\n\xa9\xe2\r\n2\r\n\x82\xac\r\n0\r\n\r\n";
        let (status, body) = parse_response(raw).expect("parses");
        assert_eq!(status, 200);
        assert_eq!(body, "aé€");
        let plain = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n€é".as_bytes();
        assert_eq!(parse_response(plain).expect("parses").1, "€é");
    }

    #[test]
    fn events_carry_receive_counts() {
        let d = Delivery {
            message_id: "m".into(),
            receipt: "r".into(),
            body: "b".into(),
            receive_count: 3,
        };
        let e = LambdaInvoke::new("127.0.0.1:9000", "f", "arn").event(&[d]);
        assert_eq!(
            e["Records"][0]["attributes"]["ApproximateReceiveCount"],
            "3"
        );
    }
}
