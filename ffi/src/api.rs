//! The API in safe Rust: what every `ka_*` export calls. Numbers in, numbers
//! out; errors are the negative codes of [`crate::codes`].

#![forbid(unsafe_code)]

use core::time::Duration;

use keepalive::{Action, Actions, Backoff, Config, Connection, Event, Instant, TransportId};

use crate::codes::{self, *};
use crate::table::{Live, Object, lock};

// ----- numbers to core types -----

/// `now` in milliseconds (JavaScript's `performance.now()`) as an
/// [`Instant`], rounded to the nanosecond. Negative is clamped to zero,
/// huge saturates; NaN is refused.
fn ms_instant(ms: f64) -> Result<Instant, i32> {
    ms_nanos(ms).map(Instant::from_nanos)
}

/// A duration in milliseconds, rounded to the nanosecond. Negative becomes
/// zero and huge saturates, so the config check reports them as too short
/// or too long for the right field; NaN is refused.
fn ms_duration(ms: f64) -> Result<Duration, i32> {
    ms_nanos(ms).map(Duration::from_nanos)
}

fn ms_nanos(ms: f64) -> Result<u64, i32> {
    if ms.is_nan() {
        return Err(KA_ERR_INVALID_ARGUMENT);
    }
    // `as` saturates: negative gives 0, too large gives u64::MAX.
    Ok((ms * 1e6 + 0.5) as u64)
}

fn nanos_ms(nanos: u64) -> f64 {
    nanos as f64 / 1e6
}

/// A `u64` (a time or duration in nanoseconds) as a non-negative `i64`,
/// clamped below `i64::MAX`, which is [`KA_NO_TIMEOUT`].
fn clamp_i64(nanos: u64) -> i64 {
    nanos.min(i64::MAX as u64 - 1) as i64
}

fn duration_ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

// ----- configs -----

/// A new config with the crate's defaults (`article` false) or the
/// article's 60 s / 60 s / fixed 2 s (`article` true).
pub fn config_new(article: bool) -> i32 {
    let config = match article {
        true => Config::article(),
        false => Config::default(),
    };
    lock().insert(Object::Config(config))
}

/// Applies `change` to a copy of the config, checks the result, and keeps
/// it only if it is valid: a refused setter changes nothing, and its error
/// names what it set.
fn config_update(cfg: i32, change: impl FnOnce(Config) -> Result<Config, i32>) -> i32 {
    let mut table = lock();
    let config = match table.config(cfg) {
        Ok(config) => config,
        Err(code) => return code,
    };
    let changed = match change(*config) {
        Ok(changed) => changed,
        Err(code) => return code,
    };
    match changed.validate() {
        Ok(()) => {
            *config = changed;
            KA_OK
        }
        Err(err) => codes::config_error(err),
    }
}

/// Sets the heartbeat mode, interval and timeout (together, as they are
/// checked together).
pub fn config_set_heartbeat(cfg: i32, mode: i32, interval_ms: f64, timeout_ms: f64) -> i32 {
    config_update(cfg, |c| {
        let mode = codes::heartbeat_mode(mode).ok_or(KA_ERR_INVALID_ARGUMENT)?;
        Ok(c.with_heartbeat_mode(mode)
            .with_heartbeat_interval(ms_duration(interval_ms)?)
            .with_heartbeat_timeout(ms_duration(timeout_ms)?))
    })
}

/// Sets the connect timeout.
pub fn config_set_connect_timeout(cfg: i32, ms: f64) -> i32 {
    config_update(cfg, |c| Ok(c.with_connect_timeout(ms_duration(ms)?)))
}

/// Sets the close timeout.
pub fn config_set_close_timeout(cfg: i32, ms: f64) -> i32 {
    config_update(cfg, |c| Ok(c.with_close_timeout(ms_duration(ms)?)))
}

/// Sets the backoff: `KA_BACKOFF_FIXED` (delay `initial_ms`; `max_ms` and
/// `factor` ignored) or `KA_BACKOFF_EXPONENTIAL`, with a `KA_JITTER_*`.
pub fn config_set_backoff(
    cfg: i32,
    kind: i32,
    initial_ms: f64,
    max_ms: f64,
    factor: f64,
    jitter: i32,
) -> i32 {
    config_update(cfg, |c| {
        let jitter = codes::jitter(jitter).ok_or(KA_ERR_INVALID_ARGUMENT)?;
        let initial = ms_duration(initial_ms)?;
        let backoff = match kind {
            KA_BACKOFF_FIXED => Backoff::fixed(initial),
            KA_BACKOFF_EXPONENTIAL => {
                Backoff::exponential(initial, ms_duration(max_ms)?).with_factor(factor)
            }
            _ => return Err(KA_ERR_INVALID_ARGUMENT),
        };
        Ok(c.with_backoff(backoff.with_jitter(jitter)))
    })
}

