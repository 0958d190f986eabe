//! What goes into the store: keys (prefix + escaped id) and values
//! ([`FleetRecord`]).

use core::fmt::{self, Write as _};
use std::string::String;

use crate::Instant;

/// Appends `prefix` and the escaped `Display` form of `id` to `out`.
///
/// Bytes outside `A-Z a-z 0-9 - . _ ~` are percent-encoded (`%3A` for `:`),
/// `%` included, so the mapping is injective: two ids with different
/// `Display` forms never share a key, and no id can reach into another
/// namespace (`a:b` and `a%3Ab` stay apart), add glob characters to a
/// `SCAN MATCH` pattern, or a `{hash tag}` for Redis Cluster.
pub(crate) fn push_key<Q: fmt::Display + ?Sized>(out: &mut String, prefix: &str, id: &Q) {
    out.push_str(prefix);
    // Writing into a String cannot fail.
    let _ = write!(Escape(out), "{id}");
}

struct Escape<'a>(&'a mut String);

impl fmt::Write for Escape<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // Runs of safe bytes are copied at once.
        let mut start = 0;
        for (i, b) in s.bytes().enumerate() {
            if !(b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')) {
                // A non-empty run holds only ASCII, so its ends are char
                // boundaries (an escaped byte may be mid-character).
                if start < i {
                    self.0.push_str(&s[start..i]);
                }
                const HEX: &[u8; 16] = b"0123456789ABCDEF";
                self.0.push('%');
                self.0.push(HEX[usize::from(b >> 4)] as char);
                self.0.push(HEX[usize::from(b & 15)] as char);
                start = i + 1;
            }
        }
        self.0.push_str(&s[start..]);
        Ok(())
    }
}

/// One stored value: which node incarnation last wrote a client's key, and
/// the client's session as that node saw it.
///
/// Stored as text, `node/epoch/since/last_seen` with both times in
/// nanoseconds of the writer's `now` (its [`Display`](fmt::Display) form;
/// [`parse`](Self::parse) reads it back):
///
/// ```
/// use keepalive::{Instant, FleetRecord};
///
/// let value = "node-a/1718000000000/5000000000/9000000000";
/// let record = FleetRecord::parse(value).unwrap();
/// assert_eq!(record.node, "node-a");
/// assert_eq!(record.epoch, 1_718_000_000_000);
/// assert_eq!(record.since, Instant::from_secs(5));
/// assert_eq!(record.last_seen, Instant::from_secs(9));
/// assert_eq!(record.to_string(), value);
/// assert_eq!(FleetRecord::parse("online"), None);
/// ```
///
/// The times are on the writer's clock. Readers never judge presence from
/// them (the key's existence does that, timed by the store's own TTL clock),
/// so nodes need not share an epoch; give every node the same one (Unix
/// time) if you want to compare them.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FleetRecord {
    /// The node that wrote it ([`FleetConfig::node`](crate::FleetConfig::node)).
    pub node: String,
    /// That node's boot epoch ([`FleetConfig::epoch`](crate::FleetConfig::epoch)):
    /// tells two incarnations of one node apart.
    pub epoch: u64,
    /// Start of the client's online session on that node.
    pub since: Instant,
    /// The check-in this value was written for. Writes are throttled, so
    /// the client's real last-seen time may be up to
    /// [`write_every`](crate::FleetConfig::write_every) later.
    pub last_seen: Instant,
}

impl FleetRecord {
    /// Reads a value written by a [`Fleet`](crate::Fleet); `None` if it is
    /// not one (a foreign or corrupt value).
    pub fn parse(value: &str) -> Option<FleetRecord> {
        let mut parts = value.split('/');
        let node = parts.next()?;
        let ok = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-');
        if node.is_empty() || !node.bytes().all(ok) {
            return None;
        }
        let mut number = || -> Option<u64> {
            let digits = parts.next()?;
            // `u64::from_str` accepts a leading `+`; the format does not.
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            digits.parse().ok()
        };
        let epoch = number()?;
        let since = Instant::from_nanos(number()?);
        let last_seen = Instant::from_nanos(number()?);
        if parts.next().is_some() {
            return None;
        }
        Some(FleetRecord {
            node: node.into(),
            epoch,
            since,
            last_seen,
        })
    }

    /// `node/epoch/`, the prefix that identifies the writer.
    pub fn owner(&self) -> String {
        std::format!("{}/{}/", self.node, self.epoch)
    }
}

/// The stored form: `node/epoch/since_ns/last_seen_ns`.
impl fmt::Display for FleetRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}/{}",
            self.node,
            self.epoch,
            self.since.as_nanos(),
            self.last_seen.as_nanos()
        )
    }
}
