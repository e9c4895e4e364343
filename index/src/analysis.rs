//! How text and addresses become index terms. The same analyzers run at indexing time,
//! at query time and for highlighting, so what a user types matches what was indexed.
//!
//! - **Text** (`coffer_text`: subject, body, attachment text, file names, display
//!   names): words are runs of letters and digits (combining marks stay inside a
//!   word). Each word is normalized: Unicode compatibility decomposition (NFKD, so
//!   `ﬁ` → `fi`, full-width `Ｅｘｃｅｌ` → `excel`, Arabic presentation forms → letters),
//!   Latin/Greek/Cyrillic diacritics, Hebrew points and Arabic harakat and tatweel
//!   removed, recomposition (NFC, so Japanese voiced kana survive), lowercase, then
//!   ASCII folding (`ß` → `ss`, `ø` → `o`). `café`, `CAFÉ`, `cafe\u{301}` and `cafe`
//!   are one term; `مُحَمَّد` and `محمد` are one term.
//! - **CJK** (Han, kana, Hangul) has no spaces between words, so each CJK character is
//!   its own token, with consecutive positions; a CJK word in a query becomes a phrase
//!   of its characters and matches wherever that character sequence occurs (`東京`
//!   finds `東京都`). This is exact substring matching over CJK runs: no dictionary,
//!   no missed words, at the cost of occasionally matching across a word boundary.
//!   Scripts written without spaces that are not CJK (Thai, Lao, Khmer, Myanmar) are
//!   indexed as whole runs and match only whole runs; a word segmenter is future work.
//! - **Addresses** (`coffer_address`: from, to, cc, bcc, participant, envelope): a
//!   value such as `Alice Smith <alice.smith+x@mail.example.com>` yields the name words
//!   (`alice`, `smith`, as text) and, all at one position, the whole address, the local
//!   part (`alice.smith+x`), the local part without a `+tag` (`alice.smith`), the local
//!   part's pieces split at `.`, `_`, `-`, `+` (`alice`, `smith`, `x`), the domain,
//!   every parent domain (`mail.example.com`, `example.com`, `com`) and every domain
//!   label (`mail`, `example`), so `from:example` finds `example.com` senders. At query time an
//!   address-like value (`alice@example.com`, `example.com`, `alice.smith`) stays one
//!   term; other values are analyzed as text, so `from:"alice smith"` is a name phrase.
//! - **Raw** (`coffer_raw`: mailbox, mailbox domain, Message-ID, flags): the whole
//!   value, trimmed and lowercased.
//!
//! - **Common grams** (`coffer_text_grams`: subject and body): besides
//!   every word, each pair of adjacent very frequent words (a fixed list of function
//!   words in several languages and frequent CJK characters and kana, see
//!   [`COMMON_WORDS`]) is indexed as one extra term `"w1 w2"` at the first word's
//!   position. A phrase then uses the gram wherever two common words are adjacent, so
//!   `"of the"` or `"will be sent"` costs a term lookup instead of intersecting two
//!   position lists that cover most of the corpus. Matching is unchanged (a gram
//!   exists exactly where its words are adjacent in one field value); the index grows
//!   by about 5%. Highlighting and plain words ignore grams. Attachment text has no
//!   grams: it is most of the indexed words of an archive (on the benchmark corpus,
//!   twelve times the body text), grams there cost about a tenth of indexing time, and a
//!   phrase of common words inside attachments is still exact, only slower.
//!
//! Indexed words longer than [`MAX_WORD_BYTES`] (base64 debris, hashes) are dropped;
//! a query word that long is rejected rather than silently matching nothing.

use std::sync::OnceLock;

use tantivy::tokenizer::{
    AsciiFoldingFilter, LowerCaser, RawTokenizer, RemoveLongFilter, TextAnalyzer, Token,
    TokenFilter, TokenStream, Tokenizer, TokenizerManager,
};
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Name of the text analyzer.
pub(crate) const TEXT: &str = "coffer_text";
/// Name of the text analyzer that also indexes common grams (subject and body).
pub(crate) const TEXT_GRAMS: &str = "coffer_text_grams";
/// Name of the index-time address analyzer.
pub(crate) const ADDRESS: &str = "coffer_address";
/// Name of the raw (whole value, lowercased) analyzer.
pub(crate) const RAW: &str = "coffer_raw";

