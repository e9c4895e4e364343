//! An open volume: appending with group commit, segment rolling, checkpoints, sealing,
//! reading by sequence number, proofs, and recovery on open.
//!
//! # Durability
//! [`Volume::append`] returns only after its record is on stable storage. Records are
//! written to the current segment under a mutex (a page-cache copy), then the caller
//! waits in [`Volume::sync_to`]: the first waiter becomes the sync leader, fsyncs the
//! segment once for every record written so far, and wakes the others — many
//! concurrent appends share one fsync (group commit). A new segment file is fsynced
//! with its directory before records go into it. An fsync error poisons the writer:
//! every pending and later append fails with [`Error::WriterFailed`] and nothing is
//! acknowledged; reopening runs recovery. A failed `write` (disk full) is undone by
//! truncating the segment back, and only that append fails.
//!
//! # Recovery
//! Opening a volume scans every record header (CRC, sequence, previous hash, record
//! hash) and the last record's content. Bytes at the end of the last segment that do
//! not form a complete record — a header cut short, a record shorter than its lengths,
//! or an all-zero or zero-padded tail — are a torn write from a crash: a writer
//! truncates them and reports it; a read-only open ignores them (the writer may be
//! mid-append). Anything else that fails a check is [`Error::Corruption`] naming the
//! volume, segment, byte offset and sequence number, and the volume does not open for
//! writing.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::codec::{
    DictionaryConfig, Trainer, VolumeDictionary, compress, compress_with, decompress, train,
};
use crate::crypt::{ContentKeys, KeyId, KeyLookup};
use crate::error::{Error, Result};
use crate::fsutil;
use crate::heads::HeadSink;
use crate::keys::ArchiveKey;
use crate::manifest::{MANIFEST_FILE, Manifest, SEAL_FILE, VolumeState};
use crate::merkle::{Hash, MerkleTree};
use crate::record::{
    Codec, MAX_PREFIX_LEN, RECORD_VERSION, RecordHeader, RecordKind, encode_record, record_hash,
    sha256,
};
use crate::segment::{
    SEGMENT_HEADER_LEN, SegmentHeader, list_segments, read_at_most, segment_file_name, segment_path,
};
use crate::treehead::SignedTreeHead;

/// What [`Volume::read_checked`] checks of a record's content besides its header, hash
/// and (for encrypted content) its authentication tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ContentCheck {
    /// The stored bytes and the decompressed content against their SHA-256.
    Hashes,
    /// Those hashes only for unencrypted content; encrypted content is authenticated by
    /// its tag alone.
    TagOfEncrypted,
}

/// Largest content a record holds (the length field is 32 bits).
pub const MAX_CONTENT_LEN: u64 = u32::MAX as u64;

/// Tunables of a volume writer.
#[derive(Debug, Clone)]
pub struct VolumeConfig {
    /// A segment is closed and a new one started when a record would take it past this.
    pub segment_size_limit: u64,
    /// A checkpoint record is appended after this many records.
    pub checkpoint_every: u64,
    /// ... or when this much time has passed since the last one and records were added.
    pub checkpoint_interval: Duration,
    /// zstd compression level for content without a dictionary (default 1: see
    /// `FORMAT.md`, "Compression").
    pub zstd_level: i32,
    /// Every group commit ends with a checkpoint covering every record it makes durable,
    /// so nothing is acknowledged without a signed tree head (default: true; `false`
    /// only to measure what it costs).
    pub head_every_commit: bool,
    /// Told of every new signed tree head once it is durable (witnesses).
    pub head_sink: Option<HeadSink>,
    /// Per-volume dictionaries (`FORMAT.md`, "Compression and dictionaries").
    pub dictionary: DictionaryConfig,
    /// The key store: when set, message content is encrypted with a new data key per
    /// record (`FORMAT.md`, "Encrypted content"), and encrypted records are read with
    /// it. `None`: content is stored unencrypted, and encrypted records cannot be read.
    pub content_keys: Option<Arc<dyn ContentKeys>>,
}

impl Default for VolumeConfig {
    fn default() -> Self {
        Self {
            segment_size_limit: 256 * 1024 * 1024,
            checkpoint_every: 1000,
            checkpoint_interval: Duration::from_secs(60),
            zstd_level: 1,
            head_every_commit: true,
            head_sink: None,
            dictionary: DictionaryConfig::default(),
            content_keys: None,
        }
    }
}

/// A record ready to be written: compressed and hashed outside the writer lock, so
/// concurrent producers compress in parallel.
#[derive(Debug, Clone)]
pub struct Prepared {
    kind: RecordKind,
    codec: Codec,
    received_us: i64,
    meta: Vec<u8>,
    stored: Vec<u8>,
    raw_len: u32,
    content_sha256: Hash,
    stored_sha256: Hash,
    dict_ref: u64,
    flags: u8,
    key_id: Option<KeyId>,
}

impl Prepared {
    /// Prepares a record: compresses `content` (if any) with zstd at `level`.
    /// `content_sha256` may be passed when the caller already computed it.
    pub fn new(
        kind: RecordKind,
        received_us: i64,
        meta: Vec<u8>,
        content: Option<&[u8]>,
        content_sha256: Option<Hash>,
        level: i32,
    ) -> Result<Self> {
        let content = content.unwrap_or_default();
        Self::check_lengths(&meta, content)?;
        let content_sha256 = content_sha256.unwrap_or_else(|| sha256(content));
        debug_assert_eq!(content_sha256, sha256(content));
        let (codec, stored) = if content.is_empty() {
            (Codec::None, Vec::new())
        } else {
            (Codec::Zstd, compress(content, level).map_err(zstd_io)?)
        };
        Ok(Self::assemble(
            kind,
            codec,
            received_us,
            meta,
            stored,
            content.len(),
            content_sha256,
            0,
        ))
    }

    #[allow(clippy::too_many_arguments)]
    fn assemble(
        kind: RecordKind,
        codec: Codec,
        received_us: i64,
        meta: Vec<u8>,
        stored: Vec<u8>,
        raw_len: usize,
        content_sha256: Hash,
        dict_ref: u64,
    ) -> Self {
        Self {
            kind,
            codec,
            received_us,
            stored_sha256: sha256(&stored),
            meta,
            stored,
            raw_len: raw_len as u32,
            content_sha256,
            dict_ref,
            flags: 0,
            key_id: None,
        }
    }

    /// Encrypts the (compressed) content of a message record with a new data key from
    /// `keys` (compress-then-encrypt). Records of other kinds, records without content
    /// and records already encrypted are left as they are.
    pub fn encrypt(&mut self, keys: &dyn ContentKeys) -> Result<()> {
        if self.kind != RecordKind::Message || self.stored.is_empty() || self.key_id.is_some() {
            return Ok(());
        }
        let key = keys.new_key().map_err(Error::KeyStore)?;
        self.stored = crate::crypt::encrypt(&self.stored, &key, &self.content_sha256);
        self.stored_sha256 = sha256(&self.stored);
        self.flags |= crate::record::FLAG_CONTENT_ENCRYPTED;
        self.key_id = Some(key.id);
        Ok(())
    }

    /// Whether the content is encrypted.
    pub fn is_encrypted(&self) -> bool {
        self.key_id.is_some()
    }

    /// The data key the content is encrypted with (`None`: not encrypted), so a caller
    /// can make it durable ([`ContentKeys::make_durable`]) before it takes a lock to write.
    pub fn key_id(&self) -> Option<KeyId> {
        self.key_id
    }

    fn check_lengths(meta: &[u8], content: &[u8]) -> Result<()> {
        if meta.len() as u64 > u64::from(crate::record::MAX_META_LEN) {
            return Err(Error::TooLarge {
                what: "record metadata",
                len: meta.len() as u64,
                limit: u64::from(crate::record::MAX_META_LEN),
            });
        }
        if content.len() as u64 > MAX_CONTENT_LEN {
            return Err(Error::TooLarge {
                what: "record content",
                len: content.len() as u64,
                limit: MAX_CONTENT_LEN,
            });
        }
        Ok(())
    }

    /// The dictionary record the content was compressed with (0: none).
    pub fn dictionary(&self) -> u64 {
        self.dict_ref
    }

