//! The one seeded pseudo-random generator of Coffer's tests and benchmarks: SplitMix64
//! (Steele, Lea and Flood, "Fast splittable pseudorandom number generators", 2014).
//!
//! Small, fast and deterministic, with no global state: the same seed always gives the
//! same sequence, on every platform, so generated corpora, mailboxes and random queries
//! are reproducible from their seed alone. Not for anything that needs unpredictability.
//!
//! Every helper draws from [`SplitMix64::next_u64`] in a fixed way (documented on each),
//! and generators depend on that: changing how a helper draws changes every corpus and
//! every benchmark figure measured on one.

/// A SplitMix64 generator. Its state is the seed itself: `new(s)` starts where the
/// corpus generators of earlier versions started, so their output is unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (one draw, modulo `n`); 0 without a draw when `n` is 0.
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        // `n` fits in u64 and the remainder is below `n`: neither cast loses anything.
        (self.next_u64() % n as u64) as usize
    }

    /// A number in `low..=high` ([`below`](Self::below) of the width); `low` when
    /// `high < low`.
    pub fn range(&mut self, low: usize, high: usize) -> usize {
        low + self.below(high.saturating_sub(low) + 1)
    }

    /// One item of a non-empty slice ([`below`](Self::below) of its length).
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// True with probability `percent` / 100, by an integer draw: `below(100) < percent`.
    pub fn percent(&mut self, percent: u64) -> bool {
        (self.below(100) as u64) < percent
    }

    /// A uniform number in `[0, 1)` from the top 53 bits of one draw.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True with probability `percent` / 100 (fractions allowed), by a real draw:
    /// `unit() * 100 < percent`.
    pub fn chance(&mut self, percent: f64) -> bool {
        self.unit() * 100.0 < percent
    }

    /// A standard normal deviate (Box–Muller, two draws).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.unit().max(1e-12);
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    /// Fills `out` with random bytes: one draw per 8 bytes, little-endian.
    pub fn fill(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_sequence() {
        // The reference outputs of splitmix64 seeded with 0 (Vigna's splitmix64.c).
        let mut rng = SplitMix64::new(0);
        assert_eq!(rng.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(rng.next_u64(), 0x6E78_9E6A_A1B9_65F4);
        assert_eq!(rng.next_u64(), 0x06C4_5D18_8009_454F);
    }

    #[test]
    fn helpers_stay_in_range() {
        let mut rng = SplitMix64::new(42);
        assert_eq!(rng.below(0), 0);
        for _ in 0..1000 {
            assert!(rng.below(7) < 7);
            assert!((3..=5).contains(&rng.range(3, 5)));
            let u = rng.unit();
            assert!((0.0..1.0).contains(&u));
        }
        assert!(!rng.percent(0));
        assert!(rng.percent(100));
        let mut bytes = [0u8; 13];
        rng.fill(&mut bytes);
        assert!(bytes.iter().any(|b| *b != 0));
    }
}
