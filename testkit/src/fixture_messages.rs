//! Fixture messages of query-api's tests: a small message with a text part, an HTML
//! part (with a tracker image and a script, for sanitising) and a PDF attachment, marked
//! by a unique word; and the fixture set of the authorization matrix, one message per
//! way a mailbox can own (or not own) a message.

/// A fixture message: a name, its raw bytes, and the envelope recipients (if journaled).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fixture {
    /// What the tests call it.
    pub name: &'static str,
    /// The message.
    pub raw: Vec<u8>,
    /// Envelope recipients of a journaled copy; empty for a message imported as is.
    pub rcpt: Vec<&'static str>,
}

/// A message with one attachment; `marker` is a unique word in the body for searches.
pub fn message(from: &str, to: &str, extra_headers: &str, subject: &str, marker: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: {to}\r\n{extra_headers}Subject: {subject}\r\nDate: Tue, 3 Nov 2026 10:00:00 +0000\r\n\
Message-ID: <{marker}@test.example>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n\
--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nBody text {marker} lorem ipsum.\r\n\
--b1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Hello {marker}<img src=\"https://tracker.example/{marker}.gif\"><script>alert(1)</script></p>\r\n\
--b1\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"report-{marker}.pdf\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQKJeLjz9MK\r\n--b1--\r\n"
    )
    .into_bytes()
}

/// The fixture set of the authorization matrix. Owners:
/// - `own`: alice's primary address; `alias`: her second address;
/// - `bcc`: alice only in the Bcc header; `envelope`: alice only as an envelope
///   recipient of a journaled copy (no header names her);
/// - `other_user`: carl (same domain, no relation); `group`: bob (alice's group);
/// - `other_domain`: carol at other.example.
pub fn fixtures() -> Vec<Fixture> {
    vec![
        Fixture {
            name: "own",
            raw: message(
                "Ext <ext@outside.example>",
                "alice@corp.example",
                "",
                "Own mail",
                "mkown",
            ),
            rcpt: vec![],
        },
        Fixture {
            name: "alias",
            raw: message(
                "ext@outside.example",
                "ally@corp.example",
                "",
                "Alias mail",
                "mkalias",
            ),
            rcpt: vec![],
        },
        Fixture {
            name: "bcc",
            raw: message(
                "ext@outside.example",
                "someone@outside.example",
                "Bcc: alice@corp.example\r\n",
                "Bcc mail",
                "mkbcc",
            ),
            rcpt: vec![],
        },
        Fixture {
            name: "envelope",
            raw: message(
                "ext@outside.example",
                "list@outside.example",
                "",
                "Envelope mail",
                "mkenvelope",
            ),
            rcpt: vec!["alice@corp.example"],
        },
        Fixture {
            name: "other_user",
            raw: message(
                "ext@outside.example",
                "carl@corp.example",
                "",
                "Carl mail",
                "mkcarl",
            ),
            rcpt: vec![],
        },
        Fixture {
            name: "group",
            raw: message(
                "ext@outside.example",
                "bob@corp.example",
                "",
                "Bob mail",
                "mkbob",
            ),
            rcpt: vec![],
        },
        Fixture {
            name: "other_domain",
            raw: message(
                "ext@outside.example",
                "carol@other.example",
                "",
                "Carol mail",
                "mkcarol",
            ),
            rcpt: vec![],
        },
    ]
}
