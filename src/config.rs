//! [`Config`]: every knob of a [`Connection`](crate::Connection), checked once.
//!
//! Builder methods never fail; [`Config::validate`] (called by
//! [`Connection::new`](crate::Connection::new)) turns bad values into a
//! [`ConfigError`] that names the field. The validated form, [`Settings`],
//! keeps durations as whole milliseconds so a connection stays small.

use core::fmt;
use core::time::Duration;

use crate::backoff::Backoff;

/// When heartbeats are sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum HeartbeatMode {
    /// The article's mode (and python `websockets`'): send a heartbeat
    /// `interval` after the last inbound data; any inbound data (a message
    /// or a pong) resets it and answers an outstanding heartbeat. A busy
    /// connection sends no heartbeats at all.
    #[default]
    Idle,
    /// Phoenix / Discord style: a heartbeat every `interval` whatever else
    /// arrives; only [`Event::Pong`](crate::Event::Pong) answers it. The first
    /// heartbeat after opening is jittered uniformly in `(0, interval]` (as
    /// the Discord gateway asks), so a fleet that reconnected together does
    /// not heartbeat in lockstep. `timeout` must not exceed `interval`.
    Fixed,
    /// No heartbeats: the transport's own errors and closes are the only
    /// signal (for example when the server pings and the client only
    /// answers).
    Off,
}

/// A field of [`Config`], as named in a [`ConfigError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Field {
    /// [`Config::with_heartbeat_interval`].
    HeartbeatInterval,
    /// [`Config::with_heartbeat_timeout`].
    HeartbeatTimeout,
    /// [`Config::with_connect_timeout`].
    ConnectTimeout,
    /// [`Config::with_close_timeout`].
    CloseTimeout,
    /// [`Config::with_min_uptime`].
    MinUptime,
    /// The delay of [`Backoff::fixed`].
    BackoffDelay,
    /// `initial` of [`Backoff::exponential`].
    BackoffInitial,
    /// `max` of [`Backoff::exponential`].
    BackoffMax,
    /// An entry of [`Backoff::steps`].
    BackoffStep,
}

impl Field {
    /// The name used in messages, as in the builder method.
    pub const fn name(self) -> &'static str {
        match self {
            Field::HeartbeatInterval => "heartbeat_interval",
            Field::HeartbeatTimeout => "heartbeat_timeout",
            Field::ConnectTimeout => "connect_timeout",
            Field::CloseTimeout => "close_timeout",
            Field::MinUptime => "min_uptime",
            Field::BackoffDelay => "backoff fixed delay",
            Field::BackoffInitial => "backoff initial",
            Field::BackoffMax => "backoff max",
            Field::BackoffStep => "backoff step",
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a [`Config`] (or a live heartbeat change) was refused. One variant
/// per cause; the message names the field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConfigError {
    /// The duration is zero or shorter than 1 ms (the precision the crate
    /// keeps durations at).
    TooShort(Field),
    /// The duration is longer than `u32::MAX` ms (about 49.7 days).
    TooLong(Field),
    /// In [`HeartbeatMode::Fixed`] the timeout exceeds the interval: the
    /// next heartbeat would be due before the previous one timed out.
    TimeoutExceedsInterval,
    /// The exponential factor is below 1, infinite or NaN.
    InvalidFactor,
    /// The exponential `initial` delay exceeds `max`.
    InitialExceedsMax,
    /// [`Backoff::steps`] was given an empty table.
    EmptySteps,
    /// `max_attempts` is 0; use [`Config::without_max_attempts`] for "no
    /// limit", or a user close to stop.
    ZeroMaxAttempts,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::TooShort(field) => write!(f, "{field} must be at least 1 ms"),
            ConfigError::TooLong(field) => {
                write!(
                    f,
                    "{field} must be at most {} ms (about 49.7 days)",
                    u32::MAX
                )
            }
            ConfigError::TimeoutExceedsInterval => f.write_str(
                "heartbeat_timeout must not exceed heartbeat_interval in fixed heartbeat mode",
            ),
            ConfigError::InvalidFactor => {
                f.write_str("backoff factor must be finite and at least 1")
            }
            ConfigError::InitialExceedsMax => {
                f.write_str("backoff initial delay must not exceed backoff max")
            }
            ConfigError::EmptySteps => f.write_str("backoff steps must not be empty"),
            ConfigError::ZeroMaxAttempts => f.write_str("max_attempts must be at least 1"),
        }
    }
}

