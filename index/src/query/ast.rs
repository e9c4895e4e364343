//! The parsed form of a query: what the user asked for, with no index types in it, so
//! it can be tested, printed (for the audit trail) and compiled against any backend.

use std::fmt;

use chrono::{Datelike, NaiveDate};
use coffer_model::MessageFlags;

/// A parsed query. Build one with [`parse_query`](super::parse_query).
///
/// Semantics are set semantics over the messages in the caller's scope: `And` is an
/// intersection, `Or` a union and `Not` the complement (so `-spam` alone means "every
/// message in scope except those matching `spam`").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryAst {
    /// `*`: every message.
    All,
    /// A word, prefix or phrase, in one field or in the default fields.
    Text(TextQuery),
    /// `has:attachment`: the message has at least one attachment.
    HasAttachment,
    /// `flag:NAME`: the message carries this flag (see [`MessageFlags::NAMES`]).
    Flag(MessageFlags),
    /// `after:` `before:` `during:` on the message's own date.
    Date(DateFilter),
    /// `size>N` and friends, on the size of the original bytes.
    Size(SizeFilter),
    /// Every sub-query matches (at least two, flattened).
    And(Vec<QueryAst>),
    /// At least one sub-query matches (at least two, flattened).
    Or(Vec<QueryAst>),
    /// The sub-query does not match.
    Not(Box<QueryAst>),
}

/// A word, prefix or phrase to find in text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextQuery {
    /// The field; `None` searches the default fields (participants, subject, body,
    /// attachment text and attachment file names).
    pub field: Option<TextField>,
    /// The text as typed (without the `*` of a prefix or the quotes of a phrase).
    pub text: String,
    /// How the text matches.
    pub kind: TextKind,
}

/// How a [`TextQuery`] matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextKind {
    /// A bare word. When the word splits into several tokens (`e-mail`, `東京`) the
    /// tokens must appear next to each other, as in a phrase.
    Word,
    /// `word*`: any token starting with the text.
    Prefix,
    /// `"a phrase"`: the tokens appear consecutively, in order, in one field.
    Phrase,
}

/// The searchable text fields, by their query-language names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TextField {
    /// `from:` the From header (addresses and display names).
    From,
    /// `to:` the To header.
    To,
    /// `cc:` the Cc header.
    Cc,
    /// `bcc:` the Bcc header, and envelope recipients that are in neither To nor Cc.
    Bcc,
    /// `envelope:` the envelope recipients (RCPT TO, or a journal report's list).
    Envelope,
    /// `participant:` any address of the message (From, Sender, To, Cc, Bcc,
    /// Delivered-To, envelope recipients).
    Participant,
    /// `subject:` the Subject.
    Subject,
    /// `body:` the body text.
    Body,
    /// `attachment:` text extracted from attachments.
    Attachment,
    /// `filename:` attachment file names.
    Filename,
    /// `mailbox:` the archive mailboxes the message belongs to (an address, or a
    /// domain when the value has no `@`).
    Mailbox,
    /// `message-id:` the Message-ID header (with or without angle brackets).
    MessageId,
}

impl TextField {
    /// Every text field, in a stable order.
    pub const ALL: [TextField; 12] = [
        TextField::From,
        TextField::To,
        TextField::Cc,
        TextField::Bcc,
        TextField::Envelope,
        TextField::Participant,
        TextField::Subject,
        TextField::Body,
        TextField::Attachment,
        TextField::Filename,
        TextField::Mailbox,
        TextField::MessageId,
    ];

    /// The name used in queries (`from`, `message-id`, ...).
    pub fn name(self) -> &'static str {
        match self {
            TextField::From => "from",
            TextField::To => "to",
            TextField::Cc => "cc",
            TextField::Bcc => "bcc",
            TextField::Envelope => "envelope",
            TextField::Participant => "participant",
            TextField::Subject => "subject",
            TextField::Body => "body",
            TextField::Attachment => "attachment",
            TextField::Filename => "filename",
            TextField::Mailbox => "mailbox",
            TextField::MessageId => "message-id",
        }
    }

    /// The field with this query-language name (lowercase).
    pub fn from_name(name: &str) -> Option<TextField> {
        TextField::ALL.into_iter().find(|f| f.name() == name)
    }
}

/// A date filter on the message's own date (the Date header, or the receive time when
/// the message has none). Days are UTC days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateFilter {
    /// Which side of the period matches.
    pub op: DateOp,
    /// The period: a year, a month or a day.
    pub period: Period,
}

