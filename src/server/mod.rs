//! The server half: per-connection heartbeats, and presence per client id
//! derived from all of that id's connections.

mod action;
mod clients;
mod config;
mod conn;

use core::borrow::Borrow;
use core::fmt;
use core::hash::{BuildHasher, Hash};
use core::time::Duration;
use std::borrow::ToOwned;
use std::collections::VecDeque;
use std::collections::hash_map::RandomState;
use std::vec::Vec;

pub use self::action::{ClientStatus, OfflineReason, ServerAction, SessionsError};
pub use self::config::{ServerHeartbeat, SessionsConfig, SessionsConfigError, SessionsField};
pub use self::conn::ConnId;

use self::clients::{Change, Clients};
use self::conn::{Conn, Phase};
use crate::Instant;
use crate::wheel::{Links, NIL, Wheel};

/// After a burst of reports drains, keep at most this much queue capacity.
const REPORTS_KEEP: usize = 1024;

/// The server machine: it watches every connection, pings the silent ones,
/// closes the dead ones, and says which client ids are online, judging each
/// id by *all* of its connections.
///
/// What it does, and what people write by hand instead:
///
/// * **Server pings, exact deadlines.** In [ping mode](ServerHeartbeat::ping)
///   a connection is pinged `interval` after its last inbound frame and
///   closed `timeout` after an unanswered ping: exactly `interval +
///   timeout` after its last frame, not "within the next sweep" (the `ws`
///   README's sweep finds a dead client one to two intervals late). Any
///   frame counts, so a chatty connection is never pinged.
///   [Passive mode](ServerHeartbeat::passive) never pings and closes after
///   `interval + timeout` of silence (the article's clients heartbeat
///   themselves). A close that does not complete within `close_timeout`
///   becomes an [`Abort`](ServerAction::Abort).
/// * **Presence across connections.** An id is online from its first
///   connection's open until its *last* live connection ends or is closed:
///   a second tab is not a second "online", one tab closing is not
///   "offline", a reconnect that opens before the old socket's close is
///   noticed makes no flap. An optional [`linger`](SessionsConfig::with_linger)
///   absorbs quick reconnects. Ids not connected since the machine was
///   created are [`Unknown`](ClientStatus::Unknown), never offline: a
///   restarted server reports nobody offline.
/// * **O(1) per frame, O(due) per poll.** [`received`](Self::received)
///   writes two fields (no hashing, no timer touched): connections are
///   named by the [`ConnId`] this machine issues. Deadlines live in a
///   timing wheel that re-files a connection lazily, once per deadline it
///   outlives; a poll with nothing due costs a few comparisons.
/// * **Bounded.** At most [`capacity`](SessionsConfig::with_capacity)
///   connections and [`max_per_id`](SessionsConfig::with_max_per_id) per id,
///   each refused with a [`SessionsError`] that touches nothing tracked.
///
/// Like the rest of the crate it does no I/O and reads no clock. Every
/// input takes `now`; time going backwards is clamped to the latest `now`
/// seen. Inputs naming an unknown or stale connection are ignored. No input
/// sequence panics.
///
/// # Driving it
///
/// *Inputs:* [`open`](Self::open) when a connection is accepted (it returns
/// the connection's [`ConnId`]), [`received`](Self::received) for every
/// inbound frame, [`pong`](Self::pong) for a pong (also an RTT sample),
/// [`ended`](Self::ended) when the transport is gone, [`close`](Self::close)
/// when the server closes one itself. *Polling:* sleep until
/// [`poll_timeout`](Self::poll_timeout), then call [`poll`](Self::poll)
/// until `None` and do what it says. Call `poll` after inputs too: `open`
/// and `ended` queue [`Online`](ServerAction::Online) /
/// [`Offline`](ServerAction::Offline) reports. One timer serves every
/// connection.
///
/// ```
/// use core::time::Duration;
/// use keepalive::{Instant, ServerAction, ServerHeartbeat, Sessions, SessionsConfig};
///
/// let hb = ServerHeartbeat::ping(Duration::from_secs(25), Duration::from_secs(20));
/// let mut server: Sessions<String> = Sessions::new(SessionsConfig::new().with_heartbeat(hb))?;
/// let at = Instant::from_secs;
///
/// // alice opens two tabs; she comes online once.
/// let tab1 = server.open("alice", at(0))?;
/// let tab2 = server.open("alice", at(1))?;
/// assert_eq!(server.poll(at(1)), Some(ServerAction::Online("alice".into())));
/// assert_eq!(server.poll(at(1)), None);
///
/// // Tab 2 chats and answers pings; tab 1 goes silent after its open.
/// server.received(tab2, at(20));
/// let mut log = Vec::new();
/// while let Some(now) = server.poll_timeout().filter(|&t| t <= at(60)) {
///     while let Some(action) = server.poll(now) {
///         match action {
///             ServerAction::Ping(c) if c == tab2 => server.pong(tab2, now),
///             ServerAction::Close(c) => server.ended(c, now), // the close completes
///             _ => {}
///         }
///         log.push((now, action));
///     }
/// }
/// // Exact times: tab 1 pinged 25 s after its last frame, closed 20 s later;
/// // tab 2 pinged 25 s after its last frame, at 45 s, and answers.
/// assert_eq!(log, [
///     (at(25), ServerAction::Ping(tab1)),
///     (at(45), ServerAction::Close(tab1)),
///     (at(45), ServerAction::Ping(tab2)),
/// ]);
/// // Only tab 1 is gone: alice is still online through tab 2.
/// assert!(server.status("alice").is_online());
/// assert_eq!(server.connections("alice"), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Memory
///
/// A connection costs one 48-byte slot, plus 16 bytes in a heap while its
/// deadline's bucket is being drained. A client id costs one slot (32 bytes
/// for a `u64` key: key, an instant, counters) plus 5 bytes per hash
/// table position, at a load of at most 7/8, and 16 bytes in a queue while
/// it lingers or is offline. Freed slots are reused; memory is not returned
/// to the allocator.
///
/// # Hasher and HashDoS
///
/// `S` hashes client ids, as in `HashMap`; the default, [`RandomState`], is
/// keyed per process. Only [`open`](Self::open), `status` and
/// `connections` hash: frames do not. As with
/// [`Presence`](crate::Presence#hasher-and-hashdos), pick a fast unkeyed
/// hasher only for ids clients cannot choose.
pub struct Sessions<K, S = RandomState> {
    config: SessionsConfig,
    /// The policy of new connections.
    heartbeat: ServerHeartbeat,
    /// `close_timeout` in ns.
    close_timeout: u64,
    conns: Vec<Conn>,
    /// Head of the free connection slots, linked through `next`.
    free: u32,
    /// Connections live or closing.
    open: usize,
    wheel: Wheel,
    clients: Clients<K, S>,
    /// `Online`/`Offline` reports queued by inputs, handed out by `poll`.
    reports: VecDeque<ServerAction<K>>,
    /// Latest `now` seen, in ns.
    now: u64,
}

