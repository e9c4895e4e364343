//! Snippets: a short window of a hit's text around the query's words, HTML-escaped,
//! with the matched words wrapped in `<b>`…`</b>`.
//!
//! Tantivy's `SnippetGenerator` only knows exact terms; this one also highlights
//! prefix matches (`budg*`) and CJK character sequences, and it uses the analyzers of
//! [`crate::analysis`] so highlighting agrees with matching. Words under a negation
//! are never highlighted. The snippet is safe to insert into HTML as is: every
//! character of the message text is escaped (`&`, `<`, `>`, `"`, `'`), and the only
//! markup is `<b>`, `</b>` and the `…` marking cut text.

use std::collections::HashSet;
use std::ops::Range;

use tantivy::tokenizer::TokenStream;

use crate::analysis;
use crate::query::{QueryAst, TextField, TextKind};

/// Longest snippet, in characters of message text.
pub const SNIPPET_CHARS: usize = 200;
/// Context shown before the first highlighted word, in bytes.
const LEAD_BYTES: usize = 40;
/// Matches examined per text (enough to choose a good window).
const MAX_MATCHES: usize = 64;
/// Bytes of text tokenized after the first match: the window is chosen among the
/// matches there (a body read back for a hit can be long, and tokenizing all of it for
/// every hit was most of a search's own CPU time).
const SCAN_BYTES: usize = 1024;
/// Bytes tokenized at a time around non-ASCII text while looking for the first match.
const PIECES_BYTES: usize = 256;
/// Bytes of text searched at a time for the first match.
const SEARCH_WINDOW_BYTES: usize = 8192;

/// The words and prefixes to highlight for one query.
pub(crate) struct Highlighter {
    /// Distinct words (a handful: a linear scan beats hashing every token).
    terms: Vec<String>,
    prefixes: Vec<String>,
    /// Whether some word may occur in the body (a clause on no field or on `body:`):
    /// only then is a body read back for a snippet.
    body_words: bool,
}

struct Match {
    start: usize,
    end: usize,
    term: usize,
}

impl Highlighter {
    /// Collects the positive text clauses that can occur in body, attachment text or
    /// subject.
    pub(crate) fn new(ast: &QueryAst) -> Highlighter {
        let mut terms: Vec<String> = Vec::new();
        let mut prefixes = Vec::new();
        let mut body_words = false;
        ast.for_each_positive_text(&mut |text| {
            if !matches!(
                text.field,
                None | Some(TextField::Subject | TextField::Body | TextField::Attachment)
            ) {
                return;
            }
            body_words |= matches!(text.field, None | Some(TextField::Body));
            let mut words = analysis::text_terms(&text.text);
            if text.kind == TextKind::Prefix
                && let Some(last) = words.pop()
            {
                prefixes.push(last);
            }
            for word in words {
                if !terms.contains(&word) {
                    terms.push(word);
                }
            }
        });
        Highlighter {
            terms,
            prefixes,
            body_words,
        }
    }

    /// Whether some word to highlight may occur in the body (not only in `subject:` or
    /// `attachment:` clauses, nor a filter-only query).
    pub(crate) fn has_body_words(&self) -> bool {
        self.body_words && !(self.terms.is_empty() && self.prefixes.is_empty())
    }

    /// The analyzed words to highlight and the prefixes (each word's last piece when
    /// it ended in `*`), as the text analyzer indexes them.
    pub(crate) fn words(&self) -> (&[String], &[String]) {
        (&self.terms, &self.prefixes)
    }

    /// A highlighted snippet of `text`, or `None` when no query word occurs in it.
    pub(crate) fn snippet(&self, text: &str) -> Option<String> {
        self.snippet_with(text, true)
    }

