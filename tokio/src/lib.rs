#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "axum")]
mod axum;
mod client;
pub mod close;
mod limits;
pub mod server;
mod socket;
mod time;

pub use client::{ClientEvent, Events, StartError, connect, connect_with_limits};
pub use keepalive::adapter::Handle;
pub use limits::Limits;
pub use server::{Server, ServerConfig};
pub use time::TokioSleep;
