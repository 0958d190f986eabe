//! Presence shared by several server nodes through a store such as Redis.
//!
//! The seed article keeps last-seen times "in a database or cache" so that
//! any server can answer who is online. [`Fleet`] wraps one node's local
//! [`Presence`] and mirrors it into a shared key-value store with TTLs. The
//! crate decides *what* to write and when; the user's client for the store
//! writes it, through the small [`PresenceStore`] trait.

mod config;
mod record;
mod store;

use core::borrow::Borrow;
use core::fmt;
use core::hash::{BuildHasher, Hash};
use core::time::Duration;
use std::borrow::ToOwned;
use std::collections::HashSet;
use std::collections::hash_map::RandomState;
use std::string::String;
use std::vec::Vec;

pub use self::config::{FleetConfig, FleetConfigError};
pub use self::record::FleetRecord;
pub use self::store::PresenceStore;

use crate::{Change, Instant, Presence, PresenceError, Status};

/// What a [`Fleet`] did to the store for one input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StoreOp {
    /// Nothing: a throttled refresh, or nothing to report.
    Nothing,
    /// The key was set with the [TTL](FleetConfig::ttl).
    Set,
    /// The key was deleted: this node, in this incarnation, wrote it last.
    Deleted,
    /// A delete was asked for but the key was left alone: another node or
    /// incarnation wrote it last (the client reconnected elsewhere), or it
    /// had expired already.
    NotOwner,
}

/// The local result of an input, and what became of its store command.
///
/// The local tracker always takes the input, even if the store fails: a
/// failed write is retried on the client's next check-in, a failed delete is
/// left to the key's TTL.
#[must_use = "the store result may hold an error"]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FleetOutcome<T, E> {
    /// What the local [`Presence`] returned.
    pub local: T,
    /// What was done to the store, or how it failed.
    pub store: Result<StoreOp, E>,
}

impl<T, E> FleetOutcome<T, E> {
    /// The local result if the store command succeeded, else its error.
    pub fn into_result(self) -> Result<T, E> {
        self.store.map(|_| self.local)
    }
}

