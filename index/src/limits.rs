//! Bounds on what one search may cost, so a query cannot take the server's CPU or memory
//! away from everybody else:
//! - a **prefix** (`word*`) may expand to at most [`IndexOptions::max_prefix_terms`]
//!   distinct terms in the searched years, counted in the term dictionaries before the
//!   search runs; beyond it the query is refused as invalid (HTTP 400) and asks for a
//!   longer prefix;
//! - a search past its time limit ([`IndexOptions::search_time_limit`]) **stops working**,
//!   not only answering: every collector checks the deadline before each segment it
//!   searches, and hits are not built past it ([`Error::TimedOut`]).
//!
//! [`IndexOptions::max_prefix_terms`]: crate::IndexOptions::max_prefix_terms
//! [`IndexOptions::search_time_limit`]: crate::IndexOptions::search_time_limit

use std::collections::BTreeSet;
use std::time::Instant;

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::schema::Field;
use tantivy::{Searcher, SegmentOrdinal, SegmentReader, TantivyError};

use crate::error::{Error, Result};

/// A collector that refuses to search a segment once `deadline` has passed.
pub(crate) struct Deadline<C> {
    pub(crate) inner: C,
    pub(crate) deadline: Option<Instant>,
}

/// The message of the engine error a passed deadline raises (recognised by
/// [`timed_out`]).
const DEADLINE_PASSED: &str = "coffer: search deadline passed";

impl<C: Collector> Collector for Deadline<C> {
    type Fruit = C::Fruit;
    type Child = C::Child;

    fn for_segment(
        &self,
        segment_local_id: SegmentOrdinal,
        segment: &SegmentReader,
    ) -> tantivy::Result<Self::Child> {
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(TantivyError::InternalError(DEADLINE_PASSED.into()));
        }
        self.inner.for_segment(segment_local_id, segment)
    }

    fn requires_scoring(&self) -> bool {
        self.inner.requires_scoring()
    }

    fn merge_fruits(
        &self,
        segment_fruits: Vec<<Self::Child as SegmentCollector>::Fruit>,
    ) -> tantivy::Result<Self::Fruit> {
        self.inner.merge_fruits(segment_fruits)
    }
}

/// Whether `error` is a passed deadline (then the search is [`Error::TimedOut`]).
pub(crate) fn timed_out(error: &TantivyError) -> bool {
    matches!(error, TantivyError::InternalError(m) if m == DEADLINE_PASSED)
}

/// Fails with [`Error::TimedOut`] once `deadline` has passed.
pub(crate) fn check_deadline(deadline: Option<Instant>) -> Result<()> {
    if deadline.is_some_and(|d| Instant::now() >= d) {
        Err(Error::TimedOut)
    } else {
        Ok(())
    }
}

/// Refuses the search when one of `prefixes` (field, prefix term) expands to more than
/// `limit` distinct terms over `searchers`. Counting stops at `limit + 1`.
pub(crate) fn check_prefix_expansion(
    searchers: &[(i32, Searcher)],
    prefixes: &[(Field, String)],
    limit: usize,
) -> Result<()> {
    for (field, prefix) in prefixes {
        let mut terms: BTreeSet<Vec<u8>> = BTreeSet::new();
        'years: for (year, searcher) in searchers {
            for segment in searcher.segment_readers() {
                let index = segment
                    .inverted_index(*field)
                    .map_err(Error::engine(*year))?;
                let mut stream = index
                    .terms()
                    .range()
                    .ge(prefix.as_bytes())
                    .into_stream()
                    .map_err(|e| Error::engine(*year)(e.into()))?;
                while stream.advance() {
                    if !stream.key().starts_with(prefix.as_bytes()) {
                        break;
                    }
                    terms.insert(stream.key().to_vec());
                    if terms.len() > limit {
                        break 'years;
                    }
                }
            }
        }
        if terms.len() > limit {
            let shown: String = prefix.chars().take(20).collect();
            return Err(Error::InvalidRequest(format!(
                "the prefix '{shown}*' matches more than {limit} different words; make it longer"
            )));
        }
    }
    Ok(())
}
