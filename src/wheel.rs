//! The timing wheel: coarse buckets of deadlines with a lazy re-check,
//! shared by [`Presence`](crate::Presence) (one deadline per id: going
//! offline, then being forgotten) and [`Sessions`](crate::Sessions) (one
//! deadline per connection: ping, close, abort).
//!
//! The wheel does not store deadlines: it asks the owner for a slot's
//! current one (`pop`'s `deadline`), so an owner that only moves deadlines
//! *later* (a check-in, an inbound frame) writes one number and leaves the
//! wheel alone. Each slot sits in exactly one place:
//!
//! * a **bucket list**: doubly linked through the slots themselves (no
//!   allocation per id), one list per bucket of width `W = 2^shift` ns, in a
//!   ring of `N` lists that covers the next `N·W` of time. The bucket an id
//!   is filed under is a *lower bound* of its deadline: a check-in that moves
//!   the deadline later does **not** touch the wheel; the id is re-filed
//!   lazily when its old bucket comes due. So an id that checks in every few
//!   seconds costs one re-filing per bucket it outlives, not one per check-in.
//!   Deadlines past the ring's reach are filed in its last bucket and moved
//!   on when that comes due.
//! * the **run**: once `now` reaches a bucket, that bucket's ids move into a
//!   binary heap keyed by their real deadline (read at that moment), and are
//!   popped in deadline order. That is what makes reports exact to the
//!   nanosecond although buckets are coarse. A key in the run stays a lower
//!   bound: check-ins only move deadlines later, and the owner keeps the
//!   bucket width no larger than any interval by which it moves a deadline
//!   earlier, so a state change while in the run never moves a deadline
//!   below its key.
//!
//! State changes that move a deadline *earlier* (an offline id comes back, an
//! online id checks out) unlink the slot from its list in O(1) and file it
//! again; inside the run they are left for the run to sort out.
//!
//! Costs: filing and unlinking are O(1); `pop` is O(1) per id it re-files or
//! returns plus O(log run) for the heap, and O(1) when nothing is due.

use core::cmp::Reverse;
use std::collections::BinaryHeap;
use std::vec::Vec;

/// "No slot" in `next` and in list heads.
pub(crate) const NIL: u32 = 0x7FFF_FFFF;
/// Highest slot number plus one (slot numbers fit in 30 bits).
pub(crate) const MAX_SLOTS: usize = 1 << 30;
/// `prev` values from `HEAD` to `HEAD + 0xFFFF`: first in the list of ring
/// position `prev - HEAD`.
const HEAD: u32 = 0x4000_0000;
/// `prev`: in the run.
pub(crate) const RUN: u32 = 0xFFFF_FFF0;
/// `prev`: in the run, but already removed from the index (forgotten while
/// the run still held it); freed when the run pops it.
pub(crate) const ZOMBIE: u32 = 0xFFFF_FFF1;
/// `prev`: on the free list (`next` links free slots).
pub(crate) const FREE: u32 = 0xFFFF_FFF2;
/// `prev`: not filed anywhere (between being popped and filed again).
pub(crate) const LOOSE: u32 = 0xFFFF_FFF3;
/// At most this many ring positions (`HEAD` leaves 16 bits for them).
const MAX_RING: usize = 1 << 16;
/// At least this many ring positions (one word of the occupancy bitmap).
const MIN_RING: usize = 64;
/// After a large run drains, keep at most this much heap capacity.
const RUN_KEEP: usize = 4096;

/// What the wheel needs of a slot: two links it owns. `next` chains a
/// bucket's list; `prev` is the previous slot, or says where the slot is
/// (`HEAD + ring position`, [`RUN`], [`ZOMBIE`], [`FREE`], [`LOOSE`]). An
/// owner may keep flags in spare bits as long as these methods hide them.
pub(crate) trait Links {
    /// The next slot in the same list, or [`NIL`].
    fn next(&self) -> u32;
    /// Sets the next slot, leaving any flags of the owner alone.
    fn set_next(&mut self, next: u32);
    /// The previous slot, or where the slot is.
    fn prev(&self) -> u32;
    /// Sets `prev`.
    fn set_prev(&mut self, prev: u32);
    /// Whether the run holds this slot.
    fn in_run(&self) -> bool {
        self.prev() == RUN
    }
}

