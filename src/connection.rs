//! [`Connection`]: the client state machine (heartbeat, close, reconnect).

use core::num::NonZeroU64;
use core::time::Duration;

use crate::backoff::{Backoff, Rng};
use crate::config::{Config, ConfigError, HeartbeatMode, Settings, heartbeat_ms};
use crate::event::{Action, Actions, CloseReason, Event, TransportId};
use crate::state::State;
use crate::time::Instant;

mod advice;

/// What to do once the transport being closed has ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Then {
    /// Schedule a reconnect (or give up): the lock rule's one reconnect.
    Reconnect,
    /// The user closed: stop.
    Stop,
    /// The user called `connect` while closing: connect at once.
    ConnectNow,
}

/// The state, each variant carrying its own deadline: nothing derivable is
/// stored twice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Idle,
    Connecting {
        deadline: Instant,
    },
    Open {
        since: Instant,
        /// Not awaiting: when the next heartbeat is due. Awaiting: when the
        /// outstanding heartbeat was sent.
        mark: Instant,
        awaiting: bool,
    },
    Closing {
        abort_at: Instant,
        then: Then,
    },
    Waiting {
        until: Instant,
    },
    Stopped,
    Failed,
}

/// The client side of a kept-alive connection, as a sans-IO state machine.
///
/// It reads no clock and touches no socket. The caller feeds it inputs, each
/// with the current time, and performs the [`Action`]s it returns.
///
/// # Contract
///
/// **Inputs** (each returns [`Actions`], to be performed in order):
/// [`connect`](Connection::connect), [`close`](Connection::close),
/// [`handle`](Connection::handle) for the current transport's events,
/// [`handle_from`](Connection::handle_from) for events tagged with the
/// transport they came from (late events of replaced transports are dropped),
/// [`retry_after`](Connection::retry_after) when the server advised a delay
/// (`Retry-After`, close code 1013), before the `Closed` that follows it.
///
/// **Polling**: after every input, ask [`poll_timeout`](Connection::poll_timeout)
/// when to send the next [`Event::Tick`]. It is a soft deadline: a tick
/// earlier is harmless (it emits nothing), a tick later delays heartbeats and
/// reconnects by as much.
///
/// **Time** should not go backwards; if it does, it is clamped to the latest
/// `now` seen. No input, time or order can make it panic.
///
/// # Rules
///
/// 1. *Heartbeat.* In [`HeartbeatMode::Idle`] a heartbeat goes out `interval`
///    after the last inbound data, and a peer that stays silent `timeout`
///    more is closed: a dead peer is found exactly `interval + timeout` after
///    its last data.
/// 2. *Double close.* A heartbeat timeout only emits `Close`; the reconnect
///    is scheduled by the `Closed` that follows (or by `Abort` after the
///    close timeout). One `Close` per transport at most.
/// 3. *Lock.* One disconnect schedules exactly one reconnect, whatever mix
///    of `Error` and `Closed` arrives.
/// 4. *One transport.* No `Connect` until the previous transport ended.
/// 5. *Backoff.* Reconnect delays follow the [`Backoff`], raised to a
///    server-advised delay when there is one; the attempt counter resets
///    once a connection stayed open `min_uptime`.
/// 6. *Close is final.* After [`close`](Connection::close) nothing but the
///    close escalation (`Abort`) is emitted until the next `connect`.
/// 7. *Late tick.* A tick more than `timeout` past the heartbeat deadline
///    (the process was suspended) probes with a fresh heartbeat instead of
///    declaring the peer dead on the spot.
/// 8. *Deadlines.* `poll_timeout` is never earlier than the latest `now`.
///
/// # Coalescing inbound data
///
/// A caller may hold back [`Event::Message`]s and hand over only the latest
/// one, stamped with its arrival time, just before its next other input or
/// tick: the outcome is the same. A `Message` never emits an action, in
/// any state; in idle mode it only moves the heartbeat mark to
/// `now + interval` (so only the latest `now` counts, and an earlier one
/// is overwritten by it), in fixed mode and with heartbeats off it changes
/// nothing, and the `min_uptime` reset it may cause is reached by the
/// latest time too. Deadlines only move later, so a timer armed before the
/// held messages fires early, which is harmless (rule 8), after the flush.
/// Pongs are not coalesced: each is an RTT sample. The JavaScript module
/// does this (`coalesce`), and its tests compare whole transcripts with
/// and without it.
///
/// # Drive loop
///
/// A complete loop over a pretend transport that opens at once and then
/// never answers (the article's dead server), with the article's settings:
///
/// ```
/// use core::time::Duration;
/// use keepalive::{Action, Config, Connection, Event, Instant, TransportId};
///
/// let mut conn = Connection::new(Config::article().with_seed(7))?;
/// let mut now = Instant::ZERO;
/// let mut inbox: Vec<(TransportId, Event)> = Vec::new(); // what the socket reported
/// let mut log = Vec::new();
///
/// let mut actions = conn.connect(now);
/// while log.len() < 8 {
///     for action in actions {
///         log.push(format!("{now} {action}"));
///         match action {
///             Action::Connect { id } => inbox.push((id, Event::Opened)), // socket = open()
///             Action::SendHeartbeat => {}                                  // socket.send(ping)
///             Action::Close { .. } => {                                    // socket.close()
///                 inbox.push((conn.transport().unwrap(), Event::Closed))
///             }
///             Action::Abort => {}                                          // drop(socket)
///             Action::ScheduleReconnect { .. } | Action::GiveUp { .. } => {} // tell the user
///         }
///     }
///     // Feed what the transport reported; otherwise sleep until the deadline.
///     actions = match inbox.pop() {
///         Some((id, event)) => conn.handle_from(id, event, now),
///         None => {
///             now = conn.poll_timeout().expect("a live connection always has a deadline");
///             conn.handle(Event::Tick, now)
///         }
///     };
/// }
/// assert_eq!(log[..5], [
///     "0.000s connect #1",
///     "60.000s send heartbeat",
///     "120.000s close (heartbeat timeout)",
///     "120.000s reconnect #1 in 2.000s",
///     "122.000s connect #2",
/// ]);
/// # Ok::<(), keepalive::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Connection {
    settings: Settings,
    backoff: Backoff,
    phase: Phase,
    /// The latest `now` seen: earlier times are clamped to it.
    now: Instant,
    rng: Rng,
    /// The previous reconnect delay in nanoseconds, for decorrelated jitter.
    last_delay: u64,
    /// Smoothed round-trip time in nanoseconds.
    srtt: Option<NonZeroU64>,
    /// The id of the newest transport (0 before the first connect).
    transport: u32,
    /// Reconnects since the last connection that stayed up `min_uptime`.
    attempt: u32,
    /// A server-advised floor for the next reconnect delay, in milliseconds
    /// (0: none), see [`Connection::retry_after`].
    advised_ms: u32,
}

