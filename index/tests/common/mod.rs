//! Shared fixtures for the index integration tests: a deterministic corpus of messages
//! with known contents, and an oracle that evaluates queries on those contents with
//! plain Rust (no index, no crate analyzers), so expected answers are independent of
//! the code under test.

#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeSet;

use chrono::{NaiveDate, TimeZone, Utc};
use coffer_index::{IndexSet, SearchRequest, Sort};
use coffer_model::{Address, AttachmentDoc, MessageDoc, MessageFlags, MessageId, Scope, Sha256};
pub use coffer_testkit::rng::SplitMix64;

pub const PEOPLE: [(&str, &str); 8] = [
    ("Alice Smith", "alice.smith@acme.example"),
    ("Bob Jones", "bob@acme.example"),
    ("Carol Diaz", "carol@globex.example"),
    ("", "dave+news@globex.example"),
    ("Eve Mueller", "eve@initech.example"),
    ("Frank Smith", "frank@sub.initech.example"),
    ("Grace Hopper", "grace_h@acme.example"),
    ("", "heidi@globex.example"),
];

/// Domains archived by this test installation: their addresses become mailboxes.
pub const ARCHIVED_DOMAINS: [&str; 2] = ["acme.example", "globex.example"];

pub const WORDS: [&str; 24] = [
    "budget",
    "merger",
    "forecast",
    "invoice",
    "contract",
    "meeting",
    "lunch",
    "project",
    "deadline",
    "review",
    "quarterly",
    "report",
    "confidential",
    "salary",
    "bonus",
    "audit",
    "shipment",
    "release",
    "draft",
    "approval",
    "budgetary",
    "plan",
    "offsite",
    "vendor",
];

/// Sentences dense in very common words (indexed with common grams), some with
/// punctuation between the words.
pub const COMMON_SENTENCES: [&str; 6] = [
    "It is in the plan of the vendor.",
    "We will send it to you by the end of the day.",
    "Some of the budget is for the offsite, and the rest of it is not.",
    "Of. The. Of the. To be or not to be.",
    "The review of",
    "the contract is at the end of the file",
];

pub const FILENAMES: [&str; 6] = [
    "Q3_report.pdf",
    "budget-2024.xlsx",
    "contract_final.docx",
    "photo.jpg",
    "minutes.txt",
    "invoice 1234.pdf",
];

pub fn address(person: (&str, &str)) -> Address {
    Address {
        name: (!person.0.is_empty()).then(|| person.0.to_string()),
        email: person.1.to_string(),
    }
}

fn sentence(rng: &mut SplitMix64, len: usize) -> String {
    (0..len)
        .map(|_| *rng.pick(&WORDS))
        .collect::<Vec<_>>()
        .join(" ")
}

fn midnight(year: i32, month: u32, day: u32) -> i64 {
    let date = NaiveDate::from_ymd_opt(year, month, day).expect("valid date");
    Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0).expect("valid time"))
        .timestamp()
}

