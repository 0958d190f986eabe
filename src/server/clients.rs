//! Presence per client id, derived from its connections: a count of live
//! connections per id, and two FIFO queues for the deadlines that belong to
//! ids rather than connections (linger, forget).
//!
//! Both durations are fixed for the machine's life, so deadlines join each
//! queue in time order and the front is always the earliest: O(1) to check,
//! O(due) to drain, no timer structure per id. An entry names an id's slot
//! and its `epoch`; an id that changes state bumps its epoch, and entries
//! of an older epoch are dropped when they reach the front.

use core::borrow::Borrow;
use core::hash::{BuildHasher, Hash};
use std::borrow::ToOwned;
use std::collections::VecDeque;
use std::vec::Vec;

use super::{ClientStatus, OfflineReason, SessionsError};
use crate::Instant;
use crate::index::Index;
use crate::wheel::{MAX_SLOTS, NIL};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Free,
    /// At least one live connection.
    Online,
    /// No live connection, not reported offline yet (the deadline is in
    /// the linger queue).
    Lingering,
    /// Reported offline at `at`.
    Offline,
}

/// 32 bytes for a `u64` key.
struct Client<K> {
    key: K,
    /// Online or lingering: when the id came online. Offline: when it went
    /// offline.
    at: u64,
    /// Live connections; the next free slot while `Free`.
    live: u32,
    epoch: u32,
    state: State,
    reason: OfflineReason,
}

/// A deadline of one id in one epoch.
#[derive(Clone, Copy)]
struct Due {
    at: u64,
    slot: u32,
    epoch: u32,
}

/// What an id's connection count change means for its presence.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Change {
    /// Nothing to report.
    Quiet,
    /// Report `Online`.
    CameOnline,
    /// Report `Offline` (linger is zero).
    WentOffline,
}

pub(super) struct Clients<K, S> {
    hasher: S,
    index: Index,
    slots: Vec<Client<K>>,
    free: u32,
    /// Ids online or lingering.
    online: usize,
    capacity: usize,
    linger: u64,
    forget: u64,
    lingering: VecDeque<Due>,
    forgetting: VecDeque<Due>,
}

impl<K: Hash + Eq + Clone, S: BuildHasher> Clients<K, S> {
    pub(super) fn new(hasher: S, capacity: usize, linger: u64, forget: u64) -> Self {
        Clients {
            hasher,
            index: Index::new(),
            slots: Vec::new(),
            free: NIL,
            online: 0,
            capacity,
            linger,
            forget,
            lingering: VecDeque::new(),
            forgetting: VecDeque::new(),
        }
    }

