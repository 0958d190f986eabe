//! What the tracker reports: [`Change`] for a check-in, [`Status`] for an id.

use core::fmt;

use crate::Instant;

/// What a [`check_in`](crate::Presence::check_in) did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Change {
    /// The client was unknown or offline (or silent past its timeout) and is
    /// online now, `since` this check-in.
    CameOnline,
    /// The client was online; its last-seen time moved to this check-in.
    Refreshed,
}

impl Change {
    /// Whether this check-in started a new online session.
    pub const fn came_online(self) -> bool {
        matches!(self, Change::CameOnline)
    }
}

/// What the tracker knows about one id at a given `now`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    /// Heard from within the timeout.
    Online {
        /// First check-in of this online session.
        since: Instant,
        /// Latest check-in (server time).
        last_seen: Instant,
    },
    /// Silent for at least the timeout, or checked out, and not forgotten
    /// yet.
    Offline {
        /// Latest check-in (server time).
        last_seen: Instant,
    },
    /// Never heard from since the tracker was created, or forgotten
    /// (`forget_after` passed since it went offline). After a restart every
    /// id starts here, which is what makes a restart safe.
    Unknown,
}

impl Status {
    /// `true` for [`Status::Online`].
    pub const fn is_online(&self) -> bool {
        matches!(self, Status::Online { .. })
    }

    /// `true` for [`Status::Offline`].
    pub const fn is_offline(&self) -> bool {
        matches!(self, Status::Offline { .. })
    }

    /// `true` for [`Status::Unknown`].
    pub const fn is_unknown(&self) -> bool {
        matches!(self, Status::Unknown)
    }

    /// The latest check-in, unless the id is unknown.
    pub const fn last_seen(&self) -> Option<Instant> {
        match *self {
            Status::Online { last_seen, .. } | Status::Offline { last_seen } => Some(last_seen),
            Status::Unknown => None,
        }
    }
}

/// `online since 12.000s, last seen 30.500s`, `offline, last seen 30.500s`,
/// or `unknown`.
impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Status::Online { since, last_seen } => {
                write!(f, "online since {since}, last seen {last_seen}")
            }
            Status::Offline { last_seen } => write!(f, "offline, last seen {last_seen}"),
            Status::Unknown => f.write_str("unknown"),
        }
    }
}
