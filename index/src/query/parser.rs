//! Recursive-descent parser from tokens to [`QueryAst`], with the value syntaxes of the
//! language (field names, dates, sizes, prefixes) and their error messages.
//!
//! Grammar (AND binds tighter than OR; juxtaposition is AND):
//!
//! ```text
//! query   := or EOF
//! or      := and ("OR" and)*
//! and     := unary (["AND"] unary)*
//! unary   := "NOT" unary | "-" unary | primary
//! primary := "(" or ")" | PHRASE | WORD | FIELD ":" (VALUE | PHRASE | "(" or ")")
//! ```

use coffer_model::MessageFlags;

use super::ast::{
    DateFilter, DateOp, Period, QueryAst, SizeFilter, SizeOp, TextField, TextKind, TextQuery,
};
use super::error::QueryError;
use super::lexer::{Tok, Token, lex};

/// Longest accepted query, in characters.
pub const MAX_QUERY_CHARS: usize = 10_000;
/// Deepest accepted nesting of parentheses and negations, and of the parsed query
/// ([`QueryAst::depth`]: AND, OR and NOT levels), so that the canonical form of every
/// accepted query (which puts every AND and OR in parentheses) parses back.
pub const MAX_DEPTH: usize = 32;
/// Most accepted clauses (words, phrases, filters).
pub const MAX_CLAUSES: usize = 1_000;

/// Parses a query of the Coffer query language (see the [module docs](super)).
///
/// Never panics; every rejection carries the character position of the problem.
pub fn parse_query(input: &str) -> Result<QueryAst, QueryError> {
    let chars: Vec<char> = input.chars().take(MAX_QUERY_CHARS + 1).collect();
    if chars.len() > MAX_QUERY_CHARS {
        return Err(QueryError::new(
            MAX_QUERY_CHARS,
            format!("query too long (at most {MAX_QUERY_CHARS} characters)"),
        ));
    }
    let tokens = lex(&chars)?;
    if tokens.is_empty() {
        return Err(QueryError::new(0, "empty query"));
    }
    let mut parser = Parser {
        tokens: &tokens,
        next: 0,
        input_end: chars.len(),
        clauses: 0,
    };
    let ast = parser.parse_or(None, 0)?;
    if let Some(token) = parser.peek() {
        // parse_or stops only at ')' or at the end.
        return Err(QueryError::new(
            token.start,
            "unbalanced parenthesis: ')' has no matching '('",
        ));
    }
    // Operator precedence nests without parentheses (`-a AND b` is an AND over a NOT):
    // the tree can be one level deeper than any parenthesis the input wrote, and its
    // canonical form writes them all. Found by the `query` fuzz target: 32 `-` before a
    // word, then `AND` and a word, printed as a group of 32 NOTs that did not parse back.
    if ast.depth() > MAX_DEPTH {
        return Err(QueryError::new(
            0,
            format!("query nested too deeply (at most {MAX_DEPTH} levels)"),
        ));
    }
    Ok(ast)
}

struct Parser<'a> {
    tokens: &'a [Token],
    next: usize,
    input_end: usize,
    clauses: usize,
}

