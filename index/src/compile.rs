//! Turns a [`QueryAst`] into a tantivy query over the schema of [`crate::schema`], and
//! builds the scope filter. The same compiled query runs on every yearly index (they
//! share one schema).
//!
//! Set semantics: `NOT x` is "all documents minus `x`", so a conjunction of negations
//! still matches (all minus each), and `a OR NOT b` is `a ∪ (all ∖ b)`.

use std::collections::BTreeSet;
use std::ops::Bound;
use std::sync::Arc;

use coffer_model::{MessageFlags, Scope};
use tantivy::query::{
    AllQuery, AutomatonWeight, BooleanQuery, ConstScoreQuery, EmptyQuery, EnableScoring,
    Explanation, Occur, PhrasePrefixQuery, PhraseQuery, Query, RangeQuery, Scorer, TermQuery,
    TermSetQuery, Weight,
};
use tantivy::schema::{Field, IndexRecordOption, Term};
use tantivy::{DocId, DocSet, Score, SegmentReader};

use crate::analysis::{self, MAX_ADDRESS_BYTES, MAX_WORD_BYTES};
use crate::error::{Error, Result};
use crate::query::{QueryAst, TextField, TextKind, TextQuery};
use crate::schema::{Fields, message_id_term};

/// The fields that hold at least one term in the indexes a query will run on, as a set
/// of field ids (the schema has fewer than 64 fields; a field beyond that is always
/// taken to hold terms).
///
/// A clause on a field that holds no term cannot match, so [`compile`] leaves it out.
/// Why bother: tantivy answers a clause on such a field with an empty term dictionary
/// that it builds on first use in a process (an FST builder of about 1 MB: 0.7 ms,
/// measured in a fresh process), and an imported archive has no envelope recipients,
/// so every one-shot `coffer search` for a plain word paid it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IndexedFields(u64);

impl IndexedFields {
    /// Every field may hold terms (nothing is left out).
    pub(crate) const ALL: IndexedFields = IndexedFields(u64::MAX);
    /// No field holds a term.
    pub(crate) const NONE: IndexedFields = IndexedFields(0);

    /// Adds `field`.
    pub(crate) fn insert(&mut self, field: Field) {
        if let Some(bit) = Self::bit(field) {
            self.0 |= bit;
        }
    }

    /// The fields of either set.
    pub(crate) fn union(self, other: IndexedFields) -> IndexedFields {
        IndexedFields(self.0 | other.0)
    }

    pub(crate) fn contains(self, field: Field) -> bool {
        Self::bit(field).is_none_or(|bit| self.0 & bit != 0)
    }

    fn bit(field: Field) -> Option<u64> {
        1u64.checked_shl(field.field_id())
    }

    /// `query` (which searches `fields` only) if one of `fields` holds terms, else
    /// nothing.
    fn only_in(self, fields: &[Field], query: Box<dyn Query>) -> Box<dyn Query> {
        if fields.iter().any(|field| self.contains(*field)) {
            query
        } else {
            Box::new(EmptyQuery)
        }
    }
}

