//! Plain text and CSV: decoding bytes to text with the declared charset, a byte-order
//! mark, or UTF-8 validity, falling back to windows-1252 (what mislabelled mail usually is).

use std::borrow::Cow;

use mail_parser::decoders::charsets::map::charset_decoder;

use super::Ctx;
use super::detect::Hint;

/// Decodes `data` as text and appends it.
pub(super) fn extract(ctx: &mut Ctx, hint: &Hint, data: &[u8]) {
    // A character takes at most 4 bytes in any charset we decode, so nothing past
    // 4 × (characters still wanted) bytes can reach the output.
    let wanted = ctx
        .limits
        .max_text_chars
        .saturating_sub(ctx.sink.chars())
        .saturating_add(1)
        .saturating_mul(4);
    let mut cut = data.len().min(wanted);
    // Do not split a UTF-8 sequence: back off over (at most 3) continuation bytes.
    let floor = cut.saturating_sub(3);
    while cut > floor && cut < data.len() && (0x80..0xc0).contains(&data[cut]) {
        cut -= 1;
    }
    let head = &data[..cut];
    let text = decode(head, hint.charset.as_deref());
    ctx.sink.push(&text);
    ctx.sink.newline();
}

/// Decodes bytes to text: BOM first, then the declared charset, then UTF-8, then
/// windows-1252. Invalid sequences become U+FFFD; never fails.
pub fn decode<'a>(data: &'a [u8], charset: Option<&str>) -> Cow<'a, str> {
    if let Some(rest) = data.strip_prefix(b"\xef\xbb\xbf") {
        return String::from_utf8_lossy(rest);
    }
    if let Some(rest) = data.strip_prefix(b"\xff\xfe") {
        return Cow::Owned(decode_utf16(rest, u16::from_le_bytes));
    }
    if let Some(rest) = data.strip_prefix(b"\xfe\xff") {
        return Cow::Owned(decode_utf16(rest, u16::from_be_bytes));
    }
    let declared = charset.map(str::to_ascii_lowercase);
    match declared.as_deref() {
        None => match std::str::from_utf8(data) {
            Ok(text) => Cow::Borrowed(text),
            Err(_) => Cow::Owned(windows_1252(data)),
        },
        Some(name) if is_utf8_or_ascii(name) => String::from_utf8_lossy(data),
        Some(name) => match charset_decoder(name.as_bytes()) {
            Some(decoder) => Cow::Owned(decoder(data)),
            None => String::from_utf8_lossy(data),
        },
    }
}

/// Whether `charset` names UTF-8 or US-ASCII (any case): charsets that 8-bit bytes which
/// are not UTF-8 cannot be in.
pub fn is_utf8_or_ascii(charset: &str) -> bool {
    ["utf-8", "utf8", "us-ascii", "ascii"]
        .iter()
        .any(|name| charset.eq_ignore_ascii_case(name))
}

fn windows_1252(data: &[u8]) -> String {
    match charset_decoder(b"windows-1252") {
        Some(decoder) => decoder(data),
        None => String::from_utf8_lossy(data).into_owned(),
    }
}

fn decode_utf16(data: &[u8], unit: fn([u8; 2]) -> u16) -> String {
    let units = data.chunks_exact(2).map(|pair| unit([pair[0], pair[1]]));
    char::decode_utf16(units)
        .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_declared_and_guessed_charsets() {
        assert_eq!(decode("café".as_bytes(), None), "café");
        assert_eq!(decode(b"caf\xe9", None), "café");
        assert_eq!(decode(b"caf\xe9", Some("ISO-8859-1")), "café");
        assert_eq!(decode(b"caf\xe9", Some("utf-8")), "caf\u{fffd}");
        assert_eq!(decode(b"\xff\xfeh\0i\0", None), "hi");
        assert_eq!(decode(b"\xfe\xff\0h\0i", Some("latin1")), "hi");
        assert_eq!(decode(b"\xef\xbb\xbfok", None), "ok");
        assert_eq!(decode(b"abc", Some("x-unknown-charset")), "abc");
        // A lone surrogate and an odd trailing byte do not panic.
        assert_eq!(decode(b"\xff\xfe\x00\xd8x", None), "\u{fffd}");
    }
}
