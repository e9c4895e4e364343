//! Unit tests of the protocol state machine, without sockets (in the manner of
//! Stalwart's imap-proto receiver tests): whole conversations are fed as bytes, in one
//! piece, byte by byte and split at every boundary, and the replies and delivered
//! transactions are compared.

#![allow(clippy::unwrap_used)] // tests may unwrap

use base64::Engine as _;
use proptest::prelude::*;

use super::proto::{
    Action, AuthPolicy, CloseReason, ConnectionInfo, Credentials, DeliveryOutcome, PermFailure,
    Reply, SmtpConfig, SmtpSession, TempFailure, Transaction,
};

fn config() -> SmtpConfig {
    SmtpConfig {
        hostname: "archive.test".to_owned(),
        max_message_size: 10_000,
        max_recipients: 5,
        max_errors: 10,
        ..SmtpConfig::default()
    }
}

fn tls_config(auth: AuthPolicy) -> SmtpConfig {
    SmtpConfig {
        tls_available: true,
        auth,
        ..config()
    }
}

fn lmtp_config() -> SmtpConfig {
    SmtpConfig {
        lmtp: true,
        ..config()
    }
}

fn session(config: &SmtpConfig) -> SmtpSession {
    SmtpSession::new(
        config,
        ConnectionInfo {
            peer: None,
            tls_active: false,
        },
    )
}

/// Everything a conversation produced.
#[derive(Debug, Default, PartialEq)]
struct Transcript {
    replies: Vec<Reply>,
    delivered: Vec<Transaction>,
    credentials: Vec<Credentials>,
    tls_upgrades: usize,
    closed: bool,
}

impl Transcript {
    fn codes(&self) -> Vec<u16> {
        self.replies.iter().map(Reply::code).collect()
    }

    fn text(&self) -> String {
        self.replies
            .iter()
            .map(|reply| String::from_utf8_lossy(reply.as_bytes()).into_owned())
            .collect()
    }
}

/// The outcome every test sink gives unless it says otherwise.
fn accept(_: &Transaction) -> DeliveryOutcome {
    DeliveryOutcome::Accepted {
        queue_id: "2026-1".to_owned(),
    }
}

/// Carries out actions like a driver would: deliveries get `outcome`, TLS always
/// succeeds, the password `secret` is the only good one and belongs to the principal
/// `token-of-USERNAME`.
fn resolve(
    session: &mut SmtpSession,
    actions: Vec<Action>,
    transcript: &mut Transcript,
    outcome: &dyn Fn(&Transaction) -> DeliveryOutcome,
) {
    let mut queue = std::collections::VecDeque::from(actions);
    while let Some(action) = queue.pop_front() {
        match action {
            Action::Reply(reply) => transcript.replies.push(reply),
            Action::Close => transcript.closed = true,
            Action::StartTls => {
                transcript.tls_upgrades += 1;
                queue.extend(session.tls_established());
            }
            Action::Authenticate(credentials) => {
                let principal = (credentials.password == "secret")
                    .then(|| format!("token-of-{}", credentials.username));
                transcript.credentials.push(credentials);
                queue.extend(session.authentication_result(principal));
            }
            Action::Deliver(transaction) => {
                let result = outcome(&transaction);
                transcript.delivered.push(transaction);
                queue.extend(session.delivered(result));
            }
        }
    }
}

/// Feeds `input` in chunks of `chunk` bytes.
fn converse_with(
    config: &SmtpConfig,
    input: &[u8],
    chunk: usize,
    outcome: &dyn Fn(&Transaction) -> DeliveryOutcome,
) -> Transcript {
    let mut machine = session(config);
    let mut transcript = Transcript::default();
    transcript.replies.push(machine.greeting());
    for piece in input.chunks(chunk.max(1)) {
        let actions = machine.feed(piece);
        resolve(&mut machine, actions, &mut transcript, outcome);
    }
    transcript
}

fn converse(config: &SmtpConfig, input: &[u8]) -> Transcript {
    converse_with(config, input, input.len().max(1), &accept)
}

/// Feeds `input` split at `at`.
fn converse_split(config: &SmtpConfig, input: &[u8], at: usize) -> Transcript {
    let mut machine = session(config);
    let mut transcript = Transcript::default();
    transcript.replies.push(machine.greeting());
    for piece in [&input[..at], &input[at..]] {
        let actions = machine.feed(piece);
        resolve(&mut machine, actions, &mut transcript, &accept);
    }
    transcript
}