/// `n` messages over receive years 2022..=2025 with varied fields.
pub fn corpus(n: usize) -> Vec<MessageDoc> {
    let mut rng = SplitMix64::new(7);
    let mut seqs = [0u64; 4];
    let mut docs = Vec::with_capacity(n);
    for i in 0..n {
        let year_index = i % 4;
        let year = 2022 + year_index as i32;
        seqs[year_index] += 1;
        let received = midnight(year, 1, 1) + (i as i64 / 4) * 6 * 86_400 + i as i64 * 3_600 + 17;
        let date = if i % 7 == 0 {
            None
        } else if i % 11 == 0 {
            Some(received - 400 * 86_400)
        } else {
            Some(received - (i as i64 % 5) * 3_600)
        };
        let from = vec![address(*rng.pick(&PEOPLE))];
        let to: Vec<Address> = (0..1 + rng.below(3))
            .map(|_| address(*rng.pick(&PEOPLE)))
            .collect();
        let cc: Vec<Address> = (0..rng.below(3))
            .map(|_| address(*rng.pick(&PEOPLE)))
            .collect();
        let bcc: Vec<Address> = if rng.percent(15) {
            vec![address(*rng.pick(&PEOPLE))]
        } else {
            Vec::new()
        };
        let mut envelope: Vec<String> = to.iter().chain(&cc).map(|a| a.email.clone()).collect();
        if rng.percent(25) {
            envelope.push(rng.pick(&PEOPLE).1.to_string());
        }
        let subject_words = 2 + rng.below(3);
        let subject = if i % 13 == 5 {
            None
        } else {
            Some(sentence(&mut rng, subject_words))
        };
        let body_words = 10 + rng.below(25);
        let mut body = sentence(&mut rng, body_words);
        if rng.percent(20) {
            body.push_str(". The quarterly report is attached.");
        }
        if rng.percent(50) {
            body.push(' ');
            body.push_str(COMMON_SENTENCES[rng.below(COMMON_SENTENCES.len())]);
        }
        let attachments: Vec<AttachmentDoc> =
            (0..if rng.percent(35) { 1 + rng.below(2) } else { 0 })
                .map(|_| {
                    let filename = Some(rng.pick(&FILENAMES).to_string());
                    let size = 1000 + rng.below(100_000) as u64;
                    let text_words = 5 + rng.below(10);
                    let text = rng.percent(70).then(|| {
                        let mut text = sentence(&mut rng, text_words);
                        if rng.percent(50) {
                            // Often ends with "of" and the next one starts with "the": a
                            // phrase must not match across two attachments.
                            text = format!(
                                "{} {text} {}",
                                rng.pick(&COMMON_SENTENCES),
                                rng.pick(&COMMON_SENTENCES)
                            );
                        }
                        text
                    });
                    AttachmentDoc {
                        filename,
                        content_type: "application/octet-stream".into(),
                        size,
                        text,
                    }
                })
                .collect();
        let mut attachments = attachments;
        if i % 10 == 3 {
            // A phrase must never match across two attachments.
            for text in [
                "budget draft. The review of",
                "the contract is at the end of the file",
            ] {
                attachments.push(AttachmentDoc {
                    filename: Some("notes.txt".into()),
                    content_type: "text/plain".into(),
                    size: 100,
                    text: Some(text.into()),
                });
            }
        }
        let mut flags = MessageFlags::default();
        if i % 9 == 4 {
            flags.insert(MessageFlags::ATTACHMENT_TEXT_NOT_EXTRACTED);
        }
        if i % 17 == 3 {
            flags.insert(MessageFlags::MALFORMED);
        }
        let mut doc = MessageDoc {
            id: MessageId::new(year, seqs[year_index]),
            sha256: Sha256([i as u8; 32]),
            identity: None,
            received,
            date,
            message_id: Some(format!("<Msg{i}.X@Mail.Example>")),
            from,
            // Participants that only Sender and Delivered-To name (an assistant sending
            // on someone's behalf, an archive copy's final recipient).
            sender: if i % 6 == 1 {
                vec![address((
                    "Ivan Assistant",
                    "ivan.assistant@initech.example",
                ))]
            } else {
                Vec::new()
            },
            to,
            cc,
            bcc,
            delivered_to: if i % 8 == 5 {
                vec!["judy.archive@globex.example".into()]
            } else {
                Vec::new()
            },
            envelope_recipients: envelope,
            subject,
            body,
            attachments,
            mailboxes: Vec::new(),
            size: [800u64, 5_000, 20_000, 1_048_576, 3_000_000][i % 5] + i as u64,
            flags,
        };
        doc.mailboxes = doc
            .participants()
            .into_iter()
            .filter(|p| {
                ARCHIVED_DOMAINS
                    .iter()
                    .any(|d| p.ends_with(&format!("@{d}")))
            })
            .collect();
        docs.push(doc);
    }
    docs
}

/// An index set in a temporary directory holding `docs`, committed per year with the
/// highest sequence as high-water mark.
pub fn build(docs: &[MessageDoc]) -> (tempfile::TempDir, IndexSet) {
    let dir = tempfile::tempdir().expect("temp dir");
    let set = IndexSet::open(dir.path()).expect("opens");
    for doc in docs {
        set.add(doc).expect("adds");
    }
    let years: BTreeSet<i32> = docs.iter().map(|d| d.id.year).collect();
    for year in years {
        let high = docs
            .iter()
            .filter(|d| d.id.year == year)
            .map(|d| d.id.seq)
            .max()
            .unwrap_or(0);
        set.commit(year, high).expect("commits");
    }
    (dir, set)
}

