//! HTML to plain text, for HTML attachments and for `text/html` message bodies.
//!
//! `html2text` (an HTML5 parser plus a renderer that keeps paragraphs, lists and tables
//! readable) does the work for ordinary documents. Its renderer recurses over the
//! element tree and it builds the whole tree in memory, so documents that nest deeper
//! than [`MAX_TREE_DEPTH`] or are larger than [`MAX_TREE_BYTES`] go to `mail-parser`'s
//! streaming tag stripper instead, which has no tree and no recursion. Nothing is ever
//! fetched: images, styles and links are not followed.

use std::collections::HashSet;
use std::panic::{self, AssertUnwindSafe};

use super::Ctx;
use super::detect::Hint;
use super::text;

/// Deepest element nesting given to `html2text`. Measured: 1,024 levels of nested
/// tables or lists render on a 2 MiB thread stack (the smallest that callers such as
/// tokio's blocking pool use) in a debug build; this keeps a 4× margin.
const MAX_TREE_DEPTH: usize = 256;

/// Largest document given to `html2text`, whose tree takes several times the input.
const MAX_TREE_BYTES: usize = 4 * 1024 * 1024;

/// Line width for `html2text`: wide enough that it does not wrap paragraphs.
const RENDER_WIDTH: usize = 400;

/// Converts HTML to plain text: block elements become lines, tags, scripts, styles and
/// comments disappear, entities are decoded. Never fails and never panics; works
/// without a network and on any input.
pub fn html_to_text(html: &str) -> String {
    let text = if html.len() <= MAX_TREE_BYTES && nesting_depth(html.as_bytes()) <= MAX_TREE_DEPTH {
        panic::catch_unwind(AssertUnwindSafe(|| {
            html2text::config::plain_no_decorate()
                .string_from_read(html.as_bytes(), RENDER_WIDTH)
                .ok()
        }))
        .ok()
        .flatten()
    } else {
        None
    };
    let stripped = mail_parser::decoders::html::html_to_text(html);
    match text {
        Some(rendered) => with_missing_words(tidy(&rendered), &stripped),
        None => tidy(&stripped),
    }
}

/// The text of HTML by `mail-parser`'s streaming tag stripper alone: every word it finds
/// is a word [`html_to_text`] keeps (which appends the stripper's words its rendering
/// lacks), at a small fraction of the cost (no tree, no layout; words in adjacent table
/// cells may come out glued). For a search snippet read back from a volume, where
/// rendering a large HTML body took most of a millisecond.
pub fn html_to_snippet_text(html: &str) -> String {
    tidy(&mail_parser::decoders::html::html_to_text(html))
}

/// The words of `text` as [`with_missing_words`] counts them: runs of alphanumeric
/// characters.
fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
}

/// The words of `text` (compared lowercased, as [`html_to_text`] compares them when it
/// keeps the words its rendering lacks) that `held` does not have, in order. Empty for
/// the [`html_to_snippet_text`] of any HTML against its [`html_to_text`]: what tests and
/// the fuzz harness check of a snippet read back.
pub fn words_missing_from(text: &str, held: &str) -> Vec<String> {
    let held: HashSet<String> = words(held).map(str::to_lowercase).collect();
    words(text)
        .map(str::to_lowercase)
        .filter(|w| !held.contains(w))
        .collect()
}

/// `html2text` occasionally renders less than a document holds (seen in real mail: a
/// form inside nested tables, after which nothing was rendered, and so nothing was
/// searchable). The words that `mail-parser`'s streaming tag stripper finds but the
/// rendering lacks are appended on a last line, so every word of the document can be
/// found. (The stripper alone is no substitute: it glues words across tags, as in
/// `<td>a</td><td>b</td>`, and keeps no layout for snippets.)
fn with_missing_words(mut rendered: String, stripped: &str) -> String {
    let present: HashSet<String> = words(&rendered).map(str::to_lowercase).collect();
    let mut added: HashSet<String> = HashSet::new();
    let mut missing = String::new();
    for word in words(stripped) {
        let lower = word.to_lowercase();
        if !present.contains(&lower) && added.insert(lower) {
            missing.push(' ');
            missing.push_str(word);
        }
    }
    if !missing.is_empty() {
        rendered.push('\n');
        rendered.push_str(missing.trim_start());
    }
    rendered
}

/// Extracts an HTML attachment: rendered by `html2text`, or, while too many extraction
/// threads are abandoned (`html2text` cannot be interrupted; see `run`), by the
/// streaming stripper alone.
pub(super) fn extract(ctx: &mut Ctx, hint: &Hint, data: &[u8]) {
    let decoded = text::decode(data, hint.charset.as_deref());
    let text = if super::run::uninterruptible_allowed(&ctx.limits) {
        html_to_text(&decoded)
    } else {
        tidy(&mail_parser::decoders::html::html_to_text(&decoded))
    };
    ctx.sink.push(&text);
    ctx.sink.newline();
}

/// Removes trailing spaces on each line and runs of blank lines.
fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank_lines = 0;
    for line in text.lines() {
        let line = line.trim_end();
        if line.is_empty() {
            blank_lines += 1;
            if blank_lines > 1 || out.is_empty() {
                continue;
            }
        } else {
            blank_lines = 0;
        }
        out.push_str(line);
        out.push('\n');
    }
    let trimmed_len = out.trim_end().len();
    out.truncate(trimmed_len);
    out
}

