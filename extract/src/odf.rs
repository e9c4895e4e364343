//! OpenDocument (ODT, ODS, ODP): the character data of `content.xml`'s body, which is
//! where ODF keeps all visible text (paragraphs, headings, spreadsheet cells as
//! displayed, presentation frames). `text:p`/`text:h` and table rows end lines, table
//! cells are tab-separated, `text:s`, `text:tab` and `text:line-break` become spaces,
//! tabs and newlines. Spreadsheets are read here too rather than with `calamine`, to
//! stay inside the archive byte budget and the deadline.

use super::unzip::{self, Zip};
use super::xml::{XmlEvent, local};
use super::{Ctx, ExtractError, Format};

/// Extracts an OpenDocument file.
pub(super) fn extract(
    ctx: &mut Ctx,
    zip: &mut Zip<'_>,
    format: Format,
) -> Result<(), ExtractError> {
    let content = unzip::find(zip, "content.xml").ok_or(ExtractError::Malformed {
        format,
        reason: "no content part",
    })?;
    let mut body_depth = 0u32;
    unzip::read_xml(ctx, zip, content, format, |event, sink| {
        match event {
            XmlEvent::Open(start) => match local(start) {
                "body" => body_depth += 1,
                "s" if body_depth > 0 => sink.separator(' '),
                "tab" if body_depth > 0 => sink.separator('\t'),
                "line-break" if body_depth > 0 => sink.newline(),
                _ => {}
            },
            XmlEvent::Close(name) => match name {
                "body" => body_depth = body_depth.saturating_sub(1),
                "p" | "h" | "table-row" | "list-item" => sink.newline(),
                "table-cell" => sink.end_cell(),
                _ => {}
            },
            XmlEvent::Text(text) if body_depth > 0 => return sink.push(text),
            XmlEvent::Text(_) => {}
        }
        !sink.is_full()
    })
}