/// Longest indexed text word, in bytes.
pub const MAX_WORD_BYTES: usize = 80;
/// Longest indexed address term, in bytes (RFC 5321 caps a path at 256).
pub const MAX_ADDRESS_BYTES: usize = 256;

/// Registers the index-time analyzers under the names the schema uses.
pub(crate) fn register(manager: &TokenizerManager) {
    manager.register(TEXT, text_index_analyzer());
    manager.register(TEXT_GRAMS, text_gram_index_analyzer());
    manager.register(ADDRESS, address_index_analyzer());
    manager.register(RAW, raw_analyzer());
}

fn text_index_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(TextTokenizer)
        .filter(AsciiFoldingFilter)
        .filter(LowerCaser)
        .filter(RemoveLongFilter::limit(MAX_WORD_BYTES + 1))
        .build()
}

fn text_gram_index_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(TextTokenizer)
        .filter(AsciiFoldingFilter)
        .filter(LowerCaser)
        .filter(RemoveLongFilter::limit(MAX_WORD_BYTES + 1))
        .filter(CommonGrams)
        .build()
}

/// The text analyzer without the length filter (query side: long words are reported,
/// not dropped; highlighting: offsets of every word).
pub(crate) fn text_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(TextTokenizer)
        .filter(AsciiFoldingFilter)
        .filter(LowerCaser)
        .build()
}

fn address_index_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(AddressTokenizer)
        .filter(AsciiFoldingFilter)
        .filter(LowerCaser)
        .filter(RemoveLongFilter::limit(MAX_ADDRESS_BYTES + 1))
        .build()
}

fn raw_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(RawTokenizer::default())
        .filter(LowerCaser)
        .build()
}

/// The terms of `text` for a text field, in order.
pub(crate) fn text_terms(text: &str) -> Vec<String> {
    let mut analyzer = text_analyzer();
    let mut stream = analyzer.token_stream(text);
    let mut terms = Vec::new();
    while let Some(token) = stream.next() {
        terms.push(token.text.clone());
    }
    terms
}

/// The terms of a query value for an address field: one term for an address-like
/// value, text terms otherwise.
pub(crate) fn address_query_terms(value: &str) -> Vec<String> {
    let trimmed = value.trim_matches(|c: char| !c.is_alphanumeric());
    if trimmed.contains('@') || trimmed.contains('.') {
        // The same steps as indexing (normalize, then fold), applied to one whole term.
        let normalized = normalize_word(trimmed);
        let mut analyzer = TextAnalyzer::builder(RawTokenizer::default())
            .filter(AsciiFoldingFilter)
            .filter(LowerCaser)
            .build();
        let mut stream = analyzer.token_stream(&normalized);
        let mut terms = Vec::new();
        while let Some(token) = stream.next() {
            terms.push(token.text.clone());
        }
        terms
    } else {
        text_terms(value)
    }
}

/// The single term of a raw field value (mailbox, Message-ID).
pub(crate) fn raw_term(value: &str) -> String {
    value.trim().to_lowercase()
}

/// Characters written without spaces between words, indexed one per token.
pub(crate) fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x1100..=0x11FF          // Hangul Jamo
        | 0x2E80..=0x2FDF        // CJK radicals, Kangxi radicals
        | 0x3005..=0x3007        // 々 〆 〇
        | 0x3021..=0x3029
        | 0x3038..=0x303B
        | 0x3040..=0x30FF        // Hiragana, Katakana
        | 0x3100..=0x312F        // Bopomofo
        | 0x3130..=0x318F        // Hangul compatibility Jamo
        | 0x31A0..=0x31BF
        | 0x31F0..=0x31FF        // Katakana phonetic extensions
        | 0x3400..=0x4DBF        // CJK extension A
        | 0x4E00..=0x9FFF        // CJK unified ideographs
        | 0xA960..=0xA97F
        | 0xAC00..=0xD7FF        // Hangul syllables and Jamo extended B
        | 0xF900..=0xFAFF        // CJK compatibility ideographs
        | 0xFF66..=0xFFDC        // half-width Katakana and Hangul
        | 0x20000..=0x2FA1F      // CJK extensions B..F, compatibility supplement
        | 0x30000..=0x323AF      // CJK extensions G, H
    )
}