const SIMPLE: &[u8] = b"EHLO client.example\r\n\
MAIL FROM:<alice@example.org> SIZE=120 BODY=8BITMIME\r\n\
RCPT TO:<bob@example.net>\r\n\
RCPT TO:<carol@example.net>\r\n\
DATA\r\n\
Subject: hello\r\n\
\r\n\
..leading dot\r\n\
..\r\n\
...\r\n\
body\r\n\
.\r\n\
QUIT\r\n";

#[test]
fn smtp_full_transaction() {
    let transcript = converse(&config(), SIMPLE);
    assert_eq!(
        transcript.codes(),
        [220, 250, 250, 250, 250, 354, 250, 221],
        "{}",
        transcript.text()
    );
    assert!(transcript.closed);
    assert_eq!(transcript.delivered.len(), 1);
    let transaction = &transcript.delivered[0];
    assert_eq!(transaction.mail_from.as_deref(), Some("alice@example.org"));
    assert_eq!(
        transaction.rcpt_to,
        ["bob@example.net".to_owned(), "carol@example.net".to_owned()]
    );
    assert_eq!(transaction.helo.as_deref(), Some("client.example"));
    assert!(transaction.body_8bit);
    assert_eq!(transaction.size_declared, Some(120));
    assert_eq!(
        transaction.data,
        b"Subject: hello\r\n\r\n.leading dot\r\n.\r\n..\r\nbody\r\n"
    );
    assert!(
        transcript
            .text()
            .contains("250 2.0.0 Ok: queued as 2026-1\r\n")
    );
    assert!(transcript.text().starts_with("220 archive.test ESMTP"));
}

#[test]
fn smtp_ehlo_advertises_extensions() {
    let transcript = converse(&config(), b"EHLO c\r\n");
    let text = transcript.text();
    for line in [
        "250-archive.test\r\n",
        "250-PIPELINING\r\n",
        "250-SIZE 10000\r\n",
        "250-8BITMIME\r\n",
        "250-ENHANCEDSTATUSCODES\r\n",
        "250-SMTPUTF8\r\n",
        "250 HELP\r\n",
    ] {
        assert!(text.contains(line), "{line:?} missing in {text}");
    }
    assert!(!text.contains("STARTTLS"), "{text}");
    assert!(!text.contains("AUTH"), "{text}");
}

#[test]
fn smtp_pipelining_in_one_feed() {
    // Everything, including the next transaction after the dot, arrives at once; the
    // second transaction is only processed after the first delivery is resolved.
    let mut input = SIMPLE.to_vec();
    input.truncate(input.len() - b"QUIT\r\n".len());
    input.extend_from_slice(b"MAIL FROM:<>\r\nRCPT TO:<postmaster>\r\nDATA\r\nx\r\n.\r\nQUIT\r\n");

    let mut machine = session(&config());
    let actions = machine.feed(&input);
    let codes: Vec<u16> = actions
        .iter()
        .filter_map(|action| match action {
            Action::Reply(reply) => Some(reply.code()),
            _ => None,
        })
        .collect();
    assert_eq!(codes, [250, 250, 250, 250, 354]);
    assert!(matches!(actions.last(), Some(Action::Deliver(_))));
    assert!(
        machine.buffered_bytes() > 0,
        "pipelined commands stay buffered"
    );

    let after = machine.delivered(DeliveryOutcome::Accepted {
        queue_id: "1".to_owned(),
    });
    let mut transcript = Transcript::default();
    resolve(&mut machine, after, &mut transcript, &accept);
    assert_eq!(transcript.codes(), [250, 250, 250, 354, 250, 221]);
    assert_eq!(transcript.delivered.len(), 1);
    let second = &transcript.delivered[0];
    assert_eq!(second.mail_from, None);
    assert_eq!(second.rcpt_to, ["postmaster".to_owned()]);
    assert_eq!(second.data, b"x\r\n");
}

#[test]
fn smtp_byte_at_a_time_matches_one_feed() {
    let whole = converse(&config(), SIMPLE);
    let bytewise = converse_with(&config(), SIMPLE, 1, &accept);
    assert_eq!(whole, bytewise);
}

