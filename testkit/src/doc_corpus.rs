//! A deterministic synthetic corpus of message documents (what the index receives), and
//! queries over it by class, for the index benchmark ([`crate::index_bench`]) and, rendered
//! as raw mail, for the import and search benchmarks ([`crate::mail_corpus`]).
//!
//! The corpus is random-access and reproducible: [`Corpus::doc`]`(i)` depends only on
//! the spec and `i`. Words follow a Zipf distribution (s = 1) over a vocabulary of
//! common English words followed by generated pronounceable words (20,000 in all, so
//! the tail holds genuinely rare terms), with recurring two-word collocations for
//! phrase queries; 15% of messages carry attachments with extracted text; people come from a
//! fixed name list, with an internal domain whose addresses are the archive mailboxes;
//! messages are spread evenly over the receive years, and their `size` estimates the
//! raw RFC 5322 bytes (headers, body, base64 attachments) so index size can be compared
//! with archive size.

use std::collections::HashSet;

use chrono::{Datelike, TimeZone, Utc};
use coffer_model::{Address, AttachmentDoc, MessageDoc, MessageId, Scope, Sha256};

use crate::rng::SplitMix64;

/// What to generate.
#[derive(Debug, Clone)]
pub struct CorpusSpec {
    /// Number of messages.
    pub messages: u64,
    /// First receive year.
    pub first_year: i32,
    /// Number of receive years.
    pub years: i32,
    /// Vocabulary size (Zipf ranks).
    pub vocabulary: usize,
    /// Internal users (mailboxes).
    pub internal_users: usize,
    /// Seed.
    pub seed: u64,
}

impl Default for CorpusSpec {
    fn default() -> Self {
        CorpusSpec {
            messages: 200_000,
            first_year: 2021,
            years: 5,
            vocabulary: 20_000,
            internal_users: 400,
            seed: 0x00C0_FFE2,
        }
    }
}

const COMMON: &str = "the of and to a in is it you that he was for on are with as I his they be at one have this from or had by hot word but what some we can out other were all there when up use your how said an each she which do their time if will way about many then them write would like so these her long make thing see him two has look more day could go come did number sound no most people my over know water than call first who may down side been now find any new work part take get place made live where after back little only round man year came show every good me give our under name very through just form sentence great think say help low line differ turn cause much mean before move right boy old too same tell does set three want air well also play small end put home read hand port large spell add even land here must big high such follow act why ask men change went light kind off need house picture try us again animal point mother world near build self earth father head stand own page should country found answer school grow study still learn plant cover food sun four between state keep eye never last let thought city tree cross farm hard start might story saw far sea draw left late run while press close night real life few north budget meeting report contract invoice project deadline review quarterly forecast merger audit approval release shipment vendor client price offer order payment account customer market sales team manager office";

const SYLLABLES: [&str; 40] = [
    "ka", "lo", "mi", "ter", "van", "dor", "sel", "ri", "pon", "gal", "bre", "stu", "fen", "mar",
    "tis", "ol", "quen", "zu", "ap", "ner", "vik", "sha", "dru", "el", "mon", "pra", "lic", "tor",
    "um", "gre", "bis", "cal", "den", "fro", "hul", "jin", "kel", "nov", "pex", "rud",
];

const FIRST_NAMES: [&str; 40] = [
    "alice", "bob", "carol", "david", "emma", "frank", "grace", "henry", "irene", "jack", "karen",
    "liam", "maria", "noah", "olivia", "peter", "quinn", "rachel", "samuel", "tina", "umar",
    "vera", "william", "xenia", "yusuf", "zoe", "ahmed", "beatriz", "chen", "dmitri", "elena",
    "farah", "giulia", "hiroshi", "ingrid", "jorge", "kenji", "leila", "mateo", "nadia",
];

const LAST_NAMES: [&str; 30] = [
    "smith", "jones", "garcia", "muller", "rossi", "dubois", "kowalski", "nguyen", "tanaka", "kim",
    "silva", "haddad", "cohen", "olsen", "novak", "martin", "lopez", "schmidt", "moreau",
    "ivanova", "patel", "singh", "wang", "li", "brown", "taylor", "wilson", "evans", "khan", "ali",
];

const EXTENSIONS: [(&str, &str, bool); 6] = [
    ("pdf", "application/pdf", true),
    (
        "docx",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        true,
    ),
    (
        "xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        true,
    ),
    ("txt", "text/plain", true),
    ("jpg", "image/jpeg", false),
    ("zip", "application/zip", false),
];

