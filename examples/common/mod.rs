//! Pieces shared by the examples and the end-to-end tests (included with
//! `#[path]`): the WebSocket server and the client transports.

#![allow(dead_code)]

pub mod client;
pub mod server;
