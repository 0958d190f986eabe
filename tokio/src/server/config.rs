//! [`ServerConfig`]: the server's settings beyond the machine's.

use std::borrow::Cow;
use std::time::Duration;

use keepalive::{ServerHeartbeat, SessionsConfig};

use crate::Limits;

/// How a [`Server`](super::Server) runs. The heartbeat, capacity and
/// presence rules are the [`SessionsConfig`] of its machine; the rest is
/// what the I/O around it needs.
///
/// # Default
///
/// | setting | default | why |
/// |---|---|---|
/// | sessions | [`SessionsConfig::default`]: socket.io's pings (25 s, 20 s to answer) | see there |
/// | limits | [`Limits::default`]: 4 KiB buffers, 1 MiB messages | thousands of idle connections at a few KiB each |
/// | outbound queue | 64 frames per connection | a client that falls this far behind is not reading: it is closed |
/// | retry after | 5 s, sent as a random 5–10 s | when full or shutting down; the spread keeps refused clients from coming back together |
/// | text heartbeat | none | set the article's `"心跳测试"` for clients that heartbeat in text |
/// | change feed | 1,024 changes buffered per subscriber | a subscriber that lags further loses the oldest (and is told how many) |
/// | handshake timeout | 10 s | a socket that never finishes its upgrade is dropped |
#[derive(Clone, Debug)]
pub struct ServerConfig {
    sessions: SessionsConfig,
    limits: Limits,
    outbound_queue: usize,
    retry_after: Duration,
    text_heartbeat: Option<(Cow<'static, str>, Cow<'static, str>)>,
    change_buffer: usize,
    handshake_timeout: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            sessions: SessionsConfig::default(),
            limits: Limits::default(),
            outbound_queue: 64,
            retry_after: Duration::from_secs(5),
            text_heartbeat: None,
            change_buffer: 1024,
            handshake_timeout: Duration::from_secs(10),
        }
    }
}

impl ServerConfig {
    /// The machine's settings: heartbeat, capacity, per-id cap, linger.
    pub fn with_sessions(mut self, sessions: SessionsConfig) -> Self {
        self.sessions = sessions;
        self
    }

    /// The heartbeat policy (a shortcut into the [`SessionsConfig`]).
    pub fn with_heartbeat(mut self, heartbeat: ServerHeartbeat) -> Self {
        self.sessions = self.sessions.with_heartbeat(heartbeat);
        self
    }

    /// Buffer and size limits of each socket.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// How many frames may wait to be written to one connection; when a
    /// send finds the queue full, the client is not reading and the
    /// connection is dropped. At least 1.
    pub fn with_outbound_queue(mut self, frames: usize) -> Self {
        self.outbound_queue = frames.max(1);
        self
    }

    /// The `Retry-After` (and close code 1013 reason) sent when the server
    /// is full or shutting down: a random value between this and twice it,
    /// in whole seconds (at least 1).
    pub fn with_retry_after(mut self, delay: Duration) -> Self {
        self.retry_after = delay.max(Duration::from_secs(1));
        self
    }

    /// Answers the text frame `request` with `reply` (the article's clients
    /// send `"心跳测试"` and take any message as the answer). The heartbeat
    /// frame is not handed to the message handler.
    pub fn with_text_heartbeat(
        mut self,
        request: impl Into<Cow<'static, str>>,
        reply: impl Into<Cow<'static, str>>,
    ) -> Self {
        self.text_heartbeat = Some((request.into(), reply.into()));
        self
    }

    /// How many presence changes a slow subscriber may fall behind.
    pub fn with_change_buffer(mut self, changes: usize) -> Self {
        self.change_buffer = changes.max(1);
        self
    }

    /// How long a socket may take to finish its WebSocket upgrade.
    pub fn with_handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// The machine's settings.
    pub fn sessions(&self) -> &SessionsConfig {
        &self.sessions
    }

    /// The socket limits.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The outbound queue's capacity, in frames.
    pub fn outbound_queue(&self) -> usize {
        self.outbound_queue
    }

    /// The base of the `Retry-After` sent when shedding.
    pub fn retry_after(&self) -> Duration {
        self.retry_after
    }

    /// The text heartbeat and its reply, if set.
    pub fn text_heartbeat(&self) -> Option<(&str, &str)> {
        self.text_heartbeat.as_ref().map(|(q, a)| (&**q, &**a))
    }

    /// The change feed's buffer per subscriber.
    pub fn change_buffer(&self) -> usize {
        self.change_buffer
    }

    /// The upgrade's time limit.
    pub fn handshake_timeout(&self) -> Duration {
        self.handshake_timeout
    }
}
