//! A stand-in for the Lambda runtime API, enough to run a function binary
//! locally: `GET /2018-06-01/runtime/invocation/next` hands out the queued
//! events one by one, and `POST .../invocation/<id>/response` (or `/error`)
//! brings the answers back. Hand-rolled HTTP/1.1 over tokio TCP, keep-alive,
//! bodies by `Content-Length` or chunked.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use vow_e2e::runtime_api::RuntimeApi;
//! let api = RuntimeApi::start().await?;
//! api.invoke(r#"{"Records":[]}"#.to_owned());
//! // Run the binary with AWS_LAMBDA_RUNTIME_API set to api.address() ...
//! let reply = api.reply(std::time::Duration::from_secs(10)).await;
//! # Ok(()) }
//! ```

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// What a function answered to one invocation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// `POST .../response` with this body.
    Response(String),
    /// `POST .../error` or `/init/error` with this body.
    Error(String),
}

/// The longest request head or body the stand-in accepts.
const MAX_REQUEST: usize = 8 << 20;

struct Shared {
    events: tokio::sync::Mutex<mpsc::UnboundedReceiver<String>>,
    replies: mpsc::UnboundedSender<(Reply, Instant)>,
    first_poll: Mutex<Option<Instant>>,
    served: std::sync::atomic::AtomicU64,
}

/// A running stand-in; it stops when dropped.
#[derive(Debug)]
pub struct RuntimeApi {
    address: String,
    events: mpsc::UnboundedSender<String>,
    replies: tokio::sync::Mutex<mpsc::UnboundedReceiver<(Reply, Instant)>>,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").finish_non_exhaustive()
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl RuntimeApi {
    /// Listen on a free loopback port.
    pub async fn start() -> std::io::Result<RuntimeApi> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?.to_string();
        let (events, queued) = mpsc::unbounded_channel();
        let (replied, replies) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            events: tokio::sync::Mutex::new(queued),
            replies: replied,
            first_poll: Mutex::new(None),
            served: Default::default(),
        });
        let serving = shared.clone();
        let server = tokio::spawn(async move {
            // Dropping the set (when the server is aborted) ends every connection.
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                connections.spawn(connection(stream, serving.clone()));
                while connections.try_join_next().is_some() {}
            }
        });
        Ok(RuntimeApi {
            address,
            events,
            replies: tokio::sync::Mutex::new(replies),
            shared,
            server,
        })
    }

    /// The value for `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Queue an event (its JSON) for the next `invocation/next`.
    pub fn invoke(&self, event: String) {
        let _ = self.events.send(event);
    }

    /// The next answer and when it arrived, or `None` after `patience`.
    pub async fn reply_at(&self, patience: Duration) -> Option<(Reply, Instant)> {
        tokio::time::timeout(patience, self.replies.lock().await.recv())
            .await
            .ok()
            .flatten()
    }

    /// The next answer, or `None` after `patience`.
    pub async fn reply(&self, patience: Duration) -> Option<Reply> {
        self.reply_at(patience).await.map(|(r, _)| r)
    }

    /// When a function first asked for an invocation.
    pub fn first_poll(&self) -> Option<Instant> {
        *self
            .shared
            .first_poll
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }
}

/// One request: method, path and body.
struct Request {
    method: String,
    path: String,
    body: Vec<u8>,
}

async fn connection(mut stream: TcpStream, shared: Arc<Shared>) {
    let mut buffer = Vec::new();
    while let Some(request) = read_request(&mut stream, &mut buffer).await {
        let response = answer(request, &shared).await;
        if stream.write_all(response.as_bytes()).await.is_err() {
            return;
        }
    }
}

async fn answer(request: Request, shared: &Shared) -> String {
    let path = request.path.as_str();
    let body = String::from_utf8_lossy(&request.body).into_owned();
    match (request.method.as_str(), path) {
        ("GET", "/2018-06-01/runtime/invocation/next") => {
            shared
                .first_poll
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get_or_insert_with(Instant::now);
            let Some(event) = shared.events.lock().await.recv().await else {
                return http(500, &[], "");
            };
            let n = shared
                .served
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let deadline = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis())
                + 60_000;
            http(
                200,
                &[
                    ("Lambda-Runtime-Aws-Request-Id", &format!("request-{n}")),
                    ("Lambda-Runtime-Deadline-Ms", &deadline.to_string()),
                    (
                        "Lambda-Runtime-Invoked-Function-Arn",
                        "arn:aws:lambda:us-east-1:000000000000:function:bench",
                    ),
                    (
                        "Lambda-Runtime-Trace-Id",
                        "Root=1-00000000-000000000000000000000000",
                    ),
                    ("Content-Type", "application/json"),
                ],
                &event,
            )
        }
        ("POST", "/2018-06-01/runtime/init/error") => {
            let _ = shared.replies.send((Reply::Error(body), Instant::now()));
            http(202, &[], "")
        }
        ("POST", p) if p.starts_with("/2018-06-01/runtime/invocation/") => {
            let reply = if p.ends_with("/response") {
                Reply::Response(body)
            } else {
                Reply::Error(body)
            };
            let _ = shared.replies.send((reply, Instant::now()));
            http(202, &[], "")
        }
        _ => http(404, &[], ""),
    }
}

fn http(status: u16, headers: &[(&str, &str)], body: &str) -> String {
    let reason = match status {
        200 => "OK",
        202 => "Accepted",
        404 => "Not Found",
        _ => "Internal Server Error",
    };
    let mut out = format!("HTTP/1.1 {status} {reason}\r\n");
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    out
}

