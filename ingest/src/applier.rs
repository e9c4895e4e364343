//! Stage 4: the applier, one async task that keeps the catalog and the index in step
//! with the volumes as records are written.
//!
//! The [`writer`](crate::writer) offers each durable record's derived change (keyed by
//! year and sequence). The applier applies them **in sequence order per volume**, so each
//! view's high-water mark (last applied sequence) only ever covers a gap-free prefix of
//! the volume; records without derived rows (checkpoints) just move the mark. A crash
//! loses nothing: what a view had not applied is replayed from the volume at the next
//! start ([`replay`](crate::replay)).
//!
//! # Why an async task
//! The catalog is sqlx (async); the index and the volumes are blocking. The applier
//! awaits the catalog natively and sends its blocking work (reading records, adding
//! documents, committing) to the blocking pool in batches — one hop per batch, never a
//! runtime bridge per message.
//!
//! # Batching and backpressure
//! Bulk commands let the applier gather records for up to
//! [`AppliedViews::apply_gather`] into one catalog transaction (see [`APPLY_BATCH`]);
//! the server applies whatever is queued at once, so a message is visible moments after
//! its acknowledgement. Writers wait when more than [`MAX_APPLY_BACKLOG`] records are
//! queued (documents hold their text in memory). The index commits every
//! `index_commit_docs` documents or `index_commit_interval`, and on [`Applier::flush`].

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use coffer_catalog::{Applied, ApplyBatch};
use coffer_model::{MessageId, Sha256};
use tokio::sync::{Notify, watch};

use crate::dedup::Pending;
use crate::error::{IngestError, Result};
use crate::views::{Derived, DerivedViews, MAIL};

/// Most records written but not yet applied to the catalog and index before writers
/// wait for the applier.
pub(crate) const MAX_APPLY_BACKLOG: usize = 4_096;

/// Records the applier gathers into one catalog transaction while writers keep adding
/// more, when [`AppliedViews::apply_gather`] allows (bulk commands); below
/// [`MAX_APPLY_BACKLOG`] by more than one import batch, so writers never wait for a
/// batch that is still gathering.
///
/// Why gather: the catalog's `sha256` and `identity` indexes have random keys (digests),
/// and message ids sort as text (`2026-10` before `2026-9`), so each transaction dirties
/// pages all over those B-trees, and SQLite writes every dirtied page to its WAL at
/// commit and copies it back at the next checkpoint. Applying whatever was queued made a
/// 50,000-message import commit 109 transactions of ~460 messages, each rewriting most
/// of those index pages (commits and checkpoints: 3.4% of the import's CPU, perf); with
/// gathering it commits 16.
pub(crate) const APPLY_BATCH: usize = 3_072;
const _: () = assert!(APPLY_BATCH + crate::importer::BATCH_MESSAGES <= MAX_APPLY_BACKLOG);

/// How long the applier waits for writers to add records to a batch still smaller than
/// [`APPLY_BATCH`]: it stops as soon as a wait brings nothing new (writers are idle or
/// slow), when someone waits in [`Applier::flush`], and after
/// [`AppliedViews::apply_gather`] in all. Longer than the time a bulk import takes to
/// write one batch (about 150 ms).
const APPLY_GATHER_STEP: Duration = Duration::from_millis(250);

/// How often waiters re-check the queue even without a wake-up (a safety net; every
/// change also wakes them).
const RECHECK: Duration = Duration::from_millis(200);

/// How the applier keeps the index.
#[derive(Debug, Clone)]
pub struct AppliedViews {
    /// Commit the index when this many documents are waiting...
    pub index_commit_docs: u64,
    /// ... or when the oldest waiting document is this old.
    pub index_commit_interval: Duration,
    /// Longest the applier gathers records into one catalog transaction while writers
    /// keep adding more (see [`APPLY_BATCH`]). Zero (the server's) applies whatever is
    /// queued at once; bulk commands gather for up to a second.
    pub apply_gather: Duration,
}

