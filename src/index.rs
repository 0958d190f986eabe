//! A compact hash index: open addressing over slot numbers, with one tag
//! byte per position matched eight at a time.
//!
//! Why not `std::collections::HashMap<K, Entry>`? The timing wheel links
//! entries to each other by a stable number, and a `HashMap` moves its
//! entries when it grows. Keeping `HashMap<K, u32>` next to a slot array
//! would store every key twice. Here the key lives once, in its slot; the
//! index holds, per table position, a tag byte (7 bits of the hash, or 0 for
//! empty) and a 4-byte slot number. The tags of 8 positions are compared in
//! one `u64` (SWAR, like `hashbrown`'s portable groups), so a lookup usually
//! touches exactly one slot, and the tag array (1 byte per position) stays
//! in cache far longer than the slots do.
//!
//! Linear probing, a load factor of at most 7/8 (like `hashbrown`, so both
//! tables have the same number of positions for the same number of keys),
//! and backward-shift deletion, so no tombstones accumulate. Growing and
//! deleting need the hash of other entries; the caller supplies it.

use std::vec::Vec;

/// Fibonacci hashing constant: spreads the hash over the table, which also
/// tames weak hashers whose low bits are poor.
const FIB: u64 = 0x9E37_79B9_7F4A_7C15;
/// Positions compared at once.
const GROUP: usize = 8;
/// The smallest table that is allocated.
const MIN_POSITIONS: usize = 8;

const LSB: u64 = 0x0101_0101_0101_0101;
const MSB: u64 = 0x8080_8080_8080_8080;

/// The tag stored for `hash`: its top 7 bits, with the high bit set so that
/// 0 can mean "empty".
#[inline]
fn tag(hash: u64) -> u8 {
    (hash >> 57) as u8 | 0x80
}

/// High bit of each byte of `group` that equals `byte` (exact: no false
/// positives).
#[inline]
fn match_byte(group: u64, byte: u8) -> u64 {
    let x = group ^ (LSB * u64::from(byte));
    !(((x & !MSB) + !MSB) | x | !MSB)
}

/// High bit of each empty byte (tags always have their high bit set).
#[inline]
fn match_empty(group: u64) -> u64 {
    !group & MSB
}

pub(crate) struct Index {
    /// One tag per position, then a copy of the first `GROUP` tags so that a
    /// group read near the end wraps around.
    tags: Vec<u8>,
    /// Slot number per position (meaningless where the tag is 0).
    slots: Vec<u32>,
    /// `log2(positions)`, meaningless while nothing is allocated.
    bits: u32,
    len: usize,
}

impl Index {
    pub(crate) const fn new() -> Self {
        Index {
            tags: Vec::new(),
            slots: Vec::new(),
            bits: 0,
            len: 0,
        }
    }

    /// Number of keys indexed.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Number of table positions.
    #[cfg(test)]
    pub(crate) fn positions(&self) -> usize {
        self.slots.len()
    }

    #[inline]
    fn mask(&self) -> usize {
        self.slots.len() - 1
    }

    /// Where probing for `hash` starts. Only while allocated.
    #[inline]
    fn home(&self, hash: u64) -> usize {
        (hash.wrapping_mul(FIB) >> (64 - self.bits)) as usize
    }

    /// The tags of positions `pos..pos + GROUP` (wrapping), lowest first.
    #[inline]
    fn group(&self, pos: usize) -> u64 {
        // `tags` has `GROUP` bytes past the last position: never `None`.
        let bytes = self.tags[pos..]
            .first_chunk::<GROUP>()
            .unwrap_or(&[0; GROUP]);
        u64::from_le_bytes(*bytes)
    }

    fn set_tag(&mut self, pos: usize, tag: u8) {
        self.tags[pos] = tag;
        if pos < GROUP {
            let positions = self.slots.len();
            self.tags[positions + pos] = tag;
        }
    }

    /// The slot whose key matches: `is_key(slot)` is asked only for slots
    /// whose tag matches `hash`'s.
    #[inline]
    pub(crate) fn find(&self, hash: u64, mut is_key: impl FnMut(u32) -> bool) -> Option<u32> {
        if self.len == 0 {
            return None;
        }
        let (home, tag) = (self.home(hash), tag(hash));
        // Fast path: most keys sit at their home position (3 in 4 at the
        // load `hashbrown` has at 1M keys).
        if self.tags[home] == tag {
            let slot = self.slots[home];
            if is_key(slot) {
                return Some(slot);
            }
        }
        self.probe(home, tag, is_key)
    }

    /// The rest of the probe sequence from `home`, whose own position has
    /// been checked already.
    #[inline(never)]
    fn probe(&self, home: usize, tag: u8, mut is_key: impl FnMut(u32) -> bool) -> Option<u32> {
        let mask = self.mask();
        let mut pos = home;
        let mut skip = !0x80; // position `home` itself
        loop {
            let group = self.group(pos);
            let empty = match_empty(group);
            // Linear probing: only positions before the first empty one.
            let mut hits = match_byte(group, tag) & empty.wrapping_sub(1) & !empty & skip;
            while hits != 0 {
                let slot = self.slots[(pos + hits.trailing_zeros() as usize / 8) & mask];
                if is_key(slot) {
                    return Some(slot);
                }
                hits &= hits - 1;
            }
            if empty != 0 {
                return None;
            }
            skip = !0;
            pos = (pos + GROUP) & mask;
        }
    }

