//! Signed tree heads leave the host: every new head of a volume (mail or audit) is
//! published to the configured witnesses, so that whoever holds the data directory — and
//! even its signing key — cannot rewrite or cut what was acknowledged without the copies
//! outside disagreeing (the Certificate Transparency model, RFC 9162).
//!
//! Witnesses ([`WitnessTarget`]):
//! - **file**: an append-only file on other media (a separate mount): one canonical JSON
//!   head per line, fsynced;
//! - **http**: `POST` of the head's canonical JSON to an HTTP(S) endpoint (2xx = taken);
//! - **syslog**: one RFC 5424 message per head (UDP to a collector, or the local socket).
//!
//! Optionally each head is timestamped by an RFC 3161 time-stamping authority
//! ([`WitnessConfig::timestamp_authority`], a witness of its own: with or without
//! other witnesses, and a slow authority holds up no other): the head's SHA-256 is sent as a
//! `TimeStampReq`, and the authority's `TimeStampResp` (a signed token) is kept beside the
//! published head in [`WitnessConfig::tokens_dir`] (`PURPOSE-YEAR-SIZE.tsr`), for
//! auditors to check with `openssl ts -verify`.
//!
//! With an interval ([`WitnessConfig::interval`]) only the newest head of each volume
//! is handed on, once per interval, instead of every head.
//!
//! Publishing **never blocks acknowledgement**: [`Witnesses::publish`] only queues the
//! head for each witness and wakes its worker; a failing witness is retried (with
//! backoff) until it takes the head, then the next, in order — every head reaches every
//! witness. Should a witness stay down so long that its queue fills
//! ([`MAX_QUEUED_HEADS`]), its oldest heads are dropped and counted: the newest head
//! extends every earlier one, so nothing an auditor can prove is lost. The state of each
//! witness is reported ([`Witnesses::status`], and `/metrics`). Heads carry no content:
//! ids, sizes, hashes and a signature.

use std::collections::{BTreeMap, VecDeque};
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use coffer_volume::SignedTreeHead;
use sha2::Digest;
use tokio::sync::Notify;

/// Most heads queued for one witness; beyond it the oldest are dropped (and counted).
pub const MAX_QUEUED_HEADS: usize = 100_000;

/// Where heads go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WitnessTarget {
    /// Append one JSON line per head to this file (fsynced).
    File(PathBuf),
    /// `POST` each head (JSON) to this URL.
    Http(String),
    /// Send each head as a syslog message to this UDP address (`host:port`), or to the
    /// local syslog socket when `None`.
    Syslog(Option<String>),
    /// Have each head timestamped by this RFC 3161 authority (the token kept in
    /// [`WitnessConfig::tokens_dir`]): added by [`Witnesses::start`] for
    /// [`WitnessConfig::timestamp_authority`], a witness of its own, retried and
    /// reported like the others.
    Timestamp(String),
}

impl std::fmt::Display for WitnessTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WitnessTarget::File(path) => write!(f, "file:{}", path.display()),
            WitnessTarget::Http(url) => write!(f, "{url}"),
            WitnessTarget::Syslog(Some(addr)) => write!(f, "syslog:{addr}"),
            WitnessTarget::Syslog(None) => write!(f, "syslog"),
            WitnessTarget::Timestamp(url) => write!(f, "timestamp:{url}"),
        }
    }
}

impl std::str::FromStr for WitnessTarget {
    type Err = String;

    /// `file:/path`, `http://...`, `https://...`, `syslog` or `syslog:host:port`.
    fn from_str(spec: &str) -> Result<Self, String> {
        let spec = spec.trim();
        if let Some(path) = spec.strip_prefix("file:") {
            return Ok(WitnessTarget::File(PathBuf::from(path)));
        }
        if spec.starts_with("http://") || spec.starts_with("https://") {
            return Ok(WitnessTarget::Http(spec.to_string()));
        }
        if spec == "syslog" {
            return Ok(WitnessTarget::Syslog(None));
        }
        if let Some(addr) = spec.strip_prefix("syslog:") {
            return Ok(WitnessTarget::Syslog(Some(addr.to_string())));
        }
        Err(format!(
            "witness {spec:?}: expected file:/PATH, http(s)://URL, syslog or syslog:HOST:PORT"
        ))
    }
}

