//! Time without a clock: [`Instant`] is a number the caller hands in.
//!
//! The state machines never read a clock. Every input carries `now` as an
//! [`Instant`]: nanoseconds since an epoch the caller picks (process start,
//! `performance.now()`'s origin, zero in a simulation). Arithmetic saturates or
//! is checked, so no value of `now` can make the crate panic.

use core::fmt;
use core::ops::{Add, Sub};
use core::time::Duration;

/// A point in time: nanoseconds since an epoch chosen by the caller.
///
/// Unlike `std::time::Instant` there is no hidden global epoch, so the same
/// code runs in virtual time (tests, simulations), on a microcontroller, or
/// from another language that counts milliseconds. `u64` nanoseconds cover
/// about 584 years.
///
/// Arithmetic never panics: `+ Duration` saturates at [`Instant::MAX`] and
/// `- Duration` at [`Instant::ZERO`],
/// [`checked_add`](Instant::checked_add) returns `None` on overflow and
/// [`saturating_duration_since`](Instant::saturating_duration_since) returns
/// zero when `earlier` is later.
///
/// ```
/// use core::time::Duration;
/// use keepalive::Instant;
///
/// let t = Instant::from_secs(60);
/// assert_eq!((t + Duration::from_millis(1500)).as_millis(), 61_500);
/// assert_eq!(Instant::MAX + Duration::from_secs(1), Instant::MAX);
/// assert_eq!(Instant::ZERO.saturating_duration_since(t), Duration::ZERO);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(u64);

impl Instant {
    /// The epoch itself.
    pub const ZERO: Instant = Instant(0);
    /// The last representable instant; sums saturate here.
    pub const MAX: Instant = Instant(u64::MAX);

    /// An instant `nanos` nanoseconds after the epoch.
    pub const fn from_nanos(nanos: u64) -> Self {
        Instant(nanos)
    }

    /// An instant `micros` microseconds after the epoch (saturating).
    pub const fn from_micros(micros: u64) -> Self {
        Instant(micros.saturating_mul(1_000))
    }

    /// An instant `millis` milliseconds after the epoch (saturating).
    pub const fn from_millis(millis: u64) -> Self {
        Instant(millis.saturating_mul(1_000_000))
    }

    /// An instant `secs` seconds after the epoch (saturating).
    pub const fn from_secs(secs: u64) -> Self {
        Instant(secs.saturating_mul(1_000_000_000))
    }

    /// Nanoseconds since the epoch.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// Whole milliseconds since the epoch (rounded down).
    pub const fn as_millis(self) -> u64 {
        self.0 / 1_000_000
    }

    /// `self + d`, or `None` if that is past [`Instant::MAX`].
    pub const fn checked_add(self, d: Duration) -> Option<Instant> {
        match duration_to_nanos(d) {
            Some(n) => match self.0.checked_add(n) {
                Some(sum) => Some(Instant(sum)),
                None => None,
            },
            None => None,
        }
    }

    /// `self + d`, clamped to [`Instant::MAX`].
    pub const fn saturating_add(self, d: Duration) -> Instant {
        match self.checked_add(d) {
            Some(t) => t,
            None => Instant::MAX,
        }
    }

    /// `self - d`, clamped to [`Instant::ZERO`].
    pub const fn saturating_sub(self, d: Duration) -> Instant {
        match duration_to_nanos(d) {
            Some(n) => Instant(self.0.saturating_sub(n)),
            None => Instant::ZERO,
        }
    }

    /// The time from `earlier` to `self`, or zero if `earlier` is later.
    pub const fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }

    /// The time from `earlier` to `self`, or `None` if `earlier` is later.
    pub const fn checked_duration_since(self, earlier: Instant) -> Option<Duration> {
        match self.0.checked_sub(earlier.0) {
            Some(n) => Some(Duration::from_nanos(n)),
            None => None,
        }
    }
}

impl Instant {
    /// `self + millis` ms, saturating: the hot path's addition, without the
    /// 128-bit arithmetic of a `Duration`.
    #[inline]
    pub(crate) const fn add_millis(self, millis: u32) -> Instant {
        Instant(self.0.saturating_add(millis as u64 * 1_000_000))
    }

    /// Nanoseconds from `earlier` to `self`, or 0 if `earlier` is later.
    #[inline]
    pub(crate) const fn nanos_since(self, earlier: Instant) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

/// Saturating: `Instant::MAX + anything == Instant::MAX`, never a panic.
impl Add<Duration> for Instant {
    type Output = Instant;

    fn add(self, d: Duration) -> Instant {
        self.saturating_add(d)
    }
}

/// Saturating: `Instant::ZERO - anything == Instant::ZERO`, never a panic.
impl Sub<Duration> for Instant {
    type Output = Instant;

    fn sub(self, d: Duration) -> Instant {
        self.saturating_sub(d)
    }
}

/// Seconds with millisecond precision (`61.500s`), the unit of every trace.
impl fmt::Display for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.as_millis();
        write!(f, "{}.{:03}s", ms / 1_000, ms % 1_000)
    }
}

/// `d` in nanoseconds, or `None` if it does not fit in a `u64` (584 years).
pub(crate) const fn duration_to_nanos(d: Duration) -> Option<u64> {
    let n = d.as_nanos();
    if n > u64::MAX as u128 {
        None
    } else {
        Some(n as u64)
    }
}

#[cfg(feature = "std")]
pub use self::clock::Clock;

