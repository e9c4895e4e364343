//! Search across the yearly indexes: parse, scope, prune years by message date, count
//! exactly, rank (BM25 with statistics summed over the searched years, or by date),
//! merge, paginate and build hits with snippets.
//!
//! - **Scope** is applied inside, always: a restricted scope is ANDed with the whole
//!   user query, so no `OR`, `NOT` or `mailbox:` in the query can reach outside it. A
//!   restricted scope with no mailbox and no domain returns nothing.
//! - **Years** are per receive year while date filters apply to the message's own
//!   date; a year is skipped when the range of message dates in its index cannot meet
//!   the query's date bounds ([`QueryAst::date_bounds`]). A damaged year fails the
//!   search ([`Error::NeedsRebuild`]) instead of silently contributing nothing.
//! - **Order**: [`Sort::Relevance`] uses BM25 over global statistics (so scores from
//!   different years compare); a query with no positive text clause (only filters or
//!   negations) has no relevance and is returned newest first. Ties are broken by
//!   year, then by position in the index, so pagination is stable while the index does
//!   not change. [`Hit::score`] is 0 for date sorts.
//! - **Total** is exact (a count over every matching document in scope).
//! - **Speed**: years are searched in parallel (up to [`IndexOptions::search_threads`]);
//!   a lone word is counted and ranked in two passes (the ranking pass skips blocks
//!   with block-max WAND), anything else in one pass that counts and ranks together.
//!   Phrases of frequent words use the common grams of [`crate::analysis`]. Clauses on
//!   fields that hold no term in the searched years are left out (see
//!   `compile::IndexedFields`: tantivy would build an empty term dictionary for them).
//!
//! [`IndexOptions::search_threads`]: crate::IndexOptions::search_threads

use std::cmp::Ordering;
use std::panic::AssertUnwindSafe;
use std::time::Instant;

use coffer_model::{MessageId, RecipientView, Scope};
use serde::{Deserialize, Serialize};
use tantivy::collector::{Count, TopDocs};
use tantivy::postings::SegmentPostings;
use tantivy::query::{Bm25StatisticsProvider, BooleanQuery, Occur};
use tantivy::schema::{Field, IndexRecordOption, Term, Value};
use tantivy::{DocAddress, DocSet, Order, Searcher, TantivyDocument};
use tracing::debug;

use crate::compile::{IndexedFields, compile, scope_filter};
use crate::error::{Error, Result};
use crate::hit_text::{HitText, MAX_READ_BACK_BYTES};
use crate::limits::{Deadline, check_deadline, check_prefix_expansion};
use crate::query::{DateBounds, QueryAst, TextKind, TextQuery, parse_query};
use crate::schema::{Fields, names};
use crate::set::{IndexSet, Slot};
use crate::snippet::{self, Highlighter};

/// Largest page.
pub const MAX_LIMIT: usize = 1_000;
/// Deepest reachable result (`offset + limit`).
pub const MAX_WINDOW: usize = 100_000;

/// Result order. Spelled `relevance`, `date-desc` (or `date`) and `date-asc` in the API
/// and on the command line alike (`date_desc` and `date_asc` are accepted too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Sort {
    /// Best match first (newest first for queries without text).
    #[default]
    Relevance,
    /// Newest message date first.
    #[serde(alias = "date", alias = "date_desc")]
    DateDesc,
    /// Oldest message date first.
    #[serde(alias = "date_asc")]
    DateAsc,
}

impl Sort {
    /// The names a sort order is given by, canonical first for each.
    pub const NAMES: [(&'static str, Sort); 6] = [
        ("relevance", Sort::Relevance),
        ("date-desc", Sort::DateDesc),
        ("date-asc", Sort::DateAsc),
        ("date", Sort::DateDesc),
        ("date_desc", Sort::DateDesc),
        ("date_asc", Sort::DateAsc),
    ];
}

impl std::str::FromStr for Sort {
    type Err = Error;

