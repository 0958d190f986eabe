// The README (its examples compile as doctests) is the crate's front page; it
// uses `Presence`, so without `std` a short overview stands in.
#![cfg_attr(feature = "std", doc = include_str!("../README.md"))]
#![cfg_attr(
    not(feature = "std"),
    doc = "Sans-IO heartbeat and reconnect state machines: see [`Connection`]. \
           Built without `std`: `Presence`, `Clock` and the adapters need the `std` feature."
)]
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "std")]
extern crate std;

mod backoff;
mod config;
mod connection;
mod event;
mod state;
mod time;

pub use backoff::{Backoff, Jitter, Rng};
pub use config::{Config, ConfigError, Field, HeartbeatMode};
pub use connection::Connection;
pub use event::{Action, Actions, CloseReason, Event, TransportId};
pub use state::State;
#[cfg(feature = "std")]
pub use time::Clock;
pub use time::Instant;

// --- adapters (std) ---
#[cfg(feature = "std")]
pub mod adapter;
// --- end adapters ---

// --- presence (std): section owned by the presence work ---
// The hash index and the timing wheel are shared by `Presence` and `Sessions`.
#[cfg(feature = "std")]
mod index;
#[cfg(feature = "std")]
mod presence;
#[cfg(feature = "std")]
mod wheel;
#[cfg(feature = "std")]
pub use presence::{
    Change, Inbound, OnlineIds, Presence, PresenceConfig, PresenceConfigError, PresenceError,
    PresenceUpdate, Reply, Responder, Response, Status,
};
// --- end presence ---

// --- server (std): per-connection heartbeats, presence across connections ---
#[cfg(feature = "std")]
mod server;
#[cfg(feature = "std")]
pub use server::{
    ClientStatus, ConnId, OfflineReason, ServerAction, ServerHeartbeat, Sessions, SessionsConfig,
    SessionsConfigError, SessionsError, SessionsField,
};
// --- end server ---

// --- fleet (std) ---
#[cfg(feature = "std")]
mod fleet;
#[cfg(feature = "std")]
pub use fleet::{
    BlockingFleet, Fleet, FleetConfig, FleetConfigError, FleetMirror, FleetOutcome, FleetRecord,
    PresenceStore, StoreCommand, StoreOp,
};
// --- end fleet ---