/// Every id matching `query` in `scope` (checks that `total` equals the hit count).
pub fn search_ids(set: &IndexSet, query: &str, scope: &Scope) -> BTreeSet<MessageId> {
    let request = SearchRequest {
        query: query.to_string(),
        scope: scope.clone(),
        recipients: coffer_model::RecipientView::All,
        sort: Sort::DateDesc,
        limit: 1000,
        offset: 0,
    };
    let results = set
        .search(&request)
        .unwrap_or_else(|e| panic!("{query}: {e}"));
    let ids: BTreeSet<MessageId> = results.hits.iter().map(|h| h.id).collect();
    assert_eq!(
        results.total as usize,
        results.hits.len(),
        "{query}: total vs hits"
    );
    assert_eq!(ids.len(), results.hits.len(), "{query}: duplicate hits");
    ids
}

pub fn expected(
    docs: &[MessageDoc],
    scope: &Scope,
    predicate: impl Fn(&MessageDoc) -> bool,
) -> BTreeSet<MessageId> {
    docs.iter()
        .filter(|d| scope.admits(d.mailboxes.iter().map(String::as_str)) && predicate(d))
        .map(|d| d.id)
        .collect()
}

// ---------------------------------------------------------------------------------
// The oracle: plain-Rust evaluation of queries over the fixture contents (ASCII).

/// Lowercased alphanumeric runs.
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// One value of a field: positional words, plus terms at a single position (the
/// expansions of an address).
pub struct Value {
    pub seq: Vec<String>,
    pub extra: BTreeSet<String>,
}

fn address_terms(email: &str) -> BTreeSet<String> {
    let email = email.to_lowercase();
    let mut out = BTreeSet::new();
    out.insert(email.clone());
    let (local, domain) = email.rsplit_once('@').unwrap_or((&email, ""));
    out.insert(local.to_string());
    if let Some((base, _)) = local.split_once('+') {
        out.insert(base.to_string());
    }
    for piece in local.split(['.', '_', '-', '+']) {
        out.insert(piece.to_string());
    }
    let labels: Vec<&str> = domain.split('.').collect();
    for start in 0..labels.len() {
        out.insert(labels[start..].join("."));
        out.insert(labels[start].to_string());
    }
    out.retain(|t| !t.is_empty());
    out
}

fn address_values(addresses: &[Address]) -> Vec<Value> {
    let mut out = Vec::new();
    for a in addresses {
        if let Some(name) = &a.name {
            out.push(Value {
                seq: words(name),
                extra: BTreeSet::new(),
            });
        }
        out.push(Value {
            seq: Vec::new(),
            extra: address_terms(&a.email),
        });
    }
    out
}

fn plain_addresses(emails: &[String]) -> Vec<Value> {
    emails
        .iter()
        .map(|e| Value {
            seq: Vec::new(),
            extra: address_terms(e),
        })
        .collect()
}

/// The values of a query-language field for a document.
pub fn field_values(doc: &MessageDoc, field: &str) -> Vec<Value> {
    let text = |t: &str| Value {
        seq: words(t),
        extra: BTreeSet::new(),
    };
    match field {
        "from" => address_values(&doc.from),
        "to" => address_values(&doc.to),
        "cc" => address_values(&doc.cc),
        "bcc" => {
            let mut out = address_values(&doc.bcc);
            let visible: Vec<String> = doc
                .to
                .iter()
                .chain(&doc.cc)
                .map(|a| a.email.to_lowercase())
                .collect();
            let hidden: Vec<String> = doc
                .envelope_recipients
                .iter()
                .filter(|e| !visible.contains(&e.to_lowercase()))
                .cloned()
                .collect();
            out.extend(plain_addresses(&hidden));
            out
        }
        "envelope" => plain_addresses(&doc.envelope_recipients),
        "participant" => {
            let mut out = Vec::new();
            for header in [&doc.from, &doc.sender, &doc.to, &doc.cc, &doc.bcc] {
                out.extend(address_values(header));
            }
            out.extend(plain_addresses(&doc.delivered_to));
            out.extend(plain_addresses(&doc.envelope_recipients));
            out
        }
        "subject" => doc.subject.iter().map(|s| text(s)).collect(),
        "body" => vec![text(&doc.body)],
        "attachment" => doc
            .attachments
            .iter()
            .filter_map(|a| a.text.as_deref())
            .map(text)
            .collect(),
        "filename" => doc
            .attachments
            .iter()
            .filter_map(|a| a.filename.as_deref())
            .map(text)
            .collect(),
        other => panic!("oracle has no field {other}"),
    }
}

pub const DEFAULT_FIELDS: [&str; 5] = ["participant", "subject", "body", "attachment", "filename"];
pub const ADDRESS_FIELDS: [&str; 6] = ["from", "to", "cc", "bcc", "envelope", "participant"];