    fn from_str(name: &str) -> Result<Sort> {
        Sort::NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, sort)| *sort)
            .ok_or_else(|| {
                Error::InvalidRequest(format!(
                    "unknown sort {name:?} (relevance, date-desc or date-asc)"
                ))
            })
    }
}

/// A search: query text, the caller's scope, order and page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchRequest {
    /// Query in the Coffer query language.
    pub query: String,
    /// What the caller may see; always applied.
    pub scope: Scope,
    /// Whose hidden recipients the caller may learn: for a custodian, `bcc:`,
    /// `envelope:`, `mailbox:` and the hidden-recipient fields of plain words and
    /// `participant:` match only their own addresses, and hits list only their own
    /// mailboxes (no oracle for another recipient's Bcc).
    pub recipients: RecipientView,
    /// Order of the hits.
    pub sort: Sort,
    /// Hits per page (0 counts only), at most [`MAX_LIMIT`].
    pub limit: usize,
    /// Hits to skip; `offset + limit` at most [`MAX_WINDOW`].
    pub offset: usize,
}

impl SearchRequest {
    /// A first page of 20 by relevance.
    pub fn new(query: impl Into<String>, scope: Scope) -> SearchRequest {
        SearchRequest {
            query: query.into(),
            scope,
            recipients: RecipientView::All,
            sort: Sort::Relevance,
            limit: 20,
            offset: 0,
        }
    }
}

/// The answer to a search.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchResults {
    /// Every matching message in scope (exact).
    pub total: u64,
    /// The requested page.
    pub hits: Vec<Hit>,
    /// Years whose index was searched (others were pruned by date); for metrics.
    #[serde(skip)]
    pub years_searched: Vec<i32>,
}

/// One matching message, as the API returns it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hit {
    /// The message id (`2026-42`).
    pub id: MessageId,
    /// Receive time, Unix seconds.
    pub received: i64,
    /// The message's own date (Date header), Unix seconds, when it has one.
    pub date: Option<i64>,
    /// From, as `Name <address>` (comma-separated when several).
    pub from: String,
    /// To, as `Name <address>` (at most [`crate::schema::MAX_STORED_RECIPIENTS`]).
    pub to: Vec<String>,
    /// Subject.
    pub subject: Option<String>,
    /// HTML-safe excerpt with `<b>` highlights (see [`crate::snippet`]).
    pub snippet: String,
    /// Archive mailboxes the message belongs to.
    pub mailboxes: Vec<String>,
    /// Number of attachments.
    pub attachments: u32,
    /// Relevance score (0 for date sorts); not part of the API's JSON.
    #[serde(skip)]
    pub score: f32,
}

/// BM25 statistics summed over several yearly searchers.
struct GlobalStats<'a> {
    searchers: &'a [(i32, Searcher)],
}

impl Bm25StatisticsProvider for GlobalStats<'_> {
    fn total_num_tokens(&self, field: Field) -> tantivy::Result<u64> {
        let mut total = 0;
        for (_, searcher) in self.searchers {
            total += Bm25StatisticsProvider::total_num_tokens(searcher, field)?;
        }
        Ok(total)
    }

    fn total_num_docs(&self) -> tantivy::Result<u64> {
        let mut total = 0;
        for (_, searcher) in self.searchers {
            total += Bm25StatisticsProvider::total_num_docs(searcher)?;
        }
        Ok(total)
    }

    fn doc_freq(&self, term: &Term) -> tantivy::Result<u64> {
        let mut total = 0;
        for (_, searcher) in self.searchers {
            total += searcher.doc_freq(term)?;
        }
        Ok(total)
    }
}

/// A hit before its stored fields are read.
struct Candidate {
    searcher: usize,
    address: DocAddress,
    score: f32,
    date: i64,
}

impl IndexSet {
    /// Runs a search (see the [module docs](self)).
    pub fn search(&self, request: &SearchRequest) -> Result<SearchResults> {
        let ast = parse_query(&request.query)?;
        self.search_parsed(
            &ast,
            &request.scope,
            &request.recipients,
            request.sort,
            request.limit,
            request.offset,
        )
    }

