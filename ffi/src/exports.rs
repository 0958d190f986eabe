//! The `ka_*` symbols: the only place with `#[unsafe(no_mangle)]`.
//!
//! Unmangled names are unsafe *attributes* (two crates could export the same
//! symbol); this module is the one place the crate allows them, and every
//! function here is a one-line, safe call into [`crate::api`]. Nothing else
//! in the crate may use `unsafe` (the other modules `forbid` it).
//!
//! Every function is `extern "C"`, so a panic cannot unwind out of it: Rust
//! aborts the process instead (on wasm32, an `unreachable` trap). None is
//! expected: the core never panics and the table code has no panicking path
//! on any input.
//!
//! `keepalive.h` documents each function for C; a test checks that the
//! header and this file declare the same functions with the same types.

#![allow(unsafe_code)]

use crate::api::{self, ms, ns};
use crate::codes::KA_ABI_VERSION;

/// [`KA_ABI_VERSION`] of the library actually loaded.
#[unsafe(no_mangle)]
pub extern "C" fn ka_abi_version() -> i32 {
    KA_ABI_VERSION
}

// ----- configs -----

/// A new config with the crate's defaults: a handle, or an error.
#[unsafe(no_mangle)]
pub extern "C" fn ka_config_new() -> i32 {
    api::config_new(false)
}

/// A new config with the article's settings (60 s / 60 s / fixed 2 s).
#[unsafe(no_mangle)]
pub extern "C" fn ka_config_article() -> i32 {
    api::config_new(true)
}

/// Sets heartbeat mode, interval and timeout; 0 or an error (nothing changed).
#[unsafe(no_mangle)]
pub extern "C" fn ka_config_set_heartbeat(
    cfg: i32,
    mode: i32,
    interval_ms: f64,
    timeout_ms: f64,
) -> i32 {
    api::config_set_heartbeat(cfg, mode, interval_ms, timeout_ms)
}

/// Sets the connect timeout.
#[unsafe(no_mangle)]
pub extern "C" fn ka_config_set_connect_timeout(cfg: i32, ms: f64) -> i32 {
    api::config_set_connect_timeout(cfg, ms)
}

/// Sets the close timeout.
#[unsafe(no_mangle)]
pub extern "C" fn ka_config_set_close_timeout(cfg: i32, ms: f64) -> i32 {
    api::config_set_close_timeout(cfg, ms)
}

/// Sets the backoff (kind, initial, max, factor, jitter).
#[unsafe(no_mangle)]
pub extern "C" fn ka_config_set_backoff(
    cfg: i32,
    kind: i32,
    initial_ms: f64,
    max_ms: f64,
    factor: f64,
    jitter: i32,
) -> i32 {
    api::config_set_backoff(cfg, kind, initial_ms, max_ms, factor, jitter)
}

/// Sets the reconnect limit (`KA_UNLIMITED_ATTEMPTS`: none).
#[unsafe(no_mangle)]
pub extern "C" fn ka_config_set_max_attempts(cfg: i32, attempts: u32) -> i32 {
    api::config_set_max_attempts(cfg, attempts)
}

/// Sets the minimum uptime that resets the attempt counter.
#[unsafe(no_mangle)]
pub extern "C" fn ka_config_set_min_uptime(cfg: i32, ms: f64) -> i32 {
    api::config_set_min_uptime(cfg, ms)
}

/// Seeds the jitter.
#[unsafe(no_mangle)]
pub extern "C" fn ka_config_set_seed(cfg: i32, seed: u64) -> i32 {
    api::config_set_seed(cfg, seed)
}

// ----- connections -----

/// A new connection from a config: a handle, or an error.
#[unsafe(no_mangle)]
pub extern "C" fn ka_new(cfg: i32) -> i32 {
    api::new(cfg)
}

/// Frees a connection or a config.
#[unsafe(no_mangle)]
pub extern "C" fn ka_free(handle: i32) -> i32 {
    api::free(handle)
}

/// `connect(now)`: unread actions, or an error.
#[unsafe(no_mangle)]
pub extern "C" fn ka_connect_ns(h: i32, now_ns: u64) -> i32 {
    api::connect(h, ns(now_ns))
}

/// `connect(now)` with `now` in milliseconds.
#[unsafe(no_mangle)]
pub extern "C" fn ka_connect_ms(h: i32, now_ms: f64) -> i32 {
    api::connect(h, ms(now_ms))
}

/// `close(now)`.
#[unsafe(no_mangle)]
pub extern "C" fn ka_close_ns(h: i32, now_ns: u64) -> i32 {
    api::close(h, ns(now_ns))
}

/// `close(now)` with `now` in milliseconds.
#[unsafe(no_mangle)]
pub extern "C" fn ka_close_ms(h: i32, now_ms: f64) -> i32 {
    api::close(h, ms(now_ms))
}

