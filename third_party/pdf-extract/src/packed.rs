#![cfg_attr(rustfmt, rustfmt::skip)] // Coffer: keep the crate's layout (see lib.rs).
//! Coffer: pointer-free copies of the glyph-name tables, made at compile time.
//!
//! Upstream keeps its glyph names as `&'static str` inside static tables (the glyph list
//! of `glyphnames.rs`, the core-font metrics of `core_fonts.rs`). In a position-independent
//! executable every such pointer is a relocation that the dynamic loader applies at every
//! start of the program, writing, and so copying, every page that holds one: these two
//! tables were about 200 KB of pointers, some 50 page faults in each run of the `coffer`
//! binary, whatever command it runs. The tables below hold the same names as bytes, copied
//! by `const fn` from upstream's tables, which stay as they were (as `const` items they are
//! only read by the compiler and never reach the binary).

use std::fmt;

/// A name of at most `W` bytes, stored inline.
#[derive(Clone, Copy)]
pub struct Name<const W: usize> {
    len: u8,
    bytes: [u8; W],
}

impl<const W: usize> Name<W> {
    const EMPTY: Self = Name { len: 0, bytes: [0; W] };

    /// Copies `s`; a name longer than `W` bytes fails the build (this runs in constants).
    pub const fn new(s: &str) -> Self {
        let b = s.as_bytes();
        assert!(b.len() <= W && b.len() <= u8::MAX as usize, "glyph name too long for its table");
        let mut bytes = [0u8; W];
        let mut i = 0;
        while i < b.len() {
            bytes[i] = b[i];
            i += 1;
        }
        Name { len: b.len() as u8, bytes }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }

    pub fn as_str(&self) -> &str {
        // Always succeeds: the bytes were copied whole from a `&str`.
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }
}

impl<const W: usize> fmt::Debug for Name<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// The longest name in `glyphnames.rs`.
pub const GLYPH_NAME_LEN: usize = 39;
/// The longest glyph name in `core_fonts.rs`.
pub const METRIC_NAME_LEN: usize = 14;

/// `glyphnames.rs`'s `(name, code)` table, names inline (same order).
pub const fn pack_codes<const N: usize>(table: &[(&str, u16); N]) -> [(Name<GLYPH_NAME_LEN>, u16); N] {
    let mut out = [(Name::EMPTY, 0u16); N];
    let mut i = 0;
    while i < N {
        out[i] = (Name::new(table[i].0), table[i].1);
        i += 1;
    }
    out
}

/// One font of `core_fonts.rs`: `(code, width, glyph name)`, names inline (same order).
pub const fn pack_metrics<const N: usize>(table: [(i64, f64, &str); N]) -> [(i64, f64, Name<METRIC_NAME_LEN>); N] {
    let mut out = [(0i64, 0f64, Name::EMPTY); N];
    let mut i = 0;
    while i < N {
        out[i] = (table[i].0, table[i].1, Name::new(table[i].2));
        i += 1;
    }
    out
}
