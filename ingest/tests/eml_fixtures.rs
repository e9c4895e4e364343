//! Golden tests over the hand-written corpus in `testdata/eml/` (see its README).
//!
//! Every mail fixture is run as written, with LF line endings and with CRLF line endings:
//! it must pass [`looks_like_mail`], parse with mail-parser to the sidecar's values, and (in
//! `journal/`) unwrap as the sidecar says. `notmail/` fixtures must be rejected with the
//! sidecar's reason. On a mismatch the actual values are written next to the fixture as
//! `NNN.failed`; a folder without fixtures fails the test.

use std::fs;
use std::path::Path;

use coffer_ingest::import::{looks_like_mail, walk};
use coffer_ingest::journal::{JournalOutcome, unwrap_journal_report};
use coffer_testkit::eml::{corpus_dir, fixtures_with_sidecars as fixtures};
use mail_parser::MessageParser;
use serde_json::{Value, json};

fn to_lf(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'\r' && raw.get(i + 1) == Some(&b'\n') {
            i += 1;
            continue;
        }
        out.push(raw[i]);
        i += 1;
    }
    out
}

fn to_crlf(raw: &[u8]) -> Vec<u8> {
    let lf = to_lf(raw);
    let mut out = Vec::with_capacity(lf.len() + lf.len() / 20);
    for &b in &lf {
        if b == b'\n' {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}

/// The three line-ending variants of a fixture.
fn variants(raw: &[u8]) -> [(&'static str, Vec<u8>); 3] {
    [
        ("as written", raw.to_vec()),
        ("LF", to_lf(raw)),
        ("CRLF", to_crlf(raw)),
    ]
}

/// Raw values of a header field, trimmed, in order.
fn raw_header_values(message: &mail_parser::Message<'_>, raw: &[u8], name: &str) -> Vec<String> {
    message
        .headers()
        .iter()
        .filter(|h| h.name().eq_ignore_ascii_case(name))
        .filter_map(|h| raw.get(h.offset_start() as usize..h.offset_end() as usize))
        .map(|v| String::from_utf8_lossy(v).trim().to_string())
        .collect()
}

/// What a mail fixture actually gives, in the sidecar's shape.
fn actual_values(raw: &[u8], expected: &Value) -> Value {
    let message = MessageParser::new()
        .parse(raw)
        .expect("mail-parser returns a message");
    let from = message.from().and_then(|a| a.first());
    let date = message.date().and_then(|d| {
        chrono::DateTime::from_timestamp(d.to_timestamp(), 0)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
    });
    let text = message.body_text(0).map(|t| t.into_owned());
    let text_contains = match expected["text_contains"].as_str() {
        Some(needle) if text.as_deref().is_some_and(|t| t.contains(needle)) => json!(needle),
        Some(_) => json!(text),
        None => Value::Null,
    };
    let mut actual = json!({
        "description": expected["description"],
        "mail": looks_like_mail(raw).is_ok(),
        "subject": message.subject(),
        "from": from.and_then(|a| a.address()),
        "date": date,
        "attachments": message.attachment_count(),
        "text_contains": text_contains,
        "journal": journal_values(raw),
    });
    if expected.get("note").is_some() {
        actual["note"] = expected["note"].clone();
    }
    if expected.get("from_name").is_some() {
        actual["from_name"] = json!(from.and_then(|a| a.name()));
    }
    for (key, header) in [
        ("delivered_to", "Delivered-To"),
        ("x_original_to", "X-Original-To"),
    ] {
        if expected.get(key).is_some() {
            actual[key] = json!(raw_header_values(&message, raw, header));
        }
    }
    actual
}

/// The journal outcome in the sidecar's shape (`null` for [`JournalOutcome::NotJournal`]).
fn journal_values(raw: &[u8]) -> Value {
    match unwrap_journal_report(raw) {
        JournalOutcome::NotJournal => Value::Null,
        JournalOutcome::Malformed { reason } => {
            json!({"outcome": "malformed", "reason": format!("{reason:?}")})
        }
        JournalOutcome::Unwrapped(report) => {
            if let Some(range) = &report.original_range {
                assert_eq!(
                    raw.get(range.clone()),
                    Some(report.original.as_ref()),
                    "original_range must point at the original's bytes"
                );
            }
            let original = MessageParser::new().parse(report.original.as_ref());
            let mut value = json!({
                "outcome": "unwrapped",
                "sender": report.sender,
                "message_id": report.message_id,
                "original_subject": original.as_ref().and_then(|m| m.subject()),
                "recipients": report.recipients.iter().map(|r| json!({
                    "address": r.address,
                    "kind": format!("{:?}", r.kind),
                    "expanded_from": r.expanded_from,
                    "forwarded_from": r.forwarded_from,
                })).collect::<Vec<_>>(),
                "anomalies": report.anomalies.iter().map(|a| format!("{a:?}")).collect::<Vec<_>>(),
            });
            if let Some(on_behalf_of) = report.on_behalf_of {
                value["on_behalf_of"] = json!(on_behalf_of);
            }
            if report.original_range.is_none() {
                value["original_base64"] = json!(true);
            }
            value
        }
    }
}

/// Compares and, on a mismatch, writes `NNN.failed` and returns a message.
fn check(path: &Path, variant: &str, expected: &Value, actual: &Value) -> Option<String> {
    if expected == actual {
        return None;
    }
    let failed = path.with_extension("failed");
    let pretty = serde_json::to_string_pretty(actual).unwrap_or_default();
    let _ = fs::write(&failed, format!("{pretty}\n"));
    Some(format!(
        "{} ({variant}): expected {expected}\n  actual {actual}\n  (written to {})",
        path.display(),
        failed.display()
    ))
}

fn run_mail_suite(suite: &str) {
    let mut failures = Vec::new();
    let mut runs = 0;
    for (path, expected) in fixtures(suite) {
        let raw = fs::read(&path).expect("read fixture");
        for (variant, bytes) in variants(&raw) {
            runs += 1;
            let actual = actual_values(&bytes, &expected);
            failures.extend(check(&path, variant, &expected, &actual));
        }
    }
    assert!(runs > 0);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn fixtures_rfc() {
    run_mail_suite("rfc");
}

#[test]
fn fixtures_charset() {
    run_mail_suite("charset");
}

#[test]
fn fixtures_malformed() {
    run_mail_suite("malformed");
}

#[test]
fn fixtures_journal() {
    run_mail_suite("journal");
}

#[test]
fn fixtures_notmail_are_rejected() {
    let mut failures = Vec::new();
    for (path, expected) in fixtures("notmail") {
        let raw = fs::read(&path).expect("read fixture");
        let reason = match looks_like_mail(&raw) {
            Ok(()) => "accepted".to_string(),
            Err(reason) => {
                let debug = format!("{reason:?}");
                debug
                    .split([' ', '{'])
                    .next()
                    .unwrap_or_default()
                    .to_string()
            }
        };
        let actual = json!({
            "description": expected["description"],
            "mail": false,
            "reason": reason,
        });
        failures.extend(check(&path, "as written", &expected, &actual));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn fixtures_walk_whole_corpus() {
    // Importing the whole corpus: every mail fixture is an item, every notmail one a
    // rejection, sidecars and the README are rejected as not mail.
    let results: Vec<_> = walk([corpus_dir()], Default::default()).collect();
    let items = results.iter().filter(|r| r.is_ok()).count();
    let mail_fixtures: usize = ["rfc", "charset", "malformed", "journal"]
        .iter()
        .map(|s| fixtures(s).len())
        .sum();
    assert_eq!(items, mail_fixtures);
    for rejected in results.iter().filter_map(|r| r.as_ref().err()) {
        let path = &rejected.source.path;
        let is_notmail = path
            .parent()
            .and_then(|p| p.file_name())
            .is_some_and(|n| n == "notmail");
        let is_sidecar = path
            .extension()
            .is_some_and(|x| x == "json" || x == "md" || x == "failed");
        assert!(is_notmail || is_sidecar, "unexpected rejection: {rejected}");
    }
}