/// Compiles a parsed query; clauses on fields outside `indexed` are left out (they
/// match nothing). With `hidden` (a custodian's own addresses), the fields that name
/// hidden recipients — `bcc`, `envelope`, `participant` (Delivered-To) and `mailbox` —
/// are searched only for one of those addresses, written out whole: any other value
/// matches nothing there, so no query can tell whether someone else received the
/// message in Bcc. Every prefix clause is noted in `prefixes` (field, prefix term).
pub(crate) fn compile(
    ast: &QueryAst,
    fields: &Fields,
    indexed: IndexedFields,
    hidden: Option<&BTreeSet<String>>,
    prefixes: &mut Vec<(Field, String)>,
) -> Result<Box<dyn Query>> {
    Ok(match ast {
        QueryAst::All => Box::new(AllQuery),
        QueryAst::Text(text) => text_query(text, fields, indexed, hidden, prefixes)?,
        QueryAst::HasAttachment => term(Term::from_field_bool(fields.has_attachment, true)),
        QueryAst::Flag(flag) => {
            let name = MessageFlags::NAMES
                .iter()
                .find(|(candidate, _)| candidate == flag)
                .map(|(_, name)| *name)
                .unwrap_or_default();
            indexed.only_in(
                &[fields.flag],
                term(Term::from_field_text(fields.flag, name)),
            )
        }
        QueryAst::Date(filter) => {
            let (lower, upper) = filter.bounds();
            let bound = |seconds: i64| Term::from_field_i64(fields.date, seconds);
            match (lower, upper) {
                (None, None) => Box::new(AllQuery),
                (lower, upper) => Box::new(RangeQuery::new(
                    lower.map_or(Bound::Unbounded, |s| Bound::Included(bound(s))),
                    upper.map_or(Bound::Unbounded, |s| Bound::Excluded(bound(s))),
                )),
            }
        }
        QueryAst::Size(filter) => match filter.inclusive_range() {
            None => Box::new(EmptyQuery),
            Some((low, high)) => Box::new(RangeQuery::new(
                Bound::Included(Term::from_field_u64(fields.size, low)),
                Bound::Included(Term::from_field_u64(fields.size, high)),
            )),
        },
        QueryAst::And(children) => {
            let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::with_capacity(children.len() + 1);
            for child in children {
                match child {
                    QueryAst::Not(negated) => clauses.push((
                        Occur::MustNot,
                        exclusion(compile(negated, fields, indexed, hidden, prefixes)?),
                    )),
                    positive => clauses.push((
                        Occur::Must,
                        compile(positive, fields, indexed, hidden, prefixes)?,
                    )),
                }
            }
            if clauses.iter().all(|(occur, _)| *occur == Occur::MustNot) {
                clauses.push((Occur::Must, Box::new(AllQuery)));
            }
            Box::new(BooleanQuery::new(clauses))
        }
        QueryAst::Or(children) => {
            let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::with_capacity(children.len());
            for child in children {
                clauses.push((
                    Occur::Should,
                    compile(child, fields, indexed, hidden, prefixes)?,
                ));
            }
            Box::new(BooleanQuery::new(clauses))
        }
        QueryAst::Not(negated) => Box::new(BooleanQuery::new(vec![
            (Occur::Must, Box::new(AllQuery) as Box<dyn Query>),
            (
                Occur::MustNot,
                exclusion(compile(negated, fields, indexed, hidden, prefixes)?),
            ),
        ])),
    })
}

/// Scopes of at most this many terms are filtered by a union of term queries; larger
/// ones (an officer's search over a big group of mailboxes) by one [`TermSetQuery`].
/// A term set builds an FST of its terms for every search and every year (about a
/// million instructions even for one term), while a term query only looks its term
/// up; a union of many term queries in turn costs more than one walk of the set.
/// Measured with `coffer-bench search --mailbox` on the 50,000-message benchmark
/// corpus: one mailbox 1.3 → 0.7 ms, 8 mailboxes 0.57 → 0.41 ms, 32 about equal.
const SCOPE_UNION_MAX_TERMS: usize = 32;

/// The scope filter, or `None` for [`Scope::All`]. Scores nothing (constant 0).
/// A restricted scope with no mailbox and no domain matches nothing, and so does any
/// restricted scope where no message has a mailbox.
pub(crate) fn scope_filter(
    scope: &Scope,
    fields: &Fields,
    indexed: IndexedFields,
) -> Option<Box<dyn Query>> {
    let Scope::Restricted { mailboxes, domains } = scope else {
        return None;
    };
    if !indexed.contains(fields.mailbox) && !indexed.contains(fields.mailbox_domain) {
        return Some(Box::new(EmptyQuery));
    }
    let mut terms: Vec<Term> = mailboxes
        .iter()
        .map(|mailbox| Term::from_field_text(fields.mailbox, &analysis::raw_term(mailbox)))
        .chain(domains.iter().map(|domain| {
            Term::from_field_text(fields.mailbox_domain, &analysis::raw_term(domain))
        }))
        .collect();
    terms.sort_unstable();
    terms.dedup();
    let filter: Box<dyn Query> = if terms.len() > SCOPE_UNION_MAX_TERMS {
        Box::new(TermSetQuery::new(terms))
    } else {
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = terms
            .into_iter()
            .map(|term| {
                let query: Box<dyn Query> =
                    Box::new(TermQuery::new(term, IndexRecordOption::Basic));
                (Occur::Should, query)
            })
            .collect();
        match clauses.len() {
            // Matches nothing, as a restricted scope without mailboxes must.
            0 => Box::new(EmptyQuery),
            1 => clauses.remove(0).1,
            _ => Box::new(BooleanQuery::new(clauses)),
        }
    };
    Some(Box::new(ConstScoreQuery::new(filter, 0.0)))
}

