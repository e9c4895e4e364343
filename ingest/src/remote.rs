//! Import through a running server (`coffer import --server URL --token T PATH...`): the
//! same readers as a local import, each message sent as one `POST /api/v1/messages?
//! mode=import` with a journal token; the server holds the data directory's writer lock
//! and answers 201 only after the record is fsynced, so the summary counts only what is
//! durable. Eight requests are in flight at once (they share the server's group commit).
//!
//! The HTTP client is `reqwest` over rustls: `https://` URLs are verified against the
//! system's trust store plus any `--ca-cert` (a journal token must not cross a network
//! in clear); `http://` is accepted for loopback only.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use coffer_model::{ErrorCode, MessageFlags, MessageId};
use tokio::sync::{Mutex, mpsc};

use crate::import::{Rejected, WalkOptions, walk};
use crate::importer::{ImportSummary, RejectedInput, SkippedInput};
use crate::writer::Outcome;

/// Requests in flight at once.
const CONCURRENCY: usize = 8;

/// Errors of talking to a remote server.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The server URL is unusable.
    #[error("--server {url}: {reason}")]
    Url {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A CA certificate file could not be used.
    #[error("--ca-cert {path}: {reason}")]
    CaCert {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The HTTP client could not be built or the request failed.
    #[error("{0}")]
    Http(#[from] reqwest::Error),
    /// The file reader failed.
    #[error("the file reader stopped: {0}")]
    Reader(#[from] tokio::task::JoinError),
}

impl RemoteError {
    /// The coarse class of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            RemoteError::Url { .. } | RemoteError::CaCert { .. } => ErrorCode::InvalidInput,
            RemoteError::Http(_) => ErrorCode::Unavailable,
            RemoteError::Reader(_) => ErrorCode::Internal,
        }
    }
}

/// What the remote import needs.
#[derive(Debug, Clone)]
pub struct RemoteImport {
    /// The server's base URL (`https://host:port`, or `http://` on loopback).
    pub server: reqwest::Url,
    /// Journal token.
    pub token: String,
    /// Mailboxes to assign (empty: the server's local domains decide).
    pub mailboxes: Vec<String>,
    /// How paths are walked.
    pub walk: WalkOptions,
    /// Extra trusted CA certificates (PEM), for a server with a private certificate.
    pub ca_certs: Vec<PathBuf>,
}

/// Parses `--server`: `https://HOST[:PORT]`, or `http://` to a loopback address (a token
/// sent in clear stays on this machine).
pub fn server_url(url: &str) -> Result<reqwest::Url, RemoteError> {
    let bad = |reason| RemoteError::Url {
        url: url.to_string(),
        reason,
    };
    let parsed = reqwest::Url::parse(url)
        .map_err(|_| bad("expected https://HOST:PORT (or http://127.0.0.1:PORT)"))?;
    if !parsed.path().trim_end_matches('/').is_empty()
        || parsed.query().is_some()
        || parsed.host_str().is_none()
    {
        return Err(bad(
            "expected https://HOST:PORT with no path (or http://127.0.0.1:PORT)",
        ));
    }
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if is_loopback(&parsed) => Ok(parsed),
        "http" => Err(bad(
            "plain http only to a loopback address: a journal token must not cross a network in clear (use https://)",
        )),
        _ => Err(bad("expected https://HOST:PORT (or http://127.0.0.1:PORT)")),
    }
}

