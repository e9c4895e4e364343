//! The DATA phase: end-of-data detection and dot-unstuffing (RFC 5321 §4.5.2), with a
//! hard memory bound.
//!
//! # Line endings in DATA (decision)
//!
//! A line *starts* at the beginning of the message content or right after `CRLF`, and
//! nowhere else. Consequently:
//!
//! - the end of data is `CRLF . CRLF`, or `. CRLF` as the very first line (an empty
//!   message); `LF . LF`, `LF . CRLF` and `CRLF . LF` are **not** terminators and are
//!   kept as content. This is what Postfix (`smtpd_forbid_bare_newline = normalize`) and
//!   smtp-proto's own `DataReceiver` do; accepting a bare-LF terminator would make Coffer
//!   disagree with the sending MTA about where a message ends (SMTP smuggling);
//! - a leading `.` is removed (un-stuffed) only at a line start as defined above;
//! - bare `LF` and bare `CR` inside content are kept byte for byte: the archive stores
//!   the content as received, without normalising line endings.
//!
//! A client that ends DATA with a bare `LF . LF` therefore never ends its message; it
//! meets the data timeout (`421 4.4.2`), as it would with Postfix.
//!
//! smtp-proto's `DataReceiver` is not used because it does not recognise a `.` on the
//! very first line (`DATA` directly followed by `. CRLF` or `..x`), and because the size
//! limit and the memory budget have to be enforced while scanning, not after.

use crate::budget::{BufferFull, MessageBuffer, Reservation};

/// Where the scanner is relative to line structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scan {
    /// At the start of a line (start of content, or just after `CRLF`).
    LineStart,
    /// Saw `.` at a line start; it has not been emitted.
    Dot,
    /// Saw `.` `CR` at a line start; neither has been emitted.
    DotCr,
    /// Inside a line.
    Mid,
    /// Inside a line, the last byte was `CR` (emitted).
    MidCr,
}

/// Receives message content after `354`, un-stuffing dots and finding the end of data.
///
/// The content goes into a [`MessageBuffer`]: past the message size limit or the memory
/// budget it is dropped and only counted ([`DataReceiver::refused`] says which), so
/// memory never exceeds the limit, nor what the budget granted.
#[derive(Debug)]
pub(crate) struct DataReceiver {
    scan: Scan,
    buffer: MessageBuffer,
}

impl DataReceiver {
    /// A receiver keeping the content in `buffer`.
    pub(crate) fn new(buffer: MessageBuffer) -> Self {
        Self {
            scan: Scan::LineStart,
            buffer,
        }
    }

    /// Feeds bytes; returns how many were consumed and whether the end of data was
    /// reached. Bytes after the terminator are not consumed.
    pub(crate) fn ingest(&mut self, bytes: &[u8]) -> (usize, bool) {
        let mut pos = 0;
        while pos < bytes.len() {
            if self.scan == Scan::Mid {
                // Fast path: copy up to the next CR in one go.
                let rest = &bytes[pos..];
                match memchr::memchr(b'\r', rest) {
                    Some(offset) => {
                        self.emit(&rest[..=offset]);
                        self.scan = Scan::MidCr;
                        pos += offset + 1;
                    }
                    None => {
                        self.emit(rest);
                        pos = bytes.len();
                    }
                }
                continue;
            }
            let byte = bytes[pos];
            pos += 1;
            match (self.scan, byte) {
                (Scan::LineStart, b'.') => self.scan = Scan::Dot,
                (Scan::Dot, b'\r') => self.scan = Scan::DotCr,
                (Scan::DotCr, b'\n') => {
                    self.scan = Scan::LineStart;
                    return (pos, true);
                }
                (Scan::DotCr, other) => {
                    // ". CR x": the dot was stuffing; the CR is content.
                    self.emit(b"\r");
                    self.scan = Scan::MidCr;
                    self.after_cr(other);
                }
                (Scan::LineStart | Scan::Dot | Scan::Mid, other) => {
                    // In `Dot`, the dot is dropped: a line with more than a lone dot was
                    // stuffed by the client.
                    self.emit(&[other]);
                    self.scan = if other == b'\r' {
                        Scan::MidCr
                    } else {
                        Scan::Mid
                    };
                }
                (Scan::MidCr, other) => self.after_cr(other),
            }
        }
        (pos, false)
    }