/// One server node of a fleet: a local [`Presence`] for its own clients,
/// mirrored into a shared store so that any node can tell whether any
/// client is online.
///
/// ```
/// use core::time::Duration;
/// use std::cell::RefCell;
/// use std::collections::HashMap;
/// use std::rc::Rc;
/// use keepalive::{Change, Fleet, FleetConfig, Instant, PresenceConfig, PresenceStore, Status, StoreOp};
///
/// /// A store shared by two nodes in one process. (It ignores TTLs; Redis
/// /// does not.)
/// #[derive(Clone, Default)]
/// struct Shared(Rc<RefCell<HashMap<String, String>>>);
///
/// impl PresenceStore for Shared {
///     type Error = core::convert::Infallible;
///     fn set(&mut self, key: &str, value: &str, _ttl: Duration) -> Result<(), Self::Error> {
///         self.0.borrow_mut().insert(key.into(), value.into());
///         Ok(())
///     }
///     fn delete_owned(&mut self, key: &str, owner: &str) -> Result<bool, Self::Error> {
///         let mut map = self.0.borrow_mut();
///         let mine = map.get(key).is_some_and(|v| v.starts_with(owner));
///         if mine {
///             map.remove(key);
///         }
///         Ok(mine)
///     }
///     fn get_many(&mut self, keys: &[String]) -> Result<Vec<Option<String>>, Self::Error> {
///         let map = self.0.borrow();
///         Ok(keys.iter().map(|k| map.get(k).cloned()).collect())
///     }
/// }
///
/// let store = Shared::default();
/// let presence = PresenceConfig::new().with_timeout(Duration::from_secs(30));
/// let node = |name: &str| FleetConfig::new(name, 1).with_presence(presence);
/// let mut a: Fleet<String, Shared> = Fleet::new(node("a"), store.clone())?;
/// let mut b: Fleet<String, Shared> = Fleet::new(node("b"), store.clone())?;
/// let at = Instant::from_secs;
///
/// // alice is connected to node a; the first check-in is written at once,
/// let came = a.check_in("alice", at(0))?;
/// assert_eq!((came.local, came.store), (Change::CameOnline, Ok(StoreOp::Set)));
/// // refreshes only once per timeout / 3 (10 s).
/// assert_eq!(a.check_in("alice", at(1))?.store, Ok(StoreOp::Nothing));
/// assert_eq!(a.check_in("alice", at(10))?.store, Ok(StoreOp::Set));
/// assert_eq!(store.0.borrow()["keepalive:presence:alice"], "a/1/0/10000000000");
///
/// // Node b answers from the store.
/// let through_b = b.status("alice", at(12))?;
/// assert_eq!(through_b, Status::Online { since: at(0), last_seen: at(10) });
/// assert_eq!(b.status("bob", at(12))?, Status::Unknown);
///
/// // alice goes silent: node a finds her offline at 10 + 30 s and deletes
/// // her key at once, so node b sees it too.
/// assert_eq!(a.poll_expired(at(39)), None);
/// let gone = a.poll_expired(at(40)).unwrap();
/// assert_eq!((gone.local.as_str(), gone.store), ("alice", Ok(StoreOp::Deleted)));
/// assert_eq!(b.status("alice", at(40))?, Status::Unknown);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Driving it
///
/// As a [`Presence`], with the store behind it. *Inputs:*
/// [`check_in`](Self::check_in) for every frame from a client connected to
/// this node, [`check_out`](Self::check_out) when it leaves. *Polling:*
/// [`poll_timeout`](Self::poll_timeout) says when to call
/// [`poll_expired`](Self::poll_expired). *Queries:* [`status`](Self::status)
/// and [`statuses`](Self::statuses) for any client of the fleet,
/// [`lookup`](Self::lookup) for the raw [`FleetRecord`], [`local`](Self::local)
/// for this node's tracker. Each input returns an [`FleetOutcome`]: the local
/// result and the [`StoreOp`] performed.
///
/// # What is written, and when
///
/// * A check-in that brings a client online ([`Change::CameOnline`]): the
///   key is set at once, `since` = `last_seen` = `now`.
/// * A refresh ([`Change::Refreshed`]): the key is set only by the first
///   check-in in each throttle window `[since + k·P, since + (k+1)·P)`,
///   where `P` = [`write_every`](FleetConfig::write_every) (`timeout / 3` by
///   default), or if the previous write of this id failed.
/// * The client goes offline here, by [`check_out`](Self::check_out) or
///   found by [`poll_expired`](Self::poll_expired): the key is deleted at
///   once, but *only if its value starts with this node's
///   [owner tag](FleetConfig::owner)*, i.e. this node in this incarnation
///   wrote it last. If the client has meanwhile connected to another node,
///   that node's record stays; a record left by an earlier incarnation of
///   this node is left to its TTL.
/// * Nothing at boot. A restarted node does not wipe or scan the store (the
///   article's fix, "clear the stored data on restart", would also mark the
///   other nodes' clients offline). Stale keys need no cleanup: they expire.
///
/// Keys are [`prefix`](FleetConfig::prefix) followed by the `Display` form
/// of the id, with every byte outside `A-Z a-z 0-9 - . _ ~` percent-encoded
/// (`user:42` → `keepalive:presence:user%3A42`). The encoding is injective,
/// so ids collide only if their `Display` forms do: `K` (and the borrowed
/// form passed to the methods) must display distinct ids differently and
/// alike, as integers, strings and UUIDs do.
///
/// # Throttling and the TTL
///
/// Let `T` be the presence timeout and `P` the throttle period. Every key is
/// written with TTL `T + P` ([`FleetConfig::ttl`]). For the client's latest
/// check-in `c`, the latest successful write `w` lies in the same window,
/// so `c − P < w ≤ c`, and the key expires at `w + T + P`:
///
/// * not before `c + T`, the moment this node judges the client offline
///   (and deletes the key itself), and strictly after it if `P > 0`: the
///   store never shows a client offline that its node still counts online;
/// * at most at `c + T + P`: when a node crashes, its clients go offline in
///   the store between `T` and `T + P` after their last check-in, with
///   nobody cleaning up.
///
/// A client online for a duration `D` costs at most `⌊D / P⌋ + 1` writes,
/// however often it checks in; `P = 0`
/// ([`without_throttling`](FleetConfig::without_throttling)) writes on every
/// check-in. A failed write is retried on the client's next check-in, and
/// the key written before it lives until at least `T` after the check-in
/// before the failure: readers do not notice one failure as long as the
/// client checks in more than twice per timeout.
///
/// One imprecision remains: a client that leaves this node for another and
/// comes back within one window is not rewritten here at once (it was never
/// offline locally), so the other node's record, deleted when that node
/// times it out, can make it look offline to readers up to `P` early.
///
/// # Reading
///
/// [`status`](Self::status) answers from the local tracker, without I/O,
/// when the client is online here. Otherwise it reads the key: present →
/// [`Status::Online`] with the record's `since` and `last_seen` (times of the
/// writer's clock; `last_seen` may lag the truth by up to `P`). Absent →
/// the local answer, [`Status::Offline`] or [`Status::Unknown`]: an absent key
/// cannot tell offline from never seen, so the store never makes an id
/// `Offline`. A record written by this very incarnation for a client not
/// online here is stale (its delete failed, or `poll_expired` has not run
/// yet) and is ignored. Presence is judged by the key's existence on the store's own TTL
/// clock, never by comparing times of different nodes, so node clocks need
/// not agree.
///
/// # Why the store is called, not returned
///
/// Like the rest of the crate, `Fleet` does no I/O itself: the
/// [`PresenceStore`] implementation does, and tests plug in a map. It
/// calls the store synchronously instead of returning write commands for
/// the caller to run, because the result of each command feeds back into
/// the state: a failed write must be retried on the next check-in rather
/// than skipped for a whole window, and a read decides what `status`
/// returns. Returning commands would need an acknowledgement input per
/// command and would let a caller reorder a write and a delete of the same
/// key. A caller that wants batching or an async client can still
/// implement the trait as a queue flushed in one pipeline (see the
/// `fleet` benchmark).
pub struct Fleet<K, St, S = RandomState> {
    presence: Presence<K, S>,
    store: St,
    config: FleetConfig,
    owner: String,
    /// `write_every` in ns.
    period: u64,
    ttl: Duration,
    /// Ids whose latest write failed: rewritten on their next check-in.
    retry: HashSet<K>,
    /// Scratch buffers, reused so that a write allocates nothing.
    key: String,
    value: String,
    /// Latest `now` seen, in ns.
    now: u64,
}

