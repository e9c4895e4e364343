//! Runs one extraction on a helper thread so that a panic is contained and the caller
//! waits no longer than the deadline, replaces helpers abandoned after a timeout, and
//! keeps count of them so that a flood of hostile files cannot pile up stuck threads.
//!
//! Helper threads are reused: a thread that answered in time goes back to a small idle
//! list (before the caller gets the answer, so a caller extracting one attachment after
//! another keeps using one thread) and takes the next extraction from there. Starting a
//! thread with its stack for every attachment cost about 3% of an import's CPU (clone,
//! stack mapping and its page faults, unmapping). The price: the stack pages a helper
//! once touched stay resident while it waits, for at most [`MAX_IDLE_HELPERS`] helpers.
//!
//! A job's life: the caller hands the job to an idle helper (or starts one) and waits on
//! a channel until the deadline plus a short grace (our own extractors notice the
//! deadline themselves and answer `TimedOut` within it). If no answer comes, the caller
//! marks the job abandoned (state `RUNNING` → `ABANDONED`, counter + 1) and returns
//! `TimedOut`; when the helper finally finishes it sees the mark, takes itself off the
//! counter and exits instead of going back to the idle list. A compare-and-swap on the
//! state decides the race between the two.
//!
//! # Abandoned helpers are replaced; only uninterruptible code is capped (issue 22)
//!
//! An abandoned helper never blocks later work: the next extraction finds another idle
//! helper or starts a fresh one, so a burst of hostile files that time out does not stop
//! attachment text from being indexed. What abandoned threads cost (a core each while
//! they spin, their memory) is bounded where it arises: only code that cannot be
//! interrupted can keep a thread past its deadline (the PDF library while it parses a
//! file and loads fonts, `html2text` while it renders), and that code is entered only
//! through [`uninterruptible_allowed`] / [`check_uninterruptible`]. Once
//! [`ExtractLimits::max_abandoned_threads`] threads are abandoned, a PDF is refused with
//! [`ExtractError::Overloaded`] (the message is flagged as for any extraction failure,
//! and counted in [`overload_refusals`]) and HTML is rendered by the streaming stripper
//! instead, until abandoned threads finish; text, office documents, archives and
//! attached messages, read by our own code that stops at the deadline, keep being
//! extracted. Abandoned threads therefore stay below the cap plus the number of
//! extractions that were entering such code at the moment the cap was reached (at most
//! one per caller thread), plus cooperative jobs that overran on a starved CPU, which
//! finish shortly after.

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once, mpsc};
use std::time::{Duration, Instant};

use super::{ExtractError, ExtractLimits, Extracted, Format};

/// Name of the helper threads. Panics on threads with this name are not printed.
pub const EXTRACT_THREAD_NAME: &str = "coffer-extract";

/// Stack of a helper thread. Only the touched pages are committed, and parsers of
/// nested structures (HTML trees, PDF forms) get head room well beyond their own
/// depth limits.
const STACK_BYTES: usize = 64 * 1024 * 1024;

/// How long past the deadline the caller keeps waiting for a cooperative answer.
const GRACE: Duration = Duration::from_millis(100);

/// Most helper threads kept waiting for work; one more than the callers that extract at
/// once is enough, and a helper beyond this exits after its job.
const MAX_IDLE_HELPERS: usize = 16;

const RUNNING: u8 = 0;
const FINISHED: u8 = 1;
const ABANDONED: u8 = 2;

static ABANDONED_THREADS: AtomicUsize = AtomicUsize::new(0);
static OVERLOAD_REFUSALS: AtomicU64 = AtomicU64::new(0);
static PANIC_HOOK: Once = Once::new();

/// A job for a helper thread, given the helper's own job channel: runs one extraction,
/// puts the helper back on the idle list, answers the caller, and says whether the
/// helper stays for another job (false once the caller gave up on it).
struct Job(Box<dyn FnOnce(&Helper) -> bool + Send>);

/// A helper thread, as the sending end of its job channel.
type Helper = mpsc::Sender<Job>;

/// Helper threads waiting for a job.
static IDLE_HELPERS: Mutex<Vec<Helper>> = Mutex::new(Vec::new());

/// Extraction threads abandoned after a timeout and still running (for metrics).
pub fn abandoned_threads() -> usize {
    ABANDONED_THREADS.load(Ordering::SeqCst)
}

/// Extractions refused with [`ExtractError::Overloaded`] since the process started (for
/// metrics).
pub fn overload_refusals() -> u64 {
    OVERLOAD_REFUSALS.load(Ordering::SeqCst)
}

/// Whether code that cannot be interrupted may run now: fewer than
/// [`ExtractLimits::max_abandoned_threads`] threads are abandoned (see the module docs).
pub(super) fn uninterruptible_allowed(limits: &ExtractLimits) -> bool {
    abandoned_threads() < limits.max_abandoned_threads
}

