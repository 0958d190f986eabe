//! Drivers that run a [`Connection`](crate::Connection) over a real
//! transport (`std`).
//!
//! The state machine does no I/O; these adapters do it for you, without
//! naming a runtime or a WebSocket library. You implement a small transport
//! trait (a dozen lines around `tungstenite`, `tokio-tungstenite` or any
//! socket) and, for async code, a two-method timer trait; the adapter then:
//!
//! - connects, sends heartbeats (a WebSocket ping, or a text frame such as
//!   the article's `"心跳测试"`, see [`Heartbeat`]) and sleeps exactly until
//!   the machine's next deadline;
//! - closes a silent connection and reconnects with backoff, one socket at a
//!   time, dropping late events of replaced sockets;
//! - queues the messages you [`send`](Handle::send) while disconnected in a
//!   bounded queue and flushes them in order after the reconnect (a full
//!   queue hands the message back: nothing is dropped silently);
//! - delivers inbound application messages to you, never heartbeat replies;
//! - reports every state change as a [`Notice`] (connected, reconnecting in
//!   N ms attempt k, gave up, stopped), the way socket.io and
//!   reconnecting-websocket report them;
//! - stops cleanly when you call [`Handle::close`] from any thread or task,
//!   and returns an [`Outcome`] with whatever was still queued.
//!
//! | | blocking | async |
//! |---|---|---|
//! | module | [`blocking`] | [`asynchronous`] |
//! | transport trait | [`blocking::Transport`] | [`asynchronous::Transport`] (cancel-safe `recv`) |
//! | time | [`blocking::Timer`], [`blocking::StdTimer`] by default | [`asynchronous::Sleep`], a few lines per runtime |
//! | wakes for [`Handle`] calls | within [`Options::read_slice`] | at once |
//!
//! Both drivers share one runtime-independent core, so they behave the
//! same: only the way they wait differs.

mod driver;
mod handle;

pub mod asynchronous;
pub mod blocking;

use core::fmt;
use core::num::NonZeroUsize;
use core::time::Duration;
use std::string::String;
use std::vec::Vec;

use crate::event::{CloseReason, TransportId};

pub use handle::{Handle, SendError};

/// An application message, in or out.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Message {
    /// A text frame.
    Text(String),
    /// A binary frame.
    Binary(Vec<u8>),
}

impl Message {
    /// A text message.
    pub fn text(text: impl Into<String>) -> Message {
        Message::Text(text.into())
    }

    /// The text, if this is a text message.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Message::Text(text) => Some(text),
            Message::Binary(_) => None,
        }
    }
}

impl From<String> for Message {
    fn from(text: String) -> Message {
        Message::Text(text)
    }
}

impl From<&str> for Message {
    fn from(text: &str) -> Message {
        Message::Text(text.into())
    }
}

impl From<Vec<u8>> for Message {
    fn from(bytes: Vec<u8>) -> Message {
        Message::Binary(bytes)
    }
}

impl From<&[u8]> for Message {
    fn from(bytes: &[u8]) -> Message {
        Message::Binary(bytes.into())
    }
}

/// What a heartbeat is on the wire.
///
/// # Default
///
/// [`Heartbeat::Ping`]: a WebSocket ping, answered by the peer's WebSocket
/// library with a pong, invisible to both applications.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum Heartbeat {
    /// The transport's own ping ([`blocking::Transport::ping`]); its pong is
    /// reported as [`Recv::Pong`].
    #[default]
    Ping,
    /// An application text frame, as the article's browser client sends
    /// (`socket.send("心跳测试")`). An inbound text frame equal to `reply`
    /// answers it and is not delivered to you; any other inbound message
    /// still counts as proof of life.
    Text {
        /// The frame sent as a heartbeat.
        request: String,
        /// The server's reply to it.
        reply: String,
    },
}

impl Heartbeat {
    /// A text heartbeat that the server echoes back unchanged.
    ///
    /// ```
    /// use keepalive::adapter::Heartbeat;
    ///
    /// let hb = Heartbeat::text("心跳测试");
    /// assert_eq!(hb, Heartbeat::Text { request: "心跳测试".into(), reply: "心跳测试".into() });
    /// ```
    pub fn text(request: impl Into<String>) -> Heartbeat {
        let request = request.into();
        Heartbeat::Text {
            reply: request.clone(),
            request,
        }
    }

    /// Whether `message` is the reply to a text heartbeat.
    fn is_reply(&self, message: &Message) -> bool {
        match self {
            Heartbeat::Ping => false,
            Heartbeat::Text { reply, .. } => message.as_text() == Some(reply.as_str()),
        }
    }
}

