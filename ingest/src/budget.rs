//! One memory budget for journaled message content in flight: what SMTP/LMTP sessions
//! receive after `DATA` and what HTTP journal submissions (`POST /api/v1/messages`) read
//! as their body, from the first byte until the journal has taken the message.
//!
//! Without it the bounds multiply: 256 SMTP sessions × 64 MiB plus 256 HTTP bodies ×
//! 64 MiB could be held at once. With it, every source draws from the [`Journal`]'s one
//! [`MemoryBudget`] (default [`DEFAULT_MEMORY_BUDGET`], 1 GiB; `journal_memory_budget` in
//! coffer.toml), and a message that does not fit is refused *temporarily*, so the sender
//! retries later:
//!
//! - **SMTP/LMTP** reserve at `DATA` what the client declared with `SIZE=` (or, without
//!   a declaration, a first [`DATA_FIRST_RESERVATION`]): when that does not fit, `DATA`
//!   is answered `452 4.3.1` before any content is sent. Content beyond the reservation
//!   grows it as it arrives; when the budget cannot grow, the rest of the content is read
//!   and discarded, and the end of data is answered `452 4.3.1` (one per recipient in
//!   LMTP). The reservation is released once the delivery has been answered.
//! - **HTTP** reserves the `Content-Length` before reading the body (a chunked body grows
//!   its reservation as it arrives); when the budget cannot hold it the answer is `503`
//!   with `Retry-After`, and the body is not read further.
//!
//! What is counted is the memory allocated for the content (its capacity), not a
//! promise about the rest of the pipeline: analysing a message holds further copies
//! (parsed text, compressed record) for the messages the journal processes at once,
//! which its own bound on concurrent messages limits. Fixed per-session buffers (a
//! 64 KiB read buffer, one command line) are bounded by the session limit.
//!
//! Refusals are counted in `coffer_ingest_memory_refusals_total` and the bytes held in
//! `coffer_ingest_memory_bytes` (see [`crate::metrics`]).
//!
//! [`Journal`]: crate::journaling::Journal

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;

use crate::metrics::IngestMetrics;

/// The default budget: 1 GiB of message content in flight across all journal sources.
pub const DEFAULT_MEMORY_BUDGET: usize = 1 << 30;

/// What an SMTP/LMTP session reserves at `DATA` when the client declared no size.
pub const DATA_FIRST_RESERVATION: u64 = 64 * 1024;

/// A budget of bytes shared by every holder of a clone.
#[derive(Clone)]
pub struct MemoryBudget {
    shared: Arc<Shared>,
}

struct Shared {
    limit: usize,
    in_use: AtomicUsize,
    in_use_gauge: Gauge,
    refusals: Counter,
}

impl fmt::Debug for MemoryBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryBudget")
            .field("limit", &self.shared.limit)
            .field("in_use", &self.in_use())
            .finish()
    }
}

impl MemoryBudget {
    /// A budget of `limit` bytes, counted in series of its own (not exported).
    pub fn new(limit: usize) -> Self {
        Self::counted(limit, Gauge::default(), Counter::default())
    }

    /// A budget of `limit` bytes whose use and refusals are counted in `metrics`.
    pub fn with_metrics(limit: usize, metrics: &IngestMetrics) -> Self {
        let (in_use, refusals) = metrics.memory_series();
        Self::counted(limit, in_use, refusals)
    }

    /// A budget that never refuses (for tests and tools that bound memory otherwise).
    pub fn unlimited() -> Self {
        Self::new(usize::MAX)
    }

    fn counted(limit: usize, in_use_gauge: Gauge, refusals: Counter) -> Self {
        Self {
            shared: Arc::new(Shared {
                limit,
                in_use: AtomicUsize::new(0),
                in_use_gauge,
                refusals,
            }),
        }
    }

    /// The limit in bytes.
    pub fn limit(&self) -> usize {
        self.shared.limit
    }

    /// Bytes reserved now.
    pub fn in_use(&self) -> usize {
        self.shared.in_use.load(Ordering::SeqCst)
    }

    /// Reserves `bytes`, or `None` when they do not fit.
    pub fn try_reserve(&self, bytes: usize) -> Option<Reservation> {
        let mut reservation = Reservation {
            budget: self.clone(),
            bytes: 0,
        };
        reservation.try_grow(bytes).then_some(reservation)
    }

    /// Takes `bytes` from the budget if they fit.
    fn take(&self, bytes: usize) -> bool {
        if bytes == 0 {
            return true;
        }
        let limit = self.shared.limit;
        let taken = self
            .shared
            .in_use
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |used| {
                used.checked_add(bytes).filter(|&total| total <= limit)
            })
            .is_ok();
        if taken {
            self.shared.in_use_gauge.inc_by(gauge_bytes(bytes));
        }
        taken
    }

    /// Gives `bytes` back.
    fn give_back(&self, bytes: usize) {
        if bytes == 0 {
            return;
        }
        self.shared.in_use.fetch_sub(bytes, Ordering::SeqCst);
        self.shared.in_use_gauge.dec_by(gauge_bytes(bytes));
    }

    /// Counts a message refused because the budget was exhausted.
    fn count_refusal(&self) {
        self.shared.refusals.inc();
    }
}