impl<K: Hash + Eq + Clone> Sessions<K, RandomState> {
    /// A machine with the default, DoS-resistant hasher.
    ///
    /// # Errors
    ///
    /// The first problem [`SessionsConfig::validate`] finds.
    pub fn new(config: SessionsConfig) -> Result<Self, SessionsConfigError> {
        Sessions::with_hasher(config, RandomState::new())
    }
}

impl<K: Hash + Eq + Clone, S: BuildHasher> Sessions<K, S> {
    /// A machine that hashes client ids with `hasher`; see
    /// [Hasher and HashDoS](Self#hasher-and-hashdos).
    ///
    /// # Errors
    ///
    /// The first problem [`SessionsConfig::validate`] finds.
    pub fn with_hasher(config: SessionsConfig, hasher: S) -> Result<Self, SessionsConfigError> {
        config.validate()?;
        let ns = |d: Duration| d.as_nanos() as u64; // validated: < 50 days
        let hb = config.heartbeat();
        let close_timeout = ns(config.close_timeout());
        // The bucket width must not exceed `close_timeout`: `close` moves a
        // deadline earlier by less than that (see wheel.rs). 1/128 of the
        // shortest duration keeps each bucket a small slice of the
        // connections.
        let basis = close_timeout.min(ns(hb.interval())).min(ns(hb.timeout()));
        let shift = (basis / 128).max(1).ilog2();
        let reach = ns(hb.silence_limit()) + close_timeout;
        let clients = Clients::new(
            hasher,
            config.capacity(),
            ns(config.linger()),
            ns(config.forget_after()),
        );
        Ok(Sessions {
            config,
            heartbeat: hb,
            close_timeout,
            conns: Vec::new(),
            free: NIL,
            open: 0,
            wheel: Wheel::new(shift, reach),
            clients,
            reports: VecDeque::new(),
            now: 0,
        })
    }

