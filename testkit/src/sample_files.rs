//! Real attachment files — PDF, DOCX, XLSX — that carry a given text, for the synthetic
//! mail corpus (`coffer-bench corpus`) and the extractor's tests.
//!
//! Office documents and PDFs in real mail are mostly not text: images, fonts and
//! compressed streams make up most of their bytes, and the text a reader sees is a few
//! kilobytes. So each file here holds the text it is given (in the format's own text
//! structures, which the extractors must parse) plus one embedded JPEG-like image of the
//! given padding bytes, which brings the file to a realistic size. The extractors then do
//! the work they do on real mail: unzip and parse XML, or parse a PDF and skip its image.
//!
//! The files are built with the writer crates the extractors already depend on (lopdf,
//! re-exported by pdf-extract; zip); the small office XML is written by hand, since no
//! maintained crate writes DOCX and XLSX without pulling in much more than this needs.

use std::io::{Cursor, Write};

use pdf_extract::content::{Content, Operation};
use pdf_extract::{Document, Object, Stream, dictionary};
use zip::write::SimpleFileOptions;

/// Words per line of a PDF page or DOCX paragraph, and per row of an XLSX sheet.
const WORDS_PER_LINE: usize = 12;
/// Lines per PDF page.
const LINES_PER_PAGE: usize = 48;

/// A zip archive of `(name, bytes, deflate)` entries. Entries that are already
/// compressed (images) are stored, as office suites do.
pub fn zip(entries: &[(&str, &[u8], bool)]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, bytes, deflate) in entries {
        let method = if *deflate {
            zip::CompressionMethod::Deflated
        } else {
            zip::CompressionMethod::Stored
        };
        let options = SimpleFileOptions::default()
            .compression_method(method)
            .large_file(false);
        // Writing to memory cannot fail; an entry name is never rejected here.
        let _ = writer.start_file(*name, options);
        let _ = writer.write_all(bytes);
    }
    writer.finish().map(Cursor::into_inner).unwrap_or_default()
}

/// `text` with the three XML metacharacters escaped.
pub fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn lines(text: &str) -> Vec<String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    words
        .chunks(WORDS_PER_LINE)
        .map(|line| line.join(" "))
        .collect()
}

/// A PDF whose pages draw `text` in Helvetica, [`LINES_PER_PAGE`] lines a page, and
/// whose first page also draws a DCT (JPEG) image holding `image` (any bytes).
pub fn pdf(text: &str, image: &[u8]) -> Vec<u8> {
    let lines = lines(text);
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    let pages: Vec<&[&str]> = lines.chunks(LINES_PER_PAGE).collect();
    pdf_pages(&pages, image)
}

/// A PDF with one page per entry of `pages`, each line drawn in Helvetica; when `image`
/// is not empty, the first page also draws a DCT (JPEG) image holding it.
pub fn pdf_pages(pages: &[&[&str]], image: &[u8]) -> Vec<u8> {
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font_id = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
    });
    let mut xobjects = dictionary! {};
    if !image.is_empty() {
        let mut stream = Stream::new(
            dictionary! {
                "Type" => "XObject", "Subtype" => "Image", "Width" => 640, "Height" => 480,
                "ColorSpace" => "DeviceRGB", "BitsPerComponent" => 8, "Filter" => "DCTDecode",
            },
            image.to_vec(),
        );
        stream.allows_compression = false;
        xobjects.set("Im1", doc.add_object(stream));
    }
    let resources_id = doc.add_object(dictionary! {
        "Font" => dictionary! { "F1" => font_id },
        "XObject" => xobjects,
    });
    let mut kids = Vec::new();
    for (number, page) in pages.iter().enumerate() {
        let mut operations = Vec::new();
        if number == 0 && !image.is_empty() {
            operations.extend([
                Operation::new("q", vec![]),
                Operation::new(
                    "cm",
                    vec![
                        320.into(),
                        0.into(),
                        0.into(),
                        240.into(),
                        50.into(),
                        50.into(),
                    ],
                ),
                Operation::new("Do", vec!["Im1".into()]),
                Operation::new("Q", vec![]),
            ]);
        }
        operations.extend([
            Operation::new("BT", vec![]),
            Operation::new("Tf", vec!["F1".into(), 11.into()]),
            Operation::new("TL", vec![14.into()]),
            Operation::new("Td", vec![50.into(), 800.into()]),
        ]);
        for line in page.iter() {
            operations.push(Operation::new("Tj", vec![Object::string_literal(*line)]));
            operations.push(Operation::new("T*", vec![]));
        }
        operations.push(Operation::new("ET", vec![]));
        let content = Content { operations }.encode().unwrap_or_default();
        let content_id = doc.add_object(Stream::new(dictionary! {}, content));
        let page_id = doc.add_object(dictionary! {
            "Type" => "Page", "Parent" => pages_id, "Contents" => content_id,
        });
        kids.push(page_id.into());
    }
    let count = i64::try_from(kids.len()).unwrap_or(i64::MAX);
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages", "Kids" => kids, "Count" => count,
            "Resources" => resources_id,
            "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
        }),
    );
    let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog_id);
    doc.compress();
    let mut out = Vec::new();
    // Saving to memory cannot fail.
    let _ = doc.save_to(&mut out);
    out
}

