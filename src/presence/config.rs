//! [`PresenceConfig`] and the errors of the presence tracker.

use core::fmt;
use core::time::Duration;

/// How a [`Presence`](crate::Presence) tracker judges and bounds its clients.
///
/// Built with `with_*` methods and checked by [`validate`](Self::validate)
/// (which [`Presence::new`](crate::Presence::new) calls): an invalid value is
/// a [`PresenceConfigError`], never a panic.
///
/// ```
/// use core::time::Duration;
/// use keepalive::{PresenceConfig, PresenceConfigError};
///
/// let config = PresenceConfig::new()
///     .with_timeout(Duration::from_secs(45))
///     .with_capacity(10_000);
/// assert_eq!(config.validate(), Ok(()));
/// assert_eq!(
///     config.with_timeout(Duration::ZERO).validate(),
///     Err(PresenceConfigError::TimeoutTooShort)
/// );
/// ```
///
/// # Default
///
/// | setting | default | why |
/// |---|---|---|
/// | `timeout` | 90 s | the article's client sends a heartbeat after 60 s without inbound data, so a healthy idle client is heard from at least every 60 s plus a round trip; 90 s leaves 30 s for a slow heartbeat before the client is judged offline, and still notices a vanished client within 1.5 heartbeat periods |
/// | `forget_after` | 1 h | long enough to answer "offline, last seen 40 minutes ago" for a client that just left; short enough that a day's churn of one-off ids does not pile up against `capacity` |
/// | `capacity` | 1 000 000 | a hard bound on memory (about 50 MB with `u64` ids, see [`Presence`](crate::Presence#memory-and-cost)) that is still above what one server process holds connections for |
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PresenceConfig {
    timeout: Duration,
    forget_after: Duration,
    capacity: usize,
}

impl PresenceConfig {
    /// Shortest accepted `timeout` (and shortest non-zero `forget_after`).
    pub const MIN_DURATION: Duration = Duration::from_millis(1);
    /// Longest accepted `timeout` and `forget_after`: one year (365 days).
    /// Anything longer is almost surely a unit mistake.
    pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);
    /// Largest accepted `capacity`: 2^29 ids (slot numbers are 30-bit).
    pub const MAX_CAPACITY: usize = 1 << 29;

    /// The [defaults](Self#default).
    pub const fn new() -> Self {
        PresenceConfig {
            timeout: Duration::from_secs(90),
            forget_after: Duration::from_secs(3600),
            capacity: 1_000_000,
        }
    }

    /// Silence after which a client counts as offline: a client last seen at
    /// `t` is online while `now < t + timeout` and offline from
    /// `t + timeout` on.
    pub const fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long an offline client is remembered (its status stays
    /// [`Offline`](crate::Status::Offline) with its last-seen time) before
    /// it is dropped and becomes [`Unknown`](crate::Status::Unknown), counted
    /// from the moment it went offline. Zero drops clients as soon as they
    /// go offline (they are still reported by `poll_expired`).
    pub const fn with_forget_after(mut self, forget_after: Duration) -> Self {
        self.forget_after = forget_after;
        self
    }

    /// Most ids tracked at once (online, offline, or forgotten but not yet
    /// dropped by `poll_expired`). A check-in from a new id beyond it fails
    /// with [`PresenceError::Full`]; known ids always refresh.
    pub const fn with_capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    /// See [`with_timeout`](Self::with_timeout).
    pub const fn timeout(&self) -> Duration {
        self.timeout
    }

    /// See [`with_forget_after`](Self::with_forget_after).
    pub const fn forget_after(&self) -> Duration {
        self.forget_after
    }

    /// See [`with_capacity`](Self::with_capacity).
    pub const fn capacity(&self) -> usize {
        self.capacity
    }

    /// Checks every setting; the first problem found is returned.
    ///
    /// * `timeout` below [`MIN_DURATION`](Self::MIN_DURATION) (this includes
    ///   zero): [`TimeoutTooShort`](PresenceConfigError::TimeoutTooShort).
    /// * `timeout` above [`MAX_DURATION`](Self::MAX_DURATION):
    ///   [`TimeoutTooLong`](PresenceConfigError::TimeoutTooLong).
    /// * `forget_after` neither zero nor at least `MIN_DURATION`:
    ///   [`ForgetAfterTooShort`](PresenceConfigError::ForgetAfterTooShort).
    /// * `forget_after` above `MAX_DURATION`:
    ///   [`ForgetAfterTooLong`](PresenceConfigError::ForgetAfterTooLong).
    /// * `capacity` zero: [`ZeroCapacity`](PresenceConfigError::ZeroCapacity).
    /// * `capacity` above [`MAX_CAPACITY`](Self::MAX_CAPACITY):
    ///   [`CapacityTooLarge`](PresenceConfigError::CapacityTooLarge).
    pub const fn validate(&self) -> Result<(), PresenceConfigError> {
        use PresenceConfigError as E;
        let (min, max) = (Self::MIN_DURATION, Self::MAX_DURATION);
        if self.timeout.as_nanos() < min.as_nanos() {
            Err(E::TimeoutTooShort)
        } else if self.timeout.as_nanos() > max.as_nanos() {
            Err(E::TimeoutTooLong)
        } else if !self.forget_after.is_zero() && self.forget_after.as_nanos() < min.as_nanos() {
            Err(E::ForgetAfterTooShort)
        } else if self.forget_after.as_nanos() > max.as_nanos() {
            Err(E::ForgetAfterTooLong)
        } else if self.capacity == 0 {
            Err(E::ZeroCapacity)
        } else if self.capacity > Self::MAX_CAPACITY {
            Err(E::CapacityTooLarge)
        } else {
            Ok(())
        }
    }
}

