//! `coffer import --server URL --token T PATH...`: import through a running server
//! (which holds the data directory's writer lock) over its HTTP API, with the same
//! readers, progress bar and summary as a local import.
//!
//! Each message is one `POST /api/v1/messages?mode=import` with a journal token; the
//! server answers 201 only after the record is fsynced, so the summary counts only what
//! is durable. Eight requests are in flight at once (they share the server's group
//! commit). Plain HTTP only: across hosts, reach the server through a TLS-terminating
//! proxy's local side or an SSH tunnel.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use coffer_ingest::import::{Rejected, WalkOptions, walk};
use coffer_ingest::importer::{ImportSummary, RejectedInput};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use tokio::sync::{Mutex, mpsc};

/// Requests in flight at once.
const CONCURRENCY: usize = 8;

/// What the remote import needs.
pub struct RemoteImport {
    /// `host:port` of the server.
    pub authority: String,
    /// Journal token.
    pub token: String,
    /// Mailboxes to assign (empty: the server's local domains decide).
    pub mailboxes: Vec<String>,
    /// How paths are walked.
    pub walk: WalkOptions,
}

/// Parses `http://host:port` (a trailing `/` allowed).
pub fn authority(url: &str) -> Result<String> {
    if url.starts_with("https://") {
        bail!(
            "--server {url}: this client speaks plain HTTP; use the local side of a TLS proxy or an SSH tunnel"
        );
    }
    let rest = url
        .strip_prefix("http://")
        .with_context(|| format!("--server {url}: expected http://HOST:PORT"))?;
    let authority = rest.trim_end_matches('/');
    if authority.is_empty() || authority.contains('/') {
        bail!("--server {url}: expected http://HOST:PORT");
    }
    Ok(authority.to_string())
}

struct Sent {
    name: String,
    bytes: u64,
    result: Result<(bool, bool), String>,
}

/// Runs the import; `progress` gets (messages, raw bytes) as they are acknowledged.
pub async fn run(
    remote: RemoteImport,
    paths: Vec<PathBuf>,
    progress: impl Fn(u64, u64) + Send + Sync + 'static,
) -> Result<ImportSummary> {
    let started = Instant::now();
    let (tx, rx) = mpsc::channel::<(String, Vec<u8>)>(CONCURRENCY * 2);
    let walk_options = remote.walk;
    let reader = tokio::task::spawn_blocking(move || {
        let mut walker = walk(paths, walk_options);
        let mut rejected = Vec::new();
        for next in walker.by_ref() {
            match next {
                Ok(item) => {
                    if tx
                        .blocking_send((item.source.to_string(), item.raw))
                        .is_err()
                    {
                        break;
                    }
                }
                Err(Rejected { source, reason }) => rejected.push(RejectedInput {
                    path: source.to_string(),
                    reason: reason.to_string(),
                }),
            }
        }
        (walker.stats().files, rejected)
    });
    let rx = Arc::new(Mutex::new(rx));
    let remote = Arc::new(remote);
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Sent>();
    let mut workers = Vec::new();
    for _ in 0..CONCURRENCY {
        let rx = Arc::clone(&rx);
        let remote = Arc::clone(&remote);
        let done = done_tx.clone();
        workers.push(tokio::spawn(async move {
            let mut connection: Option<hyper::client::conn::http1::SendRequest<Full<Bytes>>> = None;
            loop {
                let next = rx.lock().await.recv().await;
                let Some((name, raw)) = next else { return };
                let bytes = raw.len() as u64;
                let result = submit(&remote, &mut connection, &name, raw).await;
                if done
                    .send(Sent {
                        name,
                        bytes,
                        result,
                    })
                    .is_err()
                {
                    return;
                }
            }
        }));
    }
    drop(done_tx);
    let mut summary = ImportSummary::default();
    while let Some(sent) = done_rx.recv().await {
        summary.messages += 1;
        summary.raw_bytes += sent.bytes;
        match sent.result {
            Ok((true, _)) => summary.duplicates += 1,
            Ok((false, true)) => summary.failed.push(RejectedInput {
                path: sent.name,
                reason: "excluded by archiving rules".into(),
            }),
            Ok((false, false)) => summary.archived += 1,
            Err(reason) => summary.failed.push(RejectedInput {
                path: sent.name,
                reason,
            }),
        }
        progress(summary.messages, summary.raw_bytes);
    }
    for w in workers {
        let _ = w.await;
    }
    let (files, rejected) = reader.await.context("reader panicked")?;
    summary.files = files;
    summary.rejected = rejected;
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// Sends one message, (re)connecting as needed; Ok((duplicate, excluded)).
async fn submit(
    remote: &RemoteImport,
    connection: &mut Option<hyper::client::conn::http1::SendRequest<Full<Bytes>>>,
    name: &str,
    raw: Vec<u8>,
) -> Result<(bool, bool), String> {
    let path = {
        let mut query = form_urlencoded::Serializer::new(String::new());
        query
            .append_pair("mode", "import")
            .append_pair("origin", name);
        for m in &remote.mailboxes {
            query.append_pair("mailbox", m);
        }
        format!("/api/v1/messages?{}", query.finish())
    };
    let body = Bytes::from(raw);
    for attempt in 0..2 {
        if connection.as_ref().is_none_or(|c| c.is_closed()) {
            let stream = tokio::net::TcpStream::connect(&remote.authority)
                .await
                .map_err(|e| format!("connecting to {}: {e}", remote.authority))?;
            let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| format!("HTTP handshake: {e}"))?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            *connection = Some(send);
        }
        let Some(send) = connection.as_mut() else {
            return Err("no connection".into());
        };
        let request = hyper::Request::post(&path)
            .header("host", &remote.authority)
            .header("authorization", format!("Bearer {}", remote.token))
            .header("content-type", "message/rfc822")
            .body(Full::new(body.clone()))
            .map_err(|e| e.to_string())?;
        let response = match send.send_request(request).await {
            Ok(r) => r,
            Err(e) if attempt == 0 => {
                tracing::debug!(error = %e, "connection lost; reconnecting");
                *connection = None;
                continue;
            }
            Err(e) => return Err(format!("request failed: {e}")),
        };
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("reading the answer: {e}"))?
            .to_bytes();
        let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        if status.is_success() {
            return Ok((
                json["duplicate"].as_bool().unwrap_or(false),
                json["excluded"].as_bool().unwrap_or(false),
            ));
        }
        let message = json["error"]["message"]
            .as_str()
            .unwrap_or("no message")
            .to_string();
        return Err(format!("server answered {status}: {message}"));
    }
    Err("connection lost twice".into())
}
