//! Server-side presence: which clients are online, judged by the server's own
//! clock from the last time it heard from each of them.

mod config;
mod responder;
mod slot;
mod status;

use core::borrow::Borrow;
use core::fmt;
use core::hash::{BuildHasher, Hash};
use std::borrow::ToOwned;
use std::collections::hash_map::RandomState;
use std::vec::Vec;

pub use self::config::{PresenceConfig, PresenceConfigError, PresenceError};
pub use self::responder::{Inbound, PresenceUpdate, Reply, Responder, Response};
pub use self::status::{Change, Status};

use self::slot::Slot;
use crate::Instant;
use crate::index::Index;
use crate::wheel::{FREE, Links, MAX_SLOTS, NIL, Wheel, ZOMBIE};

/// Tracks which clients are online from their check-ins: the server side of
/// the heartbeat.
///
/// The seed article's server stores a last-seen time per client id and
/// judges a client online while the time since then is below a limit. It also
/// notes the trap: after a restart, stale data made *every* client look
/// offline. `Presence` keeps the idea and removes the trap:
///
/// * **Last-seen is the server's own `now`** when the check-in arrived, never
///   a timestamp the client sent (client clocks drift, and lie).
/// * **A check-in always makes a client online.** Offline is judged only by
///   silence: a client last seen at `t` is online while `now < t + timeout`,
///   and offline from `now >= t + timeout` on — exactly at the timeout, by
///   [`status`](Self::status) and [`poll_expired`](Self::poll_expired) alike.
/// * **Ids not heard from since the tracker was created are
///   [`Unknown`](Status::Unknown), never [`Offline`](Status::Offline).** A
///   fresh tracker after a restart therefore reports nobody offline, and each
///   returning client is online from its first check-in.
/// * **Bounded memory:** at most [`capacity`](PresenceConfig::with_capacity)
///   ids; offline ids are dropped [`forget_after`](PresenceConfig::with_forget_after)
///   they went offline (then they are `Unknown` again).
///
/// Like the rest of the crate it does no I/O and reads no clock: every call
/// that depends on time takes `now`. Time going backwards is clamped to the
/// latest `now` seen, never a panic.
///
/// # Driving it
///
/// *Inputs:* [`check_in`](Self::check_in) for every message (or heartbeat)
/// from a client, [`check_out`](Self::check_out) when a client says goodbye
/// or its connection closes. *Polling:* [`poll_timeout`](Self::poll_timeout)
/// says when to call [`poll_expired`](Self::poll_expired), which yields the
/// ids that went offline, one at a time, until `None`. *Queries:*
/// [`status`](Self::status) (exact at any `now`, polled or not),
/// [`online_count`](Self::online_count), [`online`](Self::online),
/// [`len`](Self::len).
///
/// ```
/// use core::time::Duration;
/// use keepalive::{Change, Instant, Presence, PresenceConfig, Status};
///
/// let config = PresenceConfig::new().with_timeout(Duration::from_secs(90));
/// let mut presence: Presence<u64> = Presence::new(config)?;
/// let at = Instant::from_secs;
///
/// assert_eq!(presence.check_in(&7, at(0))?, Change::CameOnline);
/// assert_eq!(presence.check_in(&7, at(60))?, Change::Refreshed);
/// assert_eq!(presence.status(&8, at(60)), Status::Unknown);
///
/// // The server's timer loop: sleep until poll_timeout, then drain.
/// let mut offline = Vec::new();
/// let mut now = at(60);
/// while let Some(deadline) = presence.poll_timeout() {
///     now = deadline;
///     while let Some(id) = presence.poll_expired(now) {
///         offline.push((id, now));
///     }
///     if presence.online_count() == 0 {
///         break;
///     }
/// }
/// assert_eq!(offline, [(7, at(150))]); // last seen at 60 s, + 90 s
/// assert_eq!(presence.status(&7, now), Status::Offline { last_seen: at(60) });
///
/// // Coming back is a fresh session.
/// assert_eq!(presence.check_in(&7, at(200))?, Change::CameOnline);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # What counts as online
///
/// [`status`](Self::status) judges each id lazily from its last-seen time,
/// so it is exact whether or not `poll_expired` has been called.
/// [`online_count`](Self::online_count) and [`online`](Self::online) count
/// the ids that are online *as far as the reports go*: checked in, not
/// checked out, and not yet yielded by `poll_expired`. Drain
/// `poll_expired(now)` first and they agree with `status` at `now`.
///
/// `poll_expired` never yields an id that is online: if a client went silent
/// past its timeout and checks in again before the report was polled, the
/// check-in returns [`Change::CameOnline`] and no offline report follows.
///
/// # Memory and cost
///
/// A check-in is a hash lookup plus O(1): refreshing an online id writes one
/// number. Expiry costs O(expired), never a scan: a timing wheel of coarse
/// buckets (about 1/128 of the shorter of `timeout` and `forget_after`)
/// holds each id once, linked through its own slot. A refreshed id is not
/// moved on each check-in; when its old bucket comes due it is re-checked
/// and re-filed, so a client that keeps checking in costs one re-filing per
/// `timeout`, however often it checks in. Once `now` reaches a bucket, its
/// ids are ordered by their real deadline, so reports are exact to the
/// nanosecond and come in deadline order. `poll_expired` with nothing due is
/// O(1).
///
/// Each id costs one 32-byte slot (for a `u64` key: key, last-seen, since or
/// offline-at, two links) plus, per hash table position, a 1-byte tag and a
/// 4-byte slot number, at a load factor of at most 7/8; a bucket that is due
/// also holds its ids in a heap (16 bytes each) until they are handled. In
/// the `presence` benchmark that is 44 bytes per id at 1M ids (1.2× a bare
/// `HashMap<u64, Instant>`), and 49 at 100k ids (2.2×: there the bare map's
/// table happens to be nearly full). Forgotten slots are reused; memory is
/// not returned to the allocator.
///
/// # Hasher and HashDoS
///
/// `S` hashes ids, as in `HashMap`. The default, [`RandomState`], is keyed
/// per process, so a client cannot choose ids that collide. A faster hasher
/// (FxHash, an identity hash for server-assigned numbers) makes check-ins
/// cheaper, but if clients choose their own ids, an attacker who knows the
/// hasher can send ids that all land in one probe sequence and make every
/// lookup linear in the number of tracked ids. `capacity` bounds the damage,
/// not the probe length. Pick a faster hasher with
/// [`with_hasher`](Self::with_hasher) only for ids you trust (issued by the
/// server, or authenticated before the first check-in).
pub struct Presence<K, S = RandomState> {
    config: PresenceConfig,
    /// `timeout` in ns.
    timeout: u64,
    /// `forget_after` in ns.
    forget: u64,
    hasher: S,
    index: Index,
    slots: Vec<Slot<K>>,
    /// Head of the free-slot list.
    free: u32,
    wheel: Wheel,
    /// Slots in the online state (including silent ones not yet reported).
    online: usize,
    /// Latest `now` seen, in ns.
    now: u64,
}