impl Default for AppliedViews {
    fn default() -> Self {
        Self {
            index_commit_docs: 20_000,
            index_commit_interval: Duration::from_secs(1),
            apply_gather: Duration::ZERO,
        }
    }
}

/// A durable record's derived change, offered by the writer.
pub(crate) type Offer = Derived;

#[derive(Default)]
struct Queue {
    offers: BTreeMap<(i32, u64), Offer>,
    shutdown: bool,
    failed: Option<Arc<IngestError>>,
    /// Last applied sequence per year (both views).
    applied: BTreeMap<i32, u64>,
    /// Callers of [`Applier::flush`] waiting (the applier then applies at once).
    flushing: usize,
}

struct Shared {
    queue: Mutex<Queue>,
    /// Wakes the applier: new offers, a flush, shutdown.
    wake: Notify,
    /// Bumped whenever something was applied or the applier failed or stopped.
    progress: watch::Sender<u64>,
    views: DerivedViews,
    pending: Arc<tokio::sync::Mutex<Pending>>,
    settings: AppliedViews,
}

fn lock(m: &Mutex<Queue>) -> MutexGuard<'_, Queue> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    fn bump(&self) {
        self.progress.send_modify(|n| *n = n.wrapping_add(1));
    }

    fn fail(&self, error: IngestError) {
        lock(&self.queue).failed = Some(Arc::new(error));
        self.bump();
    }
}

/// Handle to the applier task.
pub(crate) struct Applier {
    shared: Arc<Shared>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// Records of one year ready to apply: the year, the last sequence they reach, and the
/// offered changes among them.
type YearWork = (i32, u64, Vec<(u64, Offer)>);

impl Applier {
    /// Starts the applier on the current runtime. `applied` holds, per year, the last
    /// sequence both views already have (what replay reached).
    pub(crate) fn start(
        views: DerivedViews,
        pending: Arc<tokio::sync::Mutex<Pending>>,
        settings: AppliedViews,
        applied: BTreeMap<i32, u64>,
    ) -> Self {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue {
                applied,
                ..Queue::default()
            }),
            wake: Notify::new(),
            progress: watch::channel(0).0,
            views,
            pending,
            settings,
        });
        let task = tokio::spawn(run(Arc::clone(&shared)));
        Self {
            shared,
            task: Mutex::new(Some(task)),
        }
    }

    /// Hands durable records' changes to the applier, then waits while the backlog is
    /// over [`MAX_APPLY_BACKLOG`] (what was written is durable already; this only delays
    /// the writer's next batch).
    pub(crate) async fn offer(&self, offers: Vec<((i32, u64), Offer)>) {
        if offers.is_empty() {
            return;
        }
        {
            let mut q = lock(&self.shared.queue);
            q.offers.extend(offers);
        }
        self.shared.wake.notify_one();
        let mut progress = self.shared.progress.subscribe();
        loop {
            {
                let q = lock(&self.shared.queue);
                if q.offers.len() <= MAX_APPLY_BACKLOG || q.failed.is_some() || q.shutdown {
                    return;
                }
            }
            let _ = tokio::time::timeout(RECHECK, progress.changed()).await;
        }
    }

    /// Waits until every record up to `targets` (year → last sequence) is applied to the
    /// catalog and the index, then commits the index of those years (unless deferred).
    pub(crate) async fn flush(&self, targets: &[(i32, u64)]) -> Result<()> {
        lock(&self.shared.queue).flushing += 1;
        let waited = self.wait_applied(targets).await;
        lock(&self.shared.queue).flushing -= 1;
        waited?;
        let views = &self.shared.views;
        if views.index_deferred() {
            return Ok(());
        }
        for &(year, _) in targets {
            let applied = lock(&self.shared.queue)
                .applied
                .get(&year)
                .copied()
                .unwrap_or(0);
            if views.index.high_water(year).unwrap_or(0) < applied {
                views.commit_index(year, applied).await?;
            }
        }
        Ok(())
    }

    /// Waits until every record up to `targets` (year → last sequence) is applied to the
    /// catalog (and handed to the index), whatever arrives meanwhile: unlike
    /// [`Applier::flush`] it neither waits for an empty queue nor commits the index, so
    /// steady ingest cannot hold it up.
    pub(crate) async fn applied_through(&self, targets: &[(i32, u64)]) -> Result<()> {
        let mut progress = self.shared.progress.subscribe();
        loop {
            {
                let q = lock(&self.shared.queue);
                if let Some(failed) = &q.failed {
                    return Err(IngestError::ApplierStopped(Arc::clone(failed)));
                }
                if targets
                    .iter()
                    .all(|(y, s)| q.applied.get(y).copied().unwrap_or(0) >= *s)
                {
                    return Ok(());
                }
            }
            self.shared.wake.notify_one();
            let _ = tokio::time::timeout(RECHECK, progress.changed()).await;
        }
    }

    async fn wait_applied(&self, targets: &[(i32, u64)]) -> Result<()> {
        let mut progress = self.shared.progress.subscribe();
        loop {
            {
                let q = lock(&self.shared.queue);
                if let Some(failed) = &q.failed {
                    return Err(IngestError::ApplierStopped(Arc::clone(failed)));
                }
                let done = targets
                    .iter()
                    .all(|(y, s)| q.applied.get(y).copied().unwrap_or(0) >= *s);
                if done && q.offers.is_empty() {
                    return Ok(());
                }
            }
            self.shared.wake.notify_one();
            let _ = tokio::time::timeout(RECHECK, progress.changed()).await;
        }
    }

    /// Stops the task once everything offered is applied, committing the index.
    pub(crate) async fn stop(&self) {
        lock(&self.shared.queue).shutdown = true;
        self.shared.wake.notify_one();
        let task = self.task.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

impl Drop for Applier {
    fn drop(&mut self) {
        // A dropped archive without `shutdown` (a failed start-up, a test): the task
        // must not outlive it. What it had not applied is replayed at the next start.
        if let Some(task) = self
            .task
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            task.abort();
        }
    }
}