    /// Handles `byte` following an emitted CR inside a line.
    fn after_cr(&mut self, byte: u8) {
        self.emit(&[byte]);
        self.scan = match byte {
            b'\n' => Scan::LineStart,
            b'\r' => Scan::MidCr,
            _ => Scan::Mid,
        };
    }

    fn emit(&mut self, bytes: &[u8]) {
        // A refusal is kept by the buffer and read at the end of data.
        let _ = self.buffer.push(bytes);
    }

    /// Why the content was not kept (too large, or over the memory budget), if so.
    pub(crate) fn refused(&self) -> Option<BufferFull> {
        self.buffer.refused()
    }

    /// Un-stuffed bytes received so far, kept or not.
    #[cfg(test)]
    pub(crate) fn received(&self) -> u64 {
        self.buffer.received()
    }

    /// Bytes held in memory.
    pub(crate) fn held(&self) -> usize {
        self.buffer.held()
    }

    /// The content received (empty when refused) and the memory reservation covering it.
    pub(crate) fn into_data(self) -> (Vec<u8>, Reservation) {
        self.buffer.into_parts()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::DataReceiver;
    use crate::budget::{BufferFull, MemoryBudget, MessageBuffer};

    fn receiver(limit: u64, budget: &MemoryBudget) -> DataReceiver {
        DataReceiver::new(MessageBuffer::new(budget, limit, 0).unwrap())
    }

    fn run(chunks: &[&[u8]]) -> Option<(Vec<u8>, usize)> {
        let mut receiver = receiver(1 << 20, &MemoryBudget::unlimited());
        for (index, chunk) in chunks.iter().enumerate() {
            let (used, done) = receiver.ingest(chunk);
            if done {
                let leftover =
                    chunk.len() - used + chunks[index + 1..].iter().map(|c| c.len()).sum::<usize>();
                return Some((receiver.into_data().0, leftover));
            }
            assert_eq!(used, chunk.len());
        }
        None
    }

    #[test]
    fn unstuffs_and_terminates() {
        let (data, leftover) = run(&[b"a\r\n..b\r\n...\r\n..\r\n.\r\nQUIT\r\n"]).unwrap();
        assert_eq!(data, b"a\r\n.b\r\n..\r\n.\r\n");
        assert_eq!(leftover, 6);
    }

    #[test]
    fn empty_message_and_leading_dot() {
        assert_eq!(run(&[b".\r\n"]).unwrap().0, b"");
        assert_eq!(run(&[b"..x\r\n.\r\n"]).unwrap().0, b".x\r\n");
    }

    #[test]
    fn bare_lf_terminators_are_content() {
        let input: &[u8] = b"a\n.\nb\n.\r\nc\r\n.\nd\r\n.\r\n";
        let (data, _) = run(&[input]).unwrap();
        assert_eq!(data, b"a\n.\nb\n.\r\nc\r\n\nd\r\n");
    }

    #[test]
    fn dot_cr_not_followed_by_lf_is_content() {
        let (data, _) = run(&[b"x\r\n.\ry\r\n.\r\r\n.\r\n"]).unwrap();
        assert_eq!(data, b"x\r\n\ry\r\n\r\r\n");
    }

    #[test]
    fn limit_discards_and_counts() {
        let mut receiver = receiver(10, &MemoryBudget::unlimited());
        let (_, done) = receiver.ingest(b"0123456789abcdef\r\n");
        assert!(!done);
        assert_eq!(receiver.refused(), Some(BufferFull::TooLarge));
        assert_eq!(receiver.held(), 0);
        let (_, done) = receiver.ingest(b".\r\n");
        assert!(done);
        assert_eq!(receiver.received(), 18);
    }

    #[test]
    fn memory_budget_discards_and_counts() {
        let budget = MemoryBudget::new(8);
        let mut receiver = receiver(1 << 20, &budget);
        let (_, done) = receiver.ingest(b"0123456789abcdef\r\n");
        assert!(!done);
        assert_eq!(receiver.refused(), Some(BufferFull::OverBudget));
        assert_eq!((receiver.held(), budget.in_use()), (0, 0));
        let (_, done) = receiver.ingest(b".\r\n");
        assert!(done);
        assert_eq!(receiver.received(), 18);
    }
}