impl Default for PresenceConfig {
    fn default() -> Self {
        PresenceConfig::new()
    }
}

/// Why a [`PresenceConfig`] was rejected: one variant per cause.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PresenceConfigError {
    /// `timeout` is zero or shorter than 1 ms.
    TimeoutTooShort,
    /// `timeout` is longer than 365 days.
    TimeoutTooLong,
    /// `forget_after` is shorter than 1 ms but not zero.
    ForgetAfterTooShort,
    /// `forget_after` is longer than 365 days.
    ForgetAfterTooLong,
    /// `capacity` is zero: no client could ever check in.
    ZeroCapacity,
    /// `capacity` is above [`PresenceConfig::MAX_CAPACITY`].
    CapacityTooLarge,
}

impl fmt::Display for PresenceConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use PresenceConfigError as E;
        f.write_str(match self {
            E::TimeoutTooShort => "presence timeout must be at least 1 ms",
            E::TimeoutTooLong => "presence timeout must be at most 365 days",
            E::ForgetAfterTooShort => {
                "presence forget_after must be zero (forget at once) or at least 1 ms"
            }
            E::ForgetAfterTooLong => "presence forget_after must be at most 365 days",
            E::ZeroCapacity => "presence capacity must be at least 1",
            E::CapacityTooLarge => "presence capacity must be at most 2^29 (536870912)",
        })
    }
}

impl core::error::Error for PresenceConfigError {}

/// Why [`Presence::check_in`](crate::Presence::check_in) refused an id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PresenceError {
    /// The id is new and the tracker already holds `capacity` ids. Nothing
    /// tracked was touched; known ids still refresh. Room comes back when
    /// `poll_expired` drops offline ids after `forget_after`.
    Full,
}

impl fmt::Display for PresenceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PresenceError::Full => {
                f.write_str("presence tracker is full: capacity reached, new id refused")
            }
        }
    }
}

impl core::error::Error for PresenceError {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    #[test]
    fn each_bad_setting_has_its_own_error_naming_its_field() {
        let ok = PresenceConfig::new();
        assert_eq!(ok.validate(), Ok(()));
        let year = PresenceConfig::MAX_DURATION;
        let cases = [
            (
                ok.with_timeout(Duration::ZERO),
                PresenceConfigError::TimeoutTooShort,
                "timeout",
            ),
            (
                ok.with_timeout(Duration::from_micros(999)),
                PresenceConfigError::TimeoutTooShort,
                "timeout",
            ),
            (
                ok.with_timeout(year + Duration::from_nanos(1)),
                PresenceConfigError::TimeoutTooLong,
                "timeout",
            ),
            (
                ok.with_timeout(Duration::MAX),
                PresenceConfigError::TimeoutTooLong,
                "timeout",
            ),
            (
                ok.with_forget_after(Duration::from_nanos(1)),
                PresenceConfigError::ForgetAfterTooShort,
                "forget_after",
            ),
            (
                ok.with_forget_after(Duration::MAX),
                PresenceConfigError::ForgetAfterTooLong,
                "forget_after",
            ),
            (
                ok.with_capacity(0),
                PresenceConfigError::ZeroCapacity,
                "capacity",
            ),
            (
                ok.with_capacity(usize::MAX),
                PresenceConfigError::CapacityTooLarge,
                "capacity",
            ),
        ];
        for (config, error, field) in cases {
            assert_eq!(config.validate(), Err(error));
            assert!(error.to_string().contains(field), "{error}");
        }
        // The edges themselves are accepted.
        let edges = ok
            .with_timeout(PresenceConfig::MIN_DURATION)
            .with_forget_after(Duration::ZERO)
            .with_capacity(PresenceConfig::MAX_CAPACITY);
        assert_eq!(edges.validate(), Ok(()));
        assert_eq!(
            ok.with_timeout(year).with_forget_after(year).validate(),
            Ok(())
        );
    }
}