impl Connection {
    /// A connection in [`State::Idle`]; nothing happens until
    /// [`connect`](Connection::connect).
    ///
    /// # Errors
    ///
    /// The first problem [`Config::validate`] finds, as a [`ConfigError`]
    /// naming the field.
    pub fn new(config: Config) -> Result<Connection, ConfigError> {
        let mut settings = Settings::from_config(&config)?;
        let seed = match config.seed().or_else(entropy) {
            Some(seed) => seed,
            None => {
                settings.seed_from_time = true;
                0
            }
        };
        Ok(Connection {
            settings,
            backoff: config.backoff(),
            phase: Phase::Idle,
            now: Instant::ZERO,
            rng: Rng::new(seed),
            last_delay: 0,
            srtt: None,
            transport: 0,
            attempt: 0,
            advised_ms: 0,
        })
    }

    // ----- inputs -----

    /// Starts connecting: from `Idle`, `Stopped` or `Failed` (with a fresh
    /// attempt counter), or at once from `Waiting` (the network came back:
    /// the pending timer is cancelled and the attempt is not counted twice).
    /// While a transport is closing, the connect happens as soon as it has
    /// ended. While connecting or open, it does nothing.
    pub fn connect(&mut self, now: Instant) -> Actions {
        let now = self.advance(now);
        match self.phase {
            Phase::Idle | Phase::Stopped | Phase::Failed => {
                self.attempt = 0;
                self.last_delay = 0;
                Actions::one(self.open_transport(now))
            }
            Phase::Waiting { .. } => Actions::one(self.open_transport(now)),
            Phase::Closing { abort_at, .. } => {
                self.phase = Phase::Closing {
                    abort_at,
                    then: Then::ConnectNow,
                };
                Actions::new()
            }
            Phase::Connecting { .. } | Phase::Open { .. } => Actions::new(),
        }
    }