/// The field that plain words default to inside `field:( ... )`.
type Context = Option<TextField>;

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<&'a Token> {
        self.tokens.get(self.next)
    }

    fn bump(&mut self) -> Option<&'a Token> {
        let token = self.tokens.get(self.next);
        if token.is_some() {
            self.next += 1;
        }
        token
    }

    fn peek_starts_term(&self) -> bool {
        matches!(
            self.peek().map(|t| &t.tok),
            Some(Tok::Word(_) | Tok::Phrase(_) | Tok::LParen | Tok::Minus | Tok::Not)
        )
    }

    fn parse_or(&mut self, context: Context, depth: usize) -> Result<QueryAst, QueryError> {
        let mut items = vec![self.parse_and(context, depth)?];
        while let Some(token) = self.peek() {
            if token.tok != Tok::Or {
                break;
            }
            self.bump();
            if !self.peek_starts_term() {
                return Err(QueryError::new(
                    token.start,
                    "'OR' must be followed by a term",
                ));
            }
            items.push(self.parse_and(context, depth)?);
        }
        Ok(combine(items, false))
    }

    fn parse_and(&mut self, context: Context, depth: usize) -> Result<QueryAst, QueryError> {
        let mut items = vec![self.parse_unary(context, depth)?];
        while let Some(token) = self.peek() {
            if token.tok == Tok::And {
                self.bump();
                if !self.peek_starts_term() {
                    return Err(QueryError::new(
                        token.start,
                        "'AND' must be followed by a term",
                    ));
                }
            } else if !self.peek_starts_term() {
                break;
            }
            items.push(self.parse_unary(context, depth)?);
        }
        Ok(combine(items, true))
    }

    fn parse_unary(&mut self, context: Context, depth: usize) -> Result<QueryAst, QueryError> {
        let Some(token) = self.peek() else {
            return Err(QueryError::new(
                self.input_end,
                "expected a term at the end of the query",
            ));
        };
        if depth > MAX_DEPTH {
            return Err(QueryError::new(
                token.start,
                format!("query nested too deeply (at most {MAX_DEPTH} levels)"),
            ));
        }
        match token.tok {
            Tok::Not | Tok::Minus => {
                self.bump();
                if !self.peek_starts_term() {
                    let what = if token.tok == Tok::Not {
                        "'NOT'"
                    } else {
                        "'-'"
                    };
                    return Err(QueryError::new(
                        token.start,
                        format!("{what} must be followed by a term"),
                    ));
                }
                Ok(QueryAst::Not(Box::new(
                    self.parse_unary(context, depth + 1)?,
                )))
            }
            _ => self.parse_primary(context, depth),
        }
    }

    fn parse_primary(&mut self, context: Context, depth: usize) -> Result<QueryAst, QueryError> {
        let Some(token) = self.bump() else {
            return Err(QueryError::new(
                self.input_end,
                "expected a term at the end of the query",
            ));
        };
        match &token.tok {
            Tok::LParen => self.parse_group(token, context, depth),
            Tok::RParen => Err(QueryError::new(
                token.start,
                "unbalanced parenthesis: ')' has no matching '('",
            )),
            Tok::And => Err(QueryError::new(
                token.start,
                "'AND' needs a term on both sides",
            )),
            Tok::Or => Err(QueryError::new(
                token.start,
                "'OR' needs a term on both sides",
            )),
            Tok::Not | Tok::Minus => Err(QueryError::new(token.start, "expected a term")),
            Tok::Phrase(text) => self.text(context, text, TextKind::Phrase, token.start),
            Tok::Word(word) => self.word(context, word, token, depth),
        }
    }

    /// After an opening parenthesis (already consumed).
    fn parse_group(
        &mut self,
        open: &Token,
        context: Context,
        depth: usize,
    ) -> Result<QueryAst, QueryError> {
        if self.peek().is_some_and(|t| t.tok == Tok::RParen) {
            return Err(QueryError::new(open.start, "empty parentheses"));
        }
        if self.peek().is_none() {
            return Err(QueryError::new(
                open.start,
                "unbalanced parenthesis: '(' is never closed",
            ));
        }
        let inner = self.parse_or(context, depth + 1)?;
        match self.bump() {
            Some(close) if close.tok == Tok::RParen => Ok(inner),
            _ => Err(QueryError::new(
                open.start,
                "unbalanced parenthesis: '(' is never closed",
            )),
        }
    }

    fn count_clause(&mut self, position: usize) -> Result<(), QueryError> {
        self.clauses += 1;
        if self.clauses > MAX_CLAUSES {
            return Err(QueryError::new(
                position,
                format!("too many terms (at most {MAX_CLAUSES})"),
            ));
        }
        Ok(())
    }

    fn text(
        &mut self,
        field: Context,
        raw: &str,
        kind: TextKind,
        position: usize,
    ) -> Result<QueryAst, QueryError> {
        self.count_clause(position)?;
        let (text, kind) = match kind {
            TextKind::Phrase => {
                if !raw.chars().any(char::is_alphanumeric) {
                    return Err(QueryError::new(
                        position,
                        "phrase has no letters or digits to search for",
                    ));
                }
                (raw.to_string(), TextKind::Phrase)
            }
            TextKind::Word | TextKind::Prefix => {
                let (stem, kind) = match raw.strip_suffix('*') {
                    Some(stem) => (stem, TextKind::Prefix),
                    None => (raw, TextKind::Word),
                };
                if let Some(star) = stem.chars().position(|c| c == '*') {
                    return Err(QueryError::new(
                        position + star,
                        "'*' is only allowed at the end of a word",
                    ));
                }
                let alphanumerics = stem.chars().filter(|c| c.is_alphanumeric()).count();
                if alphanumerics == 0 {
                    return Err(QueryError::new(
                        position,
                        format!("'{raw}' has no letters or digits to search for"),
                    ));
                }
                if kind == TextKind::Prefix && alphanumerics < 2 {
                    return Err(QueryError::new(
                        position,
                        format!(
                            "prefix '{raw}' is too short: give at least 2 letters or digits before '*'"
                        ),
                    ));
                }
                (stem.to_string(), kind)
            }
        };
        Ok(QueryAst::Text(TextQuery { field, text, kind }))
    }

    fn word(
        &mut self,
        context: Context,
        word: &str,
        token: &Token,
        depth: usize,
    ) -> Result<QueryAst, QueryError> {
        let bytes = word.as_bytes();
        if bytes.len() > 4
            && bytes[..4].eq_ignore_ascii_case(b"size")
            && matches!(bytes[4], b'<' | b'>' | b'=')
        {
            self.count_clause(token.start)?;
            return parse_size(word, token.start).map(QueryAst::Size);
        }
        if let Some((name, value)) = split_field(word) {
            return self.field(name, value, token, depth);
        }
        if word == "*" {
            if context.is_some() {
                return Err(QueryError::new(
                    token.start,
                    "'*' alone cannot be used inside a field group",
                ));
            }
            self.count_clause(token.start)?;
            return Ok(QueryAst::All);
        }
        self.text(context, word, TextKind::Word, token.start)
    }

    fn field(
        &mut self,
        name: &str,
        value: &str,
        token: &Token,
        depth: usize,
    ) -> Result<QueryAst, QueryError> {
        let lower_name = name.to_ascii_lowercase();
        let value_position = token.start + name.chars().count() + 1;
        // `field:"phrase"` and `field:(group)`: the value is the adjacent next token.
        let adjacent = if value.is_empty() {
            self.peek().filter(|next| {
                next.start == token.end && matches!(next.tok, Tok::Phrase(_) | Tok::LParen)
            })
        } else {
            None
        };
        if value.is_empty() && adjacent.is_none() && known_name(&lower_name) {
            return Err(QueryError::new(
                value_position,
                format!("missing value after '{lower_name}:'"),
            ));
        }

        if let Some(field) = TextField::from_name(&lower_name) {
            return match adjacent {
                Some(next) => {
                    self.bump();
                    match &next.tok {
                        Tok::Phrase(text) => {
                            self.text(Some(field), text, TextKind::Phrase, next.start)
                        }
                        _ => self.parse_group(next, Some(field), depth),
                    }
                }
                None => self.text(Some(field), value, TextKind::Word, value_position),
            };
        }

        let takes = match lower_name.as_str() {
            "has" => "'attachment' (has:attachment)",
            "after" | "before" | "during" => "a date such as 2024, 2024-03 or 2024-03-31",
            "flag" => "a flag name",
            "size" => "",
            _ => {
                return Err(QueryError::new(
                    token.start,
                    unknown_field_message(&lower_name),
                ));
            }
        };
        if lower_name == "size" {
            return Err(QueryError::new(token.start, SIZE_SYNTAX));
        }
        if let Some(next) = adjacent {
            let what = if next.tok == Tok::LParen {
                "a group"
            } else {
                "a phrase"
            };
            return Err(QueryError::new(
                next.start,
                format!("'{lower_name}:' takes {takes}, not {what}"),
            ));
        }
        self.count_clause(token.start)?;
        match lower_name.as_str() {
            "has" => match value.to_ascii_lowercase().as_str() {
                "attachment" | "attachments" => Ok(QueryAst::HasAttachment),
                _ => Err(QueryError::new(
                    value_position,
                    format!("unknown value '{value}' for has: (expected has:attachment)"),
                )),
            },
            "flag" => {
                let lower_value = value.to_ascii_lowercase();
                MessageFlags::NAMES
                    .iter()
                    .find(|(_, flag_name)| *flag_name == lower_value)
                    .map(|(flag, _)| QueryAst::Flag(*flag))
                    .ok_or_else(|| {
                        let names: Vec<&str> =
                            MessageFlags::NAMES.iter().map(|(_, n)| *n).collect();
                        QueryError::new(
                            value_position,
                            format!(
                                "unknown flag '{value}' (expected one of: {})",
                                names.join(", ")
                            ),
                        )
                    })
            }
            _ => {
                let op = match lower_name.as_str() {
                    "after" => DateOp::After,
                    "before" => DateOp::Before,
                    _ => DateOp::During,
                };
                let period = parse_period(value, value_position)?;
                Ok(QueryAst::Date(DateFilter { op, period }))
            }
        }
    }
}

