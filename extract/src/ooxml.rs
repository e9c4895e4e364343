//! Office Open XML (DOCX, PPTX, XLSX): the text of the document parts, read with our
//! own streaming XML code inside the archive byte budget.
//!
//! - DOCX: `word/document.xml`, then footnotes, endnotes, comments, headers and
//!   footers. Text of `w:t` and `w:delText` (deleted tracked changes matter in
//!   e-discovery); `w:p` ends a line, `w:tab` and table cells give tabs, `w:br` breaks.
//! - PPTX: slides in presentation order (`p:sldIdLst` through the relationships;
//!   file-name order when that fails), each followed by its speaker notes; `a:t` text,
//!   `a:p` ends a line.
//! - XLSX: sheets in workbook order, each headed by its name; cells as their displayed
//!   raw values (shared strings, inline strings, numbers, booleans), tab-separated,
//!   one row per line.
//!
//! The main part of each format must be readable; a failure in any other part is
//! counted in `failed_parts` (or `skipped_parts` for a limit) and the rest goes on.

use std::collections::HashMap;

use super::sink::TextSink;
use super::unzip::{self, Zip};
use super::xml::{XmlEvent, attribute, local};
use super::{Ctx, ExtractError, Format};

/// A relationship from a `_rels/*.rels` part.
struct Relationship {
    id: String,
    kind: String,
    /// The target as an entry name (resolved against the source part's folder).
    target: String,
}

/// Records the failure of a secondary part; only fatal errors go on up.
fn soft(ctx: &mut Ctx, result: Result<(), ExtractError>) -> Result<(), ExtractError> {
    match result {
        Ok(()) => Ok(()),
        Err(error) if error.is_fatal() => Err(error),
        Err(ExtractError::LimitExceeded { .. }) => {
            ctx.skipped_parts = ctx.skipped_parts.saturating_add(1);
            Ok(())
        }
        Err(error) => {
            tracing::debug!(error = %error, "office document part not extracted");
            ctx.failed_parts = ctx.failed_parts.saturating_add(1);
            Ok(())
        }
    }
}

/// Word processing: the body, then notes, comments, headers and footers.
pub(super) fn docx(ctx: &mut Ctx, zip: &mut Zip<'_>) -> Result<(), ExtractError> {
    let main = unzip::find(zip, "word/document.xml").ok_or(ExtractError::Malformed {
        format: Format::Docx,
        reason: "no main document part",
    })?;
    word_part(ctx, zip, main)?;
    let mut others: Vec<(u8, String)> = unzip::names(zip)
        .into_iter()
        .filter_map(|name| {
            let lower = name.to_ascii_lowercase();
            let file = lower.strip_prefix("word/")?.strip_suffix(".xml")?;
            let rank = match file {
                "footnotes" => 0,
                "endnotes" => 1,
                "comments" => 2,
                file if file.starts_with("header") => 3,
                file if file.starts_with("footer") => 4,
                _ => return None,
            };
            Some((rank, name))
        })
        .collect();
    others.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| natural_cmp(&a.1, &b.1)));
    for (_, name) in others {
        if ctx.done() {
            break;
        }
        if let Some(index) = unzip::find(zip, &name) {
            ctx.sink.newline();
            let result = word_part(ctx, zip, index);
            soft(ctx, result)?;
        }
    }
    Ok(())
}

fn word_part(ctx: &mut Ctx, zip: &mut Zip<'_>, index: usize) -> Result<(), ExtractError> {
    let mut in_text = false;
    unzip::read_xml(ctx, zip, index, Format::Docx, |event, sink| {
        match event {
            XmlEvent::Open(start) => match local(start) {
                "t" | "delText" => in_text = true,
                "tab" | "ptab" => sink.separator('\t'),
                "br" | "cr" => sink.newline(),
                _ => {}
            },
            XmlEvent::Close(name) => match name {
                "t" | "delText" => in_text = false,
                "p" => sink.newline(),
                "tc" => sink.end_cell(),
                "tr" => sink.newline(),
                _ => {}
            },
            XmlEvent::Text(text) if in_text => return sink.push(text),
            XmlEvent::Text(_) => {}
        }
        !sink.is_full()
    })
}