/// Read one request from `stream`, keeping bytes past it in `buffer`. `None`
/// when the connection ends or sends something this stand-in does not accept.
async fn read_request(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<Request> {
    let head_end = loop {
        if let Some(i) = find(buffer, b"\r\n\r\n") {
            break i;
        }
        fill(stream, buffer).await?;
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    buffer.drain(..head_end + 4);
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let (method, path) = (first.next()?.to_owned(), first.next()?.to_owned());
    let mut length = 0;
    let mut chunked = false;
    for line in lines {
        let (name, value) = line.split_once(':')?;
        let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
        if name == "content-length" {
            length = value.parse().ok()?;
        } else if name == "transfer-encoding" && value.eq_ignore_ascii_case("chunked") {
            chunked = true;
        }
    }
    let body = if chunked {
        read_chunked(stream, buffer).await?
    } else {
        take(stream, buffer, length).await?
    };
    Some(Request { method, path, body })
}

async fn read_chunked(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = loop {
            if let Some(i) = find(buffer, b"\r\n") {
                break i;
            }
            fill(stream, buffer).await?;
        };
        let line = String::from_utf8_lossy(&buffer[..line_end]).into_owned();
        buffer.drain(..line_end + 2);
        let size_hex = line.split(';').next()?.trim();
        let size = usize::from_str_radix(size_hex, 16).ok()?;
        if size == 0 {
            // Trailers, if any, end with an empty line.
            loop {
                let end = loop {
                    if let Some(i) = find(buffer, b"\r\n") {
                        break i;
                    }
                    fill(stream, buffer).await?;
                };
                buffer.drain(..end + 2);
                if end == 0 {
                    return Some(body);
                }
            }
        }
        if body.len().saturating_add(size) > MAX_REQUEST {
            return None;
        }
        body.extend(take(stream, buffer, size).await?);
        take(stream, buffer, 2).await?; // the chunk's CRLF
    }
}

async fn take(stream: &mut TcpStream, buffer: &mut Vec<u8>, n: usize) -> Option<Vec<u8>> {
    if n > MAX_REQUEST {
        return None;
    }
    while buffer.len() < n {
        fill(stream, buffer).await?;
    }
    Some(buffer.drain(..n).collect())
}

async fn fill(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<()> {
    if buffer.len() > MAX_REQUEST {
        return None;
    }
    let mut chunk = [0u8; 16 * 1024];
    match stream.read(&mut chunk).await {
        Ok(0) | Err(_) => None,
        Ok(n) => {
            buffer.extend_from_slice(chunk.get(..n)?);
            Some(())
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn exchange(stream: &mut TcpStream, request: &str) -> String {
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut buffer = Vec::new();
        loop {
            if let Some(end) = find(&buffer, b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
                let length: usize = head
                    .split("\r\n")
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .expect("content-length");
                if buffer.len() >= end + 4 + length {
                    return String::from_utf8_lossy(&buffer[..end + 4 + length]).into_owned();
                }
            }
            fill(stream, &mut buffer).await.expect("response");
        }
    }

    #[tokio::test]
    async fn hands_out_events_and_takes_answers_on_one_connection() {
        let api = RuntimeApi::start().await.expect("listen");
        api.invoke(r#"{"Records":[]}"#.to_owned());
        api.invoke(r#"{"second":true}"#.to_owned());
        let mut stream = TcpStream::connect(api.address()).await.expect("connect");
        let next = "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n";
        let first = exchange(&mut stream, next).await;
        assert!(first.starts_with("HTTP/1.1 200"), "{first}");
        assert!(first.contains("Lambda-Runtime-Aws-Request-Id: request-0\r\n"));
        assert!(first.contains("Lambda-Runtime-Deadline-Ms: "));
        assert!(first.ends_with(r#"{"Records":[]}"#));
        assert!(api.first_poll().is_some());
        // A response sent in chunks, then one with a length, then an error.
        let chunked = "POST /2018-06-01/runtime/invocation/request-0/response HTTP/1.1\r\n\
                       Transfer-Encoding: chunked\r\n\r\n5\r\n{\"a\":\r\n3\r\n12}\r\n0\r\n\r\n";
        assert!(exchange(&mut stream, chunked)
            .await
            .starts_with("HTTP/1.1 202"));
        let second = exchange(&mut stream, next).await;
        assert!(second.contains("request-1") && second.ends_with(r#"{"second":true}"#));
        let sized = "POST /2018-06-01/runtime/invocation/request-1/response HTTP/1.1\r\n\
                     Content-Length: 2\r\n\r\n{}";
        assert!(exchange(&mut stream, sized)
            .await
            .starts_with("HTTP/1.1 202"));
        let failed = "POST /2018-06-01/runtime/invocation/request-2/error HTTP/1.1\r\n\
                      Content-Length: 4\r\n\r\noops";
        assert!(exchange(&mut stream, failed)
            .await
            .starts_with("HTTP/1.1 202"));
        let patience = Duration::from_secs(5);
        assert_eq!(
            api.reply(patience).await,
            Some(Reply::Response(r#"{"a":12}"#.into()))
        );
        assert_eq!(
            api.reply(patience).await,
            Some(Reply::Response("{}".into()))
        );
        assert_eq!(api.reply(patience).await, Some(Reply::Error("oops".into())));
        assert_eq!(api.reply(Duration::from_millis(50)).await, None);
    }
}