fn term(term: Term) -> Box<dyn Query> {
    Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs))
}

#[derive(Clone, Copy)]
enum Analysis {
    /// Text, in a field without common grams.
    Text,
    /// Text, in a field indexed with common grams (see [`analysis::CommonGrams`]).
    TextWithGrams,
    /// Addresses and display names.
    Address,
}

/// Where a participant is indexed: each address header's own field, and `participant`
/// for those no other field holds (Sender, Delivered-To; see `IndexSchema::document`).
fn participant_targets(fields: &Fields) -> [(Field, Analysis); 6] {
    [
        (fields.from, Analysis::Address),
        (fields.to, Analysis::Address),
        (fields.cc, Analysis::Address),
        (fields.bcc, Analysis::Address),
        (fields.envelope, Analysis::Address),
        (fields.participant, Analysis::Address),
    ]
}

/// Whether `text` names one of `own` addresses whole (not a prefix, a local part or a
/// domain).
fn names_own_address(text: &TextQuery, own: &BTreeSet<String>) -> bool {
    text.kind != TextKind::Prefix
        && own.contains(
            &text
                .text
                .trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_ascii_lowercase(),
        )
}

fn text_query(
    text: &TextQuery,
    fields: &Fields,
    indexed: IndexedFields,
    hidden: Option<&BTreeSet<String>>,
    prefixes: &mut Vec<(Field, String)>,
) -> Result<Box<dyn Query>> {
    // `Some(false)`: the caller may not learn hidden recipients this text names.
    let hidden_allowed = hidden.map(|own| names_own_address(text, own));
    if hidden_allowed == Some(false)
        && matches!(
            text.field,
            Some(TextField::Bcc | TextField::Envelope | TextField::Mailbox)
        )
    {
        return Ok(Box::new(EmptyQuery));
    }
    let mut targets: Vec<(Field, Analysis)> = match text.field {
        None => participant_targets(fields)
            .into_iter()
            .chain([
                (fields.subject, Analysis::TextWithGrams),
                (fields.body, Analysis::TextWithGrams),
                (fields.attachment, Analysis::Text),
                (fields.filename, Analysis::Text),
            ])
            .collect(),
        Some(TextField::From) => vec![(fields.from, Analysis::Address)],
        Some(TextField::To) => vec![(fields.to, Analysis::Address)],
        Some(TextField::Cc) => vec![(fields.cc, Analysis::Address)],
        Some(TextField::Bcc) => vec![(fields.bcc, Analysis::Address)],
        Some(TextField::Envelope) => vec![(fields.envelope, Analysis::Address)],
        Some(TextField::Participant) => participant_targets(fields).to_vec(),
        Some(TextField::Subject) => vec![(fields.subject, Analysis::TextWithGrams)],
        Some(TextField::Body) => vec![(fields.body, Analysis::TextWithGrams)],
        Some(TextField::Attachment) => vec![(fields.attachment, Analysis::Text)],
        Some(TextField::Filename) => vec![(fields.filename, Analysis::Text)],
        Some(TextField::Mailbox) => {
            let query = mailbox_query(text, fields, prefixes);
            return Ok(indexed.only_in(&[fields.mailbox, fields.mailbox_domain], query));
        }
        Some(TextField::MessageId) => {
            let value = message_id_term(&text.text);
            let query = match text.kind {
                TextKind::Prefix => prefix_query(fields.message_id, &value, prefixes)?,
                TextKind::Word | TextKind::Phrase => {
                    term(Term::from_field_text(fields.message_id, &value))
                }
            };
            return Ok(indexed.only_in(&[fields.message_id], query));
        }
    };
    if hidden_allowed == Some(false) {
        let hidden_fields = [fields.bcc, fields.envelope, fields.participant];
        targets.retain(|(field, _)| !hidden_fields.contains(field));
    }
    let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::with_capacity(targets.len());
    for (field, analysis) in targets {
        // Analysed even when the field holds no term, so that a bad word is an error
        // whatever the index holds.
        if let Some(query) = field_query(field, analysis, text, prefixes)?
            && indexed.contains(field)
        {
            clauses.push((Occur::Should, query));
        }
    }
    Ok(match clauses.len() {
        0 => Box::new(EmptyQuery),
        1 => clauses
            .pop()
            .map(|(_, query)| query)
            .unwrap_or_else(|| Box::new(EmptyQuery)),
        _ => Box::new(BooleanQuery::new(clauses)),
    })
}