impl<K: Hash + Eq + Clone> Presence<K, RandomState> {
    /// A tracker with the default, DoS-resistant hasher.
    ///
    /// Fails if `config` does not [validate](PresenceConfig::validate).
    pub fn new(config: PresenceConfig) -> Result<Self, PresenceConfigError> {
        Presence::with_hasher(config, RandomState::new())
    }
}

impl<K: Hash + Eq + Clone, S: BuildHasher> Presence<K, S> {
    /// A tracker that hashes ids with `hasher`; see
    /// [Hasher and HashDoS](Self#hasher-and-hashdos) before choosing a fast,
    /// unkeyed one.
    ///
    /// Fails if `config` does not [validate](PresenceConfig::validate).
    pub fn with_hasher(config: PresenceConfig, hasher: S) -> Result<Self, PresenceConfigError> {
        config.validate()?;
        // Both fit: validated to at most a year.
        let timeout = config.timeout().as_nanos() as u64;
        let forget = config.forget_after().as_nanos() as u64;
        // The bucket width must not exceed `timeout` nor a non-zero
        // `forget_after` (see wheel.rs); 1/128 of the shorter keeps each
        // bucket a small slice of the ids.
        let basis = if forget == 0 {
            timeout
        } else {
            timeout.min(forget)
        };
        let shift = (basis / 128).max(1).ilog2();
        Ok(Presence {
            config,
            timeout,
            forget,
            hasher,
            index: Index::new(),
            slots: Vec::new(),
            free: NIL,
            wheel: Wheel::new(shift, timeout.max(forget)),
            online: 0,
            now: 0,
        })
    }

    /// The configuration this tracker was built with.
    pub fn config(&self) -> &PresenceConfig {
        &self.config
    }