/// Sets the reconnect limit; [`KA_UNLIMITED_ATTEMPTS`] removes it.
pub fn config_set_max_attempts(cfg: i32, attempts: u32) -> i32 {
    config_update(cfg, |c| {
        Ok(match attempts {
            KA_UNLIMITED_ATTEMPTS => c.without_max_attempts(),
            n => c.with_max_attempts(n),
        })
    })
}

/// Sets the minimum uptime that resets the attempt counter (0 allowed).
pub fn config_set_min_uptime(cfg: i32, ms: f64) -> i32 {
    config_update(cfg, |c| Ok(c.with_min_uptime(ms_duration(ms)?)))
}

/// Seeds the jitter.
pub fn config_set_seed(cfg: i32, seed: u64) -> i32 {
    config_update(cfg, |c| Ok(c.with_seed(seed)))
}

// ----- connections: lifecycle -----

/// A new connection built from the config `cfg` (which stays valid and can
/// build more).
pub fn new(cfg: i32) -> i32 {
    let mut table = lock();
    let config = match table.config(cfg) {
        Ok(config) => *config,
        Err(code) => return code,
    };
    match Connection::new(config) {
        Ok(conn) => table.insert(Object::Connection(Box::new(Live::new(conn)))),
        Err(err) => codes::config_error(err),
    }
}

/// Frees a connection or a config.
pub fn free(handle: i32) -> i32 {
    match lock().remove(handle) {
        Ok(()) => KA_OK,
        Err(code) => code,
    }
}

// ----- connections: inputs -----

/// Runs `f` on the connection `h`, or returns the handle's error.
fn with_live<T>(h: i32, err: impl FnOnce(i32) -> T, f: impl FnOnce(&mut Live) -> T) -> T {
    match lock().conn(h) {
        Ok(live) => f(live),
        Err(code) => err(code),
    }
}

/// Applies one input to the connection `h`. `args` is checked after the
/// handle, so a bad handle is reported first.
fn input<A>(h: i32, args: Result<A, i32>, f: impl FnOnce(&mut Connection, A) -> Actions) -> i32 {
    with_live(
        h,
        |code| code,
        |live| match args {
            Ok(args) => live.input(|conn| f(conn, args)),
            Err(code) => code,
        },
    )
}

fn event(code: i32) -> Result<Event, i32> {
    codes::event(code).ok_or(KA_ERR_INVALID_ARGUMENT)
}

/// `Connection::connect`.
pub fn connect(h: i32, now: Result<Instant, i32>) -> i32 {
    input(h, now, |c, now| c.connect(now))
}

/// `Connection::close`.
pub fn close(h: i32, now: Result<Instant, i32>) -> i32 {
    input(h, now, |c, now| c.close(now))
}

/// `Connection::handle`.
pub fn handle(h: i32, event_code: i32, now: Result<Instant, i32>) -> i32 {
    let args = event(event_code).and_then(|e| Ok((e, now?)));
    input(h, args, |c, (e, now)| c.handle(e, now))
}

/// `Connection::handle_from`.
pub fn handle_from(h: i32, transport: u32, event_code: i32, now: Result<Instant, i32>) -> i32 {
    let id = TransportId::from_u32(transport);
    let args = event(event_code).and_then(|e| Ok((e, now?)));
    input(h, args, |c, (e, now)| c.handle_from(id, e, now))
}

/// `Connection::retry_after`: a server-advised delay, `delay_ms` (NaN is
/// refused; negative is no advice).
pub fn retry_after(h: i32, delay: Result<Duration, i32>, now: Result<Instant, i32>) -> i32 {
    let args = delay.and_then(|d| Ok((d, now?)));
    input(h, args, |c, (d, now)| c.retry_after(d, now))
}

/// `delay_ns` as a [`Duration`] (always valid).
pub fn ns_delay(delay_ns: u64) -> Result<Duration, i32> {
    Ok(Duration::from_nanos(delay_ns))
}

/// `delay_ms` as a [`Duration`] (NaN is refused, negative is zero).
pub fn ms_delay(delay_ms: f64) -> Result<Duration, i32> {
    ms_duration(delay_ms)
}

/// `now_ns` as an [`Instant`] (always valid).
pub fn ns(now_ns: u64) -> Result<Instant, i32> {
    Ok(Instant::from_nanos(now_ns))
}

/// `now_ms` as an [`Instant`] (NaN is refused).
pub fn ms(now_ms: f64) -> Result<Instant, i32> {
    ms_instant(now_ms)
}

/// `Connection::set_heartbeat`.
pub fn set_heartbeat(h: i32, interval_ms: f64, timeout_ms: f64) -> i32 {
    with_live(
        h,
        |code| code,
        |live| {
            let durations =
                ms_duration(interval_ms).and_then(|i| Ok((i, ms_duration(timeout_ms)?)));
            match durations {
                Ok((interval, timeout)) => match live.conn.set_heartbeat(interval, timeout) {
                    Ok(()) => KA_OK,
                    Err(err) => codes::config_error(err),
                },
                Err(code) => code,
            }
        },
    )
}