async fn run(shared: Arc<Shared>) {
    let mut uncommitted: BTreeMap<i32, (u64, Instant)> = BTreeMap::new();
    loop {
        let (empty, shutdown) = {
            let q = lock(&shared.queue);
            (q.offers.is_empty(), q.shutdown)
        };
        if shutdown && empty {
            break;
        }
        if empty {
            let timeout = if uncommitted.is_empty() {
                Duration::from_secs(1)
            } else {
                Duration::from_millis(100)
            };
            let _ = tokio::time::timeout(timeout, shared.wake.notified()).await;
        }
        gather(&shared).await;
        let collecting = Arc::clone(&shared);
        let work = match tokio::task::spawn_blocking(move || collect_work(&collecting)).await {
            Ok(work) => work,
            Err(e) => {
                tracing::error!(error = %e, "the applier failed; records will be replayed at the next start");
                shared.fail(e.into());
                return;
            }
        };
        for (year, last, items) in work {
            if let Err(e) = apply(&shared, year, last, items, &mut uncommitted).await {
                tracing::error!(year, error = %e, "applying records to the catalog and index failed; they will be replayed at the next start");
                shared.fail(e);
                return;
            }
            lock(&shared.queue).applied.insert(year, last);
            shared.bump();
        }
        let due: Vec<(i32, u64)> = uncommitted
            .iter()
            .filter(|(_, (docs, since))| {
                *docs >= shared.settings.index_commit_docs
                    || since.elapsed() >= shared.settings.index_commit_interval
            })
            .map(|(y, _)| (*y, applied_of(&shared, *y)))
            .collect();
        for (year, hw) in due {
            if let Err(e) = shared.views.commit_index(year, hw).await {
                tracing::error!(year, error = %e, "index commit failed");
                shared.fail(e);
                return;
            }
            uncommitted.remove(&year);
        }
    }
    for (year, _) in uncommitted {
        if let Err(e) = shared
            .views
            .commit_index(year, applied_of(&shared, year))
            .await
        {
            tracing::error!(year, error = %e, "final index commit failed");
        }
    }
    shared.bump();
}

