//! Reconnect delays: a pure, clock-free policy plus a tiny seeded PRNG.
//!
//! [`Backoff::delay`] maps an attempt number (and, for decorrelated jitter,
//! the previous delay) to a [`Duration`]. It reads no clock and keeps no
//! state, so it can be tested, plotted and simulated on its own; the
//! [`Connection`](crate::Connection) keeps the attempt counter and the
//! [`Rng`].

use core::time::Duration;

use crate::config::{ConfigError, Field, check_duration};
use crate::time::duration_to_nanos;

/// How randomness spreads the delays of many clients apart.
///
/// Without jitter, every client that lost the same server at the same moment
/// retries at the same moments: a reconnect storm. Jitter is applied *after*
/// the cap, so delays at the cap stay spread instead of collapsing onto
/// exactly `max`; a jittered delay never exceeds the un-jittered one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Jitter {
    /// Exactly the policy's delay: the article's fixed 2 s.
    #[default]
    None,
    /// Uniform in `[0, d]`: the widest spread (AWS "full jitter").
    Full,
    /// Uniform in `[d/2, d]`: spread, but never shorter than half.
    Equal,
    /// Uniform in `[first, min(d, 3 × previous)]`, where `first` is the
    /// policy's first delay and `d` its delay for this attempt: AWS
    /// "decorrelated jitter", but drawn below the cap so it survives there.
    Decorrelated,
}

/// The shape of the delay sequence, and its jitter. The jitter lives in each
/// variant (not beside the enum) so a `Backoff` packs into 32 bytes and a
/// `Connection` into 128.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Policy {
    /// The same delay for every attempt (nanoseconds).
    Fixed { delay: u64, jitter: Jitter },
    /// `initial × factor^(attempt-1)`, capped at `max` (nanoseconds).
    Exponential {
        initial: u64,
        max: u64,
        factor: f64,
        jitter: Jitter,
    },
    /// A table of delays; the last one repeats.
    Steps {
        table: &'static [Duration],
        jitter: Jitter,
    },
}

/// A reconnect delay policy: fixed, exponential or a step table, plus jitter.
///
/// Attempt numbers start at 1 (the first reconnect after a disconnect); the
/// first exponential delay is `initial` before jitter. A `Backoff` is checked
/// when the [`Config`](crate::Config) that holds it is turned into a
/// [`Connection`](crate::Connection), or by [`Backoff::validate`].
///
/// # Default
///
/// `Backoff::default()` is the crate's default reconnect policy:
/// exponential from 1 s, doubling, capped at 30 s, full jitter. gRPC uses
/// 1 s × 1.6 ± 20 % up to 120 s for RPC channels; an interactive WebSocket
/// wants to come back sooner, so the cap is 30 s (reconnecting-websocket
/// caps at 10 s, socket.io at 5 s, which is short enough to keep a fleet
/// hammering a recovering server). Full jitter spreads a fleet of clients
/// that lost the same server (see the storm benchmark).
///
/// ```
/// use core::time::Duration;
/// use keepalive::{Backoff, Jitter, Rng};
///
/// let article = Backoff::fixed(Duration::from_secs(2));
/// let mut rng = Rng::new(7);
/// assert_eq!(article.delay(5, Duration::ZERO, &mut rng), Duration::from_secs(2));
///
/// let exp = Backoff::exponential(Duration::from_secs(1), Duration::from_secs(30))
///     .with_factor(2.0)
///     .with_jitter(Jitter::Equal);
/// for attempt in 1..=20 {
///     let (lo, hi) = exp.bounds(attempt);
///     let d = exp.delay(attempt, Duration::ZERO, &mut rng);
///     assert!(lo <= d && d <= hi);
/// }
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Backoff {
    policy: Policy,
}

impl Backoff {
    /// The same delay before every reconnect, without jitter (the article's
    /// `setTimeout(…, 2000)`).
    pub const fn fixed(delay: Duration) -> Self {
        Backoff {
            policy: Policy::Fixed {
                delay: saturating_nanos(delay),
                jitter: Jitter::None,
            },
        }
    }