/// The three date operators, following the common mail-search convention (Gmail's):
/// `after:P` is *on or after the start of P* (so `after:2024-01-31` includes January
/// 31), `before:P` is *strictly before the start of P*. `after:X before:Y` is therefore
/// the half-open range `[X, Y)`, and `before:X` / `after:X` split the timeline with no
/// gap and no overlap. `during:P` is the whole period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateOp {
    /// `after:P`: date ≥ start of P.
    After,
    /// `before:P`: date < start of P.
    Before,
    /// `during:P`: start of P ≤ date < end of P.
    During,
}

impl DateOp {
    /// The query-language keyword.
    pub fn name(self) -> &'static str {
        match self {
            DateOp::After => "after",
            DateOp::Before => "before",
            DateOp::During => "during",
        }
    }
}

/// A calendar period: a year, a month of a year, or a day. Always a valid date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    start: NaiveDate,
    precision: Precision,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Precision {
    Year,
    Month,
    Day,
}

impl Period {
    /// The year `year` (1000..=9999).
    pub fn year(year: i32) -> Option<Period> {
        Period::checked(year, 1, 1, Precision::Year)
    }

    /// A month.
    pub fn month(year: i32, month: u32) -> Option<Period> {
        Period::checked(year, month, 1, Precision::Month)
    }

    /// A day.
    pub fn day(year: i32, month: u32, day: u32) -> Option<Period> {
        Period::checked(year, month, day, Precision::Day)
    }

    fn checked(year: i32, month: u32, day: u32, precision: Precision) -> Option<Period> {
        if !(1000..=9999).contains(&year) {
            return None;
        }
        let start = NaiveDate::from_ymd_opt(year, month, day)?;
        Some(Period { start, precision })
    }

    /// Unix seconds of the first instant of the period (UTC).
    pub fn start(&self) -> i64 {
        midnight_utc(self.start)
    }

    /// Unix seconds of the first instant after the period (UTC).
    pub fn end(&self) -> i64 {
        let next = match self.precision {
            Precision::Year => NaiveDate::from_ymd_opt(self.start.year() + 1, 1, 1),
            Precision::Month => {
                if self.start.month() == 12 {
                    NaiveDate::from_ymd_opt(self.start.year() + 1, 1, 1)
                } else {
                    NaiveDate::from_ymd_opt(self.start.year(), self.start.month() + 1, 1)
                }
            }
            Precision::Day => self.start.succ_opt(),
        };
        // Years are at most 9999, so the next period always exists; a day later is a
        // safe fallback that can only widen nothing (it is never reached).
        next.map(midnight_utc)
            .unwrap_or_else(|| self.start() + 86_400)
    }
}

fn midnight_utc(date: NaiveDate) -> i64 {
    date.and_hms_opt(0, 0, 0)
        .map(|dt| dt.and_utc().timestamp())
        .unwrap_or_default()
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.precision {
            Precision::Year => write!(f, "{:04}", self.start.year()),
            Precision::Month => write!(f, "{:04}-{:02}", self.start.year(), self.start.month()),
            Precision::Day => write!(
                f,
                "{:04}-{:02}-{:02}",
                self.start.year(),
                self.start.month(),
                self.start.day()
            ),
        }
    }
}

impl DateFilter {
    /// The half-open range `[lower, upper)` of Unix seconds this filter admits;
    /// `None` is unbounded.
    pub fn bounds(&self) -> (Option<i64>, Option<i64>) {
        match self.op {
            DateOp::After => (Some(self.period.start()), None),
            DateOp::Before => (None, Some(self.period.start())),
            DateOp::During => (Some(self.period.start()), Some(self.period.end())),
        }
    }
}

/// A size comparison on the size in bytes of the original message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SizeFilter {
    /// The comparison.
    pub op: SizeOp,
    /// The size in bytes (units already applied: k = 1024, M = 1024², G = 1024³).
    pub bytes: u64,
}

/// Size comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeOp {
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `<`
    Lt,
    /// `<=`
    Le,
}

impl SizeOp {
    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        match self {
            SizeOp::Gt => ">",
            SizeOp::Ge => ">=",
            SizeOp::Lt => "<",
            SizeOp::Le => "<=",
        }
    }
}

