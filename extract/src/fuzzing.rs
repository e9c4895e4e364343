//! Fuzz entry points for the attachment extractors, one per format family: PDF, OOXML
//! (DOCX, XLSX, PPTX), ODF (ODT, ODS, ODP), HTML, plain text, zip archives and attached
//! messages. Each runs the extractor **on the calling thread**, without the helper thread
//! and `catch_unwind` of [`crate::extract_text`], so that a panic, a hang (past the
//! fuzzer's `-timeout`) or a memory blow-up (past `-rss_limit_mb`) is reported instead of
//! being absorbed. The `fuzz/` crate at the repository root calls these from its
//! `extract_*` targets; the unit tests below run each over its seed corpus on every
//! `cargo test` (so the harness cannot rot) and write that corpus for `scripts/fuzz`.
//!
//! Built with the `fuzzing` feature (and in tests) only.
//!
//! # Input
//!
//! The first byte selects the variant (which format of the family is declared, which
//! charset, ...). For the zip-based families (OOXML, ODF, zip), bit 0 of it chooses
//! between the rest being the zip file itself (clear) and a list of entries that the
//! harness stores in a zip (set): entries separated by a NUL byte, each a name, a newline
//! and the content. Stored entries let the fuzzer reach the XML readers directly, which
//! mutating deflated bytes seldom does.
//!
//! # Panics inside the PDF libraries and `html2text`
//!
//! `pdf-extract` and `lopdf` panic on many malformed files (about 150 `unwrap`, `expect`
//! and `panic!` sites, index arithmetic that overflows). Coffer contains those panics by
//! design: `pdf.rs` calls the libraries only inside `catch_unwind` and turns a panic into
//! [`crate::ExtractError::Panicked`] (the message is archived and flagged). Making every
//! lookup of the vendored copy total would be a fork of both crates; instead the fuzz
//! targets check the containment itself. libFuzzer's panic hook aborts on *any* panic,
//! caught or not, so [`run`] first installs (once) a hook in front of it that lets a panic
//! raised in those libraries' own source files unwind to `pdf.rs`'s `catch_unwind`; every
//! other panic — in Coffer's code, or one of theirs that escapes the containment — still
//! reaches libFuzzer's hook and is reported as a crash.
//!
//! `html2text` is contained the same way, by `html.rs`'s `catch_unwind` (the document's
//! words then come from `mail-parser`'s tag stripper). The fuzzer found one such panic in
//! 0.17.4, the newest release: `flush_word_hard_wrap` subtracts a piece's width from
//! the room left on the line without checking that it fits (`attempt to subtract with
//! overflow`, input `testdata/fuzz/extract_html/html2text-hard-wrap-overflow.bin`). In a
//! release build, which has no overflow checks, the subtraction wraps: the room left
//! becomes huge and the rest of that paragraph is not wrapped, and the text keeps every
//! word. Its seed test below checks that.

use std::io::Write;
use std::time::{Duration, Instant};

use crate::detect::{self, Hint};
use crate::{Ctx, ExtractLimits, Format};

/// Limits for fuzzing: the defaults, with smaller byte budgets (so that a bound that
/// does not hold shows as a blow-up under `-rss_limit_mb`) and a deadline that our own
/// extractors must meet well within the fuzzer's per-input timeout.
fn limits() -> ExtractLimits {
    ExtractLimits {
        max_text_chars: 100_000,
        max_archive_bytes: 32 << 20,
        max_pdf_decoded_bytes: 32 << 20,
        timeout: Duration::from_secs(3),
        ..ExtractLimits::default()
    }
}

/// Installs, once, the panic hook described in the module docs: panics located in the
/// sources of the PDF libraries or `html2text` unwind silently (to the `catch_unwind` in
/// `pdf.rs` or `html.rs`); all others go on to the hook installed before (libFuzzer's
/// abort, or the default printer).
fn contain_library_panics() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let contained = info
                .location()
                .is_some_and(|at| is_contained_library_source(at.file()));
            if !contained {
                previous(info);
            }
        }));
    });
}

/// Whether `file` (a panic location) is a source file of `pdf-extract` (the vendored copy
/// under `third_party/pdf-extract/`), of `lopdf` or of `html2text` (registry crates
/// `lopdf-<version>/`, `html2text-<version>/`).
fn is_contained_library_source(file: &str) -> bool {
    file.contains("third_party/pdf-extract/")
        || file.contains("/lopdf-")
        || file.contains("/html2text-")
}

