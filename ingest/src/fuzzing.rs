//! Fuzz entry points for ingest's parsers of untrusted input: the SMTP/LMTP protocol
//! machine driven through whole sessions, the DATA reader (end of data, dot-unstuffing),
//! the Exchange journal report parser, the mbox splitter and the "is this mail?" sniffer.
//! The `fuzz/` crate at the repository root calls these from its targets of the same
//! names; the unit tests below run each over its seed corpus on every `cargo test` (so the
//! harness cannot rot) and write that corpus for `scripts/fuzz`.
//!
//! Built with the `fuzzing` feature (and in tests) only.

use crate::budget::{MemoryBudget, MessageBuffer};
use crate::import::{MboxFlavor, MboxOptions, MboxReader, SeparatorRule, looks_like_mail};
use crate::journal::{JournalOutcome, unwrap_journal_report};
use crate::smtp::data::DataReceiver;
use crate::smtp::proto::{
    Action, AuthPolicy, ConnectionInfo, DeliveryOutcome, PermFailure, SmtpConfig, SmtpSession,
    TempFailure,
};

/// The entry point of the `smtp` fuzz target: one session, the client's bytes fed in
/// chunks, every action carried out at once.
///
/// Input: a configuration byte (bit 0 LMTP, bit 1 TLS available, bit 2 implicit TLS,
/// bits 3–4 the AUTH policy, bit 5 small limits, bit 6 a small shared memory budget), an
/// outcome byte (the bits, in turn, decide each authentication and delivery result), a
/// chunk length (0: everything at once), then the client's bytes.
pub fn smtp(data: &[u8]) {
    let &[config_byte, outcomes, chunk, ref client @ ..] = data else {
        return;
    };
    let small = config_byte & 32 != 0;
    let config = SmtpConfig {
        hostname: "mx.fuzz.example".into(),
        lmtp: config_byte & 1 != 0,
        max_message_size: if small { 300 } else { 1 << 20 },
        max_recipients: if small { 3 } else { 100 },
        max_line_length: 512,
        max_errors: if small { 4 } else { 20 },
        tls_available: config_byte & 2 != 0,
        auth: [
            AuthPolicy::Disabled,
            AuthPolicy::Optional,
            AuthPolicy::Required,
            AuthPolicy::Optional,
        ][usize::from(config_byte >> 3 & 3)],
    };
    let budget = if config_byte & 64 != 0 {
        MemoryBudget::new(2048)
    } else {
        MemoryBudget::new(8 << 20)
    };
    let info = ConnectionInfo {
        peer: None,
        tls_active: config_byte & 4 != 0,
    };
    let mut session = SmtpSession::new(&config, info).with_memory_budget(budget.clone());
    check_reply(session.greeting().as_bytes());
    let mut driver = Driver {
        config: &config,
        outcomes,
        turn: 0,
        closed: false,
    };
    let chunk = if chunk == 0 {
        client.len().max(1)
    } else {
        usize::from(chunk)
    };
    for piece in client.chunks(chunk) {
        let actions = session.feed(piece);
        if driver.closed {
            assert!(actions.is_empty(), "actions after Close");
        }
        driver.run(&mut session, actions);
        assert!(budget.in_use() <= budget.limit(), "over the memory budget");
        if !session.is_receiving_data() {
            // Between commands, never more than a line is held.
            assert!(
                session.buffered_bytes() <= 2 * (config.max_line_length + chunk),
                "{} bytes buffered",
                session.buffered_bytes()
            );
        }
    }
    drop(session);
    assert_eq!(
        budget.in_use(),
        0,
        "memory given back when the session ends"
    );
}

/// Carries out a session's actions at once, with results chosen by the input.
struct Driver<'a> {
    config: &'a SmtpConfig,
    outcomes: u8,
    turn: u32,
    closed: bool,
}