/// A person: display name and address.
#[derive(Debug, Clone)]
struct Person {
    name: String,
    email: String,
}

/// The synthetic corpus (see the module docs).
#[derive(Debug, Clone)]
pub struct Corpus {
    spec: CorpusSpec,
    words: Vec<String>,
    cumulative: Vec<f64>,
    phrases: Vec<(usize, usize)>,
    internal: Vec<Person>,
    external: Vec<Person>,
    start: i64,
    step: i64,
}

/// The query classes measured.
pub const QUERY_CLASSES: [&str; 7] = [
    "rare term",
    "common term",
    "phrase",
    "from: + date range",
    "attachment: term",
    "boolean of three",
    "scoped to one mailbox",
];

impl Corpus {
    /// Prepares the vocabulary, people and calendar of a corpus.
    pub fn new(spec: CorpusSpec) -> Corpus {
        let mut rng = SplitMix64::new(spec.seed);
        let mut seen = HashSet::new();
        let mut words: Vec<String> = Vec::with_capacity(spec.vocabulary);
        for word in COMMON.split_whitespace() {
            let word = word.to_ascii_lowercase();
            if words.len() < spec.vocabulary && seen.insert(word.clone()) {
                words.push(word);
            }
        }
        while words.len() < spec.vocabulary.max(1) {
            let syllables = rng.range(2, 4);
            let word: String = (0..syllables)
                .map(|_| SYLLABLES[rng.below(SYLLABLES.len())])
                .collect();
            if seen.insert(word.clone()) {
                words.push(word);
            }
        }
        let mut total = 0.0;
        let cumulative = (1..=words.len())
            .map(|rank| {
                total += 1.0 / rank as f64;
                total
            })
            .collect();
        let phrases = (0..60)
            .map(|_| (rng.range(5, 200), rng.range(5, 400)))
            .collect();
        let person = |rng: &mut SplitMix64, domain: &str, index: usize| {
            let first = FIRST_NAMES[rng.below(FIRST_NAMES.len())];
            let last = LAST_NAMES[rng.below(LAST_NAMES.len())];
            Person {
                name: format!(
                    "{}{} {}{}",
                    first[..1].to_uppercase(),
                    &first[1..],
                    last[..1].to_uppercase(),
                    &last[1..]
                ),
                email: format!("{first}.{last}{index}@{domain}"),
            }
        };
        let internal = (0..spec.internal_users.max(1))
            .map(|i| person(&mut rng, "corp.example", i))
            .collect();
        let external_domains: Vec<String> = (0..200)
            .map(|i| {
                let tld = ["com", "org", "net", "de", "fr", "co.uk", "io"][i % 7];
                format!("{}{}.{tld}", SYLLABLES[i % 40], SYLLABLES[(i * 7 + 3) % 40])
            })
            .collect();
        let external = (0..3_000)
            .map(|i| {
                let domain = external_domains[rng.below(external_domains.len())].clone();
                person(&mut rng, &domain, i)
            })
            .collect();
        let start = Utc
            .with_ymd_and_hms(spec.first_year, 1, 1, 0, 0, 0)
            .single()
            .map_or(0, |t| t.timestamp());
        let end = Utc
            .with_ymd_and_hms(spec.first_year + spec.years.max(1), 1, 1, 0, 0, 0)
            .single()
            .map_or(start + 86_400, |t| t.timestamp());
        let step = ((end - start) / spec.messages.max(1) as i64).max(1);
        Corpus {
            spec,
            words,
            cumulative,
            phrases,
            internal,
            external,
            start,
            step,
        }
    }

    /// The spec.
    pub fn spec(&self) -> &CorpusSpec {
        &self.spec
    }

    fn zipf(&self, rng: &mut SplitMix64) -> usize {
        let total = self.cumulative.last().copied().unwrap_or(1.0);
        let target = rng.unit() * total;
        self.cumulative
            .partition_point(|c| *c < target)
            .min(self.words.len() - 1)
    }

