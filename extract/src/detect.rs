//! Format detection from magic bytes, the declared content type, the file extension
//! and content sniffing, in that order of trust: senders often declare
//! `application/octet-stream` or the wrong type, while the leading bytes rarely lie.

use super::{ExtractError, Format};

/// What the sender declared about a part: content type and file name.
#[derive(Debug, Clone, Default)]
pub(super) struct Hint {
    /// The MIME type without parameters, lowercased (`application/pdf`).
    pub(super) mime: String,
    /// The `charset` parameter, if any.
    pub(super) charset: Option<String>,
    /// The file extension, lowercased, without the dot.
    pub(super) extension: Option<String>,
}

impl Hint {
    pub(super) fn new(content_type: &str, filename: Option<&str>) -> Hint {
        let mut params = content_type.split(';');
        let mime = params.next().unwrap_or("").trim().to_ascii_lowercase();
        let charset = params.find_map(|param| {
            let (name, value) = param.split_once('=')?;
            name.trim()
                .eq_ignore_ascii_case("charset")
                .then(|| value.trim().trim_matches(['"', '\'']).to_owned())
                .filter(|value| !value.is_empty())
        });
        Hint {
            mime,
            charset,
            extension: filename.and_then(extension),
        }
    }

    /// A hint from a file name only (zip entries).
    pub(super) fn from_name(name: &str) -> Hint {
        Hint {
            extension: extension(name),
            ..Hint::default()
        }
    }
}

/// Whether a file with this extension is known to carry no text (images, media).
pub(super) fn no_text_extension(ext: &str) -> bool {
    by_extension(ext) == Some(None)
}

/// The lowercased extension of the last path segment, if it has a short one.
fn extension(name: &str) -> Option<String> {
    let last = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let (_, ext) = last.rsplit_once('.')?;
    (!ext.is_empty() && ext.len() <= 8 && ext.chars().all(|c| c.is_ascii_alphanumeric()))
        .then(|| ext.to_ascii_lowercase())
}

/// The error for formats that are recognised but cannot be read, if `format` is one.
pub(super) fn unsupported(format: Format) -> Option<ExtractError> {
    matches!(
        format,
        Format::LegacyOffice | Format::Rtf | Format::OtherArchive
    )
    .then_some(ExtractError::Unsupported { format })
}

/// The format of a part, or `None` when it carries no text.
pub(super) fn detect(hint: &Hint, data: &[u8]) -> Option<Format> {
    if let Some(magic) = by_magic(data) {
        return match magic {
            Magic::Format(Format::Zip) => Some(zip_flavour(hint)),
            Magic::Format(format) => Some(format),
            Magic::NoText => None,
        };
    }
    if let Some(declared) = by_mime(&hint.mime) {
        return declared;
    }
    if let Some(ext) = &hint.extension
        && let Some(by_ext) = by_extension(ext)
    {
        return by_ext;
    }
    sniff(data)
}

enum Magic {
    Format(Format),
    NoText,
}

fn by_magic(data: &[u8]) -> Option<Magic> {
    const NO_TEXT: &[&[u8]] = &[
        b"\x89PNG\r\n\x1a\n",
        b"\xff\xd8\xff",
        b"GIF87a",
        b"GIF89a",
        b"II*\0",
        b"MM\0*",
        b"OggS",
        b"ID3",
        b"fLaC",
        b"\x1aE\xdf\xa3",
        b"wOFF",
        b"wOF2",
        b"\0\0\x01\0",
        b"8BPS",
        b"\x7fELF",
    ];
    const OTHER_ARCHIVES: &[&[u8]] = &[
        b"\x1f\x8b",
        b"BZh",
        b"\xfd7zXZ\0",
        b"7z\xbc\xaf\x27\x1c",
        b"Rar!\x1a\x07",
    ];
    if is_pdf(data) {
        return Some(Magic::Format(Format::Pdf));
    }
    if data.starts_with(b"PK\x03\x04") || data.starts_with(b"PK\x05\x06") {
        return Some(Magic::Format(Format::Zip));
    }
    if data.starts_with(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1") {
        return Some(Magic::Format(Format::LegacyOffice));
    }
    if data.starts_with(b"{\\rtf") {
        return Some(Magic::Format(Format::Rtf));
    }
    if OTHER_ARCHIVES.iter().any(|magic| data.starts_with(magic)) {
        return Some(Magic::Format(Format::OtherArchive));
    }
    let riff_media =
        data.starts_with(b"RIFF") && matches!(data.get(8..12), Some(b"WEBP" | b"WAVE" | b"AVI "));
    let iso_media = data.get(4..8) == Some(b"ftyp");
    if riff_media || iso_media || NO_TEXT.iter().any(|magic| data.starts_with(magic)) {
        return Some(Magic::NoText);
    }
    None
}

/// `%PDF-` within the first KiB, as PDF readers accept.
fn is_pdf(data: &[u8]) -> bool {
    let head = &data[..data.len().min(1024)];
    head.windows(5).any(|window| window == b"%PDF-")
}