    /// Stops for good: closes the transport if there is one (then only the
    /// close escalation, `Abort`, can follow), cancels any pending
    /// reconnect, and sends no more heartbeats. `connect` starts again.
    pub fn close(&mut self, now: Instant) -> Actions {
        let now = self.advance(now);
        self.advised_ms = 0;
        match self.phase {
            Phase::Connecting { .. } | Phase::Open { .. } => {
                self.begin_close(now, CloseReason::User, Then::Stop)
            }
            Phase::Closing { abort_at, .. } => {
                self.phase = Phase::Closing {
                    abort_at,
                    then: Then::Stop,
                };
                Actions::new()
            }
            Phase::Idle | Phase::Waiting { .. } | Phase::Stopped | Phase::Failed => {
                self.phase = Phase::Stopped;
                Actions::new()
            }
        }
    }

    /// Handles an event of the current transport (or a [`Event::Tick`]).
    ///
    /// Events that make no sense in the current state (a `Message` while
    /// waiting, a second `Closed`) are ignored: they come from a transport
    /// that has already ended.
    #[inline]
    pub fn handle(&mut self, event: Event, now: Instant) -> Actions {
        let now = self.advance(now);
        match event {
            Event::Tick => self.on_tick(now),
            Event::Opened => {
                if let Phase::Connecting { .. } = self.phase {
                    self.phase = Phase::Open {
                        since: now,
                        mark: self.first_heartbeat(now),
                        awaiting: false,
                    };
                }
                Actions::new()
            }
            Event::Message => {
                self.on_inbound(now, false);
                Actions::new()
            }
            Event::Pong => {
                self.on_inbound(now, true);
                Actions::new()
            }
            Event::Error => match self.phase {
                Phase::Connecting { .. } | Phase::Open { .. } => {
                    self.begin_close(now, CloseReason::Error, Then::Reconnect)
                }
                _ => Actions::new(),
            },
            Event::Closed => self.on_ended(now, false),
            Event::Rejected => self.on_ended(now, true),
        }
    }

    /// Handles an event that transport `id` reported; events of any other
    /// transport (one already replaced or ended) are dropped. A
    /// [`Event::Tick`] belongs to no transport and is always handled.
    #[inline]
    pub fn handle_from(&mut self, id: TransportId, event: Event, now: Instant) -> Actions {
        if event == Event::Tick || self.transport() == Some(id) {
            self.handle(event, now)
        } else {
            self.advance(now);
            Actions::new()
        }
    }

    /// Changes the heartbeat interval and timeout of a live connection (for
    /// example to the values a server sent in its handshake, as engine.io
    /// does). An interval change moves the pending heartbeat; a timeout
    /// change moves the pending timeout. Call
    /// [`poll_timeout`](Connection::poll_timeout) again afterwards.
    ///
    /// # Errors
    ///
    /// The same checks as [`Config::validate`] for these two values; on an
    /// error nothing changes.
    pub fn set_heartbeat(
        &mut self,
        interval: Duration,
        timeout: Duration,
    ) -> Result<(), ConfigError> {
        let (interval_ms, timeout_ms) = heartbeat_ms(self.settings.mode, interval, timeout)?;
        let old_interval = self.interval();
        self.settings.interval_ms = interval_ms;
        self.settings.timeout_ms = timeout_ms;
        let new_interval = self.interval();
        if let Phase::Open {
            mark,
            awaiting: false,
            ..
        } = &mut self.phase
        {
            *mark = mark.saturating_sub(old_interval) + new_interval;
        }
        Ok(())
    }

    // ----- polling and queries -----