/// `handle(event, now)`.
#[unsafe(no_mangle)]
pub extern "C" fn ka_handle_ns(h: i32, event: i32, now_ns: u64) -> i32 {
    api::handle(h, event, ns(now_ns))
}

/// `handle(event, now)` with `now` in milliseconds.
#[unsafe(no_mangle)]
pub extern "C" fn ka_handle_ms(h: i32, event: i32, now_ms: f64) -> i32 {
    api::handle(h, event, ms(now_ms))
}

/// `handle_from(transport, event, now)`.
#[unsafe(no_mangle)]
pub extern "C" fn ka_handle_from_ns(h: i32, transport: u32, event: i32, now_ns: u64) -> i32 {
    api::handle_from(h, transport, event, ns(now_ns))
}

/// `handle_from(transport, event, now)` with `now` in milliseconds.
#[unsafe(no_mangle)]
pub extern "C" fn ka_handle_from_ms(h: i32, transport: u32, event: i32, now_ms: f64) -> i32 {
    api::handle_from(h, transport, event, ms(now_ms))
}

/// `retry_after(delay, now)`: the server advised a delay (HTTP
/// `Retry-After`, close code 1013); call it before the `CLOSED` event.
#[unsafe(no_mangle)]
pub extern "C" fn ka_retry_after_ns(h: i32, delay_ns: u64, now_ns: u64) -> i32 {
    api::retry_after(h, api::ns_delay(delay_ns), ns(now_ns))
}

/// `retry_after(delay, now)` with both in milliseconds.
#[unsafe(no_mangle)]
pub extern "C" fn ka_retry_after_ms(h: i32, delay_ms: f64, now_ms: f64) -> i32 {
    api::retry_after(h, api::ms_delay(delay_ms), ms(now_ms))
}

/// `set_heartbeat(interval, timeout)` on a live connection.
#[unsafe(no_mangle)]
pub extern "C" fn ka_set_heartbeat(h: i32, interval_ms: f64, timeout_ms: f64) -> i32 {
    api::set_heartbeat(h, interval_ms, timeout_ms)
}

/// `poll_timeout()` in nanoseconds, `KA_NO_TIMEOUT`, or an error.
#[unsafe(no_mangle)]
pub extern "C" fn ka_poll_timeout_ns(h: i32) -> i64 {
    api::poll_timeout_ns(h)
}

/// `poll_timeout()` in milliseconds, `+Infinity`, or an error.
#[unsafe(no_mangle)]
pub extern "C" fn ka_poll_timeout_ms(h: i32) -> f64 {
    api::poll_timeout_ms(h)
}

/// Makes the next unread action current: its `KA_ACTION_*` kind.
#[unsafe(no_mangle)]
pub extern "C" fn ka_next(h: i32) -> i32 {
    api::next(h)
}

/// The current `Connect`'s transport id.
#[unsafe(no_mangle)]
pub extern "C" fn ka_action_transport(h: i32) -> i64 {
    api::action_transport(h)
}

/// The current `ScheduleReconnect`'s delay in nanoseconds.
#[unsafe(no_mangle)]
pub extern "C" fn ka_action_delay_ns(h: i32) -> i64 {
    api::action_delay_ns(h)
}

/// The current `ScheduleReconnect`'s delay in milliseconds.
#[unsafe(no_mangle)]
pub extern "C" fn ka_action_delay_ms(h: i32) -> f64 {
    api::action_delay_ms(h)
}

/// The current `ScheduleReconnect`'s attempt or `GiveUp`'s attempts.
#[unsafe(no_mangle)]
pub extern "C" fn ka_action_attempt(h: i32) -> i64 {
    api::action_attempt(h)
}

/// The current `Close`'s `KA_REASON_*`.
#[unsafe(no_mangle)]
pub extern "C" fn ka_action_reason(h: i32) -> i32 {
    api::action_reason(h)
}

/// The connection's `KA_STATE_*`.
#[unsafe(no_mangle)]
pub extern "C" fn ka_state(h: i32) -> i32 {
    api::state(h)
}

/// Reconnects tried since the connection last stayed up `min_uptime`.
#[unsafe(no_mangle)]
pub extern "C" fn ka_attempt(h: i32) -> i64 {
    api::attempt(h)
}

/// The live transport's id, 0 if none.
#[unsafe(no_mangle)]
pub extern "C" fn ka_transport(h: i32) -> i64 {
    api::transport(h)
}

/// The smoothed heartbeat round-trip time in nanoseconds, 0 if none yet.
#[unsafe(no_mangle)]
pub extern "C" fn ka_rtt_ns(h: i32) -> i64 {
    api::rtt_ns(h)
}

/// The smoothed heartbeat round-trip time in milliseconds, 0 if none yet.
#[unsafe(no_mangle)]
pub extern "C" fn ka_rtt_ms(h: i32) -> f64 {
    api::rtt_ms(h)
}
