//! A recording proxy for the IAM check: it stands between a function process and
//! an emulator, forwards every request unchanged, and records each request as
//! IAM authorizes it: the action (`dynamodb:Scan`, `sqs:SendMessage`, …) and the
//! ARN of the resource it touches, under the principal whose proxy it went
//! through. Recording at the HTTP level sees every client in the process, the
//! engine's and those tasks build themselves alike.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use vow_e2e::recorder::Recorder;
//! let recorder = Recorder::default();
//! // Point the function's AWS_ENDPOINT_URL_DYNAMODB here.
//! let url = recorder.proxy("worker", "function", "http://127.0.0.1:4569").await?;
//! # let _ = url;
//! // ... run the function ...
//! for (access, n) in recorder.calls() {
//!     println!("{} {} {} x{n}", access.principal, access.action, access.resource);
//! }
//! # Ok(())
//! # }
//! ```

use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The region in every recorded ARN (the emulators' region in the tests).
pub const REGION: &str = "us-east-1";
/// The account in every recorded ARN.
pub const ACCOUNT: &str = "000000000000";

/// The largest request head or body the proxy reads (SQS and DynamoDB bodies
/// stay far below it).
const MAX_REQUEST: usize = 64 * 1024 * 1024;

/// One kind of access: who made it, as what, which action on which resource.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Access {
    /// The function whose role authorizes the call (`worker`, `dead-letter`).
    pub principal: String,
    /// `function` (the function's own code) or `event source mapping` (the
    /// Lambda service polling for the function, with the function's role).
    pub via: String,
    /// The IAM action, such as `dynamodb:Scan`.
    pub action: String,
    /// The resource's ARN, or `*` for actions without one.
    pub resource: String,
}

#[derive(Debug, Default)]
struct Log {
    calls: BTreeMap<Access, u64>,
    errors: Vec<String>,
}

/// Records the accesses made through its proxies. Clones share one record.
#[derive(Clone, Debug, Default)]
pub struct Recorder {
    log: Arc<Mutex<Log>>,
}

impl Recorder {
    /// Start a proxy to `upstream` (an `http://host:port` endpoint) on a free
    /// loopback port; returns its endpoint URL. Every request through it is
    /// recorded under `principal` and `via`. It serves until the runtime ends.
    pub async fn proxy(
        &self,
        principal: &str,
        via: &str,
        upstream: &str,
    ) -> std::io::Result<String> {
        let upstream = upstream
            .trim_end_matches('/')
            .strip_prefix("http://")
            .ok_or_else(|| std::io::Error::other(format!("not a plain http endpoint: {upstream}")))?
            .to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let who = (principal.to_owned(), via.to_owned());
        let recorder = self.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (recorder, upstream, who) = (recorder.clone(), upstream.clone(), who.clone());
                tokio::spawn(async move {
                    if let Err(e) = recorder.relay(client, &upstream, &who).await {
                        recorder.error(format!("{} ({}): connection: {e}", who.0, who.1));
                    }
                });
            }
        });
        Ok(url)
    }

    /// Every access recorded so far, with how often it was made.
    pub fn calls(&self) -> Vec<(Access, u64)> {
        let log = self.log.lock().unwrap_or_else(PoisonError::into_inner);
        log.calls.iter().map(|(a, n)| (a.clone(), *n)).collect()
    }

    /// Requests that could not be attributed to an action and a resource.
    pub fn errors(&self) -> Vec<String> {
        let log = self.log.lock().unwrap_or_else(PoisonError::into_inner);
        log.errors.clone()
    }

    /// Whether `principal` made `action` on `resource`.
    pub fn saw(&self, principal: &str, action: &str, resource: &str) -> bool {
        self.calls()
            .iter()
            .any(|(a, _)| a.principal == principal && a.action == action && a.resource == resource)
    }

    /// The record as JSON: region, account, the stack's `resources` (given by
    /// the caller: which ARN is which of the template's resources) and the calls.
    pub fn to_json(&self, resources: Value) -> Value {
        let calls: Vec<Value> = self
            .calls()
            .into_iter()
            .map(|(a, n)| {
                serde_json::json!({
                    "principal": a.principal,
                    "via": a.via,
                    "action": a.action,
                    "resource": a.resource,
                    "count": n,
                })
            })
            .collect();
        serde_json::json!({
            "region": REGION,
            "account": ACCOUNT,
            "resources": resources,
            "calls": calls,
        })
    }

    fn record(&self, principal: &(String, String), accesses: Vec<(String, String)>) {
        let mut log = self.log.lock().unwrap_or_else(PoisonError::into_inner);
        for (action, resource) in accesses {
            let access = Access {
                principal: principal.0.clone(),
                via: principal.1.clone(),
                action,
                resource,
            };
            *log.calls.entry(access).or_default() += 1;
        }
    }

    fn error(&self, e: String) {
        let mut log = self.log.lock().unwrap_or_else(PoisonError::into_inner);
        log.errors.push(e);
    }

    /// Forward one client connection to `upstream`: responses flow back
    /// untouched; each request is read whole (head and `Content-Length` body),
    /// recorded, and passed on. The head is passed on at once, so a client that
    /// waits for `100 Continue` is not held up.
    async fn relay(
        &self,
        client: TcpStream,
        upstream: &str,
        who: &(String, String),
    ) -> std::io::Result<()> {
        let server = TcpStream::connect(upstream).await?;
        let (mut from_client, mut to_client) = client.into_split();
        let (mut from_server, mut to_server) = server.into_split();
        let back = tokio::spawn(async move {
            let copied = tokio::io::copy(&mut from_server, &mut to_client).await;
            let _ = to_client.shutdown().await;
            copied
        });
        let mut buf = Vec::new();
        'requests: loop {
            let head_end = loop {
                if let Some(i) = find(&buf, b"\r\n\r\n") {
                    break i + 4;
                }
                if buf.len() > MAX_REQUEST || read_more(&mut from_client, &mut buf).await? == 0 {
                    break 'requests;
                }
            };
            let head = Head::parse(&buf[..head_end]);
            to_server.write_all(&buf[..head_end]).await?;
            buf.drain(..head_end);
            if head.chunked {
                // Not sent by the AWS SDKs for these services: pass the rest
                // through unrecorded and say so.
                self.error(format!(
                    "{} ({}): chunked request not recorded",
                    who.0, who.1
                ));
                to_server.write_all(&buf).await?;
                tokio::io::copy(&mut from_client, &mut to_server).await?;
                break;
            }
            let len = head.content_length.min(MAX_REQUEST);
            while buf.len() < len {
                if read_more(&mut from_client, &mut buf).await? == 0 {
                    break 'requests;
                }
            }
            to_server.write_all(&buf[..len]).await?;
            match accesses(&head, &buf[..len]) {
                Ok(found) => self.record(who, found),
                Err(e) => self.error(format!("{} ({}): {e}", who.0, who.1)),
            }
            buf.drain(..len);
        }
        to_server.shutdown().await?;
        back.await.map_err(std::io::Error::other)??;
        Ok(())
    }
}