    /// [`IndexSet::search`] for an already parsed query (e.g. parsed once to record its
    /// canonical form in the audit trail).
    pub fn search_parsed(
        &self,
        ast: &QueryAst,
        scope: &Scope,
        recipients: &RecipientView,
        sort: Sort,
        limit: usize,
        offset: usize,
    ) -> Result<SearchResults> {
        let started = Instant::now();
        if limit > MAX_LIMIT {
            return Err(Error::InvalidRequest(format!(
                "limit {limit} is above {MAX_LIMIT}"
            )));
        }
        let window = offset.saturating_add(limit);
        if window > MAX_WINDOW {
            return Err(Error::InvalidRequest(format!(
                "offset + limit is above {MAX_WINDOW}; narrow the query"
            )));
        }
        let empty = SearchResults {
            total: 0,
            hits: Vec::new(),
            years_searched: Vec::new(),
        };
        let fields = &self.schema.fields;
        let bounds = ast.date_bounds();
        // The years are gathered first so that the query can leave out fields they do
        // not hold; a query error still comes before an index error.
        let within = self.searchers_within(&bounds);
        let indexed = within
            .as_ref()
            .map_or(IndexedFields::ALL, |(_, indexed)| *indexed);
        let hidden = match recipients {
            RecipientView::All => None,
            RecipientView::Own(own) => Some(own),
        };
        let mut prefixes = Vec::new();
        let mut query = compile(ast, fields, indexed, hidden, &mut prefixes)?;
        let deadline = self.search_time_limit().map(|limit| started + limit);
        if let Scope::Restricted { mailboxes, domains } = scope
            && mailboxes.is_empty()
            && domains.is_empty()
        {
            return Ok(empty);
        }
        if let Some(filter) = scope_filter(scope, fields, indexed) {
            query = Box::new(BooleanQuery::new(vec![
                (Occur::Must, query),
                (Occur::Must, filter),
            ]));
        }
        let (searchers, _) = within?;
        check_prefix_expansion(&searchers, &prefixes, self.max_prefix_terms())?;
        if bounds.is_empty() || searchers.is_empty() {
            return Ok(SearchResults {
                years_searched: searchers.iter().map(|(y, _)| *y).collect(),
                ..empty
            });
        }

        let sort = if sort == Sort::Relevance && !ast.has_scoring_terms() {
            Sort::DateDesc
        } else {
            sort
        };
        // A lone word ranks fastest in two passes: a count that needs no scores, then a
        // top-k that skips blocks (block-max WAND). Anything else (phrases, booleans,
        // scoped queries) is cheaper in one pass that counts and ranks together.
        let two_passes = matches!(
            ast,
            QueryAst::Text(TextQuery {
                kind: TextKind::Word,
                ..
            })
        ) && matches!(scope, Scope::All);
        let stats = GlobalStats {
            searchers: &searchers,
        };
        let query = &*query;
        let per_year = |position: usize| -> Result<(u64, Vec<Candidate>)> {
            let (year, searcher) = &searchers[position];
            let engine = Error::engine(*year);
            if window == 0 {
                let count = searcher
                    .search(
                        query,
                        &Deadline {
                            inner: Count,
                            deadline,
                        },
                    )
                    .map_err(engine)?;
                return Ok((count as u64, Vec::new()));
            }
            match sort {
                Sort::Relevance => {
                    let top = TopDocs::with_limit(window).order_by_score();
                    let (count, top) = if two_passes {
                        check_deadline(deadline)?;
                        let count = query.count(searcher).map_err(Error::engine(*year))?;
                        let top = searcher
                            .search_with_statistics_provider(
                                query,
                                &Deadline {
                                    inner: top,
                                    deadline,
                                },
                                &stats,
                            )
                            .map_err(engine)?;
                        (count, top)
                    } else {
                        searcher
                            .search_with_statistics_provider(
                                query,
                                &Deadline {
                                    inner: (Count, top),
                                    deadline,
                                },
                                &stats,
                            )
                            .map_err(engine)?
                    };
                    let candidates = top
                        .into_iter()
                        .map(|(score, address)| Candidate {
                            searcher: position,
                            address,
                            score,
                            date: 0,
                        })
                        .collect();
                    Ok((count as u64, candidates))
                }
                Sort::DateDesc | Sort::DateAsc => {
                    let order = if sort == Sort::DateDesc {
                        Order::Desc
                    } else {
                        Order::Asc
                    };
                    let collector = (
                        Count,
                        TopDocs::with_limit(window).order_by_fast_field::<i64>(names::DATE, order),
                    );
                    let (count, top) = searcher
                        .search(
                            query,
                            &Deadline {
                                inner: collector,
                                deadline,
                            },
                        )
                        .map_err(engine)?;
                    let candidates = top
                        .into_iter()
                        .map(|(date, address)| Candidate {
                            searcher: position,
                            address,
                            score: 0.0,
                            date: date.unwrap_or_default(),
                        })
                        .collect();
                    Ok((count as u64, candidates))
                }
            }
        };
        let mut total = 0u64;
        let mut candidates: Vec<Candidate> = Vec::new();
        for (count, year_candidates) in for_each_year(&searchers, self.search_threads(), per_year)?
        {
            total += count;
            candidates.extend(year_candidates);
        }

        candidates.sort_by(|a, b| {
            let primary = match sort {
                Sort::Relevance => b.score.partial_cmp(&a.score).unwrap_or(Ordering::Equal),
                Sort::DateDesc => b.date.cmp(&a.date),
                Sort::DateAsc => a.date.cmp(&b.date),
            };
            primary
                .then(a.searcher.cmp(&b.searcher))
                .then(a.address.cmp(&b.address))
        });
        let highlighter = Highlighter::new(ast);
        let read_back = self
            .hit_text
            .get()
            .map(|source| &**source)
            .filter(|_| highlighter.has_body_words());
        let page: Vec<Candidate> = candidates.into_iter().skip(offset).take(limit).collect();
        // Every hit is built from its stored fields first (a few microseconds each); the
        // hits whose snippet can only come from the body past the preview are read back
        // from their volumes afterwards.
        let mut built: Vec<(Hit, bool)> = page
            .iter()
            .map(|candidate| -> Result<(Hit, bool)> {
                check_deadline(deadline)?;
                let (year, searcher) = &searchers[candidate.searcher];
                let document: TantivyDocument = searcher
                    .doc(candidate.address)
                    .map_err(Error::engine(*year))?;
                let body_holds_words =
                    || body_holds_words(searcher, candidate.address, fields.body, &highlighter);
                let (mut hit, pending) = hit(
                    *year,
                    &document,
                    fields,
                    &highlighter,
                    read_back.map(|_| &body_holds_words as &dyn Fn() -> bool),
                    candidate.score,
                );
                hit.mailboxes = recipients.visible(std::mem::take(&mut hit.mailboxes));
                Ok((hit, pending))
            })
            .collect::<Result<_>>()?;
        // A read-back (read, decrypt, decompress, parse) costs 15–60 microseconds
        // (`coffer-bench search`: generated text mail 15, SpamAssassin HTML spam 60).
        // They are done here, one after the other: handing them to the thread pool cost
        // more than it saved, even for a page of 12 read-backs on 2 cores (measured with
        // `coffer-bench search`: `terv*` 0.45 ms serial against 0.62 ms on the pool).
        if let Some(source) = read_back {
            check_deadline(deadline)?;
            for (hit, _) in built.iter_mut().filter(|(_, pending)| *pending) {
                if let Some(snippet) = read_back_snippet(source, hit.id, &highlighter) {
                    hit.snippet = snippet;
                }
            }
        }
        let hits: Vec<Hit> = built.into_iter().map(|(hit, _)| hit).collect();
        let years_searched: Vec<i32> = searchers.iter().map(|(y, _)| *y).collect();
        debug!(
            total,
            hits = hits.len(),
            years = years_searched.len(),
            elapsed_us = started.elapsed().as_micros() as u64,
            "search"
        );
        Ok(SearchResults {
            total,
            hits,
            years_searched,
        })
    }