impl Driver<'_> {
    /// The next bit of the outcome byte, cyclically.
    fn bit(&mut self) -> bool {
        let bit = self.outcomes >> (self.turn % 8) & 1 != 0;
        self.turn += 1;
        bit
    }

    fn run(&mut self, session: &mut SmtpSession, actions: Vec<Action>) {
        let mut queue: std::collections::VecDeque<Action> = actions.into();
        while let Some(action) = queue.pop_front() {
            assert!(!self.closed, "an action after Close");
            let more = match action {
                Action::Reply(reply) => {
                    check_reply(reply.as_bytes());
                    Vec::new()
                }
                Action::StartTls => {
                    assert!(self.config.tls_available && !session.tls_active());
                    session.tls_established()
                }
                Action::Authenticate(_) => {
                    assert!(session.tls_active(), "AUTH accepted without TLS");
                    let principal = self.bit().then(|| "journal-token".to_string());
                    session.authentication_result(principal)
                }
                Action::Deliver(transaction) => {
                    assert!(transaction.data.len() as u64 <= self.config.max_message_size);
                    assert!(
                        !transaction.rcpt_to.is_empty(),
                        "delivery without recipients"
                    );
                    assert!(transaction.rcpt_to.len() <= self.config.max_recipients);
                    if self.config.auth == AuthPolicy::Required {
                        assert!(
                            transaction.authenticated_as.is_some(),
                            "unauthenticated mail"
                        );
                    }
                    let outcome = match (self.bit(), self.bit()) {
                        (true, _) => DeliveryOutcome::Accepted {
                            queue_id: "Q1\r\n2".into(),
                        },
                        (false, true) => DeliveryOutcome::TempFail(TempFailure::Storage),
                        (false, false) if self.config.lmtp => DeliveryOutcome::PerRecipient(vec![
                            DeliveryOutcome::PermFail(PermFailure::Policy),
                            DeliveryOutcome::Accepted {
                                queue_id: "Q2".into(),
                            },
                        ]),
                        (false, false) => DeliveryOutcome::PermFail(PermFailure::Content),
                    };
                    session.delivered(outcome)
                }
                Action::Close => {
                    self.closed = true;
                    assert!(session.is_closed());
                    Vec::new()
                }
            };
            queue.extend(more);
        }
    }
}

/// A reply is `NNN` then a space or dash, text without CR or LF, and CRLF, on every line.
fn check_reply(wire: &[u8]) {
    assert!(wire.ends_with(b"\r\n"), "reply not CRLF-terminated");
    for line in wire[..wire.len() - 2].split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        assert!(line.len() >= 4, "short reply line");
        assert!(line[..3].iter().all(u8::is_ascii_digit), "reply code");
        assert!(matches!(line[3], b' ' | b'-'), "reply separator");
        assert!(!line.contains(&b'\r'), "bare CR in a reply");
    }
}

/// The entry point of the `smtp_data` fuzz target: the DATA reader against a plain
/// reading of RFC 5321 §4.5.2 (see the decisions in `smtp::data`), whatever the chunking,
/// and the round trip of content dot-stuffed as a client sends it.
///
/// Input: a chunk length (0: everything at once), then the bytes after `354`.
pub fn smtp_data(data: &[u8]) {
    let Some((&chunk, stream)) = data.split_first() else {
        return;
    };
    let expected = reference_unstuff(stream);
    let whole = receive(stream, stream.len().max(1));
    assert_eq!(whole, expected, "DATA reader disagrees with the reference");
    if chunk != 0 {
        assert_eq!(
            receive(stream, usize::from(chunk)),
            whole,
            "chunking changes the result"
        );
    }
    // The stream itself, as content: stuffed and terminated, it comes back unchanged
    // (plus the CRLF that the terminator needs before it).
    let mut content = stream.to_vec();
    if !content.is_empty() && !content.ends_with(b"\r\n") {
        content.extend_from_slice(b"\r\n");
    }
    let sent = dot_stuff(&content);
    assert_eq!(
        receive(&sent, usize::from(chunk).max(1)),
        Some((content, sent.len())),
        "dot-stuffed content does not come back"
    );
}

/// Feeds `stream` in pieces of `chunk` bytes; the content and the bytes consumed when
/// the end of data was found.
fn receive(stream: &[u8], chunk: usize) -> Option<(Vec<u8>, usize)> {
    let budget = MemoryBudget::unlimited();
    let buffer = MessageBuffer::new(&budget, 1 << 24, 0).ok()?;
    let mut receiver = DataReceiver::new(buffer);
    let mut consumed = 0;
    for piece in stream.chunks(chunk) {
        let (used, done) = receiver.ingest(piece);
        consumed += used;
        if done {
            return Some((receiver.into_data().0, consumed));
        }
        assert_eq!(used, piece.len(), "bytes left before the end of data");
    }
    None
}