const CONTENT_TYPES: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/><Default Extension="jpeg" ContentType="image/jpeg"/></Types>"#;

/// A DOCX whose body is `text` in paragraphs of [`WORDS_PER_LINE`] words, with `image`
/// stored as `word/media/image1.jpeg`.
pub fn docx(text: &str, image: &[u8]) -> Vec<u8> {
    let mut body = String::with_capacity(text.len() * 2);
    for line in lines(text) {
        body.push_str(r#"<w:p><w:r><w:t xml:space="preserve">"#);
        body.push_str(&xml_escape(&line));
        body.push_str("</w:t></w:r></w:p>");
    }
    let document = format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>{body}<w:sectPr/></w:body></w:document>"#
    );
    zip(&[
        ("[Content_Types].xml", CONTENT_TYPES.as_bytes(), true),
        ("word/document.xml", document.as_bytes(), true),
        ("word/media/image1.jpeg", image, false),
    ])
}

/// An XLSX with one sheet: each row holds [`WORDS_PER_LINE`] words of `text` as shared
/// strings and a number; `image` is stored as `xl/media/image1.jpeg`.
pub fn xlsx(text: &str, image: &[u8]) -> Vec<u8> {
    let mut shared = String::new();
    let mut data = String::new();
    let mut index = 0usize;
    for (r, line) in lines(text).iter().enumerate() {
        let row = r + 1;
        data.push_str(&format!(r#"<row r="{row}">"#));
        for (c, word) in line.split(' ').enumerate() {
            // Columns A..L: WORDS_PER_LINE is 12.
            let column = char::from(b'A' + (c % 26) as u8);
            shared.push_str("<si><t>");
            shared.push_str(&xml_escape(word));
            shared.push_str("</t></si>");
            data.push_str(&format!(r#"<c r="{column}{row}" t="s"><v>{index}</v></c>"#));
            index += 1;
        }
        data.push_str(&format!(r#"<c r="M{row}"><v>{}</v></c></row>"#, row * 17));
    }
    let sheet = format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>{data}</sheetData></worksheet>"#
    );
    let strings = format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="{index}" uniqueCount="{index}">{shared}</sst>"#
    );
    let workbook = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>"#;
    let rels = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>"#;
    zip(&[
        ("[Content_Types].xml", CONTENT_TYPES.as_bytes(), true),
        ("xl/workbook.xml", workbook.as_bytes(), true),
        ("xl/_rels/workbook.xml.rels", rels.as_bytes(), true),
        ("xl/sharedStrings.xml", strings.as_bytes(), true),
        ("xl/worksheets/sheet1.xml", sheet.as_bytes(), true),
        ("xl/media/image1.jpeg", image, false),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use coffer_extract::{ExtractLimits, extract_text};

    fn words(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_lowercase).collect()
    }

    #[test]
    fn every_format_gives_back_its_text_and_is_padded_by_its_image() {
        let text: String = (0..700).map(|i| format!("word{i} ")).collect();
        let image = vec![0xA5u8; 200_000];
        for (name, content_type, file) in [
            ("a.pdf", "application/pdf", pdf(&text, &image)),
            (
                "a.docx",
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                docx(&text, &image),
            ),
            (
                "a.xlsx",
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                xlsx(&text, &image),
            ),
        ] {
            assert!(file.len() > image.len(), "{name}: {}", file.len());
            let extracted =
                extract_text(content_type, Some(name), &file, &ExtractLimits::default())
                    .unwrap_or_else(|e| panic!("{name}: {e}"))
                    .unwrap_or_else(|| panic!("{name}: no text"));
            assert!(extracted.is_complete(), "{name}");
            let got = words(&extracted.text);
            for word in words(&text) {
                assert!(got.contains(&word), "{name}: {word} missing");
            }
        }
    }
}