/// An upper estimate of how deeply elements nest: every start tag that is not void
/// or self-closing opens a level, every end tag closes one. Tags that HTML closes
/// implicitly make the estimate larger than the real depth, never smaller.
fn nesting_depth(html: &[u8]) -> usize {
    const VOID: &[&[u8]] = &[
        b"area", b"base", b"br", b"col", b"embed", b"hr", b"img", b"input", b"link", b"meta",
        b"source", b"track", b"wbr", b"param", b"keygen",
    ];
    let mut depth = 0usize;
    let mut max_depth = 0usize;
    let mut pos = 0;
    while let Some(offset) = html[pos..].iter().position(|&b| b == b'<') {
        let tag_start = pos + offset + 1;
        let closing = html.get(tag_start) == Some(&b'/');
        let name_start = tag_start + usize::from(closing);
        let name_len = html[name_start..]
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric())
            .count();
        let tag_end = html[name_start..]
            .iter()
            .position(|&b| b == b'>')
            .map_or(html.len(), |end| name_start + end);
        pos = tag_end.min(html.len());
        if name_len == 0 {
            continue;
        }
        let name = html[name_start..name_start + name_len].to_ascii_lowercase();
        if closing {
            depth = depth.saturating_sub(1);
        } else if !VOID.contains(&name.as_slice())
            && html.get(tag_end.wrapping_sub(1)) != Some(&b'/')
        {
            depth += 1;
            max_depth = max_depth.max(depth);
        }
    }
    max_depth
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_the_rendering_lost_are_appended_once() {
        let text = with_missing_words(
            "Offer\nClick here".into(),
            "Offer Click here Please reply just once, please",
        );
        assert_eq!(text, "Offer\nClick here\nPlease reply just once");
        assert_eq!(
            with_missing_words("All here".into(), "all HERE"),
            "All here"
        );
    }

    #[test]
    fn text_after_the_end_of_the_document_is_kept() {
        // Seen in real mail: list footers and a second document after `</html>`;
        // browsers show that text.
        let text = html_to_text(
            "<html><body><p>Offer</p></body></html>\n\n<title>T2</title><body>Second</body>\n\
             </html>\nhttp://xent.com/mailman/listinfo/fork\n",
        );
        assert!(text.contains("Offer"), "{text}");
        assert!(text.contains("Second"), "{text}");
        assert!(text.contains("listinfo"), "{text}");
    }

    #[test]
    fn converts_blocks_entities_and_drops_scripts() {
        let html = "<html><head><title>T</title><style>p{color:red}</style>\
                    <script>alert('x')</script></head><body><h1>Quarterly&nbsp;report</h1>\
                    <p>Revenue &amp; costs &#233;t&eacute;</p><ul><li>alpha</li><li>beta</li></ul>\
                    <table><tr><td>cell1</td><td>cell2</td></tr></table><!-- hidden --></body></html>";
        let text = html_to_text(html);
        assert!(text.contains("Quarterly\u{a0}report") || text.contains("Quarterly report"));
        assert!(text.contains("Revenue & costs été"));
        assert!(text.contains("alpha") && text.contains("beta"));
        assert!(text.contains("cell1") && text.contains("cell2"));
        assert!(!text.contains("alert") && !text.contains("color") && !text.contains("hidden"));
    }

    #[test]
    fn deep_nesting_uses_the_streaming_stripper() {
        let depth = 200_000;
        let html = format!(
            "{}deep words{}",
            "<div>".repeat(depth),
            "</div>".repeat(depth)
        );
        assert!(nesting_depth(html.as_bytes()) > MAX_TREE_DEPTH);
        // Run on a thread with a 2 MiB stack, like tokio's blocking pool.
        let text = std::thread::Builder::new()
            .stack_size(2 * 1024 * 1024)
            .spawn(move || html_to_text(&html))
            .expect("spawn")
            .join()
            .expect("no stack overflow");
        assert!(text.contains("deep words"));
    }

    #[test]
    fn depth_limit_is_safe_for_html2text_on_a_small_stack() {
        let depth = MAX_TREE_DEPTH;
        let html = format!(
            "{}<table><tr><td>edge case</td></tr></table>{}",
            "<div><ul><li>".repeat(depth / 3 - 2),
            "</li></ul></div>".repeat(depth / 3 - 2)
        );
        assert!(nesting_depth(html.as_bytes()) <= MAX_TREE_DEPTH);
        let text = std::thread::Builder::new()
            .stack_size(2 * 1024 * 1024)
            .spawn(move || html_to_text(&html))
            .expect("spawn")
            .join()
            .expect("no stack overflow");
        assert!(text.contains("edge case"));
    }

    #[test]
    fn garbage_and_edge_cases() {
        assert_eq!(html_to_text(""), "");
        assert_eq!(html_to_text("<"), "<");
        assert!(html_to_text("<<<>>>&&&;;; plain").contains("plain"));
        assert!(html_to_text("<p>unclosed <b>bold <i>it").contains("unclosed bold it"));
        assert_eq!(nesting_depth(b"<br><img src=x><p/>text<div></div>"), 1);
    }
}
