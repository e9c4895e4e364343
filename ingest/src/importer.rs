//! `coffer import`: the parallel import pipeline and its summary.
//!
//! Three stages connected by bounded channels, so memory stays bounded whatever the
//! input size (a multi-gigabyte mbox is streamed):
//!
//! 1. **read** (one thread): walks the paths ([`crate::import::walk`]) and cuts the
//!    messages into batches of at most [`BATCH_BYTES`] / [`BATCH_MESSAGES`];
//! 2. **analyse** (one thread driving the rayon pool): parses every message of a batch
//!    in parallel, asks the catalog which are already archived, and compresses only the
//!    new ones, in parallel;
//! 3. **commit** (the calling thread): [`Writer::commit`] — dedup, append, one fsync
//!    per batch — then tallies the outcomes. The writer is async: this thread enters the
//!    runtime once per batch (`Handle::block_on`), never per message.
//!
//! [`Writer::commit`]: crate::writer::Writer::commit
//!
//! While one batch is being committed (disk-bound), the next is parsed and compressed
//! (CPU-bound), so both cores stay busy.

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rayon::prelude::*;
use serde::Serialize;

use crate::analyze::{Analyzed, Incoming};
use crate::archive::Archive;
use crate::import::{ImportItem, Rejected, Skipped, WalkOptions, walk};
use crate::parse::MailboxPolicy;
use crate::writer::Outcome;

/// Largest batch, in raw bytes.
pub const BATCH_BYTES: usize = 16 * 1024 * 1024;
/// Largest batch, in messages.
pub const BATCH_MESSAGES: usize = 512;

/// Options of one import run.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// How messages are assigned to mailboxes.
    pub policy: MailboxPolicy,
    /// How paths are walked and mbox files split.
    pub walk: WalkOptions,
}

/// A rejected input, for the summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RejectedInput {
    /// Where it came from (path, and position inside an mbox).
    pub path: String,
    /// Why it was not archived.
    pub reason: String,
}

/// A path the import did not read, by rule, for the summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkippedInput {
    /// The file or directory.
    pub path: String,
    /// Why it was not read ([`crate::import::SkipReason`]).
    pub reason: String,
}

impl From<Skipped> for SkippedInput {
    fn from(skipped: Skipped) -> Self {
        Self {
            path: skipped.path.display().to_string(),
            reason: skipped.reason.to_string(),
        }
    }
}

/// The summary of an import (`--json` prints it as one object). Every path the import
/// met is in it: messages counted as archived, duplicates or failed, inputs rejected
/// with their reason, paths skipped with their reason (a mail store's bookkeeping files
/// excepted, see [`crate::import::maildir`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ImportSummary {
    /// Files read.
    pub files: u64,
    /// Messages read.
    pub messages: u64,
    /// Messages stored as new.
    pub archived: u64,
    /// Messages already archived (including those that only gained mailboxes).
    pub duplicates: u64,
    /// Of the duplicates, those that added mailboxes through a link record.
    pub linked: u64,
    /// Archived messages flagged: a problem reading them was recorded (malformed MIME, a
    /// malformed journal report, attachment text not extracted, an unreliable date, an
    /// encoding problem: [`coffer_model::MessageFlags::PROBLEMS`]); each is archived all the same.
    pub flagged: u64,
    /// Inputs rejected, each with its reason.
    pub rejected: Vec<RejectedInput>,
    /// Paths not read by rule (hidden, in a Maildir's `tmp/`, a folder reached twice),
    /// each with its reason. They do not change the exit status.
    pub skipped: Vec<SkippedInput>,
    /// Messages whose archiving failed (the error; nothing acknowledged for them).
    pub failed: Vec<RejectedInput>,
    /// Bytes of all messages read.
    pub raw_bytes: u64,
    /// Bytes written to volumes for new messages.
    pub stored_bytes: u64,
    /// Wall-clock seconds.
    pub seconds: f64,
}

impl ImportSummary {
    /// Counts one message read (`raw_bytes` long) and what became of it: the one tally
    /// of local imports and imports through a server alike.
    pub fn count(&mut self, name: String, raw_bytes: u64, outcome: Result<Outcome, String>) {
        self.messages += 1;
        self.raw_bytes += raw_bytes;
        match outcome {
            Ok(Outcome::Archived {
                stored_bytes,
                flags,
                ..
            }) => {
                self.archived += 1;
                self.stored_bytes += stored_bytes;
                if flags.has_problem() {
                    self.flagged += 1;
                }
            }
            Ok(Outcome::Linked { .. }) => {
                self.duplicates += 1;
                self.linked += 1;
            }
            Ok(Outcome::Duplicate { .. }) => self.duplicates += 1,
            // Rules apply to journaled mail only; an import never gets here.
            Ok(Outcome::Excluded { .. }) => self.failed.push(RejectedInput {
                path: name,
                reason: "excluded by archiving rules".into(),
            }),
            Err(reason) => self.failed.push(RejectedInput { path: name, reason }),
        }
    }

    /// 0 when everything was archived or a duplicate, 1 when some input was rejected,
    /// 2 when archiving failed for some message.
    pub fn exit_code(&self) -> i32 {
        if !self.failed.is_empty() {
            2
        } else if !self.rejected.is_empty() {
            1
        } else {
            0
        }
    }
}

/// Progress so far, reported after every committed batch.
#[derive(Debug, Clone, Copy, Default)]
pub struct Progress {
    /// Messages read.
    pub messages: u64,
    /// Raw bytes read.
    pub raw_bytes: u64,
    /// Messages durably archived as new so far.
    pub archived: u64,
    /// Messages found already archived so far.
    pub duplicates: u64,
}

