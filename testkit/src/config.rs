//! Bytes to `Config`: any field values, valid or not.

use core::time::Duration;

use keepalive::{Backoff, Config, HeartbeatMode, Jitter};

use crate::bytes::Bytes;

const MS: Duration = Duration::from_millis(1);

/// Phoenix JS's reconnect step table, in milliseconds: 10, 50, 100, 150,
/// 200, 250, 500, 1000, 2000 (the last repeats).
pub static PHOENIX_STEPS: [Duration; 9] = [
    Duration::from_millis(10),
    Duration::from_millis(50),
    Duration::from_millis(100),
    Duration::from_millis(150),
    Duration::from_millis(200),
    Duration::from_millis(250),
    Duration::from_millis(500),
    Duration::from_millis(1000),
    Duration::from_millis(2000),
];

/// Step tables a fuzzed `Backoff::steps` picks from (steps need `'static`
/// tables): empty, one step, Phoenix's, decreasing, and two invalid ones.
pub static STEP_TABLES: [&[Duration]; 6] = [
    &[],
    &[Duration::from_millis(1)],
    &PHOENIX_STEPS,
    &[
        Duration::from_millis(5),
        Duration::from_millis(1),
        Duration::from_millis(3),
    ],
    &[Duration::from_millis(2), Duration::ZERO],
    &[Duration::from_millis(1), Duration::MAX],
];

/// A duration: mostly a few milliseconds (valid, and short enough for
/// timers to fire in a fuzz run), sometimes any valid length, an edge (0,
/// sub-ms, exactly `u32::MAX` ms, one past it, `Duration::MAX`) or raw
/// nanoseconds or seconds.
pub fn decode_duration(b: &mut Bytes<'_>) -> Duration {
    match b.u8() % 16 {
        0..=9 => MS * (1 + u32::from(b.u8())),
        10 | 11 => MS * (1 + u32::from(b.u16())),
        12 => MS * b.u32().max(1),
        13 => [
            Duration::ZERO,
            Duration::from_nanos(1),
            Duration::from_nanos(999_999),
            MS,
            Duration::from_micros(1500),
            Duration::from_secs(2),
            Duration::from_secs(25),
            Duration::from_secs(60),
            Duration::from_millis(u64::from(u32::MAX)),
            Duration::from_millis(u64::from(u32::MAX) + 1),
            Duration::from_nanos(u64::MAX),
            Duration::MAX,
        ][usize::from(b.below(12))],
        14 => Duration::from_nanos(b.u64()),
        _ => Duration::new(b.u64(), b.u32() % 1_000_000_000),
    }
}

fn decode_factor(b: &mut Bytes<'_>) -> f64 {
    match b.u8() % 16 {
        0..=3 => 2.0,
        4 | 5 => 1.6,
        6 => 1.0,
        7..=11 => 1.0 + f64::from(b.u8()) / 16.0,
        12 => f64::from_bits(b.u64()),
        13 => [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, f64::MAX][usize::from(b.below(4))],
        14 => [0.0, 0.5, 0.999_999, -1.0, f64::MIN_POSITIVE][usize::from(b.below(5))],
        _ => 1e300,
    }
}

fn decode_jitter(b: &mut Bytes<'_>) -> Jitter {
    [
        Jitter::None,
        Jitter::Full,
        Jitter::Equal,
        Jitter::Decorrelated,
    ][usize::from(b.below(4))]
}

/// Any backoff policy: fixed, exponential (any factor) or steps, with any
/// jitter.
pub fn decode_backoff(b: &mut Bytes<'_>) -> Backoff {
    let policy = match b.below(3) {
        0 => Backoff::fixed(decode_duration(b)),
        1 => {
            let (a, z) = (decode_duration(b), decode_duration(b));
            // Mostly in order (initial <= max); sometimes as decoded.
            let (initial, max) = match b.below(4) {
                0 => (a, z),
                _ => (a.min(z), a.max(z)),
            };
            Backoff::exponential(initial, max).with_factor(decode_factor(b))
        }
        _ => Backoff::steps(STEP_TABLES[usize::from(b.below(STEP_TABLES.len() as u8))]),
    };
    policy.with_jitter(decode_jitter(b))
}

/// A `Config` from bytes. The first byte picks a preset (default, article,
/// tiny millisecond timers in each heartbeat mode) that the next 8 bytes
/// seed, or, most of the time, decodes every field independently with
/// [`decode_duration`] and friends, so the result may be invalid.
pub fn decode_config(b: &mut Bytes<'_>) -> Config {
    let preset = match b.u8() % 16 {
        0 => Some(Config::default()),
        1 => Some(Config::article()),
        2 => Some(tiny(HeartbeatMode::Idle)),
        3 => Some(tiny(HeartbeatMode::Fixed)),
        4 => Some(tiny(HeartbeatMode::Off)),
        _ => None,
    };
    if let Some(config) = preset {
        return config.with_seed(b.u64());
    }
    let mode = [
        HeartbeatMode::Idle,
        HeartbeatMode::Fixed,
        HeartbeatMode::Off,
    ][usize::from(b.below(3))];
    let mut config = Config::default()
        .with_heartbeat_mode(mode)
        .with_heartbeat_interval(decode_duration(b))
        .with_heartbeat_timeout(decode_duration(b))
        .with_connect_timeout(decode_duration(b))
        .with_close_timeout(decode_duration(b))
        .with_backoff(decode_backoff(b));
    config = match b.u8() % 4 {
        0 | 1 => config.without_max_attempts(),
        2 => config.with_max_attempts(u32::from(b.below(5))),
        _ => config.with_max_attempts(b.u32()),
    };
    config = match b.bool() {
        true => config.with_min_uptime(Duration::ZERO),
        false => config.with_min_uptime(decode_duration(b)),
    };
    config.with_seed(b.u64())
}

/// Every timer a few milliseconds long, so a short op sequence reaches
/// every state.
fn tiny(mode: HeartbeatMode) -> Config {
    Config::default()
        .with_heartbeat_mode(mode)
        .with_heartbeat_interval(MS * 20)
        .with_heartbeat_timeout(MS * 10)
        .with_connect_timeout(MS * 15)
        .with_close_timeout(MS * 5)
        .with_backoff(Backoff::exponential(MS, MS * 40).with_jitter(Jitter::Full))
        .with_max_attempts(6)
        .with_min_uptime(MS * 30)
}
