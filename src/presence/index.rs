//! A compact hash index: open addressing over `u64` words that point into
//! the slot array.
//!
//! Why not `std::collections::HashMap<K, Entry>`? The timing wheel needs to
//! link entries to each other by a stable number, and a `HashMap` moves its
//! entries when it grows. Keeping `HashMap<K, u32>` next to a slot array would
//! store every key twice. Here the key lives once, in its slot, and the index
//! holds one word per table position: the upper 32 bits are a fragment of the
//! key's hash (so a probe compares keys only when the fragments match), the
//! lower 32 bits are the slot number plus one (zero marks an empty position).
//!
//! Linear probing, a load factor of at most 7/8 (like `hashbrown`, so the two
//! tables have the same number of positions for the same number of keys), and
//! backward-shift deletion, so no tombstones accumulate.

use std::vec::Vec;

/// Fibonacci hashing constant: spreads the 32-bit fragment over the table,
/// which also tames weak hashers whose low bits are poor.
const FIB: u64 = 0x9E37_79B9_7F4A_7C15;

/// The smallest table that is allocated.
const MIN_POSITIONS: usize = 8;

/// Folds a 64-bit hash into the 32-bit fragment the index stores.
pub(super) fn fragment(hash: u64) -> u32 {
    (hash ^ (hash >> 32)) as u32
}

pub(super) struct Index {
    /// `(fragment << 32) | (slot + 1)`, or 0 for an empty position.
    words: Vec<u64>,
    /// `log2(words.len())`, meaningless while `words` is empty.
    bits: u32,
    len: usize,
}

impl Index {
    pub(super) const fn new() -> Self {
        Index {
            words: Vec::new(),
            bits: 0,
            len: 0,
        }
    }

    /// Number of keys indexed.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Bytes of table this index holds (for documentation and tests).
    #[cfg(test)]
    pub(super) fn positions(&self) -> usize {
        self.words.len()
    }

    fn mask(&self) -> usize {
        self.words.len() - 1
    }

    /// The position where probing for `fragment` starts. Only called while
    /// the table is allocated (`bits >= 3`).
    fn home(&self, fragment: u32) -> usize {
        ((u64::from(fragment).wrapping_mul(FIB)) >> (64 - self.bits)) as usize
    }

    /// The slot whose key matches: `is_key(slot)` is asked only for slots
    /// whose hash fragment equals `fragment`.
    pub(super) fn find(&self, fragment: u32, mut is_key: impl FnMut(u32) -> bool) -> Option<u32> {
        if self.words.is_empty() {
            return None;
        }
        let mask = self.mask();
        let mut pos = self.home(fragment);
        loop {
            let word = self.words[pos];
            if word == 0 {
                return None;
            }
            if (word >> 32) as u32 == fragment {
                let slot = (word as u32).wrapping_sub(1);
                if is_key(slot) {
                    return Some(slot);
                }
            }
            pos = (pos + 1) & mask;
        }
    }

    /// Indexes `slot` under `fragment`. The caller has checked that the key
    /// is not indexed yet.
    pub(super) fn insert(&mut self, fragment: u32, slot: u32) {
        if (self.len + 1) * 8 > self.words.len() * 7 {
            self.grow();
        }
        let word = (u64::from(fragment) << 32) | u64::from(slot + 1);
        self.place(word);
        self.len += 1;
    }

    /// Writes `word` at the first empty position of its probe sequence.
    fn place(&mut self, word: u64) {
        let mask = self.mask();
        let mut pos = self.home((word >> 32) as u32);
        while self.words[pos] != 0 {
            pos = (pos + 1) & mask;
        }
        self.words[pos] = word;
    }

    fn grow(&mut self) {
        let positions = (self.words.len() * 2).max(MIN_POSITIONS);
        let old = core::mem::replace(&mut self.words, std::vec![0; positions]);
        self.bits = positions.trailing_zeros();
        for word in old.into_iter().filter(|&w| w != 0) {
            self.place(word);
        }
    }

    /// Removes `slot`, which must be indexed under `fragment`.
    pub(super) fn remove(&mut self, fragment: u32, slot: u32) {
        if self.words.is_empty() {
            return;
        }
        let target = (u64::from(fragment) << 32) | u64::from(slot + 1);
        let mask = self.mask();
        let mut hole = self.home(fragment);
        loop {
            match self.words[hole] {
                0 => return, // not indexed: nothing to do
                w if w == target => break,
                _ => hole = (hole + 1) & mask,
            }
        }
        // Backward-shift deletion (Knuth's Algorithm R): move later words of
        // the cluster into the hole unless their home lies cyclically in
        // (hole, pos], where they already are as early as they can be.
        let mut pos = hole;
        loop {
            pos = (pos + 1) & mask;
            let word = self.words[pos];
            if word == 0 {
                break;
            }
            let home = self.home((word >> 32) as u32);
            let stays = if hole <= pos {
                hole < home && home <= pos
            } else {
                hole < home || home <= pos
            };
            if !stays {
                self.words[hole] = word;
                hole = pos;
            }
        }
        self.words[hole] = 0;
        self.len -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// A deterministic fragment with many collisions, to exercise clusters
    /// and wrap-around.
    fn frag(key: u32) -> u32 {
        key % 7
    }

    #[test]
    fn insert_find_remove_agree_with_a_map() {
        let mut index = Index::new();
        let mut model: HashMap<u32, u32> = HashMap::new();
        let mut x: u64 = 1;
        for step in 0..20_000u32 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let key = (x >> 33) as u32 % 300;
            let found = index.find(frag(key), |slot| slot == key);
            assert_eq!(found, model.get(&key).copied(), "step {step}");
            if found.is_some() && x & 1 == 0 {
                index.remove(frag(key), key);
                model.remove(&key);
            } else if found.is_none() {
                index.insert(frag(key), key);
                model.insert(key, key);
            }
            assert_eq!(index.len(), model.len());
        }
        for key in 0..300 {
            assert_eq!(index.find(frag(key), |s| s == key), model.get(&key).copied());
        }
    }

    #[test]
    fn grows_at_seven_eighths_like_hashbrown() {
        let mut index = Index::new();
        for key in 0..1000u32 {
            index.insert(fragment(u64::from(key).wrapping_mul(FIB)), key);
        }
        // hashbrown: 1000 * 8 / 7 -> 2048 buckets.
        assert_eq!(index.positions(), 2048);
        for key in 0..1000u32 {
            let f = fragment(u64::from(key).wrapping_mul(FIB));
            assert_eq!(index.find(f, |s| s == key), Some(key));
        }
    }

    #[test]
    fn removing_from_an_empty_index_is_a_no_op() {
        let mut index = Index::new();
        index.remove(3, 3);
        assert_eq!(index.find(3, |_| true), None);
        index.insert(3, 3);
        index.remove(3, 4);
        assert_eq!(index.len(), 1);
    }
}