    /// `initial`, then × 2 per attempt, capped at `max`, without jitter until
    /// [`with_jitter`](Backoff::with_jitter).
    pub const fn exponential(initial: Duration, max: Duration) -> Self {
        Backoff {
            policy: Policy::Exponential {
                initial: saturating_nanos(initial),
                max: saturating_nanos(max),
                factor: 2.0,
                jitter: Jitter::None,
            },
        }
    }

    /// A table of delays, one per attempt; the last one repeats (Phoenix's
    /// `[10, 50, 100, 150, 200, 250, 500, 1000, 2000]` ms). Without jitter
    /// until [`with_jitter`](Backoff::with_jitter).
    pub const fn steps(table: &'static [Duration]) -> Self {
        Backoff {
            policy: Policy::Steps {
                table,
                jitter: Jitter::None,
            },
        }
    }

    /// Sets the growth factor of an exponential policy (ignored by the
    /// others). Must be finite and at least 1.
    pub const fn with_factor(mut self, new: f64) -> Self {
        if let Policy::Exponential { factor, .. } = &mut self.policy {
            *factor = new;
        }
        self
    }

    /// Sets the jitter.
    pub const fn with_jitter(mut self, new: Jitter) -> Self {
        match &mut self.policy {
            Policy::Fixed { jitter, .. }
            | Policy::Exponential { jitter, .. }
            | Policy::Steps { jitter, .. } => *jitter = new,
        }
        self
    }

    /// Removes the jitter.
    pub const fn without_jitter(self) -> Self {
        self.with_jitter(Jitter::None)
    }

    /// The jitter in use.
    pub const fn jitter(&self) -> Jitter {
        match self.policy {
            Policy::Fixed { jitter, .. }
            | Policy::Exponential { jitter, .. }
            | Policy::Steps { jitter, .. } => jitter,
        }
    }

    /// Checks the policy:
    ///
    /// - every delay must be between 1 ms and `u32::MAX` ms (about 49.7 days);
    /// - an exponential `initial` must not exceed `max`, and its factor must
    ///   be finite and at least 1;
    /// - a step table must not be empty.
    pub fn validate(&self) -> Result<(), ConfigError> {
        match self.policy {
            Policy::Fixed { delay, .. } => check_nanos(delay, Field::BackoffDelay).map(drop),
            Policy::Exponential {
                initial,
                max,
                factor,
                ..
            } => {
                check_nanos(initial, Field::BackoffInitial)?;
                check_nanos(max, Field::BackoffMax)?;
                if initial > max {
                    return Err(ConfigError::InitialExceedsMax);
                }
                if !(factor.is_finite() && factor >= 1.0) {
                    return Err(ConfigError::InvalidFactor);
                }
                Ok(())
            }
            Policy::Steps { table, .. } => {
                if table.is_empty() {
                    return Err(ConfigError::EmptySteps);
                }
                for &step in table {
                    check_duration(step, Field::BackoffStep)?;
                }
                Ok(())
            }
        }
    }

    /// The delay before reconnect number `attempt` (1-based; 0 is treated
    /// as 1), given the `previous` delay (used by [`Jitter::Decorrelated`]
    /// only; pass `Duration::ZERO` for the first attempt).
    ///
    /// The result always lies within [`bounds(attempt)`](Backoff::bounds).
    /// On a policy that failed [`validate`](Backoff::validate) the result is
    /// still defined (never a panic) but meaningless.
    pub fn delay(&self, attempt: u32, previous: Duration, rng: &mut Rng) -> Duration {
        let base = self.base_nanos(attempt);
        let nanos = match self.jitter() {
            Jitter::None => base,
            Jitter::Full => rng.between(0, base),
            Jitter::Equal => rng.between(base - base / 2, base),
            Jitter::Decorrelated => {
                let first = self.base_nanos(1).min(base);
                let prev = saturating_nanos(previous).max(first);
                rng.between(first, prev.saturating_mul(3).min(base))
            }
        };
        Duration::from_nanos(nanos)
    }

    /// The smallest and largest delay [`delay`](Backoff::delay) can return
    /// for `attempt`, whatever the random numbers and the previous delay.
    pub fn bounds(&self, attempt: u32) -> (Duration, Duration) {
        let base = self.base_nanos(attempt);
        let lo = match self.jitter() {
            Jitter::None => base,
            Jitter::Full => 0,
            Jitter::Equal => base - base / 2,
            Jitter::Decorrelated => self.base_nanos(1).min(base),
        };
        (Duration::from_nanos(lo), Duration::from_nanos(base))
    }

