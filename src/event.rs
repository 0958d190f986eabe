//! What goes into a [`Connection`](crate::Connection) ([`Event`]) and what
//! comes out ([`Action`], a few at a time in [`Actions`]).

use core::fmt;
use core::time::Duration;

/// Names one transport (one socket) among those a connection has opened.
///
/// Every [`Action::Connect`] carries a fresh id. Feed a transport's events
/// through [`handle_from`](crate::Connection::handle_from) with its id, and
/// the late `Closed` of a socket you already replaced can no longer cause a
/// second reconnect. Ids start at 1 and wrap after `u32::MAX` connects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TransportId(pub(crate) u32);

impl TransportId {
    /// The id as a number (for logs, or to cross an FFI boundary).
    pub const fn get(self) -> u32 {
        self.0
    }

    /// Rebuilds an id from [`get`](TransportId::get)'s number.
    pub const fn from_u32(id: u32) -> Self {
        TransportId(id)
    }
}

impl fmt::Display for TransportId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Something that happened, for [`Connection::handle`](crate::Connection::handle).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Event {
    /// The transport finished connecting (`onopen`).
    Opened,
    /// Any inbound data (`onmessage`). In idle heartbeat mode it resets the
    /// heartbeat and answers an outstanding one, as the article does.
    Message,
    /// A reply to our heartbeat (a WebSocket pong, or the application's
    /// heartbeat reply). Inbound data too, and a round-trip-time sample.
    Pong,
    /// The transport reported an error (`onerror`). The connection asks to
    /// close it and waits for [`Closed`](Event::Closed): the reconnect is
    /// scheduled once, by the close.
    Error,
    /// The transport has ended (`onclose`, a failed connect, EOF).
    Closed,
    /// The transport has ended and the peer refused us for good (HTTP 401 on
    /// the upgrade, a policy-violation close code): no reconnect follows,
    /// the connection gives up.
    Rejected,
    /// Time has passed: send it at [`poll_timeout`](crate::Connection::poll_timeout).
    Tick,
}

impl Event {
    /// Every variant, for tests and fuzzers that pick one by number.
    pub const ALL: [Event; 7] = [
        Event::Opened,
        Event::Message,
        Event::Pong,
        Event::Error,
        Event::Closed,
        Event::Rejected,
        Event::Tick,
    ];
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Event::Opened => "opened",
            Event::Message => "message",
            Event::Pong => "pong",
            Event::Error => "error",
            Event::Closed => "closed",
            Event::Rejected => "rejected",
            Event::Tick => "tick",
        })
    }
}

/// Why the connection asks to close its transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CloseReason {
    /// No inbound data arrived within the heartbeat timeout.
    HeartbeatTimeout,
    /// The transport did not open within the connect timeout.
    ConnectTimeout,
    /// The transport reported an [`Event::Error`].
    Error,
    /// [`Connection::close`](crate::Connection::close) was called.
    User,
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CloseReason::HeartbeatTimeout => "heartbeat timeout",
            CloseReason::ConnectTimeout => "connect timeout",
            CloseReason::Error => "error",
            CloseReason::User => "user",
        })
    }
}

