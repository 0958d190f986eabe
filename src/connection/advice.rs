//! Server-advised delays: [`Connection::retry_after`].
//!
//! A server that is overloaded or restarting says how long to stay away
//! (HTTP `Retry-After`, WebSocket close code 1013). The advice is a floor
//! under the next backoff delay, jittered so that the clients turned away
//! together do not come back together.

use core::time::Duration;

use super::{Connection, Phase};
use crate::event::{Action, Actions};
use crate::time::Instant;

impl Connection {
    /// The longest server-advised delay [`retry_after`](Connection::retry_after)
    /// honours (before its jitter): five minutes. A server asking for more is
    /// more likely misconfigured than overloaded, and the client should
    /// still come back.
    pub const MAX_ADVISED_DELAY: Duration = Duration::from_secs(300);

    /// The server asked us to wait at least `delay` before reconnecting:
    /// HTTP 503 or 429 with `Retry-After` on the upgrade, or a close with
    /// code 1013 (Try Again Later). Call it before the `Closed` that ends
    /// the transport.
    ///
    /// The next reconnect then waits `max(backoff delay, advice)`, where the
    /// advice is `delay` capped at [`MAX_ADVISED_DELAY`](Connection::MAX_ADVISED_DELAY),
    /// plus a random 0–50 % on top so that the clients an overloaded server
    /// turned away together do not come back together. The attempt is
    /// counted as usual, and `max_attempts` still gives up.
    ///
    /// - Connecting, open or closing: remembered for the reconnect that the
    ///   end of this transport schedules (the longest advice wins); no action.
    /// - Waiting: the pending reconnect moves later if the advice ends
    ///   later, reported as a fresh [`Action::ScheduleReconnect`] with the
    ///   remaining delay; an advice that ends sooner changes nothing.
    /// - Idle, stopped, failed: ignored (nothing is scheduled).
    /// - A zero `delay` is no advice.
    ///
    /// The advice binds only the machine's own reconnect timer: a
    /// [`connect`](Connection::connect) (the network came back, the user
    /// asked) and a [`close`](Connection::close) still take effect at once,
    /// and each new transport starts without advice.
    ///
    /// ```
    /// use core::time::Duration;
    /// use keepalive::{Action, Config, Connection, Event, Instant};
    ///
    /// let mut conn = Connection::new(Config::article().with_seed(1))?; // fixed 2 s backoff
    /// let _ = conn.connect(Instant::ZERO);
    /// // The upgrade was answered `503` with `Retry-After: 10`.
    /// let none = conn.retry_after(Duration::from_secs(10), Instant::ZERO);
    /// assert_eq!(none.len(), 0);
    /// let Some(Action::ScheduleReconnect { delay, attempt: 1 }) =
    ///     conn.handle(Event::Closed, Instant::ZERO).next() else { panic!() };
    /// assert!(delay >= Duration::from_secs(10) && delay <= Duration::from_secs(15));
    /// # Ok::<(), keepalive::ConfigError>(())
    /// ```
    pub fn retry_after(&mut self, delay: Duration, now: Instant) -> Actions {
        let now = self.advance(now);
        let ms = delay.min(Self::MAX_ADVISED_DELAY).as_millis() as u32;
        if ms == 0 {
            return Actions::new();
        }
        match self.phase {
            Phase::Connecting { .. } | Phase::Open { .. } | Phase::Closing { .. } => {
                self.advised_ms = self.advised_ms.max(ms);
                Actions::new()
            }
            Phase::Waiting { until } => {
                let wait = self.advised(ms);
                if now + wait <= until {
                    return Actions::new();
                }
                self.phase = Phase::Waiting { until: now + wait };
                Actions::one(Action::ScheduleReconnect {
                    delay: wait,
                    attempt: self.attempt,
                })
            }
            Phase::Idle | Phase::Stopped | Phase::Failed => Actions::new(),
        }
    }

    /// A server-advised wait of `ms`: the advice plus a random 0–50 % on top.
    pub(super) fn advised(&mut self, ms: u32) -> Duration {
        let spread = u64::from(ms / 2);
        Duration::from_millis(u64::from(ms) + self.rng.between(0, spread))
    }
}