#[test]
fn smtp_split_at_every_boundary() {
    let whole = converse(&config(), SIMPLE);
    for at in 0..=SIMPLE.len() {
        let split = converse_split(&config(), SIMPLE, at);
        assert_eq!(whole, split, "split at {at}");
    }
}

#[test]
fn smtp_dot_stuffing_edge_cases() {
    // Empty message, a message starting with a stuffed dot, a content line that is a
    // lone dot (sent stuffed as ".."), and CR/LF oddities inside content.
    let input = b"HELO c\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nDATA\r\n.\r\n\
MAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nDATA\r\n..first\r\n..\r\nx.\r\n.y\r\n.\r\n\
MAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nDATA\r\na\rb\r\n\r\n.\r\n";
    let transcript = converse(&config(), input);
    assert_eq!(
        transcript.codes(),
        [
            220, 250, 250, 250, 354, 250, 250, 250, 354, 250, 250, 250, 354, 250
        ]
    );
    let data: Vec<&[u8]> = transcript
        .delivered
        .iter()
        .map(|t| t.data.as_slice())
        .collect();
    assert_eq!(data[0], b"");
    assert_eq!(data[1], b".first\r\n.\r\nx.\r\ny\r\n");
    assert_eq!(data[2], b"a\rb\r\n\r\n");
}

#[test]
fn smtp_bare_lf() {
    // Commands may end in a bare LF; in DATA a bare-LF dot line is content, and only
    // CRLF.CRLF ends the message.
    let input = b"EHLO c\nMAIL FROM:<a@b.c>\nRCPT TO:<d@e.f>\nDATA\n\
Subject: x\n\nbody\n.\nstill data\r\n.\nmore\r\n.\r\nQUIT\n";
    let transcript = converse(&config(), input);
    assert_eq!(transcript.codes(), [220, 250, 250, 250, 354, 250, 221]);
    assert_eq!(
        transcript.delivered[0].data,
        b"Subject: x\n\nbody\n.\nstill data\r\n\nmore\r\n"
    );
}

#[test]
fn smtp_over_long_lines() {
    let config = config();
    let mut input = b"EHLO c\r\nNOOP ".to_vec();
    input.extend(std::iter::repeat_n(b'x', 5000));
    input.extend_from_slice(b"\r\nNOOP\r\n");
    // A line just under and one just at the limit (4096 bytes including CRLF).
    let mut fits = b"NOOP ".to_vec();
    fits.extend(std::iter::repeat_n(b'y', config.max_line_length - 7));
    fits.extend_from_slice(b"\r\n");
    assert_eq!(fits.len(), config.max_line_length);
    input.extend_from_slice(&fits);
    let mut too_long = b"NOOP ".to_vec();
    too_long.extend(std::iter::repeat_n(b'z', config.max_line_length - 6));
    too_long.extend_from_slice(b"\r\n");
    input.extend_from_slice(&too_long);
    input.extend_from_slice(b"QUIT\r\n");

    for chunk in [input.len(), 1, 7, 1000, 4096] {
        let transcript = converse_with(&config, &input, chunk, &accept);
        assert_eq!(
            transcript.codes(),
            [220, 250, 500, 250, 250, 500, 221],
            "chunk {chunk}"
        );
        assert!(transcript.text().contains("500 5.5.2 Line too long"));
    }

    // Memory stays bounded while an endless line arrives.
    let mut machine = session(&config);
    let junk = vec![b'q'; 1000];
    for _ in 0..1000 {
        let _ = machine.feed(&junk);
        assert!(machine.buffered_bytes() <= config.max_line_length + junk.len());
    }
    let actions = machine.feed(b"\r\nNOOP\r\n");
    assert!(matches!(&actions[..], [Action::Reply(reply)] if reply.code() == 250));
}

