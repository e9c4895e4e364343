//! The data-key store: where the per-message data keys of encrypted volume records live
//! (outside the append-only volumes), so that destroying one key shreds one message
//! (issue 26, `volume/FORMAT.md` "Encrypted content" and "Data-key store").
//!
//! # Files
//! ```text
//! <data>/keys/kek                    the key-encryption key (KEK): "coffer-kek-v1:" and
//!                                    64 hex digits; 0600. Configurable (`[keys] kek_file`
//!                                    in coffer.toml) so it can live on other media.
//! <data>/keys/data-keys/keys.log     the data keys, wrapped by the KEK: a 32-byte header,
//!                                    then 69-byte entries, appended
//! ```
//!
//! Header: `"COFFKEYS"`, version `1`, 7 zero bytes, the KEK fingerprint (16 bytes:
//! SHA-256("coffer-kek-fingerprint\0" ‖ KEK), first half). Entry: type (1 key,
//! 2 destroyed) ‖ key id (16) ‖ body (48) ‖ CRC-32 of the 65 bytes before it.
//! - key: body = ChaCha20-Poly1305(KEK, nonce = key id bytes 0..12,
//!   aad = "coffer-data-key-v1\0" ‖ key id, the 32-byte data key) — 32 + 16-byte tag;
//! - destroyed (a tombstone): body = disposition run u64 ‖ time µs i64 ‖ 32 zero bytes.
//!
//! # Durability
//! A new key is appended (a page-cache write) when a record is prepared, and the file is
//! fsynced before any record encrypted with it is written to a volume
//! ([`ContentKeys::make_durable`]). The ingest pipeline prepares and encrypts records
//! outside the writer's dedup lock and makes their keys durable before it takes the lock,
//! so one group commit's key-log fsync overlaps the volume fsync of the commit before it;
//! the volume checks again before writing (nothing left to sync then). Concurrent callers
//! share one fsync (group commit), so a group commit costs at most one extra fsync, not
//! one per message. A record prepared for a message that then turns out to be a
//! duplicate leaves its key in the log unused (one 69-byte entry). A
//! crash can lose only keys whose records were never written. On open, an incomplete
//! last entry (a torn write) is dropped; a damaged entry anywhere else is an error —
//! the store is not opened, because losing a key loses a message.
//!
//! # Destruction
//! [`KeyStore::destroy`] rewrites the whole file without the destroyed keys (a tombstone
//! naming the disposition run takes each one's place, so verification tells a disposed
//! record from a lost key): the new file is written beside the old one, fsynced, renamed
//! over it and the directory fsynced. A crash leaves the old file (every key) or the new
//! one (the keys destroyed), never a mix; a leftover `keys.log.new` is removed on open.
//!
//! # What an operator must know
//! - Back up `keys/data-keys/` with the volumes, and the KEK **separately** (other
//!   media): without the KEK no message can be read; with the KEK and an old copy of the
//!   key log, disposed messages can be read again from old volume copies. Keep key-log
//!   backups no longer than the shortest retention they may outlive, or destroy them
//!   after each disposition run (`coffer disposition` prints the reminder).
//! - The old file's blocks are freed, not overwritten: on a disk that keeps freed
//!   blocks, the destroyed wrapped keys remain readable to whoever has the KEK and raw
//!   access to the disk until the blocks are reused. Full-disk encryption of the data
//!   directory, or rotating the KEK after a disposition (not built yet), closes that.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use coffer_volume::{ContentKey, ContentKeys, KeyId, KeyLookup};
use sha2::Digest;

/// The key log's file name inside the data-key directory.
pub const LOG_FILE: &str = "keys.log";
const NEW_FILE: &str = "keys.log.new";
const MAGIC: &[u8; 8] = b"COFFKEYS";
const HEADER_LEN: u64 = 32;
/// Length of one entry.
pub const ENTRY_LEN: usize = 69;
const TYPE_KEY: u8 = 1;
const TYPE_DESTROYED: u8 = 2;
const KEK_PREFIX: &str = "coffer-kek-v1:";
const WRAP_AAD: &[u8] = b"coffer-data-key-v1\0";

