//! The seed corpus of `scripts/fuzz`: the crates' `fuzzing::` unit tests run every fuzz
//! target's body over its seeds on each `cargo test`, and write those seeds for the
//! fuzzer through this one function when `scripts/fuzz` asks for them.

use std::path::Path;

/// Writes `seeds` to `$COFFER_FUZZ_SEEDS/<target>/seed-NNNN` when that variable is set
/// (`scripts/fuzz --seeds` sets it); does nothing otherwise.
pub fn write(target: &str, seeds: &[Vec<u8>]) {
    let Some(root) = std::env::var_os("COFFER_FUZZ_SEEDS") else {
        return;
    };
    let dir = Path::new(&root).join(target);
    std::fs::create_dir_all(&dir).expect("seed directory");
    for (index, seed) in seeds.iter().enumerate() {
        std::fs::write(dir.join(format!("seed-{index:04}")), seed).expect("write seed");
    }
}