    /// A searcher for every year holding documents whose message dates can meet
    /// `bounds`, and the fields that hold terms in any of them; a damaged year is an
    /// error.
    pub(crate) fn searchers_within(
        &self,
        bounds: &DateBounds,
    ) -> Result<(Vec<(i32, Searcher)>, IndexedFields)> {
        let mut searchers: Vec<(i32, Searcher)> = Vec::new();
        let mut indexed = IndexedFields::NONE;
        for (year, slot) in self.slots() {
            let index = match slot {
                Slot::Ready(index) => index,
                Slot::Broken(reason) => return Err(Error::NeedsRebuild { year, reason }),
            };
            let searcher = index.searcher();
            if searcher.num_docs() == 0 {
                continue;
            }
            let meets = guard_year(year, || {
                let range = date_range(&searcher).map_err(Error::engine(year))?;
                Ok(match range {
                    Some((min, max)) if bounds.overlaps(min, max) => {
                        Some(index.indexed_fields(&searcher)?)
                    }
                    _ => None,
                })
            })?;
            if let Some(fields) = meets {
                indexed = indexed.union(fields);
                searchers.push((year, searcher));
            }
        }
        Ok((searchers, indexed))
    }
}

/// Runs `work` on one year's index; a panic inside tantivy (which it documents for some
/// kinds of data corruption) becomes [`Error::Corruption`] for that year instead of
/// unwinding into the caller.
fn guard_year<T>(year: i32, work: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(AssertUnwindSafe(work)).unwrap_or_else(|_| {
        Err(Error::Corruption {
            year,
            detail: "the search engine failed on this year's index; verify it".into(),
        })
    })
}