/// Settings of the witnesses.
#[derive(Debug, Clone)]
pub struct WitnessConfig {
    /// Where heads go.
    pub targets: Vec<WitnessTarget>,
    /// An RFC 3161 time-stamping authority's URL, if heads are to be timestamped.
    pub timestamp_authority: Option<String>,
    /// Where timestamp tokens are kept.
    pub tokens_dir: PathBuf,
    /// First wait after a failure; it doubles up to [`WitnessConfig::max_retry`].
    pub retry: Duration,
    /// Longest wait between retries.
    pub max_retry: Duration,
    /// Publish at most one head per volume per interval (the newest; `None`: every
    /// head, as each group commit signs it). Heads between are not sent: the newest head
    /// extends every earlier one (a consistency proof links them), so what leaves the
    /// host still covers every acknowledged record, only less often; each volume still
    /// ends every commit with a signed head of its own.
    pub interval: Option<Duration>,
}

/// A head to publish: which volume set it belongs to, and the head.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Published {
    purpose: String,
    head: SignedTreeHead,
}

/// What one witness has taken.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct WitnessStatus {
    /// The witness (`file:/path`, the URL, `syslog`).
    pub target: String,
    /// When it last took a head, Unix microseconds.
    pub last_success_us: Option<i64>,
    /// The newest head it took, per volume (`PURPOSE-YEAR` → tree size).
    pub published: BTreeMap<String, u64>,
    /// Heads waiting for it.
    pub pending: usize,
    /// Heads dropped from its queue while it was down (newer ones superseded them).
    pub dropped: u64,
    /// Publications that failed so far (each is retried).
    pub failures: u64,
    /// The last failure's reason, if the last attempt failed.
    pub last_error: Option<String>,
}

impl WitnessStatus {
    /// This witness's state as an integrity report carries it (observed by this process).
    pub fn to_report_state(&self) -> coffer_volume::WitnessState {
        coffer_volume::WitnessState {
            target: self.target.clone(),
            observed: true,
            last_success_us: self.last_success_us,
            published: self.published.clone(),
            pending: self.pending as u64,
            dropped: self.dropped,
            failures: self.failures,
            last_error: self.last_error.clone(),
        }
    }
}

struct Worker {
    target: WitnessTarget,
    /// Heads not yet taken by this witness, oldest first.
    waiting: Mutex<VecDeque<Published>>,
    status: Mutex<WitnessStatus>,
    wake: Notify,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The witnesses of one process.
pub struct Witnesses {
    workers: Vec<Arc<Worker>>,
    /// With an interval: the newest head per volume (`PURPOSE-YEAR`) not yet handed to
    /// the workers.
    held: Mutex<BTreeMap<String, Published>>,
    config: WitnessConfig,
    client: reqwest::Client,
    stop: Arc<Notify>,
}

impl std::fmt::Debug for Witnesses {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Witnesses")
            .field("targets", &self.config.targets)
            .finish_non_exhaustive()
    }
}

fn now_us() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

impl Witnesses {
    /// Starts one worker task per witness on the current runtime.
    pub fn start(config: WitnessConfig) -> Arc<Self> {
        let workers: Vec<Arc<Worker>> = config
            .targets
            .iter()
            .cloned()
            .chain(
                config
                    .timestamp_authority
                    .clone()
                    .map(WitnessTarget::Timestamp),
            )
            .collect::<Vec<_>>()
            .iter()
            .map(|target| {
                Arc::new(Worker {
                    status: Mutex::new(WitnessStatus {
                        target: target.to_string(),
                        ..WitnessStatus::default()
                    }),
                    target: target.clone(),
                    waiting: Mutex::new(VecDeque::new()),
                    wake: Notify::new(),
                })
            })
            .collect();
        let witnesses = Arc::new(Self {
            workers,
            client: reqwest::Client::builder()
                .user_agent(concat!("coffer/", env!("CARGO_PKG_VERSION")))
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap_or_default(),
            config,
            held: Mutex::new(BTreeMap::new()),
            stop: Arc::new(Notify::new()),
        });
        for worker in &witnesses.workers {
            let (witnesses, worker) = (Arc::clone(&witnesses), Arc::clone(worker));
            tokio::spawn(async move { witnesses.run(worker).await });
        }
        if let Some(interval) = witnesses.config.interval {
            let witnesses = Arc::clone(&witnesses);
            tokio::spawn(async move { witnesses.release_every(interval).await });
        }
        witnesses
    }

