//! Runs one extraction on a helper thread so that a panic is contained and the caller
//! waits no longer than the deadline, and keeps count of the threads abandoned after a
//! timeout so that a flood of hostile files cannot pile up stuck threads.
//!
//! A thread's life: the caller reserves nothing up front but refuses to start when
//! [`ExtractLimits::max_abandoned_threads`] threads are already abandoned. It then waits
//! on a channel until the deadline plus a short grace (our own extractors notice the
//! deadline themselves and answer `TimedOut` within it). If no answer comes, the caller
//! marks the thread abandoned (state `RUNNING` → `ABANDONED`, counter + 1) and returns
//! `TimedOut`; when the thread finally finishes it sees the mark and takes itself off
//! the counter. A compare-and-swap on the state decides the race between the two.

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Once, mpsc};
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

const RUNNING: u8 = 0;
const FINISHED: u8 = 1;
const ABANDONED: u8 = 2;

static ABANDONED_THREADS: AtomicUsize = AtomicUsize::new(0);
static PANIC_HOOK: Once = Once::new();

/// Extraction threads abandoned after a timeout and still running (for metrics).
pub fn abandoned_threads() -> usize {
    ABANDONED_THREADS.load(Ordering::SeqCst)
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
    let abandoned = abandoned_threads();
    if abandoned >= limits.max_abandoned_threads {
        tracing::warn!(
            abandoned,
            "attachment extraction refused: too many stuck threads"
        );
        return Err(ExtractError::Overloaded { abandoned });
    }
    install_panic_hook();

    let deadline = Instant::now() + limits.timeout;
    let state = Arc::new(AtomicU8::new(RUNNING));
    let (sender, receiver) = mpsc::sync_channel(1);
    let thread_state = Arc::clone(&state);
    let spawned = std::thread::Builder::new()
        .name(EXTRACT_THREAD_NAME.to_owned())
        .stack_size(STACK_BYTES)
        .spawn(move || {
            let outcome = panic::catch_unwind(AssertUnwindSafe(|| work(deadline)));
            let result = outcome.unwrap_or_else(|_| {
                tracing::warn!(format = format.as_str(), "attachment extractor panicked");
                Err(ExtractError::Panicked { format })
            });
            // Nobody listens when the caller gave up; the send error is expected then.
            let _ = sender.send(result);
            if thread_state
                .compare_exchange(RUNNING, FINISHED, Ordering::SeqCst, Ordering::SeqCst)
                .is_err()
            {
                ABANDONED_THREADS.fetch_sub(1, Ordering::SeqCst);
                tracing::info!("abandoned extraction thread finished");
            }
        });
    if let Err(error) = spawned {
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
                // It finished between the timeout and now: not abandoned after all.
                ABANDONED_THREADS.fetch_sub(1, Ordering::SeqCst);
                if let Ok(result) = receiver.try_recv() {
                    return result;
                }
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
