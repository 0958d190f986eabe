//! The fuzz targets' bodies, here so that `tests/invariants.rs` runs them
//! on random bytes too (the fuzz crate's targets are one-line wrappers).

use core::time::Duration;

use keepalive::{Backoff, Connection, Jitter, Rng};

use crate::bytes::Bytes;
use crate::checker::{InvariantChecker, Violation};
use crate::config::{decode_backoff, decode_config};
use crate::ops::decode_ops;

/// `connection`: bytes → config + ops; every invariant checked after
/// every op. An invalid config must be refused by `Connection::new` with
/// the error `Config::validate` gives (then nothing else runs).
pub fn connection(data: &[u8]) -> Result<(), Box<Violation>> {
    let mut bytes = Bytes::new(data);
    let config = decode_config(&mut bytes);
    let ops = decode_ops(&mut bytes);
    InvariantChecker::run(config, &ops).map(drop)
}

/// `config`: any field values give a valid config or a `ConfigError`, never
/// a panic; `Connection::new` agrees with `validate`; for a valid backoff
/// every delay lies within its bounds, the bounds are ordered, and the
/// maximum never decreases with the attempt.
pub fn config(data: &[u8]) -> Result<(), String> {
    let mut bytes = Bytes::new(data);
    let config = decode_config(&mut bytes);
    let valid = config.validate();
    let built = Connection::new(config).map(drop);
    if valid != built {
        return Err(format!(
            "validate() = {valid:?} but Connection::new = {built:?} for {config:?}"
        ));
    }
    if let Err(err) = valid
        && err.to_string().is_empty()
    {
        return Err(format!("{err:?} has an empty message"));
    }
    let backoff = match bytes.bool() {
        true => config.backoff(),
        false => decode_backoff(&mut bytes),
    };
    check_backoff(backoff, bytes.u64())
}

/// Delays of a valid `backoff` within `bounds`, over attempts 1..=70 and a
/// few huge ones, with the previous delay fed back (decorrelated jitter).
pub fn check_backoff(backoff: Backoff, seed: u64) -> Result<(), String> {
    let mut rng = Rng::new(seed);
    if backoff.validate().is_err() {
        // Defined (no panic) even on an invalid policy.
        for attempt in [0, 1, 2, 63, 64, u32::MAX] {
            let _ = backoff.delay(attempt, Duration::MAX, &mut rng);
            let _ = backoff.bounds(attempt);
        }
        return Ok(());
    }
    let mut previous = Duration::ZERO;
    let mut last_hi = Duration::ZERO;
    let attempts = (1..=70).chain([100, 1_000, u32::MAX - 1, u32::MAX]);
    for attempt in attempts {
        let (lo, hi) = backoff.bounds(attempt);
        let d = backoff.delay(attempt, previous, &mut rng);
        if !(lo <= d && d <= hi) {
            return Err(format!(
                "{backoff:?}: attempt {attempt} delay {d:?} outside [{lo:?}, {hi:?}]"
            ));
        }
        if backoff.jitter() == Jitter::None && d != hi {
            return Err(format!("{backoff:?}: unjittered delay {d:?} is not {hi:?}"));
        }
        if hi < last_hi && !is_steps(&backoff) {
            return Err(format!(
                "{backoff:?}: max delay fell from {last_hi:?} to {hi:?}"
            ));
        }
        if hi > Duration::from_millis(u64::from(u32::MAX)) {
            return Err(format!(
                "{backoff:?}: delay bound {hi:?} beyond u32::MAX ms"
            ));
        }
        last_hi = hi;
        previous = d;
    }
    Ok(())
}

fn is_steps(backoff: &Backoff) -> bool {
    format!("{backoff:?}").contains("Steps")
}