/// Runs `work` for every searcher, on up to `threads` threads (years are independent),
/// returning the results in searcher order, each year under [`guard_year`].
fn for_each_year<T: Send>(
    searchers: &[(i32, Searcher)],
    threads: usize,
    work: impl Fn(usize) -> Result<T> + Sync,
) -> Result<Vec<T>> {
    let guarded = |position: usize| guard_year(searchers[position].0, || work(position));
    let threads = threads.min(searchers.len());
    if threads <= 1 {
        return (0..searchers.len()).map(guarded).collect();
    }
    let mut slots: Vec<Option<Result<T>>> = (0..searchers.len()).map(|_| None).collect();
    std::thread::scope(|scope| {
        let guarded = &guarded;
        let handles: Vec<_> = (0..threads)
            .map(|first| {
                scope.spawn(move || {
                    (first..searchers.len())
                        .step_by(threads)
                        .map(|position| (position, guarded(position)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for handle in handles {
            // `guarded` catches panics, so a worker cannot panic.
            if let Ok(results) = handle.join() {
                for (position, result) in results {
                    slots[position] = Some(result);
                }
            }
        }
    });
    slots
        .into_iter()
        .enumerate()
        .map(|(position, slot)| {
            slot.unwrap_or_else(|| {
                Err(Error::Corruption {
                    year: searchers[position].0,
                    detail: "search worker stopped unexpectedly".into(),
                })
            })
        })
        .collect()
}

/// Earliest and latest message date in a searcher (deleted documents included, which
/// only widens the range), or `None` when it holds no document.
fn date_range(searcher: &Searcher) -> tantivy::Result<Option<(i64, i64)>> {
    let mut range: Option<(i64, i64)> = None;
    for segment in searcher.segment_readers() {
        if segment.num_docs() == 0 {
            continue;
        }
        let column = segment.fast_fields().i64(names::DATE)?;
        let min = column.min_value();
        let max = column.max_value();
        range = Some(range.map_or((min, max), |(a, b)| (a.min(min), b.max(max))));
    }
    Ok(range)
}

fn first_str(document: &TantivyDocument, field: Field) -> Option<&str> {
    document.get_first(field).and_then(|value| value.as_str())
}

/// Most terms a prefix of the query is expanded to when [`body_holds_words`] looks for
/// it in one document's body; past that the body is assumed to hold it.
const MAX_PREFIX_TERMS_CHECKED: usize = 64;

/// Whether the body of document `address` holds one of the highlighter's words, or a
/// word starting with one of its prefixes: only then can the body read back from the
/// volume give a snippet. A hit that matched in attachment text, a subject or an
/// address has a body preview without the query's words, and reading its whole body
/// back (decrypt, decompress, parse: about a hundred microseconds) found nothing in it:
/// on the benchmark corpus most read-backs of a common word's hits were such misses.
/// Looking the words up in the body's postings costs a few microseconds. On any error
/// the answer is `true` (read back, as before).
fn body_holds_words(
    searcher: &Searcher,
    address: DocAddress,
    body: Field,
    highlighter: &Highlighter,
) -> bool {
    let check = || -> tantivy::Result<bool> {
        let index = searcher
            .segment_reader(address.segment_ord)
            .inverted_index(body)?;
        // `seek` only moves forward (tantivy asserts `doc() <= target`): postings whose
        // first document lies past this one do not hold it.
        let holds = |postings: &mut SegmentPostings| {
            let first = postings.doc();
            first == address.doc_id
                || (first < address.doc_id && postings.seek(address.doc_id) == address.doc_id)
        };
        let (words, prefixes) = highlighter.words();
        for word in words {
            let term = Term::from_field_text(body, word);
            if let Some(mut postings) = index.read_postings(&term, IndexRecordOption::Basic)?
                && holds(&mut postings)
            {
                return Ok(true);
            }
        }
        for prefix in prefixes {
            let mut stream = index.terms().range().ge(prefix.as_bytes()).into_stream()?;
            let mut expanded = 0;
            while stream.advance() && stream.key().starts_with(prefix.as_bytes()) {
                expanded += 1;
                if expanded > MAX_PREFIX_TERMS_CHECKED {
                    return Ok(true);
                }
                let mut postings =
                    index.read_postings_from_terminfo(stream.value(), IndexRecordOption::Basic)?;
                if holds(&mut postings) {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    };
    check().unwrap_or(true)
}

/// The hit shown for `document`, and whether its snippet should come from its body read
/// back from the volume ([`read_back_snippet`]): the query has words the stored previews
/// do not show, the body goes on past its preview, the message is small enough to read
/// back and `body_holds_words` (asked last, only then; `None` without a read-back source
/// or when the query has no words looked for in bodies) says the body holds one of them.
/// The snippet returned is what the hit shows without a read-back.
fn hit(
    year: i32,
    document: &TantivyDocument,
    fields: &Fields,
    highlighter: &Highlighter,
    body_holds_words: Option<&dyn Fn() -> bool>,
    score: f32,
) -> (Hit, bool) {
    let seq = document
        .get_first(fields.seq)
        .and_then(|v| v.as_u64())
        .unwrap_or_default();
    let received = document
        .get_first(fields.received)
        .and_then(|v| v.as_i64())
        .unwrap_or_default();
    let subject = first_str(document, fields.subject).map(str::to_string);
    let preview = first_str(document, fields.body_preview).unwrap_or_default();
    let attachment_text = first_str(document, fields.attachment_preview).unwrap_or_default();
    let first_u64 = |field| document.get_first(field).and_then(|v| v.as_u64());
    // The body goes on past its preview, and the message is small enough to read back.
    let body_beyond_preview = first_u64(fields.body_bytes)
        .is_some_and(|bytes| bytes > preview.len() as u64)
        && first_u64(fields.size).is_some_and(|size| size <= MAX_READ_BACK_BYTES);
    let mut pending = false;
    // Highlighting works on arbitrary message text; should it ever fail on some text,
    // the hit keeps a plain snippet instead of failing the whole search.
    let highlighted = std::panic::catch_unwind(AssertUnwindSafe(|| {
        // The attachment preview comes before a read-back: a message with attachments
        // is the costly kind to read back (its whole stored content is read, decrypted
        // and parsed, attachments included, to reach its body), and a highlighted match
        // in its attachment text shows why it matched as well as one in its body.
        let stored = highlighter
            .snippet(preview)
            .or_else(|| highlighter.snippet(attachment_text));
        if stored.is_none() && body_beyond_preview {
            pending = body_holds_words.is_some_and(|holds| holds());
        }
        stored.or_else(|| subject.as_deref().and_then(|s| highlighter.snippet(s)))
    }))
    .unwrap_or_else(|_| {
        tracing::warn!(
            year,
            seq,
            "snippet highlighting failed; plain snippet shown"
        );
        None
    });
    let snippet = highlighted.unwrap_or_else(|| {
        if preview.trim().is_empty() {
            snippet::plain(attachment_text)
        } else {
            snippet::plain(preview)
        }
    });
    let hit = Hit {
        id: MessageId::new(year, seq),
        received,
        date: document
            .get_first(fields.header_date)
            .and_then(|v| v.as_i64()),
        from: first_str(document, fields.from_display)
            .unwrap_or_default()
            .to_string(),
        to: document
            .get_all(fields.to_display)
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        subject,
        snippet,
        mailboxes: document
            .get_all(fields.mailbox)
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        attachments: document
            .get_first(fields.attachment_count)
            .and_then(|v| v.as_u64())
            .map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX)),
        score,
    };
    (hit, pending)
}

/// The snippet of message `id` highlighted in its body read back from `source`, or
/// `None` when the body cannot be read or does not show the words after all. A panic of
/// the highlighter is contained as in [`hit`].
fn read_back_snippet(
    source: &dyn HitText,
    id: MessageId,
    highlighter: &Highlighter,
) -> Option<String> {
    std::panic::catch_unwind(AssertUnwindSafe(|| highlighter.snippet(&source.body(id)?)))
        .unwrap_or_else(|_| {
            tracing::warn!(
                year = id.year,
                seq = id.seq,
                "snippet highlighting failed; plain snippet shown"
            );
            None
        })
}

#[cfg(test)]
mod tests {
    use coffer_model::{Address, MessageDoc, MessageId};

    use super::*;

    /// The fields left out of queries are exactly those without a term: an index of
    /// one message with a sender, a recipient and a body holds no envelope, Bcc,
    /// Message-ID or mailbox, and the answer follows the next commit.
    #[test]
    fn indexed_fields_are_those_holding_terms_at_the_last_commit() {
        let dir = tempfile::tempdir().expect("temp dir");
        let set = IndexSet::open(dir.path()).expect("opens");
        let address = |email: &str| Address {
            name: None,
            email: email.into(),
        };
        let mut doc = MessageDoc {
            id: MessageId { year: 2024, seq: 1 },
            from: vec![address("alice@example.com")],
            to: vec![address("bob@example.com")],
            body: "quarterly report".into(),
            ..MessageDoc::default()
        };
        set.add(&doc).expect("adds");
        set.commit(2024, 1).expect("commits");
        let fields = &set.schema.fields;
        let indexed = |set: &IndexSet| {
            let (_, indexed) = set
                .searchers_within(&QueryAst::All.date_bounds())
                .expect("searchers");
            indexed
        };
        let first = indexed(&set);
        for held in [fields.from, fields.to, fields.body, fields.has_attachment] {
            assert!(first.contains(held), "{held:?}");
        }
        for empty in [
            fields.envelope,
            fields.bcc,
            fields.participant,
            fields.message_id,
            fields.mailbox,
            fields.mailbox_domain,
            fields.flag,
            fields.attachment,
        ] {
            assert!(!first.contains(empty), "{empty:?}");
        }

        doc.id.seq = 2;
        doc.envelope_recipients = vec!["carol@example.com".into()];
        set.add(&doc).expect("adds");
        set.commit(2024, 2).expect("commits");
        let second = indexed(&set);
        // An envelope recipient in neither To nor Cc is a Bcc too (see the schema).
        assert!(second.contains(fields.envelope) && second.contains(fields.bcc));
        assert!(!second.contains(fields.mailbox));
    }

    /// Whether a body holds a word is answered right for every document, before, at and
    /// after the word's postings in its segment, for words and prefixes. Before the fix,
    /// a document before a word's first posting in its segment made tantivy's `seek`
    /// fail its `doc() <= target` assertion (in debug builds; the hit's snippet fell back
    /// to plain text, varying with how documents were laid out in segments).
    #[test]
    fn body_holds_words_for_every_document_of_every_segment() {
        let dir = tempfile::tempdir().expect("temp dir");
        let set = IndexSet::open(dir.path()).expect("opens");
        let words = [
            "apple", "brick", "cider", "delta", "ember", "fjord", "grain", "hazel", "igloo",
            "jumbo",
        ];
        for (seq, word) in (1u64..).zip(words) {
            let doc = MessageDoc {
                id: MessageId { year: 2024, seq },
                body: format!("{word} shared words"),
                ..MessageDoc::default()
            };
            set.add(&doc).expect("adds");
        }
        set.commit(2024, words.len() as u64).expect("commits");
        let (searchers, _) = set
            .searchers_within(&QueryAst::All.date_bounds())
            .expect("searchers");
        let searcher = &searchers[0].1;
        let fields = &set.schema.fields;
        // Ten documents from a writer of a few threads: some segment holds several, so
        // some document lies before another's only posting in its segment.
        assert!(
            searcher.segment_readers().iter().any(|r| r.max_doc() >= 2),
            "a segment of several documents"
        );
        let mut checked = 0;
        for (segment_ord, reader) in searcher.segment_readers().iter().enumerate() {
            for doc_id in 0..reader.max_doc() {
                let address = DocAddress::new(segment_ord as u32, doc_id);
                let document: TantivyDocument = searcher.doc(address).expect("doc");
                let seq = document
                    .get_first(fields.seq)
                    .and_then(|v| v.as_u64())
                    .expect("seq");
                for (word_seq, word) in (1u64..).zip(words) {
                    for query in [word.to_string(), format!("{}*", &word[..3])] {
                        let highlighter = Highlighter::new(&parse_query(&query).expect("parses"));
                        assert_eq!(
                            body_holds_words(searcher, address, fields.body, &highlighter),
                            word_seq == seq,
                            "{query} in message {seq}"
                        );
                        checked += 1;
                    }
                }
            }
        }
        assert_eq!(checked, 2 * words.len() * words.len());
    }

    #[test]
    fn a_panic_on_one_year_is_that_year_s_corruption() {
        let result: Result<()> = guard_year(2021, || panic!("damaged column"));
        match result {
            Err(Error::Corruption { year: 2021, .. }) => {}
            other => panic!("expected corruption of 2021, got {other:?}"),
        }
        assert_eq!(guard_year(2021, || Ok(7)).ok(), Some(7));
    }

    #[test]
    fn indexed_fields_as_a_set() {
        let mut set = IndexedFields::NONE;
        let (a, b) = (Field::from_field_id(3), Field::from_field_id(40));
        assert!(!set.contains(a));
        set.insert(a);
        assert!(set.contains(a) && !set.contains(b));
        let mut other = IndexedFields::NONE;
        other.insert(b);
        let both = set.union(other);
        assert!(both.contains(a) && both.contains(b));
        // Beyond the bit set: always taken to hold terms (never wrongly left out).
        assert!(IndexedFields::NONE.contains(Field::from_field_id(64)));
        assert!(IndexedFields::ALL.contains(b));
    }
}
