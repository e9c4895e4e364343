//! PDF text through `pdf-extract`, behind guards for what `catch_unwind` and a timeout
//! cannot contain.
//!
//! `pdf-extract` (and the `lopdf` 0.42 it uses) has about a hundred `unwrap`/`panic!`
//! sites — contained by the helper thread's `catch_unwind` — but two failure modes
//! would take the whole process down instead:
//!
//! 1. **Unbounded decompression.** `lopdf` inflates cross-reference and object streams
//!    while loading, and content and font streams while rendering, with `read_to_end`
//!    and no limit. [`check_decoded_size`] therefore first decodes, bounded and
//!    without keeping the output, every `stream` in the raw bytes with every decoder
//!    `lopdf` would apply (zlib, its raw-deflate fallback, LZW and ASCII85 when the file
//!    names those filters, up to [`MAX_LAYERS`] filters deep), and refuses the file
//!    when the total exceeds [`super::ExtractLimits::max_pdf_decoded_bytes`]. Image
//!    streams are then emptied while loading (text never comes from them).
//!    Encrypted files are refused ([`super::ExtractError::Encrypted`]): `lopdf` decrypts
//!    and inflates their object streams while loading, where no check can look first.
//! 2. **Unbounded recursion** (a stack overflow aborts the process; it is not a panic).
//!    `pdf-extract` recurses into form XObjects (`Do`) and up `Parent` links without
//!    cycle checks. [`check_structure`] walks the same paths first, iteratively
//!    bounded, and refuses files whose forms draw themselves, nest deeper than
//!    [`MAX_FORM_DEPTH`] or are drawn more than [`MAX_FORM_INVOCATIONS`] times, and
//!    page trees whose `Parent` links loop.
//!
//! The text goes through `pdf-extract`'s own plain-text layout into the bounded sink;
//! when the sink is full or the deadline passes, the output device returns an error,
//! which stops `pdf-extract` cooperatively. Parsing and font loading cannot be
//! interrupted: there the helper thread's timeout applies, and the file is refused
//! ([`super::ExtractError::Overloaded`]) while too many threads are abandoned already
//! (see `run`).

use std::collections::{HashMap, HashSet};
use std::io::{self, Read};
use std::panic::{self, AssertUnwindSafe};
use std::time::Instant;

use flate2::read::{DeflateDecoder, ZlibDecoder};
use pdf_extract::content::Content;
use pdf_extract::{
    ColorSpace, Dictionary, Document, LoadOptions, MediaBox, Object, ObjectId, OutputDev,
    OutputError, Path, PlainTextOutput, Transform,
};

use super::sink::TextSink;
use super::{Ctx, ExtractError, Format, Limit};

/// Deepest chain of stream filters explored (PDF files rarely use more than two).
const MAX_LAYERS: u32 = 3;
/// How much of one filter's output is kept to explore the next filter.
const MAX_KEPT_LAYER_BYTES: usize = 16 * 1024 * 1024;
/// Deepest nesting of form XObjects accepted.
const MAX_FORM_DEPTH: usize = 32;
/// Most form XObject invocations accepted over the whole document.
const MAX_FORM_INVOCATIONS: usize = 100_000;
/// Longest `Parent` chain accepted from a page to the root.
const MAX_PARENT_CHAIN: usize = 256;