    /// When to send the next [`Event::Tick`], or `None` if nothing is
    /// pending (idle, stopped, failed, or open with heartbeats off). Never
    /// earlier than the latest `now` seen.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let deadline = match self.phase {
            Phase::Connecting { deadline } => deadline,
            Phase::Open { mark, awaiting, .. } => match (self.settings.mode, awaiting) {
                (HeartbeatMode::Off, _) => return None,
                (_, false) => mark,
                (_, true) => mark.add_millis(self.settings.timeout_ms),
            },
            Phase::Closing { abort_at, .. } => abort_at,
            Phase::Waiting { until } => until,
            Phase::Idle | Phase::Stopped | Phase::Failed => return None,
        };
        Some(deadline.max(self.now))
    }

    /// The current state.
    pub fn state(&self) -> State {
        match self.phase {
            Phase::Idle => State::Idle,
            Phase::Connecting { .. } => State::Connecting,
            Phase::Open { .. } => State::Open,
            Phase::Closing { .. } => State::Closing,
            Phase::Waiting { .. } => State::Waiting,
            Phase::Stopped => State::Stopped,
            Phase::Failed => State::Failed,
        }
    }

    /// Reconnects tried since the last connection that stayed open
    /// `min_uptime` (0 before any disconnect).
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The smoothed heartbeat round-trip time (QUIC's estimator: the first
    /// sample, then `7/8 · srtt + 1/8 · sample`), once a heartbeat has been
    /// answered by a [`Event::Pong`].
    pub fn rtt(&self) -> Option<Duration> {
        self.srtt.map(|ns| Duration::from_nanos(ns.get()))
    }

    /// The live transport (connecting, open or closing), if any.
    pub fn transport(&self) -> Option<TransportId> {
        self.state()
            .has_transport()
            .then_some(TransportId(self.transport))
    }

    /// The heartbeat mode.
    pub fn heartbeat_mode(&self) -> HeartbeatMode {
        self.settings.mode
    }

    /// The current heartbeat interval.
    pub fn heartbeat_interval(&self) -> Duration {
        self.interval()
    }

    /// The current heartbeat timeout.
    pub fn heartbeat_timeout(&self) -> Duration {
        self.timeout()
    }

    // ----- transitions -----

    /// Clamps `now` to the latest time seen, and resets the attempt counter
    /// once the open connection has been up `min_uptime`.
    #[inline]
    fn advance(&mut self, now: Instant) -> Instant {
        self.now = self.now.max(now);
        if let Phase::Open { since, .. } = self.phase
            && self.now.nanos_since(since) >= u64::from(self.settings.min_uptime_ms) * 1_000_000
        {
            self.attempt = 0;
            self.last_delay = 0;
        }
        self.now
    }

    fn open_transport(&mut self, now: Instant) -> Action {
        if self.settings.seed_from_time {
            self.settings.seed_from_time = false;
            self.rng = Rng::new(self.rng.next_u64() ^ now.as_nanos());
        }
        self.transport = self.transport.wrapping_add(1).max(1);
        self.advised_ms = 0;
        self.phase = Phase::Connecting {
            deadline: now.add_millis(self.settings.connect_ms),
        };
        Action::Connect {
            id: TransportId(self.transport),
        }
    }

    fn begin_close(&mut self, now: Instant, reason: CloseReason, then: Then) -> Actions {
        self.phase = Phase::Closing {
            abort_at: now.add_millis(self.settings.close_ms),
            then,
        };
        Actions::one(Action::Close { reason })
    }

    /// The transport ended (`Closed`, `Rejected`): what the close was for
    /// happens now. Without a live transport the event is stale.
    fn on_ended(&mut self, now: Instant, rejected: bool) -> Actions {
        let then = match self.phase {
            Phase::Connecting { .. } | Phase::Open { .. } => Then::Reconnect,
            Phase::Closing { then, .. } => then,
            _ => return Actions::new(),
        };
        let mut actions = Actions::new();
        self.after_transport(now, then, rejected, &mut actions);
        actions
    }

    fn after_transport(&mut self, now: Instant, then: Then, rejected: bool, out: &mut Actions) {
        match then {
            Then::Stop => self.phase = Phase::Stopped,
            Then::ConnectNow => out.push(self.open_transport(now)),
            Then::Reconnect if rejected => out.push(self.give_up()),
            Then::Reconnect => out.push(self.schedule_reconnect(now)),
        }
    }

    fn schedule_reconnect(&mut self, now: Instant) -> Action {
        let limit = self.settings.max_attempts;
        if limit != 0 && self.attempt >= limit {
            return self.give_up();
        }
        self.attempt = self.attempt.saturating_add(1);
        let previous = Duration::from_nanos(self.last_delay);
        let mut delay = self.backoff.delay(self.attempt, previous, &mut self.rng);
        // Decorrelated jitter follows the backoff's own delays, not advice.
        self.last_delay = u64::try_from(delay.as_nanos()).unwrap_or(u64::MAX);
        if self.advised_ms != 0 {
            delay = delay.max(self.advised(self.advised_ms));
            self.advised_ms = 0;
        }
        self.phase = Phase::Waiting { until: now + delay };
        Action::ScheduleReconnect {
            delay,
            attempt: self.attempt,
        }
    }

    fn give_up(&mut self) -> Action {
        self.phase = Phase::Failed;
        self.advised_ms = 0;
        Action::GiveUp {
            attempts: self.attempt,
        }
    }

    fn on_tick(&mut self, now: Instant) -> Actions {
        match self.phase {
            Phase::Connecting { deadline } if now >= deadline => {
                self.begin_close(now, CloseReason::ConnectTimeout, Then::Reconnect)
            }
            Phase::Open {
                since,
                mark,
                awaiting,
            } => self.on_heartbeat_tick(now, since, mark, awaiting),
            Phase::Closing { abort_at, then } if now >= abort_at => {
                let mut actions = Actions::one(Action::Abort);
                self.after_transport(now, then, false, &mut actions);
                actions
            }
            Phase::Waiting { until } if now >= until => Actions::one(self.open_transport(now)),
            _ => Actions::new(),
        }
    }

    fn on_heartbeat_tick(
        &mut self,
        now: Instant,
        since: Instant,
        mark: Instant,
        awaiting: bool,
    ) -> Actions {
        if self.settings.mode == HeartbeatMode::Off {
            return Actions::new();
        }
        if !awaiting {
            if now < mark {
                return Actions::new();
            }
        } else {
            let deadline = mark.add_millis(self.settings.timeout_ms);
            if now < deadline {
                return Actions::new();
            }
            // On time: the peer had its full timeout and stayed silent.
            if now <= deadline.add_millis(self.settings.timeout_ms) {
                return self.begin_close(now, CloseReason::HeartbeatTimeout, Then::Reconnect);
            }
            // Late: we were not running, so its answer may be unread. Probe.
        }
        self.phase = Phase::Open {
            since,
            mark: now,
            awaiting: true,
        };
        Actions::one(Action::SendHeartbeat)
    }

    /// Inbound data: in idle mode any data answers and postpones the
    /// heartbeat; in fixed mode only a pong answers it.
    #[inline]
    fn on_inbound(&mut self, now: Instant, pong: bool) {
        let Phase::Open {
            since,
            mark,
            awaiting,
        } = self.phase
        else {
            return;
        };
        if pong && awaiting {
            self.sample_rtt(now.saturating_duration_since(mark));
        }
        let next = match self.settings.mode {
            HeartbeatMode::Off => return,
            HeartbeatMode::Idle => now.add_millis(self.settings.interval_ms),
            HeartbeatMode::Fixed if pong && awaiting => mark.add_millis(self.settings.interval_ms),
            HeartbeatMode::Fixed => return,
        };
        self.phase = Phase::Open {
            since,
            mark: next,
            awaiting: false,
        };
    }

    fn sample_rtt(&mut self, sample: Duration) {
        let sample = u64::try_from(sample.as_nanos()).unwrap_or(u64::MAX);
        let smoothed = match self.srtt {
            None => sample,
            Some(srtt) => {
                let srtt = u128::from(srtt.get());
                ((srtt * 7 + u128::from(sample)) / 8) as u64
            }
        };
        self.srtt = NonZeroU64::new(smoothed.max(1));
    }

    /// When the first heartbeat after opening is due: `interval` later in
    /// idle mode, jittered in `(0, interval]` in fixed mode.
    fn first_heartbeat(&mut self, now: Instant) -> Instant {
        let interval = self.interval();
        match self.settings.mode {
            HeartbeatMode::Fixed => {
                let nanos = self.rng.between(1, interval.as_nanos() as u64);
                now + Duration::from_nanos(nanos)
            }
            HeartbeatMode::Idle | HeartbeatMode::Off => now + interval,
        }
    }

    fn interval(&self) -> Duration {
        ms(self.settings.interval_ms)
    }

    fn timeout(&self) -> Duration {
        ms(self.settings.timeout_ms)
    }
}

const fn ms(millis: u32) -> Duration {
    Duration::from_millis(millis as u64)
}

/// A per-connection random seed, so that default-configured clients do not
/// jitter in lockstep. Without `std` there is no entropy: the first `now`
/// is mixed in instead.
#[cfg(feature = "std")]
fn entropy() -> Option<u64> {
    use std::hash::{BuildHasher, Hasher};
    Some(
        std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish(),
    )
}

#[cfg(not(feature = "std"))]
fn entropy() -> Option<u64> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fits_in_two_cache_lines() {
        let size = core::mem::size_of::<Connection>();
        assert!(size <= 128, "Connection is {size} bytes");
        assert_eq!(core::mem::size_of::<crate::Backoff>(), 32);
    }
}