/// Presentations: each slide's text, then its notes.
pub(super) fn pptx(ctx: &mut Ctx, zip: &mut Zip<'_>) -> Result<(), ExtractError> {
    let slides = slide_order(ctx, zip)?;
    if slides.is_empty() && unzip::find(zip, "ppt/presentation.xml").is_none() {
        return Err(ExtractError::Malformed {
            format: Format::Pptx,
            reason: "no presentation part",
        });
    }
    for slide in slides {
        if ctx.done() {
            break;
        }
        let Some(index) = unzip::find(zip, &slide) else {
            ctx.failed_parts = ctx.failed_parts.saturating_add(1);
            continue;
        };
        ctx.sink.newline();
        let result = drawing_part(ctx, zip, index);
        soft(ctx, result)?;
        let notes = relationships(ctx, zip, &slide)
            .unwrap_or_default()
            .into_iter()
            .find(|rel| rel.kind.ends_with("/notesSlide"));
        if let Some(notes) = notes
            && let Some(index) = unzip::find(zip, &notes.target)
        {
            ctx.sink.newline();
            let result = drawing_part(ctx, zip, index);
            soft(ctx, result)?;
        }
    }
    Ok(())
}

/// Slide part names in presentation order: `p:sldIdLst` resolved through the
/// presentation's relationships, or all `ppt/slides/slideN.xml` by number.
fn slide_order(ctx: &mut Ctx, zip: &mut Zip<'_>) -> Result<Vec<String>, ExtractError> {
    let by_list = (|| -> Result<Vec<String>, ExtractError> {
        let Some(index) = unzip::find(zip, "ppt/presentation.xml") else {
            return Ok(Vec::new());
        };
        let mut ids = Vec::new();
        unzip::read_xml(ctx, zip, index, Format::Pptx, |event, _| {
            if let XmlEvent::Open(start) = event
                && local(start) == "sldId"
                && let Some(rid) = relationship_id(start)
            {
                ids.push(rid);
            }
            true
        })?;
        let rels = relationships(ctx, zip, "ppt/presentation.xml")?;
        let targets: HashMap<&str, &str> = rels
            .iter()
            .map(|rel| (rel.id.as_str(), rel.target.as_str()))
            .collect();
        Ok(ids
            .iter()
            .filter_map(|id| targets.get(id.as_str()).map(|t| (*t).to_owned()))
            .collect())
    })();
    match by_list {
        Ok(list) if !list.is_empty() => return Ok(list),
        Err(error) if error.is_fatal() => return Err(error),
        _ => {}
    }
    let mut slides: Vec<String> = unzip::names(zip)
        .into_iter()
        .filter(|name| {
            let lower = name.to_ascii_lowercase();
            lower.starts_with("ppt/slides/slide") && lower.ends_with(".xml")
        })
        .collect();
    slides.sort_by(|a, b| natural_cmp(a, b));
    Ok(slides)
}

/// DrawingML text (`a:t`), as in slides and notes.
fn drawing_part(ctx: &mut Ctx, zip: &mut Zip<'_>, index: usize) -> Result<(), ExtractError> {
    let mut in_text = false;
    unzip::read_xml(ctx, zip, index, Format::Pptx, |event, sink| {
        match event {
            XmlEvent::Open(start) => match local(start) {
                "t" => in_text = true,
                "br" => sink.newline(),
                _ => {}
            },
            XmlEvent::Close(name) => match name {
                "t" => in_text = false,
                "p" => sink.newline(),
                "tc" => sink.end_cell(),
                "tr" => sink.newline(),
                _ => {}
            },
            XmlEvent::Text(text) if in_text => return sink.push(text),
            XmlEvent::Text(_) => {}
        }
        !sink.is_full()
    })
}

