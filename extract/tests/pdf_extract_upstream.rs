//! The vendored pdf-extract (`third_party/pdf-extract`, two changes: `to_utf8`, the
//! decoding of simple-font text through the font's encoding, and glyph-name tables without
//! pointers) against the unpatched pdf-extract 0.12.1 from crates.io: both must extract
//! exactly the same text from the same PDF, and must both panic where one panics.
//!
//! The PDFs are built here with the same lopdf the library reads them with: text drawn in
//! simple fonts with every kind of encoding the library decodes through `to_utf8` (no
//! encoding, the named encodings, a `/Differences` dictionary over a base encoding, and
//! TrueType), shown as strings holding every byte value and as arbitrary byte strings.
//! `/Differences` names include glyph names of TeX's extended glyph list that map to
//! UTF-16 high surrogates (`FFIsmall` is U+D807), so text that cannot be decoded
//! (upstream panics: `unwrap` of encoding_rs's strict decoder) is covered too.

use std::panic::{AssertUnwindSafe, catch_unwind};

use pdf_extract::content::{Content, Operation};
use pdf_extract::{Dictionary, Document, Object, Stream, StringFormat, dictionary};
use proptest::prelude::*;

/// Glyph names for `/Differences`: standard names, names of non-Latin letters, two
/// names that map to UTF-16 high surrogates, and names the glyph list does not know.
const GLYPH_NAMES: &[&str] = &[
    "A",
    "eacute",
    "germandbls",
    "Euro",
    "quotedblleft",
    "fi",
    "afii57664",
    "afii10017",
    "alpha",
    "FFIsmall",
    "emptyslot",
    "uni4E2D",
    "notaglyphname",
    "space",
    "zero",
];

/// The 14 standard Type1 fonts, whose widths and glyph names the library carries
/// (`core_fonts.rs`), and a name it does not know (no metrics: text without widths).
const STANDARD_FONTS: &[&str] = &[
    "Courier",
    "Courier-Bold",
    "Courier-BoldOblique",
    "Courier-Oblique",
    "Helvetica",
    "Helvetica-Bold",
    "Helvetica-BoldOblique",
    "Helvetica-Oblique",
    "Symbol",
    "Times-Roman",
    "Times-Bold",
    "Times-BoldItalic",
    "Times-Italic",
    "ZapfDingbats",
    "NotAStandardFont",
];

/// A font dictionary: Type1 Helvetica with the given `/Encoding`, or TrueType without one.
fn font(encoding: Option<Object>, truetype: bool) -> Dictionary {
    if truetype {
        let mut font =
            dictionary! { "Type" => "Font", "Subtype" => "TrueType", "BaseFont" => "Arial" };
        if let Some(encoding) = encoding {
            font.set("Encoding", encoding);
        }
        font
    } else {
        type1_font("Helvetica", encoding)
    }
}

/// A Type1 font dictionary without widths: `base` with the given `/Encoding`.
fn type1_font(base: &str, encoding: Option<Object>) -> Dictionary {
    let mut font = dictionary! { "Type" => "Font", "Subtype" => "Type1" };
    font.set("BaseFont", Object::Name(base.as_bytes().to_vec()));
    if let Some(encoding) = encoding {
        font.set("Encoding", encoding);
    }
    font
}

/// A `/Differences` encoding dictionary over `base` (or none): `(code, glyph name)`.
fn differences(base: Option<&str>, entries: &[(u8, &str)]) -> Object {
    let mut array = Vec::new();
    for (code, name) in entries {
        array.push(Object::Integer(i64::from(*code)));
        array.push(Object::Name(name.as_bytes().to_vec()));
    }
    let mut dict = dictionary! { "Type" => "Encoding", "Differences" => array };
    if let Some(base) = base {
        dict.set("BaseEncoding", Object::Name(base.as_bytes().to_vec()));
    }
    Object::Dictionary(dict)
}

/// A one-page PDF showing each of `strings` with `font`, one `Tj` per string, each on
/// its own line.
fn pdf(font: Dictionary, strings: &[Vec<u8>]) -> Vec<u8> {
    pdf_laid_out(font, strings, None)
}