/// Extracts `data` as `format` on this thread and checks the output's promises.
fn run(format: Format, content_type: &str, filename: Option<&str>, data: &[u8]) {
    contain_library_panics();
    let limits = limits();
    let hint = Hint::new(content_type, filename);
    let _ = detect::detect(&hint, data);
    let deadline = Instant::now() + limits.timeout;
    let mut ctx = Ctx::new(format, &limits, deadline);
    if ctx.extract(format, &hint, data, 0).is_ok() {
        let text = ctx.sink.into_text();
        assert!(
            text.chars().count() <= limits.max_text_chars,
            "text longer than the limit"
        );
        assert!(
            !text
                .chars()
                .any(|c| c.is_control() && c != '\n' && c != '\t'),
            "control character in the text"
        );
    }
}

/// The zip the input stands for (see the module docs).
fn zip_input(structured: bool, rest: &[u8]) -> Vec<u8> {
    if !structured {
        return rest.to_vec();
    }
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .large_file(false);
    for entry in rest.split(|&b| b == 0) {
        let (name, content) = match entry.iter().position(|&b| b == b'\n') {
            Some(at) => (&entry[..at], &entry[at + 1..]),
            None => (entry, &[][..]),
        };
        // Writing to memory fails only on names the writer refuses; skip those.
        if writer
            .start_file(String::from_utf8_lossy(name), options)
            .is_ok()
        {
            let _ = writer.write_all(content);
        }
    }
    writer
        .finish()
        .map(std::io::Cursor::into_inner)
        .unwrap_or_default()
}

/// The entry point of the `extract_pdf` fuzz target.
pub fn pdf(data: &[u8]) {
    run(Format::Pdf, "application/pdf", Some("a.pdf"), data);
}

/// The entry point of the `extract_ooxml` fuzz target (DOCX, XLSX or PPTX declared).
pub fn ooxml(data: &[u8]) {
    let Some((&variant, rest)) = data.split_first() else {
        return;
    };
    let format = [Format::Docx, Format::Xlsx, Format::Pptx][usize::from(variant >> 1) % 3];
    run(
        format,
        "application/octet-stream",
        None,
        &zip_input(variant & 1 != 0, rest),
    );
}

/// The entry point of the `extract_odf` fuzz target (ODT, ODS or ODP declared).
pub fn odf(data: &[u8]) {
    let Some((&variant, rest)) = data.split_first() else {
        return;
    };
    let format = [Format::Odt, Format::Ods, Format::Odp][usize::from(variant >> 1) % 3];
    run(
        format,
        "application/octet-stream",
        None,
        &zip_input(variant & 1 != 0, rest),
    );
}

/// The entry point of the `extract_zip` fuzz target: an archive whose entries are
/// extracted by their own detected types, recursively.
pub fn zip(data: &[u8]) {
    let Some((&variant, rest)) = data.split_first() else {
        return;
    };
    run(
        Format::Zip,
        "application/zip",
        Some("a.zip"),
        &zip_input(variant & 1 != 0, rest),
    );
}

/// Charsets declared by the text and HTML targets, chosen by the first byte.
const CHARSETS: [&str; 6] = [
    "",
    "; charset=utf-8",
    "; charset=windows-1252",
    "; charset=iso-2022-jp",
    "; charset=utf-16",
    "; charset=bogus",
];

/// The entry point of the `extract_html` fuzz target.
pub fn html(data: &[u8]) {
    let Some((&variant, rest)) = data.split_first() else {
        return;
    };
    let content_type = format!(
        "text/html{}",
        CHARSETS[usize::from(variant) % CHARSETS.len()]
    );
    run(Format::Html, &content_type, Some("a.html"), rest);
    // A search snippet read back from an HTML body shows the tag stripper's text: every
    // word of it must be a word the indexed rendering holds.
    let html = String::from_utf8_lossy(rest);
    let missing = crate::words_missing_from(
        &crate::html_to_snippet_text(&html),
        &crate::html_to_text(&html),
    );
    assert!(
        missing.is_empty(),
        "the snippet text shows {missing:?}, which the indexed text lacks"
    );
}

/// The entry point of the `extract_text` fuzz target (plain text and CSV).
pub fn text(data: &[u8]) {
    let Some((&variant, rest)) = data.split_first() else {
        return;
    };
    let charset = CHARSETS[usize::from(variant >> 1) % CHARSETS.len()];
    let (format, mime) = if variant & 1 == 0 {
        (Format::Text, "text/plain")
    } else {
        (Format::Csv, "text/csv")
    };
    run(format, &format!("{mime}{charset}"), None, rest);
}