impl<K, St> Fleet<K, St, RandomState>
where
    K: Hash + Eq + Clone + fmt::Display,
    St: PresenceStore,
{
    /// A node with the default, DoS-resistant hasher for its local tracker.
    ///
    /// Fails if `config` does not [validate](FleetConfig::validate). Touches
    /// nothing in the store.
    pub fn new(config: FleetConfig, store: St) -> Result<Self, FleetConfigError> {
        Fleet::with_hasher(config, store, RandomState::new())
    }
}

impl<K, St, S> Fleet<K, St, S>
where
    K: Hash + Eq + Clone + fmt::Display,
    St: PresenceStore,
    S: BuildHasher,
{
    /// A node whose local tracker hashes ids with `hasher` (see
    /// [`Presence::with_hasher`]).
    ///
    /// Fails if `config` does not [validate](FleetConfig::validate). Touches
    /// nothing in the store.
    pub fn with_hasher(
        config: FleetConfig,
        store: St,
        hasher: S,
    ) -> Result<Self, FleetConfigError> {
        config.validate()?;
        let presence = Presence::with_hasher(*config.presence(), hasher)
            .map_err(FleetConfigError::Presence)?;
        Ok(Fleet {
            presence,
            store,
            owner: config.owner(),
            // Validated: at most the timeout, at most a year.
            period: config.write_every().as_nanos() as u64,
            ttl: config.ttl(),
            config,
            retry: HashSet::new(),
            key: String::new(),
            value: String::new(),
            now: 0,
        })
    }

    /// The configuration this node was built with.
    pub fn config(&self) -> &FleetConfig {
        &self.config
    }

    /// This node's own tracker: its clients only (for
    /// [`online`](Presence::online), [`online_count`](Presence::online_count)…).
    pub fn local(&self) -> &Presence<K, S> {
        &self.presence
    }

    /// The store.
    pub fn store(&self) -> &St {
        &self.store
    }

    /// The store, mutably (to flush a queueing store, say).
    pub fn store_mut(&mut self) -> &mut St {
        &mut self.store
    }

    /// The key under which `id` is stored.
    pub fn key<Q: fmt::Display + ?Sized>(&self, id: &Q) -> String {
        let mut key = String::new();
        record::push_key(&mut key, self.config.prefix(), id);
        key
    }

    /// Records a frame from `id`, connected to this node, received at `now`,
    /// and writes its key if [due](Self#what-is-written-and-when).
    ///
    /// # Errors
    ///
    /// [`PresenceError::Full`] if the local tracker refused a new id; nothing
    /// changed and nothing was written. A store failure is not an error of
    /// the call: it is in [`FleetOutcome::store`] (the check-in counted locally,
    /// and the write is retried on the next one).
    pub fn check_in<Q>(
        &mut self,
        id: &Q,
        now: Instant,
    ) -> Result<FleetOutcome<Change, St::Error>, PresenceError>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + fmt::Display + ToOwned<Owned = K> + ?Sized,
    {
        let now_ns = self.clamp(now);
        let now = Instant::from_nanos(now_ns);
        let before = self.presence.status(id, now);
        let change = self.presence.check_in(id, now)?;
        let (since, due) = match (change, before) {
            (Change::Refreshed, Status::Online { since, last_seen }) => {
                let window = |t: Instant| {
                    let elapsed = t.as_nanos().saturating_sub(since.as_nanos());
                    elapsed.checked_div(self.period)
                };
                let crossed = self.period == 0 || window(last_seen) != window(now);
                let retry = !self.retry.is_empty() && self.retry.contains(id);
                (since, crossed || retry)
            }
            // A new session, or (never, but harmless) a refresh the status
            // before did not foresee.
            _ => (now, true),
        };
        if !due {
            return Ok(FleetOutcome {
                local: change,
                store: Ok(StoreOp::Nothing),
            });
        }
        let store = self.write(id, since, now_ns);
        if store.is_ok() {
            if !self.retry.is_empty() {
                self.retry.remove(id);
            }
        } else {
            self.retry.insert(id.to_owned());
        }
        Ok(FleetOutcome {
            local: change,
            store,
        })
    }

    /// Marks `id` offline here at `now` (it said goodbye, or its connection
    /// to this node closed) and returns its local status just before, as
    /// [`Presence::check_out`] does. If it was online here, its key is
    /// deleted unless another node or incarnation wrote it last.
    pub fn check_out<Q>(&mut self, id: &Q, now: Instant) -> FleetOutcome<Status, St::Error>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + fmt::Display + ?Sized,
    {
        let now = Instant::from_nanos(self.clamp(now));
        let before = self.presence.check_out(id, now);
        if !self.retry.is_empty() {
            self.retry.remove(id);
        }
        let store = if before.is_online() {
            self.delete(id)
        } else {
            Ok(StoreOp::Nothing)
        };
        FleetOutcome {
            local: before,
            store,
        }
    }

    /// The next id that went offline here by `now` (silent for the
    /// timeout); call until `None`. Its key is deleted at once unless
    /// another node or incarnation wrote it last. See
    /// [`Presence::poll_expired`] for the order and cost.
    pub fn poll_expired(&mut self, now: Instant) -> Option<FleetOutcome<K, St::Error>> {
        let now = self.clamp(now);
        let id = self.presence.poll_expired(Instant::from_nanos(now))?;
        if !self.retry.is_empty() {
            self.retry.remove(&id);
        }
        let store = self.delete(&id);
        Some(FleetOutcome { local: id, store })
    }

    /// When to call [`poll_expired`](Self::poll_expired) next: the local
    /// tracker's [`poll_timeout`](Presence::poll_timeout). Keys of crashed
    /// nodes need no timer: the store expires them.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.presence.poll_timeout()
    }

    /// The status of `id` in the whole fleet at `now`: from the local
    /// tracker if it is online here, else from the store (see
    /// [Reading](Self#reading)). One `GET` unless online here.
    pub fn status<Q>(&mut self, id: &Q, now: Instant) -> Result<Status, St::Error>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + fmt::Display + ?Sized,
    {
        let local = self
            .presence
            .status(id, Instant::from_nanos(self.now.max(now.as_nanos())));
        if local.is_online() {
            return Ok(local);
        }
        self.key.clear();
        record::push_key(&mut self.key, self.config.prefix(), id);
        let value = self.store.get(&self.key)?;
        Ok(self.judge(local, value.as_deref()))
    }

    /// [`status`](Self::status) of several ids, in order, with one `MGET`
    /// for those not online here (none if all are).
    pub fn statuses<'q, Q>(
        &mut self,
        ids: impl IntoIterator<Item = &'q Q>,
        now: Instant,
    ) -> Result<Vec<Status>, St::Error>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + fmt::Display + ?Sized + 'q,
    {
        let now = Instant::from_nanos(self.now.max(now.as_nanos()));
        let mut out = Vec::new();
        let mut keys = Vec::new();
        for id in ids {
            let local = self.presence.status(id, now);
            if !local.is_online() {
                keys.push(self.key(id));
            }
            out.push(local);
        }
        if keys.is_empty() {
            return Ok(out);
        }
        let mut values = self.store.get_many(&keys)?.into_iter();
        for status in out.iter_mut().filter(|s| !s.is_online()) {
            *status = self.judge(*status, values.next().flatten().as_deref());
        }
        Ok(out)
    }

    /// The record stored for `id`, whoever wrote it: which node holds the
    /// client, in which incarnation. `None` if the key is absent (offline,
    /// or never seen) or its value is not a [`FleetRecord`].
    pub fn lookup<Q: fmt::Display + ?Sized>(
        &mut self,
        id: &Q,
    ) -> Result<Option<FleetRecord>, St::Error> {
        self.key.clear();
        record::push_key(&mut self.key, self.config.prefix(), id);
        let value = self.store.get(&self.key)?;
        Ok(value.as_deref().and_then(FleetRecord::parse))
    }

    /// Combines the local status of an id not online here with its stored
    /// value.
    fn judge(&self, local: Status, value: Option<&str>) -> Status {
        let Some(record) = value.and_then(FleetRecord::parse) else {
            return local;
        };
        let mine = record.node == self.config.node() && record.epoch == self.config.epoch();
        if mine {
            // Written here, for a client not online here: stale (its delete
            // failed, or it awaits `poll_expired`).
            return local;
        }
        Status::Online {
            since: record.since,
            last_seen: record.last_seen,
        }
    }

    fn write<Q: fmt::Display + ?Sized>(
        &mut self,
        id: &Q,
        since: Instant,
        now: u64,
    ) -> Result<StoreOp, St::Error> {
        use core::fmt::Write as _;
        self.key.clear();
        record::push_key(&mut self.key, self.config.prefix(), id);
        self.value.clear();
        let _ = write!(self.value, "{}{}/{}", self.owner, since.as_nanos(), now);
        self.store.set(&self.key, &self.value, self.ttl)?;
        Ok(StoreOp::Set)
    }

    fn delete<Q: fmt::Display + ?Sized>(&mut self, id: &Q) -> Result<StoreOp, St::Error> {
        self.key.clear();
        record::push_key(&mut self.key, self.config.prefix(), id);
        Ok(if self.store.delete_owned(&self.key, &self.owner)? {
            StoreOp::Deleted
        } else {
            StoreOp::NotOwner
        })
    }

    /// Clamps `now` to the latest seen and records it.
    fn clamp(&mut self, now: Instant) -> u64 {
        self.now = self.now.max(now.as_nanos());
        self.now
    }
}

impl<K, St, S> fmt::Debug for Fleet<K, St, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fleet")
            .field("config", &self.config)
            .field("local", &self.presence)
            .field("retry", &self.retry.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