/// Marks removed for accent-insensitive matching: Latin/Greek/Cyrillic combining
/// diacritics, Hebrew points and cantillation, Arabic harakat, and the Arabic tatweel.
fn is_stripped_mark(c: char) -> bool {
    matches!(c as u32,
        0x0300..=0x036F
        | 0x1AB0..=0x1AFF
        | 0x1DC0..=0x1DFF
        | 0x20D0..=0x20FF
        | 0xFE20..=0xFE2F
        | 0x0591..=0x05BD
        | 0x05BF
        | 0x05C1..=0x05C2
        | 0x05C4..=0x05C5
        | 0x05C7
        | 0x0610..=0x061A
        | 0x0640
        | 0x064B..=0x065F
        | 0x0670
        | 0x06D6..=0x06DC
        | 0x06DF..=0x06E4
        | 0x06E7..=0x06E8
        | 0x06EA..=0x06ED
    )
}

/// Compatibility-decomposes, strips diacritics, recomposes and lowercases one word.
pub(crate) fn normalize_word(word: &str) -> String {
    let mut out = String::with_capacity(word.len());
    normalize_into(word, &mut out);
    out
}

/// [`normalize_word`] into a reused buffer (cleared first).
fn normalize_into(word: &str, out: &mut String) {
    out.clear();
    if word.is_ascii() {
        out.push_str(word);
        out.make_ascii_lowercase();
        return;
    }
    for c in word.nfkd().filter(|c| !is_stripped_mark(*c)).nfc() {
        out.extend(c.to_lowercase());
    }
}

/// Splits text into words and CJK characters (see the module docs).
#[derive(Clone, Default)]
pub(crate) struct TextTokenizer;

impl Tokenizer for TextTokenizer {
    type TokenStream<'a> = TextTokenStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> TextTokenStream<'a> {
        TextTokenStream::new(text, 0)
    }
}

/// Lazily yields the words of a text.
///
/// Most mail text is ASCII, so a run of ASCII letters and digits that ends at an ASCII
/// byte (or at the end) is taken bytewise and only lowercased: the general path would
/// consume exactly the same characters (ASCII letters and digits are neither CJK nor
/// combining marks) and normalization leaves ASCII unchanged but for case. Everything
/// else goes through the general, character-wise path. (Measured on the 50,000-message
/// benchmark import: the tokenizer was ~6% of the import's CPU before this path.)
pub(crate) struct TextTokenStream<'a> {
    text: &'a str,
    /// Byte offset where the next word is looked for.
    cursor: usize,
    token: Token,
    next_position: usize,
}

impl<'a> TextTokenStream<'a> {
    fn new(text: &'a str, first_position: usize) -> TextTokenStream<'a> {
        TextTokenStream {
            text,
            cursor: 0,
            token: Token::default(),
            next_position: first_position,
        }
    }

    /// The character at byte offset `at`, if any.
    fn char_at(&self, at: usize) -> Option<char> {
        self.text.get(at..).and_then(|rest| rest.chars().next())
    }

    /// The end of the combining marks that follow byte offset `end`.
    fn skip_marks(&self, mut end: usize) -> usize {
        while let Some(c) = self.char_at(end).filter(|c| is_combining_mark(*c)) {
            end += c.len_utf8();
        }
        end
    }

    /// The general path: the word starting with `c` at `start` (a CJK character with
    /// its marks, or a run of non-CJK letters, digits and marks), or `None` when `c`
    /// starts no word.
    fn word_end(&self, start: usize, c: char) -> Option<usize> {
        if is_cjk(c) {
            return Some(self.skip_marks(start + c.len_utf8()));
        }
        if !c.is_alphanumeric() {
            return None;
        }
        let mut end = start + c.len_utf8();
        while let Some(next) = self.char_at(end) {
            if (next.is_alphanumeric() && !is_cjk(next)) || is_combining_mark(next) {
                end += next.len_utf8();
            } else {
                break;
            }
        }
        Some(end)
    }

    fn emit(&mut self, start: usize, end: usize) -> bool {
        self.token.offset_from = start;
        self.token.offset_to = end;
        self.token.position = self.next_position;
        self.token.position_length = 1;
        self.next_position += 1;
        true
    }
}

impl TokenStream for TextTokenStream<'_> {
    fn advance(&mut self) -> bool {
        let bytes = self.text.as_bytes();
        while self.cursor < bytes.len() {
            let start = self.cursor;
            let byte = bytes[start];
            if byte.is_ascii() {
                if !byte.is_ascii_alphanumeric() {
                    self.cursor += 1;
                    continue;
                }
                let mut end = start + 1;
                while end < bytes.len() && bytes[end].is_ascii_alphanumeric() {
                    end += 1;
                }
                if end == bytes.len() || bytes[end].is_ascii() {
                    self.cursor = end;
                    self.token.text.clear();
                    self.token.text.push_str(&self.text[start..end]);
                    self.token.text.make_ascii_lowercase();
                    return self.emit(start, end);
                }
            }
            let Some(c) = self.char_at(start) else {
                break;
            };
            let Some(end) = self.word_end(start, c) else {
                self.cursor = start + c.len_utf8();
                continue;
            };
            self.cursor = end;
            normalize_into(&self.text[start..end], &mut self.token.text);
            if !self.token.text.is_empty() {
                return self.emit(start, end);
            }
        }
        false
    }

