//! [`SessionsConfig`], the server's heartbeat policy, and their errors.

use core::fmt;
use core::time::Duration;

/// How the server finds a dead connection: it pings, or it waits for the
/// client's own heartbeats.
///
/// Deadlines are exact and counted from the connection's last inbound frame
/// (any frame: text, binary, ping or pong), as in the article:
///
/// | | ping sent | closed for silence |
/// |---|---|---|
/// | [`ping`](Self::ping) | `interval` after the last frame | `timeout` after the ping, if nothing arrived since |
/// | [`passive`](Self::passive) | never | `interval + timeout` after the last frame |
///
/// A chatty connection is never pinged: every frame moves the next ping.
/// Durations are kept to the millisecond (as a [`Config`](crate::Config)'s
/// are), between 1 ms and [`MAX_DURATION`](Self::MAX_DURATION).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ServerHeartbeat {
    pub(super) ping: bool,
    pub(super) interval: Duration,
    pub(super) timeout: Duration,
}

impl ServerHeartbeat {
    /// Longest accepted duration: `u32::MAX` ms, about 49.7 days.
    pub const MAX_DURATION: Duration = Duration::from_millis(u32::MAX as u64);

    /// The server pings each connection `interval` after its last inbound
    /// frame and closes it if nothing arrives within `timeout` of the ping:
    /// socket.io / engine.io, the `ws` README, python `websockets`, gRPC
    /// server keepalive. The only way to keep browsers honest, which cannot
    /// send WebSocket pings themselves. `timeout` must not exceed
    /// `interval`.
    pub const fn ping(interval: Duration, timeout: Duration) -> Self {
        ServerHeartbeat {
            ping: true,
            interval,
            timeout,
        }
    }

    /// The server never pings; it closes a connection silent for
    /// `interval + timeout`. For clients that send their own heartbeats
    /// every `interval`, like the article's (and this crate's
    /// [`Connection`](crate::Connection)).
    pub const fn passive(interval: Duration, timeout: Duration) -> Self {
        ServerHeartbeat {
            ping: false,
            interval,
            timeout,
        }
    }

    /// socket.io v4's server: ping every 25 s, 20 s to answer.
    pub const fn socket_io() -> Self {
        Self::ping(Duration::from_secs(25), Duration::from_secs(20))
    }

    /// The article's server side: its clients heartbeat after 60 s of
    /// silence and give the server 60 s to answer, so a connection silent
    /// for 120 s is dead.
    pub const fn article() -> Self {
        Self::passive(Duration::from_secs(60), Duration::from_secs(60))
    }

    /// Whether the server sends pings.
    pub const fn is_ping(&self) -> bool {
        self.ping
    }

    /// The interval (see the table above).
    pub const fn interval(&self) -> Duration {
        self.interval
    }

    /// The timeout (see the table above).
    pub const fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The longest silence a live connection survives: `interval + timeout`.
    pub const fn silence_limit(&self) -> Duration {
        self.interval.saturating_add(self.timeout)
    }

    /// Checks the durations.
    ///
    /// * `interval` or `timeout` below 1 ms or above `MAX_DURATION`:
    ///   [`TooShort`](SessionsConfigError::TooShort) /
    ///   [`TooLong`](SessionsConfigError::TooLong) naming the field.
    /// * Ping mode with `timeout > interval`:
    ///   [`TimeoutLongerThanInterval`](SessionsConfigError::TimeoutLongerThanInterval)
    ///   (an answer would then move the next ping before the pending
    ///   deadline; no peer allows it either).
    pub const fn validate(&self) -> Result<(), SessionsConfigError> {
        if let Err(e) = check(self.interval, SessionsField::Interval, false) {
            return Err(e);
        }
        if let Err(e) = check(self.timeout, SessionsField::Timeout, false) {
            return Err(e);
        }
        if self.ping && self.timeout.as_millis() > self.interval.as_millis() {
            return Err(SessionsConfigError::TimeoutLongerThanInterval);
        }
        Ok(())
    }
}

