//! [`IndexSet`]: one tantivy index per receive year under a directory, with the volume
//! high-water mark of each year in its commit payload, damage detection on open, and
//! thread-safe writes and reads.
//!
//! # Layout
//!
//! `<dir>/<YYYY>/` is the tantivy index of the messages received in year YYYY
//! (message ids `YYYY-seq`). A year is created in `<dir>/.tmp-YYYY-*` and renamed into
//! place only after its first commit, so a directory named like a year always had a
//! complete commit; `.tmp-*` and `.trash-*` leftovers are removed on open.
//!
//! # Commit payload
//!
//! Every commit stores JSON `{"format":1,"high_water":N,"min_date":S,"max_date":S}`:
//! the last volume sequence applied (`null` before the first), and the range of
//! message dates (Unix seconds) added so far. Only [`IndexSet::commit`] commits, so
//! the payload always describes exactly the committed documents and replay after a
//! crash starts at `high_water + 1`. Re-adding a message at or below the high-water
//! mark (a replay) replaces it instead of duplicating it.
//!
//! # Damage
//!
//! Opening a year reads `meta.json`, checks the schema and the payload, and opens every
//! segment file. Any failure marks the year [`YearStatus::NeedsRebuild`]; searches then
//! fail with [`Error::NeedsRebuild`] until [`IndexSet::clear_year`] and a replay from
//! the volumes rebuild it. [`IndexSet::verify_year`] additionally checksums every file.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, RwLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use coffer_model::MessageDoc;
use serde::{Deserialize, Serialize};
use tantivy::directory::MmapDirectory;
use tantivy::schema::Term;
use tantivy::store::{Compressor, ZstdCompressor};
use tantivy::{Index, IndexReader, IndexSettings, IndexWriter, ReloadPolicy, Searcher};
use tracing::{debug, info, warn};

use crate::analysis;
use crate::compile::IndexedFields;
use crate::error::{Error, Result};
use crate::hit_text::HitText;
use crate::schema::{IndexSchema, names};

/// Uncompressed size at which a block of the document store is closed (tantivy's default
/// is 16 KB). Every hit of a search reads its stored fields, and reading one document
/// decompresses its whole block: the benchmark corpus stores a few KB per message, so
/// with 16 KB blocks a hit decompressed several neighbours with it; with 4 KB blocks
/// about one message each (a larger document makes a block by itself anyway). Measured
/// with callgrind on the 50,000-message benchmark corpus, a whole `coffer search --limit
/// 20` took 10–25% fewer instructions (rare term 7.35M → 5.55M, `attachment:` term 8.08M → 6.72M, common term
/// 9.87M → 8.84M) for an index 4% larger (165 vs 159 MB). A setting of the index, read
/// from its `meta.json`: years created before keep their 16 KB blocks, take new
/// documents and need no rebuild (checked by importing into an index of the previous
/// build); `coffer reindex` recreates a year, and with it the new block size.
///
/// Since the store keeps only a short preview per message (at most
/// [`crate::BODY_PREVIEW_BYTES`] of body text, with the message's few stored fields), a
/// 4 KB block holds about five of them.
const DOCSTORE_BLOCK_BYTES: usize = 4096;

/// The document store's compression: zstd at its default level.
///
/// zstd keeps the store small (SpamAssassin: index 11.24 MB with zstd, 12.15 MB with LZ4,
/// 0.345 and 0.373 × the raw mail; the generated business mail 29.3 against 34.0 MB).
/// Every hit shown decompresses one store block; tantivy does that with the zstd crate's
/// one-shot `decompress_to_buffer`, which created a zstd context per block until the
/// vendored zstd (`third_party/zstd/COFFER.md`) reused one per thread. Over distinct
/// queries (`scripts/bench-search-classes`, each run once, December 2026) the per-thread
/// context made the zstd store 25–36 % faster at p50; it still costs 0.06–0.12 ms a
/// query over LZ4 (1.1–1.3 × at p50 on SpamAssassin, 1.1–1.5 × on the generated mail),
/// the price of meeting the 0.35 × index budget of issue 24. Stores written with LZ4
/// (December 2026, c53af1b) stay readable: each store file names its compressor, and
/// `coffer reindex` rewrites a year with zstd.
const DOCSTORE_COMPRESSION: Compressor = Compressor::Zstd(ZstdCompressor {
    compression_level: None,
});

