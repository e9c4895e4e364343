//! The vendored mail-parser (`third_party/mail-parser`, change 4 in its `COFFER.md`)
//! decodes single-byte charsets by copying runs of ASCII at once and strips HTML tags
//! skipping runs of bytes its loop has nothing to decide on. Both must give exactly what
//! the unpatched crate from crates.io gives, on any input: the HTML tag stripper on HTML
//! of every shape (tags, comments, entities, `head`/`style`/`script`/`template`
//! sections, stray `<`, `>`, `/`, `!`, `&`, `;`, non-ASCII text, arbitrary strings), the
//! charset decoders on arbitrary bytes for every single-byte charset, and whole messages
//! whose text parts use them. The quoted-printable decoder copies runs of literal bytes
//! at once: multipart messages of quoted-printable parts, well-formed or damaged (stray
//! `=`, soft breaks, trailing whitespace, dashes, boundaries whole, glued or foreign),
//! parse as upstream's.

use mail_parser::decoders::charsets::map::charset_decoder as patched_decoder;
use mail_parser::decoders::html::html_to_text as patched_html;
use mail_parser_upstream::decoders::charsets::map::charset_decoder as upstream_decoder;
use mail_parser_upstream::decoders::html::html_to_text as upstream_html;
use proptest::prelude::*;

/// Charset names of every single-byte table of the crate (and the aliases mail most
/// often declares).
const SINGLE_BYTE_CHARSETS: &[&str] = &[
    "iso-8859-1",
    "latin1",
    "us-ascii",
    "iso-8859-2",
    "iso-8859-3",
    "iso-8859-4",
    "iso-8859-5",
    "iso-8859-6",
    "iso-8859-7",
    "iso-8859-8",
    "iso-8859-9",
    "iso-8859-10",
    "iso-8859-13",
    "iso-8859-14",
    "iso-8859-15",
    "iso-8859-16",
    "windows-1250",
    "windows-1251",
    "windows-1252",
    "windows-1253",
    "windows-1254",
    "windows-1255",
    "windows-1256",
    "windows-1257",
    "windows-1258",
    "koi8-r",
    "koi8-u",
    "macintosh",
    "ibm850",
    "tis-620",
];

/// Pieces HTML is made of, well-formed or not.
const HTML_PIECES: &[&str] = &[
    "<p>",
    "</p>",
    "<br>",
    "<br/>",
    "<BR >",
    "<div class=\"a b\">",
    "</div>",
    "<a href='x?y=1&amp;z=2'>",
    "</a>",
    "<head>",
    "</head>",
    "<title>",
    "<style>",
    "</style>",
    "<script>",
    "</script>",
    "<template>",
    "</template>",
    "<!--",
    "-->",
    "--",
    "<!-- c -->",
    "<!DOCTYPE html>",
    "<",
    ">",
    "/",
    "!",
    "&",
    ";",
    "&amp;",
    "&nbsp;",
    "&#233;",
    "&#x41;",
    "&bogus;",
    "&#xZZ;",
    " ",
    "  ",
    "\t",
    "\r\n",
    "\n",
    "\r",
    "word",
    "Free",
    "software!",
    "a-b",
    "x=1",
    "café",
    "Грамота",
    "東京",
    "🙂",
];

fn html() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            6 => proptest::sample::select(HTML_PIECES).prop_map(str::to_string),
            1 => any::<String>(),
        ],
        0..60,
    )
    .prop_map(|pieces| pieces.concat())
}

/// Text that is mostly ASCII with some 8-bit bytes, as single-byte text is.
fn single_byte_text() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![
            4 => proptest::collection::vec(0x20u8..0x7f, 0..40),
            1 => proptest::collection::vec(0x80u8..=0xff, 1..4),
            1 => proptest::collection::vec(any::<u8>(), 0..8),
        ],
        0..20,
    )
    .prop_map(|pieces| pieces.concat())
}

fn message(charset: &str, encoding: &str, html: bool, body: &[u8]) -> Vec<u8> {
    let subtype = if html { "html" } else { "plain" };
    let mut m = format!(
        "From: a@example.com\r\nTo: b@example.com\r\nSubject: s\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/{subtype}; charset=\"{charset}\"\r\n\
         Content-Transfer-Encoding: {encoding}\r\n\r\n"
    )
    .into_bytes();
    m.extend_from_slice(body);
    m
}

/// Pieces of a quoted-printable body, well-formed or damaged.
const QP_PIECES: &[&[u8]] = &[
    b"word",
    b"Caf=E9",
    b"=3D",
    b"=20",
    b"=\r\n",
    b"=\n",
    b"=",
    b"==",
    b"=4",
    b"=ZZ",
    b"= \r\n",
    b" ",
    b"  \r\n",
    b"\t",
    b"\r\n",
    b"\n",
    b"\r",
    b"-",
    b"--",
    b"--b1",
    b"\r\n--b1\r\n",
    b"\r\n--b1--\r\n",
    b"\n--b1\n",
    b"--b2",
    b"x-y",
    b"\xe9\xff",
];

fn qp_body() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![
            8 => proptest::sample::select(QP_PIECES).prop_map(<[u8]>::to_vec),
            1 => proptest::collection::vec(any::<u8>(), 0..6),
        ],
        0..50,
    )
    .prop_map(|pieces| pieces.concat())
}

