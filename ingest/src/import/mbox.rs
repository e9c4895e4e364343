//! Streaming mbox splitter: yields each message's raw bytes, with bounded memory.
//!
//! [`MboxReader`] reads any [`BufRead`] and yields one [`MboxMessage`] per message: the bytes
//! to archive, the byte offset of its `From ` separator line in the file, and that line
//! ([`FromLine`], with its envelope sender and delivery date). Per-message problems
//! (oversized, empty) are yielded as errors and iteration goes on; an I/O error or an input
//! that is not an mbox ends it ([`MboxError::is_fatal`]).
//!
//! # Why a hand-written splitter
//! mail-parser's `mailbox::mbox::MessageIterator` reads with `read_until`, so one line
//! without a newline is buffered whole, and so is every message, whatever its size; it
//! splits at *every* line starting with `From ` (no blank-line rule), always strips `>`
//! from `>From ` lines (mboxrd only), and reports no byte offsets. A multi-gigabyte import
//! must run in bounded memory and name where each rejected message sits, so this module
//! scans lines over [`BufRead::fill_buf`] with `memchr`, never keeps more than
//! [`MboxOptions::max_message_bytes`] (plus one short line) of a message, and skips an
//! oversized message's bytes without buffering them.
//!
//! # Decisions
//! - **Flavour** ([`MboxFlavor`]): the default is [`MboxFlavor::Mboxrd`], which strips one
//!   `>` from every line matching `^>+From `. An mbox file does not say which quoting its
//!   writer used, and mboxrd reading is the better guess for both kinds of file: on an
//!   mboxrd file it restores every original byte; on an mboxo file it errs only on body
//!   lines that were `>From ` (or deeper) in the original, which mboxo reading also gets
//!   wrong for `>From ` (an mboxo writer leaves `>From ` alone, so reading cannot tell it
//!   from a quoted `From `). [`MboxFlavor::Mboxo`] strips `>` only from `>From `;
//!   [`MboxFlavor::Raw`] keeps the bytes exactly as stored in the mbox file.
//! - **Separator rule** ([`SeparatorRule`]): the first `From ` line of the file is always a
//!   separator. After that, by default ([`SeparatorRule::Strict`]) a line is a separator
//!   when it starts with `From `, follows an empty line (or directly follows the previous
//!   separator: an empty message), and looks like a `From_` line (it contains a time,
//!   `H:MM`, as every writer's date does). Writers that quote nothing can leave
//!   `From here on...` after a blank line in a body; the time check keeps such a line in
//!   its message. Content-Length (mboxcl2) is not used. Lines longer than
//!   [`MAX_FROM_LINE`] are never separators.
//! - **The message bytes** are the lines between two separators, unquoted per the flavour,
//!   minus the one empty line that writers put before each `From ` line (and at the end of
//!   the file). Line endings are kept as they are (LF or CRLF); a last message without a
//!   final newline is kept without one.
//! - **Not an mbox**: input whose first non-empty line does not start with `From ` yields
//!   [`MboxError::NotMbox`] and nothing else. The import walker never hands such a file to
//!   this reader: it takes it as a single message (see `walk`). Empty lines before the
//!   first `From ` line are skipped.
//! - **Empty messages** (two separators with nothing but the blank line between them)
//!   yield [`MboxError::EmptyMessage`] with their offset.
//! - **Oversized messages**: once a message exceeds
//!   [`MboxOptions::max_message_bytes`] its buffer is dropped and the rest of its bytes are
//!   only counted; [`MboxError::Oversized`] reports its size in the file.
//!
//! [`write_mbox_message`] is the inverse (used by tests, the edge-case generator and
//! exports): with the same flavour, reading what it wrote gives back the original bytes for
//! every message that ends with a newline.

use std::io::{self, BufRead, Write};

/// Default cap on one message's size: 150 MiB.
pub const DEFAULT_MAX_MESSAGE_BYTES: u64 = 150 * 1024 * 1024;

/// The longest line that can be a `From ` separator; also the most of any line kept while
/// an oversized message is skipped.
pub const MAX_FROM_LINE: usize = 4096;

/// How `>From ` quoting in message bodies is undone. See the module docs for the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MboxFlavor {
    /// Strip one `>` from lines matching `^>+From ` (exact for mboxrd files).
    #[default]
    Mboxrd,
    /// Strip one `>` from lines matching `^>From ` only (classic mboxo).
    Mboxo,
    /// Keep every byte as stored in the mbox file.
    Raw,
}

/// Which `From ` lines separate messages (beyond the first line of the file, which always
/// does). See the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SeparatorRule {
    /// After an empty line (or directly after a separator), and with a time (`H:MM`) in the
    /// line, as real `From_` lines have.
    #[default]
    Strict,
    /// After an empty line (or directly after a separator), whatever follows `From `.
    BlankLine,
    /// Every line that starts with `From ` (for writers that put no blank line between
    /// messages; splits bodies that contain unquoted `From ` lines).
    AnyFromLine,
}

/// Options for [`MboxReader`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MboxOptions {
    /// How `>From ` quoting is undone.
    pub flavor: MboxFlavor,
    /// Which `From ` lines separate messages.
    pub separator: SeparatorRule,
    /// A message with more bytes than this is skipped and reported as oversized.
    pub max_message_bytes: u64,
}

impl Default for MboxOptions {
    fn default() -> Self {
        MboxOptions {
            flavor: MboxFlavor::default(),
            separator: SeparatorRule::default(),
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
        }
    }
}