/// Checks that `d` lies in 1 ms..=MAX_DURATION (or is zero, if allowed).
const fn check(
    d: Duration,
    field: SessionsField,
    zero_ok: bool,
) -> Result<(), SessionsConfigError> {
    if d.is_zero() && zero_ok {
        Ok(())
    } else if d.as_nanos() < 1_000_000 {
        Err(SessionsConfigError::TooShort(field))
    } else if d.as_nanos() > ServerHeartbeat::MAX_DURATION.as_nanos() {
        Err(SessionsConfigError::TooLong(field))
    } else {
        Ok(())
    }
}

/// How a [`Sessions`](crate::Sessions) server machine pings, closes and
/// bounds its connections, and reports its clients.
///
/// Built with `with_*` methods and checked by [`validate`](Self::validate)
/// (which [`Sessions::new`](crate::Sessions::new) calls): an invalid value is
/// a [`SessionsConfigError`], never a panic.
///
/// ```
/// use core::time::Duration;
/// use keepalive::{ServerHeartbeat, SessionsConfig, SessionsConfigError, SessionsField};
///
/// let config = SessionsConfig::new()
///     .with_heartbeat(ServerHeartbeat::ping(Duration::from_secs(25), Duration::from_secs(20)))
///     .with_linger(Duration::from_secs(2));
/// assert_eq!(config.validate(), Ok(()));
/// assert_eq!(
///     config.with_close_timeout(Duration::ZERO).validate(),
///     Err(SessionsConfigError::TooShort(SessionsField::CloseTimeout))
/// );
/// ```
///
/// # Default
///
/// | setting | default | why |
/// |---|---|---|
/// | `heartbeat` | ping, 25 s / 20 s | socket.io v4's server values: browsers cannot ping, so the server must; 25 s stays under the 30–60 s idle timeouts of common proxies and load balancers |
/// | `close_timeout` | 5 s | the client [`Config`](crate::Config)'s: a close handshake with a live peer takes one round trip; a peer that has not answered in 5 s is gone, and its socket is aborted |
/// | `linger` | 0 | report offline as soon as the last connection ends, as `Presence` does; set 1–5 s to absorb a page reload or a network switch |
/// | `forget_after` | 1 h | as [`PresenceConfig`](crate::PresenceConfig)'s: "offline since 40 minutes ago" stays answerable, a day's one-off ids do not pile up |
/// | `capacity` | 1 000 000 connections | a hard bound on memory (about 60 MB of connection state) above what one process holds sockets for |
/// | `max_per_id` | 64 | a user's tabs and devices fit; a client stuck in a reconnect loop that never closes its old sockets does not eat the capacity |
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SessionsConfig {
    heartbeat: ServerHeartbeat,
    close_timeout: Duration,
    linger: Duration,
    forget_after: Duration,
    capacity: usize,
    max_per_id: u32,
}

impl SessionsConfig {
    /// Largest accepted `capacity`: 2^29 connections (slot numbers are
    /// 30-bit).
    pub const MAX_CAPACITY: usize = 1 << 29;

    /// The [defaults](Self#default).
    pub const fn new() -> Self {
        SessionsConfig {
            heartbeat: ServerHeartbeat::socket_io(),
            close_timeout: Duration::from_secs(5),
            linger: Duration::ZERO,
            forget_after: Duration::from_secs(3600),
            capacity: 1_000_000,
            max_per_id: 64,
        }
    }

    /// The heartbeat policy of new connections; see [`ServerHeartbeat`].
    /// [`Sessions::set_heartbeat`](crate::Sessions::set_heartbeat) changes
    /// it at run time.
    pub const fn with_heartbeat(mut self, heartbeat: ServerHeartbeat) -> Self {
        self.heartbeat = heartbeat;
        self
    }

    /// How long a close may take: a connection closed (for silence, or by
    /// [`close`](crate::Sessions::close)) whose transport has not
    /// [ended](crate::Sessions::ended) this long after is to be aborted.
    pub const fn with_close_timeout(mut self, close_timeout: Duration) -> Self {
        self.close_timeout = close_timeout;
        self
    }

    /// How long a client id stays online after its last live connection
    /// went away before it is reported offline. A connection that opens
    /// within the linger keeps the id online with no report at all.
    pub const fn with_linger(mut self, linger: Duration) -> Self {
        self.linger = linger;
        self
    }