/// Which zip-based format, from the declared type or extension; the archive module
/// confirms it from the entries.
fn zip_flavour(hint: &Hint) -> Format {
    match by_mime(&hint.mime) {
        Some(Some(format)) if is_zip_based(format) => return format,
        _ => {}
    }
    match hint.extension.as_deref().and_then(by_extension) {
        Some(Some(format)) if is_zip_based(format) => format,
        _ => Format::Zip,
    }
}

fn is_zip_based(format: Format) -> bool {
    matches!(
        format,
        Format::Docx
            | Format::Xlsx
            | Format::Pptx
            | Format::Odt
            | Format::Ods
            | Format::Odp
            | Format::Zip
    )
}

/// `Some(None)`: a declared type known to carry no text; `None`: no opinion.
fn by_mime(mime: &str) -> Option<Option<Format>> {
    let format = match mime {
        "application/pdf" | "application/x-pdf" => Format::Pdf,
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
        | "application/vnd.openxmlformats-officedocument.wordprocessingml.template"
        | "application/vnd.ms-word.document.macroenabled.12" => Format::Docx,
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        | "application/vnd.openxmlformats-officedocument.spreadsheetml.template"
        | "application/vnd.ms-excel.sheet.macroenabled.12" => Format::Xlsx,
        "application/vnd.openxmlformats-officedocument.presentationml.presentation"
        | "application/vnd.openxmlformats-officedocument.presentationml.slideshow"
        | "application/vnd.ms-powerpoint.presentation.macroenabled.12" => Format::Pptx,
        "application/vnd.oasis.opendocument.text"
        | "application/vnd.oasis.opendocument.text-template" => Format::Odt,
        "application/vnd.oasis.opendocument.spreadsheet"
        | "application/vnd.oasis.opendocument.spreadsheet-template" => Format::Ods,
        "application/vnd.oasis.opendocument.presentation"
        | "application/vnd.oasis.opendocument.presentation-template" => Format::Odp,
        "application/zip" | "application/x-zip-compressed" | "application/x-zip" => Format::Zip,
        "message/rfc822" | "message/global" => Format::Message,
        "text/html" | "application/xhtml+xml" => Format::Html,
        "text/csv" | "text/tab-separated-values" | "application/csv" => Format::Csv,
        "application/msword"
        | "application/vnd.ms-excel"
        | "application/vnd.ms-powerpoint"
        | "application/vnd.ms-outlook" => Format::LegacyOffice,
        "application/rtf" | "text/rtf" => Format::Rtf,
        "application/gzip"
        | "application/x-gzip"
        | "application/x-7z-compressed"
        | "application/x-rar-compressed"
        | "application/vnd.rar"
        | "application/x-bzip2"
        | "application/x-xz" => Format::OtherArchive,
        "application/json" | "application/xml" | "application/x-yaml" | "application/yaml" => {
            Format::Text
        }
        mime if mime.starts_with("text/") => Format::Text,
        mime if ["image/", "audio/", "video/", "font/", "model/"]
            .iter()
            .any(|prefix| mime.starts_with(prefix)) =>
        {
            return Some(None);
        }
        _ => return None,
    };
    Some(Some(format))
}

/// `Some(None)`: an extension known to carry no text; `None`: no opinion.
fn by_extension(ext: &str) -> Option<Option<Format>> {
    let format = match ext {
        "pdf" => Format::Pdf,
        "docx" | "docm" | "dotx" | "dotm" => Format::Docx,
        "xlsx" | "xlsm" | "xltx" | "xltm" => Format::Xlsx,
        "pptx" | "pptm" | "ppsx" | "ppsm" | "potx" => Format::Pptx,
        "odt" | "ott" => Format::Odt,
        "ods" | "ots" => Format::Ods,
        "odp" | "otp" => Format::Odp,
        "zip" => Format::Zip,
        "eml" => Format::Message,
        "html" | "htm" | "xhtml" => Format::Html,
        "csv" | "tsv" => Format::Csv,
        "txt" | "text" | "log" | "md" | "json" | "xml" | "ics" | "vcf" | "yaml" | "yml" | "ini"
        | "cfg" | "conf" | "sql" => Format::Text,
        "doc" | "dot" | "xls" | "xlt" | "ppt" | "pps" | "msg" => Format::LegacyOffice,
        "rtf" => Format::Rtf,
        "gz" | "tgz" | "7z" | "rar" | "bz2" | "xz" => Format::OtherArchive,
        "png" | "jpg" | "jpeg" | "gif" | "bmp" | "tif" | "tiff" | "webp" | "heic" | "ico"
        | "svg" | "mp3" | "wav" | "ogg" | "m4a" | "flac" | "mp4" | "mov" | "avi" | "mkv"
        | "webm" | "ttf" | "otf" | "woff" | "woff2" | "exe" | "dll" | "so" | "bin" | "dat"
        | "p7s" | "p7m" | "asc" | "sig" | "cer" | "crt" => return Some(None),
        _ => return None,
    };
    Some(Some(format))
}

