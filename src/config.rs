//! `coffer.toml` in the data directory: settings that are not worth a flag.
//!
//! Flags win over the file; the file wins over built-in defaults. Unknown keys are an
//! error (a typo must not silently leave a setting at its default).

use std::path::Path;

use anyhow::{Context, Result};
use serde::Deserialize;

/// File name of the configuration inside the data directory.
pub const CONFIG_FILE: &str = "coffer.toml";

/// The whole configuration file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Domains whose addresses are mailboxes of this organisation.
    #[serde(default)]
    pub local_domains: Vec<String>,
    /// The archive's own journal addresses (the `always_bcc` target of the mail
    /// server): envelope recipients that are not participants of the message.
    #[serde(default)]
    pub journal_addresses: Vec<String>,
    /// Catalog database URL (`postgres://...`); default: the embedded SQLite file.
    pub catalog_url: Option<String>,
    /// Most bytes of journaled message content held in memory at once, SMTP/LMTP
    /// sessions and HTTP submissions together (default 1 GiB); past it senders are told
    /// to retry (SMTP 452, HTTP 503).
    pub journal_memory_budget: Option<u64>,
    /// HTTP settings.
    #[serde(default)]
    pub http: HttpConfig,
    /// SMTP/LMTP settings.
    #[serde(default)]
    pub smtp: SmtpFileConfig,
    /// Year rotation.
    #[serde(default)]
    pub rotation: RotationConfig,
    /// Where signed tree heads are published (witnesses, timestamp authority).
    #[serde(default)]
    pub witness: WitnessFileConfig,
    /// Custody of the signing key and of the key-encryption key of message content.
    #[serde(default)]
    pub keys: KeysConfig,
    /// How new volume records are written.
    #[serde(default)]
    pub volumes: VolumesConfig,
}

/// `[volumes]`: how new volume records are written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumesConfig {
    /// Compression dictionaries (default on): trained from the year's first messages,
    /// each a record of its volume. They hold strings common to many messages and are
    /// not destroyed when a message is disposed of (volume/FORMAT.md, "Encrypted
    /// content"); an organisation whose disposition must leave nothing of a message's
    /// text behind turns them off (`dictionaries = false`) and pays in storage (on the
    /// SpamAssassin corpus the volumes grow by about a fifth). Records written before
    /// keep their dictionaries.
    pub dictionaries: bool,
}

impl Default for VolumesConfig {
    fn default() -> Self {
        Self { dictionaries: true }
    }
}

/// `[keys]`: custody of the archive's signing key and of the key-encryption key.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysConfig {
    /// The private signing key (PKCS#8 PEM), an absolute path outside the data
    /// directory (another mount, or a file of another user); created there on first
    /// start. Default: `DATA/keys/archive.key`. The public key stays in `DATA/keys/`.
    pub signing_key: Option<std::path::PathBuf>,
    /// The KEK file that wraps every message's data key (default `DATA/keys/kek`).
    /// Keep it, or its backup, on other media than the data directory's backups: see
    /// the README, "Keys and backups".
    pub kek_file: Option<String>,
}

/// `[rotation]`: sealing a year's volumes once the year is over.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotationConfig {
    /// Days after the end of a year before its volume is sealed (default 7).
    pub seal_after_days: Option<u32>,
    /// Seconds between checks (default 3600).
    pub check_seconds: Option<u64>,
}

/// `[witness]`: every new signed tree head (mail and audit volumes) leaves the host.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WitnessFileConfig {
    /// Witnesses: `file:/PATH` (an append-only file, ideally on other media),
    /// `http(s)://URL` (POST of the head's JSON), `syslog` or `syslog:HOST:PORT`.
    #[serde(default)]
    pub targets: Vec<String>,
    /// An RFC 3161 time-stamping authority's URL: each head is timestamped, the token
    /// kept in `tokens_dir`.
    pub timestamp_authority: Option<String>,
    /// Where timestamp tokens are kept (default: `DATA/witness-tokens`).
    pub tokens_dir: Option<String>,
    /// First wait after a witness failed, seconds (doubles up to `max_retry_seconds`).
    pub retry_seconds: Option<f64>,
    /// Longest wait between retries, seconds (default 300).
    pub max_retry_seconds: Option<f64>,
    /// Publish at most one signed head per volume per this many seconds (the newest of
    /// the interval) instead of every head (default: every head).
    pub interval_seconds: Option<f64>,
}

/// `[http]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Listen address (default 127.0.0.1:8080).
    pub listen: Option<String>,
    /// Reverse proxies (CIDR) whose `X-Forwarded-For` is believed for client addresses
    /// (audit trail, throttling): the right-most address not itself a trusted proxy.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// Hours a login session lasts at most (default 12).
    pub session_hours: Option<u64>,
    /// Minutes of inactivity after which a login session ends (default 30).
    pub session_idle_minutes: Option<u64>,
    /// Serve `/metrics` on this address instead of the API's (e.g. one only the
    /// monitoring network reaches).
    pub metrics_listen: Option<String>,
    /// A bearer token `/metrics` requires (default: none).
    pub metrics_token: Option<String>,
    /// Largest journal submission over HTTP, bytes (default 64 MiB).
    pub max_message_size: Option<u64>,
}

/// `[smtp]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpFileConfig {
    /// SMTP listen address (default 127.0.0.1:2525).
    pub listen: Option<String>,
    /// LMTP listen address (off by default).
    pub lmtp: Option<String>,
    /// Client networks allowed to deliver (CIDR); default loopback only.
    #[serde(default)]
    pub allowed_clients: Vec<String>,
    /// Largest message accepted, bytes.
    pub max_message_size: Option<u64>,
    /// Most recipients per message.
    pub max_recipients: Option<usize>,
    /// Most concurrent sessions.
    pub max_sessions: Option<usize>,
    /// PEM certificate chain for STARTTLS.
    pub tls_cert: Option<String>,
    /// PEM private key for STARTTLS.
    pub tls_key: Option<String>,
    /// Host name in the greeting.
    pub hostname: Option<String>,
    /// AUTH PLAIN over TLS with a journal token as password: disabled (default),
    /// optional or required.
    pub auth: Option<String>,
}

impl Config {
    /// The configured KEK file, if any (relative paths are relative to the data dir).
    pub fn kek_file(&self, data_dir: &Path) -> Option<std::path::PathBuf> {
        self.keys.kek_file.as_ref().map(|f| data_dir.join(f))
    }

    /// Loads `<data_dir>/coffer.toml`, or defaults when there is none.
    pub fn load(data_dir: &Path) -> Result<Config> {
        let path = data_dir.join(CONFIG_FILE);
        let config: Config = match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text).with_context(|| format!("{}", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Config::default(),
            Err(e) => return Err(e).with_context(|| format!("{}", path.display())),
        };
        if let Some(key) = &config.keys.signing_key {
            anyhow::ensure!(
                key.is_absolute(),
                "{}: [keys] signing_key must be an absolute path",
                path.display()
            );
            let root = std::path::absolute(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
            anyhow::ensure!(
                !key.starts_with(&root),
                "{}: [keys] signing_key must be outside the data directory (that is its point)",
                path.display()
            );
        }
        Ok(config)
    }
}