/// Version of the commit payload format (and of the schema); bump on any schema change.
///
/// 4: the document store keeps a short body preview instead of body and attachment
/// excerpts (issue 24); compressed with zstd, for a while with LZ4 (both are read).
pub const PAYLOAD_FORMAT: u32 = 4;

/// Tuning of an [`IndexSet`].
#[derive(Debug, Clone)]
pub struct IndexOptions {
    /// Memory budget of one year's writer, in bytes, shared by its threads (at least
    /// 15 MB per thread). Default 80 MB.
    pub writer_memory_bytes: usize,
    /// Indexing threads per writer. Default: 2, or 1 on a single core.
    pub writer_threads: usize,
    /// Threads one search may use to search several years at once (1 = the caller's
    /// thread only). Default: the number of cores, at most 4.
    pub search_threads: usize,
    /// Most distinct terms a prefix (`word*`) may expand to in the searched years;
    /// beyond it the query is refused (see [`crate::limits`]). Default 10,000.
    pub max_prefix_terms: usize,
    /// Longest a search may run; past it, it stops ([`crate::Error::TimedOut`]).
    /// Default: none (the server sets its request timeout).
    pub search_time_limit: Option<std::time::Duration>,
}

impl Default for IndexOptions {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        IndexOptions {
            writer_memory_bytes: 80 << 20,
            writer_threads: cores.clamp(1, 2),
            search_threads: cores.clamp(1, 4),
            max_prefix_terms: 10_000,
            search_time_limit: None,
        }
    }
}

impl IndexOptions {
    /// Writer memory of bulk commands (`coffer import`, `coffer reindex`).
    pub const BULK_WRITER_MEMORY_BYTES: usize = 1 << 30;

    /// Tuning for bulk commands: a writer with [`Self::BULK_WRITER_MEMORY_BYTES`], so
    /// that segments are large and few. Each segment flush is later merged; with the
    /// server's 80 MB a 50,000-message import wrote 14 segments and spent about 12% of
    /// its CPU merging them (measured: 71 → 63 CPU seconds, 37 → 33 s; now 2 segments).
    /// The arena grows as documents arrive and is released when the writer closes; the
    /// import's peak RSS stays about 1 GB, as it was with merges.
    pub fn bulk() -> IndexOptions {
        IndexOptions {
            writer_memory_bytes: Self::BULK_WRITER_MEMORY_BYTES,
            ..IndexOptions::default()
        }
    }
}

/// The health of one yearly index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum YearStatus {
    /// Usable.
    Ready(YearInfo),
    /// Missing pieces, unreadable, damaged or of another format: rebuild from volumes.
    NeedsRebuild {
        /// What is wrong (a file name, an error), for the operator.
        reason: String,
    },
}

/// What a healthy yearly index holds, as of its last commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct YearInfo {
    /// Searchable documents.
    pub docs: u64,
    /// Last volume sequence applied, `None` before the first commit with one.
    pub high_water: Option<u64>,
    /// Earliest message date added (Unix seconds).
    pub min_date: Option<i64>,
    /// Latest message date added (Unix seconds).
    pub max_date: Option<i64>,
}

/// The commit payload (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
struct Payload {
    format: u32,
    high_water: Option<u64>,
    min_date: Option<i64>,
    max_date: Option<i64>,
}

impl Payload {
    fn parse(text: Option<&str>) -> std::result::Result<Payload, String> {
        let text = text.ok_or("commit payload missing (not written by Coffer, or damaged)")?;
        let payload: Payload =
            serde_json::from_str(text).map_err(|e| format!("commit payload unreadable: {e}"))?;
        if payload.format != PAYLOAD_FORMAT {
            return Err(format!(
                "index format {} is not the supported format {PAYLOAD_FORMAT}",
                payload.format
            ));
        }
        Ok(payload)
    }

    fn widen(&mut self, date: i64) {
        self.min_date = Some(self.min_date.map_or(date, |d| d.min(date)));
        self.max_date = Some(self.max_date.map_or(date, |d| d.max(date)));
    }
}

/// The write side of one year, behind one mutex.
struct WriteSlot {
    writer: Option<IndexWriter>,
    /// Documents added or replaced since the last commit.
    pending: u64,
    /// Highest sequence committed or added since: re-adding at or below it replaces.
    max_seq: Option<u64>,
    /// The payload the next commit will write (dates widened by pending adds).
    next: Payload,
    /// The payload of the last commit.
    committed: Payload,
}