    fn token(&self) -> &Token {
        &self.token
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.token
    }
}

/// Index-time address analysis (see the module docs).
#[derive(Clone, Default)]
pub(crate) struct AddressTokenizer;

impl Tokenizer for AddressTokenizer {
    type TokenStream<'a> = VecTokenStream;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> VecTokenStream {
        VecTokenStream::new(address_tokens(text))
    }
}

fn is_chunk_separator(c: char) -> bool {
    c.is_whitespace() || matches!(c, '<' | '>' | ',' | ';' | '"' | '(' | ')' | '[' | ']')
}

fn address_tokens(text: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut position = 0;
    let mut chunk_start = None;
    let mut chunks = Vec::new();
    for (index, c) in text.char_indices() {
        match (is_chunk_separator(c), chunk_start) {
            (true, Some(start)) => {
                chunks.push((start, index));
                chunk_start = None;
            }
            (false, None) => chunk_start = Some(index),
            _ => {}
        }
    }
    if let Some(start) = chunk_start {
        chunks.push((start, text.len()));
    }
    for (start, end) in chunks {
        let chunk = &text[start..end];
        if chunk.contains('@') {
            let trimmed = chunk.trim_matches(|c: char| !c.is_alphanumeric());
            if trimmed.is_empty() {
                continue;
            }
            let offset = start + (trimmed.as_ptr() as usize - chunk.as_ptr() as usize);
            for term in address_expansions(&normalize_word(trimmed)) {
                tokens.push(Token {
                    offset_from: offset,
                    offset_to: offset + trimmed.len(),
                    position,
                    text: term,
                    position_length: 1,
                });
            }
            position += 1;
        } else {
            let mut stream = TextTokenStream::new(chunk, position);
            while stream.advance() {
                let mut token = stream.token().clone();
                token.offset_from += start;
                token.offset_to += start;
                position = token.position + 1;
                tokens.push(token);
            }
        }
    }
    tokens
}

/// The terms one address is found by, deduplicated, whole address first.
pub(crate) fn address_expansions(address: &str) -> Vec<String> {
    let mut terms: Vec<String> = Vec::new();
    let mut push = |term: &str| {
        let term = term.trim_matches(|c: char| !c.is_alphanumeric());
        if !term.is_empty() && !terms.iter().any(|t| t == term) {
            terms.push(term.to_string());
        }
    };
    push(address);
    let (local, domain) = match address.rsplit_once('@') {
        Some((local, domain)) => (local, domain),
        None => (address, ""),
    };
    push(local);
    if let Some((base, _tag)) = local.split_once('+') {
        push(base);
    }
    for piece in local.split(['.', '_', '-', '+']) {
        push(piece);
    }
    let mut rest = domain;
    loop {
        push(rest);
        match rest.split_once('.') {
            Some((_, parent)) if !parent.is_empty() => rest = parent,
            _ => break,
        }
    }
    for label in domain.split('.') {
        push(label);
    }
    terms
}

/// A token stream over precomputed tokens.
pub(crate) struct VecTokenStream {
    tokens: Vec<Token>,
    next: usize,
    current: Token,
}

impl VecTokenStream {
    fn new(tokens: Vec<Token>) -> VecTokenStream {
        VecTokenStream {
            tokens,
            next: 0,
            current: Token::default(),
        }
    }
}

