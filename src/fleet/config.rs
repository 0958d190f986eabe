//! [`FleetConfig`]: who this node is, how it names keys, how often it writes.

use core::fmt;
use core::time::Duration;
use std::string::String;

use crate::{PresenceConfig, PresenceConfigError};

/// How a [`Fleet`](crate::Fleet) node shares presence through a store.
///
/// ```
/// use core::time::Duration;
/// use keepalive::{FleetConfig, PresenceConfig};
///
/// let config = FleetConfig::new("node-a", 1_718_000_000_000)
///     .with_presence(PresenceConfig::new().with_timeout(Duration::from_secs(30)));
/// assert_eq!(config.write_every(), Duration::from_secs(10)); // timeout / 3
/// assert_eq!(config.ttl(), Duration::from_secs(40)); // timeout + write_every
/// assert_eq!(config.owner(), "node-a/1718000000000/");
/// assert_eq!(config.validate(), Ok(()));
/// ```
///
/// # Default
///
/// | setting | default | why |
/// |---|---|---|
/// | `presence` | [`PresenceConfig::new()`] (90 s timeout) | the local tracker judges this node's own clients exactly as a single server would |
/// | `prefix` | `keepalive:presence:` | one namespace per application; keys read `keepalive:presence:alice` in `redis-cli` |
/// | `write_every` | `timeout / 3` | a client heartbeating every second costs one write per `timeout / 3` instead of one per heartbeat, and one lost write is absorbed (see [`Fleet`](crate::Fleet#throttling-and-the-ttl)) |
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FleetConfig {
    node: String,
    epoch: u64,
    prefix: String,
    presence: PresenceConfig,
    /// `None`: `timeout / 3`.
    write_every: Option<Duration>,
}

impl FleetConfig {
    /// Longest accepted node name, in bytes.
    pub const MAX_NODE_LEN: usize = 64;
    /// The default key prefix.
    pub const DEFAULT_PREFIX: &'static str = "keepalive:presence:";

    /// A node named `node` in its boot `epoch`, with the [defaults](Self#default).
    ///
    /// `node` names the server (1 to 64 bytes of `A-Z a-z 0-9 . _ -`, so
    /// that the stored value can be parsed back). `epoch` must differ each
    /// time the process starts: the Unix time of boot in milliseconds or
    /// nanoseconds, a random `u64`, or a counter kept in the store
    /// (`INCR`). Together they form the [`owner`](Self::owner) tag written
    /// into every value, which tells readers, and a restarted node, which
    /// incarnation wrote a key.
    pub fn new(node: impl Into<String>, epoch: u64) -> Self {
        FleetConfig {
            node: node.into(),
            epoch,
            prefix: String::from(Self::DEFAULT_PREFIX),
            presence: PresenceConfig::new(),
            write_every: None,
        }
    }

    /// The local tracker's settings; its `timeout` also sets the key TTL.
    pub fn with_presence(mut self, presence: PresenceConfig) -> Self {
        self.presence = presence;
        self
    }

    /// The text put before every escaped id to form its key. Fleets that
    /// share a store but not their clients need distinct prefixes, neither
    /// a prefix of the other.
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Write a refreshed client at most once per `period` (the throttle
    /// period `P`); at most the presence `timeout`. Zero writes on every
    /// check-in, as [`without_throttling`](Self::without_throttling).
    pub fn with_write_every(mut self, period: Duration) -> Self {
        self.write_every = Some(period);
        self
    }

    /// Write on every check-in (for comparison: it costs one store command
    /// per heartbeat).
    pub fn without_throttling(self) -> Self {
        self.with_write_every(Duration::ZERO)
    }

    /// See [`new`](Self::new).
    pub fn node(&self) -> &str {
        &self.node
    }

    /// See [`new`](Self::new).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// See [`with_prefix`](Self::with_prefix).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// See [`with_presence`](Self::with_presence).
    pub fn presence(&self) -> &PresenceConfig {
        &self.presence
    }

    /// The throttle period `P`: `timeout / 3` unless set.
    pub fn write_every(&self) -> Duration {
        self.write_every.unwrap_or(self.presence.timeout() / 3)
    }

    /// The TTL of every key written: `timeout + write_every`, the shortest
    /// that never lets a key expire while this node still counts the client
    /// online (see [`Fleet`](crate::Fleet#throttling-and-the-ttl)).
    pub fn ttl(&self) -> Duration {
        self.presence.timeout().saturating_add(self.write_every())
    }

    /// `node/epoch/`: how every value this node writes begins, and what a
    /// conditional delete compares against.
    pub fn owner(&self) -> String {
        std::format!("{}/{}/", self.node, self.epoch)
    }

    /// Checks every setting; the first problem found is returned.
    ///
    /// * the node name is empty, longer than [`MAX_NODE_LEN`](Self::MAX_NODE_LEN),
    ///   or has a byte outside `A-Z a-z 0-9 . _ -`:
    ///   [`BadNode`](FleetConfigError::BadNode);
    /// * the presence settings are invalid:
    ///   [`Presence`](FleetConfigError::Presence);
    /// * `write_every` is longer than the timeout:
    ///   [`WriteEveryExceedsTimeout`](FleetConfigError::WriteEveryExceedsTimeout).
    pub fn validate(&self) -> Result<(), FleetConfigError> {
        let ok = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-');
        if self.node.is_empty()
            || self.node.len() > Self::MAX_NODE_LEN
            || !self.node.bytes().all(ok)
        {
            return Err(FleetConfigError::BadNode);
        }
        self.presence
            .validate()
            .map_err(FleetConfigError::Presence)?;
        if self.write_every() > self.presence.timeout() {
            return Err(FleetConfigError::WriteEveryExceedsTimeout);
        }
        Ok(())
    }
}

/// Why a [`FleetConfig`] was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FleetConfigError {
    /// The node name is empty, longer than 64 bytes, or has a byte outside
    /// `A-Z a-z 0-9 . _ -`.
    BadNode,
    /// The local tracker's settings are invalid.
    Presence(PresenceConfigError),
    /// `write_every` is longer than the presence timeout: a crashed node's
    /// clients would stay online in the store for more than twice the
    /// timeout.
    WriteEveryExceedsTimeout,
}

impl fmt::Display for FleetConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FleetConfigError::BadNode => {
                f.write_str("fleet node name must be 1 to 64 bytes of A-Z a-z 0-9 . _ -")
            }
            FleetConfigError::Presence(e) => e.fmt(f),
            FleetConfigError::WriteEveryExceedsTimeout => {
                f.write_str("fleet write_every must not exceed the presence timeout")
            }
        }
    }
}

impl core::error::Error for FleetConfigError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            FleetConfigError::Presence(e) => Some(e),
            _ => None,
        }
    }
}