pub(crate) struct Wheel {
    /// Bucket width is `1 << shift` ns; bucket of `t` is `t >> shift`.
    shift: u32,
    /// First slot of each ring position's list, or `NIL`.
    heads: Vec<u32>,
    /// One bit per ring position: its list is not empty.
    occupied: Vec<u64>,
    /// First bucket not yet moved into the run. Lists hold buckets in
    /// `[next, next + N)`, each at ring position `bucket % N`; the run holds
    /// ids whose deadline lies in a bucket before `next`.
    next: u64,
    /// `(deadline, slot)`, smallest deadline first.
    run: BinaryHeap<Reverse<(u64, u32)>>,
    /// A lower bound of the earliest moment `pop` has work, or `None` when
    /// the wheel is empty.
    due: Option<u64>,
}

impl Wheel {
    /// A wheel of buckets `2^shift` ns wide (`shift` is clamped to 1..=32)
    /// that reaches at least `reach` ns ahead when it can (ring size clamped
    /// to 64..=65536 positions).
    pub(crate) fn new(shift: u32, reach: u64) -> Self {
        let shift = shift.clamp(1, 32);
        let buckets = (reach >> shift).saturating_add(2);
        let ring = usize::try_from(buckets)
            .unwrap_or(MAX_RING)
            .clamp(MIN_RING, MAX_RING)
            .next_power_of_two();
        Wheel {
            shift,
            heads: std::vec![NIL; ring],
            occupied: std::vec![0; ring / 64],
            next: 0,
            run: BinaryHeap::new(),
            due: None,
        }
    }

    /// Bucket width in ns.
    #[cfg(test)]
    pub(crate) fn width(&self) -> u64 {
        1 << self.shift
    }

    /// Number of ring positions.
    #[cfg(test)]
    pub(crate) fn ring(&self) -> usize {
        self.heads.len()
    }

    /// The last bucket number an instant can fall in.
    fn last_bucket(&self) -> u64 {
        u64::MAX >> self.shift
    }

    /// A lower bound of the earliest moment [`pop`](Wheel::pop) has work.
    pub(crate) fn due(&self) -> Option<u64> {
        self.due
    }

    /// Whether `pop(now)` could return anything: the O(1) fast path.
    pub(crate) fn is_due(&self, now: u64) -> bool {
        matches!(self.due, Some(due) if due <= now)
    }

    fn lower_due(&mut self, t: u64) {
        self.due = Some(self.due.map_or(t, |due| due.min(t)));
    }

    /// Files `slot` under `deadline`. The slot must not be filed anywhere.
    pub(crate) fn file<T: Links>(&mut self, slots: &mut [T], slot: u32, deadline: u64) {
        let bucket = deadline >> self.shift;
        if bucket < self.next {
            self.run.push(Reverse((deadline, slot)));
            slots[slot as usize].set_prev(RUN);
            self.lower_due(deadline);
            return;
        }
        let reach = self.next.saturating_add(self.heads.len() as u64 - 1);
        let bucket = bucket.min(reach);
        let pos = (bucket as usize) & (self.heads.len() - 1);
        let head = self.heads[pos];
        let s = &mut slots[slot as usize];
        s.set_next(head);
        s.set_prev(HEAD + pos as u32);
        if head != NIL {
            slots[head as usize].set_prev(slot);
        }
        self.heads[pos] = slot;
        self.occupied[pos / 64] |= 1 << (pos % 64);
        self.lower_due(bucket << self.shift);
    }

    /// Takes `slot` out of its list. Returns `false` (and does nothing) if
    /// the slot is not in a list, e.g. it is in the run.
    pub(crate) fn unlink<T: Links>(&mut self, slots: &mut [T], slot: u32) -> bool {
        let s = &slots[slot as usize];
        let (prev, next) = (s.prev(), s.next());
        if prev < HEAD {
            slots[prev as usize].set_next(next);
        } else if prev < RUN {
            let pos = (prev - HEAD) as usize;
            self.heads[pos] = next;
            if next == NIL {
                self.occupied[pos / 64] &= !(1 << (pos % 64));
            }
        } else {
            return false;
        }
        if next != NIL {
            slots[next as usize].set_prev(prev);
        }
        let s = &mut slots[slot as usize];
        s.set_next(NIL);
        s.set_prev(LOOSE);
        true
    }