#[test]
fn smtp_oversized_data_is_discarded_with_552() {
    let config = config();
    let mut machine = session(&config);
    let mut transcript = Transcript::default();
    let actions = machine.feed(b"EHLO c\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nDATA\r\n");
    resolve(&mut machine, actions, &mut transcript, &accept);
    let line = [b'a'; 1022];
    let mut chunk = line.to_vec();
    chunk.extend_from_slice(b"\r\n");
    for _ in 0..1000 {
        let actions = machine.feed(&chunk);
        assert!(actions.is_empty());
        assert!(
            machine.buffered_bytes() <= config.max_message_size as usize + 1024,
            "holds {}",
            machine.buffered_bytes()
        );
    }
    let actions = machine.feed(b".\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nDATA\r\nok\r\n.\r\n");
    resolve(&mut machine, actions, &mut transcript, &accept);
    assert_eq!(
        transcript.codes(),
        [250, 250, 250, 354, 552, 250, 250, 354, 250]
    );
    assert!(transcript.text().contains("552 5.3.4 "));
    assert_eq!(transcript.delivered.len(), 1, "only the second message");
    assert_eq!(transcript.delivered[0].data, b"ok\r\n");
}

#[test]
fn smtp_size_parameter() {
    let transcript = converse(
        &config(),
        b"EHLO c\r\nMAIL FROM:<a@b.c> SIZE=10001\r\nMAIL FROM:<a@b.c> SIZE=10000\r\nQUIT\r\n",
    );
    assert_eq!(transcript.codes(), [220, 250, 552, 250, 221]);
    assert!(transcript.text().contains("552 5.3.4 "));

    let transcript = converse(
        &config(),
        b"EHLO c\r\nMAIL FROM:<a@b.c> SIZE=99999999999999999999999999\r\n",
    );
    assert_ne!(transcript.codes()[2], 250, "{}", transcript.text());
}

#[test]
fn smtp_commands_out_of_order() {
    let transcript = converse(
        &config(),
        b"MAIL FROM:<a@b.c>\r\nEHLO c\r\nRCPT TO:<d@e.f>\r\nDATA\r\n\
MAIL FROM:<a@b.c>\r\nMAIL FROM:<a@b.c>\r\nDATA\r\nRCPT TO:<d@e.f>\r\nDATA\r\n.\r\n",
    );
    assert_eq!(
        transcript.codes(),
        [220, 503, 250, 503, 503, 250, 503, 503, 250, 354, 250],
        "{}",
        transcript.text()
    );
}

#[test]
fn smtp_rset_mid_transaction() {
    let transcript = converse(
        &config(),
        b"EHLO c\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nRSET\r\nDATA\r\nRCPT TO:<d@e.f>\r\n\
MAIL FROM:<x@y.z>\r\nRCPT TO:<u@v.w>\r\nDATA\r\nm\r\n.\r\n",
    );
    assert_eq!(
        transcript.codes(),
        [220, 250, 250, 250, 250, 503, 503, 250, 250, 354, 250]
    );
    assert_eq!(transcript.delivered[0].mail_from.as_deref(), Some("x@y.z"));
    assert_eq!(transcript.delivered[0].rcpt_to, ["u@v.w".to_owned()]);
}

#[test]
fn smtp_too_many_recipients() {
    let mut input = b"EHLO c\r\nMAIL FROM:<a@b.c>\r\n".to_vec();
    for index in 0..7 {
        input.extend_from_slice(format!("RCPT TO:<r{index}@e.f>\r\n").as_bytes());
    }
    input.extend_from_slice(b"DATA\r\nx\r\n.\r\n");
    let transcript = converse(&config(), &input);
    assert_eq!(
        transcript.codes(),
        [220, 250, 250, 250, 250, 250, 250, 250, 452, 452, 354, 250]
    );
    assert!(transcript.text().contains("452 4.5.3 "));
    assert_eq!(transcript.delivered[0].rcpt_to.len(), 5);
}

#[test]
fn smtp_data_with_only_refused_recipients_gets_554() {
    let transcript = converse(
        &config(),
        b"EHLO c\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<>\r\nDATA\r\n",
    );
    assert_eq!(transcript.codes(), [220, 250, 250, 501, 554]);
}

#[test]
fn smtp_simple_commands() {
    let transcript = converse(
        &config(),
        b"HELO c\r\nNOOP\r\nVRFY bob\r\nHELP\r\nEXPN list\r\nBDAT 10 LAST\r\nFOO bar\r\n\r\nRSET\r\nQUIT\r\nNOOP\r\n",
    );
    assert_eq!(
        transcript.codes(),
        [220, 250, 250, 252, 214, 502, 502, 500, 500, 250, 221]
    );
    assert!(transcript.closed);
}