const SIZE_SYNTAX: &str =
    "write size>N, size>=N, size<N or size<=N, with N in bytes or with a unit k, M or G (size>1M)";

/// Every name that may stand before a ':'.
const KNOWN_NAMES: [&str; 18] = [
    "from",
    "to",
    "cc",
    "bcc",
    "envelope",
    "participant",
    "subject",
    "body",
    "attachment",
    "filename",
    "mailbox",
    "message-id",
    "has",
    "after",
    "before",
    "during",
    "size",
    "flag",
];

/// Names people type from other search tools, with what they mean here.
const HINTS: [(&str, &str); 14] = [
    ("date", "during"),
    ("on", "during"),
    ("since", "after"),
    ("until", "before"),
    ("larger", "size>"),
    ("smaller", "size<"),
    ("file", "filename"),
    ("sender", "from"),
    ("recipient", "participant"),
    ("rcpt", "participant"),
    ("is", "flag"),
    ("msgid", "message-id"),
    ("subj", "subject"),
    ("attach", "attachment"),
];

fn known_name(name: &str) -> bool {
    KNOWN_NAMES.contains(&name)
}

fn unknown_field_message(name: &str) -> String {
    let hinted = HINTS
        .iter()
        .find(|(typed, _)| *typed == name)
        .map(|(_, meant)| *meant);
    let suggestion = hinted.or_else(|| {
        KNOWN_NAMES
            .iter()
            .map(|known| (edit_distance(name, known), *known))
            .filter(|(distance, known)| {
                *distance <= 2 && *distance < known.len() && *distance < name.len()
            })
            .min_by_key(|(distance, _)| *distance)
            .map(|(_, known)| known)
    });
    match suggestion {
        Some(meant) => {
            let shown = if meant.ends_with('>') || meant.ends_with('<') {
                meant.to_string()
            } else {
                format!("{meant}:")
            };
            format!("unknown field '{name}' (did you mean '{shown}'?)")
        }
        None => format!(
            "unknown field '{name}' (known: {}; put text containing ':' in quotes to search for it)",
            KNOWN_NAMES.join(", ")
        ),
    }
}