/// The entry point of the `extract_message` fuzz target: an attached message, its
/// attachments extracted recursively.
pub fn message(data: &[u8]) {
    run(Format::Message, "message/rfc822", Some("a.eml"), data);
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::path::{Path, PathBuf};

    use super::*;
    use crate::fixtures;

    /// Writes `seeds` for `scripts/fuzz` (see [`coffer_testkit::fuzz_seeds`]).
    fn write_seeds(target: &str, seeds: &[Vec<u8>]) {
        coffer_testkit::fuzz_seeds::write(target, seeds);
    }

    fn check(target: &str, body: fn(&[u8]), seeds: &[Vec<u8>]) {
        assert!(!seeds.is_empty());
        for seed in seeds {
            body(seed);
        }
        write_seeds(target, seeds);
    }

    /// The textual entries of a zip, in the structured input form (see the module docs).
    fn entries(zip_bytes: &[u8]) -> Vec<u8> {
        let mut archive =
            zip::ZipArchive::new(std::io::Cursor::new(zip_bytes)).expect("fixture zip");
        let mut out = Vec::new();
        for index in 0..archive.len() {
            let mut entry = archive.by_index(index).expect("fixture entry");
            let mut content = Vec::new();
            entry.read_to_end(&mut content).expect("fixture entry");
            if content.contains(&0) {
                continue;
            }
            if !out.is_empty() {
                out.push(0);
            }
            out.extend_from_slice(entry.name().expect("entry name").as_bytes());
            out.push(b'\n');
            out.extend_from_slice(&content);
        }
        out
    }

    /// Both input forms of a zip-based fixture, with `variant` selecting the format.
    fn zip_seeds(variant: u8, zip_bytes: &[u8]) -> [Vec<u8>; 2] {
        [
            [&[variant << 1][..], zip_bytes].concat(),
            [&[variant << 1 | 1][..], &entries(zip_bytes)].concat(),
        ]
    }

    /// Files of the repository's message fixtures (`testdata/eml/<group>`).
    fn testdata(group: &str) -> Vec<(PathBuf, Vec<u8>)> {
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
            .into_iter()
            .map(|p| {
                let bytes = std::fs::read(&p).expect("read fixture");
                (p, bytes)
            })
            .collect()
    }

    fn docx() -> Vec<u8> {
        fixtures::docx(
            &["First paragraph", "Zweiter Absatz café"],
            "Header",
            "Footnote",
        )
    }

    fn xlsx() -> Vec<u8> {
        fixtures::xlsx(&[("Sheet1", &[&["a", "1"], &["b", "2"]])])
    }

    fn pptx() -> Vec<u8> {
        fixtures::pptx(&["Slide one", "Slide two"], &["Speaker notes"])
    }

    fn odt() -> Vec<u8> {
        fixtures::odf(
            "application/vnd.oasis.opendocument.text",
            "<office:text><text:p>Open document text</text:p></office:text>",
        )
    }

    #[test]
    fn a_panic_inside_pdf_extract_unwinds_to_its_containment() {
        let data = fixtures::pdf_font_missing_object();
        // The fuzz body returns: the library's panic unwound to `pdf.rs`'s catch_unwind.
        pdf(&data);
        // ... which reported it as a panic of the PDF extractor.
        let limits = limits();
        let hint = Hint::new("application/pdf", Some("a.pdf"));
        let mut ctx = Ctx::new(Format::Pdf, &limits, Instant::now() + limits.timeout);
        assert!(matches!(
            ctx.extract(Format::Pdf, &hint, &data, 0),
            Err(crate::ExtractError::Panicked {
                format: Format::Pdf
            })
        ));
    }

    #[test]
    fn only_the_contained_libraries_sources_are_contained() {
        for file in [
            "/work/main/third_party/pdf-extract/src/lib.rs",
            "third_party/pdf-extract/src/lib.rs",
            "/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/lopdf-0.47.0/src/object.rs",
            "/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/html2text-0.17.4/src/render/text_renderer.rs",
        ] {
            assert!(is_contained_library_source(file), "{file}");
        }
        for file in [
            "extract/src/pdf.rs",
            "/work/main/extract/src/fuzzing.rs",
            "/rustc/abc/library/core/src/option.rs",
            "/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/zip-2.0.0/src/read.rs",
        ] {
            assert!(!is_contained_library_source(file), "{file}");
        }
    }

    #[test]
    fn pdf_seeds_run_clean() {
        let seeds = vec![
            fixtures::pdf(&[&["Hello PDF", "second line"], &["page two"]]),
            fixtures::pdf_self_drawing_form(),
            fixtures::pdf_parent_loop(),
            fixtures::pdf_with_flate_bomb(1 << 16),
            fixtures::pdf_font_missing_object(),
        ];
        check("extract_pdf", pdf, &seeds);
    }

    #[test]
    fn ooxml_seeds_run_clean() {
        let mut seeds = Vec::new();
        seeds.extend(zip_seeds(0, &docx()));
        seeds.extend(zip_seeds(1, &xlsx()));
        seeds.extend(zip_seeds(2, &pptx()));
        seeds.extend(zip_seeds(
            0,
            &coffer_testkit::sample_files::docx("sample words", b""),
        ));
        seeds.extend(zip_seeds(
            1,
            &coffer_testkit::sample_files::xlsx("sample cells", b""),
        ));
        check("extract_ooxml", ooxml, &seeds);
    }

    #[test]
    fn odf_seeds_run_clean() {
        let mut seeds = Vec::new();
        seeds.extend(zip_seeds(0, &odt()));
        seeds.extend(zip_seeds(
            1,
            &fixtures::odf(
                "application/vnd.oasis.opendocument.spreadsheet",
                "<office:spreadsheet><table:table><table:table-row><table:table-cell>\
                 <text:p>cell</text:p></table:table-cell></table:table-row></table:table>\
                 </office:spreadsheet>",
            ),
        ));
        seeds.extend(zip_seeds(
            2,
            &fixtures::odf(
                "application/vnd.oasis.opendocument.presentation",
                "<office:presentation><draw:page><text:p>slide</text:p></draw:page>\
                 </office:presentation>",
            ),
        ));
        check("extract_odf", odf, &seeds);
    }

    #[test]
    fn zip_seeds_run_clean() {
        let mut seeds = Vec::new();
        let nested = fixtures::zip(&[
            ("readme.txt", b"plain text entry"),
            ("page.html", b"<p>html entry</p>"),
            ("inner.docx", &docx()),
        ]);
        seeds.extend(zip_seeds(0, &nested));
        seeds.extend(zip_seeds(
            0,
            &fixtures::zip(&[("deeper.zip", &nested), ("doc.odt", &odt())]),
        ));
        for (path, bytes) in testdata("notmail") {
            if path.extension().is_some_and(|x| x == "zip") {
                seeds.extend(zip_seeds(0, &bytes));
            }
        }
        check("extract_zip", zip, &seeds);
    }

    #[test]
    fn html_seeds_run_clean() {
        let mut seeds = vec![
            b"\x00<html><head><style>x{}</style></head><body><p>Hello <b>world</b></p>\
              <table><tr><td>a</td><td>b</td></tr></table></body></html>"
                .to_vec(),
            [
                &[2u8][..],
                "<div>".repeat(200).as_bytes(),
                b"deep",
                "</div>".repeat(200).as_bytes(),
            ]
            .concat(),
        ];
        // Found by the fuzzer: html2text 0.17.4 overflows a subtraction while hard-wrapping
        // (see the module docs). Contained, and every word of the document is kept.
        let overflow = include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../testdata/fuzz/extract_html/html2text-hard-wrap-overflow.bin"
        ));
        let text = crate::html_to_text(&String::from_utf8_lossy(&overflow[1..]));
        for word in ["Hello", "world", "Hellodster"] {
            assert!(text.contains(word), "{word} missing from {text:?}");
        }
        seeds.push(overflow.to_vec());
        // The HTML parts of the message fixtures.
        for group in ["rfc", "charset", "malformed"] {
            for (index, (_, bytes)) in testdata(group).into_iter().enumerate() {
                let text = String::from_utf8_lossy(&bytes);
                if let Some(start) = text.to_ascii_lowercase().find("<html") {
                    seeds.push([&[index as u8][..], &bytes[start..]].concat());
                }
            }
        }
        check("extract_html", html, &seeds);
    }

    #[test]
    fn text_seeds_run_clean() {
        let mut seeds = Vec::new();
        for group in ["charset", "notmail"] {
            for (index, (path, bytes)) in testdata(group).into_iter().enumerate() {
                let csv = path.extension().is_some_and(|x| x == "csv");
                seeds.push([&[(index as u8) << 1 | u8::from(csv)][..], &bytes].concat());
            }
        }
        seeds.push(b"\x08\xff\xfeh\x00i\x00".to_vec());
        check("extract_text", text, &seeds);
    }

    #[test]
    fn message_seeds_run_clean() {
        let mut seeds: Vec<Vec<u8>> = ["rfc", "journal", "malformed", "charset"]
            .iter()
            .flat_map(|group| testdata(group))
            .map(|(_, bytes)| bytes)
            .collect();
        seeds.push(fixtures::message(
            "with attachments",
            "body text",
            &[
                ("application/octet-stream", "a.docx", docx()),
                (
                    "application/pdf",
                    "b.pdf",
                    fixtures::pdf(&[&["attached pdf"]]),
                ),
            ],
        ));
        check("extract_message", message, &seeds);
    }
}