/// Guesses from the content when nothing was declared: HTML, an e-mail message, or
/// text; anything else is binary without text.
fn sniff(data: &[u8]) -> Option<Format> {
    let head = &data[..data.len().min(8192)];
    let head = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
    if head.starts_with(b"\xff\xfe") || head.starts_with(b"\xfe\xff") {
        return Some(Format::Text);
    }
    let start = head
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(head.len());
    let trimmed = &head[start..];
    let starts_with_ci = |prefix: &[u8]| {
        trimmed.len() >= prefix.len() && trimmed[..prefix.len()].eq_ignore_ascii_case(prefix)
    };
    if starts_with_ci(b"<!doctype html") || starts_with_ci(b"<html") {
        return Some(Format::Html);
    }
    if looks_like_message(head) {
        return Some(Format::Message);
    }
    looks_like_text(head).then_some(Format::Text)
}

/// Starts with a header that begins nearly every stored message.
fn looks_like_message(head: &[u8]) -> bool {
    const FIRST_HEADERS: &[&[u8]] = &[
        b"return-path:",
        b"received:",
        b"from:",
        b"date:",
        b"message-id:",
        b"mime-version:",
        b"delivered-to:",
        b"subject:",
    ];
    FIRST_HEADERS
        .iter()
        .any(|name| head.len() > name.len() && head[..name.len()].eq_ignore_ascii_case(name))
        && head.windows(2).any(|w| w == b"\n\n") | head.windows(4).any(|w| w == b"\r\n\r\n")
}

/// No NUL, almost no other control bytes, and either valid UTF-8 or mostly ASCII.
fn looks_like_text(head: &[u8]) -> bool {
    if head.is_empty() || head.contains(&0) {
        return false;
    }
    let controls = head
        .iter()
        .filter(|&&b| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0c | 0x1b))
        .count();
    if controls * 100 > head.len() {
        return false;
    }
    match std::str::from_utf8(head) {
        Ok(_) => true,
        // A multi-byte character cut by the 8 KiB window is still UTF-8.
        Err(error) if error.error_len().is_none() => true,
        Err(_) => head.iter().filter(|&&b| b >= 0x80).count() * 10 < head.len() * 3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detect_as(content_type: &str, name: Option<&str>, data: &[u8]) -> Option<Format> {
        detect(&Hint::new(content_type, name), data)
    }

    #[test]
    fn magic_beats_declared_type() {
        assert_eq!(
            detect_as("application/octet-stream", None, b"%PDF-1.7\n..."),
            Some(Format::Pdf)
        );
        assert_eq!(
            detect_as("image/jpeg", Some("a.jpg"), b"%PDF-1.4"),
            Some(Format::Pdf)
        );
        assert_eq!(
            detect_as("text/plain", None, b"\x89PNG\r\n\x1a\n...."),
            None
        );
        assert_eq!(
            detect_as(
                "application/octet-stream",
                Some("report.docx"),
                b"PK\x03\x04..."
            ),
            Some(Format::Docx)
        );
        assert_eq!(detect_as("", None, b"PK\x03\x04..."), Some(Format::Zip));
        assert_eq!(
            detect_as(
                "application/octet-stream",
                Some("x.doc"),
                b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
            ),
            Some(Format::LegacyOffice)
        );
    }

    #[test]
    fn declared_type_then_extension_then_sniffing() {
        assert_eq!(
            detect_as("text/html; charset=utf-8", None, b"hi"),
            Some(Format::Html)
        );
        assert_eq!(detect_as("image/png", None, b"hello"), None);
        assert_eq!(
            detect_as("application/octet-stream", Some("DATA.CSV"), b"a,b"),
            Some(Format::Csv)
        );
        assert_eq!(
            detect_as("application/octet-stream", None, b"  <!DOCTYPE html><p>x"),
            Some(Format::Html)
        );
        assert_eq!(
            detect_as(
                "application/octet-stream",
                None,
                b"From: a@b.c\r\nSubject: x\r\n\r\nbody"
            ),
            Some(Format::Message)
        );
        assert_eq!(
            detect_as(
                "application/octet-stream",
                None,
                "plain words, ça va".as_bytes()
            ),
            Some(Format::Text)
        );
        assert_eq!(
            detect_as("application/octet-stream", None, b"\x01\x02\x00\x03"),
            None
        );
        assert_eq!(detect_as("application/octet-stream", None, b""), None);
    }

    #[test]
    fn hint_parses_parameters_and_extensions() {
        let hint = Hint::new(
            "Text/Plain; format=flowed; charset=\"ISO-8859-1\"",
            Some("a/b.TXT"),
        );
        assert_eq!(hint.mime, "text/plain");
        assert_eq!(hint.charset.as_deref(), Some("ISO-8859-1"));
        assert_eq!(hint.extension.as_deref(), Some("txt"));
        assert_eq!(Hint::from_name("../../etc/passwd").extension, None);
        assert_eq!(Hint::from_name("dir.d/noext").extension, None);
    }
}
