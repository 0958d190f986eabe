#![doc = include_str!("../README.md")]
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "std")]
extern crate std;

mod backoff;
mod config;
mod connection;
mod event;
mod time;

pub use backoff::{Backoff, Jitter, Rng};
pub use config::{Config, ConfigError, Field, HeartbeatMode};
pub use connection::{Connection, State};
pub use event::{Action, Actions, CloseReason, Event, TransportId};
#[cfg(feature = "std")]
pub use time::Clock;
pub use time::Instant;

// --- adapters (std) ---
#[cfg(feature = "std")]
pub mod adapter;
// --- end adapters ---

// --- presence (std): section owned by the presence work ---
#[cfg(feature = "std")]
mod presence;
#[cfg(feature = "std")]
pub use presence::{
    Change, Inbound, OnlineIds, Presence, PresenceConfig, PresenceConfigError, PresenceError,
    PresenceUpdate, Reply, Responder, Response, Status,
};
// --- end presence ---

// --- fleet (std) ---
#[cfg(feature = "std")]
mod fleet;
#[cfg(feature = "std")]
pub use fleet::{
    Fleet, FleetConfig, FleetConfigError, FleetOutcome, FleetRecord, PresenceStore, StoreOp,
};
// --- end fleet ---