    /// The policy's delay for `attempt` before jitter, in nanoseconds.
    fn base_nanos(&self, attempt: u32) -> u64 {
        let attempt = attempt.max(1);
        match self.policy {
            Policy::Fixed { delay, .. } => delay,
            Policy::Exponential {
                initial,
                max,
                factor,
                ..
            } => {
                let grown = initial as f64 * powi(factor, attempt - 1);
                // `!(x < max)` also catches NaN and infinity.
                if grown < max as f64 {
                    grown as u64
                } else {
                    max
                }
            }
            Policy::Steps { table, .. } => match table.len() {
                0 => 0,
                n => saturating_nanos(table[(attempt as usize - 1).min(n - 1)]),
            },
        }
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::exponential(Duration::from_secs(1), Duration::from_secs(30))
            .with_jitter(Jitter::Full)
    }
}

/// `base^exp` by repeated squaring: `f64::powi` needs `std`.
fn powi(base: f64, mut exp: u32) -> f64 {
    let (mut result, mut square) = (1.0, base);
    while exp > 0 {
        if exp & 1 == 1 {
            result *= square;
        }
        square *= square;
        exp >>= 1;
    }
    result
}

const fn saturating_nanos(d: Duration) -> u64 {
    match duration_to_nanos(d) {
        Some(n) => n,
        None => u64::MAX,
    }
}

fn check_nanos(nanos: u64, field: Field) -> Result<u32, ConfigError> {
    check_duration(Duration::from_nanos(nanos), field)
}

/// A tiny seeded pseudo-random generator (SplitMix64) for jitter.
///
/// Not cryptographic; its only job is to spread reconnects, reproducibly for
/// a given seed. Every seed, including 0, gives a full-period sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rng(u64);