    /// [`Self::snippet`]; `search_first` says whether the first match is found by
    /// [`Self::first_match`] (substring search, tokenizing only around non-ASCII text)
    /// rather than by tokenizing the text from its start. Both give the same snippet.
    fn snippet_with(&self, text: &str, search_first: bool) -> Option<String> {
        if self.terms.is_empty() && self.prefixes.is_empty() {
            return None;
        }
        let mut matches = Vec::new();
        if search_first {
            let first = self.first_match(text)?;
            self.find_matches(
                text,
                first..pieces_end(text, first + SCAN_BYTES),
                &mut matches,
            );
        } else {
            self.find_matches(text, 0..text.len(), &mut matches);
        }
        let anchor = best_window(&matches)?;
        let start = window_start(text, matches[anchor].start);
        let end = window_end(text, start);
        let inside: Vec<&Match> = matches
            .iter()
            .filter(|m| m.start >= start && m.end <= end)
            .collect();
        let mut out = String::with_capacity(end - start + 32);
        if start > 0 {
            out.push('…');
        }
        let mut cursor = start;
        let mut index = 0;
        while index < inside.len() {
            let highlight_start = inside[index].start;
            let mut highlight_end = inside[index].end;
            // Merge adjacent matches (CJK characters of one word, `e-mail` pieces are
            // not adjacent) into one highlight.
            while index + 1 < inside.len() && inside[index + 1].start <= highlight_end {
                index += 1;
                highlight_end = highlight_end.max(inside[index].end);
            }
            push_escaped(&mut out, &text[cursor..highlight_start]);
            out.push_str("<b>");
            push_escaped(&mut out, &text[highlight_start..highlight_end]);
            out.push_str("</b>");
            cursor = highlight_end;
            index += 1;
        }
        push_escaped(&mut out, &text[cursor..end]);
        if end < text.len() {
            out.push('…');
        }
        Some(out)
    }

    /// The start of the first match in `text`, found without tokenizing most of it.
    ///
    /// Every ASCII byte other than a letter or digit separates tokens (see
    /// [`analysis`]), so the text is a sequence of *pieces* between such bytes, each
    /// tokenized on its own. A piece of ASCII letters and digits is one token, itself
    /// lowercased: an ASCII word matches where it occurs in the ASCII-lowercased text
    /// with a separator (or the text's edge) on both sides, a prefix where it occurs
    /// after one. Only the pieces holding non-ASCII characters (accented words,
    /// no-break spaces, CJK) are tokenized. The text is searched in windows of
    /// [`SEARCH_WINDOW_BYTES`] that end between pieces, so that a match near the start
    /// costs little in a long text.
    fn first_match(&self, text: &str) -> Option<usize> {
        let mut start = 0;
        while start < text.len() {
            let end = pieces_end(text, start + SEARCH_WINDOW_BYTES);
            if let Some(first) = self.first_match_in(text, start..end) {
                return Some(first);
            }
            start = end;
        }
        None
    }

    /// [`Self::first_match`] inside `window`, which starts and ends between pieces.
    fn first_match_in(&self, text: &str, window: Range<usize>) -> Option<usize> {
        let base = window.start;
        let lower = text[window.clone()].to_ascii_lowercase();
        let bytes = lower.as_bytes();
        let separated = |at: usize| bytes.get(at).is_none_or(|b| is_separator(*b));
        let occurrences = |needle: &str, whole: bool| {
            lower.match_indices(needle).map(|(at, _)| at).find(|&at| {
                (at == 0 || separated(at - 1)) && (!whole || separated(at + needle.len()))
            })
        };
        let words = self.terms.iter().map(|term| (term, true));
        let prefixes = self.prefixes.iter().map(|prefix| (prefix, false));
        let mut first = words
            .chain(prefixes)
            // A non-ASCII word is only ever found by tokenizing (below).
            .filter(|(needle, _)| needle.is_ascii())
            .filter_map(|(needle, whole)| occurrences(needle, whole))
            .min()
            .map(|at| base + at);

        // An ASCII window (most mail) has nothing to tokenize here.
        let mut from = if lower.is_ascii() { bytes.len() } else { 0 };
        while let Some(offset) = bytes[from..].iter().position(|b| !b.is_ascii()) {
            let non_ascii = base + from + offset;
            if first.is_some_and(|first| non_ascii >= first) {
                // Pieces before `first` are ASCII up to here: the substring search
                // covered them.
                break;
            }
            let start = bytes[..from + offset]
                .iter()
                .rposition(|b| is_separator(*b))
                .map_or(base, |at| base + at + 1);
            // A few pieces at once (text in other scripts is non-ASCII word after
            // word), never past the window: a later window may match earlier.
            let end = pieces_end(text, non_ascii + PIECES_BYTES).min(window.end);
            let mut piece = Vec::new();
            self.find_matches(text, start..end, &mut piece);
            if let Some(found) = piece.first() {
                first = Some(first.map_or(found.start, |first| first.min(found.start)));
                break;
            }
            from = end - base;
        }
        first
    }