/// Errors of the key store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O error on a named file.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The KEK file is missing, malformed or not the one the key log was made with.
    #[error("key-encryption key {}: {detail}", path.display())]
    Kek {
        /// The KEK file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// The key log is damaged (not at its end): the store does not open.
    #[error("key log {} damaged at byte {offset}: {detail}", path.display())]
    Damaged {
        /// The key log.
        path: PathBuf,
        /// Where.
        offset: u64,
        /// What.
        detail: String,
    },
    /// The store was opened read-only.
    #[error("the key store is open read-only")]
    ReadOnly,
    /// The operating system gave no randomness.
    #[error("no randomness from the operating system: {0}")]
    Random(String),
}

/// Result with the key store [`enum@Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn random<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    rand::fill(&mut bytes[..]);
    bytes
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|f| f.sync_all()).map_err(io(dir))
}

/// The key-encryption key.
#[derive(Clone)]
struct Kek {
    key: [u8; 32],
    fingerprint: [u8; 16],
}

impl Kek {
    fn new(key: [u8; 32]) -> Self {
        let mut h = sha2::Sha256::new();
        h.update(b"coffer-kek-fingerprint\0");
        h.update(key);
        let digest: [u8; 32] = h.finalize().into();
        let mut fingerprint = [0u8; 16];
        fingerprint.copy_from_slice(&digest[..16]);
        Self { key, fingerprint }
    }

    fn load(path: &Path) -> Result<Self> {
        let text = fs::read_to_string(path).map_err(io(path))?;
        let bad = |detail: &str| Error::Kek {
            path: path.to_path_buf(),
            detail: detail.to_string(),
        };
        let hex_digits = text
            .trim()
            .strip_prefix(KEK_PREFIX)
            .ok_or_else(|| bad("does not start with coffer-kek-v1:"))?;
        let bytes = hex::decode(hex_digits).map_err(|_| bad("not hex"))?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| bad("not 32 bytes (64 hex digits)"))?;
        Ok(Self::new(key))
    }

    /// Creates a new KEK file (0600, never overwriting one), fsynced with its directory.
    fn create(path: &Path) -> Result<Self> {
        let kek = Self::new(random());
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(io(dir))?;
        }
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(io(path))?;
        f.write_all(format!("{KEK_PREFIX}{}\n", hex::encode(kek.key)).as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(io(path))?;
        if let Some(dir) = path.parent() {
            sync_dir(dir)?;
        }
        Ok(kek)
    }

    fn cipher(&self) -> ChaCha20Poly1305 {
        ChaCha20Poly1305::new(&self.key.into())
    }

    fn wrap(&self, key: &ContentKey) -> [u8; 48] {
        let nonce = Nonce::from(nonce_of(&key.id));
        let aad = wrap_aad(&key.id);
        let sealed = self
            .cipher()
            .encrypt(
                &nonce,
                Payload {
                    msg: &key.key,
                    aad: &aad,
                },
            )
            .unwrap_or_default();
        let mut out = [0u8; 48];
        if sealed.len() == 48 {
            out.copy_from_slice(&sealed);
        }
        out
    }

    fn unwrap(&self, id: &KeyId, wrapped: &[u8]) -> Option<ContentKey> {
        let nonce = Nonce::from(nonce_of(id));
        let aad = wrap_aad(id);
        let plain = self
            .cipher()
            .decrypt(
                &nonce,
                Payload {
                    msg: wrapped,
                    aad: &aad,
                },
            )
            .ok()?;
        Some(ContentKey {
            id: *id,
            key: plain.try_into().ok()?,
        })
    }
}

fn nonce_of(id: &KeyId) -> [u8; 12] {
    let mut n = [0u8; 12];
    n.copy_from_slice(&id[..12]);
    n
}

fn wrap_aad(id: &KeyId) -> Vec<u8> {
    let mut aad = WRAP_AAD.to_vec();
    aad.extend_from_slice(id);
    aad
}

fn entry(kind: u8, id: &KeyId, body: &[u8; 48]) -> [u8; ENTRY_LEN] {
    let mut e = [0u8; ENTRY_LEN];
    e[0] = kind;
    e[1..17].copy_from_slice(id);
    e[17..65].copy_from_slice(body);
    let crc = crc32fast::hash(&e[..65]);
    e[65..].copy_from_slice(&crc.to_le_bytes());
    e
}