/// Both crates' parse of `raw` (`Debug` output), `None` where the parse panicked.
/// Upstream's quoted-printable decoder subtracts past zero on a boundary right after a
/// short line (`buf.len() - (crlf.len() + 1)`): a panic where overflow is checked (debug
/// builds, these tests), a wrapped no-op truncation in release builds. The vendored copy
/// keeps that code as it is, so both must panic on the same input.
fn both_guarded(raw: &[u8]) -> (Option<String>, Option<String>) {
    let patched = std::panic::catch_unwind(|| {
        format!("{:?}", mail_parser::MessageParser::default().parse(raw))
    });
    let upstream = std::panic::catch_unwind(|| {
        format!(
            "{:?}",
            mail_parser_upstream::MessageParser::default().parse(raw)
        )
    });
    (patched.ok(), upstream.ok())
}

fn multipart_qp(parts: &[Vec<u8>], close: bool) -> Vec<u8> {
    let mut m = b"From: a@example.com\r\nTo: b@example.com\r\nSubject: s\r\nMIME-Version: 1.0\r\n\
        Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\npreamble\r\n"
        .to_vec();
    for part in parts {
        m.extend_from_slice(
            b"--b1\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\
              Content-Transfer-Encoding: quoted-printable\r\n\r\n",
        );
        m.extend_from_slice(part);
        m.extend_from_slice(b"\r\n");
    }
    if close {
        m.extend_from_slice(b"--b1--\r\n");
    }
    m
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn quoted_printable_parts_parse_as_upstream(
        parts in proptest::collection::vec(qp_body(), 1..4),
        close in any::<bool>(),
    ) {
        let raw = multipart_qp(&parts, close);
        let (patched, upstream) = both_guarded(&raw);
        prop_assert_eq!(patched, upstream);
    }

    #[test]
    fn single_part_quoted_printable_parses_as_upstream(body in qp_body()) {
        let raw = message("iso-8859-1", "quoted-printable", false, &body);
        let (patched, upstream) = both_guarded(&raw);
        prop_assert_eq!(patched, upstream);
    }

    #[test]
    fn html_strips_as_upstream(input in html()) {
        prop_assert_eq!(patched_html(&input), upstream_html(&input));
    }

    #[test]
    fn single_byte_charsets_decode_as_upstream(
        bytes in single_byte_text(),
        charset in proptest::sample::select(SINGLE_BYTE_CHARSETS),
    ) {
        let patched = patched_decoder(charset.as_bytes()).expect("a charset the crate knows");
        let upstream = upstream_decoder(charset.as_bytes()).expect("a charset the crate knows");
        prop_assert_eq!(patched(&bytes), upstream(&bytes));
    }

    #[test]
    fn single_byte_text_and_html_messages_parse_as_upstream(
        body in single_byte_text(),
        html_body in html(),
        charset in proptest::sample::select(SINGLE_BYTE_CHARSETS),
        encoding in proptest::sample::select(&["8bit", "quoted-printable", "7bit"][..]),
        html in any::<bool>(),
    ) {
        let body = if html { html_body.into_bytes() } else { body };
        let raw = message(charset, encoding, html, &body);
        let patched = mail_parser::MessageParser::default().parse(&raw);
        let upstream = mail_parser_upstream::MessageParser::default().parse(&raw);
        prop_assert_eq!(format!("{patched:?}"), format!("{upstream:?}"));
        let patched_text = patched.as_ref().and_then(|m| m.body_text(0).map(|t| t.into_owned()));
        let upstream_text = upstream.as_ref().and_then(|m| m.body_text(0).map(|t| t.into_owned()));
        prop_assert_eq!(patched_text, upstream_text);
    }
}

/// Every byte value, in and out of a token, inside and outside tags and comments.
#[test]
fn every_byte_value_everywhere_strips_as_upstream() {
    for b in 0u8..=0x7f {
        let c = char::from(b);
        for input in [
            format!("ab{c}cd"),
            format!("{c}"),
            format!("<p{c}x>y{c}z</p>"),
            format!("<!--a{c}b-->c{c}"),
            format!("<!-{c}->d"),
            format!("&a{c}b;"),
            format!("<style>s{c}t</style>u{c}"),
            format!("x<b{c}r>y"),
        ] {
            assert_eq!(
                patched_html(&input),
                upstream_html(&input),
                "input {input:?}"
            );
        }
    }
}

/// Every byte of every single-byte table decodes as upstream's.
#[test]
fn every_byte_of_every_single_byte_table_decodes_as_upstream() {
    let all: Vec<u8> = (0u8..=0xff).collect();
    for charset in SINGLE_BYTE_CHARSETS {
        let patched = patched_decoder(charset.as_bytes()).expect("known");
        let upstream = upstream_decoder(charset.as_bytes()).expect("known");
        assert_eq!(patched(&all), upstream(&all), "charset {charset}");
    }
}

/// The HTML parts of the repository's fixtures (every `.eml` of `testdata/eml`) strip as
/// upstream's.
#[test]
fn fixture_html_strips_as_upstream() {
    let mut checked = 0;
    let fixtures =
        coffer_testkit::eml::eml_fixtures(&["rfc", "charset", "malformed", "journal", "notmail"]);
    for path in fixtures {
        let raw = std::fs::read(&path).expect("fixture readable");
        let Some(message) = mail_parser::MessageParser::default().parse(&raw) else {
            continue;
        };
        for part in &message.parts {
            if let mail_parser::PartType::Html(html) = &part.body {
                assert_eq!(
                    patched_html(html),
                    upstream_html(html),
                    "{}",
                    path.display()
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 0, "no HTML part among the fixtures");
}