    /// Appends the matches of the words in `region` of `text` (offsets into `text`):
    /// those up to [`SCAN_BYTES`] after the first, at most [`MAX_MATCHES`] in all.
    fn find_matches(&self, text: &str, region: Range<usize>, matches: &mut Vec<Match>) {
        let start = region.start;
        let mut analyzer = analysis::text_analyzer();
        let mut stream = analyzer.token_stream(&text[region]);
        let mut ids: Vec<String> = Vec::new();
        while matches.len() < MAX_MATCHES && stream.advance() {
            let token = stream.token();
            if matches
                .first()
                .is_some_and(|first| start + token.offset_from > first.start + SCAN_BYTES)
            {
                break;
            }
            let hit = self.terms.contains(&token.text)
                || self
                    .prefixes
                    .iter()
                    .any(|p| token.text.starts_with(p.as_str()));
            if !hit {
                continue;
            }
            let term = match ids.iter().position(|t| *t == token.text) {
                Some(id) => id,
                None => {
                    ids.push(token.text.clone());
                    ids.len() - 1
                }
            };
            matches.push(Match {
                start: start + token.offset_from,
                end: start + token.offset_to,
                term,
            });
        }
    }
}

/// Whether `byte` always separates tokens: an ASCII byte that is not a letter or digit.
fn is_separator(byte: u8) -> bool {
    byte.is_ascii() && !byte.is_ascii_alphanumeric()
}

/// The end of the piece of `text` (see [`Highlighter::first_match`]) around byte `at`:
/// the next separator at or after it, or the end of the text. Always a character
/// boundary.
fn pieces_end(text: &str, at: usize) -> usize {
    let bytes = text.as_bytes();
    let at = at.min(bytes.len());
    bytes[at..]
        .iter()
        .position(|b| is_separator(*b))
        .map_or(bytes.len(), |offset| at + offset)
}

/// The index of the match that starts the best window: most distinct terms, then most
/// matches, then earliest.
fn best_window(matches: &[Match]) -> Option<usize> {
    // Matches that fit in one window after the lead-in of `window_start`.
    let reach = SNIPPET_CHARS - LEAD_BYTES;
    let mut best: Option<(usize, usize, usize)> = None;
    for (anchor, first) in matches.iter().enumerate() {
        let mut distinct = HashSet::new();
        let mut count = 0;
        for m in matches[anchor..]
            .iter()
            .take_while(|m| m.end - first.start <= reach)
        {
            distinct.insert(m.term);
            count += 1;
        }
        let candidate = (distinct.len(), count, anchor);
        let better = match best {
            None => true,
            Some((d, c, _)) => (candidate.0, candidate.1) > (d, c),
        };
        if better {
            best = Some(candidate);
        }
    }
    best.map(|(_, _, anchor)| anchor)
}

/// Starts a little before the first match, at a word boundary.
fn window_start(text: &str, match_start: usize) -> usize {
    if match_start <= LEAD_BYTES {
        return 0;
    }
    let mut start = match_start - LEAD_BYTES;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    // Just after the first whitespace character, which may be wider than a byte
    // (no-break space, ideographic space).
    match text[start..match_start]
        .char_indices()
        .find(|(_, c)| c.is_whitespace())
    {
        Some((space, c)) => start + space + c.len_utf8(),
        None => start,
    }
}

/// Ends [`SNIPPET_CHARS`] characters later, preferably at a word boundary.
fn window_end(text: &str, start: usize) -> usize {
    let rest = &text[start..];
    let Some((cut, _)) = rest.char_indices().nth(SNIPPET_CHARS) else {
        return text.len();
    };
    match rest[..cut].rfind(char::is_whitespace) {
        Some(space) if space > cut / 2 => start + space,
        _ => start + cut,
    }
}

/// A plain (unhighlighted) snippet: the start of `text`, escaped.
pub(crate) fn plain(text: &str) -> String {
    let trimmed = text.trim_start();
    let end = window_end(trimmed, 0);
    let mut out = String::new();
    push_escaped(&mut out, &trimmed[..end]);
    if end < trimmed.len() {
        out.push('…');
    }
    out
}

