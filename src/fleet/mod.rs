//! Presence shared by several server nodes through a store such as Redis.
//!
//! The seed article keeps last-seen times "in a database or cache" so that
//! any server can answer who is online. [`Fleet`] wraps one node's local
//! [`Presence`] and mirrors it into a shared key-value store with TTLs. The
//! crate decides *what* to write and when; the user's client for the store
//! writes it, through the small [`PresenceStore`] trait.

mod blocking;
mod command;
mod config;
mod mirror;
mod record;
mod store;

use core::borrow::Borrow;
use core::fmt;
use core::hash::{BuildHasher, Hash};
use std::borrow::ToOwned;
use std::collections::hash_map::RandomState;
use std::string::String;

pub use self::blocking::{BlockingFleet, FleetOutcome, StoreOp};
pub use self::command::StoreCommand;
pub use self::config::{FleetConfig, FleetConfigError};
pub use self::mirror::FleetMirror;
pub use self::record::FleetRecord;
pub use self::store::PresenceStore;

use self::command::Writer;
use crate::{Change, Instant, Presence, PresenceError, Status};

/// One server node of a fleet: a local [`Presence`] for its own clients
/// (the article's check-ins), mirrored into a shared store with TTLs so
/// that any node can tell whether any client is online. Sans-IO: inputs
/// queue [`StoreCommand`]s, which the caller runs with any client.
///
/// ```
/// use core::time::Duration;
/// use std::collections::HashMap;
/// use keepalive::{Change, Fleet, FleetConfig, Instant, PresenceConfig, Status, StoreCommand};
///
/// /// Runs the queued commands on a map (a real caller pipelines them to
/// /// Redis; this map ignores TTLs, Redis does not).
/// fn run(fleet: &mut Fleet<String>, store: &mut HashMap<String, String>) -> usize {
///     let mut n = 0;
///     for command in fleet.commands() {
///         match command {
///             StoreCommand::Set { key, value, .. } => { store.insert(key, value); }
///             StoreCommand::DeleteOwned { key, owner, .. } => {
///                 if store.get(&key).is_some_and(|v| v.starts_with(&owner)) {
///                     store.remove(&key);
///                 }
///             }
///         }
///         n += 1;
///     }
///     n
/// }
///
/// let mut store = HashMap::new();
/// let presence = PresenceConfig::new().with_timeout(Duration::from_secs(30));
/// let node = |name: &str| FleetConfig::new(name, 1).with_presence(presence);
/// let mut a: Fleet<String> = Fleet::new(node("a"))?;
/// let b: Fleet<String> = Fleet::new(node("b"))?;
/// let at = Instant::from_secs;
///
/// // alice is connected to node a; her first check-in is written at once,
/// assert_eq!(a.check_in("alice", at(0))?, Change::CameOnline);
/// assert_eq!(run(&mut a, &mut store), 1);
/// // refreshes only once per timeout / 3 (10 s).
/// a.check_in("alice", at(1))?;
/// assert_eq!(run(&mut a, &mut store), 0);
/// a.check_in("alice", at(10))?;
/// assert_eq!(run(&mut a, &mut store), 1);
/// assert_eq!(store["keepalive:presence:alice"], "a/1/0/10000000000");
///
/// // Node b answers from the store: not online there, so it reads the key.
/// let local = b.local_status("alice", at(12));
/// let stored = store.get(&b.key("alice")).map(String::as_str);
/// assert_eq!(b.judge(local, stored), Status::Online { since: at(0), last_seen: at(10) });
///
/// // alice goes silent: node a finds her offline at 10 + 30 s and deletes
/// // her key at once, so node b sees it too.
/// assert_eq!(a.poll_expired(at(39)), None);
/// assert_eq!(a.poll_expired(at(40)).as_deref(), Some("alice"));
/// assert_eq!(run(&mut a, &mut store), 1);
/// assert!(store.is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Driving it
///
/// As a [`Presence`], with the store behind it. *Inputs:*
/// [`check_in`](Self::check_in) for every frame from a client connected to
/// this node, [`check_out`](Self::check_out) when it leaves. *Polling:*
/// [`poll_timeout`](Self::poll_timeout) says when to call
/// [`poll_expired`](Self::poll_expired). *Commands:* after the inputs and
/// polls of one turn, take every queued command with
/// [`commands`](Self::commands) and run them as one pipeline; report a
/// failed `Set` with [`failed`](Self::failed). *Reading:*
/// [`local_status`](Self::local_status) answers without I/O; if it is not
/// online, `GET` [`key`](Self::key) (or `MGET` several) and combine with
/// [`judge`](Self::judge). [`BlockingFleet`] does all of this over a
/// blocking [`PresenceStore`]; servers that track connections with
/// [`Sessions`](crate::Sessions) use [`FleetMirror`] instead.
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
/// [`local_status`](Self::local_status) answers from the local tracker,
/// without I/O; when the client is not online here, the key decides
/// ([`judge`](Self::judge)): present →
/// [`Status::Online`] with the record's `since` and `last_seen` (times of the
/// writer's clock; `last_seen` may lag the truth by up to `P`). Absent →
/// the local answer, [`Status::Offline`] or [`Status::Unknown`]: an absent key
/// cannot tell offline from never seen, so the store never makes an id
/// `Offline`. A record written by this very incarnation for a client not
/// online here is stale (its delete failed, or `poll_expired` has not run
/// yet) and is ignored. Presence is judged by the key's existence on the
/// store's own TTL clock, never by comparing times of different nodes, so node clocks need
/// not agree.
///
/// # Running the commands
///
/// The machine never waits for the store. A write is retried on the
/// client's next due check-in if the caller reports it [failed](Self::failed)
/// (no answer means success); a delete that fails is left to the key's
/// TTL. Run the commands in the order they come, one drain after the
/// other, on one connection (a Redis pipeline, or any client that keeps
/// order): a write and a delete of one key must not swap. The queue holds
/// at most one command per input; drain it every turn.
pub struct Fleet<K, S = RandomState> {
    presence: Presence<K, S>,
    writer: Writer<K>,
    /// `write_every` in ns.
    period: u64,
    /// Latest `now` seen, in ns.
    now: u64,
}