/// The end of data and the un-stuffed content, read naively: a line starts at the start
/// or after CRLF; there, `.CRLF` ends the data and any other leading dot is dropped.
fn reference_unstuff(stream: &[u8]) -> Option<(Vec<u8>, usize)> {
    let mut out = Vec::new();
    let mut pos = 0;
    let mut line_start = true;
    while pos < stream.len() {
        if line_start && stream[pos] == b'.' {
            if stream[pos + 1..].starts_with(b"\r\n") {
                return Some((out, pos + 3));
            }
            pos += 1;
            if pos == stream.len() {
                break;
            }
        }
        let byte = stream[pos];
        out.push(byte);
        line_start = byte == b'\n' && out.len() >= 2 && out[out.len() - 2] == b'\r';
        pos += 1;
    }
    None
}

/// Content as a client sends it after `354`: a dot doubled at each line start, then
/// `.CRLF` (the content ends with CRLF or is empty).
fn dot_stuff(content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 8);
    let mut line_start = true;
    for (index, &byte) in content.iter().enumerate() {
        if line_start && byte == b'.' {
            out.push(b'.');
        }
        out.push(byte);
        line_start = byte == b'\n' && index > 0 && content[index - 1] == b'\r';
    }
    out.extend_from_slice(b".\r\n");
    out
}

/// The header put before the fuzzer's bytes so that the journal report's MIME paths are
/// reached, not only the marker test.
const JOURNAL_PREFIX: &[u8] =
    b"X-MS-Journal-Report:\r\nContent-Type: multipart/mixed; boundary=jr\r\n\r\n--jr\r\n";

/// The entry point of the `journal` fuzz target: journal report recognition and
/// unwrapping, on the bytes and on the bytes behind a journal report's header.
pub fn journal(data: &[u8]) {
    check_journal(data);
    check_journal(&[JOURNAL_PREFIX, data].concat());
}

fn check_journal(raw: &[u8]) {
    if let JournalOutcome::Unwrapped(report) = unwrap_journal_report(raw) {
        assert!(!report.recipients.is_empty());
        if let Some(range) = report.original_range {
            assert_eq!(raw.get(range), Some(report.original.as_ref()));
        }
    }
}

/// The entry point of the `mbox` fuzz target: the mbox splitter, with every flavour and
/// separator rule (chosen by the first byte) and a small cap.
pub fn mbox(data: &[u8]) {
    let Some((&selector, input)) = data.split_first() else {
        return;
    };
    let options = MboxOptions {
        flavor: [MboxFlavor::Mboxrd, MboxFlavor::Mboxo, MboxFlavor::Raw][usize::from(selector % 3)],
        separator: [
            SeparatorRule::Strict,
            SeparatorRule::BlankLine,
            SeparatorRule::AnyFromLine,
        ][usize::from(selector / 3 % 3)],
        max_message_bytes: 1 + u64::from(selector) * 16,
    };
    for message in MboxReader::new(input, options).flatten() {
        assert!(message.raw.len() as u64 <= options.max_message_bytes);
        let _ = message.from_line.date();
    }
}

