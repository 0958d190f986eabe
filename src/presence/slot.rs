//! One tracked id of a [`Presence`](super::Presence), as the timing wheel
//! links it.

use crate::wheel::{LOOSE, Links, NIL};

/// Bit of `next` that says the id is online.
const ONLINE: u32 = 0x8000_0000;

/// One tracked id. 32 bytes for a `u64` key: the key, two instants, and the
/// two links (whose spare bits carry the online flag and where the slot is).
pub(super) struct Slot<K> {
    pub(super) key: K,
    /// Server time of the last check-in, in ns.
    pub(super) last_seen: u64,
    /// Online: when the id came online. Offline: when it went offline.
    pub(super) aux: u64,
    /// Next slot in the same list (or free list), plus the `ONLINE` bit.
    next: u32,
    /// Previous slot, `HEAD + ring position`, `RUN`, `ZOMBIE`, `FREE` or
    /// `LOOSE`.
    pub(super) prev: u32,
}

impl<K> Slot<K> {
    pub(super) fn new(key: K, now: u64) -> Self {
        Slot {
            key,
            last_seen: now,
            aux: now,
            next: ONLINE | NIL,
            prev: LOOSE,
        }
    }

    pub(super) fn is_online(&self) -> bool {
        self.next & ONLINE != 0
    }

    pub(super) fn set_online(&mut self, online: bool) {
        self.next = (self.next & !ONLINE) | if online { ONLINE } else { 0 };
    }
}

impl<K> Links for Slot<K> {
    fn next(&self) -> u32 {
        self.next & !ONLINE
    }

    fn set_next(&mut self, next: u32) {
        self.next = (self.next & ONLINE) | next;
    }

    fn prev(&self) -> u32 {
        self.prev
    }

    fn set_prev(&mut self, prev: u32) {
        self.prev = prev;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_flags_do_not_disturb_links() {
        let mut slot = Slot::new(7u8, 5);
        assert!(slot.is_online());
        slot.set_next(12);
        slot.set_online(false);
        assert_eq!(slot.next(), 12);
        assert!(!slot.is_online());
        slot.set_online(true);
        slot.set_next(NIL);
        assert!(slot.is_online());
        assert_eq!(slot.next(), NIL);
        assert_eq!(core::mem::size_of::<Slot<u64>>(), 32);
    }
}