/// One opened yearly index.
pub(crate) struct YearIndex {
    pub(crate) year: i32,
    pub(crate) index: Index,
    pub(crate) reader: IndexReader,
    write: Mutex<WriteSlot>,
    /// [`YearIndex::indexed_fields`] of the last searcher generation asked about.
    indexed_fields: Mutex<Option<(u64, IndexedFields)>>,
}

impl YearIndex {
    fn lock_write(&self) -> MutexGuard<'_, WriteSlot> {
        // A panic while holding the lock leaves counters, never index data, stale.
        self.write.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn searcher(&self) -> Searcher {
        self.reader.searcher()
    }

    /// The fields that hold at least one term in some segment of `searcher` (one of
    /// this year's), worked out once per searcher generation: about 5 µs per segment,
    /// which a server with many segments and years would otherwise pay on every query.
    pub(crate) fn indexed_fields(&self, searcher: &Searcher) -> Result<IndexedFields> {
        let generation = searcher.generation().generation_id();
        let mut cache = self
            .indexed_fields
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some((cached, fields)) = *cache
            && cached == generation
        {
            return Ok(fields);
        }
        let schema = searcher.schema();
        let mut fields = IndexedFields::NONE;
        for segment in searcher.segment_readers() {
            let metadata = segment
                .fields_metadata()
                .map_err(Error::engine(self.year))?;
            for field in metadata {
                if field.postings_size.is_some_and(|size| size.get_bytes() > 0)
                    && let Ok(handle) = schema.get_field(&field.field_name)
                {
                    fields.insert(handle);
                }
            }
        }
        *cache = Some((generation, fields));
        Ok(fields)
    }

    fn info(&self) -> YearInfo {
        let committed = self.lock_write().committed;
        YearInfo {
            docs: self.searcher().num_docs(),
            high_water: committed.high_water,
            min_date: committed.min_date,
            max_date: committed.max_date,
        }
    }
}

/// An opened year, or why it cannot be used.
#[derive(Clone)]
pub(crate) enum Slot {
    Ready(Arc<YearIndex>),
    Broken(String),
}

/// One tantivy index per receive year under a directory. `Send + Sync`: share it in an
/// `Arc`; adds, commits and searches may run on any threads.
pub struct IndexSet {
    dir: PathBuf,
    read_only: bool,
    /// Readers only: pick up new commits by themselves (a watcher thread per year).
    follow_commits: bool,
    options: IndexOptions,
    pub(crate) schema: IndexSchema,
    years: RwLock<BTreeMap<i32, Slot>>,
    /// Where snippets read a body back from (see [`IndexSet::set_hit_text`]).
    pub(crate) hit_text: OnceLock<Arc<dyn HitText>>,
}

const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<IndexSet>();
};

fn year_dir_name(name: &str) -> Option<i32> {
    (name.len() == 4 && name.bytes().all(|b| b.is_ascii_digit()))
        .then(|| name.parse().ok())
        .flatten()
}

fn check_year(year: i32) -> Result<()> {
    if (1000..=9999).contains(&year) {
        Ok(())
    } else {
        Err(Error::InvalidDocument(format!(
            "year {year} is outside 1000..=9999"
        )))
    }
}

fn unique_suffix() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// How often a purge's merge is tried again after a background merge took some of its
/// segments.
const PURGE_MERGE_ATTEMPTS: u32 = 20;
impl IndexSet {
    /// Opens (creating the directory if needed) the index set for reading and writing.
    /// Damaged years are opened as [`YearStatus::NeedsRebuild`], not as errors.
    pub fn open(dir: &Path) -> Result<IndexSet> {
        IndexSet::open_with(dir, IndexOptions::default())
    }

    /// Installs where snippets read a hit's body back from when the query's words are
    /// not in its stored preview (see `hit_text`). Once: later calls are ignored, and
    /// without one hits show the preview.
    pub fn set_hit_text(&self, source: Arc<dyn HitText>) {
        let _ = self.hit_text.set(source);
    }