    /// Records a message from `id` received at `now` (server time).
    ///
    /// Always leaves `id` online with `last_seen = now`. Returns
    /// [`Change::CameOnline`] if it was unknown, offline, or silent for at
    /// least the timeout (a new session: `since = now`), else
    /// [`Change::Refreshed`].
    ///
    /// Takes the id by reference, so a `Presence<String>` can be fed `&str`
    /// and allocates only for an id it has not seen.
    ///
    /// # Errors
    ///
    /// [`PresenceError::Full`] if `id` is not tracked and `capacity` ids
    /// already are. Nothing tracked changes.
    #[inline]
    pub fn check_in<Q>(&mut self, id: &Q, now: Instant) -> Result<Change, PresenceError>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        let now = self.clamp(now);
        let (hash, found) = self.lookup(id);
        let Some(i) = found else {
            return self.insert_new(id, hash, now);
        };
        let slot = &mut self.slots[i as usize];
        if !slot.is_online() {
            self.revive(i, now);
            return Ok(Change::CameOnline);
        }
        let silent = now >= slot.last_seen.saturating_add(self.timeout);
        slot.last_seen = now;
        if silent {
            // Went silent, not reported yet: a new session. The deadline
            // only moved later, so its wheel position still holds.
            slot.aux = now;
            return Ok(Change::CameOnline);
        }
        Ok(Change::Refreshed)
    }

    /// `check_in` of an id not tracked (kept out of the hot path).
    #[cold]
    #[inline(never)]
    fn insert_new<Q>(&mut self, id: &Q, hash: u64, now: u64) -> Result<Change, PresenceError>
    where
        Q: ToOwned<Owned = K> + ?Sized,
    {
        if self.index.len() >= self.config.capacity() {
            return Err(PresenceError::Full);
        }
        let i = self.alloc(id.to_owned(), now).ok_or(PresenceError::Full)?;
        let (hasher, slots) = (&self.hasher, &self.slots);
        self.index
            .insert(hash, i, |s| hasher.hash_one(&slots[s as usize].key));
        self.online += 1;
        self.wheel
            .file(&mut self.slots, i, now.saturating_add(self.timeout));
        Ok(Change::CameOnline)
    }

    /// `check_in` of an offline id: online again, from `now`.
    #[cold]
    #[inline(never)]
    fn revive(&mut self, i: u32, now: u64) {
        let slot = &mut self.slots[i as usize];
        slot.set_online(true);
        slot.last_seen = now;
        slot.aux = now;
        self.online += 1;
        // Its forget deadline may lie after the new timeout: refile. In the
        // run it is already due sooner than the new deadline.
        if self.wheel.unlink(&mut self.slots, i) {
            self.wheel
                .file(&mut self.slots, i, now.saturating_add(self.timeout));
        }
    }

    /// Marks `id` offline at `now` at once (the client said goodbye, or its
    /// connection closed), and returns its status just *before* the call.
    ///
    /// * `Online { .. }`: the id went offline now. This is its only report:
    ///   `poll_expired` will not yield it. Its `last_seen` is unchanged; it
    ///   is forgotten `forget_after` from now.
    /// * `Offline { .. }` or `Unknown`: nothing changes. (An id that went
    ///   silent past its timeout is already offline; `poll_expired` still
    ///   reports that, once.)
    pub fn check_out<Q>(&mut self, id: &Q, now: Instant) -> Status
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let now = self.clamp(now);
        let Some(i) = self.lookup(id).1 else {
            return Status::Unknown;
        };
        let before = self.status_of(i, now);
        if before.is_online() {
            let slot = &mut self.slots[i as usize];
            slot.set_online(false);
            slot.aux = now;
            self.online -= 1;
            if self.forget == 0 {
                // Out of its list, or (in the run) left as a zombie.
                self.wheel.unlink(&mut self.slots, i);
                self.forget(i);
            } else if self.wheel.unlink(&mut self.slots, i) {
                self.wheel
                    .file(&mut self.slots, i, now.saturating_add(self.forget));
            }
        }
        before
    }

    /// The status of `id` at `now`, judged from its last-seen time: exact
    /// whether or not [`poll_expired`](Self::poll_expired) has been called.
    /// A `now` before the latest one seen is treated as the latest.
    #[inline]
    pub fn status<Q>(&self, id: &Q, now: Instant) -> Status
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let now = now.as_nanos().max(self.now);
        match self.lookup(id).1 {
            Some(i) => self.status_of(i, now),
            None => Status::Unknown,
        }
    }

    /// The next id that went offline by `now`; call until `None`.
    ///
    /// Yields each online-to-offline transition caused by silence exactly
    /// once, at or after `last_seen + timeout` (never before), in order of
    /// that deadline, and only while the id is still offline. Ids checked
    /// out are not yielded (`check_out` reported them). Also drops ids whose
    /// `forget_after` has passed, which frees capacity.
    ///
    /// O(1) when nothing is due; otherwise O(1) amortized per id yielded,
    /// dropped or re-filed.
    #[inline]
    pub fn poll_expired(&mut self, now: Instant) -> Option<K> {
        let now = self.clamp(now);
        if !self.wheel.is_due(now) {
            return None;
        }
        let (timeout, forget) = (self.timeout, self.forget);
        let deadline = move |s: &Slot<K>| {
            if s.prev == ZOMBIE {
                0
            } else if s.is_online() {
                s.last_seen.saturating_add(timeout)
            } else {
                s.aux.saturating_add(forget)
            }
        };
        loop {
            let i = self.wheel.pop(&mut self.slots, now, deadline)?;
            let slot = &mut self.slots[i as usize];
            if slot.prev == ZOMBIE {
                self.release(i);
            } else if slot.is_online() {
                let offline_at = slot.last_seen.saturating_add(timeout);
                slot.set_online(false);
                slot.aux = offline_at;
                self.online -= 1;
                let id = slot.key.clone();
                let forget_at = offline_at.saturating_add(forget);
                if forget_at <= now {
                    self.forget(i);
                } else {
                    self.wheel.file(&mut self.slots, i, forget_at);
                }
                return Some(id);
            } else {
                self.forget(i);
            }
        }
    }

    /// When to call [`poll_expired`](Self::poll_expired) next, or `None` if
    /// nothing is tracked that could expire or be forgotten.
    ///
    /// A soft deadline, never later than the next event: calling earlier is
    /// harmless (`poll_expired` returns `None`), calling later delays the
    /// reports. It may be early by up to one bucket width, or because a
    /// client checked in meanwhile. Never earlier than the latest `now` seen.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.wheel
            .due()
            .map(|due| Instant::from_nanos(due.max(self.now)))
    }

    /// Number of ids online as far as the reports go: checked in, and
    /// neither checked out nor yielded by `poll_expired` yet. See
    /// [What counts as online](Self#what-counts-as-online).
    pub fn online_count(&self) -> usize {
        self.online
    }

    /// The ids counted by [`online_count`](Self::online_count), in no
    /// particular order. O(slots): meant for dashboards and tests, not the
    /// hot path.
    pub fn online(&self) -> OnlineIds<'_, K> {
        OnlineIds {
            slots: self.slots.iter(),
        }
    }

    /// Number of ids held: online, offline, and forgotten ones that
    /// `poll_expired` has not dropped yet. This is what `capacity` bounds.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// `true` if no id is held.
    pub fn is_empty(&self) -> bool {
        self.index.len() == 0
    }

    /// Clamps `now` to the latest seen and records it.
    #[inline]
    fn clamp(&mut self, now: Instant) -> u64 {
        self.now = self.now.max(now.as_nanos());
        self.now
    }

    /// The hash of `id` and its slot, if tracked.
    #[inline]
    fn lookup<Q>(&self, id: &Q) -> (u64, Option<u32>)
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

    fn status_of(&self, i: u32, now: u64) -> Status {
        let slot = &self.slots[i as usize];
        let last_seen = Instant::from_nanos(slot.last_seen);
        let offline_at = if slot.is_online() {
            let offline_at = slot.last_seen.saturating_add(self.timeout);
            if now < offline_at {
                let since = Instant::from_nanos(slot.aux);
                return Status::Online { since, last_seen };
            }
            offline_at
        } else {
            slot.aux
        };
        if now < offline_at.saturating_add(self.forget) {
            Status::Offline { last_seen }
        } else {
            Status::Unknown
        }
    }

    fn alloc(&mut self, key: K, now: u64) -> Option<u32> {
        if self.free != NIL {
            let i = self.free;
            self.free = self.slots[i as usize].next();
            self.slots[i as usize] = Slot::new(key, now);
            Some(i)
        } else if self.slots.len() < MAX_SLOTS {
            self.slots.push(Slot::new(key, now));
            Some((self.slots.len() - 1) as u32)
        } else {
            None
        }
    }

    /// Drops slot `i` from the index. A loose slot is freed at once; one the
    /// run still holds becomes a zombie, freed when the run pops it.
    fn forget(&mut self, i: u32) {
        let (hasher, slots) = (&self.hasher, &self.slots);
        let hash = hasher.hash_one(&slots[i as usize].key);
        self.index
            .remove(hash, i, |s| hasher.hash_one(&slots[s as usize].key));
        let slot = &mut self.slots[i as usize];
        slot.set_online(false);
        if slot.in_run() {
            slot.prev = ZOMBIE;
        } else {
            self.release(i);
        }
    }

    fn release(&mut self, i: u32) {
        let slot = &mut self.slots[i as usize];
        slot.set_online(false);
        slot.set_next(self.free);
        slot.prev = FREE;
        self.free = i;
    }
}

impl<K, S> fmt::Debug for Presence<K, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Presence")
            .field("config", &self.config)
            .field("len", &self.index.len())
            .field("online", &self.online)
            .field("now", &Instant::from_nanos(self.now))
            .finish_non_exhaustive()
    }
}

/// Iterator over the online ids of a [`Presence`], from
/// [`Presence::online`].
pub struct OnlineIds<'a, K> {
    slots: core::slice::Iter<'a, Slot<K>>,
}

impl<'a, K> Iterator for OnlineIds<'a, K> {
    type Item = &'a K;

    fn next(&mut self) -> Option<&'a K> {
        self.slots.find(|s| s.is_online()).map(|s| &s.key)
    }
}

impl<K> fmt::Debug for OnlineIds<'_, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnlineIds").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
