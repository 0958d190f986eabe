//! keepalive for tokio-tungstenite (and axum, with the `axum` feature): the
//! shell around the sans-IO machines of [`keepalive`].
//!
//! The machines decide, this crate only moves bytes and sleeps until their
//! `poll_timeout`, the way `quinn` drives `quinn-proto`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod client;
pub mod server;