    /// The next slot whose deadline is at or before `now`, or `None`.
    ///
    /// `deadline` tells a slot's current deadline (0 for a zombie). Slots
    /// whose deadline moved later are filed again on the way. Slots come out
    /// in order of their real deadline. A returned slot is `LOOSE` (or
    /// `ZOMBIE`): the caller files or frees it.
    pub(crate) fn pop<T: Links>(
        &mut self,
        slots: &mut [T],
        now: u64,
        deadline: impl Fn(&T) -> u64,
    ) -> Option<u32> {
        let now_bucket = now >> self.shift;
        if now_bucket >= self.next {
            // Every deadline up to `now` is now in the run, so the run's
            // order is the order of going due.
            self.advance_to(slots, now_bucket, &deadline);
        }
        while let Some(&Reverse((key, slot))) = self.run.peek() {
            if key > now {
                break;
            }
            self.run.pop();
            let s = &mut slots[slot as usize];
            let real = deadline(s);
            if s.prev() != ZOMBIE {
                s.set_prev(LOOSE);
            }
            if real <= key {
                return Some(slot);
            }
            // Its deadline moved on since it was keyed: back in line under
            // the real one (in the run if that is due by `now`).
            self.file(slots, slot, real);
        }
        if self.run.is_empty() && self.run.capacity() > RUN_KEEP {
            self.run.shrink_to(RUN_KEEP);
        }
        // Everything left is later than `now`.
        let list = self.first_listed().map(|b| b << self.shift);
        let run = self.run.peek().map(|r| r.0.0);
        self.due = match (run, list) {
            (Some(r), Some(l)) => Some(r.min(l)),
            (r, l) => r.or(l),
        };
        None
    }

    /// Moves the lists of buckets `next..=bucket` into the run (or on to
    /// later buckets, for slots whose deadline moved), then sets `next` past
    /// `bucket`.
    fn advance_to<T: Links>(
        &mut self,
        slots: &mut [T],
        bucket: u64,
        deadline: &impl Fn(&T) -> u64,
    ) {
        let ring = self.heads.len();
        let span = bucket - self.next; // `bucket >= next` here
        let mut taken = NIL;
        // Detach every list in range onto one chain (through `next`).
        let mut visit = |pos: usize, heads: &mut [u32], occupied: &mut [u64]| {
            let mut s = heads[pos];
            heads[pos] = NIL;
            occupied[pos / 64] &= !(1 << (pos % 64));
            while s != NIL {
                let following = slots[s as usize].next();
                slots[s as usize].set_next(taken);
                taken = s;
                s = following;
            }
        };
        if span >= ring as u64 - 1 {
            for word in 0..self.occupied.len() {
                while self.occupied[word] != 0 {
                    let pos = word * 64 + self.occupied[word].trailing_zeros() as usize;
                    visit(pos, &mut self.heads, &mut self.occupied);
                }
            }
        } else {
            let first = (self.next as usize) & (ring - 1);
            for i in 0..=span as usize {
                let pos = (first + i) & (ring - 1);
                if self.occupied[pos / 64] & (1 << (pos % 64)) != 0 {
                    visit(pos, &mut self.heads, &mut self.occupied);
                }
            }
        }
        // `bucket + 1` cannot overflow: `shift >= 1`, so the last bucket is
        // at most `u64::MAX >> 1`.
        self.next = bucket.min(self.last_bucket()) + 1;
        while taken != NIL {
            let s = &mut slots[taken as usize];
            let following = s.next();
            s.set_next(NIL);
            s.set_prev(LOOSE);
            let d = deadline(s);
            self.file(slots, taken, d);
            taken = following;
        }
    }