#[test]
fn smtp_syntax_errors() {
    let transcript = converse(
        &config(),
        b"EHLO\r\nEHLO c\r\nMAIL FROM:alice\r\nMAIL FROM:<a@b.c> FOO=BAR\r\nMAIL FROM:<a@b.c> BODY=BINARYMIME\r\n\
MAIL FROM:<a@b.c> BODY=7BIT\r\nRCPT TO:<not an address>\r\nRCPT TO:<d@e.f>\r\n",
    );
    assert_eq!(
        transcript.codes(),
        [220, 501, 250, 501, 555, 555, 250, 501, 250],
        "{}",
        transcript.text()
    );
}

#[test]
fn smtp_too_many_errors_closes_with_421() {
    let mut input = b"EHLO c\r\n".to_vec();
    for _ in 0..20 {
        input.extend_from_slice(b"GARBAGE\r\n");
    }
    let transcript = converse(&config(), &input);
    let codes = transcript.codes();
    assert_eq!(codes.len(), 2 + 10 + 1, "{}", transcript.text());
    assert_eq!(codes.last(), Some(&421));
    assert!(transcript.closed);
    assert!(transcript.text().contains("421 4.7.0 "));
}

#[test]
fn smtp_delivery_outcomes() {
    let input = b"EHLO c\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nDATA\r\nx\r\n.\r\n";
    let cases: [(DeliveryOutcome, &str); 6] = [
        (
            DeliveryOutcome::TempFail(TempFailure::Storage),
            "452 4.3.1 ",
        ),
        (
            DeliveryOutcome::TempFail(TempFailure::Internal),
            "451 4.3.0 ",
        ),
        (
            DeliveryOutcome::TempFail(TempFailure::Unavailable),
            "451 4.3.2 ",
        ),
        (DeliveryOutcome::PermFail(PermFailure::Policy), "550 5.7.1 "),
        (
            DeliveryOutcome::PermFail(PermFailure::Content),
            "554 5.6.0 ",
        ),
        (
            DeliveryOutcome::PerRecipient(vec![
                DeliveryOutcome::Accepted {
                    queue_id: "1".to_owned(),
                },
                DeliveryOutcome::TempFail(TempFailure::Storage),
            ]),
            "452 4.3.1 ",
        ),
    ];
    for (outcome, expected) in cases {
        let transcript = converse_with(&config(), input, input.len(), &|_| outcome.clone());
        let last = transcript.replies.last().map(|r| r.as_bytes().to_vec());
        let last = String::from_utf8(last.unwrap_or_default()).unwrap();
        assert!(last.starts_with(expected), "{outcome:?}: {last}");
    }
}

#[test]
fn smtp_queue_id_is_sanitised() {
    let input = b"EHLO c\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nDATA\r\nx\r\n.\r\n";
    let transcript = converse_with(&config(), input, input.len(), &|_| {
        DeliveryOutcome::Accepted {
            queue_id: "id\r\n250 forged".to_owned(),
        }
    });
    assert!(transcript.text().ends_with("queued as id250forged\r\n"));
}

#[test]
fn lmtp_per_recipient_replies() {
    let input = b"LHLO c\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<r1@e.f>\r\nRCPT TO:<r2@e.f>\r\n\
RCPT TO:<r3@e.f>\r\nDATA\r\nx\r\n.\r\n";
    let transcript = converse_with(&lmtp_config(), input, input.len(), &|_| {
        DeliveryOutcome::PerRecipient(vec![
            DeliveryOutcome::Accepted {
                queue_id: "7".to_owned(),
            },
            DeliveryOutcome::TempFail(TempFailure::Storage),
            DeliveryOutcome::PermFail(PermFailure::Policy),
        ])
    });
    assert_eq!(
        transcript.codes(),
        [220, 250, 250, 250, 250, 250, 354, 250, 452, 550]
    );
    assert!(transcript.text().starts_with("220 archive.test LMTP"));

    let transcript = converse(&lmtp_config(), input);
    assert_eq!(&transcript.codes()[7..], [250, 250, 250]);

    // Missing per-recipient entries are temporary failures.
    let transcript = converse_with(&lmtp_config(), input, input.len(), &|_| {
        DeliveryOutcome::PerRecipient(vec![DeliveryOutcome::Accepted {
            queue_id: "7".to_owned(),
        }])
    });
    assert_eq!(&transcript.codes()[7..], [250, 451, 451]);
}