impl SizeFilter {
    /// The inclusive range of sizes this filter admits, or `None` when it admits none
    /// (`size<0`, `size>18446744073709551615`).
    pub fn inclusive_range(&self) -> Option<(u64, u64)> {
        match self.op {
            SizeOp::Gt => self.bytes.checked_add(1).map(|low| (low, u64::MAX)),
            SizeOp::Ge => Some((self.bytes, u64::MAX)),
            SizeOp::Lt => self.bytes.checked_sub(1).map(|high| (0, high)),
            SizeOp::Le => Some((0, self.bytes)),
        }
    }
}

/// The interval `[lower, upper)` of message dates (Unix seconds) outside which a query
/// cannot match; `None` is unbounded. Used to skip whole yearly indexes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DateBounds {
    /// Inclusive lower bound.
    pub lower: Option<i64>,
    /// Exclusive upper bound.
    pub upper: Option<i64>,
}

impl DateBounds {
    /// Whether a message dated in `[min, max]` (inclusive) could match.
    pub fn overlaps(&self, min: i64, max: i64) -> bool {
        self.lower.is_none_or(|lower| max >= lower) && self.upper.is_none_or(|upper| min < upper)
    }

    /// Whether no date can match.
    pub fn is_empty(&self) -> bool {
        matches!((self.lower, self.upper), (Some(lower), Some(upper)) if lower >= upper)
    }

    fn intersect(self, other: DateBounds) -> DateBounds {
        DateBounds {
            lower: match (self.lower, other.lower) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            },
            upper: match (self.upper, other.upper) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
        }
    }

    fn hull(self, other: DateBounds) -> DateBounds {
        DateBounds {
            lower: match (self.lower, other.lower) {
                (Some(a), Some(b)) => Some(a.min(b)),
                _ => None,
            },
            upper: match (self.upper, other.upper) {
                (Some(a), Some(b)) => Some(a.max(b)),
                _ => None,
            },
        }
    }
}

impl QueryAst {
    /// Levels of AND, OR and NOT from the root to the deepest clause (a single clause is
    /// 0): the nesting of the query's canonical form.
    pub fn depth(&self) -> usize {
        match self {
            QueryAst::And(children) | QueryAst::Or(children) => {
                1 + children.iter().map(QueryAst::depth).max().unwrap_or(0)
            }
            QueryAst::Not(child) => 1 + child.depth(),
            _ => 0,
        }
    }

    /// The message-date interval every match must fall in (a safe over-approximation:
    /// negations and non-date clauses leave it unbounded).
    pub fn date_bounds(&self) -> DateBounds {
        match self {
            QueryAst::Date(filter) => {
                let (lower, upper) = filter.bounds();
                DateBounds { lower, upper }
            }
            QueryAst::And(children) => children
                .iter()
                .map(QueryAst::date_bounds)
                .fold(DateBounds::default(), DateBounds::intersect),
            QueryAst::Or(children) => {
                let mut bounds = children.iter().map(QueryAst::date_bounds);
                let first = bounds.next().unwrap_or_default();
                bounds.fold(first, DateBounds::hull)
            }
            QueryAst::All
            | QueryAst::Text(_)
            | QueryAst::HasAttachment
            | QueryAst::Flag(_)
            | QueryAst::Size(_)
            | QueryAst::Not(_) => DateBounds::default(),
        }
    }

    /// Whether some positive (not negated) clause searches text, so relevance means
    /// something. A query of filters only (`has:attachment after:2024`) has none.
    pub fn has_scoring_terms(&self) -> bool {
        match self {
            QueryAst::Text(_) => true,
            QueryAst::And(children) | QueryAst::Or(children) => {
                children.iter().any(QueryAst::has_scoring_terms)
            }
            QueryAst::All
            | QueryAst::HasAttachment
            | QueryAst::Flag(_)
            | QueryAst::Date(_)
            | QueryAst::Size(_)
            | QueryAst::Not(_) => false,
        }
    }

    /// Calls `visit` on every text clause that is not under a negation (for
    /// highlighting).
    pub fn for_each_positive_text<'a>(&'a self, visit: &mut dyn FnMut(&'a TextQuery)) {
        match self {
            QueryAst::Text(text) => visit(text),
            QueryAst::And(children) | QueryAst::Or(children) => {
                for child in children {
                    child.for_each_positive_text(visit);
                }
            }
            QueryAst::All
            | QueryAst::HasAttachment
            | QueryAst::Flag(_)
            | QueryAst::Date(_)
            | QueryAst::Size(_)
            | QueryAst::Not(_) => {}
        }
    }
}