    /// Hands a new head of a volume of `purpose` (`mail`, `audit`) to every witness —
    /// or, with an interval, keeps it as that volume's newest until the interval ends.
    /// Never waits.
    pub fn publish(&self, purpose: &str, head: &SignedTreeHead) {
        if self.config.interval.is_some() {
            let mut held = lock(&self.held);
            let slot = held
                .entry(format!("{purpose}-{}-{}", head.year, head.volume_id))
                .or_insert_with(|| Published {
                    purpose: purpose.to_string(),
                    head: head.clone(),
                });
            if head.tree_size >= slot.head.tree_size {
                slot.head = head.clone();
            }
            return;
        }
        self.enqueue(purpose, head);
    }

    /// Every `interval`, hands the newest held head of each volume to the witnesses.
    async fn release_every(self: Arc<Self>, interval: Duration) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = self.stop.notified() => return,
            }
            let due = std::mem::take(&mut *lock(&self.held));
            for published in due.values() {
                self.enqueue(&published.purpose, &published.head);
            }
        }
    }

    fn enqueue(&self, purpose: &str, head: &SignedTreeHead) {
        for worker in &self.workers {
            let mut waiting = lock(&worker.waiting);
            let mut dropped = 0;
            while waiting.len() >= MAX_QUEUED_HEADS {
                waiting.pop_front();
                dropped += 1;
            }
            waiting.push_back(Published {
                purpose: purpose.to_string(),
                head: head.clone(),
            });
            let pending = waiting.len();
            drop(waiting);
            let mut status = lock(&worker.status);
            status.pending = pending;
            status.dropped += dropped;
            drop(status);
            worker.wake.notify_one();
        }
    }

    /// What each witness has taken.
    pub fn status(&self) -> Vec<WitnessStatus> {
        self.workers
            .iter()
            .map(|w| lock(&w.status).clone())
            .collect()
    }

    /// Stops the workers (what is still waiting is published at the next start, from
    /// the volumes' newest heads).
    pub fn stop(&self) {
        self.stop.notify_waiters();
    }

    async fn run(self: Arc<Self>, worker: Arc<Worker>) {
        let mut backoff = self.config.retry;
        loop {
            let next = lock(&worker.waiting).front().cloned();
            let Some(published) = next else {
                tokio::select! {
                    _ = worker.wake.notified() => continue,
                    _ = self.stop.notified() => return,
                }
            };
            match self.send(&worker.target, &published).await {
                Ok(()) => {
                    backoff = self.config.retry;
                    let mut waiting = lock(&worker.waiting);
                    // Still at the front unless the queue overflowed meanwhile.
                    if waiting.front() == Some(&published) {
                        waiting.pop_front();
                    }
                    let pending = waiting.len();
                    drop(waiting);
                    let mut status = lock(&worker.status);
                    status.last_success_us = Some(now_us());
                    status.published.insert(
                        format!("{}-{}", published.purpose, published.head.year),
                        published.head.tree_size,
                    );
                    status.pending = pending;
                    status.last_error = None;
                }
                Err(reason) => {
                    tracing::warn!(witness = %worker.target, error = %reason, "witness did not take the tree head; retrying");
                    {
                        let mut status = lock(&worker.status);
                        status.failures += 1;
                        status.last_error = Some(reason);
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = self.stop.notified() => return,
                    }
                    backoff = (backoff * 2).min(self.config.max_retry);
                }
            }
        }
    }

    async fn send(&self, target: &WitnessTarget, published: &Published) -> Result<(), String> {
        let head = &published.head;
        let json = head.to_json();
        match target {
            WitnessTarget::Timestamp(authority) => {
                self.timestamp(authority, published, &json).await
            }
            WitnessTarget::File(path) => {
                let (path, json) = (path.clone(), json.clone());
                tokio::task::spawn_blocking(move || append_line(&path, &json))
                    .await
                    .map_err(|e| e.to_string())?
            }
            WitnessTarget::Http(url) => {
                let response = self
                    .client
                    .post(url)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .header("x-coffer-purpose", published.purpose.as_str())
                    .body(json)
                    .send()
                    .await
                    .map_err(|e| format!("POST {url}: {e}"))?;
                if response.status().is_success() {
                    Ok(())
                } else {
                    Err(format!("POST {url}: {}", response.status()))
                }
            }
            WitnessTarget::Syslog(addr) => {
                let message = format!(
                    "coffer tree head {} {}",
                    published.purpose,
                    String::from_utf8_lossy(&json)
                );
                let addr = addr.clone();
                tokio::task::spawn_blocking(move || send_syslog(addr.as_deref(), &message))
                    .await
                    .map_err(|e| e.to_string())?
            }
        }
    }

    /// Timestamps a head with the RFC 3161 authority, once per head (the token is kept
    /// in [`WitnessConfig::tokens_dir`]; a head with a token is not stamped again).
    async fn timestamp(
        &self,
        authority: &str,
        published: &Published,
        json: &[u8],
    ) -> Result<(), String> {
        let head = &published.head;
        let path = self.config.tokens_dir.join(format!(
            "{}-{}-{}.tsr",
            published.purpose, head.year, head.tree_size
        ));
        if std::fs::symlink_metadata(&path).is_ok() {
            return Ok(());
        }
        let digest: [u8; 32] = sha2::Sha256::digest(json).into();
        let request = rfc3161::request(&digest);
        let response = self
            .client
            .post(authority)
            .header(reqwest::header::CONTENT_TYPE, "application/timestamp-query")
            .body(request)
            .send()
            .await
            .map_err(|e| format!("timestamp authority {authority}: {e}"))?;
        if !response.status().is_success() {
            return Err(format!(
                "timestamp authority {authority}: {}",
                response.status()
            ));
        }
        let token = response
            .bytes()
            .await
            .map_err(|e| format!("timestamp authority {authority}: {e}"))?;
        rfc3161::check_granted(&token)
            .map_err(|e| format!("timestamp authority {authority}: {e}"))?;
        let dir = self.config.tokens_dir.clone();
        let (head_json, token) = (json.to_vec(), token.to_vec());
        tokio::task::spawn_blocking(move || -> Result<(), String> {
            std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            let head_path = path.with_extension("json");
            std::fs::write(&head_path, &head_json)
                .map_err(|e| format!("{}: {e}", head_path.display()))?;
            std::fs::write(&path, &token).map_err(|e| format!("{}: {e}", path.display()))
        })
        .await
        .map_err(|e| e.to_string())?
    }
}