fn query_terms(field: &str, value: &str) -> Vec<String> {
    let trimmed = value.trim_matches(|c: char| !c.is_alphanumeric());
    if ADDRESS_FIELDS.contains(&field) && (trimmed.contains('@') || trimmed.contains('.')) {
        vec![trimmed.to_lowercase()]
    } else {
        words(value)
    }
}

fn contains_run(seq: &[String], run: &[String]) -> bool {
    !run.is_empty() && seq.windows(run.len()).any(|w| w == run)
}

/// Whether `value` (a word or a phrase) occurs in `field` of `doc`.
pub fn has_text(doc: &MessageDoc, field: &str, value: &str) -> bool {
    let fields: Vec<&str> = if field.is_empty() {
        DEFAULT_FIELDS.to_vec()
    } else {
        vec![field]
    };
    fields.iter().any(|f| {
        let terms = query_terms(f, value);
        field_values(doc, f).iter().any(|v| {
            if terms.len() == 1 {
                v.seq.contains(&terms[0]) || v.extra.contains(&terms[0])
            } else {
                contains_run(&v.seq, &terms)
            }
        })
    })
}

/// Whether a word starting with `prefix` occurs in `field` of `doc`.
pub fn has_prefix(doc: &MessageDoc, field: &str, prefix: &str) -> bool {
    let prefix = prefix.to_lowercase();
    let fields: Vec<&str> = if field.is_empty() {
        DEFAULT_FIELDS.to_vec()
    } else {
        vec![field]
    };
    fields.iter().any(|f| {
        field_values(doc, f)
            .iter()
            .any(|v| v.seq.iter().chain(&v.extra).any(|t| t.starts_with(&prefix)))
    })
}

/// The message date used by filters.
pub fn effective_date(doc: &MessageDoc) -> i64 {
    doc.date.unwrap_or(doc.received)
}

/// `[start, end)` of a period written `YYYY`, `YYYY-MM` or `YYYY-MM-DD` (UTC).
pub fn period(text: &str) -> (i64, i64) {
    let parts: Vec<u32> = text
        .split('-')
        .map(|p| p.parse().expect("number"))
        .collect();
    let year = parts[0] as i32;
    match parts.len() {
        1 => (midnight(year, 1, 1), midnight(year + 1, 1, 1)),
        2 => {
            let (ny, nm) = if parts[1] == 12 {
                (year + 1, 1)
            } else {
                (year, parts[1] + 1)
            };
            (midnight(year, parts[1], 1), midnight(ny, nm, 1))
        }
        _ => {
            let start = midnight(year, parts[1], parts[2]);
            (start, start + 86_400)
        }
    }
}

