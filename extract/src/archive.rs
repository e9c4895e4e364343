//! Zip containers: generic zip archives (each entry extracted by its own type, one level
//! deeper) and the zip-based office formats, which are told apart by their entries and
//! handed to `ooxml` or `odf`. Entry names (which may contain `..` or absolute paths)
//! are used only as text and for their extension; entries are read through `unzip`,
//! within the attachment's byte budget.

use super::detect::Hint;
use super::unzip::{Zip, find, open, read_bytes};
use super::{Ctx, ExtractError, Format, odf, ooxml};

/// Extracts a zip-based attachment: confirms which format it is from its entries,
/// then hands it to the right extractor.
pub(super) fn extract(
    ctx: &mut Ctx,
    declared: Format,
    data: &[u8],
    depth: u32,
) -> Result<(), ExtractError> {
    let mut zip = open(data, declared)?;
    let format = classify(&mut zip, declared, ctx)?;
    if depth == 0 {
        ctx.format = format;
    }
    match format {
        Format::Docx => ooxml::docx(ctx, &mut zip),
        Format::Xlsx => ooxml::xlsx(ctx, &mut zip),
        Format::Pptx => ooxml::pptx(ctx, &mut zip),
        Format::Odt | Format::Ods | Format::Odp => odf::extract(ctx, &mut zip, format),
        _ => extract_archive(ctx, &mut zip, depth),
    }
}

/// The format of a zip container, from its entries; `declared` breaks ties.
fn classify(zip: &mut Zip<'_>, declared: Format, ctx: &Ctx) -> Result<Format, ExtractError> {
    let has = |zip: &Zip<'_>, name: &str| find(zip, name).is_some();
    if has(zip, "word/document.xml") {
        return Ok(Format::Docx);
    }
    if has(zip, "xl/workbook.xml") {
        return Ok(Format::Xlsx);
    }
    if has(zip, "ppt/presentation.xml") {
        return Ok(Format::Pptx);
    }
    if let Some(index) = find(zip, "mimetype")
        && zip.by_index(index).is_ok_and(|entry| entry.size() <= 256)
    {
        let mimetype = read_bytes(ctx, zip, index, declared)?;
        let format = match mimetype.trim_ascii() {
            b"application/vnd.oasis.opendocument.text"
            | b"application/vnd.oasis.opendocument.text-template" => Some(Format::Odt),
            b"application/vnd.oasis.opendocument.spreadsheet"
            | b"application/vnd.oasis.opendocument.spreadsheet-template" => Some(Format::Ods),
            b"application/vnd.oasis.opendocument.presentation"
            | b"application/vnd.oasis.opendocument.presentation-template" => Some(Format::Odp),
            _ => None,
        };
        if let Some(format) = format {
            return Ok(format);
        }
    }
    if matches!(declared, Format::Odt | Format::Ods | Format::Odp) && has(zip, "content.xml") {
        return Ok(declared);
    }
    if declared != Format::Zip {
        return Err(ExtractError::Malformed {
            format: declared,
            reason: "zip container without the parts of its format",
        });
    }
    Ok(Format::Zip)
}

/// A generic archive: lists each entry's name, then its text (one level deeper).
fn extract_archive(ctx: &mut Ctx, zip: &mut Zip<'_>, depth: u32) -> Result<(), ExtractError> {
    let entries = zip.len();
    let looked_at = entries.min(ctx.limits.max_archive_entries);
    if looked_at < entries {
        ctx.skipped_parts = ctx
            .skipped_parts
            .saturating_add(u32::try_from(entries - looked_at).unwrap_or(u32::MAX));
    }
    let child_depth = depth.saturating_add(1);
    for index in 0..looked_at {
        ctx.check_deadline(Format::Zip)?;
        if ctx.done() {
            return Ok(());
        }
        let (name, is_dir) = match zip.by_index_raw(index) {
            Ok(entry) => (
                String::from_utf8_lossy(entry.name_raw()).into_owned(),
                entry.is_dir(),
            ),
            Err(_) => {
                ctx.failed_parts = ctx.failed_parts.saturating_add(1);
                continue;
            }
        };
        if is_dir {
            continue;
        }
        ctx.sink.newline();
        ctx.sink.push(&name);
        ctx.sink.newline();
        let hint = Hint::from_name(&name);
        if hint
            .extension
            .as_deref()
            .is_some_and(super::detect::no_text_extension)
        {
            // Known to carry no text (images, media): not worth decompressing.
            continue;
        }
        if child_depth > ctx.limits.max_depth {
            ctx.skipped_parts = ctx.skipped_parts.saturating_add(1);
            continue;
        }
        let bytes = match read_bytes(ctx, zip, index, Format::Zip) {
            Ok(bytes) => bytes,
            Err(error) if error.is_fatal() => return Err(error),
            Err(ExtractError::LimitExceeded { .. }) => {
                ctx.skipped_parts = ctx.skipped_parts.saturating_add(1);
                continue;
            }
            Err(_) => {
                ctx.failed_parts = ctx.failed_parts.saturating_add(1);
                continue;
            }
        };
        ctx.nested(&hint, &bytes, child_depth)?;
    }
    Ok(())
}