fn gauge_bytes(bytes: usize) -> i64 {
    i64::try_from(bytes).unwrap_or(i64::MAX)
}

/// Bytes taken from a [`MemoryBudget`]; given back when dropped.
pub struct Reservation {
    budget: MemoryBudget,
    bytes: usize,
}

impl fmt::Debug for Reservation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reservation")
            .field("bytes", &self.bytes)
            .finish()
    }
}

impl Reservation {
    /// Bytes reserved.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Reserves `additional` bytes more; false (and nothing changed) when they do not fit.
    pub fn try_grow(&mut self, additional: usize) -> bool {
        if !self.budget.take(additional) {
            return false;
        }
        self.bytes += additional;
        true
    }

    /// Keeps at most `bytes` reserved, giving back the rest.
    pub fn shrink_to(&mut self, bytes: usize) {
        if bytes < self.bytes {
            self.budget.give_back(self.bytes - bytes);
            self.bytes = bytes;
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.give_back(self.bytes);
    }
}

/// Why a [`MessageBuffer`] stopped keeping content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BufferFull {
    /// The message is larger than its size limit: refused for good (SMTP `552`, HTTP
    /// `413`).
    TooLarge,
    /// The memory budget is exhausted: refused for now (SMTP `452`, HTTP `503`).
    OverBudget,
}

/// Message content as it arrives, held only as far as its size limit and the memory
/// budget allow. Once either is exceeded the content is dropped (and its reservation
/// given back); further bytes are counted but not kept, so a protocol that must read a
/// message to its end (SMTP) can do so in constant memory.
#[derive(Debug)]
pub struct MessageBuffer {
    data: Vec<u8>,
    reservation: Reservation,
    budget: MemoryBudget,
    max_size: u64,
    received: u64,
    refused: Option<BufferFull>,
}

impl MessageBuffer {
    /// A buffer for a message of at most `max_size` bytes, reserving `expected` bytes
    /// (announced by the sender: `SIZE=`, `Content-Length`) now, so that a message that
    /// cannot fit is refused before it is sent. Memory itself is allocated only as the
    /// content arrives.
    pub fn new(budget: &MemoryBudget, max_size: u64, expected: u64) -> Result<Self, BufferFull> {
        if expected > max_size {
            return Err(BufferFull::TooLarge);
        }
        let expected = usize::try_from(expected).map_err(|_| BufferFull::TooLarge)?;
        let Some(reservation) = budget.try_reserve(expected) else {
            budget.count_refusal();
            return Err(BufferFull::OverBudget);
        };
        Ok(Self {
            data: Vec::new(),
            reservation,
            budget: budget.clone(),
            max_size,
            received: 0,
            refused: None,
        })
    }

    /// Appends `bytes`, or counts them only once the buffer refused the message.
    pub fn push(&mut self, bytes: &[u8]) -> Result<(), BufferFull> {
        self.received = self.received.saturating_add(bytes.len() as u64);
        if let Some(refused) = self.refused {
            return Err(refused);
        }
        if self.received > self.max_size {
            return Err(self.refuse(BufferFull::TooLarge));
        }
        let needed = self.data.len() + bytes.len();
        if needed > self.data.capacity() {
            // Grow geometrically, never past the size limit, nor past what is reserved
            // while the content fits in it (the announced size); fall back to exactly
            // what is needed when the budget cannot cover the doubling.
            let max = usize::try_from(self.max_size).unwrap_or(usize::MAX);
            let mut doubled = needed
                .max(self.data.capacity().saturating_mul(2))
                .min(max.max(needed));
            if needed <= self.reservation.bytes() {
                doubled = doubled.min(self.reservation.bytes());
            }
            let Some(capacity) = [doubled, needed]
                .into_iter()
                .find(|&capacity| self.cover(capacity))
            else {
                return Err(self.refuse(BufferFull::OverBudget));
            };
            self.data.reserve_exact(capacity - self.data.len());
        }
        self.data.extend_from_slice(bytes);
        Ok(())
    }

    /// Whether the reservation covers `capacity` bytes, growing it if needed.
    fn cover(&mut self, capacity: usize) -> bool {
        let reserved = self.reservation.bytes();
        capacity <= reserved || self.reservation.try_grow(capacity - reserved)
    }

    fn refuse(&mut self, why: BufferFull) -> BufferFull {
        self.data = Vec::new();
        self.reservation.shrink_to(0);
        self.refused = Some(why);
        if why == BufferFull::OverBudget {
            self.budget.count_refusal();
        }
        why
    }

