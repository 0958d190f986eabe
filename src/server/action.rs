//! What a [`Sessions`](super::Sessions) asks of the server, and what it
//! tells about clients.

use core::fmt;

use super::ConnId;
use crate::Instant;

/// One thing for the server to do, or to know, from
/// [`Sessions::poll`](crate::Sessions::poll).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ServerAction<K> {
    /// Send a WebSocket ping on this connection (ping mode: it has been
    /// silent for `interval`).
    Ping(ConnId),
    /// Close this connection: it was silent past its deadline (a ping went
    /// unanswered for `timeout`, or in passive mode `interval + timeout`
    /// passed without a frame). Send a close frame (1001 Going Away, or
    /// 1011, with a reason such as "ping timeout") and report
    /// [`ended`](crate::Sessions::ended) when the transport is gone. It no
    /// longer counts toward its client's presence.
    Close(ConnId),
    /// Drop this connection's transport without waiting: its close did not
    /// complete within `close_timeout`. The connection is gone; no
    /// `ended` is needed (one is ignored).
    Abort(ConnId),
    /// This client came online: its first live connection opened (and it
    /// was not lingering).
    Online(K),
    /// This client went offline: its last live connection went away (and
    /// `linger` passed without a new one).
    Offline(K, OfflineReason),
}

/// Why a client went offline: what became of its last live connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OfflineReason {
    /// Its transport ended ([`ended`](crate::Sessions::ended)): the client
    /// closed, or the socket failed.
    Ended,
    /// The server closed it for silence ([`ServerAction::Close`]).
    Silent,
    /// The server closed it on request ([`close`](crate::Sessions::close)).
    Closed,
}

impl fmt::Display for OfflineReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OfflineReason::Ended => "connection ended",
            OfflineReason::Silent => "silent",
            OfflineReason::Closed => "closed by the server",
        })
    }
}

/// A client's presence, as far as the reports go, from
/// [`Sessions::status`](crate::Sessions::status).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ClientStatus {
    /// Reported [`Online`](ServerAction::Online) and not yet offline.
    /// `connections` is the number of live connections; it is 0 while the
    /// client lingers (its last connection went away less than `linger`
    /// ago, or the report is not polled yet).
    Online {
        /// When it came online.
        since: Instant,
        /// Its live connections.
        connections: usize,
    },
    /// Reported [`Offline`](ServerAction::Offline), and not forgotten yet.
    Offline {
        /// When it went offline.
        since: Instant,
        /// What became of its last connection.
        reason: OfflineReason,
    },
    /// Not connected since this machine was created (a restart forgets
    /// everyone: nobody is offline after it), or forgotten `forget_after`
    /// it went offline.
    Unknown,
}

impl ClientStatus {
    /// Whether the client is online.
    pub fn is_online(&self) -> bool {
        matches!(self, ClientStatus::Online { .. })
    }
}

/// Why [`Sessions::open`](crate::Sessions::open) refused a connection.
/// Nothing tracked was touched.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SessionsError {
    /// `capacity` connections are open (or `capacity` client ids are held
    /// and none of them is offline, to be forgotten early). Shed the load:
    /// refuse the upgrade with 503 and a `Retry-After`.
    Full,
    /// This client id already has `max_per_id` live connections.
    TooManyForId,
}

impl fmt::Display for SessionsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SessionsError::Full => "server is full: connection capacity reached",
            SessionsError::TooManyForId => "this client id has max_per_id connections already",
        })
    }
}

impl core::error::Error for SessionsError {}