// ----- connections: polling -----

/// `poll_timeout` in nanoseconds, or [`KA_NO_TIMEOUT`].
pub fn poll_timeout_ns(h: i32) -> i64 {
    with_live(h, i64::from, |live| match live.conn.poll_timeout() {
        Some(t) => clamp_i64(t.as_nanos()),
        None => KA_NO_TIMEOUT,
    })
}

/// `poll_timeout` in milliseconds, or `+Infinity`.
pub fn poll_timeout_ms(h: i32) -> f64 {
    with_live(h, f64::from, |live| match live.conn.poll_timeout() {
        Some(t) => nanos_ms(t.as_nanos()),
        None => f64::INFINITY,
    })
}

/// Makes the oldest unread action current and returns its kind, or
/// [`KA_ACTION_NONE`].
pub fn next(h: i32) -> i32 {
    with_live(
        h,
        |code| code,
        |live| match live.next() {
            Some(action) => codes::action_kind(action),
            None => KA_ACTION_NONE,
        },
    )
}

/// Reads a field of the current action.
fn field<T>(h: i32, err: fn(i32) -> T, f: impl FnOnce(Action) -> Option<T>) -> T {
    with_live(h, err, |live| match live.current {
        Some(action) => f(action).unwrap_or_else(|| err(KA_ERR_NO_FIELD)),
        None => err(KA_ERR_NO_ACTION),
    })
}

/// The transport id of a current `Connect`.
pub fn action_transport(h: i32) -> i64 {
    field(h, i64::from, |a| match a {
        Action::Connect { id } => Some(i64::from(id.get())),
        _ => None,
    })
}

fn delay(a: Action) -> Option<Duration> {
    match a {
        Action::ScheduleReconnect { delay, .. } => Some(delay),
        _ => None,
    }
}

/// The delay of a current `ScheduleReconnect`, in nanoseconds.
pub fn action_delay_ns(h: i32) -> i64 {
    field(h, i64::from, |a| {
        delay(a).map(|d| clamp_i64(duration_ns(d)))
    })
}

/// The delay of a current `ScheduleReconnect`, in milliseconds.
pub fn action_delay_ms(h: i32) -> f64 {
    field(h, f64::from, |a| delay(a).map(|d| nanos_ms(duration_ns(d))))
}

/// The attempt of a current `ScheduleReconnect`, or the attempts of a
/// current `GiveUp`.
pub fn action_attempt(h: i32) -> i64 {
    field(h, i64::from, |a| match a {
        Action::ScheduleReconnect { attempt, .. } => Some(i64::from(attempt)),
        Action::GiveUp { attempts } => Some(i64::from(attempts)),
        _ => None,
    })
}

/// The reason of a current `Close`.
pub fn action_reason(h: i32) -> i32 {
    field(
        h,
        |code| code,
        |a| match a {
            Action::Close { reason } => Some(codes::reason(reason)),
            _ => None,
        },
    )
}

// ----- connections: queries -----

/// `Connection::state` as a `KA_STATE_*`.
pub fn state(h: i32) -> i32 {
    with_live(h, |code| code, |live| codes::state(live.conn.state()))
}

/// `Connection::attempt`.
pub fn attempt(h: i32) -> i64 {
    with_live(h, i64::from, |live| i64::from(live.conn.attempt()))
}

/// `Connection::transport`, 0 when there is none.
pub fn transport(h: i32) -> i64 {
    with_live(h, i64::from, |live| {
        live.conn.transport().map_or(0, |id| i64::from(id.get()))
    })
}

/// `Connection::rtt` in nanoseconds, 0 before the first sample.
pub fn rtt_ns(h: i32) -> i64 {
    with_live(h, i64::from, |live| {
        live.conn.rtt().map_or(0, |d| clamp_i64(duration_ns(d)))
    })
}

/// `Connection::rtt` in milliseconds, 0 before the first sample.
pub fn rtt_ms(h: i32) -> f64 {
    with_live(h, f64::from, |live| {
        live.conn.rtt().map_or(0.0, |d| nanos_ms(duration_ns(d)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milliseconds_round_trip_through_nanoseconds() {
        for ns in [0u64, 1, 999_999, 1_000_000, 60_000_000_000, 1 << 50] {
            assert_eq!(ms_nanos(nanos_ms(ns)), Ok(ns), "{ns}");
        }
        assert_eq!(ms_nanos(-5.0), Ok(0));
        assert_eq!(ms_nanos(f64::INFINITY), Ok(u64::MAX));
        assert_eq!(ms_nanos(f64::NAN), Err(KA_ERR_INVALID_ARGUMENT));
    }
}