/// A `From ` separator line (without its line ending), e.g.
/// `From alice@example.com Thu Jul 11 11:14:47 2013`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FromLine {
    raw: Vec<u8>,
}

impl FromLine {
    /// Wraps a separator line; a trailing line ending is removed.
    pub fn new(line: &[u8]) -> FromLine {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        FromLine { raw: line.to_vec() }
    }

    /// The whole line, starting with `From `, without its line ending.
    pub fn as_bytes(&self) -> &[u8] {
        &self.raw
    }

    /// The envelope sender: the first word after `From ` (`MAILER-DAEMON`, `-` or an
    /// address, as the writer put it), if any.
    pub fn envelope_sender(&self) -> Option<&[u8]> {
        let rest = self.raw.strip_prefix(b"From ")?;
        rest.split(|b| b.is_ascii_whitespace())
            .find(|word| !word.is_empty())
    }

    /// The text after the envelope sender (normally an asctime date), trimmed.
    pub fn date_text(&self) -> &[u8] {
        let rest = self.raw.strip_prefix(b"From ").unwrap_or(&self.raw);
        let rest = trim_ascii_start(rest);
        let after_sender = rest
            .iter()
            .position(u8::is_ascii_whitespace)
            .map_or(&rest[rest.len()..], |p| &rest[p..]);
        trim_ascii_start(after_sender)
    }

    /// The delivery time written by the mail store, parsed leniently from the date text
    /// (asctime `Thu Jul 11 11:14:47 2013`, with or without a `+hhmm` zone, or RFC 5322
    /// style). A date without a zone is taken as UTC.
    pub fn date(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        parse_from_line_date(self.date_text())
    }
}

/// One message out of an mbox file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MboxMessage {
    /// Position of the message in the file, from 0 (rejected messages count too).
    pub index: u64,
    /// Byte offset of the message's `From ` line in the input.
    pub offset: u64,
    /// The `From ` separator line.
    pub from_line: FromLine,
    /// The message bytes to archive (unquoted per the flavour, separator and trailing
    /// blank line removed).
    pub raw: Vec<u8>,
}