fn is_loopback(url: &reqwest::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

struct Sent {
    name: String,
    bytes: u64,
    result: Result<Outcome, String>,
}

/// The server's answer to one submission (`POST /api/v1/messages`), as the outcome a
/// local import would have had, so both count alike ([`ImportSummary::count`]).
fn outcome_of(answer: &serde_json::Value) -> Result<Outcome, String> {
    let id = || -> Result<MessageId, String> {
        answer["id"]
            .as_str()
            .and_then(|id| id.parse().ok())
            .ok_or_else(|| format!("the server's answer has no message id: {answer}"))
    };
    let flag = |name: &str| {
        answer["flags"]
            .as_array()
            .is_some_and(|f| f.iter().any(|v| v == name))
    };
    Ok(if answer["excluded"].as_bool().unwrap_or(false) {
        Outcome::Excluded {
            internal: false,
            refused: 0,
            size: 0,
        }
    } else if answer["linked"].as_bool().unwrap_or(false) {
        Outcome::Linked {
            id: id()?,
            added: Vec::new(),
        }
    } else if answer["duplicate"].as_bool().unwrap_or(false) {
        Outcome::Duplicate { id: id()? }
    } else {
        let mut flags = MessageFlags::default();
        for (f, name) in MessageFlags::NAMES {
            if flag(name) {
                flags.insert(f);
            }
        }
        Outcome::Archived {
            id: id()?,
            stored_bytes: answer["stored_bytes"].as_u64().unwrap_or(0),
            flags,
        }
    })
}

/// Runs the import; `progress` gets (messages, raw bytes) as they are acknowledged.
pub async fn run(
    remote: RemoteImport,
    paths: Vec<PathBuf>,
    progress: impl Fn(u64, u64) + Send + Sync + 'static,
) -> Result<ImportSummary, RemoteError> {
    let started = Instant::now();
    let client = client(&remote)?;
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
        let skipped = walker.take_skipped();
        (walker.stats().files, rejected, skipped)
    });
    let rx = Arc::new(Mutex::new(rx));
    let remote = Arc::new(remote);
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Sent>();
    let mut workers = Vec::new();
    for _ in 0..CONCURRENCY {
        let (rx, remote, client, done) = (
            Arc::clone(&rx),
            Arc::clone(&remote),
            client.clone(),
            done_tx.clone(),
        );
        workers.push(tokio::spawn(async move {
            loop {
                let next = rx.lock().await.recv().await;
                let Some((name, raw)) = next else { return };
                let bytes = raw.len() as u64;
                let result = submit(&client, &remote, &name, raw).await;
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
        summary.count(sent.name, sent.bytes, sent.result);
        progress(summary.messages, summary.raw_bytes);
    }
    for w in workers {
        let _ = w.await;
    }
    let (files, rejected, skipped) = reader.await?;
    summary.files = files;
    summary.rejected = rejected;
    summary.skipped = skipped.into_iter().map(SkippedInput::from).collect();
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

fn client(remote: &RemoteImport) -> Result<reqwest::Client, RemoteError> {
    let mut certs = Vec::new();
    for path in &remote.ca_certs {
        let pem = std::fs::read(path).map_err(|e| RemoteError::CaCert {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let found =
            reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| RemoteError::CaCert {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        if found.is_empty() {
            return Err(RemoteError::CaCert {
                path: path.clone(),
                reason: "no certificate in the file".into(),
            });
        }
        certs.extend(found);
    }
    Ok(reqwest::Client::builder()
        .user_agent(concat!("coffer/", env!("CARGO_PKG_VERSION")))
        .tls_certs_merge(certs)
        .build()?)
}

/// Sends one message (one retry on a lost connection).
async fn submit(
    client: &reqwest::Client,
    remote: &RemoteImport,
    name: &str,
    raw: Vec<u8>,
) -> Result<Outcome, String> {
    let mut url = remote.server.clone();
    url.set_path("/api/v1/messages");
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("mode", "import")
            .append_pair("origin", name);
        for m in &remote.mailboxes {
            query.append_pair("mailbox", m);
        }
    }
    let body = bytes::Bytes::from(raw);
    let mut attempt = 0;
    let response = loop {
        let sent = client
            .post(url.clone())
            .bearer_auth(&remote.token)
            .header(reqwest::header::CONTENT_TYPE, "message/rfc822")
            .body(body.clone())
            .send()
            .await;
        match sent {
            Ok(response) => break response,
            Err(e) if attempt == 0 && (e.is_connect() || e.is_request()) => {
                tracing::debug!(error = %e, "request failed; retrying once");
                attempt += 1;
            }
            Err(e) => return Err(format!("request failed: {e}")),
        }
    };
    let status = response.status();
    let bytes = response
        .bytes()
        .await
        .map_err(|e| format!("reading the answer: {e}"))?;
    let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    if status.is_success() {
        return outcome_of(&json);
    }
    let message = json["error"]["message"].as_str().unwrap_or("no message");
    Err(format!("server answered {status}: {message}"))
}