impl Rng {
    /// A generator started from `seed`.
    pub const fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `lo..=hi` (returns `lo` when `hi <= lo`), without modulo
    /// bias worth mentioning: a 128-bit multiply-shift.
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        let span = hi - lo;
        if span == u64::MAX {
            return self.next_u64();
        }
        let scaled = (u128::from(self.next_u64()) * u128::from(span + 1)) >> 64;
        lo + scaled as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);
    const SEC: Duration = Duration::from_secs(1);

    fn nanos(d: Duration) -> u64 {
        d.as_nanos() as u64
    }

    #[test]
    fn fixed_is_constant() {
        let b = Backoff::fixed(2 * SEC);
        let mut rng = Rng::new(1);
        for attempt in [0, 1, 2, 100, u32::MAX] {
            assert_eq!(b.delay(attempt, SEC, &mut rng), 2 * SEC);
        }
    }

    #[test]
    fn exponential_starts_at_initial_and_caps() {
        let b = Backoff::exponential(SEC, 30 * SEC);
        let mut rng = Rng::new(1);
        let seq: [u64; 7] =
            core::array::from_fn(|i| b.delay(i as u32 + 1, Duration::ZERO, &mut rng).as_secs());
        assert_eq!(seq, [1, 2, 4, 8, 16, 30, 30]);
        assert_eq!(b.delay(u32::MAX, Duration::ZERO, &mut rng), 30 * SEC);
        let grpc = Backoff::exponential(SEC, 120 * SEC).with_factor(1.6);
        assert_eq!(grpc.delay(2, Duration::ZERO, &mut rng), 1600 * MS);
        assert_eq!(grpc.delay(3, Duration::ZERO, &mut rng), 2560 * MS);
    }

    #[test]
    fn steps_repeat_the_last() {
        static TABLE: [Duration; 3] = [
            Duration::from_millis(10),
            Duration::from_millis(50),
            Duration::from_millis(100),
        ];
        let b = Backoff::steps(&TABLE);
        let mut rng = Rng::new(1);
        let got: [Duration; 5] =
            core::array::from_fn(|i| b.delay(i as u32 + 1, Duration::ZERO, &mut rng));
        assert_eq!(got, [10 * MS, 50 * MS, 100 * MS, 100 * MS, 100 * MS]);
    }

    /// Each jitter stays inside its bounds over many seeds, and at the cap
    /// it still spreads (does not collapse onto `max`).
    #[test]
    fn jitter_bounds_hold_and_survive_the_cap() {
        let cap = 30 * SEC;
        for jitter in [
            Jitter::None,
            Jitter::Full,
            Jitter::Equal,
            Jitter::Decorrelated,
        ] {
            let b = Backoff::exponential(SEC, cap).with_jitter(jitter);
            let (mut at_cap_min, mut at_cap_max) = (u64::MAX, 0);
            for seed in 0..2_000u64 {
                let mut rng = Rng::new(seed);
                let mut prev = Duration::ZERO;
                for attempt in 1..=12 {
                    let d = b.delay(attempt, prev, &mut rng);
                    let (lo, hi) = b.bounds(attempt);
                    assert!(lo <= d && d <= hi, "{jitter:?} attempt {attempt}: {d:?}");
                    prev = d;
                }
                let d = nanos(b.delay(40, prev, &mut rng));
                at_cap_min = at_cap_min.min(d);
                at_cap_max = at_cap_max.max(d);
            }
            let spread = at_cap_max - at_cap_min;
            match jitter {
                Jitter::None => assert_eq!(spread, 0),
                // Full spans [0, 30 s], Equal [15, 30], Decorrelated [1, 30].
                _ => assert!(spread > nanos(cap) / 3, "{jitter:?} spread {spread}"),
            }
            assert!(at_cap_max <= nanos(cap));
        }
    }

    #[test]
    fn decorrelated_grows_from_the_previous_delay() {
        let b = Backoff::exponential(SEC, 60 * SEC).with_jitter(Jitter::Decorrelated);
        for seed in 0..500 {
            let mut rng = Rng::new(seed);
            let d = b.delay(3, 2 * SEC, &mut rng);
            assert!(SEC <= d && d <= 6 * SEC, "{d:?}");
        }
    }

    #[test]
    fn validation_names_each_cause() {
        use ConfigError::*;
        let cases = [
            (
                Backoff::fixed(Duration::ZERO),
                TooShort(Field::BackoffDelay),
            ),
            (Backoff::fixed(Duration::MAX), TooLong(Field::BackoffDelay)),
            (Backoff::exponential(2 * SEC, SEC), InitialExceedsMax),
            (
                Backoff::exponential(SEC, 2 * SEC).with_factor(0.5),
                InvalidFactor,
            ),
            (
                Backoff::exponential(SEC, 2 * SEC).with_factor(f64::NAN),
                InvalidFactor,
            ),
            (
                Backoff::exponential(SEC, 2 * SEC).with_factor(f64::INFINITY),
                InvalidFactor,
            ),
            (
                Backoff::exponential(Duration::ZERO, SEC),
                TooShort(Field::BackoffInitial),
            ),
            (Backoff::steps(&[]), EmptySteps),
        ];
        for (backoff, want) in cases {
            assert_eq!(backoff.validate(), Err(want), "{backoff:?}");
        }
        assert_eq!(Backoff::default().validate(), Ok(()));
    }

    #[test]
    fn invalid_policies_still_never_panic() {
        let mut rng = Rng::new(3);
        for b in [
            Backoff::steps(&[]).with_jitter(Jitter::Decorrelated),
            Backoff::exponential(Duration::MAX, Duration::ZERO).with_factor(f64::NAN),
            Backoff::exponential(SEC, Duration::MAX).with_factor(f64::MAX),
        ] {
            for attempt in [0, 1, 2, 64, u32::MAX] {
                let _ = b.delay(attempt, Duration::MAX, &mut rng);
            }
        }
    }

    #[test]
    fn rng_between_is_inclusive_and_seeded() {
        let mut a = Rng::new(42);
        let mut b = Rng::new(42);
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        let mut rng = Rng::new(0);
        let (mut saw_lo, mut saw_hi) = (false, false);
        for _ in 0..1_000 {
            let x = rng.between(5, 7);
            assert!((5..=7).contains(&x));
            saw_lo |= x == 5;
            saw_hi |= x == 7;
        }
        assert!(saw_lo && saw_hi);
        assert_eq!(rng.between(9, 3), 9);
        let _ = rng.between(0, u64::MAX);
    }
}
