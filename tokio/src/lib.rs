//! x
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "axum")]
mod axum;
pub mod close;
mod client;
mod limits;
pub mod server;
mod socket;
mod time;

pub use client::{ClientEvent, Events, StartError, connect, connect_with_limits};
pub use limits::Limits;
pub use time::TokioSleep;
pub use keepalive::adapter::Handle;
pub use server::{Server, ServerConfig};