/// Extracts the text of a PDF into the sink.
pub(super) fn extract(ctx: &mut Ctx, data: &[u8]) -> Result<(), ExtractError> {
    let names = scan_names(data);
    if names.encrypt {
        return Err(ExtractError::Encrypted {
            format: Format::Pdf,
        });
    }
    check_decoded_size(data, &names, ctx.limits.max_pdf_decoded_bytes, ctx.deadline)
        .map_err(|stop| stop.into_error(ctx))?;
    ctx.check_deadline(Format::Pdf)?;
    // From here the library parses and loads fonts, which cannot be interrupted.
    super::run::check_uninterruptible(&ctx.limits, Format::Pdf)?;

    let options = LoadOptions {
        filter: Some(drop_image_data),
        ..LoadOptions::default()
    };
    let document = panic::catch_unwind(AssertUnwindSafe(|| {
        Document::load_mem_with_options(data, options)
    }))
    .map_err(|_| ExtractError::Panicked {
        format: Format::Pdf,
    })?
    .map_err(|_| malformed("not a readable pdf"))?;
    if document.trailer.get(b"Encrypt").is_ok() || document.encryption_state.is_some() {
        return Err(ExtractError::Encrypted {
            format: Format::Pdf,
        });
    }
    ctx.check_deadline(Format::Pdf)?;
    check_structure(&document, ctx.deadline).map_err(|stop| stop.into_error(ctx))?;
    ctx.check_deadline(Format::Pdf)?;
    render(ctx, &document)
}

fn malformed(reason: &'static str) -> ExtractError {
    ExtractError::Malformed {
        format: Format::Pdf,
        reason,
    }
}

/// Why a guard refused a file.
#[derive(Debug, PartialEq, Eq)]
enum Stop {
    Deadline,
    TooMuchDecoded,
    Structure,
}

impl Stop {
    fn into_error(self, ctx: &Ctx) -> ExtractError {
        match self {
            Stop::Deadline => ExtractError::TimedOut {
                format: Format::Pdf,
                limit: ctx.limits.timeout,
            },
            Stop::TooMuchDecoded => ExtractError::LimitExceeded {
                format: Format::Pdf,
                limit: Limit::PdfDecodedBytes,
            },
            Stop::Structure => ExtractError::LimitExceeded {
                format: Format::Pdf,
                limit: Limit::PdfStructure,
            },
        }
    }
}

/// The names that matter to the guards, found anywhere in the file (with `#xx`
/// escapes decoded, as the PDF parser does).
#[derive(Debug, Default)]
struct Names {
    encrypt: bool,
    lzw: bool,
    ascii85: bool,
}

fn scan_names(data: &[u8]) -> Names {
    let mut names = Names::default();
    for slash in memchr::memchr_iter(b'/', data) {
        let raw = &data[slash + 1..];
        let end = raw
            .iter()
            .position(|&b| is_delimiter(b) || b.is_ascii_whitespace() || b == 0)
            .unwrap_or(raw.len());
        let raw = &raw[..end.min(64)];
        let name = if raw.contains(&b'#') {
            unescape_name(raw)
        } else {
            raw.to_vec()
        };
        match name.as_slice() {
            b"Encrypt" => names.encrypt = true,
            b"LZWDecode" => names.lzw = true,
            b"ASCII85Decode" => names.ascii85 = true,
            _ => {}
        }
    }
    names
}

fn is_delimiter(b: u8) -> bool {
    matches!(
        b,
        b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%'
    )
}

fn unescape_name(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'#'
            && let Some(hex) = raw.get(i + 1..i + 3)
            && let Ok(text) = std::str::from_utf8(hex)
            && let Ok(byte) = u8::from_str_radix(text, 16)
        {
            out.push(byte);
            i += 3;
        } else {
            out.push(raw[i]);
            i += 1;
        }
    }
    out
}

/// The decoders `lopdf` applies to streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decoder {
    Zlib,
    /// `lopdf`'s fallback when zlib yields nothing: raw deflate after two bytes.
    RawDeflate,
    LzwEarlyChange,
    LzwLateChange,
    Ascii85,
}

/// Decodes every `stream` of the raw file with every plausible filter chain, counting
/// the output, and fails when the total passes `limit` bytes.
fn check_decoded_size(
    data: &[u8],
    names: &Names,
    limit: u64,
    deadline: Instant,
) -> Result<(), Stop> {
    let mut left = limit;
    for keyword in memchr::memmem::find_iter(data, b"stream") {
        if keyword >= 3 && &data[keyword - 3..keyword] == b"end" {
            continue;
        }
        if Instant::now() >= deadline {
            return Err(Stop::Deadline);
        }
        let mut start = keyword + b"stream".len();
        if data.get(start) == Some(&b'\r') {
            start += 1;
        }
        if data.get(start) == Some(&b'\n') {
            start += 1;
        }
        probe(&data[start..], names, 1, &mut left, deadline)?;
    }
    Ok(())
}