async fn read_more(
    from: &mut tokio::net::tcp::OwnedReadHalf,
    buf: &mut Vec<u8>,
) -> std::io::Result<usize> {
    let mut chunk = [0u8; 16 * 1024];
    let n = from.read(&mut chunk).await?;
    buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
    Ok(n)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// What the proxy reads of a request head.
#[derive(Debug, Default)]
pub struct Head {
    /// `X-Amz-Target`, the operation of JSON-protocol services.
    pub target: Option<String>,
    /// The body's length.
    pub content_length: usize,
    /// Whether the body is sent in chunks.
    pub chunked: bool,
}

impl Head {
    /// Parse a request head (request line and headers).
    pub fn parse(raw: &[u8]) -> Head {
        let text = String::from_utf8_lossy(raw);
        let mut head = Head::default();
        for line in text.split("\r\n").skip(1) {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            match name.trim().to_ascii_lowercase().as_str() {
                "x-amz-target" => head.target = Some(value.to_owned()),
                "content-length" => head.content_length = value.parse().unwrap_or(0),
                "transfer-encoding" => head.chunked = value.eq_ignore_ascii_case("chunked"),
                _ => {}
            }
        }
        head
    }
}

/// The IAM actions and resource ARNs one request needs: DynamoDB, Secrets
/// Manager and SQS in the JSON protocol (`X-Amz-Target`), SQS in the query
/// protocol (`Action=`).
pub fn accesses(head: &Head, body: &[u8]) -> Result<Vec<(String, String)>, String> {
    match head.target.as_deref().and_then(|t| t.split_once('.')) {
        Some(("DynamoDB_20120810", op)) => dynamodb(op, &json(body)?),
        Some(("AmazonSQS", op)) => {
            let body = json(body)?;
            let field = |name: &str| body.get(name).and_then(Value::as_str).map(str::to_owned);
            sqs(op, field("QueueUrl"), field("QueueName"))
        }
        Some(("secretsmanager", op)) => secretsmanager(op, &json(body)?),
        Some((service, op)) => Err(format!("unknown service {service} ({op})")),
        None => {
            let form = form(body);
            let field = |name: &str| form.get(name).cloned();
            let op = field("Action").ok_or("request without X-Amz-Target or Action")?;
            sqs(&op, field("QueueUrl"), field("QueueName"))
        }
    }
}

fn json(body: &[u8]) -> Result<Value, String> {
    serde_json::from_slice(body).map_err(|e| format!("body is not JSON: {e}"))
}

/// The resources of a DynamoDB operation: one per table for the batch
/// operations, one per item (as the item action) for transactions.
fn dynamodb(op: &str, body: &Value) -> Result<Vec<(String, String)>, String> {
    let action = |a: &str| format!("dynamodb:{a}");
    let tables = |field: &str| -> Result<Vec<String>, String> {
        Ok(body
            .get(field)
            .and_then(Value::as_object)
            .ok_or(format!("{op} without {field}"))?
            .keys()
            .map(|t| table_arn(t))
            .collect())
    };
    match op {
        "BatchGetItem" | "BatchWriteItem" => Ok(tables("RequestItems")?
            .into_iter()
            .map(|t| (action(op), t))
            .collect()),
        "TransactWriteItems" | "TransactGetItems" => {
            let items = body
                .get("TransactItems")
                .and_then(Value::as_array)
                .ok_or(format!("{op} without TransactItems"))?;
            let mut out = Vec::new();
            for item in items {
                let (kind, inner) = item
                    .as_object()
                    .and_then(|o| o.iter().next())
                    .ok_or(format!("{op}: empty item"))?;
                let item_action = match kind.as_str() {
                    "Put" => "PutItem",
                    "Update" => "UpdateItem",
                    "Delete" => "DeleteItem",
                    "ConditionCheck" => "ConditionCheckItem",
                    "Get" => "GetItem",
                    other => return Err(format!("{op}: unknown item kind {other}")),
                };
                let table = inner
                    .get("TableName")
                    .and_then(Value::as_str)
                    .ok_or(format!("{op}: {kind} without TableName"))?;
                out.push((action(item_action), table_arn(table)));
            }
            Ok(out)
        }
        "ListTables" | "DescribeLimits" | "DescribeEndpoints" => Ok(vec![(action(op), "*".into())]),
        _ => {
            let table = body
                .get("TableName")
                .and_then(Value::as_str)
                .ok_or(format!("dynamodb {op} without TableName"))?;
            let mut arn = table_arn(table);
            if let Some(index) = body.get("IndexName").and_then(Value::as_str) {
                arn = format!("{arn}/index/{index}");
            }
            Ok(vec![(action(op), arn)])
        }
    }
}

fn table_arn(name: &str) -> String {
    if name.starts_with("arn:") {
        name.to_owned()
    } else {
        format!("arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}")
    }
}

/// An SQS operation's action (a batch is authorized as its single action) and
/// the queue's ARN (from `QueueUrl`, or `QueueName` for `CreateQueue` and
/// `GetQueueUrl`).
/// A Secrets Manager operation on the secret its `SecretId` names (the
/// functions name it by ARN, as the stacks give it to them).
fn secretsmanager(op: &str, body: &Value) -> Result<Vec<(String, String)>, String> {
    let id = body
        .get("SecretId")
        .and_then(Value::as_str)
        .ok_or(format!("secretsmanager {op} without SecretId"))?;
    if !id.starts_with("arn:") {
        return Err(format!(
            "secretsmanager {op}: SecretId {id} is a name, not the ARN the stacks give"
        ));
    }
    Ok(vec![(format!("secretsmanager:{op}"), id.to_owned())])
}

fn sqs(
    op: &str,
    url: Option<String>,
    name: Option<String>,
) -> Result<Vec<(String, String)>, String> {
    let action = match op {
        "SendMessageBatch" => "SendMessage",
        "DeleteMessageBatch" => "DeleteMessage",
        "ChangeMessageVisibilityBatch" => "ChangeMessageVisibility",
        other => other,
    };
    let action = format!("sqs:{action}");
    if op == "ListQueues" {
        return Ok(vec![(action, "*".into())]);
    }
    let name = match (url, name) {
        (Some(url), _) => url
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .filter(|n| !n.is_empty())
            .map(str::to_owned)
            .ok_or(format!("sqs {op}: bad QueueUrl {url}"))?,
        (None, Some(name)) => name,
        (None, None) => return Err(format!("sqs {op} without QueueUrl")),
    };
    Ok(vec![(
        action,
        format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"),
    )])
}

/// The fields of an `application/x-www-form-urlencoded` body.
fn form(body: &[u8]) -> BTreeMap<String, String> {
    String::from_utf8_lossy(body)
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (percent_decode(k), percent_decode(v)))
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b, hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(target: &str) -> Head {
        Head {
            target: Some(target.to_owned()),
            ..Head::default()
        }
    }

    fn table(name: &str) -> String {
        format!("arn:aws:dynamodb:us-east-1:000000000000:table/{name}")
    }

    fn queue(name: &str) -> String {
        format!("arn:aws:sqs:us-east-1:000000000000:{name}")
    }

    fn pairs(v: &[(&str, String)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, r)| ((*a).to_owned(), r.clone()))
            .collect()
    }

    #[test]
    fn a_head_gives_its_target_and_length() {
        let h = Head::parse(
            b"POST / HTTP/1.1\r\nHost: x\r\ncontent-length: 12\r\nX-Amz-Target: AmazonSQS.SendMessage\r\n\r\n",
        );
        assert_eq!(h.target.as_deref(), Some("AmazonSQS.SendMessage"));
        assert_eq!(h.content_length, 12);
        assert!(!h.chunked);
    }

    #[test]
    fn dynamodb_calls_name_their_tables_and_indexes() {
        let scan = br#"{"TableName":"data","Segment":0,"TotalSegments":4}"#;
        assert_eq!(
            accesses(&head("DynamoDB_20120810.Scan"), scan),
            Ok(pairs(&[("dynamodb:Scan", table("data"))]))
        );
        let query = br#"{"TableName":"data","IndexName":"by-colour"}"#;
        assert_eq!(
            accesses(&head("DynamoDB_20120810.Query"), query),
            Ok(pairs(&[(
                "dynamodb:Query",
                format!("{}/index/by-colour", table("data"))
            )]))
        );
        let batch = br#"{"RequestItems":{"a":{"Keys":[]},"b":{"Keys":[]}}}"#;
        assert_eq!(
            accesses(&head("DynamoDB_20120810.BatchGetItem"), batch),
            Ok(pairs(&[
                ("dynamodb:BatchGetItem", table("a")),
                ("dynamodb:BatchGetItem", table("b"))
            ]))
        );
        let tx = br#"{"TransactItems":[{"Put":{"TableName":"a"}},{"ConditionCheck":{"TableName":"b"}}]}"#;
        assert_eq!(
            accesses(&head("DynamoDB_20120810.TransactWriteItems"), tx),
            Ok(pairs(&[
                ("dynamodb:PutItem", table("a")),
                ("dynamodb:ConditionCheckItem", table("b"))
            ]))
        );
        let by_arn = br#"{"TableName":"arn:aws:dynamodb:eu-west-1:1:table/t"}"#;
        assert_eq!(
            accesses(&head("DynamoDB_20120810.GetItem"), by_arn),
            Ok(pairs(&[(
                "dynamodb:GetItem",
                "arn:aws:dynamodb:eu-west-1:1:table/t".to_owned()
            )]))
        );
    }

    #[test]
    fn secrets_manager_calls_name_their_secret_by_arn() {
        let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:keys-AbCdEf";
        assert_eq!(
            accesses(
                &head("secretsmanager.GetSecretValue"),
                format!(r#"{{"SecretId":"{arn}"}}"#).as_bytes()
            ),
            Ok(pairs(&[("secretsmanager:GetSecretValue", arn.to_owned())]))
        );
        assert!(accesses(
            &head("secretsmanager.GetSecretValue"),
            br#"{"SecretId":"keys"}"#
        )
        .is_err());
    }

    #[test]
    fn sqs_batches_are_authorized_as_their_single_action() {
        let body = br#"{"QueueUrl":"http://127.0.0.1:4566/000000000000/vow-work","Entries":[]}"#;
        assert_eq!(
            accesses(&head("AmazonSQS.SendMessageBatch"), body),
            Ok(pairs(&[("sqs:SendMessage", queue("vow-work"))]))
        );
        assert_eq!(
            accesses(&head("AmazonSQS.DeleteMessageBatch"), body),
            Ok(pairs(&[("sqs:DeleteMessage", queue("vow-work"))]))
        );
        assert_eq!(
            accesses(&head("AmazonSQS.ReceiveMessage"), body),
            Ok(pairs(&[("sqs:ReceiveMessage", queue("vow-work"))]))
        );
    }

    #[test]
    fn sqs_query_protocol_requests_are_read_from_the_form() {
        let body = b"Action=ChangeMessageVisibilityBatch&QueueUrl=http%3A%2F%2Fh%2F000000000000%2Fq%2B1&Version=2012-11-05";
        assert_eq!(
            accesses(&Head::default(), body),
            Ok(pairs(&[("sqs:ChangeMessageVisibility", queue("q+1"))]))
        );
    }

    #[test]
    fn requests_that_name_no_resource_are_errors() {
        assert!(accesses(&head("DynamoDB_20120810.PutItem"), b"{}").is_err());
        assert!(accesses(&head("AmazonSQS.SendMessage"), b"{}").is_err());
        assert!(accesses(&head("DynamoDB_20120810.GetItem"), b"not json").is_err());
        assert!(accesses(&head("Logs_20140328.PutLogEvents"), b"{}").is_err());
        assert!(accesses(&Head::default(), b"").is_err());
    }
}