    /// Size of the stored (compressed) content.
    pub fn stored_len(&self) -> u64 {
        self.stored.len() as u64
    }
}

fn zstd_io(source: std::io::Error) -> Error {
    Error::Io {
        path: PathBuf::from("<zstd>"),
        source,
    }
}

/// The outcome of an append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// Sequence number of the record.
    pub seq: u64,
    /// Its record hash.
    pub hash: Hash,
}

/// A record read back from a volume, content decompressed and verified.
#[derive(Debug, Clone)]
pub struct Record {
    /// The header.
    pub header: RecordHeader,
    /// The record hash.
    pub hash: Hash,
    /// The metadata.
    pub meta: Vec<u8>,
    /// The original content.
    pub content: Vec<u8>,
}

/// What recovery did when the volume was opened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// A torn tail that was truncated (writer) or ignored (read-only open).
    pub torn_tail: Option<TornTail>,
}

/// A torn write at the end of the last segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    /// Segment file name.
    pub segment: String,
    /// Offset where the incomplete record starts.
    pub offset: u64,
    /// How many bytes were (or would be) removed.
    pub bytes: u64,
    /// Why they are considered torn.
    pub reason: String,
}

/// Counters shown by `coffer volume list`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VolumeStats {
    /// Records of every kind.
    pub records: u64,
    /// Message records.
    pub messages: u64,
    /// Original bytes of all content.
    pub raw_bytes: u64,
    /// Bytes of all segment files.
    pub stored_bytes: u64,
    /// Segment files.
    pub segments: u32,
    /// Dictionary records (their content is not counted in `raw_bytes`).
    pub dictionaries: u64,
}

#[derive(Debug, Clone, Copy)]
struct RecordLoc {
    segment: u32,
    offset: u64,
    len: u64,
    kind: RecordKind,
}

struct CurrentSegment {
    no: u32,
    file: Arc<File>,
    len: u64,
}

struct State {
    manifest: Manifest,
    locs: Vec<RecordLoc>,
    hashes: Vec<Hash>,
    tree: MerkleTree,
    segment_files: HashMap<u32, Arc<File>>,
    segment_count: u32,
    current: Option<CurrentSegment>,
    written: u64,
    durable: u64,
    syncing: bool,
    failed: Option<String>,
    last_checkpoint_size: u64,
    last_checkpoint_at: Instant,
    latest_tree_head: Option<SignedTreeHead>,
    /// The newest head written but not yet handed to the sink: (its record's sequence
    /// number, the head); handed over once that record is durable.
    unpublished: Option<(u64, SignedTreeHead)>,
    stats: VolumeStats,
    /// Key transitions in record order.
    transitions: Vec<crate::transition::KeyTransition>,
    /// Dictionary records loaded so far, by sequence number (all of them are found by
    /// the scan on open; they are few).
    dictionaries: HashMap<u64, Arc<VolumeDictionary>>,
}

struct Inner {
    dir: PathBuf,
    volume_id: [u8; 16],
    genesis: Hash,
    key: Option<ArchiveKey>,
    config: VolumeConfig,
    writable: bool,
    state: Mutex<State>,
    synced: Condvar,
    /// The writer's dictionary state (unused by read-only opens).
    trainer: Mutex<Trainer>,
    /// Signalled when a dictionary training attempt ends (see [`Volume::prepare`]).
    trained: Condvar,
    /// Tree size of the last head handed to the head sink: heads leave in order, one
    /// at a time (two group commits end their syncs close together and publish after
    /// releasing the state lock; without this the older head could leave second).
    published: Mutex<u64>,
}

/// An open volume. Cheap to clone; all clones share the writer.
#[derive(Clone)]
pub struct Volume {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Volume {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Volume({})", self.inner.dir.display())
    }
}

fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl Volume {
    /// Creates a new, empty volume for `year` in `dir` (which must not hold one).
    pub fn create(
        dir: &Path,
        purpose: &str,
        year: i32,
        key: &ArchiveKey,
        config: VolumeConfig,
    ) -> Result<(Self, RecoveryReport)> {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let manifest_path = dir.join(MANIFEST_FILE);
        if fs::symlink_metadata(&manifest_path).is_ok() {
            return Err(Error::Manifest {
                path: manifest_path,
                detail: "a volume already exists here".into(),
            });
        }
        let volume_id: [u8; 16] = crate::keys::random_bytes()?;
        let manifest = Manifest {
            format_version: crate::manifest::MANIFEST_VERSION,
            purpose: purpose.to_string(),
            volume_id: hex::encode(volume_id),
            year,
            key: key.fingerprint().to_string(),
            created_us: now_us(),
            state: VolumeState::Open,
            sealed_us: None,
        };
        // The first segment exists before the manifest: a manifest is only ever
        // written for a volume whose first segment is durable.
        create_segment(dir, 1, &volume_id, 1)?;
        manifest.store(dir)?;
        if let Some(parent) = dir.parent() {
            fsutil::sync_dir(parent)?;
        }
        Self::open_writer(dir, key, config)
    }

    /// Opens an existing volume for appending, running recovery (torn tail truncated).
    pub fn open_writer(
        dir: &Path,
        key: &ArchiveKey,
        config: VolumeConfig,
    ) -> Result<(Self, RecoveryReport)> {
        let manifest = Manifest::load(dir)?;
        let writable = manifest.state == VolumeState::Open;
        let (volume, report) = Self::open(dir, manifest, Some(key.clone()), config, writable)?;
        // The key in use: the manifest's, or the last one a key transition handed to.
        // A sealed volume signs nothing more, whatever key the archive has now.
        let in_use = volume.key_in_use();
        if writable && in_use != key.fingerprint() {
            return Err(Error::Key {
                path: dir.join(MANIFEST_FILE),
                detail: format!(
                    "volume is signed with key {in_use} but the archive key is {}",
                    key.fingerprint()
                ),
            });
        }
        Ok((volume, report))
    }

    /// Opens a volume for reading only: nothing is modified; an incomplete tail is
    /// ignored (a writer in another process may be appending).
    pub fn open_read_only(dir: &Path) -> Result<(Self, RecoveryReport)> {
        Self::open_read_only_with(dir, None)
    }

    /// [`Volume::open_read_only`], reading encrypted content with `content_keys`.
    pub fn open_read_only_with(
        dir: &Path,
        content_keys: Option<Arc<dyn ContentKeys>>,
    ) -> Result<(Self, RecoveryReport)> {
        let manifest = Manifest::load(dir)?;
        let config = VolumeConfig {
            content_keys,
            ..VolumeConfig::default()
        };
        Self::open(dir, manifest, None, config, false)
    }

    fn open(
        dir: &Path,
        manifest: Manifest,
        key: Option<ArchiveKey>,
        config: VolumeConfig,
        writable: bool,
    ) -> Result<(Self, RecoveryReport)> {
        let volume_id = manifest.volume_id_bytes().map_err(|e| Error::Manifest {
            path: dir.join(MANIFEST_FILE),
            detail: e.to_string(),
        })?;
        let genesis = manifest.genesis_hash();
        let scan = scan(dir, &volume_id, &genesis, writable)?;
        let mut stats = scan.stats;
        stats.records = scan.locs.len() as u64;
        let written = scan.locs.len() as u64;
        let current = if writable {
            let no = scan.segment_count;
            let path = segment_path(dir, no);
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path)
                .map_err(io_err(&path))?;
            let len = file.metadata().map_err(io_err(&path))?.len();
            Some(CurrentSegment {
                no,
                file: Arc::new(file),
                len,
            })
        } else {
            None
        };
        // A checkpoint record covers the records before it: the record holding the
        // newest head is number tree_size + 1.
        let last_checkpoint_size = scan
            .latest_tree_head
            .as_ref()
            .map_or(0, |h| h.tree_size + 1);
        let mut dictionaries = HashMap::new();
        let newest = scan.dictionaries.keys().next_back().copied();
        let mut current_dict = None;
        for (seq, bytes) in &scan.dictionaries {
            let loaded = if writable && Some(*seq) == newest {
                VolumeDictionary::for_writing(*seq, bytes, config.dictionary.level)
            } else {
                VolumeDictionary::for_reading(*seq, bytes)
            };
            // A dictionary zstd does not load is reported when a record needs it.
            let Ok(dict) = loaded else { continue };
            let dict = Arc::new(dict);
            if dict.can_compress() {
                current_dict = Some(Arc::clone(&dict));
            }
            dictionaries.insert(*seq, dict);
        }
        let trainer = Trainer::new(
            config.dictionary.clone(),
            current_dict,
            scan.dictionaries.len(),
        );
        let state = State {
            manifest,
            locs: scan.locs,
            hashes: scan.hashes,
            tree: scan.tree,
            segment_files: HashMap::new(),
            segment_count: scan.segment_count,
            current,
            written,
            durable: written,
            syncing: false,
            failed: None,
            last_checkpoint_size,
            last_checkpoint_at: Instant::now(),
            latest_tree_head: scan.latest_tree_head,
            unpublished: None,
            stats,
            transitions: scan.transitions,
            dictionaries,
        };
        let inner = Arc::new(Inner {
            dir: dir.to_path_buf(),
            volume_id,
            genesis,
            key,
            config,
            writable,
            state: Mutex::new(state),
            synced: Condvar::new(),
            trainer: Mutex::new(trainer),
            trained: Condvar::new(),
            published: Mutex::new(0),
        });
        let volume = Self { inner };
        if writable {
            // A seal record at the end of an open volume: sealing was interrupted after
            // the record was durable. Finish it rather than append after the seal.
            let last = volume.lock().locs.last().map(|loc| loc.kind);
            if last == Some(RecordKind::Seal) {
                volume.finish_seal(written)?;
                return Ok((volume, scan.report));
            }
            spawn_checkpoint_timer(Arc::downgrade(&volume.inner));
        }
        Ok((volume, scan.report))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave a half-written record that the
        // next user would acknowledge: durability is tracked separately (`durable`),
        // so recovering the guard is safe.
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The volume directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The manifest as last written.
    pub fn manifest(&self) -> Manifest {
        self.lock().manifest.clone()
    }

    /// The volume's year.
    pub fn year(&self) -> i32 {
        self.lock().manifest.year
    }

    /// Sequence number of the last durable record (0 when empty).
    pub fn last_seq(&self) -> u64 {
        self.lock().durable
    }

    /// Sequence number of the last record written, durable or not yet (a commit
    /// waiting for its group fsync): what readers will see once that fsync is done.
    pub fn last_written_seq(&self) -> u64 {
        self.lock().written
    }

    /// Counters for listings.
    pub fn stats(&self) -> VolumeStats {
        let st = self.lock();
        let mut stats = st.stats;
        stats.records = st.durable;
        stats.segments = st.segment_count;
        stats
    }

    /// Merkle root over the first `size` records.
    pub fn root_at(&self, size: u64) -> Result<Hash> {
        Ok(self.lock().tree.root_at(size)?)
    }

    /// The hash of record `seq`.
    pub fn record_hash(&self, seq: u64) -> Result<Hash> {
        let st = self.lock();
        if seq == 0 || seq > st.durable {
            return Err(self.no_record(seq));
        }
        Ok(st.hashes[(seq - 1) as usize])
    }

    /// The genesis hash (the "previous hash" of record 1).
    pub fn genesis_hash(&self) -> Hash {
        self.inner.genesis
    }

    /// The key transitions of the volume, in record order.
    pub fn key_transitions(&self) -> Vec<crate::transition::KeyTransition> {
        self.lock().transitions.clone()
    }

    /// Fingerprint of the key signing this volume now: the manifest's (the genesis
    /// key), or the new key of the last key transition.
    pub fn key_in_use(&self) -> String {
        let st = self.lock();
        st.transitions
            .last()
            .and_then(|t| t.new_fingerprint().ok())
            .unwrap_or_else(|| st.manifest.key.clone())
    }

    /// Appends a key-transition record (FORMAT.md "Key transitions") from the key this
    /// volume was opened with to `new`, over every record before it, and makes it
    /// durable. Tree heads after it must be signed by `new`: the caller reopens the
    /// volume with the new key (and writes a checkpoint with it).
    pub fn append_key_transition(
        &self,
        new: &ArchiveKey,
    ) -> Result<crate::transition::KeyTransition> {
        let mut st = self.lock();
        self.check_writable(&st)?;
        let Some(old) = &self.inner.key else {
            return Err(Error::ReadOnly(self.inner.dir.clone()));
        };
        let size = st.written;
        let root = st.tree.root_at(size)?;
        let chain_head = if size == 0 {
            self.inner.genesis
        } else {
            st.hashes[(size - 1) as usize]
        };
        let transition = crate::transition::KeyTransition::sign(
            old,
            new,
            &self.inner.volume_id,
            st.manifest.year,
            size,
            &root,
            &chain_head,
            now_us(),
        );
        let prepared = Prepared::new(
            RecordKind::KeyTransition,
            transition.time_us,
            transition.to_json(),
            None,
            None,
            0,
        )?;
        let appended = self.write_locked(&mut st, prepared)?;
        st.transitions.push(transition.clone());
        // No head signed by the old key may follow the transition: the commit ends
        // without its usual checkpoint (the transition is signed by both keys), and
        // the next head is the new key's.
        st.last_checkpoint_size = appended.seq;
        drop(st);
        self.sync_to(appended.seq)?;
        Ok(transition)
    }

    /// The newest signed tree head written in the volume (checkpoint or seal).
    pub fn latest_tree_head(&self) -> Option<SignedTreeHead> {
        self.lock().latest_tree_head.clone()
    }

    /// Inclusion proof for record `seq` in the tree of `tree_size` records.
    pub fn inclusion_proof(&self, seq: u64, tree_size: u64) -> Result<Vec<Hash>> {
        if seq == 0 {
            return Err(self.no_record(seq));
        }
        Ok(self.lock().tree.inclusion_proof(seq - 1, tree_size)?)
    }

    /// Consistency proof between two tree sizes.
    pub fn consistency_proof(&self, old_size: u64, new_size: u64) -> Result<Vec<Hash>> {
        Ok(self.lock().tree.consistency_proof(old_size, new_size)?)
    }

    fn no_record(&self, seq: u64) -> Error {
        Error::NoRecord {
            volume: self.inner.dir.clone(),
            seq,
        }
    }

    fn check_writable(&self, st: &State) -> Result<()> {
        if let Some(reason) = &st.failed {
            return Err(Error::WriterFailed(reason.clone()));
        }
        if st.manifest.state != VolumeState::Open {
            return Err(Error::Sealed(self.inner.dir.clone()));
        }
        if !self.inner.writable || st.current.is_none() {
            return Err(Error::ReadOnly(self.inner.dir.clone()));
        }
        Ok(())
    }

    /// Appends a record and returns once it is durable.
    pub fn append(
        &self,
        kind: RecordKind,
        meta: Vec<u8>,
        content: Option<&[u8]>,
    ) -> Result<Appended> {
        let prepared = self.prepare(kind, now_us(), meta, content, None)?;
        let appended = self.write_prepared(prepared)?;
        self.sync_to(appended.seq)?;
        Ok(appended)
    }

    /// The compression level configured for this volume.
    pub fn zstd_level(&self) -> i32 {
        self.inner.config.zstd_level
    }

    /// Prepares a record for this volume, outside the writer lock (any thread): the
    /// content is compressed with the volume's current dictionary when it has one,
    /// else at [`VolumeConfig::zstd_level`]. Message content also feeds the
    /// dictionary trainer; when a (new) dictionary is due, this call trains it (about
    /// a second) and writes it as a dictionary record before returning.
    pub fn prepare(
        &self,
        kind: RecordKind,
        received_us: i64,
        meta: Vec<u8>,
        content: Option<&[u8]>,
        content_sha256: Option<Hash>,
    ) -> Result<Prepared> {
        let content = content.unwrap_or_default();
        if content.is_empty() || !self.inner.writable {
            return Prepared::new(
                kind,
                received_us,
                meta,
                Some(content),
                content_sha256,
                self.inner.config.zstd_level,
            );
        }
        Prepared::check_lengths(&meta, content)?;
        let content_sha256 = content_sha256.unwrap_or_else(|| sha256(content));
        debug_assert_eq!(content_sha256, sha256(content));
        let dict = {
            let mut trainer = self.trainer();
            // While the volume's first dictionary is being trained (a fraction of a
            // second, once per volume), wait for it instead of compressing without one:
            // a parallel import would otherwise store hundreds of messages meanwhile at
            // twice the size.
            while trainer.first_training() && trainer.suits(content.len()) {
                trainer = self
                    .inner
                    .trained
                    .wait(trainer)
                    .unwrap_or_else(|p| p.into_inner());
            }
            trainer.current().filter(|_| trainer.suits(content.len()))
        };
        let (codec, stored, dict_ref) = match &dict {
            Some(dict) => (
                Codec::ZstdDictionary,
                compress_with(content, dict).map_err(zstd_io)?,
                dict.seq,
            ),
            None => (
                Codec::Zstd,
                compress(content, self.inner.config.zstd_level).map_err(zstd_io)?,
                0,
            ),
        };
        if kind == RecordKind::Message {
            let due = self
                .trainer()
                .observe(content, stored.len(), dict.is_some());
            if let Some(samples) = due {
                self.train_and_write(&samples);
            }
        }
        let mut prepared = Prepared::assemble(
            kind,
            codec,
            received_us,
            meta,
            stored,
            content.len(),
            content_sha256,
            dict_ref,
        );
        if let Some(keys) = &self.inner.config.content_keys {
            prepared.encrypt(keys.as_ref())?;
        }
        Ok(prepared)
    }

    fn trainer(&self) -> MutexGuard<'_, Trainer> {
        // The trainer holds no invariant a panic could break halfway that matters for
        // durability: at worst a dictionary is not trained.
        self.inner.trainer.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Trains a dictionary from `samples` and appends it as a dictionary record (made
    /// durable by the next sync, which every record using it waits for). A failure
    /// only means no (new) dictionary: content keeps being stored without one.
    fn train_and_write(&self, samples: &[Vec<u8>]) {
        // Preparers may be waiting for this attempt to end: end it even on a panic.
        let attempt = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.train_and_write_inner(samples)
        }));
        if let Err(panic) = attempt {
            self.trainer().installed(None);
            self.inner.trained.notify_all();
            std::panic::resume_unwind(panic);
        }
    }

    fn train_and_write_inner(&self, samples: &[Vec<u8>]) {
        let (level, max_size) = {
            let t = self.trainer();
            (t.level(), t.max_size())
        };
        let started = Instant::now();
        let installed = train(samples, max_size).and_then(|trained| {
            let meta = format!(
                "{{\"v\":1,\"dict_id\":{},\"level\":{level},\"samples\":{},\"sample_bytes\":{}}}",
                crate::codec::check_dictionary(&trained.bytes)?,
                trained.samples,
                trained.sample_bytes
            );
            let prepared = Prepared::new(
                RecordKind::Dictionary,
                now_us(),
                meta.into_bytes(),
                Some(&trained.bytes),
                None,
                // Written once per dictionary, read once per open: worth a high level,
                // but not level 19's half second for a few KB less.
                9,
            )
            .map_err(|e| e.to_string())?;
            let mut st = self.lock();
            self.check_writable(&st).map_err(|e| e.to_string())?;
            let appended = self
                .write_locked(&mut st, prepared)
                .map_err(|e| e.to_string())?;
            let dict = Arc::new(VolumeDictionary::for_writing(
                appended.seq,
                &trained.bytes,
                level,
            )?);
            st.dictionaries.insert(appended.seq, Arc::clone(&dict));
            Ok(dict)
        });
        match installed {
            Ok(dict) => {
                tracing::info!(
                    volume = %self.inner.dir.display(),
                    seq = dict.seq,
                    dict_id = dict.id,
                    bytes = dict.len,
                    samples = samples.len(),
                    ms = started.elapsed().as_millis() as u64,
                    "trained a compression dictionary"
                );
                self.trainer().installed(Some(dict));
                self.inner.trained.notify_all();
            }
            Err(error) => {
                tracing::warn!(volume = %self.inner.dir.display(), error = %error, "no compression dictionary; content is stored without one");
                self.trainer().installed(None);
                self.inner.trained.notify_all();
            }
        }
    }

    /// The dictionary of record `seq` (for reading), loading it from its record when
    /// needed.
    fn dictionary(&self, seq: u64) -> Result<Arc<VolumeDictionary>> {
        if let Some(d) = self.lock().dictionaries.get(&seq) {
            return Ok(Arc::clone(d));
        }
        let record = self.read(seq)?;
        let corrupt = |detail: String| Error::Corruption {
            volume: self.inner.dir.clone(),
            segment: String::new(),
            offset: 0,
            seq: Some(seq),
            detail,
        };
        if record.header.kind != RecordKind::Dictionary {
            return Err(corrupt(format!(
                "record {seq} is named as a dictionary but is a {} record",
                record.header.kind.name()
            )));
        }
        let dict = Arc::new(VolumeDictionary::for_reading(seq, &record.content).map_err(corrupt)?);
        self.lock().dictionaries.insert(seq, Arc::clone(&dict));
        Ok(dict)
    }

    /// Writes a prepared record (not yet durable; follow with [`Volume::sync_to`]).
    /// With a key store, a message record prepared elsewhere is encrypted now, and the
    /// data key of an encrypted record is made durable before the record is written.
    pub fn write_prepared(&self, mut prepared: Prepared) -> Result<Appended> {
        if let Some(keys) = &self.inner.config.content_keys {
            prepared.encrypt(keys.as_ref())?;
        }
        if let Some(id) = &prepared.key_id {
            let keys = self.inner.config.content_keys.as_ref().ok_or_else(|| {
                Error::KeyStore("an encrypted record for a volume without a key store".into())
            })?;
            keys.make_durable(id).map_err(Error::KeyStore)?;
        }
        if matches!(
            prepared.kind,
            RecordKind::Checkpoint
                | RecordKind::Seal
                | RecordKind::Dictionary
                | RecordKind::KeyTransition
        ) {
            return Err(Error::TooLarge {
                what: "reserved record kind",
                len: 0,
                limit: 0,
            });
        }
        let mut st = self.lock();
        self.check_writable(&st)?;
        let appended = self.write_locked(&mut st, prepared)?;
        let since = st.written - st.last_checkpoint_size;
        if since >= self.inner.config.checkpoint_every {
            self.checkpoint_locked(&mut st)?;
        }
        Ok(appended)
    }

    fn write_locked(&self, st: &mut State, prepared: Prepared) -> Result<Appended> {
        let seq = st.written + 1;
        let prev_hash = st.hashes.last().copied().unwrap_or(self.inner.genesis);
        if prepared.dict_ref != 0 && !st.dictionaries.contains_key(&prepared.dict_ref) {
            return Err(Error::Dictionary {
                volume: self.inner.dir.clone(),
                detail: format!(
                    "a record prepared with dictionary record {} does not belong to this volume",
                    prepared.dict_ref
                ),
            });
        }
        let header = RecordHeader {
            version: RECORD_VERSION,
            kind: prepared.kind,
            codec: prepared.codec,
            flags: prepared.flags,
            seq,
            received_us: prepared.received_us,
            meta_len: prepared.meta.len() as u32,
            raw_len: prepared.raw_len,
            stored_len: prepared.stored.len() as u32,
            dict_ref: prepared.dict_ref,
            content_sha256: prepared.content_sha256,
            stored_sha256: Some(prepared.stored_sha256),
            prev_hash,
        };
        let (bytes, hash) = encode_record(&header, &prepared.meta, &prepared.stored);
        let record_len = bytes.len() as u64;
        let needs_roll = st.current.as_ref().is_some_and(|c| {
            c.len > SEGMENT_HEADER_LEN && c.len + record_len > self.inner.config.segment_size_limit
        });
        if needs_roll {
            self.roll_locked(st, seq)?;
        }
        let Some(current) = st.current.as_mut() else {
            return Err(Error::ReadOnly(self.inner.dir.clone()));
        };
        let offset = current.len;
        if let Err(source) = current.file.write_all_at(&bytes, offset) {
            // Undo the partial write so the next record starts at a clean offset; if
            // even that fails, the writer stops (recovery will deal with the tail).
            if let Err(e) = current.file.set_len(offset) {
                st.failed = Some(format!(
                    "write failed ({source}) and could not be undone ({e})"
                ));
                self.inner.synced.notify_all();
            }
            return Err(Error::Io {
                path: segment_path(&self.inner.dir, current.no),
                source,
            });
        }
        current.len += record_len;
        let segment = current.no;
        st.locs.push(RecordLoc {
            segment,
            offset,
            len: record_len,
            kind: prepared.kind,
        });
        st.hashes.push(hash);
        st.tree.push(&hash);
        st.written = seq;
        st.stats.stored_bytes += record_len;
        match prepared.kind {
            RecordKind::Message => {
                st.stats.messages += 1;
                st.stats.raw_bytes += u64::from(prepared.raw_len);
            }
            RecordKind::Dictionary => st.stats.dictionaries += 1,
            _ => st.stats.raw_bytes += u64::from(prepared.raw_len),
        }
        Ok(Appended { seq, hash })
    }

    /// Closes the current segment (fsync) and starts the next one, durably.
    fn roll_locked(&self, st: &mut State, first_seq: u64) -> Result<()> {
        let Some(current) = st.current.as_ref() else {
            return Err(Error::ReadOnly(self.inner.dir.clone()));
        };
        if let Err(e) = current.file.sync_data() {
            st.failed = Some(format!("fsync of a segment failed: {e}"));
            self.inner.synced.notify_all();
            return Err(Error::WriterFailed(format!("fsync failed: {e}")));
        }
        // Records after the last checkpoint are on disk but not yet under a signed head:
        // they become durable (acknowledgeable) with the next group commit's checkpoint.
        st.durable = if self.inner.config.head_every_commit {
            st.durable.max(st.last_checkpoint_size)
        } else {
            st.written
        };
        self.inner.synced.notify_all();
        let no = current.no + 1;
        let file = match create_segment(&self.inner.dir, no, &self.inner.volume_id, first_seq) {
            Ok(f) => f,
            Err(e) => {
                st.failed = Some(format!("could not start segment {no}: {e}"));
                self.inner.synced.notify_all();
                return Err(e);
            }
        };
        st.current = Some(CurrentSegment {
            no,
            file: Arc::new(file),
            len: SEGMENT_HEADER_LEN,
        });
        st.segment_count = no;
        st.stats.stored_bytes += SEGMENT_HEADER_LEN;
        Ok(())
    }

    /// Waits until record `seq` is durable, fsyncing as the group-commit leader if no
    /// sync is in flight.
    pub fn sync_to(&self, seq: u64) -> Result<()> {
        let mut st = self.lock();
        loop {
            if let Some(reason) = &st.failed {
                return Err(Error::WriterFailed(reason.clone()));
            }
            if st.durable >= seq {
                return Ok(());
            }
            if st.syncing {
                st = self
                    .inner
                    .synced
                    .wait(st)
                    .unwrap_or_else(|p| p.into_inner());
                continue;
            }
            if st.current.is_none() {
                return Err(Error::ReadOnly(self.inner.dir.clone()));
            }
            // No unsigned tail: the group commit ends with a signed tree head over
            // every record it makes durable, in the same fsync.
            if self.inner.config.head_every_commit
                && st.written > st.last_checkpoint_size
                && st.manifest.state == VolumeState::Open
            {
                self.checkpoint_locked(&mut st)?;
            }
            let Some(current) = st.current.as_ref() else {
                return Err(Error::ReadOnly(self.inner.dir.clone()));
            };
            let file = Arc::clone(&current.file);
            let target = st.written;
            st.syncing = true;
            drop(st);
            let result = file.sync_data();
            st = self.lock();
            st.syncing = false;
            let mut publish = None;
            match result {
                Ok(()) => {
                    st.durable = st.durable.max(target);
                    publish = self.take_publishable(&mut st);
                }
                Err(e) => {
                    tracing::error!(volume = %self.inner.dir.display(), error = %e, "fsync failed; volume writer stopped");
                    st.failed = Some(format!("fsync failed: {e}"));
                }
            }
            self.inner.synced.notify_all();
            if let Some(head) = publish {
                let purpose = st.manifest.purpose.clone();
                drop(st);
                self.publish(&purpose, &head);
                st = self.lock();
            }
        }
    }

    /// The unpublished head, if its record is durable now.
    fn take_publishable(&self, st: &mut State) -> Option<SignedTreeHead> {
        match &st.unpublished {
            Some((seq, _)) if *seq <= st.durable => st.unpublished.take().map(|(_, h)| h),
            _ => None,
        }
    }

    /// Hands a durable head to the sink, unless a newer one has left already (it
    /// covers this one: a witness needs only the newest).
    fn publish(&self, purpose: &str, head: &SignedTreeHead) {
        if let Some(sink) = &self.inner.config.head_sink {
            let mut published = self
                .inner
                .published
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if head.tree_size > *published {
                sink.publish(purpose, head);
                *published = head.tree_size;
            }
        }
    }

    /// Appends a checkpoint now (if any record is not yet covered) and waits for it.
    pub fn checkpoint(&self) -> Result<Option<SignedTreeHead>> {
        let mut st = self.lock();
        self.check_writable(&st)?;
        if st.written == st.last_checkpoint_size {
            return Ok(st.latest_tree_head.clone());
        }
        let (seq, head) = self.checkpoint_locked(&mut st)?;
        drop(st);
        self.sync_to(seq)?;
        Ok(Some(head))
    }

    fn tree_head_locked(&self, st: &State, size: u64) -> Result<SignedTreeHead> {
        let Some(key) = &self.inner.key else {
            return Err(Error::ReadOnly(self.inner.dir.clone()));
        };
        let root = st.tree.root_at(size)?;
        let chain_head = if size == 0 {
            self.inner.genesis
        } else {
            st.hashes[(size - 1) as usize]
        };
        Ok(SignedTreeHead::sign(
            key,
            &self.inner.volume_id,
            st.manifest.year,
            size,
            &root,
            &chain_head,
            now_us(),
        ))
    }

    fn checkpoint_locked(&self, st: &mut State) -> Result<(u64, SignedTreeHead)> {
        let head = self.tree_head_locked(st, st.written)?;
        let prepared = Prepared::new(
            RecordKind::Checkpoint,
            head.time_us,
            head.to_json(),
            None,
            None,
            0,
        )?;
        let appended = self.write_locked(st, prepared)?;
        st.last_checkpoint_size = appended.seq;
        st.last_checkpoint_at = Instant::now();
        st.latest_tree_head = Some(head.clone());
        st.unpublished = Some((appended.seq, head.clone()));
        Ok((appended.seq, head))
    }

    /// Seals the volume: appends the seal record (a signed tree head over every record
    /// before it), writes the `SEAL` file (a signed tree head over every record,
    /// the seal record included), marks the manifest sealed and makes the segment files
    /// read-only. Returns the final tree head.
    pub fn seal(&self) -> Result<SignedTreeHead> {
        let mut st = self.lock();
        self.check_writable(&st)?;
        let head = self.tree_head_locked(&st, st.written)?;
        let prepared = Prepared::new(
            RecordKind::Seal,
            head.time_us,
            head.to_json(),
            None,
            None,
            0,
        )?;
        let appended = self.write_locked(&mut st, prepared)?;
        // The seal record carries a head over everything before it: no checkpoint
        // follows it.
        st.last_checkpoint_size = appended.seq;
        st.unpublished = Some((appended.seq, head));
        drop(st);
        self.sync_to(appended.seq)?;
        self.finish_seal(appended.seq)
    }

    /// The second half of sealing, once the seal record `seal_seq` is durable: the `SEAL`
    /// file, the manifest's sealed state, read-only segments. Also run when a writer opens
    /// a volume whose last record is a seal that a crash kept from finishing, so that
    /// nothing is ever appended after a seal record.
    fn finish_seal(&self, seal_seq: u64) -> Result<SignedTreeHead> {
        let mut st = self.lock();
        let final_head = self.tree_head_locked(&st, seal_seq)?;
        let seal_path = self.inner.dir.join(SEAL_FILE);
        fsutil::write_atomic(&seal_path, &final_head.to_json())?;
        let mut manifest = st.manifest.clone();
        manifest.state = VolumeState::Sealed;
        manifest.sealed_us = Some(final_head.time_us);
        manifest.store(&self.inner.dir)?;
        for no in 1..=st.segment_count {
            let path = segment_path(&self.inner.dir, no);
            fs::set_permissions(&path, fs::Permissions::from_mode(0o400)).map_err(io_err(&path))?;
        }
        st.manifest = manifest;
        st.current = None;
        st.latest_tree_head = Some(final_head.clone());
        let purpose = st.manifest.purpose.clone();
        drop(st);
        self.publish(&purpose, &final_head);
        Ok(final_head)
    }

    fn segment_file(&self, st: &mut State, no: u32) -> Result<Arc<File>> {
        if let Some(f) = st.segment_files.get(&no) {
            return Ok(Arc::clone(f));
        }
        let path = segment_path(&self.inner.dir, no);
        let file = Arc::new(File::open(&path).map_err(io_err(&path))?);
        st.segment_files.insert(no, Arc::clone(&file));
        Ok(file)
    }

    /// Reads record `seq` (only durable records), decompressing and checking the content
    /// against its SHA-256 and the record against its hash.
    pub fn read(&self, seq: u64) -> Result<Record> {
        self.read_checked(seq, ContentCheck::Hashes)
    }

    /// [`Volume::read`] for a derived view that shows the content but is not evidence
    /// (a search hit's snippet): an encrypted record's content is taken as authenticated
    /// by its ChaCha20-Poly1305 tag, which covers the ciphertext and, through the
    /// associated data, the content SHA-256 of the header, instead of hashing the stored
    /// and the decompressed bytes again (two SHA-256 passes, a sixth of a search that
    /// reads bodies back). Damage still fails the read: a changed stored byte fails the
    /// tag, a changed header its CRC and the record hash. Unencrypted records are checked
    /// as by [`Volume::read`]. Exports, raw downloads and verification use `read`.
    pub fn read_authenticated(&self, seq: u64) -> Result<Record> {
        self.read_checked(seq, ContentCheck::TagOfEncrypted)
    }

    fn read_checked(&self, seq: u64, check: ContentCheck) -> Result<Record> {
        let (loc, expected_hash, prev_hash, file) = {
            let mut st = self.lock();
            if seq == 0 || seq > st.durable {
                return Err(self.no_record(seq));
            }
            let loc = st.locs[(seq - 1) as usize];
            let file = self.segment_file(&mut st, loc.segment)?;
            let prev = self.prev_of(&st, seq);
            (loc, st.hashes[(seq - 1) as usize], prev, file)
        };
        let path = segment_path(&self.inner.dir, loc.segment);
        let corrupt = |detail: String| Error::Corruption {
            volume: self.inner.dir.clone(),
            segment: segment_file_name(loc.segment),
            offset: loc.offset,
            seq: Some(seq),
            detail,
        };
        let len = usize::try_from(loc.len).map_err(|_| corrupt("record too large".into()))?;
        let bytes = read_at_most(&file, &path, loc.offset, len)?;
        if bytes.len() != len {
            return Err(corrupt("record is cut short".into()));
        }
        let mut header = RecordHeader::decode(&bytes).map_err(|e| corrupt(e.to_string()))?;
        let (header_len, prefix_len) = (header.header_len(), header.prefix_len());
        if header.record_len() != loc.len {
            return Err(corrupt(
                "record length changed since the volume was opened".into(),
            ));
        }
        if header.version >= 3 {
            header.prev_hash = prev_hash;
        }
        let meta_end = prefix_len + header.meta_len as usize;
        let meta = bytes[prefix_len..meta_end].to_vec();
        let hash = record_hash(&bytes[..header_len], &prev_hash, &meta);
        if hash != expected_hash || bytes[header_len..prefix_len] != hash {
            return Err(corrupt("record hash mismatch".into()));
        }
        let dict = match header.codec {
            Codec::ZstdDictionary => Some(self.dictionary(header.dict_ref)?),
            Codec::None | Codec::Zstd => None,
        };
        let stored = &bytes[meta_end..];
        let hash_content = check == ContentCheck::Hashes || !header.is_encrypted();
        if hash_content && header.stored_sha256.is_some_and(|h| h != sha256(stored)) {
            return Err(corrupt("stored bytes do not match their SHA-256".into()));
        }
        let decrypted;
        let compressed = if header.is_encrypted() {
            decrypted = self.decrypt(seq, &header, stored)?;
            &decrypted[..]
        } else {
            stored
        };
        let content = decompress(header.codec, compressed, header.raw_len, dict.as_deref())
            .map_err(corrupt)?;
        if hash_content && sha256(&content) != header.content_sha256 {
            return Err(corrupt("content does not match its SHA-256".into()));
        }
        Ok(Record {
            header,
            hash,
            meta,
            content,
        })
    }

    /// The compressed content of encrypted record `seq` (its `stored` bytes decrypted
    /// with its data key), or why it cannot be read: [`Error::Disposed`] when the key
    /// was destroyed, [`Error::KeyStore`] when it is missing or there is no key store.
    fn decrypt(&self, seq: u64, header: &RecordHeader, stored: &[u8]) -> Result<Vec<u8>> {
        let id = crate::crypt::key_id_of(stored).ok_or_else(|| Error::Corruption {
            volume: self.inner.dir.clone(),
            segment: String::new(),
            offset: 0,
            seq: Some(seq),
            detail: "encrypted content shorter than its key id".into(),
        })?;
        let keys = self.inner.config.content_keys.as_ref().ok_or_else(|| {
            Error::KeyStore(format!(
                "record {seq} of {} is encrypted and no key store is open",
                self.inner.dir.display()
            ))
        })?;
        match keys.lookup(&id).map_err(Error::KeyStore)? {
            KeyLookup::Found(key) => crate::crypt::decrypt(stored, &key, &header.content_sha256)
                .map_err(|detail| Error::Corruption {
                    volume: self.inner.dir.clone(),
                    segment: String::new(),
                    offset: 0,
                    seq: Some(seq),
                    detail,
                }),
            KeyLookup::Destroyed(by) => Err(Error::Disposed {
                volume: self.inner.dir.clone(),
                seq,
                by,
            }),
            KeyLookup::Missing => Err(Error::KeyStore(format!(
                "the data key {} of record {seq} of {} is not in the key store",
                hex::encode(id),
                self.inner.dir.display()
            ))),
        }
    }

    /// Whether record `seq` was disposed of: its content is encrypted and the key store
    /// says its data key was destroyed (`Some(by what)`). `None` for every other record,
    /// and when no key store is open.
    pub fn disposed(&self, seq: u64) -> Result<Option<String>> {
        if self.inner.config.content_keys.is_none() {
            return Ok(None);
        }
        self.disposed_with(seq, &self.read_header(seq)?)
    }

    /// [`Volume::disposed`] for a caller that read record `seq`'s `header` already
    /// (`coffer verify` asks for every message record).
    pub fn disposed_with(&self, seq: u64, header: &RecordHeader) -> Result<Option<String>> {
        let Some(keys) = &self.inner.config.content_keys else {
            return Ok(None);
        };
        let Some(id) = self.key_id_with(seq, header)? else {
            return Ok(None);
        };
        keys.destroyed(&id).map_err(Error::KeyStore)
    }

    /// The data key id an encrypted record `seq` names (`None`: not encrypted).
    pub fn key_id(&self, seq: u64) -> Result<Option<KeyId>> {
        self.key_id_with(seq, &self.read_header(seq)?)
    }

    /// [`Volume::key_id`] given record `seq`'s header.
    fn key_id_with(&self, seq: u64, header: &RecordHeader) -> Result<Option<KeyId>> {
        if !header.is_encrypted() {
            return Ok(None);
        }
        let (loc, file) = {
            let mut st = self.lock();
            let loc = st.locs[(seq - 1) as usize];
            (loc, self.segment_file(&mut st, loc.segment)?)
        };
        let path = segment_path(&self.inner.dir, loc.segment);
        let at = loc.offset + header.prefix_len() as u64 + u64::from(header.meta_len);
        let bytes = read_at_most(&file, &path, at, crate::crypt::KEY_ID_LEN)?;
        Ok(crate::crypt::key_id_of(&bytes))
    }

    /// The hash of the record before `seq` (the genesis hash for record 1).
    fn prev_of(&self, st: &State, seq: u64) -> Hash {
        match seq {
            0 | 1 => self.inner.genesis,
            _ => st.hashes[(seq - 2) as usize],
        }
    }

    /// The header and metadata of record `seq`, without reading the content. The
    /// header's `prev_hash` is filled in from the chain for a version-3 record.
    pub fn read_meta(&self, seq: u64) -> Result<(RecordHeader, Vec<u8>)> {
        self.read_prefix(seq, true)
    }

    /// The header of record `seq`, as [`Volume::read_meta`] reads it, without its
    /// metadata.
    fn read_header(&self, seq: u64) -> Result<RecordHeader> {
        Ok(self.read_prefix(seq, false)?.0)
    }

    /// The header of record `seq` and, with `with_meta`, its metadata (else empty).
    fn read_prefix(&self, seq: u64, with_meta: bool) -> Result<(RecordHeader, Vec<u8>)> {
        let (loc, prev, file) = {
            let mut st = self.lock();
            if seq == 0 || seq > st.durable {
                return Err(self.no_record(seq));
            }
            let loc = st.locs[(seq - 1) as usize];
            let prev = self.prev_of(&st, seq);
            (loc, prev, self.segment_file(&mut st, loc.segment)?)
        };
        let path = segment_path(&self.inner.dir, loc.segment);
        let corrupt = |detail: String| Error::Corruption {
            volume: self.inner.dir.clone(),
            segment: segment_file_name(loc.segment),
            offset: loc.offset,
            seq: Some(seq),
            detail,
        };
        let want = usize::try_from(loc.len)
            .unwrap_or(usize::MAX)
            .min(MAX_PREFIX_LEN);
        let prefix = read_at_most(&file, &path, loc.offset, want)?;
        let mut header = RecordHeader::decode(&prefix).map_err(|e| corrupt(e.to_string()))?;
        if header.version >= 3 {
            header.prev_hash = prev;
        }
        if !with_meta {
            return Ok((header, Vec::new()));
        }
        let meta = read_at_most(
            &file,
            &path,
            loc.offset + header.prefix_len() as u64,
            header.meta_len as usize,
        )?;
        if meta.len() != header.meta_len as usize {
            return Err(corrupt("metadata is cut short".into()));
        }
        Ok((header, meta))
    }

    /// The kind of record `seq`.
    pub fn kind(&self, seq: u64) -> Result<RecordKind> {
        let st = self.lock();
        if seq == 0 || seq > st.durable {
            return Err(self.no_record(seq));
        }
        Ok(st.locs[(seq - 1) as usize].kind)
    }
}