/// The entry point of the `looks_like_mail` fuzz target.
pub fn looks_like_mail_target(data: &[u8]) {
    let _ = looks_like_mail(data);
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;

    /// Writes `seeds` for `scripts/fuzz` (see [`coffer_testkit::fuzz_seeds`]).
    fn write_seeds(target: &str, seeds: &[Vec<u8>]) {
        coffer_testkit::fuzz_seeds::write(target, seeds);
    }

    /// Files of the repository's message fixtures (`testdata/eml/<group>`).
    fn fixtures(group: &str) -> Vec<Vec<u8>> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../testdata/eml")
            .join(group);
        let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
            .expect("testdata/eml")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_none_or(|x| x != "json"))
            .collect();
        paths.sort();
        paths
            .iter()
            .map(|p| std::fs::read(p).expect("read fixture"))
            .collect()
    }

    fn emls() -> Vec<Vec<u8>> {
        ["rfc", "journal", "malformed", "charset"]
            .iter()
            .flat_map(|group| fixtures(group))
            .collect()
    }

    fn run(target: &str, body: fn(&[u8]), seeds: &[Vec<u8>]) {
        assert!(!seeds.is_empty());
        for seed in seeds {
            body(seed);
        }
        write_seeds(target, seeds);
    }

    fn transcript(hello: &str, extra: &str, message: &[u8]) -> Vec<u8> {
        let mut out = format!(
            "{hello} client.example\r\n{extra}MAIL FROM:<a@example.com> SIZE={}\r\n\
             RCPT TO:<b@example.com>\r\nRCPT TO:<c@example.org>\r\nDATA\r\n",
            message.len()
        )
        .into_bytes();
        let mut content = message.to_vec();
        if !content.ends_with(b"\r\n") {
            content.extend_from_slice(b"\r\n");
        }
        out.extend(dot_stuff(&content));
        out.extend_from_slice(b"RSET\r\nNOOP\r\nVRFY x\r\nHELP\r\nQUIT\r\n");
        out
    }

    #[test]
    fn smtp_seeds_run_clean() {
        let mut seeds = Vec::new();
        for (index, eml) in emls().iter().enumerate() {
            let eml = &eml[..eml.len().min(2000)];
            let (config, hello) = match index % 4 {
                0 => (0u8, "EHLO"),
                1 => (1, "LHLO"),
                2 => (2 | 8, "EHLO"),
                _ => (4 | 16 | 32, "HELO"),
            };
            let extra = match index % 3 {
                0 => "",
                1 => "STARTTLS\r\nEHLO again.example\r\n",
                _ => "AUTH PLAIN AHRva2VuAHNlY3JldA==\r\n",
            };
            let chunk = [0u8, 1, 7, 64][index % 4];
            seeds.push(
                [
                    &[config, 0b1010_1101, chunk][..],
                    &transcript(hello, extra, eml),
                ]
                .concat(),
            );
        }
        seeds.push(b"\x04\xff\x00EHLO x\r\nAUTH PLAIN\r\nAHUAcA==\r\nMAIL FROM:<>\r\nRCPT TO:<x@y>\r\nDATA\r\n.\r\n".to_vec());
        seeds.push(
            b"\x00\x00\x05MAIL FROM:<a@b>\r\nEHLO x\r\nBDAT 10\r\nEXPN y\r\nbogus\r\n\r\n".to_vec(),
        );
        run("smtp", smtp, &seeds);
    }

    #[test]
    fn smtp_data_seeds_run_clean() {
        let mut seeds: Vec<Vec<u8>> = emls()
            .iter()
            .enumerate()
            .map(|(index, eml)| {
                let mut content = eml.clone();
                if !content.ends_with(b"\r\n") {
                    content.extend_from_slice(b"\r\n");
                }
                [
                    &[[0u8, 1, 3, 200][index % 4]][..],
                    &dot_stuff(&content),
                    b"QUIT\r\n",
                ]
                .concat()
            })
            .collect();
        seeds.push(b"\x02.\r\n".to_vec());
        seeds.push(b"\x01..x\r\n.\ry\r\na\n.\nb\r\n.\r\n".to_vec());
        run("smtp_data", smtp_data, &seeds);
    }

    #[test]
    fn journal_seeds_run_clean() {
        let mut seeds = fixtures("journal");
        seeds.extend(fixtures("rfc").into_iter().take(2));
        run("journal", journal, &seeds);
    }

    #[test]
    fn mbox_seeds_run_clean() {
        let mut seeds = Vec::new();
        for selector in [0u8, 4, 8, 40] {
            let mut mbox = vec![selector];
            for eml in emls() {
                mbox.extend_from_slice(b"From sender@example.com Mon Jan  1 00:00:00 2024\n");
                mbox.extend_from_slice(&eml);
                mbox.extend_from_slice(b"\n>From quoted\n\n");
            }
            seeds.push(mbox);
        }
        run("mbox", mbox, &seeds);
    }

    #[test]
    fn looks_like_mail_seeds_run_clean() {
        let mut seeds = emls();
        seeds.extend(fixtures("notmail"));
        run("looks_like_mail", looks_like_mail_target, &seeds);
    }
}