/// A random query over the fixture vocabulary, rendered as text, with its oracle.
#[derive(Clone, Debug)]
pub enum Q {
    Word(&'static str, String),
    Phrase(&'static str, String),
    Prefix(&'static str, String),
    Has,
    Flag(&'static str),
    After(String),
    Before(String),
    During(String),
    SizeGt(u64),
    SizeLe(u64),
    Mailbox(String),
    And(Vec<Q>),
    Or(Vec<Q>),
    Not(Box<Q>),
}

impl Q {
    pub fn render(&self, rng: &mut SplitMix64) -> String {
        let field = |f: &str| {
            if f.is_empty() {
                String::new()
            } else {
                format!("{f}:")
            }
        };
        match self {
            Q::Word(f, w) => format!("{}{w}", field(f)),
            Q::Phrase(f, p) => format!("{}\"{p}\"", field(f)),
            Q::Prefix(f, p) => format!("{}{p}*", field(f)),
            Q::Has => "has:attachment".into(),
            Q::Flag(name) => format!("flag:{name}"),
            Q::After(p) => format!("after:{p}"),
            Q::Before(p) => format!("before:{p}"),
            Q::During(p) => format!("during:{p}"),
            Q::SizeGt(n) => format!("size>{n}"),
            Q::SizeLe(n) => format!("size<={n}"),
            Q::Mailbox(m) => format!("mailbox:{m}"),
            Q::And(items) => {
                let sep = if rng.percent(50) { " AND " } else { " " };
                let parts: Vec<String> = items.iter().map(|q| q.render(rng)).collect();
                format!("({})", parts.join(sep))
            }
            Q::Or(items) => {
                let parts: Vec<String> = items.iter().map(|q| q.render(rng)).collect();
                format!("({})", parts.join(" OR "))
            }
            Q::Not(inner) => {
                if rng.percent(50) {
                    format!("NOT {}", inner.render(rng))
                } else {
                    format!("-{}", inner.render(rng))
                }
            }
        }
    }

    pub fn eval(&self, doc: &MessageDoc) -> bool {
        match self {
            Q::Word(f, w) | Q::Phrase(f, w) => has_text(doc, f, w),
            Q::Prefix(f, p) => has_prefix(doc, f, p),
            Q::Has => !doc.attachments.is_empty(),
            Q::Flag(name) => doc.flags.names().contains(name),
            Q::After(p) => effective_date(doc) >= period(p).0,
            Q::Before(p) => effective_date(doc) < period(p).0,
            Q::During(p) => {
                let (start, end) = period(p);
                (start..end).contains(&effective_date(doc))
            }
            Q::SizeGt(n) => doc.size > *n,
            Q::SizeLe(n) => doc.size <= *n,
            Q::Mailbox(m) => doc.mailboxes.iter().any(|mb| {
                if m.contains('@') {
                    mb == m
                } else {
                    mb.rsplit_once('@').map(|(_, d)| d) == Some(m.as_str())
                }
            }),
            Q::And(items) => items.iter().all(|q| q.eval(doc)),
            Q::Or(items) => items.iter().any(|q| q.eval(doc)),
            Q::Not(inner) => !inner.eval(doc),
        }
    }

    /// A random query of at most `depth` levels.
    pub fn random(rng: &mut SplitMix64, depth: usize) -> Q {
        if depth == 0 || rng.percent(40) {
            return Q::random_leaf(rng);
        }
        match rng.below(3) {
            0 => Q::And(
                (0..2 + rng.below(2))
                    .map(|_| Q::random(rng, depth - 1))
                    .collect(),
            ),
            1 => Q::Or(
                (0..2 + rng.below(2))
                    .map(|_| Q::random(rng, depth - 1))
                    .collect(),
            ),
            _ => Q::Not(Box::new(Q::random(rng, depth - 1))),
        }
    }

    fn random_leaf(rng: &mut SplitMix64) -> Q {
        let fields = ["", "", "", "subject", "body", "attachment", "filename"];
        match rng.below(12) {
            0..=3 => Q::Word(
                fields[rng.below(fields.len())],
                rng.pick(&WORDS).to_string(),
            ),
            4 => {
                if rng.percent(50) {
                    Q::Phrase("", format!("{} {}", rng.pick(&WORDS), rng.pick(&WORDS)))
                } else {
                    let words = words(COMMON_SENTENCES[rng.below(COMMON_SENTENCES.len())]);
                    let length = 2 + rng.below(3).min(words.len() - 2);
                    let start = rng.below(words.len() - length + 1);
                    let field = ["", "body", "attachment", "subject"][rng.below(4)];
                    Q::Phrase(field, words[start..start + length].join(" "))
                }
            }
            5 => Q::Prefix(
                fields[rng.below(fields.len())],
                rng.pick(&WORDS)[..3].to_string(),
            ),
            6 => {
                let person = rng.pick(&PEOPLE);
                let value = match rng.below(3) {
                    0 => person.1.to_string(),
                    1 => person.1.split('@').next().unwrap_or("x").to_string(),
                    _ => person.1.split('@').nth(1).unwrap_or("x").to_string(),
                };
                Q::Word(ADDRESS_FIELDS[rng.below(ADDRESS_FIELDS.len())], value)
            }
            7 => Q::Has,
            8 => match rng.below(3) {
                0 => Q::After(format!("{}-{:02}", 2021 + rng.below(5), 1 + rng.below(12))),
                1 => Q::Before(format!("{}", 2022 + rng.below(4))),
                _ => Q::During(format!("{}", 2021 + rng.below(5))),
            },
            9 => {
                if rng.percent(50) {
                    Q::SizeGt([1_000, 20_000, 1_048_576][rng.below(3)])
                } else {
                    Q::SizeLe([5_000, 1_048_600][rng.below(2)])
                }
            }
            10 => Q::Mailbox(if rng.percent(50) {
                rng.pick(&PEOPLE[..3]).1.to_string()
            } else {
                rng.pick(&ARCHIVED_DOMAINS).to_string()
            }),
            _ => Q::Flag("attachment-text-not-extracted"),
        }
    }
}