    /// [`IndexSet::open`] with explicit options.
    pub fn open_with(dir: &Path, options: IndexOptions) -> Result<IndexSet> {
        fs::create_dir_all(dir).map_err(Error::io(dir))?;
        let set = IndexSet {
            dir: dir.to_path_buf(),
            read_only: false,
            follow_commits: false,
            options,
            schema: IndexSchema::build(),
            years: RwLock::new(BTreeMap::new()),
            hit_text: OnceLock::new(),
        };
        set.remove_leftovers()?;
        set.scan()?;
        Ok(set)
    }

    /// Opens an existing index set for searching only, e.g. `coffer search` while a
    /// server writes to it (readers need no lock). New commits become visible within
    /// about a second; years created, rebuilt or removed after opening are seen after
    /// [`IndexSet::refresh`].
    pub fn open_read_only(dir: &Path) -> Result<IndexSet> {
        IndexSet::open_read_only_with(dir, IndexOptions::default())
    }

    /// [`IndexSet::open_read_only`] with explicit options (only `search_threads`
    /// matters to a reader).
    pub fn open_read_only_with(dir: &Path, options: IndexOptions) -> Result<IndexSet> {
        IndexSet::open_reader(dir, options, true)
    }

    /// Opens the index set as it is now, for one-shot readers such as `coffer search`:
    /// like [`IndexSet::open_read_only`] but without the threads that watch for new
    /// commits (the process is gone before one would be seen; [`IndexSet::refresh`]
    /// still reloads). Starting no threads keeps a command's start-up short.
    pub fn open_snapshot(dir: &Path) -> Result<IndexSet> {
        IndexSet::open_reader(dir, IndexOptions::default(), false)
    }

    fn open_reader(dir: &Path, options: IndexOptions, follow_commits: bool) -> Result<IndexSet> {
        match fs::metadata(dir) {
            Ok(metadata) if metadata.is_dir() => {}
            _ => return Err(Error::NoIndex(dir.to_path_buf())),
        }
        let set = IndexSet {
            dir: dir.to_path_buf(),
            read_only: true,
            follow_commits,
            options,
            schema: IndexSchema::build(),
            years: RwLock::new(BTreeMap::new()),
            hit_text: OnceLock::new(),
        };
        set.scan()?;
        Ok(set)
    }

    /// The status of every year found under `dir`, without opening anything for
    /// writing and without creating or repairing anything.
    pub fn check(dir: &Path) -> Result<BTreeMap<i32, YearStatus>> {
        IndexSet::open_read_only(dir)?.status()
    }