/// Tries each decoder on `input`, charges what it yields to `left`, and explores the
/// next filter on the kept output.
fn probe(
    input: &[u8],
    names: &Names,
    layer: u32,
    left: &mut u64,
    deadline: Instant,
) -> Result<(), Stop> {
    let mut zlib_yielded = false;
    for decoder in [
        Decoder::Zlib,
        Decoder::RawDeflate,
        Decoder::LzwEarlyChange,
        Decoder::LzwLateChange,
        Decoder::Ascii85,
    ] {
        let applies = match decoder {
            Decoder::Zlib => true,
            Decoder::RawDeflate => !zlib_yielded && input.len() > 2,
            Decoder::LzwEarlyChange | Decoder::LzwLateChange => names.lzw,
            Decoder::Ascii85 => names.ascii85,
        };
        if !applies {
            continue;
        }
        let keep = if layer < MAX_LAYERS {
            MAX_KEPT_LAYER_BYTES
        } else {
            0
        };
        let (yielded, kept) =
            decode_counting(decoder, input, left.saturating_add(1), keep, deadline)?;
        if yielded > *left {
            return Err(Stop::TooMuchDecoded);
        }
        *left -= yielded;
        if decoder == Decoder::Zlib {
            zlib_yielded = yielded > 0;
        }
        if yielded > 0 && layer < MAX_LAYERS {
            probe(&kept, names, layer + 1, left, deadline)?;
        }
    }
    Ok(())
}

/// Decodes `input` with `decoder` until it ends, fails or yields `cap` bytes; returns
/// how many bytes it yielded and the first `keep` of them.
fn decode_counting(
    decoder: Decoder,
    input: &[u8],
    cap: u64,
    keep: usize,
    deadline: Instant,
) -> Result<(u64, Vec<u8>), Stop> {
    let mut counter = Counter {
        yielded: 0,
        cap,
        kept: Vec::new(),
        keep,
    };
    match decoder {
        Decoder::Zlib => counter.drain(ZlibDecoder::new(input), deadline)?,
        Decoder::RawDeflate => counter.drain(DeflateDecoder::new(&input[2..]), deadline)?,
        Decoder::LzwEarlyChange => counter.lzw(
            weezl::decode::Decoder::with_tiff_size_switch(weezl::BitOrder::Msb, 8),
            input,
            deadline,
        )?,
        Decoder::LzwLateChange => counter.lzw(
            weezl::decode::Decoder::new(weezl::BitOrder::Msb, 8),
            input,
            deadline,
        )?,
        Decoder::Ascii85 => counter.ascii85(input),
    }
    Ok((counter.yielded, counter.kept))
}

/// Counts decoded bytes up to a cap and keeps a prefix.
struct Counter {
    yielded: u64,
    cap: u64,
    kept: Vec<u8>,
    keep: usize,
}

impl Counter {
    /// Takes decoded bytes; false once the cap is reached.
    fn take(&mut self, bytes: &[u8]) -> bool {
        self.yielded = self
            .yielded
            .saturating_add(u64::try_from(bytes.len()).unwrap_or(u64::MAX));
        let room = self.keep.saturating_sub(self.kept.len());
        self.kept.extend_from_slice(&bytes[..bytes.len().min(room)]);
        self.yielded < self.cap
    }