    /// The configuration this machine was built with.
    pub fn config(&self) -> &SessionsConfig {
        &self.config
    }

    /// The heartbeat policy new connections get.
    pub fn heartbeat(&self) -> ServerHeartbeat {
        self.heartbeat
    }

    /// Changes the heartbeat policy of connections opened from now on (the
    /// open ones keep theirs).
    ///
    /// # Errors
    ///
    /// The problem [`ServerHeartbeat::validate`] finds; the policy is left
    /// unchanged.
    pub fn set_heartbeat(&mut self, heartbeat: ServerHeartbeat) -> Result<(), SessionsConfigError> {
        heartbeat.validate()?;
        self.heartbeat = heartbeat;
        Ok(())
    }

    // ---- inputs ----

    /// A connection of client `id` was accepted at `now`. Returns its
    /// [`ConnId`], which names it in every later input and action. If it
    /// is the id's first live connection (and the id was not lingering),
    /// an [`Online`](ServerAction::Online) report is queued for `poll`.
    ///
    /// # Errors
    ///
    /// Nothing tracked changes, and the connection should be refused (503
    /// with a `Retry-After`, or close code 1013):
    ///
    /// * [`SessionsError::Full`]: `capacity` connections are open, or
    ///   `capacity` ids are held and none is offline (offline ids are
    ///   forgotten early, oldest first, to make room);
    /// * [`SessionsError::TooManyForId`]: the id has `max_per_id` live
    ///   connections.
    pub fn open<Q>(&mut self, id: &Q, now: Instant) -> Result<ConnId, SessionsError>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        let now = self.clamp(now);
        if self.open >= self.config.capacity() {
            return Err(SessionsError::Full);
        }
        let (client, change) = self.clients.join(id, now, self.config.max_per_id())?;
        if change == Change::CameOnline {
            let key = self.clients.key(client).clone();
            self.reports.push_back(ServerAction::Online(key));
        }
        let slot = if self.free != NIL {
            let slot = self.free;
            self.free = self.conns[slot as usize].next();
            slot
        } else {
            // Below MAX_SLOTS: `open` is bounded by `capacity` <= 2^29, and
            // zombies by the run.
            self.conns.push(Conn::free(1));
            (self.conns.len() - 1) as u32
        };
        let hb = self.heartbeat;
        let c = &mut self.conns[slot as usize];
        c.last = now;
        c.mark = 0;
        c.client = client;
        c.interval_ms = hb.interval().as_millis() as u32; // validated
        c.timeout_ms = hb.timeout().as_millis() as u32;
        c.srtt_us = 0;
        c.pinged = false;
        c.phase = Phase::Live;
        c.ping = hb.is_ping();
        c.set_next(NIL);
        let id = ConnId::new(slot, c.generation);
        let deadline = c.deadline(self.close_timeout);
        self.wheel.file(&mut self.conns, slot, deadline);
        self.open += 1;
        Ok(id)
    }

    /// An inbound frame (text, binary, ping or pong) on `conn` at `now`:
    /// the connection is alive until `interval` (ping mode: the next ping)
    /// or `interval + timeout` (passive mode: the close) from now, and an
    /// outstanding ping counts as answered. O(1): two writes.
    #[inline]
    pub fn received(&mut self, conn: ConnId, now: Instant) {
        let now = self.clamp(now);
        if let Some(c) = self.live_mut(conn) {
            c.last = now;
            c.pinged = false;
        }
    }

    /// A pong on `conn` at `now`: a frame like any other, and, if a ping
    /// is outstanding, a round-trip sample for [`rtt`](Self::rtt).
    pub fn pong(&mut self, conn: ConnId, now: Instant) {
        let now = self.clamp(now);
        if let Some(c) = self.live_mut(conn) {
            if c.pinged {
                c.sample_rtt(now.saturating_sub(c.mark));
            }
            c.last = now;
            c.pinged = false;
        }
    }

    /// The server closes `conn` itself at `now` (a kick, a shutdown with
    /// 1012, a slow consumer): it no longer counts toward its client's
    /// presence, and is to be [aborted](ServerAction::Abort) if it has not
    /// [ended](Self::ended) within `close_timeout`. Returns whether it was
    /// live (`false`: unknown, stale, or closing already; nothing changes).
    pub fn close(&mut self, conn: ConnId, now: Instant) -> bool {
        let now = self.clamp(now);
        if self.live_mut(conn).is_none() {
            return false;
        }
        self.begin_close(conn.slot() as u32, now, OfflineReason::Closed);
        let slot = conn.slot() as u32;
        // In a list: move it to the abort deadline. In the run: it is due
        // by the end of the current bucket, no later than that deadline,
        // and the run re-files it.
        if self.wheel.unlink(&mut self.conns, slot) {
            let deadline = now.saturating_add(self.close_timeout);
            self.wheel.file(&mut self.conns, slot, deadline);
        }
        true
    }

    /// The transport of `conn` is gone (closed by either side, or failed)
    /// at `now`. If it was live and the last of its client's, the client
    /// goes offline (after `linger`). Its [`ConnId`] is stale from now on.
    pub fn ended(&mut self, conn: ConnId, now: Instant) {
        let now = self.clamp(now);
        let Some(c) = self.conns.get(conn.slot()) else {
            return;
        };
        if c.generation != conn.generation() || !matches!(c.phase, Phase::Live | Phase::Closing) {
            return;
        }
        let slot = conn.slot() as u32;
        if c.phase == Phase::Live {
            self.leave(c.client, now, OfflineReason::Ended);
        }
        self.open -= 1;
        if self.wheel.unlink(&mut self.conns, slot) {
            self.release(slot);
        } else {
            // The run holds it: freed when the run pops it; stale already.
            let c = &mut self.conns[slot as usize];
            c.phase = Phase::Zombie;
            c.generation = next_generation(c.generation);
        }
    }

    // ---- polling ----

    /// The next thing to do or report at `now`; call until `None`.
    ///
    /// Queued reports come first, in the order of the inputs that caused
    /// them; then whatever fell due by `now`, each connection's at its
    /// exact deadline: [`Ping`](ServerAction::Ping),
    /// [`Close`](ServerAction::Close), [`Abort`](ServerAction::Abort), and
    /// the [`Offline`](ServerAction::Offline) reports they and `linger`
    /// cause. Reports of one client strictly alternate, starting with
    /// `Online`. A ping or close is stamped `now`: its follow-up deadline
    /// counts from when the caller acted on it.
    pub fn poll(&mut self, now: Instant) -> Option<ServerAction<K>> {
        let now = self.clamp(now);
        loop {
            if let Some(report) = self.reports.pop_front() {
                return Some(report);
            }
            if self.reports.capacity() > REPORTS_KEEP {
                // A burst of opens (a restart's reconnects) drained: give
                // its memory back.
                self.reports.shrink_to(REPORTS_KEEP);
            }
            if self.clients.is_due(now)
                && let Some((key, reason)) = self.clients.poll(now)
            {
                return Some(ServerAction::Offline(key, reason));
            }
            if !self.wheel.is_due(now) {
                return None;
            }
            let close_timeout = self.close_timeout;
            let slot = self
                .wheel
                .pop(&mut self.conns, now, |c| c.deadline(close_timeout))?;
            let c = &mut self.conns[slot as usize];
            let id = ConnId::new(slot, c.generation);
            match c.phase {
                Phase::Zombie | Phase::Free => self.release_zombie(slot),
                Phase::Closing => {
                    self.open -= 1;
                    self.release(slot);
                    return Some(ServerAction::Abort(id));
                }
                Phase::Live if c.ping && !c.pinged => {
                    c.mark = now;
                    c.pinged = true;
                    let deadline = c.deadline(close_timeout);
                    self.wheel.file(&mut self.conns, slot, deadline);
                    return Some(ServerAction::Ping(id));
                }
                Phase::Live => {
                    self.begin_close(slot, now, OfflineReason::Silent);
                    let deadline = now.saturating_add(close_timeout);
                    self.wheel.file(&mut self.conns, slot, deadline);
                    return Some(ServerAction::Close(id));
                }
            }
        }
    }

    /// When to call [`poll`](Self::poll) next, or `None` if nothing can
    /// fall due. A soft deadline: never later than the next action, perhaps
    /// earlier (a bucket boundary, or a connection that has had frames
    /// since), in which case `poll` returns `None` and this moves on. Never
    /// earlier than the latest `now` seen.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if !self.reports.is_empty() {
            return Some(Instant::from_nanos(self.now));
        }
        let due = match (self.wheel.due(), self.clients.due()) {
            (Some(w), Some(c)) => Some(w.min(c)),
            (w, c) => w.or(c),
        };
        due.map(|t| Instant::from_nanos(t.max(self.now)))
    }

    // ---- queries ----

    /// The presence of client `id`, as far as the reports go.
    pub fn status<Q>(&self, id: &Q) -> ClientStatus
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.clients.status(id)
    }

    /// Live connections of client `id` (0 if unknown or offline).
    pub fn connections<Q>(&self, id: &Q) -> usize
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        match self.clients.status(id) {
            ClientStatus::Online { connections, .. } => connections,
            _ => 0,
        }
    }

    /// Client ids online (reported online, not yet offline; lingering ones
    /// included).
    pub fn online_count(&self) -> usize {
        self.clients.online_count()
    }

    /// The ids counted by [`online_count`](Self::online_count), in no
    /// particular order. O(ids held): for dashboards and tests.
    pub fn online(&self) -> impl Iterator<Item = &K> {
        self.clients.online()
    }

    /// Client ids held: online, lingering, or offline and not forgotten.
    pub fn clients(&self) -> usize {
        self.clients.len()
    }

    /// Connections open: live, or closing and not yet ended or aborted.
    /// This is what `capacity` bounds.
    pub fn len(&self) -> usize {
        self.open
    }

    /// `true` if no connection is open.
    pub fn is_empty(&self) -> bool {
        self.open == 0
    }

    /// Whether `conn` is live: open, and not closing.
    pub fn is_live(&self, conn: ConnId) -> bool {
        self.get(conn).is_some_and(|c| c.phase == Phase::Live)
    }

    /// The client id of `conn` while it is live or closing.
    pub fn client_of(&self, conn: ConnId) -> Option<&K> {
        self.get(conn)
            .filter(|c| matches!(c.phase, Phase::Live | Phase::Closing))
            .map(|c| self.clients.key(c.client))
    }

    /// The smoothed round-trip time of `conn`'s answered pings (QUIC-style:
    /// `7/8 · srtt + 1/8 · sample`), or `None` before the first.
    pub fn rtt(&self, conn: ConnId) -> Option<Duration> {
        self.get(conn)
            .filter(|c| c.srtt_us > 0)
            .map(|c| Duration::from_micros(u64::from(c.srtt_us)))
    }

    // ---- internals ----

    #[inline]
    fn clamp(&mut self, now: Instant) -> u64 {
        self.now = self.now.max(now.as_nanos());
        self.now
    }

    fn get(&self, conn: ConnId) -> Option<&Conn> {
        self.conns
            .get(conn.slot())
            .filter(|c| c.generation == conn.generation())
    }

    #[inline]
    fn live_mut(&mut self, conn: ConnId) -> Option<&mut Conn> {
        self.conns
            .get_mut(conn.slot())
            .filter(|c| c.generation == conn.generation() && c.phase == Phase::Live)
    }

    /// A live connection starts closing at `now`.
    fn begin_close(&mut self, slot: u32, now: u64, reason: OfflineReason) {
        let c = &mut self.conns[slot as usize];
        c.phase = Phase::Closing;
        c.mark = now;
        let client = c.client;
        self.leave(client, now, reason);
    }

    /// A live connection of `client` went away; queues the report it
    /// causes.
    fn leave(&mut self, client: u32, now: u64, reason: OfflineReason) {
        if self.clients.leave(client, now, reason) == Change::WentOffline {
            let key = self.clients.key(client).clone();
            let reason = self.clients.reason(client);
            self.reports.push_back(ServerAction::Offline(key, reason));
        }
    }

    /// Frees a connection slot that no list or run holds.
    fn release(&mut self, slot: u32) {
        let c = &mut self.conns[slot as usize];
        c.phase = Phase::Free;
        c.generation = next_generation(c.generation);
        c.set_next(self.free);
        self.free = slot;
    }

    /// Frees a zombie popped from the run (its generation moved on when it
    /// ended).
    fn release_zombie(&mut self, slot: u32) {
        let c = &mut self.conns[slot as usize];
        c.phase = Phase::Free;
        c.set_next(self.free);
        self.free = slot;
    }
}

/// Generations skip 0, so a [`ConnId`] is never 0.
fn next_generation(generation: u32) -> u32 {
    generation.checked_add(1).unwrap_or(1)
}

impl<K, S> fmt::Debug for Sessions<K, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sessions")
            .field("config", &self.config)
            .field("heartbeat", &self.heartbeat)
            .field("connections", &self.open)
            .field("clients", &self.clients.len())
            .field("online", &self.clients.online_count())
            .field("now", &Instant::from_nanos(self.now))
            .finish_non_exhaustive()
    }
}