fn applied_of(shared: &Shared, year: i32) -> u64 {
    lock(&shared.queue).applied.get(&year).copied().unwrap_or(0)
}

/// Bulk commands: lets writers add to a batch still smaller than [`APPLY_BATCH`] (see
/// [`APPLY_GATHER_STEP`]).
async fn gather(shared: &Shared) {
    let started = Instant::now();
    let mut gathered = lock(&shared.queue).offers.len();
    loop {
        {
            let q = lock(&shared.queue);
            if gathered == 0
                || gathered >= APPLY_BATCH
                || q.flushing > 0
                || q.shutdown
                || started.elapsed() >= shared.settings.apply_gather
            {
                return;
            }
        }
        let _ = tokio::time::timeout(APPLY_GATHER_STEP, shared.wake.notified()).await;
        let now = lock(&shared.queue).offers.len();
        if now <= gathered {
            return;
        }
        gathered = now;
    }
}

/// Takes, per year, the offers that continue the applied prefix without a gap (records
/// without derived rows in between are skipped over). Blocking: looks at record kinds.
fn collect_work(shared: &Shared) -> Vec<YearWork> {
    let views = &shared.views;
    let mut q = lock(&shared.queue);
    let mut years: BTreeSet<i32> = q.offers.keys().map(|(y, _)| *y).collect();
    // Years whose last records have no offers (checkpoints) must advance too.
    years.extend(views.volumes.years().unwrap_or_default());
    let mut work = Vec::new();
    for year in years {
        let applied = q.applied.get(&year).copied().unwrap_or(0);
        let mut next = applied + 1;
        let durable = views
            .volumes
            .get(year)
            .ok()
            .flatten()
            .map_or(0, |v| v.last_seq());
        let mut items = Vec::new();
        while next <= durable {
            if let Some(offer) = q.offers.remove(&(year, next)) {
                items.push((next, offer));
            } else if !views.is_underived(year, next) {
                break;
            }
            next += 1;
        }
        let last = next - 1;
        if last > applied {
            work.push((year, last, items));
        }
    }
    work
}

/// Applies one year's run of records: catalog rows and the high-water mark in one
/// transaction, then dedup bookkeeping, then the index.
async fn apply(
    shared: &Shared,
    year: i32,
    last: u64,
    items: Vec<(u64, Offer)>,
    uncommitted: &mut BTreeMap<i32, (u64, Instant)>,
) -> Result<()> {
    let views = &shared.views;
    let mut applied: Vec<Applied> = Vec::with_capacity(items.len());
    let mut shas: Vec<(Sha256, (i32, u64))> = Vec::with_capacity(items.len());
    for (seq, offer) in &items {
        applied.push(offer.to_applied());
        let sha = match offer {
            Derived::Message(doc) => doc.sha256,
            Derived::Link { sha256, .. } => *sha256,
        };
        shas.push((sha, (year, *seq)));
    }
    views
        .catalog
        .apply(&ApplyBatch {
            purpose: MAIL,
            year,
            up_to_seq: last,
            items: applied,
        })
        .await?;
    {
        let mut pending = shared.pending.lock().await;
        for (sha, record) in shas {
            pending.applied(&sha, record);
        }
    }
    if views.index_deferred() {
        return Ok(());
    }
    let docs = items.len() as u64;
    let index = Arc::clone(&views.index);
    let link_targets: Vec<MessageId> = tokio::task::spawn_blocking(move || -> Result<_> {
        let mut link_targets = Vec::new();
        for (_, offer) in items {
            match offer {
                Derived::Message(doc) => index.add(&doc)?,
                Derived::Link { target, .. } => link_targets.push(target),
            }
        }
        Ok(link_targets)
    })
    .await??;
    // After the messages: a link may target a message of this same batch.
    views.reindex_messages(&link_targets).await?;
    let entry = uncommitted.entry(year).or_insert((0, Instant::now()));
    entry.0 += docs.max(1);
    Ok(())
}