/// Levenshtein distance over characters (names are short).
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != cb);
            let insertion = current[j] + 1;
            let deletion = previous[j + 1] + 1;
            current.push(substitution.min(insertion).min(deletion));
        }
        previous = current;
    }
    previous[b.len()]
}

/// `name:value` when `name` is made of ASCII letters and '-' (so `10:30` and
/// `http://` style text with digits or slashes before the colon stay plain words).
fn split_field(word: &str) -> Option<(&str, &str)> {
    let (name, value) = word.split_once(':')?;
    let is_name = !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphabetic() || c == '-')
        && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic());
    is_name.then_some((name, value))
}

/// Builds an `And` (or an `Or`) of `items`, flattening nested ones of the same kind.
fn combine(mut items: Vec<QueryAst>, is_and: bool) -> QueryAst {
    if items.len() == 1
        && let Some(only) = items.pop()
    {
        return only;
    }
    let mut flat = Vec::with_capacity(items.len());
    for item in items {
        match item {
            QueryAst::And(children) if is_and => flat.extend(children),
            QueryAst::Or(children) if !is_and => flat.extend(children),
            other => flat.push(other),
        }
    }
    if is_and {
        QueryAst::And(flat)
    } else {
        QueryAst::Or(flat)
    }
}

/// `size>1M`, `size<=2.5k`, `size<500`.
fn parse_size(word: &str, position: usize) -> Result<SizeFilter, QueryError> {
    // The caller checked that the first four bytes are ASCII "size".
    let rest = word.get(4..).unwrap_or_default();
    let (op, number) = if let Some(n) = rest.strip_prefix(">=") {
        (SizeOp::Ge, n)
    } else if let Some(n) = rest.strip_prefix("<=") {
        (SizeOp::Le, n)
    } else if let Some(n) = rest.strip_prefix('>') {
        (SizeOp::Gt, n)
    } else if let Some(n) = rest.strip_prefix('<') {
        (SizeOp::Lt, n)
    } else {
        return Err(QueryError::new(position, SIZE_SYNTAX));
    };
    let value_position = position + 4 + op.symbol().len();
    let bad = || {
        QueryError::new(
            value_position,
            format!(
                "invalid size '{number}' (expected a number with an optional unit k, M or G, as in size>1M)"
            ),
        )
    };
    let digits_end = number
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(number.len());
    let (amount, unit) = number.split_at(digits_end);
    let multiplier: u128 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1 << 10,
        "m" | "mb" => 1 << 20,
        "g" | "gb" => 1 << 30,
        _ => return Err(bad()),
    };
    let (whole, fraction) = amount.split_once('.').unwrap_or((amount, ""));
    if whole.is_empty()
        || whole.len() > 20
        || fraction.len() > 3
        || (amount.contains('.') && fraction.is_empty())
    {
        return Err(bad());
    }
    let whole: u128 = whole.parse().map_err(|_| bad())?;
    let scale = 10u128.pow(fraction.len() as u32);
    let fraction: u128 = if fraction.is_empty() {
        0
    } else {
        fraction.parse().map_err(|_| bad())?
    };
    let bytes = (whole * scale + fraction) * multiplier / scale;
    let bytes = u64::try_from(bytes)
        .map_err(|_| QueryError::new(value_position, format!("size '{number}' is too large")))?;
    Ok(SizeFilter { op, bytes })
}