    /// How long an offline client is remembered (its status stays
    /// [`Offline`](crate::ClientStatus::Offline)) before it becomes
    /// [`Unknown`](crate::ClientStatus::Unknown) again, counted from the
    /// offline report. Zero forgets at once.
    pub const fn with_forget_after(mut self, forget_after: Duration) -> Self {
        self.forget_after = forget_after;
        self
    }

    /// Most live connections at once (closing ones included, until they
    /// end or are aborted); also the most client ids held at once.
    pub const fn with_capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    /// Most live connections one client id may hold at once.
    pub const fn with_max_per_id(mut self, max_per_id: u32) -> Self {
        self.max_per_id = max_per_id;
        self
    }

    /// See [`with_heartbeat`](Self::with_heartbeat).
    pub const fn heartbeat(&self) -> ServerHeartbeat {
        self.heartbeat
    }

    /// See [`with_close_timeout`](Self::with_close_timeout).
    pub const fn close_timeout(&self) -> Duration {
        self.close_timeout
    }

    /// See [`with_linger`](Self::with_linger).
    pub const fn linger(&self) -> Duration {
        self.linger
    }

    /// See [`with_forget_after`](Self::with_forget_after).
    pub const fn forget_after(&self) -> Duration {
        self.forget_after
    }

    /// See [`with_capacity`](Self::with_capacity).
    pub const fn capacity(&self) -> usize {
        self.capacity
    }

    /// See [`with_max_per_id`](Self::with_max_per_id).
    pub const fn max_per_id(&self) -> u32 {
        self.max_per_id
    }

    /// Checks every setting; the first problem found is returned.
    ///
    /// * the heartbeat: see [`ServerHeartbeat::validate`];
    /// * `close_timeout` outside 1 ms..=49.7 days, `linger` or
    ///   `forget_after` neither zero nor in that range:
    ///   [`TooShort`](SessionsConfigError::TooShort) /
    ///   [`TooLong`](SessionsConfigError::TooLong) naming the field;
    /// * `capacity` zero or above [`MAX_CAPACITY`](Self::MAX_CAPACITY):
    ///   [`ZeroCapacity`](SessionsConfigError::ZeroCapacity),
    ///   [`CapacityTooLarge`](SessionsConfigError::CapacityTooLarge);
    /// * `max_per_id` zero: [`ZeroPerId`](SessionsConfigError::ZeroPerId).
    pub const fn validate(&self) -> Result<(), SessionsConfigError> {
        use SessionsField as F;
        if let Err(e) = self.heartbeat.validate() {
            return Err(e);
        }
        if let Err(e) = check(self.close_timeout, F::CloseTimeout, false) {
            return Err(e);
        }
        if let Err(e) = check(self.linger, F::Linger, true) {
            return Err(e);
        }
        if let Err(e) = check(self.forget_after, F::ForgetAfter, true) {
            return Err(e);
        }
        if self.capacity == 0 {
            Err(SessionsConfigError::ZeroCapacity)
        } else if self.capacity > Self::MAX_CAPACITY {
            Err(SessionsConfigError::CapacityTooLarge)
        } else if self.max_per_id == 0 {
            Err(SessionsConfigError::ZeroPerId)
        } else {
            Ok(())
        }
    }
}

impl Default for SessionsConfig {
    fn default() -> Self {
        SessionsConfig::new()
    }
}

/// A duration setting of a [`SessionsConfig`], named in its errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SessionsField {
    /// [`ServerHeartbeat::interval`].
    Interval,
    /// [`ServerHeartbeat::timeout`].
    Timeout,
    /// [`SessionsConfig::close_timeout`].
    CloseTimeout,
    /// [`SessionsConfig::linger`].
    Linger,
    /// [`SessionsConfig::forget_after`].
    ForgetAfter,
}

impl SessionsField {
    /// The setting's name, as in the builder method.
    pub const fn name(self) -> &'static str {
        match self {
            SessionsField::Interval => "interval",
            SessionsField::Timeout => "timeout",
            SessionsField::CloseTimeout => "close_timeout",
            SessionsField::Linger => "linger",
            SessionsField::ForgetAfter => "forget_after",
        }
    }
}