    /// Bytes pushed so far, kept or not.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Why the buffer stopped keeping content, if it did.
    pub fn refused(&self) -> Option<BufferFull> {
        self.refused
    }

    /// Bytes of memory held for the content.
    pub fn held(&self) -> usize {
        self.data.capacity()
    }

    /// The content (empty once refused) and the reservation that covers it, to be
    /// dropped once the message has been handed on.
    pub fn into_parts(mut self) -> (Vec<u8>, Reservation) {
        self.reservation.shrink_to(self.data.capacity());
        (self.data, self.reservation)
    }
}

#[cfg(test)]
mod tests {
    use super::{BufferFull, MemoryBudget, MessageBuffer};

    #[test]
    fn reservations_share_one_limit_and_give_back_on_drop() {
        let budget = MemoryBudget::new(100);
        let mut first = budget.try_reserve(60).expect("fits");
        assert!(budget.try_reserve(41).is_none());
        let second = budget.try_reserve(40).expect("fits");
        assert_eq!(budget.in_use(), 100);
        assert!(!first.try_grow(1));
        first.shrink_to(10);
        assert_eq!(budget.in_use(), 50);
        drop(second);
        assert_eq!(budget.in_use(), 10);
        drop(first);
        assert_eq!(budget.in_use(), 0);
        assert!(budget.try_reserve(0).is_some());
    }

    #[test]
    fn buffer_reserves_the_announced_size_up_front() {
        let budget = MemoryBudget::new(1000);
        let buffer = MessageBuffer::new(&budget, 10_000, 800).expect("fits");
        assert_eq!(
            buffer.held(),
            0,
            "memory follows the content, not the promise"
        );
        assert_eq!(budget.in_use(), 800);
        assert_eq!(
            MessageBuffer::new(&budget, 10_000, 300).err(),
            Some(BufferFull::OverBudget)
        );
        assert_eq!(
            MessageBuffer::new(&budget, 100, 101).err(),
            Some(BufferFull::TooLarge)
        );
        drop(buffer);
        assert_eq!(budget.in_use(), 0);
    }

    #[test]
    fn buffer_grows_within_the_budget_then_refuses_and_keeps_counting() {
        let budget = MemoryBudget::new(1000);
        let other = budget.try_reserve(400).expect("fits");
        let mut buffer = MessageBuffer::new(&budget, 10_000, 0).expect("fits");
        for _ in 0..6 {
            buffer.push(&[b'x'; 100]).expect("within the budget");
        }
        assert!(buffer.held() <= 600 && budget.in_use() <= 1000);
        assert_eq!(buffer.push(&[b'x'; 100]), Err(BufferFull::OverBudget));
        assert_eq!(buffer.held(), 0);
        assert_eq!(
            budget.in_use(),
            400,
            "a refused buffer gives its bytes back"
        );
        assert_eq!(buffer.push(b"more"), Err(BufferFull::OverBudget));
        assert_eq!(buffer.received(), 704);
        let (data, reservation) = buffer.into_parts();
        assert!(data.is_empty());
        assert_eq!(reservation.bytes(), 0);
        drop(other);
    }

    #[test]
    fn buffer_past_its_size_limit_is_too_large() {
        let budget = MemoryBudget::unlimited();
        let mut buffer = MessageBuffer::new(&budget, 10, 0).expect("fits");
        buffer.push(b"0123456789").expect("at the limit");
        assert_eq!(buffer.push(b"a"), Err(BufferFull::TooLarge));
        assert_eq!(buffer.refused(), Some(BufferFull::TooLarge));
        assert_eq!(budget.in_use(), 0);
    }

    #[test]
    fn content_of_an_announced_size_stays_within_its_reservation() {
        let budget = MemoryBudget::new(1 << 20);
        let mut buffer = MessageBuffer::new(&budget, 1 << 20, 1000).expect("fits");
        for _ in 0..10 {
            buffer.push(&[b'x'; 100]).expect("fits");
            assert!(buffer.held() <= 1000, "{}", buffer.held());
        }
        assert_eq!(budget.in_use(), 1000);
    }

    #[test]
    fn handed_on_content_stays_reserved_until_dropped() {
        let budget = MemoryBudget::new(1 << 20);
        let mut buffer = MessageBuffer::new(&budget, 1 << 20, 4096).expect("fits");
        buffer.push(b"Subject: x\r\n\r\nbody\r\n").expect("fits");
        let (data, reservation) = buffer.into_parts();
        assert_eq!(data, b"Subject: x\r\n\r\nbody\r\n");
        assert_eq!(reservation.bytes(), data.capacity());
        assert_eq!(budget.in_use(), data.capacity());
        drop(reservation);
        assert_eq!(budget.in_use(), 0);
    }
}