    fn find<Q>(&self, id: &Q) -> (u64, Option<u32>)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hasher.hash_one(id);
        let slots = &self.slots;
        let found = self
            .index
            .find(hash, |i| slots[i as usize].key.borrow() == id);
        (hash, found)
    }

    /// A new live connection of `id` at `now`: its slot, and whether that
    /// brought it online.
    pub(super) fn join<Q>(
        &mut self,
        id: &Q,
        now: u64,
        max_per_id: u32,
    ) -> Result<(u32, Change), SessionsError>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        let (hash, found) = self.find(id);
        let Some(i) = found else {
            return self
                .insert(id.to_owned(), hash, now)
                .map(|i| (i, Change::CameOnline));
        };
        let c = &mut self.slots[i as usize];
        if c.live >= max_per_id {
            return Err(SessionsError::TooManyForId);
        }
        c.live += 1;
        let change = match c.state {
            State::Online => Change::Quiet,
            // Back within the linger: nothing was reported, nothing is.
            State::Lingering => Change::Quiet,
            State::Offline | State::Free => {
                c.at = now;
                self.online += 1;
                Change::CameOnline
            }
        };
        c.state = State::Online;
        c.epoch = c.epoch.wrapping_add(1);
        Ok((i, change))
    }

    #[cold]
    fn insert(&mut self, key: K, hash: u64, now: u64) -> Result<u32, SessionsError> {
        if self.index.len() >= self.capacity && !self.forget_oldest_offline() {
            return Err(SessionsError::Full);
        }
        let client = Client {
            key,
            at: now,
            live: 1,
            epoch: 0,
            state: State::Online,
            reason: OfflineReason::Ended,
        };
        let i = if self.free != NIL {
            let i = self.free;
            self.free = self.slots[i as usize].live;
            self.slots[i as usize] = client;
            i
        } else if self.slots.len() < MAX_SLOTS {
            self.slots.push(client);
            (self.slots.len() - 1) as u32
        } else {
            return Err(SessionsError::Full);
        };
        let (hasher, slots) = (&self.hasher, &self.slots);
        self.index
            .insert(hash, i, |s| hasher.hash_one(&slots[s as usize].key));
        self.online += 1;
        Ok(i)
    }

    /// One live connection of the id in slot `i` went away at `now`.
    pub(super) fn leave(&mut self, i: u32, now: u64, reason: OfflineReason) -> Change {
        let linger = self.linger;
        let c = &mut self.slots[i as usize];
        c.live = c.live.saturating_sub(1);
        if c.live > 0 || c.state != State::Online {
            return Change::Quiet;
        }
        c.reason = reason;
        c.epoch = c.epoch.wrapping_add(1);
        if linger == 0 {
            self.go_offline(i, now);
            return Change::WentOffline;
        }
        c.state = State::Lingering;
        let due = Due {
            at: now.saturating_add(linger),
            slot: i,
            epoch: c.epoch,
        };
        self.lingering.push_back(due);
        Change::Quiet
    }

    /// The state change behind an `Offline` report; the caller reports it
    /// (with `key`) before any later call can forget the id.
    fn go_offline(&mut self, i: u32, at: u64) {
        let c = &mut self.slots[i as usize];
        c.state = State::Offline;
        c.at = at;
        c.epoch = c.epoch.wrapping_add(1);
        self.online -= 1;
        let due = Due {
            at: at.saturating_add(self.forget),
            slot: i,
            epoch: c.epoch,
        };
        self.forgetting.push_back(due);
    }

    pub(super) fn key(&self, i: u32) -> &K {
        &self.slots[i as usize].key
    }

    pub(super) fn reason(&self, i: u32) -> OfflineReason {
        self.slots[i as usize].reason
    }

    /// The next id whose linger ended by `now`, gone offline, with its
    /// reason; forgets ids whose `forget_after` passed on the way.
    pub(super) fn poll(&mut self, now: u64) -> Option<(K, OfflineReason)> {
        while let Some(&due) = self.forgetting.front().filter(|d| d.at <= now) {
            self.forgetting.pop_front();
            if self.is_current(due, State::Offline) {
                self.remove(due.slot);
            }
        }
        while let Some(&due) = self.lingering.front().filter(|d| d.at <= now) {
            self.lingering.pop_front();
            if self.is_current(due, State::Lingering) {
                self.go_offline(due.slot, due.at);
                let c = &self.slots[due.slot as usize];
                return Some((c.key.clone(), c.reason));
            }
        }
        None
    }

    /// The earliest linger or forget deadline (a lower bound: the entry
    /// may be stale).
    pub(super) fn due(&self) -> Option<u64> {
        let l = self.lingering.front().map(|d| d.at);
        let f = self.forgetting.front().map(|d| d.at);
        match (l, f) {
            (Some(l), Some(f)) => Some(l.min(f)),
            (l, f) => l.or(f),
        }
    }

    /// Whether `poll(now)` could have work: O(1).
    pub(super) fn is_due(&self, now: u64) -> bool {
        self.due().is_some_and(|d| d <= now)
    }

    fn is_current(&self, due: Due, state: State) -> bool {
        let c = &self.slots[due.slot as usize];
        c.state == state && c.epoch == due.epoch
    }

    /// Forgets the offline id that went offline first, to make room.
    fn forget_oldest_offline(&mut self) -> bool {
        while let Some(due) = self.forgetting.pop_front() {
            if self.is_current(due, State::Offline) {
                self.remove(due.slot);
                return true;
            }
        }
        false
    }

    fn remove(&mut self, i: u32) {
        let (hasher, slots) = (&self.hasher, &self.slots);
        let hash = hasher.hash_one(&slots[i as usize].key);
        self.index
            .remove(hash, i, |s| hasher.hash_one(&slots[s as usize].key));
        let c = &mut self.slots[i as usize];
        c.state = State::Free;
        c.epoch = c.epoch.wrapping_add(1);
        c.live = self.free;
        self.free = i;
    }

    pub(super) fn status<Q>(&self, id: &Q) -> ClientStatus
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let Some(i) = self.find(id).1 else {
            return ClientStatus::Unknown;
        };
        let c = &self.slots[i as usize];
        match c.state {
            State::Online | State::Lingering => ClientStatus::Online {
                since: Instant::from_nanos(c.at),
                connections: c.live as usize,
            },
            State::Offline => ClientStatus::Offline {
                since: Instant::from_nanos(c.at),
                reason: c.reason,
            },
            State::Free => ClientStatus::Unknown,
        }
    }

    pub(super) fn online(&self) -> impl Iterator<Item = &K> {
        self.slots
            .iter()
            .filter(|c| matches!(c.state, State::Online | State::Lingering))
            .map(|c| &c.key)
    }
}

impl<K, S> Clients<K, S> {
    /// Ids online or lingering.
    pub(super) fn online_count(&self) -> usize {
        self.online
    }

    /// Ids held (online, lingering, offline).
    pub(super) fn len(&self) -> usize {
        self.index.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_fits_in_32_bytes_with_a_u64_key() {
        assert_eq!(core::mem::size_of::<Client<u64>>(), 32);
    }
}