impl core::error::Error for ConfigError {}

/// Everything a [`Connection`](crate::Connection) needs to know, built with
/// `with_*` / `without_*` methods and checked by [`Config::validate`].
///
/// Durations are kept to the millisecond (anything finer is dropped) and
/// must lie between 1 ms and about 49.7 days.
///
/// # Default
///
/// | setting | default | why |
/// |---|---|---|
/// | heartbeat | [`Idle`](HeartbeatMode::Idle), every 25 s of silence | socket.io's `pingInterval` (Phoenix: 30 s); below the 60 s idle timeout of common proxies and load balancers, so the heartbeat also keeps them open |
/// | heartbeat timeout | 20 s | socket.io's `pingTimeout`: a dead peer is found 45 s after its last data |
/// | connect timeout | 10 s | reconnecting-websocket's 4 s fails TLS handshakes on slow mobile links; gRPC's 20 s minimum is for long-lived RPC channels |
/// | close timeout | 5 s | a close handshake is one round trip; a peer that has not answered in 5 s is not going to, so the transport is aborted |
/// | backoff | [`Backoff::default`]: 1 s × 2 up to 30 s, full jitter | gRPC's shape, with a cap suited to interactive clients |
/// | max attempts | unlimited | as socket.io and reconnecting-websocket: a client should come back whenever the server does |
/// | min uptime | 5 s | reconnecting-websocket's `minUptime`: a connection that drops within 5 s does not reset the backoff, so a flapping server is not hammered |
/// | seed | random per connection (with `std`), else mixed from the first `now` | identical seeds would make jitter useless; set one with [`with_seed`](Config::with_seed) for reproducible traces |
///
/// ```
/// use core::time::Duration;
/// use keepalive::{Backoff, Config};
///
/// // The article's parameters: 60 s heartbeat, 60 s timeout, fixed 2 s.
/// let article = Config::default()
///     .with_heartbeat_interval(Duration::from_secs(60))
///     .with_heartbeat_timeout(Duration::from_secs(60))
///     .with_backoff(Backoff::fixed(Duration::from_secs(2)));
/// assert!(article.validate().is_ok());
/// assert_eq!(article, Config::article());
///
/// let bad = Config::default().with_connect_timeout(Duration::ZERO);
/// assert_eq!(
///     bad.validate().unwrap_err().to_string(),
///     "connect_timeout must be at least 1 ms"
/// );
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Config {
    heartbeat_mode: HeartbeatMode,
    heartbeat_interval: Duration,
    heartbeat_timeout: Duration,
    connect_timeout: Duration,
    close_timeout: Duration,
    backoff: Backoff,
    max_attempts: Option<u32>,
    min_uptime: Duration,
    seed: Option<u64>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            heartbeat_mode: HeartbeatMode::Idle,
            heartbeat_interval: Duration::from_secs(25),
            heartbeat_timeout: Duration::from_secs(20),
            connect_timeout: Duration::from_secs(10),
            close_timeout: Duration::from_secs(5),
            backoff: Backoff::default(),
            max_attempts: None,
            min_uptime: Duration::from_secs(5),
            seed: None,
        }
    }
}

impl Config {
    /// The article's parameters: idle heartbeat after 60 s of silence, 60 s
    /// to answer, a fixed 2 s before every reconnect, no attempt limit. The
    /// other settings keep their defaults (the article had no connect or
    /// close timeout at all: that is one of its bugs).
    pub fn article() -> Self {
        Config::default()
            .with_heartbeat_interval(Duration::from_secs(60))
            .with_heartbeat_timeout(Duration::from_secs(60))
            .with_backoff(Backoff::fixed(Duration::from_secs(2)))
    }

    /// How long a connection may be silent (idle mode) or how often to send
    /// (fixed mode) before a heartbeat goes out.
    pub const fn with_heartbeat_interval(mut self, interval: Duration) -> Self {
        self.heartbeat_interval = interval;
        self
    }