impl<K: Hash + Eq + Clone + fmt::Display> Fleet<K, RandomState> {
    /// A node with the default, DoS-resistant hasher for its local tracker.
    ///
    /// # Errors
    ///
    /// The problem [`FleetConfig::validate`] finds.
    pub fn new(config: FleetConfig) -> Result<Self, FleetConfigError> {
        Fleet::with_hasher(config, RandomState::new())
    }
}

impl<K, S> Fleet<K, S>
where
    K: Hash + Eq + Clone + fmt::Display,
    S: BuildHasher,
{
    /// A node whose local tracker hashes ids with `hasher` (see
    /// [`Presence::with_hasher`]).
    ///
    /// # Errors
    ///
    /// The problem [`FleetConfig::validate`] finds.
    pub fn with_hasher(config: FleetConfig, hasher: S) -> Result<Self, FleetConfigError> {
        config.validate()?;
        let presence = Presence::with_hasher(*config.presence(), hasher)
            .map_err(FleetConfigError::Presence)?;
        Ok(Fleet {
            presence,
            // Validated: at most the timeout, at most a year.
            period: config.write_every().as_nanos() as u64,
            writer: Writer::new(config),
            now: 0,
        })
    }

    /// The configuration this node was built with.
    pub fn config(&self) -> &FleetConfig {
        &self.writer.config
    }

    /// This node's own tracker: its clients only (for
    /// [`online`](Presence::online), [`online_count`](Presence::online_count)…).
    pub fn local(&self) -> &Presence<K, S> {
        &self.presence
    }

    /// The key under which `id` is stored.
    pub fn key<Q: fmt::Display + ?Sized>(&self, id: &Q) -> String {
        self.writer.key(id)
    }

    /// Records a frame from `id`, connected to this node, received at `now`,
    /// and queues a write of its key if
    /// [due](Self#what-is-written-and-when).
    ///
    /// # Errors
    ///
    /// [`PresenceError::Full`] if the local tracker refused a new id; nothing
    /// changed and nothing was queued.
    pub fn check_in<Q>(&mut self, id: &Q, now: Instant) -> Result<Change, PresenceError>
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
                (since, crossed || self.writer.has_failed(id))
            }
            // A new session, or (never, but harmless) a refresh the status
            // before did not foresee.
            _ => (now, true),
        };
        if due {
            self.writer.set(id.to_owned(), since, now_ns);
        }
        Ok(change)
    }

    /// Marks `id` offline here at `now` (it said goodbye, or its connection
    /// to this node closed) and returns its local status just before, as
    /// [`Presence::check_out`] does. If it was online here, an
    /// owner-checked delete of its key is queued.
    pub fn check_out<Q>(&mut self, id: &Q, now: Instant) -> Status
    where
        K: Borrow<Q>,
        Q: Hash + Eq + fmt::Display + ToOwned<Owned = K> + ?Sized,
    {
        let now = Instant::from_nanos(self.clamp(now));
        let before = self.presence.check_out(id, now);
        self.writer.forget_failure(id);
        if before.is_online() {
            self.writer.delete(id.to_owned());
        }
        before
    }

    /// The next id that went offline here by `now` (silent for the
    /// timeout); call until `None`. An owner-checked delete of its key is
    /// queued. See [`Presence::poll_expired`] for the order and cost.
    pub fn poll_expired(&mut self, now: Instant) -> Option<K> {
        let now = self.clamp(now);
        let id = self.presence.poll_expired(Instant::from_nanos(now))?;
        self.writer.delete(id.clone());
        Some(id)
    }

    /// When to call [`poll_expired`](Self::poll_expired) next: the local
    /// tracker's [`poll_timeout`](Presence::poll_timeout). Keys of crashed
    /// nodes need no timer: the store expires them.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.presence.poll_timeout()
    }

    /// The next queued store command, oldest first.
    pub fn poll_command(&mut self) -> Option<StoreCommand<K>> {
        self.writer.poll_command()
    }

    /// Takes every queued store command, oldest first: one pipeline.
    pub fn commands(&mut self) -> std::collections::vec_deque::Drain<'_, StoreCommand<K>> {
        self.writer.commands()
    }

    /// How many commands are queued.
    pub fn pending(&self) -> usize {
        self.writer.pending()
    }

    /// The caller could not run `command`: a failed `Set` is retried on
    /// the client's next check-in (if it is still online here). Failed
    /// deletes need no report: the key's TTL removes it.
    pub fn failed(&mut self, command: &StoreCommand<K>) {
        if self.writer.failed(command) && !self.presence.status(command.id(), self.at()).is_online()
        {
            self.writer.forget_failure(command.id());
        }
    }

    /// Ids whose latest write failed and awaits a retry.
    pub fn failures(&self) -> usize {
        self.writer.failures()
    }

    /// The status of `id` as this node alone knows it at `now`, without
    /// I/O. If it is not online, the store may know better: read
    /// [`key`](Self::key) and [`judge`](Self::judge).
    pub fn local_status<Q>(&self, id: &Q, now: Instant) -> Status
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.presence
            .status(id, Instant::from_nanos(self.now.max(now.as_nanos())))
    }

    /// The fleet-wide status of an id from its [`local_status`](Self::local_status)
    /// and the value stored under its key (`None`: absent). See
    /// [Reading](Self#reading).
    pub fn judge(&self, local: Status, stored: Option<&str>) -> Status {
        self.writer.judge(local, stored)
    }

    fn at(&self) -> Instant {
        Instant::from_nanos(self.now)
    }

    /// Clamps `now` to the latest seen and records it.
    fn clamp(&mut self, now: Instant) -> u64 {
        self.now = self.now.max(now.as_nanos());
        self.now
    }
}

impl<K, S> fmt::Debug for Fleet<K, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fleet")
            .field("config", &self.writer.config)
            .field("local", &self.presence)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
