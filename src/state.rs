//! [`State`]: the public face of a connection's phase, with predicates.

/// Where a [`Connection`](crate::Connection) is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    /// Created, [`connect`](crate::Connection::connect) not called yet.
    Idle,
    /// A transport is being opened.
    Connecting,
    /// The transport is open; heartbeats run.
    Open,
    /// A `Close` was emitted; waiting for the transport to end.
    Closing,
    /// Between transports, waiting out the backoff delay. This *is* the
    /// reconnect lock: nothing else reconnects while it lasts.
    Waiting,
    /// Closed by [`close`](crate::Connection::close); stays here until `connect`.
    Stopped,
    /// Gave up (`max_attempts`, or the peer rejected us); stays here until
    /// `connect`.
    Failed,
}

impl State {
    /// Whether a transport is alive (connecting, open or closing): the
    /// caller holds a socket.
    pub const fn has_transport(self) -> bool {
        matches!(self, State::Connecting | State::Open | State::Closing)
    }

    /// Whether application data can be sent now.
    pub const fn is_open(self) -> bool {
        matches!(self, State::Open)
    }

    /// Whether the connection has stopped trying until the next `connect`.
    pub const fn is_stopped(self) -> bool {
        matches!(self, State::Stopped | State::Failed)
    }
}