    fn drain(&mut self, mut reader: impl Read, deadline: Instant) -> Result<(), Stop> {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match reader.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(n) => {
                    if !self.take(&buf[..n]) {
                        return Ok(());
                    }
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                // lopdf keeps what was decoded before an error, and so do we.
                Err(_) => return Ok(()),
            }
            if Instant::now() >= deadline {
                return Err(Stop::Deadline);
            }
        }
    }

    fn lzw(
        &mut self,
        mut decoder: weezl::decode::Decoder,
        mut input: &[u8],
        deadline: Instant,
    ) -> Result<(), Stop> {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let result = decoder.decode_bytes(input, &mut buf);
            input = &input[result.consumed_in.min(input.len())..];
            if !self.take(&buf[..result.consumed_out.min(buf.len())]) {
                return Ok(());
            }
            match result.status {
                Ok(weezl::LzwStatus::Ok) if result.consumed_in > 0 || result.consumed_out > 0 => {}
                _ => return Ok(()),
            }
            if Instant::now() >= deadline {
                return Err(Stop::Deadline);
            }
        }
    }

    /// ASCII85 (`z` expands to four zero bytes), stopping at `~>` or a foreign byte.
    fn ascii85(&mut self, input: &[u8]) {
        let mut group = [0u8; 5];
        let mut filled = 0;
        let mut out = Vec::with_capacity(64 * 1024);
        for &byte in input {
            match byte {
                b'~' => break,
                b'z' if filled == 0 => out.extend_from_slice(&[0; 4]),
                b'!'..=b'u' => {
                    group[filled] = byte - b'!';
                    filled += 1;
                    if filled == 5 {
                        let value = group
                            .iter()
                            .fold(0u64, |acc, &digit| acc * 85 + u64::from(digit));
                        let value =
                            u32::try_from(value.min(u64::from(u32::MAX))).unwrap_or(u32::MAX);
                        out.extend_from_slice(&value.to_be_bytes());
                        filled = 0;
                    }
                }
                byte if byte.is_ascii_whitespace() => {}
                _ => break,
            }
            if out.len() >= 64 * 1024 {
                if !self.take(&out) {
                    return;
                }
                out.clear();
            }
        }
        self.take(&out);
    }
}

/// `lopdf` load filter: empties image streams (never a source of text) so that they
/// are neither kept decoded nor fed to the content parser by a stray `Do`.
fn drop_image_data(id: ObjectId, object: &mut Object) -> Option<(ObjectId, Object)> {
    if let Object::Stream(stream) = object
        && stream
            .dict
            .get(b"Subtype")
            .and_then(Object::as_name)
            .is_ok_and(|subtype| subtype == b"Image")
    {
        stream.content.clear();
        stream.dict.remove(b"Filter");
        stream.dict.remove(b"DecodeParms");
        stream.dict.set("Length", 0);
    }
    // lopdf keeps the (modified) object it passed in; the returned value only says "keep".
    Some((id, Object::Null))
}

/// Follows a reference once, as `pdf-extract` does.
fn deref<'a>(document: &'a Document, object: &'a Object) -> Option<&'a Object> {
    match object {
        Object::Reference(id) => document.get_object(*id).ok(),
        other => Some(other),
    }
}

fn dict_entry<'a>(document: &'a Document, dict: &'a Dictionary, key: &[u8]) -> Option<&'a Object> {
    dict.get(key)
        .ok()
        .and_then(|object| deref(document, object))
}

/// Walks what `pdf-extract` will recurse over: `Parent` chains of pages and form
/// XObjects drawn by `Do`, refusing loops and excessive depth or fan-out.
fn check_structure(document: &Document, deadline: Instant) -> Result<(), Stop> {
    let mut walker = FormWalker {
        document,
        deadline,
        invocations: 0,
        do_names: HashMap::new(),
        path: Vec::new(),
    };
    for page_id in document.get_pages().into_values() {
        if Instant::now() >= deadline {
            return Err(Stop::Deadline);
        }
        let Ok(page) = document.get_dictionary(page_id) else {
            continue;
        };
        check_parent_chain(document, page)?;
        let resources = inherited(document, page, b"Resources")?;
        let Some(resources) = resources.and_then(|r| r.as_dict().ok()) else {
            continue;
        };
        let Ok(content) = document.get_page_content(page_id) else {
            continue;
        };
        for name in do_operands(&content) {
            walker.visit(resources, &name, 1)?;
        }
    }
    Ok(())
}