    /// The first empty position at or after `home`, following the probe.
    fn first_empty(&self, home: usize) -> usize {
        let mask = self.mask();
        let mut pos = home;
        loop {
            let empty = match_empty(self.group(pos));
            if empty != 0 {
                return (pos + empty.trailing_zeros() as usize / 8) & mask;
            }
            pos = (pos + GROUP) & mask;
        }
    }

    /// Indexes `slot` under `hash`. The caller has checked that the key is
    /// not indexed yet; `hash_of(slot)` gives the hash of any indexed slot
    /// (needed when the table grows).
    pub(crate) fn insert(&mut self, hash: u64, slot: u32, hash_of: impl Fn(u32) -> u64) {
        if (self.len + 1) * 8 > self.slots.len() * 7 {
            self.grow(hash_of);
        }
        self.place(hash, slot);
        self.len += 1;
    }

    fn place(&mut self, hash: u64, slot: u32) {
        let pos = self.first_empty(self.home(hash));
        self.set_tag(pos, tag(hash));
        self.slots[pos] = slot;
    }

    fn grow(&mut self, hash_of: impl Fn(u32) -> u64) {
        let positions = (self.slots.len() * 2).max(MIN_POSITIONS);
        let old_tags = core::mem::replace(&mut self.tags, std::vec![0; positions + GROUP]);
        let old_slots = core::mem::replace(&mut self.slots, std::vec![0; positions]);
        self.bits = positions.trailing_zeros();
        for (&t, &slot) in old_tags.iter().zip(&old_slots) {
            if t != 0 {
                self.place(hash_of(slot), slot);
            }
        }
    }

    /// Removes `slot`, indexed under `hash`; `hash_of` as for `insert`.
    pub(crate) fn remove(&mut self, hash: u64, slot: u32, hash_of: impl Fn(u32) -> u64) {
        if self.len == 0 {
            return;
        }
        let mask = self.mask();
        let mut hole = self.home(hash);
        loop {
            if self.tags[hole] == 0 {
                return; // not indexed: nothing to do
            }
            if self.slots[hole] == slot {
                break;
            }
            hole = (hole + 1) & mask;
        }
        // Backward-shift deletion (Knuth's Algorithm R): move later entries
        // of the cluster into the hole unless their home lies cyclically in
        // (hole, pos], where they already are as early as they can be.
        let mut pos = hole;
        loop {
            pos = (pos + 1) & mask;
            let t = self.tags[pos];
            if t == 0 {
                break;
            }
            let home = self.home(hash_of(self.slots[pos]));
            let stays = if hole <= pos {
                hole < home && home <= pos
            } else {
                hole < home || home <= pos
            };
            if !stays {
                self.set_tag(hole, t);
                self.slots[hole] = self.slots[pos];
                hole = pos;
            }
        }
        self.set_tag(hole, 0);
        self.len -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// A weak hash with many collisions (same home, same tag), to exercise
    /// clusters, groups and wrap-around.
    fn weak(slot: u32) -> u64 {
        u64::from(slot % 7) << 58
    }

    fn good(slot: u32) -> u64 {
        u64::from(slot)
            .wrapping_mul(FIB)
            .rotate_left(29)
            .wrapping_mul(FIB)
    }

    fn check(hash: fn(u32) -> u64) {
        let mut index = Index::new();
        let mut model: HashMap<u32, ()> = HashMap::new();
        let mut x: u64 = 1;
        for step in 0..20_000u32 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let key = (x >> 33) as u32 % 300;
            let found = index.find(hash(key), |slot| slot == key);
            assert_eq!(found.is_some(), model.contains_key(&key), "step {step}");
            if found.is_some() && x & 1 == 0 {
                index.remove(hash(key), key, hash);
                model.remove(&key);
            } else if found.is_none() {
                index.insert(hash(key), key, hash);
                model.insert(key, ());
            }
            assert_eq!(index.len(), model.len());
        }
        for key in 0..300 {
            let found = index.find(hash(key), |s| s == key);
            assert_eq!(found.is_some(), model.contains_key(&key));
        }
    }

    #[test]
    fn insert_find_remove_agree_with_a_map() {
        check(weak);
        check(good);
    }

    #[test]
    fn swar_matching_is_exact() {
        let group = u64::from_le_bytes([0x80, 0x00, 0x81, 0x80, 0xFF, 0x00, 0x80, 0x01]);
        assert_eq!(match_byte(group, 0x80), 0x0080_0000_8000_0080);
        assert_eq!(match_byte(group, 0x00), 0x0000_8000_0000_8000);
        assert_eq!(match_byte(group, 0xFF), 0x0000_0080_0000_0000);
        assert_eq!(match_empty(group), 0x8000_8000_0000_8000);
    }

    #[test]
    fn grows_at_seven_eighths_like_hashbrown() {
        let mut index = Index::new();
        for key in 0..1000u32 {
            index.insert(good(key), key, good);
        }
        // hashbrown: 1000 * 8 / 7 -> 2048 buckets.
        assert_eq!(index.positions(), 2048);
        for key in 0..1000u32 {
            assert_eq!(index.find(good(key), |s| s == key), Some(key));
        }
    }

    #[test]
    fn removing_what_is_not_there_is_a_no_op() {
        let mut index = Index::new();
        index.remove(good(3), 3, good);
        assert_eq!(index.find(good(3), |_| true), None);
        index.insert(good(3), 3, good);
        index.remove(good(3), 4, good);
        assert_eq!(index.len(), 1);
    }
}
