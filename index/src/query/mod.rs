//! The Coffer query language, as a pure parser: text in, [`QueryAst`] or a positioned
//! [`QueryError`] out. No index types appear here, so the language is tested without a
//! disk and the same parser serves the UI, the API and the command line.
//!
//! # The language
//!
//! | syntax | matches |
//! |---|---|
//! | `word` | the word in any default field: participants (addresses and names), subject, body, attachment text, attachment file names |
//! | `"exact phrase"` | the words consecutively, in one field (`\"` and `\\` escape inside) |
//! | `prefix*` | any word starting with `prefix` (at least 2 letters or digits) |
//! | `from:` `to:` `cc:` `bcc:` `envelope:` `participant:` | an address in that header (`bcc:` also covers envelope recipients absent from To and Cc; `envelope:` is the envelope recipient list; `participant:` is any of them, plus Sender and Delivered-To): whole (`alice@example.com`), local part or a piece of it (`alice`), domain, parent domain or domain label (`example.com`, `example`), or a display-name word |
//! | `subject:` `body:` `attachment:` `filename:` | that text field; also `field:"phrase"` and `field:prefix*` |
//! | `mailbox:` | an archive mailbox: an address, or a domain when there is no `@` |
//! | `message-id:` | the Message-ID, with or without `<>`, case-insensitive |
//! | `field:( ... )` | plain words in the group search that field (`from:(alice OR bob)`) |
//! | `has:attachment` | at least one attachment |
//! | `after:P` `before:P` `during:P` | the message date (Date header, else receive time), P = `2024`, `2024-03` or `2024-03-31` (UTC); `after:` is *on or after the start of P*, `before:` is *before the start of P* (see [`DateOp`]) |
//! | `size>1M` `size>=` `size<` `size<=` | size of the original message; units k, M, G are powers of 1024; `1.5M` allowed |
//! | `flag:NAME` | a message flag (`malformed`, `attachment-text-not-extracted`, ...) |
//! | `*` | every message |
//! | `a b`, `a AND b` | both; `AND` binds tighter than `OR` |
//! | `a OR b` | either |
//! | `NOT a`, `-a` | not `a` (also `-(...)`, `-from:x`, `-"phrase"`) |
//! | `( ... )` | grouping |
//!
//! Operators are uppercase (`and`/`or`/`not` are ordinary words); quote a word to
//! search for `AND` itself. Field names are case-insensitive. Matching is
//! case-insensitive and accent-insensitive (`café` = `cafe`); CJK text matches by
//! character sequence (`東京` finds `東京都`).
//!
//! # Edge cases, decided
//!
//! - **Negation is a complement.** `NOT x` is "every message in scope except those
//!   matching `x`", anywhere in the query, so a query made only of negations
//!   (`-newsletter`) is valid and returns the rest of the caller's scope.
//! - **Text with a `:`** is read as `field:value` when the part before the colon is
//!   made of letters and `-` (`10:30` stays a word). An unknown field is an error that
//!   suggests the closest field; quote the text to search for it literally
//!   (`"re:budget"`).
//! - A word with no letter or digit (`-`, `...`), an empty phrase, `()`, an empty query,
//!   a prefix of fewer than two characters, an invalid date (`2024-02-30`) and an
//!   unknown unit are errors, never a silent empty result.
//! - Limits: [`MAX_QUERY_CHARS`] characters, [`MAX_CLAUSES`] clauses, [`MAX_DEPTH`]
//!   levels of nesting.

mod ast;
mod error;
mod lexer;
mod parser;

pub use ast::{
    DateBounds, DateFilter, DateOp, Period, QueryAst, SizeFilter, SizeOp, TextField, TextKind,
    TextQuery,
};
pub use error::QueryError;
pub use parser::{MAX_CLAUSES, MAX_DEPTH, MAX_QUERY_CHARS, parse_query};