#[test]
fn lmtp_refuses_ehlo_and_oversize_replies_per_recipient() {
    let mut input =
        b"EHLO c\r\nHELO c\r\nMAIL FROM:<a@b.c>\r\nLHLO c\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<r1@e.f>\r\nRCPT TO:<r2@e.f>\r\nDATA\r\n"
            .to_vec();
    input.extend(std::iter::repeat_n(b'a', 20_000));
    input.extend_from_slice(b"\r\n.\r\n");
    let transcript = converse(&lmtp_config(), &input);
    assert_eq!(
        transcript.codes(),
        [220, 500, 500, 503, 250, 250, 250, 250, 354, 552, 552]
    );
    assert!(transcript.delivered.is_empty());
    // LHLO is unknown to SMTP.
    assert_eq!(converse(&config(), b"LHLO c\r\n").codes(), [220, 500]);
}

#[test]
fn smtp_starttls_advertisement_and_reset() {
    let config = tls_config(AuthPolicy::Disabled);
    let mut machine = session(&config);
    let mut transcript = Transcript::default();
    let actions =
        machine.feed(b"EHLO c\r\nMAIL FROM:<a@b.c>\r\nSTARTTLS\r\nRCPT TO:<injected@e.f>\r\n");
    assert!(matches!(actions.last(), Some(Action::StartTls)));
    resolve(&mut machine, actions, &mut transcript, &accept);
    assert!(transcript.text().contains("250-STARTTLS\r\n"));
    assert_eq!(transcript.codes(), [250, 250, 220]);
    assert!(machine.tls_active());
    // The pipelined RCPT was discarded, the session was reset: MAIL needs EHLO again.
    let mut after = Transcript::default();
    let actions = machine.feed(b"MAIL FROM:<a@b.c>\r\nEHLO c\r\nSTARTTLS\r\n");
    resolve(&mut machine, actions, &mut after, &accept);
    assert_eq!(after.codes(), [503, 250, 503]);
    assert!(!after.text().contains("250-STARTTLS"), "{}", after.text());

    // Without TLS configured: not advertised, and refused.
    let transcript = converse(&self::config(), b"EHLO c\r\nSTARTTLS\r\n");
    assert!(!transcript.text().contains("250-STARTTLS"));
    assert_eq!(transcript.codes(), [220, 250, 502]);
}

fn plain(authzid: &str, user: &str, password: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{authzid}\0{user}\0{password}"))
}

#[test]
fn smtp_auth_plain_only_after_tls() {
    let config = tls_config(AuthPolicy::Optional);
    let good = plain("", "journal", "secret");
    let input = format!(
        "EHLO c\r\nAUTH PLAIN {good}\r\nSTARTTLS\r\nEHLO c\r\nAUTH PLAIN {bad}\r\nAUTH LOGIN\r\n\
AUTH PLAIN\r\n{good}\r\nEHLO c\r\nAUTH PLAIN {good}\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nDATA\r\nx\r\n.\r\n",
        bad = plain("", "journal", "wrong")
    );
    let transcript = converse_with(&config, input.as_bytes(), 1, &accept);
    let text = transcript.text();
    assert_eq!(
        transcript.codes(),
        [
            220, 250, 538, 220, 250, 535, 504, 334, 235, 250, 503, 250, 250, 354, 250
        ],
        "{text}"
    );
    let ehlo_before_tls = &text[..text.find("538").unwrap_or(0)];
    assert!(!ehlo_before_tls.contains("AUTH"), "{ehlo_before_tls}");
    assert!(text.contains("250-AUTH PLAIN\r\n"));
    assert_eq!(transcript.credentials.len(), 2);
    assert_eq!(transcript.credentials[1].username, "journal");
    assert_eq!(transcript.credentials[1].password, "secret");
    assert!(!format!("{:?}", transcript.credentials[1]).contains("secret"));
    // The message carries the principal the check named, not the user name typed.
    assert_eq!(
        transcript.delivered[0].authenticated_as.as_deref(),
        Some("token-of-journal")
    );
    // After a successful AUTH the last EHLO no longer offers it.
    let last_ehlo = &text[text.rfind("250-archive.test").unwrap_or(0)..];
    assert!(!last_ehlo.contains("AUTH PLAIN"), "{last_ehlo}");
}

