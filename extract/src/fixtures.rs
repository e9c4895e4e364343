//! Test fixtures built in code with writer crates (lopdf, zip, mail-builder) and small
//! hand-written office XML, so every test knows exactly which words went in. Plain PDFs
//! and zip archives come from `coffer_testkit::sample_files`, which the benchmark corpus
//! uses.

use std::io::Write;

use lopdf::{Document, Object, Stream, dictionary};

use coffer_testkit::sample_files::{self, xml_escape};

/// A PDF with one page per entry of `pages`, each line of text drawn in Helvetica.
pub(super) fn pdf(pages: &[&[&str]]) -> Vec<u8> {
    sample_files::pdf_pages(pages, &[])
}

/// A PDF whose page draws a form XObject that draws itself.
pub(super) fn pdf_self_drawing_form() -> Vec<u8> {
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let form_id = doc.new_object_id();
    let form = Stream::new(
        dictionary! {
            "Type" => "XObject", "Subtype" => "Form",
            "BBox" => vec![0.into(), 0.into(), 10.into(), 10.into()],
            "Resources" => dictionary! { "XObject" => dictionary! { "Fm0" => form_id } },
        },
        b"/Fm0 Do".to_vec(),
    );
    doc.objects.insert(form_id, Object::Stream(form));
    let content_id = doc.add_object(Stream::new(dictionary! {}, b"/Fm0 Do".to_vec()));
    let page_id = doc.add_object(dictionary! {
        "Type" => "Page", "Parent" => pages_id, "Contents" => content_id,
        "Resources" => dictionary! { "XObject" => dictionary! { "Fm0" => form_id } },
    });
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages", "Kids" => vec![page_id.into()], "Count" => 1,
            "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
        }),
    );
    let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog_id);
    let mut out = Vec::new();
    doc.save_to(&mut out).expect("save pdf");
    out
}

/// A PDF whose page's `Parent` points back at the page, with no `MediaBox` to find.
pub(super) fn pdf_parent_loop() -> Vec<u8> {
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let page_id = doc.new_object_id();
    let content_id = doc.add_object(Stream::new(dictionary! {}, b"BT ET".to_vec()));
    doc.objects.insert(
        page_id,
        Object::Dictionary(dictionary! {
            "Type" => "Page", "Parent" => page_id, "Contents" => content_id,
            "Resources" => dictionary! {},
        }),
    );
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages", "Kids" => vec![page_id.into()], "Count" => 1,
        }),
    );
    let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog_id);
    let mut out = Vec::new();
    doc.save_to(&mut out).expect("save pdf");
    out
}

/// A PDF whose page names a font that is a reference to an object the file does not
/// hold: `pdf-extract` panics on it (`expect("missing object reference")`).
pub(super) fn pdf_font_missing_object() -> Vec<u8> {
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let content_id = doc.add_object(Stream::new(
        dictionary! {},
        b"BT /F1 11 Tf 50 800 Td (lost font) Tj ET".to_vec(),
    ));
    let page_id = doc.add_object(dictionary! {
        "Type" => "Page", "Parent" => pages_id, "Contents" => content_id,
        "Resources" => dictionary! { "Font" => dictionary! { "F1" => Object::Reference((999, 0)) } },
    });
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages", "Kids" => vec![page_id.into()], "Count" => 1,
            "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
        }),
    );
    let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog_id);
    let mut out = Vec::new();
    doc.save_to(&mut out).expect("save pdf");
    out
}

/// A PDF with one extra FlateDecode stream that inflates to `bomb_bytes` zero bytes.
pub(super) fn pdf_with_flate_bomb(bomb_bytes: usize) -> Vec<u8> {
    let mut doc = lopdf::Document::load_mem(&pdf(&[&["bomb carrier"]])).expect("reload");
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    let chunk = vec![0u8; 1 << 20];
    let mut left = bomb_bytes;
    while left > 0 {
        let n = left.min(chunk.len());
        encoder.write_all(&chunk[..n]).expect("in memory");
        left -= n;
    }
    let compressed = encoder.finish().expect("in memory");
    let mut stream = Stream::new(dictionary! { "Filter" => "FlateDecode" }, compressed);
    stream.allows_compression = false;
    doc.add_object(stream);
    let mut out = Vec::new();
    doc.save_to(&mut out).expect("save pdf");
    out
}

/// A zip archive of `(name, bytes)` entries, deflated.
pub(super) fn zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let entries: Vec<(&str, &[u8], bool)> = entries
        .iter()
        .map(|(name, bytes)| (*name, *bytes, true))
        .collect();
    sample_files::zip(&entries)
}

