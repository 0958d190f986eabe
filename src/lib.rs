//! keepalive: sans-IO heartbeats, reconnects and presence.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "std")]
extern crate std;

mod time;

#[cfg(feature = "std")]
pub use time::Clock;
pub use time::Instant;