#[test]
fn smtp_auth_plain_malformed_and_cancelled() {
    let config = tls_config(AuthPolicy::Optional);
    let input = format!(
        "STARTTLS\r\nEHLO c\r\nAUTH PLAIN\r\n*\r\nAUTH PLAIN !!!\r\nAUTH PLAIN {nul}\r\nAUTH PLAIN {proxy}\r\n",
        nul = base64::engine::general_purpose::STANDARD.encode("just-one-part"),
        proxy = plain("admin", "journal", "secret"),
    );
    let transcript = converse_with(&config, input.as_bytes(), 1, &accept);
    assert_eq!(
        transcript.codes(),
        [220, 220, 250, 334, 501, 501, 501, 535],
        "{}",
        transcript.text()
    );
    assert!(transcript.credentials.is_empty());
}

#[test]
fn smtp_auth_required() {
    let config = tls_config(AuthPolicy::Required);
    let input = format!(
        "EHLO c\r\nMAIL FROM:<a@b.c>\r\nSTARTTLS\r\nEHLO c\r\nMAIL FROM:<a@b.c>\r\nAUTH PLAIN {}\r\nMAIL FROM:<a@b.c>\r\n",
        plain("journal", "journal", "secret")
    );
    let transcript = converse_with(&config, input.as_bytes(), 1, &accept);
    assert_eq!(
        transcript.codes(),
        [220, 250, 530, 220, 250, 530, 235, 250],
        "{}",
        transcript.text()
    );
    assert!(
        transcript
            .text()
            .contains("530 5.7.0 Must issue a STARTTLS command first")
    );
    // AUTH is refused when disabled.
    let input = b"STARTTLS\r\nEHLO c\r\nAUTH PLAIN AGFiAGM=\r\n";
    let transcript = converse_with(&tls_config(AuthPolicy::Disabled), input, 1, &accept);
    assert_eq!(transcript.codes(), [220, 220, 250, 503]);
}

#[test]
fn smtp_close_with_timeout_and_shutdown() {
    let mut machine = session(&config());
    let actions = machine.close_with(CloseReason::Timeout);
    assert!(matches!(&actions[..], [Action::Reply(reply), Action::Close]
        if reply.as_bytes().starts_with(b"421 4.4.2 ")));
    assert!(machine.is_closed());
    assert!(machine.close_with(CloseReason::Shutdown).is_empty());
    assert!(machine.feed(b"NOOP\r\n").is_empty());

    let mut machine = session(&config());
    let actions = machine.close_with(CloseReason::Shutdown);
    assert!(matches!(&actions[..], [Action::Reply(reply), Action::Close]
        if reply.as_bytes().starts_with(b"421 4.3.2 ")));
}

#[test]
fn smtp_debug_output_hides_addresses_and_content() {
    let transcript = converse(&config(), SIMPLE);
    let shown = format!("{:?}", transcript.delivered[0]);
    assert!(!shown.contains("alice"), "{shown}");
    assert!(!shown.contains("bob"), "{shown}");
    assert!(!shown.contains("hello"), "{shown}");
    assert!(shown.contains("recipients: 2"), "{shown}");
}

#[test]
fn smtp_resolving_calls_out_of_turn_are_ignored() {
    let mut machine = session(&config());
    assert!(
        machine
            .delivered(DeliveryOutcome::TempFail(TempFailure::Internal))
            .is_empty()
    );
    assert!(
        machine
            .authentication_result(Some("token".to_owned()))
            .is_empty()
    );
    assert!(machine.tls_established().is_empty());
    assert!(!machine.tls_active());
}

/// Well-formed reply bytes: `ddd` then space or dash, CRLF at the end, no bare CR/LF.
fn well_formed(reply: &Reply) -> bool {
    let bytes = reply.as_bytes();
    bytes.len() >= 6
        && bytes[..3].iter().all(u8::is_ascii_digit)
        && (bytes[3] == b' ' || bytes[3] == b'-')
        && bytes.ends_with(b"\r\n")
        && bytes.split(|&b| b == b'\n').all(|line| {
            line.is_empty() || (line.ends_with(b"\r") && !line[..line.len() - 1].contains(&b'\r'))
        })
}