/// Something the caller must do now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Open a new transport. Its events belong to `id`.
    Connect {
        /// The id to pass to [`handle_from`](crate::Connection::handle_from).
        id: TransportId,
    },
    /// Send one heartbeat (a ping, or the application's heartbeat message).
    SendHeartbeat,
    /// Start closing the current transport gracefully, then report
    /// [`Event::Closed`] when it has ended.
    Close {
        /// Why.
        reason: CloseReason,
    },
    /// Drop the current transport now without waiting: it did not finish
    /// closing within the close timeout. The connection treats it as ended.
    Abort,
    /// A reconnect is scheduled. Informational: the connection owns the
    /// timer and emits [`Action::Connect`] on the [`Event::Tick`] at the
    /// deadline (which [`poll_timeout`](crate::Connection::poll_timeout)
    /// returns).
    ScheduleReconnect {
        /// How long until the reconnect.
        delay: Duration,
        /// 1 for the first reconnect after a disconnect.
        attempt: u32,
    },
    /// The connection stopped trying: `max_attempts` reconnects failed, or
    /// the peer sent [`Event::Rejected`].
    GiveUp {
        /// How many reconnects were tried.
        attempts: u32,
    },
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Connect { id } => write!(f, "connect {id}"),
            Action::SendHeartbeat => f.write_str("send heartbeat"),
            Action::Close { reason } => write!(f, "close ({reason})"),
            Action::Abort => f.write_str("abort"),
            Action::ScheduleReconnect { delay, attempt } => {
                let ms = delay.as_millis();
                write!(f, "reconnect #{attempt} in {}.{:03}s", ms / 1000, ms % 1000)
            }
            Action::GiveUp { attempts: 1 } => f.write_str("give up after 1 attempt"),
            Action::GiveUp { attempts } => write!(f, "give up after {attempts} attempts"),
        }
    }
}

/// The actions one input produced, in order: a fixed-capacity iterator that
/// never allocates.
///
/// It is `#[must_use]`: dropping it unread drops instructions (a heartbeat
/// to send, a socket to close) on the floor.
#[must_use = "actions tell the caller what to do; ignoring them breaks the connection"]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Actions {
    buf: [Option<Action>; Actions::CAPACITY],
    next: u8,
    len: u8,
}

impl Actions {
    /// The most actions one input can produce (for example `Abort` followed
    /// by `ScheduleReconnect`).
    pub const CAPACITY: usize = 2;

    pub(crate) const fn new() -> Self {
        Actions {
            buf: [None; Actions::CAPACITY],
            next: 0,
            len: 0,
        }
    }

    pub(crate) fn one(action: Action) -> Self {
        let mut actions = Actions::new();
        actions.push(action);
        actions
    }

    pub(crate) fn push(&mut self, action: Action) {
        let slot = self.buf.get_mut(usize::from(self.len));
        debug_assert!(slot.is_some(), "more than {} actions", Actions::CAPACITY);
        if let Some(slot) = slot {
            *slot = Some(action);
            self.len += 1;
        }
    }

    /// The slots not yet taken (all `Some`).
    #[inline]
    fn remaining(&self) -> &[Option<Action>] {
        &self.buf[usize::from(self.next)..usize::from(self.len)]
    }
}

impl Iterator for Actions {
    type Item = Action;

    #[inline]
    fn next(&mut self) -> Option<Action> {
        let action = *self.remaining().first()?;
        self.next += 1;
        action
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.remaining().len();
        (n, Some(n))
    }
}

impl ExactSizeIterator for Actions {}
impl core::iter::FusedIterator for Actions {}

/// `[send heartbeat]`, `[abort, reconnect #1 in 2s]`, `[]`.
impl fmt::Display for Actions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, action) in (*self).enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{action}")?;
        }
        f.write_str("]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::string::ToString;

    #[test]
    fn actions_iterate_in_order_and_display() {
        let mut actions = Actions::new();
        assert_eq!(actions.len(), 0);
        assert_eq!(actions.to_string(), "[]");
        actions.push(Action::Abort);
        actions.push(Action::ScheduleReconnect {
            delay: Duration::from_secs(2),
            attempt: 1,
        });
        assert_eq!(actions.len(), 2);
        assert_eq!(actions.to_string(), "[abort, reconnect #1 in 2.000s]");
        let mut it = actions;
        assert_eq!(it.next(), Some(Action::Abort));
        assert_eq!(it.len(), 1);
        assert!(matches!(
            it.next(),
            Some(Action::ScheduleReconnect { attempt: 1, .. })
        ));
        assert_eq!(it.next(), None);
        assert_eq!(it.next(), None);
    }
}