/// Spreadsheets: every sheet's name and cell values.
pub(super) fn xlsx(ctx: &mut Ctx, zip: &mut Zip<'_>) -> Result<(), ExtractError> {
    let workbook = unzip::find(zip, "xl/workbook.xml").ok_or(ExtractError::Malformed {
        format: Format::Xlsx,
        reason: "no workbook part",
    })?;
    let mut sheets: Vec<(String, String)> = Vec::new();
    unzip::read_xml(ctx, zip, workbook, Format::Xlsx, |event, _| {
        if let XmlEvent::Open(start) = event
            && local(start) == "sheet"
        {
            let name = attribute(start, "name").unwrap_or_default().into_owned();
            sheets.push((name, relationship_id(start).unwrap_or_default()));
        }
        true
    })?;
    let rels = relationships(ctx, zip, "xl/workbook.xml").unwrap_or_default();
    let shared_path = rels
        .iter()
        .find(|rel| rel.kind.ends_with("/sharedStrings"))
        .map_or_else(
            || "xl/sharedStrings.xml".to_owned(),
            |rel| rel.target.clone(),
        );
    let shared = match unzip::find(zip, &shared_path) {
        Some(index) => {
            let mut strings = Vec::new();
            let result = shared_strings(ctx, zip, index, &mut strings);
            soft(ctx, result)?;
            strings
        }
        None => Vec::new(),
    };
    let targets: HashMap<&str, &str> = rels
        .iter()
        .map(|rel| (rel.id.as_str(), rel.target.as_str()))
        .collect();
    for (name, rid) in &sheets {
        if ctx.done() {
            break;
        }
        ctx.sink.newline();
        ctx.sink.push(name);
        ctx.sink.newline();
        let Some(index) = targets.get(rid.as_str()).and_then(|t| unzip::find(zip, t)) else {
            ctx.failed_parts = ctx.failed_parts.saturating_add(1);
            continue;
        };
        let result = sheet(ctx, zip, index, &shared);
        soft(ctx, result)?;
    }
    Ok(())
}

/// Reads the shared string table. Stored text is bounded (a few times the output
/// limit); strings past that read as empty and the result is marked truncated.
fn shared_strings(
    ctx: &mut Ctx,
    zip: &mut Zip<'_>,
    index: usize,
    strings: &mut Vec<String>,
) -> Result<(), ExtractError> {
    let mut stored_chars_left = ctx.limits.max_text_chars.saturating_mul(4);
    let mut current = String::new();
    let mut in_text = false;
    let mut in_phonetic = false;
    let mut dropped = false;
    unzip::read_xml(ctx, zip, index, Format::Xlsx, |event, _| {
        match event {
            XmlEvent::Open(start) => match local(start) {
                "si" => current.clear(),
                "t" => in_text = true,
                "rPh" => in_phonetic = true,
                _ => {}
            },
            XmlEvent::Close(name) => match name {
                "t" => in_text = false,
                "rPh" => in_phonetic = false,
                "si" => {
                    let chars = current.chars().count();
                    if chars <= stored_chars_left {
                        stored_chars_left -= chars;
                        strings.push(std::mem::take(&mut current));
                    } else {
                        dropped = true;
                        strings.push(String::new());
                    }
                }
                _ => {}
            },
            XmlEvent::Text(text) if in_text && !in_phonetic => current.push_str(text),
            XmlEvent::Text(_) => {}
        }
        true
    })?;
    if dropped {
        ctx.sink.mark_truncated();
    }
    Ok(())
}

/// One worksheet: rows of tab-separated cell values.
fn sheet(
    ctx: &mut Ctx,
    zip: &mut Zip<'_>,
    index: usize,
    shared: &[String],
) -> Result<(), ExtractError> {
    let mut cell_type = String::new();
    let mut value = String::new();
    let mut in_value = false;
    let mut in_inline = false;
    let mut in_phonetic = false;
    unzip::read_xml(ctx, zip, index, Format::Xlsx, |event, sink| {
        match event {
            XmlEvent::Open(start) => match local(start) {
                "c" => {
                    cell_type.clear();
                    cell_type.push_str(&attribute(start, "t").unwrap_or_default());
                    value.clear();
                }
                "v" => in_value = true,
                "is" => in_inline = true,
                "t" if in_inline => in_value = true,
                "rPh" => in_phonetic = true,
                _ => {}
            },
            XmlEvent::Close(name) => match name {
                "v" | "t" => in_value = false,
                "is" => in_inline = false,
                "rPh" => in_phonetic = false,
                "c" => return write_cell(sink, &cell_type, &value, shared),
                "row" => sink.newline(),
                _ => {}
            },
            XmlEvent::Text(text) if in_value && !in_phonetic => value.push_str(text),
            XmlEvent::Text(_) => {}
        }
        !sink.is_full()
    })
}