/// Refuses pages whose `Parent` links loop or run too long: `pdf-extract` follows them
/// recursively for every inherited key it misses (`Resources`, `MediaBox`, ...).
fn check_parent_chain<'a>(document: &'a Document, mut dict: &'a Dictionary) -> Result<(), Stop> {
    let mut seen = HashSet::new();
    for _ in 0..MAX_PARENT_CHAIN {
        let Some(parent_id) = dict.get(b"Parent").ok().and_then(|p| p.as_reference().ok()) else {
            return Ok(());
        };
        if !seen.insert(parent_id) {
            return Err(Stop::Structure);
        }
        let Ok(parent) = document.get_dictionary(parent_id) else {
            return Ok(());
        };
        dict = parent;
    }
    Err(Stop::Structure)
}

/// `pdf-extract`'s `get_inherited`, iteratively, refusing `Parent` loops.
fn inherited<'a>(
    document: &'a Document,
    mut dict: &'a Dictionary,
    key: &[u8],
) -> Result<Option<&'a Object>, Stop> {
    let mut seen = HashSet::new();
    for _ in 0..MAX_PARENT_CHAIN {
        if let Some(value) = dict_entry(document, dict, key) {
            return Ok(Some(value));
        }
        let Some(parent_id) = dict.get(b"Parent").ok().and_then(|p| p.as_reference().ok()) else {
            return Ok(None);
        };
        if !seen.insert(parent_id) {
            return Err(Stop::Structure);
        }
        let Ok(parent) = document.get_dictionary(parent_id) else {
            return Ok(None);
        };
        dict = parent;
    }
    Err(Stop::Structure)
}

/// The names drawn with `Do` in a content stream.
fn do_operands(content: &[u8]) -> Vec<Vec<u8>> {
    let Ok(content) = Content::decode(content) else {
        return Vec::new();
    };
    content
        .operations
        .iter()
        .filter(|op| op.operator == "Do")
        .filter_map(|op| op.operands.first()?.as_name().ok().map(<[u8]>::to_vec))
        .collect()
}

struct FormWalker<'a> {
    document: &'a Document,
    deadline: Instant,
    invocations: usize,
    /// `Do` names per form, decoded once.
    do_names: HashMap<ObjectId, Vec<Vec<u8>>>,
    /// Forms being drawn, outermost first.
    path: Vec<ObjectId>,
}

impl<'a> FormWalker<'a> {
    /// Mirrors `pdf-extract`'s `Do`: look the name up in the current resources, draw
    /// the form with its own resources or, lacking them, the current ones.
    fn visit(&mut self, resources: &'a Dictionary, name: &[u8], depth: usize) -> Result<(), Stop> {
        self.invocations += 1;
        if self.invocations > MAX_FORM_INVOCATIONS || depth > MAX_FORM_DEPTH {
            return Err(Stop::Structure);
        }
        if self.invocations.is_multiple_of(256) && Instant::now() >= self.deadline {
            return Err(Stop::Deadline);
        }
        let document = self.document;
        let Some(xobjects) =
            dict_entry(document, resources, b"XObject").and_then(|x| x.as_dict().ok())
        else {
            return Ok(());
        };
        let Ok(entry) = xobjects.get(name) else {
            return Ok(());
        };
        let (id, stream) = match entry {
            Object::Reference(id) => match document.get_object(*id).and_then(Object::as_stream) {
                Ok(stream) => (Some(*id), stream),
                Err(_) => return Ok(()),
            },
            Object::Stream(stream) => (None, stream),
            _ => return Ok(()),
        };
        let form_resources = dict_entry(document, &stream.dict, b"Resources")
            .and_then(|r| r.as_dict().ok())
            .unwrap_or(resources);
        let names = match id {
            Some(id) => {
                if self.path.contains(&id) {
                    return Err(Stop::Structure);
                }
                self.do_names
                    .entry(id)
                    .or_insert_with(|| do_operands(&stream_content(stream)))
                    .clone()
            }
            None => do_operands(&stream_content(stream)),
        };
        if let Some(id) = id {
            self.path.push(id);
        }
        for inner in &names {
            self.visit(form_resources, inner, depth + 1)?;
        }
        if id.is_some() {
            self.path.pop();
        }
        Ok(())
    }
}