/// A DOCX with the paragraphs as the body, a two-cell table, a header and a footnote.
pub(super) fn docx(paragraphs: &[&str], header: &str, footnote: &str) -> Vec<u8> {
    let w = r#"xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main""#;
    let mut body = String::new();
    for paragraph in paragraphs {
        // Split each paragraph over two runs, as Word does.
        let middle = (0..=paragraph.len() / 2)
            .rev()
            .find(|&i| paragraph.is_char_boundary(i))
            .unwrap_or(0);
        let (a, b) = paragraph.split_at(middle);
        body.push_str(&format!(
            r#"<w:p><w:pPr><w:pStyle w:val="Normal"/></w:pPr><w:r><w:t xml:space="preserve">{}</w:t></w:r><w:r><w:t>{}</w:t></w:r></w:p>"#,
            xml_escape(a),
            xml_escape(b)
        ));
    }
    body.push_str(
        "<w:tbl><w:tr><w:tc><w:p><w:r><w:t>cellone</w:t></w:r></w:p></w:tc>\
         <w:tc><w:p><w:r><w:t>celltwo</w:t></w:r></w:p></w:tc></w:tr></w:tbl>",
    );
    let document = format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document {w}><w:body>{body}<w:sectPr/></w:body></w:document>"#
    );
    let header_xml = format!(
        r#"<?xml version="1.0"?><w:hdr {w}><w:p><w:r><w:t>{}</w:t></w:r></w:p></w:hdr>"#,
        xml_escape(header)
    );
    let footnotes = format!(
        r#"<?xml version="1.0"?><w:footnotes {w}><w:footnote w:id="1"><w:p><w:r><w:t>{}</w:t></w:r></w:p></w:footnote></w:footnotes>"#,
        xml_escape(footnote)
    );
    zip(&[
        ("[Content_Types].xml", CONTENT_TYPES.as_bytes()),
        ("word/document.xml", document.as_bytes()),
        ("word/header1.xml", header_xml.as_bytes()),
        ("word/footnotes.xml", footnotes.as_bytes()),
    ])
}

const CONTENT_TYPES: &str = r#"<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>"#;