/// [`uninterruptible_allowed`], as the error (and count) of a refusal, for an extractor
/// that has no other way to read `format`.
pub(super) fn check_uninterruptible(
    limits: &ExtractLimits,
    format: Format,
) -> Result<(), ExtractError> {
    if uninterruptible_allowed(limits) {
        return Ok(());
    }
    let abandoned = abandoned_threads();
    OVERLOAD_REFUSALS.fetch_add(1, Ordering::SeqCst);
    tracing::warn!(
        format = format.as_str(),
        abandoned,
        "attachment extraction refused: too many stuck threads"
    );
    Err(ExtractError::Overloaded { abandoned })
}

/// Runs `work` (the extraction of an input of `input_bytes` bytes as `format`) on a
/// helper thread, waiting at most `limits.timeout`. `work` gets the deadline.
pub(super) fn run_isolated<W>(
    format: Format,
    input_bytes: usize,
    limits: &ExtractLimits,
    work: W,
) -> Result<Extracted, ExtractError>
where
    W: FnOnce(Instant) -> Result<Extracted, ExtractError> + Send + 'static,
{
    install_panic_hook();

    let deadline = Instant::now() + limits.timeout;
    let state = Arc::new(AtomicU8::new(RUNNING));
    let (sender, receiver) = mpsc::sync_channel(1);
    let job_state = Arc::clone(&state);
    let job = Job(Box::new(move |helper: &Helper| {
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| work(deadline)));
        let result = outcome.unwrap_or_else(|_| {
            tracing::warn!(format = format.as_str(), "attachment extractor panicked");
            Err(ExtractError::Panicked { format })
        });
        if job_state
            .compare_exchange(RUNNING, FINISHED, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            // The caller gave up and nobody listens; this thread leaves the pool.
            ABANDONED_THREADS.fetch_sub(1, Ordering::SeqCst);
            tracing::info!("abandoned extraction thread finished");
            return false;
        }
        // Back on the idle list before the caller hears the answer, so that the
        // caller's next extraction finds this thread waiting.
        let stays = rejoin(helper);
        // The caller is waiting: it either has not timed out, or it saw FINISHED.
        let _ = sender.send(result);
        stays
    }));
    if let Err(error) = hand_over(job) {
        return Err(ExtractError::Spawn(error));
    }

    let wait = deadline.saturating_duration_since(Instant::now()) + GRACE;
    match receiver.recv_timeout(wait) {
        Ok(result) => result,
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(ExtractError::Panicked { format }),
        Err(mpsc::RecvTimeoutError::Timeout) => {
            ABANDONED_THREADS.fetch_add(1, Ordering::SeqCst);
            if state
                .compare_exchange(RUNNING, ABANDONED, Ordering::SeqCst, Ordering::SeqCst)
                .is_err()
            {
                // It finished between the timeout and now: not abandoned after all,
                // and its answer is on the way.
                ABANDONED_THREADS.fetch_sub(1, Ordering::SeqCst);
                return receiver
                    .recv()
                    .unwrap_or(Err(ExtractError::Panicked { format }));
            } else {
                tracing::warn!(
                    format = format.as_str(),
                    bytes = input_bytes,
                    abandoned = abandoned_threads(),
                    "attachment extraction timed out; thread abandoned"
                );
            }
            Err(ExtractError::TimedOut {
                format,
                limit: limits.timeout,
            })
        }
    }
}

/// Gives `job` to an idle helper thread, or to a new one when none is idle.
fn hand_over(mut job: Job) -> std::io::Result<()> {
    let idle = lock_idle().pop();
    if let Some(helper) = idle {
        // A listed helper is waiting for this job (helpers leave only after a job they
        // were given); should the send fail anyway, the job goes to a new helper.
        match helper.send(job) {
            Ok(()) => return Ok(()),
            Err(mpsc::SendError(returned)) => job = returned,
        }
    }
    let (jobs, inbox) = mpsc::channel::<Job>();
    // Queued before the thread starts; if it cannot start, the job is dropped with it.
    jobs.send(job)
        .map_err(|_| std::io::Error::other("helper channel closed"))?;
    std::thread::Builder::new()
        .name(EXTRACT_THREAD_NAME.to_owned())
        .stack_size(STACK_BYTES)
        .spawn(move || helper_loop(&jobs, &inbox))?;
    Ok(())
}

/// A helper thread's life: run jobs until one was abandoned or found the idle list full.
fn helper_loop(jobs: &Helper, inbox: &mpsc::Receiver<Job>) {
    while let Ok(job) = inbox.recv() {
        if !(job.0)(jobs) {
            return;
        }
    }
}

/// Puts a helper (by its job channel) back on the idle list; false when the list is
/// full and the helper should exit instead.
fn rejoin(helper: &Helper) -> bool {
    let mut idle = lock_idle();
    if idle.len() >= MAX_IDLE_HELPERS {
        return false;
    }
    idle.push(helper.clone());
    true
}

fn lock_idle() -> std::sync::MutexGuard<'static, Vec<Helper>> {
    IDLE_HELPERS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Installs, once, a panic hook that stays silent on extraction threads (a parser's
/// panic message can quote document bytes) and forwards everything else to the hook
/// that was installed before.
fn install_panic_hook() {
    PANIC_HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if std::thread::current().name() != Some(EXTRACT_THREAD_NAME) {
                previous(info);
            }
        }));
    });
}
