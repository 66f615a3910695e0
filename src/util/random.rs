//! The one source of random numbers: xorshift64 seeded from the standard library's randomly
//! keyed hasher. Good enough to spread calls over keys and to make tokens nobody can guess
//! from outside the machine; no dependency needed.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

/// A small generator; each one starts from a fresh random seed.
#[derive(Debug, Clone)]
pub(crate) struct Random(u64);

impl Random {
    pub(crate) fn new() -> Random {
        Random(fresh_seed() | 1)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number in `0..n` (`n` above zero).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

impl Default for Random {
    fn default() -> Random {
        Random::new()
    }
}

fn fresh_seed() -> u64 {
    RandomState::new().build_hasher().finish()
}

/// 32 hex digits from fresh seeds, for tokens that must not be guessed.
pub(crate) fn token() -> String {
    format!("{:016x}{:016x}", fresh_seed(), fresh_seed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_and_differ() {
        let (a, b) = (token(), token());
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
    }

    #[test]
    fn numbers_spread_over_the_range() {
        let mut r = Random::new();
        let mut seen = [0; 3];
        for _ in 0..300 {
            seen[r.below(3)] += 1;
        }
        assert!(seen.iter().all(|&n| n > 50), "{seen:?}");
    }
}