/// Appends `json` and a newline to `path` and fsyncs it.
fn append_line(path: &std::path::Path, json: &[u8]) -> Result<(), String> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let mut line = json.to_vec();
    line.push(b'\n');
    file.write_all(&line)
        .and_then(|()| file.sync_data())
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Sends one RFC 5424 message (facility "auth-priv", severity notice) by UDP to `addr`,
/// or to the local syslog socket.
fn send_syslog(addr: Option<&str>, message: &str) -> Result<(), String> {
    let formatter = syslog::Formatter5424 {
        facility: syslog::Facility::LOG_AUTHPRIV,
        hostname: None,
        process: "coffer".into(),
        pid: std::process::id(),
    };
    let mut logger = match addr {
        Some(addr) => syslog::udp(formatter, "0.0.0.0:0", addr),
        None => syslog::unix(formatter),
    }
    .map_err(|e| format!("syslog: {e}"))?;
    logger
        .notice((0u32, BTreeMap::new(), message))
        .map_err(|e| format!("syslog: {e}"))
}

/// The two RFC 3161 messages Coffer needs, written and read by hand: a `TimeStampReq` is
/// a fixed five-field DER structure, and of the `TimeStampResp` only the status is read
/// (the token is kept as received, for `openssl ts -verify`); a general ASN.1 crate would
/// bring a second generation of the RustCrypto crates for ~60 lines.
pub mod rfc3161 {
    /// The DER object identifier of SHA-256 (2.16.840.1.101.3.4.2.1).
    const SHA256_OID: [u8; 9] = [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];

    fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        let len = content.len();
        if len < 0x80 {
            out.push(len as u8);
        } else {
            let bytes: Vec<u8> = len
                .to_be_bytes()
                .into_iter()
                .skip_while(|b| *b == 0)
                .collect();
            out.push(0x80 | bytes.len() as u8);
            out.extend(bytes);
        }
        out.extend_from_slice(content);
        out
    }

    /// `TimeStampReq { version 1, messageImprint { sha256, digest }, certReq TRUE }`.
    pub fn request(sha256: &[u8; 32]) -> Vec<u8> {
        let algorithm = tlv(0x30, &[tlv(0x06, &SHA256_OID), vec![0x05, 0x00]].concat());
        let imprint = tlv(0x30, &[algorithm, tlv(0x04, sha256)].concat());
        let version = tlv(0x02, &[1]);
        let cert_req = tlv(0x01, &[0xff]);
        tlv(0x30, &[version, imprint, cert_req].concat())
    }

    /// One DER element at the start of `bytes`: (tag, content, rest).
    fn element(bytes: &[u8]) -> Result<(u8, &[u8], &[u8]), String> {
        let (&tag, rest) = bytes.split_first().ok_or("truncated")?;
        let (&first, rest) = rest.split_first().ok_or("truncated")?;
        let (len, rest) = if first < 0x80 {
            (usize::from(first), rest)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 || rest.len() < n {
                return Err("bad length".into());
            }
            let len = rest[..n]
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
            (len, &rest[n..])
        };
        if rest.len() < len {
            return Err("truncated".into());
        }
        Ok((tag, &rest[..len], &rest[len..]))
    }

    /// Checks that a `TimeStampResp` grants the request (PKIStatus 0 or 1) and carries a
    /// token.
    pub fn check_granted(response: &[u8]) -> Result<(), String> {
        let (tag, outer, _) = element(response)?;
        if tag != 0x30 {
            return Err("not a TimeStampResp".into());
        }
        let (tag, status_info, token) = element(outer)?;
        if tag != 0x30 {
            return Err("no PKIStatusInfo".into());
        }
        let (tag, status, _) = element(status_info)?;
        if tag != 0x02 || status.is_empty() {
            return Err("no PKIStatus".into());
        }
        let value = status
            .iter()
            .fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        if value > 1 {
            return Err(format!(
                "the authority refused the request (PKIStatus {value})"
            ));
        }
        if token.is_empty() {
            return Err("granted, but no timeStampToken".into());
        }
        Ok(())
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn request_is_well_formed_der() {
            let request = request(&[7u8; 32]);
            let (tag, content, rest) = element(&request).expect("outer");
            assert_eq!((tag, rest.len()), (0x30, 0));
            let (tag, version, rest) = element(content).expect("version");
            assert_eq!((tag, version), (0x02, &[1u8][..]));
            let (tag, _, rest) = element(rest).expect("imprint");
            assert_eq!(tag, 0x30);
            let (tag, cert_req, rest) = element(rest).expect("certReq");
            assert_eq!((tag, cert_req, rest.len()), (0x01, &[0xffu8][..], 0));
        }

        #[test]
        fn refusals_and_garbage_are_errors_not_panics() {
            assert!(check_granted(&[]).is_err());
            assert!(check_granted(&[0x30, 0x82, 0xff]).is_err());
            // status 2 (rejection)
            assert!(check_granted(&[0x30, 0x05, 0x30, 0x03, 0x02, 0x01, 0x02]).is_err());
            // granted without a token
            assert!(check_granted(&[0x30, 0x05, 0x30, 0x03, 0x02, 0x01, 0x00]).is_err());
            // granted with a (dummy) token
            assert!(check_granted(&[0x30, 0x07, 0x30, 0x03, 0x02, 0x01, 0x00, 0x30, 0x00]).is_ok());
        }
    }
}