    /// How long to wait for any answer to a heartbeat before closing.
    pub const fn with_heartbeat_timeout(mut self, timeout: Duration) -> Self {
        self.heartbeat_timeout = timeout;
        self
    }

    /// Chooses [`HeartbeatMode::Idle`], [`Fixed`](HeartbeatMode::Fixed) or
    /// [`Off`](HeartbeatMode::Off).
    pub const fn with_heartbeat_mode(mut self, mode: HeartbeatMode) -> Self {
        self.heartbeat_mode = mode;
        self
    }

    /// Sends no heartbeats ([`HeartbeatMode::Off`]).
    pub const fn without_heartbeat(self) -> Self {
        self.with_heartbeat_mode(HeartbeatMode::Off)
    }

    /// How long `Connecting` may last before the attempt is closed.
    pub const fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long to wait for `Closed` after a `Close` before `Abort`.
    pub const fn with_close_timeout(mut self, timeout: Duration) -> Self {
        self.close_timeout = timeout;
        self
    }

    /// The reconnect delay policy.
    pub const fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Gives up after this many reconnects in a row (socket.io's
    /// `reconnectionAttempts`: with 2, two reconnects are tried, then
    /// `GiveUp`).
    pub const fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = Some(attempts);
        self
    }

    /// Reconnects forever (the default).
    pub const fn without_max_attempts(mut self) -> Self {
        self.max_attempts = None;
        self
    }

    /// How long a connection must stay open before the attempt counter (and
    /// with it the backoff) starts again from the first delay. Zero resets
    /// on every open.
    pub const fn with_min_uptime(mut self, uptime: Duration) -> Self {
        self.min_uptime = uptime;
        self
    }

    /// Seeds the jitter, making every delay reproducible. Give each client
    /// its own seed: clients that share one jitter in lockstep.
    pub const fn with_seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// The heartbeat mode.
    pub const fn heartbeat_mode(&self) -> HeartbeatMode {
        self.heartbeat_mode
    }

    /// The heartbeat interval.
    pub const fn heartbeat_interval(&self) -> Duration {
        self.heartbeat_interval
    }

    /// The heartbeat timeout.
    pub const fn heartbeat_timeout(&self) -> Duration {
        self.heartbeat_timeout
    }

    /// The connect timeout.
    pub const fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// The close timeout.
    pub const fn close_timeout(&self) -> Duration {
        self.close_timeout
    }

    /// The reconnect policy.
    pub const fn backoff(&self) -> Backoff {
        self.backoff
    }

    /// The reconnect limit, if any.
    pub const fn max_attempts(&self) -> Option<u32> {
        self.max_attempts
    }

    /// The minimum uptime that resets the attempt counter.
    pub const fn min_uptime(&self) -> Duration {
        self.min_uptime
    }

    /// The jitter seed, if one was set.
    pub const fn seed(&self) -> Option<u64> {
        self.seed
    }

    /// Checks every field; the first problem found is returned:
    ///
    /// - a duration below 1 ms or above `u32::MAX` ms
    ///   ([`TooShort`](ConfigError::TooShort) /
    ///   [`TooLong`](ConfigError::TooLong)); `min_uptime` may be zero, and
    ///   heartbeat durations are not checked when heartbeats are off;
    /// - a fixed-mode timeout above the interval;
    /// - a bad backoff ([`Backoff::validate`]);
    /// - `max_attempts` of 0.
    pub fn validate(&self) -> Result<(), ConfigError> {
        Settings::from_config(self).map(drop)
    }
}

/// A validated [`Config`] in compact form: what a connection stores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Settings {
    pub(crate) mode: HeartbeatMode,
    /// No seed was given and no entropy was available: mix the first `now`
    /// into the generator.
    pub(crate) seed_from_time: bool,
    pub(crate) interval_ms: u32,
    pub(crate) timeout_ms: u32,
    pub(crate) connect_ms: u32,
    pub(crate) close_ms: u32,
    pub(crate) min_uptime_ms: u32,
    /// 0 means unlimited.
    pub(crate) max_attempts: u32,
}

