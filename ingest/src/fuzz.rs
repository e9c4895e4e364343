//! Test support shared by the parsers' proptests (mbox splitting, journal reports, message
//! documents): inputs built from the pieces that matter to a parser, mixed with random
//! bytes, so that the deep states are reached and not only the first rejection.

use proptest::prelude::*;

/// `head`, then up to `max_pieces` pieces, each one of `pieces` or, as often as any one
/// of them, up to `max_junk` random bytes.
pub(crate) fn pieces_after(
    head: &'static [u8],
    pieces: &'static [&'static [u8]],
    max_pieces: usize,
    max_junk: usize,
) -> impl Strategy<Value = Vec<u8>> {
    let weight = u32::try_from(pieces.len()).unwrap_or(u32::MAX);
    let piece = prop_oneof![
        weight => proptest::sample::select(pieces).prop_map(<[u8]>::to_vec),
        1 => proptest::collection::vec(any::<u8>(), 0..max_junk),
    ];
    proptest::collection::vec(piece, 0..max_pieces)
        .prop_map(move |pieces| [head, &pieces.concat()].concat())
}

/// The parsers' proptest configuration: failures are turned into named regression
/// tests, not persisted files.
pub(crate) fn config() -> ProptestConfig {
    ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}