    /// The first bucket (at or after `next`) whose list is not empty.
    fn first_listed(&self) -> Option<u64> {
        let ring = self.heads.len();
        let start = (self.next as usize) & (ring - 1);
        let words = self.occupied.len();
        let mut word = start / 64;
        let mut bits = self.occupied[word] & (!0u64 << (start % 64));
        // One extra step re-reads the first word in full, for positions
        // before `start` (the ring wraps around).
        for _ in 0..=words {
            if bits != 0 {
                let pos = word * 64 + bits.trailing_zeros() as usize;
                let ahead = (pos + ring - start) & (ring - 1);
                return Some(self.next + ahead as u64);
            }
            word = (word + 1) % words;
            bits = self.occupied[word];
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The smallest slot: a key to look its deadline up by, and the links.
    struct Slot {
        key: u32,
        next: u32,
        prev: u32,
    }

    impl Links for Slot {
        fn next(&self) -> u32 {
            self.next
        }
        fn set_next(&mut self, next: u32) {
            self.next = next;
        }
        fn prev(&self) -> u32 {
            self.prev
        }
        fn set_prev(&mut self, prev: u32) {
            self.prev = prev;
        }
    }

    fn slots(n: usize) -> Vec<Slot> {
        (0..n as u32)
            .map(|key| Slot {
                key,
                next: NIL,
                prev: LOOSE,
            })
            .collect()
    }

    /// Deadlines by slot; `pop` reads them through this table.
    fn drain(wheel: &mut Wheel, s: &mut [Slot], dl: &[u64], now: u64) -> Vec<u32> {
        let mut out = Vec::new();
        while let Some(i) = wheel.pop(s, now, |slot| dl[slot.key as usize]) {
            out.push(i);
        }
        out
    }

    #[test]
    fn pops_in_deadline_order_exactly_at_the_deadline() {
        let mut wheel = Wheel::new(4, 1000); // 16 ns buckets
        let mut s = slots(4);
        let dl = [100, 37, 37, 250];
        for i in 0..4 {
            wheel.file(&mut s, i, dl[i as usize]);
        }
        assert_eq!(wheel.due(), Some(32)); // bucket start: a lower bound
        assert!(drain(&mut wheel, &mut s, &dl, 36).is_empty());
        assert_eq!(wheel.due(), Some(37)); // now exact
        let mut at_37 = drain(&mut wheel, &mut s, &dl, 37);
        at_37.sort();
        assert_eq!(at_37, [1, 2]);
        assert!(drain(&mut wheel, &mut s, &dl, 99).is_empty());
        assert_eq!(drain(&mut wheel, &mut s, &dl, 1_000_000), [0, 3]);
        assert_eq!(wheel.due(), None);
    }

    #[test]
    fn a_later_deadline_is_refiled_not_returned() {
        let mut wheel = Wheel::new(4, 1000);
        let mut s = slots(1);
        let mut dl = [40];
        wheel.file(&mut s, 0, 40);
        dl[0] = 500; // a check-in moved it on, without touching the wheel
        assert!(drain(&mut wheel, &mut s, &dl, 100).is_empty());
        assert_eq!(wheel.due(), Some(496)); // refiled in 500's bucket
        assert_eq!(drain(&mut wheel, &mut s, &dl, 500), [0]);
    }

    #[test]
    fn deadlines_beyond_the_ring_come_back_in_time() {
        let mut wheel = Wheel::new(1, 0); // 2 ns buckets, 64 positions
        assert_eq!(wheel.ring(), 64);
        let mut s = slots(2);
        let dl = [10_000, 1_000_000];
        wheel.file(&mut s, 0, dl[0]);
        wheel.file(&mut s, 1, dl[1]);
        for now in (0..10_000).step_by(97) {
            assert!(drain(&mut wheel, &mut s, &dl, now).is_empty(), "at {now}");
        }
        assert_eq!(drain(&mut wheel, &mut s, &dl, 10_000), [0]);
        // A jump far past everything catches up in one call.
        assert_eq!(drain(&mut wheel, &mut s, &dl, u64::MAX), [1]);
    }

    #[test]
    fn instants_near_the_end_of_time() {
        let mut wheel = Wheel::new(32, u64::MAX);
        let mut s = slots(3);
        let dl = [u64::MAX - 1, u64::MAX, u64::MAX];
        for i in 0..3 {
            wheel.file(&mut s, i, dl[i as usize]);
        }
        assert!(drain(&mut wheel, &mut s, &dl, u64::MAX - 2).is_empty());
        assert_eq!(drain(&mut wheel, &mut s, &dl, u64::MAX - 1), [0]);
        let mut last = drain(&mut wheel, &mut s, &dl, u64::MAX);
        last.sort();
        assert_eq!(last, [1, 2]);
        assert!(drain(&mut wheel, &mut s, &dl, u64::MAX).is_empty());
        assert_eq!(wheel.due(), None);
    }

    #[test]
    fn huge_reach_is_capped_and_still_exact() {
        let mut wheel = Wheel::new(32, u64::MAX);
        assert_eq!(wheel.ring(), MAX_RING);
        let year = 365 * 24 * 3600 * 1_000_000_000u64;
        let mut s = slots(1);
        let dl = [year];
        wheel.file(&mut s, 0, year);
        assert!(drain(&mut wheel, &mut s, &dl, year - 1).is_empty());
        assert_eq!(drain(&mut wheel, &mut s, &dl, year), [0]);
    }

    #[test]
    fn unlink_keeps_lists_consistent() {
        let mut wheel = Wheel::new(4, 1000);
        let mut s = slots(3);
        let dl = [40, 41, 42]; // same bucket: one list 2 -> 1 -> 0
        for i in 0..3 {
            wheel.file(&mut s, i, dl[i as usize]);
        }
        assert!(wheel.unlink(&mut s, 1)); // middle
        assert!(wheel.unlink(&mut s, 2)); // head
        assert_eq!(drain(&mut wheel, &mut s, &dl, 100), [0]);
        assert!(!wheel.unlink(&mut s, 0)); // loose: nothing to unlink
        assert_eq!(wheel.due(), None);
    }
}