impl Settings {
    pub(crate) fn from_config(c: &Config) -> Result<Settings, ConfigError> {
        let (interval_ms, timeout_ms) =
            heartbeat_ms(c.heartbeat_mode, c.heartbeat_interval, c.heartbeat_timeout)?;
        let connect_ms = check_duration(c.connect_timeout, Field::ConnectTimeout)?;
        let close_ms = check_duration(c.close_timeout, Field::CloseTimeout)?;
        let min_uptime_ms = match c.min_uptime.is_zero() {
            true => 0,
            false => check_duration(c.min_uptime, Field::MinUptime)?,
        };
        c.backoff.validate()?;
        let max_attempts = match c.max_attempts {
            None => 0,
            Some(0) => return Err(ConfigError::ZeroMaxAttempts),
            Some(n) => n,
        };
        Ok(Settings {
            mode: c.heartbeat_mode,
            seed_from_time: false,
            interval_ms,
            timeout_ms,
            connect_ms,
            close_ms,
            min_uptime_ms,
            max_attempts,
        })
    }
}

/// Checks a heartbeat interval and timeout for `mode`, in milliseconds.
pub(crate) fn heartbeat_ms(
    mode: HeartbeatMode,
    interval: Duration,
    timeout: Duration,
) -> Result<(u32, u32), ConfigError> {
    if mode == HeartbeatMode::Off {
        // Unused, but kept in range so a later change of mode is safe.
        let clamp = |d: Duration| d.as_millis().clamp(1, u32::MAX as u128) as u32;
        return Ok((clamp(interval), clamp(timeout)));
    }
    let interval_ms = check_duration(interval, Field::HeartbeatInterval)?;
    let timeout_ms = check_duration(timeout, Field::HeartbeatTimeout)?;
    if mode == HeartbeatMode::Fixed && timeout_ms > interval_ms {
        return Err(ConfigError::TimeoutExceedsInterval);
    }
    Ok((interval_ms, timeout_ms))
}

/// `d` in whole milliseconds, if it lies between 1 ms and `u32::MAX` ms.
pub(crate) fn check_duration(d: Duration, field: Field) -> Result<u32, ConfigError> {
    match d.as_millis() {
        0 => Err(ConfigError::TooShort(field)),
        ms if ms > u32::MAX as u128 => Err(ConfigError::TooLong(field)),
        ms => Ok(ms as u32),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    #[test]
    fn default_is_valid() {
        assert_eq!(Config::default().validate(), Ok(()));
        assert_eq!(Config::article().validate(), Ok(()));
    }

    #[test]
    fn each_bad_value_has_its_own_error() {
        use ConfigError::*;
        let c = Config::default();
        let cases = [
            (
                c.with_heartbeat_interval(Duration::ZERO),
                TooShort(Field::HeartbeatInterval),
            ),
            (
                c.with_heartbeat_timeout(Duration::from_micros(999)),
                TooShort(Field::HeartbeatTimeout),
            ),
            (
                c.with_connect_timeout(Duration::MAX),
                TooLong(Field::ConnectTimeout),
            ),
            (
                c.with_close_timeout(Duration::ZERO),
                TooShort(Field::CloseTimeout),
            ),
            (c.with_min_uptime(Duration::MAX), TooLong(Field::MinUptime)),
            (
                c.with_heartbeat_mode(HeartbeatMode::Fixed)
                    .with_heartbeat_interval(SEC)
                    .with_heartbeat_timeout(2 * SEC),
                TimeoutExceedsInterval,
            ),
            (
                c.with_backoff(Backoff::exponential(SEC, SEC).with_factor(0.9)),
                InvalidFactor,
            ),
            (c.with_max_attempts(0), ZeroMaxAttempts),
        ];
        for (config, want) in cases {
            assert_eq!(config.validate(), Err(want));
        }
    }

    #[test]
    fn off_mode_ignores_heartbeat_durations_and_zero_uptime_is_fine() {
        let c = Config::default()
            .without_heartbeat()
            .with_heartbeat_interval(Duration::ZERO)
            .with_min_uptime(Duration::ZERO);
        assert_eq!(c.validate(), Ok(()));
    }

    #[test]
    fn messages_name_the_field() {
        extern crate std;
        use std::string::ToString;
        let err = Config::default()
            .with_heartbeat_timeout(Duration::MAX)
            .validate();
        assert_eq!(
            err.unwrap_err().to_string(),
            "heartbeat_timeout must be at most 4294967295 ms (about 49.7 days)"
        );
    }
}