fn mailbox_query(
    text: &TextQuery,
    fields: &Fields,
    prefixes: &mut Vec<(Field, String)>,
) -> Box<dyn Query> {
    let value = analysis::raw_term(&text.text);
    let value = value.trim_start_matches('@').to_string();
    match text.kind {
        TextKind::Prefix => {
            prefix_query(fields.mailbox, &value, prefixes).unwrap_or_else(|_| Box::new(EmptyQuery))
        }
        TextKind::Word | TextKind::Phrase if value.contains('@') => {
            term(Term::from_field_text(fields.mailbox, &value))
        }
        TextKind::Word | TextKind::Phrase => Box::new(BooleanQuery::new(vec![
            (
                Occur::Should,
                term(Term::from_field_text(fields.mailbox, &value)),
            ),
            (
                Occur::Should,
                term(Term::from_field_text(fields.mailbox_domain, &value)),
            ),
        ])),
    }
}

/// The query for `text` in one field, or `None` when the text yields no term there.
fn field_query(
    field: Field,
    analysis: Analysis,
    text: &TextQuery,
    prefixes: &mut Vec<(Field, String)>,
) -> Result<Option<Box<dyn Query>>> {
    let (terms, limit) = match analysis {
        Analysis::Text | Analysis::TextWithGrams => {
            (analysis::text_terms(&text.text), MAX_WORD_BYTES)
        }
        Analysis::Address => (analysis::address_query_terms(&text.text), MAX_ADDRESS_BYTES),
    };
    if let Some(long) = terms.iter().find(|t| t.len() > limit) {
        let shown: String = long.chars().take(20).collect();
        return Err(Error::InvalidRequest(format!(
            "the word '{shown}…' is longer than {limit} bytes; words that long are not indexed"
        )));
    }
    if terms.len() == 1 && text.kind == TextKind::Prefix {
        return prefix_query(field, &terms[0], prefixes).map(Some);
    }
    if terms.len() > 1
        && text.kind != TextKind::Prefix
        && matches!(analysis, Analysis::TextWithGrams)
    {
        let mut with_grams: Vec<(usize, Term)> = analysis::phrase_with_grams(&terms)
            .into_iter()
            .map(|(offset, t)| (offset, Term::from_field_text(field, &t)))
            .collect();
        return Ok(Some(if with_grams.len() == 1 {
            let (_, only) = with_grams.remove(0);
            term(only)
        } else {
            Box::new(PhraseQuery::new_with_offset(with_grams))
        }));
    }
    let mut terms: Vec<Term> = terms
        .iter()
        .map(|t| Term::from_field_text(field, t))
        .collect();
    Ok(match (terms.len(), text.kind) {
        (0, _) => None,
        (1, _) => terms.pop().map(term),
        (_, TextKind::Prefix) => {
            let mut query = PhrasePrefixQuery::new(terms);
            query.set_max_expansions(10_000);
            Some(Box::new(query))
        }
        (_, _) => Some(Box::new(PhraseQuery::new(terms))),
    })
}

/// Every term of `field` starting with `prefix` (all of them: no expansion cap).
/// A prefix query, noted in `prefixes` so that the search can bound its expansion
/// before it runs ([`crate::limits::check_prefix_expansion`]).
fn prefix_query(
    field: Field,
    prefix: &str,
    prefixes: &mut Vec<(Field, String)>,
) -> Result<Box<dyn Query>> {
    prefixes.push((field, prefix.to_string()));
    Ok(Box::new(PrefixQuery {
        field,
        prefix: Arc::new(StartsWith(prefix.as_bytes().to_vec())),
    }))
}

/// The terms of one field that start with a prefix, each matching with a constant
/// score (as tantivy's `RegexQuery` scores). Until issue 22's fuzzing this was a
/// `RegexQuery` of the escaped prefix followed by `.*`, which compiles a regular
/// expression into a DFA for every field of every search: 78% of the query fuzz
/// target's time. A prefix needs no regular expression: the term dictionary (an FST) is
/// walked with [`StartsWith`], which tantivy's own `AutomatonWeight` takes.
#[derive(Debug, Clone)]
struct PrefixQuery {
    field: Field,
    prefix: Arc<StartsWith>,
}

impl Query for PrefixQuery {
    fn weight(&self, _scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(AutomatonWeight::<StartsWith>::new(
            self.field,
            Arc::clone(&self.prefix),
        )))
    }
}