fn write_cell(sink: &mut TextSink, cell_type: &str, value: &str, shared: &[String]) -> bool {
    let shown = match cell_type {
        "s" => value
            .trim()
            .parse::<usize>()
            .ok()
            .and_then(|i| shared.get(i))
            .map_or("", String::as_str),
        "b" => match value.trim() {
            "1" => "TRUE",
            "0" => "FALSE",
            other => other,
        },
        _ => value,
    };
    if shown.is_empty() {
        return true;
    }
    sink.separator('\t');
    sink.push(shown)
}

/// The relationships of `part` (from `<folder>/_rels/<file>.rels`), with targets
/// resolved to entry names. External targets are left out.
fn relationships(
    ctx: &mut Ctx,
    zip: &mut Zip<'_>,
    part: &str,
) -> Result<Vec<Relationship>, ExtractError> {
    let (folder, file) = part.rsplit_once('/').unwrap_or(("", part));
    let rels_name = if folder.is_empty() {
        format!("_rels/{file}.rels")
    } else {
        format!("{folder}/_rels/{file}.rels")
    };
    let Some(index) = unzip::find(zip, &rels_name) else {
        return Ok(Vec::new());
    };
    let mut rels = Vec::new();
    unzip::read_xml(ctx, zip, index, Format::Zip, |event, _| {
        if let XmlEvent::Open(start) = event
            && local(start) == "Relationship"
            && attribute(start, "TargetMode").is_none_or(|mode| mode != "External")
            && let (Some(id), Some(target)) = (attribute(start, "Id"), attribute(start, "Target"))
        {
            rels.push(Relationship {
                id: id.into_owned(),
                kind: attribute(start, "Type").unwrap_or_default().into_owned(),
                target: resolve(folder, &target),
            });
        }
        true
    })?;
    Ok(rels)
}

/// The `r:id` attribute (any prefix) of an element that points to a relationship;
/// unprefixed `id` attributes are something else (slide numbers, sheet ids).
fn relationship_id(start: &quick_xml::events::BytesStart<'_>) -> Option<String> {
    start
        .attributes()
        .with_checks(false)
        .flatten()
        .find(|a| a.key.into_inner().ends_with(":id"))
        .map(|a| a.value.into_owned())
}

/// Resolves a relationship target against a folder, lexically (`..`, `.`, leading `/`).
/// The result is only ever looked up among the archive's entry names.
fn resolve(folder: &str, target: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    let joined = if let Some(absolute) = target.strip_prefix('/') {
        absolute.to_owned()
    } else if folder.is_empty() {
        target.to_owned()
    } else {
        format!("{folder}/{target}")
    };
    for segment in joined.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            segment => segments.push(segment),
        }
    }
    segments.join("/")
}

/// Orders `slide2.xml` before `slide10.xml`.
fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    fn key(s: &str) -> (String, u64) {
        let stem = s.trim_end_matches(".xml");
        let digits = stem.len() - stem.trim_end_matches(|c: char| c.is_ascii_digit()).len();
        let (prefix, number) = stem.split_at(stem.len() - digits);
        (prefix.to_ascii_lowercase(), number.parse().unwrap_or(0))
    }
    key(a).cmp(&key(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_targets_lexically() {
        assert_eq!(resolve("ppt", "slides/slide1.xml"), "ppt/slides/slide1.xml");
        assert_eq!(
            resolve("ppt/slides", "../notesSlides/n1.xml"),
            "ppt/notesSlides/n1.xml"
        );
        assert_eq!(
            resolve("xl", "/xl/worksheets/sheet1.xml"),
            "xl/worksheets/sheet1.xml"
        );
        assert_eq!(resolve("a", "../../../../etc/passwd"), "etc/passwd");
    }

    #[test]
    fn natural_order() {
        let mut names = vec![
            "ppt/slides/slide10.xml",
            "ppt/slides/slide2.xml",
            "ppt/slides/slide1.xml",
        ];
        names.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            names,
            [
                "ppt/slides/slide1.xml",
                "ppt/slides/slide2.xml",
                "ppt/slides/slide10.xml"
            ]
        );
    }
}
