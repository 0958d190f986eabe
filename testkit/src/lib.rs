//! Test support shared by `keepalive`'s property tests (`tests/invariants.rs`)
//! and its fuzz targets (`fuzz/`), so that both decode inputs and judge the
//! machine the same way:
//!
//! - [`Bytes`]: a tiny cursor that turns any byte slice into numbers (an
//!   exhausted cursor yields zeros, so every input decodes);
//! - [`Op`]: one input to a [`Connection`](keepalive::Connection) (or a move
//!   of the caller's clock), decodable from bytes and encodable back, so
//!   readable scenarios become fuzz seeds;
//! - [`decode_config`]: bytes to a [`Config`](keepalive::Config) with any
//!   field values, valid or not;
//! - [`InvariantChecker`]: wraps a connection, applies ops, and checks every
//!   rule of the contract after each step, returning a [`Violation`] with a
//!   readable trace;
//! - `presence` (feature `std`): a naive reference model of `Presence` and
//!   the comparison the `presence` fuzz target runs;
//! - `server` (feature `std`): a naive reference model of the server
//!   machine `Sessions` and the comparison the `server` fuzz target and the
//!   server proptest run;
//! - [`services`]: the one check a test makes before it needs an outside
//!   program (skip with one line, or fail under `KEEPALIVE_REQUIRE_SERVICES=1`).

mod bytes;
mod checker;
mod config;
mod ops;
#[cfg(feature = "std")]
pub mod presence;
pub mod redis_server;
pub mod seeds;
#[cfg(feature = "std")]
pub mod server;
pub mod services;
pub mod targets;

pub use bytes::Bytes;
pub use checker::{InvariantChecker, Violation};
pub use config::{PHOENIX_STEPS, STEP_TABLES, decode_backoff, decode_config, decode_duration};
pub use ops::{Op, Step, Whose, decode_ops, encode_ops};