/// An automaton over term bytes that accepts every term starting with the given bytes.
/// Written here because the one in `tantivy-fst` (`Str::starts_with`) borrows its string
/// and its state is not `Clone`, both of which `AutomatonWeight` requires.
#[derive(Debug)]
struct StartsWith(Vec<u8>);

impl tantivy_fst::Automaton for StartsWith {
    /// How many bytes of the prefix were matched so far; `None` once a byte differed.
    type State = Option<usize>;

    fn start(&self) -> Option<usize> {
        Some(0)
    }

    fn is_match(&self, state: &Option<usize>) -> bool {
        *state == Some(self.0.len())
    }

    fn can_match(&self, state: &Option<usize>) -> bool {
        state.is_some()
    }

    fn will_always_match(&self, state: &Option<usize>) -> bool {
        self.is_match(state)
    }

    fn accept(&self, state: &Option<usize>, byte: u8) -> Option<usize> {
        match *state {
            Some(matched) if matched == self.0.len() => Some(matched),
            Some(matched) if self.0[matched] == byte => Some(matched + 1),
            _ => None,
        }
    }
}

/// Wraps the query of a `MustNot` clause. tantivy's exclusion probes the excluded
/// scorer with each candidate document, which may lie *before* the scorer's current
/// document; some scorers (phrases) assert against such backward probes in debug
/// builds. This wrapper answers a backward probe from its current position and only
/// ever moves the inner scorer forward, which is what the `DocSet` contract allows.
fn exclusion(query: Box<dyn Query>) -> Box<dyn Query> {
    Box::new(ForwardOnly(query))
}

#[derive(Debug)]
struct ForwardOnly(Box<dyn Query>);

impl Clone for ForwardOnly {
    fn clone(&self) -> Self {
        ForwardOnly(self.0.box_clone())
    }
}

impl Query for ForwardOnly {
    fn weight(&self, enable_scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(ForwardOnlyWeight(self.0.weight(enable_scoring)?)))
    }

    fn query_terms<'a>(&'a self, visitor: &mut dyn FnMut(&'a Term, bool)) {
        self.0.query_terms(visitor);
    }
}

struct ForwardOnlyWeight(Box<dyn Weight>);

impl Weight for ForwardOnlyWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        Ok(Box::new(ForwardOnlyScorer(self.0.scorer(reader, boost)?)))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        self.0.explain(reader, doc)
    }
}

struct ForwardOnlyScorer(Box<dyn Scorer>);

impl DocSet for ForwardOnlyScorer {
    fn advance(&mut self) -> DocId {
        self.0.advance()
    }

    fn seek(&mut self, target: DocId) -> DocId {
        let current = self.0.doc();
        if current >= target {
            current
        } else {
            self.0.seek(target)
        }
    }

    // `seek_danger` keeps the default implementation, which calls `seek` above.

    fn doc(&self) -> DocId {
        self.0.doc()
    }

    fn size_hint(&self) -> u32 {
        self.0.size_hint()
    }

    fn cost(&self) -> u64 {
        self.0.cost()
    }
}

impl Scorer for ForwardOnlyScorer {
    fn score(&mut self) -> Score {
        self.0.score()
    }
}

#[cfg(test)]
mod tests {
    use tantivy_fst::Automaton;

    use super::StartsWith;

    fn accepts(automaton: &StartsWith, term: &str) -> bool {
        let mut state = automaton.start();
        for byte in term.bytes() {
            if !automaton.can_match(&state) {
                return false;
            }
            state = automaton.accept(&state, byte);
        }
        automaton.is_match(&state)
    }

    #[test]
    fn starts_with_accepts_exactly_the_terms_with_the_prefix() {
        let terv = StartsWith(b"terv".to_vec());
        for term in ["terv", "tervan", "terv\u{e9}ny"] {
            assert!(accepts(&terv, term), "{term}");
        }
        for term in ["ter", "tarv", "atervan", ""] {
            assert!(!accepts(&terv, term), "{term}");
        }
        let multibyte = StartsWith("東京".as_bytes().to_vec());
        assert!(accepts(&multibyte, "東京都"));
        assert!(!accepts(&multibyte, "東"));
        assert!(!accepts(&multibyte, "京都"));
        let empty = StartsWith(Vec::new());
        assert!(accepts(&empty, ""));
        assert!(accepts(&empty, "anything"));
        assert!(empty.will_always_match(&empty.start()));
    }
}