/// A stream's decoded content as `pdf-extract` reads it (bounded by the size check).
fn stream_content(stream: &pdf_extract::Stream) -> Vec<u8> {
    if stream.filters().is_ok() {
        stream
            .decompressed_content()
            .unwrap_or_else(|_| stream.content.clone())
    } else {
        stream.content.clone()
    }
}

/// Runs `pdf-extract`'s plain-text layout into the sink.
fn render(ctx: &mut Ctx, document: &Document) -> Result<(), ExtractError> {
    let deadline = ctx.deadline;
    let mut writer = SinkWriter {
        sink: &mut ctx.sink,
        full: false,
    };
    let mut timed_out = false;
    let outcome = {
        let mut output = BoundedOutput {
            inner: PlainTextOutput::new(&mut writer as &mut dyn io::Write),
            deadline,
            timed_out: &mut timed_out,
            calls: 0,
        };
        panic::catch_unwind(AssertUnwindSafe(|| {
            pdf_extract::output_doc(document, &mut output)
        }))
    };
    let full = writer.full;
    ctx.sink.newline();
    match outcome {
        Err(_) => Err(ExtractError::Panicked {
            format: Format::Pdf,
        }),
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) if full => Ok(()),
        Ok(Err(_)) if timed_out => Err(ExtractError::TimedOut {
            format: Format::Pdf,
            limit: ctx.limits.timeout,
        }),
        Ok(Err(_)) => Err(malformed("pdf content could not be read")),
    }
}

/// Feeds `pdf-extract`'s writes to the sink; fails (stopping it) once the sink is full.
struct SinkWriter<'s> {
    sink: &'s mut TextSink,
    full: bool,
}

impl io::Write for SinkWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if !self.sink.push(&String::from_utf8_lossy(buf)) {
            self.full = true;
            return Err(io::Error::other("text limit reached"));
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// How many callbacks pass between two reads of the clock (one per drawn character
/// made the clock about 1% of an import's CPU time).
const CALLS_PER_CLOCK_READ: u32 = 256;

/// Wraps the plain-text layout with a deadline check on every
/// [`CALLS_PER_CLOCK_READ`]th callback and on every page, so that long content
/// streams stop at the deadline even when they draw no text.
struct BoundedOutput<'w, 't> {
    inner: PlainTextOutput<&'w mut dyn io::Write>,
    deadline: Instant,
    timed_out: &'t mut bool,
    calls: u32,
}

impl BoundedOutput<'_, '_> {
    fn check(&mut self) -> Result<(), OutputError> {
        self.calls = self.calls.wrapping_add(1);
        if self.calls.is_multiple_of(CALLS_PER_CLOCK_READ) {
            return self.check_now();
        }
        Ok(())
    }

    fn check_now(&mut self) -> Result<(), OutputError> {
        if Instant::now() >= self.deadline {
            *self.timed_out = true;
            return Err(OutputError::FormatError(std::fmt::Error));
        }
        Ok(())
    }
}

impl OutputDev for BoundedOutput<'_, '_> {
    fn begin_page(
        &mut self,
        page_num: u32,
        media_box: &MediaBox,
        art_box: Option<(f64, f64, f64, f64)>,
    ) -> Result<(), OutputError> {
        self.check_now()?;
        self.inner.begin_page(page_num, media_box, art_box)
    }

    fn end_page(&mut self) -> Result<(), OutputError> {
        self.inner.end_page()
    }

    fn output_character(
        &mut self,
        trm: &Transform,
        width: f64,
        spacing: f64,
        font_size: f64,
        char: &str,
    ) -> Result<(), OutputError> {
        self.check()?;
        self.inner
            .output_character(trm, width, spacing, font_size, char)
    }

    fn begin_word(&mut self) -> Result<(), OutputError> {
        self.inner.begin_word()
    }

    fn end_word(&mut self) -> Result<(), OutputError> {
        self.inner.end_word()
    }