/// A one-page PDF showing each of `strings` with `font`, one `Tj` per string: each on its
/// own line, or with `step`, all on one line, each string starting `step` units after the
/// start of the one before (whether the library puts a space between two strings then
/// depends on the glyph widths it knows).
fn pdf_laid_out(font: Dictionary, strings: &[Vec<u8>], step: Option<i64>) -> Vec<u8> {
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font_id = doc.add_object(font);
    let resources_id = doc.add_object(dictionary! { "Font" => dictionary! { "F1" => font_id } });
    let mut operations = vec![
        Operation::new("BT", vec![]),
        Operation::new("Tf", vec!["F1".into(), 11.into()]),
        Operation::new("TL", vec![14.into()]),
        Operation::new("Td", vec![50.into(), 800.into()]),
    ];
    for string in strings {
        operations.push(Operation::new(
            "Tj",
            vec![Object::String(string.clone(), StringFormat::Hexadecimal)],
        ));
        match step {
            None => operations.push(Operation::new("T*", vec![])),
            Some(step) => operations.push(Operation::new("Td", vec![step.into(), 0.into()])),
        }
    }
    operations.push(Operation::new("ET", vec![]));
    let content = Content { operations }.encode().expect("content encodes");
    let content_id = doc.add_object(Stream::new(dictionary! {}, content));
    let page_id = doc.add_object(dictionary! {
        "Type" => "Page", "Parent" => pages_id, "Contents" => content_id,
    });
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages", "Kids" => vec![page_id.into()], "Count" => 1,
            "Resources" => resources_id,
            "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
        }),
    );
    let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog_id);
    let mut out = Vec::new();
    doc.save_to(&mut out).expect("saving to memory");
    out
}

/// What one crate made of a PDF: its text, its error's message, or that it panicked.
fn outcome<E: std::fmt::Display>(extract: impl FnOnce() -> Result<String, E>) -> String {
    match catch_unwind(AssertUnwindSafe(extract)) {
        Ok(Ok(text)) => text,
        Ok(Err(error)) => format!("error: {error}"),
        Err(_) => "panicked".to_string(),
    }
}

/// Extracts `bytes` with both crates; returns (vendored, upstream).
fn both(bytes: &[u8]) -> (String, String) {
    (
        outcome(|| pdf_extract::extract_text_from_mem(bytes)),
        outcome(|| pdf_extract_upstream::extract_text_from_mem(bytes)),
    )
}

/// Every encoding the library decodes simple-font text through.
fn encodings() -> Vec<(&'static str, Dictionary)> {
    let name = |n: &str| Some(Object::Name(n.as_bytes().to_vec()));
    // Every code renamed, except those that would name a surrogate (they are covered
    // by `unpaired_surrogates_panic_as_upstream`; here they would hide everything else).
    let all_names: Vec<(u8, &str)> = (0..=255u8)
        .map(|code| (code, GLYPH_NAMES[usize::from(code) % GLYPH_NAMES.len()]))
        .filter(|(_, name)| !["FFIsmall", "emptyslot"].contains(name))
        .collect();
    vec![
        ("Type1, no encoding", font(None, false)),
        ("WinAnsiEncoding", font(name("WinAnsiEncoding"), false)),
        ("MacRomanEncoding", font(name("MacRomanEncoding"), false)),
        ("MacExpertEncoding", font(name("MacExpertEncoding"), false)),
        (
            "Differences over WinAnsi",
            font(
                Some(differences(Some("WinAnsiEncoding"), &all_names)),
                false,
            ),
        ),
        (
            "Differences without a base",
            font(
                Some(differences(
                    None,
                    &[(65, "eacute"), (200, "alpha"), (201, "afii57664")],
                )),
                false,
            ),
        ),
        ("TrueType, no encoding", font(None, true)),
    ]
}

#[test]
fn every_byte_through_every_encoding_extracts_as_upstream() {
    let every_byte: Vec<u8> = (0..=255u8).collect();
    let printable: Vec<u8> = (32..=126u8).chain(160..=255).collect();
    for (what, font) in encodings() {
        let bytes = pdf(font, &[printable.clone(), every_byte.clone()]);
        let (vendored, upstream) = both(&bytes);
        assert_eq!(vendored, upstream, "{what}");
    }
}

