//! The vendored mail-parser (`third_party/mail-parser`) decodes base64 MIME parts with a
//! fast path for whole four-character groups. It must parse every message exactly as the
//! unpatched crate from crates.io does: same parts, offsets, decoded bytes and flags, on
//! well-formed base64 and on every kind of damage (padding in the middle, whitespace,
//! dashes, invalid bytes, lines of odd length, a missing or glued closing boundary).
//! The two parse results are compared through their `Debug` output, which prints every
//! field of the message and its parts.

use proptest::prelude::*;

fn both(raw: &[u8]) -> (String, String) {
    let patched = mail_parser::MessageParser::default().parse(raw);
    let upstream = mail_parser_upstream::MessageParser::default().parse(raw);
    (format!("{patched:?}"), format!("{upstream:?}"))
}

/// What goes between runs of alphabet characters: line breaks (listed more than once,
/// as they are the most frequent), padding, whitespace, dashes and boundaries whole,
/// glued or foreign.
const BETWEEN_RUNS: &[&[u8]] = &[
    b"\r\n",
    b"\r\n",
    b"\r\n",
    b"\r\n",
    b"\n",
    b"\n",
    b"\n",
    b"\r",
    b"=",
    b"==",
    b" ",
    b"\t",
    b"-",
    b"--",
    b"--b1",
    b"\r\n--b1--\r\n",
    b"\n--b1\n",
    b"--b2",
];

/// One piece of a base64 body, well-formed or damaged.
fn piece() -> impl Strategy<Value = Vec<u8>> {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    prop_oneof![
        // Runs of alphabet characters of any length (not only multiples of four).
        8 => proptest::collection::vec(proptest::sample::select(alphabet.to_vec()), 1..120),
        18 => proptest::sample::select(BETWEEN_RUNS).prop_map(<[u8]>::to_vec),
        1 => any::<u8>().prop_map(|b| vec![b]),
    ]
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(piece(), 0..40).prop_map(|p| p.concat())
}

fn multipart(parts: &[Vec<u8>], close: bool) -> Vec<u8> {
    let mut m = b"From: a@example.com\r\nTo: b@example.com\r\nSubject: s\r\nMIME-Version: 1.0\r\n\
        Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\npreamble\r\n"
        .to_vec();
    for (i, part) in parts.iter().enumerate() {
        m.extend_from_slice(b"--b1\r\n");
        m.extend_from_slice(
            format!("Content-Type: application/octet-stream; name=\"f{i}.bin\"\r\n").as_bytes(),
        );
        m.extend_from_slice(b"Content-Transfer-Encoding: base64\r\n\r\n");
        m.extend_from_slice(part);
        m.extend_from_slice(b"\r\n");
    }
    if close {
        m.extend_from_slice(b"--b1--\r\n");
    }
    m
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn multipart_base64_parts_parse_as_upstream(parts in proptest::collection::vec(body(), 1..4), close in any::<bool>()) {
        let raw = multipart(&parts, close);
        let (patched, upstream) = both(&raw);
        prop_assert_eq!(patched, upstream);
    }

    #[test]
    fn single_part_base64_messages_parse_as_upstream(body in body(), text in any::<bool>()) {
        let kind = if text { "text/plain; charset=utf-8" } else { "application/pdf" };
        let mut raw = format!(
            "From: a@example.com\nSubject: s\nContent-Type: {kind}\nContent-Transfer-Encoding: base64\n\n"
        )
        .into_bytes();
        raw.extend_from_slice(&body);
        let (patched, upstream) = both(&raw);
        prop_assert_eq!(patched, upstream);
    }
}

/// Well-formed attachments of many sizes and line lengths, CRLF and LF, with and
/// without padding: the common case the fast path is for.
#[test]
fn well_formed_attachments_parse_as_upstream() {
    use base64::Engine;
    let mut state: u32 = 7;
    for size in [0usize, 1, 2, 3, 4, 5, 57, 58, 59, 60, 1000, 65_537] {
        let data: Vec<u8> = (0..size)
            .map(|_| {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                (state >> 16) as u8
            })
            .collect();
        let encoded = base64::engine::general_purpose::STANDARD.encode(&data);
        for line_len in [4usize, 60, 72, 76, 77] {
            for newline in ["\r\n", "\n"] {
                let mut body = Vec::new();
                for line in encoded.as_bytes().chunks(line_len) {
                    body.extend_from_slice(line);
                    body.extend_from_slice(newline.as_bytes());
                }
                let raw = multipart(&[body], true);
                let (patched, upstream) = both(&raw);
                assert_eq!(patched, upstream, "size {size}, lines of {line_len}");
                let message = mail_parser::MessageParser::default()
                    .parse(&raw)
                    .expect("parses");
                let attachment = message.attachment(0).expect("one attachment");
                assert_eq!(attachment.contents(), &data[..], "size {size}");
            }
        }
    }
}

/// Every byte value, at every place of a four-character group: the fast path must accept
/// exactly the characters upstream's decoder accepts.
#[test]
fn every_byte_at_every_place_of_a_group_parses_as_upstream() {
    for byte in 0..=255u8 {
        for place in 0..4 {
            let mut group = *b"QUJD";
            group[place] = byte;
            let mut body = b"QUJDREVG".to_vec();
            body.extend_from_slice(&group);
            body.extend_from_slice(b"R0hJ\r\n");
            let raw = multipart(&[body], true);
            let (patched, upstream) = both(&raw);
            assert_eq!(patched, upstream, "byte {byte:#04x} at {place}");
        }
    }
}