const VOCABULARY: &[&str] = &[
    "EHLO c\r\n",
    "HELO c\n",
    "LHLO c\r\n",
    "MAIL FROM:<a@b.c>\r\n",
    "MAIL FROM:<> SIZE=5 BODY=8BITMIME\r\n",
    "MAIL FROM:<a@b.c> SIZE=999999999\r\n",
    "RCPT TO:<d@e.f>\r\n",
    "RCPT TO:<postmaster>\r\n",
    "DATA\r\n",
    ".\r\n",
    "..\r\n",
    "\r\n",
    "\n",
    "\r",
    "x\r\n.\r\n",
    "text line\r\n",
    "RSET\r\n",
    "NOOP\r\n",
    "VRFY x\r\n",
    "HELP\r\n",
    "AUTH PLAIN AGFiAGM=\r\n",
    "AUTH PLAIN\r\n",
    "*\r\n",
    "\u{0}\u{ff}\u{7f}",
    "\u{1b}[31m",
    "BDAT 3\r\n",
];

fn script() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            4 => prop::sample::select(VOCABULARY).prop_map(|s| s.as_bytes().to_vec()),
            1 => prop::collection::vec(any::<u8>(), 0..40),
        ],
        0..60,
    )
    .prop_map(|parts| parts.concat())
}

// 256 cases by default; `PROPTEST_CASES=100000` for a longer run.
proptest! {
    /// Random bytes never panic, and a line always gets an answer.
    #[test]
    fn smtp_binary_junk_never_panics(
        input in prop::collection::vec(any::<u8>(), 0..3000),
        chunk in 1usize..300,
    ) {
        let config = tls_config(AuthPolicy::Optional);
        let transcript = converse_with(&config, &input, chunk, &accept);
        prop_assert!(transcript.replies.iter().all(well_formed));
        if input.contains(&b'\n') {
            prop_assert!(transcript.replies.len() > 1, "no reply to {:?}", input);
        }
    }

    /// Command soup: no panic, well-formed replies, and chunking never changes the
    /// outcome (STARTTLS excluded: it deliberately drops what follows in the same read).
    #[test]
    fn smtp_chunking_does_not_change_the_conversation(
        input in script(),
        chunk in 1usize..50,
        lmtp in any::<bool>(),
    ) {
        let config = SmtpConfig { lmtp, max_line_length: 512, max_errors: 1000, ..config() };
        let whole = converse(&config, &input);
        let chunked = converse_with(&config, &input, chunk, &accept);
        prop_assert!(whole.replies.iter().all(well_formed));
        prop_assert_eq!(whole, chunked);
    }
}

/// Issue 22, item 9: over the memory budget, LMTP answers `452 4.3.1` once per
/// recipient at the end of data (the content was read to its end and discarded), and
/// the next transaction of the session works once memory is free again.
#[test]
fn lmtp_over_the_memory_budget_is_a_temporary_failure_per_recipient() {
    let budget = crate::budget::MemoryBudget::new(70_000);
    let config = SmtpConfig {
        max_message_size: 200_000,
        ..lmtp_config()
    };
    let mut machine = session(&config).with_memory_budget(budget.clone());
    let mut transcript = Transcript::default();
    let mut input =
        b"LHLO c\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nRCPT TO:<g@h.i>\r\nDATA\r\n".to_vec();
    input.extend(b"Subject: big\r\n\r\n");
    input.extend(std::iter::repeat_n(b"0123456789".as_slice(), 8_000).flatten());
    input.extend(
        b"\r\n.\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nDATA\r\nSubject: small\r\n\r\n.\r\n",
    );
    for chunk in input.chunks(4096) {
        let actions = machine.feed(chunk);
        resolve(&mut machine, actions, &mut transcript, &accept);
    }
    assert_eq!(
        transcript.codes(),
        [250, 250, 250, 250, 354, 452, 452, 250, 250, 354, 250],
        "{}",
        transcript.text()
    );
    assert_eq!(transcript.delivered.len(), 1);
    assert_eq!(budget.in_use(), 0);
}