fn tombstone(id: &KeyId, run: u64, time_us: i64) -> [u8; ENTRY_LEN] {
    let mut body = [0u8; 48];
    body[..8].copy_from_slice(&run.to_le_bytes());
    body[8..16].copy_from_slice(&time_us.to_le_bytes());
    entry(TYPE_DESTROYED, id, &body)
}

fn header(kek: &Kek) -> [u8; HEADER_LEN as usize] {
    let mut h = [0u8; HEADER_LEN as usize];
    h[..8].copy_from_slice(MAGIC);
    h[8] = 1;
    h[16..32].copy_from_slice(&kek.fingerprint);
    h
}

/// Where a key id stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// Live: its entry's offset in the log.
    Live(u64),
    /// Destroyed by a disposition run, at a time (µs).
    Destroyed { run: u64, time_us: i64 },
}

struct State {
    file: Arc<File>,
    /// Bytes of the log.
    len: u64,
    /// Bytes known durable.
    synced: u64,
    /// Whether a thread is fsyncing the log now (the others wait for it: group commit).
    syncing: bool,
    slots: HashMap<KeyId, Slot>,
    /// Key ids in log order (the order a rewrite keeps).
    order: Vec<KeyId>,
}

/// What [`KeyStore::destroy`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Destroyed {
    /// Keys destroyed now.
    pub destroyed: u64,
    /// Keys that were destroyed already (by this run or an earlier one).
    pub already: u64,
    /// Key ids the store does not know.
    pub unknown: Vec<KeyId>,
}

/// Counts for reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Keys held.
    pub live: u64,
    /// Tombstones of destroyed keys.
    pub destroyed: u64,
    /// Bytes of the key log.
    pub bytes: u64,
}

/// The data-key store (see the [crate docs](crate)).
pub struct KeyStore {
    dir: PathBuf,
    kek: Kek,
    writable: bool,
    state: Mutex<State>,
    /// Signalled when a sync of the log ends.
    synced: Condvar,
}

impl std::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyStore({})", self.dir.display())
    }
}

/// Test and drill hook: when the environment variable `COFFER_PAUSE_KEYSTORE` equals
/// `rewritten`, [`KeyStore::destroy`] stops after the new key log is durable and before
/// it replaces the old one, and waits to be killed (crash tests).
pub const PAUSE_VAR: &str = "COFFER_PAUSE_KEYSTORE";