    fn end_line(&mut self) -> Result<(), OutputError> {
        self.inner.end_line()
    }

    fn stroke(
        &mut self,
        _ctm: &Transform,
        _colorspace: &ColorSpace,
        _color: &[f64],
        _path: &Path,
    ) -> Result<(), OutputError> {
        self.check()
    }

    fn fill(
        &mut self,
        _ctm: &Transform,
        _colorspace: &ColorSpace,
        _color: &[f64],
        _path: &Path,
    ) -> Result<(), OutputError> {
        self.check()
    }
}

/// Runs the guards without rendering, to measure what they cost.
#[cfg(test)]
pub(super) fn guard_cost_for_tests(data: &[u8]) {
    let deadline = Instant::now() + std::time::Duration::from_secs(60);
    let names = scan_names(data);
    assert_eq!(check_decoded_size(data, &names, u64::MAX, deadline), Ok(()));
    let options = LoadOptions {
        filter: Some(drop_image_data),
        ..LoadOptions::default()
    };
    let document = Document::load_mem_with_options(data, options).expect("loads");
    assert_eq!(check_structure(&document, deadline), Ok(()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::time::Duration;

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        encoder.write_all(data).expect("in memory");
        encoder.finish().expect("in memory")
    }

    fn later() -> Instant {
        Instant::now() + Duration::from_secs(30)
    }

    #[test]
    fn names_with_escapes_are_decoded() {
        assert!(scan_names(b"<< /Encr#79pt 5 0 R >>").encrypt);
        assert!(scan_names(b"trailer<</Encrypt 5 0 R>>").encrypt);
        assert!(!scan_names(b"<< /Encrypted true /EncryptMetadata >>").encrypt);
        assert!(scan_names(b"/Filter/LZWDecode").lzw);
        assert!(scan_names(b"/Filter [/ASCII85Decode /FlateDecode]").ascii85);
    }

    #[test]
    fn counts_nested_filter_layers() {
        let inner = zlib(&vec![b'a'; 5_000_000]);
        let outer = zlib(&inner);
        let mut pdf = b"1 0 obj << /Filter [/FlateDecode /FlateDecode] >> stream\n".to_vec();
        pdf.extend_from_slice(&outer);
        pdf.extend_from_slice(b"\nendstream endobj");
        let names = scan_names(&pdf);
        assert_eq!(
            check_decoded_size(&pdf, &names, 4_000_000, later()),
            Err(Stop::TooMuchDecoded)
        );
        assert_eq!(check_decoded_size(&pdf, &names, 6_000_000, later()), Ok(()));
    }

    #[test]
    fn counts_the_raw_deflate_fallback_and_lzw() {
        let mut raw = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        raw.write_all(&vec![0u8; 3_000_000]).expect("in memory");
        let raw = raw.finish().expect("in memory");
        let mut pdf = b"stream\r\nXX".to_vec();
        pdf.extend_from_slice(&raw);
        assert_eq!(
            check_decoded_size(&pdf, &Names::default(), 1_000_000, later()),
            Err(Stop::TooMuchDecoded)
        );

        let mut encoder = weezl::encode::Encoder::with_tiff_size_switch(weezl::BitOrder::Msb, 8);
        let lzw = encoder.encode(&vec![7u8; 3_000_000]).expect("in memory");
        let mut pdf = b"/Filter /LZWDecode stream\n".to_vec();
        pdf.extend_from_slice(&lzw);
        let names = scan_names(&pdf);
        assert_eq!(
            check_decoded_size(&pdf, &names, 1_000_000, later()),
            Err(Stop::TooMuchDecoded)
        );
    }

    #[test]
    fn ascii85_expands_z() {
        let mut counter = Counter {
            yielded: 0,
            cap: u64::MAX,
            kept: Vec::new(),
            keep: 16,
        };
        counter.ascii85(b"zz87cURD]i~>");
        assert_eq!(counter.yielded, 8 + 4);
        assert_eq!(&counter.kept[8..12], b"Hell");
    }
}