impl TokenStream for VecTokenStream {
    fn advance(&mut self) -> bool {
        match self.tokens.get_mut(self.next) {
            Some(token) => {
                self.current = std::mem::take(token);
                self.next += 1;
                true
            }
            None => false,
        }
    }

    fn token(&self) -> &Token {
        &self.current
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.current
    }
}

/// Changing this list, or any analyzer, changes what is indexed: bump
/// [`crate::PAYLOAD_FORMAT`] so existing indexes are reported as needing a rebuild (a
/// test pins the list to the format version).
///
/// Very frequent words (after normalization and folding): English, French, German,
/// Spanish, Italian, Portuguese and Dutch function words and the most frequent
/// English words, plus the most frequent CJK characters and kana.
pub const COMMON_WORDS: &str = "\
    the of and to a in is it you that he was for on are with as i his they be at one \
    have this from or had by not but what some we can out other were all there when up \
    use your how said an each she which do their time if will way about many then them \
    would write like so these her long make thing see him two has look more day could go \
    come did no most people my over know than call first who may down side been now \
    find any new work part take get place made where after back little only man year \
    came show every good me give our under name very through just great think say help \
    much before right too same tell does set three want well also small end put home \
    read hand large even here must big high such why ask men went kind off need house \
    try us again point world near should found still last let never being into its \
    because any our those both between while own again am s t don re ve ll d m \
    please thanks thank regards dear hi hello yes ok will shall might \
    le la les de des du un une et en est pour que qui dans pas au aux ce il elle nous \
    vous sur par plus avec sont je ne se sa son ses mais ou on \
    der die das und ist nicht den dem ein eine einer zu mit von auf fur im sich es auch \
    als wie bei aus wir sie ich sind oder werden hat \
    el los las del y por con para lo al su como pero sus ya fue este ha si porque esta \
    son muy sin sobre ser tiene hay \
    il di che non per una sono della con gli le da \
    os as do da em um uma para com nao mais \
    het een van en ik te dat niet zijn op voor met \
    的 一 是 不 了 在 人 有 我 他 这 个 们 中 来 上 大 为 和 国 地 到 以 说 时 要 就 出 会 \
    の に は を た が で て と し れ さ あ る い う か す な こ ま";

fn common_words() -> &'static [&'static str] {
    static WORDS: OnceLock<Vec<&'static str>> = OnceLock::new();
    WORDS.get_or_init(|| {
        let mut words: Vec<&'static str> = COMMON_WORDS.split_whitespace().collect();
        words.sort_unstable();
        words.dedup();
        words
    })
}

/// A word of at most 8 bytes packed into an integer (zero-padded; terms hold no NUL),
/// so the per-token membership test is an integer binary search.
fn pack(word: &str) -> Option<u64> {
    let bytes = word.as_bytes();
    if bytes.is_empty() || bytes.len() > 8 {
        return None;
    }
    // Byte by byte rather than a variable-length `copy_from_slice`, which compiles to a
    // `memcpy` call (perf put most of this function's samples in that call). It runs for
    // every word of every subject and body, but callgrind counts the same instructions
    // either way: no measured gain, kept as the plainer code.
    let mut key = 0u64;
    for (index, byte) in bytes.iter().enumerate() {
        key |= u64::from(*byte) << (8 * index);
    }
    Some(key)
}

/// The packed common words in an open-addressing hash table (0 marks an empty slot; a
/// packed word is never 0): one or two probes per token instead of a binary search,
/// since every indexed word of subjects and bodies is looked up.
fn common_word_table() -> &'static [u64] {
    static TABLE: OnceLock<Vec<u64>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut table = vec![0u64; COMMON_TABLE_SLOTS];
        for key in common_words().iter().filter_map(|w| pack(w)) {
            let mut slot = common_slot(key);
            while table[slot] != 0 && table[slot] != key {
                slot = (slot + 1) % COMMON_TABLE_SLOTS;
            }
            table[slot] = key;
        }
        table
    })
}

/// Slots of [`common_word_table`]: a power of two, several times the number of words.
const COMMON_TABLE_SLOTS: usize = 2048;