/// Creates segment file `no` with its header, fsynced together with the directory.
fn create_segment(dir: &Path, no: u32, volume_id: &[u8; 16], first_seq: u64) -> Result<File> {
    let path = segment_path(dir, no);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(io_err(&path))?;
    let header = SegmentHeader {
        segment_no: no,
        volume_id: *volume_id,
        first_seq,
    };
    file.write_all_at(&header.encode(), 0)
        .map_err(io_err(&path))?;
    file.sync_all().map_err(io_err(&path))?;
    fsutil::sync_dir(dir)?;
    Ok(file)
}

fn spawn_checkpoint_timer(inner: Weak<Inner>) {
    let spawned = std::thread::Builder::new().name("volume-checkpoint".into()).spawn(move || {
        loop {
            std::thread::sleep(Duration::from_millis(500));
            let Some(inner) = inner.upgrade() else { return };
            let volume = Volume { inner };
            let due = {
                let st = volume.lock();
                if st.failed.is_some() || st.current.is_none() {
                    return;
                }
                st.written > st.last_checkpoint_size
                    && st.last_checkpoint_at.elapsed() >= volume.inner.config.checkpoint_interval
            };
            if due
                && let Err(e) = volume.checkpoint() {
                    tracing::warn!(volume = %volume.inner.dir.display(), error = %e, "timed checkpoint failed");
                }
        }
    });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "could not start the checkpoint timer; checkpoints follow the record count only");
    }
}