/// Adapter settings (the [`Config`](crate::Config) holds the timing).
///
/// # Default
///
/// WebSocket-ping heartbeats, an outbound queue of 64 messages, and a 50 ms
/// read slice for the blocking driver.
///
/// ```
/// use core::num::NonZeroUsize;
/// use keepalive::adapter::{Heartbeat, Options};
///
/// let options = Options::default()
///     .with_heartbeat(Heartbeat::text("心跳测试"))
///     .with_queue_capacity(NonZeroUsize::new(16).unwrap());
/// assert_eq!(options.queue_capacity().get(), 16);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    heartbeat: Heartbeat,
    queue_capacity: NonZeroUsize,
    read_slice: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            heartbeat: Heartbeat::Ping,
            queue_capacity: NonZeroUsize::new(64).unwrap_or(NonZeroUsize::MIN),
            read_slice: Duration::from_millis(50),
        }
    }
}

impl Options {
    /// What a heartbeat is on the wire.
    pub fn with_heartbeat(mut self, heartbeat: Heartbeat) -> Self {
        self.heartbeat = heartbeat;
        self
    }

    /// How many outbound messages may wait for the transport (while it is
    /// down, or before the driver gets to them). Beyond it,
    /// [`Handle::send`] returns [`SendError::Full`] with the message.
    pub fn with_queue_capacity(mut self, capacity: NonZeroUsize) -> Self {
        self.queue_capacity = capacity;
        self
    }

    /// Blocking driver only: the longest one blocking read lasts before the
    /// loop looks at its [`Handle`] (messages to send, a close). A blocking
    /// read cannot be interrupted portably, so this bounds how late a
    /// message sent from another thread goes out. Clamped to at least 1 ms.
    /// Deadlines of the state machine are met exactly whatever its value.
    pub fn with_read_slice(mut self, slice: Duration) -> Self {
        self.read_slice = slice.max(Duration::from_millis(1));
        self
    }

    /// What a heartbeat is on the wire.
    pub fn heartbeat(&self) -> &Heartbeat {
        &self.heartbeat
    }

    /// The outbound queue's capacity.
    pub fn queue_capacity(&self) -> NonZeroUsize {
        self.queue_capacity
    }

    /// The blocking driver's read slice.
    pub fn read_slice(&self) -> Duration {
        self.read_slice
    }
}

/// What one receive on an open transport produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recv<E> {
    /// An application message (or the reply to a [`Heartbeat::Text`]).
    Message(Message),
    /// The reply to [`Heartbeat::Ping`] (a WebSocket pong).
    Pong,
    /// Other inbound traffic, such as the peer's own ping: proof that the
    /// peer is alive, nothing to deliver.
    Data,
    /// The transport has ended (close handshake done, EOF, reset).
    Closed,
    /// The transport has ended and the peer refused us for good (for
    /// example a WebSocket close with code 1008, policy violation): no
    /// reconnect follows.
    Rejected,
    /// The transport has ended and the peer asked us to stay away at least
    /// this long (a WebSocket close with code 1013, Try Again Later): the
    /// reconnect waits for it, see [`Connection::retry_after`](crate::Connection::retry_after).
    RetryAfter(Duration),
    /// The deadline passed with nothing received (blocking transports).
    Timeout,
    /// The transport failed; the driver closes it and reconnects.
    Error(E),
}

/// Why opening a transport failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConnectError<E> {
    /// A failure worth retrying (refused, reset, timeout, HTTP 5xx).
    Failed(E),
    /// The peer refused us for good (HTTP 401 or 403 on the upgrade): the
    /// driver gives up instead of reconnecting.
    Rejected(E),
    /// The peer is overloaded and said when to come back (HTTP 503 or 429
    /// with `Retry-After`): retried after at least that long, see
    /// [`Connection::retry_after`](crate::Connection::retry_after).
    RetryAfter(E, Duration),
}

impl<E> ConnectError<E> {
    /// The transport's error.
    pub fn into_inner(self) -> E {
        match self {
            ConnectError::Failed(e)
            | ConnectError::Rejected(e)
            | ConnectError::RetryAfter(e, _) => e,
        }
    }
}

/// Why a transport was lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cause {
    /// It never opened: the connect failed.
    ConnectFailed,
    /// It did not open within the connect timeout.
    ConnectTimeout,
    /// The peer refused us for good.
    Rejected,
    /// The peer closed it (or the network did: EOF, reset).
    PeerClosed,
    /// Nothing came back within the heartbeat timeout.
    HeartbeatTimeout,
    /// The transport reported an error.
    Error,
    /// You called [`Handle::close`].
    User,
}