struct Batch {
    items: Vec<ImportItem>,
}

struct Processed {
    analyzed: Vec<(String, Analyzed)>,
}

/// Runs an import into `archive`. Blocking: call from `spawn_blocking` (the writer's
/// async calls run on the runtime of the calling context). `progress` is called after
/// each batch is durable.
pub fn run_import(
    archive: &Archive,
    paths: &[PathBuf],
    options: &ImportOptions,
    progress: &mut dyn FnMut(Progress),
) -> ImportSummary {
    let started = Instant::now();
    let runtime = tokio::runtime::Handle::current();
    let rejected: Arc<Mutex<Vec<RejectedInput>>> = Arc::new(Mutex::new(Vec::new()));
    let walked = Arc::new(Mutex::new(Walked::default()));
    let (batch_tx, batch_rx) = sync_channel::<Batch>(1);
    let (done_tx, done_rx) = sync_channel::<Processed>(1);
    let mut summary = ImportSummary::default();

    std::thread::scope(|scope| {
        let reader_rejected = Arc::clone(&rejected);
        let reader_walked = Arc::clone(&walked);
        let paths = paths.to_vec();
        let walk_options = options.walk;
        scope.spawn(move || {
            read_stage(
                paths,
                walk_options,
                batch_tx,
                &reader_rejected,
                &reader_walked,
            )
        });
        let policy = options.policy.clone();
        let handle = runtime.clone();
        scope.spawn(move || analyse_stage(archive, &handle, &policy, batch_rx, done_tx));
        let mut seen = Progress::default();
        for processed in done_rx {
            let mut names = Vec::with_capacity(processed.analyzed.len());
            let mut sizes = Vec::with_capacity(processed.analyzed.len());
            let mut batch = Vec::with_capacity(processed.analyzed.len());
            for (name, analyzed) in processed.analyzed {
                seen.messages += 1;
                seen.raw_bytes += analyzed.raw_len();
                names.push(name);
                sizes.push(analyzed.raw_len());
                batch.push(analyzed);
            }
            let outcomes = runtime.block_on(archive.writer().commit(batch));
            for ((outcome, name), size) in outcomes.into_iter().zip(names).zip(sizes) {
                summary.count(name, size, outcome.map_err(|e| e.to_string()));
            }
            seen.archived = summary.archived;
            seen.duplicates = summary.duplicates;
            progress(seen);
        }
    });
    summary.rejected = std::mem::take(&mut *rejected.lock().unwrap_or_else(|p| p.into_inner()));
    let walked = std::mem::take(&mut *walked.lock().unwrap_or_else(|p| p.into_inner()));
    summary.files = walked.files;
    summary.skipped = walked.skipped.into_iter().map(SkippedInput::from).collect();
    summary.seconds = started.elapsed().as_secs_f64();
    summary
}

/// What the read stage learnt besides messages and rejections, once the walk is over.
#[derive(Debug, Default)]
struct Walked {
    files: u64,
    skipped: Vec<Skipped>,
}

fn read_stage(
    paths: Vec<PathBuf>,
    options: WalkOptions,
    tx: SyncSender<Batch>,
    rejected: &Mutex<Vec<RejectedInput>>,
    walked: &Mutex<Walked>,
) {
    let mut walker = walk(paths, options);
    let mut items = Vec::new();
    let mut bytes = 0usize;
    for next in walker.by_ref() {
        match next {
            Ok(item) => {
                bytes += item.raw.len();
                items.push(item);
                if bytes >= BATCH_BYTES || items.len() >= BATCH_MESSAGES {
                    if tx
                        .send(Batch {
                            items: std::mem::take(&mut items),
                        })
                        .is_err()
                    {
                        return;
                    }
                    bytes = 0;
                }
            }
            Err(Rejected { source, reason }) => {
                let entry = RejectedInput {
                    path: source.to_string(),
                    reason: reason.to_string(),
                };
                rejected
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(entry);
            }
        }
    }
    *walked.lock().unwrap_or_else(|p| p.into_inner()) = Walked {
        files: walker.stats().files,
        skipped: walker.take_skipped(),
    };
    if !items.is_empty() {
        let _ = tx.send(Batch { items });
    }
}

fn analyse_stage(
    archive: &Archive,
    runtime: &tokio::runtime::Handle,
    policy: &MailboxPolicy,
    rx: Receiver<Batch>,
    tx: SyncSender<Processed>,
) {
    for batch in rx {
        let mut analyzed: Vec<(String, Analyzed)> = batch
            .items
            .into_par_iter()
            .map(|item| {
                let name = item.source.to_string();
                let incoming = Incoming {
                    raw: item.raw,
                    source: "import".into(),
                    envelope: None,
                    origin: Some(name.clone()),
                    policy: policy.clone(),
                    journaled: false,
                };
                (name, archive.analyze(incoming))
            })
            .collect();
        let digests: Vec<_> = analyzed.iter().map(|(_, a)| a.sha256()).collect();
        let known = runtime
            .block_on(archive.writer().known(&digests))
            .unwrap_or_default();
        // Compress only what is new; a failure here is reported by the commit stage,
        // which retries the compression and records the error for that message.
        analyzed
            .par_iter_mut()
            .filter(|(_, a)| !known.contains(&a.sha256()))
            .for_each(|(_, a)| {
                let _ = archive.writer().analyzer().prepare(a);
            });
        if tx.send(Processed { analyzed }).is_err() {
            return;
        }
    }
}