/// Errors and per-message rejections of [`MboxReader`].
#[derive(Debug, thiserror::Error)]
pub enum MboxError {
    /// The first non-empty line is not a `From ` line. Fatal.
    #[error("not an mbox file: the first line does not start with \"From \"")]
    NotMbox,
    /// A message is larger than the cap; its bytes were skipped. Iteration goes on.
    #[error("message #{index} at byte {offset} is {size} bytes, over the {cap}-byte limit")]
    Oversized {
        /// Position of the message in the file.
        index: u64,
        /// Byte offset of its `From ` line.
        offset: u64,
        /// Its size in the file (after the separator line).
        size: u64,
        /// The cap in force.
        cap: u64,
    },
    /// A separator followed by nothing but the blank line before the next one. Iteration
    /// goes on.
    #[error("message #{index} at byte {offset} is empty")]
    EmptyMessage {
        /// Position of the message in the file.
        index: u64,
        /// Byte offset of its `From ` line.
        offset: u64,
    },
    /// Reading failed. Fatal: the rest of the input is not read.
    #[error("read error at byte {offset}: {source}")]
    Io {
        /// How many bytes had been read when the error happened.
        offset: u64,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

impl MboxError {
    /// Whether the reader stops after this error (`NotMbox`, `Io`).
    pub fn is_fatal(&self) -> bool {
        matches!(self, MboxError::NotMbox | MboxError::Io { .. })
    }
}

/// The message being read.
struct Current {
    index: u64,
    offset: u64,
    from_line: FromLine,
    /// Unquoted bytes so far (empty once skipping).
    msg: Vec<u8>,
    /// Bytes of the input after the separator line.
    size: u64,
    /// Content lines read so far.
    lines: u64,
    /// Over the cap: bytes are counted, not kept.
    skipping: bool,
}

/// What one line did.
enum Step {
    Continue,
    Finished(Result<MboxMessage, MboxError>),
    Eof,
}

/// Streaming mbox splitter over any [`BufRead`]. See the module docs.
pub struct MboxReader<R> {
    reader: R,
    options: MboxOptions,
    /// Bytes consumed from `reader`.
    pos: u64,
    started: bool,
    done: bool,
    next_index: u64,
    current: Option<Current>,
    /// Whether the previous line of the input was empty.
    prev_blank: bool,
    scratch: Vec<u8>,
}

impl<R: BufRead> MboxReader<R> {
    /// A reader with the given options.
    pub fn new(reader: R, options: MboxOptions) -> MboxReader<R> {
        MboxReader {
            reader,
            options,
            pos: 0,
            started: false,
            done: false,
            next_index: 0,
            current: None,
            prev_blank: true,
            scratch: Vec::with_capacity(256),
        }
    }

    /// Bytes consumed from the input so far.
    pub fn bytes_read(&self) -> u64 {
        self.pos
    }

    /// Limit on a message buffer's capacity: the cap plus one separator line.
    fn grow_limit(&self) -> usize {
        usize::try_from(self.options.max_message_bytes)
            .unwrap_or(usize::MAX)
            .saturating_add(MAX_FROM_LINE + 2)
    }

    /// Skips empty lines and reads the first separator. `Ok(false)` at end of input.
    fn start(&mut self) -> Result<bool, MboxError> {
        loop {
            self.scratch.clear();
            let line_offset = self.pos;
            let n = self.read_line_into_scratch()?;
            if n == 0 {
                return Ok(false);
            }
            if is_blank(&self.scratch) {
                continue;
            }
            // The first line is a separator whatever its length (only its first
            // MAX_FROM_LINE bytes are kept), as the walker classifies by this prefix alone.
            if self.scratch.starts_with(b"From ") {
                self.begin_message(line_offset);
                return Ok(true);
            }
            return Err(MboxError::NotMbox);
        }
    }

    /// Reads one line into `scratch`, keeping at most [`MAX_FROM_LINE`] bytes of it.
    fn read_line_into_scratch(&mut self) -> Result<u64, MboxError> {
        let offset = self.pos;
        let n = read_line_bounded(
            &mut self.reader,
            &mut self.scratch,
            MAX_FROM_LINE,
            MAX_FROM_LINE,
        )
        .map_err(|source| MboxError::Io { offset, source })?;
        self.pos += n;
        Ok(n)
    }

    /// Starts a new message whose separator line is in `scratch`.
    fn begin_message(&mut self, offset: u64) -> Option<Current> {
        let current = Current {
            index: self.next_index,
            offset,
            from_line: FromLine::new(&self.scratch),
            msg: Vec::new(),
            size: 0,
            lines: 0,
            skipping: false,
        };
        self.next_index += 1;
        self.prev_blank = false;
        self.current.replace(current)
    }

    /// Reads and handles one line.
    fn step(&mut self) -> Result<Step, MboxError> {
        let grow_limit = self.grow_limit();
        let line_offset = self.pos;
        let options = self.options;
        let prev_blank = self.prev_blank;
        let Some(cur) = self.current.as_mut() else {
            return Ok(Step::Eof);
        };

        if cur.skipping {
            self.scratch.clear();
            let n = read_line_bounded(
                &mut self.reader,
                &mut self.scratch,
                MAX_FROM_LINE,
                MAX_FROM_LINE,
            )
            .map_err(|source| MboxError::Io {
                offset: line_offset,
                source,
            })?;
            if n == 0 {
                return Ok(Step::Eof);
            }
            self.pos += n;
            if is_separator(&self.scratch, n, prev_blank, false, options.separator) {
                let finished = self.begin_message(line_offset);
                return Ok(finished.map_or(Step::Continue, |f| Step::Finished(finish(f, options))));
            }
            cur.size += n;
            cur.lines += 1;
            self.prev_blank = is_blank(&self.scratch);
            return Ok(Step::Continue);
        }

        let line_start = cur.msg.len();
        let keep = grow_limit.saturating_sub(line_start);
        let n = read_line_bounded(&mut self.reader, &mut cur.msg, keep, grow_limit).map_err(
            |source| MboxError::Io {
                offset: line_offset,
                source,
            },
        )?;
        if n == 0 {
            return Ok(Step::Eof);
        }
        self.pos += n;
        let line = &cur.msg[line_start..];
        if is_separator(line, n, prev_blank, cur.lines == 0, options.separator) {
            self.scratch.clear();
            self.scratch.extend_from_slice(line);
            cur.msg.truncate(line_start);
            let finished = self.begin_message(line_offset);
            return Ok(finished.map_or(Step::Continue, |f| Step::Finished(finish(f, options))));
        }
        cur.size += n;
        cur.lines += 1;
        self.prev_blank = is_blank(line);
        if cur.msg.len() as u64 > options.max_message_bytes.saturating_add(2) {
            tracing::debug!(
                index = cur.index,
                offset = cur.offset,
                cap = options.max_message_bytes,
                "mbox message over the size cap, skipping its bytes"
            );
            cur.skipping = true;
            cur.msg = Vec::new();
            return Ok(Step::Continue);
        }
        if needs_unquote(line, options.flavor) {
            cur.msg.remove(line_start);
        }
        Ok(Step::Continue)
    }
}

impl<R: BufRead> Iterator for MboxReader<R> {
    type Item = Result<MboxMessage, MboxError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if !self.started {
            self.started = true;
            match self.start() {
                Ok(true) => {}
                Ok(false) => {
                    self.done = true;
                    return None;
                }
                Err(error) => {
                    self.done = true;
                    return Some(Err(error));
                }
            }
        }
        loop {
            match self.step() {
                Ok(Step::Continue) => {}
                Ok(Step::Finished(result)) => return Some(result),
                Ok(Step::Eof) => {
                    self.done = true;
                    let options = self.options;
                    return self.current.take().map(|c| finish(c, options));
                }
                Err(error) => {
                    self.done = true;
                    self.current = None;
                    return Some(Err(error));
                }
            }
        }
    }
}

/// Turns a finished message into the item to yield.
fn finish(current: Current, options: MboxOptions) -> Result<MboxMessage, MboxError> {
    let Current {
        index,
        offset,
        from_line,
        mut msg,
        size,
        skipping,
        ..
    } = current;
    if !skipping {
        strip_trailing_blank_line(&mut msg);
    }
    if skipping || msg.len() as u64 > options.max_message_bytes {
        return Err(MboxError::Oversized {
            index,
            offset,
            size,
            cap: options.max_message_bytes,
        });
    }
    if msg.is_empty() {
        return Err(MboxError::EmptyMessage { index, offset });
    }
    Ok(MboxMessage {
        index,
        offset,
        from_line,
        raw: msg,
    })
}

/// Reads one line (through its `\n`, or to the end of input) and appends at most `keep`
/// bytes of it to `out`, growing `out` at most to `grow_limit` bytes of capacity. Returns
/// the line's full length; 0 at end of input.
fn read_line_bounded<R: BufRead>(
    reader: &mut R,
    out: &mut Vec<u8>,
    keep: usize,
    grow_limit: usize,
) -> io::Result<u64> {
    let mut total = 0u64;
    let mut kept = 0usize;
    loop {
        let buf = match reader.fill_buf() {
            Ok(buf) => buf,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        if buf.is_empty() {
            return Ok(total);
        }
        let (len, complete) = match memchr::memchr(b'\n', buf) {
            Some(pos) => (pos + 1, true),
            None => (buf.len(), false),
        };
        let take = len.min(keep - kept);
        if take > 0 {
            reserve_capped(out, take, grow_limit);
            out.extend_from_slice(&buf[..take]);
            kept += take;
        }
        reader.consume(len);
        total += len as u64;
        if complete {
            return Ok(total);
        }
    }
}

/// Reserves room for `additional` more bytes, doubling as `Vec` does but never past
/// `limit` (unless `additional` itself needs more), so a message near the cap does not
/// leave a buffer of twice the cap behind.
fn reserve_capped(v: &mut Vec<u8>, additional: usize, limit: usize) {
    let needed = v.len().saturating_add(additional);
    if needed <= v.capacity() {
        return;
    }
    let target = v
        .capacity()
        .saturating_mul(2)
        .max(8 * 1024)
        .min(limit)
        .max(needed);
    v.reserve_exact(target - v.len());
}

/// Whether `line` (of full length `len`) separates messages.
fn is_separator(
    line: &[u8],
    len: u64,
    prev_blank: bool,
    message_empty: bool,
    rule: SeparatorRule,
) -> bool {
    if line.len() as u64 != len || line.len() > MAX_FROM_LINE || !line.starts_with(b"From ") {
        return false;
    }
    match rule {
        SeparatorRule::AnyFromLine => true,
        SeparatorRule::BlankLine => prev_blank || message_empty,
        SeparatorRule::Strict => (prev_blank || message_empty) && looks_like_from_line(line),
    }
}

/// Whether a `From ` line looks like a real `From_` line: a sender word, then a time.
pub fn looks_like_from_line(line: &[u8]) -> bool {
    let Some(rest) = line.strip_prefix(b"From ") else {
        return false;
    };
    let has_sender = rest.first().is_some_and(|b| !b.is_ascii_whitespace());
    let has_time = rest.windows(4).any(|w| {
        w[0].is_ascii_digit() && w[1] == b':' && w[2].is_ascii_digit() && w[3].is_ascii_digit()
    });
    has_sender && has_time
}

/// Whether `line` is empty (just a line ending).
fn is_blank(line: &[u8]) -> bool {
    line == b"\n" || line == b"\r\n"
}

/// Whether reading with `flavor` removes the first byte (a `>`) of `line`.
pub fn needs_unquote(line: &[u8], flavor: MboxFlavor) -> bool {
    match flavor {
        MboxFlavor::Raw => false,
        MboxFlavor::Mboxo => line.starts_with(b">From "),
        MboxFlavor::Mboxrd => {
            let quotes = line.iter().take_while(|&&b| b == b'>').count();
            quotes > 0 && line[quotes..].starts_with(b"From ")
        }
    }
}

/// Whether writing with `flavor` prefixes `line` with a `>`.
pub fn needs_quote(line: &[u8], flavor: MboxFlavor) -> bool {
    match flavor {
        MboxFlavor::Raw => false,
        MboxFlavor::Mboxo => line.starts_with(b"From "),
        MboxFlavor::Mboxrd => {
            let quotes = line.iter().take_while(|&&b| b == b'>').count();
            line[quotes..].starts_with(b"From ")
        }
    }
}

/// Removes the one empty line a writer puts after each message.
fn strip_trailing_blank_line(msg: &mut Vec<u8>) {
    let len = msg.len();
    if msg.ends_with(b"\r\n") && (len == 2 || msg[len - 3] == b'\n') {
        msg.truncate(len - 2);
    } else if msg.ends_with(b"\n") && (len == 1 || msg[len - 2] == b'\n') {
        msg.truncate(len - 1);
    }
}

/// Splits a leading mbox `From ` line off a single message: `(Some(line), rest)` when
/// `raw` starts with `From `, else `(None, raw)`. The line is returned without its ending.
pub fn strip_mbox_from_line(raw: &[u8]) -> (Option<&[u8]>, &[u8]) {
    if !raw.starts_with(b"From ") {
        return (None, raw);
    }
    match memchr::memchr(b'\n', raw) {
        Some(pos) => {
            let line = &raw[..pos];
            (
                Some(line.strip_suffix(b"\r").unwrap_or(line)),
                &raw[pos + 1..],
            )
        }
        None => (Some(raw), &raw[raw.len()..]),
    }
}

/// Appends one message to an mbox: the `From ` line, the message with body lines quoted
/// per `flavor`, a line ending if the message lacks a final one, and the empty separator
/// line. Line endings follow the message's first line (CRLF or LF).
///
/// `from_line` must start with `From ` and hold no line break. [`MboxFlavor::Raw`] quotes
/// nothing, so a body line `From ...` after an empty line will read back as a separator.
pub fn write_mbox_message<W: Write>(
    out: &mut W,
    from_line: &[u8],
    raw: &[u8],
    flavor: MboxFlavor,
) -> io::Result<()> {
    if !from_line.starts_with(b"From ") || from_line.iter().any(|&b| b == b'\n' || b == b'\r') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "an mbox separator must be one line starting with \"From \"",
        ));
    }
    let eol: &[u8] = match memchr::memchr(b'\n', raw) {
        Some(pos) if pos > 0 && raw[pos - 1] == b'\r' => b"\r\n",
        _ => b"\n",
    };
    out.write_all(from_line)?;
    out.write_all(eol)?;
    let mut rest = raw;
    while !rest.is_empty() {
        let end = memchr::memchr(b'\n', rest).map_or(rest.len(), |p| p + 1);
        let line = &rest[..end];
        if needs_quote(line, flavor) {
            out.write_all(b">")?;
        }
        out.write_all(line)?;
        rest = &rest[end..];
    }
    if !raw.is_empty() && !raw.ends_with(b"\n") {
        out.write_all(eol)?;
    }
    out.write_all(eol)
}

