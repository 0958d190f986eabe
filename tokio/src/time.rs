//! tokio's timer behind keepalive's [`Sleep`] trait, read through a
//! [`Clock`] (the machines' `Instant` is nanoseconds since its epoch).

use keepalive::adapter::asynchronous::Sleep;
use keepalive::{Clock, Instant};

/// tokio time for the async adapter: `now` from a [`Clock`], sleeps with
/// [`tokio::time::sleep_until`].
#[derive(Clone, Copy, Debug, Default)]
pub struct TokioSleep(pub Clock);

impl TokioSleep {
    /// A timer whose epoch is now.
    pub fn new() -> Self {
        TokioSleep(Clock::new())
    }

    /// `deadline` as a tokio instant.
    pub fn to_tokio(&self, deadline: Instant) -> tokio::time::Instant {
        tokio::time::Instant::from_std(self.0.to_std(deadline))
    }
}

impl Sleep for TokioSleep {
    fn now(&self) -> Instant {
        self.0.now()
    }

    fn sleep_until(&self, deadline: Instant) -> impl Future<Output = ()> + Send {
        tokio::time::sleep_until(self.to_tokio(deadline))
    }
}
