//! One connection of a [`Sessions`](super::Sessions): its handle and its
//! slot.

use core::fmt;

use crate::wheel::{LOOSE, Links, NIL};

/// A connection of a [`Sessions`](crate::Sessions), issued by
/// [`open`](crate::Sessions::open).
///
/// A slot number and a generation: once the connection has ended (or was
/// aborted), its id is *stale*, and every input naming it is ignored, even
/// after the slot serves a new connection. So a late event of an old socket
/// cannot touch the new one, the server-side twin of the client's
/// [`TransportId`](crate::TransportId). Never zero, so `0` can mean "none"
/// in a C or JavaScript binding; [`as_u64`](Self::as_u64) and
/// [`from_u64`](Self::from_u64) convert.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(u64);

impl ConnId {
    pub(super) fn new(slot: u32, generation: u32) -> Self {
        ConnId(u64::from(generation) << 32 | u64::from(slot))
    }

    pub(super) fn slot(self) -> usize {
        (self.0 & 0xFFFF_FFFF) as usize
    }

    pub(super) fn generation(self) -> u32 {
        (self.0 >> 32) as u32
    }

    /// The id as a number (never zero).
    pub const fn as_u64(self) -> u64 {
        self.0
    }

    /// An id from [`as_u64`](Self::as_u64). Any number is accepted: one
    /// that was never issued, or is stale, is ignored by every input.
    pub const fn from_u64(id: u64) -> Self {
        ConnId(id)
    }
}

impl fmt::Debug for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "c{}.{}", self.slot(), self.generation())
    }
}

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// Where a connection is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Phase {
    /// On the free list.
    Free,
    /// Open; counts toward its client's presence.
    Live,
    /// Closed by the server (for silence, or by `close`), waiting for the
    /// transport to end; no longer counts toward presence.
    Closing,
    /// Ended while the wheel's run still held it: freed when the run pops
    /// it. Its generation has moved on already.
    Zombie,
}

/// One connection: 48 bytes. Deadlines are derived, never stored:
///
/// * live, ping mode: no ping outstanding: ping at `last + interval`; a
///   ping outstanding (`mark` the ping's time): close at `mark + timeout`.
///   A frame sets `last = now` and clears `pinged`, which is all it takes
///   to answer the ping;
/// * live, passive mode: close at `last + interval + timeout`;
/// * closing (`mark` the close's time): abort at `mark + close_timeout`.
///
/// `repr(C)` with what a frame reads and writes first: those 15 bytes
/// never straddle a cache line (slots start at multiples of 16 bytes), so
/// [`received`](super::Sessions::received) touches one line.
#[repr(C)]
pub(super) struct Conn {
    /// Server time of the last inbound frame, in ns.
    pub(super) last: u64,
    /// Bumped each time the slot is freed; part of [`ConnId`].
    pub(super) generation: u32,
    pub(super) phase: Phase,
    /// Whether this connection is pinged (ping mode) or only watched.
    pub(super) ping: bool,
    /// Whether a ping went out after the last inbound frame. A flag, not
    /// `mark > last`: at the end of time both saturate to the same value.
    pub(super) pinged: bool,
    /// Live: when the last ping went out (0: never). Closing: when the
    /// close began.
    pub(super) mark: u64,
    /// The client id's slot.
    pub(super) client: u32,
    /// The policy this connection was opened under, in ms.
    pub(super) interval_ms: u32,
    /// See `interval_ms`.
    pub(super) timeout_ms: u32,
    /// Smoothed round-trip time of answered pings, in µs (0: no sample).
    pub(super) srtt_us: u32,
    /// Wheel links (`next` also chains the free list).
    next: u32,
    prev: u32,
}

const MS: u64 = 1_000_000;

impl Conn {
    pub(super) fn free(generation: u32) -> Self {
        Conn {
            last: 0,
            mark: 0,
            client: NIL,
            generation,
            interval_ms: 0,
            timeout_ms: 0,
            srtt_us: 0,
            next: NIL,
            prev: LOOSE,
            phase: Phase::Free,
            ping: false,
            pinged: false,
        }
    }

    /// The connection's one deadline, in ns (0 for a zombie: due at once).
    pub(super) fn deadline(&self, close_timeout: u64) -> u64 {
        let ms = |v: u32| u64::from(v) * MS;
        match self.phase {
            Phase::Live if self.ping && self.pinged => {
                self.mark.saturating_add(ms(self.timeout_ms))
            }
            Phase::Live if self.ping => self.last.saturating_add(ms(self.interval_ms)),
            Phase::Live => self
                .last
                .saturating_add(ms(self.interval_ms) + ms(self.timeout_ms)),
            Phase::Closing => self.mark.saturating_add(close_timeout),
            Phase::Free | Phase::Zombie => 0,
        }
    }

    /// Folds an RTT sample into the smoothed value (QUIC: the first sample
    /// as is, then `7/8 · srtt + 1/8 · sample`).
    pub(super) fn sample_rtt(&mut self, sample_ns: u64) {
        let sample = u32::try_from(sample_ns / 1000).unwrap_or(u32::MAX).max(1);
        self.srtt_us = if self.srtt_us == 0 {
            sample
        } else {
            ((u64::from(self.srtt_us) * 7 + u64::from(sample)) / 8) as u32
        }
        .max(1);
    }
}

impl Links for Conn {
    fn next(&self) -> u32 {
        self.next
    }

    fn set_next(&mut self, next: u32) {
        self.next = next;
    }

    fn prev(&self) -> u32 {
        self.prev
    }

    fn set_prev(&mut self, prev: u32) {
        self.prev = prev;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_fits_in_48_bytes_and_its_id_round_trips() {
        assert_eq!(core::mem::size_of::<Conn>(), 48);
        let id = ConnId::new(7, 3);
        assert_eq!((id.slot(), id.generation()), (7, 3));
        assert_eq!(ConnId::from_u64(id.as_u64()), id);
        assert_eq!(std::format!("{id}"), "c7.3");
    }

    #[test]
    fn deadlines_follow_the_phase() {
        let mut c = Conn::free(1);
        c.phase = Phase::Live;
        c.ping = true;
        (c.interval_ms, c.timeout_ms, c.last) = (25_000, 20_000, 5 * MS);
        assert_eq!(c.deadline(0), 25_005 * MS); // ping due
        (c.mark, c.pinged) = (25_005 * MS, true);
        assert_eq!(c.deadline(0), 45_005 * MS); // close due
        (c.last, c.pinged) = (30_000 * MS, false); // a frame answers it
        assert_eq!(c.deadline(0), 55_000 * MS);
        c.ping = false;
        assert_eq!(c.deadline(0), 75_000 * MS);
        c.phase = Phase::Closing;
        c.mark = 80_000 * MS;
        assert_eq!(c.deadline(5_000 * MS), 85_000 * MS);
    }

    #[test]
    fn rtt_is_smoothed_and_never_zero() {
        let mut c = Conn::free(1);
        c.sample_rtt(80_000_000);
        assert_eq!(c.srtt_us, 80_000);
        c.sample_rtt(0);
        assert_eq!(c.srtt_us, 70_000);
        let mut d = Conn::free(1);
        d.sample_rtt(10);
        assert_eq!(d.srtt_us, 1);
    }
}