fn trim_ascii_start(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    &bytes[start..]
}

/// Lenient parse of the date on a `From_` line; see [`FromLine::date`].
fn parse_from_line_date(text: &[u8]) -> Option<chrono::DateTime<chrono::Utc>> {
    use chrono::{FixedOffset, NaiveDate, TimeZone};
    const MONTHS: [&[u8]; 12] = [
        b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov",
        b"dec",
    ];
    let text = std::str::from_utf8(text).ok()?;
    let (mut month, mut day, mut year, mut time, mut zone) = (None, None, None, None, None);
    for token in text.split(|c: char| c.is_ascii_whitespace() || c == ',') {
        let bytes = token.as_bytes();
        if token.is_empty() {
            continue;
        }
        if token.contains(':') {
            if time.is_none() {
                time = parse_time(token);
            }
        } else if (bytes[0] == b'+' || bytes[0] == b'-')
            && bytes.len() == 5
            && bytes[1..].iter().all(u8::is_ascii_digit)
        {
            let value: i32 = token[1..].parse().ok()?;
            let seconds = (value / 100) * 3600 + (value % 100) * 60;
            zone = if bytes[0] == b'+' {
                FixedOffset::east_opt(seconds)
            } else {
                FixedOffset::west_opt(seconds)
            };
        } else if bytes.iter().all(u8::is_ascii_digit) {
            match bytes.len() {
                1 | 2 if day.is_none() => day = token.parse::<u32>().ok(),
                4 if year.is_none() => year = token.parse::<i32>().ok(),
                _ => {}
            }
        } else if bytes.len() >= 3 && month.is_none() {
            let prefix = bytes[..3].to_ascii_lowercase();
            month = MONTHS
                .iter()
                .position(|m| *m == prefix.as_slice())
                .and_then(|i| u32::try_from(i + 1).ok());
        }
    }
    let date = NaiveDate::from_ymd_opt(year?, month?, day?)?;
    let naive = date.and_time(time?);
    let zone = match zone {
        Some(zone) => zone,
        None => FixedOffset::east_opt(0)?,
    };
    zone.from_local_datetime(&naive)
        .single()
        .map(|dt| dt.with_timezone(&chrono::Utc))
}