    /// The directory holding the yearly indexes.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub(crate) fn search_threads(&self) -> usize {
        self.options.search_threads.max(1)
    }

    pub(crate) fn max_prefix_terms(&self) -> usize {
        self.options.max_prefix_terms
    }

    pub(crate) fn search_time_limit(&self) -> Option<std::time::Duration> {
        self.options.search_time_limit
    }

    /// Years present (healthy or not), ascending.
    pub fn years(&self) -> Vec<i32> {
        self.read_years().keys().copied().collect()
    }

    /// The status of every year present.
    pub fn status(&self) -> Result<BTreeMap<i32, YearStatus>> {
        Ok(self
            .read_years()
            .iter()
            .map(|(year, slot)| {
                let status = match slot {
                    Slot::Ready(index) => YearStatus::Ready(index.info()),
                    Slot::Broken(reason) => YearStatus::NeedsRebuild {
                        reason: reason.clone(),
                    },
                };
                (*year, status)
            })
            .collect())
    }

    /// The status of one year; `None` when there is no index for it.
    pub fn year_status(&self, year: i32) -> Option<YearStatus> {
        let slot = self.read_years().get(&year).cloned()?;
        Some(match slot {
            Slot::Ready(index) => YearStatus::Ready(index.info()),
            Slot::Broken(reason) => YearStatus::NeedsRebuild { reason },
        })
    }

    /// The volume high-water mark of the last commit of `year` (`None` when the year
    /// has no index, is damaged, or never committed one).
    pub fn high_water(&self, year: i32) -> Option<u64> {
        match self.read_years().get(&year)? {
            Slot::Ready(index) => index.lock_write().committed.high_water,
            Slot::Broken(_) => None,
        }
    }

    /// Adds a message to the index of `doc.id.year` (created on first use). Not
    /// searchable until [`IndexSet::commit`]. Adding a message whose sequence is at or
    /// below one already committed or added replaces it (idempotent replay).
    pub fn add(&self, doc: &MessageDoc) -> Result<()> {
        self.write_doc(doc, false)
    }

    /// Replaces a message (delete by id, then add), e.g. when it gains mailboxes.
    pub fn replace(&self, doc: &MessageDoc) -> Result<()> {
        self.write_doc(doc, true)
    }

    fn write_doc(&self, doc: &MessageDoc, replace: bool) -> Result<()> {
        let year = doc.id.year;
        let index = self.writable_year(year)?;
        let document = self.schema.document(doc);
        let date = doc.date.unwrap_or(doc.received);
        let mut slot = index.lock_write();
        self.ensure_writer(&index, &mut slot)?;
        let seen = slot.max_seq.is_some_and(|max| doc.id.seq <= max);
        let writer = slot.writer.as_ref().ok_or_else(writer_missing)?;
        if replace || seen {
            writer.delete_term(Term::from_field_u64(self.schema.fields.seq, doc.id.seq));
        }
        writer.add_document(document).map_err(Error::engine(year))?;
        slot.pending += 1;
        slot.max_seq = Some(slot.max_seq.map_or(doc.id.seq, |max| max.max(doc.id.seq)));
        slot.next.widen(date);
        Ok(())
    }

    /// Commits everything added to `year` since its last commit, recording
    /// `high_water` (the last volume sequence applied) in the commit payload, and makes
    /// it searchable. A failed commit discards the uncommitted documents: replay from
    /// [`IndexSet::high_water`]` + 1`.
    pub fn commit(&self, year: i32, high_water: u64) -> Result<()> {
        let started = Instant::now();
        let index = self.writable_year(year)?;
        let mut slot = index.lock_write();
        if let Some(committed) = slot.committed.high_water
            && high_water < committed
        {
            return Err(Error::InvalidRequest(format!(
                "high-water mark {high_water} for {year} is below the committed {committed}"
            )));
        }
        let mut payload = slot.next;
        payload.high_water = Some(high_water);
        let payload_json = serde_json::to_string(&payload)
            .map_err(|e| Error::InvalidRequest(format!("cannot encode payload: {e}")))?;
        self.ensure_writer(&index, &mut slot)?;
        let writer = slot.writer.as_mut().ok_or_else(writer_missing)?;
        let result = writer.prepare_commit().and_then(|mut prepared| {
            prepared.set_payload(&payload_json);
            prepared.commit()
        });
        if let Err(error) = result {
            // The writer is unusable after a failed commit: drop it (rolling back) and
            // let the caller replay from the committed high-water mark.
            slot.writer = None;
            slot.pending = 0;
            slot.next = slot.committed;
            slot.max_seq = slot.committed.high_water;
            warn!(year, "index commit failed; uncommitted documents discarded");
            return Err(Error::engine(year)(error));
        }
        let pending = slot.pending;
        slot.pending = 0;
        slot.committed = payload;
        slot.next = payload;
        drop(slot);
        index.reader.reload().map_err(Error::engine(year))?;
        debug!(
            year,
            docs = pending,
            high_water,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "index commit"
        );
        Ok(())
    }

    /// Removes messages `seqs` of `year` for good (disposition): deletes their
    /// documents, commits (keeping the committed high-water mark), then merges every
    /// segment that held one of them and collects the old segment files, so that no file
    /// of the index keeps their text. Idempotent; a year without an index is left alone.
    pub fn purge(&self, year: i32, seqs: &[u64]) -> Result<()> {
        if seqs.is_empty() || !self.years().contains(&year) {
            return Ok(());
        }
        let index = self.writable_year(year)?;
        {
            let mut slot = index.lock_write();
            self.ensure_writer(&index, &mut slot)?;
            let writer = slot.writer.as_ref().ok_or_else(writer_missing)?;
            for seq in seqs {
                writer.delete_term(Term::from_field_u64(self.schema.fields.seq, *seq));
            }
        }
        let high_water = index.lock_write().committed.high_water.unwrap_or(0);
        self.commit(year, high_water)?;
        // A background merge (after a commit of newly applied mail) may take some of
        // those segments first: the merge asked for then fails; the segments are read
        // again (the background merge dropped the deleted documents of what it took)
        // and the rest merged.
        let mut attempts = 0;
        let mut slot = loop {
            let mut slot = index.lock_write();
            self.ensure_writer(&index, &mut slot)?;
            index.reader.reload().map_err(Error::engine(year))?;
            let with_deletes: Vec<tantivy::index::SegmentId> = index
                .reader
                .searcher()
                .segment_readers()
                .iter()
                .filter(|r| r.num_deleted_docs() > 0)
                .map(|r| r.segment_id())
                .collect();
            if with_deletes.is_empty() {
                break slot;
            }
            let writer = slot.writer.as_mut().ok_or_else(writer_missing)?;
            match writer.merge(&with_deletes).wait() {
                Ok(_) => break slot,
                Err(e) if attempts < PURGE_MERGE_ATTEMPTS => {
                    attempts += 1;
                    debug!(year, attempts, error = %e, "purge merge raced a background merge; again");
                    drop(slot);
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                Err(e) => return Err(Error::engine(year)(e)),
            }
        };
        let writer = slot.writer.as_mut().ok_or_else(writer_missing)?;
        writer
            .garbage_collect_files()
            .wait()
            .map_err(Error::engine(year))?;
        drop(slot);
        index.reader.reload().map_err(Error::engine(year))?;
        Ok(())
    }

    /// Documents added to `year` and not yet committed.
    pub fn pending(&self, year: i32) -> u64 {
        match self.read_years().get(&year) {
            Some(Slot::Ready(index)) => index.lock_write().pending,
            _ => 0,
        }
    }

    /// Closes the writer of `year` after waiting for its background merges, releasing
    /// its memory and lock (e.g. at the end of a rebuild). Fails if documents are
    /// uncommitted.
    pub fn close_writer(&self, year: i32) -> Result<()> {
        let Some(Slot::Ready(index)) = self.read_years().get(&year).cloned() else {
            return Ok(());
        };
        let mut slot = index.lock_write();
        if slot.pending > 0 {
            return Err(Error::Uncommitted {
                year,
                pending: slot.pending,
            });
        }
        if let Some(writer) = slot.writer.take() {
            writer.wait_merging_threads().map_err(Error::engine(year))?;
            index.reader.reload().map_err(Error::engine(year))?;
        }
        Ok(())
    }

    /// Deletes the index of `year` (whatever its state) and creates an empty one, for
    /// `coffer reindex --year`. Uncommitted documents of that year are discarded.
    pub fn clear_year(&self, year: i32) -> Result<()> {
        self.require_writable()?;
        check_year(year)?;
        let mut years = self.write_years();
        self.discard_year(&mut years, year)?;
        let index = self.create_year(year)?;
        years.insert(year, Slot::Ready(Arc::new(index)));
        info!(year, "index year cleared");
        Ok(())
    }

    /// Deletes the index of `year` entirely (after the year's volume is disposed of).
    pub fn remove_year(&self, year: i32) -> Result<()> {
        self.require_writable()?;
        let mut years = self.write_years();
        self.discard_year(&mut years, year)?;
        info!(year, "index year removed");
        Ok(())
    }

    /// Reads and checksums every file of `year` (slow: reads the whole index). Marks
    /// the year as needing a rebuild and returns the reason when something is wrong.
    pub fn verify_year(&self, year: i32) -> Result<YearStatus> {
        let Some(slot) = self.read_years().get(&year).cloned() else {
            return Ok(YearStatus::NeedsRebuild {
                reason: "no index for this year".into(),
            });
        };
        let index = match slot {
            Slot::Ready(index) => index,
            Slot::Broken(reason) => return Ok(YearStatus::NeedsRebuild { reason }),
        };
        let reason = match index.index.validate_checksum() {
            Ok(damaged) if damaged.is_empty() => return Ok(YearStatus::Ready(index.info())),
            Ok(damaged) => {
                let mut files: Vec<String> =
                    damaged.iter().map(|p| p.display().to_string()).collect();
                files.sort();
                format!("checksum mismatch in {}", files.join(", "))
            }
            Err(error) => format!("cannot verify: {error}"),
        };
        warn!(year, "index year failed verification");
        self.write_years()
            .insert(year, Slot::Broken(reason.clone()));
        Ok(YearStatus::NeedsRebuild { reason })
    }

    /// Reloads every reader now. On a read-only set, also reopens every year from disk,
    /// picking up years another process created, cleared (rebuilt) or removed.
    pub fn refresh(&self) -> Result<()> {
        if self.read_only {
            // Opened aside and swapped in, so concurrent searches never see a gap.
            let fresh = self.open_years(&BTreeMap::new())?;
            *self.write_years() = fresh;
        } else {
            self.scan()?;
        }
        for slot in self.read_years().values() {
            if let Slot::Ready(index) = slot {
                index.reader.reload().map_err(Error::engine(index.year))?;
            }
        }
        Ok(())
    }

    /// Every year's slot, for searching.
    pub(crate) fn slots(&self) -> Vec<(i32, Slot)> {
        self.read_years()
            .iter()
            .map(|(year, slot)| (*year, slot.clone()))
            .collect()
    }

    fn read_years(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<i32, Slot>> {
        self.years.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write_years(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<i32, Slot>> {
        self.years.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn require_writable(&self) -> Result<()> {
        if self.read_only {
            Err(Error::ReadOnly(self.dir.clone()))
        } else {
            Ok(())
        }
    }

    /// The open, healthy index of `year`, created when absent.
    fn writable_year(&self, year: i32) -> Result<Arc<YearIndex>> {
        self.require_writable()?;
        check_year(year)?;
        if let Some(slot) = self.read_years().get(&year) {
            return match slot {
                Slot::Ready(index) => Ok(index.clone()),
                Slot::Broken(reason) => Err(Error::NeedsRebuild {
                    year,
                    reason: reason.clone(),
                }),
            };
        }
        let mut years = self.write_years();
        // Another thread may have created it meanwhile.
        if let Some(slot) = years.get(&year) {
            return match slot {
                Slot::Ready(index) => Ok(index.clone()),
                Slot::Broken(reason) => Err(Error::NeedsRebuild {
                    year,
                    reason: reason.clone(),
                }),
            };
        }
        let index = Arc::new(self.create_year(year)?);
        years.insert(year, Slot::Ready(index.clone()));
        info!(year, "index year created");
        Ok(index)
    }

    /// Opens the year's writer if it is not open yet (taking its lock).
    fn ensure_writer(&self, index: &YearIndex, slot: &mut WriteSlot) -> Result<()> {
        if slot.writer.is_none() {
            let writer = index
                .index
                .writer_with_num_threads(
                    self.options.writer_threads,
                    self.options.writer_memory_bytes,
                )
                .map_err(Error::engine(index.year))?;
            slot.writer = Some(writer);
        }
        Ok(())
    }

    fn year_path(&self, year: i32) -> PathBuf {
        self.dir.join(format!("{year:04}"))
    }

    /// Scans the directory and opens every year not opened yet.
    fn scan(&self) -> Result<()> {
        let known = self.read_years().clone();
        let opened = self.open_years(&known)?;
        let mut years = self.write_years();
        for (year, slot) in opened {
            years.entry(year).or_insert(slot);
        }
        Ok(())
    }

    /// Opens every year directory under `dir` that is not in `known`.
    fn open_years(&self, known: &BTreeMap<i32, Slot>) -> Result<BTreeMap<i32, Slot>> {
        let entries = fs::read_dir(&self.dir).map_err(Error::io(&self.dir))?;
        let mut found = Vec::new();
        for entry in entries {
            let entry = entry.map_err(Error::io(&self.dir))?;
            if let Some(year) = entry.file_name().to_str().and_then(year_dir_name) {
                found.push(year);
            }
        }
        let mut opened = BTreeMap::new();
        for year in found {
            if known.contains_key(&year) {
                continue;
            }
            let slot = match self.open_year(year) {
                Ok(index) => Slot::Ready(Arc::new(index)),
                Err(reason) => {
                    warn!(year, "index year needs a rebuild");
                    Slot::Broken(reason)
                }
            };
            opened.insert(year, slot);
        }
        Ok(opened)
    }

    /// Opens one year, checking everything that can be checked cheaply. The error is
    /// the reason it needs a rebuild.
    fn open_year(&self, year: i32) -> std::result::Result<YearIndex, String> {
        let path = self.year_path(year);
        let directory =
            MmapDirectory::open(&path).map_err(|e| format!("cannot open directory: {e}"))?;
        match Index::exists(&directory) {
            Ok(true) => {}
            Ok(false) => return Err("meta.json missing".into()),
            Err(e) => return Err(format!("meta.json unreadable: {e}")),
        }
        let index =
            Index::open(directory).map_err(|e| format!("index metadata unreadable: {e}"))?;
        analysis::register(index.tokenizers());
        if index.schema() != self.schema.schema {
            return Err("schema differs from this version's (written by another version)".into());
        }
        let metas = index
            .load_metas()
            .map_err(|e| format!("meta.json unreadable: {e}"))?;
        let committed = Payload::parse(metas.payload.as_deref())?;
        let policy = if self.follow_commits {
            ReloadPolicy::OnCommitWithDelay
        } else {
            ReloadPolicy::Manual
        };
        let reader = index
            .reader_builder()
            .reload_policy(policy)
            .try_into()
            .map_err(|e| format!("cannot open segments: {e}"))?;
        let searcher: Searcher = reader.searcher();
        let mut max_seq = committed.high_water;
        for segment in searcher.segment_readers() {
            let column = segment
                .fast_fields()
                .u64(names::SEQ)
                .map_err(|e| format!("cannot read sequence column: {e}"))?;
            if segment.max_doc() > 0 {
                let segment_max = column.max_value();
                max_seq = Some(max_seq.map_or(segment_max, |m| m.max(segment_max)));
            }
        }
        Ok(YearIndex {
            year,
            index,
            reader,
            write: Mutex::new(WriteSlot {
                writer: None,
                pending: 0,
                max_seq,
                next: committed,
                committed,
            }),
            indexed_fields: Mutex::new(None),
        })
    }

    /// Creates an empty year with an initial commit, atomically (temp dir + rename).
    fn create_year(&self, year: i32) -> Result<YearIndex> {
        let temp = self.dir.join(format!(".tmp-{year:04}-{}", unique_suffix()));
        fs::create_dir_all(&temp).map_err(Error::io(&temp))?;
        {
            let index = Index::builder()
                .schema(self.schema.schema.clone())
                .settings(IndexSettings {
                    docstore_blocksize: DOCSTORE_BLOCK_BYTES,
                    docstore_compression: DOCSTORE_COMPRESSION,
                    ..IndexSettings::default()
                })
                .create_in_dir(&temp)
                .map_err(Error::engine(year))?;
            analysis::register(index.tokenizers());
            let mut writer: IndexWriter = index
                .writer_with_num_threads(1, 15_000_000)
                .map_err(Error::engine(year))?;
            let payload = Payload {
                format: PAYLOAD_FORMAT,
                ..Payload::default()
            };
            let json = serde_json::to_string(&payload)
                .map_err(|e| Error::InvalidRequest(format!("cannot encode payload: {e}")))?;
            let mut prepared = writer.prepare_commit().map_err(Error::engine(year))?;
            prepared.set_payload(&json);
            prepared.commit().map_err(Error::engine(year))?;
            writer.wait_merging_threads().map_err(Error::engine(year))?;
        }
        let path = self.year_path(year);
        fs::rename(&temp, &path).map_err(Error::io(&path))?;
        sync_dir(&self.dir)?;
        self.open_year(year)
            .map_err(|reason| Error::NeedsRebuild { year, reason })
    }

    /// Removes a year's slot and directory (moved aside first, so a crash leaves no
    /// half-deleted year behind).
    fn discard_year(&self, years: &mut BTreeMap<i32, Slot>, year: i32) -> Result<()> {
        if let Some(Slot::Ready(index)) = years.remove(&year) {
            // Stop the writer (joining its threads and releasing its lock) first.
            index.lock_write().writer = None;
        }
        let path = self.year_path(year);
        if fs::symlink_metadata(&path).is_err() {
            return Ok(());
        }
        let trash = self
            .dir
            .join(format!(".trash-{year:04}-{}", unique_suffix()));
        fs::rename(&path, &trash).map_err(Error::io(&path))?;
        sync_dir(&self.dir)?;
        if let Err(error) = fs::remove_dir_all(&trash) {
            warn!(year, %error, "could not remove the old index directory; it will be removed on the next open");
        }
        Ok(())
    }

    fn remove_leftovers(&self) -> Result<()> {
        for entry in fs::read_dir(&self.dir).map_err(Error::io(&self.dir))? {
            let entry = entry.map_err(Error::io(&self.dir))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if (name.starts_with(".tmp-") || name.starts_with(".trash-"))
                && let Err(error) = fs::remove_dir_all(entry.path())
            {
                warn!(%error, "could not remove a leftover index directory");
            }
        }
        Ok(())
    }
}

fn writer_missing() -> Error {
    Error::InvalidRequest("index writer unavailable".into())
}

fn sync_dir(dir: &Path) -> Result<()> {
    fs::File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(Error::io(dir))
}