    fn text(&self, rng: &mut SplitMix64, words: usize) -> String {
        let mut out = String::with_capacity(words * 7);
        let mut sentence = 0;
        let mut written = 0;
        while written < words {
            if sentence == 0 && rng.chance(25.0) {
                let (a, b) = self.phrases[rng.below(self.phrases.len())];
                out.push_str(&self.words[a]);
                out.push(' ');
                out.push_str(&self.words[b]);
                out.push(' ');
                written += 2;
                sentence += 2;
                continue;
            }
            let word = &self.words[self.zipf(rng)];
            if sentence == 0 {
                let mut chars = word.chars();
                if let Some(first) = chars.next() {
                    out.extend(first.to_uppercase());
                    out.push_str(chars.as_str());
                }
            } else {
                out.push_str(word);
            }
            written += 1;
            sentence += 1;
            if sentence > 6 && rng.chance(12.0) {
                out.push_str(if rng.chance(85.0) { ". " } else { "?\n\n" });
                sentence = 0;
            } else if rng.chance(5.0) {
                out.push_str(", ");
            } else {
                out.push(' ');
            }
        }
        out.push('.');
        out
    }

    fn pick_person<'a>(&'a self, rng: &mut SplitMix64, internal_percent: f64) -> &'a Person {
        if rng.chance(internal_percent) {
            &self.internal[rng.below(self.internal.len())]
        } else {
            &self.external[rng.below(self.external.len())]
        }
    }

    /// Receive time of message `i` (evenly spread, in order).
    fn received(&self, i: u64) -> i64 {
        self.start + i as i64 * self.step
    }

    fn year_of(&self, time: i64) -> i32 {
        Utc.timestamp_opt(time, 0)
            .single()
            .map_or(self.spec.first_year, |t| t.year())
    }

    /// Index of the first message received in `year`.
    fn first_index_of_year(&self, year: i32) -> u64 {
        let year_start = Utc
            .with_ymd_and_hms(year, 1, 1, 0, 0, 0)
            .single()
            .map_or(self.start, |t| t.timestamp());
        if year_start <= self.start {
            return 0;
        }
        ((year_start - self.start + self.step - 1) / self.step) as u64
    }

    /// Message `i` (0-based) of the corpus.
    pub fn doc(&self, i: u64) -> MessageDoc {
        let mut rng = SplitMix64::new(self.spec.seed ^ i.wrapping_mul(0xA24B_AED4_963E_E407));
        let received = self.received(i) + rng.below(self.step.max(1) as usize) as i64 / 2;
        let year = self.year_of(received);
        let seq = i.saturating_sub(self.first_index_of_year(year)) + 1;
        let date = if rng.chance(2.0) {
            None
        } else if rng.chance(1.0) {
            Some(received - rng.below(3 * 365) as i64 * 86_400)
        } else {
            Some(received - rng.below(7_200) as i64)
        };
        let outgoing = rng.chance(45.0);
        let from = if outgoing {
            self.internal[rng.below(self.internal.len())].clone()
        } else {
            self.pick_person(&mut rng, 30.0).clone()
        };
        let to: Vec<Person> = (0..rng.range(1, 4))
            .map(|_| {
                self.pick_person(&mut rng, if outgoing { 30.0 } else { 80.0 })
                    .clone()
            })
            .collect();
        let cc: Vec<Person> = (0..if rng.chance(30.0) { rng.range(1, 3) } else { 0 })
            .map(|_| self.pick_person(&mut rng, 60.0).clone())
            .collect();
        let address = |p: &Person| Address {
            name: Some(p.name.clone()),
            email: p.email.clone(),
        };
        let subject_words = rng.range(3, 8);
        let mut subject = self.text(&mut rng, subject_words);
        subject.pop();
        if rng.chance(30.0) {
            subject.insert_str(0, "Re: ");
        }
        let body_words = if rng.chance(10.0) {
            rng.range(400, 1_200)
        } else {
            rng.range(30, 250)
        };
        let body = self.text(&mut rng, body_words);
        let mut attachments = Vec::new();
        if rng.chance(15.0) {
            for _ in 0..rng.range(1, 2) {
                let (extension, content_type, has_text) = EXTENSIONS[rng.below(EXTENSIONS.len())];
                let stem_word = self.zipf(&mut rng);
                // Mostly tens to hundreds of kilobytes, a few megabytes (mean ~215 kB).
                let size = 15_000 + (rng.unit().powi(4) * 1_000_000.0) as u64;
                let text = if has_text {
                    let words = rng.range(200, 2_000);
                    Some(self.text(&mut rng, words))
                } else {
                    None
                };
                attachments.push(AttachmentDoc {
                    filename: Some(format!(
                        "{}_{}.{extension}",
                        self.words[stem_word],
                        rng.below(1000)
                    )),
                    content_type: content_type.into(),
                    size,
                    text,
                });
            }
        }
        let header_bytes = 1_800 + rng.below(2_500) as u64;
        let attachment_bytes: u64 = attachments.iter().map(|a| a.size * 137 / 100).sum();
        let size = header_bytes + body.len() as u64 * 105 / 100 + attachment_bytes;
        let mut doc = MessageDoc {
            id: MessageId::new(year, seq),
            sha256: Sha256([(i % 251) as u8; 32]),
            identity: None,
            received,
            date,
            message_id: Some(format!("{:016x}.{i}@mail.corp.example", rng.next_u64())),
            from: vec![address(&from)],
            sender: Vec::new(),
            to: to.iter().map(address).collect(),
            cc: cc.iter().map(address).collect(),
            bcc: Vec::new(),
            delivered_to: Vec::new(),
            envelope_recipients: to.iter().chain(&cc).map(|p| p.email.clone()).collect(),
            subject: Some(subject),
            body,
            attachments,
            mailboxes: Vec::new(),
            size,
            flags: Default::default(),
        };
        doc.mailboxes = doc
            .participants()
            .into_iter()
            .filter(|p| p.ends_with("@corp.example"))
            .collect();
        doc
    }

    /// `count` queries of `class` (one of [`QUERY_CLASSES`]), with their scopes.
    pub fn queries(&self, class: &str, count: usize, seed: u64) -> Vec<(String, Scope)> {
        let mut rng = SplitMix64::new(seed ^ class.len() as u64 ^ 0x5EED);
        let vocabulary = self.words.len();
        let word = |rng: &mut SplitMix64, low: usize, high: usize| {
            self.words[rng.range(low.min(vocabulary - 1), high.min(vocabulary - 1))].clone()
        };
        let first = self.spec.first_year;
        (0..count)
            .map(|_| match class {
                "rare term" => (
                    word(&mut rng, vocabulary * 3 / 4, vocabulary - 1),
                    Scope::All,
                ),
                "common term" => (word(&mut rng, 5, 60), Scope::All),
                "phrase" => {
                    let (a, b) = if rng.chance(50.0) {
                        self.phrases[rng.below(self.phrases.len())]
                    } else {
                        (rng.range(5, 100), rng.range(5, 200))
                    };
                    (
                        format!("\"{} {}\"", self.words[a], self.words[b]),
                        Scope::All,
                    )
                }
                "from: + date range" => {
                    let person = &self.internal[rng.below(self.internal.len())];
                    let year = first + rng.below(self.spec.years.max(1) as usize) as i32;
                    let month = rng.range(1, 9);
                    (
                        format!(
                            "from:{} after:{year}-{month:02} before:{year}-{:02}",
                            person.email,
                            month + 3
                        ),
                        Scope::All,
                    )
                }
                "attachment: term" => (
                    format!("attachment:{}", word(&mut rng, 20, 800)),
                    Scope::All,
                ),
                "boolean of three" => (
                    format!(
                        "{} AND ({} OR {})",
                        word(&mut rng, 20, 300),
                        word(&mut rng, 100, 1_500),
                        word(&mut rng, 100, 1_500)
                    ),
                    Scope::All,
                ),
                _ => {
                    let mailbox = &self.internal[rng.below(self.internal.len())].email;
                    (word(&mut rng, 20, 300), Scope::mailboxes([mailbox]))
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corpus_is_deterministic_and_ids_are_dense_per_year() {
        let spec = CorpusSpec {
            messages: 2_000,
            years: 2,
            ..CorpusSpec::default()
        };
        let corpus = Corpus::new(spec.clone());
        assert_eq!(corpus.doc(17), Corpus::new(spec).doc(17));
        let docs: Vec<MessageDoc> = (0..2_000).map(|i| corpus.doc(i)).collect();
        for year in [2021, 2022] {
            let seqs: Vec<u64> = docs
                .iter()
                .filter(|d| d.id.year == year)
                .map(|d| d.id.seq)
                .collect();
            assert!(!seqs.is_empty());
            assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>(), "{year}");
        }
        let with_attachments = docs.iter().filter(|d| !d.attachments.is_empty()).count();
        assert!((200..400).contains(&with_attachments), "{with_attachments}");
        for doc in &docs {
            let internal = doc
                .participants()
                .iter()
                .any(|p| p.ends_with("@corp.example"));
            assert_eq!(internal, !doc.mailboxes.is_empty());
        }
        for class in QUERY_CLASSES {
            for (query, _) in corpus.queries(class, 20, 3) {
                coffer_index::query::parse_query(&query).unwrap_or_else(|e| panic!("{query}: {e}"));
            }
        }
    }
}
