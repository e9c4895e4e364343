//! The bounded text accumulator every extractor writes into: it enforces the
//! per-attachment character limit, drops control characters and keeps separators tidy.

/// Collects extracted text up to a number of characters.
#[derive(Debug)]
pub(super) struct TextSink {
    text: String,
    chars: usize,
    max_chars: usize,
    /// The character limit was hit.
    truncated: bool,
    /// Some text was dropped for another reason (see [`TextSink::mark_truncated`]).
    dropped: bool,
}

impl TextSink {
    pub(super) fn new(max_chars: usize) -> TextSink {
        TextSink {
            text: String::new(),
            chars: 0,
            max_chars,
            truncated: false,
            dropped: false,
        }
    }

    /// Whether the limit is reached: extractors stop reading when it is.
    pub(super) fn is_full(&self) -> bool {
        self.truncated || self.chars >= self.max_chars
    }

    /// Appends text. Carriage returns are dropped, other control characters (except tab
    /// and newline) become spaces. Returns false once the limit is reached.
    pub(super) fn push(&mut self, s: &str) -> bool {
        let mut rest = s;
        while !rest.is_empty() {
            // Runs of printable ASCII, tab and newline (one character per byte, kept as
            // they are) are copied whole: most extracted text is such runs.
            let run = rest
                .bytes()
                .position(|b| !matches!(b, b'\t' | b'\n' | 0x20..=0x7e))
                .unwrap_or(rest.len());
            if run > 0 {
                let take = run.min(self.max_chars.saturating_sub(self.chars));
                self.text.push_str(&rest[..take]);
                self.chars += take;
                if take < run {
                    self.truncated = true;
                    return false;
                }
                rest = &rest[run..];
                continue;
            }
            let Some(c) = rest.chars().next() else {
                break;
            };
            rest = &rest[c.len_utf8()..];
            let c = match c {
                '\r' => continue,
                c if c.is_control() => ' ',
                c => c,
            };
            if !self.push_char(c) {
                return false;
            }
        }
        true
    }

    /// Ends the current line, unless the text is empty or already ends a line.
    pub(super) fn newline(&mut self) {
        if !self.text.is_empty() && !self.text.ends_with('\n') {
            self.push_char('\n');
        }
    }

    /// Separates two words or cells, unless the text already ends with whitespace.
    pub(super) fn separator(&mut self, c: char) {
        if !self.text.is_empty() && !self.text.ends_with(char::is_whitespace) {
            self.push_char(c);
        }
    }

    /// Ends a table cell: a tab, replacing the newline its last paragraph left, so that a
    /// row stays on one line.
    pub(super) fn end_cell(&mut self) {
        if self.text.ends_with('\n') {
            self.text.pop();
            self.text.push('\t');
        } else {
            self.separator('\t');
        }
    }

    fn push_char(&mut self, c: char) -> bool {
        if self.chars >= self.max_chars {
            self.truncated = true;
            return false;
        }
        self.text.push(c);
        self.chars += 1;
        true
    }

    /// Records that some text was dropped for a reason other than the sink's own limit.
    pub(super) fn mark_truncated(&mut self) {
        self.dropped = true;
    }

    /// Whether text was dropped because of the limit.
    pub(super) fn truncated(&self) -> bool {
        self.truncated || self.dropped
    }

    /// Characters so far.
    pub(super) fn chars(&self) -> usize {
        self.chars
    }

    /// The text, with trailing whitespace removed.
    pub(super) fn into_text(self) -> String {
        let mut text = self.text;
        let trimmed_len = text.trim_end().len();
        text.truncate(trimmed_len);
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncates_at_the_limit_and_says_so() {
        let mut sink = TextSink::new(5);
        assert!(sink.push("abc"));
        assert!(!sink.push("défg"));
        assert!(sink.is_full());
        assert!(sink.truncated());
        assert_eq!(sink.into_text(), "abcdé");
    }

    /// The sink as first written, one character at a time: the oracle for the bulk path.
    fn reference(max_chars: usize, pieces: &[String]) -> (String, bool) {
        let mut text = String::new();
        let mut chars = 0;
        let mut truncated = false;
        'pieces: for piece in pieces {
            for c in piece.chars() {
                let c = match c {
                    '\r' => continue,
                    '\t' | '\n' => c,
                    c if c.is_control() => ' ',
                    c => c,
                };
                if chars >= max_chars {
                    truncated = true;
                    break 'pieces;
                }
                text.push(c);
                chars += 1;
            }
        }
        (text, truncated)
    }

    proptest::proptest! {
        // Failures are turned into named regression tests, not persisted files.
        #![proptest_config(proptest::prelude::ProptestConfig {
            failure_persistence: None,
            ..proptest::prelude::ProptestConfig::default()
        })]

        #[test]
        fn bulk_copying_agrees_with_the_reference(
            max_chars in 0usize..40,
            pieces in proptest::collection::vec("[a-z \t\r\n\u{0}\u{7f}\u{85}é東]{0,15}", 0..5),
        ) {
            let mut sink = TextSink::new(max_chars);
            for piece in &pieces {
                if !sink.push(piece) {
                    break;
                }
            }
            let truncated = sink.truncated();
            let chars = sink.chars();
            let text = sink.text.clone();
            let (expected, expected_truncated) = reference(max_chars, &pieces);
            proptest::prop_assert_eq!(&text, &expected);
            proptest::prop_assert_eq!(chars, expected.chars().count());
            proptest::prop_assert_eq!(truncated, expected_truncated);
        }
    }

    #[test]
    fn exact_fit_is_not_truncation() {
        let mut sink = TextSink::new(3);
        assert!(sink.push("abc"));
        assert!(sink.is_full());
        assert!(!sink.truncated());
    }

    #[test]
    fn drops_control_characters() {
        let mut sink = TextSink::new(100);
        sink.push("a\r\nb\u{0}c\u{7}d\te");
        assert_eq!(sink.into_text(), "a\nb c d\te");
    }

    #[test]
    fn separators_do_not_pile_up() {
        let mut sink = TextSink::new(100);
        sink.newline();
        sink.push("a");
        sink.newline();
        sink.newline();
        sink.separator(' ');
        sink.push("b");
        sink.separator('\t');
        sink.separator('\t');
        assert_eq!(sink.into_text(), "a\nb");
    }
}