/// Appends `text` HTML-escaped, with runs of whitespace collapsed to one space.
fn push_escaped(out: &mut String, text: &str) {
    let mut in_space = false;
    for c in text.chars() {
        if c.is_whitespace() {
            if !in_space {
                out.push(' ');
            }
            in_space = true;
            continue;
        }
        in_space = false;
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::parse_query;

    fn snippet(query: &str, text: &str) -> Option<String> {
        Highlighter::new(&parse_query(query).expect("parses")).snippet(text)
    }

    #[test]
    fn highlights_words_prefixes_and_cjk() {
        assert_eq!(
            snippet("budget", "The Budget <draft> & the budget.").as_deref(),
            Some("The <b>Budget</b> &lt;draft&gt; &amp; the <b>budget</b>.")
        );
        assert_eq!(
            snippet("budg*", "a budgetary note").as_deref(),
            Some("a <b>budgetary</b> note")
        );
        assert_eq!(
            snippet("東京", "我们在東京开会").as_deref(),
            Some("我们在<b>東京</b>开会")
        );
        assert_eq!(
            snippet("cafe", "Un café noir").as_deref(),
            Some("Un <b>café</b> noir")
        );
        assert_eq!(snippet("budget -draft", "draft only"), None);
        assert_eq!(snippet("from:alice", "alice wrote"), None);
    }

    #[test]
    fn long_texts_are_cut_around_the_match() {
        let text = format!(
            "{} needle {}",
            "lorem ipsum ".repeat(100),
            "dolor sit ".repeat(100)
        );
        let result = snippet("needle", &text).expect("matches");
        assert!(result.starts_with('…') && result.ends_with('…'), "{result}");
        assert!(result.contains("<b>needle</b>"));
        assert!(result.chars().count() < SNIPPET_CHARS + 20);
    }

    #[test]
    fn a_word_deep_in_a_long_text_is_found_and_a_false_lead_is_skipped() {
        // "budgetary" contains "budget" early; the word itself comes 10 KB later.
        let text = format!(
            "budgetary {} the budget {}",
            "filler words ".repeat(800),
            "tail ".repeat(50)
        );
        let result = snippet("budget", &text).expect("matches");
        assert!(result.contains("the <b>budget</b>"), "{result}");
        assert!(!result.contains("<b>budgetary</b>"), "{result}");
        assert_eq!(snippet("budgets", &text), None);
        // A prefix matches the early word, inside the scanned region.
        let result = snippet("budg*", &text).expect("matches");
        assert!(result.starts_with("<b>budgetary</b>"), "{result}");
    }

    #[test]
    fn wide_whitespace_before_a_match_is_no_cut_point_inside_a_character() {
        // Found in real mail: a no-break space in the lead-in of a match.
        let text = format!("{}\u{a0}\u{3000}printer toner cartridges", "x".repeat(30));
        let result = snippet("cartridges", &text).expect("matches");
        assert!(result.contains("<b>cartridges</b>"), "{result}");
    }

    proptest::proptest! {
        // Failures are turned into named regression tests, not persisted files.
        #![proptest_config(proptest::prelude::ProptestConfig {
            failure_persistence: None,
            ..proptest::prelude::ProptestConfig::default()
        })]

        #[test]
        fn any_text_gets_a_snippet_without_panicking(
            text in "([a-z ]|\\PC){0,400}",
            word in "[a-z]{2,3}",
        ) {
            let highlighter = Highlighter::new(&parse_query(&word).expect("parses"));
            if let Some(result) = highlighter.snippet(&text) {
                proptest::prop_assert!(result.contains("<b>"));
            }
            let prefix = Highlighter::new(&parse_query(&format!("{word}*")).expect("parses"));
            let _ = prefix.snippet(&text);
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            failure_persistence: None,
            cases: 512,
            ..proptest::prelude::ProptestConfig::default()
        })]

        /// Finding the first match by substring search gives the snippet that
        /// tokenizing the whole text gives: words of a two-letter alphabet make matches,
        /// near misses inside longer words and texts longer than the scanned region
        /// frequent; accents, combining marks, ligatures, full-width and CJK letters, a
        /// no-break space and a curly apostrophe stand for non-ASCII text.
        #[test]
        fn searching_the_first_match_gives_the_tokenized_snippet(
            text in "([abAB1]{1,5}[ .,'-]{1,2}|[abáÁ\u{301}ßﬁａＢ東\u{a0}’]{1,4}[ .]?){0,700}",
            words in proptest::collection::vec("[ab1]{1,3}", 1..3),
            prefix in proptest::bool::ANY,
        ) {
            let query = if prefix {
                // A prefix needs two characters.
                format!("{}a* OR {}", words[0], words.join(" OR "))
            } else {
                words.join(" OR ")
            };
            let highlighter = Highlighter::new(&parse_query(&query).expect("parses"));
            proptest::prop_assert_eq!(
                highlighter.snippet_with(&text, true),
                highlighter.snippet_with(&text, false),
                "query {}", query
            );
        }
    }

    #[test]
    fn plain_snippets_are_escaped_and_bounded() {
        assert_eq!(plain("  a <b>\n\n c"), "a &lt;b&gt; c");
        let long = "word ".repeat(200);
        assert!(plain(&long).ends_with('…'));
    }
}