struct ScanResult {
    locs: Vec<RecordLoc>,
    hashes: Vec<Hash>,
    tree: MerkleTree,
    segment_count: u32,
    latest_tree_head: Option<SignedTreeHead>,
    stats: VolumeStats,
    report: RecoveryReport,
    /// Content of every dictionary record, by sequence number.
    dictionaries: std::collections::BTreeMap<u64, Vec<u8>>,
    /// Key transitions in record order.
    transitions: Vec<crate::transition::KeyTransition>,
}

/// Scans every segment: checks headers, the chain and record hashes, and the content of
/// the last record; truncates (writer) or ignores (read-only) a torn tail.
fn scan(dir: &Path, volume_id: &[u8; 16], genesis: &Hash, repair: bool) -> Result<ScanResult> {
    let segments = list_segments(dir)?;
    if segments.is_empty() {
        return Err(Error::Corruption {
            volume: dir.to_path_buf(),
            segment: segment_file_name(1),
            offset: 0,
            seq: None,
            detail: "the volume has no segment file".into(),
        });
    }
    let mut out = ScanResult {
        locs: Vec::new(),
        hashes: Vec::new(),
        tree: MerkleTree::new(),
        segment_count: segments.len() as u32,
        latest_tree_head: None,
        stats: VolumeStats::default(),
        report: RecoveryReport::default(),
        dictionaries: std::collections::BTreeMap::new(),
        transitions: Vec::new(),
    };
    let last_segment = segments.len() as u32;
    for no in segments {
        let path = segment_path(dir, no);
        let file = File::open(&path).map_err(io_err(&path))?;
        let file_len = file.metadata().map_err(io_err(&path))?.len();
        let is_last = no == last_segment;
        let corrupt = |offset: u64, seq: Option<u64>, detail: String| Error::Corruption {
            volume: dir.to_path_buf(),
            segment: segment_file_name(no),
            offset,
            seq,
            detail,
        };
        let head = read_at_most(&file, &path, 0, SEGMENT_HEADER_LEN as usize)?;
        let expected_first = out.locs.len() as u64 + 1;
        match SegmentHeader::decode(&head) {
            Ok(h) => {
                if h.segment_no != no || h.volume_id != *volume_id || h.first_seq != expected_first
                {
                    return Err(corrupt(
                        0,
                        None,
                        format!(
                            "segment header says segment {} of volume {} from record {}, expected segment {no} of {} from record {expected_first}",
                            h.segment_no,
                            hex::encode(h.volume_id),
                            h.first_seq,
                            hex::encode(volume_id)
                        ),
                    ));
                }
            }
            Err(e) => {
                let torn = is_last
                    && (head.len() < SEGMENT_HEADER_LEN as usize || head.iter().all(|b| *b == 0));
                if !torn {
                    return Err(corrupt(0, None, e.to_string()));
                }
                // A crash while starting a new segment: rewrite its header.
                out.report.torn_tail = Some(TornTail {
                    segment: segment_file_name(no),
                    offset: 0,
                    bytes: file_len,
                    reason: "segment header incomplete".into(),
                });
                if repair {
                    let f = OpenOptions::new()
                        .write(true)
                        .open(&path)
                        .map_err(io_err(&path))?;
                    f.set_len(0).map_err(io_err(&path))?;
                    let header = SegmentHeader {
                        segment_no: no,
                        volume_id: *volume_id,
                        first_seq: expected_first,
                    };
                    f.write_all_at(&header.encode(), 0).map_err(io_err(&path))?;
                    f.sync_all().map_err(io_err(&path))?;
                }
                out.stats.stored_bytes += SEGMENT_HEADER_LEN;
                continue;
            }
        }
        out.stats.stored_bytes += SEGMENT_HEADER_LEN;
        let mut offset = SEGMENT_HEADER_LEN;
        while offset < file_len {
            let seq = out.locs.len() as u64 + 1;
            let remaining = file_len - offset;
            let prefix = read_at_most(&file, &path, offset, MAX_PREFIX_LEN + 4096)?;
            let tail = |reason: &str| -> Result<Option<TornTail>> {
                let rest = read_tail(&file, &path, offset, file_len)?;
                Ok(Some(TornTail {
                    segment: segment_file_name(no),
                    offset,
                    bytes: rest.len() as u64,
                    reason: reason.to_string(),
                }))
            };
            let header = match RecordHeader::decode(&prefix) {
                Ok(h) => Some(h),
                Err(e) => {
                    let rest = read_tail(&file, &path, offset, file_len)?;
                    // A header that runs into the end of the file (its length is in
                    // its first bytes: version, and in version 3 its integers).
                    let cut = matches!(e, crate::record::HeaderError::Truncated(..));
                    let needed = rest
                        .get(4)
                        .and_then(|v| crate::record::header_len(*v))
                        .unwrap_or(crate::record::HEADER_LEN_V1);
                    if is_last && (cut || rest.len() < needed || rest.iter().all(|b| *b == 0)) {
                        None
                    } else {
                        return Err(corrupt(offset, Some(seq), e.to_string()));
                    }
                }
            };
            let torn = match header {
                None => tail("incomplete record header")?,
                Some(header) if remaining < header.record_len() => {
                    if !is_last {
                        return Err(corrupt(
                            offset,
                            Some(seq),
                            format!(
                                "record of {} bytes runs past the end of the segment",
                                header.record_len()
                            ),
                        ));
                    }
                    tail("record cut short")?
                }
                Some(header) => {
                    if header.seq != seq {
                        return Err(corrupt(
                            offset,
                            Some(seq),
                            format!("sequence number {} where {seq} was expected", header.seq),
                        ));
                    }
                    let expected_prev = out.hashes.last().copied().unwrap_or(*genesis);
                    if header.version < 3 && header.prev_hash != expected_prev {
                        return Err(corrupt(
                            offset,
                            Some(seq),
                            "previous-hash link broken".into(),
                        ));
                    }
                    let meta_len = header.meta_len as usize;
                    let (header_len, prefix_len) = (header.header_len(), header.prefix_len());
                    let meta = if prefix.len() >= prefix_len + meta_len {
                        prefix[prefix_len..prefix_len + meta_len].to_vec()
                    } else {
                        read_at_most(&file, &path, offset + prefix_len as u64, meta_len)?
                    };
                    let hash = record_hash(&prefix[..header_len], &expected_prev, &meta);
                    if prefix[header_len..prefix_len] != hash {
                        return Err(corrupt(offset, Some(seq), "record hash mismatch".into()));
                    }
                    let end = offset + header.record_len();
                    let is_last_record = is_last && end == file_len;
                    if header.codec == Codec::ZstdDictionary
                        && !out.dictionaries.contains_key(&header.dict_ref)
                    {
                        return Err(corrupt(
                            offset,
                            Some(seq),
                            format!(
                                "content names dictionary record {}, which is not a dictionary",
                                header.dict_ref
                            ),
                        ));
                    }
                    if is_last_record || header.kind == RecordKind::Dictionary {
                        // The last record's content must be checked too: a crash can
                        // persist the header but not all of the content. Dictionaries
                        // are read now: later records need them.
                        let stored_off = offset + prefix_len as u64 + meta_len as u64;
                        let stored =
                            read_at_most(&file, &path, stored_off, header.stored_len as usize)?;
                        let dict = match header.codec {
                            Codec::ZstdDictionary => {
                                out.dictionaries.get(&header.dict_ref).and_then(|b| {
                                    VolumeDictionary::for_reading(header.dict_ref, b).ok()
                                })
                            }
                            Codec::None | Codec::Zstd => None,
                        };
                        // Encrypted content is checked against the stored-bytes hash
                        // (the key is not needed to tell a torn write).
                        let content = if header.is_encrypted() {
                            None
                        } else {
                            decompress(header.codec, &stored, header.raw_len, dict.as_ref())
                                .ok()
                                .filter(|c| sha256(c) == header.content_sha256)
                        };
                        let ok = if header.is_encrypted() {
                            header.stored_sha256 == Some(sha256(&stored))
                        } else {
                            content.is_some()
                        };
                        // Content that is no zstd dictionary (version 1 allowed any) is
                        // not damage; a record naming it as its dictionary is.
                        if header.kind == RecordKind::Dictionary
                            && let Some(content) = content
                            && crate::codec::check_dictionary(&content).is_ok()
                        {
                            out.dictionaries.insert(seq, content);
                        }
                        if !ok {
                            if zero_filled_to_end(&stored, stored_off, file_len) {
                                if let Some(t) =
                                    tail("record content not fully written (zero-filled)")?
                                {
                                    finish_torn(dir, &path, &mut out, t, repair)?;
                                }
                                break;
                            }
                            return Err(corrupt(
                                offset,
                                Some(seq),
                                "content does not match its SHA-256".into(),
                            ));
                        }
                    }
                    if matches!(header.kind, RecordKind::Checkpoint | RecordKind::Seal)
                        && let Ok(head) = SignedTreeHead::from_canonical_json(&meta)
                    {
                        out.latest_tree_head = Some(head);
                    }
                    if header.kind == RecordKind::KeyTransition {
                        match crate::transition::KeyTransition::from_canonical_json(&meta) {
                            Ok(t) => out.transitions.push(t),
                            Err(e) => return Err(corrupt(offset, Some(seq), e.to_string())),
                        }
                    }
                    match header.kind {
                        RecordKind::Message => {
                            out.stats.messages += 1;
                            out.stats.raw_bytes += u64::from(header.raw_len);
                        }
                        RecordKind::Dictionary => out.stats.dictionaries += 1,
                        _ => out.stats.raw_bytes += u64::from(header.raw_len),
                    }
                    out.stats.stored_bytes += header.record_len();
                    out.locs.push(RecordLoc {
                        segment: no,
                        offset,
                        len: header.record_len(),
                        kind: header.kind,
                    });
                    out.hashes.push(hash);
                    out.tree.push(&hash);
                    offset = end;
                    continue;
                }
            };
            if let Some(t) = torn {
                finish_torn(dir, &path, &mut out, t, repair)?;
            }
            break;
        }
    }
    Ok(out)
}