#[test]
fn every_standard_font_extracts_as_upstream() {
    // The library's metrics and glyph names of the standard fonts (a pointer-free copy in
    // the vendored crate): character codes to text through the font's own encoding (no
    // /Encoding) or a named one, and widths through the spacing between strings.
    let every_byte: Vec<u8> = (0..=255u8).collect();
    let words: Vec<Vec<u8>> = (32..=126u8)
        .chain(160..=255)
        .collect::<Vec<u8>>()
        .chunks(3)
        .map(<[u8]>::to_vec)
        .collect();
    let name = |n: &str| Some(Object::Name(n.as_bytes().to_vec()));
    let mut spaced = Vec::new();
    for base in STANDARD_FONTS {
        for (what, encoding) in [
            ("no encoding", None),
            ("WinAnsiEncoding", name("WinAnsiEncoding")),
            ("MacRomanEncoding", name("MacRomanEncoding")),
        ] {
            let lines = pdf(
                type1_font(base, encoding.clone()),
                std::slice::from_ref(&every_byte),
            );
            let (vendored, upstream) = both(&lines);
            assert_eq!(vendored, upstream, "{base}, {what}, every byte");
            // Both crates panic on ZapfDingbats with a named encoding: its glyph names are
            // not in the glyph list, which upstream `unwrap`s. Every other case is text.
            if !(*base == "ZapfDingbats" && encoding.is_some()) {
                assert!(
                    !vendored.starts_with("panicked") && !vendored.starts_with("error:"),
                    "{base}, {what}: {vendored:.100}"
                );
            }
            let one_line = pdf_laid_out(type1_font(base, encoding), &words, Some(17));
            let (vendored, upstream) = both(&one_line);
            assert_eq!(vendored, upstream, "{base}, {what}, widths");
            if what == "no encoding" {
                spaced.push((*base, vendored));
            }
        }
    }
    // Not vacuous: a font's own encoding applies (Symbol shows `a` as alpha), and the
    // widths decide the spacing (Courier's fixed widths space the words differently from
    // Helvetica's).
    let symbol = both(&pdf(type1_font("Symbol", None), &[b"a".to_vec()])).0;
    assert!(symbol.contains('α'), "{symbol:?}");
    let spacing = |font: &str| {
        let text = &spaced
            .iter()
            .find(|(base, _)| *base == font)
            .expect("font")
            .1;
        text.matches(' ').count()
    };
    assert_ne!(spacing("Courier"), spacing("Helvetica"));
}

#[test]
fn differences_and_unpaired_surrogates_behave_as_upstream() {
    let encoding = differences(
        Some("WinAnsiEncoding"),
        &[(0x41, "eacute"), (0x80, "FFIsmall"), (0x81, "emptyslot")],
    );
    let extract = |string: &[u8]| {
        both(&pdf(
            font(Some(encoding.clone()), false),
            &[string.to_vec()],
        ))
    };
    for string in [&b"AB"[..], b"a\x80b", b"\x80\x81", b"\x81", b"x\x80"] {
        let (vendored, upstream) = extract(string);
        assert_eq!(vendored, upstream, "{string:x?}");
    }
    // Not vacuous: the differences apply (code 0x41 is é), and a surrogate panics.
    assert!(extract(b"AB").0.contains("éB"), "{:?}", extract(b"AB"));
    assert_eq!(extract(b"a\x80b").0, "panicked");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn arbitrary_text_and_differences_extract_as_upstream(
        strings in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 1..6),
        entries in prop::collection::vec((any::<u8>(), prop::sample::select(GLYPH_NAMES)), 0..24),
        base in prop::sample::select(vec![None, Some("WinAnsiEncoding"), Some("MacRomanEncoding")]),
        named in prop::sample::select(vec![None, Some("WinAnsiEncoding"), Some("MacRomanEncoding")]),
        truetype in any::<bool>(),
    ) {
        let encoding = if entries.is_empty() {
            named.map(|n| Object::Name(n.as_bytes().to_vec()))
        } else {
            Some(differences(base, &entries))
        };
        let bytes = pdf(font(encoding, truetype), &strings);
        let (vendored, upstream) = both(&bytes);
        prop_assert_eq!(vendored, upstream);
    }
}

#[test]
fn generated_attachments_extract_as_upstream() {
    // The PDFs the benchmark corpus attaches: real text, many pages, an embedded image.
    let text = "Quarterly résumé für Zürich — naïve café, 10% ≥ 5€ «quoted» and ſome ligatures ﬁ. "
        .repeat(200);
    let bytes = coffer_testkit::sample_files::pdf(&text, &[0xFF, 0xD8, 0xFF, 0xD9]);
    let (vendored, upstream) = both(&bytes);
    assert_eq!(vendored, upstream);
    assert!(vendored.contains("Quarterly"), "{vendored:.200}");
}
