//! The kept-alive WebSocket client.