impl KeyStore {
    /// Opens the store in `dir` for writing, creating it (and the KEK at `kek_file`, when
    /// neither exists) on first use. A key log without its KEK, or with another KEK, is
    /// an error: the operator must restore the KEK.
    pub fn open_writer(dir: &Path, kek_file: &Path) -> Result<Self> {
        let log = dir.join(LOG_FILE);
        let log_exists = fs::symlink_metadata(&log).is_ok();
        let kek = match fs::symlink_metadata(kek_file) {
            Ok(_) => Kek::load(kek_file)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !log_exists => {
                let kek = Kek::create(kek_file)?;
                tracing::info!(kek = %kek_file.display(), "created the key-encryption key for message data keys; back it up apart from the data directory");
                kek
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::Kek {
                    path: kek_file.to_path_buf(),
                    detail: format!(
                        "missing, but the key log {} exists: restore the key-encryption key from its backup",
                        log.display()
                    ),
                });
            }
            Err(source) => {
                return Err(Error::Io {
                    path: kek_file.to_path_buf(),
                    source,
                });
            }
        };
        fs::create_dir_all(dir).map_err(io(dir))?;
        let new = dir.join(NEW_FILE);
        if fs::symlink_metadata(&new).is_ok() {
            // A rewrite that never replaced the log: the old log is in force.
            fs::remove_file(&new).map_err(io(&new))?;
            sync_dir(dir)?;
        }
        if !log_exists {
            let tmp = dir.join(".keys.log.tmp");
            let mut f = File::create(&tmp).map_err(io(&tmp))?;
            f.write_all(&header(&kek))
                .and_then(|()| f.sync_all())
                .map_err(io(&tmp))?;
            fs::rename(&tmp, &log).map_err(io(&log))?;
            sync_dir(dir)?;
        }
        Self::open(dir, kek, true)
    }

    /// Opens the store read-only (a command beside a running server). A missing key log
    /// is an empty store; a missing KEK with a key log is an error.
    pub fn open_reader(dir: &Path, kek_file: &Path) -> Result<Self> {
        let log = dir.join(LOG_FILE);
        if fs::symlink_metadata(&log).is_err() {
            let kek = match fs::symlink_metadata(kek_file) {
                Ok(_) => Kek::load(kek_file)?,
                Err(_) => Kek::new([0; 32]),
            };
            return Ok(Self {
                dir: dir.to_path_buf(),
                kek,
                writable: false,
                state: Mutex::new(State {
                    file: Arc::new(File::open("/dev/null").map_err(io(Path::new("/dev/null")))?),
                    len: 0,
                    synced: 0,
                    syncing: false,
                    slots: HashMap::new(),
                    order: Vec::new(),
                }),
                synced: Condvar::new(),
            });
        }
        let kek = Kek::load(kek_file)?;
        Self::open(dir, kek, false)
    }

    fn open(dir: &Path, kek: Kek, writable: bool) -> Result<Self> {
        let path = dir.join(LOG_FILE);
        let file = OpenOptions::new()
            .read(true)
            .write(writable)
            .open(&path)
            .map_err(io(&path))?;
        let bytes = fs::read(&path).map_err(io(&path))?;
        let damaged = |offset: u64, detail: &str| Error::Damaged {
            path: path.clone(),
            offset,
            detail: detail.to_string(),
        };
        if bytes.len() < HEADER_LEN as usize || &bytes[..8] != MAGIC {
            return Err(damaged(0, "not a Coffer key log (bad header)"));
        }
        if bytes[8] != 1 {
            return Err(damaged(8, &format!("key log version {} unknown", bytes[8])));
        }
        if bytes[16..32] != kek.fingerprint {
            return Err(Error::Kek {
                path: path.clone(),
                detail: "this key log was made with another key-encryption key".into(),
            });
        }
        let mut slots = HashMap::new();
        let mut order = Vec::new();
        let mut at = HEADER_LEN as usize;
        let mut end = bytes.len();
        while at < bytes.len() {
            let rest = &bytes[at..];
            let torn = |what: &str| {
                tracing::warn!(
                    offset = at,
                    bytes = rest.len(),
                    what,
                    "key log: dropping a torn last entry (a crash before its fsync; no record uses it)"
                );
            };
            if rest.len() < ENTRY_LEN {
                torn("incomplete entry");
                end = at;
                break;
            }
            let e = &rest[..ENTRY_LEN];
            let crc_ok = crc32fast::hash(&e[..65]).to_le_bytes() == e[65..69];
            if !crc_ok || !matches!(e[0], TYPE_KEY | TYPE_DESTROYED) {
                if rest.len() == ENTRY_LEN || rest.iter().all(|b| *b == 0) {
                    torn("checksum");
                    end = at;
                    break;
                }
                return Err(damaged(at as u64, "entry checksum mismatch"));
            }
            let mut id = [0u8; 16];
            id.copy_from_slice(&e[1..17]);
            let slot = if e[0] == TYPE_KEY {
                Slot::Live(at as u64)
            } else {
                let mut run = [0u8; 8];
                run.copy_from_slice(&e[17..25]);
                let mut t = [0u8; 8];
                t.copy_from_slice(&e[25..33]);
                Slot::Destroyed {
                    run: u64::from_le_bytes(run),
                    time_us: i64::from_le_bytes(t),
                }
            };
            if slots.insert(id, slot).is_none() {
                order.push(id);
            }
            at += ENTRY_LEN;
        }
        if end < bytes.len() && writable {
            file.set_len(end as u64)
                .and_then(|()| file.sync_all())
                .map_err(io(&path))?;
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            kek,
            writable,
            state: Mutex::new(State {
                file: Arc::new(file),
                len: end as u64,
                synced: end as u64,
                syncing: false,
                slots,
                order,
            }),
            synced: Condvar::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The directory of the store.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Counts of keys held and destroyed.
    pub fn counts(&self) -> Counts {
        let st = self.lock();
        let destroyed = st
            .slots
            .values()
            .filter(|s| matches!(s, Slot::Destroyed { .. }))
            .count() as u64;
        Counts {
            live: st.slots.len() as u64 - destroyed,
            destroyed,
            bytes: st.len,
        }
    }

    /// Generates, wraps and appends a new key (not yet durable).
    fn append_new(&self) -> Result<ContentKey> {
        if !self.writable {
            return Err(Error::ReadOnly);
        }
        let key = ContentKey {
            id: random(),
            key: random(),
        };
        let e = entry(TYPE_KEY, &key.id, &self.kek.wrap(&key));
        let mut st = self.lock();
        let at = st.len;
        let path = self.dir.join(LOG_FILE);
        if let Err(source) = st.file.write_all_at(&e, at) {
            let _ = st.file.set_len(at);
            return Err(Error::Io { path, source });
        }
        st.len += ENTRY_LEN as u64;
        st.slots.insert(key.id, Slot::Live(at));
        st.order.push(key.id);
        Ok(key)
    }

    /// Fsyncs the log when `id`'s entry is not yet known durable. Concurrent callers
    /// share syncs (group commit): while one thread syncs, the others wait for it and
    /// return without a sync of their own when it covered their keys, so N sessions
    /// whose keys were appended together cost one fsync, not N.
    fn sync_through(&self, id: &KeyId) -> Result<()> {
        let path = self.dir.join(LOG_FILE);
        let mut st = self.lock();
        loop {
            let at = match st.slots.get(id) {
                Some(Slot::Live(at)) => *at,
                Some(Slot::Destroyed { .. }) => return Ok(()),
                None => {
                    return Err(Error::Damaged {
                        path,
                        offset: 0,
                        detail: format!("key {} was never handed out", hex::encode(id)),
                    });
                }
            };
            if at < st.synced {
                return Ok(());
            }
            if st.syncing {
                st = self.synced.wait(st).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            let (file, target) = (Arc::clone(&st.file), st.len);
            st.syncing = true;
            drop(st);
            let result = file.sync_data();
            st = self.lock();
            st.syncing = false;
            self.synced.notify_all();
            result.map_err(io(&path))?;
            if Arc::ptr_eq(&st.file, &file) {
                st.synced = st.synced.max(target);
            }
        }
    }

    fn find(&self, id: &KeyId) -> Result<KeyLookup> {
        let (slot, file) = {
            let st = self.lock();
            (st.slots.get(id).copied(), Arc::clone(&st.file))
        };
        match slot {
            None => Ok(KeyLookup::Missing),
            Some(Slot::Destroyed { run, .. }) => Ok(KeyLookup::Destroyed(destroyed_by_run(run))),
            Some(Slot::Live(at)) => {
                let path = self.dir.join(LOG_FILE);
                let mut e = [0u8; ENTRY_LEN];
                file.read_exact_at(&mut e, at).map_err(io(&path))?;
                if e[1..17] != id[..] || crc32fast::hash(&e[..65]).to_le_bytes() != e[65..69] {
                    return Err(Error::Damaged {
                        path,
                        offset: at,
                        detail: "entry changed since the log was opened".into(),
                    });
                }
                self.kek
                    .unwrap(id, &e[17..65])
                    .map(KeyLookup::Found)
                    .ok_or_else(|| Error::Damaged {
                        path,
                        offset: at,
                        detail: "wrapped key fails authentication with the key-encryption key"
                            .into(),
                    })
            }
        }
    }

    /// The disposition run that destroyed `id`, if one did.
    pub fn destroyed_by(&self, id: &KeyId) -> Option<u64> {
        match self.lock().slots.get(id) {
            Some(Slot::Destroyed { run, .. }) => Some(*run),
            _ => None,
        }
    }

    /// Destroys the keys `ids` for disposition run `run` at `time_us`: the log is
    /// rewritten without them (each replaced by a tombstone), atomically and durably.
    /// Keys destroyed already are counted, unknown ids listed; nothing else changes.
    pub fn destroy(&self, ids: &[KeyId], run: u64, time_us: i64) -> Result<Destroyed> {
        if !self.writable {
            return Err(Error::ReadOnly);
        }
        let mut st = self.lock();
        let mut out = Destroyed::default();
        let mut doomed = std::collections::HashSet::new();
        for id in ids {
            match st.slots.get(id) {
                Some(Slot::Live(_)) => {
                    if doomed.insert(*id) {
                        out.destroyed += 1;
                    }
                }
                Some(Slot::Destroyed { .. }) => out.already += 1,
                None => out.unknown.push(*id),
            }
        }
        if doomed.is_empty() {
            return Ok(out);
        }
        let path = self.dir.join(LOG_FILE);
        let new_path = self.dir.join(NEW_FILE);
        let mut bytes = Vec::with_capacity(HEADER_LEN as usize + st.order.len() * ENTRY_LEN);
        bytes.extend_from_slice(&header(&self.kek));
        let mut new_slots = HashMap::with_capacity(st.slots.len());
        for id in &st.order {
            let at = bytes.len() as u64;
            let slot = st.slots.get(id).copied();
            let (e, slot) = match slot {
                Some(Slot::Live(_)) if doomed.contains(id) => (
                    tombstone(id, run, time_us),
                    Slot::Destroyed { run, time_us },
                ),
                Some(Slot::Live(old)) => {
                    let mut e = [0u8; ENTRY_LEN];
                    st.file.read_exact_at(&mut e, old).map_err(io(&path))?;
                    if e[1..17] != id[..] || crc32fast::hash(&e[..65]).to_le_bytes() != e[65..69] {
                        return Err(Error::Damaged {
                            path,
                            offset: old,
                            detail: "entry changed since the log was opened".into(),
                        });
                    }
                    (e, Slot::Live(at))
                }
                Some(Slot::Destroyed { run, time_us }) => (
                    tombstone(id, run, time_us),
                    Slot::Destroyed { run, time_us },
                ),
                None => continue,
            };
            bytes.extend_from_slice(&e);
            new_slots.insert(*id, slot);
        }
        {
            let mut f = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&new_path)
                .map_err(io(&new_path))?;
            f.write_all(&bytes)
                .and_then(|()| f.sync_all())
                .map_err(io(&new_path))?;
        }
        if std::env::var(PAUSE_VAR).as_deref() == Ok("rewritten") {
            tracing::warn!("{PAUSE_VAR}=rewritten: pausing before the key log is replaced");
            loop {
                std::thread::park();
            }
        }
        fs::rename(&new_path, &path).map_err(io(&path))?;
        sync_dir(&self.dir)?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(io(&path))?;
        st.file = Arc::new(file);
        st.len = bytes.len() as u64;
        st.synced = st.len;
        st.slots = new_slots;
        Ok(out)
    }
}

impl ContentKeys for KeyStore {
    fn new_key(&self) -> std::result::Result<ContentKey, String> {
        self.append_new().map_err(|e| e.to_string())
    }

    fn make_durable(&self, id: &KeyId) -> std::result::Result<(), String> {
        self.sync_through(id).map_err(|e| e.to_string())
    }

    fn lookup(&self, id: &KeyId) -> std::result::Result<KeyLookup, String> {
        self.find(id).map_err(|e| e.to_string())
    }

    fn destroyed(&self, id: &KeyId) -> std::result::Result<Option<String>, String> {
        Ok(self.destroyed_by(id).map(destroyed_by_run))
    }
}

/// What [`ContentKeys`] says destroyed a key: its disposition run.
fn destroyed_by_run(run: u64) -> String {
    format!("disposition run {run}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(tmp: &Path) -> KeyStore {
        KeyStore::open_writer(&tmp.join("data-keys"), &tmp.join("kek")).unwrap()
    }

    #[test]
    fn keys_survive_reopen_and_destroy_is_final() {
        let tmp = tempfile::tempdir().unwrap();
        let s = store(tmp.path());
        let a = s.new_key().unwrap();
        let b = s.new_key().unwrap();
        s.make_durable(&b.id).unwrap();
        drop(s);
        let s = store(tmp.path());
        assert_eq!(s.lookup(&a.id).unwrap(), KeyLookup::Found(a.clone()));
        assert_eq!(s.lookup(&b.id).unwrap(), KeyLookup::Found(b.clone()));
        let done = s.destroy(&[a.id, [9; 16]], 7, 1_000).unwrap();
        assert_eq!(done.destroyed, 1);
        assert_eq!(done.unknown, vec![[9; 16]]);
        assert!(matches!(s.lookup(&a.id).unwrap(), KeyLookup::Destroyed(_)));
        assert_eq!(s.lookup(&b.id).unwrap(), KeyLookup::Found(b.clone()));
        // New keys after a rewrite land in the new file.
        let c = s.new_key().unwrap();
        s.make_durable(&c.id).unwrap();
        drop(s);
        let s = store(tmp.path());
        assert_eq!(s.destroyed_by(&a.id), Some(7));
        assert_eq!(s.lookup(&c.id).unwrap(), KeyLookup::Found(c));
        // The destroyed key's bytes are nowhere in the log.
        // Its id stays (the tombstone); its wrapped key does not.
        let log = fs::read(tmp.path().join("data-keys").join(LOG_FILE)).unwrap();
        let kek = Kek::load(&tmp.path().join("kek")).unwrap();
        assert!(!log.windows(48).any(|w| w == kek.wrap(&a)));
        assert_eq!(s.counts().live, 2);
        assert_eq!(s.counts().destroyed, 1);
    }

    #[test]
    fn torn_tail_is_dropped_and_damage_in_the_middle_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let s = store(tmp.path());
        let a = s.new_key().unwrap();
        let b = s.new_key().unwrap();
        s.make_durable(&b.id).unwrap();
        drop(s);
        let log = tmp.path().join("data-keys").join(LOG_FILE);
        let mut bytes = fs::read(&log).unwrap();
        bytes.extend_from_slice(&[1, 2, 3]);
        fs::write(&log, &bytes).unwrap();
        let s = store(tmp.path());
        assert_eq!(s.lookup(&a.id).unwrap(), KeyLookup::Found(a));
        drop(s);
        let mut bytes = fs::read(&log).unwrap();
        assert_eq!(bytes.len(), 32 + 2 * ENTRY_LEN, "torn tail truncated");
        bytes[32 + 20] ^= 1;
        fs::write(&log, &bytes).unwrap();
        assert!(matches!(
            KeyStore::open_writer(&tmp.path().join("data-keys"), &tmp.path().join("kek")),
            Err(Error::Damaged { offset: 32, .. })
        ));
    }

    #[test]
    fn a_missing_or_foreign_kek_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        drop(store(tmp.path()));
        fs::rename(tmp.path().join("kek"), tmp.path().join("kek.bak")).unwrap();
        assert!(matches!(
            KeyStore::open_writer(&tmp.path().join("data-keys"), &tmp.path().join("kek")),
            Err(Error::Kek { .. })
        ));
        Kek::create(&tmp.path().join("other")).unwrap();
        assert!(matches!(
            KeyStore::open_writer(&tmp.path().join("data-keys"), &tmp.path().join("other")),
            Err(Error::Kek { .. })
        ));
        let s = KeyStore::open_writer(&tmp.path().join("data-keys"), &tmp.path().join("kek.bak"))
            .unwrap();
        assert!(s.new_key().is_ok());
    }

    #[test]
    fn a_leftover_rewrite_is_discarded() {
        let tmp = tempfile::tempdir().unwrap();
        let s = store(tmp.path());
        let a = s.new_key().unwrap();
        s.make_durable(&a.id).unwrap();
        drop(s);
        fs::write(tmp.path().join("data-keys").join(NEW_FILE), b"half").unwrap();
        let s = store(tmp.path());
        assert_eq!(s.lookup(&a.id).unwrap(), KeyLookup::Found(a));
        assert!(fs::symlink_metadata(tmp.path().join("data-keys").join(NEW_FILE)).is_err());
    }
}
