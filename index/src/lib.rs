//! Coffer's full-text index: one tantivy index per receive year, the query language,
//! and search across years with scope. (Attachment text arrives already extracted, in
//! the message document; extraction is the `coffer-extract` crate.)
//!
//! - [`query`]: the query language as a pure parser ([`query::parse_query`] →
//!   [`query::QueryAst`] or a positioned [`query::QueryError`]).
//! - [`IndexSet`]: the yearly indexes under one directory (`<dir>/<YYYY>/`): add,
//!   replace, commit with the volume high-water mark, damage detection
//!   ([`YearStatus::NeedsRebuild`]), clear and rebuild.
//! - [`IndexSet::search`]: [`SearchRequest`] → [`SearchResults`] of [`Hit`]s, scope
//!   always applied, exact totals, relevance or date order, snippets (from a short
//!   stored preview, or from the volume through a [`HitText`] source: the index keeps
//!   no second copy of the mail).
//! - [`analysis`]: how text, CJK and addresses become terms.
//!
//! The index is a derived view: everything in it can be rebuilt from the volumes, and
//! each year's commit records the last volume sequence it applied (DESIGN.md,
//! principle 1). Logs carry years, counts and timings only, never message content or
//! query text (principle 5).

pub mod analysis;
mod calendar;
mod compile;
mod error;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
mod hit_text;
pub mod limits;
mod matching;
pub mod query;
mod schema;
mod search;
mod set;
pub mod snippet;

pub use calendar::{Calendar, MAX_CALENDAR_YEARS};
pub use error::{Error, Result};
pub use hit_text::{HitText, MAX_READ_BACK_BYTES};
pub use schema::{ATTACHMENT_PREVIEW_BYTES, BODY_PREVIEW_BYTES, MAX_STORED_RECIPIENTS};
pub use search::{Hit, MAX_LIMIT, MAX_WINDOW, SearchRequest, SearchResults, Sort};
pub use set::{IndexOptions, IndexSet, PAYLOAD_FORMAT, YearInfo, YearStatus};