fn common_slot(key: u64) -> usize {
    // Fibonacci hashing: the top 11 bits of the product.
    (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - COMMON_TABLE_SLOTS.trailing_zeros())) as usize
}

/// Whether a normalized, folded term is a common word.
pub(crate) fn is_common(term: &str) -> bool {
    let Some(key) = pack(term) else {
        return false;
    };
    let table = common_word_table();
    let mut slot = common_slot(key);
    loop {
        match table[slot] {
            0 => return false,
            found if found == key => return true,
            _ => slot = (slot + 1) % COMMON_TABLE_SLOTS,
        }
    }
}

/// The gram term of two adjacent common words.
pub(crate) fn gram(first: &str, second: &str) -> String {
    let mut out = String::with_capacity(first.len() + second.len() + 1);
    out.push_str(first);
    out.push(' ');
    out.push_str(second);
    out
}

/// The terms and offsets of a phrase over a field indexed with [`CommonGrams`]: each
/// adjacent pair of common words becomes its gram (at the first word's offset) and
/// the words it covers are dropped; other words stay. Matching these terms at these
/// relative positions is equivalent to matching the plain phrase, because a gram is
/// indexed exactly where its two words are adjacent.
pub(crate) fn phrase_with_grams(terms: &[String]) -> Vec<(usize, String)> {
    let mut covered = vec![false; terms.len()];
    let mut out = Vec::with_capacity(terms.len());
    for (index, pair) in terms.windows(2).enumerate() {
        if is_common(&pair[0]) && is_common(&pair[1]) {
            out.push((index, gram(&pair[0], &pair[1])));
            covered[index] = true;
            covered[index + 1] = true;
        }
    }
    for (index, term) in terms.iter().enumerate() {
        if !covered[index] {
            out.push((index, term.clone()));
        }
    }
    out.sort_by_key(|(offset, _)| *offset);
    out
}

/// A token filter (last in the chain) that also emits, for every two adjacent common
/// words, their gram `"w1 w2"` at the position of the first. A phrase of common words
/// (`"of the"`, `"will their"`) then costs one term lookup instead of intersecting
/// two huge position lists (Lucene's CommonGrams technique).
#[derive(Clone)]
pub(crate) struct CommonGrams;

impl TokenFilter for CommonGrams {
    type Tokenizer<T: Tokenizer> = CommonGramsFilter<T>;

    fn transform<T: Tokenizer>(self, tokenizer: T) -> CommonGramsFilter<T> {
        CommonGramsFilter { inner: tokenizer }
    }
}

/// See [`CommonGrams`].
#[derive(Clone)]
pub(crate) struct CommonGramsFilter<T> {
    inner: T,
}

impl<T: Tokenizer> Tokenizer for CommonGramsFilter<T> {
    type TokenStream<'a> = CommonGramsStream<T::TokenStream<'a>>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Self::TokenStream<'a> {
        CommonGramsStream {
            tail: self.inner.token_stream(text),
            previous: String::new(),
            previous_position: None,
            previous_from: 0,
            gram: Token::default(),
            gram_pending: false,
            emitting_gram: false,
        }
    }
}

/// See [`CommonGrams`].
pub(crate) struct CommonGramsStream<S> {
    tail: S,
    /// The previous word when it was common.
    previous: String,
    previous_position: Option<usize>,
    previous_from: usize,
    gram: Token,
    gram_pending: bool,
    emitting_gram: bool,
}

impl<S: TokenStream> TokenStream for CommonGramsStream<S> {
    fn advance(&mut self) -> bool {
        if self.gram_pending {
            self.gram_pending = false;
            self.emitting_gram = true;
            return true;
        }
        self.emitting_gram = false;
        if !self.tail.advance() {
            return false;
        }
        let token = self.tail.token();
        if is_common(&token.text) {
            if self
                .previous_position
                .is_some_and(|p| p + 1 == token.position)
            {
                self.gram.text.clear();
                self.gram.text.push_str(&self.previous);
                self.gram.text.push(' ');
                self.gram.text.push_str(&token.text);
                self.gram.position = token.position - 1;
                self.gram.position_length = 1;
                self.gram.offset_from = self.previous_from;
                self.gram.offset_to = token.offset_to;
                self.gram_pending = true;
            }
            self.previous.clear();
            self.previous.push_str(&token.text);
            self.previous_position = Some(token.position);
            self.previous_from = token.offset_from;
        } else {
            self.previous_position = None;
        }
        true
    }