/// `HH:MM` or `HH:MM:SS` (a leap second is clamped to :59).
fn parse_time(token: &str) -> Option<chrono::NaiveTime> {
    let mut parts = token.split(':').map(str::parse::<u32>);
    let hour = parts.next()?.ok()?;
    let minute = parts.next()?.ok()?;
    let second = match parts.next() {
        Some(second) => second.ok()?,
        None => 0,
    };
    if parts.next().is_some() {
        return None;
    }
    chrono::NaiveTime::from_hms_opt(hour, minute, second.min(59))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn read_all(input: &[u8], options: MboxOptions) -> Vec<Result<MboxMessage, MboxError>> {
        MboxReader::new(Cursor::new(input.to_vec()), options).collect()
    }

    fn raws(input: &[u8], options: MboxOptions) -> Vec<Vec<u8>> {
        read_all(input, options)
            .into_iter()
            .map(|r| r.expect("message").raw)
            .collect()
    }

    const SEP_A: &str = "From alice@example.com Thu Jul 11 11:14:47 2013";
    const SEP_B: &str = "From bob@example.com Fri Feb 14 11:33:32 +0000 2014";

    #[test]
    fn splits_two_messages_with_offsets() {
        let input = format!("{SEP_A}\nSubject: a\n\nbody a\n\n{SEP_B}\nSubject: b\n\nbody b\n\n");
        let items = read_all(input.as_bytes(), MboxOptions::default());
        assert_eq!(items.len(), 2);
        let first = items[0].as_ref().expect("first");
        let second = items[1].as_ref().expect("second");
        assert_eq!(first.raw, b"Subject: a\n\nbody a\n");
        assert_eq!(first.offset, 0);
        assert_eq!(first.index, 0);
        assert_eq!(first.from_line.as_bytes(), SEP_A.as_bytes());
        assert_eq!(
            first.from_line.envelope_sender(),
            Some(&b"alice@example.com"[..])
        );
        assert_eq!(second.raw, b"Subject: b\n\nbody b\n");
        assert_eq!(second.index, 1);
        assert_eq!(
            &input.as_bytes()[second.offset as usize..][..SEP_B.len()],
            SEP_B.as_bytes()
        );
    }

    #[test]
    fn crlf_input_keeps_crlf() {
        let input = format!(
            "{SEP_A}\r\nSubject: a\r\n\r\nbody\r\n\r\n{SEP_B}\r\nSubject: b\r\n\r\nx\r\n\r\n"
        );
        assert_eq!(
            raws(input.as_bytes(), MboxOptions::default()),
            vec![
                b"Subject: a\r\n\r\nbody\r\n".to_vec(),
                b"Subject: b\r\n\r\nx\r\n".to_vec()
            ]
        );
    }

    #[test]
    fn missing_final_newline_is_kept() {
        let input = format!("{SEP_A}\nSubject: a\n\nlast line");
        assert_eq!(
            raws(input.as_bytes(), MboxOptions::default()),
            vec![b"Subject: a\n\nlast line".to_vec()]
        );
        // And without the writer's final blank line.
        let input = format!("{SEP_A}\nSubject: a\n\nlast line\n");
        assert_eq!(
            raws(input.as_bytes(), MboxOptions::default()),
            vec![b"Subject: a\n\nlast line\n".to_vec()]
        );
    }

    #[test]
    fn from_in_body_is_not_a_separator() {
        // Not after a blank line, and after a blank line but without a time.
        let input = format!(
            "{SEP_A}\nSubject: a\n\nline\nFrom here on it is body\n\nFrom now on too\n\n{SEP_B}\nSubject: b\n\nb\n"
        );
        let got = raws(input.as_bytes(), MboxOptions::default());
        assert_eq!(got.len(), 2);
        assert_eq!(
            got[0],
            b"Subject: a\n\nline\nFrom here on it is body\n\nFrom now on too\n"
        );
        // The looser rule splits at the blank-line one.
        let loose = MboxOptions {
            separator: SeparatorRule::BlankLine,
            ..MboxOptions::default()
        };
        let items = read_all(input.as_bytes(), loose);
        assert_eq!(items.len(), 3);
    }

    #[test]
    fn any_from_line_rule_splits_without_blank_lines() {
        let input = format!("{SEP_A}\nSubject: a\n\nx\n{SEP_B}\nSubject: b\n\ny\n");
        assert_eq!(raws(input.as_bytes(), MboxOptions::default()).len(), 1);
        let any = MboxOptions {
            separator: SeparatorRule::AnyFromLine,
            ..MboxOptions::default()
        };
        assert_eq!(raws(input.as_bytes(), any).len(), 2);
    }

    #[test]
    fn mboxrd_and_mboxo_unquoting() {
        let input = format!(
            "{SEP_A}\nSubject: q\n\n>From one\n>>From two\n>>>From three\n> From not\n>Fromage\n"
        );
        let rd = raws(input.as_bytes(), MboxOptions::default());
        assert_eq!(
            rd[0],
            b"Subject: q\n\nFrom one\n>From two\n>>From three\n> From not\n>Fromage\n"
        );
        let o = raws(
            input.as_bytes(),
            MboxOptions {
                flavor: MboxFlavor::Mboxo,
                ..MboxOptions::default()
            },
        );
        assert_eq!(
            o[0],
            b"Subject: q\n\nFrom one\n>>From two\n>>>From three\n> From not\n>Fromage\n"
        );
        let raw = raws(
            input.as_bytes(),
            MboxOptions {
                flavor: MboxFlavor::Raw,
                ..MboxOptions::default()
            },
        );
        assert_eq!(raw[0], input.as_bytes()[SEP_A.len() + 1..]);
    }

    #[test]
    fn write_then_read_round_trips() {
        let messages: Vec<&[u8]> = vec![
            b"Subject: 1\n\nFrom the start\n>From quoted\n\nFrom x Mon Jan  1 00:00:00 2024\n",
            b"Subject: 2\r\n\r\n>>From deep\r\nFrom end\r\n",
            b"Subject: 3\n\nends with blank\n\n",
        ];
        for flavor in [MboxFlavor::Mboxrd, MboxFlavor::Mboxo] {
            let mut file = Vec::new();
            for m in &messages {
                write_mbox_message(&mut file, SEP_A.as_bytes(), m, flavor).expect("write");
            }
            let got = raws(
                &file,
                MboxOptions {
                    flavor,
                    ..MboxOptions::default()
                },
            );
            if flavor == MboxFlavor::Mboxrd {
                let expected: Vec<Vec<u8>> = messages.iter().map(|m| m.to_vec()).collect();
                assert_eq!(got, expected);
            } else {
                // mboxo cannot tell an original `>From` from a quoted `From`.
                assert_eq!(got.len(), 3);
                assert_eq!(got[2], messages[2]);
            }
        }
    }

    #[test]
    fn write_rejects_bad_from_line() {
        let mut out = Vec::new();
        assert!(write_mbox_message(&mut out, b"Subject: x", b"x\n", MboxFlavor::Mboxrd).is_err());
        assert!(write_mbox_message(&mut out, b"From a\nb", b"x\n", MboxFlavor::Mboxrd).is_err());
    }

    #[test]
    fn empty_file_and_not_mbox() {
        assert!(read_all(b"", MboxOptions::default()).is_empty());
        assert!(read_all(b"\n\n", MboxOptions::default()).is_empty());
        let items = read_all(b"Subject: x\n\nbody\n", MboxOptions::default());
        assert_eq!(items.len(), 1);
        assert!(matches!(items[0], Err(MboxError::NotMbox)));
        assert!(items[0].as_ref().err().is_some_and(MboxError::is_fatal));
    }

    #[test]
    fn leading_blank_lines_are_skipped() {
        let input = format!("\n\r\n{SEP_A}\nSubject: a\n\nx\n");
        let items = read_all(input.as_bytes(), MboxOptions::default());
        let first = items[0].as_ref().expect("message");
        assert_eq!(first.offset, 3);
        assert_eq!(first.raw, b"Subject: a\n\nx\n");
    }

    #[test]
    fn empty_messages_between_separators() {
        let input = format!("{SEP_A}\n\n{SEP_B}\n{SEP_A}\nSubject: c\n\nc\n");
        let items = read_all(input.as_bytes(), MboxOptions::default());
        assert_eq!(items.len(), 3);
        assert!(matches!(
            items[0],
            Err(MboxError::EmptyMessage {
                index: 0,
                offset: 0
            })
        ));
        assert!(matches!(
            items[1],
            Err(MboxError::EmptyMessage { index: 1, .. })
        ));
        assert!(!items[1].as_ref().err().is_some_and(MboxError::is_fatal));
        assert_eq!(items[2].as_ref().expect("third").raw, b"Subject: c\n\nc\n");
    }

    #[test]
    fn oversized_message_is_skipped_and_reading_goes_on() {
        let big = "x".repeat(200);
        let input = format!(
            "{SEP_A}\nSubject: big\n\n{big}\n{big}\n{big}\n\n{SEP_B}\nSubject: small\n\nok\n"
        );
        let options = MboxOptions {
            max_message_bytes: 300,
            ..MboxOptions::default()
        };
        let items = read_all(input.as_bytes(), options);
        assert_eq!(items.len(), 2);
        match &items[0] {
            Err(MboxError::Oversized {
                index: 0,
                size,
                cap: 300,
                ..
            }) => {
                assert_eq!(*size, (14 + 3 * 201 + 1) as u64);
            }
            other => panic!("expected oversized, got {other:?}"),
        }
        assert_eq!(
            items[1].as_ref().expect("small").raw,
            b"Subject: small\n\nok\n"
        );
    }

    #[test]
    fn message_exactly_at_cap_is_accepted() {
        let body = "Subject: x\n\n12345\n"; // 19 bytes
        let input = format!("{SEP_A}\n{body}\n{SEP_B}\n{body}");
        let options = MboxOptions {
            max_message_bytes: body.len() as u64,
            ..MboxOptions::default()
        };
        assert_eq!(raws(input.as_bytes(), options).len(), 2);
        let options = MboxOptions {
            max_message_bytes: body.len() as u64 - 1,
            ..MboxOptions::default()
        };
        assert!(
            read_all(input.as_bytes(), options)
                .iter()
                .all(|r| matches!(r, Err(MboxError::Oversized { .. })))
        );
    }

    /// A reader that produces a long mbox on the fly and counts nothing itself; with a
    /// 1 MiB cap, a 64 MiB message with no newline at all must not be buffered.
    struct Generated {
        prefix: Vec<u8>,
        filler_left: u64,
        suffix: Vec<u8>,
        chunk: Vec<u8>,
        stage: u8,
        pos: usize,
    }

    impl io::Read for Generated {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            loop {
                let source: &[u8] = match self.stage {
                    0 => &self.prefix,
                    1 => {
                        if self.filler_left == 0 {
                            self.stage = 2;
                            self.pos = 0;
                            continue;
                        }
                        let n = buf
                            .len()
                            .min(self.chunk.len())
                            .min(self.filler_left as usize);
                        buf[..n].copy_from_slice(&self.chunk[..n]);
                        self.filler_left -= n as u64;
                        return Ok(n);
                    }
                    2 => &self.suffix,
                    _ => return Ok(0),
                };
                if self.pos >= source.len() {
                    self.stage += 1;
                    self.pos = 0;
                    continue;
                }
                let n = buf.len().min(source.len() - self.pos);
                buf[..n].copy_from_slice(&source[self.pos..self.pos + n]);
                self.pos += n;
                return Ok(n);
            }
        }
    }

    #[test]
    fn huge_line_over_cap_is_not_buffered() {
        let filler = 64 * 1024 * 1024u64;
        let source = Generated {
            prefix: format!("{SEP_A}\nSubject: huge\n\n").into_bytes(),
            filler_left: filler,
            suffix: format!("\n\n{SEP_B}\nSubject: after\n\nok\n").into_bytes(),
            chunk: vec![b'A'; 64 * 1024],
            stage: 0,
            pos: 0,
        };
        let options = MboxOptions {
            max_message_bytes: 1024 * 1024,
            ..MboxOptions::default()
        };
        let mut reader = MboxReader::new(io::BufReader::with_capacity(64 * 1024, source), options);
        let first = reader.next().expect("item");
        match first {
            Err(MboxError::Oversized { size, .. }) => assert_eq!(size, 15 + filler + 2),
            other => panic!("expected oversized, got {other:?}"),
        }
        // The reader's own buffers stayed small.
        assert!(reader.scratch.capacity() <= 2 * MAX_FROM_LINE + 8192);
        let second = reader.next().expect("item").expect("message");
        assert_eq!(second.raw, b"Subject: after\n\nok\n");
        assert!(reader.next().is_none());
    }

    #[test]
    fn buffer_capacity_stays_near_cap() {
        let line = format!("{}\n", "y".repeat(1000));
        let body: String = std::iter::repeat_n(line.as_str(), 900).collect();
        let input = format!("{SEP_A}\nSubject: x\n\n{body}");
        let cap = 1024 * 1024u64;
        let mut reader = MboxReader::new(
            Cursor::new(input.into_bytes()),
            MboxOptions {
                max_message_bytes: cap,
                ..MboxOptions::default()
            },
        );
        let message = reader.next().expect("item").expect("message");
        assert!(message.raw.capacity() as u64 <= cap + MAX_FROM_LINE as u64 + 2);
    }

    #[test]
    fn from_line_fields_and_dates() {
        let line = FromLine::new(b"From alice@example.com  Thu Jul 11 11:14:47 2013\r\n");
        assert_eq!(line.envelope_sender(), Some(&b"alice@example.com"[..]));
        assert_eq!(line.date_text(), b"Thu Jul 11 11:14:47 2013");
        assert_eq!(
            line.date().map(|d| d.to_rfc3339()),
            Some("2013-07-11T11:14:47+00:00".to_string())
        );
        let zoned = FromLine::new(b"From 1790849541457421416@xxx Fri Feb 14 11:33:32 +0100 2014");
        assert_eq!(
            zoned.date().map(|d| d.to_rfc3339()),
            Some("2014-02-14T10:33:32+00:00".to_string())
        );
        let padded = FromLine::new(b"From MAILER-DAEMON Sat Jan  3 01:05:34 1996");
        assert_eq!(
            padded.date().map(|d| d.to_rfc3339()),
            Some("1996-01-03T01:05:34+00:00".to_string())
        );
        assert_eq!(FromLine::new(b"From - nothing").date(), None);
        assert_eq!(FromLine::new(b"From ").envelope_sender(), None);
        assert_eq!(FromLine::new(b"From 99:99 Jan 1 2020").date(), None);
    }

    #[test]
    fn strip_from_line() {
        assert_eq!(
            strip_mbox_from_line(b"From a Mon\r\nSubject: x\r\n"),
            (Some(&b"From a Mon"[..]), &b"Subject: x\r\n"[..])
        );
        assert_eq!(
            strip_mbox_from_line(b"Subject: x\n"),
            (None, &b"Subject: x\n"[..])
        );
        assert_eq!(
            strip_mbox_from_line(b"From a"),
            (Some(&b"From a"[..]), &b""[..])
        );
    }

    #[test]
    fn read_error_is_fatal_with_offset() {
        struct Failing(Cursor<Vec<u8>>, bool);
        impl io::Read for Failing {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = self.0.read(buf)?;
                if n == 0 && !self.1 {
                    self.1 = true;
                    return Err(io::Error::other("disk on fire"));
                }
                Ok(n)
            }
        }
        let input = format!("{SEP_A}\nSubject: a\n\nx\n").into_bytes();
        let len = input.len() as u64;
        let reader = io::BufReader::new(Failing(Cursor::new(input), false));
        let items: Vec<_> = MboxReader::new(reader, MboxOptions::default()).collect();
        assert_eq!(items.len(), 1);
        assert!(matches!(items[0], Err(MboxError::Io { offset, .. }) if offset == len));
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        fn any_options() -> impl Strategy<Value = MboxOptions> {
            (0u8..3, 0u8..3, 1u64..512).prop_map(|(flavor, rule, cap)| MboxOptions {
                flavor: [MboxFlavor::Mboxrd, MboxFlavor::Mboxo, MboxFlavor::Raw][flavor as usize],
                separator: [
                    SeparatorRule::Strict,
                    SeparatorRule::BlankLine,
                    SeparatorRule::AnyFromLine,
                ][rule as usize],
                max_message_bytes: cap,
            })
        }

        /// Lines built from the pieces that matter to the splitter.
        fn mboxish() -> impl Strategy<Value = Vec<u8>> {
            crate::fuzz::pieces_after(
                b"",
                &[
                    b"From a@b Mon Jan  1 00:00:00 2024\n",
                    b"From x\r\n",
                    b">From y\n",
                    b">>From z\n",
                    b"\n",
                    b"\r\n",
                    b"Subject: s\n",
                ],
                40,
                40,
            )
        }

        proptest! {
            #![proptest_config(crate::fuzz::config())]

            #[test]
            fn never_panics_and_respects_cap(
                input in prop_oneof![proptest::collection::vec(any::<u8>(), 0..2048), mboxish()],
                options in any_options(),
            ) {
                let mut last_offset = None;
                let mut last_index = None;
                for item in MboxReader::new(Cursor::new(input.clone()), options) {
                    let (index, offset) = match item {
                        Ok(m) => {
                            prop_assert!(m.raw.len() as u64 <= options.max_message_bytes);
                            prop_assert!(!m.raw.is_empty());
                            prop_assert!(input[m.offset as usize..].starts_with(b"From "));
                            (m.index, m.offset)
                        }
                        Err(MboxError::Oversized { index, offset, .. })
                        | Err(MboxError::EmptyMessage { index, offset }) => (index, offset),
                        Err(_) => break,
                    };
                    prop_assert!(last_offset.is_none_or(|l| offset > l));
                    prop_assert!(last_index.is_none_or(|l| index == l + 1));
                    last_offset = Some(offset);
                    last_index = Some(index);
                }
            }

            #[test]
            fn mboxrd_write_read_round_trip(
                messages in proptest::collection::vec(
                    proptest::collection::vec(
                        prop_oneof![
                            Just(b"From me Mon Jan  1 00:00:00 2024".to_vec()),
                            Just(b">From".to_vec()),
                            Just(b">>From ".to_vec()),
                            Just(b"From ".to_vec()),
                            Just(b"\r".to_vec()),
                            Just(b"\n".to_vec()),
                            Just(b"Subject: x".to_vec()),
                            proptest::collection::vec(any::<u8>(), 0..8),
                        ],
                        1..12,
                    )
                    .prop_map(|parts| {
                        let mut raw = parts.concat();
                        if !raw.ends_with(b"\n") {
                            raw.push(b'\n');
                        }
                        raw
                    }),
                    1..6,
                )
            ) {
                let mut file = Vec::new();
                for raw in &messages {
                    write_mbox_message(&mut file, SEP_A.as_bytes(), raw, MboxFlavor::Mboxrd)
                        .expect("write to a Vec");
                }
                let got: Vec<Vec<u8>> = MboxReader::new(Cursor::new(file), MboxOptions::default())
                    .map(|r| r.expect("message").raw)
                    .collect();
                prop_assert_eq!(got, messages);
            }
        }
    }
}