/// `2024`, `2024-03`, `2024-03-31` (also with '/').
fn parse_period(value: &str, position: usize) -> Result<Period, QueryError> {
    let bad = || {
        QueryError::new(
            position,
            format!("invalid date '{value}' (expected YYYY, YYYY-MM or YYYY-MM-DD)"),
        )
    };
    let parts: Vec<&str> = value.split(['-', '/']).collect();
    if parts.is_empty() || parts.len() > 3 {
        return Err(bad());
    }
    let all_digits = |s: &str, min: usize, max: usize| {
        (min..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
    };
    if !all_digits(parts[0], 4, 4) || parts[1..].iter().any(|p| !all_digits(p, 1, 2)) {
        return Err(bad());
    }
    let number = |s: &str| s.parse::<u32>().map_err(|_| bad());
    let year = i32::try_from(number(parts[0])?).map_err(|_| bad())?;
    let period = match parts.len() {
        1 => Period::year(year),
        2 => Period::month(year, number(parts[1])?),
        _ => Period::day(year, number(parts[1])?, number(parts[2])?),
    };
    period.ok_or_else(|| QueryError::new(position, format!("invalid date '{value}': no such date")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(field: Option<TextField>, text: &str) -> QueryAst {
        QueryAst::Text(TextQuery {
            field,
            text: text.into(),
            kind: TextKind::Word,
        })
    }

    fn err(input: &str) -> QueryError {
        parse_query(input).expect_err(input)
    }

    #[test]
    fn and_binds_tighter_than_or() {
        let ast = parse_query("a OR b c").expect("parses");
        assert_eq!(
            ast,
            QueryAst::Or(vec![
                word(None, "a"),
                QueryAst::And(vec![word(None, "b"), word(None, "c")])
            ])
        );
        let ast = parse_query("a AND b OR c").expect("parses");
        assert_eq!(
            ast,
            QueryAst::Or(vec![
                QueryAst::And(vec![word(None, "a"), word(None, "b")]),
                word(None, "c")
            ])
        );
    }

    #[test]
    fn fields_phrases_groups_and_negation() {
        let ast = parse_query(r#"From:alice -subject:"quarterly report" to:(bob OR carol)"#)
            .expect("parses");
        assert_eq!(
            ast,
            QueryAst::And(vec![
                word(Some(TextField::From), "alice"),
                QueryAst::Not(Box::new(QueryAst::Text(TextQuery {
                    field: Some(TextField::Subject),
                    text: "quarterly report".into(),
                    kind: TextKind::Phrase,
                }))),
                QueryAst::Or(vec![
                    word(Some(TextField::To), "bob"),
                    word(Some(TextField::To), "carol")
                ]),
            ])
        );
        assert_eq!(
            parse_query("NOT NOT x").expect("parses"),
            QueryAst::Not(Box::new(QueryAst::Not(Box::new(word(None, "x")))))
        );
        assert_eq!(
            parse_query("budg*").expect("parses"),
            QueryAst::Text(TextQuery {
                field: None,
                text: "budg".into(),
                kind: TextKind::Prefix
            })
        );
        assert_eq!(parse_query("10:30").expect("parses"), word(None, "10:30"));
        assert_eq!(
            parse_query("subject:re:hello").expect("parses"),
            word(Some(TextField::Subject), "re:hello")
        );
        assert_eq!(parse_query(" * ").expect("parses"), QueryAst::All);
    }

    #[test]
    fn filters() {
        assert_eq!(
            parse_query("has:attachment").expect("parses"),
            QueryAst::HasAttachment
        );
        assert_eq!(
            parse_query("size>1M").expect("parses"),
            QueryAst::Size(SizeFilter {
                op: SizeOp::Gt,
                bytes: 1 << 20
            })
        );
        assert_eq!(
            parse_query("SIZE<=1.5k").expect("parses"),
            QueryAst::Size(SizeFilter {
                op: SizeOp::Le,
                bytes: 1536
            })
        );
        assert_eq!(
            parse_query("size>=500").expect("parses"),
            QueryAst::Size(SizeFilter {
                op: SizeOp::Ge,
                bytes: 500
            })
        );
        assert_eq!(
            parse_query("during:2024/3").expect("parses"),
            QueryAst::Date(DateFilter {
                op: DateOp::During,
                period: Period::month(2024, 3).expect("valid"),
            })
        );
        assert_eq!(
            parse_query("flag:malformed").expect("parses"),
            QueryAst::Flag(MessageFlags::MALFORMED)
        );
    }

    #[test]
    fn errors_are_positioned_and_precise() {
        let cases: &[(&str, usize, &str)] = &[
            ("", 0, "empty query"),
            ("   ", 0, "empty query"),
            (
                "budget form:alice",
                7,
                "unknown field 'form' (did you mean 'from:'?)",
            ),
            ("date:2024", 0, "did you mean 'during:'?"),
            ("larger:1M", 0, "did you mean 'size>'?"),
            ("(a OR b", 0, "unbalanced parenthesis: '(' is never closed"),
            (
                "a OR b)",
                6,
                "unbalanced parenthesis: ')' has no matching '('",
            ),
            ("a ()", 2, "empty parentheses"),
            ("a OR", 2, "'OR' must be followed by a term"),
            ("a AND", 2, "'AND' must be followed by a term"),
            ("OR a", 0, "'OR' needs a term on both sides"),
            ("NOT", 0, "'NOT' must be followed by a term"),
            (
                "x after:2024-02-30",
                8,
                "invalid date '2024-02-30': no such date",
            ),
            ("after:24-01-01", 6, "invalid date '24-01-01'"),
            ("before:", 7, "missing value after 'before:'"),
            ("from:", 5, "missing value after 'from:'"),
            ("size>1Q", 5, "invalid size '1Q'"),
            ("size:1M", 0, "write size>N"),
            ("size=1M", 0, "write size>N"),
            ("has:pdf", 4, "unknown value 'pdf' for has:"),
            ("flag:red", 5, "unknown flag 'red'"),
            ("a \"b", 2, "unterminated phrase"),
            ("a*b", 1, "'*' is only allowed at the end of a word"),
            ("x*", 0, "prefix 'x*' is too short"),
            ("a - b", 2, "'-' has no letters or digits"),
            ("\"...\"", 0, "phrase has no letters or digits"),
            ("after:\"2024\"", 6, "'after:' takes a date"),
            (
                "from:(*)",
                6,
                "'*' alone cannot be used inside a field group",
            ),
            ("café zzz:x", 5, "unknown field 'zzz' (known:"),
        ];
        for (input, position, message) in cases {
            let error = err(input);
            assert_eq!(error.position, *position, "{input:?}: {error}");
            assert!(error.message.contains(message), "{input:?}: {error}");
        }
        assert_eq!(
            err("budget form:alice").to_string(),
            "at position 7: unknown field 'form' (did you mean 'from:'?)"
        );
    }

    #[test]
    fn limits_are_enforced() {
        let deep = format!("{}a{}", "(".repeat(40), ")".repeat(40));
        assert!(err(&deep).message.contains("nested too deeply"));
        let many = "a ".repeat(MAX_CLAUSES + 1);
        assert!(err(&many).message.contains("too many terms"));
        let long = "a".repeat(MAX_QUERY_CHARS + 1);
        assert!(err(&long).message.contains("query too long"));
        let nots = "NOT ".repeat(100) + "a";
        assert!(err(&nots).message.contains("nested too deeply"));
        // As deep as parsing allows, under an AND that precedence adds: refused, since
        // its canonical form `(NOT … a AND b)` would be one level too deep to parse.
        let under_and = format!("{}a b", "-".repeat(MAX_DEPTH));
        assert!(err(&under_and).message.contains("nested too deeply"));
        let within = format!("{}a b", "-".repeat(MAX_DEPTH - 1));
        let ast = parse_query(&within).expect("within the limit");
        assert_eq!(parse_query(&ast.to_string()).as_ref(), Ok(&ast));
    }

    #[test]
    fn display_round_trips() {
        for input in [
            r#"from:alice (budget OR "q3 \"plan\"") -has:attachment size>=10 during:2024-03 bud*"#,
            "NOT (a OR b) message-id:<x@y> flag:journal-report after:2020 before:2021-01-02",
            "mailbox:(a@b.c OR d.e) *",
        ] {
            let ast = parse_query(input).expect("parses");
            let printed = ast.to_string();
            assert_eq!(parse_query(&printed).expect("reparses"), ast, "{printed}");
        }
    }

    #[test]
    fn edit_distance_is_levenshtein() {
        assert_eq!(edit_distance("form", "from"), 2);
        assert_eq!(edit_distance("subjet", "subject"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2000))]

            #[test]
            fn never_panics_on_arbitrary_text(input in any::<String>()) {
                let _ = parse_query(&input);
            }

            #[test]
            fn never_panics_on_query_like_text(
                input in r#"([a-z]{0,6}(:|\*|>|<|=|-)?|"|\(|\)| |AND|OR|NOT|-|\\|[0-9./kMG]{0,5}|é|東京){0,24}"#
            ) {
                match parse_query(&input) {
                    Ok(ast) => {
                        let printed = ast.to_string();
                        let reparsed = parse_query(&printed);
                        prop_assert_eq!(reparsed.as_ref().ok(), Some(&ast), "printed: {}", printed);
                    }
                    Err(error) => {
                        prop_assert!(error.position <= input.chars().count());
                    }
                }
            }
        }
    }
}
