//! Fixtures of the end-to-end tests (included with `#[path]`): a blocking
//! WebSocket server that can be killed and frozen on demand, a Redis helper,
//! and the examples' client transports.

#![allow(dead_code)]

#[path = "../../examples/common/client.rs"]
pub mod client;
pub mod server;