    fn token(&self) -> &Token {
        if self.emitting_gram {
            &self.gram
        } else {
            self.tail.token()
        }
    }

    fn token_mut(&mut self) -> &mut Token {
        if self.emitting_gram {
            &mut self.gram
        } else {
            self.tail.token_mut()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index_terms(analyzer: &mut TextAnalyzer, text: &str) -> Vec<(String, usize)> {
        let mut stream = analyzer.token_stream(text);
        let mut out = Vec::new();
        while let Some(token) = stream.next() {
            out.push((token.text.clone(), token.position));
        }
        out
    }

    #[test]
    fn text_folds_case_accents_and_compatibility_forms() {
        assert_eq!(
            text_terms("Café CAFÉ cafe\u{301} naïve"),
            ["cafe", "cafe", "cafe", "naive"]
        );
        assert_eq!(
            text_terms("Straße Øre ﬁnancial Ｅｘｃｅｌ"),
            ["strasse", "ore", "financial", "excel"]
        );
        assert_eq!(text_terms("İstanbul"), ["istanbul"]);
        assert_eq!(text_terms("e-mail, 10:30!"), ["e", "mail", "10", "30"]);
    }

    #[test]
    fn rtl_words_lose_diacritics_only() {
        assert_eq!(text_terms("مُحَمَّد"), text_terms("محمد"));
        assert_eq!(text_terms("مرحـــبا بالعالم"), ["مرحبا", "بالعالم"]);
        assert_eq!(text_terms("שָׁלוֹם עולם"), ["שלום", "עולם"]);
    }

    #[test]
    fn cjk_characters_are_tokens_with_consecutive_positions() {
        let mut analyzer = text_analyzer();
        assert_eq!(
            index_terms(&mut analyzer, "我们在東京开会abc한국어"),
            [
                ("我".to_string(), 0),
                ("们".to_string(), 1),
                ("在".to_string(), 2),
                ("東".to_string(), 3),
                ("京".to_string(), 4),
                ("开".to_string(), 5),
                ("会".to_string(), 6),
                ("abc".to_string(), 7),
                ("한".to_string(), 8),
                ("국".to_string(), 9),
                ("어".to_string(), 10),
            ]
        );
        // Voiced kana survive normalization; half-width kana become full-width.
        assert_eq!(text_terms("が"), ["が"]);
        assert_eq!(text_terms("ｶﾀｶﾅ"), ["カ", "タ", "カ", "ナ"]);
    }

    #[test]
    fn addresses_expand_at_one_position() {
        let mut analyzer = address_index_analyzer();
        let terms = index_terms(
            &mut analyzer,
            "Alice Smith <Alice.Smith+Q3@Mail.Example.com>",
        );
        let texts: Vec<&str> = terms.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(
            texts,
            [
                "alice",
                "smith",
                "alice.smith+q3@mail.example.com",
                "alice.smith+q3",
                "alice.smith",
                "alice",
                "smith",
                "q3",
                "mail.example.com",
                "example.com",
                "com",
                "mail",
                "example",
            ]
        );
        assert!(terms[2..].iter().all(|(_, position)| *position == 2));
        assert_eq!(
            address_query_terms("Alice@Example.COM"),
            ["alice@example.com"]
        );
        assert_eq!(address_query_terms("@example.com"), ["example.com"]);
        assert_eq!(address_query_terms("Alice Smith"), ["alice", "smith"]);
        assert_eq!(address_query_terms("josé"), ["jose"]);
    }

    /// The tokenizer as first written (character by character, no ASCII path): the
    /// oracle the faster [`TextTokenStream`] must agree with.
    fn reference_words(text: &str) -> Vec<(String, usize, usize)> {
        let mut out = Vec::new();
        let mut chars = text.char_indices().peekable();
        while let Some((start, c)) = chars.next() {
            let mut end = start + c.len_utf8();
            if is_cjk(c) {
                while let Some(&(index, next)) = chars.peek() {
                    if !is_combining_mark(next) {
                        break;
                    }
                    chars.next();
                    end = index + next.len_utf8();
                }
            } else if c.is_alphanumeric() {
                while let Some(&(index, next)) = chars.peek() {
                    if (next.is_alphanumeric() && !is_cjk(next)) || is_combining_mark(next) {
                        chars.next();
                        end = index + next.len_utf8();
                    } else {
                        break;
                    }
                }
            } else {
                continue;
            }
            let word = normalize_word(&text[start..end]);
            if !word.is_empty() {
                out.push((word, start, end));
            }
        }
        out
    }

    fn stream_words(text: &str) -> Vec<(String, usize, usize)> {
        let mut stream = TextTokenStream::new(text, 0);
        let mut out = Vec::new();
        while stream.advance() {
            let token = stream.token();
            assert_eq!(token.position, out.len());
            out.push((token.text.clone(), token.offset_from, token.offset_to));
        }
        out
    }

    proptest::proptest! {
        // Failures are turned into named regression tests, not persisted files.
        #![proptest_config(proptest::prelude::ProptestConfig {
            failure_persistence: None,
            ..proptest::prelude::ProptestConfig::default()
        })]