/// Why a [`SessionsConfig`] or [`ServerHeartbeat`] was rejected: one
/// variant per cause.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SessionsConfigError {
    /// The duration is shorter than 1 ms (and zero is not allowed for it).
    TooShort(SessionsField),
    /// The duration is longer than [`ServerHeartbeat::MAX_DURATION`].
    TooLong(SessionsField),
    /// Ping mode with a `timeout` longer than its `interval`.
    TimeoutLongerThanInterval,
    /// `capacity` is zero: no connection could ever open.
    ZeroCapacity,
    /// `capacity` is above [`SessionsConfig::MAX_CAPACITY`].
    CapacityTooLarge,
    /// `max_per_id` is zero: no client could ever connect.
    ZeroPerId,
}

impl fmt::Display for SessionsConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use SessionsConfigError as E;
        match self {
            E::TooShort(field) => write!(f, "server {} must be at least 1 ms", field.name()),
            E::TooLong(field) => write!(
                f,
                "server {} must be at most u32::MAX ms (about 49.7 days)",
                field.name()
            ),
            E::TimeoutLongerThanInterval => {
                f.write_str("server ping timeout must not exceed the ping interval")
            }
            E::ZeroCapacity => f.write_str("server capacity must be at least 1"),
            E::CapacityTooLarge => f.write_str("server capacity must be at most 2^29 (536870912)"),
            E::ZeroPerId => f.write_str("server max_per_id must be at least 1"),
        }
    }
}

impl core::error::Error for SessionsConfigError {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    #[test]
    fn each_bad_setting_has_its_own_error_naming_its_field() {
        use SessionsConfigError as E;
        use SessionsField as F;
        let ok = SessionsConfig::new();
        assert_eq!(ok.validate(), Ok(()));
        let ms = Duration::from_millis;
        let long = ServerHeartbeat::MAX_DURATION + Duration::from_nanos(1);
        let cases = [
            (
                ok.with_heartbeat(ServerHeartbeat::ping(ms(0), ms(0))),
                E::TooShort(F::Interval),
                "interval",
            ),
            (
                ok.with_heartbeat(ServerHeartbeat::passive(long, ms(5))),
                E::TooLong(F::Interval),
                "interval",
            ),
            (
                ok.with_heartbeat(ServerHeartbeat::passive(ms(5), Duration::from_micros(999))),
                E::TooShort(F::Timeout),
                "timeout",
            ),
            (
                ok.with_heartbeat(ServerHeartbeat::ping(ms(5), ms(6))),
                E::TimeoutLongerThanInterval,
                "timeout",
            ),
            (
                ok.with_close_timeout(Duration::ZERO),
                E::TooShort(F::CloseTimeout),
                "close_timeout",
            ),
            (
                ok.with_linger(Duration::from_nanos(1)),
                E::TooShort(F::Linger),
                "linger",
            ),
            (
                ok.with_forget_after(long),
                E::TooLong(F::ForgetAfter),
                "forget_after",
            ),
            (ok.with_capacity(0), E::ZeroCapacity, "capacity"),
            (
                ok.with_capacity(usize::MAX),
                E::CapacityTooLarge,
                "capacity",
            ),
            (ok.with_max_per_id(0), E::ZeroPerId, "max_per_id"),
        ];
        for (config, error, word) in cases {
            assert_eq!(config.validate(), Err(error));
            assert!(error.to_string().contains(word), "{error}");
        }
        // The edges are accepted; passive mode may wait longer than it beats.
        let edges = ok
            .with_heartbeat(ServerHeartbeat::passive(
                ms(1),
                ServerHeartbeat::MAX_DURATION,
            ))
            .with_linger(Duration::ZERO)
            .with_forget_after(Duration::ZERO)
            .with_capacity(SessionsConfig::MAX_CAPACITY)
            .with_max_per_id(1);
        assert_eq!(edges.validate(), Ok(()));
        assert_eq!(ServerHeartbeat::ping(ms(5), ms(5)).validate(), Ok(()));
    }
}