/// A PPTX whose slides are stored as `slide{n}.xml` in reverse order of presentation,
/// so that order must come from `p:sldIdLst`. Each slide gets a notes slide.
pub(super) fn pptx(slides: &[&str], notes: &[&str]) -> Vec<u8> {
    let count = slides.len();
    let mut ids = String::new();
    let mut rels = String::new();
    let mut files: Vec<(String, String)> = Vec::new();
    for (position, text) in slides.iter().enumerate() {
        let file_number = count - position;
        ids.push_str(&format!(
            r#"<p:sldId id="{}" r:id="rId{}"/>"#,
            256 + position,
            position + 1
        ));
        rels.push_str(&format!(
            r#"<Relationship Id="rId{}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/slide" Target="slides/slide{file_number}.xml"/>"#,
            position + 1
        ));
        files.push((
            format!("ppt/slides/slide{file_number}.xml"),
            format!(
                r#"<?xml version="1.0"?><p:sld xmlns:p="p" xmlns:a="a"><p:cSld><p:spTree><p:sp><p:txBody><a:p><a:r><a:t>{}</a:t></a:r></a:p></p:txBody></p:sp></p:spTree></p:cSld></p:sld>"#,
                xml_escape(text)
            ),
        ));
        if let Some(note) = notes.get(position) {
            files.push((
                format!("ppt/slides/_rels/slide{file_number}.xml.rels"),
                format!(
                    r#"<?xml version="1.0"?><Relationships xmlns="r"><Relationship Id="rId9" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/notesSlide" Target="../notesSlides/notesSlide{file_number}.xml"/></Relationships>"#
                ),
            ));
            files.push((
                format!("ppt/notesSlides/notesSlide{file_number}.xml"),
                format!(
                    r#"<?xml version="1.0"?><p:notes xmlns:p="p" xmlns:a="a"><p:cSld><p:spTree><p:sp><p:txBody><a:p><a:r><a:t>{}</a:t></a:r></a:p></p:txBody></p:sp></p:spTree></p:cSld></p:notes>"#,
                    xml_escape(note)
                ),
            ));
        }
    }
    let presentation = format!(
        r#"<?xml version="1.0"?><p:presentation xmlns:p="p" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><p:sldIdLst>{ids}</p:sldIdLst></p:presentation>"#
    );
    let presentation_rels =
        format!(r#"<?xml version="1.0"?><Relationships xmlns="r">{rels}</Relationships>"#);
    let mut entries: Vec<(&str, &[u8])> = vec![
        ("[Content_Types].xml", CONTENT_TYPES.as_bytes()),
        ("ppt/presentation.xml", presentation.as_bytes()),
        (
            "ppt/_rels/presentation.xml.rels",
            presentation_rels.as_bytes(),
        ),
    ];
    for (name, xml) in &files {
        entries.push((name, xml.as_bytes()));
    }
    zip(&entries)
}

/// An XLSX with one sheet per `(name, rows)`; text cells use the shared string table,
/// numbers are written as numbers, and one inline string and one boolean are added.
pub(super) fn xlsx(sheets: &[(&str, &[&[&str]])]) -> Vec<u8> {
    let mut shared: Vec<String> = Vec::new();
    let mut workbook_sheets = String::new();
    let mut rels = String::new();
    let mut sheet_files = Vec::new();
    for (position, (name, rows)) in sheets.iter().enumerate() {
        let number = position + 1;
        workbook_sheets.push_str(&format!(
            r#"<sheet name="{}" sheetId="{number}" r:id="rId{number}"/>"#,
            xml_escape(name)
        ));
        rels.push_str(&format!(
            r#"<Relationship Id="rId{number}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet{number}.xml"/>"#
        ));
        let mut data = String::new();
        for (r, row) in rows.iter().enumerate() {
            data.push_str(&format!(r#"<row r="{}">"#, r + 1));
            for (c, cell) in row.iter().enumerate() {
                let reference = format!(
                    "{}{}",
                    char::from(b'A' + u8::try_from(c).expect("few")),
                    r + 1
                );
                if cell.parse::<f64>().is_ok() {
                    data.push_str(&format!(r#"<c r="{reference}"><v>{cell}</v></c>"#));
                } else {
                    let index = shared.len();
                    shared.push(xml_escape(cell));
                    data.push_str(&format!(r#"<c r="{reference}" t="s"><v>{index}</v></c>"#));
                }
            }
            data.push_str("</row>");
        }
        data.push_str(r#"<row r="99"><c r="A99" t="inlineStr"><is><t>inlinetext</t></is></c><c r="B99" t="b"><v>1</v></c></row>"#);
        sheet_files.push((
            format!("xl/worksheets/sheet{number}.xml"),
            format!(
                r#"<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>{data}</sheetData></worksheet>"#
            ),
        ));
    }
    rels.push_str(r#"<Relationship Id="rIdS" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/>"#);
    let strings: String = shared
        .iter()
        .map(|s| format!("<si><t>{s}</t></si>"))
        .collect();
    let shared_xml = format!(
        r#"<?xml version="1.0"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="{0}" uniqueCount="{0}">{strings}<si><r><t>rich</t></r><r><t>run</t></r><rPh><t>phonetic</t></rPh></si></sst>"#,
        shared.len() + 1
    );
    let workbook = format!(
        r#"<?xml version="1.0"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>{workbook_sheets}</sheets></workbook>"#
    );
    let workbook_rels =
        format!(r#"<?xml version="1.0"?><Relationships xmlns="r">{rels}</Relationships>"#);
    let mut entries: Vec<(&str, &[u8])> = vec![
        ("[Content_Types].xml", CONTENT_TYPES.as_bytes()),
        ("xl/workbook.xml", workbook.as_bytes()),
        ("xl/_rels/workbook.xml.rels", workbook_rels.as_bytes()),
        ("xl/sharedStrings.xml", shared_xml.as_bytes()),
    ];
    for (name, xml) in &sheet_files {
        entries.push((name, xml.as_bytes()));
    }
    zip(&entries)
}

/// An OpenDocument file of the given `mimetype` whose body is `body_xml`.
pub(super) fn odf(mimetype: &str, body_xml: &str) -> Vec<u8> {
    let content = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0"><office:automatic-styles><style>notbodytext</style></office:automatic-styles><office:body>{body_xml}</office:body></office:document-content>"#
    );
    zip(&[
        ("mimetype", mimetype.as_bytes()),
        ("content.xml", content.as_bytes()),
    ])
}

/// An e-mail message with a text body and attachments `(content type, name, bytes)`.
pub(super) fn message(subject: &str, body: &str, attachments: &[(&str, &str, Vec<u8>)]) -> Vec<u8> {
    let mut builder = mail_builder::MessageBuilder::new()
        .from(("Alice Example", "alice@example.com"))
        .to(("Bob Example", "bob@example.org"))
        .subject(subject)
        .text_body(body);
    for (content_type, name, bytes) in attachments {
        builder = builder.attachment(*content_type, *name, bytes.clone());
    }
    builder.write_to_vec().expect("build message")
}