#[cfg(feature = "std")]
mod clock {
    use super::Instant;
    use core::time::Duration;

    /// Converts between [`std::time::Instant`] and this crate's [`Instant`].
    ///
    /// A `Clock` owns its epoch (the moment it was created, or one you give
    /// it); there is no global epoch. Use one `Clock` per process or per
    /// driver and pass `clock.now()` into the state machines.
    ///
    /// ```
    /// let clock = keepalive::Clock::new();
    /// let now = clock.now();
    /// let std_now = clock.to_std(now);
    /// assert_eq!(clock.from_std(std_now), now);
    /// ```
    #[derive(Clone, Copy, Debug)]
    pub struct Clock {
        epoch: std::time::Instant,
    }

    impl Clock {
        /// A clock whose epoch is the moment of this call.
        pub fn new() -> Self {
            Clock::with_epoch(std::time::Instant::now())
        }

        /// A clock whose epoch is `epoch`; earlier std instants map to
        /// [`Instant::ZERO`].
        pub fn with_epoch(epoch: std::time::Instant) -> Self {
            Clock { epoch }
        }

        /// The std instant this clock counts from.
        pub fn epoch(&self) -> std::time::Instant {
            self.epoch
        }

        /// The current time as an [`Instant`].
        pub fn now(&self) -> Instant {
            self.from_std(std::time::Instant::now())
        }

        /// Converts a std instant, clamping times before the epoch to zero
        /// and times past [`Instant::MAX`] to `MAX`.
        pub fn from_std(&self, t: std::time::Instant) -> Instant {
            Instant::ZERO.saturating_add(t.saturating_duration_since(self.epoch))
        }

        /// Converts back to a std instant; an instant too far in the future
        /// for the platform is clamped to the furthest one it can represent.
        pub fn to_std(&self, t: Instant) -> std::time::Instant {
            let d = Duration::from_nanos(t.as_nanos());
            self.epoch
                .checked_add(d)
                .unwrap_or_else(|| far_future(self.epoch))
        }
    }

    impl Default for Clock {
        fn default() -> Self {
            Clock::new()
        }
    }

    /// The latest std instant reachable from `epoch`, found by halving.
    fn far_future(epoch: std::time::Instant) -> std::time::Instant {
        let mut step = Duration::from_secs(u64::MAX / 4);
        let mut t = epoch;
        while step > Duration::from_nanos(0) {
            if let Some(next) = t.checked_add(step) {
                t = next;
            } else {
                step /= 2;
            }
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constructors_saturate_at_the_edges() {
        assert_eq!(Instant::from_secs(u64::MAX), Instant::MAX);
        assert_eq!(Instant::from_millis(u64::MAX), Instant::MAX);
        assert_eq!(Instant::from_micros(u64::MAX), Instant::MAX);
        assert_eq!(Instant::from_secs(2).as_nanos(), 2_000_000_000);
        assert_eq!(Instant::from_millis(7).as_millis(), 7);
        assert_eq!(Instant::from_nanos(999_999).as_millis(), 0);
    }

    #[test]
    fn addition_is_checked_or_saturating() {
        let one = Duration::from_nanos(1);
        assert_eq!(Instant::ZERO + one, Instant::from_nanos(1));
        assert_eq!(Instant::MAX.checked_add(one), None);
        assert_eq!(Instant::MAX + one, Instant::MAX);
        assert_eq!(Instant::ZERO + Duration::MAX, Instant::MAX);
        assert_eq!(Instant::ZERO.checked_add(Duration::MAX), None);
        assert_eq!(
            Instant::from_nanos(u64::MAX - 1).checked_add(one),
            Some(Instant::MAX)
        );
        assert_eq!(Instant::MAX.saturating_sub(Duration::MAX), Instant::ZERO);
        assert_eq!(
            Instant::from_secs(3) - Duration::from_secs(1),
            Instant::from_secs(2)
        );
        assert_eq!(Instant::ZERO - one, Instant::ZERO);
        assert_eq!(Instant::ZERO.saturating_sub(one), Instant::ZERO);
    }

    #[test]
    fn differences_never_go_negative() {
        let (a, b) = (Instant::ZERO, Instant::MAX);
        assert_eq!(a.saturating_duration_since(b), Duration::ZERO);
        assert_eq!(a.checked_duration_since(b), None);
        assert_eq!(
            b.saturating_duration_since(a),
            Duration::from_nanos(u64::MAX)
        );
        assert_eq!(b.checked_duration_since(b), Some(Duration::ZERO));
    }

    #[test]
    fn displays_seconds_with_millis() {
        extern crate std;
        use std::string::ToString;
        assert_eq!(Instant::from_millis(61_500).to_string(), "61.500s");
        assert_eq!(Instant::ZERO.to_string(), "0.000s");
    }

    #[cfg(feature = "std")]
    #[test]
    fn clock_round_trips_and_clamps() {
        let clock = Clock::new();
        let t = Instant::from_millis(1234);
        assert_eq!(clock.from_std(clock.to_std(t)), t);
        if let Some(before) = clock.epoch().checked_sub(Duration::from_secs(1)) {
            assert_eq!(clock.from_std(before), Instant::ZERO);
        }
        // The far future must not panic, and must land after the epoch.
        assert!(clock.to_std(Instant::MAX) > clock.epoch());
        assert!(clock.now() < Instant::from_secs(3600));
    }
}