/// Prints the canonical form of the query, which parses back to the same AST (groups
/// are always parenthesized). Suitable for the audit trail.
impl fmt::Display for QueryAst {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueryAst::All => f.write_str("*"),
            QueryAst::Text(text) => {
                if let Some(field) = text.field {
                    write!(f, "{}:", field.name())?;
                }
                match text.kind {
                    TextKind::Word => f.write_str(&text.text),
                    TextKind::Prefix => write!(f, "{}*", text.text),
                    TextKind::Phrase => {
                        f.write_str("\"")?;
                        for c in text.text.chars() {
                            if c == '"' || c == '\\' {
                                f.write_str("\\")?;
                            }
                            write!(f, "{c}")?;
                        }
                        f.write_str("\"")
                    }
                }
            }
            QueryAst::HasAttachment => f.write_str("has:attachment"),
            QueryAst::Flag(flag) => {
                let name = MessageFlags::NAMES
                    .iter()
                    .find(|(candidate, _)| candidate == flag)
                    .map(|(_, name)| *name)
                    .unwrap_or("unknown");
                write!(f, "flag:{name}")
            }
            QueryAst::Date(filter) => write!(f, "{}:{}", filter.op.name(), filter.period),
            QueryAst::Size(filter) => write!(f, "size{}{}", filter.op.symbol(), filter.bytes),
            QueryAst::And(children) => write_group(f, children, " AND "),
            QueryAst::Or(children) => write_group(f, children, " OR "),
            QueryAst::Not(child) => write!(f, "NOT {child}"),
        }
    }
}

fn write_group(f: &mut fmt::Formatter<'_>, children: &[QueryAst], separator: &str) -> fmt::Result {
    f.write_str("(")?;
    for (index, child) in children.iter().enumerate() {
        if index > 0 {
            f.write_str(separator)?;
        }
        write!(f, "{child}")?;
    }
    f.write_str(")")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_have_exact_utc_bounds() {
        let year = Period::year(2024).expect("valid");
        assert_eq!(year.start(), 1_704_067_200); // 2024-01-01T00:00:00Z
        assert_eq!(year.end(), 1_735_689_600); // 2025-01-01T00:00:00Z
        let december = Period::month(2024, 12).expect("valid");
        assert_eq!(december.end(), 1_735_689_600);
        let leap_day = Period::day(2024, 2, 29).expect("valid");
        assert_eq!(leap_day.end() - leap_day.start(), 86_400);
        assert!(Period::day(2023, 2, 29).is_none());
        assert!(Period::year(999).is_none());
    }

    #[test]
    fn size_ranges_handle_edges() {
        let lt0 = SizeFilter {
            op: SizeOp::Lt,
            bytes: 0,
        };
        assert_eq!(lt0.inclusive_range(), None);
        let gt = SizeFilter {
            op: SizeOp::Gt,
            bytes: 10,
        };
        assert_eq!(gt.inclusive_range(), Some((11, u64::MAX)));
        let le = SizeFilter {
            op: SizeOp::Le,
            bytes: 10,
        };
        assert_eq!(le.inclusive_range(), Some((0, 10)));
    }

    #[test]
    fn date_bounds_intersect_and_hull() {
        let during = |y| {
            QueryAst::Date(DateFilter {
                op: DateOp::During,
                period: Period::year(y).expect("valid"),
            })
        };
        let and = QueryAst::And(vec![during(2024), QueryAst::All]);
        assert_eq!(and.date_bounds().lower, Some(1_704_067_200));
        let or = QueryAst::Or(vec![during(2020), during(2024)]);
        let bounds = or.date_bounds();
        assert!(bounds.overlaps(1_600_000_000, 1_600_000_000)); // 2020
        assert!(!bounds.overlaps(1_000_000_000, 1_100_000_000)); // 2001..2004
        let or_open = QueryAst::Or(vec![during(2020), QueryAst::All]);
        assert_eq!(or_open.date_bounds(), DateBounds::default());
        let not = QueryAst::Not(Box::new(during(2020)));
        assert_eq!(not.date_bounds(), DateBounds::default());
        let disjoint = QueryAst::And(vec![during(2020), during(2024)]);
        assert!(disjoint.date_bounds().is_empty());
    }
}