impl From<CloseReason> for Cause {
    fn from(reason: CloseReason) -> Cause {
        match reason {
            CloseReason::HeartbeatTimeout => Cause::HeartbeatTimeout,
            CloseReason::ConnectTimeout => Cause::ConnectTimeout,
            CloseReason::Error => Cause::Error,
            CloseReason::User => Cause::User,
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Cause::ConnectFailed => "connect failed",
            Cause::ConnectTimeout => "connect timeout",
            Cause::Rejected => "rejected",
            Cause::PeerClosed => "closed by peer",
            Cause::HeartbeatTimeout => "heartbeat timeout",
            Cause::Error => "transport error",
            Cause::User => "closed by user",
        })
    }
}

/// What happened, reported to the callback you give the driver's `run`.
///
/// `E` is the transport's error type.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Notice<E> {
    /// A transport is being opened (`attempt` is 0 for the first connect, k
    /// for the k-th reconnect).
    Connecting {
        /// The new transport.
        id: TransportId,
        /// Reconnects tried since the connection was last stable.
        attempt: u32,
    },
    /// The transport is open; queued messages go out next.
    Connected {
        /// The open transport.
        id: TransportId,
    },
    /// An inbound application message.
    Message(Message),
    /// A heartbeat was sent.
    HeartbeatSent,
    /// The peer answered a heartbeat.
    HeartbeatAnswered {
        /// The smoothed round-trip time so far.
        rtt: Option<Duration>,
    },
    /// The transport reported an error (a failed connect, a failed read or
    /// write). What follows (a reconnect, or giving up) is reported next.
    Error(E),
    /// The transport was lost, or is being closed because it is dead: reported
    /// once per transport, as soon as it is known.
    Disconnected {
        /// The lost transport.
        id: TransportId,
        /// Why.
        cause: Cause,
    },
    /// A reconnect is scheduled.
    Reconnecting {
        /// In how long.
        delay: Duration,
        /// 1 for the first reconnect after a disconnect.
        attempt: u32,
    },
    /// The driver stopped trying (`max_attempts`, or the peer rejected us).
    /// The run loop returns next.
    GaveUp {
        /// Reconnects tried.
        attempts: u32,
    },
    /// Stopped by [`Handle::close`]. The run loop returns next.
    Stopped,
}

/// `connected #2`, `reconnecting in 412 ms (attempt 2)`, …
impl<E: fmt::Display> fmt::Display for Notice<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Notice::Connecting { id, attempt: 0 } => write!(f, "connecting {id}"),
            Notice::Connecting { id, attempt } => write!(f, "connecting {id} (attempt {attempt})"),
            Notice::Connected { id } => write!(f, "connected {id}"),
            Notice::Message(Message::Text(text)) => write!(f, "message {text:?}"),
            Notice::Message(Message::Binary(bytes)) => write!(f, "message ({} bytes)", bytes.len()),
            Notice::HeartbeatSent => f.write_str("heartbeat sent"),
            Notice::HeartbeatAnswered { rtt: Some(rtt) } => {
                write!(
                    f,
                    "heartbeat answered (rtt {:.1} ms)",
                    rtt.as_secs_f64() * 1e3
                )
            }
            Notice::HeartbeatAnswered { rtt: None } => f.write_str("heartbeat answered"),
            Notice::Error(e) => write!(f, "error: {e}"),
            Notice::Disconnected { id, cause } => write!(f, "disconnected {id} ({cause})"),
            Notice::Reconnecting { delay, attempt } => write!(
                f,
                "reconnecting in {} ms (attempt {attempt})",
                delay.as_millis()
            ),
            Notice::GaveUp { attempts } => write!(f, "gave up after {attempts} attempts"),
            Notice::Stopped => f.write_str("stopped"),
        }
    }
}

/// How a run loop ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Exit {
    /// [`Handle::close`] was called.
    Stopped,
    /// The driver gave up: `max_attempts` reconnects failed, or the peer
    /// rejected us.
    GaveUp {
        /// Reconnects tried.
        attempts: u32,
    },
}

/// What a run loop returns.
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use = "`unsent` holds messages that were never sent"]
pub struct Outcome {
    /// Why it ended.
    pub exit: Exit,
    /// Messages still queued, oldest first: handed back, never dropped.
    pub unsent: Vec<Message>,
}
