//! The client transports of the demo's blocking and smol clients (the tokio
//! client needs none: `keepalive-tokio` is one). Also used by the
//! end-to-end tests, through `tests/support`.

#![allow(dead_code)]

pub mod client;
pub mod proxy;