/// Whether `bytes` (which end at `file_len`, starting at `start`) end in a run of zeros
/// that covers a whole 512-byte-aligned block boundary: what a crash leaves when the
/// file size reached the disk but the last blocks of data did not. A damaged byte in an
/// acknowledged record does not look like this, so it is reported, not truncated.
pub(crate) fn zero_filled_to_end(bytes: &[u8], start: u64, file_len: u64) -> bool {
    let nonzero = bytes.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
    if nonzero == bytes.len() {
        return false;
    }
    let zero_start = start + nonzero as u64;
    zero_start.div_ceil(512) * 512 < file_len
}

fn read_tail(file: &File, path: &Path, offset: u64, file_len: u64) -> Result<Vec<u8>> {
    let len = usize::try_from(file_len - offset)
        .unwrap_or(usize::MAX)
        .min(64 * 1024 * 1024);
    read_at_most(file, path, offset, len)
}

fn finish_torn(
    dir: &Path,
    path: &Path,
    out: &mut ScanResult,
    torn: TornTail,
    repair: bool,
) -> Result<()> {
    if repair {
        let f = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(io_err(path))?;
        f.set_len(torn.offset).map_err(io_err(path))?;
        f.sync_all().map_err(io_err(path))?;
        tracing::warn!(
            volume = %dir.display(),
            segment = %torn.segment,
            offset = torn.offset,
            bytes = torn.bytes,
            reason = %torn.reason,
            "truncated a torn tail left by an interrupted write"
        );
    }
    out.report.torn_tail = Some(torn);
    Ok(())
}