        #[test]
        fn the_ascii_fast_path_agrees_with_the_reference(
            text in "([a-zA-Z0-9 .,;:!?'@_\\-]|[éÉüßøİæ\u{301}\u{308}\u{5b0}\u{640}東京한ｅﬁ—’ \u{a0}]){0,60}"
        ) {
            proptest::prop_assert_eq!(stream_words(&text), reference_words(&text));
        }

        #[test]
        fn the_tokenizer_agrees_with_the_reference_on_any_text(text in "\\PC{0,40}") {
            proptest::prop_assert_eq!(stream_words(&text), reference_words(&text));
        }
    }

    #[test]
    fn common_words_are_normalized_and_folded() {
        for word in common_words() {
            assert_eq!(text_terms(word), [word.to_string()], "{word}");
        }
        assert!(is_common("the") && is_common("fur") && is_common("的"));
        assert!(!is_common("budget") && !is_common("") && !is_common("thethethe"));
        assert_eq!(
            common_words().iter().filter_map(|w| pack(w)).count(),
            common_words().len(),
            "every common word fits in 8 bytes"
        );
        let stored = common_word_table().iter().filter(|k| **k != 0).count();
        assert_eq!(stored, common_words().len(), "every common word has a slot");
        assert!(stored * 2 < COMMON_TABLE_SLOTS, "the table stays sparse");
    }

    #[test]
    fn the_common_word_list_is_pinned_to_the_format_version() {
        // FNV-1a of the sorted list. If this fails you changed what is indexed: bump
        // PAYLOAD_FORMAT and update both numbers.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in common_words().join(" ").bytes() {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
        assert_eq!(
            (crate::PAYLOAD_FORMAT, hash),
            (4, 9_472_223_682_622_577_169)
        );
    }

    #[test]
    fn common_grams_are_indexed_beside_their_words() {
        let mut analyzer = text_gram_index_analyzer();
        let terms = index_terms(&mut analyzer, "Report of the board. Of. The end");
        assert_eq!(
            terms,
            [
                ("report".to_string(), 0),
                ("of".to_string(), 1),
                ("the".to_string(), 2),
                ("of the".to_string(), 1),
                ("board".to_string(), 3),
                ("of".to_string(), 4),
                ("the".to_string(), 5),
                ("of the".to_string(), 4),
                ("end".to_string(), 6),
                ("the end".to_string(), 5),
            ]
        );
        let long = "x".repeat(MAX_WORD_BYTES + 1);
        let terms = index_terms(&mut analyzer, &format!("of {long} the"));
        assert!(
            terms.iter().all(|(t, _)| t != "of the"),
            "no gram across a dropped word"
        );
        let words: Vec<String> = ["report", "of", "the", "end", "of", "it"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            phrase_with_grams(&words),
            [
                (0, "report".to_string()),
                (1, "of the".to_string()),
                (2, "the end".to_string()),
                (3, "end of".to_string()),
                (4, "of it".to_string()),
            ]
        );
    }

    #[test]
    fn long_words_are_dropped_at_indexing() {
        let mut analyzer = text_index_analyzer();
        let long = "x".repeat(MAX_WORD_BYTES + 1);
        let exact = "y".repeat(MAX_WORD_BYTES);
        let terms = index_terms(&mut analyzer, &format!("{long} {exact}"));
        assert_eq!(terms, [(exact, 1)]);
    }
}
