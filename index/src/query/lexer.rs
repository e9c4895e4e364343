//! Splits query text into tokens (words, phrases, parentheses, operators), keeping the
//! character position of each so errors can point at the exact spot.

use super::error::QueryError;

/// One lexical token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tok {
    /// `(`
    LParen,
    /// `)`
    RParen,
    /// `-` directly in front of a term.
    Minus,
    /// `AND`
    And,
    /// `OR`
    Or,
    /// `NOT`
    Not,
    /// A quoted phrase, unescaped.
    Phrase(String),
    /// Any other run of characters.
    Word(String),
}

/// A token and its character span `[start, end)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    pub(crate) tok: Tok,
    pub(crate) start: usize,
    pub(crate) end: usize,
}

fn ends_word(c: char) -> bool {
    c.is_whitespace() || c == '(' || c == ')' || c == '"'
}

/// Tokenizes `chars`. Fails only on an unterminated phrase.
pub(crate) fn lex(chars: &[char]) -> Result<Vec<Token>, QueryError> {
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        match c {
            '(' => {
                tokens.push(Token {
                    tok: Tok::LParen,
                    start,
                    end: i + 1,
                });
                i += 1;
            }
            ')' => {
                tokens.push(Token {
                    tok: Tok::RParen,
                    start,
                    end: i + 1,
                });
                i += 1;
            }
            '"' => {
                i += 1;
                let mut text = String::new();
                let mut closed = false;
                while i < chars.len() {
                    match chars[i] {
                        '\\' if matches!(chars.get(i + 1), Some('"') | Some('\\')) => {
                            text.push(chars[i + 1]);
                            i += 2;
                        }
                        '"' => {
                            closed = true;
                            i += 1;
                            break;
                        }
                        other => {
                            text.push(other);
                            i += 1;
                        }
                    }
                }
                if !closed {
                    return Err(QueryError::new(
                        start,
                        "unterminated phrase: missing closing '\"'",
                    ));
                }
                tokens.push(Token {
                    tok: Tok::Phrase(text),
                    start,
                    end: i,
                });
            }
            '-' if chars.get(i + 1).is_some_and(|next| !next.is_whitespace()) => {
                tokens.push(Token {
                    tok: Tok::Minus,
                    start,
                    end: i + 1,
                });
                i += 1;
            }
            _ => {
                let mut text = String::new();
                while i < chars.len() && !ends_word(chars[i]) {
                    text.push(chars[i]);
                    i += 1;
                }
                let tok = match text.as_str() {
                    "AND" => Tok::And,
                    "OR" => Tok::Or,
                    "NOT" => Tok::Not,
                    _ => Tok::Word(text),
                };
                tokens.push(Token { tok, start, end: i });
            }
        }
    }
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(input: &str) -> Vec<Tok> {
        let chars: Vec<char> = input.chars().collect();
        lex(&chars)
            .expect("lexes")
            .into_iter()
            .map(|t| t.tok)
            .collect()
    }

    #[test]
    fn splits_words_phrases_and_operators() {
        assert_eq!(
            toks(r#"from:"a \"b\"" -(x OR y) NOT z"#),
            vec![
                Tok::Word("from:".into()),
                Tok::Phrase("a \"b\"".into()),
                Tok::Minus,
                Tok::LParen,
                Tok::Word("x".into()),
                Tok::Or,
                Tok::Word("y".into()),
                Tok::RParen,
                Tok::Not,
                Tok::Word("z".into()),
            ]
        );
        assert_eq!(
            toks("a - b"),
            vec![
                Tok::Word("a".into()),
                Tok::Word("-".into()),
                Tok::Word("b".into())
            ]
        );
        assert_eq!(
            toks("or and"),
            vec![Tok::Word("or".into()), Tok::Word("and".into())]
        );
    }

    #[test]
    fn positions_are_character_offsets() {
        let chars: Vec<char> = "café \"x".chars().collect();
        let err = lex(&chars).expect_err("unterminated");
        assert_eq!(err.position, 5);
    }
}
